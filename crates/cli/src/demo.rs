//! `rtsp-worker demo`: the setup's sample clips served over RTSP on loopback by GStreamer's
//! server (the same script the tests use, built into the binary), watched like cameras.

use clap::Args;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rtsp_worker::zones::{Line, Scene, Zone};

use crate::exit::{Exit, Failure};
use crate::http;
use crate::manager::{EngineArgs, manager, status_lines};
use crate::metrics::Metrics;
use crate::service::{self, Mode, Origin, Service};
use ::service::config::{self, Camera};

/// `rtsp-worker demo`'s arguments.
#[derive(Args)]
pub(crate) struct DemoArgs {
    #[command(flatten)]
    pub(crate) engine: EngineArgs,
    /// Seconds to run (Ctrl-C stops it earlier)
    #[arg(long, default_value_t = 30.0)]
    pub(crate) duration: f64,
    /// JSON lines on stdout instead of the human summary
    #[arg(long)]
    pub(crate) json: bool,
    /// Where the status page is served (another free port if this one is taken)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub(crate) http: String,
    /// No HTTP server
    #[arg(long)]
    pub(crate) no_http: bool,
    /// Seconds between status lines on stderr (0: none)
    #[arg(long, default_value_t = 2.0)]
    pub(crate) status_every: f64,
}

/// The loopback RTSP server script (also run by the tests).
const SERVER: &str = include_str!("../../testkit/rtsp_server.py");

/// The streams: (id, clip, frame rate).
const STREAMS: [(&str, &str, u32); 3] = [
    ("people", "vtest_576p10.h264", 10),
    ("boxes", "boxes_720p25.h264", 25),
    ("pattern", "h265_720p25.h265", 25),
];

/// The clips folder `cargo xtask setup` fills.
fn clips() -> PathBuf {
    match std::env::var_os("RTSP_WORKER_CLIPS").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => rtsp_worker::cache_dir().join("clips"),
    }
}

/// The server, killed (and its script removed) when dropped.
struct Server {
    child: Child,
    script: PathBuf,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.script);
    }
}

fn start_server(mounts: &[String]) -> Result<Server, Failure> {
    let script = std::env::temp_dir().join(format!("rtsp-worker-demo-{}.py", std::process::id()));
    std::fs::write(&script, SERVER).map_err(|e| {
        Failure::new(
            Exit::Unexpected,
            format!("writing {}: {e}", script.display()),
        )
    })?;
    let mut child = Command::new("/usr/bin/python3")
        .arg(&script)
        .args(mounts)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| {
            Failure::new(
                Exit::Provision,
                format!(
                    "cannot start the loopback RTSP server (/usr/bin/python3 with GStreamer's \
                     RTSP server; run `cargo xtask setup`): {e}"
                ),
            )
        })?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    let port = line
        .trim()
        .strip_prefix("READY ")
        .and_then(|p| p.parse().ok());
    match port {
        Some(port) => Ok(Server {
            child,
            script,
            port,
        }),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(&script);
            Err(Failure::new(
                Exit::Provision,
                format!(
                    "the loopback RTSP server did not start (got {line:?}); run `cargo xtask \
                     setup` for GStreamer's RTSP server"
                ),
            ))
        }
    }
}

/// The demo's zones and lines, on the pedestrian clip (768x576): a counting line across the
/// middle and the lower right quarter as a zone, to show them on the status page.
fn people_scene() -> Scene {
    Scene {
        zones: vec![Zone::new(
            "lower right",
            vec![
                (384.0, 288.0),
                (768.0, 288.0),
                (768.0, 576.0),
                (384.0, 576.0),
            ],
        )],
        lines: vec![Line::new("middle", (384.0, 0.0), (384.0, 576.0))],
    }
}

/// Binds the demo's HTTP address (loopback only: the demo has no token), or any free port
/// on loopback if it is taken.
fn bind_demo(addr: &str) -> Result<std::net::TcpListener, Failure> {
    let addr = http::parse_addr(addr).map_err(|m| Failure::new(Exit::Usage, m))?;
    if !addr.ip().is_loopback() {
        return Err(Failure::new(
            Exit::Usage,
            format!("--http {addr}: the demo serves on loopback only (it has no token)"),
        ));
    }
    match http::bind(addr) {
        Ok(l) => Ok(l),
        Err(first) => http::bind((std::net::Ipv4Addr::LOCALHOST, 0).into())
            .map_err(|m| Failure::new(Exit::Unexpected, format!("{first}; {m}"))),
    }
}

pub(crate) async fn demo(args: DemoArgs) -> Result<(), Failure> {
    let dir = clips();
    let mut mounts = Vec::new();
    for (id, clip, fps) in STREAMS {
        let path = dir.join(clip);
        if !path.is_file() {
            return Err(Failure::new(
                Exit::Provision,
                format!(
                    "sample clip {} missing: run `cargo xtask setup`",
                    path.display()
                ),
            ));
        }
        mounts.push(format!("/{id}={}@{fps}", path.display()));
    }
    let state = Arc::new(http::AppState::default());
    let metrics = Metrics::default();
    let (page, server_task) = if args.no_http {
        (None, None)
    } else {
        let listener = bind_demo(&args.http)?;
        let local = listener
            .local_addr()
            .map_err(|e| Failure::new(Exit::Unexpected, e.to_string()))?;
        (
            Some(format!("http://{local}/")),
            Some(
                http::serve(
                    listener,
                    state.clone(),
                    http::Access::default(),
                    http::Limits::default(),
                    metrics.connections.clone(),
                )
                .map_err(|m| Failure::new(Exit::Unexpected, m))?,
            ),
        )
    };
    let manager = manager(
        &args.engine,
        &config::Engine::default(),
        page.is_some(),
        false,
    )
    .await?;
    let server = start_server(&mounts)?;
    eprintln!(
        "demo: {} streams served over RTSP on 127.0.0.1:{} — pedestrians (OpenCV's vtest, \
         768x576 10 fps H.264, with a zone and a counting line), moving boxes (720p25 H.264) \
         and a test pattern (720p25 H.265) — for {:.0} s (Ctrl-C stops it earlier). One line \
         per stream and second: the frame, its latency, its confirmed tracks.",
        STREAMS.len(),
        server.port,
        args.duration
    );
    if let Some(page) = &page {
        eprintln!("demo: live view, API and metrics on {page} (open it in a browser)");
    }
    let settings = service::Settings {
        mode: if args.json {
            Mode::Json { events: false }
        } else {
            Mode::Human
        },
        default_transport: rtsp_worker::Transport::Auto,
        give_up_after: None,
        keep_running: false,
        config_path: None,
        first_free: 0,
        allow_file_urls: false,
    };
    let service = Service::new(manager.clone(), settings, metrics, None);
    let _ = state.service.set(service.clone());
    for (id, _, _) in STREAMS {
        let camera = Camera {
            id: id.to_owned(),
            url: format!("rtsp://127.0.0.1:{}/{id}", server.port),
            credentials: None,
            transport: None,
            scene: if id == "people" {
                people_scene()
            } else {
                Scene::default()
            },
            first_track_id: 0,
            lease_token: None,
        };
        service
            .add(camera, Origin::CommandLine)
            .await
            .map_err(|e| Failure::new(Exit::Unexpected, e.to_string()))?;
    }
    let status = status_lines(&manager, args.status_every);
    let stopped = service
        .wait_for_stop(Some(Duration::from_secs_f64(args.duration)))
        .await;
    if let Some(s) = status {
        s.abort();
    }
    let seen = service.finish(stopped).await?;
    if let Some(t) = server_task {
        t.stop();
    }
    drop(server);
    for (id, s) in &seen {
        let summary: Vec<String> = s.tracks.iter().map(|(c, n)| format!("{n} {c}")).collect();
        eprintln!(
            "demo: {id}: {} results, confirmed tracks: {}",
            s.results,
            if summary.is_empty() {
                "none".to_owned()
            } else {
                summary.join(", ")
            }
        );
    }
    Ok(())
}
