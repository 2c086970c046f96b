//! The rules of a worker fleet, as pure logic: which worker should own which camera
//! (rendezvous hashing over a membership view), when a worker may claim, renew, release or
//! must drop a lease, when it may publish under one, and how a reader fences out results of
//! an owner that lost its lease. No I/O and no clock: the caller (the binary's NATS driver)
//! feeds in what the key-value store said and the time, and carries out the [`Action`]s.
//!
//! It depends on no crate of the workspace (tidy's `LAYERS`).
//!
//! The store is a compare-and-set key-value store with per-bucket TTLs (NATS JetStream KV):
//! a lease is a key per camera, created by its owner and updated every `ttl / 3`; the key's
//! revision at creation is the **fencing token**, which grows with every new owner. The
//! safety argument, which the property tests check against a simulated store:
//!
//! - The store lets a lease lapse `ttl` after its last successful write.
//! - A worker counts its lease from the moment it *sent* the write that succeeded, and stops
//!   trusting it after `0.7 · ttl`, so it stops publishing before the store can hand the
//!   camera to anyone else, however long it was frozen.
//! - A reader drops results whose token is older than the newest it has seen for that camera
//!   ([`Fence`]), which covers a publish already on the wire when its worker froze.
//!
//! ```
//! use lease::owner;
//!
//! let members = ["w1", "w2", "w3"];
//! let a = owner("cam-7", members.iter().copied()).unwrap();
//! // Removing a worker that does not own cam-7 does not move it.
//! let others: Vec<&str> = members.iter().copied().filter(|m| *m != a).collect();
//! let b = owner("cam-7", others.iter().copied()).unwrap();
//! let rest: Vec<&str> = members.iter().copied().filter(|m| *m != b).collect();
//! assert_eq!(owner("cam-7", rest.iter().copied()), Some(a));
//! ```

mod audit;
mod fence;
mod hrw;
mod view;
mod worker;

pub use audit::{Audit, Violation};
pub use fence::Fence;
pub use hrw::{owner, score};
pub use view::View;
pub use worker::{Action, Config, Input, LeaseError, StopReason, Worker};
