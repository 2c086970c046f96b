//! The cameras file (`--config cameras.toml`): engine settings, outputs, and one `[[stream]]`
//! table per camera with its zones and lines. Errors name the file, line and column, and never
//! quote the file (it may hold passwords).
//!
//! ```toml
//! [engine]                          # all optional; command-line flags win
//! model = "yolo.onnx"
//! device = "cpu"                    # cpu, cuda, cuda:N
//! tracker = "bytetrack"             # bytetrack, sort, iou
//! track_trust = 0.7                 # a track shows once a detection this confident matched it
//! track_lost_frames = 8             # camera frames a lost track's predicted box is shown
//! confidence = 0.25
//! decode_workers = 4                # threads all cameras' decoding shares (0: one each)
//!
//! [outputs]                         # all optional; command-line flags win
//! http = "127.0.0.1:8080"
//! mqtt = "mqtt://127.0.0.1:1883"
//! mqtt_prefix = "rtsp-worker"
//! snapshots = "/var/lib/rtsp-worker/snapshots"
//! snapshot_every = 5.0
//! json = true                       # JSON lines of results on stdout
//! events = false                    # and lifecycle/zone events
//!
//! [[stream]]
//! id = "door"                       # give ids to cameras that a reload should keep
//! url = "rtsp://192.0.2.10/stream1"
//! username = "admin"                # optional
//! password_env = "DOOR_PASSWORD"    # or password = "..." (keep it out of the file)
//! transport = "auto"                # auto (default), tcp or udp
//!
//! [[stream.zone]]
//! name = "driveway"
//! polygon = [[0, 400], [640, 400], [640, 720], [0, 720]]
//! labels = ["car", "person"]        # optional: every label
//! inertia = 3                       # optional: detector updates before entering counts
//! loiter_seconds = 30               # optional
//!
//! [[stream.line]]
//! name = "gate"
//! from = [640, 0]                   # crossing towards (to - from) turned clockwise is "in"
//! to = [640, 720]
//! labels = ["person"]               # optional
//! ```

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::webhook::Endpoint;
use rtsp_worker::zones::{Analyzer, Line, Scene, Zone};
use rtsp_worker::{RedactedUrl, Transport};
use serde::Deserialize;
use toml::Spanned;

/// A camera's zones and lines as the `[[stream.zone]]` and `[[stream.line]]` tables to put
/// under its `[[stream]]` in the cameras file (what the status page's zone editor shows).
pub fn scene_toml(scene: &Scene) -> String {
    fn text(s: &str) -> String {
        // A TOML basic string is a JSON string (names hold no control characters).
        serde_json::Value::from(s).to_string()
    }
    fn list(items: &[String]) -> String {
        let items: Vec<String> = items.iter().map(|l| text(l)).collect();
        format!("[{}]", items.join(", "))
    }
    fn point((x, y): (f32, f32)) -> String {
        format!("[{}, {}]", x.round(), y.round())
    }
    let mut out = String::new();
    for z in &scene.zones {
        out.push_str("[[stream.zone]]\n");
        out.push_str(&format!("name = {}\n", text(&z.name)));
        let points: Vec<String> = z.polygon.iter().copied().map(point).collect();
        out.push_str(&format!("polygon = [{}]\n", points.join(", ")));
        if !z.labels.is_empty() {
            out.push_str(&format!("labels = {}\n", list(&z.labels)));
        }
        if z.inertia != Zone::new("", Vec::new()).inertia {
            out.push_str(&format!("inertia = {}\n", z.inertia));
        }
        if let Some(s) = z.loiter_seconds {
            out.push_str(&format!("loiter_seconds = {s}\n"));
        }
        out.push('\n');
    }
    for l in &scene.lines {
        out.push_str("[[stream.line]]\n");
        out.push_str(&format!("name = {}\n", text(&l.name)));
        out.push_str(&format!("from = {}\nto = {}\n", point(l.from), point(l.to)));
        if !l.labels.is_empty() {
            out.push_str(&format!("labels = {}\n", list(&l.labels)));
        }
        if l.band != Line::new("", (0.0, 0.0), (1.0, 0.0)).band {
            out.push_str(&format!("band = {}\n", l.band));
        }
        out.push('\n');
    }
    out
}

/// The cameras file's text with the `[[stream.zone]]` and `[[stream.line]]` tables of the
/// `[[stream]]` whose `id` is `id` replaced by `scene`'s, everything else — other cameras,
/// comments, order, formatting — left as it was (`toml_edit`).
///
/// # Errors
///
/// The file does not parse, or has no `[[stream]]` with that id (a camera added over the
/// API, or one whose id the file does not give, is not the file's to change). Errors never
/// quote the file.
pub fn write_scene(text: &str, id: &str, scene: &Scene) -> Result<String, String> {
    use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, value};
    fn point((x, y): (f32, f32)) -> Array {
        let mut a = Array::new();
        a.push(f64::from(x.round()) as i64);
        a.push(f64::from(y.round()) as i64);
        a
    }
    fn labels(l: &[String]) -> Array {
        l.iter().map(String::as_str).collect()
    }
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|_| "the cameras file does not parse as TOML now".to_owned())?;
    let stream = doc
        .get_mut("stream")
        .and_then(Item::as_array_of_tables_mut)
        .and_then(|streams| {
            streams
                .iter_mut()
                .find(|t| t.get("id").and_then(Item::as_str) == Some(id))
        })
        .ok_or_else(|| {
            "the cameras file has no [[stream]] with this id: only a camera the file names \
             by its id is written back"
                .to_owned()
        })?;
    stream.remove("zone");
    stream.remove("line");
    let default_inertia = Zone::new("", Vec::new()).inertia;
    let default_band = Line::new("", (0.0, 0.0), (1.0, 0.0)).band;
    if !scene.zones.is_empty() {
        let mut zones = ArrayOfTables::new();
        for z in &scene.zones {
            let mut t = Table::new();
            t["name"] = value(z.name.as_str());
            t["polygon"] = value(z.polygon.iter().copied().map(point).collect::<Array>());
            if !z.labels.is_empty() {
                t["labels"] = value(labels(&z.labels));
            }
            if z.inertia != default_inertia {
                t["inertia"] = value(i64::from(z.inertia));
            }
            if let Some(s) = z.loiter_seconds {
                t["loiter_seconds"] = value(s);
            }
            zones.push(t);
        }
        stream.insert("zone", Item::ArrayOfTables(zones));
    }
    if !scene.lines.is_empty() {
        let mut lines = ArrayOfTables::new();
        for l in &scene.lines {
            let mut t = Table::new();
            t["name"] = value(l.name.as_str());
            t["from"] = value(point(l.from));
            t["to"] = value(point(l.to));
            if !l.labels.is_empty() {
                t["labels"] = value(labels(&l.labels));
            }
            if l.band != default_band {
                t["band"] = value(f64::from(l.band));
            }
            lines.push(t);
        }
        stream.insert("line", Item::ArrayOfTables(lines));
    }
    Ok(doc.to_string())
}

/// One camera to connect. `Debug` shows the URL redacted and no password.
#[derive(Clone, PartialEq)]
pub struct Camera {
    pub id: String,
    pub url: String,
    pub credentials: Option<(String, String)>,
    pub transport: Option<Transport>,
    pub scene: Scene,
    /// Track ids start after this (0: from 1).
    pub first_track_id: u64,
    /// In a fleet, the lease this camera runs under: its results are published under this
    /// fencing token (and its track ids start at `token << 32`). `None` outside a fleet.
    pub lease_token: Option<u64>,
    /// Pictures to the detector per second at most (`None`: the engine's default).
    pub detect_fps: Option<f64>,
    /// Tracks to go on from (a fleet's previous owner's snapshot); never from a file or a
    /// request.
    pub resume_tracks: Option<rtsp_worker::TrackSnapshot>,
    /// The camera's own webhooks, besides the process's.
    pub webhooks: Vec<Endpoint>,
}

impl std::fmt::Debug for Camera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Camera")
            .field("id", &self.id)
            .field("url", &RedactedUrl::from_text(&self.url))
            .field(
                "credentials",
                &self.credentials.as_ref().map(|(user, _)| (user, "***")),
            )
            .field("transport", &self.transport)
            .field("scene", &self.scene)
            .field("first_track_id", &self.first_track_id)
            .field("lease_token", &self.lease_token)
            .field("detect_fps", &self.detect_fps)
            .field("webhooks", &self.webhooks)
            .finish()
    }
}

/// What a camera's source may ask for: the operator's command line and config file are
/// trusted with the machine's environment (and with its files under `--allow-file-urls`);
/// the HTTP API and the fleet's registry are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trust {
    /// `file://` URLs (a local clip replayed).
    pub file_urls: bool,
    /// `password_env` (a password read from this process's environment).
    pub password_env: bool,
}

impl Trust {
    /// The operator's own command line or config file.
    pub fn operator(allow_file_urls: bool) -> Self {
        Self {
            file_urls: allow_file_urls,
            password_env: true,
        }
    }

    /// Anything that comes over a network: the HTTP API, the fleet's registry.
    pub const NETWORK: Self = Self {
        file_urls: false,
        password_env: false,
    };
}

/// Engine settings a file may give.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Engine {
    pub model: Option<PathBuf>,
    pub device: Option<String>,
    pub tracker: Option<String>,
    pub track_trust: Option<f32>,
    pub track_lost_frames: Option<u32>,
    pub confidence: Option<f32>,
    pub batch_size: Option<usize>,
    /// `--decode-workers`.
    pub decode_workers: Option<usize>,
    pub detect_fps: Option<f64>,
    pub wide_input: Option<bool>,
    /// The folder whose models the HTTP API may swap to (`--model-dir`).
    pub model_dir: Option<PathBuf>,
}

/// Outputs a file may turn on. `Debug` redacts the MQTT URL, which may hold a password.
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outputs {
    pub http: Option<String>,
    /// The HTTP server's token, in a file of its own (`--http-token-file`).
    pub http_token_file: Option<PathBuf>,
    /// Host names the HTTP server answers to (`--http-host`).
    #[serde(default)]
    pub http_hosts: Vec<String>,
    /// `/metrics` without the token (`--metrics-public`).
    pub metrics_public: Option<bool>,
    pub mqtt: Option<String>,
    pub mqtt_prefix: Option<String>,
    /// Home Assistant's discovery prefix, or `"off"` (`--mqtt-discovery`).
    pub mqtt_discovery: Option<String>,
    /// The MQTT password, in a file of its own (`--mqtt-password-file`).
    pub mqtt_password_file: Option<PathBuf>,
    /// PEM roots for `mqtts://` (`--mqtt-ca-file`).
    pub mqtt_ca_file: Option<PathBuf>,
    pub snapshots: Option<PathBuf>,
    pub snapshot_every: Option<f64>,
    pub json: Option<bool>,
    pub events: Option<bool>,
    /// The process's webhooks (`--webhook`): a URL or a list; they may hold secret ids in
    /// their paths (never shown).
    #[serde(default, deserialize_with = "urls")]
    pub webhook: Vec<String>,
    pub webhook_secret_file: Option<PathBuf>,
    pub webhook_ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for Outputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outputs")
            .field("http", &self.http)
            .field("http_token_file", &self.http_token_file)
            .field("http_hosts", &self.http_hosts)
            .field("metrics_public", &self.metrics_public)
            .field("mqtt", &self.mqtt.as_deref().map(RedactedUrl::from_text))
            .field("mqtt_prefix", &self.mqtt_prefix)
            .field("mqtt_discovery", &self.mqtt_discovery)
            .field("mqtt_password_file", &self.mqtt_password_file)
            .field("mqtt_ca_file", &self.mqtt_ca_file)
            .field("snapshots", &self.snapshots)
            .field("snapshot_every", &self.snapshot_every)
            .field("json", &self.json)
            .field("events", &self.events)
            .field("webhook", &self.webhook.len())
            .field("webhook_secret_file", &self.webhook_secret_file)
            .field("webhook_ca_file", &self.webhook_ca_file)
            .finish()
    }
}

/// A whole config file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    pub engine: Engine,
    pub outputs: Outputs,
    pub cameras: Vec<Camera>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    engine: Engine,
    #[serde(default)]
    outputs: Outputs,
    #[serde(default)]
    stream: Vec<Spanned<Entry>>,
}

/// A camera as a file or the HTTP API gives it. `Debug` shows no password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub id: Option<String>,
    pub url: String,
    pub username: Option<String>,
    #[serde(default, deserialize_with = "secret")]
    pub password: Option<String>,
    pub password_env: Option<String>,
    pub transport: Option<String>,
    #[serde(default, alias = "zones")]
    pub zone: Vec<Zone>,
    #[serde(default, alias = "lines")]
    pub line: Vec<Line>,
    pub detect_fps: Option<f64>,
    /// This camera's own webhooks, besides the process's: a URL or a list of them.
    #[serde(default, deserialize_with = "urls")]
    pub webhook: Vec<String>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("id", &self.id)
            .field("url", &RedactedUrl::from_text(&self.url))
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("password_env", &self.password_env)
            .field("transport", &self.transport)
            .field("zone", &self.zone)
            .field("line", &self.line)
            .field("detect_fps", &self.detect_fps)
            .field("webhook", &self.webhook.len())
            .finish()
    }
}

/// Webhook URLs: one string or a list of them, and an error that never quotes them (serde's
/// own "invalid type: string \"https://…\"" would show a secret path).
fn urls<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Urls {
        One(String),
        Many(Vec<String>),
    }
    match Urls::deserialize(d) {
        Ok(Urls::One(u)) => Ok(vec![u]),
        Ok(Urls::Many(u)) => Ok(u),
        Err(_) => Err(serde::de::Error::custom(
            "webhook must be a URL or a list of URLs (what was given is not shown)",
        )),
    }
}

/// A password: a string, and an error that never shows what was given instead (serde's
/// own "invalid type: integer `1234`" would).
fn secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use serde::de::{Error, MapAccess, SeqAccess, Visitor};
    struct Secret;
    const WRONG: &str = "password must be a string (what was given is not shown)";
    impl<'de> Visitor<'de> for Secret {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_owned()))
        }
        fn visit_string<E: Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: serde::Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(Secret)
        }
        fn visit_bool<E: Error>(self, _: bool) -> Result<Self::Value, E> {
            Err(E::custom(WRONG))
        }
        fn visit_i64<E: Error>(self, _: i64) -> Result<Self::Value, E> {
            Err(E::custom(WRONG))
        }
        fn visit_u64<E: Error>(self, _: u64) -> Result<Self::Value, E> {
            Err(E::custom(WRONG))
        }
        fn visit_i128<E: Error>(self, _: i128) -> Result<Self::Value, E> {
            Err(E::custom(WRONG))
        }
        fn visit_u128<E: Error>(self, _: u128) -> Result<Self::Value, E> {
            Err(E::custom(WRONG))
        }
        fn visit_f64<E: Error>(self, _: f64) -> Result<Self::Value, E> {
            Err(E::custom(WRONG))
        }
        fn visit_bytes<E: Error>(self, _: &[u8]) -> Result<Self::Value, E> {
            Err(E::custom(WRONG))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(A::Error::custom(WRONG))
        }
        fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(A::Error::custom(WRONG))
        }
    }
    d.deserialize_any(Secret)
}

/// Parses a transport name.
pub fn transport(name: &str) -> Result<Transport, String> {
    name.parse()
        .map_err(|e: rtsp_worker::CameraError| e.to_string())
}

/// Line and column (1-based) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// The cameras given as URLs on the command line, `stream_0`, `stream_1`, … in order (the
/// cameras file's id-less ones are numbered after them). Errors name a URL by its place, never
/// quote it: it may hold a password.
pub fn command_line(urls: &[String], allow_file_urls: bool) -> Result<Vec<Camera>, String> {
    urls.iter()
        .enumerate()
        .map(|(n, url)| {
            let entry = Entry {
                id: None,
                url: url.clone(),
                username: None,
                password: None,
                password_env: None,
                transport: None,
                zone: Vec::new(),
                line: Vec::new(),
                detect_fps: None,
                webhook: Vec::new(),
            };
            entry.into_camera(
                rtsp_worker::numbered_stream_id(n),
                &format!("camera URL #{}", n + 1),
                Trust::operator(allow_file_urls),
            )
        })
        .collect()
}

/// Reads a config file; `allow_file_urls` is the command line's `--allow-file-urls`.
pub fn load(path: &Path, first_free: usize, allow_file_urls: bool) -> Result<Config, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    parse(&text, first_free, allow_file_urls).map_err(|e| format!("{}:{e}", path.display()))
}

impl Entry {
    /// Checks the entry and resolves its password; `which` names it in errors, `trust` says
    /// what its source may ask for.
    pub fn into_camera(self, id: String, which: &str, trust: Trust) -> Result<Camera, String> {
        let url = self.url.trim();
        let lower = url.to_ascii_lowercase();
        let rtsp = lower.starts_with("rtsp://") && url.len() > "rtsp://".len();
        // A clip played in a loop: for tests and benchmarks, from the operator only.
        let file = rtsp_worker::is_file_url(url);
        if !rtsp && !file {
            return Err(format!(
                "{which}: url must be rtsp://host/… (or file:///clip.h264 with --allow-file-urls)"
            ));
        }
        if file && !trust.file_urls {
            return Err(format!(
                "{which}: {}",
                if trust == Trust::NETWORK {
                    rtsp_worker::Error::FileUrlRefused.to_string()
                } else {
                    "file:// URLs replay a local clip: give --allow-file-urls to take them".into()
                }
            ));
        }
        rtsp_worker::check_stream_id(&id).map_err(|e| {
            let short: String = which.chars().take(60).collect();
            format!("{short}: {e}")
        })?;
        if self.password_env.is_some() && !trust.password_env {
            return Err(format!(
                "{which}: password_env is for the operator's config file; here give password"
            ));
        }
        let password =
            match (self.password, self.password_env) {
                (Some(_), Some(_)) => {
                    return Err(format!("{which}: give password or password_env, not both"));
                }
                (Some(p), None) => Some(p),
                (None, Some(var)) => Some(std::env::var(&var).map_err(|_| {
                    format!("{which}: password_env names {var:?}, which is not set")
                })?),
                (None, None) => None,
            };
        let credentials = match (self.username, password) {
            (Some(u), Some(p)) => Some((u, p)),
            (Some(u), None) => Some((u, String::new())),
            (None, Some(_)) => return Err(format!("{which}: a password needs a username")),
            (None, None) => None,
        };
        let transport = self
            .transport
            .as_deref()
            .map(transport)
            .transpose()
            .map_err(|m| format!("{which}: {m}"))?;
        let scene = Scene {
            zones: self.zone,
            lines: self.line,
        };
        Analyzer::new(scene.clone()).map_err(|e| format!("{which}: {e}"))?;
        if let Some(fps) = self.detect_fps
            && !rtsp_worker::DETECT_FPS.contains(&fps)
        {
            return Err(format!(
                "{which}: detect_fps must be a number of frames per second from 0.001 to 1000"
            ));
        }
        let webhooks = Endpoint::parse_all(&self.webhook, which)?;
        Ok(Camera {
            id,
            url: url.to_owned(),
            credentials,
            transport,
            scene,
            first_track_id: 0,
            lease_token: None,
            detect_fps: self.detect_fps,
            resume_tracks: None,
            webhooks,
        })
    }
}

/// Parses a config file's text; errors start with `line:col: ` where it is known. Cameras
/// without an id are named `stream_N` from `first_free` on, in file order.
pub fn parse(text: &str, first_free: usize, allow_file_urls: bool) -> Result<Config, String> {
    let file: File = toml::from_str(text).map_err(|e| {
        // The message alone: the error's Display quotes the offending line, which may hold
        // a password.
        let at = e
            .span()
            .map(|s| {
                let (l, c) = line_col(text, s.start);
                format!("{l}:{c}: ")
            })
            .unwrap_or_else(|| " ".into());
        format!("{at}{}", e.message().trim())
    })?;
    if let Some(c) = file.engine.confidence
        && !(0.0..=1.0).contains(&c)
    {
        return Err(" [engine] confidence must be between 0 and 1".into());
    }
    if let Some(s) = file.outputs.snapshot_every
        && !(s > 0.0 && s.is_finite())
    {
        return Err(" [outputs] snapshot_every must be a positive number of seconds".into());
    }
    let mut ids = HashSet::new();
    let mut cameras = Vec::new();
    let mut next = first_free;
    for spanned in file.stream {
        let (l, _) = line_col(text, spanned.span().start);
        let e = spanned.into_inner();
        let id = match &e.id {
            Some(id) => id.clone(),
            None => {
                next += 1;
                rtsp_worker::numbered_stream_id(next - 1)
            }
        };
        let which = format!("{l}: stream {id:?}");
        if !ids.insert(id.clone()) {
            return Err(format!("{which}: the id is used twice"));
        }
        cameras.push(e.into_camera(id, &which, Trust::operator(allow_file_urls))?);
    }
    Ok(Config {
        engine: file.engine,
        outputs: file.outputs,
        cameras,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scene_as_toml_reads_back_as_itself() {
        let mut porch = Zone::new(
            "the \"porch\" ü",
            vec![(1.0, 2.0), (300.0, 2.0), (300.0, 200.0)],
        );
        porch.labels = vec!["person".into(), "dog".into()];
        porch.inertia = 5;
        porch.loiter_seconds = Some(12.5);
        let mut gate = Line::new("gate", (640.0, 0.0), (640.0, 720.0));
        gate.band = 10.0;
        let scene = Scene {
            zones: vec![
                porch,
                Zone::new("yard", vec![(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)]),
            ],
            lines: vec![gate],
        };
        let text = format!(
            "[[stream]]\nid = \"a\"\nurl = \"rtsp://192.0.2.1/a\"\n\n{}",
            scene_toml(&scene)
        );
        let c = parse(&text, 0, false).unwrap();
        assert_eq!(c.cameras[0].scene, scene, "{text}");
    }

    #[test]
    fn a_scene_written_into_the_file_keeps_everything_else() {
        let text = "# my cameras\n[engine]\nconfidence = 0.3 # tuned\n\n\
                    [[stream]]\nid = \"door\"\nurl = \"rtsp://192.0.2.1/a\"\n\n\
                    # the old porch\n[[stream.zone]]\nname = \"porch\"\n\
                    polygon = [[0, 0], [10, 0], [0, 10]]\n\n\
                    [[stream]]\nid = \"yard\" # keep me\nurl = \"rtsp://192.0.2.2/b\"\n\n\
                    [[stream.line]]\nname = \"gate\"\nfrom = [1, 2]\nto = [3, 4]\n";
        let before = parse(text, 0, false).unwrap();
        let mut drawn = Zone::new("drawn", vec![(64.0, 35.0), (1216.0, 35.0), (1216.0, 682.0)]);
        drawn.labels = vec!["person".into()];
        drawn.loiter_seconds = Some(5.0);
        let scene = Scene {
            zones: vec![drawn],
            lines: vec![Line::new("middle", (640.0, 0.0), (640.0, 720.0))],
        };
        let written = write_scene(text, "door", &scene).unwrap();
        let after = parse(&written, 0, false).unwrap();
        assert_eq!(after.cameras[0].scene, scene, "{written}");
        assert_eq!(after.cameras[1], before.cameras[1], "{written}");
        assert_eq!(after.engine.confidence, before.engine.confidence);
        for kept in ["# my cameras", "# tuned", "# keep me"] {
            assert!(written.contains(kept), "{kept}: {written}");
        }
        assert!(written.find("\"door\"") < written.find("\"drawn\""));
        assert!(
            written.find("\"drawn\"") < written.find("\"yard\""),
            "{written}"
        );
        // No zones: the tables go.
        let none = write_scene(&written, "door", &Scene::default()).unwrap();
        assert!(parse(&none, 0, false).unwrap().cameras[0].scene.is_empty());
        assert!(write_scene(text, "lobby", &scene).is_err());
        assert!(write_scene("[[stream]\n", "door", &scene).is_err());
    }

    #[test]
    fn a_good_file() {
        let c = parse(
            r#"
            [engine]
            device = "cpu"
            decode_workers = 0

            [outputs]
            mqtt = "mqtt://127.0.0.1:1883"

            [[stream]]
            id = "door"
            url = "rtsp://192.0.2.10/a"
            username = "admin"
            password = "pw"
            transport = "udp"
            detect_fps = 2.5

            [[stream.zone]]
            name = "porch"
            polygon = [[0, 0], [100, 0], [100, 100]]
            labels = ["person"]

            [[stream.line]]
            name = "gate"
            from = [50, 0]
            to = [50, 100]

            [[stream]]
            url = "rtsp://192.0.2.11/b"
            "#,
            3,
            false,
        )
        .unwrap();
        assert_eq!(c.engine.device.as_deref(), Some("cpu"));
        assert_eq!(c.engine.decode_workers, Some(0));
        assert_eq!(c.outputs.mqtt.as_deref(), Some("mqtt://127.0.0.1:1883"));
        let cams = c.cameras;
        assert_eq!(cams.len(), 2);
        assert_eq!(cams[0].id, "door");
        assert_eq!(
            cams[0].credentials,
            Some(("admin".to_owned(), "pw".to_owned()))
        );
        assert_eq!(cams[0].transport, Some(Transport::Udp));
        assert_eq!((cams[0].detect_fps, cams[1].detect_fps), (Some(2.5), None));
        assert_eq!(cams[0].scene.zones[0].labels, ["person"]);
        assert_eq!(cams[0].scene.zones[0].inertia, 3);
        assert_eq!(cams[0].scene.lines[0].to, (50.0, 100.0));
        assert_eq!((cams[1].id.as_str(), cams[1].transport), ("stream_3", None));
        assert!(cams[1].scene.is_empty());
    }

    #[test]
    fn every_kind_of_error_says_where_and_never_quotes_a_password() {
        let cases: &[(&str, &str)] = &[
            // syntax
            (
                "[[stream]]\nurl = \"rtsp://a\"\npassword = \"s3cret\" oops\n",
                "3:",
            ),
            // unknown field
            ("[[stream]]\nurll = \"rtsp://a\"\n", "unknown field"),
            ("[enigne]\n", "unknown field"),
            // wrong type
            ("[[stream]]\nurl = 5\n", "invalid type"),
            // missing field
            ("[[stream]]\nid = \"x\"\n", "missing field"),
            // duplicate id
            (
                "[[stream]]\nid = \"x\"\nurl = \"rtsp://a\"\n[[stream]]\nid = \"x\"\nurl = \"rtsp://b\"\n",
                "4: stream \"x\": the id is used twice",
            ),
            // bad url
            (
                "[[stream]]\nurl = \"http://a\"\n",
                "1: stream \"stream_0\": url must be",
            ),
            // bad transport
            (
                "[[stream]]\nurl = \"rtsp://a\"\ntransport = \"quic\"\n",
                "quic",
            ),
            // a rate that is none, or whose interval would not fit a duration
            (
                "[[stream]]\nurl = \"rtsp://a\"\ndetect_fps = 0\n",
                "detect_fps must be",
            ),
            (
                "[[stream]]\nurl = \"rtsp://a\"\ndetect_fps = 1e-300\n",
                "detect_fps must be",
            ),
            // password and password_env
            (
                "[[stream]]\nurl = \"rtsp://a\"\nusername = \"u\"\npassword = \"s3cret\"\npassword_env = \"X\"\n",
                "not both",
            ),
            // unset password_env
            (
                "[[stream]]\nurl = \"rtsp://a\"\nusername = \"u\"\npassword_env = \"RTSP_WORKER_TEST_UNSET_VAR\"\n",
                "not set",
            ),
            // a password that is not a string is not echoed
            (
                "[[stream]]\nurl = \"rtsp://a\"\nusername = \"u\"\npassword = 7770777\n",
                "password must be a string",
            ),
            // password without user
            (
                "[[stream]]\nurl = \"rtsp://a\"\npassword = \"s3cret\"\n",
                "needs a username",
            ),
            // a zone with two corners
            (
                "[[stream]]\nurl = \"rtsp://a\"\n[[stream.zone]]\nname = \"z\"\npolygon = [[0, 0], [1, 1]]\n",
                "zone \"z\"",
            ),
            // a line of length zero
            (
                "[[stream]]\nurl = \"rtsp://a\"\n[[stream.line]]\nname = \"l\"\nfrom = [1, 1]\nto = [1, 1]\n",
                "line \"l\"",
            ),
            // a zone field that does not exist
            (
                "[[stream]]\nurl = \"rtsp://a\"\n[[stream.zone]]\nname = \"z\"\npolygon = [[0, 0], [1, 1], [0, 1]]\ncolour = 1\n",
                "unknown field",
            ),
            // an id too long for URLs, topics and file names
            (
                "[[stream]]\nid = \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"\nurl = \"rtsp://a\"\n",
                "is not 1–64 of",
            ),
            // out of range outputs and engine values
            ("[engine]\nconfidence = 2.0\n", "confidence"),
            ("[outputs]\nsnapshot_every = -1.0\n", "snapshot_every"),
        ];
        for (text, expected) in cases {
            let e = parse(text, 0, false).unwrap_err();
            assert!(e.contains(expected), "{text:?} gave {e:?}");
            assert!(!e.contains("s3cret") && !e.contains("7770777"), "{e}");
            assert!(
                e.trim_start()
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit() || c == '['),
                "errors say where: {e}"
            );
        }
    }

    #[test]
    fn webhooks_are_one_url_or_a_list_and_a_bad_one_is_not_quoted() {
        let c = parse(
            "[outputs]\nwebhook = \"http://127.0.0.1:9000/h\"\n\
             [[stream]]\nurl = \"rtsp://cam/1\"\nwebhook = [\"https://hooks.example/s3cret\"]\n",
            0,
            false,
        )
        .unwrap();
        assert_eq!(c.outputs.webhook, ["http://127.0.0.1:9000/h"]);
        assert_eq!(
            c.cameras[0].webhooks,
            [Endpoint::parse("https://hooks.example/s3cret").unwrap()]
        );
        for bad in [
            "webhook = 5",
            "webhook = \"ftp://host/s3cret\"",
            "webhook = [\"http://user:s3cret@host/\"]",
        ] {
            let e = parse(
                &format!("[[stream]]\nurl = \"rtsp://cam/1\"\n{bad}\n"),
                0,
                false,
            )
            .unwrap_err();
            assert!(e.contains("webhook") && !e.contains("s3cret"), "{e}");
        }
    }

    #[test]
    fn an_empty_file_has_no_cameras() {
        assert!(parse("", 0, false).unwrap().cameras.is_empty());
    }
}
