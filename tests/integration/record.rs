//! Recording takes on a headless stage (offline backend): gamepad sticks and mouse drags (as the drag observers
//! write them) while the song plays, in touch and latch, with undo, Esc and a loop; the saved scene's render
//! against the stage's own playback and against what was heard while recording; and what thinning changes.

use bevy::input::gamepad::GamepadAxis;
use bevy::prelude::*;
use proxemix::app::audio::{GraphFactory, StageAudio};
use proxemix::app::headless_app;
use proxemix::app::intent::{Edit, Gesture, Intent, RecordCommand};
use proxemix::app::record::Recorder;
use proxemix::app::shared::{RecordMode, RecordingState, TransportState};
use proxemix::app::stems::{Selected, StageScene, StemBody};
use proxemix::mix::graph::{GraphConfig, MixGraph};
use proxemix::mix::input::source::StemSource;
use proxemix::mix::offline::{OfflineBackend, OfflineSettings};
use proxemix::scene::automation::{self, Lane, Prop, Tolerance};
use proxemix::scene::{At, Scene};

use crate::common::{SR, TempDir, band_energy, low_chord, noise, write_mono_wav};
use crate::stage::{connect_gamepad, gamepad_axis as stick};

/// Samples in one 60 Hz video frame.
const FRAME: usize = SR as usize / 60;

/// A stage over the offline backend: "near" (a low chord) 2 m ahead, "far" (soft noise) 3 m off to the right
/// with spoil keyframes of its own; no reverb. Body 0 is selected. The stage's audio is kept in `heard`.
struct Stage {
    app: App,
    heard: Vec<f32>,
    scene_path: std::path::PathBuf,
}

fn scene_file(dir: &TempDir, seconds: f64) -> std::path::PathBuf {
    let frames = (SR as f64 * seconds) as usize;
    write_mono_wav(&dir.path("near.wav"), &low_chord(frames, 0.3));
    write_mono_wav(&dir.path("far.wav"), &noise(frames, 0.05, 7));
    let text = format!(
        r#"(version: 2, name: "take", room: (size: 12.0, decay_s: 1.2, damping: 0.5, reverb_db: -60.0), stems: [
            (name: "near", file: "near.wav", position: (0.0, 1.2, -2.0)),
            (name: "far", file: "far.wav", position: (3.0, 1.2, -1.0), keys: [
                (at: Seconds(0.5), spoil: 0.0), (at: Seconds({end}), spoil: 0.6),
            ]),
        ])"#,
        end = seconds - 0.5
    );
    let path = dir.path("take.ron");
    std::fs::write(&path, text).unwrap();
    path
}

impl Stage {
    fn open(scene_path: &std::path::Path, looping: bool) -> Stage {
        let scene = Scene::load(scene_path).unwrap();
        let sources: Vec<Option<StemSource>> =
            proxemix::mix::input::open_scene(&proxemix::files::FileSource::disk(), scene_path, &scene, SR)
                .into_iter()
                .map(|s| Some(s.unwrap()))
                .collect();
        let factory: GraphFactory<OfflineBackend> = Box::new(move |scene, audio| {
            let config = GraphConfig { looping, ..GraphConfig::offline(SR) };
            MixGraph::new(OfflineSettings { sample_rate: SR }, scene, audio, config)
        });
        let live = StageAudio::new(&scene, &sources, factory).unwrap();
        let mut app = headless_app(scene_path, scene, Vec::new(), live);
        app.update();
        let body =
            app.world_mut().query::<(Entity, &StemBody)>().iter(app.world()).find(|(_, b)| b.index == 0).unwrap().0;
        app.world_mut().entity_mut(body).insert(Selected);
        Stage { app, heard: Vec::new(), scene_path: scene_path.to_owned() }
    }

    /// One video frame: the app updates, then the device pulls a frame's worth of sound.
    fn frame(&mut self) {
        self.app.update();
        let mut out = vec![0.0f32; FRAME * 2];
        for chunk in out.chunks_mut(256) {
            self.graph().backend_mut().render_block(chunk);
        }
        self.heard.extend_from_slice(&out);
    }

    fn frames(&mut self, n: usize) {
        for _ in 0..n {
            self.frame();
        }
    }

    fn graph(&mut self) -> &mut MixGraph<OfflineBackend> {
        self.app.world_mut().resource_mut::<StageAudio<OfflineBackend>>().into_inner().graph_mut().unwrap()
    }

    fn send(&mut self, intent: Intent) {
        self.app.world_mut().write_message(intent);
    }

    fn scene(&self) -> Scene {
        self.app.world().resource::<StageScene>().scene.clone()
    }

    fn recording(&self) -> RecordingState {
        self.app.world().resource::<RecordingState>().clone()
    }

    fn body(&mut self, index: usize) -> Entity {
        self.app
            .world_mut()
            .query::<(Entity, &StemBody)>()
            .iter(self.app.world())
            .find(|(_, b)| b.index == index)
            .unwrap()
            .0
    }

    fn position_of(&mut self, index: usize) -> Vec3 {
        let e = self.body(index);
        self.app.world().get::<Transform>(e).unwrap().translation
    }

    fn song_time(&self) -> f64 {
        self.app.world().resource::<TransportState>().position_s
    }

    fn save(&mut self) -> Scene {
        self.send(Intent::Save);
        self.frame();
        Scene::load(&self.scene_path).unwrap()
    }
}

fn position_keys(scene: &Scene, index: usize) -> Vec<(f64, (f32, f32, f32))> {
    scene.stems[index]
        .keys
        .iter()
        .filter_map(|k| match (&k.at, k.position) {
            (At::Seconds(t), Some(p)) => Some((*t, p)),
            _ => None,
        })
        .collect()
}

/// Renders a scene file for `seconds` (interleaved stereo), as `proxemix render` does.
fn render(scene: &std::path::Path, seconds: f64) -> Vec<f32> {
    let (scene, sources) = proxemix::commands::load_for_render(scene, SR).unwrap();
    let options =
        proxemix::mix::offline::RenderOptions { seconds: Some(seconds), sample_rate: SR, ..Default::default() };
    proxemix::mix::offline::render(&scene, &sources, &options, &mut |_| {}).unwrap().interleaved
}

/// Where the song's first frame lies in a capture: near the first sound, where a tenth of a second of the
/// reference (from 0.1 s) matches best.
fn song_start(x: &[f32], reference: &[f32]) -> usize {
    let first = x.chunks_exact(2).position(|f| f[0].abs() > 1e-7 || f[1].abs() > 1e-7).unwrap();
    let (from, len) = (SR as usize / 10, SR as usize / 10);
    let difference = |start: usize| -> f64 {
        (0..len).map(|i| ((x[2 * (start + from + i)] - reference[2 * (from + i)]) as f64).powi(2)).sum()
    };
    (first.saturating_sub(1200)..first + 1200).min_by(|a, b| difference(*a).total_cmp(&difference(*b))).unwrap()
}

/// The largest difference (dB) between the levels of `a` (from frame `offset`) and `b` in 2048-frame blocks
/// over `[from, to)` seconds, and the time it is at.
fn block_levels_differ(a: &[f32], offset: usize, b: &[f32], from: f64, to: f64) -> (f64, f64) {
    let block = 2048;
    let level = |x: &[f32]| 10.0 * (x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / x.len() as f64).log10();
    let mut worst = (0.0f64, 0.0);
    let mut f = (from * SR as f64) as usize;
    let end = ((to * SR as f64) as usize).min(a.len() / 2 - offset).min(b.len() / 2);
    while f + block <= end {
        let la = level(&a[2 * (offset + f)..2 * (offset + f + block)]);
        let lb = level(&b[2 * f..2 * (f + block)]);
        if (la - lb).abs() > worst.0 {
            worst = ((la - lb).abs(), f as f64 / SR as f64);
        }
        f += block;
    }
    worst
}

/// Energy above 4 kHz (dB) of the left channel of `x` from frame `offset` over `[from, to)` seconds: spoil
/// band-limits and roughens, so this tells how spoiled the noise stem sounds whatever the phase of its wow.
fn highs_db(x: &[f32], offset: usize, from: f64, to: f64) -> f64 {
    let (f, t) = (offset + (from * SR as f64) as usize, offset + (to * SR as f64) as usize);
    let left: Vec<f32> = x[2 * f..2 * t].iter().step_by(2).copied().collect();
    10.0 * band_energy(&left, 4_000.0, 20_000.0).log10()
}

#[test]
fn a_touch_take_with_the_gamepad_writes_the_move_glides_back_plays_back_as_heard_and_undoes_in_one_step() {
    let dir = TempDir::new("record-touch");
    let path = scene_file(&dir, 4.0);
    let mut stage = Stage::open(&path, false);
    let original = stage.scene();
    let pad = connect_gamepad(&mut stage.app);
    stage.frame();
    stage.send(Intent::Record(RecordCommand::ToggleArm));
    stage.frames(30);
    assert!(stage.recording().armed && stage.app.world().resource::<TransportState>().playing, "arming plays");
    let start = stage.position_of(0);
    let touched_at = stage.song_time();
    // One second with the left stick pushed forward: the near body goes 2 m further away.
    stick(&mut stage.app, pad, GamepadAxis::LeftStickY, 1.0);
    stage.frames(60);
    assert!(stage.recording().running, "a take is being written");
    stick(&mut stage.app, pad, GamepadAxis::LeftStickY, 0.0);
    stage.frames(2);
    let moved = stage.position_of(0);
    assert!(moved.z < start.z - 1.5, "the stick moved the body: {start} → {moved}");
    let released_at = stage.song_time();
    // Touch: let go, it holds a moment and glides back to where it was (it had no automation).
    stage.frames(45);
    let back = stage.position_of(0);
    assert!(back.distance(start) < 0.01, "glided back to {start}: {back}");
    // Then the far stem's spoil, which has automation of its own, held at 0.9 for a quarter of a second: the
    // hand's value plays over the automation while it is held.
    let far = stage.body(1);
    let spoiling = Gesture::new();
    for _ in 0..15 {
        stage.send(Intent::Edit(spoiling, Edit::SetSpoil(vec![(far, 0.9)])));
        stage.frame();
    }
    stage.send(Intent::Release(spoiling));
    stage.frames(5);
    stage.send(Intent::Record(RecordCommand::ToggleArm));
    stage.frames(60);
    assert!(!stage.recording().running && !stage.recording().armed);

    let scene = stage.scene();
    let keys = position_keys(&scene, 0);
    let report = stage.app.world().resource::<Recorder>().last_take.clone().unwrap();
    eprintln!("touch take: {} points → {} keyframes: {keys:?}", report.raw_points, report.keys);
    assert!(keys.len() >= 3 && keys.len() < report.raw_points, "thinned: {} of {}", keys.len(), report.raw_points);
    // The first key is where the body stood when the hand took it, about when it did (no jump).
    let (t0, p0) = keys[0];
    assert!((t0 - touched_at).abs() < 0.1, "first key at {t0:.3} s, touched at {touched_at:.3} s");
    assert!((p0.2 - start.z).abs() < 1e-3, "the first key is where the body was: {p0:?} vs {start}");
    let deepest = keys.iter().map(|k| k.1.2).fold(f32::INFINITY, f32::min);
    assert!((deepest - moved.z).abs() < 0.05, "the take reaches {deepest}, the hand went to {}", moved.z);
    let (t_last, p_last) = *keys.last().unwrap();
    assert!((p_last.2 - start.z).abs() < 1e-3 && t_last > released_at, "it ends back at the start, after the release");
    // Only what was touched was written: the far stem's spoil keys outside the touch stay, its place is as it was.
    let spoil_keys: Vec<(f64, f32)> = scene.stems[1]
        .keys
        .iter()
        .filter_map(|k| match (&k.at, k.spoil) {
            (At::Seconds(t), Some(v)) => Some((*t, v)),
            _ => None,
        })
        .collect();
    eprintln!("spoil keys of the far stem after the take: {spoil_keys:?}");
    assert_eq!(spoil_keys.first(), Some(&(0.5, 0.0)));
    assert_eq!(spoil_keys.last(), Some(&(3.5, 0.6)));
    assert!(spoil_keys.iter().any(|k| k.1 == 0.9 && k.0 > 2.0 && k.0 < 3.0), "the touch was written");
    assert!(position_keys(&scene, 1).is_empty());
    assert_eq!(scene.stems[1].position, original.stems[1].position);
    assert_eq!(scene.stems[0].position, original.stems[0].position, "the stem's own place is kept");

    // The saved scene: its render equals the stage playing it, and what was heard while recording.
    let saved = stage.save();
    assert_eq!(position_keys(&saved, 0), keys);
    let reference = render(&path, 4.0);
    let recording_pass = std::mem::take(&mut stage.heard);
    let offset = song_start(&recording_pass, &reference);
    let (while_recording, at) = block_levels_differ(&recording_pass, offset, &reference, 0.05, 3.9);
    let (heard, rendered) = (highs_db(&recording_pass, offset, 2.35, 2.6), highs_db(&reference, 0, 2.35, 2.6));
    eprintln!(
        "while recording against the render of the take: worst block {while_recording:.3} dB at {at:.2} s; above \
         4 kHz where the far stem's spoil was held: {heard:.1} dB heard, {rendered:.1} dB rendered"
    );
    assert!(
        (heard - rendered).abs() < 1.0,
        "the held spoil played the hand's value: {heard:.1} against {rendered:.1} dB"
    );
    assert!(while_recording < 0.1, "the take plays back as it was heard: {while_recording:.3} dB at {at:.2} s");

    let mut playback = Stage::open(&path, false);
    playback.graph().start();
    playback.frames(250);
    let (played, at) =
        block_levels_differ(&playback.heard, song_start(&playback.heard, &reference), &reference, 0.0, 4.0);
    eprintln!("the stage playing the saved take against its render: worst block {played:.4} dB at {at:.2} s");
    assert!(played < 0.01, "the stage plays the take as the render does: {played} dB at {at:.2} s");

    // One undo step takes the whole take back, and redo returns it.
    stage.send(Intent::Undo);
    stage.frame();
    assert!(position_keys(&stage.scene(), 0).is_empty(), "undo removed the take");
    assert_eq!(stage.scene().stems[1], original.stems[1]);
    stage.send(Intent::Redo);
    stage.frame();
    assert_eq!(position_keys(&stage.scene(), 0), keys, "redo put it back");
}

#[test]
fn a_latch_take_with_mouse_drags_holds_until_stop_and_esc_throws_a_take_away() {
    let dir = TempDir::new("record-latch");
    let path = scene_file(&dir, 4.0);
    let mut stage = Stage::open(&path, false);
    let original = stage.scene();
    stage.send(Intent::Record(RecordCommand::SetMode(RecordMode::Latch)));
    stage.send(Intent::Record(RecordCommand::ToggleArm));
    stage.frames(20);
    // A drag of the far body towards the listener, as the drag observers write it, then the button let go.
    let far = stage.body(1);
    let from = stage.position_of(1);
    let gesture = Gesture::new();
    for k in 1..=30 {
        let to = from + Vec3::new(-0.05 * k as f32, 0.0, 0.0);
        stage.send(Intent::Edit(gesture, Edit::Place(vec![(far, to)])));
        stage.frame();
    }
    stage.send(Intent::Release(gesture));
    let dropped = stage.position_of(1);
    stage.frames(40);
    assert!(stage.position_of(1).distance(dropped) < 1e-4, "latch holds the last value after the release");
    assert!(stage.recording().running, "latch writes until the transport stops");
    stage.send(Intent::Transport(proxemix::app::shared::TransportCommand::Pause));
    stage.frames(3);
    let stopped_at = stage.song_time();
    assert!(!stage.recording().running && !stage.recording().armed, "stopping ends the take and recording");
    let scene = stage.scene();
    let keys = position_keys(&scene, 1);
    eprintln!("latch take: {keys:?}");
    let held = keys.iter().filter(|k| (k.1.0 - dropped.x).abs() < 1e-3).map(|k| k.0).fold(0.0, f64::max);
    assert!((held - stopped_at).abs() < 0.05, "held to the stop at {stopped_at:.3} s: last held key {held:.3} s");
    assert_eq!(scene.stems[0], original.stems[0], "the untouched stem is as it was");
    assert!(scene.stems[1].keys.iter().any(|k| k.spoil.is_some()), "the far stem's spoil keys stay");
    // Latch kept the spoil untouched: its keys are exactly the old ones.
    let spoils = |s: &Scene| s.stems[1].keys.iter().filter(|k| k.spoil.is_some()).cloned().collect::<Vec<_>>();
    assert_eq!(spoils(&scene), spoils(&original));

    // A second take, thrown away with Esc while it runs: the scene comes back as the first take left it.
    stage.send(Intent::Record(RecordCommand::ToggleArm));
    stage.frames(10);
    let gesture = Gesture::new();
    for k in 1..=10 {
        stage.send(Intent::Edit(gesture, Edit::SetSpoil(vec![(far, 0.1 * k as f32)])));
        stage.frame();
    }
    assert!(stage.recording().running);
    press_escape(&mut stage);
    stage.frames(3);
    assert!(!stage.recording().running && !stage.recording().armed, "Esc ends the take");
    assert_eq!(stage.scene().stems, scene.stems, "Esc threw the take away");
    stage.send(Intent::Undo);
    stage.frame();
    assert_eq!(stage.scene().stems, original.stems, "the thrown-away take left no undo step; the first one goes");
}

fn press_escape(stage: &mut Stage) {
    use bevy::input::ButtonState;
    use bevy::input::keyboard::{Key, KeyboardInput, NativeKey};
    for state in [ButtonState::Pressed, ButtonState::Released] {
        stage.app.world_mut().write_message(KeyboardInput {
            key_code: KeyCode::Escape,
            logical_key: Key::Unidentified(NativeKey::Unidentified),
            state,
            text: None,
            repeat: false,
            window: Entity::PLACEHOLDER,
        });
        stage.frame();
    }
}

#[test]
fn loop_recording_writes_across_the_wrap_one_pass_one_undo_step() {
    let dir = TempDir::new("record-loop");
    let path = scene_file(&dir, 2.0);
    let mut stage = Stage::open(&path, true);
    let pad = connect_gamepad(&mut stage.app);
    stage.frame();
    stage.send(Intent::Record(RecordCommand::ToggleArm));
    stage.frames(60);
    // The stick pushed sideways from 1 s in, across the loop point at 2 s, to about 2.7 s (0.7 s into the
    // second pass).
    stick(&mut stage.app, pad, GamepadAxis::LeftStickX, 0.5);
    stage.frames(100);
    stick(&mut stage.app, pad, GamepadAxis::LeftStickX, 0.0);
    stage.frames(60);
    stage.send(Intent::Record(RecordCommand::ToggleArm));
    stage.frames(5);
    let keys = position_keys(&stage.scene(), 0);
    eprintln!("loop take: {keys:?}");
    assert!(keys.iter().any(|k| k.0 > 1.9 && k.0 <= 2.0), "the first pass wrote up to the loop point");
    assert!(keys.iter().any(|k| k.0 < 0.1), "the second pass wrote from the song's start");
    let at_start = keys.iter().find(|k| k.0 < 0.1).unwrap().1;
    let at_end = keys.iter().rfind(|k| k.0 <= 2.0 + 1e-9).unwrap().1;
    assert!(
        (at_start.0 - at_end.0).abs() < 0.05,
        "the pass after the wrap starts where the hand was: {at_start:?} {at_end:?}"
    );
    // What was heard on the second lap (the hand holding the body over the first pass's keys) is what the saved
    // scene plays there.
    stage.save();
    let reference = render(&path, 2.0);
    let second_lap = song_start(&stage.heard, &reference) + 2 * SR as usize;
    let (worst, at) = block_levels_differ(&stage.heard, second_lap, &reference, 0.05, 1.0);
    eprintln!(
        "loop: the second lap as heard against the render of the saved take: worst block {worst:.3} dB at {at:.2} s"
    );
    assert!(worst < 0.1, "the overdub plays back as it was heard: {worst:.3} dB at {at:.2} s");
    // Two passes, two undo steps: the first undo takes the second pass back only.
    stage.send(Intent::Undo);
    stage.frame();
    let after_one = position_keys(&stage.scene(), 0);
    assert!(!after_one.is_empty() && after_one.iter().all(|k| k.0 > 0.5), "the first pass stays: {after_one:?}");
    stage.send(Intent::Undo);
    stage.frame();
    assert!(position_keys(&stage.scene(), 0).is_empty());
}

#[test]
fn a_thirty_second_take_thinned_sounds_like_the_raw_one() {
    let dir = TempDir::new("record-thin");
    let path = scene_file(&dir, 31.0);
    let mut stage = Stage::open(&path, false);
    stage.app.world_mut().resource_mut::<Recorder>().raw = true;
    let pad = connect_gamepad(&mut stage.app);
    stage.frame();
    stage.send(Intent::Record(RecordCommand::SetMode(RecordMode::Latch)));
    stage.send(Intent::Record(RecordCommand::ToggleArm));
    stage.frames(10);
    // Thirty seconds of a hand on the stick: slow circles with a wobble, as a person rides a voice in and out.
    for k in 0..1800 {
        let t = k as f32 / 60.0;
        let (x, y) = ((t * 0.9).sin() * 0.8, (t * 0.6).cos() * 0.9 + 0.2 * (t * 3.1).sin());
        stick(&mut stage.app, pad, GamepadAxis::LeftStickX, x);
        stick(&mut stage.app, pad, GamepadAxis::LeftStickY, y);
        stage.frame();
    }
    stage.send(Intent::Transport(proxemix::app::shared::TransportCommand::Pause));
    stage.frames(3);
    let raw_scene = stage.save();
    let raw_keys = raw_scene.stems[0].keys.len();
    // The same take thinned as the recorder does by default.
    let points: Vec<(f64, [f32; 3])> =
        position_keys(&raw_scene, 0).into_iter().map(|(t, p)| (t, [p.0, p.1, p.2])).collect();
    let tol = Tolerance::default();
    let thinned = automation::thin(Prop::Position, &points, &tol);
    let mut thin_scene = raw_scene.clone();
    automation::clear(&mut thin_scene, Lane::Stem(0, Prop::Position));
    thin_scene.stems[0].keys.extend(thinned.iter().map(|(t, p)| {
        let mut key = proxemix::scene::Key::at(At::Seconds(*t));
        key.position = Some((p[0], p[1], p[2]));
        key
    }));
    let thin_path = dir.path("thinned.ron");
    thin_scene.save(&thin_path).unwrap();
    let (raw, thin) = (render(&path, 30.5), render(&thin_path, 30.5));
    let diff: Vec<f32> = raw.iter().zip(&thin).map(|(a, b)| a - b).collect();
    let rms = |x: &[f32]| 10.0 * (x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / x.len() as f64).log10();
    let (worst, at) = block_levels_differ(&raw, 0, &thin, 0.0, 30.0);
    eprintln!(
        "30-second take: {raw_keys} points raw, {} after thinning ({} cm, {} dB); the renders differ by {:.1} dB \
         (residual {:.1} dBFS against a mix at {:.1} dBFS), worst 2048-frame block level {worst:.3} dB at {at:.1} s",
        thinned.len(),
        tol.metres * 100.0,
        tol.db,
        rms(&diff) - rms(&raw),
        rms(&diff),
        rms(&raw)
    );
    assert!(raw_keys > 1000, "a point a frame: {raw_keys}");
    assert!(thinned.len() * 5 < raw_keys, "thinning keeps a fifth or fewer: {} of {raw_keys}", thinned.len());
    assert!(worst < 0.3, "the thinned take sounds like the raw one: {worst:.3} dB at {at:.1} s");
    assert!(rms(&diff) - rms(&raw) < -30.0, "residual {:.1} dB under the mix", rms(&diff) - rms(&raw));
}

#[test]
fn a_master_fader_ride_from_the_panel_is_written_as_room_keys_and_plays_back_as_heard() {
    let dir = TempDir::new("record-master");
    let path = scene_file(&dir, 4.0);
    let mut stage = Stage::open(&path, false);
    let original = stage.scene();
    stage.send(Intent::Record(RecordCommand::ToggleArm));
    stage.frames(30);
    // The master fader pulled down 8 dB over a third of a second and held a while (one slider grab), then let go.
    let fader = Gesture::new();
    for k in 1..=40 {
        let db = -8.0 * (k.min(20) as f32 / 20.0);
        let room = stage.scene().room;
        let master_spoil = stage.scene().master_spoil;
        stage.send(Intent::Edit(fader, Edit::RoomAndMaster { room, master_gain_db: db, master_spoil }));
        stage.frame();
    }
    stage.send(Intent::Release(fader));
    stage.frames(60);
    stage.send(Intent::Record(RecordCommand::ToggleArm));
    stage.frames(90);
    let scene = stage.scene();
    let keys: Vec<(f64, f32)> = scene
        .timeline
        .as_ref()
        .map(|t| t.room.iter())
        .into_iter()
        .flatten()
        .filter_map(|k| match (&k.at, k.master_gain_db) {
            (At::Seconds(t), Some(v)) => Some((*t, v)),
            _ => None,
        })
        .collect();
    eprintln!("master take: {keys:?}");
    assert!(keys.len() >= 3, "{keys:?}");
    assert_eq!(keys.first().unwrap().1, 0.0, "it starts where the fader was");
    assert!(keys.iter().any(|k| k.1 == -8.0), "it reaches -8 dB");
    assert_eq!(keys.last().unwrap().1, 0.0, "touch: back to the fader's own value after the release");
    assert_eq!(scene.master_gain_db, original.master_gain_db, "the fader's own value is kept");
    assert_eq!(scene.stems, original.stems, "no stem was touched");
    let saved = stage.save();
    assert_eq!(saved.timeline, scene.timeline);
    let reference = render(&path, 4.0);
    let offset = song_start(&stage.heard, &reference);
    let (worst, at) = block_levels_differ(&stage.heard, offset, &reference, 0.05, 3.5);
    eprintln!("master ride while recording against the render of the take: worst block {worst:.3} dB at {at:.2} s");
    assert!(worst < 0.1, "the fader ride plays back as it was heard: {worst:.3} dB at {at:.2} s");
}

#[test]
fn a_take_played_from_a_phone_is_credited_to_it_and_plays_back_as_its_render() {
    use crate::room::{open_room, phone, send, wait_for};
    use serde_json::json;
    let dir = TempDir::new("record-phone");
    let path = scene_file(&dir, 4.0);
    let mut stage = Stage::open(&path, false);
    let (address, token) = open_room(&mut stage.app);
    let mut ana = phone(address, &token, "Ana");
    send(&mut ana, json!({"t": "claim", "stem": 0}));
    wait_for(&mut stage.app, &mut ana, "you", |v| v["holds"] == json!([0]));
    stage.send(Intent::Record(RecordCommand::ToggleArm));
    stage.frames(30);
    // Ana drags the near stem 2 m to the right over half a second, holds it, lifts her finger (touch: it
    // glides back).
    for i in 0..=30 {
        send(&mut ana, json!({"t": "move", "stem": 0, "x": 2.0 * i as f32 / 30.0, "z": -2.0, "g": 1}));
        std::thread::sleep(std::time::Duration::from_millis(1));
        stage.frame();
    }
    stage.frames(30);
    send(&mut ana, json!({"t": "release", "g": 1}));
    stage.frames(60);
    stage.send(Intent::Record(RecordCommand::ToggleArm));
    stage.frames(30);
    let saved = stage.save();
    let keys = position_keys(&saved, 0);
    eprintln!("a phone's take: {} keyframes: {keys:?}", keys.len());
    assert!(keys.iter().any(|(_, p)| p.0 > 1.5), "the phone's drag was written: {keys:?}");
    let take = saved.takes.last().expect("the take is credited in the scene");
    assert_eq!(take.by, vec!["Ana".to_owned()], "{take:?}");
    assert!(take.lanes.iter().any(|l| l.contains("near")), "{take:?}");

    // The stage playing the saved take equals its render.
    let reference = render(&path, 4.0);
    let mut playback = Stage::open(&path, false);
    playback.graph().start();
    playback.frames(250);
    let (played, at) =
        block_levels_differ(&playback.heard, song_start(&playback.heard, &reference), &reference, 0.0, 4.0);
    eprintln!("the stage playing a phone's take against its render: worst block {played:.4} dB at {at:.2} s");
    assert!(played < 0.01, "the stage plays the phone's take as the render does: {played} dB at {at:.2} s");
}
