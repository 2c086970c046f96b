//! The shared pipeline as the command line asks for it: the engine arguments, the manager
//! built from them (the config file's `[engine]` filling what they leave unset, with a clear
//! message for what users hit first), and the status line on stderr.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use ::service::config;
use clap::Args;
use rtsp_worker::{Device, Error, StreamConnectionManager, TrackerKind};
use tokio::task::JoinHandle;

use crate::exit::{Exit, Failure};
use crate::output;

/// Settings of the shared pipeline; unset ones come from the config file's `[engine]`, then
/// are chosen for the device.
#[derive(Args, Clone)]
pub(crate) struct EngineArgs {
    /// The detector (an Ultralytics-style YOLO ONNX file) [default: the provisioned YOLOv12n]
    #[arg(long)]
    pub(crate) model: Option<PathBuf>,
    /// cpu, cuda or cuda:N [default: cpu]
    #[arg(long)]
    pub(crate) device: Option<String>,
    /// Frames per detector call [default: 1 on the CPU, 16 on a GPU]
    #[arg(long)]
    pub(crate) batch_size: Option<usize>,
    /// Milliseconds the oldest frame waits for its batch to fill [default: 10]
    #[arg(long)]
    pub(crate) force_timeout: Option<u64>,
    /// Batches run at once [default: 1 on the CPU, 2 on a GPU]
    #[arg(long)]
    pub(crate) in_flight: Option<usize>,
    /// ONNX Runtime threads per batch [default: the cores, on the CPU]
    #[arg(long)]
    pub(crate) threads: Option<usize>,
    /// The tracker: bytetrack, sort or iou [default: bytetrack]
    #[arg(long, value_parser = TrackerKind::from_str)]
    pub(crate) tracker: Option<TrackerKind>,
    /// A confirmed track is reported as such once a detection at least this confident matched
    /// it; until then it is followed but reported as tentative (0: no such condition)
    /// [default: 0.7]
    #[arg(long, value_name = "SCORE")]
    pub(crate) track_trust: Option<f32>,
    /// A lost track (the detector missed it) is shown at its predicted box for this many
    /// camera frames after its last match, then hidden until found again or ended (0: only
    /// tracks matched on the frame) [default: 8]
    #[arg(long, value_name = "FRAMES")]
    pub(crate) track_lost_frames: Option<u32>,
    /// Report detections at or above this score [default: 0.25]
    #[arg(long)]
    pub(crate) confidence: Option<f32>,
    /// Benchmarks only: no model; each batch takes this many milliseconds and every frame
    /// gets one fixed box (measures everything around the detector)
    #[arg(long, value_name = "MS", hide = true)]
    pub(crate) stand_in_detector: Option<f64>,
}

/// The manager for the engine arguments (the config file's `[engine]` filling what they
/// leave unset), with a clear message for what users hit first.
pub(crate) async fn manager(
    args: &EngineArgs,
    file: &config::Engine,
    snapshots: bool,
    allow_file_urls: bool,
) -> Result<StreamConnectionManager, Failure> {
    let device: Device = args
        .device
        .as_deref()
        .or(file.device.as_deref())
        .unwrap_or("cpu")
        .parse()
        .map_err(|e: Error| Failure::new(Exit::Usage, e.to_string()))?;
    let mut tracker = rtsp_worker::default_tracker();
    let kind = match (args.tracker, file.tracker.as_deref()) {
        (Some(kind), _) => kind,
        (None, None) => TrackerKind::ByteTrack,
        (None, Some(name)) => name.parse().map_err(|e: rtsp_worker::TrackerError| {
            Failure::new(Exit::Usage, format!("[engine] {e}"))
        })?,
    };
    tracker.kind = kind;
    if let Some(trust) = args.track_trust.or(file.track_trust) {
        if !(0.0..=1.0).contains(&trust) {
            return Err(Failure::new(
                Exit::Usage,
                format!("track trust {trust} is not between 0 and 1"),
            ));
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
            return Err(Failure::new(
                Exit::Usage,
                "--stand-in-detector takes milliseconds",
            ));
        }
        b = b.stand_in_detector(Duration::from_secs_f64(ms / 1e3));
    }
    b.build().await.map_err(|e| match &e {
        Error::InvalidConfig { .. } => Failure::new(Exit::Usage, e.to_string()),
        Error::ModelNotFound { .. } | Error::DeviceUnavailable { .. } => {
            Failure::new(Exit::Provision, e.to_string())
        }
        Error::Model(infer_err) => {
            let hint = match infer_err {
                rtsp_worker::InferError::Runtime { .. } => {
                    " (the ONNX Runtime library: run `cargo xtask setup`, or set ORT_DYLIB_PATH)"
                }
                _ => "",
            };
            Failure::new(Exit::Provision, format!("{e}{hint}"))
        }
        _ => Failure::new(Exit::Unexpected, e.to_string()),
    })
}

/// The status line on stderr every `every` seconds (0: none).
pub(crate) fn status_lines(
    manager: &StreamConnectionManager,
    every: f64,
) -> Option<JoinHandle<()>> {
    (every > 0.0).then(|| {
        let every = Duration::from_secs_f64(every);
        let manager = manager.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                eprintln!("{}", output::status_line(&manager.get_stats()));
            }
        })
    })
}
