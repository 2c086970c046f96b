//! What the batcher hands out: batches to run and items it had to drop.

use std::fmt;
use std::time::Instant;

/// Identifies a dispatched batch; numbered from 0 in dispatch order, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BatchId(pub u64);

impl fmt::Display for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a batch went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// `batch_size` dispatchable items were waiting (or the buffer reached capacity).
    Full,
    /// The oldest waiting item had waited `force_timeout`.
    Timeout,
    /// [`Batcher::flush`](crate::Batcher::flush) asked for everything waiting to go out.
    Flush,
}

/// Why an item left the batcher without being dispatched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// The buffer was full and the oldest waiting item made room
    /// ([`OverflowPolicy::DropOldest`](crate::OverflowPolicy::DropOldest), or
    /// [`LatestPerKey`](crate::OverflowPolicy::LatestPerKey) when the key had nothing waiting).
    Overflow,
    /// A newer item of the same key replaced it
    /// ([`OverflowPolicy::LatestPerKey`](crate::OverflowPolicy::LatestPerKey), or
    /// [`max_waiting_per_key`](crate::ConfigBuilder::max_waiting_per_key)).
    Superseded,
    /// Its key was removed with [`Batcher::remove_key`](crate::Batcher::remove_key).
    KeyRemoved,
    /// Its batch was dispatched but never run: handed back with
    /// [`Batcher::abandon`](crate::Batcher::abandon), as the drivers do with batches nobody
    /// received before they closed.
    Undelivered,
}

impl DropReason {
    /// A short stable name for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Overflow => "overflow",
            Self::Superseded => "superseded",
            Self::KeyRemoved => "key_removed",
            Self::Undelivered => "undelivered",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One item with the key it was pushed under and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item<K, T> {
    /// The key (for example a stream id).
    pub key: K,
    /// The item.
    pub value: T,
    /// The `now` passed to the `push` that brought it in.
    pub pushed_at: Instant,
}

/// A batch to run. Report it done with [`Batcher::complete`](crate::Batcher::complete)
/// so that its slot frees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch<K, T> {
    /// The id to pass to `complete`.
    pub id: BatchId,
    /// What sent it out.
    pub trigger: Trigger,
    /// When it went out.
    pub dispatched_at: Instant,
    /// Its items, oldest first; items of one key keep their push order.
    pub items: Vec<Item<K, T>>,
}

/// An item dropped, with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped<K, T> {
    /// The item and its key.
    pub item: Item<K, T>,
    /// Why it was dropped.
    pub reason: DropReason,
}

/// What [`Batcher::poll`](crate::Batcher::poll) hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<K, T> {
    /// Run this batch, then call `complete(batch.id, now)`.
    Dispatch(Batch<K, T>),
    /// This item will never be dispatched.
    Dropped(Dropped<K, T>),
}
