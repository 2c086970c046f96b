//! Frame numbers in presentation order: a decoder returns pictures in the order they are shown,
//! which differs from the order they arrive when a stream has B-frames; each picture gets the
//! number its place among the camera's presentation times says, so numbers only grow and a gap
//! still means frames not shown (skipped, dropped), never a reordering.
//!
//! Sans-IO: the stream thread tells it every access unit it takes (decoded or not) and asks it,
//! for each picture out of the decoder, which frame that is.

use std::collections::VecDeque;

use crate::state::FrameMeta;

/// Access units remembered: far more than any decoder reorders (H.264 allows 16).
const WINDOW: usize = 64;

/// One access unit taken from the camera.
#[derive(Debug, Clone, Copy)]
struct Seen {
    meta: FrameMeta,
    /// Handed to the decoder (its picture may still come out).
    decoding: bool,
}

/// The recent access units of one decoder's life, in arrival order.
#[derive(Debug, Default)]
pub(crate) struct DisplayOrder {
    seen: VecDeque<Seen>,
}

impl DisplayOrder {
    /// A new decoder (reconnect, new size): what came before no longer orders anything.
    pub(crate) fn reset(&mut self) {
        self.seen.clear();
    }

    /// An access unit was taken; `decoding` if it goes to the decoder, else it was skipped
    /// (it still has its place in the order).
    pub(crate) fn taken(&mut self, meta: FrameMeta, decoding: bool) {
        self.seen.push_back(Seen { meta, decoding });
        while self.seen.len() > WINDOW {
            self.seen.pop_front();
        }
    }

    /// The picture the decoder returned for the access unit numbered `arrival`: its meta with
    /// `frame_number` replaced by its number in presentation order. `None` if that unit is no
    /// longer remembered (or was never decoded).
    ///
    /// The k-th earliest presentation time among the remembered units gets the k-th smallest
    /// arrival number among them: without reordering each keeps its own number, and with it
    /// the same set of numbers is dealt out in the order pictures are shown. Equal times (a
    /// camera that does not advance its clock) keep arrival order.
    pub(crate) fn take(&mut self, arrival: u64) -> Option<FrameMeta> {
        let at = self
            .seen
            .iter()
            .position(|s| s.decoding && s.meta.frame_number == arrival)?;
        let time = self.seen[at].meta.rtp_timestamp;
        let rank = self
            .seen
            .iter()
            .enumerate()
            .filter(|&(i, s)| {
                s.meta.rtp_timestamp < time || (s.meta.rtp_timestamp == time && i < at)
            })
            .count();
        // Arrival numbers grow along the queue, so the rank-th smallest is at position rank.
        let number = self.seen[rank].meta.frame_number;
        self.seen[at].decoding = false;
        let mut meta = self.seen[at].meta;
        meta.frame_number = number;
        self.forget_settled();
        Some(meta)
    }

    /// Drops units at the front that are done (their picture taken, or never decoded) and
    /// shown no later than every picture still to come out: each counts once in every later
    /// rank and sits at the front, so without it ranks and positions shift together and every
    /// number dealt out stays the same. Without reordering this keeps the queue a unit or two long
    /// (a scan of 64 units per picture was the largest item of the host's cost per frame).
    fn forget_settled(&mut self) {
        while let Some(front) = self.seen.front() {
            let time = front.meta.rtp_timestamp;
            let settled = !front.decoding
                && self
                    .seen
                    .iter()
                    .all(|s| !s.decoding || s.meta.rtp_timestamp >= time);
            if !settled {
                break;
            }
            self.seen.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant, SystemTime};

    use super::*;

    fn meta(frame_number: u64, pts: i64) -> FrameMeta {
        FrameMeta {
            frame_number,
            rtp_timestamp: pts * 3600,
            media_time: Duration::from_millis(pts as u64 * 40),
            received: Instant::now(),
            wall_clock: SystemTime::now(),
            wall_clock_synced: false,
            camera: (16, 16),
        }
    }

    /// Arrival (decode) order of I0 P3 B1 B2 P6 B4 B5, pictures out in display order.
    const STREAM: [i64; 7] = [0, 3, 1, 2, 6, 4, 5];

    #[test]
    fn b_frames_are_numbered_in_display_order() {
        let mut d = DisplayOrder::default();
        for (n, &pts) in STREAM.iter().enumerate() {
            d.taken(meta(n as u64, pts), true);
        }
        // The decoder returns pictures in display order: arrival numbers 0, 2, 3, 1, 5, 6, 4.
        let out: Vec<(u64, i64)> = [0, 2, 3, 1, 5, 6, 4]
            .iter()
            .map(|&a| {
                let m = d.take(a).unwrap();
                (m.frame_number, m.rtp_timestamp / 3600)
            })
            .collect();
        assert_eq!(
            out,
            vec![(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6)]
        );
    }

    #[test]
    fn skipped_pictures_keep_their_place() {
        let mut d = DisplayOrder::default();
        for (n, &pts) in STREAM.iter().enumerate() {
            // The B-frames (non-reference) are skipped.
            d.taken(meta(n as u64, pts), !matches!(pts, 1 | 2 | 4 | 5));
        }
        let numbers: Vec<u64> = [0, 1, 4]
            .iter()
            .map(|&a| d.take(a).unwrap().frame_number)
            .collect();
        assert_eq!(numbers, vec![0, 3, 6]);
        assert!(d.take(2).is_none(), "a skipped unit has no picture");
    }

    /// The numbering before `forget_settled`: the whole window scanned for every picture.
    fn reference_take(seen: &mut [(FrameMeta, bool)], arrival: u64) -> Option<u64> {
        let at = seen
            .iter()
            .position(|(m, d)| *d && m.frame_number == arrival)?;
        let time = seen[at].0.rtp_timestamp;
        let rank = seen
            .iter()
            .enumerate()
            .filter(|&(i, (m, _))| m.rtp_timestamp < time || (m.rtp_timestamp == time && i < at))
            .count();
        seen[at].1 = false;
        Some(seen[rank].0.frame_number)
    }

    proptest::proptest! {
        /// Mini-GOPs of a reference picture sent before the B-frames shown ahead of it (some
        /// of them skipped), the decoder returning pictures in display order as soon as all
        /// that come before them have arrived: forgetting settled units deals out the very
        /// numbers the full scan does.
        #[test]
        fn forgetting_settled_units_changes_no_number(
            gops in proptest::collection::vec((0usize..4, proptest::collection::vec(proptest::bool::ANY, 3)), 1..20),
        ) {
            // Arrival order of display times, and whether each unit is decoded.
            let mut units = Vec::new();
            let mut next = 0i64;
            for (bs, skips) in &gops {
                units.push((next + *bs as i64, true));
                for b in 0..*bs {
                    units.push((next + b as i64, !skips[b.min(2)]));
                }
                next += *bs as i64 + 1;
            }
            let mut d = DisplayOrder::default();
            let mut reference = Vec::new();
            let mut pending: Vec<(i64, u64)> = Vec::new();
            for (n, &(pts, decoded)) in units.iter().enumerate() {
                let m = meta(n as u64, pts);
                d.taken(m, decoded);
                reference.push((m, decoded));
                if decoded {
                    pending.push((pts, n as u64));
                }
                // Out in display order, once nothing still to come is shown before.
                pending.sort();
                let shown_before = |t: i64| units[n + 1..].iter().any(|&(p, _)| p < t);
                while let Some(&(pts, arrival)) = pending.first() {
                    if shown_before(pts) {
                        break;
                    }
                    pending.remove(0);
                    let ours = d.take(arrival).map(|m| m.frame_number);
                    proptest::prop_assert_eq!(ours, reference_take(&mut reference, arrival));
                }
            }
            proptest::prop_assert!(d.seen.len() <= 5, "{} units kept", d.seen.len());
        }
    }

    #[test]
    fn without_reordering_numbers_are_the_arrival_numbers() {
        let mut d = DisplayOrder::default();
        for n in 0..200u64 {
            // Gaps in arrival numbers (units the ingest queue dropped) stay gaps.
            let arrival = n * 2;
            d.taken(meta(arrival, n as i64), true);
            assert_eq!(d.take(arrival).unwrap().frame_number, arrival);
        }
        // A clock that stands still: arrival order.
        d.reset();
        d.taken(meta(500, 7), true);
        d.taken(meta(501, 7), true);
        assert_eq!(d.take(501).unwrap().frame_number, 501);
        assert_eq!(d.take(500).unwrap().frame_number, 500);
    }
}
