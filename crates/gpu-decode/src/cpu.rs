//! The CPU backend: FFmpeg's H.264/H.265 decoders (libavcodec through `ffmpeg-next`), frame
//! threads, and swscale to packed RGB (optionally resized) into pooled buffers.

use std::sync::{Arc, Mutex, Once, PoisonError};

use ffmpeg::format::Pixel;
use ffmpeg::software::scaling;
use ffmpeg_next as ffmpeg;

use crate::decoder::{Buffering, OutputQueue};
use crate::{
    Codec, CodecConfig, DecodeStats, Decoder, Error, Frame, FramePool, Pending, PixelFormat, Pixels,
};

const BACKEND: &str = "ffmpeg";

/// The largest picture decoded, in pixels: 8K UHD (7680 x 4320), more than any camera sends.
/// FFmpeg's own limit is about 16384 x 16384, and a parameter set from a broken or hostile
/// stream that declares such a size costs hundreds of megabytes and a second of concealment
/// per packet before the slice data turns out to be noise.
const MAX_PIXELS: i64 = 7680 * 4320;

/// Options for [`CpuDecoder`].
#[derive(Debug, Clone)]
pub struct CpuDecoderOptions {
    pub(crate) threads: usize,
    pub(crate) output_size: Option<(usize, usize)>,
    pub(crate) buffering: Buffering,
    pub(crate) output: PixelFormat,
    pub(crate) deferred: bool,
}

impl Default for CpuDecoderOptions {
    fn default() -> Self {
        Self {
            threads: 1,
            output_size: None,
            buffering: Buffering::default(),
            output: PixelFormat::Rgb24,
            deferred: false,
        }
    }
}

impl CpuDecoderOptions {
    /// Frame threads (default 1). More threads decode faster per stream but add one frame of
    /// delay each; with many streams, one thread per stream uses the cores best.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Output RGB at this size instead of the stream's (for example the letterbox's resized
    /// size, so that colour conversion and scaling happen in one swscale pass).
    pub fn output_size(mut self, size: Option<(usize, usize)>) -> Self {
        self.output_size = size.filter(|&(w, h)| w > 0 && h > 0);
        self
    }

    /// Output planar RGB ([`PixelFormat::RgbPlanar`]) instead of packed. With `output_size`,
    /// a fast path to a model input: swscale's scaled path is much quicker to planar than to
    /// packed RGB, and planes letterbox with straight copies (`yuv420` is quicker still).
    pub fn planar(mut self, planar: bool) -> Self {
        self.output = if planar {
            PixelFormat::RgbPlanar
        } else {
            PixelFormat::Rgb24
        };
        self
    }

    /// Output YUV 4:2:0 ([`PixelFormat::Yuv420p`]): swscale only scales (with `output_size`)
    /// and the colour conversion happens in the letterbox, straight into the model's `f32`
    /// tensor. The fastest CPU path to a model input.
    pub fn yuv420(mut self, yuv: bool) -> Self {
        self.output = if yuv {
            PixelFormat::Yuv420p
        } else {
            PixelFormat::Rgb24
        };
        self
    }

    /// Leave frames [`Pixels::Pending`]: the decoder's picture is kept, reference-counted,
    /// and scaled into the frame's buffer only when [`Frame::convert`] is called (default
    /// off). For a consumer that throws most frames away unseen, such as a batcher where the
    /// newest frame wins: those cost no conversion. Buffering is bounded as before, plus up
    /// to that many of the decoder's own pictures.
    pub fn deferred(mut self, deferred: bool) -> Self {
        self.deferred = deferred;
        self
    }

    /// Decoded frames kept for a slow consumer before the oldest are dropped (default 4).
    pub fn queue_frames(mut self, frames: usize) -> Self {
        self.buffering = self.buffering.with_queue(frames);
        self
    }

    /// Frames the consumer may hold (taken with `next_frame` and not yet dropped: waiting
    /// for a batch, in inference) while decoding goes on (default 4). The frame pool holds
    /// `queue_frames + held_frames` buffers; when the consumer holds all it may, new frames
    /// are dropped and counted (`dropped_no_buffer`), so memory stays bounded.
    pub fn held_frames(mut self, frames: usize) -> Self {
        self.buffering = self.buffering.with_held(frames);
        self
    }
}

/// FFmpeg's decoder for one stream, producing host RGB frames.
pub struct CpuDecoder {
    codec: Codec,
    options: CpuDecoderOptions,
    decoder: ffmpeg::decoder::Video,
    scaler: Arc<Mutex<Scaler>>,
    yuv: ffmpeg::frame::Video,
    pool: FramePool,
    out: OutputQueue,
    need_keyframe: bool,
}

impl std::fmt::Debug for CpuDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuDecoder")
            .field("codec", &self.codec)
            .field("options", &self.options)
            .field("stats", &self.out.stats)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ScalerKey {
    format: Pixel,
    width: u32,
    height: u32,
    out: (usize, usize),
    output: PixelFormat,
}

impl ScalerKey {
    /// The output's row stride and buffer length. Rows aligned to 64 bytes for swscale's SIMD
    /// paths; YUV: chroma rows of half the luma stride (the convention `Frame::yuv420` reads
    /// back).
    fn layout(&self) -> (usize, usize) {
        let out = self.out;
        match self.output {
            PixelFormat::RgbPlanar => {
                let s = out.0.div_ceil(64) * 64;
                (s, 3 * s * out.1)
            }
            PixelFormat::Yuv420p => {
                let s = (out.0 + 1).div_ceil(64) * 64;
                (s, s * out.1 + 2 * (s / 2) * out.1.div_ceil(2))
            }
            _ => {
                let s = (out.0 * 3).div_ceil(64) * 64;
                (s, s * out.1)
            }
        }
    }
}

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = ffmpeg::init();
        // Library code does not print: failures come back as errors and counters.
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Quiet);
    });
}

fn backend(e: impl std::fmt::Display) -> Error {
    Error::Backend {
        backend: BACKEND,
        message: e.to_string(),
    }
}

impl CpuDecoder {
    /// A decoder for `config.codec`.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] if this FFmpeg build lacks the decoder; [`Error::Backend`] if
    /// it does not open. (Pictures over 7680 x 4320 pixels are later refused as
    /// [`Error::Corrupt`].)
    pub fn new(config: &CodecConfig, options: CpuDecoderOptions) -> Result<Self, Error> {
        init();
        let id = match config.codec {
            Codec::H264 => ffmpeg::codec::Id::H264,
            Codec::H265 => ffmpeg::codec::Id::HEVC,
        };
        let codec = ffmpeg::decoder::find(id).ok_or_else(|| Error::Unsupported {
            backend: BACKEND,
            what: format!("{:?}", config.codec),
        })?;
        let mut ctx = ffmpeg::codec::Context::new_with_codec(codec);
        if options.threads > 1 {
            ctx.set_threading(ffmpeg::codec::threading::Config {
                kind: ffmpeg::codec::threading::Type::Frame,
                count: options.threads,
                ..Default::default()
            });
        } else {
            ctx.set_threading(ffmpeg::codec::threading::Config {
                kind: ffmpeg::codec::threading::Type::None,
                count: 1,
                ..Default::default()
            });
        }
        // SAFETY: a plain field of the context we own, set before it is opened.
        unsafe { (*ctx.as_mut_ptr()).max_pixels = MAX_PIXELS };
        let decoder = ctx.decoder().video().map_err(backend)?;
        let buffering = options.buffering;
        Ok(Self {
            codec: config.codec,
            decoder,
            scaler: Arc::default(),
            yuv: ffmpeg::frame::Video::empty(),
            // The queue, plus frames the consumer holds while decoding goes on.
            pool: FramePool::new(buffering.buffers()),
            out: OutputQueue::new(buffering.queue),
            need_keyframe: true,
            options,
        })
    }

    /// The pool host frames come from (for tests and metrics).
    pub fn pool(&self) -> &FramePool {
        &self.pool
    }

    fn receive_all(&mut self) -> Result<(), Error> {
        loop {
            match self.decoder.receive_frame(&mut self.yuv) {
                Ok(()) => {}
                Err(ffmpeg::Error::Eof) => return Ok(()),
                Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::util::error::EAGAIN => {
                    return Ok(());
                }
                Err(e) => {
                    self.need_keyframe = true;
                    self.out.stats.corrupt += 1;
                    return Err(Error::Corrupt {
                        pts: -1,
                        message: e.to_string(),
                    });
                }
            }
            // SAFETY: reading two plain fields of the frame we own.
            let (damaged, key) = unsafe {
                let f = &*self.yuv.as_ptr();
                (
                    f.decode_error_flags != 0 || f.flags & ffmpeg::ffi::AV_FRAME_FLAG_CORRUPT != 0,
                    f.key_frame != 0,
                )
            };
            let pts = self.yuv.pts().unwrap_or(-1);
            if damaged {
                // Concealed garbage: drop it and what would be predicted from it.
                self.need_keyframe = true;
                self.out.stats.corrupt += 1;
                continue;
            }
            self.convert(pts, key)?;
        }
    }

    fn convert(&mut self, pts: i64, keyframe: bool) -> Result<(), Error> {
        let (w, h) = (self.yuv.width(), self.yuv.height());
        let out = self.options.output_size.unwrap_or((w as usize, h as usize));
        let output = self.options.output;
        let key = ScalerKey {
            format: self.yuv.format(),
            width: w,
            height: h,
            out,
            output,
        };
        let (stride, len) = key.layout();
        let pool = &self.pool;
        let Some(mut buf) = self.out.buffer_or_drop(|| Ok::<_, Error>(pool.get(len)))? else {
            return Ok(());
        };
        let pixels = if self.options.deferred {
            // The decoder's picture, moved out by reference: the next one decodes into a
            // fresh buffer of FFmpeg's pool while this one waits for `Frame::convert`.
            let mut picture = ffmpeg::frame::Video::empty();
            // SAFETY: both frames are valid and ours; `yuv` is left blank, as before a
            // receive.
            unsafe { ffmpeg::ffi::av_frame_move_ref(picture.as_mut_ptr(), self.yuv.as_mut_ptr()) };
            let scaler = self.scaler.clone();
            Pixels::Pending(Pending::new(
                buf,
                Box::new(move |buf: &mut [u8]| lock(&scaler).scale(key, &picture, buf)),
            ))
        } else {
            lock(&self.scaler).scale(key, &self.yuv, &mut buf)?;
            Pixels::Host(buf)
        };
        self.out.push(Frame {
            width: out.0,
            height: out.1,
            format: output,
            stride,
            pts,
            keyframe,
            pixels,
        });
        Ok(())
    }
}

fn lock(scaler: &Mutex<Scaler>) -> std::sync::MutexGuard<'_, Scaler> {
    scaler.lock().unwrap_or_else(PoisonError::into_inner)
}

/// swscale's context for the newest source and output layout, shared by a decoder and the
/// frames it left pending.
#[derive(Default)]
struct Scaler(Option<(ScalerKey, scaling::Context)>);

// SAFETY: the context is only used under its mutex; ffmpeg-next leaves it `!Send` out of
// caution, but a context has no thread affinity.
unsafe impl Send for Scaler {}

impl Scaler {
    /// Scales `src` into `buf`, laid out as [`ScalerKey::layout`] says.
    fn scale(
        &mut self,
        key: ScalerKey,
        src: &ffmpeg::frame::Video,
        buf: &mut [u8],
    ) -> Result<(), Error> {
        let out = key.out;
        let (stride, need) = key.layout();
        if self.0.as_ref().is_none_or(|(k, _)| *k != key) {
            let ctx = scaling::Context::get(
                key.format,
                key.width,
                key.height,
                match key.output {
                    PixelFormat::RgbPlanar => Pixel::GBRP,
                    PixelFormat::Yuv420p => Pixel::YUV420P,
                    _ => Pixel::RGB24,
                },
                out.0 as u32,
                out.1 as u32,
                if out == (key.width as usize, key.height as usize) {
                    scaling::Flags::BILINEAR
                } else {
                    scaling::Flags::FAST_BILINEAR
                },
            )
            .map_err(backend)?;
            self.0 = Some((key, ctx));
        }
        let (_, scaler) = self.0.as_mut().expect("set above");
        if buf.len() < need || src.width() != key.width || src.height() != key.height {
            return Err(backend("frame buffer does not fit its picture"));
        }
        // SAFETY: `buf` holds at least `need` bytes: one RGB24 picture of `out` with `stride`,
        // three planes of `stride * out.1`, or a Y plane of `stride * out.1` and two chroma
        // planes of `stride / 2 * ceil(out.1 / 2)`: exactly what swscale writes. The source
        // planes are a decoded frame of the size and format the context was made for. GBRP's
        // planes are G, B, R; ours are R, G, B.
        let rows = unsafe {
            let src = &*src.as_ptr();
            let base = buf.as_mut_ptr();
            let null = std::ptr::null_mut();
            let s = stride as i32;
            let (dst, dst_stride) = match key.output {
                PixelFormat::RgbPlanar => {
                    let n = stride * out.1;
                    ([base.add(n), base.add(2 * n), base, null], [s, s, s, 0])
                }
                PixelFormat::Yuv420p => {
                    let (y, c) = (stride * out.1, stride / 2 * out.1.div_ceil(2));
                    (
                        [base, base.add(y), base.add(y + c), null],
                        [s, s / 2, s / 2, 0],
                    )
                }
                _ => ([base, null, null, null], [s, 0, 0, 0]),
            };
            ffmpeg::ffi::sws_scale(
                scaler.as_mut_ptr(),
                src.data.as_ptr() as *const *const u8,
                src.linesize.as_ptr(),
                0,
                key.height as i32,
                dst.as_ptr(),
                dst_stride.as_ptr(),
            )
        };
        if rows != out.1 as i32 {
            return Err(backend(format!("swscale wrote {rows} of {} rows", out.1)));
        }
        Ok(())
    }
}

impl Decoder for CpuDecoder {
    fn decode(&mut self, packet: &crate::Packet<'_>) -> Result<(), Error> {
        self.out.stats.packets += 1;
        if self.need_keyframe && !packet.keyframe {
            self.out.stats.skipped_until_keyframe += 1;
            return Ok(());
        }
        let mut pkt = ffmpeg::Packet::copy(packet.data);
        pkt.set_pts(Some(packet.pts));
        pkt.set_dts(Some(packet.pts));
        if packet.keyframe {
            pkt.set_flags(ffmpeg::codec::packet::Flags::KEY);
        }
        if let Err(e) = self.decoder.send_packet(&pkt) {
            self.need_keyframe = true;
            self.out.stats.corrupt += 1;
            return Err(Error::Corrupt {
                pts: packet.pts,
                message: e.to_string(),
            });
        }
        if packet.keyframe {
            self.need_keyframe = false;
        }
        self.receive_all().map_err(|e| match e {
            Error::Corrupt { message, .. } => Error::Corrupt {
                pts: packet.pts,
                message,
            },
            other => other,
        })
    }

    fn flush(&mut self) -> Result<(), Error> {
        // Ignoring "already draining": flushing twice is harmless.
        let _ = self.decoder.send_eof();
        let r = self.receive_all();
        self.decoder.flush();
        r
    }

    fn reset(&mut self) {
        self.decoder.flush();
        self.out.clear();
        self.need_keyframe = true;
        self.out.stats.resets += 1;
    }

    fn next_frame(&mut self) -> Option<Frame> {
        self.out.pop()
    }

    fn stats(&self) -> DecodeStats {
        self.out.stats
    }
}
