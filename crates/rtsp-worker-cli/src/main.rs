//! The `rtsp-worker` binary: `run` watches cameras and writes one JSON object per processed
//! frame to stdout, and on request serves an HTTP API with metrics and a status page, publishes
//! MQTT events and writes snapshots; `demo` does it on sample clips served over RTSP on
//! loopback. Logs and a status line go to stderr; Ctrl-C drains and prints the final
//! accounting.
//!
//! It wires the `service` and `fleet` crates over the facade, and owns clap's flags, signals and
//! the exit codes; no crate depends on it (tidy's `LAYERS`).

// A command-line tool: it talks to the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod demo;
mod exit;
mod manager;
mod stop;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use fleet::commands;
use service::config;
use service::metrics::Metrics;
use service::{Mode, Origin, Service, engine, http, mqtt, outputs};

use crate::exit::{Exit, Failure};
use crate::manager::{EngineArgs, status_lines};

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
    Cameras(CamerasArgs),
    /// A fleet's results, read back from JetStream as JSON lines.
    Results(ResultsArgs),
    /// A fleet's state: workers alive, cameras per worker, lease ages, unowned cameras.
    Cluster(ClusterArgs),
}

/// Where the fleet's NATS server is.
#[derive(Args, Clone)]
struct NatsArg {
    /// The fleet's NATS server (nats://, or tls:// for TLS)
    #[arg(
        long,
        value_name = "URL",
        global = true,
        default_value = "nats://127.0.0.1:4222"
    )]
    cluster: String,
    #[command(flatten)]
    auth: NatsAuth,
}

/// How to authenticate to NATS and check its certificate.
#[derive(Args, Clone, Default)]
struct NatsAuth {
    /// A NATS credentials file (.creds: a user JWT and its NKey seed)
    #[arg(long, value_name = "FILE", global = true)]
    nats_creds: Option<PathBuf>,
    /// A file holding an NKey seed (SU…)
    #[arg(long, value_name = "FILE", global = true)]
    nats_nkey: Option<PathBuf>,
    /// PEM certificates the NATS server's must chain to (TLS is then required)
    #[arg(long, value_name = "FILE", global = true)]
    nats_ca_file: Option<PathBuf>,
}

impl NatsAuth {
    fn nats(&self, url: &str) -> fleet::Nats {
        fleet::Nats {
            url: url.to_owned(),
            creds: self.nats_creds.clone(),
            nkey: self.nats_nkey.clone(),
            ca_file: self.nats_ca_file.clone(),
        }
    }
}

/// Reads `--fleet-key-file`, if given.
fn fleet_key(path: Option<&PathBuf>) -> Result<Option<fleet::FleetKey>, Failure> {
    path.map(|p| fleet::FleetKey::load(p).map_err(|m| Failure::new(Exit::Usage, m)))
        .transpose()
}

#[derive(Args)]
struct CamerasArgs {
    #[command(subcommand)]
    action: CamerasAction,
    #[command(flatten)]
    nats: NatsArg,
    /// The fleet's key file (64 hex digits a line; the first seals): camera passwords go
    /// into the registry sealed with it
    #[arg(long, value_name = "FILE", global = true)]
    fleet_key_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum CamerasAction {
    /// Adds a camera to the registry; a worker of the fleet picks it up.
    Add {
        /// The camera's id (A–Z a–z 0–9 _ -)
        id: String,
        #[arg(help = "rtsp://[user:password@]host[:port]/path")]
        url: String,
        /// User name, if not in the URL
        #[arg(long)]
        username: Option<String>,
        /// The environment variable holding the password (read now, sealed into the
        /// registry with --fleet-key-file)
        #[arg(long, value_name = "VAR")]
        password_env: Option<String>,
        /// auto, tcp or udp
        #[arg(long)]
        transport: Option<String>,
    },
    /// Removes a camera from the registry; its worker stops it.
    Remove { id: String },
    /// The registry's cameras, one JSON object per line (passwords left out).
    List,
    /// Seals every camera password again with the key file's first key (key rotation: put
    /// the new key first in every worker's key file, run this, then drop the old key).
    Rekey,
}

#[derive(Args)]
struct ResultsArgs {
    #[command(flatten)]
    nats: NatsArg,
    /// Only this camera's results
    #[arg(long)]
    camera: Option<String>,
    /// Replay from the oldest result kept (resets the reader's position)
    #[arg(long, conflicts_with = "since")]
    from_start: bool,
    #[arg(
        long,
        value_name = "TIME",
        help = "Replay from this time, RFC 3339 or Unix seconds (resets the reader's position)"
    )]
    since: Option<String>,
    /// The durable reader's name: a reader of the same name resumes where it stopped
    #[arg(long, default_value = "reader")]
    durable: String,
    /// Stop after this many results
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Stop when no result came for this many seconds [default: follow forever]
    #[arg(long, value_name = "SECS")]
    idle: Option<f64>,
}

#[derive(Args)]
struct ClusterArgs {
    #[command(subcommand)]
    action: ClusterAction,
    #[command(flatten)]
    nats: NatsArg,
}

#[derive(Subcommand)]
enum ClusterAction {
    /// One JSON document: workers, cameras with their owner and lease age, unowned cameras.
    Status,
}

/// The operator's outputs besides stdout.
#[derive(Args, Clone, Default)]
struct ServeArgs {
    #[arg(
        long,
        value_name = "ADDR",
        num_args = 0..=1,
        default_missing_value = "127.0.0.1:8080",
        help = "Serve the HTTP API, /metrics and the status page on ADDR [default when given \
                alone: 127.0.0.1:8080]"
    )]
    http: Option<String>,
    /// A file holding the HTTP server's token (at least 16 characters): every route but
    /// /healthz, /readyz and the page then needs `Authorization: Bearer <token>`. Also
    /// RTSP_WORKER_HTTP_TOKEN [required to serve beyond loopback]
    #[arg(long, value_name = "FILE")]
    http_token_file: Option<PathBuf>,
    /// A host name the HTTP server answers to besides IP addresses and localhost (the name
    /// users or a reverse proxy reach it by); repeatable. Other Host headers get 421
    #[arg(long, value_name = "NAME")]
    http_host: Vec<String>,
    /// Serve /metrics without the token
    #[arg(long)]
    metrics_public: bool,
    /// Serve beyond loopback without a token (behind an authenticating reverse proxy only)
    #[arg(long)]
    http_insecure: bool,
    /// Open HTTP connections at most; at the cap the oldest idle one is closed
    #[arg(long, value_name = "N", default_value_t = 1024)]
    http_max_connections: usize,
    #[arg(
        long,
        value_name = "URL",
        help = "Publish object events to an MQTT broker, mqtt://[user@]host[:port], or \
                mqtts://… over TLS (Frigate-style topics)"
    )]
    mqtt: Option<String>,
    /// A file holding the MQTT password (also RTSP_WORKER_MQTT_PASSWORD); the user name goes
    /// in the URL
    #[arg(long, value_name = "FILE")]
    mqtt_password_file: Option<PathBuf>,
    /// PEM certificates the mqtts:// broker's certificate must chain to [default: the
    /// system's roots]
    #[arg(long, value_name = "FILE")]
    mqtt_ca_file: Option<PathBuf>,
    /// The MQTT topic prefix [default: rtsp-worker]
    #[arg(long)]
    mqtt_prefix: Option<String>,
    /// MQTT messages held while the broker is away; more are dropped, counted
    #[arg(long, value_name = "N", default_value_t = mqtt::QUEUE)]
    mqtt_queue: usize,
    /// Write annotated JPEGs per stream into this folder
    #[arg(long, value_name = "DIR")]
    snapshots: Option<PathBuf>,
    /// Seconds between snapshot files per stream [default: 5]
    #[arg(long, value_name = "SECS")]
    snapshot_every: Option<f64>,
    /// Snapshot files kept per stream (the oldest go)
    #[arg(long, value_name = "N", default_value_t = 100)]
    snapshot_keep: usize,
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
    engine: EngineArgs,
    #[command(flatten)]
    serve: ServeArgs,
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
    /// Join a fleet on this NATS server: take a share of its registry's cameras and publish
    /// results to JetStream (cameras come from `rtsp-worker cameras add`, not the command line)
    #[arg(long, value_name = "URL")]
    cluster: Option<String>,
    /// This worker's name in the fleet [default: host name and process id]
    #[arg(long, value_name = "ID", requires = "cluster")]
    worker_id: Option<String>,
    /// Seconds a lease outlives its last renewal; the same for every worker [default: 3]
    #[arg(long, value_name = "SECS", default_value_t = 3.0, requires = "cluster")]
    lease_ttl: f64,
    #[command(flatten)]
    nats_auth: NatsAuth,
    /// The fleet's key file: opens the camera passwords sealed in the registry, seals those
    /// added over HTTP
    #[arg(long, value_name = "FILE", requires = "cluster")]
    fleet_key_file: Option<PathBuf>,
    /// Benchmarks only: take file:// cameras from the fleet's registry (whoever can write to
    /// NATS then chooses which local files this worker reads). The fleet benchmark and soak
    /// replay clips this way to measure the fleet at camera counts no RTSP server here serves
    #[arg(long, hide = true, requires = "cluster")]
    bench_registry_file_urls: bool,
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
            Command::Cameras(args) => cameras(args).await,
            Command::Results(args) => results(args).await,
            Command::Cluster(args) => match args.action {
                ClusterAction::Status => commands::status(&args.nats.auth.nats(&args.nats.cluster))
                    .await
                    .map(|v| {
                        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                    })
                    .map_err(Failure::from),
            },
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

impl ServeArgs {
    /// The flags as the service takes them.
    fn flags(&self) -> outputs::Flags {
        let a = self.clone();
        outputs::Flags {
            http: a.http,
            http_token_file: a.http_token_file,
            http_host: a.http_host,
            metrics_public: a.metrics_public,
            http_insecure: a.http_insecure,
            http_max_connections: a.http_max_connections,
            mqtt: a.mqtt,
            mqtt_password_file: a.mqtt_password_file,
            mqtt_ca_file: a.mqtt_ca_file,
            mqtt_prefix: a.mqtt_prefix,
            mqtt_queue: a.mqtt_queue,
            snapshots: a.snapshots,
            snapshot_every: a.snapshot_every,
            snapshot_keep: a.snapshot_keep,
        }
    }
}

async fn cameras(args: CamerasArgs) -> Result<(), Failure> {
    let nats = args.nats.auth.nats(&args.nats.cluster);
    let key = fleet_key(args.fleet_key_file.as_ref())?;
    let key = key.as_ref();
    match args.action {
        CamerasAction::Add {
            id,
            url,
            username,
            password_env,
            transport,
        } => {
            let new = commands::NewCamera {
                url,
                username,
                password_env,
                transport,
            };
            commands::cameras_add(&nats, &id, new, key).await
        }
        CamerasAction::Remove { id } => commands::cameras_remove(&nats, &id).await,
        CamerasAction::List => commands::cameras_list(&nats).await,
        CamerasAction::Rekey => commands::cameras_rekey(&nats, key).await,
    }
    .map_err(Failure::from)
}

async fn results(args: ResultsArgs) -> Result<(), Failure> {
    Ok(commands::read(commands::Read {
        nats: args.nats.auth.nats(&args.nats.cluster),
        camera: args.camera,
        from: commands::ReadFrom::new(args.since.as_deref(), args.from_start)?,
        durable: args.durable,
        count: args.count,
        idle: commands::idle(args.idle)?,
    })
    .await?)
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
    let mut out = outputs::resolve(&args.serve.flags(), &file.outputs)?;
    let join = match &args.cluster {
        Some(url) => {
            if !cameras.is_empty() {
                return Err(Failure::new(
                    Exit::Usage,
                    "with --cluster the cameras come from the fleet's registry: add them with \
                     `rtsp-worker cameras add ID URL --cluster …`, not on the command line or in \
                     the config file",
                ));
            }
            Some(fleet::Join::new(
                args.nats_auth.nats(url),
                fleet_key(args.fleet_key_file.as_ref())?,
                args.worker_id.clone(),
                args.lease_ttl,
                args.bench_registry_file_urls,
            )?)
        }
        None => None,
    };
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
        &args.engine.flags(),
        &file.engine,
        snapshots_on,
        args.allow_file_urls || args.bench_registry_file_urls,
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
    };
    let (publisher, snapshots) = out.start_sinks(&metrics)?;
    let service = Service::new(manager.clone(), settings, metrics, publisher);
    if let Some(s) = snapshots {
        service.add_sink(s);
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
        m.leave().await;
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
