//! The scene file: a hand-editable RON document (format version 2: a staging, an intent card and a timeline;
//! version 1 files still load), validated before anything reaches kira.
#![warn(missing_docs)]

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub mod automation;
pub mod timeline;

/// The format version this build writes. Version 1 (no timeline, no intent card) is still read.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest format version this build reads.
pub const OLDEST_VERSION: u32 = 1;
/// kira's tracks are allocated up front; this caps what a scene may ask for.
pub const MAX_STEMS: usize = 256;
/// A scene is a small text file; anything bigger is not one (and is not read into memory).
pub const MAX_SCENE_BYTES: u64 = 4 * 1024 * 1024;

/// Valid ranges, one place, so the README, validation and error messages agree.
pub mod limits {
    /// Room size (characteristic length, metres): a booth to a stadium.
    pub const ROOM_SIZE_M: (f32, f32) = (2.0, 200.0);
    /// Reverberation time RT60 (seconds).
    pub const DECAY_S: (f32, f32) = (0.1, 20.0);
    /// High-frequency damping of the reverb tail (0 bright .. 1 dark).
    pub const DAMPING: (f32, f32) = (0.0, 1.0);
    /// Reverb return trim (dB); at the minimum the reverb is off.
    pub const REVERB_DB: (f32, f32) = (-60.0, 12.0);
    /// Any coordinate of a body (metres from the listener's feet).
    pub const COORD_M: (f32, f32) = (-1000.0, 1000.0);
    /// Body size (1.0 = a single voice or instrument).
    pub const SIZE: (f32, f32) = (0.1, 10.0);
    /// Per-stem and master trims (dB).
    pub const GAIN_DB: (f32, f32) = (-60.0, 24.0);
    /// The spoil macro.
    pub const SPOIL: (f32, f32) = (0.0, 1.0);
    /// Limiter ceiling (dBTP).
    pub const CEILING_DBTP: (f32, f32) = (-24.0, 0.0);
    /// Effects send trim on one stem and the reverb return's own fader (dB); at the minimum they are cut.
    pub const EFFECTS_DB: (f32, f32) = (-60.0, 12.0);
    /// Any time on the timeline (seconds): an hour.
    pub const TIME_S: (f64, f64) = (0.0, 3600.0);
    /// Tempo (beats per minute) and beats per bar.
    pub const BPM: (f64, f64) = (20.0, 400.0);
    /// Beats per bar.
    pub const BEATS_PER_BAR: (u32, u32) = (1, 32);
    /// Keyframes per stem (and on the room).
    pub const MAX_KEYS: usize = 10_000;
}

/// A whole staging: a room, the stems in it and the master bus.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scene {
    /// Format version (1 or 2).
    pub version: u32,
    /// What the staging is called.
    pub name: String,
    #[serde(default)]
    /// What it says, in a sentence or two.
    pub notes: String,
    #[serde(default)]
    /// The room (the reverb).
    pub room: Room,
    /// The stems, each a body.
    pub stems: Vec<Stem>,
    /// Master trim before the limiter (dB).
    #[serde(default)]
    pub master_gain_db: f32,
    /// Spoil on the whole mix (0..1).
    #[serde(default)]
    pub master_spoil: f32,
    /// The limiter never lets the true peak past this (dBTP).
    #[serde(default = "default_ceiling")]
    pub ceiling_dbtp: f32,
    /// What this staging says and how (presenter mode and handouts show it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<Intent>,
    /// Sections, tempo and the room's keyframes (each stem carries its own keyframes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Timeline>,
}

/// The intent card: what a staging communicates, and which cues carry it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intent {
    /// A few words, as on a slide.
    pub title: String,
    /// What the listener should feel or understand.
    pub communicates: String,
    /// Each cue this staging changes, and why.
    #[serde(default)]
    pub cues: Vec<CueNote>,
}

/// One line of an intent card.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CueNote {
    /// The cue: level, direct-to-reverb, air, pre-delay, width, spoil, timing ...
    pub cue: String,
    /// Why it helps say it.
    pub why: String,
}

/// The song's time: its tempo and sections, and the keyframes of the room (stems carry their own).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeline {
    /// Needed for times and lengths in bars (and for A/B switches on the next bar line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tempo: Option<Tempo>,
    #[serde(default)]
    /// Named stretches of the song.
    pub sections: Vec<Section>,
    /// Keyframes of the room and the master: the reverb return's fader, the reverb level, the master fader.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub room: Vec<RoomKey>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// The song's tempo, for bars.
pub struct Tempo {
    /// Beats per minute.
    pub bpm: f64,
    #[serde(default = "default_beats_per_bar")]
    /// Beats per bar.
    pub beats_per_bar: u32,
}

fn default_beats_per_bar() -> u32 {
    4
}

impl Tempo {
    /// Length of a bar (s).
    pub fn bar_s(&self) -> f64 {
        60.0 / self.bpm * self.beats_per_bar as f64
    }
}

/// A named stretch of the song; it starts where the previous one ends unless it says otherwise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    /// The section's name (unique).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Where it starts (default: where the previous one ends).
    pub start: Option<At>,
    /// How long it lasts.
    pub length: Length,
}

/// A point in song time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum At {
    /// Seconds from the start of the song.
    Seconds(f64),
    /// Bar number, counted from 1 like a DAW (fractions are allowed: 9.5 is half-way through bar 9).
    Bar(f64),
    /// The start of a section, by name.
    Section(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
/// A length of time.
pub enum Length {
    /// In seconds.
    Seconds(f64),
    /// In bars (needs the tempo).
    Bars(f64),
}

/// How a keyframe is reached from the previous one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ease {
    /// Move in a straight line from the previous keyframe's value (a first keyframe jumps).
    #[default]
    Glide,
    /// Hold the previous value until this keyframe, then jump.
    Jump,
}

/// A keyframe on one stem: the properties it names take these values at `at` (the others are untouched).
/// Mute always jumps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Key {
    /// When.
    pub at: At,
    #[serde(default, skip_serializing_if = "is_default")]
    /// Glide from the previous keyframe, or jump.
    pub ease: Ease,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Where the body goes.
    pub position: Option<(f32, f32, f32)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Its size.
    pub size: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Its spoil.
    pub spoil: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Muted (always jumps).
    pub muted: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Its effects send trim (dB).
    pub send_db: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Its level trim (dB).
    pub gain_db: Option<f32>,
}

impl Key {
    /// A keyframe at `at` that sets nothing yet.
    pub fn at(at: At) -> Key {
        Key {
            at,
            ease: Ease::Glide,
            position: None,
            size: None,
            spoil: None,
            muted: None,
            send_db: None,
            gain_db: None,
        }
    }

    /// Whether it sets anything.
    pub fn sets_anything(&self) -> bool {
        self.position.is_some()
            || self.size.is_some()
            || self.spoil.is_some()
            || self.muted.is_some()
            || self.send_db.is_some()
            || self.gain_db.is_some()
    }
}

/// A keyframe on the room and the master bus.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomKey {
    /// When.
    pub at: At,
    #[serde(default, skip_serializing_if = "is_default")]
    /// Glide from the previous keyframe, or jump.
    pub ease: Ease,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The reverb return's fader (dB).
    pub return_db: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The room's reverb level (dB, in every stem's send: the room panel's "reverb").
    pub reverb_db: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The master fader (dB).
    pub master_gain_db: Option<f32>,
}

impl RoomKey {
    /// A keyframe at `at` that sets nothing yet.
    pub fn at(at: At) -> RoomKey {
        RoomKey { at, ease: Ease::Glide, return_db: None, reverb_db: None, master_gain_db: None }
    }

    /// Whether it sets anything.
    pub fn sets_anything(&self) -> bool {
        self.return_db.is_some() || self.reverb_db.is_some() || self.master_gain_db.is_some()
    }
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

fn default_ceiling() -> f32 {
    -1.0
}

/// The room every body stands in; it sets the reverb and the critical distance.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Room {
    /// Characteristic length in metres (the room is modelled as size × size × size/3).
    pub size: f32,
    /// Reverberation time RT60 in seconds.
    pub decay_s: f32,
    /// High-frequency damping of the tail, 0 (bright) .. 1 (dark).
    pub damping: f32,
    /// Reverb trim in dB, in every stem's send (so the mapping's direct-to-reverb ratio is what is heard);
    /// -60 switches the reverb off.
    #[serde(default)]
    pub reverb_db: f32,
    /// The reverb return's own fader (dB), after the tail: the timeline cuts the effects with it (-60 cuts).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub return_db: f32,
}

fn is_zero(value: &f32) -> bool {
    *value == 0.0
}

impl Default for Room {
    fn default() -> Self {
        Room { size: 12.0, decay_s: 1.6, damping: 0.5, reverb_db: 0.0, return_db: 0.0 }
    }
}

/// One stem: an audio file and the body that stands for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stem {
    /// The stem's name (unique in the scene).
    pub name: String,
    /// Path of the audio file, relative to the scene file.
    pub file: String,
    /// (x, y, z) in metres; the listener stands at the origin facing -Z, ears 1.2 m up.
    pub position: (f32, f32, f32),
    #[serde(default = "default_size")]
    /// Body size (0.1 .. 10; 1 = a voice or an instrument).
    pub size: f32,
    #[serde(default)]
    /// Trim (dB).
    pub gain_db: f32,
    #[serde(default)]
    /// The spoil macro (0 .. 1).
    pub spoil: f32,
    #[serde(default)]
    /// Silenced.
    pub muted: bool,
    #[serde(default)]
    /// Soloed: the stems not soloed fall silent.
    pub solo: bool,
    /// Effects send trim (dB) on top of what the placement gives; -60 sends nothing.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub send_db: f32,
    /// Keyframes (format version 2), in any order; the timeline sorts them by time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<Key>,
}

fn default_size() -> f32 {
    1.0
}

impl Stem {
    /// The position as an array.
    pub fn position_array(&self) -> [f32; 3] {
        [self.position.0, self.position.1, self.position.2]
    }
}

/// Why a scene could not be read; every variant names the file.
#[derive(Debug)]
pub enum SceneError {
    /// The file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        message: String,
    },
    /// The file is not valid RON (where, and why).
    Syntax {
        /// The file.
        path: PathBuf,
        /// Where (from 1).
        line: usize,
        /// Where in the line (from 1).
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// A value is out of range (its field path, and why).
    Invalid {
        /// The file.
        path: PathBuf,
        /// The field path, e.g. `stems[2].position (x)`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

impl fmt::Display for SceneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SceneError::Io { path, message } => write!(f, "{}: {message}", path.display()),
            SceneError::Syntax { path, line, column, message } => {
                write!(f, "{}:{line}:{column}: {message}", path.display())
            }
            SceneError::Invalid { path, field, message } => {
                write!(f, "{}: {field}: {message}", path.display())
            }
        }
    }
}

impl std::error::Error for SceneError {}

/// A problem with one value, found by [`Scene::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// The field path, e.g. `stems[2].position (x)`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl Scene {
    /// Reads, parses and validates a scene file.
    pub fn load(path: &Path) -> Result<Scene, SceneError> {
        let io = |message: String| SceneError::Io { path: path.to_owned(), message };
        let size = crate::page_files::len(path).map_err(|e| io(format!("cannot read scene file: {e}")))?;
        if size > MAX_SCENE_BYTES {
            return Err(io(format!("{size} bytes is too large for a scene file (the limit is {MAX_SCENE_BYTES})")));
        }
        let text = crate::page_files::read_to_string(path).map_err(|e| io(format!("cannot read scene file: {e}")))?;
        Scene::parse(&text, path)
    }

    /// Parses and validates scene text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Scene, SceneError> {
        // Implicit Some: a keyframe says `spoil: 0.4`, not `spoil: Some(0.4)`.
        let options = ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
        let scene: Scene = options.from_str(text).map_err(|e| SceneError::Syntax {
            path: path.to_owned(),
            line: e.span.start.line,
            column: e.span.start.col,
            message: e.code.to_string(),
        })?;
        scene.validate().map_err(|Invalid { field, message }| SceneError::Invalid {
            path: path.to_owned(),
            field,
            message,
        })?;
        Ok(scene)
    }

    /// Checks every value against [`limits`]; the first problem is reported with its field path.
    pub fn validate(&self) -> Result<(), Invalid> {
        use limits::*;
        if !(OLDEST_VERSION..=FORMAT_VERSION).contains(&self.version) {
            return Err(invalid(
                "version",
                format!(
                    "format version {} is not supported (this build reads versions {OLDEST_VERSION} to {FORMAT_VERSION})",
                    self.version
                ),
            ));
        }
        if self.version < 2 {
            let v2_field = if self.timeline.is_some() {
                Some("timeline")
            } else if self.intent.is_some() {
                Some("intent")
            } else {
                self.stems.iter().position(|s| !s.keys.is_empty()).map(|_| "stems[].keys")
            };
            if let Some(field) = v2_field {
                return Err(invalid(field, "needs format version 2 (write `version: 2`)".into()));
            }
        }
        check_range("room.return_db", self.room.return_db, EFFECTS_DB)?;
        check_range("room.size", self.room.size, ROOM_SIZE_M)?;
        check_range("room.decay_s", self.room.decay_s, DECAY_S)?;
        check_range("room.damping", self.room.damping, DAMPING)?;
        check_range("room.reverb_db", self.room.reverb_db, REVERB_DB)?;
        check_range("master_gain_db", self.master_gain_db, GAIN_DB)?;
        check_range("master_spoil", self.master_spoil, SPOIL)?;
        check_range("ceiling_dbtp", self.ceiling_dbtp, CEILING_DBTP)?;
        if self.stems.len() > MAX_STEMS {
            return Err(invalid("stems", format!("{} stems; at most {MAX_STEMS} are supported", self.stems.len())));
        }
        for (i, stem) in self.stems.iter().enumerate() {
            let at = |field: &str| format!("stems[{i}].{field}");
            if stem.name.trim().is_empty() {
                return Err(invalid(&at("name"), "must not be empty".into()));
            }
            if let Some(first) = self.stems[..i].iter().position(|s| s.name == stem.name) {
                return Err(invalid(
                    &at("name"),
                    format!("\"{}\" is already the name of stems[{first}]; names identify stems", stem.name),
                ));
            }
            if stem.file.trim().is_empty() {
                return Err(invalid(&at("file"), "must name an audio file".into()));
            }
            for (axis, v) in ["x", "y", "z"].iter().zip(stem.position_array()) {
                check_range(&format!("{} ({axis})", at("position")), v, COORD_M)?;
            }
            check_range(&at("size"), stem.size, SIZE)?;
            check_range(&at("gain_db"), stem.gain_db, GAIN_DB)?;
            check_range(&at("spoil"), stem.spoil, SPOIL)?;
            check_range(&at("send_db"), stem.send_db, EFFECTS_DB)?;
            if stem.keys.len() > MAX_KEYS {
                return Err(invalid(&at("keys"), format!("{} keyframes; at most {MAX_KEYS}", stem.keys.len())));
            }
            for (k, key) in stem.keys.iter().enumerate() {
                let at = |field: &str| format!("stems[{i}].keys[{k}].{field}");
                if let Some(p) = key.position {
                    for (axis, v) in ["x", "y", "z"].iter().zip([p.0, p.1, p.2]) {
                        check_range(&format!("{} ({axis})", at("position")), v, COORD_M)?;
                    }
                }
                if let Some(v) = key.size {
                    check_range(&at("size"), v, SIZE)?;
                }
                if let Some(v) = key.spoil {
                    check_range(&at("spoil"), v, SPOIL)?;
                }
                if let Some(v) = key.send_db {
                    check_range(&at("send_db"), v, EFFECTS_DB)?;
                }
                if let Some(v) = key.gain_db {
                    check_range(&at("gain_db"), v, GAIN_DB)?;
                }
            }
        }
        if let Some(timeline) = &self.timeline {
            if timeline.room.len() > MAX_KEYS {
                return Err(invalid("timeline.room", format!("{} keyframes; at most {MAX_KEYS}", timeline.room.len())));
            }
            for (k, key) in timeline.room.iter().enumerate() {
                if let Some(v) = key.return_db {
                    check_range(&format!("timeline.room[{k}].return_db"), v, EFFECTS_DB)?;
                }
                if let Some(v) = key.reverb_db {
                    check_range(&format!("timeline.room[{k}].reverb_db"), v, REVERB_DB)?;
                }
                if let Some(v) = key.master_gain_db {
                    check_range(&format!("timeline.room[{k}].master_gain_db"), v, GAIN_DB)?;
                }
            }
        }
        // Times, tempo and section names: resolving the timeline checks them all.
        timeline::Resolved::of(self)?;
        Ok(())
    }

    /// The audio file of `stem`, resolved against the directory of the scene file.
    pub fn resolve_file(scene_path: &Path, stem: &Stem) -> PathBuf {
        let file = Path::new(&stem.file);
        if file.is_absolute() { file.to_owned() } else { scene_path.parent().unwrap_or(Path::new(".")).join(file) }
    }

    /// The scene as RON text, formatted for people: one line per stem, per keyframe, per section and per cue,
    /// which is how people read and diff a staging.
    pub fn to_ron(&self) -> String {
        use std::fmt::Write as _;
        // Compact values with implicit Some (the reader enables it too), so a keyframe says `spoil: 0.4`.
        let options = ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
        let ron = |value: &dyn erased::Ron| value.to_ron(&options);
        let list = |out: &mut String, indent: &str, items: Vec<String>| {
            out.push_str("[\n");
            for item in items {
                let _ = writeln!(out, "{indent}    {item},");
            }
            let _ = write!(out, "{indent}]");
        };
        let mut out = String::from("(\n");
        let _ = writeln!(out, "    version: {},", self.version);
        let _ = writeln!(out, "    name: {},", ron(&self.name));
        let _ = writeln!(out, "    notes: {},", ron(&self.notes));
        let _ = writeln!(out, "    room: {},", ron(&self.room));
        out.push_str("    stems: [\n");
        for stem in &self.stems {
            let bare = Stem { keys: Vec::new(), ..stem.clone() };
            let line = ron(&bare);
            if stem.keys.is_empty() {
                let _ = writeln!(out, "        {line},");
            } else {
                let _ = write!(out, "        {}, keys: ", line.trim_end_matches(')'));
                list(&mut out, "        ", stem.keys.iter().map(|k| ron(k)).collect());
                out.push_str("),\n");
            }
        }
        out.push_str("    ],\n");
        let _ = writeln!(out, "    master_gain_db: {},", ron(&self.master_gain_db));
        let _ = writeln!(out, "    master_spoil: {},", ron(&self.master_spoil));
        let _ = writeln!(out, "    ceiling_dbtp: {},", ron(&self.ceiling_dbtp));
        if let Some(intent) = &self.intent {
            out.push_str("    intent: (\n");
            let _ = writeln!(out, "        title: {},", ron(&intent.title));
            let _ = writeln!(out, "        communicates: {},", ron(&intent.communicates));
            out.push_str("        cues: ");
            list(&mut out, "        ", intent.cues.iter().map(|c| ron(c)).collect());
            out.push_str(",\n    ),\n");
        }
        if let Some(timeline) = &self.timeline {
            out.push_str("    timeline: (\n");
            if let Some(tempo) = &timeline.tempo {
                let _ = writeln!(out, "        tempo: {},", ron(tempo));
            }
            out.push_str("        sections: ");
            list(&mut out, "        ", timeline.sections.iter().map(|s| ron(s)).collect());
            out.push_str(",\n");
            if !timeline.room.is_empty() {
                out.push_str("        room: ");
                list(&mut out, "        ", timeline.room.iter().map(|k| ron(k)).collect());
                out.push_str(",\n");
            }
            out.push_str("    ),\n");
        }
        out.push_str(")\n");
        out
    }

    /// Writes the scene atomically: a temporary file beside the target, then a rename.
    /// An existing file is kept as `NAME.bak`.
    pub fn save(&self, path: &Path) -> Result<(), SceneError> {
        self.validate().map_err(|Invalid { field, message }| SceneError::Invalid {
            path: path.to_owned(),
            field,
            message,
        })?;
        let io = |e: std::io::Error| SceneError::Io { path: path.to_owned(), message: format!("cannot save: {e}") };
        let text = self.to_ron();
        // In the browser the page keeps the file (and offers it as a download); on the desktop, the disk.
        if cfg!(target_arch = "wasm32") {
            crate::page_files::put(path, text.into_bytes());
            return Ok(());
        }
        crate::atomic_write(path, text.as_bytes(), true).map_err(io)
    }
}

fn invalid(field: &str, message: String) -> Invalid {
    Invalid { field: field.to_owned(), message }
}

fn check_range(field: &str, value: f32, (lo, hi): (f32, f32)) -> Result<(), Invalid> {
    if !value.is_finite() {
        return Err(invalid(field, format!("{value} is not a finite number")));
    }
    if value < lo || value > hi {
        return Err(invalid(field, format!("{value} is outside the allowed range {lo} ..= {hi}")));
    }
    Ok(())
}

/// Serialising values of different types through one closure in [`Scene::to_ron`].
mod erased {
    pub trait Ron {
        fn to_ron(&self, options: &ron::Options) -> String;
    }

    impl<T: serde::Serialize> Ron for T {
        fn to_ron(&self, options: &ron::Options) -> String {
            // One line with spaces after the colons and commas, quotes left as typed.
            let inline = ron::ser::PrettyConfig::new()
                .depth_limit(0)
                .struct_names(false)
                .escape_strings(false)
                .new_line(" ".to_string())
                .indentor(String::new());
            // Plain data with no maps or non-finite floats (validated): it always serialises.
            options.to_string_pretty(self, inline).expect("scene values serialise")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"(
        version: 1,
        name: "Intimate",
        notes: "A voice close to you.",
        room: (size: 12.0, decay_s: 1.6, damping: 0.5),
        stems: [
            (name: "vocal", file: "../assets/stems/vocal.ogg", position: (0.0, 1.6, -0.5), size: 1.0, gain_db: 0.0, spoil: 0.0, muted: false, solo: false),
            (name: "bass", file: "bass.wav", position: (1.0, 0.5, -3.0)),
        ],
    )"#;

    fn parse(text: &str) -> Result<Scene, SceneError> {
        Scene::parse(text, Path::new("test.ron"))
    }

    #[test]
    fn the_issue_example_parses_with_defaults() {
        let scene = parse(GOOD).unwrap();
        assert_eq!(scene.stems.len(), 2);
        assert_eq!(scene.stems[1].size, 1.0);
        assert_eq!(scene.ceiling_dbtp, -1.0);
        assert_eq!(scene.room.reverb_db, 0.0);
    }

    #[test]
    fn round_trips_through_ron() {
        let scene = parse(GOOD).unwrap();
        let again = parse(&scene.to_ron()).unwrap();
        assert_eq!(scene, again);
    }

    #[test]
    fn unknown_fields_are_errors_with_a_position() {
        let text = GOOD.replace("size: 1.0, gain_db", "sise: 1.0, gain_db");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.starts_with("test.ron:7:"), "{err}");
        assert!(err.contains("sise"), "{err}");
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let text = GOOD.replace("name: \"bass\",", "name: \"bass\"");
        let err = parse(&text).unwrap_err();
        match err {
            SceneError::Syntax { line, .. } => assert_eq!(line, 8),
            other => panic!("expected a syntax error, got {other}"),
        }
    }

    #[test]
    fn hostile_numbers_name_the_field() {
        for (from, to, field) in [
            ("(0.0, 1.6, -0.5)", "(NaN, 1.6, -0.5)", "stems[0].position (x)"),
            ("(0.0, 1.6, -0.5)", "(0.0, inf, -0.5)", "stems[0].position (y)"),
            ("(0.0, 1.6, -0.5)", "(0.0, 1.6, -1e30)", "stems[0].position (z)"),
            ("size: 1.0", "size: -1.0", "stems[0].size"),
            ("spoil: 0.0", "spoil: 7.0", "stems[0].spoil"),
            ("decay_s: 1.6", "decay_s: 1e39", "room.decay_s"),
            ("version: 1", "version: 9", "version"),
            ("name: \"bass\"", "name: \"vocal\"", "stems[1].name"),
        ] {
            let err = parse(&GOOD.replace(from, to)).unwrap_err();
            match &err {
                SceneError::Invalid { field: f, .. } => assert_eq!(f, field, "{err}"),
                other => panic!("{to}: expected an invalid value, got {other}"),
            }
        }
    }

    #[test]
    fn files_resolve_against_the_scene_directory() {
        let scene = parse(GOOD).unwrap();
        let p = Scene::resolve_file(Path::new("/a/scenes/x.ron"), &scene.stems[0]);
        assert_eq!(p, Path::new("/a/scenes/../assets/stems/vocal.ogg"));
    }
}
