//! Test support: the cached clips and a real RTSP server (GStreamer's, on loopback) started
//! and stopped by process id.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rtsp_ingest::{AccessUnit, Camera, Event};

pub(crate) mod hostile;

/// The folder `cargo xtask setup` fills with test clips.
pub(crate) fn clips() -> PathBuf {
    let dir = match std::env::var_os("RTSP_WORKER_CLIPS") {
        Some(d) => PathBuf::from(d),
        None => {
            let home = std::env::var_os("HOME").expect("HOME is set");
            PathBuf::from(home).join(".cache/rtsp-worker/clips")
        }
    };
    assert!(
        dir.join("RECIPE").is_file(),
        "test clips missing in {}: run `cargo xtask setup` (or `cargo xtask test`)",
        dir.display()
    );
    dir
}

pub(crate) fn clip(name: &str) -> String {
    clips().join(name).to_str().expect("UTF-8 path").to_owned()
}

/// A running `tests/rtsp_server.py`; killed when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) port: u16,
}

impl Server {
    /// Starts a server with `mounts` (`"/path=FILE"`) on a free port, or on `port`.
    pub(crate) fn start(mounts: &[String], auth: Option<&str>, port: Option<u16>) -> Server {
        let auth: Vec<&str> = auth.map(|a| vec!["--auth", a]).unwrap_or_default();
        Self::start_with(mounts, &auth, port)
    }

    /// Like [`start`](Self::start), with more of the script's options (`--auth U:P`,
    /// `--protocols tcp|udp`).
    pub(crate) fn start_with(mounts: &[String], options: &[&str], port: Option<u16>) -> Server {
        // This module is shared with other crates' tests (by `#[path]`): find the script from
        // whichever package is running.
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let script = [
            manifest.join("tests/rtsp_server.py"),
            manifest.join("../rtsp-ingest/tests/rtsp_server.py"),
        ]
        .into_iter()
        .find(|p| p.is_file())
        .expect("rtsp-ingest/tests/rtsp_server.py");
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(script)
            .args(["--port", &port.unwrap_or(0).to_string()])
            .args(options);
        let mut child = cmd
            .args(mounts)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start /usr/bin/python3 tests/rtsp_server.py (run `cargo xtask setup`)");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        let port = line
            .trim()
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("RTSP test server did not start: {line:?}")
            });
        Server { child, port }
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn url(&self, mount: &str) -> String {
        format!("rtsp://127.0.0.1:{}{mount}", self.port)
    }

    /// Kills the server (SIGKILL: no goodbye to the clients).
    pub(crate) fn kill(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The next event, or a panic naming what was awaited.
pub(crate) async fn next(camera: &mut Camera, within: Duration, what: &str) -> Event {
    match tokio::time::timeout(within, camera.next()).await {
        Ok(Some(e)) => e,
        Ok(None) => panic!("stream ended while waiting for {what}"),
        Err(_) => panic!(
            "no event within {within:?} while waiting for {what}; stats: {:?}",
            camera.stats()
        ),
    }
}

/// Skips events until `pred` matches one; returns it.
pub(crate) async fn until(
    camera: &mut Camera,
    within: Duration,
    what: &str,
    pred: impl Fn(&Event) -> bool,
) -> Event {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let e = next(camera, left, what).await;
        if pred(&e) {
            return e;
        }
    }
}

/// Collects `n` access units, skipping lifecycle events.
pub(crate) async fn frames(camera: &mut Camera, n: usize) -> Vec<AccessUnit> {
    let mut out = Vec::new();
    while out.len() < n {
        if let Event::Frame(au) = next(camera, Duration::from_secs(10), "a frame").await {
            out.push(au);
        }
    }
    out
}
