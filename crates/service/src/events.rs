//! Object events in the shape of Frigate's MQTT API, from one camera's results: pure logic,
//! no I/O (the MQTT publisher sends what it returns).
//!
//! - `events`: `{"type": "new" | "update" | "end", "before": {…}, "after": {…}}` per track.
//!   `new` when a track is first reported, `update` only when something a user acts on
//!   changes (the zones it is in, a new top score at least [`SCORE_STEP`] higher), `end` when
//!   the track ends or the camera goes away.
//! - `<camera>/<label>`: how many objects of the label are in view now (retained), sent when
//!   it changes; `<camera>/zones/<zone>/<label>` the same per zone.
//! - `<camera>/lines/<line>`: crossings so far by direction and label (retained).
//! - `zones`: entries, exits, loitering and line crossings as they happen.
//! - `<camera>/status`: `online` / `offline` (retained).
//!
//! Topics are relative to the prefix; camera ids and labels are made topic-safe.

use std::collections::{BTreeMap, BTreeSet};

use rtsp_worker::{TrackState, TrackedObject, TrackingResult, zones};
use serde::Serialize;
use serde_json::{Value, json};

/// A top score this much higher than the last one sent is worth an `update`.
pub const SCORE_STEP: f32 = 0.1;

/// A message to publish: topic (under the prefix), JSON payload, retained or not.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub topic: String,
    pub payload: String,
    pub retain: bool,
}

/// What Frigate calls an event's object: one track as last seen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventObject {
    pub id: String,
    pub camera: String,
    pub track_id: u64,
    pub label: String,
    pub score: f32,
    pub top_score: f32,
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    pub frame_time: f64,
    pub start_time: f64,
    pub end_time: Option<f64>,
    pub current_zones: Vec<String>,
    pub entered_zones: Vec<String>,
    pub active: bool,
}

/// A topic segment: no separators or wildcards.
pub fn topic_safe(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '/' | '+' | '#' | '\0' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect()
}

/// One camera's events.
#[derive(Debug)]
pub struct CameraEvents {
    camera: String,
    /// Live tracks: the object as last sent, and as now.
    tracks: BTreeMap<u64, (EventObject, EventObject)>,
    /// Counts sent per label, and per zone and label.
    counts: BTreeMap<String, usize>,
    zone_counts: BTreeMap<(String, String), u32>,
    lines: BTreeMap<String, zones::LineCounts>,
}

impl CameraEvents {
    pub fn new(camera: &str) -> Self {
        Self {
            camera: camera.to_owned(),
            tracks: BTreeMap::new(),
            counts: BTreeMap::new(),
            zone_counts: BTreeMap::new(),
            lines: BTreeMap::new(),
        }
    }

    /// The camera's id.
    pub fn camera(&self) -> &str {
        &self.camera
    }

    fn topic(&self, rest: &str) -> String {
        format!("{}/{rest}", topic_safe(&self.camera))
    }

    /// `online` or `offline`.
    pub fn status(&self, online: bool) -> Message {
        Message {
            topic: self.topic("status"),
            payload: if online { "online" } else { "offline" }.into(),
            retain: true,
        }
    }

    fn event(kind: &str, before: &EventObject, after: &EventObject) -> Message {
        Message {
            topic: "events".into(),
            payload: json!({"type": kind, "before": before, "after": after}).to_string(),
            retain: false,
        }
    }

    fn object(&self, t: &TrackedObject, time: f64) -> EventObject {
        EventObject {
            id: format!("{}-{}-{}", self.camera, t.track_id, (time * 1e3) as u64),
            camera: self.camera.clone(),
            track_id: t.track_id,
            label: t.class_name.clone(),
            score: t.confidence,
            top_score: t.confidence,
            bbox: t.bbox,
            frame_time: time,
            start_time: time,
            end_time: None,
            current_zones: t.zones.clone(),
            entered_zones: t.zones.clone(),
            active: true,
        }
    }

    /// The messages one result gives.
    pub fn on_result(&mut self, r: &TrackingResult) -> Vec<Message> {
        let mut out = Vec::new();
        let time = r.timestamp;
        for t in &r.tracked_objects {
            match self.tracks.get_mut(&t.track_id) {
                None => {
                    let o = self.object(t, time);
                    out.push(Self::event("new", &o, &o));
                    self.tracks.insert(t.track_id, (o.clone(), o));
                }
                Some((sent, now)) => {
                    now.frame_time = time;
                    now.bbox = t.bbox;
                    now.active = t.state == TrackState::Confirmed;
                    if t.state == TrackState::Confirmed {
                        now.score = t.confidence;
                        now.top_score = now.top_score.max(t.confidence);
                    }
                    now.current_zones.clone_from(&t.zones);
                    for z in &t.zones {
                        if !now.entered_zones.contains(z) {
                            now.entered_zones.push(z.clone());
                        }
                    }
                    if now.current_zones != sent.current_zones
                        || now.top_score >= sent.top_score + SCORE_STEP
                    {
                        out.push(Self::event("update", sent, now));
                        *sent = now.clone();
                    }
                }
            }
        }
        for t in &r.ended_tracks {
            if let Some((sent, mut now)) = self.tracks.remove(&t.track_id) {
                now.end_time = Some(time);
                now.active = false;
                out.push(Self::event("end", &sent, &now));
            }
        }
        // Counts in view by label (every label seen before stays, at 0).
        let mut in_view: BTreeMap<String, usize> =
            self.counts.keys().map(|k| (k.clone(), 0)).collect();
        for t in &r.tracked_objects {
            *in_view.entry(t.class_name.clone()).or_default() += 1;
        }
        for (label, n) in in_view {
            if self.counts.get(&label) != Some(&n) {
                out.push(Message {
                    topic: self.topic(&topic_safe(&label)),
                    payload: n.to_string(),
                    retain: true,
                });
                self.counts.insert(label, n);
            }
        }
        let mut zone_now: BTreeMap<(String, String), u32> =
            self.zone_counts.keys().map(|k| (k.clone(), 0)).collect();
        for (zone, labels) in &r.zone_counts {
            for (label, n) in labels {
                zone_now.insert((zone.clone(), label.clone()), *n);
            }
        }
        for (key, n) in zone_now {
            if self.zone_counts.get(&key) != Some(&n) {
                out.push(Message {
                    topic: self.topic(&format!(
                        "zones/{}/{}",
                        topic_safe(&key.0),
                        topic_safe(&key.1)
                    )),
                    payload: n.to_string(),
                    retain: true,
                });
                self.zone_counts.insert(key, n);
            }
        }
        for (line, counts) in &r.line_counts {
            if self.lines.get(line) != Some(counts) {
                out.push(Message {
                    topic: self.topic(&format!("lines/{}", topic_safe(line))),
                    payload: serde_json::to_string(counts).unwrap_or_default(),
                    retain: true,
                });
                self.lines.insert(line.clone(), counts.clone());
            }
        }
        for e in &r.zone_events {
            let mut v = serde_json::to_value(e).unwrap_or(Value::Null);
            if let Some(m) = v.as_object_mut() {
                m.insert("camera".into(), self.camera.clone().into());
                m.insert("time".into(), time.into());
            }
            out.push(Message {
                topic: "zones".into(),
                payload: v.to_string(),
                retain: false,
            });
        }
        out
    }

    /// The camera went away (disconnected, gave up, or the worker stops): every live track
    /// ends, counts go to zero, status offline.
    pub fn on_end(&mut self, time: f64) -> Vec<Message> {
        let mut out = Vec::new();
        for (_, (sent, mut now)) in std::mem::take(&mut self.tracks) {
            now.end_time = Some(time);
            now.active = false;
            out.push(Self::event("end", &sent, &now));
        }
        let labels: BTreeSet<String> = self.counts.keys().cloned().collect();
        for label in labels {
            if self.counts.insert(label.clone(), 0) != Some(0) {
                out.push(Message {
                    topic: self.topic(&topic_safe(&label)),
                    payload: "0".into(),
                    retain: true,
                });
            }
        }
        let zones: Vec<(String, String)> = self.zone_counts.keys().cloned().collect();
        for key in zones {
            if self.zone_counts.insert(key.clone(), 0) != Some(0) {
                out.push(Message {
                    topic: self.topic(&format!(
                        "zones/{}/{}",
                        topic_safe(&key.0),
                        topic_safe(&key.1)
                    )),
                    payload: "0".into(),
                    retain: true,
                });
            }
        }
        out.push(self.status(false));
        out
    }

    /// Tracks with an open event.
    #[cfg(test)]
    fn live(&self) -> usize {
        self.tracks.len()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::{Instant, SystemTime};

    pub(crate) fn track(id: u64, x: f32, conf: f32, zones: &[&str]) -> TrackedObject {
        TrackedObject {
            track_id: id,
            class_id: 0,
            class_name: "person".into(),
            confidence: conf,
            bbox: [x, 0.0, x + 10.0, 20.0],
            velocity: [0.0, 0.0],
            state: TrackState::Confirmed,
            age: 1,
            hits: 1,
            zones: zones.iter().map(|z| (*z).to_owned()).collect(),
        }
    }

    pub(crate) fn result(
        n: u64,
        tracks: Vec<TrackedObject>,
        ended: Vec<TrackedObject>,
    ) -> TrackingResult {
        TrackingResult {
            stream_id: "cam/1".into(),
            frame_number: n,
            rtp_timestamp: 0,
            timestamp: n as f64,
            wall_clock: SystemTime::UNIX_EPOCH,
            wall_clock_synced: false,
            captured_at: Instant::now(),
            latency_ms: 0.0,
            width: 100,
            height: 100,
            detections: Vec::new(),
            tracked_objects: tracks,
            ended_tracks: ended,
            tracks_restarted: None,
            zone_counts: BTreeMap::new(),
            line_counts: BTreeMap::new(),
            zone_events: Vec::new(),
            frame: None,
        }
    }

    fn kinds(m: &[Message]) -> Vec<String> {
        m.iter()
            .filter(|m| m.topic == "events")
            .map(|m| {
                let v: Value = serde_json::from_str(&m.payload).unwrap();
                v["type"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    #[test]
    fn one_new_quiet_updates_and_one_end_per_track() {
        let mut e = CameraEvents::new("cam/1");
        let m = e.on_result(&result(1, vec![track(1, 0.0, 0.5, &[])], vec![]));
        assert_eq!(kinds(&m), ["new"]);
        // The count topic is topic-safe and retained.
        let count = m.iter().find(|m| m.topic == "cam_1/person").unwrap();
        assert_eq!((count.payload.as_str(), count.retain), ("1", true));
        // Moving and small score changes: nothing.
        let m = e.on_result(&result(2, vec![track(1, 5.0, 0.55, &[])], vec![]));
        assert!(m.is_empty(), "{m:?}");
        // A zone: an update with before and after.
        let m = e.on_result(&result(3, vec![track(1, 9.0, 0.55, &["porch"])], vec![]));
        assert_eq!(kinds(&m), ["update"]);
        let v: Value = serde_json::from_str(&m[0].payload).unwrap();
        assert_eq!(v["before"]["current_zones"], json!([]));
        assert_eq!(v["after"]["current_zones"], json!(["porch"]));
        assert_eq!(v["after"]["entered_zones"], json!(["porch"]));
        // A score jump: an update.
        let m = e.on_result(&result(4, vec![track(1, 9.0, 0.8, &["porch"])], vec![]));
        assert_eq!(kinds(&m), ["update"]);
        // The end, with the count back to 0.
        let m = e.on_result(&result(5, vec![], vec![track(1, 9.0, 0.8, &[])]));
        assert_eq!(kinds(&m), ["end"]);
        let v: Value = serde_json::from_str(&m[0].payload).unwrap();
        assert_eq!(v["after"]["end_time"], json!(5.0));
        assert_eq!(v["after"]["top_score"].as_f64().unwrap() as f32, 0.8);
        assert!(
            m.iter()
                .any(|m| m.topic == "cam_1/person" && m.payload == "0")
        );
        assert_eq!(e.live(), 0);
    }

    #[test]
    fn a_camera_that_goes_away_ends_its_tracks() {
        let mut e = CameraEvents::new("door");
        e.on_result(&result(
            1,
            vec![track(1, 0.0, 0.5, &[]), track(2, 50.0, 0.5, &[])],
            vec![],
        ));
        let m = e.on_end(9.0);
        assert_eq!(kinds(&m), ["end", "end"]);
        assert!(
            m.iter()
                .any(|m| m.topic == "door/person" && m.payload == "0")
        );
        assert_eq!(m.last().unwrap().payload, "offline");
        // Twice is harmless.
        assert_eq!(kinds(&e.on_end(10.0)), Vec::<String>::new());
    }
}
