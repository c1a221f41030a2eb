//! The room's window on the stage: the link, its QR code and the room code; who is in and what each holds;
//! the lock; votes, the listening round with its heat map and scores; the notes the room pinned.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};

use super::room::{RoomCommand, StageRoom};
use super::shared::RoomWindowShown;
use super::stage::stem_colour;
use super::stems::{History, StageScene};
use super::workshop::Compare;

/// The room's window.
pub struct RoomWindowPlugin;

impl Plugin for RoomWindowPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<RoomWindowShown>()
            .init_resource::<RoomForm>()
            .add_systems(EguiPrimaryContextPass, room_window);
    }
}

/// What the presenter is typing in the window.
#[derive(Resource)]
struct RoomForm {
    question: String,
    choices: String,
    round_stem: usize,
    port: String,
    qr: Option<(String, egui::TextureHandle)>,
}

impl Default for RoomForm {
    fn default() -> Self {
        RoomForm {
            question: "Which one is intimate?".into(),
            choices: String::new(),
            round_stem: 0,
            port: crate::room::DEFAULT_PORT.to_string(),
            qr: None,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn room_window(
    mut contexts: EguiContexts,
    mut shown: ResMut<RoomWindowShown>,
    mut room: ResMut<StageRoom>,
    mut form: ResMut<RoomForm>,
    mut commands: MessageWriter<RoomCommand>,
    doc: Res<StageScene>,
    history: Res<History>,
    compare: Option<Res<Compare>>,
) -> Result {
    if room.window {
        shown.0 = true;
        room.window = false;
    }
    if !shown.0 {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?.clone();
    let mut open = shown.0;
    // Held at the right edge, where it hides the least of the stage (the bodies gather in front of the
    // listener), whatever the window's size.
    egui::Window::new("The room")
        .open(&mut open)
        .default_width(380.0)
        .anchor(egui::Align2::RIGHT_TOP, [-8.0, 130.0])
        .vscroll(true)
        .show(
        &ctx,
        |ui| {
            let Some(opened) = room.open.as_ref() else {
                ui.label("Phones on this network join the stage: each holds stems and moves them, votes, says where it hears a hidden body, pins notes.");
                ui.horizontal(|ui| {
                    ui.label("interface");
                    ui.text_edit_singleline(&mut room.place.interface).on_hover_text("lan, an interface's name, or an address");
                });
                ui.horizontal(|ui| {
                    ui.label("port");
                    ui.text_edit_singleline(&mut form.port);
                });
                if ui.button("Open the room").clicked() {
                    if let Ok(port) = form.port.trim().parse() {
                        room.place.port = port;
                    }
                    commands.write(RoomCommand::Open);
                }
                if let Some(problem) = &room.problem {
                    ui.colored_label(egui::Color32::from_rgb(255, 140, 120), problem);
                }
                return;
            };
            let hall = opened.hall().clone();
            let view = hall.view();
            // The QR code, made once per link.
            if form.qr.as_ref().is_none_or(|(link, _)| *link != opened.link) {
                let (side, dark) = opened.qr_modules();
                let quiet = 2;
                let full = side + 2 * quiet;
                let mut image = egui::ColorImage::filled([full, full], egui::Color32::WHITE);
                for y in 0..side {
                    for x in 0..side {
                        if dark[y * side + x] {
                            image.pixels[(y + quiet) * full + x + quiet] = egui::Color32::BLACK;
                        }
                    }
                }
                let texture = ctx.load_texture("room-qr", image, egui::TextureOptions::NEAREST);
                form.qr = Some((opened.link.clone(), texture));
            }
            ui.horizontal(|ui| {
                if let Some((_, texture)) = &form.qr {
                    ui.add(egui::Image::new(texture).fit_to_exact_size(egui::vec2(150.0, 150.0)));
                }
                ui.vertical(|ui| {
                    ui.label("room code");
                    ui.label(egui::RichText::new(&hall.config().code).size(34.0).strong().monospace());
                    ui.label(egui::RichText::new(&opened.address).monospace());
                    ui.label(egui::RichText::new("scan, or open the address and type the code").weak().small());
                    if ui.button("Close the room").clicked() {
                        commands.write(RoomCommand::Close);
                    }
                });
            });
            if let Some(problem) = &room.problem {
                ui.colored_label(egui::Color32::from_rgb(255, 190, 90), problem);
            }
            ui.horizontal(|ui| {
                let mut locked = view.locked;
                if ui.checkbox(&mut locked, "lock the room").changed() {
                    commands.write(RoomCommand::Lock(locked));
                }
                let mut free = view.free_claims;
                if ui.checkbox(&mut free, "anyone may take a free stem").changed() {
                    commands.write(RoomCommand::FreeClaims(free));
                }
            });
            if view.code_resting {
                ui.colored_label(egui::Color32::from_rgb(255, 190, 90), "many wrong codes: the code rests a minute (the link still works)");
            }

            ui.separator();
            ui.label(egui::RichText::new(format!("{} in the room", view.participants.len())).strong());
            for p in &view.participants {
                ui.horizontal(|ui| {
                    let holds: Vec<&str> = view
                        .holders
                        .iter()
                        .enumerate()
                        .filter(|(_, h)| **h == Some(p.id))
                        .filter_map(|(i, _)| doc.scene.stems.get(i).map(|s| s.name.as_str()))
                        .collect();
                    let state = if p.connected() { "" } else { " (away)" };
                    ui.label(format!("{}{state}", p.name));
                    ui.label(egui::RichText::new(holds.join(", ")).weak());
                    if ui.small_button("remove").clicked() {
                        commands.write(RoomCommand::Remove(p.id));
                    }
                });
            }
            egui::CollapsingHeader::new("hand out the stems").default_open(true).show(ui, |ui| {
                for (i, stem) in doc.scene.stems.iter().enumerate() {
                    let holder = view.holders.get(i).copied().flatten();
                    let holder_name = holder
                        .and_then(|h| view.participants.iter().find(|p| p.id == h))
                        .map_or("free".to_owned(), |p| p.name.clone());
                    ui.horizontal(|ui| {
                        let [r, g, b, _] = stem_colour(i).to_srgba().to_u8_array();
                        ui.colored_label(egui::Color32::from_rgb(r, g, b), "●");
                        ui.label(&stem.name);
                        egui::ComboBox::from_id_salt(("hand", i)).selected_text(holder_name).show_ui(ui, |ui| {
                            if ui.selectable_label(holder.is_none(), "free (take back)").clicked() {
                                commands.write(RoomCommand::Hand { stem: i, to: None });
                            }
                            for p in &view.participants {
                                if ui.selectable_label(holder == Some(p.id), &p.name).clicked() {
                                    commands.write(RoomCommand::Hand { stem: i, to: Some(p.id) });
                                }
                            }
                        });
                    });
                }
            });

            ui.separator();
            ui.label(egui::RichText::new("Vote").strong());
            if form.choices.is_empty() {
                // The A/B slots by default (played loudness-matched with the number keys and Tab).
                form.choices = match compare.as_ref().filter(|c| c.slots.len() >= 2) {
                    Some(c) => c.slots.iter().enumerate().map(|(i, _)| ((b'A' + i as u8) as char).to_string()).collect::<Vec<_>>().join(", "),
                    None => "A, B".into(),
                };
            }
            ui.text_edit_singleline(&mut form.question);
            ui.horizontal(|ui| {
                ui.label("answers");
                ui.text_edit_singleline(&mut form.choices);
            });
            ui.horizontal(|ui| {
                if ui.button("Ask").clicked() {
                    let choices: Vec<String> =
                        form.choices.split(',').map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()).take(8).collect();
                    if choices.len() >= 2 && !form.question.trim().is_empty() {
                        commands.write(RoomCommand::Ask { question: form.question.trim().to_owned(), choices });
                    }
                }
                if view.vote.as_ref().is_some_and(|v| v.open) && ui.button("Close the vote").clicked() {
                    commands.write(RoomCommand::CloseVote);
                }
            });
            if let Some(vote) = &view.vote {
                let counts = vote.counts();
                let total = counts.iter().sum::<usize>().max(1);
                ui.label(format!("\"{}\" — {}", vote.question, if vote.open { "open" } else { "closed" }));
                for (choice, n) in vote.choices.iter().zip(&counts) {
                    ui.horizontal(|ui| {
                        ui.label(format!("{choice}: {n}"));
                        ui.add(egui::ProgressBar::new(*n as f32 / total as f32).desired_width(160.0));
                    });
                }
            }

            ui.separator();
            ui.label(egui::RichText::new("Where do you hear it?").strong());
            let stems = doc.scene.stems.len();
            if stems > 0 {
                form.round_stem = form.round_stem.min(stems - 1);
                ui.horizontal(|ui| {
                    egui::ComboBox::from_id_salt("round-stem")
                        .selected_text(doc.scene.stems[form.round_stem].name.clone())
                        .show_ui(ui, |ui| {
                            for (i, s) in doc.scene.stems.iter().enumerate() {
                                ui.selectable_value(&mut form.round_stem, i, &s.name);
                            }
                        });
                    if ui.button("Hide it and ask").clicked() {
                        commands.write(RoomCommand::StartRound(form.round_stem));
                    }
                });
            }
            if let Some(round) = &view.round {
                ui.horizontal(|ui| {
                    ui.label(format!("{} answers", round.guesses.len()));
                    if round.truth.is_none() && ui.button("Reveal").clicked() {
                        commands.write(RoomCommand::Reveal);
                    }
                    if ui.button("End the round").clicked() {
                        commands.write(RoomCommand::EndRound);
                    }
                });
                if let Some(truth) = round.truth {
                    heat_map(ui, round.guesses.values().copied().collect(), truth);
                    for (name, e) in &room.last_reveal {
                        ui.label(format!("{name}: {:.1} m, {:.0}°", e.metres, e.degrees));
                    }
                }
            }
            if !view.scores.is_empty() {
                ui.label(egui::RichText::new("scores (mean error over the session)").weak());
                for (who, score) in &view.scores {
                    let name = view.participants.iter().find(|p| p.id == *who).map_or("(left)", |p| p.name.as_str());
                    let n = score.rounds.max(1) as f32;
                    ui.label(format!("{name}: {} rounds, {:.1} m, {:.0}°", score.rounds, score.metres / n, score.degrees / n));
                }
            }

            ui.separator();
            ui.label(egui::RichText::new("Notes pinned to the song").strong());
            for (i, note) in doc.scene.comments.iter().enumerate() {
                ui.horizontal_wrapped(|ui| {
                    let mut resolved = note.resolved;
                    if ui.checkbox(&mut resolved, "").on_hover_text("resolved").changed() {
                        commands.write(RoomCommand::Resolve(i));
                    }
                    let text = format!("{} {} — {} ({})", clock(note.at_s), note.stem, note.text, note.by);
                    let text = if note.resolved { egui::RichText::new(text).strikethrough().weak() } else { egui::RichText::new(text) };
                    ui.label(text);
                });
            }
            let cut: Vec<&String> = view.cut_off.iter().rev().take(3).collect();
            if !cut.is_empty() {
                ui.separator();
                for line in cut {
                    ui.label(egui::RichText::new(format!("cut off: {line}")).weak().small());
                }
            }
            let steps: Vec<&str> = history.recent(5).filter(|s| !s.is_empty()).collect();
            if !steps.is_empty() {
                ui.separator();
                ui.label(egui::RichText::new(format!("last steps: {}", steps.join(" · "))).weak().small());
            }
        },
    );
    shown.0 = open;
    Ok(())
}

/// The room's answers as a heat map of the floor seen from above (the listener in the middle, the front up),
/// with the truth as a white ring.
fn heat_map(ui: &mut egui::Ui, guesses: Vec<(f32, f32)>, truth: (f32, f32)) {
    let side = 220.0;
    let (rect, _) = ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 6.0, egui::Color32::from_rgb(24, 27, 34));
    let reach_m = 6.0;
    let scale = side / 2.0 / reach_m;
    let centre = rect.center();
    let at = |(x, z): (f32, f32)| centre + egui::vec2(x * scale, z * scale);
    for r in [0.45, 1.2, 3.6] {
        painter.circle_stroke(centre, r * scale, egui::Stroke::new(1.0, egui::Color32::from_gray(70)));
    }
    // Each answer warms the floor around it; where answers agree, the colours add up.
    for g in &guesses {
        for (radius, alpha) in [(18.0, 40u8), (10.0, 70), (5.0, 120)] {
            painter.circle_filled(at(*g), radius, egui::Color32::from_rgba_unmultiplied(255, 120, 40, alpha));
        }
    }
    painter.circle_filled(centre, 3.0, egui::Color32::WHITE);
    painter.circle_stroke(at(truth), 8.0, egui::Stroke::new(2.5, egui::Color32::WHITE));
}

fn clock(s: f64) -> String {
    format!("{}:{:02}", (s / 60.0).floor() as u64, (s % 60.0).floor() as u64)
}
