//! Multi-object tracking: per-frame detections in, tracks with stable ids out.
//!
//! Pure Rust with no I/O and no clock, like the batcher, so that any project can use it alone.
//! Time is counted in frames (`max_age`, `min_hits`); ids are sequential per tracker instance
//! and deterministic for the same input. One tracker per stream, built from a
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
//! let first = t.update(0, &[det]);
//! let second = t.update(1, &[det]);
//! assert_eq!(first.tracks[0].track_id, second.tracks[0].track_id);
//! ```
//!
//! # Crate features
//!
//! None.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod engine;
pub mod kalman;
pub mod lap;
pub mod mot;
mod types;

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
    /// then weak ones (≥ 0.1) against the tracks still unmatched, so that partly occluded
    /// objects keep their tracks; new tracks only from detections ≥ 0.6.
    ByteTrack,
}

/// A tracker's settings; [`build`](Self::build) makes one per stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerConfig {
    /// Which tracker.
    pub kind: TrackerKind,
    /// Minimum IoU between a track's (predicted) box and a detection to match them (0.3).
    pub iou_threshold: f32,
    /// Frames a confirmed track survives without a match (30).
    pub max_age: u32,
    /// Consecutive matches before a track is confirmed (3; the first `min_hits` frames of a
    /// tracker confirm at once, as SORT does).
    pub min_hits: u32,
    /// Match only detections of the track's class (true).
    pub class_aware: bool,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            kind: TrackerKind::Sort,
            iou_threshold: 0.3,
            max_age: 30,
            min_hits: 3,
            class_aware: true,
        }
    }
}

impl TrackerConfig {
    /// A fresh tracker (ids from 1).
    pub fn build(&self) -> Box<dyn Tracker> {
        let params = Params {
            iou_threshold: self.iou_threshold,
            max_age: self.max_age,
            min_hits: self.min_hits,
            class_aware: self.class_aware,
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
                    high: 0.5,
                    low: 0.1,
                    new_track: 0.6,
                    second_iou: 0.5,
                    tentative_iou: 0.3,
                }),
            )),
        }
    }
}
