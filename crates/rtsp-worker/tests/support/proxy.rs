//! A loopback TCP proxy in front of the RTSP server that a test controls: it forwards until
//! told to cut its connections (FIN), reset them (RST), stall them (stop forwarding, keep the
//! sockets), trickle them (a few KiB/s) or shift the RTP timestamps they carry backwards.
//!
//! Faults apply to the connections open when they are injected; a connection made afterwards
//! (the client reconnecting) is forwarded normally, like a camera that came back. The proxy
//! reads the server's side as RTSP messages and interleaved `$` frames, so it can rewrite
//! RTP and RTCP sender-report timestamps (the stream must be played over TCP).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What a connection does with the bytes it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Forward everything.
    Forward,
    /// Forward nothing in either direction; keep both sockets open.
    Stall,
    /// Forward the server's bytes at this many bytes per second.
    Trickle(usize),
    /// Forward, subtracting this many clock ticks from every RTP timestamp (and from the RTP
    /// time in RTCP sender reports): the camera's clock jumped backwards.
    ShiftRtp(u32),
    /// Close both sockets with a FIN.
    Cut,
    /// Close the client's socket with a RST (and the server's with a FIN).
    Reset,
}

pub(crate) struct Proxy {
    pub(crate) port: u16,
    open: Arc<Mutex<Vec<watch::Sender<Fault>>>>,
    accepted: Arc<Mutex<usize>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// A proxy on a free loopback port in front of `127.0.0.1:upstream`.
    pub(crate) async fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open: Arc<Mutex<Vec<watch::Sender<Fault>>>> = Arc::default();
        let accepted = Arc::new(Mutex::new(0));
        let task = tokio::spawn({
            let open = open.clone();
            let accepted = accepted.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let (tx, rx) = watch::channel(Fault::Forward);
                    {
                        let mut open = open.lock().unwrap();
                        open.retain(|s| !s.is_closed());
                        open.push(tx);
                    }
                    *accepted.lock().unwrap() += 1;
                    tokio::spawn(serve(client, upstream, rx));
                }
            }
        });
        Proxy {
            port,
            open,
            accepted,
            task,
        }
    }

    pub(crate) fn url(&self, mount: &str) -> String {
        format!("rtsp://127.0.0.1:{}{mount}", self.port)
    }

    /// Applies `fault` to every connection open now.
    pub(crate) fn inject(&self, fault: Fault) {
        for conn in self.open.lock().unwrap().iter() {
            let _ = conn.send(fault);
        }
    }

    /// Connections open now.
    pub(crate) fn open(&self) -> usize {
        let mut open = self.open.lock().unwrap();
        open.retain(|s| !s.is_closed());
        open.len()
    }

    /// Connections accepted so far.
    pub(crate) fn accepted(&self) -> usize {
        *self.accepted.lock().unwrap()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.inject(Fault::Cut);
    }
}

/// One client connection, until it or the server closes it or a cut/reset is injected.
async fn serve(mut client: TcpStream, upstream: u16, mut fault: watch::Receiver<Fault>) {
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    let ending = {
        let (mut client_rx, mut client_tx) = client.split();
        let (mut server_rx, mut server_tx) = server.split();
        let mut up_fault = fault.clone();
        let mut down_fault = fault.clone();
        let up = async {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                forwarding(&mut up_fault).await?;
                let n = client_rx.read(&mut buf).await.ok()?;
                if n == 0 {
                    return None::<()>;
                }
                server_tx.write_all(&buf[..n]).await.ok()?;
            }
        };
        let down = async {
            let mut pending = Vec::with_capacity(64 * 1024);
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                // Whole messages from the server, one at a time.
                let len = loop {
                    if let Some(len) = message_len(&pending) {
                        break len;
                    }
                    let n = server_rx.read(&mut buf).await.ok()?;
                    if n == 0 {
                        return None::<()>;
                    }
                    pending.extend_from_slice(&buf[..n]);
                };
                let f = forwarding(&mut down_fault).await?;
                let mut msg: Vec<u8> = pending.drain(..len).collect();
                match f {
                    Fault::ShiftRtp(ticks) => shift_rtp(&mut msg, ticks),
                    Fault::Trickle(rate) => {
                        for chunk in msg.chunks(256) {
                            client_tx.write_all(chunk).await.ok()?;
                            let secs = chunk.len() as f64 / rate.max(1) as f64;
                            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                        }
                        continue;
                    }
                    _ => {}
                }
                client_tx.write_all(&msg).await.ok()?;
            }
        };
        let ended = async {
            loop {
                if fault.changed().await.is_err() {
                    return Fault::Cut;
                }
                let f = *fault.borrow();
                if matches!(f, Fault::Cut | Fault::Reset) {
                    return f;
                }
            }
        };
        tokio::select! {
            _ = up => Fault::Cut,
            _ = down => Fault::Cut,
            f = ended => f,
        }
    };
    if ending == Fault::Reset {
        let _ = client.set_zero_linger();
    }
    let _ = server.shutdown().await;
    drop(server);
    drop(client);
}

/// Waits while the connection is stalled; the fault to forward under, or `None` when the
/// connection is to close.
async fn forwarding(fault: &mut watch::Receiver<Fault>) -> Option<Fault> {
    loop {
        let f = *fault.borrow_and_update();
        match f {
            Fault::Stall => fault.changed().await.ok()?,
            Fault::Cut | Fault::Reset => return None,
            f => return Some(f),
        }
    }
}

/// The length of the first complete message in `buf`: an interleaved frame (`$`, channel,
/// 16-bit length) or an RTSP message (headers, then `Content-Length` bytes).
fn message_len(buf: &[u8]) -> Option<usize> {
    if buf.first() == Some(&b'$') {
        let n = 4 + usize::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]));
        return (buf.len() >= n).then_some(n);
    }
    let head = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = String::from_utf8_lossy(&buf[..head]);
    let body = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    (buf.len() >= head + body).then_some(head + body)
}

/// Subtracts `ticks` from the RTP timestamp of an interleaved RTP packet (even channel) or of
/// the RTCP sender reports in a compound packet (odd channel).
fn shift_rtp(msg: &mut [u8], ticks: u32) {
    if msg.first() != Some(&b'$') {
        return;
    }
    let channel = msg[1];
    let payload = &mut msg[4..];
    let sub = |b: &mut [u8]| {
        let ts = u32::from_be_bytes([b[0], b[1], b[2], b[3]]).wrapping_sub(ticks);
        b.copy_from_slice(&ts.to_be_bytes());
    };
    if channel.is_multiple_of(2) {
        if payload.len() >= 12 {
            sub(&mut payload[4..8]);
        }
        return;
    }
    // RTCP: walk the compound packet; a sender report (200) has its RTP time at byte 16.
    let mut at = 0;
    while at + 4 <= payload.len() {
        let words = usize::from(u16::from_be_bytes([payload[at + 2], payload[at + 3]]));
        let end = at + 4 * (words + 1);
        if end > payload.len() {
            break;
        }
        if payload[at + 1] == 200 && end - at >= 20 {
            sub(&mut payload[at + 16..at + 20]);
        }
        at = end;
    }
}

/// A server that accepts connections and never answers (nor closes them).
pub(crate) struct Silent {
    pub(crate) port: u16,
    accepted: Arc<Mutex<usize>>,
    task: tokio::task::JoinHandle<()>,
}

impl Silent {
    pub(crate) async fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(Mutex::new(0));
        let task = tokio::spawn({
            let accepted = accepted.clone();
            async move {
                let mut held = Vec::new();
                while let Ok((conn, _)) = listener.accept().await {
                    *accepted.lock().unwrap() += 1;
                    held.push(conn);
                }
            }
        });
        Silent {
            port,
            accepted,
            task,
        }
    }

    /// Connections accepted so far.
    pub(crate) fn accepted(&self) -> usize {
        *self.accepted.lock().unwrap()
    }

    pub(crate) fn url(&self, mount: &str) -> String {
        format!("rtsp://127.0.0.1:{}{mount}", self.port)
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.task.abort();
    }
}
