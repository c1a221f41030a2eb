//! The placement quiz's score: how far each guessed body is from where the scene put it, in distance (as
//! heard: a ratio, since the level law is logarithmic) and in direction from the listener's ears.

use super::mapping::{EAR_HEIGHT_M, distance_from_ears};
use crate::scene::Scene;

/// One stem's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// The stem.
    pub name: String,
    /// Where it is (m from the ears).
    pub true_distance_m: f32,
    /// Where the class put it (m from the ears).
    pub guessed_distance_m: f32,
    /// Guess minus truth (metres): negative means placed too close.
    pub distance_error_m: f32,
    /// Angle between the directions to the guess and to the truth, seen from the ears (degrees, 0..180).
    pub angle_error_deg: f32,
    /// 0..100: half for distance (an octave off scores nothing), half for direction (90° off scores nothing).
    pub points: f32,
}

/// Scores each stem of `guess` against the same stem (by name) of `truth`.
pub fn score(truth: &Scene, guess: &Scene) -> Vec<Answer> {
    truth
        .stems
        .iter()
        .filter_map(|t| {
            let g = guess.stems.iter().find(|g| g.name == t.name)?;
            let (tp, gp) = (t.position_array(), g.position_array());
            let (td, gd) = (distance_from_ears(tp), distance_from_ears(gp));
            let direction = |p: [f32; 3], d: f32| [p[0] / d, (p[1] - EAR_HEIGHT_M) / d, p[2] / d];
            let (a, b) = (direction(tp, td), direction(gp, gd));
            let cos = (a[0] * b[0] + a[1] * b[1] + a[2] * b[2]).clamp(-1.0, 1.0);
            let angle_error_deg = cos.acos().to_degrees();
            let distance_score = (1.0 - (gd / td).log2().abs()).max(0.0);
            let angle_score = (1.0 - angle_error_deg / 90.0).max(0.0);
            Some(Answer {
                name: t.name.clone(),
                true_distance_m: td,
                guessed_distance_m: gd,
                distance_error_m: gd - td,
                angle_error_deg,
                points: 50.0 * (distance_score + angle_score),
            })
        })
        .collect()
}

/// Mean absolute distance error (m), mean angle error (degrees) and mean points.
pub fn summary(answers: &[Answer]) -> (f32, f32, f32) {
    let n = answers.len().max(1) as f32;
    (
        answers.iter().map(|a| a.distance_error_m.abs()).sum::<f32>() / n,
        answers.iter().map(|a| a.angle_error_deg).sum::<f32>() / n,
        answers.iter().map(|a| a.points).sum::<f32>() / n,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn scene(positions: &[(f32, f32, f32)]) -> Scene {
        let stems: Vec<String> = positions
            .iter()
            .enumerate()
            .map(|(i, p)| format!("(name: \"s{i}\", file: \"s.wav\", position: ({:?}, {:?}, {:?}))", p.0, p.1, p.2))
            .collect();
        let text = format!("(version: 2, name: \"q\", stems: [{}])", stems.join(","));
        Scene::parse(&text, Path::new("q.ron")).unwrap()
    }

    #[test]
    fn a_perfect_guess_scores_full_marks_and_errors_are_measured_from_the_ears() {
        let truth = scene(&[(0.0, 1.2, -2.0), (2.0, 1.2, 0.0)]);
        let answers = score(&truth, &truth);
        assert!(answers.iter().all(|a| a.points == 100.0 && a.angle_error_deg < 0.01));
        // Twice as far, same direction: no angle error, no distance points; a quarter turn: no angle points.
        let guess = scene(&[(0.0, 1.2, -4.0), (0.0, 1.2, -2.0)]);
        let answers = score(&truth, &guess);
        assert!((answers[0].distance_error_m - 2.0).abs() < 1e-5);
        assert!(answers[0].angle_error_deg < 0.01);
        assert!((answers[0].points - 50.0).abs() < 1e-3, "{}", answers[0].points);
        assert!((answers[1].angle_error_deg - 90.0).abs() < 1e-3);
        assert!((answers[1].points - 50.0).abs() < 1e-3);
        let (distance, angle, points) = summary(&answers);
        assert!((distance - 1.0).abs() < 1e-5 && (angle - 45.0).abs() < 1e-3 && (points - 50.0).abs() < 1e-3);
    }
}
