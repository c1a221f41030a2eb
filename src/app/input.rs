//! Mouse, keyboard and gamepad become intents (and workshop commands): picking and dragging (one body or a
//! group), the wheel, the orbit, the shortcuts and the gamepad mapping. Nothing here changes the scene itself.

use bevy::input::gamepad::{Gamepad, GamepadButton};
use bevy::input::mouse::{MouseScrollUnit, MouseWheel};
use bevy::picking::events::{Drag, DragEnd, DragStart, Out, Over, Pointer, Press};
use bevy::picking::pointer::PointerButton;
use bevy::prelude::*;
use bevy::window::PrimaryWindow;

use super::camera::{OrbitCamera, floor_axes, floor_point, upright_point};
use super::intent::{Bodies, Edit, Gesture, Intent, Look, RecordCommand, Selection};
use super::shared::{RecordingState, StageSet, TransportCommand, TransportState, UiFocus};
use super::stems::{Selected, Spoil, StemBody};
use super::workshop::{Compare, Presentation, WorkshopCommand};

/// The body under the mouse pointer, for the wheel.
#[derive(Resource, Debug, Default)]
pub struct Hovered(pub Option<Entity>);

/// A drag in progress: its gesture, where it started and where each dragged body was (and how spoiled).
#[derive(Resource, Debug, Default)]
pub struct DragState {
    gesture: Option<Gesture>,
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
/// Metres per second at full stick deflection, floor and height.
pub const STICK_SPEED_M_S: f32 = 2.0;
/// Metres per second at full right-stick deflection, up and down.
pub const HEIGHT_SPEED_M_S: f32 = 1.5;
/// Size doubles (or halves) per second at full trigger.
pub const TRIGGER_SIZE_OCTAVES_PER_S: f32 = 1.0;
/// Stick and trigger values below this are noise.
pub const DEAD_ZONE: f32 = 0.15;
/// Each wheel step scales a body by this much.
pub const WHEEL_SIZE_STEP: f32 = 1.1;
/// Radians of orbit per pixel of right-drag.
pub const ORBIT_RAD_PER_PX: f32 = 0.006;
/// Wheel steps closer together than this are one resize (one undo step).
const WHEEL_BURST_S: f32 = 0.6;

/// Turns the devices into intents.
pub struct StageInputPlugin;

impl Plugin for StageInputPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<UiFocus>()
            .init_resource::<Hovered>()
            .init_resource::<DragState>()
            .init_resource::<GamepadGesture>()
            .add_systems(
                Update,
                (keyboard_shortcuts, workshop_keys, mouse_wheel, orbit_with_mouse, pinch_zoom, gamepad_control)
                    .in_set(StageSet::Input),
            );
    }
}

fn shift_held(keys: &ButtonInput<KeyCode>) -> bool {
    keys.any_pressed([KeyCode::ShiftLeft, KeyCode::ShiftRight])
}

/// A press on a body selects it: alone, or (shift) added or removed; a press on a body of the selection keeps
/// the group, so the group can be dragged.
pub fn on_press(
    press: On<Pointer<Press>>,
    keys: Res<ButtonInput<KeyCode>>,
    bodies: Query<(), With<StemBody>>,
    mut intents: MessageWriter<Intent>,
) {
    let target = press.event_target();
    if press.button == PointerButton::Primary && bodies.contains(target) {
        intents.write(Intent::Select(Selection::Click { target, add: shift_held(&keys), keep_group: true }));
    }
}

/// A click on the empty floor clears the selection.
pub fn on_floor_press(press: On<Pointer<Press>>, keys: Res<ButtonInput<KeyCode>>, mut intents: MessageWriter<Intent>) {
    if press.button == PointerButton::Primary && !shift_held(&keys) {
        intents.write(Intent::Select(Selection::Clear));
    }
}

/// A drag starts on a body: it moves (or with R held, spoils) the body and, if the body is part of the
/// selection, the whole selection. Ctrl (or Alt) moves up and down instead of over the floor.
pub fn on_drag_start(
    start: On<Pointer<DragStart>>,
    keys: Res<ButtonInput<KeyCode>>,
    camera: Option<Single<(&Camera, &GlobalTransform), With<OrbitCamera>>>,
    bodies: Query<(Entity, &Transform, Has<Selected>, &Spoil), With<StemBody>>,
    mut drag: ResMut<DragState>,
) {
    if start.button != PointerButton::Primary {
        return;
    }
    let Some(camera) = camera else { return };
    let (camera, camera_transform) = *camera;
    let target = start.event_target();
    let Ok((_, grabbed, target_selected, grabbed_spoil)) = bodies.get(target) else { return };
    let vertical = keys.any_pressed([KeyCode::ControlLeft, KeyCode::ControlRight, KeyCode::AltLeft]);
    let screen = start.pointer_location.position;
    let grabbed_at = grabbed.translation;
    let anchor = if vertical {
        upright_point(camera, camera_transform, screen, grabbed_at)
    } else {
        floor_point(camera, camera_transform, screen, grabbed_at.y)
    };
    let Some(anchor) = anchor else { return };
    // The grabbed body moves with its group; if it was not part of the selection it moves alone (the press
    // has just asked for it to be selected, but that lands after this observer), unless shift adds it.
    let mut starts: Vec<(Entity, Vec3, f32)> = if target_selected || shift_held(&keys) {
        bodies.iter().filter(|b| b.2 && b.0 != target).map(|b| (b.0, b.1.translation, b.3.0)).collect()
    } else {
        Vec::new()
    };
    starts.push((target, grabbed_at, grabbed_spoil.0));
    *drag = DragState {
        gesture: Some(Gesture::new()),
        vertical,
        spoiling: keys.pressed(SPOIL_KEY),
        anchor,
        screen_anchor: screen,
        starts,
    };
}

/// The drag goes on: each dragged body is asked to be where it started plus the pointer's way over the
/// floor (or up the upright plane), or as spoiled as it was plus the way up the screen.
pub fn on_drag(
    event: On<Pointer<Drag>>,
    camera: Option<Single<(&Camera, &GlobalTransform), With<OrbitCamera>>>,
    drag: Res<DragState>,
    mut intents: MessageWriter<Intent>,
) {
    let Some(gesture) = drag.gesture.filter(|_| event.button == PointerButton::Primary) else { return };
    if drag.spoiling {
        // Up the screen is more spoil; every dragged body moves by the same amount from where it was.
        let change = (drag.screen_anchor.y - event.pointer_location.position.y) / SPOIL_DRAG_PX;
        let amounts = drag.starts.iter().map(|(entity, _, spoil)| (*entity, spoil + change)).collect();
        intents.write(Intent::Edit(gesture, Edit::SetSpoil(amounts)));
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
    let delta = point - drag.anchor;
    let delta = if drag.vertical { Vec3::new(0.0, delta.y, 0.0) } else { Vec3::new(delta.x, 0.0, delta.z) };
    let places = drag.starts.iter().map(|(entity, start, _)| (*entity, *start + delta)).collect();
    intents.write(Intent::Edit(gesture, Edit::Place(places)));
}

/// The drag is over (a take in touch mode lets what it moved go).
pub fn on_drag_end(end: On<Pointer<DragEnd>>, mut drag: ResMut<DragState>, mut intents: MessageWriter<Intent>) {
    if end.button == PointerButton::Primary {
        if let Some(gesture) = drag.gesture {
            intents.write(Intent::Release(gesture));
        }
        *drag = DragState::default();
    }
}

/// The pointer is over a body.
pub fn on_over(over: On<Pointer<Over>>, mut hovered: ResMut<Hovered>) {
    hovered.0 = Some(over.event_target());
}

/// The pointer left a body.
pub fn on_out(out: On<Pointer<Out>>, mut hovered: ResMut<Hovered>) {
    if hovered.0 == Some(out.event_target()) {
        hovered.0 = None;
    }
}

/// Wheel over a body resizes it (the selection, if it is part of it); elsewhere it zooms.
fn mouse_wheel(
    mut wheel: MessageReader<MouseWheel>,
    focus: Res<UiFocus>,
    hovered: Res<Hovered>,
    time: Res<Time>,
    mut burst: Local<Option<(Gesture, f32)>>,
    bodies: Query<(Entity, Has<Selected>), With<StemBody>>,
    mut intents: MessageWriter<Intent>,
) {
    let steps: f32 = wheel
        .read()
        .map(|w| match w.unit {
            MouseScrollUnit::Line => w.y,
            MouseScrollUnit::Pixel => w.y / 40.0,
        })
        .sum();
    if steps == 0.0 || focus.pointer {
        // A burst of wheel steps is over once the wheel has rested a while.
        if let Some((gesture, last)) = *burst
            && time.elapsed_secs() - last > WHEEL_BURST_S
        {
            intents.write(Intent::Release(gesture));
            *burst = None;
        }
        return;
    }
    let factor = WHEEL_SIZE_STEP.powf(steps);
    let Some((target, in_group)) = hovered.0.and_then(|e| bodies.get(e).ok()) else {
        intents.write(Intent::Look(Look::Zoom(factor)));
        return;
    };
    let now = time.elapsed_secs();
    let gesture = match *burst {
        Some((gesture, last)) if now - last <= WHEEL_BURST_S => gesture,
        _ => Gesture::new(),
    };
    *burst = Some((gesture, now));
    let targets = if in_group { bodies.iter().filter(|b| b.1).map(|b| b.0).collect() } else { vec![target] };
    intents.write(Intent::Edit(gesture, Edit::ScaleSize(Bodies::These(targets), factor)));
}

/// Right-drag orbits the camera around the stage. It follows the cursor inside the window (not raw device
/// motion), so it behaves the same over remote desktops, tablets and synthetic input.
fn orbit_with_mouse(
    buttons: Res<ButtonInput<MouseButton>>,
    windows: Query<&Window, With<PrimaryWindow>>,
    focus: Res<UiFocus>,
    mut last_cursor: Local<Option<Vec2>>,
    mut intents: MessageWriter<Intent>,
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
    if delta != Vec2::ZERO {
        let (yaw, pitch) = (-delta.x * ORBIT_RAD_PER_PX, delta.y * ORBIT_RAD_PER_PX);
        intents.write(Intent::Look(Look::Orbit { yaw, pitch }));
    }
}

/// Two fingers on a tablet or phone: spreading them zooms in, pinching zooms out (the wheel's job). One
/// finger drags a body as the mouse does (Bevy's picking turns touches into pointers).
fn pinch_zoom(
    touches: Res<Touches>,
    focus: Res<UiFocus>,
    mut last_spread: Local<Option<f32>>,
    mut intents: MessageWriter<Intent>,
) {
    let mut fingers = touches.iter();
    let (Some(a), Some(b), None) = (fingers.next(), fingers.next(), fingers.next()) else {
        *last_spread = None;
        return;
    };
    let spread = a.position().distance(b.position());
    if let Some(before) = last_spread.replace(spread)
        && before > 1.0
        && spread > 1.0
        && spread != before
        && !focus.pointer
    {
        intents.write(Intent::Look(Look::Zoom(spread / before)));
    }
}

/// M mutes, S solos (the selection); Ctrl+Z / Ctrl+Shift+Z (or Ctrl+Y) undo and redo; Ctrl+S saves; Ctrl+R
/// arms recording (or disarms it); space plays or pauses; L loops; Home goes to the start; arrows seek by five
/// seconds; Tab selects the next body (with one scene loaded); Esc throws a running take away, or clears the
/// selection; C puts the camera back; E spoils a little everywhere.
fn keyboard_shortcuts(
    keys: Res<ButtonInput<KeyCode>>,
    focus: Res<UiFocus>,
    transport: Res<TransportState>,
    compare: Res<Compare>,
    recording: Res<RecordingState>,
    mut intents: MessageWriter<Intent>,
) {
    if focus.keyboard {
        return;
    }
    let ctrl = keys.any_pressed([KeyCode::ControlLeft, KeyCode::ControlRight, KeyCode::SuperLeft]);
    let shift = shift_held(&keys);
    if ctrl {
        if keys.just_pressed(KeyCode::KeyZ) {
            intents.write(if shift { Intent::Redo } else { Intent::Undo });
        }
        if keys.just_pressed(KeyCode::KeyY) {
            intents.write(Intent::Redo);
        }
        if keys.just_pressed(KeyCode::KeyS) {
            intents.write(Intent::Save);
        }
        if keys.just_pressed(KeyCode::KeyR) {
            intents.write(Intent::Record(RecordCommand::ToggleArm));
        }
        return;
    }
    let transport_keys = [
        (KeyCode::Space, TransportCommand::TogglePlay),
        (KeyCode::KeyL, TransportCommand::SetLooping(!transport.looping)),
        (KeyCode::Home, TransportCommand::Seek(0.0)),
        (KeyCode::ArrowLeft, TransportCommand::Nudge(-5.0)),
        (KeyCode::ArrowRight, TransportCommand::Nudge(5.0)),
    ];
    for (key, command) in transport_keys {
        if keys.just_pressed(key) {
            intents.write(Intent::Transport(command));
        }
    }
    let edits = [
        (KeyCode::KeyM, Edit::ToggleMute(Bodies::Selected)),
        (KeyCode::KeyS, Edit::ToggleSolo(Bodies::Selected)),
        (KeyCode::KeyE, Edit::SpoilEverywhere),
    ];
    for (key, edit) in edits {
        if keys.just_pressed(key) {
            // A key press is a gesture over at once.
            let gesture = Gesture::new();
            intents.write(Intent::Edit(gesture, edit));
            intents.write(Intent::Release(gesture));
        }
    }
    // With scenes to compare, Tab belongs to A/B (workshop mode); otherwise it walks the bodies.
    if keys.just_pressed(KeyCode::Tab) && compare.slots.len() < 2 {
        intents.write(Intent::Select(Selection::Step(if shift { -1 } else { 1 })));
    }
    if keys.just_pressed(KeyCode::KeyC) {
        intents.write(Intent::Look(Look::Reset));
    }
    if keys.just_pressed(KeyCode::Escape) {
        intents.write(if recording.running {
            Intent::Record(RecordCommand::Discard)
        } else {
            Intent::Select(Selection::Clear)
        });
    }
}

/// The function keys that switch the cues off and on, in [`crate::mix::mapping::Cues::switches`] order.
pub const CUE_KEYS: [KeyCode; 6] = [KeyCode::F1, KeyCode::F2, KeyCode::F3, KeyCode::F4, KeyCode::F5, KeyCode::F6];

/// Number keys pick a scene, Tab goes back and forth (with two or more scenes), P presenter mode (Esc leaves
/// it), H listen mode, Q the quiz, F1–F6 switch the cues (level, direct-to-reverb, air, pre-delay, width,
/// spoil), N toggles switching on the bar line. Gamepad: Select toggles A/B.
fn workshop_keys(
    keys: Res<ButtonInput<KeyCode>>,
    focus: Res<UiFocus>,
    gamepads: Query<&Gamepad>,
    compare: Res<Compare>,
    presentation: Res<Presentation>,
    mut requests: MessageWriter<WorkshopCommand>,
) {
    for pad in &gamepads {
        if pad.just_pressed(GamepadButton::Select) {
            requests.write(WorkshopCommand::Toggle);
        }
    }
    if focus.keyboard || keys.any_pressed([KeyCode::ControlLeft, KeyCode::ControlRight, KeyCode::SuperLeft]) {
        return;
    }
    const DIGITS: [KeyCode; 9] = [
        KeyCode::Digit1,
        KeyCode::Digit2,
        KeyCode::Digit3,
        KeyCode::Digit4,
        KeyCode::Digit5,
        KeyCode::Digit6,
        KeyCode::Digit7,
        KeyCode::Digit8,
        KeyCode::Digit9,
    ];
    for (i, key) in DIGITS.iter().enumerate() {
        if keys.just_pressed(*key) {
            requests.write(WorkshopCommand::Pick(i));
        }
    }
    for (i, key) in CUE_KEYS.iter().enumerate() {
        if keys.just_pressed(*key) {
            requests.write(WorkshopCommand::ToggleCue(i));
        }
    }
    let toggles = [
        (KeyCode::KeyP, WorkshopCommand::TogglePresenter),
        (KeyCode::KeyH, WorkshopCommand::ToggleListen),
        (KeyCode::KeyQ, WorkshopCommand::QuizStep),
        (KeyCode::KeyN, WorkshopCommand::ToggleOnBar),
    ];
    for (key, command) in toggles {
        if keys.just_pressed(key) {
            requests.write(command);
        }
    }
    if keys.just_pressed(KeyCode::Tab) && compare.slots.len() >= 2 {
        requests.write(WorkshopCommand::Toggle);
    }
    if keys.just_pressed(KeyCode::Escape) && presentation.presenter {
        requests.write(WorkshopCommand::TogglePresenter);
    }
}

/// The gesture of the sticks and triggers while they are away from rest (one undo step per push).
#[derive(Resource, Debug, Default)]
pub struct GamepadGesture(Option<Gesture>);

/// The gamepad: shoulders select the previous/next body, the left stick moves the selection over the floor
/// (relative to the camera), the right stick raises and lowers it, the triggers shrink and grow it (with West
/// held: spoil it less and more), South mutes, East solos, Start plays or pauses, North arms recording.
fn gamepad_control(
    time: Res<Time>,
    gamepads: Query<&Gamepad>,
    camera: Query<&GlobalTransform, With<OrbitCamera>>,
    mut gesture: ResMut<GamepadGesture>,
    mut intents: MessageWriter<Intent>,
) {
    let dt = time.delta_secs();
    let mut any_motion = false;
    for pad in &gamepads {
        if pad.just_pressed(GamepadButton::LeftTrigger) {
            intents.write(Intent::Select(Selection::Step(-1)));
        }
        if pad.just_pressed(GamepadButton::RightTrigger) {
            intents.write(Intent::Select(Selection::Step(1)));
        }
        if pad.just_pressed(GamepadButton::Start) {
            intents.write(Intent::Transport(TransportCommand::TogglePlay));
        }
        if pad.just_pressed(GamepadButton::North) {
            intents.write(Intent::Record(RecordCommand::ToggleArm));
        }
        for (button, edit) in [
            (GamepadButton::South, Edit::ToggleMute(Bodies::Selected)),
            (GamepadButton::East, Edit::ToggleSolo(Bodies::Selected)),
        ] {
            if pad.just_pressed(button) {
                let gesture = Gesture::new();
                intents.write(Intent::Edit(gesture, edit));
                intents.write(Intent::Release(gesture));
            }
        }
        let stick = dead_zone(pad.left_stick());
        let lift = dead_zone(Vec2::new(0.0, pad.right_stick().y)).y;
        let trigger = |button| dead_zone(Vec2::new(pad.get(button).unwrap_or(0.0), 0.0)).x;
        let grow = trigger(GamepadButton::RightTrigger2) - trigger(GamepadButton::LeftTrigger2);
        if stick == Vec2::ZERO && lift == 0.0 && grow == 0.0 {
            continue;
        }
        any_motion = true;
        let id = *gesture.0.get_or_insert_with(Gesture::new);
        let (forward, right) = floor_axes(camera.iter().next());
        let step =
            (forward * stick.y + right * stick.x) * STICK_SPEED_M_S * dt + Vec3::Y * lift * HEIGHT_SPEED_M_S * dt;
        if step != Vec3::ZERO {
            intents.write(Intent::Edit(id, Edit::MoveBy(Bodies::Selected, step)));
        }
        // West held turns the triggers from size into spoil.
        if grow != 0.0 {
            let edit = if pad.pressed(GamepadButton::West) {
                Edit::SpoilBy(Bodies::Selected, grow * TRIGGER_SPOIL_PER_S * dt)
            } else {
                Edit::ScaleSize(Bodies::Selected, 2f32.powf(grow * TRIGGER_SIZE_OCTAVES_PER_S * dt))
            };
            intents.write(Intent::Edit(id, edit));
        }
    }
    if !any_motion && let Some(done) = gesture.0.take() {
        // Sticks and triggers back at rest: the push is over.
        intents.write(Intent::Release(done));
    }
}

/// Radial dead zone, rescaled so motion starts from zero at its edge.
pub fn dead_zone(v: Vec2) -> Vec2 {
    let len = v.length();
    if len <= DEAD_ZONE { Vec2::ZERO } else { v / len * ((len - DEAD_ZONE) / (1.0 - DEAD_ZONE)).min(1.0) }
}
