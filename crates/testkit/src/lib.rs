//! Test support shared by the workspace's tests, benches and examples: the clips `cargo
//! xtask setup` caches, a real RTSP server on loopback (GStreamer's, `rtsp_server.py`), a
//! hostile one, and the harness of the bad-input tests.
//!
//! Only ever a dev-dependency (tidy checks it); it depends on no crate of the workspace, so
//! that every crate's tests can use it, the lowest included.

pub mod bits;
pub mod harness;
pub mod hostile;
mod server;

pub use crate::server::{Server, clip, clips};
