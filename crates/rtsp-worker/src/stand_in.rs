//! A decoder stand-in for benchmarks only (`ManagerBuilder::stand_in_decoder`): each access
//! unit becomes a tiny grey picture at once, so that a benchmark with the stand-in detector
//! measures what the host does per frame — ingest, batching, tracking, zones, output — as it
//! would beside a GPU that decodes and detects. Never a default, named in every figure.

use std::collections::VecDeque;

use gpu_decode::{DecodeStats, Decoder, Error, Frame, FramePool, Packet, PixelFormat, Pixels};

/// The picture each unit becomes: 2×2 YUV 4:2:0 (the stand-in detector does not look).
const SIDE: usize = 2;
const BYTES: usize = SIDE * SIDE * 3 / 2;

/// See the module.
pub(crate) struct PassThrough {
    pool: FramePool,
    queue: VecDeque<Frame>,
    stats: DecodeStats,
}

impl PassThrough {
    /// At most `held` pictures out with the consumer, like a real decoder's pool.
    pub(crate) fn new(held: usize) -> Self {
        Self {
            pool: FramePool::new(held + 1),
            queue: VecDeque::new(),
            stats: DecodeStats::default(),
        }
    }
}

impl Decoder for PassThrough {
    fn decode(&mut self, packet: &Packet<'_>) -> Result<(), Error> {
        self.stats.packets += 1;
        let Some(mut buf) = self.pool.get(BYTES) else {
            self.stats.dropped_no_buffer += 1;
            return Ok(());
        };
        buf.fill(128);
        self.stats.frames += 1;
        self.queue.push_back(Frame {
            width: SIDE,
            height: SIDE,
            format: PixelFormat::Yuv420p,
            stride: SIDE,
            pts: packet.pts,
            keyframe: packet.keyframe,
            pixels: Pixels::Host(buf),
        });
        self.stats.queued = self.queue.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Error> {
        Ok(())
    }

    fn reset(&mut self) {
        self.queue.clear();
        self.stats.resets += 1;
    }

    fn next_frame(&mut self) -> Option<Frame> {
        let f = self.queue.pop_front()?;
        self.stats.delivered += 1;
        self.stats.queued = self.queue.len() as u64;
        Some(f)
    }

    fn stats(&self) -> DecodeStats {
        self.stats
    }
}
