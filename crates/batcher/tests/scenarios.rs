//! Example-based tests of the core: the seed's timeout bug, ping-pong, overflow policies,
//! fairness, configuration errors.

use std::time::{Duration, Instant};

use batcher::{
    Batch, Batcher, Config, DropReason, Error, Event, OverflowPolicy, RejectReason, Trigger,
};

const MS: Duration = Duration::from_millis(1);

fn batches(b: &mut Batcher<u32, u32>) -> Vec<Batch<u32, u32>> {
    let mut out = Vec::new();
    while let Some(e) = b.poll() {
        if let Event::Dispatch(batch) = e {
            out.push(batch);
        }
    }
    out
}

fn values(batch: &Batch<u32, u32>) -> Vec<u32> {
    batch.items.iter().map(|i| i.value).collect()
}

/// The seed measured the timeout from the last submit, so a 30 fps stream with batch 16 never
/// hit it and each item waited about half a second. Measured from the oldest item, the first
/// frame goes out at `force_timeout`.
#[test]
fn a_steady_trickle_cannot_postpone_the_timeout() {
    let config = Config::builder()
        .batch_size(16)
        .force_timeout(50 * MS)
        .build()
        .unwrap();
    let mut b = Batcher::new(config);
    let t0 = Instant::now();
    let frame = Duration::from_micros(33_333);
    let mut first = None;
    for i in 0..16u32 {
        let now = t0 + frame * i;
        // A driver wakes at the deadline if it comes before the next frame.
        if let Some(d) = b.poll_timeout()
            && d <= now
        {
            b.handle_timeout(d);
        }
        b.push(0, i, now).unwrap();
        if let Some(batch) = batches(&mut b).into_iter().next() {
            first = Some(batch);
            break;
        }
    }
    let batch = first.expect("a batch within 16 frames");
    assert_eq!(batch.trigger, Trigger::Timeout);
    assert_eq!(values(&batch), vec![0, 1]);
    assert_eq!(batch.dispatched_at - t0, 50 * MS);
    assert!(b.stats().wait.max <= 50 * MS);
}

#[test]
fn ping_pong_never_swaps_into_a_busy_buffer() {
    let config = Config::builder()
        .batch_size(2)
        .capacity(4)
        .force_timeout(10 * MS)
        .build()
        .unwrap();
    let mut b = Batcher::new(config);
    let t0 = Instant::now();
    b.push(1, 1, t0).unwrap();
    b.push(2, 2, t0).unwrap();
    let first = batches(&mut b);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].trigger, Trigger::Full);
    // The other buffer fills while the first is processed, and holds even past its timeout.
    b.push(1, 3, t0 + MS).unwrap();
    b.push(2, 4, t0 + MS).unwrap();
    b.push(3, 5, t0 + MS).unwrap();
    b.handle_timeout(t0 + 100 * MS);
    assert!(batches(&mut b).is_empty());
    assert_eq!(b.poll_timeout(), None, "no timer while the slot is busy");
    // Completion frees the slot: the full batch goes at once, the rest as soon as the next
    // completes (its oldest item is long overdue).
    b.complete(first[0].id, t0 + 120 * MS).unwrap();
    let next = batches(&mut b);
    assert_eq!(values(&next[0]), vec![3, 4]);
    assert_eq!(next[0].trigger, Trigger::Full);
    b.complete(next[0].id, t0 + 130 * MS).unwrap();
    let last = batches(&mut b);
    assert_eq!(values(&last[0]), vec![5]);
    assert_eq!(last[0].trigger, Trigger::Timeout);
}

#[test]
fn max_in_flight_keeps_several_contexts_busy() {
    let config = Config::builder()
        .batch_size(2)
        .max_in_flight(3)
        .build()
        .unwrap();
    let mut b = Batcher::new(config);
    let t0 = Instant::now();
    for i in 0..8 {
        b.push(i % 2, i, t0).unwrap();
    }
    assert_eq!(batches(&mut b).len(), 3);
    assert_eq!(b.in_flight(), 3);
    assert_eq!(b.waiting(), 2);
}

fn full_batcher(policy: OverflowPolicy) -> (Batcher<u32, u32>, Instant) {
    let config = Config::builder()
        .batch_size(2)
        .capacity(3)
        .overflow(policy)
        .build()
        .unwrap();
    let mut b = Batcher::new(config);
    let t0 = Instant::now();
    b.push(9, 0, t0).unwrap();
    b.push(9, 0, t0).unwrap(); // dispatched: the only slot is now busy
    b.push(1, 10, t0).unwrap();
    b.push(2, 20, t0).unwrap();
    b.push(1, 11, t0).unwrap(); // capacity reached
    let _ = batches(&mut b);
    (b, t0)
}

#[test]
fn reject_hands_the_item_back() {
    let (mut b, t0) = full_batcher(OverflowPolicy::Reject);
    let r = b.push(2, 21, t0).unwrap_err();
    assert_eq!((r.key, r.value, r.reason), (2, 21, RejectReason::Full));
    assert_eq!(b.stats().rejected, 1);
    assert_eq!(b.key_stats(&2).unwrap().rejected, 1);
    assert_eq!(Error::from(r), Error::Rejected(RejectReason::Full));
}

#[test]
fn drop_oldest_evicts_the_oldest_item_of_any_key() {
    let (mut b, t0) = full_batcher(OverflowPolicy::DropOldest);
    b.push(2, 21, t0).unwrap();
    let Some(Event::Dropped(d)) = b.poll() else {
        panic!("expected a drop")
    };
    assert_eq!(
        (d.item.key, d.item.value, d.reason),
        (1, 10, DropReason::Overflow)
    );
    assert_eq!(b.key_stats(&1).unwrap().dropped.overflow, 1);
}

#[test]
fn latest_per_key_replaces_the_same_streams_stale_frame() {
    let (mut b, t0) = full_batcher(OverflowPolicy::LatestPerKey);
    b.push(2, 21, t0).unwrap();
    let Some(Event::Dropped(d)) = b.poll() else {
        panic!("expected a drop")
    };
    assert_eq!(
        (d.item.key, d.item.value, d.reason),
        (2, 20, DropReason::Superseded)
    );
    // A key with nothing waiting falls back to evicting the oldest.
    b.push(3, 30, t0).unwrap();
    let Some(Event::Dropped(d)) = b.poll() else {
        panic!("expected a drop")
    };
    assert_eq!((d.item.value, d.reason), (10, DropReason::Overflow));
    let s = b.stats();
    assert_eq!((s.dropped.superseded, s.dropped.overflow), (1, 1));
}

#[test]
fn max_per_key_stops_one_stream_filling_the_batch() {
    let config = Config::builder()
        .batch_size(4)
        .capacity(8)
        .max_per_key(Some(1))
        .build()
        .unwrap();
    let mut b = Batcher::new(config);
    let t0 = Instant::now();
    for v in 0..5 {
        b.push(7, v, t0).unwrap();
    }
    assert!(
        batches(&mut b).is_empty(),
        "one key alone cannot fill a batch of 4"
    );
    b.push(8, 100, t0).unwrap();
    b.push(9, 200, t0).unwrap();
    b.push(6, 300, t0).unwrap();
    let out = batches(&mut b);
    assert_eq!(values(&out[0]), vec![0, 100, 200, 300]);
}

#[test]
fn flush_sends_partial_batches_as_slots_free() {
    let config = Config::builder()
        .batch_size(3)
        .capacity(6)
        .force_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut b = Batcher::new(config);
    let t0 = Instant::now();
    for v in 0..5 {
        b.push(0, v, t0).unwrap();
    }
    let first = batches(&mut b);
    assert_eq!(values(&first[0]), vec![0, 1, 2]);
    b.flush(t0);
    assert!(batches(&mut b).is_empty(), "the slot is busy");
    b.complete(first[0].id, t0).unwrap();
    let rest = batches(&mut b);
    assert_eq!(values(&rest[0]), vec![3, 4]);
    assert_eq!(rest[0].trigger, Trigger::Flush);
    b.complete(rest[0].id, t0).unwrap();
    assert!(b.is_idle());
    assert_eq!(b.stats().batches.flush, 1);
}

#[test]
fn remove_key_drops_its_waiting_items_and_forgets_it() {
    let config = Config::builder().batch_size(4).build().unwrap();
    let mut b = Batcher::new(config);
    let t0 = Instant::now();
    b.push(1, 10, t0).unwrap();
    b.push(2, 20, t0).unwrap();
    b.push(1, 11, t0).unwrap();
    let stats = b.remove_key(&1).unwrap();
    assert_eq!((stats.pushed, stats.dropped.key_removed), (2, 2));
    let reasons: Vec<_> = std::iter::from_fn(|| b.poll())
        .map(|e| match e {
            Event::Dropped(d) => (d.item.value, d.reason),
            Event::Dispatch(_) => panic!("no dispatch expected"),
        })
        .collect();
    assert_eq!(
        reasons,
        vec![(10, DropReason::KeyRemoved), (11, DropReason::KeyRemoved)]
    );
    assert_eq!(b.stats().keys, 1);
    assert_eq!(b.remove_key(&1), None);
}

#[test]
fn time_going_backwards_is_treated_as_the_latest_time() {
    let config = Config::builder()
        .batch_size(4)
        .force_timeout(10 * MS)
        .build()
        .unwrap();
    let mut b = Batcher::new(config);
    let t0 = Instant::now();
    b.push(1, 1, t0 + 20 * MS).unwrap();
    b.push(1, 2, t0).unwrap(); // earlier `now`: stamped t0 + 20 ms
    b.handle_timeout(t0 + 30 * MS);
    let out = batches(&mut b);
    assert_eq!(values(&out[0]), vec![1, 2]);
    b.check_invariants();
}

#[test]
fn invalid_configs_are_typed_errors() {
    let cases = [
        (Config::builder().batch_size(0), "batch_size"),
        (Config::builder().max_in_flight(0), "max_in_flight"),
        (Config::builder().batch_size(8).capacity(4), "capacity"),
        (Config::builder().max_per_key(Some(0)), "max_per_key"),
    ];
    for (builder, field) in cases {
        match builder.build() {
            Err(Error::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: expected InvalidConfig, got {other:?}"),
        }
    }
    let ok = Config::builder().batch_size(8).build().unwrap();
    assert_eq!(ok.capacity(), 16);
}

#[test]
fn completing_an_unknown_batch_is_an_error_and_changes_nothing() {
    let mut b: Batcher<u32, u32> = Batcher::new(Config::builder().build().unwrap());
    let id = batcher::BatchId(3);
    assert_eq!(b.complete(id, Instant::now()), Err(Error::UnknownBatch(id)));
    assert!(b.is_idle());
}

#[test]
fn max_waiting_per_key_supersedes_at_once_and_keeps_the_keys_turn() {
    let config = Config::builder()
        .batch_size(1)
        .capacity(16)
        .max_waiting_per_key(Some(1))
        .force_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let mut b = Batcher::new(config);
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    // Camera 1's frame 10 goes out; then both cameras queue behind it.
    b.push(1, 10, at(0)).unwrap();
    let Some(Event::Dispatch(first)) = b.poll() else {
        panic!()
    };
    b.push(1, 11, at(1)).unwrap();
    b.push(2, 20, at(2)).unwrap();
    // Far below capacity, camera 1's newer frame replaces its waiting one at once...
    b.push(1, 12, at(3)).unwrap();
    let Some(Event::Dropped(d)) = b.poll() else {
        panic!()
    };
    assert_eq!(
        (d.item.value, d.reason, d.item.pushed_at),
        (11, DropReason::Superseded, at(1))
    );
    assert_eq!(b.waiting(), 2);
    // ...and keeps camera 1's place in line, ahead of camera 2.
    b.complete(first.id, at(4)).unwrap();
    let Some(Event::Dispatch(next)) = b.poll() else {
        panic!()
    };
    assert_eq!(next.items[0].value, 12);
    assert_eq!(next.items[0].pushed_at, at(3), "the item's own push time");
    let s = b.key_stats(&1).unwrap();
    assert_eq!((s.pushed, s.dispatched, s.dropped.superseded), (3, 2, 1));
    b.check_invariants();
}
