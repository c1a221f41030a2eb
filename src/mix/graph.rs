//! One mix graph for live and offline use: a kira track per stem carrying the fused stem chain, the shared
//! reverb, and the master chain; `apply` moves it to a new mapping along ramps at least a video frame long.

use std::fmt;
use std::sync::Arc;

use kira::backend::Backend;
use kira::clock::{ClockHandle, ClockSpeed, ClockTime};
use kira::sound::static_sound::{StaticSoundData, StaticSoundHandle, StaticSoundSettings};
use kira::track::{MainTrackBuilder, TrackBuilder, TrackHandle};
use kira::{AudioManager, AudioManagerSettings, Capacities};

use super::effects::master::{MasterChainBuilder, MasterChainHandle, MasterMeter, MasterParams};
use super::effects::reverb::{ReverbBus, ReverbParams, ReverbReturnBuilder, ReverbReturnHandle};
use super::effects::stem_chain::{StemChainBuilder, StemChainHandle, StemMeter, StemParams};
use super::import::Audio;
use super::mapping::{self, StemMix};
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
}

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
    _track: TrackHandle,
    chain: StemChainHandle,
    /// Kept for the stage's transport (seek, pause); dropping it would not stop the sound.
    _sound: Option<StaticSoundHandle>,
    pub meter: Arc<StemMeter>,
}

/// The mix graph over any kira backend: cpal for the stage, [`super::offline::OfflineBackend`] for export.
pub struct MixGraph<B: Backend> {
    manager: AudioManager<B>,
    clock: ClockHandle,
    voices: Vec<StemVoice>,
    reverb: ReverbReturnHandle,
    master: MasterChainHandle,
    pub meter: Arc<MasterMeter>,
    config: GraphConfig,
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
        let master = main.add_effect(MasterChainBuilder { params: master_params(scene), meter: meter.clone() });
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
        let mixes = mapping::scene_mix(scene);
        let mut voices = Vec::with_capacity(scene.stems.len());
        for (i, mix) in mixes.iter().enumerate() {
            let stem_meter = Arc::new(StemMeter::default());
            let mut builder = TrackBuilder::new();
            let chain = builder.add_effect(StemChainBuilder {
                initial: StemParams::from_mix(mix),
                bus: bus.clone(),
                meter: stem_meter.clone(),
            });
            let mut track = manager.add_sub_track(builder).map_err(|_| GraphError::TooManyStems(scene.stems.len()))?;
            let sound = match audio.get(i).and_then(|a| a.as_ref()) {
                Some(a) => {
                    // All stems wait for the same clock tick, so they start in the same sample.
                    let mut settings =
                        StaticSoundSettings::new().start_time(ClockTime { clock: clock.id(), ticks: 0, fraction: 0.0 });
                    if config.looping {
                        settings = settings.loop_region(..);
                    }
                    let data =
                        StaticSoundData { sample_rate: a.sample_rate, frames: a.frames.clone(), settings, slice: None };
                    Some(track.play(data).map_err(|e| GraphError::Kira(e.to_string()))?)
                }
                None => None,
            };
            voices.push(StemVoice { _track: track, chain, _sound: sound, meter: stem_meter });
        }
        Ok(MixGraph { manager, clock, voices, reverb, master, meter, config })
    }

    pub fn config(&self) -> GraphConfig {
        self.config
    }

    /// Starts every stem on the same sample.
    pub fn start(&mut self) {
        self.clock.start();
    }

    pub fn stems(&self) -> &[StemVoice] {
        &self.voices
    }

    /// Moves stem `index` to a new mapping along a ramp of at least [`MIN_RAMP_S`].
    pub fn apply(&mut self, index: usize, mix: &StemMix, ramp_s: f32) {
        if let Some(voice) = self.voices.get_mut(index) {
            voice.chain.set(StemParams::from_mix(mix), ramp_s.max(MIN_RAMP_S));
        }
    }

    /// Changes the room (reverb) and the master bus.
    pub fn apply_room_and_master(&mut self, scene: &Scene, ramp_s: f32) {
        let ramp_s = ramp_s.max(MIN_RAMP_S);
        self.reverb.set(reverb_params(&scene.room), ramp_s);
        self.master.set(master_params(scene), ramp_s);
    }

    /// Applies a whole scene: every stem's mapping, the room and the master.
    pub fn apply_scene(&mut self, scene: &Scene, ramp_s: f32) {
        for (i, mix) in mapping::scene_mix(scene).iter().enumerate() {
            self.apply(i, mix, ramp_s);
        }
        self.apply_room_and_master(scene, ramp_s);
    }

    pub fn backend_mut(&mut self) -> &mut B {
        self.manager.backend_mut()
    }
}

/// The room's reverb trim is already in each stem's send (so the mapping's DRR is what is heard); the return
/// only switches off when the trim is at its minimum.
fn reverb_params(room: &Room) -> ReverbParams {
    let off = room.reverb_db <= crate::scene::limits::REVERB_DB.0;
    ReverbParams {
        size_m: room.size,
        decay_s: room.decay_s,
        damping: room.damping,
        return_gain: if off { 0.0 } else { 1.0 },
    }
}

fn master_params(scene: &Scene) -> MasterParams {
    MasterParams { gain: mapping::db_to_amp(Some(scene.master_gain_db)), ceiling_dbtp: scene.ceiling_dbtp }
}
