//! Live views of a stream: the annotated picture of each result, for as long as someone
//! watches. While a stream has no viewer nothing is copied, drawn or encoded for it (beyond
//! the occasional snapshot); while it has some, the picture of every result is kept and
//! encoded once, whatever the number of viewers, and each viewer takes the newest picture
//! when it is ready for one — a slow viewer skips pictures (counted), never slowing the
//! pipeline or the other viewers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;
use tokio::sync::watch;

use crate::snapshot::Snapshot;
use crate::state::StreamCore;

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

/// One viewer of a stream's annotated pictures ([`StreamConnection::live_view`](crate::StreamConnection::live_view)).
/// Dropping it stops the work done for it.
#[derive(Debug)]
pub struct LiveView {
    core: Arc<StreamCore>,
    rx: watch::Receiver<Published>,
    /// The last picture count this viewer took.
    seen: u64,
    /// The camera frame it was last sent.
    last_frame: Option<u64>,
}

impl LiveView {
    /// A view, unless `limit` viewers already watch the stream.
    pub(crate) fn open(core: &Arc<StreamCore>, limit: usize) -> Option<Self> {
        let live = &core.live;
        live.viewers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()?;
        let mut rx = live.published.subscribe();
        // The latest picture first, if there is one: a viewer sees the camera at once, not
        // at its next result.
        let seen = rx.borrow_and_update().pictures.saturating_sub(1);
        Some(Self {
            core: core.clone(),
            rx,
            seen,
            last_frame: None,
        })
    }

    /// The next picture newer than the last one this viewer took (the first time: the
    /// latest kept, if any), as annotated JPEG (drawn
    /// and encoded on a blocking thread, once for all viewers); `None` once the stream has
    /// ended. Pictures published while the caller was busy are skipped: only the newest is
    /// taken.
    pub async fn next(&mut self) -> Option<Snapshot> {
        loop {
            let now = *self.rx.borrow_and_update();
            if now.pictures > self.seen {
                let skipped = now.pictures - self.seen - 1;
                self.seen = now.pictures;
                let core = self.core.clone();
                let snap = tokio::task::spawn_blocking(move || core.snapshot())
                    .await
                    .ok()
                    .flatten();
                // The picture drawn may be newer than the count read (it was published in
                // between): then the next count brings it again, not to be sent twice.
                if let Some(s) = snap.filter(|s| {
                    !s.jpeg.is_empty() && self.last_frame.is_none_or(|f| s.frame_number > f)
                }) {
                    self.last_frame = Some(s.frame_number);
                    let live = &self.core.live;
                    live.skipped.fetch_add(skipped, Ordering::Relaxed);
                    live.sent.fetch_add(1, Ordering::Relaxed);
                    return Some(s);
                }
                continue;
            }
            if now.ended {
                return None;
            }
            self.rx.changed().await.ok()?;
        }
    }
}

impl Drop for LiveView {
    fn drop(&mut self) {
        self.core.live.viewers.fetch_sub(1, Ordering::AcqRel);
    }
}
