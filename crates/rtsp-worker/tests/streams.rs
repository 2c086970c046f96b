//! The whole pipeline on a real RTSP server on loopback, real clips and the real model:
//! several streams, tracks on pedestrians, mixed sizes and codecs, the three ways to consume
//! (callbacks, stream, queue), a slow consumer, the accounting at shutdown.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use rtsp_worker::{ManagerStats, StreamEvent, StreamOptions, TrackState};
use support::{Server, boxes, builder, clip, collect, one_at_a_time, pedestrians, results};

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

/// The names of this process's threads.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
                .map(|n| n.trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The decode loops on a shared pool (the default) rather than a thread per stream:
/// streams of two codecs give their results, a third comes and goes twenty times while they
/// run (each time drained, balanced), no stream gets a thread of its own and the threads are
/// back to what they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_on_a_shared_decode_pool_give_results_and_come_and_go_without_threads_of_their_own()
{
    let _heavy = one_at_a_time().await;
    let server = Server::start(
        &[
            pedestrians(),
            format!("/people1080={}", clip("vtest_1080p25.h265")),
        ],
        None,
        None,
    );
    let manager = builder().decode_workers(2).build().await.unwrap();
    let mut conns = Vec::new();
    for id in ["people", "people1080"] {
        let c = manager
            .connect_stream(&server.url(&format!("/{id}")), StreamOptions::new().id(id))
            .await
            .unwrap();
        c.wait_connected(15 * SECS).await.unwrap();
        conns.push(c);
    }
    let threads0 = thread_names();
    assert!(
        !threads0.iter().any(|n| n.starts_with("rw-stream")),
        "{threads0:?}"
    );
    let collecting = futures::future::join_all(conns.iter().map(|c| collect(c, 20 * SECS)));
    let churning = async {
        for i in 0..20 {
            let c = manager
                .connect_stream(
                    &server.url("/people"),
                    StreamOptions::new().id(format!("visitor-{i}")),
                )
                .await
                .unwrap();
            if i % 5 == 0 {
                c.wait_connected(15 * SECS).await.unwrap();
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            let s = manager.disconnect_stream(c.id()).await.unwrap();
            assert!(
                s.accounting.balanced() && s.accounting.in_pipeline == 0,
                "visitor-{i}: {:?}",
                s.accounting
            );
        }
    };
    let (all, ()) = tokio::join!(collecting, churning);
    for (id, events) in ["people", "people1080"].iter().zip(&all) {
        let rs = results(events);
        assert!(rs.len() >= 10, "{id}: {} results", rs.len());
        assert!(rs.windows(2).all(|w| w[0].frame_number < w[1].frame_number));
        support::at_least_a_person_per_result(&rs, id);
    }
    // The drains' helper threads linger a little; then the count is what it was.
    let deadline = tokio::time::Instant::now() + 20 * SECS;
    loop {
        let now = thread_names();
        if now.len() <= threads0.len() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "threads {now:?}, before {threads0:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stats = manager.shutdown().await;
    assert_drained(&stats);
}

fn assert_drained(stats: &ManagerStats) {
    for (id, s) in &stats.streams {
        let acc = s.accounting;
        assert!(acc.balanced() && acc.in_pipeline == 0, "{id}: {acc:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_streams_of_mixed_sizes_and_codecs_each_get_their_share_in_their_own_pixels() {
    let _heavy = one_at_a_time().await;
    let server = Server::start(
        &[
            pedestrians(),
            format!("/people720={}", clip("vtest_720p25.h264")),
            format!("/people1080={}", clip("vtest_1080p25.h265")),
            boxes(),
        ],
        None,
        None,
    );
    // A thread per stream (the pool, the default, has a test of its own below).
    let manager = builder().decode_workers(0).build().await.unwrap();
    let mut conns = Vec::new();
    for id in ["people", "people720", "people1080", "boxes"] {
        let c = manager
            .connect_stream(&server.url(&format!("/{id}")), StreamOptions::new().id(id))
            .await
            .unwrap();
        conns.push(c);
    }
    let window = 25 * SECS;
    let all = futures::future::join_all(conns.iter().map(|c| collect(c, window))).await;
    let stats = manager.shutdown().await;
    assert_drained(&stats);
    let want = [
        ("people", "h264", 768, 576),
        ("people720", "h264", 1280, 720),
        ("people1080", "h265", 1920, 1080),
        ("boxes", "h264", 1280, 720),
    ];
    let mut counts = Vec::new();
    for ((id, codec, w, h), events) in want.iter().zip(&all) {
        let connected = events.iter().find_map(|e| match e {
            StreamEvent::Connected {
                codec,
                width,
                height,
                ..
            } => Some((*codec, *width, *height)),
            _ => None,
        });
        assert_eq!(connected, Some((*codec, *w, *h)), "{id}");
        let rs = results(events);
        counts.push(rs.len());
        for r in &rs {
            assert_eq!((r.width, r.height), (*w, *h), "{id}");
            for d in &r.detections {
                let [x1, y1, x2, y2] = d.bbox;
                assert!(
                    0.0 <= x1
                        && x1 <= x2
                        && x2 <= *w as f32
                        && 0.0 <= y1
                        && y1 <= y2
                        && y2 <= *h as f32,
                    "{id}: {d:?}"
                );
            }
        }
        if id.starts_with("people") {
            // The same pedestrians, found at every size.
            support::at_least_a_person_per_result(&rs, id);
            // A big picture's boxes are big: mapped to the camera's pixels, not the model's.
            let widest = rs
                .iter()
                .flat_map(|r| &r.detections)
                .map(|d| d.bbox[2])
                .fold(0.0f32, f32::max);
            assert!(
                widest > *w as f32 * 0.5,
                "{id}: boxes end before x = {widest}"
            );
        }
    }
    // Newest frame wins per camera and cameras take turns: every stream gets a fair share.
    let (min, max) = (*counts.iter().min().unwrap(), *counts.iter().max().unwrap());
    assert!(
        min >= 5 && max - min <= max / 5 + 2,
        "results per stream {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_a_stream_and_a_queue_all_work_and_a_panicking_callback_is_survived() {
    let _heavy = one_at_a_time().await;
    let server = Server::start(&[pedestrians(), boxes()], None, None);
    let manager = builder().build().await.unwrap();
    // Sync callback that panics on its first result; async event callback.
    let results_seen = Arc::new(AtomicU64::new(0));
    let events_seen = Arc::new(AtomicU64::new(0));
    let (r, e) = (results_seen.clone(), events_seen.clone());
    manager
        .connect_stream(
            &server.url("/people"),
            StreamOptions::new()
                .id("callbacks")
                .on_result(move |res| {
                    if r.fetch_add(1, Ordering::SeqCst) == 0 {
                        panic!("a user bug in frame {}", res.frame_number);
                    }
                })
                .on_event_async(move |_| {
                    let e = e.clone();
                    async move {
                        e.fetch_add(1, Ordering::SeqCst);
                    }
                }),
        )
        .await
        .unwrap();
    // The seed's async generator.
    let gen_conn = manager
        .connect_stream(&server.url("/boxes"), StreamOptions::new().id("generator"))
        .await
        .unwrap();
    // The seed's queue, read from a plain thread.
    let queue = manager
        .connect_stream(&server.url("/people"), StreamOptions::new().id("queue"))
        .await
        .unwrap()
        .queue();
    let reader = std::thread::spawn(move || {
        let mut n = 0u64;
        let deadline = std::time::Instant::now() + 15 * SECS;
        while std::time::Instant::now() < deadline {
            if queue.get_blocking(Duration::from_millis(200)).is_some() {
                n += 1;
            }
        }
        n
    });
    let generated = tokio::time::timeout(
        15 * SECS,
        gen_conn.tracking_results().take(5).collect::<Vec<_>>(),
    )
    .await
    .expect("five results from the generator");
    assert!(
        generated
            .windows(2)
            .all(|w| w[0].frame_number < w[1].frame_number)
    );
    let from_queue = tokio::task::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap();
    let stats = manager.shutdown().await;
    assert_drained(&stats);
    assert!(from_queue >= 5, "queue gave {from_queue}");
    assert!(
        results_seen.load(Ordering::SeqCst) >= 5,
        "the stream went on after its callback panicked"
    );
    // Connecting, connected, then ended after the shutdown.
    assert!(events_seen.load(Ordering::SeqCst) >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_loses_only_its_own_results_counted() {
    let _heavy = one_at_a_time().await;
    let server = Server::start(&[pedestrians(), boxes()], None, None);
    let manager = builder().build().await.unwrap();
    let slow = manager
        .connect_stream(
            &server.url("/people"),
            StreamOptions::new().id("slow").result_queue(2),
        )
        .await
        .unwrap();
    let fast = manager
        .connect_stream(&server.url("/boxes"), StreamOptions::new().id("fast"))
        .await
        .unwrap();
    let slow_reader = async {
        let mut n = 0;
        let deadline = tokio::time::Instant::now() + 15 * SECS;
        while tokio::time::Instant::now() < deadline {
            match tokio::time::timeout_at(deadline, slow.next_event()).await {
                Ok(Some(_)) => n += 1,
                _ => break,
            }
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        n
    };
    let (slow_taken, fast_events) = tokio::join!(slow_reader, collect(&fast, 15 * SECS));
    let stats = manager.shutdown().await;
    assert_drained(&stats);
    let (s, f) = (&stats.streams["slow"], &stats.streams["fast"]);
    assert!(slow_taken <= 12, "{slow_taken}");
    assert!(
        s.accounting.dropped.consumer_too_slow > 10,
        "{:?}",
        s.accounting
    );
    assert_eq!(f.accounting.dropped.consumer_too_slow, 0);
    // The detector kept serving both: the fast stream got its share, not a trickle.
    let fast_results = results(&fast_events).len() as u64;
    assert!(
        fast_results * 3 >= s.accounting.results + s.accounting.dropped.consumer_too_slow,
        "fast {fast_results}, slow produced {}",
        s.accounting.results + s.accounting.dropped.consumer_too_slow
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scene_puts_objects_in_zones_and_a_snapshot_draws_the_latest_frame() {
    use rtsp_worker::Error;
    use rtsp_worker::zones::{Event, Line, Scene, Zone};

    let _heavy = one_at_a_time().await;
    let server = Server::start(
        &[format!("/walk={}", clip("people_720p25.h264"))],
        None,
        None,
    );
    let manager = builder()
        .snapshot_interval(Some(Duration::from_millis(100)))
        .build()
        .await
        .unwrap();
    // A zone with two corners is refused before anything connects.
    let bad = Scene {
        zones: vec![Zone::new("flat", vec![(0.0, 0.0), (1.0, 1.0)])],
        lines: vec![],
    };
    let e = manager
        .connect_stream(&server.url("/walk"), StreamOptions::new().scene(bad))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidConfig { .. }), "{e}");
    assert!(manager.stream_ids().is_empty());

    // The right part of the picture, where two of the three people start.
    let scene = Scene {
        zones: vec![Zone::new(
            "right",
            vec![(700.0, 0.0), (1280.0, 0.0), (1280.0, 720.0), (700.0, 720.0)],
        )],
        lines: vec![Line::new("middle", (640.0, 0.0), (640.0, 720.0))],
    };
    let walk = manager
        .connect_stream(
            &server.url("/walk"),
            StreamOptions::new().id("walk").scene(scene),
        )
        .await
        .unwrap();
    assert!(walk.snapshot().is_none(), "no frame yet");
    let events = collect(&walk, 6 * SECS).await;
    let snapshot = walk.snapshot().expect("a kept frame");
    manager.shutdown().await;

    let rs = results(&events);
    assert!(rs.len() >= 10, "{} results", rs.len());
    assert!(rs.iter().all(|r| r.zone_counts.contains_key("right")));
    assert!(rs.iter().all(|r| r.line_counts.contains_key("middle")));
    let last = rs.last().unwrap();
    assert_eq!(
        last.zone_counts["right"].get("person"),
        Some(&2),
        "{last:?}"
    );
    let inside: Vec<&str> = last
        .tracked_objects
        .iter()
        .filter(|t| t.zones == ["right"])
        .map(|t| t.class_name.as_str())
        .collect();
    assert_eq!(inside, ["person", "person"], "{last:?}");
    let entered = rs
        .iter()
        .flat_map(|r| &r.zone_events)
        .filter(|e| matches!(e, Event::Entered { zone, .. } if zone == "right"))
        .count();
    assert_eq!(entered, 2, "two people start in the zone");

    // The snapshot: a JPEG of the decoder's output (720p scaled to the model's 640 wide).
    assert!(snapshot.jpeg.starts_with(&[0xFF, 0xD8]));
    assert!(snapshot.jpeg.ends_with(&[0xFF, 0xD9]));
    assert_eq!((snapshot.width, snapshot.height), (640, 360));
    assert!(
        snapshot.frame_number >= rs[0].frame_number,
        "a recent frame"
    );
}

/// Every picture of `clip` as FFmpeg's command line decodes the whole file, in display order:
/// a hash of its YUV 4:2:0 planes.
fn reference_hashes(clip: &str, frame_bytes: usize) -> Vec<u64> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i", clip])
        .args([
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "yuv420p",
            "-",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "ffmpeg: {out:?}");
    out.stdout.chunks(frame_bytes).map(hash_of).collect()
}

fn hash_of(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_frame_streams_give_their_pictures_in_display_order_and_skip_only_what_nothing_needs() {
    let _heavy = one_at_a_time().await;
    let clips = [
        ("/b264", clip("bframes_h264_360p25.mp4")),
        ("/b265", clip("bframes_h265_360p25.mp4")),
    ];
    let mounts: Vec<String> = clips.iter().map(|(m, c)| format!("{m}={c}")).collect();
    let server = Server::start(&mounts, None, None);
    let manager = builder().build().await.unwrap();
    let mut conns = Vec::new();
    for (mount, _) in &clips {
        let options = StreamOptions::new().id(&mount[1..]).keep_frames(true);
        conns.push(
            manager
                .connect_stream(&server.url(mount), options)
                .await
                .unwrap(),
        );
    }
    let (a, b) = tokio::join!(collect(&conns[0], 6 * SECS), collect(&conns[1], 6 * SECS));
    let stats = manager.shutdown().await;
    assert_drained(&stats);
    let (w, h) = (640, 360);
    for ((mount, clip), events) in clips.iter().zip([a, b]) {
        let id = &mount[1..];
        let reference = reference_hashes(clip, w * h * 3 / 2);
        assert_eq!(reference.len(), 250, "{id}");
        let rs = results(&events);
        assert!(rs.len() >= 10, "{id}: {} results", rs.len());
        assert!(rs.windows(2).all(|p| p[0].frame_number < p[1].frame_number));
        for r in &rs {
            let image = r.frame.as_ref().expect("keep_frames");
            assert_eq!((image.width(), image.height()), (w as u32, h as u32));
            let planes = image.yuv420().expect("the CPU path keeps YUV");
            assert_eq!(
                hash_of(&planes.concat()),
                reference[r.frame_number as usize],
                "{id}: frame {} is not FFmpeg's picture {0} of the full decode",
                r.frame_number
            );
        }
        // Reordered pictures were taken (the pyramid's middle B-frame, a reference, shown
        // before the P-frame decoded ahead of it), and nothing failed to decode.
        assert!(
            rs.iter().any(|r| r.frame_number % 4 == 2),
            "{id}: no B-frame among {:?}",
            rs.iter().map(|r| r.frame_number).collect::<Vec<_>>()
        );
        let s = &stats.streams[id];
        let d = s.accounting.dropped;
        assert_eq!(d.decode_error, 0, "{id}: {:?}", s.accounting);
        // The detector takes about one frame in three here: the B-frames nothing refers to
        // were left undecoded, counted.
        assert!(d.not_decoded > 20, "{id}: {:?}", s.accounting);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detect_fps_is_honoured_and_what_is_not_needed_is_not_decoded() {
    let _heavy = one_at_a_time().await;
    let server = Server::start(&[boxes()], None, None);
    let manager = builder().build().await.unwrap();
    // 25 fps, a keyframe every 2 s: 2 pictures a second decode a prefix of each group; one
    // every 2 s is the keyframe rate, so keyframes alone.
    let capped = [("two", 2.0), ("half", 0.5)];
    let mut conns = Vec::new();
    for (id, fps) in capped {
        let options = StreamOptions::new().id(id).detect_fps(Some(fps));
        conns.push(
            manager
                .connect_stream(&server.url("/boxes"), options)
                .await
                .unwrap(),
        );
    }
    let (a, b) = tokio::join!(collect(&conns[0], 7 * SECS), async {
        let events = collect(&conns[1], 5 * SECS).await;
        let modes: Vec<&str> = manager
            .get_stats()
            .streams
            .values()
            .map(|s| s.decode_mode)
            .collect();
        (events, modes)
    });
    let (b, modes) = b;
    let b = [b, collect(&conns[1], 8 * SECS).await].concat();
    let stats = manager.shutdown().await;
    assert_drained(&stats);
    // Sorted by id: "half", "two".
    assert_eq!(modes, ["keyframes", "gop_prefix"]);
    for ((id, fps), events) in capped.iter().zip([a, b]) {
        let frames: Vec<u64> = results(&events).iter().map(|r| r.frame_number).collect();
        assert!(frames.len() >= 5, "{id}: {frames:?}");
        // The rate in the camera's time (25 fps), from the first result to the last.
        let span = (frames[frames.len() - 1] - frames[0]) as f64 / 25.0;
        let rate = (frames.len() - 1) as f64 / span;
        assert!(
            (rate - fps).abs() <= fps * 0.1,
            "{id}: {rate:.2}/s for {fps}/s: {frames:?}"
        );
        // At 2/s, the last of the 4 due pictures of a group is about 12 frames from its
        // end: those are not decoded, the rest are references on the way to a due picture.
        let d = stats.streams[*id].accounting.dropped;
        assert!(d.not_decoded > 0 && d.decode_error == 0, "{id}: {d:?}");
        if *id == "half" {
            // Keyframes only, after the first group (decoded while the interval is learnt).
            assert!(d.not_decoded > 5 * d.rate_limited, "{id}: {d:?}");
            // Once the keyframe interval is known, only keyframes (every 50th frame) decode.
            assert!(
                frames.iter().skip(1).all(|f| f % 50 == 0),
                "{id}: {frames:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wide_model_sees_a_16_9_camera_in_its_own_pixels() {
    let _heavy = one_at_a_time().await;
    assert!(
        rtsp_worker::wide_model_path().is_file(),
        "{} missing: run `cargo xtask setup`",
        rtsp_worker::wide_model_path().display()
    );
    let server = Server::start(
        &[format!("/walk={}", clip("people_720p25.h264"))],
        None,
        None,
    );
    let manager = builder().wide_input(true).build().await.unwrap();
    let conn = manager
        .connect_stream(&server.url("/walk"), StreamOptions::new().id("walk"))
        .await
        .unwrap();
    let events = collect(&conn, 6 * SECS).await;
    let stats = manager.shutdown().await;
    assert_drained(&stats);
    let rs = results(&events);
    assert!(rs.len() >= 10, "{} results", rs.len());
    support::at_least_a_person_per_result(&rs, "wide model");
    for r in &rs {
        assert_eq!((r.width, r.height), (1280, 720));
        for d in &r.detections {
            let [x1, y1, x2, y2] = d.bbox;
            assert!(0.0 <= x1 && x1 < x2 && x2 <= 1280.0, "{d:?}");
            assert!(0.0 <= y1 && y1 < y2 && y2 <= 720.0, "{d:?}");
        }
    }
    // The walkers are 1280x720's people: the tallest person box is most of the frame's
    // height (a box squeezed by a wrong letterbox would not be).
    let tallest = rs
        .iter()
        .flat_map(|r| &r.detections)
        .filter(|d| d.class_name == "person")
        .map(|d| d.bbox[3] - d.bbox[1])
        .fold(0.0f32, f32::max);
    assert!(tallest > 200.0, "tallest person {tallest}px");
}

/// Confirmed person track ids of these results.
fn person_ids(rs: &[&rtsp_worker::TrackingResult]) -> std::collections::BTreeSet<u64> {
    rs.iter()
        .flat_map(|r| &r.tracked_objects)
        .filter(|t| t.class_name == "person" && t.state == TrackState::Confirmed)
        .map(|t| t.track_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracks_go_on_in_a_new_connection_from_a_snapshot() {
    let _heavy = one_at_a_time().await;
    // Shared: a second connection sees the scene go on, as from a camera.
    let server = Server::start_with(&[pedestrians()], &["--shared"], None);
    let manager = builder().build().await.unwrap();
    let before = manager
        .connect_stream(&server.url("/people"), StreamOptions::new().id("before"))
        .await
        .unwrap();
    assert!(before.track_snapshot().is_none(), "nothing tracked yet");
    let mut a = collect(&before, 12 * SECS).await;
    // A handover: the new connection (here in the same manager; in a fleet on another
    // worker) starts from the old one's last snapshot, then the old one goes.
    let snapshot = before.track_snapshot().expect("tracked");
    let seam = a.len();
    // As a fleet would keep it: bytes, read back whole.
    let bytes = snapshot.to_bytes();
    let snapshot = rtsp_worker::TrackSnapshot::from_bytes(&bytes).unwrap();
    assert!(snapshot.tracks() > 0, "{snapshot:?}");
    assert_eq!(snapshot.frame_size(), (768, 576));
    assert!(rtsp_worker::TrackSnapshot::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    let after = manager
        .connect_stream(
            &server.url("/people"),
            StreamOptions::new().id("after").resume_tracks(snapshot),
        )
        .await
        .unwrap();
    manager.disconnect_stream("before").await.unwrap();
    while let Some(e) = before.next_event().await {
        a.push(e);
    }
    let b = collect(&after, 10 * SECS).await;
    let stats = manager.shutdown().await;
    assert_drained(&stats);

    let (ra, rb) = (results(&a), results(&b));
    let near_seam = person_ids(&ra[ra.len().saturating_sub(10)..]);
    let all_after = person_ids(&rb);
    // People in view at the seam go on with their ids ...
    assert!(
        !all_after.is_disjoint(&near_seam),
        "no id went on: near the seam {near_seam:?}, after {all_after:?}"
    );
    // ... and no id of a track that had ended before the snapshot comes back for another
    // object (tracks alive in it, shown or not, go on with theirs).
    let ended: std::collections::BTreeSet<u64> = results(&a[..seam])
        .iter()
        .flat_map(|r| &r.ended_tracks)
        .map(|t| t.track_id)
        .collect();
    let reused: Vec<_> = rb
        .iter()
        .flat_map(|r| &r.tracked_objects)
        .map(|t| t.track_id)
        .filter(|id| ended.contains(id))
        .collect();
    assert!(reused.is_empty(), "ended ids came back: {reused:?}");
}

/// A copy of the default model whose first class is called `walker`: the same network, other
/// class names (the metadata's `'person'` rewritten in place, same length).
fn model_with_other_classes() -> std::path::PathBuf {
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("walkers.onnx");
    testkit::model_with_walkers(&rtsp_worker::default_model_path(), &path);
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_is_swapped_while_a_camera_runs_and_tracks_go_on() {
    let _heavy = one_at_a_time().await;
    let server = Server::start_with(&[pedestrians()], &["--shared"], None);
    let manager = builder().build().await.unwrap();
    let conn = manager
        .connect_stream(&server.url("/people"), StreamOptions::new().id("people"))
        .await
        .unwrap();
    let a = collect(&conn, 8 * SECS).await;
    let first = manager.get_stats().model;
    assert_eq!((first.generation, first.swaps), (1, 0));
    assert_eq!(first.sha256.len(), 64);

    // Another input size, the same classes: tracks go on.
    let wide = manager
        .swap_model(rtsp_worker::wide_model_path(), false)
        .await
        .unwrap();
    assert_eq!(
        (
            wide.generation,
            wide.swaps,
            wide.input_width,
            wide.input_height
        ),
        (2, 1, 640, 384)
    );
    assert_ne!(wide.sha256, first.sha256);
    let b = collect(&conn, 8 * SECS).await;

    // What fails changes nothing and says why.
    let missing = manager.swap_model("/nonexistent/model.onnx", false).await;
    assert!(
        matches!(missing, Err(rtsp_worker::Error::ModelNotFound { .. })),
        "{missing:?}"
    );
    let walkers = model_with_other_classes();
    let other = manager.swap_model(&walkers, false).await;
    assert!(
        matches!(other, Err(rtsp_worker::Error::ModelClassesDiffer { .. })),
        "{other:?}"
    );
    assert_eq!(manager.get_stats().model, wide);
    assert_eq!(manager.class_names()[0], "person");

    // Other classes, tracks may restart: they end, and new ones are walkers.
    let restarted = manager.swap_model(&walkers, true).await.unwrap();
    assert_eq!(restarted.generation, 3);
    assert_eq!(manager.class_names()[0], "walker");
    let c = collect(&conn, 8 * SECS).await;
    let stats = manager.shutdown().await;
    assert_drained(&stats);
    let people = &stats.streams["people"].accounting;
    assert_eq!(people.dropped.inference_failed, 0, "{people:?}");

    let (ra, rb, rc) = (results(&a), results(&b), results(&c));
    let near_seam = person_ids(&ra[ra.len().saturating_sub(10)..]);
    assert!(
        !person_ids(&rb).is_disjoint(&near_seam),
        "no id went on across the swap: near it {near_seam:?}, after {:?}",
        person_ids(&rb)
    );
    let before: std::collections::BTreeSet<u64> = ra
        .iter()
        .chain(&rb)
        .flat_map(|r| &r.tracked_objects)
        .map(|t| t.track_id)
        .collect();
    let ended: std::collections::BTreeSet<u64> = rc
        .iter()
        .flat_map(|r| &r.ended_tracks)
        .map(|t| t.track_id)
        .collect();
    let live_at_swap: std::collections::BTreeSet<u64> = rb
        .last()
        .unwrap()
        .tracked_objects
        .iter()
        .map(|t| t.track_id)
        .collect();
    assert!(
        live_at_swap.is_subset(&ended),
        "the tracks live at the swap end: {live_at_swap:?}, ended {ended:?}"
    );
    // They end together, on one result that says why.
    let seam: Vec<&rtsp_worker::TrackingResult> = rc
        .iter()
        .copied()
        .filter(|r| r.tracks_restarted.is_some())
        .collect();
    assert_eq!(seam.len(), 1, "one result restarts the tracks");
    assert_eq!(seam[0].tracks_restarted, Some("model_changed"));
    let on_seam: std::collections::BTreeSet<u64> =
        seam[0].ended_tracks.iter().map(|t| t.track_id).collect();
    assert!(
        !on_seam.is_empty() && on_seam.is_subset(&before),
        "the old model's tracks end on the seam: {on_seam:?}"
    );
    let last = &rc[rc.len() - 5..];
    let walker_ids: Vec<u64> = last
        .iter()
        .flat_map(|r| &r.tracked_objects)
        .filter(|t| {
            assert_ne!(t.class_name, "person", "{t:?}");
            t.class_id == 0
        })
        .map(|t| {
            assert_eq!(t.class_name, "walker", "{t:?}");
            t.track_id
        })
        .collect();
    assert!(!walker_ids.is_empty(), "the walkers model found no one");
    let max_before = before.iter().max().copied().unwrap_or(0);
    assert!(
        walker_ids.iter().all(|id| *id > max_before),
        "new tracks take new ids: {walker_ids:?} after {max_before}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zones_and_line_counts_go_on_across_a_snapshot() {
    use rtsp_worker::zones::{Event, Line, Scene, Zone};
    let _heavy = one_at_a_time().await;
    let server = Server::start_with(&[pedestrians()], &["--shared"], None);
    let manager = builder().build().await.unwrap();
    // The pedestrian clip (768x576): people walk up and down; the lower half is a zone and
    // a line across the middle counts them.
    let scene = Scene {
        zones: vec![Zone::new(
            "lower",
            vec![(0.0, 288.0), (768.0, 288.0), (768.0, 576.0), (0.0, 576.0)],
        )],
        lines: vec![Line::new("middle", (0.0, 250.0), (768.0, 250.0))],
    };
    let options = || StreamOptions::new().scene(scene.clone());
    let before = manager
        .connect_stream(&server.url("/people"), options().id("before"))
        .await
        .unwrap();
    let a = collect(&before, 15 * SECS).await;
    manager.disconnect_stream("before").await.unwrap();
    let snapshot = before.track_snapshot().expect("tracked");
    let ra = results(&a);
    let last = ra.last().expect("results before");
    let inside: std::collections::BTreeSet<u64> = last
        .tracked_objects
        .iter()
        .filter(|t| t.zones.iter().any(|z| z == "lower"))
        .map(|t| t.track_id)
        .collect();
    let counted = last.line_counts["middle"].clone();
    let after = manager
        .connect_stream(
            &server.url("/people"),
            options().id("after").resume_tracks(snapshot),
        )
        .await
        .unwrap();
    let b = collect(&after, 6 * SECS).await;
    manager.shutdown().await;
    let rb = results(&b);
    assert!(!rb.is_empty());
    // The crossings counted before go on: never below what was counted.
    for r in &rb {
        let c = &r.line_counts["middle"];
        for (label, n) in &counted.in_ {
            assert!(c.in_of(label) >= *n, "in {label}: {c:?} after {counted:?}");
        }
        for (label, n) in &counted.out {
            assert!(
                c.out_of(label) >= *n,
                "out {label}: {c:?} after {counted:?}"
            );
        }
    }
    // Who was inside at the seam does not enter again.
    let entered_again: Vec<u64> = rb
        .iter()
        .flat_map(|r| &r.zone_events)
        .filter_map(|e| match e {
            Event::Entered { track_id, .. } if inside.contains(track_id) => Some(*track_id),
            _ => None,
        })
        .collect();
    assert!(
        entered_again.is_empty(),
        "inside at the seam, entered again: {entered_again:?}"
    );
    assert!(
        counted
            .in_
            .values()
            .chain(counted.out.values())
            .sum::<u64>()
            > 0
            || !inside.is_empty(),
        "the scene saw nothing before the seam: the test shows nothing"
    );
}
