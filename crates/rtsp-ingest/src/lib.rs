//! RTSP camera sessions that never give up: an RTSP URL in, H.264/H.265 access units out, with
//! trustworthy timestamps, across network faults.
//!
//! It depends on no crate of the workspace: units leave as its own [`AccessUnit`], and only the
//! facade hands them to a decoder (tidy's `LAYERS`).
//!
//! [`connect`] starts a session on the tokio runtime and returns a [`Camera`] at once. Its
//! [`Camera::next`] yields [`Event`]s in order: lifecycle (`Connecting`, `Connected`,
//! `Stalled`, `Reconnecting`, `Ended`) interleaved with [`AccessUnit`]s (Annex B, parameter
//! sets before every keyframe, RTP and wall-clock time). A lost connection or a stall
//! reconnects with capped exponential backoff and jitter, forever by default; the first unit
//! after a reconnect is a keyframe flagged `resync`. A consumer slower than the camera loses
//! the oldest queued units a group of pictures at a time (newest frames win, the rest still
//! decodes), and every drop is counted in [`IngestStats`].
//!
//! [`replay`] plays an Annex B file with the same events, for offline runs and tests.
//!
//! URLs are only ever shown redacted ([`RedactedUrl`]: `rtsp://user:***@host/…`).
//!
//! RTSP and RTP are handled by [`retina`]; this crate knows nothing about decoding.
//!
//! ```no_run
//! # async fn run() -> Result<(), rtsp_ingest::Error> {
//! use rtsp_ingest::{Event, SessionOptions, Transport};
//!
//! let options = SessionOptions::default().transport(Transport::Tcp);
//! let mut camera = rtsp_ingest::connect("rtsp://admin:secret@192.0.2.10/stream1", options)?;
//! while let Some(event) = camera.next().await {
//!     match event {
//!         Event::Frame(au) => { /* au.data: Annex B; au.keyframe, au.wall_clock, … */ }
//!         Event::Reconnecting { error, delay, .. } => eprintln!("{error}; retry in {delay:?}"),
//!         other => eprintln!("{other:?}"),
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # Crate features
//!
//! None. H.265 support in retina is always on.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod annexb;
mod camera;
mod clock;
mod error;
mod event;
mod options;
mod params;
mod queue;
mod replay;
mod session;
mod stats;
mod url;

pub use crate::camera::{Camera, CameraHandle};
pub use crate::error::{Error, Stage};
pub use crate::event::{AccessUnit, EndReason, Event};
pub use crate::options::{
    Backoff, MAX_ACCESS_UNIT_BYTES, MAX_MESSAGE_BYTES, SessionOptions, Transport,
};
pub use crate::params::{Codec, CodecParameters};
pub use crate::replay::{MAX_REPLAY_BYTES, ReplayOptions, replay};
pub use crate::session::{connect, probe};
pub use crate::stats::{FrameDrops, IngestStats, State};
pub use crate::url::{Credentials, RedactedUrl, split_credentials};
