//! A hostile server at a camera URL cannot make a session hold more than its limits: a huge
//! `Content-Length`, endless headers, an access unit that never ends and giant interleaved
//! frames each end the attempt with [`Error::TooLarge`] (or, for frames on a channel nobody
//! set up, are dropped as they come), while the process's memory stays flat. Each prints
//! its peak memory growth (docs/SECURITY.md quotes them).

// The figures go to stderr for whoever reads the log.
#![allow(clippy::print_stderr)]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::hostile::{Attack, Hostile};
use rtsp_ingest::{Error, Event, SessionOptions, Transport};

/// This process's resident memory, in MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The growth allowed, in MiB. The attacks run one after another in one process, so each
/// measures on top of what the allocator kept from the one before (tens of MiB after the
/// endless access unit); alone, all but that one grow the process by under 4 MiB.
const BOUND: f64 = 96.0;

/// One attack at a time: each measures the process's memory.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `attack` against a session for `secs`; returns the errors it reported, the peak
/// memory growth (MiB) and the bytes the server managed to send.
async fn endure(attack: Attack, secs: u64) -> (Vec<Error>, f64, u64) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let server = Hostile::start(attack);
    let base = rss_mib();
    let mut camera = rtsp_ingest::connect(
        &server.url(),
        SessionOptions::default()
            .transport(Transport::Tcp)
            .stall_timeout(Duration::from_secs(2)),
    )
    .unwrap();
    let mut errors = Vec::new();
    let mut peak: f64 = 0.0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(100), camera.next()).await {
            Ok(Some(Event::Reconnecting { error, .. })) => errors.push(error),
            Ok(Some(Event::Ended { reason })) => panic!("ended: {reason:?}"),
            Ok(Some(_)) | Err(_) => {}
            Ok(None) => break,
        }
        peak = peak.max(rss_mib() - base);
    }
    camera.stop();
    eprintln!(
        "{attack:?}: peak growth {peak:.1} MiB, {} errors",
        errors.len()
    );
    (errors, peak, server.sent.load(Ordering::Relaxed))
}

fn too_large(errors: &[Error], what: &str) -> bool {
    errors
        .iter()
        .any(|e| matches!(e, Error::TooLarge { what: w, .. } if *w == what))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_describe_is_refused_before_it_is_read() {
    let (errors, peak, sent) = endure(Attack::HugeDescribe, 4).await;
    assert!(too_large(&errors, "RTSP message"), "{errors:?}");
    // It is refused at the head: the junk is never held.
    assert!(
        peak < BOUND,
        "memory grew by {peak:.0} MiB (the server sent {sent} bytes)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_headers_are_refused() {
    let (errors, peak, sent) = endure(Attack::EndlessHeaders, 4).await;
    assert!(too_large(&errors, "RTSP message"), "{errors:?}");
    assert!(
        peak < BOUND,
        "memory grew by {peak:.0} MiB (the server sent {sent} bytes)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_line_that_never_ends_is_refused_at_the_message_limit() {
    let (errors, peak, sent) = endure(Attack::EndlessLine, 4).await;
    assert!(too_large(&errors, "RTSP message"), "{errors:?}");
    assert!(
        peak < BOUND,
        "memory grew by {peak:.0} MiB (the server sent {sent} bytes)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_unit_that_never_ends_is_refused() {
    let (errors, peak, sent) = endure(Attack::EndlessAccessUnit, 10).await;
    assert!(too_large(&errors, "access unit"), "{errors:?}");
    assert!(sent > 16 << 20, "the server sent only {sent} bytes");
    // A session holds at most twice its access-unit limit (8 MiB), one that gave up gives its
    // buffer back even while its TEARDOWN waits; glibc keeps some freed buffers for reuse
    // (about 45 MiB here), and the total stays flat however long the attack goes on (67 MiB
    // after 20 s and after 60 s).
    assert!(
        peak < 96.0,
        "memory grew by {peak:.0} MiB (the server sent {sent} bytes)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn giant_interleaved_frames_are_not_kept() {
    let (errors, peak, sent) = endure(Attack::GiantInterleaved, 4).await;
    assert!(sent > 16 << 20, "the server sent only {sent} bytes");
    assert!(
        peak < BOUND,
        "memory grew by {peak:.0} MiB (the server sent {sent} bytes): {errors:?}"
    );
}
