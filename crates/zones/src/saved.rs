//! An analyzer's state as bytes ([`Analyzer::save`], [`Analyzer::load`]): which objects are
//! in which zones since when, which side of each line they were last seen on, and the
//! crossings counted so far — so that a stream restarted elsewhere goes on without counting
//! anyone again. Zones and lines are named, not numbered: loaded into a scene that changed,
//! what belongs to a zone or line no longer there is dropped. Times are stored relative to
//! the last update, so the new time base can start anywhere.
//!
//! The format: `RWZN`, a version (u16), then the zone entries, the line entries and the line
//! counts, each a u32 count of little-endian records; strings are a u16 length and UTF-8,
//! floats their bits.

use std::collections::BTreeMap;

use crate::scene::{Analyzer, AtLine, Error, InZone, LineCounts, Scene};

const MAGIC: &[u8; 4] = b"RWZN";
const VERSION: u16 = 1;

fn put_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    let n = b.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&(n as u16).to_le_bytes());
    out.extend_from_slice(&b[..n]);
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let (head, tail) = self
            .rest
            .split_at_checked(n)
            .ok_or_else(|| Error::BadState("it ends early".into()))?;
        self.rest = tail;
        Ok(head)
    }

    fn n<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }

    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.n::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.n()?))
    }

    fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from_le_bytes(self.n()?))
    }

    fn f32(&mut self) -> Result<f32, Error> {
        Ok(f32::from_bits(self.u32()?))
    }

    fn f64(&mut self) -> Result<f64, Error> {
        Ok(f64::from_bits(self.u64()?))
    }

    fn string(&mut self) -> Result<String, Error> {
        let n = u16::from_le_bytes(self.n()?);
        String::from_utf8(self.take(usize::from(n))?.to_vec())
            .map_err(|_| Error::BadState("a name is not UTF-8".into()))
    }

    /// A record count, bounded by what the rest could hold (`min` bytes a record).
    fn count(&mut self, min: usize) -> Result<usize, Error> {
        let n = self.u32()? as usize;
        if n > self.rest.len() / min {
            return Err(Error::BadState(
                "a count larger than the bytes after it".into(),
            ));
        }
        Ok(n)
    }
}

impl Analyzer {
    /// The state to go on from ([`Analyzer::load`]), its times relative to the last update.
    pub fn save(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        // Sorted, so that the same state gives the same bytes.
        let mut zones: Vec<_> = self.zone_state.iter().collect();
        zones.sort_by_key(|((z, t), _)| (*z, *t));
        out.extend_from_slice(&(zones.len() as u32).to_le_bytes());
        for ((z, track), st) in zones {
            put_str(&mut out, &self.scene.zones[*z].name);
            out.extend_from_slice(&track.to_le_bytes());
            put_str(&mut out, &st.label);
            out.push(u8::from(st.inside));
            out.extend_from_slice(&st.streak.to_le_bytes());
            let age = self.last_time - st.entered_at;
            out.extend_from_slice(&age.to_bits().to_le_bytes());
            out.push(u8::from(st.loiter_reported));
        }
        let mut lines: Vec<_> = self.line_state.iter().collect();
        lines.sort_by_key(|((l, t), _)| (*l, *t));
        out.extend_from_slice(&(lines.len() as u32).to_le_bytes());
        for ((l, track), at) in lines {
            put_str(&mut out, &self.scene.lines[*l].name);
            out.extend_from_slice(&track.to_le_bytes());
            for v in [at.side, at.at.0, at.at.1] {
                out.extend_from_slice(&v.to_bits().to_le_bytes());
            }
        }
        out.extend_from_slice(&(self.line_counts.len() as u32).to_le_bytes());
        for (line, counts) in self.scene.lines.iter().zip(&self.line_counts) {
            put_str(&mut out, &line.name);
            for side in [&counts.in_, &counts.out] {
                out.extend_from_slice(&(side.len() as u32).to_le_bytes());
                for (label, n) in side {
                    put_str(&mut out, label);
                    out.extend_from_slice(&n.to_le_bytes());
                }
            }
        }
        out
    }

    /// An analyzer for `scene` that goes on from a saved state, `now` being the time of the
    /// saved state's last update in this analyzer's time base (times inside a zone carry on
    /// from there). State of zones and lines `scene` no longer has is dropped.
    ///
    /// # Errors
    ///
    /// [`Analyzer::new`]'s for the scene, and [`Error::BadState`] for bytes that are not a
    /// whole state of this version.
    pub fn load(scene: Scene, bytes: &[u8], now: f64) -> Result<Self, Error> {
        let mut a = Analyzer::new(scene)?;
        let mut r = Reader { rest: bytes };
        if r.take(4)? != MAGIC {
            return Err(Error::BadState("not a zone state".into()));
        }
        let version = u16::from_le_bytes(r.n()?);
        if version != VERSION {
            return Err(Error::BadState(format!(
                "version {version}, this build reads version {VERSION}"
            )));
        }
        let zone_index = |name: &str| a.scene.zones.iter().position(|z| z.name == name);
        let line_index = |name: &str| a.scene.lines.iter().position(|l| l.name == name);
        let mut zone_state = Vec::new();
        for _ in 0..r.count(2 + 8 + 2 + 1 + 4 + 8 + 1)? {
            let zone = r.string()?;
            let track = r.u64()?;
            let label = r.string()?;
            let inside = r.u8()? != 0;
            let streak = r.u32()?;
            let age = r.f64()?;
            let loiter_reported = r.u8()? != 0;
            if !age.is_finite() {
                return Err(Error::BadState("a time is not a number".into()));
            }
            if let Some(z) = zone_index(&zone) {
                let st = InZone {
                    label,
                    inside,
                    streak,
                    entered_at: now - age,
                    loiter_reported,
                };
                zone_state.push(((z, track), st));
            }
        }
        let mut line_state = Vec::new();
        for _ in 0..r.count(2 + 8 + 12)? {
            let line = r.string()?;
            let track = r.u64()?;
            let (side, x, y) = (r.f32()?, r.f32()?, r.f32()?);
            if let Some(l) = line_index(&line) {
                line_state.push(((l, track), AtLine { side, at: (x, y) }));
            }
        }
        let mut counts = Vec::new();
        for _ in 0..r.count(2 + 4 + 4)? {
            let line = r.string()?;
            let mut sides = [BTreeMap::new(), BTreeMap::new()];
            for side in &mut sides {
                for _ in 0..r.count(2 + 8)? {
                    let label = r.string()?;
                    side.insert(label, r.u64()?);
                }
            }
            let [in_, out] = sides;
            if let Some(l) = line_index(&line) {
                counts.push((l, LineCounts { in_, out }));
            }
        }
        if !r.rest.is_empty() {
            return Err(Error::BadState("bytes after its end".into()));
        }
        a.zone_state.extend(zone_state);
        a.line_state.extend(line_state);
        for (l, c) in counts {
            a.line_counts[l] = c;
        }
        a.last_time = now;
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Line, Object, Zone};
    use proptest::prelude::*;

    fn scene() -> Scene {
        let mut zone = Zone::new(
            "porch",
            vec![
                (100.0, 100.0),
                (300.0, 100.0),
                (300.0, 300.0),
                (100.0, 300.0),
            ],
        );
        zone.loiter_seconds = Some(1.0);
        Scene {
            zones: vec![zone],
            lines: vec![Line::new("door", (200.0, 0.0), (200.0, 480.0))],
        }
    }

    fn walker(id: u64, x: f32, y: f32) -> Object {
        Object {
            track_id: id,
            label: "person".into(),
            bbox: [x - 10.0, y - 40.0, x + 10.0, y],
        }
    }

    /// One update's objects: walkers at the generated points, the first of each id.
    fn objects(s: &[(u64, f32, f32)]) -> Vec<Object> {
        let mut seen = std::collections::BTreeSet::new();
        s.iter()
            .filter(|(id, _, _)| seen.insert(*id))
            .map(|&(id, x, y)| walker(id, x, y))
            .collect()
    }

    proptest! {
        /// Saved after any update and loaded into another time base, the analyzer gives the
        /// very updates it would have given without the break.
        #[test]
        fn going_on_from_a_saved_state_changes_nothing(
            steps in proptest::collection::vec(
                proptest::collection::vec((1u64..4, 0f32..400.0, 50f32..350.0), 0..4),
                1..40,
            ),
            split in 0usize..40,
            // Whole seconds and quarter-second steps: every time is exact in binary, so that
            // "the very updates" includes the seconds inside a zone to the last bit.
            shift in -1000i32..1000,
        ) {
            let split = split.min(steps.len());
            let mut whole = Analyzer::new(scene()).unwrap();
            let mut first = Analyzer::new(scene()).unwrap();
            let mut expected = Vec::new();
            for (i, s) in steps.iter().enumerate() {
                let u = whole.update(i as f64 * 0.25, &objects(s), &[]);
                expected.push(u);
                if i < split {
                    first.update(i as f64 * 0.25, &objects(s), &[]);
                }
            }
            let mut second = if split == 0 {
                Analyzer::new(scene()).unwrap()
            } else {
                let bytes = first.save();
                // In the new time base the last update before the break was at `shift`.
                let shift = f64::from(shift);
                Analyzer::load(scene(), &bytes, shift + (split - 1) as f64 * 0.25).unwrap()
            };
            for (i, s) in steps.iter().enumerate().skip(split) {
                let u = second.update(f64::from(shift) + i as f64 * 0.25, &objects(s), &[]);
                prop_assert_eq!(format!("{:?}", u), format!("{:?}", expected[i]));
            }
            prop_assert_eq!(second.line_counts(), whole.line_counts());
        }

        /// A scene edited at run time: the zone and line kept as they were go on exactly as
        /// if nothing happened; the changed zone starts empty (counts restart).
        #[test]
        fn an_edited_scene_keeps_what_did_not_change(
            steps in proptest::collection::vec(
                proptest::collection::vec((1u64..4, 0f32..400.0, 50f32..350.0), 0..4),
                1..40,
            ),
            split in 0usize..40,
        ) {
            let split = split.min(steps.len());
            let mut two = scene();
            two.zones.push(Zone::new("yard", vec![(0.0, 0.0), (400.0, 0.0), (400.0, 200.0)]));
            let mut whole = Analyzer::new(two.clone()).unwrap();
            let mut edited = Analyzer::new(two.clone()).unwrap();
            // The yard as it will be, from the edit on.
            let mut moved = two.clone();
            moved.zones[1].polygon[2] = (400.0, 300.0);
            let mut fresh = Analyzer::new(Scene { zones: vec![moved.zones[1].clone()], lines: vec![] }).unwrap();
            for (i, s) in steps.iter().enumerate() {
                let t = i as f64 * 0.25;
                if i == split {
                    edited = edited.rescene(moved.clone()).unwrap();
                    prop_assert_eq!(edited.line_counts(), whole.line_counts());
                    // Unchanged: the same scene again changes nothing.
                    whole = whole.rescene(two.clone()).unwrap();
                }
                let w = whole.update(t, &objects(s), &[]);
                let e = edited.update(t, &objects(s), &[]);
                if i >= split {
                    let f = fresh.update(t, &objects(s), &[]);
                    prop_assert_eq!(&e.zone_counts["porch"], &w.zone_counts["porch"]);
                    prop_assert_eq!(&e.zone_counts["yard"], &f.zone_counts["yard"]);
                } else {
                    prop_assert_eq!(format!("{e:?}"), format!("{w:?}"));
                }
            }
            prop_assert_eq!(edited.line_counts(), whole.line_counts());
        }
    }

    #[test]
    fn damaged_states_are_refused_and_a_changed_scene_keeps_what_it_still_has() {
        let mut a = Analyzer::new(scene()).unwrap();
        a.update(0.0, &[walker(1, 150.0, 200.0)], &[]);
        a.update(0.3, &[walker(1, 250.0, 200.0)], &[]);
        let bytes = a.save();
        for cut in 0..bytes.len() {
            assert!(
                Analyzer::load(scene(), &bytes[..cut], 0.0).is_err(),
                "{cut}"
            );
        }
        let mut more = bytes.clone();
        more.push(0);
        assert!(Analyzer::load(scene(), &more, 0.0).is_err());
        // Without the door line: its crossing count is gone, the porch state stays.
        let mut no_line = scene();
        no_line.lines.clear();
        let b = Analyzer::load(no_line, &bytes, 0.3).unwrap();
        assert_eq!(b.zone_state.len(), a.zone_state.len());
        assert!(b.line_counts().is_empty());
    }
}
