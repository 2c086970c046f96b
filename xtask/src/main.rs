//! Project automation, run as `cargo xtask <command>` (see `cargo xtask help`).
//!
//! Few dependencies, plain `std::process::Command`; machine-readable results go to `target/`.

// A command-line tool: it talks to the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod clips;
mod cmd;
mod fleet;
mod gpu;
mod live;
mod onnx;
mod peer;
mod plot;
mod python;
mod setup;
mod soak;
#[cfg(test)]
mod tidy;
mod tracking;

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

pub(crate) use crate::cmd::{cargo, example, output, project_root, run};

const HELP: &str = "\
cargo xtask <command>

  setup   install and cache what the project needs (Debian packages, ONNX Runtime,
          the default model, test clips) under $RTSP_WORKER_CACHE (~/.cache/rtsp-worker),
          and build the Python package's wheel for this machine's python3 (target/wheels)
  test    setup, then everything CI checks: fmt, clippy, the whole test suite (with the
          reliability suite CI-sized), the Python package under pytest, the tracking
          guard, docs, `bench --quick`, `bench python --quick`
  bench [--quick] [e2e]
          run the benchmarks: the crates' criterion benches, the batcher beside the seed's
          ModelController, N cameras through the facade beside the detector alone and the
          naive way, the latency-throughput curve; figures in target/bench/bench.json and
          summary.md, and (full run) docs/BENCHMARKS.md. `--quick`: CI-sized (~3 min);
          `e2e`: only the end-to-end part; `e2e --host`: the host's CPU per frame and
          added latency at 100, 300 and 1000 replayed cameras with the decoder and detector
          stand-ins (target/bench/host.md)
  pytest  setup, then the Python package's wheel installed in its venv under pytest
          (crates/rtsp-worker-py/tests; part of `test`)
  bench python [--quick]
          results/s delivered to Python consumers (async iterator, callback, queue) at 4
          streams beside the Rust consumer in the same run, CPU per result;
          docs/BENCHMARKS.md (full run)
  bench script [--counts 1,2,4,8,16] [--window S]
          our pipeline beside a Python script around OpenCV, onnxruntime and ByteTrack
          (benches/opencv_script.py), square and 640x384 model, the detector alone in the
          same sitting; a Markdown table in target/bench/script.md
  bench live
          what live views cost: the release demo with 0, 1 and 20 viewers of one stream
          (worker CPU, results/s, JPEG encodes per result); docs/BENCHMARKS.md
  bench cluster
          the NATS fleet at 30 and 300 cameras (replayed clips, stand-in detector):
          publish/read rates, added latency, takeover times; docs/BENCHMARKS.md
  soak [--ci-sized | --render-ci]
          the reliability suite at length (overload for 10 min, 10000 add/remove cycles,
          faults 3 rounds, 1000 inputs per bad-input property), or CI-sized, or only render
          what the last `cargo xtask test` left; figures in docs/RELIABILITY.md
  gpu-bundle DIR
          build the GPU proof into DIR (under 64 MiB): gpu-decode's gpu_check in release,
          the 1080p clips with FFmpeg's per-frame hashes, and run.sh for the GPU machine
  soak --cluster [--secs N]
          100 cameras on a NATS fleet with random SIGKILL/SIGSTOP/SIGTERM for N s
          (default 600), every lease and result audited; docs/RELIABILITY.md
  demo [ARGS]
          `rtsp-worker demo`: sample streams served over RTSP on loopback through the
          whole pipeline, tracks printed (ARGS go to it: --duration, --json, …)
  paths   print the cached assets' paths as shell variables
  track-eval [--quick] [--no-peers] [--family F]... [--level easy|medium|hard]...
             [--stride 1|3|5|12|25]... | --measure-scores
          our trackers (as the facade shows them) beside Python's (supervision, trackers,
          norfair) on MOT15 ground truth with detections of six noise families, scored by
          py-motmetrics and TrackEval's HOTA (docs/TRACKING.md); --measure-scores measures
          the shipped model's person scores into benches/tracking/person_scores.json
  track iou|sort|bytetrack IN OUT
          run a tracker over MOTChallenge detections (frame,id,x,y,w,h,conf,class,...)
  onnx-dynamic-batch IN OUT
          rewrite an ONNX detector with a fixed batch into a dynamic-batch one
";

/// Failures end with one line saying what failed and why, last, where CI's tail shows it
/// (returning the error from `main` would print anyhow's backtrace after it).
fn main() -> std::process::ExitCode {
    match dispatch() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nxtask failed: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn dispatch() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((c, rest)) => (c.as_str(), rest),
        None => ("help", &[][..]),
    };
    match cmd {
        "setup" => setup::setup().and_then(|a| python::wheel(&a)).map(|_| ()),
        "test" => test(),
        "pytest" => python::pytest(&setup::setup()?),
        "bench" if rest.iter().any(|a| a == "cluster") => fleet::bench(),
        "bench" if rest.iter().any(|a| a == "live") => live::bench(),
        "bench" if rest.iter().any(|a| a == "python") => python::bench(rest),
        "bench" => match rest {
            [first, more @ ..] if first == "script" => peer::main(more),
            _ => bench::run_benches(rest),
        },
        "demo" => demo(),
        "paths" => {
            let assets = setup::Assets::locate()?;
            for (name, value) in assets.env() {
                println!("{name}={}", value.display());
            }
            Ok(())
        }
        "track-eval" => tracking::main(rest),
        "soak" => soak::main(rest),
        "gpu-bundle" => gpu::bundle(rest),
        "track" => match rest {
            [kind, input, output] => track(kind, Path::new(input), Path::new(output)),
            _ => bail!("usage: cargo xtask track iou|sort|bytetrack IN.txt OUT.txt"),
        },
        "onnx-dynamic-batch" => match rest {
            [input, output] => onnx::rewrite_file(Path::new(input), Path::new(output)),
            _ => bail!("usage: cargo xtask onnx-dynamic-batch IN.onnx OUT.onnx"),
        },
        "onnx-rectangular" => match rest {
            [input, output, size] => {
                onnx::rectangular_file(Path::new(input), Path::new(output), size)
            }
            _ => bail!("usage: cargo xtask onnx-rectangular IN.onnx OUT.onnx WIDTHxHEIGHT"),
        },
        "help" | "-h" | "--help" => {
            print!("{HELP}");
            Ok(())
        }
        other => bail!("unknown command `{other}`\n\n{HELP}"),
    }
}

/// Features that need NVIDIA software at run time (loaded then, never linked).
const GPU_FEATURES: &str = "gpu-decode/nvdec,gpu-decode/cuda,infer-trt/tensorrt,\
     rtsp-worker/nvdec,rtsp-worker/tensorrt,rtsp-worker-cli/nvdec,rtsp-worker-cli/tensorrt";

/// The README's second command, and all that `.ci/run` does.
fn test() -> Result<()> {
    let assets = setup::setup()?;
    let cargo = || {
        let mut c = cargo();
        c.envs(assets.env());
        c
    };
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The GPU features compile (and lint) here although nothing can run them.
    run(cargo()
        .args(["clippy", "--workspace", "--all-targets", "--locked"])
        .args(["--features", GPU_FEATURES, "--", "-D", "warnings"]))?;
    run(cargo().args(["test", "--workspace", "--locked"]))?;
    // The Python package: its wheel, installed in a venv, under pytest.
    python::pytest(&assets)?;
    // Tracking accuracy: py-motmetrics (self-tested first) on one level and stride, ours
    // only, with a floor a few points under the measured figures (docs/TRACKING.md).
    tracking::regression_guard(&assets.cache)?;
    // The API docs build without broken links.
    run(cargo().env("RUSTDOCFLAGS", "-D warnings").args([
        "doc",
        "--workspace",
        "--no-deps",
        "--locked",
    ]))?;
    // The GPU proof's bundle builds, fits, and says "skipped: no GPU" here.
    let bundle = project_root().join("target/tmp/gpu-bundle");
    gpu::bundle(&[bundle.display().to_string()])?;
    let said = output(
        Command::new("bash")
            .arg(bundle.join("run.sh"))
            .env("OUT", bundle.join("out")),
    )?;
    if !said.contains("skipped: no GPU") {
        anyhow::bail!("run.sh without a GPU did not say \"skipped: no GPU\":\n{said}");
    }
    // GPU tests compile the CUDA kernel with NVRTC, run NVDEC's decode loop on its stand-in,
    // and report what they had to skip.
    run(cargo()
        .args([
            "test",
            "-p",
            "gpu-decode",
            "--locked",
            "--features",
            "nvdec,cuda",
        ])
        .args(["--test", "cuda", "--test", "nvdec", "--", "--show-output"]))?;
    run(cargo()
        .args([
            "test",
            "-p",
            "infer-trt",
            "--locked",
            "--features",
            "tensorrt",
        ])
        .args(["--test", "gpu", "--", "--show-output"]))?;
    run(cargo()
        .args([
            "test",
            "-p",
            "rtsp-worker",
            "--locked",
            "--features",
            "nvdec,tensorrt",
        ])
        .args(["--test", "gpu", "--", "--show-output"]))?;
    // The benchmarks, CI-sized, so that they never rot (figures in target/bench/).
    bench::run_benches(&["--quick".to_owned()])?;
    python::bench(&["--quick".to_owned()])?;
    Ok(())
}

fn demo() -> Result<()> {
    let assets = setup::setup()?;
    run(cargo()
        .envs(assets.env())
        .args([
            "run",
            "--quiet",
            "--release",
            "-p",
            "rtsp-worker-cli",
            "--",
            "demo",
        ])
        .args(std::env::args().skip(2)))
}

/// MOTChallenge detections through a tracker, tracks out in the same format.
fn track(kind: &str, input: &Path, output: &Path) -> Result<()> {
    let kind = match kind {
        "iou" => tracker::TrackerKind::Iou,
        "sort" => tracker::TrackerKind::Sort,
        "bytetrack" => tracker::TrackerKind::ByteTrack,
        other => bail!("unknown tracker {other:?} (iou, sort or bytetrack)"),
    };
    let text =
        std::fs::read_to_string(input).with_context(|| format!("reading {}", input.display()))?;
    let frames = tracker::mot::read_detections(&text)?;
    let mut t = tracker::TrackerConfig {
        kind,
        ..tracker::TrackerConfig::default()
    }
    .build();
    let mut out = String::new();
    let (Some(&first), Some(&last)) = (frames.keys().next(), frames.keys().last()) else {
        bail!("{}: no detections", input.display());
    };
    let mut tracks = 0;
    for frame in first..=last {
        let dets = frames.get(&frame).map_or(&[][..], Vec::as_slice);
        let u = t.update(frame, dets)?;
        let confirmed: Vec<_> = u
            .tracks
            .into_iter()
            .filter(|t| t.state == tracker::TrackState::Confirmed)
            .collect();
        tracks = tracks.max(confirmed.iter().map(|t| t.track_id).max().unwrap_or(0));
        tracker::mot::write_tracks(frame, &confirmed, &mut out);
    }
    std::fs::write(output, out).with_context(|| format!("writing {}", output.display()))?;
    eprintln!(
        "track: frames {first}..={last}, highest track id {tracks}, written to {}",
        output.display()
    );
    Ok(())
}
