//! Property tests of the trackers: ids never reused, one state per track, stable ids for a
//! repeated detection, new ids for far detections, ageing out after `max_age` empty frames,
//! the same ids whether the detector sees every frame or every k-th, and time that only moves
//! forward; tracks reported as confirmed only once trusted, start-up confirmation only for
//! confident detections, weak detections that keep a track missed a moment, boxes that keep
//! their size and slow down while unseen, newcomers that keep their own detections, and
//! duplicate boxes that start no track.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use tracker::{BBox, Detection, Error, TrackState, Tracker, TrackerConfig, TrackerKind};

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

/// A tracker of `kind` with the defaults.
fn build(kind: TrackerKind) -> Box<dyn Tracker> {
    TrackerConfig {
        kind,
        ..TrackerConfig::default()
    }
    .build()
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
            prop::collection::vec((0u8..8, 0u8..8, 0u32..2, 0usize..4), 0..6),
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
                // Scores on both sides of every threshold of the recommended configuration.
                let dets: Vec<Detection> = dets
                    .iter()
                    .map(|&(x, y, c, s)| Detection {
                        confidence: [0.2, 0.5, 0.65, 0.9][s],
                        ..det(f32::from(x) * 30.0, f32::from(y) * 30.0, c)
                    })
                    .collect();
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
        let mut t = build(kind);
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
        let mut t = build(kind);
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
        let mut t = build(kind);
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
            let mut t = build(kind);
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    /// One object seen at random scores: a track is reported confirmed or lost only after a
    /// detection at `trust_score` or above matched it, and once it has been, it never goes
    /// back to tentative; its id changes only after it ended.
    #[test]
    fn a_track_is_trusted_from_its_first_confident_detection_and_keeps_its_id(
        scores in prop::collection::vec(prop::option::of(0.3f32..1.0), 1..40),
    ) {
        let cfg = TrackerConfig { class_aware: false, ..TrackerConfig::recommended() };
        let mut t = cfg.build();
        let mut best: HashMap<u64, f32> = HashMap::new();
        let mut shown: HashSet<u64> = HashSet::new();
        let mut current: Option<u64> = None;
        let mut ended: HashSet<u64> = HashSet::new();
        for (f, s) in scores.iter().enumerate() {
            let dets: Vec<Detection> = s
                .iter()
                .map(|&confidence| Detection { confidence, ..det(100.0, 100.0, 0) })
                .collect();
            let u = t.update(f as u64, &dets).unwrap();
            ended.extend(u.ended.iter().map(|e| e.track_id));
            prop_assert!(u.tracks.len() <= 1, "frame {f}: {u:?}");
            let Some(tr) = u.tracks.first() else { continue };
            if let Some(old) = current.filter(|&old| old != tr.track_id) {
                prop_assert!(ended.contains(&old), "frame {f}: id {old} replaced before it ended");
            }
            current = Some(tr.track_id);
            if tr.frames_since_update == 0 {
                let b = best.entry(tr.track_id).or_insert(0.0);
                *b = b.max(tr.confidence);
            }
            let b = best.get(&tr.track_id).copied().unwrap_or(0.0);
            match tr.state {
                TrackState::Confirmed | TrackState::Lost => {
                    prop_assert!(b >= cfg.trust_score, "frame {f}: {tr:?} shown at best {b}");
                    shown.insert(tr.track_id);
                }
                _ => prop_assert!(!shown.contains(&tr.track_id), "frame {f}: {tr:?} untrusted again"),
            }
        }
    }
}

#[test]
fn start_up_confirms_only_confident_detections() {
    let cfg = TrackerConfig {
        class_aware: false,
        ..TrackerConfig::recommended()
    };
    let sure = det(100.0, 100.0, 0);
    let unsure = Detection {
        confidence: cfg.early_confirm_score - 0.1,
        ..det(400.0, 100.0, 0)
    };
    let mut t = cfg.build();
    let u = t.update(0, &[sure, unsure]).unwrap();
    let state = |x: f32| u.tracks.iter().find(|t| t.bbox.x1 == x).map(|t| t.state);
    assert_eq!(state(100.0), Some(TrackState::Confirmed));
    assert_eq!(state(400.0), Some(TrackState::Tentative));
    // Its second sighting confirms it, as any track.
    let u = t.update(1, &[sure, unsure]).unwrap();
    assert!(
        u.tracks.iter().all(|t| t.state == TrackState::Confirmed),
        "{u:?}"
    );
}

/// Someone missed by the detector once, then seen half hidden (a weak detection): with
/// `second_lost_iou` the weak detection keeps the track; without it (the paper's ByteTrack)
/// the track stays lost.
#[test]
fn a_weak_detection_after_one_miss_keeps_the_track_when_asked() {
    let state_after = |second_lost_iou: Option<f32>, shift: f32| {
        let mut cfg = TrackerConfig {
            class_aware: false,
            ..TrackerConfig::recommended()
        };
        cfg.bytetrack.second_lost_iou = second_lost_iou;
        let mut t = cfg.build();
        let strong = det(100.0, 100.0, 0);
        for f in 0..4 {
            t.update(f, &[strong]).unwrap();
        }
        t.update(4, &[]).unwrap();
        let weak = Detection {
            confidence: 0.3,
            ..det(100.0 + shift, 100.0, 0)
        };
        let u = t.update(5, &[weak]).unwrap();
        assert_eq!(u.tracks.len(), 1, "{u:?}");
        (u.tracks[0].track_id, u.tracks[0].state)
    };
    // Shifted by 5 px the weak box overlaps the track's at IoU 0.78, by 12 px at 0.54.
    assert_eq!(state_after(Some(0.6), 5.0), (1, TrackState::Confirmed));
    assert_eq!(state_after(Some(0.6), 12.0), (1, TrackState::Lost));
    assert_eq!(state_after(Some(0.5), 12.0), (1, TrackState::Confirmed));
    assert_eq!(state_after(None, 5.0), (1, TrackState::Lost));
}

/// A track confirmed on weak-ish detections (0.65) is followed but reported as tentative;
/// the first detection at `trust_score` makes it confirmed, under the same id, and it stays
/// trusted when lost.
#[test]
fn a_confirmed_track_is_reported_once_trusted() {
    let cfg = TrackerConfig {
        class_aware: false,
        ..TrackerConfig::recommended()
    };
    let mut t = cfg.build();
    let at = |confidence: f32| Detection {
        confidence,
        ..det(100.0, 100.0, 0)
    };
    let states: Vec<(u64, TrackState)> = [
        Some(0.65),
        Some(0.65),
        Some(0.65),
        Some(0.75),
        None,
        Some(0.65),
    ]
    .iter()
    .enumerate()
    .map(|(f, s)| {
        let dets: Vec<Detection> = s.iter().map(|&c| at(c)).collect();
        let u = t.update(f as u64, &dets).unwrap();
        (u.tracks[0].track_id, u.tracks[0].state)
    })
    .collect();
    use TrackState::{Confirmed, Lost, Tentative};
    assert_eq!(
        states,
        [
            (1, Tentative),
            (1, Tentative),
            (1, Tentative),
            (1, Confirmed),
            (1, Lost),
            (1, Confirmed)
        ]
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Without size prediction a box unseen for a while keeps the size it had when last
    /// seen, whatever the sizes before; with a velocity decay it drifts less than at
    /// constant velocity, and never further than the decay's geometric bound.
    #[test]
    fn an_unseen_box_keeps_its_size_and_slows_down(
        sizes in prop::collection::vec((30.0f32..80.0, 60.0f32..200.0), 3..8),
        speed in 1.0f32..8.0,
        unseen in 1u64..25,
    ) {
        // (velocity when last seen, box at the first miss, box `unseen` frames later)
        let run = |predict_size: bool, decay: f32| {
            let mut t = TrackerConfig {
                kind: TrackerKind::Sort,
                min_hits: 1,
                iou_threshold: 0.01,
                predict_size,
                lost_velocity_decay: decay,
                max_age: 100,
                ..TrackerConfig::default()
            }
            .build();
            let mut x = 100.0;
            let mut v = 0.0;
            for (f, &(w, h)) in sizes.iter().enumerate() {
                let d = Detection { bbox: BBox::from_xywh(x, 100.0, w, h), confidence: 0.9, class_id: 0 };
                v = t.update(f as u64, &[d]).unwrap().tracks[0].velocity.0;
                x += speed;
            }
            let n = sizes.len() as u64;
            let first_miss = t.update(n, &[]).unwrap().tracks[0].bbox;
            let mut end = first_miss;
            for f in n + 1..=n + unseen {
                end = t.update(f, &[]).unwrap().tracks[0].bbox;
            }
            (v, first_miss, end)
        };
        let (_, first_miss, end) = run(false, 1.0);
        prop_assert!((end.width() - first_miss.width()).abs() < 1e-2 && (end.height() - first_miss.height()).abs() < 1e-2,
            "{first_miss:?} → {end:?}");
        let drift = |from: BBox, to: BBox| to.center().0 - from.center().0;
        let (_, a, steady) = run(false, 1.0);
        let (v, b, slowed) = run(false, 0.9);
        let (free, damped) = (drift(a, steady), drift(b, slowed));
        prop_assert!(damped.abs() <= free.abs() + 1e-3, "{damped} vs {free}");
        // v·(0.9 + 0.9² + …) ≤ 9·v
        prop_assert!(damped.abs() <= 9.0 * v.abs() + 1e-3, "{damped} at {v}");
    }
}

/// Someone stands where the detector just missed them; a newcomer's box overlaps theirs.
/// With tentative tracks in ByteTrack's first stage, the newcomer's detection goes to the
/// newcomer's own (tentative) track; without, the confirmed track takes it.
#[test]
fn a_newcomers_detection_goes_to_the_newcomers_track_when_tentative_tracks_come_first() {
    let ids = |tentative_in_first_stage: bool| {
        let mut t = TrackerConfig {
            kind: TrackerKind::ByteTrack,
            class_aware: false,
            tentative_in_first_stage,
            ..TrackerConfig::default()
        }
        .build();
        let standing = det(100.0, 100.0, 0);
        for f in 0..5 {
            t.update(f, &[standing]).unwrap();
        }
        let newcomer = |x: f32| det(x, 100.0, 0);
        let u = t.update(5, &[standing, newcomer(115.0)]).unwrap();
        let new_id = u.tracks.iter().map(|t| t.track_id).max().unwrap();
        // The detector misses the one standing.
        let u = t.update(6, &[newcomer(116.0)]).unwrap();
        let taker = u
            .tracks
            .iter()
            .find(|t| t.frames_since_update == 0)
            .map(|t| t.track_id);
        (new_id, taker)
    };
    let (newcomer, taker) = ids(true);
    assert_eq!(taker, Some(newcomer));
    let (newcomer, taker) = ids(false);
    assert_eq!(taker, Some(1));
    assert_ne!(newcomer, 1);
}

/// A second box of a tracked person (IoU 0.9 with the one its confirmed track takes) starts no
/// track with `duplicate_iou`; someone overlapping less (IoU 0.6) still gets one.
#[test]
fn a_duplicate_box_starts_no_track_and_a_neighbour_does() {
    let tracks_seen = |duplicate_iou: Option<f32>, shift: f32| {
        let mut t = TrackerConfig {
            class_aware: false,
            duplicate_iou,
            ..TrackerConfig::recommended()
        }
        .build();
        let person = det(100.0, 100.0, 0);
        // 40×80 boxes: shifted 2 px the IoU is 0.90, 10 px 0.60.
        let second = Detection {
            confidence: 0.8,
            ..det(100.0 + shift, 100.0, 0)
        };
        t.update(0, &[person]).unwrap();
        t.update(1, &[person]).unwrap();
        let mut ids = HashSet::new();
        for f in 2..8 {
            for tr in t.update(f, &[person, second]).unwrap().tracks {
                ids.insert(tr.track_id);
            }
        }
        ids.len()
    };
    assert_eq!(tracks_seen(Some(0.8), 2.0), 1);
    assert_eq!(tracks_seen(None, 2.0), 2);
    assert_eq!(tracks_seen(Some(0.8), 10.0), 2);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    /// The one rendering ([`tracker::Reporter`]): a track is ended at most once and only if it
    /// was shown, never shown after its end, shown boxes lie in the picture, lost tracks show
    /// for `lost_frames` and no longer, and ids keep growing across restarts.
    #[test]
    fn what_is_shown_ends_exactly_once(
        frames in prop::collection::vec(
            prop::collection::vec((0u8..12, 0u8..8, 0usize..4), 0..6),
            1..80,
        ),
        gaps in prop::collection::vec(1u64..6, 80),
        lost_frames in prop_oneof![Just(0u32), 1u32..20, Just(u32::MAX)],
        tentative in any::<bool>(),
        restart_at in 0usize..100,
    ) {
        let reporting = tracker::Reporting { tentative, lost_frames };
        for config in configs() {
            let config = TrackerConfig { max_age: 12, reporting, ..config };
            let mut t = config.build();
            let mut r = tracker::Reporter::new(reporting, 1000);
            let (w, h) = (480.0f32, 320.0f32);
            let mut shown: HashSet<u64> = HashSet::new();
            let mut ended: HashSet<u64> = HashSet::new();
            let mut largest = 1000u64;
            let mut frame = 0u64;
            for (i, dets) in frames.iter().enumerate() {
                if i == restart_at {
                    for e in r.restart() {
                        prop_assert!(shown.contains(&e.track_id) && ended.insert(e.track_id));
                    }
                    t = config.build();
                }
                frame += gaps[i];
                let dets: Vec<Detection> = dets
                    .iter()
                    .map(|&(x, y, s)| Detection {
                        // Some boxes start beyond the right edge: their tracks leave the view.
                        bbox: BBox::from_xywh(f32::from(x) * 45.0, f32::from(y) * 35.0, 40.0, 80.0),
                        confidence: [0.95, 0.75, 0.5, 0.2][s],
                        class_id: 0,
                    })
                    .collect();
                let u = t.update(frame, &dets).unwrap();
                let s = r.show(&u, (w, h));
                r.check_invariants();
                prop_assert_eq!(s.tracks.len(), s.unclipped.len());
                for o in &s.tracks {
                    prop_assert!(!ended.contains(&o.track_id), "shown after its end");
                    prop_assert!(o.bbox.x1 >= 0.0 && o.bbox.x2 <= w && o.bbox.y1 >= 0.0 && o.bbox.y2 <= h);
                    match o.state {
                        TrackState::Lost => prop_assert!(o.frames_since_update <= lost_frames),
                        TrackState::Tentative => prop_assert!(tentative),
                        TrackState::Confirmed => {}
                        TrackState::Removed => prop_assert!(false, "a removed track shown"),
                    }
                    prop_assert!(o.track_id > 1000);
                    largest = largest.max(o.track_id);
                    shown.insert(o.track_id);
                }
                for e in &s.ended {
                    prop_assert_eq!(e.state, TrackState::Removed);
                    prop_assert!(shown.contains(&e.track_id), "ended without being shown");
                    prop_assert!(ended.insert(e.track_id), "ended twice");
                }
            }
            // Ids after a restart follow the largest shown.
            prop_assert!(shown.iter().all(|&id| id <= largest));
        }
    }
}
