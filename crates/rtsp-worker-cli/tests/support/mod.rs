//! Support shared by the binary's integration tests: free ports, a scratch folder, Debian's
//! mosquitto and an MQTT subscriber, the binary started with its output collected, an HTTP
//! client that keeps what it read, headless Chromium, and Prometheus text parsing.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The loopback RTSP server with the pedestrian clip on `/people`.
pub(crate) fn people_server() -> testkit::Server {
    testkit::Server::start(
        &[format!("/people={}", testkit::clip("people_720p25.h264"))],
        None,
        None,
    )
}

/// A named pipe at `path` (a local file that never ends when read).
pub(crate) fn mkfifo(path: &Path) {
    let made = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(made.success(), "mkfifo {}", path.display());
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    f()
}

/// Waits up to 10 s for a server (`what`) to listen on the loopback `port`.
pub(crate) fn listening(port: u16, what: &str) {
    assert!(
        wait_until(Duration::from_secs(10), || TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "{what} did not listen on {port}"
    );
}

pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Debian's mosquitto on a free loopback port; killed when dropped.
pub(crate) struct Broker {
    pub(crate) child: Child,
    pub(crate) port: u16,
}

impl Broker {
    pub(crate) fn start() -> Self {
        Self::start_on(free_port())
    }

    pub(crate) fn start_on(port: u16) -> Self {
        let child = Command::new("mosquitto")
            .args(["-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto (Debian's `mosquitto`; run `cargo xtask setup`)");
        Self::wait(child, port)
    }

    /// mosquitto with a config file (`port` is one of its listeners, waited for).
    pub(crate) fn start_with_config(config: &Path, port: u16) -> Self {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto (Debian's `mosquitto`; run `cargo xtask setup`)");
        Self::wait(child, port)
    }

    fn wait(child: Child, port: u16) -> Self {
        listening(port, "mosquitto");
        Self { child, port }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub(crate) topic: String,
    pub(crate) payload: String,
}

/// Every message on `#`, read by rumqttc on a thread of its own.
pub(crate) struct Subscriber {
    pub(crate) messages: Arc<Mutex<Vec<Message>>>,
}

impl Subscriber {
    pub(crate) fn start(port: u16) -> Self {
        let messages = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let m = messages.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
                let mut options = MqttOptions::new("operate-test", "127.0.0.1", port);
                // Events of many zones are larger than rumqttc's 10 KiB default.
                options.set_max_packet_size(1 << 20, 1 << 20);
                let (client, mut eventloop) = AsyncClient::new(options, 64);
                client.subscribe("#", QoS::AtLeastOnce).await.unwrap();
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Packet::SubAck(_))) => {
                            let _ = ready_tx.send(());
                        }
                        Ok(Event::Incoming(Packet::Publish(p))) => {
                            m.lock().unwrap().push(Message {
                                topic: p.topic.clone(),
                                payload: String::from_utf8_lossy(&p.payload).into_owned(),
                            });
                        }
                        Ok(_) => {}
                        Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                }
            });
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("subscribed to the broker");
        Self { messages }
    }

    pub(crate) fn all(&self) -> Vec<Message> {
        self.messages.lock().unwrap().clone()
    }

    pub(crate) fn on(&self, topic: &str) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|m| m.topic == topic)
            .map(|m| m.payload)
            .collect()
    }
}

/// The binary, its output collected as it comes.
pub(crate) struct Worker {
    pub(crate) child: Child,
    pub(crate) stdout: Arc<Mutex<String>>,
    pub(crate) stderr: Arc<Mutex<String>>,
}

pub(crate) fn collect(mut from: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let t = text.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            t.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    text
}

impl Worker {
    pub(crate) fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rtsp-worker"))
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        Self {
            child,
            stdout,
            stderr,
        }
    }

    pub(crate) fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name}");
    }

    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for the exit (SIGTERM first unless it ends by itself); returns the code, stdout
    /// and stderr.
    pub(crate) fn finish(
        mut self,
        terminate: bool,
        limit: Duration,
    ) -> (Option<i32>, String, String) {
        if terminate {
            self.signal("TERM");
        }
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the worker did not stop:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        // The readers finish with the pipes.
        std::thread::sleep(Duration::from_millis(300));
        (
            status.code(),
            self.stdout.lock().unwrap().clone(),
            self.stderr(),
        )
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The names of its threads (`/proc/PID/task/*/comm`).
    pub(crate) fn threads(&self) -> Vec<String> {
        let dir = format!("/proc/{}/task", self.child.id());
        std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
                    .map(|s| s.trim().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A stream's id from the message's JSON.
pub(crate) fn json(payload: &str) -> Value {
    serde_json::from_str(payload).unwrap_or_else(|e| panic!("{e}: {payload}"))
}

/// A test that fails midway leaves no worker running.
impl Drop for Worker {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// An HTTP client that keeps every body it reads (for the password scan).
pub(crate) struct Api {
    pub(crate) base: String,
    pub(crate) agent: ureq::Agent,
    pub(crate) bodies: Mutex<String>,
}

impl Api {
    pub(crate) fn new(port: u16) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Self {
            base: format!("http://127.0.0.1:{port}"),
            agent,
            bodies: Mutex::new(String::new()),
        }
    }

    /// Status and body; status 0 when there was no answer (not listening yet).
    pub(crate) fn keep(
        &self,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> (u16, String) {
        let mut r = match r {
            Ok(r) => r,
            Err(e) => return (0, e.to_string()),
        };
        let status = r.status().as_u16();
        let body = r.body_mut().read_to_string().unwrap_or_default();
        let mut all = self.bodies.lock().unwrap();
        all.push_str(&body);
        all.push('\n');
        (status, body)
    }

    pub(crate) fn get(&self, path: &str) -> (u16, String) {
        self.keep(self.agent.get(format!("{}{path}", self.base)).call())
    }

    /// `/metrics` as text and parsed.
    pub(crate) fn metrics(&self) -> (String, prometheus_parse::Scrape) {
        let (_, text) = self.get("/metrics");
        let scrape = parse_metrics(&text);
        (text, scrape)
    }

    pub(crate) fn get_bytes(&self, path: &str) -> (u16, String, Vec<u8>) {
        let mut r = self
            .agent
            .get(format!("{}{path}", self.base))
            .call()
            .unwrap();
        let kind = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        (
            r.status().as_u16(),
            kind,
            r.body_mut().read_to_vec().unwrap(),
        )
    }

    pub(crate) fn post(&self, path: &str, body: &str) -> (u16, String) {
        self.keep(
            self.agent
                .post(format!("{}{path}", self.base))
                .header("content-type", "application/json")
                .send(body),
        )
    }

    pub(crate) fn delete(&self, path: &str) -> (u16, String) {
        self.keep(self.agent.delete(format!("{}{path}", self.base)).call())
    }

    pub(crate) fn put_json(&self, path: &str, body: &str) -> (u16, String) {
        self.keep(
            self.agent
                .put(format!("{}{path}", self.base))
                .header("content-type", "application/json")
                .send(body),
        )
    }

    pub(crate) fn put(&self, path: &str) -> (u16, String) {
        self.keep(self.agent.put(format!("{}{path}", self.base)).send_empty())
    }

    pub(crate) fn stream(&self, id: &str) -> Option<Value> {
        let (status, body) = self.get(&format!("/api/v1/streams/{id}"));
        (status == 200).then(|| json(&body))
    }

    pub(crate) fn results(&self, id: &str) -> u64 {
        self.stream(id)
            .and_then(|s| s["accounting"]["results"].as_u64())
            .unwrap_or(0)
    }
}

/// Asserts an error answer: the status, a JSON body with `error` and `kind`.
pub(crate) fn refused(answer: (u16, String), status: u16, what: &str) -> Value {
    assert_eq!(answer.0, status, "{what}: {}", answer.1);
    let v = json(&answer.1);
    assert!(
        v["error"].is_string() && v["kind"].is_string(),
        "{what}: {v}"
    );
    v
}

pub(crate) fn chromium(args: &[&str], url: &str, dir: &Path) -> std::process::Output {
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--window-size=1280,720",
            "--virtual-time-budget=4000",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.join("chromium").display()
        ))
        .args(args)
        .arg(url)
        .output()
        .expect("start chromium (Debian's `chromium`; run `cargo xtask setup`)")
}

pub(crate) fn parse_metrics(text: &str) -> prometheus_parse::Scrape {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    prometheus_parse::Scrape::parse(lines).expect("Prometheus text")
}

/// A counter's or gauge's value.
pub(crate) fn sample(
    scrape: &prometheus_parse::Scrape,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .and_then(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => Some(*v),
            _ => None,
        })
}

/// Every file under a folder, as paths.
pub(crate) fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

/// What Linux says of a process: resident memory (MiB), open files, threads.
pub(crate) fn proc_usage(pid: u32) -> (f64, usize, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    (field("VmRSS:") / 1024.0, fds, field("Threads:") as usize)
}

/// One raw HTTP/1.1 exchange (the request as written, `Connection: close` added): the
/// status and the body. Status 0 when nothing came back.
pub(crate) fn raw(port: u16, request: &str) -> (u16, String) {
    use std::io::Write;
    let Ok(mut tcp) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
    let request = request.replacen("\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1);
    if tcp.write_all(request.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// `GET /readyz` on a fresh connection every 100 ms, as an orchestrator's probe would, for
/// as long as it runs: the slowest answer and the failures.
pub(crate) struct Prober {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<(Duration, Vec<String>, usize)>>,
}

impl Prober {
    pub(crate) fn start(port: u16) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut slowest, mut failures, mut n) = (Duration::ZERO, Vec::new(), 0);
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                let t = Instant::now();
                let (status, body) = raw(port, "GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
                let took = t.elapsed();
                slowest = slowest.max(took);
                n += 1;
                if status != 200 || took > Duration::from_secs(1) {
                    failures.push(format!("{status} after {took:?}: {body}"));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            (slowest, failures, n)
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops; panics unless every probe answered ready within a second.
    pub(crate) fn finish(mut self, what: &str) -> Duration {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (slowest, failures, n) = self.thread.take().unwrap().join().unwrap();
        assert!(n > 0, "{what}: no probe ran");
        assert!(
            failures.is_empty(),
            "{what}: {} of {n} probes failed: {failures:?}",
            failures.len()
        );
        slowest
    }
}

/// Whether a stream's final statistics balance: every frame received is a result, a
/// counted drop or still in the pipeline.
pub(crate) fn balanced(stats: &Value) -> bool {
    let a = &stats["accounting"];
    let dropped: u64 = a["dropped"]
        .as_object()
        .map_or(0, |d| d.values().filter_map(Value::as_u64).sum());
    a["received"].as_u64()
        == Some(
            a["results"].as_u64().unwrap_or(0) + dropped + a["in_pipeline"].as_u64().unwrap_or(0),
        )
}

/// A self-signed CA and a certificate for `localhost` / 127.0.0.1 signed by it (openssl).
pub(crate) fn certificates(dir: &Path) {
    let sh = |cmd: &str| {
        let ok = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            ok.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
    };
    sh(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca -keyout ca.key -out ca.pem",
    );
    sh(
        "openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key -out server.csr",
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    sh(
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out server.pem",
    );
    // mosquitto started as root reads its files as its own user.
    sh("chmod 644 server.key server.pem ca.pem");
}

/// The webhook receiver (`testkit/webhook_receiver.py`, Python's own HTTP server) on a
/// loopback port, logging every request as a JSON line; killed when dropped.
pub(crate) struct Receiver {
    child: Child,
    pub(crate) port: u16,
    log: PathBuf,
}

impl Receiver {
    /// `mode`: `ok`, `fail` (500) or `slow`; `tls`: the certificate and key to serve with.
    pub(crate) fn start(
        port: u16,
        log: &Path,
        secret: &Path,
        mode: &str,
        tls: Option<(&Path, &Path)>,
    ) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testkit/webhook_receiver.py");
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(script)
            .args([
                "--port",
                &port.to_string(),
                "--mode",
                mode,
                "--delay",
                "0.5",
            ])
            .arg("--log")
            .arg(log)
            .arg("--secret-file")
            .arg(secret)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some((cert, key)) = tls {
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        let child = cmd
            .spawn()
            .expect("start the webhook receiver (/usr/bin/python3)");
        listening(port, "the webhook receiver");
        Self {
            child,
            port,
            log: log.to_owned(),
        }
    }

    /// Answers from now on as `mode` says (plain HTTP receivers only).
    pub(crate) fn mode(&self, mode: &str) {
        let answer = ureq::post(&format!("http://127.0.0.1:{}/_mode", self.port)).send(mode);
        assert!(answer.is_ok(), "setting the receiver's mode: {answer:?}");
    }

    /// Every request so far, as logged.
    pub(crate) fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian's ChromeDriver driving headless Chromium (WebDriver over HTTP): the page's own
/// JavaScript runs, and clicks land where a user's would.
pub(crate) struct Browser {
    driver: Child,
    base: String,
    agent: ureq::Agent,
    _dir: PathBuf,
}

/// WebDriver's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    pub(crate) fn start(dir: &Path) -> Self {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver (Debian's `chromium-driver`; run `cargo xtask setup`)");
        listening(port, "chromedriver");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let profile = dir.join("chromium-webdriver");
        let caps = serde_json::json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                    "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        }}});
        let mut r = agent
            .post(format!("http://127.0.0.1:{port}/session"))
            .send_json(&caps)
            .expect("a WebDriver session");
        let v: Value = r.body_mut().read_json().unwrap();
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_owned();
        Self {
            driver,
            base: format!("http://127.0.0.1:{port}/session/{session}"),
            agent,
            _dir: dir.to_owned(),
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let r = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            (_, Some(b)) => self.agent.post(&url).send_json(&b),
            (_, None) => self.agent.post(&url).send_json(serde_json::json!({})),
        };
        let mut r = r.unwrap_or_else(|e| panic!("WebDriver {path}: {e}"));
        let v: Value = r.body_mut().read_json().unwrap();
        assert!(v["value"]["error"].is_null(), "WebDriver {path}: {v}");
        v["value"].clone()
    }

    pub(crate) fn open(&self, url: &str) {
        self.call("POST", "/url", Some(serde_json::json!({"url": url})));
    }

    /// Runs `script` (a function body) in the page; what it returns.
    pub(crate) fn eval(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(serde_json::json!({"script": script, "args": []})),
        )
    }

    pub(crate) fn element(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            "/element",
            Some(serde_json::json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("{css}: {v}"))
            .to_owned()
    }

    pub(crate) fn click(&self, css: &str) {
        let e = self.element(css);
        self.call("POST", &format!("/element/{e}/click"), None);
    }

    pub(crate) fn type_into(&self, css: &str, text: &str) {
        let e = self.element(css);
        self.call(
            "POST",
            &format!("/element/{e}/value"),
            Some(serde_json::json!({"text": text})),
        );
    }

    /// A mouse click at `(dx, dy)` pixels from the centre of the element `css`.
    pub(crate) fn click_at(&self, css: &str, dx: i64, dy: i64) {
        let e = self.element(css);
        let actions = serde_json::json!({"actions": [{
            "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
            "actions": [
                {"type": "pointerMove", "origin": {ELEMENT: e}, "x": dx, "y": dy},
                {"type": "pointerDown", "button": 0},
                {"type": "pointerUp", "button": 0},
            ],
        }]});
        self.call("POST", "/actions", Some(actions));
    }

    /// A PNG of the window.
    pub(crate) fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let v = self.call("GET", "/screenshot", None);
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.agent.delete(&self.base).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
