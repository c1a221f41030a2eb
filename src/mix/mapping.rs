//! Placement → StemMix: the laws (the README's "The laws, heard") that turn where a body stands, and how big it
//! is, into how it sounds.
//!
//! Everything here is a pure function of numbers, so the stage, `inspect`, the offline render and the tests all
//! agree. Units: metres, seconds, hertz, decibels. The listener stands at the origin facing -Z (Bevy's forward)
//! with ears [`EAR_HEIGHT_M`] above the floor.

use std::f32::consts::{FRAC_PI_2, FRAC_PI_4, PI};
use std::fmt;

use crate::scene::timeline::StemValues;
use crate::scene::{Room, Scene, Stem};

/// Ear height of the seated listener. Heights are measured from the floor, so a body at this height is level
/// with the ears and its brightness is neutral.
pub const EAR_HEIGHT_M: f32 = 1.2;
/// Nothing gets closer than this: a body cannot sit inside the listener's head, and the inverse-distance law
/// would otherwise grow without bound.
pub const MIN_DISTANCE_M: f32 = 0.1;
/// Reference distance of the dry-level law: 0 dB at the edge of Hall's intimate zone.
pub const LEVEL_REF_M: f32 = 0.45;
/// Source level grows +3 dB per doubling of size (power ∝ size): a bigger body moves more air, so "quiet"
/// and "far" can be told apart. Gentle on purpose, so size stays a secondary cue to distance.
pub const SOURCE_DB_PER_SIZE_DOUBLING: f32 = 3.0;
/// Radius of a body of size 1.0, metres: a singer or an instrument. The stage draws bodies this size.
pub const BODY_RADIUS_PER_SIZE_M: f32 = 0.3;
/// Half the loudspeaker base: a stereo recording's image spans ±30° (ITU-R BS.775), not the 180° around the
/// listener.
pub const SPEAKER_HALF_ANGLE_DEG: f32 = 30.0;
/// A stereo stem's recorded image is the instrument as its recording placed it across the loudspeakers. A body
/// of natural size (1.0) keeps that image anywhere up to the edge of the social zone, where mixers stage a band;
/// the width law measures every body's angle against a natural body's angle at this distance.
pub const NATURAL_IMAGE_DISTANCE_M: f32 = Zone::SOCIAL_M;
/// Directivity factor Q in the critical-distance formula: voices and most instruments radiate mostly forward.
pub const SOURCE_DIRECTIVITY_Q: f32 = 2.0;
/// The room is modelled as a shoebox of size × size × size/3 (a hall is wider than it is high).
pub const ROOM_HEIGHT_RATIO: f32 = 1.0 / 3.0;
/// Speed of sound (m/s) at 20 °C, for the pre-delay law.
pub const SPEED_OF_SOUND_M_S: f32 = 343.0;
/// Pre-delay never exceeds this: past ~80-100 ms the reverb detaches and reads as echo (Haas / speech fusion).
pub const MAX_PRE_DELAY_S: f32 = 0.1;
/// Air absorption starts to be drawn past this distance. At room scale ISO 9613-1 loss is tiny: this cue is a
/// labelled artistic licence, as in game middleware (Wwise/FMOD distance LPF).
pub const AIR_START_M: f32 = 1.0;
/// The air low-pass fades in over this many metres past [`AIR_START_M`], so crossing the start is seamless.
pub const AIR_FADE_M: f32 = 0.5;
/// Air cutoff at [`AIR_START_M`] and how fast it falls: fc = 20 kHz · d^-0.65 (12.7 kHz at 2 m, 5 kHz at 8 m).
pub const AIR_CUTOFF_AT_START_HZ: f32 = 20_000.0;
/// How fast the air cutoff falls with distance (the exponent of d).
pub const AIR_CUTOFF_EXPONENT: f32 = 0.65;
/// Proximity effect: directional microphones lift the bass within an arm's length (~0.6 m). Listeners have
/// learned to read that lift as "close", so we add it as a low shelf that grows as the body approaches.
pub const PROXIMITY_START_M: f32 = 0.6;
/// The proximity lift at the closest distance (dB).
pub const PROXIMITY_MAX_DB: f32 = 6.0;
/// Corner of the proximity shelf (Hz).
pub const PROXIMITY_SHELF_HZ: f32 = 150.0;
/// Brightness tilt from height (David Gibson: up is bright, down is dark), dB per metre above the ears.
pub const TILT_DB_PER_M: f32 = 2.0;
/// The tilt never exceeds this (dB).
pub const TILT_MAX_DB: f32 = 6.0;
/// Pivot of the tilt: below it the level goes one way, above it the other.
pub const TILT_PIVOT_HZ: f32 = 800.0;

/// Edward T. Hall's proxemic zones, by distance from the listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Zone {
    /// Closer than 0.45 m: a whisper in the ear.
    Intimate,
    /// 0.45 - 1.2 m: a friend.
    Personal,
    /// 1.2 - 3.6 m: a conversation, a band in a room.
    Social,
    /// Beyond 3.6 m: a stage.
    Public,
}

impl Zone {
    /// Outer radius of each zone (metres); public has none.
    pub const INTIMATE_M: f32 = 0.45;
    /// Outer radius of the personal zone (m).
    pub const PERSONAL_M: f32 = 1.2;
    /// Outer radius of the social zone (m).
    pub const SOCIAL_M: f32 = 3.6;

    /// The zone at a distance.
    pub fn at(distance_m: f32) -> Zone {
        if distance_m < Zone::INTIMATE_M {
            Zone::Intimate
        } else if distance_m < Zone::PERSONAL_M {
            Zone::Personal
        } else if distance_m < Zone::SOCIAL_M {
            Zone::Social
        } else {
            Zone::Public
        }
    }

    /// The zone's name, in lower case.
    pub fn name(self) -> &'static str {
        match self {
            Zone::Intimate => "intimate",
            Zone::Personal => "personal",
            Zone::Social => "social",
            Zone::Public => "public",
        }
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a body is and what the user asked of it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placement {
    /// Where the body stands (m; x right, y up from the floor, z ahead is negative).
    pub position: [f32; 3],
    /// Body size (1 = a voice or an instrument).
    pub size: f32,
    /// Trim (dB).
    pub gain_db: f32,
    /// The spoil macro (0 .. 1).
    pub spoil: f32,
    /// Effects send trim (dB) on top of the mapping; at -60 nothing is sent.
    pub send_db: f32,
    /// False when muted, or when another stem is soloed.
    pub audible: bool,
}

/// Whether a stem is heard: not muted, and soloed itself when any stem is. The one audible rule: the stage, the
/// driver and the render all ask it here.
pub fn audible(muted: bool, solo: bool, any_solo: bool) -> bool {
    !muted && (!any_solo || solo)
}

impl Placement {
    /// The placement of a stem with `values` (its own, or the timeline's at some time) and `solo`
    /// (`any_solo`: some stem is soloed).
    pub fn of(values: &StemValues, solo: bool, any_solo: bool) -> Placement {
        Placement {
            position: [values.position.0, values.position.1, values.position.2],
            size: values.size,
            gain_db: values.gain_db,
            spoil: values.spoil,
            send_db: values.send_db,
            audible: audible(values.muted, solo, any_solo),
        }
    }

    /// A scene stem's placement (`any_solo`: some stem of the scene is soloed).
    pub fn from_stem(stem: &Stem, any_solo: bool) -> Placement {
        Placement {
            position: stem.position_array(),
            size: stem.size,
            gain_db: stem.gain_db,
            spoil: stem.spoil,
            send_db: stem.send_db,
            audible: audible(stem.muted, stem.solo, any_solo),
        }
    }
}

/// Everything the mix graph needs for one stem, plus what the user is shown.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StemMix {
    /// Distance from the ears (m).
    pub distance_m: f32,
    /// Degrees; 0 ahead, +90 right, -90 left, ±180 behind.
    pub azimuth_deg: f32,
    /// Hall's zone at that distance.
    pub zone: Zone,
    /// Level of the direct sound (source level + distance law + trim), dB; `None` when silent.
    pub dry_db: Option<f32>,
    /// Constant-power pan position of the image centre, -1 (left) .. 1 (right).
    pub pan: f32,
    /// How much of a stereo stem's recorded image the body keeps, as a fraction of the loudspeaker base
    /// (0 a point .. 1 the whole recorded image): see [`image_width`].
    pub width: f32,
    /// The angle the body subtends at the ears as a fraction of 180° (0 a point .. 1 all around): the
    /// decorrelated width every stem gets, and the only width a mono stem has. See [`apparent_width`].
    pub spread: f32,
    /// Level sent to the shared reverb, dB; `None` when silent.
    pub reverb_send_db: Option<f32>,
    /// Direct-to-reverberant ratio, dB (dry minus send): the strongest far-distance cue.
    pub drr_db: f32,
    /// Air low-pass cutoff; `None` when no air loss is applied.
    pub air_cutoff_hz: Option<f32>,
    /// How much of the air low-pass is mixed in (0 .. 1): fades in just past [`AIR_START_M`].
    pub air_amount: f32,
    /// Gap between the direct sound and the reverb onset.
    pub pre_delay_s: f32,
    /// Low-shelf lift below [`PROXIMITY_SHELF_HZ`], dB (proximity effect).
    pub proximity_db: f32,
    /// Brightness tilt around [`TILT_PIVOT_HZ`], dB (+ brighter, - darker).
    pub tilt_db: f32,
    /// The spoil macro's amount (0 .. 1).
    pub spoil: f32,
}

impl StemMix {
    /// The cues in one line of words and numbers, as the stage's inspector shows them, e.g.
    /// "social zone · -9.5 dB dry · reverb -14 dB · air 9 kHz · 18 ms pre-delay".
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("{} zone", self.zone.name())];
        match (self.dry_db, self.reverb_send_db) {
            (Some(dry), reverb) => {
                parts.push(format!("{dry:.1} dB dry"));
                if let Some(r) = reverb {
                    parts.push(format!("reverb {r:.0} dB"));
                }
            }
            (None, _) => parts.push("muted".to_string()),
        }
        if let Some(hz) = self.air_cutoff_hz.filter(|_| self.air_amount > 0.0) {
            parts.push(if hz >= 1000.0 { format!("air {:.0} kHz", hz / 1000.0) } else { format!("air {hz:.0} Hz") });
        }
        parts.push(format!("{:.0} ms pre-delay", self.pre_delay_s * 1000.0));
        if self.proximity_db > 0.05 {
            parts.push(format!("proximity +{:.1} dB", self.proximity_db));
        }
        parts.join(" · ")
    }
}

/// Derived properties of a room.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoomAcoustics {
    /// Volume of the shoebox (m³).
    pub volume_m3: f32,
    /// Where direct and reverberant energy are equal: r_c = 0.057·√(Q·V/RT60) (Sabine).
    pub critical_distance_m: f32,
    /// Half-width of the room: the extra path of the first side reflection grows with it.
    pub reflection_offset_m: f32,
}

/// The room's volume, critical distance and reflection offset.
pub fn room_acoustics(room: &Room) -> RoomAcoustics {
    let volume_m3 = room.size.powi(3) * ROOM_HEIGHT_RATIO;
    let critical_distance_m = 0.057 * (SOURCE_DIRECTIVITY_Q * volume_m3 / room.decay_s).sqrt();
    RoomAcoustics { volume_m3, critical_distance_m, reflection_offset_m: room.size * 0.5 }
}

/// Inverse-distance law: −6 dB per doubling of distance, 0 dB at [`LEVEL_REF_M`].
pub fn distance_db(distance_m: f32) -> f32 {
    -20.0 * (distance_m.max(MIN_DISTANCE_M) / LEVEL_REF_M).log10()
}

/// Source level from size: +3 dB per doubling (see [`SOURCE_DB_PER_SIZE_DOUBLING`]).
pub fn source_db(size: f32) -> f32 {
    SOURCE_DB_PER_SIZE_DOUBLING * size.max(1e-3).log2()
}

/// Distance from the listener's ears, never below [`MIN_DISTANCE_M`].
pub fn distance_from_ears(position: [f32; 3]) -> f32 {
    let [x, y, z] = position;
    let dy = y - EAR_HEIGHT_M;
    (x * x + dy * dy + z * z).sqrt().max(MIN_DISTANCE_M)
}

/// Pan position: the lateral component of the direction to the body (sin azimuth · cos elevation), so a body
/// straight overhead is centred and moving it never jumps.
pub fn pan_position(position: [f32; 3]) -> f32 {
    let d = distance_from_ears(position);
    (position[0] / d).clamp(-1.0, 1.0)
}

/// The angle a body subtends at the ears (radians).
pub fn subtended_angle(size: f32, distance_m: f32) -> f32 {
    let radius = BODY_RADIUS_PER_SIZE_M * size.max(0.0);
    2.0 * (radius / distance_m.max(MIN_DISTANCE_M)).atan()
}

/// Apparent width: the angle the body subtends at the ears, as a fraction of 180°. It decides how much
/// decorrelated sound the body adds (so a big or near body is wide even from a mono stem).
pub fn apparent_width(size: f32, distance_m: f32) -> f32 {
    (subtended_angle(size, distance_m) / PI).clamp(0.0, 1.0)
}

/// Image width of a stereo stem: the fraction of its recorded image (spread over the ±30° loudspeaker base)
/// that the body keeps. The body's angle is compared with a natural body's at [`NATURAL_IMAGE_DISTANCE_M`]:
/// x = θ(size, d) / θ(1, 3.6 m), and w = x / (1 + x⁴)^¼, which is x for a small or distant body (twice as far
/// keeps half the image, narrowing smoothly towards a point) and approaches 1 (the recording's own image, never
/// wider) for a body of natural size or bigger inside the social zone: 0.84 at its edge, 0.98 at 2 m.
pub fn image_width(size: f32, distance_m: f32) -> f32 {
    let x = subtended_angle(size, distance_m) / subtended_angle(1.0, NATURAL_IMAGE_DISTANCE_M);
    (x / (1.0 + x.powi(4)).powf(0.25)).clamp(0.0, 1.0)
}

/// Air cutoff and how much of it to apply at a distance.
pub fn air(distance_m: f32) -> (Option<f32>, f32) {
    if distance_m <= AIR_START_M {
        return (None, 0.0);
    }
    let cutoff = AIR_CUTOFF_AT_START_HZ * (distance_m / AIR_START_M).powf(-AIR_CUTOFF_EXPONENT);
    let t = ((distance_m - AIR_START_M) / AIR_FADE_M).clamp(0.0, 1.0);
    (Some(cutoff), t * t * (3.0 - 2.0 * t))
}

/// Gap between the direct sound and the first side reflection: (√(d² + w²) − d)/c for a wall offset w.
/// Near bodies get a long gap (intimate, "in front of the room"), far bodies almost none.
pub fn pre_delay_s(distance_m: f32, room: &RoomAcoustics) -> f32 {
    let w = room.reflection_offset_m;
    let extra_path = (distance_m * distance_m + w * w).sqrt() - distance_m;
    (extra_path / SPEED_OF_SOUND_M_S).clamp(0.0, MAX_PRE_DELAY_S)
}

/// Proximity lift, growing smoothly from 0 dB at [`PROXIMITY_START_M`] to the maximum at [`MIN_DISTANCE_M`].
pub fn proximity_db(distance_m: f32) -> f32 {
    let t = ((PROXIMITY_START_M - distance_m) / (PROXIMITY_START_M - MIN_DISTANCE_M)).clamp(0.0, 1.0);
    PROXIMITY_MAX_DB * t * t * (3.0 - 2.0 * t)
}

/// Brightness tilt from height relative to the ears.
pub fn tilt_db(height_m: f32) -> f32 {
    (TILT_DB_PER_M * (height_m - EAR_HEIGHT_M)).clamp(-TILT_MAX_DB, TILT_MAX_DB)
}

/// A cue switched off takes the value it would have at this distance, so bodies no longer differ in it.
pub const CUE_REFERENCE_M: f32 = 2.0;

/// Which cues the mapping applies: the workshop's cue isolation switches each one off to hear what it adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cues {
    /// Distance changes the direct sound's level.
    pub level: bool,
    /// Distance changes the direct-to-reverb ratio (off: the reverb follows the direct level).
    pub reverb: bool,
    /// Distance lowers the high end (air).
    pub air: bool,
    /// Distance shortens the gap before the reflections.
    pub pre_delay: bool,
    /// Distance changes the apparent width (off: each body as wide as at the reference distance).
    pub width: bool,
    /// The spoil macros.
    pub spoil: bool,
    /// Closeness lifts the bass (proximity).
    pub proximity: bool,
    /// Height tilts the tone.
    pub height: bool,
    /// The direct sound itself (off: only the room is heard).
    pub direct: bool,
}

impl Cues {
    /// Every cue on.
    pub const ALL: Cues = Cues {
        level: true,
        reverb: true,
        air: true,
        pre_delay: true,
        width: true,
        spoil: true,
        proximity: true,
        height: true,
        direct: true,
    };

    /// Every switch with its name, for panels, the CLI and handouts.
    pub fn switches(&mut self) -> [(&'static str, &mut bool); 9] {
        [
            ("level", &mut self.level),
            ("direct-to-reverb", &mut self.reverb),
            ("air", &mut self.air),
            ("pre-delay", &mut self.pre_delay),
            ("width", &mut self.width),
            ("spoil", &mut self.spoil),
            ("proximity", &mut self.proximity),
            ("height", &mut self.height),
            ("direct", &mut self.direct),
        ]
    }

    /// Switches off the cue called `name`; an unknown name is an error listing the names.
    pub fn switch_off(&mut self, name: &str) -> Result<(), String> {
        let mut names = Vec::new();
        for (cue, on) in self.switches() {
            if cue == name {
                *on = false;
                return Ok(());
            }
            names.push(cue);
        }
        Err(format!("no cue called \"{name}\" (the cues are: {})", names.join(", ")))
    }

    /// The names of the cues that are off.
    pub fn off(&self) -> Vec<&'static str> {
        let mut copy = *self;
        copy.switches().into_iter().filter(|(_, on)| !**on).map(|(name, _)| name).collect()
    }
}

impl Default for Cues {
    fn default() -> Self {
        Cues::ALL
    }
}

/// The whole mapping for one body.
pub fn stem_mix(placement: &Placement, room: &Room) -> StemMix {
    stem_mix_with(placement, room, Cues::ALL)
}

/// The mapping for one body with only some cues switched on.
pub fn stem_mix_with(placement: &Placement, room: &Room, cues: Cues) -> StemMix {
    let acoustics = room_acoustics(room);
    let distance_m = distance_from_ears(placement.position);
    let [x, _, z] = placement.position;
    let azimuth_deg = if x.abs() < 1e-6 && z.abs() < 1e-6 { 0.0 } else { x.atan2(-z).to_degrees() };
    let level_db = source_db(placement.size) + placement.gain_db;
    let level_distance = if cues.level { distance_m } else { CUE_REFERENCE_M };
    let dry_db = level_db + distance_db(level_distance);
    // The reverberant field is about as loud everywhere in the room: it equals the direct sound at the
    // critical distance, so the send does not depend on where the body stands.
    let field_db = distance_db(acoustics.critical_distance_m) + room.reverb_db + placement.send_db;
    // With the direct-to-reverb cue off, the send keeps the ratio of the reference distance instead.
    let send_db = if cues.reverb { level_db + field_db } else { dry_db - distance_db(CUE_REFERENCE_M) + field_db };
    let reverb_on =
        room.reverb_db > crate::scene::limits::REVERB_DB.0 && placement.send_db > crate::scene::limits::EFFECTS_DB.0;
    let (air_cutoff_hz, air_amount) = if cues.air { air(distance_m) } else { (None, 0.0) };
    let cue_distance = |on: bool| if on { distance_m } else { CUE_REFERENCE_M };
    StemMix {
        distance_m,
        azimuth_deg,
        zone: Zone::at(distance_m),
        dry_db: (placement.audible && cues.direct).then_some(dry_db),
        pan: pan_position(placement.position),
        width: image_width(placement.size, cue_distance(cues.width)),
        spread: apparent_width(placement.size, cue_distance(cues.width)),
        reverb_send_db: (placement.audible && reverb_on).then_some(send_db),
        drr_db: dry_db - send_db,
        air_cutoff_hz,
        air_amount,
        pre_delay_s: pre_delay_s(cue_distance(cues.pre_delay), &acoustics),
        proximity_db: if cues.proximity { proximity_db(distance_m) } else { 0.0 },
        tilt_db: if cues.height { tilt_db(placement.position[1]) } else { 0.0 },
        spoil: if cues.spoil { placement.spoil } else { 0.0 },
    }
}

/// The mapping for every stem of a scene (solo and mute applied).
pub fn scene_mix(scene: &Scene) -> Vec<StemMix> {
    scene_mix_with(scene, Cues::ALL)
}

/// [`scene_mix`] with only some cues switched on.
pub fn scene_mix_with(scene: &Scene, cues: Cues) -> Vec<StemMix> {
    let any_solo = scene.stems.iter().any(|s| s.solo);
    scene.stems.iter().map(|s| stem_mix_with(&Placement::from_stem(s, any_solo), &scene.room, cues)).collect()
}

/// The 2×2 stereo matrix that places a stem's image: its two channels are treated as two virtual sources at
/// `pan ∓ width` (in units of the pan range, so width 1 at the centre puts them on the two loudspeakers), each panned with the constant-power sine/cosine law, and the pair is scaled by
/// `1/√(1 + cos Δθ)` so a mono stem keeps its power at every pan and width (unity at centre, +3 dB in one
/// channel when hard-panned, as kira's own panning) while a stereo stem at full width keeps its own image.
/// Returns `[[L←L, L←R], [R←L, R←R]]`.
pub fn image_matrix(pan: f32, width: f32) -> [[f32; 2]; 2] {
    let spread = width.clamp(0.0, 1.0);
    let theta_a = ((pan - spread).clamp(-1.0, 1.0) + 1.0) * FRAC_PI_4;
    let theta_b = ((pan + spread).clamp(-1.0, 1.0) + 1.0) * FRAC_PI_4;
    debug_assert!((theta_a - theta_b).abs() <= FRAC_PI_2 + 1e-5);
    let scale = 1.0 / (1.0 + (theta_a - theta_b).cos()).sqrt();
    [[scale * theta_a.cos(), scale * theta_b.cos()], [scale * theta_a.sin(), scale * theta_b.sin()]]
}

/// How much decorrelated signal (an all-passed copy of the mid, added to L and subtracted from R) a body of
/// this width gets, and how much the direct image is scaled to keep the power: `(direct, decorrelated)` with
/// direct² + decorrelated² = 1. A mono stem at centre then has inter-channel correlation 1 − 2·decorrelated²:
/// 1 for a point, 0 for a body as wide as the stage. The power 1.5 keeps small bodies focused (a singer a few
/// metres away is a point) and lets only big or near bodies spread.
pub fn decorrelation(width: f32) -> (f32, f32) {
    let c2 = 0.5 * width.clamp(0.0, 1.0).powf(1.5);
    ((1.0 - c2).sqrt(), c2.sqrt())
}

/// Converts decibels to amplitude; `None` (silence) becomes 0.
pub fn db_to_amp(db: Option<f32>) -> f32 {
    db.map_or(0.0, |db| 10f32.powf(db / 20.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: f32, y: f32, z: f32) -> Placement {
        Placement { position: [x, y, z], size: 1.0, gain_db: 0.0, spoil: 0.0, send_db: 0.0, audible: true }
    }

    fn room() -> Room {
        Room::default()
    }

    fn ahead(d: f32) -> StemMix {
        stem_mix(&at(0.0, EAR_HEIGHT_M, -d), &room())
    }

    #[test]
    fn dry_level_falls_six_db_per_doubling() {
        let a = ahead(1.0).dry_db.unwrap();
        let b = ahead(2.0).dry_db.unwrap();
        assert!((a - b - 6.0206).abs() < 1e-3, "{a} {b}");
        assert!((ahead(LEVEL_REF_M).dry_db.unwrap()).abs() < 1e-4);
    }

    #[test]
    fn distances_are_monotone_in_every_cue() {
        let mut prev = ahead(MIN_DISTANCE_M);
        for i in 1..400 {
            let d = MIN_DISTANCE_M + i as f32 * 0.1;
            let m = ahead(d);
            assert!(m.dry_db < prev.dry_db, "dry at {d}");
            assert!(m.drr_db < prev.drr_db, "drr at {d}");
            assert_eq!(m.reverb_send_db, prev.reverb_send_db, "send is distance-independent");
            assert!(m.pre_delay_s <= prev.pre_delay_s, "pre-delay at {d}");
            assert!(m.proximity_db <= prev.proximity_db, "proximity at {d}");
            assert!(m.width <= prev.width, "width at {d}");
            assert!(m.spread <= prev.spread, "spread at {d}");
            match (m.air_cutoff_hz, prev.air_cutoff_hz) {
                (Some(a), Some(b)) => assert!(a < b, "air at {d}"),
                (None, Some(_)) => panic!("air vanished at {d}"),
                _ => {}
            }
            assert!(m.air_amount >= prev.air_amount);
            prev = m;
        }
    }

    #[test]
    fn boundaries_hold() {
        // Inside the head the distance clamps, nothing becomes infinite.
        let m = stem_mix(&at(0.0, EAR_HEIGHT_M, 0.0), &room());
        assert_eq!(m.distance_m, MIN_DISTANCE_M);
        assert!(m.dry_db.unwrap().is_finite());
        assert_eq!(m.pan, 0.0);
        assert_eq!(m.zone, Zone::Intimate);
        assert!((m.proximity_db - PROXIMITY_MAX_DB).abs() < 1e-4);
        // Far away: every cue stays in range.
        let far = stem_mix(&at(999.0, 999.0, -999.0), &room());
        assert_eq!(far.zone, Zone::Public);
        assert!(far.pre_delay_s >= 0.0 && far.pre_delay_s <= MAX_PRE_DELAY_S);
        assert!(far.air_cutoff_hz.unwrap() > 20.0);
        assert_eq!(far.tilt_db, TILT_MAX_DB);
        assert_eq!(far.air_amount, 1.0);
        // Air starts exactly at its start distance, without a jump in amount.
        assert_eq!(air(AIR_START_M), (None, 0.0));
        assert!(air(AIR_START_M + 1e-3).1 < 1e-4);
    }

    #[test]
    fn zones_follow_hall() {
        assert_eq!(Zone::at(0.3), Zone::Intimate);
        assert_eq!(Zone::at(0.45), Zone::Personal);
        assert_eq!(Zone::at(1.19), Zone::Personal);
        assert_eq!(Zone::at(2.0), Zone::Social);
        assert_eq!(Zone::at(3.6), Zone::Public);
    }

    #[test]
    fn pan_follows_azimuth() {
        let left = stem_mix(&at(-2.0, EAR_HEIGHT_M, 0.0), &room());
        assert_eq!(left.pan, -1.0);
        assert!((left.azimuth_deg + 90.0).abs() < 1e-4);
        let right = stem_mix(&at(2.0, EAR_HEIGHT_M, -2.0), &room());
        assert!((right.pan - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-5);
        assert!((right.azimuth_deg - 45.0).abs() < 1e-4);
    }

    #[test]
    fn size_makes_louder_and_wider() {
        let small = stem_mix(&Placement { size: 0.5, ..at(0.0, EAR_HEIGHT_M, -2.0) }, &room());
        let big = stem_mix(&Placement { size: 4.0, ..at(0.0, EAR_HEIGHT_M, -2.0) }, &room());
        assert!(big.width > small.width);
        assert!((big.dry_db.unwrap() - small.dry_db.unwrap() - 9.0).abs() < 1e-3);
        assert_eq!(big.drr_db, small.drr_db, "size changes level, not the direct-to-reverb ratio");
    }

    #[test]
    fn a_natural_body_keeps_a_stereo_image_in_the_social_zone_and_narrows_beyond() {
        // Uncorrelated stereo through the image matrix at the centre has correlation cos(width·90°).
        let correlation = |w: f32| (w * FRAC_PI_2).cos();
        for d in [0.6, 1.2, 2.0, 3.0, Zone::SOCIAL_M] {
            let w = image_width(1.0, d);
            assert!(correlation(w) <= 0.3, "size 1 at {d} m: width {w}, correlation {}", correlation(w));
        }
        assert!(image_width(1.0, 2.0) > 0.97);
        // Twice as far, or half as big: about half the image.
        let far = image_width(1.0, 2.0 * NATURAL_IMAGE_DISTANCE_M);
        assert!((far - 0.5).abs() < 0.05, "{far}");
        assert!((image_width(0.5, NATURAL_IMAGE_DISTANCE_M) - far).abs() < 0.01);
        // Smoothly towards a point, never wider than the recording.
        let mut previous = 1.0;
        for i in 0..200 {
            let w = image_width(1.0, 0.2 + i as f32 * 0.25);
            assert!(w <= previous + 1e-6 && w <= 1.0 && w > 0.0);
            assert!(previous - w < 0.05, "jumps at {i}");
            previous = w;
        }
        assert!(image_width(1.0, 200.0) < 0.03);
        assert!(image_width(8.0, 0.3) <= 1.0);
    }

    #[test]
    fn height_tilts_brightness() {
        assert!(stem_mix(&at(0.0, 3.0, -2.0), &room()).tilt_db > 0.0);
        assert!(stem_mix(&at(0.0, 0.0, -2.0), &room()).tilt_db < 0.0);
        assert_eq!(stem_mix(&at(0.0, EAR_HEIGHT_M, -2.0), &room()).tilt_db, 0.0);
    }

    #[test]
    fn drr_is_zero_at_the_critical_distance() {
        let rc = room_acoustics(&room()).critical_distance_m;
        assert!(rc > 1.0 && rc < 3.0, "{rc}");
        assert!(ahead(rc).drr_db.abs() < 1e-3);
        let bigger_room = Room { size: 30.0, ..room() };
        assert!(room_acoustics(&bigger_room).critical_distance_m > rc);
        let deader = Room { decay_s: 0.4, ..room() };
        assert!(room_acoustics(&deader).critical_distance_m > rc);
    }

    #[test]
    fn muted_is_silent_and_reverb_off_sends_nothing() {
        let m = stem_mix(&Placement { audible: false, ..at(0.0, 1.2, -1.0) }, &room());
        assert_eq!(m.dry_db, None);
        assert_eq!(m.reverb_send_db, None);
        let dry_room = Room { reverb_db: -60.0, ..room() };
        let m = stem_mix(&at(0.0, 1.2, -1.0), &dry_room);
        assert!(m.dry_db.is_some());
        assert_eq!(m.reverb_send_db, None);
    }

    #[test]
    fn image_matrix_keeps_mono_power_and_stereo_identity() {
        for pan in [-1.0, -0.5, 0.0, 0.3, 1.0] {
            for width in [0.0, 0.2, 0.6, 1.0] {
                let [[la, lb], [ra, rb]] = image_matrix(pan, width);
                let (direct, decorrelated) = decorrelation(width);
                // Mono input M on both channels, D an all-passed copy of M (same power, uncorrelated).
                let power =
                    direct * direct * ((la + lb).powi(2) + (ra + rb).powi(2)) + 2.0 * decorrelated * decorrelated;
                assert!((power - 2.0).abs() < 1e-4, "pan {pan} width {width}: {power}");
            }
        }
        let [[la, lb], [ra, rb]] = image_matrix(0.0, 0.0);
        assert!((la + lb - 1.0).abs() < 1e-6 && (ra + rb - 1.0).abs() < 1e-6, "mono unity at centre");
        let m = image_matrix(0.0, 1.0);
        assert!((m[0][0] - 1.0).abs() < 1e-6 && m[0][1].abs() < 1e-6 && m[1][0].abs() < 1e-6);
        assert_eq!(decorrelation(0.0), (1.0, 0.0));
        assert!(decorrelation(0.3).1 < decorrelation(0.6).1);
    }

    #[test]
    fn a_cue_switched_off_stops_distance_mattering_for_that_cue_only() {
        let off = |name: &str| {
            let mut c = Cues::ALL;
            c.switch_off(name).unwrap();
            c
        };
        let near = |c| stem_mix_with(&at(0.0, EAR_HEIGHT_M, -1.0), &room(), c);
        let far = |c| stem_mix_with(&at(0.0, EAR_HEIGHT_M, -8.0), &room(), c);
        let all = Cues::ALL;
        let level = off("level");
        assert!((near(level).dry_db.unwrap() - far(level).dry_db.unwrap()).abs() < 1e-4);
        assert!(near(all).dry_db.unwrap() - far(all).dry_db.unwrap() > 17.0);
        assert_eq!(far(level).reverb_send_db, far(all).reverb_send_db);
        let reverb = off("direct-to-reverb");
        assert!((near(reverb).drr_db - far(reverb).drr_db).abs() < 1e-4);
        assert_eq!(far(reverb).dry_db, far(all).dry_db);
        assert!(far(all).air_amount > 0.0 && far(off("air")).air_amount == 0.0);
        assert_eq!(near(off("pre-delay")).pre_delay_s, far(off("pre-delay")).pre_delay_s);
        assert!(near(all).pre_delay_s > far(all).pre_delay_s);
        assert_eq!(near(off("width")).width, far(off("width")).width);
        assert_eq!(far(off("air")).dry_db, far(all).dry_db);
        let spoiled = Placement { spoil: 0.5, ..at(0.0, EAR_HEIGHT_M, -2.0) };
        assert_eq!(stem_mix_with(&spoiled, &room(), off("spoil")).spoil, 0.0);
        let direct = stem_mix_with(&at(0.0, EAR_HEIGHT_M, -2.0), &room(), off("direct"));
        assert!(direct.dry_db.is_none() && direct.reverb_send_db.is_some());
        assert_eq!(off("air").off(), vec!["air"]);
        let mut cues = Cues::ALL;
        assert!(cues.switch_off("loudness").unwrap_err().contains("level, direct-to-reverb"));
    }

    #[test]
    fn the_send_trim_moves_the_send_and_cuts_it_at_the_bottom() {
        let base = at(0.0, EAR_HEIGHT_M, -2.0);
        let plain = stem_mix(&base, &room());
        let down = stem_mix(&Placement { send_db: -10.0, ..base }, &room());
        assert!((plain.reverb_send_db.unwrap() - down.reverb_send_db.unwrap() - 10.0).abs() < 1e-4);
        assert_eq!(down.dry_db, plain.dry_db);
        assert!(stem_mix(&Placement { send_db: -60.0, ..base }, &room()).reverb_send_db.is_none());
    }
}
