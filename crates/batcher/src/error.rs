//! The crate's error type, and [`Rejected`], an item handed back to its owner.

use std::fmt;

use crate::BatchId;

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration setting is out of range; the batcher was not built.
    #[error("invalid batcher config: {field} {problem}")]
    InvalidConfig {
        /// The setting at fault.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// [`Batcher::complete`](crate::Batcher::complete) named a batch that is not in flight
    /// (never dispatched, or already completed).
    #[error("batch #{0} is not in flight")]
    UnknownBatch(BatchId),
    /// An item was refused; see [`RejectReason`].
    #[error("item rejected: {0}")]
    Rejected(RejectReason),
    /// A driver could not start its thread.
    #[error("could not start the batcher thread: {0}")]
    Spawn(String),
}

/// Why an item was handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectReason {
    /// The filling buffer is at capacity, every slot is busy, and the policy is
    /// [`OverflowPolicy::Reject`](crate::OverflowPolicy::Reject).
    Full,
    /// The driver is shutting down or gone.
    Closed,
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full => "the batcher is full",
            Self::Closed => "the batcher is closed",
        })
    }
}

/// An item the batcher did not take, handed back with its key so the caller loses nothing.
///
/// Not an error type of its own: convert it into [`Error::Rejected`] (dropping the item) with
/// `?` or `.into()` when the item is no longer wanted.
pub struct Rejected<K, T> {
    /// The key the item was pushed under.
    pub key: K,
    /// The item itself.
    pub value: T,
    /// Why it was refused.
    pub reason: RejectReason,
}

impl<K, T> Rejected<K, T> {
    /// The key and the item.
    pub fn into_parts(self) -> (K, T) {
        (self.key, self.value)
    }
}

impl<K: fmt::Debug, T> fmt::Debug for Rejected<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected")
            .field("key", &self.key)
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl<K, T> From<Rejected<K, T>> for Error {
    fn from(r: Rejected<K, T>) -> Self {
        Error::Rejected(r.reason)
    }
}
