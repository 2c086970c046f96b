//! What a tracker's caller is shown: which tracks (confirmed ones, lost ones for a while,
//! tentative ones on request), their boxes clipped to the picture, and an end reported exactly
//! once for every track shown. The one rendering of tracks: the facade ships it and the
//! tracking evaluation scores it, so that what is measured is what users get.

use std::collections::{HashMap, HashSet};

use crate::snapshot::{Reader, Writer};
use crate::{BBox, TrackState, TrackedObject, Update};

const REPORTER_MAGIC: &[u8; 4] = b"RWRP";

/// Which tracks are shown ([`TrackerConfig::reporting`](crate::TrackerConfig::reporting)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reporting {
    /// Tentative tracks too (false): tracks not confirmed yet, or confirmed but not trusted
    /// (see [`TrackerConfig::trust_score`](crate::TrackerConfig::trust_score)).
    pub tentative: bool,
    /// A lost track (confirmed, not matched on this update) is shown at its predicted box for
    /// this many camera frames after its last match (0: only tracks matched on this update,
    /// as SORT and ByteTrack report; `u32::MAX`: until the tracker ends it). A track hidden
    /// this way is not ended: if a detection matches it again it comes back with its id.
    pub lost_frames: u32,
}

impl Default for Reporting {
    /// Matched tracks only, as the papers report.
    fn default() -> Self {
        Self {
            tentative: false,
            lost_frames: 0,
        }
    }
}

impl Reporting {
    /// Whether a track of this update is shown (before the picture's bounds are applied).
    pub fn shows(&self, t: &TrackedObject) -> bool {
        match t.state {
            TrackState::Confirmed => true,
            TrackState::Lost => t.frames_since_update <= self.lost_frames,
            TrackState::Tentative => self.tentative,
            TrackState::Removed => false,
        }
    }
}

/// One update as shown.
#[derive(Debug, Default, Clone)]
pub struct Shown {
    /// The tracks shown, ids offset, boxes clipped to the picture.
    pub tracks: Vec<TrackedObject>,
    /// Their boxes as the tracker gave them (zones judge by these).
    pub unclipped: Vec<BBox>,
    /// Tracks shown before that ended on this update, each with the box it was last shown
    /// with, state [`TrackState::Removed`].
    pub ended: Vec<TrackedObject>,
}

/// The reporting state of one stream, beside its tracker: feed it every update with
/// [`show`](Self::show).
///
/// Invariants: a track is ended at most once, and only one that was shown; a track whose
/// predicted box left the picture (only an unmatched one can) ends at once, with the last box
/// shown, and nothing of it is shown again; ids are the tracker's plus an offset that grows
/// across [`restart`](Self::restart)s, so they are never reused.
#[derive(Debug)]
pub struct Reporter {
    reporting: Reporting,
    /// Tracks shown and not ended, as last shown.
    live: HashMap<u64, TrackedObject>,
    /// Tracks whose predicted box left the picture: ignored until the tracker ends them.
    left_view: HashSet<u64>,
    /// Added to the tracker's ids.
    id_offset: u64,
    /// The largest id shown.
    max_id: u64,
}

impl Reporter {
    /// Ids shown start after `first_track_id`.
    pub fn new(reporting: Reporting, first_track_id: u64) -> Self {
        Self {
            reporting,
            live: HashMap::new(),
            left_view: HashSet::new(),
            id_offset: first_track_id,
            max_id: first_track_id,
        }
    }

    /// The rule in use.
    pub fn reporting(&self) -> Reporting {
        self.reporting
    }

    /// The tracker starts again (for a new picture size): every live track ends, in id order,
    /// and the new tracker's ids follow the largest shown.
    pub fn restart(&mut self) -> Vec<TrackedObject> {
        self.id_offset = self.max_id;
        self.left_view.clear();
        let mut ended: Vec<TrackedObject> = self
            .live
            .drain()
            .map(|(_, t)| TrackedObject {
                state: TrackState::Removed,
                ..t
            })
            .collect();
        ended.sort_by_key(|t| t.track_id);
        ended
    }

    /// What one tracker update shows in a picture of `size` (width, height).
    pub fn show(&mut self, update: &Update, size: (f32, f32)) -> Shown {
        let (w, h) = size;
        let offset = self.id_offset;
        let clipped = |b: &BBox| {
            BBox::new(
                b.x1.clamp(0.0, w),
                b.y1.clamp(0.0, h),
                b.x2.clamp(0.0, w),
                b.y2.clamp(0.0, h),
            )
        };
        let mut shown = Shown::default();
        let mut left = Vec::new();
        for t in update.tracks.iter().filter(|t| self.reporting.shows(t)) {
            let id = t.track_id + offset;
            if self.left_view.contains(&id) {
                continue;
            }
            let b = &t.bbox;
            if b.x2 <= 0.0 || b.x1 >= w || b.y2 <= 0.0 || b.y1 >= h {
                if let Some(last) = self.live.remove(&id) {
                    left.push(TrackedObject {
                        state: TrackState::Removed,
                        ..last
                    });
                }
                self.left_view.insert(id);
                continue;
            }
            let o = TrackedObject {
                track_id: id,
                bbox: clipped(b),
                ..*t
            };
            self.max_id = self.max_id.max(id);
            self.live.insert(id, o);
            shown.unclipped.push(*b);
            shown.tracks.push(o);
        }
        for t in &update.ended {
            let id = t.track_id + offset;
            self.left_view.remove(&id);
            if let Some(last) = self.live.remove(&id) {
                shown.ended.push(TrackedObject {
                    state: TrackState::Removed,
                    ..last
                });
            }
        }
        // Lost tracks beyond `lost_frames` are hidden, not ended: they stay live (their end,
        // when the tracker ends them, is reported with the box last shown).
        shown.ended.extend(left);
        shown
    }

    /// Its state as bytes (this crate's snapshot format, beside the tracker's own
    /// [`Snapshot`](crate::Snapshot)): restored with [`load`](Self::load), it ends and shows
    /// exactly what this one would.
    pub fn save(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.bytes.extend_from_slice(REPORTER_MAGIC);
        w.u16(crate::Snapshot::VERSION);
        w.u64(self.id_offset);
        w.u64(self.max_id);
        let mut live: Vec<&TrackedObject> = self.live.values().collect();
        live.sort_by_key(|t| t.track_id);
        w.u32(u32::try_from(live.len()).unwrap_or(u32::MAX));
        for t in live {
            w.u64(t.track_id);
            w.u32(t.class_id);
            w.f32(t.confidence);
            t.bbox.save(&mut w);
            w.f32(t.velocity.0);
            w.f32(t.velocity.1);
            w.u32(t.age);
            w.u32(t.hits);
            w.u8(match t.state {
                TrackState::Tentative => 0,
                TrackState::Confirmed => 1,
                TrackState::Lost => 2,
                TrackState::Removed => 3,
            });
            w.u32(t.frames_since_update);
            t.observed.save(&mut w);
        }
        let mut left: Vec<u64> = self.left_view.iter().copied().collect();
        left.sort_unstable();
        w.u32(u32::try_from(left.len()).unwrap_or(u32::MAX));
        for id in left {
            w.u64(id);
        }
        w.bytes
    }

    /// A reporter with the state [`save`](Self::save) gave and the rule `reporting`.
    ///
    /// # Errors
    ///
    /// [`Error::BadSnapshot`](crate::Error::BadSnapshot) if `bytes` are not what `save`
    /// writes.
    pub fn load(reporting: Reporting, bytes: &[u8]) -> Result<Self, crate::Error> {
        let mut r = Reader::new(bytes);
        r.magic(REPORTER_MAGIC)?;
        let id_offset = r.u64()?;
        let max_id = r.u64()?;
        let mut live = HashMap::new();
        for _ in 0..r.u32()? {
            let track_id = r.u64()?;
            let t = TrackedObject {
                track_id,
                class_id: r.u32()?,
                confidence: r.f32()?,
                bbox: BBox::load(&mut r)?,
                velocity: (r.f32()?, r.f32()?),
                age: r.u32()?,
                hits: r.u32()?,
                state: match r.u8()? {
                    0 => TrackState::Tentative,
                    1 => TrackState::Confirmed,
                    2 => TrackState::Lost,
                    3 => TrackState::Removed,
                    v => return Err(crate::Error::BadSnapshot(format!("track state {v}"))),
                },
                frames_since_update: r.u32()?,
                observed: BBox::load(&mut r)?,
            };
            live.insert(track_id, t);
        }
        let mut left_view = HashSet::new();
        for _ in 0..r.u32()? {
            left_view.insert(r.u64()?);
        }
        r.end()?;
        Ok(Self {
            reporting,
            live,
            left_view,
            id_offset,
            max_id,
        })
    }

    /// Checks the invariants (tests call it after every step).
    pub fn check_invariants(&self) {
        for (id, t) in &self.live {
            assert_eq!(*id, t.track_id);
            assert!(*id <= self.max_id, "{id} > {}", self.max_id);
            assert!(!self.left_view.contains(id), "{id} live and left the view");
            assert_ne!(t.state, TrackState::Removed);
        }
    }
}
