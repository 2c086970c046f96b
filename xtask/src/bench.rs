//! `cargo xtask bench [--quick] [e2e]`: the crates' criterion benches, the batcher beside the
//! seed's ModelController, and the end-to-end benchmark on the product beside the detector alone
//! and the naive way; figures with machine, commit, command and date in `target/bench/bench.json`
//! and `target/bench/summary.md` (a full run also updates docs/BENCHMARKS.md between its markers).

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::{cargo, example, project_root, run};

/// How much to run: `--quick` (CI, under 3 minutes) or the full run.
#[derive(Clone, Copy)]
struct Plan {
    quick: bool,
}

impl Plan {
    /// Camera counts for the end-to-end table.
    fn streams(self) -> &'static [usize] {
        if self.quick {
            &[1, 4]
        } else {
            &[1, 2, 4, 8, 16]
        }
    }
    /// Rounds per count (each between two runs of the detector alone).
    fn rounds(self) -> usize {
        let default = if self.quick { 1 } else { 2 };
        env_num("RTSP_WORKER_BENCH_ROUNDS", default as f64) as usize
    }
    /// Warm-up and window of one end-to-end run, seconds.
    fn window(self) -> (f64, f64) {
        if self.quick {
            (2.0, env_num("RTSP_WORKER_BENCH_WINDOW", 4.0))
        } else {
            (8.0, env_num("RTSP_WORKER_BENCH_WINDOW", 15.0))
        }
    }
    /// The latency-throughput curve: batch sizes and force timeouts (ms) at 4 streams.
    fn curve(self) -> (&'static [usize], &'static [f64]) {
        if self.quick {
            (&[1, 4], &[40.0])
        } else {
            (&[1, 2, 4, 8], &[10.0, 40.0, 120.0])
        }
    }
}

fn env_num(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub(crate) fn run_benches(extra: &[String]) -> Result<()> {
    if extra.iter().any(|a| a == "--host") {
        return host(extra.iter().any(|a| a == "--quick"));
    }
    let plan = Plan {
        quick: extra.iter().any(|a| a == "--quick"),
    };
    let only_e2e = extra.iter().any(|a| a == "e2e");
    let criterion_args: Vec<&String> = extra
        .iter()
        .filter(|a| *a != "--quick" && *a != "e2e")
        .collect();
    // The ingest bench records a capture from the loopback RTSP server: it needs the clips.
    let assets = crate::setup::setup()?;
    let root = project_root();
    let out = root.join("target/bench");
    fs::create_dir_all(&out)?;
    let started = std::time::Instant::now();
    let mut md = String::new();
    let mut json = Vec::new();
    if !only_e2e {
        crates(&assets, plan, &criterion_args, &out, &mut md, &mut json)?;
    }
    let e2e = end_to_end(&assets, plan, &out, &mut json)?;
    md.push_str(&e2e);
    let meta = Meta::now(extra);
    let header = format!(
        "{} · commit `{}` · {} · {}\n\n```sh\n{}\n```\n",
        meta.date, meta.commit, meta.machine, meta.toolchain, meta.command
    );
    let md = format!("{header}{md}");
    fs::write(out.join("summary.md"), &md)?;
    let mut all = format!(
        "{{\n  \"date\": {:?},\n  \"commit\": {:?},\n  \"machine\": {:?},\n  \"toolchain\": {:?},\n  \
         \"command\": {:?},\n  \"quick\": {},\n  \"seconds\": {:.0},\n  \"figures\": {{",
        meta.date,
        meta.commit,
        meta.machine,
        meta.toolchain,
        meta.command,
        plan.quick,
        started.elapsed().as_secs_f64()
    );
    for (i, (name, value)) in json.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        all.push_str(&format!("{sep}\n    {name:?}: {}", value.trim()));
    }
    all.push_str("\n  }\n}\n");
    fs::write(out.join("bench.json"), &all)?;
    // A full run updates docs/BENCHMARKS.md between its markers; a quick one leaves it.
    if !plan.quick && !only_e2e {
        let doc = root.join("docs/BENCHMARKS.md");
        let text = fs::read_to_string(&doc)?;
        let (begin, end) = ("<!-- bench:begin -->", "<!-- bench:end -->");
        if let (Some(b), Some(e)) = (text.find(begin), text.find(end)) {
            let updated = format!("{}{begin}\n{md}\n{}", &text[..b], &text[e..]);
            fs::write(&doc, updated)?;
        }
    }
    print!("{md}");
    println!(
        "\nbench: {:.0} s; figures in {} and {}",
        started.elapsed().as_secs_f64(),
        out.join("bench.json").display(),
        out.join("summary.md").display()
    );
    Ok(())
}

/// Where and when: for every figure written.
pub(crate) struct Meta {
    pub(crate) date: String,
    pub(crate) commit: String,
    pub(crate) machine: String,
    pub(crate) toolchain: String,
    pub(crate) command: String,
}

impl Meta {
    pub(crate) fn now(extra: &[String]) -> Meta {
        let sh = |cmd: &mut Command| {
            crate::output(cmd)
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "unknown".into())
        };
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_else(|| "CPU model not exposed".into());
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let mem_gib = fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
        let mut command = String::from("cargo xtask bench");
        for a in extra {
            command.push(' ');
            command.push_str(a);
        }
        Meta {
            date: sh(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])),
            commit: sh(Command::new("git").args(["rev-parse", "--short", "HEAD"])),
            machine: format!("{cores} CPUs ({model}), {mem_gib:.0} GiB"),
            toolchain: sh(Command::new("rustc").arg("--version")),
            command,
        }
    }
}

/// The crates' criterion benches, the detector's latency beside Python's onnxruntime, the
/// batcher's real-time simulations, and the batcher beside the seed's ModelController.
fn crates(
    assets: &crate::setup::Assets,
    plan: Plan,
    criterion_args: &[&String],
    out: &Path,
    md: &mut String,
    json: &mut Vec<(String, String)>,
) -> Result<()> {
    let root = project_root();
    let benches: [(&str, &[&str]); 5] = [
        ("batcher", &["core", "drivers"]),
        ("rtsp-ingest", &["depacketize"]),
        ("gpu-decode", &["decode"]),
        ("infer-trt", &["detect"]),
        ("tracker", &["update"]),
    ];
    // A fresh table: criterion's folders keep results of benches run long ago.
    let _ = fs::remove_dir_all(root.join("target/criterion"));
    // One invocation: one feature resolution, so nothing is built twice.
    let mut cmd = cargo();
    cmd.envs(assets.env()).arg("bench");
    for (package, names) in benches {
        cmd.args(["-p", package]);
        for name in names {
            cmd.args(["--bench", name]);
        }
    }
    cmd.arg("--");
    if plan.quick {
        // CI-sized: the fewest samples criterion takes, and one case of each costly group
        // (a whole clip decoded, a batch detected) instead of all of them.
        cmd.args([
            "--sample-size",
            "10",
            "--warm-up-time",
            "0.1",
            "--measurement-time",
            "0.2",
            "^(core|blocking_driver|tokio_driver|ingest|prepost|tracker)/|\
             ^decode/yuv\\+letterbox640/h264_720p|^infer/cpu_threads_2/(1|4)$",
        ]);
    }
    run(cmd.args(criterion_args))?;
    let mut table = String::from("| benchmark | mean | throughput |\n|---|---|---|\n");
    collect(&root.join("target/criterion"), &mut table)?;
    md.push_str("\n### Criterion benches of the crates\n\n");
    md.push_str(&table);
    json.push(("criterion".into(), format!("{:?}", table)));
    if !plan.quick {
        run(example("infer-trt", "latency")
            .envs(assets.env())
            .arg(assets.dynamic_model())
            .arg(out.join("infer_trt_latency.json")))?;
        python_onnxruntime(assets, out)?;
        for (name, file) in [
            (
                "infer-trt ModelRepository::infer, median (examples/latency.rs)",
                "infer_trt_latency.json",
            ),
            (
                "Python onnxruntime, same model (median session.run)",
                "onnxruntime_python.json",
            ),
        ] {
            if let Ok(text) = fs::read_to_string(out.join(file)) {
                md.push_str(&format!("\n{name}:\n{text}\n"));
                json.push((file.trim_end_matches(".json").into(), text));
            }
        }
    }
    // Real time: a dense load (batches fill) and a sparse one (the timeout path).
    let seconds = if plan.quick { "2" } else { "10" };
    md.push_str("\n### batcher simulate (batch 16, timeout 50 ms, 10 ms work per batch)\n\n");
    for (name, streams, fps) in [("dense", "32", "30"), ("sparse", "4", "5")] {
        let file = out.join(format!("batcher_simulate_{name}.json"));
        run(example("batcher", "simulate")
            .args([
                "--streams",
                streams,
                "--fps",
                fps,
                "--seconds",
                seconds,
                "--json",
            ])
            .arg(&file))?;
        let text = read(&file)?;
        md.push_str(&text);
        json.push((format!("batcher_simulate_{name}"), text));
    }
    seed_controller(plan, out, md, json)?;
    if let Ok(cli) = fs::read_to_string(out.join("gpu_decode_ffmpeg_cli.json")) {
        md.push_str("\nffmpeg -threads 1 on the same clips (whole clip, 250 frames):\n");
        md.push_str(&cli);
    }
    if let Ok(mem) = fs::read_to_string(out.join("rtsp_ingest_idle_memory.json")) {
        md.push_str("\nrtsp-ingest idle sessions:\n");
        md.push_str(&mem);
    }
    Ok(())
}

/// Our batcher beside the seed's ModelController (benches/seed_controller.py), fed the same
/// arrival schedule in real time: waits, batch sizes, CPU while idle.
fn seed_controller(
    plan: Plan,
    out: &Path,
    md: &mut String,
    json: &mut Vec<(String, String)>,
) -> Result<()> {
    let script = project_root().join("benches/seed_controller.py");
    let timing: &[&str] = if plan.quick {
        &["--seconds", "3", "--idle-seconds", "1"]
    } else {
        &[]
    };
    let mut results = Vec::new();
    for scenario in ["dense", "sparse"] {
        let schedule = out.join(format!("arrivals_{scenario}.json"));
        let ours = out.join(format!("batcher_arrivals_{scenario}.json"));
        run(example("batcher", "arrivals")
            .args(["--scenario", scenario])
            .args(timing)
            .arg("--schedule")
            .arg(&schedule)
            .arg("--json")
            .arg(&ours))?;
        results.push(ours);
        for (poll, name) in [("0.001", "seed1"), ("0.010", "seed10")] {
            let file = out.join(format!("{name}_arrivals_{scenario}.json"));
            run(Command::new("python3")
                .arg(&script)
                .arg("--schedule")
                .arg(&schedule)
                .args(["--poll", poll])
                .arg("--json")
                .arg(&file))?;
            results.push(file);
        }
    }
    let table = crate::output(
        Command::new("python3")
            .arg(&script)
            .arg("--table")
            .args(&results),
    )?;
    md.push_str(
        "\n### The batcher beside the seed's ModelController, same arrivals\n\n\
         `benches/seed_controller.py` reproduces the seed's ping-pong buffers (timeout measured \
         from the last submit; timeout monitor polling every 1 ms or every 10 ms as in the seed, \
         processor every 1 ms); `crates/batcher/examples/arrivals.rs` writes the schedule and \
         feeds it to our blocking driver. Waits are submit → batch taken by the model.\n\n",
    );
    md.push_str(&table);
    md.push('\n');
    for r in results {
        let name = r
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        json.push((name, read(&r)?));
    }
    Ok(())
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// The end-to-end benchmark (`crates/rtsp-worker/examples/e2e.rs`): N streams of the 720p25
/// pedestrian clip through the facade, each run between two runs of the detector alone (the
/// machine is shared: the reference is taken on both sides), each in a process of its own so
/// that peak memory is per run; the naive way at the same counts; and the latency-throughput
/// curve over batch size and force timeout. Returns Markdown with the goals checked against
/// the reference of the same run.
fn end_to_end(
    assets: &crate::setup::Assets,
    plan: Plan,
    out: &Path,
    json: &mut Vec<(String, String)>,
) -> Result<String> {
    let (warmup, window) = plan.window();
    let (warmup, window) = (warmup.to_string(), window.to_string());
    let rounds = plan.rounds();
    let mut bench = |name: &str, args: &[&str]| -> Result<String> {
        let file = out.join(format!("e2e_{name}.json"));
        run(example("rtsp-worker", "e2e")
            .envs(assets.env())
            .args(args)
            .args(["--warmup", &warmup, "--window", &window, "--json"])
            .arg(&file))?;
        let text = read(&file)?;
        json.push((format!("e2e_{name}"), text.clone()));
        Ok(text)
    };
    let num = |json: &str, key: &str| field_num(json, key).unwrap_or(0.0);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    // The machine's speed drifts by 20% within minutes: every pipeline run is compared with
    // the detector alone just before and just after it, and each configuration runs
    // `rounds` times; the table shows medians and the range of the ratio.
    let mut alone = bench("detector_alone_0", &["--detector-alone"])?;
    let mut rows = Vec::new();
    let mut naive_rows = Vec::new();
    let mut rss1 = 0.0;
    let mut largest_served = 0;
    for &n in plan.streams() {
        let ns = n.to_string();
        let mut samples = Vec::new();
        for r in 0..rounds {
            let pipe = bench(&format!("streams_{n}_{r}"), &["--streams", &ns])?;
            let after = bench(&format!("detector_alone_{n}_{r}"), &["--detector-alone"])?;
            let reference = (num(&alone, "images_per_s") + num(&after, "images_per_s")) / 2.0;
            let single_ms = (num(&alone, "ms_p50") + num(&after, "ms_p50")) / 2.0;
            samples.push((pipe, reference, single_ms));
            alone = after;
        }
        // The naive way at the same count, once, right after.
        if plan.quick && n == 1 {
            // (quick: only at the larger count)
        } else {
            let naive = bench(&format!("naive_{n}"), &["--naive", "--streams", &ns])?;
            let reference = samples.last().map_or(0.0, |s| s.1);
            naive_rows.push(format!(
                "| {n} | {:.2} | {:.0}% | {:.0} | {:.0} | {:.0} | {:.2} | {:.0} | {:.0} |\n",
                num(&naive, "processed_per_s"),
                num(&naive, "processed_per_s") / reference.max(1e-9) * 100.0,
                num(&naive, "latency_ms_p50"),
                num(&naive, "latency_ms_p99"),
                num(&naive, "latency_ms_max"),
                num(&naive, "fair_share"),
                num(&naive, "camera_queue_drops"),
                num(&naive, "peak_rss_mb"),
            ));
        }
        let med = |f: &dyn Fn(&(String, f64, f64)) -> f64| median(samples.iter().map(f).collect());
        let ratios: Vec<f64> = samples
            .iter()
            .map(|(p, reference, _)| num(p, "processed_per_s") / reference * 100.0)
            .collect();
        let bound = 40.0 + 2.5 * med(&|s| s.2);
        let p99 = med(&|s| num(&s.0, "latency_ms_p99"));
        let fair = med(&|s| num(&s.0, "fair_share"));
        if p99 <= bound && fair >= 0.9 {
            largest_served = largest_served.max(n);
        }
        let rss = samples
            .iter()
            .map(|s| num(&s.0, "peak_rss_mb"))
            .fold(0.0, f64::max);
        if n == 1 {
            rss1 = rss;
        }
        let drops: Vec<String> = samples
            .last()
            .and_then(|s| {
                let i = s.0.find("\"drops_in_window\"")?;
                let rest = &s.0[i..];
                let (a, b) = (rest.find('{')?, rest.find('}')?);
                Some(
                    rest[a + 1..b]
                        .split(',')
                        .filter(|kv| !kv.trim().ends_with(":0"))
                        .map(|kv| kv.replace('"', "").trim().to_owned())
                        .filter(|kv| !kv.is_empty())
                        .collect(),
                )
            })
            .unwrap_or_default();
        rows.push(format!(
            "| {n} | {:.2} | {:.1} | {:.2} | {:.0}% ({:.0}–{:.0}%) | {:.0} | {p99:.0} ({bound:.0}){} | {:.0} | {fair:.2}{} | {} | {:.0} | {rss:.0} | {} | {:.1} |\n",
            med(&|s| num(&s.0, "processed_per_s")),
            med(&|s| num(&s.0, "offered_per_s")),
            med(&|s| s.1),
            median(ratios.clone()),
            ratios.iter().copied().fold(f64::MAX, f64::min),
            ratios.iter().copied().fold(0.0, f64::max),
            med(&|s| num(&s.0, "latency_ms_p50")),
            if p99 <= bound { " ✔" } else { " ✘" },
            med(&|s| num(&s.0, "latency_ms_max")),
            if fair >= 0.9 { " ✔" } else { " ✘" },
            if drops.is_empty() { "-".into() } else { drops.join(", ") },
            med(&|s| num(&s.0, "cpu_percent")),
            if n > 1 {
                format!("{:.1}", (rss - rss1) / (n as f64 - 1.0))
            } else {
                "-".into()
            },
            med(&|s| num(&s.0, "startup_s")),
        ));
    }
    let mut md = format!(
        "\n### End to end: N cameras through the facade, beside the detector alone\n\n\
         720p25 pedestrians over RTSP on loopback, CPU defaults: medians of {rounds} round(s) of \
         {window} s after {warmup} s, each run beside the detector alone just before and after \
         it (ratio: median, and its range); latency is arrival → result; bound 40 ms + 2.5 × the \
         detector's time per image; served = fair share ≥ 0.9 and p99 within the bound.\n\n\
         | streams | processed/s | offered/s | detector alone/s | ratio | p50 ms | p99 ms (bound) | max ms | fair share | drops in window | CPU % | peak RSS MB | per added stream MB | start-up s |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    );
    for r in rows {
        md.push_str(&r);
    }
    md.push_str(&format!(
        "\nLargest number of cameras served (every stream its fair share within 10%, p99 within \
         the bound): **{largest_served}** of {:?}.\n",
        plan.streams()
    ));
    md.push_str(
        "\n### The naive way, same crates, same run\n\n\
         One loop: each camera's next frame in turn, decoded, detected alone, tracked (no \
         batching, no pipelining, no newest-frame-wins: frames queue in the camera's bounded \
         queue and its overflow is dropped). Ratio against the detector alone of the same round.\n\n\
         | streams | processed/s | of detector alone | p50 ms | p99 ms | max ms | fair share | camera-queue drops | peak RSS MB |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for r in naive_rows {
        md.push_str(&r);
    }
    md.push_str(&curve(plan, &mut bench, out)?);
    Ok(md)
}

/// Latency against throughput over batch size and force timeout, at 4 streams; a plot in
/// `target/bench/latency_throughput.svg`.
fn curve(
    plan: Plan,
    bench: &mut dyn FnMut(&str, &[&str]) -> Result<String>,
    out: &Path,
) -> Result<String> {
    let (sizes, timeouts) = plan.curve();
    let mut points = Vec::new();
    let mut md = String::from(
        "\n### Latency against throughput: batch size × force timeout (4 streams)\n\n\
         ![latency against throughput](latency_throughput.svg)\n\n\
         | batch | timeout ms | processed/s | p50 ms | p99 ms |\n|---|---|---|---|---|\n",
    );
    for &b in sizes {
        for &t in timeouts {
            let (bs, ts) = (b.to_string(), t.to_string());
            let r = bench(
                &format!("curve_b{b}_t{t}"),
                &[
                    "--streams",
                    "4",
                    "--batch-size",
                    &bs,
                    "--force-timeout",
                    &ts,
                ],
            )?;
            let (x, p50, p99) = (
                field_num(&r, "processed_per_s").unwrap_or(0.0),
                field_num(&r, "latency_ms_p50").unwrap_or(0.0),
                field_num(&r, "latency_ms_p99").unwrap_or(0.0),
            );
            md.push_str(&format!(
                "| {b} | {t:.0} | {x:.2} | {p50:.0} | {p99:.0} |\n"
            ));
            points.push(crate::plot::Point {
                batch: b,
                timeout_ms: t,
                per_s: x,
                p50_ms: p50,
                p99_ms: p99,
            });
        }
    }
    let svg = out.join("latency_throughput.svg");
    match crate::plot::latency_throughput(&points, &svg) {
        Ok(()) if !plan.quick => {
            // The full run's plot is the one docs/BENCHMARKS.md shows.
            fs::copy(&svg, project_root().join("docs/latency_throughput.svg"))?;
        }
        Ok(()) => md.push_str("\n(plot: target/bench/latency_throughput.svg)\n"),
        Err(e) => md.push_str(&format!("\n(no plot: {e:#})\n")),
    }
    Ok(md)
}

/// Python's onnxruntime on the same model, for the comparison in docs/BENCHMARKS.md. Its
/// wheels (and numpy's) are installed once into the cache with pip.
fn python_onnxruntime(assets: &crate::setup::Assets, out: &Path) -> Result<()> {
    let site = assets.cache.join("python");
    if !site.join("onnxruntime").is_dir() {
        run(Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
            ])
            .arg(&site)
            .args(["onnxruntime==1.32.0", "numpy"]))?;
    }
    run(Command::new("python3")
        .env("PYTHONPATH", &site)
        .arg(project_root().join("benches/onnxruntime_python.py"))
        .arg(assets.dynamic_model())
        .arg(out.join("onnxruntime_python.json")))
}

/// Reads criterion's `new/estimates.json` and `new/benchmark.json` files.
fn collect(dir: &Path, md: &mut String) -> Result<()> {
    let mut rows = Vec::new();
    walk(dir, &mut rows)?;
    rows.sort();
    for r in rows {
        md.push_str(&r);
    }
    Ok(())
}

fn walk(dir: &Path, rows: &mut Vec<String>) -> Result<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "new") {
                if let Some(row) = row(&p)? {
                    rows.push(row);
                }
            } else {
                walk(&p, rows)?;
            }
        }
    }
    Ok(())
}

fn row(new: &Path) -> Result<Option<String>> {
    let (Ok(est), Ok(bench)) = (
        fs::read_to_string(new.join("estimates.json")),
        fs::read_to_string(new.join("benchmark.json")),
    ) else {
        return Ok(None);
    };
    let id = field_str(&bench, "full_id").context("benchmark.json without full_id")?;
    let mean_ns = field_num(&est, "point_estimate").context("estimates.json without a mean")?;
    let elements = bench
        .find("\"Elements\"")
        .and_then(|i| field_num(&bench[i..], "Elements"));
    let throughput = match elements {
        Some(n) if mean_ns > 0.0 => match n / mean_ns * 1e9 {
            per_s if per_s >= 1e6 => format!("{:.2} M items/s", per_s / 1e6),
            per_s if per_s >= 1e3 => format!("{:.1} k items/s", per_s / 1e3),
            per_s => format!("{per_s:.1} items/s"),
        },
        _ => String::new(),
    };
    Ok(Some(format!(
        "| {id} | {} | {throughput} |\n",
        human_ns(mean_ns)
    )))
}

fn human_ns(ns: f64) -> String {
    match ns {
        n if n < 1e3 => format!("{n:.1} ns"),
        n if n < 1e6 => format!("{:.2} µs", n / 1e3),
        n if n < 1e9 => format!("{:.2} ms", n / 1e6),
        n => format!("{:.2} s", n / 1e9),
    }
}

/// The first `"key": "value"` in a JSON text (criterion's files are simple enough).
fn field_str(json: &str, key: &str) -> Option<String> {
    let i = json.find(&format!("\"{key}\""))?;
    let rest = &json[i + key.len() + 2..];
    let start = rest.find('"')? + 1;
    let end = start + rest[start..].find('"')?;
    Some(rest[start..end].to_owned())
}

/// The first `"key": number` (or `"key":{"...": number`) in a JSON text.
pub(crate) fn field_num(json: &str, key: &str) -> Option<f64> {
    let i = json.find(&format!("\"{key}\""))?;
    let rest = &json[i + key.len() + 2..];
    let start = rest.find(|c: char| c.is_ascii_digit())?;
    let end = start
        + rest[start..]
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '-' || c == '+'))
            .unwrap_or(rest.len() - start);
    rest[start..end].parse().ok()
}

/// `cargo xtask bench e2e --host [--quick]`: the host's share at a GPU's scale. The e2e
/// example's `--host` at 100, 300 and 1,000 replayed 30 fps cameras (300 only with `--quick`),
/// with the pass-through decoder and the fixed-cost detector stand-ins (benchmarks-only
/// settings, named as such): the process's CPU per frame received and the p99 latency beyond
/// the stand-in's cost, with the decode loops on the shared pool (the default) and, beside
/// it in the same sitting, on a thread per stream (`--decode-workers 0`, the way before). Prints a Markdown table (also `target/bench/host.md`).
fn host(quick: bool) -> Result<()> {
    let assets = crate::setup::setup()?;
    let out = project_root().join("target/bench");
    fs::create_dir_all(&out)?;
    let counts: &[usize] = if quick { &[300] } else { &[100, 300, 1000] };
    let mut rows = String::new();
    for &n in counts {
        for (way, workers) in [("a thread per stream", Some("0")), ("pool (default)", None)] {
            let file = out.join(format!("host_{n}_{}.json", workers.unwrap_or("pool")));
            let mut cmd = example("rtsp-worker", "e2e");
            cmd.envs(assets.env())
                .args(["--host", "--streams", &n.to_string()])
                .args(["--warmup", "5", "--window", "20", "--json"])
                .arg(&file);
            if let Some(w) = workers {
                cmd.args(["--decode-workers", w]);
            }
            run(&mut cmd)?;
            let j = read(&file)?;
            let num = |k: &str| field_num(&j, k).unwrap_or(0.0);
            rows.push_str(&format!(
                "| {n} | {way} | {:.0} | {:.0}% | {:.1} | {:.1} / {:.1} | {:.1} | {:.0} |\n",
                num("frames_per_s"),
                num("cpu_percent"),
                num("cpu_us_per_frame"),
                num("latency_ms_p50"),
                num("latency_ms_p99"),
                num("added_ms_p99"),
                num("peak_rss_mb"),
            ));
        }
    }
    let md = format!(
        "| cameras × 30 fps | decode loops | frames/s | process CPU | CPU µs per frame | latency p50 / p99 ms | p99 beyond the stand-in ms | peak RSS MB |\n\
         |---|---|---|---|---|---|---|---|\n{rows}"
    );
    fs::write(out.join("host.md"), &md)?;
    print!("{md}");
    Ok(())
}
