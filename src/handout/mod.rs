//! Workshop handouts: a top-down picture of a staging (PNG, drawn here without Bevy) and a Markdown page
//! with the intent card, the sections and the cue values per stem.

pub mod font;

use std::fmt::Write as _;

use crate::mix::mapping::{self, StemMix, Zone};
use crate::scene::Scene;
use crate::scene::timeline::Resolved;

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
/// Drawn at this many times the size and averaged down: smooth edges without an anti-aliasing rasteriser.
const SUPERSAMPLE: usize = 2;

const BACKGROUND: [f32; 3] = [0.075, 0.082, 0.10];
const INK: [f32; 3] = [0.86, 0.87, 0.90];
const FAINT: [f32; 3] = [0.38, 0.40, 0.46];

/// An RGB canvas in linear-ish 0..1 floats, drawn with alpha blending.
struct Canvas {
    w: usize,
    h: usize,
    pixels: Vec<[f32; 3]>,
    /// Drawing outside (x0, y0, x1, y1) is dropped: the plot keeps out of the title and the legend.
    clip: (i64, i64, i64, i64),
}

impl Canvas {
    fn new(w: usize, h: usize) -> Canvas {
        Canvas { w, h, pixels: vec![BACKGROUND; w * h], clip: (0, 0, w as i64, h as i64) }
    }

    fn blend(&mut self, x: i64, y: i64, colour: [f32; 3], alpha: f32) {
        let (x0, y0, x1, y1) = self.clip;
        if x < x0.max(0) || y < y0.max(0) || x >= x1.min(self.w as i64) || y >= y1.min(self.h as i64) {
            return;
        }
        let p = &mut self.pixels[y as usize * self.w + x as usize];
        for c in 0..3 {
            p[c] += (colour[c] - p[c]) * alpha;
        }
    }

    /// Pixels within `r` of the centre, or in the ring between `inner` and `r` (an outline).
    fn disc(&mut self, cx: f32, cy: f32, r: f32, inner: f32, colour: [f32; 3], alpha: f32) {
        let (x0, x1) = ((cx - r).floor() as i64, (cx + r).ceil() as i64);
        let (y0, y1) = ((cy - r).floor() as i64, (cy + r).ceil() as i64);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
                if d <= r && d >= inner {
                    self.blend(x, y, colour, alpha);
                }
            }
        }
    }

    fn ring(&mut self, cx: f32, cy: f32, r: f32, thickness: f32, colour: [f32; 3], alpha: f32) {
        self.disc(cx, cy, r + thickness / 2.0, r - thickness / 2.0, colour, alpha);
    }

    /// A thick line, drawn as a run of discs.
    fn line(&mut self, a: (f32, f32), b: (f32, f32), thickness: f32, colour: [f32; 3], alpha: f32, dashed: bool) {
        let length = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
        let steps = (length / (thickness * 0.5).max(0.5)).ceil().max(1.0) as usize;
        let mut last: Option<(i64, i64)> = None;
        for i in 0..=steps {
            let f = i as f32 / steps as f32;
            if dashed && ((f * length / (6.0 * thickness)) as usize) % 2 == 1 {
                continue;
            }
            let (x, y) = (a.0 + (b.0 - a.0) * f, a.1 + (b.1 - a.1) * f);
            // Discs overlap along the line; blend each pixel once per disc centre only when it moved.
            let key = (x.round() as i64, y.round() as i64);
            if last == Some(key) {
                continue;
            }
            last = Some(key);
            self.disc(x, y, thickness / 2.0, 0.0, colour, alpha);
        }
    }

    /// Text with its top-left corner at (x, y), each font pixel `scale` canvas pixels.
    fn text(&mut self, x: f32, y: f32, text: &str, scale: usize, colour: [f32; 3]) {
        let mut pen = x.round() as i64;
        let top = y.round() as i64;
        for c in text.chars() {
            let glyph = font::glyph(c);
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..font::WIDTH {
                    if bits & (1 << (font::WIDTH - 1 - col)) != 0 {
                        for dy in 0..scale {
                            for dx in 0..scale {
                                let px = pen + (col * scale + dx) as i64;
                                let py = top + (row * scale + dy) as i64;
                                self.blend(px, py, colour, 1.0);
                            }
                        }
                    }
                }
            }
            pen += ((font::WIDTH + 1) * scale) as i64;
        }
    }

    fn text_width(text: &str, scale: usize) -> f32 {
        (text.chars().count() * (font::WIDTH + 1) * scale) as f32
    }

    /// Averages `factor`×`factor` blocks and encodes 8-bit sRGB-ish RGB.
    fn downsample(&self, factor: usize) -> Vec<u8> {
        let (w, h) = (self.w / factor, self.h / factor);
        let mut out = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let mut sum = [0.0f32; 3];
                for dy in 0..factor {
                    for dx in 0..factor {
                        let p = self.pixels[(y * factor + dy) * self.w + x * factor + dx];
                        for c in 0..3 {
                            sum[c] += p[c];
                        }
                    }
                }
                let n = (factor * factor) as f32;
                out.extend(sum.map(|s| ((s / n).clamp(0.0, 1.0) * 255.0).round() as u8));
            }
        }
        out
    }
}

fn colour_of(index: usize) -> [f32; 3] {
    STEM_COLOURS[index % STEM_COLOURS.len()].map(|c| c as f32 / 255.0)
}

/// The staging seen from above at song time `t_s` (the listener at the centre facing up), as PNG bytes:
/// zone rings, each body at its drawn size with a halo as large as its reverb share, spikes as long as its
/// spoil, a grey outline when muted, its name and distance; paths of bodies that the timeline moves.
pub fn staging_png(scene: &Scene, t_s: f64) -> Vec<u8> {
    let resolved = Resolved::of(scene).unwrap_or_default();
    let at = resolved.scene_at(scene, t_s);
    let mixes = mapping::scene_mix(&at);
    let s = SUPERSAMPLE;
    let (w, h) = (PICTURE_W * s, PICTURE_H * s);
    let mut canvas = Canvas::new(w, h);
    // Fit every body (and its path), the listener and the social zone ahead into the plot area, with a
    // little room behind the listener: stagings face forward, so the picture does too.
    let (mut x_max, mut z_min, mut z_max) = (Zone::SOCIAL_M * 0.8, -Zone::SOCIAL_M * 1.1, 1.2f32);
    for stem in &scene.stems {
        let points = std::iter::once(stem.position).chain(stem.keys.iter().filter_map(|k| k.position));
        for p in points {
            x_max = x_max.max(p.0.abs() + 0.8);
            z_min = z_min.min(p.2 - 0.8);
            z_max = z_max.max(p.2 + 0.8);
        }
    }
    let plot = (0.0, 110.0 * s as f32, w as f32, h as f32 - 70.0 * s as f32);
    let (plot_w, plot_h) = (plot.2 - plot.0, plot.3 - plot.1);
    let px_per_m = (plot_w / (2.0 * x_max)).min(plot_h / (z_max - z_min));
    let cx = w as f32 / 2.0;
    let cy = plot.1 + plot_h / 2.0 - (z_min + z_max) / 2.0 * px_per_m;
    let to_px = |x: f32, z: f32| (cx + x * px_per_m, cy + z * px_per_m);
    canvas.clip = (plot.0 as i64, plot.1 as i64, plot.2 as i64, plot.3 as i64);

    // A metre grid inside the plot, then Hall's zones.
    let metres = |px: f32| (px / px_per_m).ceil() as i32;
    for i in -metres(cx)..=metres(w as f32 - cx) {
        let x = cx + i as f32 * px_per_m;
        canvas.line((x, plot.1), (x, plot.3), 1.0 * s as f32, FAINT, 0.18, false);
    }
    for i in -metres(cy - plot.1)..=metres(plot.3 - cy) {
        let y = cy + i as f32 * px_per_m;
        canvas.line((plot.0, y), (plot.2, y), 1.0 * s as f32, FAINT, 0.18, false);
    }
    for (radius, label) in
        [(Zone::INTIMATE_M, "INTIMATE 0.45 M"), (Zone::PERSONAL_M, "PERSONAL 1.2 M"), (Zone::SOCIAL_M, "SOCIAL 3.6 M")]
    {
        canvas.ring(cx, cy, radius * px_per_m, 2.0 * s as f32, FAINT, 0.8);
        let (lx, ly) = to_px(radius * std::f32::consts::FRAC_1_SQRT_2, -radius * std::f32::consts::FRAC_1_SQRT_2);
        canvas.text(lx + 6.0 * s as f32, ly, label, 2 * s, FAINT);
    }
    // The listener: a head with a nose pointing forward (up the picture).
    let head = 0.12 * px_per_m;
    canvas.disc(cx, cy - head * 1.05, head * 0.35, 0.0, INK, 1.0);
    canvas.disc(cx, cy, head, 0.0, INK, 1.0);
    canvas.text(cx - Canvas::text_width("YOU", 2 * s) / 2.0, cy + head + 6.0 * s as f32, "YOU", 2 * s, INK);

    // Paths of moving bodies, faint and dashed, under everything else.
    for (i, stem) in scene.stems.iter().enumerate() {
        let mut points = vec![stem.position];
        let mut keyed: Vec<_> =
            stem.keys.iter().filter_map(|k| k.position.map(|p| (resolved.time(&k.at, ""), p))).collect();
        keyed.sort_by(|a, b| a.0.as_ref().unwrap_or(&0.0).total_cmp(b.0.as_ref().unwrap_or(&0.0)));
        points.extend(keyed.into_iter().map(|(_, p)| p));
        for pair in points.windows(2) {
            let (a, b) = (to_px(pair[0].0, pair[0].2), to_px(pair[1].0, pair[1].2));
            canvas.line(a, b, 2.0 * s as f32, colour_of(i), 0.6, true);
        }
    }
    // Bodies, far ones first so near ones sit on top.
    let mut order: Vec<usize> = (0..at.stems.len()).collect();
    order.sort_by(|a, b| mixes[*b].distance_m.total_cmp(&mixes[*a].distance_m));
    let mut drawn = Vec::with_capacity(order.len());
    for &i in &order {
        let (stem, mix) = (&at.stems[i], &mixes[i]);
        let (x, y) = to_px(stem.position.0, stem.position.2);
        let r = (body_radius(stem.size) * px_per_m).max(6.0 * s as f32);
        let colour = colour_of(i);
        let halo = r * (1.0 + 3.0 * reverb_share(mix.drr_db));
        canvas.disc(x, y, halo, 0.0, colour, 0.16);
        if stem.muted {
            canvas.ring(x, y, r, 3.0 * s as f32, [0.5, 0.5, 0.55], 0.9);
        } else {
            if stem.spoil > 0.0 {
                // Spikes around the body, as long as the spoil, like the stage's rough shell.
                let spikes = 18;
                for k in 0..spikes {
                    let angle = k as f32 / spikes as f32 * std::f32::consts::TAU + i as f32;
                    let length = r * (1.1 + 0.6 * stem.spoil * (1.0 + 0.5 * ((k * 7 + i) % 3) as f32));
                    let tip = (x + angle.cos() * length, y + angle.sin() * length);
                    canvas.line((x, y), tip, 3.0 * s as f32, colour, 0.9, false);
                }
            }
            canvas.disc(x, y, r, 0.0, colour, 1.0);
        }
        drawn.push((i, x, y, r));
    }
    // Labels last, each where it overlaps no body and no other label (right, left, above, below, further out).
    let mut taken: Vec<(f32, f32, f32, f32)> = drawn.iter().map(|&(_, x, y, r)| (x - r, y - r, x + r, y + r)).collect();
    let line_h = 9.0 * (2 * s) as f32;
    for &(i, x, y, r) in &drawn {
        let (stem, mix) = (&at.stems[i], &mixes[i]);
        let label = stem.name.to_uppercase();
        let detail = format!("{:.1} M{}", mix.distance_m, if stem.muted { " MUTED" } else { "" });
        let width = Canvas::text_width(&label, 2 * s).max(Canvas::text_width(&detail, 2 * s));
        let gap = 8.0 * s as f32;
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
        canvas.text(lx, ly, &label, 2 * s, INK);
        canvas.text(lx, ly + line_h, &detail, 2 * s, FAINT);
    }

    // Title and legend.
    canvas.clip = (0, 0, w as i64, h as i64);
    let title = scene.intent.as_ref().map_or(scene.name.as_str(), |i| i.title.as_str()).to_uppercase();
    canvas.text(30.0 * s as f32, 26.0 * s as f32, &title, 4 * s, INK);
    let when = match resolved.section_at(t_s) {
        Some(section) => format!("SEEN FROM ABOVE AT {:.1} S ({}) · FORWARD IS UP", t_s, section.name.to_uppercase()),
        None => format!("SEEN FROM ABOVE AT {t_s:.1} S · FORWARD IS UP"),
    };
    canvas.text(30.0 * s as f32, 70.0 * s as f32, &when, 2 * s, FAINT);
    let legend = "DISC = BODY SIZE   HALO = REVERB SHARE   SPIKES = SPOIL   GREY RING = MUTED   DASHES = MOVES";
    canvas.text(30.0 * s as f32, h as f32 - 40.0 * s as f32, legend, 2 * s, FAINT);

    encode_png(PICTURE_W, PICTURE_H, &canvas.downsample(s))
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
    md
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
