//! Statistics: per stream (state, rates, latency, reconnects and the frame accounting) and for
//! the shared batcher and detector. Snapshots are plain serialisable structs.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Where a stream is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamState {
    /// Connecting (or waiting for the first keyframe).
    Connecting,
    /// Frames are flowing.
    Connected,
    /// No frame for the stall timeout.
    Stalled,
    /// Waiting out the backoff before the next attempt.
    Reconnecting,
    /// Disconnecting: no new frames; what is in the pipeline drains.
    Draining,
    /// Over; the accounting is final.
    Ended,
}

impl StreamState {
    /// The state's name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Stalled => "stalled",
            Self::Reconnecting => "reconnecting",
            Self::Draining => "draining",
            Self::Ended => "ended",
        }
    }
}

/// Frames that did not become results, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Drops {
    /// Dropped by the camera session before decoding: its queue overflowed (a group of
    /// pictures at a time), or they arrived before the first keyframe after a (re)connect.
    pub ingest_gap: u64,
    /// The decoder rejected them, flagged them damaged, skipped them until the next keyframe
    /// after an error, or lost them in a reset.
    pub decode_error: u64,
    /// Decoded, but the decoder's bounded output had no room.
    pub decoder_overflow: u64,
    /// Not decoded: a picture no other picture refers to (a non-reference B- or P-frame)
    /// that a newer frame of the camera would have replaced before the detector took it; or
    /// a frame the stream's decode plan did not need (its `detect_fps` cap or adaptive
    /// decoding: the rest of a group of pictures after the last picture due in it, or
    /// everything but keyframes).
    pub not_decoded: u64,
    /// Decoded only because a later picture the detector is to take refers to it, and not
    /// sent to the detector: the stream's `detect_fps` cap or its adaptive decoding rate.
    pub rate_limited: u64,
    /// A newer frame of the same camera replaced it while it waited for the detector (newest
    /// frame wins).
    pub superseded: u64,
    /// Detection failed for it.
    pub inference_failed: u64,
    /// Its result was dropped from the stream's queue because the consumer did not take
    /// results fast enough (the oldest go first).
    pub consumer_too_slow: u64,
    /// Still on its way when the stream was disconnected or the manager shut down.
    pub shutdown: u64,
}

impl Drops {
    /// All drops.
    pub fn total(&self) -> u64 {
        self.ingest_gap
            + self.decode_error
            + self.decoder_overflow
            + self.not_decoded
            + self.rate_limited
            + self.superseded
            + self.inference_failed
            + self.consumer_too_slow
            + self.shutdown
    }
}

/// Where every frame a camera sent went:
/// `received == results + dropped.total() + in_pipeline`.
///
/// Exact once the stream has ended (then `in_pipeline` is 0). While it runs, the terms are
/// read one after another from the stages, so frames moving between stages meanwhile can
/// make the sides differ by a few.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Accounting {
    /// Access units (frames) the camera session received.
    pub received: u64,
    /// Results produced and handed to the consumer (or waiting in its queue).
    pub results: u64,
    /// Frames that did not become results, by reason.
    pub dropped: Drops,
    /// Frames somewhere between the network and a result.
    pub in_pipeline: u64,
}

impl Accounting {
    /// Whether `received == results + dropped + in_pipeline`.
    pub fn balanced(&self) -> bool {
        self.received == self.results + self.dropped.total() + self.in_pipeline
    }
}

/// One stream's statistics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamStats {
    /// The stream's id.
    pub id: String,
    /// The camera's URL, password redacted.
    pub url: String,
    /// Where it is in its life.
    pub state: StreamState,
    /// `"h264"`/`"h265"` once connected.
    pub codec: Option<&'static str>,
    /// Frame width once connected.
    pub width: Option<u32>,
    /// Frame height once connected.
    pub height: Option<u32>,
    /// `"tcp"`/`"udp"` once connected.
    pub transport: Option<&'static str>,
    /// How much of the camera's stream is decoded: `"full"`; `"gop_prefix"` (each group of
    /// pictures up to the next picture the detector is to take); `"keyframes"` (keyframes
    /// only). See `StreamOptions::detect_fps` and `ManagerBuilder::adaptive_decoding`.
    pub decode_mode: &'static str,
    /// Frames per second received from the camera (last 2 s).
    pub fps_in: f64,
    /// Results per second (last 2 s).
    pub fps_out: f64,
    /// Arrival → result latency over the last 512 results, milliseconds.
    pub latency_ms: LatencySummary,
    /// Connections lost or failed after which it reconnected.
    pub reconnects: u64,
    /// Jumps of the camera's RTP clock that media time smoothed over (a camera restarting its
    /// encoder, or a clock step).
    pub timestamp_jumps: u64,
    /// Frames the tracker refused (a frame number not after the previous one: a bug, since
    /// the decode stage passes only growing ones). Each still became a result, without
    /// tracks. Always 0 unless something is broken.
    pub tracker_errors: u64,
    /// The last error, if any.
    pub last_error: Option<String>,
    /// Where every frame went.
    pub accounting: Accounting,
    /// Live views of its annotated pictures.
    pub live: crate::LiveStats,
}

/// p50/p99/max of a window of durations, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Samples in the window.
    pub count: usize,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// Batches sent to the detector, by what sent them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BatchTriggers {
    /// Full batches.
    pub full: u64,
    /// Sent when the oldest frame reached the force timeout.
    pub timeout: u64,
    /// Sent by a flush (a stream draining, shutdown).
    pub flush: u64,
}

/// The shared batcher.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct BatcherStats {
    /// Batches by trigger.
    pub batches: BatchTriggers,
    /// Mean batch size over the batch size.
    pub mean_fill: f64,
    /// Batches being run now.
    pub in_flight: usize,
    /// Frames waiting for a batch now.
    pub waiting: usize,
    /// Frames superseded by a newer frame of their camera while waiting.
    pub superseded: u64,
}

/// The detector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct DetectorStats {
    /// Batches run.
    pub batches: u64,
    /// Images run.
    pub images: u64,
    /// Time per batch call over the last 512 batches, milliseconds.
    pub batch_ms: LatencySummary,
}

/// The manager's statistics: settings, the shared stages and every stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ManagerStats {
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// Frames per detector call, at most.
    pub batch_size: usize,
    /// The batcher's force timeout, milliseconds.
    pub force_timeout_ms: f64,
    /// Batches run at once.
    pub batches_in_flight: usize,
    /// Streams (connected or not, ended ones until removed).
    pub num_streams: usize,
    /// The batcher.
    pub batcher: BatcherStats,
    /// The detector.
    pub detector: DetectorStats,
    /// The model it runs.
    pub model: ModelStats,
    /// Every stream, by id.
    pub streams: BTreeMap<String, StreamStats>,
}

/// The model the detector runs now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelStats {
    /// Its file, as given.
    pub path: String,
    /// The SHA-256 of the file, hex.
    pub sha256: String,
    /// Its input, pixels.
    pub input_width: usize,
    /// Its input, pixels.
    pub input_height: usize,
    /// How many classes it detects.
    pub classes: usize,
    /// 1 for the model the manager started with, one more per swap.
    pub generation: u64,
    /// Swaps done since the start.
    pub swaps: u64,
}

impl ModelStats {
    /// The model's file name, without its folder (what metrics and heartbeats show).
    pub fn file_name(&self) -> Option<String> {
        std::path::Path::new(&self.path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
    }
}

/// A window of the last `N` durations.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    samples: VecDeque<Duration>,
    cap: usize,
}

impl Window {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            samples: VecDeque::with_capacity(cap),
            cap,
        }
    }

    pub(crate) fn record(&mut self, d: Duration) {
        if self.samples.len() == self.cap {
            self.samples.pop_front();
        }
        self.samples.push_back(d);
    }

    pub(crate) fn summary(&self) -> LatencySummary {
        let mut v: Vec<Duration> = self.samples.iter().copied().collect();
        if v.is_empty() {
            return LatencySummary::default();
        }
        v.sort_unstable();
        let at = |q: f64| ms(v[((v.len() as f64 * q) as usize).min(v.len() - 1)]);
        LatencySummary {
            count: v.len(),
            p50: at(0.5),
            p99: at(0.99),
            max: ms(v[v.len() - 1]),
        }
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Events per second over the last two seconds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rate {
    times: VecDeque<Instant>,
}

const RATE_WINDOW: Duration = Duration::from_secs(2);

impl Rate {
    pub(crate) fn tick(&mut self, now: Instant) {
        self.times.push_back(now);
        self.trim(now);
    }

    fn trim(&mut self, now: Instant) {
        while self
            .times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > RATE_WINDOW)
        {
            self.times.pop_front();
        }
        // A bound whatever the rate: 2 s at 2000 fps.
        while self.times.len() > 4096 {
            self.times.pop_front();
        }
    }

    pub(crate) fn per_second(&mut self, now: Instant) -> f64 {
        self.trim(now);
        let n = self.times.len() as f64;
        ((n / RATE_WINDOW.as_secs_f64()) * 100.0).round() / 100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_percentiles_and_bound() {
        let mut w = Window::new(100);
        for i in 1..=300u64 {
            w.record(Duration::from_millis(i));
        }
        let s = w.summary();
        assert_eq!(s.count, 100);
        assert_eq!((s.p50, s.p99, s.max), (251.0, 300.0, 300.0));
        assert_eq!(Window::new(4).summary(), LatencySummary::default());
    }

    #[test]
    fn rate_counts_the_last_two_seconds() {
        let t0 = Instant::now();
        let mut r = Rate::default();
        for i in 0..100u64 {
            r.tick(t0 + Duration::from_millis(40 * i));
        }
        let now = t0 + Duration::from_millis(40 * 99);
        assert!(
            (r.per_second(now) - 25.5).abs() < 1.0,
            "{}",
            r.per_second(now)
        );
        assert_eq!(r.per_second(now + Duration::from_secs(5)), 0.0);
    }

    #[test]
    fn accounting_balances() {
        let mut a = Accounting {
            received: 10,
            results: 4,
            dropped: Drops {
                superseded: 5,
                ..Drops::default()
            },
            in_pipeline: 1,
        };
        assert!(a.balanced());
        a.in_pipeline = 0;
        assert!(!a.balanced());
    }
}
