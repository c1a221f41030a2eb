//! Scene text in: parsed, validated and, where valid, its timeline resolved and stepped as the engine steps it,
//! its cues mapped and `inspect`'s table printed. Anything may be refused; nothing may panic or run long.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use proxemix::scene::Scene;
use proxemix::scene::timeline::Resolved;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    let Ok(scene) = Scene::parse(text, Path::new("fuzz.ron")) else { return };
    let resolved = Resolved::of(&scene).expect("a valid scene resolves");
    let end = resolved.last_event_s(scene.stems.len()).max(resolved.sections_end_s());
    assert!(end.is_finite() && end <= 3600.0, "a valid scene's timeline ends within the hour: {end}");
    let mut at = scene.clone();
    for k in 0..=16 {
        resolved.apply_at(&scene, end * k as f64 / 16.0, &mut at);
    }
    let _ = proxemix::mix::mapping::scene_mix(&at);
    let _ = proxemix::commands::inspect(&scene);
    // What is written reads back as the same scene.
    let again = Scene::parse(&scene.to_ron(), Path::new("again.ron")).expect("a written scene reads back");
    assert_eq!(again.stems.len(), scene.stems.len());
});
