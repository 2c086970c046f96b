//! rtsp-worker: many RTSP cameras in, detections and tracks out, every frame accounted for.
//!
//! The one crate that knows every pipeline crate; nothing above it (the service, the fleet, the
//! binary, the Python package) is known to it (tidy's `LAYERS`).
//!
//! The facade over the pipeline's crates: [`StreamConnectionManager`] owns one shared batcher
//! and detector; each camera added with
//! [`connect_stream`](StreamConnectionManager::connect_stream) gets its own session
//! (rtsp-ingest: reconnects, typed errors), decoder (FFmpeg, or NVDEC on a GPU), and tracker
//! (ByteTrack by default), and its own bounded output. The cameras meet in the batcher, where
//! the newest frame of each camera wins: a camera never has a stale frame waiting, so latency
//! stays one detector call deep whatever the load, and a camera sending a newer frame keeps
//! its turn.
//!
//! Results ([`TrackingResult`]) come out per stream in frame order, with the stream's
//! lifecycle ([`StreamEvent`]) in order with them, three ways, as in the design this project
//! started from: callbacks ([`StreamOptions::on_result`], sync or async), an async
//! `Stream` ([`StreamConnection::tracking_results`]), or a queue
//! ([`StreamConnection::queue`]). A consumer that falls behind loses its own oldest results,
//! counted; it never slows the detector or other cameras.
//!
//! Every frame a camera sends is accounted for ([`Accounting`]): `received == results +
//! dropped (by reason) + in pipeline`, per stream, in [`StreamConnectionManager::get_stats`].
//!
//! ```no_run
//! # async fn run() -> Result<(), rtsp_worker::Error> {
//! use rtsp_worker::{StreamConnectionManager, StreamOptions};
//!
//! let manager = StreamConnectionManager::builder().build().await?;
//! manager
//!     .connect_stream(
//!         "rtsp://192.0.2.10/stream1",
//!         StreamOptions::new()
//!             .id("door")
//!             .credentials("admin", "secret")
//!             .on_result(|r| {
//!                 for t in &r.tracked_objects {
//!                     println!("{}: track {} {} at {:?}", r.stream_id, t.track_id, t.class_name, t.bbox);
//!                 }
//!             }),
//!     )
//!     .await?;
//! tokio::time::sleep(std::time::Duration::from_secs(60)).await;
//! let stats = manager.shutdown().await; // drains: every frame a result or a counted drop
//! assert!(stats.streams["door"].accounting.balanced());
//! # Ok(()) }
//! ```
//!
//! Several GPUs: one manager per device (`.device(Device::Cuda(n))`), each with its streams.
//!
//! # Crate features
//!
//! - `nvdec`: NVIDIA's hardware decoder and the CUDA letterbox kernel (gpu-decode's `nvdec`
//!   and `cuda`; libraries loaded at run time).
//! - `tensorrt`: inference on TensorRT/CUDA through ONNX Runtime (infer-trt's `tensorrt`).
//!
//! With both and [`Device::Cuda`], frames stay on the GPU from the decoder to the model.
//! Without them the build needs no NVIDIA software, and `Device::Cuda` is a typed error.

#![warn(missing_docs)]

mod config;
mod decode_plan;
mod decode_pool;
mod display;
mod error;
mod gpu;
mod ids;
mod live;
mod manager;
mod outbox;
mod picture;
mod pipeline;
mod reported;
mod result;
mod resume;
mod sequencer;
mod snapshot;
mod stand_in;
mod state;
mod stats;
mod stream;
mod stream_thread;

pub use crate::config::{
    Batching, DETECT_FPS, DecoderBackend, Device, ManagerBuilder, StreamOptions,
    default_model_path, default_tracker, wide_model_path,
};
pub use crate::error::Error;
pub use crate::ids::{
    MAX_STREAM_ID, check_stream_id, free_stream_id, is_file_url, numbered_stream_id,
};
pub use crate::live::LiveStats;
pub use crate::manager::StreamConnectionManager;
pub use crate::picture::FrameImage;
pub use crate::result::{
    DetectedObject, EndReason, SceneCounts, StreamEvent, TrackState, TrackedObject, TrackingResult,
};
pub use crate::resume::TrackSnapshot;
pub use crate::snapshot::Snapshot;
pub use crate::stats::{
    Accounting, BatchTriggers, BatcherStats, DetectorStats, Drops, LatencySummary, ManagerStats,
    ModelStats, StreamState, StreamStats,
};
pub use crate::stream::{LiveView, ResultQueue, StreamConnection};
pub use gpu_decode::Error as DecodeError;
pub use infer_trt::{Error as InferError, cache_dir};
pub use rtsp_ingest::{
    Credentials, Error as CameraError, RedactedUrl, Transport, split_credentials,
};
pub use tracker::{ByteTrackThresholds, Error as TrackerError, TrackerConfig, TrackerKind};
/// Zones and counting lines ([`StreamOptions::scene`]): the `zones` crate.
pub use zones;
