//! The crate's error type.

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A backend's libraries or device are not on this machine (no NVIDIA driver, no GPU).
    #[error("{backend} is unavailable: {reason}")]
    Unavailable {
        /// `"nvdec"`, `"cuda"`, …
        backend: &'static str,
        /// What is missing.
        reason: String,
    },
    /// The backend cannot decode this codec or configuration.
    #[error("{backend} cannot decode {what}")]
    Unsupported {
        /// Which backend.
        backend: &'static str,
        /// What it was asked for.
        what: String,
    },
    /// This packet could not be decoded (corrupt or truncated). The decoder skips ahead to the
    /// next keyframe; the stream goes on.
    #[error("corrupt packet (pts {pts}): {message}")]
    Corrupt {
        /// The packet's timestamp.
        pts: i64,
        /// The decoder's description.
        message: String,
    },
    /// The backend failed otherwise.
    #[error("{backend}: {message}")]
    Backend {
        /// Which backend.
        backend: &'static str,
        /// Its description.
        message: String,
    },
    /// Sizes or buffers passed in do not fit together.
    #[error("invalid input: {0}")]
    InvalidInput(String),
}
