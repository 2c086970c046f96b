//! `cargo xtask bench cluster` and `cargo xtask soak --cluster`: the fleet at 30 and 300
//! cameras, and for minutes under random worker kills. Both run the example
//! `crates/rtsp-worker-cli/examples/fleet_scale.rs` (a real NATS server, worker processes of the debug
//! binary, replayed clips and the stand-in detector) and render their JSON into docs/BENCHMARKS.md and
//! docs/RELIABILITY.md between markers.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::bench::Meta;
use crate::{cargo, project_root, run};

fn fleet_test(name: &str, envs: &[(&str, String)]) -> Result<()> {
    let assets = crate::setup::setup()?;
    // The workers are processes of the debug binary, as `cargo test` builds it, unless
    // RTSP_WORKER_BIN names another (an older build, for a before/after comparison).
    let bin = match std::env::var_os("RTSP_WORKER_BIN") {
        Some(bin) => std::path::PathBuf::from(bin),
        None => {
            let build = [
                "build",
                "--locked",
                "-p",
                "rtsp-worker-cli",
                "--bin",
                "rtsp-worker",
            ];
            run(cargo().args(build))?;
            std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| project_root().join("target"), std::path::PathBuf::from)
                .join("debug/rtsp-worker")
        }
    };
    let which = name.trim_start_matches("fleet_");
    let mut cmd = cargo();
    cmd.envs(assets.env())
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RTSP_WORKER_BIN", &bin)
        .args([
            "run",
            "--locked",
            "-p",
            "rtsp-worker-cli",
            "--example",
            "fleet_scale",
            "--",
        ])
        .arg(which);
    run(&mut cmd)
}

pub(crate) fn replace_between(doc: &Path, marker: &str, md: &str) -> Result<()> {
    let text = fs::read_to_string(doc).with_context(|| format!("reading {}", doc.display()))?;
    let (begin, end) = (
        format!("<!-- {marker}:begin -->"),
        format!("<!-- {marker}:end -->"),
    );
    match (text.find(&begin), text.find(&end)) {
        (Some(b), Some(e)) => {
            fs::write(doc, format!("{}{begin}\n{md}\n{}", &text[..b], &text[e..]))?;
            Ok(())
        }
        _ => bail!("{} has no {begin} … {end} markers", doc.display()),
    }
}

fn num(v: &Value, path: &[&str]) -> f64 {
    path.iter()
        .fold(v, |v, k| &v[*k])
        .as_f64()
        .unwrap_or(f64::NAN)
}

/// `cargo xtask bench cluster`.
pub(crate) fn bench() -> Result<()> {
    let out = project_root().join("target/bench");
    fs::create_dir_all(&out)?;
    let mut rows = Vec::new();
    for n in [30, 300] {
        let file = out.join(format!("fleet-{n}.json"));
        let _ = fs::remove_file(&file);
        fleet_test(
            "fleet_bench",
            &[
                ("RTSP_WORKER_FLEET_CAMERAS", n.to_string()),
                ("RTSP_WORKER_FLEET_OUT", file.display().to_string()),
            ],
        )?;
        let v: Value = serde_json::from_str(&fs::read_to_string(&file)?)?;
        let per_worker: Vec<String> = v["published_per_s_per_worker"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(w, r)| format!("{w} {:.0}", r.as_f64().unwrap_or(0.0)))
                    .collect()
            })
            .unwrap_or_default();
        rows.push(format!(
            "| {n} × {} fps | {} | {:.0} | {:.0} | {:.1} / {:.1} | {:.1} / {:.1} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {} |",
            v["fps_per_camera"],
            per_worker.join(", "),
            num(&v, &["read_per_s"]),
            num(&v, &["replay_read_per_s"]),
            num(&v, &["latency_ms", "local_p50"]),
            num(&v, &["latency_ms", "local_p99"]),
            num(&v, &["latency_ms", "added_p50"]),
            num(&v, &["latency_ms", "added_p99"]),
            num(&v, &["takeover_ms", "sigkill"]),
            num(&v, &["takeover_ms", "sigstop"]),
            num(&v, &["takeover_ms", "sigterm"]),
            num(&v, &["join_ms"]),
            num(&v, &["settle_s"]) * 1e3,
            v["audit"]["violations"],
        ));
    }
    let meta = Meta::now(&["cluster".to_owned()]);
    let md = format!(
        "{} · commit `{}` · {} · {}\n\n```sh\n{}\n```\n\n\
         Three workers (processes of the debug binary, as `cargo test` builds it) on one NATS \
         server on loopback, TTL 3 s; cameras are a 320x180 clip replayed from disk \
         (`file://` in the registry, which only the benchmarks' hidden \
         `--bench-registry-file-urls` lets through), the detector is the **fixed-cost stand-in** (`--stand-in-detector 2`: \
         2 ms per batch, one box per frame), so these figures are the fleet's, not \
         detection's. The same 300 results/s are offered at both camera counts.\n\n\
         | cameras | published/s per worker | read/s, live reader | read/s, replay from start | \
         local output latency p50 / p99 (ms) | added by the cluster path p50 / p99 (ms) | \
         SIGKILL takeover (ms) | SIGSTOP takeover (ms) | SIGTERM handover (ms) | join (ms) | \
         start-up spread (ms) | audit violations |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n{}\n\n\
         Latency: \"local\" is capture to the worker's own stdout line; \"added\" is that \
         line to the same result's line at a `rtsp-worker results` reader (publish, JetStream \
         store, pull, print). Takeover: from the signal to the last of the victim's cameras \
         claimed by another worker, as an observer watching the leases bucket saw it. Join: \
         from a new worker's process start (model-free here) to the fleet settled with it. \
         Figures in `target/bench/fleet-*.json`.\n",
        meta.date,
        meta.commit,
        meta.machine,
        meta.toolchain,
        meta.command,
        rows.join("\n")
    );
    replace_between(&project_root().join("docs/BENCHMARKS.md"), "fleet", &md)?;
    println!("{md}");
    Ok(())
}

/// `cargo xtask soak --cluster [--secs N]`.
pub(crate) fn soak(args: &[String]) -> Result<()> {
    let secs: f64 = args
        .iter()
        .position(|a| a == "--secs")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse().context("--secs takes seconds"))
        .transpose()?
        .unwrap_or(600.0);
    let file = project_root().join("target/tmp/fleet-soak.json");
    fs::create_dir_all(file.parent().expect("has a parent"))?;
    let _ = fs::remove_file(&file);
    fleet_test(
        "fleet_soak",
        &[
            ("RTSP_WORKER_FLEET_CAMERAS", "100".to_owned()),
            ("RTSP_WORKER_FLEET_SOAK_SECS", secs.to_string()),
            ("RTSP_WORKER_FLEET_OUT", file.display().to_string()),
        ],
    )?;
    let v: Value = serde_json::from_str(&fs::read_to_string(&file)?)?;
    let faults = v["faults"].as_array().cloned().unwrap_or_default();
    let mut by_kind: Vec<String> = Vec::new();
    for kind in ["KILL", "STOP", "TERM"] {
        let t: Vec<f64> = faults
            .iter()
            .filter(|f| f["signal"] == kind)
            .filter_map(|f| f["takeover_ms"].as_f64())
            .collect();
        if !t.is_empty() {
            by_kind.push(format!(
                "SIG{kind} ×{}: takeover max {:.0} ms",
                t.len(),
                t.iter().copied().fold(0.0, f64::max)
            ));
        }
    }
    let mut meta = Meta::now(&[]);
    meta.command = format!("cargo xtask soak --cluster --secs {secs:.0}");
    let md = format!(
        "{} · commit `{}` · {} · {}\n\n```sh\n{}\n```\n\n\
         {} cameras (replayed clips at 2 fps, the stand-in detector), three workers, for {:.0} s: \
         a random worker got SIGKILL, SIGSTOP (5 s) or SIGTERM every 10–30 s and a new worker \
         replaced a dead one. {}. Every fault settled (every camera with its rendezvous owner). \
         {} results, {}–{} per camera; {} lease writes and every result audited: {} violations, \
         {} track ids outside their lease's namespace.\n",
        meta.date,
        meta.commit,
        meta.machine,
        meta.toolchain,
        meta.command,
        v["cameras"],
        num(&v, &["seconds"]),
        by_kind.join("; "),
        v["results"],
        v["results_per_camera_min"],
        v["results_per_camera_max"],
        v["audit"]["lease_writes"],
        v["audit"]["violations"],
        v["foreign_track_ids"],
    );
    replace_between(
        &project_root().join("docs/RELIABILITY.md"),
        "fleet-soak",
        &md,
    )?;
    println!("{md}");
    Ok(())
}
