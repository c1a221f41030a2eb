//! The stage's shared nouns: options, the sound device's status, the transport, the focus, the stems' sources,
//! the timeline as heard, meters and mixes; every other stage module may read these, and this one reads none.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bevy::prelude::*;

use crate::files::FileSource;
use crate::mix::driver::Receipt;
#[cfg(target_arch = "wasm32")]
use crate::mix::input::ImportError;
use crate::mix::input::source::{self, StemSource};
use crate::mix::mapping::StemMix;
use crate::scene::Scene;
use crate::scene::timeline::{Driven, Resolved, RoomDriven, RoomValues};

/// How the stage was asked to run.
#[derive(Resource, Clone, Debug, Default)]
pub struct StageOptions {
    /// Render this many frames, save a PNG here and exit (no sound).
    pub screenshot: Option<PathBuf>,
    /// Frames to draw before the screenshot is taken.
    pub frames: u32,
    /// No sound device is opened (screenshots, or by request).
    pub silent: bool,
    /// More scenes to compare with the first (A/B in workshop mode); they must have the same stems.
    pub compare: Vec<PathBuf>,
    /// Open in presenter mode.
    pub presenter: bool,
    /// The sound device to play through.
    pub device: DeviceChoice,
    /// Open the room for phones when the stage opens.
    pub room: Option<RoomRequest>,
}

pub use crate::mix::graph::DEFAULT_BUFFER_FRAMES;

/// Which sound device the stage plays through, and how.
#[derive(Resource, Clone, Debug, PartialEq)]
pub struct DeviceChoice {
    /// As `proxemix devices` lists it (its id, or a part of its name that names one); `None`: the default.
    pub name: Option<String>,
    /// The rate to open it at; `None`: its own.
    pub sample_rate: Option<u32>,
    /// Frames per device buffer.
    pub buffer_frames: u32,
}

impl Default for DeviceChoice {
    fn default() -> Self {
        DeviceChoice { name: None, sample_rate: None, buffer_frames: DEFAULT_BUFFER_FRAMES }
    }
}

/// What became of the sound device, for the banner and the room panel.
#[derive(Resource, Clone, Debug, Default)]
pub struct AudioDeviceStatus {
    /// Why there is no sound, in one line.
    pub problem: Option<String>,
    /// The device playing (its id), when one is.
    pub device: Option<String>,
    /// Its rate.
    pub sample_rate: u32,
    /// Frames per buffer.
    pub buffer_frames: u32,
    /// Errors the device reported (underruns among them, where the host says).
    pub errors: u64,
    /// Buffers the mix took longer to fill than they last (each one a likely dropout).
    pub late_buffers: u64,
}

/// Order within Update: devices turn into intents, workshop mode decides what to show, then the intents are
/// applied to the document and the world.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum StageSet {
    /// Mouse, keyboard and gamepad become intents.
    Input,
    /// Workshop mode reads its commands (A/B, morph, quiz) and asks for scenes to be shown.
    Workshop,
    /// One system applies every intent: clamped, with undo.
    Document,
}

/// Whether egui has the pointer or the keyboard (set by the panels; false when there are none, as in tests).
#[derive(Resource, Debug, Default, Clone, Copy)]
pub struct UiFocus {
    /// The pointer is over a panel (a drag or the wheel there is not the stage's).
    pub pointer: bool,
    /// A text field has the keyboard (the shortcuts wait).
    pub keyboard: bool,
}

/// The transport as the panels show it.
#[derive(Resource, Debug, Clone, Copy)]
pub struct TransportState {
    /// There is a sound device and a graph.
    pub live: bool,
    /// The song is rolling.
    pub playing: bool,
    /// The playhead in song seconds, as of the last audio callback.
    pub position_s: f64,
    /// The song's length.
    pub song_s: f64,
    /// The song starts again at its end.
    pub looping: bool,
}

impl Default for TransportState {
    fn default() -> Self {
        TransportState { live: false, playing: false, position_s: 0.0, song_s: 0.0, looping: true }
    }
}

/// What the transport is asked to do (the audio bridge carries these out).
#[derive(Message, Debug, Clone, Copy, PartialEq)]
pub enum TransportCommand {
    /// Play if paused, pause if playing.
    TogglePlay,
    /// Play from where the playhead is (from the top at the song's end).
    Play,
    /// Stop where it is.
    Pause,
    /// Go to this song time (seconds).
    Seek(f64),
    /// Relative seek in seconds.
    Nudge(f64),
    /// Loop the song or play it once.
    SetLooping(bool),
}

/// Where the stage reads its scenes and stems and saves its scene: the disk, or in the browser the files the
/// page handed over (the core is given them; it keeps no files of its own).
pub fn stage_files() -> FileSource {
    #[cfg(target_arch = "wasm32")]
    return PAGE_FILES.clone();
    #[cfg(not(target_arch = "wasm32"))]
    FileSource::disk()
}

/// The files the page handed over (a browser has no filesystem): the stage reads its scenes and stems from
/// them, and a save keeps the scene here for the page to offer as a download.
#[cfg(target_arch = "wasm32")]
pub static PAGE_FILES: std::sync::LazyLock<FileSource> = std::sync::LazyLock::new(FileSource::in_memory);

/// Stems decoded elsewhere (the page's worker, off the thread that draws and plays), handed over as frames;
/// the stage takes them from here before decoding anything itself. By file and engine rate.
#[cfg(target_arch = "wasm32")]
type DecodedElsewhere = Vec<(PathBuf, u32, Result<crate::mix::Audio, String>)>;
#[cfg(target_arch = "wasm32")]
static DECODED_ELSEWHERE: std::sync::Mutex<DecodedElsewhere> = std::sync::Mutex::new(Vec::new());

/// Keeps what decoding `path` at `engine_rate` gave elsewhere: the audio, or why the file cannot be used.
#[cfg(target_arch = "wasm32")]
pub fn hand_over_decoded(path: &Path, engine_rate: u32, result: Result<crate::mix::Audio, String>) {
    let path = crate::files::normalise(path);
    let mut kept = DECODED_ELSEWHERE.lock().unwrap_or_else(|e| e.into_inner());
    kept.retain(|(p, rate, _)| !(*p == path && *rate == engine_rate));
    kept.push((path, engine_rate, result));
}

/// What decoding `path` at `engine_rate` gave elsewhere, if it was handed over.
#[cfg(target_arch = "wasm32")]
fn decoded_elsewhere(path: &Path, engine_rate: u32) -> Option<Result<crate::mix::Audio, ImportError>> {
    let path = crate::files::normalise(path);
    let kept = DECODED_ELSEWHERE.lock().unwrap_or_else(|e| e.into_inner());
    let (_, _, result) = kept.iter().find(|(p, rate, _)| *p == path && *rate == engine_rate)?;
    Some(result.clone().map_err(|reason| ImportError { path, reason }))
}

/// The stems' sources (files opened for streaming at the graph's rate, shared with export) and the stems that
/// could not be opened.
#[derive(Resource, Default, Clone)]
pub struct StemAudio {
    /// The rate every source plays at (the device's).
    pub sample_rate: u32,
    /// One per stem, in scene order; `None` for a stem that stays silent.
    pub audio: Vec<Option<StemSource>>,
    /// "stem \"name\": file: reason" for each stem that stays silent.
    pub problems: Vec<String>,
}

impl StemAudio {
    /// Opens every stem of `scene` at `sample_rate` (headers only); a stem that fails stays silent and is
    /// reported.
    pub fn load(scene_path: &Path, scene: &Scene, sample_rate: u32) -> StemAudio {
        let files = stage_files();
        // In the browser, the page's worker has decoded the stems already: take those, decode the rest here.
        #[cfg(target_arch = "wasm32")]
        let results: Vec<_> = scene
            .stems
            .iter()
            .map(|stem| {
                let path = Scene::resolve_file(scene_path, stem);
                decoded_elsewhere(&path, sample_rate)
                    .map(|decoded| decoded.map(StemSource::Memory))
                    .unwrap_or_else(|| source::open_files(&files, &[path], sample_rate).remove(0))
            })
            .collect();
        #[cfg(not(target_arch = "wasm32"))]
        let results = source::open_scene(&files, scene_path, scene, sample_rate);
        let mut problems = Vec::new();
        let audio = results
            .into_iter()
            .zip(&scene.stems)
            .map(|(r, stem)| r.map_err(|e| problems.push(format!("stem \"{}\": {e}", stem.name))).ok())
            .collect();
        StemAudio { sample_rate, audio, problems }
    }
}

/// The timeline as the stage plays it: resolved from the document, evaluated at the playhead.
#[derive(Resource, Debug, Default)]
pub struct LiveTimeline {
    /// The document's timeline, resolved once per edit (the engine plays this one).
    pub resolved: Arc<Resolved>,
    /// Song time the stage evaluated this frame.
    pub t: f64,
    /// The reverb return's fader there (dB).
    pub return_db: f32,
    /// The room's and the master's values there (the timeline over the document's own).
    pub room: Option<RoomValues>,
    /// The section the playhead is in.
    pub section: Option<String>,
    /// Bar number (from 1, with the fraction) when there is a tempo.
    pub bar: Option<f64>,
}

/// What the mapping gave each stem this frame (index = scene order), for the inspector and the visuals.
#[derive(Resource, Default, Debug)]
pub struct LiveMixes(pub Vec<Option<StemMix>>);

/// Meter readings for the panels and the bodies' glow.
#[derive(Resource, Default, Debug)]
pub struct Meters {
    /// Peak of each stem's output since the last frame, smoothed for display (linear).
    pub stem_level: Vec<f32>,
    /// Short-term loudness (3 s window), LUFS.
    pub short_term_lufs: Option<f64>,
    /// True peak over the last two seconds, dBTP.
    pub true_peak_dbtp: Option<f64>,
    /// True peak since the meter started, dBTP.
    pub true_peak_max_dbtp: Option<f64>,
    /// The limiter's deepest gain reduction in the last frame, dB (0 = not limiting).
    pub limiter_db: f32,
    /// Non-finite blocks the graph caught.
    pub faults: u32,
    /// Streamed stems: times a block came too late (played as silence).
    pub underruns: u64,
    /// How much silence the underruns were, in seconds.
    pub underrun_s: f64,
    /// The longest a start or seek waited for the streams to hold the new position (silence), in seconds.
    pub longest_seek_wait_s: f64,
    /// The longest a seek while playing waited for the new position before switching to it (the old position
    /// played on meanwhile), in seconds.
    pub longest_seek_switch_s: f64,
    /// Streamed stems that went silent while playing (their file vanished or was cut off), with why.
    pub stream_problems: Vec<String>,
    /// What had to be repaired in the stems' files to play them.
    pub repairs: Vec<String>,
}

/// What a hand holds while a take records: these properties play the hand's values, not the timeline's (the
/// recorder sets them, the bridge and the timeline's driver of the bodies read them).
#[derive(Resource, Debug, Default, Clone, PartialEq)]
pub struct HeldLanes {
    /// Per stem, in scene order.
    pub stems: Vec<Driven>,
    /// The room and the master.
    pub room: RoomDriven,
}

impl HeldLanes {
    /// What is held on stem `index`.
    pub fn stem(&self, index: usize) -> Driven {
        self.stems.get(index).copied().unwrap_or_default()
    }
}

/// Automation modes, as in a DAW.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordMode {
    /// Writes while a property is held, then glides back to what was there.
    #[default]
    Touch,
    /// Writes from the first touch until the transport stops, holding the last value.
    Latch,
}

/// The recorder as input and the panels see it.
#[derive(Resource, Debug, Default, Clone)]
pub struct RecordingState {
    /// Armed: moves made while the song plays are written.
    pub armed: bool,
    /// A take is being written (Esc discards it).
    pub running: bool,
    /// Touch or latch.
    pub mode: RecordMode,
}

/// What the engine said this frame: when it took up each snapshot (song time), and which snapshot the
/// bridge sent; the recorder writes moves where they were heard.
#[derive(Resource, Debug, Default)]
pub struct AudioNews {
    /// Receipts since the last frame, oldest first.
    pub receipts: Vec<Receipt>,
    /// The snapshot the bridge sent this frame, if any: its number and its ramp (s).
    pub sent: Option<(u64, f32)>,
    /// The pass playing and how often it has wrapped, as of the last callback.
    pub pass_and_lap: (u32, u64),
}

/// The room the stage opens (`--room`): where it listens and how many may join.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomRequest {
    /// "lan", an interface's name, or an address.
    pub interface: String,
    /// The port (0: any free one).
    pub port: u16,
    /// Participants at once.
    pub max_participants: usize,
}

/// What the room shows on the stage: each stem's holder (a name tag on its body) and the body hidden for a
/// "where do you hear it?" round.
#[derive(Resource, Debug, Default, Clone, PartialEq)]
pub struct RoomTags {
    /// By stem index: who holds it.
    pub holders: Vec<Option<String>>,
    /// The stem hidden from view.
    pub hidden: Option<usize>,
}

/// The room's window is shown (the top bar's "Room" button toggles it; only where there is a room).
#[derive(Resource, Debug, Default, Clone, Copy)]
pub struct RoomWindowShown(pub bool);
