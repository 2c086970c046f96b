//! The `rtsp-worker` binary: `run` watches cameras and writes one JSON object per processed
//! frame to stdout, and on request serves an HTTP API with metrics and a status page, publishes
//! MQTT events and writes snapshots; `demo` does it on sample clips served over RTSP on
//! loopback. Logs and a status line go to stderr; Ctrl-C drains and prints the final
//! accounting.
//!
//! It wires the `service` and `fleet` crates over the facade and owns the command line (its own
//! flags, flattening the flag groups `service` and `fleet` define), signals and the exit codes;
//! no crate depends on it (tidy's `LAYERS`).

// A command-line tool: it talks to the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod demo;
mod exit;
mod status;
mod stop;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use service::config;
use service::metrics::Metrics;
use service::{Mode, Origin, Service, engine, http, outputs};

use crate::exit::{Exit, Failure};
use crate::status::status_lines;

const EXIT_CODES: &str = "\
Exit codes:
  0  ran until the duration, Ctrl-C or SIGTERM, and drained
  1  an unexpected failure
  2  bad arguments, a bad config file or a bad camera URL
  3  something to provision: the model or ONNX Runtime is missing, or the device cannot
     be used (run `cargo xtask setup`)
  4  every camera ended with an error (unreachable after --give-up-after attempts,
     credentials refused, unsupported codec or transport); with --http the worker
     stays up instead
  130 a second Ctrl-C: quit at once, without draining

Signals: SIGINT/SIGTERM drain and stop; SIGHUP re-reads --config and applies its camera
changes (as POST /api/v1/reload does).

Logs: RUST_LOG (default warn,rtsp_worker=info).";

#[derive(Parser)]
#[command(name = "rtsp-worker", version, about, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once
enum Command {
    /// Watch cameras: one JSON object per processed frame on stdout (docs/RESULTS.md).
    Run(RunArgs),
    /// Sample clips served over RTSP on loopback, through the whole pipeline, tracks printed.
    Demo(demo::DemoArgs),
    /// A fleet's camera registry on NATS: add, remove, list.
    Cameras(fleet::flags::Cameras),
    /// A fleet's results, read back from JetStream as JSON lines.
    Results(fleet::flags::Results),
    /// A fleet's state: workers alive, cameras per worker, lease ages, unowned cameras.
    Cluster(fleet::flags::Cluster),
}

#[derive(Args)]
struct RunArgs {
    // (`help` rather than doc comments: rustdoc would read the brackets as links.)
    #[arg(help = "Camera URLs (rtsp://[user:password@]host[:port]/path)")]
    urls: Vec<String>,
    #[arg(
        long,
        help = "A TOML file: [engine], [outputs], and [[stream]] tables with id, url, username, \
                password_env, transport, [[stream.zone]] and [[stream.line]] (see README). \
                SIGHUP or POST /api/v1/reload applies its camera changes"
    )]
    config: Option<PathBuf>,
    #[command(flatten)]
    engine: engine::Flags,
    #[command(flatten)]
    serve: outputs::Flags,
    /// Stop after this many seconds [default: run until Ctrl-C]
    #[arg(long)]
    duration: Option<f64>,
    /// Take file:///clip.h264 URLs (a local clip replayed in a loop) on the command line and
    /// in the config file; for tests and benchmarks. The HTTP API and the fleet's registry
    /// never take them
    #[arg(long)]
    allow_file_urls: bool,
    /// auto (TCP, else UDP), tcp or udp, for cameras the config does not say
    #[arg(long, default_value = "auto")]
    transport: String,
    /// End a camera after this many failed connection attempts in a row [default: retry
    /// forever]
    #[arg(long)]
    give_up_after: Option<u32>,
    /// Also write lifecycle and zone events as JSON lines ({"event": "connected", …})
    #[arg(long)]
    events: bool,
    /// No JSON lines on stdout (HTTP, MQTT and snapshots only)
    #[arg(long)]
    no_json: bool,
    /// Seconds between status lines on stderr (0: none)
    #[arg(long, default_value_t = 5.0)]
    status_every: f64,
    #[command(flatten)]
    fleet: fleet::flags::JoinFlags,
}

impl RunArgs {
    /// `--http` takes an optional address, so `--http rtsp://cam/1` would take the camera as
    /// its address: a value with a scheme is a camera, and `--http` stands alone.
    fn untangled(mut self) -> Self {
        if let Some(h) = self.serve.http.take_if(|h| h.contains("://")) {
            self.urls.insert(0, h);
            self.serve.http = Some("127.0.0.1:8080".to_owned());
        }
        self
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    service::support::raise_fd_limit();
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
            return Exit::Unexpected.into();
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run(args.untangled()).await,
            Command::Demo(args) => demo::demo(args).await,
            Command::Cameras(args) => args.run().await.map_err(Failure::from),
            Command::Results(args) => args.run().await.map_err(Failure::from),
            Command::Cluster(args) => args.run().await.map_err(Failure::from).map(|v| {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            }),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("rtsp-worker: {}", f.message);
            f.code.into()
        }
    }
}

async fn run(args: RunArgs) -> Result<(), Failure> {
    let default_transport =
        config::transport(&args.transport).map_err(|m| Failure::new(Exit::Usage, m))?;
    let mut cameras = config::command_line(&args.urls, args.allow_file_urls)
        .map_err(|m| Failure::new(Exit::Usage, m))?;
    let first_file_camera = cameras.len();
    let file = match &args.config {
        Some(path) => config::load(path, first_file_camera, args.allow_file_urls)
            .map_err(|m| Failure::new(Exit::Usage, m))?,
        None => config::Config::default(),
    };
    cameras.extend(file.cameras.iter().cloned());
    let mut out = outputs::resolve(&args.serve, &file.outputs)?;
    if args.fleet.cluster.is_some() && !cameras.is_empty() {
        return Err(Failure::new(
            Exit::Usage,
            "with --cluster the cameras come from the fleet's registry: add them with \
             `rtsp-worker cameras add ID URL --cluster …`, not on the command line or in the \
             config file",
        ));
    }
    let join = args.fleet.join()?;
    if cameras.is_empty() && out.http.is_none() && join.is_none() {
        return Err(Failure::new(
            Exit::Usage,
            "no cameras: give rtsp:// URLs, --config FILE, or --http to add them later (see --help)",
        ));
    }
    let state = Arc::new(http::AppState::default());
    let metrics = Metrics::default();
    let http_on = out.http.is_some();
    let server = match out.http.take() {
        Some(h) => {
            let (serving, how) = h.start(state.clone(), metrics.connections.clone())?;
            eprintln!("rtsp-worker: {how}");
            Some(serving)
        }
        None => None,
    };
    let snapshots_on = http_on || out.snapshots.is_some();
    let manager = engine::manager(
        &args.engine,
        &file.engine,
        snapshots_on,
        args.allow_file_urls || args.fleet.bench_registry_file_urls,
    )
    .await?;
    let json = !args.no_json && file.outputs.json.unwrap_or(true);
    let settings = service::Settings {
        mode: if json {
            Mode::Json {
                events: args.events || file.outputs.events.unwrap_or(false),
            }
        } else {
            Mode::Quiet
        },
        default_transport,
        give_up_after: args.give_up_after,
        keep_running: http_on || join.is_some(),
        config_path: args.config.clone(),
        first_free: first_file_camera,
        allow_file_urls: args.allow_file_urls,
        webhook: out.webhook.clone(),
        model_dir: engine::model_dir(&args.engine, &file.engine)?,
        file_model: args
            .engine
            .model
            .is_none()
            .then(|| file.engine.model.clone()),
    };
    let started = out.start_sinks(&metrics)?;
    let service = Service::new(manager.clone(), settings, metrics, started.mqtt);
    if let Some(s) = started.snapshots {
        service.add_sink(s);
    }
    if let Some(w) = started.webhooks {
        service.add_sink(w);
    }
    let _ = state.service.set(service.clone());
    for (n, cam) in cameras.into_iter().enumerate() {
        let origin = if n < first_file_camera {
            Origin::CommandLine
        } else {
            Origin::ConfigFile
        };
        if let Err(e) = service.add(cam, origin).await {
            let _ = stop::finish(&service, false).await;
            return Err(service::Error::from(e).into());
        }
    }
    let member = match join {
        Some(j) => match fleet::join(service.clone(), j).await {
            Ok(m) => Some(m),
            Err(e) => {
                let _ = stop::finish(&service, false).await;
                return Err(e.into());
            }
        },
        None => None,
    };
    let status = status_lines(&manager, args.status_every);
    let stopped_by_streams = stop::wait(&service, args.duration.map(Duration::from_secs_f64)).await;
    if let Some(task) = status {
        task.abort();
    }
    // Leases first: other workers take the cameras while this one drains them.
    if let Some(m) = member {
        eprintln!("rtsp-worker: fleet: {}", m.leave().await);
    }
    let result = stop::finish(&service, stopped_by_streams).await.map(|_| ());
    if let Some(s) = server {
        s.stop();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(args: &[&str]) -> RunArgs {
        let mut all = vec!["rtsp-worker", "run"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all).expect("parses").command {
            Command::Run(r) => r,
            _ => unreachable!("run was given"),
        }
    }

    #[test]
    fn the_flags_are_consistent() {
        // clap's own checks (unique ids and groups, `requires` naming real flags), which
        // would otherwise panic only when a command is parsed.
        <Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn the_http_server_binds_loopback_unless_told_otherwise() {
        let bare = run_args(&["rtsp://127.0.0.1/x", "--http"]).untangled();
        assert_eq!(bare.serve.http.as_deref(), Some("127.0.0.1:8080"));
        // Followed by a camera, `--http` still stands alone.
        let alone = run_args(&["--http", "rtsp://127.0.0.1/x"]).untangled();
        assert_eq!(alone.serve.http.as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(alone.urls, ["rtsp://127.0.0.1/x"]);
        assert_eq!(run_args(&["rtsp://127.0.0.1/x"]).serve.http, None);
        let told = run_args(&["rtsp://127.0.0.1/x", "--http", "0.0.0.0:9000"]);
        assert_eq!(told.serve.http.as_deref(), Some("0.0.0.0:9000"));
        match Cli::try_parse_from(["rtsp-worker", "demo"])
            .expect("parses")
            .command
        {
            Command::Demo(d) => assert!(d.http.starts_with("127.0.0.1:")),
            _ => unreachable!("demo was given"),
        }
    }
}
