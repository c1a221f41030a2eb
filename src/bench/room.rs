//! `proxemix bench --room`: the room under load on the real stage (a private X display and PulseAudio null
//! sink): a Chromium phone's drag to sound beside the frame time and the device buffer, the same during floods,
//! 64 simulated participants moving 30 times a second beside the same room idle, and a phone that drops and
//! comes back beside a fresh join.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use super::latency::{block_levels, latencies, quantile, write_tone};
use super::pulse::{PrivateDisplay, PrivatePulse};
use super::soak::{STATS, gaps, resident_memory};

const RATE: u32 = 48_000;

/// A stage with its room open on loopback, run as a child.
struct RoomStage {
    child: Child,
    link: String,
    address: SocketAddr,
    token: String,
    stats: PathBuf,
}

impl RoomStage {
    fn open(
        exe: &Path,
        scene: &Path,
        args: &[&str],
        pulse: &PrivatePulse,
        display: &PrivateDisplay,
        dir: &Path,
    ) -> Result<RoomStage, String> {
        let (log, stats) = (dir.join("stage.log"), dir.join("stats.tsv"));
        let _ = std::fs::remove_file(&stats);
        let mut child = Command::new(exe)
            .arg(scene)
            .args(["--room", "--room-interface", "127.0.0.1", "--room-port", "0"])
            .args(args)
            .envs(pulse.env())
            .env("DISPLAY", &display.display)
            .env_remove("WAYLAND_DISPLAY")
            .env(STATS, &stats)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("cannot start the stage: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(120);
        let link = loop {
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(line) = said.lines().find(|l| l.starts_with("proxemix: the room is open at ")) {
                break line.split_whitespace().nth(6).unwrap_or_default().to_owned();
            }
            if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
                let _ = child.kill();
                return Err(format!("the stage's room did not open:\n{said}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let rest = link.strip_prefix("http://").ok_or("a link without http://")?;
        let (address, token) = rest.split_once("/#t=").ok_or("a link without a token")?;
        let address = address.parse().map_err(|e| format!("{address}: {e}"))?;
        let mut stage = RoomStage { child, link: link.clone(), address, token: token.to_owned(), stats };
        // Until the stage draws steadily (software rendering compiles its pipelines for a while).
        while stage.frames() < 30 {
            if Instant::now() > deadline {
                stage.close();
                return Err("the stage did not draw 30 frames in 120 s".into());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Ok(stage)
    }

    /// Frames drawn so far (the stage's test statistics, written each second).
    fn frames(&self) -> u64 {
        let line = std::fs::read_to_string(&self.stats).unwrap_or_default();
        line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    fn memory(&self) -> u64 {
        resident_memory(self.child.id()).unwrap_or(0)
    }

    fn close(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RoomStage {
    fn drop(&mut self) {
        self.close();
    }
}

/// Milliseconds per frame over a stretch: (frames, when) at its start and its end.
fn frame_ms(from: (u64, Instant), to: (u64, Instant)) -> f64 {
    to.1.duration_since(from.1).as_secs_f64() * 1000.0 / (to.0.saturating_sub(from.0)).max(1) as f64
}

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// A simulated phone: the page's JSON over a plain WebSocket.
struct Phone {
    socket: Socket,
    sent: u64,
    busy: u64,
}

impl Phone {
    /// Joins; the welcome's answer comes back with it.
    fn join(address: SocketAddr, hello: Value) -> Result<(Phone, Value), String> {
        let (mut socket, _) = tungstenite::connect(format!("ws://{address}/ws")).map_err(|e| e.to_string())?;
        if let MaybeTlsStream::Plain(tcp) = socket.get_mut() {
            let _ = tcp.set_read_timeout(Some(Duration::from_millis(20)));
            let _ = tcp.set_nodelay(true);
        }
        socket.send(Message::text(hello.to_string())).map_err(|e| e.to_string())?;
        let mut phone = Phone { socket, sent: 0, busy: 0 };
        let first = phone.until(Duration::from_secs(10), |v| v["t"] == "welcome" || v["t"] == "bye")?;
        if first["t"] != "welcome" {
            return Err(format!("refused: {first}"));
        }
        Ok((phone, first))
    }

    fn send(&mut self, message: Value) -> Result<(), String> {
        self.socket.send(Message::text(message.to_string())).map_err(|e| e.to_string())?;
        self.sent += 1;
        Ok(())
    }

    /// Reads what came (counting "busy" notices) until a message satisfies `ok`, or the time runs out.
    fn until(&mut self, within: Duration, ok: impl Fn(&Value) -> bool) -> Result<Value, String> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(v) = self.read_one()?
                && ok(&v)
            {
                return Ok(v);
            }
        }
        Err("no answer in time".into())
    }

    /// One message, or none within the read timeout.
    fn read_one(&mut self) -> Result<Option<Value>, String> {
        match self.socket.read() {
            Ok(Message::Text(text)) => {
                // The shared room message (kilobytes, 30 times a second) is not read: parsing it on 64 threads
                // would take the machine's cores from the stage being measured.
                let wanted = ["\"t\":\"you\"", "\"t\":\"notice\"", "\"t\":\"bye\"", "\"t\":\"welcome\""];
                if !wanted.iter().any(|w| text.contains(w)) {
                    return Ok(None);
                }
                let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
                if v["t"] == "notice" && v["text"].as_str().is_some_and(|t| t.contains("busy")) {
                    self.busy += 1;
                }
                Ok(Some(v))
            }
            Ok(_) => Ok(None),
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
            {
                Ok(None)
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

/// What a flooding phone saw: messages it got out, and how long until it was cut off (if it was).
struct Flood {
    sent: u64,
    cut_after: Option<Duration>,
}

/// Joins and sends 10,000 messages a second (paced by the millisecond) until the room cuts it off, or a second.
fn flood(address: SocketAddr, token: &str) -> Result<Flood, String> {
    let (mut phone, _) = Phone::join(address, json!({"t": "hello", "token": token, "name": "flood"}))?;
    if let MaybeTlsStream::Plain(tcp) = phone.socket.get_mut() {
        let _ = tcp.set_read_timeout(Some(Duration::from_micros(200)));
    }
    let started = Instant::now();
    let mut cut_after = None;
    'flooding: for ms in 0..1000u32 {
        for k in 0..10 {
            let m = json!({"t": "move", "stem": 0, "x": (k as f32) * 0.01, "z": -1.0, "g": 1});
            if phone.send(m).is_err() {
                cut_after = Some(started.elapsed());
                break 'flooding;
            }
        }
        match phone.read_one() {
            Ok(Some(v)) if v["t"] == "bye" => {
                cut_after = Some(started.elapsed());
                break;
            }
            Err(_) => {
                cut_after = Some(started.elapsed());
                break;
            }
            _ => {}
        }
        if let Some(wait) = (started + Duration::from_millis(ms as u64 + 1)).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    Ok(Flood { sent: phone.sent, cut_after })
}

/// The phone's drag to sound, and the same during floods.
struct DragFigures {
    plain_ms: Vec<f64>,
    flooded_ms: Vec<f64>,
    asked: (usize, usize),
    floods: Vec<Flood>,
    frame_ms: f64,
    buffer_ms: f64,
}

fn drag_to_sound(
    exe: &Path,
    pulse: &PrivatePulse,
    display: &PrivateDisplay,
    dir: &Path,
    moves: usize,
    flooded: usize,
) -> Result<DragFigures, String> {
    // One steady tone 0.6 m ahead, no reverb: its level says where it is (as `bench --latency`).
    write_tone(&dir.join("tone.wav"), 120.0)?;
    let scene = dir.join("latency.ron");
    std::fs::write(
        &scene,
        "(version: 1, name: \"room latency\", room: (size: 12.0, decay_s: 1.2, damping: 0.5, reverb_db: -60.0), \
         stems: [(name: \"tone\", file: \"tone.wav\", position: (0.0, 1.2, -0.6), size: 1.0)])",
    )
    .map_err(|e| e.to_string())?;
    let buffer = crate::mix::graph::DEFAULT_BUFFER_FRAMES;
    let recording = pulse.record(&dir.join("sink.f32"), 5)?;
    let clock = recording.clock();
    let stage = RoomStage::open(exe, &scene, &["--buffer", &buffer.to_string()], pulse, display, dir)?;
    let pause_ms = 1500;
    let mut node = Command::new("node")
        .current_dir(web_test_dir())
        .arg("room-latency.mjs")
        .arg(&stage.link)
        .args([(moves + flooded).to_string(), pause_ms.to_string()])
        .args(["0", "-0.6", "0", "-3.0"])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run node ({e}); `make bench-room` installs web/test's packages"))?;
    let (base, base_epoch) = (Instant::now(), SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default());
    let to_instant = |epoch_ms: f64| {
        let since = Duration::from_secs_f64(epoch_ms / 1000.0);
        if since >= base_epoch { base + (since - base_epoch) } else { base - (base_epoch - since) }
    };
    let (mut plain, mut during) = (Vec::new(), Vec::new());
    let mut flooders = Vec::new();
    let frames_from = (stage.frames(), Instant::now());
    let out = node.stdout.take().ok_or("node has no stdout")?;
    for line in BufReader::new(out).lines() {
        let line = line.map_err(|e| e.to_string())?;
        let mut words = line.split_whitespace();
        let (Some("moved"), Some(k), Some(ms)) = (words.next(), words.next(), words.next()) else { continue };
        let (k, at): (usize, f64) = (k.parse().unwrap_or(0), ms.parse().unwrap_or(0.0));
        if k <= moves {
            plain.push(to_instant(at))
        } else {
            during.push(to_instant(at))
        }
        if k >= moves && k < moves + flooded {
            // A flood that starts a moment before the next move and goes on through it until it is cut off.
            let (address, token) = (stage.address, stage.token.clone());
            flooders.push(std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(pause_ms - 30));
                flood(address, &token)
            }));
        }
    }
    let _ = node.wait();
    let frames_to = (stage.frames(), Instant::now());
    drop(stage);
    let arrivals = clock.finish();
    let heard = recording.stop();
    let floods = flooders.into_iter().filter_map(|t| t.join().ok()?.ok()).collect();
    let levels = block_levels(&heard);
    let settle = Duration::from_millis(1200);
    Ok(DragFigures {
        plain_ms: latencies(&levels, &arrivals, &plain, settle),
        flooded_ms: latencies(&levels, &arrivals, &during, settle),
        asked: (moves, flooded),
        floods,
        frame_ms: frame_ms(frames_from, frames_to),
        buffer_ms: buffer as f64 / RATE as f64 * 1000.0,
    })
}

/// 64 participants, each holding a stem and moving it 30 times a second, beside the same room idle.
struct CrowdFigures {
    participants: usize,
    seconds: f64,
    idle_frame_ms: f64,
    busy_frame_ms: f64,
    sent: u64,
    heard: u64,
    busy_notices: u64,
    gaps_idle: usize,
    gaps_busy: usize,
    memory_idle: u64,
    memory_peak: u64,
    rejoin_ms: Vec<f64>,
    fresh_join_ms: Vec<f64>,
}

/// A scene of `count` quiet tones (eight files, each used `count / 8` times), around the listener.
fn crowd_scene(dir: &Path, count: usize) -> Result<PathBuf, String> {
    let spec =
        hound::WavSpec { channels: 1, sample_rate: RATE, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    for f in 0..8 {
        let path = dir.join(format!("tone{f}.wav"));
        let mut w = hound::WavWriter::create(&path, spec).map_err(|e| format!("{}: {e}", path.display()))?;
        let hz = 110.0 * (1.0 + f as f64 * 0.5);
        for i in 0..(20 * RATE) as usize {
            let v = 0.2 * (std::f64::consts::TAU * hz * i as f64 / RATE as f64).sin();
            w.write_sample((v * 32767.0) as i16).map_err(|e| e.to_string())?;
        }
        w.finalize().map_err(|e| e.to_string())?;
    }
    let stems: Vec<String> = (0..count)
        .map(|i| {
            let a = i as f32 / count as f32 * std::f32::consts::TAU;
            let (x, z) = (2.5 * a.sin(), -2.5 * a.cos());
            format!(
                "(name: \"s{i}\", file: \"tone{}.wav\", position: ({x:.2}, 1.2, {z:.2}), size: 0.5, gain_db: -24.0)",
                i % 8
            )
        })
        .collect();
    let scene = dir.join("crowd.ron");
    let text = format!(
        "(version: 1, name: \"crowd\", room: (size: 12.0, decay_s: 1.2, damping: 0.5, reverb_db: -30.0), stems: [{}])",
        stems.join(", ")
    );
    std::fs::write(&scene, text).map_err(|e| e.to_string())?;
    Ok(scene)
}

fn crowd(
    exe: &Path,
    pulse: &PrivatePulse,
    display: &PrivateDisplay,
    dir: &Path,
    participants: usize,
    seconds: f64,
) -> Result<CrowdFigures, String> {
    let scene = crowd_scene(dir, participants)?;
    let recording = pulse.record(&dir.join("crowd.f32"), 200)?;
    let clock = recording.clock();
    // Room for one more: the newcomer of the reconnect figure.
    let most = (participants + 1).to_string();
    let stage = RoomStage::open(exe, &scene, &["--room-max", &most], pulse, display, dir)?;
    // Everyone joins and takes a stem.
    let (mut phones, mut resume) = (Vec::new(), String::new());
    for i in 0..participants {
        let (mut phone, welcome) =
            Phone::join(stage.address, json!({"t": "hello", "token": stage.token, "name": format!("p{i}")}))?;
        if i == 0 {
            resume = welcome["resume"].as_str().unwrap_or_default().to_owned();
        }
        phone.send(json!({"t": "claim", "stem": i}))?;
        phone.until(Duration::from_secs(10), |v| v["t"] == "you" && v["holds"] == json!([i]))?;
        phones.push(phone);
    }
    // The room idle (everyone connected, holding, still) for a while: the baseline.
    let idle_s = 15.0;
    let keep_reading = Arc::new(AtomicBool::new(true));
    let readers: Vec<_> = phones
        .into_iter()
        .map(|mut phone| {
            let go = keep_reading.clone();
            std::thread::spawn(move || {
                while go.load(Ordering::Relaxed) {
                    let _ = phone.read_one();
                }
                phone
            })
        })
        .collect();
    let idle_from = (stage.frames(), Instant::now());
    let idle_at = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(idle_s));
    let idle_to = (stage.frames(), Instant::now());
    let memory_idle = stage.memory();
    keep_reading.store(false, Ordering::Relaxed);
    let phones: Vec<Phone> = readers.into_iter().filter_map(|t| t.join().ok()).collect();

    // Then every phone moves its stem 30 times a second, for `seconds`.
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(memory_idle));
    let busy_from = (stage.frames(), Instant::now());
    let busy_at = Instant::now();
    let movers: Vec<_> = phones
        .into_iter()
        .enumerate()
        .map(|(i, mut phone)| {
            let stop = stop.clone();
            std::thread::spawn(move || -> Result<Phone, String> {
                let start = Instant::now();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let t = n as f32 / 30.0;
                    let a = i as f32 * 0.1 + t;
                    phone.send(json!({"t": "move", "stem": i, "x": 2.0 * a.sin(), "z": -2.0 - a.cos(), "g": 1}))?;
                    n += 1;
                    let due = start + Duration::from_secs_f64(n as f64 / 30.0);
                    while Instant::now() < due {
                        phone.read_one()?;
                    }
                }
                phone.send(json!({"t": "release", "g": 1}))?;
                Ok(phone)
            })
        })
        .collect();
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(500));
        peak.fetch_max(stage.memory(), Ordering::Relaxed);
    }
    let busy_to = (stage.frames(), Instant::now());
    let busy_until = Instant::now();
    stop.store(true, Ordering::Relaxed);
    let mut phones = Vec::new();
    for mover in movers {
        phones.push(mover.join().map_err(|_| "a phone's thread panicked")??);
    }
    // What the room heard from each (it says so in each phone's own message).
    let (mut sent, mut heard, mut busy_notices) = (0, 0, 0);
    for phone in &mut phones {
        let target = phone.sent;
        let you = phone.until(Duration::from_secs(10), |v| v["t"] == "you" && v["heard"].as_u64() >= Some(target - 1));
        sent += phone.sent - 1; // the claim is not a move
        heard += you.map_or(0, |v| v["heard"].as_u64().unwrap_or(0).saturating_sub(1));
        busy_notices += phone.busy;
    }

    // A phone that drops and comes back, ten times, beside a fresh join (welcome and nothing held).
    let (mut rejoin_ms, mut fresh_join_ms) = (Vec::new(), Vec::new());
    let mut first = phones.swap_remove(0);
    for _ in 0..10 {
        if let MaybeTlsStream::Plain(tcp) = first.socket.get_mut() {
            let _ = tcp.shutdown(std::net::Shutdown::Both);
        }
        std::thread::sleep(Duration::from_millis(300));
        let back = Instant::now();
        let (mut again, _) =
            Phone::join(stage.address, json!({"t": "hello", "token": stage.token, "name": "", "resume": resume}))?;
        again.until(Duration::from_secs(10), |v| v["t"] == "you" && v["holds"] == json!([0]))?;
        rejoin_ms.push(back.elapsed().as_secs_f64() * 1000.0);
        first = again;
        let fresh = Instant::now();
        let (mut newcomer, _) = Phone::join(stage.address, json!({"t": "hello", "token": stage.token, "name": "new"}))?;
        newcomer.until(Duration::from_secs(10), |v| v["t"] == "you")?;
        fresh_join_ms.push(fresh.elapsed().as_secs_f64() * 1000.0);
        let _ = newcomer.socket.close(None);
    }
    let memory_peak = peak.load(Ordering::Relaxed).max(stage.memory());
    drop(stage);
    drop(phones);
    let arrivals = clock.finish();
    let recorded = recording.stop();
    // The recording's frames that arrived between two moments.
    let frame_at = |t: Instant| arrivals.iter().find(|(at, _)| *at >= t).map_or(usize::MAX, |(_, f)| *f as usize);
    let slice = |from: Instant, to: Instant| {
        let b = (2 * frame_at(to)).min(recorded.len());
        &recorded[(2 * frame_at(from)).min(b)..b]
    };
    Ok(CrowdFigures {
        participants,
        seconds,
        idle_frame_ms: frame_ms(idle_from, idle_to),
        busy_frame_ms: frame_ms(busy_from, busy_to),
        sent,
        heard,
        busy_notices,
        gaps_idle: gaps(slice(idle_at, busy_at), 480),
        gaps_busy: gaps(slice(busy_at, busy_until), 480),
        memory_idle,
        memory_peak,
        rejoin_ms,
        fresh_join_ms,
    })
}

fn web_test_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web/test")
}

/// `proxemix bench --room`: every figure of the room beside its baseline.
pub fn print(exe: &Path, moves: usize, participants: usize, seconds: f64) -> Result<(), String> {
    let mut pulse = PrivatePulse::start(RATE)?;
    pulse.keep_warm()?;
    let display = PrivateDisplay::start()?;
    let dir = std::env::temp_dir().join(format!("proxemix-bench-room-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = print_in(exe, moves, participants, seconds, &pulse, &display, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn print_in(
    exe: &Path,
    moves: usize,
    participants: usize,
    seconds: f64,
    pulse: &PrivatePulse,
    display: &PrivateDisplay,
    dir: &Path,
) -> Result<(), String> {
    let flooded = (moves / 3).max(3);
    println!(
        "the room: a Chromium phone (390×844, touch) drags a body {moves} times on the real stage, then {flooded} times during floods ..."
    );
    let d = drag_to_sound(exe, pulse, display, dir, moves, flooded)?;
    let target = d.frame_ms + d.buffer_ms + 30.0;
    let (median, p95) = (quantile(&d.plain_ms, 0.5), quantile(&d.plain_ms, 0.95));
    println!("  drags found               {} of {}", d.plain_ms.len(), d.asked.0);
    println!("  phone's drag → heard      median {median:6.1} ms   95th percentile {p95:6.1} ms");
    println!(
        "  beside                    frame time {:.1} ms, device buffer {:.1} ms: target median ≤ {target:.1} ms ({}; {:.2}× the frame + buffer)",
        d.frame_ms,
        d.buffer_ms,
        if median <= target { "met" } else { "missed" },
        median / (d.frame_ms + d.buffer_ms)
    );
    let cut: Vec<f64> = d.floods.iter().filter_map(|f| f.cut_after).map(|c| c.as_secs_f64() * 1000.0).collect();
    let sent: Vec<u64> = d.floods.iter().map(|f| f.sent).collect();
    println!(
        "  floods (10,000 messages/s) cut off {} of {}: after median {:.0} ms, longest {:.0} ms (target ≤ 1000 ms); messages got out {:?}",
        cut.len(),
        d.floods.len(),
        quantile(&cut, 0.5),
        cut.iter().copied().fold(0.0, f64::max),
        sent
    );
    println!(
        "  the phone's drags during the floods: found {} of {}, median {:.1} ms ({:.2}× the drags without; target ≤ {target:.1} ms)",
        d.flooded_ms.len(),
        d.asked.1,
        quantile(&d.flooded_ms, 0.5),
        quantile(&d.flooded_ms, 0.5) / median
    );

    println!(
        "the room: {participants} simulated participants, each moving its stem 30 times a second for {seconds:.0} s ..."
    );
    let c = crowd(exe, pulse, display, dir, participants, seconds)?;
    let mb = |b: u64| b as f64 / 1e6;
    println!(
        "  frame time                {:.1} ms idle (everyone connected and still), {:.1} ms moving: {:+.1} % (target ≤ +10 %)",
        c.idle_frame_ms,
        c.busy_frame_ms,
        (c.busy_frame_ms / c.idle_frame_ms - 1.0) * 100.0
    );
    println!("  dropouts heard            {} idle, {} moving (target 0)", c.gaps_idle, c.gaps_busy);
    println!(
        "  moves                     {} sent, {} taken by the room, {} refused as busy: {} lost (target 0)",
        c.sent,
        c.heard,
        c.busy_notices,
        c.sent.saturating_sub(c.heard) + c.busy_notices
    );
    println!(
        "  the stage's memory        {:.0} MB idle, {:.0} MB at most while moving: {:+.1} MB (target: the server ≤ 50 MB)",
        mb(c.memory_idle),
        mb(c.memory_peak),
        (c.memory_peak as f64 - c.memory_idle as f64) / 1e6
    );
    println!(
        "  a phone back after a drop holds its stem again after median {:.0} ms, longest {:.0} ms (target ≤ 2000 ms), beside a fresh join's {:.0} ms ({} participants, {} s)",
        quantile(&c.rejoin_ms, 0.5),
        c.rejoin_ms.iter().copied().fold(0.0, f64::max),
        quantile(&c.fresh_join_ms, 0.5),
        c.participants,
        c.seconds
    );
    Ok(())
}
