//! Decoding a stem file in order at the engine rate: symphonia's packets, non-finite samples repaired, rubato's
//! band-limited FFT resampler fed chunk by chunk, and a length fixed by the header before anything is decoded.
//!
//! Whole-file loading ([`super::import::load`]) and streaming ([`super::stream`]) both read through
//! [`StemDecoder`], so a stem sounds bit for bit the same either way.

use std::fmt;
use std::fs::File;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use kira::Frame;
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::{TimeBase, Timestamp};

use super::import::{ImportError, MAX_DURATION_S, MAX_FILE_BYTES, Probe, SAMPLE_RATE_RANGE};

/// Input frames per resampler call. rubato's FFT resampler adds a delay of about a chunk, trimmed here.
const RESAMPLER_CHUNK: usize = 1024;
/// Source frames decoded before a seek target when resampling, so the filter has settled when the audio
/// that is heard begins (the FFT resampler's memory is shorter than this).
const SEEK_WARMUP_FRAMES: u64 = 8192;

/// What a file holds, read from its header, and how long it is at the engine rate.
#[derive(Clone, Debug, PartialEq)]
pub struct StemInfo {
    /// The file.
    pub path: PathBuf,
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

/// What had to be repaired to play a file: reported once per file, the stem plays.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Repairs {
    /// Samples that were NaN or infinite, replaced by silence.
    pub non_finite: u64,
    /// Where the first one was (seconds into the file).
    pub first_non_finite_s: Option<f64>,
    /// Packets the decoder could not decode, played as silence.
    pub damaged_packets: u64,
    /// Where the first one was (seconds into the file).
    pub first_damaged_s: Option<f64>,
}

impl Repairs {
    /// Whether anything had to be repaired.
    pub fn any(&self) -> bool {
        self.non_finite > 0 || self.damaged_packets > 0
    }

    /// Keeps the larger counts of two reports of the same file (a stream reads it more than once when it loops).
    pub fn merge(&mut self, other: &Repairs) {
        if other.non_finite > self.non_finite {
            self.non_finite = other.non_finite;
            self.first_non_finite_s = other.first_non_finite_s;
        }
        if other.damaged_packets > self.damaged_packets {
            self.damaged_packets = other.damaged_packets;
            self.first_damaged_s = other.first_damaged_s;
        }
    }
}

impl fmt::Display for Repairs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.non_finite > 0 {
            parts.push(format!(
                "{} non-finite sample{} (NaN or infinity) replaced by silence, the first at {:.3} s",
                self.non_finite,
                if self.non_finite == 1 { "" } else { "s" },
                self.first_non_finite_s.unwrap_or(0.0)
            ));
        }
        if self.damaged_packets > 0 {
            parts.push(format!(
                "{} damaged packet{} played as silence, the first at {:.3} s",
                self.damaged_packets,
                if self.damaged_packets == 1 { "" } else { "s" },
                self.first_damaged_s.unwrap_or(0.0)
            ));
        }
        f.write_str(&parts.join("; "))
    }
}

/// The band-limited rate converter and its bookkeeping.
struct Resampling {
    fft: rubato::Fft<f32>,
    /// Input frames per call.
    chunk: usize,
    /// Output frames of the current call, interleaved.
    out: Vec<f32>,
    /// Output frames still to drop (the resampler's startup delay).
    to_trim: usize,
}

impl Resampling {
    fn new(from: u32, to: u32, channels: usize) -> Result<Resampling, String> {
        use rubato::{Fft, FixedSync, Resampler};
        let fft = Fft::<f32>::new(from as usize, to as usize, RESAMPLER_CHUNK, channels, FixedSync::Input)
            .map_err(|e| format!("cannot resample {from} Hz to {to} Hz: {e}"))?;
        let chunk = fft.input_frames_next();
        let out = vec![0.0; fft.output_frames_max() * channels];
        let to_trim = fft.output_delay();
        Ok(Resampling { fft, chunk, out, to_trim })
    }
}

/// A file opened for decoding: what its header says, the format reader, the audio track and its time base.
type Opened = (Probe, Box<dyn FormatReader>, u32, Option<TimeBase>);

/// Opens `path` and reads its header; the format reader and the track are ready to decode.
fn open_reader(path: &Path) -> Result<Opened, ImportError> {
    let fail = |reason: String| ImportError { path: path.to_owned(), reason };
    // A file the web page handed over is read from memory; any other from the disk.
    let (source, len): (Box<dyn MediaSource>, u64) = match crate::page_files::get(path) {
        Some(bytes) => (Box::new(Cursor::new(bytes.clone())), bytes.len() as u64),
        None => {
            let file = File::open(path).map_err(|e| fail(format!("cannot open: {e}")))?;
            let metadata = file.metadata().map_err(|e| fail(format!("cannot read: {e}")))?;
            if metadata.is_dir() {
                return Err(fail("is a folder, not an audio file".into()));
            }
            let len = metadata.len();
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
pub fn probe(path: &Path) -> Result<Probe, ImportError> {
    open_reader(path).map(|(probe, ..)| probe)
}

/// Reads a file's header and fixes its length at `engine_rate`, without decoding the audio.
pub fn stem_info(path: &Path, engine_rate: u32) -> Result<StemInfo, ImportError> {
    let (probe, mut format, track_id, time_base) = open_reader(path)?;
    let source_frames = match probe.frames {
        Some(n) => n,
        None => count_frames(path, &mut *format, track_id, time_base, probe.sample_rate)?,
    };
    if source_frames == 0 {
        return Err(ImportError { path: path.to_owned(), reason: "contains no audio".into() });
    }
    let frames = engine_frames(source_frames, probe.sample_rate, engine_rate)?;
    Ok(StemInfo { path: path.to_owned(), probe, source_frames, engine_rate, frames })
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

fn ticks_to_frames(ticks: u64, time_base: Option<TimeBase>, rate: u32) -> u64 {
    match time_base {
        Some(tb) if !(tb.numer.get() == 1 && tb.denom.get() == rate) => {
            (ticks as u128 * tb.numer.get() as u128 * rate as u128 / tb.denom.get() as u128) as u64
        }
        _ => ticks,
    }
}

fn frames_to_ticks(frames: u64, time_base: Option<TimeBase>, rate: u32) -> u64 {
    match time_base {
        Some(tb) if !(tb.numer.get() == 1 && tb.denom.get() == rate) => {
            (frames as u128 * tb.denom.get() as u128 / (tb.numer.get() as u128 * rate as u128)) as u64
        }
        _ => frames,
    }
}

/// One pass through a stem file, in order, at the engine rate; [`StemDecoder::seek`] starts a pass anywhere.
pub struct StemDecoder {
    info: StemInfo,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    time_base: Option<TimeBase>,
    channels: usize,
    resampling: Option<Resampling>,
    /// Interleaved source samples decoded and not yet converted, from `pending_start`.
    pending: Vec<f32>,
    pending_start: usize,
    /// Source frames taken from the decoder so far in this pass (the next one's index in the file).
    source_position: u64,
    /// Source frames still to drop before the pass begins (a seek lands on a packet boundary).
    skip_source: u64,
    /// The decoder has nothing more (or the declared length is reached).
    input_done: bool,
    /// Engine frames converted and not yet read, from `ready_start`.
    ready: Vec<Frame>,
    ready_start: usize,
    /// Engine frames produced by the converter in this pass, counted from the file's start.
    produced: u64,
    /// Engine frames to drop before the pass begins (the resampler's warm-up after a seek).
    skip_output: u64,
    /// The next frame [`StemDecoder::read`] returns.
    position: u64,
    repairs: Repairs,
    scratch: Vec<f32>,
}

impl StemDecoder {
    /// Opens a file for a pass from its start (`info` from [`stem_info`]).
    pub fn open(info: &StemInfo) -> Result<StemDecoder, ImportError> {
        let path = &info.path;
        let fail = |reason: String| ImportError { path: path.clone(), reason };
        let (probe, format, track_id, time_base) = open_reader(path)?;
        if probe.sample_rate != info.probe.sample_rate || probe.channels != info.probe.channels {
            return Err(fail("the file changed since it was opened".into()));
        }
        let params = format
            .tracks()
            .iter()
            .find(|t| t.id == track_id)
            .and_then(|t| t.codec_params.as_ref())
            .and_then(|p| p.audio())
            .cloned()
            .ok_or_else(|| fail("the audio track disappeared".into()))?;
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(&params, &AudioDecoderOptions::default())
            .map_err(|e| fail(format!("unsupported codec ({e})")))?;
        let channels = probe.channels.max(1);
        let resampling = if probe.sample_rate == info.engine_rate {
            None
        } else {
            Some(Resampling::new(probe.sample_rate, info.engine_rate, channels).map_err(fail)?)
        };
        Ok(StemDecoder {
            info: info.clone(),
            format,
            decoder,
            track_id,
            time_base,
            channels,
            resampling,
            pending: Vec::new(),
            pending_start: 0,
            source_position: 0,
            skip_source: 0,
            input_done: false,
            ready: Vec::new(),
            ready_start: 0,
            produced: 0,
            skip_output: 0,
            position: 0,
            repairs: Repairs::default(),
            scratch: Vec::new(),
        })
    }

    /// What the file holds.
    pub fn info(&self) -> &StemInfo {
        &self.info
    }

    /// What was repaired so far in this pass.
    pub fn repairs(&self) -> &Repairs {
        &self.repairs
    }

    /// The frame the next [`StemDecoder::read`] starts at.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Appends up to `max` frames to `out`; returns how many (0 only at the end of the stem).
    pub fn read(&mut self, out: &mut Vec<Frame>, max: usize) -> Result<usize, ImportError> {
        let mut written = 0;
        while written < max && self.position < self.info.frames {
            if self.ready_start == self.ready.len() {
                self.ready.clear();
                self.ready_start = 0;
                self.convert_more()?;
                if self.ready.is_empty() {
                    // Nothing more can come: the rest of the declared length is silence.
                    let n = ((self.info.frames - self.position) as usize).min(max - written);
                    out.extend(std::iter::repeat_n(Frame::ZERO, n));
                    written += n;
                    self.position += n as u64;
                    continue;
                }
            }
            let available = &self.ready[self.ready_start..];
            let left = (self.info.frames - self.position) as usize;
            let n = available.len().min(max - written).min(left);
            out.extend_from_slice(&available[..n]);
            self.ready_start += n;
            self.position += n as u64;
            written += n;
        }
        Ok(written)
    }

    /// Starts a new pass at engine frame `frame`. Without rate conversion the pass is bit for bit what a pass
    /// from the start yields there; with it, the converter starts a little earlier and settles first.
    pub fn seek(&mut self, frame: u64) -> Result<(), ImportError> {
        let frame = frame.min(self.info.frames);
        let from = self.info.probe.sample_rate as u64;
        let to = self.info.engine_rate as u64;
        // The source frame the pass starts at, and the engine frame that corresponds to it exactly.
        let (source_start, engine_start) = if self.resampling.is_none() {
            (frame, frame)
        } else {
            let g = gcd(from, to);
            let (step_in, step_out) = (from / g, to / g);
            let target = (frame as u128 * from as u128 / to as u128) as u64;
            let start = target.saturating_sub(SEEK_WARMUP_FRAMES) / step_in * step_in;
            (start, start / step_in * step_out)
        };
        if source_start == 0 {
            // From the very start: a fresh decoder, so every lap of a loop is the same as the first.
            let repairs = std::mem::take(&mut self.repairs);
            *self = StemDecoder::open(&self.info)?;
            self.repairs = repairs;
        } else {
            let ts = frames_to_ticks(source_start, self.time_base, from as u32);
            let seeked = self
                .format
                .seek(SeekMode::Accurate, SeekTo::Timestamp { ts: Timestamp::new(ts as i64), track_id: self.track_id });
            match seeked {
                Ok(seeked) => {
                    self.decoder.reset();
                    let actual = ticks_to_frames(seeked.actual_ts.get().max(0) as u64, self.time_base, from as u32);
                    self.source_position = actual.min(source_start);
                    self.skip_source = source_start - self.source_position;
                }
                Err(_) => {
                    // Not seekable: read from the start and drop what comes before.
                    let repairs = std::mem::take(&mut self.repairs);
                    *self = StemDecoder::open(&self.info)?;
                    self.repairs = repairs;
                    self.skip_source = source_start;
                }
            }
            self.pending.clear();
            self.pending_start = 0;
            self.input_done = false;
            if self.resampling.is_some() {
                self.resampling = Some(
                    Resampling::new(from as u32, to as u32, self.channels)
                        .map_err(|reason| ImportError { path: self.info.path.clone(), reason })?,
                );
            }
        }
        self.ready.clear();
        self.ready_start = 0;
        self.produced = engine_start;
        self.skip_output = frame - engine_start;
        self.position = frame;
        Ok(())
    }

    /// Source frames waiting to be converted.
    fn pending_frames(&self) -> usize {
        (self.pending.len() - self.pending_start) / self.channels
    }

    /// Decodes packets until at least `want` source frames wait, or the input ends.
    fn decode_until(&mut self, want: usize) -> Result<(), ImportError> {
        while !self.input_done && self.pending_frames() < want {
            self.decode_packet()?;
        }
        Ok(())
    }

    /// Fills `ready` with the next converted frames (leaves it empty only when nothing more can come).
    fn convert_more(&mut self) -> Result<(), ImportError> {
        loop {
            match self.resampling.as_ref().map(|r| r.chunk) {
                None => {
                    self.decode_until(RESAMPLER_CHUNK)?;
                    let n = self.pending_frames();
                    if n == 0 {
                        return Ok(());
                    }
                    let start = self.pending_start;
                    let end = start + n * self.channels;
                    let channels = self.channels;
                    self.ready.extend(self.pending[start..end].chunks_exact(channels).map(|s| {
                        let l = super::effects::flush(s[0]);
                        Frame::new(l, if channels == 2 { super::effects::flush(s[1]) } else { l })
                    }));
                    self.pending_start = end;
                    self.produced += n as u64;
                }
                Some(chunk) => {
                    // As rubato's own whole-clip conversion: full chunks while more than a chunk is left, then
                    // the last (partial) chunk, then zeros until the clip's full length has come out.
                    self.decode_until(chunk + 1)?;
                    let n = self.pending_frames();
                    let partial = if n > chunk {
                        None
                    } else if n > 0 {
                        Some(n)
                    } else if self.produced < self.info.frames {
                        Some(0)
                    } else {
                        return Ok(());
                    };
                    self.resample_chunk(chunk, partial)?;
                }
            }
            self.compact_pending();
            // Drop what comes before a seek's target.
            let skip = (self.skip_output as usize).min(self.ready.len());
            if skip > 0 {
                self.ready.drain(..skip);
                self.skip_output -= skip as u64;
            }
            if !self.ready.is_empty() {
                return Ok(());
            }
        }
    }

    fn resample_chunk(&mut self, chunk: usize, partial: Option<usize>) -> Result<(), ImportError> {
        use rubato::Indexing;
        use rubato::Resampler;
        use rubato::audioadapter_buffers::direct::InterleavedSlice;
        let channels = self.channels;
        let fail = |e: String| ImportError { path: self.info.path.clone(), reason: e };
        let resampling = self.resampling.as_mut().expect("resampling");
        let taken = partial.unwrap_or(chunk);
        let start = self.pending_start;
        let input = if taken == 0 { &self.scratch[..0] } else { &self.pending[start..start + taken * channels] };
        // The input adapter must hold a whole chunk; a partial one says how much of it is real.
        let padded;
        let input = if taken < chunk {
            padded = {
                let mut v = vec![0.0f32; chunk * channels];
                v[..input.len()].copy_from_slice(input);
                v
            };
            &padded[..]
        } else {
            input
        };
        let frames_out = resampling.out.len() / channels;
        let adapter_in = InterleavedSlice::new(input, channels, chunk).map_err(|e| fail(format!("resampler: {e}")))?;
        let mut adapter_out = InterleavedSlice::new_mut(&mut resampling.out, channels, frames_out)
            .map_err(|e| fail(format!("resampler: {e}")))?;
        let indexing = Indexing { input_offset: 0, output_offset: 0, active_channels_mask: None, partial_len: partial };
        let (_, produced) = resampling
            .fft
            .process_into_buffer(&adapter_in, &mut adapter_out, Some(&indexing))
            .map_err(|e| fail(format!("resampling failed: {e}")))?;
        self.pending_start += taken * channels;
        let trim = resampling.to_trim.min(produced);
        resampling.to_trim -= trim;
        let keep = (produced - trim).min((self.info.frames.saturating_sub(self.produced)) as usize);
        let out = &resampling.out[trim * channels..(trim + keep) * channels];
        self.ready.extend(out.chunks_exact(channels).map(|s| {
            let l = super::effects::flush(s[0]);
            Frame::new(l, if channels == 2 { super::effects::flush(s[1]) } else { l })
        }));
        self.produced += keep as u64;
        Ok(())
    }

    fn compact_pending(&mut self) {
        if self.pending_start > 0 && self.pending_start * 2 >= self.pending.len() {
            self.pending.drain(..self.pending_start);
            self.pending_start = 0;
        }
    }

    /// Decodes one packet into `pending`: non-finite samples become silence, a damaged packet becomes silence
    /// of its length, and the file's declared length is the last frame taken.
    fn decode_packet(&mut self) -> Result<(), ImportError> {
        let rate = self.info.probe.sample_rate;
        let declared = self.info.source_frames;
        let fail = |reason: String| ImportError { path: self.info.path.clone(), reason };
        if self.source_position >= declared {
            self.input_done = true;
            return Ok(());
        }
        let packet = match self.format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => return self.end_of_file(),
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return self.end_of_file();
            }
            Err(e) => {
                return Err(fail(format!("cannot read at {:.2} s: {e}", self.source_position as f64 / rate as f64)));
            }
        };
        if packet.track_id != self.track_id {
            return Ok(());
        }
        let channels = self.channels;
        self.scratch.clear();
        match self.decoder.decode(&packet) {
            Ok(decoded) => {
                let n_channels = decoded.spec().channels().count().max(1);
                if n_channels != channels {
                    return Err(fail(format!("changes from {channels} to {n_channels} channels mid-stream")));
                }
                self.scratch.resize(decoded.samples_interleaved(), 0.0);
                decoded.copy_to_slice_interleaved(&mut self.scratch[..]);
            }
            Err(SymphoniaError::DecodeError(_)) => {
                // A damaged packet: silence for as long as it should have played.
                let frames = ticks_to_frames(packet.dur.get(), self.time_base, rate) as usize;
                self.scratch.resize(frames * channels, 0.0);
                self.repairs.damaged_packets += 1;
                self.repairs.first_damaged_s.get_or_insert(self.source_position as f64 / rate as f64);
            }
            Err(e) => {
                return Err(fail(format!("corrupt audio at {:.2} s: {e}", self.source_position as f64 / rate as f64)));
            }
        }
        let mut frames = self.scratch.len() / channels;
        // A seek lands at or before its target: drop the frames before it.
        let skip = (self.skip_source as usize).min(frames);
        self.skip_source -= skip as u64;
        // Never more than the header declared.
        let room = (declared - (self.source_position + skip as u64)) as usize;
        frames = (frames - skip).min(room);
        let samples = &mut self.scratch[skip * channels..(skip + frames) * channels];
        for (i, s) in samples.iter_mut().enumerate() {
            if !s.is_finite() {
                *s = 0.0;
                self.repairs.non_finite += 1;
                let at = self.source_position + skip as u64 + (i / channels) as u64;
                self.repairs.first_non_finite_s.get_or_insert(at as f64 / rate as f64);
            }
        }
        self.pending.extend_from_slice(samples);
        self.source_position += (skip + frames) as u64;
        if self.source_position >= declared {
            self.input_done = true;
        }
        Ok(())
    }

    /// The file ended: a little short of the declared length is a lossy codec's rounding (silence makes up the
    /// rest); more is a cut-off file.
    fn end_of_file(&mut self) -> Result<(), ImportError> {
        let declared = self.info.source_frames;
        let tolerance = 4096.max(declared / 1000);
        if self.source_position + tolerance < declared {
            let rate = self.info.probe.sample_rate as f64;
            return Err(ImportError {
                path: self.info.path.clone(),
                reason: format!(
                    "truncated: the header declares {:.2} s but the file ends at {:.2} s",
                    declared as f64 / rate,
                    self.source_position as f64 / rate
                ),
            });
        }
        self.input_done = true;
        Ok(())
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}
