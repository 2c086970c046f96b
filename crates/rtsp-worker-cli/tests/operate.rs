//! `rtsp-worker run` as an operated service, with real parts only: the loopback RTSP server
//! and the real model, Debian's `mosquitto` broker on a free loopback port (read with the same
//! MQTT library), the HTTP API driven by a real HTTP client, `/metrics` parsed with a
//! Prometheus text parser, and the status page loaded in headless Chromium (its screenshot
//! kept in `target/tmp/`). One test watches the people clip's known paths come out as MQTT
//! events; the other drives the API through adds, removes, reloads and bad input with a
//! password in play, and then looks for the password everywhere.

use testkit as common;
mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use common::{Server, clip};
use serde_json::{Value, json};
use support::{
    Api, Broker, Receiver, Subscriber, Worker, chromium, free_port, json, parse_metrics, refused,
    sample, scratch, wait_until, walk,
};

/// The two tests take turns: each runs the detector on every core, and the people clip's
/// walkers need the detector's full rate to be followed without a gap.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Which of the people clip's walkers a box is: 1 (top band, left to right), 2 (bottom band,
/// right to left) or 3 (the right edge, upwards).
fn walker(b: &Value) -> u8 {
    let x = (b[0].as_f64().unwrap() + b[2].as_f64().unwrap()) / 2.0;
    let y = (b[1].as_f64().unwrap() + b[3].as_f64().unwrap()) / 2.0;
    if x > 1150.0 {
        3
    } else if y < 400.0 {
        1
    } else {
        2
    }
}

/// Whether a walker's box is still near where its walk starts.
fn at_start(w: u8, b: &Value) -> bool {
    let x = (b[0].as_f64().unwrap() + b[2].as_f64().unwrap()) / 2.0;
    let y = (b[1].as_f64().unwrap() + b[3].as_f64().unwrap()) / 2.0;
    match w {
        1 => x < 400.0,
        2 => x > 800.0,
        _ => y > 400.0,
    }
}

fn dedup(values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        if out.last() != Some(v) {
            out.push(v.clone());
        }
    }
    out
}

fn contains_in_order(haystack: &[String], needle: &[&str]) -> bool {
    let mut it = haystack.iter();
    needle.iter().all(|n| it.any(|h| h == n))
}

const SCENE: &str = r#"
[[stream.zone]]
name = "right"
polygon = [[700, 0], [1280, 0], [1280, 720], [700, 720]]

[[stream.line]]
name = "middle"
from = [640, 0]
to = [640, 720]
"#;

#[test]
fn mqtt_events_follow_the_people_through_zones_and_lines() {
    let _turn = turn();
    let broker = Broker::start();
    let sub = Subscriber::start(broker.port);
    let server = support::people_server();
    let dir = scratch("mqtt-events");
    let config = dir.join("cameras.toml");
    std::fs::write(
        &config,
        format!(
            "[[stream]]\nid = \"walk\"\nurl = \"rtsp://127.0.0.1:{}/people\"\n{SCENE}",
            server.port
        ),
    )
    .unwrap();
    let mqtt = format!("mqtt://127.0.0.1:{}", broker.port);
    // 15 s of the clip's 20 s walk: past every crossing and zone change, before it loops.
    let worker = Worker::start(
        &[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--mqtt",
            &mqtt,
            "--no-json",
            "--duration",
            "15",
            "--status-every",
            "0",
        ],
        &[],
    );
    let (code, _, stderr) = worker.finish(false, Duration::from_secs(90));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        wait_until(Duration::from_secs(5), || sub
            .on("rtsp-worker/available")
            .last()
            .is_some_and(|s| s == "offline")),
        "available goes offline at the end: {:?}",
        sub.on("rtsp-worker/available")
    );
    let messages = sub.all();
    assert_eq!(sub.on("rtsp-worker/available").first().unwrap(), "online");
    let status = sub.on("rtsp-worker/walk/status");
    assert_eq!(
        (
            status.first().map(String::as_str),
            status.last().map(String::as_str)
        ),
        (Some("online"), Some("offline")),
        "{status:?}"
    );

    // Events: per id one `new` first and one `end` last; every track starts where a walk
    // starts (no track lost and found again mid-walk, no id switch between walkers).
    let mut by_id: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut order = Vec::new();
    for p in sub.on("rtsp-worker/events") {
        let v = json(&p);
        let id = v["after"]["id"].as_str().unwrap().to_owned();
        if !by_id.contains_key(&id) {
            order.push(id.clone());
        }
        by_id.entry(id).or_default().push(v);
    }
    let mut walkers: BTreeMap<u8, Vec<u64>> = BTreeMap::new();
    for id in &order {
        let evs = &by_id[id];
        let kinds: Vec<&str> = evs.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(kinds.first(), Some(&"new"), "{id}: {kinds:?}");
        assert_eq!(kinds.last(), Some(&"end"), "{id}: {kinds:?}");
        assert_eq!(kinds.iter().filter(|k| **k == "new").count(), 1, "{id}");
        assert_eq!(kinds.iter().filter(|k| **k == "end").count(), 1, "{id}");
        let new = &evs[0]["after"];
        assert_eq!(new["label"], "person", "{new}");
        assert_eq!(new["camera"], "walk");
        assert!(new["end_time"].is_null());
        let end = &evs.last().unwrap()["after"];
        assert!(end["end_time"].as_f64().unwrap() >= new["start_time"].as_f64().unwrap());
        assert!(end["top_score"].as_f64() >= end["score"].as_f64());
        let w = walker(&new["box"]);
        assert!(
            at_start(w, &new["box"]),
            "track {id} of walker {w} starts mid-walk at {}",
            new["box"]
        );
        walkers
            .entry(w)
            .or_default()
            .push(new["track_id"].as_u64().unwrap());
    }
    for w in 1..=3u8 {
        let n = walkers.get(&w).map_or(0, Vec::len);
        assert_eq!(n, 1, "walker {w} has {n} tracks: {walkers:?}");
    }
    // P2 leaves the zone on its first walk: an update says so with before and after.
    let p2 = walkers[&2][0];
    let left = by_id.values().flatten().any(|e| {
        e["type"] == "update"
            && e["after"]["track_id"] == p2
            && e["before"]["current_zones"] == json!(["right"])
            && e["after"]["current_zones"] == json!([])
    });
    assert!(left, "no update for walker 2 leaving the zone");

    // Crossings: 1 crosses out once, 2 in once, 3 never.
    let mut crossings: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for p in sub.on("rtsp-worker/zones") {
        let v = json(&p);
        assert_eq!(v["camera"], "walk");
        if v["type"] == "crossed" {
            assert_eq!(v["line"], "middle");
            crossings
                .entry(v["track_id"].as_u64().unwrap())
                .or_default()
                .push(v["direction"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(
        crossings.get(&walkers[&1][0]),
        Some(&vec!["out".to_owned()])
    );
    assert_eq!(crossings.get(&p2), Some(&vec!["in".to_owned()]));
    for t in &walkers[&3] {
        assert_eq!(crossings.get(t), None, "walker 3 crossed: {crossings:?}");
    }
    assert_eq!(crossings.len(), 2, "{crossings:?}");
    let line = json(sub.on("rtsp-worker/walk/lines/middle").last().unwrap());
    assert_eq!(line, json!({"in": {"person": 1}, "out": {"person": 1}}));

    // Counts: three people in view, none at the end; the zone goes 2, 1 (2 left), 2 (1 came).
    let people = dedup(&sub.on("rtsp-worker/walk/person"));
    assert!(people.iter().any(|c| c == "3"), "{people:?}");
    assert_eq!(people.last().map(String::as_str), Some("0"), "{people:?}");
    let zone = dedup(&sub.on("rtsp-worker/walk/zones/right/person"));
    assert!(contains_in_order(&zone, &["2", "1", "2"]), "{zone:?}");
    assert_eq!(zone.last().map(String::as_str), Some("0"), "{zone:?}");
    assert!(
        messages
            .iter()
            .all(|m| m.topic.starts_with("rtsp-worker/") || m.topic.starts_with("homeassistant/"))
    );
    // Home Assistant is told of the line, its sensors reading the line's topic.
    for dir in ["in", "out"] {
        let config = sub.on(&format!(
            "homeassistant/sensor/rtsp-worker_walk/line_middle_{dir}/config"
        ));
        let v = json(config.first().expect("the line's sensors announced"));
        assert_eq!(v["state_topic"], "rtsp-worker/walk/lines/middle");
        assert_eq!(v["state_class"], "total_increasing");
    }
    drop(server);
}

const PASSWORD: &str = "wonderland-7f3";
const WRONG: &str = "not-it-8c1";

#[test]
fn the_http_api_metrics_page_reloads_and_no_password_anywhere() {
    let _turn = turn();
    let broker = Broker::start();
    let sub = Subscriber::start(broker.port);
    let server = Server::start(
        &[
            format!("/people={}", clip("people_720p25.h264")),
            format!("/vtest={}@10", clip("vtest_576p10.h264")),
        ],
        Some(&format!("alice:{PASSWORD}")),
        None,
    );
    let dir = scratch("operate");
    let config = dir.join("cameras.toml");
    let door = format!(
        "[[stream]]\nid = \"door\"\nurl = \"rtsp://127.0.0.1:{}/people\"\nusername = \"alice\"\n\
         password_env = \"RW_TEST_DOOR_PASSWORD\"\n{SCENE}",
        server.port
    );
    std::fs::write(&config, &door).unwrap();
    let port = free_port();
    let http = format!("127.0.0.1:{port}");
    let mqtt = format!("mqtt://127.0.0.1:{}", broker.port);
    let snapshots = dir.join("snapshots");
    let worker = Worker::start(
        &[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--http",
            &http,
            "--mqtt",
            &mqtt,
            "--snapshots",
            snapshots.to_str().unwrap(),
            "--snapshot-every",
            "1",
            "--events",
            "--status-every",
            "1",
        ],
        &[
            ("RW_TEST_DOOR_PASSWORD", PASSWORD),
            ("RUST_LOG", "debug,hyper=info,h2=info"),
        ],
    );
    let api = Api::new(port);
    assert!(
        wait_until(Duration::from_secs(60), || api.get("/readyz").0 == 200),
        "not ready: {}",
        worker.stderr()
    );
    assert_eq!(
        api.get("/healthz"),
        (200, json!({"status": "ok"}).to_string())
    );
    assert!(
        wait_until(Duration::from_secs(30), || api.results("door") > 3),
        "door produces results: {}",
        worker.stderr()
    );
    let threads_before = worker.threads();

    // Add a camera with its password in the URL, and one with wrong credentials.
    let lobby = format!("rtsp://alice:{PASSWORD}@127.0.0.1:{}/vtest", server.port);
    let (status, body) = api.post(
        "/api/v1/streams",
        &json!({"id": "lobby", "url": lobby, "options": {"transport": "tcp", "detect_fps": 5}})
            .to_string(),
    );
    assert_eq!(status, 201, "{body}");
    let created = json(&body);
    assert_eq!(
        (created["id"].clone(), created["origin"].clone()),
        (json!("lobby"), json!("api"))
    );
    // A rate that is none, or so small that its interval would not fit a duration, is
    // refused with its reason, and nothing is added.
    for fps in [0.0, 1e-300] {
        let (status, body) = api.post(
            "/api/v1/streams",
            &json!({"id": "never", "url": lobby, "detect_fps": fps}).to_string(),
        );
        assert_eq!(status, 400, "{fps}: {body}");
        assert!(body.contains("detect_fps"), "{body}");
    }
    let (status, body) = api.post(
        "/api/v1/streams",
        &json!({"id": "side", "url": format!("rtsp://127.0.0.1:{}/vtest", server.port),
                "options": {"username": "alice", "password": WRONG}})
        .to_string(),
    );
    assert_eq!(status, 201, "{body}");
    assert!(
        wait_until(Duration::from_secs(40), || api.results("lobby") > 3),
        "lobby produces results: {}",
        worker.stderr()
    );
    assert!(
        wait_until(Duration::from_secs(40), || api
            .stream("side")
            .is_some_and(|s| s["state"] == "ended")),
        "refused credentials end the stream"
    );
    let side = api.stream("side").unwrap();
    assert!(
        side["last_error"].as_str().unwrap().contains("401"),
        "{side}"
    );

    // Bad input: each a clear 4xx with a JSON body, and the streams untouched.
    let door_before = api.results("door");
    refused(
        api.post("/api/v1/streams", "{\"id\": \"x\", \"url\""),
        400,
        "malformed JSON",
    );
    refused(api.post("/api/v1/streams", "[1, 2]"), 400, "not an object");
    refused(
        api.post("/api/v1/streams", &json!({"id": "x"}).to_string()),
        400,
        "no url",
    );
    refused(
        api.post(
            "/api/v1/streams",
            &json!({"id": "x", "url": "http://example.invalid/"}).to_string(),
        ),
        400,
        "not rtsp",
    );
    refused(
        api.post(
            "/api/v1/streams",
            &json!({"id": "x", "url": "rtsp://127.0.0.1/x", "colour": "red"}).to_string(),
        ),
        400,
        "unknown field",
    );
    refused(
        api.post(
            "/api/v1/streams",
            &json!({"id": "x", "url": "rtsp://127.0.0.1/x", "options": 5}).to_string(),
        ),
        400,
        "options not an object",
    );
    refused(
        api.post(
            "/api/v1/streams",
            &json!({"id": "x", "url": "rtsp://127.0.0.1/x",
                    "zones": [{"name": "z", "polygon": [[0, 0], [1, 1]]}]})
            .to_string(),
        ),
        400,
        "a zone with two corners",
    );
    refused(
        api.post(
            "/api/v1/streams",
            &json!({"id": "door", "url": "rtsp://127.0.0.1/x"}).to_string(),
        ),
        409,
        "a duplicate id",
    );
    // Over the 64 KiB limit, small enough for the socket to take whole before the answer.
    let huge = format!(
        "{{\"id\": \"x\", \"url\": \"rtsp://127.0.0.1/{}\"}}",
        "a".repeat(70_000)
    );
    refused(api.post("/api/v1/streams", &huge), 413, "a huge body");
    refused(api.get("/api/v1/streams/nobody"), 404, "an unknown id");
    refused(
        api.delete("/api/v1/streams/nobody"),
        404,
        "deleting an unknown id",
    );
    refused(
        api.get("/api/v1/streams/nobody/snapshot.jpg"),
        404,
        "an unknown snapshot",
    );
    refused(api.get("/api/v2/everything"), 404, "an unknown route");
    refused(api.put("/api/v1/streams"), 405, "a wrong method");
    refused(api.delete("/metrics"), 405, "a wrong method");
    assert!(
        wait_until(Duration::from_secs(20), || api.results("door")
            > door_before),
        "door goes on after the bad requests"
    );
    assert_eq!(api.stream("door").unwrap()["state"], "connected");

    // The annotated snapshot.
    let (status, kind, jpeg) = api.get_bytes("/api/v1/streams/door/snapshot.jpg");
    assert_eq!((status, kind.as_str()), (200, "image/jpeg"));
    assert!(
        jpeg.starts_with(&[0xFF, 0xD8]) && jpeg.ends_with(&[0xFF, 0xD9]),
        "a JPEG"
    );

    // Metrics, parsed.
    let (status, text) = api.get("/metrics");
    assert_eq!(status, 200);
    let scrape = parse_metrics(&text);
    let value = |name: &str, labels: &[(&str, &str)]| sample(&scrape, name, labels);
    assert!(
        value(
            "rtsp_worker_stream_frames_received_total",
            &[("stream", "door")]
        ) > Some(0.0)
    );
    assert!(value("rtsp_worker_stream_results_total", &[("stream", "lobby")]) > Some(0.0));
    // The lobby's detect_fps (5 of the camera's 10 a second) decodes each group of pictures up
    // to its last picture due; the door decodes everything.
    for (stream, mode) in [("door", "full"), ("lobby", "gop_prefix")] {
        assert_eq!(
            value(
                "rtsp_worker_stream_decode_mode",
                &[("stream", stream), ("mode", mode)]
            ),
            Some(1.0),
            "{stream}"
        );
    }
    assert!(
        value(
            "rtsp_worker_stream_frames_dropped_total",
            &[("stream", "door"), ("reason", "superseded")]
        )
        .is_some()
    );
    assert_eq!(
        value(
            "rtsp_worker_stream_state",
            &[("stream", "side"), ("state", "ended")]
        ),
        Some(1.0)
    );
    assert!(value("rtsp_worker_detector_images_total", &[]) > Some(0.0));
    assert!(value("rtsp_worker_batcher_batches_total", &[("trigger", "full")]).is_some());
    assert!(value("rtsp_worker_process_resident_memory_bytes", &[]) > Some(1e6));
    assert!(value("rtsp_worker_process_threads", &[]) > Some(1.0));
    assert_eq!(value("rtsp_worker_mqtt_connected", &[]), Some(1.0));
    let latency = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "rtsp_worker_stream_latency_seconds"
                && s.labels.get("stream") == Some("door")
        })
        .expect("door's latency histogram");
    match &latency.value {
        prometheus_parse::Value::Histogram(buckets) => {
            assert!(buckets.len() > 5 && buckets.last().unwrap().count > 0.0)
        }
        other => panic!("latency is a histogram: {other:?}"),
    }

    // The status page in Chromium: a tile per camera, an image loaded in each live one.
    let page = format!("http://{http}/");
    let shot = dir.join("status-page.png");
    let out = chromium(&[&format!("--screenshot={}", shot.display())], &page, &dir);
    assert!(
        shot.is_file(),
        "screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    #[allow(clippy::print_stderr)] // where the artefact is, for whoever reads the log
    {
        eprintln!("status page screenshot: {}", shot.display());
    }
    let out = chromium(&["--dump-dom"], &page, &dir);
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    for id in ["door", "lobby"] {
        let tile = dom
            .split("<div class=\"tile\"")
            .find(|t| t.contains(&format!("data-stream=\"{id}\"")))
            .unwrap_or_else(|| panic!("no tile for {id}:\n{dom}"));
        assert!(
            tile.contains("data-loaded=\"") && !tile.contains("data-loaded=\"0\""),
            "{id}'s image did not load:\n{tile}"
        );
    }
    assert!(
        dom.contains("data-stream=\"side\""),
        "the ended camera has a tile too"
    );

    // Removing a camera: its final accounting.
    let (status, body) = api.delete("/api/v1/streams/lobby");
    assert_eq!(status, 200, "{body}");
    let fin = json(&body);
    assert_eq!(fin["state"], "ended");
    assert_eq!(fin["accounting"]["in_pipeline"], 0);
    refused(api.get("/api/v1/streams/lobby"), 404, "a removed stream");
    // Streams decode on the shared pool (one thread per core, made with the first camera):
    // no stream has a thread of its own, and the pool does not grow with cameras.
    let named = |t: &[String], p: &str| t.iter().filter(|n| n.starts_with(p)).count();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let now = worker.threads();
    assert_eq!(named(&now, "rw-stream"), 0, "{now:?}");
    assert!(
        named(&now, "rw-decode") <= cores + 1,
        "{now:?} (before {threads_before:?})"
    );

    // Reloads: a camera added to the file comes (API call), removed from it goes (SIGHUP);
    // a broken file changes nothing.
    let yard = format!(
        "\n[[stream]]\nid = \"yard\"\nurl = \"rtsp://alice:{PASSWORD}@127.0.0.1:{}/vtest\"\n",
        server.port
    );
    std::fs::write(&config, format!("{door}{yard}")).unwrap();
    let (status, body) = api.post("/api/v1/reload", "");
    assert_eq!(status, 200, "{body}");
    let report = json(&body);
    assert_eq!(report["added"], json!(["yard"]), "{report}");
    assert_eq!(report["unchanged"], json!(["door"]), "{report}");
    assert!(api.stream("yard").is_some());
    std::fs::write(&config, format!("{door}\n[[stream]]\nid = 5\n")).unwrap();
    let refusal = refused(api.post("/api/v1/reload", ""), 409, "a broken file");
    assert!(
        refusal["error"].as_str().unwrap().contains("cameras.toml:"),
        "{refusal}"
    );
    assert!(
        api.stream("yard").is_some(),
        "a broken file changes nothing"
    );
    std::fs::write(&config, &door).unwrap();
    worker.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(20), || api.stream("yard").is_none()),
        "SIGHUP removes yard: {}",
        worker.stderr()
    );
    assert!(api.stream("door").is_some() && api.stream("side").is_some());

    let (_, streams) = api.get("/api/v1/streams");
    let (_, stats) = api.get("/api/v1/stats");
    let (code, stdout, stderr) = worker.finish(true, Duration::from_secs(60));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("final accounting"), "{stderr}");
    assert!(
        wait_until(Duration::from_secs(5), || sub
            .on("rtsp-worker/available")
            .last()
            .is_some_and(|s| s == "offline")),
        "MQTT says goodbye"
    );

    // Stdout follows the documented schema, zone fields and zone events included.
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/result.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut zone_lines = 0;
    for line in stdout.lines() {
        let v = json(line);
        if let Err(e) = validator.validate(&v) {
            panic!("{e}\n{line}");
        }
        if v["stream_id"] == "door" && v.get("frame_number").is_some() && v.get("event").is_none() {
            assert!(v["zone_counts"]["right"].is_object(), "{line}");
        }
        if matches!(v["event"].as_str(), Some("entered" | "left" | "crossed")) {
            zone_lines += 1;
        }
    }
    assert!(zone_lines > 0, "zone events on stdout with --events");

    // The password, anywhere.
    let files: Vec<String> = walk(&snapshots);
    assert!(
        files
            .iter()
            .any(|f| f.contains("/door/") && f.ends_with(".jpg")),
        "snapshots written: {files:?}"
    );
    let mqtt_text: String = sub
        .all()
        .iter()
        .map(|m| format!("{} {}\n", m.topic, m.payload))
        .collect();
    assert!(mqtt_text.contains("rtsp-worker/door/status"), "{mqtt_text}");
    let http_text = api.bodies.lock().unwrap().clone();
    let places = [
        ("HTTP responses", http_text),
        ("the stream list", streams),
        ("the stats", stats),
        ("metrics", text),
        ("MQTT", mqtt_text),
        ("stdout", stdout),
        ("logs", stderr),
        ("snapshot files", files.join("\n")),
        ("the page's DOM", dom),
    ];
    for (place, text) in &places {
        for secret in [PASSWORD, WRONG] {
            assert!(
                !text.contains(secret),
                "the password {secret} in {place}:\n{text}"
            );
        }
    }
    drop(server);
}

#[test]
fn a_broker_that_is_away_blocks_nothing_and_is_found_when_it_comes() {
    let _turn = turn();
    let server = support::people_server();
    let broker_port = free_port(); // nothing listens there yet
    let port = free_port();
    let worker = Worker::start(
        &[
            "run",
            &format!("rtsp://127.0.0.1:{}/people", server.port),
            "--http",
            &format!("127.0.0.1:{port}"),
            "--mqtt",
            &format!("mqtt://127.0.0.1:{broker_port}"),
            "--mqtt-queue",
            "4",
            "--no-json",
            "--status-every",
            "0",
        ],
        &[],
    );
    let api = Api::new(port);
    let metric = |name: &str, labels: &[(&str, &str)]| {
        let (status, text) = api.get("/metrics");
        if status != 200 {
            return None;
        }
        sample(&parse_metrics(&text), name, labels)
    };
    // Results flow with the broker away; what does not fit the queue is dropped, counted.
    assert!(
        wait_until(Duration::from_secs(60), || api.results("stream_0") > 10),
        "results without a broker: {}",
        worker.stderr()
    );
    assert_eq!(metric("rtsp_worker_mqtt_connected", &[]), Some(0.0));
    assert!(
        wait_until(Duration::from_secs(20), || metric(
            "rtsp_worker_mqtt_messages_total",
            &[("outcome", "dropped")]
        ) > Some(0.0)),
        "drops counted"
    );
    // The broker comes: the client finds it, says it is online, and events flow.
    let broker = Broker::start_on(broker_port);
    let sub = Subscriber::start(broker.port);
    assert!(
        wait_until(Duration::from_secs(20), || metric(
            "rtsp_worker_mqtt_connected",
            &[]
        ) == Some(1.0)),
        "reconnected: {}",
        worker.stderr()
    );
    let before = api.results("stream_0");
    assert!(
        wait_until(Duration::from_secs(20), || sub
            .on("rtsp-worker/available")
            .contains(&"online".to_owned())
            && api.results("stream_0") > before),
        "online after the broker came, results still flowing: {:?}",
        sub.all()
    );
    let (code, _, stderr) = worker.finish(true, Duration::from_secs(60));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("MQTT broker unreachable"), "{stderr}");
    drop(server);
}

#[test]
fn a_stdout_nobody_reads_loses_lines_not_results() {
    // Four cameras and the stand-in detector (1 ms a batch): about a hundred JSON lines a
    // second, so the pipe and the 1024-line channel fill within seconds.
    let _turn = turn();
    let mounts: Vec<String> = (0..4)
        .map(|i| format!("/c{i}={}", clip("people_720p25.h264")))
        .collect();
    let server = Server::start(&mounts, None, None);
    let port = free_port();
    let mut args: Vec<String> = (0..4).map(|i| server.url(&format!("/c{i}"))).collect();
    args.splice(0..0, ["run".to_owned()]);
    args.extend(
        [
            "--stand-in-detector",
            "1",
            "--http",
            &format!("127.0.0.1:{port}"),
            "--status-every",
            "0",
        ]
        .map(str::to_owned),
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rtsp-worker"))
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Held open and not read: stdout is stuck.
    let stdout = child.stdout.take().unwrap();
    let stderr = support::collect(child.stderr.take().unwrap());
    let api = Api::new(port);
    let metric = |name: &str| {
        let (status, text) = api.get("/metrics");
        (status == 200)
            .then(|| sample(&parse_metrics(&text), name, &[]))
            .flatten()
    };
    assert!(
        wait_until(Duration::from_secs(60), || metric(
            "rtsp_worker_stdout_lines_dropped_total"
        ) > Some(100.0)),
        "lines dropped while stdout is stuck: {}",
        stderr.lock().unwrap()
    );
    // Results go on while stdout stays stuck.
    let before = api.results("stream_0");
    assert!(
        wait_until(Duration::from_secs(20), || api.results("stream_0")
            > before + 20),
        "results stopped with stdout: {}",
        stderr.lock().unwrap()
    );
    // Read stdout again, and stop: the worker drains and says what it lost.
    let _drained = support::collect(stdout);
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    assert!(
        wait_until(Duration::from_secs(60), || child
            .try_wait()
            .unwrap()
            .is_some()),
        "the worker did not stop"
    );
    std::thread::sleep(Duration::from_millis(300)); // the reader finishes with the pipe
    let text = stderr.lock().unwrap().clone();
    assert!(text.contains("lines dropped (stdout was slower"), "{text}");
    // The streams lost nothing to the stuck stdout: no result dropped as too slow.
    let rows: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("final accounting"))
        .skip(2)
        .take(4)
        .collect();
    assert_eq!(rows.len(), 4, "{text}");
    for row in rows {
        let cols: Vec<&str> = row.split_whitespace().collect();
        // stream received results superseded ingest_gap decode_err dec_overflow not_decoded
        // rate_limited infer_fail too_slow shutdown in_pipe balanced
        assert_eq!(cols[10], "0", "results dropped as too slow: {row}");
        assert_eq!(cols[13], "yes", "{row}");
    }
}

/// The delivered events of one endpoint, each id once, in the order first delivered.
fn delivered(requests: &[Value]) -> Vec<Value> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for r in requests {
        assert_eq!(
            r["signature_ok"], true,
            "a request without a good signature: {r}"
        );
        let id = r["delivery"].as_str().unwrap().to_owned();
        assert_eq!(r["body"]["id"], json!(id), "{r}");
        if r["status"] == 204 && seen.insert(id) {
            out.push(r["body"].clone());
        }
    }
    out
}

#[test]
fn webhooks_deliver_every_event_in_order_through_errors_slowness_and_an_outage() {
    let _turn = turn();
    let dir = scratch("webhooks");
    support::certificates(&dir);
    let secret = dir.join("secret");
    std::fs::write(&secret, "webhook-secret-0123456789\n").unwrap();
    let server = support::people_server();
    // The process's endpoint answers 500, then slowly (half a second each) to the end; the
    // camera's own (TLS) is down and comes up. Its path holds a secret id, which must never show.
    let a = Receiver::start(free_port(), &dir.join("a.log"), &secret, "fail", None);
    let b_port = free_port();
    let config = dir.join("cameras.toml");
    std::fs::write(
        &config,
        format!(
            "[[stream]]\nid = \"walk\"\nurl = \"rtsp://127.0.0.1:{}/people\"\n\
             webhook = [\"https://localhost:{b_port}/own\"]\n{SCENE}",
            server.port
        ),
    )
    .unwrap();
    let http = free_port();
    let hook = format!("http://127.0.0.1:{}/hooks/s3cret-hook-id", a.port);
    let worker = Worker::start(
        &[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--webhook",
            &hook,
            "--webhook-secret-file",
            secret.to_str().unwrap(),
            "--webhook-ca-file",
            dir.join("ca.pem").to_str().unwrap(),
            "--http",
            &format!("127.0.0.1:{http}"),
            "--no-json",
            "--duration",
            "15",
            "--status-every",
            "0",
        ],
        &[],
    );
    let api = Api::new(http);
    assert!(
        wait_until(Duration::from_secs(30), || api.results("walk") > 0),
        "{}",
        worker.stderr()
    );
    // Over the API a camera's own webhook is checked, shown without its path, and one that
    // is down costs the other camera nothing and its removal no wait.
    let bad = api.post(
        "/api/v1/streams",
        &json!({"id": "other", "url": format!("rtsp://127.0.0.1:{}/people", server.port),
                "webhook": "ftp://127.0.0.1/s3cret-hook-id"})
        .to_string(),
    );
    assert_eq!(bad.0, 400, "{bad:?}");
    assert!(!bad.1.contains("s3cret-hook-id"), "{bad:?}");
    let down = free_port();
    let added = api.post(
        "/api/v1/streams",
        &json!({"id": "other", "url": format!("rtsp://127.0.0.1:{}/people", server.port),
                "options": {"webhook": [format!("http://127.0.0.1:{down}/s3cret-hook-id")]}})
        .to_string(),
    );
    assert_eq!(added.0, 201, "{added:?}");
    let view = json(&added.1);
    assert_eq!(
        view["webhooks"],
        json!([format!("http://127.0.0.1:{down}")])
    );
    assert!(!added.1.contains("s3cret-hook-id"));
    std::thread::sleep(Duration::from_secs(3));
    let removing = std::time::Instant::now();
    let removed = api.delete("/api/v1/streams/other");
    assert_eq!(removed.0, 200, "{removed:?}");
    assert!(
        removing.elapsed() < Duration::from_secs(3),
        "removing a camera waited for its webhook: {:?}",
        removing.elapsed()
    );
    a.mode("slow");
    let (key, cert) = (dir.join("server.key"), dir.join("server.pem"));
    let b = Receiver::start(
        b_port,
        &dir.join("b.log"),
        &secret,
        "ok",
        Some((&cert, &key)),
    );
    std::thread::sleep(Duration::from_secs(2));
    let (text, scrape) = api.metrics();
    let metric = |endpoint: &str, outcome: &str| {
        sample(
            &scrape,
            "rtsp_worker_webhook_events_total",
            &[("endpoint", endpoint), ("outcome", outcome)],
        )
    };
    let shown_a = format!("http://127.0.0.1:{}", a.port);
    assert!(
        metric(&shown_a, "retried").unwrap_or(0.0) > 0.0,
        "the 500s were retried: {text}"
    );
    assert!(
        sample(
            &scrape,
            "rtsp_worker_webhook_events_total",
            &[
                ("endpoint", &format!("https://localhost:{b_port}")),
                ("stream", "walk"),
                ("outcome", "queued")
            ]
        )
        .unwrap_or(0.0)
            > 0.0,
        "the camera's own endpoint is counted: {text}"
    );
    let (code, _, stderr) = worker.finish(false, Duration::from_secs(90));
    assert_eq!(code, Some(0), "{stderr}");
    for (what, text) in [("stderr", &stderr), ("metrics", &text)] {
        assert!(
            !text.contains("s3cret-hook-id"),
            "{what} shows the hook's path"
        );
        assert!(
            !text.contains("webhook-secret-0123"),
            "{what} shows the secret"
        );
    }
    assert!(stderr.contains("webhook endpoint failing"), "{stderr}");

    assert!(
        stderr.contains(&format!("http://127.0.0.1:{down}")),
        "the down endpoint is named: {stderr}"
    );
    let (ra, rb) = (a.requests(), b.requests());
    assert!(ra.iter().any(|r| r["status"] == 500), "A never failed");
    assert!(
        ra.iter().any(|r| r["mode"] == "slow" && r["status"] == 204),
        "A was never slow"
    );
    assert!(ra.iter().all(|r| r["path"] == "/hooks/s3cret-hook-id"));
    let (all_a, db) = (delivered(&ra), delivered(&rb));
    // The process's endpoint has both cameras' events, each camera's complete (sequence
    // 1..=n, no gap) and in order; the camera's own endpoint the same of its camera.
    let of = |camera: &str| -> Vec<Value> {
        all_a
            .iter()
            .filter(|e| e["camera"] == camera)
            .cloned()
            .collect()
    };
    let (da, other) = (of("walk"), of("other"));
    assert_eq!(da.len() + other.len(), all_a.len());
    for events in [&da, &other, &db] {
        let sequences: Vec<u64> = events
            .iter()
            .map(|e| e["sequence"].as_u64().unwrap())
            .collect();
        assert_eq!(
            sequences,
            (1..=events.len() as u64).collect::<Vec<_>>(),
            "events missing or out of order"
        );
    }
    let ids = |d: &[Value]| -> Vec<String> {
        d.iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&da), ids(&db), "the two endpoints got different events");
    // The removed camera's tracks ended with it.
    assert!(
        other
            .iter()
            .any(|e| e["type"] == "end" && e["reason"] == "camera_ended"),
        "{other:?}"
    );
    // Every track starts once and ends once; the two line crossings are there.
    let mut tracks: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut crossed = Vec::new();
    for e in &da {
        assert_eq!(e["camera"], "walk");
        match e["kind"].as_str().unwrap() {
            "track" => tracks
                .entry(e["track_id"].as_u64().unwrap())
                .or_default()
                .push(e["type"].as_str().unwrap().to_owned()),
            "zone" if e["type"] == "crossed" => crossed.push(e["direction"].clone()),
            _ => {}
        }
    }
    assert!(tracks.len() >= 3, "{tracks:?}");
    for (id, kinds) in &tracks {
        assert_eq!(kinds, &["start", "end"], "track {id}");
    }
    crossed.sort_by_key(Value::to_string);
    assert_eq!(crossed, [json!("in"), json!("out")], "{da:?}");
    drop((a, b, server));
}

#[test]
fn the_model_is_swapped_over_the_api_and_by_a_reload_while_results_flow() {
    let _turn = turn();
    let dir = scratch("model-swap");
    let models = dir.join("models");
    std::fs::create_dir_all(&models).unwrap();
    std::fs::copy(rtsp_worker::wide_model_path(), models.join("wide.onnx")).unwrap();
    // The same network, other class names: refused unless the tracks may restart.
    common::model_with_walkers(
        &rtsp_worker::default_model_path(),
        &models.join("walkers.onnx"),
    );
    std::fs::write(dir.join("secret.txt"), "not a model").unwrap();
    let server = support::people_server();
    let config = dir.join("cameras.toml");
    let camera = format!(
        "[[stream]]\nid = \"walk\"\nurl = \"rtsp://127.0.0.1:{}/people\"\n",
        server.port
    );
    std::fs::write(&config, &camera).unwrap();
    let http = free_port();
    let worker = Worker::start(
        &[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--model-dir",
            models.to_str().unwrap(),
            "--http",
            &format!("127.0.0.1:{http}"),
            "--no-json",
            "--status-every",
            "1",
        ],
        &[],
    );
    let api = Api::new(http);
    assert!(
        wait_until(Duration::from_secs(30), || api.results("walk") > 0),
        "{}",
        worker.stderr()
    );
    let model = |api: &Api| json(&api.get("/api/v1/model").1);
    let first = model(&api);
    assert_eq!(
        (first["generation"].as_u64(), first["input_width"].as_u64()),
        (Some(1), Some(640))
    );

    // Swapped over the API: loaded beside the running one, results go on.
    let before = api.results("walk");
    let swapped = api.post("/api/v1/model", r#"{"path": "wide.onnx"}"#);
    assert_eq!(swapped.0, 200, "{swapped:?}");
    let swapped = json(&swapped.1);
    assert_eq!(
        (
            swapped["generation"].as_u64(),
            swapped["input_height"].as_u64()
        ),
        (Some(2), Some(384))
    );
    let (text, scrape) = api.metrics();
    assert_eq!(
        sample(
            &scrape,
            "rtsp_worker_model_info",
            &[("file", "wide.onnx"), ("input", "640x384")]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        !text.contains(models.to_str().unwrap()),
        "metrics show the folder"
    );
    assert!(
        wait_until(Duration::from_secs(20), || api.results("walk") > before + 5),
        "results stopped after the swap"
    );
    // What is refused changes nothing and says why.
    for (body, status, kind) in [
        (r#"{"path": "../secret.txt"}"#, 400, "bad_request"),
        (r#"{"path": "/etc/passwd"}"#, 400, "bad_request"),
        (r#"{"path": "missing.onnx"}"#, 404, "model_not_found"),
        (r#"{"path": "walkers.onnx"}"#, 409, "model_classes_differ"),
        (r#"{"model": "wide.onnx"}"#, 400, "bad_request"),
    ] {
        let answer = refused(api.post("/api/v1/model", body), status, body);
        assert_eq!(answer["kind"], kind, "{body}: {answer}");
    }
    assert_eq!(model(&api), swapped);

    // A reload with another [engine] model swaps to it.
    std::fs::write(
        &config,
        format!(
            "[engine]\nmodel = \"{}\"\n{camera}",
            rtsp_worker::default_model_path().display()
        ),
    )
    .unwrap();
    worker.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(30), || model(&api)["generation"] == 3),
        "{}",
        worker.stderr()
    );
    assert_eq!(model(&api)["input_height"], 640);
    assert!(
        wait_until(Duration::from_secs(10), || worker
            .stderr()
            .contains("(swap 2)")),
        "the status line counts swaps: {}",
        worker.stderr()
    );
    // The reload reports once the swap returned, which is after the old model's last batch
    // (the new one already runs): a SIGTERM before that would cut the report off.
    assert!(
        wait_until(Duration::from_secs(10), || worker
            .stderr()
            .contains("model swapped to")),
        "the reload said nothing of the model: {}",
        worker.stderr()
    );
    let (code, _, stderr) = worker.finish(true, Duration::from_secs(60));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("model swapped to"), "{stderr}");
    // Every frame accounted for, none failed in the detector across the swaps.
    let walk = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("walk "))
        .unwrap();
    assert!(walk.ends_with("yes"), "not balanced: {walk}");
    assert_eq!(walk.split_whitespace().nth(9), Some("0"), "{walk}");
    drop(server);
}

/// Reads a live view for `secs` seconds over a raw connection; the frame numbers it got.
fn view_live(port: u16, path: &str, secs: f64) -> Vec<u64> {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs_f64(secs);
    let mut all = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    while std::time::Instant::now() < deadline {
        match tcp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    let text = String::from_utf8_lossy(&all);
    text.split("X-Frame-Number: ")
        .skip(1)
        .filter_map(|p| p.split("\r\n").next()?.parse().ok())
        .collect()
}

#[test]
fn the_operators_page_shows_live_pictures_draws_zones_and_home_assistant_finds_them() {
    let _turn = turn();
    let broker = Broker::start();
    let sub = Subscriber::start(broker.port);
    let server = support::people_server();
    let dir = scratch("page");
    let port = free_port();
    let http = format!("127.0.0.1:{port}");
    let mqtt = format!("mqtt://127.0.0.1:{}", broker.port);
    // The camera comes from a cameras file, which the page writes the drawn zone into.
    let config = dir.join("cameras.toml");
    std::fs::write(
        &config,
        format!(
            "# the operator's own notes\n[[stream]]\nid = \"people\" # the street\n\
             url = \"rtsp://127.0.0.1:{}/people\"\n",
            server.port
        ),
    )
    .unwrap();
    let worker = Worker::start(
        &[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--http",
            &http,
            "--mqtt",
            &mqtt,
            "--status-every",
            "1",
        ],
        &[],
    );
    let api = Api::new(port);
    assert!(
        wait_until(Duration::from_secs(60), || api.get("/readyz").0 == 200),
        "not ready: {}",
        worker.stderr()
    );
    assert!(
        wait_until(Duration::from_secs(30), || api.results("people") > 3),
        "results: {}",
        worker.stderr()
    );
    let live = |what: &str| {
        api.stream("people").unwrap()["live"][what]
            .as_u64()
            .unwrap()
    };

    // Nobody watches: nothing is encoded.
    let encoded = live("encoded");
    let results = api.results("people");
    std::thread::sleep(Duration::from_secs(3));
    assert!(api.results("people") > results, "results go on");
    assert_eq!(live("encoded"), encoded, "no JPEG while nobody watches");

    // 20 viewers, one capped at 1 a second, and one that never reads.
    let path = "/api/v1/streams/people/live.mjpeg";
    let stalled = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    {
        use std::io::Write;
        write!(
            &stalled,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
        )
        .unwrap();
    }
    let (results, encoded) = (api.results("people"), live("encoded"));
    let viewers: Vec<_> = (0..20)
        .map(|i| {
            let p = if i == 0 {
                format!("{path}?fps=1")
            } else {
                path.to_owned()
            };
            std::thread::spawn(move || view_live(port, &p, 6.0))
        })
        .collect();
    let got: Vec<Vec<u64>> = viewers.into_iter().map(|v| v.join().unwrap()).collect();
    let (results, encoded) = (api.results("people") - results, live("encoded") - encoded);
    assert!(results >= 6, "results while watched: {results}");
    assert!(
        encoded <= results + 1,
        "one encode per result however many watch: {encoded} encodes, {results} results"
    );
    assert!(got[0].len() <= 7, "capped at 1/s: {:?}", got[0]);
    for (i, frames) in got.iter().enumerate().skip(1) {
        // Four fifths at least: the viewers' windows are not quite the one counted, and on
        // two cores a viewer may skip a picture (newest first) while the others are served.
        assert!(
            frames.len() as u64 * 5 >= results * 4,
            "viewer {i} got {} of {results} results (the stalled viewer slows nobody)",
            frames.len()
        );
        assert!(frames.windows(2).all(|w| w[0] < w[1]), "newer each time");
    }
    drop(stalled);
    assert!(
        wait_until(Duration::from_secs(5), || live("viewers") == 0),
        "viewers go when they close"
    );
    let (_, scrape) = api.metrics();
    let sent = sample(
        &scrape,
        "rtsp_worker_stream_live_pictures_total",
        &[("stream", "people"), ("outcome", "sent")],
    );
    assert!(sent >= Some(100.0), "sent pictures counted: {sent:?}");
    refused(
        api.get("/api/v1/streams/people/live.mjpeg?fps=0"),
        400,
        "fps 0",
    );

    // The page, in Chromium through WebDriver: the tile's live picture moves.
    let browser = support::Browser::start(&dir);
    browser.open(&format!("http://{http}/"));
    let frame = |css: &str| {
        browser
            .eval(&format!(
                "const i = document.querySelector('{css}'); return i ? Number(i.dataset.frame || 0) : 0;"
            ))
            .as_u64()
            .unwrap_or(0)
    };
    let tile = ".tile[data-stream=people] img";
    assert!(
        wait_until(Duration::from_secs(20), || frame(tile) > 0),
        "the tile shows live pictures"
    );
    let (first, shot1) = (frame(tile), browser.screenshot());
    assert!(
        wait_until(Duration::from_secs(20), || frame(tile) > first + 2),
        "the tile's pictures move on"
    );
    let (second, shot2) = (frame(tile), browser.screenshot());
    assert_ne!(shot1, shot2, "two screenshots of the live page differ");
    std::fs::write(dir.join("status-page.png"), &shot2).unwrap();

    // The camera's view: draw a zone over most of the picture with four clicks.
    browser.click(".tile[data-stream=people] .id");
    assert!(
        wait_until(Duration::from_secs(20), || frame("#cam-live") > 0
            && browser
                .eval("return document.getElementById('cam-draw').getAttribute('viewBox');")
                .as_str()
                .is_some_and(|v| v.ends_with("1280 720"))),
        "the large view shows the camera"
    );
    let size = browser.eval(
        "const r = document.getElementById('cam-draw').getBoundingClientRect(); \
         return [r.width, r.height];",
    );
    let (w, h) = (size[0].as_f64().unwrap(), size[1].as_f64().unwrap());
    for (fx, fy) in [(-0.45, -0.45), (0.45, -0.45), (0.45, 0.45), (-0.45, 0.45)] {
        browser.click_at("#cam-draw", (fx * w) as i64, (fy * h) as i64);
    }
    assert_eq!(
        browser.eval("return document.getElementById('cam-draw').dataset.points;"),
        json!("4")
    );
    browser.type_into("#editor input[name=name]", "drawn");
    browser.type_into("#editor input[name=labels]", "person");
    browser.click("#cam-add");
    assert!(
        wait_until(Duration::from_secs(10), || {
            let (_, body) = api.get("/api/v1/streams/people/scene");
            let v = json(&body);
            v["zones"][0]["name"] == "drawn"
                && v["zones"][0]["polygon"]
                    .as_array()
                    .is_some_and(|p| p.len() == 4 && p[0][0].as_f64() < Some(100.0))
                && v["toml"]
                    .as_str()
                    .is_some_and(|t| t.contains("name = \"drawn\""))
        }),
        "the drawn zone is the camera's: {}",
        api.get("/api/v1/streams/people/scene").1
    );
    assert!(
        wait_until(Duration::from_secs(10), || browser
            .eval("return document.getElementById('toml').textContent;")
            .as_str()
            .is_some_and(|t| t.contains("[[stream.zone]]"))),
        "the page shows the TOML block"
    );

    // Written into the cameras file when asked, the operator's comments kept.
    browser.click("#cam-save");
    assert!(
        wait_until(Duration::from_secs(10), || std::fs::read_to_string(&config)
            .is_ok_and(
                |t| t.contains("[[stream.zone]]") && t.contains("name = \"drawn\"")
            )),
        "the file has the zone: {}",
        std::fs::read_to_string(&config).unwrap_or_default()
    );
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(
        written.contains("# the operator's own notes") && written.contains("# the street"),
        "{written}"
    );
    // A reload now finds nothing to change.
    let (status, body) = api.post("/api/v1/reload", "{}");
    assert_eq!(status, 200, "{body}");
    let report = json(&body);
    assert_eq!(report["unchanged"], json!(["people"]), "{body}");

    // The page shows the zone's count as it changes (people walk through it).
    assert!(
        wait_until(Duration::from_secs(30), || {
            browser
            .eval("const z = document.querySelector('#scene-list li[data-name=drawn]'); return z ? Number(z.dataset.count) : 0;")
            .as_u64()
            > Some(0)
        }),
        "the page counts the people in the drawn zone"
    );

    // Its count comes out on MQTT, and Home Assistant is told about it.
    let node = "rtsp-worker_people";
    let zone_config = format!("homeassistant/sensor/{node}/zone_drawn_person_count/config");
    assert!(
        wait_until(Duration::from_secs(30), || sub
            .on("rtsp-worker/people/zones/drawn/person")
            .iter()
            .any(|n| n.parse::<u32>().is_ok_and(|n| n > 0))
            && !sub.on(&zone_config).is_empty()),
        "the zone's count and its discovery: {:?}",
        sub.all()
            .iter()
            .map(|m| m.topic.clone())
            .collect::<Vec<_>>()
    );
    assert!(
        wait_until(Duration::from_secs(20), || sub
            .on("rtsp-worker/zones")
            .iter()
            .map(|m| json(m))
            .any(|e| e["zone"] == "drawn"
                && e["type"] == "entered"
                && e["camera"] == "people")),
        "an entry into the drawn zone on MQTT"
    );
    let configs: Vec<support::Message> = sub
        .all()
        .into_iter()
        .filter(|m| m.topic.starts_with("homeassistant/") && !m.payload.is_empty())
        .collect();
    for kind in [
        format!("binary_sensor/{node}/status/config"),
        format!("sensor/{node}/person_count/config"),
        format!("binary_sensor/{node}/person_occupancy/config"),
    ] {
        assert!(
            configs.iter().any(|m| m.topic.ends_with(&kind)),
            "{kind} announced"
        );
    }
    for m in &configs {
        let v = json(&m.payload);
        let state = v["state_topic"].as_str().expect("a state topic");
        assert!(
            !sub.on(state).is_empty(),
            "{} names {state}, which carries values",
            m.topic
        );
        assert_eq!(v["availability_topic"], "rtsp-worker/available");
        assert_eq!(v["device"]["name"], "people");
    }

    // The events list fills, with thumbnails.
    assert!(
        wait_until(Duration::from_secs(20), || browser
            .eval("return document.querySelectorAll('#cam-events li img[src]').length;")
            .as_u64()
            > Some(0)),
        "the camera's events show"
    );
    std::fs::write(dir.join("camera-view.png"), browser.screenshot()).unwrap();
    #[allow(clippy::print_stderr)] // where the artefacts are, for whoever reads the log
    {
        eprintln!("page screenshots in {}", dir.display());
    }
    let (_, body) = api.get("/api/v1/events?camera=people&limit=5");
    let events = json(&body);
    let thumb = events
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| e["thumbnail"].as_str())
        .expect("an event with a thumbnail");
    let (status, kind, jpeg) = api.get_bytes(thumb);
    assert_eq!((status, kind.as_str()), (200, "image/jpeg"));
    assert_eq!(&jpeg[..2], &[0xff, 0xd8]);
    drop(browser);

    // Removed, the camera's entities go from Home Assistant.
    let (status, _) = api.delete("/api/v1/streams/people");
    assert_eq!(status, 200);
    assert!(
        wait_until(Duration::from_secs(10), || sub
            .all()
            .iter()
            .any(|m| m.topic == zone_config && m.payload.is_empty())),
        "the zone's config emptied"
    );
    let (code, stdout, stderr) = worker.finish(true, Duration::from_secs(60));
    assert_eq!(code, Some(0), "{stderr}");
    // The pictures the tile showed are drawn from their results: between the two
    // screenshots' frames the people moved, and so did their boxes.
    let boxes = |frame: u64| -> BTreeMap<u64, f64> {
        let r = stdout
            .lines()
            .map(json)
            .find(|r| r["stream_id"] == "people" && r["frame_number"] == frame)
            .unwrap_or_else(|| panic!("no result for the frame shown, {frame}"));
        r["tracked_objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let b = &t["bbox"];
                (
                    t["track_id"].as_u64().unwrap(),
                    (b[0].as_f64().unwrap() + b[2].as_f64().unwrap()) / 2.0,
                )
            })
            .collect()
    };
    let (a, b) = (boxes(first), boxes(second));
    assert!(
        a.iter()
            .any(|(id, x)| b.get(id).is_some_and(|y| (x - y).abs() > 3.0)),
        "a person's box moved between frames {first} and {second}: {a:?} {b:?}"
    );
}
