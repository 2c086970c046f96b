//! `cargo xtask bench live`: what live views cost. The release binary's demo (the setup's
//! three clips over RTSP on loopback, the real model) runs for three phases of the same
//! length — nobody watching (the reference), one viewer of the pedestrian stream, twenty —
//! and the worker process's CPU time, its results and its JPEG encodes are read in each
//! (`/proc/<pid>/stat` and the stream statistics). Rendered into docs/BENCHMARKS.md between
//! the `live` markers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::bench::Meta;
use crate::fleet::replace_between;
use crate::{cargo, project_root, run};

/// Seconds each phase lasts.
const PHASE: u64 = 20;

/// A GET over a fresh connection; the body (the API answers with a length).
fn get(port: u16, path: &str) -> Result<String> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port))?;
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut all = String::new();
    tcp.read_to_string(&mut all)?;
    let (_, body) = all.split_once("\r\n\r\n").context("an HTTP answer")?;
    Ok(body.to_owned())
}

/// CPU seconds the process has used.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(')').context("/proc stat")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    // USER_HZ is 100 on Linux.
    Ok(ticks / 100.0)
}

/// Results of every stream; the pedestrian stream's results, encodes, pictures sent and
/// skipped.
fn counters(port: u16) -> Result<[u64; 5]> {
    let v: Value = serde_json::from_str(&get(port, "/api/v1/streams")?)?;
    let mut c = [0u64; 5];
    for s in v.as_array().context("a list of streams")? {
        let results = s["accounting"]["results"].as_u64().unwrap_or(0);
        c[0] += results;
        if s["id"] == "people" {
            c[1] = results;
            c[2] = s["live"]["encoded"].as_u64().unwrap_or(0);
            c[3] = s["live"]["sent"].as_u64().unwrap_or(0);
            c[4] = s["live"]["skipped"].as_u64().unwrap_or(0);
        }
    }
    Ok(c)
}

/// A viewer reading the live view for `secs`; the bytes it read.
fn viewer(port: u16, secs: u64) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let Ok(mut tcp) = TcpStream::connect(("127.0.0.1", port)) else {
            return 0;
        };
        let _ = write!(
            tcp,
            "GET /api/v1/streams/people/live.mjpeg HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
        );
        let _ = tcp.set_read_timeout(Some(Duration::from_millis(200)));
        let deadline = Instant::now() + Duration::from_secs(secs);
        let (mut n, mut buf) = (0, vec![0u8; 1 << 16]);
        while Instant::now() < deadline {
            match tcp.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(_) => {}
            }
        }
        n
    })
}

pub(crate) fn bench() -> Result<()> {
    let assets = crate::setup::setup()?;
    run(cargo().args([
        "build",
        "--locked",
        "--release",
        "-p",
        "rtsp-worker-cli",
        "--bin",
        "rtsp-worker",
    ]))?;
    let bin = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| project_root().join("target"), std::path::PathBuf::from)
        .join("release/rtsp-worker");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut demo = Command::new(&bin)
        .envs(assets.env())
        .args(["demo", "--duration", "600", "--status-every", "0", "--http"])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the demo")?;
    let pid = demo.id();
    let result = (|| -> Result<Vec<String>> {
        let deadline = Instant::now() + Duration::from_secs(120);
        while counters(port).map_or(true, |c| c[0] < 30) {
            if Instant::now() > deadline {
                bail!("the demo produced no results in 120 s");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let mut rows = Vec::new();
        for viewers in [0usize, 1, 20, 0] {
            let (c0, t0) = (counters(port)?, cpu_seconds(pid)?);
            let started = Instant::now();
            let readers: Vec<_> = (0..viewers).map(|_| viewer(port, PHASE)).collect();
            std::thread::sleep(Duration::from_secs(PHASE));
            let bytes: usize = readers.into_iter().map(|r| r.join().unwrap_or(0)).sum();
            let secs = started.elapsed().as_secs_f64();
            let (c1, t1) = (counters(port)?, cpu_seconds(pid)?);
            let d = |i: usize| (c1[i] - c0[i]) as f64;
            rows.push(format!(
                "| {viewers} | {:.0}% | {:.1} | {:.1} | {:.2} | {:.2} | {:.1} | {:.1} | {:.1} |",
                (t1 - t0) / secs * 100.0,
                d(0) / secs,
                d(1) / secs,
                d(2) / secs,
                d(2) / d(1).max(1.0),
                d(3) / secs,
                d(4) / secs,
                bytes as f64 / secs / 1e6,
            ));
        }
        Ok(rows)
    })();
    let _ = demo.kill();
    let _ = demo.wait();
    let rows = result?;
    let meta = Meta::now(&["live".to_owned()]);
    let md = format!(
        "{} · commit `{}` · {} · {}\n\n```sh\n{}\n```\n\n\
         The release binary's demo (three clips over RTSP on loopback, the real model on the \
         CPU) for {PHASE} s per row, the rows one after another in one run; viewers read \
         `GET /api/v1/streams/people/live.mjpeg` (uncapped) over loopback as fast as they \
         can. The last row is nobody watching again, after the viewers went. On a CPU the \
         detector takes every cycle left, so the worker's CPU stays at the machine's cores \
         and what watching costs shows as results per second lost beside the rows without \
         viewers; encodes per result is the point of the design (one, however many watch; \
         none while nobody does).\n\n\
         | viewers of the pedestrian stream | worker CPU (of one core) | results/s, 3 streams | \
         results/s, pedestrians | its JPEG encodes/s | encodes per result | pictures sent/s | \
         skipped/s | MB/s to viewers |\n\
         |---|---|---|---|---|---|---|---|---|\n{}\n",
        meta.date,
        meta.commit,
        meta.machine,
        meta.toolchain,
        meta.command,
        rows.join("\n")
    );
    replace_between(&project_root().join("docs/BENCHMARKS.md"), "live", &md)?;
    println!("{md}");
    Ok(())
}
