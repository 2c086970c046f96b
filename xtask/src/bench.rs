//! `cargo xtask bench`: runs the criterion benches and the real-time simulations, and gathers
//! their figures into `target/bench/summary.md` (for docs/BENCHMARKS.md).

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::{cargo, example, project_root, run};

pub(crate) fn run_benches(extra: &[String]) -> Result<()> {
    // The ingest bench records a capture from the loopback RTSP server: it needs the clips.
    let assets = crate::setup::setup()?;
    let root = project_root();
    let out = root.join("target/bench");
    fs::create_dir_all(&out)?;
    if extra.first().is_some_and(|a| a == "e2e") {
        // Only the end-to-end benchmark (a few minutes).
        let md = end_to_end(&assets, &out)?;
        fs::write(out.join("e2e.md"), &md)?;
        print!("{md}");
        return Ok(());
    }
    let benches: [(&str, &[&str]); 5] = [
        ("batcher", &["core", "drivers"]),
        ("rtsp-ingest", &["depacketize"]),
        ("gpu-decode", &["decode"]),
        ("infer-trt", &["detect"]),
        ("tracker", &["update"]),
    ];
    for (package, names) in benches {
        let mut cmd = cargo();
        cmd.envs(assets.env()).args(["bench", "-p", package]);
        for name in names {
            cmd.args(["--bench", name]);
        }
        run(cmd.arg("--").args(extra))?;
    }
    run(example("infer-trt", "latency")
        .envs(assets.env())
        .arg(assets.dynamic_model())
        .arg(out.join("infer_trt_latency.json")))?;
    python_onnxruntime(&assets, &out)?;
    let e2e = end_to_end(&assets, &out)?;
    // Real time: a dense load (batches fill) and a sparse one (the timeout path).
    let mut sims = Vec::new();
    for (name, streams, fps) in [("dense", "32", "30"), ("sparse", "4", "5")] {
        let json = out.join(format!("batcher_simulate_{name}.json"));
        run(example("batcher", "simulate")
            .args([
                "--streams",
                streams,
                "--fps",
                fps,
                "--seconds",
                "10",
                "--json",
            ])
            .arg(&json))?;
        sims.push(json);
    }
    let mut md = String::from("| benchmark | mean | throughput |\n|---|---|---|\n");
    collect(&root.join("target/criterion"), &mut md)?;
    md.push_str("\nbatcher simulate (batch 16, timeout 50 ms, 10 ms work per batch):\n");
    for json in sims {
        let text =
            fs::read_to_string(&json).with_context(|| format!("reading {}", json.display()))?;
        md.push_str(&text);
    }
    if let Ok(cli) = fs::read_to_string(out.join("gpu_decode_ffmpeg_cli.json")) {
        md.push_str("\nffmpeg -threads 1 on the same clips (whole clip, 250 frames):\n");
        md.push_str(&cli);
    }
    if let Ok(ours) = fs::read_to_string(out.join("infer_trt_latency.json")) {
        md.push_str("\ninfer-trt ModelRepository::infer, median (examples/latency.rs):\n");
        md.push_str(&ours);
    }
    if let Ok(py) = fs::read_to_string(out.join("onnxruntime_python.json")) {
        md.push_str("\nPython onnxruntime, same model (median session.run):\n");
        md.push_str(&py);
        md.push('\n');
    }
    if let Ok(mem) = fs::read_to_string(out.join("rtsp_ingest_idle_memory.json")) {
        md.push_str("\nrtsp-ingest idle sessions:\n");
        md.push_str(&mem);
    }
    md.push_str(&e2e);
    fs::write(out.join("summary.md"), &md)?;
    print!("{md}");
    Ok(())
}

/// The end-to-end benchmark (`crates/rtsp-worker/examples/e2e.rs`): 1, 2 and 4 streams of the
/// 720p25 pedestrian clip through the facade, each between two runs of the detector alone
/// (the machine is shared: the reference is taken on both sides), each in a process of its
/// own so that peak memory is per run. Returns a Markdown table with the goals checked
/// against the reference of the same run.
fn end_to_end(assets: &crate::setup::Assets, out: &Path) -> Result<String> {
    let env_or = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let window = env_or("RTSP_WORKER_BENCH_WINDOW", "20");
    let rounds: usize = env_or("RTSP_WORKER_BENCH_ROUNDS", "3").parse().unwrap_or(3);
    let bench = |name: &str, args: &[&str]| -> Result<String> {
        let json = out.join(format!("e2e_{name}.json"));
        run(example("rtsp-worker", "e2e")
            .envs(assets.env())
            .args(args)
            .args(["--window", &window, "--json"])
            .arg(&json))?;
        fs::read_to_string(&json).with_context(|| format!("reading {}", json.display()))
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
    let mut rss1 = 0.0;
    for n in ["1", "2", "4"] {
        let mut samples = Vec::new();
        for r in 0..rounds {
            let pipe = bench(&format!("streams_{n}_{r}"), &["--streams", n])?;
            let after = bench(&format!("detector_alone_{n}_{r}"), &["--detector-alone"])?;
            let reference = (num(&alone, "images_per_s") + num(&after, "images_per_s")) / 2.0;
            let single_ms = (num(&alone, "ms_p50") + num(&after, "ms_p50")) / 2.0;
            samples.push((pipe, reference, single_ms));
            alone = after;
        }
        let med = |f: &dyn Fn(&(String, f64, f64)) -> f64| median(samples.iter().map(f).collect());
        let ratios: Vec<f64> = samples
            .iter()
            .map(|(p, reference, _)| num(p, "processed_per_s") / reference * 100.0)
            .collect();
        let bound = 40.0 + 2.5 * med(&|s| s.2);
        let p99 = med(&|s| num(&s.0, "latency_ms_p99"));
        let rss = samples
            .iter()
            .map(|s| num(&s.0, "peak_rss_mb"))
            .fold(0.0, f64::max);
        if n == "1" {
            rss1 = rss;
        }
        let k: f64 = n.parse().unwrap_or(1.0);
        rows.push(format!(
            "| {n} | {:.2} | {:.2} | {:.0}% ({:.0}–{:.0}%) | {:.0} | {p99:.0} ({bound:.0}){} | {:.0} | {:.2} | {:.0} | {rss:.0} | {} |\n",
            med(&|s| num(&s.0, "processed_per_s")),
            med(&|s| s.1),
            median(ratios.clone()),
            ratios.iter().copied().fold(f64::MAX, f64::min),
            ratios.iter().copied().fold(0.0, f64::max),
            med(&|s| num(&s.0, "latency_ms_p50")),
            if p99 <= bound { " ✔" } else { " ✘" },
            med(&|s| num(&s.0, "latency_ms_max")),
            med(&|s| num(&s.0, "fair_share")),
            med(&|s| num(&s.0, "cpu_percent")),
            if k > 1.0 {
                format!("{:.1}", (rss - rss1) / (k - 1.0))
            } else {
                "-".into()
            },
        ));
    }
    let mut md = format!(
        "\nend to end, 720p25 pedestrians over RTSP on loopback, CPU defaults: medians of \
         {rounds} rounds of {window} s, each run beside the detector alone just before and after \
         it (ratio: median, and its range); latency bound 40 ms + 2.5 x the detector's time per \
         image:\n\n\
         | streams | processed/s | detector alone/s | ratio | p50 ms | p99 ms (bound) | max ms | fair share | CPU % | peak RSS MB | per added stream MB |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n"
    );
    for r in rows {
        md.push_str(&r);
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
        Some(n) if mean_ns > 0.0 => format!("{:.3} M items/s", n / mean_ns * 1e3),
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
