//! Recorded automation: a take's raw path thinned to a few keyframes and written into the scene's timeline in
//! place of what it covered, gliding back to what was there; and clearing a property's keyframes. Pure: the
//! recorder on the stage hands it points in song time, and what comes out is an ordinary, hand-editable scene.

use super::model::{At, Key, RoomKey, Scene, limits};
use super::timeline::{Resolved, RoomValues, StemValues};

/// A property the timeline can drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Prop {
    /// A body's position (its height included).
    Position,
    /// A body's size.
    Size,
    /// A stem's spoil.
    Spoil,
    /// A stem's mute (always a step).
    Muted,
    /// A stem's level trim (dB).
    Gain,
    /// A stem's effects send trim (dB).
    Send,
    /// The reverb return's fader (dB).
    Return,
    /// The room's reverb level (dB).
    Reverb,
    /// The master fader (dB).
    Master,
}

impl Prop {
    /// The stems' properties, in the order the inspector lists them.
    pub const STEM: [Prop; 6] = [Prop::Position, Prop::Size, Prop::Spoil, Prop::Muted, Prop::Gain, Prop::Send];
    /// The room's and the master's.
    pub const ROOM: [Prop; 3] = [Prop::Reverb, Prop::Return, Prop::Master];

    /// Its name, as the inspector and the scene file say it.
    pub fn name(self) -> &'static str {
        match self {
            Prop::Position => "position",
            Prop::Size => "size",
            Prop::Spoil => "spoil",
            Prop::Muted => "mute",
            Prop::Gain => "gain",
            Prop::Send => "send",
            Prop::Return => "reverb return",
            Prop::Reverb => "reverb",
            Prop::Master => "master",
        }
    }
}

/// One property's value: a position uses all three, the rest the first (a mute is 0 or 1).
pub type Value = [f32; 3];

/// An automation lane: one property of one stem (by index), or of the room and the master.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lane {
    /// A stem's property.
    Stem(usize, Prop),
    /// The room's or the master's.
    Room(Prop),
}

impl Lane {
    /// The property.
    pub fn prop(self) -> Prop {
        match self {
            Lane::Stem(_, p) | Lane::Room(p) => p,
        }
    }

    /// "vocal position", "master".
    pub fn describe(self, scene: &Scene) -> String {
        match self {
            Lane::Stem(i, p) => {
                format!("{} {}", scene.stems.get(i).map_or("?", |s| s.name.as_str()), p.name())
            }
            Lane::Room(p) => p.name().to_string(),
        }
    }

    /// The lane's own value in `scene` (what holds where no keyframe drives it).
    pub fn own(self, scene: &Scene) -> Value {
        match self {
            Lane::Stem(i, p) => scene.stems.get(i).map_or([0.0; 3], |s| stem_value(&StemValues::of(s), p)),
            Lane::Room(p) => room_value(&RoomValues::of(scene), p),
        }
    }

    /// Sets the lane's own value in `scene`.
    pub fn set_own(self, scene: &mut Scene, v: Value) {
        match self {
            Lane::Stem(i, p) => {
                let Some(s) = scene.stems.get_mut(i) else { return };
                match p {
                    Prop::Position => s.position = (v[0], v[1], v[2]),
                    Prop::Size => s.size = v[0],
                    Prop::Spoil => s.spoil = v[0],
                    Prop::Muted => s.muted = v[0] >= 0.5,
                    Prop::Gain => s.gain_db = v[0],
                    Prop::Send => s.send_db = v[0],
                    Prop::Return | Prop::Reverb | Prop::Master => {}
                }
            }
            Lane::Room(p) => match p {
                Prop::Return => scene.room.return_db = v[0],
                Prop::Reverb => scene.room.reverb_db = v[0],
                Prop::Master => scene.master_gain_db = v[0],
                _ => {}
            },
        }
    }

    /// What plays on the lane at song time `t`: the timeline over the scene's own value.
    pub fn value_at(self, resolved: &Resolved, scene: &Scene, t: f64) -> Value {
        match self {
            Lane::Stem(i, p) => match scene.stems.get(i) {
                Some(s) => stem_value(&resolved.stem_at(i, StemValues::of(s), t), p),
                None => [0.0; 3],
            },
            Lane::Room(p) => room_value(&resolved.room_at(RoomValues::of(scene), t), p),
        }
    }

    /// Whether any keyframe of `scene` drives the lane.
    pub fn is_driven(self, scene: &Scene) -> bool {
        match self {
            Lane::Stem(i, p) => scene.stems.get(i).is_some_and(|s| s.keys.iter().any(|k| stem_key(k, p).is_some())),
            Lane::Room(p) => scene.timeline.as_ref().is_some_and(|t| t.room.iter().any(|k| room_key(k, p).is_some())),
        }
    }
}

/// The value of `prop` among a stem's values.
pub fn stem_value(v: &StemValues, prop: Prop) -> Value {
    match prop {
        Prop::Position => [v.position.0, v.position.1, v.position.2],
        Prop::Size => [v.size, 0.0, 0.0],
        Prop::Spoil => [v.spoil, 0.0, 0.0],
        Prop::Muted => [if v.muted { 1.0 } else { 0.0 }, 0.0, 0.0],
        Prop::Gain => [v.gain_db, 0.0, 0.0],
        Prop::Send => [v.send_db, 0.0, 0.0],
        Prop::Return | Prop::Reverb | Prop::Master => [0.0; 3],
    }
}

/// The value of `prop` among the room's and the master's values.
pub fn room_value(v: &RoomValues, prop: Prop) -> Value {
    match prop {
        Prop::Return => [v.return_db, 0.0, 0.0],
        Prop::Reverb => [v.reverb_db, 0.0, 0.0],
        Prop::Master => [v.master_gain_db, 0.0, 0.0],
        _ => [0.0; 3],
    }
}

fn stem_key(k: &Key, prop: Prop) -> Option<Value> {
    match prop {
        Prop::Position => k.position.map(|p| [p.0, p.1, p.2]),
        Prop::Size => k.size.map(|v| [v, 0.0, 0.0]),
        Prop::Spoil => k.spoil.map(|v| [v, 0.0, 0.0]),
        Prop::Muted => k.muted.map(|v| [if v { 1.0 } else { 0.0 }, 0.0, 0.0]),
        Prop::Gain => k.gain_db.map(|v| [v, 0.0, 0.0]),
        Prop::Send => k.send_db.map(|v| [v, 0.0, 0.0]),
        Prop::Return | Prop::Reverb | Prop::Master => None,
    }
}

fn set_stem_key(k: &mut Key, prop: Prop, v: Option<Value>) {
    match prop {
        Prop::Position => k.position = v.map(|v| (v[0], v[1], v[2])),
        Prop::Size => k.size = v.map(|v| v[0]),
        Prop::Spoil => k.spoil = v.map(|v| v[0]),
        Prop::Muted => k.muted = v.map(|v| v[0] >= 0.5),
        Prop::Gain => k.gain_db = v.map(|v| v[0]),
        Prop::Send => k.send_db = v.map(|v| v[0]),
        Prop::Return | Prop::Reverb | Prop::Master => {}
    }
}

fn room_key(k: &RoomKey, prop: Prop) -> Option<Value> {
    match prop {
        Prop::Return => k.return_db.map(|v| [v, 0.0, 0.0]),
        Prop::Reverb => k.reverb_db.map(|v| [v, 0.0, 0.0]),
        Prop::Master => k.master_gain_db.map(|v| [v, 0.0, 0.0]),
        _ => None,
    }
}

fn set_room_key(k: &mut RoomKey, prop: Prop, v: Option<Value>) {
    match prop {
        Prop::Return => k.return_db = v.map(|v| v[0]),
        Prop::Reverb => k.reverb_db = v.map(|v| v[0]),
        Prop::Master => k.master_gain_db = v.map(|v| v[0]),
        _ => {}
    }
}

/// How far a thinned take may stray from the raw one, per unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Positions (metres, straight-line distance).
    pub metres: f32,
    /// Levels and sizes (dB; a size counts as 20·log10 of its ratio).
    pub db: f32,
    /// Spoil (0..1).
    pub spoil: f32,
}

impl Default for Tolerance {
    /// 2 cm, 0.2 dB, 0.01 spoil: at 1 m from the listener 2 cm is 0.17 dB, under what anyone hears as a change.
    fn default() -> Self {
        Tolerance { metres: 0.02, db: 0.2, spoil: 0.01 }
    }
}

/// How far apart two values of `prop` are, in tolerances (more than 1 is too far).
fn distance(prop: Prop, a: Value, b: Value, tol: &Tolerance) -> f32 {
    match prop {
        Prop::Position => {
            let d = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
            (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt() / tol.metres
        }
        Prop::Size => (20.0 * (a[0].max(1e-6) / b[0].max(1e-6)).log10()).abs() / tol.db,
        Prop::Spoil => (a[0] - b[0]).abs() / tol.spoil,
        Prop::Muted => (a[0] - b[0]).abs() * 1e6,
        Prop::Gain | Prop::Send | Prop::Return | Prop::Reverb | Prop::Master => (a[0] - b[0]).abs() / tol.db,
    }
}

/// The value a glide from `a` to `b` has at fraction `f`, as the timeline plays it (sizes geometrically).
fn glide(prop: Prop, a: Value, b: Value, f: f32) -> Value {
    let lerp = |x: f32, y: f32| x + (y - x) * f;
    match prop {
        Prop::Position => [lerp(a[0], b[0]), lerp(a[1], b[1]), lerp(a[2], b[2])],
        Prop::Size => [a[0] * (b[0] / a[0]).powf(f), 0.0, 0.0],
        Prop::Muted => a,
        _ => [lerp(a[0], b[0]), 0.0, 0.0],
    }
}

/// Thins a path in song time to the points that matter: Ramer–Douglas–Peucker where the distance of a point is
/// how far it is from the glide between the kept points around it *at its own time* (a path in time, not a
/// curve in space: the timeline glides in straight lines between keyframes, so that is the error heard). Every
/// raw point stays within `tol` of the thinned path. A mute keeps only its changes.
pub fn thin(prop: Prop, points: &[(f64, Value)], tol: &Tolerance) -> Vec<(f64, Value)> {
    if prop == Prop::Muted {
        let mut out: Vec<(f64, Value)> = Vec::new();
        for p in points {
            if out.last().is_none_or(|l| l.1[0] != p.1[0]) {
                out.push(*p);
            }
        }
        return out;
    }
    let n = points.len();
    if n <= 2 {
        return points.to_vec();
    }
    let mut keep = vec![false; n];
    keep[0] = true;
    keep[n - 1] = true;
    let mut spans = vec![(0, n - 1)];
    while let Some((a, b)) = spans.pop() {
        let (ta, va) = points[a];
        let (tb, vb) = points[b];
        let mut worst = (0.0f32, a);
        for (k, &(t, v)) in points.iter().enumerate().take(b).skip(a + 1) {
            let f = if tb > ta { ((t - ta) / (tb - ta)) as f32 } else { 1.0 };
            let d = distance(prop, v, glide(prop, va, vb, f), tol);
            if d > worst.0 {
                worst = (d, k);
            }
        }
        if worst.0 > 1.0 {
            keep[worst.1] = true;
            spans.push((a, worst.1));
            spans.push((worst.1, b));
        }
    }
    points.iter().zip(keep).filter(|(_, k)| *k).map(|(p, _)| *p).collect()
}

/// Moves every point but the first and the last to the nearest multiple of `grid_s` (a beat), keeping them in
/// order and between those two; points that land on one time keep the last.
pub fn quantise(points: &[(f64, Value)], grid_s: f64) -> Vec<(f64, Value)> {
    let n = points.len();
    if n <= 2 || grid_s.is_nan() || grid_s <= 0.0 {
        return points.to_vec();
    }
    let (first, last) = (points[0], points[n - 1]);
    let mut out = vec![first];
    for &(t, v) in &points[1..n - 1] {
        let snapped = (t / grid_s).round() * grid_s;
        if snapped <= first.0 || snapped >= last.0 {
            continue;
        }
        let len = out.len();
        match out.last_mut() {
            Some(l) if (l.0 - snapped).abs() < 1e-9 && len > 1 => *l = (snapped, v),
            _ => out.push((snapped, v)),
        }
    }
    out.push(last);
    out
}

/// One lane of a take, ready to be written: the path as played (song seconds, in order), where writing ended,
/// and how long the lane then glides back to what was there before.
#[derive(Clone, Debug, PartialEq)]
pub struct TakeLane {
    /// Which lane.
    pub lane: Lane,
    /// The path: each point's song time and value, in time order.
    pub points: Vec<(f64, Value)>,
    /// Where writing stopped (the last value holds until then).
    pub end_s: f64,
    /// Seconds to glide back to the automation that was there (0: a step); `None`: the last value holds
    /// until the next keyframe that was there (a mute pressed during a take stays pressed).
    pub glide_back_s: Option<f64>,
}

/// What writing a lane did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Points the take had.
    pub raw: usize,
    /// Keyframes written.
    pub keys: usize,
    /// Keyframes of what was there that the take replaced.
    pub replaced: usize,
}

#[cfg(test)]
#[test]
fn written_values_read_as_typed() {
    assert_eq!(tidy(Prop::Position, [1.5000001, 0.16800001, -0.1234567]), [1.5, 0.168, -0.123]);
    assert_eq!(format!("{:?}", tidy(Prop::Gain, [-3.0049999, 0.0, 0.0])[0]), "-3.0");
}

/// Rounds a written value to what a person would type (1 mm, 0.01 dB, 0.001 of spoil or size), inside the
/// format's limits.
fn tidy(prop: Prop, v: Value) -> Value {
    // In f64, so the f32 written is the shortest decimal (1.5, not 1.5000001).
    let round = |x: f32, step: f64| ((x as f64 / step).round() * step) as f32;
    let clamp = |x: f32, (lo, hi): (f32, f32)| x.clamp(lo, hi);
    match prop {
        Prop::Position => {
            let c = |x| clamp(round(x, 0.001), limits::COORD_M);
            [c(v[0]), c(v[1]).max(0.0), c(v[2])]
        }
        Prop::Size => [clamp(round(v[0], 0.001), limits::SIZE), 0.0, 0.0],
        Prop::Spoil => [clamp(round(v[0], 0.001), limits::SPOIL), 0.0, 0.0],
        Prop::Muted => [if v[0] >= 0.5 { 1.0 } else { 0.0 }, 0.0, 0.0],
        Prop::Gain | Prop::Master => [clamp(round(v[0], 0.01), limits::GAIN_DB), 0.0, 0.0],
        Prop::Send | Prop::Return => [clamp(round(v[0], 0.01), limits::EFFECTS_DB), 0.0, 0.0],
        Prop::Reverb => [clamp(round(v[0], 0.01), limits::REVERB_DB), 0.0, 0.0],
    }
}

/// A song time as written (to the millisecond).
fn tidy_time(t: f64) -> f64 {
    ((t * 1000.0).round() / 1000.0).clamp(limits::TIME_S.0, limits::TIME_S.1)
}

/// Writes one lane of a take into `scene`: the lane's keyframes from the take's first point to the end of its
/// glide back are replaced by the take's points (already thinned, or not), the last value held to `end_s`,
/// then a glide to the value the old automation has where the glide ends. Everything else is untouched.
pub fn write(scene: &mut Scene, take: &TakeLane) -> Written {
    let Some(first) = take.points.first() else { return Written::default() };
    let old = Resolved::of(scene).unwrap_or_default();
    let prop = take.lane.prop();
    let start = tidy_time(first.0);
    let end = tidy_time(take.end_s.max(take.points.last().map_or(first.0, |p| p.0)));
    let back = take.glide_back_s.map(|g| {
        let at = tidy_time(end + g.max(0.0));
        (at, tidy(prop, take.lane.value_at(&old, scene, at)))
    });
    let mut new_keys: Vec<(f64, Value)> = Vec::new();
    for &(t, v) in &take.points {
        let (t, v) = (tidy_time(t), tidy(prop, v));
        match new_keys.last_mut() {
            Some(last) if last.0 >= t => last.1 = v,
            _ => new_keys.push((t, v)),
        }
    }
    if let Some(&(last_t, held)) = new_keys.last()
        && end > last_t
    {
        new_keys.push((end, held));
    }
    let held = new_keys.last().map(|l| l.1);
    if let Some((back_at, back)) = back
        && (back_at > end || held != Some(back))
    {
        // A step back (no glide) lands a millisecond after the end; a mute always steps.
        let at = if back_at > end { back_at } else { end + 0.001 };
        new_keys.push((at, back));
    }
    let span = (start - 1e-9, new_keys.last().map_or(end, |l| l.0) + 1e-9);
    scene.use_current_format();
    let mut written = Written { raw: take.points.len(), keys: new_keys.len(), replaced: 0 };
    let at_of = |at: &At| old.time(at, "").unwrap_or(f64::NAN);
    let inside = |t: f64| t >= span.0 && t <= span.1;
    match take.lane {
        Lane::Stem(i, _) => {
            let Some(stem) = scene.stems.get_mut(i) else { return Written::default() };
            for k in stem.keys.iter_mut() {
                if stem_key(k, prop).is_some() && inside(at_of(&k.at)) {
                    set_stem_key(k, prop, None);
                    written.replaced += 1;
                }
            }
            stem.keys.retain(Key::sets_anything);
            for (t, v) in &new_keys {
                let mut key = Key::at(At::Seconds(*t));
                set_stem_key(&mut key, prop, Some(*v));
                stem.keys.push(key);
            }
            stem.keys.sort_by(|a, b| at_of(&a.at).total_cmp(&at_of(&b.at)));
        }
        Lane::Room(_) => {
            let timeline = scene.timeline.get_or_insert_with(Default::default);
            for k in timeline.room.iter_mut() {
                if room_key(k, prop).is_some() && inside(at_of(&k.at)) {
                    set_room_key(k, prop, None);
                    written.replaced += 1;
                }
            }
            timeline.room.retain(RoomKey::sets_anything);
            for (t, v) in &new_keys {
                let mut key = RoomKey::at(At::Seconds(*t));
                set_room_key(&mut key, prop, Some(*v));
                timeline.room.push(key);
            }
            timeline.room.sort_by(|a, b| at_of(&a.at).total_cmp(&at_of(&b.at)));
        }
    }
    written
}

/// Removes every keyframe of `lane` (the property keeps its own value); how many there were.
pub fn clear(scene: &mut Scene, lane: Lane) -> usize {
    let prop = lane.prop();
    let mut cleared = 0;
    match lane {
        Lane::Stem(i, _) => {
            if let Some(stem) = scene.stems.get_mut(i) {
                for k in stem.keys.iter_mut().filter(|k| stem_key(k, prop).is_some()) {
                    set_stem_key(k, prop, None);
                    cleared += 1;
                }
                stem.keys.retain(Key::sets_anything);
            }
        }
        Lane::Room(_) => {
            if let Some(timeline) = scene.timeline.as_mut() {
                for k in timeline.room.iter_mut().filter(|k| room_key(k, prop).is_some()) {
                    set_room_key(k, prop, None);
                    cleared += 1;
                }
                timeline.room.retain(RoomKey::sets_anything);
            }
        }
    }
    cleared
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn scene() -> Scene {
        Scene::parse(
            r#"(version: 2, name: "t", stems: [
                (name: "a", file: "a.wav", position: (0.0, 1.2, -2.0)),
                (name: "b", file: "b.wav", position: (1.0, 1.2, -3.0), keys: [
                    (at: Seconds(1.0), spoil: 0.0), (at: Seconds(5.0), spoil: 1.0), (at: Seconds(9.0), spoil: 0.0),
                ]),
            ])"#,
            Path::new("t.ron"),
        )
        .unwrap()
    }

    #[test]
    fn thinning_keeps_every_raw_point_within_tolerance() {
        let tol = Tolerance::default();
        // A circle of 2 m radius taken at 100 points a second for 4 s.
        let raw: Vec<(f64, Value)> = (0..400)
            .map(|k| {
                let t = k as f64 / 100.0;
                let a = (t * std::f64::consts::PI / 2.0) as f32;
                (t, [2.0 * a.sin(), 1.2, -2.0 * a.cos()])
            })
            .collect();
        let thinned = thin(Prop::Position, &raw, &tol);
        assert!(thinned.len() < raw.len() / 5 && thinned.len() > 8, "{} points", thinned.len());
        assert_eq!(thinned.first(), raw.first());
        assert_eq!(thinned.last(), raw.last());
        for (t, v) in &raw {
            let i = thinned.partition_point(|p| p.0 <= *t).clamp(1, thinned.len() - 1);
            let (a, b) = (thinned[i - 1], thinned[i]);
            let g = glide(Prop::Position, a.1, b.1, ((t - a.0) / (b.0 - a.0)) as f32);
            assert!(distance(Prop::Position, *v, g, &tol) <= 1.0 + 1e-4, "at {t}");
        }
        // A straight glide needs only its ends; a mute keeps its changes.
        let line: Vec<(f64, Value)> = (0..50).map(|k| (k as f64, [k as f32 * 0.1, 0.0, 0.0])).collect();
        assert_eq!(thin(Prop::Spoil, &line, &tol).len(), 2);
        let mutes = [(0.0, [0.0; 3]), (1.0, [0.0; 3]), (2.0, [1.0, 0.0, 0.0]), (3.0, [1.0, 0.0, 0.0])];
        assert_eq!(thin(Prop::Muted, &mutes, &tol).len(), 2);
    }

    #[test]
    fn a_take_replaces_what_it_covers_and_glides_back() {
        let mut s = scene();
        let lane = Lane::Stem(1, Prop::Spoil);
        let take = TakeLane {
            lane,
            points: vec![(3.0, [0.5, 0.0, 0.0]), (4.0, [0.2, 0.0, 0.0])],
            end_s: 4.5,
            glide_back_s: Some(1.0),
        };
        let written = write(&mut s, &take);
        // The key at 5 s is inside 3 .. 5.5 s and goes; 1 s and 9 s stay.
        assert_eq!(written.replaced, 1);
        let r = Resolved::of(&s).unwrap();
        let at = |t| lane.value_at(&r, &s, t)[0];
        assert!((at(2.0) - 0.25).abs() < 1e-6, "before the take, the old glide: {}", at(2.0));
        assert!((at(4.0) - 0.2).abs() < 1e-6);
        assert!((at(4.5) - 0.2).abs() < 1e-6, "held to the end");
        // At 5.5 s the old automation (1 → 0 from 5 to 9 s) stood at 0.875, and from there it carries on.
        assert!((at(5.5) - 0.875).abs() < 1e-3, "{}", at(5.5));
        assert!((at(7.0) - 0.5).abs() < 1e-3, "{}", at(7.0));
        // Untouched: the other stem, and the lane's own value.
        assert!(s.stems[0].keys.is_empty());
        assert_eq!(s.stems[1].spoil, 0.0);
        s.validate().unwrap();
        assert_eq!(clear(&mut s, lane), 6, "1 s, the take (3, 4, 4.5 s), the glide back (5.5 s), 9 s");
        assert!(s.stems[1].keys.is_empty());
    }

    #[test]
    fn room_and_master_lanes_write_room_keys() {
        let mut s = scene();
        let lane = Lane::Room(Prop::Master);
        let take = TakeLane {
            lane,
            points: vec![(2.0, [0.0; 3]), (3.0, [-6.0, 0.0, 0.0])],
            end_s: 3.0,
            glide_back_s: Some(0.5),
        };
        write(&mut s, &take);
        let r = Resolved::of(&s).unwrap();
        assert_eq!(lane.value_at(&r, &s, 3.0)[0], -6.0);
        assert_eq!(lane.value_at(&r, &s, 3.5)[0], 0.0);
        assert!(r.room_driven().master && !r.room_driven().reverb);
        let text = s.to_ron();
        assert!(text.contains("master_gain_db: -6.0"), "{text}");
        assert_eq!(Scene::parse(&text, Path::new("t.ron")).unwrap(), s);
    }

    #[test]
    fn quantise_snaps_inner_points_to_the_beat() {
        let pts = [(0.1, [0.0; 3]), (0.26, [1.0; 3]), (0.74, [2.0; 3]), (0.76, [3.0; 3]), (1.3, [4.0; 3])];
        let q = quantise(&pts, 0.5);
        let times: Vec<f64> = q.iter().map(|p| p.0).collect();
        assert_eq!(times, vec![0.1, 0.5, 1.0, 1.3]);
        assert_eq!(q[1].1, [2.0; 3], "two points on one beat keep the later");
        assert_eq!(q[2].1, [3.0; 3]);
    }
}
