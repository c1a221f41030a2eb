//! Real songs: stems streamed from disk render bit-identically to stems held in memory (at any block size and
//! thread count), stay sample-aligned through seeks, loops and pauses, never block the live audio thread when
//! starved, play messy files, and stereo stems keep their image.

use std::path::Path;
use std::time::{Duration, Instant};

use proxemix::mix::GraphConfig;
use proxemix::mix::input::source::StemSource;
use proxemix::mix::offline::{self, OfflineGraph, RenderOptions, WavFormat};
use proxemix::scene::Scene;

use crate::common::*;

const EAR: f32 = proxemix::mix::mapping::EAR_HEIGHT_M;

/// Writes stereo frames as a WAV at `rate`: 16- or 24-bit integer, or 32-bit float.
fn write_stereo_wav(path: &Path, rate: u32, bits: u16, frames: &[(f32, f32)]) {
    let float = bits == 32;
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: if float { hound::SampleFormat::Float } else { hound::SampleFormat::Int },
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let scale = ((1i64 << (bits - 1)) - 1) as f32;
    for &(l, r) in frames {
        for v in [l, r] {
            if float {
                w.write_sample(v).unwrap();
            } else {
                w.write_sample((v.clamp(-1.0, 1.0) * scale).round() as i32).unwrap();
            }
        }
    }
    w.finalize().unwrap();
}

/// Independent noise on each side: a stereo recording with no correlation between its channels.
fn stereo_noise(frames: usize, amp: f32, seed: u32) -> Vec<(f32, f32)> {
    noise(frames, amp, seed).into_iter().zip(noise(frames, amp, seed + 1000)).collect()
}

fn open(dir: &TempDir, text: &str, name: &str) -> (Scene, Vec<Option<StemSource>>) {
    let path = dir.path(name);
    std::fs::write(&path, text).unwrap();
    proxemix::commands::load_for_render(&path, SR).unwrap_or_else(|e| panic!("{e}"))
}

fn in_memory(sources: &[Option<StemSource>]) -> Vec<Option<StemSource>> {
    sources.iter().map(|s| s.clone().map(|s| s.into_memory().unwrap())).collect()
}

fn peak(x: &[f32]) -> f32 {
    x.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// A song of messy, mixed stems: 44.1 kHz 24-bit stereo, a shorter 48 kHz float mono, 16-bit stereo.
fn mixed_song(dir: &TempDir) -> String {
    let tone = |n: usize, f: f32, rate: f32| -> Vec<(f32, f32)> {
        (0..n).map(|i| (i as f32 * f * std::f32::consts::TAU / rate).sin() * 0.3).map(|v| (v, 0.7 * v)).collect()
    };
    let mut a = stereo_noise(44_100 * 5 + 17, 0.2, 3);
    for (x, t) in a.iter_mut().zip(tone(44_100 * 5 + 17, 220.0, 44_100.0)) {
        x.0 += t.0;
        x.1 += t.1;
    }
    write_stereo_wav(&dir.path("guitar 44k.wav"), 44_100, 24, &a);
    write_mono_wav(&dir.path("voice.wav"), &low_chord(SR as usize * 3 + 333, 0.4));
    write_stereo_wav(&dir.path("pad.wav"), SR, 16, &stereo_noise(SR as usize * 4, 0.1, 9));
    scene_text(
        &[
            spoiled(stem("guitar", "guitar 44k.wav", (-1.0, 2.0, -2.0), 1.0, -6.0), 0.4),
            stem("voice", "voice.wav", (0.2, EAR, -0.8), 1.0, -3.0),
            stem("pad", "pad.wav", (2.0, 0.5, -4.0), 3.0, -9.0),
        ],
        0.0,
    )
}

#[test]
fn streamed_and_in_memory_stems_render_bit_identically_at_any_block_size_and_thread_count() {
    let dir = TempDir::new("stream-identity");
    let (scene, streamed) = open(&dir, &mixed_song(&dir), "song.ron");
    assert!(streamed.iter().all(|s| matches!(s, Some(StemSource::File(_)))), "the stems stream from their files");
    let memory = in_memory(&streamed);
    let render = |sources: &[Option<StemSource>], block_frames: usize, jobs: usize| {
        let options = RenderOptions { block_frames, jobs, ..RenderOptions::default() };
        offline::render(&scene, sources, &options, &mut |_| {}).unwrap().interleaved
    };
    let reference = render(&memory, 512, 1);
    assert!(peak(&reference) > 0.05, "the song is heard");
    assert_clean(&reference);
    // The song is the longest stem (5 s at 44.1 kHz, converted) plus the tail.
    let expected = ((44_100.0f64 * 5.0 + 17.0) * 48_000.0 / 44_100.0).ceil() as usize;
    assert!(reference.len() / 2 > expected, "{} frames", reference.len() / 2);
    for (block, jobs) in [(512, 1), (100, 1), (4096, 1), (512, 2), (333, 3)] {
        let streamed = render(&streamed, block, jobs);
        assert!(streamed == reference, "streamed at block {block}, {jobs} jobs differs from the stems in memory");
    }
    let parallel_memory = render(&memory, 4096, 2);
    assert!(parallel_memory == reference, "2 jobs in memory differ");
}

#[test]
fn the_streaming_decoder_converts_rates_exactly_as_a_whole_clip_conversion() {
    use rubato::Resampler;
    let dir = TempDir::new("stream-rubato");
    for (channels, frames) in [(2usize, 44_100 * 2 + 1), (1, 1000), (2, 1023), (1, 3 * 1024)] {
        let samples = noise(frames * channels, 0.5, frames as u32);
        let path = dir.path(&format!("clip{channels}-{frames}.wav"));
        let spec = hound::WavSpec {
            channels: channels as u16,
            sample_rate: 44_100,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        samples.iter().for_each(|&s| w.write_sample(s).unwrap());
        w.finalize().unwrap();
        let streamed = proxemix::mix::input::load(&path, 48_000).unwrap();
        let input = rubato::audioadapter_buffers::direct::InterleavedSlice::new(&samples, channels, frames).unwrap();
        let mut whole = rubato::Fft::<f32>::new(44_100, 48_000, 1024, channels, rubato::FixedSync::Input).unwrap();
        let expected = whole.process_all(&input, frames, None).unwrap().take_data();
        assert_eq!(streamed.frames.len(), expected.len() / channels, "{channels} ch, {frames} frames: length");
        for (i, f) in streamed.frames.iter().enumerate() {
            let (l, r) = (expected[i * channels], expected[i * channels + channels - 1]);
            let flush = proxemix::mix::effects::flush;
            assert!(f.left == flush(l) && f.right == flush(r), "{channels} ch, {frames} frames: frame {i}");
        }
    }
}

/// A stem and its polarity-inverted copy, each in its own file, streamed; they cancel only if every start,
/// seek, loop wrap and pause moves both on the same sample.
#[test]
fn streamed_stems_stay_sample_aligned_through_seeks_loops_and_pauses() {
    let dir = TempDir::new("stream-align");
    for rate in [48_000u32, 44_100] {
        let signal = stereo_noise(rate as usize * 2 + 101, 0.5, 5);
        let inverted: Vec<(f32, f32)> = signal.iter().map(|&(l, r)| (-l, -r)).collect();
        write_stereo_wav(&dir.path(&format!("a{rate}.wav")), rate, 32, &signal);
        write_stereo_wav(&dir.path(&format!("b{rate}.wav")), rate, 32, &inverted);
        let pos = (0.4, 1.2, -1.7);
        for (with_inverse, label) in [(true, "both"), (false, "one muted")] {
            let mut b = stem("b", &format!("b{rate}.wav"), pos, 1.5, 0.0);
            if !with_inverse {
                b = b.replace("gain_db: 0.0)", "gain_db: 0.0, muted: true)");
            }
            let text = scene_text(&[stem("a", &format!("a{rate}.wav"), pos, 1.5, 0.0), b], -3.0);
            let (scene, sources) = open(&dir, &text, "t.ron");
            let config = GraphConfig { looping: true, ..GraphConfig::offline(SR) };
            let mut graph = OfflineGraph::offline(&scene, &sources, config).unwrap();
            let mut peak_seen = 0.0f32;
            let mut render = |graph: &mut OfflineGraph, frames: usize| {
                let mut out = vec![0.0f32; 2 * frames];
                for chunk in out.chunks_mut(2 * 300) {
                    graph.backend_mut().render_block(chunk);
                }
                peak_seen = peak_seen.max(peak(&out));
            };
            graph.play_from(0.5).unwrap();
            render(&mut graph, 7_000);
            for seek in [1.234, 0.1, 1.9, 0.777] {
                graph.play_from(seek).unwrap(); // mid-block, while the last position still fades out
                render(&mut graph, 3_001);
            }
            // Through three loop wraps.
            render(&mut graph, 3 * SR as usize * 2);
            let before_pause = graph.position_s();
            graph.pause();
            render(&mut graph, 4_800);
            assert!(!graph.is_playing(), "{label}: paused");
            assert!((graph.position_s() - before_pause).abs() < 0.01, "{label}: the playhead waits while paused");
            graph.play_from(graph.position_s()).unwrap();
            render(&mut graph, 20_000);
            assert!(graph.is_playing());
            if with_inverse {
                assert_eq!(peak_seen, 0.0, "{rate} Hz: the streamed stems drifted apart (peak residue {peak_seen})");
            } else {
                assert!(peak_seen > 0.05, "{rate} Hz: the test can tell: one stem alone is heard ({peak_seen})");
            }
        }
    }
}

/// Live (the audio thread never waits): a seek is heard within 60 ms, paced as a device would pull; a stalled
/// stream plays silence, counts it and never blocks; when the disk comes back, the sound does.
#[test]
fn a_live_seek_is_heard_within_60_ms_and_a_starved_stream_never_blocks() {
    let dir = TempDir::new("stream-live");
    // Silent for 2 s, then loud: a seek into the loud half is heard the moment it lands.
    let mut samples = vec![0.0f32; SR as usize * 2];
    samples.extend(noise(SR as usize * 6, 0.5, 8));
    write_mono_wav(&dir.path("late.wav"), &samples);
    let text = scene_text(&[stem("late", "late.wav", (0.0, EAR, -1.0), 1.0, 0.0)], -60.0);
    let (scene, sources) = open(&dir, &text, "live.ron");
    let config = GraphConfig { looping: true, live: true, ..GraphConfig::offline(SR) };
    let mut graph = OfflineGraph::offline(&scene, &sources, config).unwrap();
    const BLOCK: usize = 256;
    let block_time = Duration::from_secs_f64(BLOCK as f64 / SR as f64);
    // Pulls one device block, paced like a real device, and says whether anything was heard.
    let pull = |graph: &mut OfflineGraph| {
        let started = Instant::now();
        let mut out = [0.0f32; 2 * BLOCK];
        graph.backend_mut().render_block(&mut out);
        let took = started.elapsed();
        std::thread::sleep(block_time.saturating_sub(took));
        (peak(&out) > 1e-4, took)
    };
    graph.play_from(0.5).unwrap();
    for _ in 0..40 {
        assert!(!pull(&mut graph).0, "the first 2 s of the file are silent");
    }
    let mut seek_frames = Vec::new();
    for target in [2.5, 4.0, 6.3] {
        graph.play_from(0.2).unwrap();
        for _ in 0..20 {
            pull(&mut graph);
        }
        graph.play_from(target).unwrap();
        let mut frames = 0;
        while !pull(&mut graph).0 {
            frames += BLOCK;
            assert!(frames < SR as usize, "a seek to {target} s was never heard");
        }
        seek_frames.push(frames);
    }
    let worst_ms = *seek_frames.iter().max().unwrap() as f64 * 1000.0 / SR as f64;
    eprintln!("seek to first sound: {seek_frames:?} frames (worst {worst_ms:.1} ms)");
    assert!(worst_ms <= 60.0, "a seek took {worst_ms:.1} ms to be heard");
    // Starve it: the decoder stops; the ring drains (1.5 s ahead), then silence, counted, never a wait.
    graph.stall_streams(true);
    let mut slowest = Duration::ZERO;
    let mut silent_blocks = 0;
    let blocks = (3.0 * SR as f64 / BLOCK as f64) as usize;
    for _ in 0..blocks {
        let started = Instant::now();
        let mut out = [0.0f32; 2 * BLOCK];
        graph.backend_mut().render_block(&mut out);
        slowest = slowest.max(started.elapsed());
        if peak(&out) < 1e-6 {
            silent_blocks += 1;
        }
    }
    let health = graph.stems()[0].health().unwrap();
    eprintln!("starved: {health:?}, slowest block {slowest:?}, {silent_blocks} silent blocks of {blocks}");
    assert!(health.underruns > 0 && health.underrun_frames > SR as u64, "the dropouts are counted: {health:?}");
    assert!(silent_blocks > blocks / 3, "a starved stream is silence");
    assert!(slowest < Duration::from_millis(20), "the audio thread waited {slowest:?}");
    assert!(health.problem.is_none(), "a slow disk is not a broken file");
    // The disk comes back: the sound does, on its own.
    graph.stall_streams(false);
    let mut back = false;
    for _ in 0..200 {
        if pull(&mut graph).0 {
            back = true;
            break;
        }
    }
    assert!(back, "the sound came back after the stall");
}

#[test]
fn messy_real_files_play_and_say_what_was_repaired() {
    let dir = TempDir::new("stream-messy");
    // An LMMS float export: stray NaN samples in the first 3 ms of some stems.
    let mut drums = noise(SR as usize * 2, 0.3, 1);
    drums[10] = f32::NAN;
    drums[57] = f32::NAN;
    drums[140] = f32::INFINITY;
    let mut bass = low_chord(SR as usize * 2, 0.3);
    bass[3] = f32::NAN;
    write_mono_wav(&dir.path("1_Default preset.wav"), &drums);
    write_mono_wav(&dir.path("2_Default preset.wav"), &bass);
    // A float file that peaks at +6 dBFS, and the same signal 6 dB down.
    let hot: Vec<f32> = low_chord(SR as usize, 2.0);
    let six_db_down = 10f32.powf(-6.0 / 20.0);
    write_mono_wav(&dir.path("hot.wav"), &hot);
    write_mono_wav(&dir.path("cool.wav"), &hot.iter().map(|v| v * six_db_down).collect::<Vec<_>>());
    // A stem half as long as the others.
    write_mono_wav(&dir.path("short one.wav"), &noise(SR as usize, 0.3, 4));
    let text = scene_text(
        &[
            stem("drums", "1_Default preset.wav", (-1.0, EAR, -2.0), 1.0, -6.0),
            stem("bass", "2_Default preset.wav", (1.0, EAR, -2.0), 1.0, -6.0),
            stem("short", "short one.wav", (0.0, EAR, -2.0), 1.0, -6.0),
        ],
        0.0,
    );
    std::fs::write(dir.path("lmms.ron"), &text).unwrap();
    let out = dir.path("lmms.wav");
    let rendered = proxemix::commands::render_to_wav(
        &dir.path("lmms.ron"),
        &out,
        &RenderOptions::default(),
        WavFormat::Float32,
        &Default::default(),
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("the LMMS export must render: {e}"));
    eprintln!("{:?}", rendered.repairs);
    assert_eq!(rendered.repairs.len(), 2, "{:?}", rendered.repairs);
    assert!(rendered.repairs[0].contains("\"drums\"") && rendered.repairs[0].contains("3 non-finite"));
    assert!(rendered.repairs[0].contains("1_Default preset.wav") && rendered.repairs[0].contains("0.000 s"));
    assert!(rendered.repairs[1].contains("\"bass\"") && rendered.repairs[1].contains("1 non-finite"));
    let (l, r) = read_stereo(&out);
    assert_clean(&l);
    assert_clean(&r);
    assert!(peak(&l) > 0.01 && peak(&r) > 0.01, "every stem plays");
    // The song is as long as its longest stem; the short stem ends where it ends (alone, reverb off, it is
    // silent from its end on, give or take the spoil macros' constant delay that the render removes).
    let solo = scene_text(&[stem("short", "short one.wav", (0.0, EAR, -2.0), 1.0, -6.0)], -60.0);
    let with_long = scene_text(
        &[
            stem("short", "short one.wav", (0.0, EAR, -2.0), 1.0, -6.0),
            stem("long", "2_Default preset.wav", (0.0, EAR, -2.0), 1.0, -6.0)
                .replace("gain_db: -6.0)", "gain_db: -6.0, muted: true)"),
        ],
        -60.0,
    );
    let (sl, _) = render(&dir, &solo, "solo", None, 512);
    let (ll, _) = render(&dir, &with_long, "with-long", None, 512);
    assert!(ll.len() > sl.len() + SR as usize / 2, "the song runs to the end of the longest stem");
    let after_end = &ll[SR as usize + SR as usize / 50..];
    assert_eq!(peak(after_end), 0.0, "the short stem is silent after its end");
    assert!(peak(&ll[..SR as usize]) > 0.01);
    // Float above 0 dBFS keeps its level: +6 dBFS at -12 dB trim equals it 6 dB down at -6 dB.
    let level = |file: &str, gain: f32, name: &str| {
        let (l, r) =
            render(&dir, &scene_text(&[stem("x", file, (0.0, EAR, -2.0), 1.0, gain)], -60.0), name, Some(1.0), 512);
        db(energy(&l[4800..]) + energy(&r[4800..]))
    };
    let hot_db = level("hot.wav", -12.0, "hot");
    let cool_db = level("cool.wav", -6.0, "cool");
    eprintln!("hot file at -12 dB: {hot_db:.3} dB, half-level file at -6 dB: {cool_db:.3} dB");
    assert!((hot_db - cool_db).abs() < 0.005, "a float file above full scale lost level: {hot_db} vs {cool_db}");
}

#[test]
fn a_stem_file_cut_off_or_gone_while_playing_goes_silent_by_name_and_the_rest_plays() {
    let dir = TempDir::new("stream-vanish");
    write_mono_wav(&dir.path("left.wav"), &noise(SR as usize * 8, 0.3, 1));
    write_mono_wav(&dir.path("right.wav"), &noise(SR as usize * 8, 0.3, 2));
    // Hard left and hard right, no reverb: each channel is one stem.
    let text = scene_text(
        &[
            stem("left", "left.wav", (-2.0, EAR, 0.0), 0.5, -6.0),
            stem("right", "right.wav", (2.0, EAR, 0.0), 0.5, -6.0),
        ],
        -60.0,
    );
    let (scene, sources) = open(&dir, &text, "vanish.ron");
    let config = GraphConfig { looping: true, ..GraphConfig::offline(SR) };
    let mut graph = OfflineGraph::offline(&scene, &sources, config).unwrap();
    graph.start();
    // Energy of each channel over `frames`.
    let render = |graph: &mut OfflineGraph, frames: usize| {
        let mut out = vec![0.0f32; 2 * frames];
        for chunk in out.chunks_mut(2 * 512) {
            graph.backend_mut().render_block(chunk);
        }
        let (l, r): (Vec<f32>, Vec<f32>) = out.chunks(2).map(|f| (f[0], f[1])).unzip();
        (energy(&l), energy(&r))
    };
    let (l, r) = render(&mut graph, SR as usize / 2);
    assert!(db(l / r).abs() < 1.0, "both play, one on each side: {:.1} dB", db(l / r));
    // The left file is cut to 3 s while it plays.
    let file = std::fs::OpenOptions::new().write(true).open(dir.path("left.wav")).unwrap();
    file.set_len(44 + 4 * SR as u64 * 3).unwrap();
    drop(file);
    let _ = render(&mut graph, SR as usize * 3);
    let (l, r) = render(&mut graph, SR as usize);
    let health = graph.stems()[0].health().unwrap();
    eprintln!("cut off: {:?}; left/right {:.1} dB", health.problem, db(l / r));
    let problem = health.problem.expect("the cut is reported");
    assert!(problem.contains("left.wav") && problem.contains("truncated"), "{problem}");
    // What is left on the left is the right stem's decorrelated width, 20 dB down.
    assert!(db(l / r) < -15.0, "the cut-off stem is silent: left/right {:.1} dB", db(l / r));
    assert!(r > 1.0, "the other stem keeps playing: {r}");
    // The right file disappears; a seek back to the start has to open it again.
    std::fs::remove_file(dir.path("right.wav")).unwrap();
    graph.play_from(0.0).unwrap();
    let _ = render(&mut graph, SR as usize / 2);
    let problem = graph.stems()[1].health().unwrap().problem.expect("the vanished file is reported");
    assert!(problem.contains("right.wav") && problem.contains("cannot open"), "{problem}");
    // A render of a scene whose file is cut off names it, and writes nothing.
    let out = dir.path("cut.wav");
    let err = proxemix::commands::render_to_wav(
        &dir.path("vanish.ron"),
        &out,
        &RenderOptions::default(),
        WavFormat::Int24,
        &Default::default(),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("right.wav") || err.contains("left.wav"), "{err}");
    assert!(!out.exists());
}

#[test]
fn stereo_stems_keep_their_image_in_the_social_zone_and_narrow_with_distance_and_size() {
    let dir = TempDir::new("stream-width");
    write_stereo_wav(&dir.path("wide.wav"), SR, 32, &stereo_noise(SR as usize, 0.3, 21));
    write_mono_wav(&dir.path("mono.wav"), &noise(SR as usize, 0.3, 22));
    let correlation_at = |file: &str, d: f32, size: f32, name: &str| {
        let scene = scene_text(&[stem("s", file, (0.0, EAR, -d), size, -12.0)], -60.0);
        let (l, r) = render(&dir, &scene, name, Some(1.0), 512);
        let skip = SR as usize / 10;
        correlation(&l[skip..], &r[skip..])
    };
    let mut previous = -1.0;
    for d in [2.0f32, 3.6, 8.0, 16.0, 60.0] {
        let c = correlation_at("wide.wav", d, 1.0, &format!("wide{d}"));
        eprintln!("stereo stem, size 1 at {d} m: L/R correlation {c:.3}");
        if d <= proxemix::mix::mapping::Zone::SOCIAL_M {
            assert!(c <= 0.3, "size 1 at {d} m keeps the recorded image: correlation {c:.3}");
        }
        assert!(c > previous, "farther is narrower: {c:.3} at {d} m after {previous:.3}");
        previous = c;
    }
    assert!(previous > 0.9, "60 m away a stereo stem is nearly a point: {previous:.3}");
    let small = correlation_at("wide.wav", 2.0, 0.25, "small");
    assert!(small > 0.5, "a small body narrows the image: {small:.3}");
    // A mono stem of natural size is still a point at 2 m (its width comes from decorrelation, as before).
    let mono = correlation_at("mono.wav", 2.0, 1.0, "mono");
    assert!(mono > 0.9, "a mono stem at 2 m: {mono:.3}");
}
