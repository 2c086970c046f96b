//! Real-time simulation of many cameras through the tokio driver: the added latency at the
//! 99th percentile and the CPU the driver burns while idle.
//!
//! `cargo run --release -p batcher --example simulate -- --streams 32 --fps 30 --seconds 10`
//! Options: `--batch 16 --timeout-ms 50 --work-ms 10 --json PATH`.

// An example program: it reports on the terminal.
#![allow(clippy::print_stdout)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use batcher::{Config, OverflowPolicy, tokio_driver};

struct Args {
    streams: u32,
    fps: f64,
    seconds: f64,
    batch: usize,
    timeout_ms: u64,
    work_ms: u64,
    json: Option<String>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        streams: 32,
        fps: 30.0,
        seconds: 5.0,
        batch: 16,
        timeout_ms: 50,
        work_ms: 10,
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = || format!("bad value for {flag}: {value}");
        match flag.as_str() {
            "--streams" => a.streams = value.parse().map_err(|_| bad())?,
            "--fps" => a.fps = value.parse().map_err(|_| bad())?,
            "--seconds" => a.seconds = value.parse().map_err(|_| bad())?,
            "--batch" => a.batch = value.parse().map_err(|_| bad())?,
            "--timeout-ms" => a.timeout_ms = value.parse().map_err(|_| bad())?,
            "--work-ms" => a.work_ms = value.parse().map_err(|_| bad())?,
            "--json" => a.json = Some(value),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(a)
}

/// Process CPU time (user + system) from /proc, in clock ticks of 10 ms.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = args()?;
    let timeout = Duration::from_millis(a.timeout_ms);
    let config = Config::builder()
        .batch_size(a.batch)
        .force_timeout(timeout)
        .capacity(a.batch * 4)
        .overflow(OverflowPolicy::LatestPerKey)
        .build()?;
    let (handle, mut batches) = tokio_driver::spawn::<u32, u64>(config)?;

    // The consumer: "runs the model" for work_ms per batch, records how long items waited.
    let work = Duration::from_millis(a.work_ms);
    let consumer = tokio::spawn(async move {
        let mut latencies = Vec::new();
        while let Some(batch) = batches.recv().await {
            let now = Instant::now();
            latencies.extend(batch.items.iter().map(|i| now - i.pushed_at));
            tokio::time::sleep(work).await;
        }
        latencies
    });

    // The cameras, with staggered phases as real ones have.
    let period = Duration::from_secs_f64(1.0 / a.fps);
    let frames = (a.seconds * a.fps) as u64;
    let cpu0 = cpu_time();
    let t0 = Instant::now();
    let mut cams = Vec::new();
    for s in 0..a.streams {
        let h = handle.clone();
        let phase = period.mul_f64(f64::from(s) / f64::from(a.streams));
        cams.push(tokio::spawn(async move {
            let start = tokio::time::Instant::now() + phase;
            let mut tick = tokio::time::interval_at(start, period);
            for n in 0..frames {
                tick.tick().await;
                if h.submit(s, n).await.is_err() {
                    break;
                }
            }
        }));
    }
    for c in cams {
        c.await?;
    }
    let busy = t0.elapsed();
    let cpu_busy = cpu0.zip(cpu_time()).map(|(a, b)| b - a);

    // Idle: the driver stays up with nothing to do.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let idle_window = Duration::from_secs(2);
    let cpu1 = cpu_time();
    tokio::time::sleep(idle_window).await;
    let cpu_idle = cpu1.zip(cpu_time()).map(|(a, b)| b - a);

    let stats = handle.stats();
    handle.close();
    drop(handle);
    let mut lat = consumer.await?;
    lat.sort_unstable();
    let p99 = percentile(&lat, 0.99);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;

    let mut report = String::new();
    writeln!(
        report,
        "{} streams x {} fps for {:.1} s, batch {}, timeout {} ms, work {} ms/batch",
        a.streams, a.fps, a.seconds, a.batch, a.timeout_ms, a.work_ms
    )?;
    writeln!(
        report,
        "items {} dispatched {} dropped {} | batches full {} timeout {} flush {} | fill {:.2}",
        stats.pushed,
        stats.dispatched,
        stats.dropped.total(),
        stats.batches.full,
        stats.batches.timeout,
        stats.batches.flush,
        stats.fill_ratio
    )?;
    writeln!(
        report,
        "push -> consumer: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  (bound: timeout + 1 ms = {:.0} ms)",
        ms(percentile(&lat, 0.5)),
        ms(p99),
        ms(lat.last().copied().unwrap_or_default()),
        ms(timeout) + 1.0
    )?;
    if let (Some(b), Some(i)) = (cpu_busy, cpu_idle) {
        writeln!(
            report,
            "CPU: {:.1}% of one core while streaming, {:.0} ms over {:.0} s idle (10 ms resolution)",
            100.0 * b.as_secs_f64() / busy.as_secs_f64(),
            ms(i),
            idle_window.as_secs_f64()
        )?;
    }
    print!("{report}");
    if let Some(path) = a.json {
        let json = format!(
            "{{\"streams\":{},\"fps\":{},\"seconds\":{},\"batch\":{},\"timeout_ms\":{},\"work_ms\":{},\
             \"items\":{},\"dropped\":{},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3},\
             \"cpu_busy_pct\":{:.2},\"cpu_idle_ms\":{}}}\n",
            a.streams,
            a.fps,
            a.seconds,
            a.batch,
            a.timeout_ms,
            a.work_ms,
            stats.pushed,
            stats.dropped.total(),
            ms(percentile(&lat, 0.5)),
            ms(p99),
            ms(lat.last().copied().unwrap_or_default()),
            cpu_busy.map_or(-1.0, |b| 100.0 * b.as_secs_f64() / busy.as_secs_f64()),
            cpu_idle.map_or(-1.0, ms),
        );
        std::fs::write(path, json)?;
    }
    Ok(())
}
