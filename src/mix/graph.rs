//! One mix graph for live and offline use: a kira track per stem carrying its spoil macro and the fused stem
//! chain, the shared reverb, the master spoil and the master chain; `apply` moves it to a new mapping along
//! ramps at least a video frame long.

use std::fmt;
use std::sync::Arc;

use kira::backend::Backend;
use kira::clock::{ClockHandle, ClockSpeed, ClockTime};
use kira::sound::PlaybackState;
use kira::sound::static_sound::{StaticSoundData, StaticSoundHandle, StaticSoundSettings};
use kira::track::{MainTrackBuilder, TrackBuilder, TrackHandle};
use kira::{AudioManager, AudioManagerSettings, Capacities, Tween};

use super::effects::master::{MasterChainBuilder, MasterChainHandle, MasterMeter, MasterParams};
use super::effects::reverb::{ReverbBus, ReverbParams, ReverbReturnBuilder, ReverbReturnHandle};
use super::effects::spoil::{self, Hearing, SpoilBuilder, SpoilHandle};
use super::effects::stem_chain::{StemChainBuilder, StemChainHandle, StemMeter, StemParams};
use super::import::Audio;
use super::mapping::{self, Cues, StemMix};
use crate::scene::{Room, Scene};

/// Parameter ramps are never shorter than one 60 Hz video frame, so moving a body never zippers.
pub const MIN_RAMP_S: f32 = 1.0 / 60.0;
/// kira renders in chunks of this many frames; a multiple of 128 as its docs advise.
pub const INTERNAL_BUFFER_FRAMES: usize = 128;

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
}

/// The master spoil's noise seed (stems use their index + 1).
const MASTER_SEED: u64 = 0x5EED_0000;
/// Fades that keep a seek or a pause from clicking.
const TRANSPORT_FADE_S: f64 = 0.008;
/// Seconds of output the meter tap holds when nobody drains it (then it drops, never blocks).
const OUTPUT_TAP_S: u32 = 2;

#[derive(Debug)]
pub enum GraphError {
    Backend(String),
    TooManyStems(usize),
    Kira(String),
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::Backend(e) => write!(f, "audio backend: {e}"),
            GraphError::TooManyStems(n) => write!(f, "{n} stems do not fit in the mixer"),
            GraphError::Kira(e) => write!(f, "mixer: {e}"),
        }
    }
}

impl std::error::Error for GraphError {}

/// One stem in the graph. A stem whose audio failed to load keeps its slot (silent) so indices still match
/// the scene.
pub struct StemVoice {
    track: TrackHandle,
    spoil: SpoilHandle,
    chain: StemChainHandle,
    /// The playing sound, kept for the transport (seek, pause); dropping it would not stop the sound.
    sound: Option<StaticSoundHandle>,
    /// The decoded stem (shared frames), to start it again from any position.
    data: Option<StaticSoundData>,
    pub meter: Arc<StemMeter>,
}

/// The mix graph over any kira backend: cpal for the stage, [`super::offline::OfflineBackend`] for export.
pub struct MixGraph<B: Backend> {
    manager: AudioManager<B>,
    clock: ClockHandle,
    voices: Vec<StemVoice>,
    reverb: ReverbReturnHandle,
    master_spoil: SpoilHandle,
    master: MasterChainHandle,
    pub meter: Arc<MasterMeter>,
    config: GraphConfig,
    output_tap: Option<rtrb::Consumer<[f32; 2]>>,
    /// Whether the transport is rolling (the stems may still have run out when not looping).
    rolling: bool,
    /// Where the transport stopped, in seconds, while it is not rolling.
    paused_at_s: f64,
    song_s: f64,
}

impl<B: Backend> MixGraph<B>
where
    B::Error: fmt::Display,
{
    /// Builds the graph for `scene`, with `audio[i]` the decoded file of stem i (`None`: stays silent), at the
    /// scene's current mapping. Nothing plays until [`MixGraph::start`].
    pub fn new(
        backend_settings: B::Settings,
        scene: &Scene,
        audio: &[Option<Audio>],
        config: GraphConfig,
    ) -> Result<Self, GraphError> {
        let bus = Arc::new(ReverbBus::new(INTERNAL_BUFFER_FRAMES));
        let meter = Arc::new(MasterMeter::new());
        let mut main = MainTrackBuilder::new();
        let reverb = main.add_effect(ReverbReturnBuilder { params: reverb_params(&scene.room), bus: bus.clone() });
        let master_amount = if config.cues.spoil { scene.master_spoil } else { 0.0 };
        let master_spoil =
            main.add_effect(SpoilBuilder { amount: master_amount, hearing: Hearing::FLAT, seed: MASTER_SEED });
        let (tap, output_tap) = if config.output_tap {
            let (producer, consumer) = rtrb::RingBuffer::new((config.sample_rate * OUTPUT_TAP_S) as usize);
            (Some(producer), Some(consumer))
        } else {
            (None, None)
        };
        let master = main.add_effect(MasterChainBuilder { params: master_params(scene), meter: meter.clone(), tap });
        let mut manager = AudioManager::<B>::new(AudioManagerSettings {
            capacities: Capacities { sub_track_capacity: (scene.stems.len() + 4).max(16), ..Capacities::default() },
            main_track_builder: main,
            internal_buffer_size: INTERNAL_BUFFER_FRAMES,
            backend_settings,
        })
        .map_err(|e| GraphError::Backend(e.to_string()))?;
        let mut clock =
            manager.add_clock(ClockSpeed::TicksPerSecond(1.0)).map_err(|e| GraphError::Kira(e.to_string()))?;
        clock.stop();
        let mixes = mapping::scene_mix_with(scene, config.cues);
        let mut voices = Vec::with_capacity(scene.stems.len());
        let mut song_s = 0.0f64;
        for (i, mix) in mixes.iter().enumerate() {
            let stem_meter = Arc::new(StemMeter::default());
            let mut builder = TrackBuilder::new();
            // Spoiling is a property of the source, so it comes first: the reverb hears the spoiled stem.
            let spoil =
                builder.add_effect(SpoilBuilder { amount: mix.spoil, hearing: Hearing::of(mix), seed: i as u64 + 1 });
            let chain = builder.add_effect(StemChainBuilder {
                initial: StemParams::from_mix(mix),
                bus: bus.clone(),
                meter: stem_meter.clone(),
            });
            let track = manager.add_sub_track(builder).map_err(|_| GraphError::TooManyStems(scene.stems.len()))?;
            let data = audio.get(i).and_then(|a| a.as_ref()).map(|a| {
                song_s = song_s.max(a.duration_s());
                StaticSoundData {
                    sample_rate: a.sample_rate,
                    frames: a.frames.clone(),
                    settings: StaticSoundSettings::new(),
                    slice: None,
                }
            });
            voices.push(StemVoice { track, spoil, chain, sound: None, data, meter: stem_meter });
        }
        let mut graph = MixGraph {
            manager,
            clock,
            voices,
            reverb,
            master_spoil,
            master,
            meter,
            config,
            output_tap,
            rolling: false,
            paused_at_s: 0.0,
            song_s,
        };
        graph.queue_stems(0.0, None)?;
        Ok(graph)
    }

    /// Plays every stem from `position_s`, all waiting for the (stopped) clock's first tick so that they start
    /// on the same sample once it starts.
    fn queue_stems(&mut self, position_s: f64, fade_in: Option<Tween>) -> Result<(), GraphError> {
        let start = ClockTime { clock: self.clock.id(), ticks: 0, fraction: 0.0 };
        for voice in &mut self.voices {
            let Some(data) = &voice.data else { continue };
            let mut settings = StaticSoundSettings::new().start_time(start).start_position(position_s);
            if self.config.looping {
                settings = settings.loop_region(..);
            }
            if let Some(fade) = fade_in {
                settings = settings.fade_in_tween(fade);
            }
            let data = StaticSoundData { settings, ..data.clone() };
            voice.sound = Some(voice.track.play(data).map_err(|e| GraphError::Kira(e.to_string()))?);
        }
        Ok(())
    }

    /// Fades out and forgets every playing stem.
    fn stop_stems(&mut self) {
        for voice in &mut self.voices {
            if let Some(mut sound) = voice.sound.take() {
                sound.stop(fade());
            }
        }
    }

    /// The transport: plays every stem from `position_s` (wrapped into the song when looping), starting
    /// them together on one sample. Old sounds fade out while the new ones fade in, so a seek does not click.
    pub fn play_from(&mut self, position_s: f64) -> Result<(), GraphError> {
        let position_s = self.clamp_position(position_s);
        self.stop_stems();
        self.clock.stop();
        self.queue_stems(position_s, Some(fade()))?;
        self.clock.start();
        self.rolling = true;
        Ok(())
    }

    /// Stops the transport where it is (a short fade); [`MixGraph::play_from`] with
    /// [`MixGraph::position_s`] resumes.
    pub fn pause(&mut self) {
        self.paused_at_s = self.position_s();
        self.stop_stems();
        self.rolling = false;
    }

    /// Moves the playhead of a stopped transport (the next play starts there).
    pub fn pause_at(&mut self, position_s: f64) {
        self.stop_stems();
        self.rolling = false;
        self.paused_at_s = self.clamp_position(position_s);
    }

    /// Whether sound is playing: the transport rolls and the stems have not run out.
    pub fn is_playing(&self) -> bool {
        self.rolling && self.first_sound().is_none_or(|s| s.state() != PlaybackState::Stopped)
    }

    /// The playhead in seconds of the song (as of the last audio callback).
    pub fn position_s(&self) -> f64 {
        match self.first_sound() {
            Some(sound) if self.rolling => {
                if sound.state() == PlaybackState::Stopped {
                    self.song_s
                } else {
                    sound.position()
                }
            }
            _ => self.paused_at_s,
        }
    }

    /// Length of the longest stem.
    pub fn song_seconds(&self) -> f64 {
        self.song_s
    }

    /// Loop the song or play it once; a rolling transport carries on from where it is.
    pub fn set_looping(&mut self, looping: bool) -> Result<(), GraphError> {
        if looping == self.config.looping {
            return Ok(());
        }
        self.config.looping = looping;
        if self.rolling { self.play_from(self.position_s()) } else { Ok(()) }
    }

    fn first_sound(&self) -> Option<&StaticSoundHandle> {
        self.voices.iter().find_map(|v| v.sound.as_ref())
    }

    fn clamp_position(&self, position_s: f64) -> f64 {
        if !position_s.is_finite() || position_s <= 0.0 || self.song_s <= 0.0 {
            0.0
        } else if self.config.looping {
            position_s % self.song_s
        } else {
            position_s.min(self.song_s)
        }
    }

    /// The master output ring (stereo frames) for a loudness meter; only once, and only when the graph was
    /// built with `output_tap`.
    pub fn take_output_tap(&mut self) -> Option<rtrb::Consumer<[f32; 2]>> {
        self.output_tap.take()
    }

    pub fn config(&self) -> GraphConfig {
        self.config
    }

    /// The delay the spoil macros add (frames): a stem's plus the master's, constant whatever their amounts.
    /// Offline renders drop this many frames from the start, so a render is where it was before spoil existed.
    pub fn latency_frames(&self) -> usize {
        2 * spoil::latency_frames(self.config.sample_rate)
    }

    /// Starts every stem on the same sample.
    pub fn start(&mut self) {
        self.clock.start();
        self.rolling = true;
    }

    pub fn stems(&self) -> &[StemVoice] {
        &self.voices
    }

    /// Moves stem `index` to a new mapping along a ramp of at least [`MIN_RAMP_S`].
    pub fn apply(&mut self, index: usize, mix: &StemMix, ramp_s: f32) {
        self.apply_timed(index, mix, ramp_s.max(MIN_RAMP_S));
    }

    /// [`MixGraph::apply`] along exactly `ramp_s`: the timeline steps through its keyframes in ramps one
    /// render block long, so a jump lands within a block of its time.
    pub fn apply_timed(&mut self, index: usize, mix: &StemMix, ramp_s: f32) {
        if let Some(voice) = self.voices.get_mut(index) {
            voice.spoil.set(mix.spoil, Hearing::of(mix), ramp_s);
            voice.chain.set(StemParams::from_mix(mix), ramp_s);
        }
    }

    /// Changes the room (reverb) and the master bus.
    pub fn apply_room_and_master(&mut self, scene: &Scene, ramp_s: f32) {
        self.apply_room_and_master_timed(scene, ramp_s.max(MIN_RAMP_S));
    }

    /// [`MixGraph::apply_room_and_master`] along exactly `ramp_s`.
    pub fn apply_room_and_master_timed(&mut self, scene: &Scene, ramp_s: f32) {
        let spoil = if self.config.cues.spoil { scene.master_spoil } else { 0.0 };
        self.reverb.set(reverb_params(&scene.room), ramp_s);
        self.master_spoil.set(spoil, Hearing::FLAT, ramp_s);
        self.master.set(master_params(scene), ramp_s);
    }

    /// Applies a whole scene: every stem's mapping (with this graph's cues), the room and the master.
    pub fn apply_scene(&mut self, scene: &Scene, ramp_s: f32) {
        for (i, mix) in mapping::scene_mix_with(scene, self.config.cues).iter().enumerate() {
            self.apply(i, mix, ramp_s);
        }
        self.apply_room_and_master(scene, ramp_s);
    }

    /// Which cues [`MixGraph::apply_scene`] maps from now on (the caller re-applies its scene).
    pub fn set_cues(&mut self, cues: Cues) {
        self.config.cues = cues;
    }

    pub fn backend_mut(&mut self) -> &mut B {
        self.manager.backend_mut()
    }
}

/// The room's reverb trim is already in each stem's send (so the mapping's DRR is what is heard); the return
/// carries only its own fader (the timeline cuts the tail with it), and switches off when either is at its
/// minimum.
fn reverb_params(room: &Room) -> ReverbParams {
    let off = room.reverb_db <= crate::scene::limits::REVERB_DB.0;
    let cut = room.return_db <= crate::scene::limits::EFFECTS_DB.0;
    ReverbParams {
        size_m: room.size,
        decay_s: room.decay_s,
        damping: room.damping,
        return_gain: if off || cut { 0.0 } else { mapping::db_to_amp(Some(room.return_db)) },
    }
}

fn fade() -> Tween {
    Tween { duration: std::time::Duration::from_secs_f64(TRANSPORT_FADE_S), ..Tween::default() }
}

fn master_params(scene: &Scene) -> MasterParams {
    MasterParams { gain: mapping::db_to_amp(Some(scene.master_gain_db)), ceiling_dbtp: scene.ceiling_dbtp }
}
