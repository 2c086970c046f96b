//! The attack suite (issue 23, docs/SECURITY.md): the real binary on loopback, attacked as an
//! outsider would — by a web page in headless Chromium served from another origin, by raw
//! HTTP with forged headers, by floods of slow and idle connections, by hostile servers at
//! camera URLs, by writers of the fleet's registry, by a broker that takes large events over
//! TLS — while a real camera flows. Each test asserts that the attack fails *and* that the
//! worker keeps serving: `/readyz` answers within a second throughout (a probe on a fresh
//! connection every 100 ms), the camera's results keep coming, and its accounting balances
//! at the end.

// Figures go to stderr for whoever reads the log.
#![allow(clippy::print_stderr)]

use testkit as common;
mod fleet;
mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::hostile::{Attack, Hostile};
use common::{Server, clip};
use fleet::{Nats, binary};
use serde_json::{Value, json};
use support::{
    Api, Broker, Prober, Subscriber, Worker, balanced, certificates, chromium, free_port, json,
    proc_usage, raw, sample, scratch, wait_until, walk,
};

/// One worker at a time: each runs the detector on every core.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A worker serving HTTP on a free loopback port with `extra` arguments, the people clip
/// from `server` as camera `legit`; returns it once the camera has results.
fn start_worker(server: &Server, extra: &[&str], env: &[(&str, &str)]) -> (Worker, u16, Api) {
    let port = free_port();
    let http = format!("127.0.0.1:{port}");
    let camera = server.url("/people");
    let config = scratch(&format!("security-config-{port}")).join("cameras.toml");
    std::fs::write(
        &config,
        format!("[[stream]]\nid = \"legit\"\nurl = \"{camera}\"\n"),
    )
    .unwrap();
    let mut args = vec![
        "run",
        "--config",
        config.to_str().unwrap(),
        "--http",
        &http,
        "--no-json",
        "--status-every",
        "0",
    ];
    args.extend_from_slice(extra);
    let worker = Worker::start(&args, env);
    let api = Api::new(port);
    let token = env
        .iter()
        .find(|(k, _)| *k == "RTSP_WORKER_HTTP_TOKEN")
        .map(|(_, v)| v.to_string());
    let results = || {
        let mut r = api.agent.get(format!("{}/api/v1/streams/legit", api.base));
        if let Some(t) = &token {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        r.call()
            .ok()
            .and_then(|mut r| r.body_mut().read_json::<Value>().ok())
            .and_then(|v| v["accounting"]["results"].as_u64())
            .unwrap_or(0)
    };
    assert!(
        wait_until(Duration::from_secs(60), || results() > 0),
        "the camera never gave results:\n{}",
        worker.stderr()
    );
    (worker, port, api)
}

fn legit_results(api: &Api) -> u64 {
    api.results("legit")
}

/// Asserts that the camera gave more results over `secs`.
fn still_flowing(api: &Api, what: &str) {
    let before = legit_results(api);
    assert!(
        wait_until(Duration::from_secs(10), || legit_results(api) > before),
        "{what}: the camera stopped giving results"
    );
}

/// Stops the worker; the camera's final accounting must balance.
fn stop_and_check(worker: Worker, api: &Api) -> String {
    let (status, body) = api.delete("/api/v1/streams/legit");
    assert_eq!(status, 200, "{body}");
    let stats = json(&body);
    assert!(balanced(&stats), "accounting: {}", stats["accounting"]);
    let (code, _out, err) = worker.finish(true, Duration::from_secs(30));
    assert_eq!(code, Some(0), "{err}");
    err
}

fn streams(api: &Api) -> Vec<String> {
    let (_, body) = api.get("/api/v1/streams");
    json(&body)
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A page served from another origin (another port) that attacks the worker with what a
/// browser lets a page send without asking: no-cors `fetch()` with `text/plain`, a form
/// POST, an image, and reads of the API. It writes what it saw into the page.
fn attacker_page(worker_port: u16) -> String {
    let w = format!("http://127.0.0.1:{worker_port}");
    format!(
        r#"<!doctype html><html><body><pre id="out">running</pre>
<iframe name="sink" style="display:none"></iframe>
<form id="csrf" method="POST" enctype="text/plain" target="sink" action="{w}/api/v1/streams">
<input name='{{"id":"form","url":"rtsp://127.0.0.1:9/x","pad":"' value='"}}'></form>
<script>
const W = "{w}";
const seen = {{}};
async function attempt(name, f) {{
  try {{ const r = await f(); seen[name] = r.type + ":" + r.status; }}
  catch (e) {{ seen[name] = "error:" + e.name; }}
}}
(async () => {{
  await attempt("add_no_cors", () => fetch(W + "/api/v1/streams", {{method: "POST", mode: "no-cors",
    headers: {{"Content-Type": "text/plain"}}, body: JSON.stringify({{id: "evil", url: "rtsp://127.0.0.1:9/x"}})}}));
  await attempt("file_no_cors", () => fetch(W + "/api/v1/streams", {{method: "POST", mode: "no-cors",
    body: JSON.stringify({{id: "evilfile", url: "file:///etc/passwd"}})}}));
  await attempt("reload_no_cors", () => fetch(W + "/api/v1/reload", {{method: "POST", mode: "no-cors"}}));
  await attempt("add_json_cors", () => fetch(W + "/api/v1/streams", {{method: "POST",
    headers: {{"Content-Type": "application/json"}}, body: JSON.stringify({{id: "evil2", url: "rtsp://127.0.0.1:9/x"}})}}));
  await attempt("delete_cors", () => fetch(W + "/api/v1/streams/legit", {{method: "DELETE"}}));
  try {{ const r = await fetch(W + "/api/v1/streams"); seen.read = "read:" + (await r.text()).slice(0, 40); }}
  catch (e) {{ seen.read = "error:" + e.name; }}
  await new Promise((done) => {{
    const img = new Image();
    img.onload = () => {{ seen.image = "loaded"; done(); }};
    img.onerror = () => {{ seen.image = "blocked"; done(); }};
    img.src = W + "/api/v1/streams/legit/snapshot.jpg";
  }});
  document.getElementById("csrf").submit();
  await new Promise((r) => setTimeout(r, 1500));
  document.getElementById("out").textContent = "DONE " + JSON.stringify(seen);
}})();
</script></body></html>"#
    )
}

/// Serves one page on a free loopback port, to every request, until the process ends.
fn serve_page(page: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let page = page.clone();
            std::thread::spawn(move || {
                let mut tcp = tcp;
                let mut buf = [0u8; 4096];
                let _ = tcp.read(&mut buf);
                let _ = write!(
                    tcp,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                    page.len()
                );
            });
        }
    });
    port
}

/// Every ASCII punctuation character, a blank, and some unicode, each as an id.
fn hostile_ids() -> Vec<String> {
    let mut ids: Vec<String> = (0x20u8..0x7f)
        .filter(|b| !b.is_ascii_alphanumeric())
        .map(|b| format!("cam{}1", b as char))
        .collect();
    ids.extend(
        [
            "cam\u{e9}",
            "\u{2603}",
            ".hidden",
            "..",
            ".",
            "",
            "cam\u{0}",
            "cam\n1",
        ]
        .map(str::to_owned),
    );
    ids.push("x".repeat(65));
    ids
}

#[test]
fn the_api_refuses_what_a_web_page_or_a_stranger_sends_and_keeps_serving() {
    let _turn = turn();
    let server = support::people_server();
    let (worker, port, api) = start_worker(&server, &["--http-max-connections", "512"], &[]);
    let probe = Prober::start(port);
    let dir = scratch("security-web");

    // DNS rebinding: a name that is not ours, in the Host header.
    for host in [
        "attacker.example",
        "attacker.example:80",
        "127.0.0.1.nip.io",
        "localhost.attacker.example",
    ] {
        for path in ["/", "/api/v1/streams", "/metrics"] {
            let (status, body) = raw(
                port,
                &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n"),
            );
            assert_eq!(status, 421, "Host {host} {path}: {body}");
            assert!(!body.contains("legit"), "{body}");
        }
    }
    let (status, _) = raw(port, "GET /api/v1/streams HTTP/1.0\r\n\r\n");
    assert_eq!(status, 400, "no Host header");
    // The same through a browser whose resolver points a foreign name at the worker.
    let rebound = chromium(
        &[
            "--dump-dom",
            "--host-resolver-rules=MAP rebind.test 127.0.0.1",
        ],
        &format!("http://rebind.test:{port}/api/v1/streams"),
        &dir,
    );
    let dom = String::from_utf8_lossy(&rebound.stdout);
    assert!(
        dom.contains("unknown_host") && !dom.contains("legit"),
        "rebinding: {dom}"
    );

    // Cross-site requests a page can make without a preflight, and some it cannot.
    let post = |headers: &str, body: &str| {
        raw(
            port,
            &format!(
                "POST /api/v1/streams HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}Content-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        )
    };
    let evil = r#"{"id":"evil","url":"rtsp://127.0.0.1:9/x"}"#;
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        assert_eq!(
            post(&format!("Content-Type: {ct}\r\n"), evil).0,
            415,
            "{ct}"
        );
    }
    assert_eq!(post("", evil).0, 415, "no content type");
    for origin in [
        "http://attacker.example",
        "null",
        &format!("http://127.0.0.1:{}", port + 1),
    ] {
        let (status, body) = post(
            &format!("Content-Type: application/json\r\nOrigin: {origin}\r\n"),
            evil,
        );
        assert_eq!(status, 403, "Origin {origin}: {body}");
    }
    let (status, _) = raw(
        port,
        &format!(
            "GET /api/v1/streams/legit/snapshot.jpg HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nSec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: no-cors\r\n\r\n"
        ),
    );
    assert_eq!(status, 403, "an image embedded by another site");
    // The same from a real page of another origin, in a real browser.
    let page_port = serve_page(attacker_page(port));
    let out = chromium(
        &["--dump-dom", "--virtual-time-budget=8000"],
        &format!("http://127.0.0.1:{page_port}/"),
        &dir,
    );
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dom.contains("DONE"),
        "the attacker page did not finish: {dom}"
    );
    // What it could read: nothing (failed reads, no image; every answer carries
    // Cross-Origin-Resource-Policy: same-origin, so even no-cors requests fail in the page).
    assert!(dom.contains(r#""read":"error:TypeError""#), "{dom}");
    assert!(dom.contains(r#""image":"blocked""#), "{dom}");
    // What it could change: nothing.
    assert_eq!(streams(&api), ["legit"], "after the attacker page: {dom}");
    eprintln!(
        "attacker page saw: {}",
        dom.lines().find(|l| l.contains("DONE")).unwrap_or("")
    );

    // Local files through the API: refused at once, naming no path.
    let fifo = dir.join("fifo");
    let _ = std::fs::remove_file(&fifo);
    support::mkfifo(&fifo);
    for url in [
        "file:///etc/passwd".to_owned(),
        "FILE:///etc/shadow".to_owned(),
        " file:///dev/zero".to_owned(),
        format!("file://{}", fifo.display()),
        "file:///nonexistent".to_owned(),
    ] {
        let t = Instant::now();
        let (status, body) = api.post(
            "/api/v1/streams",
            &json!({"id": "f", "url": url}).to_string(),
        );
        assert_eq!(status, 400, "{url}: {body}");
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "{url} took {:?}",
            t.elapsed()
        );
        for leak in [
            "passwd",
            "shadow",
            "zero",
            "fifo",
            "nonexistent",
            "No such file",
        ] {
            assert!(!body.contains(leak), "{url}: {body}");
        }
    }

    // Ids: only [A-Za-z0-9_.-], no leading dot; the others are refused with a typed error.
    for id in hostile_ids() {
        let allowed = id.len() <= 64
            && !id.starts_with('.')
            && !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        let (status, body) = api.post(
            "/api/v1/streams",
            &json!({"id": id, "url": "rtsp://127.0.0.1:9/x"}).to_string(),
        );
        if allowed {
            assert_eq!(status, 201, "{id:?}: {body}");
        } else {
            assert_eq!(status, 400, "{id:?}: {body}");
            assert_eq!(json(&body)["kind"], "bad_request", "{id:?}: {body}");
        }
    }
    // Every label of every stream parses.
    let (metrics, scrape) = api.metrics();
    assert!(
        sample(
            &scrape,
            "rtsp_worker_stream_frames_received",
            &[("stream", "cam.1")]
        )
        .is_some()
            || metrics.contains("stream=\"cam.1\""),
        "{metrics}"
    );
    for id in ["cam-1", "cam.1", "cam_1"] {
        assert_eq!(api.delete(&format!("/api/v1/streams/{id}")).0, 200, "{id}");
    }

    // Zone bombs.
    let square = json!([[0, 0], [10, 0], [10, 10], [0, 10]]);
    let many: Vec<Value> = (0..65)
        .map(|i| json!({"name": format!("z{i}"), "polygon": square}))
        .collect();
    let round: Vec<Value> = (0..300).map(|i| json!([i, (i * 7) % 13])).collect();
    for (what, zones, lines) in [
        ("65 zones", json!(many), json!([])),
        (
            "300 corners",
            json!([{"name": "round", "polygon": round}]),
            json!([]),
        ),
        (
            "a long name",
            json!([{"name": "n".repeat(1000), "polygon": square}]),
            json!([]),
        ),
        (
            "a far corner",
            json!([{"name": "far", "polygon": [[0, 0], [1e9, 0], [0, 1]]}]),
            json!([]),
        ),
        (
            "a topic wildcard",
            json!([{"name": "a/#", "polygon": square}]),
            json!([]),
        ),
        (
            "a far line",
            json!([]),
            json!([{"name": "l", "from": [0, 0], "to": [1e12, 1]}]),
        ),
    ] {
        let (status, body) = api.post(
            "/api/v1/streams",
            &json!({"id": "zones", "url": "rtsp://127.0.0.1:9/x", "zones": zones, "lines": lines})
                .to_string(),
        );
        assert_eq!(status, 400, "{what}: {body}");
        assert!(body.len() < 1000, "{what}: {} bytes of error", body.len());
    }
    // A body announced at 1 MiB: refused once 64 KiB have come (sent just past that, so that
    // the answer is not lost to a reset for bytes the server never read).
    let mut body = r#"{"id":"big","url":"rtsp://h/x","pad":""#.to_owned();
    body.push_str(&"x".repeat(64 * 1024 + 16 - body.len()));
    let (status, answer) = raw(
        port,
        &format!(
            "POST /api/v1/streams HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            1 << 20
        ),
    );
    assert_eq!(status, 413, "a 1 MiB body: {answer}");
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    let (status, body) = api.post("/api/v1/streams", &deep);
    assert_eq!(status, 400, "deeply nested JSON: {body}");

    // The operator's page's routes. Zone bombs through the scene editor: refused whole, the
    // camera's scene unchanged.
    let scene_before = api.get("/api/v1/streams/legit/scene");
    assert_eq!(scene_before.0, 200, "{}", scene_before.1);
    for (what, scene) in [
        ("65 zones", json!({"zones": many})),
        (
            "300 corners",
            json!({"zones": [{"name": "round", "polygon": round}]}),
        ),
        (
            "a wildcard",
            json!({"zones": [{"name": "a/#", "polygon": square}]}),
        ),
        (
            "an unknown field",
            json!({"zones": [], "path": "/etc/passwd"}),
        ),
    ] {
        let (status, body) = api.put_json("/api/v1/streams/legit/scene", &scene.to_string());
        assert_eq!(status, 400, "{what}: {body}");
        assert!(!body.contains("/etc/passwd"), "{what}: {body}");
    }
    assert_eq!(api.get("/api/v1/streams/legit/scene"), scene_before);
    // Writing the scene back writes the operator's own cameras file and nothing else: the
    // zone tables of a camera it names (here none), the rest as it was; a camera the file
    // does not hold is refused, the answer naming no path.
    let config = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("security-config-{port}"))
        .join("cameras.toml");
    let file_before = std::fs::read_to_string(&config).unwrap();
    let (status, body) = api.post("/api/v1/streams/legit/scene/save", "{}");
    assert_eq!(status, 200, "{body}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), file_before);
    let (status, body) = api.post(
        "/api/v1/streams",
        &json!({"id": "apicam", "url": "rtsp://u:pw-in-url@127.0.0.1:9/x"}).to_string(),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = api.post("/api/v1/streams/apicam/scene/save", "{}");
    assert_eq!(status, 409, "{body}");
    assert!(!body.contains('/'), "{body}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), file_before);
    assert_eq!(api.delete("/api/v1/streams/apicam").0, 200);
    // Event thumbnails are looked up in memory: a path in the id reads nothing.
    for id in [
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "%2Fetc%2Fpasswd",
        "..",
        "legit-0-0",
    ] {
        let (status, body) = api.get(&format!("/api/v1/events/{id}/thumbnail.jpg"));
        assert_eq!(status, 404, "{id}: {body}");
        assert!(!body.contains("root:"), "{id}: {body}");
    }
    for query in ["limit=100000", "limit=-1", "camera=%zz", "path=/etc/passwd"] {
        let (status, body) = api.get(&format!("/api/v1/events?{query}"));
        assert_eq!(status, 400, "{query}: {body}");
    }
    // Live views that never read, up to the cap and past it: the worker answers the rest
    // (the prober keeps asking throughout) and refuses the 33rd at once.
    let stalled: Vec<std::net::TcpStream> = (0..32)
        .map(|_| {
            let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            std::io::Write::write_all(
                &mut &tcp,
                format!(
                    "GET /api/v1/streams/legit/live.mjpeg HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
                )
                .as_bytes(),
            )
            .unwrap();
            tcp
        })
        .collect();
    assert!(
        wait_until(Duration::from_secs(10), || api
            .stream("legit")
            .is_some_and(|s| s["live"]["viewers"] == 32)),
        "32 viewers open"
    );
    let (status, body) = raw(
        port,
        &format!("GET /api/v1/streams/legit/live.mjpeg HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"),
    );
    assert_eq!(status, 503, "{body}");
    assert_eq!(json(&body)["kind"], "too_many_viewers", "{body}");
    let before = api.results("legit");
    assert!(
        wait_until(Duration::from_secs(10), || api.results("legit")
            > before + 2),
        "results go on under 32 stalled viewers"
    );
    drop(stalled);
    assert!(
        wait_until(Duration::from_secs(10), || api
            .stream("legit")
            .is_some_and(|s| s["live"]["viewers"] == 0)),
        "stalled viewers go when their connections close"
    );

    // Hostile servers at camera URLs: each refused and reconnected, memory bounded.
    let (base_rss, _, _) = proc_usage(worker.child.id());
    let attackers: Vec<(&str, Hostile)> = vec![
        ("huge_sdp", Hostile::start(Attack::HugeDescribe)),
        ("endless_headers", Hostile::start(Attack::EndlessHeaders)),
        ("endless_au", Hostile::start(Attack::EndlessAccessUnit)),
        ("giant_frames", Hostile::start(Attack::GiantInterleaved)),
    ];
    for (id, h) in &attackers {
        let (status, body) = api.post(
            "/api/v1/streams",
            &json!({"id": id, "url": h.url(), "transport": "tcp"}).to_string(),
        );
        assert_eq!(status, 201, "{id}: {body}");
    }
    let mut peak = 0f64;
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        peak = peak.max(proc_usage(worker.child.id()).0 - base_rss);
        std::thread::sleep(Duration::from_millis(100));
    }
    let sent: u64 = attackers
        .iter()
        .map(|(_, h)| h.sent.load(Ordering::Relaxed))
        .sum();
    eprintln!("hostile cameras: {sent} bytes sent, worker memory grew by {peak:.0} MiB at most");
    assert!(
        peak < 400.0,
        "four hostile cameras grew the worker by {peak:.0} MiB ({sent} bytes sent)"
    );
    for (id, _) in &attackers {
        let s = api.stream(id).unwrap();
        let error = s["last_error"].as_str().unwrap_or_default();
        if *id != "giant_frames" {
            assert!(
                error.contains("larger than any real camera"),
                "{id}: {error}"
            );
        }
        assert_eq!(api.delete(&format!("/api/v1/streams/{id}")).0, 200, "{id}");
    }
    still_flowing(&api, "after the hostile cameras");

    // Slowloris: request heads that never end, one byte at a time.
    let slow: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut t = TcpStream::connect(("127.0.0.1", port)).unwrap();
            t.write_all(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                .unwrap();
            t
        })
        .collect();
    let t = Instant::now();
    let mut open = slow.len();
    while t.elapsed() < Duration::from_secs(14) && open > 0 {
        open = 0;
        for mut s in &slow {
            if s.write_all(b"X").is_ok() {
                open += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(open, 0, "slow request heads outlived the header timeout");
    eprintln!("slowloris: 50 slow heads cut off after {:?}", t.elapsed());

    // 10,000 idle connections: the oldest idle ones make room, probes get in.
    let mut idle = Vec::new();
    for _ in 0..10_000 {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(t) => idle.push(t),
            Err(e) => panic!("connection {} refused by the kernel: {e}", idle.len()),
        }
    }
    std::thread::sleep(Duration::from_secs(3));
    let (_, fds, threads) = proc_usage(worker.child.id());
    let (_, scrape) = api.metrics();
    let evicted = sample(
        &scrape,
        "rtsp_worker_http_connections_total",
        &[("outcome", "evicted")],
    )
    .unwrap_or(0.0);
    eprintln!(
        "10,000 idle connections: {evicted} evicted, worker at {fds} fds and {threads} threads"
    );
    assert!(evicted >= 9_000.0, "{evicted} evicted");
    assert!(fds < 2_000, "{fds} open files");
    drop(idle);
    still_flowing(&api, "after the connection flood");

    let slowest = probe.finish("the open API under attack");
    eprintln!("readyz: slowest answer {slowest:?}");
    let err = stop_and_check(worker, &api);
    assert!(!err.contains("panicked"), "{err}");
    drop(server);
}

/// The token, and a wrong one of the same length.
const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const WRONG_FIRST: &str = "x123456789abcdef0123456789abcdef";
const WRONG_LAST: &str = "0123456789abcdef0123456789abcdex";

fn get_with(port: u16, path: &str, authorization: Option<&str>) -> (u16, String) {
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    raw(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}\r\n"),
    )
}

#[test]
fn a_token_guards_every_route_but_the_probes() {
    let _turn = turn();
    let server = support::people_server();
    let (worker, port, api) = start_worker(
        &server,
        &["--metrics-public"],
        &[("RTSP_WORKER_HTTP_TOKEN", TOKEN)],
    );
    let probe = Prober::start(port);
    let bearer = format!("Bearer {TOKEN}");
    for path in [
        "/api/v1/streams",
        "/api/v1/stats",
        "/api/v1/streams/legit",
        "/api/v1/streams/legit/snapshot.jpg",
    ] {
        for wrong in [
            None,
            Some("Bearer".to_owned()),
            Some(format!("Bearer {WRONG_FIRST}")),
            Some(format!("Bearer {WRONG_LAST}")),
            Some(format!("Bearer {TOKEN}x")),
            Some(format!("Basic {TOKEN}")),
            Some(TOKEN.to_owned()),
        ] {
            let (status, body) = get_with(port, path, wrong.as_deref());
            assert_eq!(status, 401, "{path} with {wrong:?}: {body}");
            assert!(!body.contains("legit"), "{body}");
        }
        assert!(
            matches!(get_with(port, path, Some(&bearer)).0, 200 | 503),
            "{path} with the token"
        );
    }
    let post = raw(
        port,
        &format!(
            "POST /api/v1/streams HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
        ),
    );
    assert_eq!(post.0, 401, "adding without the token");
    for open in ["/healthz", "/readyz", "/", "/metrics"] {
        assert_eq!(get_with(port, open, None).0, 200, "{open} is open");
    }
    // The page asks for the token, and keeps it out of every URL.
    let page = get_with(port, "/", None).1;
    assert!(
        page.contains("id=\"login\"") && page.contains("sessionStorage"),
        "the page"
    );
    assert!(!page.contains("?token") && !page.contains("&token"));

    // A timing probe: wrong at the first character or at the last, the answers take as long.
    let mut first = Vec::new();
    let mut last = Vec::new();
    for i in 0..400 {
        for (wrong, into) in [(WRONG_FIRST, &mut first), (WRONG_LAST, &mut last)] {
            let t = Instant::now();
            let (status, _) = get_with(port, "/api/v1/stats", Some(&format!("Bearer {wrong}")));
            let took = t.elapsed().as_secs_f64() * 1e6;
            if i >= 50 {
                into.push(took);
            }
            assert_eq!(status, 401);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (a, b) = (median(&mut first), median(&mut last));
    eprintln!("token timing: wrong first {a:.0} µs, wrong last {b:.0} µs (medians of 350)");
    assert!(
        (a - b).abs() < 0.25 * a.min(b) + 50.0,
        "the answer's time depends on where the token differs: {a:.0} vs {b:.0} µs"
    );

    let results = || {
        serde_json::from_str::<Value>(&get_with(port, "/api/v1/streams/legit", Some(&bearer)).1)
            .ok()
            .and_then(|v| v["accounting"]["results"].as_u64())
            .unwrap_or(0)
    };
    let before = results();
    assert!(
        wait_until(Duration::from_secs(10), || results() > before),
        "the camera stopped giving results"
    );
    probe.finish("the guarded API");
    let (status, body) = raw(
        port,
        &format!(
            "DELETE /api/v1/streams/legit HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {bearer}\r\n\r\n"
        ),
    );
    assert_eq!(status, 200, "{body}");
    assert!(balanced(&json(&body)));
    let (code, out, err) = worker.finish(true, Duration::from_secs(30));
    assert_eq!(code, Some(0), "{err}");
    assert!(
        !out.contains(TOKEN) && !err.contains(TOKEN),
        "the token in the output"
    );
    drop((api, server));
}

/// A child process killed when dropped (a test that fails midway leaves no worker behind).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serving_beyond_loopback_needs_a_token() {
    let dir = scratch("security-bind");
    let port = free_port().to_string();
    let any = format!("0.0.0.0:{port}");
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec![
            "run",
            "--http",
            any.as_str(),
            "--status-every",
            "0",
            "--duration",
            "1",
        ];
        args.extend_from_slice(extra);
        Worker::start(&args, env).finish(false, Duration::from_secs(60))
    };
    let (code, _, err) = run(&[], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--http-token-file") && err.contains("--http-insecure"),
        "{err}"
    );
    let short = dir.join("short-token");
    std::fs::write(&short, "tooshort-secret\n").unwrap();
    let (code, _, err) = run(&["--http-token-file", short.to_str().unwrap()], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("16") && !err.contains("tooshort-secret"),
        "{err}"
    );
    let (code, _, err) = run(
        &[],
        &[("RTSP_WORKER_HTTP_TOKEN", "with spaces in it, long enough")],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(!err.contains("with spaces"), "{err}");
    let good = dir.join("token");
    std::fs::write(&good, format!("{TOKEN}\n")).unwrap();
    let (code, _, err) = run(&["--http-token-file", good.to_str().unwrap()], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("token required") && !err.contains(TOKEN),
        "{err}"
    );
    let (code, _, err) = run(&["--http-insecure"], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("INSECURE"), "{err}");
    // The demo has no token: loopback only.
    let out = binary()
        .args(["demo", "--http", &any, "--duration", "1"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn local_files_come_only_from_the_operator() {
    let dir = scratch("security-files");
    let clip_path = clip("boxes_720p25.h264");
    let fifo = dir.join("fifo");
    support::mkfifo(&fifo);
    let big = dir.join("big.h264");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(300 << 20)
        .unwrap();
    let config = |url: &str| {
        let path = dir.join(format!("cameras-{}.toml", url.len()));
        std::fs::write(
            &path,
            format!("[[stream]]\nid = \"clip\"\nurl = \"{url}\"\n"),
        )
        .unwrap();
        path
    };
    let run = |args: &[&str]| {
        let t = Instant::now();
        let mut all = vec!["run", "--status-every", "0", "--no-json"];
        all.extend_from_slice(args);
        let out = Worker::start(&all, &[]).finish(false, Duration::from_secs(60));
        (out, t.elapsed())
    };
    let file_url = format!("file://{clip_path}");
    // Without --allow-file-urls: refused on the command line and in the config file.
    let ((code, _, err), _) = run(&[&file_url, "--duration", "1"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--allow-file-urls"), "{err}");
    let c = config(&file_url);
    let ((code, _, err), _) = run(&["--config", c.to_str().unwrap(), "--duration", "1"]);
    assert_eq!(code, Some(2), "{err}");
    // With it: a FIFO, a device and a huge file are refused at once, naming the problem.
    for (url, says) in [
        (format!("file://{}", fifo.display()), "not a regular file"),
        ("file:///dev/zero".to_owned(), "not a regular file"),
        (format!("file://{}", big.display()), "more than"),
    ] {
        let ((code, _, err), took) = run(&["--allow-file-urls", &url, "--duration", "1"]);
        assert_eq!(code, Some(2), "{url}: {err}");
        assert!(err.contains(says), "{url}: {err}");
        assert!(took < Duration::from_secs(30), "{url} took {took:?}");
    }
    // And a real clip plays.
    let ((code, _, err), _) = run(&["--allow-file-urls", &file_url, "--duration", "4"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("clip") || err.contains("stream_0"), "{err}");
}

#[test]
fn a_thousand_adds_and_removes_leave_nothing_behind() {
    let _turn = turn();
    let server = support::people_server();
    let snapshots = scratch("security-churn-snapshots");
    let snap = snapshots.to_str().unwrap().to_owned();
    let (worker, port, api) = start_worker(
        &server,
        &["--snapshots", &snap, "--snapshot-every", "0.2"],
        &[],
    );
    let probe = Prober::start(port);
    let pid = worker.child.id();
    let mut warm = (0.0, 0, 0);
    let t = Instant::now();
    for i in 0..1000 {
        // Mostly cameras that never answer; every 50th a real one that connects and draws.
        let real = i % 50 == 0;
        let url = if real {
            server.url("/people")
        } else {
            "rtsp://127.0.0.1:9/x".to_owned()
        };
        let id = format!("churn{i}");
        let (status, body) = api.post(
            "/api/v1/streams",
            &json!({"id": id, "url": url}).to_string(),
        );
        assert_eq!(status, 201, "{id}: {body}");
        if real {
            assert!(
                wait_until(Duration::from_secs(20), || api.results(&id) > 0),
                "{id} gave no results"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        let (status, body) = api.delete(&format!("/api/v1/streams/{id}"));
        assert_eq!(status, 200, "{id}: {body}");
        assert!(balanced(&json(&body)), "{id}: {body}");
        if i == 99 {
            warm = proc_usage(pid);
        }
        // Keep the kept bodies from growing in the test itself.
        api.bodies.lock().unwrap().clear();
    }
    let took = t.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let end = proc_usage(pid);
    eprintln!(
        "1000 add/remove cycles in {took:?}: RSS {:.0} -> {:.0} MiB, fds {} -> {}, threads {} -> {}",
        warm.0, end.0, warm.1, end.1, warm.2, end.2
    );
    assert!(end.0 < warm.0 + 40.0, "memory grew: {warm:?} -> {end:?}");
    assert!(end.1 <= warm.1 + 8, "open files grew: {warm:?} -> {end:?}");
    assert!(end.2 <= warm.2 + 4, "threads grew: {warm:?} -> {end:?}");
    assert_eq!(streams(&api), ["legit"]);
    let prefix = format!("{}/", snapshots.display());
    let left: Vec<String> = walk(&snapshots)
        .into_iter()
        .filter(|p| {
            p.strip_prefix(&prefix)
                .is_some_and(|rest| rest.starts_with("churn"))
        })
        .collect();
    assert!(
        left.is_empty(),
        "snapshot folders of removed streams: {left:?}"
    );
    probe.finish("1000 add/remove cycles");
    stop_and_check(worker, &api);
    drop(server);
}

/// Counts connections made to a port (a trap: nothing should ever connect).
fn trap() -> (u16, std::sync::Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            h.fetch_add(1, Ordering::Relaxed);
            drop(tcp);
        }
    });
    (port, hits)
}

/// Every character a password may hold that a URL parser takes for something else.
const SPECIAL: &str = "p/a?s#s@w:o%rd\u{2603}";
/// Fragments of it that no output may show.
const SPECIAL_PARTS: &[&str] = &[SPECIAL, "p/a?s", "s#s@w", "o%rd", "cC9hP3Mj"];

#[test]
fn mqtt_over_tls_takes_large_events_and_passwords_go_nowhere() {
    let _turn = turn();
    let dir = scratch("security-mqtt");
    certificates(&dir);
    // The broker: a plain listener for the test's subscriber, TLS with a password for the
    // worker.
    let (plain, tls) = (free_port(), free_port());
    let passwd = dir.join("passwd");
    let made = std::process::Command::new("mosquitto_passwd")
        .args(["-b", "-c"])
        .arg(&passwd)
        .args(["worker", SPECIAL])
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let _ = std::process::Command::new("chmod")
        .arg("644")
        .arg(&passwd)
        .status();
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "per_listener_settings true\n\
             listener {plain} 127.0.0.1\nallow_anonymous true\n\
             listener {tls} 127.0.0.1\nallow_anonymous false\npassword_file {}\n\
             cafile {}\ncertfile {}\nkeyfile {}\n",
            passwd.display(),
            dir.join("ca.pem").display(),
            dir.join("server.pem").display(),
            dir.join("server.key").display()
        ),
    )
    .unwrap();
    let _broker = Broker::start_with_config(&conf, plain);
    assert!(wait_until(Duration::from_secs(10), || TcpStream::connect(
        ("127.0.0.1", tls)
    )
    .is_ok()));
    let sub = Subscriber::start(plain);

    // A camera behind the same password, and 64 zones of 60-character names over the whole
    // picture: every event names them all (well over rumqttc's 10 KiB default).
    let server = Server::start(
        &[format!("/people={}", clip("people_720p25.h264"))],
        Some(&format!("alice:{SPECIAL}")),
        None,
    );
    let mut file = format!(
        "[[stream]]\nid = \"people\"\nurl = \"{}\"\nusername = \"alice\"\npassword_env = \"RW_TEST_PW\"\n",
        server.url("/people")
    );
    for i in 0..64 {
        file.push_str(&format!(
            "[[stream.zone]]\nname = \"zone-{i:02}-{}\"\npolygon = [[0, 0], [1280, 0], [1280, 720], [0, 720]]\ninertia = 1\n",
            "z".repeat(52)
        ));
    }
    let config = dir.join("cameras.toml");
    std::fs::write(&config, file).unwrap();
    let pwfile = dir.join("mqtt-password");
    std::fs::write(&pwfile, format!("{SPECIAL}\n")).unwrap();
    let snapshots = dir.join("snapshots");
    let port = free_port();
    let http = format!("127.0.0.1:{port}");
    let mqtts = format!("mqtts://worker@localhost:{tls}");
    // A password on the command line is refused (every user can read it).
    let refused_cli = binary()
        .args([
            "run",
            "--config",
            config.to_str().unwrap(),
            "--duration",
            "1",
        ])
        .args([
            "--mqtt",
            &format!("mqtt://worker:{SPECIAL}@127.0.0.1:{plain}"),
        ])
        .env("RW_TEST_PW", SPECIAL)
        .output()
        .unwrap();
    assert_eq!(refused_cli.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused_cli.stderr);
    assert!(
        err.contains("--mqtt-password-file") && !err.contains("o%rd"),
        "{err}"
    );

    let worker = Worker::start(
        &[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--http",
            &http,
            "--mqtt",
            &mqtts,
            "--mqtt-ca-file",
            dir.join("ca.pem").to_str().unwrap(),
            "--mqtt-password-file",
            pwfile.to_str().unwrap(),
            "--snapshots",
            snapshots.to_str().unwrap(),
            "--snapshot-every",
            "1",
            "--events",
            "--status-every",
            "1",
        ],
        &[("RW_TEST_PW", SPECIAL), ("RUST_LOG", "trace")],
    );
    let api = Api::new(port);
    // The same password in a URL's user info over the API.
    assert!(wait_until(Duration::from_secs(60), || api.get("/readyz").0 == 200));
    let (status, body) = api.post(
        "/api/v1/streams",
        &json!({"id": "people2", "url": server.url("/people").replace("rtsp://", &format!("rtsp://alice:{SPECIAL}@"))})
            .to_string(),
    );
    assert_eq!(status, 201, "{body}");
    let large = || {
        sub.all()
            .iter()
            .any(|m| m.topic == "rtsp-worker/events" && m.payload.len() > 10 * 1024)
    };
    assert!(
        wait_until(Duration::from_secs(90), large),
        "no event over 10 KiB arrived:\n{}",
        worker.stderr()
    );
    assert!(wait_until(Duration::from_secs(30), || api
        .results("people2")
        > 0));
    // The connection held, and nothing was dropped as too large.
    let (_, scrape) = api.metrics();
    assert_eq!(
        sample(
            &scrape,
            "rtsp_worker_mqtt_messages_total",
            &[("outcome", "too_large")]
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(&scrape, "rtsp_worker_mqtt_connected", &[]),
        Some(1.0)
    );
    let biggest = sub.all().iter().map(|m| m.payload.len()).max().unwrap_or(0);
    eprintln!("mqtts: largest event {biggest} bytes");
    for path in [
        "/api/v1/streams",
        "/api/v1/stats",
        "/api/v1/streams/people2",
        "/metrics",
    ] {
        api.get(path);
    }
    std::thread::sleep(Duration::from_secs(2));
    let (code, out, err) = worker.finish(true, Duration::from_secs(30));
    assert_eq!(code, Some(0), "{err}");
    assert!(
        !err.contains("MQTT broker unreachable"),
        "the MQTT connection dropped: {err}"
    );
    // The password, anywhere: stdout, stderr at trace, HTTP, metrics, MQTT, file names.
    let mut everything = format!("{out}\n{err}\n{}", api.bodies.lock().unwrap());
    for m in sub.all() {
        everything.push_str(&m.topic);
        everything.push_str(&m.payload);
    }
    let files = walk(&snapshots);
    assert!(!files.is_empty(), "no snapshots written");
    everything.push_str(&files.join("\n"));
    for part in SPECIAL_PARTS {
        assert!(!everything.contains(part), "{part:?} found in the output");
    }
    drop(server);
}

#[test]
fn the_fleet_registry_is_untrusted() {
    let _turn = turn();
    let dir = scratch("security-registry");
    let nats_dir = dir.join("js");
    let nats = Nats::start(&nats_dir);
    let url = nats.url();
    let key = dir.join("fleet.key");
    std::fs::write(&key, format!("{}\n", "3c".repeat(32))).unwrap();
    let (trap_port, hits) = trap();
    let server = Server::start(
        &[format!("/people={}", clip("people_720p25.h264"))],
        Some(&format!("alice:{SPECIAL}")),
        None,
    );
    // What the CLI refuses to put there.
    for (what, args) in [
        ("file://", vec!["add", "f", "file:///etc/passwd"]),
        (
            "a password without the key",
            vec!["add", "p", "rtsp://alice:pw@127.0.0.1:9/x"],
        ),
    ] {
        let out = binary()
            .arg("cameras")
            .args(&args)
            .args(["--cluster", &url])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A camera with the special password, sealed.
    let add = binary()
        .args(["cameras", "add", "sealed"])
        .arg(
            server
                .url("/people")
                .replace("rtsp://", &format!("rtsp://alice:{SPECIAL}@")),
        )
        .args(["--cluster", &url, "--fleet-key-file", key.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    // A writer of the track snapshot bucket: the snapshot the sealed camera would resume
    // from claims a part far longer than it is. (The bucket made as workers make it.)
    let hostile_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    hostile_rt.block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
        let tracks = js
            .create_key_value(async_nats::jetstream::kv::Config {
                bucket: "tracks".into(),
                history: 1,
                max_age: Duration::from_secs(600),
                storage: async_nats::jetstream::stream::StorageType::File,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut forged = 0u64.to_le_bytes().to_vec(); // a lease token before any
        forged.extend_from_slice(b"RWST\x01\x00");
        forged.extend_from_slice(&[0xff; 16]);
        forged.extend_from_slice(&u64::MAX.to_le_bytes());
        tracks.put("sealed", forged.into()).await.unwrap();
    });
    let worker_log = dir.join("worker.log");
    let models = dir.join("models");
    std::fs::create_dir_all(&models).unwrap();
    let worker = binary()
        .args([
            "run",
            "--cluster",
            &url,
            "--worker-id",
            "w1",
            "--fleet-key-file",
        ])
        .arg(&key)
        .arg("--model-dir")
        .arg(&models)
        .args(["--status-every", "0"])
        .env("RUST_LOG", "trace")
        .env("RW_SECRET_VAR", "env-secret-9f2")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&worker_log).unwrap())
        .spawn()
        .unwrap();
    let mut worker = KillOnDrop(worker);
    // What a writer of the bucket puts there directly.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
        // A bucket, once the worker has made it.
        let opened = |name: &'static str| {
            let js = js.clone();
            async move {
                loop {
                    match js.get_key_value(name).await {
                        Ok(s) => break s,
                        Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                }
            }
        };
        let store = opened("cameras").await;
        let trap_url = format!("rtsp://127.0.0.1:{trap_port}/x");
        for (id, entry) in [
            (
                "envvar",
                json!({"url": trap_url, "username": "u", "password_env": "RW_SECRET_VAR"}),
            ),
            ("localfile", json!({"url": "file:///etc/passwd"})),
            (
                "clear",
                json!({"url": trap_url, "username": "u", "password": "clear-pw"}),
            ),
            (
                "forged",
                json!({"url": trap_url, "username": "alice", "password_sealed": "xc20p1:AAAA"}),
            ),
            ("traversal", json!({"url": trap_url})),
        ] {
            let key = if id == "traversal" { "a/b" } else { id };
            store.put(key, entry.to_string().into()).await.unwrap();
        }
        // The fleet's model, set to a path out of the worker's model folder.
        let settings = opened("settings").await;
        let out_of_dir = json!({"path": "../../../etc/passwd", "restart_tracks": true});
        settings
            .put("model", out_of_dir.to_string().into())
            .await
            .unwrap();
        // A sealed password moved to another host does not open.
        let sealed: Value =
            serde_json::from_slice(&store.get("sealed").await.unwrap().unwrap()).unwrap();
        let mut moved = sealed.clone();
        moved["url"] = json!(trap_url);
        store.put("moved", moved.to_string().into()).await.unwrap();
    });
    // The sealed camera runs; the others never reach the trap.
    let read = || {
        binary()
            .args(["results", "--cluster", &url, "--camera", "sealed"])
            .args(["--count", "3", "--from-start", "--idle", "5"])
            .output()
            .unwrap()
    };
    let mut results = read();
    for _ in 0..30 {
        if results.status.success() && !results.stdout.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
        results = read();
    }
    assert!(
        !results.stdout.is_empty(),
        "the sealed camera gave no results: {}",
        std::fs::read_to_string(&worker_log).unwrap_or_default()
    );
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        hits.load(Ordering::Relaxed),
        0,
        "a refused entry reached the trap"
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &worker.0.id().to_string()])
        .status();
    let _ = worker.0.wait();
    let log = std::fs::read_to_string(&worker_log).unwrap();
    for (id, says) in [
        ("envvar", "password_env"),
        ("localfile", "file://"),
        ("clear", "in clear"),
        ("forged", "sealed password"),
        ("moved", "does not open"),
        ("sealed", "track snapshot ignored"),
    ] {
        assert!(
            log.lines().any(|l| l.contains(id) && l.contains(says)),
            "{id}: no refusal saying {says:?} in the log"
        );
    }
    assert!(
        log.lines()
            .any(|l| l.contains("the fleet's model: not swapped") && l.contains("file name")),
        "no refusal of the fleet's model out of --model-dir in the log"
    );
    let mut everything = log.clone();
    everything.push_str(&String::from_utf8_lossy(&results.stdout));
    assert!(
        !everything.contains("env-secret-9f2"),
        "the environment variable leaked"
    );
    for part in SPECIAL_PARTS {
        assert!(!everything.contains(part), "{part:?} found in the output");
    }
    drop((nats, server));
}

#[test]
fn nats_over_tls_with_an_nkey() {
    let dir = scratch("security-nats-tls");
    certificates(&dir);
    let user = nkeys::KeyPair::new_user();
    let seed = user.seed().unwrap();
    let seed_file = dir.join("user.nk");
    std::fs::write(&seed_file, format!("{seed}\n")).unwrap();
    let port = free_port();
    let conf = dir.join("nats.conf");
    std::fs::write(
        &conf,
        format!(
            "listen: 127.0.0.1:{port}\njetstream {{ store_dir: \"{}\" }}\n\
             tls {{ cert_file: \"{}\", key_file: \"{}\" }}\n\
             authorization {{ users: [ {{ nkey: \"{}\" }} ] }}\n",
            dir.join("js").display(),
            dir.join("server.pem").display(),
            dir.join("server.key").display(),
            user.public_key()
        ),
    )
    .unwrap();
    let server = std::process::Command::new(
        std::env::var_os("RTSP_WORKER_NATS_SERVER").expect("run `cargo xtask setup`"),
    )
    .arg("-c")
    .arg(&conf)
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let _server = KillOnDrop(server);
    assert!(wait_until(Duration::from_secs(10), || TcpStream::connect(
        ("127.0.0.1", port)
    )
    .is_ok()));
    let ca = dir.join("ca.pem");
    let list = |url: &str, extra: &[&std::ffi::OsStr]| {
        binary()
            .args(["cameras", "list", "--cluster", url])
            .args(extra)
            .output()
            .unwrap()
    };
    let tls = format!("tls://localhost:{port}");
    let (ca_arg, nkey_arg) = (
        std::ffi::OsStr::new("--nats-ca-file"),
        std::ffi::OsStr::new("--nats-nkey"),
    );
    let ok = list(
        &tls,
        &[ca_arg, ca.as_os_str(), nkey_arg, seed_file.as_os_str()],
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    for (what, url, extra) in [
        ("no NKey", tls.clone(), vec![ca_arg, ca.as_os_str()]),
        (
            "no CA: the server's certificate is not trusted",
            tls.clone(),
            vec![nkey_arg, seed_file.as_os_str()],
        ),
        (
            "plain TCP to a TLS server without the CA",
            format!("nats://localhost:{port}"),
            vec![nkey_arg, seed_file.as_os_str()],
        ),
    ] {
        let out = list(&url, &extra);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{what}: it connected");
        assert!(!err.contains(&seed), "{what}: the seed in {err}");
    }
    let bad_seed = dir.join("bad.nk");
    std::fs::write(&bad_seed, "not-a-seed-but-secret\n").unwrap();
    let out = list(
        &tls,
        &[ca_arg, ca.as_os_str(), nkey_arg, bad_seed.as_os_str()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("but-secret"));
}
