//! Motion to sound on the real stage: a body dragged with the mouse (xdotool, as a hand would) between two
//! places a few metres apart, fifty times, heard through a private PulseAudio null sink; each move's latency is
//! the time from the pointer event to the first block of the recording whose level has moved halfway to the
//! new place's. The sound server's own share is measured the same way with `pacat` writing tone bursts.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::pulse::{PrivateDisplay, PrivatePulse, arrival_of};
use super::soak::STATS;

const RATE: u32 = 48_000;
/// Blocks the level is read in (1.3 ms).
const BLOCK: usize = 64;

/// What the benchmark found, in milliseconds.
#[derive(Debug, Clone)]
pub struct LatencyReport {
    /// Each move's latency (moves whose change could not be found are left out).
    pub moves_ms: Vec<f64>,
    /// Moves asked for.
    pub asked: usize,
    /// The server's own share: `pacat` write to the monitor, per burst.
    pub server_ms: Vec<f64>,
    /// The device buffer and the stage's mean frame time while it ran.
    pub buffer_ms: f64,
    pub frame_ms: f64,
}

/// The `q`-quantile of `values` (0.5: the median).
pub fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// Level (dB) of each 64-frame block of interleaved stereo.
pub(crate) fn block_levels(interleaved: &[f32]) -> Vec<f64> {
    interleaved
        .chunks(BLOCK * 2)
        .map(|b| 10.0 * (b.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / b.len() as f64).max(1e-20).log10())
        .collect()
}

/// For each event time, the milliseconds until the first block (arriving after it) whose level has gone
/// halfway from the level before to the level `settle` later.
pub(crate) fn latencies(levels: &[f64], arrivals: &[(Instant, u64)], events: &[Instant], settle: Duration) -> Vec<f64> {
    let block_at = |t: Instant| -> Option<usize> {
        let i = arrivals.partition_point(|(at, _)| *at < t);
        arrivals.get(i).map(|(_, frames)| *frames as usize / BLOCK)
    };
    let mut out = Vec::new();
    for &event in events {
        let (Some(at), Some(settled)) = (block_at(event), block_at(event + settle)) else { continue };
        // Blocks that arrived with the event may have been played just before it: look a little earlier.
        let from = at.saturating_sub(8);
        if from < 40 || settled + 40 > levels.len() {
            continue;
        }
        let before = quantile(&levels[from - 40..from], 0.5);
        let after = quantile(&levels[settled..settled + 40], 0.5);
        if (after - before).abs() < 3.0 {
            continue;
        }
        let half = (before + after) / 2.0;
        let crossed = (from..settled).find(|&b| if after > before { levels[b] > half } else { levels[b] < half });
        let Some(b) = crossed else { continue };
        if let Some(heard) = arrival_of(arrivals, (b * BLOCK) as u64) {
            out.push(heard.saturating_duration_since(event).as_secs_f64() * 1000.0);
        }
    }
    out
}

/// A mono 24-bit WAV of a steady tone.
pub(crate) fn write_tone(path: &Path, seconds: f64) -> Result<(), String> {
    let spec =
        hound::WavSpec { channels: 1, sample_rate: RATE, bits_per_sample: 24, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(path, spec).map_err(|e| format!("{}: {e}", path.display()))?;
    for i in 0..(seconds * RATE as f64) as usize {
        let v = 0.25 * (std::f64::consts::TAU * 330.0 * i as f64 / RATE as f64).sin();
        w.write_sample((v * 8_388_607.0) as i32).map_err(|e| e.to_string())?;
    }
    w.finalize().map_err(|e| e.to_string())
}

fn xdotool(display: &PrivateDisplay, args: &str) -> Result<(), String> {
    let status = Command::new("xdotool")
        .args(args.split_whitespace())
        .env("DISPLAY", &display.display)
        .status()
        .map_err(|e| format!("cannot run xdotool ({e}); `make setup` installs it"))?;
    if status.success() { Ok(()) } else { Err(format!("xdotool {args} failed")) }
}

/// Runs the benchmark: `moves` drags on the stage (`exe`), and twenty tone bursts through `pacat`.
pub fn run(exe: &Path, moves: usize, buffer_frames: u32) -> Result<LatencyReport, String> {
    let mut pulse = PrivatePulse::start(RATE)?;
    pulse.keep_warm()?;
    let display = PrivateDisplay::start()?;
    let dir = std::env::temp_dir().join(format!("proxemix-latency-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = measure(exe, moves, buffer_frames, &pulse, &display, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn measure(
    exe: &Path,
    moves: usize,
    buffer_frames: u32,
    pulse: &PrivatePulse,
    display: &PrivateDisplay,
    dir: &Path,
) -> Result<LatencyReport, String> {
    // One steady tone 0.6 m ahead at ears' height, no reverb: its level says where it is.
    write_tone(&dir.join("tone.wav"), 60.0)?;
    let scene = dir.join("latency.ron");
    std::fs::write(
        &scene,
        "(version: 1, name: \"latency\", room: (size: 12.0, decay_s: 1.2, damping: 0.5, reverb_db: -60.0), \
         stems: [(name: \"tone\", file: \"tone.wav\", position: (0.0, 1.2, -0.6), size: 1.0)])",
    )
    .map_err(|e| e.to_string())?;
    // Where the body is on the screen: the stage's own screenshot run on the same display.
    let shot = dir.join("shot.png");
    let ran = Command::new(exe)
        .arg(&scene)
        .arg("--screenshot")
        .arg(&shot)
        .args(["--frames", "20"])
        .env("DISPLAY", &display.display)
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .map_err(|e| e.to_string())?;
    if !ran.status.success() {
        return Err(format!("the screenshot run failed: {}", String::from_utf8_lossy(&ran.stderr)));
    }
    let mut sidecar = shot.into_os_string();
    sidecar.push(".bodies.tsv");
    let table = std::fs::read_to_string(&sidecar).map_err(|e| e.to_string())?;
    let row: Vec<f32> =
        table.lines().nth(1).unwrap_or("").split('\t').skip(2).take(2).filter_map(|v| v.parse().ok()).collect();
    let [x, y] = row[..] else { return Err(format!("no body in the screenshot's table:\n{table}")) };
    let (near, far) = ((x.round(), y.round()), (x.round(), (y - 200.0).round()));

    let recording = pulse.record(&dir.join("sink.f32"), 5)?;
    let clock = recording.clock();
    let stats = dir.join("stats.tsv");
    let mut stage = Command::new(exe)
        .arg(&scene)
        .args(["--buffer", &buffer_frames.to_string()])
        .envs(pulse.env())
        .env("DISPLAY", &display.display)
        .env_remove("WAYLAND_DISPLAY")
        .env(STATS, &stats)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the stage: {e}"))?;
    // Until the stage draws steadily (software rendering compiles its pipelines for a while).
    let frames = || -> u64 {
        let line = std::fs::read_to_string(&stats).unwrap_or_default();
        line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while frames() < 30 {
        if Instant::now() > deadline {
            let _ = stage.kill();
            return Err("the stage did not draw 30 frames in 120 s".into());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let (frames_from, from) = (frames(), Instant::now());
    xdotool(display, "search --name Proxemix windowfocus %1")?;
    xdotool(display, &format!("mousemove {} {} sleep 1.5 mousedown 1 sleep 1.5", near.0, near.1))?;
    let mut events = Vec::new();
    for i in 0..moves {
        let to = if i % 2 == 0 { far } else { near };
        xdotool(display, &format!("mousemove {} {}", to.0, to.1))?;
        events.push(Instant::now());
        std::thread::sleep(Duration::from_millis(1500));
    }
    xdotool(display, "mouseup 1")?;
    let frame_ms = from.elapsed().as_secs_f64() * 1000.0 / (frames() - frames_from).max(1) as f64;
    let _ = stage.kill();
    let _ = stage.wait();
    let server = server_share(pulse, &recording);
    let arrivals = clock.finish();
    let heard = recording.stop();
    let levels = block_levels(&heard);
    let moves_ms = latencies(&levels, &arrivals, &events, Duration::from_millis(1200));
    let server_ms = server?;
    let server_ms = latencies(&levels, &arrivals, &server_ms, Duration::from_millis(150));
    Ok(LatencyReport {
        moves_ms,
        asked: moves,
        server_ms,
        buffer_ms: buffer_frames as f64 / RATE as f64 * 1000.0,
        frame_ms,
    })
}

/// Twenty 300 ms tone bursts written through `pacat` (10 ms latency) between stretches of silence, each
/// write's moment noted: the same analysis then gives the server's own write-to-monitor time.
fn server_share(pulse: &PrivatePulse, _recording: &super::pulse::Recording) -> Result<Vec<Instant>, String> {
    let mut pacat = Command::new("pacat")
        .args(["--raw", "--format=float32le", "--channels=2", "--latency-msec=10"])
        .arg(format!("--rate={RATE}"))
        .envs(pulse.env())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start pacat ({e})"))?;
    let mut stdin = pacat.stdin.take().ok_or("pacat has no stdin")?;
    let block = |loud: bool, n: usize| -> Vec<u8> {
        (0..n * 2)
            .flat_map(|i| {
                let v = if loud {
                    0.25 * (std::f32::consts::TAU * 440.0 * (i / 2) as f32 / RATE as f32).sin()
                } else {
                    0.0
                };
                v.to_le_bytes()
            })
            .collect()
    };
    let (silence, tone) = (block(false, 480), block(true, 480));
    let mut writes = Vec::new();
    let start = Instant::now();
    // 10 ms a write, paced by the clock: 60 silent, 30 loud, twenty times.
    for burst in 0..20 {
        for step in 0..90 {
            let due = start + Duration::from_millis(10 * (burst * 90 + step) as u64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let loud = step >= 60;
            if step == 60 {
                writes.push(Instant::now());
            }
            stdin.write_all(if loud { &tone } else { &silence }).map_err(|e| e.to_string())?;
        }
    }
    // Closing the pipe ends the player (only on the desktop: the browser has no processes).
    #[cfg_attr(target_arch = "wasm32", allow(clippy::drop_non_drop))]
    drop(stdin);
    std::thread::sleep(Duration::from_millis(300));
    let _ = pacat.kill();
    let _ = pacat.wait();
    Ok(writes)
}

/// `proxemix bench --latency`: prints the distribution against the target.
pub fn print(exe: &Path, moves: usize, buffer_frames: u32) -> Result<(), String> {
    println!("motion to sound: {moves} drags of a body on the real stage, heard through a private null sink ...");
    let r = run(exe, moves, buffer_frames)?;
    let (median, p95) = (quantile(&r.moves_ms, 0.5), quantile(&r.moves_ms, 0.95));
    let target = r.frame_ms + r.buffer_ms + 5.0;
    println!("  moves found            {} of {}", r.moves_ms.len(), r.asked);
    println!("  input → sound          median {median:6.1} ms   95th percentile {p95:6.1} ms");
    println!(
        "  beside                 frame time {:.1} ms, device buffer {:.1} ms ({buffer_frames} frames): target median ≤ {target:.1} ms ({})",
        r.frame_ms,
        r.buffer_ms,
        if median <= target { "met" } else { "missed" }
    );
    println!(
        "  the server's own share pacat (10 ms buffer) write → monitor: median {:.1} ms, 95th percentile {:.1} ms ({} bursts)",
        quantile(&r.server_ms, 0.5),
        quantile(&r.server_ms, 0.95),
        r.server_ms.len()
    );
    Ok(())
}
