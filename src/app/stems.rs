//! The scene in the ECS: one entity per stem, loaded from and saved back to the scene file, with undo and
//! reload-on-edit.

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
}

impl StageScene {
    pub fn new(path: PathBuf, scene: Scene) -> StageScene {
        let seen_modified = modified(&path);
        StageScene { path, scene, dirty: false, reload_error: None, seen_modified, status: String::new() }
    }
}

/// Snapshots of the scene before each edit gesture, for Ctrl+Z (and redo with Ctrl+Shift+Z).
#[derive(Resource, Debug, Default)]
pub struct History {
    undo: Vec<Scene>,
    redo: Vec<Scene>,
    /// The stems as the previous frame ended: what a checkpoint saves, since the edit that asks for it has
    /// already touched the world by the time the request is read. Plain numbers (no names), so keeping it
    /// every frame costs next to nothing.
    last_frame: Vec<StemSnapshot>,
}

/// What an edit can change on one stem.
#[derive(Debug, Clone, Copy, PartialEq)]
struct StemSnapshot {
    index: usize,
    position: Vec3,
    size: f32,
    spoil: f32,
    muted: bool,
    solo: bool,
    gain_db: f32,
}

impl History {
    /// The document with the stems as the previous frame ended.
    fn before_this_frame(&self, doc: &Scene) -> Option<Scene> {
        if self.last_frame.len() != doc.stems.len() {
            return None;
        }
        let mut scene = doc.clone();
        for s in &self.last_frame {
            let stem = scene.stems.get_mut(s.index)?;
            stem.position = clamp_position(s.position).into();
            stem.size = s.size;
            stem.spoil = s.spoil;
            stem.muted = s.muted;
            stem.solo = s.solo;
            stem.gain_db = s.gain_db;
        }
        keep_driven(doc, &mut scene);
        Some(scene)
    }
}

/// Undo depth; a scene snapshot is a few kB.
const HISTORY_LIMIT: usize = 200;

impl History {
    /// Remembers `scene` as the state before an edit.
    pub fn push(&mut self, scene: Scene) {
        if self.undo.last() == Some(&scene) {
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

    /// Forgets every step (the document changed to another scene: its steps would not apply).
    pub fn clear(&mut self) {
        self.undo.clear();
        self.redo.clear();
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }
}

/// Edits ask for these; one system carries them out in order.
#[derive(Message, Debug, Clone)]
pub enum SceneCommand {
    /// Remember the current state before an edit gesture starts (drag, resize, toggle ...).
    Checkpoint,
    Undo,
    Redo,
    Save,
    /// Replace the world with this scene (reload, undoable edits ...); the previous state goes on the undo stack.
    Replace(Box<Scene>),
    /// Show this scene without touching the history or the unsaved marker (A/B switches, the morph, the quiz).
    Show(Box<Scene>),
}

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
            .init_resource::<SceneWatcher>()
            .add_message::<SceneCommand>()
            .add_message::<StemsRebuilt>()
            .add_systems(Startup, spawn_stems)
            .add_systems(
                Update,
                (watch_scene_file, run_scene_commands, remember_frame).chain().in_set(StageSet::Document),
            );
    }
}

/// Order within Update: input turns into intents and edits, then the document commands run.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum StageSet {
    Input,
    Document,
}

fn spawn_stems(mut commands: Commands, doc: Res<StageScene>) {
    for (i, stem) in doc.scene.stems.iter().enumerate() {
        commands.spawn(stem_components(i, stem));
    }
}

#[allow(clippy::type_complexity)]
fn run_scene_commands(
    mut commands: Commands,
    mut requests: MessageReader<SceneCommand>,
    mut doc: ResMut<StageScene>,
    mut history: ResMut<History>,
    mut stems: Query<(
        Entity,
        &StemBody,
        &mut Transform,
        &mut BodySize,
        &mut Spoil,
        &mut Muted,
        &mut Solo,
        &mut GainTrim,
        &mut SendTrim,
    )>,
    mut rebuilt: MessageWriter<StemsRebuilt>,
) {
    for request in requests.read() {
        let current = world_scene(
            &doc.scene,
            stems.iter().map(|(_, b, t, size, spoil, muted, solo, gain, _)| (b, t, size, spoil, muted, solo, gain)),
        );
        let target = match request {
            SceneCommand::Checkpoint => {
                let before = history.before_this_frame(&doc.scene).unwrap_or(current);
                history.push(before);
                doc.dirty = true;
                continue;
            }
            SceneCommand::Save => {
                match current.save(&doc.path) {
                    Ok(()) => {
                        doc.seen_modified = modified(&doc.path);
                        doc.dirty = false;
                        doc.status = format!("saved {}", doc.path.display());
                        doc.scene = current;
                    }
                    Err(e) => doc.status = format!("not saved: {e}"),
                }
                continue;
            }
            SceneCommand::Undo => match history.undo(current) {
                Some(s) => {
                    doc.status = "undone".into();
                    doc.dirty = true;
                    s
                }
                None => continue,
            },
            SceneCommand::Redo => match history.redo(current) {
                Some(s) => {
                    doc.status = "redone".into();
                    doc.dirty = true;
                    s
                }
                None => continue,
            },
            SceneCommand::Replace(scene) => {
                history.push(current);
                doc.dirty = true;
                (**scene).clone()
            }
            SceneCommand::Show(scene) => (**scene).clone(),
        };
        if same_stems(&doc.scene, &target) {
            for (_, body, mut t, mut size, mut spoil, mut muted, mut solo, mut gain, mut send) in &mut stems {
                let Some(stem) = target.stems.get(body.index) else { continue };
                let position = Vec3::from(stem.position_array());
                // Only touch what differs, so change detection (and the audio bridge) sees real edits only.
                if t.translation != position {
                    t.translation = position;
                }
                size.set_if_neq(BodySize(stem.size));
                spoil.set_if_neq(Spoil(stem.spoil));
                muted.set_if_neq(Muted(stem.muted));
                solo.set_if_neq(Solo(stem.solo));
                gain.set_if_neq(GainTrim(stem.gain_db));
                send.set_if_neq(SendTrim(stem.send_db));
            }
        } else {
            for (entity, ..) in &stems {
                commands.entity(entity).despawn();
            }
            for (i, stem) in target.stems.iter().enumerate() {
                commands.spawn(stem_components(i, stem));
            }
            rebuilt.write(StemsRebuilt);
        }
        doc.scene = target;
    }
}

pub fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// An editor's save arrives as a burst of events (write, rename, attributes): the file is read once the burst
/// has been quiet this long.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(120);

/// Watches the folder of the scene file (editors often save by writing a new file and renaming it over the old
/// one, so the file itself would be lost track of) and tells when the scene file may have changed.
#[derive(Resource, Default)]
struct SceneWatcher {
    watching: Option<PathBuf>,
    #[cfg(not(target_arch = "wasm32"))]
    watcher: Option<notify::RecommendedWatcher>,
    events: Option<bevy::platform::cell::SyncCell<std::sync::mpsc::Receiver<notify_event::Event>>>,
    /// When an event about the file last came, while it settles.
    pending: Option<std::time::Instant>,
}

#[cfg(not(target_arch = "wasm32"))]
mod notify_event {
    pub type Event = notify::Result<notify::Event>;
}
#[cfg(target_arch = "wasm32")]
mod notify_event {
    pub type Event = ();
}

impl SceneWatcher {
    /// Starts watching the folder of `path` (once per path); without a watcher (none on this system) nothing
    /// is reloaded, and the stage says so.
    fn watch(&mut self, path: &Path) -> Result<(), String> {
        if self.watching.as_deref() == Some(path) {
            return Ok(());
        }
        self.watching = Some(path.to_owned());
        self.pending = None;
        #[cfg(not(target_arch = "wasm32"))]
        {
            use notify::Watcher;
            let (tx, rx) = std::sync::mpsc::channel();
            let mut watcher = notify::recommended_watcher(move |event| {
                let _ = tx.send(event);
            })
            .map_err(|e| format!("cannot watch for edits: {e}"))?;
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
                _ => PathBuf::from("."),
            };
            watcher
                .watch(&dir, notify::RecursiveMode::NonRecursive)
                .map_err(|e| format!("cannot watch {} for edits: {e}", dir.display()))?;
            self.watcher = Some(watcher);
            self.events = Some(bevy::platform::cell::SyncCell::new(rx));
        }
        Ok(())
    }

    /// Whether the file was touched and has since been quiet long enough to read.
    fn settled(&mut self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        if let (Some(events), Some(path)) = (self.events.as_mut(), self.watching.as_ref()) {
            let name = path.file_name();
            while let Ok(event) = events.get().try_recv() {
                if event.is_ok_and(|e| e.paths.iter().any(|p| p.file_name() == name)) {
                    self.pending = Some(std::time::Instant::now());
                }
            }
        }
        match self.pending {
            Some(at) if at.elapsed() >= SETTLE => {
                self.pending = None;
                true
            }
            _ => false,
        }
    }
}

/// Reloads the scene when its file changes on disk (the stage's own saves are recognised by their time and
/// not reloaded); a broken edit keeps the last good scene and shows why.
fn watch_scene_file(
    mut watcher: ResMut<SceneWatcher>,
    mut doc: ResMut<StageScene>,
    mut requests: MessageWriter<SceneCommand>,
) {
    if let Err(e) = watcher.watch(&doc.path.clone()) {
        doc.reload_error = Some(e);
    }
    if !watcher.settled() {
        return;
    }
    let now = modified(&doc.path);
    if now.is_none() || now == doc.seen_modified {
        return;
    }
    doc.seen_modified = now;
    match Scene::load(&doc.path) {
        Ok(scene) => {
            doc.reload_error = None;
            doc.status = format!("reloaded {}", doc.path.display());
            requests.write(SceneCommand::Replace(Box::new(scene)));
        }
        Err(e) => doc.reload_error = Some(format!("{e} — keeping the last good scene")),
    }
}

/// Keeps [`History`]'s picture of the world as this frame ends (only recomputed when something changed).
#[allow(clippy::type_complexity)]
fn remember_frame(
    doc: Res<StageScene>,
    mut history: ResMut<History>,
    changed: Query<
        (),
        (
            With<StemBody>,
            Or<(
                Changed<Transform>,
                Changed<BodySize>,
                Changed<Spoil>,
                Changed<Muted>,
                Changed<Solo>,
                Changed<GainTrim>,
            )>,
        ),
    >,
    stems: Query<StemRow>,
) {
    if !history.last_frame.is_empty() && !doc.is_changed() && changed.is_empty() {
        return;
    }
    history.last_frame.clear();
    history.last_frame.extend(stems.iter().map(|(body, t, size, spoil, muted, solo, gain)| StemSnapshot {
        index: body.index,
        position: t.translation,
        size: size.0,
        spoil: spoil.0,
        muted: muted.0,
        solo: solo.0,
        gain_db: gain.0,
    }));
}
