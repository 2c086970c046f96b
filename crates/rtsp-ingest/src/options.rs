//! Session options: transport, credentials, timeouts, reconnect policy, buffering.

use std::time::Duration;

use crate::Credentials;

/// How RTP travels from the camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Transport {
    /// TCP interleaved first; if the server refuses it (`461 Unsupported Transport`, or a
    /// reply without an interleaved channel), UDP; and the other way round once UDP has
    /// worked. What worked is used for the reconnects; `Event::Connected` says which. A
    /// server that refuses both ends the session with
    /// [`Error::UnsupportedTransport`](crate::Error::UnsupportedTransport). The default.
    #[default]
    Auto,
    /// Interleaved in the RTSP TCP connection: no loss, works through NAT.
    Tcp,
    /// Separate UDP ports: lower latency on a LAN; lost and reordered packets are counted and
    /// skipped (the decoder resumes at the next keyframe).
    Udp,
}

impl Transport {
    /// `"auto"`, `"tcp"` or `"udp"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }
}

impl std::str::FromStr for Transport {
    type Err = crate::Error;

    /// `auto`, `tcp` or `udp`, in any case.
    fn from_str(s: &str) -> Result<Self, crate::Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "tcp" => Ok(Self::Tcp),
            "udp" => Ok(Self::Udp),
            _ => Err(crate::Error::UnknownTransport(s.chars().take(64).collect())),
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Exponential backoff between reconnect attempts, with jitter so that a hundred cameras
/// behind one failed switch do not all reconnect in the same instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Delay before the first retry.
    pub initial: Duration,
    /// Cap on the delay.
    pub max: Duration,
    /// Growth factor per attempt (≥ 1).
    pub multiplier: f64,
    /// Random spread, as a fraction of the delay: 0.2 means ±20%.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (1-based), given a uniform random `r` in [0, 1).
    pub fn delay(&self, attempt: u32, r: f64) -> Duration {
        let exp = self
            .multiplier
            .max(1.0)
            .powi(attempt.saturating_sub(1).min(64) as i32);
        let base = (self.initial.as_secs_f64() * exp).min(self.max.as_secs_f64());
        let spread = self.jitter.clamp(0.0, 1.0) * (2.0 * r.clamp(0.0, 1.0) - 1.0);
        Duration::from_secs_f64((base * (1.0 + spread)).clamp(0.0, self.max.as_secs_f64()))
    }
}

/// Options for one camera session. Every setter is optional.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub(crate) transport: Transport,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) connect_timeout: Duration,
    pub(crate) stall_timeout: Duration,
    pub(crate) backoff: Backoff,
    pub(crate) give_up_after: Option<u32>,
    pub(crate) give_up_after_unauthorized: Option<u32>,
    pub(crate) queue_frames: usize,
    pub(crate) user_agent: String,
    pub(crate) max_message_bytes: usize,
    pub(crate) max_access_unit_bytes: usize,
}

/// The largest RTSP message taken by default (64 KiB, head and body: a camera's session
/// description is a few hundred bytes to a few KiB).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// The largest access unit taken by default, with what is in flight beside it (8 MiB: a 4K
/// keyframe at a high bit rate is a few MiB). A camera's read buffer never holds more than
/// twice this.
pub const MAX_ACCESS_UNIT_BYTES: usize = 8 << 20;

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            transport: Transport::Auto,
            credentials: None,
            connect_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(5),
            backoff: Backoff::default(),
            give_up_after: None,
            give_up_after_unauthorized: None,
            queue_frames: 64,
            user_agent: concat!("rtsp-worker/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_message_bytes: MAX_MESSAGE_BYTES,
            max_access_unit_bytes: MAX_ACCESS_UNIT_BYTES,
        }
    }
}

impl SessionOptions {
    /// The largest RTSP message (head and body) taken from the camera (default
    /// [`MAX_MESSAGE_BYTES`]); a larger one ends the attempt with [`Error::TooLarge`] before
    /// it is read.
    ///
    /// [`Error::TooLarge`]: crate::Error::TooLarge
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes.max(4096);
        self
    }

    /// The most input held while an access unit is assembled (default
    /// [`MAX_ACCESS_UNIT_BYTES`]); beyond it the attempt ends with [`Error::TooLarge`].
    ///
    /// [`Error::TooLarge`]: crate::Error::TooLarge
    pub fn max_access_unit_bytes(mut self, bytes: usize) -> Self {
        self.max_access_unit_bytes = bytes.max(128 * 1024);
        self
    }

    /// [`Transport::Auto`] (the default: TCP, else UDP), TCP or UDP.
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Credentials for servers that ask (basic or digest). Credentials in the URL win.
    pub fn credentials(mut self, credentials: Option<Credentials>) -> Self {
        self.credentials = credentials;
        self
    }

    /// Limit on each of resolving + connecting, DESCRIBE, SETUP and PLAY (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// No frame for this long counts as a stall and triggers a reconnect (default 5 s).
    pub fn stall_timeout(mut self, timeout: Duration) -> Self {
        self.stall_timeout = timeout;
        self
    }

    /// Delays between reconnect attempts.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// End the session after this many consecutive failed attempts (default `None`: retry
    /// forever). Errors that retrying cannot fix (unsupported codec) end it at once.
    pub fn give_up_after(mut self, attempts: Option<u32>) -> Self {
        self.give_up_after = attempts;
        self
    }

    /// End the session after this many consecutive attempts refused with `401 Unauthorized`
    /// (default `None`: like any other error). Cameras answer 401 while half-way up, so one
    /// is no proof; three in a row are wrong credentials.
    pub fn give_up_after_unauthorized(mut self, attempts: Option<u32>) -> Self {
        self.give_up_after_unauthorized = attempts;
        self
    }

    /// Access units buffered for a slow consumer before the oldest are dropped, a whole group
    /// of pictures at a time (default 64, ≥ 1).
    pub fn queue_frames(mut self, frames: usize) -> Self {
        self.queue_frames = frames.max(1);
        self
    }

    /// The User-Agent header.
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = agent.into();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let b = Backoff::default();
        assert_eq!(b.delay(1, 0.5), Duration::from_millis(500));
        assert_eq!(b.delay(2, 0.5), Duration::from_secs(1));
        assert_eq!(b.delay(3, 0.5), Duration::from_secs(2));
        assert_eq!(b.delay(30, 0.5), Duration::from_secs(30));
        assert_eq!(b.delay(u32::MAX, 0.5), Duration::from_secs(30));
        assert_eq!(b.delay(1, 0.0), Duration::from_millis(400));
        assert!(b.delay(1, 0.999) > Duration::from_millis(599));
        assert!(b.delay(30, 0.999) <= Duration::from_secs(30));
    }
}
