//! Criterion benches of the drivers: items per second from submit to a received batch.
//! The real-time latency and idle-CPU figures come from `examples/simulate.rs`
//! (`cargo xtask bench` runs both).

use std::time::{Duration, Instant};

use batcher::{Config, blocking, tokio_driver};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn config(batch: usize) -> Config {
    Config::builder()
        .batch_size(batch)
        .force_timeout(Duration::from_millis(50))
        .build()
        .unwrap()
}

fn tokio_submit_to_batch(c: &mut Criterion) {
    let mut g = c.benchmark_group("tokio_driver/submit_to_batch");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    for batch in [16usize, 32] {
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let (handle, mut batches) =
                        tokio_driver::spawn::<u32, u64>(config(batch)).unwrap();
                    let start = Instant::now();
                    let mut n = 0u64;
                    for _ in 0..iters {
                        for _ in 0..batch {
                            handle.submit((n % 32) as u32, n).await.unwrap();
                            n += 1;
                        }
                        drop(batches.recv().await.unwrap());
                    }
                    start.elapsed()
                })
            });
        });
    }
    g.finish();
}

fn blocking_submit_to_batch(c: &mut Criterion) {
    let mut g = c.benchmark_group("blocking_driver/submit_to_batch");
    for batch in [16usize, 32] {
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            let (handle, batches) = blocking::spawn::<u32, u64>(config(batch)).unwrap();
            let mut n = 0u64;
            b.iter(|| {
                for _ in 0..batch {
                    handle.submit((n % 32) as u32, n).unwrap();
                    n += 1;
                }
                drop(batches.recv().unwrap());
            });
        });
    }
    g.finish();
}

criterion_group!(benches, tokio_submit_to_batch, blocking_submit_to_batch);
criterion_main!(benches);
