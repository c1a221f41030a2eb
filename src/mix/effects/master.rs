//! The master chain, last in the mix: master gain → NaN guard → true-peak limiter → meter tap.
//!
//! kira's renderer clamps to ±1 and lets NaN through, so the guard and the ceiling are ours. The limiter looks
//! ahead, estimates inter-sample peaks with a 4× polyphase interpolator (as BS.1770 true-peak meters do) and
//! shapes its gain so that no sample, and in practice no inter-sample peak, passes the ceiling.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use kira::Frame;

use super::{AtomicF32, Ramps, flush};

/// Lookahead of the limiter: long enough for a smooth attack, short enough to be inaudible as latency.
pub const LOOKAHEAD_S: f32 = 0.0015;
/// Release time constant.
pub const RELEASE_S: f32 = 0.08;
/// The limiter aims this far under the ceiling so that gain changes between samples and the interpolator's
/// own error cannot carry an inter-sample peak over it.
pub const TRUE_PEAK_MARGIN_DB: f32 = 0.3;
/// Taps per phase of the inter-sample peak interpolator (48 in all, as the BS.1770-4 true-peak filter).
const TAPS: usize = 12;
/// Samples by which the interpolated window lags the newest input (the interpolation point sits between
/// taps TAPS/2 - 1 and TAPS/2 from the end).
const ANALYSIS_LAG: usize = TAPS / 2 - 1;

/// What meters read: the audio clock (frames rendered) and peak/energy since they last looked.
#[derive(Debug, Default)]
pub struct MasterMeter {
    /// Frames that have left the master chain: the audio-time clock of the whole graph.
    pub frames: AtomicU64,
    /// Highest sample per channel since the meter last looked.
    pub peak: [AtomicF32; 2],
    /// Lowest limiter gain since last read (1 = not limiting).
    pub min_gain: AtomicF32,
    /// Non-finite chunks caught and silenced.
    pub faults: AtomicU32,
}

impl MasterMeter {
    /// A meter at rest (no limiting).
    pub fn new() -> Self {
        let m = MasterMeter::default();
        m.min_gain.store(1.0);
        m
    }
}

/// The master's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MasterParams {
    /// Linear master gain before the limiter.
    pub gain: f32,
    /// Ceiling in dBTP.
    pub ceiling_dbtp: f32,
}

/// The master chain: gain (ramped) → NaN guard → true-peak limiter → meter and tap.
pub struct Master {
    gain: Ramps<1>,
    /// Hard sample ceiling (linear) and the limiter's aim just below it.
    ceiling: f32,
    target: f32,
    limiter: Limiter,
    meter: Arc<MasterMeter>,
    tap: Option<rtrb::Producer<[f32; 2]>>,
}

impl Master {
    /// A master at `params` reporting to `meter`; a copy of its output goes to `tap` when given (frames are
    /// dropped, never waited for, when nobody drains it).
    pub fn new(
        params: MasterParams,
        meter: Arc<MasterMeter>,
        tap: Option<rtrb::Producer<[f32; 2]>>,
        sample_rate: u32,
    ) -> Master {
        let sample_rate = sample_rate as f32;
        let mut master = Master {
            gain: Ramps::new([params.gain]),
            ceiling: 1.0,
            target: 1.0,
            limiter: Limiter::new(sample_rate),
            meter,
            tap,
        };
        master.set_ceiling(params.ceiling_dbtp);
        master
    }

    fn set_ceiling(&mut self, dbtp: f32) {
        self.ceiling = 10f32.powf(dbtp / 20.0);
        self.target = 10f32.powf((dbtp - TRUE_PEAK_MARGIN_DB) / 20.0);
    }

    /// Ramps the master gain over `frames` samples; the ceiling changes at once.
    pub fn set(&mut self, params: MasterParams, frames: u32) {
        if params.gain != self.gain.target()[0] {
            self.gain.set([params.gain], frames);
        }
        self.set_ceiling(params.ceiling_dbtp);
    }

    /// Processes `input` in place.
    pub fn process(&mut self, input: &mut [Frame]) {
        for f in input.iter_mut() {
            self.gain.advance();
            let g = self.gain.current[0];
            f.left *= g;
            f.right *= g;
        }
        let (_, sum) = super::peak_and_sum(input);
        if !sum.is_finite() {
            // Never let NaN or Inf reach the limiter (it would poison its state) or the device.
            input.iter_mut().for_each(|f| *f = Frame::ZERO);
            self.meter.faults.fetch_add(1, Ordering::Relaxed);
        }
        let mut peak = [0.0f32; 2];
        let mut min_gain = 1.0f32;
        for f in input.iter_mut() {
            let (l, r, g) = self.limiter.process(f.left, f.right, self.target);
            min_gain = min_gain.min(g);
            // Belt and braces: the limiter has already kept samples under the target.
            f.left = flush(l.clamp(-self.ceiling, self.ceiling));
            f.right = flush(r.clamp(-self.ceiling, self.ceiling));
            peak[0] = peak[0].max(f.left.abs());
            peak[1] = peak[1].max(f.right.abs());
        }
        self.meter.peak[0].fetch_max(peak[0]);
        self.meter.peak[1].fetch_max(peak[1]);
        if min_gain < self.meter.min_gain.load() {
            self.meter.min_gain.store(min_gain);
        }
        self.meter.frames.fetch_add(input.len() as u64, Ordering::Relaxed);
        if let Some(tap) = &mut self.tap {
            // Lock- and allocation-free: write what fits; a meter that falls behind loses frames, not the audio.
            let n = tap.slots().min(input.len());
            if let Ok(chunk) = tap.write_chunk_uninit(n) {
                chunk.fill_from_iter(input.iter().map(|f| [f.left, f.right]));
            }
        }
    }

    /// Frames by which the limiter delays what passes through it.
    pub fn latency_frames(&self) -> usize {
        self.limiter.delay.len()
    }
}

/// Look-ahead peak limiter with inter-sample peak detection.
///
/// Per sample: required gain = min(1, target / true-peak estimate); instant attack, exponential release; a
/// running minimum over the look-ahead window, then a moving average over the same window. Every value in the
/// average is at most the required gain of the sample leaving the delay, so the output never exceeds the target
/// while the gain still moves smoothly (Signalsmith's "min-hold then box filter").
#[derive(Default)]
struct Limiter {
    window: usize,
    release: f32,
    /// Input history for the interpolator, per channel: each sample is written twice, TAPS apart, so the
    /// window ending at the newest sample is always one contiguous slice.
    history: [[f32; 2 * TAPS]; 2],
    history_pos: usize,
    phases: [[f32; TAPS]; 3],
    /// Largest Σ|h| over the phases: no interpolated value can exceed the window's peak times this.
    overshoot: f32,
    /// Samples for which the window still holds a sample loud enough to need the interpolator.
    hot: usize,
    released: f32,
    /// (index, gain) candidates for the running minimum, increasing gains.
    minimum: VecDeque<(u64, f32)>,
    held: Vec<f32>,
    held_slot: usize,
    held_sum: f64,
    /// How many of `held` are below 1.
    held_below: usize,
    delay: Vec<[f32; 2]>,
    delay_slot: usize,
    n: u64,
    /// True while the gain is 1 and every stored gain is 1: the running minimum and average then need no
    /// work until a sample asks for less than unity (the state they would hold is known exactly).
    idle: bool,
}

impl Limiter {
    fn new(sample_rate: f32) -> Self {
        let window = ((LOOKAHEAD_S * sample_rate).round() as usize).max(4);
        let mut phases = [[0.0f32; TAPS]; 3];
        for (p, phase) in phases.iter_mut().enumerate() {
            let frac = (p + 1) as f32 / 4.0;
            // Interpolation point between tap TAPS/2-1 and TAPS/2; Hann-windowed sinc, normalised to unit DC gain.
            let centre = (TAPS / 2 - 1) as f32 + frac;
            for (k, c) in phase.iter_mut().enumerate() {
                let x = k as f32 - centre;
                let sinc =
                    if x.abs() < 1e-6 { 1.0 } else { (std::f32::consts::PI * x).sin() / (std::f32::consts::PI * x) };
                let w = 0.5 + 0.5 * (std::f32::consts::PI * x / (TAPS as f32 / 2.0 + 0.5)).cos();
                *c = sinc * w;
            }
            let sum: f32 = phase.iter().sum();
            phase.iter_mut().for_each(|c| *c /= sum);
        }
        // The frame leaving at step n is the one analysed `window - 1` steps before the newest analysis.
        let delay_len = window - 1 + ANALYSIS_LAG;
        let overshoot = phases.iter().map(|p| p.iter().map(|c| c.abs()).sum::<f32>()).fold(1.0, f32::max);
        Limiter {
            window,
            release: 1.0 - (-1.0 / (RELEASE_S * sample_rate)).exp(),
            history: [[0.0; 2 * TAPS]; 2],
            history_pos: 0,
            phases,
            overshoot,
            hot: 0,
            released: 1.0,
            minimum: VecDeque::with_capacity(window + 2),
            held: vec![1.0; window],
            held_slot: 0,
            held_sum: window as f64,
            held_below: 0,
            delay: vec![[0.0; 2]; delay_len],
            delay_slot: 0,
            n: 0,
            idle: true,
        }
    }

    /// Pushes one input frame; returns the limited frame that leaves the look-ahead delay, and its gain.
    #[inline]
    fn process(&mut self, l: f32, r: f32, target: f32) -> (f32, f32, f32) {
        self.history_pos = if self.history_pos + 1 == TAPS { 0 } else { self.history_pos + 1 };
        let pos = self.history_pos;
        for (ch, x) in [l, r].into_iter().enumerate() {
            self.history[ch][pos] = x;
            self.history[ch][pos + TAPS] = x;
        }
        // Only a window holding a sample above target/overshoot can interpolate past the target; skipping the
        // rest gives exactly the same gain (1) for a fraction of the work.
        if l.abs().max(r.abs()) * self.overshoot > target {
            self.hot = TAPS;
        }
        let mut peak = 0.0f32;
        if self.hot > 0 {
            self.hot -= 1;
            for ch in 0..2 {
                let h = &self.history[ch][pos + 1..pos + 1 + TAPS];
                peak = peak.max(h[TAPS / 2].abs());
                for phase in &self.phases {
                    let mut v = 0.0;
                    for k in 0..TAPS {
                        v += phase[k] * h[k];
                    }
                    peak = peak.max(v.abs());
                }
            }
        }
        let required = if peak > target { target / peak } else { 1.0 };
        let n = self.n;
        self.n += 1;
        let gain = if self.idle && required >= 1.0 {
            1.0
        } else {
            if self.idle {
                // Leaving idle: the state idling stood for is "every gain seen so far was 1".
                self.idle = false;
                self.released = 1.0;
                self.minimum.clear();
                self.minimum.push_back((n.wrapping_sub(1), 1.0));
            }
            self.released = (self.released + (1.0 - self.released) * self.release).min(required);

            // Running minimum of `released` over the last `window` samples.
            while self.minimum.back().is_some_and(|&(_, g)| g >= self.released) {
                self.minimum.pop_back();
            }
            self.minimum.push_back((n, self.released));
            while self.minimum.front().is_some_and(|&(i, _)| i + self.window as u64 <= n) {
                self.minimum.pop_front();
            }
            let held = self.minimum.front().map_or(1.0, |&(_, g)| g);

            // Moving average of the held minimum over the same window (f64 keeps the running sum exact enough).
            let old = std::mem::replace(&mut self.held[self.held_slot], held);
            self.held_sum += held as f64 - old as f64;
            self.held_below = self.held_below + usize::from(held < 1.0) - usize::from(old < 1.0);
            self.held_slot = if self.held_slot + 1 == self.window { 0 } else { self.held_slot + 1 };
            let gain = ((self.held_sum / self.window as f64) as f32).min(1.0);
            if self.released >= 1.0 && self.held_below == 0 {
                // Back at rest: the sum is exactly `window` again, so idling reproduces the same values.
                self.held_sum = self.window as f64;
                self.idle = true;
            }
            gain
        };

        // The frame that leaves: input delayed so the gain computed for it has arrived.
        let [dl, dr] = std::mem::replace(&mut self.delay[self.delay_slot], [l, r]);
        self.delay_slot = if self.delay_slot + 1 == self.delay.len() { 0 } else { self.delay_slot + 1 };
        (dl * gain, dr * gain, gain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_holds_the_ceiling_on_a_hot_sine() {
        let sr = 48_000.0;
        let mut lim = Limiter::new(sr);
        let target = 10f32.powf(-1.3 / 20.0);
        let mut max_out = 0.0f32;
        for n in 0..48_000 {
            // +12 dBFS sine at an awkward frequency: inter-sample peaks everywhere.
            let x = 4.0 * (n as f32 * std::f32::consts::TAU * 11_025.3 / sr + 0.3).sin();
            let (l, r, _) = lim.process(x, -x, target);
            max_out = max_out.max(l.abs()).max(r.abs());
        }
        assert!(max_out <= target * 1.0001, "{max_out} > {target}");
        assert!(max_out > target * 0.8, "limiter is not just muting: {max_out}");
    }

    #[test]
    fn quiet_signals_pass_untouched_after_the_delay() {
        let mut lim = Limiter::new(48_000.0);
        let delay = lim.delay.len();
        let input: Vec<f32> = (0..2000).map(|n| 0.1 * (n as f32 * 0.05).sin()).collect();
        let out: Vec<f32> = input.iter().map(|&x| lim.process(x, x, 0.9).0).collect();
        for n in delay..2000 {
            assert_eq!(out[n], input[n - delay]);
        }
    }
}
