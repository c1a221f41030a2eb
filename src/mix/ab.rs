//! Loudness-matched A/B: the master trim each scene needs so that every scene in a comparison plays at the same
//! integrated loudness (the quietest one's, so nothing is pushed into the limiter) and louder never wins.

use super::graph::GraphError;
use super::input::source::StemSource;
use super::offline::{self, RenderOptions};
use crate::scene::Scene;

/// The match is done when every scene is this close to the target (LU).
pub const MATCH_TOLERANCE_LU: f64 = 0.1;
/// Renders per scene at most (the limiter makes the first trim slightly wrong for a loud scene).
const MAX_PASSES: usize = 4;

/// What the match found for one scene.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Matched {
    /// Integrated loudness as the scene stands (LUFS).
    pub measured_lufs: f64,
    /// Master trim to add (dB); 0 for the quietest scene.
    pub trim_db: f32,
    /// Integrated loudness with the trim (LUFS).
    pub matched_lufs: f64,
}

/// Whether `b` can be compared with `a` on one stage: the same stems (names and files) in the same order, so
/// one set of decoded audio and one graph serve both.
pub fn compatible(a: &Scene, b: &Scene) -> Result<(), String> {
    if a.stems.len() != b.stems.len() {
        return Err(format!("\"{}\" has {} stems, \"{}\" {}", a.name, a.stems.len(), b.name, b.stems.len()));
    }
    for (x, y) in a.stems.iter().zip(&b.stems) {
        if x.name != y.name || x.file != y.file {
            return Err(format!(
                "stem \"{}\" ({}) in \"{}\" is \"{}\" ({}) in \"{}\"; A/B needs the same stems in the same order",
                x.name, x.file, a.name, y.name, y.file, b.name
            ));
        }
    }
    Ok(())
}

/// Renders each scene (timeline and all) and finds the master trims that bring them to one integrated
/// loudness. `progress` gets 0..1.
pub fn match_loudness(
    scenes: &[Scene],
    audio: &[Option<StemSource>],
    options: &RenderOptions,
    progress: &mut dyn FnMut(f64),
) -> Result<Vec<Matched>, GraphError> {
    let options = RenderOptions { normalize_lufs: None, ..*options };
    let total = (scenes.len() * 2).max(1) as f64;
    let mut done = 0.0;
    let mut measure = |scene: &Scene, trim_db: f32| -> Result<f64, GraphError> {
        let mut trimmed = scene.clone();
        trimmed.master_gain_db = with_trim(scene, trim_db);
        let rendered = offline::render(&trimmed, audio, &options, &mut |_| {})?;
        done += 1.0;
        progress((done / total).min(1.0));
        Ok(rendered.loudness.integrated_lufs)
    };
    let mut matched = Vec::with_capacity(scenes.len());
    for scene in scenes {
        let l = measure(scene, 0.0)?;
        matched.push(Matched { measured_lufs: l, trim_db: 0.0, matched_lufs: l });
    }
    let target = matched.iter().map(|m| m.measured_lufs).filter(|l| l.is_finite()).fold(f64::INFINITY, f64::min);
    if !target.is_finite() {
        return Ok(matched);
    }
    for (scene, m) in scenes.iter().zip(matched.iter_mut()) {
        if !m.measured_lufs.is_finite() {
            continue;
        }
        // Turning down is linear until the limiter lets go; a scene that was limiting comes out a little
        // louder than asked, so correct by what was measured until it lands.
        for _ in 0..MAX_PASSES {
            if (m.matched_lufs - target).abs() <= MATCH_TOLERANCE_LU {
                break;
            }
            m.trim_db += (target - m.matched_lufs) as f32;
            m.matched_lufs = measure(scene, m.trim_db)?;
        }
    }
    progress(1.0);
    Ok(matched)
}

/// The scene's master gain with an A/B trim added, kept inside the format's range.
pub fn with_trim(scene: &Scene, trim_db: f32) -> f32 {
    let (lo, hi) = crate::scene::limits::GAIN_DB;
    (scene.master_gain_db + trim_db).clamp(lo, hi)
}
