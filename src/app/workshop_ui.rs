//! Workshop panels (egui): the scene list with A/B and its loudness trims, the morph, cue isolation, listen
//! mode and the quiz in the side panel; presenter mode's big intent card and scene strip; the quiz results.

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy_egui::egui;

use super::shared::LiveTimeline;
use super::workshop::{Compare, CueSwitches, Presentation, QuizState, WorkshopCommand, WorkshopNews};
use crate::scene::Scene;

/// What the workshop panels read, and where their requests go.
#[derive(SystemParam)]
pub struct WorkshopPanel<'w> {
    /// A/B.
    pub compare: Res<'w, Compare>,
    /// Presenter and listen.
    pub presentation: Res<'w, Presentation>,
    /// Cue isolation.
    pub cues: Res<'w, CueSwitches>,
    /// The quiz.
    pub quiz: Res<'w, QuizState>,
    /// News for the panel.
    pub news: Res<'w, WorkshopNews>,
    /// Where the playhead is in the song.
    pub live: Res<'w, LiveTimeline>,
    /// Requests to workshop mode.
    pub requests: MessageWriter<'w, WorkshopCommand>,
}

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
pub fn workshop_section(ui: &mut egui::Ui, panel: &mut WorkshopPanel) {
    let mut asked = Vec::new();
    let compare = &*panel.compare;
    ui.heading("Workshop");
    if compare.slots.len() >= 2 {
        for (i, slot) in compare.slots.iter().enumerate() {
            let active = i == compare.active && compare.morph.is_none();
            let trim = match slot.measured_lufs {
                Some(l) => format!("{l:.1} LUFS, trim {:+.1} dB", slot.trim_db),
                None => "not measured yet".into(),
            };
            let text = format!("{} {}  {}", i + 1, Compare::letter(i), slot.scene.name);
            let label = egui::RichText::new(text).color(if active { ACCENT } else { egui::Color32::WHITE });
            if ui.selectable_label(active, label).on_hover_text(trim).clicked() {
                asked.push(WorkshopCommand::Pick(i));
            }
        }
        if let Some(p) = compare.matching_progress.filter(|p| *p < 1.0) {
            ui.add(egui::ProgressBar::new(p).text("matching loudness"));
        } else if ui.small_button("Match loudness again").on_hover_text("after editing scenes").clicked() {
            asked.push(WorkshopCommand::Rematch);
        }
        ui.label(egui::RichText::new("1–9 pick · Tab: back and forth · Select on a gamepad").weak().small());
        let mut on_bar = compare.on_bar;
        if ui.checkbox(&mut on_bar, "switch on the next bar line (N)").changed() {
            asked.push(WorkshopCommand::ToggleOnBar);
        }
        let (a, b) = (Compare::letter(compare.active), Compare::letter(compare.other));
        let mut m = compare.morph.unwrap_or(0.0);
        ui.horizontal(|ui| {
            ui.label(format!("morph {a}"));
            if ui.add(egui::Slider::new(&mut m, 0.0..=1.0).show_value(false)).changed() {
                asked.push(WorkshopCommand::Morph(m));
            }
            ui.label(b.to_string());
        });
    } else {
        ui.label(egui::RichText::new("Open more scenes to compare them: proxemix A.ron B.ron …").weak().small());
    }
    ui.label("Cues (switch off to hear what each adds)");
    let mut cues = panel.cues.0;
    ui.horizontal_wrapped(|ui| {
        for (i, (name, on)) in cues.switches().into_iter().enumerate() {
            let label = if i < 6 { format!("{name} (F{})", i + 1) } else { name.to_string() };
            if ui.checkbox(on, label).changed() {
                asked.push(WorkshopCommand::ToggleCue(i));
            }
        }
    });
    let presentation = *panel.presentation;
    ui.horizontal(|ui| {
        if ui.selectable_label(presentation.presenter, "Presenter (P)").clicked() {
            asked.push(WorkshopCommand::TogglePresenter);
        }
        if ui.selectable_label(presentation.listen, "Listen mode (H)").clicked() {
            asked.push(WorkshopCommand::ToggleListen);
        }
        let quiz = match &panel.quiz.0 {
            None => "Quiz (Q)",
            Some(q) if q.answers.is_none() => "Reveal (Q)",
            Some(_) => "End quiz (Q)",
        };
        if ui.button(quiz).clicked() {
            asked.push(WorkshopCommand::QuizStep);
        }
    });
    if !panel.news.0.is_empty() {
        ui.label(egui::RichText::new(&panel.news.0).color(SOFT).small());
    }
    panel.requests.write_batch(asked);
}

/// Presenter mode, top: the intent card in type that reads from the back of a room.
pub fn presenter_card(ui: &mut egui::Ui, scene: &Scene, panel: &WorkshopPanel) {
    ui.add_space(10.0);
    let compare = &*panel.compare;
    let letter =
        if compare.slots.len() >= 2 { format!("{}  ", Compare::letter(compare.active)) } else { String::new() };
    let title = scene.intent.as_ref().map_or(scene.name.as_str(), |i| i.title.as_str());
    ui.horizontal(|ui| {
        ui.label(egui::RichText::new(format!("{letter}{title}")).size(46.0).strong().color(egui::Color32::WHITE));
        if let Some(m) = compare.morph {
            ui.label(
                egui::RichText::new(format!("  morph {:.0} % → {}", m * 100.0, Compare::letter(compare.other)))
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
    let off = panel.cues.0.off();
    if !off.is_empty() {
        ui.label(
            egui::RichText::new(format!("cues off: {}", off.join(", ")))
                .size(24.0)
                .color(egui::Color32::from_rgb(240, 120, 110)),
        );
    }
    if panel.presentation.listen {
        ui.label(egui::RichText::new("listen mode: the bodies are hidden").size(22.0).color(SOFT));
    }
    ui.add_space(8.0);
}

/// Presenter mode, bottom: where the song is, the scenes by number, the keys.
pub fn presenter_strip(ui: &mut egui::Ui, panel: &WorkshopPanel, playing: bool, position_s: f64) {
    let (compare, live) = (&*panel.compare, &*panel.live);
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
        for (i, slot) in compare.slots.iter().enumerate() {
            let active = i == compare.active && compare.morph.is_none();
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
pub fn quiz_results(ctx: &egui::Context, quiz: &QuizState) {
    let Some(answers) = quiz.0.as_ref().and_then(|q| q.answers.as_ref()) else { return };
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
