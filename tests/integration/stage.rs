//! The stage: headless Bevy apps driven by simulated gamepad and keyboard input, heard through the offline
//! backend; and a screenshot of the real window under Xvfb with software Vulkan.

use std::path::Path;
use std::process::Command;

use bevy::input::ButtonState;
use bevy::input::gamepad::{
    GamepadAxis, GamepadConnection, GamepadConnectionEvent, RawGamepadAxisChangedEvent, RawGamepadEvent,
};
use bevy::input::keyboard::{Key, KeyboardInput, NativeKey};
use bevy::prelude::*;
use proxemix::app::audio::{GraphFactory, StageAudio};
use proxemix::app::stems::{Muted, Selected, StemBody};
use proxemix::app::{headless_app, input};
use proxemix::mix::graph::{GraphConfig, MixGraph};
use proxemix::mix::input::Audio;
use proxemix::mix::mapping::EAR_HEIGHT_M;
use proxemix::mix::offline::{OfflineBackend, OfflineSettings};
use proxemix::scene::Scene;

use crate::common::{SR, TempDir, db, energy, low_chord, scene_text, stem, write_mono_wav};

/// Samples in one 60 Hz video frame, and in one audio block of the device we pretend to be.
const FRAME: usize = SR as usize / 60;
const BLOCK: usize = 128;
/// The spoil macros' constant delay (a stem's and the master's): a change is heard this much later.
fn latency() -> usize {
    2 * proxemix::mix::effects::spoil::latency_frames(SR)
}

/// A headless stage over the offline backend with one stem (a low chord) at `z` metres straight ahead, ears'
/// height, no reverb; the stem is selected and the transport rolls.
fn one_stem_stage(dir: &TempDir, z: f32) -> App {
    let chord = low_chord(SR as usize * 4, 0.3);
    write_mono_wav(&dir.path("chord.wav"), &chord);
    let text = scene_text(&[stem("chord", "chord.wav", (0.0, EAR_HEIGHT_M, z), 1.0, 0.0)], -60.0);
    let scene_path = dir.path("stage.ron");
    std::fs::write(&scene_path, &text).unwrap();
    let scene = Scene::load(&scene_path).unwrap();
    let mut left_right = Vec::new();
    for s in &chord {
        left_right.push(kira::Frame { left: *s, right: *s });
    }
    let audio = vec![Some(Audio::from_frames(SR, left_right).into())];
    let factory: GraphFactory<OfflineBackend> = Box::new(|scene, audio| {
        MixGraph::new(
            OfflineSettings { sample_rate: SR },
            scene,
            audio,
            GraphConfig { looping: true, cues: Default::default(), ..GraphConfig::offline(SR) },
        )
    });
    let live = StageAudio::new(&scene, &audio, factory).unwrap();
    let mut app = headless_app(&scene_path, scene, Vec::new(), live);
    app.update(); // startup: the stem entity is spawned; the bridge sends its first mapping
    let body = app.world_mut().query_filtered::<Entity, With<StemBody>>().single(app.world()).unwrap();
    app.world_mut().entity_mut(body).insert(Selected);
    graph(&mut app).start();
    app
}

fn graph(app: &mut App) -> &mut MixGraph<OfflineBackend> {
    app.world_mut().resource_mut::<StageAudio<OfflineBackend>>().into_inner().graph_mut().unwrap()
}

/// Renders `frames` frames and returns their energy (both channels).
fn render_energy(app: &mut App, frames: usize) -> f64 {
    let mut out = vec![0.0f32; frames * 2];
    for chunk in out.chunks_mut(BLOCK * 2) {
        graph(app).backend_mut().render_block(chunk);
    }
    energy(&out)
}

/// One video frame: the app updates, then the audio device pulls a frame's worth of samples.
fn frame(app: &mut App) {
    app.update();
    render_energy(app, FRAME);
}

/// A gamepad entity, connected the way bevy_gilrs reports one.
pub(crate) fn connect_gamepad(app: &mut App) -> Entity {
    let pad = app.world_mut().spawn_empty().id();
    app.world_mut().write_message(GamepadConnectionEvent::new(
        pad,
        GamepadConnection::Connected { name: "test pad".into(), vendor_id: None, product_id: None },
    ));
    pad
}

/// The gamepad reports a stick or trigger axis value (applied at the next update).
pub(crate) fn gamepad_axis(app: &mut App, pad: Entity, axis: GamepadAxis, value: f32) {
    app.world_mut().write_message(RawGamepadEvent::Axis(RawGamepadAxisChangedEvent::new(pad, axis, value)));
}

/// The gamepad reports a button value, 0 (up) to 1 (fully in) (applied at the next update).
fn gamepad_button(app: &mut App, pad: Entity, button: bevy::input::gamepad::GamepadButton, value: f32) {
    use bevy::input::gamepad::RawGamepadButtonChangedEvent;
    app.world_mut().write_message(RawGamepadEvent::Button(RawGamepadButtonChangedEvent::new(pad, button, value)));
}

fn body_position(app: &mut App) -> Vec3 {
    app.world_mut().query_filtered::<&Transform, With<StemBody>>().single(app.world()).unwrap().translation
}

#[test]
fn gamepad_stick_moves_the_selected_body_and_the_level_follows_the_distance_law() {
    let dir = TempDir::new("stage-gamepad");
    let mut app = one_stem_stage(&dir, -1.0);
    for _ in 0..10 {
        frame(&mut app);
    }
    let before = render_energy(&mut app, SR as usize / 4);
    let start = body_position(&mut app);

    // A gamepad connects and its left stick is pushed fully forward (away from the listener: no camera, so
    // "forward" is the listener's -Z).
    let pad = connect_gamepad(&mut app);
    frame(&mut app);
    gamepad_axis(&mut app, pad, GamepadAxis::LeftStickY, 1.0);
    for _ in 0..30 {
        frame(&mut app);
    }
    gamepad_axis(&mut app, pad, GamepadAxis::LeftStickY, 0.0);
    app.update(); // the last step of the stick lands in this update
    let end = body_position(&mut app);
    let (d0, d1) = (start.z.abs(), end.z.abs());
    assert!(end.z < start.z - 0.5, "the stick moved the body away: {start} → {end}");
    assert!((end.x - start.x).abs() < 1e-4 && (end.y - start.y).abs() < 1e-4, "straight ahead only: {end}");
    // 30 frames at full deflection: 0.5 s × 2 m/s.
    assert!((d1 - d0 - 1.0).abs() < 0.1, "moved {:.3} m", d1 - d0);

    // Within one video frame plus one audio block (plus the spoil macros' 3 ms delay) the graph is at the new level.
    render_energy(&mut app, FRAME + BLOCK + latency());
    let after = render_energy(&mut app, SR as usize / 4);
    let measured = db(after / before);
    let law = -20.0 * (d1 / d0).log10() as f64;
    eprintln!("stick: {d0:.3} m → {d1:.3} m; level {measured:+.2} dB, law {law:+.2} dB");
    assert!((measured - law).abs() < 0.5, "level change {measured:.2} dB, the law says {law:.2} dB ({d0} → {d1} m)");
}

#[test]
fn m_mutes_the_selection_at_once_and_ctrl_z_brings_it_back() {
    let dir = TempDir::new("stage-keys");
    let mut app = one_stem_stage(&dir, -1.5);
    for _ in 0..5 {
        frame(&mut app);
    }
    let playing = render_energy(&mut app, FRAME * 4);
    assert!(playing > 1.0, "the stem is heard: {playing}");

    press(&mut app, &[KeyCode::KeyM]);
    let muted = app.world_mut().query::<&Muted>().single(app.world()).unwrap().0;
    assert!(muted, "M muted the selected body");
    render_energy(&mut app, FRAME + BLOCK + latency());
    let silent = render_energy(&mut app, FRAME * 4);
    assert!(silent < playing * 1e-9, "muted within a frame, a block and the delay: {}", db(silent / playing));

    press(&mut app, &[KeyCode::ControlLeft, KeyCode::KeyZ]);
    let muted = app.world_mut().query::<&Muted>().single(app.world()).unwrap().0;
    assert!(!muted, "Ctrl+Z undid the mute");
    render_energy(&mut app, FRAME + BLOCK + latency());
    let back = render_energy(&mut app, FRAME * 4);
    assert!(db(back / playing).abs() < 0.5, "back at the same level: {:.2} dB", db(back / playing));
}

/// Presses `keys` (in order, as a person would) for one frame, then lets go, as the window would report it.
fn press(app: &mut App, keys: &[KeyCode]) {
    let key = |key_code: KeyCode, state: ButtonState| KeyboardInput {
        key_code,
        logical_key: Key::Unidentified(NativeKey::Unidentified),
        state,
        text: None,
        repeat: false,
        window: Entity::PLACEHOLDER,
    };
    for k in keys {
        app.world_mut().write_message(key(*k, ButtonState::Pressed));
    }
    app.update();
    for k in keys {
        app.world_mut().write_message(key(*k, ButtonState::Released));
    }
    app.update();
}

#[test]
fn dead_zone_and_camera_relative_axes() {
    assert_eq!(input::dead_zone(Vec2::new(0.1, 0.05)), Vec2::ZERO);
    assert!((input::dead_zone(Vec2::new(0.0, 1.0)).y - 1.0).abs() < 1e-6);
    let (forward, right) = proxemix::app::camera::floor_axes(None);
    assert_eq!((forward, right), (Vec3::NEG_Z, Vec3::X));
    // A camera looking along +X (from the listener's left): pushing up moves bodies along +X, right along +Z.
    let camera = GlobalTransform::from(Transform::from_xyz(-5.0, 3.0, 0.0).looking_at(Vec3::ZERO, Vec3::Y));
    let (forward, right) = proxemix::app::camera::floor_axes(Some(&camera));
    assert!(forward.distance(Vec3::X) < 1e-5 && right.distance(Vec3::Z) < 1e-5, "{forward} {right}");
}

/// Hue in degrees and saturation of an sRGB pixel.
fn hue_saturation([r, g, b]: [u8; 3]) -> (f32, f32) {
    let (r, g, b) = (r as f32 / 255.0, g as f32 / 255.0, b as f32 / 255.0);
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let c = max - min;
    if c < 1e-6 {
        return (0.0, 0.0);
    }
    let h = if max == r {
        60.0 * ((g - b) / c).rem_euclid(6.0)
    } else if max == g {
        60.0 * ((b - r) / c + 2.0)
    } else {
        60.0 * ((r - g) / c + 4.0)
    };
    (h, c / max)
}

fn hue_distance(a: f32, b: f32) -> f32 {
    let d = (a - b).abs() % 360.0;
    d.min(360.0 - d)
}

fn read_png(path: &Path) -> (usize, usize, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb, "the screenshot is RGB");
    buf.truncate(info.buffer_size());
    (info.width as usize, info.height as usize, buf)
}

#[test]
fn screenshot_shows_each_body_in_its_colour_where_it_stands() {
    let dir = TempDir::new("stage-shot");
    write_mono_wav(&dir.path("a.wav"), &low_chord(SR as usize / 2, 0.2));
    // Five bodies well apart, so none hides another; colours 0..4 of the palette (blue, orange, red, teal,
    // green), all clearly different in hue.
    let stems: Vec<String> = [
        ("blue", (-2.4, 1.0, -2.0)),
        ("orange", (-1.2, 1.6, -3.2)),
        ("red", (0.0, 1.2, -1.6)),
        ("teal", (1.3, 0.8, -3.0)),
        ("green", (2.5, 1.4, -1.8)),
    ]
    .iter()
    .map(|(name, pos)| stem(name, "a.wav", *pos, 1.5, 0.0))
    .collect();
    let scene = dir.path("shot.ron");
    std::fs::write(&scene, scene_text(&stems, -6.0)).unwrap();
    let png = dir.path("shot.png");
    let run = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1920x1080x24", env!("CARGO_BIN_EXE_proxemix")])
        .arg(&scene)
        .arg("--screenshot")
        .arg(&png)
        .args(["--frames", "20"])
        .output()
        .expect("xvfb-run runs (make test installs xvfb and mesa-vulkan-drivers)");
    assert!(
        run.status.success(),
        "the screenshot run failed:\n{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let (w, h, pixels) = read_png(&png);
    assert_eq!((w, h), (1600, 900));
    let pixel = |x: usize, y: usize| -> [u8; 3] {
        let i = (y.min(h - 1) * w + x.min(w - 1)) * 3;
        [pixels[i], pixels[i + 1], pixels[i + 2]]
    };

    // Not blank: the picture has real variety.
    let mut distinct = std::collections::HashSet::new();
    let mut luma = Vec::new();
    for y in (0..h).step_by(7) {
        for x in (0..w).step_by(7) {
            let p = pixel(x, y);
            distinct.insert(p.map(|c| c / 8));
            luma.push(0.2126 * p[0] as f64 + 0.7152 * p[1] as f64 + 0.0722 * p[2] as f64);
        }
    }
    let mean = luma.iter().sum::<f64>() / luma.len() as f64;
    let spread = (luma.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / luma.len() as f64).sqrt();
    assert!(distinct.len() > 200 && spread > 8.0, "a blank picture: {} colours, luma σ {spread:.1}", distinct.len());

    // Each body's colour at its projected centre.
    let table = std::fs::read_to_string(proxemix::app::screenshot::sidecar_path(&png)).unwrap();
    let rows: Vec<Vec<&str>> = table.lines().skip(1).map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 5, "every body was projected:\n{table}");
    for row in rows {
        let (x, y, radius): (f32, f32, f32) =
            (row[2].parse().unwrap(), row[3].parse().unwrap(), row[4].parse().unwrap());
        let expected = [row[5].parse().unwrap(), row[6].parse().unwrap(), row[7].parse().unwrap()];
        assert!(radius > 8.0, "{}: drawn big enough to see ({radius} px)", row[0]);
        assert!(x > 0.0 && y > 0.0 && (x as usize) < w && (y as usize) < h, "{} is in the picture", row[0]);
        let got = pixel(x.round() as usize, y.round() as usize);
        let (hue, saturation) = hue_saturation(got);
        let (want_hue, _) = hue_saturation(expected);
        assert!(
            saturation > 0.12 && hue_distance(hue, want_hue) < 20.0,
            "{} at ({x}, {y}): pixel {got:?} (hue {hue:.0}°, sat {saturation:.2}) is not its colour {expected:?} (hue {want_hue:.0}°)",
            row[0]
        );
    }
}

#[test]
fn an_edit_on_disk_reloads_a_broken_one_keeps_the_last_good_scene_and_ctrl_s_saves_with_a_backup() {
    let dir = TempDir::new("stage-reload");
    let mut app = one_stem_stage(&dir, -1.0);
    let scene_path = dir.path("stage.ron");
    let original = std::fs::read_to_string(&scene_path).unwrap();

    // Frames go by (in real time: the file watcher's events arrive as they do) until `done` or 3 s.
    let until = |app: &mut App, done: &dyn Fn(&mut App) -> bool| {
        let started = std::time::Instant::now();
        while !done(app) && started.elapsed() < std::time::Duration::from_secs(3) {
            frame(app);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        started.elapsed()
    };

    // Someone edits the file: the body moves to 2 m.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&scene_path, original.replace("-1.0)", "-2.0)")).unwrap();
    let took = until(&mut app, &|app| (body_position(app).z + 2.0).abs() < 1e-6);
    eprintln!("reloaded {took:?} after the edit");
    assert!((body_position(&mut app).z + 2.0).abs() < 1e-6, "reloaded: {}", body_position(&mut app));
    assert!(took < std::time::Duration::from_millis(600), "the edit took {took:?} to reach the stage");

    // A broken edit: the stage keeps the last good scene and says why.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&scene_path, "(version: 1, stems: [(name: \"chord\", position: (0.0, nan, 1.0)").unwrap();
    let has_error = |app: &mut App| app.world().resource::<proxemix::app::stems::StageScene>().reload_error.is_some();
    until(&mut app, &has_error);
    assert!((body_position(&mut app).z + 2.0).abs() < 1e-6, "the last good scene stays");
    let error = app.world().resource::<proxemix::app::stems::StageScene>().reload_error.clone();
    let error = error.expect("the broken edit is reported");
    assert!(error.contains("stage.ron"), "the message names the file: {error}");

    // Ctrl+S writes the world back (atomically), keeping what was on disk as .bak.
    press(&mut app, &[KeyCode::ControlLeft, KeyCode::KeyS]);
    let saved = Scene::load(&scene_path).expect("the saved scene loads");
    assert_eq!(saved.stems[0].position, (0.0, EAR_HEIGHT_M, -2.0));
    let backup = std::fs::read_to_string(dir.path("stage.ron.bak")).unwrap();
    assert!(backup.contains("nan"), "the broken file the user wrote is kept as .bak");
}

#[test]
fn export_from_the_stage_matches_proxemix_render_byte_for_byte() {
    let dir = TempDir::new("stage-export");
    write_mono_wav(&dir.path("a.wav"), &low_chord(SR as usize, 0.3));
    write_mono_wav(&dir.path("b.wav"), &crate::common::noise(SR as usize, 0.2, 7));
    let text = scene_text(
        &[stem("a", "a.wav", (-1.0, 1.2, -2.0), 1.0, 0.0), stem("b", "b.wav", (1.5, 0.5, -3.0), 2.0, -3.0)],
        -6.0,
    );
    let scene_path = dir.path("export.ron");
    std::fs::write(&scene_path, &text).unwrap();
    let scene = Scene::load(&scene_path).unwrap();
    let stems = proxemix::app::shared::StemAudio::load(&scene_path, &scene, SR);
    assert!(stems.problems.is_empty(), "{:?}", stems.problems);

    let mut job = proxemix::app::export::ExportJob::default();
    let from_stage = dir.path("stage.wav");
    // The stage's export never lands on an input: the scene, a stem, the other scene of an A/B.
    let other = dir.path("other half.ron");
    std::fs::write(&other, &text).unwrap();
    let export_to = |job: &mut proxemix::app::export::ExportJob, target: std::path::PathBuf| {
        let (live, others) = ((stems.audio.clone(), SR), vec![other.clone()]);
        job.start(scene.clone(), &scene_path, live, SR, Default::default(), target, others);
    };
    for target in [scene_path.clone(), other.clone()] {
        let before = std::fs::read(&target).unwrap();
        export_to(&mut job, target.clone());
        let refused = job.outcome.clone().expect("refused at once");
        assert!(refused.as_ref().is_err_and(|e| e.contains("an input of this render")), "{refused:?}");
        assert_eq!(std::fs::read(&target).unwrap(), before, "{} untouched", target.display());
    }
    export_to(&mut job, from_stage.clone());
    let started = std::time::Instant::now();
    while job.progress().is_some() {
        assert!(started.elapsed().as_secs() < 60, "the export finishes");
        std::thread::sleep(std::time::Duration::from_millis(5));
        job.poll();
    }
    let outcome = job.outcome.clone().expect("an outcome");
    assert!(outcome.as_ref().is_ok_and(|m| m.contains("LUFS")), "{outcome:?}");

    let from_cli = dir.path("cli.wav");
    let options = proxemix::mix::offline::RenderOptions { sample_rate: SR, ..Default::default() };
    proxemix::commands::render_to_wav(
        &scene_path,
        &from_cli,
        &options,
        proxemix::mix::offline::WavFormat::Int24,
        &Default::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(std::fs::read(&from_stage).unwrap(), std::fs::read(&from_cli).unwrap(), "stage export = CLI render");

    // At another rate than the stage plays (the stems are opened again at it): the same as render at that rate.
    let at_44k = dir.path("stage-44k.wav");
    job.start(scene, &scene_path, (stems.audio.clone(), SR), 44_100, Default::default(), at_44k.clone(), Vec::new());
    while job.progress().is_some() {
        std::thread::sleep(std::time::Duration::from_millis(5));
        job.poll();
    }
    assert!(job.outcome.clone().expect("an outcome").is_ok());
    let cli_44k = dir.path("cli-44k.wav");
    let options = proxemix::mix::offline::RenderOptions { sample_rate: 44_100, ..Default::default() };
    proxemix::commands::render_to_wav(
        &scene_path,
        &cli_44k,
        &options,
        proxemix::mix::offline::WavFormat::Int24,
        &Default::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(hound::WavReader::open(&at_44k).unwrap().spec().sample_rate, 44_100);
    assert_eq!(std::fs::read(&at_44k).unwrap(), std::fs::read(&cli_44k).unwrap(), "44.1 kHz export = render at 44.1");
}

#[test]
fn gamepad_shoulders_select_triggers_resize_and_south_mutes() {
    use bevy::input::gamepad::GamepadButton;
    use proxemix::app::stems::BodySize;
    let dir = TempDir::new("stage-pad-buttons");
    write_mono_wav(&dir.path("a.wav"), &low_chord(SR as usize / 2, 0.2));
    let stems: Vec<String> = ["one", "two", "three"]
        .iter()
        .enumerate()
        .map(|(i, n)| stem(n, "a.wav", (i as f32, 1.0, -2.0), 1.0, 0.0))
        .collect();
    let scene_path = dir.path("pad.ron");
    std::fs::write(&scene_path, scene_text(&stems, -6.0)).unwrap();
    let scene = Scene::load(&scene_path).unwrap();
    let mut app = headless_app(&scene_path, scene, Vec::new(), StageAudio::<OfflineBackend>::silent());
    app.update();
    let pad = connect_gamepad(&mut app);
    app.update();
    let button = |app: &mut App, b: GamepadButton, v: f32| {
        gamepad_button(app, pad, b, v);
        app.update();
    };
    let selected = |app: &mut App| -> Vec<String> {
        let mut q = app.world_mut().query_filtered::<&StemBody, With<Selected>>();
        q.iter(app.world()).map(|b| b.name.clone()).collect()
    };

    button(&mut app, GamepadButton::RightTrigger, 1.0);
    button(&mut app, GamepadButton::RightTrigger, 0.0);
    assert_eq!(selected(&mut app), ["one"], "RB from nothing selects the first body");
    button(&mut app, GamepadButton::RightTrigger, 1.0);
    button(&mut app, GamepadButton::RightTrigger, 0.0);
    assert_eq!(selected(&mut app), ["two"], "RB steps to the next");
    button(&mut app, GamepadButton::LeftTrigger, 1.0);
    button(&mut app, GamepadButton::LeftTrigger, 0.0);
    button(&mut app, GamepadButton::LeftTrigger, 1.0);
    button(&mut app, GamepadButton::LeftTrigger, 0.0);
    assert_eq!(selected(&mut app), ["three"], "LB steps back and wraps around");

    // Right trigger fully in for one second doubles the size (one octave per second); the left one halves it.
    let size = |app: &mut App| {
        let mut q = app.world_mut().query::<(&StemBody, &BodySize)>();
        q.iter(app.world()).find(|(b, _)| b.name == "three").unwrap().1.0
    };
    gamepad_button(&mut app, pad, GamepadButton::RightTrigger2, 1.0);
    for _ in 0..60 {
        app.update();
    }
    gamepad_button(&mut app, pad, GamepadButton::RightTrigger2, 0.0);
    app.update();
    let grown = size(&mut app);
    assert!((grown - 2.0).abs() < 0.1, "one second of full right trigger: size {grown}");

    button(&mut app, GamepadButton::South, 1.0);
    button(&mut app, GamepadButton::South, 0.0);
    let mut q = app.world_mut().query::<(&StemBody, &Muted)>();
    let muted: Vec<_> = q.iter(app.world()).filter(|(_, m)| m.0).map(|(b, _)| b.name.clone()).collect();
    assert_eq!(muted, ["three"], "South mutes the selected body only");
}

/// Renders `frames` frames and returns the left channel.
fn render_left(app: &mut App, frames: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; frames * 2];
    for chunk in out.chunks_mut(BLOCK * 2) {
        graph(app).backend_mut().render_block(chunk);
    }
    out.iter().step_by(2).copied().collect()
}

/// Energy of the second difference against the signal's: near (2πf/SR)⁴ for a low tone, far more once
/// harmonics and hiss are added.
fn roughness(x: &[f32]) -> f64 {
    let second: f64 = x.windows(3).map(|w| ((w[2] - 2.0 * w[1] + w[0]) as f64).powi(2)).sum();
    second / energy(x)
}

#[test]
fn west_and_the_right_trigger_spoil_the_selection_and_it_is_heard_and_undone() {
    use bevy::input::gamepad::GamepadButton;
    use proxemix::app::stems::{BodySize, Spoil};
    let dir = TempDir::new("stage-spoil");
    let mut app = one_stem_stage(&dir, -1.5);
    for _ in 0..5 {
        frame(&mut app);
    }
    let clean = roughness(&render_left(&mut app, SR as usize / 4));
    let pad = connect_gamepad(&mut app);
    frame(&mut app);
    // West held, right trigger fully in for one second: spoil rises by half (0.5 per second); size stays.
    gamepad_button(&mut app, pad, GamepadButton::West, 1.0);
    gamepad_button(&mut app, pad, GamepadButton::RightTrigger2, 1.0);
    for _ in 0..60 {
        frame(&mut app);
    }
    gamepad_button(&mut app, pad, GamepadButton::RightTrigger2, 0.0);
    gamepad_button(&mut app, pad, GamepadButton::West, 0.0);
    frame(&mut app);
    let (spoil, size) =
        app.world_mut().query::<(&Spoil, &BodySize)>().single(app.world()).map(|(s, z)| (s.0, z.0)).unwrap();
    assert!((spoil - 0.5).abs() < 0.05, "one second of West + right trigger: spoil {spoil}");
    assert_eq!(size, 1.0, "the trigger spoiled instead of resizing");
    // The sound follows (after the loudness match settles).
    render_left(&mut app, SR as usize / 2);
    let spoiled = roughness(&render_left(&mut app, SR as usize / 4));
    eprintln!("roughness clean {clean:.2e}, spoiled {spoiled:.2e}");
    assert!(spoiled > 10.0 * clean, "spoil 0.5 should be heard: roughness {clean:.2e} → {spoiled:.2e}");
    // One undo takes the whole gesture back.
    press(&mut app, &[KeyCode::ControlLeft, KeyCode::KeyZ]);
    let spoil = app.world_mut().query::<&Spoil>().single(app.world()).unwrap().0;
    assert_eq!(spoil, 0.0, "Ctrl+Z undid the spoil gesture");
}

#[test]
fn e_spoils_a_little_everywhere_differently_each_time_and_ctrl_z_undoes_it() {
    use proxemix::app::stems::Spoil;
    let dir = TempDir::new("stage-everywhere");
    write_mono_wav(&dir.path("a.wav"), &low_chord(SR as usize / 2, 0.2));
    let stems: Vec<String> =
        (0..5).map(|i| stem(&format!("s{i}"), "a.wav", (i as f32 - 2.0, 1.0, -2.0), 1.0, 0.0)).collect();
    let scene_path = dir.path("everywhere.ron");
    std::fs::write(&scene_path, scene_text(&stems, -6.0)).unwrap();
    let scene = Scene::load(&scene_path).unwrap();
    let mut app = headless_app(&scene_path, scene, Vec::new(), StageAudio::<OfflineBackend>::silent());
    app.update();
    let amounts = |app: &mut App| {
        let mut q = app.world_mut().query::<(&StemBody, &Spoil)>();
        let mut v: Vec<(usize, f32)> = q.iter(app.world()).map(|(b, s)| (b.index, s.0)).collect();
        v.sort_by_key(|p| p.0);
        v.into_iter().map(|p| p.1).collect::<Vec<f32>>()
    };
    press(&mut app, &[KeyCode::KeyE]);
    let first = amounts(&mut app);
    assert_eq!(first.iter().filter(|&&a| a == 0.0).count(), 1, "one stem stays pristine: {first:?}");
    assert!(first.iter().all(|&a| a <= 0.4), "small amounts: {first:?}");
    let mut distinct = first.clone();
    distinct.sort_by(f32::total_cmp);
    distinct.dedup();
    assert_eq!(distinct.len(), 5, "each stem a different amount: {first:?}");
    press(&mut app, &[KeyCode::KeyE]);
    let second = amounts(&mut app);
    assert_ne!(first, second, "pressing again deals afresh");
    press(&mut app, &[KeyCode::ControlLeft, KeyCode::KeyZ]);
    assert_eq!(amounts(&mut app), first, "Ctrl+Z goes back to the first deal");
}

/// A headless stage over the offline backend for scene `a`, with scene `b` loaded for A/B.
fn ab_stage(dir: &TempDir, a: &str, b: &str) -> App {
    let chord = low_chord(SR as usize * 4, 0.3);
    write_mono_wav(&dir.path("chord.wav"), &chord);
    let (a_path, b_path) = (dir.path("a.ron"), dir.path("b.ron"));
    std::fs::write(&a_path, a).unwrap();
    std::fs::write(&b_path, b).unwrap();
    let (a, b) = (Scene::load(&a_path).unwrap(), Scene::load(&b_path).unwrap());
    let audio =
        vec![Some(Audio::from_frames(SR, chord.iter().map(|s| kira::Frame { left: *s, right: *s }).collect()).into())];
    let factory: GraphFactory<OfflineBackend> = Box::new(|scene, audio| {
        let config = GraphConfig { looping: true, cues: Default::default(), ..GraphConfig::offline(SR) };
        MixGraph::new(OfflineSettings { sample_rate: SR }, scene, audio, config)
    });
    let live = StageAudio::new(&a, &audio, factory).unwrap();
    let slots = vec![(a_path.clone(), a.clone()), (b_path, b)];
    let mut app = headless_app(&a_path, a, slots, live);
    app.insert_resource(proxemix::app::shared::StemAudio { sample_rate: SR, audio, problems: vec![] });
    app.update();
    graph(&mut app).start();
    app
}

#[test]
fn the_stage_plays_the_timeline_and_switches_between_loudness_matched_scenes() {
    use proxemix::app::stems::StageScene;
    let dir = TempDir::new("stage-workshop");
    let line = stem("chord", "chord.wav", (0.0, EAR_HEIGHT_M, -1.0), 1.0, 0.0);
    let keyed = format!(
        "{}, keys: [(at: Seconds(1.0), muted: true), (at: Seconds(2.0), muted: false)])",
        line.trim_end_matches(')')
    );
    let a = scene_text(&[keyed], -60.0).replace("version: 1", "version: 2");
    // 120 BPM in 4: a bar every 2 s, for switches on the bar line.
    let a = format!("{}, timeline: (tempo: (bpm: 120.0), sections: []))", a.trim_end_matches(')'));
    let b = scene_text(&[stem("chord", "chord.wav", (0.0, EAR_HEIGHT_M, -4.0), 1.0, 0.0)], -60.0);
    let mut app = ab_stage(&dir, &a, &b);

    // The timeline mutes the stem from 1 s to 2 s of the song; the file keeps it unmuted.
    let mut levels = Vec::new();
    for _ in 0..150 {
        app.update();
        levels.push(render_energy(&mut app, FRAME));
    }
    let (before, during, after) =
        (levels[20..55].iter().sum::<f64>(), levels[66..115].iter().sum::<f64>(), levels[126..].iter().sum::<f64>());
    assert!(before > 1.0 && after > 1.0, "heard before and after the mute: {before} {after}");
    assert!(during < before * 1e-6, "silent while the timeline mutes it: {:.1} dB", db(during / before));
    assert!(!app.world().resource::<StageScene>().scene.stems[0].muted, "the document keeps the stem's own value");

    // The loudness match runs in the background; B (4 m away) is quieter, so A is trimmed down to it.
    for _ in 0..600 {
        app.update();
        render_energy(&mut app, FRAME);
        if app.world().resource::<proxemix::app::workshop::Compare>().matching_progress == Some(1.0) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let workshop = app.world().resource::<proxemix::app::workshop::Compare>();
    let (trim_a, trim_b) = (workshop.slots[0].trim_db, workshop.slots[1].trim_db);
    assert!(trim_b.abs() < 0.05 && trim_a < -8.0, "trims A {trim_a:.2} dB, B {trim_b:.2} dB");
    // One whole loop of the (4 s) song in each, as the stage plays it: their integrated loudness (BS.1770).
    let one_loop = |app: &mut App| {
        while graph(app).position_s() > 0.1 {
            frame(app);
        }
        let mut out = vec![0.0f32; 240 * FRAME * 2];
        for chunk in out.chunks_mut(FRAME * 2) {
            app.update();
            for block in chunk.chunks_mut(BLOCK * 2) {
                graph(app).backend_mut().render_block(block);
            }
        }
        proxemix::mix::offline::measure(&out, SR).integrated_lufs
    };
    let heard_a = one_loop(&mut app);
    press(&mut app, &[KeyCode::Digit2]);
    assert!(body_position(&mut app).z < -3.9, "2 shows B's staging");
    assert!(app.world().resource::<StageScene>().path.ends_with("b.ron"));
    let heard_b = one_loop(&mut app);
    eprintln!("trims A {trim_a:.2} dB, B {trim_b:.2} dB; on the stage A {heard_a:.2} LUFS, B {heard_b:.2} LUFS");
    assert!((heard_a - heard_b).abs() < 0.5, "A {heard_a:.2} and B {heard_b:.2} LUFS on the stage");
    press(&mut app, &[KeyCode::Tab]);
    assert!((body_position(&mut app).z + 1.0).abs() < 1e-4, "Tab goes back to A");
    assert!(app.world().resource::<StageScene>().path.ends_with("a.ron"));

    // N: the next switch waits for the bar line (every 2 s at 120 BPM), then happens within a frame of it.
    press(&mut app, &[KeyCode::KeyN]);
    press(&mut app, &[KeyCode::Digit2]);
    let asked_at = graph(&mut app).position_s();
    let bar = (asked_at / 2.0).floor() * 2.0 + 2.0;
    let mut switched_at = None;
    for _ in 0..200 {
        frame(&mut app);
        if app.world().resource::<StageScene>().path.ends_with("b.ron") {
            switched_at = Some(graph(&mut app).position_s());
            break;
        }
    }
    let switched_at = switched_at.expect("the switch happened");
    eprintln!("asked at {asked_at:.3} s, bar line at {bar:.3} s, switched at {switched_at:.3} s");
    assert!(bar - asked_at > 0.1, "asked well before the bar line");
    // The 4 s song loops, so the bar line at 4 s is also 0 s.
    let song = graph(&mut app).song_seconds();
    let off = (switched_at - bar).rem_euclid(song);
    let off = off.min(song - off);
    assert!(off <= 2.0 / 60.0, "switched at {switched_at:.3} s for the bar at {bar:.3} s ({off:.3} s off)");
}

/// The drop-the-drums timeline as the stage plays it (the headless app: the timeline moves the bodies' mute,
/// the bridge maps them into the graph each video frame), captured, against `proxemix render`.
#[test]
fn the_stage_plays_a_timeline_as_the_render_does_per_section() {
    use proxemix::mix::offline::{self, RenderOptions};
    use proxemix::scene::timeline::Resolved;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scene_path = root.join("scenes/drop-the-drums.ron");
    let (scene, audio) = proxemix::commands::load_for_render(&scene_path, SR).unwrap();
    let factory: GraphFactory<OfflineBackend> = Box::new(|scene, audio| {
        let config = GraphConfig { looping: false, cues: Default::default(), ..GraphConfig::offline(SR) };
        MixGraph::new(OfflineSettings { sample_rate: SR }, scene, audio, config)
    });
    let live = StageAudio::new(&scene, &audio, factory).unwrap();
    let mut app = headless_app(&scene_path, scene.clone(), Vec::new(), live);
    app.update();
    graph(&mut app).start();
    let seconds = 45;
    let mut captured = vec![0.0f32; (seconds * SR as usize + latency() + FRAME) * 2];
    let mut done = 0;
    while done + FRAME <= captured.len() / 2 {
        app.update();
        for chunk in captured[2 * done..2 * (done + FRAME)].chunks_mut(BLOCK * 2) {
            graph(&mut app).backend_mut().render_block(chunk);
        }
        done += FRAME;
    }
    captured.drain(..2 * latency());
    let options = RenderOptions { seconds: Some(seconds as f64), ..Default::default() };
    let rendered = offline::render(&scene, &audio, &options, &mut |_| {}).unwrap().interleaved;
    let level = |x: &[f32], from: f64, to: f64| {
        let (a, b) = ((from * SR as f64) as usize * 2, (to * SR as f64) as usize * 2);
        db(energy(&x[a..b]) / (b - a) as f64)
    };
    let mut worst = 0.0f64;
    for section in &Resolved::of(&scene).unwrap().sections {
        let (a, b) =
            (level(&rendered, section.start_s, section.end_s), level(&captured, section.start_s, section.end_s));
        eprintln!("{:<12} render {a:6.2} dB, stage {b:6.2} dB", section.name);
        worst = worst.max((a - b).abs());
    }
    assert!(worst <= 0.5, "the stage and the render differ by {worst:.2} dB in a section");
    // Around the chorus downbeat, in 10 ms windows: the drums come back in the same window on the stage.
    let mut worst_window = 0.0f64;
    for k in 0..20 {
        let from = 19.95 + k as f64 * 0.01;
        let (a, b) = (level(&rendered, from, from + 0.01), level(&captured, from, from + 0.01));
        eprintln!("{from:.2} s: render {a:6.2} dB, stage {b:6.2} dB");
        worst_window = worst_window.max((a - b).abs());
    }
    assert!(worst_window <= 0.5, "around the downbeat the stage and the render differ by {worst_window:.2} dB");
}

#[test]
fn the_quiz_keeps_playing_the_truth_while_the_class_moves_the_bodies_and_scores_the_guesses() {
    let dir = TempDir::new("stage-quiz");
    let a = scene_text(&[stem("chord", "chord.wav", (1.0, EAR_HEIGHT_M, -1.5), 1.0, 0.0)], -60.0);
    let mut app = ab_stage(&dir, &a, &a);
    let stretch = |app: &mut App| {
        while !(1.0..1.1).contains(&graph(app).position_s()) {
            frame(app);
        }
        render_left(app, FRAME * 60)
    };
    let before = stretch(&mut app);
    press(&mut app, &[KeyCode::KeyQ]);
    let start = body_position(&mut app);
    assert!(start.z.abs() < 1e-4 && start.y < 0.2, "the body waits on the floor beside the listener: {start}");
    // The class carries the body to the wrong side: what plays is still the truth.
    let body = app.world_mut().query_filtered::<Entity, With<StemBody>>().single(app.world()).unwrap();
    app.world_mut().get_mut::<Transform>(body).unwrap().translation = Vec3::new(-2.0, EAR_HEIGHT_M, -3.0);
    let during = stretch(&mut app);
    let change = db(energy(&during) / energy(&before));
    assert!(change.abs() < 0.1, "the left channel changed by {change:.2} dB while the guess moved");
    press(&mut app, &[KeyCode::KeyQ]);
    let quiz = app.world().resource::<proxemix::app::workshop::QuizState>();
    let answer = &quiz.0.as_ref().and_then(|q| q.answers.as_ref()).expect("revealed")[0];
    eprintln!("quiz answer: {answer:?}");
    assert!((answer.true_distance_m - 1.803).abs() < 0.01 && answer.distance_error_m > 1.7);
    assert!(answer.angle_error_deg > 60.0 && answer.points < 50.0, "{answer:?}");
    press(&mut app, &[KeyCode::KeyQ]);
    assert!((body_position(&mut app) - Vec3::new(1.0, EAR_HEIGHT_M, -1.5)).length() < 1e-4, "the staging is back");
}

#[test]
fn ctrl_shift_z_and_ctrl_y_redo_what_ctrl_z_undid_and_it_is_heard() {
    let dir = TempDir::new("stage-redo");
    let mut app = one_stem_stage(&dir, -1.5);
    for _ in 0..5 {
        frame(&mut app);
    }
    let playing = render_energy(&mut app, FRAME * 4);
    let muted = |app: &mut App| app.world_mut().query::<&Muted>().single(app.world()).unwrap().0;
    let heard = |app: &mut App| {
        render_energy(app, FRAME + BLOCK + latency());
        db(render_energy(app, FRAME * 4) / playing)
    };
    press(&mut app, &[KeyCode::KeyM]);
    press(&mut app, &[KeyCode::ControlLeft, KeyCode::KeyZ]);
    assert!(!muted(&mut app), "undone");
    press(&mut app, &[KeyCode::ControlLeft, KeyCode::ShiftLeft, KeyCode::KeyZ]);
    assert!(muted(&mut app), "Ctrl+Shift+Z redid the mute");
    assert!(heard(&mut app) < -120.0, "and it is silent again");
    press(&mut app, &[KeyCode::ControlLeft, KeyCode::KeyZ]);
    assert!(!muted(&mut app) && heard(&mut app).abs() < 0.5, "undone again, heard at the same level");
    press(&mut app, &[KeyCode::ControlLeft, KeyCode::KeyY]);
    assert!(muted(&mut app), "Ctrl+Y redoes too");
    // A new edit after an undo forgets what could have been redone.
    press(&mut app, &[KeyCode::ControlLeft, KeyCode::KeyZ]);
    press(&mut app, &[KeyCode::KeyS]);
    press(&mut app, &[KeyCode::ControlLeft, KeyCode::KeyY]);
    assert!(!muted(&mut app), "nothing left to redo after a new edit");
    assert!(!app.world().resource::<proxemix::app::stems::History>().can_redo());
}

#[test]
fn p_opens_presenter_mode_esc_leaves_it_h_hides_the_bodies_and_the_option_opens_in_presenter_mode() {
    use proxemix::app::workshop::Presentation;
    let dir = TempDir::new("stage-presenter");
    let mut app = one_stem_stage(&dir, -1.5);
    let presentation = |app: &App| *app.world().resource::<Presentation>();
    assert!(!presentation(&app).presenter && !presentation(&app).listen);
    press(&mut app, &[KeyCode::KeyP]);
    assert!(presentation(&app).presenter, "P: presenter mode");
    press(&mut app, &[KeyCode::Escape]);
    assert!(!presentation(&app).presenter, "Esc leaves it");
    press(&mut app, &[KeyCode::KeyH]);
    assert!(presentation(&app).listen, "H: listen mode");
    press(&mut app, &[KeyCode::KeyH]);
    assert!(!presentation(&app).listen, "H again: the bodies are back");

    // `proxemix SCENE --presenter` opens in presenter mode.
    let scene_path = dir.path("stage.ron");
    let scene = Scene::load(&scene_path).unwrap();
    let mut presenting =
        headless_app::<OfflineBackend>(&scene_path, scene, Vec::new(), proxemix::app::audio::StageAudio::silent());
    presenting.insert_resource(proxemix::app::StageOptions { silent: true, presenter: true, ..default() });
    presenting.update();
    assert!(presentation(&presenting).presenter, "--presenter opens in presenter mode");
}

#[test]
fn f1_switches_the_level_cue_off_it_is_heard_and_the_export_equals_render_without_level() {
    use proxemix::app::workshop::CueSwitches;
    let dir = TempDir::new("stage-cues");
    // Six metres away the level cue takes nearly 10 dB off (the distance law, flattened beyond the critical
    // distance); without it, that is back.
    let mut app = one_stem_stage(&dir, -6.0);
    for _ in 0..5 {
        frame(&mut app);
    }
    let far = render_energy(&mut app, FRAME * 8);
    press(&mut app, &[KeyCode::F1]);
    assert!(!app.world().resource::<CueSwitches>().0.level, "F1 switched the level cue off");
    render_energy(&mut app, FRAME + BLOCK + latency());
    let without_level = render_energy(&mut app, FRAME * 8);
    let mix = |cues| {
        let placement = proxemix::mix::mapping::Placement {
            position: [0.0, EAR_HEIGHT_M, -6.0],
            size: 1.0,
            gain_db: 0.0,
            spoil: 0.0,
            send_db: 0.0,
            audible: true,
        };
        let room = Scene::load(&dir.path("stage.ron")).unwrap().room;
        proxemix::mix::mapping::stem_mix_with(&placement, &room, cues).dry_db.unwrap() as f64
    };
    let mut off = proxemix::mix::mapping::Cues::ALL;
    off.switch_off("level").unwrap();
    let want = mix(off) - mix(proxemix::mix::mapping::Cues::ALL);
    let got = db(without_level / far);
    eprintln!("level cue off: {got:+.2} dB heard, the mapping says {want:+.2} dB");
    assert!(want > 6.0 && (got - want).abs() < 0.5, "heard {got:+.2} dB, the mapping says {want:+.2} dB");
    press(&mut app, &[KeyCode::F3]);
    assert!(!app.world().resource::<CueSwitches>().0.air, "F3: air off");

    // What the stage exports with the cues as they are switched equals `proxemix render --without level,air`.
    let scene_path = dir.path("stage.ron");
    let scene = Scene::load(&scene_path).unwrap();
    let stems = proxemix::app::shared::StemAudio::load(&scene_path, &scene, SR);
    let cues = app.world().resource::<CueSwitches>().0;
    let mut job = proxemix::app::export::ExportJob::default();
    let from_stage = dir.path("stage.wav");
    job.start(scene, &scene_path, (stems.audio.clone(), SR), SR, cues, from_stage.clone(), Vec::new());
    while job.progress().is_some() {
        std::thread::sleep(std::time::Duration::from_millis(5));
        job.poll();
    }
    assert!(job.outcome.clone().expect("an outcome").is_ok());
    let from_cli = dir.path("cli.wav");
    let run = Command::new(env!("CARGO_BIN_EXE_proxemix"))
        .arg("render")
        .arg(&scene_path)
        .arg("-o")
        .arg(&from_cli)
        .args(["--sample-rate", &SR.to_string(), "--without", "level,air"])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(
        std::fs::read(&from_stage).unwrap(),
        std::fs::read(&from_cli).unwrap(),
        "stage export = render --without"
    );
}
