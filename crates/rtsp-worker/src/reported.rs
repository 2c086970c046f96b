//! Which of a stream's tracks the caller sees, and when each ends: ids offset across tracker
//! restarts, boxes clipped to the frame, and an end reported exactly once per reported track.

use std::collections::{HashMap, HashSet};

use crate::result::{TrackState, TrackedObject};

/// One stream's reporting state, beside its tracker.
#[derive(Debug)]
pub(crate) struct Reported {
    /// Live tracks reported, as last reported (so that their end is too).
    live: HashMap<u64, TrackedObject>,
    /// Tracks whose predicted box left the frame: ended for the caller at once, ignored until
    /// the tracker ends them too.
    left_view: HashSet<u64>,
    /// Added to the tracker's ids: a new tracker's ids follow the old one's.
    id_offset: u64,
    /// The largest id reported.
    max_id: u64,
}

/// What one update shows.
#[derive(Debug, Default)]
pub(crate) struct Shown {
    /// The tracks to report, boxes clipped to the frame.
    pub(crate) tracks: Vec<TrackedObject>,
    /// Their boxes as the tracker gave them (zones judge by these).
    pub(crate) unclipped: Vec<[f32; 4]>,
    /// Tracks that ended on this update.
    pub(crate) ended: Vec<TrackedObject>,
}

impl Reported {
    /// Ids start after `first_track_id`.
    pub(crate) fn new(first_track_id: u64) -> Self {
        Self {
            live: HashMap::new(),
            left_view: HashSet::new(),
            id_offset: first_track_id,
            max_id: first_track_id,
        }
    }

    /// The tracker starts again (a new frame size): every live track ends, in id order, and
    /// the new tracker's ids follow the largest reported (ids are never reused in a stream).
    pub(crate) fn restart(&mut self) -> Vec<TrackedObject> {
        self.id_offset = self.max_id;
        self.left_view.clear();
        let mut ended: Vec<TrackedObject> = self
            .live
            .drain()
            .map(|(_, t)| TrackedObject {
                state: TrackState::Ended,
                ..t
            })
            .collect();
        ended.sort_by_key(|t| t.track_id);
        ended
    }

    /// The tracks of one tracker update in a `size` frame. Tentative tracks only if
    /// `tentative`. A track predicted wholly out of the frame (only an unmatched one can be)
    /// has left the view: no detection inside the frame can match it again, so it ends now,
    /// with the last box it was reported with.
    pub(crate) fn show(
        &mut self,
        update: &tracker::Update,
        size: (u32, u32),
        tentative: bool,
        class_names: &[String],
    ) -> Shown {
        let (w, h) = (size.0 as f32, size.1 as f32);
        let offset = self.id_offset;
        let object = |t: &tracker::TrackedObject| TrackedObject {
            track_id: t.track_id + offset,
            class_id: t.class_id,
            class_name: class_names
                .get(t.class_id as usize)
                .cloned()
                .unwrap_or_else(|| format!("class{}", t.class_id)),
            confidence: t.confidence,
            bbox: [
                t.bbox.x1.clamp(0.0, w),
                t.bbox.y1.clamp(0.0, h),
                t.bbox.x2.clamp(0.0, w),
                t.bbox.y2.clamp(0.0, h),
            ],
            velocity: [t.velocity.0, t.velocity.1],
            state: t.state.into(),
            age: t.age,
            hits: t.hits,
            zones: Vec::new(),
        };
        let mut shown = Shown::default();
        let mut left = Vec::new();
        for t in update
            .tracks
            .iter()
            .filter(|t| tentative || t.state != tracker::TrackState::Tentative)
        {
            let id = t.track_id + offset;
            if self.left_view.contains(&id) {
                continue;
            }
            let b = &t.bbox;
            if b.x2 <= 0.0 || b.x1 >= w || b.y2 <= 0.0 || b.y1 >= h {
                if let Some(last) = self.live.remove(&id) {
                    left.push(TrackedObject {
                        state: TrackState::Ended,
                        ..last
                    });
                }
                self.left_view.insert(id);
                continue;
            }
            let o = object(t);
            self.max_id = self.max_id.max(id);
            self.live.insert(id, o.clone());
            shown.unclipped.push([b.x1, b.y1, b.x2, b.y2]);
            shown.tracks.push(o);
        }
        for t in &update.ended {
            let id = t.track_id + offset;
            self.left_view.remove(&id);
            if self.live.remove(&id).is_some() {
                shown.ended.push(TrackedObject {
                    state: TrackState::Ended,
                    ..object(t)
                });
            }
        }
        shown.ended.extend(left);
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracker::{BBox, Detection, TrackerConfig, TrackerKind};

    fn names() -> Vec<String> {
        vec!["person".to_owned()]
    }

    /// Someone walks out of a 640×480 frame at its right edge and the detector stops seeing
    /// them: the lost track's box is clipped while it overlaps the frame, the track ends once
    /// its prediction is wholly outside (with its last reported box), and the tracker's own
    /// end of it later is not reported a second time.
    #[test]
    fn a_track_predicted_out_of_the_frame_ends_once_with_its_last_box() {
        let mut tracker = TrackerConfig {
            kind: TrackerKind::Sort,
            min_hits: 1,
            max_age: 60,
            ..TrackerConfig::default()
        }
        .build();
        let mut r = Reported::new(0);
        let mut ends = Vec::new();
        let mut last_shown = None;
        let mut x = 500.0;
        for f in 0..60u64 {
            let dets = if x < 600.0 {
                vec![Detection {
                    bbox: BBox::from_xywh(x, 100.0, 40.0, 80.0),
                    confidence: 0.9,
                    class_id: 0,
                }]
            } else {
                Vec::new()
            };
            x += 10.0;
            let u = tracker.update(f, &dets).unwrap();
            let s = r.show(&u, (640, 480), false, &names());
            for t in &s.tracks {
                assert!(t.bbox[0] >= 0.0 && t.bbox[2] <= 640.0, "{t:?}");
                last_shown = Some(t.bbox);
            }
            assert_eq!(s.tracks.len(), s.unclipped.len());
            ends.extend(s.ended);
        }
        assert_eq!(ends.len(), 1, "{ends:?}");
        assert_eq!(ends[0].track_id, 1);
        assert_eq!(Some(ends[0].bbox), last_shown);
        // The tracker ends it much later (max_age): nothing more is reported.
        for f in 60..200u64 {
            let u = tracker.update(f, &[]).unwrap();
            let s = r.show(&u, (640, 480), false, &names());
            assert!(s.tracks.is_empty() && s.ended.is_empty(), "{s:?}");
        }
        assert!(r.left_view.is_empty() && r.live.is_empty());
    }

    #[test]
    fn a_restart_ends_every_live_track_and_ids_go_on() {
        let mut tracker = TrackerConfig {
            min_hits: 1,
            ..TrackerConfig::default()
        }
        .build();
        let mut r = Reported::new(100);
        let det = |x: f32| Detection {
            bbox: BBox::from_xywh(x, 100.0, 40.0, 80.0),
            confidence: 0.9,
            class_id: 0,
        };
        let u = tracker.update(0, &[det(10.0), det(300.0)]).unwrap();
        let s = r.show(&u, (640, 480), false, &names());
        assert_eq!(
            s.tracks.iter().map(|t| t.track_id).collect::<Vec<_>>(),
            [101, 102]
        );
        let ended = r.restart();
        assert_eq!(
            ended.iter().map(|t| t.track_id).collect::<Vec<_>>(),
            [101, 102]
        );
        assert!(ended.iter().all(|t| t.state == TrackState::Ended));
        let mut tracker = TrackerConfig {
            min_hits: 1,
            ..TrackerConfig::default()
        }
        .build();
        let u = tracker.update(1, &[det(10.0)]).unwrap();
        let s = r.show(&u, (320, 240), false, &names());
        assert_eq!(s.tracks[0].track_id, 103);
    }
}
