//! The sound device: which one (by name, or the system's default), its rate and buffer, the list of them, and
//! keeping the stage heard through faults: a device that stops is let go and tried again until it plays, from
//! the playhead the song would have reached meanwhile; a switch to another device keeps the playhead.

// The browser opens its one device once and watches nothing: the watch is the desktop's.
#![cfg_attr(target_arch = "wasm32", allow(dead_code))]

use std::path::Path;
use std::time::{Duration, Instant};

use bevy::prelude::*;
use cpal::traits::{DeviceTrait, HostTrait};
use kira::backend::cpal::{CpalBackend, CpalBackendSettings};

use super::audio::{GraphFactory, StageAudio};
use super::shared::{AudioDeviceStatus, DeviceChoice, StemAudio};
#[cfg(not(target_arch = "wasm32"))]
use super::shared::{StageSet, TransportCommand, TransportState};
#[cfg(not(target_arch = "wasm32"))]
use super::stems::StageScene;
use crate::mix::graph::{GraphConfig, MixGraph};
use crate::scene::Scene;

/// Without a single callback for this long, a device that was playing has stopped (the longest buffer lasts
/// 0.19 s).
const SILENT_DEVICE: Duration = Duration::from_millis(600);
/// A device just opened may take this long to start asking for sound steadily (a sound server starts a new
/// stream in about 0.6 s here) before it counts as gone.
const STARTING_GRACE: Duration = Duration::from_secs(3);
/// A song held back further than this while its device started is moved on to where it would be.
const CATCH_UP_S: f64 = 0.03;
/// How often a device that went away is tried again.
const RETRY_EVERY: Duration = Duration::from_millis(250);

/// One output device, as the system's sound host lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputDevice {
    /// What `--device` takes: the host's id for it (for ALSA: `default`, `pulse`, `hw:CARD=PCH,DEV=0` ...).
    pub id: String,
    /// What it calls itself.
    pub name: String,
    /// The system's default output.
    pub is_default: bool,
    /// Its own rate and channels (only when asked for: finding them out opens the device).
    pub format: Option<(u32, u16)>,
}

/// The output devices; with `formats`, each is opened to ask its own rate and channels. The sound libraries
/// under them (ALSA's plugins, JACK) write their complaints about devices that are not there straight to the
/// error stream: those are kept out of the list's way.
pub fn list_outputs(formats: bool) -> Result<Vec<OutputDevice>, String> {
    with_library_chatter_hidden(|| list_outputs_loud(formats))
}

/// Runs `f` with the process's standard error pointed at /dev/null, then puts it back.
#[cfg(unix)]
#[allow(unsafe_code)]
fn with_library_chatter_hidden<T>(f: impl FnOnce() -> T) -> T {
    use std::os::fd::AsRawFd;
    let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else { return f() };
    // SAFETY: dup and dup2 on the standard error descriptor and one we own; the saved copy is closed once it
    // has been put back. Nothing else writes to standard error meanwhile: the stage lists the devices while its
    // app is built, before any system runs (the audio thread never writes), `proxemix devices` does nothing else.
    let saved = unsafe { libc::dup(2) };
    if saved < 0 {
        return f();
    }
    unsafe { libc::dup2(null.as_raw_fd(), 2) };
    let out = f();
    unsafe {
        libc::dup2(saved, 2);
        libc::close(saved);
    }
    out
}

#[cfg(not(unix))]
fn with_library_chatter_hidden<T>(f: impl FnOnce() -> T) -> T {
    f()
}

fn list_outputs_loud(formats: bool) -> Result<Vec<OutputDevice>, String> {
    let host = cpal::default_host();
    let default_id = host.default_output_device().and_then(|d| d.id().ok());
    let devices = host.output_devices().map_err(|e| format!("cannot list the sound devices: {e}"))?;
    Ok(devices
        .map(|device| {
            let id = device.id().ok();
            OutputDevice {
                id: id.as_ref().map_or_else(|| device.to_string(), |i| i.id().to_string()),
                name: device.description().map_or_else(|_| device.to_string(), |d| d.name().to_string()),
                is_default: id.is_some() && id == default_id,
                format: formats
                    .then(|| device.default_output_config().ok())
                    .flatten()
                    .map(|c| (c.sample_rate(), c.channels())),
            }
        })
        .collect())
}

/// A device found and the stream settings to open it with.
struct Found {
    device: cpal::Device,
    config: cpal::StreamConfig,
    label: String,
}

/// Finds the chosen device and settles its format (its own channels; the chosen rate, or its own).
fn find(choice: &DeviceChoice) -> Result<Found, String> {
    let host = cpal::default_host();
    let device = match &choice.name {
        None => host.default_output_device().ok_or_else(|| "no audio output device".to_string())?,
        Some(wanted) => by_name(&host, wanted)?,
    };
    let label = device.id().map_or_else(|_| device.to_string(), |i| i.id().to_string());
    let own = device.default_output_config().map_err(|e| format!("{label} cannot play ({e})"))?;
    let config = cpal::StreamConfig {
        channels: own.channels(),
        sample_rate: choice.sample_rate.unwrap_or(own.sample_rate()),
        buffer_size: cpal::BufferSize::Fixed(choice.buffer_frames),
    };
    Ok(Found { device, config, label })
}

/// The output device named `wanted`: by id, then by name, then by a part of either that names only one
/// (case does not matter).
fn by_name(host: &cpal::Host, wanted: &str) -> Result<cpal::Device, String> {
    let devices: Vec<cpal::Device> =
        host.output_devices().map_err(|e| format!("cannot list the sound devices: {e}"))?.collect();
    let id = |d: &cpal::Device| d.id().map_or_else(|_| String::new(), |i| i.id().to_string());
    let name = |d: &cpal::Device| d.description().map_or_else(|_| d.to_string(), |x| x.name().to_string());
    let lower = wanted.to_lowercase();
    let exact = |f: &dyn Fn(&cpal::Device) -> String| devices.iter().position(|d| f(d).to_lowercase() == lower);
    let found = exact(&id).or_else(|| exact(&name)).or_else(|| {
        let parts: Vec<usize> = (0..devices.len())
            .filter(|&i| {
                id(&devices[i]).to_lowercase().contains(&lower) || name(&devices[i]).to_lowercase().contains(&lower)
            })
            .collect();
        (parts.len() == 1).then(|| parts[0])
    });
    match found {
        Some(i) => Ok(devices[i].clone()),
        None => {
            let ids: Vec<String> = devices.iter().map(id).filter(|i| !i.is_empty()).collect();
            Err(format!(
                "no output device \"{wanted}\" (or more than one matches): the devices are {}; `proxemix devices` lists them",
                ids.join(", ")
            ))
        }
    }
}

/// Opens the chosen device with a mix graph on it; the stems are opened at the device's rate, or `stems`
/// kept when they already are at it. Returns the stage's audio, the stems and what the banner shows.
pub fn connect(
    choice: &DeviceChoice,
    scene_path: &Path,
    scene: &Scene,
    stems: Option<&StemAudio>,
) -> Result<(StageAudio<CpalBackend>, StemAudio, AudioDeviceStatus), String> {
    let found = find(choice)?;
    let sample_rate = found.config.sample_rate;
    let stems = match stems.filter(|s| s.sample_rate == sample_rate) {
        Some(kept) => kept.clone(),
        None => StemAudio::load(scene_path, scene, sample_rate),
    };
    let Found { device, config, label } = found;
    let factory: GraphFactory<CpalBackend> = Box::new(move |scene, audio| {
        let settings = CpalBackendSettings { device: Some(device.clone()), config: Some(config) };
        MixGraph::new(settings, scene, audio, GraphConfig::live(sample_rate))
    });
    let audio =
        StageAudio::new(scene, &stems.audio, factory).map_err(|e| format!("{label} could not be opened ({e})"))?;
    let status = AudioDeviceStatus {
        problem: None,
        device: Some(label),
        sample_rate,
        buffer_frames: choice.buffer_frames,
        errors: 0,
        late_buffers: 0,
    };
    Ok((audio, stems, status))
}

/// Ask for another device (the room panel's picker); the playhead carries over.
#[derive(Message, Debug, Clone, PartialEq)]
pub struct SwitchDevice(pub DeviceChoice);

/// The devices the picker offers (listed once, when the stage opens, without opening them).
#[derive(Resource, Debug, Default, Clone)]
pub struct OutputDevices(pub Vec<OutputDevice>);

/// What the stage knows of its device's health.
#[derive(Resource, Debug)]
pub struct DeviceWatch {
    /// When the device last asked for sound.
    last_callback: Option<Instant>,
    /// While the song rolls, when its playhead was at zero as seen in each of the last frames (now minus the
    /// playhead): the earliest is from before the device stopped, so the moment it stopped is that plus the
    /// playhead it stopped at (to within a buffer, however long the frames).
    song_zero: std::collections::VecDeque<Instant>,
    /// The playhead last frame (a playhead that went back jumped: a loop).
    last_position: f64,
    /// The device has just opened and has not yet asked for sound steadily.
    starting: Option<Starting>,
    /// The device went away (or never opened): where the song would be, and when to try again.
    lost: Option<Lost>,
}

impl Default for DeviceWatch {
    /// A device that has just opened, playing from the top as soon as it asks for sound.
    fn default() -> Self {
        let starting = Starting { since: None, frames_called: 0, resume: Some(Resume::Top) };
        DeviceWatch {
            last_callback: None,
            song_zero: Default::default(),
            last_position: 0.0,
            starting: Some(starting),
            lost: None,
        }
    }
}

/// Where the song was when the device went away, whether it was rolling, and when.
#[derive(Debug, Clone)]
struct Lost {
    /// The playhead when it went, and whether the song was rolling.
    position_s: f64,
    playing: bool,
    at: Instant,
    next_try: Instant,
}

/// A device opened, waiting for it to play: a new stream asks for its first buffers at once, then often waits
/// while the sound server starts it (a second here, on a sound server that has just started). When the device
/// asks for sound in a second frame it plays: a stage that has just opened starts the song from the top then,
/// and a song that came back catches up with where it would be.
#[derive(Debug, Clone)]
struct Starting {
    /// The first frame that watched it (a stage's first frame comes long after its device opened).
    since: Option<Instant>,
    /// Frames in which the device asked for sound.
    frames_called: u32,
    /// Where the song goes on from; `None`: where the graph is (paused).
    resume: Option<Resume>,
}

/// Where the song starts once a device plays.
#[derive(Debug, Clone, Copy)]
enum Resume {
    /// From the top, as the render does (a stage that has just opened).
    Top,
    /// From where it would be by then: this playhead at this moment, rolling on the wall clock.
    From(f64, Instant),
}

impl DeviceWatch {
    /// The device went away (or did not open) and is being tried again.
    pub fn is_lost(&self) -> bool {
        self.lost.is_some()
    }

    /// A stage whose device did not open: it is tried again, and plays from where the song would be by then.
    pub fn lost_from_the_start() -> DeviceWatch {
        let now = Instant::now();
        let lost = Lost { position_s: 0.0, playing: true, at: now, next_try: now };
        DeviceWatch {
            last_callback: None,
            song_zero: Default::default(),
            last_position: 0.0,
            starting: None,
            lost: Some(lost),
        }
    }
}

/// The device's health, its loss and its return, and switching devices (the real stage only).
pub struct DevicePlugin {
    /// What the stage was opened with.
    pub choice: DeviceChoice,
    /// The device did not open (not the same as `--silent`: then nothing is tried).
    pub lost: bool,
}

impl Plugin for DevicePlugin {
    fn build(&self, app: &mut App) {
        let watch = if self.lost { DeviceWatch::lost_from_the_start() } else { DeviceWatch::default() };
        app.insert_resource(self.choice.clone())
            .insert_resource(watch)
            .insert_resource(OutputDevices(list_outputs(false).unwrap_or_default()))
            .add_message::<SwitchDevice>();
        // The browser's stage has one device, opened once (the page starts its sound): nothing to watch.
        #[cfg(not(target_arch = "wasm32"))]
        app.add_systems(Update, (switch_device, watch_device).chain().before(StageSet::Input));
    }
}

/// Where the song is `elapsed` seconds after `from` (looping at its end, or stopping there).
fn playhead_after(from: f64, elapsed: f64, song_s: f64, looping: bool) -> f64 {
    let t = from + elapsed;
    match (looping, song_s > 0.0) {
        (true, true) => t % song_s,
        (false, true) => t.min(song_s),
        _ => t,
    }
}

/// Each frame: reads the device's errors and callbacks; a device silent for [`SILENT_DEVICE`] (or reporting
/// itself gone) is let go, the playhead keeps moving in the clock on the wall, and the device is tried again
/// every [`RETRY_EVERY`] until it plays, from where the song would be.
#[allow(clippy::too_many_arguments)]
#[cfg(not(target_arch = "wasm32"))]
fn watch_device(
    mut audio: ResMut<StageAudio<CpalBackend>>,
    mut watch: ResMut<DeviceWatch>,
    mut status: ResMut<AudioDeviceStatus>,
    mut transport: ResMut<TransportState>,
    mut stem_audio: ResMut<StemAudio>,
    mut requests: MessageReader<TransportCommand>,
    choice: Res<DeviceChoice>,
    doc: Res<StageScene>,
) {
    let now = Instant::now();
    if let Some(graph) = audio.graph_mut() {
        let commanded = requests.read().count() > 0;
        let heard = listen(graph, &mut watch, &mut status, &transport, commanded, now);
        if let Some(why) = heard.gone {
            let_go(&mut audio, &mut watch, &mut status, &why, heard.position_s, heard.playing, now);
        }
        return;
    }
    let Some(lost) = watch.lost.as_mut() else { return };
    follow_the_wall_clock(lost, &mut transport, &mut requests, now);
    if now < lost.next_try {
        return;
    }
    lost.next_try = now + RETRY_EVERY;
    let lost = lost.clone();
    let stage = (&*choice, &*doc);
    reconnect(&lost, stage, (&mut audio, &mut watch, &mut status, &mut transport, &mut stem_audio), now);
}

/// What one frame heard of an open device: where the song was, and why the device is gone, if it is.
#[cfg(not(target_arch = "wasm32"))]
struct Heard {
    position_s: f64,
    playing: bool,
    gone: Option<String>,
}

/// Reads what the open device reported since the last frame (errors, late buffers, whether it asked for
/// sound), keeps the record of when the song was at zero, starts the song once the device plays steadily, and
/// says why the device is gone if it is (an error, a start that never came, or silence).
#[cfg(not(target_arch = "wasm32"))]
fn listen(
    graph: &mut MixGraph<CpalBackend>,
    watch: &mut DeviceWatch,
    status: &mut AudioDeviceStatus,
    transport: &TransportState,
    commanded: bool,
    now: Instant,
) -> Heard {
    let backend = graph.backend_mut();
    let mut gone = None;
    while let Some(error) = backend.pop_error() {
        status.errors += 1;
        if matches!(error.kind(), cpal::ErrorKind::DeviceNotAvailable | cpal::ErrorKind::StreamInvalidated) {
            gone = Some(error.to_string());
        }
    }
    let mut called = false;
    while let Some(usage) = backend.pop_cpu_usage() {
        called = true;
        if usage > 1.0 {
            status.late_buffers += 1;
        }
    }
    let (position_s, playing) = (graph.position_s(), graph.is_playing());
    if called {
        watch.last_callback = Some(now);
    }
    // A jump (a seek, a loop, a pause, the start) begins the record of the song's zero again.
    if commanded || !playing || position_s < watch.last_position {
        watch.song_zero.clear();
    }
    watch.last_position = position_s;
    if called
        && playing
        && let Some(zero) = now.checked_sub(Duration::from_secs_f64(position_s))
    {
        if watch.song_zero.len() == 16 {
            watch.song_zero.pop_front();
        }
        watch.song_zero.push_back(zero);
    }
    if watch.starting.is_some() {
        let late = start_when_steady(graph, watch, status, transport, called, commanded, position_s, now);
        gone = gone.or(late);
    } else {
        let last = *watch.last_callback.get_or_insert(now);
        if gone.is_none() && now - last > SILENT_DEVICE {
            gone = Some(format!("no sound asked for in {:.1} s", (now - last).as_secs_f64()));
        }
    }
    Heard { position_s, playing, gone }
}

/// A device that is starting: once it has asked for sound twice the song starts (from the top, or catching
/// up with where it would be now); if it never does, why.
#[cfg(not(target_arch = "wasm32"))]
#[allow(clippy::too_many_arguments)]
fn start_when_steady(
    graph: &mut MixGraph<CpalBackend>,
    watch: &mut DeviceWatch,
    status: &AudioDeviceStatus,
    transport: &TransportState,
    called: bool,
    commanded: bool,
    position_s: f64,
    now: Instant,
) -> Option<String> {
    let starting = watch.starting.as_mut()?;
    let since = *starting.since.get_or_insert(now);
    starting.frames_called += u32::from(called);
    if commanded {
        // The user moved the transport meanwhile: that is where the song is now.
        starting.resume = None;
    }
    if starting.frames_called < 2 {
        return (now - since > STARTING_GRACE)
            .then(|| format!("it did not start playing in {:.0} s", STARTING_GRACE.as_secs_f64()));
    }
    match starting.resume {
        // From the top, as the render starts: no fade-in to hide a click, since nothing played before.
        Some(Resume::Top) => graph.start(),
        // The song has played since the device opened, but the device held it back while it started: it
        // catches up with where it would be now (a seek, as short as one frame late).
        Some(Resume::From(from, at)) => {
            let song_s = graph.song_seconds();
            let to = playhead_after(from, at.elapsed().as_secs_f64(), song_s, transport.looping);
            if (to - position_s).abs() > CATCH_UP_S
                && let Err(e) = graph.play_from(to)
            {
                warn!("the sound device plays again but the song could not catch up: {e}");
            }
            let device = status.device.as_deref().unwrap_or("the sound device");
            info!("{device} plays, at {to:.2} s (it held the song at {position_s:.2} s)");
        }
        None => {}
    }
    watch.starting = None;
    watch.song_zero.clear();
    None
}

/// Lets a device that went away go: the song is kept where it was when the device stopped (the playhead goes
/// on in the wall clock meanwhile), and the stage says so.
#[cfg(not(target_arch = "wasm32"))]
fn let_go(
    audio: &mut StageAudio<CpalBackend>,
    watch: &mut DeviceWatch,
    status: &mut AudioDeviceStatus,
    why: &str,
    position_s: f64,
    playing: bool,
    now: Instant,
) {
    // When it stopped: when the song was at zero, before it stopped, plus where it stopped.
    let stopped_at = match watch.song_zero.iter().min() {
        Some(&zero) if playing => (zero + Duration::from_secs_f64(position_s)).min(now),
        _ => now,
    };
    audio.release();
    watch.last_callback = None;
    watch.song_zero.clear();
    // A device that never started playing did not move the song: it is where it was meant to resume.
    let (position_s, stopped_at) = match watch.starting.take().and_then(|s| s.resume) {
        Some(Resume::From(from, at)) => (from, at),
        _ => (position_s, stopped_at),
    };
    watch.lost = Some(Lost { position_s, playing, at: stopped_at, next_try: now + RETRY_EVERY });
    let device = status.device.clone().unwrap_or_else(|| "the sound device".into());
    status.problem = Some(format!("{device} went away ({why}): trying again; Export WAV still works"));
    warn!("{device} went away ({why})");
}

/// While there is no device the transport still answers: the song moves on in the clock on the wall.
#[cfg(not(target_arch = "wasm32"))]
fn follow_the_wall_clock(
    lost: &mut Lost,
    transport: &mut TransportState,
    requests: &mut MessageReader<TransportCommand>,
    now: Instant,
) {
    let here = playhead_after(lost.position_s, (now - lost.at).as_secs_f64(), transport.song_s, transport.looping);
    let here = if lost.playing { here } else { lost.position_s };
    let (mut position_s, mut playing) = (here, lost.playing);
    for request in requests.read() {
        match *request {
            TransportCommand::TogglePlay => playing = !playing,
            TransportCommand::Play => playing = true,
            TransportCommand::Pause => playing = false,
            TransportCommand::Seek(s) => position_s = s.max(0.0),
            TransportCommand::Nudge(s) => position_s = (position_s + s).max(0.0),
            TransportCommand::SetLooping(on) => transport.looping = on,
        }
    }
    if (position_s, playing) != (here, lost.playing) {
        *lost = Lost { position_s, playing, at: now, ..lost.clone() };
    }
    transport.position_s = position_s;
    transport.playing = playing;
}

/// What the device watch changes when it opens a device again.
#[cfg(not(target_arch = "wasm32"))]
type Reopened<'a> = (
    &'a mut StageAudio<CpalBackend>,
    &'a mut DeviceWatch,
    &'a mut AudioDeviceStatus,
    &'a mut TransportState,
    &'a mut StemAudio,
);

/// Tries to open the device again; if it opens, the song rolls from where it would be now (or waits where it
/// was paused), and the device is watched as it starts.
#[cfg(not(target_arch = "wasm32"))]
fn reconnect(lost: &Lost, (choice, doc): (&DeviceChoice, &StageScene), reopened: Reopened, now: Instant) {
    let (audio, watch, status, transport, stem_audio) = reopened;
    match connect(choice, &doc.path, &doc.scene, Some(stem_audio)) {
        Ok((mut fresh, stems, back)) => {
            if let Some(graph) = fresh.graph_mut() {
                transport.song_s = graph.song_seconds();
                let _ = graph.set_looping(transport.looping);
                // Rolling at once from where the song would be, so it is heard as soon as the device plays; once
                // it asks for sound steadily the song catches up with the time the device held it back.
                let to = playhead_after(
                    lost.position_s,
                    lost.at.elapsed().as_secs_f64(),
                    transport.song_s,
                    transport.looping,
                );
                if !lost.playing {
                    graph.pause_at(lost.position_s);
                } else if let Err(e) = graph.play_from(to) {
                    warn!("the sound device is open again but the song could not start: {e}");
                }
                info!("{} is open", back.device.as_deref().unwrap_or("the sound device"));
            }
            let resume = lost.playing.then_some(Resume::From(lost.position_s, lost.at));
            watch.starting = Some(Starting { since: Some(now), frames_called: 0, resume });
            *audio = fresh;
            *stem_audio = stems;
            *status = AudioDeviceStatus { errors: status.errors, late_buffers: status.late_buffers, ..back };
            transport.live = true;
            watch.lost = None;
            watch.last_callback = Some(Instant::now());
            watch.song_zero.clear();
        }
        Err(why) => {
            // "went away" already says it is being tried again; otherwise say why it will not open.
            if !status.problem.as_deref().is_some_and(|p| p.contains("went away")) {
                let every = RETRY_EVERY.as_secs_f64();
                status.problem = Some(format!("no sound: {why}; trying again every {every:.1} s; Export WAV works"));
            }
        }
    }
}

/// Switches to another device at the same playhead (the picker in the room panel).
#[cfg(not(target_arch = "wasm32"))]
fn switch_device(
    mut requests: MessageReader<SwitchDevice>,
    mut audio: ResMut<StageAudio<CpalBackend>>,
    mut watch: ResMut<DeviceWatch>,
    mut choice: ResMut<DeviceChoice>,
    mut status: ResMut<AudioDeviceStatus>,
    transport: Res<TransportState>,
) {
    let Some(SwitchDevice(wanted)) = requests.read().last().cloned() else { return };
    if *choice == wanted && watch.lost.is_none() {
        return;
    }
    let now = Instant::now();
    let (position_s, playing) = match (audio.graph_mut(), &watch.lost) {
        (Some(graph), _) => (graph.position_s(), graph.is_playing()),
        // Without a device the watch keeps the playhead in the transport (on the clock on the wall).
        (None, _) => (transport.position_s, transport.playing),
    };
    audio.release();
    *choice = wanted;
    // The watch opens the new device at once, from this playhead (and keeps trying if it will not open).
    watch.lost = Some(Lost { position_s, playing, at: now, next_try: now });
    watch.last_callback = None;
    watch.song_zero.clear();
    status.problem = None;
}
