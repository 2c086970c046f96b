//! Property test: random operation sequences against the batcher and a naive reference model.
//!
//! Each case picks a configuration and a `Vec<Op>`; every step is applied to both, their
//! events must be identical, `check_invariants()` must hold, and the harness checks the
//! promises of the crate from the outside: nothing lost or duplicated, per-key order kept,
//! batch and per-key limits, slots, capacity, and the waiting bound
//! (wait ≤ force_timeout + time every slot was busy).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use batcher::{
    Batch, BatchId, Batcher, Config, DropReason, Error, Event, OverflowPolicy, RejectReason,
    Trigger,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Push(u8),
    Advance(u64),
    Complete(usize),
    Abandon(usize),
    CompleteUnknown,
    Flush,
    RemoveKey(u8),
}

#[derive(Debug, Clone)]
struct Params {
    batch_size: usize,
    capacity: usize,
    max_in_flight: usize,
    overflow: OverflowPolicy,
    max_per_key: Option<usize>,
    max_waiting_per_key: Option<usize>,
    timeout: Duration,
    slack: Duration,
}

fn params() -> impl Strategy<Value = Params> {
    (
        1usize..=5,
        0usize..=6,
        1usize..=3,
        0u8..3,
        prop::option::of(1usize..=3),
        prop::option::of(1usize..=2),
        0u64..=40,
        prop_oneof![3 => Just(0u64), 1 => 0u64..=5],
    )
        .prop_map(
            |(batch_size, extra, max_in_flight, p, max_per_key, max_waiting_per_key, ms, slack)| {
                Params {
                    batch_size,
                    capacity: batch_size + extra,
                    max_in_flight,
                    overflow: match p {
                        0 => OverflowPolicy::Reject,
                        1 => OverflowPolicy::DropOldest,
                        _ => OverflowPolicy::LatestPerKey,
                    },
                    max_per_key,
                    max_waiting_per_key,
                    timeout: Duration::from_millis(ms),
                    slack: Duration::from_millis(slack),
                }
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..4).prop_map(Op::Push),
        3 => (0u64..60).prop_map(Op::Advance),
        3 => any::<usize>().prop_map(Op::Complete),
        1 => any::<usize>().prop_map(Op::Abandon),
        1 => Just(Op::CompleteUnknown),
        1 => Just(Op::Flush),
        1 => (0u8..4).prop_map(Op::RemoveKey),
    ]
}

/// What both sides must produce, with items reduced to their ids.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Dispatch {
        id: u64,
        trigger: Trigger,
        items: Vec<(u8, u64)>,
    },
    Dropped {
        key: u8,
        item: u64,
        reason: DropReason,
    },
}

/// The reference: the dispatch rule written as plainly as possible, recomputing everything.
/// A waiting entry is (key, item, the instant its position's timeout runs from, the
/// position's sequence number, which `flush` looks at).
struct Model {
    p: Params,
    waiting: Vec<(u8, u64, Instant, u64)>,
    next_seq: u64,
    in_flight: Vec<u64>,
    /// Items of each batch in flight.
    batches: BTreeMap<u64, Vec<(u8, u64)>>,
    next_batch: u64,
    flush_upto: Option<u64>,
    events: Vec<Ev>,
}

impl Model {
    fn selectable(&self) -> usize {
        let mut per_key: BTreeMap<u8, usize> = BTreeMap::new();
        for w in &self.waiting {
            *per_key.entry(w.0).or_default() += 1;
        }
        per_key
            .values()
            .map(|&n| self.p.max_per_key.map_or(n, |m| n.min(m)))
            .sum()
    }

    fn drive(&mut self, now: Instant) {
        while self.in_flight.len() < self.p.max_in_flight && !self.waiting.is_empty() {
            let front = self.waiting[0];
            let trigger = if self.selectable() >= self.p.batch_size
                || self.waiting.len() >= self.p.capacity
            {
                Trigger::Full
            } else if self.flush_upto.is_some_and(|s| front.3 <= s) {
                Trigger::Flush
            } else if front.2 + self.p.timeout <= now + self.p.slack {
                Trigger::Timeout
            } else {
                break;
            };
            let n = self.selectable().min(self.p.batch_size);
            let mut items = Vec::new();
            let mut taken: BTreeMap<u8, usize> = BTreeMap::new();
            let mut rest = Vec::new();
            for w in self.waiting.drain(..) {
                let t = taken.entry(w.0).or_default();
                if items.len() < n && self.p.max_per_key.is_none_or(|m| *t < m) {
                    *t += 1;
                    items.push((w.0, w.1));
                } else {
                    rest.push(w);
                }
            }
            self.waiting = rest;
            let id = self.next_batch;
            self.next_batch += 1;
            self.in_flight.push(id);
            self.batches.insert(id, items.clone());
            self.events.push(Ev::Dispatch { id, trigger, items });
        }
        if self
            .flush_upto
            .is_some_and(|s| self.waiting.first().is_none_or(|f| f.3 > s))
        {
            self.flush_upto = None;
        }
    }

    fn drop_at(&mut self, i: usize, reason: DropReason) {
        let w = self.waiting.remove(i);
        self.events.push(Ev::Dropped {
            key: w.0,
            item: w.1,
            reason,
        });
    }

    fn push(&mut self, key: u8, item: u64, now: Instant) -> bool {
        self.drive(now);
        let mine: Vec<usize> = (0..self.waiting.len())
            .filter(|&i| self.waiting[i].0 == key)
            .collect();
        if self.p.max_waiting_per_key.is_some_and(|m| mine.len() >= m) {
            // The key's oldest item goes; its values move up one of its positions, the new
            // one into its last; positions keep their deadlines.
            let old = self.waiting[mine[0]].1;
            for w in mine.windows(2) {
                self.waiting[w[0]].1 = self.waiting[w[1]].1;
            }
            self.waiting[*mine.last().unwrap()].1 = item;
            self.events.push(Ev::Dropped {
                key,
                item: old,
                reason: DropReason::Superseded,
            });
            self.drive(now);
            return true;
        }
        if self.waiting.len() >= self.p.capacity {
            match self.p.overflow {
                OverflowPolicy::Reject => return false,
                OverflowPolicy::DropOldest => self.drop_at(0, DropReason::Overflow),
                _ => match self.waiting.iter().position(|w| w.0 == key) {
                    Some(i) => self.drop_at(i, DropReason::Superseded),
                    None => self.drop_at(0, DropReason::Overflow),
                },
            }
        }
        self.waiting.push((key, item, now, self.next_seq));
        self.next_seq += 1;
        self.drive(now);
        true
    }
}

fn drain(b: &mut Batcher<u8, u64>, out_batches: &mut HashMap<u64, Batch<u8, u64>>) -> Vec<Ev> {
    let mut out = Vec::new();
    while let Some(e) = b.poll() {
        out.push(match e {
            Event::Dispatch(batch) => {
                let ev = Ev::Dispatch {
                    id: batch.id.0,
                    trigger: batch.trigger,
                    items: batch.items.iter().map(|i| (i.key, i.value)).collect(),
                };
                out_batches.insert(batch.id.0, batch);
                ev
            }
            Event::Dropped(d) => Ev::Dropped {
                key: d.item.key,
                item: d.item.value,
                reason: d.reason,
            },
        });
    }
    out
}

/// The outside view of one run.
struct Harness {
    b: Batcher<u8, u64>,
    m: Model,
    t0: Instant,
    now: Instant,
    next_item: u64,
    /// Time during which every slot was busy, summed from the start.
    blocked: Duration,
    /// item -> (key, pushed at, `blocked` when pushed)
    pushed: HashMap<u64, (u8, Instant, Duration)>,
    outcome: HashMap<u64, &'static str>,
    last_per_key: HashMap<u8, u64>,
    /// The batcher's batches in flight, to hand back with `abandon`.
    batches: HashMap<u64, Batch<u8, u64>>,
}

impl Harness {
    fn new(p: Params) -> Self {
        let config = Config::builder()
            .batch_size(p.batch_size)
            .capacity(p.capacity)
            .max_in_flight(p.max_in_flight)
            .overflow(p.overflow)
            .max_per_key(p.max_per_key)
            .max_waiting_per_key(p.max_waiting_per_key)
            .force_timeout(p.timeout)
            .timer_slack(p.slack)
            .build()
            .expect("valid config");
        let t0 = Instant::now();
        Self {
            b: Batcher::new(config),
            m: Model {
                p,
                waiting: Vec::new(),
                next_seq: 0,
                in_flight: Vec::new(),
                batches: BTreeMap::new(),
                next_batch: 0,
                flush_upto: None,
                events: Vec::new(),
            },
            t0,
            now: t0,
            next_item: 0,
            blocked: Duration::ZERO,
            pushed: HashMap::new(),
            outcome: HashMap::new(),
            last_per_key: HashMap::new(),
            batches: HashMap::new(),
        }
    }

    /// Moves the clock, accruing busy time for the interval (the state is constant in it).
    fn set_time(&mut self, to: Instant) {
        if self.m.in_flight.len() == self.m.p.max_in_flight {
            self.blocked += to - self.now;
        }
        self.now = to;
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Push(key) => {
                let item = self.next_item;
                self.next_item += 1;
                let accepted_model = self.m.push(key, item, self.now);
                match self.b.push(key, item, self.now) {
                    Ok(()) => {
                        assert!(accepted_model, "model rejected item {item}");
                        self.pushed.insert(item, (key, self.now, self.blocked));
                    }
                    Err(r) => {
                        assert!(!accepted_model, "model accepted item {item}");
                        assert_eq!((r.key, r.value, r.reason), (key, item, RejectReason::Full));
                    }
                }
            }
            Op::Advance(ms) => {
                let target = self.now + Duration::from_millis(ms);
                let mut guard = 0;
                while let Some(deadline) = self.b.poll_timeout() {
                    if deadline > target {
                        break;
                    }
                    guard += 1;
                    assert!(guard < 1000, "poll_timeout does not advance");
                    let at = deadline.max(self.now);
                    self.set_time(at);
                    self.m.drive(at);
                    self.b.handle_timeout(at);
                    self.check_events();
                }
                self.set_time(target);
                self.m.drive(target);
                self.b.handle_timeout(target);
            }
            Op::Complete(i) => {
                if !self.m.in_flight.is_empty() {
                    let id = self.m.in_flight.remove(i % self.m.in_flight.len());
                    self.m.batches.remove(&id);
                    self.m.drive(self.now);
                    self.batches.remove(&id);
                    self.b.complete(BatchId(id), self.now).expect("in flight");
                }
            }
            Op::Abandon(i) => {
                if !self.m.in_flight.is_empty() {
                    let id = self.m.in_flight.remove(i % self.m.in_flight.len());
                    for (key, item) in self.m.batches.remove(&id).unwrap() {
                        self.m.events.push(Ev::Dropped {
                            key,
                            item,
                            reason: DropReason::Undelivered,
                        });
                        // Never run: it counts as dropped, not dispatched.
                        assert_eq!(self.outcome.insert(item, "undelivered"), Some("dispatched"));
                    }
                    self.m.drive(self.now);
                    let batch = self.batches.remove(&id).unwrap();
                    self.b.abandon(batch, self.now).expect("in flight");
                }
            }
            Op::CompleteUnknown => {
                let id = BatchId(self.m.next_batch + 7);
                assert_eq!(self.b.complete(id, self.now), Err(Error::UnknownBatch(id)));
            }
            Op::Flush => {
                if let Some(last) = self.m.waiting.last() {
                    self.m.flush_upto = Some(last.3);
                }
                self.m.drive(self.now);
                self.b.flush(self.now);
            }
            Op::RemoveKey(key) => {
                while let Some(i) = self.m.waiting.iter().position(|w| w.0 == key) {
                    self.m.drop_at(i, DropReason::KeyRemoved);
                }
                self.m.drive(self.now);
                // The returned counters are the final ones: its waiting items count as removed.
                let want = self.b.key_stats(&key).map(|mut s| {
                    s.dropped.key_removed += s.waiting as u64;
                    s.waiting = 0;
                    s
                });
                assert_eq!(self.b.remove_key(&key), want);
                assert_eq!(self.b.key_stats(&key), None);
            }
        }
        self.check_events();
        self.b.check_invariants();
        self.check_limits();
    }

    fn check_events(&mut self) {
        let got = drain(&mut self.b, &mut self.batches);
        let want = std::mem::take(&mut self.m.events);
        assert_eq!(got, want, "batcher and model disagree");
        for e in got {
            match e {
                Ev::Dispatch { items, .. } => {
                    assert!(!items.is_empty() && items.len() <= self.m.p.batch_size);
                    let mut per_key: HashMap<u8, usize> = HashMap::new();
                    for (key, item) in items {
                        *per_key.entry(key).or_default() += 1;
                        self.settle(item, key, "dispatched");
                        let (_, at, blocked_then) = self.pushed[&item];
                        let wait = self.now - at;
                        let busy = self.blocked - blocked_then;
                        assert!(
                            wait <= self.m.p.timeout + busy,
                            "item {item} waited {wait:?} > {:?} + busy {busy:?}",
                            self.m.p.timeout
                        );
                    }
                    if let Some(m) = self.m.p.max_per_key {
                        assert!(per_key.values().all(|&n| n <= m), "max_per_key");
                    }
                }
                Ev::Dropped {
                    reason: DropReason::Undelivered,
                    ..
                } => {}
                Ev::Dropped { key, item, .. } => self.settle(item, key, "dropped"),
            }
        }
    }

    fn settle(&mut self, item: u64, key: u8, how: &'static str) {
        assert_eq!(
            self.pushed.get(&item).map(|p| p.0),
            Some(key),
            "unknown item {item}"
        );
        if let Some(prev) = self.outcome.insert(item, how) {
            panic!("item {item} {how} after being {prev}");
        }
        if how == "dispatched"
            && let Some(prev) = self.last_per_key.insert(key, item)
        {
            assert!(prev < item, "key {key}: item {item} after {prev}");
        }
    }

    fn check_limits(&self) {
        assert!(self.b.waiting() <= self.m.p.capacity);
        assert!(self.b.in_flight() <= self.m.p.max_in_flight);
        assert_eq!(self.b.in_flight(), self.m.in_flight.len());
        let s = self.b.stats();
        assert_eq!(s.pushed, self.pushed.len() as u64);
        let dispatched = self
            .outcome
            .values()
            .filter(|&&h| h == "dispatched")
            .count() as u64;
        assert_eq!(s.dispatched, dispatched);
        assert_eq!(s.dropped.total(), self.outcome.len() as u64 - dispatched);
        assert_eq!(
            s.pushed,
            s.dispatched + s.dropped.total() + s.waiting as u64
        );
    }

    /// Shutdown: flush and complete until idle; then every accepted item is settled.
    fn finish(&mut self) {
        self.apply(&Op::Flush);
        let mut guard = 0;
        while !self.b.is_idle() {
            guard += 1;
            assert!(guard < 10_000, "flush does not drain");
            self.apply(&Op::Complete(0));
        }
        assert_eq!(
            self.outcome.len(),
            self.pushed.len(),
            "items left unsettled"
        );
        let _ = self.t0;
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn batcher_matches_model_and_keeps_its_promises(
        p in params(),
        ops in prop::collection::vec(op(), 0..120),
    ) {
        let mut h = Harness::new(p);
        for op in &ops {
            h.apply(op);
        }
        h.finish();
    }
}
