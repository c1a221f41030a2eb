//! The transport: which pass of the song plays, where in it, and the fades that keep starts, seeks and pauses
//! from clicking. One for the whole mix, so every stem moves on the same sample.

use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

use crate::mix::input::stream::Pass;

/// What the transport is doing, as the control side sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TransportState {
    /// Not playing (paused, or not started).
    Stopped = 0,
    /// Waiting for the streams to hold the start of a pass (live only).
    Priming = 1,
    /// Playing.
    Rolling = 2,
    /// A song that does not loop has played to its end.
    Ended = 3,
}

impl TransportState {
    fn from_u8(v: u8) -> TransportState {
        match v {
            1 => TransportState::Priming,
            2 => TransportState::Rolling,
            3 => TransportState::Ended,
            _ => TransportState::Stopped,
        }
    }
}

/// A command to the transport (queued, so none is lost however many arrive between two callbacks).
#[derive(Clone, Copy, Debug)]
pub enum TransportCommand {
    /// Play `pass` (fading in over `fade_frames`); a pass already under way with the same generation resumes.
    /// Play `pass` (fading in over `fade_frames`); a pass already under way with the same generation resumes.
    Play {
        /// The pass to play.
        pass: Pass,
        /// Length of the fade-in (0: none).
        fade_frames: u32,
    },
    /// Fade out and stop where the fade ends.
    /// Fade out and stop where the fade ends.
    Pause {
        /// Length of the fade-out (0: at once).
        fade_frames: u32,
    },
    /// Stop (fading out if rolling) and wait at the start of `pass`.
    /// Stop (fading out if rolling) and wait at the start of `pass`.
    Locate {
        /// The pass to wait at.
        pass: Pass,
        /// Length of the fade-out when rolling (0: at once).
        fade_frames: u32,
    },
}

/// What the engine reports back (written only by the audio thread).
#[derive(Default)]
pub struct EngineShared {
    /// Song frame at the end of the last chunk.
    position: AtomicU64,
    state: AtomicU8,
    /// Commands taken so far.
    commands_taken: AtomicU64,
    /// Generation of the pass being played.
    generation: AtomicU32,
    /// Times the looping pass has wrapped.
    lap: AtomicU64,
    /// The live audio thread runs with real-time scheduling.
    real_time: std::sync::atomic::AtomicBool,
    /// Live starts and seeks that waited for the streams, the longest wait (frames) and how many gave up
    /// waiting (played with what was there).
    primings: AtomicU64,
    longest_priming: AtomicU64,
    priming_timeouts: AtomicU64,
    /// The longest a seek while rolling waited for the new position before switching to it (frames; the old
    /// position played on meanwhile).
    longest_switch: AtomicU64,
}

/// How long live starts and seeks waited for the streams to hold the new position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrimingWaits {
    /// Starts and seeks so far.
    pub count: u64,
    /// The longest wait, frames at the engine rate.
    pub longest_frames: u64,
    /// Waits that ran out of time (the streams were not ready: what was missing is counted as underruns).
    pub timeouts: u64,
    /// The longest a seek while rolling waited before switching (frames; the old position played on).
    pub longest_switch_frames: u64,
}

impl EngineShared {
    /// Song frame the transport stands at.
    pub fn position(&self) -> u64 {
        self.position.load(Ordering::Acquire)
    }
    /// What the transport is doing.
    pub fn state(&self) -> TransportState {
        TransportState::from_u8(self.state.load(Ordering::Acquire))
    }
    /// How many commands the audio thread has taken.
    pub fn commands_taken(&self) -> u64 {
        self.commands_taken.load(Ordering::Acquire)
    }
    /// The pass being played.
    pub fn generation(&self) -> u32 {
        self.generation.load(Ordering::Acquire)
    }
    /// Times the pass being played has wrapped at the song's end (looping).
    pub fn lap(&self) -> u64 {
        self.lap.load(Ordering::Acquire)
    }
    /// Whether the live audio thread got real-time scheduling.
    pub fn real_time(&self) -> bool {
        self.real_time.load(Ordering::Relaxed)
    }
    pub(crate) fn set_real_time(&self, yes: bool) {
        self.real_time.store(yes, Ordering::Relaxed);
    }
    /// How long live starts and seeks waited for the streams.
    pub fn priming_waits(&self) -> PrimingWaits {
        PrimingWaits {
            count: self.primings.load(Ordering::Relaxed),
            longest_frames: self.longest_priming.load(Ordering::Relaxed),
            timeouts: self.priming_timeouts.load(Ordering::Relaxed),
            longest_switch_frames: self.longest_switch.load(Ordering::Relaxed),
        }
    }
    pub(crate) fn primed_after(&self, frames: u64, timed_out: bool) {
        self.primings.fetch_add(1, Ordering::Relaxed);
        self.longest_priming.fetch_max(frames, Ordering::Relaxed);
        if timed_out {
            self.priming_timeouts.fetch_add(1, Ordering::Relaxed);
        }
    }
    pub(crate) fn switched_after(&self, frames: u64, timed_out: bool) {
        self.longest_switch.fetch_max(frames, Ordering::Relaxed);
        if timed_out {
            self.priming_timeouts.fetch_add(1, Ordering::Relaxed);
        }
    }
    pub(crate) fn took_command(&self) {
        self.commands_taken.fetch_add(1, Ordering::AcqRel);
    }
}

/// What every stem does in one chunk.
#[derive(Clone, Copy, Debug)]
pub struct ChunkPlan {
    /// The pass being played.
    pub pass: Pass,
    /// First frame of the pass played in this chunk.
    pub q: u64,
    /// Frames in the chunk.
    pub frames: usize,
    /// Frames of the pass played (the rest of the chunk is silence).
    pub advance: usize,
    /// Transport gain before the first frame, its step per frame, for how many frames it steps, whether the
    /// ramp ends within this chunk, and the gain after the ramp.
    pub gain: f32,
    /// The gain's step per frame while it ramps.
    pub gain_step: f32,
    /// Frames of the chunk the gain ramps over.
    pub ramp_frames: usize,
    /// Whether the ramp ends within this chunk.
    pub ramp_lands: bool,
    /// The gain after the ramp.
    pub end_gain: f32,
    /// Wait for streamed data instead of playing silence (offline).
    pub wait: bool,
}

impl ChunkPlan {
    /// The transport's gain at frame `k` of the chunk.
    #[inline(always)]
    pub fn gain_at(&self, k: usize) -> f32 {
        if k < self.ramp_frames && !(self.ramp_lands && k + 1 == self.ramp_frames) {
            self.gain + self.gain_step * (k + 1) as f32
        } else {
            self.end_gain
        }
    }

    /// Whether the transport changes the level in this chunk at all.
    pub fn gains_move(&self) -> bool {
        self.ramp_frames > 0 || self.end_gain != 1.0
    }
}

/// What to do when a fade-out ends.
#[derive(Clone, Copy, Debug)]
enum AfterFade {
    Stop,
    Switch { pass: Pass, fade_frames: u32 },
    Locate { pass: Pass },
}

/// The transport's state on the audio thread.
pub struct Transport {
    /// The pass being played.
    pub pass: Pass,
    /// The next frame of the pass.
    pub q: u64,
    /// What the transport is doing.
    pub state: TransportState,
    live: bool,
    gain: f32,
    step: f32,
    /// Where the running fade lands.
    target: f32,
    ramp_left: u32,
    after_fade: Option<AfterFade>,
    /// Frames spent priming the current pass, and the fade-in that follows.
    pub primed_for: u64,
    fade_in_after_priming: u32,
    /// Live, a seek while rolling: the pass to switch to once its streams hold its opening (the current pass
    /// plays on meanwhile, so a seek costs no silence) and its fade.
    pub pending: Option<(Pass, u32)>,
    /// How long the pending pass has waited, frames.
    pub pending_for: u64,
}

impl Transport {
    /// A stopped transport at the start of `first`; live, starts wait for the streams.
    pub fn new(first: Pass, live: bool) -> Transport {
        Transport {
            pass: first,
            q: 0,
            state: TransportState::Stopped,
            live,
            gain: 1.0,
            step: 0.0,
            target: 1.0,
            ramp_left: 0,
            after_fade: None,
            primed_for: 0,
            fade_in_after_priming: 0,
            pending: None,
            pending_for: 0,
        }
    }

    /// Whether it plays.
    pub fn rolling(&self) -> bool {
        self.state == TransportState::Rolling
    }

    /// Takes one command.
    pub fn command(&mut self, command: TransportCommand) {
        let rolling = self.rolling();
        // Whatever comes next replaces a seek still waiting for its streams.
        self.pending = None;
        match command {
            TransportCommand::Play { pass, fade_frames } => {
                if pass.generation == self.pass.generation && self.state != TransportState::Ended {
                    // The same pass: resume where it stopped (or carry on).
                    if !rolling {
                        self.begin(pass, fade_frames, false);
                    } else {
                        self.after_fade = None;
                        self.fade(1.0, fade_frames);
                    }
                } else if rolling && fade_frames > 0 && self.live {
                    // Live: the current pass plays on until the new one is ready (`switch_now`).
                    self.pending = Some((pass, fade_frames));
                    self.pending_for = 0;
                } else if rolling && fade_frames > 0 {
                    self.after_fade = Some(AfterFade::Switch { pass, fade_frames });
                    self.fade(0.0, fade_frames);
                } else {
                    self.begin(pass, fade_frames, true);
                }
            }
            TransportCommand::Pause { fade_frames } => {
                if rolling && fade_frames > 0 {
                    self.after_fade = Some(AfterFade::Stop);
                    self.fade(0.0, fade_frames);
                } else if rolling || self.state == TransportState::Priming {
                    self.state = TransportState::Stopped;
                }
            }
            TransportCommand::Locate { pass, fade_frames } => {
                if rolling && fade_frames > 0 {
                    self.after_fade = Some(AfterFade::Locate { pass });
                    self.fade(0.0, fade_frames);
                } else {
                    self.pass = pass;
                    self.q = 0;
                    self.state = TransportState::Stopped;
                }
            }
        }
    }

    /// Starts playing `pass` (from its start when `fresh`, else where it stopped), priming first when live.
    fn begin(&mut self, pass: Pass, fade_frames: u32, fresh: bool) {
        if fresh {
            self.pass = pass;
            self.q = 0;
        }
        self.after_fade = None;
        self.step = 0.0;
        self.ramp_left = 0;
        self.gain = if fade_frames > 0 { 0.0 } else { 1.0 };
        self.target = self.gain;
        if self.live {
            self.state = TransportState::Priming;
            self.primed_for = 0;
            self.fade_in_after_priming = fade_frames;
        } else {
            self.state = TransportState::Rolling;
            if fade_frames > 0 {
                self.fade(1.0, fade_frames);
            }
        }
    }

    fn fade(&mut self, to: f32, frames: u32) {
        let frames = frames.max(1);
        self.target = to;
        self.step = (to - self.gain) / frames as f32;
        self.ramp_left = frames;
    }

    /// Starts the switch to the pending pass (its streams hold its opening, or it waited long enough): the
    /// current pass fades out and the new one fades in after it.
    pub fn switch_now(&mut self) {
        if let Some((pass, fade_frames)) = self.pending.take() {
            if self.rolling() {
                self.after_fade = Some(AfterFade::Switch { pass, fade_frames });
                self.fade(0.0, fade_frames);
            } else {
                self.begin(pass, fade_frames, true);
            }
        }
    }

    /// Ends priming (the streams are ready, or it waited long enough) and fades in.
    pub fn primed(&mut self) {
        self.state = TransportState::Rolling;
        if self.fade_in_after_priming > 0 {
            self.fade(1.0, self.fade_in_after_priming);
        }
    }

    /// Plans one chunk of `n` frames and moves the transport past it.
    pub fn plan(&mut self, n: usize) -> ChunkPlan {
        let mut plan = ChunkPlan {
            pass: self.pass,
            q: self.q,
            frames: n,
            advance: 0,
            gain: self.gain,
            gain_step: 0.0,
            ramp_frames: 0,
            ramp_lands: false,
            end_gain: self.gain,
            wait: !self.live,
        };
        if self.state != TransportState::Rolling {
            return plan;
        }
        // Frames left in a song that does not loop.
        let left =
            if self.pass.looping { u64::MAX } else { self.pass.song_frames.saturating_sub(self.pass.start + self.q) };
        plan.advance = (n as u64).min(left) as usize;
        if self.ramp_left > 0 {
            let k = (self.ramp_left as usize).min(plan.advance);
            plan.gain_step = self.step;
            plan.ramp_frames = k;
            self.ramp_left -= k as u32;
            if self.ramp_left == 0 {
                // Fades go between 0 and 1: land on the value exactly.
                self.gain = self.target;
                self.step = 0.0;
                plan.ramp_lands = true;
            } else {
                self.gain += self.step * k as f32;
            }
            plan.end_gain = self.gain;
        }
        self.q += plan.advance as u64;
        let mut after = None;
        if plan.advance < n || (!self.pass.looping && self.pass.start + self.q >= self.pass.song_frames) {
            self.state = TransportState::Ended;
            self.after_fade = None;
        } else if self.ramp_left == 0 {
            after = self.after_fade.take();
        }
        match after {
            None => {}
            Some(AfterFade::Stop) => self.state = TransportState::Stopped,
            Some(AfterFade::Locate { pass }) => {
                self.pass = pass;
                self.q = 0;
                self.state = TransportState::Stopped;
            }
            Some(AfterFade::Switch { pass, fade_frames }) => self.begin(pass, fade_frames, true),
        }
        plan
    }

    /// The song frame the transport stands at.
    pub fn song_frame(&self) -> u64 {
        self.pass.song_frame(self.q).unwrap_or(self.pass.song_frames)
    }

    /// Tells the control side where the transport stands.
    pub fn publish(&self, shared: &EngineShared) {
        shared.position.store(self.song_frame(), Ordering::Release);
        shared.state.store(self.state as u8, Ordering::Release);
        shared.generation.store(self.pass.generation, Ordering::Release);
        let lap = if self.pass.looping && self.pass.song_frames > 0 {
            (self.pass.start + self.q) / self.pass.song_frames
        } else {
            0
        };
        shared.lap.store(lap, Ordering::Release);
    }
}
