//! The bounded event queue between a session and its consumer: newest frames win, and drops
//! happen a whole group of pictures at a time so that what remains still decodes.

use std::collections::VecDeque;

use crate::Event;

/// Lifecycle events kept when the consumer is away; older ones are dropped (and counted).
const MAX_LIFECYCLE: usize = 32;

/// What a push dropped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dropped {
    /// Queued access units dropped to make room.
    pub(crate) overflow: u64,
    /// Access units dropped because the queue restarted and waits for a keyframe.
    pub(crate) before_keyframe: u64,
    /// Lifecycle events dropped.
    pub(crate) lifecycle: u64,
}

#[derive(Debug)]
pub(crate) struct EventQueue {
    items: VecDeque<Event>,
    frames: usize,
    max_frames: usize,
    /// After dropping, or at (re)connection: non-keyframes are dropped until a keyframe.
    need_keyframe: bool,
    /// The next frame that gets in marks a restart for the decoder.
    resync_next: bool,
    closed: bool,
}

impl EventQueue {
    pub(crate) fn new(max_frames: usize) -> Self {
        Self {
            items: VecDeque::new(),
            frames: 0,
            max_frames: max_frames.max(1),
            need_keyframe: true,
            resync_next: true,
            closed: false,
        }
    }

    /// A new connection: the next frame must be a keyframe and is marked `resync`.
    pub(crate) fn restart(&mut self) {
        self.need_keyframe = true;
        self.resync_next = true;
    }

    pub(crate) fn push(&mut self, event: Event) -> Dropped {
        let mut dropped = Dropped::default();
        match event {
            Event::Frame(mut au) => {
                if self.need_keyframe && !au.keyframe {
                    dropped.before_keyframe += 1;
                    return dropped;
                }
                if self.frames >= self.max_frames {
                    // Newest frames win, a group of pictures at a time: drop the oldest one.
                    dropped.overflow += self.drop_oldest_gop();
                    if self.frames >= self.max_frames {
                        // One group fills the queue. A new keyframe replaces it all; anything
                        // else cannot be decoded without what it would evict, so it goes,
                        // and so does the rest of its group.
                        if au.keyframe {
                            dropped.overflow += self.drop_all_frames();
                            self.resync_next = true;
                        } else {
                            dropped.overflow += 1;
                            self.need_keyframe = true;
                            self.resync_next = true;
                            return dropped;
                        }
                    }
                }
                self.need_keyframe = false;
                au.resync = std::mem::take(&mut self.resync_next);
                self.frames += 1;
                self.items.push_back(Event::Frame(au));
            }
            other => {
                if self.items.len() - self.frames >= MAX_LIFECYCLE
                    && let Some(i) = self
                        .items
                        .iter()
                        .position(|e| !matches!(e, Event::Frame(_)))
                {
                    self.items.remove(i);
                    dropped.lifecycle += 1;
                }
                if matches!(other, Event::Ended { .. }) {
                    self.closed = true;
                }
                self.items.push_back(other);
            }
        }
        dropped
    }

    /// Drops the queued frames before the second keyframe in the queue (the oldest group of
    /// pictures, and anything before it); returns how many.
    fn drop_oldest_gop(&mut self) -> u64 {
        let mut seen_frame = false;
        let mut cut = None;
        for (i, e) in self.items.iter().enumerate() {
            if let Event::Frame(au) = e {
                if seen_frame && au.keyframe {
                    cut = Some(i);
                    break;
                }
                seen_frame = true;
            }
        }
        let Some(cut) = cut else { return 0 };
        let mut n = 0;
        let mut i = 0;
        let mut limit = cut;
        while i < limit {
            if matches!(self.items[i], Event::Frame(_)) {
                self.items.remove(i);
                limit -= 1;
                n += 1;
            } else {
                i += 1;
            }
        }
        self.frames -= n as usize;
        // The consumer's decoder sees a jump: it starts again at that keyframe.
        if let Some(Event::Frame(au)) = self.items.iter_mut().find(|e| matches!(e, Event::Frame(_)))
        {
            au.resync = true;
        }
        n
    }

    fn drop_all_frames(&mut self) -> u64 {
        let before = self.items.len();
        self.items.retain(|e| !matches!(e, Event::Frame(_)));
        self.frames = 0;
        (before - self.items.len()) as u64
    }

    pub(crate) fn pop(&mut self) -> Option<Event> {
        let e = self.items.pop_front()?;
        if matches!(e, Event::Frame(_)) {
            self.frames -= 1;
        }
        Some(e)
    }

    /// Ended was queued: nothing more will come after the queue drains.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    pub(crate) fn frames(&self) -> usize {
        self.frames
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant, SystemTime};

    use bytes::Bytes;

    use super::*;
    use crate::{AccessUnit, Codec, CodecParameters};

    fn au(n: u64, keyframe: bool) -> Event {
        Event::Frame(AccessUnit {
            frame_number: n,
            data: Bytes::new(),
            keyframe,
            reference: true,
            resync: false,
            params: Arc::new(CodecParameters {
                codec: Codec::H264,
                width: 16,
                height: 16,
                sps: Bytes::new(),
                pps: Bytes::new(),
                vps: None,
                frame_rate: None,
            }),
            rtp_timestamp: 0,
            clock_rate: 90_000,
            media_time: Duration::ZERO,
            received: Instant::now(),
            wall_clock: SystemTime::now(),
            wall_clock_synced: false,
            loss: 0,
        })
    }

    fn frames(q: &mut EventQueue) -> Vec<(u64, bool, bool)> {
        std::iter::from_fn(|| q.pop())
            .filter_map(|e| match e {
                Event::Frame(a) => Some((a.frame_number, a.keyframe, a.resync)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn waits_for_a_keyframe_then_marks_resync() {
        let mut q = EventQueue::new(8);
        assert_eq!(q.push(au(0, false)).before_keyframe, 1);
        q.push(au(1, true));
        q.push(au(2, false));
        assert_eq!(frames(&mut q), vec![(1, true, true), (2, false, false)]);
    }

    #[test]
    fn overflow_drops_the_oldest_gop_and_keeps_what_decodes() {
        let mut q = EventQueue::new(5);
        for (n, k) in [(0, true), (1, false), (2, false), (3, true), (4, false)] {
            q.push(au(n, k));
        }
        let d = q.push(au(5, false));
        assert_eq!(d.overflow, 3);
        assert_eq!(
            frames(&mut q),
            vec![(3, true, true), (4, false, false), (5, false, false)]
        );
    }

    #[test]
    fn overflow_within_one_gop_keeps_the_decodable_start_until_the_next_keyframe() {
        let mut q = EventQueue::new(3);
        q.push(au(0, true));
        q.push(au(1, false));
        q.push(au(2, false));
        let d = q.push(au(3, false));
        assert_eq!((d.overflow, d.before_keyframe), (1, 0));
        assert_eq!(q.push(au(4, false)).before_keyframe, 1);
        // The consumer reads one; the rest of the group stays dropped.
        assert!(matches!(q.pop(), Some(Event::Frame(a)) if a.frame_number == 0));
        assert_eq!(q.push(au(5, false)).before_keyframe, 1);
        q.push(au(6, true));
        assert_eq!(
            frames(&mut q),
            vec![(1, false, false), (2, false, false), (6, true, true)]
        );
    }

    #[test]
    fn a_keyframe_into_a_full_single_group_replaces_it() {
        let mut q = EventQueue::new(2);
        q.push(au(0, true));
        q.push(au(1, false));
        assert_eq!(q.push(au(2, true)).overflow, 2);
        assert_eq!(frames(&mut q), vec![(2, true, true)]);
    }

    #[test]
    fn lifecycle_events_are_kept_in_order_and_bounded() {
        let mut q = EventQueue::new(2);
        q.push(au(0, true));
        let mut lost = 0;
        for a in 0..40 {
            lost += q.push(Event::Connecting { attempt: a }).lifecycle;
        }
        assert_eq!(lost, 40 - MAX_LIFECYCLE as u64);
        assert!(matches!(q.pop(), Some(Event::Frame(_))));
        assert!(matches!(q.pop(), Some(Event::Connecting { attempt: 8 })));
    }
}
