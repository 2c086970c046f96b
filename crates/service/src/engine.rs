//! The shared pipeline as the operator asks for it: the manager built from the command
//! line's engine flags, the cameras file's `[engine]` filling what they leave unset, the rest
//! chosen for the device; with a clear message for what users hit first (no model, no ONNX
//! Runtime, a device that cannot be used).

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use rtsp_worker::{Device, StreamConnectionManager, TrackerKind};

use crate::{Error, config};

/// Settings of the shared pipeline as the command line gives them (`run` and `demo` flatten
/// them into their flags); unset ones come from the config file's `[engine]`, then are chosen
/// for the device.
#[derive(Debug, Clone, Default, clap::Args)]
#[group(id = "engine")]
pub struct Flags {
    /// The detector (an Ultralytics-style YOLO ONNX file) [default: the provisioned YOLOv12n]
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// cpu, cuda or cuda:N [default: cpu]
    #[arg(long)]
    pub device: Option<String>,
    /// Frames per detector call [default: 1 on the CPU, 16 on a GPU]
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Milliseconds the oldest frame waits for its batch to fill [default: 10]
    #[arg(long)]
    pub force_timeout: Option<u64>,
    /// Batches run at once [default: 1 on the CPU, 2 on a GPU]
    #[arg(long)]
    pub in_flight: Option<usize>,
    /// ONNX Runtime threads per batch [default: the cores, on the CPU]
    #[arg(long)]
    pub threads: Option<usize>,
    /// The tracker: bytetrack, sort or iou [default: bytetrack]
    #[arg(long, value_parser = TrackerKind::from_str)]
    pub tracker: Option<TrackerKind>,
    /// A confirmed track is reported as such once a detection at least this confident matched
    /// it; until then it is followed but reported as tentative (0: no such condition)
    /// [default: 0.7]
    #[arg(long, value_name = "SCORE")]
    pub track_trust: Option<f32>,
    /// A lost track (the detector missed it) is shown at its predicted box for this many
    /// camera frames after its last match, then hidden until found again or ended (0: only
    /// tracks matched on the frame) [default: 8]
    #[arg(long, value_name = "FRAMES")]
    pub track_lost_frames: Option<u32>,
    /// Report detections at or above this score [default: 0.25]
    #[arg(long)]
    pub confidence: Option<f32>,
    /// Send each camera's pictures to the detector at most this many times a second, and
    /// decode only what leads to them (a camera's own detect_fps in the cameras file or the
    /// HTTP API wins) [default: as often as the detector can]
    #[arg(long, value_name = "FPS")]
    pub detect_fps: Option<f64>,
    /// Cameras whose share of the detector is small decode only what leads to the pictures
    /// they get: more frames processed when decoding is the limit, a longer latency tail
    /// (docs/RESULTS.md, "Decoding less") [default: every camera decodes every frame]
    #[arg(long)]
    pub adaptive_decoding: bool,
    /// Threads the cameras' decoding shares (0: a thread of each camera's own, the way
    /// before; docs/BENCHMARKS.md, "The host's share at a GPU's scale") [default: one per
    /// core]
    #[arg(long, value_name = "N")]
    pub decode_workers: Option<usize>,
    /// Without --model: the provisioned model with a 640x384 input, for 16:9 cameras (the
    /// detector 1.4x faster on a CPU, 99% of the square model's persons; other shapes lose
    /// resolution) [default: the square 640x640 model]
    #[arg(long)]
    pub wide_input: bool,
    /// A folder of models the HTTP API may swap to while the cameras run (POST
    /// /api/v1/model with a file name in it); without it the API cannot swap models
    #[arg(long, value_name = "DIR")]
    pub model_dir: Option<PathBuf>,
    /// Benchmarks only: no model; each batch takes this many milliseconds and every frame
    /// gets one fixed box (measures everything around the detector)
    #[arg(long, value_name = "MS", hide = true)]
    pub stand_in_detector: Option<f64>,
}

/// The manager for the engine arguments (the config file's `[engine]` filling what they
/// leave unset), with a clear message for what users hit first.
pub async fn manager(
    args: &Flags,
    file: &config::Engine,
    snapshots: bool,
    allow_file_urls: bool,
) -> Result<StreamConnectionManager, Error> {
    let device: Device = args
        .device
        .as_deref()
        .or(file.device.as_deref())
        .unwrap_or("cpu")
        .parse()
        .map_err(|e: rtsp_worker::Error| Error::usage(e.to_string()))?;
    let mut tracker = rtsp_worker::default_tracker();
    let kind = match (args.tracker, file.tracker.as_deref()) {
        (Some(kind), _) => kind,
        (None, None) => TrackerKind::ByteTrack,
        (None, Some(name)) => name
            .parse()
            .map_err(|e: rtsp_worker::TrackerError| Error::usage(format!("[engine] {e}")))?,
    };
    tracker.kind = kind;
    if let Some(trust) = args.track_trust.or(file.track_trust) {
        if !(0.0..=1.0).contains(&trust) {
            return Err(Error::usage(format!(
                "track trust {trust} is not between 0 and 1"
            )));
        }
        tracker.trust_score = trust;
    }
    if let Some(frames) = args.track_lost_frames.or(file.track_lost_frames) {
        tracker.reporting.lost_frames = frames;
    }
    let mut b = StreamConnectionManager::builder()
        .device(device)
        .tracker(tracker)
        .confidence(args.confidence.or(file.confidence).unwrap_or(0.25))
        .detect_fps(args.detect_fps.or(file.detect_fps))
        .adaptive_decoding(args.adaptive_decoding)
        .wide_input(args.wide_input || file.wide_input.unwrap_or(false))
        .allow_file_urls(allow_file_urls);
    if snapshots {
        // Five live-view frames a second at most per stream.
        b = b.snapshot_interval(Some(Duration::from_millis(200)));
    }
    if let Some(m) = args.model.as_ref().or(file.model.as_ref()) {
        b = b.model(m);
    }
    if let Some(n) = args.decode_workers.or(file.decode_workers) {
        b = b.decode_workers(n);
    }
    if let Some(n) = args.batch_size.or(file.batch_size) {
        b = b.batch_size(n);
    }
    if let Some(ms) = args.force_timeout {
        b = b.force_timeout(Duration::from_millis(ms));
    }
    if let Some(n) = args.in_flight {
        b = b.batches_in_flight(n);
    }
    if let Some(n) = args.threads {
        b = b.intra_op_threads(n);
    }
    if let Some(ms) = args.stand_in_detector {
        if !(ms.is_finite() && ms >= 0.0) {
            return Err(Error::usage("--stand-in-detector takes milliseconds"));
        }
        b = b.stand_in_detector(Duration::from_secs_f64(ms / 1e3));
    }
    b.build().await.map_err(|e| match &e {
        rtsp_worker::Error::InvalidConfig { .. } => Error::usage(e.to_string()),
        rtsp_worker::Error::ModelNotFound { .. } | rtsp_worker::Error::DeviceUnavailable { .. } => {
            Error::provision(e.to_string())
        }
        rtsp_worker::Error::Model(infer_err) => {
            let hint = match infer_err {
                rtsp_worker::InferError::Runtime { .. } => {
                    " (the ONNX Runtime library: run `cargo xtask setup`, or set ORT_DYLIB_PATH)"
                }
                _ => "",
            };
            Error::provision(format!("{e}{hint}"))
        }
        _ => Error::unexpected(e.to_string()),
    })
}

/// `--model-dir` (else the file's `model_dir`), checked to be a folder.
pub fn model_dir(args: &Flags, file: &config::Engine) -> Result<Option<PathBuf>, Error> {
    match args.model_dir.as_ref().or(file.model_dir.as_ref()) {
        Some(dir) if dir.is_dir() => Ok(Some(dir.clone())),
        Some(dir) => Err(Error::usage(format!(
            "--model-dir {}: not a folder",
            dir.display()
        ))),
        None => Ok(None),
    }
}
