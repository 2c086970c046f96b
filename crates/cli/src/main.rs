//! The `rtsp-worker` binary: `run` watches cameras and writes one JSON object per processed
//! frame to stdout; `demo` does it on sample clips served over RTSP on loopback. Logs and a
//! status line go to stderr; Ctrl-C drains and prints the final accounting.

// A command-line tool: it talks to the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod config;
mod demo;
mod output;

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use rtsp_worker::{
    Device, EndReason, Error, StreamConnection, StreamConnectionManager, StreamEvent,
    StreamOptions, TrackState, TrackerKind,
};
use tokio::sync::{Notify, mpsc};

const EXIT_CODES: &str = "\
Exit codes:
  0  ran until the duration, Ctrl-C or SIGTERM, and drained
  1  an unexpected failure
  2  bad arguments, a bad config file or a bad camera URL
  3  something to provision: the model or ONNX Runtime is missing, or the device cannot
     be used (run `cargo xtask setup`)
  4  every camera ended with an error (unreachable after --give-up-after attempts,
     credentials refused, unsupported codec or transport)

Logs: RUST_LOG (default warn,rtsp_worker=info).";

#[derive(Parser)]
#[command(name = "rtsp-worker", version, about, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Watch cameras: one JSON object per processed frame on stdout (docs/RESULTS.md).
    Run(RunArgs),
    /// Sample clips served over RTSP on loopback, through the whole pipeline, tracks printed.
    Demo(DemoArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum TrackerArg {
    Bytetrack,
    Sort,
    Iou,
}

/// Settings of the shared pipeline; unset ones are chosen for the device.
#[derive(Args, Clone)]
struct EngineArgs {
    /// The detector (an Ultralytics-style YOLO ONNX file) [default: the provisioned YOLOv12n]
    #[arg(long)]
    model: Option<PathBuf>,
    /// cpu, cuda or cuda:N
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Frames per detector call [default: 1 on the CPU, 16 on a GPU]
    #[arg(long)]
    batch_size: Option<usize>,
    /// Milliseconds the oldest frame waits for its batch to fill [default: 10]
    #[arg(long)]
    force_timeout: Option<u64>,
    /// Batches run at once [default: 1 on the CPU, 2 on a GPU]
    #[arg(long)]
    in_flight: Option<usize>,
    /// ONNX Runtime threads per batch [default: the cores, on the CPU]
    #[arg(long)]
    threads: Option<usize>,
    /// The tracker
    #[arg(long, value_enum, default_value = "bytetrack")]
    tracker: TrackerArg,
    /// Report detections at or above this score
    #[arg(long, default_value_t = 0.25)]
    confidence: f32,
}

#[derive(Args)]
struct RunArgs {
    // (`help` rather than doc comments: rustdoc would read the brackets as links.)
    #[arg(help = "Camera URLs (rtsp://[user:password@]host[:port]/path)")]
    urls: Vec<String>,
    #[arg(
        long,
        help = "A TOML file of cameras ([[stream]] tables with id, url, username, password or \
                password_env, transport)"
    )]
    config: Option<PathBuf>,
    #[command(flatten)]
    engine: EngineArgs,
    /// Stop after this many seconds [default: run until Ctrl-C]
    #[arg(long)]
    duration: Option<f64>,
    /// auto (TCP, else UDP), tcp or udp, for cameras the config does not say
    #[arg(long, default_value = "auto")]
    transport: String,
    /// End a camera after this many failed connection attempts in a row [default: retry
    /// forever]
    #[arg(long)]
    give_up_after: Option<u32>,
    /// Also write lifecycle events as JSON lines ({"event": "connected", "stream_id": …})
    #[arg(long)]
    events: bool,
    /// Seconds between status lines on stderr (0: none)
    #[arg(long, default_value_t = 5.0)]
    status_every: f64,
}

#[derive(Args)]
struct DemoArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// Seconds to run (Ctrl-C stops it earlier)
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// JSON lines on stdout instead of the human summary
    #[arg(long)]
    json: bool,
    /// Seconds between status lines on stderr (0: none)
    #[arg(long, default_value_t = 2.0)]
    status_every: f64,
}

/// An error with the exit code it maps to.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,rtsp_worker=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rtsp-worker: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run(args).await,
            Command::Demo(args) => demo::demo(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("rtsp-worker: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// The manager for the engine arguments, with a clear message for what users hit first.
async fn manager(args: &EngineArgs) -> Result<StreamConnectionManager, Failure> {
    let device: Device = args
        .device
        .parse()
        .map_err(|e: Error| Failure::new(2, e.to_string()))?;
    let mut tracker = rtsp_worker::default_tracker();
    tracker.kind = match args.tracker {
        TrackerArg::Bytetrack => TrackerKind::ByteTrack,
        TrackerArg::Sort => TrackerKind::Sort,
        TrackerArg::Iou => TrackerKind::Iou,
    };
    let mut b = StreamConnectionManager::builder()
        .device(device)
        .tracker(tracker)
        .confidence(args.confidence);
    if let Some(m) = &args.model {
        b = b.model(m);
    }
    if let Some(n) = args.batch_size {
        b = b.batch_size(n);
    }
    if let Some(ms) = args.force_timeout {
        b = b.force_timeout(Duration::from_millis(ms));
    }
    if let Some(n) = args.in_flight {
        b = b.batches_in_flight(n);
    }
    if let Some(n) = args.threads {
        b = b.intra_op_threads(n);
    }
    b.build().await.map_err(|e| match &e {
        Error::InvalidConfig { .. } => Failure::new(2, e.to_string()),
        Error::ModelNotFound { .. } | Error::DeviceUnavailable { .. } => {
            Failure::new(3, e.to_string())
        }
        Error::Model(infer_err) => {
            let hint = match infer_err {
                rtsp_worker::InferError::Runtime { .. } => {
                    " (the ONNX Runtime library: run `cargo xtask setup`, or set ORT_DYLIB_PATH)"
                }
                _ => "",
            };
            Failure::new(3, format!("{e}{hint}"))
        }
        _ => Failure::new(1, e.to_string()),
    })
}

async fn run(args: RunArgs) -> Result<(), Failure> {
    let default_transport = config::transport(&args.transport).map_err(|m| Failure::new(2, m))?;
    let mut cameras: Vec<config::Camera> = args
        .urls
        .iter()
        .map(|u| config::Camera {
            id: None,
            url: u.clone(),
            credentials: None,
            transport: None,
        })
        .collect();
    if let Some(path) = &args.config {
        cameras.extend(config::load(path).map_err(|m| Failure::new(2, m))?);
    }
    if cameras.is_empty() {
        return Err(Failure::new(
            2,
            "no cameras: give rtsp:// URLs or --config FILE (see --help)",
        ));
    }
    let manager = manager(&args.engine).await?;
    let mut connections = Vec::new();
    for cam in cameras {
        let mut options = StreamOptions::new()
            .transport(cam.transport.unwrap_or(default_transport))
            .give_up_after(args.give_up_after);
        if let Some(id) = cam.id {
            options = options.id(id);
        }
        if let Some((user, password)) = cam.credentials {
            options = options.credentials(user, password);
        }
        match manager.connect_stream(&cam.url, options).await {
            Ok(c) => connections.push(c),
            Err(e) => {
                manager.shutdown().await;
                let code = if matches!(e, Error::DuplicateStream(_) | Error::Camera { .. }) {
                    2
                } else {
                    1
                };
                return Err(Failure::new(code, e.to_string()));
            }
        }
    }
    let mode = Mode::Json {
        events: args.events,
    };
    watch(
        &manager,
        connections,
        mode,
        args.duration.map(Duration::from_secs_f64),
        args.status_every,
    )
    .await
    .map(|_| ())
}

/// How results are shown.
#[derive(Clone, Copy)]
enum Mode {
    /// JSON lines on stdout (and lifecycle events too with `events`).
    Json { events: bool },
    /// A human line per stream and second, for the demo.
    Human,
}

/// What one stream's consumer saw.
#[derive(Default)]
struct Seen {
    end: Option<EndReason>,
    /// Confirmed tracks: (track id, class name).
    tracks: HashSet<(u64, String)>,
    results: u64,
}

/// Consumes every stream until the duration, a signal, stdout closing, or every stream
/// ending; then shuts the manager down and prints the final accounting.
async fn watch(
    manager: &StreamConnectionManager,
    connections: Vec<StreamConnection>,
    mode: Mode,
    duration: Option<Duration>,
    status_every: f64,
) -> Result<Vec<(String, Seen)>, Failure> {
    let (lines, mut lines_rx) = mpsc::channel::<String>(1024);
    let stdout_gone = Arc::new(Notify::new());
    let gone = stdout_gone.clone();
    // One writer thread: stdout is blocking I/O.
    let writer = std::thread::spawn(move || {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        while let Some(line) = lines_rx.blocking_recv() {
            let ok = out.write_all(line.as_bytes()).is_ok() && out.write_all(b"\n").is_ok();
            if !ok || (lines_rx.is_empty() && out.flush().is_err()) {
                gone.notify_one();
                break;
            }
        }
        let _ = out.flush();
    });

    let live = Arc::new(AtomicUsize::new(connections.len()));
    let all_ended = Arc::new(Notify::new());
    let mut consumers = Vec::new();
    for conn in connections {
        let lines = lines.clone();
        let (live, all_ended) = (live.clone(), all_ended.clone());
        consumers.push(tokio::spawn(async move {
            let id = conn.id().to_owned();
            let seen = consume(&conn, mode, &lines).await;
            if live.fetch_sub(1, Ordering::SeqCst) == 1 {
                all_ended.notify_one();
            }
            (id, seen)
        }));
    }
    drop(lines);

    let status = (status_every > 0.0).then(|| {
        let every = Duration::from_secs_f64(status_every);
        let manager = manager.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                eprintln!("{}", output::status_line(&manager.get_stats()));
            }
        })
    });

    let stopped_by_streams = wait_for_stop(duration, &stdout_gone, &all_ended, &live).await;
    if let Some(s) = status {
        s.abort();
    }
    let finals = manager.shutdown().await;
    let mut seen = Vec::new();
    for c in consumers {
        if let Ok(s) = c.await {
            seen.push(s);
        }
    }
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    eprint!("{}", output::accounting_table(&finals));
    let failed: Vec<String> = seen
        .iter()
        .filter_map(|(id, s)| {
            s.end
                .as_ref()
                .and_then(EndReason::error)
                .map(|e| format!("{id}: {e}"))
        })
        .collect();
    if stopped_by_streams && !seen.is_empty() && failed.len() == seen.len() {
        return Err(Failure::new(
            4,
            format!(
                "every camera ended with an error:\n  {}",
                failed.join("\n  ")
            ),
        ));
    }
    Ok(seen)
}

/// Resolves when the run should stop; true if because every stream ended.
async fn wait_for_stop(
    duration: Option<Duration>,
    stdout_gone: &Notify,
    all_ended: &Notify,
    live: &AtomicUsize,
) -> bool {
    let sleep = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let ended = async {
        while live.load(Ordering::SeqCst) > 0 {
            all_ended.notified().await;
        }
    };
    let stopped_by_streams = tokio::select! {
        _ = tokio::signal::ctrl_c() => {
            eprintln!("rtsp-worker: interrupted; draining (Ctrl-C again to quit at once)");
            false
        }
        _ = terminate() => false,
        () = sleep => false,
        () = stdout_gone.notified() => false,
        () = ended => true,
    };
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    });
    stopped_by_streams
}

async fn terminate() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    std::future::pending::<()>().await
}

/// One stream's output to stdout, until it ends.
async fn consume(conn: &StreamConnection, mode: Mode, lines: &mpsc::Sender<String>) -> Seen {
    let mut seen = Seen::default();
    let mut last_human = tokio::time::Instant::now() - Duration::from_secs(10);
    while let Some(event) = conn.next_event().await {
        if let StreamEvent::Result(r) = &event {
            seen.results += 1;
            for t in &r.tracked_objects {
                if t.state == TrackState::Confirmed {
                    seen.tracks.insert((t.track_id, t.class_name.clone()));
                }
            }
        }
        if let StreamEvent::Ended { reason } = &event {
            seen.end = Some(reason.clone());
        }
        let line = match (mode, &event) {
            (Mode::Json { .. }, StreamEvent::Result(_)) | (Mode::Json { events: true }, _) => {
                Some(output::json_line(conn.id(), &event))
            }
            (Mode::Human, StreamEvent::Result(r))
                if last_human.elapsed() >= Duration::from_secs(1) =>
            {
                last_human = tokio::time::Instant::now();
                Some(output::demo_line(r))
            }
            _ => None,
        };
        // A full channel (stdout slower than the cameras) waits here: this stream's own
        // queue then drops its oldest results, counted as consumer_too_slow.
        if let Some(line) = line
            && lines.send(line).await.is_err()
        {
            // stdout is gone; keep draining so the stream can end.
            continue;
        }
    }
    seen
}
