//! One stream: its shared state ([`StreamCore`]: sequence, tracker, accounting, output
//! queue), the thread that takes its camera's access units through the decoder to the
//! batcher, and the user's handles on it ([`StreamConnection`], [`ResultQueue`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::Stream;
use gpu_decode::{Codec, CodecConfig, CpuDecoder, CpuDecoderOptions, Decoder, Letterbox, Packet};
use rtsp_ingest::{AccessUnit, Camera, CameraHandle};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::config::{DecoderBackend, Settings};
use crate::outbox::Outbox;
use crate::pipeline::{DRAIN_PATIENCE, DropKind, Engine, FrameMeta, Item, Outcome};
use crate::reported::{Reported, Shown};
use crate::sequencer::Sequencer;
use crate::snapshot::{FrameImage, Latest, Picture, Snapshot};
use crate::stats::{Accounting, Drops, Rate, StreamState, StreamStats, Window};
use crate::{DetectedObject, Device, EndReason, Error, StreamEvent, TrackingResult};

/// Frame counters of one stream, each bumped where the frame's fate is known.
#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    /// Access units taken from the camera session.
    taken: u64,
    /// Access units given to a decoder.
    packets: u64,
    /// Frames taken out of a decoder.
    frames_out: u64,
    /// Dropped by a decoder (rejected, damaged, skipped to a keyframe).
    decoder_dropped: u64,
    /// Decoded frames a decoder's output had no room for.
    decoder_overflow: u64,
    /// Dropped in the facade's decode stage: no decoder, out of order, lost in a reset.
    undecodable: u64,
    /// Never decoded because the stream was stopping.
    not_decoded: u64,
    /// Frames handed to the batcher and not yet released by the sequencer.
    outstanding: u64,
    superseded: u64,
    inference_failed: u64,
    shutdown: u64,
    /// Results produced.
    results: u64,
}

/// What is known of the stream besides the counters.
#[derive(Debug)]
struct Info {
    state: StreamState,
    codec: Option<&'static str>,
    width: Option<u32>,
    height: Option<u32>,
    transport: Option<&'static str>,
    reconnects: u64,
    last_error: Option<String>,
}

struct Inner {
    sequence: Sequencer<Outcome>,
    tracker: Box<dyn tracker::Tracker>,
    /// Which tracks the caller has seen, and their ids.
    reported: Reported,
    /// The camera's frame size; a new size starts a new tracker.
    size: Option<(u32, u32)>,
    counters: Counters,
    latency: Window,
    rate_in: Rate,
    rate_out: Rate,
    info: Info,
    /// The stream's zones and lines, if it has any.
    analyzer: Option<zones::Analyzer>,
    /// The latest frame kept for snapshots, with its result.
    latest: Option<Latest>,
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
    camera: CameraHandle,
    inner: Mutex<Inner>,
    /// Rung when `outstanding` drops to zero.
    idle: Condvar,
    pub(crate) outbox: Outbox,
    stopping: AtomicBool,
    state: watch::Sender<StreamState>,
    class_names: Arc<Vec<String>>,
    confidence: f32,
    tracker_config: tracker::TrackerConfig,
    /// The zones and lines (for drawing; the analyzer has its own copy).
    scene: Option<Arc<zones::Scene>>,
    /// Attach each result's picture to it.
    keep_frames: bool,
    /// Zone time counts from here (frame arrival, monotonic).
    started: Instant,
    snapshot_interval: Option<Duration>,
    /// When the last picture was kept.
    last_picture: Mutex<Option<Instant>>,
    /// The last snapshot drawn, reused until a newer frame is kept.
    rendered: Mutex<Option<Snapshot>>,
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
        class_names: Arc<Vec<String>>,
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
                    reconnects: 0,
                    last_error: None,
                },
                latest: None,
                analyzer,
            }),
            idle: Condvar::new(),
            outbox: Outbox::new(result_queue),
            stopping: AtomicBool::new(false),
            state: watch::channel(StreamState::Connecting).0,
            class_names,
            confidence: settings.confidence,
            tracker_config: settings.tracker,
            scene,
            keep_frames,
            started: Instant::now(),
            snapshot_interval: settings.snapshot_interval,
            last_picture: Mutex::new(None),
            rendered: Mutex::new(None),
        }
    }

    /// A copy of `frame` if the stream keeps frames, or keeps snapshots and one is due (from
    /// an inference thread, before the frame goes back to its pool).
    pub(crate) fn picture_of(&self, frame: &gpu_decode::Frame) -> Option<Arc<Picture>> {
        if self.keep_frames {
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
        let latest = self.lock().latest.clone()?;
        let mut rendered = self.rendered.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = rendered.as_ref()
            && s.frame_number == latest.result.frame_number
        {
            return Some(s.clone());
        }
        let s = crate::snapshot::render(&latest, self.scene.as_deref());
        *rendered = Some(s.clone());
        Some(s)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_state(&self, inner: &mut Inner, state: StreamState) {
        // Draining and Ended are final: a late lifecycle event does not undo them.
        let current = inner.info.state;
        if matches!(current, StreamState::Ended)
            || (current == StreamState::Draining && state != StreamState::Ended)
        {
            return;
        }
        inner.info.state = state;
        self.state.send_replace(state);
    }

    /// A sequence number for a frame about to enter the batcher.
    fn issue_frame(&self) -> u64 {
        let mut inner = self.lock();
        inner.counters.outstanding += 1;
        inner.sequence.issue()
    }

    /// A lifecycle event, in order after everything issued before it.
    fn emit(&self, event: StreamEvent) {
        let mut inner = self.lock();
        let seq = inner.sequence.issue();
        self.resolve_locked(&mut inner, seq, Outcome::Event(event));
    }

    /// Reports the outcome of item `seq` (from any thread) and releases what is now in order.
    pub(crate) fn resolve(&self, seq: u64, outcome: Outcome) {
        let mut inner = self.lock();
        self.resolve_locked(&mut inner, seq, outcome);
    }

    fn resolve_locked(&self, inner: &mut Inner, seq: u64, outcome: Outcome) {
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
                } => {
                    released_frames = true;
                    inner.counters.outstanding -= 1;
                    let mut result = self.track(inner, &meta, &detections);
                    if let Some(picture) = picture {
                        if self.keep_frames {
                            result.frame =
                                Some(FrameImage::new(picture.clone(), self.scene.clone()));
                        }
                        inner.latest = Some(Latest {
                            picture,
                            result: result.clone(),
                        });
                    }
                    self.outbox.push(StreamEvent::Result(result));
                }
            }
        }
        if released_frames && inner.counters.outstanding == 0 {
            self.idle.notify_all();
        }
    }

    /// Runs the tracker on one frame's detections and builds its result.
    fn track(
        &self,
        inner: &mut Inner,
        meta: &FrameMeta,
        detections: &[infer_trt::Detection],
    ) -> TrackingResult {
        let input: Vec<tracker::Detection> = detections
            .iter()
            .map(|d| tracker::Detection {
                bbox: tracker::BBox::new(d.bbox[0], d.bbox[1], d.bbox[2], d.bbox[3]),
                confidence: d.confidence,
                class_id: d.class_id as u32,
            })
            .collect();
        // A camera that changed its frame size (a new encoder setting) starts a new tracker:
        // the old tracks' boxes mean nothing in the new frame. They end here, and the new
        // tracker's ids follow the old ones' (ids are never reused within a stream).
        let mut reset_ended = Vec::new();
        if inner.size.is_some_and(|s| s != meta.camera) {
            inner.tracker = self.tracker_config.build();
            reset_ended = inner.reported.restart(&self.class_names);
        }
        inner.size = Some(meta.camera);
        // Frame numbers only grow: the decode stage drops frames that come out of order.
        let update = inner
            .tracker
            .update(meta.frame_number, &input)
            .unwrap_or_default();
        let Shown {
            tracks: mut tracked_objects,
            unclipped,
            ended,
        } = inner.reported.show(&update, meta.camera, &self.class_names);
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

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Waits (blocking) until every frame handed to the batcher is released, or `limit`.
    fn wait_idle(&self, limit: Duration) -> bool {
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
                shutdown: c.shutdown + c.not_decoded,
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
            fps_in,
            fps_out,
            latency_ms: inner.latency.summary(),
            reconnects: inner.info.reconnects,
            timestamp_jumps: ingest.timestamp_jumps,
            last_error: inner.info.last_error.clone(),
            accounting,
        }
    }
}

/// The decoder of a stream and what it was made for.
struct DecodeStage {
    decoder: Box<dyn Decoder>,
    codec: Codec,
    camera: (u32, u32),
}

/// Runs a stream: camera events in, frames to the batcher, lifecycle events to the output;
/// then drains. On a thread of its own (decoding is blocking work).
pub(crate) struct Worker {
    pub(crate) core: Arc<StreamCore>,
    pub(crate) camera: Camera,
    pub(crate) engine: Arc<Engine>,
    pub(crate) runtime: tokio::runtime::Handle,
}

/// Lowers the calling thread's scheduling priority by `steps` nice levels (Linux; a no-op
/// elsewhere or if refused).
fn lower_this_threads_priority(steps: i32) {
    #[cfg(target_os = "linux")]
    if steps > 0 {
        // SAFETY: plain syscalls on the calling thread's own id; no memory is passed.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            let now = libc::getpriority(libc::PRIO_PROCESS, tid);
            let _ = libc::setpriority(libc::PRIO_PROCESS, tid, (now + steps).min(19));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = steps;
}

impl Worker {
    pub(crate) fn run(mut self) {
        lower_this_threads_priority(self.engine.settings.decode_nice);
        let core = self.core.clone();
        let mut decode: Option<DecodeStage> = None;
        // Capture time and the like by camera frame number, for frames leaving the decoder.
        let mut metas: VecDeque<FrameMeta> = VecDeque::new();
        let mut last_frame: Option<u64> = None;
        let mut end = EndReason::Disconnected;
        loop {
            let Some(event) = self.runtime.block_on(self.camera.next()) else {
                break;
            };
            match event {
                rtsp_ingest::Event::Frame(au) => {
                    let now = Instant::now();
                    {
                        let mut inner = core.lock();
                        inner.counters.taken += 1;
                        inner.rate_in.tick(now);
                    }
                    if core.stopping() {
                        core.lock().counters.not_decoded += 1;
                        continue;
                    }
                    if let Err(e) = self.decode(&mut decode, &mut metas, &mut last_frame, &au) {
                        warn!(stream = %core.id, error = %e, "the decoder cannot start; ending the stream");
                        core.note_error(&e);
                        end = EndReason::Failed(e);
                        core.begin_stop();
                    }
                }
                rtsp_ingest::Event::Connecting { attempt } => {
                    let mut inner = core.lock();
                    core.set_state(&mut inner, StreamState::Connecting);
                    drop(inner);
                    core.emit(StreamEvent::Connecting { attempt });
                }
                rtsp_ingest::Event::Connected { params, transport } => {
                    let codec = match params.codec {
                        rtsp_ingest::Codec::H264 => "h264",
                        rtsp_ingest::Codec::H265 => "h265",
                    };
                    let transport = transport.unwrap_or_default();
                    {
                        let mut inner = core.lock();
                        inner.info.codec = Some(codec);
                        inner.info.width = Some(params.width);
                        inner.info.height = Some(params.height);
                        inner.info.transport = Some(transport.as_str());
                        core.set_state(&mut inner, StreamState::Connected);
                    }
                    info!(stream = %core.id, codec, width = params.width, height = params.height, %transport, "connected");
                    core.emit(StreamEvent::Connected {
                        codec,
                        width: params.width,
                        height: params.height,
                        transport,
                    });
                }
                rtsp_ingest::Event::Stalled { after } => {
                    let mut inner = core.lock();
                    core.set_state(&mut inner, StreamState::Stalled);
                    drop(inner);
                    core.emit(StreamEvent::Stalled { after });
                }
                rtsp_ingest::Event::Reconnecting {
                    attempt,
                    delay,
                    error,
                } => {
                    let error = Error::Camera {
                        id: core.id.clone(),
                        source: error,
                    };
                    {
                        let mut inner = core.lock();
                        inner.info.reconnects += 1;
                        inner.info.last_error = Some(error.to_string());
                        core.set_state(&mut inner, StreamState::Reconnecting);
                    }
                    core.emit(StreamEvent::Reconnecting {
                        attempt,
                        delay,
                        error,
                    });
                }
                rtsp_ingest::Event::Ended { reason } => {
                    let camera = |e| Error::Camera {
                        id: core.id.clone(),
                        source: e,
                    };
                    if matches!(end, EndReason::Disconnected) {
                        end = match reason {
                            rtsp_ingest::EndReason::GaveUp { attempts, error } => {
                                EndReason::GaveUp {
                                    attempts,
                                    error: camera(error),
                                }
                            }
                            rtsp_ingest::EndReason::Failed(error) => {
                                EndReason::Failed(camera(error))
                            }
                            _ => EndReason::Disconnected,
                        };
                    }
                    if let Some(e) = end.error() {
                        core.note_error(e);
                    }
                }
                _ => {}
            }
        }
        self.drain(decode, &mut metas, &mut last_frame, end);
    }

    /// Decodes one access unit and submits what comes out.
    fn decode(
        &self,
        decode: &mut Option<DecodeStage>,
        metas: &mut VecDeque<FrameMeta>,
        last_frame: &mut Option<u64>,
        au: &AccessUnit,
    ) -> Result<(), Error> {
        let core = &self.core;
        let codec = match au.params.codec {
            rtsp_ingest::Codec::H264 => Codec::H264,
            rtsp_ingest::Codec::H265 => Codec::H265,
        };
        let camera = (au.params.width, au.params.height);
        let fits = decode
            .as_ref()
            .is_some_and(|d| d.codec == codec && d.camera == camera);
        if (!fits || au.resync)
            && let Some(old) = decode.take()
        {
            self.retire(old, metas, last_frame);
        }
        if decode.is_none() {
            let made = if au.keyframe {
                self.new_decoder(codec, camera).map(Some)
            } else {
                Ok(None)
            };
            match made {
                Ok(Some(stage)) => *decode = Some(stage),
                Ok(None) => {
                    core.lock().counters.undecodable += 1;
                    return Ok(());
                }
                Err(e) => {
                    core.lock().counters.undecodable += 1;
                    return Err(e);
                }
            }
        }
        let stage = decode.as_mut().expect("made above");
        metas.push_back(FrameMeta {
            frame_number: au.frame_number,
            rtp_timestamp: au.rtp_timestamp,
            received: au.received,
            wall_clock: au.wall_clock,
            wall_clock_synced: au.wall_clock_synced,
            camera,
        });
        while metas.len() > 64 {
            metas.pop_front();
        }
        let before = stage.decoder.stats();
        let packet = Packet {
            data: &au.data,
            pts: au.frame_number as i64,
            keyframe: au.keyframe,
        };
        if let Err(e) = stage.decoder.decode(&packet) {
            debug!(stream = %core.id, error = %e, "decode error");
            core.note_error(&Error::Decode {
                id: core.id.clone(),
                source: e,
            });
        }
        self.take_frames(stage, before, metas, last_frame, 1);
        Ok(())
    }

    /// Takes every frame out of the decoder, submits them, and counts what the decoder did
    /// since `before`.
    fn take_frames(
        &self,
        stage: &mut DecodeStage,
        before: gpu_decode::DecodeStats,
        metas: &mut VecDeque<FrameMeta>,
        last_frame: &mut Option<u64>,
        packets: u64,
    ) {
        let core = &self.core;
        let mut frames = Vec::new();
        while let Some(f) = stage.decoder.next_frame() {
            frames.push(f);
        }
        let after = stage.decoder.stats();
        {
            let mut inner = core.lock();
            let c = &mut inner.counters;
            c.packets += packets;
            c.frames_out += frames.len() as u64;
            c.decoder_dropped += (after.skipped_until_keyframe + after.corrupt)
                .saturating_sub(before.skipped_until_keyframe + before.corrupt);
            c.decoder_overflow += (after.dropped_queue_full + after.dropped_no_buffer)
                .saturating_sub(before.dropped_queue_full + before.dropped_no_buffer);
        }
        for frame in frames {
            let number = u64::try_from(frame.pts).unwrap_or(0);
            // The tracker's time only moves forward; a frame behind one already sent (a
            // B-frame stream) is dropped.
            if last_frame.is_some_and(|l| number <= l) {
                core.lock().counters.undecodable += 1;
                continue;
            }
            *last_frame = Some(number);
            while metas.front().is_some_and(|m| m.frame_number < number) {
                metas.pop_front();
            }
            let meta = match metas.front() {
                Some(m) if m.frame_number == number => *m,
                _ => FrameMeta {
                    frame_number: number,
                    rtp_timestamp: 0,
                    received: Instant::now(),
                    wall_clock: SystemTime::now(),
                    wall_clock_synced: false,
                    camera: stage.camera,
                },
            };
            let seq = core.issue_frame();
            let item = Item {
                core: core.clone(),
                seq,
                frame,
                meta,
            };
            self.engine.submit(core.key, item);
        }
    }

    /// A decoder for `codec` at the camera's size: NVDEC on a CUDA device where it loads,
    /// else FFmpeg scaling straight to the model's letterbox.
    fn new_decoder(&self, codec: Codec, camera: (u32, u32)) -> Result<DecodeStage, Error> {
        let settings = &self.engine.settings;
        let config = CodecConfig {
            codec,
            width: camera.0,
            height: camera.1,
        };
        // Frames the stream may hold: one waiting in the batcher, one per batch in flight,
        // one being submitted.
        let held = settings.in_flight + 2;
        let wrap = |e| Error::Decode {
            id: self.core.id.clone(),
            source: e,
        };
        let nvdec = settings.decoder == DecoderBackend::Nvdec
            || (settings.decoder == DecoderBackend::Auto
                && matches!(settings.device, Device::Cuda(_))
                && cfg!(all(feature = "nvdec", feature = "tensorrt")));
        if nvdec {
            match crate::gpu::nvdec_decoder(&config, settings.device, held) {
                Ok(decoder) => {
                    return Ok(DecodeStage {
                        decoder,
                        codec,
                        camera,
                    });
                }
                Err(e) if settings.decoder == DecoderBackend::Nvdec => return Err(wrap(e)),
                Err(e) => {
                    info!(stream = %self.core.id, error = %e, "NVDEC unavailable, decoding with FFmpeg")
                }
            }
        }
        let size = Letterbox::new(
            (camera.0 as usize, camera.1 as usize),
            self.engine.input_size,
        )
        .map_err(wrap)?
        .resized;
        let options = CpuDecoderOptions::default()
            .output_size(Some(size))
            .yuv420(true)
            .queue_frames(2)
            .held_frames(held);
        let decoder = CpuDecoder::new(&config, options).map_err(wrap)?;
        Ok(DecodeStage {
            decoder: Box::new(decoder),
            codec,
            camera,
        })
    }

    /// Flushes a decoder about to be replaced (new size or codec, reconnect): its frames go
    /// on; packets it still held are lost, counted.
    fn retire(
        &self,
        mut stage: DecodeStage,
        metas: &mut VecDeque<FrameMeta>,
        last_frame: &mut Option<u64>,
    ) {
        let before = stage.decoder.stats();
        let _ = stage.decoder.flush();
        self.take_frames(&mut stage, before, metas, last_frame, 0);
        let mut inner = self.core.lock();
        let c = &mut inner.counters;
        let inside = c
            .packets
            .saturating_sub(c.decoder_dropped + c.decoder_overflow + c.frames_out);
        c.undecodable += inside;
        c.packets -= inside;
    }

    /// The camera session is over: finish decoding, let every frame in flight come back,
    /// then say `Ended` and close the output.
    fn drain(
        self,
        decode: Option<DecodeStage>,
        metas: &mut VecDeque<FrameMeta>,
        last_frame: &mut Option<u64>,
        end: EndReason,
    ) {
        let core = self.core.clone();
        if let Some(stage) = decode {
            self.retire(stage, metas, last_frame);
        }
        {
            let mut inner = core.lock();
            core.set_state(&mut inner, StreamState::Draining);
        }
        // The frame still waiting goes now rather than at the force timeout.
        self.engine.flush();
        if !core.wait_idle(DRAIN_PATIENCE) {
            warn!(stream = %core.id, "frames still in flight after {DRAIN_PATIENCE:?}; dropping the one waiting");
            self.engine.remove_key(core.key);
            core.wait_idle(Duration::MAX);
        }
        self.engine.remove_key(core.key);
        info!(stream = %core.id, reason = end.as_str(), "ended");
        core.emit(StreamEvent::Ended { reason: end });
        {
            let mut inner = core.lock();
            core.set_state(&mut inner, StreamState::Ended);
        }
        core.outbox.close();
    }
}

/// A connected stream: its id, stats, and its output (results and lifecycle events, in
/// order). Cheap to clone; dropping it does not disconnect the stream
/// ([`StreamConnectionManager::disconnect_stream`](crate::StreamConnectionManager::disconnect_stream) does).
///
/// The output is one bounded queue: read it one way ([`next_event`](Self::next_event),
/// [`events`](Self::events), [`tracking_results`](Self::tracking_results) or
/// [`queue`](Self::queue)), or give the stream callbacks instead.
#[derive(Debug, Clone)]
pub struct StreamConnection {
    pub(crate) core: Arc<StreamCore>,
}

impl StreamConnection {
    /// The stream's id.
    pub fn id(&self) -> &str {
        &self.core.id
    }

    /// Where the stream is in its life.
    pub fn state(&self) -> StreamState {
        *self.core.state.borrow()
    }

    /// A snapshot of its statistics (accounting included).
    pub fn stats(&self) -> StreamStats {
        self.core.stats()
    }

    /// The latest processed frame with its tracks, ids, class names, zones and lines drawn,
    /// as JPEG; `None` until a frame was kept (the manager keeps them only with
    /// [`snapshot_interval`](crate::ManagerBuilder::snapshot_interval), and not for frames
    /// decoded by NVDEC). Drawn when asked, once per kept frame.
    pub fn snapshot(&self) -> Option<Snapshot> {
        self.core.snapshot()
    }

    /// The stream's zones and lines, if it has any.
    pub fn scene(&self) -> Option<&zones::Scene> {
        self.core.scene.as_deref()
    }

    /// The next result or event, in order; `None` after [`StreamEvent::Ended`].
    pub async fn next_event(&self) -> Option<StreamEvent> {
        self.core.outbox.pop().await
    }

    /// The next result or event if one is queued.
    pub fn try_next_event(&self) -> Option<StreamEvent> {
        self.core.outbox.try_pop()
    }

    /// Results and lifecycle events, in order, until the stream ends.
    pub fn events(&self) -> impl Stream<Item = StreamEvent> + Send + 'static {
        let core = self.core.clone();
        futures::stream::unfold(core, |core| async move {
            let e = core.outbox.pop().await?;
            Some((e, core))
        })
    }

    /// The seed's async generator: results only (lifecycle events are skipped), until the
    /// stream ends.
    pub fn tracking_results(&self) -> impl Stream<Item = TrackingResult> + Send + 'static {
        let core = self.core.clone();
        futures::stream::unfold(core, |core| async move {
            loop {
                if let StreamEvent::Result(r) = core.outbox.pop().await? {
                    return Some((r, core));
                }
            }
        })
    }

    /// The seed's `result_queue`: results only, for code that polls (async or blocking).
    pub fn queue(&self) -> ResultQueue {
        ResultQueue {
            core: self.core.clone(),
        }
    }

    /// Waits until the stream plays its first frame after connecting.
    ///
    /// # Errors
    ///
    /// The error that ended the stream if it ends first (wrong credentials, unsupported
    /// codec, …), or [`Error::Camera`] with a timeout if `limit` passes.
    pub async fn wait_connected(&self, limit: Duration) -> Result<(), Error> {
        let mut rx = self.core.state.subscribe();
        let waited = tokio::time::timeout(
            limit,
            rx.wait_for(|s| matches!(s, StreamState::Connected | StreamState::Ended)),
        )
        .await;
        match waited {
            Ok(Ok(s)) if *s == StreamState::Connected => Ok(()),
            Err(_) => Err(Error::Camera {
                id: self.core.id.clone(),
                source: self.core.camera.stats().last_error.unwrap_or(
                    rtsp_ingest::Error::Timeout {
                        url: self.core.camera.url().clone(),
                        stage: rtsp_ingest::Stage::Connect,
                        after: limit,
                    },
                ),
            }),
            _ => Err(self
                .core
                .camera
                .stats()
                .last_error
                .map_or(Error::Shutdown, |source| Error::Camera {
                    id: self.core.id.clone(),
                    source,
                })),
        }
    }
}

/// A stream's results as a queue (the seed's `connection.result_queue`): lifecycle events
/// are skipped. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ResultQueue {
    core: Arc<StreamCore>,
}

impl ResultQueue {
    /// The next result, waiting for one; `None` once the stream has ended and everything
    /// was taken.
    pub async fn get(&self) -> Option<TrackingResult> {
        loop {
            if let StreamEvent::Result(r) = self.core.outbox.pop().await? {
                return Some(r);
            }
        }
    }

    /// The next result if one is queued.
    pub fn try_get(&self) -> Option<TrackingResult> {
        while let Some(e) = self.core.outbox.try_pop() {
            if let StreamEvent::Result(r) = e {
                return Some(r);
            }
        }
        None
    }

    /// The next result, blocking the thread for at most `timeout`; `None` on timeout or once
    /// the stream has ended and everything was taken (then [`is_finished`](Self::is_finished)).
    pub fn get_blocking(&self, timeout: Duration) -> Option<TrackingResult> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.core.outbox.pop_blocking(Some(left)) {
                Ok(Some(StreamEvent::Result(r))) => return Some(r),
                Ok(Some(_)) => {}
                Ok(None) | Err(()) => return None,
            }
        }
    }

    /// Results waiting now.
    pub fn len(&self) -> usize {
        self.core.outbox.lock().results_queued as usize
    }

    /// Whether no result waits now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The stream has ended and everything was taken.
    pub fn is_finished(&self) -> bool {
        self.core.outbox.lock().finished()
    }
}
