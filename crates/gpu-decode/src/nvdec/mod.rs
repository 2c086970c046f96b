//! NVDEC (feature `nvdec`): NVIDIA's hardware decoder, with `libnvcuvid.so.1` and
//! `libcuda.so.1` opened at run time so that nothing NVIDIA is needed to build or start.
//!
//! [`NvdecDecoder`] follows NVIDIA's own decoder sample: NVDECODE's parser splits the bitstream
//! and calls back (sequence → create or re-create the hardware decoder; decode →
//! `cuvidDecodePicture`; display → map the picture, copy it into a pooled device buffer,
//! unmap), with no display delay so a frame comes out as soon as its access unit went in.
//! Frames are NV12 on the device ([`Pixels::Cuda`]); [`CudaPreprocessor`] letterboxes them
//! into the model's input without leaving the GPU.
//!
//! The libraries sit behind the [`Driver`] trait: [`CudaDriver`] is the real one, and the
//! tests run the whole decoder on a stand-in backed by FFmpeg, since CI has no GPU.
//!
//! [`CudaPreprocessor`]: crate::cuda::CudaPreprocessor

use std::collections::VecDeque;
use std::ffi::{c_int, c_void};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use crate::decoder::{Buffering, OutputQueue};
use crate::frame::Slots;
use crate::{
    Codec, CodecConfig, CudaBuffer, CudaPixels, DecodeStats, Decoder, Error, Frame, Packet,
    PixelFormat, Pixels,
};

mod driver;
mod libs;
#[allow(clippy::all)] // generated FFI; see the file's header
pub mod sys;

pub use self::driver::{Copy2d, CudaDriver, DeviceMemory, Driver};
pub use self::libs::{CUDA_LIBRARY, NVCUVID_LIBRARY, NvdecLibraries, load};
use self::sys::{
    CUVIDEOFORMAT, CUVIDPARSERDISPINFO, CUVIDPICPARAMS, CUresult, CUvideodecoder, CUvideoparser,
};

const BACKEND: &str = "nvdec";

/// Options for [`NvdecDecoder`].
#[derive(Debug, Clone, Default)]
pub struct NvdecOptions {
    pub(crate) gpu: usize,
    pub(crate) buffering: Buffering,
}

impl NvdecOptions {
    /// The GPU to decode on (default 0).
    pub fn gpu(mut self, ordinal: usize) -> Self {
        self.gpu = ordinal;
        self
    }

    /// Decoded frames waiting on the device for a slow consumer, the oldest dropped beyond
    /// them (default 4).
    pub fn queue_frames(mut self, frames: usize) -> Self {
        self.buffering = self.buffering.with_queue(frames);
        self
    }

    /// Frames the consumer may hold (taken and not yet dropped) while decoding goes on
    /// (default 4). The device-buffer pool holds `queue_frames + held_frames` frames; when the
    /// consumer holds all it may, new frames are dropped and counted.
    pub fn held_frames(mut self, frames: usize) -> Self {
        self.buffering = self.buffering.with_held(frames);
        self
    }
}

/// Surfaces beyond the parser's minimum (FFmpeg's cuviddec adds as many): room for the picture
/// being mapped while the next ones decode.
const EXTRA_SURFACES: u32 = 3;

/// The hardware decoder for one stream format.
struct HwDecoder {
    handle: CUvideodecoder,
    key: FormatKey,
    /// Output size (the display area, rounded up to even for 4:2:0).
    width: usize,
    height: usize,
    /// Device buffers for frames of this size.
    pool: Arc<Slots<Box<dyn DeviceMemory>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FormatKey {
    codec: u32,
    coded: (u32, u32),
    display: (i32, i32, i32, i32),
    surfaces: u32,
    progressive: bool,
}

/// A device buffer out of a decoder's pool; goes back when the frame holding it drops.
struct Lease {
    mem: Option<Box<dyn DeviceMemory>>,
    pool: Arc<Slots<Box<dyn DeviceMemory>>>,
    /// The driver that allocated it (its address), so `download` knows its own frames.
    driver: usize,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(mem) = self.mem.take() {
            self.pool.give_back(mem);
        }
    }
}

/// What the parser's callbacks work on. It lives at a fixed address (the parser's user data)
/// and is touched only from the decoder's `&mut self` methods and from callbacks running
/// inside the `parse` call one of them makes.
struct State {
    driver: Arc<dyn Driver>,
    codec: Codec,
    buffering: Buffering,
    decoder: Option<HwDecoder>,
    out: OutputQueue,
    need_keyframe: bool,
    /// The first error a callback hit during the current `parse` call.
    error: Option<Error>,
    pts: i64,
    /// Timestamps of the latest keyframe packets: a displayed picture carries its packet's
    /// timestamp, which says whether it was a keyframe (NVDECODE's `intra_pic_flag` would
    /// also flag non-IDR I-pictures).
    keyframe_pts: VecDeque<i64>,
    decoders_created: u64,
}

/// Keyframe timestamps remembered; far more than the pictures NVDEC holds back.
const KEYFRAMES_REMEMBERED: usize = 16;

/// NVIDIA's hardware decoder for one stream, producing NV12 frames on the GPU.
pub struct NvdecDecoder {
    driver: Arc<dyn Driver>,
    parser: CUvideoparser,
    /// `Box::into_raw` of the callbacks' state, freed in `Drop`.
    state: *mut State,
}

// SAFETY: the parser and decoder handles are used only from `&mut self` methods (and the
// callbacks those run), each of which first makes the driver's context current on its thread;
// NVDECODE handles have no thread affinity beyond that. The state is owned.
unsafe impl Send for NvdecDecoder {}

impl std::fmt::Debug for NvdecDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NvdecDecoder")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn driver_id(driver: &Arc<dyn Driver>) -> usize {
    Arc::as_ptr(driver).cast::<()>() as usize
}

fn backend(message: String) -> Error {
    Error::Backend {
        backend: BACKEND,
        message,
    }
}

/// NVDECODE's result codes as text (CUDA's names for the ones it returns).
fn describe(r: CUresult) -> String {
    let name = match r.0 {
        1 => "CUDA_ERROR_INVALID_VALUE",
        2 => "CUDA_ERROR_OUT_OF_MEMORY",
        3 => "CUDA_ERROR_NOT_INITIALIZED",
        201 => "CUDA_ERROR_INVALID_CONTEXT",
        205 => "CUDA_ERROR_MAP_FAILED",
        400 => "CUDA_ERROR_INVALID_HANDLE",
        801 => "CUDA_ERROR_NOT_SUPPORTED",
        999 => "CUDA_ERROR_UNKNOWN",
        _ => "",
    };
    format!("CUresult {} {name}", r.0).trim_end().to_owned()
}

fn check(what: &str, r: CUresult) -> Result<(), Error> {
    if r == CUresult::CUDA_SUCCESS {
        Ok(())
    } else {
        Err(backend(format!("{what}: {}", describe(r))))
    }
}

impl NvdecDecoder {
    /// A hardware decoder for `config` on the GPU `options` names.
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] without the NVIDIA libraries or the GPU (the normal case on
    /// machines without one).
    pub fn new(config: &CodecConfig, options: NvdecOptions) -> Result<Self, Error> {
        let driver = CudaDriver::open(options.gpu)?;
        Ok(Self::with_driver(config, options, Arc::new(driver)))
    }

    /// A decoder working through `driver` (several decoders may share one).
    pub fn with_driver(
        config: &CodecConfig,
        options: NvdecOptions,
        driver: Arc<dyn Driver>,
    ) -> Self {
        let state = Box::new(State {
            driver: driver.clone(),
            codec: config.codec,
            buffering: options.buffering,
            decoder: None,
            out: OutputQueue::new(options.buffering.queue),
            need_keyframe: true,
            error: None,
            pts: 0,
            keyframe_pts: VecDeque::with_capacity(KEYFRAMES_REMEMBERED),
            decoders_created: 0,
        });
        Self {
            driver,
            parser: std::ptr::null_mut(),
            state: Box::into_raw(state),
        }
    }

    fn state(&mut self) -> &mut State {
        // SAFETY: owned (see the field); no callback runs outside `parse`, so nothing else
        // refers to the state while this borrow lives.
        unsafe { &mut *self.state }
    }

    /// Hardware decoders created so far: one per stream format (a resolution change, or a
    /// reconnect to a stream with other parameters, makes a new one).
    pub fn decoders_created(&mut self) -> u64 {
        self.state().decoders_created
    }

    /// Copies a frame this decoder produced back to host memory: NV12, `frame.stride` bytes
    /// per row, the UV rows after the Y rows.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a frame that is not NV12 on a device; the driver's failure.
    pub fn download(&self, frame: &Frame) -> Result<Vec<u8>, Error> {
        let Pixels::Cuda(buf) = &frame.pixels else {
            return Err(Error::InvalidInput("not a device frame".into()));
        };
        let ours = buf
            .owner()
            .downcast_ref::<Lease>()
            .is_some_and(|l| l.driver == driver_id(&self.driver));
        if !ours {
            return Err(Error::InvalidInput(
                "a frame from another decoder's driver".into(),
            ));
        }
        if frame.format != PixelFormat::Nv12 {
            return Err(Error::InvalidInput(format!("{:?}, not NV12", frame.format)));
        }
        let p = buf.pixels();
        let mut host = vec![0u8; p.uv_offset + p.pitch * frame.height.div_ceil(2)];
        // SAFETY: decoder frames hold `uv_offset` bytes of Y rows and the UV rows after them,
        // alive while `frame` holds its lease.
        unsafe { self.driver.download(p.ptr, &mut host)? };
        Ok(host)
    }

    fn ensure_parser(&mut self) -> Result<(), Error> {
        if !self.parser.is_null() {
            return Ok(());
        }
        let codec = match self.state().codec {
            Codec::H264 => sys::cudaVideoCodec::cudaVideoCodec_H264,
            Codec::H265 => sys::cudaVideoCodec::cudaVideoCodec_HEVC,
        };
        // SAFETY: plain data; zero is a valid value for every field (null pointers, `None`
        // callbacks).
        let mut params: sys::CUVIDPARSERPARAMS = unsafe { std::mem::zeroed() };
        params.CodecType = codec;
        // Raised by the sequence callback's return value once the stream says what it needs.
        params.ulMaxNumDecodeSurfaces = 1;
        // Frames out as soon as they are decoded: live video, lowest latency.
        params.ulMaxDisplayDelay = 0;
        params.pUserData = self.state.cast::<c_void>();
        params.pfnSequenceCallback = Some(on_sequence);
        params.pfnDecodePicture = Some(on_decode);
        params.pfnDisplayPicture = Some(on_display);
        // SAFETY: the callbacks and the state outlive the parser (destroyed before the state).
        self.parser = unsafe { self.driver.create_parser(&mut params) }
            .map_err(|r| backend(format!("cuvidCreateVideoParser: {}", describe(r))))?;
        Ok(())
    }

    fn destroy_parser(&mut self) {
        if !self.parser.is_null() {
            // SAFETY: ours, and not used again.
            unsafe { self.driver.destroy_parser(self.parser) };
            self.parser = std::ptr::null_mut();
        }
    }

    /// Feeds one packet to the parser and collects what its callbacks ran into.
    fn parse(&mut self, packet: &mut sys::CUVIDSOURCEDATAPACKET, pts: i64) -> Result<(), Error> {
        {
            let state = self.state();
            state.error = None;
            state.pts = pts;
        }
        // SAFETY: the parser is ours; the payload outlives the call; the callbacks reach the
        // state through the parser's user data while no borrow of it is held here.
        let r = unsafe { self.driver.parse(self.parser, packet) };
        let state = self.state();
        match state.error.take() {
            Some(e) => Err(e),
            None if r != CUresult::CUDA_SUCCESS => Err(Error::Corrupt {
                pts,
                message: format!("cuvidParseVideoData: {}", describe(r)),
            }),
            None => Ok(()),
        }
    }
}

impl Decoder for NvdecDecoder {
    fn decode(&mut self, packet: &Packet<'_>) -> Result<(), Error> {
        let state = self.state();
        state.out.stats.packets += 1;
        if state.need_keyframe && !packet.keyframe {
            state.out.stats.skipped_until_keyframe += 1;
            return Ok(());
        }
        self.driver.bind()?;
        self.ensure_parser()?;
        let state = self.state();
        if packet.keyframe {
            // Before parsing: a damaged picture reported during it sets this again.
            state.need_keyframe = false;
            if state.keyframe_pts.len() == KEYFRAMES_REMEMBERED {
                state.keyframe_pts.pop_front();
            }
            state.keyframe_pts.push_back(packet.pts);
        }
        let mut pkt = sys::CUVIDSOURCEDATAPACKET {
            // One whole access unit: the parser need not wait for the next one to know the
            // picture is complete.
            flags: (sys::CUvideopacketflags::CUVID_PKT_TIMESTAMP.0
                | sys::CUvideopacketflags::CUVID_PKT_ENDOFPICTURE.0)
                .into(),
            payload_size: packet.data.len() as sys::tcu_ulong,
            payload: packet.data.as_ptr(),
            timestamp: packet.pts,
        };
        let r = self.parse(&mut pkt, packet.pts);
        if let Err(e) = &r {
            // Whatever failed (damage, or a format this GPU cannot decode), try again at the
            // next keyframe rather than feed the parser pictures it cannot place.
            let state = self.state();
            state.need_keyframe = true;
            if matches!(e, Error::Corrupt { .. }) {
                state.out.stats.corrupt += 1;
            }
        }
        r
    }

    fn flush(&mut self) -> Result<(), Error> {
        if self.parser.is_null() {
            return Ok(());
        }
        self.driver.bind()?;
        let mut pkt = sys::CUVIDSOURCEDATAPACKET {
            flags: sys::CUvideopacketflags::CUVID_PKT_ENDOFSTREAM.0.into(),
            payload_size: 0,
            payload: std::ptr::null(),
            timestamp: 0,
        };
        let r = self.parse(&mut pkt, -1);
        // The parser has ended its stream: a new one starts at the next keyframe.
        self.destroy_parser();
        self.state().need_keyframe = true;
        r
    }

    fn reset(&mut self) {
        // Without a current context the parser cannot be destroyed cleanly; it is then
        // leaked rather than destroyed wrongly (the driver is broken anyway).
        if self.driver.bind().is_ok() {
            self.destroy_parser();
        } else {
            self.parser = std::ptr::null_mut();
        }
        let state = self.state();
        state.out.clear();
        state.need_keyframe = true;
        state.out.stats.resets += 1;
        // The hardware decoder stays: the sequence callback keeps it if the format is the same.
    }

    fn next_frame(&mut self) -> Option<Frame> {
        self.state().out.pop()
    }

    fn stats(&self) -> DecodeStats {
        // SAFETY: as in `state()`; a shared read.
        unsafe { (*self.state).out.stats }
    }
}

impl Drop for NvdecDecoder {
    fn drop(&mut self) {
        let bound = self.driver.bind().is_ok();
        if bound {
            self.destroy_parser();
        }
        // SAFETY: from `Box::into_raw` in `with_driver`; the parser that referred to it is gone.
        let mut state = unsafe { Box::from_raw(self.state) };
        if let Some(d) = state.decoder.take()
            && bound
        {
            // SAFETY: ours, and not used again.
            unsafe { self.driver.destroy_decoder(d.handle) };
        }
        // Queued frames go back to their pools with the state.
    }
}

/// Runs a callback body on the decoder's state: errors are kept for `parse` to return and
/// become the "failed" return value NVDECODE expects; a panic must not unwind into C.
///
/// # Safety
///
/// `user` must be the parser's user data: the decoder's `State`, not otherwise borrowed.
unsafe fn callback(
    user: *mut c_void,
    body: impl FnOnce(&mut State) -> Result<c_int, Error>,
) -> c_int {
    // SAFETY: the caller's promise.
    let state = unsafe { &mut *user.cast::<State>() };
    match std::panic::catch_unwind(AssertUnwindSafe(|| body(&mut *state))) {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => {
            state.error.get_or_insert(e);
            0
        }
        Err(_) => {
            state
                .error
                .get_or_insert(backend("a decoder callback panicked".into()));
            0
        }
    }
}

unsafe extern "C" fn on_sequence(user: *mut c_void, format: *mut CUVIDEOFORMAT) -> c_int {
    // SAFETY: NVDECODE passes our user data and a valid format (the `Driver` contract).
    unsafe { callback(user, |s| s.sequence(&*format)) }
}

unsafe extern "C" fn on_decode(user: *mut c_void, pic: *mut CUVIDPICPARAMS) -> c_int {
    // SAFETY: as above.
    unsafe { callback(user, |s| s.decode_picture(pic)) }
}

unsafe extern "C" fn on_display(user: *mut c_void, info: *mut CUVIDPARSERDISPINFO) -> c_int {
    // SAFETY: as above; `info` is null at the end of the stream.
    unsafe { callback(user, |s| s.display(info.as_ref())) }
}

impl State {
    /// A new stream format: check the GPU can decode it, then keep or re-create the hardware
    /// decoder. Returns the number of decode surfaces for the parser.
    fn sequence(&mut self, f: &CUVIDEOFORMAT) -> Result<c_int, Error> {
        let unsupported = |what: String| Error::Unsupported {
            backend: BACKEND,
            what,
        };
        let codec = self.codec;
        if f.chroma_format != sys::cudaVideoChromaFormat::cudaVideoChromaFormat_420
            || f.bit_depth_luma_minus8 != 0
            || f.bit_depth_chroma_minus8 != 0
        {
            return Err(unsupported(format!(
                "{codec:?} with chroma format {} at {} bits (only 8-bit 4:2:0)",
                f.chroma_format.0,
                8 + u32::from(f.bit_depth_luma_minus8)
            )));
        }
        // SAFETY: plain data; zero is valid for every field.
        let mut caps: sys::CUVIDDECODECAPS = unsafe { std::mem::zeroed() };
        caps.eCodecType = f.codec;
        caps.eChromaFormat = f.chroma_format;
        caps.nBitDepthMinus8 = 0;
        check("cuvidGetDecoderCaps", self.driver.caps(&mut caps))?;
        let (cw, ch) = (f.coded_width, f.coded_height);
        // Drivers before NVDECODE 9.1 leave the mask at zero: only a set mask can say no.
        let nv12 = 1 << sys::cudaVideoSurfaceFormat::cudaVideoSurfaceFormat_NV12.0;
        if caps.bIsSupported == 0
            || (caps.nOutputFormatMask != 0 && caps.nOutputFormatMask & nv12 == 0)
        {
            return Err(unsupported(format!(
                "{codec:?}: this GPU has no decoder for it"
            )));
        }
        if cw > caps.nMaxWidth
            || ch > caps.nMaxHeight
            || cw < u32::from(caps.nMinWidth)
            || ch < u32::from(caps.nMinHeight)
            || (cw / 16) * (ch / 16) > caps.nMaxMBCount
        {
            return Err(unsupported(format!(
                "{codec:?} at {cw}x{ch} (this GPU: {}x{} to {}x{})",
                caps.nMinWidth, caps.nMinHeight, caps.nMaxWidth, caps.nMaxHeight
            )));
        }
        let d = f.display_area;
        let key = FormatKey {
            codec: f.codec.0,
            coded: (cw, ch),
            display: (d.left, d.top, d.right, d.bottom),
            surfaces: u32::from(f.min_num_decode_surfaces).max(1) + EXTRA_SURFACES,
            progressive: f.progressive_sequence != 0,
        };
        if self.decoder.as_ref().is_some_and(|hw| hw.key == key) {
            return Ok(key.surfaces as c_int);
        }
        if let Some(old) = self.decoder.take() {
            // SAFETY: ours; its pictures are all unmapped (copies finish inside `display`).
            unsafe { self.driver.destroy_decoder(old.handle) };
        }
        let (w, h) = ((d.right - d.left).max(2), (d.bottom - d.top).max(2));
        let (w, h) = ((w + 1) & !1, (h + 1) & !1);
        // SAFETY: plain data; zero is valid for every field.
        let mut info: sys::CUVIDDECODECREATEINFO = unsafe { std::mem::zeroed() };
        info.CodecType = f.codec;
        info.ChromaFormat = f.chroma_format;
        info.OutputFormat = sys::cudaVideoSurfaceFormat::cudaVideoSurfaceFormat_NV12;
        info.bitDepthMinus8 = 0;
        info.DeinterlaceMode = if key.progressive {
            sys::cudaVideoDeinterlaceMode::cudaVideoDeinterlaceMode_Weave
        } else {
            sys::cudaVideoDeinterlaceMode::cudaVideoDeinterlaceMode_Adaptive
        };
        info.ulCreationFlags =
            sys::cudaVideoCreateFlags::cudaVideoCreate_PreferCUVID.0 as sys::tcu_ulong;
        info.ulWidth = cw.into();
        info.ulHeight = ch.into();
        info.ulMaxWidth = cw.into();
        info.ulMaxHeight = ch.into();
        info.ulNumDecodeSurfaces = key.surfaces.into();
        // One picture is mapped at a time (copied out, then unmapped).
        info.ulNumOutputSurfaces = 1;
        // The display area's coordinates fit in 16 bits on every GPU NVDEC runs on.
        info.display_area.left = d.left as i16;
        info.display_area.top = d.top as i16;
        info.display_area.right = d.right as i16;
        info.display_area.bottom = d.bottom as i16;
        info.ulTargetWidth = (w as u32).into();
        info.ulTargetHeight = (h as u32).into();
        let handle = self
            .driver
            .create_decoder(&mut info)
            .map_err(|r| backend(format!("cuvidCreateDecoder: {}", describe(r))))?;
        self.decoders_created += 1;
        self.decoder = Some(HwDecoder {
            handle,
            key,
            width: w as usize,
            height: h as usize,
            // The queue, plus frames the consumer holds while decoding goes on.
            pool: Arc::new(Slots::new(self.buffering.buffers())),
        });
        Ok(key.surfaces as c_int)
    }

    fn hw(&self) -> Result<&HwDecoder, Error> {
        self.decoder
            .as_ref()
            .ok_or_else(|| backend("a picture before any sequence header".into()))
    }

    fn decode_picture(&mut self, pic: *mut CUVIDPICPARAMS) -> Result<c_int, Error> {
        let pts = self.pts;
        let hw = self.hw()?;
        // SAFETY: our decoder; the parameters are the parser's.
        let r = unsafe { self.driver.decode_picture(hw.handle, pic) };
        if r != CUresult::CUDA_SUCCESS {
            return Err(Error::Corrupt {
                pts,
                message: format!("cuvidDecodePicture: {}", describe(r)),
            });
        }
        Ok(1)
    }

    fn display(&mut self, info: Option<&CUVIDPARSERDISPINFO>) -> Result<c_int, Error> {
        let Some(info) = info else {
            return Ok(1); // end of stream
        };
        let hw = self.hw()?;
        let (handle, index, (w, h)) = (hw.handle, info.picture_index, (hw.width, hw.height));
        let pool = hw.pool.clone();
        let keyframe = self.keyframe_pts.contains(&info.timestamp);
        let pitch = w;
        let driver = &self.driver;
        let Some(lease) = self
            .out
            .buffer_or_drop(|| lease(driver, &pool, pitch * h * 3 / 2))?
        else {
            return Ok(1);
        };
        let dst = lease.mem.as_ref().map_or(0, |m| m.ptr());

        // SAFETY: plain data; zero is valid for every field.
        let mut proc: sys::CUVIDPROCPARAMS = unsafe { std::mem::zeroed() };
        proc.progressive_frame = info.progressive_frame;
        proc.second_field = info.repeat_first_field + 1;
        proc.top_field_first = info.top_field_first;
        proc.unpaired_field = c_int::from(info.repeat_first_field < 0);
        proc.output_stream = self.driver.stream();
        // SAFETY: our decoder.
        let (src, src_pitch) = unsafe { self.driver.map(handle, index, &mut proc) }
            .map_err(|r| backend(format!("cuvidMapVideoFrame: {}", describe(r))))?;
        let src_pitch = src_pitch as usize;
        // Mapping waits for the picture: only now does its decode status mean something.
        // SAFETY: our decoder.
        let damaged = matches!(
            unsafe { self.driver.decode_status(handle, index) },
            Ok(s) if s == sys::cuvidDecodeStatus::cuvidDecodeStatus_Error
                || s == sys::cuvidDecodeStatus::cuvidDecodeStatus_Error_Concealed
        );
        let copied = if damaged {
            Ok(())
        } else {
            // SAFETY: the mapped picture holds `h` rows of Y then, `src_pitch * h` bytes in,
            // `h / 2` rows of UV; the lease holds `pitch * h * 3 / 2` bytes. The stream is
            // synchronised below, before unmapping.
            unsafe {
                self.driver
                    .copy_2d(&Copy2d {
                        src,
                        src_pitch,
                        dst,
                        dst_pitch: pitch,
                        width: w,
                        rows: h,
                    })
                    .and_then(|()| {
                        self.driver.copy_2d(&Copy2d {
                            src: src + (src_pitch * h) as u64,
                            src_pitch,
                            dst: dst + (pitch * h) as u64,
                            dst_pitch: pitch,
                            width: w,
                            rows: h / 2,
                        })
                    })
            }
        };
        // Whatever the copies did, nothing may still read the picture when it is unmapped.
        let synced = self.driver.synchronize();
        // SAFETY: mapped just above; unmapped once.
        let unmapped = unsafe { self.driver.unmap(handle, src) };
        copied?;
        synced?;
        check("cuvidUnmapVideoFrame", unmapped)?;
        if damaged {
            // Concealed garbage: drop it and what would be predicted from it.
            self.out.stats.corrupt += 1;
            self.need_keyframe = true;
            return Ok(1);
        }
        self.out.push(Frame {
            width: w,
            height: h,
            format: PixelFormat::Nv12,
            stride: pitch,
            pts: info.timestamp,
            keyframe,
            pixels: Pixels::Cuda(CudaBuffer::new(
                CudaPixels {
                    ptr: dst,
                    pitch,
                    uv_offset: pitch * h,
                    stream: 0,
                },
                lease,
            )),
        });
        Ok(1)
    }
}

/// A device buffer from `pool`, allocated through `driver` on first use; `None` if all are
/// out.
fn lease(
    driver: &Arc<dyn Driver>,
    pool: &Arc<Slots<Box<dyn DeviceMemory>>>,
    bytes: usize,
) -> Result<Option<Lease>, Error> {
    match pool.take(|| driver.alloc(bytes)) {
        None => Ok(None),
        Some(Err(e)) => Err(e),
        Some(Ok(mem)) => Ok(Some(Lease {
            mem: Some(mem),
            pool: pool.clone(),
            driver: driver_id(driver),
        })),
    }
}
