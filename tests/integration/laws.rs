//! The mapping's laws, measured in rendered WAV files made from signals the tests generate.

use proxemix::mix::mapping::{self, EAR_HEIGHT_M, Placement};
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
