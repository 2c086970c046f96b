//! The tokio driver: one task owns the timer, handles push from any task, batches come out of
//! a bounded channel.
//!
//! The task sleeps on one `Sleep` re-armed from [`Batcher::poll_timeout`](crate::Batcher::poll_timeout)
//! and on a `Notify` that pushes and completions ring only when they make the deadline earlier;
//! there is no polling loop, so an idle batcher costs no CPU. Pushes, completions and
//! dispatches happen on the caller's task under a short mutex, as in quinn's connection driver.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), batcher::Error> {
//! use std::time::Duration;
//! use batcher::{Config, tokio_driver};
//!
//! let config = Config::builder().batch_size(2).force_timeout(Duration::from_millis(5)).build()?;
//! let (handle, mut batches) = tokio_driver::spawn::<&str, u32>(config)?;
//! handle.submit("cam-1", 1).await?;
//! handle.submit("cam-2", 2).await?;
//! let batch = batches.recv().await.unwrap();
//! assert_eq!(batch.items.len(), 2);
//! drop(batch); // frees the slot
//! handle.close();
//! assert!(batches.recv().await.is_none());
//! # Ok(()) }
//! ```

use std::fmt;
use std::hash::Hash;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};

use crate::shared::{Next, Shared, Sink, Wake};
use crate::{Config, DispatchedBatch, DropHandler, Error, KeyStats, RejectReason, Rejected, Stats};

struct TokioWake {
    timer: Notify,
    space: Notify,
}

impl Wake for TokioWake {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
    fn timer_changed(&self) {
        self.timer.notify_one();
    }
    fn space_freed(&self) {
        self.space.notify_waiters();
    }
}

struct TokioSink<K, T>(mpsc::Sender<DispatchedBatch<K, T>>);

impl<K: Send + 'static, T: Send + 'static> Sink<K, T> for TokioSink<K, T> {
    fn try_deliver(&self, batch: DispatchedBatch<K, T>) -> Result<(), DispatchedBatch<K, T>> {
        self.0.try_send(batch).map_err(|e| match e {
            mpsc::error::TrySendError::Full(b) | mpsc::error::TrySendError::Closed(b) => b,
        })
    }
}

/// What `spawn` returns: the handle to push with and the stream of batches.
pub type Spawned<K, T> = (Handle<K, T>, Batches<K, T>);

/// The granularity of tokio's timer wheel.
const TIMER_TICK: Duration = Duration::from_millis(1);

type SharedState<K, T> = Shared<K, T, TokioSink<K, T>, TokioWake>;

/// Starts a batcher on the current tokio runtime. Dropped items are dropped (and counted).
///
/// # Errors
///
/// [`Error::Spawn`] when called outside a tokio runtime.
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
/// [`Error::Spawn`] when called outside a tokio runtime.
pub fn spawn_with<K, T>(
    config: Config,
    on_drop: Option<DropHandler<K, T>>,
) -> Result<Spawned<K, T>, Error>
where
    K: Clone + Eq + Hash + Send + 'static,
    T: Send + 'static,
{
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| Error::Spawn("tokio_driver::spawn needs a tokio runtime".into()))?;
    // tokio's timer fires on 1 ms ticks, rounding deadlines up: fire up to a tick early
    // instead, so that no item waits longer than `force_timeout`.
    let config = config.with_min_timer_slack(TIMER_TICK);
    let (tx, rx) = mpsc::channel(config.max_in_flight());
    let wake = TokioWake {
        timer: Notify::new(),
        space: Notify::new(),
    };
    let shared = Arc::new(Shared::new(config, TokioSink(tx), wake, on_drop));
    runtime.spawn(run_timer(shared.clone()));
    Ok((Handle::new(shared.clone()), Batches { rx, shared }))
}

async fn run_timer<K, T>(shared: Arc<SharedState<K, T>>)
where
    K: Clone + Eq + Hash + Send + 'static,
    T: Send + 'static,
{
    let mut sleep = pin!(tokio::time::sleep(Duration::ZERO));
    loop {
        match shared.tick() {
            Next::Exit => return,
            Next::Sleep(Some(deadline)) => {
                sleep
                    .as_mut()
                    .reset(tokio::time::Instant::from_std(deadline));
                tokio::select! {
                    biased;
                    () = shared.wake.timer.notified() => {}
                    () = sleep.as_mut() => {}
                }
            }
            Next::Sleep(None) => shared.wake.timer.notified().await,
        }
    }
}

crate::shared::handle!("tokio_driver::Handle");

impl<K, T> Handle<K, T>
where
    K: Clone + Eq + Hash + Send + 'static,
    T: Send + 'static,
{
    /// Offers an item without waiting.
    ///
    /// # Errors
    ///
    /// The item back, with [`RejectReason::Full`] (policy `Reject` and no room) or
    /// [`RejectReason::Closed`].
    pub fn try_submit(&self, key: K, value: T) -> Result<(), Rejected<K, T>> {
        self.inner.shared.with_core(|st, now| {
            if st.closing {
                return Err(Rejected {
                    key,
                    value,
                    reason: RejectReason::Closed,
                });
            }
            st.core.push(key, value, now)
        })
    }

    /// Offers an item; under [`OverflowPolicy::Reject`](crate::OverflowPolicy::Reject) waits
    /// for room (back-pressure), under the other policies never waits.
    ///
    /// # Errors
    ///
    /// The item back with [`RejectReason::Closed`] if the batcher closes first.
    pub async fn submit(&self, key: K, value: T) -> Result<(), Rejected<K, T>> {
        let (mut key, mut value) = (key, value);
        loop {
            let mut room = pin!(self.inner.shared.wake.space.notified());
            room.as_mut().enable();
            match self.try_submit(key, value) {
                Err(r) if r.reason == RejectReason::Full => (key, value) = r.into_parts(),
                done => return done,
            }
            room.await;
        }
    }
}

/// The batches, in dispatch order. Dropping it closes the batcher; batches nobody received
/// (still in its channel, or dispatched later) are handed back unrun, their items dropped as
/// [`DropReason::Undelivered`](crate::DropReason::Undelivered).
pub struct Batches<K, T>
where
    K: Clone + Eq + Hash + Send + 'static,
    T: Send + 'static,
{
    rx: mpsc::Receiver<DispatchedBatch<K, T>>,
    shared: Arc<SharedState<K, T>>,
}

impl<K, T> Drop for Batches<K, T>
where
    K: Clone + Eq + Hash + Send + 'static,
    T: Send + 'static,
{
    fn drop(&mut self) {
        self.shared.detach();
        self.rx.close();
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
        f.debug_struct("tokio_driver::Batches")
            .finish_non_exhaustive()
    }
}

impl<K, T> Batches<K, T>
where
    K: Clone + Eq + Hash + Send + 'static,
    T: Send + 'static,
{
    /// The next batch, or `None` once the batcher is closed and drained.
    pub async fn recv(&mut self) -> Option<DispatchedBatch<K, T>> {
        self.rx.recv().await
    }
}
