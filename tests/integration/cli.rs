//! The command line as a user meets it: exit codes, messages, `new`, `inspect`, `render`.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::*;

fn proxemix(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_proxemix")).args(args).current_dir(cwd).output().expect("run proxemix")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn hostile_scenes_exit_with_code_2_and_say_why() {
    let dir = TempDir::new("cli-hostile");
    write_mono_wav(&dir.path("a.wav"), &noise(4800, 0.1, 1));
    let good = scene_text(&[stem("a", "a.wav", (0.0, 1.2, -1.0), 1.0, 0.0)], 0.0);
    let cases = [
        ("nan.ron", good.replace("(0.0, 1.2, -1.0)", "(NaN, 1.2, -1.0)"), "stems[0].position (x)"),
        ("inf.ron", good.replace("(0.0, 1.2, -1.0)", "(0.0, inf, -1.0)"), "not a finite number"),
        ("negative.ron", good.replace("size: 1.0", "size: -2.0"), "stems[0].size"),
        ("huge.ron", good.replace("decay_s: 1.2", "decay_s: 1e30"), "room.decay_s"),
        ("unknown.ron", good.replace("gain_db:", "gian_db:"), "gian_db"),
        ("syntax.ron", good.replacen(')', "", 1), ""), // unbalanced brackets
        ("missing.ron", good.replace("a.wav", "nowhere.wav"), "nowhere.wav"),
        ("binary.ron", "\u{0}\u{1}\u{2}garbage".to_string(), "binary.ron"),
    ];
    for (name, text, needle) in cases {
        std::fs::write(dir.path(name), &text).unwrap();
        for args in [vec!["inspect", name], vec!["render", name, "-o", "out.wav"]] {
            if name == "missing.ron" && args[0] == "inspect" {
                continue; // inspect does not open audio
            }
            let o = proxemix(&args, &dir.0);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
            assert!(err.contains(name), "{args:?} should name the file: {err}");
            assert!(err.contains(needle), "{args:?} should say {needle:?}: {err}");
            assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        }
    }
    assert!(!dir.path("out.wav").exists(), "no output from a failed render");
    let o = proxemix(&["inspect", "does-not-exist.ron"], &dir.0);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("does-not-exist.ron"));
}

#[test]
fn new_inspect_and_render_a_folder_of_mixed_stems() {
    let dir = TempDir::new("cli-new");
    let stems = dir.path("stems");
    std::fs::create_dir_all(&stems).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for f in ["wav24.wav", "flac44k.flac", "vorbis.ogg", "mp3mono.mp3"] {
        std::fs::copy(fixtures.join(f), stems.join(f)).unwrap();
    }
    std::fs::write(stems.join("notes.txt"), "not audio").unwrap();
    std::fs::write(stems.join("broken.wav"), "RIFF....WAVEfmt garbage").unwrap();
    let o = proxemix(&["new", "stems", "-o", "mix.ron"], &dir.0);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("notes.txt") && err.contains("not an audio file"), "{err}");
    assert!(err.contains("broken.wav"), "{err}");
    let scene = proxemix::scene::Scene::load(&dir.path("mix.ron")).unwrap();
    assert_eq!(scene.stems.len(), 4);
    for s in &scene.stems {
        let d = proxemix::mix::mapping::distance_from_ears(s.position_array());
        assert_eq!(proxemix::mix::mapping::Zone::at(d), proxemix::mix::mapping::Zone::Social, "{}", s.name);
    }
    // `new` refuses to overwrite the user's scene.
    let again = proxemix(&["new", "stems", "-o", "mix.ron"], &dir.0);
    assert_eq!(again.status.code(), Some(2));

    let o = proxemix(&["inspect", "mix.ron"], &dir.0);
    assert!(o.status.success());
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("social") && table.contains("wav24"), "{table}");

    let o = proxemix(&["render", "mix.ron", "-o", "mix.wav", "--bits", "16"], &dir.0);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("LUFS") && out.contains("dBTP"), "{out}");
    let reader = hound::WavReader::open(dir.path("mix.wav")).unwrap();
    assert_eq!(reader.spec().bits_per_sample, 16);
    assert_eq!(reader.spec().sample_rate, 48_000);
    assert!(reader.duration() > 48_000 / 2, "song plus reverb tail");
}

#[test]
fn a_folder_of_daw_exports_with_spaces_and_repeated_names_becomes_a_scene_that_renders() {
    let dir = TempDir::new("cli-daw");
    let stems = dir.path("my song stems");
    std::fs::create_dir_all(&stems).unwrap();
    // As LMMS writes them (every track called "Default preset"), and the same name twice in two formats.
    for (i, name) in ["1_Default preset.wav", "2_Default preset.wav", "Default preset.wav"].iter().enumerate() {
        write_mono_wav(&stems.join(name), &noise(SR as usize, 0.2, i as u32 + 1));
    }
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/flac44k.flac"),
        stems.join("Default preset.flac"),
    )
    .unwrap();
    let o = proxemix(&["new", "my song stems", "-o", "my song.ron"], &dir.0);
    assert!(o.status.success(), "{}", stderr(&o));
    let scene = proxemix::scene::Scene::load(&dir.path("my song.ron")).unwrap();
    let mut names: Vec<&str> = scene.stems.iter().map(|s| s.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["1_Default preset", "2_Default preset", "Default preset", "Default preset 2"]);
    let o = proxemix(&["render", "my song.ron", "-o", "my mix.wav", "--jobs", "2", "--bits", "32f"], &dir.0);
    assert!(o.status.success(), "{}", stderr(&o));
    let (l, r) = read_stereo(&dir.path("my mix.wav"));
    assert!(energy(&l) > 1.0 && energy(&r) > 1.0, "every stem is heard");
}

#[test]
fn render_without_a_cue_hears_what_the_cue_did_and_an_unknown_cue_is_named() {
    let dir = TempDir::new("cli-without");
    write_mono_wav(&dir.path("tone.wav"), &low_chord(SR as usize, 0.3));
    // Far away and high up, off to the side: every cue has something to do.
    let scene = dir.path("far.ron");
    std::fs::write(&scene, scene_text(&[stem("tone", "tone.wav", (3.0, 3.0, -8.0), 1.0, 0.0)], -60.0)).unwrap();
    let render = |name: &str, without: &[&str]| {
        let out = dir.path(name);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_proxemix"));
        cmd.arg("render").arg(&scene).arg("-o").arg(&out).args(["--sample-rate", &SR.to_string(), "--bits", "32f"]);
        if !without.is_empty() {
            cmd.arg("--without").arg(without.join(","));
        }
        let run = cmd.output().unwrap();
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        read_stereo(&out)
    };
    let level = |(l, r): &(Vec<f32>, Vec<f32>)| db(energy(l) + energy(r));
    let all = render("all.wav", &[]);
    let no_level = render("no-level.wav", &["level"]);
    let gained = level(&no_level) - level(&all);
    // The level cue is what the mapping's dry level says (air off too, so the spectrum does not move the energy).
    // The mapping's mix of the body in this scene, with the given cues.
    let mapped = |cues| {
        let placement = proxemix::mix::mapping::Placement {
            position: [3.0, 3.0, -8.0],
            size: 1.0,
            gain_db: 0.0,
            spoil: 0.0,
            send_db: 0.0,
            audible: true,
        };
        let room = proxemix::scene::Scene::load(&scene).unwrap().room;
        proxemix::mix::mapping::stem_mix_with(&placement, &room, cues)
    };
    let dry_db = |cues| mapped(cues).dry_db.unwrap() as f64;
    let mut off = proxemix::mix::mapping::Cues::ALL;
    off.switch_off("level").unwrap();
    let law = dry_db(off) - dry_db(proxemix::mix::mapping::Cues::ALL);
    let no_level_no_air = render("no-level-air.wav", &["level", "air"]);
    let no_air = render("no-air.wav", &["air"]);
    let heard = level(&no_level_no_air) - level(&no_air);
    eprintln!("--without level: +{gained:.2} dB (+{heard:.2} dB with air off too); the mapping: +{law:.2} dB");
    assert!(
        law > 6.0 && (heard - law).abs() < 0.5,
        "--without level gives back the level cue: {heard:.2} vs {law:.2} dB"
    );
    // --without width: the image keeps the width the mapping gives with the cue off; a wider image is less
    // correlated between left and right.
    let width = |cues| mapped(cues).width;
    let mut off = proxemix::mix::mapping::Cues::ALL;
    off.switch_off("width").unwrap();
    let (narrow, wide) = (width(proxemix::mix::mapping::Cues::ALL), width(off));
    let no_width = render("no-width.wav", &["width"]);
    let corr = |(l, r): &(Vec<f32>, Vec<f32>)| correlation(l, r);
    let (on, without) = (corr(&all), corr(&no_width));
    eprintln!("--without width: width {narrow:.2} → {wide:.2}, correlation {on:.3} → {without:.3}");
    assert!(wide > narrow + 0.1, "the width cue narrows a far body: {narrow} vs {wide} without it");
    assert!(without < on - 0.02, "and without it the image is wider: correlation {on:.3} → {without:.3}");
    // An unknown cue is named, with the list.
    let run = Command::new(env!("CARGO_BIN_EXE_proxemix"))
        .arg("render")
        .arg(&scene)
        .arg("-o")
        .arg(dir.path("x.wav"))
        .args(["--without", "loudness"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(err.contains("--without loudness") && err.contains("direct-to-reverb"), "{err}");
    assert!(!dir.path("x.wav").exists(), "nothing written");
}
