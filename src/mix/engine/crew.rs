//! Several threads, each with its share of the stems, in lock-step per chunk (offline renders only: the audio
//! thread of a live graph never waits for anyone). Each stem's arithmetic is the same whichever thread runs it.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::transport::ChunkPlan;
use super::unit::StemUnit;

pub(crate) struct Crew {
    shared: Arc<CrewShared>,
    threads: Vec<JoinHandle<()>>,
    /// Where stem `i` lives: (group, index in the group).
    place: Vec<(usize, usize)>,
}

struct CrewShared {
    groups: Vec<Mutex<Vec<StemUnit>>>,
    /// Stem index of each unit, group by group (to name a stem that crashed).
    indices: Vec<Vec<usize>>,
    /// The first stem that crashed in a helper, and what it said.
    crashed: Mutex<Option<StemCrashed>>,
    plan: Mutex<Option<ChunkPlan>>,
    epoch: AtomicU64,
    done: AtomicUsize,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Crew {
    /// Deals `units` round-robin to `jobs` groups; the caller's thread runs group 0.
    pub fn new(units: Vec<StemUnit>, jobs: usize) -> std::io::Result<Crew> {
        let jobs = jobs.clamp(1, units.len().max(1));
        let mut groups: Vec<Vec<StemUnit>> = (0..jobs).map(|_| Vec::new()).collect();
        let mut place = Vec::with_capacity(units.len());
        for (i, unit) in units.into_iter().enumerate() {
            let g = i % jobs;
            place.push((g, groups[g].len()));
            groups[g].push(unit);
        }
        let mut indices: Vec<Vec<usize>> = vec![Vec::new(); jobs];
        for (i, &(g, _)) in place.iter().enumerate() {
            indices[g].push(i);
        }
        let shared = Arc::new(CrewShared {
            groups: groups.into_iter().map(Mutex::new).collect(),
            indices,
            crashed: Mutex::new(None),
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
                    if let Some(plan) = plan
                        && let Err(crash) = run_group(&mut lock(&shared.groups[g]), &shared.indices[g], &plan)
                    {
                        // Said on the caller's thread once the chunk is over; this one counts itself done so
                        // that nobody waits for it.
                        lock(&shared.crashed).get_or_insert(crash);
                    }
                    shared.done.fetch_add(1, Ordering::AcqRel);
                }
            })?);
        }
        Ok(Crew { shared, threads, place })
    }

    /// Runs one chunk on every stem, this thread taking group 0, and returns when all are done.
    pub fn run(&mut self, plan: &ChunkPlan) {
        *lock(&self.shared.plan) = Some(*plan);
        self.shared.done.store(0, Ordering::Release);
        self.shared.epoch.fetch_add(1, Ordering::AcqRel);
        for t in &self.threads {
            t.thread().unpark();
        }
        let here = run_group(&mut lock(&self.shared.groups[0]), &self.shared.indices[0], plan);
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
        if let Some(crash) = here.err().or_else(|| lock(&self.shared.crashed).take()) {
            std::panic::panic_any(crash);
        }
    }

    /// Runs `f` on stem `index` (the crew is idle between chunks).
    pub fn with(&self, index: usize, f: impl FnOnce(&mut StemUnit)) {
        if let Some(&(g, k)) = self.place.get(index) {
            f(&mut lock(&self.shared.groups[g])[k]);
        }
    }

    /// Runs `f` on every stem in stem order (so sums over stems do not depend on the number of threads).
    pub fn each_in_order(&self, mut f: impl FnMut(usize, &mut StemUnit)) {
        for (i, &(g, k)) in self.place.iter().enumerate() {
            f(i, &mut lock(&self.shared.groups[g])[k]);
        }
    }
}

/// A stem whose processing panicked: the panic the engine raises on the caller's thread, so that the render
/// can name the stem.
#[derive(Debug)]
pub struct StemCrashed {
    /// The stem's index in the scene.
    pub index: usize,
    /// What the panic said.
    pub message: String,
}

/// Runs one chunk on each unit of a group; a panic is caught and said as the stem that raised it.
pub(crate) fn run_group(units: &mut [StemUnit], indices: &[usize], plan: &ChunkPlan) -> Result<(), StemCrashed> {
    for (unit, &index) in units.iter_mut().zip(indices) {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unit.run(plan))).map_err(|payload| StemCrashed {
            index,
            message: crate::mix::input::error::panic_message(payload.as_ref()),
        })?;
    }
    Ok(())
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
