//! Intents: what the user means (move, lift, resize, spoil, mute, solo, select, transport, look, undo), from
//! any device or panel; one system applies them to the document and the world, clamped, with undo.

use std::sync::atomic::{AtomicU64, Ordering};

use bevy::prelude::*;

use super::camera::{OrbitCamera, place_camera};
use super::shared::RecordMode;
use super::shared::{StageSet, TransportCommand};
use super::stems::{
    BodySize, GainTrim, History, Muted, SendTrim, Solo, Spoil, StageScene, StemRowItem, StemsRebuilt, modified,
    same_stems, stem_components,
};
use super::stems::{Selected, StemRowMut, StemRowMutItem};
use crate::scene::automation::{self, Lane, Prop, Value};
use crate::scene::timeline::{Driven, StemValues};
use crate::scene::{Room, Scene, limits};

/// One edit gesture (a drag, a burst of wheel steps, a stick push, a slider grab, a key press): all its edits
/// are one undo step. Input makes a new one when a gesture starts and tags every edit of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Gesture(u64);

impl Gesture {
    /// A gesture no edit has been tagged with yet.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Gesture {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Gesture(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// Which bodies an edit is for.
#[derive(Debug, Clone, PartialEq)]
pub enum Bodies {
    /// Those selected when the edit is applied.
    Selected,
    /// These.
    These(Vec<Entity>),
}

/// A change to the scene; applied values are clamped to what the scene format accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Put bodies at these places (a drag: each from where it started, by the same offset); kept above the
    /// floor and inside the scene's bounds.
    Place(Vec<(Entity, Vec3)>),
    /// Move bodies by this much (the gamepad's sticks; up is lift).
    MoveBy(Bodies, Vec3),
    /// Give bodies these sizes (the inspector).
    SetSize(Vec<(Entity, f32)>),
    /// Scale bodies' sizes by this factor (the wheel, the triggers).
    ScaleSize(Bodies, f32),
    /// Give bodies these spoil amounts (a spoiling drag, the inspector).
    SetSpoil(Vec<(Entity, f32)>),
    /// Spoil bodies more (or less) by this much (the triggers with West held).
    SpoilBy(Bodies, f32),
    /// A different small spoil on every stem, dealt afresh each time.
    SpoilEverywhere,
    /// A stem's level trim, dB.
    SetGain(Entity, f32),
    /// Mute or unmute bodies, all to the state the first (in scene order) does not have.
    ToggleMute(Bodies),
    /// Solo or unsolo bodies, likewise.
    ToggleSolo(Bodies),
    /// The room and the master.
    RoomAndMaster {
        /// The room's reverb, decay, size and damping.
        room: Room,
        /// The master fader, dB.
        master_gain_db: f32,
        /// Spoil on the whole mix.
        master_spoil: f32,
    },
    /// Remove every keyframe of one property (it keeps its own value).
    ClearAutomation(Lane),
}

impl Edit {
    /// What the edit does, in a word or two (the history names steps with it).
    pub fn verb(&self) -> &'static str {
        match self {
            Edit::Place(_) | Edit::MoveBy(..) => "move",
            Edit::SetSize(_) | Edit::ScaleSize(..) => "size",
            Edit::SetSpoil(_) | Edit::SpoilBy(..) | Edit::SpoilEverywhere => "spoil",
            Edit::SetGain(..) => "level",
            Edit::ToggleMute(_) => "mute",
            Edit::ToggleSolo(_) => "solo",
            Edit::RoomAndMaster { .. } => "room and master",
            Edit::ClearAutomation(_) => "clear automation",
        }
    }
}

/// What the recorder is asked to do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RecordCommand {
    /// Arm (the song plays from the playhead) or disarm (the take is kept).
    ToggleArm,
    /// Throw the running take away and disarm.
    Discard,
    /// Touch or latch.
    SetMode(RecordMode),
}

/// The properties an edit moved, each with its value just before (the recorder starts a lane there, so a take
/// never jumps at its start).
#[derive(Message, Debug, Clone)]
pub struct Touched {
    /// The gesture the edit was part of.
    pub gesture: Gesture,
    /// Each lane moved and its value before the edit.
    pub lanes: Vec<(Lane, Value)>,
}

/// A change of selection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Selection {
    /// A click on `target`: `add` (shift) adds or removes it; a plain click selects it alone, unless
    /// `keep_group` and it is already part of the selection (so the group can be dragged).
    Click {
        /// The body clicked.
        target: Entity,
        /// Shift was held.
        add: bool,
        /// A press on a selected body keeps the group.
        keep_group: bool,
    },
    /// Nothing selected.
    Clear,
    /// The body this many places after the (first) selected one, in scene order, wrapping around.
    Step(i64),
}

/// A change of view.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Look {
    /// Turn (yaw) and tilt (pitch) the orbit, radians.
    Orbit {
        /// Around the vertical.
        yaw: f32,
        /// Above the floor.
        pitch: f32,
    },
    /// Closer by this factor (> 1 zooms in).
    Zoom(f32),
    /// Back to the view the stage opens with.
    Reset,
}

/// What the user means; input systems and panels write these, [`apply_intents`] carries them out in order.
#[derive(Message, Debug, Clone)]
pub enum Intent {
    /// An edit, part of a gesture (one undo step per gesture).
    Edit(Gesture, Edit),
    /// Change the selection.
    Select(Selection),
    /// Move the transport.
    Transport(TransportCommand),
    /// Move the camera.
    Look(Look),
    /// Back one undo step.
    Undo,
    /// Forward one undo step.
    Redo,
    /// Write the scene file (through a temporary file, keeping a backup).
    Save,
    /// The scene file changed on disk: show it (undoable, marks unsaved).
    Replace(Box<Scene>),
    /// Show this scene without touching the history or the unsaved marker (A/B switches, the morph, the quiz).
    Show(Box<Scene>),
    /// A gesture is over (the mouse button is up, the stick back at rest, the slider let go).
    Release(Gesture),
    /// The recorder (the recorder itself carries these out).
    Record(RecordCommand),
}

/// Applies the intents after input and workshop mode have spoken, and places the camera.
pub struct IntentPlugin;

impl Plugin for IntentPlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<Intent>()
            .add_message::<Touched>()
            .init_resource::<GestureAuthors>()
            .configure_sets(Update, (StageSet::Input, StageSet::Workshop, StageSet::Document).chain())
            .add_systems(Update, (apply_intents, place_camera).chain().in_set(StageSet::Document));
    }
}

/// Every stem's editable components, and whether it is selected.
type StemsMut<'w, 's> = Query<'w, 's, StemRowMut>;

/// The scene as the world holds it now: the document's room, master and notes with the stems from the
/// entities, in file order.
pub fn world_scene<'w, 's>(doc: &Scene, stems: impl Iterator<Item = StemRowItem<'w, 's>>) -> Scene {
    let mut rows: Vec<_> = stems.collect();
    rows.sort_by_key(|r| r.body.index);
    let mut scene = doc.clone();
    scene.stems = rows
        .into_iter()
        .map(|row| crate::scene::Stem {
            name: row.body.name.clone(),
            file: row.body.file.clone(),
            position: clamp_position(row.transform.translation).into(),
            size: row.size.0,
            gain_db: row.gain.0,
            spoil: row.spoil.0,
            muted: row.muted.0,
            solo: row.solo.0,
            send_db: 0.0,
            keys: Vec::new(),
        })
        .collect();
    keep_driven(doc, &mut scene);
    scene
}

/// What the world holds for a property the timeline drives is where the timeline put it this frame; the
/// document keeps the stem's own value (and its send trim and keyframes, which the world does not hold).
pub fn keep_driven(doc: &Scene, scene: &mut Scene) {
    let resolved = crate::scene::timeline::Resolved::of(doc).unwrap_or_default();
    for (i, stem) in scene.stems.iter_mut().enumerate() {
        let Some(own) = doc.stems.get(i).filter(|own| own.name == stem.name) else { continue };
        stem.send_db = own.send_db;
        stem.keys = own.keys.clone();
        let driven = resolved.driven(i);
        if driven.position {
            stem.position = own.position;
        }
        if driven.size {
            stem.size = own.size;
        }
        if driven.spoil {
            stem.spoil = own.spoil;
        }
        if driven.muted {
            stem.muted = own.muted;
        }
        if driven.gain {
            stem.gain_db = own.gain_db;
        }
    }
}

/// Keeps a dragged body inside what the scene format accepts (and above the floor).
pub fn clamp_position(p: Vec3) -> Vec3 {
    let (lo, hi) = limits::COORD_M;
    Vec3::new(p.x.clamp(lo, hi), p.y.clamp(0.0, hi), p.z.clamp(lo, hi))
}

/// Keeps a body's size inside what the scene format accepts.
pub fn clamp_size(size: f32) -> f32 {
    size.clamp(limits::SIZE.0, limits::SIZE.1)
}

/// What the world holds now, as a scene.
fn current(doc: &Scene, stems: &StemsMut) -> Scene {
    world_scene(doc, stems.iter())
}

/// The one place intents change the stage: edits are clamped to the scene format's limits, the first edit of
/// each gesture saves what was there for undo, document commands (undo, redo, save, a reload, a scene shown)
/// replace the world.
#[allow(clippy::too_many_arguments)]
pub fn apply_intents(
    mut commands: Commands,
    mut intents: MessageReader<Intent>,
    mut doc: ResMut<StageScene>,
    mut history: ResMut<History>,
    mut last_gesture: Local<Option<Gesture>>,
    mut spoil_round: Local<u32>,
    mut stems: StemsMut,
    mut cameras: Query<&mut OrbitCamera>,
    mut transport: MessageWriter<TransportCommand>,
    mut rebuilt: MessageWriter<StemsRebuilt>,
    mut touched: MessageWriter<Touched>,
    authors: Res<GestureAuthors>,
) {
    for intent in intents.read() {
        let target = match intent {
            Intent::Edit(gesture, edit) => {
                if *last_gesture != Some(*gesture) {
                    let label = format!("{}: {}", authors.name(*gesture), edit.verb());
                    history.push_named(current(&doc.scene, &stems), label);
                    *last_gesture = Some(*gesture);
                }
                let mut lanes = Vec::new();
                apply_edit(edit, &mut stems, &mut doc, &mut spoil_round, &mut lanes);
                if !lanes.is_empty() {
                    touched.write(Touched { gesture: *gesture, lanes });
                }
                doc.dirty = true;
                continue;
            }
            Intent::Release(_) | Intent::Record(_) => continue,
            Intent::Select(selection) => {
                select(&mut commands, &stems, *selection);
                continue;
            }
            Intent::Transport(command) => {
                transport.write(*command);
                continue;
            }
            Intent::Look(look) => {
                for mut orbit in &mut cameras {
                    *orbit = match *look {
                        Look::Orbit { yaw, pitch } => orbit.orbited(yaw, pitch),
                        Look::Zoom(factor) => orbit.zoomed(factor),
                        Look::Reset => OrbitCamera::default(),
                    };
                }
                continue;
            }
            Intent::Save => {
                let scene = current(&doc.scene, &stems);
                match scene.save_to(&super::shared::stage_files(), &doc.path) {
                    Ok(()) => {
                        doc.seen_modified = modified(&doc.path);
                        doc.dirty = false;
                        doc.saves += 1;
                        doc.status = format!("saved {}", doc.path.display());
                        doc.scene = scene;
                    }
                    Err(e) => doc.status = format!("not saved: {e}"),
                }
                continue;
            }
            Intent::Undo | Intent::Redo => {
                let now = current(&doc.scene, &stems);
                let undo = matches!(intent, Intent::Undo);
                let Some((scene, label)) = (if undo { history.undo(now) } else { history.redo(now) }) else {
                    continue;
                };
                let done = if undo { "undone" } else { "redone" };
                doc.status = if label.is_empty() { done.into() } else { format!("{done}: {label}") };
                doc.dirty = true;
                scene
            }
            Intent::Replace(scene) => {
                history.push(current(&doc.scene, &stems));
                doc.dirty = true;
                (**scene).clone()
            }
            Intent::Show(scene) => (**scene).clone(),
        };
        // A continuing gesture after a whole-scene change is a new undo step.
        *last_gesture = None;
        show(&mut commands, &mut stems, &mut doc, target, &mut rebuilt);
    }
}

/// The world becomes `target`: in place when the stems are the same (only what differs is touched, so change
/// detection sees real edits only), rebuilt otherwise.
fn show(
    commands: &mut Commands,
    stems: &mut StemsMut,
    doc: &mut StageScene,
    target: Scene,
    rebuilt: &mut MessageWriter<StemsRebuilt>,
) {
    if same_stems(&doc.scene, &target) {
        for mut row in stems.iter_mut() {
            let Some(stem) = target.stems.get(row.body.index) else { continue };
            row.show(&StemValues::of(stem), Driven::ALL);
            row.solo.set_if_neq(Solo(stem.solo));
        }
    } else {
        for row in stems.iter() {
            commands.entity(row.entity).despawn();
        }
        for (i, stem) in target.stems.iter().enumerate() {
            commands.spawn(stem_components(i, stem));
        }
        rebuilt.write(StemsRebuilt);
    }
    doc.scene = target;
}

/// The entities `bodies` names, in scene order.
fn resolve(bodies: &Bodies, stems: &StemsMut) -> Vec<Entity> {
    let mut list: Vec<(usize, Entity)> = match bodies {
        Bodies::Selected => stems.iter().filter(|s| s.selected).map(|s| (s.body.index, s.entity)).collect(),
        Bodies::These(these) => {
            these.iter().filter_map(|e| stems.get(*e).ok().map(|s| (s.body.index, s.entity))).collect()
        }
    };
    list.sort_by_key(|(index, _)| *index);
    list.into_iter().map(|(_, e)| e).collect()
}

/// Applies one edit; `touched` gets every automatable property it moved, with its value before.
fn apply_edit(
    edit: &Edit,
    stems: &mut StemsMut,
    doc: &mut StageScene,
    spoil_round: &mut u32,
    touched: &mut Vec<(Lane, Value)>,
) {
    match edit {
        Edit::Place(places) => {
            for (entity, to) in places {
                edit_each(stems, [*entity], Prop::Position, touched, |row| {
                    let to = clamp_position(*to);
                    if row.transform.translation != to {
                        row.transform.translation = to;
                    }
                });
            }
        }
        Edit::MoveBy(bodies, by) => {
            let bodies = resolve(bodies, stems);
            edit_each(stems, bodies, Prop::Position, touched, |row| {
                row.transform.translation = clamp_position(row.transform.translation + *by);
            });
        }
        Edit::SetSize(sizes) => {
            for (entity, size) in sizes {
                edit_each(stems, [*entity], Prop::Size, touched, |row| {
                    row.size.set_if_neq(BodySize(clamp_size(*size)));
                });
            }
        }
        Edit::ScaleSize(bodies, factor) => {
            let bodies = resolve(bodies, stems);
            edit_each(stems, bodies, Prop::Size, touched, |row| {
                let size = clamp_size(row.size.0 * factor);
                row.size.set_if_neq(BodySize(size));
            });
        }
        Edit::SetSpoil(amounts) => {
            for (entity, amount) in amounts {
                edit_each(stems, [*entity], Prop::Spoil, touched, |row| {
                    row.spoil.set_if_neq(Spoil(spoil_range(*amount)));
                });
            }
        }
        Edit::SpoilBy(bodies, by) => {
            let bodies = resolve(bodies, stems);
            edit_each(stems, bodies, Prop::Spoil, touched, |row| {
                let amount = spoil_range(row.spoil.0 + by);
                row.spoil.set_if_neq(Spoil(amount));
            });
        }
        Edit::SpoilEverywhere => {
            let amounts = crate::mix::effects::spoil::a_little_everywhere(stems.iter().count(), *spoil_round);
            *spoil_round += 1;
            let bodies: Vec<Entity> = stems.iter().filter(|r| r.body.index < amounts.len()).map(|r| r.entity).collect();
            edit_each(stems, bodies, Prop::Spoil, touched, |row| {
                row.spoil.set_if_neq(Spoil(amounts[row.body.index]));
            });
        }
        Edit::SetGain(entity, db) => {
            edit_each(stems, [*entity], Prop::Gain, touched, |row| {
                row.gain.set_if_neq(GainTrim(db.clamp(limits::GAIN_DB.0, limits::GAIN_DB.1)));
            });
        }
        Edit::ToggleMute(bodies) => {
            let bodies = resolve(bodies, stems);
            let Some(now) = bodies.first().and_then(|e| stems.get(*e).ok()).map(|first| !first.muted.0) else { return };
            edit_each(stems, bodies, Prop::Muted, touched, |row| {
                row.muted.set_if_neq(Muted(now));
            });
        }
        Edit::ToggleSolo(bodies) => {
            // Solo is not automated: nothing is noted for the recorder.
            let bodies = resolve(bodies, stems);
            let Some(now) = bodies.first().and_then(|e| stems.get(*e).ok()).map(|first| !first.solo.0) else { return };
            for entity in bodies {
                if let Ok(mut row) = stems.get_mut(entity) {
                    row.solo.set_if_neq(Solo(now));
                }
            }
        }
        Edit::ClearAutomation(lane) => clear_lane(*lane, stems, doc),
        Edit::RoomAndMaster { room, master_gain_db, master_spoil } => {
            edit_room_and_master(&mut doc.scene, room, *master_gain_db, *master_spoil, touched);
        }
    }
}

fn spoil_range(amount: f32) -> f32 {
    amount.clamp(limits::SPOIL.0, limits::SPOIL.1)
}

/// A one-number value as the recorder notes it.
fn one(x: f32) -> Value {
    [x, 0.0, 0.0]
}

/// Edits each of `bodies` with `change`, noting for the recorder the value `prop` had on each before.
fn edit_each(
    stems: &mut StemsMut,
    bodies: impl IntoIterator<Item = Entity>,
    prop: Prop,
    touched: &mut Vec<(Lane, Value)>,
    mut change: impl FnMut(&mut StemRowMutItem),
) {
    for entity in bodies {
        if let Ok(mut row) = stems.get_mut(entity) {
            let before = match prop {
                Prop::Position => row.transform.translation.to_array(),
                Prop::Size => one(row.size.0),
                Prop::Spoil => one(row.spoil.0),
                Prop::Muted => one(if row.muted.0 { 1.0 } else { 0.0 }),
                Prop::Gain => one(row.gain.0),
                Prop::Send => one(row.send.0),
                Prop::Return | Prop::Reverb | Prop::Master => continue,
            };
            touched.push((Lane::Stem(row.body.index, prop), before));
            change(&mut row);
        }
    }
}

/// Clears a lane's automation; the property shows (and plays) its own value again.
fn clear_lane(lane: Lane, stems: &mut StemsMut, doc: &mut StageScene) {
    automation::clear(&mut doc.scene, lane);
    let Lane::Stem(index, prop) = lane else { return };
    let own = lane.own(&doc.scene);
    for mut row in stems.iter_mut().filter(|row| row.body.index == index) {
        match prop {
            Prop::Position => row.transform.translation = Vec3::from_array(own),
            Prop::Size => {
                row.size.set_if_neq(BodySize(own[0]));
            }
            Prop::Spoil => {
                row.spoil.set_if_neq(Spoil(own[0]));
            }
            Prop::Muted => {
                row.muted.set_if_neq(Muted(own[0] >= 0.5));
            }
            Prop::Gain => {
                row.gain.set_if_neq(GainTrim(own[0]));
            }
            Prop::Send => {
                row.send.set_if_neq(SendTrim(own[0]));
            }
            Prop::Return | Prop::Reverb | Prop::Master => {}
        }
    }
}

/// The room and the master as the room panel set them, clamped; the reverb and master faders are noted for
/// the recorder.
fn edit_room_and_master(
    scene: &mut Scene,
    room: &Room,
    master_gain_db: f32,
    master_spoil: f32,
    touched: &mut Vec<(Lane, Value)>,
) {
    if room.reverb_db != scene.room.reverb_db {
        touched.push((Lane::Room(Prop::Reverb), one(scene.room.reverb_db)));
    }
    if master_gain_db != scene.master_gain_db {
        touched.push((Lane::Room(Prop::Master), one(scene.master_gain_db)));
    }
    scene.room = Room {
        reverb_db: room.reverb_db.clamp(limits::REVERB_DB.0, limits::REVERB_DB.1),
        decay_s: room.decay_s.clamp(limits::DECAY_S.0, limits::DECAY_S.1),
        size: room.size.clamp(limits::ROOM_SIZE_M.0, limits::ROOM_SIZE_M.1),
        damping: room.damping.clamp(limits::DAMPING.0, limits::DAMPING.1),
        ..*room
    };
    scene.master_gain_db = master_gain_db.clamp(limits::GAIN_DB.0, limits::GAIN_DB.1);
    scene.master_spoil = spoil_range(master_spoil);
}

/// Carries out a change of selection (through commands: it shows from the next system on).
fn select(commands: &mut Commands, stems: &StemsMut, selection: Selection) {
    let mut all: Vec<(usize, Entity, bool)> = stems.iter().map(|s| (s.body.index, s.entity, s.selected)).collect();
    all.sort_by_key(|b| b.0);
    let chosen: Vec<Entity> = match selection {
        Selection::Clear => Vec::new(),
        Selection::Click { target, add, keep_group } => {
            let was_selected = all.iter().any(|&(_, e, selected)| e == target && selected);
            let mut now: Vec<Entity> = all.iter().filter(|b| b.2).map(|b| b.1).collect();
            if add {
                if was_selected {
                    now.retain(|e| *e != target);
                } else {
                    now.push(target);
                }
                now
            } else if was_selected && keep_group {
                now
            } else {
                vec![target]
            }
        }
        Selection::Step(step) => {
            if all.is_empty() {
                return;
            }
            let n = all.len() as i64;
            let next = match all.iter().position(|b| b.2) {
                Some(i) => (i as i64 + step).rem_euclid(n),
                None if step > 0 => 0,
                None => n - 1,
            } as usize;
            vec![all[next].1]
        }
    };
    for (_, entity, selected) in all {
        let wanted = chosen.contains(&entity);
        if wanted && !selected {
            commands.entity(entity).insert(Selected);
        } else if !wanted && selected {
            commands.entity(entity).remove::<Selected>();
        }
    }
}

/// Who made each gesture that did not come from the stage's own mouse, pad or panels (a room's participant):
/// the history names its steps with it and a take remembers its players.
#[derive(Resource, Debug, Default)]
pub struct GestureAuthors {
    names: std::collections::HashMap<Gesture, String>,
}

impl GestureAuthors {
    /// Gestures remembered at most (the oldest are forgotten; a gesture's steps are named when it starts).
    const LIMIT: usize = 4096;

    /// Notes that `gesture` is `name`'s.
    pub fn insert(&mut self, gesture: Gesture, name: String) {
        if self.names.len() >= Self::LIMIT {
            self.names.clear();
        }
        self.names.insert(gesture, name);
    }

    /// Whose `gesture` is: a participant's name, or "stage".
    pub fn name(&self, gesture: Gesture) -> &str {
        self.names.get(&gesture).map_or("stage", String::as_str)
    }
}
