//! `--screenshot PATH [--frames N]`: render N frames, save the window as a PNG (and where each body landed on
//! it, for tests), then exit.

use std::path::{Path, PathBuf};

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};
use bevy::window::PrimaryWindow;

use super::camera::OrbitCamera;
use super::stage::{STEM_COLOURS, body_radius};
use super::stems::{BodySize, StemBody};

pub struct ScreenshotPlugin {
    pub path: PathBuf,
    pub frames: u32,
}

#[derive(Resource)]
struct Plan {
    path: PathBuf,
    frames: u32,
    seen: u32,
    requested: bool,
}

/// Set by the capture observer: Ok once the PNG is on disk.
#[derive(Resource, Default)]
struct Captured(Option<Result<(), String>>);

/// Frames to wait for the capture after asking for it before giving up.
const CAPTURE_TIMEOUT_FRAMES: u32 = 600;

impl Plugin for ScreenshotPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(Plan { path: self.path.clone(), frames: self.frames, seen: 0, requested: false })
            .init_resource::<Captured>()
            .add_systems(Last, take_screenshot);
    }
}

fn take_screenshot(
    mut commands: Commands,
    mut plan: ResMut<Plan>,
    mut captured: ResMut<Captured>,
    mut exit: MessageWriter<AppExit>,
    camera: Single<(&Camera, &GlobalTransform), With<OrbitCamera>>,
    window: Single<&Window, With<PrimaryWindow>>,
    bodies: Query<(&StemBody, &GlobalTransform, &BodySize)>,
) {
    plan.seen += 1;
    if let Some(result) = captured.0.take() {
        match result {
            Ok(()) => {
                println!("saved {}", plan.path.display());
                exit.write(AppExit::Success);
            }
            Err(e) => {
                eprintln!("proxemix: {e}");
                exit.write(AppExit::error());
            }
        }
        return;
    }
    if plan.requested {
        if plan.seen > plan.frames + CAPTURE_TIMEOUT_FRAMES {
            eprintln!("proxemix: the screenshot was never captured");
            exit.write(AppExit::error());
        }
        return;
    }
    if plan.seen < plan.frames {
        return;
    }
    plan.requested = true;
    // Where each body's centre lands in the picture (physical pixels), so a test can check its colour there.
    let (camera, camera_transform) = *camera;
    let scale = window.scale_factor();
    let mut table = String::from("name\tindex\tx_px\ty_px\tradius_px\tr\tg\tb\n");
    let mut rows: Vec<_> = bodies.iter().collect();
    rows.sort_by_key(|b| b.0.index);
    for (body, transform, size) in rows {
        let centre = transform.translation();
        let edge = centre + camera_transform.right().as_vec3() * body_radius(size.0);
        let (Ok(c), Ok(e)) =
            (camera.world_to_viewport(camera_transform, centre), camera.world_to_viewport(camera_transform, edge))
        else {
            continue;
        };
        let [r, g, b] = STEM_COLOURS[body.index % STEM_COLOURS.len()];
        table.push_str(&format!(
            "{}\t{}\t{:.1}\t{:.1}\t{:.1}\t{r}\t{g}\t{b}\n",
            body.name,
            body.index,
            c.x * scale,
            c.y * scale,
            c.distance(e) * scale
        ));
    }
    let sidecar = sidecar_path(&plan.path);
    if let Err(e) = crate::files::atomic_write(&sidecar, table.as_bytes(), false) {
        eprintln!("proxemix: {}: {e}", sidecar.display());
    }
    let path = plan.path.clone();
    commands.spawn(Screenshot::primary_window()).observe(
        move |shot: On<ScreenshotCaptured>, mut done: ResMut<Captured>| {
            done.0 = Some(save_png(&shot.image, &path));
        },
    );
}

/// `shot.png` → `shot.png.bodies.tsv`.
pub fn sidecar_path(png: &Path) -> PathBuf {
    let mut name = png.as_os_str().to_owned();
    name.push(".bodies.tsv");
    PathBuf::from(name)
}

/// Writes the PNG through a temporary file and a rename.
fn save_png(image: &Image, path: &Path) -> Result<(), String> {
    let rgb = image.clone().try_into_dynamic().map_err(|e| format!("screenshot: {e}"))?.to_rgb8();
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "shot".into());
    let tmp = path.with_file_name(format!(".{file_name}.{}.tmp.png", std::process::id()));
    rgb.save(&tmp).map_err(|e| format!("{}: cannot write the screenshot: {e}", path.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("{}: cannot write the screenshot: {e}", path.display())
    })
}
