//! Home Assistant MQTT discovery, from the state topics a camera publishes: pure logic, no
//! I/O. Each state topic the camera's [`CameraEvents`](crate::events::CameraEvents) sends for
//! the first time gets its entities announced, retained, under the discovery prefix
//! (`homeassistant/<component>/<node>/<object>/config`), so that Home Assistant shows them
//! without configuration:
//!
//! - `<camera>/status` → a connectivity binary sensor;
//! - `<camera>/<label>` → the label's count in view (sensor) and whether any is (occupancy
//!   binary sensor);
//! - `<camera>/zones/<zone>/<label>` → the label's count in the zone (sensor);
//! - `<camera>/lines/<line>` → crossings in and out (two sensors, all labels summed).
//!
//! All of a camera's entities form one device; all are unavailable while the worker is
//! (`<prefix>/available`, the broker's last will). A camera removed at run time has its
//! configs emptied ([`Discovery::removal`]), which removes its entities.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::events::{Message, topic_safe};

/// The discovery prefix Home Assistant listens on by default.
pub const PREFIX: &str = "homeassistant";

/// A Home Assistant node or object id: `[A-Za-z0-9_-]` only. A name that had to change gets
/// a hash of itself appended, so that two names never meet in one id.
pub fn ha_id(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe == name && !safe.is_empty() {
        return safe;
    }
    // FNV-1a: stable across runs and builds, which HA's unique ids must be.
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    format!("{safe}_{h:08x}")
}

/// One camera's discovery: which entities were announced.
#[derive(Debug)]
pub struct Discovery {
    camera: String,
    /// The camera's state topics begin with this (`<camera>/`, topic-safe).
    camera_topic: String,
    mqtt_prefix: String,
    discovery_prefix: String,
    /// `<mqtt prefix>_<camera>`, HA-safe: the device and the config topics' node.
    node: String,
    /// State topics seen.
    seen: BTreeSet<String>,
    /// Config topics announced (absolute).
    announced: BTreeSet<String>,
}

impl Discovery {
    pub fn new(camera: &str, mqtt_prefix: &str, discovery_prefix: &str) -> Self {
        Self {
            camera: camera.to_owned(),
            camera_topic: format!("{}/", topic_safe(camera)),
            mqtt_prefix: mqtt_prefix.to_owned(),
            discovery_prefix: discovery_prefix.to_owned(),
            node: ha_id(&format!("{mqtt_prefix}_{camera}")),
            seen: BTreeSet::new(),
            announced: BTreeSet::new(),
        }
    }

    /// Config topics announced so far (absolute), to empty when the camera is removed.
    pub fn announced(&self) -> &BTreeSet<String> {
        &self.announced
    }

    /// The configs (absolute topics, retained) for the state topics in `messages` that were
    /// not seen before.
    pub fn on_messages(&mut self, messages: &[Message]) -> Vec<Message> {
        let mut out = Vec::new();
        for m in messages {
            if !m.retain || self.seen.contains(&m.topic) {
                continue;
            }
            let Some(rest) = m.topic.strip_prefix(&self.camera_topic) else {
                continue;
            };
            self.seen.insert(m.topic.clone());
            let state = format!("{}/{}", self.mqtt_prefix, m.topic);
            let parts: Vec<&str> = rest.split('/').collect();
            match parts.as_slice() {
                ["status"] => out.push(self.entity(
                    "binary_sensor",
                    "status",
                    "Connected",
                    json!({
                        "state_topic": state,
                        "payload_on": "online",
                        "payload_off": "offline",
                        "device_class": "connectivity",
                        "entity_category": "diagnostic",
                    }),
                )),
                [label] => {
                    out.push(self.entity(
                        "sensor",
                        &format!("{label}_count"),
                        &format!("{label} count"),
                        json!({
                            "state_topic": state,
                            "state_class": "measurement",
                            "icon": "mdi:counter",
                        }),
                    ));
                    out.push(self.entity(
                        "binary_sensor",
                        &format!("{label}_occupancy"),
                        &format!("{label} occupancy"),
                        json!({
                            "state_topic": state,
                            "value_template": "{{ 'ON' if (value | int(0)) > 0 else 'OFF' }}",
                            "device_class": "occupancy",
                        }),
                    ));
                }
                ["zones", zone, label] => out.push(self.entity(
                    "sensor",
                    &format!("zone_{zone}_{label}_count"),
                    &format!("{zone} {label} count"),
                    json!({
                        "state_topic": state,
                        "state_class": "measurement",
                        "icon": "mdi:vector-polygon",
                    }),
                )),
                ["lines", line] => {
                    for (dir, key) in [("in", "in"), ("out", "out")] {
                        out.push(self.entity(
                            "sensor",
                            &format!("line_{line}_{dir}"),
                            &format!("{line} {dir}"),
                            json!({
                                "state_topic": state,
                                "value_template":
                                    format!("{{{{ value_json['{key}'].values() | sum }}}}"),
                                "state_class": "total_increasing",
                                "icon": "mdi:transit-connection-horizontal",
                            }),
                        ));
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// One entity's config message; `object` is made HA-safe.
    fn entity(&mut self, component: &str, object: &str, name: &str, mut config: Value) -> Message {
        let object = ha_id(object);
        let topic = format!(
            "{}/{component}/{}/{object}/config",
            self.discovery_prefix, self.node
        );
        if let Some(m) = config.as_object_mut() {
            m.insert("name".into(), name.into());
            m.insert("unique_id".into(), format!("{}_{object}", self.node).into());
            m.insert(
                "availability_topic".into(),
                format!("{}/available", self.mqtt_prefix).into(),
            );
            m.insert(
                "device".into(),
                json!({
                    "identifiers": [self.node],
                    "name": self.camera,
                    "manufacturer": "rtsp-worker",
                    "model": "camera",
                }),
            );
            m.insert(
                "origin".into(),
                json!({"name": "rtsp-worker", "sw_version": env!("CARGO_PKG_VERSION")}),
            );
        }
        self.announced.insert(topic.clone());
        Message {
            topic,
            payload: config.to_string(),
            retain: true,
        }
    }

    /// Empty retained configs for every entity announced: Home Assistant removes them.
    pub fn removal(announced: impl IntoIterator<Item = String>) -> Vec<Message> {
        announced
            .into_iter()
            .map(|topic| Message {
                topic,
                payload: String::new(),
                retain: true,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(topic: &str, payload: &str) -> Message {
        Message {
            topic: topic.into(),
            payload: payload.into(),
            retain: true,
        }
    }

    #[test]
    fn ids_are_ha_safe_and_distinct() {
        assert_eq!(ha_id("cam_1"), "cam_1");
        assert_ne!(ha_id("cam 1"), ha_id("cam/1"));
        assert!(
            ha_id("caméra/1")
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        );
        assert_ne!(ha_id(""), "");
    }

    #[test]
    fn each_state_topic_is_announced_once_with_its_entities() {
        let mut d = Discovery::new("front door", "rtsp-worker", PREFIX);
        let cam = topic_safe("front door");
        let msgs = vec![
            state(&format!("{cam}/status"), "online"),
            state(&format!("{cam}/person"), "2"),
            state(&format!("{cam}/zones/porch/person"), "1"),
            state(
                &format!("{cam}/lines/gate"),
                r#"{"in":{"person":3},"out":{}}"#,
            ),
            Message {
                topic: "events".into(),
                payload: "{}".into(),
                retain: false,
            },
        ];
        let out = d.on_messages(&msgs);
        assert_eq!(out.len(), 1 + 2 + 1 + 2, "{out:#?}");
        assert!(d.on_messages(&msgs).is_empty(), "announced once");
        let node = ha_id("rtsp-worker_front door");
        let mut ids = BTreeSet::new();
        for m in &out {
            assert!(m.retain);
            assert!(m.topic.starts_with("homeassistant/"), "{}", m.topic);
            assert!(m.topic.contains(&format!("/{node}/")) && m.topic.ends_with("/config"));
            let v: Value = serde_json::from_str(&m.payload).unwrap();
            assert!(ids.insert(v["unique_id"].as_str().unwrap().to_owned()));
            assert_eq!(v["availability_topic"], "rtsp-worker/available");
            assert_eq!(v["device"]["name"], "front door");
            let st = v["state_topic"].as_str().unwrap();
            assert!(
                msgs.iter()
                    .any(|m| format!("rtsp-worker/{}", m.topic) == st)
            );
        }
        let line = out
            .iter()
            .find(|m| m.topic.contains("line_gate_in"))
            .unwrap();
        let v: Value = serde_json::from_str(&line.payload).unwrap();
        assert_eq!(v["value_template"], "{{ value_json['in'].values() | sum }}");
        let removal = Discovery::removal(d.announced().iter().cloned());
        assert_eq!(removal.len(), out.len());
        assert!(removal.iter().all(|m| m.payload.is_empty() && m.retain));
    }
}
