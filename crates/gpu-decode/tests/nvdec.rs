//! The NVDEC decoder. Where NVIDIA's libraries are absent (here, CI) it must say
//! "unavailable", never panic; and since its decode loop cannot meet a GPU here, it runs on
//! [`FakeNvdec`]: a stand-in for libnvcuvid/libcuda that keeps NVDECODE's contract (parser
//! callbacks in decode and display order, pitched surfaces, map/unmap, device memory) with
//! FFmpeg doing the decoding and host memory playing device memory. It checks the decoder
//! uses it as NVIDIA documents (no decoding into a mapped surface, every map unmapped, every
//! handle destroyed) and counts what is alive. Where a GPU is present, the same comparison
//! with the CPU decoder runs on the real thing.
//! Run with `--features nvdec`.

// Skipped tests report themselves on stdout.
#![allow(clippy::print_stdout)]

mod support;

use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use ffmpeg_next as ffmpeg;
use gpu_decode::nvdec::sys::{
    CUVIDDECODECAPS, CUVIDDECODECREATEINFO, CUVIDEOFORMAT, CUVIDPARSERDISPINFO, CUVIDPARSERPARAMS,
    CUVIDPICPARAMS, CUVIDPROCPARAMS, CUVIDSOURCEDATAPACKET, CUresult, CUstream, CUvideodecoder,
    CUvideoparser, cudaVideoChromaFormat, cudaVideoCodec, cudaVideoSurfaceFormat,
    cuvidDecodeStatus,
};
use gpu_decode::nvdec::{Copy2d, DeviceMemory, Driver, NvdecDecoder, NvdecOptions};
use gpu_decode::{
    CpuDecoder, CpuDecoderOptions, Decoder, Error, Pixels, letterbox, letterbox_nv12,
};
use rtsp_ingest::AccessUnit;
use support::{config, decode_each, packet, units};

const INVALID_VALUE: CUresult = CUresult(1);
const MAP_FAILED: CUresult = CUresult(205);

/// What the fake has seen; tests assert on it.
#[derive(Debug, Default)]
struct Seen {
    parsers_created: u64,
    parsers_alive: i64,
    decoders_created: u64,
    decoders_alive: i64,
    /// Broken rules of NVDECODE's contract.
    violations: Vec<String>,
}

/// libnvcuvid + libcuda, played by FFmpeg and host memory.
#[derive(Default)]
struct FakeNvdec {
    seen: Mutex<Seen>,
    /// The picture the parser is handing to `decode_picture`.
    pending: Mutex<Option<Picture>>,
    /// Device allocations alive.
    memory_alive: Arc<AtomicI64>,
    /// Say the GPU cannot decode anything.
    unsupported: AtomicBool,
}

struct Picture {
    nv12: Vec<u8>,
    width: usize,
    height: usize,
    damaged: bool,
}

struct FakeParser {
    decoder: ffmpeg::decoder::Video,
    params: CUVIDPARSERPARAMS,
    format: Option<(u32, u32)>,
    surfaces: u32,
    next: u32,
}

struct FakeDecoder {
    width: usize,
    height: usize,
    pitch: usize,
    surfaces: Vec<Vec<u8>>,
    /// What `cuvidGetDecodeStatus` says: in progress until the picture is mapped (mapping
    /// waits for the hardware), then `outcome`.
    status: Vec<cuvidDecodeStatus>,
    outcome: Vec<cuvidDecodeStatus>,
    mapped: Vec<bool>,
    max_mapped: usize,
}

struct FakeMemory {
    ptr: *mut [u8],
    alive: Arc<AtomicI64>,
}

// SAFETY: owns its allocation.
unsafe impl Send for FakeMemory {}
// SAFETY: as above; the pointer is only read through `ptr()`.
unsafe impl Sync for FakeMemory {}

impl DeviceMemory for FakeMemory {
    fn ptr(&self) -> u64 {
        self.ptr.cast::<u8>() as u64
    }
}

impl Drop for FakeMemory {
    fn drop(&mut self) {
        // SAFETY: from `Box::into_raw`, freed once.
        drop(unsafe { Box::from_raw(self.ptr) });
        self.alive.fetch_sub(1, Ordering::SeqCst);
    }
}

impl FakeNvdec {
    fn violation(&self, what: String) {
        self.seen.lock().unwrap().violations.push(what);
    }

    fn check_clean(&self) {
        let s = self.seen.lock().unwrap();
        assert!(s.violations.is_empty(), "{:?}", s.violations);
    }

    fn assert_all_released(&self) {
        let s = self.seen.lock().unwrap();
        assert!(s.violations.is_empty(), "{:?}", s.violations);
        assert_eq!((s.parsers_alive, s.decoders_alive), (0, 0), "{s:?}");
        assert_eq!(self.memory_alive.load(Ordering::SeqCst), 0, "device memory");
    }
}

fn nv12_of(frame: &ffmpeg::frame::Video) -> Picture {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let mut nv12 = vec![0u8; w * h * 3 / 2];
    for y in 0..h {
        nv12[y * w..(y + 1) * w].copy_from_slice(&frame.data(0)[y * frame.stride(0)..][..w]);
    }
    for y in 0..h / 2 {
        let (u, v) = (
            &frame.data(1)[y * frame.stride(1)..],
            &frame.data(2)[y * frame.stride(2)..],
        );
        let row = &mut nv12[w * h + y * w..][..w];
        for x in 0..w / 2 {
            row[2 * x] = u[x];
            row[2 * x + 1] = v[x];
        }
    }
    // SAFETY: reading two plain fields of a frame FFmpeg filled.
    let damaged = unsafe {
        let f = &*frame.as_ptr();
        f.decode_error_flags != 0 || f.flags & ffmpeg::ffi::AV_FRAME_FLAG_CORRUPT != 0
    };
    Picture {
        nv12,
        width: w,
        height: h,
        damaged,
    }
}

// SAFETY: calls back only from `parse`, on the caller's thread, with the parser's user data
// and valid pointers; mapped surfaces and allocations are host memory that `copy_2d` and
// `download` read and write.
unsafe impl Driver for FakeNvdec {
    fn bind(&self) -> Result<(), Error> {
        Ok(())
    }

    unsafe fn create_parser(
        &self,
        params: &mut CUVIDPARSERPARAMS,
    ) -> Result<CUvideoparser, CUresult> {
        let id = match params.CodecType {
            cudaVideoCodec::cudaVideoCodec_H264 => ffmpeg::codec::Id::H264,
            cudaVideoCodec::cudaVideoCodec_HEVC => ffmpeg::codec::Id::HEVC,
            _ => return Err(INVALID_VALUE),
        };
        let codec = ffmpeg::decoder::find(id).ok_or(INVALID_VALUE)?;
        let decoder = ffmpeg::codec::Context::new_with_codec(codec)
            .decoder()
            .video()
            .map_err(|_| INVALID_VALUE)?;
        let mut s = self.seen.lock().unwrap();
        s.parsers_created += 1;
        s.parsers_alive += 1;
        Ok(Box::into_raw(Box::new(FakeParser {
            decoder,
            params: *params,
            format: None,
            surfaces: params.ulMaxNumDecodeSurfaces,
            next: 0,
        }))
        .cast())
    }

    unsafe fn parse(&self, parser: CUvideoparser, packet: &mut CUVIDSOURCEDATAPACKET) -> CUresult {
        // SAFETY: from `create_parser`.
        let p = unsafe { &mut *parser.cast::<FakeParser>() };
        let user = p.params.pUserData;
        let eos = packet.flags & 1 != 0;
        if eos {
            let _ = p.decoder.send_eof();
        } else {
            // SAFETY: the caller's payload.
            let data =
                unsafe { std::slice::from_raw_parts(packet.payload, packet.payload_size as usize) };
            let mut pkt = ffmpeg::Packet::copy(data);
            pkt.set_pts(Some(packet.timestamp));
            if p.decoder.send_packet(&pkt).is_err() {
                return INVALID_VALUE;
            }
        }
        let mut frame = ffmpeg::frame::Video::empty();
        while p.decoder.receive_frame(&mut frame).is_ok() {
            let (w, h) = (frame.width(), frame.height());
            if p.format != Some((w, h)) {
                // SAFETY: plain data.
                let mut f: CUVIDEOFORMAT = unsafe { std::mem::zeroed() };
                f.codec = p.params.CodecType;
                f.coded_width = w.div_ceil(16) * 16;
                f.coded_height = h.div_ceil(16) * 16;
                f.display_area.right = w as i32;
                f.display_area.bottom = h as i32;
                f.chroma_format = cudaVideoChromaFormat::cudaVideoChromaFormat_420;
                f.min_num_decode_surfaces = 5;
                f.progressive_sequence = 1;
                // SAFETY: the callback and user data the parser was created with.
                let n = unsafe { p.params.pfnSequenceCallback.unwrap()(user, &mut f) };
                if n == 0 {
                    return CUresult(999);
                }
                if n > 1 {
                    p.surfaces = n as u32;
                }
                p.format = Some((w, h));
            }
            let index = (p.next % p.surfaces) as c_int;
            p.next += 1;
            *self.pending.lock().unwrap() = Some(nv12_of(&frame));
            // SAFETY: plain data.
            let mut pic: CUVIDPICPARAMS = unsafe { std::mem::zeroed() };
            pic.CurrPicIdx = index;
            pic.intra_pic_flag = c_int::from(frame.is_key());
            // SAFETY: as above.
            if unsafe { p.params.pfnDecodePicture.unwrap()(user, &mut pic) } == 0 {
                return CUresult(999);
            }
            let mut disp = CUVIDPARSERDISPINFO {
                picture_index: index,
                progressive_frame: 1,
                top_field_first: 0,
                repeat_first_field: 0,
                timestamp: frame.pts().unwrap_or(-1),
            };
            // SAFETY: as above.
            if unsafe { p.params.pfnDisplayPicture.unwrap()(user, &mut disp) } == 0 {
                return CUresult(999);
            }
        }
        if eos {
            // SAFETY: as above; null display info marks the end of the stream.
            unsafe { p.params.pfnDisplayPicture.unwrap()(user, std::ptr::null_mut()) };
        }
        CUresult::CUDA_SUCCESS
    }

    unsafe fn destroy_parser(&self, parser: CUvideoparser) {
        // SAFETY: from `create_parser`, destroyed once.
        drop(unsafe { Box::from_raw(parser.cast::<FakeParser>()) });
        self.seen.lock().unwrap().parsers_alive -= 1;
    }

    fn caps(&self, caps: &mut CUVIDDECODECAPS) -> CUresult {
        if !self.unsupported.load(Ordering::SeqCst) {
            caps.bIsSupported = 1;
            caps.nMaxWidth = 4096;
            caps.nMaxHeight = 4096;
            caps.nMaxMBCount = 256 * 256;
            caps.nMinWidth = 48;
            caps.nMinHeight = 16;
            caps.nOutputFormatMask = 1 << cudaVideoSurfaceFormat::cudaVideoSurfaceFormat_NV12.0;
        }
        CUresult::CUDA_SUCCESS
    }

    fn create_decoder(&self, info: &mut CUVIDDECODECREATEINFO) -> Result<CUvideodecoder, CUresult> {
        let (w, h) = (info.ulTargetWidth as usize, info.ulTargetHeight as usize);
        if info.OutputFormat != cudaVideoSurfaceFormat::cudaVideoSurfaceFormat_NV12
            || info.ulNumDecodeSurfaces < 5
            || info.ulNumOutputSurfaces < 1
            || w % 2 != 0
            || h % 2 != 0
        {
            self.violation(format!("bad decoder parameters {info:?}"));
            return Err(INVALID_VALUE);
        }
        // Surfaces wider than the picture, as on the hardware.
        let pitch = w.div_ceil(512) * 512;
        let n = info.ulNumDecodeSurfaces as usize;
        let mut s = self.seen.lock().unwrap();
        s.decoders_created += 1;
        s.decoders_alive += 1;
        Ok(Box::into_raw(Box::new(FakeDecoder {
            width: w,
            height: h,
            pitch,
            surfaces: vec![vec![0; pitch * h * 3 / 2]; n],
            status: vec![cuvidDecodeStatus::cuvidDecodeStatus_Invalid; n],
            outcome: vec![cuvidDecodeStatus::cuvidDecodeStatus_Invalid; n],
            mapped: vec![false; n],
            max_mapped: info.ulNumOutputSurfaces as usize,
        }))
        .cast())
    }

    unsafe fn decode_picture(&self, decoder: CUvideodecoder, pic: *mut CUVIDPICPARAMS) -> CUresult {
        // SAFETY: from `create_decoder`; `pic` from the parser.
        let (d, index) = unsafe { (&mut *decoder.cast::<FakeDecoder>(), (*pic).CurrPicIdx) };
        let Some(i) = usize::try_from(index)
            .ok()
            .filter(|&i| i < d.surfaces.len())
        else {
            self.violation(format!("decode into surface {index}"));
            return INVALID_VALUE;
        };
        if d.mapped[i] {
            self.violation(format!("decode into mapped surface {i}"));
        }
        let Some(p) = self.pending.lock().unwrap().take() else {
            self.violation("decode_picture outside the parser's callback".into());
            return INVALID_VALUE;
        };
        if (p.width, p.height) != (d.width, d.height) {
            self.violation(format!(
                "{}x{} picture into a {}x{} decoder",
                p.width, p.height, d.width, d.height
            ));
            return INVALID_VALUE;
        }
        let (w, h, pitch) = (d.width, d.height, d.pitch);
        let surface = &mut d.surfaces[i];
        for row in 0..h + h / 2 {
            surface[row * pitch..row * pitch + w].copy_from_slice(&p.nv12[row * w..(row + 1) * w]);
        }
        d.status[i] = cuvidDecodeStatus::cuvidDecodeStatus_InProgress;
        d.outcome[i] = if p.damaged {
            cuvidDecodeStatus::cuvidDecodeStatus_Error_Concealed
        } else {
            cuvidDecodeStatus::cuvidDecodeStatus_Success
        };
        CUresult::CUDA_SUCCESS
    }

    unsafe fn decode_status(
        &self,
        decoder: CUvideodecoder,
        index: c_int,
    ) -> Result<cuvidDecodeStatus, CUresult> {
        // SAFETY: from `create_decoder`.
        let d = unsafe { &*decoder.cast::<FakeDecoder>() };
        d.status.get(index as usize).copied().ok_or(INVALID_VALUE)
    }

    unsafe fn map(
        &self,
        decoder: CUvideodecoder,
        index: c_int,
        _proc: &mut CUVIDPROCPARAMS,
    ) -> Result<(u64, u32), CUresult> {
        // SAFETY: from `create_decoder`.
        let d = unsafe { &mut *decoder.cast::<FakeDecoder>() };
        let i = index as usize;
        if i >= d.surfaces.len() || d.mapped[i] {
            self.violation(format!("map of surface {index}"));
            return Err(INVALID_VALUE);
        }
        if d.mapped.iter().filter(|&&m| m).count() >= d.max_mapped {
            self.violation("more pictures mapped than output surfaces".into());
            return Err(MAP_FAILED);
        }
        if d.status[i] == cuvidDecodeStatus::cuvidDecodeStatus_Invalid {
            self.violation(format!("map of never-decoded surface {i}"));
        }
        d.mapped[i] = true;
        d.status[i] = d.outcome[i];
        Ok((d.surfaces[i].as_ptr() as u64, d.pitch as u32))
    }

    unsafe fn unmap(&self, decoder: CUvideodecoder, ptr: u64) -> CUresult {
        // SAFETY: from `create_decoder`.
        let d = unsafe { &mut *decoder.cast::<FakeDecoder>() };
        match d
            .surfaces
            .iter()
            .position(|s| s.as_ptr() as u64 == ptr)
            .filter(|&i| d.mapped[i])
        {
            Some(i) => {
                d.mapped[i] = false;
                CUresult::CUDA_SUCCESS
            }
            None => {
                self.violation(format!("unmap of {ptr:#x}, not mapped"));
                INVALID_VALUE
            }
        }
    }

    unsafe fn destroy_decoder(&self, decoder: CUvideodecoder) {
        // SAFETY: from `create_decoder`, destroyed once.
        let d = unsafe { Box::from_raw(decoder.cast::<FakeDecoder>()) };
        if d.mapped.iter().any(|&m| m) {
            self.violation("decoder destroyed with a picture mapped".into());
        }
        self.seen.lock().unwrap().decoders_alive -= 1;
    }

    fn stream(&self) -> CUstream {
        std::ptr::null_mut()
    }

    fn alloc(&self, bytes: usize) -> Result<Box<dyn DeviceMemory>, Error> {
        self.memory_alive.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(FakeMemory {
            ptr: Box::into_raw(vec![0u8; bytes].into_boxed_slice()),
            alive: self.memory_alive.clone(),
        }))
    }

    unsafe fn copy_2d(&self, c: &Copy2d) -> Result<(), Error> {
        for row in 0..c.rows {
            // SAFETY: the caller's regions (host memory here).
            unsafe {
                std::ptr::copy_nonoverlapping(
                    (c.src as usize + row * c.src_pitch) as *const u8,
                    (c.dst as usize + row * c.dst_pitch) as *mut u8,
                    c.width,
                );
            }
        }
        Ok(())
    }

    fn synchronize(&self) -> Result<(), Error> {
        Ok(())
    }

    unsafe fn download(&self, src: u64, dst: &mut [u8]) -> Result<(), Error> {
        // SAFETY: the caller's region.
        unsafe {
            std::ptr::copy_nonoverlapping(src as usize as *const u8, dst.as_mut_ptr(), dst.len())
        };
        Ok(())
    }
}

fn fake() -> Arc<FakeNvdec> {
    Arc::new(FakeNvdec::default())
}

fn decoder(driver: &Arc<FakeNvdec>, au: &AccessUnit, queue: usize) -> NvdecDecoder {
    NvdecDecoder::with_driver(
        &config(au),
        NvdecOptions::default().queue_frames(queue),
        driver.clone(),
    )
}

/// Mean absolute difference of two model inputs.
fn mean_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32
}

/// NVDEC output letterboxed on the CPU (the CUDA kernel's reference) against the CPU decoder's
/// frames letterboxed: same frames, same order, same pictures up to colour-conversion rounding.
fn matches_the_cpu_decoder(dec: &mut NvdecDecoder, file: &str, frames: usize) {
    let aus = units(file);
    let mut cpu = CpuDecoder::new(&config(&aus[0]), CpuDecoderOptions::default()).unwrap();
    let mut want = Vec::new();
    decode_each(&mut cpu, &aus[..frames], |f| {
        let mut input = vec![0.0f32; 3 * 640 * 640];
        if f.pts % 10 == 0 {
            letterbox(&f.rgb().unwrap(), (640, 640), &mut input).unwrap();
        }
        want.push((f.pts, f.keyframe, (f.width, f.height), input));
    });
    let mut got = Vec::new();
    let mut worst = 0.0f32;
    let mut look = |dec: &mut NvdecDecoder| {
        while let Some(f) = dec.next_frame() {
            assert!(matches!(f.pixels, Pixels::Cuda(_)), "device frames");
            if f.pts % 10 == 0 {
                let nv12 = dec.download(&f).unwrap();
                let (y, uv) = nv12.split_at(f.stride * f.height);
                let mut input = vec![0.0f32; 3 * 640 * 640];
                letterbox_nv12(y, uv, f.stride, (f.width, f.height), (640, 640), &mut input)
                    .unwrap();
                worst = worst.max(mean_diff(&input, &want[got.len()].3));
            }
            got.push((f.pts, f.keyframe, (f.width, f.height)));
        }
    };
    for au in &aus[..frames] {
        dec.decode(&packet(au)).unwrap();
        look(dec);
    }
    dec.flush().unwrap();
    look(dec);
    let want: Vec<_> = want.into_iter().map(|(p, k, s, _)| (p, k, s)).collect();
    assert_eq!(got, want, "{file}: frames, order, keyframes and sizes");
    assert!(
        worst < 0.02,
        "{file}: pictures differ by {worst} on average"
    );
    let s = dec.stats();
    assert_eq!(
        (s.packets, s.frames, s.delivered, s.corrupt),
        (frames as u64, frames as u64, frames as u64, 0)
    );
}

#[test]
fn decodes_h264_and_h265_like_the_cpu_decoder() {
    for file in ["h264_720p25.h264", "h265_720p25.h265", "boxes_720p25.h264"] {
        let driver = fake();
        let aus = units(file);
        let mut dec = decoder(&driver, &aus[0], 4);
        matches_the_cpu_decoder(&mut dec, file, 120);
        assert_eq!(dec.decoders_created(), 1);
        drop(dec);
        driver.assert_all_released();
    }
}

#[test]
fn a_consumer_that_does_not_keep_up_loses_old_frames_not_device_memory() {
    let driver = fake();
    let aus = units("h264_720p25.h264");
    let mut dec = decoder(&driver, &aus[0], 4);
    let held = support::a_slow_consumer_loses_old_frames(&mut dec);
    assert!(driver.memory_alive.load(Ordering::SeqCst) <= 8);
    // Frames outlive their decoder, and give their memory back when they go.
    drop(dec);
    assert!(driver.memory_alive.load(Ordering::SeqCst) > 0);
    let Pixels::Cuda(buf) = &held[0].pixels else {
        panic!("device frame")
    };
    let mut y = vec![0u8; 16];
    // SAFETY: the fake's device memory is host memory, alive while the frame holds it.
    unsafe { driver.download(buf.pixels().ptr, &mut y).unwrap() };
    drop(held);
    driver.assert_all_released();
}

#[test]
fn corrupt_input_is_counted_and_decoding_resumes_at_the_next_keyframe() {
    let driver = fake();
    support::corrupt_input_recovers_at_the_next_keyframe(&mut |au| {
        Box::new(decoder(&driver, au, 4))
    });
    driver.assert_all_released();
}

#[test]
fn reset_waits_for_a_keyframe_and_keeps_the_hardware_decoder() {
    let driver = fake();
    let dec = support::reset_waits_for_a_keyframe(&mut |au| Box::new(decoder(&driver, au, 4)));
    drop(dec);
    let seen = driver.seen.lock().unwrap();
    assert_eq!(seen.decoders_created, 1, "same format, same decoder");
    assert_eq!(seen.parsers_created, 2);
    drop(seen);
    driver.assert_all_released();
}

#[test]
fn a_new_resolution_gets_a_new_hardware_decoder() {
    let driver = fake();
    let small = units("h264_720p25.h264");
    let large = units("h264_1080p25.h264");
    let mut dec = decoder(&driver, &small[0], 4);
    let mut sizes = Vec::new();
    // A reconnect to a camera now streaming 1080p: no reset, the bitstream says it.
    decode_each(&mut dec, &small[..10], |f| sizes.push((f.width, f.height)));
    decode_each(&mut dec, &large[..10], |f| sizes.push((f.width, f.height)));
    assert_eq!(sizes[..10], [(1280, 720); 10]);
    assert_eq!(sizes[10..], [(1920, 1080); 10]);
    assert_eq!(dec.decoders_created(), 2);
    driver.check_clean();
    assert_eq!(driver.seen.lock().unwrap().decoders_alive, 1);
    drop(dec);
    driver.assert_all_released();
}

#[test]
fn a_format_the_gpu_cannot_decode_is_a_typed_error() {
    let driver = fake();
    driver.unsupported.store(true, Ordering::SeqCst);
    let aus = units("h264_720p25.h264");
    let mut dec = decoder(&driver, &aus[0], 4);
    match dec.decode(&packet(&aus[0])) {
        Err(Error::Unsupported {
            backend: "nvdec", ..
        }) => {}
        other => panic!("{other:?}"),
    }
    // The stream goes on being refused at each keyframe, quietly in between.
    for au in &aus[1..60] {
        let r = dec.decode(&packet(au));
        assert_eq!(r.is_err(), au.keyframe, "{r:?}");
    }
    assert_eq!(dec.stats().frames, 0);
    drop(dec);
    driver.assert_all_released();
}

#[test]
fn without_nvidia_libraries_nvdec_is_unavailable_not_a_panic() {
    let aus = units("h264_720p25.h264");
    match NvdecDecoder::new(&config(&aus[0]), NvdecOptions::default()) {
        Err(Error::Unavailable {
            backend: "nvdec",
            reason,
        }) => println!("skipped: NVDEC unavailable here ({reason})"),
        Ok(mut dec) => {
            println!("NVDEC present: comparing it with the CPU decoder");
            matches_the_cpu_decoder(&mut dec, "h264_720p25.h264", 250);
            matches_the_cpu_decoder(
                &mut NvdecDecoder::new(
                    &config(&units("h265_720p25.h265")[0]),
                    NvdecOptions::default(),
                )
                .unwrap(),
                "h265_720p25.h265",
                250,
            );
        }
        Err(e) => panic!("{e:?}"),
    }
}
