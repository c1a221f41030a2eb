//! What had to be repaired to play a file (non-finite or absurdly loud samples, damaged packets): counted,
//! located, reported once.

use std::fmt;

/// The largest sample magnitude played as it is: 64, 36 dB over full scale. A float file from a DAW may run
/// hot by a few dB; a sample past this is a broken plug-in's or a corrupt file's, never music.
pub const MAX_SAMPLE: f32 = 64.0;

/// What had to be repaired to play a file: reported once per file, the stem plays.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Repairs {
    /// Samples that were NaN or infinite, replaced by silence.
    pub non_finite: u64,
    /// Where the first one was (seconds into the file).
    pub first_non_finite_s: Option<f64>,
    /// Finite samples far past full scale (beyond ±[`MAX_SAMPLE`]), replaced by silence: no recording holds
    /// them, and summing them overflows the resampler's and the effects' arithmetic.
    pub absurd: u64,
    /// Where the first one was (seconds into the file).
    pub first_absurd_s: Option<f64>,
    /// Packets the decoder could not decode, played as silence.
    pub damaged_packets: u64,
    /// Where the first one was (seconds into the file).
    pub first_damaged_s: Option<f64>,
}

impl Repairs {
    /// Whether anything had to be repaired.
    pub fn any(&self) -> bool {
        self.non_finite > 0 || self.absurd > 0 || self.damaged_packets > 0
    }

    /// Checks one sample: a NaN, an infinity or a value past ±[`MAX_SAMPLE`] becomes silence and is counted
    /// (`at_s`: where it is, seconds into the file).
    #[inline]
    pub fn repair(&mut self, sample: &mut f32, at_s: impl FnOnce() -> f64) {
        if sample.abs() <= MAX_SAMPLE {
            return;
        }
        if sample.is_finite() {
            self.absurd += 1;
            if self.first_absurd_s.is_none() {
                self.first_absurd_s = Some(at_s());
            }
        } else {
            self.non_finite += 1;
            if self.first_non_finite_s.is_none() {
                self.first_non_finite_s = Some(at_s());
            }
        }
        *sample = 0.0;
    }

    /// Keeps the larger counts of two reports of the same file (a stream reads it more than once when it loops).
    pub fn merge(&mut self, other: &Repairs) {
        if other.non_finite > self.non_finite {
            self.non_finite = other.non_finite;
            self.first_non_finite_s = other.first_non_finite_s;
        }
        if other.absurd > self.absurd {
            self.absurd = other.absurd;
            self.first_absurd_s = other.first_absurd_s;
        }
        if other.damaged_packets > self.damaged_packets {
            self.damaged_packets = other.damaged_packets;
            self.first_damaged_s = other.first_damaged_s;
        }
    }
}

impl fmt::Display for Repairs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.non_finite > 0 {
            parts.push(format!(
                "{} non-finite sample{} (NaN or infinity) replaced by silence, the first at {:.3} s",
                self.non_finite,
                if self.non_finite == 1 { "" } else { "s" },
                self.first_non_finite_s.unwrap_or(0.0)
            ));
        }
        if self.absurd > 0 {
            parts.push(format!(
                "{} sample{} far past full scale (beyond ±{MAX_SAMPLE}, +36 dBFS) replaced by silence, the first at \
                 {:.3} s",
                self.absurd,
                if self.absurd == 1 { "" } else { "s" },
                self.first_absurd_s.unwrap_or(0.0)
            ));
        }
        if self.damaged_packets > 0 {
            parts.push(format!(
                "{} damaged packet{} played as silence, the first at {:.3} s",
                self.damaged_packets,
                if self.damaged_packets == 1 { "" } else { "s" },
                self.first_damaged_s.unwrap_or(0.0)
            ));
        }
        f.write_str(&parts.join("; "))
    }
}
