//! The running service: the manager, its cameras (from the command line, the config file and
//! the HTTP API), and where every stream's output goes (stdout, the latency histograms,
//! MQTT). Cameras come and go while it runs; each has one consumer task that ends with it.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use rtsp_worker::{
    EndReason, Error, StreamConnection, StreamConnectionManager, StreamEvent, StreamOptions,
    StreamStats, TrackState, Transport,
};
use serde::Serialize;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::events::CameraEvents;
use crate::exit::{Exit, Failure};
use crate::metrics::Metrics;
use crate::mqtt::Publisher;
use crate::output;
use ::service::config::{self, Camera};

/// Why the registry refused an edit.
#[derive(Debug)]
pub(crate) enum RegistryError {
    Exists,
    Missing,
    /// The entry itself (a bad field, a password without a fleet key…).
    Invalid(String),
    Nats(String),
}

impl std::fmt::Display for RegistryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exists => {
                f.write_str("the camera is already in the fleet's registry (remove it first)")
            }
            Self::Missing => f.write_str("the camera is not in the fleet's registry"),
            Self::Invalid(m) => f.write_str(m),
            Self::Nats(m) => write!(f, "NATS: {m}"),
        }
    }
}

/// What the service knows of the fleet it runs in (`fleet::Fleet` implements it): where
/// results published under a lease go, and the registry the HTTP API edits. The service never
/// names the fleet's type, so the fleet depends on the service and not back.
pub(crate) trait FleetLink: Send + Sync {
    /// Offers a result for publishing under the lease `token`; never waits.
    fn offer(&self, camera: &str, token: u64, r: &rtsp_worker::TrackingResult);
    /// Adds a camera to the fleet's registry.
    fn register<'a>(
        &'a self,
        id: &'a str,
        camera: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<(), RegistryError>>;
    /// Removes a camera from the fleet's registry.
    fn unregister<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RegistryError>>;
}

/// How results are shown on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// JSON lines (and lifecycle and zone events too with `events`).
    Json { events: bool },
    /// A human line per stream and second, for the demo.
    Human,
    /// Nothing on stdout (HTTP, MQTT and metrics only).
    Quiet,
}

/// Where a camera came from: a reload touches only the config file's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Origin {
    CommandLine,
    ConfigFile,
    Api,
    /// The fleet's registry, while this worker holds the camera's lease.
    Cluster,
}

/// What one stream's consumer saw. Its size does not grow with the stream's age: tracks are
/// counted, and only those in view are remembered.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    pub(crate) end: Option<EndReason>,
    /// Confirmed tracks so far, by class name.
    pub(crate) tracks: BTreeMap<String, u64>,
    /// Confirmed tracks not ended yet (so that each is counted once).
    in_view: HashSet<u64>,
    pub(crate) results: u64,
}

impl Seen {
    /// Tracks in view remembered at most; beyond, the set starts again (a track still in view
    /// may then be counted twice, and nothing grows).
    const IN_VIEW: usize = 10_000;

    fn on_result(&mut self, r: &rtsp_worker::TrackingResult) {
        self.results += 1;
        for t in &r.tracked_objects {
            if t.state == TrackState::Confirmed && self.in_view.insert(t.track_id) {
                *self.tracks.entry(t.class_name.clone()).or_default() += 1;
            }
        }
        for t in &r.ended_tracks {
            self.in_view.remove(&t.track_id);
        }
        if self.in_view.len() > Self::IN_VIEW {
            self.in_view.clear();
        }
    }
}

/// Settings of the service itself.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) mode: Mode,
    pub(crate) default_transport: Transport,
    pub(crate) give_up_after: Option<u32>,
    /// Run on when every stream has ended (an operator may add more over HTTP).
    pub(crate) keep_running: bool,
    /// The config file a reload reads, and the first free `stream_N` for its id-less cameras.
    pub(crate) config_path: Option<PathBuf>,
    pub(crate) first_free: usize,
    /// `--allow-file-urls`: the config file may name local clips (a reload too).
    pub(crate) allow_file_urls: bool,
}

/// What a reload did.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Reload {
    pub(crate) added: Vec<String>,
    pub(crate) removed: Vec<String>,
    pub(crate) unchanged: Vec<String>,
    pub(crate) failed: Vec<String>,
}

/// The service.
pub(crate) struct Service {
    pub(crate) manager: StreamConnectionManager,
    pub(crate) settings: Settings,
    pub(crate) metrics: Metrics,
    /// To the stdout writer thread; taken at the end so that it finishes.
    lines: Mutex<Option<mpsc::Sender<String>>>,
    stdout_gone: Arc<Notify>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    mqtt: Mutex<Option<Arc<Publisher>>>,
    /// With `--cluster`: results also go to JetStream, under the camera's lease.
    fleet: Mutex<Option<Arc<dyn FleetLink>>>,
    cameras: Mutex<BTreeMap<String, (Camera, Origin)>>,
    /// One per stream the manager holds (a removed stream's goes with it).
    consumers: Mutex<BTreeMap<String, JoinHandle<Seen>>>,
    live: AtomicUsize,
    changed: Notify,
    /// Serialises adds, removes and reloads.
    edits: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Service {
    pub(crate) fn new(
        manager: StreamConnectionManager,
        settings: Settings,
        mut metrics: Metrics,
        mqtt: Option<Publisher>,
    ) -> Arc<Self> {
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
        metrics.mqtt = mqtt.as_ref().map(|m| m.stats.clone());
        Arc::new(Self {
            manager,
            settings,
            metrics,
            lines: Mutex::new(Some(lines)),
            stdout_gone,
            writer: Mutex::new(Some(writer)),
            mqtt: Mutex::new(mqtt.map(Arc::new)),
            fleet: Mutex::new(None),
            cameras: Mutex::new(BTreeMap::new()),
            consumers: Mutex::new(BTreeMap::new()),
            live: AtomicUsize::new(0),
            changed: Notify::new(),
            edits: tokio::sync::Mutex::new(()),
        })
    }

    fn mqtt(&self) -> Option<Arc<Publisher>> {
        lock(&self.mqtt).clone()
    }

    /// Sends every result to the fleet's results stream from now on.
    pub(crate) fn set_fleet(&self, fleet: Arc<dyn FleetLink>) {
        *lock(&self.fleet) = Some(fleet);
    }

    pub(crate) fn fleet(&self) -> Option<Arc<dyn FleetLink>> {
        lock(&self.fleet).clone()
    }

    /// Where each camera came from.
    pub(crate) fn origins(&self) -> BTreeMap<String, Origin> {
        lock(&self.cameras)
            .iter()
            .map(|(id, (_, o))| (id.clone(), *o))
            .collect()
    }

    /// Connects a camera and starts consuming it.
    pub(crate) async fn add(
        self: &Arc<Self>,
        camera: Camera,
        origin: Origin,
    ) -> Result<StreamConnection, Error> {
        let _edit = self.edits.lock().await;
        self.add_locked(camera, origin).await
    }

    async fn add_locked(
        self: &Arc<Self>,
        camera: Camera,
        origin: Origin,
    ) -> Result<StreamConnection, Error> {
        let mut options = StreamOptions::new()
            .id(camera.id.clone())
            .transport(camera.transport.unwrap_or(self.settings.default_transport))
            .give_up_after(self.settings.give_up_after);
        if let Some((user, password)) = &camera.credentials {
            options = options.credentials(user.clone(), password.clone());
        }
        if !camera.scene.is_empty() {
            options = options.scene(camera.scene.clone());
        }
        if camera.first_track_id > 0 {
            options = options.first_track_id(camera.first_track_id);
        }
        // In a fleet, the lease this stream runs under.
        let token = camera.lease_token;
        let conn = self.manager.connect_stream(&camera.url, options).await?;
        let camera_id = camera.id.clone();
        lock(&self.cameras).insert(camera.id.clone(), (camera, origin));
        self.live.fetch_add(1, Ordering::SeqCst);
        let service = self.clone();
        let c = conn.clone();
        let task = tokio::spawn(async move {
            let seen = service.consume(&c, token).await;
            service.live.fetch_sub(1, Ordering::SeqCst);
            service.changed.notify_waiters();
            seen
        });
        lock(&self.consumers).insert(camera_id, task);
        Ok(conn)
    }

    /// Disconnects a camera: it drains, its consumer ends, it is forgotten.
    pub(crate) async fn remove(&self, id: &str) -> Result<StreamStats, Error> {
        let _edit = self.edits.lock().await;
        self.remove_locked(id).await
    }

    /// Disconnects a camera of the fleet's without waiting for other edits: the fleet's
    /// cameras drain side by side (a handover waits for none of them).
    pub(crate) async fn remove_now(&self, id: &str) -> Result<StreamStats, Error> {
        self.remove_locked(id).await
    }

    async fn remove_locked(&self, id: &str) -> Result<StreamStats, Error> {
        let stats = self.manager.disconnect_stream(id).await?;
        lock(&self.cameras).remove(id);
        // Its consumer ends with the stream's output: nothing of it is kept.
        let consumer = lock(&self.consumers).remove(id);
        if let Some(c) = consumer {
            let _ = c.await;
        }
        self.metrics.forget(id);
        Ok(stats)
    }

    /// Re-reads the config file and applies its cameras: new ones are added, missing ones
    /// removed, changed ones (URL, credentials, transport, zones, lines) replaced. Cameras
    /// added over HTTP or on the command line are left alone; engine and output settings
    /// take a restart.
    pub(crate) async fn reload(self: &Arc<Self>) -> Result<Reload, String> {
        let path = self
            .settings
            .config_path
            .clone()
            .ok_or("no --config file to reload")?;
        let _edit = self.edits.lock().await;
        let file = config::load(
            &path,
            self.settings.first_free,
            self.settings.allow_file_urls,
        )?;
        let current: BTreeMap<String, (Camera, Origin)> = lock(&self.cameras).clone();
        let mut report = Reload::default();
        let wanted: BTreeMap<String, Camera> = file
            .cameras
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect();
        for (id, (cam, origin)) in &current {
            if *origin != Origin::ConfigFile {
                continue;
            }
            if wanted.get(id) != Some(cam) {
                match self.remove_locked(id).await {
                    Ok(_) => report.removed.push(id.clone()),
                    Err(e) => report.failed.push(e.to_string()),
                }
            }
        }
        for (id, cam) in wanted {
            match current.get(&id) {
                Some((c, Origin::ConfigFile)) if *c == cam => report.unchanged.push(id),
                Some((_, o)) if *o != Origin::ConfigFile => report.failed.push(format!(
                    "stream {id:?}: the id is taken by a camera added another way"
                )),
                _ => match self.add_locked(cam, Origin::ConfigFile).await {
                    Ok(_) => report.added.push(id),
                    Err(e) => report.failed.push(e.to_string()),
                },
            }
        }
        info!(
            added = report.added.len(),
            removed = report.removed.len(),
            unchanged = report.unchanged.len(),
            failed = report.failed.len(),
            "config reloaded"
        );
        Ok(report)
    }

    /// One stream's output, until it ends.
    async fn consume(&self, conn: &StreamConnection, token: Option<u64>) -> Seen {
        let id = conn.id().to_owned();
        let mut seen = Seen::default();
        let mut events = CameraEvents::new(&id);
        let mqtt = self.mqtt();
        let fleet = self.fleet();
        let out = lock(&self.lines).clone();
        let mode = self.settings.mode;
        let mut last_human = tokio::time::Instant::now() - Duration::from_secs(10);
        while let Some(event) = conn.next_event().await {
            match &event {
                StreamEvent::Result(r) => {
                    seen.on_result(r);
                    self.metrics.observe_latency(&id, r.latency_ms / 1e3);
                    if let (Some(f), Some(token)) = (&fleet, token) {
                        f.offer(&id, token, r);
                    }
                    if let Some(m) = &mqtt {
                        m.send(events.on_result(r));
                    }
                }
                StreamEvent::Connected { .. } => {
                    if let Some(m) = &mqtt {
                        m.send([events.status(true)]);
                    }
                }
                StreamEvent::Reconnecting { .. } => {
                    if let Some(m) = &mqtt {
                        m.send([events.status(false)]);
                    }
                }
                StreamEvent::Ended { reason } => {
                    seen.end = Some(reason.clone());
                    if let Some(m) = &mqtt {
                        m.send(events.on_end(now_secs()));
                    }
                }
                _ => {}
            }
            let mut lines = Vec::new();
            match (mode, &event) {
                (Mode::Json { events }, StreamEvent::Result(r)) => {
                    lines.push(output::json_line(&id, &event));
                    if events {
                        lines.extend(output::zone_event_lines(r));
                    }
                }
                (Mode::Json { events: true }, _) => lines.push(output::json_line(&id, &event)),
                (Mode::Human, StreamEvent::Result(r))
                    if last_human.elapsed() >= Duration::from_secs(1) =>
                {
                    last_human = tokio::time::Instant::now();
                    lines.push(output::demo_line(r));
                }
                _ => {}
            }
            let Some(out) = &out else { continue };
            for line in lines {
                // Never waits: a full channel (stdout slower than the cameras) drops the
                // line, counted, so that a slow stdout costs neither this stream's results
                // to MQTT and the fleet nor the pipeline anything.
                match out.try_send(line) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        self.metrics
                            .stdout_lines_dropped
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    // stdout is gone; keep draining so the stream can end.
                    Err(mpsc::error::TrySendError::Closed(_)) => break,
                }
            }
        }
        seen
    }

    /// Resolves when the run should stop; true if because every stream ended. A hang-up
    /// signal reloads the config file and goes on.
    pub(crate) async fn wait_for_stop(self: &Arc<Self>, duration: Option<Duration>) -> bool {
        let sleep = async {
            match duration {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        let ended = async {
            if self.settings.keep_running {
                return std::future::pending().await;
            }
            loop {
                let changed = self.changed.notified();
                if self.live.load(Ordering::SeqCst) == 0 {
                    return;
                }
                changed.await;
            }
        };
        let reloads = async {
            loop {
                hangup().await;
                match self.reload().await {
                    Ok(r) => eprintln!(
                        "rtsp-worker: reloaded: added {:?}, removed {:?}, failed {:?}",
                        r.added, r.removed, r.failed
                    ),
                    Err(e) => eprintln!("rtsp-worker: reload refused, nothing changed: {e}"),
                }
            }
        };
        let stopped_by_streams = tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                eprintln!("rtsp-worker: interrupted; draining (Ctrl-C again to quit at once)");
                false
            }
            _ = terminate() => false,
            () = sleep => false,
            () = self.stdout_gone.notified() => false,
            () = ended => true,
            () = reloads => false,
        };
        tokio::spawn(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(Exit::Interrupted as i32);
            }
        });
        stopped_by_streams
    }

    /// Shuts everything down: drains every stream, waits for the consumers, says goodbye on
    /// MQTT, flushes stdout, prints the accounting. Returns what each stream's consumer saw.
    pub(crate) async fn finish(
        self: &Arc<Self>,
        stopped_by_streams: bool,
    ) -> Result<Vec<(String, Seen)>, Failure> {
        let finals = self.manager.shutdown().await;
        let consumers = std::mem::take(&mut *lock(&self.consumers));
        let mut seen = Vec::new();
        for (id, c) in consumers {
            if let Ok(s) = c.await {
                seen.push((id, s));
            }
        }
        let mqtt = lock(&self.mqtt).take();
        if let Some(m) = mqtt.and_then(|m| Arc::try_unwrap(m).ok()) {
            m.close(Duration::from_secs(3)).await;
        }
        // The writer ends when every sender is gone: this one, and the consumers' (done).
        drop(lock(&self.lines).take());
        let writer = lock(&self.writer).take();
        if let Some(w) = writer {
            let _ = tokio::task::spawn_blocking(move || w.join()).await;
        }
        eprint!("{}", output::accounting_table(&finals));
        let dropped = self.metrics.stdout_lines_dropped.load(Ordering::Relaxed);
        if dropped > 0 {
            eprintln!("stdout: {dropped} lines dropped (stdout was slower than the cameras)");
        }
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
                Exit::AllCamerasFailed,
                format!(
                    "every camera ended with an error:\n  {}",
                    failed.join("\n  ")
                ),
            ));
        }
        Ok(seen)
    }
}

async fn hangup() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::hangup()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGHUP; reload through the HTTP API");
                std::future::pending::<()>().await;
            }
        }
    }
    #[cfg(not(unix))]
    std::future::pending::<()>().await
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
