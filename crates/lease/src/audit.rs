//! An ownership audit over what a test recorded: every lease write seen in the store and
//! every result in the order the results stream holds them.

use std::collections::{HashMap, HashSet};
use std::fmt;

/// One thing the audit found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// A camera's lease revision went backwards (or repeated) in the store's order.
    LeaseWentBack { camera: String, from: u64, to: u64 },
    /// A result came after one of the same camera with a newer token.
    ResultOutOfOrder {
        camera: String,
        newest: u64,
        got: u64,
    },
    /// A result's token was never a lease of its worker on that camera.
    NotALease {
        camera: String,
        worker: String,
        token: u64,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LeaseWentBack { camera, from, to } => {
                write!(
                    f,
                    "camera {camera}: lease revision went from {from} to {to}"
                )
            }
            Self::ResultOutOfOrder {
                camera,
                newest,
                got,
            } => write!(
                f,
                "camera {camera}: a result with token {got} came after one with token {newest}"
            ),
            Self::NotALease {
                camera,
                worker,
                token,
            } => write!(
                f,
                "camera {camera}: worker {worker} published under token {token}, which it never claimed"
            ),
        }
    }
}

/// Collects lease writes and results, then reports what breaks single ownership.
#[derive(Debug, Default, Clone)]
pub struct Audit {
    last_rev: HashMap<String, u64>,
    claims: HashSet<(String, String, u64)>,
    newest_result: HashMap<String, u64>,
    pending: Vec<(String, String, u64)>,
    violations: Vec<Violation>,
    leases: u64,
    results: u64,
}

impl Audit {
    /// An empty audit.
    pub fn new() -> Self {
        Self::default()
    }

    /// A lease write in the store's order: `camera` now held by `owner` at `revision`, which
    /// is a new claim (a fencing token) when `claim` is true and a renewal otherwise.
    pub fn lease(&mut self, camera: &str, owner: &str, revision: u64, claim: bool) {
        self.leases += 1;
        if let Some(&last) = self.last_rev.get(camera)
            && revision <= last
        {
            self.violations.push(Violation::LeaseWentBack {
                camera: camera.to_owned(),
                from: last,
                to: revision,
            });
        }
        self.last_rev.insert(camera.to_owned(), revision);
        if claim {
            self.claims
                .insert((camera.to_owned(), owner.to_owned(), revision));
        }
    }

    /// A result in the results stream's order.
    pub fn result(&mut self, camera: &str, worker: &str, token: u64) {
        self.results += 1;
        let newest = self.newest_result.entry(camera.to_owned()).or_insert(token);
        if token < *newest {
            self.violations.push(Violation::ResultOutOfOrder {
                camera: camera.to_owned(),
                newest: *newest,
                got: token,
            });
        } else {
            *newest = token;
        }
        self.pending
            .push((camera.to_owned(), worker.to_owned(), token));
    }

    /// Lease writes and results recorded.
    pub fn counts(&self) -> (u64, u64) {
        (self.leases, self.results)
    }

    /// Everything found wrong. Results are checked against the claims recorded by then, so
    /// call this after the lease log is complete.
    pub fn violations(&self) -> Vec<Violation> {
        let mut out = self.violations.clone();
        let mut reported = HashSet::new();
        for key in &self.pending {
            if !self.claims.contains(key) && reported.insert(key.clone()) {
                out.push(Violation::NotALease {
                    camera: key.0.clone(),
                    worker: key.1.clone(),
                    token: key.2,
                });
            }
        }
        out
    }
}
