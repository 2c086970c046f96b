//! `rtsp-worker demo`: the setup's sample clips served over RTSP on loopback
//! (`service::demo`), watched like cameras, one human line per stream and second.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use service::metrics::Metrics;
use service::{Mode, Origin, Service, config, demo, engine, http};

use crate::exit::{Exit, Failure};
use crate::status::status_lines;
use crate::stop;

/// `rtsp-worker demo`'s arguments.
#[derive(Args)]
pub(crate) struct DemoArgs {
    #[command(flatten)]
    pub(crate) engine: engine::Flags,
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
    /// Publish the demo's events, counts and Home Assistant discovery to this MQTT broker,
    /// mqtt://host[:port] (topics under rtsp-worker/, discovery under homeassistant/)
    #[arg(long, value_name = "URL")]
    pub(crate) mqtt: Option<String>,
    /// Seconds between status lines on stderr (0: none)
    #[arg(long, default_value_t = 2.0)]
    pub(crate) status_every: f64,
}

pub(crate) async fn demo(args: DemoArgs) -> Result<(), Failure> {
    let mqtt = match &args.mqtt {
        Some(url) => {
            let broker = service::mqtt::parse_broker(url, false)
                .map_err(|m| Failure::new(Exit::Usage, m))?;
            Some(
                service::mqtt::Publisher::start(
                    &broker,
                    "rtsp-worker",
                    service::mqtt::QUEUE,
                    Some(service::discovery::PREFIX),
                )
                .map_err(|m| Failure::new(Exit::Usage, m))?,
            )
        }
        None => None,
    };
    let (server, cameras) = demo::start()?;
    let state = Arc::new(http::AppState::default());
    let metrics = Metrics::default();
    let (page, server_task) = if args.no_http {
        (None, None)
    } else {
        let listener = demo::bind(&args.http)?;
        let local = listener
            .local_addr()
            .map_err(|e| Failure::new(Exit::Unexpected, e.to_string()))?;
        let serving = http::serve(
            listener,
            state.clone(),
            http::Access::default(),
            http::Limits::default(),
            metrics.connections.clone(),
        )
        .map_err(|m| Failure::new(Exit::Unexpected, m))?;
        (Some(format!("http://{local}/")), Some(serving))
    };
    let manager = engine::manager(
        &args.engine,
        &config::Engine::default(),
        page.is_some(),
        false,
    )
    .await?;
    eprintln!(
        "demo: {} streams served over RTSP on 127.0.0.1:{} — pedestrians (OpenCV's vtest, \
         768x576 10 fps H.264, with a zone and a counting line), moving boxes (720p25 H.264) \
         and a test pattern (720p25 H.265) — for {:.0} s (Ctrl-C stops it earlier). One line \
         per stream and second: the frame, its latency, its confirmed tracks.",
        cameras.len(),
        server.port,
        args.duration
    );
    if let Some(page) = &page {
        eprintln!(
            "demo: live view, API and metrics on {page} (open it in a browser; click a \
             camera's name to draw zones on it — `--duration 600` leaves time to)"
        );
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
        webhook: service::webhook::Settings::default(),
        model_dir: None,
        file_model: None,
    };
    let service = Service::new(manager.clone(), settings, metrics, mqtt);
    let _ = state.service.set(service.clone());
    for camera in cameras {
        service
            .add(camera, Origin::CommandLine)
            .await
            .map_err(|e| Failure::new(Exit::Unexpected, e.to_string()))?;
    }
    let status = status_lines(&manager, args.status_every);
    let stopped = stop::wait(&service, Some(Duration::from_secs_f64(args.duration))).await;
    if let Some(s) = status {
        s.abort();
    }
    let seen = stop::finish(&service, stopped).await?.seen;
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
