//! What a camera session emits: lifecycle events and access units, on one stream.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use crate::{CodecParameters, Error, Transport};

/// One encoded picture, ready for a decoder.
#[derive(Debug, Clone)]
pub struct AccessUnit {
    /// Counts every access unit received in this session (across reconnects), from 0; a gap
    /// means dropped units (see the stats for why).
    pub frame_number: u64,
    /// Annex B NAL units with start codes; keyframes are preceded by their parameter sets.
    pub data: Bytes,
    /// An IDR (H.264) or IRAP (H.265) picture: decoding can start here.
    pub keyframe: bool,
    /// Whether later pictures may refer to this one. `false` for H.264 pictures with
    /// `nal_ref_idc` 0 and H.265 sub-layer non-reference pictures (`TRAIL_N`, `RASL_N`, …):
    /// such a picture can be left undecoded without harming any other.
    pub reference: bool,
    /// The first unit after a (re)connection or a gap the queue made: reset the decoder.
    /// Always a keyframe.
    pub resync: bool,
    /// The stream's codec parameters (shared until they change).
    pub params: Arc<CodecParameters>,
    /// RTP timestamp, extended to 64 bits (no wrap-around) within one connection.
    pub rtp_timestamp: i64,
    /// RTP clock rate in Hz (90 000 for video).
    pub clock_rate: u32,
    /// Media time since this connection's first frame, from the RTP timestamps.
    pub media_time: Duration,
    /// When its last packet arrived (monotonic clock).
    pub received: Instant,
    /// Capture time by the camera's clock once an RTCP sender report has been seen
    /// (`wall_clock_synced`); until then, the local arrival time.
    pub wall_clock: SystemTime,
    /// Whether `wall_clock` comes from the camera's sender reports.
    pub wall_clock_synced: bool,
    /// RTP packets lost just before this unit (UDP).
    pub loss: u16,
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// [`Camera::stop`](crate::Camera::stop) or dropping the camera.
    Stopped,
    /// The give-up policy ran out of attempts; the last error.
    GaveUp {
        /// Failed attempts in a row.
        attempts: u32,
        /// The last one's error.
        error: Error,
    },
    /// An error that retrying cannot fix (see [`Error::is_permanent`]).
    Failed(Error),
    /// A replay source played its file once to the end.
    EndOfFile,
}

/// Everything a camera session reports, in order.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// Opening a connection; `attempt` counts since the last success, from 1.
    Connecting {
        /// Attempt number.
        attempt: u32,
    },
    /// Playing: the first keyframe arrived with these parameters.
    Connected {
        /// The stream's codec parameters.
        params: Arc<CodecParameters>,
        /// The transport in use (`None` for a replay source).
        transport: Option<Transport>,
    },
    /// An access unit.
    Frame(AccessUnit),
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
    /// The session is over; no event follows.
    Ended {
        /// Why.
        reason: EndReason,
    },
}
