//! Property tests of both trackers: ids never reused, one state per track, stable ids for a
//! repeated detection, new ids for far detections, ageing out after `max_age` empty frames.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use tracker::{BBox, Detection, TrackState, TrackerConfig, TrackerKind};

fn det(x: f32, y: f32, class_id: u32) -> Detection {
    Detection {
        bbox: BBox::from_xywh(x, y, 40.0, 80.0),
        confidence: 0.9,
        class_id,
    }
}

fn kinds() -> [TrackerKind; 3] {
    [TrackerKind::Iou, TrackerKind::Sort, TrackerKind::ByteTrack]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn ids_are_never_reused_and_each_track_has_one_state(
        frames in prop::collection::vec(
            prop::collection::vec((0u8..8, 0u8..8, 0u32..2), 0..6),
            1..60,
        ),
        gaps in prop::collection::vec(1u64..3, 60),
    ) {
        for kind in kinds() {
            let mut t = TrackerConfig { kind, max_age: 5, ..TrackerConfig::default() }.build();
            let mut ended: HashSet<u64> = HashSet::new();
            let mut last_new = 0u64;
            let mut seen: HashSet<u64> = HashSet::new();
            let mut frame = 0u64;
            for (i, dets) in frames.iter().enumerate() {
                frame += gaps[i];
                let dets: Vec<Detection> = dets.iter().map(|&(x, y, c)| det(f32::from(x) * 30.0, f32::from(y) * 30.0, c)).collect();
                let u = t.update(frame, &dets);
                let mut here = HashSet::new();
                for tr in u.tracks.iter().chain(&u.ended) {
                    prop_assert!(here.insert(tr.track_id), "{kind:?}: id {} twice in one update", tr.track_id);
                }
                for tr in &u.tracks {
                    prop_assert!(!ended.contains(&tr.track_id), "{kind:?}: id {} back after ending", tr.track_id);
                    prop_assert!(tr.state != TrackState::Removed);
                    if seen.insert(tr.track_id) {
                        prop_assert!(tr.track_id > last_new, "{kind:?}: ids out of order");
                        last_new = tr.track_id;
                    }
                }
                for tr in &u.ended {
                    prop_assert_eq!(tr.state, TrackState::Removed);
                    ended.insert(tr.track_id);
                }
            }
        }
    }
}

#[test]
fn a_repeated_detection_keeps_its_id_forever() {
    for kind in kinds() {
        let mut t = TrackerConfig {
            kind,
            ..TrackerConfig::default()
        }
        .build();
        let d = det(100.0, 100.0, 0);
        let mut ids = HashSet::new();
        for f in 0..500 {
            let u = t.update(f, &[d]);
            assert_eq!(u.tracks.len(), 1, "{kind:?} frame {f}");
            ids.insert(u.tracks[0].track_id);
            assert!(f < 3 || u.tracks[0].state == TrackState::Confirmed);
        }
        assert_eq!(ids.len(), 1, "{kind:?}");
    }
}

#[test]
fn a_far_detection_starts_a_new_track_and_classes_do_not_mix() {
    for kind in kinds() {
        let mut t = TrackerConfig {
            kind,
            ..TrackerConfig::default()
        }
        .build();
        let a = t.update(0, &[det(0.0, 0.0, 0)]);
        let b = t.update(
            1,
            &[det(0.0, 0.0, 0), det(500.0, 500.0, 0), det(0.0, 0.0, 1)],
        );
        let ids: HashMap<(u64, u32), u64> = b
            .tracks
            .iter()
            .map(|t| ((t.bbox.x1 as u64, t.class_id), t.track_id))
            .collect();
        assert_eq!(ids.len(), 3, "{kind:?}: {b:?}");
        assert_eq!(ids[&(0, 0)], a.tracks[0].track_id);
        assert_ne!(
            ids[&(0, 1)],
            a.tracks[0].track_id,
            "{kind:?}: another class is another track"
        );
    }
}

#[test]
fn empty_frames_age_a_track_out_after_max_age() {
    for kind in kinds() {
        let max_age = 7;
        let mut t = TrackerConfig {
            kind,
            max_age,
            ..TrackerConfig::default()
        }
        .build();
        let d = det(50.0, 50.0, 0);
        for f in 0..5 {
            t.update(f, &[d]);
        }
        for k in 1..=max_age {
            let u = t.update(4 + u64::from(k), &[]);
            assert_eq!(u.tracks.len(), 1, "{kind:?}: gone after {k} empty frames");
            assert_eq!(u.tracks[0].state, TrackState::Lost);
        }
        let u = t.update(5 + u64::from(max_age), &[]);
        assert!(u.tracks.is_empty(), "{kind:?}");
        assert_eq!(u.ended.len(), 1);
        assert_eq!(u.ended[0].state, TrackState::Removed);
        // A frame gap counts as that many empty frames.
        let mut t = TrackerConfig {
            kind,
            max_age,
            ..TrackerConfig::default()
        }
        .build();
        for f in 0..5 {
            t.update(f, &[d]);
        }
        let u = t.update(4 + u64::from(max_age) + 1, &[]);
        assert_eq!(u.ended.len(), 1, "{kind:?}");
    }
}

#[test]
fn the_same_input_gives_the_same_ids() {
    let frames: Vec<Vec<Detection>> = (0..100)
        .map(|f| {
            (0..5)
                .map(|k| det((f * (k + 1)) as f32 % 600.0, (k * 90) as f32, 0))
                .collect()
        })
        .collect();
    for kind in kinds() {
        let run = || {
            let mut t = TrackerConfig {
                kind,
                ..TrackerConfig::default()
            }
            .build();
            frames
                .iter()
                .enumerate()
                .map(|(f, d)| t.update(f as u64, d))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run(), "{kind:?}");
    }
}

#[test]
fn bytetrack_keeps_occluded_objects_on_weak_detections_and_ignores_weak_newcomers() {
    let cfg = TrackerConfig {
        kind: TrackerKind::ByteTrack,
        ..TrackerConfig::default()
    };
    let mut t = cfg.build();
    let strong = det(100.0, 100.0, 0);
    for f in 0..5 {
        t.update(f, &[strong]);
    }
    let id = t.update(5, &[strong]).tracks[0].track_id;
    // The object is half hidden: its detections score 0.3 for a while.
    let weak = Detection {
        confidence: 0.3,
        ..strong
    };
    let faint_stranger = Detection {
        confidence: 0.3,
        ..det(600.0, 400.0, 0)
    };
    for f in 6..20 {
        let u = t.update(f, &[weak, faint_stranger]);
        assert_eq!(u.tracks.len(), 1, "frame {f}: {u:?}");
        assert_eq!(
            (u.tracks[0].track_id, u.tracks[0].state),
            (id, TrackState::Confirmed)
        );
    }
    // SORT, which ignores scores, starts a track for the faint stranger.
    let mut s = TrackerConfig {
        kind: TrackerKind::Sort,
        ..TrackerConfig::default()
    }
    .build();
    s.update(0, &[strong]);
    assert_eq!(s.update(1, &[strong, faint_stranger]).tracks.len(), 2);
}
