//! How the binary ends: its exit codes, and an error that carries one.

use std::process::ExitCode;

/// The binary's exit codes, as `EXIT_CODES` (the `--help` text) lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// An unexpected failure.
    Unexpected = 1,
    /// Bad arguments, a bad config file or a bad camera URL.
    Usage = 2,
    /// Something to provision: the model or ONNX Runtime is missing, or the device cannot be
    /// used.
    Provision = 3,
    /// Every camera ended with an error.
    AllCamerasFailed = 4,
    /// A second Ctrl-C: quit at once, without draining.
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// An error with the exit code it maps to.
pub(crate) struct Failure {
    pub(crate) code: Exit,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(code: Exit, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<service::Error> for Failure {
    fn from(e: service::Error) -> Self {
        match e {
            service::Error::Usage(m) => Self::new(Exit::Usage, m),
            service::Error::Provision(m) => Self::new(Exit::Provision, m),
            service::Error::Unexpected(m) => Self::new(Exit::Unexpected, m),
        }
    }
}

impl From<fleet::Error> for Failure {
    fn from(e: fleet::Error) -> Self {
        match e {
            fleet::Error::Usage(m) => Self::new(Exit::Usage, m),
            fleet::Error::Unexpected(m) => Self::new(Exit::Unexpected, m),
        }
    }
}
