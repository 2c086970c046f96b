//! The crate's error type.

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `update` was called with a frame number not greater than the previous one. Time only
    /// moves forward: a repeated or older frame would be a silent step of one frame.
    #[error("frame {frame} is not after the previous update's frame {last}")]
    FrameNotAfter {
        /// The frame number passed.
        frame: u64,
        /// The previous update's frame number.
        last: u64,
    },
    /// A tracker name that is not `bytetrack`, `sort` or `iou` (quoted, at most 64
    /// characters).
    #[error("tracker {0:?} is not bytetrack, sort or iou")]
    UnknownKind(String),
    /// A snapshot that cannot be restored: not one, another version, cut short, of another
    /// tracker kind, or a time mapping that does not fit.
    #[error("cannot restore the tracker snapshot: {0}")]
    BadSnapshot(String),
}
