//! The real default model (YOLOv12n, provisioned by `cargo xtask setup`) on real photos from
//! the `ultralytics` wheel, and bad model files.

mod support;

use std::sync::Arc;

use gpu_decode::{
    CudaBuffer, CudaPixels, Frame, FramePool, Letterbox, PixelFormat, Pixels, RgbImage, letterbox,
};
use infer_trt::{
    Detection, Detector, DetectorOptions, Error, ModelRepository, OutputLayout, TensorMemory,
};
use support::{image, model};

fn repo() -> Arc<ModelRepository> {
    let repo = Arc::new(ModelRepository::with_threads(2));
    repo.load_model("yolo", model("yolov12n.onnx"), 2).unwrap();
    repo
}

fn show(d: &[Detection]) -> String {
    d.iter()
        .map(|d| {
            format!(
                "{} {:.2} {:?}",
                d.class_name,
                d.confidence,
                d.bbox.map(|v| v.round() as i32)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn model_info_comes_from_the_file() {
    let repo = repo();
    let info = repo.info("yolo").unwrap();
    assert_eq!(info.input_size, (640, 640));
    assert_eq!(info.fixed_batch, Some(1), "the shipped model has batch 1");
    assert_eq!(
        (info.num_classes, info.anchors, info.layout),
        (80, 8400, OutputLayout::ChannelsFirst)
    );
    assert_eq!(&info.class_names[..3], ["person", "bicycle", "car"]);
    assert_eq!(info.class_names[5], "bus");
    assert_eq!(info.contexts, 2);
    assert!(repo.unload("yolo"));
    assert!(matches!(repo.info("yolo"), Err(Error::UnknownModel(_))));
}

#[test]
fn bus_jpg_gives_the_bus_and_four_people() {
    let detector = Detector::new(repo(), "yolo", DetectorOptions::default()).unwrap();
    let (rgb, w, h) = image("bus");
    let img = RgbImage::new(&rgb, w, h, w * 3).unwrap();
    let dets = detector.detect_rgb(&[img]).unwrap().remove(0);
    let text = show(&dets);
    let count = |name: &str| dets.iter().filter(|d| d.class_name == name).count();
    assert_eq!((count("bus"), count("person")), (1, 4), "{text}");
    // Known boxes (Ultralytics' reference result for this photo), within a few pixels.
    let expected: [(&str, [f32; 4]); 4] = [
        ("bus", [7.0, 230.0, 800.0, 733.0]),
        ("person", [46.0, 396.0, 248.0, 903.0]),
        ("person", [671.0, 397.0, 810.0, 879.0]),
        ("person", [220.0, 405.0, 344.0, 859.0]),
    ];
    for (name, want) in expected {
        let best = dets
            .iter()
            .filter(|d| d.class_name == name)
            .map(|d| {
                d.bbox
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max)
            })
            .fold(f32::MAX, f32::min);
        assert!(
            best <= 12.0,
            "{name} {want:?}: nearest is {best} px off\n{text}"
        );
    }
}

#[test]
fn a_batch_gives_what_single_runs_give() {
    let detector = Detector::new(repo(), "yolo", DetectorOptions::default()).unwrap();
    let (bus, bw, bh) = image("bus");
    let (zid, zw, zh) = image("zidane");
    let b = RgbImage::new(&bus, bw, bh, bw * 3).unwrap();
    let z = RgbImage::new(&zid, zw, zh, zw * 3).unwrap();
    let batch = detector.detect_rgb(&[b, z, z, b]).unwrap();
    let single_b = detector.detect_rgb(&[b]).unwrap().remove(0);
    let single_z = detector.detect_rgb(&[z]).unwrap().remove(0);
    assert_eq!(
        batch,
        vec![
            single_b.clone(),
            single_z.clone(),
            single_z.clone(),
            single_b
        ]
    );
    assert!(
        single_z.iter().any(|d| d.class_name == "person"),
        "{}",
        show(&single_z)
    );
}

fn rgb_frame(pool: &FramePool, rgb: &[u8], w: usize, h: usize, pts: i64) -> Frame {
    let mut buf = pool.get(rgb.len()).unwrap();
    buf.copy_from_slice(rgb);
    Frame {
        width: w,
        height: h,
        format: PixelFormat::Rgb24,
        stride: w * 3,
        pts,
        keyframe: true,
        pixels: Pixels::Host(buf),
    }
}

#[test]
fn one_bad_frame_fails_only_itself() {
    let detector = Detector::new(repo(), "yolo", DetectorOptions::default()).unwrap();
    let pool = FramePool::new(4);
    let (bus, bw, bh) = image("bus");
    let (zid, zw, zh) = image("zidane");
    let b = rgb_frame(&pool, &bus, bw, bh, 1);
    let z = rgb_frame(&pool, &zid, zw, zh, 3);
    // A frame whose pixels are on a device: the host path cannot letterbox it.
    let device = Frame {
        width: 64,
        height: 64,
        format: PixelFormat::Nv12,
        stride: 64,
        pts: 2,
        keyframe: true,
        pixels: Pixels::Cuda(CudaBuffer::new(
            CudaPixels {
                ptr: 0,
                pitch: 64,
                uv_offset: 64 * 64,
                stream: 0,
            },
            (),
        )),
    };
    let got = detector.detect_each(&[&b, &device, &z]);
    assert_eq!(got.len(), 3);
    assert_eq!(got[0], Ok(detector.detect(&[&b]).unwrap().remove(0)));
    assert!(
        matches!(&got[1], Err(Error::BadBatch { message, .. }) if message.contains("pts 2")),
        "{:?}",
        got[1]
    );
    assert_eq!(got[2], Ok(detector.detect(&[&z]).unwrap().remove(0)));
    // The all-or-nothing call refuses the batch.
    assert!(detector.detect(&[&b, &device]).is_err());
}

/// The zero-copy entry point, here with host memory (its CUDA twin differs only in the
/// memory it names): the same detections as the ordinary path, whatever the batch.
#[test]
fn an_input_by_address_gives_what_the_ordinary_path_gives() {
    let repo = repo();
    let detector = Detector::new(repo.clone(), "yolo", DetectorOptions::default()).unwrap();
    let (bus, bw, bh) = image("bus");
    let (zid, zw, zh) = image("zidane");
    let b = RgbImage::new(&bus, bw, bh, bw * 3).unwrap();
    let z = RgbImage::new(&zid, zw, zh, zw * 3).unwrap();
    let per = 3 * 640 * 640;
    let mut tensor = vec![0.0f32; 2 * per];
    let lbs: Vec<Letterbox> = [b, z]
        .iter()
        .zip(tensor.chunks_exact_mut(per))
        .map(|(img, slot)| letterbox(img, (640, 640), slot).unwrap())
        .collect();
    let want = detector.detect_rgb(&[b, z]).unwrap();
    // SAFETY: two letterboxed images in host memory, untouched until the call returns.
    let got =
        unsafe { detector.detect_raw(tensor.as_ptr() as u64, TensorMemory::Host, &lbs) }.unwrap();
    assert_eq!(got, want);
    // SAFETY: a null pointer is refused before anything reads it.
    let e = unsafe { repo.infer_raw("yolo", 0, TensorMemory::Host, 1) }.unwrap_err();
    assert!(matches!(e, Error::BadBatch { .. }), "{e:?}");
}

#[test]
fn bad_model_files_are_typed_errors() {
    let repo = ModelRepository::new();
    let missing = repo
        .load_model("m", "/nonexistent/model.onnx", 1)
        .unwrap_err();
    assert!(
        matches!(missing, Error::ModelNotFound { .. }),
        "{missing:?}"
    );

    let dir = std::env::temp_dir().join(format!("infer-trt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.onnx");
    std::fs::write(&junk, b"this is not a protobuf").unwrap();
    let e = repo.load_model("m", &junk, 1).unwrap_err();
    assert!(
        matches!(&e, Error::NotOnnx { path, .. } if path == &junk),
        "{e:?}"
    );

    // A truncated copy of the real model.
    let bytes = std::fs::read(model("yolov12n.onnx")).unwrap();
    let cut = dir.join("cut.onnx");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let e = repo.load_model("m", &cut, 1).unwrap_err();
    assert!(matches!(e, Error::NotOnnx { .. }), "{e:?}");
    let _ = std::fs::remove_dir_all(&dir);

    let e = repo.infer("absent", &[0.0; 3], 1).unwrap_err();
    assert!(matches!(e, Error::UnknownModel(_)));
    repo.load_model("yolo", model("yolov12n.onnx"), 1).unwrap();
    let e = repo.infer("yolo", &[0.0; 10], 1).unwrap_err();
    assert!(matches!(e, Error::BadBatch { .. }), "{e:?}");
}
