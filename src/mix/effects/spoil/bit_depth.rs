//! Bit-depth reduction: rounds to a grid of 2^bits levels over ±1, undithered (the grit is the point).
//!
//! Fractional depths are allowed so the macro can glide; at 23 bits or more the stage is off (the grid would
//! be finer than a float's mantissa resolves anyway). Silence stays silent: zero is on the grid.

use super::stage::Stage;

#[derive(Clone, Copy, Debug, PartialEq)]
/// How many bits are kept.
pub struct BitDepthSettings {
    /// Resolution in bits (1 ..= 24); 23 or more = off.
    pub bits: f32,
}

/// At this depth and above the stage does nothing.
pub const OFF_BITS: f32 = 23.0;

#[derive(Clone, Debug)]
/// Rounds to 2^bits levels, undithered.
pub struct BitDepth {
    /// Half the number of levels: the grid step is 1/half.
    half: f32,
    on: bool,
}

/// Adding and subtracting 1.5·2²³ rounds an f32 of magnitude below 2²² to the nearest integer (ties to even)
/// with two additions, which vectorise (`f32::round` is a library call without SSE4.1).
const ROUNDER: f32 = 12_582_912.0;

impl Stage for BitDepth {
    type Settings = BitDepthSettings;

    fn new(_sample_rate: f32, settings: &BitDepthSettings) -> BitDepth {
        let mut stage = BitDepth { half: 1.0, on: false };
        stage.set(settings);
        stage
    }

    fn set(&mut self, settings: &BitDepthSettings) {
        let bits = if settings.bits.is_nan() { OFF_BITS } else { settings.bits.clamp(1.0, 24.0) };
        self.on = bits < OFF_BITS;
        self.half = 2f32.powf(bits - 1.0);
    }

    fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        if !self.on {
            return;
        }
        let (half, step) = (self.half, 1.0 / self.half);
        for x in left.iter_mut().chain(right.iter_mut()) {
            let v = (*x * half).clamp(-half, half - 1.0);
            *x = ((v + ROUNDER) - ROUNDER) * step;
        }
    }

    fn reset(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::super::tests::{process_mono, sine};
    use super::*;

    #[test]
    fn n_bits_leave_at_most_two_to_the_n_levels() {
        for bits in [1u32, 2, 3, 4, 6, 8, 12] {
            let mut stage = BitDepth::new(48_000.0, &BitDepthSettings { bits: bits as f32 });
            // A ramp over more than full scale plus a sine: every level is visited.
            let mut x: Vec<f32> = (0..20_000).map(|n| -1.2 + 2.4 * n as f32 / 20_000.0).collect();
            x.extend(sine(123.0, 1.0, 20_000));
            let y = process_mono(&mut stage, &x);
            let mut levels: Vec<u32> = y.iter().map(|v| v.to_bits()).collect();
            levels.sort_unstable();
            levels.dedup();
            let most = 1usize << bits;
            assert!(levels.len() <= most, "{bits} bits: {} levels", levels.len());
            assert!(levels.len() >= most - 1, "{bits} bits: only {} levels used", levels.len());
        }
    }

    #[test]
    fn the_error_is_within_half_a_step_and_zero_stays_zero() {
        let mut stage = BitDepth::new(48_000.0, &BitDepthSettings { bits: 8.0 });
        let x = sine(440.0, 0.9, 4800);
        let y = process_mono(&mut stage, &x);
        let step = 1.0 / 128.0;
        assert!(x.iter().zip(&y).all(|(a, b)| (a - b).abs() <= 0.5 * step + 1e-7));
        let mut silence = vec![0.0f32; 64];
        assert!(process_mono(&mut stage, &silence).iter().all(|&v| v == 0.0));
        silence[3] = 1e-30;
        assert!(process_mono(&mut stage, &silence).iter().all(|&v| v == 0.0));
    }

    #[test]
    fn off_is_the_identity() {
        let mut stage = BitDepth::new(48_000.0, &BitDepthSettings { bits: 24.0 });
        let x = sine(440.0, 0.9, 1000);
        assert_eq!(process_mono(&mut stage, &x), x);
    }
}
