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
