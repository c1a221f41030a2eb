//! Offline export: a kira backend that renders as fast as the CPU allows, `render(scene)` through the same
//! MixGraph the stage plays, BS.1770 loudness and true peak (ebur128), and WAV files written atomically.

use std::fmt;
use std::path::Path;
use std::sync::Mutex;

use kira::backend::{Backend, Renderer};

use super::graph::{GraphConfig, GraphError, MixGraph, SongEnd};
use super::input::source::StemSource;
use super::mapping::Cues;
use crate::scene::Scene;

/// A backend with no device: the caller pumps the renderer block by block, so time is sample counts only.
pub struct OfflineBackend {
    sample_rate: u32,
    // Renderer is Send but not Sync; the mutex makes the backend Sync (a Bevy resource) at no cost (get_mut).
    renderer: Option<Mutex<Renderer>>,
}

#[derive(Clone, Copy, Debug)]
/// The offline backend's settings.
pub struct OfflineSettings {
    /// The rate it renders at.
    pub sample_rate: u32,
}

impl Default for OfflineSettings {
    fn default() -> Self {
        OfflineSettings { sample_rate: 48_000 }
    }
}

impl Backend for OfflineBackend {
    type Settings = OfflineSettings;
    type Error = std::convert::Infallible;

    fn setup(settings: OfflineSettings, _internal_buffer_size: usize) -> Result<(Self, u32), Self::Error> {
        Ok((OfflineBackend { sample_rate: settings.sample_rate, renderer: None }, settings.sample_rate))
    }

    fn start(&mut self, renderer: Renderer) -> Result<(), Self::Error> {
        self.renderer = Some(Mutex::new(renderer));
        Ok(())
    }
}

impl OfflineBackend {
    /// One "device callback": applies every command sent since the last call, then renders
    /// `out.len() / 2` interleaved stereo frames.
    pub fn render_block(&mut self, out: &mut [f32]) {
        let renderer = self.renderer.as_mut().expect("kira starts the backend in AudioManager::new");
        let renderer = renderer.get_mut().unwrap_or_else(|e| e.into_inner());
        renderer.on_start_processing();
        renderer.process(out, 2);
    }

    /// The rate it renders at.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }
}

/// The mix graph over the offline backend.
pub type OfflineGraph = MixGraph<OfflineBackend>;

impl OfflineGraph {
    /// Builds the graph for offline use at `config.sample_rate`, already at the scene's mapping.
    pub fn offline(scene: &Scene, sources: &[Option<StemSource>], config: GraphConfig) -> Result<Self, GraphError> {
        MixGraph::new(OfflineSettings { sample_rate: config.sample_rate }, scene, sources, config)
    }
}

/// How to render.
#[derive(Clone, Copy, Debug)]
pub struct RenderOptions {
    /// The rate to render at.
    pub sample_rate: u32,
    /// Length; `None` plays the song once and lets the reverb ring out.
    pub seconds: Option<f64>,
    /// Frames per backend call (a device's buffer size); the output does not depend on it.
    pub block_frames: usize,
    /// Target integrated loudness (LUFS), reached by the master gain before the limiter.
    pub normalize_lufs: Option<f64>,
    /// Which cues are mapped (cue isolation renders some of them off).
    pub cues: Cues,
    /// Threads for the stems' chains; the output is bit-identical whatever the number.
    pub jobs: usize,
    /// The longest render allowed (seconds): a render planned longer is refused before it starts (a scene of
    /// a few hundred bytes must not fill the disk).
    pub max_seconds: f64,
}

/// The longest render by default: one hour (`render --max-minutes` raises it).
pub const MAX_RENDER_S: f64 = 3600.0;

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            sample_rate: 48_000,
            seconds: None,
            block_frames: 512,
            normalize_lufs: None,
            cues: Cues::ALL,
            jobs: 1,
            max_seconds: MAX_RENDER_S,
        }
    }
}

/// BS.1770 measurements of a render.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Loudness {
    /// Integrated loudness (LUFS); −∞ for silence.
    pub integrated_lufs: f64,
    /// Loudness range (LU).
    pub loudness_range_lu: f64,
    /// Highest true peak over both channels (dBTP).
    pub true_peak_dbtp: f64,
    /// Highest sample over both channels (dBFS).
    pub sample_peak_dbfs: f64,
}

impl fmt::Display for Loudness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.integrated_lufs.is_finite() {
            write!(f, "{:.1} LUFS integrated", self.integrated_lufs)?;
        } else {
            write!(f, "silent")?;
        }
        if self.true_peak_dbtp > -200.0 {
            write!(f, ", true peak {:.2} dBTP", self.true_peak_dbtp)?;
        } else {
            write!(f, ", true peak -inf dBTP")?;
        }
        write!(f, ", LRA {:.1} LU", self.loudness_range_lu)
    }
}

/// Measures interleaved stereo audio.
pub fn measure(interleaved: &[f32], sample_rate: u32) -> Loudness {
    let mut meter = Meter::new(sample_rate);
    meter.add(interleaved);
    meter.finish()
}

/// BS.1770 loudness, range and true peak of audio that arrives block by block.
pub struct Meter {
    meter: ebur128::EbuR128,
}

impl Meter {
    /// A meter for stereo at `sample_rate`.
    pub fn new(sample_rate: u32) -> Meter {
        use ebur128::{EbuR128, Mode};
        let meter = EbuR128::new(2, sample_rate, Mode::I | Mode::LRA | Mode::TRUE_PEAK | Mode::SAMPLE_PEAK)
            .expect("2 channels at a validated rate");
        Meter { meter }
    }

    /// Measures more interleaved stereo.
    pub fn add(&mut self, interleaved: &[f32]) {
        // Feed in pieces: ebur128 allocates per call in proportion to the call's size.
        for part in interleaved.chunks(2 * 65_536) {
            self.meter.add_frames_f32(part).expect("whole stereo frames");
        }
    }

    /// What was measured so far.
    pub fn finish(&self) -> Loudness {
        let meter = &self.meter;
        let db = |x: f64| 20.0 * x.max(1e-12).log10();
        let tp = (0..2).map(|c| meter.true_peak(c).unwrap_or(0.0)).fold(0.0, f64::max);
        let sp = (0..2).map(|c| meter.sample_peak(c).unwrap_or(0.0)).fold(0.0, f64::max);
        Loudness {
            integrated_lufs: meter.loudness_global().unwrap_or(f64::NEG_INFINITY),
            loudness_range_lu: meter.loudness_range().unwrap_or(0.0),
            true_peak_dbtp: db(tp),
            sample_peak_dbfs: db(sp),
        }
    }
}

/// A finished render: interleaved stereo at `sample_rate` (empty when it went straight to a file).
#[derive(Clone, Debug)]
pub struct Rendered {
    /// The rate it was rendered at.
    pub sample_rate: u32,
    /// Length in frames.
    pub frames: usize,
    /// The samples, interleaved stereo (empty when they went straight to a file).
    pub interleaved: Vec<f32>,
    /// BS.1770 loudness and true peak.
    pub loudness: Loudness,
    /// Master gain applied to reach `normalize_lufs` (dB), if asked.
    pub normalize_gain_db: Option<f64>,
    /// What had to be repaired in the stems' files to play them ("stem \"x\": file: 2 non-finite samples ...").
    pub repairs: Vec<String>,
}

impl Rendered {
    /// A render held in memory.
    pub fn from_samples(sample_rate: u32, interleaved: Vec<f32>) -> Rendered {
        let loudness = measure(&interleaved, sample_rate);
        Rendered {
            sample_rate,
            frames: interleaved.len() / 2,
            interleaved,
            loudness,
            normalize_gain_db: None,
            repairs: Vec::new(),
        }
    }

    /// Length in frames.
    pub fn frames(&self) -> usize {
        self.frames
    }
    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        self.frames() as f64 / self.sample_rate as f64
    }
}

/// How long the reverb rings after the music stops: its RT60, capped, and a little for the limiter.
pub fn tail_seconds(scene: &Scene) -> f64 {
    let reverb_off = scene.room.reverb_db <= crate::scene::limits::REVERB_DB.0;
    if reverb_off { 0.1 } else { (scene.room.decay_s as f64).min(10.0) + 0.1 }
}

/// Where a render's output goes, block by block (interleaved stereo).
pub type Sink<'a> = &'a mut dyn FnMut(&[f32]) -> Result<(), GraphError>;

/// Renders `scene` with its stems into memory, reporting progress (0..1) as it goes.
pub fn render(
    scene: &Scene,
    sources: &[Option<StemSource>],
    options: &RenderOptions,
    progress: &mut dyn FnMut(f64),
) -> Result<Rendered, GraphError> {
    let mut interleaved = Vec::new();
    let mut keep = |block: &[f32]| {
        interleaved.extend_from_slice(block);
        Ok(())
    };
    let mut rendered = render_into(scene, sources, options, &mut keep, progress)?;
    rendered.interleaved = interleaved;
    Ok(rendered)
}

/// Renders `scene` into `sink` as it goes, so memory stays flat whatever the song's length; the returned
/// [`Rendered`] has the measurements and no samples.
pub fn render_into(
    scene: &Scene,
    sources: &[Option<StemSource>],
    options: &RenderOptions,
    sink: Sink,
    progress: &mut dyn FnMut(f64),
) -> Result<Rendered, GraphError> {
    let sr = options.sample_rate;
    let (config, total_frames) = plan(scene, sources, options)?;
    let pass = |scene: &Scene, sink: Option<Sink>, progress: &mut dyn FnMut(f64)| {
        render_pass(scene, sources, config, total_frames, options.block_frames, sink, progress)
    };
    let Some(target) = options.normalize_lufs else {
        let (loudness, repairs) = pass(scene, Some(sink), progress)?;
        return Ok(Rendered {
            sample_rate: sr,
            frames: total_frames,
            interleaved: Vec::new(),
            loudness,
            normalize_gain_db: None,
            repairs,
        });
    };
    // Normalising: measure once, set the master gain (before the limiter, so the ceiling still holds), render
    // again. The second pass is what is written, and it is measured afresh.
    let mut half = |p: f64| progress(0.5 * p);
    let (first, _) = pass(scene, None, &mut half)?;
    let mut adjusted = scene.clone();
    let gain_db = if first.integrated_lufs.is_finite() { target - first.integrated_lufs } else { 0.0 };
    let lo_hi = crate::scene::limits::GAIN_DB;
    adjusted.master_gain_db = (scene.master_gain_db as f64 + gain_db).clamp(lo_hi.0 as f64, lo_hi.1 as f64) as f32;
    let mut second_half = |p: f64| progress(0.5 + 0.5 * p);
    let (loudness, repairs) = pass(&adjusted, Some(sink), &mut second_half)?;
    Ok(Rendered {
        sample_rate: sr,
        frames: total_frames,
        interleaved: Vec::new(),
        loudness,
        normalize_gain_db: Some((adjusted.master_gain_db - scene.master_gain_db) as f64),
        repairs,
    })
}

/// The length in frames of a render of `scene` with `options` (the song and its reverb tail, or to the end of
/// the last section or keyframe if the timeline goes on longer, or the length asked for); longer than
/// `options.max_seconds` is refused, saying by how much.
pub fn planned_frames(
    scene: &Scene,
    sources: &[Option<StemSource>],
    options: &RenderOptions,
) -> Result<usize, GraphError> {
    let sr = options.sample_rate;
    let tail_s = tail_seconds(scene);
    // The limit is the song's: the reverb's tail may ring out past it.
    let (frames, allowed_s) = match options.seconds {
        Some(s) => ((s.max(0.0) * sr as f64).round(), options.max_seconds),
        // What happens after the song ends is part of a staging too (the banter, the applause).
        None => {
            let end = SongEnd::of(scene, sources, sr);
            (end.render_frames((tail_s * sr as f64).round() as u64) as f64, options.max_seconds + tail_s)
        }
    };
    let seconds = frames / sr as f64;
    // (NaN is past every limit too.)
    if seconds.is_nan() || seconds > allowed_s {
        return Err(GraphError::Output(format!(
            "the render would be {} long, past the limit of {} (raise it with --max-minutes)",
            clock(seconds),
            clock(options.max_seconds)
        )));
    }
    Ok(frames as usize)
}

/// `h:mm:ss` (or `m:ss`).
fn clock(seconds: f64) -> String {
    let s = seconds.round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// The graph's settings and the length in frames of a render of `scene` with `options` ([`planned_frames`]).
fn plan(
    scene: &Scene,
    sources: &[Option<StemSource>],
    options: &RenderOptions,
) -> Result<(GraphConfig, usize), GraphError> {
    let sr = options.sample_rate;
    let song = SongEnd::of(scene, sources, sr).stems as usize;
    let total_frames = planned_frames(scene, sources, options)?;
    let looping = options.seconds.is_some_and(|_| total_frames > song && song > 0);
    let config = GraphConfig {
        sample_rate: sr,
        looping,
        output_tap: false,
        cues: options.cues,
        live: false,
        jobs: options.jobs.max(1),
    };
    Ok((config, total_frames))
}

/// Renders `scene` straight into a WAV file (through a temporary file and a rename).
pub fn render_wav(
    path: &Path,
    scene: &Scene,
    sources: &[Option<StemSource>],
    options: &RenderOptions,
    format: WavFormat,
    progress: &mut dyn FnMut(f64),
) -> Result<Rendered, GraphError> {
    let mut outcome = None;
    let written = crate::files::write_atomically(path, false, |file| {
        let mut wav = WavSink::new(file, options.sample_rate, format)?;
        let mut write = |block: &[f32]| {
            wav.write(block)
                .map_err(|e| GraphError::Output(format!("{}: cannot write the WAV file: {e}", path.display())))
        };
        match render_into(scene, sources, options, &mut write, progress) {
            Ok(rendered) => {
                wav.finish()?;
                outcome = Some(Ok(rendered));
                Ok(())
            }
            Err(e) => {
                outcome = Some(Err(e));
                Err(std::io::Error::other("the render failed"))
            }
        }
    });
    match (outcome, written) {
        (Some(Err(e)), _) => Err(e),
        (_, Err(e)) => Err(GraphError::Output(format!("{}: cannot write the WAV file: {e}", path.display()))),
        (Some(Ok(rendered)), Ok(())) => Ok(rendered),
        (None, Ok(())) => Err(GraphError::Output("nothing was rendered".into())),
    }
}

/// How often (in output frames) a render checks that its streamed stems are still readable.
const STREAM_CHECK_FRAMES: usize = 1 << 15;

fn render_pass(
    scene: &Scene,
    sources: &[Option<StemSource>],
    config: GraphConfig,
    total_frames: usize,
    block_frames: usize,
    sink: Option<Sink>,
    progress: &mut dyn FnMut(f64),
) -> Result<(Loudness, Vec<String>), GraphError> {
    let mut pass = RenderPass::new(scene, sources, config, total_frames, block_frames)?;
    pass.step(usize::MAX, sink, progress)?;
    Ok(pass.finish())
}

/// One pass of a render, block by block: the same samples whether it runs to its end at once (a thread of
/// its own on the desktop) or a slice at a time (the browser, where nothing may hold the page's one thread for
/// long).
pub struct RenderPass {
    graph: OfflineGraph,
    /// Each stem's name and file, to name a stem that fails.
    stems: Vec<(String, String)>,
    sample_rate: u32,
    block: usize,
    /// The spoil macros' constant delay, rendered and dropped from the front.
    latency: usize,
    rendered_frames: usize,
    meter: Meter,
    out: Vec<f32>,
    done: usize,
    last_report: usize,
    last_check: usize,
}

impl RenderPass {
    fn new(
        scene: &Scene,
        sources: &[Option<StemSource>],
        config: GraphConfig,
        total_frames: usize,
        block_frames: usize,
    ) -> Result<RenderPass, GraphError> {
        // The graph plays the timeline itself, stepping it in song time on the audio side: any block size
        // renders the same samples.
        let mut graph = OfflineGraph::offline(scene, sources, config)?;
        graph.start();
        let block = block_frames.max(1);
        // Render the spoil macros' constant delay more and drop it from the front, so that a scene renders to
        // the same samples whatever its spoil amounts (and at spoil 0 exactly as before spoil existed).
        let latency = graph.latency_frames();
        Ok(RenderPass {
            graph,
            stems: scene.stems.iter().map(|s| (s.name.clone(), s.file.clone())).collect(),
            sample_rate: config.sample_rate,
            block,
            latency,
            rendered_frames: total_frames + latency,
            meter: Meter::new(config.sample_rate),
            out: vec![0.0f32; 2 * block],
            done: 0,
            last_report: 0,
            last_check: 0,
        })
    }

    /// A render of `scene` as [`render`] makes it (one pass: `options.normalize_lufs` is not applied), to be
    /// stepped by the caller.
    pub fn start(
        scene: &Scene,
        sources: &[Option<StemSource>],
        options: &RenderOptions,
    ) -> Result<RenderPass, GraphError> {
        let (config, total_frames) = plan(scene, sources, options)?;
        RenderPass::new(scene, sources, config, total_frames, options.block_frames)
    }

    /// Renders at least `max_frames` more (whole blocks) into `sink`, or to the end; true once the pass is
    /// complete.
    pub fn step(
        &mut self,
        max_frames: usize,
        mut sink: Option<Sink>,
        progress: &mut dyn FnMut(f64),
    ) -> Result<bool, GraphError> {
        let stop_at = self.done.saturating_add(max_frames.max(1)).min(self.rendered_frames);
        while self.done < stop_at {
            let n = self.block.min(self.rendered_frames - self.done);
            let buf = &mut self.out[..2 * n];
            // A panic anywhere in the mix ends the render with the stem it came from named, never a hang or a
            // crash of the program.
            let graph = &mut self.graph;
            if let Err(payload) =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| graph.backend_mut().render_block(buf)))
            {
                return Err(GraphError::Stem(self.crash_report(payload.as_ref())));
            }
            // The first `latency` frames are the macros' delay: dropped.
            let skip = self.latency.saturating_sub(self.done).min(n);
            let heard_part = &buf[2 * skip..];
            if !heard_part.is_empty() {
                self.meter.add(heard_part);
                if let Some(sink) = sink.as_mut() {
                    sink(heard_part)?;
                }
            }
            self.done += n;
            if self.done - self.last_check >= STREAM_CHECK_FRAMES || self.done == self.rendered_frames {
                self.last_check = self.done;
                if let Some(problem) = self.stream_problem() {
                    return Err(GraphError::Stem(problem));
                }
            }
            if self.done - self.last_report >= self.sample_rate as usize || self.done == self.rendered_frames {
                progress(self.progress());
                self.last_report = self.done;
            }
        }
        Ok(self.done >= self.rendered_frames)
    }

    /// How far the pass is (0..1).
    pub fn progress(&self) -> f64 {
        self.done as f64 / self.rendered_frames.max(1) as f64
    }

    /// The rate it renders at.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The pass's loudness, and what had to be repaired in the stems' files to play them.
    pub fn finish(self) -> (Loudness, Vec<String>) {
        let repairs = self
            .graph
            .stems()
            .iter()
            .zip(&self.stems)
            .filter_map(|(voice, (name, file))| {
                let health = voice.health()?;
                health.repairs.any().then(|| format!("stem \"{name}\" ({file}): {}", health.repairs))
            })
            .collect();
        (self.meter.finish(), repairs)
    }

    /// What a panic in the mix was, naming the stem it came from where it is known.
    fn crash_report(&self, payload: &(dyn std::any::Any + Send)) -> String {
        match payload.downcast_ref::<crate::mix::engine::StemCrashed>() {
            Some(crash) => {
                let (name, file) = self.stems.get(crash.index).map_or(("?", "?"), |(n, f)| (n.as_str(), f.as_str()));
                format!("stem \"{name}\" ({file}): crashed while mixing ({})", crash.message)
            }
            None => format!("the mix crashed ({})", crate::mix::input::error::panic_message(payload)),
        }
    }

    /// The first streamed stem that could not be read to the end, named.
    fn stream_problem(&self) -> Option<String> {
        self.graph.stems().iter().zip(&self.stems).find_map(|(voice, (name, _))| {
            let problem = voice.health()?.problem?;
            Some(format!("stem \"{name}\": {problem}"))
        })
    }
}

/// Sample formats for WAV export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WavFormat {
    /// 16-bit integer with TPDF dither.
    Int16,
    /// 24-bit integer.
    Int24,
    /// 32-bit float.
    Float32,
}

/// Writes a render held in memory as a WAV file via a temporary file and a rename, so a failed export never
/// leaves a broken file under the final name and never replaces a good one.
pub fn write_wav(path: &Path, rendered: &Rendered, format: WavFormat) -> std::io::Result<()> {
    crate::files::write_atomically(path, false, |file| {
        let mut wav = WavSink::new(file, rendered.sample_rate, format)?;
        wav.write(&rendered.interleaved)?;
        wav.finish()
    })
}

/// A render held in memory as the bytes of a WAV file (the browser's download), exactly as [`write_wav`]
/// writes it.
pub fn wav_bytes(rendered: &Rendered, format: WavFormat) -> std::io::Result<Vec<u8>> {
    let mut bytes = std::io::Cursor::new(Vec::with_capacity(44 + rendered.interleaved.len() * 4));
    let mut wav = WavSink::new(&mut bytes, rendered.sample_rate, format)?;
    wav.write(&rendered.interleaved)?;
    wav.finish()?;
    Ok(bytes.into_inner())
}

/// A WAV file being written block by block, dithered (TPDF, from a fixed seed) when it is 16-bit.
pub struct WavSink<W: std::io::Write + std::io::Seek> {
    writer: hound::WavWriter<W>,
    format: WavFormat,
    dither: rand_pcg::Pcg64Mcg,
    /// Sample bytes written so far (a WAV's lengths are 32-bit: past [`MAX_WAV_DATA_BYTES`] it cannot say
    /// how long it is).
    data_bytes: u64,
}

/// The most sample bytes a WAV file holds: its lengths are 32-bit, less room for the header's chunks.
pub const MAX_WAV_DATA_BYTES: u64 = u32::MAX as u64 - 4096;

impl WavFormat {
    /// Bytes per sample.
    pub fn bytes_per_sample(self) -> u64 {
        match self {
            WavFormat::Int16 => 2,
            WavFormat::Int24 => 3,
            WavFormat::Float32 => 4,
        }
    }

    /// Bytes of a stereo WAV file of `frames` frames, header included (near enough to check free space).
    pub fn file_bytes(self, frames: u64) -> u64 {
        frames.saturating_mul(2 * self.bytes_per_sample()).saturating_add(128)
    }
}

impl<W: std::io::Write + std::io::Seek> WavSink<W> {
    /// A WAV writer into `file` (a file, or memory in the browser) at `sample_rate` in `format`.
    pub fn new(file: W, sample_rate: u32, format: WavFormat) -> std::io::Result<WavSink<W>> {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate,
            bits_per_sample: match format {
                WavFormat::Int16 => 16,
                WavFormat::Int24 => 24,
                WavFormat::Float32 => 32,
            },
            sample_format: match format {
                WavFormat::Float32 => hound::SampleFormat::Float,
                _ => hound::SampleFormat::Int,
            },
        };
        let writer = hound::WavWriter::new(file, spec).map_err(to_io)?;
        Ok(WavSink { writer, format, dither: rand::SeedableRng::seed_from_u64(DITHER_SEED), data_bytes: 0 })
    }

    /// Writes interleaved stereo; refuses to go past what a WAV file can hold (it would be written corrupt).
    pub fn write(&mut self, interleaved: &[f32]) -> std::io::Result<()> {
        self.data_bytes += interleaved.len() as u64 * self.format.bytes_per_sample();
        if self.data_bytes > MAX_WAV_DATA_BYTES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                "past the 4 GB a WAV file can hold (a shorter render, a lower rate or fewer bits fits)",
            ));
        }
        let writer = &mut self.writer;
        match self.format {
            WavFormat::Float32 => {
                for &s in interleaved {
                    writer.write_sample(s).map_err(to_io)?;
                }
            }
            WavFormat::Int24 => {
                let scale = 8_388_607.0f64;
                for &s in interleaved {
                    let v = (s as f64 * scale).round().clamp(-scale - 1.0, scale) as i32;
                    writer.write_sample(v).map_err(to_io)?;
                }
            }
            WavFormat::Int16 => {
                // TPDF dither: the sum of two uniform ±½ LSB values, from a fixed seed so exports stay
                // bit-identical.
                let scale = 32_767.0f64;
                for &s in interleaved {
                    use rand::RngExt;
                    let tpdf = self.dither.random::<f64>() - self.dither.random::<f64>();
                    let v = (s as f64 * scale + tpdf).round().clamp(-scale - 1.0, scale) as i16;
                    writer.write_sample(v).map_err(to_io)?;
                }
            }
        }
        Ok(())
    }

    /// Writes the header's lengths.
    pub fn finish(self) -> std::io::Result<()> {
        self.writer.finalize().map_err(to_io)
    }
}

fn to_io(e: hound::Error) -> std::io::Error {
    match e {
        hound::Error::IoError(e) => e,
        other => std::io::Error::other(other.to_string()),
    }
}

/// The dither's seed: the same noise every time, so exports stay bit-identical.
const DITHER_SEED: u64 = 0x9E37_79B9_7F4A_7C15;
