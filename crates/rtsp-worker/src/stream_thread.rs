//! The thread of one stream: its camera's access units through the decoder to the batcher,
//! lifecycle events to its output, then the drain.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use gpu_decode::{Codec, CodecConfig, CpuDecoder, CpuDecoderOptions, Decoder, Letterbox, Packet};
use rtsp_ingest::{AccessUnit, Camera};
use tracing::{debug, info, warn};

use crate::config::DecoderBackend;
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

/// Runs a stream: camera events in, frames to the batcher, lifecycle events to the output;
/// then drains. On a thread of its own (decoding is blocking work).
pub(crate) struct StreamThread {
    pub(crate) core: Arc<StreamCore>,
    pub(crate) camera: Camera,
    pub(crate) pipeline: Arc<Pipeline>,
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

impl StreamThread {
    pub(crate) fn run(mut self) {
        lower_this_threads_priority(self.pipeline.settings.decode_nice);
        let core = self.core.clone();
        let mut decode: Option<DecodeStage> = None;
        // Capture time and the like of the units taken, for frames leaving the decoder.
        let mut order = DisplayOrder::default();
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
                        core.lock().counters.stopping += 1;
                        continue;
                    }
                    if let Err(e) = self.decode(&mut decode, &mut order, &mut last_frame, &au) {
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
        self.drain(decode, &mut order, &mut last_frame, end);
    }

    /// Decodes one access unit and submits what comes out; or skips it, counted, when it is a
    /// picture nothing refers to and a newer frame will take its place anyway.
    fn decode(
        &self,
        decode: &mut Option<DecodeStage>,
        order: &mut DisplayOrder,
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
            self.retire(old, order, last_frame);
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
            received: au.received,
            wall_clock: au.wall_clock,
            wall_clock_synced: au.wall_clock_synced,
            camera,
        };
        if !au.reference && self.superseded_anyway() {
            order.taken(meta, false);
            core.lock().counters.not_decoded += 1;
            return Ok(());
        }
        order.taken(meta, true);
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
        self.take_frames(stage, before, order, last_frame, 1);
        Ok(())
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
        order: &mut DisplayOrder,
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
            // The packet's pts is its unit's arrival number; the picture's number is its place
            // in presentation order.
            let arrival = u64::try_from(frame.pts).unwrap_or(0);
            let meta = order.take(arrival).unwrap_or(FrameMeta {
                frame_number: arrival,
                rtp_timestamp: 0,
                received: Instant::now(),
                wall_clock: SystemTime::now(),
                wall_clock_synced: false,
                camera: stage.camera,
            });
            // The tracker's time only moves forward; a picture behind one already sent (a
            // decoder that guessed its reordering depth wrong) is dropped.
            if last_frame.is_some_and(|l| meta.frame_number <= l) {
                core.lock().counters.undecodable += 1;
                continue;
            }
            *last_frame = Some(meta.frame_number);
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
            self.pipeline.input_size,
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
        order: &mut DisplayOrder,
        last_frame: &mut Option<u64>,
    ) {
        let before = stage.decoder.stats();
        let _ = stage.decoder.flush();
        self.take_frames(&mut stage, before, order, last_frame, 0);
        order.reset();
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
        order: &mut DisplayOrder,
        last_frame: &mut Option<u64>,
        end: EndReason,
    ) {
        let core = self.core.clone();
        if let Some(stage) = decode {
            self.retire(stage, order, last_frame);
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
