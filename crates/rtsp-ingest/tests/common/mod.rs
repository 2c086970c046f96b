//! Test support of this crate's tests and benches: the workspace's (`testkit`: the cached
//! clips, the loopback RTSP server, the hostile one) and waiting for a camera's events.

#![allow(dead_code, unused_imports)] // each test binary uses a different part of this module

use std::time::Duration;

use rtsp_ingest::{AccessUnit, Camera, Event};

pub(crate) use testkit::{Server, clip, clips, hostile};

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
