//! The crate's error type: every failure names the camera (redacted URL) and the stage.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::url::{InvalidUrl, RedactedUrl};

/// Where in a session's life an error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Resolving the host and opening the TCP connection.
    Connect,
    /// `DESCRIBE`: asking what the camera streams.
    Describe,
    /// `SETUP`: choosing the transport.
    Setup,
    /// `PLAY`: starting the stream.
    Play,
    /// Receiving frames.
    Receive,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "connect",
            Self::Describe => "describe",
            Self::Setup => "setup",
            Self::Play => "play",
            Self::Receive => "receive",
        })
    }
}

/// Everything that can go wrong in this crate. URLs in it are always redacted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL does not parse or is not `rtsp://host/…`.
    #[error("invalid camera URL {url}: {reason}")]
    InvalidUrl {
        /// The URL, redacted.
        url: RedactedUrl,
        /// What is wrong with it.
        reason: String,
    },
    /// The host name does not resolve.
    #[error("{url}: cannot resolve {host}: {message}")]
    Dns {
        /// The URL, redacted.
        url: RedactedUrl,
        /// The host name.
        host: String,
        /// The resolver's message.
        message: String,
    },
    /// Nothing listens on the port.
    #[error("{url}: connection refused")]
    ConnectionRefused {
        /// The URL, redacted.
        url: RedactedUrl,
    },
    /// The TCP connection failed otherwise (unreachable, reset, …).
    #[error("{url}: cannot connect: {message}")]
    Connect {
        /// The URL, redacted.
        url: RedactedUrl,
        /// The operating system's message.
        message: String,
    },
    /// The server wants other credentials (401).
    #[error("{url}: {stage}: 401 Unauthorized (wrong or missing credentials)")]
    Unauthorized {
        /// The URL, redacted.
        url: RedactedUrl,
        /// The request that was refused.
        stage: Stage,
    },
    /// No such stream on the server (404).
    #[error("{url}: {stage}: 404 Not Found (wrong path?)")]
    NotFound {
        /// The URL, redacted.
        url: RedactedUrl,
        /// The request that was refused.
        stage: Stage,
    },
    /// The server answered with another error status.
    #[error("{url}: {stage}: RTSP status {status}: {message}")]
    Status {
        /// The URL, redacted.
        url: RedactedUrl,
        /// The request that was refused.
        stage: Stage,
        /// The RTSP status code.
        status: u16,
        /// The server's or the client library's description.
        message: String,
    },
    /// A stage took longer than its timeout.
    #[error("{url}: {stage}: no answer within {after:?}")]
    Timeout {
        /// The URL, redacted.
        url: RedactedUrl,
        /// The stage that hung.
        stage: Stage,
        /// The timeout that expired.
        after: Duration,
    },
    /// The server refused every transport tried at `SETUP` (`461 Unsupported Transport`, or
    /// a reply without the interleaved channel TCP needs).
    #[error("{url}: the server refuses RTP over {tried}: {message}")]
    UnsupportedTransport {
        /// The URL, redacted.
        url: RedactedUrl,
        /// What was tried: `"TCP"`, `"UDP"` or `"TCP and UDP"`.
        tried: &'static str,
        /// The server's (or the client library's) last answer.
        message: String,
    },
    /// The camera's video is neither H.264 nor H.265.
    #[error("{url}: unsupported video codec {encoding:?} (H.264 and H.265 are supported)")]
    UnsupportedCodec {
        /// The URL, redacted.
        url: RedactedUrl,
        /// The RTP encoding name from the session description.
        encoding: String,
    },
    /// The camera sent more than the session takes at once: an RTSP message (head and body,
    /// so a session description) over [`SessionOptions::max_message_bytes`], or an access
    /// unit over [`SessionOptions::max_access_unit_bytes`]. No real camera does; the session
    /// is dropped before it holds more, and reconnects.
    ///
    /// [`SessionOptions::max_message_bytes`]: crate::SessionOptions::max_message_bytes
    /// [`SessionOptions::max_access_unit_bytes`]: crate::SessionOptions::max_access_unit_bytes
    #[error(
        "{url}: {stage}: the camera sent an {what} larger than any real camera's (see \
         SessionOptions); refused"
    )]
    TooLarge {
        /// The URL, redacted.
        url: RedactedUrl,
        /// Where it happened.
        stage: Stage,
        /// `"RTSP message"` or `"access unit"`.
        what: &'static str,
    },
    /// The session description has no video stream.
    #[error("{url}: no video stream in the session description")]
    NoVideoStream {
        /// The URL, redacted.
        url: RedactedUrl,
    },
    /// No frame arrived for the stall timeout.
    #[error("{url}: no frame for {after:?}")]
    Stalled {
        /// The URL, redacted.
        url: RedactedUrl,
        /// How long it has been quiet.
        after: Duration,
    },
    /// The connection dropped or the server broke the protocol.
    #[error("{url}: {stage}: {message}")]
    Protocol {
        /// The URL, redacted.
        url: RedactedUrl,
        /// Where it happened.
        stage: Stage,
        /// The client library's description, password scrubbed.
        message: String,
    },
    /// [`connect`](crate::connect) or [`replay`](crate::replay) was called outside a tokio
    /// runtime.
    #[error("rtsp-ingest needs a tokio runtime to run its sessions")]
    NoRuntime,
    /// A transport name that is not `auto`, `tcp` or `udp` (quoted, at most 64 characters).
    #[error("transport {0:?} is not auto, tcp or udp")]
    UnknownTransport(String),
    /// A replay file cannot be read or holds no usable video.
    #[error("{}: {message}", path.display())]
    Replay {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl Error {
    /// True for errors that retrying the same URL will not fix by itself soon (bad URL,
    /// unsupported codec or transport). Reconnecting still retries the others forever by
    /// default: cameras reboot, and a 401 or 404 can be a camera half-way up.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Self::InvalidUrl { .. }
                | Self::UnsupportedCodec { .. }
                | Self::NoVideoStream { .. }
                | Self::UnsupportedTransport { .. }
        )
    }
}

impl From<InvalidUrl> for Error {
    fn from(e: InvalidUrl) -> Self {
        Self::InvalidUrl {
            url: e.url,
            reason: e.reason,
        }
    }
}
