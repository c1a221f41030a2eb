//! Decoding every supported format and resampling to the engine rate.

use std::path::PathBuf;

use proxemix::files::FileSource;
use proxemix::mix::input as import;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// Frequency of a channel by counting upward zero crossings.
fn frequency(samples: &[f32], rate: u32) -> f64 {
    let crossings = samples.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
    crossings as f64 * rate as f64 / samples.len() as f64
}

#[test]
fn every_format_decodes_to_the_same_tone_at_the_engine_rate() {
    let sine_rms_db = -12.0 - 3.01; // -12 dBFS peak sine
    for (file, stereo, lossy) in [
        ("wav16.wav", true, false),
        ("wav24.wav", true, false),
        ("wav32i.wav", true, false),
        ("wav32f.wav", true, false),
        ("mono44k.wav", false, false),
        ("flac44k.flac", true, false),
        ("vorbis.ogg", true, true),
        ("mp3mono.mp3", false, true),
        ("stereo48k.mp3", true, true),
    ] {
        let audio = import::load(&fixture(file), 48_000).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(audio.sample_rate, 48_000);
        let seconds = audio.duration_s();
        // MP3 encoders pad; symphonia trims the padding when the header says how much.
        let tolerance = if lossy { 0.06 } else { 0.002 };
        assert!((seconds - 0.5).abs() < tolerance, "{file}: {seconds} s");
        let body = &audio.frames[2400..audio.frames.len() - 2400];
        let left: Vec<f32> = body.iter().map(|f| f.left).collect();
        let right: Vec<f32> = body.iter().map(|f| f.right).collect();
        let f_left = frequency(&left, 48_000);
        assert!((f_left - 440.0).abs() < 6.0, "{file}: left at {f_left} Hz");
        let want_right = if stereo { 660.0 } else { 440.0 };
        let f_right = frequency(&right, 48_000);
        assert!((f_right - want_right).abs() < 6.0, "{file}: right at {f_right} Hz");
        let rms_db = 10.0 * (left.iter().map(|v| (v * v) as f64).sum::<f64>() / left.len() as f64).log10();
        assert!((rms_db - sine_rms_db).abs() < if lossy { 0.5 } else { 0.1 }, "{file}: {rms_db:.2} dB");
        assert_eq!(audio.source_channels, if stereo { 2 } else { 1 }, "{file}");
    }
}

#[test]
fn resampling_keeps_pitch_and_level_and_removes_nothing_audible() {
    // 44.1 kHz → 48 kHz and → 96 kHz.
    for rate in [48_000, 96_000] {
        let audio = import::load(&fixture("mono44k.wav"), rate).unwrap();
        let n = audio.frames.len() as f64;
        assert!((n / rate as f64 - 0.5).abs() < 0.002);
        let body: Vec<f32> =
            audio.frames[rate as usize / 20..audio.frames.len() - rate as usize / 20].iter().map(|f| f.left).collect();
        assert!((frequency(&body, rate) - 440.0).abs() < 4.0);
    }
}

#[test]
fn stems_load_in_parallel_with_separate_results() {
    let paths = vec![fixture("wav16.wav"), fixture("nope.wav"), fixture("vorbis.ogg")];
    let results = import::load_all(&FileSource::disk(), &paths, 48_000);
    assert!(results[0].is_ok());
    assert!(results[1].as_ref().unwrap_err().to_string().contains("nope.wav"));
    assert!(results[2].is_ok());
}
