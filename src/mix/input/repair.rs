//! What had to be repaired to play a file (non-finite samples, damaged packets): counted, located, reported once.

use std::fmt;

/// What had to be repaired to play a file: reported once per file, the stem plays.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Repairs {
    /// Samples that were NaN or infinite, replaced by silence.
    pub non_finite: u64,
    /// Where the first one was (seconds into the file).
    pub first_non_finite_s: Option<f64>,
    /// Packets the decoder could not decode, played as silence.
    pub damaged_packets: u64,
    /// Where the first one was (seconds into the file).
    pub first_damaged_s: Option<f64>,
}

impl Repairs {
    /// Whether anything had to be repaired.
    pub fn any(&self) -> bool {
        self.non_finite > 0 || self.damaged_packets > 0
    }

    /// Keeps the larger counts of two reports of the same file (a stream reads it more than once when it loops).
    pub fn merge(&mut self, other: &Repairs) {
        if other.non_finite > self.non_finite {
            self.non_finite = other.non_finite;
            self.first_non_finite_s = other.first_non_finite_s;
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
