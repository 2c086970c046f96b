//! The fleet's other commands: `cameras add|remove|list` (the registry), `results` (a
//! durable, fenced reader) and `cluster status`.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use async_nats::jetstream::{consumer, kv};
use futures::StreamExt;
use serde_json::{Value, json};
use tracing::debug;

use super::{
    CAMERAS, Error, FleetKey, LEASES, MEMBERS, Nats, RegistryError, bucket, check_id, connect,
    delete_camera, nats_failure, open_entry, put_camera, results_stream, seal_entry,
};

/// A camera as `cameras add` takes it (its arguments after the id).
#[derive(Debug, Clone, clap::Args)]
pub struct NewCamera {
    #[arg(help = "rtsp://[user:password@]host[:port]/path")]
    pub url: String,
    /// User name, if not in the URL
    #[arg(long)]
    pub username: Option<String>,
    /// The environment variable holding the password (read now, sealed into the
    /// registry with --fleet-key-file)
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
    /// auto, tcp or udp
    #[arg(long)]
    pub transport: Option<String>,
}

/// `cameras add ID URL`: puts a camera into the registry (fails if the id exists), its
/// password sealed with the fleet key.
pub async fn cameras_add(
    nats: &Nats,
    id: &str,
    new: NewCamera,
    key: Option<&FleetKey>,
) -> Result<(), Error> {
    check_id(id).map_err(Error::usage)?;
    let password = match &new.password_env {
        Some(var) => Some(std::env::var(var).map_err(|_| {
            Error::usage(format!("--password-env names {var:?}, which is not set"))
        })?),
        None => None,
    };
    let camera = json!({
        "url": new.url,
        "username": new.username,
        "password": password,
        "transport": new.transport,
    });
    let camera = seal_entry(id, camera, key).map_err(Error::usage)?;
    let (_c, js) = connect(nats, "rtsp-worker-cameras").await?;
    let store = bucket(&js, CAMERAS, Duration::ZERO).await?;
    put_camera(&store, id, &camera).await.map_err(|e| match e {
        RegistryError::Nats(_) => Error::unexpected(format!("camera {id:?}: {e}")),
        _ => Error::usage(format!("camera {id:?}: {e}")),
    })
}

/// `cameras rekey`: every sealed password opened with any of the key file's keys and sealed
/// again with its first (key rotation). Entries it cannot open are named and left alone.
pub async fn cameras_rekey(nats: &Nats, key: Option<&FleetKey>) -> Result<(), Error> {
    let key = key.ok_or_else(|| Error::usage("cameras rekey needs --fleet-key-file"))?;
    let (_c, js) = connect(nats, "rtsp-worker-cameras").await?;
    let store = bucket(&js, CAMERAS, Duration::ZERO).await?;
    let mut failed = Vec::new();
    let mut done = 0;
    for (id, e) in entries(&store).await? {
        let value: Value = serde_json::from_slice(&e.value).unwrap_or_default();
        if value.get("password_sealed").is_none() {
            continue;
        }
        let entry = match open_entry(&id, value.clone(), Some(key)) {
            Ok(entry) => entry,
            Err(m) => {
                failed.push(m);
                continue;
            }
        };
        let mut fresh = value;
        if let Some(map) = fresh.as_object_mut() {
            map.remove("password_sealed");
            map.insert(
                "password".into(),
                Value::String(entry.password.unwrap_or_default()),
            );
        }
        let sealed = match seal_entry(&id, fresh, Some(key)) {
            Ok(s) => s,
            Err(m) => {
                failed.push(m);
                continue;
            }
        };
        // Only if nobody changed the entry meanwhile (its revision).
        match store
            .update(&id, bytes::Bytes::from(sealed.to_string()), e.revision)
            .await
        {
            Ok(_) => done += 1,
            Err(err) => failed.push(format!("camera {id:?}: NATS: {err}")),
        }
    }
    eprintln!("rtsp-worker: {done} passwords sealed again with the first key");
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::unexpected(failed.join("\n")))
    }
}

/// `cameras remove ID`.
pub async fn cameras_remove(nats: &Nats, id: &str) -> Result<(), Error> {
    let (_c, js) = connect(nats, "rtsp-worker-cameras").await?;
    let store = bucket(&js, CAMERAS, Duration::ZERO).await?;
    delete_camera(&store, id).await.map_err(|e| match e {
        RegistryError::Nats(_) => Error::unexpected(format!("camera {id:?}: {e}")),
        _ => Error::usage(format!("camera {id:?}: {e}")),
    })
}

async fn entries(store: &kv::Store) -> Result<BTreeMap<String, kv::Entry>, Error> {
    let mut out = BTreeMap::new();
    let mut keys = match store.keys().await {
        Ok(k) => k.boxed(),
        Err(e) => return Err(nats_failure("cannot list keys", e)),
    };
    while let Some(k) = keys.next().await {
        let k = k.map_err(|e| nats_failure("cannot list keys", e))?;
        if let Ok(Some(e)) = store.entry(&k).await
            && e.operation == kv::Operation::Put
        {
            out.insert(k, e);
        }
    }
    Ok(out)
}

/// The registry's cameras as JSON objects, passwords left out and URLs redacted.
async fn registry(store: &kv::Store) -> Result<Vec<Value>, Error> {
    Ok(entries(store)
        .await?
        .into_iter()
        .map(|(id, e)| {
            let v: Value = serde_json::from_slice(&e.value).unwrap_or_default();
            json!({
                "id": id,
                "url": rtsp_worker::RedactedUrl::from_text(v["url"].as_str().unwrap_or_default()).to_string(),
                "username": v.get("username"),
                "password": v.get("password_sealed").map(|_| "sealed"),
                "transport": v.get("transport"),
            })
        })
        .collect())
}

/// `cameras list`: one JSON line per camera.
pub async fn cameras_list(nats: &Nats) -> Result<(), Error> {
    let (_c, js) = connect(nats, "rtsp-worker-cameras").await?;
    let store = bucket(&js, CAMERAS, Duration::ZERO).await?;
    let mut out = std::io::stdout().lock();
    for v in registry(&store).await? {
        let _ = writeln!(out, "{v}");
    }
    Ok(())
}

/// `cluster model NAME`: every worker swaps to `NAME` from its `--model-dir`.
pub async fn set_model(nats: &Nats, name: &str, restart_tracks: bool) -> Result<Value, Error> {
    let (_c, js) = connect(nats, "rtsp-worker-model").await?;
    let store = crate::bucket(&js, crate::SETTINGS, Duration::ZERO).await?;
    crate::put_model(&store, name, restart_tracks)
        .await
        .map_err(|e| match e {
            crate::RegistryError::Invalid(m) => Error::Usage(m),
            e => Error::Unexpected(e.to_string()),
        })?;
    Ok(json!({"model": name, "restart_tracks": restart_tracks}))
}

/// `cluster status`: one JSON document.
pub async fn status(nats: &Nats) -> Result<Value, Error> {
    let (_c, js) = connect(nats, "rtsp-worker-status").await?;
    let open = |name: &'static str| {
        let js = js.clone();
        async move {
            js.get_key_value(name)
                .await
                .map_err(|e| nats_failure(&format!("no {name} bucket (has a worker ever run?)"), e))
        }
    };
    let (members, leases, cameras) = (
        open(MEMBERS).await?,
        open(LEASES).await?,
        open(CAMERAS).await?,
    );
    let now = time_now();
    let age = |e: &kv::Entry| (now - e.created).as_seconds_f64();
    let mut workers = Vec::new();
    for (id, e) in entries(&members).await? {
        let v: Value = serde_json::from_slice(&e.value).unwrap_or_default();
        workers.push(json!({
            "id": id,
            "heartbeat_age_s": age(&e),
            "cameras": v["cameras"].as_array().map_or(0, Vec::len),
            "results": v["results"],
            "model": v["model"],
        }));
    }
    let leased = entries(&leases).await?;
    let registered = registry(&cameras).await?;
    let mut cams = Vec::new();
    let mut unowned = Vec::new();
    for c in &registered {
        let id = c["id"].as_str().unwrap_or_default();
        match leased.get(id) {
            Some(e) => {
                let v: Value = serde_json::from_slice(&e.value).unwrap_or_default();
                cams.push(json!({
                    "id": id,
                    "owner": v["worker"],
                    "token": v.get("token").filter(|t| !t.is_null()).cloned().unwrap_or(json!(e.revision)),
                    "lease_age_s": age(e),
                }));
            }
            None => unowned.push(id.to_owned()),
        }
    }
    Ok(json!({
        "workers": workers,
        "cameras": cams,
        "unowned": unowned,
        "registered": registered.len(),
    }))
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// Where a reader starts.
#[derive(Debug, Clone, Copy)]
pub enum ReadFrom {
    /// Where the durable consumer stopped (new results only if it is new).
    Resume,
    /// The oldest result kept.
    Start,
    /// The first result at or after this time.
    Since(time::OffsetDateTime),
}

impl ReadFrom {
    /// `--since TIME` (RFC 3339 or Unix seconds), else `--from-start`, else resume.
    pub fn new(since: Option<&str>, from_start: bool) -> Result<Self, Error> {
        Ok(match since {
            Some(t) => Self::Since(parse_since(t).map_err(Error::usage)?),
            None if from_start => Self::Start,
            None => Self::Resume,
        })
    }
}

/// `--idle SECS`: a positive number of seconds.
pub fn idle(secs: Option<f64>) -> Result<Option<Duration>, Error> {
    match secs {
        Some(s) if !(s.is_finite() && s > 0.0) => {
            Err(Error::usage("--idle must be a positive number of seconds"))
        }
        s => Ok(s.map(Duration::from_secs_f64)),
    }
}

/// Parses `--since`: RFC 3339 or Unix seconds.
pub fn parse_since(s: &str) -> Result<time::OffsetDateTime, String> {
    if let Ok(secs) = s.parse::<f64>() {
        return time::OffsetDateTime::from_unix_timestamp_nanos((secs * 1e9) as i128)
            .map_err(|e| format!("--since {s}: {e}"));
    }
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("--since {s:?}: not RFC 3339 nor Unix seconds: {e}"))
}

/// Settings of `results`.
#[derive(Debug, Clone)]
pub struct Read {
    pub nats: Nats,
    pub camera: Option<String>,
    pub from: ReadFrom,
    pub durable: String,
    pub count: Option<u64>,
    pub idle: Option<Duration>,
}

/// `results`: JSON lines from a durable consumer, fenced, acknowledged after printing.
pub async fn read(r: Read) -> Result<(), Error> {
    if let Some(c) = &r.camera {
        check_id(c).map_err(Error::usage)?;
    }
    check_id(&r.durable).map_err(|m| Error::usage(m.replace("camera id", "--durable")))?;
    let (_c, js) = connect(&r.nats, "rtsp-worker-results").await?;
    let stream = results_stream(&js).await?;
    let name = match &r.camera {
        Some(c) => format!("{}-{c}", r.durable),
        None => r.durable.clone(),
    };
    let deliver_policy = match r.from {
        ReadFrom::Resume => consumer::DeliverPolicy::New,
        ReadFrom::Start => consumer::DeliverPolicy::All,
        ReadFrom::Since(t) => consumer::DeliverPolicy::ByStartTime { start_time: t },
    };
    if !matches!(r.from, ReadFrom::Resume) {
        // Starting over: the durable's position is reset.
        let _ = stream.delete_consumer(&name).await;
    }
    let consumer: consumer::PullConsumer = stream
        .get_or_create_consumer(
            &name,
            consumer::pull::Config {
                durable_name: Some(name.clone()),
                filter_subject: r
                    .camera
                    .as_ref()
                    .map_or("results.>".to_owned(), |c| format!("results.{c}")),
                deliver_policy,
                // One ack per batch (it covers the messages before it).
                ack_policy: consumer::AckPolicy::All,
                max_ack_pending: 10_000,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| nats_failure("cannot open the reader's consumer", e))?;
    let mut fence = lease::Fence::new();
    let mut n = 0u64;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut idle_since = Instant::now();
    // Batches pulled as wanted, never more than `--count` still needs: a message delivered
    // and not acknowledged would come back only after the consumer's ack wait.
    'read: loop {
        let want = r.count.map_or(1000, |c| c.saturating_sub(n).min(1000)) as usize;
        if want == 0 {
            break;
        }
        let batch = consumer
            .batch()
            .max_messages(want)
            .expires(Duration::from_millis(500))
            .messages()
            .await;
        let mut batch = match batch {
            Ok(b) => b,
            Err(e) => {
                debug!(error = %e, "cannot pull results");
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
        };
        let mut got = 0;
        let mut last = None;
        while let Some(msg) = batch.next().await {
            let msg = match msg {
                Ok(m) => m,
                Err(e) => {
                    debug!(error = %e, "reader interrupted");
                    break;
                }
            };
            got += 1;
            let header = |k: &str| {
                msg.headers
                    .as_ref()
                    .and_then(|h| h.get(k))
                    .map(|v| v.as_str().to_owned())
            };
            let camera = msg
                .subject
                .strip_prefix("results.")
                .unwrap_or_default()
                .to_owned();
            let token: u64 = header("Lease-Rev")
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            let seq = msg.info().map(|i| i.stream_sequence).unwrap_or(0);
            if fence.admit(&camera, token) {
                let mut v: Value = serde_json::from_slice(&msg.payload).unwrap_or_default();
                if let Some(map) = v.as_object_mut() {
                    map.insert(
                        "cluster".into(),
                        json!({"worker": header("Worker"), "lease": token, "seq": seq}),
                    );
                }
                if writeln!(out, "{v}").is_err() {
                    break 'read;
                }
                n += 1;
            }
            last = Some(msg);
        }
        if out.flush().is_err() {
            break;
        }
        // Acknowledged once printed: a reader that stops resumes after the last batch.
        if let Some(m) = last
            && let Err(e) = m.ack().await
        {
            debug!(error = %e, "ack failed");
        }
        if got > 0 {
            idle_since = Instant::now();
        } else if r.idle.is_some_and(|idle| idle_since.elapsed() >= idle) {
            break;
        }
    }
    let _ = out.flush();
    if fence.dropped() > 0 {
        eprintln!(
            "rtsp-worker: {} results dropped by the fence (an older lease than one already seen)",
            fence.dropped()
        );
    }
    Ok(())
}
