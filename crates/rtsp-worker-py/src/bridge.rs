//! Rust futures as asyncio awaitables, on a tokio runtime of the module's own, with an exit
//! that never races the interpreter.
//!
//! Each awaitable is an `asyncio.Future` of the calling loop; the Rust future runs on the
//! runtime and hands its outcome back with `loop.call_soon_threadsafe`. That call releases
//! the GIL inside (it writes the loop's wake-up socket), so a runtime thread may still be in it
//! when the loop's thread has its result and the interpreter begins to exit; a thread that
//! takes the GIL back during finalization is ended with `pthread_exit`, whose unwind through
//! Rust aborts the process (seen with pyo3-async-runtimes in 2 of 5 exits). So every task is
//! registered until it has *left* Python, and the package's exit hook calls [`quiesce`]:
//! cancel what is still waiting, wait (GIL released) until every task has left.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::FutureExt;
use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use tokio::task::AbortHandle;

/// The runtime the facade's async parts and these futures run on.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("rtsp-worker-py")
            .enable_all()
            .build()
            .expect("a tokio runtime")
    });
    &RUNTIME
}

/// CPU time threads spent handing results to Python (bridge completions and callback
/// deliveries, the callbacks included), nanoseconds.
static DELIVERY_NS: AtomicU64 = AtomicU64::new(0);

/// This thread's CPU time, nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid out-pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Runs `f` (a hand-over to Python) and counts the CPU time it took on this thread.
pub(crate) fn delivering<R>(f: impl FnOnce() -> R) -> R {
    let t0 = thread_cpu_ns();
    let r = f();
    DELIVERY_NS.fetch_add(thread_cpu_ns().saturating_sub(t0), Ordering::Relaxed);
    r
}

/// CPU seconds engine threads spent handing results to Python so far: bridge completions and
/// callback deliveries (the callbacks' own Python code included). For benchmarks.
#[pyfunction]
pub(crate) fn delivery_cpu_seconds() -> f64 {
    DELIVERY_NS.load(Ordering::Relaxed) as f64 / 1e9
}

/// Tasks that may still call into Python.
struct Registry {
    tasks: Mutex<HashMap<u64, AbortHandle>>,
    left: Condvar,
    next: AtomicU64,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry {
    tasks: Mutex::new(HashMap::new()),
    left: Condvar::new(),
    next: AtomicU64::new(0),
});

/// Removes its task from the registry when dropped: after the task's last touch of Python,
/// or when it is aborted (at an await, never inside Python).
struct Registered(u64);

impl Drop for Registered {
    fn drop(&mut self) {
        let mut tasks = REGISTRY
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        tasks.remove(&self.0);
        REGISTRY.left.notify_all();
    }
}

/// `fut` as an awaitable of the running event loop. Cancelling the awaitable cancels `fut`.
pub(crate) fn awaitable<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
    let py_future = event_loop.call_method0("create_future")?;
    let resolve = py.import("rtsp_worker._glue")?.getattr("resolve")?.unbind();
    let (event_loop, target) = (event_loop.unbind(), py_future.clone().unbind());
    let id = REGISTRY.next.fetch_add(1, Ordering::Relaxed);
    // Registered before it can run, so that quiesce never misses it.
    let mut tasks = REGISTRY
        .tasks
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    // Made before the task: a task aborted before its first poll drops it too.
    let registered = Registered(id);
    let handle = runtime().spawn(async move {
        let _registered = registered;
        let outcome = AssertUnwindSafe(fut)
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(panicked()));
        delivering(|| {
            Python::try_attach(|py| {
                let (ok, value) = match outcome.and_then(|v| v.into_py_any(py)) {
                    Ok(v) => (true, v),
                    Err(e) => (false, e.into_value(py).into_any()),
                };
                // Raises only if the loop is closed: then nobody waits for the value.
                let _ = event_loop.call_method1(
                    py,
                    "call_soon_threadsafe",
                    (resolve, target, ok, value),
                );
            })
        });
    });
    tasks.insert(id, handle.abort_handle());
    drop(tasks);
    let cancel = Bound::new(py, Cancel(handle.abort_handle()))?;
    py_future.call_method1("add_done_callback", (cancel,))?;
    Ok(py_future)
}

fn panicked() -> PyErr {
    pyo3::exceptions::PyRuntimeError::new_err("the engine panicked (see its log); please report it")
}

/// Starts `fut` on the runtime now, to run to its end whatever happens to the awaitable that
/// waits for it (for work that must not stop half-way: disconnecting, shutting down).
pub(crate) fn detached<F, T>(fut: F) -> impl Future<Output = PyResult<T>> + Send + 'static
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: Send + 'static,
{
    let handle = runtime().spawn(fut);
    async move { handle.await.unwrap_or_else(|_| Err(panicked())) }
}

/// Aborts a task when its awaitable is cancelled.
#[pyclass(module = "rtsp_worker", frozen)]
struct Cancel(AbortHandle);

#[pymethods]
impl Cancel {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            self.0.abort();
        }
        Ok(())
    }
}

/// Cancels every task still waiting and waits (GIL released) until all have left Python, at
/// most `timeout` seconds. Returns how many had not left.
#[pyfunction]
pub(crate) fn quiesce(py: Python<'_>, timeout: f64) -> usize {
    py.detach(|| {
        let deadline = Instant::now() + Duration::from_secs_f64(timeout.clamp(0.0, 3600.0));
        let mut tasks = REGISTRY
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for handle in tasks.values() {
            handle.abort();
        }
        while !tasks.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            tasks = REGISTRY
                .left
                .wait_timeout(tasks, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        tasks.len()
    })
}
