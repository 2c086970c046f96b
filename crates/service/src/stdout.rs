//! The stdout sink: JSON lines (docs/RESULTS.md), or the demo's human lines, written by one
//! thread (stdout is blocking I/O) from a bounded queue. A full queue — stdout slower than
//! the cameras — drops the line and counts it (`stdout_lines_dropped`), so that a slow stdout
//! costs neither the pipeline nor the other sinks anything.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use rtsp_worker::{StreamConnection, StreamEvent};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use crate::output;
use crate::sink::{Sink, StreamSink};
use crate::support::lock;

/// Lines waiting for stdout at most.
const QUEUE: usize = 1024;

/// How results are shown on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// JSON lines (and lifecycle and zone events too with `events`).
    Json { events: bool },
    /// A human line per stream and second, for the demo.
    Human,
    /// Nothing on stdout (HTTP, MQTT and metrics only).
    Quiet,
}

/// The process's stdout, as a sink.
#[derive(Debug)]
pub struct Stdout {
    mode: Mode,
    /// To the writer thread; taken at the close so that it finishes.
    lines: Mutex<Option<mpsc::Sender<String>>>,
    gone: Arc<Notify>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    dropped: Arc<AtomicU64>,
}

impl Stdout {
    /// Starts the writer thread; `dropped` counts the lines it had no room for.
    pub fn start(mode: Mode, dropped: Arc<AtomicU64>) -> Self {
        let (lines, mut lines_rx) = mpsc::channel::<String>(QUEUE);
        let gone = Arc::new(Notify::new());
        let g = gone.clone();
        let writer = std::thread::spawn(move || {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            while let Some(line) = lines_rx.blocking_recv() {
                let ok = out.write_all(line.as_bytes()).is_ok() && out.write_all(b"\n").is_ok();
                if !ok || (lines_rx.is_empty() && out.flush().is_err()) {
                    g.notify_one();
                    break;
                }
            }
            let _ = out.flush();
        });
        Self {
            mode,
            lines: Mutex::new(Some(lines)),
            gone,
            writer: Mutex::new(Some(writer)),
            dropped,
        }
    }

    /// Resolves when stdout is gone (a closed pipe): the run should stop.
    pub async fn gone(&self) {
        self.gone.notified().await;
    }

    /// Lines dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Sink for Stdout {
    fn open(&self, conn: &StreamConnection, _lease: Option<u64>) -> Option<Box<dyn StreamSink>> {
        if self.mode == Mode::Quiet {
            return None;
        }
        Some(Box::new(StdoutStream {
            id: conn.id().to_owned(),
            mode: self.mode,
            out: lock(&self.lines).clone()?,
            dropped: self.dropped.clone(),
            last_human: None,
        }))
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {
            // The writer ends when every sender is gone: this one, and the streams' (done).
            drop(lock(&self.lines).take());
            let writer = lock(&self.writer).take();
            if let Some(w) = writer {
                let _ = tokio::task::spawn_blocking(move || w.join()).await;
            }
        })
    }
}

/// One stream's lines.
struct StdoutStream {
    id: String,
    mode: Mode,
    out: mpsc::Sender<String>,
    dropped: Arc<AtomicU64>,
    last_human: Option<Instant>,
}

impl StreamSink for StdoutStream {
    fn offer(&mut self, event: &StreamEvent) {
        let mut lines = Vec::new();
        match (self.mode, event) {
            (Mode::Json { events }, StreamEvent::Result(r)) => {
                lines.push(output::json_line(&self.id, event));
                if events {
                    lines.extend(output::zone_event_lines(r));
                }
            }
            (Mode::Json { events: true }, _) => lines.push(output::json_line(&self.id, event)),
            (Mode::Human, StreamEvent::Result(r))
                if self
                    .last_human
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) =>
            {
                self.last_human = Some(Instant::now());
                lines.push(output::demo_line(r));
            }
            _ => {}
        }
        for line in lines {
            match self.out.try_send(line) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
                // stdout is gone; the stream drains on.
                Err(mpsc::error::TrySendError::Closed(_)) => break,
            }
        }
    }
}
