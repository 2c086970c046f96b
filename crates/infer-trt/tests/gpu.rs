//! The TensorRT provider (feature `tensorrt`): where it cannot run (no GPU, or an ONNX
//! Runtime built without it, as the one `cargo xtask setup` provides) loading a model is a
//! typed error and the test says "skipped"; where it runs, it must find what the CPU finds on
//! bus.jpg, from a host tensor and from a device tensor (the zero-copy path).

// Skipped tests report themselves on stdout.
#![allow(clippy::print_stdout)]

mod support;

use std::sync::Arc;

use gpu_decode::cuda::CudaPreprocessor;
use gpu_decode::cuda::cudarc::driver::DevicePtr;
use gpu_decode::{Letterbox, RgbImage, letterbox};
use infer_trt::{
    Detection, Detector, DetectorOptions, Error, ModelRepository, Provider, TensorMemory,
    TensorRtOptions,
};

fn same(a: &[Detection], b: &[Detection]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.class_id == y.class_id && x.bbox.iter().zip(&y.bbox).all(|(p, q)| (p - q).abs() < 4.0)
        })
}

#[test]
fn tensorrt_finds_what_the_cpu_finds_or_says_why_it_cannot_run() {
    let model = support::model("yolov12n-dynamic.onnx");
    let options = TensorRtOptions {
        cache_dir: std::env::temp_dir().join("rtsp-worker-trt-test"),
        ..TensorRtOptions::default()
    };
    let trt = Arc::new(ModelRepository::new().with_provider(Provider::TensorRt(options)));
    match trt.load_model("yolo", &model, 1) {
        Err(Error::ProviderUnavailable { message, .. }) => {
            println!("skipped: TensorRT cannot run here ({message})");
            return;
        }
        Err(e) => panic!("{e:?}"),
        Ok(_) => {}
    }
    let cpu = Arc::new(ModelRepository::with_threads(2));
    cpu.load_model("yolo", &model, 1).unwrap();
    let (rgb, w, h) = support::image("bus");
    let img = RgbImage::new(&rgb, w, h, w * 3).unwrap();
    let want = Detector::new(cpu, "yolo", DetectorOptions::default())
        .unwrap()
        .detect_rgb(&[img])
        .unwrap();
    let detector = Detector::new(trt, "yolo", DetectorOptions::default()).unwrap();
    let got = detector.detect_rgb(&[img]).unwrap();
    assert!(same(&got[0], &want[0]), "{got:?}\nvs CPU {want:?}");

    // The same input from device memory.
    let pre = CudaPreprocessor::new(0).expect("TensorRT runs, so a GPU is present");
    let mut tensor = vec![0.0f32; 3 * 640 * 640];
    let lb: Letterbox = letterbox(&img, (640, 640), &mut tensor).unwrap();
    let stream = pre.stream();
    let on_gpu = stream.clone_htod(&tensor).unwrap();
    stream.synchronize().unwrap();
    let (ptr, guard) = on_gpu.device_ptr(stream);
    // SAFETY: one letterboxed image on device 0, copied and synchronised, alive until after.
    let from_device =
        unsafe { detector.detect_raw(ptr, TensorMemory::Cuda { ordinal: 0 }, &[lb]) }.unwrap();
    drop(guard);
    assert!(same(&from_device[0], &want[0]), "{from_device:?}");
}
