//! Every stem of the mix in one kira sound: each stem's source, spoil macro and chain, summed in stem order into
//! the main track and the reverb bus. One transport moves all stems at once, so they stay on the same sample
//! through starts, seeks, loops and pauses. Offline, the stems can be spread over several threads: each stem's
//! arithmetic is the same wherever it runs and the sums keep their order, so the output is bit-identical.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use kira::Frame;
use kira::info::Info;
use kira::sound::{Sound, SoundData};

use super::effects::reverb::ReverbBus;
use super::effects::spoil::Spoil;
use super::effects::stem_chain::StemChain;
use super::source::SourceReader;
use super::stream::Pass;

/// The most frames processed at once (kira's internal buffer size; longer calls are split).
pub const MAX_CHUNK: usize = 128;
/// Live, a pass starts once every stream holds this much of it (or [`PRIME_TIMEOUT_S`] has gone by).
pub const PRIME_FRAMES: u64 = 2048;
/// Longest a live start or seek waits for the streams before it plays anyway (counting what is missing).
pub const PRIME_TIMEOUT_S: f64 = 0.25;

/// What the transport is doing, as the control side sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TransportState {
    Stopped = 0,
    /// Waiting for the streams to hold the start of a pass (live only).
    Priming = 1,
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
    Play { pass: Pass, fade_frames: u32 },
    /// Fade out and stop where the fade ends.
    Pause { fade_frames: u32 },
    /// Stop (fading out if rolling) and wait at the start of `pass`.
    Locate { pass: Pass, fade_frames: u32 },
}

/// What the bank reports back (written only by the audio thread).
#[derive(Default)]
pub struct BankShared {
    /// Song frame at the end of the last chunk.
    position: AtomicU64,
    state: AtomicU8,
    /// Commands taken so far.
    commands_taken: AtomicU64,
    /// Generation of the pass being played.
    generation: AtomicU32,
}

impl BankShared {
    pub fn position(&self) -> u64 {
        self.position.load(Ordering::Acquire)
    }
    pub fn state(&self) -> TransportState {
        TransportState::from_u8(self.state.load(Ordering::Acquire))
    }
    pub fn commands_taken(&self) -> u64 {
        self.commands_taken.load(Ordering::Acquire)
    }
    pub fn generation(&self) -> u32 {
        self.generation.load(Ordering::Acquire)
    }
}

/// One stem as the audio thread runs it.
pub struct StemUnit {
    pub(crate) reader: SourceReader,
    pub(crate) stem_frames: u64,
    pub(crate) spoil: Spoil,
    pub(crate) chain: StemChain,
    dry: Vec<Frame>,
    wet: Vec<[f32; 2]>,
    sent: bool,
}

impl StemUnit {
    pub(crate) fn new(reader: SourceReader, stem_frames: u64, spoil: Spoil, chain: StemChain) -> StemUnit {
        StemUnit {
            reader,
            stem_frames,
            spoil,
            chain,
            dry: vec![Frame::ZERO; MAX_CHUNK],
            wet: vec![[0.0; 2]; MAX_CHUNK],
            sent: false,
        }
    }

    fn start_processing(&mut self) {
        self.spoil.start_processing();
        self.chain.start_processing();
    }

    /// One chunk: the source for the frames the transport plays (faded as it says), then spoil and chain.
    fn run(&mut self, plan: &ChunkPlan) {
        let n = plan.frames;
        let dry = &mut self.dry[..n];
        if plan.advance > 0 {
            let heard = &mut dry[..plan.advance];
            self.reader.read(&plan.pass, self.stem_frames, plan.q, heard, plan.wait);
            if plan.ramp_frames > 0 || plan.end_gain != 1.0 {
                for (k, f) in heard.iter_mut().enumerate() {
                    // Along the ramp, then exactly the value it lands on.
                    let g = if k < plan.ramp_frames && !(plan.ramp_lands && k + 1 == plan.ramp_frames) {
                        plan.gain + plan.gain_step * (k + 1) as f32
                    } else {
                        plan.end_gain
                    };
                    *f = Frame::new(f.left * g, f.right * g);
                }
            }
        }
        dry[plan.advance..].fill(Frame::ZERO);
        self.spoil.process_frames(dry);
        self.sent = self.chain.process(dry, &mut self.wet[..n]);
    }
}

/// What every stem does in one chunk.
#[derive(Clone, Copy, Debug)]
struct ChunkPlan {
    pass: Pass,
    /// First frame of the pass played in this chunk.
    q: u64,
    frames: usize,
    /// Frames of the pass played (the rest of the chunk is silence).
    advance: usize,
    /// Transport gain before the first frame, its step per frame, for how many frames it steps, whether the
    /// ramp ends within this chunk, and the gain after the ramp.
    gain: f32,
    gain_step: f32,
    ramp_frames: usize,
    ramp_lands: bool,
    end_gain: f32,
    /// Wait for streamed data instead of playing silence (offline).
    wait: bool,
}

/// What to do when a fade-out ends.
#[derive(Clone, Copy, Debug)]
enum AfterFade {
    Stop,
    Switch { pass: Pass, fade_frames: u32 },
    Locate { pass: Pass },
}

/// The transport: which pass plays, where, and its fades.
struct Transport {
    pass: Pass,
    q: u64,
    state: TransportState,
    gain: f32,
    step: f32,
    /// Where the running fade lands.
    target: f32,
    ramp_left: u32,
    after_fade: Option<AfterFade>,
    /// Frames spent priming the current pass.
    primed_for: u64,
    fade_in_after_priming: u32,
}

/// Several threads, each with its share of the stems (offline renders only: the audio thread of a live graph
/// never waits for anyone).
struct Crew {
    shared: Arc<CrewShared>,
    threads: Vec<JoinHandle<()>>,
    /// Where stem `i` lives: (group, index in the group).
    place: Vec<(usize, usize)>,
}

struct CrewShared {
    groups: Vec<Mutex<Vec<StemUnit>>>,
    plan: Mutex<Option<ChunkPlan>>,
    epoch: AtomicU64,
    done: AtomicUsize,
    stop: AtomicBool,
}

impl Crew {
    fn new(units: Vec<StemUnit>, jobs: usize) -> std::io::Result<Crew> {
        let jobs = jobs.clamp(1, units.len().max(1));
        let mut groups: Vec<Vec<StemUnit>> = (0..jobs).map(|_| Vec::new()).collect();
        let mut place = Vec::with_capacity(units.len());
        for (i, unit) in units.into_iter().enumerate() {
            let g = i % jobs;
            place.push((g, groups[g].len()));
            groups[g].push(unit);
        }
        let shared = Arc::new(CrewShared {
            groups: groups.into_iter().map(Mutex::new).collect(),
            plan: Mutex::new(None),
            epoch: AtomicU64::new(0),
            done: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let mut threads = Vec::new();
        for g in 1..jobs {
            let shared = shared.clone();
            threads.push(std::thread::Builder::new().name(format!("proxemix mix {g}")).spawn(move || {
                let mut seen = 0u64;
                loop {
                    // Spin briefly (chunks follow each other within microseconds), then sleep until woken.
                    let mut spins = 0u32;
                    while shared.epoch.load(Ordering::Acquire) == seen && !shared.stop.load(Ordering::Relaxed) {
                        spins += 1;
                        if spins < 4000 {
                            std::hint::spin_loop();
                        } else {
                            std::thread::park_timeout(std::time::Duration::from_millis(2));
                        }
                    }
                    if shared.stop.load(Ordering::Relaxed) {
                        return;
                    }
                    seen = shared.epoch.load(Ordering::Acquire);
                    let plan = *lock(&shared.plan);
                    if let Some(plan) = plan {
                        for unit in lock(&shared.groups[g]).iter_mut() {
                            unit.run(&plan);
                        }
                    }
                    shared.done.fetch_add(1, Ordering::AcqRel);
                }
            })?);
        }
        Ok(Crew { shared, threads, place })
    }

    fn run(&mut self, plan: &ChunkPlan) {
        *lock(&self.shared.plan) = Some(*plan);
        self.shared.done.store(0, Ordering::Release);
        self.shared.epoch.fetch_add(1, Ordering::AcqRel);
        for t in &self.threads {
            t.thread().unpark();
        }
        for unit in lock(&self.shared.groups[0]).iter_mut() {
            unit.run(plan);
        }
        let helpers = self.threads.len();
        let mut spins = 0u32;
        while self.shared.done.load(Ordering::Acquire) < helpers {
            spins += 1;
            if spins < 100_000 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Runs `f` on every stem, group by group (the crew is idle between chunks).
    fn each(&self, mut f: impl FnMut(&mut StemUnit)) {
        for group in &self.shared.groups {
            lock(group).iter_mut().for_each(&mut f);
        }
    }
}

impl Drop for Crew {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The stems, run here (one thread) or by a crew.
enum Stems {
    Here(Vec<StemUnit>),
    Crew(Crew),
}

/// The kira sound that plays every stem.
pub struct StemBank {
    stems: Stems,
    commands: rtrb::Consumer<TransportCommand>,
    transport: Transport,
    shared: Arc<BankShared>,
    bus: Arc<ReverbBus>,
    sample_rate: u32,
    live: bool,
    wet_sum: Vec<[f32; 2]>,
}

/// Everything needed to build a [`StemBank`]; playing it on a kira track hands back the [`BankHandle`].
pub struct BankBuilder {
    pub units: Vec<StemUnit>,
    pub first: Pass,
    pub bus: Arc<ReverbBus>,
    pub sample_rate: u32,
    /// Live: never wait for streams (prime with a timeout instead). Offline: wait for every block.
    pub live: bool,
    /// Threads for the stems (offline only; live always runs them on the audio thread).
    pub jobs: usize,
}

/// The control side of the transport.
pub struct BankHandle {
    commands: rtrb::Producer<TransportCommand>,
    pub shared: Arc<BankShared>,
    sent: u64,
}

impl BankHandle {
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

impl SoundData for BankBuilder {
    type Error = std::io::Error;
    type Handle = BankHandle;

    fn into_sound(self) -> Result<(Box<dyn Sound>, BankHandle), std::io::Error> {
        let (producer, consumer) = rtrb::RingBuffer::new(256);
        let shared = Arc::new(BankShared::default());
        shared.position.store(self.first.start, Ordering::Release);
        shared.generation.store(self.first.generation, Ordering::Release);
        let stems = if self.live || self.jobs <= 1 || self.units.len() < 2 {
            Stems::Here(self.units)
        } else {
            Stems::Crew(Crew::new(self.units, self.jobs)?)
        };
        let bank = StemBank {
            stems,
            commands: consumer,
            transport: Transport {
                pass: self.first,
                q: 0,
                state: TransportState::Stopped,
                gain: 1.0,
                step: 0.0,
                target: 1.0,
                ramp_left: 0,
                after_fade: None,
                primed_for: 0,
                fade_in_after_priming: 0,
            },
            shared: shared.clone(),
            bus: self.bus,
            sample_rate: self.sample_rate,
            live: self.live,
            wet_sum: vec![[0.0; 2]; MAX_CHUNK],
        };
        Ok((Box::new(bank), BankHandle { commands: producer, shared, sent: 0 }))
    }
}

impl StemBank {
    fn take_commands(&mut self) {
        while let Ok(command) = self.commands.pop() {
            self.shared.commands_taken.fetch_add(1, Ordering::AcqRel);
            let t = &mut self.transport;
            let rolling = t.state == TransportState::Rolling;
            match command {
                TransportCommand::Play { pass, fade_frames } => {
                    if pass.generation == t.pass.generation && t.state != TransportState::Ended {
                        // The same pass: resume where it stopped (or carry on).
                        if !rolling {
                            self.begin(pass, fade_frames, false);
                        } else {
                            t.after_fade = None;
                            fade(t, 1.0, fade_frames);
                        }
                    } else if rolling && fade_frames > 0 {
                        t.after_fade = Some(AfterFade::Switch { pass, fade_frames });
                        fade(t, 0.0, fade_frames);
                    } else {
                        self.begin(pass, fade_frames, true);
                    }
                }
                TransportCommand::Pause { fade_frames } => {
                    if rolling && fade_frames > 0 {
                        t.after_fade = Some(AfterFade::Stop);
                        fade(t, 0.0, fade_frames);
                    } else if rolling || t.state == TransportState::Priming {
                        t.state = TransportState::Stopped;
                    }
                }
                TransportCommand::Locate { pass, fade_frames } => {
                    if rolling && fade_frames > 0 {
                        t.after_fade = Some(AfterFade::Locate { pass });
                        fade(t, 0.0, fade_frames);
                    } else {
                        t.pass = pass;
                        t.q = 0;
                        t.state = TransportState::Stopped;
                    }
                }
            }
        }
    }

    /// Starts playing `pass` (from its start when `fresh`, else where it stopped), priming first when live.
    fn begin(&mut self, pass: Pass, fade_frames: u32, fresh: bool) {
        let t = &mut self.transport;
        if fresh {
            t.pass = pass;
            t.q = 0;
        }
        t.after_fade = None;
        t.step = 0.0;
        t.ramp_left = 0;
        t.gain = if fade_frames > 0 { 0.0 } else { 1.0 };
        t.target = t.gain;
        if self.live {
            t.state = TransportState::Priming;
            t.primed_for = 0;
            t.fade_in_after_priming = fade_frames;
        } else {
            t.state = TransportState::Rolling;
            if fade_frames > 0 {
                fade(t, 1.0, fade_frames);
            }
        }
    }

    fn all_primed(&mut self) -> bool {
        let (pass, q) = (self.transport.pass, self.transport.q);
        let primed = |u: &mut StemUnit| u.reader.primed(&pass, u.stem_frames, q, PRIME_FRAMES);
        match &mut self.stems {
            Stems::Here(units) => units.iter_mut().all(primed),
            Stems::Crew(crew) => {
                let mut all = true;
                crew.each(|u| all &= primed(u));
                all
            }
        }
    }

    /// Plans one chunk of `n` frames and moves the transport past it.
    fn plan(&mut self, n: usize) -> ChunkPlan {
        if self.transport.state == TransportState::Priming {
            let waited = self.transport.primed_for as f64 / self.sample_rate as f64;
            if self.all_primed() || waited >= PRIME_TIMEOUT_S {
                let t = &mut self.transport;
                t.state = TransportState::Rolling;
                if t.fade_in_after_priming > 0 {
                    fade(t, 1.0, t.fade_in_after_priming);
                }
            } else {
                self.transport.primed_for += n as u64;
            }
        }
        let t = &mut self.transport;
        let mut plan = ChunkPlan {
            pass: t.pass,
            q: t.q,
            frames: n,
            advance: 0,
            gain: t.gain,
            gain_step: 0.0,
            ramp_frames: 0,
            ramp_lands: false,
            end_gain: t.gain,
            wait: !self.live,
        };
        if t.state != TransportState::Rolling {
            return plan;
        }
        // Frames left in a song that does not loop.
        let left = if t.pass.looping { u64::MAX } else { t.pass.song_frames.saturating_sub(t.pass.start + t.q) };
        plan.advance = (n as u64).min(left) as usize;
        if t.ramp_left > 0 {
            let k = (t.ramp_left as usize).min(plan.advance);
            plan.gain_step = t.step;
            plan.ramp_frames = k;
            t.ramp_left -= k as u32;
            if t.ramp_left == 0 {
                // Fades go between 0 and 1: land on the value exactly.
                t.gain = t.target;
                t.step = 0.0;
                plan.ramp_lands = true;
            } else {
                t.gain += t.step * k as f32;
            }
            plan.end_gain = t.gain;
        }
        t.q += plan.advance as u64;
        let mut after = None;
        if plan.advance < n || (!t.pass.looping && t.pass.start + t.q >= t.pass.song_frames) {
            t.state = TransportState::Ended;
            t.after_fade = None;
        } else if t.ramp_left == 0 {
            after = t.after_fade.take();
        }
        match after {
            None => {}
            Some(AfterFade::Stop) => self.transport.state = TransportState::Stopped,
            Some(AfterFade::Locate { pass }) => {
                let t = &mut self.transport;
                t.pass = pass;
                t.q = 0;
                t.state = TransportState::Stopped;
            }
            Some(AfterFade::Switch { pass, fade_frames }) => self.begin(pass, fade_frames, true),
        }
        plan
    }

    fn publish(&self) {
        let t = &self.transport;
        let position = match t.pass.song_frame(t.q) {
            Some(f) => f,
            None => t.pass.song_frames,
        };
        self.shared.position.store(position, Ordering::Release);
        self.shared.state.store(t.state as u8, Ordering::Release);
        self.shared.generation.store(t.pass.generation, Ordering::Release);
    }

    fn process_chunk(&mut self, out: &mut [Frame]) {
        let n = out.len();
        let plan = self.plan(n);
        let wet_sum = &mut self.wet_sum[..n];
        wet_sum.fill([0.0; 2]);
        let mut any_wet = false;
        // Sum in stem order, whoever computed each stem.
        let mut add = |u: &StemUnit| {
            for (o, d) in out.iter_mut().zip(&u.dry[..n]) {
                o.left += d.left;
                o.right += d.right;
            }
            if u.sent {
                any_wet = true;
                for (w, x) in wet_sum.iter_mut().zip(&u.wet[..n]) {
                    w[0] += x[0];
                    w[1] += x[1];
                }
            }
        };
        match &mut self.stems {
            Stems::Here(units) => {
                for u in units.iter_mut() {
                    u.run(&plan);
                    add(u);
                }
            }
            Stems::Crew(crew) => {
                crew.run(&plan);
                // In stem order (not group by group), so the sums are the same whatever the number of threads.
                for &(g, k) in &crew.place {
                    add(&lock(&crew.shared.groups[g])[k]);
                }
            }
        }
        if any_wet {
            // The reverb return, first on the main track, drains the bus after this sound, on this thread.
            self.bus.add(wet_sum);
        }
        self.publish();
    }
}

fn fade(t: &mut Transport, to: f32, frames: u32) {
    let frames = frames.max(1);
    t.target = to;
    t.step = (to - t.gain) / frames as f32;
    t.ramp_left = frames;
}

impl Sound for StemBank {
    fn on_start_processing(&mut self) {
        self.take_commands();
        match &mut self.stems {
            Stems::Here(units) => units.iter_mut().for_each(StemUnit::start_processing),
            Stems::Crew(crew) => crew.each(StemUnit::start_processing),
        }
        self.publish();
    }

    fn process(&mut self, out: &mut [Frame], _dt: f64, _info: &Info) {
        for part in out.chunks_mut(MAX_CHUNK) {
            part.fill(Frame::ZERO);
            self.process_chunk(part);
        }
    }

    fn finished(&self) -> bool {
        false
    }
}
