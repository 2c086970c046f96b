//! Webhooks (`--webhook URL`, repeatable; `webhook = [...]` in the config file's `[outputs]`
//! and per camera, and in the HTTP API's camera body): track starts and ends and zone events
//! POSTed as JSON to HTTP or HTTPS endpoints.
//!
//! - **Never waits.** [`StreamSink::offer`] only appends to each endpoint's bounded queue; a
//!   full queue refuses the new event and counts it (`queue_full`), so an endpoint that is down
//!   keeps the oldest events of its outage and gets everything after it recovers, in order.
//! - **One delivery at a time per endpoint**, in queue order: the order of each stream's events
//!   is kept. An answer 2xx delivers; 408, 429, 5xx, a timeout or a connection error retry
//!   the same event with exponential backoff (0.25 s doubling to 30 s) and full jitter, for as
//!   long as it takes; any other answer (4xx, and redirects, which are never followed) rejects
//!   that event, counted (`rejected`), and the next goes.
//! - **Signed:** with a secret (`--webhook-secret-file`, or `RTSP_WORKER_WEBHOOK_SECRET`),
//!   each request carries `X-Rtsp-Worker-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.
//!   `X-Rtsp-Worker-Delivery` is the event's id (the same on every retry: a receiver that saw
//!   an id already can drop the repeat a timed-out attempt may cause).
//! - **Shown without its path:** an endpoint is named `scheme://host:port` in logs, metrics and
//!   the API; its path and query (where services put their secret ids) never show.
//!
//! The event bodies are [`StreamEvents`]' (pure); the rest is the delivery (I/O).

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rtsp_worker::{StreamConnection, StreamEvent, TrackingResult};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::sink::{Sink, StreamSink};
use crate::support::{lock, now_secs, tls_client_config};

/// Events held per endpoint while it is slow or away (the default of `--webhook-queue`).
pub const QUEUE: usize = 1024;

/// How long one attempt may take, connecting and answering included.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// How long the end of the run waits for queued events to go out.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// The shortest secret taken.
pub const MIN_SECRET: usize = 16;

const FIRST_BACKOFF: f64 = 0.25;
const CLOSING_RETRY: Duration = Duration::from_millis(500);
const MAX_BACKOFF: f64 = 30.0;

/// The most of an answer's body read (and dropped) before the connection is used again.
const MAX_ANSWER: usize = 64 * 1024;

/// Endpoints one list may name (the command line's, a config file's, a camera's).
pub const MAX_ENDPOINTS: usize = 16;

/// Where to POST: `http://` or `https://` host, port, and the request target (path and
/// query). Shown as `scheme://host:port`, never with its path.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    target: String,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl Endpoint {
    /// Parses `http[s]://host[:port][/path][?query]`. User names and passwords in the URL are
    /// refused (the signature is how a receiver knows us); errors never quote the URL.
    pub fn parse(text: &str) -> Result<Self, String> {
        const FORM: &str = "a webhook must be http[s]://host[:port][/path] (the URL is not shown)";
        let url = url::Url::parse(text.trim()).map_err(|_| FORM.to_owned())?;
        let tls = match url.scheme() {
            "http" => false,
            "https" => true,
            _ => return Err(FORM.into()),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "a webhook URL must not hold a user name or password (requests are signed with \
                 --webhook-secret-file instead; the URL is not shown)"
                    .into(),
            );
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            None => return Err(FORM.into()),
        };
        let port = url.port_or_known_default().ok_or_else(|| FORM.to_owned())?;
        let mut target = url.path().to_owned();
        if let Some(q) = url.query() {
            target.push('?');
            target.push_str(q);
        }
        Ok(Self {
            tls,
            host,
            port,
            target,
        })
    }

    /// Parses a list, at most [`MAX_ENDPOINTS`]; `which` names it in errors.
    pub fn parse_all(texts: &[String], which: &str) -> Result<Vec<Self>, String> {
        if texts.len() > MAX_ENDPOINTS {
            return Err(format!(
                "{which}: at most {MAX_ENDPOINTS} webhooks, {} given",
                texts.len()
            ));
        }
        texts
            .iter()
            .enumerate()
            .map(|(n, t)| Self::parse(t).map_err(|e| format!("{which}: webhook #{}: {e}", n + 1)))
            .collect()
    }

    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match (self.tls, self.port) {
            (false, 80) | (true, 443) => host,
            _ => format!("{host}:{}", self.port),
        }
    }
}

/// The signing key. Never shown.
#[derive(Clone)]
pub struct Secret(Arc<[u8]>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Secret {
    /// A secret from a file's text or the environment's (trailing newlines dropped);
    /// `which` names its source in errors, which never show it.
    pub fn parse(text: &str, which: &str) -> Result<Self, String> {
        let s = text.trim_end_matches(['\n', '\r']);
        if s.len() < MIN_SECRET {
            return Err(format!(
                "{which}: the webhook secret must be at least {MIN_SECRET} bytes"
            ));
        }
        Ok(Self(s.as_bytes().into()))
    }

    /// `sha256=<hex>`: HMAC-SHA256 of `body` under this secret.
    pub fn sign(&self, body: &[u8]) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.0);
        let tag = ring::hmac::sign(&key, body);
        let mut out = String::with_capacity(7 + 64);
        out.push_str("sha256=");
        for b in tag.as_ref() {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }
}

/// How every endpoint is reached, shared by the process's and the cameras' endpoints.
#[derive(Debug, Clone)]
pub struct Settings {
    pub secret: Option<Secret>,
    /// PEM roots for `https://` endpoints (`--webhook-ca-file`); the system's without.
    pub ca_file: Option<PathBuf>,
    /// Events held per endpoint.
    pub queue: usize,
    pub timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            secret: None,
            ca_file: None,
            queue: QUEUE,
            timeout: TIMEOUT,
        }
    }
}

/// One camera's webhook events, as JSON bodies: pure, no I/O.
///
/// Every body has `id` (unique per run, the same on retries), `camera`, `sequence` (1, 2, …
/// per camera and run: gaps are drops), `time` (the frame's capture time, seconds),
/// `sent_at` (wall clock when it was made), `kind` and `type`:
/// - `kind: "track"`, `type: "start" | "end"`: a track is first reported / ends (or the
///   camera goes away: `reason: "camera_ended"`), with `track_id`, `label`, `score`, `box`,
///   and at the end `start_time` and `top_score`.
/// - `kind: "zone"`, `type: "entered" | "left" | "loitering" | "crossed"`: the zone or line
///   event as the results carry it (`zone` or `line`, `track_id`, `label`, …).
#[derive(Debug)]
pub struct StreamEvents {
    camera: String,
    run: String,
    sequence: u64,
    live: BTreeMap<u64, Live>,
}

#[derive(Debug)]
struct Live {
    start: f64,
    label: String,
    top_score: f32,
    last_box: [f32; 4],
}

impl StreamEvents {
    /// `run` makes ids unique across runs (the process's start time and id).
    pub fn new(camera: &str, run: &str) -> Self {
        Self {
            camera: camera.to_owned(),
            run: run.to_owned(),
            sequence: 0,
            live: BTreeMap::new(),
        }
    }

    fn body(&mut self, time: f64, kind: &str, mut fields: Value) -> (String, Bytes) {
        self.sequence += 1;
        let id = format!("{}-{}-{}", self.camera, self.run, self.sequence);
        let mut body = json!({
            "id": id,
            "camera": self.camera,
            "sequence": self.sequence,
            "time": time,
            "sent_at": now_secs(),
            "kind": kind,
        });
        if let (Some(b), Some(f)) = (body.as_object_mut(), fields.as_object_mut()) {
            b.append(f);
        }
        (id, Bytes::from(body.to_string()))
    }

    /// The bodies one result gives: starts, then ends, then zone events.
    pub fn on_result(&mut self, r: &TrackingResult) -> Vec<(String, Bytes)> {
        let time = r.timestamp;
        let mut out = Vec::new();
        for t in &r.tracked_objects {
            match self.live.get_mut(&t.track_id) {
                Some(l) => {
                    l.top_score = l.top_score.max(t.confidence);
                    l.last_box = t.bbox;
                }
                None => {
                    self.live.insert(
                        t.track_id,
                        Live {
                            start: time,
                            label: t.class_name.clone(),
                            top_score: t.confidence,
                            last_box: t.bbox,
                        },
                    );
                    out.push(self.body(
                        time,
                        "track",
                        json!({
                            "type": "start",
                            "track_id": t.track_id,
                            "label": t.class_name,
                            "score": t.confidence,
                            "box": t.bbox,
                        }),
                    ));
                }
            }
        }
        for t in &r.ended_tracks {
            if let Some(l) = self.live.remove(&t.track_id) {
                out.push(self.body(
                    time,
                    "track",
                    json!({
                        "type": "end",
                        "track_id": t.track_id,
                        "label": l.label,
                        "box": t.bbox,
                        "start_time": l.start,
                        "top_score": l.top_score,
                        "reason": r.tracks_restarted.unwrap_or("track_ended"),
                    }),
                ));
            }
        }
        for e in &r.zone_events {
            let v = serde_json::to_value(e).unwrap_or(Value::Null);
            out.push(self.body(time, "zone", v));
        }
        out
    }

    /// The camera went away: every live track ends.
    pub fn on_end(&mut self, time: f64) -> Vec<(String, Bytes)> {
        let live = std::mem::take(&mut self.live);
        live.into_iter()
            .map(|(id, l)| {
                self.body(
                    time,
                    "track",
                    json!({
                        "type": "end",
                        "track_id": id,
                        "label": l.label,
                        "box": l.last_box,
                        "start_time": l.start,
                        "top_score": l.top_score,
                        "reason": "camera_ended",
                    }),
                )
            })
            .collect()
    }
}

/// What an endpoint's answer means for the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    Retry,
    Rejected,
}

/// 2xx delivers; 408, 429 and 5xx retry; anything else (other 4xx, redirects) rejects.
pub fn verdict(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        408 | 429 | 500..=599 => Verdict::Retry,
        _ => Verdict::Rejected,
    }
}

/// The wait before retry `attempt` (1, 2, …): a uniform draw (`unit` in 0..1) below
/// 0.25 s × 2^(attempt-1), capped at 30 s ("full jitter").
pub fn backoff(attempt: u32, unit: f64) -> Duration {
    let cap =
        (FIRST_BACKOFF * 2f64.powi(attempt.saturating_sub(1).min(16) as i32)).min(MAX_BACKOFF);
    Duration::from_secs_f64(cap * unit.clamp(0.0, 1.0))
}

/// One endpoint's counters.
#[derive(Debug, Default)]
pub struct EndpointStats {
    /// Taken into the queue.
    pub queued: AtomicU64,
    pub delivered: AtomicU64,
    /// Attempts that failed and were tried again.
    pub retried: AtomicU64,
    /// Refused: the queue was full.
    pub queue_full: AtomicU64,
    /// The endpoint answered that it will not take the event (4xx, a redirect).
    pub rejected: AtomicU64,
    /// Still queued when the run ended and the patience ran out.
    pub stopped: AtomicU64,
    /// Waiting now (the one in flight included).
    pub waiting: AtomicU64,
    /// The last attempt failed (the endpoint is slow or away).
    pub failing: AtomicBool,
}

#[derive(Debug)]
struct Delivery {
    serial: u64,
    id: String,
    body: Bytes,
}

/// One endpoint's bounded queue and its delivery task.
#[derive(Debug)]
struct Queue {
    endpoint: Endpoint,
    items: Mutex<VecDeque<Arc<Delivery>>>,
    wake: Notify,
    cap: usize,
    serial: AtomicU64,
    closing: AtomicBool,
    stats: Arc<EndpointStats>,
}

impl Queue {
    /// Never waits: a full queue refuses and counts.
    fn push(&self, id: String, body: Bytes) {
        let mut items = lock(&self.items);
        if items.len() >= self.cap {
            self.stats.queue_full.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        items.push_back(Arc::new(Delivery { serial, id, body }));
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        self.stats
            .waiting
            .store(items.len() as u64, Ordering::Relaxed);
        drop(items);
        self.wake.notify_one();
    }

    fn head(&self) -> Option<Arc<Delivery>> {
        lock(&self.items).front().cloned()
    }

    fn pop(&self, serial: u64) {
        let mut items = lock(&self.items);
        if items.front().is_some_and(|d| d.serial == serial) {
            items.pop_front();
        }
        self.stats
            .waiting
            .store(items.len() as u64, Ordering::Relaxed);
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Connections to one endpoint: one kept open while it works.
struct Client {
    endpoint: Endpoint,
    tls: Option<tokio_rustls::TlsConnector>,
    secret: Option<Secret>,
    timeout: Duration,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Client {
    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let tcp = tokio::net::TcpStream::connect((self.endpoint.host.as_str(), self.endpoint.port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = match &self.tls {
            Some(c) => {
                let name = rustls_pki_types::ServerName::try_from(self.endpoint.host.clone())
                    .map_err(|e| format!("TLS name: {e}"))?;
                Box::new(
                    c.connect(name, tcp)
                        .await
                        .map_err(|e| format!("TLS: {e}"))?,
                )
            }
            None => Box::new(tcp),
        };
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// One attempt: the answer's status, or why there was none.
    async fn attempt(&mut self, d: &Delivery) -> Result<u16, String> {
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.attempt_inner(d)).await {
            Ok(r) => r,
            Err(_) => {
                self.sender = None;
                Err(format!("no answer within {} s", timeout.as_secs_f64()))
            }
        }
    }

    async fn attempt_inner(&mut self, d: &Delivery) -> Result<u16, String> {
        let mut sender = match self.sender.take() {
            Some(s) if !s.is_closed() => s,
            _ => self.connect().await?,
        };
        sender.ready().await.map_err(|e| format!("HTTP: {e}"))?;
        let mut req = hyper::Request::post(self.endpoint.target.as_str())
            .header(hyper::header::HOST, self.endpoint.host_header())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(
                hyper::header::USER_AGENT,
                concat!("rtsp-worker/", env!("CARGO_PKG_VERSION")),
            )
            .header("x-rtsp-worker-delivery", d.id.as_str());
        if let Some(s) = &self.secret {
            req = req.header("x-rtsp-worker-signature-256", s.sign(&d.body));
        }
        let req = req
            .body(Full::new(d.body.clone()))
            .map_err(|e| format!("request: {e}"))?;
        let answer = sender
            .send_request(req)
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
        let status = answer.status().as_u16();
        // The body is read (and dropped) so the connection can carry the next event.
        if Limited::new(answer.into_body(), MAX_ANSWER)
            .collect()
            .await
            .is_ok()
        {
            self.sender = Some(sender);
        }
        Ok(status)
    }
}

/// A uniform draw in 0..1 for the jitter (not for anything secret).
fn unit(seed: &mut u64) -> f64 {
    // splitmix64
    *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Delivers one endpoint's queue, in order, until it is closed and empty.
async fn deliver(queue: Arc<Queue>, mut client: Client) {
    let shown = queue.endpoint.to_string();
    let mut seed = (now_secs() * 1e9) as u64 ^ u64::from(std::process::id());
    let mut attempt = 0u32;
    loop {
        let woken = queue.wake.notified();
        let Some(d) = queue.head() else {
            if queue.closing.load(Ordering::SeqCst) {
                return;
            }
            woken.await;
            continue;
        };
        let failure = match client.attempt(&d).await {
            Ok(status) => match verdict(status) {
                Verdict::Delivered => {
                    queue.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    queue.pop(d.serial);
                    None
                }
                Verdict::Rejected => {
                    queue.stats.rejected.fetch_add(1, Ordering::Relaxed);
                    warn!(endpoint = %shown, status, "webhook endpoint rejected an event; it is dropped (counted)");
                    queue.pop(d.serial);
                    None
                }
                Verdict::Retry => Some(format!("answered {status}")),
            },
            Err(e) => Some(e),
        };
        match failure {
            None => {
                if attempt > 0 {
                    info!(endpoint = %shown, "webhook endpoint delivering again");
                }
                attempt = 0;
                queue.stats.failing.store(false, Ordering::Relaxed);
            }
            Some(why) => {
                attempt += 1;
                queue.stats.retried.fetch_add(1, Ordering::Relaxed);
                queue.stats.failing.store(true, Ordering::Relaxed);
                if attempt == 1 {
                    warn!(endpoint = %shown, error = %why, "webhook endpoint failing; retrying with backoff, events queue (bounded)");
                }
                let mut wait = backoff(attempt, unit(&mut seed));
                // At the end of the run the close's patience is what counts: tries every half
                // second at most, and a long wait under way is cut short when the end comes.
                if queue.closing.load(Ordering::SeqCst) {
                    wait = wait.min(CLOSING_RETRY);
                }
                let closing = async {
                    while !queue.closing.load(Ordering::SeqCst) {
                        queue.wake.notified().await;
                    }
                };
                if queue.closing.load(Ordering::SeqCst) {
                    tokio::time::sleep(wait).await;
                } else {
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = closing => {}
                    }
                }
            }
        }
    }
}

/// A set of endpoints fed by every stream it is opened for: the process's (`--webhook`), or
/// one camera's own.
#[derive(Debug)]
pub struct Webhooks {
    queues: Vec<Arc<Queue>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    run: String,
}

impl Webhooks {
    /// Starts a delivery task per endpoint.
    ///
    /// # Errors
    ///
    /// The TLS settings cannot be made (an unreadable CA file, no root certificates).
    pub fn start(endpoints: &[Endpoint], settings: &Settings) -> Result<Self, String> {
        let tls = if endpoints.iter().any(|e| e.tls) {
            let config = tls_client_config(settings.ca_file.as_deref(), "--webhook-ca-file")?;
            Some(tokio_rustls::TlsConnector::from(Arc::new(config)))
        } else {
            None
        };
        let run = run_id().to_owned();
        let mut queues = Vec::new();
        let mut tasks = Vec::new();
        for e in endpoints {
            let queue = Arc::new(Queue {
                endpoint: e.clone(),
                items: Mutex::new(VecDeque::new()),
                wake: Notify::new(),
                cap: settings.queue.max(1),
                serial: AtomicU64::new(0),
                closing: AtomicBool::new(false),
                stats: Arc::default(),
            });
            let client = Client {
                endpoint: e.clone(),
                tls: e.tls.then(|| tls.clone()).flatten(),
                secret: settings.secret.clone(),
                timeout: settings.timeout,
                sender: None,
            };
            tasks.push(tokio::spawn(deliver(queue.clone(), client)));
            queues.push(queue);
        }
        Ok(Self {
            queues,
            tasks: Mutex::new(tasks),
            run,
        })
    }

    /// Each endpoint as shown and its counters.
    pub fn stats(&self) -> Vec<(String, Arc<EndpointStats>)> {
        self.queues
            .iter()
            .map(|q| (q.endpoint.to_string(), q.stats.clone()))
            .collect()
    }

    /// Waits up to `patience` for the queues to empty, then stops; what is left is counted
    /// (`stopped`).
    pub async fn close(&self, patience: Duration) {
        let deadline = tokio::time::Instant::now() + patience;
        for q in &self.queues {
            q.closing.store(true, Ordering::SeqCst);
            q.wake.notify_waiters();
            q.wake.notify_one();
        }
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        for mut t in tasks {
            if tokio::time::timeout_at(deadline, &mut t).await.is_err() {
                t.abort();
            }
        }
        for q in &self.queues {
            let left = lock(&q.items).len() as u64;
            if left > 0 {
                q.stats.stopped.fetch_add(left, Ordering::Relaxed);
                warn!(endpoint = %q.endpoint, events = left, "webhook events not delivered before the end of the run (counted)");
            }
        }
    }
}

impl Sink for Webhooks {
    fn open(&self, conn: &StreamConnection, _lease: Option<u64>) -> Option<Box<dyn StreamSink>> {
        Some(Box::new(WebhookStream {
            events: StreamEvents::new(conn.id(), &self.run),
            queues: self.queues.clone(),
        }))
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(Webhooks::close(self, PATIENCE))
    }
}

/// One stream's share: its events, to every endpoint's queue.
struct WebhookStream {
    events: StreamEvents,
    queues: Vec<Arc<Queue>>,
}

impl StreamSink for WebhookStream {
    fn offer(&mut self, event: &StreamEvent) {
        let bodies = match event {
            StreamEvent::Result(r) => self.events.on_result(r),
            StreamEvent::Ended { .. } => self.events.on_end(now_secs()),
            _ => return,
        };
        for (id, body) in bodies {
            for q in &self.queues {
                q.push(id.clone(), body.clone());
            }
        }
    }
}

/// This process's part of event ids, the same for every endpoint: the start time (ms) and
/// the process id, in hex.
pub fn run_id() -> &'static str {
    static RUN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    RUN.get_or_init(|| format!("{:x}{:x}", (now_secs() * 1e3) as u64, std::process::id()))
}

/// Reads the secret: a file, else `RTSP_WORKER_WEBHOOK_SECRET`, else none.
pub fn read_secret(file: Option<&Path>) -> Result<Option<Secret>, String> {
    match file {
        Some(path) => {
            let which = format!("--webhook-secret-file {}", path.display());
            let text = std::fs::read_to_string(path).map_err(|e| format!("{which}: {e}"))?;
            Secret::parse(&text, &which).map(Some)
        }
        None => match std::env::var("RTSP_WORKER_WEBHOOK_SECRET") {
            Ok(text) => Secret::parse(&text, "RTSP_WORKER_WEBHOOK_SECRET").map(Some),
            Err(_) => Ok(None),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_and_never_show_their_path() {
        let e = Endpoint::parse("https://hooks.example.org/api/webhook/s3cr3t-id?x=1").unwrap();
        assert_eq!((e.tls, e.port), (true, 443));
        assert_eq!(e.target, "/api/webhook/s3cr3t-id?x=1");
        assert_eq!(e.to_string(), "https://hooks.example.org:443");
        assert!(!format!("{e:?}").contains("s3cr3t"));
        assert_eq!(e.host_header(), "hooks.example.org");
        let e = Endpoint::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!(
            (e.target.as_str(), e.host_header().as_str()),
            ("/", "127.0.0.1:9000")
        );
        let e = Endpoint::parse("http://[::1]:9000/h").unwrap();
        assert_eq!(e.to_string(), "http://[::1]:9000");
        for bad in [
            "ftp://host/x",
            "http://",
            "host:80",
            "file:///etc/passwd",
            "http://user:pw@host/",
        ] {
            let err = Endpoint::parse(bad).unwrap_err();
            assert!(!err.contains("pw@") && !err.contains("passwd"), "{err}");
        }
        let many: Vec<String> = (0..17).map(|n| format!("http://h/{n}")).collect();
        assert!(Endpoint::parse_all(&many, "x").is_err());
    }

    #[test]
    fn signatures_are_hmac_sha256_of_the_body() {
        // Against a value computed independently (Python's `hmac` module).
        let s = Secret::parse("key-of-at-least-16\n", "t").unwrap();
        assert_eq!(
            s.sign(b"The quick brown fox jumps over the lazy dog"),
            "sha256=9003e5d8aa9cfd9d495627d3c1d0339136fa9a68c67cfb7d68440be8ba6cda93"
        );
        assert!(Secret::parse("short", "t").is_err());
        assert!(!format!("{s:?}").contains("key"));
    }

    #[test]
    fn one_start_and_one_end_per_track_numbered_in_order() {
        use crate::events::tests::{result, track};
        let mut e = StreamEvents::new("cam/1", "run");
        let b = e.on_result(&result(1, vec![track(1, 0.0, 0.5, &[])], vec![]));
        assert_eq!(b.len(), 1);
        let v: Value = serde_json::from_slice(&b[0].1).unwrap();
        assert_eq!(
            (&v["kind"], &v["type"], &v["sequence"], &v["track_id"]),
            (&json!("track"), &json!("start"), &json!(1), &json!(1))
        );
        assert_eq!(v["id"], json!(b[0].0));
        assert!(
            e.on_result(&result(2, vec![track(1, 5.0, 0.9, &[])], vec![]))
                .is_empty()
        );
        let b = e.on_result(&result(
            3,
            vec![track(2, 50.0, 0.6, &[])],
            vec![track(1, 6.0, 0.9, &[])],
        ));
        let kinds: Vec<(String, u64)> = b
            .iter()
            .map(|(_, b)| {
                let v: Value = serde_json::from_slice(b).unwrap();
                (
                    v["type"].as_str().unwrap().to_owned(),
                    v["sequence"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(kinds, [("start".into(), 2), ("end".into(), 3)]);
        let end: Value = serde_json::from_slice(&b[1].1).unwrap();
        assert_eq!(
            (
                end["start_time"].as_f64(),
                end["top_score"].as_f64().map(|s| s as f32)
            ),
            (Some(1.0), Some(0.9))
        );
        let b = e.on_end(9.0);
        let v: Value = serde_json::from_slice(&b[0].1).unwrap();
        assert_eq!(
            (&v["type"], &v["reason"], &v["track_id"]),
            (&json!("end"), &json!("camera_ended"), &json!(2))
        );
        assert!(e.on_end(10.0).is_empty());
    }

    #[tokio::test]
    async fn a_full_queue_refuses_and_counts_and_the_end_counts_what_is_left() {
        // A port nobody listens on: every attempt fails at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = Endpoint::parse(&format!("http://127.0.0.1:{port}/x")).unwrap();
        let settings = Settings {
            queue: 3,
            ..Settings::default()
        };
        let w = Webhooks::start(&[e], &settings).unwrap();
        for n in 0..5 {
            w.queues[0].push(n.to_string(), Bytes::from_static(b"{}"));
        }
        let s = w.stats()[0].1.clone();
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        assert_eq!((n(&s.queued), n(&s.queue_full)), (3, 2));
        let started = std::time::Instant::now();
        w.close(Duration::from_millis(700)).await;
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!((n(&s.stopped), n(&s.delivered)), (3, 0));
        // Tried, but not in a tight loop while closing.
        assert!((1..20).contains(&n(&s.retried)), "{}", n(&s.retried));
        assert!(s.failing.load(Ordering::Relaxed));
    }

    #[test]
    fn answers_and_backoff() {
        assert_eq!(verdict(204), Verdict::Delivered);
        assert_eq!(verdict(503), Verdict::Retry);
        assert_eq!(verdict(429), Verdict::Retry);
        assert_eq!(verdict(404), Verdict::Rejected);
        assert_eq!(verdict(302), Verdict::Rejected);
        assert_eq!(backoff(1, 1.0), Duration::from_millis(250));
        assert_eq!(backoff(3, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(40, 1.0), Duration::from_secs(30));
        assert_eq!(backoff(5, 0.0), Duration::ZERO);
        let mut seed = 7;
        for _ in 0..1000 {
            let u = unit(&mut seed);
            assert!((0.0..1.0).contains(&u));
        }
    }
}
