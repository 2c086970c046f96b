//! The shared pipeline as the command line asks for it: the engine arguments (the manager is
//! built from them by `service::engine`), and the status line on stderr.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::Args;
use rtsp_worker::{StreamConnectionManager, TrackerKind};
use service::{engine, output};
use tokio::task::JoinHandle;

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

impl EngineArgs {
    /// The flags as the service takes them.
    pub(crate) fn flags(&self) -> engine::Flags {
        let a = self.clone();
        engine::Flags {
            model: a.model,
            device: a.device,
            batch_size: a.batch_size,
            force_timeout: a.force_timeout,
            in_flight: a.in_flight,
            threads: a.threads,
            tracker: a.tracker,
            track_trust: a.track_trust,
            track_lost_frames: a.track_lost_frames,
            confidence: a.confidence,
            stand_in_detector: a.stand_in_detector,
        }
    }
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
