//! The panels (bevy_egui): transport and status on top, the stem list on the left, the inspector, room,
//! master meter and export on the right, and the names of bodies and zones drawn over the 3D view.

use bevy::camera::visibility::RenderLayers;
use bevy::camera::{CameraOutputMode, Viewport};
use std::f32::consts::FRAC_1_SQRT_2;

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy::render::render_resource::BlendState;
use bevy::window::PrimaryWindow;
use bevy_egui::input::EguiWantsInput;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};

use super::camera::OrbitCamera;
use super::device::{DeviceWatch, OutputDevices, SwitchDevice};
use super::export::ExportJob;
use super::intent::{Bodies, Edit, Gesture, Intent, RecordCommand, Selection};
use super::record::Recorder;
use super::shared::{
    AudioDeviceStatus, DeviceChoice, LiveMixes, LiveTimeline, Meters, RecordMode, RecordingState, RoomTags,
    RoomWindowShown, StageOptions, StemAudio, TransportCommand, TransportState, UiFocus,
};
use super::stage::{ZONE_RINGS, body_radius, stem_colour};
use super::stems::{History, StageScene, WorldRows};
use super::workshop_ui::{self, WorkshopPanel};
use crate::scene::automation::{Lane, Prop};
use crate::scene::limits;

/// The panels and the labels over the 3D view.
pub struct PanelsPlugin;

impl Plugin for PanelsPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Startup, ui_camera)
            .init_resource::<PanelGesture>()
            .add_systems(EguiPrimaryContextPass, (style_for_projector, panels).chain())
            .add_systems(PreUpdate, track_ui_focus.after(bevy_egui::EguiPreUpdateSet::ProcessInput));
    }
}

/// egui draws through its own camera over the whole window, so the 3D camera can be given just the middle.
fn ui_camera(mut commands: Commands, mut settings: ResMut<bevy_egui::EguiGlobalSettings>) {
    settings.auto_create_primary_context = false;
    commands.spawn((
        bevy_egui::PrimaryEguiContext,
        Camera2d,
        RenderLayers::none(),
        Camera {
            order: 1,
            output_mode: CameraOutputMode::Write {
                blend_state: Some(BlendState::ALPHA_BLENDING),
                clear_color: ClearColorConfig::None,
            },
            clear_color: ClearColorConfig::Custom(Color::NONE),
            ..default()
        },
    ));
}

fn track_ui_focus(wants: Option<Res<EguiWantsInput>>, mut focus: ResMut<UiFocus>) {
    if let Some(wants) = wants {
        focus.pointer = wants.wants_any_pointer_input();
        focus.keyboard = wants.wants_any_keyboard_input();
    }
}

/// The document, and the way edits go in (as intents).
#[derive(SystemParam)]
struct DocumentPanel<'w> {
    doc: Res<'w, StageScene>,
    history: Res<'w, History>,
    intents: MessageWriter<'w, Intent>,
    /// Bevy's view of the keyboard, as for clicks on the bodies (so both agree on what shift means).
    keys: Res<'w, ButtonInput<KeyCode>>,
    /// The gesture of the slider or field being worked, let go when no button is down.
    gesture: ResMut<'w, PanelGesture>,
    recording: Res<'w, RecordingState>,
    recorder: ResMut<'w, Recorder>,
    /// The room's window (where there is a room: not in the browser).
    room_window: Option<ResMut<'w, RoomWindowShown>>,
}

/// The panel gesture in progress (a take in touch mode writes until it is let go).
#[derive(Resource, Debug, Default)]
struct PanelGesture(Option<Gesture>);

impl DocumentPanel<'_> {
    fn edit(&mut self, gesture: Gesture, edit: Edit) {
        if let Some(previous) = self.gesture.0.filter(|g| *g != gesture) {
            self.intents.write(Intent::Release(previous));
        }
        self.gesture.0 = Some(gesture);
        self.intents.write(Intent::Edit(gesture, edit));
    }

    /// Lets the panel gesture go once no pointer button is down.
    fn release_when_up(&mut self, ctx: &egui::Context) {
        if !ctx.input(|i| i.pointer.any_down())
            && let Some(gesture) = self.gesture.0.take()
        {
            self.intents.write(Intent::Release(gesture));
        }
    }
}

/// What is heard and how the sound is going.
#[derive(SystemParam)]
struct SoundPanel<'w> {
    transport: Res<'w, TransportState>,
    meters: Res<'w, Meters>,
    mixes: Res<'w, LiveMixes>,
    stem_audio: Res<'w, StemAudio>,
    device: Res<'w, AudioDeviceStatus>,
    options: Res<'w, StageOptions>,
    /// The device chosen, the devices to choose from, and where a choice goes.
    choice: Option<Res<'w, DeviceChoice>>,
    /// Whether the device went away (the transport still answers, on the wall clock).
    watch: Option<Res<'w, DeviceWatch>>,
    devices: Option<Res<'w, OutputDevices>>,
    switch: MessageWriter<'w, SwitchDevice>,
}

/// The 3D view the panels leave room for.
#[derive(SystemParam)]
struct ViewPanel<'w, 's> {
    camera: Single<'w, 's, (&'static mut Camera, &'static GlobalTransform), With<OrbitCamera>>,
    window: Single<'w, 's, &'static Window, With<PrimaryWindow>>,
}

type StemQuery<'w, 's> = WorldRows<'w, 's>;

/// One undo step per slider or field gesture: a new gesture when the drag starts or a value is typed or
/// clicked, the same one while the drag goes on.
fn gesture_of(ui: &egui::Ui, response: &egui::Response) -> Gesture {
    let id = response.id.with("gesture");
    let kept = ui.data(|d| d.get_temp::<Gesture>(id));
    match kept {
        Some(gesture) if response.dragged() && !response.drag_started() => gesture,
        _ => {
            let gesture = Gesture::new();
            ui.data_mut(|d| d.insert_temp(id, gesture));
            gesture
        }
    }
}

/// Type sizes that read from the back of a room (once, before the first panels).
fn style_for_projector(mut contexts: EguiContexts, mut styled: Local<bool>) -> Result {
    if *styled {
        return Ok(());
    }
    *styled = true;
    contexts.ctx_mut()?.global_style_mut(|style| {
        use egui::{FontId, TextStyle};
        style.text_styles.insert(TextStyle::Body, FontId::proportional(15.0));
        style.text_styles.insert(TextStyle::Button, FontId::proportional(15.0));
        style.text_styles.insert(TextStyle::Heading, FontId::proportional(20.0));
        style.text_styles.insert(TextStyle::Monospace, FontId::monospace(14.0));
        style.text_styles.insert(TextStyle::Small, FontId::proportional(12.0));
        style.spacing.item_spacing = egui::vec2(8.0, 6.0);
    });
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn panels(
    mut contexts: EguiContexts,
    mut doc: DocumentPanel,
    mut sound: SoundPanel,
    mut workshop: WorkshopPanel,
    mut export: ResMut<ExportJob>,
    mut view: ViewPanel,
    stems: StemQuery,
    tags: Option<Res<RoomTags>>,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    // Only a text field keeps the keyboard: a clicked button or slider (or egui's own Tab walk) would
    // otherwise swallow the stage's shortcuts (space, Tab for A/B, the number keys) until clicked away.
    if !ctx.text_edit_focused()
        && let Some(id) = ctx.memory(|m| m.focused())
    {
        ctx.memory_mut(|m| m.surrender_focus(id));
    }
    export.poll();
    let mut root = egui::Ui::new(
        ctx.clone(),
        "stage-root".into(),
        egui::UiBuilder::new().layer_id(egui::LayerId::background()).max_rect(ctx.viewport_rect()),
    );
    if workshop.presentation.presenter {
        // Presenter mode: the intent card and the scene strip in big type, the stage between them.
        let panel = egui::Frame::new().fill(egui::Color32::from_rgba_unmultiplied(12, 13, 17, 235)).inner_margin(16);
        egui::Panel::top("presenter-card")
            .resizable(false)
            .frame(panel)
            .show(&mut root, |ui| workshop_ui::presenter_card(ui, &doc.doc.scene, &workshop));
        egui::Panel::bottom("presenter-strip").resizable(false).frame(panel).show(&mut root, |ui| {
            let t = *sound.transport;
            workshop_ui::presenter_strip(ui, &workshop, t.playing, t.position_s)
        });
    } else {
        egui::Panel::top("transport")
            .resizable(false)
            .show(&mut root, |ui| top_bar(ui, &mut doc, &sound, &workshop.live));
        // On a phone the panels would hide the stage: they fold away behind a button, and open as one column.
        let width = ctx.viewport_rect().width();
        let narrow = width < NARROW_WIDTH;
        let open_id = egui::Id::new("panels-open");
        let open = !narrow || ctx.data(|d| d.get_temp::<bool>(open_id)).unwrap_or(false);
        if narrow && open {
            egui::Panel::left("stems-and-inspector").resizable(false).exact_size(width * 0.92).show(&mut root, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    stem_list(ui, &mut doc, &sound.meters, &stems);
                    ui.separator();
                    inspector(ui, &mut doc, &mut sound, &mut workshop, &stems);
                    ui.separator();
                    export_section(ui, &doc, &sound.stem_audio, &workshop, &mut export, &stems);
                });
            });
        } else if open {
            egui::Panel::left("stems")
                .resizable(false)
                .exact_size(250.0)
                .show(&mut root, |ui| stem_list(ui, &mut doc, &sound.meters, &stems));
            egui::Panel::right("inspector").resizable(false).exact_size(330.0).show(&mut root, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    inspector(ui, &mut doc, &mut sound, &mut workshop, &stems);
                    ui.separator();
                    export_section(ui, &doc, &sound.stem_audio, &workshop, &mut export, &stems);
                    ui.separator();
                    ui.label(egui::RichText::new(HELP).weak().small());
                });
            });
        }
        if narrow {
            egui::Area::new("panels-toggle".into()).anchor(egui::Align2::RIGHT_BOTTOM, [-8.0, -8.0]).show(&ctx, |ui| {
                let label = if open { "✕ back to the stage" } else { "☰ stems and inspector" };
                if ui.button(label).clicked() {
                    ctx.data_mut(|d| d.insert_temp(open_id, !open));
                }
            });
        }
    }
    workshop_ui::quiz_results(&ctx, &workshop.quiz);
    doc.release_when_up(&ctx);
    let central = root.available_rect_before_wrap();
    if !workshop.presentation.presenter {
        banners(&ctx, central, &doc, &sound);
    }
    fit_camera_to(&mut view, central);
    if !workshop.presentation.listen {
        draw_labels(&ctx, &view, &stems, central, tags.as_deref());
    }
    Ok(())
}

/// Narrower than this (logical pixels: a phone) the side panels fold away behind a button.
const NARROW_WIDTH: f32 = 760.0;

/// Every key and gesture, in one line under the inspector.
const HELP: &str = "drag: move on the floor · Ctrl+drag: up/down · wheel on a body: size · right-drag: orbit · \
     wheel: zoom · C: reset view · R+drag up/down: spoil · E: spoil a little everywhere · M mute · S solo · space play · Ctrl+R record · Esc: throw the take away · Ctrl+Z undo · Ctrl+Shift+Z redo · Ctrl+S save · 1–9, Tab: A/B · P presenter · H listen · Q quiz · F1–F6 cues";

/// The 3D view fills what the panels leave.
fn fit_camera_to(view: &mut ViewPanel, central: egui::Rect) {
    let scale = view.window.scale_factor();
    let (camera, _) = &mut *view.camera;
    let position = UVec2::new((central.min.x * scale) as u32, (central.min.y * scale) as u32);
    let size = UVec2::new((central.width() * scale).max(1.0) as u32, (central.height() * scale).max(1.0) as u32);
    let physical = UVec2::new(view.window.physical_width(), view.window.physical_height());
    if size.x == 0 || size.y == 0 || position.x + size.x > physical.x || position.y + size.y > physical.y {
        return;
    }
    let same = camera.viewport.as_ref().is_some_and(|v| v.physical_position == position && v.physical_size == size);
    if !same {
        camera.viewport = Some(Viewport { physical_position: position, physical_size: size, ..default() });
    }
}

fn top_bar(ui: &mut egui::Ui, doc: &mut DocumentPanel, sound: &SoundPanel, live: &LiveTimeline) {
    ui.add_space(4.0);
    ui.horizontal(|ui| {
        ui.heading(&doc.doc.scene.name);
        ui.label(egui::RichText::new(doc.doc.path.display().to_string()).weak());
        if doc.doc.dirty {
            ui.label(egui::RichText::new("unsaved changes").color(egui::Color32::from_rgb(240, 190, 90)));
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if ui.button("Save (Ctrl+S)").clicked() {
                doc.intents.write(Intent::Save);
            }
            if let Some(shown) = doc.room_window.as_mut()
                && ui.selectable_label(shown.0, "Room").on_hover_text("open the room: phones join the stage").clicked()
            {
                shown.0 = !shown.0;
            }
            if ui.add_enabled(doc.history.can_redo(), egui::Button::new("Redo")).clicked() {
                doc.intents.write(Intent::Redo);
            }
            if ui.add_enabled(doc.history.can_undo(), egui::Button::new("Undo (Ctrl+Z)")).clicked() {
                doc.intents.write(Intent::Undo);
            }
            ui.label(egui::RichText::new(&doc.doc.status).weak());
        });
    });
    ui.horizontal(|ui| {
        let t = *sound.transport;
        let device_lost = sound.watch.as_ref().is_some_and(|w| w.is_lost());
        let playable = (t.live || device_lost) && !sound.options.silent;
        let mut transport = |command| doc.intents.write(Intent::Transport(command));
        ui.add_enabled_ui(playable, |ui| {
            let label = if t.playing { "⏸ Pause" } else { "▶ Play" };
            if ui.add_sized([90.0, 26.0], egui::Button::new(label)).clicked() {
                transport(TransportCommand::TogglePlay);
            }
            let mut position = t.position_s;
            let slider =
                egui::Slider::new(&mut position, 0.0..=t.song_s.max(0.1)).show_value(false).trailing_fill(true);
            let response = ui.add_sized([ui.available_width().clamp(120.0, 520.0), 20.0], slider);
            if response.changed() {
                transport(TransportCommand::Seek(position));
            }
            ui.monospace(format!("{} / {}", clock(t.position_s), clock(t.song_s)));
            if let Some(place) = workshop_ui::where_in_song(live) {
                ui.label(egui::RichText::new(place).strong().color(egui::Color32::from_rgb(255, 196, 92)));
            }
            let mut looping = t.looping;
            if ui.checkbox(&mut looping, "loop (L)").changed() {
                transport(TransportCommand::SetLooping(looping));
            }
        });
        ui.separator();
        record_controls(ui, doc, playable);
        take_line(ui, doc);
    });
    ui.add_space(2.0);
}

/// Faults and news over the top of the 3D view (not in the panel above it: a banner coming or going must not
/// move the bodies under the pointer, least of all during a take).
fn banners(ctx: &egui::Context, area: egui::Rect, doc: &DocumentPanel, sound: &SoundPanel) {
    egui::Area::new(egui::Id::new("banners")).fixed_pos(area.min + egui::vec2(8.0, 8.0)).interactable(false).show(
        ctx,
        |ui| {
            ui.set_max_width(area.width() - 16.0);
            let warn = egui::Color32::from_rgb(240, 170, 80);
            let error = egui::Color32::from_rgb(240, 110, 100);
            if let Some(message) = &sound.device.problem {
                banner(ui, warn, message);
            }
            for problem in &sound.stem_audio.problems {
                banner(ui, warn, &format!("silent: {problem}"));
            }
            if let Some(e) = &doc.doc.reload_error {
                banner(ui, error, &format!("scene file not reloaded: {e}"));
            }
            if sound.meters.faults > 0 {
                banner(ui, error, &format!("{} audio blocks were not finite and were silenced", sound.meters.faults));
            }
            for problem in &sound.meters.stream_problems {
                banner(ui, error, &format!("went silent: {problem}"));
            }
            if sound.meters.underruns > 0 {
                banner(
                    ui,
                    warn,
                    &format!(
                        "{} dropouts in streamed stems ({:.0} ms of silence): the disk did not keep up",
                        sound.meters.underruns,
                        sound.meters.underrun_s * 1000.0
                    ),
                );
            }
            let note = egui::Color32::from_rgb(140, 190, 240);
            for repair in &sound.meters.repairs {
                banner(ui, note, &format!("repaired: {repair}"));
            }
        },
    );
}

/// The record button, touch or latch, and quantise.
fn record_controls(ui: &mut egui::Ui, doc: &mut DocumentPanel, playable: bool) {
    let armed = doc.recording.armed;
    let red = egui::Color32::from_rgb(235, 80, 70);
    let text = egui::RichText::new(if armed { "⏺ REC" } else { "⏺ Rec" }).color(if armed {
        red
    } else {
        ui.visuals().text_color()
    });
    let button = egui::Button::new(text).fill(if armed {
        red.gamma_multiply(0.25)
    } else {
        ui.visuals().widgets.inactive.weak_bg_fill
    });
    let hover = "Ctrl+R (gamepad: North): while the song plays, whatever you move is written into the timeline; \
                 Esc throws the take away, Ctrl+Z undoes it";
    if ui.add_enabled(playable || armed, button).on_hover_text(hover).clicked() {
        doc.intents.write(Intent::Record(RecordCommand::ToggleArm));
    }
    let mut mode = doc.recording.mode;
    egui::ComboBox::from_id_salt("record-mode")
        .selected_text(match mode {
            RecordMode::Touch => "touch",
            RecordMode::Latch => "latch",
        })
        .width(70.0)
        .show_ui(ui, |ui| {
            ui.selectable_value(&mut mode, RecordMode::Touch, "touch")
                .on_hover_text("writes while you hold a body or a slider, then glides back to what was there");
            ui.selectable_value(&mut mode, RecordMode::Latch, "latch")
                .on_hover_text("writes from your first touch until the song stops, holding the last value");
        });
    if mode != doc.recording.mode {
        doc.intents.write(Intent::Record(RecordCommand::SetMode(mode)));
    }
    ui.checkbox(&mut doc.recorder.quantise, "quantise").on_hover_text("move the take's keyframes to the nearest beat");
}

/// What the take in progress writes, or what the last one wrote.
fn take_line(ui: &mut egui::Ui, doc: &DocumentPanel) {
    let red = egui::Color32::from_rgb(235, 80, 70);
    let writing = doc.recorder.writing();
    if doc.recording.running {
        let names: Vec<String> = writing.iter().map(|l| l.describe(&doc.doc.scene)).collect();
        let text = format!("writing {} · Esc throws the take away", names.join(", "));
        ui.label(egui::RichText::new(text).color(red));
    } else if doc.recording.armed {
        ui.label(egui::RichText::new("armed: move something to write it").color(red));
    } else if let Some(take) = &doc.recorder.last_take {
        let text = if take.discarded {
            "last take thrown away".to_string()
        } else {
            format!(
                "last take: {} · {} points thinned to {} keyframes (Ctrl+Z takes it back)",
                take.lanes.join(", "),
                take.raw_points,
                take.keys
            )
        };
        ui.label(egui::RichText::new(text).weak().small());
    }
}

/// The automated properties of one stem (or of the room, with `None`), each with a button that clears it.
/// The notes pinned to this stem (by the room's phones), each with its song time and who left it; resolved
/// ones struck through (the room window resolves them).
fn pinned_notes(ui: &mut egui::Ui, doc: &DocumentPanel, stem: &str) {
    let notes: Vec<_> = doc.doc.scene.comments.iter().filter(|c| c.stem == stem).collect();
    if notes.is_empty() {
        return;
    }
    ui.label(egui::RichText::new("notes pinned to the song:").small());
    for note in notes {
        let at = format!("{}:{:04.1}", (note.at_s / 60.0).floor() as u32, note.at_s % 60.0);
        let text = egui::RichText::new(format!("{at} {} — {}", note.text, note.by)).small();
        ui.add(egui::Label::new(if note.resolved { text.strikethrough().weak() } else { text }).wrap());
    }
}

fn automation_list(ui: &mut egui::Ui, doc: &mut DocumentPanel, stem: Option<usize>) {
    let lanes: Vec<Lane> = match stem {
        Some(i) => Prop::STEM.iter().map(|p| Lane::Stem(i, *p)).collect(),
        None => Prop::ROOM.iter().map(|p| Lane::Room(*p)).collect(),
    };
    let driven: Vec<Lane> = lanes.into_iter().filter(|l| l.is_driven(&doc.doc.scene)).collect();
    if driven.is_empty() {
        return;
    }
    let amber = egui::Color32::from_rgb(255, 196, 92);
    ui.label(egui::RichText::new("automated (the timeline plays these):").color(amber).small());
    ui.horizontal_wrapped(|ui| {
        for lane in driven {
            let text = egui::RichText::new(format!("{} ×", lane.prop().name())).color(amber);
            if ui.small_button(text).on_hover_text("clear this property's keyframes").clicked() {
                let gesture = Gesture::new();
                doc.edit(gesture, Edit::ClearAutomation(lane));
            }
        }
    });
}

fn banner(ui: &mut egui::Ui, colour: egui::Color32, text: &str) {
    egui::Frame::new().fill(colour.gamma_multiply(0.22)).inner_margin(egui::Margin::symmetric(8, 4)).show(ui, |ui| {
        ui.set_width(ui.available_width());
        ui.label(egui::RichText::new(text).color(colour));
    });
}

fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0);
    format!("{}:{:04.1}", (s / 60.0).floor() as u32, s % 60.0)
}

fn stem_list(ui: &mut egui::Ui, doc: &mut DocumentPanel, meters: &Meters, stems: &StemQuery) {
    ui.add_space(4.0);
    ui.heading("Stems");
    ui.label(egui::RichText::new("click a body or a name; shift adds").weak().small());
    ui.separator();
    let mut rows: Vec<_> = stems.iter().collect();
    rows.sort_by_key(|row| row.body.index);
    let add = doc.keys.any_pressed([KeyCode::ShiftLeft, KeyCode::ShiftRight]);
    egui::ScrollArea::vertical().show(ui, |ui| {
        for row in rows {
            let (entity, body, index) = (row.entity, row.body, row.body.index);
            let (muted, solo, gain, selected) = (row.muted, row.solo, row.gain, row.selected);
            ui.horizontal(|ui| {
                let (rect, _) = ui.allocate_exact_size(egui::vec2(14.0, 14.0), egui::Sense::hover());
                ui.painter().circle_filled(rect.center(), 7.0, egui_colour(stem_colour(index)));
                if ui.selectable_label(selected, &body.name).clicked() {
                    let click = Selection::Click { target: entity, add, keep_group: false };
                    doc.intents.write(Intent::Select(click));
                }
            });
            ui.horizontal(|ui| {
                let this = || Bodies::These(vec![entity]);
                if ui.selectable_label(muted.0, "M").on_hover_text("mute (M)").clicked() {
                    doc.edit(Gesture::new(), Edit::ToggleMute(this()));
                }
                if ui.selectable_label(solo.0, "S").on_hover_text("solo (S)").clicked() {
                    doc.edit(Gesture::new(), Edit::ToggleSolo(this()));
                }
                let mut trim = gain.0;
                let r = ui.add(egui::Slider::new(&mut trim, -30.0..=12.0).suffix(" dB").step_by(0.5));
                if r.changed() {
                    doc.edit(gesture_of(ui, &r), Edit::SetGain(entity, trim));
                }
            });
            let level = meters.stem_level.get(index).copied().unwrap_or(0.0);
            meter_bar(ui, level_db(level), -60.0, 0.0, egui_colour(stem_colour(index)));
            ui.add_space(6.0);
        }
    });
}

fn level_db(linear: f32) -> f32 {
    20.0 * linear.max(1e-6).log10()
}

fn meter_bar(ui: &mut egui::Ui, db: f32, floor: f32, top: f32, colour: egui::Color32) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(ui.available_width(), 6.0), egui::Sense::hover());
    let fraction = ((db - floor) / (top - floor)).clamp(0.0, 1.0);
    ui.painter().rect_filled(rect, 2.0, egui::Color32::from_gray(40));
    let mut filled = rect;
    filled.set_width(rect.width() * fraction);
    ui.painter().rect_filled(filled, 2.0, colour);
}

fn egui_colour(c: Color) -> egui::Color32 {
    let s = c.to_srgba();
    egui::Color32::from_rgba_unmultiplied(
        (s.red * 255.0) as u8,
        (s.green * 255.0) as u8,
        (s.blue * 255.0) as u8,
        (s.alpha * 255.0) as u8,
    )
}

fn inspector(
    ui: &mut egui::Ui,
    doc: &mut DocumentPanel,
    sound: &mut SoundPanel,
    workshop: &mut WorkshopPanel,
    stems: &StemQuery,
) {
    ui.add_space(4.0);
    ui.heading("Inspector");
    let selected = stems.iter().filter(|s| s.selected).min_by_key(|s| s.body.index).map(|s| s.entity);
    match selected {
        None => {
            ui.label("Select a body to see what its place does to it.");
        }
        Some(entity) => body_inspector(ui, doc, &sound.mixes, stems, entity),
    }
    ui.separator();
    workshop_ui::workshop_section(ui, workshop);
    ui.separator();
    room_and_master(ui, doc, &sound.meters);
    ui.separator();
    sound_device(ui, sound);
}

fn body_inspector(ui: &mut egui::Ui, doc: &mut DocumentPanel, mixes: &LiveMixes, stems: &StemQuery, entity: Entity) {
    let Ok(row) = stems.get(entity) else { return };
    let (body, transform, size, spoil) = (row.body, row.transform, row.size, row.spoil);
    ui.horizontal(|ui| {
        let (rect, _) = ui.allocate_exact_size(egui::vec2(16.0, 16.0), egui::Sense::hover());
        ui.painter().circle_filled(rect.center(), 8.0, egui_colour(stem_colour(body.index)));
        ui.label(egui::RichText::new(&body.name).strong().size(18.0));
    });
    ui.label(egui::RichText::new(&body.file).weak().small());
    automation_list(ui, doc, Some(body.index));
    pinned_notes(ui, doc, &body.name);
    let mut p = transform.translation;
    let mut place: Option<Gesture> = None;
    egui::Grid::new("placement").num_columns(2).show(ui, |ui| {
        for (label, value, range) in [
            ("x (right) m", &mut p.x, -20.0..=20.0),
            ("height m", &mut p.y, 0.0..=8.0),
            ("z (behind) m", &mut p.z, -20.0..=20.0),
        ] {
            ui.label(label);
            let r = ui.add(egui::DragValue::new(value).speed(0.02).range(range).fixed_decimals(2));
            if r.changed() {
                place = Some(gesture_of(ui, &r));
            }
            ui.end_row();
        }
        ui.label("size");
        let mut s = size.0;
        let r = ui.add(egui::Slider::new(&mut s, limits::SIZE.0..=limits::SIZE.1).logarithmic(true).fixed_decimals(2));
        if r.changed() {
            doc.edit(gesture_of(ui, &r), Edit::SetSize(vec![(entity, s)]));
        }
        ui.end_row();
        ui.label("spoil");
        let mut amount = spoil.0;
        let r = ui.add(egui::Slider::new(&mut amount, 0.0..=1.0).fixed_decimals(2)).on_hover_text(
            "roughs the stem up: drive, band-limit, bits, sample rate, wow, noise — loudness-matched. \
                 Or hold R and drag the body up and down",
        );
        if r.changed() {
            doc.edit(gesture_of(ui, &r), Edit::SetSpoil(vec![(entity, amount)]));
        }
        ui.end_row();
    });
    if spoil.0 > 0.0 {
        // Below the grid, so the long line wraps in the panel instead of widening it.
        ui.add(
            egui::Label::new(
                egui::RichText::new(crate::mix::effects::spoil::curves(spoil.0, 48_000.0, 0).describe()).small(),
            )
            .wrap(),
        );
    }
    if let Some(gesture) = place {
        doc.edit(gesture, Edit::Place(vec![(entity, p)]));
    }
    let Some(mix) = mixes.0.get(body.index).copied().flatten() else { return };
    ui.add_space(4.0);
    ui.label(egui::RichText::new(mix.describe()).strong());
    egui::Grid::new("cues").num_columns(2).striped(true).show(ui, |ui| {
        let db = |v: Option<f32>| v.map_or("muted".to_string(), |v| format!("{v:+.1} dB"));
        let rows = [
            ("distance", format!("{:.2} m · {}", mix.distance_m, mix.zone.name())),
            ("direction", format!("{:+.0}°", mix.azimuth_deg)),
            ("dry level", db(mix.dry_db)),
            ("reverb send", db(mix.reverb_send_db)),
            ("direct / reverb", format!("{:+.1} dB", mix.drr_db)),
            ("pan · width", format!("{:+.2} · {:.2}", mix.pan, mix.width)),
            (
                "air",
                mix.air_cutoff_hz
                    .filter(|_| mix.air_amount > 0.0)
                    .map_or("none".into(), |f| format!("low-pass {f:.0} Hz")),
            ),
            ("pre-delay", format!("{:.1} ms", mix.pre_delay_s * 1000.0)),
            ("proximity", format!("{:+.1} dB below 150 Hz", mix.proximity_db)),
            ("brightness tilt", format!("{:+.1} dB", mix.tilt_db)),
        ];
        for (k, v) in rows {
            ui.label(k);
            ui.monospace(v);
            ui.end_row();
        }
    });
}

/// The device playing (its rate, its buffer and how long that is), what went wrong with it, and a picker that
/// switches to another at the same playhead.
fn sound_device(ui: &mut egui::Ui, sound: &mut SoundPanel) {
    ui.heading("Sound device");
    let status = &*sound.device;
    match &status.device {
        Some(name) => {
            let ms = status.buffer_frames as f64 / status.sample_rate.max(1) as f64 * 1000.0;
            ui.monospace(format!(
                "{name} · {:.1} kHz · {} frames ({ms:.1} ms)",
                status.sample_rate as f64 / 1000.0,
                status.buffer_frames
            ));
            if sound.watch.as_ref().is_some_and(|w| w.is_lost()) {
                let away = egui::RichText::new("away: trying it again; the playhead goes on");
                ui.label(away.color(egui::Color32::from_rgb(240, 170, 80)));
            }
        }
        None => {
            ui.label(egui::RichText::new("none playing").weak());
        }
    }
    if status.errors > 0 || status.late_buffers > 0 {
        ui.label(
            egui::RichText::new(format!(
                "{} device errors · {} buffers filled late",
                status.errors, status.late_buffers
            ))
            .color(egui::Color32::from_rgb(240, 170, 80))
            .small(),
        );
    }
    let (Some(choice), Some(devices)) = (sound.choice.as_deref(), sound.devices.as_deref()) else { return };
    let current = choice.name.clone();
    let label = |name: &Option<String>| name.clone().unwrap_or_else(|| "system default".into());
    let mut picked = current.clone();
    egui::ComboBox::from_id_salt("sound-device").selected_text(label(&current)).width(280.0).show_ui(ui, |ui| {
        ui.selectable_value(&mut picked, None, "system default");
        for device in &devices.0 {
            let text =
                if device.name == device.id { device.id.clone() } else { format!("{} — {}", device.id, device.name) };
            ui.selectable_value(&mut picked, Some(device.id.clone()), text);
        }
    });
    if picked != current {
        sound.switch.write(SwitchDevice(DeviceChoice { name: picked, ..choice.clone() }));
    }
}

fn room_and_master(ui: &mut egui::Ui, doc: &mut DocumentPanel, meters: &Meters) {
    ui.heading("Room and master");
    automation_list(ui, doc, None);
    let mut room = doc.doc.scene.room;
    let mut master = doc.doc.scene.master_gain_db;
    let mut master_spoil = doc.doc.scene.master_spoil;
    let mut changed: Option<Gesture> = None;
    egui::Grid::new("room").num_columns(2).show(ui, |ui| {
        let mut slider = |ui: &mut egui::Ui, label: &str, v: &mut f32, range: std::ops::RangeInclusive<f32>, suffix| {
            ui.label(label);
            let r = ui.add(egui::Slider::new(v, range).suffix(suffix).fixed_decimals(1));
            if r.changed() {
                changed = Some(gesture_of(ui, &r));
            }
            ui.end_row();
        };
        slider(ui, "reverb", &mut room.reverb_db, limits::REVERB_DB.0..=limits::REVERB_DB.1, " dB");
        slider(ui, "decay", &mut room.decay_s, limits::DECAY_S.0..=8.0, " s");
        slider(ui, "room size", &mut room.size, limits::ROOM_SIZE_M.0..=60.0, " m");
        slider(ui, "master", &mut master, -30.0..=12.0, " dB");
        ui.label("master spoil");
        let r = ui
            .add(egui::Slider::new(&mut master_spoil, 0.0..=1.0).fixed_decimals(2))
            .on_hover_text("the spoil stages on the whole mix (reverb included), loudness-matched");
        if r.changed() {
            changed = Some(gesture_of(ui, &r));
        }
        ui.end_row();
    });
    if ui
        .button("Spoil a little everywhere")
        .on_hover_text("E: a different small spoil on every stem, one left pristine (press again to deal afresh)")
        .clicked()
    {
        doc.edit(Gesture::new(), Edit::SpoilEverywhere);
    }
    if let Some(gesture) = changed {
        doc.edit(gesture, Edit::RoomAndMaster { room, master_gain_db: master, master_spoil });
    }
    let m = meters;
    let lufs = m.short_term_lufs.map_or("—".into(), |l| format!("{l:.1} LUFS"));
    let tp = m.true_peak_dbtp.map_or("—".into(), |p| format!("{p:.1} dBTP"));
    let tp_max = m.true_peak_max_dbtp.map_or("—".into(), |p| format!("{p:.1}"));
    ui.monospace(format!("short-term {lufs}"));
    meter_bar(ui, m.short_term_lufs.unwrap_or(-70.0) as f32, -40.0, -6.0, egui::Color32::from_rgb(120, 190, 140));
    ui.monospace(format!("true peak  {tp} (max {tp_max})"));
    meter_bar(ui, m.true_peak_dbtp.unwrap_or(-70.0) as f32, -40.0, 0.0, egui::Color32::from_rgb(220, 170, 90));
    if m.limiter_db < -0.1 {
        ui.monospace(format!("limiter    {:.1} dB", m.limiter_db));
    }
}

fn export_section(
    ui: &mut egui::Ui,
    doc: &DocumentPanel,
    stem_audio: &StemAudio,
    workshop: &WorkshopPanel,
    export: &mut ExportJob,
    stems: &StemQuery,
) {
    ui.heading("Export WAV");
    let path_id = egui::Id::new("export-path");
    let mut path: String =
        ui.data_mut(|d| d.get_temp::<String>(path_id)).unwrap_or_else(|| default_export_path(&doc.doc));
    ui.add(egui::TextEdit::singleline(&mut path).desired_width(f32::INFINITY));
    ui.data_mut(|d| d.insert_temp(path_id, path.clone()));
    if let Some(progress) = export.progress() {
        let name = export.running_path().map(|p| p.display().to_string()).unwrap_or_default();
        ui.add(egui::ProgressBar::new(progress).show_percentage().text(format!("rendering {name}")));
        return;
    }
    // The export's own rate (48 kHz unless chosen): the device's rate is the device's business.
    let rate_id = egui::Id::new("export-rate");
    let mut rate: u32 = ui.data_mut(|d| d.get_temp::<u32>(rate_id)).unwrap_or(EXPORT_RATES[1]);
    egui::ComboBox::from_id_salt("export-rate-picker")
        .selected_text(format!("{:.1} kHz", rate as f64 / 1000.0))
        .show_ui(ui, |ui| {
            for r in EXPORT_RATES {
                ui.selectable_value(&mut rate, r, format!("{:.1} kHz", r as f64 / 1000.0));
            }
        });
    ui.data_mut(|d| d.insert_temp(rate_id, rate));
    let target = std::path::PathBuf::from(path.trim());
    let exists = target.is_file();
    let label = if exists { "Replace and export (24-bit)" } else { "Export (24-bit)" };
    if ui.add_enabled(!path.trim().is_empty() && !stem_audio.audio.is_empty(), egui::Button::new(label)).clicked() {
        let scene = super::intent::world_scene(&doc.doc.scene, stems.iter());
        // Exactly what is heard (the timeline, the cue switches), except the A/B trim: that only levels the
        // comparison, the scene's own master gain is what it says.
        let cues = workshop.cues.0;
        let live = (stem_audio.audio.clone(), stem_audio.sample_rate);
        // The other scenes of an A/B are inputs too: an export never lands on one of them.
        let others = workshop.compare.slots.iter().map(|slot| slot.path.clone()).collect();
        export.start(scene, &doc.doc.path, live, rate, cues, target, others);
    }
    if exists {
        ui.label(egui::RichText::new("a file with this name exists; exporting replaces it").weak().small());
    }
    match &export.outcome {
        Some(Ok(message)) => {
            ui.label(egui::RichText::new(message).color(egui::Color32::from_rgb(140, 210, 150)));
        }
        Some(Err(message)) => {
            ui.label(egui::RichText::new(message).color(egui::Color32::from_rgb(240, 110, 100)));
        }
        None => {}
    }
}

/// The rates Export WAV offers; the second is the default.
const EXPORT_RATES: [u32; 4] = [44_100, 48_000, 88_200, 96_000];

fn default_export_path(doc: &StageScene) -> String {
    let stem = doc.path.file_stem().map_or("scene".into(), |s| s.to_string_lossy().into_owned());
    format!("out/{stem}.wav")
}

/// Names beside the bodies, the zone labels on the rings and "you" at the listener, over the 3D view.
fn draw_labels(ctx: &egui::Context, view: &ViewPanel, stems: &StemQuery, central: egui::Rect, tags: Option<&RoomTags>) {
    let (camera, camera_transform) = &*view.camera;
    let painter = ctx
        .layer_painter(egui::LayerId::new(egui::Order::Background, egui::Id::new("stage-labels")))
        .with_clip_rect(central);
    let project = |p: Vec3| camera.world_to_viewport(camera_transform, p).ok().map(|v| egui::pos2(v.x, v.y));
    let zone_colour = egui::Color32::from_rgb(150, 156, 172);
    for (radius, label) in ZONE_RINGS {
        if let Some(at) = project(Vec3::new(radius * FRAC_1_SQRT_2, 0.0, -radius * FRAC_1_SQRT_2)) {
            painter.text(at, egui::Align2::LEFT_BOTTOM, label, egui::FontId::proportional(13.0), zone_colour);
        }
    }
    if let Some(at) = project(Vec3::new(3.6 * FRAC_1_SQRT_2 + 0.9, 0.0, -3.6 * FRAC_1_SQRT_2 - 0.9)) {
        painter.text(at, egui::Align2::LEFT_BOTTOM, "public", egui::FontId::proportional(13.0), zone_colour);
    }
    if let Some(at) = project(Vec3::new(0.0, 0.0, 0.35)) {
        painter.text(at, egui::Align2::CENTER_TOP, "you", egui::FontId::proportional(14.0), egui::Color32::WHITE);
    }
    for row in stems.iter() {
        let (body, r) = (row.body, body_radius(row.size.0));
        if tags.is_some_and(|t| t.hidden == Some(body.index)) {
            continue;
        }
        let Some(at) = project(row.transform.translation + Vec3::new(r * 0.8, r * 0.8, 0.0)) else { continue };
        // Who holds it in the room: a name tag under its name.
        if let Some(holder) = tags.and_then(|t| t.holders.get(body.index)).and_then(|h| h.as_deref()) {
            let tag = format!("held by {holder}");
            painter.text(
                at,
                egui::Align2::LEFT_TOP,
                tag,
                egui::FontId::proportional(13.0),
                egui::Color32::from_rgb(255, 210, 120),
            );
        }
        let colour = if row.muted.0 { egui::Color32::from_gray(130) } else { egui::Color32::WHITE };
        let font = egui::FontId::proportional(15.0);
        // A dark outline so names read on any background.
        for offset in [egui::vec2(1.0, 1.0), egui::vec2(-1.0, 1.0), egui::vec2(1.0, -1.0), egui::vec2(-1.0, -1.0)] {
            painter.text(at + offset, egui::Align2::LEFT_BOTTOM, &body.name, font.clone(), egui::Color32::BLACK);
        }
        painter.text(at, egui::Align2::LEFT_BOTTOM, &body.name, font, colour);
    }
}
