//! Bad input for the YOLO output decoder: odd output shapes (no boxes, wrong channel counts,
//! dimensions so large that multiplying them overflows), NaN and infinite scores and
//! coordinates, odd thresholds and frame sizes. Never a panic, never a NaN or infinite box,
//! every case under a time bound. The same entry points as `fuzz/fuzz_targets/yolo_output.rs`.
//! And the output shapes a model file declares (tiny ONNX graphs written here): huge ones are
//! refused with the typed error, not allocated.
//!
//! `cargo test -p infer-trt --test bad_input -- --show-output` prints the cases tried
//! (`PROPTEST_CASES=N` runs N per property instead).

// The figures (cases tried, time) are the output: docs/RELIABILITY.md quotes them.
#![allow(clippy::print_stdout)]

use testkit::harness;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use gpu_decode::Letterbox;
use harness::{check, within};
use infer_trt::yolo::{self, Thresholds};
use infer_trt::{ModelInfo, OutputLayout};
use proptest::prelude::*;

mod support;
use support::onnx::{field_bytes, field_varint, one_node_model, varint};

/// The longest one case may take (one image's decoding takes microseconds).
const CASE_LIMIT: Duration = Duration::from_secs(2);

/// Scores and coordinates: mostly plausible, often NaN, infinite, huge or subnormal.
fn value() -> impl Strategy<Value = f32> {
    prop_oneof![
        6 => 0.0f32..1.0,
        3 => -50.0f32..700.0,
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(f32::NEG_INFINITY),
        1 => Just(f32::MAX),
        1 => Just(-f32::MAX),
        2 => any::<f32>(),
    ]
}

/// Classes or anchors: small, or large enough that `(4 + classes) * anchors` overflows.
fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![
        6 => 0usize..8,
        2 => 8usize..200,
        1 => Just(usize::MAX),
        1 => Just(usize::MAX - 3),
        1 => Just(usize::MAX / 2),
        1 => Just(1usize << 40),
        1 => any::<usize>(),
    ]
}

fn layout() -> impl Strategy<Value = OutputLayout> {
    prop_oneof![
        Just(OutputLayout::ChannelsFirst),
        Just(OutputLayout::AnchorsFirst)
    ]
}

fn threshold() -> impl Strategy<Value = f32> {
    prop_oneof![
        6 => 0.0f32..1.0,
        1 => Just(f32::NAN),
        1 => Just(f32::NEG_INFINITY),
        1 => Just(f32::INFINITY),
        1 => Just(f32::MIN),
        1 => -2.0f32..2.0,
    ]
}

/// One image's output: a layout, its claimed classes and anchors, and the floats (the right
/// count give or take a few, or any count).
#[derive(Debug, Clone)]
struct Output {
    layout: OutputLayout,
    classes: usize,
    anchors: usize,
    data: Vec<f32>,
}

fn output() -> impl Strategy<Value = Output> {
    let fitting = (layout(), 0usize..6, 0usize..48, -3isize..=3).prop_flat_map(
        |(layout, classes, anchors, off)| {
            let n = ((4 + classes) * anchors).saturating_add_signed(off);
            proptest::collection::vec(value(), n).prop_map(move |data| Output {
                layout,
                classes,
                anchors,
                data,
            })
        },
    );
    let odd = (
        layout(),
        dim(),
        dim(),
        proptest::collection::vec(value(), 0..400),
    )
        .prop_map(|(layout, classes, anchors, data)| Output {
            layout,
            classes,
            anchors,
            data,
        });
    prop_oneof![3 => fitting, 2 => odd]
}

fn finite(bbox: &[f32; 4]) -> bool {
    bbox.iter().all(|v| v.is_finite())
}

#[test]
fn candidates_of_odd_outputs() {
    check(
        "yolo_output candidates",
        256,
        || (output(), threshold()),
        |(o, threshold)| {
            let Output {
                layout,
                classes,
                anchors,
                data,
            } = o;
            let got = within(CASE_LIMIT, move || {
                yolo::candidates(&data, layout, classes, anchors, threshold)
            });
            prop_assert!(got.len() <= anchors);
            for c in &got {
                prop_assert!(finite(&c.bbox), "a box that is not finite: {c:?}");
                prop_assert!(c.confidence.is_finite(), "{c:?}");
                prop_assert!(c.confidence >= threshold, "{c:?} below {threshold}");
                prop_assert!(c.class_id < classes, "{c:?} of {classes} classes");
            }
            Ok(())
        },
        String::new,
    );
}

/// Everything a model, a frame and the settings can bring to `postprocess`.
#[derive(Debug, Clone)]
struct Setting {
    input: (usize, usize),
    source: (usize, usize),
    class_names: usize,
    thresholds: Thresholds,
}

fn setting() -> impl Strategy<Value = Setting> {
    let size = || {
        prop_oneof![
            4 => (1usize..2000, 1usize..2000),
            1 => (1usize..4, 1usize..4),
            1 => (1usize..=usize::MAX, 1usize..=usize::MAX),
        ]
    };
    let thresholds = (
        threshold(),
        prop_oneof![
            4 => 0.0f32..1.0,
            1 => Just(f32::NAN),
            1 => Just(-1.0f32),
            1 => Just(2.0f32),
        ],
        prop_oneof![Just(0usize), Just(1), 1usize..400, Just(usize::MAX)],
    )
        .prop_map(|(confidence, iou, max_detections)| Thresholds {
            confidence,
            iou,
            max_detections,
        });
    (size(), size(), 0usize..10, thresholds).prop_map(|(input, source, class_names, thresholds)| {
        Setting {
            input,
            source,
            class_names,
            thresholds,
        }
    })
}

#[test]
fn postprocess_of_odd_outputs() {
    check(
        "yolo_output postprocess",
        256,
        || (output(), setting()),
        |(o, s)| {
            let info = ModelInfo {
                path: PathBuf::from("bad-input.onnx"),
                input_name: "images".into(),
                input_size: s.input,
                fixed_batch: None,
                num_classes: o.classes,
                anchors: o.anchors,
                layout: o.layout,
                class_names: (0..s.class_names).map(|i| format!("c{i}")).collect(),
                contexts: 1,
            };
            let Ok(letterbox) = Letterbox::new(s.source, s.input) else {
                return Ok(()); // sizes are never empty here
            };
            let (t, data) = (s.thresholds, o.data);
            let got = within(CASE_LIMIT, move || {
                (yolo::postprocess(&data, &info, &letterbox, &t), info)
            });
            let (got, info) = got;
            prop_assert!(got.len() <= t.max_detections && got.len() <= info.anchors);
            let (w, h) = (s.source.0 as f32, s.source.1 as f32);
            for d in &got {
                prop_assert!(finite(&d.bbox), "a box that is not finite: {d:?}");
                prop_assert!(d.confidence.is_finite(), "{d:?}");
                let [x1, y1, x2, y2] = d.bbox;
                for (v, max) in [(x1, w), (y1, h), (x2, w), (y2, h)] {
                    prop_assert!((0.0..=max).contains(&v), "{d:?} outside {w}x{h}");
                }
                prop_assert!(d.class_id < info.num_classes);
                prop_assert_eq!(
                    &d.class_name,
                    &info
                        .class_names
                        .get(d.class_id)
                        .cloned()
                        .unwrap_or_default()
                );
                // Mapping a detection on to a camera's size keeps it finite.
                let r = d.clone().rescaled(s.source, s.input);
                prop_assert!(finite(&r.bbox), "{r:?}");
            }
            Ok(())
        },
        String::new,
    );
}

// ---------------------------------------------------------------------------------------
// Output shapes from the model file

/// A model `y = Reshape(x, out)`: an image input, and an output that declares `out` (the
/// model would fail if run; loading it reads the declared shape).
fn reshape_model(input: &[u64], out: &[u64]) -> Vec<u8> {
    let mut shape = Vec::new(); // TensorProto "s": INT64 [out.len()]
    field_varint(&mut shape, 1, out.len() as u64); // dims
    field_varint(&mut shape, 2, 7); // data_type INT64
    let mut packed = Vec::new();
    for &d in out {
        varint(&mut packed, d);
    }
    field_bytes(&mut shape, 7, &packed); // int64_data
    field_bytes(&mut shape, 8, b"s"); // name
    one_node_model("Reshape", &["x", "s"], &[&shape], input, out)
}

/// Output shapes a model file can declare: plausible ones load, and shapes whose class count
/// would take gigabytes of class names are refused with the typed error (before this was
/// checked, `[1, 2^30, 2^31]` aborted the process on a 25 GB allocation).
#[test]
fn output_shapes_too_large_are_refused_not_allocated() {
    let dir = std::env::temp_dir().join(format!("infer-trt-bad-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let repo = std::sync::Arc::new(infer_trt::ModelRepository::new());
    let cases: &[([u64; 3], Option<usize>)] = &[
        ([1, 84, 8400], Some(80)),
        ([1, 8400, 84], Some(80)),
        ([1, 5, 6], Some(1)),
        ([1, 100_004, 200_000], Some(100_000)),
        ([1, 100_005, 200_000], None),
        ([1, 3_000_000, 4_000_000], None),
        ([1, 1 << 30, 1 << 31], None),
        ([1, 1 << 31, 1 << 30], None),
        // Too large for ONNX Runtime itself (the element count overflows).
        ([1, 1 << 33, 1 << 34], None),
    ];
    let start = Instant::now();
    for (n, (out, classes)) in cases.iter().enumerate() {
        let path = dir.join(format!("reshape{n}.onnx"));
        std::fs::write(&path, reshape_model(&[1, 3, 8, 8], out)).unwrap();
        let r = within(Duration::from_secs(20), {
            let (repo, path) = (repo.clone(), path.clone());
            move || repo.load_model("m", &path, 1)
        });
        match (r, classes) {
            (Ok(info), Some(c)) => {
                assert_eq!((info.num_classes, info.class_names.len()), (*c, *c));
                assert!(repo.unload("m"));
            }
            (Err(infer_trt::Error::UnsupportedOutput { shape, .. }), None) => {
                assert_eq!(shape, out.iter().map(|&d| d as i64).collect::<Vec<_>>());
            }
            (Err(infer_trt::Error::NotOnnx { .. }), None) if out[1] >= 1 << 33 => {}
            (other, _) => panic!("{out:?}: {other:?}"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "bad-input yolo_output (model output shapes): {} cases, 0 panics ({:.2} s)",
        cases.len(),
        start.elapsed().as_secs_f64()
    );
}
