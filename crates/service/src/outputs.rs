//! The outputs as the operator asks for them: the command line's flags, with the cameras
//! file's `[outputs]` filling what they leave unset, checked before anything starts — the
//! HTTP server's address, token and host names (and the refusal to serve beyond loopback
//! without a token), the MQTT broker and its password (a file or the environment, never the
//! command line), the snapshot folder and period.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::metrics::Metrics;
use crate::snapshots::Snapshots;
use crate::webhook::{self, Endpoint, Webhooks};
use crate::{Error, config, http, mqtt};

/// The operator's outputs besides stdout, as the command line gives them (`run` flattens
/// them into its flags); the cameras file's `[outputs]` fills what they leave unset.
#[derive(Debug, Clone, clap::Args)]
#[group(id = "outputs")]
pub struct Flags {
    #[arg(
        long,
        value_name = "ADDR",
        num_args = 0..=1,
        default_missing_value = "127.0.0.1:8080",
        help = "Serve the HTTP API, /metrics and the status page on ADDR [default when given \
                alone: 127.0.0.1:8080]"
    )]
    pub http: Option<String>,
    /// A file holding the HTTP server's token (at least 16 characters): every route but
    /// /healthz, /readyz and the page then needs `Authorization: Bearer <token>`. Also
    /// RTSP_WORKER_HTTP_TOKEN [required to serve beyond loopback]
    #[arg(long, value_name = "FILE")]
    pub http_token_file: Option<PathBuf>,
    /// A host name the HTTP server answers to besides IP addresses and localhost (the name
    /// users or a reverse proxy reach it by); repeatable. Other Host headers get 421
    #[arg(long, value_name = "NAME")]
    pub http_host: Vec<String>,
    /// Serve /metrics without the token
    #[arg(long)]
    pub metrics_public: bool,
    /// Serve beyond loopback without a token (behind an authenticating reverse proxy only)
    #[arg(long)]
    pub http_insecure: bool,
    /// Open HTTP connections at most; at the cap the oldest idle one is closed
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub http_max_connections: usize,
    #[arg(
        long,
        value_name = "URL",
        help = "Publish object events to an MQTT broker, mqtt://[user@]host[:port], or \
                mqtts://… over TLS (Frigate-style topics)"
    )]
    pub mqtt: Option<String>,
    /// A file holding the MQTT password (also RTSP_WORKER_MQTT_PASSWORD); the user name goes
    /// in the URL
    #[arg(long, value_name = "FILE")]
    pub mqtt_password_file: Option<PathBuf>,
    /// PEM certificates the mqtts:// broker's certificate must chain to [default: the
    /// system's roots]
    #[arg(long, value_name = "FILE")]
    pub mqtt_ca_file: Option<PathBuf>,
    /// The MQTT topic prefix [default: rtsp-worker]
    #[arg(long)]
    pub mqtt_prefix: Option<String>,
    /// Announce each camera's counts, zones, lines and connection to Home Assistant under
    /// this discovery prefix (retained configs), or `off` [default: homeassistant]
    #[arg(long, value_name = "PREFIX")]
    pub mqtt_discovery: Option<String>,
    /// MQTT messages held while the broker is away; more are dropped, counted
    #[arg(long, value_name = "N", default_value_t = mqtt::QUEUE)]
    pub mqtt_queue: usize,
    /// Write annotated JPEGs per stream into this folder
    #[arg(long, value_name = "DIR")]
    pub snapshots: Option<PathBuf>,
    /// Seconds between snapshot files per stream [default: 5]
    #[arg(long, value_name = "SECS")]
    pub snapshot_every: Option<f64>,
    /// Snapshot files kept per stream (the oldest go)
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub snapshot_keep: usize,
    /// POST track starts and ends and zone events as JSON to this http:// or https:// URL;
    /// repeatable (docs/RESULTS.md "Webhooks")
    #[arg(long, value_name = "URL")]
    pub webhook: Vec<String>,
    /// A file holding the webhook secret (at least 16 bytes; also RTSP_WORKER_WEBHOOK_SECRET):
    /// each request is signed, X-Rtsp-Worker-Signature-256: sha256=HMAC-SHA256(body)
    #[arg(long, value_name = "FILE")]
    pub webhook_secret_file: Option<PathBuf>,
    /// PEM certificates https:// webhooks must chain to [default: the system's roots]
    #[arg(long, value_name = "FILE")]
    pub webhook_ca_file: Option<PathBuf>,
    /// Events held per webhook endpoint while it is slow or away; more are dropped, counted
    #[arg(long, value_name = "N", default_value_t = webhook::QUEUE)]
    pub webhook_queue: usize,
}

/// The HTTP server as asked for.
#[derive(Debug)]
pub struct HttpServe {
    addr: std::net::SocketAddr,
    access: http::Access,
    limits: http::Limits,
    /// Beyond loopback without a token (`--http-insecure`).
    insecure: bool,
}

impl HttpServe {
    /// Binds and serves; returns the server and a line for the operator saying where and how.
    pub fn start(
        self,
        state: Arc<http::AppState>,
        connections: Arc<http::ConnStats>,
    ) -> Result<(http::Serving, String), Error> {
        let listener = http::bind(self.addr).map_err(Error::Usage)?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::unexpected(e.to_string()))?;
        let how = match (&self.access.token, self.insecure) {
            (Some(_), _) => "token required",
            (None, true) => "INSECURE: no token, reachable from the network (--http-insecure)",
            (None, false) => "no token: loopback only",
        };
        let serving = http::serve(listener, state, self.access, self.limits, connections)
            .map_err(Error::Unexpected)?;
        Ok((
            serving,
            format!("status page and API on http://{local}/ ({how})"),
        ))
    }
}

/// The HTTP server's settings: the address, the token (a file, else the environment),
/// and the refusal to serve beyond loopback without one.
fn http_serve(args: &Flags, file: &config::Outputs) -> Result<Option<HttpServe>, Error> {
    let Some(addr) = args.http.clone().or_else(|| file.http.clone()) else {
        return Ok(None);
    };
    let addr = http::parse_addr(&addr).map_err(Error::Usage)?;
    let token = match args
        .http_token_file
        .as_ref()
        .or(file.http_token_file.as_ref())
    {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::usage(format!("--http-token-file {}: {e}", path.display())))?;
            Some(
                http::Token::parse(&text, &format!("--http-token-file {}", path.display()))
                    .map_err(Error::Usage)?,
            )
        }
        None => match std::env::var("RTSP_WORKER_HTTP_TOKEN") {
            Ok(text) => {
                Some(http::Token::parse(&text, "RTSP_WORKER_HTTP_TOKEN").map_err(Error::Usage)?)
            }
            Err(_) => None,
        },
    };
    let loopback = addr.ip().is_loopback();
    if !loopback && token.is_none() && !args.http_insecure {
        return Err(Error::usage(format!(
            "--http {addr} is reachable from the network, and without a token anyone who \
                 reaches it can add and remove cameras: give --http-token-file FILE (or \
                 RTSP_WORKER_HTTP_TOKEN), or --http-insecure behind a reverse proxy that \
                 authenticates (docs/SECURITY.md)"
        )));
    }
    if args.http_max_connections == 0 {
        return Err(Error::usage("--http-max-connections must be at least 1"));
    }
    let mut hosts = Vec::new();
    for h in args.http_host.iter().chain(&file.http_hosts) {
        let name = h.trim().trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        {
            return Err(Error::usage(format!(
                "--http-host {h:?} is not a host name"
            )));
        }
        hosts.push(name);
    }
    Ok(Some(HttpServe {
        addr,
        access: http::Access {
            token,
            metrics_public: args.metrics_public || file.metrics_public.unwrap_or(false),
            hosts,
        },
        limits: http::Limits {
            max_connections: args.http_max_connections,
            ..http::Limits::default()
        },
        insecure: !loopback && args.http_insecure,
    }))
}

/// The sinks [`Outputs::start_sinks`] started.
#[derive(Debug)]
pub struct Started {
    pub mqtt: Option<mqtt::Publisher>,
    pub snapshots: Option<Arc<Snapshots>>,
    pub webhooks: Option<Arc<Webhooks>>,
}

/// What `run` serves besides stdout, the file's `[outputs]` filling what the flags leave.
#[derive(Debug)]
pub struct Outputs {
    pub http: Option<HttpServe>,
    /// The broker, the topic prefix, the queue, and Home Assistant's discovery prefix.
    pub mqtt: Option<(mqtt::Broker, String, usize, Option<String>)>,
    pub snapshots: Option<(PathBuf, Duration, usize)>,
    /// The process's webhooks (`--webhook`, else the file's), and how every webhook (the
    /// cameras' own too) is reached.
    pub webhooks: Vec<Endpoint>,
    pub webhook: webhook::Settings,
}

pub fn resolve(args: &Flags, file: &config::Outputs) -> Result<Outputs, Error> {
    let mqtt = match (&args.mqtt, &file.mqtt) {
        (None, None) => None,
        (from_flag, from_file) => {
            // A password may sit in the config file's URL, not in the command line's.
            let (url, in_file) = match from_flag {
                Some(url) => (url, false),
                None => (from_file.as_ref().expect("one is set"), true),
            };
            let mut broker = mqtt::parse_broker(url, in_file).map_err(Error::Usage)?;
            let password = match args
                .mqtt_password_file
                .as_ref()
                .or(file.mqtt_password_file.as_ref())
            {
                Some(path) => Some(
                    std::fs::read_to_string(path)
                        .map(|t| t.trim_end_matches(['\n', '\r']).to_owned())
                        .map_err(|e| {
                            Error::usage(format!("--mqtt-password-file {}: {e}", path.display()))
                        })?,
                ),
                None => std::env::var("RTSP_WORKER_MQTT_PASSWORD").ok(),
            };
            if let Some(p) = password {
                broker = broker.with_password(p).map_err(Error::Usage)?;
            }
            broker.ca_file = args
                .mqtt_ca_file
                .clone()
                .or_else(|| file.mqtt_ca_file.clone());
            let prefix = args
                .mqtt_prefix
                .clone()
                .or_else(|| file.mqtt_prefix.clone())
                .unwrap_or_else(|| "rtsp-worker".into());
            mqtt::check_prefix(&prefix).map_err(Error::Usage)?;
            let discovery = match args
                .mqtt_discovery
                .clone()
                .or_else(|| file.mqtt_discovery.clone())
            {
                Some(d) if d == "off" => None,
                Some(d) => {
                    mqtt::check_prefix(&d)
                        .map_err(|e| Error::usage(format!("--mqtt-discovery: {e}")))?;
                    Some(d)
                }
                None => Some(crate::discovery::PREFIX.to_owned()),
            };
            Some((broker, prefix, args.mqtt_queue, discovery))
        }
    };
    let every = args.snapshot_every.or(file.snapshot_every).unwrap_or(5.0);
    if !(every > 0.0 && every.is_finite()) {
        return Err(Error::usage(
            "--snapshot-every must be a positive number of seconds",
        ));
    }
    if args.snapshot_keep == 0 {
        return Err(Error::usage("--snapshot-keep must be at least 1"));
    }
    let webhooks = if args.webhook.is_empty() {
        Endpoint::parse_all(&file.webhook, "[outputs] webhook")
    } else {
        Endpoint::parse_all(&args.webhook, "--webhook")
    }
    .map_err(Error::Usage)?;
    if args.webhook_queue == 0 {
        return Err(Error::usage("--webhook-queue must be at least 1"));
    }
    let webhook = webhook::Settings {
        secret: webhook::read_secret(
            args.webhook_secret_file
                .as_deref()
                .or(file.webhook_secret_file.as_deref()),
        )
        .map_err(Error::Usage)?,
        ca_file: args
            .webhook_ca_file
            .clone()
            .or_else(|| file.webhook_ca_file.clone()),
        queue: args.webhook_queue,
        timeout: webhook::TIMEOUT,
    };
    // A CA file is read now: a bad one is the operator's to fix before anything starts.
    if let Some(ca) = &webhook.ca_file {
        crate::support::tls_client_config(Some(ca), "--webhook-ca-file").map_err(Error::Usage)?;
    }
    Ok(Outputs {
        http: http_serve(args, file)?,
        mqtt,
        snapshots: args
            .snapshots
            .clone()
            .or_else(|| file.snapshots.clone())
            .map(|d| (d, Duration::from_secs_f64(every), args.snapshot_keep)),
        webhooks,
        webhook,
    })
}

impl Outputs {
    /// Starts the sinks asked for besides stdout and the metrics: the MQTT publisher (it
    /// connects in the background), the snapshot writer and the webhooks, counting into
    /// `metrics`.
    pub fn start_sinks(&mut self, metrics: &Metrics) -> Result<Started, Error> {
        let publisher = match &self.mqtt {
            Some((broker, prefix, queue, discovery)) => Some(
                mqtt::Publisher::start(broker, prefix, *queue, discovery.as_deref())
                    .map_err(Error::Usage)?,
            ),
            None => None,
        };
        let snapshots = self.snapshots.take().map(|(dir, every, keep)| {
            Arc::new(Snapshots::start(
                dir,
                every,
                keep,
                metrics.snapshots_written.clone(),
                metrics.snapshots_dropped.clone(),
            ))
        });
        let webhooks = if self.webhooks.is_empty() {
            None
        } else {
            let w = Webhooks::start(&self.webhooks, &self.webhook).map_err(Error::Usage)?;
            metrics.add_webhooks(None, &w);
            Some(Arc::new(w))
        };
        Ok(Started {
            mqtt: publisher,
            snapshots,
            webhooks,
        })
    }
}
