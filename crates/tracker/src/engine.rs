//! What the trackers share: track bookkeeping on a motion model, association by IoU (optimal or
//! greedy), and the track life cycle: ages in camera frames, hits in updates.

use std::time::SystemTime;

use crate::kalman::{self, KalmanBox};
use crate::lap;
use crate::snapshot::{Reader, Snapshot, Writer};
use crate::{BBox, Detection, Error, TrackState, TrackedObject, Tracker, Update};

/// How a track's box moves between frames.
pub(crate) trait Motion: Send + Clone {
    fn start(b: &BBox) -> Self;
    /// `frames` camera frames forward; the predicted box.
    fn predict(&mut self, frames: u32) -> BBox;
    fn correct(&mut self, b: &BBox);
    fn bbox(&self) -> BBox;
    fn velocity(&self) -> (f32, f32);
    /// No change of size in the next prediction.
    fn hold_size(&mut self) {}
    /// Multiplies the velocity by `factor`.
    fn decay_velocity(&mut self, _factor: f32) {}
    /// Its whole state, exactly.
    fn save(&self, w: &mut Writer);
    /// What `save` wrote.
    fn load(r: &mut Reader<'_>) -> Result<Self, Error>;
}

impl Motion for KalmanBox {
    fn start(b: &BBox) -> Self {
        KalmanBox::new(b)
    }
    fn predict(&mut self, frames: u32) -> BBox {
        KalmanBox::predict_by(self, frames)
    }
    fn correct(&mut self, b: &BBox) {
        self.update(b);
    }
    fn bbox(&self) -> BBox {
        KalmanBox::bbox(self)
    }
    fn velocity(&self) -> (f32, f32) {
        KalmanBox::velocity(self)
    }
    fn hold_size(&mut self) {
        KalmanBox::hold_size(self);
    }
    fn decay_velocity(&mut self, factor: f32) {
        KalmanBox::decay_velocity(self, f64::from(factor));
    }
    fn save(&self, w: &mut Writer) {
        let (x, p) = self.state();
        for v in x.iter().chain(p.iter().flatten()) {
            w.f64(*v);
        }
    }
    fn load(r: &mut Reader<'_>) -> Result<Self, Error> {
        let mut x = [0.0; kalman::N];
        let mut p = [[0.0; kalman::N]; kalman::N];
        for v in x.iter_mut().chain(p.iter_mut().flatten()) {
            *v = r.f64()?;
        }
        Ok(KalmanBox::from_state(x, p))
    }
}

/// No motion model: the box stays where it was last seen (the seed's IoU tracker).
#[derive(Debug, Clone)]
pub(crate) struct Still {
    bbox: BBox,
    velocity: (f32, f32),
    since_seen: u32,
}

impl Motion for Still {
    fn start(b: &BBox) -> Self {
        Self {
            bbox: *b,
            velocity: (0.0, 0.0),
            since_seen: 0,
        }
    }
    fn predict(&mut self, frames: u32) -> BBox {
        self.since_seen = self.since_seen.saturating_add(frames);
        self.bbox
    }
    fn correct(&mut self, b: &BBox) {
        let (ox, oy) = self.bbox.center();
        let (nx, ny) = b.center();
        let frames = self.since_seen.max(1) as f32;
        self.velocity = ((nx - ox) / frames, (ny - oy) / frames);
        self.bbox = *b;
        self.since_seen = 0;
    }
    fn bbox(&self) -> BBox {
        self.bbox
    }
    fn velocity(&self) -> (f32, f32) {
        self.velocity
    }
    fn save(&self, w: &mut Writer) {
        self.bbox.save(w);
        w.f32(self.velocity.0);
        w.f32(self.velocity.1);
        w.u32(self.since_seen);
    }
    fn load(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Self {
            bbox: BBox::load(r)?,
            velocity: (r.f32()?, r.f32()?),
            since_seen: r.u32()?,
        })
    }
}

/// How detections are matched to tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Association {
    /// Minimum total cost (1 − IoU) over all pairs: the linear assignment.
    Optimal,
    /// Highest IoU first.
    Greedy,
}

/// Settings shared by the trackers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Params {
    pub(crate) iou_threshold: f32,
    pub(crate) max_age: u32,
    pub(crate) min_hits: u32,
    pub(crate) class_aware: bool,
    pub(crate) tentative_misses: u32,
    pub(crate) reupdate_after_gap: bool,
    /// A confirmed track is reported as such only once a detection of at least this
    /// confidence matched it; until then it is followed but reported as tentative.
    pub(crate) trust_score: f32,
    /// In the tracker's first `min_hits` updates a new track confirms at once if its
    /// detection is at least this confident.
    pub(crate) early_confirm_score: f32,
    /// Predictions extrapolate the box's size change (else only its position moves).
    pub(crate) predict_size: bool,
    /// The fraction of its velocity a track keeps per camera frame it goes unseen.
    pub(crate) lost_velocity_decay: f32,
    /// A detection overlapping one a confirmed track took at this IoU starts no track.
    pub(crate) duplicate_iou: Option<f32>,
    /// With at least this many camera frames since the previous update, a new track confirms
    /// at once.
    pub(crate) quick_confirm_gap: Option<u32>,
    pub(crate) min_missed_updates: u32,
    /// Buffered IoU: both boxes of a pair grow by this fraction of their size per camera frame
    /// since the track's last match, up to `max_buffer`.
    pub(crate) buffer_per_frame: f32,
    pub(crate) max_buffer: f32,
}

struct Track<M> {
    id: u64,
    class_id: u32,
    confidence: f32,
    motion: M,
    /// Camera frames since it started.
    age: u32,
    /// Updates that matched it.
    hits: u32,
    /// Updates in a row that matched it.
    hit_streak: u32,
    /// Camera frames since its last match.
    since_update: u32,
    /// The last update matched it.
    matched_last: bool,
    /// Updates in a row that did not match it.
    misses: u32,
    confirmed: bool,
    /// The highest confidence of the detections that matched it.
    best_score: f32,
    /// The last detection matched, the camera frame it came from, and the filter right
    /// after it (for the re-update after a gap).
    observed: BBox,
    observed_at: u64,
    after_observation: M,
}

/// ByteTrack's thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ByteParams {
    /// Detections at least this confident are "high".
    pub(crate) high: f32,
    /// Detections below this are ignored; between `low` and `high` they are "low".
    pub(crate) low: f32,
    /// An unmatched detection starts a track only if at least this confident.
    pub(crate) new_track: f32,
    /// IoU needed in the second (low-score) stage.
    pub(crate) second_iou: f32,
    /// IoU needed to match a tentative track.
    pub(crate) tentative_iou: f32,
    /// Tracks unseen for at most this many camera frames also take weak detections, at this
    /// IoU (`None`: only tracks matched in the previous update do, as in the paper).
    pub(crate) second_lost: Option<(u32, f32)>,
    /// Tentative tracks take part in the first stage (else only in the third).
    pub(crate) tentative_first: bool,
}

pub(crate) struct Engine<M> {
    /// Which tracker, as a snapshot names it.
    kind: u8,
    params: Params,
    association: Association,
    byte: Option<ByteParams>,
    tracks: Vec<Track<M>>,
    next_id: u64,
    /// In the tracker's own time: the caller's frame number plus `offset`.
    last_frame: Option<u64>,
    /// From the caller's frame numbers to the tracker's own (0 unless restored into a session
    /// that numbers frames differently).
    offset: i64,
    /// Updates so far (the first `min_hits` confirm at once).
    updates: u64,
}

impl<M: Motion> Engine<M> {
    pub(crate) fn new(
        kind: u8,
        params: Params,
        association: Association,
        byte: Option<ByteParams>,
    ) -> Self {
        Self {
            kind,
            params,
            association,
            byte,
            tracks: Vec::new(),
            next_id: 1,
            last_frame: None,
            offset: 0,
            updates: 0,
        }
    }

    /// A tracker with the state `snapshot` holds and these settings (`new`'s), its time
    /// mapped by `resume` if given.
    pub(crate) fn restore(
        fresh: Self,
        snapshot: &Snapshot,
        resume: Option<&crate::Resume>,
    ) -> Result<Self, Error> {
        if snapshot.kind() != fresh.kind {
            return Err(Error::BadSnapshot(format!(
                "it is of another tracker kind ({}, not {})",
                snapshot.kind(),
                fresh.kind
            )));
        }
        let mut r = snapshot.body();
        let mut engine = Self::load_body(fresh, &mut r)?;
        r.end()?;
        if let (Some(resume), Some(last)) = (resume, engine.last_frame) {
            engine.offset = snapshot.offset_for(resume, last)?;
        }
        Ok(engine)
    }

    /// Reads the state after a snapshot's header into `fresh`.
    pub(crate) fn load_body(mut fresh: Self, r: &mut Reader<'_>) -> Result<Self, Error> {
        fresh.offset = r.i64()?;
        fresh.last_frame = r.opt_u64()?;
        fresh.updates = r.u64()?;
        fresh.next_id = r.u64()?;
        let n = r.u32()?;
        fresh.tracks.clear();
        for _ in 0..n {
            fresh.tracks.push(Track {
                id: r.u64()?,
                class_id: r.u32()?,
                confidence: r.f32()?,
                motion: M::load(r)?,
                age: r.u32()?,
                hits: r.u32()?,
                hit_streak: r.u32()?,
                since_update: r.u32()?,
                matched_last: r.bool()?,
                misses: r.u32()?,
                confirmed: r.bool()?,
                best_score: r.f32()?,
                observed: BBox::load(r)?,
                observed_at: r.u64()?,
                after_observation: M::load(r)?,
            });
        }
        Ok(fresh)
    }

    /// The last update's frame in the caller's numbering.
    fn caller_last(&self) -> Option<u64> {
        self.last_frame
            .map(|l| u64::try_from((i128::from(l) - i128::from(self.offset)).max(0)).unwrap_or(0))
    }

    fn report(t: &Track<M>, state: TrackState) -> TrackedObject {
        TrackedObject {
            track_id: t.id,
            class_id: t.class_id,
            confidence: t.confidence,
            bbox: t.motion.bbox(),
            velocity: t.motion.velocity(),
            age: t.age,
            hits: t.hits,
            state,
            frames_since_update: t.since_update,
            observed: t.observed,
        }
    }

    /// Matches detections `ds` to tracks `ts` (indices into `self.tracks` / `dets`) on their
    /// predicted boxes, pairs with IoU at least `threshold`: (track index, detection index).
    fn associate(
        &self,
        ts: &[usize],
        predicted: &[BBox],
        ds: &[usize],
        dets: &[Detection],
        threshold: f32,
    ) -> Vec<(usize, usize)> {
        let p = &self.params;
        let iou = |t: usize, d: usize| {
            let (t, d) = (ts[t], ds[d]);
            if !p.class_aware || self.tracks[t].class_id == dets[d].class_id {
                let b = (p.buffer_per_frame * self.tracks[t].since_update as f32)
                    .min(p.max_buffer)
                    .max(0.0);
                if b > 0.0 {
                    predicted[t].buffered(b).iou(&dets[d].bbox.buffered(b))
                } else {
                    predicted[t].iou(&dets[d].bbox)
                }
            } else {
                0.0
            }
        };
        let (nt, nd) = (ts.len(), ds.len());
        let mut pairs = Vec::new();
        match self.association {
            Association::Optimal => {
                let cost: Vec<f64> = (0..nt * nd)
                    .map(|k| {
                        let v = iou(k / nd.max(1), k % nd.max(1));
                        if v >= threshold {
                            1.0 - f64::from(v)
                        } else {
                            1e6
                        }
                    })
                    .collect();
                for (t, d) in lap::assign(&cost, nt, nd).into_iter().enumerate() {
                    if let Some(d) = d
                        && iou(t, d) >= threshold
                    {
                        pairs.push((ts[t], ds[d]));
                    }
                }
            }
            Association::Greedy => {
                let mut all: Vec<(f32, usize, usize)> = (0..nt)
                    .flat_map(|t| (0..nd).map(move |d| (t, d)))
                    .map(|(t, d)| (iou(t, d), t, d))
                    .filter(|&(v, _, _)| v >= threshold)
                    .collect();
                // Highest IoU first; ties by track then detection index, for determinism.
                all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
                let (mut used_t, mut used_d) = (vec![false; nt], vec![false; nd]);
                for (_, t, d) in all {
                    if !used_t[t] && !used_d[d] {
                        used_t[t] = true;
                        used_d[d] = true;
                        pairs.push((ts[t], ds[d]));
                    }
                }
            }
        }
        pairs
    }

    /// All matches for this frame: one IoU stage, or ByteTrack's three.
    fn match_all(
        &self,
        predicted: &[BBox],
        dets: &[Detection],
        was_tracked: &[bool],
    ) -> Vec<(usize, usize)> {
        let p = &self.params;
        let all_t: Vec<usize> = (0..self.tracks.len()).collect();
        let Some(b) = self.byte else {
            let all_d: Vec<usize> = (0..dets.len()).collect();
            return self.associate(&all_t, predicted, &all_d, dets, p.iou_threshold);
        };
        let high: Vec<usize> = (0..dets.len())
            .filter(|&d| dets[d].confidence >= b.high)
            .collect();
        let low: Vec<usize> = (0..dets.len())
            .filter(|&d| dets[d].confidence >= b.low && dets[d].confidence < b.high)
            .collect();
        let confirmed: Vec<usize> = all_t
            .iter()
            .copied()
            .filter(|&t| self.tracks[t].confirmed)
            .collect();
        // 1. Confident detections against every confirmed track, lost ones included (and, if
        //    asked, the tentative ones: a newcomer's own detection then goes to the track
        //    nearest to it rather than to a confirmed track whose object the detector missed).
        let first_t = if b.tentative_first {
            &all_t
        } else {
            &confirmed
        };
        let mut pairs = self.associate(first_t, predicted, &high, dets, p.iou_threshold);
        let taken_t: Vec<usize> = pairs.iter().map(|&(t, _)| t).collect();
        let taken_d: Vec<usize> = pairs.iter().map(|&(_, d)| d).collect();
        // 2. Weak detections against the confirmed tracks still unmatched that were tracked in
        //    the previous update: occluded objects score low but are still there. Then, if
        //    asked, the weak detections left against tracks unseen for a few frames only (an
        //    object the detector missed, then saw half hidden), at a stricter IoU.
        let rest_t: Vec<usize> = confirmed
            .iter()
            .copied()
            .filter(|t| !taken_t.contains(t))
            .collect();
        let tracked_t: Vec<usize> = rest_t.iter().copied().filter(|&t| was_tracked[t]).collect();
        let second = self.associate(&tracked_t, predicted, &low, dets, b.second_iou);
        if let Some((frames, iou)) = b.second_lost {
            let just_lost: Vec<usize> = rest_t
                .iter()
                .copied()
                .filter(|&t| !was_tracked[t] && self.tracks[t].since_update <= frames)
                .collect();
            let low_left: Vec<usize> = low
                .iter()
                .copied()
                .filter(|d| !second.iter().any(|&(_, x)| x == *d))
                .collect();
            pairs.extend(self.associate(&just_lost, predicted, &low_left, dets, iou));
        }
        pairs.extend(second);
        // 3. Tentative tracks against the confident detections left.
        let tentative: Vec<usize> = all_t
            .iter()
            .copied()
            .filter(|&t| !self.tracks[t].confirmed && !taken_t.contains(&t))
            .collect();
        let rest_d: Vec<usize> = high
            .iter()
            .copied()
            .filter(|d| !taken_d.contains(d))
            .collect();
        pairs.extend(self.associate(&tentative, predicted, &rest_d, dets, b.tentative_iou));
        pairs
    }
}

impl<M: Motion> Tracker for Engine<M> {
    fn snapshot(&self, captured: Option<SystemTime>) -> Snapshot {
        let mut w = Writer::header(self.kind, self.caller_last(), captured, self.tracks.len());
        w.i64(self.offset);
        w.opt_u64(self.last_frame);
        w.u64(self.updates);
        w.u64(self.next_id);
        w.u32(u32::try_from(self.tracks.len()).unwrap_or(u32::MAX));
        for t in &self.tracks {
            w.u64(t.id);
            w.u32(t.class_id);
            w.f32(t.confidence);
            t.motion.save(&mut w);
            w.u32(t.age);
            w.u32(t.hits);
            w.u32(t.hit_streak);
            w.u32(t.since_update);
            w.bool(t.matched_last);
            w.u32(t.misses);
            w.bool(t.confirmed);
            w.f32(t.best_score);
            t.observed.save(&mut w);
            w.u64(t.observed_at);
            t.after_observation.save(&mut w);
        }
        Snapshot::new(w.bytes)
    }

    fn update(&mut self, frame: u64, detections: &[Detection]) -> Result<Update, Error> {
        let not_after = || Error::FrameNotAfter {
            frame,
            last: self.caller_last().unwrap_or(0),
        };
        // The tracker's own time (the caller's unless restored into another numbering).
        let caller_frame = frame;
        let Some(frame) = caller_frame.checked_add_signed(self.offset) else {
            return Err(not_after());
        };
        let steps = match self.last_frame {
            Some(last) if frame <= last => return Err(not_after()),
            Some(last) => frame - last,
            None => 1,
        };
        self.last_frame = Some(frame);
        self.updates += 1;
        let p = self.params;
        let steps32 = u32::try_from(steps).unwrap_or(u32::MAX);
        // Past `max_age` every track ends anyway: no need to predict further.
        let horizon = steps32.min(p.max_age.saturating_add(2));

        // Matched in the previous update (ByteTrack's second stage looks only at those).
        let was_tracked: Vec<bool> = self.tracks.iter().map(|t| t.matched_last).collect();
        // Predict every track across the gap, in one step.
        let mut predicted = Vec::with_capacity(self.tracks.len());
        for t in &mut self.tracks {
            predicted.push(predict(&mut t.motion, horizon, &p));
            t.age = t.age.saturating_add(steps32);
            t.since_update = t.since_update.saturating_add(steps32);
        }
        let dets: Vec<Detection> = detections
            .iter()
            .copied()
            .filter(|d| d.bbox.is_finite())
            .collect();
        let pairs = self.match_all(&predicted, &dets, &was_tracked);
        let mut det_used = vec![false; dets.len()];
        let mut track_used = vec![false; self.tracks.len()];
        // In the first `min_hits` updates a confident detection confirms its track at once.
        let early = self.updates <= u64::from(p.min_hits);
        let sparse = p
            .quick_confirm_gap
            .is_some_and(|g| steps32 >= g && self.updates > 1);
        let confirms_at_once =
            |confidence: f32| sparse || (early && confidence >= p.early_confirm_score);
        for &(t, d) in &pairs {
            let (track, det) = (&mut self.tracks[t], &dets[d]);
            if p.reupdate_after_gap && track.misses > 0 {
                // Found again: re-run the filter from the last observation along a straight
                // path to this one, one virtual observation per missed update.
                let mut m = track.after_observation.clone();
                let segments = track.misses + 1;
                let gap =
                    u32::try_from(frame.saturating_sub(track.observed_at)).unwrap_or(u32::MAX);
                let (b0, b1) = (track.observed, det.bbox);
                let mut done = 0u32;
                for k in 1..segments {
                    let at = gap.saturating_mul(k) / segments;
                    predict(&mut m, at - done, &p);
                    done = at;
                    let f = k as f32 / segments as f32;
                    let lerp = |a: f32, b: f32| a + (b - a) * f;
                    m.correct(&BBox::new(
                        lerp(b0.x1, b1.x1),
                        lerp(b0.y1, b1.y1),
                        lerp(b0.x2, b1.x2),
                        lerp(b0.y2, b1.y2),
                    ));
                }
                predict(&mut m, gap - done, &p);
                track.motion = m;
            }
            track.motion.correct(&det.bbox);
            track.observed = det.bbox;
            track.observed_at = frame;
            if p.reupdate_after_gap {
                track.after_observation = track.motion.clone();
            }
            track.since_update = 0;
            track.hits += 1;
            track.hit_streak += 1;
            track.confidence = det.confidence;
            track.best_score = track.best_score.max(det.confidence);
            track.class_id = det.class_id;
            if track.hit_streak >= p.min_hits || confirms_at_once(det.confidence) {
                track.confirmed = true;
            }
            det_used[d] = true;
            track_used[t] = true;
        }
        // A miss is an update without a match, whatever the gap before it.
        for (t, used) in self.tracks.iter_mut().zip(&track_used) {
            t.matched_last = *used;
            if *used {
                t.misses = 0;
            } else {
                t.hit_streak = 0;
                t.misses += 1;
                if p.lost_velocity_decay < 1.0 {
                    // Unseen for the frames since the previous update.
                    t.motion
                        .decay_velocity(p.lost_velocity_decay.powf(steps32 as f32));
                }
            }
        }
        // New tracks for what nothing matched (ByteTrack: only confident detections).
        let min_new = self.byte.map_or(f32::NEG_INFINITY, |b| b.new_track);
        // Not from a duplicate of a box that a confirmed track took in this update.
        let taken: Vec<BBox> = match p.duplicate_iou {
            Some(_) => pairs
                .iter()
                .filter(|&&(t, _)| self.tracks[t].confirmed)
                .map(|&(_, d)| dets[d].bbox)
                .collect(),
            None => Vec::new(),
        };
        let duplicate = |b: &BBox| {
            p.duplicate_iou
                .is_some_and(|iou| taken.iter().any(|t| t.iou(b) >= iou))
        };
        for (_, det) in dets
            .iter()
            .enumerate()
            .filter(|(d, det)| !det_used[*d] && det.confidence >= min_new && !duplicate(&det.bbox))
        {
            let motion = M::start(&det.bbox);
            self.tracks.push(Track {
                id: self.next_id,
                class_id: det.class_id,
                confidence: det.confidence,
                after_observation: motion.clone(),
                motion,
                age: 1,
                hits: 1,
                hit_streak: 1,
                since_update: 0,
                matched_last: true,
                misses: 0,
                confirmed: p.min_hits <= 1 || confirms_at_once(det.confidence),
                best_score: det.confidence,
                observed: det.bbox,
                observed_at: frame,
            });
            self.next_id += 1;
        }
        // End what went unseen too long (tentative tracks once they miss more updates than
        // allowed: by default their first).
        let mut ended = Vec::new();
        let mut kept = Vec::with_capacity(self.tracks.len());
        for t in self.tracks.drain(..) {
            let gone = (t.since_update > p.max_age
                && !(t.confirmed && t.misses <= p.min_missed_updates))
                || (!t.confirmed && t.misses > p.tentative_misses)
                || !t.motion.bbox().is_finite();
            if gone {
                ended.push(Self::report(&t, TrackState::Removed));
            } else {
                kept.push(t);
            }
        }
        self.tracks = kept;
        let tracks = self
            .tracks
            .iter()
            .map(|t| {
                // Confirmed but never confidently seen: followed, not yet trusted.
                let trusted = t.confirmed && t.best_score >= p.trust_score;
                let state = match (t.matched_last, trusted) {
                    (true, true) => TrackState::Confirmed,
                    (false, true) => TrackState::Lost,
                    (_, false) => TrackState::Tentative,
                };
                Self::report(t, state)
            })
            .collect();
        Ok(Update { tracks, ended })
    }
}

/// `frames` forward, without a change of size unless the settings extrapolate it.
fn predict<M: Motion>(m: &mut M, frames: u32, p: &Params) -> BBox {
    if !p.predict_size {
        m.hold_size();
    }
    m.predict(frames)
}
