//! Workshop mode (stage logic, no drawing): the timeline played on the stage, A/B between loaded scenes
//! (loudness-matched, a morph, switches on the next bar line), presenter and listen modes, the placement quiz
//! and cue isolation. The panels and the view read this; the audio bridge hears it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bevy::prelude::*;

use super::audio::{StemAudio, TransportState};
use super::stems::{
    BodySize, GainTrim, History, Muted, SceneCommand, SendTrim, Solo, Spoil, StageScene, StageSet, StemBody,
    world_scene,
};
use crate::mix::ab::{self, Matched};
use crate::mix::mapping::Cues;
use crate::mix::offline::RenderOptions;
use crate::mix::quiz::{self, Answer};
use crate::scene::Scene;
use crate::scene::timeline::{Resolved, StemValues};

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

/// Everything workshop mode holds.
#[derive(Resource, Debug)]
pub struct Workshop {
    pub slots: Vec<Slot>,
    pub active: usize,
    /// Where Tab goes: the scene shown before this one.
    pub other: usize,
    /// While the morph slider is away from A: 0 (A, the active scene) .. 1 (B, the other one).
    pub morph: Option<f32>,
    /// Switches wait for the next bar line (when the scene has a tempo and the transport rolls).
    pub on_bar: bool,
    /// A switch waiting for its bar line: (slot, the bar line's song time, when it was asked).
    pub pending: Option<(usize, f64, f64)>,
    pub presenter: bool,
    /// Bodies hidden: people listen instead of look.
    pub listen: bool,
    /// Cue isolation: what the mapping applies (the stage hears and exports this).
    pub cues: Cues,
    pub quiz: Option<Quiz>,
    /// The loudness match running in the background, and how far it is.
    matching: Option<Arc<Mutex<MatchState>>>,
    pub matching_progress: Option<f32>,
    pub status: String,
}

#[derive(Debug, Default)]
struct MatchState {
    progress: f32,
    result: Option<Result<Vec<Matched>, String>>,
}

impl Workshop {
    fn new(slots: Vec<Slot>) -> Workshop {
        Workshop {
            slots,
            active: 0,
            other: 1,
            morph: None,
            on_bar: false,
            pending: None,
            presenter: false,
            listen: false,
            cues: Cues::ALL,
            quiz: None,
            matching: None,
            matching_progress: None,
            status: String::new(),
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

/// The timeline as the stage plays it: resolved from the document, evaluated at the playhead.
#[derive(Resource, Debug, Default)]
pub struct LiveTimeline {
    pub resolved: Arc<Resolved>,
    /// Song time the stage evaluated this frame.
    pub t: f64,
    /// The reverb return's fader there (dB).
    pub return_db: f32,
    pub section: Option<String>,
    /// Bar number (from 1, with the fraction) when there is a tempo.
    pub bar: Option<f64>,
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
        app.insert_resource(Workshop::new(slots))
            .init_resource::<LiveTimeline>()
            .add_message::<WorkshopCommand>()
            .add_systems(Startup, (take_options, start_matching))
            .add_systems(
                Update,
                (
                    (workshop_keys, run_workshop_commands, switch_on_the_bar, poll_matching)
                        .chain()
                        .after(StageSet::Input)
                        .before(StageSet::Document),
                    drive_timeline.after(StageSet::Document),
                ),
            );
    }
}

/// Number keys pick a scene, Tab goes back and forth (with two or more scenes), P presenter mode (Esc leaves
/// it), H listen mode, Q the quiz, F1–F6 switch the cues (level, direct-to-reverb, air, pre-delay, width, spoil), N toggles
/// switching on the bar line. Gamepad: Select toggles A/B.
fn workshop_keys(
    keys: Res<ButtonInput<KeyCode>>,
    focus: Res<super::input::UiFocus>,
    gamepads: Query<&Gamepad>,
    mut workshop: ResMut<Workshop>,
    mut requests: MessageWriter<WorkshopCommand>,
) {
    for pad in &gamepads {
        if pad.just_pressed(GamepadButton::Select) {
            requests.write(WorkshopCommand::Toggle);
        }
    }
    if focus.keyboard || keys.any_pressed([KeyCode::ControlLeft, KeyCode::ControlRight, KeyCode::SuperLeft]) {
        return;
    }
    const DIGITS: [KeyCode; 9] = [
        KeyCode::Digit1,
        KeyCode::Digit2,
        KeyCode::Digit3,
        KeyCode::Digit4,
        KeyCode::Digit5,
        KeyCode::Digit6,
        KeyCode::Digit7,
        KeyCode::Digit8,
        KeyCode::Digit9,
    ];
    for (i, key) in DIGITS.iter().enumerate() {
        if keys.just_pressed(*key) {
            requests.write(WorkshopCommand::Pick(i));
        }
    }
    if keys.just_pressed(KeyCode::Tab) && workshop.slots.len() >= 2 {
        requests.write(WorkshopCommand::Toggle);
    }
    if keys.just_pressed(KeyCode::KeyP) {
        requests.write(WorkshopCommand::TogglePresenter);
    }
    if keys.just_pressed(KeyCode::Escape) && workshop.presenter {
        requests.write(WorkshopCommand::TogglePresenter);
    }
    if keys.just_pressed(KeyCode::KeyH) {
        requests.write(WorkshopCommand::ToggleListen);
    }
    if keys.just_pressed(KeyCode::KeyQ) {
        requests.write(WorkshopCommand::QuizStep);
    }
    if keys.just_pressed(KeyCode::KeyN) {
        workshop.on_bar = !workshop.on_bar;
    }
    let cue_keys = [KeyCode::F1, KeyCode::F2, KeyCode::F3, KeyCode::F4, KeyCode::F5, KeyCode::F6];
    let mut cues = workshop.cues;
    for ((_, on), key) in cues.switches().into_iter().zip(cue_keys) {
        if keys.just_pressed(key) {
            *on = !*on;
        }
    }
    workshop.cues = cues;
}

type StemRows<'w, 's> = Query<
    'w,
    's,
    (
        &'static StemBody,
        &'static Transform,
        &'static BodySize,
        &'static Spoil,
        &'static Muted,
        &'static Solo,
        &'static GainTrim,
    ),
>;

#[allow(clippy::too_many_arguments)]
fn run_workshop_commands(
    mut requests: MessageReader<WorkshopCommand>,
    mut workshop: ResMut<Workshop>,
    mut doc: ResMut<StageScene>,
    mut history: ResMut<History>,
    transport: Res<TransportState>,
    live: Res<LiveTimeline>,
    stems: StemRows,
    mut scene_requests: MessageWriter<SceneCommand>,
) {
    for request in requests.read() {
        let w = &mut *workshop;
        match request {
            WorkshopCommand::Pick(_) | WorkshopCommand::Toggle if w.quiz.is_some() => {
                w.status = "finish the quiz first (Q)".into();
            }
            WorkshopCommand::Pick(i) if *i >= w.slots.len() => {
                w.status = format!("no scene {} (open more: proxemix A.ron B.ron ...)", i + 1);
            }
            WorkshopCommand::Pick(_) | WorkshopCommand::Toggle => {
                let target = if let WorkshopCommand::Pick(i) = request { *i } else { w.other };
                if w.slots.len() < 2 {
                    w.status = "one scene loaded; open more to compare: proxemix A.ron B.ron ...".into();
                    continue;
                }
                if target == w.active && w.morph.is_none() {
                    continue;
                }
                let bar = live.resolved.next_bar_after(transport.position_s);
                match bar.filter(|_| w.on_bar && transport.playing) {
                    Some(at) => {
                        w.pending = Some((target, at, transport.position_s));
                        w.status = format!("{} on the next bar line", Workshop::letter(target));
                    }
                    None => switch_to(w, target, &mut doc, &mut history, &stems, &mut scene_requests),
                }
            }
            WorkshopCommand::Morph(m) => {
                if w.slots.len() < 2 || w.quiz.is_some() {
                    continue;
                }
                if w.morph.is_none() {
                    // Leaving A: keep its edits in its slot, so the morph starts from what was heard.
                    w.slots[w.active].scene = world_scene(&doc.scene, stems.iter());
                    w.slots[w.active].dirty = doc.dirty;
                }
                let m = m.clamp(0.0, 1.0);
                w.morph = Some(m);
                let (a, b) = (&w.slots[w.active].scene, &w.slots[w.other].scene);
                scene_requests.write(SceneCommand::Show(Box::new(morph(a, b, m))));
                w.status = format!(
                    "morph {} {:.0} % → {}",
                    Workshop::letter(w.active),
                    (1.0 - m) * 100.0,
                    Workshop::letter(w.other)
                );
            }
            WorkshopCommand::TogglePresenter => w.presenter = !w.presenter,
            WorkshopCommand::ToggleListen => w.listen = !w.listen,
            WorkshopCommand::QuizStep => match w.quiz.take() {
                None => {
                    let truth = world_scene(&doc.scene, stems.iter());
                    let mut start = truth.clone();
                    // Everyone waits on the floor in a row beside the listener, half on each side: a start
                    // that gives nothing away, in view, from which each body has to be carried out.
                    for (i, stem) in start.stems.iter_mut().enumerate() {
                        let side = if i % 2 == 0 { -1.0 } else { 1.0 };
                        stem.position = (side * (0.8 + 0.55 * (i / 2) as f32), 0.15, 0.0);
                        stem.keys.clear();
                    }
                    start.timeline = None;
                    scene_requests.write(SceneCommand::Show(Box::new(start)));
                    let timeline = Arc::new(Resolved::of(&truth).unwrap_or_default());
                    w.quiz = Some(Quiz { truth, timeline, answers: None });
                    w.listen = false;
                    w.morph = None;
                    w.status = "quiz: listen, then place each body where you hear it; Q reveals".into();
                }
                Some(mut quiz) if quiz.answers.is_none() => {
                    let truth_now = quiz.truth_at(live.t);
                    let guess = world_scene(&doc.scene, stems.iter());
                    let answers = quiz::score(&truth_now, &guess);
                    let (d, a, points) = quiz::summary(&answers);
                    w.status = format!(
                        "quiz: {points:.0} points (distance off by {d:.1} m, direction by {a:.0}° on average); Q ends"
                    );
                    quiz.answers = Some(answers);
                    w.quiz = Some(quiz);
                }
                Some(quiz) => {
                    scene_requests.write(SceneCommand::Show(Box::new(quiz.truth)));
                    w.status = "quiz over: the staging is back".into();
                }
            },
            WorkshopCommand::Rematch => {
                if let Some(slot) = w.slots.get_mut(w.active).filter(|_| w.morph.is_none()) {
                    slot.scene = world_scene(&doc.scene, stems.iter());
                }
                if w.matching.is_none() {
                    w.matching_progress = None;
                }
            }
        }
    }
}

/// Shows slot `target`: the active scene's edits stay in its slot, the document now is the target's file.
fn switch_to(
    w: &mut Workshop,
    target: usize,
    doc: &mut StageScene,
    history: &mut History,
    stems: &StemRows,
    scene_requests: &mut MessageWriter<SceneCommand>,
) {
    if target >= w.slots.len() {
        return;
    }
    if w.morph.is_none() {
        w.slots[w.active].scene = world_scene(&doc.scene, stems.iter());
        w.slots[w.active].dirty = doc.dirty;
    }
    if target != w.active {
        w.other = w.active;
        w.active = target;
    }
    w.morph = None;
    w.pending = None;
    let slot = &w.slots[target];
    doc.path = slot.path.clone();
    doc.dirty = slot.dirty;
    doc.seen_modified = super::stems::modified(&slot.path);
    doc.reload_error = None;
    history.clear();
    scene_requests.write(SceneCommand::Show(Box::new(slot.scene.clone())));
    w.status = format!("{}: {}", Workshop::letter(target), slot.scene.name);
}

/// A switch asked for on the bar line happens one video frame before it, so the one-frame ramp lands on it.
#[allow(clippy::too_many_arguments)]
fn switch_on_the_bar(
    mut workshop: ResMut<Workshop>,
    mut doc: ResMut<StageScene>,
    mut history: ResMut<History>,
    transport: Res<TransportState>,
    time: Res<Time>,
    stems: StemRows,
    mut scene_requests: MessageWriter<SceneCommand>,
) {
    let Some((target, at, asked_at)) = workshop.pending else { return };
    let now = transport.position_s;
    // The playhead only goes back when the song loops (or is moved): the bar line has passed.
    let wrapped = now < asked_at;
    if !transport.playing || now + time.delta_secs_f64() >= at || wrapped {
        switch_to(&mut workshop, target, &mut doc, &mut history, &stems, &mut scene_requests);
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

fn take_options(options: Option<Res<super::StageOptions>>, mut workshop: ResMut<Workshop>) {
    workshop.presenter = options.is_some_and(|o| o.presenter);
}

fn start_matching(mut workshop: ResMut<Workshop>, stem_audio: Res<StemAudio>) {
    begin_matching(&mut workshop, &stem_audio);
}

/// With two or more scenes loaded, measure them all in the background and trim each to the quietest.
fn begin_matching(workshop: &mut Workshop, stem_audio: &StemAudio) {
    if workshop.slots.len() < 2 || workshop.matching.is_some() {
        return;
    }
    let scenes: Vec<Scene> = workshop.slots.iter().map(|s| s.scene.clone()).collect();
    let audio = stem_audio.audio.clone();
    let options = RenderOptions { sample_rate: stem_audio.sample_rate.max(8_000), ..Default::default() };
    let state = Arc::new(Mutex::new(MatchState::default()));
    let shared = state.clone();
    let spawned = std::thread::Builder::new().name("proxemix loudness match".into()).spawn(move || {
        let result = ab::match_loudness(&scenes, &audio, &options, &mut |p| {
            shared.lock().unwrap_or_else(|e| e.into_inner()).progress = p as f32;
        });
        shared.lock().unwrap_or_else(|e| e.into_inner()).result = Some(result.map_err(|e| e.to_string()));
    });
    if spawned.is_ok() {
        workshop.matching = Some(state);
        workshop.matching_progress = Some(0.0);
    }
}

fn poll_matching(mut workshop: ResMut<Workshop>, stem_audio: Res<StemAudio>) {
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
            workshop.status = "loudness matched: every scene plays at the quietest one's loudness".into();
        }
        Err(e) => workshop.status = format!("loudness match failed: {e}"),
    }
}

/// Evaluates the timeline at the playhead and moves the bodies it drives, for the eye (not during the quiz: the
/// bodies are the class's guesses then). What is heard is the engine's own evaluation, in song time.
#[allow(clippy::type_complexity)]
fn drive_timeline(
    doc: Res<StageScene>,
    transport: Res<TransportState>,
    workshop: Res<Workshop>,
    mut live: ResMut<LiveTimeline>,
    mut primed: Local<bool>,
    mut stems: Query<(&StemBody, &mut Transform, &mut BodySize, &mut Spoil, &mut Muted, &mut SendTrim)>,
) {
    if doc.is_changed() || !*primed {
        live.resolved = Arc::new(Resolved::of(&doc.scene).unwrap_or_default());
        *primed = true;
    }
    let t = transport.position_s;
    live.t = t;
    live.return_db = live.resolved.return_db_at(doc.scene.room.return_db, t);
    live.section = live.resolved.section_at(t).map(|s| s.name.clone());
    live.bar = live.resolved.tempo.map(|tempo| t / tempo.bar_s() + 1.0);
    if workshop.quiz.is_some() || !live.resolved.has_keys() {
        return;
    }
    for (body, mut transform, mut size, mut spoil, mut muted, mut send) in &mut stems {
        let driven = live.resolved.driven(body.index);
        let Some(own) = doc.scene.stems.get(body.index).filter(|_| driven.any()) else { continue };
        let v = live.resolved.stem_at(body.index, StemValues::of(own), t);
        let position = Vec3::new(v.position.0, v.position.1, v.position.2);
        if driven.position && transform.translation != position {
            transform.translation = position;
        }
        if driven.size {
            size.set_if_neq(BodySize(v.size));
        }
        if driven.spoil {
            spoil.set_if_neq(Spoil(v.spoil));
        }
        if driven.muted {
            muted.set_if_neq(Muted(v.muted));
        }
        if driven.send {
            send.set_if_neq(SendTrim(v.send_db));
        }
    }
}
