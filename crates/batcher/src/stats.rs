//! Counters and the wait-time histogram behind [`Batcher::stats`](crate::Batcher::stats).

use std::time::Duration;

use crate::{DropReason, Trigger};

/// Batches dispatched, by what sent them out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TriggerCounts {
    /// Sent because full.
    pub full: u64,
    /// Sent because the oldest item reached `force_timeout`.
    pub timeout: u64,
    /// Sent by `flush`.
    pub flush: u64,
}

impl TriggerCounts {
    /// All batches.
    pub fn total(&self) -> u64 {
        self.full + self.timeout + self.flush
    }

    pub(crate) fn add(&mut self, trigger: Trigger) {
        match trigger {
            Trigger::Full => self.full += 1,
            Trigger::Timeout => self.timeout += 1,
            Trigger::Flush => self.flush += 1,
        }
    }

    pub(crate) fn remove(&mut self, trigger: Trigger) {
        let n = match trigger {
            Trigger::Full => &mut self.full,
            Trigger::Timeout => &mut self.timeout,
            Trigger::Flush => &mut self.flush,
        };
        *n = n.saturating_sub(1);
    }
}

/// Items dropped, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounts {
    /// [`DropReason::Overflow`].
    pub overflow: u64,
    /// [`DropReason::Superseded`].
    pub superseded: u64,
    /// [`DropReason::KeyRemoved`].
    pub key_removed: u64,
    /// [`DropReason::Undelivered`].
    pub undelivered: u64,
}

impl DropCounts {
    /// All drops.
    pub fn total(&self) -> u64 {
        self.overflow + self.superseded + self.key_removed + self.undelivered
    }

    pub(crate) fn add(&mut self, reason: DropReason) {
        match reason {
            DropReason::Overflow => self.overflow += 1,
            DropReason::Superseded => self.superseded += 1,
            DropReason::KeyRemoved => self.key_removed += 1,
            DropReason::Undelivered => self.undelivered += 1,
        }
    }
}

/// Counters for one key. Every accepted item is, at any moment, exactly one of
/// `dispatched`, `dropped` or `waiting`: `pushed == dispatched + dropped.total() + waiting`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyStats {
    /// Items accepted by `push`.
    pub pushed: u64,
    /// Items handed back by `push` (not counted in `pushed`).
    pub rejected: u64,
    /// Items sent out in batches.
    pub dispatched: u64,
    /// Items dropped, by reason.
    pub dropped: DropCounts,
    /// Items waiting now.
    pub waiting: usize,
}

/// How long items waited between `push` and dispatch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaitSummary {
    /// Items measured.
    pub count: u64,
    /// Shortest wait (exact).
    pub min: Duration,
    /// Mean wait (exact).
    pub mean: Duration,
    /// Median (upper edge of its histogram bucket: at most 1/16 above the true value).
    pub p50: Duration,
    /// 99th percentile (upper edge of its bucket, as `p50`).
    pub p99: Duration,
    /// Longest wait (exact).
    pub max: Duration,
}

/// A snapshot of the batcher's counters.
///
/// The totals obey `pushed == dispatched + dropped.total() + waiting`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    /// Items accepted by `push`.
    pub pushed: u64,
    /// Items handed back by `push` under [`OverflowPolicy::Reject`](crate::OverflowPolicy::Reject).
    pub rejected: u64,
    /// Items sent out in batches.
    pub dispatched: u64,
    /// Batches sent out, by trigger.
    pub batches: TriggerCounts,
    /// Items dropped, by reason.
    pub dropped: DropCounts,
    /// Items waiting now.
    pub waiting: usize,
    /// Batches in flight now.
    pub in_flight: usize,
    /// Mean batch size divided by `batch_size` (0 before the first batch).
    pub fill_ratio: f64,
    /// Time from push to dispatch.
    pub wait: WaitSummary,
    /// Keys with counters (removed keys are forgotten).
    pub keys: usize,
}

/// A log-linear histogram of durations in nanoseconds: exact below 16 ns, then 16 buckets per
/// power of two (relative error at most 1/16). 976 buckets of `u64`, fixed size, no allocation
/// after construction.
#[derive(Clone)]
pub(crate) struct Histogram {
    buckets: Box<[u64; BUCKETS]>,
    count: u64,
    sum_ns: u128,
    min_ns: u64,
    max_ns: u64,
}

const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) * SUB as usize;

impl Histogram {
    pub(crate) fn new() -> Self {
        Self {
            buckets: Box::new([0; BUCKETS]),
            count: 0,
            sum_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
        }
    }

    fn index(v: u64) -> usize {
        if v < SUB {
            return v as usize;
        }
        let msb = 63 - v.leading_zeros();
        let shift = msb - SUB_BITS;
        let sub = (v >> shift) & (SUB - 1);
        ((shift as u64 + 1) * SUB + sub) as usize
    }

    /// Largest value that falls in bucket `i`.
    fn upper(i: usize) -> u64 {
        let i = i as u64;
        if i < SUB {
            return i;
        }
        let shift = i / SUB - 1;
        let sub = i % SUB;
        let upper = (u128::from(SUB + sub + 1) << shift) - 1;
        u64::try_from(upper).unwrap_or(u64::MAX)
    }

    pub(crate) fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[Self::index(ns)] += 1;
        self.count += 1;
        self.sum_ns += u128::from(ns);
        self.min_ns = self.min_ns.min(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    fn quantile(&self, q: f64) -> u64 {
        // Rank of the q-quantile, 1-based, rounded up ("nearest rank").
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Self::upper(i).min(self.max_ns);
            }
        }
        self.max_ns
    }

    pub(crate) fn summary(&self) -> WaitSummary {
        if self.count == 0 {
            return WaitSummary::default();
        }
        let mean = (self.sum_ns / u128::from(self.count)) as u64;
        WaitSummary {
            count: self.count,
            min: Duration::from_nanos(self.min_ns),
            mean: Duration::from_nanos(mean),
            p50: Duration::from_nanos(self.quantile(0.50)),
            p99: Duration::from_nanos(self.quantile(0.99)),
            max: Duration::from_nanos(self.max_ns),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order() {
        for v in [
            0u64,
            1,
            15,
            16,
            17,
            31,
            32,
            33,
            1000,
            123_456_789,
            u64::MAX / 3,
            u64::MAX,
        ] {
            let i = Histogram::index(v);
            assert!(i < BUCKETS, "{v} -> {i}");
            assert!(
                Histogram::upper(i) >= v,
                "{v}: upper {}",
                Histogram::upper(i)
            );
            if i > 0 {
                assert!(
                    Histogram::upper(i - 1) < v,
                    "{v}: previous bucket reaches it"
                );
            }
            // Relative error bound.
            assert!(Histogram::upper(i) - v <= v / SUB + 1);
        }
    }

    #[test]
    fn quantiles_of_a_uniform_spread() {
        let mut h = Histogram::new();
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        let s = h.summary();
        assert_eq!(s.count, 100);
        assert_eq!(s.min, Duration::from_millis(1));
        assert_eq!(s.max, Duration::from_millis(100));
        assert_eq!(s.mean, Duration::from_micros(50_500));
        let p99 = s.p99.as_secs_f64() * 1e3;
        assert!((99.0..=99.0 * 17.0 / 16.0).contains(&p99), "p99 {p99} ms");
        let p50 = s.p50.as_secs_f64() * 1e3;
        assert!((50.0..=50.0 * 17.0 / 16.0).contains(&p50), "p50 {p50} ms");
    }

    #[test]
    fn empty_histogram_summarises_to_zero() {
        assert_eq!(Histogram::new().summary(), WaitSummary::default());
    }
}
