//! Boxes, detections and tracked objects: this crate's own types.

/// An axis-aligned box `[x1, y1, x2, y2]` in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BBox {
    /// Left.
    pub x1: f32,
    /// Top.
    pub y1: f32,
    /// Right.
    pub x2: f32,
    /// Bottom.
    pub y2: f32,
}

impl BBox {
    /// A box from its corners.
    pub fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self { x1, y1, x2, y2 }
    }

    /// Its corners into a snapshot.
    pub(crate) fn save(&self, w: &mut crate::snapshot::Writer) {
        for v in [self.x1, self.y1, self.x2, self.y2] {
            w.f32(v);
        }
    }

    /// What [`save`](Self::save) wrote.
    pub(crate) fn load(r: &mut crate::snapshot::Reader<'_>) -> Result<Self, crate::Error> {
        Ok(Self::new(r.f32()?, r.f32()?, r.f32()?, r.f32()?))
    }

    /// A box from its top-left corner and size (MOTChallenge's form).
    pub fn from_xywh(x: f32, y: f32, w: f32, h: f32) -> Self {
        Self::new(x, y, x + w, y + h)
    }

    /// Width.
    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    /// Height.
    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    /// Centre.
    pub fn center(&self) -> (f32, f32) {
        ((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)
    }

    /// Area (0 for degenerate boxes).
    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    /// Intersection over union.
    pub fn iou(&self, other: &BBox) -> f32 {
        let iw = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let ih = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = iw * ih;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    /// The box grown by `fraction` of its width and height on every side (C-BIoU's buffer).
    pub fn buffered(&self, fraction: f32) -> BBox {
        let (dx, dy) = (self.width() * fraction, self.height() * fraction);
        BBox::new(self.x1 - dx, self.y1 - dy, self.x2 + dx, self.y2 + dy)
    }

    /// All four coordinates are finite.
    pub fn is_finite(&self) -> bool {
        self.x1.is_finite() && self.y1.is_finite() && self.x2.is_finite() && self.y2.is_finite()
    }
}

/// One detection handed to a tracker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// Where.
    pub bbox: BBox,
    /// Detector score in [0, 1].
    pub confidence: f32,
    /// Class index.
    pub class_id: u32,
}

/// Where a track is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackState {
    /// Not trusted yet: seen fewer than `min_hits` times in a row, or confirmed but never
    /// matched by a detection at `trust_score` or above (followed, matched or not, until it
    /// is or it ends).
    Tentative,
    /// Matched on this frame and confirmed.
    Confirmed,
    /// Confirmed, but not matched on this frame; it ends once `max_age` camera frames pass
    /// without a match.
    Lost,
    /// Ended (only in [`Update::ended`]).
    Removed,
}

/// A track as reported after an update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackedObject {
    /// Sequential per tracker instance from 1; never reused.
    pub track_id: u64,
    /// The class of its detections.
    pub class_id: u32,
    /// The confidence of its last detection.
    pub confidence: f32,
    /// Its box on this frame (the filter's estimate for SORT).
    pub bbox: BBox,
    /// Centre velocity in pixels per camera frame.
    pub velocity: (f32, f32),
    /// Camera frames since it started.
    pub age: u32,
    /// Updates in which a detection was matched to it.
    pub hits: u32,
    /// Its state.
    pub state: TrackState,
    /// Camera frames since a detection was last matched to it (0 when matched on this
    /// frame): a lost track's box is a prediction that many frames ahead.
    pub frames_since_update: u32,
    /// The last detection box matched to it (the filter's `bbox` smooths it).
    pub observed: BBox,
}

/// What one frame's update produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    /// Live tracks (tentative, confirmed and lost), by id.
    pub tracks: Vec<TrackedObject>,
    /// Tracks that ended on this frame, state [`TrackState::Removed`].
    pub ended: Vec<TrackedObject>,
}

/// A multi-object tracker. Time is the camera frame number passed in; one instance per
/// stream.
pub trait Tracker: Send {
    /// Feeds the detections of camera frame `frame`. Frame numbers must increase; they need
    /// not be consecutive: motion is predicted across the frames in between, which count
    /// towards `max_age` but are not misses.
    ///
    /// # Errors
    ///
    /// [`Error::FrameNotAfter`](crate::Error::FrameNotAfter) if `frame` is not greater than
    /// the previous update's; the tracker is unchanged.
    fn update(&mut self, frame: u64, detections: &[Detection]) -> Result<Update, crate::Error>;

    /// Its whole state, to go on from later or elsewhere with
    /// [`TrackerConfig::restore`](crate::TrackerConfig::restore): restored and fed the same
    /// detections, it gives exactly the updates this one would. `captured` is when the last
    /// frame passed to `update` was captured; with it, a restore can map time into a session
    /// that numbers frames differently ([`Resume`](crate::Resume)).
    fn snapshot(&self, captured: Option<std::time::SystemTime>) -> crate::Snapshot;
}
