//! A private PulseAudio server with a null sink, to hear the stage on a machine without a sound card: its own
//! runtime folder and HOME (nothing system-wide changes), ALSA's default device pointed at it, the sink's monitor
//! recorded with `parec`. Everything it starts is stopped when it is dropped, also when a test fails.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The null sink's name.
pub const SINK: &str = "proxemix_bench";

/// A PulseAudio server of our own.
pub struct PrivatePulse {
    dir: PathBuf,
    /// `None` while killed on purpose.
    server: Option<Child>,
    rate: u32,
    /// A stream of silence that keeps the sink running at a low latency (see [`PrivatePulse::keep_warm`]).
    warm: Option<Child>,
}

impl PrivatePulse {
    /// Starts a server with a float null sink at `rate` and makes it the default; the reason if it cannot.
    pub fn start(rate: u32) -> Result<PrivatePulse, String> {
        let dir = std::env::temp_dir().join(format!("proxemix-pulse-{}-{}", std::process::id(), unique()));
        let home = dir.join("home");
        std::fs::create_dir_all(&home).map_err(|e| format!("{}: {e}", home.display()))?;
        std::fs::write(home.join(".asoundrc"), "pcm.!default { type pulse }\nctl.!default { type pulse }\n")
            .map_err(|e| format!("cannot write .asoundrc: {e}"))?;
        match serve(&dir, rate) {
            Ok(server) => Ok(PrivatePulse { dir, server: Some(server), rate, warm: None }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    /// The server goes away at once, as a crashed or stopped sound server does (its streams with it).
    pub fn kill_server(&mut self) {
        if let Some(mut warm) = self.warm.take() {
            let _ = warm.kill();
            let _ = warm.wait();
        }
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }

    /// A new server in the same place (the same socket, the same null sink), as a restarted one is; kept warm.
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill_server();
        self.server = Some(serve(&self.dir, self.rate)?);
        self.keep_warm()
    }

    /// Plays silence into the sink at a 10 ms latency for as long as the server runs: an idle null sink runs at
    /// a 2 s latency and holds the first stream that joins it back by about 1.5 s (any stream: `paplay`'s too);
    /// a sink that already plays takes a new stream at once, as a sound card does.
    pub fn keep_warm(&mut self) -> Result<(), String> {
        let child = Command::new("pacat")
            .args(["--latency-msec=10", "--format=float32le", "--channels=2"])
            .arg(format!("--rate={}", self.rate))
            .envs(self.env())
            .stdin(std::fs::File::open("/dev/zero").map_err(|e| e.to_string())?)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start pacat ({e})"))?;
        self.warm = Some(child);
        std::thread::sleep(Duration::from_millis(300));
        Ok(())
    }

    /// The environment a program needs to play into this server (through ALSA's default device).
    pub fn env(&self) -> Vec<(OsString, OsString)> {
        env_for(&self.dir)
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Starts recording the sink's monitor (stereo float at the sink's rate) into `path`, asking the server for
    /// `latency_ms` of buffering: short to time things, long (a recorder that falls behind loses nothing) to
    /// compare what was played.
    pub fn record(&self, path: &Path, latency_ms: u32) -> Result<Recording, String> {
        let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let child = Command::new("parec")
            .args(["-d", &format!("{SINK}.monitor"), "--format=float32le", "--channels=2", "--raw"])
            .arg(format!("--rate={}", self.rate))
            .arg(format!("--latency-msec={latency_ms}"))
            .envs(self.env())
            .stdout(file)
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start parec ({e})"))?;
        Ok(Recording { child, path: path.to_owned(), started: Instant::now() })
    }
}

impl Drop for PrivatePulse {
    fn drop(&mut self) {
        self.kill_server();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts `pulseaudio` with its runtime folder and HOME in `dir` and a float null sink at `rate`, waits until it
/// answers and makes the sink the default.
fn serve(dir: &Path, rate: u32) -> Result<Child, String> {
    let mut server = Command::new("pulseaudio")
        .args(["-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=false", "--log-target=stderr"])
        .arg("-L")
        .arg("module-native-protocol-unix auth-anonymous=1")
        .arg("-L")
        .arg(format!("module-null-sink sink_name={SINK} rate={rate} channels=2 format=float32le"))
        .envs(env_for(dir))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start pulseaudio ({e}); install pulseaudio and pulseaudio-utils"))?;
    let pulse = |args: &[&str]| {
        Command::new("pactl").args(args).envs(env_for(dir)).stdout(Stdio::null()).stderr(Stdio::null()).status()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if pulse(&["info"]).is_ok_and(|s| s.success()) {
            break;
        }
        if let Ok(Some(status)) = server.try_wait() {
            return Err(format!("pulseaudio exited at start ({status})"));
        }
        if Instant::now() > deadline {
            let _ = server.kill();
            let _ = server.wait();
            return Err("pulseaudio did not answer within 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = pulse(&["set-default-sink", SINK]);
    Ok(server)
}

fn env_for(dir: &Path) -> Vec<(OsString, OsString)> {
    vec![
        ("HOME".into(), dir.join("home").into()),
        ("PULSE_RUNTIME_PATH".into(), dir.as_os_str().to_owned()),
        ("XDG_RUNTIME_DIR".into(), dir.as_os_str().to_owned()),
    ]
}

fn unique() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The sink's monitor being recorded.
pub struct Recording {
    child: Child,
    path: PathBuf,
    /// When `parec` was started.
    pub started: Instant,
}

impl Recording {
    /// The frames recorded so far, interleaved stereo (reads the file; the recording goes on).
    pub fn so_far(&self) -> Vec<f32> {
        read_f32(&self.path)
    }

    /// Watches the recording as it grows and returns the moment a sample above `threshold` arrived (to within
    /// a few milliseconds: the file is polled every 2 ms, and parec delivers within its 10 ms latency). The
    /// sink's monitor does not run on a clock of its own while nothing plays, so a sample's position in the
    /// recording says nothing about when it was played: only the wall clock does. `stop` is asked between polls
    /// and ends the wait early when it says so.
    pub fn wait_for_sound(&self, threshold: f32, deadline: Instant, mut stop: impl FnMut() -> bool) -> Option<Instant> {
        let mut file = std::fs::File::open(&self.path).ok()?;
        let mut pending: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        while Instant::now() < deadline {
            let n = file.read(&mut buf).unwrap_or(0);
            if n == 0 {
                if stop() {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            pending.extend_from_slice(&buf[..n]);
            let whole = pending.len() / 4 * 4;
            let heard = pending[..whole]
                .chunks_exact(4)
                .any(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]).abs() > threshold);
            if heard {
                return Some(Instant::now());
            }
            pending.drain(..whole);
        }
        None
    }

    /// Starts a thread that reads the recording as it grows and notes when each piece arrived: what it returns
    /// at the end maps a frame of the recording to the moment it was here (to within the 2 ms the file is polled
    /// at and parec's own latency).
    pub fn clock(&self) -> ArrivalClock {
        let path = self.path.clone();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut arrivals = Vec::new();
            let Ok(mut file) = std::fs::File::open(&path) else { return arrivals };
            let (mut bytes, mut buf) = (0usize, vec![0u8; 1 << 16]);
            while !stopping.load(std::sync::atomic::Ordering::Relaxed) {
                let n = file.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                }
                bytes += n;
                arrivals.push((Instant::now(), (bytes / 8) as u64));
            }
            arrivals
        });
        ArrivalClock { stop, thread: Some(thread) }
    }

    /// Stops recording and returns everything recorded.
    pub fn stop(mut self) -> Vec<f32> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        read_f32(&self.path)
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// When the frames of a recording arrived (see [`Recording::clock`]).
pub struct ArrivalClock {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<(Instant, u64)>>>,
}

impl ArrivalClock {
    /// Stops watching; returns (moment, frames recorded by then), in order.
    pub fn finish(mut self) -> Vec<(Instant, u64)> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default()
    }
}

/// The moment frame `frame` of a recording had arrived, from an [`ArrivalClock`]'s notes.
pub fn arrival_of(arrivals: &[(Instant, u64)], frame: u64) -> Option<Instant> {
    let i = arrivals.partition_point(|(_, frames)| *frames <= frame);
    arrivals.get(i).map(|(at, _)| *at)
}

fn read_f32(path: &Path) -> Vec<f32> {
    let mut bytes = Vec::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_end(&mut bytes);
    }
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// An X server of our own (Xvfb) for a stage with a window; stopped when dropped.
pub struct PrivateDisplay {
    server: Child,
    pub display: String,
}

impl PrivateDisplay {
    pub fn start() -> Result<PrivateDisplay, String> {
        for n in 90..140 {
            let (socket, lock) = (format!("/tmp/.X11-unix/X{n}"), format!("/tmp/.X{n}-lock"));
            match std::fs::read_to_string(&lock) {
                // A lock left by a server that is gone (a machine restarted under it): clear it and its socket.
                Ok(pid) if !process_alive(pid.trim()) => {
                    let _ = std::fs::remove_file(&lock);
                    let _ = std::fs::remove_file(&socket);
                }
                Ok(_) => continue,
                Err(_) if Path::new(&socket).exists() => continue,
                Err(_) => {}
            }
            let display = format!(":{n}");
            let mut server = Command::new("Xvfb")
                .args([display.as_str(), "-screen", "0", "1600x900x24", "-nolisten", "tcp"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start Xvfb ({e}); install xvfb"))?;
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if Path::new(&socket).exists() {
                    return Ok(PrivateDisplay { server, display });
                }
                if let Ok(Some(_)) = server.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = server.kill();
            let _ = server.wait();
        }
        Err("no free X display for Xvfb".into())
    }
}

impl Drop for PrivateDisplay {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// Peak resident memory of a running process so far (VmHWM), bytes.
pub fn peak_memory(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Whether the process with this id (as a lock file writes it) still runs.
fn process_alive(pid: &str) -> bool {
    pid.parse::<u32>().is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
}
