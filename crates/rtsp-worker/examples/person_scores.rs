//! The shipped model's person scores on the real clips: every 5th frame of the pedestrian
//! clips decoded as the facade decodes them, the default model run with the facade's detector
//! threshold for ByteTrack (0.1), and the scores of the person boxes left after NMS counted
//! in bins of 0.05. `cargo xtask track-eval --measure-scores` runs it and commits the
//! histogram (`benches/tracking/person_scores.json`), which the tracking evaluation's
//! `model-scores` family draws true positives' scores from.
//!
//! ```text
//! cargo run --release -p rtsp-worker --example person_scores
//! ```
//!
//! Needs `cargo xtask setup` (clips, model, ONNX Runtime) and its environment.

// A measuring program: it prints its result.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod support;

use std::sync::Arc;

use gpu_decode::CpuDecoderOptions;
use infer_trt::yolo::Thresholds;
use infer_trt::{Detector, DetectorOptions, ModelRepository};

/// The clips measured: the pedestrian street scene and OpenCV's `vtest`.
const CLIPS: [&str; 2] = ["people_720p25.h264", "vtest_720p25.h264"];
const EVERY: u64 = 5;
const BIN: f64 = 0.05;

fn main() {
    let repo = Arc::new(ModelRepository::new());
    let info = repo
        .load_model("yolo", rtsp_worker::default_model_path(), 1)
        .expect("the model (cargo xtask setup)");
    let person = info
        .class_names
        .iter()
        .position(|c| c == "person")
        .expect("a person class");
    let detector = Detector::new(
        repo,
        "yolo",
        DetectorOptions {
            thresholds: Thresholds {
                confidence: 0.1,
                ..Thresholds::default()
            },
        },
    )
    .expect("detector");
    let mut counts = vec![0u64; (1.0 / BIN).round() as usize];
    let (mut frames_seen, mut boxes) = (0u64, 0u64);
    for clip in CLIPS {
        let units = support::access_units(clip, usize::MAX);
        let mut dec = support::decoder(&units[0], info.input_size, CpuDecoderOptions::default());
        support::decode_all(&mut dec, &units, |f| {
            if !(f.pts as u64).is_multiple_of(EVERY) {
                return;
            }
            frames_seen += 1;
            let dets = detector.detect_each(&[&f]).remove(0).expect("detect");
            for d in dets.iter().filter(|d| d.class_id == person) {
                let bin = ((f64::from(d.confidence) / BIN) as usize).min(counts.len() - 1);
                counts[bin] += 1;
                boxes += 1;
            }
        });
        eprintln!("{clip}: {} frames decoded", units.len());
    }
    let bins: Vec<String> = counts
        .iter()
        .enumerate()
        .filter(|(i, _)| (*i as f64) * BIN >= 0.1 - 1e-9)
        .map(|(i, n)| {
            format!(
                "    [{:.2}, {:.2}, {n}]",
                i as f64 * BIN,
                (i + 1) as f64 * BIN
            )
        })
        .collect();
    println!(
        "{{\n  \"what\": \"YOLOv12n person scores after NMS (threshold 0.1), every {EVERY}th frame of {}\",\n  \"frames\": {frames_seen},\n  \"boxes\": {boxes},\n  \"bins\": [\n{}\n  ]\n}}",
        CLIPS.join(" and "),
        bins.join(",\n")
    );
}
