//! The fleet at scale, a benchmark and a soak rather than tests: `fleet_scale bench` is what
//! `cargo xtask bench cluster` runs (30 and 300 cameras), `fleet_scale soak` what `cargo
//! xtask soak --cluster` runs (100 cameras, random worker kills for minutes). xtask builds the
//! binary first and names it in `RTSP_WORKER_BIN`. Cameras are replayed clips (`file://`,
//! the facade's replay source) and the detector is the facade's fixed-cost stand-in
//! (`--stand-in-detector`): these measure the fleet (leases, takeover, publishing, reading),
//! not detection, at camera counts a real detector could not serve on two cores. Both write
//! their figures as JSON where `RTSP_WORKER_FLEET_OUT` says.

// Progress and figures go to stderr, for whoever reads the log.
#![allow(clippy::print_stderr, clippy::print_stdout)]

use testkit as common;
// The fleet harness the `cluster` test uses too.
#[path = "../tests/fleet/mod.rs"]
mod fleet;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::clips;
use fleet::{
    Nats, Observer, WorkerProc, binary, fault, lines, quantile, register, scratch, settled,
    small_clip, wait_for,
};
use serde_json::{Value, json};

fn env_num(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn write_out(figures: &Value) {
    eprintln!("{}", serde_json::to_string_pretty(figures).unwrap());
    if let Some(path) = std::env::var_os("RTSP_WORKER_FLEET_OUT") {
        std::fs::write(path, serde_json::to_string_pretty(figures).unwrap()).unwrap();
    }
}

/// Workers of the bench and the soak: the stand-in detector (2 ms a batch), no JSON lines
/// except where asked.
fn worker(url: &str, id: &str, logs: &std::path::Path, json_lines: bool) -> WorkerProc {
    let mut extra = vec!["--stand-in-detector", "2", "--bench-registry-file-urls"];
    if !json_lines {
        extra.push("--no-json");
    }
    WorkerProc::start_with(url, id, logs, &extra, json_lines)
}

async fn cameras(url: &str, n: usize, fps: u32) -> Vec<String> {
    let clip = small_clip(&clips(), fps);
    let cams: Vec<String> = (0..n).map(|i| format!("cam{i:03}")).collect();
    let entries: Vec<(String, String)> = cams
        .iter()
        .map(|c| (c.clone(), format!("file://{}", clip.display())))
        .collect();
    register(url, &entries).await;
    cams
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("bench") => fleet_bench().await,
        Some("soak") => fleet_soak().await,
        _ => {
            eprintln!(
                "usage: fleet_scale bench|soak (run by `cargo xtask bench cluster`, `cargo xtask soak --cluster`)"
            );
            std::process::exit(2);
        }
    }
}

async fn fleet_bench() {
    let n = env_num("RTSP_WORKER_FLEET_CAMERAS", 30.0) as usize;
    // The same 300 results/s offered at every camera count: 10 fps at 30, 1 fps at 300.
    let fps = (300 / n).max(1) as u32;
    let window = Duration::from_secs_f64(env_num("RTSP_WORKER_FLEET_WINDOW", 20.0));
    let dir = scratch(&format!("fleet-bench-{n}"));
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let nats = Nats::start(&dir.join("js"));
    let url = nats.url();
    let cams = cameras(&url, n, fps).await;
    let mut workers: BTreeMap<&str, WorkerProc> = BTreeMap::new();
    for id in ["w1", "w2", "w3"] {
        workers.insert(id, worker(&url, id, &logs, id == "w1"));
    }
    let local = lines(workers.get_mut("w1").unwrap().stdout().unwrap());
    let obs = Observer::start(&url).await;
    let t = wait_for(Duration::from_secs(120), || {
        settled(&obs, &cams, &["w1", "w2", "w3"])
    })
    .await
    .expect("cameras spread over 3 workers");
    eprintln!("{n} cameras settled on 3 workers in {t:?}");
    tokio::time::sleep(Duration::from_secs(5)).await;

    // Steady state: published per worker, read at a live reader, added latency of the path.
    let mut reader = binary()
        .args(["results", "--cluster", &url, "--durable", "bench"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let remote = lines(reader.stdout.take().unwrap());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (from, from_unix) = (Instant::now(), unix_now());
    tokio::time::sleep(window).await;
    let (to, to_unix) = (Instant::now(), unix_now());
    let _ = reader.kill();
    let _ = reader.wait();
    let secs = (to - from).as_secs_f64();
    let mut per_worker = BTreeMap::new();
    for p in obs.results.lock().unwrap().iter() {
        if p.at >= from && p.at < to {
            *per_worker.entry(p.worker.clone()).or_insert(0.0) += 1.0 / secs;
        }
    }
    let key = |v: &Value| {
        (
            v["stream_id"].as_str().unwrap_or_default().to_owned(),
            v["frame_number"].as_u64().unwrap_or(0),
        )
    };
    let local_at: BTreeMap<(String, u64), (f64, f64)> = local
        .lock()
        .unwrap()
        .iter()
        .map(|(at, v)| (key(v), (*at, v["timestamp"].as_f64().unwrap_or(0.0))))
        .collect();
    let remote = remote.lock().unwrap().clone();
    let in_window: Vec<&(f64, Value)> = remote
        .iter()
        .filter(|(at, _)| *at >= from_unix && *at < to_unix)
        .collect();
    let read_rate = in_window.len() as f64 / secs;
    let (mut added, mut local_lat, mut cluster_lat) = (Vec::new(), Vec::new(), Vec::new());
    for (at, v) in &in_window {
        if let Some((local_at, ts)) = local_at.get(&key(v)) {
            added.push((at - local_at) * 1e3);
            local_lat.push((local_at - ts) * 1e3);
            cluster_lat.push((at - ts) * 1e3);
        }
    }
    eprintln!("steady: {per_worker:?} published/s, {read_rate:.0} read/s");

    // Takeovers: SIGKILL, a new worker joining, SIGSTOP past the TTL, SIGTERM.
    let within = Duration::from_secs(20);
    let (_, _, sigkill) = fault(&obs, &workers["w2"], "KILL", within).await;
    let sigkill = sigkill.expect("SIGKILL takeover");
    workers.remove("w2");
    let joined = Instant::now();
    workers.insert("w4", worker(&url, "w4", &logs, false));
    let join = wait_for(Duration::from_secs(60), || {
        settled(&obs, &cams, &["w1", "w3", "w4"])
    })
    .await
    .expect("w4 joined");
    let _ = joined;
    let (_, t0, sigstop) = fault(&obs, &workers["w3"], "STOP", within).await;
    let sigstop = sigstop.expect("SIGSTOP takeover");
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(t0.elapsed())).await;
    workers.get("w3").unwrap().signal("CONT");
    wait_for(Duration::from_secs(60), || {
        settled(&obs, &cams, &["w1", "w3", "w4"])
    })
    .await
    .expect("w3 back");
    let (_, _, sigterm) = fault(&obs, &workers["w4"], "TERM", within).await;
    let sigterm = sigterm.expect("SIGTERM handover");

    for w in workers.values() {
        w.signal("TERM");
    }
    for w in workers.values_mut() {
        let _ = w.wait(Duration::from_secs(30));
    }
    // A reader replaying everything from the start, as fast as it can (the workers are gone,
    // so the stream no longer grows).
    let t0 = Instant::now();
    let replay = binary()
        .args([
            "results",
            "--cluster",
            &url,
            "--durable",
            "replay",
            "--from-start",
        ])
        .args(["--idle", "2"])
        .output()
        .unwrap();
    let replayed = String::from_utf8_lossy(&replay.stdout).lines().count();
    let replay_rate = replayed as f64 / (t0.elapsed().as_secs_f64() - 2.0).max(0.1);

    let (audit, foreign, _) = obs.audit();
    let violations = audit.violations();
    assert!(violations.is_empty(), "{violations:#?}");
    assert!(foreign.is_empty(), "{foreign:?}");
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    write_out(&json!({
        "cameras": n,
        "fps_per_camera": fps,
        "workers": 3,
        "detector": "stand-in, 2 ms per batch",
        "settle_s": t.as_secs_f64(),
        "published_per_s_per_worker": per_worker,
        "read_per_s": read_rate,
        "replay_read_per_s": replay_rate,
        "replayed": replayed,
        "latency_ms": {
            "local_p50": quantile(&mut local_lat.clone(), 0.5),
            "local_p99": quantile(&mut local_lat, 0.99),
            "cluster_p50": quantile(&mut cluster_lat.clone(), 0.5),
            "cluster_p99": quantile(&mut cluster_lat, 0.99),
            "added_p50": quantile(&mut added.clone(), 0.5),
            "added_p99": quantile(&mut added, 0.99),
        },
        "takeover_ms": {"sigkill": ms(sigkill), "sigstop": ms(sigstop), "sigterm": ms(sigterm)},
        "join_ms": ms(join),
        "audit": {"lease_writes": audit.counts().0, "results": audit.counts().1, "violations": 0},
    }));
}

/// A tiny deterministic generator (no dependency): xorshift64*.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

async fn fleet_soak() {
    let n = env_num("RTSP_WORKER_FLEET_CAMERAS", 100.0) as usize;
    let run_for = Duration::from_secs_f64(env_num("RTSP_WORKER_FLEET_SOAK_SECS", 300.0));
    let dir = scratch("fleet-soak");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let nats = Nats::start(&dir.join("js"));
    let url = nats.url();
    let cams = cameras(&url, n, 2).await;
    let mut next_id = 0;
    let mut workers: BTreeMap<String, WorkerProc> = BTreeMap::new();
    for _ in 0..3 {
        next_id += 1;
        let id = format!("w{next_id}");
        workers.insert(id.clone(), worker(&url, &id, &logs, false));
    }
    let obs = Observer::start(&url).await;
    let live = |w: &BTreeMap<String, WorkerProc>| w.keys().cloned().collect::<Vec<_>>();
    let is_settled = |w: &[String]| {
        let refs: Vec<&str> = w.iter().map(String::as_str).collect();
        settled(&obs, &cams, &refs)
    };
    let ids = live(&workers);
    wait_for(Duration::from_secs(120), || is_settled(&ids))
        .await
        .expect("settled at start");
    let started = Instant::now();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut faults = Vec::new();
    while started.elapsed() < run_for {
        tokio::time::sleep(Duration::from_secs(10 + rng.below(20))).await;
        let ids = live(&workers);
        let victim = ids[rng.below(ids.len() as u64) as usize].clone();
        let kind = ["KILL", "STOP", "TERM"][rng.below(3) as usize];
        let (held, t0, took) = fault(&obs, &workers[&victim], kind, Duration::from_secs(30)).await;
        if kind == "STOP" {
            tokio::time::sleep(Duration::from_secs(5).saturating_sub(t0.elapsed())).await;
            workers[&victim].signal("CONT");
        } else {
            workers.remove(&victim);
            next_id += 1;
            let id = format!("w{next_id}");
            workers.insert(id.clone(), worker(&url, &id, &logs, false));
        }
        let ids = live(&workers);
        let settle = wait_for(Duration::from_secs(60), || is_settled(&ids)).await;
        eprintln!(
            "{kind} {victim} ({} cameras): taken over {took:?}, settled {settle:?}",
            held.len()
        );
        faults.push(json!({
            "signal": kind,
            "cameras": held.len(),
            "takeover_ms": took.map(|d| d.as_secs_f64() * 1e3),
            "settled_ms": settle.map(|d| d.as_secs_f64() * 1e3),
        }));
        assert!(
            took.is_some() && settle.is_some(),
            "the fleet did not recover from {kind}"
        );
    }
    for w in workers.values() {
        w.signal("TERM");
    }
    for w in workers.values_mut() {
        let _ = w.wait(Duration::from_secs(30));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (audit, foreign, _) = obs.audit();
    let violations = audit.violations();
    let mut per_camera: BTreeMap<String, u64> = BTreeMap::new();
    for p in obs.results.lock().unwrap().iter() {
        *per_camera.entry(p.camera.clone()).or_default() += 1;
    }
    let counts: Vec<u64> = cams
        .iter()
        .map(|c| per_camera.get(c).copied().unwrap_or(0))
        .collect();
    let worst: Vec<f64> = faults
        .iter()
        .filter_map(|f| f["takeover_ms"].as_f64())
        .collect();
    write_out(&json!({
        "cameras": n,
        "seconds": started.elapsed().as_secs_f64(),
        "faults": faults,
        "takeover_ms_max": worst.iter().copied().fold(0.0, f64::max),
        "results": counts.iter().sum::<u64>(),
        "results_per_camera_min": counts.iter().min(),
        "results_per_camera_max": counts.iter().max(),
        "audit": {"lease_writes": audit.counts().0, "results": audit.counts().1, "violations": violations.len()},
        "foreign_track_ids": foreign.len(),
    }));
    assert!(violations.is_empty(), "{violations:#?}");
    assert!(foreign.is_empty(), "{foreign:?}");
    assert!(counts.iter().all(|c| *c > 0), "a camera without results");
}
