//! Helpers: signals made by the tests, scenes written to temporary folders, renders read back and measured.

use std::path::{Path, PathBuf};

use proxemix::commands;
use proxemix::mix::offline::{RenderOptions, WavFormat};

pub const SR: u32 = 48_000;

/// A temporary folder removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("proxemix-test-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Deterministic white noise in [-amp, amp].
pub fn noise(frames: usize, amp: f32, seed: u32) -> Vec<f32> {
    let mut s = seed.max(1);
    (0..frames)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s as f32 / u32::MAX as f32 * 2.0 - 1.0) * amp
        })
        .collect()
}

/// A chord of low sines (nothing the air filter or proximity shelf would touch much).
pub fn low_chord(frames: usize, amp: f32) -> Vec<f32> {
    (0..frames)
        .map(|n| {
            let t = n as f32 / SR as f32;
            let w = std::f32::consts::TAU * t;
            amp * ((w * 220.0).sin() + (w * 330.0).sin() + (w * 550.0).sin()) / 3.0
        })
        .collect()
}

/// Writes mono samples as a 32-bit float WAV.
pub fn write_mono_wav(path: &Path, samples: &[f32]) {
    let spec =
        hound::WavSpec { channels: 1, sample_rate: SR, bits_per_sample: 32, sample_format: hound::SampleFormat::Float };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

/// One stem line of a scene file.
pub fn stem(name: &str, file: &str, pos: (f32, f32, f32), size: f32, gain_db: f32) -> String {
    format!(
        "(name: \"{name}\", file: \"{file}\", position: ({:?}, {:?}, {:?}), size: {size:?}, gain_db: {gain_db:?})",
        pos.0, pos.1, pos.2
    )
}

/// A stem line (from [`stem`]) with a spoil amount.
pub fn spoiled(line: String, amount: f32) -> String {
    format!("{}, spoil: {amount:?})", line.trim_end_matches(')'))
}

/// A scene file with the given stems; `reverb_db` -60 switches the reverb off.
pub fn scene_text(stems: &[String], reverb_db: f32) -> String {
    format!(
        "(version: 1, name: \"test\", room: (size: 12.0, decay_s: 1.2, damping: 0.5, reverb_db: {reverb_db:?}), stems: [{}])",
        stems.join(", ")
    )
}

/// Renders a scene file to a 32-bit float WAV and reads it back as (left, right).
pub fn render(dir: &TempDir, scene: &str, name: &str, seconds: Option<f64>, block: usize) -> (Vec<f32>, Vec<f32>) {
    let scene_path = dir.path(&format!("{name}.ron"));
    std::fs::write(&scene_path, scene).unwrap();
    // Not `{name}.wav`: a scene is often named after its one stem, and a render never writes over an input.
    let out = dir.path(&format!("{name}-render.wav"));
    let options = RenderOptions { sample_rate: SR, seconds, block_frames: block, ..Default::default() };
    commands::render_to_wav(&scene_path, &out, &options, WavFormat::Float32, &Default::default(), &mut |_| {}).unwrap();
    read_stereo(&out)
}

pub fn read_stereo(path: &Path) -> (Vec<f32>, Vec<f32>) {
    let mut r = hound::WavReader::open(path).unwrap();
    assert_eq!(r.spec().channels, 2);
    let s: Vec<f32> = r.samples::<f32>().map(|s| s.unwrap()).collect();
    (s.iter().step_by(2).copied().collect(), s.iter().skip(1).step_by(2).copied().collect())
}

pub fn energy(x: &[f32]) -> f64 {
    x.iter().map(|&v| (v as f64) * (v as f64)).sum()
}

pub fn db(ratio: f64) -> f64 {
    10.0 * ratio.log10()
}

/// Pearson correlation of two channels.
pub fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    let (ma, mb) = (a.iter().map(|&v| v as f64).sum::<f64>() / n, b.iter().map(|&v| v as f64).sum::<f64>() / n);
    let mut sab = 0.0;
    let mut saa = 0.0;
    let mut sbb = 0.0;
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64 - ma, y as f64 - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    sab / (saa * sbb).sqrt()
}

/// Asserts every sample is finite and not subnormal.
pub fn assert_clean(x: &[f32]) {
    for (i, &v) in x.iter().enumerate() {
        assert!(v.is_finite(), "non-finite sample {v} at {i}");
        assert!(!v.is_subnormal(), "subnormal sample {v:e} at {i}");
    }
}

/// Renders a scene text with only some cues on; returns (left, right).
pub fn render_cues(
    dir: &TempDir,
    scene: &str,
    name: &str,
    seconds: f64,
    cues: proxemix::mix::mapping::Cues,
) -> (Vec<f32>, Vec<f32>) {
    let path = dir.path(&format!("{name}.ron"));
    std::fs::write(&path, scene).unwrap();
    let (scene, sources) = commands::load_for_render(&path, SR).unwrap();
    let options = RenderOptions { sample_rate: SR, seconds: Some(seconds), cues, ..Default::default() };
    let x = proxemix::mix::offline::render(&scene, &sources, &options, &mut |_| {}).unwrap().interleaved;
    (x.iter().step_by(2).copied().collect(), x.iter().skip(1).step_by(2).copied().collect())
}

/// Energy of `x` between `lo` and `hi` Hz: the sum of |X[k]|² over those bins of one Hann-windowed FFT.
pub fn band_energy(x: &[f32], lo: f64, hi: f64) -> f64 {
    use rustfft::num_complex::Complex;
    let n = x.len();
    let mut buffer: Vec<Complex<f64>> = x
        .iter()
        .enumerate()
        .map(|(i, &v)| Complex::new(v as f64 * (0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos()), 0.0))
        .collect();
    rustfft::FftPlanner::new().plan_fft_forward(n).process(&mut buffer);
    let bin_hz = SR as f64 / n as f64;
    let (first, last) = ((lo / bin_hz).ceil() as usize, ((hi / bin_hz).floor() as usize).min(n / 2));
    buffer[first..=last].iter().map(|c| c.norm_sqr()).sum()
}
