//! Audio import: WAV, FLAC, OGG Vorbis and MP3 (mono or stereo) decoded with symphonia and resampled to the
//! engine rate with a band-limited FFT resampler (rubato), stems in parallel, every failure named and explained.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kira::Frame;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

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
    pub sample_rate: u32,
    pub frames: Arc<[Frame]>,
    /// Channels in the file (1 or 2).
    pub source_channels: usize,
    pub source_sample_rate: u32,
}

impl Audio {
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
    pub path: PathBuf,
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
    pub format: String,
    pub channels: usize,
    pub sample_rate: u32,
    pub frames: Option<u64>,
}

/// Reads the header only: used by `proxemix new` to report unusable files quickly.
pub fn probe(path: &Path) -> Result<Probe, ImportError> {
    open(path).map(|(probe, _, _)| probe)
}

type Reader = (Probe, Box<dyn symphonia::core::formats::FormatReader>, u32);

fn open(path: &Path) -> Result<Reader, ImportError> {
    let fail = |reason: String| ImportError { path: path.to_owned(), reason };
    let file = File::open(path).map_err(|e| fail(format!("cannot open: {e}")))?;
    let metadata = file.metadata().map_err(|e| fail(format!("cannot read: {e}")))?;
    if metadata.is_dir() {
        return Err(fail("is a folder, not an audio file".into()));
    }
    let len = metadata.len();
    if len == 0 {
        return Err(fail("the file is empty".into()));
    }
    if len > MAX_FILE_BYTES {
        return Err(fail(format!("{:.1} GB is larger than the 2 GB limit for a stem", len as f64 / 1e9)));
    }
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let format = symphonia::default::get_probe()
        .probe(&hint, mss, FormatOptions::default(), MetadataOptions::default())
        .map_err(|e| fail(format!("not a readable WAV, FLAC, OGG Vorbis or MP3 file ({e})")))?;
    let track = format.default_track(TrackType::Audio).ok_or_else(|| fail("contains no audio track".into()))?;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| fail("the audio track has no codec parameters".into()))?;
    let channels = params.channels.as_ref().map(|c| c.count()).unwrap_or(0);
    let sample_rate = params.sample_rate.ok_or_else(|| fail("the header gives no sample rate".into()))?;
    if !(SAMPLE_RATE_RANGE.0..=SAMPLE_RATE_RANGE.1).contains(&sample_rate) {
        return Err(fail(format!("the header claims a sample rate of {sample_rate} Hz, which is not plausible")));
    }
    if channels > 2 {
        return Err(fail(format!("has {channels} channels; Proxemix takes mono or stereo stems (split it first)")));
    }
    let frames = track.num_frames;
    if let Some(n) = frames
        && n > MAX_DURATION_S * sample_rate as u64
    {
        return Err(fail(format!(
            "the header declares {:.0} minutes of audio; the limit for a stem is {} minutes",
            n as f64 / sample_rate as f64 / 60.0,
            MAX_DURATION_S / 60
        )));
    }
    let track_id = track.id;
    let format_name = format.format_info().short_name.to_string();
    Ok((Probe { format: format_name, channels, sample_rate, frames }, format, track_id))
}

/// Decodes one file and converts it to `engine_rate`.
pub fn load(path: &Path, engine_rate: u32) -> Result<Audio, ImportError> {
    let fail = |reason: String| ImportError { path: path.to_owned(), reason };
    let (probe, mut format, track_id) = open(path)?;
    let params = format
        .tracks()
        .iter()
        .find(|t| t.id == track_id)
        .and_then(|t| t.codec_params.as_ref())
        .and_then(|p| p.audio())
        .cloned()
        .ok_or_else(|| fail("the audio track disappeared".into()))?;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| fail(format!("unsupported codec ({e})")))?;
    let max_frames = MAX_DURATION_S as usize * probe.sample_rate as usize;
    let mut interleaved: Vec<f32> =
        Vec::with_capacity(probe.frames.map_or(0, |n| (n as usize).min(max_frames)) * probe.channels.clamp(1, 2));
    let mut channels = probe.channels;
    let mut chunk: Vec<f32> = Vec::new();
    loop {
        let packet = match format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break;
            }
            Err(e) => {
                return Err(fail(format!("corrupt after {:.2} s: {e}", seconds(&interleaved, channels, &probe))));
            }
        };
        if packet.track_id != track_id {
            continue;
        }
        let decoded = decoder
            .decode(&packet)
            .map_err(|e| fail(format!("corrupt audio at {:.2} s: {e}", seconds(&interleaved, channels, &probe))))?;
        let n_channels = decoded.spec().channels().count();
        if n_channels > 2 {
            return Err(fail(format!("has {n_channels} channels; Proxemix takes mono or stereo stems")));
        }
        if channels == 0 {
            channels = n_channels;
        } else if n_channels != channels {
            return Err(fail(format!("changes from {channels} to {n_channels} channels mid-stream")));
        }
        chunk.resize(decoded.samples_interleaved(), 0.0);
        decoded.copy_to_slice_interleaved(&mut chunk[..]);
        interleaved.extend_from_slice(&chunk);
        if interleaved.len() / channels.max(1) > max_frames {
            return Err(fail(format!("longer than the {}-minute limit for a stem", MAX_DURATION_S / 60)));
        }
    }
    let channels = channels.max(1);
    let decoded_frames = interleaved.len() / channels;
    if decoded_frames == 0 {
        return Err(fail("contains no audio".into()));
    }
    if let Some(declared) = probe.frames {
        // Lossy formats may round the declared length to a packet; a real truncation loses far more.
        let tolerance = 4096.max(declared / 1000);
        if (decoded_frames as u64) + tolerance < declared {
            return Err(fail(format!(
                "truncated: the header declares {:.2} s but only {:.2} s could be decoded",
                declared as f64 / probe.sample_rate as f64,
                decoded_frames as f64 / probe.sample_rate as f64
            )));
        }
    }
    if let Some(i) = interleaved.iter().position(|s| !s.is_finite()) {
        return Err(fail(format!(
            "contains a non-finite sample (NaN or infinity) at {:.3} s",
            (i / channels) as f64 / probe.sample_rate as f64
        )));
    }
    let resampled = resample(&interleaved, channels, probe.sample_rate, engine_rate).map_err(fail)?;
    let frames: Vec<Frame> = resampled
        .chunks_exact(channels)
        .map(|s| {
            let l = super::effects::flush(s[0]);
            let r = if channels == 2 { super::effects::flush(s[1]) } else { l };
            Frame::new(l, r)
        })
        .collect();
    Ok(Audio {
        sample_rate: engine_rate,
        frames: frames.into(),
        source_channels: channels,
        source_sample_rate: probe.sample_rate,
    })
}

fn seconds(interleaved: &[f32], channels: usize, probe: &Probe) -> f64 {
    (interleaved.len() / channels.max(1)) as f64 / probe.sample_rate as f64
}

/// Band-limited sample-rate conversion of interleaved audio (rubato's FFT resampler, which trims its own delay).
pub fn resample(interleaved: &[f32], channels: usize, from: u32, to: u32) -> Result<Vec<f32>, String> {
    if from == to {
        return Ok(interleaved.to_vec());
    }
    use rubato::audioadapter_buffers::direct::InterleavedSlice;
    use rubato::{Fft, FixedSync, Resampler};
    let frames = interleaved.len() / channels;
    let input = InterleavedSlice::new(interleaved, channels, frames).map_err(|e| format!("resampler: {e}"))?;
    let mut resampler = Fft::<f32>::new(from as usize, to as usize, 1024, channels, FixedSync::Input)
        .map_err(|e| format!("cannot resample {from} Hz to {to} Hz: {e}"))?;
    let out = resampler.process_all(&input, frames, None).map_err(|e| format!("resampling failed: {e}"))?;
    Ok(out.take_data())
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
        paths.iter().map(|p| load(p, engine_rate)).collect()
    }
}
