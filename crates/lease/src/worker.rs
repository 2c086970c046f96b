//! One worker's lease state machine. The driver feeds it what the store said ([`Input`]) and
//! asks it at every tick what to do ([`Worker::poll`]); it never waits on anything.
//!
//! Invariants (checked by `tests/properties.rs` against a simulated store with delays, lost
//! replies, frozen and killed workers):
//! - [`Worker::may_publish`] is true for at most one worker per camera at any instant.
//! - A worker trusts a lease for `0.7 · ttl` from the moment it sent the last write that
//!   succeeded; the store keeps it for `ttl` from the moment it applied that write.
//! - At most one claim per camera and one renewal per held lease are in flight: the next
//!   waits for the answer to the last (the driver answers every one, if only with `Transient`
//!   on a timeout), so an answer that waited in a frozen worker's queue counts from its own
//!   request, never from a later one.
//! - A camera is started only after its claim succeeded and stopped at the latest when its
//!   lease is no longer trusted; every `Start` is followed by exactly one `Stop`.
//! - Claims follow rendezvous hashing over the live members; a worker gives a camera up to
//!   its better owner only after the membership view has been stable for `settle`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::hrw::owner;
use crate::view::View;

/// Timing of the fleet; every worker of a fleet must use the same `ttl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// How long the store keeps a lease or a heartbeat after its last write.
    pub ttl: Duration,
    /// How long the membership view must be unchanged before cameras move to a better
    /// owner, and how long a starting worker listens before it claims anything.
    pub settle: Duration,
}

impl Config {
    /// `ttl` with `settle` of a third of it.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            settle: ttl / 3,
        }
    }

    /// How often a lease is renewed and a heartbeat written: a third of the TTL.
    pub fn renew_every(&self) -> Duration {
        self.ttl / 3
    }

    /// How long after its last successful write a worker still trusts a lease.
    pub fn deadline(&self) -> Duration {
        self.ttl.mul_f64(0.7)
    }
}

/// What the store (or the driver) reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A member's heartbeat was written.
    Heartbeat { member: String },
    /// A member's key was deleted (a graceful stop).
    Left { member: String },
    /// A lease was written: `camera` is held by `owner` at `revision`.
    Lease {
        camera: String,
        owner: String,
        revision: u64,
    },
    /// A lease was deleted.
    LeaseGone { camera: String },
    /// A camera was added to the registry.
    CameraAdded { camera: String },
    /// A camera was removed from the registry.
    CameraRemoved { camera: String },
    /// The answer to [`Action::Claim`]: the lease's revision, which is its fencing token.
    Claimed {
        camera: String,
        result: Result<u64, LeaseError>,
    },
    /// The answer to [`Action::Renew`]: the lease's new revision.
    Renewed {
        camera: String,
        result: Result<u64, LeaseError>,
    },
    /// Stop: release every lease and claim nothing more.
    Shutdown,
}

/// Why a lease write failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseError {
    /// Someone else holds it (compare-and-set failed): never retried.
    Taken,
    /// No answer or a transient failure: retried at the next tick.
    Transient,
}

/// Why a camera stops on this worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Another worker is its owner now (membership changed).
    Rebalance,
    /// It left the registry.
    Removed,
    /// Another worker holds its lease.
    Lost,
    /// The lease could not be renewed in time.
    Expired,
    /// This worker is stopping.
    Shutdown,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write this worker's heartbeat.
    Heartbeat,
    /// Create `camera`'s lease, or with `over`, replace the write at that revision, which no
    /// one has renewed for a TTL (compare-and-set: fails if anyone wrote since; if the store
    /// already let it lapse, create instead). Answer with [`Input::Claimed`].
    Claim { camera: String, over: Option<u64> },
    /// Update `camera`'s lease if still at `revision`; answer with [`Input::Renewed`].
    Renew { camera: String, revision: u64 },
    /// Delete `camera`'s lease if still at `revision`; no answer needed.
    Release { camera: String, revision: u64 },
    /// Start processing `camera`; publish under `token`.
    Start { camera: String, token: u64 },
    /// Stop processing `camera`.
    Stop { camera: String, reason: StopReason },
}

#[derive(Debug, Clone)]
struct Held {
    token: u64,
    revision: u64,
    /// When the last successful write was sent.
    ok_at: Duration,
    renew_sent: Option<Duration>,
}

#[derive(Debug, Clone)]
struct Lease {
    owner: String,
    revision: u64,
    seen_at: Duration,
}

/// One worker's state.
#[derive(Debug, Clone)]
pub struct Worker {
    me: String,
    cfg: Config,
    started: Duration,
    view: View,
    desired: BTreeSet<String>,
    leases: BTreeMap<String, Lease>,
    held: BTreeMap<String, Held>,
    claiming: BTreeMap<String, Duration>,
    backoff: BTreeMap<String, Duration>,
    /// Leases not written for a TTL as we saw them: camera → the last revision seen. The
    /// store may not have removed them yet; a claim replaces that revision.
    stale: BTreeMap<String, u64>,
    last_heartbeat: Option<Duration>,
    stopping: bool,
    out: Vec<Action>,
}

impl Worker {
    /// Worker `me`, started at `now`.
    pub fn new(me: impl Into<String>, cfg: Config, now: Duration) -> Self {
        Self {
            me: me.into(),
            cfg,
            started: now,
            view: View::new(cfg.ttl, now),
            desired: BTreeSet::new(),
            leases: BTreeMap::new(),
            held: BTreeMap::new(),
            claiming: BTreeMap::new(),
            backoff: BTreeMap::new(),
            stale: BTreeMap::new(),
            last_heartbeat: None,
            stopping: false,
            out: Vec::new(),
        }
    }

    /// This worker's id.
    pub fn id(&self) -> &str {
        &self.me
    }

    /// Takes in one report of the store or the driver.
    pub fn handle(&mut self, now: Duration, input: Input) {
        match input {
            Input::Heartbeat { member } => self.view.heard(&member, now),
            Input::Left { member } => self.view.left(&member, now),
            Input::Lease {
                camera,
                owner,
                revision,
            } => {
                if owner != self.me {
                    if self
                        .held
                        .get(&camera)
                        .is_some_and(|h| revision > h.revision)
                    {
                        self.held.remove(&camera);
                        self.out.push(Action::Stop {
                            camera: camera.clone(),
                            reason: StopReason::Lost,
                        });
                    }
                } else if let Some(h) = self.held.get_mut(&camera) {
                    // The echo of our own renewal whose answer was lost: renew from its
                    // revision next (the trust still counts from the last answered write).
                    if revision > h.revision && h.renew_sent.is_none() {
                        h.revision = revision;
                    }
                } else if !self.claiming.contains_key(&camera) {
                    // Ours but not held: left by an earlier run under the same id, or an
                    // echo of a write before we let it go. Free it (a no-op if stale).
                    self.out.push(Action::Release {
                        camera: camera.clone(),
                        revision,
                    });
                }
                let newer = self
                    .leases
                    .get(&camera)
                    .is_none_or(|l| revision >= l.revision)
                    && self.stale.get(&camera).is_none_or(|r| revision > *r);
                if newer {
                    self.stale.remove(&camera);
                    self.leases.insert(
                        camera,
                        Lease {
                            owner,
                            revision,
                            seen_at: now,
                        },
                    );
                }
            }
            Input::LeaseGone { camera } => {
                self.leases.remove(&camera);
                self.stale.remove(&camera);
                self.backoff.remove(&camera);
            }
            Input::CameraAdded { camera } => {
                self.desired.insert(camera);
            }
            Input::CameraRemoved { camera } => {
                self.desired.remove(&camera);
            }
            Input::Claimed { camera, result } => {
                let Some(sent) = self.claiming.remove(&camera) else {
                    return;
                };
                match result {
                    Ok(rev) if self.stopping || !self.desired.contains(&camera) => {
                        self.out.push(Action::Release {
                            camera,
                            revision: rev,
                        });
                    }
                    Ok(rev) => {
                        self.held.insert(
                            camera.clone(),
                            Held {
                                token: rev,
                                revision: rev,
                                ok_at: sent,
                                renew_sent: None,
                            },
                        );
                        self.leases.insert(
                            camera.clone(),
                            Lease {
                                owner: self.me.clone(),
                                revision: rev,
                                seen_at: now,
                            },
                        );
                        self.stale.remove(&camera);
                        self.out.push(Action::Start { camera, token: rev });
                    }
                    Err(LeaseError::Taken) => {
                        self.backoff.insert(camera, now + self.cfg.renew_every());
                    }
                    Err(LeaseError::Transient) => {
                        self.backoff
                            .insert(camera, now + self.cfg.renew_every() / 4);
                    }
                }
            }
            Input::Renewed { camera, result } => {
                let Some(h) = self.held.get_mut(&camera) else {
                    return;
                };
                let Some(sent) = h.renew_sent.take() else {
                    return;
                };
                match result {
                    Ok(rev) => {
                        h.ok_at = sent;
                        h.revision = rev;
                    }
                    Err(LeaseError::Taken) => {
                        self.held.remove(&camera);
                        self.out.push(Action::Stop {
                            camera,
                            reason: StopReason::Lost,
                        });
                    }
                    Err(LeaseError::Transient) => {}
                }
            }
            Input::Shutdown => self.stopping = true,
        }
    }

    /// What to do now: called every tick (about 100 ms) and after inputs.
    pub fn poll(&mut self, now: Duration) -> Vec<Action> {
        let mut out = std::mem::take(&mut self.out);
        let cfg = self.cfg;
        if self.stopping {
            self.view.left(&self.me.clone(), now);
        } else {
            self.view.heard(&self.me.clone(), now);
            if self
                .last_heartbeat
                .is_none_or(|t| now.saturating_sub(t) >= cfg.renew_every())
            {
                self.last_heartbeat = Some(now);
                out.push(Action::Heartbeat);
            }
        }
        self.view.expire(now);
        let me = self.me.clone();
        // The store lets a lease lapse a TTL after its last write; we saw that write at or
        // after it happened, so forgetting it a TTL after we saw it is never early.
        let stale = &mut self.stale;
        self.leases.retain(|camera, l| {
            let fresh = now.saturating_sub(l.seen_at) < cfg.ttl;
            if !fresh {
                stale.insert(camera.clone(), l.revision);
            }
            fresh
        });
        self.backoff.retain(|_, until| *until > now);
        // A claim stays pending until its answer comes (the driver answers every claim, if
        // only with `Transient` on a timeout): were a second one sent meanwhile, a late answer
        // to the first (one that sat in a frozen worker's queue) would count from the second's
        // send time, and the lease be trusted past the moment the store let it lapse.
        let settled = now.saturating_sub(self.started) >= cfg.settle;
        let stable = settled && self.view.stable_for(now) >= cfg.settle;

        let cams: Vec<String> = self.held.keys().cloned().collect();
        for camera in cams {
            let h = self.held.get_mut(&camera).expect("listed");
            let trusted = now.saturating_sub(h.ok_at) < cfg.deadline();
            let reason = if !trusted {
                Some(StopReason::Expired)
            } else if self.stopping {
                Some(StopReason::Shutdown)
            } else if !self.desired.contains(&camera) {
                Some(StopReason::Removed)
            } else if stable && owner(&camera, self.view.members()) != Some(me.as_str()) {
                Some(StopReason::Rebalance)
            } else {
                None
            };
            if let Some(reason) = reason {
                let revision = h.revision;
                self.held.remove(&camera);
                self.leases.remove(&camera);
                out.push(Action::Release {
                    camera: camera.clone(),
                    revision,
                });
                out.push(Action::Stop { camera, reason });
                continue;
            }
            let due = now.saturating_sub(h.ok_at) >= cfg.renew_every();
            // One renewal at a time, until its answer comes (as with claims): a late answer
            // must not count from the send time of a later renewal.
            if due && h.renew_sent.is_none() {
                h.renew_sent = Some(now);
                out.push(Action::Renew {
                    camera,
                    revision: h.revision,
                });
            }
        }

        if !self.stopping && settled {
            for camera in &self.desired {
                if self.held.contains_key(camera)
                    || self.claiming.contains_key(camera)
                    || self.backoff.contains_key(camera)
                    || self.leases.contains_key(camera)
                {
                    continue;
                }
                if owner(camera, self.view.members()) == Some(me.as_str()) {
                    self.claiming.insert(camera.clone(), now);
                    out.push(Action::Claim {
                        camera: camera.clone(),
                        over: self.stale.get(camera).copied(),
                    });
                }
            }
        }
        out
    }

    /// Whether a result of `camera` may be published under `token` now: this worker holds
    /// that lease and still trusts it. Check it right before every publish.
    pub fn may_publish(&self, camera: &str, token: u64, now: Duration) -> bool {
        self.held
            .get(camera)
            .is_some_and(|h| h.token == token && now.saturating_sub(h.ok_at) < self.cfg.deadline())
    }

    /// The cameras this worker holds, with their fencing tokens.
    pub fn held(&self) -> impl Iterator<Item = (&str, u64)> {
        self.held.iter().map(|(c, h)| (c.as_str(), h.token))
    }

    /// The leases this worker knows of: camera, owner, revision.
    pub fn leases(&self) -> impl Iterator<Item = (&str, &str, u64)> {
        self.leases
            .iter()
            .map(|(c, l)| (c.as_str(), l.owner.as_str(), l.revision))
    }

    /// The live members as this worker sees them.
    pub fn view(&self) -> &View {
        &self.view
    }

    /// The cameras in the registry.
    pub fn desired(&self) -> impl Iterator<Item = &str> {
        self.desired.iter().map(String::as_str)
    }

    /// Whether a shutdown has been asked for and every lease let go.
    pub fn is_done(&self) -> bool {
        self.stopping && self.held.is_empty()
    }
}
