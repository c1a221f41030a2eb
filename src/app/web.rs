//! The stage in a web page (wasm32): what the page's script calls (hand files over, decode a stem, start,
//! send a command, read the status, take a download) and the plugin that answers it from inside the app.
//!
//! The page owns what a browser owns: fetching files, the worker that decodes stems off the page's thread,
//! starting the AudioContext after a click, downloads, the browser's storage and the address bar. The app
//! owns the stage, exactly as on the desktop.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use bevy::prelude::*;
use js_sys::{Array, Float32Array, Object, Reflect, Uint8Array};
use kira::Frame;
use kira::backend::cpal::CpalBackend;
use wasm_bindgen::prelude::*;

use super::audio::StageAudio;
use super::export::ExportJob;
use super::intent::Intent;
use super::intent::world_scene;
use super::shared::{
    AudioDeviceStatus, DeviceChoice, Meters, StageOptions, StemAudio, TransportCommand, TransportState,
};
use super::shared::{PAGE_FILES, hand_over_decoded};
use super::stems::{BodySize, StageScene, StemBody, WorldRows};
use super::workshop::{Compare, CueSwitches};
use crate::files::FileSource;
use crate::mix::input::{self as import, Audio};
use crate::scene::Scene;

/// The rate the page's sound plays and its stems are decoded at (cpal's WebAudio host asks the browser for
/// it and the browser resamples to the device; the demo's stems are at it already).
pub const WEB_SAMPLE_RATE: u32 = 48_000;
/// Frames per WebAudio buffer, fewest and most: the sound is rendered on the page's one thread between frames
/// (cpal's WebAudio host), so a buffer must outlast the slowest frame; the page picks the buffer from the frame
/// times it measured before the click (see [`buffer_for`]).
pub const WEB_BUFFER_FRAMES: (u32, u32) = (2048, 32768);
/// A buffer also outlasts a stall of the page this long (a slow decode, a garbage collection).
const STALL_MARGIN_S: f64 = 0.12;

/// The smallest buffer (a power of two, in frames) that outlasts two of the slowest frames measured and a stall:
/// 2048 frames (43 ms) where frames take 16 ms, more on a slow machine.
pub fn buffer_for(frame_times_s: &[f64]) -> u32 {
    let slowest = frame_times_s.iter().copied().fold(0.0, f64::max);
    let needed = ((2.0 * slowest + STALL_MARGIN_S) * WEB_SAMPLE_RATE as f64).ceil() as u32;
    needed.next_power_of_two().clamp(WEB_BUFFER_FRAMES.0, WEB_BUFFER_FRAMES.1)
}

/// What the page asked for, waiting for the next frame.
#[derive(Debug, Clone, PartialEq)]
enum PageCommand {
    /// The AudioContext runs: start the song from the top.
    SoundStarted,
    Export,
    Save,
    /// The staging as scene text, for a link.
    Share,
    TogglePlay,
    Seek(f64),
}

/// A file for the page to hand to the user (or to keep, or to put in a link).
struct Download {
    /// "wav", "scene" (a save) or "share".
    kind: &'static str,
    name: String,
    bytes: Vec<u8>,
}

/// The page's side of the app: commands in, status and downloads out (the page's one thread).
#[derive(Default)]
struct PageLink {
    commands: VecDeque<PageCommand>,
    status: Option<Object>,
    downloads: VecDeque<Download>,
}

thread_local! {
    static PAGE: RefCell<PageLink> = RefCell::new(PageLink::default());
}

fn js_error(e: impl std::fmt::Display) -> JsValue {
    JsValue::from_str(&e.to_string())
}

/// Keeps a file the page fetched or the user opened, under its path relative to the page.
#[wasm_bindgen]
pub fn put_file(path: &str, bytes: &[u8]) {
    PAGE_FILES.put(Path::new(path), bytes.to_vec());
}

/// The stem files a scene (already handed over) needs, relative to the page; or why the scene cannot be used,
/// naming the file.
#[wasm_bindgen]
pub fn scene_stems(scene_path: &str) -> Result<Array, JsValue> {
    let path = Path::new(scene_path);
    let scene = Scene::load_from(&PAGE_FILES, path).map_err(js_error)?;
    Ok(scene
        .stems
        .iter()
        .map(|stem| JsValue::from_str(&crate::files::normalise(&Scene::resolve_file(path, stem)).to_string_lossy()))
        .collect())
}

/// A scene at `scene_path` for stems the user opened without one (handed over already): each on an arc around
/// the listener, as `proxemix new` stages a folder. `{ron, skipped}`: the scene's text and each file left out
/// with why; or why none can be used.
#[wasm_bindgen]
pub fn scene_for_stems(files: Vec<String>, scene_path: &str, name: &str) -> Result<Object, JsValue> {
    let paths: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
    let made = crate::commands::scene_for_files(&PAGE_FILES, paths, Path::new(scene_path), name).map_err(js_error)?;
    let out = Object::new();
    set(&out, "ron", made.scene.to_ron());
    let skipped: Array = made.skipped.iter().map(|(p, why)| JsValue::from(format!("{}: {why}", p.display()))).collect();
    set(&out, "skipped", skipped);
    Ok(out)
}

/// The rate stems are decoded at for the page's sound.
#[wasm_bindgen]
pub fn engine_rate() -> u32 {
    WEB_SAMPLE_RATE
}

/// Decodes one stem (the page's worker calls this, off the page's thread): `{interleaved, sourceChannels,
/// sourceRate, repairs}`, or why the file cannot be used, naming it.
#[wasm_bindgen]
pub fn decode_stem(path: &str, bytes: &[u8], engine_rate: u32) -> Result<Object, JsValue> {
    // The worker is an instance of its own: the file is handed to the decoder here, not kept.
    let (file, files) = (Path::new(path), FileSource::in_memory());
    files.put(file, bytes.to_vec());
    let (audio, repairs) = import::load_reporting(&files, file, engine_rate).map_err(js_error)?;
    let interleaved: Vec<f32> = audio.frames.iter().flat_map(|f| [f.left, f.right]).collect();
    let out = Object::new();
    set(&out, "interleaved", Float32Array::from(interleaved.as_slice()));
    set(&out, "sourceChannels", audio.source_channels as u32);
    set(&out, "sourceRate", audio.source_sample_rate);
    set(&out, "repairs", if repairs.any() { repairs.to_string() } else { String::new() });
    Ok(out)
}

/// Hands a stem the worker decoded to the app (interleaved stereo at `engine_rate`).
#[wasm_bindgen]
pub fn hand_over_stem(path: &str, engine_rate: u32, interleaved: &[f32], source_channels: u32, source_rate: u32) {
    let frames: Vec<Frame> = interleaved.chunks_exact(2).map(|lr| Frame { left: lr[0], right: lr[1] }).collect();
    let audio = Audio {
        sample_rate: engine_rate,
        frames: frames.into(),
        source_channels: source_channels as usize,
        source_sample_rate: source_rate,
    };
    hand_over_decoded(Path::new(path), engine_rate, Ok(audio));
}

/// Tells the app why a stem could not be decoded (the stem stays silent and the stage says why).
#[wasm_bindgen]
pub fn hand_over_failure(path: &str, engine_rate: u32, reason: &str) {
    hand_over_decoded(Path::new(path), engine_rate, Err(reason.to_string()));
}

/// Opens the stage in the page's `#stage` canvas on `scene_path` (handed over, with its stems), with
/// `compare` for A/B; returns at once, the app runs in the page's frames.
#[wasm_bindgen]
pub fn start(scene_path: &str, compare: Vec<String>) -> Result<(), JsValue> {
    let scene_path = PathBuf::from(scene_path);
    let scene = Scene::load_from(&PAGE_FILES, &scene_path).map_err(js_error)?;
    let mut slots = vec![(scene_path.clone(), scene.clone())];
    for other in &compare {
        let path = PathBuf::from(other);
        let loaded = Scene::load_from(&PAGE_FILES, &path).map_err(js_error)?;
        crate::mix::ab::compatible(&scene, &loaded)
            .map_err(|e| js_error(format!("{other}: cannot compare with {}: {e}", scene_path.display())))?;
        slots.push((path, loaded));
    }
    // The sound device opens when the page's sound starts (after a click: browsers keep sound off until then),
    // with a buffer that suits the frame times measured meanwhile.
    let stem_audio = StemAudio::load(&scene_path, &scene, WEB_SAMPLE_RATE);
    let choice = DeviceChoice { name: None, sample_rate: Some(WEB_SAMPLE_RATE), buffer_frames: WEB_BUFFER_FRAMES.0 };
    let options = StageOptions { compare: compare.iter().map(PathBuf::from).collect(), ..default() };
    let mut app = App::new();
    let canvas = Window { canvas: Some("#stage".into()), fit_canvas_to_parent: true, ..default() };
    super::add_window_plugins(&mut app, &scene, canvas);
    app.insert_resource(options)
        .insert_resource(AudioDeviceStatus::default())
        .insert_resource(stem_audio)
        .insert_resource(StageAudio::<CpalBackend>::silent())
        .add_plugins(super::stage_logic::<CpalBackend>(scene_path, scene, slots))
        // The device's resources and messages (the room panel's picker reads them); nothing is watched here.
        .add_plugins(super::device::DevicePlugin { choice, lost: false })
        .add_plugins((super::stage::StageViewPlugin, super::ui::PanelsPlugin, super::export::ExportPlugin))
        .add_plugins(WebPagePlugin);
    app.run();
    Ok(())
}

/// Sends the app a command: `sound-started`, `export`, `save`, `share`, `play` (toggles) or `seek` (to
/// `value` seconds).
#[wasm_bindgen]
pub fn command(name: &str, value: f64) -> Result<(), JsValue> {
    let command = match name {
        "sound-started" => PageCommand::SoundStarted,
        "export" => PageCommand::Export,
        "save" => PageCommand::Save,
        "share" => PageCommand::Share,
        "play" => PageCommand::TogglePlay,
        "seek" => PageCommand::Seek(value),
        other => return Err(js_error(format!("no command \"{other}\""))),
    };
    PAGE.with_borrow_mut(|page| page.commands.push_back(command));
    Ok(())
}

/// What the stage shows, as of the last frame (see [`publish_status`]); undefined before the first.
#[wasm_bindgen]
pub fn status() -> JsValue {
    PAGE.with_borrow(|page| page.status.clone().map_or(JsValue::UNDEFINED, JsValue::from))
}

/// The next file for the page to hand the user: `{kind, name, bytes}` (kind: wav, scene or share).
#[wasm_bindgen]
pub fn take_download() -> JsValue {
    let Some(download) = PAGE.with_borrow_mut(|page| page.downloads.pop_front()) else { return JsValue::UNDEFINED };
    let out = Object::new();
    set(&out, "kind", download.kind);
    set(&out, "name", download.name);
    set(&out, "bytes", Uint8Array::from(download.bytes.as_slice()));
    out.into()
}

fn set(object: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(object, &JsValue::from_str(key), &value.into());
}

/// The page's side of the stage: its commands, its status, its downloads.
pub struct WebPagePlugin;

impl Plugin for WebPagePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<PageState>()
            .add_systems(Update, (run_page_commands, start_sound, hand_over_files).chain())
            .add_systems(Last, publish_status);
    }
}

/// What the page has been told so far.
#[derive(Resource, Default)]
struct PageState {
    /// The page's sound may start (the user clicked).
    sound_asked: bool,
    /// The sound device is open and the song was started.
    started: bool,
    /// The last frames' durations (seconds), to size the sound's buffer.
    frame_times: VecDeque<f64>,
    /// Saves already handed to the page.
    saves: u64,
}

#[allow(clippy::too_many_arguments)]
fn run_page_commands(
    mut state: ResMut<PageState>,
    mut export: ResMut<ExportJob>,
    mut intents: MessageWriter<Intent>,
    mut transport: MessageWriter<TransportCommand>,
    doc: Res<StageScene>,
    stem_audio: Res<StemAudio>,
    cues: Res<CueSwitches>,
    rows: WorldRows,
) {
    let commands: Vec<PageCommand> = PAGE.with_borrow_mut(|page| page.commands.drain(..).collect());
    for command in commands {
        match command {
            PageCommand::SoundStarted => state.sound_asked = true,
            PageCommand::Export => {
                let scene = world_scene(&doc.scene, rows.iter());
                let name = doc.path.file_stem().map_or("mix".into(), |s| s.to_string_lossy().into_owned());
                let live = (stem_audio.audio.clone(), stem_audio.sample_rate);
                export.start(
                    scene,
                    &doc.path,
                    live,
                    stem_audio.sample_rate,
                    cues.0,
                    PathBuf::from(format!("{name}.wav")),
                    Vec::new(),
                );
            }
            PageCommand::Save => {
                intents.write(Intent::Save);
            }
            PageCommand::Share => {
                let text = world_scene(&doc.scene, rows.iter()).to_ron();
                let name = file_name(&doc.path);
                PAGE.with_borrow_mut(|page| {
                    page.downloads.push_back(Download { kind: "share", name, bytes: text.into_bytes() })
                });
            }
            PageCommand::TogglePlay => {
                transport.write(TransportCommand::TogglePlay);
            }
            PageCommand::Seek(s) => {
                transport.write(TransportCommand::Seek(s));
            }
        }
    }
}

/// Frames measured before the sound starts.
const FRAMES_MEASURED: usize = 30;

/// Measures the frames until the click, then opens the sound device with a buffer that outlasts them (see
/// [`buffer_for`]) and starts the song from the top, as the render starts.
#[allow(clippy::too_many_arguments)]
fn start_sound(
    time: Res<Time<Real>>,
    mut state: ResMut<PageState>,
    mut audio: ResMut<StageAudio<CpalBackend>>,
    mut stem_audio: ResMut<StemAudio>,
    mut status: ResMut<AudioDeviceStatus>,
    mut transport: ResMut<TransportState>,
    mut choice: ResMut<DeviceChoice>,
    doc: Res<StageScene>,
) {
    if state.started {
        return;
    }
    let frame_s = time.delta_secs_f64();
    if frame_s > 0.0 {
        state.frame_times.push_back(frame_s);
        if state.frame_times.len() > FRAMES_MEASURED {
            state.frame_times.pop_front();
        }
    }
    if !state.sound_asked {
        return;
    }
    // The first frames (pipelines compiling) say nothing of the frames to come: at most the last ones count.
    let measured: Vec<f64> = state.frame_times.iter().copied().collect();
    let steady = &measured[measured.len().saturating_sub(FRAMES_MEASURED / 2)..];
    choice.buffer_frames = buffer_for(steady);
    state.started = true;
    match super::device::connect(&choice, &doc.path, &doc.scene, Some(&stem_audio)) {
        Ok((mut fresh, stems, opened)) => {
            if let Some(graph) = fresh.graph_mut() {
                transport.song_s = graph.song_seconds();
                let _ = graph.set_looping(transport.looping);
                graph.start();
            }
            transport.live = true;
            *audio = fresh;
            *stem_audio = stems;
            *status = opened;
            info!("sound: {} frames per buffer", choice.buffer_frames);
        }
        Err(why) => status.problem = Some(format!("no sound: {why}; Export WAV still works")),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or("scene.ron".into(), |n| n.to_string_lossy().into_owned())
}

/// A finished export and each save become downloads for the page.
fn hand_over_files(mut export: ResMut<ExportJob>, mut state: ResMut<PageState>, doc: Res<StageScene>) {
    if let Some((name, bytes)) = export.download.take() {
        PAGE.with_borrow_mut(|page| page.downloads.push_back(Download { kind: "wav", name, bytes }));
    }
    if doc.saves != state.saves {
        state.saves = doc.saves;
        // What the save kept (the page's copy of the file).
        if let Some(bytes) = PAGE_FILES.get(&doc.path) {
            let name = file_name(&doc.path);
            PAGE.with_borrow_mut(|page| {
                page.downloads.push_back(Download { kind: "scene", name, bytes: bytes.to_vec() })
            });
        }
    }
}

/// The status the page reads each frame: the frame count, the transport, the meters, what went wrong, the
/// export's progress, and where each body is drawn (CSS pixels in the canvas) in its colour.
#[allow(clippy::too_many_arguments)]
fn publish_status(
    frames: Res<bevy::diagnostic::FrameCount>,
    time: Res<Time<Real>>,
    transport: Res<TransportState>,
    meters: Res<Meters>,
    device: Res<AudioDeviceStatus>,
    stem_audio: Res<StemAudio>,
    doc: Res<StageScene>,
    export: Res<ExportJob>,
    state: Res<PageState>,
    compare: Res<Compare>,
    cameras: Query<(&Camera, &GlobalTransform), With<super::camera::OrbitCamera>>,
    bodies: Query<(&StemBody, &GlobalTransform, &BodySize)>,
) {
    let out = Object::new();
    set(&out, "frame", frames.0);
    set(&out, "frameMs", time.delta_secs_f64() * 1000.0);
    set(&out, "scene", doc.scene.name.as_str());
    set(&out, "path", doc.path.to_string_lossy().as_ref());
    set(&out, "dirty", doc.dirty);
    set(&out, "news", doc.status.as_str());
    set(&out, "reloadError", doc.reload_error.clone().map_or(JsValue::NULL, JsValue::from));
    set(&out, "started", state.started);
    set(&out, "bufferFrames", device.buffer_frames);
    set(&out, "live", transport.live);
    set(&out, "playing", transport.playing);
    set(&out, "positionS", transport.position_s);
    set(&out, "songS", transport.song_s);
    set(&out, "lufs", meters.short_term_lufs.map_or(JsValue::NULL, JsValue::from));
    set(&out, "truePeak", meters.true_peak_dbtp.map_or(JsValue::NULL, JsValue::from));
    let levels: Array = meters.stem_level.iter().map(|&l| JsValue::from(l)).collect();
    set(&out, "stemLevels", levels);
    let mut problems: Vec<String> = stem_audio.problems.clone();
    problems.extend(device.problem.clone());
    set(&out, "problems", problems.into_iter().map(JsValue::from).collect::<Array>());
    set(&out, "exportProgress", export.progress().map_or(JsValue::NULL, JsValue::from));
    let outcome = match &export.outcome {
        Some(Ok(m)) => m.clone(),
        Some(Err(e)) => format!("export failed: {e}"),
        None => String::new(),
    };
    set(&out, "exportOutcome", outcome);
    // A/B: each scene loaded, the one shown, and its loudness before and its trim after the match.
    let slots = Array::new();
    for (i, slot) in compare.slots.iter().enumerate() {
        let row = Object::new();
        set(&row, "path", slot.path.to_string_lossy().as_ref());
        set(&row, "shown", i == compare.active);
        set(&row, "measuredLufs", slot.measured_lufs.map_or(JsValue::NULL, JsValue::from));
        set(&row, "trimDb", slot.trim_db);
        slots.push(&row);
    }
    set(&out, "compare", slots);
    let list = Array::new();
    if let Some((camera, camera_transform)) = cameras.iter().next() {
        let mut rows: Vec<_> = bodies.iter().collect();
        rows.sort_by_key(|b| b.0.index);
        for (body, transform, size) in rows {
            let centre = transform.translation();
            let edge = centre + camera_transform.right().as_vec3() * super::stage::body_radius(size.0);
            let (Ok(c), Ok(e)) =
                (camera.world_to_viewport(camera_transform, centre), camera.world_to_viewport(camera_transform, edge))
            else {
                continue;
            };
            let [r, g, b] = super::stage::STEM_COLOURS[body.index % super::stage::STEM_COLOURS.len()];
            let row = Object::new();
            set(&row, "name", body.name.as_str());
            set(&row, "index", body.index as u32);
            set(&row, "x", c.x);
            set(&row, "y", c.y);
            set(&row, "radius", c.distance(e));
            set(&row, "depth", camera_transform.translation().distance(centre));
            set(&row, "colour", Array::of3(&r.into(), &g.into(), &b.into()));
            set(&row, "position", Array::of3(&centre.x.into(), &centre.y.into(), &centre.z.into()));
            list.push(&row);
        }
    }
    set(&out, "bodies", list);
    PAGE.with_borrow_mut(|page| page.status = Some(out));
}
