//! The stage heard for real: the real program, in a window under Xvfb, playing into a private PulseAudio server's
//! null sink (its own runtime folder and HOME, stopped afterwards); the sink's monitor is recorded and compared,
//! after alignment, with `proxemix render` of the same scene.
//!
//! Skips, saying why, where PulseAudio or Xvfb cannot start; with PROXEMIX_REQUIRE_LIVE=1 (CI) a skip fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use proxemix::bench::pulse::{PrivateDisplay, PrivatePulse};
use proxemix::mix::offline::{self, RenderOptions};

use crate::common::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A private sound server and display, or the reason there are none (a failure when they are required).
fn harness() -> Option<(PrivatePulse, PrivateDisplay)> {
    let required = std::env::var_os("PROXEMIX_REQUIRE_LIVE").is_some_and(|v| v == "1");
    let started = PrivatePulse::start(48_000)
        .and_then(|mut p| p.keep_warm().map(|_| p))
        .and_then(|p| PrivateDisplay::start().map(|d| (p, d)));
    match started {
        Ok(h) => Some(h),
        Err(why) if required => panic!("the live-sound harness is required here but cannot start: {why}"),
        Err(why) => {
            eprintln!("SKIPPED: no private PulseAudio server and display here ({why}); `make test` installs them");
            None
        }
    }
}

/// Plays `scene` on the real stage for `seconds` and returns what reached the sink (interleaved stereo).
fn capture(pulse: &PrivatePulse, display: &PrivateDisplay, scene: &Path, seconds: f64, dir: &TempDir) -> Vec<f32> {
    let recording = pulse.record(&dir.path("sink.f32"), 500).expect("parec");
    std::thread::sleep(Duration::from_millis(300));
    let mut stage = Command::new(env!("CARGO_BIN_EXE_proxemix"))
        .arg(scene)
        .envs(pulse.env())
        .env("DISPLAY", &display.display)
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the stage starts");
    std::thread::sleep(Duration::from_secs_f64(seconds + 1.5));
    let _ = stage.kill();
    let _ = stage.wait();
    recording.stop()
}

/// Mono sum of interleaved stereo.
fn mono(x: &[f32]) -> Vec<f32> {
    x.chunks_exact(2).map(|f| f[0] + f[1]).collect()
}

/// Where the reference's frame 0 lies in the recording (frames; negative if the recording began after it). The
/// cross-correlation of two seconds of the reference with the recording (by FFT) gives candidates; a song repeats
/// itself, so of its five highest peaks the one whose difference from the reference is smallest wins.
fn align(recording: &[f32], reference: &[f32]) -> i64 {
    use rustfft::FftPlanner;
    use rustfft::num_complex::Complex;
    let (rec, refm) = (mono(recording), mono(reference));
    let (from, len) = (48_000usize, 96_000usize);
    let excerpt = &refm[from..from + len];
    let n = (rec.len() + len).next_power_of_two();
    let mut planner = FftPlanner::<f64>::new();
    let (fwd, inv) = (planner.plan_fft_forward(n), planner.plan_fft_inverse(n));
    let mut a: Vec<Complex<f64>> = (0..n).map(|i| Complex::new(rec.get(i).map_or(0.0, |&v| v as f64), 0.0)).collect();
    let mut b: Vec<Complex<f64>> =
        (0..n).map(|i| Complex::new(excerpt.get(i).map_or(0.0, |&v| v as f64), 0.0)).collect();
    fwd.process(&mut a);
    fwd.process(&mut b);
    let mut c: Vec<Complex<f64>> = a.iter().zip(&b).map(|(x, y)| x * y.conj()).collect();
    inv.process(&mut c);
    // c[k] = Σ rec[i + k]·excerpt[i]: the excerpt sits at recording frame k.
    let mut peaks: Vec<usize> =
        (1..rec.len().saturating_sub(len)).filter(|&k| c[k].re > c[k - 1].re && c[k].re >= c[k + 1].re).collect();
    peaks.sort_by(|&x, &y| c[y].re.total_cmp(&c[x].re));
    let difference = |k: usize| -> f64 { (0..len).map(|i| ((rec[k + i] - excerpt[i]) as f64).powi(2)).sum() };
    let best = peaks.into_iter().take(5).min_by(|&x, &y| difference(x).total_cmp(&difference(y))).expect("a lag");
    best as i64 - from as i64
}

/// RMS of the difference over `[from, to)` seconds of the reference (dBFS), and the worst 10 ms window.
fn residual(recording: &[f32], reference: &[f32], offset: i64, from: f64, to: f64) -> (f64, f64, f64) {
    let (a, b) = ((from * 48_000.0) as usize, (to * 48_000.0) as usize);
    let mut sum = 0.0f64;
    let mut worst = (f64::NEG_INFINITY, 0.0);
    let window = 480;
    let mut acc = 0.0f64;
    let last = 2 * (b as i64 + offset) as usize;
    assert!(offset >= -(a as i64) && last <= recording.len(), "the recording does not cover {from}..{to} s");
    for i in a..b {
        let mut d2 = 0.0;
        for c in 0..2 {
            let at = 2 * (i as i64 + offset) + c as i64;
            let r = recording[at as usize] as f64;
            let d = r - reference[2 * i + c] as f64;
            d2 += d * d;
        }
        sum += d2;
        acc += d2;
        if (i - a + 1) % window == 0 {
            let level = 10.0 * (acc / (2 * window) as f64).max(1e-30).log10();
            if level > worst.0 {
                worst = (level, i as f64 / 48_000.0);
            }
            acc = 0.0;
        }
    }
    (10.0 * (sum / (2 * (b - a)) as f64).max(1e-30).log10(), worst.0, worst.1)
}

fn render(scene: &Path, seconds: f64) -> Vec<f32> {
    let (scene, sources) = proxemix::commands::load_for_render(scene, 48_000).unwrap();
    let options = RenderOptions { seconds: Some(seconds), ..RenderOptions::default() };
    offline::render(&scene, &sources, &options, &mut |_| {}).unwrap().interleaved
}

/// The demo, a spoiled scene and a timeline scene (drop-the-drums, through its pre-chorus and the chorus's
/// downbeat), each played on the real stage through PulseAudio, equal the render to −90 dBFS or better.
#[test]
fn the_stage_heard_through_a_sound_server_equals_the_render() {
    let Some((pulse, display)) = harness() else { return };
    let dir = TempDir::new("live");
    for (name, seconds) in [("demo.ron", 6.0), ("tchad-blake.ron", 6.0), ("drop-the-drums.ron", 22.0)] {
        let scene = root().join("scenes").join(name);
        let recorded = capture(&pulse, &display, &scene, seconds, &dir);
        let reference = render(&scene, seconds + 1.0);
        assert!(
            recorded.len() / 2 > (seconds * 48_000.0) as usize,
            "{name}: only {} frames reached the sink",
            recorded.len() / 2
        );
        let offset = align(&recorded, &reference);
        if let Some(dump) = std::env::var_os("PROXEMIX_LIVE_DUMP") {
            let write = |path: PathBuf, x: &[f32]| {
                std::fs::write(path, x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap()
            };
            write(PathBuf::from(&dump).join(format!("{name}.live.f32")), &recorded);
            write(PathBuf::from(&dump).join(format!("{name}.render.f32")), &reference);
            eprintln!("{name}: offset {offset}");
        }
        // From 50 ms in (the stage fades in over 8 ms as it starts) to the end of what was played.
        let (rms, worst, at) = residual(&recorded, &reference, offset, 0.05, seconds - 0.5);
        eprintln!("{name}: live against render: residual {rms:.1} dBFS RMS, worst 10 ms {worst:.1} dBFS at {at:.2} s");
        assert_clean(&recorded);
        assert!(rms <= -90.0, "{name}: the stage differs from the render by {rms:.1} dBFS RMS");
        assert!(worst <= -80.0, "{name}: the stage differs from the render by {worst:.1} dBFS at {at:.2} s");
    }
}
