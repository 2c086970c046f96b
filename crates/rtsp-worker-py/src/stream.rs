//! A stream's handle (the seed's `StreamConnection`) and the ways to read its output: an async
//! iterator of results, one of results and lifecycle events, and an `asyncio.Queue`-like
//! result queue. All read the facade's one bounded queue per stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::bridge::awaitable;
use pyo3::exceptions::{PyRuntimeError, PyStopAsyncIteration};
use pyo3::prelude::*;

use crate::result::TrackingResult;

/// What the binding keeps beside the facade's stream.
pub(crate) struct Shared {
    pub(crate) stream: rtsp_worker::StreamConnection,
    pub(crate) keep_frames: bool,
    /// The stream delivers to callbacks, which take its output.
    pub(crate) has_callbacks: bool,
    /// Callbacks that raised.
    pub(crate) callback_errors: AtomicU64,
}

impl Shared {
    pub(crate) fn result(&self, r: rtsp_worker::TrackingResult) -> TrackingResult {
        TrackingResult::new(r, self.stream.clone(), self.keep_frames)
    }

    /// The stream's statistics as a dict, with `callback_errors`.
    pub(crate) fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stats = py.detach(|| self.stream.stats());
        stats_dict(py, &stats, Some(self))
    }

    fn no_callbacks(&self) -> PyResult<()> {
        if self.has_callbacks {
            return Err(PyRuntimeError::new_err(
                "this stream delivers to its callbacks; connect it without on_tracking_result, \
                 on_error and on_event to read it yourself",
            ));
        }
        Ok(())
    }
}

/// A stream's statistics as a dict, with the callback errors its binding counted (0 without
/// one): for `connection.get_stats()`, `get_stats()["connections"]` and `disconnect_stream`.
pub(crate) fn stats_dict<'py>(
    py: Python<'py>,
    stats: &rtsp_worker::StreamStats,
    shared: Option<&Shared>,
) -> PyResult<Bound<'py, PyAny>> {
    let d = crate::to_python(py, stats)?;
    let errors = shared.map_or(0, |s| s.callback_errors.load(Ordering::Relaxed));
    d.set_item("callback_errors", errors)?;
    Ok(d)
}

/// One camera stream (the seed's `StreamConnection`).
#[pyclass(name = "StreamConnection", module = "rtsp_worker", frozen)]
pub(crate) struct Connection {
    pub(crate) shared: Arc<Shared>,
}

#[pymethods]
impl Connection {
    #[getter]
    fn stream_id(&self) -> &str {
        self.shared.stream.id()
    }

    /// `"connecting"`, `"connected"`, `"stalled"`, `"reconnecting"`, `"draining"` or `"ended"`.
    #[getter]
    fn state(&self) -> &'static str {
        self.shared.stream.state().as_str()
    }

    /// This stream's statistics (accounting included), as in `get_stats()["connections"]`.
    fn get_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.shared.stats(py)
    }

    /// Results in order until the stream ends (`async for result in ...`).
    fn tracking_results(&self) -> PyResult<ResultIterator> {
        self.shared.no_callbacks()?;
        Ok(ResultIterator {
            shared: self.shared.clone(),
        })
    }

    /// Results (as `TrackingResult`) and lifecycle events (as dicts: `{"event":
    /// "reconnecting", "attempt": 2, "error": "...", "error_kind": "camera", ...}`) in order,
    /// until the stream ends.
    fn events(&self) -> PyResult<EventIterator> {
        self.shared.no_callbacks()?;
        Ok(EventIterator {
            shared: self.shared.clone(),
        })
    }

    /// The seed's `result_queue`: `await result_queue.get()`.
    #[getter]
    fn result_queue(&self) -> PyResult<ResultQueue> {
        self.shared.no_callbacks()?;
        Ok(ResultQueue {
            shared: self.shared.clone(),
        })
    }

    /// Waits until the camera plays (raises the error that ended it, or a timeout).
    #[pyo3(signature = (timeout = 10.0))]
    fn wait_connected<'py>(&self, py: Python<'py>, timeout: f64) -> PyResult<Bound<'py, PyAny>> {
        let stream = self.shared.stream.clone();
        let limit = seconds("timeout", timeout)?;
        awaitable(py, async move {
            stream
                .wait_connected(limit)
                .await
                .map_err(|e| crate::py_err(&e))
        })
    }

    /// The latest processed frame, annotated, as JPEG bytes (needs the manager's
    /// `snapshot_interval`); `None` until one was kept.
    fn snapshot<'py>(&self, py: Python<'py>) -> Option<Bound<'py, pyo3::types::PyBytes>> {
        let s = py.detach(|| self.shared.stream.snapshot())?;
        Some(pyo3::types::PyBytes::new(py, &s.jpeg))
    }

    /// The stream's tracks now, as bytes to pass to another `connect_stream(...,
    /// resume_tracks=...)` of the same camera (here or in another process) so that its
    /// track ids go on; `None` before the first result. Also after the stream ended.
    fn track_snapshot<'py>(&self, py: Python<'py>) -> Option<Bound<'py, pyo3::types::PyBytes>> {
        let s = py.detach(|| self.shared.stream.track_snapshot())?;
        Some(pyo3::types::PyBytes::new(py, &s.to_bytes()))
    }

    fn __repr__(&self) -> String {
        format!(
            "StreamConnection(stream_id={:?}, state={:?})",
            self.shared.stream.id(),
            self.shared.stream.state().as_str()
        )
    }
}

/// A duration in seconds from Python.
pub(crate) fn seconds(name: &str, s: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| {
        pyo3::exceptions::PyValueError::new_err(format!(
            "{name} must be a non-negative number of seconds, not {s}"
        ))
    })
}

/// `async for result in connection.tracking_results()`.
#[pyclass(module = "rtsp_worker", frozen)]
pub(crate) struct ResultIterator {
    shared: Arc<Shared>,
}

#[pymethods]
impl ResultIterator {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let shared = self.shared.clone();
        awaitable(py, async move {
            match shared.stream.queue().get().await {
                Some(r) => Ok(shared.result(r)),
                None => Err(PyStopAsyncIteration::new_err(())),
            }
        })
    }
}

/// A result or a lifecycle event.
enum Event {
    Result(Box<TrackingResult>),
    Lifecycle(String),
}

impl<'py> IntoPyObject<'py> for Event {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Self::Result(r) => Ok(Bound::new(py, *r)?.into_any()),
            Self::Lifecycle(json) => py.import("json")?.call_method1("loads", (json,)),
        }
    }
}

/// `async for event in connection.events()`.
#[pyclass(module = "rtsp_worker", frozen)]
pub(crate) struct EventIterator {
    shared: Arc<Shared>,
}

#[pymethods]
impl EventIterator {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let shared = self.shared.clone();
        awaitable(py, async move {
            match shared.stream.next_event().await {
                Some(rtsp_worker::StreamEvent::Result(r)) => {
                    Ok(Event::Result(Box::new(shared.result(r))))
                }
                Some(e) => Ok(Event::Lifecycle(
                    serde_json::to_string(&e).unwrap_or_else(|_| "{}".into()),
                )),
                None => Err(PyStopAsyncIteration::new_err(())),
            }
        })
    }
}

/// The seed's `connection.result_queue`: `asyncio.Queue`'s reading half. The queue is the
/// facade's, bounded: when the reader falls behind, the oldest results are dropped and counted
/// (`consumer_too_slow`). Once the stream has ended and everything was taken, `get()` raises
/// `rtsp_worker.QueueShutDown` (`asyncio.QueueShutDown` on Python 3.13+).
#[pyclass(module = "rtsp_worker", frozen)]
pub(crate) struct ResultQueue {
    shared: Arc<Shared>,
}

/// An exception of the type `module.name`, with `args`.
fn exception(
    py: Python<'_>,
    module: &str,
    name: &str,
    args: impl pyo3::PyErrArguments + 'static,
) -> PyErr {
    let t = py.import(module).and_then(|m| m.getattr(name));
    match t.map(|t| t.cast_into::<pyo3::types::PyType>()) {
        Ok(Ok(t)) => PyErr::from_type(t, args),
        Ok(Err(e)) => e.into(),
        Err(e) => e,
    }
}

fn shut_down(py: Python<'_>) -> PyErr {
    exception(py, "rtsp_worker", "QueueShutDown", "stream ended")
}

#[pymethods]
impl ResultQueue {
    /// The next result, waiting for one.
    fn get<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let shared = self.shared.clone();
        awaitable(py, async move {
            match shared.stream.queue().get().await {
                Some(r) => Ok(shared.result(r)),
                None => Err(Python::attach(shut_down)),
            }
        })
    }

    /// The next result if one waits; else raises `asyncio.QueueEmpty`.
    fn get_nowait(&self, py: Python<'_>) -> PyResult<TrackingResult> {
        let queue = self.shared.stream.queue();
        if let Some(r) = queue.try_get() {
            return Ok(self.shared.result(r));
        }
        if queue.is_finished() {
            return Err(shut_down(py));
        }
        Err(exception(py, "asyncio", "QueueEmpty", ()))
    }

    /// Results waiting now.
    fn qsize(&self) -> usize {
        self.shared.stream.queue().len()
    }

    fn empty(&self) -> bool {
        self.shared.stream.queue().is_empty()
    }

    /// Never full: a full queue drops its oldest result instead of refusing a new one.
    fn full(&self) -> bool {
        false
    }

    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        ResultIterator {
            shared: self.shared.clone(),
        }
        .__anext__(py)
    }
}
