//! Band-limit: a high-pass and a low-pass (each two one-pole sections, 12 dB/octave) closing in on the middle.
//!
//! A cut-off of 0 Hz (high-pass) or at Nyquist (low-pass) switches that side off exactly, so the stage is
//! the identity at the start of the spoil curve.

use super::stage::Stage;

#[derive(Clone, Copy, Debug, PartialEq)]
/// Where the band closes in.
pub struct BandLimitSettings {
    /// High-pass corner (Hz); 0 = off.
    pub highpass_hz: f32,
    /// Low-pass corner (Hz); at or above Nyquist = off.
    pub lowpass_hz: f32,
}

impl BandLimitSettings {
    /// Nothing cut.
    pub const OPEN: BandLimitSettings = BandLimitSettings { highpass_hz: 0.0, lowpass_hz: f32::INFINITY };
}

#[derive(Clone, Debug)]
/// A high-pass and a low-pass, 12 dB/octave each.
pub struct BandLimit {
    sample_rate: f32,
    /// One-pole coefficients; 0 = high-pass off, 1 = low-pass off.
    hp_a: f32,
    lp_a: f32,
    /// Per channel: the two high-pass sections' low-pass states, then the two low-pass states.
    state: [[f32; 4]; 2],
}

/// One-pole coefficient for a corner at `hz` (impulse invariant); 0 at 0 Hz, 1 at or above Nyquist.
fn coefficient(hz: f32, sample_rate: f32) -> f32 {
    if hz.is_nan() || hz <= 0.0 {
        0.0
    } else if hz >= 0.5 * sample_rate {
        1.0
    } else {
        1.0 - (-std::f32::consts::TAU * hz / sample_rate).exp()
    }
}

impl BandLimit {
    /// Both channels in one loop: two independent recursions side by side run nearly as fast as one.
    fn run<const HP: bool, const LP: bool>(&mut self, left: &mut [f32], right: &mut [f32]) {
        let (hp_a, lp_a) = (self.hp_a, self.lp_a);
        let mut state = self.state;
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            for (x, [h1, h2, l1, l2]) in [l, r].into_iter().zip(state.iter_mut()) {
                let mut v = *x;
                if HP {
                    *h1 += hp_a * (v - *h1);
                    v -= *h1;
                    *h2 += hp_a * (v - *h2);
                    v -= *h2;
                }
                if LP {
                    *l1 += lp_a * (v - *l1);
                    *l2 += lp_a * (*l1 - *l2);
                    v = *l2;
                }
                *x = v;
            }
        }
        self.state = state.map(|s| s.map(crate::mix::effects::flush));
    }
}

impl Stage for BandLimit {
    type Settings = BandLimitSettings;

    fn new(sample_rate: f32, settings: &BandLimitSettings) -> BandLimit {
        let mut stage = BandLimit { sample_rate, hp_a: 0.0, lp_a: 1.0, state: [[0.0; 4]; 2] };
        stage.set(settings);
        stage
    }

    fn set(&mut self, settings: &BandLimitSettings) {
        let (hp_was, lp_was) = (self.hp_a > 0.0, self.lp_a < 1.0);
        self.hp_a = coefficient(settings.highpass_hz, self.sample_rate);
        self.lp_a = coefficient(settings.lowpass_hz, self.sample_rate);
        // A side that switches on starts from rest. Its first corner is at the open end of the band (near
        // 0 Hz or near Nyquist), where starting from rest makes no audible step.
        if !hp_was && self.hp_a > 0.0 {
            self.state.iter_mut().for_each(|s| [s[0], s[1]] = [0.0; 2]);
        }
        if !lp_was && self.lp_a < 1.0 {
            self.state.iter_mut().for_each(|s| [s[2], s[3]] = [0.0; 2]);
        }
    }

    fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        match (self.hp_a > 0.0, self.lp_a < 1.0) {
            (false, false) => {}
            (true, false) => self.run::<true, false>(left, right),
            (false, true) => self.run::<false, true>(left, right),
            (true, true) => self.run::<true, true>(left, right),
        }
    }

    fn reset(&mut self) {
        self.state = [[0.0; 4]; 2];
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{process_mono, rms, sine};
    use super::*;

    fn gain_db(settings: BandLimitSettings, hz: f32) -> f32 {
        let mut stage = BandLimit::new(48_000.0, &settings);
        let x = sine(hz, 0.5, 48_000);
        let y = process_mono(&mut stage, &x);
        20.0 * (rms(&y[24_000..]) / rms(&x[24_000..])).log10()
    }

    #[test]
    fn open_is_the_identity() {
        let mut stage = BandLimit::new(48_000.0, &BandLimitSettings::OPEN);
        let x = sine(440.0, 0.5, 1000);
        assert_eq!(process_mono(&mut stage, &x), x);
    }

    #[test]
    fn the_band_closes_in_from_both_sides() {
        let telephone = BandLimitSettings { highpass_hz: 300.0, lowpass_hz: 3000.0 };
        let middle = gain_db(telephone, 1000.0);
        assert!(middle > -3.0, "1 kHz: {middle}");
        // Two one-pole sections: each −3 dB at the corner, so about −6 dB for the pair.
        for corner in [300.0, 3000.0] {
            let g = gain_db(telephone, corner);
            assert!((g + 6.0).abs() < 1.5, "{corner} Hz: {g} dB");
        }
        assert!(gain_db(telephone, 60.0) < -25.0);
        assert!(gain_db(telephone, 15_000.0) < -24.0);
    }
}
