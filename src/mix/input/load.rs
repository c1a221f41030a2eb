//! Whole-file loading: a stem decoded into memory at the engine rate (the same frames a stream of it plays),
//! many stems in parallel, each failure standing alone.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kira::Frame;

use super::decode::StemDecoder;
use super::error::ImportError;
use super::probe::stem_info;
use super::repair::Repairs;
use crate::files::FileSource;

/// A decoded stem at the engine rate, stereo (mono is copied to both channels).
#[derive(Clone, Debug)]
pub struct Audio {
    /// The engine rate the frames are at.
    pub sample_rate: u32,
    /// The frames, shared.
    pub frames: Arc<[Frame]>,
    /// Channels in the file (1 or 2).
    pub source_channels: usize,
    /// The file's own rate.
    pub source_sample_rate: u32,
}

impl Audio {
    /// Length in seconds.
    pub fn duration_s(&self) -> f64 {
        self.frames.len() as f64 / self.sample_rate as f64
    }

    /// Builds audio from frames the caller made (tests, benchmarks, the demo generator).
    pub fn from_frames(sample_rate: u32, frames: Vec<Frame>) -> Audio {
        Audio { sample_rate, frames: frames.into(), source_channels: 2, source_sample_rate: sample_rate }
    }
}

/// Decodes one whole file at `engine_rate` into memory (the same frames a stream of it plays). Non-finite
/// samples become silence; [`load_reporting`] says how many there were.
pub fn load(path: &Path, engine_rate: u32) -> Result<Audio, ImportError> {
    load_from(&FileSource::disk(), path, engine_rate)
}

/// [`load`] from `files` (the disk, or the bytes the web page handed over).
pub fn load_from(files: &FileSource, path: &Path, engine_rate: u32) -> Result<Audio, ImportError> {
    load_reporting(files, path, engine_rate).map(|(audio, _)| audio)
}

/// [`load`], and what had to be repaired to play the file.
pub fn load_reporting(files: &FileSource, path: &Path, engine_rate: u32) -> Result<(Audio, Repairs), ImportError> {
    let info = stem_info(files, path, engine_rate)?;
    let mut decoder = StemDecoder::open(&info)?;
    let mut frames = Vec::with_capacity(info.frames as usize);
    while decoder.read(&mut frames, 1 << 16)? > 0 {}
    let audio = Audio {
        sample_rate: engine_rate,
        frames: frames.into(),
        source_channels: info.probe.channels.max(1),
        source_sample_rate: info.probe.sample_rate,
    };
    Ok((audio, decoder.repairs().clone()))
}

/// Loads many files at once, in parallel where threads exist; each result stands alone.
pub fn load_all(files: &FileSource, paths: &[PathBuf], engine_rate: u32) -> Vec<Result<Audio, ImportError>> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(paths.len().max(1));
        let mut results: Vec<Option<Result<Audio, ImportError>>> = vec![None; paths.len()];
        let next = std::sync::atomic::AtomicUsize::new(0);
        let slots: Vec<std::sync::Mutex<&mut Option<Result<Audio, ImportError>>>> =
            results.iter_mut().map(std::sync::Mutex::new).collect();
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(path) = paths.get(i) else { break };
                        // A decoder bug on hostile input must cost one stem, not the program.
                        let result =
                            std::panic::catch_unwind(|| load_from(files, path, engine_rate)).unwrap_or_else(|_| {
                                Err(ImportError {
                                    path: path.clone(),
                                    reason: "the decoder crashed on this file".into(),
                                })
                            });
                        **slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
                    }
                });
            }
        });
        drop(slots);
        results
            .into_iter()
            .zip(paths)
            .map(|(r, p)| {
                r.unwrap_or_else(|| Err(ImportError { path: p.clone(), reason: "decoder thread failed".into() }))
            })
            .collect()
    }
    #[cfg(target_arch = "wasm32")]
    {
        paths.iter().map(|p| load_from(files, p, engine_rate)).collect()
    }
}
