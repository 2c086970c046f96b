//! Ingest throughput on a recorded capture, and memory per idle session.
//!
//! A capture is recorded once (into `target/bench/`) by proxying a real session against the
//! GStreamer test server: everything the server sent, RTSP responses and interleaved RTP/RTCP.
//! The benchmark then serves those bytes from a loopback mock server as fast as TCP goes and
//! times `rtsp_ingest::connect` receiving every access unit (retina's depacketizer plus this
//! crate's framing, queue and stats), all on one thread. The goal: at least 10x real time
//! for 100 1080p25 streams, i.e. 25 000 frames/s on one core.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use rtsp_ingest::{Event, SessionOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const FRAMES: usize = 250;

fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    dir
}

/// Records what the server sends during a session of `FRAMES` access units.
fn capture(clip: &str) -> Vec<u8> {
    let path = out_dir().join(format!("capture_{clip}.rtsp"));
    if let Ok(bytes) = std::fs::read(&path) {
        return bytes;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bytes = rt.block_on(async {
        let server = common::Server::start(&[format!("/cam={}", common::clip(clip))], None, None);
        let upstream = format!("127.0.0.1:{}", server.port);
        let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = proxy.local_addr().unwrap().port();
        let recorder = tokio::spawn(async move {
            let (mut client, _) = proxy.accept().await.unwrap();
            let mut server = TcpStream::connect(upstream).await.unwrap();
            let (mut cr, mut cw) = client.split();
            let (mut sr, mut sw) = server.split();
            let mut recorded = Vec::new();
            let up = async { tokio::io::copy(&mut cr, &mut sw).await };
            let down = async {
                let mut buf = vec![0u8; 65536];
                loop {
                    match sr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            recorded.extend_from_slice(&buf[..n]);
                            if cw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            };
            tokio::select! { _ = up => {}, () = down => {} }
            recorded
        });
        let mut cam = rtsp_ingest::connect(
            &format!("rtsp://127.0.0.1:{port}/cam"),
            SessionOptions::default(),
        )
        .unwrap();
        let mut n = 0;
        while n < FRAMES {
            if let Some(Event::Frame(_)) = cam.next().await {
                n += 1;
            }
        }
        drop(cam);
        recorded_after(recorder).await
    });
    std::fs::write(&path, &bytes).unwrap();
    bytes
}

async fn recorded_after(recorder: tokio::task::JoinHandle<Vec<u8>>) -> Vec<u8> {
    tokio::time::timeout(Duration::from_secs(10), recorder)
        .await
        .expect("recorder ends when the client goes")
        .unwrap()
}

/// Where the interleaved data starts: after the DESCRIBE, SETUP and PLAY responses.
fn handshake_len(capture: &[u8]) -> usize {
    let mut pos = 0;
    for _ in 0..3 {
        let head_end = capture[pos..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("an RTSP response")
            + pos
            + 4;
        let head = String::from_utf8_lossy(&capture[pos..head_end]).to_lowercase();
        let body = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse::<usize>().unwrap());
        pos = head_end + body;
    }
    pos
}

/// Serves `bytes` to every connection; with `hold`, keeps the connection open afterwards.
async fn mock_server(bytes: Vec<u8>, hold: bool) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let bytes = bytes::Bytes::from(bytes);
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let bytes = bytes.clone();
            tokio::spawn(async move {
                let _ = conn.write_all(&bytes).await;
                if hold {
                    let mut sink = [0u8; 1024];
                    while let Ok(n) = conn.read(&mut sink).await {
                        if n == 0 {
                            break;
                        }
                    }
                }
            });
        }
    });
    port
}

fn throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("ingest/recorded_capture");
    for clip in ["h264_1080p25.h264", "h265_1080p25.h265"] {
        let bytes = capture(clip);
        g.throughput(Throughput::Elements((FRAMES - 10) as u64));
        g.bench_with_input(BenchmarkId::from_parameter(clip), &bytes, |b, bytes| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let port = rt.block_on(mock_server(bytes.clone(), false));
            let url = format!("rtsp://127.0.0.1:{port}/cam");
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let mut cam = rtsp_ingest::connect(
                            &url,
                            SessionOptions::default().queue_frames(FRAMES * 2),
                        )
                        .unwrap();
                        let mut n = 0;
                        while n < FRAMES - 10 {
                            match cam.next().await {
                                Some(Event::Frame(_)) => n += 1,
                                Some(Event::Reconnecting { .. }) => break,
                                _ => {}
                            }
                        }
                    }
                    start.elapsed()
                })
            });
        });
    }
    g.finish();
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Resident memory per connected, idle session (handshake done, no frames).
fn idle_memory() -> String {
    let bytes = capture("h264_1080p25.h264");
    let handshake = bytes[..handshake_len(&bytes)].to_vec();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let port = mock_server(handshake, true).await;
        let url = format!("rtsp://127.0.0.1:{port}/cam");
        let n = 200;
        let opts = SessionOptions::default().stall_timeout(Duration::from_secs(3600));
        // Warm up allocator pools with a few sessions first.
        let warm: Vec<_> = (0..10).map(|_| rtsp_ingest::connect(&url, opts.clone()).unwrap()).collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = rss_bytes();
        let cams: Vec<_> = (0..n).map(|_| rtsp_ingest::connect(&url, opts.clone()).unwrap()).collect();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let after = rss_bytes();
        let per = (after.saturating_sub(before)) as f64 / f64::from(n);
        drop((warm, cams));
        let line = format!(
            "{{\"idle_sessions\":{n},\"rss_before\":{before},\"rss_after\":{after},\"bytes_per_session\":{per:.0}}}"
        );
        std::fs::write(out_dir().join("rtsp_ingest_idle_memory.json"), format!("{line}\n")).unwrap();
        line
    })
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    throughput(&mut c);
    c.final_summary();
    // Only under `cargo bench` (criterion is also run in test mode by `cargo test --benches`).
    if std::env::args().any(|a| a == "--bench") {
        #[allow(clippy::print_stdout)] // a bench reports on the terminal
        {
            println!("ingest/idle_memory: {}", idle_memory());
        }
    }
}
