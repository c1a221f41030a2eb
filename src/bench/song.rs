//! `proxemix bench --song`: a real-sized session (32 stems of 4 minutes, 24-bit WAV, half at 44.1 kHz and half
//! at 48 kHz) against the 45-second demo: the stage's launch to first sound heard through a private PulseAudio
//! null sink and its peak memory, and `render`'s peak memory against the same session 30 seconds long.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::pulse::{PrivateDisplay, PrivatePulse, peak_memory};

/// Writes `count` stems of `seconds` into `dir` (24-bit WAV, odd stems at 44.1 kHz) and a scene `song.ron`
/// beside them; does nothing if they are already there.
pub fn make_song(dir: &Path, count: usize, seconds: f64) -> Result<PathBuf, String> {
    let scene_path = dir.join("song.ron");
    if scene_path.exists() {
        return Ok(scene_path);
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let names = ["kick", "snare", "hats", "bass", "keys", "pad", "lead", "choir"];
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let rate = if i.is_multiple_of(2) { 48_000 } else { 44_100 };
                    let path = dir.join(format!("{:02} {}.wav", i + 1, names[i % names.len()]));
                    if let Err(e) = write_stem(&path, i, rate, seconds) {
                        failures.lock().unwrap_or_else(|e| e.into_inner()).push(format!("{}: {e}", path.display()));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap_or_default();
    if !failures.is_empty() {
        return Err(failures.join("; "));
    }
    let made = crate::commands::new_scene(dir, &scene_path).map_err(|e| e.to_string())?;
    made.scene.save(&scene_path).map_err(|e| e.to_string())?;
    Ok(scene_path)
}

/// One synthetic stem: a few partials with a slow swell and some noise, different per stem, stereo.
fn write_stem(path: &Path, index: usize, rate: u32, seconds: f64) -> Result<(), String> {
    let spec =
        hound::WavSpec { channels: 2, sample_rate: rate, bits_per_sample: 24, sample_format: hound::SampleFormat::Int };
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut w =
        hound::WavWriter::new(std::io::BufWriter::with_capacity(1 << 20, file), spec).map_err(|e| e.to_string())?;
    let frames = (seconds * rate as f64) as usize;
    use rand::{RngExt, SeedableRng};
    let f0 = 55.0 * (1.0 + index as f64 * 0.29);
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(0x2545_F491 + index as u64);
    let scale = 8_388_607.0;
    for n in 0..frames {
        let t = n as f64 / rate as f64;
        let noise = (rng.random::<f64>() - 0.5) * 0.02;
        let swell = 0.6 + 0.4 * (std::f64::consts::TAU * t / (7.0 + index as f64)).sin();
        let tone = 0.12
            * swell
            * ((std::f64::consts::TAU * f0 * t).sin() + 0.3 * (std::f64::consts::TAU * 2.01 * f0 * t).sin());
        for v in [tone + noise, tone - noise] {
            w.write_sample((v * scale).round() as i32).map_err(|e| e.to_string())?;
        }
    }
    w.finalize().map_err(|e| e.to_string())
}

/// Peak memory (bytes) and wall time of `proxemix render SCENE`, run as its own process.
pub fn render_memory(exe: &Path, scene: &Path, out: &Path) -> Result<(u64, f64), String> {
    let started = Instant::now();
    let mut child = Command::new(exe)
        .arg("render")
        .arg(scene)
        .arg("-o")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let peak = watch_peak(&mut child, None)?;
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        return Err(format!("render failed: {err}"));
    }
    Ok((peak, started.elapsed().as_secs_f64()))
}

/// Polls a process's peak memory until it exits (or `until` passes, then it is killed).
fn watch_peak(child: &mut Child, until: Option<Instant>) -> Result<u64, String> {
    let mut peak = 0;
    loop {
        if let Some(p) = peak_memory(child.id()) {
            peak = peak.max(p);
        }
        if child.try_wait().map_err(|e| e.to_string())?.is_some() {
            return Ok(peak);
        }
        if until.is_some_and(|t| Instant::now() > t) {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(peak);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a user waits for and what the stage holds, for one scene.
#[derive(Clone, Copy, Debug)]
pub struct StageFigures {
    /// From launching the program to the first non-silent block at the sound server.
    pub first_sound_s: f64,
    /// The same for `paplay` playing a tone through the same server: the server's own share.
    pub server_s: f64,
    pub peak_memory: u64,
}

/// Launch to first sound of `paplay` playing a short tone through `pulse`, measured as the stage is.
fn server_first_sound(pulse: &PrivatePulse, recording: &super::pulse::Recording) -> Result<f64, String> {
    let tone = std::env::temp_dir().join(format!("proxemix-tone-{}.wav", std::process::id()));
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&tone, spec).map_err(|e| e.to_string())?;
    for n in 0..24_000 {
        let v = (0.3 * (n as f64 * std::f64::consts::TAU * 440.0 / 48_000.0).sin() * 32_767.0) as i16;
        w.write_sample(v).map_err(|e| e.to_string())?;
        w.write_sample(v).map_err(|e| e.to_string())?;
    }
    w.finalize().map_err(|e| e.to_string())?;
    let launched = Instant::now();
    let mut player = Command::new("paplay")
        .arg(&tone)
        .envs(pulse.env())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start paplay ({e})"))?;
    let heard = recording.wait_for_sound(1e-4, launched + Duration::from_secs(10), || false);
    let _ = player.wait();
    let _ = std::fs::remove_file(&tone);
    // Let the tone's tail pass before the stage is measured.
    std::thread::sleep(Duration::from_millis(500));
    heard.map(|t| t.duration_since(launched).as_secs_f64()).ok_or_else(|| "paplay was never heard".to_string())
}

/// Launches the stage on `scene` with a private sound server and display; times the first sound on the sink's
/// monitor, lets it play `play_s` more, and reads its peak memory.
pub fn stage_figures(exe: &Path, scene: &Path, play_s: f64) -> Result<StageFigures, String> {
    let pulse = PrivatePulse::start(48_000)?;
    let display = PrivateDisplay::start()?;
    let recording_path = std::env::temp_dir().join(format!("proxemix-first-sound-{}.f32", std::process::id()));
    let recording = pulse.record(&recording_path, 10)?;
    std::thread::sleep(Duration::from_millis(300));
    let server_s = server_first_sound(&pulse, &recording)?;
    // The recording now holds the tone: watch only what comes after it.
    let recording = {
        drop(recording);
        pulse.record(&recording_path, 10)?
    };
    std::thread::sleep(Duration::from_millis(300));
    let launched = Instant::now();
    let mut stage = Command::new(exe)
        .arg(scene)
        .envs(pulse.env())
        .env("DISPLAY", &display.display)
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let deadline = launched + Duration::from_secs(60);
    let mut peak = 0;
    let mut exited = None;
    let heard = recording.wait_for_sound(1e-4, deadline, || {
        if let Some(p) = peak_memory(stage.id()) {
            peak = peak.max(p);
        }
        exited = stage.try_wait().ok().flatten();
        exited.is_some()
    });
    if let Some(status) = exited {
        let _ = std::fs::remove_file(&recording_path);
        return Err(format!("the stage exited ({status}) before it was heard"));
    }
    let first = heard.map(|t| t.duration_since(launched).as_secs_f64());
    let peak = peak.max(watch_peak(&mut stage, Some(Instant::now() + Duration::from_secs_f64(play_s)))?);
    drop(recording);
    let _ = std::fs::remove_file(&recording_path);
    let first_sound_s = first.ok_or("no sound reached the sink within 60 s")?;
    Ok(StageFigures { first_sound_s, server_s, peak_memory: peak })
}

/// Runs the whole comparison and prints it.
pub fn run(cache: &Path, exe: &Path, demo: &Path) -> Result<(), String> {
    let stems = 32;
    println!("making the test session in {} (once) ...", cache.display());
    let long = make_song(&cache.join("song-240s"), stems, 240.0)?;
    let short = make_song(&cache.join("song-30s"), stems, 30.0)?;
    let size: u64 = std::fs::read_dir(long.parent().unwrap_or(Path::new(".")))
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "{stems} stems × 240 s, 24-bit WAV, half at 44.1 kHz and half at 48 kHz ({:.1} GB), against the 45 s demo:",
        size as f64 / 1e9
    );
    let mb = |b: u64| b as f64 / 1e6;
    let out = std::env::temp_dir().join(format!("proxemix-bench-render-{}.wav", std::process::id()));
    let (short_mem, short_s) = render_memory(exe, &short, &out)?;
    let (long_mem, long_s) = render_memory(exe, &long, &out)?;
    let _ = std::fs::remove_file(&out);
    println!(
        "  render peak memory     30 s song {:7.0} MB ({:5.1} s)   240 s song {:7.0} MB ({:5.1} s)   ratio {:.2}×  (target ≤ 300 MB, flat)",
        mb(short_mem),
        short_s,
        mb(long_mem),
        long_s,
        long_mem as f64 / short_mem.max(1) as f64
    );
    match (stage_figures(exe, demo, 3.0), stage_figures(exe, &long, 3.0)) {
        (Ok(d), Ok(s)) => {
            println!(
                "  launch → first sound   demo {:8.2} s          session {:8.2} s           ratio {:.2}×  (target ≤ 1.5 s)",
                d.first_sound_s,
                s.first_sound_s,
                s.first_sound_s / d.first_sound_s.max(1e-3)
            );
            println!(
                "    of which the sound server's own: paplay playing a tone, measured the same way: {:.2} s and {:.2} s",
                d.server_s, s.server_s
            );
            println!(
                "  stage peak memory      demo {:7.0} MB          session {:7.0} MB          ratio {:.2}×  (target ≤ 1.0 GB)",
                mb(d.peak_memory),
                mb(s.peak_memory),
                s.peak_memory as f64 / d.peak_memory.max(1) as f64
            );
        }
        (d, s) => {
            let why = d.err().or(s.err()).unwrap_or_default();
            println!("  the stage figures need a sound server and a display: {why}");
        }
    }
    Ok(())
}

/// Where the session is kept between runs.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("PROXEMIX_BENCH_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        home.join(".cache/proxemix/bench-session")
    })
}

/// The scene the demo figures are measured on.
pub fn demo_scene() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenes/demo.ron")
}
