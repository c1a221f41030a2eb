//! Hooks for the live tests and benchmarks, each switched on by an environment variable and absent otherwise:
//! scripted motion (a body moving every frame), seeks on a clock, a stall of the main thread, and a stats file.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bevy::prelude::*;

use super::intent::{Edit, Gesture, Intent};
use super::shared::{AudioDeviceStatus, Meters, StageSet, TransportCommand, TransportState};
use super::stems::StemBody;

/// `PROXEMIX_TEST_SEEK_EVERY=SECONDS`: every SECONDS the playhead jumps, as a hand on Home and the arrows would
/// (through the same intents), to the next of [`SEEK_CYCLE`]'s fractions of the song.
pub use crate::bench::soak::SEEK_EVERY;
/// `PROXEMIX_TEST_WANDER=1`: the first body circles the listener every frame, as a hand on a gamepad would
/// move it (through the same intents), 4 s a turn at 2.5 m, ears' height.
pub use crate::bench::soak::WANDER;
/// `PROXEMIX_TEST_STALL=SECONDS:MS`: once, SECONDS after the stage opens, a frame holds the main thread MS ms.
pub const STALL: &str = "PROXEMIX_TEST_STALL";
/// `PROXEMIX_TEST_STATS=PATH`: every second, one line into PATH: seconds since opening, frames, device
/// errors, buffers filled late, stream underruns, the longest silence of a start or seek waiting for the
/// streams in ms, the longest a seek while playing waited to switch in ms (tab-separated, the file rewritten
/// whole each time).
pub use crate::bench::soak::STATS;

/// Adds the hooks the environment asks for.
pub struct TestHooksPlugin;

impl Plugin for TestHooksPlugin {
    fn build(&self, app: &mut App) {
        if std::env::var_os(WANDER).is_some_and(|v| v == "1") {
            app.add_systems(Update, wander.in_set(StageSet::Input));
        }
        if let Some(every) = std::env::var(SEEK_EVERY).ok().and_then(|v| v.trim().parse::<f64>().ok())
            && every > 0.0
        {
            app.insert_resource(Seeks { every: Duration::from_secs_f64(every), last: None, count: 0 })
                .add_systems(Update, seek_on_a_clock.in_set(StageSet::Input));
        }
        if let Some((at_s, ms)) = std::env::var(STALL).ok().and_then(|v| parse_stall(&v)) {
            app.insert_resource(Stall { at: Duration::from_secs_f64(at_s), ms, done: false })
                .add_systems(Update, stall);
        }
        if let Some(path) = std::env::var_os(STATS) {
            app.insert_resource(Stats { path: PathBuf::from(path), frames: 0, opened: Instant::now(), written: None })
                .add_systems(Last, write_stats);
        }
    }
}

fn parse_stall(value: &str) -> Option<(f64, u64)> {
    let (at, ms) = value.split_once(':')?;
    Some((at.trim().parse().ok()?, ms.trim().parse().ok()?))
}

/// The first body on its circle.
fn wander(
    time: Res<Time>,
    bodies: Query<(Entity, &StemBody)>,
    mut gesture: Local<Option<Gesture>>,
    mut intents: MessageWriter<Intent>,
) {
    let Some((entity, _)) = bodies.iter().min_by_key(|(_, b)| b.index) else { return };
    let turn = time.elapsed_secs() / 4.0 * std::f32::consts::TAU;
    let at = Vec3::new(2.5 * turn.sin(), crate::mix::mapping::EAR_HEIGHT_M, -2.5 * turn.cos());
    let gesture = *gesture.get_or_insert_with(Gesture::new);
    intents.write(Intent::Edit(gesture, Edit::Place(vec![(entity, at)])));
}

/// Where the seeks land, as fractions of the song: the top (Home) every other time, and places all over it
/// (what the arrows and the timeline reach), none of them near where the playhead just was.
pub const SEEK_CYCLE: [f64; 6] = [0.0, 0.45, 0.1, 0.7, 0.0, 0.3];

#[derive(Resource)]
struct Seeks {
    every: Duration,
    last: Option<Duration>,
    count: usize,
}

/// A seek every so often, once the song is playing.
fn seek_on_a_clock(
    time: Res<Time<Real>>,
    transport: Res<TransportState>,
    mut seeks: ResMut<Seeks>,
    mut intents: MessageWriter<Intent>,
) {
    if !transport.playing || transport.song_s <= 0.0 {
        return;
    }
    let now = time.elapsed();
    let last = *seeks.last.get_or_insert(now);
    if now - last < seeks.every {
        return;
    }
    seeks.last = Some(now);
    let to = SEEK_CYCLE[seeks.count % SEEK_CYCLE.len()] * transport.song_s;
    seeks.count += 1;
    intents.write(Intent::Transport(TransportCommand::Seek(to)));
}

#[derive(Resource)]
struct Stall {
    at: Duration,
    ms: u64,
    done: bool,
}

/// Holds the main thread once, as a slow frame would (the audio must not notice).
fn stall(time: Res<Time<Real>>, mut stall: ResMut<Stall>) {
    if !stall.done && time.elapsed() >= stall.at {
        stall.done = true;
        info!("stalling the main thread {} ms on purpose", stall.ms);
        std::thread::sleep(Duration::from_millis(stall.ms));
    }
}

#[derive(Resource)]
struct Stats {
    path: PathBuf,
    frames: u64,
    opened: Instant,
    written: Option<Instant>,
}

fn write_stats(mut stats: ResMut<Stats>, device: Option<Res<AudioDeviceStatus>>, meters: Res<Meters>) {
    stats.frames += 1;
    if stats.written.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
        return;
    }
    stats.written = Some(Instant::now());
    let (errors, late) = device.map_or((0, 0), |d| (d.errors, d.late_buffers));
    let line = format!(
        "{:.3}\t{}\t{errors}\t{late}\t{}\t{:.1}\t{:.1}\n",
        stats.opened.elapsed().as_secs_f64(),
        stats.frames,
        meters.underruns,
        meters.longest_seek_wait_s * 1e3,
        meters.longest_seek_switch_s * 1e3
    );
    let _ = crate::files::atomic_write(&stats.path, line.as_bytes(), false);
}
