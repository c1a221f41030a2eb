//! Audio import: WAV, FLAC, OGG Vorbis and MP3 (mono or stereo) decoded with symphonia and resampled to the
//! engine rate with a band-limited FFT resampler (rubato), stems in parallel, every failure named and explained.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kira::Frame;

use super::decode::{Repairs, StemDecoder};

/// Longest stem accepted: a song, not an album. Checked against the header before decoding, and again while
/// decoding in case the header lies.
pub const MAX_DURATION_S: u64 = 20 * 60;
/// Largest file accepted (bytes); a 20-minute 192 kHz 32-bit stereo WAV is ~1.8 GB.
pub const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Sample rates outside this range are refused as implausible (usually a corrupt header).
pub const SAMPLE_RATE_RANGE: (u32, u32) = (4_000, 768_000);
/// The extensions `proxemix new` picks up (content is probed regardless of the name).
pub const AUDIO_EXTENSIONS: [&str; 6] = ["wav", "wave", "flac", "ogg", "oga", "mp3"];

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

/// Why a file could not be used. Display names the file and the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportError {
    /// The file.
    pub path: PathBuf,
    /// Why, in words the user can act on.
    pub reason: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for ImportError {}

/// What the header says, read without decoding the audio.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    /// The container (wave, flac, ogg, mp3).
    pub format: String,
    /// Channels (1 or 2).
    pub channels: usize,
    /// The file's rate.
    pub sample_rate: u32,
    /// Frames the header declares, if it does.
    pub frames: Option<u64>,
}

/// Reads the header only: used by `proxemix new` to report unusable files quickly.
pub fn probe(path: &Path) -> Result<Probe, ImportError> {
    super::decode::probe(path)
}

/// Decodes one whole file at `engine_rate` into memory (the same frames a stream of it plays). Non-finite
/// samples become silence; [`load_reporting`] says how many there were.
pub fn load(path: &Path, engine_rate: u32) -> Result<Audio, ImportError> {
    load_reporting(path, engine_rate).map(|(audio, _)| audio)
}

/// [`load`], and what had to be repaired to play the file.
pub fn load_reporting(path: &Path, engine_rate: u32) -> Result<(Audio, Repairs), ImportError> {
    let info = super::decode::stem_info(path, engine_rate)?;
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
pub fn load_all(paths: &[PathBuf], engine_rate: u32) -> Vec<Result<Audio, ImportError>> {
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
                        let result = std::panic::catch_unwind(|| load(path, engine_rate)).unwrap_or_else(|_| {
                            Err(ImportError { path: path.clone(), reason: "the decoder crashed on this file".into() })
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
        paths.iter().map(|p| decoded_elsewhere(p, engine_rate).unwrap_or_else(|| load(p, engine_rate))).collect()
    }
}

/// Stems decoded elsewhere: the web page decodes them in a worker (off the thread that draws and plays) and
/// hands the frames over; [`load_all`] takes them from here in the browser. By file and engine rate.
type DecodedElsewhere = Vec<(PathBuf, u32, Result<Audio, String>)>;
static DECODED_ELSEWHERE: std::sync::Mutex<DecodedElsewhere> = std::sync::Mutex::new(Vec::new());

/// Keeps what decoding `path` at `engine_rate` gave elsewhere: the audio, or why the file cannot be used.
pub fn hand_over_decoded(path: &Path, engine_rate: u32, result: Result<Audio, String>) {
    let path = crate::page_files::normalise(path);
    let mut kept = DECODED_ELSEWHERE.lock().unwrap_or_else(|e| e.into_inner());
    kept.retain(|(p, rate, _)| !(*p == path && *rate == engine_rate));
    kept.push((path, engine_rate, result));
}

/// What decoding `path` at `engine_rate` gave elsewhere, if it was handed over.
pub fn decoded_elsewhere(path: &Path, engine_rate: u32) -> Option<Result<Audio, ImportError>> {
    let path = crate::page_files::normalise(path);
    let kept = DECODED_ELSEWHERE.lock().unwrap_or_else(|e| e.into_inner());
    let (_, _, result) = kept.iter().find(|(p, rate, _)| *p == path && *rate == engine_rate)?;
    Some(result.clone().map_err(|reason| ImportError { path, reason }))
}
