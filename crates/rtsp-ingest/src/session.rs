//! RTSP sessions on retina: connect, play, receive, and reconnect with backoff, forever by
//! default.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::StreamExt;
use retina::client::{self, Demuxed, PlayOptions, SetupOptions};
use retina::codec::{CodecItem, FrameFormat};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::camera::{Camera, Shared};
use crate::stats::State;
use crate::url::CameraUrl;
use crate::{
    AccessUnit, CodecParameters, EndReason, Error, Event, SessionOptions, Stage, Transport,
};

/// Starts a session on the current tokio runtime and returns its handle at once; connection
/// progress, frames and failures arrive as [`Event`]s.
///
/// # Errors
///
/// [`Error::InvalidUrl`] for a URL that is not `rtsp://host…`, and
/// [`Error::NoRuntime`] outside a tokio runtime. Everything else is an event.
pub fn connect(url: &str, options: SessionOptions) -> Result<Camera, Error> {
    let url = CameraUrl::parse(url, options.credentials.clone())?;
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
    let shared = Arc::new(Shared::new(
        url.redacted.clone(),
        options.transport,
        options.queue_frames,
    ));
    let (stop_tx, stop_rx) = watch::channel(false);
    let redacted = url.redacted.clone();
    runtime.spawn(run(url, options, shared.clone(), stop_rx));
    Ok(Camera::new(shared, Arc::new(stop_tx), redacted))
}

/// Connects once, waits for the first keyframe and returns the stream's parameters: a quick
/// check of a camera's URL and credentials, with the typed error if it fails.
///
/// # Errors
///
/// Whatever stopped the first attempt.
pub async fn probe(url: &str, options: SessionOptions) -> Result<CodecParameters, Error> {
    let url = CameraUrl::parse(url, options.credentials.clone())?;
    let mut preferred = first_transport(options.transport);
    let (mut demuxed, stream, _) = open_with_fallback(&url, &options, &mut preferred).await?;
    let deadline = tokio::time::Instant::now() + options.stall_timeout;
    loop {
        let item = tokio::time::timeout_at(deadline, demuxed.next())
            .await
            .map_err(|_| Error::Stalled {
                url: url.redacted.clone(),
                after: options.stall_timeout,
            })?;
        match item {
            Some(Ok(CodecItem::VideoFrame(f)))
                if f.stream_id() == stream && f.is_random_access_point() =>
            {
                return params_of(&demuxed, stream, &url);
            }
            Some(Ok(_)) => {}
            Some(Err(e)) if is_packet_error(&e) => {}
            Some(Err(e)) => return Err(map_error(&url, Stage::Receive, &e)),
            None => {
                return Err(Error::Protocol {
                    url: url.redacted.clone(),
                    stage: Stage::Receive,
                    message: "the server ended the stream".into(),
                });
            }
        }
    }
}

/// Why one connection ended.
enum Outcome {
    Stopped,
    Lost(Error),
}

async fn run(
    url: CameraUrl,
    options: SessionOptions,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut rng = Rng::new(&url.redacted.to_string());
    let mut failures = 0u32;
    let mut unauthorized = 0u32;
    let mut frame_number = 0u64;
    // Under `Auto`, what worked last is tried first.
    let mut preferred = first_transport(options.transport);
    let reason = loop {
        shared.set_state(State::Connecting);
        shared.emit(Event::Connecting {
            attempt: failures + 1,
        });
        shared.restart();
        debug!(url = %url.redacted, attempt = failures + 1, "connecting");
        let opened = tokio::select! {
            biased;
            _ = stopped(&mut stop) => break EndReason::Stopped,
            r = open_with_fallback(&url, &options, &mut preferred) => r,
        };
        let error = match opened {
            Ok((demuxed, stream, transport)) => {
                shared.stats().snapshot.transport_in_use = Some(transport);
                match receive(
                    &url,
                    &options,
                    &shared,
                    &mut stop,
                    Connection {
                        demuxed,
                        stream,
                        transport,
                    },
                    &mut frame_number,
                    &mut failures,
                )
                .await
                {
                    Outcome::Stopped => break EndReason::Stopped,
                    Outcome::Lost(e) => e,
                }
            }
            Err(e) => e,
        };
        failures += 1;
        shared.set_error(&error);
        if error.is_permanent() {
            warn!(url = %url.redacted, %error, "giving up: the error is permanent");
            break EndReason::Failed(error);
        }
        unauthorized = match error {
            Error::Unauthorized { .. } => unauthorized + 1,
            _ => 0,
        };
        if options
            .give_up_after_unauthorized
            .is_some_and(|n| unauthorized >= n)
        {
            warn!(url = %url.redacted, %error, unauthorized, "giving up: credentials refused");
            break EndReason::GaveUp {
                attempts: failures,
                error,
            };
        }
        if options.give_up_after.is_some_and(|n| failures >= n) {
            warn!(url = %url.redacted, %error, failures, "giving up");
            break EndReason::GaveUp {
                attempts: failures,
                error,
            };
        }
        let delay = options.backoff.delay(failures, rng.next_f64());
        info!(url = %url.redacted, %error, ?delay, "reconnecting");
        shared.stats().snapshot.reconnects += 1;
        shared.set_state(State::Backoff);
        shared.emit(Event::Reconnecting {
            attempt: failures + 1,
            delay,
            error,
        });
        tokio::select! {
            biased;
            _ = stopped(&mut stop) => break EndReason::Stopped,
            () = tokio::time::sleep(delay) => {}
        }
    };
    shared.set_state(State::Ended);
    shared.emit(Event::Ended { reason });
}

/// Resolves when the camera asks to stop (or its handle is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|&s| s).await;
}

/// The transport to try first for what the options ask.
fn first_transport(asked: Transport) -> Transport {
    match asked {
        Transport::Auto | Transport::Tcp => Transport::Tcp,
        Transport::Udp => Transport::Udp,
    }
}

/// Opens a connection over `preferred`; under [`Transport::Auto`], if the server refuses it,
/// over the other one, which becomes the preferred one. Returns the transport in use.
async fn open_with_fallback(
    url: &CameraUrl,
    options: &SessionOptions,
    preferred: &mut Transport,
) -> Result<(Demuxed, usize, Transport), Error> {
    let first = *preferred;
    let refused = match open(url, options, first).await {
        Ok((demuxed, stream)) => return Ok((demuxed, stream, first)),
        Err(Error::UnsupportedTransport { .. }) if options.transport == Transport::Auto => first,
        Err(e) => return Err(e),
    };
    let second = match refused {
        Transport::Udp => Transport::Tcp,
        _ => Transport::Udp,
    };
    debug!(url = %url.redacted, %refused, %second, "transport refused, trying the other");
    match open(url, options, second).await {
        Ok((demuxed, stream)) => {
            *preferred = second;
            Ok((demuxed, stream, second))
        }
        Err(Error::UnsupportedTransport { url, message, .. }) => Err(Error::UnsupportedTransport {
            url,
            tried: "TCP and UDP",
            message,
        }),
        Err(e) => Err(e),
    }
}

/// DNS, TCP, DESCRIBE, SETUP over `transport` (TCP or UDP) and PLAY, each under the connect
/// timeout.
async fn open(
    url: &CameraUrl,
    options: &SessionOptions,
    transport: Transport,
) -> Result<(Demuxed, usize), Error> {
    let limit = options.connect_timeout;
    let timeout = |stage| Error::Timeout {
        url: url.redacted.clone(),
        stage,
        after: limit,
    };
    let host = url.url.host_str().unwrap_or_default().to_owned();
    let port = url.url.port().unwrap_or(554);
    // Resolve first, so that a name that does not resolve is told apart from a refusal.
    let host_for_lookup = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    match tokio::time::timeout(limit, tokio::net::lookup_host((host_for_lookup, port))).await {
        Err(_) => return Err(timeout(Stage::Connect)),
        Ok(Err(e)) => {
            return Err(Error::Dns {
                url: url.redacted.clone(),
                host,
                message: e.to_string(),
            });
        }
        Ok(Ok(_)) => {}
    }
    let session_options = client::SessionOptions::default()
        .creds(url.creds.as_ref().map(|c| client::Credentials {
            username: c.username.clone(),
            password: c.password.clone(),
        }))
        .user_agent(options.user_agent.clone())
        .max_message_bytes(options.max_message_bytes)
        .max_buffered_bytes(options.max_access_unit_bytes);
    let mut session = tokio::time::timeout(
        limit,
        client::Session::describe(url.url.clone(), session_options),
    )
    .await
    .map_err(|_| timeout(Stage::Describe))?
    .map_err(|e| map_error(url, Stage::Describe, &e))?;
    let Some(stream) = session.streams().iter().position(|s| s.media() == "video") else {
        return Err(Error::NoVideoStream {
            url: url.redacted.clone(),
        });
    };
    let encoding = session.streams()[stream].encoding_name().to_owned();
    if encoding != "h264" && encoding != "h265" {
        return Err(Error::UnsupportedCodec {
            url: url.redacted.clone(),
            encoding,
        });
    }
    let retina_transport = match transport {
        Transport::Udp => client::Transport::Udp(client::UdpTransportOptions::default()),
        Transport::Tcp | Transport::Auto => {
            client::Transport::Tcp(client::TcpTransportOptions::default())
        }
    };
    let setup = SetupOptions::default()
        .transport(retina_transport)
        .frame_format(FrameFormat::SIMPLE);
    tokio::time::timeout(limit, session.setup(stream, setup))
        .await
        .map_err(|_| timeout(Stage::Setup))?
        .map_err(|e| {
            if refuses_transport(&e) {
                Error::UnsupportedTransport {
                    url: url.redacted.clone(),
                    tried: match transport {
                        Transport::Udp => "UDP",
                        _ => "TCP",
                    },
                    message: url
                        .scrub(&e.to_string())
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                }
            } else {
                map_error(url, Stage::Setup, &e)
            }
        })?;
    let playing = tokio::time::timeout(limit, session.play(PlayOptions::default()))
        .await
        .map_err(|_| timeout(Stage::Play))?
        .map_err(|e| map_error(url, Stage::Play, &e))?;
    let demuxed = playing
        .demuxed()
        .map_err(|e| map_error(url, Stage::Play, &e))?;
    Ok((demuxed, stream))
}

fn params_of(demuxed: &Demuxed, stream: usize, url: &CameraUrl) -> Result<CodecParameters, Error> {
    match demuxed.streams()[stream].parameters() {
        Some(retina::codec::ParametersRef::Video(v)) => CodecParameters::from_retina(v),
        _ => None,
    }
    .ok_or_else(|| Error::Protocol {
        url: url.redacted.clone(),
        stage: Stage::Receive,
        message: "no video parameters after the first keyframe".into(),
    })
}

/// The mapping from this connection's RTP clock to the camera's wall clock, from the latest
/// RTCP sender report.
struct WallClock {
    rtp: u32,
    wall: SystemTime,
}

/// A connection that is playing.
struct Connection {
    demuxed: Demuxed,
    /// The video stream's index.
    stream: usize,
    /// TCP or UDP.
    transport: Transport,
}

/// A `SETUP` refused for its transport: `461 Unsupported Transport`, or (retina's check) a
/// TCP reply without an interleaved channel.
fn refuses_transport(e: &retina::Error) -> bool {
    e.status_code() == Some(461) || e.to_string().contains("missing interleaved parameter")
}

/// Plays one connection until it is lost or stopped.
async fn receive(
    url: &CameraUrl,
    options: &SessionOptions,
    shared: &Shared,
    stop: &mut watch::Receiver<bool>,
    connection: Connection,
    frame_number: &mut u64,
    failures: &mut u32,
) -> Outcome {
    let Connection {
        mut demuxed,
        stream,
        transport,
    } = connection;
    let mut params: Option<Arc<CodecParameters>> = None;
    let mut sender_report: Option<WallClock> = None;
    let mut clock = crate::clock::MediaClock::default();
    let mut last_received: Option<std::time::Instant> = None;
    let mut last_frame = tokio::time::Instant::now();
    let mut packet_errors_in_a_row = 0u32;
    loop {
        let deadline = last_frame + options.stall_timeout;
        let item = tokio::select! {
            biased;
            _ = stopped(stop) => return Outcome::Stopped,
            () = tokio::time::sleep_until(deadline) => {
                let after = options.stall_timeout;
                shared.set_state(State::Stalled);
                shared.emit(Event::Stalled { after });
                return Outcome::Lost(Error::Stalled { url: url.redacted.clone(), after });
            }
            item = demuxed.next() => item,
        };
        let frame = match item {
            None => {
                return Outcome::Lost(Error::Protocol {
                    url: url.redacted.clone(),
                    stage: Stage::Receive,
                    message: "the server ended the stream".into(),
                });
            }
            Some(Err(e)) if is_packet_error(&e) && packet_errors_in_a_row < 100 => {
                packet_errors_in_a_row += 1;
                shared.stats().snapshot.depacketize_errors += 1;
                debug!(url = %url.redacted, error = %url.scrub(&e.to_string()), "packet skipped");
                continue;
            }
            Some(Err(e)) => return Outcome::Lost(map_error(url, Stage::Receive, &e)),
            Some(Ok(CodecItem::Rtcp(rtcp))) => {
                if rtcp.stream_id() == stream {
                    for pkt in rtcp.pkts() {
                        if let Ok(Some(sr)) = pkt.as_sender_report() {
                            sender_report = Some(WallClock {
                                rtp: sr.rtp_timestamp(),
                                wall: ntp_to_system_time(sr.ntp_timestamp().0),
                            });
                            shared.stats().snapshot.wall_clock_synced = true;
                        }
                    }
                }
                continue;
            }
            Some(Ok(CodecItem::VideoFrame(f))) if f.stream_id() == stream => f,
            Some(Ok(_)) => continue,
        };
        packet_errors_in_a_row = 0;
        last_frame = tokio::time::Instant::now();
        if (params.is_none() || frame.has_new_parameters())
            && let Ok(p) = params_of(&demuxed, stream, url)
        {
            params = Some(Arc::new(p));
        }
        let Some(p) = params.clone() else {
            // No parameters yet (no keyframe seen): nothing a decoder could use.
            *frame_number += 1;
            let mut st = shared.stats();
            st.snapshot.frames += 1;
            st.snapshot.drops.before_keyframe += 1;
            continue;
        };
        if shared.stats().snapshot.state != State::Playing && frame.is_random_access_point() {
            *failures = 0;
            shared.set_state(State::Playing);
            info!(url = %url.redacted, codec = %p.codec, width = p.width, height = p.height, "playing");
            shared.emit(Event::Connected {
                params: p.clone(),
                transport: Some(transport),
            });
        }
        if frame.loss() > 0 {
            shared.stats().snapshot.rtp_packets_lost += u64::from(frame.loss());
        }
        let ts = frame.timestamp();
        let clock_rate = ts.clock_rate().get();
        let received = frame.end_ctx().received();
        let gap = last_received.map_or(Duration::ZERO, |l| received.saturating_duration_since(l));
        last_received = Some(received);
        let (media_time, jumped) = clock.place(ts.timestamp(), clock_rate, gap);
        if jumped {
            // The camera's clock jumped: media time goes on from the arrival gap, and the
            // sender report's mapping to wall-clock time no longer holds until the next one.
            sender_report = None;
            shared.stats().snapshot.timestamp_jumps += 1;
            warn!(url = %url.redacted, "the camera's RTP clock jumped; media time continues");
        }
        let (wall_clock, wall_clock_synced) = match &sender_report {
            Some(sr) => {
                let delta = (ts.timestamp() as u32).wrapping_sub(sr.rtp) as i32;
                let offset = Duration::from_secs_f64(
                    f64::from(delta.unsigned_abs()) / f64::from(clock_rate),
                );
                let wall = if delta >= 0 {
                    sr.wall + offset
                } else {
                    sr.wall - offset
                };
                (wall, true)
            }
            None => (SystemTime::now() - received.elapsed(), false),
        };
        let keyframe = frame.is_random_access_point();
        let loss = frame.loss();
        let data = Bytes::from(frame.into_data());
        let au = AccessUnit {
            frame_number: *frame_number,
            reference: keyframe || crate::annexb::is_reference(p.codec, &data),
            keyframe,
            resync: false,
            params: p,
            rtp_timestamp: ts.timestamp(),
            clock_rate,
            media_time,
            received,
            wall_clock,
            wall_clock_synced,
            loss,
            data,
        };
        *frame_number += 1;
        shared.emit(Event::Frame(au));
    }
}

/// NTP time (seconds since 1900 in 32.32 fixed point) to `SystemTime`.
fn ntp_to_system_time(ntp: u64) -> SystemTime {
    const UNIX_MINUS_NTP: u64 = 2_208_988_800;
    let secs = ntp >> 32;
    let nanos = ((ntp & 0xffff_ffff) * 1_000_000_000) >> 32;
    let since_ntp_epoch = Duration::new(secs, nanos as u32);
    let unix_offset = Duration::from_secs(UNIX_MINUS_NTP);
    match since_ntp_epoch.checked_sub(unix_offset) {
        Some(d) => SystemTime::UNIX_EPOCH + d,
        None => SystemTime::UNIX_EPOCH,
    }
}

/// Errors about one packet (the session can go on) as opposed to the connection. retina's
/// error type is opaque; its packet-level errors name the packet (`seq:` / `pkt:` lines).
fn is_packet_error(e: &retina::Error) -> bool {
    let text = e.to_string();
    e.status_code().is_none()
        && (text.contains("\nseq: ") || text.contains("\npkt: "))
        && !text.contains("Error reading from RTSP peer")
}

/// retina's error, typed by what a user can act on.
fn map_error(url: &CameraUrl, stage: Stage, e: &retina::Error) -> Error {
    let redacted = url.redacted.clone();
    let text = url.scrub(&e.to_string());
    let first_line = text.lines().next().unwrap_or_default().to_owned();
    match e.status_code() {
        Some(401) => {
            return Error::Unauthorized {
                url: redacted,
                stage,
            };
        }
        Some(404) => {
            return Error::NotFound {
                url: redacted,
                stage,
            };
        }
        Some(status) => {
            return Error::Status {
                url: redacted,
                stage,
                status,
                message: first_line,
            };
        }
        None => {}
    }
    // retina (patched, see patches/README.md) refuses a message head or body over its limit
    // ("message-too-large") and a buffer held beyond its limit ("bytes buffered").
    if text.contains("message-too-large")
        || text.contains("bytes buffered")
        || text.contains("NAL units in one access unit")
    {
        return Error::TooLarge {
            url: redacted,
            stage,
            what: if text.contains("message-too-large") {
                "RTSP message"
            } else {
                "access unit"
            },
        };
    }
    if let Some(io) = first_line.strip_prefix("Unable to connect to RTSP server: ") {
        if io.contains("Connection refused") {
            return Error::ConnectionRefused { url: redacted };
        }
        return Error::Connect {
            url: redacted,
            message: io.to_owned(),
        };
    }
    Error::Protocol {
        url: redacted,
        stage,
        message: first_line,
    }
}

/// A small generator for backoff jitter (splitmix64), seeded per camera and per start.
struct Rng(u64);

impl Rng {
    fn new(seed: &str) -> Self {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for b in seed.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        let t = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Self(h ^ t)
    }

    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp_epoch_conversion() {
        // 2024-01-01T00:00:00Z is 1_704_067_200 s after the Unix epoch.
        let ntp = (1_704_067_200u64 + 2_208_988_800) << 32 | (1u64 << 31);
        let t = ntp_to_system_time(ntp);
        let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(d, Duration::new(1_704_067_200, 500_000_000));
    }

    #[test]
    fn jitter_is_uniform_enough() {
        let mut r = Rng::new("rtsp://cam/1");
        let xs: Vec<f64> = (0..1000).map(|_| r.next_f64()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((0.45..0.55).contains(&mean), "{mean}");
    }
}
