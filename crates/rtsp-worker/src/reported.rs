//! Which of a stream's tracks the caller sees: the tracker crate's [`tracker::Reporter`] (the
//! one rendering, which the tracking evaluation scores too) with the facade's class names.

use tracker::{Reporter, Reporting};

use crate::result::TrackedObject;

/// One stream's reporting state, beside its tracker.
#[derive(Debug)]
pub(crate) struct Reported {
    reporter: Reporter,
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

fn object(t: &tracker::TrackedObject, class_names: &[String]) -> TrackedObject {
    TrackedObject {
        track_id: t.track_id,
        class_id: t.class_id,
        class_name: class_names
            .get(t.class_id as usize)
            .cloned()
            .unwrap_or_else(|| format!("class{}", t.class_id)),
        confidence: t.confidence,
        bbox: [t.bbox.x1, t.bbox.y1, t.bbox.x2, t.bbox.y2],
        velocity: [t.velocity.0, t.velocity.1],
        state: t.state.into(),
        age: t.age,
        hits: t.hits,
        zones: Vec::new(),
    }
}

impl Reported {
    /// Tracks shown by `reporting`, ids after `first_track_id`.
    pub(crate) fn new(reporting: Reporting, first_track_id: u64) -> Self {
        Self {
            reporter: Reporter::new(reporting, first_track_id),
        }
    }

    /// Reporting as `reporter` was (a restored snapshot's).
    pub(crate) fn from_reporter(reporter: Reporter) -> Self {
        Self { reporter }
    }

    /// The reporter, for a snapshot.
    pub(crate) fn reporter(&self) -> &Reporter {
        &self.reporter
    }

    /// The tracker starts again (a new frame size): every live track ends, in id order, and
    /// the new tracker's ids follow the largest reported (ids are never reused in a stream).
    pub(crate) fn restart(&mut self, class_names: &[String]) -> Vec<TrackedObject> {
        self.reporter
            .restart()
            .iter()
            .map(|t| object(t, class_names))
            .collect()
    }

    /// The tracks of one tracker update in a `size` frame.
    pub(crate) fn show(
        &mut self,
        update: &tracker::Update,
        size: (u32, u32),
        class_names: &[String],
    ) -> Shown {
        let shown = self.reporter.show(update, (size.0 as f32, size.1 as f32));
        Shown {
            tracks: shown
                .tracks
                .iter()
                .map(|t| object(t, class_names))
                .collect(),
            unclipped: shown
                .unclipped
                .iter()
                .map(|b| [b.x1, b.y1, b.x2, b.y2])
                .collect(),
            // The reporter marks them removed, which `object` turns into `Ended`.
            ended: shown.ended.iter().map(|t| object(t, class_names)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracker::{BBox, Detection, Reporting, TrackerConfig, TrackerKind};

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
        let mut r = Reported::new(
            Reporting {
                tentative: false,
                lost_frames: u32::MAX,
            },
            0,
        );
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
            let s = r.show(&u, (640, 480), &names());
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
            let s = r.show(&u, (640, 480), &names());
            assert!(s.tracks.is_empty() && s.ended.is_empty(), "{s:?}");
        }
    }

    #[test]
    fn a_restart_ends_every_live_track_and_ids_go_on() {
        let mut tracker = TrackerConfig {
            min_hits: 1,
            ..TrackerConfig::default()
        }
        .build();
        let mut r = Reported::new(Reporting::default(), 100);
        let det = |x: f32| Detection {
            bbox: BBox::from_xywh(x, 100.0, 40.0, 80.0),
            confidence: 0.9,
            class_id: 0,
        };
        let u = tracker.update(0, &[det(10.0), det(300.0)]).unwrap();
        let s = r.show(&u, (640, 480), &names());
        assert_eq!(
            s.tracks.iter().map(|t| t.track_id).collect::<Vec<_>>(),
            [101, 102]
        );
        let ended = r.restart(&names());
        assert_eq!(
            ended.iter().map(|t| t.track_id).collect::<Vec<_>>(),
            [101, 102]
        );
        assert!(
            ended
                .iter()
                .all(|t| t.state == crate::result::TrackState::Ended)
        );
        let mut tracker = TrackerConfig {
            min_hits: 1,
            ..TrackerConfig::default()
        }
        .build();
        let u = tracker.update(1, &[det(10.0)]).unwrap();
        let s = r.show(&u, (320, 240), &names());
        assert_eq!(s.tracks[0].track_id, 103);
    }
}
