//! The shared pipeline as the operator asks for it: the manager built from the command
//! line's engine flags, the cameras file's `[engine]` filling what they leave unset, the rest
//! chosen for the device; with a clear message for what users hit first (no model, no ONNX
//! Runtime, a device that cannot be used).

use std::path::PathBuf;
use std::time::Duration;

use rtsp_worker::{Device, StreamConnectionManager, TrackerKind};

use crate::{Error, config};

/// What the command line says about the engine (the binary's `EngineArgs`, without clap).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub model: Option<PathBuf>,
    pub device: Option<String>,
    pub batch_size: Option<usize>,
    pub force_timeout: Option<u64>,
    pub in_flight: Option<usize>,
    pub threads: Option<usize>,
    pub tracker: Option<TrackerKind>,
    pub track_trust: Option<f32>,
    pub track_lost_frames: Option<u32>,
    pub confidence: Option<f32>,
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
        .allow_file_urls(allow_file_urls);
    if snapshots {
        // Five live-view frames a second at most per stream.
        b = b.snapshot_interval(Some(Duration::from_millis(200)));
    }
    if let Some(m) = args.model.as_ref().or(file.model.as_ref()) {
        b = b.model(m);
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
