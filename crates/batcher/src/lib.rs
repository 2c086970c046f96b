//! A generic ping-pong batcher: items from many keys (camera streams, clients, shards) go in,
//! bounded batches come out, with a hard bound on how long any item waits.
//!
//! It depends on no crate of the workspace, and on no async runtime unless a driver's feature
//! asks for one (tidy's `LAYERS`).
//!
//! The core, [`Batcher`], is a pure state machine in the style of quinn-proto: it does no I/O,
//! reads no clock and starts no thread. Every call takes `now`; [`Batcher::poll_timeout`] says
//! when to come back and [`Batcher::poll`] hands out [`Event`]s: batches to run and items it
//! had to drop, each with a reason. It knows nothing of video, GPUs or async runtimes, so any
//! project can embed it.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use batcher::{Batcher, Config, Event};
//!
//! let config = Config::builder()
//!     .batch_size(2)
//!     .force_timeout(Duration::from_millis(50))
//!     .build()?;
//! let mut b = Batcher::new(config);
//! let t0 = Instant::now();
//! b.push("cam-1", 10, t0).unwrap();
//! assert!(b.poll().is_none()); // one item: waits for a second or for the timeout
//! assert_eq!(b.poll_timeout(), Some(t0 + Duration::from_millis(50)));
//! b.handle_timeout(t0 + Duration::from_millis(50));
//! let Some(Event::Dispatch(batch)) = b.poll() else { panic!() };
//! assert_eq!(batch.items[0].value, 10);
//! b.complete(batch.id, t0 + Duration::from_millis(60))?;
//! # Ok::<(), batcher::Error>(())
//! ```
//!
//! # Crate features
//!
//! - `tokio` (off by default): the `tokio_driver` module, one task that owns the timer and re-arms a
//!   `Sleep` from `poll_timeout`; handles push from any task, batches come out of a channel.
//! - `blocking` (off by default): the `blocking` module, the same over a thread and crossbeam channels,
//!   for code without an async runtime.
//!
//! With default features the crate depends on `thiserror` alone.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod core;
mod error;
mod event;
mod stats;

#[cfg(any(feature = "tokio", feature = "blocking"))]
mod shared;

#[cfg(feature = "blocking")]
pub mod blocking;
#[cfg(feature = "tokio")]
pub mod tokio_driver;

pub use crate::config::{Config, ConfigBuilder, OverflowPolicy};
pub use crate::core::Batcher;
pub use crate::error::{Error, RejectReason, Rejected};
pub use crate::event::{Batch, BatchId, DropReason, Dropped, Event, Item, Trigger};
#[cfg(any(feature = "tokio", feature = "blocking"))]
pub use crate::shared::{DispatchedBatch, DropHandler};
pub use crate::stats::{DropCounts, KeyStats, Stats, TriggerCounts, WaitSummary};
