//! The default model rewritten for a dynamic batch by `cargo xtask setup`
//! (`xtask/src/onnx.rs`): a batch of four equals four single runs, and batch 1 equals the
//! original model.

mod support;

use gpu_decode::{RgbImage, letterbox};
use infer_trt::ModelRepository;

/// A photo letterboxed to 640x640, optionally mirrored (to make four different inputs).
fn input(name: &str, mirror: bool) -> Vec<f32> {
    let (mut rgb, w, h) = support::image(name);
    if mirror {
        for row in rgb.chunks_exact_mut(w * 3) {
            let px: Vec<[u8; 3]> = row
                .chunks_exact(3)
                .rev()
                .map(|p| [p[0], p[1], p[2]])
                .collect();
            row.copy_from_slice(&px.concat());
        }
    }
    let mut out = vec![0.0f32; 3 * 640 * 640];
    letterbox(
        &RgbImage::new(&rgb, w, h, w * 3).unwrap(),
        (640, 640),
        &mut out,
    )
    .unwrap();
    out
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn batch_of_four_equals_four_single_runs_and_batch_one_equals_the_original() {
    let dynamic = support::model("yolov12n-dynamic.onnx");
    assert!(
        dynamic.is_file(),
        "{} missing: run `cargo xtask setup`",
        dynamic.display()
    );
    let repo = ModelRepository::with_threads(2);
    let info = repo.load_model("dynamic", &dynamic, 1).unwrap();
    assert_eq!(
        info.fixed_batch, None,
        "the rewritten model takes any batch"
    );
    assert_eq!((info.num_classes, info.anchors), (80, 8400));
    repo.load_model("original", support::model("yolov12n.onnx"), 1)
        .unwrap();

    let inputs = [
        input("bus", false),
        input("zidane", false),
        input("bus", true),
        input("zidane", true),
    ];
    let batch: Vec<f32> = inputs.concat();
    let together = repo.infer("dynamic", &batch, 4).unwrap().per_image;
    assert_eq!(together.len(), 4);
    for (i, one) in inputs.iter().enumerate() {
        let alone = repo.infer("dynamic", one, 1).unwrap().per_image.remove(0);
        let d = max_diff(&together[i], &alone);
        assert!(d <= 1e-4, "image {i}: batch-4 differs from batch-1 by {d}");
        let original = repo.infer("original", one, 1).unwrap().per_image.remove(0);
        let d = max_diff(&alone, &original);
        assert!(
            d <= 1e-3,
            "image {i}: rewritten differs from the original by {d}"
        );
    }
    // Different images really give different outputs (the batch is not one image repeated).
    assert!(max_diff(&together[0], &together[2]) > 1e-2);
}
