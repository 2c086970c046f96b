//! Live views of a stream, their shared part: the picture count viewers wait on and their
//! counters (the viewer's handle, `LiveView`, is in `stream.rs` with the other handles).
//! The annotated picture of each result, for as long as someone watches. While a stream has no viewer nothing is copied, drawn or encoded for it (beyond
//! the occasional snapshot); while it has some, the picture of every result is kept and
//! encoded once, whatever the number of viewers, and each viewer takes the newest picture
//! when it is ready for one — a slow viewer skips pictures (counted), never slowing the
//! pipeline or the other viewers.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;
use tokio::sync::watch;

/// What viewers wait on: how many pictures were published, and whether the stream ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Published {
    pub(crate) pictures: u64,
    pub(crate) ended: bool,
}

/// A stream's live-view counters (its share of [`StreamCore`]).
#[derive(Debug)]
pub(crate) struct Live {
    pub(crate) published: watch::Sender<Published>,
    pub(crate) viewers: AtomicUsize,
    pub(crate) sent: AtomicU64,
    pub(crate) skipped: AtomicU64,
    /// JPEG encodes of annotated pictures (snapshots and live views together).
    pub(crate) encoded: AtomicU64,
}

impl Default for Live {
    fn default() -> Self {
        Self {
            published: watch::channel(Published::default()).0,
            viewers: AtomicUsize::new(0),
            sent: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            encoded: AtomicU64::new(0),
        }
    }
}

impl Live {
    /// Whether anyone watches (then every result's picture is kept).
    pub(crate) fn watched(&self) -> bool {
        self.viewers.load(Ordering::Relaxed) > 0
    }

    /// A new picture is the latest.
    pub(crate) fn publish(&self) {
        self.published.send_modify(|p| p.pictures += 1);
    }

    /// The stream ended: viewers see the end.
    pub(crate) fn end(&self) {
        self.published.send_modify(|p| p.ended = true);
    }

    pub(crate) fn stats(&self) -> LiveStats {
        LiveStats {
            viewers: self.viewers.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            encoded: self.encoded.load(Ordering::Relaxed),
        }
    }
}

/// A stream's live views, in [`StreamStats`](crate::StreamStats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LiveStats {
    /// Live views open now.
    pub viewers: usize,
    /// Pictures handed to viewers (each viewer's count, summed).
    pub sent: u64,
    /// Pictures a viewer skipped because it was not ready for them (slow, or capped by its
    /// own rate), summed over viewers. Only that viewer missed them.
    pub skipped: u64,
    /// Annotated pictures drawn and encoded as JPEG (for snapshots and live views): at most
    /// one per result, however many watch.
    pub encoded: u64,
}
