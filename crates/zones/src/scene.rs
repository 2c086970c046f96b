//! Zones, lines and the analyzer that follows tracked objects through them.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::geometry::{point_in_polygon, segments_cross, side_of};

/// A polygon zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    /// Its name (unique within a scene).
    pub name: String,
    /// Its corners in image pixels, in order (at least three).
    pub polygon: Vec<(f32, f32)>,
    /// Only objects with these labels count (empty: every label).
    #[serde(default)]
    pub labels: Vec<String>,
    /// Updates in a row an object's point must be inside before it has entered, and outside
    /// before it has left (default 3, at least 1).
    #[serde(default = "default_inertia")]
    pub inertia: u32,
    /// An object inside this long (seconds) is loitering: one event (default none).
    #[serde(default)]
    pub loiter_seconds: Option<f64>,
}

fn default_inertia() -> u32 {
    3
}

fn default_band() -> f32 {
    6.0
}

impl Zone {
    /// A zone for every label, inertia 3, no loitering.
    pub fn new(name: impl Into<String>, polygon: Vec<(f32, f32)>) -> Self {
        Self {
            name: name.into(),
            polygon,
            labels: Vec::new(),
            inertia: default_inertia(),
            loiter_seconds: None,
        }
    }
}

/// A directed counting line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    /// Its name (unique within a scene).
    pub name: String,
    /// Where it starts, in image pixels.
    pub from: (f32, f32),
    /// Where it ends: `to − from` turned a quarter turn clockwise on screen is "in".
    pub to: (f32, f32),
    /// Only objects with these labels count (empty: every label).
    #[serde(default)]
    pub labels: Vec<String>,
    /// Distance in pixels from the line within which a point keeps its side (default 6).
    #[serde(default = "default_band")]
    pub band: f32,
}

impl Line {
    /// A line for every label, band 6 px.
    pub fn new(name: impl Into<String>, from: (f32, f32), to: (f32, f32)) -> Self {
        Self {
            name: name.into(),
            from,
            to,
            labels: Vec::new(),
            band: default_band(),
        }
    }
}

/// A camera's zones and lines.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scene {
    /// Polygon zones.
    #[serde(default)]
    pub zones: Vec<Zone>,
    /// Directed counting lines.
    #[serde(default)]
    pub lines: Vec<Line>,
}

impl Scene {
    /// No zones, no lines.
    pub fn is_empty(&self) -> bool {
        self.zones.is_empty() && self.lines.is_empty()
    }
}

/// A scene that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A zone's polygon or settings are invalid.
    #[error("zone {name:?}: {problem}")]
    Zone {
        /// The zone.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// A line's ends or settings are invalid.
    #[error("line {name:?}: {problem}")]
    Line {
        /// The line.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// Two zones or two lines share a name.
    #[error("the name {0:?} is used twice")]
    Duplicate(String),
    /// More zones, lines or labels than a scene may have.
    #[error("{what}: at most {max}")]
    TooMany {
        /// What there are too many of.
        what: &'static str,
        /// The most there may be.
        max: usize,
    },
    /// A saved state ([`Analyzer::save`]) that cannot be read.
    #[error("zone state: {0}")]
    BadState(String),
}

/// The most zones a scene may have.
pub const MAX_ZONES: usize = 64;
/// The most lines a scene may have.
pub const MAX_LINES: usize = 64;
/// The most corners a zone's polygon may have.
pub const MAX_POINTS: usize = 256;
/// The most labels a zone or line may name.
pub const MAX_LABELS: usize = 64;
/// The longest name of a zone, line or label, in characters.
pub const MAX_NAME: usize = 64;
/// The largest coordinate, in pixels, either way (an 8K picture is 7680 wide).
pub const MAX_COORDINATE: f32 = 100_000.0;

/// A name (of a zone, line or label) as errors show it: at most [`MAX_NAME`] characters.
fn shown(name: &str) -> String {
    name.chars().take(MAX_NAME).collect()
}

/// What is wrong with a name, if anything: empty, too long, or holding a character that
/// MQTT topics, JSON consumers or terminals would take for something else.
fn name_problem(name: &str) -> Option<String> {
    if name.trim().is_empty() {
        return Some("the name is empty".into());
    }
    if name.chars().count() > MAX_NAME {
        return Some(format!("the name is longer than {MAX_NAME} characters"));
    }
    if name
        .chars()
        .any(|c| c.is_control() || matches!(c, '/' | '+' | '#'))
    {
        return Some("the name holds a control character, '/', '+' or '#'".into());
    }
    None
}

fn labels_problem(labels: &[String]) -> Option<String> {
    if labels.len() > MAX_LABELS {
        return Some(format!("at most {MAX_LABELS} labels"));
    }
    labels
        .iter()
        .find_map(|l| name_problem(l).map(|p| format!("label {:?}: {p}", shown(l))))
}

/// A tracked object on one update.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The tracker's id.
    pub track_id: u64,
    /// Its class name.
    pub label: String,
    /// `[x1, y1, x2, y2]` in image pixels.
    pub bbox: [f32; 4],
}

impl Object {
    /// Where it stands: the bottom centre of its box.
    pub fn point(&self) -> (f32, f32) {
        ((self.bbox[0] + self.bbox[2]) / 2.0, self.bbox[3])
    }
}

/// Which way a line was crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Towards `to − from` turned a quarter turn clockwise.
    In,
    /// The other way.
    Out,
}

/// A line crossing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Crossing {
    /// The line.
    pub line: String,
    /// The object.
    pub track_id: u64,
    /// Its label.
    pub label: String,
    /// Which way.
    pub direction: Direction,
}

/// Something that happened on an update.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// An object entered a zone.
    Entered {
        /// The zone.
        zone: String,
        /// The object.
        track_id: u64,
        /// Its label.
        label: String,
    },
    /// An object left a zone (or its track ended inside), after `seconds` inside.
    Left {
        /// The zone.
        zone: String,
        /// The object.
        track_id: u64,
        /// Its label.
        label: String,
        /// How long it was inside.
        seconds: f64,
    },
    /// An object has been inside a zone for its loitering time.
    Loitering {
        /// The zone.
        zone: String,
        /// The object.
        track_id: u64,
        /// Its label.
        label: String,
        /// How long it has been inside.
        seconds: f64,
    },
    /// An object crossed a line.
    Crossed(Crossing),
}

/// The zones one object is in after an update.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectZones {
    /// The object.
    pub track_id: u64,
    /// The zones it is in, in the scene's order.
    pub zones: Vec<String>,
}

/// Crossings of one line so far, per label.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LineCounts {
    /// Crossings in, by label.
    #[serde(rename = "in")]
    pub in_: BTreeMap<String, u64>,
    /// Crossings out, by label.
    pub out: BTreeMap<String, u64>,
}

impl LineCounts {
    /// Crossings in by objects labelled `label`.
    pub fn in_of(&self, label: &str) -> u64 {
        self.in_.get(label).copied().unwrap_or(0)
    }

    /// Crossings out by objects labelled `label`.
    pub fn out_of(&self, label: &str) -> u64 {
        self.out.get(label).copied().unwrap_or(0)
    }
}

/// What one update found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Update {
    /// The zones of every object given (empty lists included).
    pub objects: Vec<ObjectZones>,
    /// Objects in each zone now, by label (zones with none are listed empty).
    pub zone_counts: BTreeMap<String, BTreeMap<String, u32>>,
    /// Entries, exits, loitering and crossings, in the scene's order.
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InZone {
    pub(crate) label: String,
    pub(crate) inside: bool,
    /// Updates in a row that disagreed with `inside`.
    pub(crate) streak: u32,
    pub(crate) entered_at: f64,
    pub(crate) loiter_reported: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct AtLine {
    /// The side it was last seen on, clear of the band: +1 or -1.
    pub(crate) side: f32,
    /// Where it was then.
    pub(crate) at: (f32, f32),
}

/// Follows tracked objects through a scene's zones and lines.
#[derive(Debug, Clone)]
pub struct Analyzer {
    pub(crate) scene: Scene,
    pub(crate) zone_state: HashMap<(usize, u64), InZone>,
    pub(crate) line_state: HashMap<(usize, u64), AtLine>,
    pub(crate) line_counts: Vec<LineCounts>,
    /// The time of the last update (a saved state's times are relative to it).
    pub(crate) last_time: f64,
}

fn finite(p: (f32, f32)) -> bool {
    p.0.is_finite() && p.1.is_finite()
}

fn in_range(p: (f32, f32)) -> bool {
    p.0.abs() <= MAX_COORDINATE && p.1.abs() <= MAX_COORDINATE
}

fn counts(labels: &[String], label: &str) -> bool {
    labels.is_empty() || labels.iter().any(|l| l == label)
}

impl Analyzer {
    /// An analyzer for `scene`.
    ///
    /// # Errors
    ///
    /// [`Error`] for a polygon of fewer than three points, a line of zero length, a point
    /// that is not finite, an inertia of 0, a negative band or loitering time, or a name
    /// used twice; [`Error::TooMany`] beyond [`MAX_ZONES`] zones or [`MAX_LINES`] lines; a
    /// polygon of more than [`MAX_POINTS`] corners, more than [`MAX_LABELS`] labels, a name
    /// that is empty, longer than [`MAX_NAME`] or holds a control character, `/`, `+` or
    /// `#`, a coordinate beyond ±[`MAX_COORDINATE`], an inertia above 10,000, a loitering
    /// time above a day or a band above [`MAX_COORDINATE`]. Errors quote at most
    /// [`MAX_NAME`] characters of a name.
    pub fn new(scene: Scene) -> Result<Self, Error> {
        if scene.zones.len() > MAX_ZONES {
            return Err(Error::TooMany {
                what: "zones",
                max: MAX_ZONES,
            });
        }
        if scene.lines.len() > MAX_LINES {
            return Err(Error::TooMany {
                what: "lines",
                max: MAX_LINES,
            });
        }
        let mut names = std::collections::HashSet::new();
        for z in &scene.zones {
            let bad = |problem: &str| Error::Zone {
                name: shown(&z.name),
                problem: problem.into(),
            };
            if let Some(p) = name_problem(&z.name).or_else(|| labels_problem(&z.labels)) {
                return Err(bad(&p));
            }
            if z.polygon.len() < 3 {
                return Err(bad("a polygon needs at least three points"));
            }
            if z.polygon.len() > MAX_POINTS {
                return Err(bad(&format!("a polygon has at most {MAX_POINTS} points")));
            }
            if !z.polygon.iter().copied().all(finite) {
                return Err(bad("a point is not a finite number"));
            }
            if !z.polygon.iter().copied().all(in_range) {
                return Err(bad(&format!("a point is beyond ±{MAX_COORDINATE} pixels")));
            }
            if z.inertia == 0 || z.inertia > 10_000 {
                return Err(bad("inertia must be between 1 and 10000"));
            }
            if z.loiter_seconds
                .is_some_and(|s| !(0.0..=86_400.0).contains(&s))
            {
                return Err(bad("loiter_seconds must be between 0 and 86400"));
            }
            if !names.insert(("zone", z.name.clone())) {
                return Err(Error::Duplicate(shown(&z.name)));
            }
        }
        for l in &scene.lines {
            let bad = |problem: &str| Error::Line {
                name: shown(&l.name),
                problem: problem.into(),
            };
            if let Some(p) = name_problem(&l.name).or_else(|| labels_problem(&l.labels)) {
                return Err(bad(&p));
            }
            if !finite(l.from) || !finite(l.to) {
                return Err(bad("an end is not a finite number"));
            }
            if !in_range(l.from) || !in_range(l.to) {
                return Err(bad(&format!("an end is beyond ±{MAX_COORDINATE} pixels")));
            }
            if l.from == l.to {
                return Err(bad("its two ends are the same point"));
            }
            if !(0.0..=MAX_COORDINATE).contains(&l.band) {
                return Err(bad("band must be between 0 and 100000"));
            }
            if !names.insert(("line", l.name.clone())) {
                return Err(Error::Duplicate(shown(&l.name)));
            }
        }
        let n = scene.lines.len();
        Ok(Self {
            scene,
            zone_state: HashMap::new(),
            line_state: HashMap::new(),
            line_counts: vec![LineCounts::default(); n],
            last_time: 0.0,
        })
    }

    /// The scene.
    pub fn scene(&self) -> &Scene {
        &self.scene
    }

    /// Feeds one update: the objects seen (an object not given keeps its state — it neither
    /// leaves nor enters — but is not counted), the tracks that `ended` (they leave every zone
    /// and are forgotten), and the time in seconds (any monotonic origin; it only measures
    /// loitering and time inside). `zone_counts` are the objects given that are inside: a
    /// caller that stops showing a track it lost stops counting it too.
    pub fn update(&mut self, time: f64, objects: &[Object], ended: &[u64]) -> Update {
        self.last_time = time;
        let mut out = Update::default();
        for (zi, zone) in self.scene.zones.iter().enumerate() {
            for o in objects.iter().filter(|o| counts(&zone.labels, &o.label)) {
                let inside_now = point_in_polygon(&zone.polygon, o.point());
                let st = self
                    .zone_state
                    .entry((zi, o.track_id))
                    .or_insert_with(|| InZone {
                        label: o.label.clone(),
                        inside: false,
                        streak: 0,
                        entered_at: time,
                        loiter_reported: false,
                    });
                st.label.clone_from(&o.label);
                if inside_now == st.inside {
                    st.streak = 0;
                } else {
                    st.streak += 1;
                    if st.streak >= zone.inertia {
                        st.inside = inside_now;
                        st.streak = 0;
                        if inside_now {
                            st.entered_at = time;
                            st.loiter_reported = false;
                            out.events.push(Event::Entered {
                                zone: zone.name.clone(),
                                track_id: o.track_id,
                                label: o.label.clone(),
                            });
                        } else {
                            out.events.push(Event::Left {
                                zone: zone.name.clone(),
                                track_id: o.track_id,
                                label: o.label.clone(),
                                seconds: (time - st.entered_at).max(0.0),
                            });
                        }
                    }
                }
                if st.inside
                    && !st.loiter_reported
                    && zone
                        .loiter_seconds
                        .is_some_and(|l| time - st.entered_at >= l)
                {
                    st.loiter_reported = true;
                    out.events.push(Event::Loitering {
                        zone: zone.name.clone(),
                        track_id: o.track_id,
                        label: o.label.clone(),
                        seconds: time - st.entered_at,
                    });
                }
            }
        }
        for (li, line) in self.scene.lines.iter().enumerate() {
            let length = ((line.to.0 - line.from.0).powi(2) + (line.to.1 - line.from.1).powi(2))
                .sqrt()
                .max(f32::EPSILON);
            for o in objects.iter().filter(|o| counts(&line.labels, &o.label)) {
                let p = o.point();
                if !finite(p) {
                    continue;
                }
                let d = side_of(line.from, line.to, p) / length;
                if d.abs() <= line.band {
                    continue;
                }
                let side = d.signum();
                match self.line_state.get_mut(&(li, o.track_id)) {
                    None => {
                        self.line_state
                            .insert((li, o.track_id), AtLine { side, at: p });
                    }
                    Some(st) => {
                        if side != st.side && segments_cross(st.at, p, line.from, line.to) {
                            let direction = if side > 0.0 {
                                Direction::In
                            } else {
                                Direction::Out
                            };
                            let c = &mut self.line_counts[li];
                            let n = match direction {
                                Direction::In => c.in_.entry(o.label.clone()).or_default(),
                                Direction::Out => c.out.entry(o.label.clone()).or_default(),
                            };
                            *n += 1;
                            out.events.push(Event::Crossed(Crossing {
                                line: line.name.clone(),
                                track_id: o.track_id,
                                label: o.label.clone(),
                                direction,
                            }));
                        }
                        *st = AtLine { side, at: p };
                    }
                }
            }
        }
        // Tracks that ended leave their zones and are forgotten.
        for &id in ended {
            for (zi, zone) in self.scene.zones.iter().enumerate() {
                if let Some(st) = self.zone_state.remove(&(zi, id))
                    && st.inside
                {
                    out.events.push(Event::Left {
                        zone: zone.name.clone(),
                        track_id: id,
                        label: st.label,
                        seconds: (time - st.entered_at).max(0.0),
                    });
                }
            }
            for li in 0..self.scene.lines.len() {
                self.line_state.remove(&(li, id));
            }
        }
        for zone in &self.scene.zones {
            out.zone_counts.insert(zone.name.clone(), BTreeMap::new());
        }
        let given: std::collections::HashSet<u64> = objects.iter().map(|o| o.track_id).collect();
        for ((zi, id), st) in &self.zone_state {
            if st.inside
                && given.contains(id)
                && let Some(c) = out.zone_counts.get_mut(&self.scene.zones[*zi].name)
            {
                *c.entry(st.label.clone()).or_default() += 1;
            }
        }
        out.objects = objects
            .iter()
            .map(|o| ObjectZones {
                track_id: o.track_id,
                zones: self
                    .scene
                    .zones
                    .iter()
                    .enumerate()
                    .filter(|(zi, _)| {
                        self.zone_state
                            .get(&(*zi, o.track_id))
                            .is_some_and(|s| s.inside)
                    })
                    .map(|(_, z)| z.name.clone())
                    .collect(),
            })
            .collect();
        out
    }

    /// This analyzer following `scene` from now on, as a zone editor changes it: a zone or
    /// line defined exactly as before (name and every setting) keeps its state — who is
    /// inside since when, which side each object is on, the crossings counted — while a new
    /// or changed one starts empty, and one no longer in `scene` is forgotten (no exit
    /// events: the zone is gone, not left).
    ///
    /// # Errors
    ///
    /// [`Analyzer::new`]'s for `scene`; `self` is unchanged.
    pub fn rescene(&self, scene: Scene) -> Result<Self, Error> {
        let mut next = Self::new(scene)?;
        next.last_time = self.last_time;
        let zones: Vec<Option<usize>> = self
            .scene
            .zones
            .iter()
            .map(|z| next.scene.zones.iter().position(|n| n == z))
            .collect();
        let lines: Vec<Option<usize>> = self
            .scene
            .lines
            .iter()
            .map(|l| next.scene.lines.iter().position(|n| n == l))
            .collect();
        for (&(zi, id), state) in &self.zone_state {
            if let Some(ni) = zones[zi] {
                next.zone_state.insert((ni, id), state.clone());
            }
        }
        for (&(li, id), state) in &self.line_state {
            if let Some(ni) = lines[li] {
                next.line_state.insert((ni, id), *state);
            }
        }
        for (li, counts) in self.line_counts.iter().enumerate() {
            if let Some(ni) = lines[li] {
                next.line_counts[ni] = counts.clone();
            }
        }
        Ok(next)
    }

    /// Crossings of every line so far, by line name.
    pub fn line_counts(&self) -> BTreeMap<String, LineCounts> {
        self.scene
            .lines
            .iter()
            .zip(&self.line_counts)
            .map(|(l, c)| (l.name.clone(), c.clone()))
            .collect()
    }

    /// Objects followed now (for tests: state is forgotten when tracks end).
    pub fn followed(&self) -> usize {
        let mut ids: Vec<u64> = self
            .zone_state
            .keys()
            .map(|k| k.1)
            .chain(self.line_state.keys().map(|k| k.1))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }
}
