//! Multi-object tracking: per-frame detections in, tracks with stable ids out.
//!
//! Pure Rust with no I/O and no clock, like the batcher, so that any project can use it alone.
//! Time is the camera's frame number: the detector need not see every frame (on a CPU it sees
//! every 3rd or 5th), so motion is predicted across the gap between two updates, `max_age`
//! counts camera frames (the same seconds whatever the detector's rate) and `min_hits` counts
//! updates (a frame the detector did not see is not a miss). Ids are sequential per tracker
//! instance and deterministic for the same input. One tracker per stream, built from a
//! [`TrackerConfig`]; no shared state.
//!
//! - [`TrackerKind::Iou`]: the seed's IoU tracker — greedy matching on IoU, boxes stay where
//!   last seen.
//! - [`TrackerKind::Sort`]: SORT — a constant-velocity Kalman filter per box and the optimal
//!   assignment on IoU ([`lap::assign`], tested against brute force).
//! - [`TrackerKind::ByteTrack`]: ByteTrack's two-stage association (confident detections,
//!   then weak ones against the tracks left) on SORT's filter.
//!
//! ```
//! use tracker::{BBox, Detection, TrackerConfig, TrackerKind};
//!
//! let mut t = TrackerConfig { kind: TrackerKind::Sort, ..TrackerConfig::default() }.build();
//! let det = Detection { bbox: BBox::new(10.0, 10.0, 50.0, 90.0), confidence: 0.9, class_id: 0 };
//! let first = t.update(0, &[det])?;
//! let fourth = t.update(3, &[det])?; // frames 1 and 2 went to no detector
//! assert_eq!(first.tracks[0].track_id, fourth.tracks[0].track_id);
//! assert!(t.update(3, &[det]).is_err()); // time only moves forward
//! # Ok::<(), tracker::Error>(())
//! ```
//!
//! # Crate features
//!
//! None.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod engine;
mod error;
pub mod kalman;
pub mod lap;
pub mod mot;
mod types;

pub use crate::error::Error;
pub use crate::types::{BBox, Detection, TrackState, TrackedObject, Tracker, Update};

use crate::engine::{Association, ByteParams, Engine, Params, Still};

/// Which tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TrackerKind {
    /// Greedy IoU matching, no motion model.
    Iou,
    /// SORT: Kalman filter + optimal assignment.
    #[default]
    Sort,
    /// ByteTrack: SORT's filter and assignment in two stages — confident detections first,
    /// then weak ones against the tracks still unmatched, so that partly occluded objects keep
    /// their tracks; new tracks only from confident detections ([`ByteTrackThresholds`]).
    ByteTrack,
}

/// ByteTrack's score thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ByteTrackThresholds {
    /// Detections at least this confident are matched first (0.5, the paper's).
    pub high: f32,
    /// Detections below this are ignored; between `low` and `high` they are only matched to
    /// confirmed tracks left over (0.1).
    pub low: f32,
    /// An unmatched detection starts a track only if at least this confident (0.6).
    pub new_track: f32,
    /// Minimum IoU to match a weak detection in the second stage (0.5).
    pub second_iou: f32,
}

impl Default for ByteTrackThresholds {
    fn default() -> Self {
        Self {
            high: 0.5,
            low: 0.1,
            new_track: 0.6,
            second_iou: 0.5,
        }
    }
}

/// A tracker's settings; [`build`](Self::build) makes one per stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerConfig {
    /// Which tracker.
    pub kind: TrackerKind,
    /// Minimum IoU between a track's (predicted) box and a detection to match them (0.3).
    pub iou_threshold: f32,
    /// Camera frames a confirmed track survives without a match (30), however many of them
    /// the detector saw.
    pub max_age: u32,
    /// Matches in consecutive updates before a track is confirmed (3; the first `min_hits`
    /// updates of a tracker confirm at once, as SORT does). Frames between two updates do not
    /// count: a frame the detector did not see is not a miss.
    pub min_hits: u32,
    /// Match only detections of the track's class (true).
    pub class_aware: bool,
    /// ByteTrack's score thresholds (used by [`TrackerKind::ByteTrack`] only).
    pub bytetrack: ByteTrackThresholds,
    /// Updates a tentative track may miss before it is dropped (0: dropped at its first
    /// miss, as SORT and ByteTrack do). A person the detector sees once, misses, then sees
    /// again keeps the same track.
    pub tentative_misses: u32,
    /// OC-SORT's observation-centric re-update: when a track is found again after missed
    /// updates, its filter is re-run from its last observation along a straight path to the
    /// new one, instead of keeping the velocity it drifted on while unseen (Kalman motion
    /// only).
    pub reupdate_after_gap: bool,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            kind: TrackerKind::Sort,
            iou_threshold: 0.3,
            max_age: 30,
            min_hits: 3,
            class_aware: true,
            bytetrack: ByteTrackThresholds::default(),
            tentative_misses: 0,
            reupdate_after_gap: false,
        }
    }
}

impl TrackerConfig {
    /// The tracker `cargo xtask track-eval` found best, and the facade's default:
    /// ByteTrack (confident detections at 0.6 and above, weak ones down to 0.1 matched at
    /// IoU 0.5 to tracks followed in the previous update, new tracks from 0.6), confirmed
    /// after 2 matched updates, a tentative track kept through one missed update, and
    /// OC-SORT's re-update when a track is found again after a gap. Figures, and what each
    /// part brings, in `docs/TRACKING.md`.
    pub fn recommended() -> Self {
        Self {
            kind: TrackerKind::ByteTrack,
            min_hits: 2,
            bytetrack: ByteTrackThresholds {
                high: 0.6,
                low: 0.1,
                new_track: 0.6,
                second_iou: 0.5,
            },
            tentative_misses: 1,
            reupdate_after_gap: true,
            ..Self::default()
        }
    }

    /// A fresh tracker (ids from 1).
    pub fn build(&self) -> Box<dyn Tracker> {
        let params = Params {
            iou_threshold: self.iou_threshold,
            max_age: self.max_age,
            min_hits: self.min_hits,
            class_aware: self.class_aware,
            tentative_misses: self.tentative_misses,
            reupdate_after_gap: self.reupdate_after_gap,
        };
        match self.kind {
            TrackerKind::Iou => Box::new(Engine::<Still>::new(params, Association::Greedy, None)),
            TrackerKind::Sort => Box::new(Engine::<kalman::KalmanBox>::new(
                params,
                Association::Optimal,
                None,
            )),
            TrackerKind::ByteTrack => Box::new(Engine::<kalman::KalmanBox>::new(
                params,
                Association::Optimal,
                Some(ByteParams {
                    high: self.bytetrack.high,
                    low: self.bytetrack.low,
                    new_track: self.bytetrack.new_track,
                    second_iou: self.bytetrack.second_iou,
                    tentative_iou: 0.3,
                }),
            )),
        }
    }
}
