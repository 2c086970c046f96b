//! The detector seeing the camera rarely (every 12th or 25th frame, as a CPU or a
//! keyframe-only camera gives): a buffered IoU finds a walker who moved more than their own
//! width since the last look, a confirmed track survives the missed looks it is allowed
//! however many frames they span, and a new track confirms at its first sighting when looks
//! are far apart.

use tracker::{BBox, Detection, TrackState, TrackerConfig, TrackerKind};

fn det(x: f32) -> Detection {
    Detection {
        bbox: BBox::from_xywh(x, 100.0, 50.0, 100.0),
        confidence: 0.9,
        class_id: 0,
    }
}

/// SORT confirming at once, so that only the option under test decides.
fn base() -> TrackerConfig {
    TrackerConfig {
        kind: TrackerKind::Sort,
        min_hits: 1,
        ..TrackerConfig::default()
    }
}

#[test]
fn a_buffered_iou_finds_a_walker_across_a_long_gap() {
    // Standing still for two looks, then 30 px further (60% of the width) 12 frames later:
    // plain IoU 0.25, under the 0.3 needed.
    let run = |config: TrackerConfig| {
        let mut t = config.build();
        t.update(1, &[det(100.0)]).unwrap();
        t.update(13, &[det(100.0)]).unwrap();
        let u = t.update(25, &[det(130.0)]).unwrap();
        u.tracks
            .iter()
            .filter(|t| t.state == TrackState::Confirmed)
            .map(|t| t.track_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(run(base()), vec![2], "plain IoU: a new track");
    let buffered = TrackerConfig {
        buffer_per_frame: 0.03,
        max_buffer: 0.5,
        ..base()
    };
    assert_eq!(run(buffered), vec![1], "buffered: the same track");
    // The buffer only grows with the frames since the track's last match: a step that size
    // between consecutive frames is still another object.
    let mut t = buffered.build();
    t.update(1, &[det(100.0)]).unwrap();
    let u = t.update(2, &[det(160.0)]).unwrap();
    assert!(
        u.tracks
            .iter()
            .any(|t| t.track_id == 2 && t.state == TrackState::Confirmed)
    );
}

#[test]
fn a_confirmed_track_survives_the_missed_looks_it_is_allowed() {
    // Every 25th frame; max_age 30 frames alone ends a track after two missed looks.
    let run = |min_missed_updates: u32| {
        let mut t = TrackerConfig {
            min_missed_updates,
            ..base()
        }
        .build();
        t.update(1, &[det(100.0)]).unwrap();
        t.update(26, &[det(100.0)]).unwrap();
        let mut ended = 0;
        for look in 2..=3 {
            ended += t.update(1 + 25 * look, &[]).unwrap().ended.len();
        }
        let u = t.update(1 + 25 * 4, &[det(100.0)]).unwrap();
        (ended, u.tracks[0].track_id)
    };
    assert_eq!(run(0), (1, 2), "max_age alone: ended, found as a new track");
    assert_eq!(run(2), (0, 1), "two missed looks allowed: the same track");
    // A tentative track is not kept by it.
    let mut t = TrackerConfig {
        min_missed_updates: 5,
        min_hits: 3,
        ..base()
    }
    .build();
    t.update(1, &[]).unwrap();
    t.update(26, &[]).unwrap();
    t.update(51, &[]).unwrap();
    t.update(76, &[det(100.0)]).unwrap();
    let u = t.update(101, &[]).unwrap();
    assert_eq!(u.ended.len(), 1);
}

#[test]
fn a_new_track_confirms_at_once_when_looks_are_far_apart() {
    let run = |quick_confirm_gap: Option<u32>, stride: u64| {
        let mut t = TrackerConfig {
            min_hits: 2,
            quick_confirm_gap,
            ..base()
        }
        .build();
        // Past the start-up updates, where SORT confirms at once anyway.
        for k in 0..3 {
            t.update(1 + stride * k, &[]).unwrap();
        }
        t.update(1 + stride * 3, &[det(100.0)]).unwrap().tracks[0].state
    };
    assert_eq!(run(None, 25), TrackState::Tentative);
    assert_eq!(run(Some(13), 25), TrackState::Confirmed);
    assert_eq!(
        run(Some(13), 5),
        TrackState::Tentative,
        "looks close together"
    );
}
