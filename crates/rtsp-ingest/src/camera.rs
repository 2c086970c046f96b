//! The consumer's handle on a session: events in order, stats, stop.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Notify, watch};

use crate::queue::EventQueue;
use crate::stats::{State, StatsCell};
use crate::{Error, Event, IngestStats, RedactedUrl, Transport};

/// State shared by a session task and its [`Camera`].
#[derive(Debug)]
pub(crate) struct Shared {
    queue: Mutex<EventQueue>,
    stats: Mutex<StatsCell>,
    notify: Notify,
}

impl Shared {
    pub(crate) fn new(url: RedactedUrl, transport: Transport, queue_frames: usize) -> Self {
        Self {
            queue: Mutex::new(EventQueue::new(queue_frames)),
            stats: Mutex::new(StatsCell::new(url, transport)),
            notify: Notify::new(),
        }
    }

    fn queue(&self) -> MutexGuard<'_, EventQueue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn stats(&self) -> MutexGuard<'_, StatsCell> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues an event (counting what the queue drops) and wakes the consumer.
    pub(crate) fn emit(&self, event: Event) {
        let frame = match &event {
            Event::Frame(au) => Some((au.data.len(), au.keyframe, au.received)),
            _ => None,
        };
        let (dropped, queued) = {
            let mut q = self.queue();
            let d = q.push(event);
            (d, q.frames())
        };
        {
            let mut st = self.stats();
            if let Some((bytes, keyframe, at)) = frame {
                st.frame(bytes, keyframe, at);
            }
            let s = &mut st.snapshot;
            s.drops.queue_overflow += dropped.overflow;
            s.drops.before_keyframe += dropped.before_keyframe;
            s.events_dropped += dropped.lifecycle;
            s.queued = queued as u64;
        }
        self.notify.notify_one();
    }

    /// The session starts over (a new connection): the queue waits for a keyframe.
    pub(crate) fn restart(&self) {
        self.queue().restart();
    }

    pub(crate) fn set_state(&self, state: State) {
        let mut st = self.stats();
        st.snapshot.state = state;
        if state != State::Playing {
            st.quiet();
        }
    }

    pub(crate) fn set_error(&self, error: &Error) {
        self.stats().snapshot.last_error = Some(error.clone());
    }

    fn pop(&self) -> Option<Event> {
        let (e, queued) = {
            let mut q = self.queue();
            let e = q.pop();
            (e, q.frames())
        };
        if let Some(e) = &e {
            let mut st = self.stats();
            st.snapshot.queued = queued as u64;
            if matches!(e, Event::Frame(_)) {
                st.snapshot.delivered += 1;
            }
        }
        e
    }

    fn is_closed(&self) -> bool {
        self.queue().is_closed()
    }

    fn queued_frames(&self) -> usize {
        self.queue().frames()
    }
}

/// One camera (or replay source): a background session and the consumer's end of it.
///
/// Events come out in order with [`next`](Self::next); the session runs until
/// [`stop`](Self::stop), until it gives up, or until this handle is dropped (dropping stops
/// it, so removed cameras leak no task or socket).
#[derive(Debug)]
pub struct Camera {
    /// What every handle has; the events are read through its `shared`.
    handle: CameraHandle,
}

impl Camera {
    pub(crate) fn new(
        shared: Arc<Shared>,
        stop: Arc<watch::Sender<bool>>,
        url: RedactedUrl,
    ) -> Self {
        Self {
            handle: CameraHandle { shared, stop, url },
        }
    }

    /// A handle for other tasks: stats, state and stop, while this `Camera` stays with the
    /// task that awaits [`next`](Self::next). Dropping a handle does not stop the session.
    pub fn handle(&self) -> CameraHandle {
        self.handle.clone()
    }

    /// The next event; `None` after [`Event::Ended`] has been returned.
    pub async fn next(&mut self) -> Option<Event> {
        let shared = &self.handle.shared;
        loop {
            let notified = shared.notify.notified();
            if let Some(e) = shared.pop() {
                return Some(e);
            }
            if shared.is_closed() {
                return None;
            }
            notified.await;
        }
    }

    /// The next event if one is queued.
    pub fn try_next(&mut self) -> Option<Event> {
        self.handle.shared.pop()
    }

    /// A snapshot of the counters (as [`CameraHandle::stats`]).
    pub fn stats(&self) -> IngestStats {
        self.handle.stats()
    }

    /// Access units waiting behind the next [`next`](Self::next): when it is not zero, a
    /// newer frame than the one just taken has already arrived.
    pub fn queued_frames(&self) -> usize {
        self.handle.shared.queued_frames()
    }

    /// The camera's URL, redacted (as [`CameraHandle::url`]).
    pub fn url(&self) -> &RedactedUrl {
        self.handle.url()
    }

    /// Asks the session to end (as [`CameraHandle::stop`]).
    pub fn stop(&self) {
        self.handle.stop();
    }

    /// Where the session is in its life (as [`CameraHandle::state`]).
    pub fn state(&self) -> State {
        self.handle.state()
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        self.handle.stop();
    }
}

/// A cloneable handle on a camera session for other tasks than the consumer's: stats, state
/// and stop (from [`Camera::handle`]).
#[derive(Debug, Clone)]
pub struct CameraHandle {
    shared: Arc<Shared>,
    stop: Arc<watch::Sender<bool>>,
    url: RedactedUrl,
}

impl CameraHandle {
    /// A snapshot of the counters.
    pub fn stats(&self) -> IngestStats {
        self.shared.stats().snapshot.clone()
    }

    /// The camera's URL, redacted.
    pub fn url(&self) -> &RedactedUrl {
        &self.url
    }

    /// Asks the session to end; the consumer gets [`Event::Ended`] with
    /// [`EndReason::Stopped`](crate::EndReason::Stopped) after what is already queued.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Where the session is in its life.
    pub fn state(&self) -> State {
        self.shared.stats().snapshot.state
    }
}
