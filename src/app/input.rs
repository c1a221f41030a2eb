//! Mouse, keyboard and gamepad: picking, dragging (one body or a group), resizing, spoiling, the orbit camera,
//! the shortcuts, and the gamepad mapping. Every edit is preceded by an undo checkpoint.

use bevy::input::gamepad::{Gamepad, GamepadButton};
use bevy::input::mouse::{MouseScrollUnit, MouseWheel};
use bevy::picking::events::{Drag, DragEnd, DragStart, Out, Over, Pointer, Press};
use bevy::picking::pointer::PointerButton;
use bevy::prelude::*;
use bevy::window::PrimaryWindow;

use super::audio::TransportCommand;
use super::stems::{
    BodySize, Muted, SceneCommand, Selected, Solo, Spoil, StageSet, StemBody, clamp_position, clamp_size,
};

/// The camera orbits a point on the stage: yaw around the vertical, pitch above the floor, distance.
#[derive(Component, Debug, Clone, Copy)]
pub struct OrbitCamera {
    pub target: Vec3,
    pub yaw: f32,
    pub pitch: f32,
    pub distance: f32,
}

impl Default for OrbitCamera {
    fn default() -> Self {
        // Behind and above the listener, looking over their shoulder at the stage in front (-Z).
        OrbitCamera { target: Vec3::new(0.0, 0.4, -2.2), yaw: 0.0, pitch: 0.85, distance: 8.5 }
    }
}

impl OrbitCamera {
    pub fn transform(&self) -> Transform {
        let rotation = Quat::from_euler(EulerRot::YXZ, self.yaw, -self.pitch, 0.0);
        Transform::from_translation(self.target + rotation * Vec3::Z * self.distance).looking_at(self.target, Vec3::Y)
    }
}

/// Whether egui has the pointer or the keyboard (set by the panels; false when there are none, as in tests).
#[derive(Resource, Debug, Default, Clone, Copy)]
pub struct UiFocus {
    pub pointer: bool,
    pub keyboard: bool,
}

/// The body under the mouse pointer, for the wheel.
#[derive(Resource, Debug, Default)]
pub struct Hovered(pub Option<Entity>);

/// A drag in progress: where it started and where each selected body was (and how spoiled).
#[derive(Resource, Debug, Default)]
pub struct DragState {
    active: bool,
    vertical: bool,
    /// R held when the drag started: the drag spoils instead of moving (up = more).
    spoiling: bool,
    anchor: Vec3,
    screen_anchor: Vec2,
    starts: Vec<(Entity, Vec3, f32)>,
}

/// Held while dragging a body, the drag spoils it instead of moving it.
pub const SPOIL_KEY: KeyCode = KeyCode::KeyR;
/// Pixels of vertical drag from no spoil to full spoil.
pub const SPOIL_DRAG_PX: f32 = 250.0;
/// Spoil per second at full trigger while the gamepad's West button is held.
pub const TRIGGER_SPOIL_PER_S: f32 = 0.5;

/// "Spoil a little everywhere" (E, or the button in the room panel): a different small amount per stem.
#[derive(Message, Debug, Clone, Copy)]
pub struct SpoilEverywhere;

/// Metres per second at full stick deflection, floor and height.
pub const STICK_SPEED_M_S: f32 = 2.0;
pub const HEIGHT_SPEED_M_S: f32 = 1.5;
/// Size doubles (or halves) per second at full trigger.
pub const TRIGGER_SIZE_OCTAVES_PER_S: f32 = 1.0;
/// Stick and trigger values below this are noise.
pub const DEAD_ZONE: f32 = 0.15;
/// Each wheel step scales a body by this much.
pub const WHEEL_SIZE_STEP: f32 = 1.1;

pub struct StageInputPlugin;

impl Plugin for StageInputPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<UiFocus>()
            .init_resource::<Hovered>()
            .init_resource::<DragState>()
            .init_resource::<GamepadGesture>()
            .add_message::<SpoilEverywhere>()
            .configure_sets(Update, (StageSet::Input, StageSet::Document).chain())
            .add_systems(
                Update,
                (keyboard_shortcuts, mouse_wheel, orbit_with_mouse, gamepad_control, spoil_everywhere, place_camera)
                    .chain()
                    .in_set(StageSet::Input),
            );
    }
}

/// The floor point under a screen position, on the horizontal plane at `height`.
pub fn floor_point(camera: &Camera, camera_transform: &GlobalTransform, screen: Vec2, height: f32) -> Option<Vec3> {
    let ray = camera.viewport_to_world(camera_transform, screen).ok()?;
    ray.plane_intersection_point(Vec3::new(0.0, height, 0.0), InfinitePlane3d::new(Vec3::Y))
}

/// The point under a screen position on the vertical plane through `through` that faces the camera.
pub fn upright_point(camera: &Camera, camera_transform: &GlobalTransform, screen: Vec2, through: Vec3) -> Option<Vec3> {
    let ray = camera.viewport_to_world(camera_transform, screen).ok()?;
    let mut normal = camera_transform.forward().as_vec3();
    normal.y = 0.0;
    let normal = Dir3::new(normal).unwrap_or(Dir3::Z);
    ray.plane_intersection_point(through, InfinitePlane3d::new(normal))
}

/// Click (press) selects: a plain press picks one body (keeping a group if it is part of it, so the group can
/// be dragged); shift adds or removes a body.
pub fn on_press(
    press: On<Pointer<Press>>,
    keys: Res<ButtonInput<KeyCode>>,
    mut commands: Commands,
    bodies: Query<(Entity, Has<Selected>), With<StemBody>>,
) {
    if press.button != PointerButton::Primary {
        return;
    }
    let target = press.event_target();
    if !bodies.contains(target) {
        return;
    }
    let shift = keys.any_pressed([KeyCode::ShiftLeft, KeyCode::ShiftRight]);
    // A press on a body that is part of the selection keeps the group, so the group can be dragged.
    click_select(&mut commands, target, shift, true, bodies.iter());
}

/// Selection by click: shift adds or removes `target`; a plain click selects `target` alone (unless
/// `keep_group` and it is already selected). `all` lists every body and whether it is selected.
pub fn click_select(
    commands: &mut Commands,
    target: Entity,
    shift: bool,
    keep_group: bool,
    all: impl IntoIterator<Item = (Entity, bool)>,
) {
    let all: Vec<(Entity, bool)> = all.into_iter().collect();
    let was_selected = all.iter().any(|&(e, selected)| e == target && selected);
    if shift {
        if was_selected {
            commands.entity(target).remove::<Selected>();
        } else {
            commands.entity(target).insert(Selected);
        }
        return;
    }
    if was_selected && keep_group {
        return;
    }
    for (e, selected) in all {
        if selected && e != target {
            commands.entity(e).remove::<Selected>();
        }
    }
    commands.entity(target).insert(Selected);
}

/// A click on the empty floor clears the selection.
pub fn on_floor_press(
    press: On<Pointer<Press>>,
    keys: Res<ButtonInput<KeyCode>>,
    mut commands: Commands,
    selected: Query<Entity, With<Selected>>,
) {
    if press.button == PointerButton::Primary && !keys.any_pressed([KeyCode::ShiftLeft, KeyCode::ShiftRight]) {
        for e in &selected {
            commands.entity(e).remove::<Selected>();
        }
    }
}

pub fn on_drag_start(
    start: On<Pointer<DragStart>>,
    keys: Res<ButtonInput<KeyCode>>,
    camera: Option<Single<(&Camera, &GlobalTransform), With<OrbitCamera>>>,
    bodies: Query<(Entity, &Transform, Has<Selected>, &Spoil), With<StemBody>>,
    mut drag: ResMut<DragState>,
    mut requests: MessageWriter<SceneCommand>,
) {
    if start.button != PointerButton::Primary {
        return;
    }
    let Some(camera) = camera else { return };
    let (camera, camera_transform) = *camera;
    let target = start.event_target();
    let Ok((_, grabbed, _, grabbed_spoil)) = bodies.get(target) else { return };
    let grabbed_spoil = grabbed_spoil.0;
    let spoiling = keys.pressed(SPOIL_KEY);
    let vertical = keys.any_pressed([KeyCode::ControlLeft, KeyCode::ControlRight, KeyCode::AltLeft]);
    let screen = start.pointer_location.position;
    let grabbed = grabbed.translation;
    let anchor = if vertical {
        upright_point(camera, camera_transform, screen, grabbed)
    } else {
        floor_point(camera, camera_transform, screen, grabbed.y)
    };
    let Some(anchor) = anchor else { return };
    // The grabbed body moves with its group; if it was not part of the selection it moves alone (on_press
    // has just selected it, but that command lands after this observer).
    let mut starts: Vec<(Entity, Vec3, f32)> = bodies
        .iter()
        .filter(|(e, _, selected, _)| *selected && *e != target)
        .map(|(e, t, _, spoil)| (e, t.translation, spoil.0))
        .collect();
    let target_selected = bodies.get(target).is_ok_and(|b| b.2);
    if !target_selected && !keys.any_pressed([KeyCode::ShiftLeft, KeyCode::ShiftRight]) {
        starts.clear();
    }
    starts.push((target, grabbed, grabbed_spoil));
    requests.write(SceneCommand::Checkpoint);
    *drag = DragState { active: true, vertical, spoiling, anchor, screen_anchor: screen, starts };
}

pub fn on_drag(
    event: On<Pointer<Drag>>,
    camera: Option<Single<(&Camera, &GlobalTransform), With<OrbitCamera>>>,
    drag: Res<DragState>,
    mut bodies: Query<(&mut Transform, &mut Spoil), With<StemBody>>,
) {
    if event.button != PointerButton::Primary || !drag.active {
        return;
    }
    if drag.spoiling {
        // Up the screen is more spoil; every dragged body moves by the same amount from where it was.
        let change = (drag.screen_anchor.y - event.pointer_location.position.y) / SPOIL_DRAG_PX;
        for (entity, _, start) in &drag.starts {
            if let Ok((_, mut spoil)) = bodies.get_mut(*entity) {
                spoil.set_if_neq(Spoil((start + change).clamp(0.0, 1.0)));
            }
        }
        return;
    }
    let Some(camera) = camera else { return };
    let (camera, camera_transform) = *camera;
    let screen = event.pointer_location.position;
    let point = if drag.vertical {
        upright_point(camera, camera_transform, screen, drag.anchor)
    } else {
        floor_point(camera, camera_transform, screen, drag.anchor.y)
    };
    let Some(point) = point else { return };
    let mut delta = point - drag.anchor;
    if drag.vertical {
        delta = Vec3::new(0.0, delta.y, 0.0);
    } else {
        delta.y = 0.0;
    }
    for (entity, start, _) in &drag.starts {
        if let Ok((mut t, _)) = bodies.get_mut(*entity) {
            t.translation = clamp_position(*start + delta);
        }
    }
}

pub fn on_drag_end(end: On<Pointer<DragEnd>>, mut drag: ResMut<DragState>) {
    if end.button == PointerButton::Primary {
        drag.active = false;
        drag.starts.clear();
    }
}

pub fn on_over(over: On<Pointer<Over>>, mut hovered: ResMut<Hovered>) {
    hovered.0 = Some(over.event_target());
}

pub fn on_out(out: On<Pointer<Out>>, mut hovered: ResMut<Hovered>) {
    if hovered.0 == Some(out.event_target()) {
        hovered.0 = None;
    }
}

#[allow(clippy::too_many_arguments)]
/// Wheel over a body resizes it (the selection, if it is part of it); elsewhere it zooms.
fn mouse_wheel(
    mut wheel: MessageReader<MouseWheel>,
    focus: Res<UiFocus>,
    hovered: Res<Hovered>,
    time: Res<Time>,
    mut last_resize: Local<f32>,
    mut bodies: Query<(Entity, &mut BodySize, Has<Selected>)>,
    mut camera: Query<&mut OrbitCamera>,
    mut requests: MessageWriter<SceneCommand>,
) {
    let steps: f32 = wheel
        .read()
        .map(|w| match w.unit {
            MouseScrollUnit::Line => w.y,
            MouseScrollUnit::Pixel => w.y / 40.0,
        })
        .sum();
    if steps == 0.0 || focus.pointer {
        return;
    }
    let factor = WHEEL_SIZE_STEP.powf(steps);
    match hovered.0.filter(|e| bodies.contains(*e)) {
        Some(target) => {
            let now = time.elapsed_secs();
            // One undo step per burst of wheel clicks.
            if now - *last_resize > 0.6 {
                requests.write(SceneCommand::Checkpoint);
            }
            *last_resize = now;
            let group = bodies.get(target).is_ok_and(|b| b.2);
            for (e, mut size, selected) in &mut bodies {
                if e == target || (group && selected) {
                    size.0 = clamp_size(size.0 * factor);
                }
            }
        }
        None => {
            for mut orbit in &mut camera {
                orbit.distance = (orbit.distance / factor).clamp(2.0, 60.0);
            }
        }
    }
}

/// Right-drag orbits the camera around the stage. It follows the cursor inside the window (not raw device
/// motion), so it behaves the same over remote desktops, tablets and synthetic input.
fn orbit_with_mouse(
    buttons: Res<ButtonInput<MouseButton>>,
    windows: Query<&Window, With<PrimaryWindow>>,
    focus: Res<UiFocus>,
    mut last_cursor: Local<Option<Vec2>>,
    mut camera: Query<&mut OrbitCamera>,
) {
    let cursor = windows.iter().next().and_then(Window::cursor_position);
    let previous = std::mem::replace(&mut *last_cursor, cursor);
    if buttons.just_pressed(MouseButton::Right) && focus.pointer {
        *last_cursor = None; // a right-drag that starts on a panel is not an orbit
    }
    let (Some(now), Some(before)) = (cursor, previous) else { return };
    if !buttons.pressed(MouseButton::Right) || buttons.just_pressed(MouseButton::Right) || focus.pointer {
        return;
    }
    let delta = now - before;
    if delta == Vec2::ZERO {
        return;
    }
    for mut orbit in &mut camera {
        orbit.yaw -= delta.x * 0.006;
        orbit.pitch = (orbit.pitch + delta.y * 0.006).clamp(0.08, 1.5);
    }
}

fn place_camera(mut cameras: Query<(&OrbitCamera, &mut Transform), Changed<OrbitCamera>>) {
    for (orbit, mut transform) in &mut cameras {
        *transform = orbit.transform();
    }
}

/// M mutes, S solos (the selection); Ctrl+Z / Ctrl+Shift+Z undo and redo; Ctrl+S saves; space plays or
/// pauses; L loops; Home goes to the start; arrows seek by five seconds; Tab selects the next body; Esc clears;
/// C puts the camera back; E spoils a little everywhere.
#[allow(clippy::too_many_arguments)]
fn keyboard_shortcuts(
    keys: Res<ButtonInput<KeyCode>>,
    focus: Res<UiFocus>,
    transport: Res<super::audio::TransportState>,
    mut commands: Commands,
    mut bodies: Query<(Entity, &StemBody, &mut Muted, &mut Solo, Has<Selected>)>,
    mut camera: Query<&mut OrbitCamera>,
    mut requests: MessageWriter<SceneCommand>,
    mut transport_requests: MessageWriter<TransportCommand>,
    mut everywhere: MessageWriter<SpoilEverywhere>,
    workshop: Res<super::workshop::Workshop>,
) {
    if focus.keyboard {
        return;
    }
    let ctrl = keys.any_pressed([KeyCode::ControlLeft, KeyCode::ControlRight, KeyCode::SuperLeft]);
    let shift = keys.any_pressed([KeyCode::ShiftLeft, KeyCode::ShiftRight]);
    if ctrl {
        if keys.just_pressed(KeyCode::KeyZ) {
            requests.write(if shift { SceneCommand::Redo } else { SceneCommand::Undo });
        }
        if keys.just_pressed(KeyCode::KeyY) {
            requests.write(SceneCommand::Redo);
        }
        if keys.just_pressed(KeyCode::KeyS) {
            requests.write(SceneCommand::Save);
        }
        return;
    }
    let toggle_mute = keys.just_pressed(KeyCode::KeyM);
    let toggle_solo = keys.just_pressed(KeyCode::KeyS);
    if toggle_mute || toggle_solo {
        toggle_selected(&mut bodies, toggle_mute, toggle_solo, &mut requests);
    }
    if keys.just_pressed(KeyCode::Space) {
        transport_requests.write(TransportCommand::TogglePlay);
    }
    if keys.just_pressed(KeyCode::KeyL) {
        transport_requests.write(TransportCommand::SetLooping(!transport.looping));
    }
    if keys.just_pressed(KeyCode::Home) {
        transport_requests.write(TransportCommand::Seek(0.0));
    }
    if keys.just_pressed(KeyCode::ArrowLeft) {
        transport_requests.write(TransportCommand::Nudge(-5.0));
    }
    if keys.just_pressed(KeyCode::ArrowRight) {
        transport_requests.write(TransportCommand::Nudge(5.0));
    }
    // With scenes to compare, Tab belongs to A/B (workshop mode); otherwise it walks the bodies.
    if keys.just_pressed(KeyCode::Tab) && workshop.slots.len() < 2 {
        select_step(&mut commands, bodies.iter().map(|b| (b.0, b.1.index, b.4)), if shift { -1 } else { 1 });
    }
    if keys.just_pressed(KeyCode::KeyE) {
        everywhere.write(SpoilEverywhere);
    }
    if keys.just_pressed(KeyCode::KeyC) {
        for mut orbit in &mut camera {
            *orbit = OrbitCamera::default();
        }
    }
    if keys.just_pressed(KeyCode::Escape) {
        for b in bodies.iter().filter(|b| b.4) {
            commands.entity(b.0).remove::<Selected>();
        }
    }
}

/// Toggles mute and/or solo on the selected bodies (all to the same new state, decided by the first).
fn toggle_selected(
    bodies: &mut Query<(Entity, &StemBody, &mut Muted, &mut Solo, Has<Selected>)>,
    mute: bool,
    solo: bool,
    requests: &mut MessageWriter<SceneCommand>,
) {
    let first = bodies.iter().filter(|b| b.4).min_by_key(|b| b.1.index).map(|b| (b.2.0, b.3.0));
    let Some((muted, soloed)) = first else { return };
    requests.write(SceneCommand::Checkpoint);
    for (_, _, mut m, mut s, selected) in bodies.iter_mut() {
        if selected {
            if mute {
                m.0 = !muted;
            }
            if solo {
                s.0 = !soloed;
            }
        }
    }
}

/// Selects the body `step` places after the (first) selected one, in scene order, wrapping around.
fn select_step(commands: &mut Commands, bodies: impl Iterator<Item = (Entity, usize, bool)>, step: i64) {
    let mut list: Vec<_> = bodies.collect();
    if list.is_empty() {
        return;
    }
    list.sort_by_key(|b| b.1);
    let n = list.len() as i64;
    let next = match list.iter().position(|b| b.2) {
        Some(i) => (i as i64 + step).rem_euclid(n),
        None if step > 0 => 0,
        None => n - 1,
    } as usize;
    for (i, (e, _, selected)) in list.iter().enumerate() {
        if i == next {
            commands.entity(*e).insert(Selected);
        } else if *selected {
            commands.entity(*e).remove::<Selected>();
        }
    }
}

/// Whether a continuous gamepad gesture (stick or trigger) is under way, so it gets one undo checkpoint.
#[derive(Resource, Debug, Default)]
pub struct GamepadGesture(bool);

/// The gamepad: shoulders select the previous/next body, the left stick moves the selection over the floor
/// (relative to the camera), the right stick raises and lowers it, the triggers shrink and grow it (with West
/// held: spoil it less and more), South mutes, East solos, Start plays or pauses.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn gamepad_control(
    time: Res<Time>,
    gamepads: Query<&Gamepad>,
    camera: Query<&GlobalTransform, With<OrbitCamera>>,
    mut commands: Commands,
    mut bodies: Query<
        (Entity, &StemBody, &mut Transform, &mut BodySize, &mut Spoil, Has<Selected>),
        Without<OrbitCamera>,
    >,
    mut toggles: Query<(Entity, &StemBody, &mut Muted, &mut Solo, Has<Selected>)>,
    mut gesture: ResMut<GamepadGesture>,
    mut requests: MessageWriter<SceneCommand>,
    mut transport: MessageWriter<TransportCommand>,
) {
    let dt = time.delta_secs();
    let mut any_motion = false;
    for pad in &gamepads {
        if pad.just_pressed(GamepadButton::LeftTrigger) || pad.just_pressed(GamepadButton::RightTrigger) {
            let step = if pad.just_pressed(GamepadButton::LeftTrigger) { -1 } else { 1 };
            select_step(&mut commands, bodies.iter().map(|b| (b.0, b.1.index, b.5)), step);
        }
        if pad.just_pressed(GamepadButton::Start) {
            transport.write(TransportCommand::TogglePlay);
        }
        let mute = pad.just_pressed(GamepadButton::South);
        let solo = pad.just_pressed(GamepadButton::East);
        if mute || solo {
            toggle_selected(&mut toggles, mute, solo, &mut requests);
        }
        let stick = dead_zone(pad.left_stick());
        let lift = dead_zone(Vec2::new(0.0, pad.right_stick().y)).y;
        let grow = dead_zone(Vec2::new(pad.get(GamepadButton::RightTrigger2).unwrap_or(0.0), 0.0)).x
            - dead_zone(Vec2::new(pad.get(GamepadButton::LeftTrigger2).unwrap_or(0.0), 0.0)).x;
        if stick == Vec2::ZERO && lift == 0.0 && grow == 0.0 {
            continue;
        }
        any_motion = true;
        if !gesture.0 {
            requests.write(SceneCommand::Checkpoint);
            gesture.0 = true;
        }
        let (forward, right) = floor_axes(camera.iter().next());
        let step =
            (forward * stick.y + right * stick.x) * STICK_SPEED_M_S * dt + Vec3::Y * lift * HEIGHT_SPEED_M_S * dt;
        // West held turns the triggers from size into spoil.
        let spoiling = pad.pressed(GamepadButton::West);
        let scale = if spoiling { 1.0 } else { 2f32.powf(grow * TRIGGER_SIZE_OCTAVES_PER_S * dt) };
        let spoil_step = if spoiling { grow * TRIGGER_SPOIL_PER_S * dt } else { 0.0 };
        for (_, _, mut t, mut size, mut spoil, selected) in &mut bodies {
            if selected {
                if step != Vec3::ZERO {
                    t.translation = clamp_position(t.translation + step);
                }
                if scale != 1.0 {
                    size.0 = clamp_size(size.0 * scale);
                }
                if spoil_step != 0.0 {
                    spoil.0 = (spoil.0 + spoil_step).clamp(0.0, 1.0);
                }
            }
        }
    }
    if !any_motion {
        gesture.0 = false;
    }
}

/// Gives every stem a different small spoil (see [`crate::mix::effects::spoil::a_little_everywhere`]); each
/// press deals the amounts out afresh.
fn spoil_everywhere(
    mut requests: MessageReader<SpoilEverywhere>,
    mut bodies: Query<(&StemBody, &mut Spoil)>,
    mut round: Local<u32>,
    mut checkpoints: MessageWriter<SceneCommand>,
) {
    if requests.read().count() == 0 {
        return;
    }
    checkpoints.write(SceneCommand::Checkpoint);
    let amounts = crate::mix::effects::spoil::a_little_everywhere(bodies.iter().count(), *round);
    for (body, mut spoil) in &mut bodies {
        if let Some(&amount) = amounts.get(body.index) {
            spoil.set_if_neq(Spoil(amount));
        }
    }
    *round += 1;
}

/// Forward and right on the floor as the camera sees them; without a camera, forward is the listener's (-Z).
pub fn floor_axes(camera: Option<&GlobalTransform>) -> (Vec3, Vec3) {
    let forward = camera
        .map(|c| {
            let f = c.forward().as_vec3();
            Vec3::new(f.x, 0.0, f.z)
        })
        .and_then(|f| f.try_normalize())
        .unwrap_or(Vec3::NEG_Z);
    (forward, Vec3::new(-forward.z, 0.0, forward.x))
}

/// Radial dead zone, rescaled so motion starts from zero at its edge.
pub fn dead_zone(v: Vec2) -> Vec2 {
    let len = v.length();
    if len <= DEAD_ZONE { Vec2::ZERO } else { v / len * ((len - DEAD_ZONE) / (1.0 - DEAD_ZONE)).min(1.0) }
}
