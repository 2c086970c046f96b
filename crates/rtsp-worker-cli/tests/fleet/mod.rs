//! Test support for the fleet: a real NATS server (the binary `cargo xtask setup` provisions)
//! on a free loopback port with JetStream in a temp folder, workers as real processes of the
//! binary, and an observer that records every lease write and every published result.

#![allow(dead_code)] // the test and the soak use different parts

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, kv};
use futures::StreamExt;
use serde_json::Value;

pub(crate) fn binary() -> Command {
    // Tests know the binary cargo built for them; the fleet_scale example is told by xtask.
    match option_env!("CARGO_BIN_EXE_rtsp-worker") {
        Some(bin) => Command::new(bin),
        None => Command::new(
            std::env::var_os("RTSP_WORKER_BIN")
                .expect("RTSP_WORKER_BIN names the rtsp-worker binary (cargo xtask sets it)"),
        ),
    }
}

/// Where scratch folders go: cargo's for tests, `target/tmp` for the example.
fn tmp_root() -> PathBuf {
    match option_env!("CARGO_TARGET_TMPDIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tmp"),
    }
}

/// A scratch folder under the target directory, emptied.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = tmp_root().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The cached 576p clip re-encoded once with FFmpeg's libx264 (`filter`, then `args`) into
/// `name` under the target directory.
fn encoded(clips: &Path, name: &str, filter: &str, args: &[&str]) -> PathBuf {
    let dir = tmp_root().join("fleet-clip");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(name);
    if !out.is_file() {
        let part = dir.join(format!("{name}.part"));
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(clips.join("vtest_576p10.h264"))
            .args(["-vf", filter])
            .args(args)
            .args([
                "-c:v", "libx264", "-bf", "0", "-preset", "veryfast", "-f", "h264",
            ])
            .arg(&part)
            .status()
            .expect("ffmpeg (run `cargo xtask setup`)");
        assert!(status.success(), "ffmpeg: {status}");
        std::fs::rename(&part, &out).unwrap();
    }
    out
}

/// A camera at 2 fps with a keyframe every second (640x360): a new owner's results start
/// within a second of connecting, and a dozen of them leave the detector headroom on two
/// cores.
pub(crate) fn camera_clip(clips: &Path) -> PathBuf {
    encoded(
        clips,
        "vtest_360p2_gop2.h264",
        "scale=640:360,fps=2",
        &["-g", "2"],
    )
}

/// A running nats-server; killed when dropped.
pub(crate) struct Nats {
    child: Option<Child>,
    pub(crate) port: u16,
    dir: PathBuf,
}

fn nats_binary() -> PathBuf {
    let path = std::env::var_os("RTSP_WORKER_NATS_SERVER").map(PathBuf::from);
    match path {
        Some(p) if p.is_file() => p,
        _ => panic!("nats-server missing: run `cargo xtask setup` (or `cargo xtask test`)"),
    }
}

impl Nats {
    /// Starts a server on a free port, JetStream stored in `dir`.
    pub(crate) fn start(dir: &Path) -> Nats {
        let (child, port) = Self::spawn(dir, None);
        Nats {
            child: Some(child),
            port,
            dir: dir.to_owned(),
        }
    }

    fn spawn(dir: &Path, port: Option<u16>) -> (Child, u16) {
        let port_arg = port.map_or("-1".to_owned(), |p| p.to_string());
        let mut child = Command::new(nats_binary())
            .args(["-js", "-a", "127.0.0.1", "-p", &port_arg, "-sd"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nats-server");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("Listening for client connections on ").nth(1)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(rest.trim().to_owned());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("nats-server did not start listening");
        let port = addr.rsplit(':').next().unwrap().parse().unwrap();
        (child, port)
    }

    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// SIGKILL.
    pub(crate) fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port with the same store.
    pub(crate) fn restart(&mut self) {
        self.kill();
        let (child, _) = Self::spawn(&self.dir, Some(self.port));
        self.child = Some(child);
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A worker process of the binary; killed when dropped.
pub(crate) struct WorkerProc {
    pub(crate) id: String,
    child: Child,
}

impl WorkerProc {
    pub(crate) fn start(nats: &str, id: &str, logs: &Path) -> WorkerProc {
        Self::start_with(nats, id, logs, &["--no-json"], false)
    }

    /// With more arguments to `run`; with `stdout`, its JSON lines are piped (take them with
    /// [`WorkerProc::stdout`]).
    pub(crate) fn start_with(
        nats: &str,
        id: &str,
        logs: &Path,
        extra: &[&str],
        stdout: bool,
    ) -> WorkerProc {
        let log = std::fs::File::create(logs.join(format!("{id}.log"))).unwrap();
        let child = binary()
            .args(["run", "--cluster", nats, "--worker-id", id])
            .args(["--threads", "1", "--status-every", "0"])
            .args(["--lease-ttl", "3"])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(if stdout {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(log)
            .spawn()
            .expect("start rtsp-worker");
        WorkerProc {
            id: id.to_owned(),
            child,
        }
    }

    /// The piped stdout, once.
    pub(crate) fn stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.stdout.take()
    }

    pub(crate) fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} {}", self.id);
    }

    /// Waits for the process to end; its exit code.
    pub(crate) fn wait(&mut self, within: Duration) -> Option<i32> {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for WorkerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One write of the leases bucket as the observer saw it.
#[derive(Debug, Clone)]
pub(crate) struct LeaseWrite {
    pub(crate) at: Instant,
    pub(crate) camera: String,
    pub(crate) revision: u64,
    /// `None` for a delete.
    pub(crate) owner: Option<String>,
    pub(crate) claim: bool,
    pub(crate) token: u64,
}

/// One message of the results stream.
#[derive(Debug, Clone)]
pub(crate) struct Published {
    pub(crate) at: Instant,
    pub(crate) seq: u64,
    pub(crate) camera: String,
    pub(crate) worker: String,
    pub(crate) token: u64,
    pub(crate) frame: u64,
    pub(crate) track_ids: Vec<u64>,
}

/// A track id outside every namespace its result may use: camera, worker, token, id.
pub(crate) type ForeignId = (String, String, u64, u64);

/// Records every lease write and every result, across NATS restarts.
#[derive(Clone, Default)]
pub(crate) struct Observer {
    pub(crate) leases: Arc<Mutex<Vec<LeaseWrite>>>,
    pub(crate) results: Arc<Mutex<Vec<Published>>>,
    url: String,
    /// The next lease revision and result sequence to read.
    next: Arc<Mutex<(u64, u64)>>,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

async fn connect(url: &str) -> jetstream::Context {
    let client = async_nats::ConnectOptions::new()
        .max_reconnects(None)
        .reconnect_delay_callback(|_| Duration::from_millis(100))
        .connect(url)
        .await
        .expect("observer connects");
    jetstream::new(client)
}

impl Observer {
    /// Starts recording once a worker has made the buckets.
    pub(crate) async fn start(url: &str) -> Observer {
        let obs = Observer {
            url: url.to_owned(),
            next: Arc::new(Mutex::new((1, 1))),
            ..Observer::default()
        };
        obs.subscribe().await;
        obs
    }

    /// After a NATS restart: reads on from where it was at once, rather than when the
    /// client notices its subscriptions are gone.
    pub(crate) async fn resubscribe(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
        self.subscribe().await;
    }

    async fn subscribe(&self) {
        let js = connect(&self.url).await;
        let leases = loop {
            if let Ok(s) = js.get_key_value("leases").await {
                break s;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let log = self.leases.clone();
        let next = self.next.clone();
        let lease_task = tokio::spawn(async move {
            loop {
                let from = next.lock().unwrap().0;
                if let Ok(mut w) = leases.watch_all_from_revision(from).await {
                    while let Some(Ok(e)) = w.next().await {
                        next.lock().unwrap().0 = e.revision + 1;
                        let v: Value = serde_json::from_slice(&e.value).unwrap_or_default();
                        let claim = v["claim"].as_bool().unwrap_or(false);
                        log.lock().unwrap().push(LeaseWrite {
                            at: Instant::now(),
                            camera: e.key,
                            revision: e.revision,
                            owner: (e.operation == kv::Operation::Put)
                                .then(|| v["worker"].as_str().unwrap_or_default().to_owned()),
                            claim,
                            token: if claim {
                                e.revision
                            } else {
                                v["token"].as_u64().unwrap_or(0)
                            },
                        });
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let results = self.results.clone();
        let stream = loop {
            if let Ok(s) = js.get_stream("RESULTS").await {
                break s;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let next = self.next.clone();
        let results_task = tokio::spawn(async move {
            loop {
                let from = next.lock().unwrap().1;
                let consumer = stream
                    .create_consumer(consumer::pull::OrderedConfig {
                        deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                            start_sequence: from,
                        },
                        ..Default::default()
                    })
                    .await;
                if let Ok(c) = consumer
                    && let Ok(mut msgs) = c.messages().await
                {
                    while let Some(Ok(m)) = msgs.next().await {
                        let Ok(info) = m.info() else { continue };
                        let seq = info.stream_sequence;
                        {
                            let mut n = next.lock().unwrap();
                            if seq < n.1 {
                                continue;
                            }
                            n.1 = seq + 1;
                        }
                        let h = |k: &str| {
                            m.headers
                                .as_ref()
                                .and_then(|h| h.get(k))
                                .map(|v| v.as_str().to_owned())
                                .unwrap_or_default()
                        };
                        let v: Value = serde_json::from_slice(&m.payload).unwrap_or_default();
                        let track_ids = v["tracked_objects"]
                            .as_array()
                            .map(|a| a.iter().filter_map(|t| t["track_id"].as_u64()).collect())
                            .unwrap_or_default();
                        results.lock().unwrap().push(Published {
                            at: Instant::now(),
                            seq,
                            camera: m.subject.trim_start_matches("results.").to_owned(),
                            worker: h("Worker"),
                            token: h("Lease-Rev").parse().unwrap_or(0),
                            frame: h("Frame").parse().unwrap_or(0),
                            track_ids,
                        });
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        self.tasks
            .lock()
            .unwrap()
            .extend([lease_task, results_task]);
    }

    /// Each camera's owner and token now, from the writes seen (leases lapse after `ttl`).
    pub(crate) fn owners(&self, ttl: Duration) -> BTreeMap<String, (String, u64)> {
        let mut last: BTreeMap<String, LeaseWrite> = BTreeMap::new();
        for w in self.leases.lock().unwrap().iter() {
            last.insert(w.camera.clone(), w.clone());
        }
        last.into_iter()
            .filter(|(_, w)| w.at.elapsed() < ttl)
            .filter_map(|(c, w)| w.owner.map(|o| (c, (o, w.token))))
            .collect()
    }

    /// The first claim of `camera` by someone other than `not` seen after `after`.
    pub(crate) fn claimed_after(&self, camera: &str, not: &str, after: Instant) -> Option<Instant> {
        self.leases
            .lock()
            .unwrap()
            .iter()
            .find(|w| {
                w.camera == camera
                    && w.claim
                    && w.at > after
                    && w.owner.as_deref().is_some_and(|o| o != not)
            })
            .map(|w| w.at)
    }

    /// Whether every camera in `cameras` has a result published after `after`.
    pub(crate) fn results_after(&self, cameras: &[String], after: Instant) -> bool {
        let r = self.results.lock().unwrap();
        cameras
            .iter()
            .all(|c| r.iter().any(|p| &p.camera == c && p.at > after))
    }

    /// The ownership audit over everything recorded.
    /// With it, the results whose track ids lie outside their lease's namespace and that of
    /// every earlier owner of the camera (camera, worker, token, id): a new owner goes on
    /// with the tracks of the previous one's snapshot, so an id of an earlier token is one
    /// that went on; and how many results carried such an id.
    pub(crate) fn audit(&self) -> (lease::Audit, Vec<ForeignId>, usize) {
        let mut a = lease::Audit::new();
        for w in self.leases.lock().unwrap().iter() {
            if let Some(o) = &w.owner {
                a.lease(&w.camera, o, w.revision, w.claim);
            }
        }
        let mut foreign_ids = Vec::new();
        let mut results = self.results.lock().unwrap().clone();
        results.sort_by_key(|p| p.seq);
        let mut owned: std::collections::HashMap<&str, std::collections::BTreeSet<u64>> =
            Default::default();
        for p in &results {
            owned.entry(&p.camera).or_default().insert(p.token);
        }
        let mut continued = 0;
        for p in &results {
            a.result(&p.camera, &p.worker, p.token);
            let earlier = |ns: u64| ns < p.token && owned[p.camera.as_str()].contains(&ns);
            let mut went_on = false;
            for &t in &p.track_ids {
                if t >> 32 == p.token {
                    continue;
                }
                if earlier(t >> 32) {
                    went_on = true;
                } else {
                    foreign_ids.push((p.camera.clone(), p.worker.clone(), p.token, t));
                }
            }
            continued += usize::from(went_on);
        }
        (a, foreign_ids, continued)
    }
}

/// Polls `cond` every 50 ms until it holds or `within` passes; how long it took.
pub(crate) async fn wait_for(within: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        if cond() {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cond().then(|| start.elapsed())
}

/// A small clip for many cameras: 320x180, every frame a keyframe, 30 frames at `fps`
/// (its SPS says so, and the replay source plays it at that rate).
pub(crate) fn small_clip(clips: &Path, fps: u32) -> PathBuf {
    encoded(
        clips,
        &format!("vtest_180p{fps}.h264"),
        &format!("scale=320:180,fps={fps}"),
        &["-frames:v", "30", "-g", "1"],
    )
}

/// Puts cameras into the registry directly (faster than one `cameras add` per camera).
pub(crate) async fn register(url: &str, cameras: &[(String, String)]) {
    let js = connect(url).await;
    let store = match js.get_key_value("cameras").await {
        Ok(s) => s,
        Err(_) => js
            .create_key_value(kv::Config {
                bucket: "cameras".into(),
                history: 1,
                storage: jetstream::stream::StorageType::File,
                ..Default::default()
            })
            .await
            .unwrap(),
    };
    for (id, camera) in cameras {
        let v = serde_json::json!({ "url": camera });
        store.put(id, v.to_string().into()).await.unwrap();
    }
}

/// Reads JSON lines from a child's stdout on a thread: (receipt Unix time, the line's JSON).
pub(crate) fn lines(from: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<(f64, Value)>>> {
    let out: Arc<Mutex<Vec<(f64, Value)>>> = Arc::default();
    let o = out.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64();
            if let Ok(v) = serde_json::from_str(&line) {
                o.lock().unwrap().push((now, v));
            }
        }
    });
    out
}

/// The `q` quantile of `xs` (sorted here).
pub(crate) fn quantile(xs: &mut [f64], q: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    xs[((xs.len() - 1) as f64 * q).round() as usize]
}

/// The lease TTL the tests' workers run with.
pub(crate) const TTL: Duration = Duration::from_secs(3);

/// Whether every camera is leased, each to its rendezvous owner among `live`.
pub(crate) fn settled(obs: &Observer, cams: &[String], live: &[&str]) -> bool {
    let owners = obs.owners(TTL);
    cams.iter()
        .all(|c| owners.get(c).map(|(o, _)| o.as_str()) == lease::owner(c, live.iter().copied()))
}

/// The cameras `worker` holds now.
pub(crate) fn held_by(obs: &Observer, worker: &str) -> Vec<String> {
    obs.owners(TTL)
        .into_iter()
        .filter(|(_, (o, _))| o == worker)
        .map(|(c, _)| c)
        .collect()
}

/// Sends `signal` to `worker` and waits until the cameras it held are claimed by others:
/// those cameras, when the signal went, and how long the last claim took.
pub(crate) async fn fault(
    obs: &Observer,
    worker: &WorkerProc,
    signal: &str,
    within: Duration,
) -> (Vec<String>, Instant, Option<Duration>) {
    let held = held_by(obs, &worker.id);
    let sent = Instant::now();
    worker.signal(signal);
    let took = taken_over(obs, &worker.id, &held, sent, within).await;
    (held, sent, took)
}

/// Waits until every camera of `cams` has been claimed by a worker other than `victim` after
/// `since`; how long after `since` the last of those claims was seen.
pub(crate) async fn taken_over(
    obs: &Observer,
    victim: &str,
    cams: &[String],
    since: Instant,
    within: Duration,
) -> Option<Duration> {
    let done = wait_for(within, || {
        cams.iter()
            .all(|c| obs.claimed_after(c, victim, since).is_some())
    })
    .await;
    if done.is_none() {
        // Say what the store did with the cameras that were not taken over.
        let missing: Vec<&String> = cams
            .iter()
            .filter(|c| obs.claimed_after(c, victim, since).is_none())
            .collect();
        let log = obs.leases.lock().unwrap();
        for c in missing {
            {
                let writes: Vec<String> = log
                    .iter()
                    .filter(|w| &w.camera == c)
                    .rev()
                    .take(4)
                    .map(|w| {
                        let t = if w.at > since {
                            format!("+{:?}", w.at - since)
                        } else {
                            format!("-{:?}", since - w.at)
                        };
                        format!("{t} rev {} {:?} claim={}", w.revision, w.owner, w.claim)
                    })
                    .collect();
                eprintln!("not taken over from {victim}: {c}: {writes:?}");
            }
        }
        return None;
    }
    cams.iter()
        .filter_map(|c| obs.claimed_after(c, victim, since))
        .map(|t| t - since)
        .max()
        .or(Some(Duration::ZERO))
}
