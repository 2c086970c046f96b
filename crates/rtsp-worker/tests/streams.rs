//! The whole pipeline on a real RTSP server on loopback, real clips and the real model:
//! several streams, tracks on pedestrians, the accounting at shutdown.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use rtsp_worker::{StreamEvent, StreamOptions, TrackState};
use support::{Server, boxes, builder, collect, one_at_a_time, pedestrians, results};

const SECS: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_streams_give_results_and_pedestrians_get_confirmed_tracks() {
    let _heavy = one_at_a_time().await;
    let server = Server::start(&[pedestrians(), boxes()], None, None);
    let manager = builder().build().await.unwrap();
    let people = manager
        .connect_stream(&server.url("/people"), StreamOptions::new().id("people"))
        .await
        .unwrap();
    let shapes = manager
        .connect_stream(&server.url("/boxes"), StreamOptions::new().id("boxes"))
        .await
        .unwrap();
    let (a, b) = tokio::join!(collect(&people, 20 * SECS), collect(&shapes, 20 * SECS));
    let stats = manager.shutdown().await;
    let shown = serde_json::to_string_pretty(&stats).unwrap();

    for (name, events) in [("people", &a), ("boxes", &b)] {
        assert!(
            matches!(events.first(), Some(StreamEvent::Connecting { attempt: 1 })),
            "{name}: {:?}",
            events.first()
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, StreamEvent::Connected { .. })),
            "{name}: never connected"
        );
        let rs = results(events);
        assert!(rs.len() >= 10, "{name}: {} results", rs.len());
        // Frame numbers grow; every box is inside the camera's frame.
        assert!(rs.windows(2).all(|w| w[0].frame_number < w[1].frame_number));
        for r in &rs {
            for d in &r.detections {
                let [x1, y1, x2, y2] = d.bbox;
                assert!(
                    0.0 <= x1 && x1 <= x2 && x2 <= r.width as f32,
                    "{name}: {d:?}"
                );
                assert!(
                    0.0 <= y1 && y1 <= y2 && y2 <= r.height as f32,
                    "{name}: {d:?}"
                );
            }
        }
    }
    let rs = results(&a);
    assert_eq!((rs[0].width, rs[0].height), (768, 576));
    // Persons found, with confirmed track ids that persist across frames.
    let mut seen: HashMap<u64, usize> = HashMap::new();
    for r in &rs {
        for t in &r.tracked_objects {
            if t.class_name == "person" && t.state == TrackState::Confirmed {
                *seen.entry(t.track_id).or_default() += 1;
            }
        }
    }
    let persistent = seen.values().filter(|&&n| n >= 5).count();
    assert!(
        persistent >= 2,
        "confirmed person tracks and their frames: {seen:?}"
    );

    for (id, s) in &stats.streams {
        let acc = s.accounting;
        assert!(acc.balanced(), "{id}: {acc:?}\n{shown}");
        assert_eq!(acc.in_pipeline, 0, "{id}: drained");
        assert!(acc.results >= 10, "{id}: {acc:?}");
    }
}
