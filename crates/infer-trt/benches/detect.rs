//! Detector latency per batch (1, 4, 8, 16) with 1 and 2 intra-op threads on the CPU, on the
//! dynamic-batch YOLOv12n from `cargo xtask setup`; and pre- plus post-processing per 720p
//! frame on one core. `benches/onnxruntime_python.py` times Python's `session.run` on the same
//! model and batches for comparison (`cargo xtask bench` runs both).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use gpu_decode::{Letterbox, RgbImage, letterbox};
use infer_trt::ModelRepository;
use infer_trt::yolo::{Thresholds, postprocess};

fn inference(c: &mut Criterion) {
    let (rgb, w, h) = support::image("bus");
    let mut one = vec![0.0f32; 3 * 640 * 640];
    letterbox(
        &RgbImage::new(&rgb, w, h, w * 3).unwrap(),
        (640, 640),
        &mut one,
    )
    .unwrap();
    for threads in [1usize, 2] {
        let repo = ModelRepository::with_threads(threads);
        repo.load_model("yolo", support::model("yolov12n-dynamic.onnx"), 1)
            .expect("run `cargo xtask setup`");
        let mut g = c.benchmark_group(format!("infer/cpu_threads_{threads}"));
        g.sample_size(10)
            .warm_up_time(Duration::from_secs(2))
            .measurement_time(Duration::from_secs(6));
        for batch in [1usize, 4, 8, 16] {
            let input: Vec<f32> = (0..batch).flat_map(|_| one.iter().copied()).collect();
            g.throughput(Throughput::Elements(batch as u64));
            g.bench_with_input(BenchmarkId::from_parameter(batch), &input, |b, input| {
                b.iter(|| repo.infer("yolo", input, batch).unwrap())
            });
        }
        g.finish();
    }
}

fn pre_post(c: &mut Criterion) {
    // A 720p frame: the bus photo scaled into 1280x720 is not needed; any 720p RGB will do.
    let frame: Vec<u8> = (0..1280 * 720 * 3).map(|i| (i % 251) as u8).collect();
    let img = RgbImage::new(&frame, 1280, 720, 1280 * 3).unwrap();
    let repo = ModelRepository::with_threads(1);
    let info = repo
        .load_model("yolo", support::model("yolov12n-dynamic.onnx"), 1)
        .unwrap();
    let (rgb, w, h) = support::image("bus");
    let mut input = vec![0.0f32; 3 * 640 * 640];
    let lb = letterbox(
        &RgbImage::new(&rgb, w, h, w * 3).unwrap(),
        (640, 640),
        &mut input,
    )
    .unwrap();
    let output = repo.infer("yolo", &input, 1).unwrap().per_image.remove(0);
    let thresholds = Thresholds::default();
    let mut g = c.benchmark_group("prepost");
    g.bench_function("letterbox_720p", |b| {
        b.iter(|| letterbox(&img, (640, 640), &mut input).unwrap())
    });
    g.bench_function("postprocess_bus", |b| {
        b.iter(|| postprocess(&output, &info, &lb, &thresholds))
    });
    let lb720 = Letterbox::new((1280, 720), (640, 640)).unwrap();
    g.bench_function("letterbox+postprocess_720p", |b| {
        b.iter(|| {
            letterbox(&img, (640, 640), &mut input).unwrap();
            postprocess(&output, &info, &lb720, &thresholds)
        })
    });
    g.finish();
}

criterion_group!(benches, pre_post, inference);
criterion_main!(benches);
