//! The audio bridge: after transform propagation, each frame, every stem's row becomes the driver's stem state
//! and the mix state goes to the mix graph (kira over cpal on the stage, over the offline backend in tests);
//! what the panels show of each body, mapped apart; transport and meters.

use bevy::platform::cell::SyncCell;
use bevy::prelude::*;
use bevy::transform::TransformSystems;
use kira::backend::Backend;

use super::shared::{
    AudioNews, HeldLanes, LiveMixes, LiveTimeline, Meters, StageSet, StemAudio, TransportCommand, TransportState,
};
use super::stems::{StageScene, StemRowItem, StemsRebuilt, WorldRows};
use super::workshop::{Compare, CueSwitches, QuizState};
use crate::mix::driver::{MasterState, MixState, StemState};
use crate::mix::graph::{GraphError, MIN_RAMP_S, MixGraph};
use crate::mix::input::source::StemSource;
use crate::mix::mapping::{self, Placement};
use crate::scene::Scene;
use crate::scene::timeline::{Driven, RoomValues, StemValues};

/// Longest parameter ramp the bridge asks for: a slow frame should not make the sound lag behind the picture.
pub const MAX_RAMP_S: f32 = 0.05;

/// Builds a graph for a scene and its decoded stems (kept so the stage can rebuild after a reload).
pub type GraphFactory<B> = Box<dyn Fn(&Scene, &[Option<StemSource>]) -> Result<MixGraph<B>, GraphError> + Send + Sync>;

/// The live mix graph and what it was last told, per stem. (Only ever used through `&mut`, so a [`SyncCell`]
/// makes it a resource although kira's manager is not `Sync`.)
#[derive(Resource)]
pub struct StageAudio<B: Backend + Send + 'static>(SyncCell<AudioState<B>>);

pub struct AudioState<B: Backend> {
    graph: Option<MixGraph<B>>,
    factory: Option<GraphFactory<B>>,
    /// A loudness meter fed from the master output, when the graph has one.
    loudness: Option<LoudnessMeter>,
}

impl<B: Backend + Send + 'static> StageAudio<B>
where
    B::Error: std::fmt::Display,
{
    /// A stage with sound: `factory` builds the graph now and after a reload changes the set of stems.
    pub fn new(scene: &Scene, audio: &[Option<StemSource>], factory: GraphFactory<B>) -> Result<Self, GraphError> {
        let mut graph = factory(scene, audio)?;
        let loudness = graph.take_output_tap().and_then(|tap| LoudnessMeter::new(tap, sample_rate_of(audio)));
        Ok(StageAudio(SyncCell::new(AudioState { graph: Some(graph), factory: Some(factory), loudness })))
    }

    /// A silent stage (no sound device): everything but the sound works.
    pub fn silent() -> Self {
        StageAudio(SyncCell::new(AudioState { graph: None, factory: None, loudness: None }))
    }

    pub fn graph_mut(&mut self) -> Option<&mut MixGraph<B>> {
        self.0.get().graph.as_mut()
    }

    /// Lets the graph and its device go (the stream stops); silent until another is set.
    pub fn release(&mut self) {
        let state = self.0.get();
        state.graph = None;
        state.loudness = None;
    }
}

fn sample_rate_of(audio: &[Option<StemSource>]) -> u32 {
    audio.iter().flatten().map(StemSource::sample_rate).next().unwrap_or(48_000)
}

/// The bridge's systems (after transform propagation): what runs after them sees this frame's snapshot sent.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct BridgeSet;

/// Adds the bridge for backend `B`: the graph resource must be inserted by whoever opens the device.
pub struct AudioBridgePlugin<B: Backend>(std::marker::PhantomData<fn() -> B>);

impl<B: Backend> Default for AudioBridgePlugin<B> {
    fn default() -> Self {
        AudioBridgePlugin(std::marker::PhantomData)
    }
}

impl<B: Backend + Send + 'static> Plugin for AudioBridgePlugin<B>
where
    B::Error: std::fmt::Display,
{
    fn build(&self, app: &mut App) {
        app.init_resource::<LiveMixes>()
            .init_resource::<AudioNews>()
            .init_resource::<HeldLanes>()
            .init_resource::<Meters>()
            .init_resource::<TransportState>()
            .init_resource::<StemAudio>()
            .add_message::<TransportCommand>()
            .add_systems(Update, read_playhead::<B>.before(StageSet::Input))
            .add_systems(
                PostUpdate,
                (rebuild_after_reload::<B>, show_mixes, bridge::<B>, run_transport::<B>, read_meters::<B>)
                    .chain()
                    .in_set(BridgeSet)
                    .after(TransformSystems::Propagate),
            );
    }
}

/// What the world holds of one stem, as the driver takes it: its own values as the body shows them, and its
/// solo. The one place a stem's components become the driver's stem state: the bridge sends it to the engine,
/// `show_mixes` maps it for the panels.
pub fn stem_state(row: &StemRowItem) -> StemState {
    let p = row.transform.translation;
    let values = StemValues {
        position: (p.x, p.y, p.z),
        size: row.size.0,
        spoil: row.spoil.0,
        muted: row.muted.0,
        send_db: row.send.0,
        gain_db: row.gain.0,
    };
    StemState { values, solo: row.solo.0, held: Driven::default() }
}

/// What the panels and halos show: the mapping of the bodies as they stand now (during the quiz, the class's
/// guesses), in the room as the timeline has it (what a hand holds, as the hand has it). Not on the way to the
/// sound: the engine maps what it plays itself, in song time.
fn show_mixes(
    mut mixes: ResMut<LiveMixes>,
    doc: Res<StageScene>,
    cues: Res<CueSwitches>,
    (live, held): (Res<LiveTimeline>, Res<HeldLanes>),
    stems: WorldRows,
) {
    let count = stems.iter().map(|s| s.body.index + 1).max().unwrap_or(0);
    let any_solo = stems.iter().any(|s| s.solo.0);
    let own_room = RoomValues::of(&doc.scene);
    let room_now = held.room.pick(own_room, live.room.unwrap_or(own_room));
    let shown_room =
        crate::scene::Room { return_db: room_now.return_db, reverb_db: room_now.reverb_db, ..doc.scene.room };
    mixes.0.resize(count, None);
    for row in &stems {
        let shown = stem_state(&row);
        let placement = Placement::of(&shown.values, shown.solo, any_solo);
        let mix = mapping::stem_mix_with(&placement, &shown_room, cues.0);
        if mixes.0[row.body.index] != Some(mix) {
            mixes.0[row.body.index] = Some(mix);
        }
    }
}

/// The bridge: what the stage holds becomes the driver's snapshot (the engine maps it, and plays the timeline
/// over it in song time). Changes ramp over one frame (at least
/// [`MIN_RAMP_S`], at most [`MAX_RAMP_S`]) so motion is smooth and never lags. Where the timeline drives a
/// property the bodies show its value, and the snapshot carries the document's own (the engine applies the
/// timeline over it, sample-exactly); workshop mode adds the A/B trim to the master and its cue switches, and
/// during the quiz the truth plays while the bodies show the class's guesses.
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
pub fn bridge<B: Backend + Send + 'static>(
    mut audio: ResMut<StageAudio<B>>,
    mut news: ResMut<AudioNews>,
    doc: Res<StageScene>,
    (compare, cues, quiz): (Res<Compare>, Res<CueSwitches>, Res<QuizState>),
    (live, held): (Res<LiveTimeline>, Res<HeldLanes>),
    time: Res<Time>,
    stems: WorldRows,
) where
    B::Error: std::fmt::Display,
{
    let ramp_s = time.delta_secs().clamp(MIN_RAMP_S, MAX_RAMP_S);
    let count = stems.iter().map(|s| s.body.index + 1).max().unwrap_or(0);
    let cues = cues.0;
    let master = MasterState {
        gain_db: doc.scene.master_gain_db,
        trim_db: compare.trim_db(),
        spoil: doc.scene.master_spoil,
        ceiling_dbtp: doc.scene.ceiling_dbtp,
    };
    let mut rows = vec![None; count];
    for row in &stems {
        let (index, shown) = (row.body.index, stem_state(&row));
        // What the engine plays: the stem's own values where the timeline drives them (it applies the timeline
        // itself), the hand's where a take holds them.
        let held = held.stem(index);
        let values = match doc.scene.stems.get(index).map(StemValues::of) {
            Some(own) => held.pick(shown.values, live.resolved.driven(index).pick(own, shown.values)),
            None => shown.values,
        };
        rows[index] = Some(StemState { values, held, ..shown });
    }
    let Some(graph) = audio.0.get().graph.as_mut() else { return };
    let state = match quiz.0.as_ref() {
        // The truth, with its own timeline, whatever the bodies show.
        Some(quiz) => {
            let mut truth = MixState::of(&quiz.truth, cues, Some(quiz.timeline.clone()));
            truth.master = master;
            truth
        }
        None => MixState {
            stems: rows
                .into_iter()
                .enumerate()
                .map(|(i, row)| {
                    row.unwrap_or_else(|| {
                        StemState::of(&doc.scene.stems[i.min(doc.scene.stems.len().saturating_sub(1))])
                    })
                })
                .collect(),
            room: doc.scene.room,
            master,
            cues,
            timeline: Some(live.resolved.clone()).filter(|t| t.has_keys()),
            room_held: held.room,
        },
    };
    news.sent = graph.set_state(state, ramp_s).map(|seq| (seq, ramp_s.max(MIN_RAMP_S)));
    news.receipts.clear();
    graph.take_receipts(&mut news.receipts);
    news.pass_and_lap = graph.pass_and_lap();
}

/// Rebuilds the graph when a reload changed the set of stems (new files are decoded at the same rate).
fn rebuild_after_reload<B: Backend + Send + 'static>(
    mut rebuilt: MessageReader<StemsRebuilt>,
    mut audio: ResMut<StageAudio<B>>,
    mut stem_audio: ResMut<StemAudio>,
    mut transport: ResMut<TransportState>,
    doc: Res<StageScene>,
) where
    B::Error: std::fmt::Display,
{
    if rebuilt.read().count() == 0 {
        return;
    }
    let sample_rate = stem_audio.sample_rate.max(1);
    *stem_audio = StemAudio::load(&doc.path, &doc.scene, sample_rate);
    let Some(factory) = audio.0.get().factory.take() else { return };
    let was_playing = transport.playing;
    let position = transport.position_s;
    audio.0.get().graph = None; // the old graph (and its device stream) goes before the new one opens
    match StageAudio::new(&doc.scene, &stem_audio.audio, factory) {
        Ok(mut fresh) => {
            if let Some(graph) = fresh.graph_mut() {
                transport.song_s = graph.song_seconds();
                let _ = graph.set_looping(transport.looping);
                if was_playing {
                    let _ = graph.play_from(position);
                }
            }
            *audio = fresh;
        }
        Err(e) => {
            stem_audio.problems.push(format!("the mixer could not be rebuilt: {e}"));
            transport.live = false;
        }
    }
}

fn run_transport<B: Backend + Send + 'static>(
    mut requests: MessageReader<TransportCommand>,
    mut audio: ResMut<StageAudio<B>>,
    mut state: ResMut<TransportState>,
    stems: Res<StemAudio>,
) where
    B::Error: std::fmt::Display,
{
    let Some(graph) = audio.graph_mut() else {
        // Silent: the transport cannot move, but the song's length is still worth showing.
        requests.clear();
        let song_s = stems.audio.iter().flatten().map(StemSource::seconds).fold(0.0, f64::max);
        if state.live || state.song_s != song_s {
            state.live = false;
            state.song_s = song_s;
        }
        return;
    };
    for request in requests.read() {
        let position = graph.position_s();
        let result = match *request {
            TransportCommand::TogglePlay if graph.is_playing() => {
                graph.pause();
                Ok(())
            }
            TransportCommand::TogglePlay | TransportCommand::Play => {
                // Play at the end of a song that played once starts it again.
                let from = if position >= graph.song_seconds() - 0.01 { 0.0 } else { position };
                graph.play_from(from)
            }
            TransportCommand::Pause => {
                graph.pause();
                Ok(())
            }
            TransportCommand::Seek(s) | TransportCommand::Nudge(s) => {
                let target = if matches!(request, TransportCommand::Nudge(_)) { position + s } else { s };
                if graph.is_playing() {
                    graph.play_from(target)
                } else {
                    graph.pause_at(target);
                    Ok(())
                }
            }
            TransportCommand::SetLooping(on) => graph.set_looping(on),
        };
        if let Err(e) = result {
            warn!("transport: {e}");
        }
    }
    state.live = true;
    state.playing = graph.is_playing();
    state.position_s = graph.position_s();
    state.song_s = graph.song_seconds();
    state.looping = graph.config().looping;
}

/// The playhead as of the last audio callback, read first thing in the frame: the timeline is evaluated from
/// it, and a value from the end of the previous frame would put every keyframe a frame late.
fn read_playhead<B: Backend + Send + 'static>(mut audio: ResMut<StageAudio<B>>, mut state: ResMut<TransportState>)
where
    B::Error: std::fmt::Display,
{
    if let Some(graph) = audio.graph_mut() {
        let position_s = graph.position_s();
        if state.position_s != position_s {
            state.position_s = position_s;
        }
    }
}

/// Meter readings: stem peaks (for the glow), the limiter, the loudness meter on the master tap, and how the
/// streamed stems are doing.
fn read_meters<B: Backend + Send + 'static>(
    mut audio: ResMut<StageAudio<B>>,
    mut meters: ResMut<Meters>,
    doc: Res<StageScene>,
    time: Res<Time>,
    frames: Res<bevy::diagnostic::FrameCount>,
) where
    B::Error: std::fmt::Display,
{
    let audio = audio.0.get();
    let Some(graph) = audio.graph.as_mut() else { return };
    if frames.0.is_multiple_of(10) {
        read_stream_health(graph, &doc.scene, &mut meters);
    }
    // Falls ~20 dB per second, like a PPM's return, so the glow breathes with the music.
    let fall = (-time.delta_secs() * 2.3 * 2.0).exp();
    let stems = graph.stems();
    meters.stem_level.resize(stems.len(), 0.0);
    let meters = &mut *meters;
    for (level, voice) in meters.stem_level.iter_mut().zip(stems) {
        let peak = voice.meter.peak.take();
        *level = peak.max(*level * fall);
        meters.faults += voice.meter.faults.swap(0, std::sync::atomic::Ordering::Relaxed);
    }
    let min_gain = graph.meter.min_gain.load();
    graph.meter.min_gain.store(1.0);
    meters.limiter_db = 20.0 * min_gain.max(1e-6).log10();
    if let Some(loudness) = audio.loudness.as_mut() {
        loudness.drain(time.delta_secs_f64());
        meters.short_term_lufs = loudness.short_term();
        meters.true_peak_dbtp = loudness.recent_true_peak_dbtp();
        meters.true_peak_max_dbtp = loudness.max_true_peak_dbtp();
    }
}

/// Underruns, failures and repairs of the streamed stems, named, for the banners.
fn read_stream_health<B: Backend>(graph: &MixGraph<B>, scene: &Scene, meters: &mut Meters)
where
    B::Error: std::fmt::Display,
{
    let (mut underruns, mut frames) = (0, 0);
    let mut problems = Vec::new();
    let mut repairs = Vec::new();
    for (voice, stem) in graph.stems().iter().zip(&scene.stems) {
        let Some(health) = voice.health() else { continue };
        underruns += health.underruns;
        frames += health.underrun_frames;
        if let Some(p) = health.problem {
            problems.push(format!("stem \"{}\": {p}", stem.name));
        }
        if health.repairs.any() {
            repairs.push(format!("stem \"{}\" ({}): {}", stem.name, stem.file, health.repairs));
        }
    }
    meters.underruns = underruns;
    meters.underrun_s = frames as f64 / graph.config().sample_rate as f64;
    let waits = graph.priming_waits();
    let rate = graph.config().sample_rate as f64;
    meters.longest_seek_wait_s = waits.longest_frames as f64 / rate;
    meters.longest_seek_switch_s = waits.longest_switch_frames as f64 / rate;
    if meters.stream_problems != problems {
        meters.stream_problems = problems;
    }
    if meters.repairs != repairs {
        meters.repairs = repairs;
    }
}

/// BS.1770 short-term loudness and true peak of what leaves the master, computed off the audio thread.
pub struct LoudnessMeter {
    tap: rtrb::Consumer<[f32; 2]>,
    meter: ebur128::EbuR128,
    scratch: Vec<f32>,
    /// Recent true-peak values (linear) with their age, for a 2-second hold.
    recent: std::collections::VecDeque<(f64, f64)>,
    clock_s: f64,
    max_true_peak: f64,
}

/// How long the true-peak reading holds a peak.
const TRUE_PEAK_HOLD_S: f64 = 2.0;

impl LoudnessMeter {
    fn new(tap: rtrb::Consumer<[f32; 2]>, sample_rate: u32) -> Option<LoudnessMeter> {
        let meter = ebur128::EbuR128::new(2, sample_rate, ebur128::Mode::S | ebur128::Mode::TRUE_PEAK).ok()?;
        Some(LoudnessMeter {
            tap,
            meter,
            scratch: Vec::new(),
            recent: Default::default(),
            clock_s: 0.0,
            max_true_peak: 0.0,
        })
    }

    fn drain(&mut self, dt: f64) {
        self.clock_s += dt;
        let n = self.tap.slots();
        let Ok(chunk) = self.tap.read_chunk(n) else { return };
        self.scratch.clear();
        let (a, b) = chunk.as_slices();
        self.scratch.extend(a.iter().chain(b).flat_map(|f| [f[0], f[1]]));
        chunk.commit_all();
        if self.scratch.is_empty() || self.meter.add_frames_f32(&self.scratch).is_err() {
            return;
        }
        let peak = (0..2).filter_map(|c| self.meter.prev_true_peak(c).ok()).fold(0.0, f64::max);
        self.max_true_peak = self.max_true_peak.max(peak);
        self.recent.push_back((self.clock_s, peak));
        while self.recent.front().is_some_and(|(t, _)| self.clock_s - t > TRUE_PEAK_HOLD_S) {
            self.recent.pop_front();
        }
    }

    fn short_term(&self) -> Option<f64> {
        self.meter.loudness_shortterm().ok().filter(|l| l.is_finite())
    }

    fn recent_true_peak_dbtp(&self) -> Option<f64> {
        let peak = self.recent.iter().map(|r| r.1).fold(0.0, f64::max);
        (peak > 0.0).then(|| 20.0 * peak.log10())
    }

    fn max_true_peak_dbtp(&self) -> Option<f64> {
        (self.max_true_peak > 0.0).then(|| 20.0 * self.max_true_peak.log10())
    }
}
