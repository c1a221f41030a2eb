//! Loudness match: keeps the spoiled signal as loud as the clean one, so that spoiling never wins a
//! comparison by being louder.
//!
//! Both signals are K-weighted (the BS.1770 pre-filter and RLB high-pass, on each channel) and their powers are
//! averaged over about 0.4 s, gated the way BS.1770 gates its blocks: only while the clean signal is present
//! (its 50 ms power above −80 dB and within 30 dB of its recent peak) do the averages move, so silences,
//! fades and the hiss in them do not pump the gain. The spoiled signal is scaled by √(clean / spoiled),
//! clamped to ±24 dB and moving at most 0.05 dB per control period.
//!
//! Both signals are first passed through the stem's own direct-path colour ([`Hearing`]: the height tilt, the
//! proximity shelf and the air roll-off that follow in the stem chain), so that the loudness is matched as the
//! listener hears the stem, not before it is placed: otherwise a far stem, whose air filter takes a top
//! octave the band-limited spoiled signal no longer has, would come out louder spoiled than clean.

use kira::Frame;

use super::stage::CONTROL_FRAMES;
use crate::mix::effects::one_pole_coefficient;

/// The spectral colour the stem chain gives the direct sound after the spoil stages, in the chain's own terms:
/// the tilt's gains around its pivot, the proximity shelf's gain below its corner, and the air low-pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hearing {
    /// The tilt's pivot (Hz).
    pub tilt_pivot_hz: f32,
    /// The tilt's gain below the pivot.
    pub tilt_low_gain: f32,
    /// The tilt's gain above the pivot.
    pub tilt_high_gain: f32,
    /// The proximity shelf's corner (Hz).
    pub proximity_hz: f32,
    /// The proximity shelf's gain below its corner.
    pub proximity_gain: f32,
    /// The air low-pass's cutoff (Hz).
    pub air_cutoff_hz: f32,
    /// How much of the air low-pass is mixed in (0 .. 1).
    pub air_amount: f32,
}

impl Hearing {
    /// No colour (the master bus).
    pub const FLAT: Hearing = Hearing {
        tilt_pivot_hz: 800.0,
        tilt_low_gain: 1.0,
        tilt_high_gain: 1.0,
        proximity_hz: 150.0,
        proximity_gain: 1.0,
        air_cutoff_hz: f32::INFINITY,
        air_amount: 0.0,
    };
}

/// [`Hearing`] as filters: the same one-pole tilt, proximity shelf and air as the stem chain's (coefficients;
/// the states are [`KWeighting`]'s, one per lane).
#[derive(Clone, Copy, Debug, Default)]
struct HearingFilter {
    tilt_a: f32,
    tilt_hi: f32,
    tilt_diff: f32,
    prox_a: f32,
    prox_lift: f32,
    air_a: f32,
    air_mix: f32,
}

impl HearingFilter {
    fn set(&mut self, h: &Hearing, sample_rate: f32) {
        let gain = |v: f32| if v.is_finite() && v > 0.0 { v } else { 1.0 };
        let finite = |v: f32| if v.is_finite() { v } else { 0.0 };
        self.tilt_a = one_pole_coefficient(h.tilt_pivot_hz, sample_rate);
        self.tilt_hi = gain(h.tilt_high_gain);
        self.tilt_diff = gain(h.tilt_low_gain) - self.tilt_hi;
        self.prox_a = one_pole_coefficient(h.proximity_hz, sample_rate);
        self.prox_lift = gain(h.proximity_gain) - 1.0;
        self.air_a = one_pole_coefficient(h.air_cutoff_hz, sample_rate);
        self.air_mix = finite(h.air_amount).clamp(0.0, 1.0);
    }
}

/// Averaging time of the two powers (seconds).
const AVERAGE_S: f32 = 0.4;
/// Averaging time of the clean power that opens the gate (seconds).
const GATE_S: f32 = 0.05;
/// Below this mean-square power the clean signal counts as absent.
const ABSOLUTE_GATE: f32 = 1e-8;
/// ... and below this fraction of its recent peak power (−30 dB).
const RELATIVE_GATE: f32 = 1e-3;
/// How long the recent peak takes to fall by 30 dB (seconds).
const PEAK_FALL_S: f32 = 3.0;
const MAX_GAIN: f32 = 15.85; // +24 dB
/// Largest gain change per control period, as a ratio (0.05 dB).
const MAX_STEP_RATIO: f32 = 1.005_773;

/// A biquad's coefficients (transposed direct form II; the states are [`KWeighting`]'s, one per lane).
#[derive(Clone, Copy, Debug, Default)]
struct Biquad {
    b: [f32; 3],
    a: [f32; 2],
}

/// Lanes run side by side through [`KWeighting`]: the clean left and right, the spoiled left and right.
const LANES: usize = 4;

/// The stem's colour, then the BS.1770 K-weighting filter at any sample rate (the coefficients derived as
/// libebur128 does), on four signals at once: the same operations on each lane, in the same order, so the
/// compiler runs them as one vector and each lane comes out as a filter of its own would give it.
#[derive(Clone, Copy, Debug)]
struct KWeighting {
    hearing: HearingFilter,
    shelf: Biquad,
    highpass: Biquad,
    /// Per lane: the tilt, proximity and air one-poles, then the shelf's and the high-pass's two states.
    tilt: [f32; LANES],
    prox: [f32; LANES],
    air: [f32; LANES],
    shelf_s: [[f32; LANES]; 2],
    highpass_s: [[f32; LANES]; 2],
}

impl KWeighting {
    fn new(sample_rate: f32) -> KWeighting {
        let fs = sample_rate as f64;
        let (f0, gain_db, q) = (1_681.974_450_955_533, 3.999_843_853_973_347, 0.707_175_236_955_419_6);
        let k = (std::f64::consts::PI * f0 / fs).tan();
        let vh = 10f64.powf(gain_db / 20.0);
        let vb = vh.powf(0.499_666_774_154_541_6);
        let a0 = 1.0 + k / q + k * k;
        let shelf = Biquad {
            b: [(vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0]
                .map(|v| v as f32),
            a: [2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0].map(|v| v as f32),
        };
        let (f0, q) = (38.135_470_876_024_44, 0.500_327_037_323_877_3);
        let k = (std::f64::consts::PI * f0 / fs).tan();
        let a0 = 1.0 + k / q + k * k;
        let highpass =
            Biquad { b: [1.0, -2.0, 1.0], a: [2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0].map(|v| v as f32) };
        let mut hearing = HearingFilter::default();
        hearing.set(&Hearing::FLAT, sample_rate);
        let zero = [0.0; LANES];
        KWeighting {
            hearing,
            shelf,
            highpass,
            tilt: zero,
            prox: zero,
            air: zero,
            shelf_s: [zero; 2],
            highpass_s: [zero; 2],
        }
    }

    /// `frames` samples of each lane through the colour, the shelf and the high-pass: `input(n)` gives frame
    /// `n`'s lanes, `output` takes the filtered ones. The states live in registers for the whole block.
    #[inline(always)]
    fn run_block(
        &mut self,
        frames: usize,
        input: impl Fn(usize) -> [f32; LANES],
        mut output: impl FnMut([f32; LANES]),
    ) {
        let (h, sh, hp) = (self.hearing, self.shelf, self.highpass);
        let (mut tilt, mut prox, mut air) = (self.tilt, self.prox, self.air);
        let (mut s0, mut s1, mut t0, mut t1) =
            (self.shelf_s[0], self.shelf_s[1], self.highpass_s[0], self.highpass_s[1]);
        for n in 0..frames {
            let x = input(n);
            let mut out = [0.0; LANES];
            for i in 0..LANES {
                tilt[i] += h.tilt_a * (x[i] - tilt[i]);
                let mut y = h.tilt_hi * x[i] + h.tilt_diff * tilt[i];
                prox[i] += h.prox_a * (y - prox[i]);
                y += h.prox_lift * prox[i];
                air[i] += h.air_a * (y - air[i]);
                let y = y + h.air_mix * (air[i] - y);
                let z = sh.b[0] * y + s0[i];
                s0[i] = sh.b[1] * y - sh.a[0] * z + s1[i];
                s1[i] = sh.b[2] * y - sh.a[1] * z;
                let w = hp.b[0] * z + t0[i];
                t0[i] = hp.b[1] * z - hp.a[0] * w + t1[i];
                t1[i] = hp.b[2] * z - hp.a[1] * w;
                out[i] = w;
            }
            output(out);
        }
        (self.tilt, self.prox, self.air) = (tilt, prox, air);
        (self.shelf_s, self.highpass_s) = ([s0, s1], [t0, t1]);
    }

    fn flush(&mut self) {
        let states = [&mut self.tilt, &mut self.prox, &mut self.air];
        for lane in states.into_iter().chain(&mut self.shelf_s).chain(&mut self.highpass_s) {
            *lane = lane.map(crate::mix::effects::flush);
        }
    }
}

#[derive(Clone, Debug)]
/// Keeps the spoiled signal at the clean one's K-weighted loudness, as heard through the stem's colour.
pub struct LoudnessMatch {
    /// Each channel of each signal (clean left and right, spoiled left and right) through its own lane: the
    /// power of both channels is what BS.1770 sums, and what differs between the channels (a side that spoiling
    /// makes or changes) is heard too.
    weighting: KWeighting,
    fresh: KWeighting,
    /// This period's sums of squares and frame count so far.
    clean_sum: f32,
    spoiled_sum: f32,
    frames: usize,
    clean_power: f32,
    spoiled_power: f32,
    clean_short: f32,
    clean_peak: f32,
    /// Averaging and peak-fall coefficients per control period.
    average_a: f32,
    gate_a: f32,
    peak_fall: f32,
    gain: f32,
}

impl LoudnessMatch {
    /// A match at rest (unity gain) for `sample_rate`.
    pub fn new(sample_rate: f32) -> LoudnessMatch {
        let periods_per_s = sample_rate / CONTROL_FRAMES as f32;
        let k = KWeighting::new(sample_rate);
        LoudnessMatch {
            weighting: k,
            fresh: k,
            clean_sum: 0.0,
            spoiled_sum: 0.0,
            frames: 0,
            clean_power: 0.0,
            spoiled_power: 0.0,
            clean_short: 0.0,
            clean_peak: 0.0,
            average_a: 1.0 - (-1.0 / (AVERAGE_S * periods_per_s)).exp(),
            gate_a: 1.0 - (-1.0 / (GATE_S * periods_per_s)).exp(),
            peak_fall: RELATIVE_GATE.powf(1.0 / (PEAK_FALL_S * periods_per_s)),
            gain: 1.0,
        }
    }

    /// Measures both signals through the stem's direct-path colour from now on.
    pub fn set_hearing(&mut self, hearing: &Hearing, sample_rate: f32) {
        self.fresh.hearing.set(hearing, sample_rate);
        self.weighting.hearing.set(hearing, sample_rate);
    }

    /// The gain applied now (1 when the signals have not been compared yet).
    pub fn gain(&self) -> f32 {
        self.gain
    }

    /// Starts over: no history, unity gain.
    pub fn reset(&mut self) {
        let fresh = self.fresh;
        self.weighting = fresh;
        (self.clean_sum, self.spoiled_sum, self.frames) = (0.0, 0.0, 0);
        (self.clean_power, self.spoiled_power, self.clean_short, self.clean_peak) = (0.0, 0.0, 0.0, 0.0);
        self.gain = 1.0;
    }

    /// Measures frames of the clean and the spoiled signal, both channels (any number of frames, in any chunks:
    /// the sums run on sample by sample, so how a period is split into calls changes nothing).
    pub fn measure(&mut self, clean: &[Frame], spoiled_left: &[f32], spoiled_right: &[f32]) {
        let (mut clean_sum, mut spoiled_sum) = (self.clean_sum, self.spoiled_sum);
        let frames = clean.len().min(spoiled_left.len()).min(spoiled_right.len());
        let input = |n: usize| [clean[n].left, clean[n].right, spoiled_left[n], spoiled_right[n]];
        self.weighting.run_block(frames, input, |[a, b, c, d]| {
            clean_sum += 0.5 * (a * a + b * b);
            spoiled_sum += 0.5 * (c * c + d * d);
        });
        self.clean_sum = clean_sum;
        self.spoiled_sum = spoiled_sum;
        self.frames += frames;
    }

    /// Closes a control period's measurement and returns the gain for the next one. With `engaged` false
    /// the gain heads back to exactly 1.
    pub fn finish_period(&mut self, engaged: bool) -> f32 {
        // Filter states are flushed on the period grid, never where a chunk happens to end.
        self.weighting.flush();
        let frames = self.frames.max(1) as f32;
        let (clean, spoiled) = (self.clean_sum / frames, self.spoiled_sum / frames);
        (self.clean_sum, self.spoiled_sum, self.frames) = (0.0, 0.0, 0);
        self.clean_short += self.gate_a * (clean - self.clean_short);
        self.clean_peak = (self.clean_peak * self.peak_fall).max(self.clean_short);
        if self.clean_short > ABSOLUTE_GATE && self.clean_short > RELATIVE_GATE * self.clean_peak {
            self.clean_power += self.average_a * (clean - self.clean_power);
            self.spoiled_power += self.average_a * (spoiled - self.spoiled_power);
        }
        let target = if !engaged {
            1.0
        } else if self.clean_power > ABSOLUTE_GATE && self.spoiled_power > 0.0 {
            (self.clean_power / self.spoiled_power).sqrt().clamp(1.0 / MAX_GAIN, MAX_GAIN)
        } else {
            self.gain
        };
        let step = target.clamp(self.gain / MAX_STEP_RATIO, self.gain * MAX_STEP_RATIO);
        // Land exactly on 1 once close, so that a return to clean is bit-exact.
        self.gain = if (step - 1.0).abs() < 1e-4 && target == 1.0 { 1.0 } else { step };
        if !self.gain.is_finite() {
            self.gain = 1.0;
        }
        for p in [&mut self.clean_power, &mut self.spoiled_power, &mut self.clean_short, &mut self.clean_peak] {
            *p = crate::mix::effects::flush(*p);
        }
        self.gain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl LoudnessMatch {
        fn update(&mut self, clean: &[f32], spoiled: &[f32], engaged: bool) -> f32 {
            let clean: Vec<Frame> = clean.iter().map(|&v| Frame::new(v, v)).collect();
            self.measure(&clean, spoiled, spoiled);
            self.finish_period(engaged)
        }
    }

    #[test]
    fn k_weighting_matches_the_standard_at_48k() {
        // BS.1770-4 lists these coefficients for 48 kHz.
        let k = KWeighting::new(48_000.0);
        let close = |a: f32, b: f32| (a - b).abs() < 1e-5;
        assert!(
            close(k.shelf.b[0], 1.535_124_9) && close(k.shelf.b[1], -2.691_696_2) && close(k.shelf.b[2], 1.198_392_8)
        );
        assert!(close(k.shelf.a[0], -1.690_659_3) && close(k.shelf.a[1], 0.732_480_8));
        assert!(close(k.highpass.a[0], -1.990_047_5) && close(k.highpass.a[1], 0.990_072_3));
    }

    #[test]
    fn the_gain_brings_a_quieter_copy_up_and_returns_to_exactly_one() {
        let mut m = LoudnessMatch::new(48_000.0);
        let clean: Vec<f32> = (0..CONTROL_FRAMES).map(|n| (n as f32 * 0.3).sin() * 0.3).collect();
        let half: Vec<f32> = clean.iter().map(|v| v * 0.5).collect();
        for _ in 0..48_000 * 3 / CONTROL_FRAMES {
            m.update(&clean, &half, true);
        }
        assert!((m.gain() - 2.0).abs() < 0.02, "{}", m.gain());
        for _ in 0..48_000 / CONTROL_FRAMES {
            m.update(&clean, &half, false);
        }
        assert_eq!(m.gain(), 1.0);
    }

    #[test]
    fn silence_holds_the_gain() {
        let mut m = LoudnessMatch::new(48_000.0);
        let clean: Vec<f32> = (0..CONTROL_FRAMES).map(|n| (n as f32 * 0.3).sin() * 0.3).collect();
        let half: Vec<f32> = clean.iter().map(|v| v * 0.5).collect();
        for _ in 0..48_000 * 3 / CONTROL_FRAMES {
            m.update(&clean, &half, true);
        }
        let before = m.gain();
        let silence = vec![0.0; CONTROL_FRAMES];
        let hiss: Vec<f32> = (0..CONTROL_FRAMES).map(|n| if n % 2 == 0 { 0.01 } else { -0.01 }).collect();
        for _ in 0..48_000 * 2 / CONTROL_FRAMES {
            m.update(&silence, &hiss, true);
        }
        assert!((m.gain() - before).abs() < 0.05, "{} vs {before}", m.gain());
    }
}
