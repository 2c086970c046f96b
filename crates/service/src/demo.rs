//! The demo's cameras (`rtsp-worker demo`): the setup's sample clips served over RTSP on
//! loopback by GStreamer's server (the same script the tests use, built into the binary), a
//! zone and a counting line on the pedestrians, and the demo's loopback-only HTTP address.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use rtsp_worker::zones::{Line, Scene, Zone};

use crate::config::Camera;
use crate::{Error, http};

/// Starts the demo's cameras: the sample clips (from `cargo xtask setup`) served over RTSP on
/// loopback, and the cameras that watch them (the pedestrians with a zone and a line).
pub fn start() -> Result<(Server, Vec<Camera>), Error> {
    let dir = clips();
    let mut mounts = Vec::new();
    for (id, clip, fps) in STREAMS {
        let path = dir.join(clip);
        if !path.is_file() {
            return Err(Error::provision(format!(
                "sample clip {} missing: run `cargo xtask setup`",
                path.display()
            )));
        }
        mounts.push(format!("/{id}={}@{fps}", path.display()));
    }
    let server = start_server(&mounts)?;
    let cameras = STREAMS
        .iter()
        .map(|(id, _, _)| Camera {
            id: (*id).to_owned(),
            url: format!("rtsp://127.0.0.1:{}/{id}", server.port),
            credentials: None,
            transport: None,
            scene: if *id == "people" {
                people_scene()
            } else {
                Scene::default()
            },
            first_track_id: 0,
            lease_token: None,
            detect_fps: None,
            resume_tracks: None,
            webhooks: Vec::new(),
        })
        .collect();
    Ok((server, cameras))
}

/// The loopback RTSP server script (also run by the tests).
const SERVER: &str = include_str!("../../testkit/rtsp_server.py");

/// The streams: (id, clip, frame rate).
pub const STREAMS: [(&str, &str, u32); 3] = [
    ("people", "vtest_576p10.h264", 10),
    ("boxes", "boxes_720p25.h264", 25),
    ("pattern", "h265_720p25.h265", 25),
];

/// The clips folder `cargo xtask setup` fills.
fn clips() -> PathBuf {
    match std::env::var_os("RTSP_WORKER_CLIPS").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => rtsp_worker::cache_dir().join("clips"),
    }
}

/// The server, killed (and its script removed) when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    script: PathBuf,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.script);
    }
}

fn start_server(mounts: &[String]) -> Result<Server, Error> {
    let script = std::env::temp_dir().join(format!("rtsp-worker-demo-{}.py", std::process::id()));
    std::fs::write(&script, SERVER)
        .map_err(|e| Error::unexpected(format!("writing {}: {e}", script.display())))?;
    let mut child = Command::new("/usr/bin/python3")
        .arg(&script)
        .args(mounts)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| {
            Error::provision(format!(
                "cannot start the loopback RTSP server (/usr/bin/python3 with GStreamer's \
                     RTSP server; run `cargo xtask setup`): {e}"
            ))
        })?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    let port = line
        .trim()
        .strip_prefix("READY ")
        .and_then(|p| p.parse().ok());
    match port {
        Some(port) => Ok(Server {
            child,
            script,
            port,
        }),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(&script);
            Err(Error::provision(format!(
                "the loopback RTSP server did not start (got {line:?}); run `cargo xtask \
                     setup` for GStreamer's RTSP server"
            )))
        }
    }
}

/// The demo's zones and lines, on the pedestrian clip (768x576): a counting line across the
/// middle and the lower right quarter as a zone, to show them on the status page.
fn people_scene() -> Scene {
    Scene {
        zones: vec![Zone::new(
            "lower right",
            vec![
                (384.0, 288.0),
                (768.0, 288.0),
                (768.0, 576.0),
                (384.0, 576.0),
            ],
        )],
        lines: vec![Line::new("middle", (384.0, 0.0), (384.0, 576.0))],
    }
}

/// Binds the demo's HTTP address (loopback only: the demo has no token), or any free port
/// on loopback if it is taken.
pub fn bind(addr: &str) -> Result<std::net::TcpListener, Error> {
    let addr = http::parse_addr(addr).map_err(Error::usage)?;
    if !addr.ip().is_loopback() {
        return Err(Error::usage(format!(
            "--http {addr}: the demo serves on loopback only (it has no token)"
        )));
    }
    match http::bind(addr) {
        Ok(l) => Ok(l),
        Err(first) => http::bind((std::net::Ipv4Addr::LOCALHOST, 0).into())
            .map_err(|m| Error::unexpected(format!("{first}; {m}"))),
    }
}
