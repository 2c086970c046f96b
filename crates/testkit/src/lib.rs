//! Test support shared by the workspace's tests, benches and examples: the clips `cargo
//! xtask setup` caches, a real RTSP server on loopback (GStreamer's, `rtsp_server.py`), a
//! hostile one, the harness of the bad-input tests, and a model with other class names.
//!
//! Only ever a dev-dependency (tidy checks it); it depends on no crate of the workspace, so
//! that every crate's tests can use it, the lowest included.

pub mod bits;
pub mod harness;
pub mod hostile;
mod server;

pub use crate::server::{Server, clip, clips};

/// Writes to `to` a copy of the YOLO model at `from` whose first class is called `walker`:
/// the same network, other class names (its `names` metadata's `'person'` rewritten in place,
/// same length), for the tests of a model swap that changes classes.
pub fn model_with_walkers(from: &std::path::Path, to: &std::path::Path) {
    let mut bytes = std::fs::read(from).expect("the model (run `cargo xtask setup`)");
    let (person, walker) = (b"0: 'person'", b"0: 'walker'");
    let at = bytes
        .windows(person.len())
        .position(|w| w == person)
        .expect("the model's names metadata");
    bytes[at..at + person.len()].copy_from_slice(walker);
    std::fs::write(to, bytes).expect("write the model copy");
}
