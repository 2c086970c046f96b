//! Track ids across a handover, measured against an uninterrupted run (issue 27). A loopback
//! camera (`--shared`: every client sees the one scene as it goes on) shows the pedestrian
//! clip; a reference connection watches it the whole time, while a second connection is
//! handed over again and again, as a fleet moves a camera between workers:
//!
//! - **graceful**: the snapshot taken at the stop, the new connection 0.5 s later (the
//!   fleet's graceful handovers took 30–550 ms);
//! - **crash**: the last periodic snapshot (1 s old) when the connection is killed, the new
//!   one 3 s later (the fleet's takeovers after SIGKILL took 2.2–3.0 s).
//!
//! For each confirmed track shown just before the handover, the reference connection says
//! which person it is (the box it has there, IoU ≥ 0.3, its result at most 250 ms away); once the new connection shows that
//! person again (within 5 s, while the reference still follows it under one id), the id is
//! kept if it is the old one. An id shown after the handover for another person than before
//! counts as a swap.
//!
//! ```text
//! cargo run --release -p rtsp-worker --example handover -- [--handovers N]
//! ```
//!
//! Needs `cargo xtask setup` (clips, model, ONNX Runtime) and its environment.

// A measuring program: it prints its result.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtsp_worker::{StreamConnection, StreamConnectionManager, StreamOptions, TrackState};

/// What a result showed: when the frame was captured (this process's clock) and the
/// confirmed tracks.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    tracks: Vec<(u64, [f32; 4])>,
}

type Log = Arc<Mutex<Vec<Seen>>>;

fn watch(conn: StreamConnection) -> Log {
    let log: Log = Arc::default();
    let mine = log.clone();
    tokio::spawn(async move {
        while let Some(e) = conn.next_event().await {
            if let rtsp_worker::StreamEvent::Result(r) = e {
                let tracks = r
                    .tracked_objects
                    .iter()
                    .filter(|t| t.state == TrackState::Confirmed && t.class_name == "person")
                    .map(|t| (t.track_id, t.bbox))
                    .collect();
                mine.lock().unwrap().push(Seen {
                    at: r.captured_at,
                    tracks,
                });
            }
        }
    });
    log
}

fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// The reference's result closest in capture time to `at` (within 250 ms: the connections
/// share the detector, so they get their pictures detected at different times; people move a
/// few pixels in that time).
fn reference_at(reference: &[Seen], at: Instant) -> Option<&Seen> {
    reference
        .iter()
        .filter(|s| {
            let d = if s.at > at { s.at - at } else { at - s.at };
            d < Duration::from_millis(250)
        })
        .min_by_key(|s| if s.at > at { s.at - at } else { at - s.at })
}

/// Which reference track a box is (IoU ≥ 0.3, the best).
fn who(seen: &Seen, bbox: [f32; 4]) -> Option<u64> {
    seen.tracks
        .iter()
        .map(|(id, b)| (*id, iou(*b, bbox)))
        .filter(|(_, v)| *v >= 0.3)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(id, _)| id)
}

#[derive(Debug, Default)]
struct Tally {
    handovers: usize,
    alive: usize,
    compared: usize,
    kept: usize,
    swapped: usize,
}

/// The comparison for one handover: `before` is the old connection's last result shown,
/// `after` the new connection's results.
fn compare(reference: &[Seen], before: &Seen, after: &[Seen], tally: &mut Tally) {
    tally.handovers += 1;
    let Some(at_seam) = reference_at(reference, before.at) else {
        eprintln!("no reference result at the seam");
        return;
    };
    if std::env::var_os("HANDOVER_DEBUG").is_some() {
        eprintln!("before {:?}\nreference {:?}", before.tracks, at_seam.tracks);
        for s in after.iter().take(12) {
            eprintln!(
                "  after +{:.2}s {:?} | ref {:?}",
                s.at.saturating_duration_since(before.at).as_secs_f64(),
                s.tracks.iter().map(|t| t.0).collect::<Vec<_>>(),
                reference_at(reference, s.at).map(|r| r
                    .tracks
                    .iter()
                    .map(|t| t.0)
                    .collect::<Vec<_>>())
            );
        }
    }
    for (old_id, bbox) in &before.tracks {
        tally.alive += 1;
        let Some(person) = who(at_seam, *bbox) else {
            continue;
        };
        // The first result after the seam where the reference still follows that person and
        // the new connection shows someone at the reference's box.
        let shown = after
            .iter()
            .take_while(|s| s.at < before.at + Duration::from_secs(8))
            .find_map(|s| {
                let r = reference_at(reference, s.at)?;
                let (_, rb) = r.tracks.iter().find(|(id, _)| *id == person)?;
                s.tracks
                    .iter()
                    .filter(|(_, b)| iou(*b, *rb) >= 0.3)
                    .max_by(|a, b| iou(a.1, *rb).total_cmp(&iou(b.1, *rb)))
                    .map(|(id, _)| *id)
            });
        let Some(new_id) = shown else {
            continue;
        };
        tally.compared += 1;
        if new_id == *old_id {
            tally.kept += 1;
        }
    }
    // Swaps: an id of before shown after on a box the reference gives to another person
    // (each such id once).
    let mut swapped = std::collections::BTreeSet::new();
    for s in after.iter().take(30) {
        let Some(r) = reference_at(reference, s.at) else {
            continue;
        };
        for (id, b) in &s.tracks {
            let Some((_, old_box)) = before.tracks.iter().find(|(o, _)| o == id) else {
                continue;
            };
            if let (Some(now), Some(then)) = (who(r, *b), who(at_seam, *old_box))
                && now != then
            {
                swapped.insert(*id);
            }
        }
    }
    tally.swapped += swapped.len();
}

#[tokio::main]
async fn main() {
    let mut handovers = 8usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--handovers" => {
                handovers = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--handovers N");
            }
            _ => panic!("usage: handover [--handovers N]"),
        }
    }
    let server = testkit::Server::start_with(
        &[format!("/people={}@10", testkit::clip("vtest_576p10.h264"))],
        &["--shared"],
        None,
    );
    let url = server.url("/people");
    let manager = StreamConnectionManager::builder()
        .build()
        .await
        .expect("manager (cargo xtask setup)");
    let reference = watch(
        manager
            .connect_stream(&url, StreamOptions::new().id("reference"))
            .await
            .expect("reference"),
    );
    let mut name = 0usize;
    let mut current = manager
        .connect_stream(&url, StreamOptions::new().id("worker0"))
        .await
        .expect("stream");
    let mut log = watch(current.clone());
    let (mut graceful, mut crash) = (Tally::default(), Tally::default());
    let mut pending: Vec<(bool, Seen, Log)> = Vec::new();
    for h in 0..handovers {
        let is_crash = h % 2 == 1;
        tokio::time::sleep(Duration::from_secs(9)).await;
        let snapshot = if is_crash {
            // The owner's last periodic snapshot, a second before it dies.
            let s = current.track_snapshot();
            tokio::time::sleep(Duration::from_secs(1)).await;
            s
        } else {
            None
        };
        manager
            .disconnect_stream(current.id())
            .await
            .expect("disconnect");
        let snapshot = match snapshot {
            Some(s) => s,
            // A graceful stop: the final snapshot, after the stream drained.
            None => current.track_snapshot().expect("tracked"),
        };
        let before = log
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|s| !s.tracks.is_empty())
            .cloned()
            .expect("the old connection showed tracks");
        tokio::time::sleep(if is_crash {
            Duration::from_secs(3)
        } else {
            Duration::from_millis(500)
        })
        .await;
        name += 1;
        current = manager
            .connect_stream(
                &url,
                StreamOptions::new()
                    .id(format!("worker{name}"))
                    .resume_tracks(snapshot),
            )
            .await
            .expect("stream");
        log = watch(current.clone());
        pending.push((is_crash, before, log.clone()));
        eprintln!(
            "handover {} ({})",
            h + 1,
            if is_crash { "crash" } else { "graceful" }
        );
    }
    tokio::time::sleep(Duration::from_secs(9)).await;
    let stats = manager.shutdown().await;
    let reference = reference.lock().unwrap().clone();
    for (is_crash, before, after) in pending {
        let after = after.lock().unwrap().clone();
        compare(
            &reference,
            &before,
            &after,
            if is_crash { &mut crash } else { &mut graceful },
        );
    }
    println!(
        "| handover | handovers | confirmed tracks shown at the seam | compared (the person seen again) | kept their id | ids then on another person |"
    );
    println!("|---|---|---|---|---|---|");
    for (what, t) in [
        (
            "graceful (final snapshot, new owner 0.5 s later)",
            &graceful,
        ),
        ("crash (snapshot 1 s old, new owner 3 s later)", &crash),
    ] {
        println!(
            "| {what} | {} | {} | {} | {} ({:.0}%) | {} |",
            t.handovers,
            t.alive,
            t.compared,
            t.kept,
            100.0 * t.kept as f64 / t.compared.max(1) as f64,
            t.swapped
        );
    }
    let balanced = stats.streams.values().all(|s| s.accounting.balanced());
    println!("\naccounting balanced on every connection: {balanced}");
    drop(server);
}
