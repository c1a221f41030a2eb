//! Workshop handouts: a top-down picture of a staging (PNG, drawn with tiny-skia and labelled in the Ubuntu
//! typeface that egui ships, set with ab_glyph; no Bevy) and a Markdown page with the intent card, the sections and
//! the cue values per stem.

use std::fmt::Write as _;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use tiny_skia::{Color, FillRule, LineCap, Mask, Paint, PathBuilder, Pixmap, Rect, Stroke, StrokeDash, Transform};

use crate::mix::mapping::{self, StemMix, Zone};
use crate::scene::Scene;
use crate::scene::timeline::{Resolved, StemValues};

/// One colour per stem (in scene order, repeating): well apart in hue and readable on a projector. The stage
/// and the handout use the same ones, so a picture and the screen agree.
pub const STEM_COLOURS: [[u8; 3]; 10] = [
    [0x4E, 0x79, 0xA7], // blue
    [0xF2, 0x8E, 0x2B], // orange
    [0xE1, 0x57, 0x59], // red
    [0x76, 0xB7, 0xB2], // teal
    [0x59, 0xA1, 0x4F], // green
    [0xED, 0xC9, 0x48], // yellow
    [0xB0, 0x7A, 0xA1], // purple
    [0xFF, 0x9D, 0xA7], // pink
    [0x9C, 0x75, 0x5F], // brown
    [0x86, 0xBC, 0xF5], // sky
];

/// Drawn radius of a body (metres): grows with the square root of its size, as on the stage.
pub fn body_radius(size: f32) -> f32 {
    (0.2 * size.sqrt()).max(0.07)
}

/// Fraction of a stem's energy that reaches the listener through the reverb (0 dry .. 1 all reverb).
pub fn reverb_share(drr_db: f32) -> f32 {
    1.0 / (1.0 + 10f32.powf(drr_db / 10.0))
}

/// The picture's size in pixels.
pub const PICTURE_W: usize = 1400;
pub const PICTURE_H: usize = 1000;

const BACKGROUND: [f32; 3] = [0.075, 0.082, 0.10];
const INK: [f32; 3] = [0.86, 0.87, 0.90];
const FAINT: [f32; 3] = [0.38, 0.40, 0.46];

/// Text sizes (pixels): labels and the title.
const TEXT_PX: f32 = 17.0;
const TITLE_PX: f32 = 34.0;

/// A picture being drawn: anti-aliased shapes (tiny-skia) and text (ab_glyph), clipped to a rectangle.
struct Canvas {
    pixmap: Pixmap,
    font: FontRef<'static>,
    /// Drawing outside this rectangle is dropped: the plot keeps out of the title and the legend.
    clip: Option<(Rect, Mask)>,
}

fn paint(colour: [f32; 3], alpha: f32) -> Paint<'static> {
    let mut paint = Paint::default();
    paint.set_color(Color::from_rgba(colour[0], colour[1], colour[2], alpha.clamp(0.0, 1.0)).unwrap_or(Color::BLACK));
    paint.anti_alias = true;
    paint
}

impl Canvas {
    fn new(w: usize, h: usize) -> Canvas {
        let mut pixmap = Pixmap::new(w as u32, h as u32).expect("a picture of a sensible size");
        pixmap.fill(Color::from_rgba(BACKGROUND[0], BACKGROUND[1], BACKGROUND[2], 1.0).unwrap_or(Color::BLACK));
        let font = FontRef::try_from_slice(epaint_default_fonts::UBUNTU_LIGHT).expect("egui's font parses");
        Canvas { pixmap, font, clip: None }
    }

    /// Clips what follows to `(x0, y0, x1, y1)`, or lifts the clip.
    fn clip_to(&mut self, area: Option<(f32, f32, f32, f32)>) {
        self.clip = area.and_then(|(x0, y0, x1, y1)| {
            let rect = Rect::from_ltrb(x0, y0, x1, y1)?;
            let mut mask = Mask::new(self.pixmap.width(), self.pixmap.height())?;
            mask.fill_path(&PathBuilder::from_rect(rect), FillRule::Winding, false, Transform::identity());
            Some((rect, mask))
        });
    }

    fn mask(&self) -> Option<&Mask> {
        self.clip.as_ref().map(|(_, m)| m)
    }

    /// A filled disc of radius `r`, or the ring between `inner` and `r` (an outline).
    fn disc(&mut self, cx: f32, cy: f32, r: f32, inner: f32, colour: [f32; 3], alpha: f32) {
        if inner > 0.0 {
            self.ring(cx, cy, (r + inner) / 2.0, r - inner, colour, alpha);
            return;
        }
        if let Some(circle) = PathBuilder::from_circle(cx, cy, r.max(0.1)) {
            let mask = self.clip.as_ref().map(|(_, m)| m.clone());
            self.pixmap.fill_path(
                &circle,
                &paint(colour, alpha),
                FillRule::Winding,
                Transform::identity(),
                mask.as_ref(),
            );
        }
    }

    fn ring(&mut self, cx: f32, cy: f32, r: f32, thickness: f32, colour: [f32; 3], alpha: f32) {
        if let Some(circle) = PathBuilder::from_circle(cx, cy, r.max(0.1)) {
            let stroke = Stroke { width: thickness, ..Stroke::default() };
            let mask = self.clip.as_ref().map(|(_, m)| m.clone());
            self.pixmap.stroke_path(&circle, &paint(colour, alpha), &stroke, Transform::identity(), mask.as_ref());
        }
    }

    /// A line with round ends, dashed if asked.
    fn line(&mut self, a: (f32, f32), b: (f32, f32), thickness: f32, colour: [f32; 3], alpha: f32, dashed: bool) {
        let mut path = PathBuilder::new();
        path.move_to(a.0, a.1);
        path.line_to(b.0, b.1);
        let Some(path) = path.finish() else { return };
        let dash = if dashed { StrokeDash::new(vec![4.0 * thickness, 4.0 * thickness], 0.0) } else { None };
        let cap = if dashed { LineCap::Butt } else { LineCap::Round };
        let stroke = Stroke { width: thickness, line_cap: cap, dash, ..Stroke::default() };
        let mask = self.mask().cloned();
        self.pixmap.stroke_path(&path, &paint(colour, alpha), &stroke, Transform::identity(), mask.as_ref());
    }

    /// Text of height `px` with its top-left corner at (x, y).
    fn text(&mut self, x: f32, y: f32, text: &str, px: f32, colour: [f32; 3]) {
        let font = self.font.clone();
        let scaled = font.as_scaled(PxScale::from(px));
        let baseline = y + scaled.ascent();
        let mut pen = x;
        let mut previous = None;
        let (w, h) = (self.pixmap.width() as i32, self.pixmap.height() as i32);
        let clip = self.clip.as_ref().map(|(r, _)| *r);
        let rgb = colour.map(|c| c.clamp(0.0, 1.0) * 255.0);
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = previous {
                pen += scaled.kern(p, id);
            }
            previous = Some(id);
            let glyph = id.with_scale_and_position(PxScale::from(px), ab_glyph::point(pen, baseline));
            pen += scaled.h_advance(id);
            let Some(outline) = font.outline_glyph(glyph) else { continue };
            let bounds = outline.px_bounds();
            let pixels = self.pixmap.pixels_mut();
            outline.draw(|gx, gy, coverage| {
                let (px_x, px_y) = (bounds.min.x as i32 + gx as i32, bounds.min.y as i32 + gy as i32);
                if px_x < 0 || px_y < 0 || px_x >= w || px_y >= h {
                    return;
                }
                if let Some(r) = clip
                    && !(r.left() <= px_x as f32
                        && (px_x as f32) < r.right()
                        && r.top() <= px_y as f32
                        && (px_y as f32) < r.bottom())
                {
                    return;
                }
                let pixel = &mut pixels[(px_y * w + px_x) as usize];
                let mix =
                    |dst: u8, src: f32| (dst as f32 + (src - dst as f32) * coverage.clamp(0.0, 1.0)).round() as u8;
                let blended = tiny_skia::ColorU8::from_rgba(
                    mix(pixel.red(), rgb[0]),
                    mix(pixel.green(), rgb[1]),
                    mix(pixel.blue(), rgb[2]),
                    255,
                );
                *pixel = blended.premultiply();
            });
        }
    }

    /// Width of `text` at height `px`.
    fn text_width(&self, text: &str, px: f32) -> f32 {
        let scaled = self.font.as_scaled(PxScale::from(px));
        let mut width = 0.0;
        let mut previous = None;
        for c in text.chars() {
            let id = self.font.glyph_id(c);
            if let Some(p) = previous {
                width += scaled.kern(p, id);
            }
            width += scaled.h_advance(id);
            previous = Some(id);
        }
        width
    }

    /// The picture as 8-bit RGB (it is opaque everywhere).
    fn rgb(&self) -> Vec<u8> {
        self.pixmap.pixels().iter().flat_map(|p| [p.red(), p.green(), p.blue()]).collect()
    }
}

fn colour_of(index: usize) -> [f32; 3] {
    STEM_COLOURS[index % STEM_COLOURS.len()].map(|c| c as f32 / 255.0)
}

/// Scale of the picture's strokes and gaps (1 = the picture's own size).
const S: f32 = 1.0;

/// Where the plot sits in the picture and how many pixels a metre takes: the listener at (`cx`, `cy`).
#[derive(Clone, Copy)]
struct Plot {
    /// Left, top, right, bottom (pixels).
    rect: (f32, f32, f32, f32),
    cx: f32,
    cy: f32,
    px_per_m: f32,
}

impl Plot {
    /// Every body (and its path), the listener and the social zone ahead fitted into the plot area, with a
    /// little room behind the listener: stagings face forward, so the picture does too.
    fn fit(scene: &Scene, w: usize, h: usize) -> Plot {
        let (mut x_max, mut z_min, mut z_max) = (Zone::SOCIAL_M * 0.8, -Zone::SOCIAL_M * 1.1, 1.2f32);
        for stem in &scene.stems {
            let points = std::iter::once(stem.position).chain(stem.keys.iter().filter_map(|k| k.position));
            for p in points {
                x_max = x_max.max(p.0.abs() + 0.8);
                z_min = z_min.min(p.2 - 0.8);
                z_max = z_max.max(p.2 + 0.8);
            }
        }
        let rect = (0.0, 110.0 * S, w as f32, h as f32 - 70.0 * S);
        let (plot_w, plot_h) = (rect.2 - rect.0, rect.3 - rect.1);
        let px_per_m = (plot_w / (2.0 * x_max)).min(plot_h / (z_max - z_min));
        let cx = w as f32 / 2.0;
        let cy = rect.1 + plot_h / 2.0 - (z_min + z_max) / 2.0 * px_per_m;
        Plot { rect, cx, cy, px_per_m }
    }

    /// A point on the floor (metres) in the picture (pixels).
    fn pixel(&self, x: f32, z: f32) -> (f32, f32) {
        (self.cx + x * self.px_per_m, self.cy + z * self.px_per_m)
    }
}

/// The staging seen from above at song time `t_s` (the listener at the centre facing up), as PNG bytes:
/// zone rings, each body at its drawn size with a halo as large as its reverb share, spikes as long as its
/// spoil, a grey outline when muted, its name and distance; paths of bodies that the timeline moves.
pub fn staging_png(scene: &Scene, t_s: f64) -> Vec<u8> {
    let resolved = Resolved::of(scene).unwrap_or_default();
    let at = resolved.scene_at(scene, t_s);
    let mixes = mapping::scene_mix(&at);
    let mut canvas = Canvas::new(PICTURE_W, PICTURE_H);
    let plot = Plot::fit(scene, PICTURE_W, PICTURE_H);
    canvas.clip_to(Some(plot.rect));
    draw_grid_and_zones(&mut canvas, &plot);
    draw_listener(&mut canvas, &plot);
    draw_paths(&mut canvas, &plot, scene, &resolved, t_s);
    let drawn = draw_bodies(&mut canvas, &plot, &at, &mixes);
    draw_labels(&mut canvas, &at, &mixes, &drawn);
    canvas.clip_to(None);
    draw_title(&mut canvas, scene, &resolved, t_s);
    encode_png(PICTURE_W, PICTURE_H, &canvas.rgb())
}

/// A metre grid inside the plot, then Hall's zones.
fn draw_grid_and_zones(canvas: &mut Canvas, plot: &Plot) {
    let (cx, cy, px_per_m, w) = (plot.cx, plot.cy, plot.px_per_m, PICTURE_W);
    let plot_rect = plot.rect;
    let metres = |px: f32| (px / px_per_m).ceil() as i32;
    for i in -metres(cx)..=metres(w as f32 - cx) {
        let x = cx + i as f32 * px_per_m;
        canvas.line((x, plot_rect.1), (x, plot_rect.3), 1.0 * S, FAINT, 0.18, false);
    }
    for i in -metres(cy - plot_rect.1)..=metres(plot_rect.3 - cy) {
        let y = cy + i as f32 * px_per_m;
        canvas.line((plot_rect.0, y), (plot_rect.2, y), 1.0 * S, FAINT, 0.18, false);
    }
    for (radius, label) in
        [(Zone::INTIMATE_M, "intimate 0.45 m"), (Zone::PERSONAL_M, "personal 1.2 m"), (Zone::SOCIAL_M, "social 3.6 m")]
    {
        canvas.ring(cx, cy, radius * px_per_m, 2.0 * S, FAINT, 0.8);
        let (lx, ly) = plot.pixel(radius * std::f32::consts::FRAC_1_SQRT_2, -radius * std::f32::consts::FRAC_1_SQRT_2);
        canvas.text(lx + 6.0 * S, ly, label, TEXT_PX, FAINT);
    }
}

/// The listener: a head with a nose pointing forward (up the picture).
fn draw_listener(canvas: &mut Canvas, plot: &Plot) {
    let (cx, cy, px_per_m) = (plot.cx, plot.cy, plot.px_per_m);
    let head = 0.12 * px_per_m;
    canvas.disc(cx, cy - head * 1.05, head * 0.35, 0.0, INK, 1.0);
    canvas.disc(cx, cy, head, 0.0, INK, 1.0);
    let you = canvas.text_width("you", TEXT_PX);
    canvas.text(cx - you / 2.0, cy + head + 6.0 * S, "you", TEXT_PX, INK);
}

/// Paths of moving bodies over the whole song (a page has no playhead), under everything else: a line dashed
/// through the corners the timeline glides between, a dot at each.
fn draw_paths(canvas: &mut Canvas, plot: &Plot, scene: &Scene, resolved: &Resolved, t_s: f64) {
    let (from, to) = (0.0, resolved.last_event_s(scene.stems.len()).max(t_s));
    for (i, stem) in scene.stems.iter().enumerate() {
        let path = resolved.position_path(i, StemValues::of(stem), from, to);
        for pair in path.windows(2) {
            let (a, b) = (plot.pixel(pair[0].1[0], pair[0].1[2]), plot.pixel(pair[1].1[0], pair[1].1[2]));
            canvas.line(a, b, 2.0 * S, colour_of(i), 0.7, true);
        }
        for (_, corner) in &path {
            let (x, y) = plot.pixel(corner[0], corner[2]);
            canvas.disc(x, y, 2.5 * S, 0.0, colour_of(i), 0.8);
        }
    }
}

/// Bodies, far ones first so near ones sit on top; where each was drawn (index, x, y, radius).
fn draw_bodies(canvas: &mut Canvas, plot: &Plot, at: &Scene, mixes: &[StemMix]) -> Vec<(usize, f32, f32, f32)> {
    let px_per_m = plot.px_per_m;
    let mut order: Vec<usize> = (0..at.stems.len()).collect();
    order.sort_by(|a, b| mixes[*b].distance_m.total_cmp(&mixes[*a].distance_m));
    let mut drawn = Vec::with_capacity(order.len());
    for &i in &order {
        let (stem, mix) = (&at.stems[i], &mixes[i]);
        let (x, y) = plot.pixel(stem.position.0, stem.position.2);
        let r = (body_radius(stem.size) * px_per_m).max(6.0 * S);
        let colour = colour_of(i);
        let halo = r * (1.0 + 3.0 * reverb_share(mix.drr_db));
        canvas.disc(x, y, halo, 0.0, colour, 0.16);
        if stem.muted {
            canvas.ring(x, y, r, 3.0 * S, [0.5, 0.5, 0.55], 0.9);
        } else {
            if stem.spoil > 0.0 {
                // Spikes around the body, as long as the spoil, like the stage's rough shell.
                let spikes = 18;
                for k in 0..spikes {
                    let angle = k as f32 / spikes as f32 * std::f32::consts::TAU + i as f32;
                    let length = r * (1.1 + 0.6 * stem.spoil * (1.0 + 0.5 * ((k * 7 + i) % 3) as f32));
                    let tip = (x + angle.cos() * length, y + angle.sin() * length);
                    canvas.line((x, y), tip, 3.0 * S, colour, 0.9, false);
                }
            }
            canvas.disc(x, y, r, 0.0, colour, 1.0);
        }
        drawn.push((i, x, y, r));
    }
    drawn
}

/// Labels last, each where it overlaps no body and no other label (right, left, above, below, further out).
fn draw_labels(canvas: &mut Canvas, at: &Scene, mixes: &[StemMix], drawn: &[(usize, f32, f32, f32)]) {
    let mut taken: Vec<(f32, f32, f32, f32)> = drawn.iter().map(|&(_, x, y, r)| (x - r, y - r, x + r, y + r)).collect();
    let line_h = TEXT_PX * 1.25;
    for &(i, x, y, r) in drawn {
        let (stem, mix) = (&at.stems[i], &mixes[i]);
        let label = stem.name.clone();
        let detail = format!("{:.1} m{}", mix.distance_m, if stem.muted { " · muted" } else { "" });
        let width = canvas.text_width(&label, TEXT_PX).max(canvas.text_width(&detail, TEXT_PX));
        let gap = 8.0 * S;
        let candidates = [
            (x + r + gap, y - line_h),
            (x - r - gap - width, y - line_h),
            (x - width / 2.0, y - r - gap - 2.0 * line_h),
            (x - width / 2.0, y + r + gap),
            (x + r + gap, y + r),
            (x - r - gap - width, y - r - 2.0 * line_h),
            (x + r + gap, y - r - 2.0 * line_h),
            (x - r - gap - width, y + r),
        ];
        let overlaps =
            |a: (f32, f32, f32, f32), b: &(f32, f32, f32, f32)| a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3;
        let rect = |(lx, ly): (f32, f32)| (lx, ly, lx + width, ly + 2.0 * line_h);
        let place = candidates.iter().copied().find(|c| !taken.iter().any(|t| overlaps(rect(*c), t)));
        let (lx, ly) = place.unwrap_or(candidates[0]);
        taken.push(rect((lx, ly)));
        canvas.text(lx, ly, &label, TEXT_PX, INK);
        canvas.text(lx, ly + line_h, &detail, TEXT_PX, FAINT);
    }
}

/// The title (the intent card's, or the scene's name), when the picture was taken, and the legend.
fn draw_title(canvas: &mut Canvas, scene: &Scene, resolved: &Resolved, t_s: f64) {
    let h = PICTURE_H;
    let title = scene.intent.as_ref().map_or(scene.name.as_str(), |i| i.title.as_str());
    canvas.text(30.0 * S, 22.0 * S, title, TITLE_PX, INK);
    let when = match resolved.section_at(t_s) {
        Some(section) => format!("Seen from above at {:.1} s ({}) · forward is up", t_s, section.name),
        None => format!("Seen from above at {t_s:.1} s · forward is up"),
    };
    canvas.text(30.0 * S, 68.0 * S, &when, TEXT_PX, FAINT);
    let legend = "disc = body size    halo = reverb share    spikes = spoil    grey ring = muted    dashes = paths, dots = keyframes";
    canvas.text(30.0 * S, h as f32 - 42.0 * S, legend, TEXT_PX, FAINT);
}

fn encode_png(w: usize, h: usize, rgb: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, w as u32, h as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().expect("writing to memory");
        writer.write_image_data(rgb).expect("writing to memory");
    }
    bytes
}

/// What the Markdown page says about the render it comes with.
pub struct RenderFacts<'a> {
    pub wav_name: &'a str,
    pub picture_name: &'a str,
    pub seconds: f64,
    pub loudness: String,
    /// Cues switched off for this render, if any.
    pub cues_off: Vec<&'static str>,
}

/// The handout page: intent card, picture, sections with what changes in each, cue values per stem.
pub fn markdown(scene: &Scene, facts: &RenderFacts) -> String {
    let resolved = Resolved::of(scene).unwrap_or_default();
    let mut md = String::new();
    let title = scene.intent.as_ref().map_or(scene.name.as_str(), |i| i.title.as_str());
    let _ = writeln!(md, "# {title}\n");
    if let Some(intent) = &scene.intent {
        let _ = writeln!(md, "**What it communicates.** {}\n", intent.communicates.trim());
        if !intent.cues.is_empty() {
            let _ = writeln!(md, "**The cues it changes, and why**\n");
            for cue in &intent.cues {
                let _ = writeln!(md, "- **{}**: {}", cue.cue, cue.why.trim());
            }
            md.push('\n');
        }
    }
    if !scene.notes.trim().is_empty() {
        let _ = writeln!(md, "{}\n", scene.notes.trim());
    }
    let _ = writeln!(md, "![The staging seen from above]({})\n", facts.picture_name);
    let _ = writeln!(
        md,
        "Listen: [{}]({}) — {:.1} s, {}.{}\n",
        facts.wav_name,
        facts.wav_name,
        facts.seconds,
        facts.loudness,
        if facts.cues_off.is_empty() {
            String::new()
        } else {
            format!(" Rendered with these cues switched off: {}.", facts.cues_off.join(", "))
        }
    );
    let room = &scene.room;
    let acoustics = mapping::room_acoustics(room);
    let _ = writeln!(
        md,
        "**Room**: {} m, RT60 {} s, damping {}, critical distance {:.2} m{}.\n",
        room.size,
        room.decay_s,
        room.damping,
        acoustics.critical_distance_m,
        if room.reverb_db <= crate::scene::limits::REVERB_DB.0 { ", reverb off" } else { "" }
    );
    if !resolved.sections.is_empty() {
        let _ = writeln!(md, "## Sections\n");
        let _ = writeln!(md, "| section | from | to | what changes |");
        let _ = writeln!(md, "|---|---:|---:|---|");
        const JUST: f64 = 1e-4;
        for section in &resolved.sections {
            // What jumps as the section starts, then what glides during it.
            let before = resolved.scene_at(scene, (section.start_s - JUST).max(0.0));
            let start = resolved.scene_at(scene, section.start_s + JUST);
            let end = resolved.scene_at(scene, section.end_s - JUST);
            let mut changes = Vec::new();
            if section.start_s > 0.0 {
                changes.extend(describe_changes(&before, &start, "moves to"));
            }
            changes.extend(describe_changes(&start, &end, "glides to"));
            let changes = if changes.is_empty() { "—".to_string() } else { changes.join("; ") };
            let _ =
                writeln!(md, "| {} | {:.2} s | {:.2} s | {} |", section.name, section.start_s, section.end_s, changes);
        }
        md.push('\n');
    }
    let _ = writeln!(md, "## Cue values per stem (at the start)\n");
    let _ = writeln!(
        md,
        "| stem | zone | distance | angle | direct | reverb send | direct-to-reverb | air | pre-delay | width | spoil |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let at = resolved.scene_at(scene, 0.0);
    for (stem, mix) in at.stems.iter().zip(mapping::scene_mix(&at)) {
        let _ = writeln!(md, "| {} | {} |", stem.name, cue_cells(&mix));
    }
    md.push_str(
        "\nDirect and send levels are relative to the stem file; angle 0° is straight ahead, + to the right. \
         Air is the low-pass cutoff that distance adds; width is the share of the stereo stage the body fills.\n",
    );
    room_said(scene, &mut md);
    md
}

/// What the room said on the stage: its votes, the notes it pinned, who played the takes. Typed by people, so
/// written as text (Markdown's characters escaped).
fn room_said(scene: &Scene, md: &mut String) {
    if scene.votes.is_empty() && scene.comments.is_empty() && scene.takes.is_empty() {
        return;
    }
    let text = |s: &str| {
        s.chars().fold(String::with_capacity(s.len()), |mut out, c| {
            if "\\`*_{}[]<>()#+-.!|".contains(c) {
                out.push('\\');
            }
            out.push(c);
            out
        })
    };
    let _ = writeln!(md, "\n## What the room said\n");
    for vote in &scene.votes {
        let answers: Vec<String> = vote.answers.iter().map(|(a, n)| format!("{}: {n}", text(a))).collect();
        let _ = writeln!(md, "- Vote: *{}* — {}", text(&vote.question), answers.join(", "));
    }
    for c in &scene.comments {
        let done = if c.resolved { " (resolved)" } else { "" };
        let (m, s) = ((c.at_s / 60.0).floor(), c.at_s % 60.0);
        let _ = writeln!(md, "- Note at {m}:{s:04.1} on {} by {}: {}{done}", text(&c.stem), text(&c.by), text(&c.text));
    }
    for t in &scene.takes {
        let by: Vec<String> = t.by.iter().map(|b| text(b)).collect();
        let _ =
            writeln!(md, "- Take {:.1}–{:.1} s by {}: {}", t.from_s, t.to_s, by.join(", "), text(&t.lanes.join(", ")));
    }
}

fn cue_cells(m: &StemMix) -> String {
    let db = |v: Option<f32>| v.map_or("off".to_string(), |v| format!("{v:.1} dB"));
    let air = match m.air_cutoff_hz.filter(|_| m.air_amount > 0.0) {
        Some(hz) if hz >= 1000.0 => format!("{:.1} kHz", hz / 1000.0),
        Some(hz) => format!("{hz:.0} Hz"),
        None => "—".into(),
    };
    format!(
        "{} | {:.2} m | {:+.0}° | {} | {} | {:+.1} dB | {} | {:.0} ms | {:.0} % | {:.2}",
        m.zone.name(),
        m.distance_m,
        m.azimuth_deg,
        db(m.dry_db),
        db(m.reverb_send_db),
        m.drr_db,
        air,
        m.pre_delay_s * 1000.0,
        m.width * 100.0,
        m.spoil
    )
}

/// What differs between two moments: "kick, snare muted", "vocal moves to 1.0 m", "reverb return cut".
fn describe_changes(before: &Scene, now: &Scene, moves: &str) -> Vec<String> {
    let mut muted = Vec::new();
    let mut unmuted = Vec::new();
    let mut others = Vec::new();
    let differs = |a: f32, b: f32| (a - b).abs() > 0.005;
    for (a, b) in before.stems.iter().zip(&now.stems) {
        if !a.muted && b.muted {
            muted.push(b.name.as_str());
        }
        if a.muted && !b.muted {
            unmuted.push(b.name.as_str());
        }
        let (pa, pb) = (a.position, b.position);
        if differs(pa.0, pb.0) || differs(pa.1, pb.1) || differs(pa.2, pb.2) {
            let d = mapping::distance_from_ears([pb.0, pb.1, pb.2]);
            others.push(format!("{} {moves} {d:.1} m", b.name));
        }
        if differs(a.size, b.size) {
            others.push(format!("{} size {:.1}", b.name, b.size));
        }
        if differs(a.spoil, b.spoil) {
            others.push(format!("{} spoil {:.2}", b.name, b.spoil));
        }
        if differs(a.send_db, b.send_db) {
            others.push(format!("{} send {:+.0} dB", b.name, b.send_db));
        }
    }
    let mut parts = Vec::new();
    if !muted.is_empty() {
        parts.push(format!("{} muted", muted.join(", ")));
    }
    if !unmuted.is_empty() {
        parts.push(format!("{} back", unmuted.join(", ")));
    }
    parts.extend(others);
    if differs(before.room.return_db, now.room.return_db) {
        if now.room.return_db <= crate::scene::limits::EFFECTS_DB.0 {
            parts.push("reverb return cut".into());
        } else {
            parts.push(format!("reverb return {:+.0} dB", now.room.return_db));
        }
    }
    parts
}
