//! Property tests of the trackers: ids never reused, one state per track, stable ids for a
//! repeated detection, new ids for far detections, ageing out after `max_age` empty frames,
//! the same ids whether the detector sees every frame or every k-th, and time that only moves
//! forward.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use tracker::{BBox, Detection, Error, TrackState, TrackerConfig, TrackerKind};

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

/// Every kind with its defaults, and the recommended configuration (tentative tracks that
/// survive a miss, the re-update after a gap).
fn configs() -> Vec<TrackerConfig> {
    let mut v: Vec<TrackerConfig> = kinds()
        .into_iter()
        .map(|kind| TrackerConfig {
            kind,
            ..TrackerConfig::default()
        })
        .collect();
    v.push(TrackerConfig::recommended());
    v
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
        for config in configs() {
            let kind = (config.kind, config.tentative_misses);
            let mut t = TrackerConfig { max_age: 5, ..config }.build();
            let mut ended: HashSet<u64> = HashSet::new();
            let mut last_new = 0u64;
            let mut seen: HashSet<u64> = HashSet::new();
            let mut frame = 0u64;
            for (i, dets) in frames.iter().enumerate() {
                frame += gaps[i];
                let dets: Vec<Detection> = dets.iter().map(|&(x, y, c)| det(f32::from(x) * 30.0, f32::from(y) * 30.0, c)).collect();
                let u = t.update(frame, &dets).unwrap();
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

/// Objects in lanes of their own (no two ever overlap), each moving at a constant speed
/// slow enough that a filter starting at rest still matches it after 5 frames, alive for a
/// while: `frames[f]` are frame f's boxes, tagged with the object's index in `class_id`.
/// Objects appear on frames that every stride from 1 to 5 feeds (multiples of 60), so that
/// tracks are created in the same order whatever the stride.
fn lanes(objects: &[(u8, i8, u8, u8)]) -> Vec<Vec<Detection>> {
    let mut frames = vec![Vec::new(); 200];
    for (lane, &(x0, speed, start, life)) in objects.iter().enumerate() {
        let start = usize::from(start % 3) * 60;
        let end = (start + 20 + usize::from(life)).min(frames.len());
        for (f, dets) in frames.iter_mut().enumerate().take(end).skip(start) {
            let x = f32::from(x0) * 4.0 + f32::from(speed) * 0.5 * (f - start) as f32;
            dets.push(Detection {
                bbox: BBox::from_xywh(x, lane as f32 * 100.0, 60.0, 90.0),
                confidence: 0.9,
                class_id: lane as u32,
            });
        }
    }
    frames
}

/// The track id given to each object (by its tag), over the frames fed at `stride`; fails
/// if an object's id changes.
fn ids_at_stride(
    config: TrackerConfig,
    frames: &[Vec<Detection>],
    stride: usize,
) -> Vec<Option<u64>> {
    let kind = config.kind;
    let mut t = TrackerConfig {
        class_aware: false,
        ..config
    }
    .build();
    let mut ids = vec![None; 16];
    for (f, dets) in frames.iter().enumerate().step_by(stride) {
        let u = t.update(f as u64, dets).unwrap();
        for d in dets {
            let best = u
                .tracks
                .iter()
                .filter(|tr| tr.state != TrackState::Lost)
                .max_by(|a, b| a.bbox.iou(&d.bbox).total_cmp(&b.bbox.iou(&d.bbox)))
                .filter(|tr| tr.bbox.iou(&d.bbox) > 0.5)
                .map(|tr| tr.track_id);
            let slot: &mut Option<u64> = &mut ids[d.class_id as usize];
            if let Some(id) = best {
                assert!(
                    slot.is_none_or(|s| s == id),
                    "{kind:?} stride {stride}: object {} changed id",
                    d.class_id
                );
                *slot = Some(id);
            }
        }
    }
    ids
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_same_boxes_at_stride_k_get_the_ids_they_get_at_stride_1(
        objects in prop::collection::vec((0u8..100, -8i8..=8, 0u8..3, 0u8..60), 1..8),
        stride in 2usize..=5,
    ) {
        let frames = lanes(&objects);
        for config in configs().into_iter().filter(|c| c.kind != TrackerKind::Iou) {
            let kind = config.kind;
            let every = ids_at_stride(config, &frames, 1);
            let strided = ids_at_stride(config, &frames, stride);
            prop_assert!(every.iter().take(objects.len()).all(Option::is_some), "{kind:?}: an object was never tracked");
            prop_assert_eq!(every, strided, "{:?} at stride {}", kind, stride);
        }
    }
}

#[test]
fn time_only_moves_forward() {
    for kind in kinds() {
        let mut t = TrackerConfig {
            kind,
            ..TrackerConfig::default()
        }
        .build();
        let d = det(100.0, 100.0, 0);
        let first = t.update(10, &[d]).unwrap();
        for frame in [10, 9, 0] {
            assert_eq!(
                t.update(frame, &[d]),
                Err(Error::FrameNotAfter { frame, last: 10 }),
                "{kind:?}"
            );
        }
        // Nothing changed: the next frame continues the same track.
        let next = t.update(11, &[d]).unwrap();
        assert_eq!(next.tracks[0].track_id, first.tracks[0].track_id);
        assert_eq!(next.tracks[0].hits, 2, "{kind:?}");
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
            let u = t.update(f, &[d]).unwrap();
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
        let a = t.update(0, &[det(0.0, 0.0, 0)]).unwrap();
        let b = t
            .update(
                1,
                &[det(0.0, 0.0, 0), det(500.0, 500.0, 0), det(0.0, 0.0, 1)],
            )
            .unwrap();
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
            t.update(f, &[d]).unwrap();
        }
        for k in 1..=max_age {
            let u = t.update(4 + u64::from(k), &[]).unwrap();
            assert_eq!(u.tracks.len(), 1, "{kind:?}: gone after {k} empty frames");
            assert_eq!(u.tracks[0].state, TrackState::Lost);
        }
        let u = t.update(5 + u64::from(max_age), &[]).unwrap();
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
            t.update(f, &[d]).unwrap();
        }
        let u = t.update(4 + u64::from(max_age) + 1, &[]).unwrap();
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
                .map(|(f, d)| t.update(f as u64, d).unwrap())
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
        t.update(f, &[strong]).unwrap();
    }
    let id = t.update(5, &[strong]).unwrap().tracks[0].track_id;
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
        let u = t.update(f, &[weak, faint_stranger]).unwrap();
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
    s.update(0, &[strong]).unwrap();
    assert_eq!(
        s.update(1, &[strong, faint_stranger]).unwrap().tracks.len(),
        2
    );
}

#[test]
fn a_tentative_track_survives_the_misses_it_is_allowed() {
    let d = det(100.0, 100.0, 0);
    for (allowed, same) in [(0, false), (1, true)] {
        let mut t = TrackerConfig {
            kind: TrackerKind::Sort,
            min_hits: 3,
            tentative_misses: allowed,
            ..TrackerConfig::default()
        }
        .build();
        // Past the first min_hits updates (which confirm at once), a newcomer is tentative.
        for f in 0..3 {
            t.update(f, &[det(500.0, 500.0, 0)]).unwrap();
        }
        let first = t.update(3, &[det(500.0, 500.0, 0), d]).unwrap();
        let id = first
            .tracks
            .iter()
            .find(|tr| tr.bbox.x1 < 200.0)
            .unwrap()
            .track_id;
        t.update(4, &[det(500.0, 500.0, 0)]).unwrap(); // missed once
        let again = t.update(5, &[det(500.0, 500.0, 0), d]).unwrap();
        let id2 = again
            .tracks
            .iter()
            .find(|tr| tr.bbox.x1 < 200.0)
            .unwrap()
            .track_id;
        assert_eq!(id == id2, same, "tentative_misses {allowed}");
    }
}

#[test]
fn lost_tracks_say_how_long_ago_they_were_seen_and_where() {
    let mut t = TrackerConfig::recommended().build();
    let d = det(100.0, 100.0, 0);
    for f in 0..5 {
        t.update(f, &[d]).unwrap();
    }
    let u = t.update(7, &[]).unwrap();
    let tr = &u.tracks[0];
    assert_eq!((tr.state, tr.frames_since_update), (TrackState::Lost, 3));
    assert_eq!(tr.observed, d.bbox);
    let back = t.update(8, &[d]).unwrap();
    assert_eq!(back.tracks[0].frames_since_update, 0);
}

/// A person walks right at 4 px/frame, is hidden for 10 frames while speeding up to 8, and is
/// seen again: re-run from the last observation, the filter's velocity takes the gap's path
/// into account, where plain updating keeps most of the old velocity.
#[test]
fn the_reupdate_after_a_gap_learns_the_speed_over_the_gap() {
    let at = |x: f32| Detection {
        bbox: BBox::from_xywh(x, 100.0, 60.0, 120.0),
        confidence: 0.9,
        class_id: 0,
    };
    let speed_after = |reupdate: bool| {
        let mut t = TrackerConfig {
            kind: TrackerKind::Sort,
            reupdate_after_gap: reupdate,
            iou_threshold: 0.1,
            ..TrackerConfig::default()
        }
        .build();
        let mut x = 0.0;
        for f in 0..10u64 {
            t.update(f, &[at(x)]).unwrap();
            x += 4.0;
        }
        // Hidden (the detector runs but sees nothing) while the person speeds up.
        for f in 10..20u64 {
            t.update(f, &[]).unwrap();
            x += 8.0;
        }
        let u = t.update(20, &[at(x)]).unwrap();
        assert_eq!(u.tracks.len(), 1, "found again ({reupdate})");
        u.tracks[0].velocity.0
    };
    let (plain, reupdated) = (speed_after(false), speed_after(true));
    assert!(
        (reupdated - 8.0).abs() < (plain - 8.0).abs(),
        "velocity after the gap: re-updated {reupdated}, plain {plain}"
    );
}
