//! The shared decode pools: a few threads that run every stream's decode loop as a task, so
//! that a frame wakes a busy worker rather than a sleeping thread of its own.
//!
//! A pool is a multi-threaded tokio runtime of its own, never the caller's: the loops decode
//! on the spot (blocking work), which would starve a runtime doing I/O, and here it only
//! delays other streams' frames by one decode. Pools live as long as the process and are
//! shared by every manager asking for the same size and priority.

use std::sync::{Mutex, PoisonError};

use crate::Error;

/// The pools made so far: (threads, nice steps) and a handle to each.
static POOLS: Mutex<Vec<((usize, i32), tokio::runtime::Handle)>> = Mutex::new(Vec::new());

/// A handle to the pool of `threads` decode threads running `nice` steps below normal
/// priority; made on first use.
pub(crate) fn pool(threads: usize, nice: i32) -> Result<tokio::runtime::Handle, Error> {
    let mut pools = POOLS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, handle)) = pools.iter().find(|(k, _)| *k == (threads, nice)) {
        return Ok(handle.clone());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name("rw-decode")
        // The drains' waits (a thread each, rarely) give their threads back soon.
        .thread_keep_alive(std::time::Duration::from_secs(1))
        .on_thread_start(move || lower_this_threads_priority(nice))
        .build()
        .map_err(|e| Error::Spawn(format!("the decode pool: {e}")))?;
    let handle = runtime.handle().clone();
    // Kept for the process's life: a runtime cannot be dropped from one of its own tasks,
    // and the last stream may end on one.
    std::mem::forget(runtime);
    pools.push(((threads, nice), handle.clone()));
    Ok(handle)
}

/// Lowers the calling thread's scheduling priority by `steps` nice levels (Linux; a no-op
/// elsewhere or if refused).
pub(crate) fn lower_this_threads_priority(steps: i32) {
    #[cfg(target_os = "linux")]
    if steps > 0 {
        // SAFETY: plain syscalls on the calling thread's own id; no memory is passed.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            let now = libc::getpriority(libc::PRIO_PROCESS, tid);
            let _ = libc::setpriority(libc::PRIO_PROCESS, tid, (now + steps).min(19));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = steps;
}
