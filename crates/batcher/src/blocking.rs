//! The blocking driver: one thread owns the timer, handles push from any thread, batches come
//! out of a bounded crossbeam channel. For code without an async runtime.
//!
//! The thread blocks on `recv_deadline` with the deadline from
//! [`Batcher::poll_timeout`](crate::Batcher::poll_timeout); pushes and completions wake it only
//! when they make that deadline earlier. No polling loop.
//!
//! ```
//! use std::time::Duration;
//! use batcher::{Config, blocking};
//!
//! let config = Config::builder().batch_size(2).force_timeout(Duration::from_millis(5)).build()?;
//! let (handle, batches) = blocking::spawn::<u32, &str>(config)?;
//! handle.submit(7, "frame a")?;
//! let batch = batches.recv().unwrap(); // one item: goes out after 5 ms
//! assert_eq!(batch.items[0].value, "frame a");
//! drop(batch);
//! handle.close();
//! assert!(batches.recv().is_none());
//! # Ok::<(), batcher::Error>(())
//! ```

use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Condvar, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::shared::{Next, Shared, Sink, Wake};
use crate::{Config, DispatchedBatch, DropHandler, Error, KeyStats, RejectReason, Rejected, Stats};

struct ThreadWake {
    timer_tx: Sender<()>,
    timer_rx: Receiver<()>,
    space: Condvar,
}

impl Wake for ThreadWake {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn timer_changed(&self) {
        // A full channel already holds a wake-up.
        let _ = self.timer_tx.try_send(());
    }
    fn space_freed(&self) {
        self.space.notify_all();
    }
}

struct ThreadSink<K, T>(Sender<DispatchedBatch<K, T>>);

impl<K: Send + 'static, T: Send + 'static> Sink<K, T> for ThreadSink<K, T> {
    fn try_deliver(&self, batch: DispatchedBatch<K, T>) -> Result<(), DispatchedBatch<K, T>> {
        self.0.try_send(batch).map_err(|e| match e {
            TrySendError::Full(b) | TrySendError::Disconnected(b) => b,
        })
    }
}

/// What `spawn` returns: the handle to push with and the stream of batches.
pub type Spawned<K, T> = (Handle<K, T>, Batches<K, T>);

type SharedState<K, T> = Shared<K, T, ThreadSink<K, T>, ThreadWake>;

/// Starts a batcher and its timer thread. Dropped items are dropped (and counted).
///
/// # Errors
///
/// [`Error::Spawn`] if the thread cannot start.
pub fn spawn<K, T>(config: Config) -> Result<Spawned<K, T>, Error>
where
    K: Clone + Eq + Hash + Send + 'static,
    T: Send + 'static,
{
    spawn_with(config, None)
}

/// Like [`spawn`], with a handler that receives every dropped item and its reason.
///
/// # Errors
///
/// [`Error::Spawn`] if the thread cannot start.
pub fn spawn_with<K, T>(
    config: Config,
    on_drop: Option<DropHandler<K, T>>,
) -> Result<Spawned<K, T>, Error>
where
    K: Clone + Eq + Hash + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = crossbeam_channel::bounded(config.max_in_flight());
    let (timer_tx, timer_rx) = crossbeam_channel::bounded(1);
    let wake = ThreadWake {
        timer_tx,
        timer_rx,
        space: Condvar::new(),
    };
    let shared = Arc::new(Shared::new(config, ThreadSink(tx), wake, on_drop));
    let timer = shared.clone();
    std::thread::Builder::new()
        .name("batcher-timer".into())
        .spawn(move || run_timer(&timer))
        .map_err(|e| Error::Spawn(e.to_string()))?;
    Ok((Handle::new(shared.clone()), Batches { rx, shared }))
}

fn run_timer<K, T>(shared: &Arc<SharedState<K, T>>)
where
    K: Clone + Eq + Hash + Send + 'static,
    T: Send + 'static,
{
    loop {
        // Woken early, timed out or disconnected: the next tick looks at the state again.
        let _ = match shared.tick() {
            Next::Exit => return,
            Next::Sleep(Some(deadline)) => shared.wake.timer_rx.recv_deadline(deadline).is_ok(),
            Next::Sleep(None) => shared.wake.timer_rx.recv().is_ok(),
        };
    }
}

crate::shared::handle!("blocking::Handle");

impl<K, T> Handle<K, T>
where
    K: Clone + Eq + Hash + Send + 'static,
    T: Send + 'static,
{
    /// Offers an item without blocking.
    ///
    /// # Errors
    ///
    /// The item back, with [`RejectReason::Full`] (policy `Reject` and no room) or
    /// [`RejectReason::Closed`].
    pub fn try_submit(&self, key: K, value: T) -> Result<(), Rejected<K, T>> {
        self.submit_until(key, value, Some(Instant::now()))
    }

    /// Offers an item; under [`OverflowPolicy::Reject`](crate::OverflowPolicy::Reject) blocks
    /// until there is room, under the other policies never blocks.
    ///
    /// # Errors
    ///
    /// The item back with [`RejectReason::Closed`] if the batcher closes first.
    pub fn submit(&self, key: K, value: T) -> Result<(), Rejected<K, T>> {
        self.submit_until(key, value, None)
    }

    /// Like [`submit`](Self::submit), waiting for room at most `timeout`.
    ///
    /// # Errors
    ///
    /// The item back with [`RejectReason::Full`] after the timeout, or
    /// [`RejectReason::Closed`].
    pub fn submit_timeout(
        &self,
        key: K,
        value: T,
        timeout: Duration,
    ) -> Result<(), Rejected<K, T>> {
        self.submit_until(key, value, Some(Instant::now() + timeout))
    }

    fn submit_until(&self, key: K, value: T, until: Option<Instant>) -> Result<(), Rejected<K, T>> {
        let shared = &self.inner.shared;
        let (mut key, mut value) = (key, value);
        let mut st = shared.lock();
        let result = loop {
            if st.closing {
                break Err(Rejected {
                    key,
                    value,
                    reason: RejectReason::Closed,
                });
            }
            let now = Instant::now();
            match st.core.push(key, value, now) {
                Err(r) if r.reason == RejectReason::Full => {
                    let wait = match until {
                        None => None,
                        Some(u) if u > now => Some(u - now),
                        Some(_) => break Err(r),
                    };
                    (key, value) = r.into_parts();
                    st = match wait {
                        None => shared
                            .wake
                            .space
                            .wait(st)
                            .unwrap_or_else(PoisonError::into_inner),
                        Some(w) => {
                            shared
                                .wake
                                .space
                                .wait_timeout(st, w)
                                .unwrap_or_else(PoisonError::into_inner)
                                .0
                        }
                    };
                }
                done => break done,
            }
        };
        shared.release(st, Instant::now());
        result
    }
}

/// The batches, in dispatch order. Several threads may receive from one `Batches` (it is
/// `Sync`; share it in an `Arc`). Dropping it closes the batcher; batches nobody received
/// (still in its channel, or dispatched later) are handed back unrun, their items dropped as
/// [`DropReason::Undelivered`](crate::DropReason::Undelivered).
pub struct Batches<K, T>
where
    K: Clone + Eq + Hash + Send + 'static,
    T: Send + 'static,
{
    rx: Receiver<DispatchedBatch<K, T>>,
    shared: Arc<SharedState<K, T>>,
}

impl<K, T> Drop for Batches<K, T>
where
    K: Clone + Eq + Hash + Send + 'static,
    T: Send + 'static,
{
    fn drop(&mut self) {
        self.shared.detach();
        while let Ok(batch) = self.rx.try_recv() {
            batch.abandon();
        }
    }
}

impl<K, T> fmt::Debug for Batches<K, T>
where
    K: Clone + Eq + Hash + Send + 'static,
    T: Send + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("blocking::Batches").finish_non_exhaustive()
    }
}

impl<K, T> Batches<K, T>
where
    K: Clone + Eq + Hash + Send + 'static,
    T: Send + 'static,
{
    /// The next batch, blocking; `None` once the batcher is closed and drained.
    pub fn recv(&self) -> Option<DispatchedBatch<K, T>> {
        self.rx.recv().ok()
    }

    /// The next batch, waiting at most `timeout`; `None` on timeout or when drained.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<DispatchedBatch<K, T>> {
        self.rx.recv_timeout(timeout).ok()
    }

    /// The underlying channel, for `crossbeam_channel::select!`. (Batches left in a clone of
    /// it when the batcher goes away are completed, not counted as undelivered: receive through
    /// `Batches` where that matters.)
    pub fn receiver(&self) -> &Receiver<DispatchedBatch<K, T>> {
        &self.rx
    }
}
