//! The facade's error type: what went wrong, for which stream, with the lower crate's typed
//! error inside. URLs in it are always redacted.

use std::path::PathBuf;

/// Everything that can go wrong in the facade.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A builder or stream setting is out of range.
    #[error("invalid setting `{field}`: {problem}")]
    InvalidConfig {
        /// The setting.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The model file is not there.
    #[error(
        "model file {} not found (run `cargo xtask setup` to provision the default model, or \
         pass another)",
        path.display()
    )]
    ModelNotFound {
        /// The path tried.
        path: PathBuf,
    },
    /// Loading or running the model failed before any stream started (ONNX Runtime missing,
    /// a file that is not a detector, a GPU provider that cannot start).
    #[error(transparent)]
    Model(infer_trt::Error),
    /// The device asked for cannot be used by this build or on this machine.
    #[error("device {device}: {reason}")]
    DeviceUnavailable {
        /// `cpu`, `cuda:0`, …
        device: String,
        /// Why.
        reason: String,
    },
    /// A camera session failed (refused, unreachable, wrong credentials, unsupported codec
    /// or transport, …).
    #[error("stream {id:?}: {source}")]
    Camera {
        /// The stream.
        id: String,
        /// rtsp-ingest's error (its URL redacted).
        source: rtsp_ingest::Error,
    },
    /// The stream's decoder failed.
    #[error("stream {id:?}: decoder: {source}")]
    Decode {
        /// The stream.
        id: String,
        /// gpu-decode's error.
        source: gpu_decode::Error,
    },
    /// Detection failed for a frame of this stream (the frame is counted as
    /// `inference_failed`; the stream goes on).
    #[error("stream {id:?}: detection failed: {source}")]
    Inference {
        /// The stream.
        id: String,
        /// infer-trt's error.
        source: infer_trt::Error,
    },
    /// `connect_stream` with an id already in use.
    #[error("a stream with id {0:?} already exists")]
    DuplicateStream(String),
    /// No stream with this id.
    #[error("no stream with id {0:?}")]
    UnknownStream(String),
    /// A stream id outside the alphabet every output can carry as it is
    /// ([`check_stream_id`](crate::check_stream_id)); holds at most its first 64 characters.
    #[error("stream id {0:?} is not 1–64 of A–Z a–z 0–9 _ . - (not starting with '.')")]
    InvalidStreamId(String),
    /// A `file://` URL given to a manager that does not take them
    /// ([`ManagerBuilder::allow_file_urls`](crate::ManagerBuilder::allow_file_urls)), or by
    /// a caller that may not give them. Names no path.
    #[error(
        "file:// URLs are refused here: only the operator, on the command line or in the \
         config file with --allow-file-urls, may replay a local file"
    )]
    FileUrlRefused,
    /// More streams than the manager was built for (`ManagerBuilder::max_streams`).
    #[error("too many streams: this manager takes at most {0}")]
    TooManyStreams(usize),
    /// The manager has been shut down.
    #[error("the manager is shut down")]
    Shutdown,
    /// A thread or task could not be started, or an async method was called outside a tokio
    /// runtime.
    #[error("cannot start: {0}")]
    Spawn(String),
    /// A model swap was refused: the new model detects other classes than the running one,
    /// so the current tracks would mean nothing under it
    /// ([`StreamConnectionManager::swap_model`](crate::StreamConnectionManager::swap_model)
    /// with `restart_tracks` ends them instead).
    #[error(
        "the model {} detects other classes than the running one ({new} vs {running}): swap \
         with restart_tracks to end the current tracks",
        path.display()
    )]
    ModelClassesDiffer {
        /// The new model.
        path: PathBuf,
        /// Classes of the running model.
        running: usize,
        /// Classes of the new one.
        new: usize,
    },
    /// A track snapshot that cannot be read or restored
    /// ([`TrackSnapshot::from_bytes`](crate::TrackSnapshot::from_bytes)).
    #[error("track snapshot: {0}")]
    BadTrackSnapshot(String),
}

impl Error {
    /// A short stable name for the kind of error, for logs, JSON and bindings
    /// (`"camera"`, `"model_not_found"`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidConfig { .. } => "invalid_config",
            Self::ModelNotFound { .. } => "model_not_found",
            Self::Model(_) => "model",
            Self::DeviceUnavailable { .. } => "device_unavailable",
            Self::Camera { .. } => "camera",
            Self::Decode { .. } => "decode",
            Self::Inference { .. } => "inference",
            Self::DuplicateStream(_) => "duplicate_stream",
            Self::UnknownStream(_) => "unknown_stream",
            Self::InvalidStreamId(_) => "invalid_stream_id",
            Self::FileUrlRefused => "file_url_refused",
            Self::TooManyStreams(_) => "too_many_streams",
            Self::Shutdown => "shutdown",
            Self::Spawn(_) => "spawn",
            Self::BadTrackSnapshot(_) => "bad_track_snapshot",
            Self::ModelClassesDiffer { .. } => "model_classes_differ",
        }
    }
}
