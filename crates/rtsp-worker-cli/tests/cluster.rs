//! The fleet end to end: a real NATS server, twelve cameras on the loopback RTSP server, and
//! workers as real processes of the binary, put through what the issue names — SIGKILL
//! (takeover within TTL plus a tick), SIGSTOP past the TTL (no double ownership: audited),
//! a fourth worker joining (only its share moves), SIGTERM (handover well under a second),
//! and the NATS server restarted (nothing abandoned or doubled, results resume). Every lease
//! write and every published result is recorded and audited at the end; track ids carry their
//! lease token, so they never collide across owners.

// Progress and figures go to stderr, for whoever reads the log.
#![allow(clippy::print_stderr)]

use testkit as common;
mod fleet;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{Server, clips};
use fleet::{
    Nats, Observer, TTL, WorkerProc, binary, camera_clip, fault, held_by, scratch, settled,
    wait_for,
};
use serde_json::json;

const CAMERAS: usize = 12;
const SECS: Duration = Duration::from_secs(1);

/// One test at a time: each runs several worker processes.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The slowest move of a fault's `cameras` (which must all have moved), said on stderr and
/// kept in the figures under `key`.
fn moved_in(
    figures: &mut serde_json::Map<String, serde_json::Value>,
    key: &str,
    cameras: usize,
    worst: Option<Duration>,
) -> Duration {
    let worst = worst.unwrap_or_else(|| panic!("{key}: the cameras did not move"));
    eprintln!("{key}: {cameras} cameras moved, the last after {worst:?}");
    figures.insert(key.into(), json!(worst.as_secs_f64()));
    worst
}

/// The command's output, once it exited 0 (else its stderr is the failure).
fn succeeded(command: &mut std::process::Command) -> std::process::Output {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The cameras of `some` that send pictures (not the one behind a closed port).
fn live_cams(some: &[String]) -> Vec<String> {
    some.iter()
        .filter(|c| c.starts_with("cam"))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_fails_over_rebalances_and_never_double_owns() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let dir = scratch("fleet");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let mut nats = Nats::start(&dir.join("js"));
    let url = nats.url();
    let clip = camera_clip(&clips());
    let cams: Vec<String> = (0..CAMERAS).map(|i| format!("cam{i:02}")).collect();
    let mounts: Vec<String> = cams
        .iter()
        .map(|c| format!("/{c}={}@2", clip.display()))
        .collect();
    let rtsp = Server::start(&mounts, None, None);
    for c in &cams {
        succeeded(binary().args([
            "cameras",
            "add",
            c,
            &rtsp.url(&format!("/{c}")),
            "--cluster",
            &url,
        ]));
    }
    // A camera with a password (a closed port: it never connects, and says so in the logs),
    // sealed into the registry with the fleet's key; without the key it is refused.
    const SECRET: &str = "hunter2-in-the-registry";
    let key = dir.join("fleet.key");
    std::fs::write(&key, format!("{}\n", "5a".repeat(32))).unwrap();
    let key = key.to_str().unwrap().to_owned();
    let add_locked = |with_key: bool| {
        let mut c = binary();
        c.args([
            "cameras",
            "add",
            "locked",
            "rtsp://127.0.0.1:9/door",
            "--cluster",
            &url,
        ])
        .args(["--username", "admin", "--password-env", "DOOR_PASSWORD"])
        .env("DOOR_PASSWORD", SECRET);
        if with_key {
            c.args(["--fleet-key-file", &key]);
        }
        c.output().unwrap()
    };
    let out = add_locked(false);
    assert_eq!(out.status.code(), Some(2), "a password needs the fleet key");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--fleet-key-file"));
    let out = add_locked(true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // What a reader of the bucket without the key sees.
    let js = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
    let raw = js
        .get_key_value("cameras")
        .await
        .unwrap()
        .get("locked")
        .await
        .unwrap()
        .unwrap_or_default();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    assert!(
        raw.contains("password_sealed") && !raw.contains(SECRET),
        "{raw}"
    );
    let listed = binary()
        .args(["cameras", "list", "--cluster", &url])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert_eq!(listed.lines().count(), CAMERAS + 1, "{listed}");
    assert!(!listed.contains(SECRET), "{listed}");
    let again = binary()
        .args([
            "cameras",
            "add",
            "cam00",
            "rtsp://127.0.0.1:9/x",
            "--cluster",
            &url,
        ])
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(2),
        "an id already in the registry is refused"
    );

    let mut workers: BTreeMap<&str, WorkerProc> = BTreeMap::new();
    for id in ["w1", "w2", "w3"] {
        workers.insert(
            id,
            WorkerProc::start_with(
                &url,
                id,
                &logs,
                &["--no-json", "--fleet-key-file", &key],
                false,
            ),
        );
    }
    let obs = Observer::start(&url).await;
    let mut figures = serde_json::Map::new();

    // Start-up: every camera owned by its rendezvous owner, results from every camera.
    let t = wait_for(Duration::from_secs(60), || {
        settled(&obs, &cams, &["w1", "w2", "w3"])
    })
    .await
    .expect("12 cameras spread over 3 workers");
    let start = Instant::now();
    assert!(
        wait_for(Duration::from_secs(40), || obs
            .results_after(&cams, start - t))
        .await
        .is_some(),
        "results from every camera"
    );

    // SIGKILL: the victim's cameras are claimed by others within the TTL plus a tick.
    let (moved, killed, worst) = fault(&obs, &workers["w1"], "KILL", 10 * SECS).await;
    assert!(!moved.is_empty(), "w1 owns some cameras");
    let worst = moved_in(&mut figures, "sigkill_takeover_s", moved.len(), worst);
    // TTL plus one tick, plus what it takes this observer to see the claim on a busy machine.
    assert!(
        worst <= TTL + Duration::from_millis(500),
        "SIGKILL takeover {worst:?}"
    );
    workers.remove("w1");
    assert!(
        wait_for(Duration::from_secs(15), || obs
            .results_after(&live_cams(&moved), killed + worst))
        .await
        .is_some(),
        "results resume on the new owners"
    );

    // SIGSTOP past the TTL: the frozen worker's cameras move; when it wakes it publishes
    // nothing under the leases it lost (the audit at the end checks every result).
    wait_for(Duration::from_secs(20), || {
        settled(&obs, &cams, &["w2", "w3"])
    })
    .await
    .expect("settled on w2 and w3");
    let (frozen_cams, frozen, worst) = fault(&obs, &workers["w2"], "STOP", 10 * SECS).await;
    moved_in(&mut figures, "sigstop_takeover_s", frozen_cams.len(), worst);
    tokio::time::sleep((TTL + Duration::from_secs(2)).saturating_sub(frozen.elapsed())).await;
    let woke = Instant::now();
    workers.get("w2").unwrap().signal("CONT");
    // It comes back and gets its share again once the view is stable.
    wait_for(Duration::from_secs(20), || {
        settled(&obs, &cams, &["w2", "w3"])
    })
    .await
    .expect("w2 back in the fleet");
    let late: Vec<_> = obs
        .results
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.worker == "w2" && p.at > woke && frozen_cams.contains(&p.camera))
        .filter(|p| {
            obs.leases
                .lock()
                .unwrap()
                .iter()
                .any(|w| w.camera == p.camera && w.claim && w.token > p.token && w.at < woke)
        })
        .map(|p| (p.camera.clone(), p.token))
        .collect();
    assert!(
        late.is_empty(),
        "w2 published under lost leases after waking: {late:?}"
    );

    // Join: a fourth worker takes exactly its rendezvous share; nothing else moves.
    let before = obs.owners(TTL);
    let joined = Instant::now();
    let http = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    workers.insert(
        "w4",
        WorkerProc::start_with(&url, "w4", &logs, &["--no-json", "--http", &http], false),
    );
    let took = wait_for(Duration::from_secs(30), || {
        settled(&obs, &cams, &["w2", "w3", "w4"])
    })
    .await
    .expect("w4 holds its share");
    let after = obs.owners(TTL);
    for c in &cams {
        let (was, now) = (&before[c], &after[c]);
        if now.0 == "w4" {
            continue;
        }
        assert_eq!(was, now, "{c} moved between old workers when w4 joined");
    }
    eprintln!(
        "join: w4 holds {} cameras {took:?} after its process started",
        held_by(&obs, "w4").len()
    );
    figures.insert("join_s".into(), json!(took.as_secs_f64()));
    let _ = joined;

    // In a fleet the HTTP API edits the registry.
    let api = format!("http://{http}/api/v1/streams");
    let body = json!({"id": "viahttp", "url": rtsp.url("/cam00")}).to_string();
    let (added, removed) = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let post = || {
            agent
                .post(&api)
                .content_type("application/json")
                .send(body.as_str())
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        };
        let added = post();
        let again = post();
        let removed = agent
            .delete(format!("{api}/viahttp"))
            .call()
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        ((added, again), removed)
    })
    .await
    .unwrap();
    assert_eq!(added, (201, 409), "POST adds to the registry once");
    assert_eq!(removed, 200, "DELETE removes from the registry");
    wait_for(Duration::from_secs(10), || {
        !obs.owners(TTL).contains_key("viahttp")
    })
    .await
    .expect("the camera removed over HTTP is let go");

    // SIGTERM: a graceful stop hands its cameras over well under a second.
    let (leaving, _, worst) = fault(&obs, &workers["w3"], "TERM", 5 * SECS).await;
    let worst = moved_in(&mut figures, "sigterm_handover_s", leaving.len(), worst);
    assert!(worst < Duration::from_secs(1), "SIGTERM handover {worst:?}");
    let code = workers.get_mut("w3").unwrap().wait(Duration::from_secs(20));
    assert_eq!(code, Some(0), "w3 exits cleanly");
    workers.remove("w3");

    // The NATS server restarts: every camera stays owned once, results resume everywhere.
    wait_for(Duration::from_secs(20), || {
        settled(&obs, &cams, &["w2", "w4"])
    })
    .await
    .expect("settled on w2 and w4");
    nats.kill();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    nats.restart();
    let back = Instant::now();
    obs.resubscribe().await;
    let leased = wait_for(Duration::from_secs(30), || {
        let log = obs.leases.lock().unwrap();
        cams.iter().all(|c| {
            log.iter()
                .any(|w| &w.camera == c && w.at > back && w.owner.is_some())
        })
    })
    .await
    .expect("every lease written again after the NATS restart");
    figures.insert("nats_restart_leases_s".into(), json!(leased.as_secs_f64()));
    let took = wait_for(Duration::from_secs(30), || {
        settled(&obs, &cams, &["w2", "w4"]) && obs.results_after(&cams, back)
    })
    .await
    .expect("after the NATS restart every camera is owned once and publishing");
    eprintln!(
        "NATS restart: every lease written again {leased:?} and every camera publishing again \
         {took:?} after it came back"
    );
    figures.insert("nats_restart_recovery_s".into(), json!(took.as_secs_f64()));

    // Status agrees with the observer.
    let status = binary()
        .args(["cluster", "status", "--cluster", &url])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["unowned"], json!([]), "{status}");
    assert!(!status.to_string().contains(SECRET), "{status}");
    let names: BTreeSet<&str> = status["workers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["id"].as_str())
        .collect();
    assert_eq!(names, BTreeSet::from(["w2", "w4"]), "{status}");

    // Graceful end, then the audit over everything.
    for w in workers.values() {
        w.signal("TERM");
    }
    for (id, w) in workers.iter_mut() {
        assert_eq!(
            w.wait(Duration::from_secs(20)),
            Some(0),
            "{id} exits cleanly"
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (audit, foreign_ids, continued) = obs.audit();
    let (leases, results) = audit.counts();
    let violations = audit.violations();
    eprintln!(
        "audit: {leases} lease writes, {results} results, {} violations",
        violations.len()
    );
    assert!(violations.is_empty(), "{violations:#?}");
    assert!(
        foreign_ids.is_empty(),
        "track ids outside their lease's namespace: {foreign_ids:?}"
    );
    assert!(results > 60, "only {results} results published");
    // Tracks went on across takeovers and handovers (from the previous owner's snapshot in
    // the fleet's `tracks` bucket): results of a new owner with ids of an earlier one.
    eprintln!("{continued} results carried a track id of an earlier owner");
    assert!(continued > 0, "no track went on across a change of owner");
    figures.insert("results_with_continued_tracks".into(), json!(continued));
    figures.insert("lease_writes".into(), json!(leases));
    figures.insert("results".into(), json!(results));
    for entry in std::fs::read_dir(&logs).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(SECRET), "the password in {}", path.display());
    }
    std::fs::write(
        dir.join("figures.json"),
        serde_json::to_string_pretty(&figures).unwrap(),
    )
    .unwrap();

    // The reader: a durable consumer, fenced, resuming where it stopped.
    let read = |extra: &[&str]| {
        let out = succeeded(
            binary()
                .args([
                    "results",
                    "--cluster",
                    &url,
                    "--durable",
                    "audit",
                    "--idle",
                    "2",
                ])
                .args(extra),
        );
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    let first = read(&["--from-start", "--count", "100"]);
    assert_eq!(first, 100);
    let rest = read(&[]);
    assert_eq!(
        first + rest,
        results as usize,
        "the reader resumed where it stopped"
    );
    drop(rtsp);
}

/// The workers' models as `cluster status` shows them: worker id → (file, generation).
fn models(url: &str) -> BTreeMap<String, (String, u64)> {
    let out = binary()
        .args(["cluster", "status", "--cluster", url])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["workers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| {
            (
                w["id"].as_str().unwrap_or_default().to_owned(),
                (
                    w["model"]["file"].as_str().unwrap_or_default().to_owned(),
                    w["model"]["generation"].as_u64().unwrap_or(0),
                ),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_worker_swaps_to_the_fleets_model_and_one_that_joins_later_too() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let dir = scratch("fleet-model");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let models_dir = dir.join("models");
    std::fs::create_dir_all(&models_dir).unwrap();
    std::fs::copy(rtsp_worker::wide_model_path(), models_dir.join("wide.onnx")).unwrap();
    let nats = Nats::start(&dir.join("js"));
    let url = nats.url();
    let with_dir = ["--no-json", "--model-dir", models_dir.to_str().unwrap()];
    let http = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let http_addr = format!("127.0.0.1:{http}");
    let mut with_http = with_dir.to_vec();
    with_http.extend(["--http", &http_addr]);
    let _a = WorkerProc::start_with(&url, "wa", &logs, &with_http, false);
    let _b = WorkerProc::start_with(&url, "wb", &logs, &with_dir, false);
    // Without --model-dir: it keeps its model and says why.
    let _c = WorkerProc::start_with(&url, "wc", &logs, &["--no-json"], false);
    let all_up = wait_for(60 * SECS, || {
        let m = models(&url);
        m.len() == 3 && m.values().all(|(_, g)| *g == 1)
    })
    .await;
    assert!(
        all_up.is_some(),
        "the workers did not report: {:?}",
        models(&url)
    );
    // Only a model's file name, never a path.
    for bad in ["../wide.onnx", "/etc/passwd", "wide"] {
        let out = binary()
            .args(["cluster", "model", bad, "--cluster", &url])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
    }
    succeeded(binary().args(["cluster", "model", "wide.onnx", "--cluster", &url]));
    let swapped = wait_for(60 * SECS, || {
        let m = models(&url);
        ["wa", "wb"]
            .iter()
            .all(|w| m.get(*w) == Some(&("wide.onnx".to_owned(), 2)))
    })
    .await;
    assert!(swapped.is_some(), "not swapped: {:?}", models(&url));
    let m = models(&url);
    assert_eq!(m["wc"].1, 1, "{m:?}");
    // Over the HTTP API of any worker, the same: the fleet's model (202), by file name only.
    let post = |body: &str| {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        agent
            .post(&format!("http://{http_addr}/api/v1/model"))
            .header("Content-Type", "application/json")
            .send(body)
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };
    assert_eq!(post(r#"{"path": "../wide.onnx"}"#), 400);
    assert_eq!(post(r#"{"path": "wide.onnx"}"#), 202);
    let said = wait_for(10 * SECS, || {
        std::fs::read_to_string(logs.join("wc.log"))
            .unwrap_or_default()
            .contains("--model-dir")
    })
    .await;
    assert!(said.is_some(), "wc did not say why it kept its model");
    // A worker that joins later runs the fleet's model too.
    let _d = WorkerProc::start_with(&url, "wd", &logs, &with_dir, false);
    let joined = wait_for(60 * SECS, || {
        models(&url)
            .get("wd")
            .is_some_and(|(f, _)| f == "wide.onnx")
    })
    .await;
    assert!(joined.is_some(), "the late worker: {:?}", models(&url));
}
