//! Reading a stem file's header without decoding it: its format, channels, rate and length at the engine rate,
//! every refusal (empty, too large, implausible, truncated) named.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::TimeBase;

use super::error::{ImportError, MAX_DURATION_S, MAX_FILE_BYTES, SAMPLE_RATE_RANGE};
use crate::files::FileSource;

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

/// What a file holds, read from its header, and how long it is at the engine rate.
#[derive(Clone, Debug, PartialEq)]
pub struct StemInfo {
    /// The file.
    pub path: PathBuf,
    /// Where it is read from (a stream opens it again to loop or seek).
    pub files: FileSource,
    /// What its header says.
    pub probe: Probe,
    /// Playable frames at the file's own rate: the header's count (or a count of the packets).
    pub source_frames: u64,
    /// The rate the stem plays at (the graph's).
    pub engine_rate: u32,
    /// Frames every pass through the file yields at the engine rate, exactly.
    pub frames: u64,
}

impl StemInfo {
    /// Length at the engine rate.
    pub fn seconds(&self) -> f64 {
        self.frames as f64 / self.engine_rate as f64
    }
}

/// A file opened for decoding: what its header says, the format reader, the audio track and its time base.
pub(super) type Opened = (Probe, Box<dyn FormatReader>, u32, Option<TimeBase>);

/// Opens `path` and reads its header; the format reader and the track are ready to decode.
pub(super) fn open_reader(files: &FileSource, path: &Path) -> Result<Opened, ImportError> {
    let fail = |reason: String| ImportError { path: path.to_owned(), reason };
    // A file the web page handed over is read from memory; any other from the disk.
    let (source, len): (Box<dyn MediaSource>, u64) = match files.get(path) {
        Some(bytes) => (Box::new(Cursor::new(bytes.clone())), bytes.len() as u64),
        None => {
            // A regular file only: a FIFO would block the open (or the read) forever, a device never ends.
            let file = crate::files::open_regular(path).map_err(|e| match e.kind() {
                std::io::ErrorKind::InvalidInput => fail(format!("{e}; a stem must be an audio file")),
                _ => fail(format!("cannot open: {e}")),
            })?;
            let len = file.metadata().map_err(|e| fail(format!("cannot read: {e}")))?.len();
            (Box::new(file), len)
        }
    };
    if len == 0 {
        return Err(fail("the file is empty".into()));
    }
    if len > MAX_FILE_BYTES {
        return Err(fail(format!("{:.1} GB is larger than the 2 GB limit for a stem", len as f64 / 1e9)));
    }
    let mss = MediaSourceStream::new(source, Default::default());
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
    // A WAV whose data stops short of what its header declares is cut off: say so before playing it.
    if let (Some(n), Some(bits)) = (frames, params.bits_per_sample)
        && format.format_info().short_name == "wave"
        && n.saturating_mul(channels.max(1) as u64 * bits.div_ceil(8) as u64) > len
    {
        return Err(fail(format!(
            "truncated: the header declares {:.2} s but the file holds less than that",
            n as f64 / sample_rate as f64
        )));
    }
    let track_id = track.id;
    let time_base = track.time_base;
    let format_name = format.format_info().short_name.to_string();
    Ok((Probe { format: format_name, channels, sample_rate, frames }, format, track_id, time_base))
}

/// Reads the header only (and, for a file whose header gives no length, counts its packets).
pub fn probe(files: &FileSource, path: &Path) -> Result<Probe, ImportError> {
    open_reader(files, path).map(|(probe, ..)| probe)
}

/// Reads a file's header and fixes its length at `engine_rate`, without decoding the audio.
pub fn stem_info(files: &FileSource, path: &Path, engine_rate: u32) -> Result<StemInfo, ImportError> {
    let (probe, mut format, track_id, time_base) = open_reader(files, path)?;
    let source_frames = match probe.frames {
        Some(n) => n,
        None => count_frames(path, &mut *format, track_id, time_base, probe.sample_rate)?,
    };
    if source_frames == 0 {
        return Err(ImportError { path: path.to_owned(), reason: "contains no audio".into() });
    }
    let frames = engine_frames(source_frames, probe.sample_rate, engine_rate)?;
    Ok(StemInfo { path: path.to_owned(), files: files.clone(), probe, source_frames, engine_rate, frames })
}

/// Frames at `to` of `n` frames at `from`: what rubato's whole-clip conversion yields, ⌈n·to/from⌉.
fn engine_frames(n: u64, from: u32, to: u32) -> Result<u64, ImportError> {
    if from == to {
        return Ok(n);
    }
    Ok((to as f64 / from as f64 * n as f64).ceil() as u64)
}

/// Counts the playable frames of a file whose header does not say, from the packets' durations (no decoding).
fn count_frames(
    path: &Path,
    format: &mut dyn FormatReader,
    track_id: u32,
    time_base: Option<TimeBase>,
    rate: u32,
) -> Result<u64, ImportError> {
    let mut total = 0u64;
    let limit = MAX_DURATION_S * rate as u64;
    loop {
        match format.next_packet() {
            Ok(Some(packet)) if packet.track_id == track_id => {
                total += ticks_to_frames(packet.dur.get(), time_base, rate);
                if total > limit {
                    return Err(ImportError {
                        path: path.to_owned(),
                        reason: format!("longer than the {}-minute limit for a stem", MAX_DURATION_S / 60),
                    });
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => {
                return Err(ImportError { path: path.to_owned(), reason: format!("cannot read its packets ({e})") });
            }
        }
    }
    Ok(total)
}

pub(super) fn ticks_to_frames(ticks: u64, time_base: Option<TimeBase>, rate: u32) -> u64 {
    match time_base {
        Some(tb) if !(tb.numer.get() == 1 && tb.denom.get() == rate) => {
            (ticks as u128 * tb.numer.get() as u128 * rate as u128 / tb.denom.get() as u128) as u64
        }
        _ => ticks,
    }
}

pub(super) fn frames_to_ticks(frames: u64, time_base: Option<TimeBase>, rate: u32) -> u64 {
    match time_base {
        Some(tb) if !(tb.numer.get() == 1 && tb.denom.get() == rate) => {
            (frames as u128 * tb.denom.get() as u128 / (tb.numer.get() as u128 * rate as u128)) as u64
        }
        _ => frames,
    }
}
