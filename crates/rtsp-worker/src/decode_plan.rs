//! Which access units of a stream get decoded and which decoded pictures go to the detector,
//! when the stream should reach the detector less often than its camera sends frames (a
//! `detect_fps` cap, or a small share of a busy detector).
//!
//! Sans-IO: the stream thread asks [`DecodePlan::unit`] for each access unit as it arrives
//! and [`DecodePlan::picture`] for each picture the decoder returns; it owns the decoder and
//! the counters. Three modes, chosen from the interval between pictures wanted and the
//! camera's keyframe interval:
//!
//! - `Full`: no interval; every unit decoded, every picture sent (newest frame wins in the
//!   batcher).
//! - `GopPrefix`: within each group of pictures, the reference pictures up to the next due
//!   picture are decoded (a due picture needs them), pictures nothing refers to only if due;
//!   once no due picture is left before the next keyframe, nothing more of the group.
//! - `Keyframes`: the wanted interval is at least the keyframe interval: only the keyframe
//!   nearest each due time is decoded.
//!
//! A reference picture left undecoded breaks the chain until the next keyframe, so nothing
//! after it in the group is decoded: no picture is ever decoded from a missing reference.

use std::time::Duration;

/// How a stream decodes now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Full,
    GopPrefix,
    Keyframes,
}

impl Mode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::GopPrefix => "gop_prefix",
            Self::Keyframes => "keyframes",
        }
    }
}

/// A due picture may come this much before its time (timestamps rounded to the RTP clock).
const SLACK: Duration = Duration::from_millis(2);

/// One stream's plan.
#[derive(Debug, Default)]
pub(crate) struct DecodePlan {
    /// Media time between pictures sent to the detector; `None`: all of them.
    interval: Option<Duration>,
    /// Hold back decoded pictures that are not due (a cap); else send every decoded picture
    /// and let the newest win in the batcher (adaptive decoding: the interval only says
    /// where decoding may stop).
    hold: bool,
    /// When the next picture is due (media time); `None`: the next one is.
    due: Option<Duration>,
    /// The camera's keyframe interval, from the last two keyframes.
    gop: Option<Duration>,
    /// The media time of the last keyframe.
    key: Option<Duration>,
    /// A reference picture of this group was left undecoded.
    broken: bool,
}

impl DecodePlan {
    /// Pictures wanted every `interval` of media time, or all of them (`None`); `hold`: a
    /// cap, pictures decoded on the way to a due one are not sent.
    pub(crate) fn set_interval(&mut self, interval: Option<Duration>, hold: bool) {
        self.interval = interval.filter(|i| !i.is_zero());
        self.hold = hold;
    }

    pub(crate) fn interval(&self) -> Option<Duration> {
        self.interval
    }

    pub(crate) fn mode(&self) -> Mode {
        match (self.interval, self.gop) {
            (None, _) => Mode::Full,
            (Some(i), Some(g)) if i >= g => Mode::Keyframes,
            _ => Mode::GopPrefix,
        }
    }

    /// A new connection or decoder: timing starts over.
    pub(crate) fn reset(&mut self) {
        *self = Self {
            interval: self.interval,
            hold: self.hold,
            gop: self.gop,
            ..Self::default()
        };
    }

    /// Whether to decode an access unit (presentation time `at`); `false`: leave it
    /// undecoded (counted `not_decoded`).
    pub(crate) fn unit(&mut self, keyframe: bool, reference: bool, at: Duration) -> bool {
        if keyframe {
            if let Some(k) = self.key
                && at > k
            {
                self.gop = Some(at - k);
            }
            self.key = Some(at);
            self.broken = false;
        }
        let mode = self.mode();
        if mode == Mode::Full {
            return true;
        }
        if self.broken {
            return false;
        }
        let due = self.due.unwrap_or(Duration::ZERO);
        let is_due = at + self.tolerance() >= due;
        let decode = if mode == Mode::Keyframes {
            keyframe && is_due
        } else {
            let next_key = match (self.key, self.gop) {
                (Some(k), Some(g)) => k + g,
                _ => Duration::MAX,
            };
            // Due in this group at all; and a reference on the way, or due itself.
            due < next_key.saturating_sub(SLACK) && (reference || is_due)
        };
        if !decode && reference {
            self.broken = true;
        }
        decode
    }

    /// How early a picture may come and still be the one due: with keyframes only, the
    /// keyframe nearest the due time (half a group either side); else timestamp rounding.
    fn tolerance(&self) -> Duration {
        match self.mode() {
            Mode::Keyframes => self.gop.unwrap_or_default() / 2 + SLACK,
            _ => SLACK,
        }
    }

    /// Whether a decoded picture (presentation time `at`) goes to the detector; `false`: it
    /// was decoded only as a reference for a later one and the plan holds such pictures back
    /// (counted `rate_limited`).
    pub(crate) fn picture(&mut self, at: Duration) -> bool {
        let Some(interval) = self.interval else {
            return true;
        };
        let due = self.due.unwrap_or(Duration::ZERO);
        if at + self.tolerance() < due {
            return !self.hold;
        }
        // The next one is an interval after this one's due time, so that pictures taken a
        // little late do not lower the rate; never before half an interval from now.
        self.due = Some((due + interval).max(at + interval / 2));
        true
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A stream: per unit in arrival order, (keyframe, reference); no reordering (the B-frame
    /// case is the integration test's).
    fn stream(gop: usize, nonref_every: usize, units: usize) -> Vec<(bool, bool)> {
        (0..units)
            .map(|n| {
                let i = n % gop;
                (
                    i == 0,
                    i == 0 || nonref_every == 0 || !i.is_multiple_of(nonref_every),
                )
            })
            .collect()
    }

    /// Runs a plan over `units` at `fps`: for each unit its fate, and checks that no picture
    /// is decoded from a reference left undecoded.
    fn run(plan: &mut DecodePlan, units: &[(bool, bool)], fps: u32) -> (usize, usize, usize) {
        let (mut skipped, mut held, mut sent) = (0, 0, 0);
        let mut chain_ok = false;
        for (n, &(key, reference)) in units.iter().enumerate() {
            let at = Duration::from_secs(n as u64) / fps;
            if key {
                chain_ok = true;
            }
            if plan.unit(key, reference, at) {
                assert!(chain_ok, "unit {n} decoded from a missing reference");
                if plan.picture(at) {
                    sent += 1;
                } else {
                    held += 1;
                }
            } else {
                skipped += 1;
                if reference {
                    chain_ok = false;
                }
            }
        }
        assert_eq!(skipped + held + sent, units.len(), "one fate per unit");
        (skipped, held, sent)
    }

    #[test]
    fn full_decodes_and_sends_everything() {
        let mut p = DecodePlan::default();
        assert_eq!(run(&mut p, &stream(50, 0, 500), 25), (0, 0, 500));
        assert_eq!(p.mode(), Mode::Full);
    }

    #[test]
    fn a_rate_below_the_keyframe_rate_decodes_keyframes_only() {
        let mut p = DecodePlan::default();
        p.set_interval(Some(Duration::from_secs(2)), true);
        // 40 s at 25 fps, GOP 2 s.
        let (skipped, held, sent) = run(&mut p, &stream(50, 0, 1000), 25);
        assert_eq!(p.mode(), Mode::Keyframes);
        // Only the first group, before the keyframe interval is known, decodes references
        // that are not sent.
        assert!(held < 50, "{held}");
        assert!((19..=21).contains(&sent), "{sent}");
        assert!(skipped > 900, "{skipped}");
    }

    #[test]
    fn one_picture_per_second_decodes_half_of_each_two_second_group() {
        let mut p = DecodePlan::default();
        p.set_interval(Some(Duration::from_secs(1)), true);
        let (skipped, held, sent) = run(&mut p, &stream(50, 0, 1000), 25);
        assert_eq!(p.mode(), Mode::GopPrefix);
        assert!((39..=41).contains(&sent), "{sent}");
        // The first group decodes whole while the keyframe interval is learnt; after that,
        // the second half of each group (after its second due picture) is skipped.
        assert!(skipped > 450, "skipped {skipped}, held {held}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn every_unit_one_fate_no_broken_chain_and_the_rate_is_honoured(
            gop in 1usize..120,
            nonref_every in 0usize..4,
            fps in 5u32..60,
            wanted in 0.1f64..30.0,
        ) {
            let units = stream(gop, nonref_every, 40 * fps as usize);
            let mut p = DecodePlan::default();
            p.set_interval(Some(Duration::from_secs_f64(1.0 / wanted)), true);
            let (_, _, sent) = run(&mut p, &units, fps);
            let secs = 40.0;
            // What can be had: the cap, or the frame rate, or, taking keyframes only, the
            // keyframe rate (and one picture per group when a group is longer than the cap).
            let key_rate = f64::from(fps) / gop as f64;
            let expected = if 1.0 / wanted >= gop as f64 / f64::from(fps) {
                key_rate.min(wanted)
            } else {
                wanted.min(f64::from(fps))
            };
            let got = sent as f64 / secs;
            prop_assert!(
                got <= expected * 1.1 + 1.0 / secs && got >= expected * 0.9 - 2.0 / secs,
                "sent {} in {}s, expected {:.2}/s", sent, secs, expected
            );
        }
    }
}
