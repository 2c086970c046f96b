//! A stream's bounded output queue: results and lifecycle events in order, for async and
//! blocking consumers. A consumer that falls behind loses the oldest *results* (counted);
//! lifecycle events are kept unless the queue holds nothing else.

use std::collections::VecDeque;
use std::pin::pin;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::StreamEvent;

/// The queue's contents and counters: the pure part.
#[derive(Debug)]
pub(crate) struct Queue {
    items: VecDeque<StreamEvent>,
    capacity: usize,
    closed: bool,
    /// Results queued now.
    pub(crate) results_queued: u64,
    /// Results dropped to make room (the consumer was too slow).
    pub(crate) results_evicted: u64,
    /// Lifecycle events dropped to make room (only when no result was left to drop).
    pub(crate) events_evicted: u64,
}

impl Queue {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            items: VecDeque::with_capacity(capacity.min(1024)),
            capacity: capacity.max(1),
            closed: false,
            results_queued: 0,
            results_evicted: 0,
            events_evicted: 0,
        }
    }

    /// Queues `event`; when full, the oldest result goes first (else the oldest event).
    /// Returns whether a result was evicted.
    pub(crate) fn push(&mut self, event: StreamEvent) -> bool {
        let mut evicted_result = false;
        if self.items.len() >= self.capacity {
            match self
                .items
                .iter()
                .position(|e| matches!(e, StreamEvent::Result(_)))
            {
                Some(i) => {
                    self.items.remove(i);
                    self.results_queued -= 1;
                    self.results_evicted += 1;
                    evicted_result = true;
                }
                None => {
                    self.items.pop_front();
                    self.events_evicted += 1;
                }
            }
        }
        if matches!(event, StreamEvent::Result(_)) {
            self.results_queued += 1;
        }
        self.items.push_back(event);
        evicted_result
    }

    pub(crate) fn pop(&mut self) -> Option<StreamEvent> {
        let e = self.items.pop_front()?;
        if matches!(e, StreamEvent::Result(_)) {
            self.results_queued -= 1;
        }
        Some(e)
    }

    pub(crate) fn close(&mut self) {
        self.closed = true;
    }

    /// Closed and empty: nothing more will come.
    pub(crate) fn finished(&self) -> bool {
        self.closed && self.items.is_empty()
    }
}

/// The queue shared by the pipeline (pushing) and the consumer (popping).
#[derive(Debug)]
pub(crate) struct Outbox {
    queue: Mutex<Queue>,
    notify: Notify,
    cond: Condvar,
}

impl Outbox {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            queue: Mutex::new(Queue::new(capacity)),
            notify: Notify::new(),
            cond: Condvar::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues an event and wakes consumers. Returns whether a result was evicted.
    pub(crate) fn push(&self, event: StreamEvent) -> bool {
        let evicted = self.lock().push(event);
        self.wake();
        evicted
    }

    /// No more events will come; consumers get `None` once they have taken what is queued.
    pub(crate) fn close(&self) {
        self.lock().close();
        self.wake();
    }

    fn wake(&self) {
        self.notify.notify_waiters();
        self.cond.notify_all();
    }

    pub(crate) fn try_pop(&self) -> Option<StreamEvent> {
        self.lock().pop()
    }

    /// The next event, waiting for one; `None` once closed and drained.
    pub(crate) async fn pop(&self) -> Option<StreamEvent> {
        loop {
            let mut notified = pin!(self.notify.notified());
            notified.as_mut().enable();
            {
                let mut q = self.lock();
                if let Some(e) = q.pop() {
                    return Some(e);
                }
                if q.finished() {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// The next event, blocking the thread for at most `timeout` (`None`: no limit).
    /// `Err(())` on timeout; `Ok(None)` once closed and drained.
    pub(crate) fn pop_blocking(
        &self,
        timeout: Option<Duration>,
    ) -> Result<Option<StreamEvent>, ()> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut q = self.lock();
        loop {
            if let Some(e) = q.pop() {
                return Ok(Some(e));
            }
            if q.finished() {
                return Ok(None);
            }
            q = match deadline {
                None => self.cond.wait(q).unwrap_or_else(PoisonError::into_inner),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(());
                    }
                    self.cond
                        .wait_timeout(q, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An empty result with frame number `n` (for other modules' tests too).
    pub(crate) fn result_for_tests(n: u64) -> crate::TrackingResult {
        match result(n) {
            StreamEvent::Result(r) => r,
            _ => unreachable!(),
        }
    }

    fn connecting(attempt: u32) -> StreamEvent {
        StreamEvent::Connecting { attempt }
    }

    fn result(n: u64) -> StreamEvent {
        StreamEvent::Result(crate::TrackingResult {
            stream_id: "s".into(),
            frame_number: n,
            rtp_timestamp: 0,
            timestamp: 0.0,
            wall_clock: std::time::SystemTime::UNIX_EPOCH,
            wall_clock_synced: false,
            captured_at: Instant::now(),
            latency_ms: 0.0,
            width: 1,
            height: 1,
            detections: Vec::new(),
            zone_counts: Default::default(),
            line_counts: Default::default(),
            zone_events: Vec::new(),
            frame: None,
            tracked_objects: Vec::new(),
            ended_tracks: Vec::new(),
            tracks_restarted: None,
        })
    }

    fn frame_number(e: &StreamEvent) -> Option<u64> {
        match e {
            StreamEvent::Result(r) => Some(r.frame_number),
            _ => None,
        }
    }

    #[test]
    fn a_full_queue_drops_the_oldest_result_and_keeps_events() {
        let mut q = Queue::new(3);
        q.push(connecting(1));
        q.push(result(1));
        q.push(result(2));
        assert!(q.push(result(3)), "result 1 goes");
        assert!(q.push(connecting(2)), "then result 2, not the event");
        let left: Vec<(&str, Option<u64>)> = std::iter::from_fn(|| q.pop())
            .map(|e| (e.name(), frame_number(&e)))
            .collect();
        assert_eq!(
            left,
            [
                ("connecting", None),
                ("result", Some(3)),
                ("connecting", None)
            ]
        );
        assert_eq!(
            (q.results_evicted, q.events_evicted, q.results_queued),
            (2, 0, 0)
        );
        // Only events left: the oldest event goes.
        let mut q = Queue::new(1);
        q.push(connecting(1));
        q.push(connecting(2));
        assert_eq!(q.events_evicted, 1);
        assert_eq!(q.pop(), Some(connecting(2)));
    }

    #[test]
    fn blocking_pop_times_out_then_sees_the_close() {
        let o = Outbox::new(4);
        assert_eq!(o.pop_blocking(Some(Duration::from_millis(10))), Err(()));
        o.push(connecting(1));
        o.close();
        assert_eq!(o.pop_blocking(None), Ok(Some(connecting(1))));
        assert_eq!(o.pop_blocking(None), Ok(None));
    }

    #[tokio::test]
    async fn async_pop_wakes_on_push_and_ends_on_close() {
        let o = std::sync::Arc::new(Outbox::new(4));
        let o2 = o.clone();
        let waiter = tokio::spawn(async move { (o2.pop().await, o2.pop().await) });
        tokio::task::yield_now().await;
        o.push(connecting(7));
        o.close();
        assert_eq!(waiter.await.unwrap(), (Some(connecting(7)), None));
    }
}
