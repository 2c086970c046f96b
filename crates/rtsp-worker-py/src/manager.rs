//! The seed's `StreamConnectionManager` over the facade's: settings in the constructor, the
//! model in `initialize()`, streams with callbacks in `connect_stream()`, `get_stats()` in the
//! seed's shape with ours inside.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared as SharedFuture};

use crate::bridge::awaitable;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rtsp_worker::{Device, StreamEvent, StreamOptions};

use crate::stream::{Connection, Shared, seconds};
use crate::{StreamError, py_err};

/// What the constructor was given.
#[derive(Clone)]
struct Config {
    gpu_id: Option<u32>,
    batch_size: Option<usize>,
    force_timeout: Option<Duration>,
    confidence: Option<f32>,
    result_queue: Option<usize>,
    max_streams: Option<usize>,
    intra_op_threads: Option<usize>,
    batches_in_flight: Option<usize>,
    snapshot_interval: Option<Duration>,
    adaptive_decoding: bool,
    wide_input: bool,
    stand_in: Option<Duration>,
}

type Streams = Arc<Mutex<BTreeMap<String, Arc<Shared>>>>;

/// The facade's shutdown, started once, awaited by every `shutdown()`/`shutdown_blocking()`.
type Shutdown = SharedFuture<BoxFuture<'static, Option<rtsp_worker::ManagerStats>>>;

/// Many RTSP cameras in, tracks out (the seed's `StreamConnectionManager`).
///
/// `StreamConnectionManager(gpu_id=None)` (batch size and timeout: the engine's per-device defaults), then
/// `await initialize(model_path=...)`, `await connect_stream(url, ...)`, `get_stats()`,
/// `await disconnect_stream(id)`, `await shutdown()`.
#[pyclass(
    name = "StreamConnectionManager",
    module = "rtsp_worker",
    frozen,
    subclass
)]
pub(crate) struct Manager {
    config: Config,
    engine: Arc<Mutex<Option<rtsp_worker::StreamConnectionManager>>>,
    streams: Streams,
    model_id: Arc<Mutex<Option<String>>>,
    /// For ids made up here (`stream_N`), so that callbacks know their stream's id from the
    /// start.
    next_id: AtomicU64,
    /// The shutdown once started: it runs to its end even if the awaitable that started it
    /// is cancelled, and later calls wait for the same one.
    shutting: Mutex<Option<Shutdown>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Manager {
    fn engine(&self) -> PyResult<rtsp_worker::StreamConnectionManager> {
        lock(&self.engine).clone().ok_or_else(|| {
            crate::with_kind(
                crate::RtspWorkerError::new_err(
                    "the manager is not initialized: await manager.initialize() first",
                ),
                "not_initialized",
            )
        })
    }

    /// The shutdown, started on the runtime the first time (detached: nothing cancels it).
    fn shutdown_once(&self) -> Shutdown {
        let mut slot = lock(&self.shutting);
        if let Some(s) = slot.as_ref() {
            return s.clone();
        }
        let Some(engine) = lock(&self.engine).clone() else {
            // Never initialized: nothing to stop (and nothing to remember).
            return async { None }.boxed().shared();
        };
        let s = crate::bridge::detached(async move { Ok(engine.shutdown().await) })
            .map(Result::ok)
            .boxed()
            .shared();
        *slot = Some(s.clone());
        s
    }

    /// The seed's stats shape with ours inside.
    fn stats_dict<'py>(
        &self,
        py: Python<'py>,
        stats: Option<&rtsp_worker::ManagerStats>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let manager = PyDict::new(py);
        let out = PyDict::new(py);
        let model = PyDict::new(py);
        let connections = PyDict::new(py);
        manager.set_item("initialized", stats.is_some())?;
        // What runs, once initialized (the facade's per-device defaults fill what was not
        // given); before, what was given.
        manager.set_item(
            "batch_size",
            stats.map(|s| s.batch_size).or(self.config.batch_size),
        )?;
        manager.set_item(
            "force_timeout",
            stats
                .map(|s| s.force_timeout_ms / 1e3)
                .or(self.config.force_timeout.map(|d| d.as_secs_f64())),
        )?;
        manager.set_item("model_id", lock(&self.model_id).clone())?;
        manager.set_item("num_connections", stats.map_or(0, |s| s.streams.len()))?;
        if let Some(s) = stats {
            manager.set_item("device", &s.device)?;
            manager.set_item("batches_in_flight", s.batches_in_flight)?;
            model.set_item("batcher", crate::to_python(py, &s.batcher)?)?;
            model.set_item("detector", crate::to_python(py, &s.detector)?)?;
            model.set_item("model", crate::to_python(py, &s.model)?)?;
            let shared = lock(&self.streams).clone();
            for (id, st) in &s.streams {
                let d = crate::stream::stats_dict(py, st, shared.get(id).map(|s| &**s))?;
                connections.set_item(id, d)?;
            }
        }
        out.set_item("manager", manager)?;
        out.set_item("model_controller", model)?;
        out.set_item("connections", connections)?;
        Ok(out)
    }
}

/// The built-in YOLO pre/post-processing markers (`rtsp_worker.yolo.YOLOv8Utils`) are the only
/// functions `initialize` takes: the letterbox and decoding run in Rust.
fn built_in(name: &str, f: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    match f {
        None => Ok(()),
        Some(f) if f.is_none() || f.hasattr("__rtsp_worker_builtin__")? => Ok(()),
        Some(_) => Err(PyValueError::new_err(format!(
            "{name}: custom Python pre/post-processing is not supported; the YOLO letterbox and \
             decoding run in Rust (pass rtsp_worker.yolo.YOLOv8Utils.{} or nothing)",
            name.trim_end_matches("_fn")
        ))),
    }
}

#[pymethods]
impl Manager {
    /// `gpu_id`: `None` for the CPU, or a CUDA device (needs a build with the `nvdec` and
    /// `tensorrt` features). `batch_size` and `force_timeout` default to the engine's choice
    /// for the device (on the CPU a batch of 1 and 10 ms: batching only adds waiting there;
    /// on a GPU 16). `poll_interval` is accepted for the seed's configurations and has no
    /// effect (nothing polls here, every stage wakes on events): giving it warns.
    #[new]
    #[expect(
        clippy::too_many_arguments,
        reason = "Python keyword arguments, each named at the call site"
    )]
    #[pyo3(signature = (
        gpu_id = None, batch_size = None, force_timeout = None, poll_interval = None, *,
        confidence = None, result_queue = None, max_streams = None, intra_op_threads = None,
        batches_in_flight = None, snapshot_interval = None, adaptive_decoding = false, wide_input = false,
        _stand_in_detector_ms = None
    ))]
    fn new(
        py: Python<'_>,
        gpu_id: Option<u32>,
        batch_size: Option<usize>,
        force_timeout: Option<f64>,
        poll_interval: Option<f64>,
        confidence: Option<f32>,
        result_queue: Option<usize>,
        max_streams: Option<usize>,
        intra_op_threads: Option<usize>,
        batches_in_flight: Option<usize>,
        snapshot_interval: Option<f64>,
        adaptive_decoding: bool,
        wide_input: bool,
        _stand_in_detector_ms: Option<f64>,
    ) -> PyResult<Self> {
        if poll_interval.is_some() {
            let warnings = py.import("warnings")?;
            warnings.call_method1(
                "warn",
                (
                    "poll_interval has no effect: nothing polls in rtsp_worker, every stage \
                     wakes when its input arrives",
                    py.get_type::<pyo3::exceptions::PyUserWarning>(),
                    2,
                ),
            )?;
        }
        Ok(Self {
            config: Config {
                gpu_id,
                batch_size,
                force_timeout: force_timeout
                    .map(|s| seconds("force_timeout", s))
                    .transpose()?,
                confidence,
                result_queue,
                max_streams,
                intra_op_threads,
                batches_in_flight,
                snapshot_interval: snapshot_interval
                    .map(|s| seconds("snapshot_interval", s))
                    .transpose()?,
                adaptive_decoding,
                wide_input,
                stand_in: _stand_in_detector_ms
                    .map(|ms| seconds("_stand_in_detector_ms", ms / 1e3))
                    .transpose()?,
            },
            engine: Arc::default(),
            streams: Arc::default(),
            model_id: Arc::default(),
            next_id: AtomicU64::new(0),
            shutting: Mutex::new(None),
        })
    }

    /// Loads the model (default: the provisioned YOLO ONNX model) and starts the shared
    /// batcher and detector.
    #[pyo3(signature = (model_path = None, model_id = None, preprocess_fn = None, postprocess_fn = None))]
    fn initialize<'py>(
        &self,
        py: Python<'py>,
        model_path: Option<PathBuf>,
        model_id: Option<String>,
        preprocess_fn: Option<Bound<'py, PyAny>>,
        postprocess_fn: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        built_in("preprocess_fn", preprocess_fn.as_ref())?;
        built_in("postprocess_fn", postprocess_fn.as_ref())?;
        if lock(&self.engine).is_some() {
            return Err(crate::with_kind(
                crate::RtspWorkerError::new_err("the manager is already initialized"),
                "invalid_config",
            ));
        }
        let c = &self.config;
        let mut b = rtsp_worker::StreamConnectionManager::builder();
        if let Some(n) = c.batch_size {
            b = b.batch_size(n);
        }
        if let Some(t) = c.force_timeout {
            b = b.force_timeout(t);
        }
        if let Some(path) = model_path {
            b = b.model(path);
        }
        if let Some(n) = c.gpu_id {
            b = b.device(Device::Cuda(n as usize));
        }
        if let Some(x) = c.confidence {
            b = b.confidence(x);
        }
        if let Some(n) = c.result_queue {
            b = b.result_queue(n);
        }
        if let Some(n) = c.max_streams {
            b = b.max_streams(n);
        }
        if let Some(n) = c.intra_op_threads {
            b = b.intra_op_threads(n);
        }
        if let Some(n) = c.batches_in_flight {
            b = b.batches_in_flight(n);
        }
        if c.snapshot_interval.is_some() {
            b = b.snapshot_interval(c.snapshot_interval);
        }
        if let Some(cost) = c.stand_in {
            b = b.stand_in_detector(cost);
        }
        b = b
            .adaptive_decoding(c.adaptive_decoding)
            .wide_input(c.wide_input);
        let (engine, ids) = (self.engine.clone(), self.model_id.clone());
        awaitable(py, async move {
            let built = b.build().await.map_err(|e| py_err(&e))?;
            let raced = {
                let mut slot = lock(&engine);
                if slot.is_some() {
                    Some(built)
                } else {
                    *slot = Some(built);
                    None
                }
            };
            if let Some(extra) = raced {
                extra.shutdown().await;
                return Err(crate::with_kind(
                    crate::RtspWorkerError::new_err("the manager is already initialized"),
                    "invalid_config",
                ));
            }
            *lock(&ids) = model_id;
            Ok(())
        })
    }

    /// Connects a camera and returns its `StreamConnection`. Callbacks (plain or `async def`)
    /// get every result and every error of this stream, in order; without them, read the
    /// connection (`tracking_results()`, `result_queue`, `events()`).
    ///
    /// Plain callbacks run on the stream's own thread, `async def` ones on this event loop;
    /// either way a slow one delays only this stream (its oldest results are dropped,
    /// counted). A callback that raises is reported to `on_error` (or logged) and the stream
    /// goes on.
    #[pyo3(signature = (
        rtsp_url, stream_id = None, on_tracking_result = None, on_error = None, *,
        on_event = None, username = None, password = None, transport = None,
        keep_frames = false, result_queue = None, stall_timeout = None, connect_timeout = None,
        give_up_after = None, detect_fps = None, resume_tracks = None
    ))]
    #[expect(
        clippy::too_many_arguments,
        reason = "Python keyword arguments, each named at the call site"
    )]
    fn connect_stream<'py>(
        &self,
        py: Python<'py>,
        rtsp_url: String,
        stream_id: Option<String>,
        on_tracking_result: Option<Py<PyAny>>,
        on_error: Option<Py<PyAny>>,
        on_event: Option<Py<PyAny>>,
        username: Option<String>,
        password: Option<String>,
        transport: Option<String>,
        keep_frames: bool,
        result_queue: Option<usize>,
        stall_timeout: Option<f64>,
        connect_timeout: Option<f64>,
        give_up_after: Option<u32>,
        detect_fps: Option<f64>,
        resume_tracks: Option<Vec<u8>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let engine = self.engine()?;
        let id = stream_id.unwrap_or_else(|| {
            let live = engine.stream_ids();
            let from = self.next_id.fetch_add(1, Ordering::Relaxed) as usize;
            rtsp_worker::free_stream_id(from, |id| live.iter().any(|l| l == id))
        });
        let mut options = StreamOptions::new().id(id.clone()).keep_frames(keep_frames);
        match (username, password) {
            (Some(u), Some(p)) => options = options.credentials(u, p),
            (None, None) => {}
            _ => {
                return Err(PyValueError::new_err(
                    "give both username and password, or neither",
                ));
            }
        }
        if let Some(t) = transport {
            options = options.transport(
                t.parse()
                    .map_err(|e: rtsp_worker::CameraError| PyValueError::new_err(e.to_string()))?,
            );
        }
        if let Some(n) = result_queue {
            options = options.result_queue(n);
        }
        if let Some(s) = stall_timeout {
            options = options.stall_timeout(seconds("stall_timeout", s)?);
        }
        if let Some(s) = connect_timeout {
            options = options.connect_timeout(seconds("connect_timeout", s)?);
        }
        if give_up_after.is_some() {
            options = options.give_up_after(give_up_after);
        }
        if let Some(fps) = detect_fps {
            if !rtsp_worker::DETECT_FPS.contains(&fps) {
                return Err(PyValueError::new_err(
                    "detect_fps must be a number of frames per second from 0.001 to 1000",
                ));
            }
            options = options.detect_fps(Some(fps));
        }
        if let Some(bytes) = resume_tracks {
            let snapshot = rtsp_worker::TrackSnapshot::from_bytes(&bytes)
                .map_err(|e| PyValueError::new_err(e.to_string()))?;
            options = options.resume_tracks(snapshot);
        }
        if on_tracking_result.is_none() && (on_error.is_some() || on_event.is_some()) {
            return Err(PyValueError::new_err(
                "on_error and on_event need on_tracking_result too: a stream's output goes to \
                 its callbacks or to its reader, not both (to read results yourself, read \
                 errors from connection.events())",
            ));
        }
        let has_callbacks =
            on_tracking_result.is_some() || on_error.is_some() || on_event.is_some();
        let mut delivery = None;
        if has_callbacks {
            let d = Arc::new(Delivery {
                event_loop: py
                    .import("asyncio")?
                    .call_method0("get_running_loop")?
                    .unbind(),
                glue: py.import("rtsp_worker._glue")?.unbind(),
                on_result: on_tracking_result,
                on_error,
                on_event,
                id,
                shared: Mutex::new(None),
                connected: Condvar::new(),
            });
            if d.on_result.is_some() {
                let d = d.clone();
                options = options.on_result(move |r| d.result(r));
            }
            if d.on_error.is_some() || d.on_event.is_some() {
                let d = d.clone();
                options = options.on_event(move |e| d.event(&e));
            }
            delivery = Some(d);
        }
        let streams = self.streams.clone();
        awaitable(py, async move {
            let stream = engine
                .connect_stream(&rtsp_url, options)
                .await
                .map_err(|e| py_err(&e))?;
            let shared = Arc::new(Shared {
                stream,
                keep_frames,
                has_callbacks,
                callback_errors: AtomicU64::new(0),
            });
            if let Some(d) = delivery {
                d.connected(shared.clone());
            }
            lock(&streams).insert(shared.stream.id().to_owned(), shared.clone());
            Ok(Connection { shared })
        })
    }

    /// Disconnects a stream: it drains (every frame a result or a counted drop), its
    /// callbacks finish; returns its final statistics.
    fn disconnect_stream<'py>(
        &self,
        py: Python<'py>,
        stream_id: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let engine = self.engine()?;
        let streams = self.streams.clone();
        // Detached: a cancelled `await` must not leave the stream half-disconnected.
        awaitable(
            py,
            crate::bridge::detached(async move {
                let stats = engine
                    .disconnect_stream(&stream_id)
                    .await
                    .map_err(|e| py_err(&e))?;
                let shared = lock(&streams).remove(&stream_id);
                Ok(Final { stats, shared })
            }),
        )
    }

    /// Swaps the model while the cameras run: `path` is loaded and warmed beside the
    /// running model, the next batch runs on it; no frame is lost and tracks go on. A model
    /// with other classes is refused unless `restart_tracks` (the tracks then end). Returns
    /// the model now running (`path`, `sha256`, `input_width`, `input_height`, `classes`,
    /// `generation`, `swaps`); on failure the running model stays.
    #[pyo3(signature = (path, restart_tracks = false))]
    fn swap_model<'py>(
        &self,
        py: Python<'py>,
        path: std::path::PathBuf,
        restart_tracks: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let engine = self.engine()?;
        // Detached: a cancelled `await` does not stop a swap half-way (it finishes or fails
        // as a whole either way).
        awaitable(
            py,
            crate::bridge::detached(async move {
                engine
                    .swap_model(path, restart_tracks)
                    .await
                    .map(Model)
                    .map_err(|e| py_err(&e))
            }),
        )
    }

    /// Disconnects every stream.
    fn disconnect_all<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let engine = self.engine()?;
        awaitable(
            py,
            crate::bridge::detached(async move {
                engine.disconnect_all().await;
                Ok(())
            }),
        )
    }

    /// Disconnects every stream, lets the detector finish and stops it; returns the final
    /// statistics (as `get_stats()`: every stream's accounting balanced). A manager never
    /// initialized shuts down at once. Once started, the shutdown runs to its end even if
    /// this `await` is cancelled; calling it again waits for the same one.
    fn shutdown<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let done = slf.get().shutdown_once();
        let this = slf.unbind();
        awaitable(py, async move {
            Ok(Stats {
                this,
                stats: done.await,
            })
        })
    }

    /// `shutdown()` from synchronous code (the interpreter's exit does this for managers
    /// still running): blocks with the GIL released.
    fn shutdown_blocking<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let done = self.shutdown_once();
        let stats = py.detach(|| crate::bridge::runtime().block_on(done));
        self.stats_dict(py, stats.as_ref())
    }

    /// The seed's statistics: `manager` (settings), `model_controller` (batcher, detector),
    /// `connections` (each stream: state, rates, latency, accounting, `callback_errors`).
    fn get_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let engine = lock(&self.engine).clone();
        let stats = engine.map(|e| py.detach(|| e.get_stats()));
        self.stats_dict(py, stats.as_ref())
    }

    /// The streams connected now, by id (the seed's `manager.connections`).
    #[getter]
    fn connections<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let live: Vec<String> = lock(&self.engine)
            .as_ref()
            .map(|e| e.stream_ids())
            .unwrap_or_default();
        let shared = lock(&self.streams);
        for id in live {
            if let Some(s) = shared.get(&id) {
                d.set_item(&id, Connection { shared: s.clone() })?;
            }
        }
        Ok(d)
    }

    /// The model's class names, by class id.
    #[getter]
    fn class_names(&self) -> PyResult<Vec<String>> {
        Ok(self.engine()?.class_names())
    }

    #[getter]
    fn initialized(&self) -> bool {
        lock(&self.engine).is_some()
    }

    fn __repr__(&self) -> String {
        let streams = lock(&self.engine)
            .as_ref()
            .map_or(0, |e| e.stream_ids().len());
        // Python's spelling: None or the value.
        fn py<T: std::fmt::Display>(v: Option<T>) -> String {
            v.map_or_else(|| "None".to_owned(), |v| v.to_string())
        }
        format!(
            "StreamConnectionManager(gpu_id={}, batch_size={}, force_timeout={}, streams={streams})",
            py(self.config.gpu_id),
            py(self.config.batch_size),
            py(self.config.force_timeout.map(|d| d.as_secs_f64()))
        )
    }
}

/// A stream's final statistics as a dict.
struct Final {
    stats: rtsp_worker::StreamStats,
    shared: Option<Arc<Shared>>,
}

impl<'py> IntoPyObject<'py> for Final {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        crate::stream::stats_dict(py, &self.stats, self.shared.as_deref())
    }
}

/// The running model as a dict.
struct Model(rtsp_worker::ModelStats);

impl<'py> IntoPyObject<'py> for Model {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        crate::to_python(py, &self.0)
    }
}

/// The manager's final statistics as a dict.
struct Stats {
    this: Py<Manager>,
    stats: Option<rtsp_worker::ManagerStats>,
}

impl<'py> IntoPyObject<'py> for Stats {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self
            .this
            .get()
            .stats_dict(py, self.stats.as_ref())?
            .into_any())
    }
}

/// A stream's callbacks, called from its consumer thread (the facade's).
struct Delivery {
    /// The loop `async def` callbacks run on: the one that connected the stream.
    event_loop: Py<PyAny>,
    /// `rtsp_worker._glue`: calls a callback, awaits it on the loop if it is async, reports
    /// what it raises.
    glue: Py<PyModule>,
    on_result: Option<Py<PyAny>>,
    on_error: Option<Py<PyAny>>,
    on_event: Option<Py<PyAny>>,
    id: String,
    /// The stream's handle, set as soon as the facade's `connect_stream` returns (not the
    /// manager itself: the facade holds these callbacks, which must not hold it in turn).
    shared: Mutex<Option<Arc<Shared>>>,
    /// Signalled when `shared` is set.
    connected: Condvar,
}

impl Delivery {
    /// Called once `connect_stream` has the stream's handle.
    fn connected(&self, shared: Arc<Shared>) {
        *lock(&self.shared) = Some(shared);
        self.connected.notify_all();
    }

    /// The stream's handle; a result can only race `connect_stream`'s return by a moment
    /// (the camera has to answer and a frame be detected first), so wait a little for it.
    fn shared(&self) -> Option<Arc<Shared>> {
        let (slot, _) = self
            .connected
            .wait_timeout_while(lock(&self.shared), Duration::from_secs(5), |s| s.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        slot.clone()
    }

    fn result(&self, r: rtsp_worker::TrackingResult) {
        let Some(cb) = &self.on_result else { return };
        let Some(shared) = self.shared() else {
            return;
        };
        crate::bridge::delivering(|| {
            Python::try_attach(|py| {
                let delivered = Bound::new(py, shared.result(r))
                    .and_then(|value| self.call(py, cb, value.into_any()));
                if let Err(e) = delivered {
                    e.write_unraisable(py, None);
                }
            })
        });
    }

    fn event(&self, e: &StreamEvent) {
        crate::bridge::delivering(|| {
            Python::try_attach(|py| {
                if let Err(err) = self.event_in(py, e) {
                    err.write_unraisable(py, None);
                }
            })
        });
    }

    fn event_in(&self, py: Python<'_>, e: &StreamEvent) -> PyResult<()> {
        if let Some(cb) = &self.on_event {
            let value = crate::to_python(py, e)?;
            self.call(py, cb, value)?;
        }
        if let (Some(cb), Some(err)) = (&self.on_error, stream_error(py, &self.id, e)?) {
            self.call(py, cb, err)?;
        }
        Ok(())
    }

    /// `_glue.deliver(loop, callback, value, on_error, stream_id)`; counts a callback that
    /// raised.
    fn call<'py>(&self, py: Python<'py>, cb: &Py<PyAny>, value: Bound<'py, PyAny>) -> PyResult<()> {
        let ok = self.glue.bind(py).call_method1(
            "deliver",
            (
                self.event_loop.bind(py),
                cb.bind(py),
                value,
                self.on_error.as_ref().map(|e| e.bind(py)),
                &self.id,
            ),
        )?;
        if !ok.is_truthy()?
            && let Some(s) = lock(&self.shared).as_ref()
        {
            s.callback_errors.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The `StreamError` `on_error` gets for a lifecycle event, if it is one: a lost connection
/// (the stream reconnects), a stall, or an end with an error.
fn stream_error<'py>(
    py: Python<'py>,
    id: &str,
    e: &StreamEvent,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let (event, message, kind, attempt) = match e {
        StreamEvent::Reconnecting {
            attempt,
            delay,
            error,
        } => (
            "reconnecting",
            format!(
                "{error} (reconnecting: attempt {attempt} in {:.1} s)",
                delay.as_secs_f64()
            ),
            error.kind(),
            Some(*attempt),
        ),
        StreamEvent::Stalled { after } => (
            "stalled",
            format!(
                "no frame for {:.1} s (stalled; reconnecting)",
                after.as_secs_f64()
            ),
            "stalled",
            None,
        ),
        StreamEvent::Ended { reason } => match reason.error() {
            Some(error) => (
                "ended",
                format!("{error} (the stream ended: {})", reason.as_str()),
                error.kind(),
                None,
            ),
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    // The facade's stream errors name their stream already.
    let prefix = format!("stream {id:?}: ");
    let message = if message.starts_with(&prefix) {
        message
    } else {
        prefix + &message
    };
    let err = StreamError::new_err(message);
    let value = err.value(py);
    value.setattr("kind", kind)?;
    value.setattr("stream_id", id)?;
    value.setattr("event", event)?;
    value.setattr("attempt", attempt)?;
    Ok(Some(value.clone().into_any()))
}
