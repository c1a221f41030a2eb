//! The engine: the whole mix as one kira sound. Every stem's source, spoil macro and chain, summed in stem order;
//! the shared reverb; the master spoil and the master chain; one transport for all of them. It is also the
//! driver's audio side: it maps the snapshot the control side sends and steps the timeline in song time, every
//! [`GRID`] frames of the pass, so live playback and the offline render move the same parameters on the same
//! samples, whatever the device's buffer or the video frame rate.

mod crew;
pub mod transport;
pub(crate) mod unit;

use std::sync::Arc;

use kira::Frame;
use kira::info::Info;
use kira::sound::{Sound, SoundData};

use super::driver::{DriverInbox, MasterState, MixState, Receipt};
use super::effects::master::Master;
use super::effects::reverb::Reverb;
use super::effects::spoil::{Hearing, Spoil};
use super::input::stream::Pass;
use super::mapping::{self, Cues, Placement};
use super::translate;
use crate::scene::Room;
use crew::Crew;
pub use crew::StemCrashed;
use transport::{ChunkPlan, Transport};
pub use transport::{EngineShared, PrimingWaits, TransportCommand, TransportState};
pub use unit::MAX_CHUNK;
use unit::StemUnit;

/// The timeline is stepped every this many frames of the pass, each step a ramp exactly this long (2.7 ms at
/// 48 kHz): glides are traced exactly and a jump lands within a step of its time.
pub const GRID: usize = MAX_CHUNK;
/// Live, a pass starts once every stream holds this much of it (or [`PRIME_TIMEOUT_S`] has gone by).
pub const PRIME_FRAMES: u64 = 2048;
/// Longest a live start or seek waits for the streams before it plays anyway (counting what is missing).
pub const PRIME_TIMEOUT_S: f64 = 0.25;
/// A stem the user mutes or unmutes (not the timeline: that steps on the grid) fades this fast, so the step
/// lands when asked rather than a video frame later.
pub const STEP_S: f32 = 0.004;

/// The stems, run here (one thread) or by a crew.
enum Stems {
    Here(Vec<StemUnit>),
    Crew(Crew),
}

impl Stems {
    fn with(&mut self, index: usize, f: impl FnOnce(&mut StemUnit)) {
        match self {
            Stems::Here(units) => {
                if let Some(u) = units.get_mut(index) {
                    f(u)
                }
            }
            Stems::Crew(crew) => crew.with(index, f),
        }
    }

    fn all(&mut self, mut f: impl FnMut(&mut StemUnit) -> bool) -> bool {
        let mut all = true;
        match self {
            Stems::Here(units) => units.iter_mut().for_each(|u| all &= f(u)),
            Stems::Crew(crew) => crew.each_in_order(|_, u| all &= f(u)),
        }
        all
    }
}

/// What the engine last applied, so only what changed moves.
struct Applied {
    stems: Vec<Option<Placement>>,
    room: Option<(Room, Cues)>,
    master: Option<(MasterState, bool)>,
    /// Song time the timeline was last evaluated at (NaN: not yet).
    t: f64,
}

/// Everything needed to build the engine; playing it on kira's main track hands back the [`EngineHandle`].
pub(crate) struct EngineBuilder {
    pub units: Vec<StemUnit>,
    pub first: Pass,
    pub state: MixState,
    pub inbox: DriverInbox,
    pub reverb: Reverb,
    pub master_spoil: Spoil,
    pub master: Master,
    pub sample_rate: u32,
    /// Live: never wait for streams (prime with a timeout instead). Offline: wait for every block.
    pub live: bool,
    /// Threads for the stems (offline only; live always runs them on the audio thread).
    pub jobs: usize,
    /// Frames between a stem's source and its chain (the spoil macro's constant delay): the timeline is
    /// evaluated where the chains hear the song.
    pub heard_late: usize,
}

/// The control side of the transport.
pub struct EngineHandle {
    commands: rtrb::Producer<TransportCommand>,
    /// What the audio thread reports back.
    pub shared: Arc<EngineShared>,
    sent: u64,
}

impl EngineHandle {
    /// Queues a transport command; false if the queue is full (the audio thread has stopped taking them).
    pub fn send(&mut self, command: TransportCommand) -> bool {
        let ok = self.commands.push(command).is_ok();
        if ok {
            self.sent += 1;
        }
        ok
    }

    /// Whether the audio thread has taken every command sent.
    pub fn caught_up(&self) -> bool {
        self.shared.commands_taken() >= self.sent
    }
}

/// The kira sound that plays the mix.
pub struct Engine {
    stems: Stems,
    commands: rtrb::Consumer<TransportCommand>,
    transport: Transport,
    inbox: DriverInbox,
    state: Box<MixState>,
    /// A snapshot the control side has not taken back yet (the audio thread never frees memory).
    spent: Option<Box<MixState>>,
    applied: Applied,
    reverb: Reverb,
    master_spoil: Spoil,
    master: Master,
    shared: Arc<EngineShared>,
    sample_rate: u32,
    heard_late: usize,
    wet_sum: Vec<[f32; 2]>,
    /// Live: ask for real-time scheduling the first time the device calls.
    promote: bool,
    /// Nothing has played yet: the effects stay untouched (their noise, wow and control grid start with the
    /// song, live as offline, however long the device ran before the first start).
    untouched: bool,
}

impl SoundData for EngineBuilder {
    type Error = std::io::Error;
    type Handle = EngineHandle;

    fn into_sound(self) -> Result<(Box<dyn Sound>, EngineHandle), std::io::Error> {
        let (producer, consumer) = rtrb::RingBuffer::new(256);
        let shared = Arc::new(EngineShared::default());
        let stems = if self.live || self.jobs <= 1 || self.units.len() < 2 {
            Stems::Here(self.units)
        } else {
            Stems::Crew(Crew::new(self.units, self.jobs)?)
        };
        let count = self.state.stems.len();
        let mut engine = Engine {
            stems,
            commands: consumer,
            transport: Transport::new(self.first, self.live),
            inbox: self.inbox,
            state: Box::new(self.state),
            spent: None,
            applied: Applied { stems: vec![None; count], room: None, master: None, t: f64::NAN },
            reverb: self.reverb,
            master_spoil: self.master_spoil,
            master: self.master,
            shared: shared.clone(),
            sample_rate: self.sample_rate,
            heard_late: self.heard_late,
            wet_sum: vec![[0.0; 2]; MAX_CHUNK],
            promote: self.live,
            untouched: true,
        };
        // The mix stands where the song starts before anything plays.
        let t = engine.heard_time(0);
        engine.automate(t, 0, 0);
        engine.transport.publish(&shared);
        Ok((Box::new(engine), EngineHandle { commands: producer, shared, sent: 0 }))
    }
}

impl Engine {
    /// Song time (s) the stems' chains hear when the transport reaches frame `q` of the pass.
    fn heard_time(&self, q: u64) -> f64 {
        let pass = &self.transport.pass;
        let frame = match q.checked_sub(self.heard_late as u64) {
            Some(f) => pass.song_frame(f).unwrap_or(pass.song_frames),
            None => pass.start,
        };
        frame as f64 / self.sample_rate as f64
    }

    fn frames(&self, seconds: f32) -> u32 {
        (seconds.max(0.0) * self.sample_rate as f32).round() as u32
    }

    /// Moves every stem, the room and the master to the state at song time `t` (the timeline's values over
    /// the user's), each change ramping over `ramp` frames (`jump` for a stem that falls silent or speaks).
    /// Only what differs from what was applied moves; nothing is allocated.
    fn automate(&mut self, t: f64, ramp: u32, jump: u32) {
        let state = &*self.state;
        let timeline = state.timeline.as_deref();
        // The timeline over the user's values, except what a hand holds while a take records.
        let own = state.room_values();
        let played = match timeline {
            Some(tl) => state.room_held.pick(own, tl.room_at(own, t)),
            None => own,
        };
        let room = Room { return_db: played.return_db, reverb_db: played.reverb_db, ..state.room };
        let room_changed = self.applied.room != Some((room, state.cues));
        let any_solo = state.any_solo();
        let sample_rate = self.sample_rate;
        for (i, stem) in state.stems.iter().enumerate() {
            let values = match timeline {
                Some(tl) => stem.held.pick(stem.values, tl.stem_at(i, stem.values, t)),
                None => stem.values,
            };
            let placement = Placement::of(&values, stem.solo, any_solo);
            let Some(before) = self.applied.stems.get_mut(i) else { continue };
            if !room_changed && *before == Some(placement) {
                continue;
            }
            let mix = mapping::stem_mix_with(&placement, &room, state.cues);
            let frames = if before.is_some_and(|b| b.audible != placement.audible) { jump } else { ramp };
            self.stems.with(i, |u| {
                u.chain.set(translate::stem_params(&mix, u.channels, sample_rate), frames);
                u.spoil.set(mix.spoil, translate::hearing(&mix), frames);
            });
            *before = Some(placement);
        }
        if room_changed {
            // The timeline's cut of the return is a step; everything else about the room glides.
            let cut = self.applied.room.is_some_and(|(r, _)| (r.return_db - room.return_db).abs() > 3.0);
            self.reverb.set(translate::reverb_params(&room), if cut { jump } else { ramp });
            self.applied.room = Some((room, state.cues));
        }
        let (lo, hi) = crate::scene::limits::GAIN_DB;
        let master = MasterState {
            gain_db: (played.master_gain_db + state.master.trim_db).clamp(lo, hi),
            trim_db: 0.0,
            ..state.master
        };
        let master = (master, state.cues.spoil);
        if self.applied.master != Some(master) {
            self.master.set(translate::master_params(master.0.gain_db, master.0.ceiling_dbtp), ramp);
            let spoil = if state.cues.spoil { state.master.spoil } else { 0.0 };
            self.master_spoil.set(spoil, Hearing::FLAT, ramp);
            self.applied.master = Some(master);
        }
        self.applied.t = t;
    }

    /// Takes the snapshots the control side sent, newest last, handing each replaced one back.
    fn take_states(&mut self) {
        if let Some(old) = self.spent.take()
            && let Err(rtrb::PushError::Full(old)) = self.inbox.spent.push(old)
        {
            self.spent = Some(old);
            return;
        }
        while self.spent.is_none() {
            let Ok(message) = self.inbox.states.pop() else { break };
            let old = std::mem::replace(&mut self.state, message.state);
            if let Err(rtrb::PushError::Full(old)) = self.inbox.spent.push(old) {
                self.spent = Some(old);
            }
            let t = self.heard_time(self.transport.q);
            let step = self.frames(STEP_S);
            self.automate(t, message.ramp_frames, step);
            // Full: the control side has stopped reading; the news is dropped, never waited for.
            let _ = self.inbox.receipts.push(Receipt {
                seq: message.seq,
                t,
                ramp_frames: message.ramp_frames,
                rolling: self.transport.rolling(),
                generation: self.transport.pass.generation,
                lap: self.heard_lap(self.transport.q),
            });
        }
    }

    /// How many times a looping pass has wrapped where the chains hear frame `q` of it.
    fn heard_lap(&self, q: u64) -> u64 {
        let pass = &self.transport.pass;
        match q.checked_sub(self.heard_late as u64) {
            Some(f) if pass.looping && pass.song_frames > 0 => (pass.start + f) / pass.song_frames,
            _ => 0,
        }
    }

    fn all_primed(&mut self) -> bool {
        let (pass, q) = (self.transport.pass, self.transport.q);
        self.stems.all(|u| u.reader.primed(&pass, u.stem_frames, q, PRIME_FRAMES))
    }

    /// Live, a seek while rolling: switches once every stream holds the new pass's opening (or it waited
    /// [`PRIME_TIMEOUT_S`]); the current pass plays on meanwhile. Counts the wait.
    fn check_pending(&mut self, n: usize) {
        let Some((pass, _)) = self.transport.pending else { return };
        let waited = self.transport.pending_for as f64 / self.sample_rate as f64;
        let ready = self.stems.all(|u| u.reader.landed(&pass, u.stem_frames, PRIME_FRAMES));
        if ready || waited >= PRIME_TIMEOUT_S {
            self.shared.switched_after(self.transport.pending_for, !ready);
            self.transport.switch_now();
        } else {
            self.transport.pending_for += n as u64;
        }
    }

    /// Live: whether the streams hold enough of the pass to start (or it waited long enough); counts the wait.
    fn check_priming(&mut self, n: usize) {
        if self.transport.state != TransportState::Priming {
            return;
        }
        let waited = self.transport.primed_for as f64 / self.sample_rate as f64;
        let ready = self.all_primed();
        if ready || waited >= PRIME_TIMEOUT_S {
            self.shared.primed_after(self.transport.primed_for, !ready);
            self.transport.primed();
        } else {
            self.transport.primed_for += n as u64;
        }
    }

    /// At a grid point of a rolling pass: the timeline's values where the chains will hear the song when the
    /// step ends, ramped over exactly the step (skipped where nothing moves).
    fn step_timeline(&mut self) {
        if !self.transport.rolling() || !self.transport.q.is_multiple_of(GRID as u64) || self.state.timeline.is_none() {
            return;
        }
        let t = self.heard_time(self.transport.q + GRID as u64);
        let still = self.applied.t.is_finite()
            && self.state.timeline.as_ref().is_some_and(|tl| tl.still_between(self.applied.t, t));
        if still {
            self.applied.t = t;
        } else {
            self.automate(t, GRID as u32, GRID as u32);
        }
    }

    /// One stretch that stays within a grid step.
    fn process_chunk(&mut self, out: &mut [Frame]) {
        let n = out.len();
        let plan = self.transport.plan(n);
        self.mix_stems(&plan, out);
        self.reverb.process(&self.wet_sum[..n], out);
        self.master_spoil.process_frames(out);
        self.master.process(out);
    }

    /// The stems' direct sound summed into `out`, their sends into the wet sum, in stem order.
    fn mix_stems(&mut self, plan: &ChunkPlan, out: &mut [Frame]) {
        let n = out.len();
        let wet_sum = &mut self.wet_sum[..n];
        wet_sum.fill([0.0; 2]);
        let add = |u: &StemUnit, out: &mut [Frame], wet_sum: &mut [[f32; 2]]| {
            for (o, d) in out.iter_mut().zip(&u.dry[..n]) {
                o.left += d.left;
                o.right += d.right;
            }
            if u.sent {
                for (w, x) in wet_sum.iter_mut().zip(&u.wet[..n]) {
                    w[0] += x[0];
                    w[1] += x[1];
                }
            }
        };
        match &mut self.stems {
            Stems::Here(units) => {
                for (index, u) in units.iter_mut().enumerate() {
                    if let Err(crash) = crew::run_group(std::slice::from_mut(u), &[index], plan) {
                        std::panic::panic_any(crash);
                    }
                    add(u, out, wet_sum);
                }
            }
            Stems::Crew(crew) => {
                crew.run(plan);
                crew.each_in_order(|_, u| add(u, out, wet_sum));
            }
        }
    }
}

impl Sound for Engine {
    fn on_start_processing(&mut self) {
        if self.promote {
            self.promote = false;
            // As JACK and PipeWire run theirs: a busy machine cannot starve the sound.
            use super::realtime::{AUDIO_THREAD, Sharing, promote_current_thread};
            self.shared.set_real_time(promote_current_thread(AUDIO_THREAD, Sharing::FirstInFirstOut));
        }
        while let Ok(command) = self.commands.pop() {
            self.shared.took_command();
            self.transport.command(command);
        }
        self.take_states();
        self.transport.publish(&self.shared);
    }

    fn process(&mut self, out: &mut [Frame], _dt: f64, _info: &Info) {
        out.fill(Frame::ZERO);
        let mut done = 0;
        while done < out.len() {
            let mut n = (out.len() - done).min(MAX_CHUNK);
            self.check_pending(n);
            self.check_priming(n);
            self.untouched &= !self.transport.rolling();
            if self.untouched || self.transport.state == TransportState::Priming {
                // Silence, and the effects hold still: waiting for the first start, or for the streams to
                // hold a new position (a few milliseconds; the old position has faded out).
                done += n;
                continue;
            }
            if self.transport.rolling() {
                // Stop at the next grid point of the pass, so the timeline steps on the same samples whatever
                // the device's buffer.
                let into = (self.transport.q % GRID as u64) as usize;
                n = n.min(GRID - into);
                self.step_timeline();
            }
            self.process_chunk(&mut out[done..done + n]);
            done += n;
        }
        self.transport.publish(&self.shared);
    }

    fn finished(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_is_one_chunk() {
        assert_eq!(GRID, MAX_CHUNK);
        assert!(PRIME_FRAMES as usize >= GRID);
        // A seek's opening fits in the landing ring, so a seek while rolling can switch without a gap.
        use crate::mix::input::stream::{BLOCK_FRAMES, LANDING_BLOCKS};
        assert!(PRIME_FRAMES as usize <= LANDING_BLOCKS * BLOCK_FRAMES);
    }
}
