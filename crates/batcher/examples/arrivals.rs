//! One deterministic arrival schedule, fed in real time through the blocking driver, measured
//! the same way as `benches/seed_controller.py` measures the seed's `ModelController` on it.
//!
//! ```text
//! cargo run --release -p batcher --example arrivals -- --scenario dense \
//!     --schedule target/bench/arrivals_dense.json --json target/bench/batcher_arrivals_dense.json
//! python3 benches/seed_controller.py --schedule target/bench/arrivals_dense.json --poll 0.010 \
//!     --json target/bench/seed10_arrivals_dense.json
//! ```
//!
//! The schedule file carries the parameters too (batch size, force timeout, work time, idle
//! window), and the Python script takes them from it, so both sides run the same thing.
//! Options: `--scenario dense|sparse`, `--seconds S`, `--seed N`, `--idle-seconds S`,
//! `--schedule PATH` (written), `--json PATH` (figures), `--no-run` (write the schedule only).
//!
//! Figures: wait = consumer receives the batch − feeder calls `submit` (the seed's counterpart:
//! `_process_buffer` takes the batch − `submit_frame` is called); batch sizes; the feeder's
//! lateness against the schedule; process CPU (all threads) while streaming and over an idle
//! window with the driver up and nothing arriving, with context switches per second there.

// An example program: it reports on the terminal.
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use batcher::{Config, blocking};

/// A scenario's arrivals and the batcher settings both sides run it with.
struct Scenario {
    name: String,
    streams: u32,
    fps: u32,
    seconds: f64,
    seed: u64,
    /// Each frame lands up to this far either side of its slot.
    jitter_us: u64,
    batch_size: usize,
    force_timeout: Duration,
    /// The "model": `work_base + work_per_item × len` per batch.
    work_base: Duration,
    work_per_item: Duration,
    idle: Duration,
}

impl Scenario {
    fn preset(name: &str) -> Result<Self, String> {
        let (streams, fps, timeout_ms) = match name {
            // 400 frames/s: a batch of 8 every 20 ms, 10 ms of work each: the detector half busy.
            "dense" => (16, 25, 20),
            // 15 frames/s, mostly further apart than the timeout: batches of one or two.
            "sparse" => (3, 5, 50),
            other => return Err(format!("unknown scenario {other} (dense, sparse)")),
        };
        Ok(Self {
            name: name.to_owned(),
            streams,
            fps,
            seconds: 8.0,
            seed: 1,
            jitter_us: 2_000,
            batch_size: 8,
            force_timeout: Duration::from_millis(timeout_ms),
            work_base: Duration::from_millis(2),
            work_per_item: Duration::from_millis(1),
            idle: Duration::from_secs(3),
        })
    }

    /// Every stream sends `fps` frames a second from a random phase, each frame jittered;
    /// times in whole microseconds (so the JSON copy is exact), sorted.
    fn arrivals(&self) -> Vec<Arrival> {
        let mut rng = SplitMix64(self.seed);
        let period_us = 1_000_000 / u64::from(self.fps);
        let frames = (self.seconds * f64::from(self.fps)) as u64;
        let mut out = Vec::new();
        for stream in 0..self.streams {
            let phase = rng.below(period_us);
            for n in 0..frames {
                let slot = self.jitter_us + phase + n * period_us;
                let t_us = slot + rng.below(2 * self.jitter_us + 1) - self.jitter_us;
                out.push(Arrival { t_us, stream });
            }
        }
        out.sort_by_key(|a| (a.t_us, a.stream));
        out
    }

    fn schedule_json(&self, arrivals: &[Arrival]) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "{{\"scenario\":\"{}\",\"seed\":{},\"streams\":{},\"fps\":{},\"seconds\":{},\
             \"jitter_s\":{},\"batch_size\":{},\"force_timeout_s\":{},\"work_base_s\":{},\
             \"work_per_item_s\":{},\"idle_s\":{},\"arrivals\":[",
            self.name,
            self.seed,
            self.streams,
            self.fps,
            self.seconds,
            secs_us(self.jitter_us),
            self.batch_size,
            self.force_timeout.as_secs_f64(),
            self.work_base.as_secs_f64(),
            self.work_per_item.as_secs_f64(),
            self.idle.as_secs_f64(),
        );
        for (i, a) in arrivals.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let _ = write!(
                s,
                "{sep}\n{{\"t\":{},\"stream\":{}}}",
                secs_us(a.t_us),
                a.stream
            );
        }
        s.push_str("\n]}\n");
        s
    }
}

/// Whole microseconds as exact decimal seconds.
fn secs_us(us: u64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

struct Arrival {
    t_us: u64,
    stream: u32,
}

/// A tiny seeded generator, so that the schedule is the same on every machine.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform enough in `0..n` for a benchmark schedule.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

struct Args {
    scenario: Scenario,
    schedule: Option<String>,
    json: Option<String>,
    run: bool,
}

fn args() -> Result<Args, String> {
    let mut raw: Vec<String> = std::env::args().skip(1).collect();
    let mut run = true;
    raw.retain(|a| {
        let flag = a == "--no-run";
        run &= !flag;
        !flag
    });
    let mut name = "dense".to_owned();
    let mut rest = Vec::new();
    let mut it = raw.into_iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        if flag == "--scenario" {
            name = value;
        } else {
            rest.push((flag, value));
        }
    }
    let mut a = Args {
        scenario: Scenario::preset(&name)?,
        schedule: None,
        json: None,
        run,
    };
    for (flag, value) in rest {
        let bad = || format!("bad value for {flag}: {value}");
        match flag.as_str() {
            "--seconds" => a.scenario.seconds = value.parse().map_err(|_| bad())?,
            "--seed" => a.scenario.seed = value.parse().map_err(|_| bad())?,
            "--idle-seconds" => {
                a.scenario.idle = Duration::try_from_secs_f64(value.parse().map_err(|_| bad())?)
                    .map_err(|_| bad())?;
            }
            "--schedule" => a.schedule = Some(value),
            "--json" => a.json = Some(value),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(a)
}

/// CPU time of every live thread of this process, from `/proc/self/task/*/schedstat`
/// (nanoseconds); `/proc/self/stat` (10 ms ticks) where schedstat is missing.
fn cpu_time() -> Option<Duration> {
    let mut ns = 0u64;
    let mut any = false;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Ok(s) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        if let Some(t) = s
            .split_whitespace()
            .next()
            .and_then(|f| f.parse::<u64>().ok())
        {
            ns += t;
            any = true;
        }
    }
    if any {
        return Some(Duration::from_nanos(ns));
    }
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Context switches of every live thread (each wake-up from a sleep is at least one).
fn context_switches() -> Option<u64> {
    let mut n = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Ok(s) = std::fs::read_to_string(task.path().join("status")) else {
            continue;
        };
        for line in s.lines() {
            if let Some(v) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                n += v.trim().parse::<u64>().ok()?;
            }
        }
    }
    Some(n)
}

/// Nearest rank, as in `benches/seed_controller.py`.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn summary_json(mut v: Vec<Duration>) -> String {
    v.sort_unstable();
    let mean = if v.is_empty() {
        0.0
    } else {
        v.iter().map(|d| ms(*d)).sum::<f64>() / v.len() as f64
    };
    format!(
        "{{\"p50\":{:.3},\"p99\":{:.3},\"max\":{:.3},\"mean\":{mean:.3}}}",
        ms(percentile(&v, 0.5)),
        ms(percentile(&v, 0.99)),
        ms(v.last().copied().unwrap_or_default()),
    )
}

fn sleep_until(deadline: Instant) {
    if let Some(d) = deadline.checked_duration_since(Instant::now()) {
        std::thread::sleep(d);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = args()?;
    let sc = &a.scenario;
    let arrivals = sc.arrivals();
    if let Some(path) = &a.schedule {
        if let Some(dir) = std::path::Path::new(path).parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, sc.schedule_json(&arrivals))?;
    }
    if !a.run {
        return Ok(());
    }

    // Ping-pong as in the seed (one batch in flight); the seed's buffers are unbounded, so
    // give ours room enough that nothing is ever rejected or dropped.
    let config = Config::builder()
        .batch_size(sc.batch_size)
        .force_timeout(sc.force_timeout)
        .max_in_flight(1)
        .capacity(arrivals.len().max(sc.batch_size))
        .build()?;
    let (handle, batches) = blocking::spawn::<u32, Instant>(config)?;

    // The consumer "runs the model" and records how long each item waited for its batch.
    let seen = Arc::new(AtomicUsize::new(0));
    let consumer = {
        let seen = seen.clone();
        let (base, per_item) = (sc.work_base, sc.work_per_item);
        std::thread::spawn(move || {
            let (mut waits, mut sizes) = (Vec::new(), Vec::new());
            while let Some(batch) = batches.recv() {
                let now = Instant::now();
                waits.extend(batch.items.iter().map(|i| now - i.value));
                sizes.push(batch.items.len());
                let n = u32::try_from(batch.items.len()).unwrap_or(u32::MAX);
                std::thread::sleep(base + per_item * n);
                seen.fetch_add(batch.items.len(), Ordering::Release);
                drop(batch);
            }
            (waits, sizes)
        })
    };

    // The feeder: one thread sleeps until each arrival and submits it.
    let cpu0 = cpu_time();
    let t0 = Instant::now() + Duration::from_millis(100);
    let mut lateness = Vec::with_capacity(arrivals.len());
    for arr in &arrivals {
        let due = t0 + Duration::from_micros(arr.t_us);
        sleep_until(due);
        let submitted = Instant::now();
        lateness.push(submitted - due);
        handle
            .submit(arr.stream, submitted)
            .map_err(batcher::Error::from)?;
    }
    let drain_deadline = Instant::now() + Duration::from_secs(10);
    while seen.load(Ordering::Acquire) < arrivals.len() && Instant::now() < drain_deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let busy = t0.elapsed();
    let cpu_busy = cpu0.zip(cpu_time()).map(|(a, b)| b - a);

    // Idle: the driver stays up with nothing arriving.
    std::thread::sleep(Duration::from_millis(500));
    let (cpu1, cs1, idle0) = (cpu_time(), context_switches(), Instant::now());
    std::thread::sleep(sc.idle);
    let (cpu2, cs2) = (cpu_time(), context_switches());
    let idle = idle0.elapsed();

    let stats = handle.stats();
    handle.close();
    drop(handle);
    let (waits, sizes) = consumer
        .join()
        .map_err(|_| "the consumer thread panicked")?;

    let mut hist = BTreeMap::new();
    for s in &sizes {
        *hist.entry(*s).or_insert(0u64) += 1;
    }
    let hist_json = hist
        .iter()
        .map(|(k, v)| format!("\"{k}\":{v}"))
        .collect::<Vec<_>>()
        .join(",");
    let mean_batch = sizes.iter().sum::<usize>() as f64 / sizes.len().max(1) as f64;
    let cpu_pct = |c: Option<Duration>, over: Duration| {
        c.map_or(-1.0, |c| 100.0 * c.as_secs_f64() / over.as_secs_f64())
    };
    let idle_pct = cpu_pct(cpu1.zip(cpu2).map(|(a, b)| b - a), idle);
    let wakeups = cs1
        .zip(cs2)
        .map_or(-1.0, |(a, b)| (b - a) as f64 / idle.as_secs_f64());
    let dropped = stats.dropped.total() + stats.rejected;
    let json = format!(
        "{{\"impl\":\"batcher (blocking driver)\",\"scenario\":\"{}\",\"params\":{{\
         \"batch_size\":{},\"force_timeout_ms\":{},\"work_base_ms\":{},\"work_per_item_ms\":{},\
         \"poll_ms\":null}},\"items\":{},\"dispatched\":{},\"dropped\":{dropped},\
         \"batches\":{},\"wait_ms\":{},\"lateness_ms\":{},\"batch_size\":{{\"mean\":{mean_batch:.3},\
         \"max\":{},\"over_batch_size\":0,\"hist\":{{{hist_json}}}}},\"triggers\":{{\"full\":{},\
         \"timeout\":{}}},\"cpu\":{{\"busy_pct\":{:.3},\"idle_pct\":{idle_pct:.4},\"idle_s\":{:.3},\
         \"idle_wakeups_per_s\":{wakeups:.1}}}}}\n",
        sc.name,
        sc.batch_size,
        ms(sc.force_timeout),
        ms(sc.work_base),
        ms(sc.work_per_item),
        arrivals.len(),
        waits.len(),
        sizes.len(),
        summary_json(waits.clone()),
        summary_json(lateness),
        sizes.iter().max().copied().unwrap_or(0),
        stats.batches.full,
        stats.batches.timeout,
        cpu_pct(cpu_busy, busy),
        idle.as_secs_f64(),
    );
    let mut sorted = waits;
    sorted.sort_unstable();
    println!(
        "{} ({} streams x {} fps, {} items): batcher wait p50 {:.2} ms p99 {:.2} ms max {:.2} ms, \
         mean batch {mean_batch:.2}, idle CPU {idle_pct:.3}% ({wakeups:.0} wake-ups/s)",
        sc.name,
        sc.streams,
        sc.fps,
        arrivals.len(),
        ms(percentile(&sorted, 0.5)),
        ms(percentile(&sorted, 0.99)),
        ms(sorted.last().copied().unwrap_or_default()),
    );
    if let Some(path) = a.json {
        if let Some(dir) = std::path::Path::new(&path).parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, json)?;
    }
    Ok(())
}
