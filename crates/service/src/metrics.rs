//! `GET /metrics`: the manager's statistics in Prometheus' text format, written by the
//! `prometheus-client` library. Counters and gauges are read from `get_stats()` at each
//! scrape (the facade already counts everything); the latency histograms are fed by the
//! stream consumers, one observation per result.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use rtsp_worker::{ManagerStats, StreamState};

use crate::mqtt::MqttStats;
use crate::sink::{Sink, StreamSink};
use crate::support::lock;
use crate::webhook::{EndpointStats, Webhooks};

type Labels = Vec<(String, String)>;
type Latency = Family<Labels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 5 ms to ~20 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

/// The HTTP server's connection counters (`http::server` keeps them).
#[derive(Debug, Default)]
pub struct ConnStats {
    /// Open now.
    pub open: AtomicUsize,
    /// Accepted since the start.
    pub accepted: AtomicU64,
    /// Idle connections closed to make room for a new one.
    pub evicted: AtomicU64,
    /// New connections closed at once because every open one was busy.
    pub refused: AtomicU64,
}

/// The metrics the process keeps between scrapes.
#[derive(Debug, Clone)]
pub struct Metrics {
    latency: Latency,
    pub mqtt: Option<Arc<MqttStats>>,
    pub snapshots_written: Arc<AtomicU64>,
    /// Snapshots the writer's queue had no room for (the disk was slower than the period).
    pub snapshots_dropped: Arc<AtomicU64>,
    /// JSON lines stdout had no room for (it was slower than the cameras).
    pub stdout_lines_dropped: Arc<AtomicU64>,
    /// The HTTP server's connections.
    pub connections: Arc<ConnStats>,
    /// Webhook endpoints: the camera they belong to (`None`: the process's), how each is
    /// shown, its counters.
    webhooks: Arc<Mutex<Vec<WebhookEntry>>>,
}

type WebhookEntry = (Option<String>, String, Arc<EndpointStats>);

impl Default for Metrics {
    fn default() -> Self {
        Self {
            latency: Family::new_with_constructor(latency_histogram),
            mqtt: None,
            snapshots_written: Arc::default(),
            snapshots_dropped: Arc::default(),
            stdout_lines_dropped: Arc::default(),
            connections: Arc::default(),
            webhooks: Arc::default(),
        }
    }
}

fn stream_label(id: &str) -> Labels {
    vec![("stream".into(), id.into())]
}

fn counter(v: u64) -> Counter {
    let c = Counter::default();
    c.inc_by(v);
    c
}

fn gauge(v: f64) -> Gauge<f64, AtomicU64> {
    let g = Gauge::<f64, AtomicU64>::default();
    g.set(v);
    g
}

/// A labelled family built for one scrape.
fn counters() -> Family<Labels, Counter> {
    Family::default()
}

fn gauges() -> Family<Labels, Gauge<f64, AtomicU64>> {
    Family::default()
}

impl Metrics {
    /// One result's latency (seconds).
    pub fn observe_latency(&self, stream: &str, seconds: f64) {
        self.latency
            .get_or_create(&stream_label(stream))
            .observe(seconds);
    }

    /// Forgets a stream that is gone (its own webhooks too).
    pub fn forget(&self, stream: &str) {
        self.latency.remove(&stream_label(stream));
        lock(&self.webhooks).retain(|(s, _, _)| s.as_deref() != Some(stream));
    }

    /// Counts `webhooks`' endpoints from now on; `stream` is the camera they belong to.
    pub fn add_webhooks(&self, stream: Option<&str>, webhooks: &Webhooks) {
        let mut all = lock(&self.webhooks);
        if let Some(s) = stream {
            all.retain(|(o, _, _)| o.as_deref() != Some(s));
        }
        for (shown, stats) in webhooks.stats() {
            all.push((stream.map(str::to_owned), shown, stats));
        }
    }

    /// The exposition text for these statistics.
    pub fn render(&self, s: &ManagerStats) -> String {
        let mut r = Registry::with_prefix("rtsp_worker");
        let received = counters();
        let results = counters();
        let dropped = counters();
        let reconnects = counters();
        let jumps = counters();
        let in_pipeline = gauges();
        let state = gauges();
        let decode_mode = gauges();
        let fps = gauges();
        let viewers = gauges();
        let pictures = counters();
        let encoded = counters();
        for (id, t) in &s.streams {
            let l = stream_label(id);
            let a = t.accounting;
            viewers.get_or_create(&l).set(t.live.viewers as f64);
            encoded.get_or_create(&l).inc_by(t.live.encoded);
            for (outcome, n) in [("sent", t.live.sent), ("skipped", t.live.skipped)] {
                let mut l = l.clone();
                l.push(("outcome".into(), outcome.into()));
                pictures.get_or_create(&l).inc_by(n);
            }
            received.get_or_create(&l).inc_by(a.received);
            results.get_or_create(&l).inc_by(a.results);
            reconnects.get_or_create(&l).inc_by(t.reconnects);
            jumps.get_or_create(&l).inc_by(t.timestamp_jumps);
            in_pipeline.get_or_create(&l).set(a.in_pipeline as f64);
            let d = a.dropped;
            for (reason, n) in [
                ("ingest_gap", d.ingest_gap),
                ("decode_error", d.decode_error),
                ("decoder_overflow", d.decoder_overflow),
                ("not_decoded", d.not_decoded),
                ("rate_limited", d.rate_limited),
                ("superseded", d.superseded),
                ("inference_failed", d.inference_failed),
                ("consumer_too_slow", d.consumer_too_slow),
                ("shutdown", d.shutdown),
            ] {
                let mut l = l.clone();
                l.push(("reason".into(), reason.into()));
                dropped.get_or_create(&l).inc_by(n);
            }
            for st in [
                StreamState::Connecting,
                StreamState::Connected,
                StreamState::Stalled,
                StreamState::Reconnecting,
                StreamState::Draining,
                StreamState::Ended,
            ] {
                let mut l = l.clone();
                l.push(("state".into(), st.as_str().into()));
                state
                    .get_or_create(&l)
                    .set(if t.state == st { 1.0 } else { 0.0 });
            }
            for mode in ["full", "gop_prefix", "keyframes"] {
                let mut l = l.clone();
                l.push(("mode".into(), mode.into()));
                decode_mode
                    .get_or_create(&l)
                    .set(if t.decode_mode == mode { 1.0 } else { 0.0 });
            }
            for (dir, v) in [("in", t.fps_in), ("out", t.fps_out)] {
                let mut l = l.clone();
                l.push(("direction".into(), dir.into()));
                fps.get_or_create(&l).set(v);
            }
        }
        r.register(
            "stream_frames_received",
            "Frames (access units) the camera session received",
            received,
        );
        r.register("stream_results", "Frames that became results", results);
        r.register(
            "stream_frames_dropped",
            "Frames that did not become results, by reason",
            dropped,
        );
        r.register(
            "stream_frames_in_pipeline",
            "Frames received and not yet a result or a drop",
            in_pipeline,
        );
        r.register(
            "stream_live_viewers",
            "Live views (GET .../live.mjpeg) open now",
            viewers,
        );
        r.register(
            "stream_live_pictures",
            "Pictures sent to live viewers, and skipped by a viewer not ready for them",
            pictures,
        );
        r.register(
            "stream_pictures_encoded",
            "Annotated pictures drawn and encoded as JPEG (snapshots and live views)",
            encoded,
        );
        r.register(
            "stream_reconnects",
            "Connections lost or failed and retried",
            reconnects,
        );
        r.register(
            "stream_timestamp_jumps",
            "Jumps of the camera's RTP clock that media time smoothed over",
            jumps,
        );
        r.register(
            "stream_state",
            "1 for the stream's current state, 0 for the others",
            state,
        );
        r.register(
            "stream_decode_mode",
            "1 for how much of the stream is decoded now (full, gop_prefix: each group of \
             pictures up to the next picture due, keyframes: keyframes only), 0 for the others",
            decode_mode,
        );
        r.register(
            "stream_fps",
            "Frames per second received (in) and processed (out), over the last seconds",
            fps,
        );
        r.register_with_unit(
            "stream_latency",
            "From a frame's arrival to its result",
            Unit::Seconds,
            self.latency.clone(),
        );
        r.register(
            "streams",
            "Streams the manager has",
            gauge(s.streams.len() as f64),
        );
        let batches = counters();
        for (trigger, n) in [
            ("full", s.batcher.batches.full),
            ("timeout", s.batcher.batches.timeout),
            ("flush", s.batcher.batches.flush),
        ] {
            batches
                .get_or_create(&vec![("trigger".into(), trigger.into())])
                .inc_by(n);
        }
        r.register(
            "batcher_batches",
            "Batches sent to the detector, by what sent them",
            batches,
        );
        r.register(
            "batcher_fill_ratio",
            "Mean batch fill (frames per batch over the batch size)",
            gauge(s.batcher.mean_fill),
        );
        r.register(
            "batcher_in_flight",
            "Batches at the detector now",
            gauge(s.batcher.in_flight as f64),
        );
        r.register(
            "batcher_waiting",
            "Frames waiting for a batch now",
            gauge(s.batcher.waiting as f64),
        );
        r.register(
            "detector_batches",
            "Detector calls",
            counter(s.detector.batches),
        );
        r.register(
            "detector_images",
            "Images the detector ran on",
            counter(s.detector.images),
        );
        let batch_time = gauges();
        for (q, v) in [
            ("0.5", s.detector.batch_ms.p50),
            ("0.99", s.detector.batch_ms.p99),
            ("1", s.detector.batch_ms.max),
        ] {
            batch_time
                .get_or_create(&vec![("quantile".into(), q.into())])
                .set(v / 1e3);
        }
        r.register_with_unit(
            "detector_batch_duration",
            "Time per detector call over the last calls, by quantile",
            Unit::Seconds,
            batch_time,
        );
        // Which model runs: its file name (never the folder), hash and input size.
        let model = gauges();
        let name = s.model.file_name().unwrap_or_default();
        model
            .get_or_create(&vec![
                ("file".into(), name),
                ("sha256".into(), s.model.sha256.clone()),
                (
                    "input".into(),
                    format!("{}x{}", s.model.input_width, s.model.input_height),
                ),
            ])
            .set(1.0);
        r.register(
            "model_info",
            "The model the detector runs (1): its file name, SHA-256 and input size",
            model,
        );
        r.register(
            "model_swaps",
            "Models swapped in while the cameras ran",
            counter(s.model.swaps),
        );
        if let Some(m) = &self.mqtt {
            let messages = counters();
            for (outcome, n) in [
                ("queued", m.queued.load(Ordering::Relaxed)),
                ("sent", m.sent.load(Ordering::Relaxed)),
                ("dropped", m.dropped.load(Ordering::Relaxed)),
                ("too_large", m.too_large.load(Ordering::Relaxed)),
            ] {
                messages
                    .get_or_create(&vec![("outcome".into(), outcome.into())])
                    .inc_by(n);
            }
            r.register(
                "mqtt_messages",
                "MQTT messages queued, sent, dropped because the queue was full, and dropped \
                 because they were larger than any message meant to be published",
                messages,
            );
            r.register(
                "mqtt_connected",
                "1 while the MQTT broker is connected",
                gauge(if m.connected.load(Ordering::SeqCst) {
                    1.0
                } else {
                    0.0
                }),
            );
        }
        let webhooks = lock(&self.webhooks).clone();
        if !webhooks.is_empty() {
            let events = counters();
            let waiting = gauges();
            let failing = gauges();
            for (stream, shown, w) in &webhooks {
                let mut l: Labels = vec![("endpoint".into(), shown.clone())];
                if let Some(s) = stream {
                    l.push(("stream".into(), s.clone()));
                }
                for (outcome, n) in [
                    ("queued", &w.queued),
                    ("delivered", &w.delivered),
                    ("retried", &w.retried),
                    ("queue_full", &w.queue_full),
                    ("rejected", &w.rejected),
                    ("stopped", &w.stopped),
                ] {
                    let mut l = l.clone();
                    l.push(("outcome".into(), outcome.into()));
                    events.get_or_create(&l).inc_by(n.load(Ordering::Relaxed));
                }
                waiting
                    .get_or_create(&l)
                    .set(w.waiting.load(Ordering::Relaxed) as f64);
                failing
                    .get_or_create(&l)
                    .set(if w.failing.load(Ordering::Relaxed) {
                        1.0
                    } else {
                        0.0
                    });
            }
            r.register(
                "webhook_events",
                "Webhook events by endpoint (scheme://host:port) and outcome: queued, delivered, \
                 retried (attempts that failed and were tried again), dropped because the queue \
                 was full (queue_full), refused by the endpoint (rejected), left at the end of \
                 the run (stopped)",
                events,
            );
            r.register(
                "webhook_waiting",
                "Webhook events waiting in the endpoint's queue",
                waiting,
            );
            r.register(
                "webhook_failing",
                "1 while the endpoint's last attempt failed",
                failing,
            );
        }
        r.register(
            "snapshots_written",
            "Annotated JPEGs written to the snapshot folder",
            counter(self.snapshots_written.load(Ordering::Relaxed)),
        );
        r.register(
            "snapshots_dropped",
            "Snapshots not written because the writer's queue was full (the disk was slower \
             than the period); the next result retries",
            counter(self.snapshots_dropped.load(Ordering::Relaxed)),
        );
        r.register(
            "stdout_lines_dropped",
            "JSON lines dropped because stdout was slower than the cameras (the pipeline and \
             the other outputs never wait for it)",
            counter(self.stdout_lines_dropped.load(Ordering::Relaxed)),
        );
        let c = &self.connections;
        let connections = counters();
        for (outcome, n) in [
            ("accepted", c.accepted.load(Ordering::Relaxed)),
            ("evicted", c.evicted.load(Ordering::Relaxed)),
            ("refused", c.refused.load(Ordering::Relaxed)),
        ] {
            connections
                .get_or_create(&vec![("outcome".into(), outcome.into())])
                .inc_by(n);
        }
        r.register(
            "http_connections",
            "HTTP connections accepted, closed while idle to make room (evicted), and closed at \
             once because every open one was busy (refused)",
            connections,
        );
        r.register(
            "http_connections_open",
            "HTTP connections open now",
            gauge(c.open.load(Ordering::Relaxed) as f64),
        );
        let process = r.sub_registry_with_prefix("process");
        let p = process_stats();
        if let Some(rss) = p.rss_bytes {
            process.register_with_unit(
                "resident_memory",
                "Resident memory",
                Unit::Bytes,
                gauge(rss as f64),
            );
        }
        if let Some(n) = p.threads {
            process.register("threads", "Threads of the process", gauge(n as f64));
        }
        if let Some(n) = p.open_fds {
            process.register("open_fds", "Open file descriptors", gauge(n as f64));
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &r);
        out
    }
}

/// What Linux says about this process.
#[derive(Debug, Default)]
pub struct ProcessStats {
    pub rss_bytes: Option<u64>,
    pub threads: Option<u64>,
    pub open_fds: Option<u64>,
}

pub fn process_stats() -> ProcessStats {
    let mut p = ProcessStats::default();
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        for line in status.lines() {
            let value = |l: &str| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
            };
            if line.starts_with("VmRSS:") {
                p.rss_bytes = value(line).map(|kb| kb * 1024);
            } else if line.starts_with("Threads:") {
                p.threads = value(line);
            }
        }
    }
    p.open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as u64);
    p
}

/// The metrics as a sink: one latency observation per result. It only updates memory, so it
/// needs no queue.
impl Sink for Metrics {
    fn open(
        &self,
        conn: &rtsp_worker::StreamConnection,
        _lease: Option<u64>,
    ) -> Option<Box<dyn StreamSink>> {
        Some(Box::new(Latencies {
            metrics: self.clone(),
            id: conn.id().to_owned(),
        }))
    }

    fn forget(&self, id: &str) {
        Metrics::forget(self, id);
    }
}

struct Latencies {
    metrics: Metrics,
    id: String,
}

impl StreamSink for Latencies {
    fn offer(&mut self, event: &rtsp_worker::StreamEvent) {
        if let rtsp_worker::StreamEvent::Result(r) = event {
            self.metrics.observe_latency(&self.id, r.latency_ms / 1e3);
        }
    }
}
