//! Per-session counters and the measured frame rate and bitrate.

use std::time::{Duration, Instant};

use crate::{Error, RedactedUrl, Transport};

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Resolving, connecting, DESCRIBE/SETUP/PLAY, or waiting for the first keyframe.
    Connecting,
    /// Frames are flowing.
    Playing,
    /// No frame for the stall timeout.
    Stalled,
    /// Waiting out the backoff before the next attempt.
    Backoff,
    /// Over.
    Ended,
}

/// Access units received but not delivered, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameDrops {
    /// Dropped from the queue because the consumer fell behind (newest frames win).
    pub queue_overflow: u64,
    /// Dropped while waiting for a keyframe (after connecting or after an overflow).
    pub before_keyframe: u64,
}

impl FrameDrops {
    /// All dropped access units.
    pub fn total(&self) -> u64 {
        self.queue_overflow + self.before_keyframe
    }
}

/// A snapshot of one session's counters. Every received access unit is delivered, dropped
/// (by reason) or still queued: `frames == delivered + drops.total() + queued`.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestStats {
    /// The camera, redacted.
    pub url: RedactedUrl,
    /// The transport asked for.
    pub transport: Transport,
    /// The transport of the current (or last) connection: what `Auto` settled on.
    pub transport_in_use: Option<Transport>,
    /// Current state.
    pub state: State,
    /// Access units received.
    pub frames: u64,
    /// Access units handed to the consumer.
    pub delivered: u64,
    /// Access units waiting in the queue.
    pub queued: u64,
    /// Keyframes received.
    pub keyframes: u64,
    /// Bytes of access units received.
    pub bytes: u64,
    /// Dropped access units, by reason.
    pub drops: FrameDrops,
    /// Lifecycle events dropped because the consumer was away (the oldest go first).
    pub events_dropped: u64,
    /// RTP packets lost (UDP), as reported by sequence-number gaps.
    pub rtp_packets_lost: u64,
    /// Packets the depacketizer rejected and skipped.
    pub depacketize_errors: u64,
    /// Jumps of the camera's RTP clock (backwards, or far forwards) that media time
    /// smoothed over.
    pub timestamp_jumps: u64,
    /// Connections lost or failed after which the session reconnected.
    pub reconnects: u64,
    /// The last error, if any.
    pub last_error: Option<Error>,
    /// Whether wall-clock time comes from the camera's RTCP sender reports.
    pub wall_clock_synced: bool,
    /// Frames per second over the last full second.
    pub fps: f64,
    /// Bits per second over the last full second.
    pub bitrate_bps: f64,
}

#[derive(Debug)]
pub(crate) struct StatsCell {
    pub(crate) snapshot: IngestStats,
    window_start: Option<Instant>,
    window_frames: u64,
    window_bytes: u64,
}

impl StatsCell {
    pub(crate) fn new(url: RedactedUrl, transport: Transport) -> Self {
        Self {
            snapshot: IngestStats {
                url,
                transport,
                transport_in_use: None,
                state: State::Connecting,
                frames: 0,
                delivered: 0,
                queued: 0,
                keyframes: 0,
                bytes: 0,
                drops: FrameDrops::default(),
                events_dropped: 0,
                rtp_packets_lost: 0,
                depacketize_errors: 0,
                timestamp_jumps: 0,
                reconnects: 0,
                last_error: None,
                wall_clock_synced: false,
                fps: 0.0,
                bitrate_bps: 0.0,
            },
            window_start: None,
            window_frames: 0,
            window_bytes: 0,
        }
    }

    pub(crate) fn frame(&mut self, bytes: usize, keyframe: bool, now: Instant) {
        let s = &mut self.snapshot;
        s.frames += 1;
        s.bytes += bytes as u64;
        s.keyframes += u64::from(keyframe);
        let start = *self.window_start.get_or_insert(now);
        self.window_frames += 1;
        self.window_bytes += bytes as u64;
        let elapsed = now.saturating_duration_since(start);
        if elapsed >= Duration::from_secs(1) {
            let secs = elapsed.as_secs_f64();
            s.fps = self.window_frames as f64 / secs;
            s.bitrate_bps = self.window_bytes as f64 * 8.0 / secs;
            self.window_start = Some(now);
            self.window_frames = 0;
            self.window_bytes = 0;
        }
    }

    /// Rates are over once frames stop.
    pub(crate) fn quiet(&mut self) {
        self.snapshot.fps = 0.0;
        self.snapshot.bitrate_bps = 0.0;
        self.window_start = None;
        self.window_frames = 0;
        self.window_bytes = 0;
    }
}
