//! The HTTP server's accept loop: hyper's HTTP/1 connections with a header-read timeout
//! (hyper's own timer: a client that sends its request head slowly, or keeps an idle
//! connection open, is cut off), a request-head size cap, and a cap on open connections.
//!
//! `axum::serve` sets neither timeout nor cap, hence this loop. Nothing in hyper or tower
//! caps *connections* (tower's limits count requests), so the cap is a table of open
//! connections here: at the cap, the oldest connection with no request in progress and
//! nothing sent is closed to make room (as nginx reuses idle keep-alive connections when it
//! runs out), else the oldest with no request in progress. A flood of idle or slow
//! connections therefore never locks out a new client (a probe, an operator): it evicts the
//! flood's own oldest members, and a client whose request already waits in its socket is
//! passed over until it is served (the oldest `PEEKED` idle connections are looked at, so
//! that making room costs a bounded number of system calls). Only when every connection is
//! busy with a request is a new one closed at once. Both are counted.
//!
//! "Busy" lasts while a handler runs, not while its answer is written: a client that never
//! reads its answers must not be able to hold connections busy and lock newcomers out. The
//! price is that under a flood at the cap, a slow client's answer may be cut off (it
//! reconnects), as nginx's reuse of idle connections does.
//!
//! Connections are accepted on a thread of their own from a listen queue of 4096, so that a
//! burst of thousands of connections neither waits for the runtime's workers (busy with the
//! burst's own tasks) nor overflows the kernel's queue, where a probe's SYN would be dropped
//! and retried a second later.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Notify;
use tower::ServiceExt;
use tracing::warn;

use crate::metrics::ConnStats;
use crate::support::lock;

/// The server's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A request head (or the first one on a new or idle connection) must arrive within this.
    pub header_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
    /// The largest request head, in bytes.
    pub max_head: usize,
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

struct Entry {
    busy: Arc<AtomicUsize>,
    evict: Arc<Notify>,
    /// The connection's socket, to see whether a request already waits in it. An entry
    /// leaves the table before its socket is closed, so the descriptor is never another's.
    fd: std::os::fd::RawFd,
}

/// Idle connections looked at for waiting input before the oldest idle one goes anyway.
const PEEKED: usize = 16;

/// Whether bytes wait to be read on a socket (peeked, not taken).
fn pending_input(fd: std::os::fd::RawFd) -> bool {
    let mut byte = 0u8;
    // SAFETY: a one-byte buffer on the stack; MSG_PEEK leaves the byte where it is,
    // MSG_DONTWAIT never blocks. `fd` is the connection's socket: an entry leaves the table
    // before its socket closes (see `connection`), except when its task unwinds from a
    // panic; then `fd` may name another descriptor for a moment, and a peek of it, which
    // takes nothing, can at worst pass over one connection that should have gone.
    let n = unsafe {
        libc::recv(
            fd,
            (&raw mut byte).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n > 0
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

/// Makes room for a connection on socket `fd`: at the cap, the oldest idle one that sent
/// nothing is told to close, else the oldest idle one. `None` when every open connection is
/// busy.
fn admit(
    table: &Arc<Mutex<Table>>,
    stats: &Arc<ConnStats>,
    max: usize,
    fd: std::os::fd::RawFd,
) -> Option<Slot> {
    let mut t = lock(table);
    if t.open.len() >= max {
        let idle = |e: &Entry| e.busy.load(Ordering::Acquire) == 0;
        let idle = t
            .open
            .iter()
            .filter(|(_, e)| idle(e))
            .take(PEEKED)
            .find(|(_, e)| !pending_input(e.fd))
            .or_else(|| t.open.iter().find(|(_, e)| idle(e)))
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
            fd,
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

/// The listen queue: deep enough for a burst (the kernel caps it at `somaxconn`).
const BACKLOG: u32 = 4096;

/// Binds `addr` for [`serve`], with a deep listen queue.
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let _runtime = tokio::runtime::Handle::try_current().map_err(std::io::Error::other)?;
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(BACKLOG)?.into_std()?;
    listener.set_nonblocking(false)?;
    Ok(listener)
}

/// The running server: [`stop`](Self::stop) ends its accept loop (open connections finish
/// with the process).
#[derive(Debug)]
pub struct Serving {
    stop: Arc<std::sync::atomic::AtomicBool>,
    addr: std::net::SocketAddr,
}

impl Serving {
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = std::net::TcpStream::connect_timeout(&self.addr, Duration::from_millis(100));
    }
}

/// Serves `app` on `listener`, accepting on a thread of its own and serving each connection
/// as a task of the calling runtime.
///
/// # Errors
///
/// The accept thread cannot be started, or there is no runtime.
pub fn serve(
    listener: std::net::TcpListener,
    app: Router,
    limits: Limits,
    stats: Arc<ConnStats>,
) -> std::io::Result<Serving> {
    let runtime = tokio::runtime::Handle::try_current().map_err(std::io::Error::other)?;
    let mut addr = listener.local_addr()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopping = stop.clone();
    let table = Arc::new(Mutex::new(Table {
        next: 0,
        open: BTreeMap::new(),
    }));
    std::thread::Builder::new()
        .name("rw-http-accept".into())
        .spawn(move || {
            let _entered = runtime.enter();
            let mut warned = false;
            while !stopping.load(Ordering::SeqCst) {
                let tcp = match listener.accept() {
                    Ok((tcp, _)) => tcp,
                    Err(e) => {
                        // Out of file descriptors or memory: wait for some to be freed.
                        if !warned {
                            warn!(error = %e, "the HTTP server cannot accept connections");
                            warned = true;
                        }
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    }
                };
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                stats.accepted.fetch_add(1, Ordering::Relaxed);
                let fd = std::os::fd::AsRawFd::as_raw_fd(&tcp);
                let Some(slot) = admit(&table, &stats, limits.max_connections.max(1), fd) else {
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                    drop(tcp);
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let tcp = match tcp
                    .set_nonblocking(true)
                    .and_then(|()| tokio::net::TcpStream::from_std(tcp))
                {
                    Ok(t) => t,
                    Err(_) => continue,
                };
                runtime.spawn(connection(tcp, app.clone(), limits, slot));
            }
        })?;
    Ok(Serving { stop, addr })
}

/// One connection, until it closes, times out or is evicted.
async fn connection(tcp: tokio::net::TcpStream, app: Router, limits: Limits, slot: Slot) {
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
    tokio::pin!(connection);
    tokio::select! {
        _ = &mut connection => {}
        () = slot.evict.notified() => {}
    }
    // Out of the table first, then the socket closes (with `connection`).
    drop(slot);
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
        // Real sockets: connected pairs, the server ends' descriptors in the table.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let pair = || {
            let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (server, _) = listener.accept().unwrap();
            (client, server)
        };
        let fd = |s: &std::net::TcpStream| std::os::fd::AsRawFd::as_raw_fd(s);
        let sockets: Vec<_> = (0..6).map(|_| pair()).collect();
        let a = admit(&table, &stats, 2, fd(&sockets[0].1)).unwrap();
        let b = admit(&table, &stats, 2, fd(&sockets[1].1)).unwrap();
        let _busy_a = Busy::new(&a.busy);
        // a is busy: b (idle) makes room.
        let c = admit(&table, &stats, 2, fd(&sockets[2].1)).unwrap();
        assert_eq!(stats.evicted.load(Ordering::Relaxed), 1);
        assert_eq!(
            lock(&table).open.keys().copied().collect::<Vec<_>>(),
            [a.key, c.key]
        );
        drop(b); // already gone from the table: nothing changes
        assert_eq!(stats.open.load(Ordering::Relaxed), 2);
        // Everyone busy: a new connection is refused.
        let _busy_c = Busy::new(&c.busy);
        assert!(admit(&table, &stats, 2, fd(&sockets[3].1)).is_none());
        drop(_busy_c);
        let d = admit(&table, &stats, 2, fd(&sockets[3].1)).unwrap();
        assert_eq!(
            lock(&table).open.keys().copied().collect::<Vec<_>>(),
            [a.key, d.key]
        );
        drop((a, c, d));
        assert_eq!(stats.open.load(Ordering::Relaxed), 0);
        assert!(lock(&table).open.is_empty());
    }

    #[test]
    fn a_connection_whose_request_waits_is_passed_over() {
        use std::io::Write;
        let table = Arc::new(Mutex::new(Table {
            next: 0,
            open: BTreeMap::new(),
        }));
        let stats = Arc::new(ConnStats::default());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut probe = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (probe_server, _) = listener.accept().unwrap();
        let idle = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (idle_server, _) = listener.accept().unwrap();
        let newcomer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (newcomer_server, _) = listener.accept().unwrap();
        let fd = |s: &std::net::TcpStream| std::os::fd::AsRawFd::as_raw_fd(s);
        probe.write_all(b"GET /readyz HTTP/1.1\r\n\r\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let p = admit(&table, &stats, 2, fd(&probe_server)).unwrap();
        let i = admit(&table, &stats, 2, fd(&idle_server)).unwrap();
        // The probe is older, but its request waits: the idle one goes.
        let n = admit(&table, &stats, 2, fd(&newcomer_server)).unwrap();
        assert_eq!(
            lock(&table).open.keys().copied().collect::<Vec<_>>(),
            [p.key, n.key]
        );
        drop((i, idle, newcomer));
    }
}
