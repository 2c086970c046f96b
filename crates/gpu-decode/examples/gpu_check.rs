//! The GPU proof in one binary, what `cargo xtask gpu-bundle` ships with its `run.sh`: it
//! probes the driver, libnvcuvid and NVRTC and says what it found; compares NVDEC's pictures
//! with FFmpeg's, frame by frame, through per-frame hashes made where FFmpeg is (the bundle
//! carries no FFmpeg); compares the CUDA letterbox kernel with its CPU twin; and measures NVDEC
//! decoding with 1, 8, 32 and 64 decoders at once on each clip. Without a GPU it prints
//! "skipped: no GPU (…)" and exits 0. Built with `--no-default-features --features nvdec,cuda`.
//!
//! `gpu_check --clips DIR --out DIR`: DIR holds the clips and `<clip>.fnv` (one hash per
//! frame); a JSON summary goes to `OUT/summary.json`.

#![allow(clippy::print_stdout)] // its output is the report

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

// The tests' support: the decoder configuration of a unit's stream.
#[path = "../tests/support/mod.rs"]
mod support;
use support::config;

use gpu_decode::cuda::CudaPreprocessor;
use gpu_decode::nvdec::{NvdecDecoder, NvdecOptions};
use gpu_decode::{Decoder, Frame, Packet, letterbox_nv12};
use rtsp_ingest::{AccessUnit, Event, ReplayOptions};

const CLIPS: [&str; 2] = ["h264_1080p25.h264", "h265_1080p25.h265"];
const FRAMES: usize = 250;

fn arg(name: &str) -> Option<PathBuf> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
}

/// FNV-1a over the visible NV12 bytes (rows cut to the width), as the bundle's hashes are.
fn hash_nv12(nv12: &[u8], width: usize, height: usize, stride: usize) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let rows = (0..height)
        .map(|r| r * stride)
        .chain((0..height.div_ceil(2)).map(|r| (height + r) * stride));
    for start in rows {
        for &b in &nv12[start..start + width] {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

fn units(path: &Path) -> Result<Vec<AccessUnit>, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let opts = ReplayOptions::default()
            .looping(false)
            .fps(Some(1e6))
            .queue_frames(100_000);
        let mut cam = rtsp_ingest::replay(path, opts).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        while let Some(e) = cam.next().await {
            if let Event::Frame(au) = e {
                out.push(au);
            }
        }
        Ok(out)
    })
}

/// Decodes up to `limit` frames, calling `look` with each.
fn decode(
    dec: &mut NvdecDecoder,
    aus: &[AccessUnit],
    limit: usize,
    mut look: impl FnMut(&NvdecDecoder, Frame) -> Result<(), String>,
) -> Result<usize, String> {
    let mut n = 0;
    for au in aus {
        let packet = Packet {
            data: &au.data,
            pts: au.frame_number as i64,
            keyframe: au.keyframe,
        };
        dec.decode(&packet).map_err(|e| e.to_string())?;
        while let Some(f) = dec.next_frame() {
            if n < limit {
                look(dec, f)?;
            }
            n += 1;
        }
        if n >= limit {
            return Ok(n.min(limit));
        }
    }
    dec.flush().map_err(|e| e.to_string())?;
    while let Some(f) = dec.next_frame() {
        if n < limit {
            look(dec, f)?;
        }
        n += 1;
    }
    Ok(n.min(limit))
}

fn main() -> ExitCode {
    let (Some(clips), Some(out)) = (arg("--clips"), arg("--out")) else {
        println!("usage: gpu_check --clips DIR --out DIR");
        return ExitCode::from(2);
    };
    let _ = std::fs::create_dir_all(&out);
    let mut json = String::from("{\n");
    let driver = gpu_decode::cuda::driver_available();
    let nvrtc = gpu_decode::cuda::nvrtc_available();
    let nvcuvid = gpu_decode::nvdec::load()
        .map(|_| ())
        .map_err(|e| e.to_string());
    println!(
        "probe: libcuda.so.1 {}",
        if driver { "found" } else { "not found" }
    );
    println!(
        "probe: libnvcuvid.so.1 {}",
        match &nvcuvid {
            Ok(()) => "found".to_owned(),
            Err(e) => format!("not usable: {e}"),
        }
    );
    println!("probe: NVRTC {}", if nvrtc { "found" } else { "not found" });
    // Compiling needs NVRTC only, no GPU: it proves the machine's NVRTC works for us.
    let compiled = gpu_decode::cuda::compile_kernels().map(|ptx| ptx.len());
    match &compiled {
        Ok(n) => println!("probe: NVRTC compiled the letterbox kernel ({n} bytes of PTX)"),
        Err(e) => println!("probe: NVRTC could not compile the kernel: {e}"),
    }
    let _ = writeln!(
        json,
        "  \"probe\": {{\"libcuda\": {driver}, \"libnvcuvid\": {}, \"nvrtc\": {nvrtc}, \"kernel_compiled\": {}}},",
        nvcuvid.is_ok(),
        compiled.is_ok()
    );
    let pre = match CudaPreprocessor::new(0) {
        Ok(p) => p,
        Err(e) => {
            println!("skipped: no GPU ({e})");
            let _ = writeln!(json, "  \"skipped\": {:?}\n}}", format!("no GPU ({e})"));
            let _ = std::fs::write(out.join("summary.json"), json);
            return ExitCode::SUCCESS;
        }
    };
    let mut failed = false;

    // NVDEC against FFmpeg's pictures, and the kernel against its CPU twin on the first one.
    let _ = writeln!(json, "  \"nvdec_vs_ffmpeg\": {{");
    for (i, clip) in CLIPS.iter().enumerate() {
        let refs: Vec<u64> = std::fs::read_to_string(clips.join(format!("{clip}.fnv")))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| u64::from_str_radix(l.trim(), 16).ok())
            .collect();
        let result = units(&clips.join(clip)).and_then(|aus| {
            let first = aus.first().ok_or("no access units")?;
            let mut dec = NvdecDecoder::new(&config(first), NvdecOptions::default())
                .map_err(|e| e.to_string())?;
            let (mut same, mut kernel_diff) = (0usize, None);
            let n = decode(&mut dec, &aus, FRAMES, |dec, f| {
                let host = dec.download(&f).map_err(|e| e.to_string())?;
                let got = hash_nv12(&host, f.width, f.height, f.stride);
                if refs.get(same.min(refs.len())).is_some_and(|r| *r == got) {
                    same += 1;
                }
                if kernel_diff.is_none() {
                    kernel_diff = Some(kernel_vs_cpu(&pre, &f, &host)?);
                }
                Ok(())
            })?;
            Ok((n, same, kernel_diff.unwrap_or(f32::NAN)))
        });
        let sep = if i + 1 < CLIPS.len() { "," } else { "" };
        match result {
            Ok((n, same, diff)) => {
                println!(
                    "{clip}: {same}/{n} frames identical to FFmpeg's; letterbox kernel vs CPU: max |diff| {diff:.5}"
                );
                // The same bound as the kernel's test on synthetic pictures.
                failed |= same != n || n == 0 || diff.is_nan() || diff >= 1e-4;
                let _ = writeln!(
                    json,
                    "    {clip:?}: {{\"frames\": {n}, \"identical\": {same}, \"letterbox_max_abs_diff\": {diff}}}{sep}"
                );
            }
            Err(e) => {
                println!("{clip}: FAILED: {e}");
                failed = true;
                let _ = writeln!(json, "    {clip:?}: {{\"error\": {e:?}}}{sep}");
            }
        }
    }
    let _ = writeln!(json, "  }},");

    // Throughput: N decoders at once on each 1080p clip. GPU memory is read with the
    // preprocessor's (the device's primary) context current on each thread.
    let ctx = pre.context().clone();
    let free = || {
        let _ = ctx.bind_to_thread();
        cudarc::driver::result::mem_get_info()
            .map(|m| m.0)
            .unwrap_or(0)
    };
    let _ = writeln!(json, "  \"nvdec_throughput\": [");
    let mut rows = Vec::new();
    for clip in CLIPS {
        let aus = units(&clips.join(clip)).unwrap_or_default();
        for n in [1usize, 8, 32, 64] {
            let free_before = free();
            let started = Instant::now();
            let frames: Vec<Result<(usize, usize), String>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..n)
                    .map(|_| {
                        s.spawn(|| {
                            let first = aus.first().ok_or("no access units")?;
                            let mut dec =
                                NvdecDecoder::new(&config(first), NvdecOptions::default())
                                    .map_err(|e| e.to_string())?;
                            let mut low = usize::MAX;
                            let n = decode(&mut dec, &aus, usize::MAX, |_, _| {
                                low = low.min(free());
                                Ok(())
                            })?;
                            Ok((n, low))
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or(Err("panicked".into())))
                    .collect()
            });
            let secs = started.elapsed().as_secs_f64();
            let ok: Vec<&(usize, usize)> = frames.iter().filter_map(|r| r.as_ref().ok()).collect();
            let total: usize = ok.iter().map(|r| r.0).sum();
            let low = ok.iter().map(|r| r.1).min().unwrap_or(free_before);
            let per_decoder_mb = free_before.saturating_sub(low) as f64 / n as f64 / 1e6;
            let errors = frames.len() - ok.len();
            println!(
                "NVDEC {clip} x{n}: {:.0} frames/s, ~{per_decoder_mb:.0} MB GPU memory per decoder, {errors} failed",
                total as f64 / secs
            );
            failed |= errors > 0;
            rows.push(format!(
                "    {{\"clip\": {clip:?}, \"decoders\": {n}, \"frames_per_s\": {:.1}, \"mb_per_decoder\": {per_decoder_mb:.1}, \"failed\": {errors}}}",
                total as f64 / secs
            ));
        }
    }
    let _ = writeln!(json, "{}\n  ],", rows.join(",\n"));
    println!(
        "skipped: ONNX Runtime's CUDA provider (an onnxruntime-gpu build is several hundred MB, \
         over the bundle's 64 MiB)"
    );
    let _ = writeln!(
        json,
        "  \"ort_cuda\": \"skipped: onnxruntime-gpu does not fit in 64 MiB\"\n}}"
    );
    let _ = std::fs::write(out.join("summary.json"), json);
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The CUDA letterbox of a decoded frame against the CPU twin on its downloaded bytes: the
/// largest absolute difference of the two 640x640 planar tensors.
fn kernel_vs_cpu(pre: &CudaPreprocessor, f: &Frame, host: &[u8]) -> Result<f32, String> {
    let gpu_decode::Pixels::Cuda(buf) = &f.pixels else {
        return Err("not a device frame".into());
    };
    let input = (640, 640);
    let stream = pre.stream();
    let mut dst = stream
        .alloc_zeros::<f32>(3 * input.0 * input.1)
        .map_err(|e| e.to_string())?;
    {
        let (dst_ptr, _g) = cudarc::driver::DevicePtrMut::device_ptr_mut(&mut dst, stream);
        // SAFETY: the frame's picture lives while `f` does, the tensor until the copy below.
        unsafe { pre.letterbox_nv12(buf.pixels(), (f.width, f.height), input, dst_ptr) }
            .map_err(|e| e.to_string())?;
    }
    let gpu: Vec<f32> = stream.clone_dtoh(&dst).map_err(|e| e.to_string())?;
    let mut cpu = vec![0f32; 3 * input.0 * input.1];
    let (y, uv) = host.split_at(f.stride * f.height);
    letterbox_nv12(y, uv, f.stride, (f.width, f.height), input, &mut cpu)
        .map_err(|e| e.to_string())?;
    Ok(gpu
        .iter()
        .zip(&cpu)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max))
}
