//! `rtsp_worker._native`: the seed's asyncio API (`StreamConnectionManager`, callbacks, async
//! iterators, the result queue, `get_stats()`) on the Rust facade.
//!
//! Of the workspace it depends on the facade only (tidy's `LAYERS`).
//!
//! A thin layer by design: each Python object wraps one facade object and converts at the
//! boundary; the pipeline, its accounting and its bounded queues are the facade's. Three rules
//! hold at the boundary:
//!
//! - The GIL is released whenever Rust waits or works (async methods run on tokio; blocking
//!   calls detach), so Python threads and the event loop keep going.
//! - Callbacks run on the stream's own consumer thread (the facade's): a slow callback delays
//!   only its stream, whose oldest results are dropped and counted (`consumer_too_slow`).
//!   `async def` callbacks are awaited on the event loop that connected the stream, one at a
//!   time per stream.
//! - Errors become Python exceptions (`RtspWorkerError` and subclasses) carrying the facade
//!   error's `kind` and message, which never contain a password.

mod bridge;
mod manager;
mod result;
mod stream;

use pyo3::prelude::*;
use pyo3::types::PyString;

pyo3::create_exception!(
    rtsp_worker,
    RtspWorkerError,
    pyo3::exceptions::PyException,
    "An error from the engine; `kind` names it (`camera`, `model_not_found`, …)."
);
pyo3::create_exception!(
    rtsp_worker,
    StreamError,
    RtspWorkerError,
    "What a stream reports to `on_error`: a lost connection (it reconnects), a stall, or its \
     end; `stream_id`, `event` and `kind` say which."
);
pyo3::create_exception!(
    rtsp_worker,
    CallbackError,
    RtspWorkerError,
    "A user callback raised; the original exception is its `__cause__`. The stream goes on."
);

/// A facade error as a Python exception with its `kind`.
pub(crate) fn py_err(e: &rtsp_worker::Error) -> PyErr {
    with_kind(RtspWorkerError::new_err(e.to_string()), e.kind())
}

/// `err` with a `kind` attribute.
pub(crate) fn with_kind(err: PyErr, kind: &str) -> PyErr {
    Python::attach(|py| {
        let _ = err.value(py).setattr("kind", kind);
    });
    err
}

/// A serialisable value as plain Python objects (dicts, lists, numbers, strings), through
/// JSON: the facade's `Serialize` shapes are the documented ones (docs/RESULTS.md).
pub(crate) fn to_python<'py>(
    py: Python<'py>,
    value: &impl serde::Serialize,
) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
    py.import("json")?
        .call_method1("loads", (PyString::new(py, &text),))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<manager::Manager>()?;
    m.add_class::<stream::Connection>()?;
    m.add_class::<stream::ResultIterator>()?;
    m.add_class::<stream::EventIterator>()?;
    m.add_class::<stream::ResultQueue>()?;
    m.add_class::<result::TrackingResult>()?;
    m.add_class::<result::TrackedObject>()?;
    m.add_class::<result::Detection>()?;
    m.add("RtspWorkerError", py.get_type::<RtspWorkerError>())?;
    m.add("StreamError", py.get_type::<StreamError>())?;
    m.add("CallbackError", py.get_type::<CallbackError>())?;
    m.add_function(wrap_pyfunction!(bridge::quiesce, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::delivery_cpu_seconds, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("default_model_path", rtsp_worker::default_model_path())?;
    Ok(())
}
