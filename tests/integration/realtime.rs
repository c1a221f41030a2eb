//! The audio thread's rules, checked: no allocation or free while rendering, whatever the scene does.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use proxemix::mix::GraphConfig;
use proxemix::mix::offline::OfflineGraph;

use crate::common::*;

/// Counts allocations made on threads that asked to be watched (tests run in parallel; only ours count).
struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static WATCHED: Cell<bool> = const { Cell::new(false) };
}

// A global allocator is unsafe to implement by nature; this one only counts and forwards to the system's.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if WATCHED.try_with(|w| w.get()).unwrap_or(false) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if WATCHED.try_with(|w| w.get()).unwrap_or(false) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn watched<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    WATCHED.with(|w| w.set(true));
    let out = f();
    WATCHED.with(|w| w.set(false));
    (out, ALLOCATIONS.load(Ordering::Relaxed) - before)
}

#[test]
fn rendering_allocates_nothing_even_while_bodies_move_and_spoil_changes() {
    let frames = SR as usize * 4;
    let audio: Vec<Option<proxemix::mix::StemSource>> = (0..6)
        .map(|i| {
            let samples = if i % 2 == 0 { noise(frames, 0.3, i + 1) } else { low_chord(frames, 0.3) };
            Some(
                proxemix::mix::Audio::from_frames(SR, samples.iter().map(|&v| kira::Frame::new(v, -v)).collect())
                    .into(),
            )
        })
        .collect();
    let mut scene = proxemix::bench::bench_scene(6);
    let mut graph = OfflineGraph::offline(
        &scene,
        &audio,
        GraphConfig { looping: true, cues: Default::default(), ..GraphConfig::offline(SR) },
    )
    .unwrap();
    graph.start();
    let mut block = vec![0.0f32; 2 * 300];
    // Warm up: the first blocks start the sounds.
    for _ in 0..8 {
        graph.backend_mut().render_block(&mut block);
    }
    // The watch itself works: an allocation on this thread is seen.
    let (_, seen) = watched(|| std::hint::black_box(vec![1u8; 64]));
    assert!(seen >= 1, "the counting allocator must see allocations");
    let mut total = 0;
    for step in 0..40 {
        // Move every body, resize it, change the room: stages switch on and off, ramps start and end.
        for (i, stem) in scene.stems.iter_mut().enumerate() {
            let t = step as f32 * 0.3 + i as f32;
            stem.position = (3.0 * t.sin(), 1.2 + t.cos(), -0.2 - 4.0 * (0.5 + 0.5 * (t * 0.7).sin()));
            stem.size = 0.3 + 3.0 * (0.5 + 0.5 * t.cos());
            stem.muted = (step + i) % 7 == 0;
            // Spoil switches on and off, and glides, on some stems every step.
            stem.spoil = if (step + i) % 3 == 0 { 0.0 } else { 0.5 + 0.5 * (t * 1.3).sin() };
        }
        scene.master_spoil = if step % 4 == 0 { 0.0 } else { 0.3 };
        scene.room.reverb_db = if step % 10 < 5 { 0.0 } else { -60.0 };
        graph.apply_scene(&scene, 0.02);
        let (_, n) = watched(|| {
            for _ in 0..6 {
                graph.backend_mut().render_block(&mut block);
            }
        });
        total += n;
        assert!(block.iter().all(|v| v.is_finite() && !v.is_subnormal()));
    }
    assert_eq!(total, 0, "the renderer allocated or freed {total} times");
}
