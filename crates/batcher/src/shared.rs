//! What both drivers share: the core behind one mutex, delivery of batches, completion on drop,
//! and the part of their `Handle` that never waits (the `handle!` macro each driver expands).
//!
//! Every entry point (a push, a completion, the timer) locks the core, changes it, then
//! "pumps": drains its events, hands batches to the driver's bounded channel and collects drops,
//! all before unlocking. Drop handlers run after unlocking, since they are user code. The
//! channel never fills: it holds only in-flight batches, and there are at most `max_in_flight`.

use std::fmt;
use std::hash::Hash;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crate::{Batch, BatchId, Batcher, Config, Dropped, Event};

/// Called for every item the batcher drops, with the item and the reason, after the batcher's
/// lock is released. Without one, dropped items are simply dropped (and still counted in the
/// stats).
pub type DropHandler<K, T> = Arc<dyn Fn(Dropped<K, T>) + Send + Sync>;

/// How a driver reads time and wakes its parties.
pub(crate) trait Wake: Send + Sync + 'static {
    /// The driver's clock (tokio's, so that paused test time works).
    fn now(&self) -> Instant;
    /// The timer must look at `poll_timeout` again.
    fn timer_changed(&self);
    /// Items left the buffer, or the batcher closed: blocked submitters may retry.
    fn space_freed(&self);
}

/// Where dispatched batches go: the driver's bounded channel.
pub(crate) trait Sink<K, T>: Send + 'static {
    /// Hands the batch back if the receiver is gone.
    fn try_deliver(&self, batch: DispatchedBatch<K, T>) -> Result<(), DispatchedBatch<K, T>>;
}

pub(crate) struct State<K, T, S> {
    pub(crate) core: Batcher<K, T>,
    /// No more pushes; everything waiting is being flushed.
    pub(crate) closing: bool,
    /// `None` once the receiver is gone or everything is drained: that ends the batch stream.
    sink: Option<S>,
    /// The deadline the timer sleeps towards (`None`: no deadline).
    armed: Option<Instant>,
}

pub(crate) struct Shared<K, T, S, W> {
    pub(crate) state: Mutex<State<K, T, S>>,
    pub(crate) wake: W,
    on_drop: Option<DropHandler<K, T>>,
}

/// What the timer should do next.
pub(crate) enum Next {
    Sleep(Option<Instant>),
    Exit,
}

impl<K, T, S, W> Shared<K, T, S, W>
where
    K: Clone + Eq + Hash + Send + 'static,
    T: Send + 'static,
    S: Sink<K, T>,
    W: Wake,
{
    pub(crate) fn new(
        config: Config,
        sink: S,
        wake: W,
        on_drop: Option<DropHandler<K, T>>,
    ) -> Self {
        Self {
            state: Mutex::new(State {
                core: Batcher::new(config),
                closing: false,
                sink: Some(sink),
                armed: None,
            }),
            wake,
            on_drop,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State<K, T, S>> {
        // A panic in user code never happens under this lock, but stay usable if one did.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the state, then delivers whatever it produced.
    pub(crate) fn with_core<R>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut State<K, T, S>, Instant) -> R,
    ) -> R {
        let now = self.wake.now();
        let mut st = self.lock();
        let r = f(&mut st, now);
        self.release(st, now);
        r
    }

    /// Pumps the core's events out, unlocks, then runs drop handlers and wakes whom it concerns.
    pub(crate) fn release(self: &Arc<Self>, mut st: MutexGuard<'_, State<K, T, S>>, now: Instant) {
        let mut drops = Vec::new();
        let mut dispatched = false;
        loop {
            let mut undelivered = Vec::new();
            while let Some(event) = st.core.poll() {
                match event {
                    Event::Dispatch(batch) => {
                        dispatched = true;
                        let owner: Arc<dyn Complete<K, T>> = self.clone();
                        let d = DispatchedBatch {
                            batch,
                            owner: Some(owner),
                        };
                        match st.sink.as_ref() {
                            Some(sink) => {
                                if let Err(d) = sink.try_deliver(d) {
                                    undelivered.push(d.disarm());
                                }
                            }
                            None => undelivered.push(d.disarm()),
                        }
                    }
                    Event::Dropped(d) => drops.push(d),
                }
            }
            if undelivered.is_empty() {
                break;
            }
            // The receiver is gone and nobody will run these batches: close, hand them back
            // (their items are dropped as undelivered, counted and reported) and flush the rest
            // the same way (the loop ends once nothing is left).
            st.closing = true;
            st.sink = None;
            for batch in undelivered {
                let _ = st.core.abandon(batch, now);
            }
            st.core.flush(now);
        }
        let finished = st.closing && st.core.is_idle();
        if finished {
            st.sink = None;
        }
        let next = st.core.poll_timeout();
        let wake_timer = finished || next.is_some_and(|d| st.armed.is_none_or(|a| d < a));
        let closing = st.closing;
        drop(st);
        if wake_timer {
            self.wake.timer_changed();
        }
        if dispatched || closing {
            self.wake.space_freed();
        }
        if let Some(on_drop) = &self.on_drop {
            for d in drops {
                on_drop(d);
            }
        }
    }

    /// The timer's step: handle due timeouts, then say how long to sleep.
    pub(crate) fn tick(self: &Arc<Self>) -> Next {
        self.with_core(|st, now| st.core.handle_timeout(now));
        let mut st = self.lock();
        if st.closing && st.core.is_idle() {
            return Next::Exit;
        }
        st.armed = st.core.poll_timeout();
        Next::Sleep(st.armed)
    }

    /// The batch stream is going away: close, and hand back every batch from now on as
    /// undelivered (the stream drains what its channel still holds the same way).
    pub(crate) fn detach(self: &Arc<Self>) {
        self.with_core(|st, now| {
            st.closing = true;
            st.sink = None;
            st.core.flush(now);
        });
    }

    /// Stops taking items and flushes what waits; the batch stream ends after the last batch
    /// completes. Idempotent.
    pub(crate) fn close(self: &Arc<Self>) {
        self.with_core(|st, now| {
            st.closing = true;
            st.core.flush(now);
        });
    }
}

/// Completes a batch when its [`DispatchedBatch`] goes away.
pub(crate) trait Complete<K, T>: Send + Sync {
    fn complete(self: Arc<Self>, id: BatchId);
    /// The batch was never received: its items are dropped as undelivered.
    fn abandon(self: Arc<Self>, batch: Batch<K, T>);
}

impl<K, T, S, W> Complete<K, T> for Shared<K, T, S, W>
where
    K: Clone + Eq + Hash + Send + 'static,
    T: Send + 'static,
    S: Sink<K, T>,
    W: Wake,
{
    fn complete(self: Arc<Self>, id: BatchId) {
        self.with_core(|st, now| {
            // Unknown ids cannot happen: each guard completes its own batch once.
            let _ = st.core.complete(id, now);
        });
    }

    fn abandon(self: Arc<Self>, batch: Batch<K, T>) {
        self.with_core(|st, now| {
            let _ = st.core.abandon(batch, now);
        });
    }
}

/// A batch handed out by a driver. It holds its execution slot until dropped (or
/// [`complete`](Self::complete)d): run the work, then let it go. Derefs to [`Batch`], so
/// `std::mem::take(&mut batch.items)` moves the items out.
pub struct DispatchedBatch<K, T> {
    batch: Batch<K, T>,
    owner: Option<Arc<dyn Complete<K, T>>>,
}

impl<K, T> DispatchedBatch<K, T> {
    /// Frees the slot now (the same as dropping it).
    pub fn complete(self) {}

    /// Takes the batch apart without completing it.
    fn disarm(mut self) -> Batch<K, T> {
        self.owner = None;
        self.take()
    }

    /// Hands the batch back unrun, its items dropped as undelivered (for a driver's batch
    /// stream that goes away with batches nobody received).
    pub(crate) fn abandon(mut self) {
        if let Some(owner) = self.owner.take() {
            owner.abandon(self.take());
        }
    }

    /// The batch, leaving an empty one behind (for `Drop`, which still runs).
    fn take(&mut self) -> Batch<K, T> {
        let empty = Batch {
            id: self.batch.id,
            trigger: self.batch.trigger,
            dispatched_at: self.batch.dispatched_at,
            items: Vec::new(),
        };
        std::mem::replace(&mut self.batch, empty)
    }
}

impl<K, T> Deref for DispatchedBatch<K, T> {
    type Target = Batch<K, T>;
    fn deref(&self) -> &Batch<K, T> {
        &self.batch
    }
}

impl<K, T> DerefMut for DispatchedBatch<K, T> {
    fn deref_mut(&mut self) -> &mut Batch<K, T> {
        &mut self.batch
    }
}

impl<K, T> Drop for DispatchedBatch<K, T> {
    fn drop(&mut self) {
        if let Some(owner) = self.owner.take() {
            owner.complete(self.batch.id);
        }
    }
}

impl<K: fmt::Debug, T: fmt::Debug> fmt::Debug for DispatchedBatch<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.batch.fmt(f)
    }
}

/// The part of a driver's `Handle` that is the same whatever the driver waits with: the type
/// (cheap to clone; the last clone dropped closes the batcher) and the methods that never
/// wait. Each driver adds its submits. `$name` is what `Debug` prints.
macro_rules! handle {
    ($name:literal) => {
        /// Pushes items into a running batcher; cheap to clone. When the last clone is dropped
        /// the batcher closes (as [`close`](Self::close) does).
        pub struct Handle<K, T>
        where
            K: Clone + Eq + Hash + Send + 'static,
            T: Send + 'static,
        {
            inner: Arc<HandleInner<K, T>>,
        }

        struct HandleInner<K, T>
        where
            K: Clone + Eq + Hash + Send + 'static,
            T: Send + 'static,
        {
            shared: Arc<SharedState<K, T>>,
        }

        impl<K, T> Drop for HandleInner<K, T>
        where
            K: Clone + Eq + Hash + Send + 'static,
            T: Send + 'static,
        {
            fn drop(&mut self) {
                self.shared.close();
            }
        }

        impl<K, T> Clone for Handle<K, T>
        where
            K: Clone + Eq + Hash + Send + 'static,
            T: Send + 'static,
        {
            fn clone(&self) -> Self {
                Self {
                    inner: self.inner.clone(),
                }
            }
        }

        impl<K, T> fmt::Debug for Handle<K, T>
        where
            K: Clone + Eq + Hash + Send + 'static,
            T: Send + 'static,
        {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct($name).finish_non_exhaustive()
            }
        }

        impl<K, T> Handle<K, T>
        where
            K: Clone + Eq + Hash + Send + 'static,
            T: Send + 'static,
        {
            fn new(shared: Arc<SharedState<K, T>>) -> Self {
                Self {
                    inner: Arc::new(HandleInner { shared }),
                }
            }

            /// Sends out everything waiting now without waiting for the timeout.
            pub fn flush(&self) {
                self.inner.shared.with_core(|st, now| st.core.flush(now));
            }

            /// Drops the waiting items of `key` and forgets its counters (returned).
            pub fn remove_key(&self, key: &K) -> Option<KeyStats> {
                self.inner.shared.with_core(|st, _| st.core.remove_key(key))
            }

            /// A snapshot of the counters.
            pub fn stats(&self) -> Stats {
                self.inner.shared.lock().core.stats()
            }

            /// The counters of one key.
            pub fn key_stats(&self, key: &K) -> Option<KeyStats> {
                self.inner.shared.lock().core.key_stats(key)
            }

            /// Stops taking items (submits fail with [`RejectReason::Closed`]) and flushes what
            /// waits; [`Batches::recv`] returns `None` once every batch has been received and
            /// completed.
            pub fn close(&self) {
                self.inner.shared.close();
            }
        }
    };
}
pub(crate) use handle;
