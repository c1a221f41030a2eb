//! Spoil it: six small character stages walked by one macro, after Tchad Blake's "a little distortion goes a long way".
//!
//! The stages, in signal order, each a [`Stage`] that runs (and is tested) alone:
//! [`drive`] → [`band_limit`] → [`bit_depth`] → [`sample_rate`] → [`wow_flutter`] → [`noise`], then
//! [`loudness_match`]. [`Spoil`] is the macro: one amount from 0 to 1 that moves every stage along the
//! curves of [`curves`], so that each adds a little instead of one doing all the damage.
//!
//! Three promises:
//! - **spoil = 0 is exactly transparent**: the output is the input delayed by [`latency_frames`], bit for
//!   bit. The delay is constant whatever the amount (the drive's linear-phase filters and the centre of the
//!   wow), and the mix graph compensates it, so a render with spoil 0 nulls against the clean render.
//! - **Dry and wet stay phase-aligned**: the only dry/wet blend (inside the drive) takes its dry signal at
//!   the same delay as the oversampled wet one; the other stages act in series, never blended with a copy
//!   that is shifted in time (which would comb).
//! - **Loudness-compensated**: the spoiled signal is kept at the clean signal's K-weighted loudness.

pub mod band_limit;
pub mod bit_depth;
pub mod drive;
pub mod loudness_match;
pub mod noise;
pub mod sample_rate;
pub mod stage;
pub mod wow_flutter;

use kira::Frame;

use crate::mix::effects::DelayLine;
use band_limit::{BandLimit, BandLimitSettings};
use bit_depth::{BitDepth, BitDepthSettings};
use drive::{Drive, DriveSettings};
pub use loudness_match::Hearing;
use loudness_match::LoudnessMatch;
use noise::{Noise, NoiseSettings};
use sample_rate::{SampleRate, SampleRateSettings};
pub use stage::{CONTROL_FRAMES, MAX_BLOCK, Stage};
use wow_flutter::{WowFlutter, WowFlutterSettings};

/// Every stage's settings at one point of the macro.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpoilSettings {
    /// The asymmetric saturator.
    pub drive: DriveSettings,
    /// The band-limit.
    pub band: BandLimitSettings,
    /// The bit-depth reduction.
    pub bits: BitDepthSettings,
    /// The sample-rate reduction.
    pub rate: SampleRateSettings,
    /// Wow and flutter.
    pub wow: WowFlutterSettings,
    /// Hiss and crackle.
    pub noise: NoiseSettings,
}

impl SpoilSettings {
    /// One line of what the stages do, for `proxemix inspect` and the stage's inspector, e.g.
    /// "drive +5.4 dB · band 32 Hz–12 kHz · 15.2 bits · hold 33 kHz · wow 0.03 % · hiss −76 dB".
    pub fn describe(&self) -> String {
        if self.drive.mix == 0.0 {
            return "clean".into();
        }
        let hz = |f: f32| if f >= 1000.0 { format!("{:.1} kHz", f / 1000.0) } else { format!("{f:.0} Hz") };
        let pitch = self.wow.peak_pitch_deviation() * 100.0;
        let hiss = 20.0 * self.noise.hiss_rms.max(1e-12).log10();
        format!(
            "drive +{:.1} dB · band {}–{} · {:.1} bits · hold {} · wow {pitch:.2} % · hiss {hiss:.0} dB",
            self.drive.drive_db,
            hz(self.band.highpass_hz),
            hz(self.band.lowpass_hz),
            self.bits.bits,
            hz(self.rate.hold_hz),
        )
    }
}

/// The macro's curves: what each stage does at `amount` (0..1), at `sample_rate`.
///
/// | stage | 0 | 0.25 | 0.5 | 1 |
/// |---|---|---|---|---|
/// | drive | off (mix 0) | +4.5 dB, mix 1 | +9 dB, bias 0.15 | +18 dB, bias 0.3 |
/// | high-pass | off | 20 Hz | 60 Hz | 300 Hz |
/// | low-pass | off (Nyquist) | 14 kHz | 8.8 kHz | 3.2 kHz |
/// | bits | off (≥ 23) | 16 | 12.7 | 8 |
/// | hold rate | off (the stream's rate) | 35 kHz | 19 kHz | 4 kHz |
/// | wow / flutter | none | 0.01 % / 0.03 % | 0.05 % / 0.06 % | 0.21 % / 0.12 % |
/// | hiss (RMS) | none | −84 dB | −72 dB | −60 dB |
/// | crackle | none | 0.6 /s, −42 dB | 2.5 /s, −36 dB | 10 /s, −30 dB |
///
/// Each curve starts exactly at its stage's identity, so a small amount adds a little of everything.
/// (The hold-rate column is at 48 kHz.)
pub fn curves(amount: f32, sample_rate: f32, seed: u64) -> SpoilSettings {
    let s = if amount.is_nan() { 0.0 } else { amount.clamp(0.0, 1.0) };
    let nyquist = 0.5 * sample_rate;
    SpoilSettings {
        drive: DriveSettings { drive_db: 18.0 * s, asymmetry: 0.3 * s, mix: (s / 0.25).min(1.0), oversampled: true },
        band: BandLimitSettings {
            highpass_hz: 20.0 * (16f32.powf(s) - 1.0),
            lowpass_hz: if s == 0.0 { f32::INFINITY } else { nyquist * (3200.0 / nyquist).powf(s) },
        },
        bits: BitDepthSettings { bits: 24.0 - 16.0 * s.sqrt() },
        rate: SampleRateSettings {
            hold_hz: if s == 0.0 { sample_rate } else { sample_rate * (4000.0 / sample_rate).powf(s * s.sqrt()) },
        },
        wow: WowFlutterSettings { wow_depth_s: 0.000_6 * s * s, flutter_depth_s: 0.000_03 * s },
        noise: NoiseSettings { hiss_rms: 0.001 * s * s, crackle_per_s: 10.0 * s * s, crackle_peak: 0.031_6 * s, seed },
    }
}

/// "Spoil a little everywhere": a different small amount for each of `stems` stems, for contrast after
/// Tchad Blake (pristine next to crunchy). One stem stays pristine, the others get evenly spaced amounts
/// between 0.04 and 0.4 (so no two are alike), dealt out at random; `round` deals them afresh.
pub fn a_little_everywhere(stems: usize, round: u32) -> Vec<f32> {
    use rand::{RngExt, SeedableRng};
    if stems == 0 {
        return Vec::new();
    }
    // Evenly spaced small amounts, dealt out at random (seeded by the round, so a class can redo a deal), and
    // one stem kept pristine for contrast.
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(0x5_0011_u64 ^ round as u64);
    let others = stems - 1;
    let mut amounts: Vec<f32> =
        (0..others).map(|j| (0.04 + 0.36 * (j as f64 + 0.5) / others.max(1) as f64) as f32).collect();
    for i in (1..amounts.len()).rev() {
        amounts.swap(i, rng.random_range(0..=i));
    }
    amounts.insert(rng.random_range(0..stems), 0.0);
    amounts
}

/// The macro's constant delay at `sample_rate` (frames): the drive's filters plus the wow's centre.
pub fn latency_frames(sample_rate: u32) -> usize {
    drive::LATENCY_FRAMES + wow_flutter::centre_frames(sample_rate as f32)
}

/// The stages at the macro's current amount, plus what the macro needs to glide and to stay transparent.
pub struct Spoil {
    seed: u64,
    hearing: Hearing,
    sample_rate: f32,
    /// The amount now, where it is heading, its step per control period and how many periods are left.
    amount: f32,
    target: f32,
    step: f32,
    periods_left: u32,
    /// Frames since the start (the control grid).
    clock: u64,
    /// Whether the stages run; off, the signal only travels through the delays (exactly).
    engaged: bool,
    /// The loudness gain at the start and at the end of the current control period.
    gain: (f32, f32),
    drive: Drive,
    band: BandLimit,
    bits: BitDepth,
    rate: SampleRate,
    wow: WowFlutter,
    noise: Noise,
    matcher: LoudnessMatch,
    /// The input's recent history, interleaved: while bypassed the output is read from it (one delay instead of
    /// the stages' copies), and the drive's and the wow's histories are refilled from it when they switch on.
    history: DelayLine<[f32; 2]>,
    /// The stages' constant delay (the drive's filters and the wow's centre).
    latency: usize,
    stage_io: Vec<[f32; 2]>,
    left: Vec<f32>,
    right: Vec<f32>,
}

impl Spoil {
    /// The macro at `amount` for `sample_rate`; `hearing` is the colour the stem chain gives the stem afterwards
    /// (so loudness is matched as heard), `seed` seeds the noise (give every stem its own).
    pub fn new(amount: f32, hearing: Hearing, seed: u64, sample_rate: u32) -> Spoil {
        let amount = if amount.is_nan() { 0.0 } else { amount.clamp(0.0, 1.0) };
        Spoil::build(amount, hearing, seed, sample_rate as f32)
    }

    /// Glides the amount to `amount` (clamped to 0..1) over `frames` samples, on the control grid; `hearing`
    /// is the colour the stem chain now gives the stem.
    pub fn set(&mut self, amount: f32, hearing: Hearing, frames: u32) {
        let amount = if amount.is_nan() { 0.0 } else { amount.clamp(0.0, 1.0) };
        if hearing != self.hearing {
            self.hearing = hearing;
            self.matcher.set_hearing(&hearing, self.sample_rate);
        }
        if amount == self.target && self.periods_left == 0 {
            return;
        }
        let periods = frames.div_ceil(CONTROL_FRAMES as u32).max(1);
        self.target = amount;
        self.step = (amount - self.amount) / periods as f32;
        self.periods_left = periods;
    }

    /// Processes `input` in place, any length. While the amount holds still the stages take up to
    /// [`MAX_BLOCK`] frames at once (only the loudness gain moves period by period); while it glides, or the
    /// macro switches on or off, one control period at a time. The output is the same either way.
    pub fn process_frames(&mut self, input: &mut [Frame]) {
        let mut rest = input;
        while !rest.is_empty() {
            let into_period = (self.clock % CONTROL_FRAMES as u64) as usize;
            let steady = self.engaged && self.periods_left == 0 && self.amount > 0.0;
            let n = if steady { rest.len().min(MAX_BLOCK) } else { (CONTROL_FRAMES - into_period).min(rest.len()) };
            let (head, tail) = rest.split_at_mut(n);
            if steady {
                if into_period == 0 {
                    self.start_period();
                }
                self.process_steady(head);
            } else {
                self.process_period(head);
            }
            rest = tail;
        }
    }

    fn build(amount: f32, hearing: Hearing, seed: u64, sample_rate: f32) -> Spoil {
        let settings = curves(amount, sample_rate, seed);
        let mut matcher = LoudnessMatch::new(sample_rate);
        matcher.set_hearing(&hearing, sample_rate);
        let wow = WowFlutter::new(sample_rate, &settings.wow);
        let wow_capacity = wow.history_frames();
        Spoil {
            seed,
            hearing,
            sample_rate,
            amount,
            target: amount,
            step: 0.0,
            periods_left: 0,
            clock: 0,
            engaged: amount > 0.0,
            gain: (1.0, 1.0),
            drive: Drive::new(sample_rate, &settings.drive),
            band: BandLimit::new(sample_rate, &settings.band),
            bits: BitDepth::new(sample_rate, &settings.bits),
            rate: SampleRate::new(sample_rate, &settings.rate),
            wow,
            noise: Noise::new(sample_rate, &settings.noise),
            matcher,
            history: DelayLine::with_capacity(drive::LATENCY_FRAMES + wow_capacity + CONTROL_FRAMES),
            latency: drive::LATENCY_FRAMES + wow_flutter::centre_frames(sample_rate),
            stage_io: vec![[0.0; 2]; MAX_BLOCK],
            left: vec![0.0; MAX_BLOCK],
            right: vec![0.0; MAX_BLOCK],
        }
    }

    fn apply_amount(&mut self) {
        let s = curves(self.amount, self.sample_rate, self.seed);
        self.drive.set(&s.drive);
        self.band.set(&s.band);
        self.bits.set(&s.bits);
        self.rate.set(&s.rate);
        self.wow.set(&s.wow);
        self.noise.set(&s.noise);
    }

    /// Processes frames that lie within one control period.
    fn process_period(&mut self, frames: &mut [Frame]) {
        if self.clock.is_multiple_of(CONTROL_FRAMES as u64) {
            self.start_period();
        }
        if !self.engaged {
            self.remember(frames);
            // Bypassed: exactly the input, delayed like the engaged path.
            let io = &mut self.stage_io[..frames.len()];
            self.history.read_block(frames.len() - 1 + self.latency, io);
            for (f, [l, r]) in frames.iter_mut().zip(io.iter()) {
                *f = Frame::new(*l, *r);
            }
            return;
        }
        self.process_steady(frames);
    }

    /// Processes frames through the engaged stages with the amount holding still (any grid point inside only
    /// moves the loudness gain), then matches their loudness period by period.
    fn process_steady(&mut self, frames: &mut [Frame]) {
        let start = self.clock;
        self.remember(frames);
        let n = frames.len();
        let (left, right) = (&mut self.left[..n], &mut self.right[..n]);
        for (f, (l, r)) in frames.iter().zip(left.iter_mut().zip(right.iter_mut())) {
            (*l, *r) = (f.left, f.right);
        }
        self.drive.process(left, right);
        self.band.process(left, right);
        self.bits.process(left, right);
        self.rate.process(left, right);
        self.wow.process(left, right);
        self.noise.process(left, right);
        let mut done = 0;
        while done < n {
            let into_period = ((start + done as u64) % CONTROL_FRAMES as u64) as usize;
            if into_period == 0 && done > 0 {
                self.start_period();
            }
            let end = (done + CONTROL_FRAMES - into_period).min(n);
            self.match_loudness(&mut frames[done..end], done, into_period);
            done = end;
        }
    }

    /// Keeps the input's history (the bypass reads it; the drive and the wow refill from it) and moves the
    /// clock on.
    fn remember(&mut self, frames: &[Frame]) {
        let io = &mut self.stage_io[..frames.len()];
        for (slot, f) in io.iter_mut().zip(frames.iter()) {
            *slot = [f.left, f.right];
        }
        self.history.push_block(io);
        self.clock += frames.len() as u64;
    }

    /// Measures a stretch of one period (clean in `frames`, spoiled in the scratch from `offset`), and writes the
    /// spoiled frames at the loudness gain, which glides across the period frame by frame of the period (not of
    /// the chunk).
    fn match_loudness(&mut self, frames: &mut [Frame], offset: usize, into_period: usize) {
        let n = frames.len();
        let (left, right) = (&self.left[offset..offset + n], &self.right[offset..offset + n]);
        // The input is still in `frames`: the clean signal, as it came.
        self.matcher.measure(frames, left, right);
        let (from, to) = self.gain;
        let step = (to - from) / CONTROL_FRAMES as f32;
        let mut finite = true;
        for (k, (f, (l, r))) in frames.iter_mut().zip(left.iter().zip(right.iter())).enumerate() {
            let at = into_period + k + 1;
            let g = if at == CONTROL_FRAMES { to } else { from + step * at as f32 };
            let (l, r) = (crate::mix::effects::flush(l * g), crate::mix::effects::flush(r * g));
            finite &= (l + r).is_finite();
            *f = Frame::new(l, r);
        }
        if !finite {
            // A fault (a non-finite input): silence, and start the stages over.
            frames.iter_mut().for_each(|f| *f = Frame::ZERO);
            self.reset_all();
        }
    }

    /// At each grid point: the amount takes its next step, and the loudness gain of the period just measured
    /// becomes the target of this one (a period late, 0.7 ms: nothing to hear, and independent of chunking).
    fn start_period(&mut self) {
        if self.engaged {
            let to = self.matcher.finish_period(self.amount > 0.0);
            self.gain = (self.gain.1, to);
            if self.amount == 0.0 && self.periods_left == 0 && self.gain == (1.0, 1.0) {
                // Back to clean with the gain at exactly 1: every stage is at identity, so bypassing from here
                // on is seamless.
                self.engaged = false;
            }
        }
        if self.periods_left > 0 {
            self.periods_left -= 1;
            self.amount = if self.periods_left == 0 { self.target } else { self.amount + self.step };
            if self.amount > 0.0 && !self.engaged {
                // Switching on: the drive's and the wow's delays are refilled with the signal from the history
                // (so they pick up exactly where the bypass was); the rest starts from rest.
                let history = &self.history;
                self.drive.prime(|age| history.tap(age));
                self.wow.prime(self.clock, |age| history.tap(drive::LATENCY_FRAMES + age));
                self.drive.clear_wet();
                self.band.reset();
                self.rate.reset();
                self.noise.reset();
                self.matcher.reset();
                self.gain = (1.0, 1.0);
                self.engaged = true;
            }
            self.apply_amount();
        }
    }

    fn reset_all(&mut self) {
        self.drive.reset();
        self.band.reset();
        self.bits.reset();
        self.rate.reset();
        self.wow.reset();
        self.noise.reset();
        self.matcher.reset();
        self.gain = (1.0, 1.0);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn sine(hz: f32, amp: f32, frames: usize) -> Vec<f32> {
        (0..frames).map(|n| amp * (std::f64::consts::TAU * hz as f64 * n as f64 / 48_000.0).sin() as f32).collect()
    }

    pub fn rms(x: &[f32]) -> f32 {
        (x.iter().map(|v| (v * v) as f64).sum::<f64>() / x.len().max(1) as f64).sqrt() as f32
    }

    /// Runs a mono signal through a stage (both channels the same), in blocks of [`MAX_BLOCK`].
    pub fn process_mono<S: Stage>(stage: &mut S, x: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(x.len());
        for chunk in x.chunks(MAX_BLOCK) {
            let (mut l, mut r) = (chunk.to_vec(), chunk.to_vec());
            stage.process(&mut l, &mut r);
            out.extend(l);
        }
        out
    }

    /// |X[k]|² of `x` for every bin (rustfft).
    pub fn power_spectrum(x: &[f64]) -> Vec<f64> {
        use rustfft::num_complex::Complex;
        let mut buffer: Vec<Complex<f64>> = x.iter().map(|&v| Complex::new(v, 0.0)).collect();
        rustfft::FftPlanner::new().plan_fft_forward(buffer.len()).process(&mut buffer);
        buffer.iter().map(|c| c.norm_sqr()).collect()
    }

    /// Energy of `x` between `lo` and `hi` Hz (one FFT over the whole signal, Hann-windowed).
    pub fn band_energy(x: &[f32], sample_rate: f32, lo: f32, hi: f32) -> f64 {
        let n = x.len();
        let windowed: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| v as f64 * (0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos()))
            .collect();
        let bin_hz = sample_rate as f64 / n as f64;
        let (first, last) = ((lo as f64 / bin_hz).ceil() as usize, ((hi as f64 / bin_hz).floor() as usize).min(n / 2));
        power_spectrum(&windowed)[first..=last].iter().sum()
    }

    fn spoil(amount: f32) -> Spoil {
        Spoil::new(amount, Hearing::FLAT, 3, 48_000)
    }

    fn run(fx: &mut Spoil, x: &[f32], block: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(x.len());
        for chunk in x.chunks(block) {
            let mut frames: Vec<Frame> = chunk.iter().map(|&v| Frame::new(v, -0.5 * v)).collect();
            fx.process_frames(&mut frames);
            out.extend(frames.iter().map(|f| f.left));
        }
        out
    }

    #[test]
    fn zero_is_an_exact_delay() {
        let mut fx = spoil(0.0);
        let x = sine(440.0, 0.7, 10_000);
        let y = run(&mut fx, &x, 128);
        let l = latency_frames(48_000);
        assert_eq!(&y[l..], &x[..10_000 - l]);
    }

    #[test]
    fn the_macro_returns_to_an_exact_delay_after_spoiling() {
        let mut fx = spoil(0.0);
        let x = sine(440.0, 0.7, 96_000);
        let mut out = Vec::new();
        for (b, chunk) in x.chunks(128).enumerate() {
            if b == 20 {
                fx.set(0.8, Hearing::FLAT, 2400);
            }
            if b == 200 {
                fx.set(0.0, Hearing::FLAT, 2400);
            }
            let mut frames: Vec<Frame> = chunk.iter().map(|&v| Frame::new(v, v)).collect();
            fx.process_frames(&mut frames);
            out.extend(frames.iter().map(|f| f.left));
        }
        let l = latency_frames(48_000);
        let spoiled = (30 * 128..190 * 128).filter(|&n| out[n] != x[n - l]).count();
        assert!(spoiled > 10_000, "the middle should be spoiled");
        // A second after the return the output is the delayed input again, bit for bit.
        assert_eq!(&out[96_000 - 20_000..], &x[96_000 - 20_000 - l..96_000 - l]);
    }

    #[test]
    fn block_size_does_not_change_the_output() {
        let x = sine(220.0, 0.5, 20_000);
        let (mut a, mut b) = (spoil(0.3), spoil(0.3));
        a.set(0.9, Hearing::FLAT, 4800);
        b.set(0.9, Hearing::FLAT, 4800);
        assert!(run(&mut a, &x, 128) == run(&mut b, &x, 128), "two runs differ");
        let (mut c, mut d) = (spoil(0.3), spoil(0.3));
        c.set(0.9, Hearing::FLAT, 4800);
        d.set(0.9, Hearing::FLAT, 4800);
        // Different chunking, the same command before the first chunk in both.
        let first = run(&mut c, &x[..128], 128);
        let rest = run(&mut c, &x[128..], 37);
        let whole = run(&mut d, &x, 128);
        let chunked = [first, rest].concat();
        let differ = chunked.iter().zip(&whole).position(|(a, b)| a != b);
        assert!(differ.is_none(), "chunking changed the output from frame {differ:?}");
    }

    #[test]
    fn non_finite_input_is_silenced() {
        let mut fx = spoil(0.5);
        let mut x = sine(220.0, 0.5, 1024);
        x[300] = f32::NAN;
        let y = run(&mut fx, &x, 128);
        assert!(y.iter().all(|v| v.is_finite() && !v.is_subnormal()));
        let after = run(&mut fx, &sine(220.0, 0.5, 4800), 128);
        assert!(after.iter().all(|v| v.is_finite()) && rms(&after) > 0.1);
    }

    #[test]
    fn a_lone_stage_runs_on_its_own() {
        let mut stage = BitDepth::new(48_000.0, &BitDepthSettings { bits: 24.0 });
        let x = sine(440.0, 0.9, 512);
        let exact = process_mono(&mut stage, &x);
        assert!(exact.iter().zip(&x).all(|(a, b)| (a - b).abs() < 1e-6));
        stage.set(&BitDepthSettings { bits: 2.0 });
        let y = process_mono(&mut stage, &x);
        let mut levels: Vec<u32> = y.iter().map(|v| v.to_bits()).collect();
        levels.sort_unstable();
        levels.dedup();
        assert!(levels.len() <= 4);
    }

    #[test]
    fn a_little_everywhere_is_small_different_and_keeps_one_pristine() {
        for round in 0..4 {
            let amounts = a_little_everywhere(8, round);
            assert_eq!(amounts.iter().filter(|&&a| a == 0.0).count(), 1, "{amounts:?}");
            assert!(amounts.iter().all(|&a| (0.0..=0.4).contains(&a)), "{amounts:?}");
            let mut sorted = amounts.clone();
            sorted.sort_by(f32::total_cmp);
            assert!(sorted.windows(2).all(|w| w[1] - w[0] > 0.01), "too alike: {amounts:?}");
            assert_ne!(amounts, a_little_everywhere(8, round + 1));
        }
        assert!(a_little_everywhere(0, 0).is_empty());
    }

    #[test]
    fn the_curves_start_at_identity_and_end_strong() {
        let clean = curves(0.0, 48_000.0, 1);
        assert_eq!(clean.drive.mix, 0.0);
        assert_eq!(clean.band, BandLimitSettings { highpass_hz: 0.0, lowpass_hz: f32::INFINITY });
        assert!(clean.bits.bits >= bit_depth::OFF_BITS);
        assert_eq!(clean.rate.hold_hz, 48_000.0);
        assert_eq!(clean.wow, WowFlutterSettings::STILL);
        assert_eq!((clean.noise.hiss_rms, clean.noise.crackle_per_s), (0.0, 0.0));
        let full = curves(1.0, 48_000.0, 1);
        assert!((full.band.lowpass_hz - 3200.0).abs() < 1.0 && (full.band.highpass_hz - 300.0).abs() < 1.0);
        assert!((full.bits.bits - 8.0).abs() < 1e-4 && (full.rate.hold_hz - 4000.0).abs() < 1.0);
    }
}

#[cfg(test)]
mod loudness_tests {
    use super::tests::sine;
    use super::*;

    fn lufs(frames: &[Frame]) -> f64 {
        let mut m = ebur128::EbuR128::new(2, 48_000, ebur128::Mode::I).unwrap();
        let inter: Vec<f32> = frames.iter().flat_map(|f| [f.left, f.right]).collect();
        m.add_frames_f32(&inter).unwrap();
        m.loudness_global().unwrap()
    }

    #[test]
    fn the_effect_alone_keeps_white_noise_and_a_tone_at_their_loudness() {
        let mut seed = 1u32;
        let white: Vec<f32> = (0..48_000 * 6)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                (seed as f32 / u32::MAX as f32 - 0.5) * 0.4
            })
            .collect();
        let tone = sine(500.0, 0.25, 48_000 * 6);
        // A low sine, loud and quiet: at spoil 1 its harmonics outweigh it, where K-weighting lifts them.
        let low = sine(220.0, 0.5, 48_000 * 6);
        let low_quiet = sine(220.0, 0.0125, 48_000 * 6);
        for (name, x) in [("white", white), ("tone", tone), ("220 Hz", low), ("220 Hz quiet", low_quiet)] {
            let input: Vec<Frame> = x.iter().map(|&v| Frame::new(v, v)).collect();
            let clean = lufs(&input);
            let mut report = Vec::new();
            for amount in [0.25f32, 0.5, 0.8, 1.0] {
                let mut fx = Spoil::new(amount, Hearing::FLAT, 1, 48_000);
                let mut out = input.clone();
                for chunk in out.chunks_mut(128) {
                    fx.process_frames(chunk);
                }
                let delta = lufs(&out) - clean;
                report.push(format!("{amount}: {delta:+.2}"));
                assert!(delta.abs() < 0.5, "{name} at {amount}: {delta:+.2} LU");
            }
            eprintln!("{name}: {}", report.join(", "));
        }
    }
}

#[cfg(test)]
mod cost_tests {
    use super::tests::sine;
    use super::*;

    /// Where spoil 1's time goes, stage by stage, beside the whole macro (`cargo test --release -- --ignored
    /// spoil_cost --nocapture`): a profile to read, not a figure to hold.
    #[test]
    #[ignore]
    fn spoil_cost_by_stage() {
        let x = sine(220.0, 0.3, 48_000 * 20);
        let input: Vec<Frame> = x.iter().map(|&v| Frame::new(v, -v)).collect();
        let s = curves(1.0, 48_000.0, 1);
        let time = |label: &str, run: &mut dyn FnMut(&mut [f32], &mut [f32])| {
            let (mut l, mut r): (Vec<f32>, Vec<f32>) = input.iter().map(|f| (f.left, f.right)).unzip();
            let started = std::time::Instant::now();
            for (lc, rc) in l.chunks_mut(CONTROL_FRAMES).zip(r.chunks_mut(CONTROL_FRAMES)) {
                run(lc, rc);
            }
            let ns = started.elapsed().as_nanos() as f64 / input.len() as f64;
            eprintln!("{label:>14}: {ns:6.1} ns a frame ({:.1})", l.iter().sum::<f32>());
        };
        let sr = 48_000.0;
        let (mut drive, mut band) = (Drive::new(sr, &s.drive), BandLimit::new(sr, &s.band));
        let (mut bits, mut rate) = (BitDepth::new(sr, &s.bits), SampleRate::new(sr, &s.rate));
        let (mut wow, mut noise) = (WowFlutter::new(sr, &s.wow), Noise::new(sr, &s.noise));
        let mut matcher = LoudnessMatch::new(sr);
        time("drive", &mut |l, r| drive.process(l, r));
        time("band-limit", &mut |l, r| band.process(l, r));
        time("bit depth", &mut |l, r| bits.process(l, r));
        time("sample rate", &mut |l, r| rate.process(l, r));
        time("wow", &mut |l, r| wow.process(l, r));
        time("noise", &mut |l, r| noise.process(l, r));
        let clean = input[..CONTROL_FRAMES].to_vec();
        time("loudness match", &mut |l, r| {
            matcher.measure(&clean, l, r);
            let _ = matcher.finish_period(true);
        });
        let mut whole = Spoil::new(1.0, Hearing::FLAT, 1, 48_000);
        let mut frames = input.clone();
        let started = std::time::Instant::now();
        for chunk in frames.chunks_mut(512) {
            whole.process_frames(chunk);
        }
        let ns = started.elapsed().as_nanos() as f64 / input.len() as f64;
        eprintln!("{:>14}: {ns:6.1} ns a frame", "the macro");
    }
}
