//! Decode throughput per core for the setup's 720p/1080p H.264/H.265 clips: decoding to RGB,
//! and decoding plus letterboxing to a 640x640 model input; then, under `cargo bench`, the
//! `ffmpeg` command line on the same clips (decode only, and decode to RGB) for comparison.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

#[path = "../tests/support/mod.rs"]
mod support;

use criterion::{BenchmarkId, Criterion, Throughput};
use gpu_decode::{Codec, CodecConfig, CpuDecoder, CpuDecoderOptions, Decoder, InputBatch, Packet};

const CLIPS: [&str; 4] = [
    "h264_720p25.h264",
    "h265_720p25.h265",
    "h264_1080p25.h264",
    "h265_1080p25.h265",
];
const FRAMES: usize = 100;

/// The clip's first `FRAMES` access units (two groups of pictures).
fn units(file: &str) -> (Codec, Vec<(Vec<u8>, bool)>) {
    let mut aus = support::units(file);
    aus.truncate(FRAMES);
    let codec = support::config(&aus[0]).codec;
    (
        codec,
        aus.into_iter()
            .map(|au| (au.data.to_vec(), au.keyframe))
            .collect(),
    )
}

/// One decoder thread, full-size packed RGB.
fn full() -> CpuDecoderOptions {
    CpuDecoderOptions::default().threads(1)
}

fn run(
    codec: Codec,
    units: &[(Vec<u8>, bool)],
    letterbox_to: Option<&mut InputBatch>,
    options: CpuDecoderOptions,
) -> usize {
    let config = CodecConfig {
        codec,
        width: 0,
        height: 0,
    };
    let mut dec = CpuDecoder::new(&config, options).unwrap();
    let mut n = 0;
    let mut input = letterbox_to;
    let mut take = |dec: &mut CpuDecoder, n: &mut usize| {
        while let Some(f) = dec.next_frame() {
            if let Some(buf) = input.as_deref_mut() {
                buf.fill(0, &f).unwrap();
            }
            *n += 1;
        }
    };
    for (i, (data, keyframe)) in units.iter().enumerate() {
        dec.decode(&Packet {
            data,
            pts: i as i64,
            keyframe: *keyframe,
        })
        .unwrap();
        take(&mut dec, &mut n);
    }
    dec.flush().unwrap();
    take(&mut dec, &mut n);
    n
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(1));
    for clip in CLIPS {
        let (codec, units) = units(clip);
        g.throughput(Throughput::Elements(units.len() as u64));
        g.bench_with_input(BenchmarkId::new("rgb", clip), &units, |b, u| {
            b.iter(|| run(codec, u, None, full()))
        });
        // As the detector does: one slot, kept from frame to frame.
        let mut input = InputBatch::new((640, 640));
        input.set_len(1);
        // Full-size RGB, then the generic (resizing) letterbox.
        g.bench_with_input(
            BenchmarkId::new("rgb+letterbox640", clip),
            &units,
            |b, u| b.iter(|| run(codec, u, Some(&mut input), full())),
        );
        // The production CPU path: swscale converts and resizes in one pass to the letterbox's
        // inner size; the letterbox only pads, transposes and normalises.
        let source = if clip.contains("1080p") {
            (1920, 1080)
        } else {
            (1280, 720)
        };
        let resized = gpu_decode::Letterbox::new(source, (640, 640))
            .unwrap()
            .resized;
        let planar = || full().output_size(Some(resized)).planar(true);
        // The same without the letterbox: what swscale's scaled planar output costs alone.
        g.bench_with_input(BenchmarkId::new("scaled", clip), &units, |b, u| {
            b.iter(|| run(codec, u, None, planar()))
        });
        g.bench_with_input(
            BenchmarkId::new("scaled+letterbox640", clip),
            &units,
            |b, u| b.iter(|| run(codec, u, Some(&mut input), planar())),
        );
        // swscale only scales (YUV 4:2:0 at the inner size); the letterbox converts to RGB
        // straight into the tensor.
        let yuv = || full().output_size(Some(resized)).yuv420(true);
        g.bench_with_input(BenchmarkId::new("yuv", clip), &units, |b, u| {
            b.iter(|| run(codec, u, None, yuv()))
        });
        g.bench_with_input(
            BenchmarkId::new("yuv+letterbox640", clip),
            &units,
            |b, u| b.iter(|| run(codec, u, Some(&mut input), yuv())),
        );
    }
    g.finish();
}

/// Seconds of wall time `ffmpeg -threads 1` takes to decode the whole clip (best of 3).
fn ffmpeg_cli(clip: &str, rgb: bool) -> Option<f64> {
    let mut best = f64::MAX;
    for _ in 0..3 {
        let mut cmd = Command::new("ffmpeg");
        cmd.args([
            "-hide_banner",
            "-nostdin",
            "-benchmark",
            "-threads",
            "1",
            "-i",
        ])
        .arg(support::common::clips().join(clip));
        if rgb {
            cmd.args(["-pix_fmt", "rgb24"]);
        }
        let out = cmd.args(["-f", "null", "-"]).output().ok()?;
        let text = String::from_utf8_lossy(&out.stderr);
        let rtime = text
            .lines()
            .find_map(|l| l.split("rtime=").nth(1))
            .and_then(|v| v.trim().trim_end_matches('s').parse::<f64>().ok())?;
        best = best.min(rtime);
    }
    Some(best)
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    decode(&mut c);
    c.final_summary();
    if std::env::args().any(|a| a == "--bench") {
        let mut rows = Vec::new();
        for clip in CLIPS {
            // The clips hold 250 frames.
            let fps = |s: Option<f64>| s.map_or(-1.0, |s| 250.0 / s);
            let null = fps(ffmpeg_cli(clip, false));
            let rgb = fps(ffmpeg_cli(clip, true));
            rows.push(format!("{{\"clip\":\"{clip}\",\"ffmpeg_decode_fps\":{null:.1},\"ffmpeg_decode_rgb_fps\":{rgb:.1}}}"));
        }
        let json = format!("[{}]\n", rows.join(","));
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join("gpu_decode_ffmpeg_cli.json"), &json);
        #[allow(clippy::print_stdout)] // a bench reports on the terminal
        {
            println!("ffmpeg -threads 1 on the same clips: {json}");
        }
    }
}
