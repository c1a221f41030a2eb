//! `proxemix bench --stage`: CPU time per frame of the stage's own systems (world, input, bridge) with N
//! moving bodies, against the same app without our plugins, in the same run.

use std::path::Path;
use std::time::Instant;

use bevy::prelude::*;

use super::audio::StageAudio;
use super::stems::StemBody;
use crate::bench::{bench_scene, synthetic_stems};
use crate::mix::graph::{GraphConfig, MixGraph};
use crate::mix::offline::{OfflineBackend, OfflineSettings};

/// One measurement: milliseconds per `update()` of an empty app and of the stage's logic.
#[derive(Debug, Clone, Copy)]
pub struct StageBench {
    pub stems: usize,
    pub frames: usize,
    pub empty_ms: f64,
    pub stage_ms: f64,
}

impl StageBench {
    /// What the stage's systems add to a frame.
    pub fn systems_ms(&self) -> f64 {
        (self.stage_ms - self.empty_ms).max(0.0)
    }
    pub fn ratio(&self) -> f64 {
        self.stage_ms / self.empty_ms.max(1e-9)
    }
}

/// Every body moves every frame (the worst case: a group drag of all of them), so the bridge maps and sends
/// each stem each frame. Rounds alternate between the two apps; the fastest round of each counts.
pub fn run(stems: usize, frames: usize, rounds: usize) -> StageBench {
    let scene = bench_scene(stems);
    let audio: Vec<_> = synthetic_stems(stems, 2.0).into_iter().map(|a| Some(a.into())).collect();
    let config = GraphConfig { looping: true, ..GraphConfig::offline(48_000) };
    let factory: super::audio::GraphFactory<OfflineBackend> =
        Box::new(move |scene, audio| MixGraph::new(OfflineSettings { sample_rate: 48_000 }, scene, audio, config));
    let live = StageAudio::new(&scene, &audio, factory).expect("the offline graph always opens");
    let mut stage = super::headless_app(Path::new("bench.ron"), scene, Vec::new(), live);
    stage.add_systems(Update, move_every_body);
    // The baseline has the same Bevy plugins and the same 64 moving entities, without our plugins: the
    // difference is what our systems cost.
    let mut empty = App::new();
    empty.add_plugins((MinimalPlugins, TransformPlugin, bevy::input::InputPlugin)).add_systems(Update, move_every_body);
    for index in 0..stems {
        empty.world_mut().spawn((StemBody { index, name: String::new(), file: String::new() }, Transform::default()));
    }
    for app in [&mut stage, &mut empty] {
        // One thread: on a small machine the multi-threaded executor's wake-ups dwarf the systems' own work,
        // and what we want to see is that work.
        for (_, schedule) in app.world_mut().resource_mut::<Schedules>().iter_mut() {
            schedule.set_executor(bevy::ecs::schedule::SingleThreadedExecutor::new());
        }
        for _ in 0..30 {
            app.update(); // warm up: startup systems, first allocations
        }
    }
    let mut best = (f64::INFINITY, f64::INFINITY);
    for _ in 0..rounds.max(1) {
        best.0 = best.0.min(time_updates(&mut empty, frames));
        best.1 = best.1.min(time_updates(&mut stage, frames));
    }
    StageBench { stems, frames, empty_ms: best.0, stage_ms: best.1 }
}

fn time_updates(app: &mut App, frames: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..frames {
        app.update();
    }
    start.elapsed().as_secs_f64() * 1000.0 / frames as f64
}

fn move_every_body(time: Res<Time>, mut bodies: Query<(&StemBody, &mut Transform)>) {
    let t = time.elapsed_secs();
    for (body, mut transform) in &mut bodies {
        let phase = t + body.index as f32 * 0.1;
        transform.translation.x = 2.0 * phase.sin();
        transform.translation.z = -2.0 - phase.cos();
    }
}
