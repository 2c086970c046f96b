//! The thread of one stream: its camera's access units through the decoder to the batcher,
//! lifecycle events to its output, then the drain.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use gpu_decode::{Codec, CodecConfig, CpuDecoder, CpuDecoderOptions, Decoder, Letterbox, Packet};
use rtsp_ingest::{AccessUnit, Camera};
use tracing::{debug, info, warn};

use crate::config::DecoderBackend;
use crate::decode_plan::DecodePlan;
use crate::display::DisplayOrder;
use crate::pipeline::{DRAIN_PATIENCE, Item, Pipeline};
use crate::state::{FrameMeta, StreamCore};
use crate::stats::StreamState;
use crate::{Device, EndReason, Error, StreamEvent};

/// The decoder of a stream and what it was made for.
struct DecodeStage {
    decoder: Box<dyn Decoder>,
    codec: Codec,
    camera: (u32, u32),
}

/// What the decode stage keeps between access units besides the decoder.
struct Flow {
    /// Capture time and the like of the units taken, for pictures leaving the decoder.
    order: DisplayOrder,
    /// The last frame number sent: numbers only grow.
    last_frame: Option<u64>,
    /// Which units to decode and which pictures to send.
    plan: DecodePlan,
    /// When the plan's rate was last set.
    steered: Instant,
    /// Checks in a row that found the stream's share of the detector small.
    low: u32,
}

/// Runs a stream: camera events in, frames to the batcher, lifecycle events to the output;
/// then drains. On a thread of its own, or as a task of a decode pool (decoding is blocking
/// work either way: never on the caller's runtime).
pub(crate) struct StreamThread {
    pub(crate) core: Arc<StreamCore>,
    pub(crate) camera: Camera,
    pub(crate) pipeline: Arc<Pipeline>,
    /// A task of a decode pool, which other streams share: the drain's wait goes elsewhere.
    pub(crate) pooled: bool,
    /// The stream's cap on pictures sent to the detector per second of media time.
    pub(crate) detect_fps: Option<f64>,
}

/// A stream whose share of the detector stays under this fraction of its frames for
/// `LOW_CHECKS` checks in a row decodes only what leads to the pictures it gets.
const LOW_SHARE: f64 = 0.25;
const LOW_CHECKS: u32 = 3;
/// It then asks for this many times the rate it got, and decodes everything again once that
/// reaches `FULL_SHARE` of its frames.
const HEADROOM: f64 = 1.5;
const FULL_SHARE: f64 = 0.5;

impl StreamThread {
    /// The stream's loop; on a thread of its own (under `block_on`, after
    /// [`lower_this_threads_priority`](crate::decode_pool::lower_this_threads_priority)) or a task of a decode pool.
    pub(crate) async fn run(mut self) {
        let core = self.core.clone();
        let mut decode: Option<DecodeStage> = None;
        let mut flow = Flow {
            order: DisplayOrder::default(),
            last_frame: None,
            plan: DecodePlan::default(),
            steered: Instant::now(),
            low: 0,
        };
        if let Some(fps) = self.detect_fps {
            flow.plan
                .set_interval(Some(Duration::from_secs_f64(1.0 / fps)), true);
            core.lock().info.decode_mode = flow.plan.mode().as_str();
        }
        let mut end = EndReason::Disconnected;
        loop {
            let Some(event) = self.camera.next().await else {
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
                        core.lock().counters.stopping += 1;
                        continue;
                    }
                    self.steer(&mut flow, now);
                    if let Err(e) = self.decode(&mut decode, &mut flow, &au) {
                        warn!(stream = %core.id, error = %e, "the decoder cannot start; ending the stream");
                        core.note_error(&e);
                        end = EndReason::Failed(e);
                        core.begin_stop();
                    }
                    // On a pool, a stream with a backlog lets the others have a turn.
                    if self.pooled && self.camera.queued_frames() > 0 {
                        tokio::task::yield_now().await;
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
        if self.pooled {
            // Waiting for frames in flight would hold a pool thread other streams need.
            let drained = tokio::task::spawn_blocking(move || self.drain(decode, &mut flow, end));
            if let Err(e) = drained.await
                && e.is_panic()
            {
                // The task's own panic, so that joining it says so.
                std::panic::resume_unwind(e.into_panic());
            }
        } else {
            self.drain(decode, &mut flow, end);
        }
    }

    /// Decodes one access unit and submits what comes out; or skips it, counted, when it is a
    /// picture nothing refers to and a newer frame will take its place anyway.
    fn decode(
        &self,
        decode: &mut Option<DecodeStage>,
        flow: &mut Flow,
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
            self.retire(old, flow);
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
        let meta = FrameMeta {
            frame_number: au.frame_number,
            rtp_timestamp: au.rtp_timestamp,
            media_time: au.media_time,
            received: au.received,
            wall_clock: au.wall_clock,
            wall_clock_synced: au.wall_clock_synced,
            camera,
        };
        let wanted = flow.plan.unit(au.keyframe, au.reference, au.media_time);
        if !wanted || (!au.reference && self.superseded_anyway()) {
            flow.order.taken(meta, false);
            core.lock().counters.not_decoded += 1;
            return Ok(());
        }
        flow.order.taken(meta, true);
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
        self.take_frames(stage, before, flow, 1);
        Ok(())
    }

    /// Sets the decode plan's rate, once a second: the stream's `detect_fps` cap if it has
    /// one; else, with adaptive decoding, 1.5× the rate the detector has been taking its
    /// frames at while that is a small share of them, and everything again once it is not.
    fn steer(&self, flow: &mut Flow, now: Instant) {
        if now.duration_since(flow.steered) < Duration::from_secs(1) {
            return;
        }
        flow.steered = now;
        if self.detect_fps.is_none() && self.pipeline.settings.adaptive_decoding {
            self.adapt(flow, now);
        }
        self.core.lock().info.decode_mode = flow.plan.mode().as_str();
    }

    fn adapt(&self, flow: &mut Flow, now: Instant) {
        let (fps_in, fps_out) = {
            let mut inner = self.core.lock();
            (
                inner.rate_in.per_second(now),
                inner.rate_out.per_second(now),
            )
        };
        let interval = match flow.plan.interval() {
            None if fps_in >= 5.0 && fps_out < fps_in * LOW_SHARE => {
                flow.low += 1;
                (flow.low >= LOW_CHECKS).then(|| (fps_out * HEADROOM).max(0.5))
            }
            None => {
                flow.low = 0;
                None
            }
            Some(_) => {
                let wanted = (fps_out * HEADROOM).max(0.5);
                (wanted < fps_in * FULL_SHARE).then_some(wanted)
            }
        }
        .map(|fps| Duration::from_secs_f64(1.0 / fps));
        if interval.is_none() {
            flow.low = flow.low.min(LOW_CHECKS - 1);
        }
        flow.plan.set_interval(interval, false);
    }

    /// Whether a picture decoded now would be replaced before the detector takes it: a newer
    /// frame has already arrived, or the detector still has one of this stream's frames
    /// (waiting or in flight), so the next frames replace one another until it is done.
    fn superseded_anyway(&self) -> bool {
        self.camera.queued_frames() > 0 || self.core.lock().counters.outstanding > 0
    }

    /// Takes every frame out of the decoder, submits them, and counts what the decoder did
    /// since `before`.
    fn take_frames(
        &self,
        stage: &mut DecodeStage,
        before: gpu_decode::DecodeStats,
        flow: &mut Flow,
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
            // The packet's pts is its unit's arrival number; the picture's number is its place
            // in presentation order.
            let arrival = u64::try_from(frame.pts).unwrap_or(0);
            let meta = flow.order.take(arrival).unwrap_or(FrameMeta {
                frame_number: arrival,
                rtp_timestamp: 0,
                media_time: Duration::ZERO,
                received: Instant::now(),
                wall_clock: SystemTime::now(),
                wall_clock_synced: false,
                camera: stage.camera,
            });
            // The tracker's time only moves forward; a picture behind one already sent (a
            // decoder that guessed its reordering depth wrong) is dropped.
            if flow.last_frame.is_some_and(|l| meta.frame_number <= l) {
                core.lock().counters.undecodable += 1;
                continue;
            }
            flow.last_frame = Some(meta.frame_number);
            if !flow.plan.picture(meta.media_time) {
                core.lock().counters.rate_limited += 1;
                continue;
            }
            let seq = core.issue_frame();
            let item = Item {
                core: core.clone(),
                seq,
                frame,
                meta,
            };
            self.pipeline.submit(core.key, item);
        }
    }

    /// A decoder for `codec` at the camera's size: NVDEC on a CUDA device where it loads,
    /// else FFmpeg scaling straight to the model's letterbox.
    fn new_decoder(&self, codec: Codec, camera: (u32, u32)) -> Result<DecodeStage, Error> {
        let settings = &self.pipeline.settings;
        let config = CodecConfig {
            codec,
            width: camera.0,
            height: camera.1,
        };
        // Frames the stream may hold: one waiting in the batcher, one per batch in flight,
        // one being submitted.
        let held = settings.in_flight + 2;
        if settings.stand_in_decoder {
            return Ok(DecodeStage {
                decoder: Box::new(crate::stand_in::PassThrough::new(held)),
                codec,
                camera,
            });
        }
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
            self.pipeline.input_size(),
        )
        .map_err(wrap)?
        .resized;
        let options = CpuDecoderOptions::default()
            .output_size(Some(size))
            .yuv420(true)
            .queue_frames(2)
            .held_frames(held)
            .deferred(!settings.convert_at_decode);
        let decoder = CpuDecoder::new(&config, options).map_err(wrap)?;
        Ok(DecodeStage {
            decoder: Box::new(decoder),
            codec,
            camera,
        })
    }

    /// Flushes a decoder about to be replaced (new size or codec, reconnect): its frames go
    /// on; packets it still held are lost, counted.
    fn retire(&self, mut stage: DecodeStage, flow: &mut Flow) {
        let before = stage.decoder.stats();
        let _ = stage.decoder.flush();
        self.take_frames(&mut stage, before, flow, 0);
        flow.order.reset();
        flow.plan.reset();
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
    fn drain(self, decode: Option<DecodeStage>, flow: &mut Flow, end: EndReason) {
        let core = self.core.clone();
        if let Some(stage) = decode {
            self.retire(stage, flow);
        }
        {
            let mut inner = core.lock();
            core.set_state(&mut inner, StreamState::Draining);
        }
        // The frame still waiting goes now rather than at the force timeout.
        self.pipeline.flush();
        if !core.wait_idle(DRAIN_PATIENCE) {
            warn!(stream = %core.id, "frames still in flight after {DRAIN_PATIENCE:?}; dropping the one waiting");
            self.pipeline.remove_key(core.key);
            core.wait_idle(Duration::MAX);
        }
        self.pipeline.remove_key(core.key);
        info!(stream = %core.id, reason = end.as_str(), "ended");
        core.emit(StreamEvent::Ended { reason: end });
        {
            let mut inner = core.lock();
            core.set_state(&mut inner, StreamState::Ended);
        }
        core.outbox.close();
    }
}
