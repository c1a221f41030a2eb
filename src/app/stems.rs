//! The scene in the ECS: one entity per stem, the document behind them (file, last good scene, unsaved
//! marker), the undo history, and the scene as the world holds it.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bevy::prelude::*;

use crate::scene::{Scene, Stem, limits};

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
    undo: Vec<Scene>,
    redo: Vec<Scene>,
    /// While a take records, its edits are not steps of their own: the take is one step, pushed at its end.
    suspended: bool,
}

/// Undo depth; a scene snapshot is a few kB.
const HISTORY_LIMIT: usize = 200;

impl History {
    /// Remembers `scene` as the state before an edit.
    pub fn push(&mut self, scene: Scene) {
        if self.suspended || self.undo.last() == Some(&scene) {
            return;
        }
        self.undo.push(scene);
        if self.undo.len() > HISTORY_LIMIT {
            self.undo.remove(0);
        }
        self.redo.clear();
    }

    pub fn undo(&mut self, current: Scene) -> Option<Scene> {
        let previous = self.undo.pop()?;
        self.redo.push(current);
        Some(previous)
    }

    pub fn redo(&mut self, current: Scene) -> Option<Scene> {
        let next = self.redo.pop()?;
        self.undo.push(current);
        Some(next)
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

/// Every stem's components as the world holds them (what [`world_scene`] reads).
pub type WorldRows<'w, 's> = Query<
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

/// Components of one stem as the world holds them.
pub type StemRow<'a> = (&'a StemBody, &'a Transform, &'a BodySize, &'a Spoil, &'a Muted, &'a Solo, &'a GainTrim);

/// The scene as the world holds it now: the document's room, master and notes with the stems from the
/// entities, in file order.
pub fn world_scene<'a>(doc: &Scene, stems: impl Iterator<Item = StemRow<'a>>) -> Scene {
    let mut rows: Vec<_> = stems.collect();
    rows.sort_by_key(|r| r.0.index);
    let mut scene = doc.clone();
    scene.stems = rows
        .into_iter()
        .map(|(body, t, size, spoil, muted, solo, gain)| Stem {
            name: body.name.clone(),
            file: body.file.clone(),
            position: clamp_position(t.translation).into(),
            size: size.0,
            gain_db: gain.0,
            spoil: spoil.0,
            muted: muted.0,
            solo: solo.0,
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

pub fn clamp_size(size: f32) -> f32 {
    size.clamp(limits::SIZE.0, limits::SIZE.1)
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
