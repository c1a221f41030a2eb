//! Workshop panels (egui): the scene list with A/B and its loudness trims, the morph, cue isolation, listen
//! mode and the quiz in the side panel; presenter mode's big intent card and scene strip; the quiz results.

use bevy_egui::egui;

use super::workshop::{LiveTimeline, Workshop, WorkshopCommand};
use crate::scene::Scene;

const ACCENT: egui::Color32 = egui::Color32::from_rgb(255, 196, 92);
const SOFT: egui::Color32 = egui::Color32::from_rgb(170, 176, 190);

/// Playhead words: "chorus · bar 9.3" (nothing without a timeline).
pub fn where_in_song(live: &LiveTimeline) -> Option<String> {
    let bar = live.bar.map(|b| format!("bar {:.0}", b.floor()));
    match (&live.section, bar) {
        (Some(s), Some(b)) => Some(format!("{s} · {b}")),
        (Some(s), None) => Some(s.clone()),
        (None, Some(b)) => Some(b),
        (None, None) => None,
    }
}

/// The side panel's workshop section.
pub fn workshop_section(ui: &mut egui::Ui, workshop: &mut Workshop, requests: &mut Vec<WorkshopCommand>) {
    ui.heading("Workshop");
    if workshop.slots.len() >= 2 {
        for (i, slot) in workshop.slots.iter().enumerate() {
            let active = i == workshop.active && workshop.morph.is_none();
            let trim = match slot.measured_lufs {
                Some(l) => format!("{l:.1} LUFS, trim {:+.1} dB", slot.trim_db),
                None => "not measured yet".into(),
            };
            let text = format!("{} {}  {}", i + 1, Workshop::letter(i), slot.scene.name);
            let label = egui::RichText::new(text).color(if active { ACCENT } else { egui::Color32::WHITE });
            if ui.selectable_label(active, label).on_hover_text(trim).clicked() {
                requests.push(WorkshopCommand::Pick(i));
            }
        }
        if let Some(p) = workshop.matching_progress.filter(|p| *p < 1.0) {
            ui.add(egui::ProgressBar::new(p).text("matching loudness"));
        } else if ui.small_button("Match loudness again").on_hover_text("after editing scenes").clicked() {
            requests.push(WorkshopCommand::Rematch);
        }
        ui.label(egui::RichText::new("1–9 pick · Tab: back and forth · Select on a gamepad").weak().small());
        ui.checkbox(&mut workshop.on_bar, "switch on the next bar line (N)");
        let (a, b) = (Workshop::letter(workshop.active), Workshop::letter(workshop.other));
        let mut m = workshop.morph.unwrap_or(0.0);
        ui.horizontal(|ui| {
            ui.label(format!("morph {a}"));
            if ui.add(egui::Slider::new(&mut m, 0.0..=1.0).show_value(false)).changed() {
                requests.push(WorkshopCommand::Morph(m));
            }
            ui.label(b.to_string());
        });
    } else {
        ui.label(egui::RichText::new("Open more scenes to compare them: proxemix A.ron B.ron …").weak().small());
    }
    ui.label("Cues (switch off to hear what each adds)");
    let mut cues = workshop.cues;
    ui.horizontal_wrapped(|ui| {
        for (i, (name, on)) in cues.switches().into_iter().enumerate() {
            let label = if i < 6 { format!("{name} (F{})", i + 1) } else { name.to_string() };
            ui.checkbox(on, label);
        }
    });
    workshop.cues = cues;
    ui.horizontal(|ui| {
        if ui.selectable_label(workshop.presenter, "Presenter (P)").clicked() {
            requests.push(WorkshopCommand::TogglePresenter);
        }
        if ui.selectable_label(workshop.listen, "Listen mode (H)").clicked() {
            requests.push(WorkshopCommand::ToggleListen);
        }
        let quiz = match &workshop.quiz {
            None => "Quiz (Q)",
            Some(q) if q.answers.is_none() => "Reveal (Q)",
            Some(_) => "End quiz (Q)",
        };
        if ui.button(quiz).clicked() {
            requests.push(WorkshopCommand::QuizStep);
        }
    });
    if !workshop.status.is_empty() {
        ui.label(egui::RichText::new(&workshop.status).color(SOFT).small());
    }
}

/// Presenter mode, top: the intent card in type that reads from the back of a room.
pub fn presenter_card(ui: &mut egui::Ui, scene: &Scene, workshop: &Workshop) {
    ui.add_space(10.0);
    let letter =
        if workshop.slots.len() >= 2 { format!("{}  ", Workshop::letter(workshop.active)) } else { String::new() };
    let title = scene.intent.as_ref().map_or(scene.name.as_str(), |i| i.title.as_str());
    ui.horizontal(|ui| {
        ui.label(egui::RichText::new(format!("{letter}{title}")).size(46.0).strong().color(egui::Color32::WHITE));
        if let Some(m) = workshop.morph {
            ui.label(
                egui::RichText::new(format!("  morph {:.0} % → {}", m * 100.0, Workshop::letter(workshop.other)))
                    .size(28.0)
                    .color(ACCENT),
            );
        }
    });
    match &scene.intent {
        Some(intent) => {
            ui.label(egui::RichText::new(intent.communicates.trim()).size(28.0).color(egui::Color32::from_gray(225)));
            ui.add_space(6.0);
            for cue in &intent.cues {
                ui.horizontal_wrapped(|ui| {
                    ui.label(egui::RichText::new(format!("{}:", cue.cue)).size(22.0).strong().color(ACCENT));
                    ui.label(egui::RichText::new(cue.why.trim()).size(22.0).color(SOFT));
                });
            }
        }
        None => {
            ui.label(egui::RichText::new(scene.notes.trim()).size(26.0).color(egui::Color32::from_gray(225)));
        }
    }
    let off = workshop.cues.off();
    if !off.is_empty() {
        ui.label(
            egui::RichText::new(format!("cues off: {}", off.join(", ")))
                .size(24.0)
                .color(egui::Color32::from_rgb(240, 120, 110)),
        );
    }
    if workshop.listen {
        ui.label(egui::RichText::new("listen mode: the bodies are hidden").size(22.0).color(SOFT));
    }
    ui.add_space(8.0);
}

/// Presenter mode, bottom: where the song is, the scenes by number, the keys.
pub fn presenter_strip(ui: &mut egui::Ui, workshop: &Workshop, live: &LiveTimeline, playing: bool, position_s: f64) {
    ui.add_space(8.0);
    ui.horizontal(|ui| {
        let state = if playing { "▶" } else { "⏸" };
        let place = where_in_song(live).unwrap_or_default();
        ui.label(
            egui::RichText::new(format!(
                "{state} {:.0}:{:04.1}  {place}",
                (position_s / 60.0).floor(),
                position_s % 60.0
            ))
            .size(30.0)
            .color(egui::Color32::WHITE),
        );
        ui.add_space(30.0);
        for (i, slot) in workshop.slots.iter().enumerate() {
            let active = i == workshop.active && workshop.morph.is_none();
            let title = slot.scene.intent.as_ref().map_or(slot.scene.name.as_str(), |x| x.title.as_str());
            let text = egui::RichText::new(format!("{} {}", i + 1, title)).size(24.0).color(if active {
                ACCENT
            } else {
                SOFT
            });
            ui.label(if active { text.strong().underline() } else { text });
            ui.add_space(14.0);
        }
    });
    ui.label(
        egui::RichText::new(
            "space play · 1–9 scene · Tab A/B · N on the bar · H listen · Q quiz · F1–F6 cues · P leave",
        )
        .size(18.0)
        .color(SOFT),
    );
    ui.add_space(6.0);
}

/// The quiz's answers, once revealed: per stem, how far off and in which way.
pub fn quiz_results(ctx: &egui::Context, workshop: &Workshop) {
    let Some(answers) = workshop.quiz.as_ref().and_then(|q| q.answers.as_ref()) else { return };
    let (distance, angle, points) = crate::mix::quiz::summary(answers);
    egui::Window::new("Placement quiz").collapsible(false).resizable(false).show(ctx, |ui| {
        ui.label(egui::RichText::new(format!("{points:.0} points")).size(30.0).strong().color(ACCENT));
        ui.label(format!("on average {distance:.1} m and {angle:.0}° away from the truth"));
        egui::Grid::new("quiz").striped(true).show(ui, |ui| {
            for h in ["stem", "truth", "guess", "distance", "direction", "points"] {
                ui.label(egui::RichText::new(h).strong());
            }
            ui.end_row();
            for a in answers {
                ui.label(&a.name);
                ui.label(format!("{:.1} m", a.true_distance_m));
                ui.label(format!("{:.1} m", a.guessed_distance_m));
                let way = if a.distance_error_m < 0.0 { "too close" } else { "too far" };
                ui.label(format!("{:.1} m {way}", a.distance_error_m.abs()));
                ui.label(format!("{:.0}°", a.angle_error_deg));
                ui.label(format!("{:.0}", a.points));
                ui.end_row();
            }
        });
        ui.label(egui::RichText::new("the lines on the stage go from each guess to the truth · Q ends").weak());
    });
}
