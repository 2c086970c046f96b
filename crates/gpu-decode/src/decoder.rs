//! The `Decoder` trait every backend implements, its inputs, and the bounded output queue
//! they share.

use std::collections::VecDeque;

use crate::{Error, Frame};

/// Video codecs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// H.264 / AVC.
    H264,
    /// H.265 / HEVC.
    H265,
}

/// What a decoder is set up for. This crate's own type: callers adapt their stream
/// descriptions to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecConfig {
    /// The codec.
    pub codec: Codec,
    /// Coded picture width, if known (a hint; the bitstream decides).
    pub width: u32,
    /// Coded picture height, if known.
    pub height: u32,
}

/// One access unit: Annex B bytes (parameter sets in-band before keyframes).
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// The bytes, start codes included.
    pub data: &'a [u8],
    /// A timestamp carried through to the frame unchanged (`Frame::pts`): callers use it to
    /// tell which access unit a frame came from (the facade passes the camera's frame number,
    /// and keeps the capture time and RTP timestamp beside it), since a decoder with frame
    /// threads hands frames out later than the packets that made them.
    pub pts: i64,
    /// An IDR/IRAP picture: decoding can (re)start here.
    pub keyframe: bool,
}

/// Counters of one decoder. Every decoded frame is delivered, dropped (by reason) or queued:
/// `frames == delivered + dropped_queue_full + dropped_no_buffer + queued`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Packets given to `decode`.
    pub packets: u64,
    /// Packets skipped while waiting for a keyframe (at start, after an error or a reset).
    pub skipped_until_keyframe: u64,
    /// Packets the decoder rejected, and frames it flagged as damaged.
    pub corrupt: u64,
    /// Frames decoded.
    pub frames: u64,
    /// Frames taken with `next_frame`.
    pub delivered: u64,
    /// Old frames dropped because the consumer did not take them in time (newest win).
    pub dropped_queue_full: u64,
    /// New frames dropped because every pooled buffer was held by the consumer.
    pub dropped_no_buffer: u64,
    /// Frames waiting in the output queue.
    pub queued: u64,
    /// `reset` calls.
    pub resets: u64,
}

/// A per-stream video decoder.
///
/// Feed access units in order with [`decode`](Self::decode) and take frames with
/// [`next_frame`](Self::next_frame). Frames wait in a small bounded queue: a consumer that
/// falls behind loses the oldest (counted), so memory never grows.
pub trait Decoder: Send {
    /// Decodes one access unit; decoded frames (zero or more, possibly from earlier packets
    /// when frame threads delay them) go to the output queue.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] if this packet could not be decoded; the decoder then skips to the
    /// next keyframe and stays usable.
    fn decode(&mut self, packet: &Packet<'_>) -> Result<(), Error>;

    /// Drains frames still inside the decoder (end of stream).
    ///
    /// # Errors
    ///
    /// A backend failure.
    fn flush(&mut self) -> Result<(), Error>;

    /// Forgets all state and queued frames (after a reconnect or a seek); decoding restarts
    /// at the next keyframe.
    fn reset(&mut self);

    /// The oldest queued frame.
    fn next_frame(&mut self) -> Option<Frame>;

    /// The counters.
    fn stats(&self) -> DecodeStats;
}

/// How many decoded frames a decoder keeps for its consumer, whatever the backend: `queue`
/// frames waiting to be taken (the oldest dropped when full) and `held` taken but not yet
/// dropped; its buffers are enough for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "cpu"), allow(dead_code))] // only the backends use it
pub(crate) struct Buffering {
    pub(crate) queue: usize,
    pub(crate) held: usize,
}

impl Default for Buffering {
    fn default() -> Self {
        Self { queue: 4, held: 4 }
    }
}

#[cfg_attr(not(feature = "cpu"), allow(dead_code))] // only the backends use it
impl Buffering {
    pub(crate) fn with_queue(self, frames: usize) -> Self {
        Self {
            queue: frames.max(1),
            ..self
        }
    }

    pub(crate) fn with_held(self, frames: usize) -> Self {
        Self {
            held: frames,
            ..self
        }
    }

    /// Buffers for the queue and the frames held.
    pub(crate) fn buffers(&self) -> usize {
        self.queue + self.held
    }
}

/// The bounded frame queue behind `next_frame`, shared by the backends.
#[derive(Debug)]
#[cfg_attr(not(feature = "cpu"), allow(dead_code))] // only the backends use it
pub(crate) struct OutputQueue {
    frames: VecDeque<Frame>,
    capacity: usize,
    pub(crate) stats: DecodeStats,
}

#[cfg_attr(not(feature = "cpu"), allow(dead_code))] // only the backends use it
impl OutputQueue {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            frames: VecDeque::with_capacity(capacity.max(1)),
            capacity: capacity.max(1),
            stats: DecodeStats::default(),
        }
    }

    pub(crate) fn push(&mut self, frame: Frame) {
        self.stats.frames += 1;
        if self.frames.len() >= self.capacity {
            self.frames.pop_front();
            self.stats.dropped_queue_full += 1;
        }
        self.frames.push_back(frame);
        self.stats.queued = self.frames.len() as u64;
    }

    /// A buffer for a new frame from `get` (`None`: none free), evicting queued frames, oldest
    /// first and counted, until one frees. `None` if the consumer holds every buffer: the new
    /// frame is then counted as dropped for want of one. (A queued frame may not free a buffer
    /// `get` can use, e.g. one of an old resolution's pool: hence the loop.)
    pub(crate) fn buffer_or_drop<B, E>(
        &mut self,
        mut get: impl FnMut() -> Result<Option<B>, E>,
    ) -> Result<Option<B>, E> {
        loop {
            if let Some(b) = get()? {
                return Ok(Some(b));
            }
            if !self.evict_oldest() {
                self.stats.frames += 1;
                self.stats.dropped_no_buffer += 1;
                return Ok(None);
            }
        }
    }

    /// Drops the oldest queued frame so that its buffer returns to its pool. False if nothing
    /// was queued.
    fn evict_oldest(&mut self) -> bool {
        let evicted = self.frames.pop_front().is_some();
        if evicted {
            self.stats.dropped_queue_full += 1;
            self.stats.queued = self.frames.len() as u64;
        }
        evicted
    }

    pub(crate) fn pop(&mut self) -> Option<Frame> {
        let f = self.frames.pop_front()?;
        self.stats.delivered += 1;
        self.stats.queued = self.frames.len() as u64;
        Some(f)
    }

    pub(crate) fn clear(&mut self) {
        self.frames.clear();
        self.stats.queued = 0;
    }
}
