//! The driver: what the mix should be — every stem's own values, the room, the master, the cue switches and the
//! timeline that plays over them — handed to the engine as one snapshot. The stage's bridge and the offline
//! render both drive the graph through it; the engine maps the snapshot and steps the timeline in song time on
//! the audio side, so the two hear the same thing to the sample.

use std::sync::Arc;

use super::mapping::{Cues, Placement};
use crate::scene::timeline::{Resolved, StemValues};
use crate::scene::{Room, Scene};

/// One stem as the user left it (what the timeline can drive, plus its trim and solo).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StemState {
    /// What the timeline can drive: position, size, spoil, mute, send.
    pub values: StemValues,
    /// The stem's trim (dB).
    pub gain_db: f32,
    /// Soloed: every stem not soloed falls silent.
    pub solo: bool,
}

impl StemState {
    /// The placement the mapping takes, with `values` (the stem's own, or the timeline's at some time).
    pub fn placement(&self, values: &StemValues, any_solo: bool) -> Placement {
        Placement {
            position: [values.position.0, values.position.1, values.position.2],
            size: values.size,
            gain_db: self.gain_db,
            spoil: values.spoil,
            send_db: values.send_db,
            audible: !values.muted && (!any_solo || self.solo),
        }
    }
}

/// The master bus.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MasterState {
    /// Gain before the limiter (dB), the A/B trim included.
    pub gain_db: f32,
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
    }
}

impl MixState {
    /// A scene's mix with `cues`, playing `timeline` (the scene's own, resolved once by the caller).
    pub fn of(scene: &Scene, cues: Cues, timeline: Option<Arc<Resolved>>) -> MixState {
        MixState {
            stems: scene
                .stems
                .iter()
                .map(|s| StemState { values: StemValues::of(s), gain_db: s.gain_db, solo: s.solo })
                .collect(),
            room: scene.room,
            master: MasterState {
                gain_db: scene.master_gain_db,
                spoil: scene.master_spoil,
                ceiling_dbtp: scene.ceiling_dbtp,
            },
            cues,
            timeline: timeline.filter(|t| t.has_keys()),
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
}

/// A snapshot on its way to the engine, with the ramp its changes take.
pub(crate) struct StateMessage {
    pub state: Box<MixState>,
    pub ramp_frames: u32,
}

/// The control side: sends snapshots that differ from the last one, and frees the ones the engine is done
/// with (the audio thread never frees memory).
pub struct Driver {
    states: rtrb::Producer<StateMessage>,
    spent: rtrb::Consumer<Box<MixState>>,
    last: MixState,
}

/// The engine's end of the driver.
pub(crate) struct DriverInbox {
    pub states: rtrb::Consumer<StateMessage>,
    pub spent: rtrb::Producer<Box<MixState>>,
}

/// How many snapshots can wait for the engine (one a video frame: plenty).
const QUEUE: usize = 64;

impl Driver {
    /// A driver whose engine starts at `initial`.
    pub(crate) fn new(initial: MixState) -> (Driver, DriverInbox) {
        let (states, states_in) = rtrb::RingBuffer::new(QUEUE);
        let (spent_out, spent) = rtrb::RingBuffer::new(QUEUE + 2);
        (Driver { states, spent, last: initial }, DriverInbox { states: states_in, spent: spent_out })
    }

    /// Asks for `state`, its changes ramping over `ramp_frames` (a state equal to the last one sends nothing).
    /// False if the engine has stopped taking snapshots (its queue is full).
    pub fn set(&mut self, state: MixState, ramp_frames: u32) -> bool {
        while self.spent.pop().is_ok() {}
        if state == self.last {
            return true;
        }
        let message = StateMessage { state: Box::new(state.clone()), ramp_frames };
        if self.states.push(message).is_err() {
            return false;
        }
        self.last = state;
        true
    }

    /// The state last asked for.
    pub fn last(&self) -> &MixState {
        &self.last
    }
}
