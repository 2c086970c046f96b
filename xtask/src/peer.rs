//! `cargo xtask bench script [--counts 1,2,4,8,16] [--window S]`: our pipeline beside the
//! Python script people write around OpenCV, onnxruntime and ByteTrack
//! (`benches/opencv_script.py`), in one sitting: at each camera count and for each model input
//! (the square default and `--wide-input`'s 640×384), the detector alone, our pipeline (the
//! e2e example, defaults otherwise) and the script (the e2e example's `--opencv-script`), one
//! after the other on the same loopback server, clip and model file. Prints a Markdown table (and writes it to
//! `target/bench/script.md`) for docs/BENCHMARKS.md.

use std::fs;

use anyhow::{Context, Result};

use crate::bench::field_num;
use crate::cmd::example;
use crate::{project_root, run};

/// The script's packages, pinned (their own dependencies come with them: OpenCV, NumPy).
const PACKAGES: &[&str] = &["onnxruntime==1.32.0", "supervision==0.29.1"];

pub(crate) fn main(args: &[String]) -> Result<()> {
    let mut counts = vec![1usize, 2, 4, 8, 16];
    let mut window = "20".to_owned();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--counts" => {
                counts = it
                    .next()
                    .context("--counts 1,2,4")?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?;
            }
            "--window" => window = it.next().context("--window S")?.clone(),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let assets = crate::setup::setup()?;
    let python = crate::setup::venv(&assets.cache.join("bench"), "opencv-script", PACKAGES)?;
    let python_arg = python.to_string_lossy().into_owned();
    let out = project_root().join("target/bench");
    fs::create_dir_all(&out)?;
    let json = |name: &str| out.join(format!("script_{name}.json"));
    let ours = |name: &str, extra: &[&str]| -> Result<String> {
        let file = json(name);
        run(example("rtsp-worker", "e2e")
            .envs(assets.env())
            .args(extra)
            .args(["--warmup", "10", "--window", &window, "--json"])
            .arg(&file))?;
        Ok(fs::read_to_string(&file)?)
    };
    let mut rows = String::new();
    for (model, flag) in [("640x640", None), ("640x384", Some("--wide-input"))] {
        let flags: Vec<&str> = flag.into_iter().collect();
        let alone = ours(
            &format!("alone_{model}"),
            &[&["--detector-alone"], &flags[..]].concat(),
        )?;
        let reference = field_num(&alone, "images_per_s").unwrap_or(0.0);
        let single = field_num(&alone, "ms_p50").unwrap_or(0.0);
        for &n in &counts {
            let ns = n.to_string();
            let pipe = ours(
                &format!("ours_{model}_{n}"),
                &[&["--streams", &ns][..], &flags[..]].concat(),
            )?;
            let script = ours(
                &format!("peer_{model}_{n}"),
                &[
                    &["--opencv-script", &python_arg, "--streams", &ns][..],
                    &flags[..],
                ]
                .concat(),
            )?;
            let num = |j: &str, k: &str| field_num(j, k).unwrap_or(0.0);
            let (o, s) = (
                num(&pipe, "processed_per_s"),
                num(&script, "processed_per_s"),
            );
            rows.push_str(&format!(
                "| {model} | {n} | {reference:.1} | {o:.2} ({:.0}%) | {s:.2} | {:.2}× | {:.2} / {:.2} | {:.0} / {:.0} | {:.0} | {:.0} / {:.0} |\n",
                o / reference.max(1e-9) * 100.0,
                o / s.max(1e-9),
                num(&pipe, "fair_share"),
                num(&script, "fair_share"),
                num(&pipe, "latency_ms_p99"),
                num(&script, "latency_ms_p99"),
                1000.0 / 25.0 + 2.5 * single,
                num(&pipe, "peak_rss_mb"),
                num(&script, "peak_rss_mb"),
            ));
        }
    }
    let md = format!(
        "| model input | cameras | detector alone, images/s | ours, frames/s (of alone) | script, frames/s | ours / script | fair share, ours / script | p99 ms, ours / script | p99 goal ms | peak RSS MB, ours / script |\n\
         |---|---|---|---|---|---|---|---|---|---|\n{rows}"
    );
    fs::write(out.join("script.md"), &md)?;
    print!("{md}");
    Ok(())
}
