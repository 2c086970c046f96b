//! The cached clips and a real RTSP server (GStreamer's, on loopback) started and stopped
//! by process id.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The folder `cargo xtask setup` fills with test clips.
pub fn clips() -> PathBuf {
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

/// A clip's path in [`clips`], as text (what a `file://` URL or a server mount takes).
pub fn clip(name: &str) -> String {
    clips().join(name).to_str().expect("UTF-8 path").to_owned()
}

/// A running `rtsp_server.py`; killed when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// The port it listens on (loopback).
    pub port: u16,
}

impl Server {
    /// Starts a server with `mounts` (`"/path=FILE"`) on a free port, or on `port`.
    pub fn start(mounts: &[String], auth: Option<&str>, port: Option<u16>) -> Server {
        let auth: Vec<&str> = auth.map(|a| vec!["--auth", a]).unwrap_or_default();
        Self::start_with(mounts, &auth, port)
    }

    /// Like [`start`](Self::start), with more of the script's options (`--auth U:P`,
    /// `--protocols tcp|udp`).
    pub fn start_with(mounts: &[String], options: &[&str], port: Option<u16>) -> Server {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rtsp_server.py");
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
            .expect(
                "start /usr/bin/python3 crates/testkit/rtsp_server.py (run `cargo xtask setup`)",
            );
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
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The URL of a mount (`"/cam"`).
    pub fn url(&self, mount: &str) -> String {
        format!("rtsp://127.0.0.1:{}{mount}", self.port)
    }

    /// Kills the server (SIGKILL: no goodbye to the clients).
    pub fn kill(mut self) -> u16 {
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
