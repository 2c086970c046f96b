//! `cargo xtask track-eval`: our trackers and the well-known Python ones on the same
//! detections, scored by py-motmetrics (MOTA, IDF1, ID switches, …).
//!
//! Ground truth: MOT15's TUD-Campus and TUD-Stadtmitte, from the `motmetrics` wheel (CC
//! BY-NC-SA, for evaluation only, never committed). Detections: generated from it with a
//! fixed seed at three difficulty levels ([`LEVELS`]). Strides: the detector on every frame,
//! every 3rd, every 5th; our trackers get camera frame numbers with gaps (as the facade feeds
//! them), the Python ones consecutive frames (as their users call them), mapped back. Scoring
//! is on the frames that were detected. Each Python package runs in a venv of its own, pinned,
//! under the cache (`pip download` then an offline install).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use tracker::{Detection, TrackerConfig, TrackerKind};

use crate::{output, project_root, run};

/// A difficulty level of the generated detections: what a real detector gets wrong, and how
/// often.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Level {
    pub(crate) name: &'static str,
    /// Chance a visible person is missed on a frame.
    miss: f64,
    /// Extra chance of a miss per unit of occlusion (the fraction of the box covered by
    /// people nearer the camera, 0 to 1).
    occluded_miss: f64,
    /// Chance a miss goes on to the next frame while the person stays occluded (runs of
    /// misses; half as likely once visible again).
    miss_run: f64,
    /// Box corner noise, as a fraction of the box's width and height (standard deviation).
    jitter: f64,
    /// Chance a true detection scores low (0.1–0.45), as partly hidden people do.
    low_score: f64,
    /// False positives per frame (Poisson mean).
    false_positives: f64,
    /// Fraction of them beside a person (a shifted, partial box), the rest anywhere.
    near_people: f64,
    /// Persistent clutter: boxes that come back at the same place (a poster, a pole).
    clutter: usize,
    /// Chance a true detection comes with a duplicate (a second, shifted box).
    duplicate: f64,
}

pub(crate) const LEVELS: [Level; 3] = [
    Level {
        name: "easy",
        miss: 0.02,
        occluded_miss: 0.3,
        miss_run: 0.5,
        jitter: 0.02,
        low_score: 0.05,
        false_positives: 0.2,
        near_people: 0.5,
        clutter: 0,
        duplicate: 0.01,
    },
    Level {
        name: "medium",
        miss: 0.05,
        occluded_miss: 0.6,
        miss_run: 0.7,
        jitter: 0.04,
        low_score: 0.15,
        false_positives: 0.6,
        near_people: 0.5,
        clutter: 1,
        duplicate: 0.03,
    },
    Level {
        name: "hard",
        miss: 0.10,
        occluded_miss: 0.9,
        miss_run: 0.85,
        jitter: 0.07,
        low_score: 0.25,
        false_positives: 1.5,
        near_people: 0.5,
        clutter: 2,
        duplicate: 0.06,
    },
];

/// The sequences: name, frame size, frame rate.
pub(crate) const SEQUENCES: [(&str, (f64, f64), f64); 2] = [
    ("TUD-Campus", (640.0, 480.0), 25.0),
    ("TUD-Stadtmitte", (640.0, 480.0), 25.0),
];

pub(crate) const STRIDES: [u64; 5] = [1, 3, 5, 12, 25];

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn f64(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u = self.f64().max(1e-12);
        let v = self.f64();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    fn poisson(&mut self, mean: f64) -> usize {
        let limit = (-mean).exp();
        let (mut k, mut p) = (0, 1.0);
        loop {
            p *= self.f64();
            if p <= limit {
                return k;
            }
            k += 1;
        }
    }
}

/// A ground-truth box: id and `[x1, y1, x2, y2]`.
type GtBox = (u64, [f64; 4]);

/// MOTChallenge ground truth by frame (lines with a zero "consider" flag are left out).
pub(crate) fn read_gt(text: &str) -> Result<BTreeMap<u64, Vec<GtBox>>> {
    let mut out: BTreeMap<u64, Vec<GtBox>> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let f: Vec<f64> = line
            .split(',')
            .map(|v| v.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .with_context(|| format!("ground truth line {}", i + 1))?;
        if f.len() < 6 {
            bail!("ground truth line {}: {} fields", i + 1, f.len());
        }
        if f.get(6).is_some_and(|c| *c == 0.0) {
            continue;
        }
        let (x, y, w, h) = (f[2], f[3], f[4], f[5]);
        out.entry(f[0] as u64)
            .or_default()
            .push((f[1] as u64, [x, y, x + w, y + h]));
    }
    Ok(out)
}

fn area(b: &[f64; 4]) -> f64 {
    (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0)
}

fn intersection(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    w * h
}

/// How much of `b` people nearer the camera (lower feet) cover, 0 to 1.
fn occlusion(b: &[f64; 4], others: &[GtBox], id: u64) -> f64 {
    others
        .iter()
        .filter(|(o, ob)| *o != id && ob[3] > b[3])
        .map(|(_, ob)| intersection(b, ob) / area(b).max(1.0))
        .fold(0.0, f64::max)
        .min(1.0)
}

/// A family of detection noise: how a detector's mistakes are structured. Each draws its
/// parameters per sequence and level from wide ranges (reproducibly, from the seed), so that
/// no single setting of a tracker can be fitted to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// The first generator, as the trackers were tuned on: misses driven by occlusion and in
    /// runs, low scores for hidden people, false positives beside people, clutter, duplicates
    /// (the level's figures as they are).
    Occlusion,
    /// Misses independent of occlusion and of each other (a detector that flickers), at a
    /// rate drawn from 0.5× to 2.5× the level's.
    Independent,
    /// True positives scored as the shipped model scores people on the real clips (the
    /// histogram in `benches/tracking/person_scores.json`), false positives from its weak end.
    ModelScores,
    /// False positives that move: phantoms that live 5–40 frames and drift (reflections,
    /// shadows, a swaying sign), some scoring as high as people.
    MovingFalsePositives,
    /// Boxes biased in size and place for the whole sequence (another model's box style), and
    /// noisier: widths and heights ×0.75–1.3, shifted by up to 15% of the box, jitter ×1–2.
    SizeBias,
    /// Whole frames without a detection, in bursts of 2–20 frames (a decoder hiccup, a
    /// camera's exposure swing, a detector that times out).
    Outages,
}

pub(crate) const FAMILIES: [Family; 6] = [
    Family::Occlusion,
    Family::Independent,
    Family::ModelScores,
    Family::MovingFalsePositives,
    Family::SizeBias,
    Family::Outages,
];

impl Family {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Occlusion => "occlusion",
            Self::Independent => "independent",
            Self::ModelScores => "model-scores",
            Self::MovingFalsePositives => "moving-fp",
            Self::SizeBias => "size-bias",
            Self::Outages => "outages",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        FAMILIES.into_iter().find(|f| f.name() == name)
    }
}

/// The shipped model's person scores on the real clips, as a histogram: `(low, high, share)`
/// bins (measured by `cargo xtask track-eval --measure-scores`).
#[derive(Debug, Clone)]
pub(crate) struct ScoreHistogram {
    pub(crate) bins: Vec<(f64, f64, f64)>,
}

impl ScoreHistogram {
    /// The committed measurement.
    pub(crate) fn committed() -> Result<Self> {
        let path = project_root().join("benches/tracking/person_scores.json");
        let text = fs::read_to_string(&path)
            .with_context(|| format!("{}: measure it with --measure-scores", path.display()))?;
        let mut bins = Vec::new();
        let body = text
            .split("\"bins\"")
            .nth(1)
            .context("person_scores.json has no bins")?;
        for part in body.split('[').skip(2) {
            let nums: Vec<f64> = part
                .split(']')
                .next()
                .unwrap_or_default()
                .split(',')
                .filter_map(|v| v.trim().parse().ok())
                .collect();
            if let [lo, hi, count] = nums[..] {
                bins.push((lo, hi, count));
            }
        }
        let total: f64 = bins.iter().map(|b| b.2).sum();
        if bins.is_empty() || total <= 0.0 {
            bail!("person_scores.json: no counts");
        }
        for b in &mut bins {
            b.2 /= total;
        }
        Ok(Self { bins })
    }

    /// A score drawn from the histogram, optionally only from `[lo, hi)`.
    fn sample(&self, rng: &mut Rng, lo: f64, hi: f64) -> f64 {
        let within: Vec<&(f64, f64, f64)> =
            self.bins.iter().filter(|b| b.1 > lo && b.0 < hi).collect();
        let total: f64 = within.iter().map(|b| b.2).sum();
        if total <= 0.0 {
            return rng.between(lo, hi);
        }
        let mut pick = rng.f64() * total;
        for b in &within {
            if pick < b.2 {
                return rng.between(b.0.max(lo), b.1.min(hi));
            }
            pick -= b.2;
        }
        rng.between(lo, hi)
    }
}

/// One sequence's noise: the level's figures, reshaped by the family with parameters drawn
/// from its ranges.
#[derive(Debug, Clone)]
struct Noise {
    level: Level,
    /// Misses: occlusion-driven and in runs (the first generator), or independent.
    independent_miss: Option<f64>,
    /// True positives' scores from the model's histogram.
    model_scores: Option<ScoreHistogram>,
    /// Phantoms spawned per frame (Poisson mean), living 5–40 frames.
    phantoms: f64,
    /// Box scale (width, height) and shift (fractions of the box), jitter factor.
    bias: (f64, f64, f64, f64, f64),
    /// Chance an outage starts on a frame, and its length range.
    outage: (f64, u64, u64),
}

impl Noise {
    fn draw(level: &Level, family: Family, scores: Option<&ScoreHistogram>, rng: &mut Rng) -> Self {
        let mut n = Noise {
            level: *level,
            independent_miss: None,
            model_scores: None,
            phantoms: 0.0,
            bias: (1.0, 1.0, 0.0, 0.0, 1.0),
            outage: (0.0, 0, 0),
        };
        match family {
            Family::Occlusion => {}
            Family::Independent => {
                // The level's average miss rate (occluded people included), 0.5×–2.5×.
                let base = level.miss + 0.25 * level.occluded_miss;
                n.independent_miss = Some((base * rng.between(0.5, 2.5)).min(0.6));
                n.level.low_score *= rng.between(0.5, 2.0);
            }
            Family::ModelScores => {
                n.model_scores = scores.cloned();
            }
            Family::MovingFalsePositives => {
                n.phantoms = level.false_positives.max(0.2) * rng.between(0.05, 0.25);
                n.level.false_positives *= rng.between(0.2, 0.6);
                n.level.clutter = 0;
            }
            Family::SizeBias => {
                n.bias = (
                    rng.between(0.75, 1.3),
                    rng.between(0.75, 1.3),
                    rng.between(-0.15, 0.15),
                    rng.between(-0.15, 0.15),
                    rng.between(1.0, 2.0),
                );
            }
            Family::Outages => {
                n.outage = (
                    rng.between(0.005, 0.04),
                    2,
                    rng.between(5.0, 20.0).round() as u64,
                );
            }
        }
        n
    }
}

/// A phantom: a false positive that moves for a while.
struct Phantom {
    b: [f64; 4],
    v: (f64, f64),
    left: u32,
    score: f64,
}

/// Detections for a ground truth at `level`, with the noise of `family`, reproducible from
/// `seed`: MOTChallenge detection lines (`frame,-1,x,y,w,h,score,-1,-1,-1`).
pub(crate) fn generate(
    gt: &BTreeMap<u64, Vec<GtBox>>,
    level: &Level,
    family: Family,
    scores: Option<&ScoreHistogram>,
    image: (f64, f64),
    seed: u64,
) -> String {
    let mut rng = Rng(seed);
    // The family's parameters come from a generator of their own: the detections of the
    // first family stay what they were.
    let noise = Noise::draw(level, family, scores, &mut Rng(seed ^ 0x5eed_f00d));
    let level = &noise.level;
    let mut out = String::new();
    let mut missing: HashMap<u64, bool> = HashMap::new();
    let clutter: Vec<[f64; 4]> = (0..level.clutter)
        .map(|_| {
            let h = rng.between(60.0, 180.0);
            let w = h * rng.between(0.3, 0.5);
            let x = rng.between(0.0, image.0 - w);
            let y = rng.between(0.0, image.1 - h);
            [x, y, x + w, y + h]
        })
        .collect();
    let push = |out: &mut String, frame: u64, b: [f64; 4], score: f64| {
        let x1 = b[0].clamp(0.0, image.0 - 2.0);
        let y1 = b[1].clamp(0.0, image.1 - 2.0);
        let x2 = b[2].clamp(x1 + 2.0, image.0);
        let y2 = b[3].clamp(y1 + 2.0, image.1);
        let _ = writeln!(
            out,
            "{frame},-1,{x1:.2},{y1:.2},{:.2},{:.2},{score:.3},-1,-1,-1",
            x2 - x1,
            y2 - y1
        );
    };
    let mut phantoms: Vec<Phantom> = Vec::new();
    let mut outage_left = 0u64;
    let last = gt.keys().last().copied().unwrap_or(0);
    for frame in 1..=last {
        let people = gt.get(&frame).map_or(&[][..], Vec::as_slice);
        // An outage: nothing at all on this frame (the generator still draws, so that the
        // rest of the sequence is the same with or without it).
        if outage_left == 0 && noise.outage.0 > 0.0 && rng.f64() < noise.outage.0 {
            outage_left = noise.outage.1 + rng.next() % (noise.outage.2 - noise.outage.1 + 1);
        }
        let dark = outage_left > 0;
        outage_left = outage_left.saturating_sub(1);
        let mut lines = String::new();
        for &(id, b) in people {
            let occl = occlusion(&b, people, id);
            let was_missing = missing.get(&id).copied().unwrap_or(false);
            let p_miss = match noise.independent_miss {
                Some(p) => p,
                None if was_missing => level.miss_run * if occl > 0.2 { 1.0 } else { 0.5 },
                None => level.miss + level.occluded_miss * occl,
            };
            let miss = rng.f64() < p_miss.min(0.98);
            missing.insert(id, miss);
            if miss {
                continue;
            }
            let (w, h) = (b[2] - b[0], b[3] - b[1]);
            let (sw, sh, dx, dy, jf) = noise.bias;
            let (cx, cy) = ((b[0] + b[2]) / 2.0 + dx * w, (b[1] + b[3]) / 2.0 + dy * h);
            let bb = [
                cx - sw * w / 2.0,
                cy - sh * h / 2.0,
                cx + sw * w / 2.0,
                cy + sh * h / 2.0,
            ];
            let noisy =
                |rng: &mut Rng, v: f64, scale: f64| v + rng.normal() * level.jitter * jf * scale;
            let d = [
                noisy(&mut rng, bb[0], w),
                noisy(&mut rng, bb[1], h),
                noisy(&mut rng, bb[2], w),
                noisy(&mut rng, bb[3], h),
            ];
            let low = rng.f64() < level.low_score;
            let score = match &noise.model_scores {
                Some(hist) => {
                    let s = if low {
                        hist.sample(&mut rng, 0.1, 0.45)
                    } else {
                        hist.sample(&mut rng, 0.1, 1.0)
                    };
                    (s - 0.3 * occl).max(0.1)
                }
                None if low => rng.between(0.1, 0.45),
                None => (rng.between(0.6, 0.95) - 0.3 * occl).max(0.3),
            };
            push(&mut lines, frame, d, score);
            if rng.f64() < level.duplicate {
                let (dx, dy) = (rng.normal() * 0.15 * w, rng.normal() * 0.15 * h);
                let dup = [d[0] + dx, d[1] + dy, d[2] + dx, d[3] + dy];
                push(&mut lines, frame, dup, score * rng.between(0.5, 0.9));
            }
        }
        for _ in 0..rng.poisson(level.false_positives) {
            let near = !people.is_empty() && rng.f64() < level.near_people;
            let (b, score) = if near {
                let (_, p) = people[(rng.next() % people.len() as u64) as usize];
                let (w, h) = (p[2] - p[0], p[3] - p[1]);
                let side = if rng.f64() < 0.5 { -1.0 } else { 1.0 };
                let dx = side * w * rng.between(0.5, 0.9);
                let dy = h * rng.between(-0.2, 0.2);
                (
                    [p[0] + dx, p[1] + dy, p[2] + dx, p[3] + dy],
                    rng.between(0.2, 0.6),
                )
            } else {
                let h = rng.between(50.0, 200.0);
                let w = h * rng.between(0.3, 0.5);
                let x = rng.between(0.0, image.0 - w);
                let y = rng.between(0.0, image.1 - h);
                ([x, y, x + w, y + h], rng.between(0.1, 0.5))
            };
            let score = match &noise.model_scores {
                Some(hist) => hist.sample(&mut rng, 0.1, 0.55),
                None => score,
            };
            push(&mut lines, frame, b, score);
        }
        for c in &clutter {
            if rng.f64() < 0.7 {
                let s = rng.between(0.3, 0.7);
                let (w, h) = (c[2] - c[0], c[3] - c[1]);
                let j = |rng: &mut Rng, v: f64, scale: f64| v + rng.normal() * 0.02 * scale;
                let b = [
                    j(&mut rng, c[0], w),
                    j(&mut rng, c[1], h),
                    j(&mut rng, c[2], w),
                    j(&mut rng, c[3], h),
                ];
                push(&mut lines, frame, b, s);
            }
        }
        if noise.phantoms > 0.0 {
            for _ in 0..rng.poisson(noise.phantoms) {
                let h = rng.between(60.0, 200.0);
                let w = h * rng.between(0.3, 0.5);
                let x = rng.between(0.0, image.0 - w);
                let y = rng.between(0.0, image.1 - h);
                phantoms.push(Phantom {
                    b: [x, y, x + w, y + h],
                    v: (rng.normal() * 2.0, rng.normal() * 0.5),
                    left: 5 + (rng.next() % 36) as u32,
                    score: rng.between(0.3, 0.8),
                });
            }
            for p in &mut phantoms {
                p.b = [
                    p.b[0] + p.v.0,
                    p.b[1] + p.v.1,
                    p.b[2] + p.v.0,
                    p.b[3] + p.v.1,
                ];
                p.left -= 1;
                if rng.f64() < 0.85 {
                    let s = (p.score + rng.normal() * 0.05).clamp(0.1, 0.95);
                    push(&mut lines, frame, p.b, s);
                }
            }
            phantoms.retain(|p| p.left > 0);
        }
        if !dark {
            out.push_str(&lines);
        }
    }
    out
}

/// Our trackers, by the name the tables use; each shows its tracks by its
/// [`TrackerConfig::reporting`], through the same [`tracker::Reporter`] the facade uses.
pub(crate) fn our_trackers() -> Vec<(&'static str, TrackerConfig)> {
    let mut v = base_trackers();
    if let Some(c) = candidate() {
        if std::env::var_os("RW_CAND_ONLY").is_some() {
            v.clear();
        }
        v.push(("ours-candidate", c));
    }
    v
}

fn base_trackers() -> Vec<(&'static str, TrackerConfig)> {
    let base = TrackerConfig {
        class_aware: false,
        ..TrackerConfig::default()
    };
    vec![
        (
            "ours-iou",
            TrackerConfig {
                kind: TrackerKind::Iou,
                ..base
            },
        ),
        (
            "ours-sort",
            TrackerConfig {
                kind: TrackerKind::Sort,
                ..base
            },
        ),
        (
            "ours-bytetrack",
            TrackerConfig {
                kind: TrackerKind::ByteTrack,
                ..base
            },
        ),
        (
            "ours-default",
            TrackerConfig {
                class_aware: false,
                ..TrackerConfig::recommended()
            },
        ),
    ]
}

/// A candidate configuration from `RW_CAND` (`key=value;…`), for tuning: changes to the
/// default's tracker and what it shows (kind, iou, min_hits, max_age, high, low, new, second,
/// second_lost (0: none), second_lost_frames, tent, oru, trust, early, predict_size, decay,
/// tentative_first, duplicate (0: none), lost (camera frames a lost track shows)).
fn candidate() -> Option<TrackerConfig> {
    let text = std::env::var("RW_CAND").ok()?;
    let mut c = TrackerConfig {
        class_aware: false,
        ..TrackerConfig::recommended()
    };
    for kv in text.split(';').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=')?;
        let f = || v.parse::<f32>().ok();
        match k {
            "kind" => {
                c.kind = match v {
                    "iou" => TrackerKind::Iou,
                    "sort" => TrackerKind::Sort,
                    _ => TrackerKind::ByteTrack,
                }
            }
            "iou" => c.iou_threshold = f()?,
            "min_hits" => c.min_hits = v.parse().ok()?,
            "max_age" => c.max_age = v.parse().ok()?,
            "high" => c.bytetrack.high = f()?,
            "low" => c.bytetrack.low = f()?,
            "new" => c.bytetrack.new_track = f()?,
            "second" => c.bytetrack.second_iou = f()?,
            "tent" => c.tentative_misses = v.parse().ok()?,
            "oru" => c.reupdate_after_gap = v == "1",
            "second_lost" => c.bytetrack.second_lost_iou = f().filter(|&v| v > 0.0),
            "second_lost_frames" => c.bytetrack.second_lost_frames = v.parse().ok()?,
            "predict_size" => c.predict_size = v == "1",
            "decay" => c.lost_velocity_decay = f()?,
            "tentative_first" => c.tentative_in_first_stage = v == "1",
            "duplicate" => c.duplicate_iou = f().filter(|&v| v > 0.0),
            "trust" => c.trust_score = f()?,
            "early" => c.early_confirm_score = f()?,
            "lost" => c.reporting.lost_frames = v.parse().ok()?,
            "qcg" => c.quick_confirm_gap = v.parse().ok().filter(|&g| g > 0),
            "buf" => c.buffer_per_frame = f()?,
            "maxbuf" => c.max_buffer = f()?,
            "minmiss" => c.min_missed_updates = v.parse().ok()?,
            _ => return None,
        }
    }
    Some(c)
}

/// The frames a detector running every `stride` frames sees, from frame `1 + phase`.
pub(crate) fn fed_frames(last: u64, stride: u64, phase: u64) -> Vec<u64> {
    (1..=last).filter(|f| (f - 1) % stride == phase).collect()
}

/// The phases each stride is scored at, pooled: which camera frame the detector's first look
/// falls on. Every 25th frame of 250 is 10 looks; one phase alone would rank trackers on a
/// handful of boxes, so every phase up to 5 is scored, and beyond that 5 spread evenly.
pub(crate) fn phases(stride: u64) -> Vec<u64> {
    if stride <= 5 {
        (0..stride).collect()
    } else {
        (0..5).map(|k| k * stride / 5).collect()
    }
}

/// Runs one of our trackers over detections, fed only the strided frames (from `phase`) with their camera
/// frame numbers; MOTChallenge lines of what the facade would show on those frames (the same
/// [`tracker::Reporter`], boxes clipped to the picture of `size`).
pub(crate) fn run_ours(
    config: &TrackerConfig,
    detections: &BTreeMap<u64, Vec<Detection>>,
    last: u64,
    (stride, phase): (u64, u64),
    size: (f64, f64),
) -> Result<String> {
    let mut t = config.build();
    let mut shown = tracker::Reporter::new(config.reporting, 0);
    let mut out = String::new();
    for frame in fed_frames(last, stride, phase) {
        let dets = detections.get(&frame).map_or(&[][..], Vec::as_slice);
        let u = t.update(frame, dets)?;
        let s = shown.show(&u, (size.0 as f32, size.1 as f32));
        tracker::mot::write_tracks(frame, &s.tracks, &mut out);
    }
    Ok(out)
}

/// A venv of the tracking evaluation (`cache/tracking/venv-NAME`).
fn venv(cache: &Path, name: &str, packages: &[&str]) -> Result<PathBuf> {
    crate::setup::venv(&cache.join("tracking"), name, packages)
}

const MOTMETRICS: &str = "motmetrics==1.4.0";

/// The scorer's venv, and the ground truth from the `motmetrics` wheel.
pub(crate) struct Scorer {
    pub(crate) python: PathBuf,
    pub(crate) mot15: PathBuf,
}

/// TrackEval for HOTA: only its metrics are used (numpy and scipy), so it is installed without
/// the datasets' and plots' dependencies it declares (OpenCV, matplotlib, pycocotools).
const TRACKEVAL: &str = "trackeval==1.3.0";

pub(crate) fn scorer(cache: &Path) -> Result<Scorer> {
    let python = crate::setup::venv_with(
        &cache.join("tracking"),
        "motmetrics",
        &[
            MOTMETRICS,
            "pandas==2.2.3",
            "numpy==1.26.4",
            "scipy==1.15.3",
        ],
        &[TRACKEVAL],
    )?;
    let mot15 = cache.join("tracking").join("mot15");
    if !mot15.join("TUD-Stadtmitte/gt.txt").is_file() {
        let wheel = fs::read_dir(cache.join("tracking/wheels/motmetrics"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("motmetrics-"))
            })
            .context("the motmetrics wheel is not in the cache")?;
        run(Command::new(&python)
            .arg("-c")
            .arg(
                "import sys, zipfile, os\n\
                 z = zipfile.ZipFile(sys.argv[1])\n\
                 for n in z.namelist():\n\
                 \x20   if n.startswith('motmetrics/data/TUD-') and n.endswith('.txt'):\n\
                 \x20       dst = os.path.join(sys.argv[2], *n.split('/')[2:])\n\
                 \x20       os.makedirs(os.path.dirname(dst), exist_ok=True)\n\
                 \x20       open(dst, 'wb').write(z.read(n))\n",
            )
            .arg(&wheel)
            .arg(&mot15))?;
    }
    Ok(Scorer { python, mot15 })
}

/// The peers: a venv each, and the trackers `peers.py` runs in it.
const PEERS: [(&str, &[&str]); 3] = [
    ("supervision", &["supervision==0.29.1", "numpy==2.2.6"]),
    ("trackers", &["trackers==2.6.1", "numpy==2.2.6"]),
    // filterpy (for the demo's Kalman filter) comes as source only: it builds with
    // setuptools, which must be among the downloaded wheels for the offline install.
    (
        "norfair",
        &[
            "norfair==2.3.0",
            "filterpy==1.4.5",
            "numpy==1.26.4",
            "setuptools==75.8.0",
            "wheel==0.45.1",
        ],
    ),
];

/// What to evaluate.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) families: Vec<Family>,
    pub(crate) levels: Vec<Level>,
    pub(crate) strides: Vec<u64>,
    pub(crate) peers: bool,
}

/// The seed of one sequence's detections: the first family's as it always was, the others'
/// their own.
fn seed(family: Family, level: &str, seq: &str) -> u64 {
    let li = LEVELS.iter().position(|l| l.name == level).unwrap_or(0) as u64;
    let fi = FAMILIES.iter().position(|f| *f == family).unwrap_or(0) as u64;
    0x7d5e_u64 ^ (li << 32) ^ seq.len() as u64 ^ (fi << 48)
}

/// Runs the evaluation; returns the scores (JSON text, one object per tracker, family, level
/// and stride) and writes them, with a Markdown summary, under `target/track-eval/`.
pub(crate) fn evaluate(cache: &Path, plan: &Plan) -> Result<String> {
    let root = project_root();
    let out = root.join("target/track-eval");
    let _ = fs::remove_dir_all(&out);
    fs::create_dir_all(out.join("det"))?;
    fs::create_dir_all(out.join("res"))?;
    let scorer = scorer(cache)?;
    let scripts = root.join("benches/tracking");
    // The scorer checks itself first: motmetrics against its published figures, TrackEval's
    // HOTA against hand-computed cases and its MOTA and IDF1 against motmetrics'.
    run(Command::new(&scorer.python)
        .arg(scripts.join("score.py"))
        .arg("--self-test")
        .arg(&scorer.mot15))?;
    let histogram = if plan.families.contains(&Family::ModelScores) {
        Some(ScoreHistogram::committed()?)
    } else {
        None
    };
    let mut manifest = Vec::new();
    // Peer runs, one process per peer family (its venv), fed a list of jobs.
    let mut jobs = String::new();
    for (seq, image, fps) in SEQUENCES {
        let gt = read_gt(&fs::read_to_string(scorer.mot15.join(seq).join("gt.txt"))?)?;
        let last = gt.keys().last().copied().unwrap_or(0);
        for &family in &plan.families {
            for level in &plan.levels {
                let det_text = generate(
                    &gt,
                    level,
                    family,
                    histogram.as_ref(),
                    image,
                    seed(family, level.name, seq),
                );
                let det_path =
                    out.join("det")
                        .join(format!("{seq}_{}_{}.txt", family.name(), level.name));
                fs::write(&det_path, &det_text)?;
                let dets = tracker::mot::read_detections(&det_text)?;
                for &stride in &plan.strides {
                    for phase in phases(stride) {
                        let tag =
                            format!("{seq}_{}_{}_s{stride}p{phase}", family.name(), level.name);
                        let cell = (seq, family.name(), level.name, stride, phase);
                        for (name, config) in our_trackers() {
                            let file = out.join("res").join(format!("{name}_{tag}.txt"));
                            let text = run_ours(&config, &dets, last, (stride, phase), image)?;
                            fs::write(&file, text)?;
                            manifest.push((name.to_owned(), cell, file));
                        }
                        let _ = writeln!(
                            jobs,
                            "{}\t{tag}\t{stride}\t{phase}\t{fps}\t{last}\t{seq}\t{}\t{}",
                            det_path.display(),
                            family.name(),
                            level.name
                        );
                    }
                }
            }
        }
    }
    if plan.peers {
        let jobs_path = out.join("jobs.tsv");
        fs::write(&jobs_path, &jobs)?;
        for (peer, packages) in PEERS {
            let python = venv(cache, peer, packages)?;
            let listed = output(
                Command::new(python)
                    .arg(scripts.join("peers.py"))
                    .arg(peer)
                    .arg(&jobs_path)
                    .arg(out.join("res")),
            )?;
            for line in listed.lines() {
                let f: Vec<&str> = line.split('\t').collect();
                if let [name, file, seq, family, level, stride, phase] = f[..] {
                    let seq = SEQUENCES
                        .iter()
                        .map(|s| s.0)
                        .find(|s| *s == seq)
                        .context("peers.py named an unknown sequence")?;
                    let family = Family::from_name(family)
                        .context("peers.py named an unknown family")?
                        .name();
                    let level = LEVELS
                        .iter()
                        .map(|l| l.name)
                        .find(|l| *l == level)
                        .context("peers.py named an unknown level")?;
                    manifest.push((
                        name.to_owned(),
                        (seq, family, level, stride.parse()?, phase.parse()?),
                        PathBuf::from(file),
                    ));
                }
            }
        }
    }
    let mut json = String::from("[\n");
    for (i, (name, (seq, family, level, stride, phase), file)) in manifest.iter().enumerate() {
        let _ = write!(
            json,
            "{}  {{\"tracker\": \"{name}\", \"seq\": \"{seq}\", \"family\": \"{family}\", \"level\": \"{level}\", \"stride\": {stride}, \"phase\": {phase}, \"file\": \"{}\"}}",
            if i > 0 { ",\n" } else { "" },
            file.display()
        );
    }
    json.push_str("\n]\n");
    let manifest_path = out.join("manifest.json");
    fs::write(&manifest_path, json)?;
    let scores = out.join("scores.json");
    run(Command::new(&scorer.python)
        .arg(scripts.join("score.py"))
        .arg(&scorer.mot15)
        .arg(&manifest_path)
        .arg(&scores)
        .arg(out.join("summary.md")))?;
    let text = fs::read_to_string(&scores)?;
    print!("{}", fs::read_to_string(out.join("summary.md"))?);
    Ok(text)
}

/// One row of `scores.json`: a tracker's figures for a family, level and stride (both
/// sequences together).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Score {
    pub(crate) tracker: String,
    pub(crate) family: String,
    pub(crate) level: String,
    pub(crate) stride: u64,
    pub(crate) mota: f64,
    pub(crate) idf1: f64,
    pub(crate) hota: f64,
    pub(crate) switches: f64,
}

/// Every row of `scores.json` (one JSON object per line, as score.py writes them).
pub(crate) fn parse_scores(text: &str) -> Vec<Score> {
    let field = |obj: &str, k: &str| -> Option<String> {
        let at = obj.find(&format!("\"{k}\": "))? + k.len() + 4;
        let rest = &obj[at..];
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        Some(rest[..end].trim().trim_matches('"').to_owned())
    };
    text.lines()
        .filter(|l| l.contains("\"tracker\""))
        .filter_map(|obj| {
            let num = |k: &str| field(obj, k).and_then(|v| v.parse::<f64>().ok());
            Some(Score {
                tracker: field(obj, "tracker")?,
                family: field(obj, "family")?,
                level: field(obj, "level")?,
                stride: num("stride")? as u64,
                mota: num("mota")?,
                idf1: num("idf1")?,
                hota: num("hota")?,
                switches: num("num_switches")?,
            })
        })
        .collect()
}

/// The floors `cargo xtask test` holds the facade's default tracker to, with the detector on
/// every 3rd frame at the medium level: its *worst* MOTA and IDF1 over every noise family, a
/// few points under what it measured (docs/TRACKING.md), so that a change that helps one
/// generator and hurts another fails CI.
const FLOOR: (&str, u64, f64, f64) = ("medium", 3, 0.58, 0.70);

/// Runs the quick evaluation (every family, ours only) and checks the default tracker's
/// worst family against [`FLOOR`].
pub(crate) fn regression_guard(cache: &Path) -> Result<()> {
    let (level, stride, mota_floor, idf1_floor) = FLOOR;
    let plan = Plan {
        families: FAMILIES.to_vec(),
        levels: LEVELS.iter().copied().filter(|l| l.name == level).collect(),
        strides: vec![stride],
        peers: false,
    };
    let scores = parse_scores(&evaluate(cache, &plan)?);
    let ours: Vec<&Score> = scores
        .iter()
        .filter(|s| s.tracker == "ours-default")
        .collect();
    if ours.len() != FAMILIES.len() {
        bail!(
            "ours-default scored on {} families of {}",
            ours.len(),
            FAMILIES.len()
        );
    }
    let worst_mota = ours
        .iter()
        .min_by(|a, b| a.mota.total_cmp(&b.mota))
        .context("scores")?;
    let worst_idf1 = ours
        .iter()
        .min_by(|a, b| a.idf1.total_cmp(&b.idf1))
        .context("scores")?;
    eprintln!(
        "track-eval guard: ours-default at {level}, stride {stride}, worst family: MOTA {:.1}% \
         ({}; floor {:.0}%), IDF1 {:.1}% ({}; floor {:.0}%)",
        worst_mota.mota * 100.0,
        worst_mota.family,
        mota_floor * 100.0,
        worst_idf1.idf1 * 100.0,
        worst_idf1.family,
        idf1_floor * 100.0
    );
    if worst_mota.mota < mota_floor || worst_idf1.idf1 < idf1_floor {
        bail!(
            "tracking got worse: worst MOTA {:.3} ({}) / IDF1 {:.3} ({}) under the floor",
            worst_mota.mota,
            worst_mota.family,
            worst_idf1.idf1,
            worst_idf1.family
        );
    }
    Ok(())
}

/// `cargo xtask track-eval [--quick] [--no-peers] [--family F]... [--level L]...
/// [--stride S]...`, or `--measure-scores`.
pub(crate) fn main(args: &[String]) -> Result<()> {
    let assets = crate::setup::Assets::locate()?;
    if args.iter().any(|a| a == "--measure-scores") {
        return measure_scores(&assets);
    }
    let mut plan = Plan {
        families: FAMILIES.to_vec(),
        levels: LEVELS.to_vec(),
        strides: STRIDES.to_vec(),
        peers: true,
    };
    let (mut families, mut levels, mut strides) =
        (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => {
                levels.insert("medium".to_owned());
                strides.insert(3);
                plan.peers = false;
            }
            "--no-peers" => plan.peers = false,
            "--family" => {
                let f = it.next().context("--family NAME")?;
                Family::from_name(f).with_context(|| format!("no family {f}"))?;
                families.insert(f.clone());
            }
            "--level" => {
                levels.insert(it.next().context("--level easy|medium|hard")?.clone());
            }
            "--stride" => {
                strides.insert(it.next().context("--stride N")?.parse()?);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    if !families.is_empty() {
        plan.families.retain(|f| families.contains(f.name()));
    }
    if !levels.is_empty() {
        plan.levels.retain(|l| levels.contains(l.name));
    }
    if !strides.is_empty() {
        plan.strides = strides.into_iter().collect();
    }
    evaluate(&assets.cache, &plan).map(drop)
}

/// `--measure-scores`: the shipped model's person scores on the real clips, committed as
/// `benches/tracking/person_scores.json` (the `model-scores` family's source).
fn measure_scores(assets: &crate::setup::Assets) -> Result<()> {
    crate::setup::setup()?;
    let json = output(crate::example("rtsp-worker", "person_scores").envs(assets.env()))?;
    let path = project_root().join("benches/tracking/person_scores.json");
    fs::write(&path, &json)?;
    print!("{json}");
    eprintln!("written to {}", path.display());
    Ok(())
}
