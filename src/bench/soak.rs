//! The soak: a scene on the real stage for a long while, a body moving every frame and, if asked, a seek every
//! few seconds (scripted input through the stage's own intents), with busy processes beside it if asked, heard
//! through a private PulseAudio null sink: dropouts heard, underruns counted, NaN and Inf in what was heard, and
//! how the stage's memory grows.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::pulse::{PrivateDisplay, PrivatePulse};

/// How a soak is run.
#[derive(Debug, Clone, Copy)]
pub struct SoakPlan {
    /// How long the stage plays.
    pub seconds: f64,
    /// How long before memory growth counts.
    pub warmup_s: f64,
    /// A seek every this many seconds (see `app::testing::SEEK_CYCLE`), or none.
    pub seek_every_s: Option<f64>,
    /// Processes spinning on the CPU beside the stage the whole time (a workshop laptop that also runs a
    /// browser and a video call).
    pub busy_processes: usize,
}

/// Processes that keep the CPU busy until dropped.
pub struct BusyProcesses(Vec<std::process::Child>);

impl BusyProcesses {
    /// Starts `count` shells that spin forever (at the stage's own priority).
    pub fn start(count: usize) -> Result<BusyProcesses, String> {
        let mut spinning = BusyProcesses(Vec::new());
        for _ in 0..count {
            let child = Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start a busy process: {e}"))?;
            spinning.0.push(child);
        }
        Ok(spinning)
    }
}

impl Drop for BusyProcesses {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What the soak found.
#[derive(Debug, Clone)]
pub struct SoakReport {
    /// How long the stage played, and how much of it reached the sink.
    pub seconds: f64,
    pub recorded_s: f64,
    /// Frames the stage drew, and the device's errors and late buffers, and stream underruns (its own count).
    pub frames: u64,
    pub device_errors: u64,
    pub late_buffers: u64,
    pub stream_underruns: u64,
    /// The longest a start or seek waited for the streams (silence), ms.
    pub longest_seek_wait_ms: f64,
    /// The longest a seek while playing waited for the new position before switching (the old played on), ms.
    pub longest_seek_switch_ms: f64,
    /// Stretches of 10 ms or more of exact silence in what was heard after the first sound: dropouts.
    pub gaps: usize,
    /// NaN or infinite samples in what was heard.
    pub non_finite: usize,
    /// Resident memory when the warm-up ended, and the most it reached after (bytes).
    pub memory_after_warmup: u64,
    pub memory_peak_after: u64,
    /// The plan it ran.
    pub plan: SoakPlan,
}

impl SoakReport {
    /// Memory growth after the warm-up, bytes.
    pub fn growth(&self) -> i64 {
        self.memory_peak_after as i64 - self.memory_after_warmup as i64
    }

    /// Dropouts heard and stream underruns per minute played.
    pub fn per_minute(&self) -> (f64, f64) {
        let minutes = self.seconds.max(1e-9) / 60.0;
        (self.gaps as f64 / minutes, self.stream_underruns as f64 / minutes)
    }

    /// Frames drawn per second.
    pub fn frame_rate(&self) -> f64 {
        self.frames as f64 / self.seconds.max(1e-9)
    }
}

/// Resident memory of a running process now (VmRSS), bytes.
pub fn resident_memory(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Plays `scene` on the stage (`exe`) as `plan` says, with the first body circling the listener every frame,
/// the memory read every second.
pub fn run(exe: &Path, scene: &Path, plan: SoakPlan) -> Result<SoakReport, String> {
    let SoakPlan { seconds, warmup_s, seek_every_s, busy_processes } = plan;
    let mut pulse = PrivatePulse::start(48_000)?;
    pulse.keep_warm()?;
    let display = PrivateDisplay::start()?;
    let dir = std::env::temp_dir().join(format!("proxemix-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let stats = dir.join("stats.tsv");
    let recording = pulse.record(&dir.join("sink.f32"), 200)?;
    std::thread::sleep(Duration::from_millis(300));
    let _busy = BusyProcesses::start(busy_processes)?;
    let opened = Instant::now();
    let mut stage = Command::new(exe);
    if let Some(every) = seek_every_s {
        stage.env(SEEK_EVERY, every.to_string());
    }
    let mut stage = stage
        .arg(scene)
        .envs(pulse.env())
        .env("DISPLAY", &display.display)
        .env_remove("WAYLAND_DISPLAY")
        .env(WANDER, "1")
        .env(STATS, &stats)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the stage: {e}"))?;
    let (mut after_warmup, mut peak_after) = (None, 0u64);
    while opened.elapsed().as_secs_f64() < seconds {
        std::thread::sleep(Duration::from_secs(1));
        if let Ok(Some(status)) = stage.try_wait() {
            return Err(format!("the stage exited ({status}) after {:.0} s", opened.elapsed().as_secs_f64()));
        }
        let Some(rss) = resident_memory(stage.id()) else { continue };
        if opened.elapsed().as_secs_f64() >= warmup_s {
            after_warmup.get_or_insert(rss);
            peak_after = peak_after.max(rss);
        }
    }
    let played = opened.elapsed().as_secs_f64();
    let line = std::fs::read_to_string(&stats).unwrap_or_default();
    let _ = stage.kill();
    let _ = stage.wait();
    let heard = recording.stop();
    let _ = std::fs::remove_dir_all(&dir);
    let numbers: Vec<f64> = line.split_whitespace().filter_map(|v| v.parse().ok()).collect();
    let [_, frames, errors, late, underruns, seek_wait_ms, seek_switch_ms] = numbers[..] else {
        return Err(format!("the stage wrote no stats ({})", stats.display()));
    };
    let non_finite = heard.iter().filter(|v| !v.is_finite()).count();
    Ok(SoakReport {
        seconds: played,
        recorded_s: heard.len() as f64 / 2.0 / 48_000.0,
        frames: frames as u64,
        device_errors: errors as u64,
        late_buffers: late as u64,
        stream_underruns: underruns as u64,
        longest_seek_wait_ms: seek_wait_ms,
        longest_seek_switch_ms: seek_switch_ms,
        gaps: gaps(&heard, 480),
        non_finite,
        memory_after_warmup: after_warmup.unwrap_or(0),
        memory_peak_after: peak_after,
        plan,
    })
}

/// Stretches of at least `frames` frames of exact silence (both channels) between the first and the last
/// sound: a mix with a reverb never falls to exact zero while it plays, a dropout does.
pub fn gaps(interleaved: &[f32], frames: usize) -> usize {
    let silent: Vec<bool> = interleaved.chunks_exact(2).map(|f| f[0] == 0.0 && f[1] == 0.0).collect();
    let (Some(first), Some(last)) = (silent.iter().position(|s| !s), silent.iter().rposition(|s| !s)) else {
        return 0;
    };
    let (mut count, mut run) = (0, 0);
    for &s in &silent[first..=last] {
        if s {
            run += 1;
            if run == frames {
                count += 1;
            }
        } else {
            run = 0;
        }
    }
    count
}

/// The environment variables of the stage's test hooks (`crate::app::testing`), here too so the soak builds
/// without the stage.
pub const WANDER: &str = "PROXEMIX_TEST_WANDER";
/// See [`WANDER`].
pub const STATS: &str = "PROXEMIX_TEST_STATS";
/// See [`WANDER`].
pub const SEEK_EVERY: &str = "PROXEMIX_TEST_SEEK_EVERY";

/// `proxemix bench --soak SECONDS`: runs the soak on the demo as `plan` says and prints what it found against
/// the targets; with busy processes, the same soak without them first, as its baseline.
pub fn print(exe: &Path, scene: &Path, plan: SoakPlan) -> Result<(), String> {
    let mut runs = Vec::new();
    if plan.busy_processes > 0 {
        runs.push(SoakPlan { busy_processes: 0, ..plan });
    }
    runs.push(plan);
    let mut reports = Vec::new();
    for plan in runs {
        let seeks = plan.seek_every_s.map_or("no seeks".to_string(), |s| format!("a seek every {s} s"));
        println!(
            "soak: {} on the stage for {:.0} s, the first body moving every frame, {seeks}, {} busy processes beside it ...",
            scene.display(),
            plan.seconds,
            plan.busy_processes
        );
        let r = run(exe, scene, plan)?;
        print_one(&r);
        reports.push(r);
    }
    if let [baseline, loaded] = &reports[..] {
        let (a, b) = (baseline.per_minute(), loaded.per_minute());
        println!(
            "  under load vs alone: dropouts {:.1} vs {:.1} a minute, stream underruns {:.1} vs {:.1} a minute   (target 0)",
            b.0, a.0, b.1, a.1
        );
    }
    Ok(())
}

fn print_one(r: &SoakReport) {
    let mb = |b: i64| b as f64 / 1e6;
    let (gaps_per_minute, underruns_per_minute) = r.per_minute();
    println!(
        "  played {:.0} s, {:.0} s reached the sink, {} frames ({:.1} per second)",
        r.seconds,
        r.recorded_s,
        r.frames,
        r.frame_rate()
    );
    println!("  dropouts heard (≥ 10 ms of silence)  {:>6}   {gaps_per_minute:.1} a minute   (target 0)", r.gaps);
    println!(
        "  stream underruns                      {:>6}   {underruns_per_minute:.1} a minute   (target 0)",
        r.stream_underruns
    );
    println!(
        "  seeks: longest silence waiting {:.1} ms, longest switch {:.1} ms (the old position playing on)",
        r.longest_seek_wait_ms, r.longest_seek_switch_ms
    );
    println!("  device errors · late buffers          {:>6} · {}", r.device_errors, r.late_buffers);
    println!("  NaN / Inf samples heard               {:>6}   (target 0)", r.non_finite);
    println!(
        "  memory after {:.0} s {:.0} MB, most after {:.0} MB: growth {:+.1} MB   (target ≤ 10 MB)",
        r.plan.warmup_s,
        mb(r.memory_after_warmup as i64),
        mb(r.memory_peak_after as i64),
        mb(r.growth())
    );
}

#[cfg(test)]
mod tests {
    use super::gaps;

    #[test]
    fn a_run_of_exact_silence_inside_the_sound_is_a_gap_and_silence_around_it_is_not() {
        let sound = |n: usize| (0..n * 2).map(|i| ((i as f32) * 0.01).sin() * 0.1 + 0.2).collect::<Vec<f32>>();
        let mut heard = vec![0.0; 2 * 4800];
        heard.extend(sound(4800));
        assert_eq!(gaps(&heard, 480), 0, "silence before the first sound is not a dropout");
        heard.extend(vec![0.0; 2 * 479]);
        heard.extend(sound(100));
        assert_eq!(gaps(&heard, 480), 0, "479 frames are shorter than a gap");
        heard.extend(vec![0.0; 2 * 960]);
        heard.extend(sound(100));
        heard.extend(vec![0.0; 2 * 4800]);
        assert_eq!(gaps(&heard, 480), 1, "one 20 ms dropout, and silence after the last sound is not one");
    }
}
