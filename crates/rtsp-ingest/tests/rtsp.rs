//! Against a real RTSP server on loopback (GStreamer's, serving the setup's clips): codecs and
//! transports, timing, reconnects, typed errors, several sessions at once.

mod common;

use std::time::{Duration, Instant};

use common::{Server, clip, frames, next, until};
use rtsp_ingest::{
    Backoff, Codec, Credentials, EndReason, Error, Event, SessionOptions, Stage, State, Transport,
};

const SECS: Duration = Duration::from_secs(1);

fn quick_backoff() -> Backoff {
    Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(400),
        multiplier: 2.0,
        jitter: 0.1,
    }
}

async fn check_stream(file: &str, codec: Codec, transport: Transport) {
    let server = Server::start(&[format!("/cam={}", clip(file))], None, None);
    let options = SessionOptions::default().transport(transport);
    let mut cam = rtsp_ingest::connect(&server.url("/cam"), options).unwrap();
    assert!(matches!(
        next(&mut cam, 5 * SECS, "Connecting").await,
        Event::Connecting { attempt: 1 }
    ));
    let Event::Connected {
        params,
        transport: t,
    } = until(&mut cam, 15 * SECS, "Connected", |e| {
        matches!(e, Event::Connected { .. })
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(t, Some(transport));
    assert_eq!(
        (params.codec, params.width, params.height),
        (codec, 1280, 720)
    );
    assert!(!params.sps.is_empty() && !params.pps.is_empty());
    assert_eq!(params.vps.is_some(), codec == Codec::H265);

    let started = Instant::now();
    let got = frames(&mut cam, 110).await;
    let took = started.elapsed();
    // The first unit starts a decodable stream.
    assert!(
        got[0].keyframe && got[0].resync,
        "first unit must be a flagged keyframe"
    );
    assert!(got[1..].iter().all(|a| !a.resync));
    // Annex B with parameter sets before each keyframe.
    for a in got.iter().filter(|a| a.keyframe) {
        assert_eq!(&a.data[..4], &[0, 0, 0, 1]);
        let first_nal_type = match codec {
            Codec::H264 => a.data[4] & 0x1f,
            Codec::H265 => (a.data[4] >> 1) & 0x3f,
        };
        assert!(
            matches!(first_nal_type, 7 | 9 | 32 | 35),
            "keyframe starts with NAL type {first_nal_type}"
        );
    }
    // Keyframes every 50 frames (the clip's GOP), frames 40 ms apart in RTP time.
    let keys: Vec<u64> = got
        .iter()
        .filter(|a| a.keyframe)
        .map(|a| a.frame_number)
        .collect();
    assert!(keys.len() >= 2, "keyframes at {keys:?}");
    assert!(
        keys.windows(2).all(|w| w[1] - w[0] == 50),
        "keyframes at {keys:?}"
    );
    for w in got.windows(2) {
        assert_eq!(w[1].frame_number, w[0].frame_number + 1);
        assert_eq!(
            w[1].rtp_timestamp - w[0].rtp_timestamp,
            3600,
            "25 fps at 90 kHz"
        );
    }
    // Real-time pacing, loosely (a correctness check, not a benchmark): 110 frames at 25 fps.
    assert!(
        took > Duration::from_millis(1500) && took < 12 * SECS,
        "110 frames took {took:?}"
    );
    let stats = cam.stats();
    assert_eq!(stats.state, State::Playing);
    assert!(stats.frames >= 110 && stats.keyframes >= 2 && stats.bytes > 0);
    assert_eq!(
        stats.frames,
        stats.delivered + stats.drops.total() + stats.queued
    );
    assert!((15.0..40.0).contains(&stats.fps), "fps {}", stats.fps);
    cam.stop();
    let end = until(&mut cam, 5 * SECS, "Ended", |e| {
        matches!(e, Event::Ended { .. })
    })
    .await;
    assert!(matches!(
        end,
        Event::Ended {
            reason: EndReason::Stopped
        }
    ));
    assert!(cam.next().await.is_none());
}

/// The session's `Ended` event, within 15 s.
async fn ended(cam: &mut rtsp_ingest::Camera) -> Event {
    until(cam, 15 * SECS, "Ended", |e| {
        matches!(e, Event::Ended { .. })
    })
    .await
}

/// One test per codec and transport, run side by side.
macro_rules! stream_tests {
    ($($name:ident: $clip:literal, $codec:ident, $transport:ident;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            check_stream($clip, Codec::$codec, Transport::$transport).await;
        }
    )*};
}

stream_tests! {
    h264_over_tcp: "h264_720p25.h264", H264, Tcp;
    h265_over_tcp: "h265_720p25.h265", H265, Tcp;
    h264_over_udp: "h264_720p25.h264", H264, Udp;
    h265_over_udp: "h265_720p25.h265", H265, Udp;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wall_clock_syncs_from_sender_reports() {
    let server = Server::start(&[format!("/cam={}", clip("h264_720p25.h264"))], None, None);
    let mut cam = rtsp_ingest::connect(&server.url("/cam"), SessionOptions::default()).unwrap();
    let synced = until(
        &mut cam,
        20 * SECS,
        "a frame with synced wall clock",
        |e| matches!(e, Event::Frame(a) if a.wall_clock_synced),
    )
    .await;
    let Event::Frame(au) = synced else {
        unreachable!()
    };
    // The server's clock is this machine's: the camera time is within a second of now.
    let skew = std::time::SystemTime::now()
        .duration_since(au.wall_clock)
        .unwrap_or_else(|e| e.duration());
    assert!(
        skew < 2 * SECS,
        "wall clock {:?} off by {skew:?}",
        au.wall_clock
    );
    assert!(cam.stats().wall_clock_synced);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_comes_back_after_the_server_dies() {
    let mounts = [format!("/cam={}", clip("h264_720p25.h264"))];
    let server = Server::start(&mounts, None, None);
    let options = SessionOptions::default()
        .backoff(quick_backoff())
        .stall_timeout(2 * SECS);
    let mut cam = rtsp_ingest::connect(&server.url("/cam"), options).unwrap();
    let before = frames(&mut cam, 10).await;
    let port = server.kill();

    // Stalled or a lost connection, then reconnect attempts against a dead port.
    until(&mut cam, 10 * SECS, "Reconnecting", |e| {
        matches!(e, Event::Reconnecting { .. })
    })
    .await;
    let refused = until(&mut cam, 10 * SECS, "a refused reconnect", |e| {
        matches!(
            e,
            Event::Reconnecting {
                error: Error::ConnectionRefused { .. },
                ..
            }
        )
    })
    .await;
    assert!(matches!(refused, Event::Reconnecting { attempt, .. } if attempt >= 2));

    let _server = Server::start(&mounts, None, Some(port));
    until(&mut cam, 15 * SECS, "Connected again", |e| {
        matches!(e, Event::Connected { .. })
    })
    .await;
    let after = frames(&mut cam, 30).await;
    assert!(
        after[0].keyframe && after[0].resync,
        "the first unit after a reconnect resyncs"
    );
    assert!(after[0].frame_number > before[9].frame_number);
    let stats = cam.stats();
    assert!(stats.reconnects >= 2, "reconnects {}", stats.reconnects);
    assert_eq!(stats.state, State::Playing);
    assert_eq!(
        stats.frames,
        stats.delivered + stats.drops.total() + stats.queued
    );
}

/// The transport of the next `Connected`.
async fn connected_over(cam: &mut rtsp_ingest::Camera) -> Option<Transport> {
    match until(cam, 15 * SECS, "Connected", |e| {
        matches!(e, Event::Connected { .. })
    })
    .await
    {
        Event::Connected { transport, .. } => transport,
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_transport_falls_back_to_udp_and_remembers_it() {
    let mounts = [format!("/cam={}", clip("h264_720p25.h264"))];
    // Like some cameras and servers: UDP only, TCP refused with 461.
    let server = Server::start_with(&mounts, &["--protocols", "udp"], None);
    let options = SessionOptions::default()
        .backoff(quick_backoff())
        .stall_timeout(2 * SECS);
    let mut cam = rtsp_ingest::connect(&server.url("/cam"), options).unwrap();
    assert_eq!(connected_over(&mut cam).await, Some(Transport::Udp));
    assert_eq!(frames(&mut cam, 10).await.len(), 10);
    let stats = cam.stats();
    assert_eq!(
        (stats.transport, stats.transport_in_use),
        (Transport::Auto, Some(Transport::Udp))
    );
    assert_eq!(stats.reconnects, 0, "the fallback is not a reconnect");
    // After a restart the session goes straight back to UDP.
    let port = server.kill();
    let _server = Server::start_with(&mounts, &["--protocols", "udp"], Some(port));
    assert_eq!(connected_over(&mut cam).await, Some(Transport::Udp));
    assert_eq!(frames(&mut cam, 10).await.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transport_the_server_refuses_ends_the_session_with_a_typed_error() {
    let mounts = [format!("/cam={}", clip("h264_720p25.h264"))];
    let udp_only = Server::start_with(&mounts, &["--protocols", "udp"], None);
    let tcp_only = Server::start_with(&mounts, &["--protocols", "tcp"], None);
    // Auto takes what a TCP-only server offers.
    let mut cam = rtsp_ingest::connect(&tcp_only.url("/cam"), SessionOptions::default()).unwrap();
    assert_eq!(connected_over(&mut cam).await, Some(Transport::Tcp));
    // An explicit transport the server refuses is permanent, not a retry loop.
    for (server, asked, tried) in [
        (&udp_only, Transport::Tcp, "TCP"),
        (&tcp_only, Transport::Udp, "UDP"),
    ] {
        let options = SessionOptions::default()
            .transport(asked)
            .backoff(quick_backoff());
        let mut cam = rtsp_ingest::connect(&server.url("/cam"), options).unwrap();
        let ended = until(&mut cam, 15 * SECS, "Ended", |e| {
            matches!(e, Event::Ended { .. })
        })
        .await;
        match ended {
            Event::Ended {
                reason: EndReason::Failed(Error::UnsupportedTransport { tried: t, .. }),
            } => assert_eq!(t, tried),
            other => panic!("{asked:?}: {other:?}"),
        }
        assert_eq!(cam.stats().reconnects, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handle_reads_stats_and_stops_while_another_task_consumes() {
    let server = Server::start(&[format!("/cam={}", clip("h264_720p25.h264"))], None, None);
    let mut cam = rtsp_ingest::connect(&server.url("/cam"), SessionOptions::default()).unwrap();
    let handle = cam.handle();
    let consumer = tokio::spawn(async move {
        let mut frames = 0;
        while let Some(e) = cam.next().await {
            match e {
                Event::Frame(_) => frames += 1,
                Event::Ended { reason } => return (frames, reason),
                _ => {}
            }
        }
        panic!("no Ended event")
    });
    let deadline = Instant::now() + 15 * SECS;
    while handle.stats().delivered < 20 {
        assert!(Instant::now() < deadline, "{:?}", handle.stats());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(handle.state(), State::Playing);
    assert!(!handle.url().to_string().is_empty());
    handle.clone().stop();
    let (frames, reason) = consumer.await.unwrap();
    assert_eq!(reason, EndReason::Stopped);
    assert!(frames >= 20);
    assert_eq!(handle.state(), State::Ended);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_sessions_on_one_server() {
    let server = Server::start(
        &[
            format!("/a={}", clip("h264_720p25.h264")),
            format!("/b={}", clip("h265_720p25.h265")),
        ],
        None,
        None,
    );
    let mut cams: Vec<_> = ["/a", "/b", "/a", "/b"]
        .iter()
        .map(|m| rtsp_ingest::connect(&server.url(m), SessionOptions::default()).unwrap())
        .collect();
    let mut tasks = Vec::new();
    for mut cam in cams.drain(..) {
        tasks.push(tokio::spawn(async move {
            let got = frames(&mut cam, 30).await;
            (got[0].params.codec, got.len(), cam.stats().drops.total())
        }));
    }
    let mut codecs = Vec::new();
    for t in tasks {
        let (codec, n, drops) = t.await.unwrap();
        assert_eq!((n, drops), (30, 0));
        codecs.push(codec);
    }
    assert_eq!(
        codecs,
        vec![Codec::H264, Codec::H265, Codec::H264, Codec::H265]
    );
}

fn assert_redacted(e: &Error, secret: &str) {
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(secret), "password leaked: {shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gives_distinct_typed_errors() {
    let server = Server::start(
        &[
            format!("/cam={}", clip("h264_720p25.h264")),
            "/mjpeg=testsrc:jpeg".to_owned(),
        ],
        None,
        None,
    );
    let auth = Server::start(
        &[format!("/secure={}", clip("h264_720p25.h264"))],
        Some("alice:wonderland"),
        None,
    );
    let opts = || SessionOptions::default().connect_timeout(5 * SECS);

    let e = rtsp_ingest::probe(&server.url("/nope"), opts())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::NotFound {
                stage: Stage::Describe,
                ..
            }
        ),
        "{e:?}"
    );

    // A port nothing listens on: bind one, note it, close it.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = rtsp_ingest::probe(&format!("rtsp://127.0.0.1:{free}/cam"), opts())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ConnectionRefused { .. }), "{e:?}");

    let secure = format!("rtsp://alice:wrong-pass@127.0.0.1:{}/secure", auth.port);
    let e = rtsp_ingest::probe(&secure, opts()).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::Unauthorized {
                stage: Stage::Describe,
                ..
            }
        ),
        "{e:?}"
    );
    assert_redacted(&e, "wrong-pass");
    assert!(e.to_string().contains("alice:***@"), "{e}");

    let e = rtsp_ingest::probe(&auth.url("/secure"), opts())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Unauthorized { .. }),
        "no credentials: {e:?}"
    );

    let ok = rtsp_ingest::probe(
        &auth.url("/secure"),
        opts().credentials(Some(Credentials::new("alice", "wonderland"))),
    )
    .await
    .unwrap();
    assert_eq!((ok.codec, ok.width), (Codec::H264, 1280));
    let ok = rtsp_ingest::probe(
        &format!("rtsp://alice:wonderland@127.0.0.1:{}/secure", auth.port),
        opts(),
    )
    .await;
    assert!(ok.is_ok(), "{ok:?}");

    let e = rtsp_ingest::probe(&server.url("/mjpeg"), opts())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::UnsupportedCodec { encoding, .. } if encoding == "jpeg"),
        "{e:?}"
    );

    for bad in [
        "rtsp//nohost",
        "http://alice:topsecret@127.0.0.1/x",
        "rtsp://alice:topsecret@[::1/x",
    ] {
        let e = rtsp_ingest::connect(bad, SessionOptions::default()).unwrap_err();
        assert!(matches!(e, Error::InvalidUrl { .. }), "{bad}: {e:?}");
        assert_redacted(&e, "topsecret");
    }

    // A name under the reserved .invalid top-level domain never resolves (RFC 6761).
    let e = rtsp_ingest::probe("rtsp://rtsp-worker-test.invalid/cam", opts())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Dns { host, .. } if host == "rtsp-worker-test.invalid"),
        "{e:?}"
    );

    // A server that accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let _keep = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let e = rtsp_ingest::probe(
        &format!("rtsp://127.0.0.1:{silent_port}/cam"),
        SessionOptions::default().connect_timeout(Duration::from_millis(500)),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Timeout {
                stage: Stage::Describe,
                ..
            }
        ),
        "{e:?}"
    );

    // The errors are all different kinds, and none is permanent except the codec.
    assert!(
        Error::UnsupportedCodec {
            url: rtsp_ingest::RedactedUrl::from_text("rtsp://x"),
            encoding: "jpeg".into()
        }
        .is_permanent()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_reach_the_event_stream_and_the_give_up_policy() {
    let auth = Server::start(
        &[format!("/secure={}", clip("h264_720p25.h264"))],
        Some("alice:wonderland"),
        None,
    );
    let url = format!("rtsp://alice:not-it@127.0.0.1:{}/secure", auth.port);
    let options = SessionOptions::default()
        .backoff(quick_backoff())
        .give_up_after(Some(3));
    let mut cam = rtsp_ingest::connect(&url, options).unwrap();
    let mut reconnects = 0;
    let reason = loop {
        match next(&mut cam, 15 * SECS, "events").await {
            Event::Reconnecting { error, .. } => {
                assert!(matches!(error, Error::Unauthorized { .. }), "{error:?}");
                reconnects += 1;
            }
            Event::Ended { reason } => break reason,
            _ => {}
        }
    };
    assert_eq!(reconnects, 2);
    let EndReason::GaveUp { attempts: 3, error } = reason else {
        panic!("{reason:?}")
    };
    assert_redacted(&error, "not-it");
    let stats = cam.stats();
    assert_eq!(stats.state, State::Ended);
    assert!(matches!(stats.last_error, Some(Error::Unauthorized { .. })));
    assert!(!format!("{stats:?}").contains("not-it"));

    // Refused credentials alone can end it, while other errors still retry forever.
    let options = SessionOptions::default()
        .backoff(quick_backoff())
        .give_up_after_unauthorized(Some(2));
    let mut cam = rtsp_ingest::connect(&url, options).unwrap();
    let end = ended(&mut cam).await;
    assert!(
        matches!(
            end,
            Event::Ended {
                reason: EndReason::GaveUp {
                    attempts: 2,
                    error: Error::Unauthorized { .. }
                }
            }
        ),
        "{end:?}"
    );

    // An unsupported codec ends the session at once: retrying cannot help.
    let server = Server::start(&["/mjpeg=testsrc:jpeg".to_owned()], None, None);
    let mut cam = rtsp_ingest::connect(&server.url("/mjpeg"), SessionOptions::default()).unwrap();
    let end = ended(&mut cam).await;
    assert!(
        matches!(
            end,
            Event::Ended {
                reason: EndReason::Failed(Error::UnsupportedCodec { .. })
            }
        ),
        "{end:?}"
    );
}
