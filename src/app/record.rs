//! Recording a take: armed while the song plays, every property a gesture moves is written into the timeline
//! in song time, where the engine heard it (touch or latch), thinned to a few keyframes; a pass is one undo
//! step, Esc throws it away, and a loop wrap closes one pass and opens the next.
//!
//! How a move is timed: the bridge sends the hand's values in a snapshot and notes its number; the engine
//! writes a receipt with the song time it took the snapshot up at and the ramp it gave it; the lane gets a
//! point where the ramp lands (and, after a still moment, one where it began). So the keyframes trace what was
//! heard, whatever the video frame rate. While a lane is written the engine plays the hand's value for it
//! (`HeldLanes`), and everything else plays its automation.

use std::collections::VecDeque;

use bevy::prelude::*;

use super::audio::BridgeSet;
use super::intent::world_scene;
use super::intent::{Gesture, GestureAuthors, Intent, RecordCommand, Touched, apply_intents};
use super::shared::{
    AudioNews, HeldLanes, LiveTimeline, RecordMode, RecordingState, StageSet, TransportCommand, TransportState,
};
use super::stems::{History, StageScene, WorldRows};
use crate::scene::automation::{self, Lane, Prop, TakeLane, Tolerance, Value};
use crate::scene::timeline::Resolved;
use crate::scene::{Scene, TakeCredit};

/// How long a touched property glides back to its automation after it is let go (touch) or after the
/// transport stops (latch).
pub const GLIDE_BACK_S: f64 = 0.5;
/// A lane let go while the song plays ends this long after the playhead as last read (plus a frame): the
/// engine takes the unheld snapshot before then, so it hears the lane hold its last value up to the end and
/// then glide back, exactly as the written keys say.
pub const RELEASE_MARGIN_S: f64 = 0.1;

/// Records takes.
pub struct RecordPlugin;

impl Plugin for RecordPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Recorder>()
            .init_resource::<RecordingState>()
            .init_resource::<HeldLanes>()
            .add_systems(
                Update,
                (
                    record_commands.before(apply_intents),
                    record_touches.after(apply_intents),
                    show_discarded.after(record_touches),
                )
                    .in_set(StageSet::Document),
            )
            .add_systems(PostUpdate, record_heard.after(BridgeSet));
    }
}

/// What the last take wrote (or that it was thrown away), for the transport bar.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TakeReport {
    /// The lanes written ("vocal position", "master").
    pub lanes: Vec<String>,
    /// Points the hand made (one per snapshot heard, and one where a still moment ended).
    pub raw_points: usize,
    /// Keyframes written after thinning (the glides back included).
    pub keys: usize,
    /// Thrown away (Esc).
    pub discarded: bool,
    /// Who played it: the room's participants by name, "stage" for the presenter's own hands.
    pub players: Vec<String>,
}

/// The recorder's settings and the take in progress.
#[derive(Resource, Debug)]
pub struct Recorder {
    /// How far the thinned take may stray from the raw one.
    pub tolerance: Tolerance,
    /// Seconds a lane glides back to its automation.
    pub glide_back_s: f64,
    /// Move the take's keyframes to the nearest beat (with a tempo).
    pub quantise: bool,
    /// Keep the raw take (no thinning): for measuring what thinning changes.
    pub raw: bool,
    /// What the last take did.
    pub last_take: Option<TakeReport>,
    pass: Option<Pass>,
    /// Snapshots sent while lanes were written, waiting for their receipts.
    pending: VecDeque<Sent>,
    /// The playhead while rolling, as of the last frame (where a seek left the song).
    last_position: f64,
    /// A discarded take's scene, to be shown next frame.
    restore: Option<Scene>,
    /// The song has rolled since recording was armed (so a stop now ends recording, as in a DAW).
    rolled: bool,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            tolerance: Tolerance::default(),
            glide_back_s: GLIDE_BACK_S,
            quantise: false,
            raw: false,
            last_take: None,
            pass: None,
            pending: VecDeque::new(),
            last_position: 0.0,
            restore: None,
            rolled: false,
        }
    }
}

/// A snapshot sent while lanes were written: its number, its ramp (s) and each lane's value in it.
type Sent = (u64, f64, Vec<(Lane, Value)>);

/// One pass of the song while armed: the scene before it (for undo and Esc) and its lanes.
#[derive(Debug)]
struct Pass {
    before: Scene,
    /// The engine's pass and lap it records in: another means the song went back (a loop or a seek).
    pass_and_lap: Option<(u32, u64)>,
    lanes: Vec<Writing>,
    report: TakeReport,
    /// Song time of its first heard point.
    from_s: Option<f64>,
}

/// A lane being written.
#[derive(Debug)]
struct Writing {
    lane: Lane,
    points: Vec<(f64, Value)>,
    /// Where it starts, as played before the hand took it (the first receipt's time is not known yet).
    start: Option<Value>,
    /// The lane's own value before the take (what plays before its first keyframe), kept as it was.
    own: Value,
    /// The gestures holding it now (touch lets go when the last one ends).
    gestures: Vec<Gesture>,
    /// Let go (touch) before it was heard: written once its first point arrives.
    released: bool,
}

impl Recorder {
    /// The lanes being written.
    pub fn writing(&self) -> Vec<Lane> {
        self.pass.as_ref().map_or(Vec::new(), |p| p.lanes.iter().map(|w| w.lane).collect())
    }

    fn held(&self, stems: usize) -> HeldLanes {
        let mut held = HeldLanes { stems: vec![Default::default(); stems], room: Default::default() };
        for w in self.pass.iter().flat_map(|p| &p.lanes) {
            match w.lane {
                Lane::Stem(i, prop) => {
                    let Some(h) = held.stems.get_mut(i) else { continue };
                    match prop {
                        Prop::Position => h.position = true,
                        Prop::Size => h.size = true,
                        Prop::Spoil => h.spoil = true,
                        Prop::Muted => h.muted = true,
                        Prop::Gain => h.gain = true,
                        Prop::Send => h.send = true,
                        _ => {}
                    }
                }
                Lane::Room(Prop::Return) => held.room.return_db = true,
                Lane::Room(Prop::Reverb) => held.room.reverb = true,
                Lane::Room(Prop::Master) => held.room.master = true,
                Lane::Room(_) => {}
            }
        }
        held
    }

    /// Writes `w` into the scene, ending at `end_s`: thinned (and quantised), gliding back, its own value kept.
    fn commit(&mut self, scene: &mut Scene, w: Writing, end_s: f64, report: &mut TakeReport) {
        if w.points.is_empty() {
            // Touched but never heard (the song was not rolling yet): nothing to write.
            w.lane.set_own(scene, w.own);
            return;
        }
        let mut points =
            if self.raw { w.points.clone() } else { automation::thin(w.lane.prop(), &w.points, &self.tolerance) };
        let tempo = Resolved::of(scene).ok().and_then(|r| r.tempo);
        if let Some(tempo) = tempo.filter(|_| self.quantise) {
            points = automation::quantise(&points, 60.0 / tempo.bpm);
        }
        w.lane.set_own(scene, w.own);
        // A mute pressed during a take stays pressed; everything else glides back to what was there.
        let glide_back_s = (w.lane.prop() != Prop::Muted).then_some(self.glide_back_s);
        let take = TakeLane { lane: w.lane, points, end_s, glide_back_s };
        let written = automation::write(scene, &take);
        report.raw_points += w.points.len();
        report.keys += written.keys;
        let name = w.lane.describe(scene);
        if !report.lanes.contains(&name) {
            report.lanes.push(name);
        }
    }

    /// Ends the pass: every lane written up to `end_s` and the pass made one undo step. Returns the lanes that
    /// were still held (a loop carries them into the next pass), each with the value it last had.
    fn finish(&mut self, doc: &mut StageScene, history: &mut History, end_s: f64) -> Vec<(Writing, Option<Value>)> {
        let Some(mut pass) = self.pass.take() else { return Vec::new() };
        self.pending.clear();
        let mut carried = Vec::new();
        for w in std::mem::take(&mut pass.lanes) {
            if !w.released {
                let next = Writing {
                    lane: w.lane,
                    points: Vec::new(),
                    start: w.start,
                    own: w.own,
                    gestures: w.gestures.clone(),
                    released: false,
                };
                carried.push((next, w.points.last().map(|p| p.1)));
            }
            self.commit(&mut doc.scene, w, end_s, &mut pass.report);
        }
        history.suspend(false);
        if pass.report.keys > 0 {
            let players =
                if pass.report.players.is_empty() { vec!["stage".to_owned()] } else { pass.report.players.clone() };
            let from_s = pass.from_s.unwrap_or(0.0).min(end_s);
            let lanes = pass.report.lanes.clone();
            doc.scene.use_current_format();
            doc.scene.takes.push(TakeCredit { by: players.clone(), lanes, from_s, to_s: end_s });
            history.push_named(pass.before, format!("take by {}", players.join(", ")));
            doc.dirty = true;
            doc.status = format!(
                "take by {}: {} ({} points → {} keyframes)",
                players.join(", "),
                pass.report.lanes.join(", "),
                pass.report.raw_points,
                pass.report.keys
            );
            info!("{}", doc.status);
            self.last_take = Some(pass.report);
        }
        carried
    }

    /// Throws the pass away: the scene as it was before it comes back.
    fn discard(&mut self, history: &mut History) {
        if let Some(pass) = self.pass.take() {
            self.restore = Some(pass.before);
            self.last_take = Some(TakeReport { discarded: true, ..pass.report });
        }
        self.pending.clear();
        history.suspend(false);
    }
}

/// Arm, disarm, discard and the mode; a document command (undo, redo, save, a reload, a scene shown) ends
/// the running take first, so it is a step of its own before that command acts.
#[allow(clippy::too_many_arguments)]
fn record_commands(
    mut intents: MessageReader<Intent>,
    mut recorder: ResMut<Recorder>,
    mut state: ResMut<RecordingState>,
    mut doc: ResMut<StageScene>,
    mut history: ResMut<History>,
    transport: Res<TransportState>,
    time: Res<Time>,
    world: WorldRows,
    mut transport_out: MessageWriter<TransportCommand>,
) {
    let end_now = transport.position_s + RELEASE_MARGIN_S + time.delta_secs_f64();
    for intent in intents.read() {
        match intent {
            Intent::Record(RecordCommand::ToggleArm) => {
                if state.armed {
                    state.armed = false;
                    recorder.finish(&mut doc, &mut history, end_now);
                } else {
                    state.armed = true;
                    if !transport.playing {
                        transport_out.write(TransportCommand::Play);
                    }
                }
            }
            Intent::Record(RecordCommand::Discard) => {
                state.armed = false;
                recorder.discard(&mut history);
            }
            Intent::Record(RecordCommand::SetMode(mode)) => state.mode = *mode,
            // A scene shown (an A/B switch, the morph, the quiz) replaces what the lanes write into: the take
            // ends first (a discarded take's own restore comes after its pass is gone).
            Intent::Undo | Intent::Redo | Intent::Save | Intent::Replace(_) | Intent::Show(_) => {
                recorder.finish(&mut doc, &mut history, end_now);
            }
            Intent::Edit(..) if state.armed && transport.playing && recorder.pass.is_none() => {
                // A take begins with this edit: the scene before it is the take's undo step, and the edits of
                // the take are not steps of their own (so the history is held before the edit is applied).
                let before = world_scene(&doc.scene, world.iter());
                history.suspend(true);
                recorder.pass = Some(Pass {
                    before,
                    pass_and_lap: None,
                    lanes: Vec::new(),
                    report: TakeReport::default(),
                    from_s: None,
                });
            }
            _ => {}
        }
    }
    state.running = recorder.pass.is_some();
}

/// Touches start (or go on writing) lanes; in touch mode a gesture's end lets its lanes go.
#[allow(clippy::too_many_arguments)]
fn record_touches(
    mut touched: MessageReader<Touched>,
    mut intents: MessageReader<Intent>,
    mut recorder: ResMut<Recorder>,
    mut state: ResMut<RecordingState>,
    mut held: ResMut<HeldLanes>,
    mut doc: ResMut<StageScene>,
    transport: Res<TransportState>,
    time: Res<Time>,
    world: WorldRows,
    authors: Res<GestureAuthors>,
) {
    let touches: Vec<Touched> = touched.read().cloned().collect();
    let releases: Vec<Gesture> =
        intents.read().filter_map(|i| if let Intent::Release(g) = i { Some(*g) } else { None }).collect();
    if state.armed && transport.playing {
        for touch in touches {
            let Some(pass) = recorder.pass.as_mut() else { continue };
            let player = authors.name(touch.gesture).to_owned();
            if !pass.report.players.contains(&player) {
                pass.report.players.push(player);
            }
            pass.from_s.get_or_insert(transport.position_s);
            for (lane, before) in touch.lanes {
                if let Some(w) = pass.lanes.iter_mut().find(|w| w.lane == lane) {
                    if !w.gestures.contains(&touch.gesture) {
                        w.gestures.push(touch.gesture);
                    }
                    continue;
                }
                // What played before the hand: the automation where there is some (its own value kept), else
                // the value the property had.
                let driven = lane.is_driven(&doc.scene);
                let own = match lane {
                    Lane::Stem(..) if driven => lane.own(&doc.scene),
                    _ => before,
                };
                pass.lanes.push(Writing {
                    lane,
                    points: Vec::new(),
                    start: Some(own),
                    own,
                    gestures: vec![touch.gesture],
                    released: false,
                });
            }
        }
    }
    if state.mode == RecordMode::Touch && !releases.is_empty() {
        let end_s = transport.position_s + RELEASE_MARGIN_S + time.delta_secs_f64();
        let mut report = TakeReport::default();
        let mut done = Vec::new();
        if let Some(pass) = recorder.pass.as_mut() {
            for w in pass.lanes.iter_mut() {
                w.gestures.retain(|g| !releases.contains(g));
            }
            // Let go: written now, or once heard when no snapshot of it has come back yet.
            let (gone, kept): (Vec<Writing>, Vec<Writing>) = std::mem::take(&mut pass.lanes)
                .into_iter()
                .partition(|w| w.gestures.is_empty() && !w.points.is_empty());
            pass.lanes = kept;
            for w in pass.lanes.iter_mut().filter(|w| w.gestures.is_empty()) {
                w.released = true;
            }
            done = gone;
        }
        for mut w in done {
            // The hand's last value holds to the end (the snapshots still on their way land before it).
            let now = lane_value(w.lane, &doc.scene, &world);
            w.points.push((end_s, now));
            recorder.commit(&mut doc.scene, w, end_s, &mut report);
        }
        if let Some(pass) = recorder.pass.as_mut() {
            pass.report.raw_points += report.raw_points;
            pass.report.keys += report.keys;
            for name in report.lanes {
                if !pass.report.lanes.contains(&name) {
                    pass.report.lanes.push(name);
                }
            }
        }
    }
    let new_held = recorder.held(doc.scene.stems.len());
    if *held != new_held {
        *held = new_held;
    }
    state.running = recorder.pass.is_some();
}

/// A take thrown away: the scene as it was before it is shown again (next frame, through the intents).
fn show_discarded(mut recorder: ResMut<Recorder>, mut doc: ResMut<StageScene>, mut show: MessageWriter<Intent>) {
    if let Some(scene) = recorder.restore.take() {
        show.write(Intent::Show(Box::new(scene)));
        doc.status = "take thrown away".into();
    }
}

/// The value the world (or the document, for the room and the master) holds on `lane` now: the hand's.
fn lane_value(lane: Lane, scene: &Scene, world: &WorldRows) -> Value {
    match lane {
        Lane::Stem(index, prop) => {
            let Some(row) = world.iter().find(|r| r.body.index == index) else {
                return lane.own(scene);
            };
            match prop {
                Prop::Position => row.transform.translation.to_array(),
                Prop::Size => [row.size.0, 0.0, 0.0],
                Prop::Spoil => [row.spoil.0, 0.0, 0.0],
                Prop::Muted => [if row.muted.0 { 1.0 } else { 0.0 }, 0.0, 0.0],
                Prop::Gain => [row.gain.0, 0.0, 0.0],
                _ => lane.own(scene),
            }
        }
        Lane::Room(_) => lane.own(scene),
    }
}

/// After the bridge: notes what this frame's snapshot carried, turns the engine's receipts into points, and
/// closes the pass when the song went back (a loop wraps: the next pass goes on with what is still held) or the
/// transport stopped.
#[allow(clippy::too_many_arguments)]
fn record_heard(
    news: Res<AudioNews>,
    mut recorder: ResMut<Recorder>,
    mut held: ResMut<HeldLanes>,
    mut doc: ResMut<StageScene>,
    mut history: ResMut<History>,
    mut state: ResMut<RecordingState>,
    transport: Res<TransportState>,
    live: Res<LiveTimeline>,
    world: WorldRows,
) {
    let recorder = &mut *recorder;
    // Stopping the song ends recording, as a DAW's stop does.
    if state.armed && transport.playing {
        recorder.rolled = true;
    } else if state.armed && recorder.rolled && !transport.playing {
        state.armed = false;
        recorder.rolled = false;
    } else if !state.armed {
        recorder.rolled = false;
    }
    if recorder.pass.is_none() {
        recorder.last_position = transport.position_s;
        state.running = false;
        return;
    }
    if let (Some((seq, ramp_s)), Some(pass)) = (news.sent, recorder.pass.as_ref()) {
        let values = pass.lanes.iter().map(|w| (w.lane, lane_value(w.lane, &doc.scene, &world))).collect();
        recorder.pending.push_back((seq, ramp_s as f64, values));
    }
    for receipt in &news.receipts {
        while recorder.pending.front().is_some_and(|p| p.0 < receipt.seq) {
            recorder.pending.pop_front();
        }
        let Some((_, ramp_s, values)) = recorder.pending.pop_front_if(|p| p.0 == receipt.seq) else { continue };
        if !receipt.rolling {
            continue;
        }
        let here = (receipt.generation, receipt.lap);
        if !went_on(recorder, here, &mut doc, &mut history, &transport, &world) {
            continue;
        }
        let Some(pass) = recorder.pass.as_mut() else { break };
        for (lane, v) in values {
            let Some(w) = pass.lanes.iter_mut().find(|w| w.lane == lane) else { continue };
            let t = receipt.t;
            if let Some(own) = w.start.take() {
                // No jump: the lane starts from what was playing where the hand took it.
                let mut scene = doc.scene.clone();
                lane.set_own(&mut scene, own);
                w.points.push((t, lane.value_at(&live.resolved, &scene, t)));
            } else if let Some(&(last_t, last_v)) = w.points.last()
                && t > last_t + 1e-3
            {
                // Still since the last point: the value held until this ramp began.
                w.points.push((t, last_v));
            }
            let at = t + ramp_s;
            match w.points.last_mut() {
                Some(last) if last.0 >= at => last.1 = v,
                _ => w.points.push((at, v)),
            }
        }
        // Lanes let go before they were heard are written now that they have been.
        let (heard, waiting): (Vec<Writing>, Vec<Writing>) =
            std::mem::take(&mut pass.lanes).into_iter().partition(|w| w.released && !w.points.is_empty());
        pass.lanes = waiting;
        let mut report = std::mem::take(&mut pass.report);
        for w in heard {
            let end = w.points.last().map_or(receipt.t, |p| p.0);
            recorder.commit(&mut doc.scene, w, end, &mut report);
        }
        if let Some(pass) = recorder.pass.as_mut() {
            pass.report = report;
        }
    }
    if recorder.pass.is_some() {
        if transport.playing {
            went_on(recorder, news.pass_and_lap, &mut doc, &mut history, &transport, &world);
        } else {
            // Stopped: latch ends here, and so does the pass.
            recorder.finish(&mut doc, &mut history, transport.position_s);
        }
    }
    if transport.playing {
        recorder.last_position = transport.position_s;
    }
    let new_held = recorder.held(doc.scene.stems.len());
    if *held != new_held {
        *held = new_held;
    }
    state.running = recorder.pass.is_some();
}

/// Whether the pass goes on at `here` (the engine's pass and lap); if the song went back, the pass is closed
/// first: a loop carries what is still held into a new pass from the song's start, a seek lets it all go.
fn went_on(
    recorder: &mut Recorder,
    here: (u32, u64),
    doc: &mut StageScene,
    history: &mut History,
    transport: &TransportState,
    world: &WorldRows,
) -> bool {
    let Some(pass) = recorder.pass.as_mut() else { return false };
    let Some(was) = pass.pass_and_lap else {
        pass.pass_and_lap = Some(here);
        return true;
    };
    if was == here {
        return true;
    }
    if here.0 == was.0 && here.1 == was.1 + 1 {
        // The loop wrapped: what is still held goes on from the song's start with the value it had (the engine
        // played the hand's value across the wrap).
        let carried = recorder.finish(doc, history, transport.song_s);
        let lanes: Vec<Writing> = carried
            .into_iter()
            .map(|(w, last)| match last {
                Some(v) => Writing { points: vec![(0.0, v)], start: None, ..w },
                None => w,
            })
            .collect();
        if !lanes.is_empty() {
            let before = world_scene(&doc.scene, world.iter());
            history.suspend(true);
            recorder.pass = Some(Pass {
                before,
                pass_and_lap: Some(here),
                lanes,
                report: TakeReport::default(),
                from_s: Some(0.0),
            });
        }
        true
    } else {
        let end = recorder.last_position;
        recorder.finish(doc, history, end);
        false
    }
}
