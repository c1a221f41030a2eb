//! The spoil macro, measured in renders of signals the tests make: distortion that rises with the amount,
//! transparency at zero, loudness held within 1 LU, time alignment, and clean output.

use proxemix::mix::GraphConfig;
use proxemix::mix::offline::{self, OfflineGraph};
use proxemix::scene::Scene;

use crate::common::*;

const EAR: f32 = proxemix::mix::mapping::EAR_HEIGHT_M;

fn sine(hz: f64, amp: f32, frames: usize) -> Vec<f32> {
    (0..frames).map(|n| amp * (std::f64::consts::TAU * hz * n as f64 / SR as f64).sin() as f32).collect()
}

/// Power of `x` (Hann-windowed) in the DFT bins within `width` Hz of `hz`. A band rather than one bin,
/// because the wow moves every partial a little (the h-th harmonic h times as far).
fn band_power(x: &[f32], hz: f64, width: f64) -> f64 {
    let n = x.len();
    let windowed: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, &v)| v as f64 * (0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos()))
        .collect();
    let bin_hz = SR as f64 / n as f64;
    let (lo, hi) = (((hz - width) / bin_hz).ceil() as usize, ((hz + width) / bin_hz).floor() as usize);
    (lo..=hi)
        .map(|k| {
            let c = 2.0 * (std::f64::consts::TAU * k as f64 / n as f64).cos();
            let (mut s1, mut s2) = (0.0f64, 0.0f64);
            for &v in &windowed {
                let s0 = v + c * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
            s1 * s1 + s2 * s2 - c * s1 * s2
        })
        .sum()
}

fn interleave(l: &[f32], r: &[f32]) -> Vec<f32> {
    l.iter().zip(r).flat_map(|(a, b)| [*a, *b]).collect()
}

#[test]
fn the_distortion_of_a_sine_rises_with_every_step_of_spoil() {
    let dir = TempDir::new("spoil-thd");
    write_mono_wav(&dir.path("sine.wav"), &sine(500.0, 0.25, SR as usize * 2));
    let mut previous = -1.0;
    let mut report = Vec::new();
    for step in 0..=10 {
        let amount = step as f32 / 10.0;
        let body = spoiled(stem("sine", "sine.wav", (0.0, EAR, -1.0), 0.5, 0.0), amount);
        let (l, r) = render(&dir, &scene_text(&[body], -60.0), &format!("s{step}"), Some(2.0), 512);
        assert_clean(&l);
        assert_clean(&r);
        // One second (500 whole cycles) from the middle of the render.
        let x = &l[SR as usize / 2..SR as usize * 3 / 2];
        let partial = |h: f64| band_power(x, 500.0 * h, 4.0 + 2.0 * h);
        let fundamental = partial(1.0);
        let harmonics: f64 = (2..=10).map(|h| partial(h as f64)).sum();
        let thd = (harmonics / fundamental).sqrt();
        report.push(format!("{amount:.1}: {:.3} %", 100.0 * thd));
        assert!(thd > previous, "THD fell from {previous} to {thd} at spoil {amount} ({})", report.join(", "));
        previous = thd;
        if step == 0 {
            assert!(thd < 1e-4, "a clean sine should have no harmonics: {thd}");
        }
    }
    eprintln!("THD by spoil: {}", report.join(", "));
    assert!(previous > 0.03, "fully spoiled THD only {previous}");
}

/// A short musical test signal: a chord with a slow swell, noise bursts like hats, and a decaying low thump.
fn music(frames: usize, level: f32, seed: u32) -> Vec<f32> {
    let hiss = noise(frames, 1.0, seed);
    (0..frames)
        .map(|n| {
            let t = n as f32 / SR as f32;
            let w = std::f32::consts::TAU * t;
            let chord = ((w * 196.0).sin() + 0.7 * (w * 247.0).sin() + 0.5 * (w * 294.0).sin()) / 2.2;
            let swell = 0.6 + 0.4 * (w * 0.25).sin();
            let beat = (t * 4.0).fract();
            let hat = hiss[n] * (-beat * 40.0).exp() * 0.5;
            let thump = (w * 55.0 * (1.0 + (-beat * 30.0).exp())).sin() * (-beat * 12.0).exp();
            level * (0.5 * chord * swell + hat + 0.6 * thump)
        })
        .collect()
}

#[test]
fn loudness_stays_within_one_lu_of_clean_at_every_amount() {
    let dir = TempDir::new("spoil-loudness");
    let frames = SR as usize * 8;
    let signals = [
        ("music", music(frames, 0.5, 11)),
        ("quiet", music(frames, 0.03, 12)),
        ("pad", low_chord(frames, 0.1)),
        // White noise: the air filter of the stem chain takes a top octave from the clean stem that the
        // band-limited spoiled one no longer has; the match must hear through it.
        ("white", noise(frames, 0.2, 13)),
        // Pink-ish: white noise through a one-pole at 1 kHz.
        ("noise", {
            let mut y = 0.0;
            noise(frames, 0.6, 13)
                .iter()
                .map(|&v| {
                    y += 0.123 * (v - y);
                    y
                })
                .collect::<Vec<f32>>()
        }),
    ];
    for (name, signal) in &signals {
        write_mono_wav(&dir.path(&format!("{name}.wav")), signal);
        let lufs = |amount: f32| {
            let body = spoiled(stem(name, &format!("{name}.wav"), (0.5, EAR, -1.5), 1.0, 0.0), amount);
            let (l, r) = render(&dir, &scene_text(&[body], -60.0), &format!("{name}{amount}"), Some(8.0), 512);
            assert_clean(&l);
            assert_clean(&r);
            offline::measure(&interleave(&l, &r), SR).integrated_lufs
        };
        let clean = lufs(0.0);
        let mut report = Vec::new();
        for amount in [0.05f32, 0.1, 0.25, 0.4, 0.6, 0.8, 1.0] {
            let delta = lufs(amount) - clean;
            report.push(format!("{amount}: {delta:+.2}"));
            assert!(delta.abs() <= 1.0, "{name} at spoil {amount}: {delta:+.2} LU from clean ({clean:.1} LUFS)");
        }
        eprintln!("{name} ({clean:.1} LUFS clean), LU from clean by spoil: {}", report.join(", "));
    }
}

/// How a signal is rendered for [`the_loudness_match_holds_on_sines_noise_and_the_demo_stems`].
struct Take {
    name: String,
    file: String,
    /// The whole file, or its first 8 s.
    whole: bool,
    /// The reverb's return (dB; -60 is off).
    reverb_db: f32,
    /// On the stem (false: on the master).
    on_stem: bool,
}

/// Integrated loudness (LUFS) of `take` at `amount` of spoil, the body at 1.6 m, ears' height.
fn spoiled_lufs(dir: &TempDir, take: &Take, amount: f32) -> f64 {
    let (stem_amount, master_amount) = if take.on_stem { (amount, 0.0) } else { (0.0, amount) };
    let body = spoiled(stem(&take.name, &take.file, (0.5, EAR, -1.5), 1.0, 0.0), stem_amount);
    let scene =
        scene_text(&[body], take.reverb_db).replacen("stems:", &format!("master_spoil: {master_amount:?}, stems:"), 1);
    let seconds = if take.whole { None } else { Some(8.0) };
    let (l, r) = render(dir, &scene, &format!("{}-{}-{amount}", take.name, take.on_stem), seconds, 512);
    assert_clean(&l);
    assert_clean(&r);
    offline::measure(&interleave(&l, &r), SR).integrated_lufs
}

/// Issue 5's promise, on the signals that broke it, at every setting, as the stem sounds on its own path (the
/// reverb off, as the match hears it): sines at three levels, on the stem and on the master (the drive makes
/// many harmonics where K-weighting lifts them; the body's width makes the left and the right differ, and they
/// spoil differently, so the match hears both channels, not their mid), noise, and every stem of the demo song
/// (a kick's energy sits in its attack once spoiled, in its body when clean).
///
/// The room's reverb is not part of the promise: it colours what is sent to it its own way (the return of one
/// steady tone depends on where it falls among the room's modes: from 200 to 240 Hz it swings by 11 dB), so a
/// spoiled stem's reverb can be louder or quieter than its clean one's. The closing note of issue 22 has the
/// figures.
#[test]
fn the_loudness_match_holds_on_sines_noise_and_the_demo_stems() {
    let dir = TempDir::new("spoil-loudness-sine");
    let frames = SR as usize * 8;
    let mut takes = Vec::new();
    let made = [
        ("sine220-quiet", sine(220.0, 0.05, frames)),
        ("sine220", sine(220.0, 0.3, frames)),
        ("sine220-loud", sine(220.0, 0.9, frames)),
        ("sine80", sine(80.0, 0.5, frames)),
        ("hiss", noise(frames, 0.3, 21)),
    ];
    for (name, signal) in made {
        write_mono_wav(&dir.path(&format!("{name}.wav")), &signal);
        let reverb_db = -60.0;
        for on_stem in [true, false] {
            takes.push(Take { name: name.into(), file: format!("{name}.wav"), whole: false, reverb_db, on_stem });
        }
    }
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/stems");
    for name in ["kick", "bass", "keys", "pad", "backing", "overheads"] {
        let file = demo.join(format!("{name}.ogg")).to_string_lossy().into_owned();
        takes.push(Take { name: name.into(), file, whole: true, reverb_db: -60.0, on_stem: true });
    }
    let (mut worst, mut failures) = ((0.0f64, String::new()), Vec::new());
    for take in &takes {
        let clean = spoiled_lufs(&dir, take, 0.0);
        let mut report = Vec::new();
        let on = if take.on_stem { "stem" } else { "master" };
        for amount in [0.05f32, 0.1, 0.25, 0.4, 0.6, 0.8, 1.0] {
            let delta = spoiled_lufs(&dir, take, amount) - clean;
            report.push(format!("{amount}: {delta:+.2}"));
            if delta.abs() > worst.0 {
                worst = (delta.abs(), format!("{} on the {on} at {amount}", take.name));
            }
            if delta.abs() > 1.0 {
                failures.push(format!("{} on the {on} at {amount}: {delta:+.2} LU ({clean:.1} LUFS clean)", take.name));
            }
        }
        eprintln!("{} on the {on} ({clean:.1} LUFS clean), LU from clean by spoil: {}", take.name, report.join(", "));
    }
    eprintln!("the widest: {:.2} LU ({})", worst.0, worst.1);
    assert!(failures.is_empty(), "louder or quieter than clean by more than 1 LU:\n{}", failures.join("\n"));
}

#[test]
fn the_master_spoil_keeps_the_mix_loudness_too() {
    let dir = TempDir::new("spoil-master");
    let frames = SR as usize * 6;
    write_mono_wav(&dir.path("a.wav"), &music(frames, 0.3, 21));
    write_mono_wav(&dir.path("b.wav"), &low_chord(frames, 0.2));
    let stems = [stem("a", "a.wav", (-1.0, EAR, -2.0), 1.0, 0.0), stem("b", "b.wav", (1.0, EAR, -3.0), 2.0, 0.0)];
    let with_master =
        |amount: f32| scene_text(&stems, -6.0).replacen("stems:", &format!("master_spoil: {amount:?}, stems:"), 1);
    let measure = |amount: f32| {
        let (l, r) = render(&dir, &with_master(amount), &format!("m{amount}"), Some(6.0), 512);
        assert_clean(&l);
        (offline::measure(&interleave(&l, &r), SR).integrated_lufs, l)
    };
    let (clean, clean_l) = measure(0.0);
    for amount in [0.3f32, 1.0] {
        let (lufs, l) = measure(amount);
        assert!((lufs - clean).abs() <= 1.0, "master spoil {amount}: {:+.2} LU", lufs - clean);
        let differs = l.iter().zip(&clean_l).filter(|(a, b)| a != b).count();
        assert!(differs > frames / 2, "the master spoil changed only {differs} samples");
    }
}

#[test]
fn spoiled_and_clean_stay_on_the_same_sample() {
    // A click half a second in: the spoiled render's peak is on the clean render's sample (the macro's delay
    // is compensated, and its wet path is aligned with its dry one).
    let dir = TempDir::new("spoil-align");
    let mut click = vec![0.0f32; SR as usize];
    click[SR as usize / 2] = 0.8;
    write_mono_wav(&dir.path("click.wav"), &click);
    let peak_at = |amount: f32| {
        let body = spoiled(stem("click", "click.wav", (0.0, EAR, -1.0), 0.3, 0.0), amount);
        let (l, _) = render(&dir, &scene_text(&[body], -60.0), &format!("a{amount}"), Some(1.0), 512);
        (0..l.len()).max_by(|&a, &b| l[a].abs().total_cmp(&l[b].abs())).unwrap() as i64
    };
    let clean = peak_at(0.0);
    // Within the first tenth of a second of where the file has it (kira starts sounds a little late).
    assert!((clean - SR as i64 / 2).abs() < SR as i64 / 10, "the clean click peaks at {clean}");
    // The render removes exactly the macros' delay: a graph pumped by hand, uncompensated, has the click
    // that much later.
    let scene_text = scene_text(&[stem("click", "click.wav", (0.0, EAR, -1.0), 0.3, 0.0)], -60.0);
    let scene = Scene::parse(&scene_text, std::path::Path::new("click.ron")).unwrap();
    let audio = vec![Some(
        proxemix::mix::Audio::from_frames(SR, click.iter().map(|&v| kira::Frame::new(v, v)).collect()).into(),
    )];
    let mut graph = OfflineGraph::offline(
        &scene,
        &audio,
        GraphConfig { looping: false, cues: Default::default(), ..GraphConfig::offline(SR) },
    )
    .unwrap();
    graph.start();
    let mut raw = vec![0.0f32; 2 * SR as usize];
    for chunk in raw.chunks_mut(2 * 512) {
        graph.backend_mut().render_block(chunk);
    }
    let raw_peak = (0..SR as usize).max_by(|&a, &b| raw[2 * a].abs().total_cmp(&raw[2 * b].abs())).unwrap() as i64;
    assert_eq!(raw_peak - clean, graph.latency_frames() as i64, "the render should remove exactly the delay");
    // (Not at 1: there the crackle, lifted with the band-limited click by the loudness match, can outpeak it.)
    for amount in [0.2f32, 0.5] {
        // The wow moves the whole signal by up to its depth (that is what wow is); nothing else may.
        let wow = proxemix::mix::effects::spoil::curves(amount, SR as f32, 1).wow;
        let swing = ((wow.wow_depth_s + wow.flutter_depth_s) * SR as f32).ceil() as i64;
        let spoilt = peak_at(amount);
        assert!(
            (spoilt - clean).abs() <= 2 + swing,
            "spoil {amount}: the click peaks at {spoilt}, clean at {clean} (wow swing {swing})"
        );
    }
}

#[test]
fn spoiling_and_returning_to_zero_nulls_against_the_clean_render() {
    // Two graphs of the same scene: one stays clean, the other is spoiled hard for a second and brought back
    // to 0. Once it is back (and the downstream filters have forgotten), the two renders null.
    let frames = SR as usize * 5;
    let audio = vec![Some(
        proxemix::mix::Audio::from_frames(
            SR,
            music(frames, 0.3, 5).iter().map(|&v| kira::Frame::new(v, 0.8 * v)).collect(),
        )
        .into(),
    )];
    let text = scene_text(&[stem("m", "m.wav", (0.5, EAR, -1.2), 1.0, 0.0)], -60.0);
    let mut scene = Scene::parse(&text, std::path::Path::new("null.ron")).unwrap();
    let config = GraphConfig { looping: false, cues: Default::default(), ..GraphConfig::offline(SR) };
    let mut clean = OfflineGraph::offline(&scene, &audio, config).unwrap();
    let mut spoilt = OfflineGraph::offline(&scene, &audio, config).unwrap();
    clean.start();
    spoilt.start();
    let (mut a, mut b) = (vec![0.0f32; 2 * 480], vec![0.0f32; 2 * 480]);
    let mut worst_during = 0.0f32;
    let mut worst_after = 0.0f32;
    for block in 0..frames / 480 {
        if block == 50 {
            scene.stems[0].spoil = 0.9;
            spoilt.apply_scene(&scene, 0.05);
        }
        if block == 150 {
            scene.stems[0].spoil = 0.0;
            spoilt.apply_scene(&scene, 0.05);
        }
        clean.backend_mut().render_block(&mut a);
        spoilt.backend_mut().render_block(&mut b);
        let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        if (60..150).contains(&block) {
            worst_during = worst_during.max(worst);
        }
        if block >= 250 {
            worst_after = worst_after.max(worst);
        }
    }
    assert!(worst_during > 0.01, "the spoiled second should differ: {worst_during}");
    assert!(worst_after <= 1e-6, "back at spoil 0 the renders should null: residue {worst_after:e}");
}
