//! The outputs' one interface. Every output of the service (JSON lines on stdout, the
//! latency histograms, MQTT, snapshots, the fleet's results stream) is a [`Sink`]: the
//! registry opens it once per stream and offers it every event of that stream from the
//! stream's consumer task.
//!
//! The rule that keeps one output from costing another anything: [`StreamSink::offer`] never
//! waits. A sink that does I/O puts the work into its own bounded queue and counts what the
//! queue had no room for (stdout: `stdout_lines_dropped`; MQTT: `mqtt_messages{outcome=
//! "dropped"}`; snapshots: `snapshots_dropped`; the fleet: `buffer_full`). A sink that only
//! updates memory (the metrics) needs no queue.

use futures::future::BoxFuture;
use rtsp_worker::{StreamConnection, StreamEvent};

/// One output of the service.
pub trait Sink: Send + Sync {
    /// A stream starts: what this sink keeps for it, or `None` when the stream is none of
    /// its business (the fleet's publisher takes only streams run under a lease). `lease`
    /// is the fleet's lease token the stream runs under, if any.
    fn open(&self, conn: &StreamConnection, lease: Option<u64>) -> Option<Box<dyn StreamSink>>;

    /// A stream was removed at run time (not at the end of the run): forget what was kept
    /// for it (the metrics drop its histogram, snapshots the folder this run made for it).
    fn forget(&self, _id: &str) {}

    /// The run ends, after every stream's consumer has: flush what can be flushed, within
    /// the sink's own patience.
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// One stream's share of a sink, fed by that stream's consumer task only.
pub trait StreamSink: Send {
    /// One event of the stream. Never waits: work that waits goes into the sink's bounded
    /// queue, and what does not fit is dropped and counted.
    fn offer(&mut self, event: &StreamEvent);
}
