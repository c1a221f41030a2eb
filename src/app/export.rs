//! Export WAV from the stage: the world's scene renders on a background thread through the same mix graph
//! over the offline backend, with a progress bar, while the stage keeps playing. In the browser (no threads)
//! the same render runs a slice per frame and ends as a download.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use bevy::prelude::*;

use crate::mix::input::source::StemSource;
use crate::mix::mapping::Cues;
#[cfg(not(target_arch = "wasm32"))]
use crate::mix::offline::{self, RenderOptions, WavFormat};
use crate::scene::Scene;

/// One export at a time; the panel shows its progress and what came of it.
#[derive(Resource, Default)]
pub struct ExportJob {
    running: Option<Running>,
    /// What the last export said: where it wrote and its loudness, or why it failed.
    pub outcome: Option<Result<String, String>>,
    /// In the browser: the finished WAV, for the page to offer as a download (file name, bytes).
    pub download: Option<(String, Vec<u8>)>,
}

struct Running {
    /// Per mille.
    progress: Arc<AtomicU32>,
    result: Arc<Mutex<Option<Result<String, String>>>>,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
    /// In the browser: the render, stepped a slice per frame.
    #[cfg(target_arch = "wasm32")]
    stepped: Option<bevy::platform::cell::SyncCell<stepped::Stepped>>,
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
    /// that rate; otherwise the files are opened again at it. `path` may not be the scene, a stem or any of
    /// `other_inputs` (the other scenes of an A/B).
    #[allow(clippy::too_many_arguments)] // each is one thing the export needs, named at the call
    pub fn start(
        &mut self,
        scene: Scene,
        scene_path: &Path,
        live: (Vec<Option<StemSource>>, u32),
        sample_rate: u32,
        cues: Cues,
        path: PathBuf,
        other_inputs: Vec<PathBuf>,
    ) {
        if self.running.is_some() {
            return;
        }
        self.outcome = None;
        #[cfg(target_arch = "wasm32")]
        {
            // No threads: the render is stepped from `poll`, at the rate the stems were decoded at (the page
            // keeps no copy of the files to decode them again at another).
            let _ = (scene_path, sample_rate, other_inputs);
            let (audio, rate) = live;
            match stepped::Stepped::start(&scene, &audio, rate, cues, &path) {
                Ok(job) => {
                    let (progress, result) = (Arc::new(AtomicU32::new(0)), Arc::new(Mutex::new(None)));
                    let stepped = Some(bevy::platform::cell::SyncCell::new(job));
                    self.running = Some(Running { progress, result, thread: None, path, stepped });
                }
                Err(e) => self.outcome = Some(Err(e)),
            }
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let mut inputs = crate::commands::render_inputs(scene_path, &scene);
            inputs.extend(other_inputs);
            // The stage makes the folder typed in the path (the command line asks for an existing one).
            let made_folder = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
                Some(dir) => std::fs::create_dir_all(dir).map_err(|e| {
                    crate::commands::UserError(format!("{}: cannot create the folder: {e}", dir.display()))
                }),
                None => Ok(()),
            };
            if let Err(e) = made_folder.and_then(|()| crate::commands::check_output(&path, &inputs)) {
                self.outcome = Some(Err(e.to_string()));
                return;
            }
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
    }

    /// Collects a finished export's outcome.
    pub fn poll(&mut self) {
        let Some(running) = &mut self.running else { return };
        #[cfg(target_arch = "wasm32")]
        if let Some(job) = running.stepped.as_mut().map(|j| j.get()) {
            running.progress.store((job.progress() * 1000.0) as u32, Ordering::Relaxed);
            match job.step() {
                Ok(None) => return,
                Ok(Some((name, bytes, message))) => {
                    self.download = Some((name, bytes));
                    self.outcome = Some(Ok(message));
                }
                Err(e) => self.outcome = Some(Err(e)),
            }
            self.running = None;
            return;
        }
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

#[cfg(not(target_arch = "wasm32"))]
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
    let audio = crate::mix::input::source::open_scene(&super::shared::stage_files(), scene_path, scene, sample_rate)
        .into_iter()
        .zip(&scene.stems)
        .map(|(opened, stem)| opened.map_err(|e| failed.push(format!("stem \"{}\": {e}", stem.name))).ok())
        .collect();
    match failed.is_empty() {
        true => Ok(audio),
        false => Err(format!("cannot export at {sample_rate} Hz: {}", failed.join("; "))),
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn export(
    scene: &Scene,
    audio: &[Option<StemSource>],
    sample_rate: u32,
    cues: Cues,
    out: &Path,
    progress: &AtomicU32,
) -> Result<String, String> {
    // One core is left to the stage, the rest render (the result does not depend on how many).
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get()).saturating_sub(1).max(1);
    let options = RenderOptions { sample_rate, cues, jobs, ..RenderOptions::default() };
    let rendered = offline::render_wav(out, scene, audio, &options, WavFormat::Int24, &mut |p| {
        progress.store((p.clamp(0.0, 1.0) * 1000.0) as u32, Ordering::Relaxed);
    })
    .map_err(|e| e.to_string())?;
    Ok(format!("wrote {} ({:.1} s) — {}", out.display(), rendered.seconds(), rendered.loudness))
}

/// The browser's export: no threads, so the render runs in slices of a few milliseconds per frame (the live
/// sound is rendered on the same thread between frames), into memory, then becomes a WAV download.
#[cfg(target_arch = "wasm32")]
mod stepped {
    use std::path::Path;

    use bevy::platform::time::Instant;

    use crate::mix::input::source::StemSource;
    use crate::mix::mapping::Cues;
    use crate::mix::offline::{self, RenderOptions, RenderPass, Rendered, WavFormat};
    use crate::scene::Scene;

    /// How long a frame may render for: a frame in the browser is ~16 ms and the sound device's buffer ~43 ms.
    const BUDGET_MS: f64 = 6.0;
    /// Frames rendered between looks at the clock.
    const SLICE: usize = 512;

    pub struct Stepped {
        pass: Option<RenderPass>,
        samples: Vec<f32>,
        file_name: String,
    }

    impl Stepped {
        pub fn start(
            scene: &Scene,
            audio: &[Option<StemSource>],
            sample_rate: u32,
            cues: Cues,
            path: &Path,
        ) -> Result<Stepped, String> {
            if let Some((i, _)) = audio.iter().enumerate().find(|(_, a)| a.is_none()) {
                let name = scene.stems.get(i).map_or("?", |s| s.name.as_str());
                return Err(format!("cannot export: stem \"{name}\" did not load"));
            }
            let options = RenderOptions { sample_rate, cues, jobs: 1, ..RenderOptions::default() };
            let pass = RenderPass::start(scene, audio, &options).map_err(|e| e.to_string())?;
            let file_name = path.file_name().map_or("mix.wav".into(), |n| n.to_string_lossy().into_owned());
            Ok(Stepped { pass: Some(pass), samples: Vec::new(), file_name })
        }

        pub fn progress(&self) -> f64 {
            self.pass.as_ref().map_or(1.0, RenderPass::progress)
        }

        /// Renders for this frame's budget; at the end, the WAV file's name, bytes and what to say.
        pub fn step(&mut self) -> Result<Option<(String, Vec<u8>, String)>, String> {
            let Some(pass) = self.pass.as_mut() else { return Err("the export already ended".into()) };
            let began = Instant::now();
            let samples = &mut self.samples;
            let mut keep = |block: &[f32]| {
                samples.extend_from_slice(block);
                Ok(())
            };
            loop {
                let done = pass.step(SLICE, Some(&mut keep), &mut |_| {}).map_err(|e| e.to_string())?;
                if done {
                    break;
                }
                if began.elapsed().as_secs_f64() * 1000.0 > BUDGET_MS {
                    return Ok(None);
                }
            }
            let Some(pass) = self.pass.take() else { return Err("the export already ended".into()) };
            let sample_rate = pass.sample_rate();
            let (loudness, _repairs) = pass.finish();
            let interleaved = std::mem::take(&mut self.samples);
            let frames = interleaved.len() / 2;
            let rendered =
                Rendered { sample_rate, frames, interleaved, loudness, normalize_gain_db: None, repairs: Vec::new() };
            let bytes = offline::wav_bytes(&rendered, WavFormat::Int24).map_err(|e| e.to_string())?;
            let message = format!(
                "exported {} ({:.1} s at {:.1} kHz, 24-bit) — {}: in your downloads",
                self.file_name,
                rendered.seconds(),
                sample_rate as f64 / 1000.0,
                loudness
            );
            Ok(Some((self.file_name.clone(), bytes, message)))
        }
    }
}

pub struct ExportPlugin;

impl Plugin for ExportPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ExportJob>().add_systems(Update, |mut job: ResMut<ExportJob>| job.poll());
    }
}
