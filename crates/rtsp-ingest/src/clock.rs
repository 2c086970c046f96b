//! Media time from RTP timestamps that may jump: continuous and never going backwards.
//!
//! A camera's RTP clock can jump (it restarts its encoder, an NTP step moves it, a broken
//! firmware wraps it). Media time follows the RTP clock while the steps between frames are
//! plausible; a step backwards by more than [`MediaClock::MAX_BACKWARDS`] or forwards by more
//! than [`MediaClock::MAX_FORWARDS`] beyond the time that really passed is a discontinuity:
//! media time then advances by the arrival gap instead, and the clock is re-anchored on the
//! new timestamps. Small steps backwards (B-frames present frames out of decode order) are
//! passed through.

use std::time::Duration;

#[derive(Debug, Default)]
pub(crate) struct MediaClock {
    /// RTP timestamp and media time of the anchor.
    anchor: Option<(i64, Duration)>,
    /// The previous frame's RTP timestamp and media time.
    last: Option<(i64, Duration)>,
    /// Discontinuities seen.
    pub(crate) jumps: u64,
}

impl MediaClock {
    /// Steps back at most this far are reordering, not a jump.
    pub(crate) const MAX_BACKWARDS: Duration = Duration::from_secs(1);
    /// Steps forward at most this much beyond the arrival gap are the camera's own pacing.
    pub(crate) const MAX_FORWARDS: Duration = Duration::from_secs(10);

    /// The media time of a frame stamped `ts` (in `rate` Hz) that arrived `gap` after the
    /// previous one, and whether the clock jumped there.
    pub(crate) fn place(&mut self, ts: i64, rate: u32, gap: Duration) -> (Duration, bool) {
        let secs = |ticks: i64| ticks as f64 / f64::from(rate.max(1));
        let Some((last_ts, last_time)) = self.last else {
            self.anchor = Some((ts, Duration::ZERO));
            self.last = Some((ts, Duration::ZERO));
            return (Duration::ZERO, false);
        };
        let step = secs(ts - last_ts);
        let jumped = step < -Self::MAX_BACKWARDS.as_secs_f64()
            || step > (gap + Self::MAX_FORWARDS).as_secs_f64();
        if jumped {
            self.jumps += 1;
            let at = last_time + gap.max(Duration::from_millis(1));
            self.anchor = Some((ts, at));
        }
        let (anchor_ts, anchor_time) = self.anchor.unwrap_or((ts, last_time));
        let since = secs(ts - anchor_ts);
        let time = if since >= 0.0 {
            anchor_time + Duration::from_secs_f64(since)
        } else {
            anchor_time.saturating_sub(Duration::from_secs_f64(-since))
        };
        self.last = Some((ts, time));
        (time, jumped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 90_000;
    const FRAME: i64 = 3_600; // 25 fps
    const GAP: Duration = Duration::from_millis(40);

    #[test]
    fn follows_the_rtp_clock_and_survives_jumps_both_ways() {
        let mut clock = MediaClock::default();
        let mut times = Vec::new();
        let mut ts = 1_000_000i64;
        for i in 0..30 {
            if i == 10 {
                ts -= 60 * i64::from(RATE); // a minute back
            }
            if i == 20 {
                ts += 3_600 * i64::from(RATE); // an hour forward
            }
            times.push(clock.place(ts, RATE, GAP).0);
            ts += FRAME;
        }
        assert_eq!(clock.jumps, 2);
        assert!(times.windows(2).all(|w| w[1] > w[0]), "{times:?}");
        // 40 ms per frame throughout: the jumps cost nothing.
        let total = times[29].as_secs_f64();
        assert!((total - 29.0 * 0.04).abs() < 1e-6, "{total}");
    }

    #[test]
    fn reordered_frames_are_not_jumps() {
        let mut clock = MediaClock::default();
        // Presentation order of an IBBP stream as it arrives in decode order: 0 3 1 2 6 4 5.
        for k in [0, 3, 1, 2, 6, 4, 5] {
            clock.place(k * FRAME, RATE, GAP);
        }
        assert_eq!(clock.jumps, 0);
        assert_eq!(
            clock.place(9 * FRAME, RATE, GAP).0,
            Duration::from_millis(360)
        );
    }

    #[test]
    fn a_camera_that_paused_keeps_its_time() {
        let mut clock = MediaClock::default();
        clock.place(0, RATE, GAP);
        // Eight seconds of nothing, stamped as eight seconds: not a jump.
        let (t, jumped) = clock.place(8 * i64::from(RATE), RATE, Duration::from_secs(8));
        assert!(!jumped);
        assert_eq!(t, Duration::from_secs(8));
    }
}
