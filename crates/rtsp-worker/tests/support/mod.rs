//! Test support: the loopback RTSP server and clips (rtsp-ingest's test support), a manager
//! on the provisioned model, and helpers to collect a stream's output.

#![allow(dead_code)] // each test binary uses a different part of this module

pub(crate) use testkit as common;
pub(crate) mod proxy;

use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};

use rtsp_worker::{ManagerBuilder, StreamConnection, StreamEvent, TrackingResult};

pub(crate) use common::{Server, clip};

/// The tests share two cores with the model: one heavy test at a time in a binary.
static HEAVY: Mutex<()> = Mutex::const_new(());

pub(crate) async fn one_at_a_time() -> MutexGuard<'static, ()> {
    HEAVY.lock().await
}

/// A builder on the CPU with the provisioned model (the setup's dynamic-batch YOLOv12n).
pub(crate) fn builder() -> ManagerBuilder {
    let model = rtsp_worker::default_model_path();
    assert!(
        model.is_file(),
        "{} missing: run `cargo xtask setup`",
        model.display()
    );
    rtsp_worker::StreamConnectionManager::builder()
}

/// The pedestrian clip (OpenCV's vtest, 768x576 at 10 fps) and the moving boxes (720p25).
pub(crate) fn pedestrians() -> String {
    format!("/people={}@10", clip("vtest_576p10.h264"))
}

pub(crate) fn boxes() -> String {
    format!("/boxes={}", clip("boxes_720p25.h264"))
}

/// Everything a stream emits for `window`, results and events.
pub(crate) async fn collect(conn: &StreamConnection, window: Duration) -> Vec<StreamEvent> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + window;
    // (`timeout_at` returns a ready event even past its deadline: check the clock.)
    while tokio::time::Instant::now() < deadline {
        match tokio::time::timeout_at(deadline, conn.next_event()).await {
            Ok(Some(e)) => out.push(e),
            _ => break,
        }
    }
    out
}

pub(crate) fn results(events: &[StreamEvent]) -> Vec<&TrackingResult> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Result(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// The detector found people on the pedestrian clip: at least one person per result, on
/// average (`what` names the stream or setting in the failure).
pub(crate) fn at_least_a_person_per_result(rs: &[&TrackingResult], what: &str) {
    let persons = rs
        .iter()
        .flat_map(|r| &r.detections)
        .filter(|d| d.class_name == "person")
        .count();
    assert!(
        persons >= rs.len(),
        "{what}: {persons} persons in {} results",
        rs.len()
    );
}

/// Writes a test's figures as JSON under `target/tmp/reliability/` (for `cargo xtask soak`,
/// which renders them into docs/RELIABILITY.md) and prints them.
// Printing the figures is the point (they show with `--nocapture`).
#[allow(clippy::print_stdout)]
pub(crate) fn record(name: &str, figures: &serde_json::Value) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("reliability");
    std::fs::create_dir_all(&dir).unwrap();
    let text = serde_json::to_string_pretty(figures).unwrap();
    std::fs::write(dir.join(format!("{name}.json")), &text).unwrap();
    println!("reliability {name}: {text}");
}
