//! The scene's model: the staging, the room, the stems, the intent card and the timeline's keyframes, their
//! limits, and what a value that breaks them is called ([`Invalid`]).

use serde::{Deserialize, Serialize};

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
    /// Characters in a pinned note, and in the name of whoever left it.
    pub const COMMENT_CHARS: usize = 280;
    /// Characters in a participant's name.
    pub const NAME_CHARS: usize = 32;
    /// Pinned notes and take credits a scene keeps.
    pub const MAX_COMMENTS: usize = 2_000;
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
    /// Notes pinned to a stem at a song time ("too far in the chorus"), left by the room or the presenter.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comments: Vec<Comment>,
    /// Who played each take recorded on the stage (the room's participants or the presenter), and what.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub takes: Vec<TakeCredit>,
    /// What the room voted on the stage, and how.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub votes: Vec<VoteResult>,
}

/// A question the room voted on, with each answer's count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoteResult {
    /// The question.
    pub question: String,
    /// Each answer and its votes.
    pub answers: Vec<(String, u32)>,
}

/// A note pinned to the song: on a stem, at a time, by someone; kept until resolved (and after, marked).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comment {
    /// The stem it is about (by name).
    pub stem: String,
    /// Song time it is pinned to, seconds.
    pub at_s: f64,
    /// Who left it.
    pub by: String,
    /// What it says (at most [`limits::COMMENT_CHARS`] characters).
    pub text: String,
    /// Dealt with.
    #[serde(default)]
    pub resolved: bool,
}

/// One recorded take and the people whose gestures it holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TakeCredit {
    /// Who played it (participants' names; "stage" for the presenter's mouse, pad or panels).
    pub by: Vec<String>,
    /// The lanes it wrote ("bass position").
    pub lanes: Vec<String>,
    /// Song time the take began and ended, seconds.
    pub from_s: f64,
    /// Song time it ended.
    pub to_s: f64,
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

/// A problem with one value, found by [`Scene::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// The field path, e.g. `stems[2].position (x)`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}
