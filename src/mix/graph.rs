//! One mix graph for live and offline use, built by one function: the engine (every stem's source, spoil macro
//! and fused chain, the shared reverb, the master spoil and the master chain, one transport) on kira's main track,
//! and the driver that tells it what the mix should be.

use std::fmt;
use std::sync::Arc;

use kira::backend::Backend;
use kira::track::MainTrackBuilder;
use kira::{AudioManager, AudioManagerSettings, Capacities};

use super::driver::{Driver, MixState, Receipt};
use super::effects::master::{Master, MasterMeter};
use super::effects::reverb::Reverb;
use super::effects::spoil::{self, Hearing, Spoil};
use super::effects::stem_chain::{StemChain, StemMeter, StemParams};
use super::engine::unit::StemUnit;
use super::engine::{EngineBuilder, EngineHandle, MAX_CHUNK, TransportCommand, TransportState};
use super::input::source::{self, SourceControl, StemSource};
use super::input::stream::{Pass, StreamHealth};
use super::mapping::Cues;
use super::translate;
use crate::scene::Scene;

/// Where a song ends, in frames at the graph's rate, worked out once: the graph's clock and loop and the
/// render's length both read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SongEnd {
    /// The end of the longest stem (0 without audio).
    pub stems: u64,
    /// The end of the last section (0 without sections).
    pub sections: u64,
}

impl SongEnd {
    /// The ends of `scene` playing `sources` at `sample_rate`.
    pub fn of(scene: &Scene, sources: &[Option<StemSource>], sample_rate: u32) -> SongEnd {
        let sections_s = crate::scene::timeline::Resolved::of(scene).map_or(0.0, |r| r.sections_end_s());
        SongEnd {
            stems: sources.iter().flatten().map(StemSource::frames).max().unwrap_or(0),
            sections: (sections_s * sample_rate as f64).round() as u64,
        }
    }

    /// The song runs to the end of its longest stem, or of its last section if the staging goes on after the
    /// music (the banter, the applause): its clock keeps time there, and a loop wraps there. No audio, no song.
    pub fn song_frames(&self) -> u64 {
        if self.stems == 0 { 0 } else { self.stems.max(self.sections) }
    }

    /// A whole render: the music and `tail_frames` of its reverb, or to the last section's end if that is later.
    pub fn render_frames(&self, tail_frames: u64) -> u64 {
        (self.stems + tail_frames).max(self.sections)
    }
}

/// Parameter ramps are never shorter than one 60 Hz video frame, so moving a body never zippers.
pub const MIN_RAMP_S: f32 = 1.0 / 60.0;
/// kira renders in chunks of this many frames; a multiple of 128 as its docs advise.
pub const INTERNAL_BUFFER_FRAMES: usize = MAX_CHUNK;

/// Frames per device buffer unless `--buffer` says otherwise: 21 ms at 48 kHz. Smaller buffers answer a move
/// sooner, but the stage shares the machine with its own drawing (on software rendering, nearly all of it), and
/// 512 frames dropped out here under that load.
pub const DEFAULT_BUFFER_FRAMES: u32 = 1024;

/// How the graph is built.
#[derive(Clone, Copy, Debug)]
pub struct GraphConfig {
    /// The rate the stems were decoded at; it must equal the backend's rate.
    pub sample_rate: u32,
    /// Loop the stems (the stage's transport loops; a default export plays once).
    pub looping: bool,
    /// Copy the master output into a lock-free ring for a loudness meter ([`MixGraph::take_output_tap`]).
    pub output_tap: bool,
    /// Which cues [`MixGraph::apply_scene`] maps (all, unless a workshop isolates some).
    pub cues: Cues,
    /// Played live by a sound device: the audio thread never waits for a streamed stem (a late block is
    /// silence, counted). Offline, every block is waited for, so renders are exact.
    pub live: bool,
    /// Threads for the stems' chains (offline only; the result does not depend on it).
    pub jobs: usize,
}

impl GraphConfig {
    /// An offline graph at `sample_rate`: plays once, all cues, one thread.
    pub fn offline(sample_rate: u32) -> GraphConfig {
        GraphConfig { sample_rate, looping: false, output_tap: false, cues: Cues::ALL, live: false, jobs: 1 }
    }

    /// A graph for a sound device at `sample_rate`: loops, with a meter tap.
    pub fn live(sample_rate: u32) -> GraphConfig {
        GraphConfig { sample_rate, looping: true, output_tap: true, cues: Cues::ALL, live: true, jobs: 1 }
    }
}

/// The master spoil's noise seed (stems use their index + 1).
const MASTER_SEED: u64 = 0x5EED_0000;
/// Fades that keep a seek or a pause from clicking.
const TRANSPORT_FADE_S: f64 = 0.008;
/// Seconds of output the meter tap holds when nobody drains it (then it drops, never blocks).
const OUTPUT_TAP_S: u32 = 2;

#[derive(Debug)]
/// Why a graph could not be built or driven.
pub enum GraphError {
    /// The sound device (or the offline backend) failed.
    Backend(String),
    /// More stems than the mixer holds.
    TooManyStems(usize),
    /// kira refused something.
    Kira(String),
    /// A streamed stem could not be read to the end (its file vanished or was cut off while playing).
    Stem(String),
    /// The output could not be written.
    Output(String),
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::Backend(e) => write!(f, "audio backend: {e}"),
            GraphError::TooManyStems(n) => write!(f, "{n} stems do not fit in the mixer"),
            GraphError::Kira(e) => write!(f, "mixer: {e}"),
            GraphError::Stem(e) | GraphError::Output(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for GraphError {}

/// One stem in the graph, on the control side: its stream and its meter. A stem whose audio failed to load
/// keeps its slot (silent) so indices still match the scene.
pub struct StemVoice {
    source: SourceControl,
    /// The stem's meter (peak and faults).
    pub meter: Arc<StemMeter>,
}

impl StemVoice {
    /// How its stream is doing (`None` for a stem held in memory or silent).
    pub fn health(&self) -> Option<StreamHealth> {
        self.source.health()
    }
}

/// What the control side last asked of the transport, until the audio thread has taken it.
#[derive(Clone, Copy, Debug)]
struct Asked {
    rolling: bool,
    position: u64,
}

/// The mix graph over any kira backend: cpal for the stage, [`super::offline::OfflineBackend`] for export.
pub struct MixGraph<B: Backend> {
    manager: AudioManager<B>,
    engine: EngineHandle,
    driver: Driver,
    voices: Vec<StemVoice>,
    /// The master's meter (peaks, limiting, frames played).
    pub meter: Arc<MasterMeter>,
    config: GraphConfig,
    output_tap: Option<rtrb::Consumer<[f32; 2]>>,
    /// The pass the streams were last asked for.
    pass: Pass,
    asked: Asked,
    song_frames: u64,
}

impl<B: Backend> MixGraph<B>
where
    B::Error: fmt::Display,
{
    /// Builds the graph for `scene`, with `sources[i]` the audio of stem i (`None`: stays silent), standing where
    /// the song starts (its timeline included). Streamed stems start decoding at once; nothing plays until
    /// [`MixGraph::start`] or [`MixGraph::play_from`].
    pub fn new(
        backend_settings: B::Settings,
        scene: &Scene,
        sources: &[Option<StemSource>],
        config: GraphConfig,
    ) -> Result<Self, GraphError> {
        let sr = config.sample_rate;
        let state = MixState::of_scene(scene, config.cues);
        let meter = Arc::new(MasterMeter::new());
        let (tap, output_tap) = if config.output_tap {
            let (producer, consumer) = rtrb::RingBuffer::new((sr * OUTPUT_TAP_S) as usize);
            (Some(producer), Some(consumer))
        } else {
            (None, None)
        };
        let mut manager = AudioManager::<B>::new(AudioManagerSettings {
            capacities: Capacities { sub_track_capacity: 16, ..Capacities::default() },
            main_track_builder: MainTrackBuilder::new(),
            internal_buffer_size: INTERNAL_BUFFER_FRAMES,
            backend_settings,
        })
        .map_err(|e| GraphError::Backend(e.to_string()))?;
        let song_frames = SongEnd::of(scene, sources, sr).song_frames();
        let pass = Pass { generation: 0, start: 0, looping: config.looping, song_frames };
        let mut voices = Vec::with_capacity(scene.stems.len());
        let mut units = Vec::with_capacity(scene.stems.len());
        for i in 0..scene.stems.len() {
            let stem_source = sources.get(i).and_then(|s| s.as_ref());
            let channels = stem_source.map_or(1, StemSource::channels);
            let stem_meter = Arc::new(StemMeter::default());
            // Built at identity: the engine moves every stem to its place before anything plays.
            let spoil = Spoil::new(0.0, Hearing::FLAT, i as u64 + 1, sr);
            let chain =
                StemChain::new(StemParams::IDENTITY, translate::chain_setup(), stem_meter.clone(), sr, MAX_CHUNK);
            let (control, reader) = source::open_reader(stem_source, pass)
                .map_err(|why| GraphError::Stem(format!("stem \"{}\": {why}", scene.stems[i].name)))?;
            let frames = stem_source.map_or(0, StemSource::frames);
            units.push(StemUnit::new(reader, frames, channels, spoil, chain));
            voices.push(StemVoice { source: control, meter: stem_meter });
        }
        let master_spoil = Spoil::new(0.0, Hearing::FLAT, MASTER_SEED, sr);
        let reverb = Reverb::new(translate::reverb_params(&scene.room), sr, MAX_CHUNK);
        let master =
            Master::new(translate::master_params(scene.master_gain_db, scene.ceiling_dbtp), meter.clone(), tap, sr);
        let (driver, inbox) = Driver::new(state.clone());
        let engine = manager
            .play(EngineBuilder {
                units,
                first: pass,
                state,
                inbox,
                reverb,
                master_spoil,
                master,
                sample_rate: sr,
                live: config.live,
                jobs: config.jobs,
                heard_late: spoil::latency_frames(sr),
            })
            .map_err(|e| GraphError::Kira(e.to_string()))?;
        Ok(MixGraph {
            manager,
            engine,
            driver,
            voices,
            meter,
            config,
            output_tap,
            pass,
            asked: Asked { rolling: false, position: 0 },
            song_frames,
        })
    }

    fn fade_frames(&self) -> u32 {
        (TRANSPORT_FADE_S * self.config.sample_rate as f64).round() as u32
    }

    /// A new pass from song frame `start`: every stream starts producing it.
    fn new_pass(&mut self, start: u64) -> Pass {
        self.pass = Pass {
            generation: self.pass.generation + 1,
            start,
            looping: self.config.looping,
            song_frames: self.song_frames,
        };
        for voice in &self.voices {
            voice.source.request(self.pass);
        }
        self.pass
    }

    fn send(&mut self, command: TransportCommand) -> Result<(), GraphError> {
        if self.engine.send(command) {
            Ok(())
        } else {
            Err(GraphError::Backend("the audio device is not taking commands".into()))
        }
    }

    fn frame_of(&self, position_s: f64) -> u64 {
        let s = self.clamp_position(position_s);
        ((s * self.config.sample_rate as f64).round() as u64).min(self.song_frames.saturating_sub(1))
    }

    /// The transport: plays every stem from `position_s` (wrapped into the song when looping), all on the same
    /// sample, fading out where it was and in where it goes so a seek does not click. Streamed stems refill
    /// from there first.
    pub fn play_from(&mut self, position_s: f64) -> Result<(), GraphError> {
        let frame = self.frame_of(position_s);
        let shared = &self.engine.shared;
        // Resuming where a pause left the current pass needs no refill.
        let resume = self.engine.caught_up()
            && shared.state() == TransportState::Stopped
            && shared.generation() == self.pass.generation
            && shared.position() == frame
            && self.pass.looping == self.config.looping;
        let fade_frames = self.fade_frames();
        let pass = if resume { self.pass } else { self.new_pass(frame) };
        self.send(TransportCommand::Play { pass, fade_frames })?;
        self.asked = Asked { rolling: true, position: frame };
        Ok(())
    }

    /// Stops the transport where it is (a short fade); [`MixGraph::play_from`] with
    /// [`MixGraph::position_s`] resumes.
    pub fn pause(&mut self) {
        let position = self.position_frames();
        let fade_frames = self.fade_frames();
        let _ = self.send(TransportCommand::Pause { fade_frames });
        self.asked = Asked { rolling: false, position };
    }

    /// Moves the playhead of a stopped transport (the next play starts there).
    pub fn pause_at(&mut self, position_s: f64) {
        let frame = self.frame_of(position_s);
        let pass = self.new_pass(frame);
        let fade_frames = self.fade_frames();
        let _ = self.send(TransportCommand::Locate { pass, fade_frames });
        self.asked = Asked { rolling: false, position: frame };
    }

    /// Whether sound is playing: the transport rolls and a song that plays once has not ended.
    pub fn is_playing(&self) -> bool {
        if !self.engine.caught_up() {
            return self.asked.rolling;
        }
        matches!(self.engine.shared.state(), TransportState::Rolling | TransportState::Priming)
    }

    fn position_frames(&self) -> u64 {
        if self.engine.caught_up() { self.engine.shared.position() } else { self.asked.position }
    }

    /// The playhead in seconds of the song (as of the last audio callback).
    pub fn position_s(&self) -> f64 {
        self.position_frames() as f64 / self.config.sample_rate as f64
    }

    /// The pass playing and how many times it has wrapped at the song's end, as of the last audio callback:
    /// a new pass or a new lap means the song time went back (a seek or a loop).
    pub fn pass_and_lap(&self) -> (u32, u64) {
        (self.engine.shared.generation(), self.engine.shared.lap())
    }

    /// How long live starts and seeks waited for the streamed stems to hold the new position.
    pub fn priming_waits(&self) -> crate::mix::engine::PrimingWaits {
        self.engine.shared.priming_waits()
    }

    /// Length of the song: its longest stem, or its last section when that ends later.
    pub fn song_seconds(&self) -> f64 {
        self.song_frames as f64 / self.config.sample_rate as f64
    }

    /// Loop the song or play it once; a rolling transport carries on from where it is.
    pub fn set_looping(&mut self, looping: bool) -> Result<(), GraphError> {
        if looping == self.config.looping {
            return Ok(());
        }
        self.config.looping = looping;
        if self.is_playing() {
            self.play_from(self.position_s())
        } else {
            self.pause_at(self.position_s());
            Ok(())
        }
    }

    fn clamp_position(&self, position_s: f64) -> f64 {
        let song_s = self.song_seconds();
        if !position_s.is_finite() || position_s <= 0.0 || song_s <= 0.0 {
            0.0
        } else if self.config.looping {
            position_s % song_s
        } else {
            position_s.min(song_s)
        }
    }

    /// The master output ring (stereo frames) for a loudness meter; only once, and only when the graph was
    /// built with `output_tap`.
    pub fn take_output_tap(&mut self) -> Option<rtrb::Consumer<[f32; 2]>> {
        self.output_tap.take()
    }

    /// How the graph was built (looping and cues as they stand now).
    pub fn config(&self) -> GraphConfig {
        self.config
    }

    /// The delay the spoil macros add (frames): a stem's plus the master's, constant whatever their amounts.
    /// Offline renders drop this many frames from the start, so a render is where it was before spoil existed.
    pub fn latency_frames(&self) -> usize {
        2 * spoil::latency_frames(self.config.sample_rate)
    }

    /// Starts every stem on the same sample, from the start of the song, without a fade.
    pub fn start(&mut self) {
        let pass = self.pass;
        let _ = self.send(TransportCommand::Play { pass, fade_frames: 0 });
        self.asked = Asked { rolling: true, position: pass.start };
    }

    /// Every stem, in scene order.
    pub fn stems(&self) -> &[StemVoice] {
        &self.voices
    }

    /// Holds every streamed stem's decoder still, as a stalled disk would (`false` lets them go on): for
    /// tests that a starved live stream plays silence, counts it and never blocks the audio thread.
    pub fn stall_streams(&self, stalled: bool) {
        for voice in &self.voices {
            voice.source.stall(stalled);
        }
    }

    /// Asks for `state`; its changes ramp over `ramp_s` (at least [`MIN_RAMP_S`]), a stem the user mutes or
    /// unmutes in a few milliseconds. The engine maps it and plays its timeline from the playhead on.
    /// Returns the snapshot's number when one was sent (see [`MixGraph::take_receipts`]).
    pub fn set_state(&mut self, state: MixState, ramp_s: f32) -> Option<u64> {
        let frames = (ramp_s.max(MIN_RAMP_S) * self.config.sample_rate as f32).round() as u32;
        self.driver.set(state, frames)
    }

    /// When the engine took up each snapshot sent, since the last call (oldest first).
    pub fn take_receipts(&mut self, into: &mut Vec<Receipt>) {
        self.driver.take_receipts(into);
    }

    /// Applies a whole scene (its timeline included) with this graph's cues.
    pub fn apply_scene(&mut self, scene: &Scene, ramp_s: f32) {
        self.set_state(MixState::of_scene(scene, self.config.cues), ramp_s);
    }

    /// Which cues [`MixGraph::apply_scene`] maps from now on (the caller re-applies its scene).
    pub fn set_cues(&mut self, cues: Cues) {
        self.config.cues = cues;
    }

    /// The state last asked for.
    pub fn state(&self) -> &MixState {
        self.driver.last()
    }

    /// The backend (the offline one renders blocks on demand).
    pub fn backend_mut(&mut self) -> &mut B {
        self.manager.backend_mut()
    }
}
