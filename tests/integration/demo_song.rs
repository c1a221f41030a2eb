//! The demo song and the workshop scenes: stem hygiene, and each scene's intent measured in its render.

use std::path::{Path, PathBuf};

use proxemix::commands::{self, Selection};
use proxemix::files::FileSource;
use proxemix::mix::StemSource;
use proxemix::mix::input as import;
use proxemix::mix::offline::{self, RenderOptions};
use proxemix::scene::Scene;

const STEMS: [&str; 8] = ["kick", "snare", "overheads", "bass", "keys", "pad", "vocal", "backing"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn energy(x: &[f32]) -> f64 {
    x.iter().map(|&v| (v as f64) * (v as f64)).sum()
}

#[test]
fn stems_are_aligned_equal_length_and_within_peak_limits() {
    let paths: Vec<PathBuf> = STEMS.iter().map(|s| root().join(format!("assets/stems/{s}.ogg"))).collect();
    let loaded = import::load_all(&FileSource::disk(), &paths, 48_000);
    let mut lengths = Vec::new();
    for (name, audio) in STEMS.iter().zip(loaded) {
        let audio = audio.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(audio.source_sample_rate, 48_000, "{name}");
        let peak = audio.frames.iter().map(|f| f.left.abs().max(f.right.abs())).fold(0.0, f32::max);
        let peak_db = 20.0 * peak.log10();
        assert!(peak_db <= -1.0, "{name} peaks at {peak_db:.2} dBFS");
        let rms_db = 10.0
            * (audio.frames.iter().map(|f| (f.left * f.left) as f64).sum::<f64>() / audio.frames.len() as f64).log10();
        assert!(rms_db > -45.0, "{name} is nearly silent: {rms_db:.1} dB");
        lengths.push(audio.frames.len());
    }
    assert!(lengths.iter().all(|&n| n == lengths[0]), "stem lengths differ: {lengths:?}");
    assert!(lengths[0] as f64 / 48_000.0 >= 40.0, "the song is at least 40 s");
}

/// Renders the first `seconds` of a scene with some stems selected; returns interleaved stereo.
fn render(scene: &Scene, audio: &[Option<StemSource>], selection: &Selection, reverb: bool, seconds: f64) -> Vec<f32> {
    let mut scene = scene.clone();
    selection.apply(&mut scene).unwrap();
    if !reverb {
        scene.room.reverb_db = proxemix::scene::limits::REVERB_DB.0;
    }
    let options = RenderOptions { seconds: Some(seconds), ..Default::default() };
    offline::render(&scene, audio, &options, &mut |_| {}).unwrap().interleaved
}

fn load(name: &str) -> (Scene, Vec<Option<StemSource>>) {
    commands::load_for_render(&root().join("scenes").join(name), 48_000).unwrap_or_else(|e| panic!("{e}"))
}

/// Energy of the lead vocal alone against everything else, over the same stretch of the song (dB).
fn vocal_to_rest_db(name: &str) -> f64 {
    let (scene, audio) = load(name);
    let solo = Selection { solo: vec!["vocal".into()], mute: vec![] };
    let rest = Selection { solo: vec![], mute: vec!["vocal".into()] };
    let v = render(&scene, &audio, &solo, true, 25.0);
    let r = render(&scene, &audio, &rest, true, 25.0);
    10.0 * (energy(&v) / energy(&r)).log10()
}

/// Direct-to-reverberant ratio of the lead vocal as rendered (dB): the vocal alone with and without the room.
fn vocal_drr_db(name: &str) -> f64 {
    let (scene, audio) = load(name);
    let solo = Selection { solo: vec!["vocal".into()], mute: vec![] };
    let wet = render(&scene, &audio, &solo, true, 25.0);
    let dry = render(&scene, &audio, &solo, false, 25.0);
    let reverb: f64 = wet.iter().zip(&dry).map(|(w, d)| ((w - d) as f64).powi(2)).sum();
    10.0 * (energy(&dry) / reverb).log10()
}

#[test]
fn sing_along_puts_the_vocal_at_least_six_db_further_forward_than_feel_the_drums() {
    let sing = vocal_to_rest_db("sing-along.ron");
    let drums = vocal_to_rest_db("feel-the-drums.ron");
    eprintln!("vocal-to-rest: sing-along {sing:+.1} dB, feel-the-drums {drums:+.1} dB");
    assert!(sing - drums >= 6.0, "sing-along {sing:.1} dB vs feel-the-drums {drums:.1} dB");
}

#[test]
fn intimate_is_at_least_twelve_db_drier_than_divine() {
    let intimate = vocal_drr_db("intimate.ron");
    let divine = vocal_drr_db("divine.ron");
    eprintln!("vocal direct-to-reverb: intimate {intimate:+.1} dB, divine {divine:+.1} dB");
    assert!(intimate - divine >= 12.0, "intimate {intimate:.1} dB vs divine {divine:.1} dB");
}

#[test]
fn every_scene_loads_renders_clean_and_says_what_it_communicates() {
    let mut count = 0;
    for entry in std::fs::read_dir(root().join("scenes")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("ron") {
            continue;
        }
        let (scene, audio) = commands::load_for_render(&path, 48_000).unwrap_or_else(|e| panic!("{e}"));
        assert!(scene.notes.split_whitespace().count() >= 15, "{}: notes should explain the staging", path.display());
        let out = render(&scene, &audio, &Selection::default(), true, 3.0);
        assert!(out.iter().all(|v| v.is_finite() && !v.is_subnormal()), "{}", path.display());
        assert!(energy(&out) > 0.0, "{} renders silence", path.display());
        count += 1;
    }
    assert!(count >= 6, "the six workshop scenes are there");
    assert!(Path::new(&root().join("assets/LICENSES.md")).exists());
}

#[test]
fn tchad_blake_spoiled_and_pristine_differ_only_in_spoil_and_match_in_loudness() {
    let load = |name: &str| commands::load_for_render(&root().join("scenes").join(name), 48_000).unwrap();
    let (spoiled, audio) = load("tchad-blake.ron");
    let (pristine, _) = load("tchad-blake-pristine.ron");
    assert_eq!(spoiled.stems.len(), pristine.stems.len());
    for (a, b) in spoiled.stems.iter().zip(&pristine.stems) {
        assert_eq!(
            (&a.name, &a.file, a.position, a.size, a.gain_db),
            (&b.name, &b.file, b.position, b.size, b.gain_db)
        );
        assert_eq!(b.spoil, 0.0);
    }
    assert!(spoiled.stems.iter().any(|s| s.spoil == 0.0) && spoiled.stems.iter().any(|s| s.spoil >= 0.5));
    let options = RenderOptions { seconds: Some(20.0), ..Default::default() };
    let b = offline::render(&spoiled, &audio, &options, &mut |_| {}).unwrap();
    let a = offline::render(&pristine, &audio, &options, &mut |_| {}).unwrap();
    let (la, lb) = (a.loudness.integrated_lufs, b.loudness.integrated_lufs);
    eprintln!("tchad-blake: pristine {la:.2} LUFS, spoiled {lb:.2} LUFS");
    assert!((la - lb).abs() <= 1.0, "pristine {la:.2} vs spoiled {lb:.2} LUFS");
    assert!(a.interleaved != b.interleaved);
}
