//! The HTTP server (`--http ADDR`, on axum): the JSON API to list, add and remove cameras and
//! read statistics, `/metrics` for Prometheus, health and readiness probes, annotated
//! snapshots, and the status page. It binds before the model loads, so that probes answer
//! (not ready) while it does. Every error is a JSON body `{"error": …, "kind": …}` with a 4xx
//! or 5xx status; no response carries a password (URLs come redacted from the facade).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rtsp_worker::{Error, StreamState, StreamStats};
use serde::Serialize;
use serde_json::{Value, json};
use tower::ServiceBuilder;

use crate::config::{Entry, Trust};
use crate::registry::{Origin, Service};

pub mod error;
pub mod guard;
pub mod server;

pub use crate::metrics::ConnStats;
pub use error::ApiError;
pub use guard::{Access, Token};
pub use server::{Limits, Serving};

/// The largest request body taken (a camera with a few zones is well under 10 KiB).
pub const BODY_LIMIT: usize = 64 * 1024;

/// API requests handled at once; more are answered 503 at once.
const CONCURRENT_REQUESTS: usize = 32;
/// A request (body read, handler, answer) that takes longer is answered 408.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A request body must arrive within this.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// The status page: one static file, no framework, no CDN.
const PAGE: &str = include_str!("status.html");

/// What the handlers share: the service, once the model has loaded.
#[derive(Debug, Default)]
pub struct AppState {
    pub service: OnceLock<Arc<Service>>,
}

type Shared = Arc<AppState>;

/// Parses `--http`'s address (`HOST:PORT`).
pub fn parse_addr(addr: &str) -> Result<SocketAddr, String> {
    addr.parse()
        .map_err(|_| format!("--http {addr:?} is not HOST:PORT (e.g. 127.0.0.1:8080)"))
}

/// Binds the address.
pub fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, String> {
    server::bind(addr).map_err(|e| format!("--http {addr}: cannot listen: {e}"))
}

/// Serves the API on `listener` until stopped, behind the checks of `access` and the
/// server's `limits`.
pub fn serve(
    listener: std::net::TcpListener,
    state: Shared,
    access: Access,
    limits: Limits,
    stats: Arc<ConnStats>,
) -> Result<Serving, String> {
    server::serve(listener, router(state, Arc::new(access)), limits, stats)
        .map_err(|e| format!("the HTTP server cannot start: {e}"))
}

fn router(state: Shared, access: Arc<Access>) -> Router {
    // The probes and the static page: never queued behind API requests.
    let open = Router::new()
        .route("/", get(page))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    let api = Router::new()
        .route("/metrics", get(metrics))
        .route("/api/v1/stats", get(stats))
        .route("/api/v1/streams", get(list).post(add))
        .route("/api/v1/streams/{id}", get(one).delete(remove))
        .route("/api/v1/streams/{id}/snapshot.jpg", get(snapshot))
        .route("/api/v1/streams/{id}/live.mjpeg", get(live))
        .route("/api/v1/streams/{id}/scene", get(scene).put(set_scene))
        .route("/api/v1/streams/{id}/scene/save", post(save_scene))
        .route("/api/v1/events", get(events))
        .route("/api/v1/events/{id}/thumbnail.jpg", get(event_thumbnail))
        .route("/api/v1/reload", post(reload))
        .route("/api/v1/model", get(model).post(swap_model))
        .route_layer(axum::middleware::from_fn(guard::json_only))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                    ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "busy",
                        "too many requests at once; try again",
                    )
                }))
                .load_shed()
                .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
                    CONCURRENT_REQUESTS,
                ))
                .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    REQUEST_TIMEOUT,
                ))
                .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
                    BODY_TIMEOUT,
                )),
        );
    open.merge(api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(access, guard::check))
        .with_state(state)
}

/// What a handler answers: a response, or an error that becomes one.
type Answer = Result<Response, ApiError>;

/// The service, once the model has loaded: a handler that takes it answers 503 before.
struct Ready(Arc<Service>);

impl FromRequestParts<Shared> for Ready {
    type Rejection = ApiError;

    async fn from_request_parts(_: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        state.service.get().cloned().map(Ready).ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "starting",
                "starting: the model is loading",
            )
        })
    }
}

/// The body of `POST /api/v1/streams`: `{"id": …, "url": …, "options": {"username",
/// "password", "transport", "zones", "lines"}}` (the options may also sit at the top level),
/// read within [`BODY_LIMIT`] and parsed; the value as given is kept for a fleet's registry.
struct StreamBody {
    entry: Entry,
    value: Value,
}

impl<S: Send + Sync> FromRequest<S> for StreamBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bad = |kind, message: String| ApiError::new(StatusCode::BAD_REQUEST, kind, message);
        let body = Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            let kind = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "too_large"
            } else {
                "bad_body"
            };
            ApiError::new(status, kind, rejection.body_text())
        })?;
        // serde_json's message names line and column, never the text itself.
        let mut value: Value = serde_json::from_slice(&body)
            .map_err(|e| bad("bad_json", format!("the body is not JSON: {e}")))?;
        let Some(map) = value.as_object_mut() else {
            return Err(bad(
                "bad_json",
                "the body must be a JSON object: {\"id\": …, \"url\": \"rtsp://…\", \"options\": {…}}"
                    .to_owned(),
            ));
        };
        if let Some(options) = map.remove("options") {
            let Value::Object(options) = options else {
                return Err(bad("bad_json", "\"options\" must be an object".to_owned()));
            };
            for (k, v) in options {
                if map.insert(k.clone(), v).is_some() {
                    return Err(bad(
                        "bad_json",
                        format!("{k:?} is given twice (top level and options)"),
                    ));
                }
            }
        }
        if map.contains_key("password_env") {
            return Err(bad(
                "bad_request",
                "password_env is for config files; over the API give password".to_owned(),
            ));
        }
        let entry = serde_json::from_value(value.clone())
            .map_err(|e| bad("bad_request", format!("bad stream: {e}")))?;
        Ok(Self { entry, value })
    }
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route (see /api/v1/streams, /api/v1/stats, /metrics, /healthz, /readyz)",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

async fn page() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response()
}

async fn healthz() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

async fn readyz(State(state): State<Shared>) -> Answer {
    let Some(service) = state.service.get() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "starting",
            "not ready: the model is loading",
        ));
    };
    let stats = service.manager.get_stats();
    let connected = stats
        .streams
        .values()
        .filter(|s| s.state == StreamState::Connected)
        .count();
    if stats.streams.is_empty() || connected > 0 {
        Ok(axum::Json(
            json!({"ready": true, "streams": stats.streams.len(), "connected": connected}),
        )
        .into_response())
    } else {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            format!(
                "not ready: none of {} streams is connected",
                stats.streams.len()
            ),
        ))
    }
}

async fn metrics(Ready(service): Ready) -> Response {
    let text = service.metrics.render(&service.manager.get_stats());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn stats(Ready(service): Ready) -> Response {
    axum::Json(service.manager.get_stats()).into_response()
}

/// A stream as the API shows it: its statistics (URL redacted), where it came from, its
/// zones, lines and own webhooks.
#[derive(Serialize)]
struct StreamView {
    #[serde(flatten)]
    stats: StreamStats,
    origin: Option<Origin>,
    zones: Vec<String>,
    lines: Vec<String>,
    /// The camera's own webhooks, as `scheme://host:port` (never their paths).
    webhooks: Vec<String>,
}

fn view(service: &Service, stats: StreamStats, origins: &BTreeMap<String, Origin>) -> StreamView {
    let scene = service
        .manager
        .stream(&stats.id)
        .and_then(|c| c.scene())
        .map(|s| (*s).clone())
        .unwrap_or_default();
    StreamView {
        origin: origins.get(&stats.id).copied(),
        zones: scene.zones.into_iter().map(|z| z.name).collect(),
        lines: scene.lines.into_iter().map(|l| l.name).collect(),
        webhooks: service.webhooks(&stats.id),
        stats,
    }
}

async fn list(Ready(service): Ready) -> Response {
    let origins = service.origins();
    let views: Vec<StreamView> = service
        .manager
        .get_stats()
        .streams
        .into_values()
        .map(|s| view(&service, s, &origins))
        .collect();
    axum::Json(views).into_response()
}

async fn one(Ready(service): Ready, Path(id): Path<String>) -> Answer {
    let c = service
        .manager
        .stream(&id)
        .ok_or(Error::UnknownStream(id))?;
    Ok(axum::Json(view(&service, c.stats(), &service.origins())).into_response())
}

/// `POST /api/v1/streams` ([`StreamBody`]).
async fn add(Ready(service): Ready, body: StreamBody) -> Answer {
    let StreamBody { entry, value } = body;
    let id = entry.id.clone().unwrap_or_else(|| {
        let taken = service.manager.stream_ids();
        rtsp_worker::free_stream_id(0, |id| taken.iter().any(|t| t == id))
    });
    let camera = entry
        .into_camera(id.clone(), &format!("stream {id:?}"), Trust::NETWORK)
        .map_err(|m| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", m))?;
    if let Some(fleet) = service.fleet() {
        // In a fleet the API edits the registry; the camera's owner starts it.
        drop(camera);
        fleet.register(&id, &value).await?;
        return Ok((
            StatusCode::CREATED,
            axum::Json(json!({"id": id, "registry": "added"})),
        )
            .into_response());
    }
    let conn = service.add(camera, Origin::Api).await?;
    let body = view(&service, conn.stats(), &service.origins());
    let mut r = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/streams/{}", url_segment(&id))) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

/// Percent-encodes an id for a URL path segment.
fn url_segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn remove(Ready(service): Ready, Path(id): Path<String>) -> Answer {
    if let Some(fleet) = service.fleet() {
        fleet.unregister(&id).await?;
        return Ok(axum::Json(json!({"id": id, "registry": "removed"})).into_response());
    }
    let stats = service.remove(&id).await?;
    Ok(axum::Json(stats).into_response())
}

async fn snapshot(Ready(service): Ready, Path(id): Path<String>) -> Answer {
    let conn = service
        .manager
        .stream(&id)
        .ok_or(Error::UnknownStream(id))?;
    // Drawing and encoding take a few milliseconds: off the async workers.
    let snap = tokio::task::spawn_blocking(move || conn.snapshot())
        .await
        .ok()
        .flatten();
    match snap {
        Some(s) if !s.jpeg.is_empty() => Ok((
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg")),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            Bytes::from(s.jpeg.to_vec()),
        )
            .into_response()),
        _ => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_snapshot",
            "no processed frame yet (snapshots need CPU-decoded frames)",
        )),
    }
}

/// `GET /api/v1/streams/{id}/scene`: the camera's zones and lines in camera pixels, the
/// picture size they refer to, their counts as of the latest result, and the same as TOML
/// for the cameras file.
async fn scene(Ready(service): Ready, Path(id): Path<String>) -> Answer {
    let c = service
        .manager
        .stream(&id)
        .ok_or(Error::UnknownStream(id))?;
    let scene = c.scene().map(|s| (*s).clone()).unwrap_or_default();
    let stats = c.stats();
    Ok(axum::Json(json!({
        "id": stats.id,
        "width": stats.width,
        "height": stats.height,
        "zones": scene.zones,
        "lines": scene.lines,
        "counts": c.scene_counts(),
        "toml": crate::config::scene_toml(&scene),
    }))
    .into_response())
}

/// `PUT /api/v1/streams/{id}/scene` with `{"zones": […], "lines": […]}` (the cameras file's
/// zone and line fields): the camera's zones and lines from its next result on, without a
/// reconnect; what did not change keeps its counts.
async fn set_scene(Ready(service): Ready, Path(id): Path<String>, body: Bytes) -> Answer {
    let scene: rtsp_worker::zones::Scene = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("the body must be {{\"zones\": [...], \"lines\": [...]}}: {e}"),
        )
    })?;
    if service.fleet().is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "fleet",
            "in a fleet a camera's zones are the registry's: register the camera again with \
             its new zones (POST /api/v1/streams)",
        ));
    }
    service.set_scene(&id, scene).await?;
    scene_after(&service, id).await
}

/// `POST /api/v1/streams/{id}/scene/save` (an empty JSON body): the camera's running zones
/// and lines written into the cameras file, the rest of the file kept as it was. 409 without
/// `--config`, for a camera not from the file, or a file that cannot be written.
async fn save_scene(Ready(service): Ready, Path(id): Path<String>) -> Answer {
    if service.manager.stream(&id).is_none() {
        return Err(Error::UnknownStream(id).into());
    }
    service
        .save_scene(&id)
        .await
        .map_err(|m| ApiError::new(StatusCode::CONFLICT, "not_saved", m))?;
    Ok(axum::Json(json!({"id": id, "saved": true})).into_response())
}

async fn scene_after(service: &Arc<Service>, id: String) -> Answer {
    scene(Ready(service.clone()), Path(id)).await
}

/// `GET /api/v1/events[?camera=ID][&limit=N]`: the newest events (track starts and ends,
/// zone and line events), newest first, each with the address of its thumbnail when it has
/// one. At most [`recent::PER_CAMERA`](crate::recent::PER_CAMERA) a camera are kept.
async fn events(Ready(service): Ready, uri: axum::http::Uri) -> Answer {
    let (mut camera, mut limit) = (None, 50usize);
    let bad = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the events take camera=ID and limit=N (1 to 1000)",
        )
    };
    for pair in uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        match pair.split_once('=') {
            Some(("camera", v)) => {
                camera = Some(percent_decode(v).ok_or_else(bad)?);
            }
            Some(("limit", v)) => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(bad)?;
            }
            _ => return Err(bad()),
        }
    }
    let list: Vec<Value> = service
        .recent
        .list(camera.as_deref(), limit)
        .into_iter()
        .map(|e| {
            let mut body = e.body;
            let id = body["id"].as_str().map(str::to_owned);
            if e.thumbnail.is_some()
                && let (Some(m), Some(id)) = (body.as_object_mut(), id)
            {
                m.insert(
                    "thumbnail".into(),
                    format!("/api/v1/events/{id}/thumbnail.jpg").into(),
                );
            }
            body
        })
        .collect();
    Ok(axum::Json(list).into_response())
}

/// `%XX` escapes decoded (a camera id in a query); `None` for a bad escape or bad UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let hex = [bytes.next()?, bytes.next()?];
                out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

async fn event_thumbnail(Ready(service): Ready, Path(id): Path<String>) -> Answer {
    let jpeg = service.recent.thumbnail(&id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such event, or it has no thumbnail (events are kept in memory, the newest \
             of each camera)",
        )
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg")),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=3600"),
            ),
        ],
        Bytes::from(jpeg.to_vec()),
    )
        .into_response())
}

/// Live views open at once on one stream; more are answered 503.
pub const LIVE_VIEWERS: usize = 32;
/// The multipart boundary of a live view.
const BOUNDARY: &str = "rtsp-worker-frame";

/// `GET /api/v1/streams/{id}/live.mjpeg[?fps=N]`: the annotated picture of each result as
/// multipart MJPEG, at most the stream's result rate (and `fps` a second when given), until
/// the stream ends or the viewer goes. A viewer slower than the stream gets the newest
/// picture each time it is ready for one: it skips pictures (counted in the stream's
/// `live.skipped`), nobody else does.
async fn live(Ready(service): Ready, Path(id): Path<String>, uri: axum::http::Uri) -> Answer {
    let fps = live_fps(uri.query())?;
    let conn = service
        .manager
        .stream(&id)
        .ok_or(Error::UnknownStream(id))?;
    let view = conn.live_view(LIVE_VIEWERS).ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_viewers",
            format!("this stream has {LIVE_VIEWERS} live views open already"),
        )
    })?;
    let every = fps.map(|f| Duration::from_secs_f64(1.0 / f));
    let parts = futures::stream::unfold(
        (view, None::<tokio::time::Instant>),
        move |(mut view, last)| async move {
            if let (Some(every), Some(last)) = (every, last) {
                tokio::time::sleep_until(last + every).await;
            }
            let snap = view.next().await?;
            let mut part = format!(
                "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\
                 X-Frame-Number: {}\r\n\r\n",
                snap.jpeg.len(),
                snap.frame_number
            )
            .into_bytes();
            part.extend_from_slice(&snap.jpeg);
            part.extend_from_slice(b"\r\n");
            Some((
                Ok::<_, std::convert::Infallible>(Bytes::from(part)),
                (view, Some(tokio::time::Instant::now())),
            ))
        },
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(concat!(
                    "multipart/x-mixed-replace; boundary=",
                    "rtsp-worker-frame"
                )),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        axum::body::Body::from_stream(parts),
    )
        .into_response())
}

/// A live view's `fps` cap from the query: a number above 0 and at most 100.
fn live_fps(query: Option<&str>) -> Result<Option<f64>, ApiError> {
    let mut fps = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let bad = || {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "the live view takes one parameter, fps, a number of pictures a second \
                 above 0 and at most 100",
            )
        };
        if key != "fps" {
            return Err(bad());
        }
        let f: f64 = value.parse().map_err(|_| bad())?;
        if !(f > 0.0 && f <= 100.0) {
            return Err(bad());
        }
        fps = Some(f);
    }
    Ok(fps)
}

async fn model(Ready(service): Ready) -> Response {
    axum::Json(service.manager.model()).into_response()
}

/// `POST /api/v1/model`: `{"path": "NAME.onnx", "restart_tracks": false}`, a file in the
/// operator's `--model-dir` named by its file name only (a caller never names a path).
async fn swap_model(Ready(service): Ready, body: Bytes) -> Answer {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Swap {
        path: String,
        #[serde(default)]
        restart_tracks: bool,
    }
    let swap: Swap = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("the body must be {{\"path\": \"NAME.onnx\", \"restart_tracks\": false}}: {e}"),
        )
    })?;
    if let Some(fleet) = service.fleet() {
        // In a fleet the model is the fleet's: every worker swaps to it.
        fleet.set_model(&swap.path, swap.restart_tracks).await?;
        return Ok((
            StatusCode::ACCEPTED,
            axum::Json(json!({"fleet": "model set", "path": swap.path})),
        )
            .into_response());
    }
    let stats = service
        .swap_model_named(&swap.path, swap.restart_tracks)
        .await?;
    Ok(axum::Json(stats).into_response())
}

async fn reload(Ready(service): Ready) -> Answer {
    let report = service
        .reload()
        .await
        .map_err(|m| ApiError::new(StatusCode::CONFLICT, "reload_refused", m))?;
    Ok(axum::Json(report).into_response())
}
