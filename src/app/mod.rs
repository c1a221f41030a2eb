//! The stage (Bevy): a window where each stem is a body around the listener, moved with mouse or gamepad
//! and heard live through the mix graph; one plugin per feature.
//!
//! A pipeline, each layer reading only those before it: `shared` (the nouns) and `camera`; `stems` (the
//! document in the world); `intent` (the one place edits are applied); `reload` and `workshop` (ask for scenes
//! to be shown); `input` (devices become intents); `audio` (the bridge to the engine), `record` (takes) and
//! `export`, and `room` (phones join: their moves become intents); then what is drawn: `stage`, `ui`,
//! `workshop_ui`, `room_ui`, `screenshot`; in the browser, `web` (the page's
//! side) last. With the `dev` feature, `bench` (the stage's own benchmark) and `testing` (the live tests' hooks).

pub mod audio;
#[cfg(feature = "dev")]
pub mod bench;
pub mod camera;
pub mod device;
pub mod export;
pub mod input;
pub mod intent;
pub mod record;
pub mod reload;
#[cfg(not(target_arch = "wasm32"))]
pub mod room;
#[cfg(not(target_arch = "wasm32"))]
pub mod room_ui;
pub mod screenshot;
pub mod shared;
pub mod stage;
pub mod stems;
#[cfg(feature = "dev")]
pub mod testing;
pub mod ui;
#[cfg(target_arch = "wasm32")]
pub mod web;
pub mod workshop;
pub mod workshop_ui;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bevy::prelude::*;
use kira::backend::Backend;
use kira::backend::cpal::CpalBackend;

pub use crate::commands::UserError;
use crate::scene::Scene;
use audio::{AudioBridgePlugin, StageAudio};
use shared::StemAudio;
pub use shared::{AudioDeviceStatus, StageOptions};

/// Sample rate for decoding when no device dictates one (the export default).
const FALLBACK_SAMPLE_RATE: u32 = 48_000;

/// Opens the stage on `scene_path` and returns when the window closes.
pub fn run(scene_path: PathBuf, options: StageOptions) -> Result<(), UserError> {
    let scene = Scene::load(&scene_path)?;
    let mut slots = vec![(scene_path.clone(), scene.clone())];
    for path in &options.compare {
        let other = Scene::load(path)?;
        crate::mix::ab::compatible(&scene, &other)
            .map_err(|e| UserError(format!("{}: cannot compare with {}: {e}", path.display(), scene_path.display())))?;
        slots.push((path.clone(), other));
    }
    check_display()?;
    let silent = options.silent || options.screenshot.is_some();
    let mut device_lost = false;
    let (stage_audio, stem_audio, device) = if silent {
        let stems = StemAudio::load(&scene_path, &scene, FALLBACK_SAMPLE_RATE);
        (StageAudio::silent(), stems, AudioDeviceStatus::default())
    } else {
        match device::connect(&options.device, &scene_path, &scene, None) {
            // The song starts once the device asks for sound steadily (see `device`): a new stream's first
            // buffers are often played long before the next ones are asked for.
            Ok(opened) => opened,
            Err(why) => {
                // Tried again while the stage runs (a sound server that is not up yet, a device plugged in later).
                device_lost = true;
                let stems = StemAudio::load(&scene_path, &scene, FALLBACK_SAMPLE_RATE);
                let problem = format!("no sound: {why}; trying again; Export WAV still works");
                (StageAudio::silent(), stems, AudioDeviceStatus { problem: Some(problem), ..default() })
            }
        }
    };
    if let Some(problem) = &device.problem {
        eprintln!("proxemix: {problem}");
    }
    for problem in &stem_audio.problems {
        eprintln!("proxemix: silent: {problem}");
    }

    let mut app = App::new();
    let window = Window { resolution: (1600, 900).into(), ..default() };
    add_window_plugins(&mut app, &scene, window);
    app.insert_resource(options.clone())
        .insert_resource(device)
        .insert_resource(stem_audio)
        .insert_resource(stage_audio)
        .add_plugins(stage_logic::<CpalBackend>(scene_path, scene, slots))
        .add_plugins(device::DevicePlugin { choice: options.device.clone(), lost: device_lost && !silent })
        .add_plugins((stage::StageViewPlugin, ui::PanelsPlugin, export::ExportPlugin));
    // The room's window: the room is a server on the machine, not in the browser build.
    #[cfg(not(target_arch = "wasm32"))]
    app.add_plugins(room_ui::RoomWindowPlugin);
    #[cfg(feature = "dev")]
    app.add_plugins(testing::TestHooksPlugin);
    if let Some(path) = &options.screenshot {
        app.add_plugins(screenshot::ScreenshotPlugin { path: path.clone(), frames: options.frames.max(1) });
    }
    match app.run() {
        AppExit::Success => Ok(()),
        AppExit::Error(code) => Err(UserError(format!("the stage stopped with error {code}"))),
    }
}

/// Bevy's plugins for a stage in `window` (titled with the scene's name), its log, picking and egui: the
/// desktop's window and the web page's canvas alike.
pub(crate) fn add_window_plugins(app: &mut App, scene: &Scene, window: Window) {
    let window = Window { title: format!("Proxemix — {}", scene.name), ..window };
    app.add_plugins(
        DefaultPlugins
            .set(WindowPlugin { primary_window: Some(window), ..default() })
            .set(bevy::log::LogPlugin { filter: "warn,proxemix=info".into(), ..default() }),
    )
    .add_plugins((MeshPickingPlugin, bevy_egui::EguiPlugin::default()));
}

/// The plugins that hold the stage's logic (no window, no GPU): the world of stems, input and the audio bridge.
/// `slots` are the scenes loaded for A/B, the opened one first.
pub fn stage_logic<B: Backend + Send + 'static>(
    scene_path: PathBuf,
    scene: Scene,
    slots: Vec<(PathBuf, Scene)>,
) -> impl PluginGroup
where
    B::Error: std::fmt::Display,
{
    StageLogic::<B> { scene_path, scene, slots, backend: std::marker::PhantomData }
}

struct StageLogic<B> {
    scene_path: PathBuf,
    scene: Scene,
    slots: Vec<(PathBuf, Scene)>,
    backend: std::marker::PhantomData<B>,
}

impl<B: Backend + Send + 'static> PluginGroup for StageLogic<B>
where
    B::Error: std::fmt::Display,
{
    fn build(self) -> bevy::app::PluginGroupBuilder {
        let group = bevy::app::PluginGroupBuilder::start::<Self>()
            .add(stems::StemsPlugin { path: self.scene_path, scene: self.scene })
            .add(intent::IntentPlugin)
            .add(reload::ReloadPlugin)
            .add(input::StageInputPlugin)
            .add(workshop::WorkshopPlugin { slots: self.slots })
            .add(AudioBridgePlugin::<B>::default())
            .add(record::RecordPlugin);
        // Phones join through a server on the machine: not in the browser build.
        #[cfg(not(target_arch = "wasm32"))]
        let group = group.add(room::RoomPlugin);
        group
    }
}

/// A windowless stage for tests and benchmarks: time advances one 60 Hz frame per `update()`.
pub fn headless_app<B: Backend + Send + 'static>(
    scene_path: &Path,
    scene: Scene,
    slots: Vec<(PathBuf, Scene)>,
    audio: StageAudio<B>,
) -> App
where
    B::Error: std::fmt::Display,
{
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, TransformPlugin, bevy::input::InputPlugin))
        .insert_resource(bevy::time::TimeUpdateStrategy::ManualDuration(Duration::from_secs_f64(1.0 / 60.0)))
        .insert_resource(audio)
        .insert_resource(StageOptions { silent: true, ..default() })
        .add_plugins(stage_logic::<B>(scene_path.to_path_buf(), scene, slots));
    app
}

/// A window needs a display; without one, say so in one line and point to the command that works anyway.
fn check_display() -> Result<(), UserError> {
    if cfg!(target_os = "linux") {
        let set = |v: &str| std::env::var_os(v).is_some_and(|s| !s.is_empty());
        if !set("DISPLAY") && !set("WAYLAND_DISPLAY") {
            return Err(UserError(
                "no display to open the stage on (DISPLAY and WAYLAND_DISPLAY are unset); to hear a scene without \
                 one, render it: proxemix render SCENE -o mix.wav"
                    .into(),
            ));
        }
    }
    Ok(())
}
