//! Batched object detection for rtsp-worker: one detector call for a whole batch of frames
//! from many streams, detections per frame back.
//!
//! Of the workspace it knows gpu-decode's frames and letterbox only, never the ingest, the
//! batcher or the tracker, not even in its tests (tidy's `LAYERS`).
//!
//! - [`ModelRepository`]: models by id on ONNX Runtime (loaded at run time from the library
//!   `cargo xtask setup` provides, or `ORT_DYLIB_PATH`), several execution contexts per model.
//! - [`yolo`]: post-processing for Ultralytics-style detectors (v8/v11/v12): confidence
//!   threshold, class-aware NMS, boxes mapped back through the letterbox.
//! - [`Detector`]: frames in (letterboxed with `gpu-decode`), [`Detection`]s out.
//!
//! # Crate features
//!
//! - `tensorrt`: compiles ONNX Runtime's TensorRT and CUDA execution providers in (the host
//!   provides TensorRT 10, CUDA and cuDNN at run time).

#![warn(missing_docs)]

mod detector;
mod error;
mod repository;
mod runtime;
pub mod yolo;

pub use crate::detector::{Detector, DetectorOptions};
pub use crate::error::Error;
#[cfg(feature = "tensorrt")]
pub use crate::repository::TensorRtOptions;
pub use crate::repository::{
    BatchOutput, ModelInfo, ModelRepository, OutputLayout, Provider, TensorMemory,
};
pub use crate::runtime::{cache_dir, default_library_path, environment};
pub use crate::yolo::Detection;
