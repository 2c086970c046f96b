//! A replay source: an Annex B file played at its frame rate, once or looping, with the same
//! events as a camera. For offline runs, tests and benchmarks.
//!
//! Raw Annex B carries no presentation times: units are stamped in file (decode) order, so a
//! clip with B-frames replays with its reordered pictures behind the order the facade numbers
//! them in (they are dropped, counted as decode errors). Serve such a clip over RTSP from a
//! container that keeps its times instead.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use tokio::sync::watch;

use crate::annexb::{self, UnitRange};
use crate::camera::{Camera, Shared};
use crate::params::{parse_h264_sps, parse_h265_sps};
use crate::stats::State;
use crate::{AccessUnit, Codec, CodecParameters, EndReason, Error, Event, RedactedUrl, Transport};

/// Options for [`replay`].
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub(crate) fps: Option<f64>,
    pub(crate) looping: bool,
    pub(crate) queue_frames: usize,
    pub(crate) max_bytes: u64,
}

/// The largest clip [`replay`] reads by default (256 MiB: minutes of 1080p).
pub const MAX_REPLAY_BYTES: u64 = 256 << 20;

impl Default for ReplayOptions {
    fn default() -> Self {
        Self {
            fps: None,
            looping: true,
            queue_frames: 64,
            max_bytes: MAX_REPLAY_BYTES,
        }
    }
}

impl ReplayOptions {
    /// Frames per second; by default the SPS's timing info, else 25.
    pub fn fps(mut self, fps: Option<f64>) -> Self {
        self.fps = fps.filter(|f| f.is_finite() && *f > 0.0);
        self
    }

    /// Start again at the end (default) or end with [`EndReason::EndOfFile`].
    pub fn looping(mut self, looping: bool) -> Self {
        self.looping = looping;
        self
    }

    /// The largest file read, in bytes (default [`MAX_REPLAY_BYTES`]); a larger one is an
    /// [`Error::Replay`].
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Access units buffered for a slow consumer (default 64).
    pub fn queue_frames(mut self, frames: usize) -> Self {
        self.queue_frames = frames.max(1);
        self
    }
}

/// A parsed Annex B file.
#[derive(Debug)]
pub(crate) struct Clip {
    pub(crate) data: Bytes,
    pub(crate) units: Vec<UnitRange>,
    pub(crate) params: CodecParameters,
}

impl Clip {
    pub(crate) fn parse(path: &Path, data: Bytes) -> Result<Self, Error> {
        let bad = |message: &str| Error::Replay {
            path: path.to_owned(),
            message: message.to_owned(),
        };
        let codec =
            sniff(path, &data).ok_or_else(|| bad("not an H.264 or H.265 Annex B stream"))?;
        let (mut sps, mut pps, mut vps) = (None, None, None);
        for (_, r) in annexb::nal_units(&data) {
            let nal = data.slice(r);
            match (codec, annexb::nal_type(codec, &nal)) {
                (Codec::H264, 7) | (Codec::H265, 33) => {
                    sps.get_or_insert(nal);
                }
                (Codec::H264, 8) | (Codec::H265, 34) => {
                    pps.get_or_insert(nal);
                }
                (Codec::H265, 32) => {
                    vps.get_or_insert(nal);
                }
                _ => {}
            }
            if sps.is_some() && pps.is_some() && (codec == Codec::H264 || vps.is_some()) {
                break;
            }
        }
        let sps = sps.ok_or_else(|| bad("no sequence parameter set"))?;
        let pps = pps.ok_or_else(|| bad("no picture parameter set"))?;
        let info = match codec {
            Codec::H264 => parse_h264_sps(&sps),
            Codec::H265 => parse_h265_sps(&sps),
        }
        .ok_or_else(|| bad("unreadable sequence parameter set"))?;
        let units = annexb::access_units(codec, &data);
        if !units.iter().any(|u| u.keyframe) {
            return Err(bad("no keyframe"));
        }
        Ok(Self {
            params: CodecParameters {
                codec,
                width: info.width,
                height: info.height,
                sps,
                pps,
                vps,
                frame_rate: info.frame_rate,
            },
            units,
            data,
        })
    }
}

/// H.265 if the first NAL unit is a VPS/SPS/PPS/AUD of H.265, H.264 if one of H.264's; the
/// file name breaks ties.
fn sniff(path: &Path, data: &[u8]) -> Option<Codec> {
    let (_, first) = annexb::nal_units(data).into_iter().next()?;
    let b = data[first.start];
    let h265 = b & 0x81 == 0 && matches!((b >> 1) & 0x3f, 32..=35 | 39);
    let h264 = b & 0x80 == 0 && matches!(b & 0x1f, 1 | 5..=9);
    let named_h265 = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("h265") || e.eq_ignore_ascii_case("hevc"));
    match (h264, h265) {
        (true, true) => Some(if named_h265 { Codec::H265 } else { Codec::H264 }),
        (true, false) => Some(Codec::H264),
        (false, true) => Some(Codec::H265),
        (false, false) => None,
    }
}

/// Plays an Annex B file (`.h264` / `.h265`) as if it were a camera: the same [`Event`]s,
/// paced at the frame rate. The file is read and checked now: call it where blocking is
/// fine (a blocking thread, `tokio::task::spawn_blocking`).
///
/// # Errors
///
/// [`Error::Replay`] if the file is not a regular file (a FIFO or a device is refused without
/// being opened for a blocking read), is larger than [`ReplayOptions::max_bytes`], cannot be
/// read or holds no decodable video; [`Error::NoRuntime`] outside a tokio runtime.
pub fn replay(path: impl AsRef<Path>, options: ReplayOptions) -> Result<Camera, Error> {
    let path = path.as_ref().to_owned();
    let data = read_capped(&path, options.max_bytes).map_err(|message| Error::Replay {
        path: path.clone(),
        message,
    })?;
    let clip = Clip::parse(&path, Bytes::from(data))?;
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
    let url = RedactedUrl::from_text(&format!("file://{}", path.display()));
    let shared = Arc::new(Shared::new(
        url.clone(),
        Transport::Tcp,
        options.queue_frames,
    ));
    let (stop_tx, stop_rx) = watch::channel(false);
    runtime.spawn(play(clip, options, shared.clone(), stop_rx));
    Ok(Camera::new(shared, Arc::new(stop_tx), url))
}

/// Reads a regular file of at most `max` bytes. It is opened without blocking (a FIFO with no
/// writer would block a plain open) and checked before any byte is read.
fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut open = std::fs::OpenOptions::new();
    open.read(true);
    #[cfg(unix)]
    {
        // Reads of a regular file ignore O_NONBLOCK; opening a FIFO returns at once.
        use std::os::unix::fs::OpenOptionsExt;
        open.custom_flags(libc::O_NONBLOCK);
    }
    let file = open.open(path).map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file (FIFOs, devices and folders are refused)".into());
    }
    if meta.len() > max {
        return Err(format!(
            "{} bytes, more than the {max} a replayed clip may have",
            meta.len()
        ));
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    // A file that grows while it is read stops at the cap all the same.
    file.take(max + 1)
        .read_to_end(&mut data)
        .map_err(|e| e.to_string())?;
    if data.len() as u64 > max {
        return Err(format!(
            "more than the {max} bytes a replayed clip may have"
        ));
    }
    Ok(data)
}

async fn play(
    clip: Clip,
    options: ReplayOptions,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let fps = options
        .fps
        .or(clip
            .params
            .frame_rate
            .map(|(n, d)| f64::from(n) / f64::from(d)))
        .unwrap_or(25.0);
    let period = Duration::from_secs_f64(1.0 / fps);
    let params = Arc::new(clip.params.clone());
    shared.emit(Event::Connecting { attempt: 1 });
    shared.restart();
    shared.set_state(State::Playing);
    shared.emit(Event::Connected {
        params: params.clone(),
        transport: None,
    });
    let start = tokio::time::Instant::now();
    let mut n = 0u64;
    let reason = 'outer: loop {
        for unit in &clip.units {
            let due = start + period.mul_f64(n as f64);
            tokio::select! {
                biased;
                r = stop.wait_for(|&s| s) => { let _ = r; break 'outer EndReason::Stopped; }
                () = tokio::time::sleep_until(due) => {}
            }
            let media_time = period.mul_f64(n as f64);
            shared.emit(Event::Frame(AccessUnit {
                frame_number: n,
                data: clip.data.slice(unit.bytes.clone()),
                keyframe: unit.keyframe,
                reference: unit.reference,
                resync: false,
                params: params.clone(),
                rtp_timestamp: (media_time.as_secs_f64() * 90_000.0).round() as i64,
                clock_rate: 90_000,
                media_time,
                received: Instant::now(),
                wall_clock: SystemTime::now(),
                wall_clock_synced: false,
                loss: 0,
            }));
            n += 1;
        }
        if !options.looping {
            break EndReason::EndOfFile;
        }
    };
    shared.set_state(State::Ended);
    shared.emit(Event::Ended { reason });
}
