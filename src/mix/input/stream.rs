//! Stems streamed from disk: a background thread per stem decodes ahead of the playhead into a bounded ring of
//! blocks, and the audio thread reads them. Live, a block that is not there yet is silence, counted, and the
//! audio thread never waits, locks or allocates; offline, the render waits for it, so a render is the same
//! whether its stems stream or not.
//!
//! Every block says which pass of the transport it belongs to (a seek, a loop switch or a new start begins a
//! pass) and which frame of that pass it starts at, so stale blocks are dropped and stems stay sample-aligned.
//!
//! A pass's first blocks go through a small ring of their own, the landing ring, the rest through the main
//! ring. After a seek the main ring is still full of the old position, which goes on playing; the new
//! position's opening lands beside it, so the transport can switch the moment every stem has it (see
//! `engine`), with no silence between.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

use kira::Frame;

use super::decode::StemDecoder;
use super::probe::StemInfo;
use super::repair::Repairs;

/// Frames per block in the ring.
pub const BLOCK_FRAMES: usize = 1024;
/// How much audio the ring holds ahead of the playhead: a slow disk can stall this long before anything is
/// missed.
pub const AHEAD_S: f64 = 1.5;
/// Stems no longer than this (frames at the engine rate, about 1.4 s at 48 kHz) are decoded whole the first
/// time they are asked for and played from memory after that: a short loop then never reopens its file, and
/// each block carries as many laps of it as fit.
pub const SHORT_STEM_FRAMES: u64 = 1 << 16;
/// A pass's first blocks, sent through the landing ring: more than a live start or seek waits for
/// (`engine::PRIME_FRAMES`), and enough to play while the main ring drops the old position and refills.
pub const LANDING_BLOCKS: usize = 4;
/// How often an idle or blocked producer looks for work when nobody wakes it.
const POLL: Duration = Duration::from_millis(20);
/// ... and just after a seek, while the ring may still be full of the old pass.
const POLL_AFTER_SEEK: Duration = Duration::from_millis(1);

/// Where a pass of the transport starts and how the song goes on from there; every stem of a graph plays the
/// same pass, so frame `q` of a pass is the same moment for all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pass {
    /// Counts up with every new pass; blocks of older passes are dropped unheard.
    pub generation: u32,
    /// The song frame the pass starts at.
    pub start: u64,
    /// Whether the song loops (at `song_frames`).
    pub looping: bool,
    /// Length of the song (the longest stem), where a loop wraps.
    pub song_frames: u64,
}

impl Pass {
    /// The song frame heard at frame `q` of the pass; `None` once a song that does not loop has ended.
    pub fn song_frame(&self, q: u64) -> Option<u64> {
        if self.song_frames == 0 {
            return None;
        }
        let f = self.start + q;
        if self.looping {
            Some(f % self.song_frames)
        } else if f < self.song_frames {
            Some(f)
        } else {
            None
        }
    }
}

/// Consecutive frames of one stem, for one pass.
#[derive(Clone, Copy)]
pub struct Block {
    generation: u32,
    /// Frame of the pass the block starts at.
    start: u64,
    len: u32,
    frames: [Frame; BLOCK_FRAMES],
}

/// What the control side, the producer thread and the audio thread share.
#[derive(Default)]
struct Shared {
    /// The pass to produce (control side → producer).
    pass: Mutex<Option<Pass>>,
    shutdown: AtomicBool,
    /// The producer holds still, as a stalled disk would (tests of the live path).
    stalled: AtomicBool,
    /// Why the stream went silent, if it did (producer → control side).
    problem: Mutex<Option<String>>,
    repairs: Mutex<Repairs>,
    /// The producer gave up on the current pass (read by the audio thread: silence, not an underrun).
    failed: AtomicBool,
    /// Frames played as silence because their block was not there in time, and how many times it happened
    /// (audio thread → control side).
    underrun_frames: AtomicU64,
    underruns: AtomicU64,
    /// The producer runs with real-time scheduling.
    real_time: AtomicBool,
}

/// The control side of a stream: asks for passes, reads its health, stops its thread when dropped.
pub struct StemStream {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// The audio side of a stream: reads the blocks.
pub struct StreamReader {
    blocks: rtrb::Consumer<Block>,
    /// The first blocks of each pass.
    landing: rtrb::Consumer<Block>,
    shared: Arc<Shared>,
    producer: Thread,
    /// Capacity of the ring in blocks.
    capacity: usize,
}

/// How a stream is doing, for banners and reports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamHealth {
    /// Times a block came too late.
    pub underruns: u64,
    /// Frames played as silence for it.
    pub underrun_frames: u64,
    /// Why the stream went silent, if it did.
    pub problem: Option<String>,
    /// What had to be repaired in the file.
    pub repairs: Repairs,
    /// Whether its thread runs with real-time scheduling.
    pub real_time: bool,
}

impl StemStream {
    /// Starts a thread that streams `info`'s file, already producing `first` so the opening is ready early.
    pub fn start(info: StemInfo, first: Pass) -> std::io::Result<(StemStream, StreamReader)> {
        let capacity = ((AHEAD_S * info.engine_rate as f64) as usize).div_ceil(BLOCK_FRAMES).max(4);
        let (producer, consumer) = rtrb::RingBuffer::new(capacity);
        let (landing_producer, landing) = rtrb::RingBuffer::new(LANDING_BLOCKS);
        let shared = Arc::new(Shared { pass: Mutex::new(Some(first)), ..Shared::default() });
        let name =
            format!("proxemix stream {}", info.path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default());
        let thread = std::thread::Builder::new().name(name).spawn({
            let shared = shared.clone();
            move || {
                // Above drawing, below the audio thread (see `realtime`); where it is not allowed, as it was.
                use crate::mix::realtime::{STREAM_THREADS, Sharing, promote_current_thread};
                shared.real_time.store(promote_current_thread(STREAM_THREADS, Sharing::RoundRobin), Ordering::Relaxed);
                let path = info.path.clone();
                // A decoder bug on hostile input costs this stem, said with its file, never a reader waiting
                // for blocks that will not come: whatever way the thread ends, the stream is marked failed.
                let ended = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    produce(info, shared.clone(), Rings { main: producer, landing: landing_producer })
                }));
                if let Err(payload) = ended {
                    let why = crate::mix::input::error::panic_message(payload.as_ref());
                    *shared.problem.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(format!("{}: the decoder crashed on this file ({why})", path.display()));
                }
                shared.failed.store(true, Ordering::Release);
            }
        })?;
        let reader = StreamReader {
            blocks: consumer,
            landing,
            shared: shared.clone(),
            producer: thread.thread().clone(),
            capacity,
        };
        Ok((StemStream { shared, thread: Some(thread) }, reader))
    }

    /// Starts producing `pass` (the old pass's blocks are dropped by the reader).
    pub fn request(&self, pass: Pass) {
        *self.shared.pass.lock().unwrap_or_else(|e| e.into_inner()) = Some(pass);
        if let Some(t) = &self.thread {
            t.thread().unpark();
        }
    }

    /// Holds the producer still (`true`) as a stalled disk would, or lets it go on; for testing that a starved
    /// live stream plays silence, counts it and never blocks.
    pub fn stall(&self, stalled: bool) {
        self.shared.stalled.store(stalled, Ordering::Relaxed);
        if let Some(t) = &self.thread {
            t.thread().unpark();
        }
    }

    /// How the stream is doing now.
    pub fn health(&self) -> StreamHealth {
        StreamHealth {
            underruns: self.shared.underruns.load(Ordering::Relaxed),
            underrun_frames: self.shared.underrun_frames.load(Ordering::Relaxed),
            problem: self.shared.problem.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            repairs: self.shared.repairs.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            real_time: self.shared.real_time.load(Ordering::Relaxed),
        }
    }
}

impl Drop for StemStream {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl StreamReader {
    /// Copies frames `q .. q + out.len()` of pass `generation` into `out`; the caller asks only for frames
    /// the stem has (not the silence past its end). A block that has not arrived is waited for when `wait`
    /// (offline), otherwise it is silence and counted as an underrun. A stream that failed is silence.
    pub fn read(&mut self, generation: u32, q: u64, out: &mut [Frame], wait: bool) {
        let mut filled = 0;
        while filled < out.len() {
            let want = q + filled as u64;
            let rest = &mut out[filled..];
            // The pass's opening comes through the landing ring, the rest after it through the main one.
            drop_front(&mut self.landing, |b| b.stale(generation, want));
            let from_landing = front(&self.landing).is_some_and(|b| b.generation == generation);
            let ring = if from_landing { &mut self.landing } else { &mut self.blocks };
            let Ok(chunk) = ring.read_chunk(1) else {
                // Nothing in either ring.
                if self.shared.failed.load(Ordering::Relaxed) {
                    rest.fill(Frame::ZERO);
                    return;
                }
                if wait {
                    self.wait_for_a_block();
                    continue;
                }
                self.underrun(rest);
                return;
            };
            let block = &chunk.as_slices().0[0];
            if block.stale(generation, want) {
                // From an older pass, or already played (after an underrun): drop it.
                chunk.commit_all();
                if wait {
                    self.producer.unpark();
                }
                continue;
            }
            if block.generation > generation || block.start > want {
                // The ring has moved on past what is asked for (a newer pass is queued): nothing to play.
                let gap = if block.generation > generation {
                    rest.len()
                } else {
                    ((block.start - want) as usize).min(rest.len())
                };
                self.underrun(&mut rest[..gap]);
                filled += gap;
                continue;
            }
            let offset = (want - block.start) as usize;
            let n = (block.len as usize - offset).min(rest.len());
            rest[..n].copy_from_slice(&block.frames[offset..offset + n]);
            filled += n;
            if offset + n == block.len as usize {
                chunk.commit_all();
                if wait {
                    self.producer.unpark();
                }
            }
        }
    }

    /// Frames of pass `generation` from frame `q` on that are already here (up to `enough`). Blocks of older
    /// passes at the front of the rings are dropped first: after a seek the main ring is still full of the old
    /// position, and until they go the producer has no room for the rest of the new one.
    pub fn ready_frames(&mut self, generation: u32, q: u64, enough: u64) -> u64 {
        drop_front(&mut self.blocks, |b| b.stale(generation, q));
        let landed = self.landed_frames(generation, q, enough);
        if landed >= enough {
            return landed;
        }
        landed + count_ready(&mut self.blocks, generation, q + landed, enough - landed)
    }

    /// Frames of pass `generation` from frame `q` on in the landing ring (up to `enough`), without touching
    /// the main ring: what a seek can count on while the old position still plays from it.
    pub fn landed_frames(&mut self, generation: u32, q: u64, enough: u64) -> u64 {
        drop_front(&mut self.landing, |b| b.stale(generation, q));
        count_ready(&mut self.landing, generation, q, enough)
    }

    /// The producer gave up on the current pass (its file vanished or is cut off).
    pub fn failed(&self) -> bool {
        self.shared.failed.load(Ordering::Relaxed)
    }

    /// Whether the main ring is full (nothing more can arrive until something is read).
    pub fn full(&self) -> bool {
        self.blocks.slots() >= self.capacity
    }

    fn underrun(&self, frames: &mut [Frame]) {
        if frames.is_empty() {
            return;
        }
        frames.fill(Frame::ZERO);
        self.shared.underruns.fetch_add(1, Ordering::Relaxed);
        self.shared.underrun_frames.fetch_add(frames.len() as u64, Ordering::Relaxed);
    }

    /// Offline only: wakes the producer and waits a moment for it.
    fn wait_for_a_block(&self) {
        self.producer.unpark();
        for _ in 0..64 {
            if !self.blocks.is_empty() || !self.landing.is_empty() || self.shared.failed.load(Ordering::Relaxed) {
                return;
            }
            std::hint::spin_loop();
        }
        std::thread::sleep(Duration::from_micros(50));
    }
}

impl Block {
    /// The frame of the pass after its last.
    fn end(&self) -> u64 {
        self.start + self.len as u64
    }

    /// Whether a reader at frame `q` of pass `generation` is done with it: it is from an older pass, or from
    /// this one and already played. A newer pass's block is never stale (it waits for its pass, whatever its
    /// frames: a seek's opening lands while the old position plays on).
    fn stale(&self, generation: u32, q: u64) -> bool {
        self.generation < generation || (self.generation == generation && self.end() <= q)
    }
}

/// The block at the front of a ring, if any.
fn front(ring: &rtrb::Consumer<Block>) -> Option<&Block> {
    ring.peek().ok()
}

/// Drops blocks from the front of a ring while `stale` says so.
fn drop_front(ring: &mut rtrb::Consumer<Block>, stale: impl Fn(&Block) -> bool) {
    while let Ok(chunk) = ring.read_chunk(1) {
        if !stale(&chunk.as_slices().0[0]) {
            return;
        }
        chunk.commit_all();
    }
}

/// Frames of pass `generation` from `q` on, without a hole, in a ring, counted up to `enough`.
fn count_ready(ring: &mut rtrb::Consumer<Block>, generation: u32, q: u64, enough: u64) -> u64 {
    let Ok(chunk) = ring.read_chunk(ring.slots()) else { return 0 };
    let (a, b) = chunk.as_slices();
    let mut ready = 0;
    for block in a.iter().chain(b) {
        if block.generation != generation || block.end() <= q + ready {
            continue;
        }
        if block.start > q + ready {
            break; // a hole: what comes after it cannot be played yet
        }
        ready = block.end() - q;
        if ready >= enough {
            break;
        }
    }
    ready
}

/// The producer's ends of the two rings.
struct Rings {
    main: rtrb::Producer<Block>,
    landing: rtrb::Producer<Block>,
}

/// The producer thread: follows the requested pass, decoding block after block while the ring has room.
fn produce(info: StemInfo, shared: Arc<Shared>, mut rings: Rings) {
    let stem_frames = info.frames;
    let mut decoder: Option<StemDecoder> = None;
    // A short stem, decoded whole (see SHORT_STEM_FRAMES).
    let mut whole: Option<Vec<Frame>> = None;
    let mut pass: Option<Pass> = None;
    // Next frame of the pass to produce; `None` when the pass is done (or failed).
    let mut next: Option<u64> = None;
    let mut just_switched = false;
    let mut reported = Repairs::default();
    let mut block = Box::new(Block { generation: 0, start: 0, len: 0, frames: [Frame::ZERO; BLOCK_FRAMES] });
    let mut scratch: Vec<Frame> = Vec::with_capacity(BLOCK_FRAMES);
    // Blocks decoded while their ring was full, oldest first, each with whether it goes to the landing ring
    // (the first LANDING_BLOCKS of a pass); `decoded` counts the pass's blocks so far.
    let mut waiting: std::collections::VecDeque<(Block, bool)> =
        std::collections::VecDeque::with_capacity(LANDING_BLOCKS);
    let mut decoded = 0usize;
    while !shared.shutdown.load(Ordering::Relaxed) {
        let wanted = *shared.pass.lock().unwrap_or_else(|e| e.into_inner());
        if wanted != pass {
            pass = wanted;
            next = pass.map(|_| 0);
            just_switched = true;
            waiting.clear();
            decoded = 0;
            shared.failed.store(false, Ordering::Relaxed);
        }
        while let Some(&(block, to_landing)) = waiting.front() {
            let ring = if to_landing { &mut rings.landing } else { &mut rings.main };
            if ring.push(block).is_err() {
                break; // full: it waits
            }
            waiting.pop_front();
            // The new pass has reached the main ring: back to the slow poll once it is full again.
            just_switched &= to_landing;
        }
        let (Some(p), Some(q)) = (pass, next) else {
            std::thread::park_timeout(POLL);
            continue;
        };
        if shared.stalled.load(Ordering::Relaxed) {
            std::thread::park_timeout(POLL_AFTER_SEEK);
            continue;
        }
        if waiting.len() >= LANDING_BLOCKS {
            std::thread::park_timeout(if just_switched { POLL_AFTER_SEEK } else { POLL });
            continue;
        }
        let Some(frame) = p.song_frame(q) else {
            next = None; // the song ended (it does not loop)
            continue;
        };
        if frame >= stem_frames {
            // Past this stem's end: silence until the song wraps (or ends); nothing to send.
            next = if p.looping { Some(q + (p.song_frames - frame)) } else { None };
            continue;
        }
        let result = (|| {
            if stem_frames <= SHORT_STEM_FRAMES {
                if whole.is_none() {
                    let d = decoder.insert(StemDecoder::open(&info)?);
                    let mut frames = Vec::with_capacity(stem_frames as usize);
                    while d.read(&mut frames, BLOCK_FRAMES)? > 0 {}
                    whole = Some(frames);
                }
                let frames = whole.as_deref().unwrap_or_default();
                // As many frames of the pass as a block holds, laps and the silence between them included.
                scratch.clear();
                for k in 0..BLOCK_FRAMES as u64 {
                    let Some(f) = p.song_frame(q + k) else { break };
                    scratch.push(frames.get(f as usize).copied().unwrap_or(Frame::ZERO));
                }
                return Ok(scratch.len());
            }
            let d = match decoder.as_mut() {
                Some(d) => d,
                None => decoder.insert(StemDecoder::open(&info)?),
            };
            if d.position() != frame {
                d.seek(frame)?;
            }
            let n = (BLOCK_FRAMES as u64).min(stem_frames - frame) as usize;
            scratch.clear();
            while scratch.len() < n {
                let want = n - scratch.len();
                if d.read(&mut scratch, want)? == 0 {
                    break;
                }
            }
            Ok::<usize, super::error::ImportError>(scratch.len())
        })();
        match result {
            Ok(0) => next = None,
            Ok(n) => {
                block.generation = p.generation;
                block.start = q;
                block.len = n as u32;
                block.frames[..n].copy_from_slice(&scratch[..n]);
                let to_landing = decoded < LANDING_BLOCKS;
                decoded += 1;
                let ring = if to_landing { &mut rings.landing } else { &mut rings.main };
                if !waiting.is_empty() || ring.push(*block).is_err() {
                    waiting.push_back((*block, to_landing)); // its ring is full: it goes when there is room
                } else {
                    just_switched &= to_landing;
                }
                next = Some(q + n as u64);
                if let Some(d) = &decoder
                    && d.repairs() != &reported
                {
                    reported.merge(d.repairs());
                    shared.repairs.lock().unwrap_or_else(|e| e.into_inner()).merge(&reported);
                }
            }
            Err(e) => {
                *shared.problem.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
                shared.failed.store(true, Ordering::Relaxed);
                decoder = None;
                next = None;
            }
        }
    }
}
