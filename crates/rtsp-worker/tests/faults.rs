//! Faults on a real RTSP server: a server killed and restarted, and streams that must end
//! (unsupported codec, refused credentials) without disturbing the others or leaking the
//! password. (Network faults, overload and churn: tests/reliability.rs.)

mod support;

use std::time::{Duration, Instant};

use rtsp_worker::{EndReason, Error, StreamEvent, StreamOptions};
use support::{Server, boxes, builder, clip, collect, one_at_a_time, pedestrians, record, results};

const SECS: Duration = Duration::from_secs(1);

/// Waits for an event matching `pred`, returning the events seen up to it.
async fn until(
    conn: &rtsp_worker::StreamConnection,
    within: Duration,
    pred: impl Fn(&StreamEvent) -> bool,
) -> Vec<StreamEvent> {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let left = tokio::time::Instant::now() < deadline;
        match tokio::time::timeout_at(deadline, conn.next_event()).await {
            Ok(Some(e)) if left => {
                let hit = pred(&e);
                seen.push(e);
                if hit {
                    return seen;
                }
            }
            _ => panic!(
                "not seen within {within:?}; got {:?}",
                seen.iter().map(StreamEvent::name).collect::<Vec<_>>()
            ),
        }
    }
}

fn max_track_id(events: &[StreamEvent]) -> u64 {
    results(events)
        .iter()
        .flat_map(|r| r.tracked_objects.iter().map(|t| t.track_id))
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_and_restarted_the_stream_comes_back_and_others_go_on() {
    let _heavy = one_at_a_time().await;
    let mounts = [pedestrians()];
    let flaky = Server::start(&mounts, None, None);
    let steady = Server::start(&[boxes()], None, None);
    let manager = builder().build().await.unwrap();
    let people = manager
        .connect_stream(
            &flaky.url("/people"),
            StreamOptions::new().id("people").stall_timeout(2 * SECS),
        )
        .await
        .unwrap();
    let other = manager
        .connect_stream(&steady.url("/boxes"), StreamOptions::new().id("boxes"))
        .await
        .unwrap();
    let (before, other_before) =
        tokio::join!(collect(&people, 8 * SECS), collect(&other, 8 * SECS));
    let ids_before = max_track_id(&before);
    assert!(ids_before > 0, "tracks before the fault");
    let seen_before: std::collections::HashSet<u64> = results(&before)
        .iter()
        .flat_map(|r| r.tracked_objects.iter().map(|t| t.track_id))
        .collect();
    let port = flaky.kill();
    let outage = Instant::now();
    let (lost, other_during) = tokio::join!(
        until(&people, 15 * SECS, |e| matches!(
            e,
            StreamEvent::Reconnecting { .. }
        )),
        collect(&other, 4 * SECS)
    );
    assert!(lost.iter().all(|e| !matches!(e, StreamEvent::Ended { .. })));
    let _flaky = Server::start(&mounts, None, Some(port));
    until(&people, 20 * SECS, |e| {
        matches!(e, StreamEvent::Connected { .. })
    })
    .await;
    let back = outage.elapsed();
    let (after, _) = tokio::join!(collect(&people, 8 * SECS), collect(&other, 8 * SECS));
    let stats = manager.shutdown().await;
    let rs = results(&after);
    assert!(rs.len() >= 5, "results after the restart: {}", rs.len());
    // The same tracker goes on: a track seen before may go on (the parked car has not
    // moved), and new ones continue the numbering; nothing starts again at 1.
    let after_ids: std::collections::BTreeSet<u64> = rs
        .iter()
        .flat_map(|r| r.tracked_objects.iter().map(|t| t.track_id))
        .collect();
    assert!(
        after_ids
            .iter()
            .all(|id| seen_before.contains(id) || *id > ids_before),
        "ids after {after_ids:?}, before up to {ids_before}: {seen_before:?}"
    );
    assert!(
        after_ids.iter().any(|id| *id > ids_before),
        "no new track after the restart"
    );
    assert!(stats.streams["people"].reconnects >= 1);
    // The other stream kept its pace through the outage.
    let rate = |events: &[StreamEvent], secs: f64| results(events).len() as f64 / secs;
    let (r0, r1) = (rate(&other_before, 8.0), rate(&other_during, 4.0));
    assert!(
        r1 >= r0 * 0.7,
        "boxes: {r0:.1}/s before, {r1:.1}/s during the outage"
    );
    for (id, s) in &stats.streams {
        assert!(
            s.accounting.balanced() && s.accounting.in_pipeline == 0,
            "{id}: {:?}",
            s.accounting
        );
    }
    assert!(back < 20 * SECS);
    let first_after = rs.first().map(|r| r.captured_at);
    record(
        "server_restart",
        &serde_json::json!({
            "recovered_after_s": back.as_secs_f64(),
            "first_result_after_s": first_after.map(|t| t.saturating_duration_since(outage).as_secs_f64()),
            "reconnects": stats.streams["people"].reconnects,
            "counted_drops": stats.streams["people"].accounting.dropped,
            "other_rate_before": r0,
            "other_rate_during": r1,
        }),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsupported_codec_and_a_wrong_password_end_only_their_stream() {
    let _heavy = one_at_a_time().await;
    let open = Server::start(
        &[pedestrians(), "/mjpeg=testsrc:jpeg".to_owned()],
        None,
        None,
    );
    let locked = Server::start(
        &[format!("/secure={}", clip("h264_720p25.h264"))],
        Some("alice:wonderland"),
        None,
    );
    let manager = builder().build().await.unwrap();
    let good = manager
        .connect_stream(&open.url("/people"), StreamOptions::new().id("good"))
        .await
        .unwrap();
    let mjpeg = manager
        .connect_stream(&open.url("/mjpeg"), StreamOptions::new().id("mjpeg"))
        .await
        .unwrap();
    let secret = "not-wonderland";
    let wrong = manager
        .connect_stream(
            &format!("rtsp://alice:{secret}@127.0.0.1:{}/secure", locked.port),
            StreamOptions::new().id("wrong"),
        )
        .await
        .unwrap();
    let is_end = |e: &StreamEvent| matches!(e, StreamEvent::Ended { .. });
    let (mjpeg_events, wrong_events, good_events) = tokio::join!(
        until(&mjpeg, 15 * SECS, is_end),
        until(&wrong, 30 * SECS, is_end),
        collect(&good, 12 * SECS)
    );
    match mjpeg_events.last() {
        Some(StreamEvent::Ended {
            reason: EndReason::Failed(Error::Camera { source, .. }),
        }) => assert!(
            matches!(source, rtsp_worker::CameraError::UnsupportedCodec { .. }),
            "{source:?}"
        ),
        other => panic!("{other:?}"),
    }
    match wrong_events.last() {
        Some(StreamEvent::Ended {
            reason:
                EndReason::GaveUp {
                    attempts: 3,
                    error: Error::Camera { source, .. },
                },
        }) => assert!(
            matches!(source, rtsp_worker::CameraError::Unauthorized { .. }),
            "{source:?}"
        ),
        other => panic!("{other:?}"),
    }
    // Not a tight loop: the tries are spaced by the back-off (500 ms doubling, ±20% jitter).
    let delays: Vec<Duration> = wrong_events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Reconnecting { delay, .. } => Some(*delay),
            _ => None,
        })
        .collect();
    assert_eq!(delays.len(), 2, "{delays:?}");
    assert!(
        delays.iter().all(|d| *d >= Duration::from_millis(250)),
        "{delays:?}"
    );
    // A stream that ended stays listed, with its final accounting, until removed.
    let stats = manager.get_stats();
    assert_eq!(
        stats.streams["wrong"].state,
        rtsp_worker::StreamState::Ended
    );
    assert_eq!(
        mjpeg.wait_connected(SECS).await.unwrap_err().kind(),
        "camera"
    );
    assert!(results(&good_events).len() >= 10, "the good stream went on");
    let all_text = format!(
        "{wrong_events:?}{}{}",
        serde_json::to_string(&stats).unwrap(),
        wrong_events
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect::<String>()
    );
    assert!(
        !all_text.contains(secret),
        "the password leaked: {all_text}"
    );
    let last = manager.shutdown().await;
    assert!(!serde_json::to_string(&last).unwrap().contains(secret));
    for (id, s) in &last.streams {
        assert!(s.accounting.balanced(), "{id}: {:?}", s.accounting);
    }
}
