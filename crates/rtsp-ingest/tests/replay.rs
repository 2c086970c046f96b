//! The replay source: same events as a camera, from the setup's clips.

mod common;

use std::time::Duration;

use common::{clip, clips, next};
use rtsp_ingest::{Codec, EndReason, Error, Event, ReplayOptions};

const SECS: Duration = Duration::from_secs(1);

async fn play_all(file: &str, options: ReplayOptions) -> (Vec<Event>, rtsp_ingest::IngestStats) {
    let mut cam = rtsp_ingest::replay(clips().join(file), options).unwrap();
    let mut events = Vec::new();
    while let Some(e) = tokio::time::timeout(30 * SECS, cam.next())
        .await
        .expect("replay stalled")
    {
        events.push(e);
    }
    (events, cam.stats())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clip_plays_once_with_its_keyframes_and_parameters() {
    let (events, stats) = play_all(
        "boxes_720p25.h264",
        ReplayOptions::default().looping(false).fps(Some(1000.0)),
    )
    .await;
    assert!(matches!(events[0], Event::Connecting { attempt: 1 }));
    let Event::Connected {
        params,
        transport: None,
    } = &events[1]
    else {
        panic!("{:?}", events[1])
    };
    assert_eq!(
        (params.codec, params.width, params.height),
        (Codec::H264, 1280, 720)
    );
    assert_eq!(params.frame_rate.map(|(n, d)| n / d), Some(25));
    let frames: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Frame(a) => Some(a),
            _ => None,
        })
        .collect();
    assert_eq!(frames.len(), 250, "10 s at 25 fps");
    let keys: Vec<u64> = frames
        .iter()
        .filter(|a| a.keyframe)
        .map(|a| a.frame_number)
        .collect();
    assert_eq!(keys, vec![0, 50, 100, 150, 200]);
    assert!(frames[0].resync && frames.iter().skip(1).all(|a| !a.resync));
    assert!(matches!(
        events.last(),
        Some(Event::Ended {
            reason: EndReason::EndOfFile
        })
    ));
    assert_eq!(
        (stats.frames, stats.delivered, stats.drops.total()),
        (250, 250, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_of_every_clip() {
    let cases = [
        ("h264_720p25.h264", Codec::H264, 1280, 720),
        ("h265_720p25.h265", Codec::H265, 1280, 720),
        ("h264_1080p25.h264", Codec::H264, 1920, 1080),
        ("h265_1080p25.h265", Codec::H265, 1920, 1080),
        ("vtest_576p10.h264", Codec::H264, 768, 576),
    ];
    for (file, codec, w, h) in cases {
        let mut cam = rtsp_ingest::replay(clips().join(file), ReplayOptions::default()).unwrap();
        let _connecting = next(&mut cam, 5 * SECS, "Connecting").await;
        let Event::Connected { params, .. } = next(&mut cam, 5 * SECS, "Connected").await else {
            panic!("{file}: no Connected")
        };
        assert_eq!(
            (params.codec, params.width, params.height),
            (codec, w, h),
            "{file}"
        );
        assert_eq!(params.vps.is_some(), codec == Codec::H265, "{file}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_loses_whole_gops_and_everything_is_counted() {
    let mut cam = rtsp_ingest::replay(
        clip("h264_720p25.h264"),
        ReplayOptions::default()
            .looping(false)
            .fps(Some(2000.0))
            .queue_frames(20),
    )
    .unwrap();
    // Do not read while the clip plays (250 frames in ~0.125 s).
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut frames = Vec::new();
    while let Some(e) = cam.next().await {
        if let Event::Frame(a) = e {
            frames.push(a);
        }
    }
    let stats = cam.stats();
    assert!(stats.drops.queue_overflow > 0, "{stats:?}");
    assert_eq!(stats.frames, 250);
    assert_eq!(
        stats.frames,
        stats.delivered + stats.drops.total() + stats.queued
    );
    assert_eq!(frames.len() as u64, stats.delivered);
    // Whatever survived still decodes: it starts at a keyframe, and after each gap comes a
    // keyframe flagged for resync.
    assert!(frames[0].keyframe && frames[0].resync);
    for w in frames.windows(2) {
        if w[1].frame_number != w[0].frame_number + 1 {
            assert!(
                w[1].keyframe && w[1].resync,
                "gap {} -> {}",
                w[0].frame_number,
                w[1].frame_number
            );
        }
    }
    // The newest group of pictures won (keyframes every 50 frames).
    assert!(
        frames.iter().all(|a| a.frame_number >= 200),
        "{:?}",
        frames.iter().map(|a| a.frame_number).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_a_looping_replay() {
    let mut cam = rtsp_ingest::replay(
        clip("h265_720p25.h265"),
        ReplayOptions::default().fps(Some(200.0)),
    )
    .unwrap();
    let mut n = 0;
    while n < 300 {
        if let Event::Frame(_) = next(&mut cam, 5 * SECS, "frames").await {
            n += 1;
        }
    }
    cam.stop();
    loop {
        if let Event::Ended { reason } = next(&mut cam, 5 * SECS, "Ended").await {
            assert_eq!(reason, EndReason::Stopped);
            break;
        }
    }
    assert!(cam.next().await.is_none());
}

#[tokio::test]
async fn unreadable_files_are_typed_errors() {
    let e = rtsp_ingest::replay("/nonexistent/clip.h264", ReplayOptions::default()).unwrap_err();
    assert!(matches!(e, Error::Replay { .. }), "{e:?}");
    let gt = clips().join("boxes_720p25.gt.txt");
    let e = rtsp_ingest::replay(&gt, ReplayOptions::default()).unwrap_err();
    assert!(
        matches!(&e, Error::Replay { message, .. } if message.contains("Annex B")),
        "{e:?}"
    );
    // Truncated inside the first parameter sets.
    let data = std::fs::read(clip("h264_720p25.h264")).unwrap();
    let dir = std::env::temp_dir().join(format!("rtsp-ingest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cut = dir.join("cut.h264");
    std::fs::write(&cut, &data[..12]).unwrap();
    let e = rtsp_ingest::replay(&cut, ReplayOptions::default()).unwrap_err();
    assert!(matches!(e, Error::Replay { .. }), "{e:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn replay_outside_a_runtime_is_an_error() {
    let e = rtsp_ingest::replay(clip("h264_720p25.h264"), ReplayOptions::default()).unwrap_err();
    assert_eq!(e, Error::NoRuntime);
}
