//! The timeline in song time: sections and keyframes resolved to seconds, and the scene as it stands at any time.
//!
//! A property follows its keyframes from the first one on (before it, the stem's own value holds); a keyframe
//! that glides moves in a straight line from the previous keyframe's value (sizes geometrically, since size
//! is heard in dB), one that jumps holds the previous value until its time. Mute always jumps. Both the
//! offline render and the stage evaluate this, so what plays is what exports. Pure: it knows the scene file and
//! nothing of the mixer.

use super::model::{At, Ease, Invalid, Key, Length, RoomKey, Scene, Stem, Tempo, limits};

/// A section with its times in seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct SectionSpan {
    /// The section's name.
    pub name: String,
    /// Where it starts (s).
    pub start_s: f64,
    /// Where it ends (s).
    pub end_s: f64,
}

/// Which properties of a stem the timeline drives (the stage shows them as driven and keeps the stem's own
/// value in the file).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Driven {
    /// The position.
    pub position: bool,
    /// The size.
    pub size: bool,
    /// The spoil.
    pub spoil: bool,
    /// The mute.
    pub muted: bool,
    /// The effects send.
    pub send: bool,
    /// The level trim.
    pub gain: bool,
}

impl Driven {
    /// Every property.
    pub const ALL: Driven = Driven { position: true, size: true, spoil: true, muted: true, send: true, gain: true };

    /// These, less those `other` names (what the timeline drives, less what a hand holds).
    pub fn except(&self, other: Driven) -> Driven {
        Driven {
            position: self.position && !other.position,
            size: self.size && !other.size,
            spoil: self.spoil && !other.spoil,
            muted: self.muted && !other.muted,
            send: self.send && !other.send,
            gain: self.gain && !other.gain,
        }
    }

    /// Whether it drives anything.
    pub fn any(&self) -> bool {
        self.position || self.size || self.spoil || self.muted || self.send || self.gain
    }

    /// `driven`'s values where this says so, `own` elsewhere.
    pub fn pick(&self, driven: StemValues, own: StemValues) -> StemValues {
        StemValues {
            position: if self.position { driven.position } else { own.position },
            size: if self.size { driven.size } else { own.size },
            spoil: if self.spoil { driven.spoil } else { own.spoil },
            muted: if self.muted { driven.muted } else { own.muted },
            send_db: if self.send { driven.send_db } else { own.send_db },
            gain_db: if self.gain { driven.gain_db } else { own.gain_db },
        }
    }
}

/// Which properties of the room and the master the timeline drives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoomDriven {
    /// The reverb return's fader.
    pub return_db: bool,
    /// The reverb level.
    pub reverb: bool,
    /// The master fader.
    pub master: bool,
}

impl RoomDriven {
    /// Whether it drives anything.
    pub fn any(&self) -> bool {
        self.return_db || self.reverb || self.master
    }

    /// `driven`'s values where this says so, `own` elsewhere.
    pub fn pick(&self, driven: RoomValues, own: RoomValues) -> RoomValues {
        RoomValues {
            return_db: if self.return_db { driven.return_db } else { own.return_db },
            reverb_db: if self.reverb { driven.reverb_db } else { own.reverb_db },
            master_gain_db: if self.master { driven.master_gain_db } else { own.master_gain_db },
        }
    }
}

/// What a timeline sets on the room and the master at one time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoomValues {
    /// The reverb return's fader (dB).
    pub return_db: f32,
    /// The reverb level in every send (dB).
    pub reverb_db: f32,
    /// The master fader (dB).
    pub master_gain_db: f32,
}

impl RoomValues {
    /// A scene's own values of what a timeline can drive on the room and the master.
    pub fn of(scene: &Scene) -> RoomValues {
        RoomValues {
            return_db: scene.room.return_db,
            reverb_db: scene.room.reverb_db,
            master_gain_db: scene.master_gain_db,
        }
    }
}

/// A scene's timeline with every time in seconds and every keyframe list sorted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resolved {
    /// The tempo, when the scene has one.
    pub tempo: Option<Tempo>,
    /// The sections in time order, with their times.
    pub sections: Vec<SectionSpan>,
    stems: Vec<Vec<(f64, Key)>>,
    room: Vec<(f64, RoomKey)>,
    /// When something changes: glides as (from, to), jumps as (at, at); for skipping still stretches.
    moves: Vec<(f64, f64)>,
    /// Section by name, while the keyframes are being resolved.
    section_index: Option<std::collections::HashMap<String, usize>>,
}

fn invalid(field: String, message: String) -> Invalid {
    Invalid { field, message }
}

impl Resolved {
    /// Resolves bars and section names to seconds, checking every time, the tempo and the section names.
    pub fn of(scene: &Scene) -> Result<Resolved, Invalid> {
        let timeline = scene.timeline.clone().unwrap_or_default();
        let tempo = timeline.tempo;
        if let Some(t) = tempo {
            let (lo, hi) = limits::BPM;
            if !(t.bpm.is_finite() && (lo..=hi).contains(&t.bpm)) {
                return Err(invalid("timeline.tempo.bpm".into(), format!("{} is outside {lo} ..= {hi}", t.bpm)));
            }
            let (lo, hi) = limits::BEATS_PER_BAR;
            if !(lo..=hi).contains(&t.beats_per_bar) {
                return Err(invalid(
                    "timeline.tempo.beats_per_bar".into(),
                    format!("{} is outside {lo} ..= {hi}", t.beats_per_bar),
                ));
            }
        }
        let mut resolved = Resolved { tempo, ..Resolved::default() };
        let mut previous_end = 0.0;
        // Section names seen so far: a duplicate is found in one pass, however many sections.
        let mut names = std::collections::HashSet::with_capacity(timeline.sections.len());
        for (i, section) in timeline.sections.iter().enumerate() {
            let field = |f: &str| format!("timeline.sections[{i}].{f}");
            if section.name.trim().is_empty() {
                return Err(invalid(field("name"), "must not be empty".into()));
            }
            if !names.insert(section.name.as_str()) {
                return Err(invalid(field("name"), format!("\"{}\" names two sections", section.name)));
            }
            let start_s = match &section.start {
                None => previous_end,
                Some(At::Section(_)) => {
                    return Err(invalid(field("start"), "a section starts at Seconds(..) or Bar(..)".into()));
                }
                Some(at) => resolved.time(at, &field("start"))?,
            };
            let length_s = match section.length {
                Length::Seconds(s) => s,
                Length::Bars(b) => match tempo {
                    Some(t) => b * t.bar_s(),
                    None => return Err(invalid(field("length"), "a length in bars needs timeline.tempo".into())),
                },
            };
            if !(length_s.is_finite() && length_s > 0.0 && length_s <= limits::TIME_S.1) {
                return Err(invalid(field("length"), format!("{length_s} s is not a usable length")));
            }
            if start_s + 1e-9 < resolved.sections.last().map_or(0.0, |s| s.start_s) {
                return Err(invalid(field("start"), "sections must be in time order".into()));
            }
            previous_end = start_s + length_s;
            // Lengths add up: a song's sections together end within the same hour every time in it keeps to.
            if previous_end > limits::TIME_S.1 {
                return Err(invalid(
                    field("length"),
                    format!(
                        "the sections run to {:.0} s by here; a song's timeline ends within {} s (one hour)",
                        previous_end,
                        limits::TIME_S.1
                    ),
                ));
            }
            resolved.sections.push(SectionSpan { name: section.name.clone(), start_s, end_s: previous_end });
        }
        // Keyframes placed at sections find them by name in one step.
        resolved.section_index = Some(resolved.sections.iter().enumerate().map(|(i, s)| (s.name.clone(), i)).collect());
        for (i, stem) in scene.stems.iter().enumerate() {
            let mut keys = Vec::with_capacity(stem.keys.len());
            for (k, key) in stem.keys.iter().enumerate() {
                keys.push((resolved.time(&key.at, &format!("stems[{i}].keys[{k}].at"))?, key.clone()));
            }
            // Stable: two keyframes at one time keep their file order (the later one wins).
            keys.sort_by(|a, b| a.0.total_cmp(&b.0));
            resolved.stems.push(keys);
        }
        for (k, key) in timeline.room.iter().enumerate() {
            resolved.room.push((resolved.time(&key.at, &format!("timeline.room[{k}].at"))?, key.clone()));
        }
        resolved.room.sort_by(|a, b| a.0.total_cmp(&b.0));
        resolved.moves = resolved.find_moves();
        resolved.section_index = None;
        Ok(resolved)
    }

    /// Seconds of a point in song time.
    pub fn time(&self, at: &At, field: &str) -> Result<f64, Invalid> {
        let seconds = match at {
            At::Seconds(s) => *s,
            At::Bar(bar) => {
                let Some(tempo) = self.tempo else {
                    return Err(invalid(field.into(), "a time in bars needs timeline.tempo".into()));
                };
                if !(bar.is_finite() && *bar >= 1.0) {
                    return Err(invalid(field.into(), format!("bar {bar}: bars count from 1")));
                }
                (bar - 1.0) * tempo.bar_s()
            }
            At::Section(name) => match self.section_named(name) {
                Some(s) => s.start_s,
                None => {
                    let known: Vec<&str> = self.sections.iter().map(|s| s.name.as_str()).collect();
                    return Err(invalid(
                        field.into(),
                        format!("no section named \"{name}\" (the sections are: {})", known.join(", ")),
                    ));
                }
            },
        };
        let (lo, hi) = limits::TIME_S;
        if !(seconds.is_finite() && (lo..=hi).contains(&seconds)) {
            return Err(invalid(field.into(), format!("{seconds} s is outside {lo} ..= {hi} s")));
        }
        Ok(seconds)
    }

    /// The section called `name`: sections are in time order, not name order, so this is a search; a scene
    /// that names many sections from many keyframes is resolved through [`Resolved::of`]'s index instead.
    fn section_named(&self, name: &str) -> Option<&SectionSpan> {
        match &self.section_index {
            Some(index) => index.get(name).map(|&i| &self.sections[i]),
            None => self.sections.iter().find(|s| s.name == name),
        }
    }

    fn find_moves(&self) -> Vec<(f64, f64)> {
        fn spans<K>(keys: &[(f64, K)], sets: impl Fn(&K) -> bool, glides: impl Fn(&K) -> bool) -> Vec<(f64, f64)> {
            let mut previous = None;
            let mut out = Vec::new();
            for (t, key) in keys.iter().filter(|(_, k)| sets(k)) {
                out.push(match previous {
                    Some(p) if glides(key) => (p, *t),
                    _ => (*t, *t),
                });
                previous = Some(*t);
            }
            out
        }
        let glide = |k: &Key| k.ease == Ease::Glide;
        let mut moves = Vec::new();
        for keys in &self.stems {
            moves.extend(spans(keys, |k| k.position.is_some(), glide));
            moves.extend(spans(keys, |k| k.size.is_some(), glide));
            moves.extend(spans(keys, |k| k.spoil.is_some(), glide));
            moves.extend(spans(keys, |k| k.send_db.is_some(), glide));
            moves.extend(spans(keys, |k| k.gain_db.is_some(), glide));
            moves.extend(spans(keys, |k| k.muted.is_some(), |_| false));
        }
        let room_glide = |k: &RoomKey| k.ease == Ease::Glide;
        moves.extend(spans(&self.room, |k| k.return_db.is_some(), room_glide));
        moves.extend(spans(&self.room, |k| k.reverb_db.is_some(), room_glide));
        moves.extend(spans(&self.room, |k| k.master_gain_db.is_some(), room_glide));
        moves
    }

    /// Whether nothing the timeline drives changes after `from` up to and including `to`.
    pub fn still_between(&self, from: f64, to: f64) -> bool {
        to >= from && !self.moves.iter().any(|&(a, b)| if a == b { a > from && a <= to } else { a < to && b > from })
    }

    /// Whether anything moves over time.
    pub fn has_keys(&self) -> bool {
        !self.room.is_empty() || self.stems.iter().any(|k| !k.is_empty())
    }

    /// What the timeline drives on stem `index`.
    pub fn driven(&self, index: usize) -> Driven {
        let mut d = Driven::default();
        for (_, k) in self.stems.get(index).map_or(&[][..], |v| v.as_slice()) {
            d.position |= k.position.is_some();
            d.size |= k.size.is_some();
            d.spoil |= k.spoil.is_some();
            d.muted |= k.muted.is_some();
            d.send |= k.send_db.is_some();
            d.gain |= k.gain_db.is_some();
        }
        d
    }

    /// What the timeline drives on the room and the master.
    pub fn room_driven(&self) -> RoomDriven {
        let mut d = RoomDriven::default();
        for (_, k) in &self.room {
            d.return_db |= k.return_db.is_some();
            d.reverb |= k.reverb_db.is_some();
            d.master |= k.master_gain_db.is_some();
        }
        d
    }

    /// Where the last section ends (0 without sections): a staging may go on after the music stops.
    pub fn sections_end_s(&self) -> f64 {
        self.sections.last().map_or(0.0, |s| s.end_s)
    }

    /// The last time anything on the timeline happens: a keyframe of any of `stems` stems, of the room, or a
    /// section's end.
    pub fn last_event_s(&self, stems: usize) -> f64 {
        let room = self.room_keys().last().map_or(0.0, |k| k.0);
        (0..stems)
            .map(|i| self.stem_keys(i).last().map_or(0.0, |k| k.0))
            .fold(self.sections_end_s().max(room), f64::max)
    }

    /// The stems' keyframes with their times (scene order; each list sorted by time).
    pub fn stem_keys(&self, index: usize) -> &[(f64, Key)] {
        self.stems.get(index).map_or(&[][..], |k| k.as_slice())
    }

    /// The room's keyframes with their times, sorted.
    pub fn room_keys(&self) -> &[(f64, RoomKey)] {
        &self.room
    }

    /// The section playing at `t`, if any.
    pub fn section_at(&self, t: f64) -> Option<&SectionSpan> {
        self.sections.iter().rev().find(|s| t >= s.start_s && t < s.end_s)
    }

    /// The first bar line strictly after `t` (bars counted from 0 s), when there is a tempo.
    pub fn next_bar_after(&self, t: f64) -> Option<f64> {
        let bar = self.tempo?.bar_s();
        Some(((t / bar).floor() + 1.0) * bar)
    }

    /// `base` as it stands at song time `t`.
    pub fn scene_at(&self, base: &Scene, t: f64) -> Scene {
        let mut out = base.clone();
        self.apply_at(base, t, &mut out);
        out
    }

    /// Writes the driven properties of `base` at time `t` into `out` (a copy of `base` with the same stems);
    /// nothing else in `out` is touched, and nothing is allocated.
    pub fn apply_at(&self, base: &Scene, t: f64, out: &mut Scene) {
        for (i, (stem, target)) in base.stems.iter().zip(out.stems.iter_mut()).enumerate() {
            if self.stems.get(i).is_some_and(|k| !k.is_empty()) {
                let v = self.stem_at(i, StemValues::of(stem), t);
                target.position = v.position;
                target.size = v.size;
                target.spoil = v.spoil;
                target.muted = v.muted;
                target.send_db = v.send_db;
                target.gain_db = v.gain_db;
            }
        }
        let room = self.room_at(RoomValues::of(base), t);
        out.room.return_db = room.return_db;
        out.room.reverb_db = room.reverb_db;
        out.master_gain_db = room.master_gain_db;
    }

    /// The timeline's properties of stem `index` at time `t` (`base`'s own where no keyframe drives them).
    /// Allocates nothing, so the audio thread can step a timeline.
    pub fn stem_at(&self, index: usize, base: StemValues, t: f64) -> StemValues {
        let keys = self.stems.get(index).map_or(&[][..], |k| k.as_slice());
        StemValues {
            position: evaluate(
                keys,
                t,
                base.position,
                |k| k.position,
                Ease::of,
                |a, b, f| (lerp(a.0, b.0, f), lerp(a.1, b.1, f), lerp(a.2, b.2, f)),
            ),
            size: evaluate(keys, t, base.size, |k| k.size, Ease::of, |a, b, f| a * (b / a).powf(f)),
            spoil: evaluate(keys, t, base.spoil, |k| k.spoil, Ease::of, lerp),
            send_db: evaluate(keys, t, base.send_db, |k| k.send_db, Ease::of, lerp),
            gain_db: evaluate(keys, t, base.gain_db, |k| k.gain_db, Ease::of, lerp),
            muted: evaluate(keys, t, base.muted, |k| k.muted, |_| Ease::Jump, |a, _, _| a),
        }
    }

    /// Where stem `index` goes from `from` to `to` (s): the corners of its path, exactly (positions glide in
    /// straight lines between keyframes; a jump gives two corners at one time). Empty when nothing moves it.
    pub fn position_path(&self, index: usize, base: StemValues, from: f64, to: f64) -> Vec<(f64, [f32; 3])> {
        let keys = self.stem_keys(index);
        if !keys.iter().any(|(_, k)| k.position.is_some()) || to <= from {
            return Vec::new();
        }
        let at = |t: f64| {
            let p = self.stem_at(index, base, t).position;
            (t, [p.0, p.1, p.2])
        };
        let mut path = vec![at(from)];
        for (t, _) in keys.iter().filter(|(t, k)| k.position.is_some() && *t > from && *t < to) {
            let before = at((*t - 1e-6).max(from));
            if path.last().is_none_or(|l| l.1 != before.1) {
                path.push(before);
            }
            path.push(at(*t));
        }
        path.push(at(to));
        path
    }

    /// The reverb return's fader at time `t`.
    pub fn return_db_at(&self, base: f32, t: f64) -> f32 {
        evaluate(&self.room, t, base, |k| k.return_db, |k: &RoomKey| k.ease, lerp)
    }

    /// The room's and the master's driven values at time `t` (`base` where no keyframe drives them).
    /// Allocates nothing.
    pub fn room_at(&self, base: RoomValues, t: f64) -> RoomValues {
        let ease = |k: &RoomKey| k.ease;
        RoomValues {
            return_db: evaluate(&self.room, t, base.return_db, |k| k.return_db, ease, lerp),
            reverb_db: evaluate(&self.room, t, base.reverb_db, |k| k.reverb_db, ease, lerp),
            master_gain_db: evaluate(&self.room, t, base.master_gain_db, |k| k.master_gain_db, ease, lerp),
        }
    }
}

/// What a timeline sets on one stem at one time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StemValues {
    /// Where the body is.
    pub position: (f32, f32, f32),
    /// Its size.
    pub size: f32,
    /// Its spoil.
    pub spoil: f32,
    /// Muted.
    pub muted: bool,
    /// Its effects send trim (dB).
    pub send_db: f32,
    /// Its level trim (dB).
    pub gain_db: f32,
}

impl StemValues {
    /// A stem's own values of what a timeline can drive.
    pub fn of(stem: &Stem) -> StemValues {
        StemValues {
            position: stem.position,
            size: stem.size,
            spoil: stem.spoil,
            muted: stem.muted,
            send_db: stem.send_db,
            gain_db: stem.gain_db,
        }
    }
}

impl Ease {
    fn of(key: &Key) -> Ease {
        key.ease
    }
}

fn lerp(a: f32, b: f32, f: f32) -> f32 {
    a + (b - a) * f
}

/// One property at time `t`: the last keyframe at or before `t` that sets it, gliding towards the next one
/// that sets it when that one glides; before the first, `base`. The keyframes are in time order, so `t` is
/// found by bisection and only the keyframes next to it are looked at (the audio thread asks every 128 frames).
fn evaluate<K, T: Copy>(
    keys: &[(f64, K)],
    t: f64,
    base: T,
    get: impl Fn(&K) -> Option<T>,
    ease: impl Fn(&K) -> Ease,
    interpolate: impl Fn(T, T, f32) -> T,
) -> T {
    let split = keys.partition_point(|(time, _)| *time <= t);
    let previous = keys[..split].iter().rev().find_map(|(time, key)| get(key).map(|v| (*time, v)));
    let next = keys[split..].iter().find_map(|(time, key)| get(key).map(|v| (*time, v, key)));
    match (previous, next) {
        (Some((t0, v0)), Some((t1, v1, key))) if ease(key) == Ease::Glide => {
            interpolate(v0, v1, ((t - t0) / (t1 - t0)) as f32)
        }
        (Some((_, v0)), _) => v0,
        (None, _) => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const SCENE: &str = r#"(
        version: 2,
        name: "t",
        stems: [
            (name: "drums", file: "d.wav", position: (0.0, 1.0, -3.0), keys: [
                (at: Section("chorus"), muted: false),
                (at: Section("pre"), muted: true),
                (at: Bar(1), position: (0.0, 1.0, -3.0), size: 1.0),
                (at: Bar(3), position: (2.0, 1.0, -1.0), size: 4.0),
                (at: Seconds(12.0), ease: Jump, spoil: 0.5),
            ]),
            (name: "pad", file: "p.wav", position: (1.0, 1.0, -5.0)),
        ],
        timeline: (
            tempo: (bpm: 120.0),
            sections: [
                (name: "intro", length: Bars(2)),
                (name: "pre", length: Seconds(4.0)),
                (name: "chorus", start: Bar(5), length: Bars(4)),
            ],
            room: [(at: Seconds(16.0), return_db: -60.0)],
        ),
    )"#;

    fn scene() -> Scene {
        Scene::parse(SCENE, Path::new("t.ron")).unwrap()
    }

    #[test]
    fn sections_follow_each_other_in_bars_and_seconds() {
        let r = Resolved::of(&scene()).unwrap();
        let spans: Vec<(f64, f64)> = r.sections.iter().map(|s| (s.start_s, s.end_s)).collect();
        assert_eq!(spans, vec![(0.0, 4.0), (4.0, 8.0), (8.0, 16.0)]);
        assert_eq!(r.section_at(5.0).unwrap().name, "pre");
        assert!(r.section_at(16.5).is_none());
        assert_eq!(r.next_bar_after(3.9), Some(4.0));
        assert_eq!(r.next_bar_after(4.0), Some(6.0));
    }

    #[test]
    fn keyframes_glide_jump_and_hold() {
        let s = scene();
        let r = Resolved::of(&s).unwrap();
        let at = |t: f64| r.scene_at(&s, t).stems[0].clone();
        // Mute jumps at the section starts, in time order whatever the file order.
        assert!(!at(3.99).muted);
        assert!(at(4.0).muted && at(7.99).muted);
        assert!(!at(8.0).muted);
        // Position glides from bar 1 to bar 3 (0 s .. 4 s); size geometrically (1 -> 4: 2 half-way).
        let mid = at(2.0);
        assert_eq!(mid.position, (1.0, 1.0, -2.0));
        assert!((mid.size - 2.0).abs() < 1e-5, "{}", mid.size);
        assert_eq!(at(10.0).position, (2.0, 1.0, -1.0));
        // A jump holds the stem's own value until its time.
        assert_eq!(at(11.99).spoil, 0.0);
        assert_eq!(at(12.0).spoil, 0.5);
        // The room's fader, and an unkeyed stem untouched.
        assert_eq!(r.scene_at(&s, 15.9).room.return_db, 0.0);
        assert_eq!(r.scene_at(&s, 16.0).room.return_db, -60.0);
        assert_eq!(r.scene_at(&s, 9.0).stems[1], s.stems[1]);
        assert_eq!(
            r.driven(0),
            Driven { position: true, size: true, spoil: true, muted: true, send: false, gain: false }
        );
        assert!(!r.driven(1).any());
    }

    #[test]
    fn still_stretches_are_found_between_the_moves() {
        let r = Resolved::of(&scene()).unwrap();
        // Moves: the position and size glide over 0..4 s, mutes jump at 4 and 8, spoil at 12, the room at 16.
        assert!(!r.still_between(1.0, 2.0), "a glide");
        assert!(r.still_between(4.0, 7.9), "after the jump at 4 s, before the one at 8 s");
        assert!(!r.still_between(7.9, 8.0), "the jump at 8 s");
        assert!(r.still_between(16.0, 40.0));
        assert!(!r.still_between(40.0, 1.0), "a loop back is never still");
    }

    #[test]
    fn bad_times_name_the_field() {
        for (from, to, field) in [
            ("Section(\"chorus\"), muted: false", "Section(\"bridge\"), muted: false", "stems[0].keys[0].at"),
            ("Bar(3)", "Bar(0.5)", "stems[0].keys[3].at"),
            ("Seconds(12.0)", "Seconds(-1.0)", "stems[0].keys[4].at"),
            ("Seconds(16.0)", "Seconds(NaN)", "timeline.room[0].at"),
            ("length: Seconds(4.0)", "length: Seconds(0.0)", "timeline.sections[1].length"),
            ("(name: \"pre\"", "(name: \"intro\"", "timeline.sections[1].name"),
            ("bpm: 120.0", "bpm: 0.0", "timeline.tempo.bpm"),
            ("spoil: 0.5", "spoil: 1.5", "stems[0].keys[4].spoil"),
        ] {
            let text = SCENE.replace(from, to);
            assert_ne!(text, SCENE, "{from}");
            match Scene::parse(&text, Path::new("t.ron")) {
                Err(crate::scene::SceneError::Invalid { field: f, message, .. }) => {
                    assert_eq!(f, field, "{to}: {message}")
                }
                other => panic!("{to}: expected an invalid field, got {other:?}"),
            }
        }
        let no_tempo = SCENE.replace("tempo: (bpm: 120.0),", "");
        let err = Scene::parse(&no_tempo, Path::new("t.ron")).unwrap_err().to_string();
        assert!(err.contains("needs timeline.tempo"), "{err}");
    }

    #[test]
    fn version_1_still_reads_but_not_with_a_timeline() {
        let v1 = r#"(version: 1, name: "old", stems: [(name: "a", file: "a.wav", position: (0.0, 1.0, -2.0))])"#;
        assert!(Scene::parse(v1, Path::new("old.ron")).is_ok());
        let err = Scene::parse(&SCENE.replace("version: 2", "version: 1"), Path::new("t.ron")).unwrap_err();
        assert!(err.to_string().contains("needs format version 2"), "{err}");
    }

    #[test]
    fn a_timeline_round_trips_through_the_writer() {
        let s = scene();
        let text = s.to_ron();
        assert_eq!(Scene::parse(&text, Path::new("t.ron")).unwrap(), s, "{text}");
    }
}
