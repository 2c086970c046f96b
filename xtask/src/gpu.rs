//! `cargo xtask gpu-bundle DIR`: everything a GPU machine needs to prove the GPU path in one
//! command, built here: the `gpu_check` example of gpu-decode in release (NVDEC and the CUDA
//! kernel; no FFmpeg linked, so no shared libraries travel), stripped; the 1080p clips with a
//! hash of each of their first 250 pictures as FFmpeg decodes them (the reference NVDEC must
//! match); and `run.sh`. Fails if the folder would exceed the 64 MiB a command may carry.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::{cargo, output, project_root, run};

const LIMIT: u64 = 64 * 1024 * 1024;
const CLIPS: [&str; 2] = ["h264_1080p25.h264", "h265_1080p25.h265"];
const FRAMES: usize = 250;

/// The script the GPU machine runs (`bash run.sh`; results and logs go to `$OUT`).
const RUN_SH: &str = r#"#!/usr/bin/env bash
# The GPU proof: probes, NVDEC vs FFmpeg frame by frame, the CUDA letterbox kernel vs its CPU
# twin, NVDEC throughput with 1/8/32/64 decoders. Writes $OUT/summary.json and
# $OUT/gpu_check.log; prints "skipped: no GPU (...)" and exits 0 where there is none.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-$here/out}"
mkdir -p "$OUT"
# NVRTC: the binary asks for libnvrtc.so first (then libnvrtc.so.12). Where the machine has
# NVIDIA's wheel (nvidia-cuda-nvrtc, CUDA 12 or 13) in a Python environment, point an
# unversioned name at it. Searched: $RTSP_WORKER_NVRTC_DIR, then every site-packages folder
# of python3 on PATH.
dirs="${RTSP_WORKER_NVRTC_DIR:-}"
if command -v python3 >/dev/null 2>&1; then
  dirs="$dirs $(python3 -c 'import site, sys; print(" ".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null)"
fi
nvrtc=""
for d in $dirs; do
  [ -d "$d" ] || continue
  found="$(find "$d" -name 'libnvrtc.so*' ! -name '*builtins*' 2>/dev/null | sort -V | tail -1)"
  if [ -n "$found" ]; then nvrtc="$found"; break; fi
done
if [ -n "$nvrtc" ]; then
  shim="$(mktemp -d)"
  ln -s "$nvrtc" "$shim/libnvrtc.so"
  export LD_LIBRARY_PATH="$shim:$(dirname "$nvrtc"):${LD_LIBRARY_PATH:-}"
  echo "probe: NVRTC from $nvrtc"
else
  echo "probe: no NVRTC wheel found in $dirs (the CUDA kernel check needs one)"
fi
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/probe: GPU /'
timeout 280 "$here/gpu_check" --clips "$here/clips" --out "$OUT" 2>&1 | tee "$OUT/gpu_check.log"
exit "${PIPESTATUS[0]}"
"#;

/// FNV-1a over bytes, as `gpu_check` hashes the visible NV12 picture.
fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The first frames of `clip` as FFmpeg decodes them to NV12, one hash per frame.
fn reference_hashes(clip: &Path) -> Result<String> {
    let size = output(
        Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0"])
            .args(["-show_entries", "stream=width,height", "-of", "csv=p=0"])
            .arg(clip),
    )?;
    let mut wh = size.trim().split(',').map(|v| v.trim().parse::<usize>());
    let (Some(Ok(w)), Some(Ok(h))) = (wh.next(), wh.next()) else {
        bail!("ffprobe could not size {}: {size:?}", clip.display());
    };
    let mut child = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(clip)
        .args([
            "-frames:v",
            &FRAMES.to_string(),
            "-f",
            "rawvideo",
            "-pix_fmt",
            "nv12",
            "-",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .context("ffmpeg (run `cargo xtask setup`)")?;
    let mut stdout = child.stdout.take().context("stdout")?;
    let frame = w * h + w * h.div_ceil(2);
    let mut buf = vec![0u8; frame];
    let mut out = String::new();
    while stdout.read_exact(&mut buf).is_ok() {
        out.push_str(&format!("{:016x}\n", fnv(&buf)));
    }
    if !child.wait()?.success() {
        bail!("ffmpeg failed on {}", clip.display());
    }
    Ok(out)
}

fn size_of(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for e in fs::read_dir(dir)? {
        let e = e?;
        let meta = e.metadata()?;
        total += if meta.is_dir() {
            size_of(&e.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

pub(crate) fn bundle(args: &[String]) -> Result<()> {
    let Some(dir) = args.first() else {
        bail!("usage: cargo xtask gpu-bundle DIR");
    };
    let dir = Path::new(dir);
    let assets = crate::setup::setup()?;
    run(cargo().envs(assets.env()).args([
        "build",
        "--release",
        "--locked",
        "-p",
        "gpu-decode",
        "--example",
        "gpu_check",
        "--no-default-features",
        "--features",
        "nvdec,cuda",
    ]))?;
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir.join("clips"))?;
    let binary = dir.join("gpu_check");
    fs::copy(
        project_root().join("target/release/examples/gpu_check"),
        &binary,
    )?;
    run(Command::new("strip").arg(&binary))?;
    for clip in CLIPS {
        let from = assets.clips.join(clip);
        fs::copy(&from, dir.join("clips").join(clip))
            .with_context(|| format!("copying {}", from.display()))?;
        fs::write(
            dir.join("clips").join(format!("{clip}.fnv")),
            reference_hashes(&from)?,
        )?;
    }
    let script = dir.join("run.sh");
    fs::write(&script, RUN_SH)?;
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755))?;
    let total = size_of(dir)?;
    if total > LIMIT {
        bail!(
            "the bundle in {} is {:.1} MiB, over the 64 MiB a GPU command may carry",
            dir.display(),
            total as f64 / 1024.0 / 1024.0
        );
    }
    eprintln!(
        "gpu-bundle: {} ({:.1} MiB of 64): on the GPU machine run `bash run.sh` (results in $OUT)",
        dir.display(),
        total as f64 / 1024.0 / 1024.0
    );
    Ok(())
}
