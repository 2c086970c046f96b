//! The rectangular model beside the square one, on the same decoded frames: every 5th frame of
//! the pedestrian clips (720p, decoded as the facade decodes them for a 640-wide model: 640×360),
//! each model run alone on it; the persons the square model finds at confidence ≥ 0.5, and how
//! many of them the rectangular model finds too (same class, IoU ≥ 0.5, confidence ≥ 0.5,
//! matched greedily by IoU); and each model's time per image (median, interleaved so that both
//! see the same machine). Figures in docs/BENCHMARKS.md.
//!
//! ```text
//! cargo run --release -p rtsp-worker --example rect_model -- SQUARE.onnx RECT.onnx [CLIP…]
//! ```
//!
//! CLIPs are names in the clips folder (default: the two 720p pedestrian clips).
//!
//! Needs `cargo xtask setup` (clips, models, ONNX Runtime) and its environment.

// A measuring program: it prints its result.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod support;

use std::sync::Arc;
use std::time::Instant;

use gpu_decode::CpuDecoderOptions;
use infer_trt::{Detection, Detector, DetectorOptions, ModelRepository};

const CLIPS: [&str; 2] = ["people_720p25.h264", "vtest_720p25.h264"];
const EVERY: u64 = 5;
const SCORE: f32 = 0.5;
const IOU: f32 = 0.5;

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let area = |r: &[f32; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    inter / (area(a) + area(b) - inter).max(1e-6)
}

/// How many of `reference`'s boxes `candidate` also has (greedy by IoU, one to one).
fn found(reference: &[&Detection], candidate: &[&Detection]) -> usize {
    let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
    for (i, r) in reference.iter().enumerate() {
        for (j, c) in candidate.iter().enumerate() {
            let v = iou(&r.bbox, &c.bbox);
            if v >= IOU {
                pairs.push((v, i, j));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut used_r, mut used_c) = (vec![false; reference.len()], vec![false; candidate.len()]);
    let mut n = 0;
    for (_, i, j) in pairs {
        if !used_r[i] && !used_c[j] {
            used_r[i] = true;
            used_c[j] = true;
            n += 1;
        }
    }
    n
}

fn people(d: &[Detection]) -> Vec<&Detection> {
    d.iter()
        .filter(|d| d.class_name == "person" && d.confidence >= SCORE)
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [square, rect, clips @ ..] = args.as_slice() else {
        eprintln!("usage: rect_model SQUARE.onnx RECT.onnx [CLIP…]");
        std::process::exit(2);
    };
    let clips: Vec<&str> = if clips.is_empty() {
        CLIPS.to_vec()
    } else {
        clips.iter().map(String::as_str).collect()
    };
    let repo = Arc::new(ModelRepository::new());
    let a = repo
        .load_model("square", square, 1)
        .expect("the square model");
    let b = repo
        .load_model("rect", rect, 1)
        .expect("the rectangular model");
    let detector =
        |id: &str| Detector::new(repo.clone(), id, DetectorOptions::default()).expect("detector");
    let (ds, dr) = (detector("square"), detector("rect"));
    let (mut persons, mut matched, mut extra) = (0usize, 0usize, 0usize);
    let (mut ms_square, mut ms_rect) = (Vec::new(), Vec::new());
    let mut frames = 0;
    for clip in clips {
        let units = support::access_units(clip, usize::MAX);
        // The same decoder output for both: the picture scaled to the wider model's width.
        let mut dec = support::decoder(&units[0], a.input_size, CpuDecoderOptions::default());
        support::decode_all(&mut dec, &units, |f| {
            if !(f.pts as u64).is_multiple_of(EVERY) {
                return;
            }
            frames += 1;
            let t = Instant::now();
            let s = ds.detect_each(&[&f]).remove(0).expect("detect");
            ms_square.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let r = dr.detect_each(&[&f]).remove(0).expect("detect");
            ms_rect.push(t.elapsed().as_secs_f64() * 1e3);
            let (s, r) = (people(&s), people(&r));
            persons += s.len();
            let m = found(&s, &r);
            matched += m;
            extra += r.len() - m;
        });
        eprintln!("{clip}: done");
    }
    let (ts, tr) = (median(ms_square), median(ms_rect));
    println!(
        "{{\"frames\": {frames}, \"square_input\": {:?}, \"rect_input\": {:?}, \
         \"square_persons\": {persons}, \"found_by_rect\": {matched}, \"found_share\": {:.4}, \
         \"rect_only_persons\": {extra}, \"square_ms_p50\": {ts:.1}, \"rect_ms_p50\": {tr:.1}, \
         \"speedup\": {:.3}}}",
        a.input_size,
        b.input_size,
        matched as f64 / persons.max(1) as f64,
        ts / tr.max(1e-9)
    );
}
