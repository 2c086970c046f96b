//! What a stream hands its consumer: one [`TrackingResult`] per processed frame, and
//! lifecycle [`StreamEvent`]s in order with them. Serialisable; the JSON schema is in
//! `docs/RESULTS.md`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::Error;

/// One detected object on a frame, in the camera's own pixels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectedObject {
    /// The model's class index.
    pub class_id: u32,
    /// The class's name from the model's metadata (`person`, `car`, …).
    pub class_name: String,
    /// The detector's score, in [0, 1].
    pub confidence: f32,
    /// `[x1, y1, x2, y2]` in camera pixels, inside the frame.
    pub bbox: [f32; 4],
}

/// Where a track is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackState {
    /// Seen, not yet trusted: not often enough, or never confidently enough (the tracker's
    /// `trust_score`); only with `report_tentative`.
    Tentative,
    /// Matched on this frame.
    Confirmed,
    /// Confirmed earlier, not matched on this frame; its box is the motion model's estimate,
    /// clipped to the frame (a track predicted wholly out of the frame ends).
    Lost,
    /// Ended on this frame (only in [`TrackingResult::ended_tracks`]).
    Ended,
}

impl From<tracker::TrackState> for TrackState {
    fn from(s: tracker::TrackState) -> Self {
        match s {
            tracker::TrackState::Tentative => Self::Tentative,
            tracker::TrackState::Confirmed => Self::Confirmed,
            tracker::TrackState::Lost => Self::Lost,
            _ => Self::Ended,
        }
    }
}

/// A tracked object: a detection with an identity that persists across frames.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackedObject {
    /// Sequential per stream from 1, never reused while the stream lives.
    pub track_id: u64,
    /// The class of its detections.
    pub class_id: u32,
    /// The class's name.
    pub class_name: String,
    /// The score of its last detection.
    pub confidence: f32,
    /// `[x1, y1, x2, y2]` in camera pixels (the motion model's estimate).
    pub bbox: [f32; 4],
    /// Centre velocity in camera pixels per camera frame.
    pub velocity: [f32; 2],
    /// Its state on this frame.
    pub state: TrackState,
    /// Camera frames since it started.
    pub age: u32,
    /// Detections matched to it.
    pub hits: u32,
    /// The zones it is in (the stream's [scene](crate::StreamOptions::scene)), in the scene's
    /// order; left out of JSON when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<String>,
}

/// A stream's zone and line counts as of its latest result
/// ([`StreamConnection::scene_counts`](crate::StreamConnection::scene_counts)).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SceneCounts {
    /// Objects in each zone now, by label.
    pub zones: BTreeMap<String, BTreeMap<String, u32>>,
    /// Crossings of each line so far, by direction and label.
    pub lines: BTreeMap<String, zones::LineCounts>,
}

/// The outcome of one processed frame of one stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackingResult {
    /// The stream's id.
    pub stream_id: String,
    /// The camera's frame number: counts every access unit the camera session received
    /// (across reconnects), so a gap means frames not processed (superseded by newer ones,
    /// dropped; see the stream's accounting).
    pub frame_number: u64,
    /// The frame's RTP timestamp (90 kHz), extended to 64 bits within one connection.
    pub rtp_timestamp: i64,
    /// Capture time by the camera's clock, seconds since the Unix epoch, once an RTCP sender
    /// report has been seen (`wall_clock_synced`); until then the local arrival time.
    pub timestamp: f64,
    /// Capture time as a `SystemTime` (the same as `timestamp`).
    #[serde(skip)]
    pub wall_clock: SystemTime,
    /// Whether `timestamp` comes from the camera's sender reports.
    pub wall_clock_synced: bool,
    /// When the frame's last packet arrived (monotonic clock).
    #[serde(skip)]
    pub captured_at: Instant,
    /// From the frame's arrival to this result, in milliseconds.
    pub latency_ms: f64,
    /// The camera's frame width in pixels.
    pub width: u32,
    /// The camera's frame height in pixels.
    pub height: u32,
    /// What the detector found, at or above the manager's confidence threshold.
    pub detections: Vec<DetectedObject>,
    /// Tracks on this frame: confirmed (matched on this frame) and lost (predicted).
    pub tracked_objects: Vec<TrackedObject>,
    /// Tracks that ended on this frame.
    pub ended_tracks: Vec<TrackedObject>,
    /// Why `ended_tracks` ended when the tracker itself did not end them: every track of
    /// the stream restarted on this frame, `"model_changed"` (a swap to a model with other
    /// classes, with `restart_tracks`) or `"frame_size_changed"` (the camera's frame size
    /// changed). Left out of JSON otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracks_restarted: Option<&'static str>,
    /// With a scene: objects in each zone now, by label (every zone listed). Left out of
    /// JSON when the stream has no zones.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub zone_counts: BTreeMap<String, BTreeMap<String, u32>>,
    /// With a scene: crossings of each line since the stream started, by direction and
    /// label. Left out of JSON when the stream has no lines.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub line_counts: BTreeMap<String, zones::LineCounts>,
    /// Zone entries, exits, loitering and line crossings on this frame. Left out of JSON
    /// when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub zone_events: Vec<zones::Event>,
    /// The frame's picture as the detector saw it, with
    /// [`StreamOptions::keep_frames`](crate::StreamOptions::keep_frames); never serialised.
    #[serde(skip)]
    pub frame: Option<crate::FrameImage>,
}

/// Why a stream ended.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EndReason {
    /// `disconnect_stream`, `disconnect_all` or `shutdown`.
    Disconnected,
    /// The give-up policy ran out (too many failed attempts, or refused credentials).
    GaveUp {
        /// Failed attempts in a row.
        attempts: u32,
        /// The last one's error.
        error: Error,
    },
    /// An error retrying cannot fix: unsupported codec or transport, a decoder that cannot
    /// start.
    Failed(Error),
}

impl EndReason {
    /// `"disconnected"`, `"gave_up"` or `"failed"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Disconnected => "disconnected",
            Self::GaveUp { .. } => "gave_up",
            Self::Failed(_) => "failed",
        }
    }

    /// The error behind it, if any.
    pub fn error(&self) -> Option<&Error> {
        match self {
            Self::Disconnected => None,
            Self::GaveUp { error, .. } | Self::Failed(error) => Some(error),
        }
    }
}

/// Everything a stream reports, in order: results and lifecycle.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StreamEvent {
    /// A processed frame.
    Result(TrackingResult),
    /// Opening a connection; `attempt` counts since the last success, from 1.
    Connecting {
        /// Attempt number.
        attempt: u32,
    },
    /// Playing: the first keyframe arrived.
    Connected {
        /// `"h264"` or `"h265"`.
        codec: &'static str,
        /// Frame width in pixels.
        width: u32,
        /// Frame height in pixels.
        height: u32,
        /// TCP or UDP (what `Transport::Auto` settled on).
        transport: rtsp_ingest::Transport,
    },
    /// No frame for the stall timeout; a reconnect follows.
    Stalled {
        /// How long it had been quiet.
        after: Duration,
    },
    /// The connection failed or was lost; the next attempt starts after `delay`.
    Reconnecting {
        /// The attempt that will follow.
        attempt: u32,
        /// The backoff delay before it.
        delay: Duration,
        /// What went wrong.
        error: Error,
    },
    /// The stream is over: the last event it sends. Its accounting is final.
    Ended {
        /// Why.
        reason: EndReason,
    },
}

impl StreamEvent {
    /// `"result"`, `"connecting"`, `"connected"`, `"stalled"`, `"reconnecting"` or
    /// `"ended"`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Result(_) => "result",
            Self::Connecting { .. } => "connecting",
            Self::Connected { .. } => "connected",
            Self::Stalled { .. } => "stalled",
            Self::Reconnecting { .. } => "reconnecting",
            Self::Ended { .. } => "ended",
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A result serialises as the result itself; lifecycle events as `{"event": name, …}`, errors
/// as their message and kind.
impl Serialize for StreamEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let Self::Result(r) = self {
            return r.serialize(serializer);
        }
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("event", self.name())?;
        let error_entries = |map: &mut S::SerializeMap, e: &Error| -> Result<(), S::Error> {
            map.serialize_entry("error", &e.to_string())?;
            map.serialize_entry("error_kind", e.kind())
        };
        match self {
            Self::Result(_) => {}
            Self::Connecting { attempt } => map.serialize_entry("attempt", attempt)?,
            Self::Connected {
                codec,
                width,
                height,
                transport,
            } => {
                map.serialize_entry("codec", codec)?;
                map.serialize_entry("width", width)?;
                map.serialize_entry("height", height)?;
                map.serialize_entry("transport", transport.as_str())?;
            }
            Self::Stalled { after } => map.serialize_entry("after_ms", &ms(*after))?,
            Self::Reconnecting {
                attempt,
                delay,
                error,
            } => {
                map.serialize_entry("attempt", attempt)?;
                map.serialize_entry("delay_ms", &ms(*delay))?;
                error_entries(&mut map, error)?;
            }
            Self::Ended { reason } => {
                map.serialize_entry("reason", reason.as_str())?;
                if let Some(e) = reason.error() {
                    error_entries(&mut map, e)?;
                }
            }
        }
        map.end()
    }
}
