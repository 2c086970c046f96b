//! A worker's view of the live members: who heartbeated within the TTL, by its own clock,
//! and since when the set has not changed (a rebalance waits for a stable view).

use std::collections::BTreeMap;
use std::time::Duration;

/// Live members and when each was last heard from (times are the caller's, from any epoch).
#[derive(Debug, Clone)]
pub struct View {
    ttl: Duration,
    seen: BTreeMap<String, Duration>,
    changed_at: Duration,
}

impl View {
    /// An empty view whose members lapse `ttl` after their last heartbeat.
    pub fn new(ttl: Duration, now: Duration) -> Self {
        Self {
            ttl,
            seen: BTreeMap::new(),
            changed_at: now,
        }
    }

    /// A heartbeat of `member` arrived at `now`.
    pub fn heard(&mut self, member: &str, now: Duration) {
        if self.seen.insert(member.to_owned(), now).is_none() {
            self.changed_at = now;
        }
    }

    /// `member` left (its key was deleted).
    pub fn left(&mut self, member: &str, now: Duration) {
        if self.seen.remove(member).is_some() {
            self.changed_at = now;
        }
    }

    /// Forgets members not heard from for a TTL (the store may not say when a key lapses).
    pub fn expire(&mut self, now: Duration) {
        let ttl = self.ttl;
        let before = self.seen.len();
        self.seen.retain(|_, at| now.saturating_sub(*at) < ttl);
        if self.seen.len() != before {
            self.changed_at = now;
        }
    }

    /// The live members, in name order.
    pub fn members(&self) -> impl Iterator<Item = &str> {
        self.seen.keys().map(String::as_str)
    }

    /// Whether `member` is in the view.
    pub fn contains(&self, member: &str) -> bool {
        self.seen.contains_key(member)
    }

    /// How many members are live.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no member is live.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// How long the set of members has been what it is.
    pub fn stable_for(&self, now: Duration) -> Duration {
        now.saturating_sub(self.changed_at)
    }

    /// When each member was last heard from.
    pub fn last_seen(&self) -> impl Iterator<Item = (&str, Duration)> {
        self.seen.iter().map(|(m, t)| (m.as_str(), *t))
    }
}
