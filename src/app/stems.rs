//! The scene in the ECS: one entity per stem and its row (every component of it, by name), the document behind
//! them (file, last good scene, unsaved marker) and the undo history.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bevy::ecs::query::QueryData;
use bevy::prelude::*;

use crate::scene::timeline::{Driven, StemValues};
use crate::scene::{Scene, Stem};

/// A stem on the stage; `index` is its place in the scene file (and in the mix graph).
#[derive(Component, Debug, Clone)]
pub struct StemBody {
    pub index: usize,
    pub name: String,
    /// The audio file as the scene names it (relative to the scene file).
    pub file: String,
}

/// The body's size (1 = a person); sets its source level, width and drawn radius.
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct BodySize(pub f32);

/// How much the stem is roughed up (0..1).
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct Spoil(pub f32);

#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct Muted(pub bool);

#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct Solo(pub bool);

/// Level trim in dB on top of what the placement gives.
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct GainTrim(pub f32);

/// Effects send trim in dB (the timeline can move it; the inspector shows it).
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct SendTrim(pub f32);

/// The bodies the user is working on (click, shift-click, gamepad shoulder buttons).
#[derive(Component, Debug, Clone, Copy)]
pub struct Selected;

/// The scene document behind the world: the file, the last good scene (room, master, names, notes) and what
/// went wrong with the last reload, if anything.
#[derive(Resource, Debug)]
pub struct StageScene {
    pub path: PathBuf,
    /// The scene as last loaded, reloaded or saved; stems are rebuilt from the world when saving.
    pub scene: Scene,
    /// Changed since the last save.
    pub dirty: bool,
    /// Why the last reload of the file failed (the stage keeps the last good scene).
    pub reload_error: Option<String>,
    /// The file's modification time we last read or wrote, to tell our own saves from outside edits.
    pub seen_modified: Option<SystemTime>,
    /// One-line news for the status bar (saved, reloaded, undone ...).
    pub status: String,
    /// Times the document was saved (the web page offers each save as a download).
    pub saves: u64,
}

impl StageScene {
    pub fn new(path: PathBuf, scene: Scene) -> StageScene {
        let seen_modified = modified(&path);
        StageScene { path, scene, dirty: false, reload_error: None, seen_modified, status: String::new(), saves: 0 }
    }
}

/// Snapshots of the scene before each edit gesture, for Ctrl+Z (and redo with Ctrl+Shift+Z).
#[derive(Resource, Debug, Default)]
pub struct History {
    /// Each step: the scene before it, and who did what ("ana: move").
    undo: Vec<(Scene, String)>,
    redo: Vec<(Scene, String)>,
    /// While a take records, its edits are not steps of their own: the take is one step, pushed at its end.
    suspended: bool,
}

/// Undo depth; a scene snapshot is a few kB.
const HISTORY_LIMIT: usize = 200;

impl History {
    /// Remembers `scene` as the state before an edit.
    pub fn push(&mut self, scene: Scene) {
        self.push_named(scene, String::new());
    }

    /// Remembers `scene` as the state before an edit described by `label` (who did what).
    pub fn push_named(&mut self, scene: Scene, label: String) {
        if self.suspended || self.undo.last().is_some_and(|(s, _)| *s == scene) {
            return;
        }
        self.undo.push((scene, label));
        if self.undo.len() > HISTORY_LIMIT {
            self.undo.remove(0);
        }
        self.redo.clear();
    }

    /// Takes back the last step: the scene before it, and what the step was.
    pub fn undo(&mut self, current: Scene) -> Option<(Scene, String)> {
        let (previous, label) = self.undo.pop()?;
        self.redo.push((current, label.clone()));
        Some((previous, label))
    }

    /// Does again the step last taken back.
    pub fn redo(&mut self, current: Scene) -> Option<(Scene, String)> {
        let (next, label) = self.redo.pop()?;
        self.undo.push((current, label.clone()));
        Some((next, label))
    }

    /// What the last steps were, newest first (the history as named by who did them).
    pub fn recent(&self, count: usize) -> impl Iterator<Item = &str> {
        self.undo.iter().rev().take(count).map(|(_, label)| label.as_str())
    }

    /// Stops (or starts again) taking steps: a take is one step however many gestures it holds.
    pub fn suspend(&mut self, suspended: bool) {
        self.suspended = suspended;
    }

    /// Forgets every step (the document changed to another scene: its steps would not apply).
    pub fn clear(&mut self) {
        self.undo.clear();
        self.redo.clear();
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }
}

/// One stem as the world holds it, every component by name, to edit: the one apply system and the timeline's
/// follower write through it. Its read-only twin is [`StemRow`].
#[derive(QueryData)]
#[query_data(mutable)]
pub struct StemRowMut {
    pub entity: Entity,
    pub body: &'static StemBody,
    pub transform: &'static mut Transform,
    pub size: &'static mut BodySize,
    pub spoil: &'static mut Spoil,
    pub muted: &'static mut Muted,
    pub solo: &'static mut Solo,
    pub gain: &'static mut GainTrim,
    pub send: &'static mut SendTrim,
    pub selected: Has<Selected>,
}

/// One stem as the world holds it, read-only: what the panels, the bridge, the recorder and saving read.
/// (The same type a [`StemRowMut`] query yields from `iter()`, so one set of functions serves both.)
pub type StemRow = StemRowMutReadOnly;
/// What a [`StemRow`] query yields for one stem.
pub type StemRowItem<'w, 's> = StemRowMutReadOnlyItem<'w, 's>;
/// Every stem, read-only.
pub type WorldRows<'w, 's> = Query<'w, 's, StemRow>;

impl StemRowMutItem<'_, '_> {
    /// Shows `values` on the body, only the properties `which` names, touching only what differs (so change
    /// detection sees real edits only).
    pub fn show(&mut self, values: &StemValues, which: Driven) {
        let position = Vec3::new(values.position.0, values.position.1, values.position.2);
        if which.position && self.transform.translation != position {
            self.transform.translation = position;
        }
        if which.size {
            self.size.set_if_neq(BodySize(values.size));
        }
        if which.spoil {
            self.spoil.set_if_neq(Spoil(values.spoil));
        }
        if which.muted {
            self.muted.set_if_neq(Muted(values.muted));
        }
        if which.send {
            self.send.set_if_neq(SendTrim(values.send_db));
        }
        if which.gain {
            self.gain.set_if_neq(GainTrim(values.gain_db));
        }
    }
}

/// The components that carry one stem of `scene`.
pub fn stem_components(index: usize, stem: &Stem) -> impl Bundle {
    (
        StemBody { index, name: stem.name.clone(), file: stem.file.clone() },
        Transform::from_translation(Vec3::from(stem.position_array())),
        BodySize(stem.size),
        Spoil(stem.spoil),
        Muted(stem.muted),
        Solo(stem.solo),
        GainTrim(stem.gain_db),
        SendTrim(stem.send_db),
    )
}

/// Whether two scenes have the same stems (names and files in order), so the world can be updated in place
/// and the mix graph kept.
pub fn same_stems(a: &Scene, b: &Scene) -> bool {
    a.stems.len() == b.stems.len() && a.stems.iter().zip(&b.stems).all(|(x, y)| x.name == y.name && x.file == y.file)
}

/// Sent when the set of stems changed (not just their placement): the audio must be rebuilt.
#[derive(Message, Debug, Clone, Copy)]
pub struct StemsRebuilt;

/// Loads the scene document into the world and keeps the two in step.
pub struct StemsPlugin {
    pub path: PathBuf,
    pub scene: Scene,
}

impl Plugin for StemsPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(StageScene::new(self.path.clone(), self.scene.clone()))
            .init_resource::<History>()
            .add_message::<StemsRebuilt>()
            .add_systems(Startup, spawn_stems);
    }
}

fn spawn_stems(mut commands: Commands, doc: Res<StageScene>) {
    for (i, stem) in doc.scene.stems.iter().enumerate() {
        commands.spawn(stem_components(i, stem));
    }
}

/// When the file was last written (to tell the stage's own saves from outside edits).
pub fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
