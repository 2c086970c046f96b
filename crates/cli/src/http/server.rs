//! The HTTP server's accept loop: hyper's HTTP/1 connections with a header-read timeout
//! (hyper's own timer: a client that sends its request head slowly, or keeps an idle
//! connection open, is cut off), a request-head size cap, and a cap on open connections.
//!
//! `axum::serve` sets neither timeout nor cap, hence this loop. Nothing in hyper or tower
//! caps *connections* (tower's limits count requests), so the cap is a table of open
//! connections here: at the cap, the oldest connection with no request in progress is closed
//! to make room, as nginx reuses idle keep-alive connections when it runs out. A flood of
//! idle or slow connections therefore never locks out a new client (a probe, an operator):
//! it evicts the flood's own oldest members. Only when every connection is busy with a
//! request is a new one closed at once. Both are counted.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tower::ServiceExt;
use tracing::warn;

use crate::service::lock;

/// The server's limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// A request head (or the first one on a new or idle connection) must arrive within this.
    pub(crate) header_timeout: Duration,
    /// Open connections at most.
    pub(crate) max_connections: usize,
    /// The largest request head, in bytes.
    pub(crate) max_head: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_head: 16 * 1024,
        }
    }
}

/// Connection counters for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct ConnStats {
    /// Open now.
    pub(crate) open: AtomicUsize,
    /// Accepted since the start.
    pub(crate) accepted: AtomicU64,
    /// Idle connections closed to make room for a new one.
    pub(crate) evicted: AtomicU64,
    /// New connections closed at once because every open one was busy.
    pub(crate) refused: AtomicU64,
}

struct Entry {
    busy: Arc<AtomicUsize>,
    evict: Arc<Notify>,
}

/// The open connections, oldest first.
struct Table {
    next: u64,
    open: BTreeMap<u64, Entry>,
}

/// One connection's place in the table; it leaves the table when dropped.
struct Slot {
    key: u64,
    table: Arc<Mutex<Table>>,
    stats: Arc<ConnStats>,
    busy: Arc<AtomicUsize>,
    evict: Arc<Notify>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if lock(&self.table).open.remove(&self.key).is_some() {
            self.stats.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Makes room for a connection: at the cap, the oldest idle one is told to close. `None`
/// when every open connection is busy.
fn admit(table: &Arc<Mutex<Table>>, stats: &Arc<ConnStats>, max: usize) -> Option<Slot> {
    let mut t = lock(table);
    if t.open.len() >= max {
        let idle = t
            .open
            .iter()
            .find(|(_, e)| e.busy.load(Ordering::Acquire) == 0)
            .map(|(k, _)| *k)?;
        if let Some(e) = t.open.remove(&idle) {
            e.evict.notify_one();
            stats.open.fetch_sub(1, Ordering::Relaxed);
            stats.evicted.fetch_add(1, Ordering::Relaxed);
        }
    }
    let key = t.next;
    t.next += 1;
    let (busy, evict) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
    t.open.insert(
        key,
        Entry {
            busy: busy.clone(),
            evict: evict.clone(),
        },
    );
    stats.open.fetch_add(1, Ordering::Relaxed);
    Some(Slot {
        key,
        table: table.clone(),
        stats: stats.clone(),
        busy,
        evict,
    })
}

/// A request in progress on a connection (so that the connection is not evicted).
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(count.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves `app` on `listener` until the process ends.
pub(crate) fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    stats: Arc<ConnStats>,
) -> JoinHandle<()> {
    let table = Arc::new(Mutex::new(Table {
        next: 0,
        open: BTreeMap::new(),
    }));
    tokio::spawn(async move {
        let mut warned = false;
        loop {
            let tcp = match listener.accept().await {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of file descriptors or memory: wait for some to be freed.
                    if !warned {
                        warn!(error = %e, "the HTTP server cannot accept connections");
                        warned = true;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            stats.accepted.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = admit(&table, &stats, limits.max_connections.max(1)) else {
                stats.refused.fetch_add(1, Ordering::Relaxed);
                drop(tcp);
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let app = app.clone();
            tokio::spawn(async move {
                let busy = slot.busy.clone();
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let guard = Busy::new(&busy);
                    let app = app.clone();
                    async move {
                        let response = app.oneshot(request.map(axum::body::Body::new)).await;
                        drop(guard);
                        Ok::<_, Infallible>(response.unwrap_or_else(|e| match e {}))
                    }
                });
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.header_timeout)
                    .max_buf_size(limits.max_head.max(8192))
                    .max_headers(64);
                let connection = builder.serve_connection(TokioIo::new(tcp), service);
                tokio::select! {
                    _ = connection => {}
                    () = slot.evict.notified() => {}
                }
                drop(slot);
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_the_oldest_idle_connection_goes() {
        let table = Arc::new(Mutex::new(Table {
            next: 0,
            open: BTreeMap::new(),
        }));
        let stats = Arc::new(ConnStats::default());
        let a = admit(&table, &stats, 2).unwrap();
        let b = admit(&table, &stats, 2).unwrap();
        let _busy_a = Busy::new(&a.busy);
        // a is busy: b (idle) makes room.
        let c = admit(&table, &stats, 2).unwrap();
        assert_eq!(stats.evicted.load(Ordering::Relaxed), 1);
        assert_eq!(
            lock(&table).open.keys().copied().collect::<Vec<_>>(),
            [a.key, c.key]
        );
        drop(b); // already gone from the table: nothing changes
        assert_eq!(stats.open.load(Ordering::Relaxed), 2);
        // Everyone busy: a new connection is refused.
        let _busy_c = Busy::new(&c.busy);
        assert!(admit(&table, &stats, 2).is_none());
        drop(_busy_c);
        let d = admit(&table, &stats, 2).unwrap();
        assert_eq!(
            lock(&table).open.keys().copied().collect::<Vec<_>>(),
            [a.key, d.key]
        );
        drop((a, c, d));
        assert_eq!(stats.open.load(Ordering::Relaxed), 0);
        assert!(lock(&table).open.is_empty());
    }
}
