//! Determinism, clean output, the limiter's ceiling, and hostile scenes and audio.

use proxemix::mix::input as import;
use proxemix::mix::offline::{self, RenderOptions};
use proxemix::scene::Scene;

use crate::common::*;

const EAR: f32 = proxemix::mix::mapping::EAR_HEIGHT_M;

fn busy_scene(dir: &TempDir) -> String {
    write_mono_wav(&dir.path("a.wav"), &noise(SR as usize * 2, 0.3, 5));
    write_mono_wav(&dir.path("b.wav"), &low_chord(SR as usize * 2, 0.4));
    scene_text(
        &[
            // Spoiled, so that the spoil stages (noise included) are held to the same determinism.
            spoiled(stem("a", "a.wav", (-1.0, 2.5, -0.4), 2.0, -3.0), 0.7),
            stem("b", "b.wav", (3.0, 0.2, -6.0), 0.5, 0.0),
            stem("c", "a.wav", (0.0, EAR, 5.0), 6.0, -6.0),
        ],
        0.0,
    )
}

#[test]
fn the_same_scene_renders_bit_identically_at_any_block_size() {
    let dir = TempDir::new("determinism");
    let scene = busy_scene(&dir);
    let first = render(&dir, &scene, "one", Some(3.0), 512);
    let again = render(&dir, &scene, "two", Some(3.0), 512);
    assert!(first == again, "two renders of one scene differ");
    for block in [100, 4096] {
        let other = render(&dir, &scene, &format!("block{block}"), Some(3.0), block);
        let worst = first
            .0
            .iter()
            .zip(&other.0)
            .chain(first.1.iter().zip(&other.1))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        let worst_db = 20.0 * (worst.max(1e-30) as f64).log10();
        assert!(worst_db <= -120.0, "block {block}: differs by {worst_db:.1} dBFS");
        // Every sample the same, in fact: nothing in the graph depends on where a block ends.
        assert!(other == first, "block {block}: not bit-identical (worst {worst_db:.1} dBFS)");
    }
    assert_clean(&first.0);
    assert_clean(&first.1);
    // The file on disk is the same bytes too.
    assert_eq!(std::fs::read(dir.path("one-render.wav")).unwrap(), std::fs::read(dir.path("two-render.wav")).unwrap());
}

#[test]
fn a_worst_case_scene_stays_under_the_ceiling() {
    let dir = TempDir::new("ceiling");
    // Full-scale noise and square-ish chords, all at the listener's head, big and boosted.
    write_mono_wav(&dir.path("n.wav"), &noise(SR as usize * 2, 1.0, 9));
    let square: Vec<f32> = low_chord(SR as usize * 2, 1.0).iter().map(|v| v.signum()).collect();
    write_mono_wav(&dir.path("s.wav"), &square);
    let stems: Vec<String> = (0..8)
        .map(|i| stem(&format!("s{i}"), if i % 2 == 0 { "n.wav" } else { "s.wav" }, (0.0, EAR, 0.0), 10.0, 24.0))
        .collect();
    let scene_path = dir.path("worst.ron");
    std::fs::write(&scene_path, scene_text(&stems, 12.0)).unwrap();
    let (scene, audio) = proxemix::commands::load_for_render(&scene_path, SR).unwrap();
    let rendered =
        offline::render(&scene, &audio, &RenderOptions { seconds: Some(2.0), ..Default::default() }, &mut |_| {})
            .unwrap();
    assert_clean(&rendered.interleaved);
    let tp = rendered.loudness.true_peak_dbtp;
    eprintln!("worst case: {}", rendered.loudness);
    assert!(
        tp <= scene.ceiling_dbtp as f64 + 0.05,
        "true peak {tp:.2} dBTP over the {} dBTP ceiling",
        scene.ceiling_dbtp
    );
    assert!(rendered.loudness.integrated_lufs > -12.0, "the limiter should be working, not muting");
}

#[test]
fn normalising_reaches_the_target_loudness() {
    let dir = TempDir::new("normalize");
    let scene_path = dir.path("s.ron");
    std::fs::write(&scene_path, busy_scene(&dir)).unwrap();
    let (scene, audio) = proxemix::commands::load_for_render(&scene_path, SR).unwrap();
    let options = RenderOptions { seconds: Some(2.0), normalize_lufs: Some(-20.0), ..Default::default() };
    let rendered = offline::render(&scene, &audio, &options, &mut |_| {}).unwrap();
    assert!((rendered.loudness.integrated_lufs + 20.0).abs() < 0.3, "{}", rendered.loudness);
}

#[test]
fn hostile_audio_files_are_refused_with_a_reason() {
    let dir = TempDir::new("hostile-audio");
    let good = dir.path("good.wav");
    write_mono_wav(&good, &noise(SR as usize, 0.3, 1));
    let bytes = std::fs::read(&good).unwrap();
    // Empty.
    std::fs::write(dir.path("empty.wav"), b"").unwrap();
    // Truncated: header says one second, half the data is gone.
    std::fs::write(dir.path("truncated.wav"), &bytes[..bytes.len() / 2]).unwrap();
    // Mislabelled: text with an audio extension.
    std::fs::write(dir.path("text.mp3"), "this is not audio\n".repeat(200)).unwrap();
    // Garbage after a valid RIFF header start.
    let mut garbage = bytes[..12].to_vec();
    garbage.extend(noise(4000, 1.0, 2).iter().map(|v| (v * 127.0) as i8 as u8));
    std::fs::write(dir.path("garbage.wav"), &garbage).unwrap();
    // Six channels.
    let spec =
        hound::WavSpec { channels: 6, sample_rate: SR, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(dir.path("surround.wav"), spec).unwrap();
    for _ in 0..6000 {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
    // A float WAV holding NaN.
    let mut with_nan = noise(1000, 0.3, 4);
    with_nan[500] = f32::NAN;
    write_mono_wav(&dir.path("nan.wav"), &with_nan);
    // A header claiming days of audio (patched data chunk size, no data behind it).
    let mut huge = bytes[..44].to_vec();
    huge[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(dir.path("huge.wav"), &huge).unwrap();
    // A folder with an audio file's name.
    std::fs::create_dir(dir.path("folder.wav")).unwrap();

    for (file, reason) in [
        ("empty.wav", "empty"),
        ("truncated.wav", "truncated"),
        ("text.mp3", "not a readable"),
        ("garbage.wav", ""),
        ("surround.wav", "6 channels"),
        ("huge.wav", ""),
        ("missing.wav", "cannot open"),
        ("folder.wav", "is a folder"),
    ] {
        let path = dir.path(file);
        let err = import::load(&path, SR).expect_err(file);
        let text = err.to_string();
        eprintln!("{text}");
        assert!(text.contains(file), "{text}");
        assert!(text.contains(reason), "{file}: {text}");
    }
    // A NaN is repaired, not refused: the file plays, with the sample silenced and reported.
    let (repaired, repairs) =
        import::load_reporting(&proxemix::files::FileSource::disk(), &dir.path("nan.wav"), SR).unwrap();
    assert_eq!(repaired.frames[500], kira::Frame::ZERO);
    assert_eq!(repairs.non_finite, 1, "{repairs}");
    assert!(repairs.to_string().contains("non-finite"), "{repairs}");
    // The good file still loads, and a scene with one bad stem names the bad one.
    assert!(import::load(&good, SR).is_ok());
    let scene = scene_text(
        &[
            stem("good", "good.wav", (0.0, EAR, -1.0), 1.0, 0.0),
            stem("bad", "truncated.wav", (1.0, EAR, -1.0), 1.0, 0.0),
        ],
        0.0,
    );
    let path = dir.path("mixed.ron");
    std::fs::write(&path, scene).unwrap();
    let loaded = Scene::load(&path).unwrap();
    let results = proxemix::commands::load_scene_audio(&path, &loaded, SR);
    assert!(results[0].is_ok() && results[1].is_err());
    let err = proxemix::commands::load_for_render(&path, SR).unwrap_err().to_string();
    assert!(err.contains("truncated.wav") && err.contains("\"bad\"") && err.contains("1 of 2"), "{err}");
}

#[test]
fn a_failed_export_leaves_the_old_file_alone() {
    let dir = TempDir::new("atomic");
    let out = dir.path("mix.wav");
    std::fs::write(&out, b"the user's earlier export").unwrap();
    // A scene whose stem is missing fails before anything is written.
    let scene = scene_text(&[stem("gone", "gone.wav", (0.0, EAR, -1.0), 1.0, 0.0)], 0.0);
    std::fs::write(dir.path("s.ron"), scene).unwrap();
    let options = RenderOptions::default();
    assert!(
        proxemix::commands::render_to_wav(
            &dir.path("s.ron"),
            &out,
            &options,
            offline::WavFormat::Int16,
            &Default::default(),
            &mut |_| {}
        )
        .is_err()
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"the user's earlier export");
    // Writing into a folder that does not exist fails without leaving temporary files behind.
    let rendered = offline::Rendered::from_samples(SR, vec![0.0; 96]);
    assert!(offline::write_wav(&dir.path("no/such/dir/x.wav"), &rendered, offline::WavFormat::Int24).is_err());
    let leftovers: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn stems_start_on_the_same_sample() {
    // A stem and its polarity-inverted copy at the same place cancel exactly, but only if they start together.
    let dir = TempDir::new("alignment");
    let signal = noise(SR as usize, 0.5, 21);
    let inverted: Vec<f32> = signal.iter().map(|v| -v).collect();
    write_mono_wav(&dir.path("a.wav"), &signal);
    write_mono_wav(&dir.path("b.wav"), &inverted);
    let pos = (0.7, 1.6, -1.3);
    let together = scene_text(&[stem("a", "a.wav", pos, 1.5, 0.0), stem("b", "b.wav", pos, 1.5, 0.0)], 0.0);
    for block in [64, 512, 1000] {
        let (l, r) = render(&dir, &together, &format!("null{block}"), Some(1.5), block);
        let residue = l.iter().chain(&r).fold(0.0f32, |m, v| m.max(v.abs()));
        assert_eq!(residue, 0.0, "block {block}: the two stems do not cancel (peak residue {residue})");
    }
    // The test can tell: one stem alone is far from silent.
    let alone = scene_text(&[stem("a", "a.wav", pos, 1.5, 0.0)], 0.0);
    let (l, _) = render(&dir, &alone, "alone", Some(1.5), 512);
    assert!(l.iter().fold(0.0f32, |m, v| m.max(v.abs())) > 0.05);
}

#[test]
fn seeks_and_pauses_keep_every_stem_on_the_same_sample() {
    use proxemix::mix::graph::GraphConfig;
    use proxemix::mix::offline::OfflineGraph;
    // The stage's transport restarts every stem from a new position on one clock tick; a stem and its inverted
    // copy must still cancel exactly through every seek, crossfade and pause.
    let dir = TempDir::new("transport");
    let signal = noise(SR as usize * 2, 0.5, 5);
    let inverted: Vec<f32> = signal.iter().map(|v| -v).collect();
    let frames = |s: &[f32]| s.iter().map(|v| kira::Frame { left: *v, right: *v }).collect::<Vec<_>>();
    let audio = vec![
        Some(proxemix::mix::input::Audio::from_frames(SR, frames(&signal)).into()),
        Some(proxemix::mix::input::Audio::from_frames(SR, frames(&inverted)).into()),
    ];
    let pos = (0.4, 1.2, -1.7);
    for (with_inverse, label) in [(true, "both"), (false, "one muted")] {
        let mut b = stem("b", "b.wav", pos, 1.5, 0.0);
        if !with_inverse {
            b = b.replace("gain_db: 0.0)", "gain_db: 0.0, muted: true)");
        }
        let text = scene_text(&[stem("a", "a.wav", pos, 1.5, 0.0), b], -3.0);
        let scene = proxemix::scene::Scene::parse(&text, &dir.path("t.ron")).unwrap();
        let config = GraphConfig { looping: true, cues: Default::default(), ..GraphConfig::offline(SR) };
        let mut graph = OfflineGraph::offline(&scene, &audio, config).unwrap();
        let mut peak = 0.0f32;
        let mut render = |graph: &mut OfflineGraph, frames: usize| {
            let mut out = vec![0.0f32; 2 * frames];
            for chunk in out.chunks_mut(2 * 300) {
                graph.backend_mut().render_block(chunk);
            }
            peak = out.iter().fold(peak, |m, v| m.max(v.abs()));
        };
        graph.play_from(0.5).unwrap();
        render(&mut graph, 7_000);
        for seek in [1.234, 0.1, 1.9, 0.777] {
            graph.play_from(seek).unwrap(); // mid-block, while the last sounds still fade out
            render(&mut graph, 3_001);
        }
        let before_pause = graph.position_s();
        graph.pause();
        render(&mut graph, 4_800);
        assert!(!graph.is_playing(), "{label}: paused");
        assert!((graph.position_s() - before_pause).abs() < 0.01, "{label}: the playhead waits while paused");
        graph.play_from(graph.position_s()).unwrap();
        render(&mut graph, 2_000);
        assert!(graph.is_playing());
        if with_inverse {
            assert_eq!(peak, 0.0, "the stems drifted apart across seeks (peak residue {peak})");
        } else {
            assert!(peak > 0.05, "the test can tell: one stem alone is heard (peak {peak})");
        }
    }
}
