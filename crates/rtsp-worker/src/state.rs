//! One stream's shared state ([`StreamCore`]): its sequence, tracker, accounting and output
//! queue, and how a frame's outcome becomes a result. The decode thread (`stream_thread.rs`) and the
//! inference threads (`pipeline.rs`) both hand it outcomes; it knows neither.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use infer_trt::Detection;
use rtsp_ingest::CameraHandle;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::Settings;
use crate::live::Live;
use crate::outbox::Outbox;
use crate::picture::{FrameImage, Picture};
use crate::reported::{Reported, Shown};
use crate::resume::TrackSnapshot;
use crate::sequencer::Sequencer;
use crate::snapshot::{Latest, Snapshot};
use crate::stats::{Accounting, Drops, Rate, StreamState, StreamStats, Window};
use crate::{DetectedObject, Error, StreamEvent, TrackingResult};

/// The frame rate a track snapshot assumes until half a second of a camera's presentation
/// times has been seen.
const DEFAULT_FPS: f64 = 25.0;

/// What the facade knows of a frame besides its pixels: which camera frame it is and when it
/// arrived.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameMeta {
    pub(crate) frame_number: u64,
    pub(crate) rtp_timestamp: i64,
    /// Media time since the connection's first frame (presentation order).
    pub(crate) media_time: Duration,
    pub(crate) received: Instant,
    pub(crate) wall_clock: SystemTime,
    pub(crate) wall_clock_synced: bool,
    /// The camera's frame size (detections are mapped to it).
    pub(crate) camera: (u32, u32),
}

/// Which model a frame was detected by, as its stream's tracking needs to know: the
/// generation (1 for the model the manager was built with, then one more per swap) and its
/// class names (tracks end at the switch to a model whose classes differ).
#[derive(Debug)]
pub(crate) struct ModelTag {
    pub(crate) generation: u64,
    pub(crate) class_names: Arc<Vec<String>>,
}

/// Why a frame that reached the batcher did not become a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropKind {
    Superseded,
    InferenceFailed,
    Shutdown,
}

/// What became of an item of a stream's sequence.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Detections, in camera pixels.
    Detected {
        meta: FrameMeta,
        detections: Vec<Detection>,
        /// A copy of the frame, when the stream keeps snapshots and one is due.
        picture: Option<Arc<Picture>>,
        /// The model that saw it.
        model: Arc<ModelTag>,
    },
    /// The frame was dropped.
    Dropped(DropKind),
    /// A lifecycle event, in order with the frames.
    Event(StreamEvent),
}

/// Frame counters of one stream, each bumped where the frame's fate is known.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counters {
    /// Access units taken from the camera session.
    pub(crate) taken: u64,
    /// Access units given to a decoder.
    pub(crate) packets: u64,
    /// Frames taken out of a decoder.
    pub(crate) frames_out: u64,
    /// Dropped by a decoder (rejected, damaged, skipped to a keyframe).
    pub(crate) decoder_dropped: u64,
    /// Decoded frames a decoder's output had no room for.
    pub(crate) decoder_overflow: u64,
    /// Dropped in the facade's decode stage: no decoder, out of order, lost in a reset.
    pub(crate) undecodable: u64,
    /// Never decoded because the stream was stopping.
    pub(crate) stopping: u64,
    /// Not decoded: pictures nothing refers to that a newer frame would replace, and what
    /// the decode plan skipped.
    pub(crate) not_decoded: u64,
    /// Decoded only as references for a later picture (the decode plan).
    pub(crate) rate_limited: u64,
    /// Frames handed to the batcher and not yet released by the sequencer.
    pub(crate) outstanding: u64,
    pub(crate) superseded: u64,
    pub(crate) inference_failed: u64,
    pub(crate) shutdown: u64,
    /// Results produced.
    pub(crate) results: u64,
    /// Frames the tracker refused (see [`StreamStats::tracker_errors`]).
    pub(crate) tracker_errors: u64,
}

/// What is known of the stream besides the counters.
#[derive(Debug)]
pub(crate) struct Info {
    pub(crate) state: StreamState,
    pub(crate) codec: Option<&'static str>,
    pub(crate) width: Option<u32>,
    pub(crate) height: Option<u32>,
    pub(crate) transport: Option<&'static str>,
    /// How the stream decodes now (`decode_plan::Mode`).
    pub(crate) decode_mode: &'static str,
    pub(crate) reconnects: u64,
    pub(crate) last_error: Option<String>,
}

pub(crate) struct Inner {
    pub(crate) sequence: Sequencer<Outcome>,
    pub(crate) tracker: Box<dyn tracker::Tracker>,
    /// Which tracks the caller has seen, and their ids.
    pub(crate) reported: Reported,
    /// The camera's frame size; a new size starts a new tracker.
    pub(crate) size: Option<(u32, u32)>,
    pub(crate) counters: Counters,
    pub(crate) latency: Window,
    pub(crate) rate_in: Rate,
    pub(crate) rate_out: Rate,
    pub(crate) info: Info,
    /// The stream's zones and lines, if it has any.
    pub(crate) analyzer: Option<zones::Analyzer>,
    /// The analyzer's scene, to draw (changed only with it).
    pub(crate) scene: Option<Arc<zones::Scene>>,
    /// The zone and line counts of the latest result.
    pub(crate) counts: crate::SceneCounts,
    /// The latest frame kept for snapshots, with its result.
    pub(crate) latest: Option<Latest>,
    /// Tracks to go on from, restored on the first frame tracked.
    pub(crate) resume: Option<TrackSnapshot>,
    /// The last frame tracked: when it was captured, and the camera's frame rate measured
    /// over presentation times (for a track snapshot).
    pub(crate) last_tracked: Option<(SystemTime, f64)>,
    /// The first frame tracked in this connection (frame number, media time), to measure the
    /// frame rate from.
    pub(crate) rate_base: Option<(u64, Duration)>,
    /// The model of the last frame tracked (its class names name the tracks).
    pub(crate) model: Arc<ModelTag>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("counters", &self.counters)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// A stream's state shared by its worker thread, the inference threads and its handles.
#[derive(Debug)]
pub(crate) struct StreamCore {
    pub(crate) id: String,
    /// The stream's batcher key: unique per connection, even if an id is reused later.
    pub(crate) key: u64,
    pub(crate) camera: CameraHandle,
    pub(crate) inner: Mutex<Inner>,
    /// Rung when `outstanding` drops to zero.
    pub(crate) idle: Condvar,
    pub(crate) outbox: Outbox,
    pub(crate) stopping: AtomicBool,
    pub(crate) state: watch::Sender<StreamState>,
    pub(crate) confidence: f32,
    pub(crate) tracker_config: tracker::TrackerConfig,
    /// Attach each result's picture to it.
    pub(crate) keep_frames: bool,
    /// Zone time counts from here (frame arrival, monotonic).
    pub(crate) started: Instant,
    pub(crate) snapshot_interval: Option<Duration>,
    /// When the last picture was kept.
    pub(crate) last_picture: Mutex<Option<Instant>>,
    /// The last snapshot drawn, reused until a newer frame is kept.
    pub(crate) rendered: Mutex<Option<Snapshot>>,
    /// Live views: who watches, what they were sent.
    pub(crate) live: Live,
}

impl StreamCore {
    #[expect(
        clippy::too_many_arguments,
        reason = "one call site, in the manager, that names each"
    )]
    pub(crate) fn new(
        id: String,
        key: u64,
        camera: CameraHandle,
        settings: &Settings,
        model: Arc<ModelTag>,
        result_queue: usize,
        analyzer: Option<zones::Analyzer>,
        first_track_id: u64,
        keep_frames: bool,
    ) -> Self {
        let scene = analyzer.as_ref().map(|a| Arc::new(a.scene().clone()));
        Self {
            id,
            key,
            camera,
            inner: Mutex::new(Inner {
                sequence: Sequencer::default(),
                tracker: settings.tracker.build(),
                reported: Reported::new(settings.tracker.reporting, first_track_id),
                size: None,
                counters: Counters::default(),
                latency: Window::new(512),
                rate_in: Rate::default(),
                rate_out: Rate::default(),
                info: Info {
                    state: StreamState::Connecting,
                    codec: None,
                    width: None,
                    height: None,
                    transport: None,
                    decode_mode: "full",
                    reconnects: 0,
                    last_error: None,
                },
                latest: None,
                resume: None,
                last_tracked: None,
                rate_base: None,
                model,
                analyzer,
                scene,
                counts: crate::SceneCounts::default(),
            }),
            idle: Condvar::new(),
            outbox: Outbox::new(result_queue),
            stopping: AtomicBool::new(false),
            state: watch::channel(StreamState::Connecting).0,
            confidence: settings.confidence,
            tracker_config: settings.tracker,
            keep_frames,
            started: Instant::now(),
            snapshot_interval: settings.snapshot_interval,
            last_picture: Mutex::new(None),
            rendered: Mutex::new(None),
            live: Live::default(),
        }
    }

    /// A copy of `frame` if the stream keeps frames, or keeps snapshots and one is due (from
    /// an inference thread, before the frame goes back to its pool).
    pub(crate) fn picture_of(&self, frame: &gpu_decode::Frame) -> Option<Arc<Picture>> {
        if self.keep_frames || self.live.watched() {
            return Picture::copy_of(frame).map(Arc::new);
        }
        let every = self.snapshot_interval?;
        let now = Instant::now();
        {
            let mut last = self
                .last_picture
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|t| now.saturating_duration_since(t) < every) {
                return None;
            }
            *last = Some(now);
        }
        Picture::copy_of(frame).map(Arc::new)
    }

    /// The latest kept frame, annotated, as JPEG (drawn on the caller's thread, once per
    /// kept frame).
    pub(crate) fn snapshot(&self) -> Option<Snapshot> {
        // The latest frame read under the render lock: renders follow the frames in order,
        // so that many viewers at once never draw one frame twice.
        let mut rendered = self.rendered.lock().unwrap_or_else(PoisonError::into_inner);
        let latest = self.lock().latest.clone()?;
        if let Some(s) = rendered.as_ref()
            && s.frame_number == latest.result.frame_number
        {
            return Some(s.clone());
        }
        let s = crate::snapshot::render(&latest);
        self.live.encoded.fetch_add(1, Ordering::Relaxed);
        *rendered = Some(s.clone());
        Some(s)
    }

    /// A small JPEG around `bbox` in the latest kept picture.
    pub(crate) fn thumbnail(&self, bbox: [f32; 4], side: usize) -> Option<Vec<u8>> {
        let latest = self.lock().latest.clone()?;
        crate::snapshot::thumbnail(&latest, bbox, side)
    }

    /// Replaces the stream's zones and lines from its next frame on (an empty scene: none);
    /// what did not change keeps its state ([`zones::Analyzer::rescene`]).
    pub(crate) fn set_scene(&self, scene: zones::Scene) -> Result<(), zones::Error> {
        let mut inner = self.lock();
        let next = if scene.is_empty() {
            None
        } else {
            Some(match &inner.analyzer {
                Some(a) => a.rescene(scene)?,
                None => zones::Analyzer::new(scene)?,
            })
        };
        inner.scene = next.as_ref().map(|a| Arc::new(a.scene().clone()));
        inner.analyzer = next;
        Ok(())
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_state(&self, inner: &mut Inner, state: StreamState) {
        // Draining and Ended are final: a late lifecycle event does not undo them.
        let current = inner.info.state;
        if matches!(current, StreamState::Ended)
            || (current == StreamState::Draining && state != StreamState::Ended)
        {
            return;
        }
        inner.info.state = state;
        self.state.send_replace(state);
        if state == StreamState::Ended {
            self.live.end();
        }
    }

    /// A sequence number for a frame about to enter the batcher.
    pub(crate) fn issue_frame(&self) -> u64 {
        let mut inner = self.lock();
        inner.counters.outstanding += 1;
        inner.sequence.issue()
    }

    /// A lifecycle event, in order after everything issued before it.
    pub(crate) fn emit(&self, event: StreamEvent) {
        let mut inner = self.lock();
        let seq = inner.sequence.issue();
        self.resolve_locked(&mut inner, seq, Outcome::Event(event));
    }

    /// Reports the outcome of item `seq` (from any thread) and releases what is now in order.
    pub(crate) fn resolve(&self, seq: u64, outcome: Outcome) {
        let mut inner = self.lock();
        self.resolve_locked(&mut inner, seq, outcome);
    }

    pub(crate) fn resolve_locked(&self, inner: &mut Inner, seq: u64, outcome: Outcome) {
        if let Err(e) = inner.sequence.resolve(seq, outcome) {
            // Each item is resolved once by construction; say so loudly if not.
            warn!(stream = %self.id, ?e, "sequence error");
            return;
        }
        let mut released_frames = false;
        while let Some(outcome) = inner.sequence.pop() {
            match outcome {
                Outcome::Event(event) => {
                    self.outbox.push(event);
                }
                Outcome::Dropped(kind) => {
                    released_frames = true;
                    inner.counters.outstanding -= 1;
                    match kind {
                        DropKind::Superseded => inner.counters.superseded += 1,
                        DropKind::InferenceFailed => inner.counters.inference_failed += 1,
                        DropKind::Shutdown => inner.counters.shutdown += 1,
                    }
                }
                Outcome::Detected {
                    meta,
                    detections,
                    picture,
                    model,
                } => {
                    released_frames = true;
                    inner.counters.outstanding -= 1;
                    let mut result = self.track(inner, &meta, &detections, &model);
                    if let Some(picture) = picture {
                        if self.keep_frames {
                            result.frame =
                                Some(FrameImage::new(picture.clone(), inner.scene.clone()));
                        }
                        inner.latest = Some(Latest {
                            picture,
                            result: result.clone(),
                            scene: inner.scene.clone(),
                        });
                        self.live.publish();
                    }
                    self.outbox.push(StreamEvent::Result(result));
                }
            }
        }
        if released_frames && inner.counters.outstanding == 0 {
            self.idle.notify_all();
        }
    }

    /// Keeps what a track snapshot needs of the frame about to be tracked.
    fn note_rate(&self, inner: &mut Inner, meta: &FrameMeta) {
        let base = match inner.rate_base {
            Some((f, t)) if meta.frame_number >= f && meta.media_time >= t => (f, t),
            // First frame, or a new connection (media time starts again).
            _ => {
                inner.rate_base = Some((meta.frame_number, meta.media_time));
                (meta.frame_number, meta.media_time)
            }
        };
        let span = meta.media_time.saturating_sub(base.1).as_secs_f64();
        let fps = if span >= 0.5 {
            ((meta.frame_number - base.0) as f64 / span).clamp(0.01, 1000.0)
        } else {
            inner.last_tracked.map_or(DEFAULT_FPS, |(_, fps)| fps)
        };
        inner.last_tracked = Some((meta.wall_clock, fps));
    }

    /// The stream's tracks now: the snapshot to resume from if no frame was tracked since,
    /// else the tracker's state after the last frame tracked; `None` before the first.
    pub(crate) fn track_snapshot(&self) -> Option<TrackSnapshot> {
        let inner = self.lock();
        if let Some(s) = &inner.resume {
            return Some(s.clone());
        }
        let (captured, fps) = inner.last_tracked?;
        Some(TrackSnapshot::take(
            &*inner.tracker,
            inner.reported.reporter(),
            captured,
            inner.size?,
            fps,
            inner
                .analyzer
                .as_ref()
                .map(zones::Analyzer::save)
                .unwrap_or_default(),
        ))
    }

    /// Runs the tracker on one frame's detections and builds its result.
    pub(crate) fn track(
        &self,
        inner: &mut Inner,
        meta: &FrameMeta,
        detections: &[infer_trt::Detection],
        model: &Arc<ModelTag>,
    ) -> TrackingResult {
        // A frame of an older model than the last tracked (two batches under way across a
        // swap) whose classes differ: its class ids mean other things now, so it is tracked
        // without detections.
        let stale = model.generation < inner.model.generation
            && model.class_names != inner.model.class_names;
        let detections = if stale { &[][..] } else { detections };
        let input: Vec<tracker::Detection> = detections
            .iter()
            .map(|d| tracker::Detection {
                bbox: tracker::BBox::new(d.bbox[0], d.bbox[1], d.bbox[2], d.bbox[3]),
                confidence: d.confidence,
                class_id: d.class_id as u32,
            })
            .collect();
        if let Some(snapshot) = inner.resume.take() {
            // Going on from a snapshot: its tracks, ids and shown state, the frames since it
            // counted by capture time. A snapshot of another frame size, or one that does not
            // restore, leaves the stream with new tracks, said in the log (and, for the
            // latter, in the stream's last error).
            if snapshot.frame_size() == meta.camera {
                match snapshot.restore(&self.tracker_config, meta.frame_number, meta.wall_clock) {
                    Ok((tracker, reporter)) => {
                        inner.tracker = tracker;
                        inner.reported = Reported::from_reporter(reporter);
                        inner.size = Some(meta.camera);
                        // Who is in which zone since when, and the crossings counted, go on
                        // too: the snapshot's last update was `gap` seconds before this frame.
                        if let Some(analyzer) = inner.analyzer.as_mut()
                            && !snapshot.zones().is_empty()
                        {
                            let gap = snapshot
                                .captured()
                                .and_then(|c| meta.wall_clock.duration_since(c).ok())
                                .map_or(0.0, |d| d.as_secs_f64());
                            let now = meta
                                .received
                                .saturating_duration_since(self.started)
                                .as_secs_f64()
                                - gap;
                            match zones::Analyzer::load(
                                analyzer.scene().clone(),
                                snapshot.zones(),
                                now,
                            ) {
                                Ok(a) => *analyzer = a,
                                Err(e) => {
                                    warn!(stream = %self.id, error = %e, "zone state not restored; zones start empty");
                                }
                            }
                        }
                    }
                    Err(e) => {
                        warn!(stream = %self.id, error = %e, "track snapshot not restored; new tracks");
                        self.note_error(&e);
                    }
                }
            } else {
                info!(stream = %self.id, "track snapshot of another frame size; new tracks");
            }
        }
        self.note_rate(inner, meta);
        // A camera that changed its frame size (a new encoder setting) starts a new tracker:
        // the old tracks' boxes mean nothing in the new frame. They end here, and the new
        // tracker's ids follow the old ones' (ids are never reused within a stream).
        let mut reset_ended = Vec::new();
        let mut tracks_restarted = None;
        if inner.size.is_some_and(|s| s != meta.camera) {
            inner.tracker = self.tracker_config.build();
            reset_ended = inner.reported.restart(&inner.model.class_names);
            tracks_restarted = Some("frame_size_changed");
        }
        // A swapped model: tracks go on under one with the same classes; under one with
        // other classes they end here, named as the old model named them, and new ids follow.
        if model.generation > inner.model.generation {
            if model.class_names != inner.model.class_names {
                inner.tracker = self.tracker_config.build();
                let ended = inner.reported.restart(&inner.model.class_names);
                reset_ended.extend(ended);
                tracks_restarted = Some("model_changed");
                info!(stream = %self.id, generation = model.generation, "a model with other classes: tracks restarted");
            }
            inner.model = model.clone();
        }
        inner.size = Some(meta.camera);
        // Frame numbers only grow: the decode stage drops frames that come out of order. Were
        // that broken, the frame still becomes a result (without tracks), counted and logged;
        // debug builds (the tests) stop at once.
        let update = inner.tracker.update(meta.frame_number, &input);
        debug_assert!(update.is_ok(), "{}: {update:?}", self.id);
        let update = update.unwrap_or_else(|e| {
            inner.counters.tracker_errors += 1;
            warn!(stream = %self.id, error = %e, "the tracker refused a frame; its result has no tracks");
            tracker::Update::default()
        });
        let Shown {
            tracks: mut tracked_objects,
            unclipped,
            ended,
        } = inner
            .reported
            .show(&update, meta.camera, &inner.model.class_names);
        let mut ended_tracks = reset_ended;
        ended_tracks.extend(ended);
        let (mut zone_counts, mut line_counts, mut zone_events) = Default::default();
        if let Some(analyzer) = inner.analyzer.as_mut() {
            let objects: Vec<zones::Object> = tracked_objects
                .iter()
                .zip(&unclipped)
                .map(|(t, &bbox)| zones::Object {
                    track_id: t.track_id,
                    label: t.class_name.clone(),
                    bbox,
                })
                .collect();
            let ended: Vec<u64> = ended_tracks.iter().map(|t| t.track_id).collect();
            let time = meta
                .received
                .saturating_duration_since(self.started)
                .as_secs_f64();
            let update = analyzer.update(time, &objects, &ended);
            for (t, o) in tracked_objects.iter_mut().zip(update.objects) {
                debug_assert_eq!(t.track_id, o.track_id);
                t.zones = o.zones;
            }
            zone_counts = update.zone_counts;
            zone_events = update.events;
            line_counts = analyzer.line_counts();
        }
        inner.counts = crate::SceneCounts {
            zones: zone_counts.clone(),
            lines: line_counts.clone(),
        };
        let now = Instant::now();
        let latency = now.saturating_duration_since(meta.received);
        inner.latency.record(latency);
        inner.rate_out.tick(now);
        inner.counters.results += 1;
        TrackingResult {
            stream_id: self.id.clone(),
            frame_number: meta.frame_number,
            rtp_timestamp: meta.rtp_timestamp,
            timestamp: meta
                .wall_clock
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            wall_clock: meta.wall_clock,
            wall_clock_synced: meta.wall_clock_synced,
            captured_at: meta.received,
            latency_ms: (latency.as_secs_f64() * 1e6).round() / 1e3,
            width: meta.camera.0,
            height: meta.camera.1,
            detections: detections
                .iter()
                .filter(|d| d.confidence >= self.confidence)
                .map(|d| DetectedObject {
                    class_id: d.class_id as u32,
                    class_name: d.class_name.clone(),
                    confidence: d.confidence,
                    bbox: d.bbox,
                })
                .collect(),
            tracked_objects,
            ended_tracks,
            tracks_restarted,
            zone_counts,
            line_counts,
            zone_events,
            frame: None,
        }
    }

    /// Records a non-fatal error as the stream's last.
    pub(crate) fn note_error(&self, error: &Error) {
        self.lock().info.last_error = Some(error.to_string());
    }

    /// Stops taking frames from the camera and asks the session to end; what is in the
    /// pipeline drains.
    pub(crate) fn begin_stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        {
            let mut inner = self.lock();
            self.set_state(&mut inner, StreamState::Draining);
        }
        self.camera.stop();
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Waits (blocking) until every frame handed to the batcher is released, or `limit`.
    pub(crate) fn wait_idle(&self, limit: Duration) -> bool {
        // `Duration::MAX` (no limit) does not fit in an `Instant`.
        let deadline = Instant::now().checked_add(limit);
        let mut inner = self.lock();
        while inner.counters.outstanding > 0 {
            inner = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    self.idle
                        .wait_timeout(inner, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .idle
                    .wait(inner)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
        true
    }

    /// A snapshot of the stream's statistics.
    pub(crate) fn stats(&self) -> StreamStats {
        let ingest = self.camera.stats();
        let results_evicted = self.outbox.lock().results_evicted;
        let mut inner = self.lock();
        let now = Instant::now();
        let c = inner.counters;
        let handed_over = ingest.delivered.saturating_sub(c.taken);
        let in_decoder = c
            .packets
            .saturating_sub(c.decoder_dropped + c.decoder_overflow + c.frames_out);
        let accounting = Accounting {
            received: ingest.frames,
            results: c.results.saturating_sub(results_evicted),
            dropped: Drops {
                ingest_gap: ingest.drops.total(),
                decode_error: c.decoder_dropped + c.undecodable,
                decoder_overflow: c.decoder_overflow,
                superseded: c.superseded,
                inference_failed: c.inference_failed,
                consumer_too_slow: results_evicted,
                not_decoded: c.not_decoded,
                rate_limited: c.rate_limited,
                shutdown: c.shutdown + c.stopping,
            },
            in_pipeline: ingest.queued + handed_over + in_decoder + c.outstanding,
        };
        let fps_in = inner.rate_in.per_second(now);
        let fps_out = inner.rate_out.per_second(now);
        StreamStats {
            id: self.id.clone(),
            url: self.camera.url().to_string(),
            state: inner.info.state,
            codec: inner.info.codec,
            width: inner.info.width,
            height: inner.info.height,
            transport: inner.info.transport,
            decode_mode: inner.info.decode_mode,
            fps_in,
            fps_out,
            latency_ms: inner.latency.summary(),
            reconnects: inner.info.reconnects,
            timestamp_jumps: ingest.timestamp_jumps,
            tracker_errors: c.tracker_errors,
            last_error: inner.info.last_error.clone(),
            accounting,
            live: self.live.stats(),
        }
    }
}
