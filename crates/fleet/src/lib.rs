//! The fleet on NATS JetStream (`run --cluster`, `cameras`, `results`, `cluster status`): the
//! I/O around the `lease` crate's rules. A worker heartbeats into the `members` bucket,
//! claims and renews per-camera leases in `leases` (the claim's revision is the camera's
//! fencing token), takes the cameras the `cameras` bucket lists, and publishes every result
//! to the `RESULTS` stream on `results.<camera>` with headers `Lease-Rev`, `Worker`, `Frame`
//! and a de-duplication id. Nothing here waits on NATS in the pipeline's path: results go
//! through a bounded buffer (drops counted), lease writes run as tasks with timeouts. The
//! registry, reader and status commands are in [`commands`], their flags (and `run
//! --cluster`'s) in [`flags`], as clap structs the binary flattens.
//!
//! To the service (the `service` crate) the fleet is a camera source (the leases it holds
//! become cameras of `Origin::Cluster`, each with its lease token a typed field) and a sink
//! (results published under that token), plus the registry the HTTP API edits
//! ([`service::FleetLink`]). It may depend on the service, the facade and the pure `lease`
//! rules; neither the service nor the facade knows it.

// The registry, reader and status commands print what they are asked for.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, kv, stream};
use async_nats::{Client, HeaderMap};
use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use lease::{Action, Config, Input, LeaseError, StopReason, Worker};
use rtsp_worker::TrackingResult;
use serde_json::{Value, json};
use service::config::{Entry, Trust};
use service::{FleetLink, Origin, Service, Sink, StreamSink, lock, now_secs};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

pub mod commands;
pub mod flags;
mod seal;
pub use seal::FleetKey;

/// What went wrong, as the binary maps it to an exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Bad settings: a flag, a key file, an id, a lease TTL other workers do not share.
    Usage(String),
    /// NATS refused or never answered, or anything else unexpected.
    Unexpected(String),
}

impl Error {
    fn usage(m: impl Into<String>) -> Self {
        Self::Usage(m.into())
    }

    fn unexpected(m: impl Into<String>) -> Self {
        Self::Unexpected(m.into())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Usage(m) | Self::Unexpected(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

/// Bucket of worker heartbeats (one key per worker, lapsing a TTL after the last write).
pub const MEMBERS: &str = "members";
/// Bucket of leases (one key per camera, lapsing a TTL after the last renewal).
pub const LEASES: &str = "leases";
/// Bucket of the cameras the fleet should run (id → the camera, as the HTTP API takes it).
pub const CAMERAS: &str = "cameras";
/// The bucket of each camera's latest track snapshot: the lease token it was taken under,
/// then [`rtsp_worker::TrackSnapshot`] bytes; a new owner goes on from it.
pub const TRACKS: &str = "tracks";
/// How long a track snapshot is kept (far past any tracker's `max_age`).
const TRACKS_TTL: Duration = Duration::from_secs(600);
/// How often an owner writes its cameras' snapshots.
const SNAPSHOT_EVERY: Duration = Duration::from_secs(1);
/// The results stream, on `results.<camera>`.
pub const RESULTS: &str = "RESULTS";
/// The fleet's settings; `model` names the model every worker runs (`cluster model NAME`):
/// `{"path": "NAME.onnx", "restart_tracks": false}`, a file in each worker's `--model-dir`.
pub const SETTINGS: &str = "settings";
/// The key of the fleet's model in [`SETTINGS`].
pub const MODEL_KEY: &str = "model";

/// The largest registry entry a worker takes (a camera with 64 zones is well under this).
const MAX_ENTRY: usize = 64 * 1024;
/// The most registry entries a worker keeps; more are ignored, with a warning.
const MAX_ENTRIES: usize = 10_000;

/// Results waiting for JetStream before the newest are dropped (counted as `buffer_full`).
const BUFFER: usize = 4096;
/// Publishes awaiting their ack at once (one per camera at most).
const IN_FLIGHT: usize = 256;
/// The controller's tick.
const TICK: Duration = Duration::from_millis(100);
/// What the watchers and the lease writes may queue for the controller: a burst of
/// renewals and key changes far larger than a tick's (the controller takes them all at
/// once); past it, they wait (a watcher reads its bucket later, a lease task answers later).
const INPUTS: usize = 4096;
/// Camera starts and stops the controller may queue: the task that carries them out only
/// spawns one task per order, so it takes them as fast as they come; past it, the
/// controller waits for room.
const OPS: usize = 1024;

/// A NATS URL with any password or token replaced by `***`.
pub fn redact(url: &str) -> rtsp_worker::RedactedUrl {
    rtsp_worker::RedactedUrl::from_pathless_text(url)
}

/// Camera ids (and worker and reader names) the fleet accepts: a stream id
/// ([`rtsp_worker::check_stream_id`]) without `.`, which would split a NATS subject token
/// and is refused in consumer names.
pub fn check_id(id: &str) -> Result<(), String> {
    if rtsp_worker::check_stream_id(id).is_ok() && !id.contains('.') {
        Ok(())
    } else {
        Err(format!(
            "camera id {:?}: in a fleet ids are 1–64 of A–Z a–z 0–9 _ - (they name NATS subjects)",
            id.chars().take(40).collect::<String>()
        ))
    }
}

/// How to reach the fleet's NATS server: its URL (`nats://`, or `tls://` for TLS, with an
/// optional `user:password@` or token), and the credentials and roots to use. `Debug`
/// redacts the URL.
#[derive(Clone, Default)]
pub struct Nats {
    pub url: String,
    /// A `.creds` file (a user JWT and its NKey seed), as `nsc` writes them.
    pub creds: Option<PathBuf>,
    /// A file holding an NKey seed (`SU…`).
    pub nkey: Option<PathBuf>,
    /// PEM roots the server's TLS certificate must chain to (TLS is then required).
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for Nats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nats")
            .field("url", &redact(&self.url))
            .field("creds", &self.creds)
            .field("nkey", &self.nkey)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// Connects to NATS; fails fast if nobody answers, reconnects forever afterwards.
pub async fn connect(nats: &Nats, name: &str) -> Result<(Client, jetstream::Context), Error> {
    let url = &nats.url;
    let mut options = async_nats::ConnectOptions::new();
    if let Some(path) = &nats.creds {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::usage(format!("--nats-creds {}: {e}", path.display())))?;
        options = options.credentials(&text).map_err(|_| {
            Error::usage(format!(
                "--nats-creds {}: not a NATS credentials file (a JWT and an NKey seed)",
                path.display()
            ))
        })?;
    }
    if let Some(path) = &nats.nkey {
        let seed = std::fs::read_to_string(path)
            .map_err(|e| Error::usage(format!("--nats-nkey {}: {e}", path.display())))?;
        let seed = seed.trim();
        if !seed.starts_with('S') || seed.len() < 50 {
            return Err(Error::usage(format!(
                "--nats-nkey {}: not an NKey seed (SU…)",
                path.display()
            )));
        }
        options = options.nkey(seed.to_owned());
    }
    if let Some(path) = &nats.ca_file {
        if !path.is_file() {
            return Err(Error::usage(format!(
                "--nats-ca-file {}: no such file",
                path.display()
            )));
        }
        options = options
            .add_root_certificates(path.clone())
            .require_tls(true);
    }
    let client = options
        .name(name)
        .connection_timeout(Duration::from_secs(2))
        .max_reconnects(None)
        .reconnect_delay_callback(|n| Duration::from_millis((100 * n as u64).min(1000)))
        .connect(url)
        .await
        .map_err(|e| Error::unexpected(format!("cannot reach NATS at {}: {e}", redact(url))))?;
    let js = jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(2))
        .ack_timeout(Duration::from_secs(3))
        .max_ack_inflight(IN_FLIGHT)
        .build(client.clone());
    Ok((client, js))
}

fn nats_failure(what: &str, e: impl std::fmt::Display) -> Error {
    Error::unexpected(format!("NATS: {what}: {e}"))
}

/// Opens a KV bucket, creating it (history 1, `max_age`) if it does not exist.
async fn bucket(
    js: &jetstream::Context,
    name: &str,
    max_age: Duration,
) -> Result<kv::Store, Error> {
    if let Ok(store) = js.get_key_value(name).await {
        if !max_age.is_zero() {
            let status = store.status().await.map_err(|e| nats_failure(name, e))?;
            if status.max_age() != max_age {
                return Err(Error::usage(format!(
                    "the fleet's {name} bucket lapses after {:?}, this worker's --lease-ttl is {max_age:?}: every worker must use the same TTL",
                    status.max_age()
                )));
            }
        }
        return Ok(store);
    }
    let created = js
        .create_key_value(kv::Config {
            bucket: name.to_owned(),
            history: 1,
            max_age,
            storage: stream::StorageType::File,
            // The registry's entries: the server refuses larger ones (workers ignore them).
            max_value_size: if name == CAMERAS {
                MAX_ENTRY as i32
            } else {
                -1
            },
            ..Default::default()
        })
        .await;
    match created {
        Ok(s) => Ok(s),
        // Another worker made it meanwhile.
        Err(e) => js
            .get_key_value(name)
            .await
            .map_err(|_| nats_failure(&format!("cannot create bucket {name}"), e)),
    }
}

/// The fleet's buckets and stream, created where missing.
#[derive(Debug, Clone)]
pub struct Buckets {
    pub members: kv::Store,
    pub leases: kv::Store,
    pub cameras: kv::Store,
    pub tracks: kv::Store,
    pub settings: kv::Store,
}

pub async fn buckets(js: &jetstream::Context, ttl: Duration) -> Result<Buckets, Error> {
    Ok(Buckets {
        members: bucket(js, MEMBERS, ttl).await?,
        leases: bucket(js, LEASES, ttl).await?,
        cameras: bucket(js, CAMERAS, Duration::ZERO).await?,
        tracks: bucket(js, TRACKS, TRACKS_TTL).await?,
        settings: bucket(js, SETTINGS, Duration::ZERO).await?,
    })
}

pub async fn results_stream(js: &jetstream::Context) -> Result<stream::Stream, Error> {
    js.get_or_create_stream(stream::Config {
        name: RESULTS.to_owned(),
        subjects: vec!["results.>".to_owned()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        discard: stream::DiscardPolicy::Old,
        max_age: Duration::from_secs(24 * 3600),
        max_bytes: 1 << 30,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .map_err(|e| nats_failure("cannot open the RESULTS stream", e))
}

/// What a result publisher counts; also in the worker's heartbeat.
#[derive(Debug, Default)]
pub struct Counters {
    pub published: AtomicU64,
    /// Not published: this worker no longer held (or trusted) the camera's lease.
    pub lease_lost: AtomicU64,
    /// Not published: the buffer towards JetStream was full (NATS slow or down).
    pub buffer_full: AtomicU64,
    /// Not published: JetStream refused it or never acknowledged it, retries spent.
    pub failed: AtomicU64,
}

impl Counters {
    fn to_json(&self) -> Value {
        json!({
            "published": self.published.load(Ordering::Relaxed),
            "dropped": {
                "lease_lost": self.lease_lost.load(Ordering::Relaxed),
                "buffer_full": self.buffer_full.load(Ordering::Relaxed),
                "failed": self.failed.load(Ordering::Relaxed),
            },
        })
    }
}

#[derive(Debug)]
struct Outgoing {
    camera: String,
    token: u64,
    frame: u64,
    payload: Bytes,
}

/// One worker's membership in the fleet, shared by the controller and the stream consumers.
#[derive(Debug)]
pub struct Fleet {
    me: String,
    epoch: Instant,
    worker: Mutex<Worker>,
    pub counters: Counters,
    results: mpsc::Sender<Outgoing>,
    /// The registry, which the HTTP API edits in a fleet.
    cameras: kv::Store,
    /// The fleet's settings (its model), which the HTTP API sets in a fleet.
    settings: kv::Store,
    /// Seals the passwords the HTTP API registers, opens those the registry holds.
    key: Option<FleetKey>,
}

pub use service::RegistryError;

/// Checks a camera for the registry (as the HTTP API takes it) and seals its password: a
/// password in the URL's user info or in `password` is moved to `password_sealed`, sealed
/// with the fleet key for this id, URL and user name. Without a key, a camera with a
/// password is refused: no password sits in the registry in clear.
pub fn seal_entry(id: &str, camera: Value, key: Option<&FleetKey>) -> Result<Value, String> {
    let which = format!("camera {id:?}");
    let Value::Object(mut map) = camera else {
        return Err(format!("{which}: must be a JSON object"));
    };
    for field in ["password_env", "password_sealed"] {
        if map.contains_key(field) {
            return Err(format!(
                "{which}: {field} is not taken here; give the password itself (it is sealed)"
            ));
        }
    }
    map.retain(|k, v| !v.is_null() && k != "id");
    let entry: Entry =
        serde_json::from_value(Value::Object(map.clone())).map_err(|e| format!("{which}: {e}"))?;
    entry
        .clone()
        .into_camera(id.to_owned(), &which, Trust::NETWORK)?;
    let (url, in_url) = rtsp_worker::split_credentials(&entry.url);
    let (username, password) = match in_url {
        Some(c) => (Some(c.username), Some(c.password).filter(|p| !p.is_empty())),
        None => (entry.username.clone(), entry.password.clone()),
    };
    map.remove("password");
    map.insert("url".into(), Value::String(url.clone()));
    if let Some(u) = &username {
        map.insert("username".into(), Value::String(u.clone()));
    }
    if let Some(p) = password {
        let key = key.ok_or_else(|| {
            format!(
                "{which}: a password goes into the registry sealed, with the fleet's key: give \
                 --fleet-key-file"
            )
        })?;
        let sealed = key.seal(id, &url, username.as_deref().unwrap_or(""), &p);
        map.insert("password_sealed".into(), Value::String(sealed));
    }
    Ok(Value::Object(map))
}

/// A registry entry as a camera entry: its sealed password opened with the fleet key. A
/// password in clear (which no worker writes) is refused.
pub fn open_entry(id: &str, value: Value, key: Option<&FleetKey>) -> Result<Entry, String> {
    let which = format!("camera {id:?}");
    let Value::Object(mut map) = value else {
        return Err(format!("{which}: the registry entry is not a JSON object"));
    };
    if map.contains_key("password") {
        return Err(format!(
            "{which}: the registry holds its password in clear, which is refused: add the \
             camera again with --fleet-key-file so that it is sealed"
        ));
    }
    let sealed = map.remove("password_sealed");
    let mut entry: Entry =
        serde_json::from_value(Value::Object(map)).map_err(|e| format!("{which}: {e}"))?;
    if let Some(sealed) = sealed {
        let key = key.ok_or_else(|| {
            format!("{which}: its password is sealed with the fleet key; give --fleet-key-file")
        })?;
        let sealed = sealed.as_str().unwrap_or_default();
        let user = entry.username.clone().unwrap_or_default();
        entry.password = Some(
            key.open(id, &entry.url, &user, sealed)
                .map_err(|m| format!("{which}: {m}"))?,
        );
    }
    Ok(entry)
}

/// Adds a camera (`{"url", "username", "password_sealed", "transport", "zones", "lines"}`,
/// nulls left out, as [`seal_entry`] made it) to the registry; fails if the id is taken.
async fn put_camera(store: &kv::Store, id: &str, camera: &Value) -> Result<(), RegistryError> {
    let mut camera = camera.clone();
    if let Some(map) = camera.as_object_mut() {
        map.retain(|k, v| !v.is_null() && k != "id");
    }
    match store.create(id, Bytes::from(camera.to_string())).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Err(RegistryError::Exists),
        Err(e) => Err(RegistryError::Nats(e.to_string())),
    }
}

async fn delete_camera(store: &kv::Store, id: &str) -> Result<(), RegistryError> {
    match store.entry(id).await {
        Ok(Some(e)) if e.operation == kv::Operation::Put => store
            .delete(id)
            .await
            .map_err(|e| RegistryError::Nats(e.to_string())),
        Ok(_) => Err(RegistryError::Missing),
        Err(e) => Err(RegistryError::Nats(e.to_string())),
    }
}

impl Fleet {
    /// Adds a camera to the fleet's registry (the HTTP API in a fleet).
    pub async fn register(&self, id: &str, camera: &Value) -> Result<(), RegistryError> {
        check_id(id).map_err(RegistryError::Invalid)?;
        let sealed =
            seal_entry(id, camera.clone(), self.key.as_ref()).map_err(RegistryError::Invalid)?;
        put_camera(&self.cameras, id, &sealed).await
    }

    /// Removes a camera from the fleet's registry.
    pub async fn unregister(&self, id: &str) -> Result<(), RegistryError> {
        delete_camera(&self.cameras, id).await
    }

    /// Sets the model every worker of the fleet runs: a file name in their `--model-dir`.
    pub async fn set_model(&self, name: &str, restart_tracks: bool) -> Result<(), RegistryError> {
        put_model(&self.settings, name, restart_tracks).await
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Whether this worker may publish `camera`'s results under `token` now.
    fn gate(&self, camera: &str, token: u64) -> bool {
        lock(&self.worker).may_publish(camera, token, self.now())
    }

    /// Queues a result of the stream started under `token` for JetStream; never waits. (A
    /// camera's previous stream may still be draining when it runs again under a new lease:
    /// its results carry the old token and are not published.)
    pub fn offer(&self, camera: &str, token: u64, r: &TrackingResult) {
        if !self.gate(camera, token) {
            self.counters.lease_lost.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let payload = Bytes::from(serde_json::to_vec(r).unwrap_or_default());
        let out = Outgoing {
            camera: camera.to_owned(),
            token,
            frame: r.frame_number,
            payload,
        };
        if self.results.try_send(out).is_err() {
            self.counters.buffer_full.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A running membership: [`Member::leave`] hands every camera over.
#[derive(Debug)]
pub struct Member {
    pub fleet: Arc<Fleet>,
    stop: Option<oneshot::Sender<()>>,
    controller: tokio::task::JoinHandle<()>,
    publisher: tokio::task::JoinHandle<()>,
}

/// Settings of `run --cluster`.
#[derive(Debug, Clone)]
pub struct Join {
    pub nats: Nats,
    pub key: Option<FleetKey>,
    /// Benchmarks only (`--bench-registry-file-urls`): registry entries may name local clips.
    pub registry_file_urls: bool,
    pub worker_id: String,
    pub ttl: Duration,
}

impl Join {
    /// The settings of `run --cluster`, checked: `worker_id` defaults to the host name and
    /// process id, `lease_ttl` is in seconds (0.5 to 3600, the same for every worker).
    pub fn new(
        nats: Nats,
        key: Option<FleetKey>,
        worker_id: Option<String>,
        lease_ttl: f64,
        registry_file_urls: bool,
    ) -> Result<Self, Error> {
        if !(lease_ttl.is_finite() && (0.5..=3600.0).contains(&lease_ttl)) {
            return Err(Error::usage(
                "--lease-ttl must be between 0.5 and 3600 seconds",
            ));
        }
        Ok(Self {
            nats,
            key,
            registry_file_urls,
            worker_id: worker_id.unwrap_or_else(default_worker_id),
            ttl: Duration::from_millis((lease_ttl * 1000.0).round() as u64),
        })
    }
}

/// A default worker id: host name and process id.
pub fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "worker".into());
    let host: String = host
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    format!("{host}-{}", std::process::id())
}

/// Joins the fleet: the worker starts heartbeating, claims its share and publishes results.
pub async fn join(service: Arc<Service>, j: Join) -> Result<Member, Error> {
    check_id(&j.worker_id).map_err(|m| Error::usage(m.replace("camera id", "worker id")))?;
    let (_client, js) = connect(&j.nats, &j.worker_id).await?;
    let b = buckets(&js, j.ttl).await?;
    let results = results_stream(&js).await?;
    let (results_tx, results_rx) = mpsc::channel(BUFFER);
    let fleet = Arc::new(Fleet {
        me: j.worker_id.clone(),
        epoch: Instant::now(),
        worker: Mutex::new(Worker::new(
            j.worker_id.clone(),
            Config::new(j.ttl),
            Duration::ZERO,
        )),
        counters: Counters::default(),
        results: results_tx,
        cameras: b.cameras.clone(),
        settings: b.settings.clone(),
        key: j.key.clone(),
    });
    service.set_fleet(fleet.clone());
    service.add_sink(Arc::new(Publish(fleet.clone())));
    let publisher = tokio::spawn(publish(fleet.clone(), js.clone(), results, results_rx));
    let (inputs, inputs_rx) = mpsc::channel(INPUTS);
    let registry: Arc<Mutex<HashMap<String, Value>>> = Arc::default();
    let me = j.worker_id.clone();
    tokio::spawn(watch(b.members.clone(), inputs.clone(), |e| {
        match e.operation {
            kv::Operation::Put => Some(Input::Heartbeat { member: e.key }),
            _ => Some(Input::Left { member: e.key }),
        }
    }));
    tokio::spawn(watch(b.leases.clone(), inputs.clone(), |e| {
        match e.operation {
            kv::Operation::Put => {
                let v: Value = serde_json::from_slice(&e.value).unwrap_or_default();
                Some(Input::Lease {
                    camera: e.key,
                    owner: v["worker"].as_str().unwrap_or_default().to_owned(),
                    revision: e.revision,
                })
            }
            _ => Some(Input::LeaseGone { camera: e.key }),
        }
    }));
    let reg = registry.clone();
    tokio::spawn(watch(b.cameras.clone(), inputs.clone(), move |e| {
        // Whoever writes to NATS writes here: an id that is not one, an entry too large or
        // one too many is ignored (and one that was there is removed).
        let mut reg = lock(&reg);
        let refusal = match e.operation {
            kv::Operation::Put => {
                if let Err(m) = check_id(&e.key) {
                    Some(m)
                } else if e.value.len() > MAX_ENTRY {
                    Some(format!("{} bytes, more than {MAX_ENTRY}", e.value.len()))
                } else if reg.len() >= MAX_ENTRIES && !reg.contains_key(&e.key) {
                    Some(format!("more than {MAX_ENTRIES} cameras in the registry"))
                } else {
                    None
                }
            }
            _ => None,
        };
        match (e.operation, refusal) {
            (kv::Operation::Put, None) => {
                let v: Value = serde_json::from_slice(&e.value).unwrap_or_default();
                reg.insert(e.key.clone(), v);
                Some(Input::CameraAdded { camera: e.key })
            }
            (kv::Operation::Put, Some(m)) => {
                warn!(camera = %e.key.chars().take(64).collect::<String>(), error = %m, "registry entry ignored");
                reg.remove(&e.key)
                    .map(|_| Input::CameraRemoved { camera: e.key })
            }
            _ => {
                reg.remove(&e.key);
                Some(Input::CameraRemoved { camera: e.key })
            }
        }
    }));
    let (stop_tx, stop_rx) = oneshot::channel();
    let (ops_tx, ops_rx) = mpsc::channel(OPS);
    let trust = Trust {
        file_urls: j.registry_file_urls,
        ..Trust::NETWORK
    };
    tokio::spawn(snapshots(
        fleet.clone(),
        service.clone(),
        b.tracks.clone(),
        inputs.clone(),
    ));
    tokio::spawn(follow_model(
        service.clone(),
        b.settings.clone(),
        inputs.clone(),
    ));
    tokio::spawn(camera_ops(
        service.clone(),
        registry,
        b.tracks.clone(),
        j.key.clone(),
        trust,
        ops_rx,
    ));
    let controller = tokio::spawn(control(
        fleet.clone(),
        service,
        b,
        inputs,
        inputs_rx,
        stop_rx,
        ops_tx,
        j.ttl,
    ));
    info!(worker = %me, nats = %redact(&j.nats.url), ttl = ?j.ttl, "joined the fleet");
    Ok(Member {
        fleet,
        stop: Some(stop_tx),
        controller,
        publisher,
    })
}

impl Member {
    /// Releases every lease (so that other workers take the cameras at once), leaves the
    /// member list, and flushes what results it can for up to a second; what was published.
    pub async fn leave(mut self) -> Published {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(3), &mut self.controller).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), &mut self.publisher).await;
        self.publisher.abort();
        let c = &self.fleet.counters;
        Published {
            published: c.published.load(Ordering::Relaxed),
            lease_lost: c.lease_lost.load(Ordering::Relaxed),
            buffer_full: c.buffer_full.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
        }
    }
}

/// A member's results when it left: published, and not published by reason (as
/// [`Counters`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub published: u64,
    pub lease_lost: u64,
    pub buffer_full: u64,
    pub failed: u64,
}

impl std::fmt::Display for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} results published; not published: {} lease lost, {} buffer full, {} failed",
            self.published, self.lease_lost, self.buffer_full, self.failed
        )
    }
}

/// Feeds a bucket's entries (its current keys first) to the controller, re-watching after
/// an error (a NATS restart).
async fn watch(
    store: kv::Store,
    inputs: mpsc::Sender<Input>,
    map: impl Fn(kv::Entry) -> Option<Input> + Send + 'static,
) {
    loop {
        match store.watch_with_history(">").await {
            Ok(mut w) => {
                while let Some(entry) = w.next().await {
                    match entry {
                        Ok(e) => {
                            if let Some(i) = map(e)
                                && inputs.send(i).await.is_err()
                            {
                                return;
                            }
                        }
                        Err(e) => {
                            debug!(error = %e, "watch interrupted");
                            break;
                        }
                    }
                }
            }
            Err(e) => debug!(error = %e, "cannot watch yet"),
        }
        if inputs.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A camera's snapshot entry: the lease token it was written under, and the snapshot.
fn read_entry(value: &[u8]) -> Option<(u64, &[u8])> {
    let (token, rest) = value.split_first_chunk::<8>()?;
    Some((u64::from_le_bytes(*token), rest))
}

/// Writes each held camera's track snapshot every second, under its lease token: never over
/// one written under a later token (a newer owner's). Ends with the controller (as the
/// watchers do, when its inputs close).
async fn snapshots(
    fleet: Arc<Fleet>,
    service: Arc<Service>,
    store: kv::Store,
    inputs: mpsc::Sender<Input>,
) {
    let mut tick = tokio::time::interval(SNAPSHOT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if inputs.is_closed() {
            return;
        }
        let held: Vec<(String, u64)> = lock(&fleet.worker)
            .held()
            .map(|(c, t)| (c.to_owned(), t))
            .collect();
        for (camera, token) in held {
            if !fleet.gate(&camera, token) {
                continue;
            }
            let Some(snapshot) = service
                .manager
                .stream(&camera)
                .and_then(|c| c.track_snapshot())
            else {
                continue;
            };
            if let Err(e) = write_snapshot(&store, &camera, token, &snapshot).await {
                debug!(camera, error = %e, "track snapshot not written");
            }
        }
    }
}

async fn write_snapshot(
    store: &kv::Store,
    camera: &str,
    token: u64,
    snapshot: &rtsp_worker::TrackSnapshot,
) -> Result<(), String> {
    let mut value = token.to_le_bytes().to_vec();
    value.extend_from_slice(&snapshot.to_bytes());
    let current = store.entry(camera).await.map_err(|e| e.to_string())?;
    match current {
        Some(e) if e.operation == kv::Operation::Put => {
            if read_entry(&e.value).is_some_and(|(t, _)| t > token) {
                return Ok(()); // a newer owner's
            }
            store
                .update(camera, value.into(), e.revision)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        }
        _ => store
            .put(camera, value.into())
            .await
            .map(drop)
            .map_err(|e| e.to_string()),
    }
}

/// The snapshot a new owner under `token` goes on from: the camera's latest, if an earlier
/// owner wrote it and it reads whole.
async fn snapshot_for(
    store: &kv::Store,
    camera: &str,
    token: u64,
) -> Option<rtsp_worker::TrackSnapshot> {
    let value = store.get(camera).await.ok()??;
    let (written, bytes) = read_entry(&value)?;
    if written >= token {
        return None;
    }
    match rtsp_worker::TrackSnapshot::from_bytes(bytes) {
        Ok(s) => Some(s),
        Err(e) => {
            warn!(camera, error = %e, "track snapshot ignored");
            None
        }
    }
}

enum CameraOp {
    Start { camera: String, token: u64 },
    Stop { camera: String, reason: StopReason },
}

/// Starts and stops cameras in the order the controller decided for each camera, different
/// cameras side by side (a draining camera delays only its own next start).
async fn camera_ops(
    service: Arc<Service>,
    registry: Arc<Mutex<HashMap<String, Value>>>,
    tracks: kv::Store,
    key: Option<FleetKey>,
    trust: Trust,
    mut ops: mpsc::Receiver<CameraOp>,
) {
    let mut last: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    while let Some(op) = ops.recv().await {
        last.retain(|_, h| !h.is_finished());
        let camera = match &op {
            CameraOp::Start { camera, .. } | CameraOp::Stop { camera, .. } => camera.clone(),
        };
        let before = last.remove(&camera);
        let service = service.clone();
        let registry = registry.clone();
        let key = key.clone();
        let tracks = tracks.clone();
        let task = tokio::spawn(async move {
            if let Some(b) = before {
                let _ = b.await;
            }
            camera_op(&service, &registry, &tracks, key.as_ref(), trust, op).await;
        });
        last.insert(camera, task);
    }
    for (_, h) in last {
        let _ = h.await;
    }
}

async fn camera_op(
    service: &Arc<Service>,
    registry: &Mutex<HashMap<String, Value>>,
    tracks: &kv::Store,
    key: Option<&FleetKey>,
    trust: Trust,
    op: CameraOp,
) {
    match op {
        CameraOp::Start { camera, token } => {
            let Some(value) = lock(registry).get(&camera).cloned() else {
                warn!(camera, "leased but not in the registry");
                return;
            };
            // A registry entry is untrusted input: no file, no environment variable, and a
            // password only sealed with this fleet's key for exactly this camera.
            let parsed = open_entry(&camera, value, key)
                .and_then(|e| e.into_camera(camera.clone(), &format!("camera {camera:?}"), trust));
            match parsed {
                Ok(mut cam) => {
                    // Ids never collide across owners: the token names this ownership.
                    cam.first_track_id = token << 32;
                    cam.lease_token = Some(token);
                    // The tracks go on from the previous owner's latest snapshot (at most
                    // a second old; those unseen past `max_age` end at once).
                    cam.resume_tracks = tokio::time::timeout(
                        Duration::from_secs(2),
                        snapshot_for(tracks, &camera, token),
                    )
                    .await
                    .ok()
                    .flatten();
                    match service.add(cam, Origin::Cluster).await {
                        Ok(_) => info!(camera, token, "camera started"),
                        Err(e) => warn!(camera, error = %e, "cannot start camera"),
                    }
                }
                Err(m) => warn!(camera, error = %m, "bad registry entry"),
            }
        }
        CameraOp::Stop { camera, reason } => {
            if service.remove_now(&camera).await.is_ok() {
                info!(camera, ?reason, "camera stopped");
            }
        }
    }
}

/// The controller: feeds the rules, carries out their actions, every tick.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site, in join, that names each"
)]
async fn control(
    fleet: Arc<Fleet>,
    service: Arc<Service>,
    b: Buckets,
    inputs: mpsc::Sender<Input>,
    mut rx: mpsc::Receiver<Input>,
    mut stop: oneshot::Receiver<()>,
    ops: mpsc::Sender<CameraOp>,
    ttl: Duration,
) {
    // A lease write not answered by its next renewal is a transient failure.
    let renew_timeout = Config::new(ttl).renew_every();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut releases = JoinSet::new();
    let mut stopping = false;
    // Inputs come in bursts (a renewal per camera per second from every worker): they are
    // taken in together and the rules polled once, at most 20 ms after the first of them.
    let mut pending: Option<tokio::time::Instant> = None;
    loop {
        let flush = async {
            match pending {
                Some(t) => tokio::time::sleep_until(t + Duration::from_millis(20)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some(i) = rx.recv() => {
                let mut w = lock(&fleet.worker);
                let now = fleet.now();
                w.handle(now, i);
                while let Ok(i) = rx.try_recv() {
                    w.handle(now, i);
                }
                pending.get_or_insert_with(tokio::time::Instant::now);
                continue;
            }
            () = flush => {}
            _ = tick.tick() => {}
            _ = &mut stop, if !stopping => {
                stopping = true;
                // Out of the others' views first: a camera whose lease goes next is claimed
                // by its new owner at once (they would not claim it from a live member).
                let store = b.members.clone();
                let me = fleet.me.clone();
                releases.spawn(async move {
                    let _ = tokio::time::timeout(renew_timeout, store.delete(&me)).await;
                });
                lock(&fleet.worker).handle(fleet.now(), Input::Shutdown);
            }
        }
        pending = None;
        while releases.try_join_next().is_some() {}
        let (actions, done) = {
            let mut w = lock(&fleet.worker);
            let a = w.poll(fleet.now());
            (a, w.is_done())
        };
        for action in actions {
            match action {
                Action::Heartbeat => {
                    let held: Vec<String> = lock(&fleet.worker)
                        .held()
                        .map(|(c, _)| c.to_owned())
                        .collect();
                    let model = service.manager.model();
                    let file = model.file_name();
                    let value = json!({
                        "worker": fleet.me,
                        "pid": std::process::id(),
                        "at": now_secs(),
                        "cameras": held,
                        "results": fleet.counters.to_json(),
                        "model": {"file": file, "sha256": model.sha256, "generation": model.generation},
                    });
                    let store = b.members.clone();
                    let me = fleet.me.clone();
                    tokio::spawn(async move {
                        let put = store.put(&me, Bytes::from(value.to_string()));
                        match tokio::time::timeout(renew_timeout, put).await {
                            Ok(Ok(_)) => {}
                            Ok(Err(e)) => debug!(error = %e, "heartbeat failed"),
                            Err(_) => debug!("heartbeat timed out"),
                        }
                    });
                }
                Action::Claim { camera, over } => {
                    let store = b.leases.clone();
                    let value = Bytes::from(
                        json!({"worker": fleet.me, "claim": true, "at": now_secs()}).to_string(),
                    );
                    let inputs = inputs.clone();
                    tokio::spawn(async move {
                        let claim = async {
                            // A lease nobody renewed for a TTL may still be in the store
                            // (its expiry runs late): replace exactly that revision.
                            if let Some(rev) = over {
                                match store.update(&camera, value.clone(), rev).await {
                                    Ok(r) => return Ok(r),
                                    Err(e)
                                        if e.kind() != kv::UpdateErrorKind::WrongLastRevision =>
                                    {
                                        return Err(LeaseError::Transient);
                                    }
                                    Err(_) => {}
                                }
                            }
                            match store.create(&camera, value).await {
                                Ok(r) => Ok(r),
                                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                                    Err(LeaseError::Taken)
                                }
                                Err(_) => Err(LeaseError::Transient),
                            }
                        };
                        let result = tokio::time::timeout(renew_timeout, claim)
                            .await
                            .unwrap_or(Err(LeaseError::Transient));
                        let _ = inputs.send(Input::Claimed { camera, result }).await;
                    });
                }
                Action::Renew { camera, revision } => {
                    let store = b.leases.clone();
                    let token = lock(&fleet.worker)
                        .held()
                        .find(|(c, _)| *c == camera)
                        .map(|(_, t)| t);
                    let value = json!({"worker": fleet.me, "token": token, "at": now_secs()});
                    let inputs = inputs.clone();
                    tokio::spawn(async move {
                        let r = tokio::time::timeout(
                            renew_timeout,
                            store.update(&camera, Bytes::from(value.to_string()), revision),
                        )
                        .await;
                        let result = match r {
                            Ok(Ok(rev)) => Ok(rev),
                            Ok(Err(e)) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                                Err(LeaseError::Taken)
                            }
                            _ => Err(LeaseError::Transient),
                        };
                        let _ = inputs.send(Input::Renewed { camera, result }).await;
                    });
                }
                Action::Release { camera, revision } => {
                    let store = b.leases.clone();
                    // The final snapshot first, under the lease still held: the next owner
                    // claims only once the lease is gone, and starts from this state rather
                    // than the last periodic one (up to a second older).
                    let last = service
                        .manager
                        .stream(&camera)
                        .and_then(|c| c.track_snapshot())
                        .zip(service.lease_token(&camera));
                    let tracks = b.tracks.clone();
                    releases.spawn(async move {
                        if let Some((snapshot, token)) = last {
                            let write = write_snapshot(&tracks, &camera, token, &snapshot);
                            if let Ok(Err(e)) = tokio::time::timeout(renew_timeout, write).await {
                                debug!(camera, error = %e, "final track snapshot not written");
                            }
                        }
                        let _ = tokio::time::timeout(
                            renew_timeout,
                            store.delete_expect_revision(&camera, Some(revision)),
                        )
                        .await;
                    });
                }
                Action::Start { camera, token } => {
                    let _ = ops.send(CameraOp::Start { camera, token }).await;
                }
                Action::Stop { camera, reason } => {
                    let _ = ops.send(CameraOp::Stop { camera, reason }).await;
                }
            }
        }
        if stopping && done {
            break;
        }
    }
    while releases.join_next().await.is_some() {}
    let _ = tokio::time::timeout(TICK * 5, b.members.delete(&fleet.me)).await;
    info!(worker = %fleet.me, "left the fleet");
}

/// Results of one camera waiting for their turn before the newest are dropped.
const LANE: usize = 64;

/// Hands each result to its camera's lane (created on the first result, gone when idle).
async fn publish(
    fleet: Arc<Fleet>,
    js: jetstream::Context,
    stream: stream::Stream,
    mut rx: mpsc::Receiver<Outgoing>,
) {
    let mut lanes: HashMap<String, mpsc::Sender<Outgoing>> = HashMap::new();
    while let Some(o) = rx.recv().await {
        lanes.retain(|_, tx| !tx.is_closed());
        let tx = lanes.entry(o.camera.clone()).or_insert_with(|| {
            let (tx, lane_rx) = mpsc::channel(LANE);
            tokio::spawn(lane(
                fleet.clone(),
                js.clone(),
                stream.clone(),
                o.camera.clone(),
                lane_rx,
            ));
            tx
        });
        if tx.try_send(o).is_err() {
            fleet.counters.buffer_full.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Publishes one camera's results in order, each awaiting its ack, each expecting the
/// subject's last sequence (`Nats-Expected-Last-Subject-Sequence`). So the stream itself is
/// fenced: a worker frozen with a result on the wire cannot land it after a newer owner's
/// (the server refuses it), and a retry after a lost ack lands once (same de-duplication id).
async fn lane(
    fleet: Arc<Fleet>,
    js: jetstream::Context,
    stream: stream::Stream,
    camera: String,
    mut rx: mpsc::Receiver<Outgoing>,
) {
    let subject = format!("results.{camera}");
    let c = &fleet.counters;
    // The subject's last sequence as this lane knows it, for the token it publishes under.
    let mut last: Option<(u64, u64)> = None;
    while let Ok(Some(o)) = tokio::time::timeout(Duration::from_secs(60), rx.recv()).await {
        let mut tries = 0;
        loop {
            if !fleet.gate(&camera, o.token) {
                c.lease_lost.fetch_add(1, Ordering::Relaxed);
                break;
            }
            if tries >= 10 {
                c.failed.fetch_add(1, Ordering::Relaxed);
                break;
            }
            tries += 1;
            let expect = match last {
                Some((token, seq)) if token == o.token => seq,
                _ => match stream.get_last_raw_message_by_subject(&subject).await {
                    Ok(m) => m.sequence,
                    Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => 0,
                    Err(e) => {
                        debug!(error = %e, "cannot read the last result's sequence");
                        tokio::time::sleep(TICK).await;
                        continue;
                    }
                },
            };
            let mut headers = HeaderMap::new();
            headers.insert("Lease-Rev", o.token.to_string().as_str());
            headers.insert("Worker", fleet.me.as_str());
            headers.insert("Frame", o.frame.to_string().as_str());
            let msg = jetstream::message::PublishMessage::build()
                .payload(o.payload.clone())
                .headers(headers)
                .message_id(format!("{camera}:{}:{}", o.token, o.frame))
                .expected_last_subject_sequence(expect);
            let acked = match js.send_publish(subject.clone(), msg).await {
                Ok(ack) => ack.await,
                Err(e) => Err(e),
            };
            match acked {
                Ok(ack) => {
                    last = Some((o.token, ack.sequence));
                    c.published.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(e) => {
                    // Someone published since (a newer owner, or this lane's own earlier try
                    // whose ack was lost): read the last sequence again.
                    last = None;
                    if e.kind() != jetstream::context::PublishErrorKind::WrongLastSequence {
                        debug!(error = %e, "publish failed");
                        tokio::time::sleep(TICK).await;
                    }
                }
            }
        }
    }
}

/// The fleet's results publisher as a sink: a stream run under a lease offers each result
/// for JetStream (the bounded buffer towards it drops, counted in `buffer_full`).
#[derive(Debug)]
struct Publish(Arc<Fleet>);

impl Sink for Publish {
    fn open(
        &self,
        conn: &rtsp_worker::StreamConnection,
        lease: Option<u64>,
    ) -> Option<Box<dyn StreamSink>> {
        Some(Box::new(LeasedStream {
            fleet: self.0.clone(),
            camera: conn.id().to_owned(),
            token: lease?,
        }))
    }
}

/// One stream run under the lease `token`.
struct LeasedStream {
    fleet: Arc<Fleet>,
    camera: String,
    token: u64,
}

impl StreamSink for LeasedStream {
    fn offer(&mut self, event: &rtsp_worker::StreamEvent) {
        if let rtsp_worker::StreamEvent::Result(r) = event {
            self.fleet.offer(&self.camera, self.token, r);
        }
    }
}

impl FleetLink for Fleet {
    fn register<'a>(
        &'a self,
        id: &'a str,
        camera: &'a Value,
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        Box::pin(Fleet::register(self, id, camera))
    }

    fn unregister<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RegistryError>> {
        Box::pin(Fleet::unregister(self, id))
    }

    fn set_model<'a>(
        &'a self,
        name: &'a str,
        restart_tracks: bool,
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        Box::pin(Fleet::set_model(self, name, restart_tracks))
    }
}

/// Writes the fleet's model: `name` must be a model's file name (`NAME.onnx`, no folder).
pub async fn put_model(
    store: &kv::Store,
    name: &str,
    restart_tracks: bool,
) -> Result<(), RegistryError> {
    if !service::registry::is_model_name(name) {
        return Err(RegistryError::Invalid(
            "the model must be a file name, NAME.onnx, of a model in each worker's --model-dir"
                .into(),
        ));
    }
    let value = json!({"path": name, "restart_tracks": restart_tracks});
    store
        .put(MODEL_KEY, Bytes::from(value.to_string()))
        .await
        .map(drop)
        .map_err(|e| RegistryError::Nats(e.to_string()))
}

/// Follows the fleet's model: each value of [`MODEL_KEY`] (the current one first) is swapped
/// to, as the HTTP API would, from this worker's `--model-dir`; a worker without one says
/// so and keeps its model. Ends with the controller (as the watchers do).
async fn follow_model(service: Arc<Service>, store: kv::Store, inputs: mpsc::Sender<Input>) {
    loop {
        match store.watch_with_history(MODEL_KEY).await {
            Ok(mut w) => {
                while let Some(entry) = w.next().await {
                    let Ok(e) = entry else { break };
                    if e.operation != kv::Operation::Put || e.value.len() > 1024 {
                        continue;
                    }
                    let v: Value = serde_json::from_slice(&e.value).unwrap_or_default();
                    let (Some(name), restart) = (
                        v["path"].as_str(),
                        v["restart_tracks"].as_bool().unwrap_or(false),
                    ) else {
                        warn!("the fleet's model setting is not {{\"path\": NAME}}; ignored");
                        continue;
                    };
                    let running = service.manager.model().path;
                    let wanted = service.settings.model_dir.as_ref().map(|d| d.join(name));
                    if wanted.is_some_and(|w| w.to_string_lossy() == running) {
                        continue;
                    }
                    match service.swap_model_named(name, restart).await {
                        Ok(m) => {
                            info!(model = name, sha256 = %m.sha256, generation = m.generation, "the fleet's model: swapped")
                        }
                        Err(e) => {
                            warn!(model = name, error = %e, "the fleet's model: not swapped; the running model stays")
                        }
                    }
                }
            }
            Err(e) => debug!(error = %e, "cannot watch the settings yet"),
        }
        if inputs.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_entries_are_sealed_and_checked() {
        let key = FleetKey::parse(&"ab".repeat(32)).unwrap();
        // A password in the URL or beside it is sealed; the URL keeps no user info.
        for camera in [
            json!({"url": "rtsp://admin:pa/ss@cam.local/1", "transport": "tcp"}),
            json!({"url": "rtsp://cam.local/1", "username": "admin", "password": "pa/ss"}),
        ] {
            let v = seal_entry("door", camera, Some(&key)).unwrap();
            let text = v.to_string();
            assert!(
                !text.contains("pa/ss") && !text.contains("\"password\""),
                "{text}"
            );
            assert_eq!(v["url"], "rtsp://cam.local/1");
            let e = open_entry("door", v.clone(), Some(&key)).unwrap();
            assert_eq!(e.password.as_deref(), Some("pa/ss"));
            assert_eq!(e.username.as_deref(), Some("admin"));
            // Moved to another camera or host, it does not open.
            assert!(open_entry("gate", v.clone(), Some(&key)).is_err());
            let mut moved = v.clone();
            moved["url"] = json!("rtsp://attacker.example/1");
            assert!(open_entry("door", moved, Some(&key)).is_err());
            assert!(open_entry("door", v, None).is_err());
        }
        // No key, no password in the registry.
        let e = seal_entry("door", json!({"url": "rtsp://u:pw@cam/1"}), None).unwrap_err();
        assert!(e.contains("--fleet-key-file") && !e.contains("pw@"), "{e}");
        assert!(seal_entry("door", json!({"url": "rtsp://cam/1"}), None).is_ok());
        // What a hostile writer might put there.
        for (bad, says) in [
            (
                json!({"url": "rtsp://cam/1", "username": "u", "password_env": "HOME"}),
                "password_env",
            ),
            (json!({"url": "file:///etc/shadow"}), "file://"),
            (
                json!({"url": "rtsp://cam/1", "password_sealed": "x"}),
                "password_sealed",
            ),
        ] {
            let e = seal_entry("door", bad.clone(), Some(&key)).unwrap_err();
            assert!(e.contains(says), "{e}");
            let opened = open_entry("door", bad, Some(&key))
                .and_then(|e| e.into_camera("door".into(), "camera", Trust::NETWORK));
            assert!(opened.is_err(), "{opened:?}");
        }
        let clear = json!({"url": "rtsp://cam/1", "username": "u", "password": "pw"});
        assert!(
            open_entry("door", clear, Some(&key))
                .unwrap_err()
                .contains("in clear")
        );
    }

    #[test]
    fn ids_must_be_subject_tokens() {
        assert!(check_id("cam-1_A").is_ok());
        for bad in ["", "a.b", "a*", ">", "a b", &"x".repeat(65)] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }
}
