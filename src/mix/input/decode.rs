//! Decoding a stem file in order at the engine rate: symphonia's packets, non-finite samples repaired, rubato's
//! band-limited FFT resampler fed chunk by chunk, and a length fixed by the header before anything is decoded.
//!
//! Whole-file loading ([`super::load::load`]) and streaming ([`super::stream`]) both read through
//! [`StemDecoder`], so a stem sounds bit for bit the same either way.

use kira::Frame;
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatReader, SeekMode, SeekTo};
use symphonia::core::units::{TimeBase, Timestamp};

use super::error::ImportError;
use super::probe::{StemInfo, frames_to_ticks, open_reader, ticks_to_frames};
use super::repair::Repairs;

/// Input frames per resampler call. rubato's FFT resampler adds a delay of about a chunk, trimmed here.
const RESAMPLER_CHUNK: usize = 1024;
/// Source frames decoded before a seek target when resampling, so the filter has settled when the audio
/// that is heard begins (the FFT resampler's memory is shorter than this).
const SEEK_WARMUP_FRAMES: u64 = 8192;

/// The longest exact period (rate ÷ their greatest common divisor, in input or output frames) the FFT converter
/// is built for. Common rates have short ones (44.1 → 48 kHz: 147 → 160); a rate with no factor in common
/// with the engine's (a corrupt header's 767,957 Hz) would size the FFT by the rate itself, so an asynchronous
/// sinc converter, whose size does not depend on the rates, takes those.
const MAX_FFT_PERIOD: u64 = 4096;

/// Whether `from` → `to` converts through the exact FFT converter (else the asynchronous sinc one).
fn exact_period(from: u64, to: u64) -> Option<(u64, u64)> {
    let g = gcd(from, to);
    (from / g <= MAX_FFT_PERIOD && to / g <= MAX_FFT_PERIOD).then_some((from / g, to / g))
}

/// The band-limited rate converter and its bookkeeping.
struct Resampling {
    converter: Box<dyn rubato::Resampler<f32>>,
    /// Input frames per call.
    chunk: usize,
    /// Output frames of the current call, interleaved.
    out: Vec<f32>,
    /// Output frames still to drop (the resampler's startup delay).
    to_trim: usize,
}

impl Resampling {
    fn new(from: u32, to: u32, channels: usize) -> Result<Resampling, String> {
        use rubato::{Async, Fft, FixedAsync, FixedSync, Resampler, SincInterpolationParameters};
        let cannot = |e: rubato::ResamplerConstructionError| format!("cannot resample {from} Hz to {to} Hz: {e}");
        let converter: Box<dyn Resampler<f32>> = if exact_period(from as u64, to as u64).is_some() {
            Box::new(
                Fft::<f32>::new(from as usize, to as usize, RESAMPLER_CHUNK, channels, FixedSync::Input)
                    .map_err(cannot)?,
            )
        } else {
            let ratio = to as f64 / from as f64;
            let sinc = SincInterpolationParameters::default();
            Box::new(
                Async::<f32>::new_sinc(ratio, 1.0, &sinc, RESAMPLER_CHUNK, channels, FixedAsync::Input)
                    .map_err(cannot)?,
            )
        };
        let chunk = converter.input_frames_next();
        let out = vec![0.0; converter.output_frames_max() * channels];
        let to_trim = converter.output_delay();
        Ok(Resampling { converter, chunk, out, to_trim })
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
    /// The tests' way to make a decoder crash (the `dev` feature): set when the file's name is the value of
    /// `PROXEMIX_TEST_DECODER_PANIC`.
    #[cfg(feature = "dev")]
    crash_for_tests: bool,
}

impl StemDecoder {
    /// Opens a file for a pass from its start (`info` from [`stem_info`](super::probe::stem_info)).
    pub fn open(info: &StemInfo) -> Result<StemDecoder, ImportError> {
        let path = &info.path;
        let fail = |reason: String| ImportError { path: path.clone(), reason };
        let (probe, format, track_id, time_base) = open_reader(&info.files, path)?;
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
            #[cfg(feature = "dev")]
            crash_for_tests: std::env::var_os("PROXEMIX_TEST_DECODER_PANIC")
                .is_some_and(|name| path.file_name() == Some(name.as_os_str())),
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
            let target = (frame as u128 * from as u128 / to as u128) as u64;
            match exact_period(from, to) {
                // On a period boundary, so the engine frame that corresponds to it is exact.
                Some((step_in, step_out)) => {
                    let start = target.saturating_sub(SEEK_WARMUP_FRAMES) / step_in * step_in;
                    (start, start / step_in * step_out)
                }
                None => {
                    let start = target.saturating_sub(SEEK_WARMUP_FRAMES);
                    (start, (start as u128 * to as u128 / from as u128) as u64)
                }
            }
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
                        let l = crate::mix::effects::flush(s[0]);
                        Frame::new(l, if channels == 2 { crate::mix::effects::flush(s[1]) } else { l })
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
            .converter
            .process_into_buffer(&adapter_in, &mut adapter_out, Some(&indexing))
            .map_err(|e| fail(format!("resampling failed: {e}")))?;
        self.pending_start += taken * channels;
        let trim = resampling.to_trim.min(produced);
        resampling.to_trim -= trim;
        let keep = (produced - trim).min((self.info.frames.saturating_sub(self.produced)) as usize);
        let out = &resampling.out[trim * channels..(trim + keep) * channels];
        self.ready.extend(out.chunks_exact(channels).map(|s| {
            let l = crate::mix::effects::flush(s[0]);
            Frame::new(l, if channels == 2 { crate::mix::effects::flush(s[1]) } else { l })
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
        #[cfg(feature = "dev")]
        if self.crash_for_tests {
            panic!("a decoder crash the tests asked for (PROXEMIX_TEST_DECODER_PANIC)");
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
        // NaN, infinities and absurd values never reach the resampler (its FFT turns one into a block of NaN,
        // or panics) or the mix.
        let first = self.source_position + skip as u64;
        for (i, s) in samples.iter_mut().enumerate() {
            self.repairs.repair(s, || (first + (i / channels) as u64) as f64 / rate as f64);
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
