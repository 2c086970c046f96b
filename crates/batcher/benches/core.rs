//! Criterion benches of the sans-IO core: cost per item of push + poll + complete, sized by
//! batch size, and the overflow and fairness paths.

use std::hint::black_box;
use std::time::{Duration, Instant};

use batcher::{Batcher, Config, Event, OverflowPolicy};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const STREAMS: u32 = 32;

/// A core with the settings of `config`, keyed by stream number.
fn batcher(config: batcher::ConfigBuilder) -> Batcher<u32, u64> {
    Batcher::new(config.build().unwrap())
}

/// Push one batch worth of frames from 32 streams, take the batch, complete it.
fn push_poll(c: &mut Criterion) {
    let mut g = c.benchmark_group("core/push_poll_complete");
    for batch in [16usize, 32] {
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            let mut q = batcher(
                Config::builder()
                    .batch_size(batch)
                    .force_timeout(Duration::from_millis(50)),
            );
            let now = Instant::now();
            let mut n = 0u64;
            b.iter(|| {
                for _ in 0..batch {
                    q.push((n % u64::from(STREAMS)) as u32, n, now).unwrap();
                    n += 1;
                }
                let Some(Event::Dispatch(out)) = q.poll() else {
                    unreachable!("a full batch")
                };
                q.complete(out.id, now).unwrap();
                black_box(out.items);
            });
        });
    }
    g.finish();
}

/// The slow path: a full buffer under `LatestPerKey`, every push replaces a stale frame.
fn overflow(c: &mut Criterion) {
    let mut g = c.benchmark_group("core/overflow_latest_per_key");
    for capacity in [32usize, 128] {
        g.throughput(Throughput::Elements(1));
        g.bench_with_input(
            BenchmarkId::from_parameter(capacity),
            &capacity,
            |b, &capacity| {
                let mut q = batcher(
                    Config::builder()
                        .batch_size(16)
                        .capacity(capacity)
                        .overflow(OverflowPolicy::LatestPerKey),
                );
                let now = Instant::now();
                let mut n = 0u64;
                // Fill: the first batch goes out and holds the only slot; the buffer fills.
                while q.waiting() < capacity || q.in_flight() == 0 {
                    q.push((n % u64::from(STREAMS)) as u32, n, now).unwrap();
                    n += 1;
                }
                while q.poll().is_some() {}
                b.iter(|| {
                    q.push((n % u64::from(STREAMS)) as u32, n, now).unwrap();
                    n += 1;
                    black_box(q.poll());
                });
            },
        );
    }
    g.finish();
}

/// Dispatch with a per-key limit: the batch is picked by scanning the buffer.
fn fairness(c: &mut Criterion) {
    let mut g = c.benchmark_group("core/max_per_key_2");
    let batch = 16usize;
    g.throughput(Throughput::Elements(batch as u64));
    g.bench_function("16", |b| {
        let mut q = batcher(
            Config::builder()
                .batch_size(batch)
                .capacity(64)
                .max_per_key(Some(2)),
        );
        let now = Instant::now();
        let mut n = 0u64;
        b.iter(|| {
            // Four busy streams and eight quiet ones.
            for i in 0..batch as u64 {
                let key = if i % 2 == 0 {
                    (n % 4) as u32
                } else {
                    4 + (n % 8) as u32
                };
                q.push(key, n, now).unwrap();
                n += 1;
            }
            q.flush(now);
            while let Some(e) = q.poll() {
                if let Event::Dispatch(out) = e {
                    q.complete(out.id, now).unwrap();
                    black_box(out.items);
                }
            }
        });
    });
    g.finish();
}

criterion_group!(benches, push_poll, overflow, fairness);
criterion_main!(benches);
