//! Hostile paths, files, scenes and links, as a user's mistake or a crafted file brings them: each is refused
//! with the file and the reason (exit 2) or played (exit 0), in under 10 s, under 1 GB of memory with a 4 GB
//! address-space cap, with no panic, and every file that was there before is byte for byte the same after.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// What a run of the command line did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    seconds: f64,
    peak_mb: f64,
}

/// Runs `proxemix args` in `cwd` with a 4 GB address-space cap (prlimit), its peak memory measured (GNU time),
/// killed after 30 s (the limit asserted is 10 s).
fn run_capped(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Run {
    let started = Instant::now();
    let mut command = Command::new("/usr/bin/time");
    command
        .args(["-f", "peak-kb %M", "prlimit", "--as=4294967296", "--", "timeout", "-s", "KILL", "30"])
        .arg(env!("CARGO_BIN_EXE_proxemix"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_BACKTRACE")
        .env_remove("PROXEMIX_TEST_DECODER_PANIC");
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("run proxemix under /usr/bin/time and prlimit (scripts/setup.sh installs them)");
    let seconds = started.elapsed().as_secs_f64();
    let mut stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let peak_kb = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("peak-kb ").and_then(|v| v.trim().parse::<f64>().ok()))
        .expect("GNU time's peak memory");
    stderr = stderr
        .lines()
        .filter(|l| !l.starts_with("peak-kb ") && !l.starts_with("Command "))
        .collect::<Vec<_>>()
        .join("\n");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
        seconds,
        peak_mb: peak_kb / 1024.0,
    }
}

/// Every entry of a folder (recursively): regular files by their bytes, anything else by its kind.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut all = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            let kind = std::fs::symlink_metadata(&path).unwrap().file_type();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                all.insert(path.clone(), std::fs::read(&path).unwrap());
            } else if kind.is_symlink() {
                all.insert(
                    path.clone(),
                    format!("link to {}", std::fs::read_link(&path).unwrap().display()).into_bytes(),
                );
            } else {
                all.insert(path.clone(), b"special".to_vec());
            }
        }
    }
    all
}

/// The run was refused as it should be: exit 2, a message naming `file` and saying `why`, quickly, in little
/// memory, no panic, no temporary file left, and the folder as it was.
#[track_caller]
fn assert_refused(run: &Run, file: &str, why: &str) {
    assert_eq!(run.code, Some(2), "exit code; stderr: {}", run.stderr);
    assert!(run.stderr.contains(file), "the message names {file:?}: {}", run.stderr);
    assert!(run.stderr.contains(why), "the message says {why:?}: {}", run.stderr);
    assert_bounded(run);
}

#[track_caller]
fn assert_bounded(run: &Run) {
    assert!(!run.stderr.contains("panicked"), "no panic: {}", run.stderr);
    assert!(run.seconds < 10.0, "done in {:.1} s (limit 10 s): {}", run.seconds, run.stderr);
    assert!(run.peak_mb < 1024.0, "peak memory {:.0} MB (limit 1 GB)", run.peak_mb);
}

#[track_caller]
fn assert_unchanged(before: &BTreeMap<PathBuf, Vec<u8>>, dir: &Path, outputs: &[&str]) {
    let after = snapshot(dir);
    for (path, bytes) in before {
        assert!(after.get(path) == Some(bytes), "{} was changed or removed", path.display());
    }
    for path in after.keys() {
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(
            before.contains_key(path) || outputs.iter().any(|o| path.ends_with(o)),
            "{} appeared (only {outputs:?} may)",
            path.display()
        );
        assert!(
            before.contains_key(path) || !name.contains(".proxemix-"),
            "a temporary file was left: {}",
            path.display()
        );
    }
}

/// A folder with a one-second stem `a.wav` and the scene `s.ron` that plays it.
fn session(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    write_mono_wav(&dir.path("a.wav"), &noise(SR as usize, 0.2, 7));
    std::fs::write(dir.path("s.ron"), scene_text(&[stem("a", "a.wav", (0.0, 1.2, -1.0), 1.0, 0.0)], 0.0)).unwrap();
    dir
}

fn one_stem_scene(dir: &TempDir, scene: &str, file: &str) {
    std::fs::write(dir.path(scene), scene_text(&[stem("x", file, (0.0, 1.2, -1.0), 1.0, 0.0)], 0.0)).unwrap();
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().expect("mkfifo").success();
    assert!(ok, "mkfifo {}", path.display());
}

#[test]
fn an_output_that_is_an_input_a_fifo_a_device_or_a_folder_is_refused_before_any_work() {
    let dir = session("hostile-outputs");
    std::os::unix::fs::symlink("a.wav", dir.path("link.wav")).unwrap();
    std::fs::hard_link(dir.path("a.wav"), dir.path("hard.wav")).unwrap();
    mkfifo(&dir.path("fifo.wav"));
    std::fs::create_dir(dir.path("folder.wav")).unwrap();
    let before = snapshot(&dir.0);
    let cases: [(&[&str], &str, &str); 8] = [
        (&["render", "s.ron", "-o", "a.wav"], "a.wav", "an input of this render"),
        (&["render", "s.ron", "-o", "s.ron"], "s.ron", "an input of this render"),
        (&["render", "s.ron", "-o", "link.wav"], "link.wav", "leads to a.wav"),
        (&["render", "s.ron", "-o", "hard.wav"], "hard.wav", "an input of this render"),
        (&["render", "s.ron", "-o", "fifo.wav"], "fifo.wav", "is a FIFO"),
        (&["render", "s.ron", "-o", "/dev/null"], "/dev/null", "is a device"),
        (&["render", "s.ron", "-o", "folder.wav"], "folder.wav", "is a folder"),
        (&["render", "s.ron", "-o", "missing-folder/x.wav"], "missing-folder", "does not exist"),
    ];
    for (args, file, why) in cases {
        let run = run_capped(args, &dir.0, &[]);
        assert_refused(&run, file, why);
    }
    assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device_like(), "/dev/null is still a device");
    // A handout is named after its scene: beside a stem of the same name, its WAV would replace the stem.
    std::fs::copy(dir.path("s.ron"), dir.path("a.ron")).unwrap();
    let before = {
        let mut b = before;
        b.extend(snapshot(&dir.0));
        b
    };
    let run = run_capped(&["render", "a.ron", "--handout", "."], &dir.0, &[]);
    assert_refused(&run, "a.wav", "an input of this render");
    // `new` writing its scene over one of the audio files it names.
    let run = run_capped(&["new", ".", "-o", "a.wav", "--force"], &dir.0, &[]);
    assert_refused(&run, "a.wav", "an input of this render");
    assert_unchanged(&before, &dir.0, &[]);
}

/// What std does not say about a file type in one call.
trait DeviceLike {
    fn is_char_device_like(&self) -> bool;
}
impl DeviceLike for std::fs::FileType {
    fn is_char_device_like(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        self.is_char_device()
    }
}

#[test]
fn a_handout_replaces_its_own_files_only_when_forced_and_backups_are_numbered() {
    let dir = session("hostile-handout");
    let first = run_capped(&["render", "s.ron", "--handout", "out"], &dir.0, &[]);
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    std::fs::write(dir.path("out/s.md"), "my notes").unwrap();
    let before = snapshot(&dir.0);
    let again = run_capped(&["render", "s.ron", "--handout", "out"], &dir.0, &[]);
    assert_refused(&again, "s.wav", "--force");
    assert_unchanged(&before, &dir.0, &[]);
    let forced = run_capped(&["render", "s.ron", "--handout", "out", "--force"], &dir.0, &[]);
    assert_eq!(forced.code, Some(0), "{}", forced.stderr);
    assert_ne!(std::fs::read_to_string(dir.path("out/s.md")).unwrap(), "my notes");

    // `new --force` twice: the first scene and the second are both kept, as NAME.bak and NAME.2.bak.
    let made = run_capped(&["new", ".", "-o", "made.ron"], &dir.0, &[]);
    assert_eq!(made.code, Some(0), "{}", made.stderr);
    std::fs::write(dir.path("made.ron"), std::fs::read_to_string(dir.path("made.ron")).unwrap() + "// mine 1\n")
        .unwrap();
    assert_eq!(run_capped(&["new", ".", "-o", "made.ron", "--force"], &dir.0, &[]).code, Some(0));
    std::fs::write(dir.path("made.ron"), std::fs::read_to_string(dir.path("made.ron")).unwrap() + "// mine 2\n")
        .unwrap();
    assert_eq!(run_capped(&["new", ".", "-o", "made.ron", "--force"], &dir.0, &[]).code, Some(0));
    assert!(std::fs::read_to_string(dir.path("made.ron.bak")).unwrap().contains("// mine 1"));
    assert!(std::fs::read_to_string(dir.path("made.ron.2.bak")).unwrap().contains("// mine 2"));
}

#[test]
fn fifos_devices_and_endless_links_are_refused_by_name_without_waiting() {
    let dir = session("hostile-inputs");
    mkfifo(&dir.path("pipe.wav"));
    mkfifo(&dir.path("pipe.ron"));
    std::os::unix::fs::symlink("/dev/zero", dir.path("zero.ron")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.path("zero.wav")).unwrap();
    std::os::unix::fs::symlink("pipe.wav", dir.path("to-pipe.wav")).unwrap();
    for (scene, file) in
        [("p.ron", "pipe.wav"), ("z.ron", "zero.wav"), ("l.ron", "to-pipe.wav"), ("d.ron", "/dev/urandom")]
    {
        one_stem_scene(&dir, scene, file);
    }
    let before = snapshot(&dir.0);
    for (args, file, why) in [
        (vec!["inspect", "pipe.ron"], "pipe.ron", "is a FIFO"),
        (vec!["inspect", "zero.ron"], "zero.ron", "is a device"),
        (vec!["render", "zero.ron", "-o", "out.wav"], "zero.ron", "is a device"),
        (vec!["render", "p.ron", "-o", "out.wav"], "pipe.wav", "is a FIFO"),
        (vec!["render", "z.ron", "-o", "out.wav"], "zero.wav", "is a device"),
        (vec!["render", "l.ron", "-o", "out.wav"], "to-pipe.wav", "is a FIFO"),
        (vec!["render", "d.ron", "-o", "out.wav"], "/dev/urandom", "is a device"),
    ] {
        let run = run_capped(&args, &dir.0, &[]);
        assert_refused(&run, file, why);
    }
    // `new` over a folder holding them skips them and stages the real stem.
    let run = run_capped(&["new", ".", "-o", "new.ron"], &dir.0, &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_bounded(&run);
    assert_unchanged(&before, &dir.0, &["new.ron"]);
}

#[test]
fn a_one_sample_stem_loops_for_thirty_seconds_without_reopening_its_file() {
    let dir = TempDir::new("hostile-one-sample");
    write_mono_wav(&dir.path("one.wav"), &[0.5]);
    one_stem_scene(&dir, "one.ron", "one.wav");
    let run = run_capped(&["render", "one.ron", "-o", "out.wav", "--seconds", "30", "--bits", "32f"], &dir.0, &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_bounded(&run);
    let (l, r) = read_stereo(&dir.path("out.wav"));
    assert_eq!(l.len(), 30 * SR as usize);
    assert_clean(&l);
    assert_clean(&r);
    // One sample each lap, every lap: a click train whose energy is the same in the first and last seconds.
    let second = SR as usize;
    let (first, last) = (energy(&l[..second]), energy(&l[l.len() - second..]));
    assert!(first > 0.0 && (db(last / first)).abs() < 1.0, "every lap plays: {first} vs {last}");
}

/// A WAV header and samples at any rate (hound refuses none, but the test writes it itself to be sure of the
/// bytes).
fn write_float_wav(path: &Path, rate: u32, samples: &[f32]) {
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(b"RIFF").unwrap();
    f.write_all(&(36 + data.len() as u32).to_le_bytes()).unwrap();
    f.write_all(b"WAVEfmt ").unwrap();
    for field in [16u32.to_le_bytes().to_vec(), 3u16.to_le_bytes().to_vec(), 1u16.to_le_bytes().to_vec()] {
        f.write_all(&field).unwrap();
    }
    f.write_all(&rate.to_le_bytes()).unwrap();
    f.write_all(&(rate * 4).to_le_bytes()).unwrap();
    f.write_all(&4u16.to_le_bytes()).unwrap();
    f.write_all(&32u16.to_le_bytes()).unwrap();
    f.write_all(b"data").unwrap();
    f.write_all(&(data.len() as u32).to_le_bytes()).unwrap();
    f.write_all(&data).unwrap();
}

fn sine(rate: u32, hz: f64, seconds: f64, amp: f32) -> Vec<f32> {
    (0..(rate as f64 * seconds) as usize)
        .map(|n| amp * (std::f64::consts::TAU * hz * n as f64 / rate as f64).sin() as f32)
        .collect()
}

/// The strongest frequency of `x` (Hz), by a plain DFT scan around `around` (±50%).
fn peak_hz(x: &[f32], around: f64) -> f64 {
    let x = &x[..x.len().min(SR as usize)];
    let mut best = (0.0, 0.0);
    let mut hz = around * 0.5;
    while hz < around * 1.5 {
        let w = std::f64::consts::TAU * hz / SR as f64;
        let (mut re, mut im) = (0.0, 0.0);
        for (n, &v) in x.iter().enumerate() {
            re += v as f64 * (w * n as f64).cos();
            im += v as f64 * (w * n as f64).sin();
        }
        let power = re * re + im * im;
        if power > best.1 {
            best = (hz, power);
        }
        hz += 5.0;
    }
    best.0
}

#[test]
fn a_prime_sample_rate_plays_in_bounded_memory_and_rates_outside_the_range_are_refused() {
    let dir = TempDir::new("hostile-rates");
    // 767,957 Hz is prime: nothing in common with 48 kHz, so no exact FFT period exists.
    write_float_wav(&dir.path("prime.wav"), 767_957, &sine(767_957, 1000.0, 1.5, 0.3));
    write_float_wav(&dir.path("slow.wav"), 3_000, &sine(3_000, 100.0, 1.0, 0.3));
    write_float_wav(&dir.path("fast.wav"), 1_000_000, &sine(1_000_000, 100.0, 0.2, 0.3));
    for (scene, file) in [("prime.ron", "prime.wav"), ("slow.ron", "slow.wav"), ("fast.ron", "fast.wav")] {
        one_stem_scene(&dir, scene, file);
    }
    let run = run_capped(&["render", "prime.ron", "-o", "prime-out.wav", "--bits", "32f"], &dir.0, &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_bounded(&run);
    let (l, _) = read_stereo(&dir.path("prime-out.wav"));
    assert_clean(&l);
    let hz = peak_hz(&l[SR as usize / 4..], 1000.0);
    assert!((hz - 1000.0).abs() <= 5.0, "the 1 kHz sine comes out at 1 kHz, not {hz} Hz");
    for (scene, file) in [("slow.ron", "slow.wav"), ("fast.ron", "fast.wav")] {
        let run = run_capped(&["render", scene, "-o", "x.wav"], &dir.0, &[]);
        assert_refused(&run, file, "not plausible");
    }
}

#[test]
fn absurd_samples_are_repaired_and_reported_and_the_rest_plays() {
    let dir = TempDir::new("hostile-spikes");
    // As a real DAW export had them: stray NaN and a spike far past full scale, at 44.1 kHz (so the resampler
    // sees whatever the repair lets through).
    let mut samples = sine(44_100, 440.0, 2.0, 0.25);
    for (at, v) in [(10_000, 3e38f32), (10_001, -3e38), (20_000, f32::NAN), (30_000, 1e30), (40_000, f32::INFINITY)] {
        samples[at] = v;
    }
    write_float_wav(&dir.path("daw.wav"), 44_100, &samples);
    one_stem_scene(&dir, "daw.ron", "daw.wav");
    let run = run_capped(&["render", "daw.ron", "-o", "out.wav", "--bits", "32f"], &dir.0, &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_bounded(&run);
    assert!(run.stdout.contains("2 non-finite samples"), "NaN and infinity reported: {}", run.stdout);
    assert!(run.stdout.contains("3 samples far past full scale"), "the spikes reported: {}", run.stdout);
    let (l, _) = read_stereo(&dir.path("out.wav"));
    assert_clean(&l);
    // No chunk of the song went silent: every 128-frame window of the sine carries it.
    // (After the chain's first fifth of a second, whose level settles on its own; the spikes come after.)
    let song = &l[SR as usize / 5..(1.9 * SR as f64) as usize];
    let quietest = song.chunks(128).map(|c| energy(c) / c.len() as f64).fold(f64::INFINITY, f64::min);
    let mean = energy(song) / song.len() as f64;
    assert!(db(quietest / mean) > -6.0, "a chunk was silenced: {:.1} dB below the mean", db(quietest / mean));
}

#[test]
fn a_decoder_that_panics_ends_the_render_with_the_stem_named() {
    let dir = session("hostile-panic");
    write_mono_wav(&dir.path("b.wav"), &noise(3 * SR as usize, 0.2, 9));
    let two = scene_text(
        &[stem("a", "a.wav", (0.0, 1.2, -1.0), 1.0, 0.0), stem("bass", "b.wav", (1.0, 1.2, -1.0), 1.0, 0.0)],
        0.0,
    );
    std::fs::write(dir.path("two.ron"), two).unwrap();
    let before = snapshot(&dir.0);
    for jobs in ["1", "2"] {
        let args = ["render", "two.ron", "-o", "out.wav", "--jobs", jobs];
        let run = run_capped(&args, &dir.0, &[("PROXEMIX_TEST_DECODER_PANIC", "b.wav")]);
        assert_refused(&run, "stem \"bass\"", "b.wav: the decoder crashed");
    }
    assert_unchanged(&before, &dir.0, &[]);
}

#[test]
fn songs_past_the_length_limit_are_refused_before_they_start() {
    let dir = session("hostile-length");
    let sections = |n: usize, seconds: f64| -> String {
        let list: Vec<String> = (0..n).map(|i| format!("(name: \"s{i}\", length: Seconds({seconds}))")).collect();
        let scene = scene_text(&[stem("a", "a.wav", (0.0, 1.2, -1.0), 1.0, 0.0)], 0.0);
        let scene = scene.trim_end().strip_suffix(')').unwrap().replace("version: 1", "version: 2");
        format!("{scene}, timeline: (sections: [{}]))", list.join(", "))
    };
    std::fs::write(dir.path("hours.ron"), sections(100, 3600.0)).unwrap();
    // A scene of 100,000 sections (4 MB of text at most): checked in one pass, not one per pair.
    std::fs::write(dir.path("many.ron"), sections(100_000, 0.01)).unwrap();
    let before = snapshot(&dir.0);
    let run = run_capped(&["render", "hours.ron", "-o", "out.wav"], &dir.0, &[]);
    assert_refused(&run, "hours.ron", "timeline.sections[1].length");
    let run = run_capped(&["render", "s.ron", "-o", "out.wav", "--seconds", "7200"], &dir.0, &[]);
    assert_refused(&run, "--seconds 7200", "--max-minutes");
    let run = run_capped(
        &["render", "s.ron", "-o", "out.wav", "--seconds", "3600", "--sample-rate", "192000", "--bits", "32f"],
        &dir.0,
        &[],
    );
    assert_refused(&run, "out.wav", "past the 4 GB a WAV file can hold");
    let run = run_capped(&["inspect", "many.ron"], &dir.0, &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_bounded(&run);
    assert_unchanged(&before, &dir.0, &[]);
}

#[test]
fn names_that_are_not_utf8_control_characters_a_bom_and_a_closed_pipe() {
    use std::os::unix::ffi::OsStrExt;
    let dir = session("hostile-names");
    let odd = std::ffi::OsStr::from_bytes(b"b\xff.wav");
    std::fs::copy(dir.path("a.wav"), dir.0.join(odd)).unwrap();
    let run = run_capped(&["new", ".", "-o", "new.ron"], &dir.0, &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stderr.contains("not valid UTF-8"), "the odd name is skipped, and said: {}", run.stderr);
    let made = std::fs::read_to_string(dir.path("new.ron")).unwrap();
    assert!(made.contains("\"a.wav\"") && !made.contains('\u{fffd}'), "only the good stem is staged: {made}");

    // Escape sequences in a scene's names and notes are shown, never sent to the terminal.
    let hostile = scene_text(&[stem("a\u{1b}]0;pwned\u{7}", "a.wav", (0.0, 1.2, -1.0), 1.0, 0.0)], 0.0).replacen(
        "name: \"",
        "name: \"\u{1b}[2J",
        1,
    );
    let escaped = hostile.replace('\u{1b}', "\\u{1b}").replace('\u{7}', "\\u{7}");
    std::fs::write(dir.path("esc.ron"), &escaped).unwrap();
    let run = run_capped(&["inspect", "esc.ron"], &dir.0, &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(!run.stdout.contains('\u{1b}') && !run.stdout.contains('\u{7}'), "raw control characters printed");
    assert!(run.stdout.contains("\\u{1b}"), "shown escaped: {}", run.stdout);
    let missing = escaped.replace("a.wav", "gone\\u{1b}[31m.wav");
    std::fs::write(dir.path("esc-missing.ron"), missing).unwrap();
    let run = run_capped(&["render", "esc-missing.ron", "-o", "out.wav"], &dir.0, &[]);
    assert_refused(&run, "gone\\u{1b}[31m.wav", "cannot open");
    assert!(!run.stderr.contains('\u{1b}'), "raw escape in the error: {}", run.stderr);

    // A byte-order mark, as some editors save UTF-8.
    let text = std::fs::read_to_string(dir.path("s.ron")).unwrap();
    std::fs::write(dir.path("bom.ron"), format!("\u{feff}{text}")).unwrap();
    let run = run_capped(&["inspect", "bom.ron"], &dir.0, &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);

    // `inspect | head`: the reader has gone before anything is written.
    let mut child = Command::new(env!("CARGO_BIN_EXE_proxemix"))
        .args(["inspect", "s.ron"])
        .current_dir(&dir.0)
        .env_remove("RUST_BACKTRACE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "quiet: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn an_interrupted_render_leaves_nothing_and_a_killed_ones_leftovers_are_removed() {
    let dir = session("hostile-interrupt");
    // A dead run's leftover (no process has this PID: Linux's PIDs stop at 4,194,304), a live one's (this test
    // process) and somebody else's file: only the first may go.
    std::fs::write(dir.path(".out.wav.proxemix-4999999.tmp"), "dead").unwrap();
    let alive = format!(".other.wav.proxemix-{}.tmp", std::process::id());
    std::fs::write(dir.path(&alive), "alive").unwrap();
    std::fs::write(dir.path(".keep.tmp"), "not ours").unwrap();
    let before = snapshot(&dir.0);
    let child = Command::new(env!("CARGO_BIN_EXE_proxemix"))
        .args(["render", "s.ron", "-o", "out.wav", "--seconds", "3000", "--jobs", "1"])
        .current_dir(&dir.0)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until its temporary file is there (the render has started), then Ctrl+C.
    let temp = dir.path(&format!(".out.wav.proxemix-{}.tmp", child.id()));
    let until = Instant::now() + Duration::from_secs(10);
    while !temp.exists() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(temp.exists(), "the render writes through {}", temp.display());
    assert!(!dir.path(".out.wav.proxemix-4999999.tmp").exists(), "the dead run's leftover was removed");
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!temp.exists(), "Ctrl+C removed the temporary file");
    assert!(dir.path(&alive).exists() && dir.path(".keep.tmp").exists(), "nobody else's file was touched");
    let mut expected = before;
    expected.remove(&dir.path(".out.wav.proxemix-4999999.tmp"));
    assert_unchanged(&expected, &dir.0, &[]);
    std::fs::remove_file(dir.path(&alive)).unwrap();
}

/// A small tmpfs to fill (root only; elsewhere the test says so and passes on what it can check).
struct SmallDisk(PathBuf);
impl SmallDisk {
    fn mount(dir: &TempDir, kb: u32) -> Option<SmallDisk> {
        let at = dir.path("small-disk");
        std::fs::create_dir_all(&at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kb}k"), "tmpfs"])
            .arg(&at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk(at))
    }
}
impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_found_before_the_render_and_named_if_it_fills_during_it() {
    let dir = session("hostile-full");
    let Some(disk) = SmallDisk::mount(&dir, 256) else {
        eprintln!("skipped: cannot mount a tmpfs here (not root)");
        return;
    };
    let out = disk.0.join("x.wav");
    let run = run_capped(&["render", "s.ron", "-o", out.to_str().unwrap(), "--seconds", "10"], &dir.0, &[]);
    assert_refused(&run, "x.wav", "free");
    // Past the check (the library call writes without it, as if the space went while rendering): the error
    // names the file, and nothing is left on the disk.
    let (scene, sources) = proxemix::commands::load_for_render(&dir.path("s.ron"), SR).unwrap();
    let options = proxemix::mix::offline::RenderOptions { seconds: Some(10.0), ..Default::default() };
    let err = proxemix::mix::offline::render_wav(
        &out,
        &scene,
        &sources,
        &options,
        proxemix::mix::offline::WavFormat::Float32,
        &mut |_| {},
    )
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(err.contains("x.wav") && err.contains("No space left"), "{err}");
    assert_eq!(std::fs::read_dir(&disk.0).unwrap().count(), 0, "nothing left on the full disk");
}

mod property {
    //! Whatever validation accepts renders within the limits: scenes made at random (stems anywhere, any size,
    //! spoil and gain, sections and keyframes at any time, some far past the hour), each parsed; the accepted
    //! ones are rendered, and either refused before they start (longer than the limit) or rendered to the
    //! frame count planned, finite and under the ceiling.

    use proptest::prelude::*;
    use proxemix::mix::StemSource;
    use proxemix::mix::input::Audio;
    use proxemix::mix::offline::{self, RenderOptions};
    use proxemix::scene::Scene;

    use crate::common::{SR, noise};

    /// The longest render these cases may run (a scene asking for more is refused, which is the point).
    const MAX_S: f64 = 8.0;

    fn number() -> impl Strategy<Value = f64> {
        prop_oneof![
            4 => -50.0..50.0f64,
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(1e30),
            1 => Just(-0.0),
            1 => 0.0..5000.0f64,
        ]
    }

    fn ron(v: f64) -> String {
        if v.is_nan() {
            "NaN".into()
        } else if v.is_infinite() {
            if v > 0.0 { "inf".into() } else { "-inf".into() }
        } else {
            format!("{v:?}")
        }
    }

    prop_compose! {
        fn stem_text(i: usize)(x in number(), z in number(), size in number(), gain in number(), spoil in number(),
                keys in prop::collection::vec((number(), number(), number()), 0..4)) -> String {
            let keys: Vec<String> = keys
                .iter()
                .map(|(at, x, spoil)| format!("(at: Seconds({}), position: ({}, 1.2, -1.0), spoil: {})", ron(*at), ron(*x), ron(*spoil)))
                .collect();
            format!(
                "(name: \"s{i}\", file: \"s{i}.wav\", position: ({}, 1.2, {}), size: {}, gain_db: {}, spoil: {}, keys: [{}])",
                ron(x), ron(z), ron(size), ron(gain), ron(spoil), keys.join(", ")
            )
        }
    }

    prop_compose! {
        fn scene_text()(n in 1..4usize)(stems in (0..n).map(stem_text).collect::<Vec<_>>(),
                sections in prop::collection::vec(number(), 0..5), decay in number(), master_spoil in number())
                -> String {
            let sections: Vec<String> =
                sections.iter().enumerate().map(|(i, l)| format!("(name: \"part {i}\", length: Seconds({}))", ron(*l))).collect();
            format!(
                "(version: 2, name: \"random\", room: (decay_s: {}), master_spoil: {}, stems: [{}], timeline: (sections: [{}]))",
                ron(decay), ron(master_spoil), stems.join(", "), sections.join(", ")
            )
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn whatever_validation_accepts_renders_within_the_limits(text in scene_text(), seconds in prop::option::of(0.1..20.0f64)) {
            let Ok(scene) = Scene::parse(&text, std::path::Path::new("random.ron")) else { return Ok(()) };
            let frames: Vec<kira::Frame> =
                noise(SR as usize / 2, 0.3, 5).into_iter().map(|v| kira::Frame::new(v, -v)).collect();
            let sources: Vec<Option<StemSource>> =
                scene.stems.iter().map(|_| Some(StemSource::Memory(Audio::from_frames(SR, frames.clone())))).collect();
            let options = RenderOptions { seconds, max_seconds: MAX_S, ..RenderOptions::default() };
            let planned = offline::planned_frames(&scene, &sources, &options);
            match offline::render(&scene, &sources, &options, &mut |_| {}) {
                Err(e) => {
                    prop_assert!(planned.is_err(), "only a render past the limit is refused: {e}");
                    prop_assert!(e.to_string().contains("--max-minutes"), "{e}");
                }
                Ok(rendered) => {
                    let planned = planned.expect("planned within the limit");
                    prop_assert_eq!(rendered.frames, planned);
                    let tail = offline::tail_seconds(&scene);
                    prop_assert!(planned as f64 <= (MAX_S + tail) * SR as f64 + 1.0);
                    let ceiling = 10f32.powf(scene.ceiling_dbtp / 20.0) * 1.01;
                    prop_assert!(rendered.interleaved.iter().all(|v| v.is_finite() && v.abs() <= ceiling));
                }
            }
        }
    }
}

/// What the fuzzer found, kept: each file in fuzz/seeds/decode named `regression-*` decodes (or is refused)
/// without a panic, and what comes out is finite and bounded. The first was found in a hundred runs on the
/// code before issue 23: a stem whose finite samples overflow rubato's FFT ("Imaginary part of first value
/// was non-zero"), as a real LMMS export did.
#[test]
fn what_the_fuzzer_found_decodes_without_a_panic() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/decode");
    let mut found = 0;
    for entry in std::fs::read_dir(&seeds).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("regression-") {
            continue;
        }
        found += 1;
        let bytes = std::fs::read(entry.path()).unwrap();
        // As the fuzz target reads it: the first byte picks the name the file is opened under.
        let file = ["a.wav", "a.flac", "a.ogg", "a.mp3", "a.bin"][bytes[0] as usize % 5];
        let files = proxemix::files::FileSource::in_memory();
        files.put(Path::new(file), bytes[1..].to_vec());
        let decoded = std::panic::catch_unwind(|| {
            let info = proxemix::mix::input::stem_info(&files, Path::new(file), SR).ok()?;
            let mut decoder = proxemix::mix::input::StemDecoder::open(&info).ok()?;
            let mut frames = Vec::new();
            while frames.len() < 1 << 15 && decoder.read(&mut frames, 4096).is_ok_and(|n| n > 0) {}
            Some(frames)
        });
        let frames = decoded.unwrap_or_else(|_| panic!("{name}: the decoder panicked"));
        for f in frames.unwrap_or_default() {
            assert!(f.left.is_finite() && f.right.is_finite() && f.left.abs() < 1e4, "{name}: {f:?}");
        }
    }
    assert!(found >= 1, "the regression files are in {}", seeds.display());
}
