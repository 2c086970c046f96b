//! The tokio driver under virtual time (`start_paused`), and the blocking driver on real threads.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use batcher::{
    Config, DropReason, Dropped, OverflowPolicy, RejectReason, Trigger, blocking, tokio_driver,
};
use tokio::time::Instant;

const MS: Duration = Duration::from_millis(1);

fn config(batch: usize, timeout: Duration) -> Config {
    Config::builder()
        .batch_size(batch)
        .force_timeout(timeout)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_partial_batch_leaves_at_the_timeout_never_later() {
    let (handle, mut batches) = tokio_driver::spawn::<u32, u32>(config(16, 50 * MS)).unwrap();
    let t0 = Instant::now();
    handle.submit(1, 10).await.unwrap();
    tokio::time::sleep(20 * MS).await;
    handle.submit(2, 20).await.unwrap(); // a later push does not postpone the deadline
    let batch = batches.recv().await.unwrap();
    // tokio's timer has 1 ms ticks: the driver fires up to a tick early, never late.
    assert_eq!(Instant::now() - t0, 49 * MS);
    assert_eq!(batch.trigger, Trigger::Timeout);
    assert_eq!(
        batch.items.iter().map(|i| i.value).collect::<Vec<_>>(),
        vec![10, 20]
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_batch_leaves_at_once() {
    let (handle, mut batches) = tokio_driver::spawn::<u32, u32>(config(4, 50 * MS)).unwrap();
    let t0 = Instant::now();
    for i in 0..4 {
        handle.submit(i, i).await.unwrap();
    }
    let batch = batches.recv().await.unwrap();
    assert_eq!(Instant::now(), t0);
    assert_eq!(batch.trigger, Trigger::Full);
}

#[tokio::test(start_paused = true)]
async fn the_next_batch_waits_for_the_slot_then_goes_at_once() {
    let (handle, mut batches) = tokio_driver::spawn::<u32, u32>(config(2, 10 * MS)).unwrap();
    handle.submit(1, 1).await.unwrap();
    handle.submit(1, 2).await.unwrap();
    let first = batches.recv().await.unwrap();
    handle.submit(1, 3).await.unwrap();
    tokio::time::sleep(100 * MS).await; // way past the timeout, but the slot is busy
    assert_eq!(handle.stats().waiting, 1);
    let t = Instant::now();
    drop(first); // completes
    let second = batches.recv().await.unwrap();
    assert_eq!(Instant::now(), t);
    assert_eq!(second.items[0].value, 3);
}

#[tokio::test(start_paused = true)]
async fn close_drains_everything_then_ends_the_stream() {
    let cfg = Config::builder()
        .batch_size(4)
        .capacity(64)
        .force_timeout(Duration::from_secs(3600))
        .build()
        .unwrap();
    let (handle, mut batches) = tokio_driver::spawn::<u32, u32>(cfg).unwrap();
    for i in 0..10 {
        handle.submit(i % 3, i).await.unwrap();
    }
    handle.close();
    let r = handle.try_submit(0, 99).unwrap_err();
    assert_eq!((r.value, r.reason), (99, RejectReason::Closed));
    let mut seen = Vec::new();
    while let Some(batch) = batches.recv().await {
        seen.extend(batch.items.iter().map(|i| i.value));
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
    let s = handle.stats();
    assert_eq!((s.dispatched, s.waiting, s.in_flight), (10, 0, 0));
    assert!(s.batches.flush >= 1);
}

#[tokio::test(start_paused = true)]
async fn dropping_every_handle_closes_the_batcher() {
    let (handle, mut batches) =
        tokio_driver::spawn::<u32, u32>(config(8, Duration::from_secs(60))).unwrap();
    handle.submit(1, 1).await.unwrap();
    drop(handle);
    let batch = batches.recv().await.unwrap();
    assert_eq!(batch.trigger, Trigger::Flush);
    drop(batch);
    assert!(batches.recv().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn submit_waits_for_room_under_reject() {
    let cfg = Config::builder().batch_size(1).capacity(1).build().unwrap();
    let (handle, mut batches) = tokio_driver::spawn::<u32, u32>(cfg).unwrap();
    handle.submit(1, 1).await.unwrap(); // dispatched
    handle.submit(1, 2).await.unwrap(); // waits in the buffer
    assert_eq!(
        handle.try_submit(1, 3).unwrap_err().reason,
        RejectReason::Full
    );
    let h = handle.clone();
    let blocked = tokio::spawn(async move { h.submit(1, 3).await });
    tokio::time::sleep(5 * MS).await;
    assert!(!blocked.is_finished());
    let first = batches.recv().await.unwrap();
    drop(first); // item 2 goes out, making room for 3
    blocked.await.unwrap().unwrap();
    let second = batches.recv().await.unwrap();
    assert_eq!(second.items[0].value, 2);
}

#[tokio::test(start_paused = true)]
async fn drops_reach_the_handler_with_their_reason() {
    let cfg = Config::builder()
        .batch_size(1)
        .capacity(1)
        .overflow(OverflowPolicy::LatestPerKey)
        .build()
        .unwrap();
    let seen: Arc<Mutex<Vec<(u32, DropReason)>>> = Arc::default();
    let sink = seen.clone();
    let handler = Arc::new(move |d: Dropped<u32, u32>| {
        sink.lock().unwrap().push((d.item.value, d.reason));
    });
    let (handle, mut batches) = tokio_driver::spawn_with(cfg, Some(handler)).unwrap();
    for v in 0..4 {
        handle.submit(7, v).await.unwrap(); // 0 goes out; 1 and 2 are superseded by 3
    }
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(1, DropReason::Superseded), (2, DropReason::Superseded)]
    );
    drop(batches.recv().await.unwrap());
    assert_eq!(batches.recv().await.unwrap().items[0].value, 3);
    assert_eq!(handle.key_stats(&7).unwrap().dropped.superseded, 2);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_receiver_closes_and_counts_unreceived_batches_as_undelivered() {
    let seen: Arc<Mutex<Vec<(u32, DropReason)>>> = Arc::default();
    let sink = seen.clone();
    let handler = Arc::new(move |d: Dropped<u32, u32>| {
        sink.lock().unwrap().push((d.item.value, d.reason));
    });
    let cfg = Config::builder()
        .batch_size(1)
        .max_in_flight(2)
        .build()
        .unwrap();
    let (handle, batches) = tokio_driver::spawn_with::<u32, u32>(cfg, Some(handler)).unwrap();
    for v in 1..=3 {
        handle.try_submit(1, v).unwrap(); // 1 and 2 wait in the channel, 3 in the buffer
    }
    drop(batches);
    assert_eq!(
        handle.try_submit(1, 4).unwrap_err().reason,
        RejectReason::Closed
    );
    let mut seen = seen.lock().unwrap().clone();
    seen.sort_unstable_by_key(|s| s.0);
    assert_eq!(
        seen,
        (1..=3)
            .map(|v| (v, DropReason::Undelivered))
            .collect::<Vec<_>>()
    );
    let s = handle.stats();
    assert_eq!((s.in_flight, s.waiting, s.dispatched), (0, 0, 0));
    assert_eq!(s.dropped.undelivered, 3);
    assert_eq!(
        s.batches.total(),
        0,
        "batches never run are not counted as sent"
    );
}

#[test]
fn blocking_driver_counts_unreceived_batches_as_undelivered() {
    let cfg = Config::builder().batch_size(2).build().unwrap();
    let (handle, batches) = blocking::spawn::<u32, u32>(cfg).unwrap();
    for v in 0..4 {
        handle.submit(v, v).unwrap(); // one batch in the channel, one waiting for the slot
    }
    drop(batches);
    let s = handle.stats();
    assert_eq!((s.dispatched, s.dropped.undelivered, s.waiting), (0, 4, 0));
    assert_eq!(handle.key_stats(&3).unwrap().dropped.undelivered, 1);
}

#[tokio::test]
async fn spawn_outside_a_runtime_is_an_error() {
    let result = std::thread::spawn(|| tokio_driver::spawn::<u32, u32>(config(1, MS)).map(|_| ()))
        .join()
        .unwrap();
    assert!(matches!(result, Err(batcher::Error::Spawn(_))));
}

#[test]
fn blocking_driver_times_out_and_drains() {
    let (handle, batches) = blocking::spawn::<u32, u32>(config(4, 20 * MS)).unwrap();
    let t0 = std::time::Instant::now();
    handle.submit(1, 1).unwrap();
    let batch = batches.recv().unwrap();
    let waited = t0.elapsed();
    assert!(waited >= 20 * MS, "went out after {waited:?}");
    assert_eq!(batch.trigger, Trigger::Timeout);
    drop(batch);
    for i in 0..6 {
        handle.submit(2, i).unwrap();
    }
    let full = batches.recv().unwrap();
    assert_eq!(full.trigger, Trigger::Full);
    drop(full);
    handle.close();
    let rest: Vec<u32> = std::iter::from_fn(|| batches.recv())
        .flat_map(|b| b.items.iter().map(|i| i.value).collect::<Vec<_>>())
        .collect();
    assert_eq!(rest, vec![4, 5]);
    assert_eq!(
        handle.submit(1, 9).unwrap_err().reason,
        RejectReason::Closed
    );
}

#[test]
fn blocking_submit_waits_for_room_and_gives_up_on_timeout() {
    let cfg = Config::builder().batch_size(1).capacity(1).build().unwrap();
    let (handle, batches) = blocking::spawn::<u32, u32>(cfg).unwrap();
    handle.submit(1, 1).unwrap();
    handle.submit(1, 2).unwrap();
    let r = handle.submit_timeout(1, 3, 5 * MS).unwrap_err();
    assert_eq!((r.value, r.reason), (3, RejectReason::Full));
    let h = handle.clone();
    let blocked = std::thread::spawn(move || h.submit(1, 3));
    std::thread::sleep(5 * MS);
    drop(batches.recv().unwrap()); // frees the slot: 2 goes out, 3 gets in
    blocked.join().unwrap().unwrap();
    assert_eq!(batches.recv().unwrap().items[0].value, 2);
}
