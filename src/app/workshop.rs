//! Workshop mode (stage logic, no drawing): the timeline played on the stage, A/B between loaded scenes
//! (loudness-matched, a morph, switches on the next bar line), presenter and listen modes, the placement quiz
//! and cue isolation. The panels and the view read this; the audio bridge hears it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;

use super::intent::Intent;
use super::intent::world_scene;
use super::shared::{HeldLanes, LiveTimeline, StageOptions, StageSet, StemAudio, TransportState};
use super::stems::{History, StageScene, StemRowMut, WorldRows, modified};
use crate::mix::ab::{self, Matched};
use crate::mix::mapping::Cues;
use crate::mix::offline::RenderOptions;
use crate::mix::quiz::{self, Answer};
use crate::scene::Scene;
use crate::scene::timeline::{Resolved, RoomValues, StemValues};

/// One scene loaded for comparison.
#[derive(Debug, Clone)]
pub struct Slot {
    pub path: PathBuf,
    /// The scene as last left (edits made while it was active are kept here until saved).
    pub scene: Scene,
    pub dirty: bool,
    /// Master trim that brings it to the comparison's common loudness (dB).
    pub trim_db: f32,
    /// Its loudness before the trim, once measured.
    pub measured_lufs: Option<f64>,
}

/// The placement quiz: the truth, and the score once revealed.
#[derive(Debug, Clone)]
pub struct Quiz {
    /// The scene as staged before the class moved anything; this is what plays during the quiz.
    pub truth: Scene,
    /// Its timeline, resolved once (it keeps playing during the quiz).
    pub timeline: Arc<Resolved>,
    pub answers: Option<Vec<Answer>>,
}

impl Quiz {
    /// The truth at song time `t`.
    pub fn truth_at(&self, t: f64) -> Scene {
        self.timeline.scene_at(&self.truth, t)
    }
}

/// A/B: the scenes loaded for comparison, which one is shown, the morph, bar-line switches and the loudness
/// match that levels them.
#[derive(Resource, Debug)]
pub struct Compare {
    /// The opened scene first, then those named after it.
    pub slots: Vec<Slot>,
    /// The slot shown (A).
    pub active: usize,
    /// Where Tab goes: the scene shown before this one (B).
    pub other: usize,
    /// While the morph slider is away from A: 0 (A, the active scene) .. 1 (B, the other one).
    pub morph: Option<f32>,
    /// Switches wait for the next bar line (when the scene has a tempo and the transport rolls).
    pub on_bar: bool,
    /// A switch waiting for its bar line: (slot, the bar line's song time, when it was asked).
    pub pending: Option<(usize, f64, f64)>,
    /// The loudness match running in the background.
    matching: Option<Arc<Mutex<MatchState>>>,
    /// How far the loudness match is (1 = done); `None` asks for a new one.
    pub matching_progress: Option<f32>,
}

/// How the room sees the stage: presenter mode (big type, no panels) and listen mode (bodies hidden).
#[derive(Resource, Debug, Default, Clone, Copy)]
pub struct Presentation {
    /// The intent card and the scene strip instead of the panels.
    pub presenter: bool,
    /// Bodies hidden: people listen instead of look.
    pub listen: bool,
}

/// Cue isolation: what the mapping applies (the stage hears and exports this).
#[derive(Resource, Debug, Clone, Copy)]
pub struct CueSwitches(pub Cues);

impl Default for CueSwitches {
    fn default() -> Self {
        CueSwitches(Cues::ALL)
    }
}

/// The placement quiz, while it runs.
#[derive(Resource, Debug, Default)]
pub struct QuizState(pub Option<Quiz>);

/// Workshop mode's one-line news for its panel.
#[derive(Resource, Debug, Default)]
pub struct WorkshopNews(pub String);

#[derive(Debug, Default)]
struct MatchState {
    progress: f32,
    result: Option<Result<Vec<Matched>, String>>,
}

impl Compare {
    fn new(slots: Vec<Slot>) -> Compare {
        Compare {
            slots,
            active: 0,
            other: 1,
            morph: None,
            on_bar: false,
            pending: None,
            matching: None,
            matching_progress: None,
        }
    }

    /// The master trim heard now: the active scene's, or the morph's blend of A's and B's.
    pub fn trim_db(&self) -> f32 {
        let a = self.slots.get(self.active).map_or(0.0, |s| s.trim_db);
        match self.morph {
            Some(m) => {
                let b = self.slots.get(self.other).map_or(0.0, |s| s.trim_db);
                a + (b - a) * m
            }
            None => a,
        }
    }

    /// "A", "B", "C" ... for slot `i`.
    pub fn letter(i: usize) -> char {
        (b'A' + (i % 26) as u8) as char
    }
}

/// What the panels and keys ask of workshop mode.
#[derive(Message, Debug, Clone, PartialEq)]
pub enum WorkshopCommand {
    /// Show slot i (on the next bar line when asked to).
    Pick(usize),
    /// Back to the other scene (Tab).
    Toggle,
    /// Glide every body between A (0) and B (1).
    Morph(f32),
    TogglePresenter,
    ToggleListen,
    /// Start the quiz, reveal it, or end it (one key walks through the three).
    QuizStep,
    /// Measure every loaded scene again and recompute the trims.
    Rematch,
    /// Switch cue `i` (level, direct-to-reverb, air, pre-delay, width, spoil ...) off or on.
    ToggleCue(usize),
    /// Switch on the bar line, or at once.
    ToggleOnBar,
}

/// Workshop mode: the scenes loaded for comparison besides the one opened (same stems, checked before).
pub struct WorkshopPlugin {
    pub slots: Vec<(PathBuf, Scene)>,
}

impl Plugin for WorkshopPlugin {
    fn build(&self, app: &mut App) {
        let slots = self
            .slots
            .iter()
            .map(|(path, scene)| Slot {
                path: path.clone(),
                scene: scene.clone(),
                dirty: false,
                trim_db: 0.0,
                measured_lufs: None,
            })
            .collect();
        app.insert_resource(Compare::new(slots))
            .init_resource::<Presentation>()
            .init_resource::<CueSwitches>()
            .init_resource::<QuizState>()
            .init_resource::<WorkshopNews>()
            .init_resource::<LiveTimeline>()
            .init_resource::<HeldLanes>()
            .add_message::<WorkshopCommand>()
            .add_systems(Startup, (take_options, start_matching))
            .add_systems(
                Update,
                (
                    (run_workshop_commands, switch_on_the_bar, poll_matching).chain().in_set(StageSet::Workshop),
                    drive_timeline.after(StageSet::Document),
                ),
            );
    }
}

/// Workshop mode's state, one resource per concern.
#[derive(SystemParam)]
pub struct Modes<'w> {
    /// A/B.
    pub compare: ResMut<'w, Compare>,
    /// Presenter and listen.
    pub presentation: ResMut<'w, Presentation>,
    /// Cue isolation.
    pub cues: ResMut<'w, CueSwitches>,
    /// The quiz.
    pub quiz: ResMut<'w, QuizState>,
    /// The panel's news line.
    pub news: ResMut<'w, WorkshopNews>,
}

/// The document, its history and the stems as the world holds them; what workshop mode shows goes out as
/// [`Intent::Show`].
#[derive(SystemParam)]
struct Stage<'w, 's> {
    doc: ResMut<'w, StageScene>,
    history: ResMut<'w, History>,
    stems: WorldRows<'w, 's>,
    intents: MessageWriter<'w, Intent>,
}

impl Stage<'_, '_> {
    /// The scene the world holds now.
    fn now(&self) -> Scene {
        world_scene(&self.doc.scene, self.stems.iter())
    }

    fn show(&mut self, scene: Scene) {
        self.intents.write(Intent::Show(Box::new(scene)));
    }
}

fn run_workshop_commands(
    mut requests: MessageReader<WorkshopCommand>,
    mut modes: Modes,
    mut stage: Stage,
    transport: Res<TransportState>,
    live: Res<LiveTimeline>,
) {
    for request in requests.read() {
        let news = &mut modes.news.0;
        let w = &mut *modes.compare;
        match request {
            WorkshopCommand::Pick(_) | WorkshopCommand::Toggle if modes.quiz.0.is_some() => {
                *news = "finish the quiz first (Q)".into();
            }
            WorkshopCommand::Pick(i) if *i >= w.slots.len() => {
                *news = format!("no scene {} (open more: proxemix A.ron B.ron ...)", i + 1);
            }
            WorkshopCommand::Pick(_) | WorkshopCommand::Toggle => {
                let target = if let WorkshopCommand::Pick(i) = request { *i } else { w.other };
                if w.slots.len() < 2 {
                    *news = "one scene loaded; open more to compare: proxemix A.ron B.ron ...".into();
                    continue;
                }
                if target == w.active && w.morph.is_none() {
                    continue;
                }
                let bar = live.resolved.next_bar_after(transport.position_s);
                match bar.filter(|_| w.on_bar && transport.playing) {
                    Some(at) => {
                        w.pending = Some((target, at, transport.position_s));
                        *news = format!("{} on the next bar line", Compare::letter(target));
                    }
                    None => *news = switch_to(w, target, &mut stage),
                }
            }
            WorkshopCommand::Morph(m) => {
                if w.slots.len() < 2 || modes.quiz.0.is_some() {
                    continue;
                }
                if w.morph.is_none() {
                    // Leaving A: keep its edits in its slot, so the morph starts from what was heard.
                    w.slots[w.active].scene = stage.now();
                    w.slots[w.active].dirty = stage.doc.dirty;
                }
                let m = m.clamp(0.0, 1.0);
                w.morph = Some(m);
                let (a, b) = (&w.slots[w.active].scene, &w.slots[w.other].scene);
                stage.show(morph(a, b, m));
                *news = format!(
                    "morph {} {:.0} % → {}",
                    Compare::letter(w.active),
                    (1.0 - m) * 100.0,
                    Compare::letter(w.other)
                );
            }
            WorkshopCommand::TogglePresenter => modes.presentation.presenter = !modes.presentation.presenter,
            WorkshopCommand::ToggleListen => modes.presentation.listen = !modes.presentation.listen,
            WorkshopCommand::ToggleOnBar => w.on_bar = !w.on_bar,
            WorkshopCommand::ToggleCue(i) => {
                let mut cues = modes.cues.0;
                if let Some((_, on)) = cues.switches().into_iter().nth(*i) {
                    *on = !*on;
                }
                modes.cues.0 = cues;
            }
            WorkshopCommand::QuizStep => match modes.quiz.0.take() {
                None => {
                    let truth = stage.now();
                    let mut start = truth.clone();
                    // Everyone waits on the floor in a row beside the listener, half on each side: a start
                    // that gives nothing away, in view, from which each body has to be carried out.
                    for (i, stem) in start.stems.iter_mut().enumerate() {
                        let side = if i % 2 == 0 { -1.0 } else { 1.0 };
                        stem.position = (side * (0.8 + 0.55 * (i / 2) as f32), 0.15, 0.0);
                        stem.keys.clear();
                    }
                    start.timeline = None;
                    stage.show(start);
                    let timeline = Arc::new(Resolved::of(&truth).unwrap_or_default());
                    modes.quiz.0 = Some(Quiz { truth, timeline, answers: None });
                    modes.presentation.listen = false;
                    w.morph = None;
                    *news = "quiz: listen, then place each body where you hear it; Q reveals".into();
                }
                Some(mut quiz) if quiz.answers.is_none() => {
                    let truth_now = quiz.truth_at(live.t);
                    let answers = quiz::score(&truth_now, &stage.now());
                    let (d, a, points) = quiz::summary(&answers);
                    *news = format!(
                        "quiz: {points:.0} points (distance off by {d:.1} m, direction by {a:.0}° on average); Q ends"
                    );
                    quiz.answers = Some(answers);
                    modes.quiz.0 = Some(quiz);
                }
                Some(quiz) => {
                    stage.show(quiz.truth);
                    *news = "quiz over: the staging is back".into();
                }
            },
            WorkshopCommand::Rematch => {
                if w.morph.is_none()
                    && let Some(slot) = w.slots.get_mut(w.active)
                {
                    slot.scene = stage.now();
                }
                if w.matching.is_none() {
                    w.matching_progress = None;
                }
            }
        }
    }
}

/// Shows slot `target`: the active scene's edits stay in its slot, the document now is the target's file.
/// Returns the news.
fn switch_to(w: &mut Compare, target: usize, stage: &mut Stage) -> String {
    if target >= w.slots.len() {
        return String::new();
    }
    if w.morph.is_none() {
        w.slots[w.active].scene = stage.now();
        w.slots[w.active].dirty = stage.doc.dirty;
    }
    if target != w.active {
        w.other = w.active;
        w.active = target;
    }
    w.morph = None;
    w.pending = None;
    let slot = &w.slots[target];
    let doc = &mut *stage.doc;
    doc.path = slot.path.clone();
    doc.dirty = slot.dirty;
    doc.seen_modified = modified(&slot.path);
    doc.reload_error = None;
    stage.history.clear();
    let news = format!("{}: {}", Compare::letter(target), slot.scene.name);
    stage.show(slot.scene.clone());
    news
}

/// A switch asked for on the bar line happens one video frame before it, so the one-frame ramp lands on it.
fn switch_on_the_bar(
    mut compare: ResMut<Compare>,
    mut news: ResMut<WorkshopNews>,
    mut stage: Stage,
    transport: Res<TransportState>,
    time: Res<Time>,
) {
    let Some((target, at, asked_at)) = compare.pending else { return };
    let now = transport.position_s;
    // The playhead only goes back when the song loops (or is moved): the bar line has passed.
    let wrapped = now < asked_at;
    if !transport.playing || now + time.delta_secs_f64() >= at || wrapped {
        news.0 = switch_to(&mut compare, target, &mut stage);
    }
}

/// Every stem property halfway (by `m`) from `a` to `b`: positions in straight lines, sizes geometrically,
/// levels in dB; a stem muted on one side fades from -60 dB.
pub fn morph(a: &Scene, b: &Scene, m: f32) -> Scene {
    let lerp = |x: f32, y: f32| x + (y - x) * m;
    let mut out = if m < 0.5 { a.clone() } else { b.clone() };
    for (i, stem) in out.stems.iter_mut().enumerate() {
        let (Some(x), Some(y)) = (a.stems.get(i), b.stems.get(i)) else { continue };
        stem.position =
            (lerp(x.position.0, y.position.0), lerp(x.position.1, y.position.1), lerp(x.position.2, y.position.2));
        stem.size = x.size * (y.size / x.size).powf(m);
        stem.spoil = lerp(x.spoil, y.spoil);
        stem.send_db = lerp(x.send_db, y.send_db);
        let level = |s: &crate::scene::Stem| if s.muted { crate::scene::limits::GAIN_DB.0 } else { s.gain_db };
        stem.gain_db = lerp(level(x), level(y));
        stem.muted = x.muted && y.muted;
    }
    out.room.size = a.room.size * (b.room.size / a.room.size).powf(m);
    out.room.decay_s = a.room.decay_s * (b.room.decay_s / a.room.decay_s).powf(m);
    out.room.damping = lerp(a.room.damping, b.room.damping);
    out.room.reverb_db = lerp(a.room.reverb_db, b.room.reverb_db);
    out.master_gain_db = lerp(a.master_gain_db, b.master_gain_db);
    out.master_spoil = lerp(a.master_spoil, b.master_spoil);
    out
}

fn take_options(options: Option<Res<StageOptions>>, mut presentation: ResMut<Presentation>) {
    presentation.presenter = options.is_some_and(|o| o.presenter);
}

fn start_matching(mut compare: ResMut<Compare>, stem_audio: Res<StemAudio>) {
    begin_matching(&mut compare, &stem_audio);
}

/// With two or more scenes loaded, measure them all in the background and trim each to the quietest.
fn begin_matching(workshop: &mut Compare, stem_audio: &StemAudio) {
    if workshop.slots.len() < 2 || workshop.matching.is_some() {
        return;
    }
    let scenes: Vec<Scene> = workshop.slots.iter().map(|s| s.scene.clone()).collect();
    let audio = stem_audio.audio.clone();
    let options = RenderOptions { sample_rate: stem_audio.sample_rate.max(8_000), ..Default::default() };
    let state = Arc::new(Mutex::new(MatchState::default()));
    let shared = state.clone();
    let measure = move || {
        let result = ab::match_loudness(&scenes, &audio, &options, &mut |p| {
            shared.lock().unwrap_or_else(|e| e.into_inner()).progress = p as f32;
        });
        shared.lock().unwrap_or_else(|e| e.into_inner()).result = Some(result.map_err(|e| e.to_string()));
    };
    // In the browser there are no threads: the scenes are measured here, holding the page for the renders'
    // time (a second or two per scene of the demo's length).
    #[cfg(target_arch = "wasm32")]
    let spawned: std::io::Result<()> = {
        measure();
        Ok(())
    };
    #[cfg(not(target_arch = "wasm32"))]
    let spawned = std::thread::Builder::new().name("proxemix loudness match".into()).spawn(measure);
    if spawned.is_ok() {
        workshop.matching = Some(state);
        workshop.matching_progress = Some(0.0);
    }
}

fn poll_matching(mut workshop: ResMut<Compare>, mut news: ResMut<WorkshopNews>, stem_audio: Res<StemAudio>) {
    if workshop.matching_progress.is_none() && workshop.matching.is_none() && workshop.slots.len() >= 2 {
        // Asked to measure again: the slots hold the latest edits of the scenes not shown.
        begin_matching(&mut workshop, &stem_audio);
        return;
    }
    let Some(state) = workshop.matching.clone() else { return };
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    workshop.matching_progress = Some(state.progress);
    let Some(result) = state.result.take() else { return };
    workshop.matching = None;
    workshop.matching_progress = Some(1.0);
    match result {
        Ok(matched) => {
            for (slot, m) in workshop.slots.iter_mut().zip(matched) {
                slot.trim_db = m.trim_db;
                slot.measured_lufs = Some(m.measured_lufs);
            }
            news.0 = "loudness matched: every scene plays at the quietest one's loudness".into();
        }
        Err(e) => news.0 = format!("loudness match failed: {e}"),
    }
}

/// Evaluates the timeline at the playhead and moves the bodies it drives, for the eye (not during the quiz: the
/// bodies are the class's guesses then; not what a hand holds while a take records). What is heard is the
/// engine's own evaluation, in song time.
#[allow(clippy::type_complexity)]
fn drive_timeline(
    doc: Res<StageScene>,
    transport: Res<TransportState>,
    quiz: Res<QuizState>,
    held: Res<HeldLanes>,
    mut live: ResMut<LiveTimeline>,
    mut primed: Local<bool>,
    mut stems: Query<StemRowMut>,
) {
    if doc.is_changed() || !*primed {
        live.resolved = Arc::new(Resolved::of(&doc.scene).unwrap_or_default());
        *primed = true;
    }
    let t = transport.position_s;
    live.t = t;
    let room = live.resolved.room_at(RoomValues::of(&doc.scene), t);
    live.return_db = room.return_db;
    live.room = Some(room);
    live.section = live.resolved.section_at(t).map(|s| s.name.clone());
    live.bar = live.resolved.tempo.map(|tempo| t / tempo.bar_s() + 1.0);
    if quiz.0.is_some() || !live.resolved.has_keys() {
        return;
    }
    for mut row in &mut stems {
        let index = row.body.index;
        let driven = live.resolved.driven(index);
        let Some(own) = doc.scene.stems.get(index).filter(|_| driven.any()) else { continue };
        // What a hand holds during a take, the hand shows.
        row.show(&live.resolved.stem_at(index, StemValues::of(own), t), driven.except(held.stem(index)));
    }
}
