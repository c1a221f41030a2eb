//! The `proxemix` command line: no arguments or a scene opens the stage; `render`, `inspect`, `new`, `bench`.
//! In a web page there is no command line: the page calls `proxemix::app::web` instead.
// The browser build has no command line to parse: only `main` below is used there.
#![cfg_attr(target_arch = "wasm32", allow(dead_code, unused_imports, clippy::let_unit_value))]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use proxemix::commands::{self, UserError};
use proxemix::mix::mapping::Cues;
use proxemix::mix::offline::{RenderOptions, WavFormat};
use proxemix::scene::Scene;

#[derive(Parser)]
#[command(name = "proxemix", version, about = "Stage a mix in space: each stem is a body in a room around you.")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Scene to open on the stage (default: scenes/demo.ron); more scenes (with the same stems) are loaded
    /// for A/B: number keys pick one, Tab goes back and forth, each matched to the same loudness.
    scenes: Vec<PathBuf>,
    /// Open in presenter mode (big type, the intent card, keyboard only; P leaves it).
    #[arg(long)]
    presenter: bool,
    /// Render the stage, save this PNG and exit (no sound device is opened).
    #[arg(long, value_name = "PATH")]
    screenshot: Option<PathBuf>,
    /// Frames to render before the screenshot.
    #[arg(long, default_value_t = 30, requires = "screenshot")]
    frames: u32,
    /// Open the stage without a sound device (export still works; the room panel can pick one later).
    #[arg(long)]
    silent: bool,
    /// Play through this output device (as `proxemix devices` lists it, or a part of its name); default: the
    /// system's default output.
    #[arg(long, value_name = "NAME")]
    device: Option<String>,
    /// Open the device at this rate (Hz); default: its own. The stems are converted to it as they play.
    #[arg(long, value_name = "HZ", value_parser = clap::value_parser!(u32).range(8_000..=192_000))]
    rate: Option<u32>,
    /// Frames per device buffer: smaller answers a move sooner, larger drops out less on a busy machine.
    #[arg(long, value_name = "FRAMES", default_value_t = proxemix::mix::graph::DEFAULT_BUFFER_FRAMES, value_parser = clap::value_parser!(u32).range(64..=8192))]
    buffer: u32,
    /// Open the room: phones on the same network join the stage (a link with a token, a QR code and a room
    /// code are shown) to hold and move stems, vote, say where they hear a hidden body and pin notes.
    #[arg(long)]
    room: bool,
    /// Where the room listens: "lan" (the first network interface that is up), an interface's name
    /// ("wlan0") or an address ("127.0.0.1" keeps it to this machine).
    #[arg(long, value_name = "INTERFACE", default_value = "lan")]
    room_interface: String,
    /// The room's port (0: any free one).
    #[arg(long, value_name = "PORT", default_value_t = 7878)]
    room_port: u16,
    /// Participants the room takes at once.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=256))]
    room_max: u32,
}

#[derive(Subcommand)]
enum Command {
    /// Render a scene to a WAV file, exactly as the stage plays it.
    Render(RenderArgs),
    /// Print the cues each stem gets: distance, zone, levels, pan, width, reverb, air, pre-delay.
    Inspect { scene: PathBuf },
    /// List the sound output devices the stage can play through (`--device` takes the first column).
    Devices,
    /// Make a scene from a folder of audio files (bodies on an arc in the social zone).
    New {
        dir: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
        /// Replace an existing scene file (it is kept as NAME.bak).
        #[arg(long)]
        force: bool,
    },
    /// Real-time factor of the full chain against plain kira playback (build with --release; `dev` builds only).
    #[cfg(feature = "dev")]
    Bench(BenchArgs),
}

/// `proxemix render`'s options.
#[derive(Args)]
struct RenderArgs {
    scene: PathBuf,
    /// Output WAV file (written to a temporary file, then renamed into place).
    #[arg(short, long, required_unless_present = "handout")]
    output: Option<PathBuf>,
    /// Write a workshop handout into this folder instead: SCENE.wav, SCENE-staging.png (the staging from
    /// above) and SCENE.md (the intent card, the sections and the cue values per stem).
    #[arg(long, value_name = "DIR", conflicts_with = "output")]
    handout: Option<PathBuf>,
    /// Switch cues off to hear what each one adds (repeatable or comma-separated): level,
    /// direct-to-reverb, air, pre-delay, width, spoil, proximity, height, direct.
    #[arg(long, value_name = "CUE", value_delimiter = ',')]
    without: Vec<String>,
    #[arg(long, default_value_t = 48_000, value_parser = clap::value_parser!(u32).range(8_000..=192_000))]
    sample_rate: u32,
    /// Sample format.
    #[arg(long, value_enum, default_value_t = Bits::B24)]
    bits: Bits,
    /// Length in seconds (default: the song once, plus the reverb tail). Longer than the song loops it.
    #[arg(long)]
    seconds: Option<f64>,
    /// The longest render allowed, in minutes (a scene asking for more is refused before anything is rendered).
    #[arg(long, value_name = "MINUTES", default_value_t = 60.0)]
    max_minutes: f64,
    /// With --handout: replace the handout's files if they are already there.
    #[arg(long, requires = "handout")]
    force: bool,
    /// Normalise to this integrated loudness (LUFS) with the master gain, before the limiter.
    #[arg(long, allow_hyphen_values = true)]
    normalize: Option<f64>,
    /// Hear only these stems (repeatable): e.g. `--solo vocal` renders the vocal alone.
    #[arg(long)]
    solo: Vec<String>,
    /// Silence these stems (repeatable): e.g. `--mute vocal` renders the rest.
    #[arg(long)]
    mute: Vec<String>,
    /// Threads for the stems' chains (default: every core); the output is the same whatever the number.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    jobs: Option<u32>,
    /// Frames per render call (does not change the result).
    #[arg(long, default_value_t = 512, hide = true)]
    block: usize,
}

/// `proxemix bench`'s options (the `dev` feature).
#[cfg(feature = "dev")]
#[derive(Args)]
struct BenchArgs {
    #[arg(long, default_value_t = 30.0)]
    seconds: f64,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    #[arg(long, value_delimiter = ',', default_values_t = [8, 16, 64])]
    stems: Vec<usize>,
    /// Instead: CPU time per frame of the stage's systems with 64 moving bodies, against an empty frame.
    #[arg(long)]
    stage: bool,
    /// Instead: a 32-stem, 4-minute session against the demo: the stage's launch to first sound (through a
    /// private PulseAudio null sink) and peak memory, and render's peak memory against the session 30 s long.
    #[arg(long)]
    song: bool,
    /// Instead: motion to sound on the real stage (a body dragged with the mouse, fifty times, heard through
    /// a private PulseAudio null sink), beside the frame time, the device buffer and the server's own share.
    #[arg(long)]
    latency: bool,
    /// Moves for --latency.
    #[arg(long, default_value_t = 50)]
    moves: usize,
    /// Device buffer (frames) for --latency.
    #[arg(long, default_value_t = proxemix::mix::graph::DEFAULT_BUFFER_FRAMES)]
    buffer: u32,
    /// Instead: the room on the real stage: a Chromium phone's drag to sound (`--moves` drags, then a third as
    /// many during floods), `--participants` simulated phones moving 30 times a second for `--crowd-seconds`,
    /// a phone that drops and comes back; each beside its baseline.
    #[arg(long)]
    room: bool,
    /// Simulated participants for --room.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=256))]
    participants: u32,
    /// How long the participants of --room move.
    #[arg(long, default_value_t = 60.0)]
    crowd_seconds: f64,
    /// Instead: the demo on the real stage for this many seconds with a body moving every frame: dropouts,
    /// underruns, NaN/Inf heard, memory growth.
    #[arg(long, value_name = "SECONDS")]
    soak: Option<f64>,
    /// A seek every this many seconds during --soak (0: none).
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    seek_every: f64,
    /// Processes kept busy beside the stage during --soak (its baseline, run first, has none).
    #[arg(long, value_name = "N", default_value_t = 2)]
    load: usize,
}

#[derive(Clone, Copy, ValueEnum)]
enum Bits {
    #[value(name = "16")]
    B16,
    #[value(name = "24")]
    B24,
    #[value(name = "32f")]
    B32f,
}

/// In a web page: panics reach the browser's console; the page's script starts the stage
/// (`proxemix::app::web::start`).
#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    // Linked for the page to call (wasm-bindgen's exports of the library).
    #[cfg(feature = "app")]
    let _ = proxemix::app::web::engine_rate;
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.command.is_some() {
        quiet_panics();
    }
    // A panic that nothing below caught is a bug: said in one line, with the exit code of a failure.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cli)))
        .unwrap_or_else(|payload| Err(UserError(format!("internal error: {}", panic_text(payload.as_ref())))));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("proxemix: {}", commands::printable(&e.to_string(), true));
            ExitCode::from(2)
        }
    }
}

/// The commands report a panic as an error naming what crashed (a stem's decoder, a stem's chain), so the
/// default hook's dump is kept for those who ask for it (RUST_BACKTRACE).
#[cfg(not(target_arch = "wasm32"))]
fn quiet_panics() {
    if std::env::var_os("RUST_BACKTRACE").is_none() {
        std::panic::set_hook(Box::new(|_| {}));
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".into())
}

/// Prints a line on standard output; a reader that went away (`| head`) ends nothing but the output.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// One command line, one step: each command is its own function below.
fn run(cli: Cli) -> Result<(), UserError> {
    match cli.command {
        None => open_stage(StageArgs {
            scenes: cli.scenes,
            screenshot: cli.screenshot,
            frames: cli.frames,
            silent: cli.silent,
            presenter: cli.presenter,
            device: cli.device,
            rate: cli.rate,
            buffer: cli.buffer,
            room: cli.room.then_some((cli.room_interface, cli.room_port, cli.room_max as usize)),
        }),
        Some(Command::Inspect { scene }) => {
            let loaded = Scene::load(&scene)?;
            use std::io::Write as _;
            // A closed pipe (`inspect | head`) is the reader's choice, not an error.
            let _ = std::io::stdout().lock().write_all(commands::inspect(&loaded).as_bytes());
            Ok(())
        }
        Some(Command::Render(args)) => render(args),
        Some(Command::New { dir, output, force }) => new_scene(&dir, &output, force),
        Some(Command::Devices) => list_devices(),
        #[cfg(feature = "dev")]
        Some(Command::Bench(args)) => bench(args),
    }
}

/// `proxemix render`: the options checked, the scene rendered to a WAV (or a handout), what it measured printed.
fn render(args: RenderArgs) -> Result<(), UserError> {
    let options = render_options(&args)?;
    let format = match args.bits {
        Bits::B16 => WavFormat::Int16,
        Bits::B24 => WavFormat::Int24,
        Bits::B32f => WavFormat::Float32,
    };
    let started = std::time::Instant::now();
    let bar = progress_bar();
    let selection = commands::Selection { solo: args.solo, mute: args.mute };
    let mut progress = |p| set_progress(&bar, p);
    let shown = |p: &std::path::Path| commands::printable(&p.display().to_string(), false);
    let rendered = if let Some(dir) = args.handout {
        remove_temporaries_when_stopped(&dir);
        let made = commands::write_handout(&args.scene, &dir, &options, format, &selection, args.force, &mut progress)?;
        finish_progress(&bar);
        say!("wrote {}, {} and {}", shown(&made.wav), shown(&made.picture), shown(&made.page));
        made.rendered
    } else {
        let output = args.output.expect("clap requires --output without --handout");
        remove_temporaries_when_stopped(&proxemix::files::folder_of(&output));
        let rendered = commands::render_to_wav(&args.scene, &output, &options, format, &selection, &mut progress)?;
        finish_progress(&bar);
        say!("wrote {} ({:.1} s, {} Hz)", shown(&output), rendered.seconds(), rendered.sample_rate);
        rendered
    };
    let elapsed = started.elapsed().as_secs_f64();
    for repair in &rendered.repairs {
        say!("repaired: {}", commands::printable(repair, false));
    }
    if let Some(g) = rendered.normalize_gain_db {
        say!("normalised with {g:+.1} dB of master gain");
    }
    say!("loudness: {}", rendered.loudness);
    say!("rendered in {elapsed:.2} s ({:.0}× real time)", rendered.seconds() / elapsed.max(1e-9));
    Ok(())
}

/// Ctrl+C or a kill (SIGINT, SIGTERM) during a render: the temporary file it writes in `folder` is removed, and
/// the program stops with the shell's code for an interrupt (130).
#[cfg(not(target_arch = "wasm32"))]
fn remove_temporaries_when_stopped(folder: &std::path::Path) {
    let folder = folder.to_owned();
    let _ = ctrlc::set_handler(move || {
        let removed = proxemix::files::remove_temporaries(&folder, true);
        eprintln!("\nproxemix: stopped; {removed} unfinished file(s) removed, nothing else was touched");
        std::process::exit(130);
    });
}
#[cfg(target_arch = "wasm32")]
fn remove_temporaries_when_stopped(_: &std::path::Path) {}

/// `render`'s options as the renderer takes them; a length or a loudness out of range is refused, by name.
fn render_options(args: &RenderArgs) -> Result<RenderOptions, UserError> {
    let mut cues = Cues::ALL;
    for name in &args.without {
        cues.switch_off(name).map_err(|e| UserError(format!("--without {name}: {e}")))?;
    }
    if !(args.max_minutes.is_finite() && args.max_minutes > 0.0 && args.max_minutes <= 24.0 * 60.0) {
        return Err(UserError(format!("--max-minutes {}: give a limit between 0 and 1440 minutes", args.max_minutes)));
    }
    let max_seconds = args.max_minutes * 60.0;
    if let Some(s) = args.seconds
        && !(s.is_finite() && s > 0.0 && s <= max_seconds)
    {
        return Err(UserError(format!(
            "--seconds {s}: give a length between 0 and {max_seconds} seconds (--max-minutes raises the limit)"
        )));
    }
    if let Some(l) = args.normalize
        && !(l.is_finite() && (-70.0..=0.0).contains(&l))
    {
        return Err(UserError(format!("--normalize {l}: give a loudness between -70 and 0 LUFS")));
    }
    Ok(RenderOptions {
        sample_rate: args.sample_rate,
        seconds: args.seconds,
        block_frames: args.block.clamp(1, 1 << 16),
        normalize_lufs: args.normalize,
        cues,
        jobs: args.jobs.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |j| j as usize),
        max_seconds,
    })
}

/// `proxemix new`: a scene from a folder, never over an existing file unless forced (which keeps the old one
/// as a numbered `.bak`), and never over one of the audio files it names.
fn new_scene(dir: &std::path::Path, output: &std::path::Path, force: bool) -> Result<(), UserError> {
    if std::fs::symlink_metadata(output).is_ok() && !force {
        return Err(UserError(format!(
            "{}: already exists; choose another name or pass --force (the old file is kept as .bak)",
            output.display()
        )));
    }
    let made = commands::new_scene(dir, output)?;
    let shown = |p: &std::path::Path| commands::printable(&p.display().to_string(), false);
    // The audio files it names are what it must never write over.
    let stems: Vec<PathBuf> = commands::render_inputs(output, &made.scene).into_iter().skip(1).collect();
    commands::check_output(output, &stems)?;
    for (path, why) in &made.skipped {
        eprintln!("skipped {}: {why}", shown(path));
    }
    made.scene.save(output)?;
    say!("wrote {} with {} stems", shown(output), made.scene.stems.len());
    Ok(())
}

/// `proxemix bench`: the live and song benchmarks run the stage as a child; the others measure the chain here.
#[cfg(feature = "dev")]
fn bench(args: BenchArgs) -> Result<(), UserError> {
    use proxemix::bench;
    if args.latency || args.soak.is_some() || args.song || args.room {
        let exe = std::env::current_exe().map_err(|e| UserError(format!("cannot find myself: {e}")))?;
        let measured = if args.room {
            bench_room(&exe, &args)
        } else if let Some(s) = args.soak {
            let plan = bench::soak::SoakPlan {
                seconds: s,
                warmup_s: 60f64.min(s / 3.0),
                seek_every_s: (args.seek_every > 0.0).then_some(args.seek_every),
                busy_processes: args.load,
            };
            bench::soak::print(&exe, &bench::song::demo_scene(), plan)
        } else if args.latency {
            bench::latency::print(&exe, args.moves.max(2), args.buffer)
        } else {
            bench::song::run(&bench::song::cache_dir(), &exe, &bench::song::demo_scene())
        };
        return measured.map_err(UserError);
    }
    if cfg!(debug_assertions) {
        eprintln!("note: this is a debug build; run `cargo run --release -- bench` for real figures");
    }
    if args.stage {
        return bench_stage(args.rounds);
    }
    bench_chain(&args);
    Ok(())
}

#[cfg(all(feature = "dev", not(target_arch = "wasm32")))]
fn bench_room(exe: &std::path::Path, args: &BenchArgs) -> Result<(), String> {
    proxemix::bench::room::print(exe, args.moves.max(2), args.participants as usize, args.crowd_seconds.max(1.0))
}

#[cfg(all(feature = "dev", target_arch = "wasm32"))]
fn bench_room(_: &std::path::Path, _: &BenchArgs) -> Result<(), String> {
    Err("the room's benchmark runs on the desktop".into())
}

/// The chain's figures, each beside its baseline in the same run: the full chain against plain kira, many jobs
/// against one, streamed against in-memory stems, spoil 1 against clean.
#[cfg(feature = "dev")]
fn bench_chain(args: &BenchArgs) {
    use proxemix::bench;
    let (stems, seconds, rounds) = (&args.stems, args.seconds, args.rounds);
    println!("{:>6} {:>14} {:>14} {:>12}", "stems", "plain kira ×RT", "full chain ×RT", "full ÷ plain");
    bench::run(stems, seconds, rounds, |row| {
        println!("{:>6} {:>14.1} {:>14.1} {:>11.2}×", row.stems, row.plain_rtf, row.full_rtf, row.speed_ratio());
    });
    println!();
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
    println!("{:>6} {:>14} {:>14} {:>10}", "stems", "--jobs 1 ×RT", format!("--jobs {jobs} ×RT"), "speed-up");
    bench::run_jobs(stems, jobs, seconds, rounds, |row| {
        println!("{:>6} {:>14.1} {:>14.1} {:>9.2}×", row.stems, row.one_rtf, row.many_rtf, row.speedup());
    });
    println!();
    println!("{:>6} {:>14} {:>14} {:>10}", "stems", "memory ×RT", "streamed ×RT", "ratio");
    match bench::run_streamed(32, seconds, rounds) {
        Ok(row) => println!(
            "{:>6} {:>14.1} {:>14.1} {:>9.2}×",
            row.stems,
            row.memory_rtf,
            row.streamed_rtf,
            row.streamed_rtf / row.memory_rtf
        ),
        Err(e) => println!("  streamed stems: {e}"),
    }
    println!();
    println!("{:>6} {:>14} {:>14} {:>10}", "stems", "clean ×RT", "spoil 1 ×RT", "cost ratio");
    bench::run_spoil(&[1, 8], seconds, rounds, |row| {
        println!("{:>6} {:>14.1} {:>14.1} {:>9.2}×", row.stems, row.clean_rtf, row.spoiled_rtf, row.cost_ratio());
    });
}

/// What the command line asks of the stage.
#[cfg_attr(not(feature = "app"), allow(dead_code))]
struct StageArgs {
    scenes: Vec<PathBuf>,
    screenshot: Option<PathBuf>,
    frames: u32,
    silent: bool,
    presenter: bool,
    device: Option<String>,
    rate: Option<u32>,
    buffer: u32,
    /// The room's interface, port and size, when it opens with the stage.
    room: Option<(String, u16, usize)>,
}

/// `proxemix devices`: one line per output device: what `--device` takes, its own rate and channels, its name.
#[cfg(feature = "app")]
fn list_devices() -> Result<(), UserError> {
    let devices = proxemix::app::device::list_outputs(true).map_err(UserError)?;
    if devices.is_empty() {
        return Err(UserError("no sound output devices here (the stage opens silent; Export WAV works)".into()));
    }
    println!("{:<28} {:>9} {:>8}  name", "device (--device)", "rate", "channels");
    for d in devices {
        let (rate, channels) = d.format.map_or(("?".into(), "?".into()), |(r, c)| (format!("{r} Hz"), c.to_string()));
        let default = if d.is_default { "  (default)" } else { "" };
        println!("{:<28} {:>9} {:>8}  {}{default}", d.id, rate, channels, d.name);
    }
    Ok(())
}

#[cfg(not(feature = "app"))]
fn list_devices() -> Result<(), UserError> {
    Err(no_stage())
}

#[cfg(feature = "app")]
fn open_stage(args: StageArgs) -> Result<(), UserError> {
    let mut scenes = args.scenes.into_iter();
    let first = scenes.next().unwrap_or_else(|| PathBuf::from("scenes/demo.ron"));
    let options = proxemix::app::StageOptions {
        screenshot: args.screenshot,
        frames: args.frames,
        silent: args.silent,
        compare: scenes.collect(),
        presenter: args.presenter,
        device: proxemix::app::shared::DeviceChoice {
            name: args.device,
            sample_rate: args.rate,
            buffer_frames: args.buffer,
        },
        room: args.room.map(|(interface, port, max_participants)| proxemix::app::shared::RoomRequest {
            interface,
            port,
            max_participants,
        }),
    };
    proxemix::app::run(first, options)
}

#[cfg(not(feature = "app"))]
fn open_stage(_: StageArgs) -> Result<(), UserError> {
    Err(no_stage())
}

#[cfg(not(feature = "app"))]
fn no_stage() -> UserError {
    UserError(
        "this build has no stage (built without the `app` feature); use `proxemix render`, `inspect` or `new`".into(),
    )
}

#[cfg(all(feature = "app", feature = "dev"))]
fn bench_stage(rounds: usize) -> Result<(), UserError> {
    const STEMS: usize = 64;
    const FRAMES: usize = 600;
    let b = proxemix::app::bench::run(STEMS, FRAMES, rounds.max(3));
    println!(
        "stage systems, {} moving bodies, {} frames per round, fastest of {} rounds:",
        b.stems,
        b.frames,
        rounds.max(3)
    );
    println!("  app without our plugins {:8.4} ms/frame", b.empty_ms);
    println!("  app with the stage      {:8.4} ms/frame  ({:.2}× the baseline)", b.stage_ms, b.ratio());
    println!("  our systems             {:8.4} ms/frame  (target < 0.2 ms)", b.systems_ms());
    Ok(())
}

#[cfg(all(not(feature = "app"), feature = "dev"))]
fn bench_stage(_: usize) -> Result<(), UserError> {
    Err(no_stage())
}

#[cfg(not(target_arch = "wasm32"))]
type Bar = indicatif::ProgressBar;
#[cfg(target_arch = "wasm32")]
type Bar = ();

#[cfg(not(target_arch = "wasm32"))]
fn progress_bar() -> Bar {
    let bar = indicatif::ProgressBar::new(1000);
    bar.set_style(
        indicatif::ProgressStyle::with_template("rendering [{bar:40}] {percent:>3}% {elapsed_precise}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar
}
#[cfg(not(target_arch = "wasm32"))]
fn set_progress(bar: &Bar, p: f64) {
    bar.set_position((p * 1000.0) as u64);
}
#[cfg(not(target_arch = "wasm32"))]
fn finish_progress(bar: &Bar) {
    bar.finish_and_clear();
}
#[cfg(target_arch = "wasm32")]
fn progress_bar() -> Bar {}
#[cfg(target_arch = "wasm32")]
fn set_progress(_: &Bar, _: f64) {}
#[cfg(target_arch = "wasm32")]
fn finish_progress(_: &Bar) {}
