//! The driver: what the mix should be — every stem's own values, the room, the master, the cue switches and the
//! timeline that plays over them — handed to the engine as one snapshot. The stage's bridge and the offline
//! render both drive the graph through it; the engine maps the snapshot and steps the timeline in song time on
//! the audio side, so the two hear the same thing to the sample.

use std::sync::Arc;

use super::mapping::Cues;
use crate::scene::timeline::{Driven, Resolved, RoomDriven, RoomValues, StemValues};
use crate::scene::{Room, Scene, Stem};

/// One stem as the user left it (what the timeline can drive, plus its solo).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StemState {
    /// What the timeline can drive: position, size, spoil, mute, send, trim.
    pub values: StemValues,
    /// Soloed: every stem not soloed falls silent.
    pub solo: bool,
    /// What a hand holds while a take records: these of `values` play whatever the timeline says.
    pub held: Driven,
}

impl StemState {
    /// A scene stem as the user left it: its own values and its solo, nothing held.
    pub fn of(stem: &Stem) -> StemState {
        StemState { values: StemValues::of(stem), solo: stem.solo, held: Driven::default() }
    }
}

/// The master bus.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MasterState {
    /// The master fader before the limiter (dB; the timeline can drive it).
    pub gain_db: f32,
    /// Added to the fader (dB): workshop mode's loudness match between A and B.
    pub trim_db: f32,
    /// The spoil macro on the whole mix (0 .. 1).
    pub spoil: f32,
    /// The limiter's true-peak ceiling (dBTP).
    pub ceiling_dbtp: f32,
}

/// Everything the engine needs to know of the mix.
#[derive(Clone, Debug)]
pub struct MixState {
    /// Every stem, in scene order.
    pub stems: Vec<StemState>,
    /// The room (the reverb).
    pub room: Room,
    /// The master bus.
    pub master: MasterState,
    /// Which cues the mapping applies.
    pub cues: Cues,
    /// The timeline the engine plays over these values; `None` (or one without keys) holds them.
    pub timeline: Option<Arc<Resolved>>,
    /// What a hand holds on the room and the master while a take records (plays `room` and `master`).
    pub room_held: RoomDriven,
}

impl PartialEq for MixState {
    fn eq(&self, other: &MixState) -> bool {
        let same_timeline = match (&self.timeline, &other.timeline) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
            (None, None) => true,
            _ => false,
        };
        same_timeline
            && self.stems == other.stems
            && self.room == other.room
            && self.master == other.master
            && self.cues == other.cues
            && self.room_held == other.room_held
    }
}

impl MixState {
    /// A scene's mix with `cues`, playing `timeline` (the scene's own, resolved once by the caller).
    pub fn of(scene: &Scene, cues: Cues, timeline: Option<Arc<Resolved>>) -> MixState {
        MixState {
            stems: scene.stems.iter().map(StemState::of).collect(),
            room: scene.room,
            master: MasterState {
                gain_db: scene.master_gain_db,
                trim_db: 0.0,
                spoil: scene.master_spoil,
                ceiling_dbtp: scene.ceiling_dbtp,
            },
            cues,
            timeline: timeline.filter(|t| t.has_keys()),
            room_held: RoomDriven::default(),
        }
    }

    /// A scene's mix with its own timeline, resolved here.
    pub fn of_scene(scene: &Scene, cues: Cues) -> MixState {
        MixState::of(scene, cues, Resolved::of(scene).ok().map(Arc::new))
    }

    /// Whether any stem is soloed.
    pub fn any_solo(&self) -> bool {
        self.stems.iter().any(|s| s.solo)
    }

    /// The room's and the master's own values (what the timeline plays over).
    pub fn room_values(&self) -> RoomValues {
        RoomValues {
            return_db: self.room.return_db,
            reverb_db: self.room.reverb_db,
            master_gain_db: self.master.gain_db,
        }
    }
}

/// When a snapshot was taken up by the engine: the song time its changes start to be heard at, so a take
/// records each move where it was heard (not where the video frame that sent it was).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Receipt {
    /// The snapshot's number, as [`Driver::set`] returned it.
    pub seq: u64,
    /// Song time (s) the stems' chains hear as the snapshot's ramps begin.
    pub t: f64,
    /// Frames its changes ramp over.
    pub ramp_frames: u32,
    /// The transport was rolling.
    pub rolling: bool,
    /// The pass (a new one at every start from elsewhere and every seek).
    pub generation: u32,
    /// Times a looping pass has wrapped before this point.
    pub lap: u64,
}

/// A snapshot on its way to the engine, with the ramp its changes take.
pub(crate) struct StateMessage {
    pub state: Box<MixState>,
    pub ramp_frames: u32,
    pub seq: u64,
}

/// The control side: sends snapshots that differ from the last one, and frees the ones the engine is done
/// with (the audio thread never frees memory).
pub struct Driver {
    states: rtrb::Producer<StateMessage>,
    spent: rtrb::Consumer<Box<MixState>>,
    receipts: rtrb::Consumer<Receipt>,
    last: MixState,
    next_seq: u64,
}

/// The engine's end of the driver.
pub(crate) struct DriverInbox {
    pub states: rtrb::Consumer<StateMessage>,
    pub spent: rtrb::Producer<Box<MixState>>,
    pub receipts: rtrb::Producer<Receipt>,
}

/// How many snapshots can wait for the engine (one a video frame: plenty).
const QUEUE: usize = 64;
/// Receipts kept for the control side (four seconds of snapshots at 60 frames a second, and then some).
const RECEIPTS: usize = 512;

impl Driver {
    /// A driver whose engine starts at `initial`.
    pub(crate) fn new(initial: MixState) -> (Driver, DriverInbox) {
        let (states, states_in) = rtrb::RingBuffer::new(QUEUE);
        let (spent_out, spent) = rtrb::RingBuffer::new(QUEUE + 2);
        // Room for many frames' receipts: whoever does not read them only loses the oldest news.
        let (receipts_out, receipts) = rtrb::RingBuffer::new(RECEIPTS);
        (
            Driver { states, spent, receipts, last: initial, next_seq: 1 },
            DriverInbox { states: states_in, spent: spent_out, receipts: receipts_out },
        )
    }

    /// Asks for `state`, its changes ramping over `ramp_frames`; the snapshot's number, or `None` when nothing
    /// was sent (a state equal to the last one, or an engine that has stopped taking snapshots).
    pub fn set(&mut self, state: MixState, ramp_frames: u32) -> Option<u64> {
        while self.spent.pop().is_ok() {}
        if state == self.last {
            return None;
        }
        let seq = self.next_seq;
        let message = StateMessage { state: Box::new(state.clone()), ramp_frames, seq };
        if self.states.push(message).is_err() {
            return None;
        }
        self.next_seq += 1;
        self.last = state;
        Some(seq)
    }

    /// Hands over the receipts the engine has written since the last call, oldest first.
    pub fn take_receipts(&mut self, into: &mut Vec<Receipt>) {
        while let Ok(r) = self.receipts.pop() {
            into.push(r);
        }
    }

    /// The state last asked for.
    pub fn last(&self) -> &MixState {
        &self.last
    }
}
