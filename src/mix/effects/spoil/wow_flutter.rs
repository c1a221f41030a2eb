//! Wow and flutter: the signal read from a short delay whose length wobbles slowly (wow, 0.55 Hz) and
//! quickly (flutter, 6.3 Hz), like a tape that does not run quite evenly.
//!
//! The delay swings around a fixed centre ([`centre_frames`]), so the stage's latency is constant and the
//! pitch deviation is the delay's rate of change: a swing of ±d seconds at f Hz bends the pitch by up to
//! 2π·f·d. The modulation is computed on a fixed grid of frames (a sine every [`super::stage::CONTROL_FRAMES`],
//! straight lines between) counted from the start, so it does not depend on how the audio is chunked.
//! Reads use 4-point cubic Hermite interpolation; with no depth the delay is a whole number of frames and
//! the read is exact.

use super::stage::{CONTROL_FRAMES, Stage};
use crate::mix::effects::DelayLine;

/// Wow rate (Hz): a slow swing, below one turn per second.
pub const WOW_HZ: f64 = 0.55;
/// Flutter rate (Hz).
pub const FLUTTER_HZ: f64 = 6.3;
/// The centre of the swing (seconds), before rounding up to frames.
const CENTRE_S: f32 = 0.001;

/// The centre delay in frames at `sample_rate`: the stage's constant latency.
pub fn centre_frames(sample_rate: f32) -> usize {
    (CENTRE_S * sample_rate).ceil() as usize + 2
}

#[derive(Clone, Copy, Debug, PartialEq)]
/// How far the delay swings, slowly and quickly.
pub struct WowFlutterSettings {
    /// Peak swing of the slow modulation (seconds).
    pub wow_depth_s: f32,
    /// Peak swing of the fast modulation (seconds).
    pub flutter_depth_s: f32,
}

impl WowFlutterSettings {
    /// No swing: an exact delay.
    pub const STILL: WowFlutterSettings = WowFlutterSettings { wow_depth_s: 0.0, flutter_depth_s: 0.0 };

    /// The largest pitch deviation these depths cause, as a fraction (0.001 = 0.1 %).
    pub fn peak_pitch_deviation(&self) -> f64 {
        std::f64::consts::TAU * (WOW_HZ * self.wow_depth_s as f64 + FLUTTER_HZ * self.flutter_depth_s as f64)
    }
}

#[derive(Clone, Debug)]
/// A delay swinging around its centre at the wow and flutter rates.
pub struct WowFlutter {
    sample_rate: f32,
    centre: usize,
    /// Depths in frames, clamped so the swing stays inside the line.
    wow: f32,
    flutter: f32,
    line: DelayLine<[f32; 2]>,
    /// Frames since the start: the modulation's clock.
    clock: u64,
    /// The delay now and its step per frame until the next grid point.
    delay: f32,
    delay_step: f32,
}

impl WowFlutter {
    /// The delay the modulation asks for at frame `at`.
    fn delay_at(&self, at: u64) -> f32 {
        let t = at as f64 / self.sample_rate as f64;
        let phase = |hz: f64| (std::f64::consts::TAU * (hz * t).fract()).sin() as f32;
        let mut d = self.centre as f32;
        if self.wow != 0.0 {
            d += self.wow * phase(WOW_HZ);
        }
        if self.flutter != 0.0 {
            d += self.flutter * phase(FLUTTER_HZ);
        }
        d
    }

    /// Frames of history the line holds.
    pub fn history_frames(&self) -> usize {
        self.line.capacity()
    }

    /// Refills the line from `input(age)` (0 = the latest frame) and sets the clock to `clock`, as if the
    /// stage had run still (at its centre) all along.
    pub fn prime(&mut self, clock: u64, input: impl Fn(usize) -> [f32; 2]) {
        for age in (0..self.line.capacity()).rev() {
            self.line.push(input(age));
        }
        self.clock = clock;
        self.delay = self.centre as f32;
        self.delay_step = 0.0;
    }
}

/// The four-point, third-order Hermite (Catmull-Rom) weights for a read `t` (0..1) past the second point:
/// `y = w[0]·y0 + w[1]·y1 + w[2]·y2 + w[3]·y3`. Worked out once a frame and shared by both channels.
#[inline(always)]
fn hermite_weights(t: f32) -> [f32; 4] {
    let (t2, t3) = (t * t, t * t * t);
    [0.5 * (2.0 * t2 - t3 - t), 0.5 * (3.0 * t3 - 5.0 * t2) + 1.0, 0.5 * (4.0 * t2 - 3.0 * t3 + t), 0.5 * (t3 - t2)]
}

impl Stage for WowFlutter {
    type Settings = WowFlutterSettings;

    fn new(sample_rate: f32, settings: &WowFlutterSettings) -> WowFlutter {
        let centre = centre_frames(sample_rate);
        let mut stage = WowFlutter {
            sample_rate,
            centre,
            wow: 0.0,
            flutter: 0.0,
            line: DelayLine::with_capacity(2 * centre + 4),
            clock: 0,
            delay: centre as f32,
            delay_step: 0.0,
        };
        stage.set(settings);
        stage
    }

    fn set(&mut self, settings: &WowFlutterSettings) {
        // The swing must leave one frame before and two after the read inside the line.
        let room = (self.centre - 3) as f32;
        let wow = (settings.wow_depth_s * self.sample_rate).max(0.0);
        let flutter = (settings.flutter_depth_s * self.sample_rate).max(0.0);
        let scale = if wow + flutter > room { room / (wow + flutter) } else { 1.0 };
        (self.wow, self.flutter) =
            if (wow + flutter).is_finite() { (wow * scale, flutter * scale) } else { (0.0, 0.0) };
    }

    fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        let grid = CONTROL_FRAMES as u64;
        // The read position and the clock in locals: the line's writes cannot be mistaken for them.
        let (mut delay, mut step, mut clock) = (self.delay, self.delay_step, self.clock);
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            if clock.is_multiple_of(grid) {
                // Land exactly on this grid point, then head for the next one.
                delay = self.delay_at(clock);
                step = (self.delay_at(clock + grid) - delay) / grid as f32;
            }
            self.line.push([*l, *r]);
            let whole = delay as usize;
            let t = delay - whole as f32;
            if t == 0.0 {
                [*l, *r] = self.line.tap(whole);
            } else {
                let ([a, b, c, d], w) = (self.line.taps4(whole), hermite_weights(t));
                *l = w[0] * a[0] + w[1] * b[0] + w[2] * c[0] + w[3] * d[0];
                *r = w[0] * a[1] + w[1] * b[1] + w[2] * c[1] + w[3] * d[1];
            }
            delay += step;
            clock += 1;
        }
        (self.delay, self.delay_step, self.clock) = (delay, step, clock);
    }

    fn reset(&mut self) {
        self.line.clear();
    }

    fn latency_frames(&self) -> usize {
        self.centre
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{process_mono, sine};
    use super::*;

    #[test]
    fn still_is_an_exact_delay() {
        let mut stage = WowFlutter::new(48_000.0, &WowFlutterSettings::STILL);
        let x = sine(440.0, 0.5, 2000);
        let y = process_mono(&mut stage, &x);
        let c = stage.latency_frames();
        assert_eq!(&y[c..], &x[..2000 - c]);
    }

    #[test]
    fn the_pitch_wobbles_by_the_promised_amount() {
        let settings = WowFlutterSettings { wow_depth_s: 0.0005, flutter_depth_s: 0.0 };
        let mut stage = WowFlutter::new(48_000.0, &settings);
        // A 1 kHz tone over 4 s; measure the period between upward zero crossings.
        let x = sine(1000.0, 0.5, 4 * 48_000);
        let y = process_mono(&mut stage, &x);
        let mut crossings = Vec::new();
        for n in 1000..y.len() {
            if y[n - 1] < 0.0 && y[n] >= 0.0 {
                crossings.push(n as f64 - 1.0 + y[n - 1] as f64 / (y[n - 1] - y[n]) as f64);
            }
        }
        let freqs: Vec<f64> = crossings.windows(2).map(|w| 48_000.0 / (w[1] - w[0])).collect();
        let max = freqs.iter().copied().fold(0.0, f64::max);
        let min = freqs.iter().copied().fold(f64::INFINITY, f64::min);
        let deviation = (max - min) / 2.0 / 1000.0;
        let promised = settings.peak_pitch_deviation();
        assert!((deviation - promised).abs() < 0.2 * promised, "{deviation} vs {promised}");
    }

    #[test]
    fn chunking_does_not_change_the_output() {
        let settings = WowFlutterSettings { wow_depth_s: 0.0004, flutter_depth_s: 0.00003 };
        let x = sine(700.0, 0.5, 9000);
        let mut a = WowFlutter::new(48_000.0, &settings);
        let whole = process_mono(&mut a, &x);
        let mut b = WowFlutter::new(48_000.0, &settings);
        let mut parts = Vec::new();
        for chunk in x.chunks(37) {
            parts.extend(process_mono(&mut b, chunk));
        }
        assert_eq!(whole, parts);
    }
}
