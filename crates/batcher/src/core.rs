//! The sans-IO state machine: buffers, the dispatch rule, overflow and counters.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::mem;
use std::time::Instant;

use crate::stats::Histogram;
use crate::{
    Batch, BatchId, Config, DropCounts, DropReason, Dropped, Error, Event, Item, KeyStats,
    OverflowPolicy, RejectReason, Rejected, Stats, Trigger, TriggerCounts,
};

/// A ping-pong batcher generalised to `max_in_flight` slots: items of many keys go in,
/// bounded batches come out. It does no I/O, reads no clock and starts no thread.
///
/// # The dispatch rule
///
/// Items wait in one filling buffer (at most `capacity` of them), oldest first. While fewer
/// than `max_in_flight` batches are outstanding, a batch of up to `batch_size` of the oldest
/// items (at most `max_per_key` of any one key) goes out as soon as
///
/// - **full**: `batch_size` items can be taken, or the buffer holds `capacity` items;
/// - **timeout**: the *oldest* waiting item was pushed `force_timeout` ago (or will be within
///   `timer_slack`, for drivers whose timers fire late); an item that superseded another (see
///   [`max_waiting_per_key`](crate::ConfigBuilder::max_waiting_per_key)) counts from the
///   push of the item whose place it took;
/// - **flush**: [`flush`](Self::flush) was called and items pushed before it still wait.
///
/// No batch ever goes out while `max_in_flight` are outstanding: with the default of 1 that is
/// the seed's ping-pong (one buffer fills while the other is processed, never swap into a busy
/// buffer).
///
/// # The waiting bound
///
/// The timeout runs from the oldest waiting item, not from the latest push, so a steady
/// trickle cannot postpone it. Hence: **an item waits at most `force_timeout` plus the time
/// during which every slot was busy** while it waited. Equivalently, after every call, no item
/// older than `force_timeout` waits while a slot is free. The property tests check this for
/// every item.
///
/// # Calling rules
///
/// - Every call that can change the state takes `now`. Pass a monotonic clock; a `now` earlier
///   than one already seen is treated as that latest one.
/// - After each call, drain [`poll`](Self::poll) until it returns `None`, then ask
///   [`poll_timeout`](Self::poll_timeout) when to call [`handle_timeout`](Self::handle_timeout)
///   next (it changes after any call).
/// - Report each dispatched batch with [`complete`](Self::complete) when its work is done;
///   until then it holds a slot.
///
/// Memory is bounded: at most `capacity` items wait, at most `max_in_flight` batches are out,
/// and the event queue holds only what the last calls produced.
pub struct Batcher<K, T> {
    config: Config,
    waiting: VecDeque<Waiting<K, T>>,
    /// Scratch space for building batches under `max_per_key`; kept to avoid reallocating.
    scratch: VecDeque<Waiting<K, T>>,
    keys: HashMap<K, KeyState>,
    /// Items a batch could take now: Σ over keys of min(waiting, max_per_key).
    selectable: usize,
    /// Batches out, each with the generation of every item's key (so that `abandon` charges
    /// its items to the keys they were pushed under, not to a key re-added since).
    in_flight: Vec<(BatchId, Vec<u64>)>,
    next_generation: u64,
    next_batch: u64,
    next_seq: u64,
    /// While set, items with a sequence number up to this one are flushed.
    flush_upto: Option<u64>,
    events: VecDeque<Event<K, T>>,
    now: Option<Instant>,
    counters: Counters,
}

struct Waiting<K, T> {
    /// The position in line (push order of the position, not of the value in it).
    seq: u64,
    key: K,
    value: T,
    pushed_at: Instant,
    /// What the timeout runs from: the push of the item that first took this position (a
    /// superseding item inherits it with the position).
    since: Instant,
}

struct KeyState {
    stats: KeyStats,
    /// Tells this key's counters from those of the same key removed and added again.
    generation: u64,
}

struct Counters {
    pushed: u64,
    rejected: u64,
    dispatched: u64,
    batches: TriggerCounts,
    dropped: DropCounts,
    wait: Histogram,
}

impl<K, T> fmt::Debug for Batcher<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batcher")
            .field("config", &self.config)
            .field("waiting", &self.waiting.len())
            .field("in_flight", &self.in_flight.len())
            .field("keys", &self.keys.len())
            .field("pending_events", &self.events.len())
            .finish_non_exhaustive()
    }
}

impl<K, T> Batcher<K, T>
where
    K: Clone + Eq + Hash,
{
    /// A batcher with nothing waiting and nothing in flight.
    pub fn new(config: Config) -> Self {
        Self {
            waiting: VecDeque::with_capacity(config.capacity),
            scratch: VecDeque::new(),
            keys: HashMap::new(),
            selectable: 0,
            in_flight: Vec::with_capacity(config.max_in_flight),
            next_generation: 0,
            next_batch: 0,
            next_seq: 0,
            flush_upto: None,
            events: VecDeque::new(),
            now: None,
            counters: Counters {
                pushed: 0,
                rejected: 0,
                dispatched: 0,
                batches: TriggerCounts::default(),
                dropped: DropCounts::default(),
                wait: Histogram::new(),
            },
            config,
        }
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Offers an item under `key`.
    ///
    /// If `key` already has [`max_waiting_per_key`](crate::ConfigBuilder::max_waiting_per_key)
    /// items waiting, its oldest is superseded and the key keeps its place in line. Otherwise,
    /// if the buffer is at capacity (which, by the dispatch rule, happens only while every slot
    /// is busy) the [`OverflowPolicy`] decides: `Reject` hands the item back, the others drop a
    /// waiting item (reported by [`poll`](Self::poll)) and take this one.
    ///
    /// # Errors
    ///
    /// [`Rejected`] with the key and item, under [`OverflowPolicy::Reject`] when full.
    pub fn push(&mut self, key: K, value: T, now: Instant) -> Result<(), Rejected<K, T>> {
        let now = self.advance(now);
        self.drive(now);
        if let Some(limit) = self.config.max_waiting_per_key
            && self
                .keys
                .get(&key)
                .is_some_and(|s| s.stats.waiting >= limit)
        {
            self.supersede_in_place(key, value, now);
            self.drive(now);
            return Ok(());
        }
        if self.waiting.len() >= self.config.capacity {
            match self.config.overflow {
                OverflowPolicy::Reject => {
                    self.counters.rejected += 1;
                    self.key_state(&key).stats.rejected += 1;
                    return Err(Rejected {
                        key,
                        value,
                        reason: RejectReason::Full,
                    });
                }
                OverflowPolicy::DropOldest => self.drop_at(0, DropReason::Overflow),
                OverflowPolicy::LatestPerKey => {
                    match self.waiting.iter().position(|w| w.key == key) {
                        Some(i) => self.drop_at(i, DropReason::Superseded),
                        None => self.drop_at(0, DropReason::Overflow),
                    }
                }
            }
        }
        let max_per_key = self.config.max_per_key;
        let state = self.key_state(&key);
        state.stats.pushed += 1;
        state.stats.waiting += 1;
        if max_per_key.is_none_or(|m| state.stats.waiting <= m) {
            self.selectable += 1;
        }
        self.counters.pushed += 1;
        self.waiting.push_back(Waiting {
            seq: self.next_seq,
            key,
            value,
            pushed_at: now,
            since: now,
        });
        self.next_seq += 1;
        self.drive(now);
        Ok(())
    }

    /// Dispatches what the passage of time made due. Call it at (or after) the instant
    /// [`poll_timeout`](Self::poll_timeout) returned; calling it early or often is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        self.drive(now);
    }

    /// When [`handle_timeout`](Self::handle_timeout) has something to do, or `None` while
    /// nothing waits or every slot is busy (then only a push, `complete` or `flush` can change
    /// that).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.in_flight.len() >= self.config.max_in_flight {
            return None;
        }
        let oldest = self.waiting.front()?;
        let due = oldest.since + self.config.force_timeout;
        Some(due.checked_sub(self.config.timer_slack).unwrap_or(due))
    }

    /// The next event, oldest first.
    pub fn poll(&mut self) -> Option<Event<K, T>> {
        self.events.pop_front()
    }

    /// Reports batch `id` done, freeing its slot (which may dispatch the next batch at once).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownBatch`] if `id` is not in flight; nothing changes then.
    pub fn complete(&mut self, id: BatchId, now: Instant) -> Result<(), Error> {
        let now = self.advance(now);
        let i = self
            .in_flight
            .iter()
            .position(|(b, _)| *b == id)
            .ok_or(Error::UnknownBatch(id))?;
        self.in_flight.swap_remove(i);
        self.drive(now);
        Ok(())
    }

    /// Hands back a dispatched batch that was never run (its receiver went away), freeing its
    /// slot like [`complete`](Self::complete) but counting its items as dropped
    /// ([`DropReason::Undelivered`], reported by [`poll`](Self::poll)) instead of dispatched.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownBatch`] if `batch.id` is not in flight; nothing changes then.
    pub fn abandon(&mut self, batch: Batch<K, T>, now: Instant) -> Result<(), Error> {
        let now = self.advance(now);
        let i = self
            .in_flight
            .iter()
            .position(|(b, _)| *b == batch.id)
            .ok_or(Error::UnknownBatch(batch.id))?;
        let (_, generations) = self.in_flight.swap_remove(i);
        self.counters.batches.remove(batch.trigger);
        for (k, item) in batch.items.into_iter().enumerate() {
            self.counters.dispatched = self.counters.dispatched.saturating_sub(1);
            self.counters.dropped.add(DropReason::Undelivered);
            let generation = generations.get(k).copied();
            if let Some(s) = self
                .keys
                .get_mut(&item.key)
                .filter(|s| Some(s.generation) == generation)
            {
                s.stats.dispatched = s.stats.dispatched.saturating_sub(1);
                s.stats.dropped.add(DropReason::Undelivered);
            }
            self.events.push_back(Event::Dropped(Dropped {
                item,
                reason: DropReason::Undelivered,
            }));
        }
        self.drive(now);
        Ok(())
    }

    /// Sends out everything waiting now, in as many batches as it takes, as fast as slots free
    /// (partial batches included, without waiting for `force_timeout`). Items pushed later are
    /// batched as usual. For shutdown: flush, then complete batches until
    /// [`is_idle`](Self::is_idle).
    pub fn flush(&mut self, now: Instant) {
        let now = self.advance(now);
        if let Some(last) = self.waiting.back() {
            self.flush_upto = Some(last.seq);
        }
        self.drive(now);
    }

    /// Drops every waiting item of `key` ([`DropReason::KeyRemoved`], reported by
    /// [`poll`](Self::poll)) and forgets its counters, which are returned. Call it when a
    /// stream goes away so that churn of keys does not grow memory. Batches already out are
    /// untouched.
    pub fn remove_key(&mut self, key: &K) -> Option<KeyStats> {
        let waiting = self.keys.get(key)?.stats.waiting;
        if waiting > 0 {
            let mut i = 0;
            while i < self.waiting.len() {
                if self.waiting[i].key == *key {
                    self.drop_at(i, DropReason::KeyRemoved);
                } else {
                    i += 1;
                }
            }
        }
        self.keys.remove(key).map(|s| s.stats)
    }

    /// Nothing waits and nothing is in flight (events may still be pending in `poll`).
    pub fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.in_flight.is_empty()
    }

    /// Items waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Batches dispatched and not yet completed.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        let batches = c.batches.total();
        Stats {
            pushed: c.pushed,
            rejected: c.rejected,
            dispatched: c.dispatched,
            batches: c.batches,
            dropped: c.dropped,
            waiting: self.waiting.len(),
            in_flight: self.in_flight.len(),
            fill_ratio: if batches == 0 {
                0.0
            } else {
                c.dispatched as f64 / (batches as f64 * self.config.batch_size as f64)
            },
            wait: c.wait.summary(),
            keys: self.keys.len(),
        }
    }

    /// The counters of one key, if it has any.
    pub fn key_stats(&self, key: &K) -> Option<KeyStats> {
        self.keys.get(key).map(|s| s.stats)
    }

    /// Every key with its counters, in no particular order.
    pub fn iter_key_stats(&self) -> impl Iterator<Item = (&K, KeyStats)> {
        self.keys.iter().map(|(k, s)| (k, s.stats))
    }

    /// Checks the internal invariants; for tests and fuzzers.
    ///
    /// # Panics
    ///
    /// If one is broken, which would be a bug in this crate.
    pub fn check_invariants(&self) {
        let c = &self.config;
        assert!(self.waiting.len() <= c.capacity, "over capacity");
        assert!(
            self.in_flight.len() <= c.max_in_flight,
            "too many in flight"
        );
        assert!(
            self.waiting
                .iter()
                .zip(self.waiting.iter().skip(1))
                .all(|(a, b)| a.seq < b.seq),
            "waiting items out of push order"
        );
        let mut per_key: HashMap<&K, usize> = HashMap::new();
        for w in &self.waiting {
            *per_key.entry(&w.key).or_default() += 1;
            assert!(
                w.since <= w.pushed_at,
                "a position older than its item's push"
            );
        }
        if let Some(m) = c.max_waiting_per_key {
            assert!(per_key.values().all(|&n| n <= m), "max_waiting_per_key");
        }
        let mut selectable = 0;
        for (k, s) in &self.keys {
            let n = per_key.get(k).copied().unwrap_or(0);
            assert_eq!(s.stats.waiting, n, "per-key waiting count");
            selectable += c.max_per_key.map_or(n, |m| n.min(m));
            let st = &s.stats;
            assert_eq!(
                st.pushed,
                st.dispatched + st.dropped.total() + st.waiting as u64,
                "per-key accounting"
            );
        }
        assert_eq!(
            per_key.len(),
            self.keys
                .iter()
                .filter(|(_, s)| s.stats.waiting > 0)
                .count()
        );
        assert_eq!(selectable, self.selectable, "selectable count");
        let s = &self.counters;
        assert!(
            s.pushed >= s.dispatched + s.dropped.total() + self.waiting.len() as u64,
            "global accounting"
        );
        // The dispatch rule left nothing due while a slot is free.
        if self.in_flight.len() < c.max_in_flight {
            assert!(self.selectable < c.batch_size, "full batch left waiting");
            assert!(self.waiting.len() < c.capacity, "full buffer left waiting");
            if let (Some(front), Some(now)) = (self.waiting.front(), self.now) {
                assert!(
                    front.since + c.force_timeout > now + c.timer_slack,
                    "overdue item left waiting"
                );
                assert!(
                    self.flush_upto.is_none_or(|s| front.seq > s),
                    "flush left waiting"
                );
            }
        }
    }

    fn advance(&mut self, now: Instant) -> Instant {
        let now = match self.now {
            Some(seen) if seen > now => seen,
            _ => now,
        };
        self.now = Some(now);
        now
    }

    /// Applies the dispatch rule until nothing more can go out.
    fn drive(&mut self, now: Instant) {
        while self.in_flight.len() < self.config.max_in_flight {
            let Some(front) = self.waiting.front() else {
                break;
            };
            let trigger = if self.selectable >= self.config.batch_size
                || self.waiting.len() >= self.config.capacity
            {
                Trigger::Full
            } else if self.flush_upto.is_some_and(|s| front.seq <= s) {
                Trigger::Flush
            } else if front.since + self.config.force_timeout <= now + self.config.timer_slack {
                Trigger::Timeout
            } else {
                break;
            };
            self.dispatch(trigger, now);
        }
        if let Some(s) = self.flush_upto
            && self.waiting.front().is_none_or(|f| f.seq > s)
        {
            self.flush_upto = None;
        }
    }

    fn dispatch(&mut self, trigger: Trigger, now: Instant) {
        let n = self.selectable.min(self.config.batch_size);
        let mut items = Vec::with_capacity(n);
        let mut generations = Vec::with_capacity(n);
        match self.config.max_per_key {
            None => {
                for w in self.waiting.drain(..n) {
                    let (item, g) = Self::take(&mut self.keys, &mut self.counters, w, now);
                    items.push(item);
                    generations.push(g);
                }
                self.selectable -= n;
            }
            Some(m) => {
                // Walk oldest first, taking up to `m` per key; the rest keep their order.
                let mut rest = mem::take(&mut self.scratch);
                let mut taken: Vec<(K, usize)> = Vec::new();
                while items.len() < n {
                    let Some(w) = self.waiting.pop_front() else {
                        break;
                    };
                    let t = match taken.iter_mut().find(|(k, _)| *k == w.key) {
                        Some((_, t)) => t,
                        None => {
                            taken.push((w.key.clone(), 0));
                            &mut taken.last_mut().expect("just pushed").1
                        }
                    };
                    if *t < m {
                        *t += 1;
                        let before = self.keys.get(&w.key).map_or(0, |s| s.stats.waiting);
                        if before <= m {
                            self.selectable -= 1;
                        }
                        // A key's share of `selectable` is min(waiting, m): it shrinks only
                        // if the key had no more than `m` waiting.
                        let (item, g) = Self::take(&mut self.keys, &mut self.counters, w, now);
                        items.push(item);
                        generations.push(g);
                    } else {
                        rest.push_back(w);
                    }
                }
                rest.extend(self.waiting.drain(..));
                self.scratch = mem::replace(&mut self.waiting, rest);
            }
        }
        let id = BatchId(self.next_batch);
        self.next_batch += 1;
        self.in_flight.push((id, generations));
        self.counters.batches.add(trigger);
        self.events.push_back(Event::Dispatch(Batch {
            id,
            trigger,
            dispatched_at: now,
            items,
        }));
    }

    fn take(
        keys: &mut HashMap<K, KeyState>,
        counters: &mut Counters,
        w: Waiting<K, T>,
        now: Instant,
    ) -> (Item<K, T>, u64) {
        let mut generation = u64::MAX;
        if let Some(s) = keys.get_mut(&w.key) {
            s.stats.waiting -= 1;
            s.stats.dispatched += 1;
            generation = s.generation;
        }
        counters.dispatched += 1;
        counters
            .wait
            .record(now.saturating_duration_since(w.pushed_at));
        (
            Item {
                key: w.key,
                value: w.value,
                pushed_at: w.pushed_at,
            },
            generation,
        )
    }

    /// The counters of `key`, created (with a new generation) if it has none.
    fn key_state(&mut self, key: &K) -> &mut KeyState {
        let next = &mut self.next_generation;
        self.keys.entry(key.clone()).or_insert_with(|| {
            *next += 1;
            KeyState {
                stats: KeyStats::default(),
                generation: *next,
            }
        })
    }

    /// Drops `key`'s oldest waiting item (superseded) and shifts the key's values one position
    /// towards the front, the new one taking the key's last position: the key keeps its
    /// positions (and their deadlines), its items keep their push order.
    fn supersede_in_place(&mut self, key: K, value: T, now: Instant) {
        let positions: Vec<usize> = self
            .waiting
            .iter()
            .enumerate()
            .filter(|(_, w)| w.key == key)
            .map(|(i, _)| i)
            .collect();
        if positions.is_empty() {
            return;
        }
        let mut incoming = (value, now);
        for &i in positions.iter().rev() {
            let w = &mut self.waiting[i];
            incoming = (
                mem::replace(&mut w.value, incoming.0),
                mem::replace(&mut w.pushed_at, incoming.1),
            );
        }
        let (old, old_pushed) = incoming;
        let state = self.key_state(&key);
        state.stats.pushed += 1;
        state.stats.dropped.add(DropReason::Superseded);
        self.counters.pushed += 1;
        self.counters.dropped.add(DropReason::Superseded);
        self.events.push_back(Event::Dropped(Dropped {
            item: Item {
                key,
                value: old,
                pushed_at: old_pushed,
            },
            reason: DropReason::Superseded,
        }));
    }

    fn drop_at(&mut self, i: usize, reason: DropReason) {
        let Some(w) = self.waiting.remove(i) else {
            return;
        };
        if let Some(s) = self.keys.get_mut(&w.key) {
            if self.config.max_per_key.is_none_or(|m| s.stats.waiting <= m) {
                self.selectable -= 1;
            }
            s.stats.waiting -= 1;
            s.stats.dropped.add(reason);
        }
        self.counters.dropped.add(reason);
        self.events.push_back(Event::Dropped(Dropped {
            item: Item {
                key: w.key,
                value: w.value,
                pushed_at: w.pushed_at,
            },
            reason,
        }));
    }
}
