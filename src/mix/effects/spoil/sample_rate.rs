//! Sample-rate reduction: sample and hold at a lower rate, with no filter before it, so the spectrum folds
//! around the new rate (the images above half of it are the sound of it).
//!
//! The hold rate may be any real number: a phase accumulator decides which input frames are taken, so the
//! rate glides smoothly. At or above the base rate every frame is taken (the identity).

use super::stage::Stage;

#[derive(Clone, Copy, Debug, PartialEq)]
/// The rate samples are held at.
pub struct SampleRateSettings {
    /// The rate samples are held at (Hz); at or above the stream's rate = off.
    pub hold_hz: f32,
}

#[derive(Clone, Debug)]
/// Sample and hold with no filter: images above half the held rate.
pub struct SampleRate {
    sample_rate: f32,
    /// Fraction of a held sample each frame advances (1 = every frame is taken).
    step: f32,
    phase: f32,
    held: [f32; 2],
}

impl Stage for SampleRate {
    type Settings = SampleRateSettings;

    fn new(sample_rate: f32, settings: &SampleRateSettings) -> SampleRate {
        let mut stage = SampleRate { sample_rate, step: 1.0, phase: 1.0, held: [0.0; 2] };
        stage.set(settings);
        stage
    }

    fn set(&mut self, settings: &SampleRateSettings) {
        let ratio = settings.hold_hz / self.sample_rate;
        self.step = if ratio.is_nan() { 1.0 } else { ratio.clamp(1e-4, 1.0) };
    }

    fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        if self.step >= 1.0 {
            // Every frame taken: remember the last one so that a later reduction starts from it.
            if let (Some(&l), Some(&r)) = (left.last(), right.last()) {
                self.held = [l, r];
            }
            self.phase = 1.0;
            return;
        }
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            self.phase += self.step;
            if self.phase >= 1.0 {
                self.phase -= 1.0;
                self.held = [*l, *r];
            }
            [*l, *r] = self.held;
        }
    }

    fn reset(&mut self) {
        self.phase = 1.0;
        self.held = [0.0; 2];
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{band_energy, process_mono, sine};
    use super::*;

    #[test]
    fn holding_at_f_puts_images_above_half_of_f() {
        let hold = 8000.0;
        let mut stage = SampleRate::new(48_000.0, &SampleRateSettings { hold_hz: hold });
        let x = sine(1000.0, 0.5, 48_000);
        let y = process_mono(&mut stage, &x);
        let above_x = band_energy(&x, 48_000.0, hold / 2.0, 24_000.0);
        let above_y = band_energy(&y, 48_000.0, hold / 2.0, 24_000.0);
        let total_y = band_energy(&y, 48_000.0, 0.0, 24_000.0);
        assert!(above_x < 1e-6 * total_y, "the clean sine has energy above f/2: {above_x}");
        // The first images of a 1 kHz tone held at 8 kHz sit at 7 and 9 kHz, about −17 dB.
        let share = 10.0 * (above_y / total_y).log10();
        assert!(share > -25.0, "image energy above f/2: {share:.1} dB");
        // Images at k·8 kHz ± 1 kHz: check the first pair is there.
        assert!(band_energy(&y, 48_000.0, 6_900.0, 7_100.0) > 1e-3 * total_y);
        assert!(band_energy(&y, 48_000.0, 8_900.0, 9_100.0) > 1e-3 * total_y);
    }

    #[test]
    fn holding_at_the_base_rate_is_the_identity() {
        let mut stage = SampleRate::new(48_000.0, &SampleRateSettings { hold_hz: 48_000.0 });
        let x = sine(1000.0, 0.5, 1000);
        assert_eq!(process_mono(&mut stage, &x), x);
    }

    #[test]
    fn fractional_rates_take_the_right_number_of_samples() {
        let mut stage = SampleRate::new(48_000.0, &SampleRateSettings { hold_hz: 7_000.0 });
        let x: Vec<f32> = (0..48_000).map(|n| n as f32).collect();
        let y = process_mono(&mut stage, &x);
        let mut distinct = y.clone();
        distinct.dedup();
        assert!((distinct.len() as i32 - 7_000).abs() <= 1, "{}", distinct.len());
    }
}
