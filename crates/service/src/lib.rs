//! The worker service around the facade (`rtsp-worker`): what the `rtsp-worker` binary runs.
//! It owns the camera registry and its sources — the command line and the cameras file with
//! reload ([`config`], [`registry`]), the HTTP API and status page ([`http`]) — and the
//! outputs, each a [`Sink`] with its own bounded queue and drop counter: JSON lines on stdout
//! ([`stdout`]), Prometheus metrics ([`metrics`]), MQTT ([`mqtt`], [`events`]) and snapshots
//! ([`snapshots`]).
//!
//! It may depend on the facade and below, never on the binary nor on the fleet (the `fleet`
//! crate plugs in through [`FleetLink`] and [`Sink`]); nothing below the facade knows it.
//! Exit codes are the binary's: this crate returns [`Error`].

pub mod config;
pub mod demo;
pub mod discovery;
pub mod engine;
pub mod events;
pub mod http;
pub mod metrics;
pub mod mqtt;
pub mod output;
pub mod outputs;
pub mod recent;
pub mod registry;
pub mod sink;
pub mod snapshots;
pub mod stdout;
pub mod support;
pub mod webhook;

pub use registry::{Finished, FleetLink, Origin, RegistryError, Reload, Seen, Service, Settings};
pub use sink::{Sink, StreamSink};
pub use stdout::Mode;
pub use support::{lock, now_secs};

/// What went wrong, as the binary maps it to an exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Bad settings: a flag, the cameras file, a camera.
    Usage(String),
    /// Something to provision: the model or ONNX Runtime is missing, or the device cannot be
    /// used.
    Provision(String),
    /// Anything else (a server that cannot start).
    Unexpected(String),
}

impl Error {
    pub(crate) fn usage(m: impl Into<String>) -> Self {
        Self::Usage(m.into())
    }

    pub(crate) fn provision(m: impl Into<String>) -> Self {
        Self::Provision(m.into())
    }

    pub(crate) fn unexpected(m: impl Into<String>) -> Self {
        Self::Unexpected(m.into())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Usage(m) | Self::Provision(m) | Self::Unexpected(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl From<rtsp_worker::Error> for Error {
    /// A camera the facade refused (a duplicate id, a bad URL) is the operator's to fix.
    fn from(e: rtsp_worker::Error) -> Self {
        match e {
            rtsp_worker::Error::DuplicateStream(_) | rtsp_worker::Error::Camera { .. } => {
                Self::Usage(e.to_string())
            }
            _ => Self::Unexpected(e.to_string()),
        }
    }
}
