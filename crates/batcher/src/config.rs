//! Batcher configuration: an option builder validated once, at `build()`.

use std::time::Duration;

use crate::Error;

/// What [`Batcher::push`](crate::Batcher::push) does when the filling buffer holds `capacity`
/// items and no batch can be dispatched (every execution slot is busy).
///
/// Whatever the policy, nothing is lost silently: a rejected item is handed back to the caller,
/// a dropped one comes out of [`Batcher::poll`](crate::Batcher::poll) as
/// [`Event::Dropped`](crate::Event::Dropped) with its [`DropReason`](crate::DropReason), and
/// both are counted, in total and per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OverflowPolicy {
    /// Hand the new item back ([`Rejected`](crate::Rejected)); the waiting items stay.
    /// The drivers' `submit` waits for room instead. The default: back-pressure, like a channel.
    #[default]
    Reject,
    /// Drop the oldest waiting item (of any key) to make room for the new one
    /// ([`DropReason::Overflow`](crate::DropReason::Overflow)).
    DropOldest,
    /// Newest frame wins: drop the oldest waiting item *of the same key*
    /// ([`DropReason::Superseded`](crate::DropReason::Superseded)); if that key has nothing
    /// waiting, behave like [`DropOldest`](Self::DropOldest). What live video wants: a camera
    /// that outruns the detector replaces its own stale frames instead of evicting other cameras'.
    LatestPerKey,
}

/// A validated batcher configuration. Build one with [`Config::builder`].
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) batch_size: usize,
    pub(crate) force_timeout: Duration,
    pub(crate) max_in_flight: usize,
    pub(crate) capacity: usize,
    pub(crate) overflow: OverflowPolicy,
    pub(crate) max_per_key: Option<usize>,
    pub(crate) max_waiting_per_key: Option<usize>,
    pub(crate) timer_slack: Duration,
}

impl Config {
    /// Starts a builder with the defaults: batch 16, force timeout 50 ms, one batch in flight
    /// (ping-pong), capacity twice the batch size, [`OverflowPolicy::Reject`], no per-key
    /// limits.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Largest number of items in one batch.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Longest time the oldest waiting item waits for a batch to fill while a slot is free.
    pub fn force_timeout(&self) -> Duration {
        self.force_timeout
    }

    /// Batches handed out and not yet completed, at most. 1 is the classic ping-pong.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// Items waiting in the filling buffer, at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// What happens to a push into a full buffer.
    pub fn overflow(&self) -> OverflowPolicy {
        self.overflow
    }

    /// Items of one key in one batch, at most (`None`: no limit).
    pub fn max_per_key(&self) -> Option<usize> {
        self.max_per_key
    }

    /// Items of one key waiting at once, at most (`None`: no limit); see
    /// [`ConfigBuilder::max_waiting_per_key`].
    pub fn max_waiting_per_key(&self) -> Option<usize> {
        self.max_waiting_per_key
    }

    /// How early a timeout may fire (see [`ConfigBuilder::timer_slack`]).
    pub fn timer_slack(&self) -> Duration {
        self.timer_slack
    }

    /// The same configuration with at least `slack` of timer slack (for drivers).
    #[cfg(feature = "tokio")]
    pub(crate) fn with_min_timer_slack(mut self, slack: Duration) -> Self {
        self.timer_slack = self.timer_slack.max(slack);
        self
    }
}

/// Builder for [`Config`]; every setter is optional.
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    batch_size: usize,
    force_timeout: Duration,
    max_in_flight: usize,
    capacity: Option<usize>,
    overflow: OverflowPolicy,
    max_per_key: Option<usize>,
    max_waiting_per_key: Option<usize>,
    timer_slack: Duration,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        Self {
            batch_size: 16,
            force_timeout: Duration::from_millis(50),
            max_in_flight: 1,
            capacity: None,
            overflow: OverflowPolicy::default(),
            max_per_key: None,
            max_waiting_per_key: None,
            timer_slack: Duration::ZERO,
        }
    }
}

impl ConfigBuilder {
    /// Items per batch, at most (≥ 1). A buffer holding this many dispatchable items is "full"
    /// and goes out at once if a slot is free.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }

    /// How long the oldest waiting item may wait for its batch to fill while an execution slot
    /// is free. Zero dispatches whatever is waiting as soon as a slot is free.
    pub fn force_timeout(mut self, timeout: Duration) -> Self {
        self.force_timeout = timeout;
        self
    }

    /// Batches outstanding at once (≥ 1): 1 is ping-pong (one buffer fills while the other is
    /// processed); N keeps N execution contexts busy.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    /// Items the filling buffer may hold (≥ batch size; default twice the batch size).
    pub fn capacity(mut self, n: usize) -> Self {
        self.capacity = Some(n);
        self
    }

    /// What a push into a full buffer does.
    pub fn overflow(mut self, policy: OverflowPolicy) -> Self {
        self.overflow = policy;
        self
    }

    /// At most `n` items of one key in one batch (≥ 1; `None` for no limit), so that one busy
    /// key cannot fill a batch while others wait.
    pub fn max_per_key(mut self, n: Option<usize>) -> Self {
        self.max_per_key = n;
        self
    }

    /// At most `n` items of one key wait at once (≥ 1; `None`, the default, for no limit).
    /// A push of a key that already has `n` waiting supersedes the key's oldest waiting item
    /// at once, whatever the load ([`DropReason::Superseded`](crate::DropReason::Superseded)),
    /// and the key keeps its place in line: the newer item moves into the older one's
    /// position (and deadline), so a camera that sends a newer frame does not lose its turn.
    /// Live video uses 1: newest frame wins, and no camera ever has a stale frame waiting.
    pub fn max_waiting_per_key(mut self, n: Option<usize>) -> Self {
        self.max_waiting_per_key = n;
        self
    }

    /// Lets the timeout fire up to `slack` early: `poll_timeout` asks to be called `slack`
    /// before the oldest item's deadline, and an item due within `slack` of `now` counts as due.
    /// A driver whose timer fires up to a tick late (tokio's has 1 ms ticks) then sends a batch
    /// up to a tick early instead of a tick late; `force_timeout` stays a maximum. Default zero;
    /// the tokio driver raises it to 1 ms.
    pub fn timer_slack(mut self, slack: Duration) -> Self {
        self.timer_slack = slack;
        self
    }

    /// Checks the settings against each other.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the first offending setting.
    pub fn build(self) -> Result<Config, Error> {
        let invalid = |field, problem| Err(Error::InvalidConfig { field, problem });
        if self.batch_size == 0 {
            return invalid("batch_size", "must be at least 1");
        }
        if self.max_in_flight == 0 {
            return invalid("max_in_flight", "must be at least 1");
        }
        if self.max_per_key == Some(0) {
            return invalid("max_per_key", "must be at least 1 (or None for no limit)");
        }
        if self.max_waiting_per_key == Some(0) {
            return invalid(
                "max_waiting_per_key",
                "must be at least 1 (or None for no limit)",
            );
        }
        let capacity = match self.capacity {
            Some(c) => c,
            None => self.batch_size.saturating_mul(2),
        };
        if capacity < self.batch_size {
            return invalid("capacity", "must be at least batch_size");
        }
        Ok(Config {
            batch_size: self.batch_size,
            force_timeout: self.force_timeout,
            max_in_flight: self.max_in_flight,
            capacity,
            overflow: self.overflow,
            max_per_key: self.max_per_key,
            max_waiting_per_key: self.max_waiting_per_key,
            timer_slack: self.timer_slack,
        })
    }
}
