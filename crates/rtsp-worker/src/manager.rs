//! [`StreamConnectionManager`]: the seed's manager done the Rust way. It owns the shared
//! stages (batcher, detector, inference threads) and the streams; streams come and go while
//! the others run.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use futures::FutureExt;
use tokio::sync::oneshot;

use rtsp_ingest::SessionOptions;
use tracing::{info, warn};

use crate::config::{Callback, ManagerBuilder};
use crate::pipeline::Pipeline;
use crate::state::StreamCore;
use crate::stream::StreamConnection;
use crate::stream_thread::StreamThread;
use crate::{Error, ManagerStats, ModelStats, StreamEvent, StreamOptions, StreamStats};

/// A thread of the facade's, with a signal that its work is done (it ends right after), so
/// that async code can wait for it without a blocking join.
struct Thread {
    handle: JoinHandle<()>,
    done: oneshot::Receiver<()>,
}

impl Thread {
    fn spawn(name: String, f: impl FnOnce() + Send + 'static) -> Result<Self, Error> {
        let (tx, done) = oneshot::channel();
        let handle = std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                f();
                let _ = tx.send(());
            })
            .map_err(|e| Error::Spawn(e.to_string()))?;
        Ok(Self { handle, done })
    }

    /// Waits for the work to finish, then joins (which is then immediate).
    async fn join(self) {
        let _ = self.done.await;
        if self.handle.join().is_err() {
            warn!("a stream thread panicked");
        }
    }
}

/// Runs `load` (loading a model: blocking, seconds) on a thread of its own, whose name ONNX
/// Runtime's pool threads take, and waits for it without blocking an async worker.
async fn on_loader_thread<T: Send + 'static>(
    load: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("rw-detector".into())
        .spawn(move || {
            let _ = tx.send(load());
        })
        .map_err(|e| Error::Spawn(e.to_string()))?;
    rx.await
        .map_err(|_| Error::Spawn("the model loader stopped".into()))?
}

/// A stream's work that runs on its own: its decode loop, or what feeds its callbacks; on a
/// thread of its own or as a task.
enum Running {
    Thread(Thread),
    Task(tokio::task::JoinHandle<()>),
}

impl Running {
    async fn join(self) {
        match self {
            Running::Thread(t) => t.join().await,
            Running::Task(t) => {
                if t.await.is_err() {
                    warn!("a stream's task panicked");
                }
            }
        }
    }
}

struct Entry {
    core: Arc<StreamCore>,
    /// The decode loop.
    worker: Option<Running>,
    /// What consumes the stream's output for its callbacks, if it has any.
    consumer: Option<Running>,
}

struct Inner {
    pipeline: Arc<Pipeline>,
    /// The decode pool the streams' loops run on; `None`: a thread each.
    decode_pool: Option<tokio::runtime::Handle>,
    streams: Mutex<BTreeMap<String, Entry>>,
    next_key: AtomicU64,
    closed: AtomicBool,
}

impl Inner {
    fn streams(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Without `shutdown`: stop the cameras; the workers drain and exit on their own.
        for entry in self.streams().values() {
            entry.core.begin_stop();
        }
    }
}

/// Many cameras in, tracks out: one shared batcher and detector, one camera session,
/// decoder and tracker per stream, every frame accounted for.
///
/// Cheap to clone: clones share the streams and the shared stages (for an HTTP server, a
/// status task…); when the last clone goes without [`shutdown`](Self::shutdown), the
/// cameras are stopped and their decode loops drain and end. A stream's camera session runs
/// on the tokio runtime that called `connect_stream`: shut the manager down (or disconnect
/// the stream) before that runtime goes away, or the stream's decode loop waits (holding its
/// decoder) for a session that no longer runs.
///
/// ```no_run
/// # async fn run() -> Result<(), rtsp_worker::Error> {
/// use futures::StreamExt;
/// use rtsp_worker::{StreamConnectionManager, StreamOptions};
///
/// let manager = StreamConnectionManager::builder().build().await?; // CPU, default model
/// let camera = manager
///     .connect_stream("rtsp://admin:secret@192.0.2.10/stream1", StreamOptions::new().id("door"))
///     .await?;
/// let mut results = Box::pin(camera.tracking_results());
/// while let Some(r) = results.next().await {
///     for t in &r.tracked_objects {
///         println!("{} frame {}: track {} {} {:.2}", r.stream_id, r.frame_number, t.track_id, t.class_name, t.confidence);
///     }
/// }
/// manager.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct StreamConnectionManager {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for StreamConnectionManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamConnectionManager")
            .field("streams", &self.inner.streams().keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl ManagerBuilder {
    /// Loads the model and starts the shared stages (on a blocking thread: loading takes a
    /// while).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`], [`Error::ModelNotFound`], [`Error::Model`] (no ONNX
    /// Runtime, not a detector, a GPU provider that cannot start),
    /// [`Error::DeviceUnavailable`], or [`Error::Spawn`] outside a tokio runtime.
    pub async fn build(self) -> Result<StreamConnectionManager, Error> {
        let settings = self.resolve()?;
        tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Spawn("build() needs a tokio runtime".into()))?;
        let pipeline = on_loader_thread(move || Pipeline::start(settings)).await?;
        let s = &pipeline.settings;
        info!(
            device = %s.device,
            model = %s.model.display(),
            batch_size = s.batch_size,
            in_flight = s.in_flight,
            threads = s.threads,
            "manager ready"
        );
        let decode_pool = match s.decode_workers {
            0 => None,
            n => Some(crate::decode_pool::pool(n, s.decode_nice)?),
        };
        Ok(StreamConnectionManager {
            inner: Arc::new(Inner {
                pipeline,
                decode_pool,
                streams: Mutex::new(BTreeMap::new()),
                next_key: AtomicU64::new(0),
                closed: AtomicBool::new(false),
            }),
        })
    }
}

impl StreamConnectionManager {
    /// A builder; `build().await` loads the model.
    pub fn builder() -> ManagerBuilder {
        ManagerBuilder::default()
    }

    /// Connects a camera and starts processing it. Returns at once: connecting, reconnecting
    /// and failures arrive as the stream's events (and [`StreamConnection::wait_connected`]
    /// waits for the first frame). With [`ManagerBuilder::allow_file_urls`], a
    /// `file:///path.h264` (or `.h265`) URL plays an Annex B clip in a loop at its frame rate
    /// instead, with the same events (tests, benchmarks); the clip is read whole first (a
    /// regular file, at most 256 MiB), on a blocking thread.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidStreamId`], [`Error::FileUrlRefused`], [`Error::Camera`] for a URL
    /// that is not `rtsp://host/…` (or a clip that cannot be read),
    /// [`Error::DuplicateStream`], [`Error::TooManyStreams`], [`Error::Shutdown`],
    /// [`Error::Spawn`].
    pub async fn connect_stream(
        &self,
        url: &str,
        options: StreamOptions,
    ) -> Result<StreamConnection, Error> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Spawn("connect_stream needs a tokio runtime".into()))?;
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(Error::Shutdown);
        }
        let pipeline = &self.inner.pipeline;
        let settings = &pipeline.settings;
        if let Some(id) = &options.id {
            crate::check_stream_id(id)?;
        }
        if let Some(fps) = options.detect_fps
            && !crate::DETECT_FPS.contains(&fps)
        {
            return Err(Error::InvalidConfig {
                field: "detect_fps",
                problem: format!("{}, not {fps}", crate::config::DETECT_FPS_PROBLEM),
            });
        }
        // A replayed clip is read now, whole (capped), on a blocking thread: never on the
        // runtime's workers nor under the streams' lock, so a slow disk, a FIFO or a huge
        // file holds up no other stream and no caller.
        let replay = if crate::is_file_url(url) {
            if !settings.allow_file_urls {
                return Err(Error::FileUrlRefused);
            }
            let path = url.trim_matches(|c: char| c <= ' ')[7..].to_owned();
            let clip = tokio::task::spawn_blocking(move || {
                rtsp_ingest::replay(path, rtsp_ingest::ReplayOptions::default())
            })
            .await
            .map_err(|e| Error::Spawn(e.to_string()))?;
            Some(clip)
        } else {
            None
        };
        let key = self.inner.next_key.fetch_add(1, Ordering::SeqCst);
        let mut streams = self.inner.streams();
        let id = match &options.id {
            Some(id) => id.clone(),
            None => crate::free_stream_id(0, |id| streams.contains_key(id)),
        };
        if streams.contains_key(&id) {
            return Err(Error::DuplicateStream(id));
        }
        if streams.len() >= settings.max_streams {
            return Err(Error::TooManyStreams(settings.max_streams));
        }
        let analyzer = options
            .scene
            .clone()
            .filter(|s| !s.is_empty())
            .map(zones::Analyzer::new)
            .transpose()
            .map_err(|e| Error::InvalidConfig {
                field: "scene",
                problem: e.to_string(),
            })?;
        let mut session = SessionOptions::default()
            .transport(options.transport)
            .credentials(options.credentials.clone())
            .give_up_after(options.give_up_after)
            .give_up_after_unauthorized(options.give_up_after_unauthorized.unwrap_or(Some(3)));
        if let Some(t) = options.stall_timeout {
            session = session.stall_timeout(t);
        }
        if let Some(t) = options.connect_timeout {
            session = session.connect_timeout(t);
        }
        let camera = match replay {
            Some(clip) => clip,
            None => rtsp_ingest::connect(url, session),
        }
        .map_err(|source| Error::Camera {
            id: id.clone(),
            source,
        })?;
        let core = Arc::new(StreamCore::new(
            id.clone(),
            key,
            camera.handle(),
            settings,
            pipeline.tag(),
            options.result_queue.unwrap_or(settings.result_queue),
            analyzer,
            options.first_track_id,
            options.keep_frames,
        ));
        core.lock().resume = options.resume_tracks.clone();
        let pool = self.inner.decode_pool.as_ref();
        let worker = StreamThread {
            core: core.clone(),
            camera,
            pipeline: pipeline.clone(),
            pooled: pool.is_some(),
            detect_fps: options.detect_fps.or(settings.detect_fps),
        };
        let worker = match pool {
            Some(pool) => Running::Task(pool.spawn(worker.run())),
            None => {
                let (rt, nice) = (runtime.clone(), settings.decode_nice);
                Running::Thread(Thread::spawn(format!("rw-stream-{key}"), move || {
                    crate::decode_pool::lower_this_threads_priority(nice);
                    rt.block_on(worker.run());
                })?)
            }
        };
        let consumer = consume(&core, &options, &runtime)?;
        info!(stream = %id, url = %core.stats().url, "stream added");
        streams.insert(
            id,
            Entry {
                core: core.clone(),
                worker: Some(worker),
                consumer,
            },
        );
        Ok(StreamConnection { core })
    }

    /// Stops a stream: no new frames; every frame already received becomes a result or a
    /// counted drop; its `Ended` event is the last; then it is forgotten. Returns its final
    /// statistics. Other streams are not disturbed.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownStream`].
    pub async fn disconnect_stream(&self, id: &str) -> Result<StreamStats, Error> {
        let (core, worker, consumer) = {
            let mut streams = self.inner.streams();
            let entry = streams
                .get_mut(id)
                .ok_or_else(|| Error::UnknownStream(id.to_owned()))?;
            (
                entry.core.clone(),
                entry.worker.take(),
                entry.consumer.take(),
            )
        };
        core.begin_stop();
        if let Some(worker) = worker {
            worker.join().await;
        }
        // Closed already, unless the stream's thread panicked: its consumer must end anyway.
        core.outbox.close();
        if let Some(consumer) = consumer {
            consumer.join().await;
        }
        let stats = core.stats();
        {
            let mut streams = self.inner.streams();
            if streams.get(id).is_some_and(|e| Arc::ptr_eq(&e.core, &core)) {
                streams.remove(id);
            }
        }
        info!(stream = %id, "stream removed");
        Ok(stats)
    }

    /// Disconnects every stream (at once, each draining); returns their final statistics.
    pub async fn disconnect_all(&self) -> BTreeMap<String, StreamStats> {
        let ids: Vec<String> = self.inner.streams().keys().cloned().collect();
        let all = ids.iter().map(|id| self.disconnect_stream(id));
        let done = futures::future::join_all(all).await;
        ids.into_iter()
            .zip(done)
            .filter_map(|(id, r)| r.ok().map(|s| (id, s)))
            .collect()
    }

    /// Disconnects every stream, lets the detector finish, and stops the shared stages.
    /// Returns the final statistics (every stream's accounting balanced, nothing in the
    /// pipeline). Further `connect_stream` calls fail with [`Error::Shutdown`].
    pub async fn shutdown(&self) -> ManagerStats {
        self.inner.closed.store(true, Ordering::SeqCst);
        let finals = self.disconnect_all().await;
        let pipeline = self.inner.pipeline.clone();
        let _ = tokio::task::spawn_blocking(move || pipeline.close_and_join()).await;
        let mut stats = self.get_stats();
        stats.num_streams = finals.len();
        stats.streams = finals;
        stats
    }

    /// The seed's `get_stats()`: settings, batcher, detector and every stream.
    pub fn get_stats(&self) -> ManagerStats {
        let pipeline = &self.inner.pipeline;
        let (batcher, detector) = pipeline.stats();
        let s = &pipeline.settings;
        let streams: BTreeMap<String, StreamStats> = self
            .inner
            .streams()
            .iter()
            .map(|(id, e)| (id.clone(), e.core.stats()))
            .collect();
        ManagerStats {
            device: s.device.to_string(),
            batch_size: s.batch_size,
            force_timeout_ms: s.force_timeout.as_secs_f64() * 1e3,
            batches_in_flight: s.in_flight,
            num_streams: streams.len(),
            batcher,
            detector,
            model: pipeline.about(),
            streams,
        }
    }

    /// Swaps the model while the cameras run: the model at `path` is loaded and warmed
    /// beside the running one (which goes on meanwhile), the next batch runs on it, batches
    /// under way finish on the old one, which is then dropped. No frame is lost or counted
    /// twice, and tracks go on. A model that detects other classes is refused unless
    /// `restart_tracks`: every stream's tracks then end (in `ended_tracks`) at its first
    /// frame of the new model. Anything that fails leaves the running model as it was.
    ///
    /// # Errors
    ///
    /// [`Error::ModelNotFound`], [`Error::Model`] (not a detector, cannot run),
    /// [`Error::ModelClassesDiffer`], [`Error::InvalidConfig`] for the benchmarks' stand-in
    /// detector, [`Error::Shutdown`], or [`Error::Spawn`].
    pub async fn swap_model(
        &self,
        path: impl Into<std::path::PathBuf>,
        restart_tracks: bool,
    ) -> Result<ModelStats, Error> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(Error::Shutdown);
        }
        let path = path.into();
        let pipeline = self.inner.pipeline.clone();
        on_loader_thread(move || pipeline.swap(&path, restart_tracks)).await
    }

    /// The stream with this id.
    pub fn stream(&self, id: &str) -> Option<StreamConnection> {
        self.inner.streams().get(id).map(|e| StreamConnection {
            core: e.core.clone(),
        })
    }

    /// The ids of every stream, sorted.
    pub fn stream_ids(&self) -> Vec<String> {
        self.inner.streams().keys().cloned().collect()
    }

    /// The model the detector runs now (as `get_stats().model`, without gathering the rest).
    pub fn model(&self) -> ModelStats {
        self.inner.pipeline.about()
    }

    /// The running model's class names, by class id.
    pub fn class_names(&self) -> Vec<String> {
        self.inner.pipeline.tag().class_names.to_vec()
    }
}

/// Starts what feeds a stream's callbacks from its output, if it has any: a thread of its
/// own when a callback is plain (it may block), else a task.
fn consume(
    core: &Arc<StreamCore>,
    options: &StreamOptions,
    runtime: &tokio::runtime::Handle,
) -> Result<Option<Running>, Error> {
    let (on_result, on_event) = (options.on_result.clone(), options.on_event.clone());
    if on_result.is_none() && on_event.is_none() {
        return Ok(None);
    }
    let any_sync =
        matches!(on_result, Some(Callback::Sync(_))) || matches!(on_event, Some(Callback::Sync(_)));
    let core = core.clone();
    if any_sync {
        let rt = runtime.clone();
        let t = Thread::spawn(format!("rw-callback-{}", core.key), move || {
            while let Ok(Some(event)) = core.outbox.pop_blocking(None) {
                deliver_blocking(&rt, event, on_result.as_ref(), on_event.as_ref());
            }
        })?;
        Ok(Some(Running::Thread(t)))
    } else {
        let t = runtime.spawn(async move {
            while let Some(event) = core.outbox.pop().await {
                let call = match (event, &on_result, &on_event) {
                    (StreamEvent::Result(r), Some(Callback::Async(f)), _) => f(r),
                    (StreamEvent::Result(_), _, _) => continue,
                    (e, _, Some(Callback::Async(f))) => f(e),
                    _ => continue,
                };
                if AssertUnwindSafe(call).catch_unwind().await.is_err() {
                    warn!(stream = %core.id, "a stream callback panicked; the stream goes on");
                }
            }
        });
        Ok(Some(Running::Task(t)))
    }
}

/// One event to the callbacks, on the consumer thread (async callbacks are driven to
/// completion on it). A callback that panics is reported and the stream goes on.
fn deliver_blocking(
    rt: &tokio::runtime::Handle,
    event: StreamEvent,
    on_result: Option<&Callback<crate::TrackingResult>>,
    on_event: Option<&Callback<StreamEvent>>,
) {
    let outcome = match event {
        StreamEvent::Result(r) => match on_result {
            Some(Callback::Sync(f)) => std::panic::catch_unwind(AssertUnwindSafe(|| f(r))),
            Some(Callback::Async(f)) => rt.block_on(AssertUnwindSafe(f(r)).catch_unwind()),
            None => Ok(()),
        },
        e => match on_event {
            Some(Callback::Sync(f)) => std::panic::catch_unwind(AssertUnwindSafe(|| f(e))),
            Some(Callback::Async(f)) => rt.block_on(AssertUnwindSafe(f(e)).catch_unwind()),
            None => Ok(()),
        },
    };
    if outcome.is_err() {
        warn!("a stream callback panicked; the stream goes on");
    }
}
