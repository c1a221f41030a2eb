//! Export WAV from the stage: the world's scene renders on a background thread through the same mix graph
//! over the offline backend, with a progress bar, while the stage keeps playing.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use bevy::prelude::*;

use crate::mix::mapping::Cues;
use crate::mix::offline::{self, RenderOptions, WavFormat};
use crate::mix::source::StemSource;
use crate::scene::Scene;

/// One export at a time; the panel shows its progress and what came of it.
#[derive(Resource, Default)]
pub struct ExportJob {
    running: Option<Running>,
    /// What the last export said: where it wrote and its loudness, or why it failed.
    pub outcome: Option<Result<String, String>>,
}

struct Running {
    /// Per mille.
    progress: Arc<AtomicU32>,
    result: Arc<Mutex<Option<Result<String, String>>>>,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
}

impl ExportJob {
    /// Progress of the running export (0..1), if one runs.
    pub fn progress(&self) -> Option<f32> {
        self.running.as_ref().map(|r| r.progress.load(Ordering::Relaxed) as f32 / 1000.0)
    }

    pub fn running_path(&self) -> Option<&Path> {
        self.running.as_ref().map(|r| r.path.as_path())
    }

    /// Renders `scene` (its file at `scene_path`) with the cues heard on the stage to a 24-bit WAV at `path` at
    /// `sample_rate`, on a thread. The stems playing (`live`: their sources and rate) are used when they are at
    /// that rate; otherwise the files are opened again at it.
    pub fn start(
        &mut self,
        scene: Scene,
        scene_path: &Path,
        live: (Vec<Option<StemSource>>, u32),
        sample_rate: u32,
        cues: Cues,
        path: PathBuf,
    ) {
        if self.running.is_some() {
            return;
        }
        self.outcome = None;
        let progress = Arc::new(AtomicU32::new(0));
        let result = Arc::new(Mutex::new(None));
        let (p, r, out) = (progress.clone(), result.clone(), path.clone());
        let scene_path = scene_path.to_owned();
        let thread = std::thread::Builder::new()
            .name("proxemix export".into())
            .spawn(move || {
                let outcome = sources_at(&scene, &scene_path, live, sample_rate)
                    .and_then(|audio| export(&scene, &audio, sample_rate, cues, &out, &p));
                *r.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
            })
            .ok();
        if thread.is_none() {
            self.outcome = Some(Err("could not start the export thread".into()));
            return;
        }
        self.running = Some(Running { progress, result, thread, path });
    }

    /// Collects a finished export's outcome.
    pub fn poll(&mut self) {
        let Some(running) = &mut self.running else { return };
        let done = running.result.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(outcome) = done {
            if let Some(t) = running.thread.take() {
                let _ = t.join();
            }
            self.outcome = Some(outcome);
            self.running = None;
        }
    }
}

/// The stems at `sample_rate`: those playing, or the files opened again; a stem that will not open is an
/// error naming it (an export must not leave a stem out silently).
fn sources_at(
    scene: &Scene,
    scene_path: &Path,
    (live, live_rate): (Vec<Option<StemSource>>, u32),
    sample_rate: u32,
) -> Result<Vec<Option<StemSource>>, String> {
    if live_rate == sample_rate {
        return Ok(live);
    }
    let mut failed = Vec::new();
    let audio = crate::mix::source::open_scene(scene_path, scene, sample_rate)
        .into_iter()
        .zip(&scene.stems)
        .map(|(opened, stem)| opened.map_err(|e| failed.push(format!("stem \"{}\": {e}", stem.name))).ok())
        .collect();
    match failed.is_empty() {
        true => Ok(audio),
        false => Err(format!("cannot export at {sample_rate} Hz: {}", failed.join("; "))),
    }
}

fn export(
    scene: &Scene,
    audio: &[Option<StemSource>],
    sample_rate: u32,
    cues: Cues,
    out: &Path,
    progress: &AtomicU32,
) -> Result<String, String> {
    if out.is_dir() {
        return Err(format!("{}: is a directory; give a file name for the WAV", out.display()));
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create the folder: {e}", dir.display()))?;
    }
    // One core is left to the stage, the rest render (the result does not depend on how many).
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get()).saturating_sub(1).max(1);
    let options = RenderOptions { sample_rate, cues, jobs, ..RenderOptions::default() };
    let rendered = offline::render_wav(out, scene, audio, &options, WavFormat::Int24, &mut |p| {
        progress.store((p.clamp(0.0, 1.0) * 1000.0) as u32, Ordering::Relaxed);
    })
    .map_err(|e| e.to_string())?;
    Ok(format!("wrote {} ({:.1} s) — {}", out.display(), rendered.seconds(), rendered.loudness))
}

pub struct ExportPlugin;

impl Plugin for ExportPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ExportJob>().add_systems(Update, |mut job: ResMut<ExportJob>| job.poll());
    }
}
