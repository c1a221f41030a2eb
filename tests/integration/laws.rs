//! The mapping's laws, measured in rendered WAV files made from signals the tests generate.

use proxemix::mix::mapping::{self, Cues, EAR_HEIGHT_M, Placement};
use proxemix::scene::Room;

use crate::common::*;

const EAR: f32 = EAR_HEIGHT_M;

#[test]
fn doubling_the_distance_is_six_db_quieter_dry() {
    let dir = TempDir::new("distance");
    write_mono_wav(&dir.path("chord.wav"), &low_chord(SR as usize * 2, 0.25));
    let level = |d: f32, name: &str| {
        let scene = scene_text(&[stem("chord", "chord.wav", (0.0, EAR, -d), 1.0, -6.0)], -60.0);
        let (l, r) = render(&dir, &scene, name, Some(2.0), 512);
        let skip = SR as usize / 5; // past the first ramp and the limiter's look-ahead
        energy(&l[skip..]) + energy(&r[skip..])
    };
    let near = level(1.0, "near");
    let far = level(2.0, "far");
    let drop = db(near / far);
    assert!((drop - 6.0).abs() < 0.5, "1 m → 2 m dropped {drop:.2} dB");
}

#[test]
fn direct_to_reverb_ratio_falls_with_distance() {
    let dir = TempDir::new("drr");
    write_mono_wav(&dir.path("noise.wav"), &noise(SR as usize * 2, 0.2, 7));
    let mut previous = f64::INFINITY;
    for d in [0.5f32, 1.0, 2.0, 4.0, 8.0] {
        let body = stem("noise", "noise.wav", (0.0, EAR, -d), 1.0, -12.0);
        let (wl, wr) = render(&dir, &scene_text(std::slice::from_ref(&body), 0.0), &format!("wet{d}"), Some(2.5), 512);
        let (dl, dr) = render(&dir, &scene_text(&[body], -60.0), &format!("dry{d}"), Some(2.5), 512);
        // The graph is linear below the limiter: total − dry is exactly the reverb return.
        let reverb: f64 = wl.iter().zip(&dl).chain(wr.iter().zip(&dr)).map(|(w, d)| ((w - d) as f64).powi(2)).sum();
        let direct = energy(&dl) + energy(&dr);
        let drr = db(direct / reverb);
        let expected = mapping::stem_mix(
            &Placement { position: [0.0, EAR, -d], size: 1.0, gain_db: -12.0, spoil: 0.0, send_db: 0.0, audible: true },
            &Room { size: 12.0, decay_s: 1.2, damping: 0.5, reverb_db: 0.0, return_db: 0.0 },
        )
        .drr_db as f64;
        eprintln!("distance {d} m: DRR measured {drr:.1} dB, mapping {expected:.1} dB");
        assert!(drr < previous - 3.0, "DRR did not fall at {d} m: {drr:.1} after {previous:.1}");
        previous = drr;
    }
}

#[test]
fn a_body_hard_left_follows_the_pan_law() {
    let dir = TempDir::new("pan");
    write_mono_wav(&dir.path("noise.wav"), &noise(SR as usize, 0.2, 3));
    let pos = (-2.0, EAR, 0.0); // azimuth -90°
    let scene = scene_text(&[stem("noise", "noise.wav", pos, 0.5, -6.0)], -60.0);
    let (l, r) = render(&dir, &scene, "left", Some(1.0), 512);
    let skip = SR as usize / 10;
    let (el, er) = (energy(&l[skip..]), energy(&r[skip..]));
    // What the pan law says for a mono source at this pan and width (a mono stem's width is its spread).
    let mix = mapping::stem_mix(
        &Placement {
            position: [pos.0, pos.1, pos.2],
            size: 0.5,
            gain_db: -6.0,
            spoil: 0.0,
            send_db: 0.0,
            audible: true,
        },
        &Room { size: 12.0, decay_s: 1.2, damping: 0.5, reverb_db: -60.0, return_db: 0.0 },
    );
    assert!((mix.azimuth_deg + 90.0).abs() < 1e-3);
    let [[la, lb], [ra, rb]] = mapping::image_matrix(mix.pan, mix.spread);
    let (direct, decorrelated) = mapping::decorrelation(mix.spread);
    let want_l = direct * direct * (la + lb).powi(2) + decorrelated * decorrelated;
    let want_r = direct * direct * (ra + rb).powi(2) + decorrelated * decorrelated;
    let measured = db(el / er);
    let expected = db(want_l as f64 / want_r as f64);
    eprintln!("hard left: L/R {measured:.1} dB, pan law {expected:.1} dB");
    assert!(measured > 20.0, "most energy must be on the left: {measured:.1} dB");
    assert!((measured - expected).abs() < 1.0, "measured {measured:.1} dB, law says {expected:.1} dB");
    // Constant power: the total matches a centred body at the same distance.
    let centre = scene_text(&[stem("noise", "noise.wav", (0.0, EAR, -2.0), 0.5, -6.0)], -60.0);
    let (cl, cr) = render(&dir, &centre, "centre", Some(1.0), 512);
    let total_db = db((el + er) / (energy(&cl[skip..]) + energy(&cr[skip..])));
    assert!(total_db.abs() < 0.5, "panning changed the total power by {total_db:.2} dB");
}

#[test]
fn a_bigger_body_is_wider() {
    let dir = TempDir::new("width");
    write_mono_wav(&dir.path("noise.wav"), &noise(SR as usize, 0.2, 11));
    let mut previous = 1.1;
    for size in [0.25f32, 1.0, 3.0, 8.0] {
        let scene = scene_text(&[stem("noise", "noise.wav", (0.0, EAR, -1.5), size, -18.0)], -60.0);
        let (l, r) = render(&dir, &scene, &format!("size{size}"), Some(1.0), 512);
        let skip = SR as usize / 10;
        let c = correlation(&l[skip..], &r[skip..]);
        eprintln!("size {size}: inter-channel correlation {c:.3}");
        assert!(c < previous - 0.02, "size {size} is not wider: correlation {c:.3} after {previous:.3}");
        previous = c;
    }
    assert!(previous < 0.6, "the biggest body should be clearly wide: {previous:.3}");
}

/// The room of `scene_text`, as the mapping sees it.
fn room(damping: f32, reverb_db: f32) -> Room {
    Room { size: 12.0, decay_s: 1.2, damping, reverb_db, return_db: 0.0 }
}

fn at(position: [f32; 3], size: f32, gain_db: f32) -> Placement {
    Placement { position, size, gain_db, spoil: 0.0, send_db: 0.0, audible: true }
}

fn no(cue: &str) -> Cues {
    let mut cues = Cues::ALL;
    cues.switch_off(cue).unwrap();
    cues
}

#[test]
fn the_direct_to_reverb_ratio_is_the_mappings_at_every_damping() {
    // White noise, the air cue off so the direct sound is not filtered (DRR is a level cue, not a tone cue).
    let dir = TempDir::new("drr-law");
    write_mono_wav(&dir.path("noise.wav"), &noise(SR as usize * 3, 0.2, 7));
    for damping in [0.0f32, 0.5, 1.0] {
        let mut previous = f64::INFINITY;
        for d in [0.5f32, 1.0, 2.0, 4.0, 8.0] {
            let body = stem("noise", "noise.wav", (0.0, EAR, -d), 1.0, -12.0);
            let with_room = |reverb_db: f32| {
                scene_text(std::slice::from_ref(&body), reverb_db)
                    .replace("damping: 0.5", &format!("damping: {damping:?}"))
            };
            let (wl, wr) = render_cues(&dir, &with_room(0.0), "wet", 3.0, no("air"));
            let (dl, dr) = render_cues(&dir, &with_room(-60.0), "dry", 3.0, no("air"));
            let reverb: f64 = wl.iter().zip(&dl).chain(wr.iter().zip(&dr)).map(|(w, d)| ((w - d) as f64).powi(2)).sum();
            let drr = db((energy(&dl) + energy(&dr)) / reverb);
            let expected =
                mapping::stem_mix_with(&at([0.0, EAR, -d], 1.0, -12.0), &room(damping, 0.0), no("air")).drr_db as f64;
            eprintln!("damping {damping}, {d} m: DRR measured {drr:.1} dB, mapping {expected:.1} dB");
            assert!(
                (drr - expected).abs() <= 2.0,
                "damping {damping}, {d} m: DRR {drr:.1} dB, the mapping says {expected:.1}"
            );
            if previous.is_finite() {
                assert!(
                    (previous - drr - 6.0).abs() < 1.5,
                    "DRR should fall 6 dB per doubling: {previous:.1} → {drr:.1}"
                );
            }
            previous = drr;
        }
    }
}

#[test]
fn air_is_the_mappings_low_pass() {
    // 8 m away: against the same body with the air cue off, the spectrum falls as a one-pole at the cutoff.
    let dir = TempDir::new("air-law");
    write_mono_wav(&dir.path("noise.wav"), &noise(SR as usize * 2, 0.3, 3));
    let body = scene_text(&[stem("noise", "noise.wav", (0.0, EAR, -8.0), 1.0, 0.0)], -60.0);
    let (on, _) = render_cues(&dir, &body, "air", 2.0, Cues::ALL);
    let (off, _) = render_cues(&dir, &body, "no-air", 2.0, no("air"));
    let mix = mapping::stem_mix(&at([0.0, EAR, -8.0], 1.0, 0.0), &room(0.5, -60.0));
    let fc = mix.air_cutoff_hz.unwrap() as f64;
    assert!(mix.air_amount > 0.99);
    let a = 1.0 - (-std::f64::consts::TAU * fc / SR as f64).exp();
    let one_pole_db = |f: f64| {
        let w = std::f64::consts::TAU * f / SR as f64;
        10.0 * (a * a / (1.0 - 2.0 * (1.0 - a) * w.cos() + (1.0 - a).powi(2))).log10()
    };
    let (on, off) = (&on[4800..], &off[4800..]);
    for f in [fc / 4.0, fc / 2.0, fc, 2.0 * fc, 3.0 * fc] {
        let measured = db(band_energy(on, f * 0.95, f * 1.05) / band_energy(off, f * 0.95, f * 1.05));
        eprintln!(
            "air at 8 m (cutoff {fc:.0} Hz): {f:.0} Hz measured {measured:.2} dB, one-pole {:.2} dB",
            one_pole_db(f)
        );
        assert!((measured - one_pole_db(f)).abs() < 1.0, "{f:.0} Hz: {measured:.2} dB");
    }
}

#[test]
fn pre_delay_is_the_gap_the_mapping_gives() {
    // A click heard only through the room (the direct sound off): the reverb starts the pre-delay after it,
    // plus the room's own first return. Near bodies wait longer than far ones, by what the mapping says.
    let dir = TempDir::new("predelay-law");
    let mut click = vec![0.0f32; SR as usize];
    click[4800] = 0.9;
    write_mono_wav(&dir.path("click.wav"), &click);
    let onset = |d: f32, name: &str| {
        let scene = scene_text(&[stem("click", "click.wav", (0.0, EAR, -d), 1.0, 0.0)], 0.0);
        let (l, r) = render_cues(&dir, &scene, name, 1.0, no("direct"));
        let first = l.iter().zip(&r).position(|(a, b)| a.abs().max(b.abs()) > 1e-7).expect("the room answers");
        first as f64 / SR as f64
    };
    let near = onset(0.5, "near");
    let far = onset(6.0, "far");
    let gap = |d: f32| mapping::pre_delay_s(d, &mapping::room_acoustics(&room(0.5, 0.0))) as f64;
    let expected = gap(0.5) - gap(6.0);
    eprintln!(
        "reverb onset 0.5 m: {:.2} ms, 6 m: {:.2} ms; the gaps differ by {:.2} ms, the mapping says {:.2} ms",
        near * 1e3,
        far * 1e3,
        (near - far) * 1e3,
        expected * 1e3
    );
    assert!(((near - far) - expected).abs() < 0.25e-3, "the gap differs by {:.2} ms", (near - far) * 1e3);
    assert!(near > far + 0.005, "near waits longer");
}

#[test]
fn height_tilts_the_tone_as_the_mapping_says() {
    // The same distance (2 m), 1.5 m above the ears and level with them, and 1 m below: +3 dB and −2 dB of tilt.
    let dir = TempDir::new("tilt-law");
    write_mono_wav(&dir.path("noise.wav"), &noise(SR as usize * 2, 0.3, 5));
    let render_at = |h: f32, name: &str| {
        let z = -(4.0f32 - h * h).sqrt();
        let scene = scene_text(&[stem("noise", "noise.wav", (0.0, EAR + h, z), 1.0, -6.0)], -60.0);
        let (l, _) = render_cues(&dir, &scene, name, 2.0, Cues::ALL);
        l[4800..].to_vec()
    };
    let level = render_at(0.0, "level");
    for h in [1.5f32, -1.0] {
        let tilted = render_at(h, &format!("h{h}"));
        let tilt = mapping::tilt_db(EAR + h) as f64;
        let high = db(band_energy(&tilted, 8_000.0, 12_000.0) / band_energy(&level, 8_000.0, 12_000.0));
        let low = db(band_energy(&tilted, 40.0, 120.0) / band_energy(&level, 40.0, 120.0));
        eprintln!(
            "{h:+} m: tilt {tilt:+.1} dB; highs {high:+.2} dB, lows {low:+.2} dB (expected {:+.2} / {:+.2})",
            tilt / 2.0,
            -tilt / 2.0
        );
        assert!((high - tilt / 2.0).abs() < 0.5, "{h} m: the highs moved {high:+.2} dB");
        assert!((low + tilt / 2.0).abs() < 0.5, "{h} m: the lows moved {low:+.2} dB");
    }
}

#[test]
fn closeness_lifts_the_bass_by_the_proximity_law() {
    // 0.2 m against 0.6 m (where the lift starts): the lows grow against the mids by the mapping's lift.
    let dir = TempDir::new("proximity-law");
    write_mono_wav(&dir.path("noise.wav"), &noise(SR as usize * 2, 0.1, 8));
    let balance = |d: f32, name: &str| {
        let scene = scene_text(&[stem("noise", "noise.wav", (0.0, EAR, -d), 1.0, -24.0)], -60.0);
        let (l, _) = render_cues(&dir, &scene, name, 2.0, Cues::ALL);
        let l = &l[4800..];
        db(band_energy(l, 30.0, 60.0) / band_energy(l, 1_500.0, 3_000.0))
    };
    let lift = balance(0.2, "close") - balance(0.6, "edge");
    let expected = mapping::proximity_db(0.2) as f64;
    eprintln!("proximity at 0.2 m: lows up {lift:.2} dB against the mids, the law says {expected:.2} dB");
    assert!((lift - expected).abs() < 1.0, "{lift:.2} dB");
}

#[test]
fn a_bigger_body_is_louder_by_three_db_per_doubling() {
    let dir = TempDir::new("size-law");
    write_mono_wav(&dir.path("noise.wav"), &noise(SR as usize * 2, 0.2, 9));
    let level = |size: f32, name: &str| {
        let scene = scene_text(&[stem("noise", "noise.wav", (0.5, EAR, -2.0), size, -12.0)], -60.0);
        let (l, r) = render_cues(&dir, &scene, name, 2.0, Cues::ALL);
        db(energy(&l[4800..]) + energy(&r[4800..]))
    };
    let (one, two, four) = (level(1.0, "one"), level(2.0, "two"), level(4.0, "four"));
    eprintln!("size 1 → 2 → 4: {:+.2} dB, {:+.2} dB", two - one, four - two);
    assert!((two - one - 3.0).abs() < 0.2 && (four - two - 3.0).abs() < 0.2);
}

#[test]
fn past_the_critical_distance_the_total_level_flattens() {
    // The dry sound falls 6 dB per doubling; the room's share stays; near the listener the total follows the
    // dry sound, far away it levels off.
    let dir = TempDir::new("critical-law");
    write_mono_wav(&dir.path("noise.wav"), &noise(SR as usize * 3, 0.2, 2));
    let rc = mapping::room_acoustics(&room(0.5, 0.0)).critical_distance_m;
    let levels = |d: f32| {
        let scene = scene_text(&[stem("noise", "noise.wav", (0.0, EAR, -d), 1.0, -12.0)], 0.0);
        let (l, r) = render_cues(&dir, &scene, &format!("total{d}"), 3.0, no("air"));
        let (rl, rr) = render_cues(&dir, &scene, &format!("room{d}"), 3.0, Cues { direct: false, ..no("air") });
        (db(energy(&l[24_000..]) + energy(&r[24_000..])), db(energy(&rl[24_000..]) + energy(&rr[24_000..])))
    };
    let distances = [0.2f32, 0.4, 8.0, 16.0];
    let measured: Vec<(f64, f64)> = distances.iter().map(|&d| levels(d)).collect();
    for (d, (total, room_only)) in distances.iter().zip(&measured) {
        eprintln!("{d} m (critical distance {rc:.2} m): total {total:.1} dB, the room alone {room_only:.1} dB");
    }
    let near_drop = measured[0].0 - measured[1].0;
    let far_drop = measured[2].0 - measured[3].0;
    assert!(near_drop > 4.5, "well inside the critical distance the total falls like the dry sound: {near_drop:.2} dB");
    assert!(far_drop < 1.5, "well beyond it, the total levels off: {far_drop:.2} dB");
    let room_spread = measured.iter().map(|m| m.1).fold(f64::NEG_INFINITY, f64::max)
        - measured.iter().map(|m| m.1).fold(f64::INFINITY, f64::min);
    assert!(room_spread < 1.0, "the reverberant field is the same everywhere: it varies by {room_spread:.2} dB");
}
