//! The model swapped while cameras run, measured (issue 27): 4 cameras replaying the 720p25
//! pedestrian clip at its own rate, the detector on the CPU. First a baseline (no swap), then
//! `--swaps` swaps between the square and the wide model a few seconds apart, then `--leak`
//! swaps in a row. Reports, per phase: each camera's longest gap between consecutive results
//! against its usual interval (the baseline's median), the p99 latency, the peak resident
//! memory, and at the end the resident memory after the swaps in a row against the baseline
//! and the accounting of every camera.
//!
//! ```text
//! cargo run --release -p rtsp-worker --example model_swap -- [--swaps N] [--leak N]
//! ```
//!
//! Needs `cargo xtask setup` (clips, both models, ONNX Runtime) and its environment.

// A measuring program: it prints its result.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtsp_worker::{StreamConnectionManager, StreamOptions};

const CLIP: &str = "people_720p25.h264";
const CAMERAS: usize = 4;

/// One camera's results: when each arrived and its latency.
type Arrivals = Arc<Mutex<Vec<(Instant, f64)>>>;

/// The resident set now, and its peak so far, in MB (Linux).
fn rss() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// The results of `a` that arrived in `[from, to)`.
fn between(a: &Arrivals, from: Instant, to: Instant) -> Vec<(Instant, f64)> {
    a.lock()
        .unwrap()
        .iter()
        .copied()
        .filter(|(t, _)| *t >= from && *t < to)
        .collect()
}

/// The longest time between consecutive results within `[from, to)`, counting from `from`
/// to the first and from the last to `to` (so that a window with none shows its length).
fn longest_gap(a: &Arrivals, from: Instant, to: Instant) -> f64 {
    let times: Vec<Instant> = between(a, from, to).iter().map(|(t, _)| *t).collect();
    let mut last = from;
    let mut gap = 0.0f64;
    for t in times.iter().copied().chain([to]) {
        gap = gap.max(t.duration_since(last).as_secs_f64());
        last = t;
    }
    gap
}

fn median_interval(a: &Arrivals, from: Instant, to: Instant) -> f64 {
    let r = between(a, from, to);
    let gaps: Vec<f64> = r
        .windows(2)
        .map(|w| w[1].0.duration_since(w[0].0).as_secs_f64())
        .collect();
    percentile(gaps, 0.5)
}

#[tokio::main]
async fn main() {
    let mut swaps = 6usize;
    let mut leak = 100usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut number = || args.next().and_then(|v| v.parse().ok()).expect("a number");
        match a.as_str() {
            "--swaps" => swaps = number(),
            "--leak" => leak = number(),
            _ => panic!("usage: model_swap [--swaps N] [--leak N]"),
        }
    }
    let square = rtsp_worker::default_model_path();
    let wide = rtsp_worker::wide_model_path();
    let manager = StreamConnectionManager::builder()
        .model(&square)
        .allow_file_urls(true)
        .build()
        .await
        .expect("manager (cargo xtask setup)");
    let url = format!("file://{}", testkit::clip(CLIP));
    let mut arrivals: Vec<Arrivals> = Vec::new();
    for n in 0..CAMERAS {
        let conn = manager
            .connect_stream(&url, StreamOptions::new().id(format!("cam{n}")))
            .await
            .expect("stream");
        let a: Arrivals = Arc::default();
        let mine = a.clone();
        tokio::spawn(async move {
            let mut results = Box::pin(conn.tracking_results());
            while let Some(r) = futures::StreamExt::next(&mut results).await {
                mine.lock().unwrap().push((Instant::now(), r.latency_ms));
            }
        });
        arrivals.push(a);
    }
    // Warm up, then the baseline.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let base_from = Instant::now();
    let (base_rss, _) = rss();
    let mut base_peak = base_rss;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        base_peak = base_peak.max(rss().0);
    }
    let base_to = Instant::now();

    // Swaps a few seconds apart: each window from the call to a second after it returned.
    let mut windows = Vec::new();
    let mut swap_peak = 0.0f64;
    let mut took = Vec::new();
    for i in 0..swaps {
        let path = if i % 2 == 0 { &wide } else { &square };
        let from = Instant::now();
        let sampling = tokio::spawn(async move {
            let mut peak = 0.0f64;
            loop {
                peak = peak.max(rss().0);
                tokio::time::sleep(Duration::from_millis(20)).await;
                if from.elapsed() > Duration::from_secs(30) {
                    return peak;
                }
            }
        });
        manager.swap_model(path, false).await.expect("swap");
        took.push(from.elapsed().as_secs_f64());
        tokio::time::sleep(Duration::from_secs(1)).await;
        let to = Instant::now();
        sampling.abort();
        swap_peak = swap_peak.max(rss().0);
        windows.push((from, to));
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    // The peak over the whole phase (the sampler's last value is lost to abort; VmHWM holds).
    swap_peak = swap_peak.max(rss().1);

    println!(
        "| camera | usual interval ms | longest gap in a swap window ms | ratio | p99 latency ms, baseline / swap windows |"
    );
    println!("|---|---|---|---|---|");
    let mut worst_ratio = 0.0f64;
    for (n, a) in arrivals.iter().enumerate() {
        let usual = median_interval(a, base_from, base_to);
        let gap = windows
            .iter()
            .map(|(f, t)| longest_gap(a, *f, *t))
            .fold(0.0, f64::max);
        let base_p99 = percentile(
            between(a, base_from, base_to).iter().map(|r| r.1).collect(),
            0.99,
        );
        let swap_p99 = percentile(
            windows
                .iter()
                .flat_map(|(f, t)| between(a, *f, *t))
                .map(|r| r.1)
                .collect(),
            0.99,
        );
        worst_ratio = worst_ratio.max(gap / usual);
        println!(
            "| cam{n} | {:.0} | {:.0} | {:.2} | {base_p99:.0} / {swap_p99:.0} |",
            usual * 1e3,
            gap * 1e3,
            gap / usual
        );
    }
    println!();
    println!(
        "{swaps} swaps (square and wide model in turn), each {:.2}–{:.2} s from the call to the \
         switch; worst gap / usual interval {worst_ratio:.2}; RSS baseline {base_rss:.0} MB \
         (peak {base_peak:.0}), peak over the swaps {swap_peak:.0} MB",
        took.iter().copied().fold(f64::INFINITY, f64::min),
        took.iter().copied().fold(0.0, f64::max),
    );

    // Swaps in a row, then the memory once things settle.
    let started = Instant::now();
    let mut along = Vec::new();
    for i in 0..leak {
        let path = if i % 2 == 0 { &wide } else { &square };
        manager.swap_model(path, false).await.expect("swap");
        if (i + 1) % 25 == 0 {
            along.push(format!("{}: {:.0} MB", i + 1, rss().0));
        }
    }
    eprintln!("RSS along the swaps in a row: {}", along.join(", "));
    let row = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (after, hwm) = rss();
    let stats = manager.shutdown().await;
    let balanced = stats.streams.values().all(|s| s.accounting.balanced());
    let failed: u64 = stats
        .streams
        .values()
        .map(|s| s.accounting.dropped.inference_failed)
        .sum();
    let results: u64 = stats.streams.values().map(|s| s.accounting.results).sum();
    println!(
        "{leak} swaps in a row in {row:.0} s: RSS {after:.0} MB after (baseline {base_rss:.0} MB, \
         {:+.0} MB; peak {hwm:.0} MB; along the way {}); model generation {}; {results} \
         results, accounting balanced: {balanced}, inference_failed: {failed}",
        after - base_rss,
        along.join(", "),
        stats.model.generation,
    );
}
