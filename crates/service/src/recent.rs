//! The recent events the status page lists (`GET /api/v1/events`): each camera's last
//! [`PER_CAMERA`] track starts and ends and zone and line events, in memory, with a small
//! thumbnail of the object. The same events, with the same ids and fields, as the webhooks
//! send ([`StreamEvents`]). A sink: it never waits, and what it keeps is bounded (the oldest
//! entry of a camera goes when a new one comes; a removed camera's go with it).
//!
//! Thumbnails are cropped from the stream's latest kept picture (the one the snapshot
//! shows, at most 200 ms older than the event in the binary) and encoded on the camera's
//! consumer task: one per track start (its end and its zone events show the same, the
//! picture at its end being the place it left) — a few kilobytes each.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use rtsp_worker::{StreamConnection, StreamEvent};
use serde_json::Value;

use crate::sink::{Sink, StreamSink};
use crate::support::{lock, now_secs};
use crate::webhook::StreamEvents;

/// Events kept per camera.
pub const PER_CAMERA: usize = 100;
/// A thumbnail's longer side, pixels.
pub const THUMBNAIL: usize = 160;

/// One event as kept.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The event's body (`id`, `camera`, `kind`, `type`, …).
    pub body: Value,
    pub thumbnail: Option<Arc<[u8]>>,
}

/// Every camera's recent events.
#[derive(Debug, Default)]
pub struct Recent {
    log: Arc<Mutex<BTreeMap<String, VecDeque<Entry>>>>,
}

impl Recent {
    /// The newest `limit` events, newest first, of one camera or of all.
    pub fn list(&self, camera: Option<&str>, limit: usize) -> Vec<Entry> {
        let log = lock(&self.log);
        let mut all: Vec<&Entry> = log
            .iter()
            .filter(|(c, _)| camera.is_none_or(|w| w == c.as_str()))
            .flat_map(|(_, q)| q.iter())
            .collect();
        all.sort_by(|a, b| {
            let t = |e: &Entry| e.body["time"].as_f64().unwrap_or(0.0);
            t(b).total_cmp(&t(a))
        });
        all.into_iter().take(limit).cloned().collect()
    }

    /// An event's thumbnail by the event's id.
    pub fn thumbnail(&self, id: &str) -> Option<Arc<[u8]>> {
        let log = lock(&self.log);
        log.values()
            .flat_map(|q| q.iter())
            .find(|e| e.body["id"].as_str() == Some(id))
            .and_then(|e| e.thumbnail.clone())
    }
}

impl Sink for Recent {
    fn open(&self, conn: &StreamConnection, _lease: Option<u64>) -> Option<Box<dyn StreamSink>> {
        Some(Box::new(CameraLog {
            events: StreamEvents::new(conn.id(), crate::webhook::run_id()),
            conn: conn.clone(),
            log: self.log.clone(),
            thumbnails: BTreeMap::new(),
        }))
    }

    fn forget(&self, id: &str) {
        lock(&self.log).remove(id);
    }
}

struct CameraLog {
    events: StreamEvents,
    conn: StreamConnection,
    log: Arc<Mutex<BTreeMap<String, VecDeque<Entry>>>>,
    /// Live tracks' thumbnails.
    thumbnails: BTreeMap<u64, Arc<[u8]>>,
}

impl StreamSink for CameraLog {
    fn offer(&mut self, event: &StreamEvent) {
        let bodies = match event {
            StreamEvent::Result(r) => self.events.on_result(r),
            StreamEvent::Ended { .. } => self.events.on_end(now_secs()),
            _ => return,
        };
        if bodies.is_empty() {
            return;
        }
        let mut entries = Vec::with_capacity(bodies.len());
        // Ended tracks' thumbnails go after this result's zone events (which come after the
        // ends) have taken them.
        let mut ended = Vec::new();
        for (_, bytes) in bodies {
            let Ok(body) = serde_json::from_slice::<Value>(&bytes) else {
                continue;
            };
            let track = body["track_id"].as_u64();
            let thumbnail = match (body["kind"].as_str(), body["type"].as_str(), track) {
                (Some("track"), Some("start"), Some(id)) => {
                    let bbox = bbox_of(&body["box"]);
                    let t = bbox
                        .and_then(|b| self.conn.thumbnail(b, THUMBNAIL))
                        .map(Arc::<[u8]>::from);
                    if let Some(t) = &t {
                        self.thumbnails.insert(id, t.clone());
                    }
                    t
                }
                (Some("track"), Some("end"), Some(id)) => {
                    ended.push(id);
                    self.thumbnails.get(&id).cloned()
                }
                (_, _, Some(id)) => self.thumbnails.get(&id).cloned(),
                _ => None,
            };
            entries.push(Entry { body, thumbnail });
        }
        for id in ended {
            self.thumbnails.remove(&id);
        }
        let mut log = lock(&self.log);
        let q = log.entry(self.conn.id().to_owned()).or_default();
        for e in entries {
            if q.len() == PER_CAMERA {
                q.pop_front();
            }
            q.push_back(e);
        }
    }
}

fn bbox_of(v: &Value) -> Option<[f32; 4]> {
    let a = v.as_array()?;
    let mut b = [0.0f32; 4];
    for (i, x) in a.iter().take(4).enumerate() {
        b[i] = x.as_f64()? as f32;
    }
    (a.len() == 4).then_some(b)
}
