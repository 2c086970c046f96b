//! The user's handles on a stream: [`StreamConnection`] and [`ResultQueue`].

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::Stream;
use tokio::sync::watch;

use crate::live::Published;
use crate::snapshot::Snapshot;
use crate::state::StreamCore;
use crate::stats::{StreamState, StreamStats};
use crate::{Error, StreamEvent, TrackingResult};

/// A connected stream: its id, stats, and its output (results and lifecycle events, in
/// order). Cheap to clone; dropping it does not disconnect the stream
/// ([`StreamConnectionManager::disconnect_stream`](crate::StreamConnectionManager::disconnect_stream) does).
///
/// The output is one bounded queue: read it one way ([`next_event`](Self::next_event),
/// [`events`](Self::events), [`tracking_results`](Self::tracking_results) or
/// [`queue`](Self::queue)), or give the stream callbacks instead.
#[derive(Debug, Clone)]
pub struct StreamConnection {
    pub(crate) core: Arc<StreamCore>,
}

impl StreamConnection {
    /// The stream's id.
    pub fn id(&self) -> &str {
        &self.core.id
    }

    /// Where the stream is in its life.
    pub fn state(&self) -> StreamState {
        *self.core.state.borrow()
    }

    /// A snapshot of its statistics (accounting included).
    pub fn stats(&self) -> StreamStats {
        self.core.stats()
    }

    /// The latest processed frame with its tracks, ids, class names, zones and lines drawn,
    /// as JPEG; `None` until a frame was kept (the manager keeps them only with
    /// [`snapshot_interval`](crate::ManagerBuilder::snapshot_interval), and not for frames
    /// decoded by NVDEC). Drawn when asked, once per kept frame.
    pub fn snapshot(&self) -> Option<Snapshot> {
        self.core.snapshot()
    }

    /// A small JPEG (longer side at most `side` pixels) of the latest kept picture around
    /// `bbox` (camera pixels, as in results), for an event's thumbnail; `None` before a
    /// picture was kept or for a box off it. The picture is the one
    /// [`snapshot`](Self::snapshot) shows: at most one
    /// [`snapshot_interval`](crate::ManagerBuilder::snapshot_interval) older than the latest
    /// result.
    pub fn thumbnail(&self, bbox: [f32; 4], side: usize) -> Option<Vec<u8>> {
        self.core.thumbnail(bbox, side)
    }

    /// A live view of the stream's annotated pictures: one per result from now on (newest
    /// first when the viewer is slow), `None` if `limit` viewers already watch. While a view
    /// is open the picture of every result is kept (a copy of the decoder's output, as for
    /// snapshots); each is drawn and encoded once for all viewers. Not for frames decoded by
    /// NVDEC.
    pub fn live_view(&self, limit: usize) -> Option<LiveView> {
        LiveView::open(&self.core, limit)
    }

    /// The stream's tracks now, to go on from in another connection of the same camera
    /// ([`StreamOptions::resume_tracks`](crate::StreamOptions::resume_tracks)): the state after
    /// the last frame tracked, also once the stream has ended; `None` before its first result.
    /// Cheap enough to take every second (about 1 KB per live track).
    pub fn track_snapshot(&self) -> Option<crate::TrackSnapshot> {
        self.core.track_snapshot()
    }

    /// The stream's zones and lines, if it has any.
    pub fn scene(&self) -> Option<Arc<zones::Scene>> {
        self.core.lock().scene.clone()
    }

    /// The zone and line counts of the latest result (empty before the first, and without
    /// zones or lines).
    pub fn scene_counts(&self) -> crate::SceneCounts {
        self.core.lock().counts.clone()
    }

    /// Replaces the stream's zones and lines while it runs, from its next result on (an
    /// empty scene removes them): no reconnect. A zone or line defined exactly as before
    /// keeps its state and counts; a changed or new one starts empty; one left out is
    /// forgotten (no exit events).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for a scene [`zones::Analyzer::new`] refuses; the stream
    /// keeps its scene.
    pub fn set_scene(&self, scene: zones::Scene) -> Result<(), Error> {
        self.core
            .set_scene(scene)
            .map_err(|e| Error::InvalidConfig {
                field: "scene",
                problem: e.to_string(),
            })
    }

    /// The next result or event, in order; `None` after [`StreamEvent::Ended`].
    pub async fn next_event(&self) -> Option<StreamEvent> {
        self.core.outbox.pop().await
    }

    /// The next result or event if one is queued.
    pub fn try_next_event(&self) -> Option<StreamEvent> {
        self.core.outbox.try_pop()
    }

    /// Results and lifecycle events, in order, until the stream ends.
    pub fn events(&self) -> impl Stream<Item = StreamEvent> + Send + 'static {
        let core = self.core.clone();
        futures::stream::unfold(core, |core| async move {
            let e = core.outbox.pop().await?;
            Some((e, core))
        })
    }

    /// The seed's async generator: results only (lifecycle events are skipped), until the
    /// stream ends.
    pub fn tracking_results(&self) -> impl Stream<Item = TrackingResult> + Send + 'static {
        let core = self.core.clone();
        futures::stream::unfold(core, |core| async move {
            loop {
                if let StreamEvent::Result(r) = core.outbox.pop().await? {
                    return Some((r, core));
                }
            }
        })
    }

    /// The seed's `result_queue`: results only, for code that polls (async or blocking).
    pub fn queue(&self) -> ResultQueue {
        ResultQueue {
            core: self.core.clone(),
        }
    }

    /// Waits until the stream plays its first frame after connecting.
    ///
    /// # Errors
    ///
    /// The error that ended the stream if it ends first (wrong credentials, unsupported
    /// codec, …), or [`Error::Camera`] with a timeout if `limit` passes.
    pub async fn wait_connected(&self, limit: Duration) -> Result<(), Error> {
        let mut rx = self.core.state.subscribe();
        let waited = tokio::time::timeout(
            limit,
            rx.wait_for(|s| matches!(s, StreamState::Connected | StreamState::Ended)),
        )
        .await;
        match waited {
            Ok(Ok(s)) if *s == StreamState::Connected => Ok(()),
            Err(_) => Err(Error::Camera {
                id: self.core.id.clone(),
                source: self.core.camera.stats().last_error.unwrap_or(
                    rtsp_ingest::Error::Timeout {
                        url: self.core.camera.url().clone(),
                        stage: rtsp_ingest::Stage::Connect,
                        after: limit,
                    },
                ),
            }),
            _ => Err(self
                .core
                .camera
                .stats()
                .last_error
                .map_or(Error::Shutdown, |source| Error::Camera {
                    id: self.core.id.clone(),
                    source,
                })),
        }
    }
}

/// A stream's results as a queue (the seed's `connection.result_queue`): lifecycle events
/// are skipped. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ResultQueue {
    core: Arc<StreamCore>,
}

impl ResultQueue {
    /// The next result, waiting for one; `None` once the stream has ended and everything
    /// was taken.
    pub async fn get(&self) -> Option<TrackingResult> {
        loop {
            if let StreamEvent::Result(r) = self.core.outbox.pop().await? {
                return Some(r);
            }
        }
    }

    /// The next result if one is queued.
    pub fn try_get(&self) -> Option<TrackingResult> {
        while let Some(e) = self.core.outbox.try_pop() {
            if let StreamEvent::Result(r) = e {
                return Some(r);
            }
        }
        None
    }

    /// The next result, blocking the thread for at most `timeout`; `None` on timeout or once
    /// the stream has ended and everything was taken (then [`is_finished`](Self::is_finished)).
    pub fn get_blocking(&self, timeout: Duration) -> Option<TrackingResult> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.core.outbox.pop_blocking(Some(left)) {
                Ok(Some(StreamEvent::Result(r))) => return Some(r),
                Ok(Some(_)) => {}
                Ok(None) | Err(()) => return None,
            }
        }
    }

    /// Results waiting now.
    pub fn len(&self) -> usize {
        self.core.outbox.lock().results_queued as usize
    }

    /// Whether no result waits now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The stream has ended and everything was taken.
    pub fn is_finished(&self) -> bool {
        self.core.outbox.lock().finished()
    }
}

/// One viewer of a stream's annotated pictures ([`StreamConnection::live_view`](StreamConnection::live_view)).
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
