//! Multi-object tracking: per-frame detections in, tracks with stable ids out.
//!
//! It depends on no crate of the workspace (tidy's `LAYERS`).
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
//! A tracker's whole state can be taken at any time ([`Tracker::snapshot`], versioned bytes)
//! and restored ([`TrackerConfig::restore`]) to go on exactly where it was — in the same
//! process, after a restart, or on another machine — with frame numbers mapped into a new
//! session's by capture time ([`Resume`]).
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
mod report;
mod snapshot;
mod types;

pub use crate::error::Error;
pub use crate::report::{Reporter, Reporting, Shown};
pub use crate::snapshot::{Resume, Snapshot};
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

impl TrackerKind {
    /// `"iou"`, `"sort"` or `"bytetrack"`: what [`FromStr`](std::str::FromStr) reads.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Iou => "iou",
            Self::Sort => "sort",
            Self::ByteTrack => "bytetrack",
        }
    }
}

impl std::fmt::Display for TrackerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TrackerKind {
    type Err = Error;

    /// `bytetrack`, `sort` or `iou`, in any case.
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "bytetrack" => Ok(Self::ByteTrack),
            "sort" => Ok(Self::Sort),
            "iou" => Ok(Self::Iou),
            _ => Err(Error::UnknownKind(s.chars().take(64).collect())),
        }
    }
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
    /// Tracks unseen for at most [`second_lost_frames`](Self::second_lost_frames) camera
    /// frames also take the weak detections left over in the second stage, at this IoU
    /// (`None`, as in the paper: only tracks matched in the previous update do). Someone the
    /// detector missed for a moment and then saw half hidden keeps the track.
    pub second_lost_iou: Option<f32>,
    /// See [`second_lost_iou`](Self::second_lost_iou) (10).
    pub second_lost_frames: u32,
}

impl Default for ByteTrackThresholds {
    fn default() -> Self {
        Self {
            high: 0.5,
            low: 0.1,
            new_track: 0.6,
            second_iou: 0.5,
            second_lost_iou: None,
            second_lost_frames: 10,
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
    /// A track is reported as confirmed only once one of its detections scored at least this
    /// (0: at once). Until then it is followed, so its detections start no other track, but
    /// reported as tentative — DeepStream's "shadow tracking". Persistent false positives
    /// (a poster, a reflection) that never score this high never show.
    pub trust_score: f32,
    /// In the tracker's first `min_hits` updates a new track confirms at once, as in SORT, if
    /// its detection scored at least this (0: every one). A higher value keeps someone seen
    /// once at start-up, then lost, from holding an id the next sighting cannot inherit.
    pub early_confirm_score: f32,
    /// Predictions extrapolate a box's change of size (true, as SORT's filter does). The
    /// size rate learnt from a few jittery boxes shrinks or swells a box within a few frames,
    /// until it matches nothing; with `false` a box moves without resizing between
    /// detections, and its size follows them (Kalman motion only).
    pub predict_size: bool,
    /// The fraction of its velocity a track keeps per camera frame unseen (1: constant
    /// velocity, as SORT): after each update that did not match it, its velocity is
    /// multiplied by this to the power of the frames since the previous update. Someone
    /// hidden rarely keeps a straight line at the same speed, and a velocity learnt from a
    /// few boxes can be wrong; below 1 the prediction slows down instead of sweeping across
    /// the image (Kalman motion only; a value outside [0, 1] counts as 1).
    pub lost_velocity_decay: f32,
    /// ByteTrack only: tentative tracks take part in the first stage with the confirmed ones
    /// (as all tracks do in SORT) instead of taking only the confident detections left over.
    /// When a newcomer passes someone the detector just missed, the newcomer's detection then
    /// goes to the nearer track, not to the confirmed one.
    pub tentative_in_first_stage: bool,
    /// An unmatched detection that overlaps a detection a confirmed track took in the same
    /// update at this IoU or more starts no track: it is a second box of the same object,
    /// one the detector's NMS let through (`None`: every unmatched detection may, as in the
    /// papers). Two people rarely overlap that much for long; when they do, the hidden one's
    /// track starts once they part.
    pub duplicate_iou: Option<f32>,
    /// Which of its tracks a caller is shown ([`Reporter`]): by default the matched ones, as
    /// the papers report.
    pub reporting: Reporting,
    /// When the detector sees the camera this many camera frames apart or more, a new track
    /// confirms on its first detection (`None`: after `min_hits` updates, however far apart).
    /// Waiting for a second sighting costs a whole detector interval of every track's life.
    pub quick_confirm_gap: Option<u32>,
    /// Buffered IoU (C-BIoU, Yang et al., WACV 2023): when a track and a detection are
    /// compared, both boxes grow by this fraction of their size per camera frame since the
    /// track's last match, up to [`max_buffer`](Self::max_buffer) (0: plain IoU). The longer
    /// an object went unseen, the farther it may have gone: with the detector on one frame in
    /// twelve, a walker moves more than their own width between sightings.
    pub buffer_per_frame: f32,
    /// The largest buffer, as a fraction of the box's size on each side.
    pub max_buffer: f32,
    /// A confirmed track survives at least this many missed updates, however many camera
    /// frames they span (0: `max_age` alone decides). With the detector on one frame in 25,
    /// `max_age` 30 ends a track at its first missed update; this keeps it for as many
    /// detector looks as a tracker counting updates would.
    pub min_missed_updates: u32,
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
            trust_score: 0.0,
            early_confirm_score: 0.0,
            predict_size: true,
            lost_velocity_decay: 1.0,
            tentative_in_first_stage: false,
            duplicate_iou: None,
            reporting: Reporting::default(),
            quick_confirm_gap: None,
            buffer_per_frame: 0.0,
            max_buffer: 0.0,
            min_missed_updates: 0,
        }
    }
}

impl TrackerConfig {
    /// The tracker `cargo xtask track-eval` found best in the worst case over its six
    /// detection-noise families, and the facade's default: ByteTrack (confident detections
    /// at 0.6 and above against all tracks, tentative ones included; weak ones down to 0.1
    /// matched at IoU 0.5 to tracks followed in the previous update and at IoU 0.6 to tracks
    /// unseen for up to 10 frames; new tracks from 0.6), matched at IoU 0.35 on boxes
    /// buffered by 4% of their size per frame unseen (C-BIoU, up to 50%), confirmed after 2
    /// matched updates, or on the first when the detector looks 13 frames apart or more, and
    /// reported as confirmed once a detection of 0.7 or more matched it; a tentative track
    /// kept through one missed update, start-up confirmation only from 0.85, boxes moved
    /// without resizing between detections, a lost track's velocity decaying by 2% a frame
    /// and the track kept for 60 frames, no track from a second box of an object tracked
    /// (IoU 0.7 with the box its confirmed track took), and OC-SORT's re-update when a track
    /// is found again after a gap. Shown: matched tracks, and lost ones for 8 camera frames
    /// after their last match. Figures, and what each part brings, in `docs/TRACKING.md`.
    pub fn recommended() -> Self {
        Self {
            kind: TrackerKind::ByteTrack,
            iou_threshold: 0.35,
            max_age: 60,
            min_hits: 2,
            bytetrack: ByteTrackThresholds {
                high: 0.6,
                low: 0.1,
                new_track: 0.6,
                second_iou: 0.5,
                second_lost_iou: Some(0.6),
                second_lost_frames: 10,
            },
            tentative_misses: 1,
            reupdate_after_gap: true,
            trust_score: 0.7,
            early_confirm_score: 0.85,
            predict_size: false,
            lost_velocity_decay: 0.98,
            tentative_in_first_stage: true,
            duplicate_iou: Some(0.7),
            reporting: Reporting {
                tentative: false,
                lost_frames: 8,
            },
            quick_confirm_gap: Some(13),
            buffer_per_frame: 0.04,
            max_buffer: 0.5,
            ..Self::default()
        }
    }

    /// A fresh tracker (ids from 1).
    pub fn build(&self) -> Box<dyn Tracker> {
        match self.kind {
            TrackerKind::Iou => Box::new(self.engine::<Still>()),
            TrackerKind::Sort | TrackerKind::ByteTrack => {
                Box::new(self.engine::<kalman::KalmanBox>())
            }
        }
    }

    /// A tracker with `snapshot`'s state and these settings: ids, tracks and their filters go
    /// on where the snapshot left them. Without `resume`, frame numbers go on from the
    /// snapshot's; with it, the new session's first frame comes as many frames after the
    /// snapshot's last as their capture times say (so `max_age` and motion count the frames
    /// missed while nothing tracked).
    ///
    /// # Errors
    ///
    /// [`Error::BadSnapshot`] if the snapshot is of another tracker kind, or `resume` cannot
    /// apply (a snapshot without capture time, a frame rate outside (0, 1000]).
    pub fn restore(
        &self,
        snapshot: &Snapshot,
        resume: Option<&Resume>,
    ) -> Result<Box<dyn Tracker>, Error> {
        Ok(match self.kind {
            TrackerKind::Iou => {
                Box::new(Engine::restore(self.engine::<Still>(), snapshot, resume)?)
            }
            TrackerKind::Sort | TrackerKind::ByteTrack => Box::new(Engine::restore(
                self.engine::<kalman::KalmanBox>(),
                snapshot,
                resume,
            )?),
        })
    }

    /// Parses a snapshot's body as its kind's (for [`Snapshot::from_bytes`]).
    fn check_body(kind: u8, r: &mut snapshot::Reader<'_>) -> Result<(), Error> {
        let config = TrackerConfig::default();
        match kind {
            0 => Engine::load_body(config.engine::<Still>(), r).map(drop),
            1 | 2 => Engine::load_body(config.engine::<kalman::KalmanBox>(), r).map(drop),
            other => Err(Error::BadSnapshot(format!("unknown tracker kind {other}"))),
        }
    }

    fn engine<M: engine::Motion>(&self) -> Engine<M> {
        let params = Params {
            iou_threshold: self.iou_threshold,
            max_age: self.max_age,
            min_hits: self.min_hits,
            class_aware: self.class_aware,
            tentative_misses: self.tentative_misses,
            reupdate_after_gap: self.reupdate_after_gap,
            trust_score: self.trust_score,
            early_confirm_score: self.early_confirm_score,
            predict_size: self.predict_size,
            lost_velocity_decay: if (0.0..=1.0).contains(&self.lost_velocity_decay) {
                self.lost_velocity_decay
            } else {
                1.0
            },
            duplicate_iou: self.duplicate_iou,
            quick_confirm_gap: self.quick_confirm_gap,
            min_missed_updates: self.min_missed_updates,
            buffer_per_frame: self.buffer_per_frame.max(0.0),
            max_buffer: self.max_buffer.max(0.0),
        };
        let kind = match self.kind {
            TrackerKind::Iou => 0,
            TrackerKind::Sort => 1,
            TrackerKind::ByteTrack => 2,
        };
        match self.kind {
            TrackerKind::Iou => Engine::new(kind, params, Association::Greedy, None),
            TrackerKind::Sort => Engine::new(kind, params, Association::Optimal, None),
            TrackerKind::ByteTrack => Engine::new(
                kind,
                params,
                Association::Optimal,
                Some(ByteParams {
                    high: self.bytetrack.high,
                    low: self.bytetrack.low,
                    new_track: self.bytetrack.new_track,
                    second_iou: self.bytetrack.second_iou,
                    tentative_iou: 0.3,
                    second_lost: self
                        .bytetrack
                        .second_lost_iou
                        .map(|iou| (self.bytetrack.second_lost_frames, iou)),
                    tentative_first: self.tentative_in_first_stage,
                }),
            ),
        }
    }
}

impl Snapshot {
    /// A snapshot from bytes [`as_bytes`](Self::as_bytes) gave, checked whole.
    ///
    /// # Errors
    ///
    /// [`Error::BadSnapshot`] if they are not a complete snapshot of this version.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let (snapshot, mut body) = Snapshot::parse(bytes)?;
        // The body must parse too: a truncated or altered snapshot is refused here, not at
        // restore.
        TrackerConfig::check_body(snapshot.kind(), &mut body)?;
        body.end()?;
        Ok(snapshot)
    }
}
