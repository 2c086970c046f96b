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
use tracker::{Detection, TrackState, TrackerConfig, TrackerKind};

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

pub(crate) const STRIDES: [u64; 3] = [1, 3, 5];

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

/// Detections for a ground truth at `level`, reproducible from `seed`: MOTChallenge
/// detection lines (`frame,-1,x,y,w,h,score,-1,-1,-1`).
pub(crate) fn generate(
    gt: &BTreeMap<u64, Vec<GtBox>>,
    level: &Level,
    image: (f64, f64),
    seed: u64,
) -> String {
    let mut rng = Rng(seed);
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
    let last = gt.keys().last().copied().unwrap_or(0);
    for frame in 1..=last {
        let people = gt.get(&frame).map_or(&[][..], Vec::as_slice);
        for &(id, b) in people {
            let occl = occlusion(&b, people, id);
            let was_missing = missing.get(&id).copied().unwrap_or(false);
            let p_miss = if was_missing {
                level.miss_run * if occl > 0.2 { 1.0 } else { 0.5 }
            } else {
                level.miss + level.occluded_miss * occl
            };
            let miss = rng.f64() < p_miss.min(0.98);
            missing.insert(id, miss);
            if miss {
                continue;
            }
            let (w, h) = (b[2] - b[0], b[3] - b[1]);
            let noisy = |rng: &mut Rng, v: f64, scale: f64| v + rng.normal() * level.jitter * scale;
            let d = [
                noisy(&mut rng, b[0], w),
                noisy(&mut rng, b[1], h),
                noisy(&mut rng, b[2], w),
                noisy(&mut rng, b[3], h),
            ];
            let score = if rng.f64() < level.low_score {
                rng.between(0.1, 0.45)
            } else {
                (rng.between(0.6, 0.95) - 0.3 * occl).max(0.3)
            };
            push(&mut out, frame, d, score);
            if rng.f64() < level.duplicate {
                let (dx, dy) = (rng.normal() * 0.15 * w, rng.normal() * 0.15 * h);
                let dup = [d[0] + dx, d[1] + dy, d[2] + dx, d[3] + dy];
                push(&mut out, frame, dup, score * rng.between(0.5, 0.9));
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
            push(&mut out, frame, b, score);
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
                push(&mut out, frame, b, s);
            }
        }
    }
    out
}

/// Our trackers, by the name the tables use, with what their output shows.
pub(crate) fn our_trackers() -> Vec<(&'static str, TrackerConfig, Shown)> {
    let mut v: Vec<(&'static str, TrackerConfig, Shown)> = base_trackers()
        .into_iter()
        .map(|(n, c)| {
            // The facade reports lost tracks (state "lost", their predicted box); its MOT
            // rendition shows them for 5 frames after their last match.
            let shown = if n == "ours-default" {
                Shown {
                    lost_for: 5,
                    observed: false,
                }
            } else {
                Shown::default()
            };
            (n, c, shown)
        })
        .collect();
    if let Some((c, s)) = candidate() {
        if std::env::var_os("RW_CAND_ONLY").is_some() {
            v.clear();
        }
        v.push(("ours-candidate", c, s));
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

/// What a tracker's MOT output shows.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Shown {
    /// Lost tracks' predicted boxes, up to this many camera frames after their last match.
    pub(crate) lost_for: u32,
    /// The matched detection's box rather than the filter's.
    pub(crate) observed: bool,
}

/// A candidate configuration from `RW_CAND` (`key=value;…`), for tuning: changes to the
/// default's tracker and MOT output (kind, iou, min_hits, max_age, high, low, new, second,
/// second_lost (0: none), second_lost_frames, tent, oru, trust, early, predict_size, decay,
/// tentative_first, duplicate (0: none), lost, observed).
fn candidate() -> Option<(TrackerConfig, Shown)> {
    let text = std::env::var("RW_CAND").ok()?;
    let mut c = TrackerConfig {
        class_aware: false,
        ..TrackerConfig::recommended()
    };
    let mut shown = Shown {
        lost_for: 5,
        observed: false,
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
            "lost" => shown.lost_for = v.parse().ok()?,
            "observed" => shown.observed = v == "1",
            _ => return None,
        }
    }
    Some((c, shown))
}

/// The frames a detector running every `stride` frames sees (from frame 1).
pub(crate) fn fed_frames(last: u64, stride: u64) -> Vec<u64> {
    (1..=last).filter(|f| (f - 1) % stride == 0).collect()
}

/// Runs one of our trackers over detections, fed only the strided frames with their camera
/// frame numbers; MOTChallenge lines of the confirmed tracks on those frames.
pub(crate) fn run_ours(
    config: &TrackerConfig,
    shown: Shown,
    detections: &BTreeMap<u64, Vec<Detection>>,
    last: u64,
    stride: u64,
) -> Result<String> {
    let mut t = config.build();
    let mut out = String::new();
    for frame in fed_frames(last, stride) {
        let dets = detections.get(&frame).map_or(&[][..], Vec::as_slice);
        let u = t.update(frame, dets)?;
        let tracks: Vec<_> = u
            .tracks
            .into_iter()
            .filter(|t| {
                t.state == TrackState::Confirmed
                    || (t.state == TrackState::Lost && t.frames_since_update <= shown.lost_for)
            })
            .map(|mut t| {
                if shown.observed && t.state == TrackState::Confirmed {
                    t.bbox = t.observed;
                }
                t
            })
            .collect();
        tracker::mot::write_tracks(frame, &tracks, &mut out);
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

pub(crate) fn scorer(cache: &Path) -> Result<Scorer> {
    let python = venv(
        cache,
        "motmetrics",
        &[
            MOTMETRICS,
            "pandas==2.2.3",
            "numpy==1.26.4",
            "scipy==1.15.3",
        ],
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
    pub(crate) levels: Vec<Level>,
    pub(crate) strides: Vec<u64>,
    pub(crate) peers: bool,
}

/// Runs the evaluation; returns the scores (JSON text, one object per tracker, level and
/// stride) and writes them, with a Markdown summary, under `target/track-eval/`.
pub(crate) fn evaluate(cache: &Path, plan: &Plan) -> Result<String> {
    let root = project_root();
    let out = root.join("target/track-eval");
    let _ = fs::remove_dir_all(&out);
    fs::create_dir_all(out.join("det"))?;
    fs::create_dir_all(out.join("res"))?;
    let scorer = scorer(cache)?;
    let scripts = root.join("benches/tracking");
    // The scorer checks itself first against motmetrics' published figures.
    run(Command::new(&scorer.python)
        .arg(scripts.join("score.py"))
        .arg("--self-test")
        .arg(&scorer.mot15))?;
    let mut manifest = Vec::new();
    for (seq, image, fps) in SEQUENCES {
        let gt = read_gt(&fs::read_to_string(scorer.mot15.join(seq).join("gt.txt"))?)?;
        let last = gt.keys().last().copied().unwrap_or(0);
        for level in &plan.levels {
            // The same detections for a level and sequence whatever else is evaluated.
            let li = LEVELS
                .iter()
                .position(|l| l.name == level.name)
                .unwrap_or(0);
            let seed = 0x7d5e_u64 ^ ((li as u64) << 32) ^ seq.len() as u64;
            let det_text = generate(&gt, level, image, seed);
            let det_path = out.join("det").join(format!("{seq}_{}.txt", level.name));
            fs::write(&det_path, &det_text)?;
            let dets = tracker::mot::read_detections(&det_text)?;
            for &stride in &plan.strides {
                let tag = format!("{seq}_{}_s{stride}", level.name);
                for (name, config, shown) in our_trackers() {
                    let file = out.join("res").join(format!("{name}_{tag}.txt"));
                    fs::write(&file, run_ours(&config, shown, &dets, last, stride)?)?;
                    manifest.push((name.to_owned(), seq, level.name, stride, file));
                }
                if plan.peers {
                    for (family, packages) in PEERS {
                        let python = venv(cache, family, packages)?;
                        let res = out.join("res");
                        let listed = output(
                            Command::new(python)
                                .arg(scripts.join("peers.py"))
                                .arg(family)
                                .arg(&det_path)
                                .arg(&res)
                                .arg(&tag)
                                .args(["--stride", &stride.to_string()])
                                .args(["--fps", &fps.to_string()])
                                .args(["--last", &last.to_string()]),
                        )?;
                        for line in listed.lines() {
                            if let Some((name, file)) = line.split_once('\t') {
                                manifest.push((
                                    name.to_owned(),
                                    seq,
                                    level.name,
                                    stride,
                                    PathBuf::from(file),
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    let mut json = String::from("[\n");
    for (i, (name, seq, level, stride, file)) in manifest.iter().enumerate() {
        let _ = write!(
            json,
            "{}  {{\"tracker\": \"{name}\", \"seq\": \"{seq}\", \"level\": \"{level}\", \"stride\": {stride}, \"file\": \"{}\"}}",
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

/// The figures of one tracker at one level and stride (both sequences together), from
/// `scores.json`.
pub(crate) fn score_of(
    scores: &str,
    tracker: &str,
    level: &str,
    stride: u64,
) -> Option<(f64, f64, f64)> {
    let key = format!("\"tracker\": \"{tracker}\", \"level\": \"{level}\", \"stride\": {stride},");
    let at = scores.find(&key)?;
    let rest = &scores[at..];
    let end = rest.find('}').unwrap_or(rest.len());
    let obj = &rest[..end];
    let num = |k: &str| crate::bench::field_num(obj, k);
    Some((num("mota")?, num("idf1")?, num("num_switches")?))
}

/// The floors `cargo xtask test` holds the facade's default tracker to, on the medium level
/// with the detector on every 3rd frame: a few points under what it measured
/// (docs/TRACKING.md), so that a change that makes tracks worse fails CI.
const FLOOR: (&str, u64, f64, f64) = ("medium", 3, 0.71, 0.77);

/// Runs the quick evaluation and checks the default tracker against [`FLOOR`].
pub(crate) fn regression_guard(cache: &Path) -> Result<()> {
    let (level, stride, mota_floor, idf1_floor) = FLOOR;
    let plan = Plan {
        levels: LEVELS.iter().copied().filter(|l| l.name == level).collect(),
        strides: vec![stride],
        peers: false,
    };
    let scores = evaluate(cache, &plan)?;
    let (mota, idf1, _) =
        score_of(&scores, "ours-default", level, stride).context("no score for ours-default")?;
    eprintln!(
        "track-eval guard: ours-default at {level}, stride {stride}: MOTA {:.1}% (floor {:.0}%), \
         IDF1 {:.1}% (floor {:.0}%)",
        mota * 100.0,
        mota_floor * 100.0,
        idf1 * 100.0,
        idf1_floor * 100.0
    );
    if mota < mota_floor || idf1 < idf1_floor {
        bail!("tracking got worse: MOTA {mota:.3} / IDF1 {idf1:.3} under the floor");
    }
    Ok(())
}

/// `cargo xtask track-eval [--quick] [--no-peers] [--level L]... [--stride S]...`
pub(crate) fn main(args: &[String]) -> Result<()> {
    let assets = crate::setup::Assets::locate()?;
    let mut plan = Plan {
        levels: LEVELS.to_vec(),
        strides: STRIDES.to_vec(),
        peers: true,
    };
    let (mut levels, mut strides) = (BTreeSet::new(), BTreeSet::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => {
                levels.insert("medium".to_owned());
                strides.insert(3);
                plan.peers = false;
            }
            "--no-peers" => plan.peers = false,
            "--level" => {
                levels.insert(it.next().context("--level easy|medium|hard")?.clone());
            }
            "--stride" => {
                strides.insert(it.next().context("--stride N")?.parse()?);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    if !levels.is_empty() {
        plan.levels.retain(|l| levels.contains(l.name));
    }
    if !strides.is_empty() {
        plan.strides = strides.into_iter().collect();
    }
    evaluate(&assets.cache, &plan).map(drop)
}
