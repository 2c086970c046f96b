//! Test support shared by this crate's tests and benches: the cache `cargo xtask setup` fills
//! (the default model and its dynamic-batch rewrite, the test photos as raw RGB).

#![allow(dead_code)] // each test binary uses a different part of this module

use std::path::PathBuf;

pub(crate) mod onnx;

/// The cache folder (`RTSP_WORKER_CACHE`, else `~/.cache/rtsp-worker`).
pub(crate) fn cache() -> PathBuf {
    std::env::var_os("RTSP_WORKER_CACHE").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/rtsp-worker"),
        PathBuf::from,
    )
}

/// A model file from the cache (`yolov12n.onnx`, `yolov12n-dynamic.onnx`).
pub(crate) fn model(name: &str) -> PathBuf {
    let p = cache().join("models").join(name);
    assert!(
        p.is_file(),
        "{} missing: run `cargo xtask setup`",
        p.display()
    );
    p
}

/// A test photo (`bus`, `zidane`) as raw RGB, with its width and height.
pub(crate) fn image(name: &str) -> (Vec<u8>, usize, usize) {
    let dir = cache().join("images");
    let size =
        std::fs::read_to_string(dir.join(format!("{name}.size"))).expect("run `cargo xtask setup`");
    let (w, h) = size.trim().split_once('x').unwrap();
    let (w, h): (usize, usize) = (w.parse().unwrap(), h.parse().unwrap());
    let rgb = std::fs::read(dir.join(format!("{name}.rgb"))).unwrap();
    assert_eq!(rgb.len(), w * h * 3);
    (rgb, w, h)
}
