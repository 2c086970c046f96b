//! Snapshots: a tracker restored from one and fed the same detections gives exactly the
//! updates of a tracker that never stopped, in the same frame numbers or in another session's
//! mapped by capture time; damaged snapshots are refused, not guessed at.

use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use tracker::{
    BBox, Detection, Error, Reporter, Reporting, Resume, Snapshot, TrackerConfig, TrackerKind,
};

/// Frames (strictly increasing numbers, gaps as a detector that skips frames makes) and their
/// detections: objects moving in straight lines, some missed, some false positives.
fn scene() -> impl Strategy<Value = Vec<(u64, Vec<Detection>)>> {
    let object = (
        0.0f32..600.0,
        0.0f32..400.0,
        20.0f32..120.0,
        -6.0f32..6.0,
        -4.0f32..4.0,
        0u32..2,
    );
    (
        prop::collection::vec(object, 0..6),
        prop::collection::vec(
            (
                1u64..7,
                prop::collection::vec(any::<bool>(), 6),
                prop::collection::vec(0.05f32..0.99, 6),
                prop::option::of((0.0f32..600.0, 0.0f32..400.0, 0.1f32..0.7)),
            ),
            1..50,
        ),
    )
        .prop_map(|(objects, frames)| {
            let mut out = Vec::new();
            let mut f = 0u64;
            for (gap, seen, scores, fp) in frames {
                f += gap;
                let t = f as f32;
                let mut dets = Vec::new();
                for (i, &(x, y, s, vx, vy, class)) in objects.iter().enumerate() {
                    if seen[i] {
                        let (x, y) = (x + vx * t, y + vy * t);
                        dets.push(Detection {
                            bbox: BBox::new(x, y, x + s, y + 2.0 * s),
                            confidence: scores[i],
                            class_id: class,
                        });
                    }
                }
                if let Some((x, y, c)) = fp {
                    dets.push(Detection {
                        bbox: BBox::new(x, y, x + 30.0, y + 60.0),
                        confidence: c,
                        class_id: 0,
                    });
                }
                out.push((f, dets));
            }
            out
        })
}

fn configs() -> Vec<TrackerConfig> {
    let with = |kind| TrackerConfig {
        kind,
        ..TrackerConfig::default()
    };
    vec![
        TrackerConfig::default(),
        TrackerConfig::recommended(),
        with(TrackerKind::Sort),
        with(TrackerKind::Iou),
        with(TrackerKind::ByteTrack),
    ]
}

/// Updates as text: `Debug` of an `f32` round-trips, so equal text is equal bits.
fn run(
    t: &mut dyn tracker::Tracker,
    frames: &[(u64, Vec<Detection>)],
    renumber: i64,
) -> Vec<String> {
    frames
        .iter()
        .map(|(f, d)| format!("{:?}", t.update(f.checked_add_signed(renumber).unwrap(), d)))
        .collect()
}

const FPS: f64 = 25.0;

fn captured(frame: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000) + Duration::from_millis(frame * 40)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn restoring_and_going_on_is_exactly_not_stopping(frames in scene(), split in 0usize..50) {
        let split = split.min(frames.len());
        for config in configs() {
            let mut whole = config.build();
            let expected = run(&mut *whole, &frames, 0);

            let mut first = config.build();
            let head = run(&mut *first, &frames[..split], 0);
            prop_assert_eq!(&head[..], &expected[..split]);
            let last = split.checked_sub(1).map(|i| frames[i].0);
            let snap = first.snapshot(last.map(captured));
            prop_assert_eq!(snap.last_frame(), last);
            // Through bytes, as a store would keep it.
            let snap = Snapshot::from_bytes(snap.as_bytes()).unwrap();

            // The same frame numbers.
            let mut resumed = config.restore(&snap, None).unwrap();
            prop_assert_eq!(&run(&mut *resumed, &frames[split..], 0)[..], &expected[split..]);

            // A new session numbering its frames from 5000, mapped by capture time.
            if let (Some(_), Some((next, _))) = (last, frames.get(split)) {
                let shift = 5000 - *next as i64;
                let resume = Resume { frame: 5000, captured: captured(*next), fps: FPS };
                let mut moved = config.restore(&snap, Some(&resume)).unwrap();
                prop_assert_eq!(&run(&mut *moved, &frames[split..], shift)[..], &expected[split..]);
                // A snapshot of the moved tracker speaks the new session's numbers.
                prop_assert_eq!(moved.snapshot(None).last_frame(), frames.last().map(|f| (f.0 as i64 + shift) as u64));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// What the caller is shown (ids, lost tracks, ends) goes on exactly across a snapshot of
    /// the tracker and its reporter.
    #[test]
    fn the_shown_tracks_go_on_exactly(frames in scene(), split in 0usize..50, lost in 0u32..40) {
        let split = split.min(frames.len());
        let config = TrackerConfig::default();
        let reporting = Reporting { tentative: false, lost_frames: lost };
        let size = (640.0, 480.0);
        let show = |t: &mut dyn tracker::Tracker, r: &mut Reporter, part: &[(u64, Vec<Detection>)]| {
            part.iter()
                .map(|(f, d)| format!("{:?}", r.show(&t.update(*f, d).unwrap(), size)))
                .collect::<Vec<_>>()
        };
        let (mut t, mut r) = (config.build(), Reporter::new(reporting, 100));
        let expected = show(&mut *t, &mut r, &frames);
        let (mut t, mut r) = (config.build(), Reporter::new(reporting, 100));
        show(&mut *t, &mut r, &frames[..split]);
        let (snap, saved) = (t.snapshot(None), r.save());
        let mut t = config.restore(&snap, None).unwrap();
        let mut r = Reporter::load(reporting, &saved).unwrap();
        prop_assert_eq!(&show(&mut *t, &mut r, &frames[split..])[..], &expected[split..]);
        r.check_invariants();
    }
}

#[test]
fn a_session_starting_at_frame_zero_counts_the_frames_missed_by_capture_time() {
    let config = TrackerConfig::default();
    let det = |x: f32| Detection {
        bbox: BBox::new(x, 10.0, x + 40.0, 90.0),
        confidence: 0.9,
        class_id: 0,
    };
    let mut t = config.build();
    for f in 100..110u64 {
        t.update(f, &[det(f as f32 * 2.0)]).unwrap();
    }
    let id = t.update(110, &[det(220.0)]).unwrap().tracks[0].track_id;
    let snap = t.snapshot(Some(captured(110)));
    // Restarted: the new session's frame 0 was captured 10 frames (0.4 s) later.
    let resume = Resume {
        frame: 0,
        captured: captured(120),
        fps: FPS,
    };
    let mut r = config.restore(&snap, Some(&resume)).unwrap();
    let u = r.update(0, &[det(240.0)]).unwrap();
    assert_eq!(u.tracks.len(), 1);
    assert_eq!(u.tracks[0].track_id, id, "the id goes on");
    assert_eq!(u.tracks[0].frames_since_update, 0);
    // Frames before the resumed session's first are refused, in its own numbers.
    let mut r = config.restore(&snap, Some(&resume)).unwrap();
    r.update(3, &[]).unwrap();
    assert_eq!(
        r.update(2, &[]).unwrap_err(),
        Error::FrameNotAfter { frame: 2, last: 3 }
    );
    // Longer ago than max_age: the track ends on the first update.
    let late = Resume {
        frame: 0,
        captured: captured(110 + 10 * u64::from(config.max_age)),
        fps: FPS,
    };
    let u = config
        .restore(&snap, Some(&late))
        .unwrap()
        .update(0, &[])
        .unwrap();
    assert!(u.tracks.is_empty() && u.ended.len() == 1 && u.ended[0].track_id == id);
}

#[test]
fn damaged_or_foreign_snapshots_are_refused() {
    let config = TrackerConfig::default();
    let mut t = config.build();
    let det = Detection {
        bbox: BBox::new(0.0, 0.0, 40.0, 80.0),
        confidence: 0.9,
        class_id: 0,
    };
    t.update(1, &[det]).unwrap();
    let snap = t.snapshot(None);
    let bytes = snap.as_bytes();
    for cut in [0, 3, 10, bytes.len() - 1] {
        let e = Snapshot::from_bytes(&bytes[..cut]).unwrap_err();
        assert!(matches!(e, Error::BadSnapshot(_)), "{cut}: {e}");
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert!(Snapshot::from_bytes(&longer).is_err());
    let mut version = bytes.to_vec();
    version[4] = 99;
    let e = Snapshot::from_bytes(&version).unwrap_err().to_string();
    assert!(e.contains("version 99"), "{e}");
    assert!(Snapshot::from_bytes(b"not a snapshot at all").is_err());
    let saved = Reporter::new(Reporting::default(), 0).save();
    assert!(Reporter::load(Reporting::default(), &saved).is_ok());
    assert!(Reporter::load(Reporting::default(), &saved[..saved.len() - 1]).is_err());
    assert!(
        Reporter::load(Reporting::default(), bytes).is_err(),
        "a tracker snapshot"
    );
    // Another kind of tracker.
    let iou = TrackerConfig {
        kind: TrackerKind::Iou,
        ..config
    };
    let Err(e) = iou.restore(&snap, None) else {
        panic!("restored into another kind")
    };
    let e = e.to_string();
    assert!(e.contains("another tracker kind"), "{e}");
    // No capture time: no mapping into another numbering.
    let resume = Resume {
        frame: 0,
        captured: captured(0),
        fps: FPS,
    };
    assert!(config.restore(&snap, Some(&resume)).is_err());
    let snap = t.snapshot(Some(captured(1)));
    for fps in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e9] {
        let bad = Resume { fps, ..resume };
        assert!(config.restore(&snap, Some(&bad)).is_err(), "{fps}");
    }
    assert!(config.restore(&snap, Some(&resume)).is_ok());
}
