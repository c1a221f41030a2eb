//! The `render`, `inspect` and `new` commands, as library functions the CLI and the tests both call.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::files::FileSource;
use crate::mix::input::{self, ImportError, StemSource};
use crate::mix::mapping;
use crate::mix::offline::{self, RenderOptions, Rendered, WavFormat};
use crate::scene::{Room, Scene, Stem};

/// A failure the user can act on; the CLI prints it and exits with code 2.
#[derive(Debug)]
pub struct UserError(pub String);

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UserError {}

impl From<crate::scene::SceneError> for UserError {
    fn from(e: crate::scene::SceneError) -> Self {
        UserError(e.to_string())
    }
}

/// Opens every stem of a scene for streaming (headers only, so it is quick however long the song). Each slot is
/// the stem's source or the reason it cannot be used.
pub fn load_scene_audio(scene_path: &Path, scene: &Scene, sample_rate: u32) -> Vec<Result<StemSource, ImportError>> {
    input::open_scene(&FileSource::disk(), scene_path, scene, sample_rate)
}

/// Loads a scene and opens all of its stems; any stem that fails is an error naming every failing file (an
/// export must not silently leave a stem out).
pub fn load_for_render(scene_path: &Path, sample_rate: u32) -> Result<(Scene, Vec<Option<StemSource>>), UserError> {
    let scene = Scene::load(scene_path)?;
    let sources = open_stems(scene_path, &scene, sample_rate)?;
    Ok((scene, sources))
}

/// Opens every stem of `scene` for a render; any stem that fails is an error naming every failing file.
pub fn open_stems(scene_path: &Path, scene: &Scene, sample_rate: u32) -> Result<Vec<Option<StemSource>>, UserError> {
    let results = load_scene_audio(scene_path, scene, sample_rate);
    let failures: Vec<String> = results
        .iter()
        .zip(&scene.stems)
        .filter_map(|(r, s)| r.as_ref().err().map(|e| format!("  stem \"{}\": {e}", s.name)))
        .collect();
    if !failures.is_empty() {
        return Err(UserError(format!(
            "{}: {} of {} stems could not be loaded:\n{}",
            scene_path.display(),
            failures.len(),
            scene.stems.len(),
            failures.join("\n")
        )));
    }
    Ok(results.into_iter().map(Result::ok).collect())
}

/// Every file a render of `scene` reads: the scene file and each stem's file. An output may be none of them.
pub fn render_inputs(scene_path: &Path, scene: &Scene) -> Vec<PathBuf> {
    std::iter::once(scene_path.to_owned())
        .chain(scene.stems.iter().map(|s| Scene::resolve_file(scene_path, s)))
        .collect()
}

/// Refuses an output that would destroy an input or that cannot be written ([`crate::files::check_output`]),
/// before any work starts.
pub fn check_output(out: &Path, inputs: &[PathBuf]) -> Result<(), UserError> {
    crate::files::check_output(out, inputs).map_err(|why| UserError(format!("{}: {why}", out.display())))
}

/// Refuses, before a render starts, a WAV that a WAV file cannot hold (32-bit lengths) or that the disk has no
/// room for.
pub fn check_size(out: &Path, frames: usize, format: WavFormat) -> Result<(), UserError> {
    let data = (frames as u64).saturating_mul(2 * format.bytes_per_sample());
    if data > offline::MAX_WAV_DATA_BYTES {
        return Err(UserError(format!(
            "{}: the render would take {}, past the 4 GB a WAV file can hold; render less (--seconds), at a lower \
             --sample-rate or with fewer --bits",
            out.display(),
            size(data)
        )));
    }
    let needed = format.file_bytes(frames as u64);
    let folder = crate::files::folder_of(out);
    if let Some(free) = crate::files::available_space(&folder)
        && free < needed
    {
        return Err(UserError(format!(
            "{}: the render needs {} and {} has {} free",
            out.display(),
            size(needed),
            folder.display(),
            size(free)
        )));
    }
    Ok(())
}

/// Bytes in the unit that reads best (kB, MB, GB).
fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000_000 => format!("{:.2} GB", b as f64 / 1e9),
        b if b >= 1_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b => format!("{:.0} kB", (b as f64 / 1e3).ceil()),
    }
}

/// Which stems to hear, on top of the scene's own mute and solo (e.g. "the vocal alone", "all but the vocal").
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub solo: Vec<String>,
    pub mute: Vec<String>,
}

impl Selection {
    /// Applies the selection to a scene; a name that matches no stem is an error listing the stems.
    pub fn apply(&self, scene: &mut Scene) -> Result<(), UserError> {
        let known: Vec<&str> = scene.stems.iter().map(|s| s.name.as_str()).collect();
        for name in self.solo.iter().chain(&self.mute) {
            if !known.contains(&name.as_str()) {
                return Err(UserError(format!("no stem named \"{name}\" (the stems are: {})", known.join(", "))));
            }
        }
        if !self.solo.is_empty() {
            for stem in &mut scene.stems {
                stem.solo = self.solo.contains(&stem.name);
                stem.muted = stem.muted && !stem.solo;
            }
        }
        for stem in &mut scene.stems {
            if self.mute.contains(&stem.name) {
                stem.muted = true;
            }
        }
        Ok(())
    }
}

/// `proxemix render`: renders a scene to a WAV file and returns the render (for its loudness). Everything that
/// can be known before the render is checked first: the output (not an input, not a folder or device, its folder
/// writable), the stems, the length, the size against a WAV's limit and the free space.
pub fn render_to_wav(
    scene_path: &Path,
    out: &Path,
    options: &RenderOptions,
    format: WavFormat,
    selection: &Selection,
    progress: &mut dyn FnMut(f64),
) -> Result<Rendered, UserError> {
    let mut scene = Scene::load(scene_path)?;
    selection.apply(&mut scene).map_err(|e| UserError(format!("{}: {e}", scene_path.display())))?;
    check_output(out, &render_inputs(scene_path, &scene))?;
    let sources = open_stems(scene_path, &scene, options.sample_rate)?;
    let frames = offline::planned_frames(&scene, &sources, options)
        .map_err(|e| UserError(format!("{}: {e}", scene_path.display())))?;
    check_size(out, frames, format)?;
    offline::render_wav(out, &scene, &sources, options, format, progress).map_err(|e| UserError(e.to_string()))
}

/// What `render --handout` wrote.
pub struct Handout {
    pub wav: PathBuf,
    pub picture: PathBuf,
    pub page: PathBuf,
    pub rendered: Rendered,
}

/// The three files of a handout of `scene_path` in `dir`: the WAV, the staging picture and the page.
pub fn handout_files(scene_path: &Path, dir: &Path) -> [PathBuf; 3] {
    let stem = scene_path.file_stem().map_or("scene".into(), |s| s.to_string_lossy().into_owned());
    [dir.join(format!("{stem}.wav")), dir.join(format!("{stem}-staging.png")), dir.join(format!("{stem}.md"))]
}

/// `proxemix render SCENE --handout DIR`: the WAV, a top-down picture of the staging and a Markdown page with
/// the intent card and the cue values, named after the scene file, each written atomically. A handout file that
/// would replace an input is refused, and one that exists is replaced only with `replace` (`--force`); both are
/// checked before anything is rendered.
pub fn write_handout(
    scene_path: &Path,
    dir: &Path,
    options: &RenderOptions,
    format: WavFormat,
    selection: &Selection,
    replace: bool,
    progress: &mut dyn FnMut(f64),
) -> Result<Handout, UserError> {
    if dir.is_file() {
        return Err(UserError(format!("{}: is a file; --handout takes a folder", dir.display())));
    }
    let [wav, picture, page] = handout_files(scene_path, dir);
    let mut scene = Scene::load(scene_path)?;
    selection.apply(&mut scene)?;
    let inputs = render_inputs(scene_path, &scene);
    std::fs::create_dir_all(dir)
        .map_err(|e| UserError(format!("{}: cannot create the handout folder: {e}", dir.display())))?;
    for file in [&wav, &picture, &page] {
        check_output(file, &inputs)?;
        if !replace && std::fs::symlink_metadata(file).is_ok() {
            return Err(UserError(format!(
                "{}: already exists; pass --force to replace the handout's files, or choose another folder",
                file.display()
            )));
        }
    }
    let rendered = render_to_wav(scene_path, &wav, options, format, selection, progress)?;
    let png = crate::handout::staging_png(&scene, 0.0);
    crate::files::atomic_write(&picture, &png, false)
        .map_err(|e| UserError(format!("{}: cannot write the picture: {e}", picture.display())))?;
    let name = |p: &Path| p.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned());
    let facts = crate::handout::RenderFacts {
        wav_name: &name(&wav),
        picture_name: &name(&picture),
        seconds: rendered.seconds(),
        loudness: rendered.loudness.to_string(),
        cues_off: options.cues.off(),
    };
    let text = crate::handout::markdown(&scene, &facts);
    crate::files::atomic_write(&page, text.as_bytes(), false)
        .map_err(|e| UserError(format!("{}: cannot write the page: {e}", page.display())))?;
    Ok(Handout { wav, picture, page, rendered })
}

/// `text` safe to print on a terminal: control characters (escape sequences, bells, carriage returns) and the
/// invisible marks that reorder text are shown escaped (`\u{1b}`), never acted on. Line breaks are kept when
/// `keep_lines`.
pub fn printable(text: &str, keep_lines: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let reorders = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if (c.is_control() && !(keep_lines && c == '\n')) || reorders {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// `proxemix inspect`: one row per stem with the cues the mapping gives it.
pub fn inspect(scene: &Scene) -> String {
    let mixes = mapping::scene_mix(scene);
    let acoustics = mapping::room_acoustics(&scene.room);
    let mut s = String::new();
    let p = |text: &str| printable(text.trim(), false);
    let _ = writeln!(s, "{} — {}", p(&scene.name), p(&scene.notes));
    let _ = writeln!(
        s,
        "room {} m, RT60 {} s, damping {}: critical distance {:.2} m{}",
        scene.room.size,
        scene.room.decay_s,
        scene.room.damping,
        acoustics.critical_distance_m,
        if scene.room.reverb_db <= crate::scene::limits::REVERB_DB.0 { ", reverb off" } else { "" }
    );
    if let Some(intent) = &scene.intent {
        let _ = writeln!(s, "intent: {} — {}", p(&intent.title), p(&intent.communicates));
        for cue in &intent.cues {
            let _ = writeln!(s, "  {}: {}", p(&cue.cue), p(&cue.why));
        }
    }
    let resolved = crate::scene::timeline::Resolved::of(scene).unwrap_or_default();
    if !resolved.sections.is_empty() {
        let spans: Vec<String> =
            resolved.sections.iter().map(|x| format!("{} {:.2}–{:.2} s", p(&x.name), x.start_s, x.end_s)).collect();
        let _ = writeln!(s, "sections: {}", spans.join(", "));
    }
    let driven: Vec<String> = scene
        .stems
        .iter()
        .enumerate()
        .filter(|(i, _)| resolved.driven(*i).any())
        .map(|(i, stem)| format!("{} ({} keyframes)", p(&stem.name), scene.stems[i].keys.len()))
        .collect();
    if !driven.is_empty() {
        let _ = writeln!(
            s,
            "timeline drives: {} — values below are the stems' own (before any keyframe)",
            driven.join(", ")
        );
    }
    let _ = writeln!(
        s,
        "{:<16} {:>7} {:<9} {:>8} {:>6} {:>6} {:>9} {:>7} {:>9} {:>9} {:>6} {:>6}",
        "stem",
        "dist m",
        "zone",
        "dry dB",
        "pan",
        "width",
        "reverb dB",
        "DRR dB",
        "air Hz",
        "pre-dly ms",
        "tilt",
        "spoil"
    );
    for (stem, m) in scene.stems.iter().zip(&mixes) {
        let db = |v: Option<f32>| v.map_or("muted".to_string(), |v| format!("{v:.1}"));
        let _ = writeln!(
            s,
            "{:<16} {:>7.2} {:<9} {:>8} {:>6.2} {:>6.2} {:>9} {:>7.1} {:>9} {:>10.1} {:>+6.1} {:>6.2}",
            truncate(&p(&stem.name), 16),
            m.distance_m,
            m.zone.name(),
            db(m.dry_db),
            m.pan,
            m.width,
            db(m.reverb_send_db),
            m.drr_db,
            m.air_cutoff_hz.map_or("off".to_string(), |f| format!("{f:.0}")),
            m.pre_delay_s * 1000.0,
            m.tilt_db,
            m.spoil,
        );
    }
    // What each spoil amount does, stage by stage (at 48 kHz).
    let describe = |amount: f32| crate::mix::effects::spoil::curves(amount, 48_000.0, 0).describe();
    for (stem, m) in scene.stems.iter().zip(&mixes).filter(|(_, m)| m.spoil > 0.0) {
        let _ = writeln!(s, "spoil {:<10} {:.2}: {}", truncate(&p(&stem.name), 10), m.spoil, describe(m.spoil));
    }
    let _ = writeln!(s, "master spoil {:.2}: {}", scene.master_spoil, describe(scene.master_spoil));
    s
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { s.chars().take(n - 1).chain(['…']).collect() }
}

/// What `proxemix new` made and what it had to leave out.
#[derive(Debug)]
pub struct NewScene {
    pub scene: Scene,
    pub skipped: Vec<(PathBuf, String)>,
}

/// `proxemix new`: a scene from a folder of audio files, bodies on an arc in the social zone.
pub fn new_scene(dir: &Path, scene_path: &Path) -> Result<NewScene, UserError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| UserError(format!("{}: cannot read folder: {e}", dir.display())))?;
    let files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
    let name = dir.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "New scene".into());
    scene_for_files(&FileSource::disk(), files, scene_path, &name)
        .map_err(|e| UserError(format!("{}: {e}", dir.display())))
}

/// A scene named `name` at `scene_path` for the audio files among `files` (the others are left out, each
/// with why), read from `source`: bodies on an arc in the social zone. The web page stages the stems a user
/// opens with it.
pub fn scene_for_files(
    source: &FileSource,
    mut files: Vec<PathBuf>,
    scene_path: &Path,
    name: &str,
) -> Result<NewScene, UserError> {
    files.sort();
    let mut usable = Vec::new();
    let mut skipped = Vec::new();
    for path in files {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
        // A scene names its files in UTF-8: a name that is not cannot be written into one (and a lossy copy
        // would name a file that does not exist).
        if relative_path(&path, scene_dir_of(scene_path)).to_str().is_none() {
            skipped.push((
                path,
                "its name (or its folder's) is not valid UTF-8, which a scene file cannot hold; rename it".into(),
            ));
            continue;
        }
        if !input::AUDIO_EXTENSIONS.contains(&ext.as_str()) {
            skipped.push((path, "not an audio file (expected .wav, .flac, .ogg or .mp3)".into()));
            continue;
        }
        match input::probe(source, &path) {
            Ok(_) => usable.push(path),
            Err(e) => skipped.push((path, e.reason)),
        }
    }
    if usable.is_empty() {
        let why: Vec<String> = skipped.iter().map(|(p, r)| format!("{}: {r}", p.display())).collect();
        return Err(UserError(format!("no usable audio files found ({})", why.join("; "))));
    }
    let scene_dir = scene_dir_of(scene_path);
    let n = usable.len();
    let mut names: std::collections::HashSet<String> = std::collections::HashSet::with_capacity(n);
    // An arc in front of the listener, inside the social zone (1.2-3.6 m), from -60° to +60°; 1.8 m is just
    // past the default room's critical distance, a neutral place to stage from.
    let radius = NEW_SCENE_RADIUS_M;
    let stems = usable
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let t = if n == 1 { 0.5 } else { i as f32 / (n - 1) as f32 };
            let angle = (-60.0 + 120.0 * t).to_radians();
            // Names identify stems: "take.wav" and "take.flac" become "take" and "take 2".
            let base =
                path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| format!("stem {i}"));
            let mut name = base.clone();
            let mut k = 2;
            while names.contains(&name) {
                name = format!("{base} {k}");
                k += 1;
            }
            names.insert(name.clone());
            Stem {
                name,
                file: relative_path(path, scene_dir).to_string_lossy().replace('\\', "/"),
                position: (round3(radius * angle.sin()), mapping::EAR_HEIGHT_M, round3(-radius * angle.cos())),
                size: 1.0,
                gain_db: 0.0,
                spoil: 0.0,
                muted: false,
                solo: false,
                send_db: 0.0,
                keys: Vec::new(),
            }
        })
        .collect();
    let scene = Scene {
        version: crate::scene::FORMAT_VERSION,
        name: name.to_string(),
        notes: "Every stem at the same social distance on an arc: a neutral starting point to stage from.".into(),
        room: Room { reverb_db: NEW_SCENE_REVERB_DB, ..Room::default() },
        stems,
        master_gain_db: 0.0,
        master_spoil: 0.0,
        ceiling_dbtp: -1.0,
        intent: None,
        timeline: None,
        comments: Vec::new(),
        takes: Vec::new(),
        votes: Vec::new(),
    };
    Ok(NewScene { scene, skipped })
}

/// The folder a scene's relative file names start from.
fn scene_dir_of(scene_path: &Path) -> &Path {
    scene_path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Where `proxemix new` puts every body.
pub const NEW_SCENE_RADIUS_M: f32 = 1.8;
/// The reverb trim of a new scene: records are mixed drier than rooms sound, so a starting point keeps the
/// room 6 dB down (the laws still hold; only the overall wetness moves).
pub const NEW_SCENE_REVERB_DB: f32 = -6.0;

fn round3(v: f32) -> f32 {
    (v * 1000.0).round() / 1000.0
}

/// `path` relative to `base` (both made absolute first), for portable scene files.
pub fn relative_path(path: &Path, base: &Path) -> PathBuf {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let (path, base) = (abs(path), abs(base));
    let p: Vec<_> = path.components().collect();
    let b: Vec<_> = base.components().collect();
    let common = p.iter().zip(&b).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return path;
    }
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(relative_path(Path::new("/a/b/c.wav"), Path::new("/a/scenes")), Path::new("../b/c.wav"));
        assert_eq!(relative_path(Path::new("/a/c.wav"), Path::new("/a")), Path::new("c.wav"));
    }
}
