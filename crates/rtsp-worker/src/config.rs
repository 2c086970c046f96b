//! Settings: the manager's builder (device, model, batching, tracker, decoder) with defaults
//! chosen per device, and the options of one stream (camera, credentials, callbacks).

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use rtsp_ingest::{Credentials, Transport};
use tracker::{TrackerConfig, TrackerKind};

use crate::{Error, StreamEvent, TrackingResult};

/// Where inference (and, with NVDEC, decoding) runs. One manager per device; several GPUs
/// take one manager each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Device {
    /// ONNX Runtime's CPU provider, FFmpeg decoding.
    #[default]
    Cpu,
    /// NVIDIA GPU `n`: TensorRT (feature `tensorrt`), NVDEC where it loads (feature `nvdec`).
    Cuda(usize),
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for Device {
    type Err = Error;

    /// `cpu`, `cuda` (GPU 0) or `cuda:N`.
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidConfig {
            field: "device",
            problem: format!("{s:?} is not `cpu`, `cuda` or `cuda:N`"),
        };
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(bad),
        }
    }
}

/// Which decoder a stream uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DecoderBackend {
    /// NVDEC on a CUDA device where it loads (features `nvdec` and `tensorrt`), else FFmpeg.
    #[default]
    Auto,
    /// FFmpeg on the CPU.
    Ffmpeg,
    /// NVDEC (feature `nvdec`); a stream whose decoder cannot start ends with the error.
    Nvdec,
}

/// The provisioned default model: `$RTSP_WORKER_MODEL_DYNAMIC` if set, else
/// `yolov12n-dynamic.onnx` (YOLOv12n with a dynamic batch, made by `cargo xtask setup`) in
/// the cache ([`cache_dir`](crate::cache_dir)).
pub fn default_model_path() -> PathBuf {
    if let Some(p) = std::env::var_os("RTSP_WORKER_MODEL_DYNAMIC").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    infer_trt::cache_dir().join("models/yolov12n-dynamic.onnx")
}

/// The provisioned model for wide (16:9) cameras: `$RTSP_WORKER_MODEL_WIDE` if set, else
/// `yolov12n-640x384-dynamic.onnx` in the cache (the default model with a 640×384 input, made
/// by `cargo xtask setup`). On 720p pedestrian clips it finds 99% of the persons the square
/// model finds at confidence ≥ 0.5, 1.4× faster on the CPU (`docs/BENCHMARKS.md`).
pub fn wide_model_path() -> PathBuf {
    if let Some(p) = std::env::var_os("RTSP_WORKER_MODEL_WIDE").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    infer_trt::cache_dir().join("models/yolov12n-640x384-dynamic.onnx")
}

/// The `detect_fps` a stream may have: from one picture every 1,000 s to 1,000 a second
/// (outside, the interval between pictures is zero or does not fit a `Duration`; NaN is in
/// no range). Every place that takes one checks it against this.
pub const DETECT_FPS: std::ops::RangeInclusive<f64> = 0.001..=1000.0;

/// What is said of a `detect_fps` outside [`DETECT_FPS`].
pub(crate) const DETECT_FPS_PROBLEM: &str =
    "must be a number of frames per second from 0.001 to 1000";

/// The tracker the manager uses unless told otherwise: [`TrackerConfig::recommended`]
/// (ByteTrack with the settings `cargo xtask track-eval` found best against the Python
/// trackers; `docs/TRACKING.md`).
pub fn default_tracker() -> TrackerConfig {
    TrackerConfig::recommended()
}

/// Builds a [`StreamConnectionManager`](crate::StreamConnectionManager); every setter is
/// optional, and what is not set is chosen for the device (see each setter).
#[derive(Debug, Clone)]
pub struct ManagerBuilder {
    pub(crate) device: Device,
    pub(crate) model: Option<PathBuf>,
    pub(crate) batch_size: Option<usize>,
    pub(crate) force_timeout: Option<Duration>,
    pub(crate) batches_in_flight: Option<usize>,
    pub(crate) intra_op_threads: Option<usize>,
    pub(crate) tracker: TrackerConfig,
    pub(crate) decoder: DecoderBackend,
    pub(crate) result_queue: usize,
    pub(crate) max_streams: usize,
    pub(crate) confidence: f32,
    pub(crate) report_tentative: bool,
    pub(crate) decode_nice: Option<i32>,
    pub(crate) decode_workers: Option<usize>,
    pub(crate) adaptive_decoding: bool,
    pub(crate) detect_fps: Option<f64>,
    pub(crate) wide_input: bool,
    pub(crate) snapshot_interval: Option<Duration>,
    pub(crate) stand_in: Option<Duration>,
    pub(crate) stand_in_decoder: bool,
    pub(crate) convert_at_decode: bool,
    pub(crate) allow_file_urls: bool,
}

impl Default for ManagerBuilder {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            model: None,
            batch_size: None,
            force_timeout: None,
            batches_in_flight: None,
            intra_op_threads: None,
            tracker: default_tracker(),
            decoder: DecoderBackend::Auto,
            result_queue: 32,
            max_streams: 256,
            confidence: 0.25,
            report_tentative: false,
            decode_nice: None,
            decode_workers: None,
            adaptive_decoding: false,
            detect_fps: None,
            wide_input: false,
            snapshot_interval: None,
            stand_in: None,
            stand_in_decoder: false,
            convert_at_decode: false,
            allow_file_urls: false,
        }
    }
}

impl ManagerBuilder {
    /// **Benchmarks only.** No model: every batch takes `cost` (a sleep, as a GPU detector
    /// costs the CPU little) and every frame gets one fixed "person" box. It measures what is
    /// around the detector (ingest, decode, batching, tracking, outputs, a fleet) at camera
    /// counts a real detector could not serve here; its results are not detections.
    pub fn stand_in_detector(mut self, cost: Duration) -> Self {
        self.stand_in = Some(cost);
        self
    }

    /// **Benchmarks only.** No decoding: each access unit becomes a tiny grey picture at once
    /// (what is left to the host when a GPU decodes). With
    /// [`stand_in_detector`](Self::stand_in_detector), it measures the host's own cost per
    /// frame (`cargo xtask bench e2e --host`); its results are not detections.
    #[doc(hidden)]
    pub fn stand_in_decoder(mut self, yes: bool) -> Self {
        self.stand_in_decoder = yes;
        self
    }

    /// **Benchmarks only.** Scale every decoded picture for the detector as it leaves the
    /// decoder, as before issue 26, instead of only those the batcher dispatches: the
    /// reference `cargo xtask bench e2e` measures the deferred conversion against.
    #[doc(hidden)]
    pub fn convert_at_decode(mut self, yes: bool) -> Self {
        self.convert_at_decode = yes;
        self
    }

    /// Whether `connect_stream` takes `file:///clip.h264` URLs, which replay a clip from this
    /// machine's disk (default `false`: [`Error::FileUrlRefused`]). Turn it on only where
    /// every caller that can name a URL is trusted with the machine's files: tests,
    /// benchmarks, an operator's own command line.
    pub fn allow_file_urls(mut self, yes: bool) -> Self {
        self.allow_file_urls = yes;
        self
    }

    /// The device (default [`Device::Cpu`]).
    pub fn device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// The detector, an Ultralytics-style YOLO ONNX file (default: [`default_model_path`]).
    pub fn model(mut self, path: impl Into<PathBuf>) -> Self {
        self.model = Some(path.into());
        self
    }

    /// Frames per detector call, at most. Default: 1 on the CPU (a batch of n costs n times
    /// one image there, so batching only adds waiting; see `docs/DECISIONS.md`), 16 on a GPU.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = Some(n);
        self
    }

    /// How long the oldest waiting frame may wait for its batch to fill while the detector
    /// is free. Default 10 ms (with batch 1 nothing waits for a batch).
    pub fn force_timeout(mut self, timeout: Duration) -> Self {
        self.force_timeout = Some(timeout);
        self
    }

    /// Batches run at once: execution contexts, each with its thread. Default: 1 on the CPU
    /// (one context with every core beats two with half each; see `docs/DECISIONS.md`), 2 on
    /// a GPU (one batch is prepared while the other runs).
    pub fn batches_in_flight(mut self, n: usize) -> Self {
        self.batches_in_flight = Some(n);
        self
    }

    /// ONNX Runtime intra-op threads per context. Default: on the CPU, the cores available
    /// divided by the contexts; on a GPU, 1.
    pub fn intra_op_threads(mut self, n: usize) -> Self {
        self.intra_op_threads = Some(n);
        self
    }

    /// The tracker and its settings (default [`default_tracker`]: ByteTrack).
    pub fn tracker(mut self, config: TrackerConfig) -> Self {
        self.tracker = config;
        self
    }

    /// The decoder (default [`DecoderBackend::Auto`]).
    pub fn decoder(mut self, backend: DecoderBackend) -> Self {
        self.decoder = backend;
        self
    }

    /// Events (results and lifecycle) each stream keeps for a consumer that falls behind
    /// before the oldest results are dropped, counted as `consumer_too_slow` (default 32; a
    /// stream may set its own with [`StreamOptions::result_queue`]).
    pub fn result_queue(mut self, n: usize) -> Self {
        self.result_queue = n;
        self
    }

    /// Streams the manager takes at once (default 256): the bound on frames waiting for the
    /// detector, one per stream.
    pub fn max_streams(mut self, n: usize) -> Self {
        self.max_streams = n;
        self
    }

    /// Detections at or above this score are reported (default 0.25). The tracker also sees
    /// weaker ones, down to its own low threshold (ByteTrack's second stage).
    pub fn confidence(mut self, threshold: f32) -> Self {
        self.confidence = threshold;
        self
    }

    /// How much lower than the detector the decode threads run (Linux `nice` steps, 0 to
    /// 19). Default: 0 with the shared decode pool (the default, see
    /// [`decode_workers`](Self::decode_workers)) and on a GPU; 5 with a thread per stream on
    /// the CPU, where a dozen decode threads would otherwise preempt the detector's threads
    /// mid-operation (measured: the detector's time per image in the pipeline drops from
    /// ~125 to ~100 ms at one 25 fps stream).
    pub fn decode_nice(mut self, steps: i32) -> Self {
        self.decode_nice = Some(steps);
        self
    }

    /// Where the streams' decode loops run: `n` (default: one per core), a pool of `n`
    /// threads that all streams share, each stream a task on it, its frames still in order;
    /// `0`, a thread of each stream's own (the way before). Measured in `docs/BENCHMARKS.md`:
    /// where decoding leaves the CPU (a GPU) a frame then wakes a busy worker instead of a
    /// sleeping thread, halving the host's CPU per frame at 1,000 cameras; on two CPU cores
    /// the pool (at nice 0) took the detector's cores less often than a thread per stream
    /// (at nice 5) and gave 9–23% more processed frames at 4 cameras, about as many at 8
    /// and 16. Pools are shared by every manager of the process with the same size and
    /// [`decode_nice`](Self::decode_nice), and live as long as it.
    pub fn decode_workers(mut self, threads: usize) -> Self {
        self.decode_workers = Some(threads);
        self
    }

    /// Decode less of a camera whose share of the detector is small (default off): once it
    /// gets under a quarter of its frames detected, it decodes only what leads to the
    /// pictures the detector will take — the start of each group of pictures up to the next
    /// one due, or keyframes alone — at 1.5× the rate it has been getting, and goes back to
    /// decoding everything when that rate reaches half its frame rate. Every decoded picture
    /// still goes to the batcher (newest wins); skipped frames are counted (`not_decoded`);
    /// the mode is in the stream's stats. A trade, measured in `docs/BENCHMARKS.md`: more
    /// frames processed when decoding is what limits (16 cameras on 2 cores: +23%), at the
    /// cost of tail latency and fairness (pictures at the end of a group of pictures wait
    /// for the next keyframe). See [`StreamOptions::detect_fps`] for a fixed rate.
    pub fn adaptive_decoding(mut self, yes: bool) -> Self {
        self.adaptive_decoding = yes;
        self
    }

    /// Without [`model`](Self::model): the provisioned model with a 640×384 input
    /// ([`wide_model_path`]) instead of the square 640×640 one (default false). For 16:9
    /// cameras: no padding computed, the detector 1.4× faster on the CPU, 99% of the square
    /// model's persons found; other cameras are letterboxed into it with less resolution (4:3:
    /// 96% of the persons).
    pub fn wide_input(mut self, yes: bool) -> Self {
        self.wide_input = yes;
        self
    }

    /// The [`StreamOptions::detect_fps`] of streams that do not set their own (default
    /// `None`: no cap).
    pub fn detect_fps(mut self, fps: Option<f64>) -> Self {
        self.detect_fps = fps;
        self
    }

    /// Keep each stream's latest processed frame, at most one copy per `interval`, for
    /// [`StreamConnection::snapshot`](crate::StreamConnection::snapshot) (an annotated JPEG;
    /// default `None`: no copies). The copy is of the decoder's output, already scaled to the
    /// model's input; frames decoded by NVDEC stay on the GPU and have no snapshot.
    pub fn snapshot_interval(mut self, interval: Option<Duration>) -> Self {
        self.snapshot_interval = interval;
        self
    }

    /// Also report tentative tracks (not yet confirmed) in `tracked_objects` (default false;
    /// the same as the tracker's [`Reporting::tentative`](tracker::Reporting::tentative)).
    pub fn report_tentative(mut self, yes: bool) -> Self {
        self.report_tentative = yes;
        self
    }

    /// The batching the manager will use: what was set, and the device's defaults for the
    /// rest (for benchmarks and status output that want to show or mirror it).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] as [`build`](Self::build) would return it.
    pub fn batching(&self) -> Result<Batching, Error> {
        let s = self.resolve()?;
        Ok(Batching {
            batch_size: s.batch_size,
            force_timeout: s.force_timeout,
            batches_in_flight: s.in_flight,
            intra_op_threads: s.threads,
        })
    }

    /// The settings with the device's defaults filled in, checked.
    pub(crate) fn resolve(&self) -> Result<Settings, Error> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let gpu = matches!(self.device, Device::Cuda(_));
        let batch_size = self.batch_size.unwrap_or(if gpu { 16 } else { 1 });
        let in_flight = self.batches_in_flight.unwrap_or(if gpu { 2 } else { 1 });
        let threads =
            self.intra_op_threads
                .unwrap_or(if gpu { 1 } else { (cores / in_flight).max(1) });
        let invalid = |field, problem: &str| {
            Err(Error::InvalidConfig {
                field,
                problem: problem.to_owned(),
            })
        };
        if let Some(fps) = self.detect_fps
            && !DETECT_FPS.contains(&fps)
        {
            return invalid("detect_fps", DETECT_FPS_PROBLEM);
        }
        if batch_size == 0 {
            return invalid("batch_size", "must be at least 1");
        }
        if in_flight == 0 {
            return invalid("batches_in_flight", "must be at least 1");
        }
        if threads == 0 {
            return invalid("intra_op_threads", "must be at least 1");
        }
        if self.result_queue == 0 {
            return invalid("result_queue", "must be at least 1");
        }
        if self.max_streams == 0 {
            return invalid("max_streams", "must be at least 1");
        }
        if !(0.0..=1.0).contains(&self.confidence) {
            return invalid("confidence", "must be between 0 and 1");
        }
        let decode_workers = match self.decode_workers {
            Some(n) if n > 1024 => return invalid("decode_workers", "must be at most 1024"),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(2, |n| n.get()),
        };
        let decode_nice = self
            .decode_nice
            .unwrap_or(if gpu || decode_workers > 0 { 0 } else { 5 });
        if !(0..=19).contains(&decode_nice) {
            return invalid("decode_nice", "must be between 0 and 19");
        }
        let tracker_low = match self.tracker.kind {
            TrackerKind::ByteTrack => self.tracker.bytetrack.low,
            _ => self.confidence,
        };
        let mut tracker = self.tracker;
        tracker.reporting.tentative |= self.report_tentative;
        Ok(Settings {
            device: self.device,
            model: self.model.clone().unwrap_or_else(if self.wide_input {
                wide_model_path
            } else {
                default_model_path
            }),
            batch_size,
            force_timeout: self.force_timeout.unwrap_or(Duration::from_millis(10)),
            in_flight,
            threads,
            tracker,
            decoder: self.decoder,
            result_queue: self.result_queue,
            max_streams: self.max_streams,
            confidence: self.confidence,
            detector_threshold: self.confidence.min(tracker_low),
            decode_nice,
            decode_workers,
            adaptive_decoding: self.adaptive_decoding,
            detect_fps: self.detect_fps,
            snapshot_interval: self.snapshot_interval,
            stand_in: self.stand_in,
            stand_in_decoder: self.stand_in_decoder,
            convert_at_decode: self.convert_at_decode,
            allow_file_urls: self.allow_file_urls,
        })
    }
}

/// How the manager batches and runs the detector, defaults resolved
/// ([`ManagerBuilder::batching`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    /// Frames per detector call, at most.
    pub batch_size: usize,
    /// How long the oldest frame waits for its batch to fill.
    pub force_timeout: Duration,
    /// Batches run at once (execution contexts).
    pub batches_in_flight: usize,
    /// ONNX Runtime intra-op threads per context.
    pub intra_op_threads: usize,
}

/// The builder's settings, defaults resolved.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) device: Device,
    pub(crate) model: PathBuf,
    pub(crate) batch_size: usize,
    pub(crate) force_timeout: Duration,
    pub(crate) in_flight: usize,
    pub(crate) threads: usize,
    pub(crate) tracker: TrackerConfig,
    pub(crate) decoder: DecoderBackend,
    pub(crate) result_queue: usize,
    pub(crate) max_streams: usize,
    pub(crate) confidence: f32,
    pub(crate) detector_threshold: f32,
    pub(crate) decode_nice: i32,
    /// 0: a thread per stream; else the size of the shared decode pool.
    pub(crate) decode_workers: usize,
    pub(crate) adaptive_decoding: bool,
    pub(crate) detect_fps: Option<f64>,
    pub(crate) snapshot_interval: Option<Duration>,
    /// A fixed-cost stand-in instead of the model (benchmarks only).
    pub(crate) stand_in: Option<Duration>,
    /// Each unit a tiny picture at once instead of decoding (benchmarks only).
    pub(crate) stand_in_decoder: bool,
    /// Scale at decode rather than at dispatch (benchmarks only).
    pub(crate) convert_at_decode: bool,
    pub(crate) allow_file_urls: bool,
}

/// A user callback, plain or async.
pub(crate) enum Callback<T> {
    Sync(Arc<dyn Fn(T) + Send + Sync>),
    Async(Arc<dyn Fn(T) -> BoxFuture<'static, ()> + Send + Sync>),
}

impl<T> Clone for Callback<T> {
    fn clone(&self) -> Self {
        match self {
            Self::Sync(f) => Self::Sync(f.clone()),
            Self::Async(f) => Self::Async(f.clone()),
        }
    }
}

/// How one camera is connected and how its output is consumed. Every setter is optional.
///
/// A stream's output (results and lifecycle events, in order) is one bounded queue. Consume
/// it one way: with callbacks set here, or through the [`StreamConnection`](crate::StreamConnection)
/// (`tracking_results()`, `events()`, `queue()`). A consumer that falls behind loses the
/// oldest results, counted; it never slows the pipeline or other streams.
#[derive(Clone, Default)]
pub struct StreamOptions {
    pub(crate) id: Option<String>,
    pub(crate) transport: Transport,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) stall_timeout: Option<Duration>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) give_up_after: Option<u32>,
    pub(crate) give_up_after_unauthorized: Option<Option<u32>>,
    pub(crate) result_queue: Option<usize>,
    pub(crate) scene: Option<zones::Scene>,
    pub(crate) first_track_id: u64,
    pub(crate) keep_frames: bool,
    pub(crate) detect_fps: Option<f64>,
    pub(crate) resume_tracks: Option<crate::TrackSnapshot>,
    pub(crate) on_result: Option<Callback<TrackingResult>>,
    pub(crate) on_event: Option<Callback<StreamEvent>>,
}

impl fmt::Debug for StreamOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamOptions")
            .field("id", &self.id)
            .field("transport", &self.transport)
            .field("credentials", &self.credentials.as_ref().map(|_| "***"))
            .field("stall_timeout", &self.stall_timeout)
            .field("give_up_after", &self.give_up_after)
            .field("result_queue", &self.result_queue)
            .field("scene", &self.scene)
            .field("first_track_id", &self.first_track_id)
            .field("keep_frames", &self.keep_frames)
            .field("detect_fps", &self.detect_fps)
            .field("resume_tracks", &self.resume_tracks)
            .field("on_result", &self.on_result.is_some())
            .field("on_event", &self.on_event.is_some())
            .finish_non_exhaustive()
    }
}

impl StreamOptions {
    /// Default options: an id made up by the manager (`stream_0`, `stream_1`, …), transport
    /// `Auto`, no callbacks.
    pub fn new() -> Self {
        Self::default()
    }

    /// The stream's id (default `stream_N`). Ids are unique within a manager.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// [`Transport::Auto`] (default: TCP, falling back to UDP), `Tcp` or `Udp`.
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Credentials for cameras that ask, if they are not in the URL (credentials in the URL
    /// win). They never appear in logs, errors, stats or events.
    pub fn credentials(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some(Credentials {
            username: username.into(),
            password: password.into(),
        });
        self
    }

    /// No frame for this long is a stall: the stream reconnects (default 5 s).
    pub fn stall_timeout(mut self, timeout: Duration) -> Self {
        self.stall_timeout = Some(timeout);
        self
    }

    /// Limit on each connection step (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// End the stream after this many failed connection attempts in a row (default `None`:
    /// reconnect forever; a camera that comes back is picked up again).
    pub fn give_up_after(mut self, attempts: Option<u32>) -> Self {
        self.give_up_after = attempts;
        self
    }

    /// End the stream after this many `401 Unauthorized` answers in a row (default 3: a
    /// camera half-way up may answer 401 once, wrong credentials do every time). `None`
    /// treats 401 like any other failure.
    pub fn give_up_after_unauthorized(mut self, attempts: Option<u32>) -> Self {
        self.give_up_after_unauthorized = Some(attempts);
        self
    }

    /// Results and events kept for this stream's consumer before the oldest results are
    /// dropped (default: the manager's [`result_queue`](ManagerBuilder::result_queue)).
    pub fn result_queue(mut self, n: usize) -> Self {
        self.result_queue = Some(n);
        self
    }

    /// Zones and counting lines for this camera, in its pixels: each result then says which
    /// zones every tracked object is in, the objects per zone and the crossings per line, and
    /// carries the entries, exits, loitering and crossings of its frame
    /// ([`TrackingResult::zone_events`](crate::TrackingResult::zone_events)). Checked by
    /// `connect_stream`.
    pub fn scene(mut self, scene: zones::Scene) -> Self {
        self.scene = Some(scene);
        self
    }

    /// Track ids of this stream start after `n` (default 0: the first track is 1). A fleet
    /// passes the camera's lease token shifted left by 32 bits, so that ids never collide
    /// across owners of the same camera.
    pub fn first_track_id(mut self, n: u64) -> Self {
        self.first_track_id = n;
        self
    }

    /// Go on with the tracks of `snapshot` (from [`StreamConnection::track_snapshot`] of an
    /// earlier connection of the same camera, here or on another worker): tracks seen again
    /// within the tracker's `max_age` keep their ids, new ones get ids after every id shown
    /// before, and those that do not come back end as usual. The camera frames between the
    /// snapshot and this connection's first frame are counted by capture time. A snapshot of
    /// another frame size is not used (new tracks, logged).
    ///
    /// [`StreamConnection::track_snapshot`]: crate::StreamConnection::track_snapshot
    pub fn resume_tracks(mut self, snapshot: crate::TrackSnapshot) -> Self {
        self.resume_tracks = Some(snapshot);
        self
    }

    /// Attach each result's picture ([`TrackingResult::frame`](crate::TrackingResult::frame)):
    /// the decoded frame as the detector saw it (off by default). Costs one copy of the
    /// picture per result (about 350 KB for a 720p camera, which the CPU path decodes at the
    /// model's 640 wide), held as long as the result is; frames decoded by NVDEC stay on the
    /// GPU and are not attached.
    pub fn keep_frames(mut self, yes: bool) -> Self {
        self.keep_frames = yes;
        self
    }

    /// Send this camera's pictures to the detector at most `fps` times per second of its media
    /// time (default `None`: as often as the detector can take them). Frames the detector
    /// will not see are not decoded where nothing needs them: only the start of each group of
    /// pictures up to the next picture due, and at rates below the camera's keyframe rate
    /// only the keyframe nearest each due time. Counted as `not_decoded` (never decoded) or
    /// `rate_limited` (decoded as a reference for a later picture). Checked by
    /// `connect_stream` against [`DETECT_FPS`].
    pub fn detect_fps(mut self, fps: Option<f64>) -> Self {
        self.detect_fps = fps;
        self
    }

    /// Calls `f` with each result, in order, on a thread of the stream's own: a slow `f`
    /// delays only this stream's results (the oldest are dropped, counted).
    pub fn on_result(mut self, f: impl Fn(TrackingResult) + Send + Sync + 'static) -> Self {
        self.on_result = Some(Callback::Sync(Arc::new(f)));
        self
    }

    /// Awaits `f` for each result, in order, on a task of the stream's own (the tokio runtime
    /// of `connect_stream`'s caller).
    pub fn on_result_async<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(TrackingResult) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_result = Some(Callback::Async(Arc::new(move |r| Box::pin(f(r)))));
        self
    }

    /// Calls `f` with each lifecycle event (connecting, connected, stalled, reconnecting
    /// with its error, ended with its reason), in order with the results.
    pub fn on_event(mut self, f: impl Fn(StreamEvent) + Send + Sync + 'static) -> Self {
        self.on_event = Some(Callback::Sync(Arc::new(f)));
        self
    }

    /// Like [`on_event`](Self::on_event), awaited on a task.
    pub fn on_event_async<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(StreamEvent) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_event = Some(Callback::Async(Arc::new(move |e| Box::pin(f(e)))));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_print() {
        assert_eq!("cpu".parse::<Device>().unwrap(), Device::Cpu);
        assert_eq!("cuda".parse::<Device>().unwrap(), Device::Cuda(0));
        assert_eq!("CUDA:3".parse::<Device>().unwrap(), Device::Cuda(3));
        assert!("tpu".parse::<Device>().is_err());
        assert_eq!(Device::Cuda(1).to_string(), "cuda:1");
    }

    #[test]
    fn defaults_follow_the_device_and_bad_settings_are_refused() {
        let cpu = ManagerBuilder::default().resolve().unwrap();
        assert_eq!((cpu.batch_size, cpu.in_flight), (1, 1));
        assert!(cpu.threads >= 1);
        assert!(
            (cpu.detector_threshold - 0.1).abs() < 1e-6,
            "ByteTrack sees weak boxes"
        );
        let gpu = ManagerBuilder::default()
            .device(Device::Cuda(0))
            .resolve()
            .unwrap();
        assert_eq!((gpu.batch_size, gpu.in_flight, gpu.threads), (16, 2, 1));
        let e = ManagerBuilder::default()
            .batch_size(0)
            .resolve()
            .unwrap_err();
        assert_eq!(e.kind(), "invalid_config");
        assert!(ManagerBuilder::default().confidence(1.5).resolve().is_err());
        for fps in [0.0, 1e-300, f64::NAN, 1e6] {
            let e = ManagerBuilder::default()
                .detect_fps(Some(fps))
                .resolve()
                .unwrap_err();
            assert_eq!(e.kind(), "invalid_config", "{fps}");
        }
    }

    #[test]
    fn options_never_show_the_password() {
        let o = StreamOptions::new().credentials("admin", "hunter2");
        assert!(!format!("{o:?}").contains("hunter2"));
    }
}
