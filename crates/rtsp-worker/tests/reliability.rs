//! The reliability suite on the real server, clips and model: network faults injected by a
//! loopback proxy (cut, reset, stall, trickle, RTP time going backwards), a server that never
//! answers, a camera that changes resolution, overload for a sustained period, and streams
//! added and removed a thousand times while others run.
//!
//! Each test writes its figures as JSON under `target/tmp/reliability/` (rendered into
//! docs/RELIABILITY.md by `cargo xtask soak`). Sizes come from the environment so that the
//! same tests run CI-sized here and long under `cargo xtask soak`:
//! `RTSP_WORKER_OVERLOAD_SECS` (default 45), `RTSP_WORKER_OVERLOAD_STREAMS` (8),
//! `RTSP_WORKER_CHURN_CYCLES` (1000), `RTSP_WORKER_FAULT_ROUNDS` (1).

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtsp_ingest::Transport;
use rtsp_worker::{
    Drops, EndReason, StreamConnection, StreamConnectionManager, StreamEvent, StreamOptions,
};
use serde_json::json;
use support::proxy::{Fault, Proxy, Silent};
use support::{Server, builder, clip, one_at_a_time, pedestrians, record};

const SECS: Duration = Duration::from_secs(1);

/// The pedestrians at 2 fps (the clip's SPS timing rewritten by FFmpeg's `h264_metadata`
/// filter, which the server's parser follows): two such streams leave the detector headroom
/// on two cores, so that a stream's result rate is its camera's, and a fault elsewhere that
/// cost the other stream results would show, however fast the machine is today.
fn slow_pedestrians() -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("reliability");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("vtest_576p2.h264");
    if !out.is_file() {
        let tmp = dir.join("vtest_576p2.h264.part");
        let status = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(clip("vtest_576p10.h264"))
            .args([
                "-c",
                "copy",
                "-bsf:v",
                "h264_metadata=tick_rate=4",
                "-f",
                "h264",
            ])
            .arg(&tmp)
            .status()
            .expect("ffmpeg (run `cargo xtask setup`)");
        assert!(status.success(), "ffmpeg: {status}");
        std::fs::rename(&tmp, &out).unwrap();
    }
    format!("/people={}@2", out.display())
}

/// How long each side of a fault the other stream's results are counted (24 results at
/// 2 fps: one more or less at either edge stays within the 10% asked).
const RATE_WINDOW: Duration = Duration::from_secs(12);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What a stream did, with when: filled by its callbacks.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<(Instant, Seen)>>>);

#[derive(Debug, Clone)]
enum Seen {
    Result {
        frame: u64,
        timestamp: f64,
        width: u32,
        height: u32,
        boxes_inside: bool,
        ids: Vec<u64>,
        /// `tracks_restarted`, with the ids that ended then.
        restarted: Option<(&'static str, Vec<u64>)>,
    },
    Event(&'static str),
}

/// The stream `steady` on the server's `/people`, connected within `within`, and its log.
async fn steady(
    manager: &StreamConnectionManager,
    server: &Server,
    within: Duration,
) -> (StreamConnection, Log) {
    let log = Log::default();
    let steady = manager
        .connect_stream(&server.url("/people"), log.options("steady"))
        .await
        .unwrap();
    steady.wait_connected(within).await.unwrap();
    (steady, log)
}

impl Log {
    fn options(&self, id: &str) -> StreamOptions {
        let (results, events) = (self.clone(), self.clone());
        StreamOptions::new()
            .id(id)
            .on_result(move |r| {
                let (w, h) = (r.width as f32, r.height as f32);
                let boxes_inside = r.tracked_objects.iter().all(|t| {
                    let [x1, y1, x2, y2] = t.bbox;
                    x1 >= -1.0 && y1 >= -1.0 && x2 <= w + 1.0 && y2 <= h + 1.0
                });
                results.push(Seen::Result {
                    frame: r.frame_number,
                    timestamp: r.timestamp,
                    width: r.width,
                    height: r.height,
                    boxes_inside,
                    ids: r.tracked_objects.iter().map(|t| t.track_id).collect(),
                    restarted: r
                        .tracks_restarted
                        .map(|why| (why, r.ended_tracks.iter().map(|t| t.track_id).collect())),
                });
            })
            .on_event(move |e| events.push(Seen::Event(e.name())))
    }

    fn push(&self, seen: Seen) {
        self.0.lock().unwrap().push((Instant::now(), seen));
    }

    fn results_between(&self, from: Instant, to: Instant) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, s)| *t >= from && *t < to && matches!(s, Seen::Result { .. }))
            .count()
    }

    /// The first entry after `from` matching `pred`.
    fn first_after(&self, from: Instant, pred: impl Fn(&Seen) -> bool) -> Option<Instant> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .find(|(t, s)| *t >= from && pred(s))
            .map(|(t, _)| *t)
    }

    fn events_after(&self, from: Instant) -> Vec<&'static str> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(t, s)| match s {
                Seen::Event(name) if *t >= from => Some(*name),
                _ => None,
            })
            .collect()
    }

    fn results(&self) -> Vec<(Instant, Seen)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, s)| matches!(s, Seen::Result { .. }))
            .cloned()
            .collect()
    }
}

/// Waits until `ready` says yes (polling the logs), or `within` passes.
async fn wait_for(within: Duration, ready: impl Fn() -> Option<Instant>) -> Option<Instant> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(t) = ready() {
            return Some(t);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

fn drops_json(before: Drops, after: Drops) -> serde_json::Value {
    let (b, a) = (
        serde_json::to_value(before).unwrap(),
        serde_json::to_value(after).unwrap(),
    );
    let mut out = serde_json::Map::new();
    for (k, v) in a.as_object().unwrap() {
        let d = v.as_u64().unwrap_or(0) - b[k].as_u64().unwrap_or(0);
        if d > 0 {
            out.insert(k.clone(), d.into());
        }
    }
    out.into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_on_the_wire_are_recovered_and_the_other_stream_keeps_its_rate() {
    let _heavy = one_at_a_time().await;
    let server = Server::start(&[slow_pedestrians()], None, None);
    let proxy = Proxy::start(server.port).await;
    let manager = builder().build().await.unwrap();
    let (faulty_log, steady_log) = (Log::default(), Log::default());
    let faulty = manager
        .connect_stream(
            &proxy.url("/people"),
            faulty_log
                .options("faulty")
                .transport(Transport::Tcp)
                .stall_timeout(2 * SECS),
        )
        .await
        .unwrap();
    let steady = manager
        .connect_stream(&server.url("/people"), steady_log.options("steady"))
        .await
        .unwrap();
    faulty.wait_connected(20 * SECS).await.unwrap();
    steady.wait_connected(20 * SECS).await.unwrap();
    tokio::time::sleep(4 * SECS).await; // warm-up
    let faults: [(&str, Fault, &str); 5] = [
        (
            "connection cut",
            Fault::Cut,
            "proxy closes both sockets (FIN)",
        ),
        (
            "connection reset",
            Fault::Reset,
            "proxy closes the client's socket with RST (SO_LINGER 0)",
        ),
        (
            "connection stalled",
            Fault::Stall,
            "proxy stops forwarding both ways, sockets kept open",
        ),
        (
            "connection trickled",
            Fault::Trickle(4096),
            "proxy forwards the server's bytes at 4 KiB/s for 6 s, then at full speed",
        ),
        (
            "RTP time jumps back 60 s",
            Fault::ShiftRtp(60 * 90_000),
            "proxy subtracts 60 s from every RTP timestamp and sender report of the connection",
        ),
    ];
    let mut rows = Vec::new();
    for round in 0..env_or("RTSP_WORKER_FAULT_ROUNDS", 1) {
        for (name, fault, how) in faults {
            let window = RATE_WINDOW;
            let t_before = Instant::now();
            tokio::time::sleep(window).await;
            let t0 = Instant::now();
            let rate_before =
                steady_log.results_between(t_before, t0) as f64 / window.as_secs_f64();
            let drops_before = faulty.stats().accounting.dropped;
            let reconnects_before = faulty.stats().reconnects;
            let last_frame_before = faulty.stats().accounting.received;
            proxy.inject(fault);
            if let Fault::Trickle(_) = fault {
                tokio::time::sleep(6 * SECS).await;
                proxy.inject(Fault::Forward);
            }
            // Recovered: a result of a frame received after the fault, over a new connection
            // when the old one was lost.
            let recovered = wait_for(30 * SECS, || {
                let from = if matches!(fault, Fault::ShiftRtp(_) | Fault::Trickle(_)) {
                    Some(t0)
                } else {
                    faulty_log.first_after(t0, |s| matches!(s, Seen::Event("connected")))
                }?;
                faulty_log.first_after(
                    from,
                    |s| matches!(s, Seen::Result { frame, .. } if *frame >= last_frame_before),
                )
            })
            .await
            .unwrap_or_else(|| {
                panic!(
                    "{name}: no result within 30 s; events {:?}",
                    faulty_log.events_after(t0)
                )
            });
            let t_end = recovered.max(t0 + window);
            tokio::time::sleep_until(t_end.into()).await;
            let rate_during = steady_log.results_between(t0, t_end) as f64
                / t_end.duration_since(t0).as_secs_f64();
            let stats = faulty.stats();
            let events = faulty_log.events_after(t0);
            assert!(
                !events.contains(&"ended"),
                "{name}: the stream ended: {events:?}"
            );
            assert!(
                rate_during >= 0.9 * rate_before,
                "{name}: the steady stream fell from {rate_before:.1}/s to {rate_during:.1}/s"
            );
            rows.push(json!({
                "round": round,
                "fault": name,
                "how": how,
                "recovered_after_s": recovered.duration_since(t0).as_secs_f64(),
                "reconnects": stats.reconnects - reconnects_before,
                "events": events,
                "counted_drops": drops_json(drops_before, stats.accounting.dropped),
                "other_rate_before": rate_before,
                "other_rate_during": rate_during,
            }));
        }
    }
    // After the RTP jump the stream goes on with frame numbers in order and its capture time
    // never going backwards.
    let rs = faulty_log.results();
    for pair in rs.windows(2) {
        if let (
            (
                _,
                Seen::Result {
                    frame: f0,
                    timestamp: t0,
                    ..
                },
            ),
            (
                _,
                Seen::Result {
                    frame: f1,
                    timestamp: t1,
                    ..
                },
            ),
        ) = (&pair[0], &pair[1])
        {
            assert!(f1 > f0, "frame numbers {f0} then {f1}");
            // (Tolerance: the switch between arrival time and the camera's sender reports.)
            assert!(
                *t1 >= t0 - 0.5,
                "capture time {t0} then {t1} (frames {f0}, {f1})"
            );
        }
    }
    let stats = manager.shutdown().await;
    for (id, s) in &stats.streams {
        assert!(
            s.accounting.balanced() && s.accounting.in_pipeline == 0,
            "{id}: {:?}",
            s.accounting
        );
    }
    // The jump was seen and smoothed over, once per round; the steady camera saw none.
    let rounds = env_or("RTSP_WORKER_FAULT_ROUNDS", 1);
    assert_eq!(stats.streams["faulty"].timestamp_jumps, rounds);
    assert_eq!(stats.streams["steady"].timestamp_jumps, 0);
    record(
        "faults",
        &json!({ "proxy_connections": proxy.accepted(), "faults": rows }),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_ends_with_a_typed_reason_after_bounded_tries() {
    let _heavy = one_at_a_time().await;
    let silent = Silent::start().await;
    let server = Server::start(&[slow_pedestrians()], None, None);
    let manager = builder().build().await.unwrap();
    let (_steady, steady_log) = steady(&manager, &server, 20 * SECS).await;
    tokio::time::sleep(4 * SECS + RATE_WINDOW).await;
    let t0 = Instant::now();
    let mute = manager
        .connect_stream(
            &silent.url("/mute"),
            StreamOptions::new()
                .id("mute")
                .connect_timeout(SECS)
                .give_up_after(Some(3)),
        )
        .await
        .unwrap();
    let mut events = Vec::new();
    let reason = loop {
        match tokio::time::timeout(30 * SECS, mute.next_event()).await {
            Ok(Some(StreamEvent::Ended { reason })) => break reason,
            Ok(Some(e)) => events.push(e.name()),
            other => panic!("no end within 30 s: {other:?}, {events:?}"),
        }
    };
    let took = t0.elapsed();
    let EndReason::GaveUp { attempts, error } = &reason else {
        panic!("ended with {reason:?}")
    };
    assert_eq!(*attempts, 3);
    assert!(
        matches!(
            error,
            rtsp_worker::Error::Camera {
                source: rtsp_ingest::Error::Timeout { .. },
                ..
            }
        ),
        "{error:?}"
    );
    // Bounded tries: one connection per attempt, with back-off between them.
    assert_eq!(silent.accepted(), 3);
    assert!(took >= 3 * SECS, "{took:?}");
    let t_end = Instant::now().max(t0 + RATE_WINDOW);
    tokio::time::sleep_until(t_end.into()).await;
    let rate_before =
        steady_log.results_between(t0 - RATE_WINDOW, t0) as f64 / RATE_WINDOW.as_secs_f64();
    let rate_during =
        steady_log.results_between(t0, t_end) as f64 / t_end.duration_since(t0).as_secs_f64();
    assert!(
        rate_during >= 0.9 * rate_before,
        "steady: {rate_before:.1}/s before, {rate_during:.1}/s during"
    );
    manager.shutdown().await;
    record(
        "silent_server",
        &json!({
            "ended_after_s": took.as_secs_f64(),
            "reason": reason.as_str(),
            "error": error.to_string(),
            "connections": silent.accepted(),
            "events": events,
            "other_rate_before": rate_before,
            "other_rate_during": rate_during,
        }),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_that_changes_resolution_goes_on_in_its_new_size() {
    let _heavy = one_at_a_time().await;
    // One Annex B file: 720p then 576p, each starting with its parameter sets and a keyframe
    // (and its own frame rate in them); the server loops it.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("reliability");
    std::fs::create_dir_all(&dir).unwrap();
    let joined = dir.join("720p_then_576p.h264");
    let mut bytes = std::fs::read(clip("people_720p25.h264")).unwrap();
    bytes.extend(std::fs::read(clip("vtest_576p10.h264")).unwrap());
    std::fs::write(&joined, bytes).unwrap();
    let server = Server::start(&[format!("/joined={}@25", joined.display())], None, None);
    let manager = builder().build().await.unwrap();
    let log = Log::default();
    let t0 = Instant::now();
    let conn = manager
        .connect_stream(&server.url("/joined"), log.options("joined"))
        .await
        .unwrap();
    // The people clip is 500 frames (20 s at 25 fps); then vtest.
    let changed = wait_for(60 * SECS, || {
        log.first_after(t0, |s| matches!(s, Seen::Result { width: 768, .. }))
    })
    .await;
    tokio::time::sleep(3 * SECS).await;
    let stats = manager.shutdown().await;
    let rs = log.results();
    let sizes: BTreeMap<(u32, u32), usize> = rs.iter().fold(BTreeMap::new(), |mut m, (_, s)| {
        if let Seen::Result { width, height, .. } = s {
            *m.entry((*width, *height)).or_default() += 1;
        }
        m
    });
    let s = &stats.streams["joined"];
    assert!(
        changed.is_some(),
        "sizes seen: {sizes:?}; events {:?}; {s:?}",
        log.events_after(t0)
    );
    assert!(sizes.contains_key(&(1280, 720)), "{sizes:?}");
    assert!(
        rs.iter().all(|(_, s)| matches!(
            s,
            Seen::Result {
                boxes_inside: true,
                ..
            }
        )),
        "a box outside its frame"
    );
    // The tracks of the old size ended with it; ids go on from where they were.
    let ids_of = |width: u32| -> Vec<u64> {
        rs.iter()
            .filter_map(|(_, s)| match s {
                Seen::Result { width: w, ids, .. } if *w == width => Some(ids.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    };
    let (before, after) = (ids_of(1280), ids_of(768));
    let last_before = before.iter().max().copied().unwrap_or(0);
    assert!(last_before > 0 && !after.is_empty(), "{before:?} {after:?}");
    // One result, the first of the new size, says why they ended.
    let seams: Vec<(u32, &(&str, Vec<u64>))> = rs
        .iter()
        .filter_map(|(_, s)| match s {
            Seen::Result {
                width,
                restarted: Some(r),
                ..
            } => Some((*width, r)),
            _ => None,
        })
        .collect();
    assert_eq!(seams.len(), 1, "{seams:?}");
    assert_eq!((seams[0].0, seams[0].1.0), (768, "frame_size_changed"));
    assert!(
        seams[0].1.1.iter().all(|id| before.contains(id)),
        "the old size's tracks end on the seam: {seams:?}"
    );
    assert!(
        after.iter().all(|id| *id > last_before),
        "ids after the change {after:?}, before up to {last_before}"
    );
    assert!(s.accounting.balanced(), "{:?}", s.accounting);
    assert!(!log.events_after(t0).contains(&"reconnecting"));
    drop(conn);
    record(
        "resolution_change",
        &json!({
            "results_by_size": sizes.iter().map(|((w, h), n)| (format!("{w}x{h}"), *n)).collect::<BTreeMap<_, _>>(),
            "changed_after_s": changed.map(|t| t.duration_since(t0).as_secs_f64()),
            "counted_drops": s.accounting.dropped,
        }),
    );
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// Least-squares slope of `ys` over `xs`.
fn slope(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let cov: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let var: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    cov / var
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_for_a_sustained_period_counts_every_frame_and_keeps_memory_flat() {
    let _heavy = one_at_a_time().await;
    let secs = env_or("RTSP_WORKER_OVERLOAD_SECS", 45);
    let n = env_or("RTSP_WORKER_OVERLOAD_STREAMS", 8) as usize;
    let server = Server::start(
        &[format!("/people={}", clip("people_720p25.h264"))],
        None,
        None,
    );
    let manager = builder().build().await.unwrap();
    let logs: Vec<Log> = (0..n).map(|_| Log::default()).collect();
    let mut conns: Vec<StreamConnection> = Vec::new();
    for (i, log) in logs.iter().enumerate() {
        conns.push(
            manager
                .connect_stream(&server.url("/people"), log.options(&format!("cam-{i}")))
                .await
                .unwrap(),
        );
    }
    for c in &conns {
        c.wait_connected(30 * SECS).await.unwrap();
    }
    let warm_up = 10 * SECS;
    tokio::time::sleep(warm_up).await;
    let t0 = Instant::now();
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    let mut worst_p99 = 0.0f64;
    let mut starved = Vec::new();
    let step = 5 * SECS;
    while t0.elapsed() < Duration::from_secs(secs) {
        let from = Instant::now();
        tokio::time::sleep(step).await;
        xs.push(t0.elapsed().as_secs_f64());
        ys.push(rss_mb());
        for (i, log) in logs.iter().enumerate() {
            if log.results_between(from, Instant::now()) == 0 {
                starved.push(format!("cam-{i} at {:.0} s", t0.elapsed().as_secs_f64()));
            }
        }
        for s in manager.get_stats().streams.values() {
            worst_p99 = worst_p99.max(s.latency_ms.p99);
        }
    }
    let window = t0.elapsed().as_secs_f64();
    let received: u64 = conns.iter().map(|c| c.stats().accounting.received).sum();
    let per_stream: Vec<f64> = logs
        .iter()
        .map(|l| l.results_between(t0, Instant::now()) as f64 / window)
        .collect();
    let stats = manager.shutdown().await;
    let mut drops = Drops::default();
    for s in stats.streams.values() {
        assert!(
            s.accounting.balanced() && s.accounting.in_pipeline == 0,
            "{}: {:?}",
            s.id,
            s.accounting
        );
        let d = s.accounting.dropped;
        drops.superseded += d.superseded;
        drops.ingest_gap += d.ingest_gap;
        drops.decode_error += d.decode_error;
        drops.decoder_overflow += d.decoder_overflow;
        drops.not_decoded += d.not_decoded;
        drops.rate_limited += d.rate_limited;
        drops.inference_failed += d.inference_failed;
        drops.consumer_too_slow += d.consumer_too_slow;
        drops.shutdown += d.shutdown;
    }
    let rss_slope = slope(&xs, &ys) * 60.0;
    let (min, max) = per_stream
        .iter()
        .fold((f64::MAX, 0.0f64), |(a, b), r| (a.min(*r), b.max(*r)));
    assert!(starved.is_empty(), "windows without results: {starved:?}");
    assert!(drops.superseded > 0, "not overloaded: {drops:?}");
    assert!(
        rss_slope.abs() < 10.0,
        "RSS grows {rss_slope:.1} MB/min: {ys:?}"
    );
    assert!(worst_p99 < 3000.0, "p99 latency {worst_p99:.0} ms");
    assert!(min >= 0.8 * max, "results per stream {per_stream:?}");
    record(
        "overload",
        &json!({
            "streams": n,
            "offered_fps_per_stream": 25,
            "seconds": window,
            "warm_up_s": warm_up.as_secs(),
            "received": received,
            "results_per_stream_fps": per_stream,
            "counted_drops": drops,
            "rss_mb": ys,
            "rss_slope_mb_per_min": rss_slope,
            "worst_p99_latency_ms": worst_p99,
        }),
    );
}

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_added_and_removed_a_thousand_times_leave_nothing_behind() {
    let _heavy = one_at_a_time().await;
    let cycles = env_or("RTSP_WORKER_CHURN_CYCLES", 1000) as usize;
    let server = Server::start(&[pedestrians()], None, None);
    let manager = builder().build().await.unwrap();
    let (steady, _steady_log) = steady(&manager, &server, 15 * SECS).await;
    // A result of a removed stream after its removal is counted here.
    let late = Arc::new(AtomicU64::new(0));
    let churn = |i: usize| {
        let manager = manager.clone();
        let url = server.url("/people");
        let late = late.clone();
        async move {
            let removed = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = removed.clone();
            let c = manager
                .connect_stream(
                    &url,
                    StreamOptions::new()
                        .id(format!("churn-{i}"))
                        .on_result(move |_| {
                            if flag.load(Ordering::SeqCst) {
                                late.fetch_add(1, Ordering::SeqCst);
                            }
                        }),
                )
                .await
                .unwrap();
            // Every few cycles, let it get as far as producing results.
            if i.is_multiple_of(25) {
                c.wait_connected(15 * SECS).await.unwrap();
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            let s = manager.disconnect_stream(c.id()).await.unwrap();
            removed.store(true, Ordering::SeqCst);
            assert!(
                s.accounting.balanced() && s.accounting.in_pipeline == 0,
                "{:?}",
                s.accounting
            );
            s.accounting.results
        }
    };
    churn(0).await;
    tokio::time::sleep(SECS).await;
    let (threads0, fds0, rss0) = (count("/proc/self/task"), count("/proc/self/fd"), rss_mb());
    let started = Instant::now();
    let steady_before = steady.stats().accounting.results;
    let mut churned_results = 0;
    for i in 1..=cycles {
        churned_results += churn(i).await;
    }
    let took = started.elapsed().as_secs_f64();
    let steady_gained = steady.stats().accounting.results - steady_before;
    // Back to the baseline (sockets close and threads exit as the sessions end).
    let deadline = Instant::now() + 20 * SECS;
    let (threads1, fds1) = loop {
        let (t, f) = (count("/proc/self/task"), count("/proc/self/fd"));
        if t <= threads0 && f <= fds0 {
            break (t, f);
        }
        assert!(
            Instant::now() < deadline,
            "threads {t} (baseline {threads0}), fds {f} (baseline {fds0})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Let the allocator settle before reading memory.
    tokio::time::sleep(2 * SECS).await;
    let rss1 = rss_mb();
    // The late check: results still in flight have had time to (wrongly) arrive.
    assert_eq!(late.load(Ordering::SeqCst), 0, "results after removal");
    assert_eq!(manager.stream_ids(), vec!["steady".to_owned()]);
    assert!(
        steady_gained as f64 >= took * 1.0,
        "{steady_gained} results in {took:.1} s"
    );
    assert!(rss1 - rss0 < 30.0, "RSS {rss0:.0} MB → {rss1:.0} MB");
    let stats = manager.shutdown().await;
    assert!(stats.streams["steady"].accounting.balanced());
    record(
        "churn",
        &json!({
            "cycles": cycles,
            "seconds": took,
            "results_of_churned_streams": churned_results,
            "results_after_removal": 0,
            "rss_mb": [rss0, rss1],
            "fds": [fds0, fds1],
            "threads": [threads0, threads1],
            "steady_results_per_s": steady_gained as f64 / took,
        }),
    );
}
