//! Property tests: a box moving across a line counts exactly once per crossing whatever the
//! jitter along the line; zone entries and exits alternate; state goes with the track.

use proptest::prelude::*;
use zones::{Analyzer, Direction, Event, Line, Object, Scene, Zone};

fn walker(id: u64, x: f32, y: f32) -> Object {
    // A 20x60 box standing at (x, y).
    Object {
        track_id: id,
        label: "person".into(),
        bbox: [x - 10.0, y - 60.0, x + 10.0, y],
    }
}

fn crossings(events: &[Event]) -> Vec<Direction> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Crossed(c) => Some(c.direction),
            _ => None,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// A walker goes from well left of a vertical line to well right of it (or back, `times`
    /// times), in many small steps with jitter up to half the band across the line: every
    /// crossing counts once, in its direction.
    #[test]
    fn one_count_per_crossing_whatever_the_jitter(
        times in 1usize..4,
        steps in 10usize..60,
        jitter in prop::collection::vec(-1.0f32..1.0, 400),
        x0 in 200.0f32..400.0,
    ) {
        let line = Line::new("gate", (x0, 0.0), (x0, 480.0));
        let band = line.band;
        let mut a = Analyzer::new(Scene { zones: vec![], lines: vec![line] }).unwrap();
        let mut events = Vec::new();
        let mut t = 0.0;
        let mut k = 0;
        for leg in 0..times {
            // Legs alternate: left to right, then back.
            let (from, to) = if leg % 2 == 0 { (x0 - 50.0, x0 + 50.0) } else { (x0 + 50.0, x0 - 50.0) };
            for i in 0..=steps {
                let x = from + (to - from) * i as f32 / steps as f32 + jitter[k % jitter.len()] * band * 0.5;
                k += 1;
                t += 0.04;
                events.extend(a.update(t, &[walker(1, x, 300.0)], &[]).events);
            }
        }
        let got = crossings(&events);
        prop_assert_eq!(got.len(), times, "{:?}", got);
        // The line is drawn downwards: in is leftwards.
        for (leg, d) in got.iter().enumerate() {
            prop_assert_eq!(*d, if leg % 2 == 0 { Direction::Out } else { Direction::In });
        }
        let c = &a.line_counts()["gate"];
        prop_assert_eq!((c.in_of("person") + c.out_of("person")) as usize, times);
    }

    /// Dithering on the line, never clear of its band on the other side, counts nothing.
    #[test]
    fn jitter_on_the_line_never_counts(jitter in prop::collection::vec(-1.0f32..1.0, 1..300)) {
        let line = Line::new("gate", (300.0, 0.0), (300.0, 480.0));
        let band = line.band;
        let mut a = Analyzer::new(Scene { zones: vec![], lines: vec![line] }).unwrap();
        let mut n = 0;
        // Starts clearly on one side, then hovers within the band.
        n += crossings(&a.update(0.0, &[walker(1, 280.0, 300.0)], &[]).events).len();
        for (i, j) in jitter.iter().enumerate() {
            n += crossings(&a.update(i as f64, &[walker(1, 300.0 + j * band, 300.0)], &[]).events).len();
        }
        prop_assert_eq!(n, 0);
    }

    /// Random walks in and out of a zone, one object given per update: entries and exits
    /// alternate per object, an object not given keeps its state, counts are the objects
    /// given that are inside, and an object whose track ends inside leaves.
    #[test]
    fn zone_events_alternate_and_counts_add_up(
        moves in prop::collection::vec((0u64..3, 0.0f32..200.0, 0.0f32..200.0), 1..200),
        inertia in 1u32..4,
    ) {
        let zone = Zone { inertia, ..Zone::new("yard", vec![(50.0, 50.0), (150.0, 50.0), (150.0, 150.0), (50.0, 150.0)]) };
        let mut a = Analyzer::new(Scene { zones: vec![zone], lines: vec![] }).unwrap();
        let mut inside = [false; 3];
        for (i, (id, x, y)) in moves.iter().enumerate() {
            let u = a.update(i as f64, &[walker(*id, *x, *y)], &[]);
            for e in &u.events {
                match e {
                    Event::Entered { track_id, .. } => {
                        prop_assert!(!inside[*track_id as usize], "entered twice");
                        inside[*track_id as usize] = true;
                    }
                    Event::Left { track_id, .. } => {
                        prop_assert!(inside[*track_id as usize], "left without entering");
                        inside[*track_id as usize] = false;
                    }
                    _ => {}
                }
            }
            let now = u32::from(inside[*id as usize]);
            prop_assert_eq!(u.zone_counts["yard"].values().sum::<u32>(), now);
        }
        let u = a.update(1e6, &[], &[0, 1, 2]);
        let left = u.events.iter().filter(|e| matches!(e, Event::Left { .. })).count();
        prop_assert_eq!(left, inside.iter().filter(|b| **b).count());
        prop_assert_eq!(a.followed(), 0, "state goes with the track");
    }
}

#[test]
fn inertia_ignores_a_blip_and_loitering_is_told_once() {
    let zone = Zone {
        inertia: 2,
        loiter_seconds: Some(5.0),
        ..Zone::new(
            "bench",
            vec![(0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0)],
        )
    };
    let mut a = Analyzer::new(Scene {
        zones: vec![zone],
        lines: vec![],
    })
    .unwrap();
    let inside = walker(1, 50.0, 50.0);
    let outside = walker(1, 300.0, 50.0);
    assert!(
        a.update(0.0, std::slice::from_ref(&outside), &[])
            .events
            .is_empty()
    );
    assert!(
        a.update(1.0, std::slice::from_ref(&inside), &[])
            .events
            .is_empty(),
        "one update inside is a blip"
    );
    assert!(a.update(2.0, &[outside], &[]).events.is_empty());
    assert!(
        a.update(3.0, std::slice::from_ref(&inside), &[])
            .events
            .is_empty()
    );
    let e = a.update(4.0, std::slice::from_ref(&inside), &[]).events;
    assert!(
        matches!(&e[..], [Event::Entered { zone, .. }] if zone == "bench"),
        "{e:?}"
    );
    let mut loiter = 0;
    for t in 5..20 {
        loiter += a
            .update(f64::from(t), std::slice::from_ref(&inside), &[])
            .events
            .iter()
            .filter(|e| matches!(e, Event::Loitering { .. }))
            .count();
    }
    assert_eq!(loiter, 1);
    // The label filter: a car does not count.
    let mut a = Analyzer::new(Scene {
        zones: vec![Zone {
            labels: vec!["person".into()],
            inertia: 1,
            ..Zone::new(
                "path",
                vec![(0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0)],
            )
        }],
        lines: vec![],
    })
    .unwrap();
    let car = Object {
        label: "car".into(),
        ..walker(2, 50.0, 50.0)
    };
    assert!(a.update(0.0, &[car], &[]).events.is_empty());
}

#[test]
fn a_crossing_beyond_the_segment_does_not_count() {
    let line = Line::new("short", (300.0, 200.0), (300.0, 250.0));
    let mut a = Analyzer::new(Scene {
        zones: vec![],
        lines: vec![line],
    })
    .unwrap();
    let mut n = 0;
    for x in (200..400).step_by(10) {
        n += crossings(&a.update(0.0, &[walker(1, x as f32, 400.0)], &[]).events).len();
    }
    assert_eq!(n, 0, "walking below the segment's end");
}

#[test]
fn bad_scenes_are_typed_errors() {
    let z = |poly: Vec<(f32, f32)>| Scene {
        zones: vec![Zone::new("z", poly)],
        lines: vec![],
    };
    assert!(Analyzer::new(z(vec![(0.0, 0.0), (1.0, 1.0)])).is_err());
    assert!(Analyzer::new(z(vec![(0.0, 0.0), (f32::NAN, 1.0), (2.0, 0.0)])).is_err());
    let l = Scene {
        zones: vec![],
        lines: vec![Line::new("l", (1.0, 1.0), (1.0, 1.0))],
    };
    assert!(Analyzer::new(l).is_err());
    let dup = Scene {
        zones: vec![],
        lines: vec![
            Line::new("x", (0.0, 0.0), (1.0, 1.0)),
            Line::new("x", (0.0, 0.0), (2.0, 1.0)),
        ],
    };
    assert_eq!(
        Analyzer::new(dup).unwrap_err(),
        zones::Error::Duplicate("x".into())
    );
}

#[test]
fn scenes_are_capped() {
    let square = vec![(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)];
    let zones = |n: usize| Scene {
        zones: (0..n)
            .map(|i| Zone::new(format!("z{i}"), square.clone()))
            .collect(),
        lines: vec![],
    };
    assert!(Analyzer::new(zones(zones::MAX_ZONES)).is_ok());
    assert_eq!(
        Analyzer::new(zones(zones::MAX_ZONES + 1)).unwrap_err(),
        zones::Error::TooMany {
            what: "zones",
            max: zones::MAX_ZONES
        }
    );
    let lines = Scene {
        zones: vec![],
        lines: (0..=zones::MAX_LINES)
            .map(|i| Line::new(format!("l{i}"), (0.0, 0.0), (1.0, 1.0)))
            .collect(),
    };
    assert!(matches!(
        Analyzer::new(lines),
        Err(zones::Error::TooMany { what: "lines", .. })
    ));
    let corners: Vec<(f32, f32)> = (0..=zones::MAX_POINTS)
        .map(|i| {
            let a = i as f32 / 100.0;
            (100.0 * a.cos(), 100.0 * a.sin())
        })
        .collect();
    let e = Analyzer::new(Scene {
        zones: vec![Zone::new("round", corners)],
        lines: vec![],
    })
    .unwrap_err();
    assert!(e.to_string().contains("at most"), "{e}");
    // A name a megabyte long is refused, and the error quotes 64 characters of it.
    let long = "n".repeat(1 << 20);
    let e = Analyzer::new(Scene {
        zones: vec![Zone::new(long.clone(), square.clone())],
        lines: vec![],
    })
    .unwrap_err();
    assert!(e.to_string().len() < 200, "{}", e.to_string().len());
    for bad in ["", " ", "a/b", "a+b", "a#b", "a\nb", "a\u{0}b"] {
        assert!(
            Analyzer::new(Scene {
                zones: vec![Zone::new(bad, square.clone())],
                lines: vec![],
            })
            .is_err(),
            "{bad:?}"
        );
    }
    let mut labelled = Zone::new("z", square.clone());
    labelled.labels = (0..=zones::MAX_LABELS).map(|i| format!("c{i}")).collect();
    assert!(
        Analyzer::new(Scene {
            zones: vec![labelled],
            lines: vec![],
        })
        .is_err()
    );
    for far in [1e6f32, -1e6, f32::MAX] {
        assert!(
            Analyzer::new(Scene {
                zones: vec![],
                lines: vec![Line::new("far", (0.0, 0.0), (far, 1.0))],
            })
            .is_err()
        );
    }
    let mut z = Zone::new("loiter", square);
    z.loiter_seconds = Some(f64::INFINITY);
    assert!(
        Analyzer::new(Scene {
            zones: vec![z],
            lines: vec![],
        })
        .is_err()
    );
}

proptest! {
    /// Whatever a caller sends, the scene builds within the caps or is refused with a short
    /// message; it never panics.
    #[test]
    fn any_scene_is_built_within_caps_or_refused(
        n_zones in 0usize..80,
        points in 0usize..300,
        name_len in 0usize..100,
        coordinate in prop_oneof![Just(f32::NAN), Just(f32::INFINITY), -2e5f32..2e5],
    ) {
        let name = "x".repeat(name_len);
        let polygon: Vec<(f32, f32)> = (0..points)
            .map(|i| (coordinate + i as f32, (i % 7) as f32))
            .collect();
        let scene = Scene {
            zones: (0..n_zones)
                .map(|i| Zone::new(format!("{name}{i}"), polygon.clone()))
                .collect(),
            lines: vec![],
        };
        match Analyzer::new(scene.clone()) {
            Ok(a) => {
                prop_assert!(a.scene().zones.len() <= zones::MAX_ZONES);
                for z in &a.scene().zones {
                    prop_assert!((3..=zones::MAX_POINTS).contains(&z.polygon.len()));
                    prop_assert!(z.name.chars().count() <= zones::MAX_NAME);
                    prop_assert!(z.polygon.iter().all(|p| p.0.abs() <= zones::MAX_COORDINATE));
                }
            }
            Err(e) => prop_assert!(e.to_string().len() < 300, "{e}"),
        }
    }
}
