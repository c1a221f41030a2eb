//! Drive: asymmetric soft saturation, 2× oversampled through linear-phase half-band filters, dry path delayed to match.
//!
//! The saturator is a clipped Padé approximant of tanh (smooth up to its first derivative, no library call),
//! biased off centre so that it adds even harmonics as well as odd ones, and scaled back to unity slope at
//! rest: a quiet signal passes at its own level and only peaks bend. It runs at twice the sample rate, so the
//! harmonics it makes up to 1.5× Nyquist fall in the half-band filter's stop band instead of folding back
//! into the audible band ([`DriveSettings::oversampled`] = false asks for the folding, on purpose).
//!
//! The half-band filters are linear phase: the wet signal is delayed by exactly [`LATENCY_FRAMES`], and the
//! dry signal that `mix` blends in is taken from the same history at the same delay, so blending never combs.

use super::stage::{MAX_BLOCK, Stage};

/// Length of the half-band filter at 2× (4·12 − 1 taps).
pub const TAPS: usize = 47;
/// Non-zero taps on one polyphase branch (the even-indexed ones; the odd branch is the centre tap alone).
const SIDE: usize = TAPS.div_ceil(2);
/// Delay of up- plus down-sampling, in frames at the base rate: (TAPS − 1) samples at 2×.
pub const LATENCY_FRAMES: usize = (TAPS - 1) / 2;
/// v[2n+1] (the odd 2× sample) is the input delayed by this many base-rate frames.
const UP_CENTRE: usize = (TAPS - 1) / 4;
/// The down-sampler's centre tap reads the odd branch this many base-rate frames back.
const DOWN_CENTRE: usize = UP_CENTRE + 1;
/// Kaiser window β of the half-band design (about 70 dB stop band).
const KAISER_BETA: f64 = 7.0;

/// What the drive does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DriveSettings {
    /// Gain into the saturator (dB); the output is scaled back so that small signals keep their level.
    pub drive_db: f32,
    /// Bias of the curve, 0 (symmetric, odd harmonics only) to 0.5 (strongly asymmetric, even ones too).
    pub asymmetry: f32,
    /// Share of the saturated signal, 0 (dry) to 1.
    pub mix: f32,
    /// Saturate at twice the rate (no aliasing); false saturates at the base rate and lets it alias.
    pub oversampled: bool,
}

impl DriveSettings {
    /// No drive at all: the dry signal, delayed.
    pub const CLEAN: DriveSettings = DriveSettings { drive_db: 0.0, asymmetry: 0.0, mix: 0.0, oversampled: true };
}

/// tanh-like soft clip: x(27 + x²)/(27 + 9x²), flat beyond ±3 (where the curve reaches ±1 with zero slope).
#[inline(always)]
pub fn soft_clip(x: f32) -> f32 {
    let x = x.clamp(-3.0, 3.0);
    let x2 = x * x;
    x * (27.0 + x2) / (27.0 + 9.0 * x2)
}

/// Slope of [`soft_clip`] at `x`.
fn soft_clip_slope(x: f32) -> f32 {
    if x.abs() >= 3.0 {
        return 0.0;
    }
    let x2 = x * x;
    let d = 27.0 + 9.0 * x2;
    ((27.0 + 3.0 * x2) * d - 18.0 * x2 * (27.0 + x2)) / (d * d)
}

#[derive(Clone, Copy, Debug)]
struct Curve {
    gain: f32,
    bias: f32,
    offset: f32,
    norm: f32,
    mix: f32,
}

impl Curve {
    fn new(s: &DriveSettings) -> Curve {
        let gain = 10f32.powf(s.drive_db.clamp(0.0, 40.0) / 20.0);
        let bias = s.asymmetry.clamp(0.0, 0.5);
        Curve {
            gain,
            bias,
            offset: soft_clip(bias),
            norm: 1.0 / (gain * soft_clip_slope(bias)),
            mix: s.mix.clamp(0.0, 1.0),
        }
    }

    #[inline(always)]
    fn shape(&self, x: f32) -> f32 {
        (soft_clip(self.gain * x + self.bias) - self.offset) * self.norm
    }
}

/// Frames the histories slide through before they are copied back to the front (copying a few dozen floats
/// after every control period cost more than the filters' arithmetic).
const SPAN: usize = 8 * MAX_BLOCK;

/// One channel's histories: the input (base rate) and the saturated even and odd 2× branches. From `pos` on,
/// each holds the previous frames the filters reach back to, then the block being processed.
#[derive(Clone, Debug)]
struct Channel {
    x: Vec<f32>,
    even: Vec<f32>,
    odd: Vec<f32>,
    pos: usize,
}

impl Channel {
    fn new() -> Channel {
        Channel {
            x: vec![0.0; SIDE - 1 + SPAN],
            even: vec![0.0; SIDE - 1 + SPAN],
            odd: vec![0.0; DOWN_CENTRE + SPAN],
            pos: 0,
        }
    }

    /// Moves the histories on by `n` frames (copying them back to the front only when the span is used up).
    fn advance(&mut self, n: usize) {
        self.pos += n;
        if self.pos + MAX_BLOCK > SPAN {
            let p = self.pos;
            self.x.copy_within(p..p + SIDE - 1, 0);
            self.even.copy_within(p..p + SIDE - 1, 0);
            self.odd.copy_within(p..p + DOWN_CENTRE, 0);
            self.pos = 0;
        }
    }
}

/// The drive stage (see the module documentation).
#[derive(Clone, Debug)]
pub struct Drive {
    /// h[2j], j = 0..SIDE: the half-band's non-zero side taps, newest first (symmetric).
    side: [f32; SIDE],
    curve: Curve,
    oversampled: bool,
    channels: [Channel; 2],
    /// Block scratch: the up-sampled even branch before saturation, and the down-sampled output.
    up: Vec<f32>,
    down: Vec<f32>,
}

/// The half-band low-pass at 2×: a Kaiser-windowed sinc with its cut-off at the base rate's Nyquist. Every
/// other tap is zero except the centre (0.5); the even-indexed taps are normalised to sum to 0.5 so that
/// both up- and down-sampling have unity gain at DC.
pub fn half_band_side_taps() -> [f32; SIDE] {
    fn bessel_i0(x: f64) -> f64 {
        let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
        while term > 1e-12 * sum {
            term *= (x / (2.0 * k)) * (x / (2.0 * k));
            sum += term;
            k += 1.0;
        }
        sum
    }
    let centre = (TAPS - 1) as f64 / 2.0;
    let mut side = [0.0f64; SIDE];
    for (j, tap) in side.iter_mut().enumerate() {
        let k = (2 * j) as f64;
        let t = (k - centre) / 2.0;
        let sinc = (std::f64::consts::PI * t).sin() / (std::f64::consts::PI * t);
        let r = (k - centre) / centre;
        let window = bessel_i0(KAISER_BETA * (1.0 - r * r).max(0.0).sqrt()) / bessel_i0(KAISER_BETA);
        *tap = 0.5 * sinc * window;
    }
    let sum: f64 = side.iter().sum();
    side.map(|t| (t * 0.5 / sum) as f32)
}

impl Drive {
    fn process_channel(&mut self, c: usize, block: &mut [f32]) {
        let n = block.len();
        let (side, curve, oversampled) = (self.side, self.curve, self.oversampled);
        let ch = &mut self.channels[c];
        let (up, down) = (&mut self.up[..n], &mut self.down[..n]);
        let p = ch.pos;
        let (x, even, odd) = (&mut ch.x[p..], &mut ch.even[p..], &mut ch.odd[p..]);
        // The input always goes into the history: it is the dry path, current the moment the drive switches on.
        x[SIDE - 1..SIDE - 1 + n].copy_from_slice(block);
        if curve.mix == 0.0 {
            // Dry only: the input delayed by the filters' latency (x[SIDE−1+i−LATENCY] = x[i]).
            block.copy_from_slice(&x[..n]);
            ch.advance(n);
            return;
        }
        if oversampled {
            // Each filter runs tap by tap over the whole block (a vector loop per tap), pairing the symmetric
            // taps: no running sum to serialise on, half the multiplies.
            up.fill(0.0);
            half_band_block(&side, x, up);
            for (e, v) in even[SIDE - 1..SIDE - 1 + n].iter_mut().zip(up.iter()) {
                // The taps sum to ½ per branch; zero-stuffing needs ×2.
                *e = curve.shape(2.0 * v);
            }
            let centre = &x[SIDE - 1 - UP_CENTRE..SIDE - 1 - UP_CENTRE + n];
            for (o, v) in odd[DOWN_CENTRE..DOWN_CENTRE + n].iter_mut().zip(centre) {
                *o = curve.shape(*v);
            }
            down.fill(0.0);
            half_band_block(&side, even, down);
            let (odd, dry) = (&odd[..n], &x[..n]);
            for (((out, z), odd), dry) in block.iter_mut().zip(down.iter()).zip(odd).zip(dry) {
                let z = z + 0.5 * odd;
                *out = dry + curve.mix * (z - dry);
            }
        } else {
            for (out, dry) in block.iter_mut().zip(&x[..n]) {
                *out = dry + curve.mix * (curve.shape(*dry) - dry);
            }
        }
        ch.advance(n);
    }

    /// Forgets the saturated histories (the input history stays: it is the dry path).
    /// Refills the input history from `input(age)` (0 = the latest frame), as if the drive had run all along.
    pub fn prime(&mut self, input: impl Fn(usize) -> [f32; 2]) {
        for (c, ch) in self.channels.iter_mut().enumerate() {
            ch.pos = 0;
            for j in 0..SIDE - 1 {
                ch.x[j] = input(SIDE - 2 - j)[c];
            }
        }
    }

    /// Forgets the oversampled (wet) history, keeping the input's.
    pub fn clear_wet(&mut self) {
        for ch in &mut self.channels {
            ch.even.iter_mut().for_each(|v| *v = 0.0);
            ch.odd.iter_mut().for_each(|v| *v = 0.0);
        }
    }
}

/// `out[i] = Σ_j side[j]·history[SIDE − 1 + i − j]`: one polyphase branch of the half-band filter over a
/// block, where `history` holds the SIDE − 1 frames before the block, then the block.
#[inline(always)]
fn half_band_block(side: &[f32; SIDE], history: &[f32], out: &mut [f32]) {
    let n = out.len();
    for j in 0..SIDE / 2 {
        // side[j] = side[SIDE − 1 − j]: the newer tap reads history[SIDE−1−j+i], its mirror history[j+i].
        let h = side[j];
        let (newer, older) = (&history[SIDE - 1 - j..SIDE - 1 - j + n], &history[j..j + n]);
        for ((o, a), b) in out.iter_mut().zip(newer).zip(older) {
            *o += h * (a + b);
        }
    }
}

impl Stage for Drive {
    type Settings = DriveSettings;

    fn new(_sample_rate: f32, settings: &DriveSettings) -> Drive {
        Drive {
            side: half_band_side_taps(),
            curve: Curve::new(settings),
            oversampled: settings.oversampled,
            channels: [Channel::new(), Channel::new()],
            up: vec![0.0; MAX_BLOCK],
            down: vec![0.0; MAX_BLOCK],
        }
    }

    fn set(&mut self, settings: &DriveSettings) {
        if settings.oversampled != self.oversampled {
            self.clear_wet();
        }
        self.curve = Curve::new(settings);
        self.oversampled = settings.oversampled;
    }

    fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        self.process_channel(0, left);
        self.process_channel(1, right);
    }

    fn reset(&mut self) {
        for ch in &mut self.channels {
            *ch = Channel::new();
        }
    }

    fn latency_frames(&self) -> usize {
        LATENCY_FRAMES
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{power_spectrum, process_mono, sine};
    use super::*;

    fn drive(settings: DriveSettings) -> Drive {
        Drive::new(48_000.0, &settings)
    }

    /// Power of `x` at `cycles` (a whole number) per `x.len()` samples: one bin of its FFT.
    fn bin_power(x: &[f32], cycles: f64) -> f64 {
        let spectrum = power_spectrum(&x.iter().map(|&v| v as f64).collect::<Vec<_>>());
        spectrum[cycles as usize] / (x.len() as f64 * x.len() as f64)
    }

    #[test]
    fn the_half_band_filter_is_flat_in_band_and_closed_above() {
        let side = half_band_side_taps();
        let response = |f: f64| {
            // Frequency response at 2× rate of the full filter (side taps at even indices, 0.5 at the centre).
            let centre = (TAPS - 1) as f64 / 2.0;
            let (mut re, mut im) = (0.0, 0.0);
            for (j, &h) in side.iter().enumerate() {
                let w = std::f64::consts::TAU * f * (2 * j) as f64;
                re += h as f64 * w.cos();
                im -= h as f64 * w.sin();
            }
            let w = std::f64::consts::TAU * f * centre;
            re += 0.5 * w.cos();
            im -= 0.5 * w.sin();
            (re * re + im * im).sqrt()
        };
        // f in cycles per 2× sample: 0.25 is the base-rate Nyquist (24 kHz at 48 kHz).
        for f in [0.0, 0.05, 0.1, 0.17] {
            let g = response(f);
            assert!((g - 1.0).abs() < 0.01, "pass band at {f}: {g}");
        }
        for f in [0.33, 0.4, 0.5] {
            let g = 20.0 * response(f).log10();
            assert!(g < -60.0, "stop band at {f}: {g} dB");
        }
    }

    #[test]
    fn a_quiet_signal_passes_at_its_level_delayed_by_the_latency() {
        let mut d = drive(DriveSettings { drive_db: 12.0, asymmetry: 0.2, mix: 1.0, oversampled: true });
        let x = sine(1000.0, 0.001, 4800);
        let y = process_mono(&mut d, &x);
        for n in 200..4800 {
            assert!((y[n] - x[n - LATENCY_FRAMES]).abs() < 2e-5, "at {n}: {} vs {}", y[n], x[n - LATENCY_FRAMES]);
        }
    }

    #[test]
    fn dry_and_wet_stay_phase_aligned_at_half_mix() {
        // In the linear region the wet path equals the delayed dry in band, so a half mix does not comb.
        let mut d = drive(DriveSettings { drive_db: 0.0, asymmetry: 0.0, mix: 0.5, oversampled: true });
        let x = sine(15_000.0, 0.01, 4800);
        let y = process_mono(&mut d, &x);
        let residue: f32 = (200..4800).map(|n| (y[n] - x[n - LATENCY_FRAMES]).abs()).fold(0.0, f32::max);
        assert!(residue < 0.01 * 0.01, "residue {residue}");
    }

    #[test]
    fn more_drive_means_more_harmonics_and_asymmetry_adds_even_ones() {
        // 1 kHz = 48 cycles in 2304 samples at 48 kHz.
        let thd = |settings: DriveSettings| {
            let mut d = drive(settings);
            let x = sine(1000.0, 0.5, 4800);
            let y = &process_mono(&mut d, &x)[2400..2400 + 2304];
            let fundamental = bin_power(y, 48.0);
            let h2 = bin_power(y, 96.0);
            let odd: f64 = [3.0, 5.0, 7.0].iter().map(|h| bin_power(y, 48.0 * h)).sum();
            ((h2 + odd) / fundamental, h2 / fundamental)
        };
        let s = |drive_db, asymmetry| DriveSettings { drive_db, asymmetry, mix: 1.0, oversampled: true };
        let (low, _) = thd(s(3.0, 0.0));
        let (mid, mid_even) = thd(s(9.0, 0.0));
        let (high, high_even) = thd(s(18.0, 0.3));
        assert!(low < mid && mid < high, "{low} {mid} {high}");
        assert!(mid_even < 1e-8, "symmetric curve made even harmonics: {mid_even}");
        assert!(high_even > 1e-4, "asymmetric curve made no even harmonics: {high_even}");
    }

    /// Energy away from the harmonics of `f0` (aliases) below 18 kHz, relative to the total, in dB: a
    /// Blackman-Harris-windowed DFT (side lobes −92 dB) with ±8 bins around each harmonic left out.
    fn alias_db(y: &[f32], f0: f64) -> f64 {
        let n = y.len();
        let w: Vec<f32> = y
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let t = std::f64::consts::TAU * i as f64 / n as f64;
                let w = 0.35875 - 0.48829 * t.cos() + 0.14128 * (2.0 * t).cos() - 0.01168 * (3.0 * t).cos();
                v * w as f32
            })
            .collect();
        let bin_hz = 48_000.0 / n as f64;
        let (mut total, mut alias) = (0.0, 0.0);
        for k in 1..(18_000.0 / bin_hz) as usize {
            let p = bin_power(&w, k as f64);
            total += p;
            let f = k as f64 * bin_hz;
            let h = (f / f0).round();
            if (f - h * f0).abs() > 8.0 * bin_hz {
                alias += p;
            }
        }
        10.0 * (alias / total).log10()
    }

    #[test]
    fn oversampling_keeps_aliases_out_unless_asked() {
        // A 4321 Hz tone driven hard: at 1× its 6th harmonic (25.9 kHz) and up fold back between the
        // harmonics; at 2× only harmonics above 72 kHz would, and they are far down.
        let alias = |oversampled: bool| {
            let mut d = drive(DriveSettings { drive_db: 18.0, asymmetry: 0.3, mix: 1.0, oversampled });
            let x = sine(4321.0, 0.5, 6096);
            let y = &process_mono(&mut d, &x)[2000..2000 + 4096];
            alias_db(y, 4321.0)
        };
        let clean = alias(true);
        let dirty = alias(false);
        eprintln!("aliases: oversampled {clean:.1} dB, base rate {dirty:.1} dB");
        assert!(clean < -70.0, "oversampled aliases: {clean:.1} dB");
        assert!(dirty > clean + 20.0, "the base-rate drive should alias: {dirty:.1} dB");
    }
}
