//! Reload on edit: a file watcher on the scene's folder; when the scene file changes on disk it is read again
//! and shown (undoable), and a broken edit keeps the last good scene and says why.

use std::path::{Path, PathBuf};

use bevy::prelude::*;

use super::intent::Intent;
use super::shared::StageSet;
use super::stems::{StageScene, modified};
use crate::scene::Scene;

/// Watches the scene file of the stage's document.
pub struct ReloadPlugin;

impl Plugin for ReloadPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<SceneWatcher>().add_systems(Update, watch_scene_file.in_set(StageSet::Input));
    }
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
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
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
    mut requests: MessageWriter<Intent>,
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
    match Scene::load_from(&super::shared::stage_files(), &doc.path) {
        Ok(scene) => {
            doc.reload_error = None;
            doc.status = format!("reloaded {}", doc.path.display());
            requests.write(Intent::Replace(Box::new(scene)));
        }
        Err(e) => doc.reload_error = Some(format!("{e} — keeping the last good scene")),
    }
}
