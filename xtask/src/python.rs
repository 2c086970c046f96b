//! The Python package (`crates/rtsp-worker-py`): its wheel for the machine's Python (maturin, from a
//! venv under the cache), its pytest suite, and `cargo xtask bench python` (results delivered
//! to a Python consumer beside the Rust consumer, in the same run).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::bench::{Meta, field_num};
use crate::setup::Assets;
use crate::{example, project_root, run};

/// The build-and-test venv: maturin, pytest, NumPy (for `TrackingResult.frame()`), pinned.
const PACKAGES: &[&str] = &["maturin==1.9.6", "pytest==9.2.0", "numpy==2.4.6"];

/// The venv's python (made once, offline after the first `pip download`).
fn python(cache: &Path) -> Result<PathBuf> {
    crate::setup::venv(&cache.join("pypackage"), "build", PACKAGES)
}

/// Builds the wheel (release, stripped) for the venv's Python into `target/wheels`; returns
/// its path. maturin links the module against the system's FFmpeg (which `setup` installs),
/// so the wheel is for this machine: no manylinux repair.
pub(crate) fn wheel(assets: &Assets) -> Result<PathBuf> {
    let py = python(&assets.cache)?;
    let root = project_root();
    let out = root.join("target/wheels");
    let _ = fs::remove_dir_all(&out);
    run(Command::new(py.with_file_name("maturin"))
        .args([
            "build",
            "--release",
            "--strip",
            "--auditwheel",
            "skip",
            "-m",
        ])
        .arg(root.join("crates/rtsp-worker-py/Cargo.toml"))
        .arg("-i")
        .arg(&py)
        .arg("--out")
        .arg(&out))?;
    let wheel = fs::read_dir(&out)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .context("maturin built no wheel")?;
    eprintln!("python: built {}", wheel.display());
    Ok(wheel)
}

/// Builds the wheel and installs it into the venv; returns the venv's python.
fn installed(assets: &Assets) -> Result<PathBuf> {
    let wheel = wheel(assets)?;
    let py = python(&assets.cache)?;
    run(Command::new(&py)
        .args([
            "-m",
            "pip",
            "--disable-pip-version-check",
            "--quiet",
            "install",
        ])
        .args(["--no-index", "--no-deps", "--force-reinstall"])
        .arg(&wheel))?;
    Ok(py)
}

/// `cargo xtask test`'s Python part: the wheel, installed, under pytest
/// (`crates/rtsp-worker-py/tests`: the seed's four examples, slow and failing callbacks, errors,
/// frames, signals).
pub(crate) fn pytest(assets: &Assets) -> Result<()> {
    let py = installed(assets)?;
    run(Command::new(py)
        .envs(assets.env())
        .current_dir(project_root().join("crates/rtsp-worker-py/tests"))
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-ra", "."]))
}

/// `cargo xtask bench python [--quick]`: results per second delivered at 4 streams to the
/// Rust consumer (the e2e example) and to Python consumers (async iterator, plain callback,
/// result queue), in rounds that alternate them, with the real model (the detector bounds the
/// rate) and with a 2 ms stand-in for it (the cameras bound the rate, and what delivering a
/// result to Python costs shows); CPU per result. A full run writes docs/BENCHMARKS.md
/// between `<!-- python:begin -->` and `<!-- python:end -->`.
pub(crate) fn bench(args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let assets = crate::setup::setup()?;
    let py = installed(&assets)?;
    let out = project_root().join("target/bench");
    fs::create_dir_all(&out)?;
    let (warmup, window, rounds) = if quick { (3, 6, 1) } else { (6, 20, 3) };
    let (warmup, window) = (warmup.to_string(), window.to_string());
    let mut tables = String::new();
    for (scenario, stand_in) in [("the model", None), ("a 2 ms stand-in detector", Some("2"))] {
        let modes = ["rust", "iterator", "callback", "queue"];
        let mut samples: Vec<Vec<String>> = vec![Vec::new(); modes.len()];
        for round in 0..rounds {
            for (i, mode) in modes.iter().enumerate() {
                let tag = if stand_in.is_some() {
                    "standin"
                } else {
                    "model"
                };
                let file = out.join(format!("python_{tag}_{mode}_{round}.json"));
                let mut cmd = if *mode == "rust" {
                    let mut c = example("rtsp-worker", "e2e");
                    c.args(["--batch-size", "16", "--force-timeout", "50"]);
                    c
                } else {
                    let mut c = Command::new(&py);
                    c.arg(project_root().join("crates/rtsp-worker-py/bench/consumer.py"))
                        .args(["--mode", mode]);
                    c
                };
                if let Some(ms) = stand_in {
                    cmd.args(["--stand-in", ms]);
                }
                run(cmd
                    .envs(assets.env())
                    .args(["--streams", "4", "--warmup", &warmup, "--window", &window])
                    .arg("--json")
                    .arg(&file))?;
                samples[i].push(fs::read_to_string(&file)?);
            }
        }
        tables.push_str(&table(scenario, &modes, &samples));
    }
    let meta = Meta::now(&["python".to_owned()]);
    let md = format!(
        "{} · commit `{}` · {} · {}\n\n```sh\n{}\n```\n\n\
         4 streams of the 720p25 pedestrian clip over loopback RTSP on the CPU, batch 16, force \
         timeout 50 ms; {warmup} s warm-up, {window} s window, {rounds} round(s), the four \
         consumers alternating within each round; medians, and the range over rounds of each \
         round's ratio to the Rust consumer of the same round. *Process CPU* is every thread \
         of the process over the window per result; *delivery CPU* is the CPU of handing results \
         to Python: what the engine's threads spend in it (bridge completions, callback \
         deliveries with the callback; measured per thread by the module, \
         `CLOCK_THREAD_CPUTIME_ID`) plus the event loop's thread (from /proc); *in the callback* is the Python code the plain callback \
         runs (`time.thread_time`).\n\n{tables}",
        meta.date, meta.commit, meta.machine, meta.toolchain, meta.command,
    );
    fs::write(out.join("python.md"), &md)?;
    if !quick {
        crate::fleet::replace_between(&project_root().join("docs/BENCHMARKS.md"), "python", &md)?;
    }
    print!("{md}");
    Ok(())
}

/// One scenario's table: a row per consumer, the Rust consumer first.
fn table(scenario: &str, modes: &[&str], samples: &[Vec<String>]) -> String {
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let num = |j: &str, k: &str| field_num(j, k).unwrap_or(f64::NAN);
    let cpu_ms = |j: &str| num(j, "cpu_percent") / 100.0 / num(j, "processed_per_s") * 1e3;
    let rust_rate: Vec<f64> = samples[0]
        .iter()
        .map(|j| num(j, "processed_per_s"))
        .collect();
    let mut rows = format!(
        "With {scenario}:\n\n\
         | consumer | results/s | of the Rust consumer's | p50 ms | p99 ms | process CPU ms \
         per result | delivery CPU µs per result | in the callback µs |\n\
         |---|---|---|---|---|---|---|---|\n"
    );
    for (i, mode) in modes.iter().enumerate() {
        let s = &samples[i];
        let ratios: Vec<f64> = s
            .iter()
            .zip(&rust_rate)
            .map(|(j, r)| num(j, "processed_per_s") / r * 100.0)
            .collect();
        let (lo, hi) = ratios
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &r| {
                (a.min(r), b.max(r))
            });
        let name = match *mode {
            "rust" => "Rust `next_event()` (`e2e`, the reference)",
            "iterator" => "Python `async for r in c.tracking_results()`",
            "callback" => "Python `on_tracking_result=` (plain callback)",
            _ => "Python `await c.result_queue.get()`",
        };
        let us = |key: &str| {
            if *mode == "rust" {
                "–".to_owned()
            } else {
                format!(
                    "{:.0}",
                    median(s.iter().map(|j| num(j, key) * 1e3).collect())
                )
            }
        };
        rows.push_str(&format!(
            "| {name} | {:.2} | {:.0}% ({lo:.0}–{hi:.0}%) | {:.0} | {:.0} | {:.1} | {} | {} |\n",
            median(s.iter().map(|j| num(j, "processed_per_s")).collect()),
            median(ratios.clone()),
            median(s.iter().map(|j| num(j, "latency_ms_p50")).collect()),
            median(s.iter().map(|j| num(j, "latency_ms_p99")).collect()),
            median(s.iter().map(|j| cpu_ms(j)).collect()),
            us("delivery_ms_per_result"),
            if *mode == "callback" {
                us("callback_python_ms_per_result")
            } else {
                "–".to_owned()
            },
        ));
    }
    rows.push('\n');
    rows
}
