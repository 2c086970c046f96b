//! Models that load but do not fit a detector: tiny ONNX graphs written here byte by byte
//! (protobuf wire format), checked for the typed errors that name the file.

use std::path::PathBuf;

use infer_trt::{Error, ModelRepository};

mod support;
use support::onnx::one_node_model;

/// A model whose graph is one Identity node from `x` (`input`) to `y` (`output`).
fn identity_model(input: &[u64], output: &[u64]) -> Vec<u8> {
    one_node_model("Identity", &["x"], &[], input, output)
}

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("infer-trt-models-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn a_model_that_is_not_an_image_detector_is_refused_with_the_file_named() {
    let repo = ModelRepository::new();

    let rank3 = write("rank3.onnx", &identity_model(&[1, 3, 8], &[1, 3, 8]));
    match repo.load_model("m", &rank3, 1) {
        Err(Error::UnsupportedInput { path, message }) => {
            assert_eq!(path, rank3);
            assert!(message.contains("[batch, 3, height, width]"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    let gray = write("gray.onnx", &identity_model(&[1, 1, 8, 8], &[1, 1, 8, 8]));
    assert!(matches!(
        repo.load_model("m", &gray, 1),
        Err(Error::UnsupportedInput { .. })
    ));

    // A valid image input, but the output is the image itself, not boxes and scores.
    let image_out = write(
        "image-out.onnx",
        &identity_model(&[1, 3, 8, 8], &[1, 3, 8, 8]),
    );
    match repo.load_model("m", &image_out, 1) {
        Err(Error::UnsupportedOutput { path, shape }) => {
            assert_eq!(path, image_out);
            assert_eq!(shape, vec![1, 3, 8, 8]);
        }
        other => panic!("{other:?}"),
    }
    assert!(repo.info("m").is_err(), "nothing was loaded");
    let _ = std::fs::remove_dir_all(rank3.parent().unwrap());
}
