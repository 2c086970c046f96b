//! Track ids a user sees on the demo's pedestrian stream, per minute: the facade on the
//! demo's pedestrian clip (replayed at its 10 fps, the detector on the CPU taking what it can, as
//! in the demo), once with the tracker settings of before issue 24 and once with today's
//! default, one after the other in the same sitting. Counts the distinct ids shown as
//! confirmed, the distinct ids shown at all, and the largest id.
//!
//! ```text
//! cargo run --release -p rtsp-worker --example ids_per_minute -- [--seconds S]
//! ```
//!
//! Needs `cargo xtask setup` (clips, model, ONNX Runtime) and its environment.

// A measuring program: it prints its result.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use testkit as common;

use std::collections::HashSet;
use std::time::Duration;

use rtsp_worker::{StreamConnectionManager, StreamOptions, TrackState, TrackerConfig};

/// The demo's pedestrian clip (OpenCV's vtest, 768x576 at 10 fps).
const CLIP: &str = "vtest_576p10.h264";

/// The default before issue 24: the recommended tracker of then, every lost track shown
/// until the tracker ends it.
fn before() -> TrackerConfig {
    TrackerConfig {
        iou_threshold: 0.3,
        quick_confirm_gap: None,
        reporting: tracker::Reporting {
            tentative: false,
            lost_frames: u32::MAX,
        },
        ..issue_11_recommended()
    }
}

/// `TrackerConfig::recommended()` as it was after issue 11: today's, without what issue 24
/// changed (IoU 0.35, tracks kept 60 frames, duplicates from IoU 0.7, quick confirmation,
/// buffered IoU, lost tracks shown 8 frames).
fn issue_11_recommended() -> TrackerConfig {
    let plain = TrackerConfig::default();
    TrackerConfig {
        iou_threshold: plain.iou_threshold,
        max_age: plain.max_age,
        duplicate_iou: Some(0.8),
        quick_confirm_gap: plain.quick_confirm_gap,
        buffer_per_frame: plain.buffer_per_frame,
        max_buffer: plain.max_buffer,
        reporting: plain.reporting,
        ..TrackerConfig::recommended()
    }
}

struct Count {
    confirmed: HashSet<u64>,
    shown: HashSet<u64>,
    results: u64,
}

async fn run(config: TrackerConfig, seconds: f64) -> Count {
    let manager = StreamConnectionManager::builder()
        .tracker(config)
        .allow_file_urls(true)
        .build()
        .await
        .expect("manager (cargo xtask setup)");
    let url = format!("file://{}", common::clip(CLIP));
    let stream = manager
        .connect_stream(&url, StreamOptions::new().id("people"))
        .await
        .expect("stream");
    let mut count = Count {
        confirmed: HashSet::new(),
        shown: HashSet::new(),
        results: 0,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(seconds);
    let mut results = Box::pin(stream.tracking_results());
    while let Ok(Some(r)) =
        tokio::time::timeout_at(deadline, futures::StreamExt::next(&mut results)).await
    {
        count.results += 1;
        for t in &r.tracked_objects {
            count.shown.insert(t.track_id);
            if t.state == TrackState::Confirmed {
                count.confirmed.insert(t.track_id);
            }
        }
    }
    manager.shutdown().await;
    count
}

#[tokio::main]
async fn main() {
    let mut seconds = 60.0;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--seconds" {
            seconds = args
                .next()
                .and_then(|v| v.parse().ok())
                .expect("--seconds S");
        }
    }
    let mut lines = Vec::new();
    for (name, config) in [
        ("before (issue 11's default)", before()),
        ("default", rtsp_worker::default_tracker()),
    ] {
        let c = run(config, seconds).await;
        let per_min = |n: usize| n as f64 * 60.0 / seconds;
        let line = format!(
            "| {name} | {} | {:.1} | {:.1} | {} |",
            c.results,
            per_min(c.confirmed.len()),
            per_min(c.shown.len()),
            c.shown.iter().max().copied().unwrap_or(0)
        );
        eprintln!("{line}");
        lines.push(line);
    }
    println!(
        "| tracker | results | confirmed ids / min | ids shown / min | largest id |\n|---|---|---|---|---|"
    );
    for l in lines {
        println!("{l}");
    }
}
