//! Noise: tape-like hiss (white noise, gently rolled off above 9 kHz, different on each side) and sparse
//! vinyl-like crackle, from a seeded generator so the same seed gives the same noise in every render.

use super::stage::Stage;

#[derive(Clone, Copy, Debug, PartialEq)]
/// How much hiss and crackle, and the seed that makes them repeatable.
pub struct NoiseSettings {
    /// Hiss level, RMS per channel (linear, 0 = none).
    pub hiss_rms: f32,
    /// Average crackles per second (0 = none).
    pub crackle_per_s: f32,
    /// Peak of the loudest crackle (linear).
    pub crackle_peak: f32,
    /// The generator's seed; a different seed per stem keeps stems from hissing in unison.
    pub seed: u64,
}

impl NoiseSettings {
    /// No noise.
    pub const SILENT: NoiseSettings = NoiseSettings { hiss_rms: 0.0, crackle_per_s: 0.0, crackle_peak: 0.0, seed: 1 };
}

/// Corner of the hiss's roll-off (Hz).
const HISS_CORNER_HZ: f32 = 9_000.0;
/// A crackle's decay time constant (seconds).
const CRACKLE_DECAY_S: f32 = 0.000_25;

/// A seeded PCG generator (rand_pcg's Mcg128Xsl64: fast, and the same numbers on every platform and rand
/// version, so renders stay bit-identical).
#[derive(Clone, Debug)]
struct Generator(rand_pcg::Pcg64Mcg);

impl Generator {
    fn new(seed: u64) -> Generator {
        Generator(rand::SeedableRng::seed_from_u64(seed))
    }
    #[inline(always)]
    fn next(&mut self) -> u64 {
        rand::Rng::next_u64(&mut self.0)
    }
    /// Three independent uniforms from one draw (its top, middle and low 21 bits): two in [-1, 1) for the two
    /// channels' hiss, one in [0, 1) for the crackle's roll. One draw a frame: the generator's 128-bit multiply
    /// was a good part of the stage's cost.
    #[inline(always)]
    fn frame(&mut self) -> (f32, f32, f32) {
        let r = self.next();
        let scale = 1.0 / (1u64 << 21) as f32;
        let bits = |shift: u32| ((r >> shift) & 0x1F_FFFF) as f32 * scale;
        (2.0 * bits(43) - 1.0, 2.0 * bits(22) - 1.0, bits(1))
    }
}

#[derive(Clone, Debug)]
/// Seeded hiss and crackle, added to the signal.
pub struct Noise {
    sample_rate: f32,
    settings: NoiseSettings,
    generator: Generator,
    /// Scale from a uniform sample to the hiss, and the roll-off's coefficient and states.
    hiss_gain: f32,
    hiss_a: f32,
    hiss_state: [f32; 2],
    /// Chance of a crackle starting on a frame; the current crackle's envelope and its side gains.
    crackle_chance: f32,
    crackle_env: f32,
    crackle_decay: f32,
    crackle_sides: [f32; 2],
}

impl Stage for Noise {
    type Settings = NoiseSettings;

    fn new(sample_rate: f32, settings: &NoiseSettings) -> Noise {
        let hiss_a = 1.0 - (-std::f32::consts::TAU * HISS_CORNER_HZ / sample_rate).exp();
        let mut stage = Noise {
            sample_rate,
            settings: *settings,
            generator: Generator::new(settings.seed),
            hiss_gain: 0.0,
            hiss_a,
            hiss_state: [0.0; 2],
            crackle_chance: 0.0,
            crackle_env: 0.0,
            crackle_decay: (-1.0 / (CRACKLE_DECAY_S * sample_rate)).exp(),
            crackle_sides: [0.0; 2],
        };
        stage.set(settings);
        stage
    }

    fn set(&mut self, settings: &NoiseSettings) {
        let finite_or_zero = |v: f32| if v.is_finite() { v.max(0.0) } else { 0.0 };
        self.settings = NoiseSettings {
            hiss_rms: finite_or_zero(settings.hiss_rms),
            crackle_per_s: finite_or_zero(settings.crackle_per_s),
            crackle_peak: finite_or_zero(settings.crackle_peak),
            seed: self.settings.seed,
        };
        // Uniform noise has an RMS of 1/√3; the one-pole keeps a/(2 − a) of white noise's power.
        let kept = (self.hiss_a / (2.0 - self.hiss_a)).sqrt();
        self.hiss_gain = self.settings.hiss_rms * 3f32.sqrt() / kept;
        self.crackle_chance = (self.settings.crackle_per_s / self.sample_rate).min(1.0);
    }

    fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        let s = self.settings;
        if s.hiss_rms == 0.0 && s.crackle_per_s == 0.0 && self.crackle_env == 0.0 {
            return;
        }
        let a = self.hiss_a;
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            // Always draw the same numbers per frame, so the sequence depends on the frame count only.
            let (wl, wr, roll) = self.generator.frame();
            self.hiss_state[0] += a * (wl - self.hiss_state[0]);
            self.hiss_state[1] += a * (wr - self.hiss_state[1]);
            if roll < self.crackle_chance {
                // A new crackle: its size and where it sits come from the same roll, rescaled.
                let u = roll / self.crackle_chance;
                let size = s.crackle_peak * (0.25 + 0.75 * u * u);
                let sign = if self.generator.next() & 1 == 0 { 1.0 } else { -1.0 };
                self.crackle_env = sign * size;
                self.crackle_sides = [0.6 + 0.4 * u, 1.0 - 0.4 * u];
            }
            let crackle = self.crackle_env * wl.abs().max(0.5);
            self.crackle_env = crate::mix::effects::flush(self.crackle_env * self.crackle_decay);
            *l += self.hiss_gain * self.hiss_state[0] + crackle * self.crackle_sides[0];
            *r += self.hiss_gain * self.hiss_state[1] + crackle * self.crackle_sides[1];
        }
        self.hiss_state = self.hiss_state.map(crate::mix::effects::flush);
    }

    fn reset(&mut self) {
        self.generator = Generator::new(self.settings.seed);
        self.hiss_state = [0.0; 2];
        self.crackle_env = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::rms;
    use super::super::{MAX_BLOCK, Stage};
    use super::*;

    fn run(settings: NoiseSettings, frames: usize) -> (Vec<f32>, Vec<f32>) {
        let mut stage = Noise::new(48_000.0, &settings);
        let (mut l, mut r) = (vec![0.0f32; frames], vec![0.0f32; frames]);
        for (a, b) in l.chunks_mut(MAX_BLOCK).zip(r.chunks_mut(MAX_BLOCK)) {
            stage.process(a, b);
        }
        (l, r)
    }

    #[test]
    fn hiss_has_the_asked_level_and_differs_between_sides() {
        let (l, r) = run(NoiseSettings { hiss_rms: 0.01, ..NoiseSettings::SILENT }, 96_000);
        for side in [&l, &r] {
            let db = 20.0 * (rms(side) / 0.01).log10();
            assert!(db.abs() < 0.5, "hiss off by {db} dB");
        }
        let correlation: f32 = l.iter().zip(&r).map(|(a, b)| a * b).sum::<f32>() / (rms(&l) * rms(&r) * l.len() as f32);
        assert!(correlation.abs() < 0.05, "{correlation}");
    }

    #[test]
    fn the_same_seed_gives_the_same_noise_and_another_does_not() {
        let settings = NoiseSettings { hiss_rms: 0.01, crackle_per_s: 20.0, crackle_peak: 0.1, seed: 7 };
        assert_eq!(run(settings, 10_000), run(settings, 10_000));
        assert_ne!(run(settings, 10_000), run(NoiseSettings { seed: 8, ..settings }, 10_000));
    }

    #[test]
    fn crackles_come_at_about_the_asked_rate() {
        let (l, _) =
            run(NoiseSettings { crackle_per_s: 10.0, crackle_peak: 0.2, ..NoiseSettings::SILENT }, 48_000 * 20);
        // Count onsets: a sample above 0.02 after 5 ms of near silence.
        let mut onsets = 0;
        let mut quiet = 1000;
        for &v in &l {
            if v.abs() > 0.02 && quiet >= 240 {
                onsets += 1;
            }
            quiet = if v.abs() > 0.001 { 0 } else { quiet + 1 };
        }
        assert!((150..=250).contains(&onsets), "{onsets} crackles in 20 s");
        assert!(l.iter().all(|v| v.abs() <= 0.2 * 1.0 + 1e-6));
    }

    #[test]
    fn silent_settings_add_nothing() {
        let (l, r) = run(NoiseSettings::SILENT, 1000);
        assert!(l.iter().chain(&r).all(|&v| v == 0.0));
    }
}
