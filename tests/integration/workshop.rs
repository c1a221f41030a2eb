//! Workshop mode: each teaching scene's intent measured in its export, loudness-matched A/B, the timeline played
//! live (as the stage drives it) against the offline render, and the handout.

use std::path::PathBuf;

use proxemix::commands::{self, Selection};
use proxemix::mix::driver::MixState;
use proxemix::mix::graph::GraphConfig;
use proxemix::mix::mapping::Cues;
use proxemix::mix::offline::{self, OfflineGraph, RenderOptions};
use proxemix::mix::{StemSource, ab};
use proxemix::scene::Scene;
use proxemix::scene::timeline::Resolved;

use crate::common::{TempDir, db};

const SR: f64 = 48_000.0;
const DRUMS: [&str; 3] = ["kick", "snare", "overheads"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load(name: &str) -> (Scene, Vec<Option<StemSource>>) {
    commands::load_for_render(&root().join("scenes").join(name), 48_000).unwrap_or_else(|e| panic!("{e}"))
}

fn render(scene: &Scene, audio: &[Option<StemSource>], seconds: Option<f64>, cues: Cues) -> Vec<f32> {
    let options = RenderOptions { seconds, cues, ..Default::default() };
    offline::render(scene, audio, &options, &mut |_| {}).unwrap().interleaved
}

/// Mean square of both channels over [from, to) seconds.
fn power(x: &[f32], from: f64, to: f64) -> f64 {
    let (a, b) = ((from * SR) as usize * 2, ((to * SR) as usize * 2).min(x.len()));
    x[a..b].iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / (b - a).max(1) as f64
}

fn level_db(x: &[f32], from: f64, to: f64) -> f64 {
    db(power(x, from, to).max(1e-30))
}

fn solo_drums(scene: &Scene) -> Scene {
    let mut scene = scene.clone();
    let selection = Selection { solo: DRUMS.iter().map(|s| s.to_string()).collect(), mute: vec![] };
    selection.apply(&mut scene).unwrap();
    scene
}

#[test]
fn drop_the_drums_silences_the_drum_stems_in_the_pre_chorus_and_brings_them_back_on_the_downbeat() {
    let (scene, audio) = load("drop-the-drums.ron");
    let resolved = Resolved::of(&scene).unwrap();
    let section = |name: &str| resolved.sections.iter().find(|s| s.name == name).unwrap().clone();
    let (pre, chorus) = (section("pre-chorus"), section("chorus"));
    assert_eq!((pre.start_s, chorus.start_s), (15.0, 20.0), "the demo song's sections");
    // The drum stems' own sound: soloed, with the room off so no tail from the verse hides the cut.
    let mut drums = solo_drums(&scene);
    drums.room.reverb_db = proxemix::scene::limits::REVERB_DB.0;
    let mut no_timeline = drums.clone();
    no_timeline.stems.iter_mut().for_each(|s| s.keys.clear());
    let dropped = render(&drums, &audio, Some(22.0), Cues::ALL);
    let plain = render(&no_timeline, &audio, Some(22.0), Cues::ALL);
    // The first half of the pre-chorus has drums in the song (the second half is a break).
    let song_there = level_db(&plain, pre.start_s + 0.01, pre.start_s + 2.5);
    let dropped_there = level_db(&dropped, pre.start_s + 0.01, pre.end_s - 0.01);
    assert!(song_there > -40.0, "the drums play in the pre-chorus without the timeline: {song_there:.1} dB");
    assert!(
        song_there - dropped_there >= 40.0,
        "pre-chorus: {dropped_there:.1} dB with the drop against {song_there:.1} dB without (must be >= 40 dB down)"
    );
    // Back on the downbeat: the first sample that sounds, and the level just after, as without the drop.
    let first = (((chorus.start_s - 0.1) * SR) as usize..)
        .find(|&i| dropped[2 * i].abs().max(dropped[2 * i + 1].abs()) > 1e-4)
        .map(|i| i as f64 / SR)
        .unwrap();
    let plain_first = (((chorus.start_s - 0.1) * SR) as usize..)
        .find(|&i| plain[2 * i].abs().max(plain[2 * i + 1].abs()) > 1e-4)
        .map(|i| i as f64 / SR)
        .unwrap();
    eprintln!(
        "drums back at {first:.4} s (in the song at {plain_first:.4} s); pre-chorus {dropped_there:.1} dB, \
         {song_there:.1} dB without the drop"
    );
    assert!((first - chorus.start_s).abs() <= 0.010, "the drums come back at {first:.4} s");
    let after = (chorus.start_s + 0.010, chorus.start_s + 0.5);
    let (a, b) = (level_db(&dropped, after.0, after.1), level_db(&plain, after.0, after.1));
    assert!((a - b).abs() < 0.1, "10 ms after the downbeat the drums are back in full: {a:.2} vs {b:.2} dB");
}

/// The reverb return alone (the direct sound switched off) just before and 200 ms after the song's end.
fn tail_drop_db(name: &str) -> (f64, f64) {
    let (scene, audio) = load(name);
    let wet = render(&scene, &audio, None, Cues { direct: false, ..Cues::ALL });
    let end = 45.0;
    let before = level_db(&wet, end - 0.05, end);
    let after = level_db(&wet, end + 0.2, end + 0.25);
    (before, before - after)
}

#[test]
fn live_banter_cuts_the_effects_when_the_song_ends_and_distant_star_lets_them_ring() {
    let (banter_level, banter_drop) = tail_drop_db("live-banter.ron");
    let (star_level, star_drop) = tail_drop_db("distant-star.ron");
    eprintln!("reverb return 200 ms after the end: live-banter -{banter_drop:.1} dB, distant-star -{star_drop:.1} dB");
    assert!(banter_level > -60.0 && star_level > -60.0, "{banter_level:.1} / {star_level:.1} dB before the end");
    assert!(banter_drop >= 20.0, "live-banter's return falls only {banter_drop:.1} dB in 200 ms");
    assert!(star_drop < 20.0, "distant-star's return falls {star_drop:.1} dB in 200 ms (it should ring on)");
    assert!(star_drop > 0.0, "the tail decays");
}

/// Crest factor (peak over RMS, dB) and RMS level of the drum stems in a 30 s render.
fn drums_crest_and_level(name: &str) -> (f64, f64) {
    let (scene, audio) = load(name);
    let out = render(&solo_drums(&scene), &audio, Some(30.0), Cues::ALL);
    let peak = out.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
    let rms = power(&out, 0.0, 30.0).sqrt();
    (db(peak * peak / (rms * rms)), db(rms * rms))
}

#[test]
fn punchy_drums_are_louder_and_punchier_than_buried_drums() {
    let (punchy_crest, punchy_level) = drums_crest_and_level("punchy-drums.ron");
    let (buried_crest, buried_level) = drums_crest_and_level("buried-drums.ron");
    eprintln!(
        "drums: punchy crest {punchy_crest:.1} dB level {punchy_level:.1} dB; buried crest {buried_crest:.1} dB level {buried_level:.1} dB"
    );
    assert!(punchy_crest > buried_crest + 1.0, "crest {punchy_crest:.1} vs {buried_crest:.1} dB");
    assert!(punchy_level > buried_level + 3.0, "level {punchy_level:.1} vs {buried_level:.1} dB");
}

/// Every scene on the demo song.
fn demo_scenes() -> Vec<Scene> {
    let mut names: Vec<_> = std::fs::read_dir(root().join("scenes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ron"))
        .collect();
    names.sort();
    names.iter().map(|p| Scene::load(p).unwrap_or_else(|e| panic!("{e}"))).collect()
}

#[test]
fn ab_between_any_two_demo_scenes_is_loudness_matched() {
    let scenes = demo_scenes();
    assert!(scenes.len() >= 13, "{} scenes", scenes.len());
    let (_, audio) = load("demo.ron");
    for s in &scenes[1..] {
        ab::compatible(&scenes[0], s).unwrap();
    }
    let matched = ab::match_loudness(&scenes, &audio, &RenderOptions::default(), &mut |_| {}).unwrap();
    // Check the claim on fresh renders with the trims, as the stage would play them.
    let mut levels = Vec::new();
    for (scene, m) in scenes.iter().zip(&matched) {
        let mut trimmed = scene.clone();
        trimmed.master_gain_db = ab::with_trim(scene, m.trim_db);
        let l =
            offline::render(&trimmed, &audio, &RenderOptions::default(), &mut |_| {}).unwrap().loudness.integrated_lufs;
        eprintln!("{:<60} {:>6.1} LUFS, trim {:+5.1} dB -> {l:.2} LUFS", scene.name, m.measured_lufs, m.trim_db);
        assert!(m.trim_db <= 0.05, "the match only turns down: {}", m.trim_db);
        levels.push(l);
    }
    let spread = levels.iter().cloned().fold(f64::MIN, f64::max) - levels.iter().cloned().fold(f64::MAX, f64::min);
    let unmatched: Vec<f64> = matched.iter().map(|m| m.measured_lufs).collect();
    let before =
        unmatched.iter().cloned().fold(f64::MIN, f64::max) - unmatched.iter().cloned().fold(f64::MAX, f64::min);
    eprintln!("spread of integrated loudness: {before:.2} LU unmatched, {spread:.2} LU matched");
    assert!(before > 1.0, "the scenes differ in loudness before the match ({before:.2} LU)");
    assert!(spread <= 0.5, "matched scenes differ by {spread:.2} LU");
    let other = Scene { stems: scenes[0].stems[1..].to_vec(), ..scenes[0].clone() };
    assert!(ab::compatible(&scenes[0], &other).is_err());
}

#[test]
fn a_timeline_played_live_matches_the_offline_render_per_section() {
    let (scene, audio) = load("drop-the-drums.ron");
    let resolved = Resolved::of(&scene).unwrap();
    let offline_render = render(&scene, &audio, Some(45.0), Cues::ALL);
    // Live, as the stage does it: a device pulls blocks of 512 frames; 60 times a second the stage's bridge
    // hands the graph the scene's state (its timeline included). The engine steps the timeline in song time.
    let config = GraphConfig { looping: false, cues: Cues::ALL, ..GraphConfig::offline(48_000) };
    let mut graph = OfflineGraph::offline(&scene, &audio, config).unwrap();
    graph.start();
    let state = MixState::of_scene(&scene, Cues::ALL);
    let latency = graph.latency_frames();
    let frames = 45 * 48_000 + latency;
    let mut live = vec![0.0f32; frames * 2];
    let (block, video_frame) = (512, 800);
    let mut next_frame = 0;
    let mut done = 0;
    while done < frames {
        if done >= next_frame {
            graph.set_state(state.clone(), 1.0 / 60.0);
            next_frame += video_frame;
        }
        let n = block.min(frames - done);
        graph.backend_mut().render_block(&mut live[2 * done..2 * (done + n)]);
        done += n;
    }
    live.drain(..2 * latency);
    let mut worst = 0.0f64;
    for section in &resolved.sections {
        let a = level_db(&offline_render, section.start_s, section.end_s);
        let b = level_db(&live, section.start_s, section.end_s);
        eprintln!("{:<12} offline {a:6.2} dB, live {b:6.2} dB", section.name);
        worst = worst.max((a - b).abs());
    }
    assert!(worst <= 0.5, "live and offline differ by {worst:.2} dB in a section");
    // In fact sample for sample: the timeline is stepped in song time, not per video frame.
    let n = live.len().min(offline_render.len());
    let first = live[..n].iter().zip(&offline_render[..n]).position(|(a, b)| a != b);
    assert!(first.is_none(), "live and offline part at sample {first:?}");
}

#[test]
fn a_handout_has_the_wav_the_picture_and_the_page() {
    let dir = TempDir::new("handout");
    let out = dir.path("class");
    let options = RenderOptions { seconds: Some(2.0), ..Default::default() };
    let made = commands::write_handout(
        &root().join("scenes/live-banter.ron"),
        &out,
        &options,
        proxemix::mix::offline::WavFormat::Int24,
        &Selection::default(),
        true,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(made.wav, out.join("live-banter.wav"));
    let reader = hound::WavReader::open(&made.wav).unwrap();
    assert_eq!(reader.duration(), 96_000);
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&made.picture).unwrap()));
    let mut png = decoder.read_info().unwrap();
    let mut pixels = vec![0; png.output_buffer_size().unwrap()];
    let info = png.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), (1400, 1000));
    // The vocal's colour (the first in the palette) is in the picture.
    let blue = proxemix::handout::STEM_COLOURS[0];
    assert!(pixels.chunks(3).any(|p| p == blue), "the vocal's disc is drawn");
    let page = std::fs::read_to_string(&made.page).unwrap();
    for needle in [
        "# Live, with banter",
        "**What it communicates.**",
        "direct-to-reverb",
        "![The staging seen from above](live-banter-staging.png)",
        "| banter | 45.00 s | 48.00 s | vocal moves to 0.9 m; reverb return cut |",
        "| vocal | social |",
    ] {
        assert!(page.contains(needle), "the page lacks {needle:?}:\n{page}");
    }
    // A file where the folder should be is refused, and nothing is written.
    let file = dir.path("not-a-folder");
    std::fs::write(&file, "x").unwrap();
    let format = proxemix::mix::offline::WavFormat::Int16;
    let demo = root().join("scenes/demo.ron");
    let err = commands::write_handout(&demo, &file, &options, format, &Selection::default(), false, &mut |_| {});
    assert!(err.is_err_and(|e| e.to_string().contains("not-a-folder")));
}

#[test]
fn a_timeline_renders_the_same_at_any_block_size() {
    let (scene, audio) = load("drop-the-drums.ron");
    let at = |block_frames: usize| {
        let options = RenderOptions { seconds: Some(22.0), block_frames, ..Default::default() };
        offline::render(&scene, &audio, &options, &mut |_| {}).unwrap().interleaved
    };
    let (a, b) = (at(100), at(4096));
    assert_eq!(a.len(), b.len());
    assert!(a == b, "a device's buffer size must not change the render");
}

/// The performed take says what its card says: against the same staging with its keyframes cleared, the
/// voice is some 12 dB up through the held part of the chorus (and unchanged in the verse), and the kick held
/// back in the verse a little quieter (it is mostly further and wetter: near the critical distance the reverb
/// makes up most of what the direct sound loses).
#[test]
fn the_performed_take_brings_the_voice_in_for_the_chorus_and_the_drums_back_for_the_verse() {
    let (scene, audio) = load("performed.ron");
    let mut still = scene.clone();
    for stem in &mut still.stems {
        stem.keys.clear();
    }
    let solo = |s: &Scene, name: &str| {
        let mut s = s.clone();
        Selection { solo: vec![name.to_string()], mute: vec![] }.apply(&mut s).unwrap();
        render(&s, &audio, Some(34.0), Cues::ALL)
    };
    let change = |name: &str, from: f64, to: f64| {
        level_db(&solo(&scene, name), from, to) - level_db(&solo(&still, name), from, to)
    };
    let (verse, chorus) = (change("vocal", 10.0, 14.0), change("vocal", 25.0, 31.0));
    let kick = change("kick", 9.0, 14.0);
    eprintln!(
        "performed: vocal {verse:+.1} dB in the verse, {chorus:+.1} dB in the chorus; kick {kick:+.1} dB in the verse"
    );
    assert!(verse.abs() < 0.1, "the verse's voice is untouched: {verse:+.2} dB");
    assert!((9.0..15.0).contains(&chorus), "the voice comes in for the chorus: {chorus:+.1} dB");
    assert!((-1.5..-0.2).contains(&kick), "the kick is held back in the verse: {kick:+.1} dB");
}
