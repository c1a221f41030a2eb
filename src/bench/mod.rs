//! `proxemix bench`: real-time factor of the full chain against plain kira playback of the same stems, and of
//! fully spoiled stems against clean ones, each pair run side by side in one process so the ratio holds on a
//! noisy machine.

pub mod latency;
pub mod pulse;
#[cfg(not(target_arch = "wasm32"))]
pub mod room;
pub mod soak;
pub mod song;

use std::time::Instant;

use kira::sound::static_sound::{StaticSoundData, StaticSoundSettings};
use kira::track::TrackBuilder;
use kira::{AudioManager, AudioManagerSettings, Capacities, Frame};

use crate::mix::graph::{GraphConfig, INTERNAL_BUFFER_FRAMES};
use crate::mix::input::Audio;
use crate::mix::input::source::StemSource;
use crate::mix::mapping::EAR_HEIGHT_M;
use crate::mix::offline::{OfflineBackend, OfflineGraph, OfflineSettings};
use crate::scene::{Room, Scene, Stem};

pub const SAMPLE_RATE: u32 = 48_000;
const BLOCK: usize = 512;

/// One row of the report.
#[derive(Clone, Copy, Debug)]
pub struct BenchRow {
    pub stems: usize,
    pub seconds: f64,
    /// Real-time factor of plain kira playback (no effects, no sends).
    pub plain_rtf: f64,
    /// Real-time factor of the full Proxemix chain.
    pub full_rtf: f64,
}

impl BenchRow {
    /// How fast the full chain renders against plain playback of the same stems (above 1: faster).
    pub fn speed_ratio(&self) -> f64 {
        self.full_rtf / self.plain_rtf
    }
}

/// Deterministic test stems: noise plus a few partials, different per stem, stereo.
pub fn synthetic_stems(count: usize, seconds: f64) -> Vec<Audio> {
    use rand::{RngExt, SeedableRng};
    let frames = (seconds * SAMPLE_RATE as f64) as usize;
    (0..count)
        .map(|i| {
            let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(0x1234_5678 + i as u64);
            let f0 = 55.0 * (1.0 + i as f32 * 0.37);
            let data = (0..frames)
                .map(|n| {
                    let noise = (rng.random::<f32>() - 0.5) * 0.05;
                    let t = n as f32 / SAMPLE_RATE as f32;
                    let tone = 0.1 * (std::f32::consts::TAU * f0 * t).sin();
                    Frame::new(tone + noise, tone - noise)
                })
                .collect();
            Audio::from_frames(SAMPLE_RATE, data)
        })
        .collect()
}

/// A scene that exercises every stage: bodies near and far, high and low, small and large.
pub fn bench_scene(count: usize) -> Scene {
    let stems = (0..count)
        .map(|i| {
            let angle = (i as f32 / count.max(1) as f32 - 0.5) * 2.6;
            let distance = 0.4 + (i % 7) as f32 * 1.3;
            Stem {
                name: format!("stem {i}"),
                file: format!("stem{i}.wav"),
                position: (distance * angle.sin(), EAR_HEIGHT_M + (i % 3) as f32 - 1.0, -distance * angle.cos()),
                size: 0.5 + (i % 4) as f32 * 0.5,
                gain_db: -12.0,
                spoil: 0.0,
                muted: false,
                solo: false,
                send_db: 0.0,
                keys: Vec::new(),
            }
        })
        .collect();
    Scene {
        version: 1,
        name: "bench".into(),
        notes: String::new(),
        room: Room::default(),
        stems,
        master_gain_db: 0.0,
        master_spoil: 0.0,
        ceiling_dbtp: -1.0,
        intent: None,
        timeline: None,
        comments: Vec::new(),
        takes: Vec::new(),
        votes: Vec::new(),
    }
}

fn time_full(scene: &Scene, audio: &[Option<StemSource>], frames: usize, jobs: usize) -> f64 {
    let config = GraphConfig { jobs, ..GraphConfig::offline(SAMPLE_RATE) };
    let mut graph = OfflineGraph::offline(scene, audio, config).expect("bench graph");
    graph.start();
    let mut buf = vec![0.0f32; 2 * BLOCK];
    let start = Instant::now();
    let mut done = 0;
    while done < frames {
        graph.backend_mut().render_block(&mut buf);
        done += BLOCK;
    }
    std::hint::black_box(&buf);
    start.elapsed().as_secs_f64()
}

fn time_plain(audio: &[Option<StemSource>], frames: usize) -> f64 {
    let mut manager = AudioManager::<OfflineBackend>::new(AudioManagerSettings {
        capacities: Capacities { sub_track_capacity: audio.len() + 4, ..Default::default() },
        internal_buffer_size: INTERNAL_BUFFER_FRAMES,
        backend_settings: OfflineSettings { sample_rate: SAMPLE_RATE },
        ..Default::default()
    })
    .expect("plain manager");
    let mut tracks = Vec::new();
    for a in audio.iter().flatten() {
        let StemSource::Memory(a) = a else { continue };
        let mut track = manager.add_sub_track(TrackBuilder::new()).expect("track");
        let data = StaticSoundData {
            sample_rate: a.sample_rate,
            frames: a.frames.clone(),
            settings: StaticSoundSettings::new(),
            slice: None,
        };
        track.play(data).expect("play");
        tracks.push(track);
    }
    let mut buf = vec![0.0f32; 2 * BLOCK];
    let start = Instant::now();
    let mut done = 0;
    while done < frames {
        manager.backend_mut().render_block(&mut buf);
        done += BLOCK;
    }
    std::hint::black_box(&buf);
    start.elapsed().as_secs_f64()
}

/// Runs plain and full renders alternately `rounds` times for each stem count and reports the fastest round
/// of each: on a shared machine other load only ever adds time, so the fastest round is the least disturbed.
pub fn run(stem_counts: &[usize], seconds: f64, rounds: usize, mut report: impl FnMut(&BenchRow)) -> Vec<BenchRow> {
    let frames = (seconds * SAMPLE_RATE as f64) as usize;
    let mut rows = Vec::new();
    for &count in stem_counts {
        let audio: Vec<Option<StemSource>> =
            synthetic_stems(count, seconds).into_iter().map(|a| Some(a.into())).collect();
        let scene = bench_scene(count);
        let (mut plain, mut full) = (Vec::new(), Vec::new());
        for _ in 0..rounds.max(1) {
            plain.push(time_plain(&audio, frames));
            full.push(time_full(&scene, &audio, frames, 1));
        }
        let row = BenchRow {
            stems: count,
            seconds,
            plain_rtf: seconds / fastest(&plain),
            full_rtf: seconds / fastest(&full),
        };
        report(&row);
        rows.push(row);
    }
    rows
}

/// One row of the spoil report: the same scene rendered clean and with every stem fully spoiled.
#[derive(Clone, Copy, Debug)]
pub struct SpoilRow {
    pub stems: usize,
    pub clean_rtf: f64,
    pub spoiled_rtf: f64,
}

impl SpoilRow {
    /// How many times more a fully spoiled render costs than the clean one.
    pub fn cost_ratio(&self) -> f64 {
        self.clean_rtf / self.spoiled_rtf
    }
}

/// Renders the bench scene clean and with every stem at spoil 1, alternately `rounds` times, and reports the
/// fastest round of each (the whole graph: stems, reverb, master).
pub fn run_spoil(
    stem_counts: &[usize],
    seconds: f64,
    rounds: usize,
    mut report: impl FnMut(&SpoilRow),
) -> Vec<SpoilRow> {
    let frames = (seconds * SAMPLE_RATE as f64) as usize;
    let mut rows = Vec::new();
    for &count in stem_counts {
        let audio: Vec<Option<StemSource>> =
            synthetic_stems(count, seconds).into_iter().map(|a| Some(a.into())).collect();
        let clean = bench_scene(count);
        let mut spoiled = clean.clone();
        spoiled.stems.iter_mut().for_each(|s| s.spoil = 1.0);
        let (mut clean_times, mut spoiled_times) = (Vec::new(), Vec::new());
        for _ in 0..rounds.max(1) {
            clean_times.push(time_full(&clean, &audio, frames, 1));
            spoiled_times.push(time_full(&spoiled, &audio, frames, 1));
        }
        let row = SpoilRow {
            stems: count,
            clean_rtf: seconds / fastest(&clean_times),
            spoiled_rtf: seconds / fastest(&spoiled_times),
        };
        report(&row);
        rows.push(row);
    }
    rows
}

fn fastest(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

/// One row of the threads report: the same scene rendered on one thread and on several.
#[derive(Clone, Copy, Debug)]
pub struct JobsRow {
    pub stems: usize,
    pub jobs: usize,
    pub one_rtf: f64,
    pub many_rtf: f64,
}

impl JobsRow {
    /// How many times faster the render is on `jobs` threads.
    pub fn speedup(&self) -> f64 {
        self.many_rtf / self.one_rtf
    }
}

/// Renders the bench scene on one thread and on `jobs`, alternately `rounds` times; the fastest of each.
pub fn run_jobs(
    stem_counts: &[usize],
    jobs: usize,
    seconds: f64,
    rounds: usize,
    mut report: impl FnMut(&JobsRow),
) -> Vec<JobsRow> {
    let frames = (seconds * SAMPLE_RATE as f64) as usize;
    let mut rows = Vec::new();
    for &count in stem_counts {
        let audio: Vec<Option<StemSource>> =
            synthetic_stems(count, seconds).into_iter().map(|a| Some(a.into())).collect();
        let scene = bench_scene(count);
        let (mut one, mut many) = (Vec::new(), Vec::new());
        for _ in 0..rounds.max(1) {
            one.push(time_full(&scene, &audio, frames, 1));
            many.push(time_full(&scene, &audio, frames, jobs));
        }
        let row = JobsRow { stems: count, jobs, one_rtf: seconds / fastest(&one), many_rtf: seconds / fastest(&many) };
        report(&row);
        rows.push(row);
    }
    rows
}

/// One row of the streaming report: the same stems read from WAV files on disk and from memory.
#[derive(Clone, Copy, Debug)]
pub struct StreamRow {
    pub stems: usize,
    pub memory_rtf: f64,
    pub streamed_rtf: f64,
}

/// Renders the bench scene from stems in memory and from the same stems streamed from 24-bit WAV files (half at
/// 44.1 kHz, so half are converted while they play), alternately; one thread for the mix.
pub fn run_streamed(count: usize, seconds: f64, rounds: usize) -> Result<StreamRow, String> {
    let dir = std::env::temp_dir().join(format!("proxemix-bench-stream-{}", std::process::id()));
    let scene_path = song::make_song(&dir, count, seconds)?;
    let result = (|| {
        let (scene, streamed) =
            crate::commands::load_for_render(&scene_path, SAMPLE_RATE).map_err(|e| e.to_string())?;
        let memory: Vec<Option<StemSource>> = streamed
            .iter()
            .map(|s| s.clone().map(|s| s.into_memory()).transpose())
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        let frames = (seconds * SAMPLE_RATE as f64) as usize;
        let (mut m, mut s) = (Vec::new(), Vec::new());
        for _ in 0..rounds.max(1) {
            m.push(time_full(&scene, &memory, frames, 1));
            s.push(time_full(&scene, &streamed, frames, 1));
        }
        Ok(StreamRow { stems: count, memory_rtf: seconds / fastest(&m), streamed_rtf: seconds / fastest(&s) })
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}
