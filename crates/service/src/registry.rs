//! The running service: the manager, its cameras (from the command line, the config file and
//! the HTTP API), and where every stream's output goes (stdout, the latency histograms,
//! MQTT). Cameras come and go while it runs; each has one consumer task that ends with it.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use rtsp_worker::{
    EndReason, Error, ModelStats, StreamConnection, StreamConnectionManager, StreamEvent,
    StreamOptions, StreamStats, TrackState, Transport,
};
use serde::Serialize;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::{self, Camera};
use crate::metrics::Metrics;
use crate::mqtt::Publisher;
use crate::output;
use crate::recent::Recent;
use crate::sink::{Sink, StreamSink};
use crate::stdout::{Mode, Stdout};
use crate::support::lock;
use crate::webhook::{self, Webhooks};

/// Why the registry refused an edit.
#[derive(Debug)]
pub enum RegistryError {
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

/// What the service knows of the fleet it runs in (the `fleet` crate implements it): the
/// registry the HTTP API edits in a fleet. (The fleet's results publisher is a [`Sink`].) The
/// service never names the fleet's types, so the fleet depends on the service and not back.
pub trait FleetLink: Send + Sync {
    /// Adds a camera to the fleet's registry.
    fn register<'a>(
        &'a self,
        id: &'a str,
        camera: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<(), RegistryError>>;
    /// Removes a camera from the fleet's registry.
    fn unregister<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RegistryError>>;
    /// Sets the model every worker runs (a file name in their `--model-dir`).
    fn set_model<'a>(
        &'a self,
        name: &'a str,
        restart_tracks: bool,
    ) -> BoxFuture<'a, Result<(), RegistryError>>;
}

/// Where a camera came from: a reload touches only the config file's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    CommandLine,
    ConfigFile,
    Api,
    /// The fleet's registry, while this worker holds the camera's lease.
    Cluster,
}

/// What one stream's consumer saw. Its size does not grow with the stream's age: tracks are
/// counted, and only those in view are remembered.
#[derive(Debug, Default)]
pub struct Seen {
    pub end: Option<EndReason>,
    /// Confirmed tracks so far, by class name.
    pub tracks: BTreeMap<String, u64>,
    /// Confirmed tracks not ended yet (so that each is counted once).
    in_view: HashSet<u64>,
    pub results: u64,
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
pub struct Settings {
    pub mode: Mode,
    pub default_transport: Transport,
    pub give_up_after: Option<u32>,
    /// Run on when every stream has ended (an operator may add more over HTTP).
    pub keep_running: bool,
    /// The config file a reload reads, and the first free `stream_N` for its id-less cameras.
    pub config_path: Option<PathBuf>,
    pub first_free: usize,
    /// `--allow-file-urls`: the config file may name local clips (a reload too).
    pub allow_file_urls: bool,
    /// How the cameras' own webhooks are reached (signed, queued) — the process's settings.
    pub webhook: webhook::Settings,
    /// `--model-dir`: the folder whose models the HTTP API may swap to, by file name.
    pub model_dir: Option<PathBuf>,
    /// When the config file names the model (the command line did not): the `[engine] model`
    /// the run started with, which a reload compares with the file's.
    pub file_model: Option<Option<PathBuf>>,
}

/// Why a model swap was refused.
#[derive(Debug)]
pub enum SwapError {
    /// No `--model-dir`: the API may not swap models.
    Disabled,
    /// Not a plain `NAME.onnx` file name.
    BadName,
    /// Another swap is under way.
    Busy,
    /// The facade refused it (not found, not a detector, other classes, …).
    Failed(Error),
}

impl std::fmt::Display for SwapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Disabled => f.write_str(
                "model swaps over the API need the operator's --model-dir (the folder of the \
                 models that may be swapped to)",
            ),
            Self::BadName => f.write_str(
                "path must be the file name of a model in --model-dir: NAME.onnx, without \
                 folders",
            ),
            Self::Busy => f.write_str("another model swap is under way"),
            Self::Failed(e) => write!(f, "{e}"),
        }
    }
}

/// A model's file name as the API may give it: `NAME.onnx`, no folder, no hidden file.
pub fn is_model_name(name: &str) -> bool {
    (6..=128).contains(&name.len())
        && name.ends_with(".onnx")
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// How a run ended.
#[derive(Debug)]
pub struct Finished {
    /// The final accounting, one line per stream (docs/RESULTS.md).
    pub accounting: String,
    /// JSON lines stdout had no room for.
    pub stdout_dropped: u64,
    /// What each stream's consumer saw.
    pub seen: Vec<(String, Seen)>,
    /// The run stopped because every stream ended, each with an error: which.
    pub all_failed: Option<String>,
}

impl Finished {
    /// The accounting, and what stdout dropped if anything: for stderr.
    pub fn report(&self) -> String {
        let mut r = self.accounting.clone();
        if self.stdout_dropped > 0 {
            r.push_str(&format!(
                "stdout: {} lines dropped (stdout was slower than the cameras)\n",
                self.stdout_dropped
            ));
        }
        r
    }
}

/// What a reload did.
#[derive(Debug, Default, Serialize)]
pub struct Reload {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: Vec<String>,
    pub failed: Vec<String>,
    /// The model swapped to, when the file's `[engine] model` changed.
    pub model: Option<ModelStats>,
}

/// The service.
pub struct Service {
    pub manager: StreamConnectionManager,
    pub settings: Settings,
    pub metrics: Metrics,
    /// Every camera's recent events, for the status page.
    pub recent: Arc<Recent>,
    stdout: Arc<Stdout>,
    /// Every output, opened for each stream as it starts (in this order).
    sinks: Mutex<Vec<Arc<dyn Sink>>>,
    /// With `--cluster`: the fleet's registry, which the HTTP API edits.
    fleet: Mutex<Option<Arc<dyn FleetLink>>>,
    cameras: Mutex<BTreeMap<String, (Camera, Origin)>>,
    /// One per stream the manager holds (a removed stream's goes with it).
    consumers: Mutex<BTreeMap<String, JoinHandle<Seen>>>,
    live: AtomicUsize,
    changed: Notify,
    /// Serialises adds, removes and reloads.
    edits: tokio::sync::Mutex<()>,
    /// Cameras' own webhooks flushing after their camera ended; the end of the run waits
    /// for them (each within its patience).
    flushing: Mutex<Vec<JoinHandle<()>>>,
    /// One model swap at a time.
    swapping: tokio::sync::Mutex<()>,
    /// The config file's `[engine] model` as last applied (when the file names the model).
    file_model: Mutex<Option<PathBuf>>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").finish_non_exhaustive()
    }
}

impl Service {
    /// The service with its first sinks: the metrics, MQTT if given, stdout as `settings`
    /// say. More ([`Service::add_sink`]) must come before the cameras they are for.
    pub fn new(
        manager: StreamConnectionManager,
        settings: Settings,
        mut metrics: Metrics,
        mqtt: Option<Publisher>,
    ) -> Arc<Self> {
        metrics.mqtt = mqtt.as_ref().map(|m| m.stats.clone());
        let settings_file_model = settings.file_model.clone().flatten();
        let stdout = Arc::new(Stdout::start(
            settings.mode,
            metrics.stdout_lines_dropped.clone(),
        ));
        let mut sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(metrics.clone())];
        if let Some(m) = mqtt {
            sinks.push(Arc::new(m));
        }
        sinks.push(stdout.clone());
        let recent = Arc::new(Recent::default());
        sinks.push(recent.clone());
        Arc::new(Self {
            manager,
            settings,
            metrics,
            recent,
            stdout,
            sinks: Mutex::new(sinks),
            fleet: Mutex::new(None),
            cameras: Mutex::new(BTreeMap::new()),
            consumers: Mutex::new(BTreeMap::new()),
            live: AtomicUsize::new(0),
            changed: Notify::new(),
            edits: tokio::sync::Mutex::new(()),
            flushing: Mutex::new(Vec::new()),
            swapping: tokio::sync::Mutex::new(()),
            file_model: Mutex::new(settings_file_model),
        })
    }

    /// Sends every stream started from now on to `sink` too.
    pub fn add_sink(&self, sink: Arc<dyn Sink>) {
        lock(&self.sinks).push(sink);
    }

    /// The fleet's registry, for the HTTP API to edit from now on.
    pub fn set_fleet(&self, fleet: Arc<dyn FleetLink>) {
        *lock(&self.fleet) = Some(fleet);
    }

    pub fn fleet(&self) -> Option<Arc<dyn FleetLink>> {
        lock(&self.fleet).clone()
    }

    /// Where each camera came from.
    pub fn origins(&self) -> BTreeMap<String, Origin> {
        lock(&self.cameras)
            .iter()
            .map(|(id, (_, o))| (id.clone(), *o))
            .collect()
    }

    /// Swaps the model for `path` (the operator's: the command line, the config file).
    pub async fn swap_model(
        &self,
        path: PathBuf,
        restart_tracks: bool,
    ) -> Result<ModelStats, SwapError> {
        let Ok(_one) = self.swapping.try_lock() else {
            return Err(SwapError::Busy);
        };
        self.manager
            .swap_model(path, restart_tracks)
            .await
            .map_err(SwapError::Failed)
    }

    /// Swaps the model for the file `name` in `--model-dir` (an API caller's).
    pub async fn swap_model_named(
        &self,
        name: &str,
        restart_tracks: bool,
    ) -> Result<ModelStats, SwapError> {
        let dir = self
            .settings
            .model_dir
            .as_ref()
            .ok_or(SwapError::Disabled)?;
        if !is_model_name(name) {
            return Err(SwapError::BadName);
        }
        self.swap_model(dir.join(name), restart_tracks).await
    }

    /// The fleet's lease token a camera runs under, if any.
    pub fn lease_token(&self, id: &str) -> Option<u64> {
        lock(&self.cameras).get(id).and_then(|(c, _)| c.lease_token)
    }

    /// A camera's own webhooks as shown (`scheme://host:port`).
    pub fn webhooks(&self, id: &str) -> Vec<String> {
        lock(&self.cameras)
            .get(id)
            .map(|(c, _)| c.webhooks.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    /// Connects a camera and starts consuming it.
    pub async fn add(
        self: &Arc<Self>,
        camera: Camera,
        origin: Origin,
    ) -> Result<StreamConnection, Error> {
        let _edit = self.edits.lock().await;
        self.add_locked(camera, origin).await
    }

    async fn add_locked(
        self: &Arc<Self>,
        mut camera: Camera,
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
        if camera.detect_fps.is_some() {
            options = options.detect_fps(camera.detect_fps);
        }
        // Not kept with the camera: it is used once, here.
        if let Some(snapshot) = camera.resume_tracks.take() {
            options = options.resume_tracks(snapshot);
        }
        // In a fleet, the lease this stream runs under.
        let token = camera.lease_token;
        let conn = self.manager.connect_stream(&camera.url, options).await?;
        let camera_id = camera.id.clone();
        // The camera's own webhooks (TLS settings were checked at the start; a system
        // without root certificates is the one way this fails, said once, never a refusal).
        let own = if camera.webhooks.is_empty() {
            None
        } else {
            match Webhooks::start(&camera.webhooks, &self.settings.webhook) {
                Ok(w) => {
                    self.metrics.add_webhooks(Some(&camera_id), &w);
                    Some(Arc::new(w))
                }
                Err(e) => {
                    warn!(stream = %camera_id, error = %e, "the camera's webhooks cannot be used");
                    None
                }
            }
        };
        lock(&self.cameras).insert(camera.id.clone(), (camera, origin));
        self.live.fetch_add(1, Ordering::SeqCst);
        let service = self.clone();
        let c = conn.clone();
        let task = tokio::spawn(async move {
            let seen = service.consume(&c, token, own.clone()).await;
            if let Some(w) = own {
                let flush = tokio::spawn(async move { w.close(webhook::PATIENCE).await });
                let mut flushing = lock(&service.flushing);
                flushing.retain(|f| !f.is_finished());
                flushing.push(flush);
            }
            service.live.fetch_sub(1, Ordering::SeqCst);
            service.changed.notify_waiters();
            seen
        });
        lock(&self.consumers).insert(camera_id, task);
        Ok(conn)
    }

    /// Replaces a running camera's zones and lines (no reconnect; see
    /// [`StreamConnection::set_scene`](rtsp_worker::StreamConnection::set_scene)). A reload
    /// later applies the config file's scene again for a camera from the file.
    pub async fn set_scene(&self, id: &str, scene: rtsp_worker::zones::Scene) -> Result<(), Error> {
        let _edit = self.edits.lock().await;
        let conn = self
            .manager
            .stream(id)
            .ok_or_else(|| Error::UnknownStream(id.to_owned()))?;
        conn.set_scene(scene.clone())?;
        if let Some((camera, _)) = lock(&self.cameras).get_mut(id) {
            camera.scene = scene;
        }
        info!(stream = %id, "zones and lines changed");
        Ok(())
    }

    /// Writes a camera's running zones and lines into the cameras file (`--config`), in place
    /// of its `[[stream.zone]]` and `[[stream.line]]` tables, keeping the rest of the file as
    /// it was ([`config::write_scene`]); the file is replaced whole (a temporary file beside
    /// it, renamed), with its permissions. Only a camera from the file, named there by its
    /// id. Errors never quote the file or its path.
    pub async fn save_scene(&self, id: &str) -> Result<(), String> {
        let _edit = self.edits.lock().await;
        let path = self.settings.config_path.clone().ok_or_else(|| {
            "this worker runs without a cameras file (--config): nothing to write to".to_owned()
        })?;
        let scene = {
            let cameras = lock(&self.cameras);
            match cameras.get(id) {
                Some((camera, Origin::ConfigFile)) => camera.scene.clone(),
                Some(_) => {
                    return Err("this camera does not come from the cameras file".into());
                }
                None => return Err("no such camera".into()),
            }
        };
        let (id, shown) = (id.to_owned(), id.to_owned());
        tokio::task::spawn_blocking(move || -> Result<(), String> {
            let io =
                |what: &str, e: std::io::Error| format!("the cameras file: {what}: {}", e.kind());
            let text = std::fs::read_to_string(&path).map_err(|e| io("cannot read it", e))?;
            let written = config::write_scene(&text, &id, &scene)?;
            let permissions = std::fs::metadata(&path)
                .map_err(|e| io("cannot read it", e))?
                .permissions();
            if permissions.readonly() {
                return Err("the cameras file is read-only".into());
            }
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let tmp = path.with_file_name(format!(".{name}.rtsp-worker.tmp"));
            let write = || -> std::io::Result<()> {
                std::fs::write(&tmp, written.as_bytes())?;
                std::fs::set_permissions(&tmp, permissions.clone())?;
                std::fs::rename(&tmp, &path)
            };
            write().map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                io("cannot write it", e)
            })
        })
        .await
        .map_err(|_| "the write stopped".to_owned())??;
        info!(stream = %shown, "zones and lines written to the cameras file");
        Ok(())
    }

    /// Disconnects a camera: it drains, its consumer ends, it is forgotten.
    pub async fn remove(&self, id: &str) -> Result<StreamStats, Error> {
        let _edit = self.edits.lock().await;
        self.remove_locked(id).await
    }

    /// Disconnects a camera of the fleet's without waiting for other edits: the fleet's
    /// cameras drain side by side (a handover waits for none of them).
    pub async fn remove_now(&self, id: &str) -> Result<StreamStats, Error> {
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
        let sinks = lock(&self.sinks).clone();
        for s in sinks {
            s.forget(id);
        }
        Ok(stats)
    }

    /// Re-reads the config file and applies its cameras: new ones are added, missing ones
    /// removed, changed ones (URL, credentials, transport, zones, lines) replaced. Cameras
    /// added over HTTP or on the command line are left alone; engine and output settings
    /// take a restart.
    pub async fn reload(self: &Arc<Self>) -> Result<Reload, String> {
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
        // The model, when the file names it and it changed (flags win: a model named on the
        // command line stays).
        if self.settings.file_model.is_some() {
            let wanted = file.engine.model.clone();
            let applied = lock(&self.file_model).clone();
            if wanted != applied {
                match wanted {
                    Some(path) => match self.swap_model(path.clone(), false).await {
                        Ok(stats) => {
                            *lock(&self.file_model) = Some(path);
                            report.model = Some(stats);
                        }
                        Err(e) => report.failed.push(format!("[engine] model: {e}")),
                    },
                    None => report.failed.push(
                        "[engine] model was removed: the running model stays (a restart takes \
                         the default)"
                            .into(),
                    ),
                }
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

    /// One stream's output, until it ends: every sink is offered every event (the camera's
    /// own webhooks last).
    async fn consume(
        &self,
        conn: &StreamConnection,
        token: Option<u64>,
        own: Option<Arc<Webhooks>>,
    ) -> Seen {
        let mut seen = Seen::default();
        let mut sinks = lock(&self.sinks).clone();
        if let Some(w) = own {
            sinks.push(w);
        }
        let mut outputs: Vec<Box<dyn StreamSink>> =
            sinks.iter().filter_map(|s| s.open(conn, token)).collect();
        while let Some(event) = conn.next_event().await {
            match &event {
                StreamEvent::Result(r) => seen.on_result(r),
                StreamEvent::Ended { reason } => seen.end = Some(reason.clone()),
                _ => {}
            }
            for o in &mut outputs {
                o.offer(&event);
            }
        }
        seen
    }

    /// Resolves when every stream has ended (never with `keep_running`: an operator may add
    /// more over HTTP).
    pub async fn all_ended(&self) {
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
    }

    /// Resolves when stdout is gone (a closed pipe): the run should stop.
    pub async fn stdout_gone(&self) {
        self.stdout.gone().await;
    }

    /// Shuts everything down: drains every stream, waits for the consumers, closes every
    /// sink (MQTT says goodbye, stdout flushes). Returns the final accounting and what each
    /// stream's consumer saw.
    pub async fn finish(self: &Arc<Self>, stopped_by_streams: bool) -> Finished {
        let finals = self.manager.shutdown().await;
        let consumers = std::mem::take(&mut *lock(&self.consumers));
        let mut seen = Vec::new();
        for (id, c) in consumers {
            if let Ok(s) = c.await {
                seen.push((id, s));
            }
        }
        // Each sink flushes within its own patience (MQTT says goodbye, stdout drains).
        let sinks = std::mem::take(&mut *lock(&self.sinks));
        for s in &sinks {
            s.close().await;
        }
        let flushing = std::mem::take(&mut *lock(&self.flushing));
        for f in flushing {
            let _ = f.await;
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
        let all_failed = (stopped_by_streams && !seen.is_empty() && failed.len() == seen.len())
            .then(|| {
                format!(
                    "every camera ended with an error:\n  {}",
                    failed.join("\n  ")
                )
            });
        Finished {
            accounting: output::accounting_table(&finals),
            stdout_dropped: self.stdout.dropped(),
            seen,
            all_failed,
        }
    }
}
