//! The shared stages every stream's frames go through: the batcher where the cameras meet
//! (newest frame of each camera wins), and the inference threads that run each batch through
//! the detector and hand every frame's outcome back to its stream.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use batcher::{Config, DropReason, Dropped, OverflowPolicy, blocking};
use gpu_decode::Frame;
use infer_trt::yolo::Thresholds;
use infer_trt::{Detection, Detector, DetectorOptions, ModelRepository, Provider};
use tracing::{debug, info, warn};

use crate::config::Settings;
use crate::state::{DropKind, FrameMeta, ModelTag, Outcome, StreamCore};
use crate::stats::{BatchTriggers, BatcherStats, DetectorStats, ModelStats, Window};
use crate::{Device, Error};

/// A decoded frame on its way to the detector.
pub(crate) struct Item {
    pub(crate) core: Arc<StreamCore>,
    pub(crate) seq: u64,
    pub(crate) frame: Frame,
    pub(crate) meta: FrameMeta,
}

#[derive(Debug)]
struct DetectorCounters {
    batches: u64,
    images: u64,
    times: Window,
}

/// The model the inference threads run: each batch takes the current one when it starts, so
/// a swap happens between two batches and a batch under way finishes on the model it began
/// with (which is dropped when the last such batch is done).
struct Model {
    det: Det,
    tag: Arc<ModelTag>,
    input_size: (usize, usize),
    about: ModelStats,
}

/// The batcher, the detector and the inference threads, shared by every stream.
pub(crate) struct Pipeline {
    batcher: blocking::Handle<u64, Item>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    counters: Arc<Mutex<DetectorCounters>>,
    current: Arc<Mutex<Arc<Model>>>,
    /// One swap at a time.
    swapping: Mutex<()>,
    pub(crate) settings: Settings,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn provider(settings: &Settings) -> Result<Provider, Error> {
    match settings.device {
        Device::Cpu => Ok(Provider::Cpu),
        #[cfg(feature = "tensorrt")]
        Device::Cuda(n) => Ok(Provider::TensorRt(infer_trt::TensorRtOptions {
            device_id: i32::try_from(n).unwrap_or(0),
            batch: (
                1,
                settings.batch_size.div_ceil(2).max(1),
                settings.batch_size,
            ),
            cache_dir: infer_trt::cache_dir().join("tensorrt"),
            ..infer_trt::TensorRtOptions::default()
        })),
        #[cfg(not(feature = "tensorrt"))]
        Device::Cuda(_) => Err(Error::DeviceUnavailable {
            device: settings.device.to_string(),
            reason: "this build has no GPU inference: build rtsp-worker with the `tensorrt` \
                     feature (and `nvdec` for hardware decoding)"
                .into(),
        }),
    }
}

impl Pipeline {
    /// Loads the model and starts the batcher and the inference threads. Blocking (loading
    /// takes a while): call it off the async workers.
    pub(crate) fn start(settings: Settings) -> Result<Arc<Self>, Error> {
        let model = match settings.stand_in {
            Some(cost) => Model {
                det: Det::StandIn(cost),
                tag: Arc::new(ModelTag {
                    generation: 1,
                    class_names: Arc::new(vec!["person".to_owned()]),
                }),
                input_size: (640, 640),
                about: ModelStats {
                    path: "stand-in".into(),
                    sha256: String::new(),
                    input_width: 640,
                    input_height: 640,
                    classes: 1,
                    generation: 1,
                    swaps: 0,
                },
            },
            None => load(&settings, &settings.model, 1)?,
        };
        let current = Arc::new(Mutex::new(Arc::new(model)));
        let config = Config::builder()
            .batch_size(settings.batch_size)
            .force_timeout(settings.force_timeout)
            .max_in_flight(settings.in_flight)
            // One frame per stream waits at most (newest frame wins), so this never overflows.
            .capacity(settings.max_streams.max(settings.batch_size))
            .overflow(OverflowPolicy::LatestPerKey)
            .max_waiting_per_key(Some(1))
            .build()
            .map_err(|e| Error::InvalidConfig {
                field: "batching",
                problem: e.to_string(),
            })?;
        let on_drop: batcher::DropHandler<u64, Item> = Arc::new(|d: Dropped<u64, Item>| {
            let kind = match d.reason {
                DropReason::Superseded => DropKind::Superseded,
                _ => DropKind::Shutdown,
            };
            let item = d.item.value;
            item.core.resolve(item.seq, Outcome::Dropped(kind));
        });
        let (batcher, batches) =
            blocking::spawn_with(config, Some(on_drop)).map_err(|e| Error::Spawn(e.to_string()))?;
        let batches = Arc::new(batches);
        let counters = Arc::new(Mutex::new(DetectorCounters {
            batches: 0,
            images: 0,
            times: Window::new(512),
        }));
        let mut threads = Vec::new();
        for i in 0..settings.in_flight {
            let batches = batches.clone();
            let current = current.clone();
            let counters = counters.clone();
            let device = settings.device;
            let max_batch = settings.batch_size;
            let t = std::thread::Builder::new()
                .name(format!("rw-infer-{i}"))
                .spawn(move || run_inference(&batches, &current, &counters, device, max_batch))
                .map_err(|e| Error::Spawn(e.to_string()))?;
            threads.push(t);
        }
        Ok(Arc::new(Self {
            batcher,
            threads: Mutex::new(threads),
            counters,
            current,
            swapping: Mutex::new(()),
            settings,
        }))
    }

    fn model(&self) -> Arc<Model> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The current model's tag (for a new stream).
    pub(crate) fn tag(&self) -> Arc<ModelTag> {
        self.model().tag.clone()
    }

    /// The current model's input size (for a new decoder).
    pub(crate) fn input_size(&self) -> (usize, usize) {
        self.model().input_size
    }

    /// The current model, as the statistics show it.
    pub(crate) fn about(&self) -> ModelStats {
        self.model().about.clone()
    }

    /// Loads the model at `path` beside the running one, warms it with one picture, and
    /// makes it the one the next batch runs. Blocking (loading takes a while). The running
    /// model is untouched when anything fails. A model with other classes is refused unless
    /// `restart_tracks`: every stream's tracks then end at its first frame of the new model.
    pub(crate) fn swap(&self, path: &Path, restart_tracks: bool) -> Result<ModelStats, Error> {
        let _one = self.swapping.lock().unwrap_or_else(PoisonError::into_inner);
        let old = self.model();
        if matches!(old.det, Det::StandIn(_)) {
            return Err(Error::InvalidConfig {
                field: "model",
                problem: "the benchmarks' stand-in detector has no model to swap".into(),
            });
        }
        let mut new = load(&self.settings, path, old.tag.generation + 1)?;
        let differ = new.tag.class_names != old.tag.class_names;
        if differ && !restart_tracks {
            return Err(Error::ModelClassesDiffer {
                path: path.to_owned(),
                running: old.tag.class_names.len(),
                new: new.tag.class_names.len(),
            });
        }
        new.about.swaps = old.about.swaps + 1;
        let about = new.about.clone();
        drop(old);
        let old = std::mem::replace(
            &mut *self.current.lock().unwrap_or_else(PoisonError::into_inner),
            Arc::new(new),
        );
        release(old);
        info!(
            model = %path.display(),
            generation = about.generation,
            sha256 = %about.sha256,
            tracks_restart = differ,
            "model swapped"
        );
        Ok(about)
    }

    /// Offers a frame; a frame of the same stream still waiting is superseded (reported to
    /// its stream through the drop handler). If the batcher is closed, the frame is resolved
    /// as dropped at shutdown.
    pub(crate) fn submit(&self, key: u64, item: Item) {
        if let Err(r) = self.batcher.try_submit(key, item) {
            let item = r.into_parts().1;
            item.core
                .resolve(item.seq, Outcome::Dropped(DropKind::Shutdown));
        }
    }

    /// Sends out what waits now (a stream is draining).
    pub(crate) fn flush(&self) {
        self.batcher.flush();
    }

    /// Forgets a stream; a frame of it still waiting is dropped (as shutdown).
    pub(crate) fn remove_key(&self, key: u64) {
        self.batcher.remove_key(&key);
    }

    pub(crate) fn stats(&self) -> (BatcherStats, DetectorStats) {
        let s = self.batcher.stats();
        let batcher = BatcherStats {
            batches: BatchTriggers {
                full: s.batches.full,
                timeout: s.batches.timeout,
                flush: s.batches.flush,
            },
            mean_fill: (s.fill_ratio * 1000.0).round() / 1000.0,
            in_flight: s.in_flight,
            waiting: s.waiting,
            superseded: s.dropped.superseded,
        };
        let c = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        let detector = DetectorStats {
            batches: c.batches,
            images: c.images,
            batch_ms: c.times.summary(),
        };
        (batcher, detector)
    }

    /// Closes the batcher (what waits is flushed and run) and waits for the inference
    /// threads to finish. Blocking.
    pub(crate) fn close_and_join(&self) {
        self.batcher.close();
        let threads: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for t in threads {
            if t.join().is_err() {
                warn!("an inference thread panicked");
            }
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.batcher.close();
    }
}

/// Frees a model that is no longer current once the batches still running on it are done
/// (they hold it; a batch takes seconds at most), here on the swap's thread, and gives the
/// freed memory back to the system: ONNX Runtime's arenas are large, and glibc's allocator
/// otherwise keeps what a dropped session held, so that RSS grew by about 2 MB a swap.
fn release(mut old: Arc<Model>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match Arc::try_unwrap(old) {
            Ok(model) => {
                drop(model);
                break;
            }
            Err(still) if Instant::now() < deadline => {
                old = still;
                std::thread::sleep(Duration::from_millis(5));
            }
            // Held too long (a batch stuck in the detector): whoever holds it last frees it.
            Err(_) => break,
        }
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap memory to the system; no pointer is touched.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Loads, checks and warms the model at `path` (generation `generation`).
fn load(settings: &Settings, path: &Path, generation: u64) -> Result<Model, Error> {
    let provider = provider(settings)?;
    if !path.is_file() {
        return Err(Error::ModelNotFound {
            path: path.to_owned(),
        });
    }
    let sha256 = file_sha256(path).map_err(|_| Error::ModelNotFound {
        path: path.to_owned(),
    })?;
    let repo = Arc::new(ModelRepository::with_threads(settings.threads).with_provider(provider));
    let info = repo
        .load_model("detector", path, settings.in_flight)
        .map_err(Error::Model)?;
    let detector = Detector::new(
        repo,
        "detector",
        DetectorOptions {
            thresholds: Thresholds {
                confidence: settings.detector_threshold,
                ..Thresholds::default()
            },
        },
    )
    .map_err(Error::Model)?;
    // One picture through it, so that the first batch of the cameras does not pay for
    // ONNX Runtime's first run (and a model that loads but cannot run is refused here).
    let (w, h) = info.input_size;
    let gray = vec![114u8; w * h * 3];
    let image = gpu_decode::RgbImage::new(&gray, w, h, w * 3).map_err(|e| {
        Error::Model(infer_trt::Error::BadBatch {
            id: "detector".into(),
            message: e.to_string(),
        })
    })?;
    detector.detect_rgb(&[image]).map_err(Error::Model)?;
    let class_names = Arc::new(info.class_names.clone());
    Ok(Model {
        det: Det::Model(detector),
        tag: Arc::new(ModelTag {
            generation,
            class_names: class_names.clone(),
        }),
        input_size: info.input_size,
        about: ModelStats {
            path: path.display().to_string(),
            sha256,
            input_width: w,
            input_height: h,
            classes: class_names.len(),
            generation,
            swaps: 0,
        },
    })
}

/// The SHA-256 of a file, in hex: which model runs, whatever its name.
fn file_sha256(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The detector, or the benchmarks' fixed-cost stand-in.
enum Det {
    Model(Detector),
    StandIn(Duration),
}

impl Det {
    fn detect_each(&self, frames: &[&Frame]) -> Vec<Result<Vec<Detection>, infer_trt::Error>> {
        match self {
            Det::Model(d) => d.detect_each(frames),
            Det::StandIn(cost) => {
                std::thread::sleep(*cost);
                frames
                    .iter()
                    .map(|f| {
                        let (w, h) = (f.width as f32, f.height as f32);
                        Ok(vec![Detection {
                            bbox: [w * 0.4, h * 0.3, w * 0.5, h * 0.8],
                            confidence: 0.9,
                            class_id: 0,
                            class_name: "person".to_owned(),
                        }])
                    })
                    .collect()
            }
        }
    }
}

/// One inference thread: batches in, each frame's outcome to its stream.
fn run_inference(
    batches: &blocking::Batches<u64, Item>,
    current: &Mutex<Arc<Model>>,
    counters: &Mutex<DetectorCounters>,
    device: Device,
    max_batch: usize,
) {
    #[cfg(all(feature = "nvdec", feature = "tensorrt"))]
    let mut gpu: Option<((usize, usize), Option<crate::gpu::GpuBatch>)> = None;
    #[cfg(not(all(feature = "nvdec", feature = "tensorrt")))]
    let _ = (device, max_batch);
    while let Some(mut batch) = batches.recv() {
        // The model of this batch, whatever a swap does meanwhile.
        let model = current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let detector = &model.det;
        #[cfg(all(feature = "nvdec", feature = "tensorrt"))]
        if gpu
            .as_ref()
            .is_none_or(|(size, _)| *size != model.input_size)
        {
            // The GPU batch is shaped for the model's input: a swap to another size
            // makes a new one.
            let g = match detector {
                Det::Model(d) => crate::gpu::GpuBatch::new(device, max_batch, d.info().input_size),
                Det::StandIn(_) => None,
            };
            gpu = Some((model.input_size, g));
        }
        let mut items = std::mem::take(&mut batch.items);
        let started = Instant::now();
        // Frames wait in the decoder's own format (CPU decoding defers its scaling): only
        // those dispatched are converted, here. One that fails is not sent to the detector,
        // whose error then drops it as any detection failure.
        for item in &mut items {
            if let Err(e) = item.value.frame.convert() {
                debug!(stream = %item.value.core.id, error = %e, "frame conversion failed");
            }
        }
        let frames: Vec<&Frame> = items.iter().map(|i| &i.value.frame).collect();
        #[cfg(all(feature = "nvdec", feature = "tensorrt"))]
        let results = match (gpu.as_mut().and_then(|(_, g)| g.as_mut()), detector) {
            (Some(g), Det::Model(d)) if crate::gpu::all_on_device(&frames) => g.detect(d, &frames),
            _ => detector.detect_each(&frames),
        };
        #[cfg(not(all(feature = "nvdec", feature = "tensorrt")))]
        let results = detector.detect_each(&frames);
        let took = started.elapsed();
        drop(frames);
        // The slot frees now: the next batch can start while this one is tracked.
        drop(batch);
        {
            let mut c = counters.lock().unwrap_or_else(PoisonError::into_inner);
            c.batches += 1;
            c.images += items.len() as u64;
            c.times.record(took);
        }
        for (item, result) in items.into_iter().zip(results) {
            let Item {
                core,
                seq,
                frame,
                meta,
            } = item.value;
            let from = (frame.width, frame.height);
            let picture = match &result {
                Ok(_) => core.picture_of(&frame),
                Err(_) => None,
            };
            // The picture goes back to its decoder's pool before tracking.
            drop(frame);
            let outcome = match result {
                Ok(dets) => {
                    let to = (meta.camera.0 as usize, meta.camera.1 as usize);
                    Outcome::Detected {
                        meta,
                        detections: dets.into_iter().map(|d| d.rescaled(from, to)).collect(),
                        picture,
                        model: model.tag.clone(),
                    }
                }
                Err(e) => {
                    debug!(stream = %core.id, error = %e, "detection failed");
                    core.note_error(&Error::Inference {
                        id: core.id.clone(),
                        source: e,
                    });
                    Outcome::Dropped(DropKind::InferenceFailed)
                }
            };
            core.resolve(seq, outcome);
        }
    }
}

/// How long a draining stream waits for its frames in flight before it takes the one still
/// waiting out of the batcher.
pub(crate) const DRAIN_PATIENCE: Duration = Duration::from_secs(10);
