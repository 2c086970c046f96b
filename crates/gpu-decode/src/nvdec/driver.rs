//! What [`NvdecDecoder`](super::NvdecDecoder) asks of NVIDIA's libraries, as a trait: the real
//! thing ([`CudaDriver`]: libnvcuvid through the generated bindings, libcuda through cudarc),
//! or a stand-in where there is no GPU (the tests run the decoder on one backed by FFmpeg).

use std::ffi::c_int;
use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaStream, result as cu, sys as cusys};

use super::libs::{NvdecLibraries, load};
use super::sys::{
    CUVIDDECODECAPS, CUVIDDECODECREATEINFO, CUVIDPARSERPARAMS, CUVIDPICPARAMS, CUVIDPROCPARAMS,
    CUVIDSOURCEDATAPACKET, CUresult, CUstream, CUvideodecoder, CUvideoparser, cuvidDecodeStatus,
};
use crate::Error;

/// Device memory a [`Driver`] allocated; freed when dropped.
pub trait DeviceMemory: Send + Sync {
    /// Its device address.
    fn ptr(&self) -> u64;
}

/// A pitched copy between two device buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copy2d {
    /// Source address.
    pub src: u64,
    /// Source bytes per row.
    pub src_pitch: usize,
    /// Destination address.
    pub dst: u64,
    /// Destination bytes per row.
    pub dst_pitch: usize,
    /// Bytes copied per row.
    pub width: usize,
    /// Rows copied.
    pub rows: usize,
}

/// NVDECODE's functions and the few CUDA driver calls the decoder needs, one context and
/// stream per driver.
///
/// Methods returning [`CUresult`] mirror the NVDECODE function of the same name.
///
/// # Safety
///
/// Implementations must honour NVDECODE's contract, which the decoder relies on for memory
/// safety: `parse` calls the callbacks in the parser parameters only from within itself, on
/// the calling thread, with the user data and valid pointers (`null` display info only at
/// the end of the stream); `map` returns an address `copy_2d` and `download` can read for
/// the picture's planes until `unmap`; `alloc` returns memory `copy_2d` can write.
pub unsafe trait Driver: Send + Sync {
    /// Makes the driver's CUDA context current on the calling thread.
    ///
    /// # Errors
    ///
    /// The driver's failure.
    fn bind(&self) -> Result<(), Error>;

    /// `cuvidCreateVideoParser`.
    ///
    /// # Safety
    ///
    /// The callbacks and user data in `params` must stay valid until `destroy_parser`.
    unsafe fn create_parser(
        &self,
        params: &mut CUVIDPARSERPARAMS,
    ) -> Result<CUvideoparser, CUresult>;

    /// `cuvidParseVideoData`: runs the parser's callbacks for what `packet` completes.
    ///
    /// # Safety
    ///
    /// `parser` must come from `create_parser` and `packet`'s payload must be readable.
    unsafe fn parse(&self, parser: CUvideoparser, packet: &mut CUVIDSOURCEDATAPACKET) -> CUresult;

    /// `cuvidDestroyVideoParser`.
    ///
    /// # Safety
    ///
    /// `parser` must come from `create_parser`, and is not used again.
    unsafe fn destroy_parser(&self, parser: CUvideoparser);

    /// `cuvidGetDecoderCaps`.
    fn caps(&self, caps: &mut CUVIDDECODECAPS) -> CUresult;

    /// `cuvidCreateDecoder`.
    fn create_decoder(&self, info: &mut CUVIDDECODECREATEINFO) -> Result<CUvideodecoder, CUresult>;

    /// `cuvidDecodePicture`.
    ///
    /// # Safety
    ///
    /// `decoder` must come from `create_decoder`; `pic` is the parser's, from its callback.
    unsafe fn decode_picture(&self, decoder: CUvideodecoder, pic: *mut CUVIDPICPARAMS) -> CUresult;

    /// `cuvidGetDecodeStatus`.
    ///
    /// # Safety
    ///
    /// `decoder` must come from `create_decoder`.
    unsafe fn decode_status(
        &self,
        decoder: CUvideodecoder,
        index: c_int,
    ) -> Result<cuvidDecodeStatus, CUresult>;

    /// `cuvidMapVideoFrame64`: the picture's address and pitch.
    ///
    /// # Safety
    ///
    /// `decoder` must come from `create_decoder`.
    unsafe fn map(
        &self,
        decoder: CUvideodecoder,
        index: c_int,
        proc: &mut CUVIDPROCPARAMS,
    ) -> Result<(u64, u32), CUresult>;

    /// `cuvidUnmapVideoFrame64`.
    ///
    /// # Safety
    ///
    /// `ptr` must come from `map` on this decoder.
    unsafe fn unmap(&self, decoder: CUvideodecoder, ptr: u64) -> CUresult;

    /// `cuvidDestroyDecoder`.
    ///
    /// # Safety
    ///
    /// `decoder` must come from `create_decoder`, and is not used again.
    unsafe fn destroy_decoder(&self, decoder: CUvideodecoder);

    /// The stream copies (and post-processing of mapped pictures) run on.
    fn stream(&self) -> CUstream;

    /// `bytes` of device memory.
    ///
    /// # Errors
    ///
    /// Out of device memory, or the driver's failure.
    fn alloc(&self, bytes: usize) -> Result<Box<dyn DeviceMemory>, Error>;

    /// Queues a pitched device-to-device copy on [`stream`](Self::stream).
    ///
    /// # Safety
    ///
    /// Both regions must be valid device memory until the stream is synchronised.
    ///
    /// # Errors
    ///
    /// The driver's failure.
    unsafe fn copy_2d(&self, copy: &Copy2d) -> Result<(), Error>;

    /// Waits for the stream.
    ///
    /// # Errors
    ///
    /// The driver's failure (including errors of earlier asynchronous work).
    fn synchronize(&self) -> Result<(), Error>;

    /// Copies `dst.len()` bytes from device address `src` to the host.
    ///
    /// # Safety
    ///
    /// `src` must be valid device memory of at least `dst.len()` bytes.
    ///
    /// # Errors
    ///
    /// The driver's failure.
    unsafe fn download(&self, src: u64, dst: &mut [u8]) -> Result<(), Error>;
}

const BACKEND: &str = "nvdec";

fn cuda_error(what: &str, e: cu::DriverError) -> Error {
    Error::Backend {
        backend: BACKEND,
        message: format!("{what}: {e}"),
    }
}

/// NVIDIA's libraries on GPU `ordinal`: NVDECODE from `libnvcuvid.so.1`, memory and copies
/// through cudarc on the device's primary context and a stream of its own.
pub struct CudaDriver {
    stream: Arc<CudaStream>,
    ctx: Arc<CudaContext>,
    /// Last: fields drop in order, and the libraries must outlive everything made with them.
    libs: NvdecLibraries,
}

impl std::fmt::Debug for CudaDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaDriver")
            .field("gpu", &self.ctx.ordinal())
            .finish_non_exhaustive()
    }
}

impl CudaDriver {
    /// Opens the libraries and GPU `ordinal`.
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] without the NVIDIA libraries or the device.
    pub fn open(ordinal: usize) -> Result<Self, Error> {
        let libs = load()?;
        let unavailable = |reason: String| Error::Unavailable {
            backend: BACKEND,
            reason,
        };
        // cudarc's loader panics where it finds no libcuda: ask first.
        // SAFETY: only tries to open the library.
        if !unsafe { cusys::is_culib_present() } {
            return Err(unavailable("cudarc finds no libcuda".into()));
        }
        let ctx =
            CudaContext::new(ordinal).map_err(|e| unavailable(format!("GPU {ordinal}: {e}")))?;
        let stream = ctx
            .new_stream()
            .map_err(|e| cuda_error("cuStreamCreate", e))?;
        Ok(Self { stream, ctx, libs })
    }
}

struct CudaMemory {
    ptr: cusys::CUdeviceptr,
    ctx: Arc<CudaContext>,
}

impl DeviceMemory for CudaMemory {
    fn ptr(&self) -> u64 {
        self.ptr
    }
}

impl Drop for CudaMemory {
    fn drop(&mut self) {
        // Nothing to report to on drop: a failure here means the context is already broken.
        if self.ctx.bind_to_thread().is_ok() {
            // SAFETY: allocated with malloc_sync in this context, freed once.
            let _ = unsafe { cu::free_sync(self.ptr) };
        }
    }
}

// SAFETY: every call forwards to NVIDIA's implementation of the same contract.
unsafe impl Driver for CudaDriver {
    fn bind(&self) -> Result<(), Error> {
        self.ctx
            .bind_to_thread()
            .map_err(|e| cuda_error("cuCtxSetCurrent", e))
    }

    unsafe fn create_parser(
        &self,
        params: &mut CUVIDPARSERPARAMS,
    ) -> Result<CUvideoparser, CUresult> {
        let mut parser = std::ptr::null_mut();
        // SAFETY: forwarded; the caller vouches for the callbacks.
        let r = unsafe {
            self.libs
                .nvcuvid
                .cuvidCreateVideoParser(&mut parser, params)
        };
        if r == CUresult::CUDA_SUCCESS {
            Ok(parser)
        } else {
            Err(r)
        }
    }

    unsafe fn parse(&self, parser: CUvideoparser, packet: &mut CUVIDSOURCEDATAPACKET) -> CUresult {
        // SAFETY: forwarded.
        unsafe { self.libs.nvcuvid.cuvidParseVideoData(parser, packet) }
    }

    unsafe fn destroy_parser(&self, parser: CUvideoparser) {
        // SAFETY: forwarded.
        unsafe { self.libs.nvcuvid.cuvidDestroyVideoParser(parser) };
    }

    fn caps(&self, caps: &mut CUVIDDECODECAPS) -> CUresult {
        // SAFETY: `caps` is a valid, initialised struct.
        unsafe { self.libs.nvcuvid.cuvidGetDecoderCaps(caps) }
    }

    fn create_decoder(&self, info: &mut CUVIDDECODECREATEINFO) -> Result<CUvideodecoder, CUresult> {
        let mut decoder = std::ptr::null_mut();
        // SAFETY: `info` is a valid, initialised struct.
        let r = unsafe { self.libs.nvcuvid.cuvidCreateDecoder(&mut decoder, info) };
        if r == CUresult::CUDA_SUCCESS {
            Ok(decoder)
        } else {
            Err(r)
        }
    }

    unsafe fn decode_picture(&self, decoder: CUvideodecoder, pic: *mut CUVIDPICPARAMS) -> CUresult {
        // SAFETY: forwarded.
        unsafe { self.libs.nvcuvid.cuvidDecodePicture(decoder, pic) }
    }

    unsafe fn decode_status(
        &self,
        decoder: CUvideodecoder,
        index: c_int,
    ) -> Result<cuvidDecodeStatus, CUresult> {
        // SAFETY: the struct is plain data; zero is a valid value for each field.
        let mut status = unsafe { std::mem::zeroed() };
        // SAFETY: forwarded.
        let r = unsafe {
            self.libs
                .nvcuvid
                .cuvidGetDecodeStatus(decoder, index, &mut status)
        };
        if r == CUresult::CUDA_SUCCESS {
            Ok(status.decodeStatus)
        } else {
            Err(r)
        }
    }

    unsafe fn map(
        &self,
        decoder: CUvideodecoder,
        index: c_int,
        proc: &mut CUVIDPROCPARAMS,
    ) -> Result<(u64, u32), CUresult> {
        let (mut ptr, mut pitch) = (0, 0);
        // SAFETY: forwarded.
        let r = unsafe {
            self.libs
                .nvcuvid
                .cuvidMapVideoFrame64(decoder, index, &mut ptr, &mut pitch, proc)
        };
        if r == CUresult::CUDA_SUCCESS {
            Ok((ptr, pitch))
        } else {
            Err(r)
        }
    }

    unsafe fn unmap(&self, decoder: CUvideodecoder, ptr: u64) -> CUresult {
        // SAFETY: forwarded.
        unsafe { self.libs.nvcuvid.cuvidUnmapVideoFrame64(decoder, ptr) }
    }

    unsafe fn destroy_decoder(&self, decoder: CUvideodecoder) {
        // SAFETY: forwarded.
        unsafe { self.libs.nvcuvid.cuvidDestroyDecoder(decoder) };
    }

    fn stream(&self) -> CUstream {
        self.stream.cu_stream().cast()
    }

    fn alloc(&self, bytes: usize) -> Result<Box<dyn DeviceMemory>, Error> {
        self.bind()?;
        // SAFETY: plain device bytes; every byte is written before it is read.
        let ptr = unsafe { cu::malloc_sync(bytes) }.map_err(|e| cuda_error("cuMemAlloc", e))?;
        Ok(Box::new(CudaMemory {
            ptr,
            ctx: self.ctx.clone(),
        }))
    }

    unsafe fn copy_2d(&self, copy: &Copy2d) -> Result<(), Error> {
        // SAFETY: the struct is plain data; zero is a valid value for each field.
        let mut c: cusys::CUDA_MEMCPY2D = unsafe { std::mem::zeroed() };
        c.srcMemoryType = cusys::CUmemorytype::CU_MEMORYTYPE_DEVICE;
        c.srcDevice = copy.src;
        c.srcPitch = copy.src_pitch;
        c.dstMemoryType = cusys::CUmemorytype::CU_MEMORYTYPE_DEVICE;
        c.dstDevice = copy.dst;
        c.dstPitch = copy.dst_pitch;
        c.WidthInBytes = copy.width;
        c.Height = copy.rows;
        // SAFETY: the caller vouches for both regions.
        unsafe { cusys::cuMemcpy2DAsync_v2(&c, self.stream.cu_stream()) }
            .result()
            .map_err(|e| cuda_error("cuMemcpy2DAsync", e))
    }

    fn synchronize(&self) -> Result<(), Error> {
        self.stream
            .synchronize()
            .map_err(|e| cuda_error("cuStreamSynchronize", e))
    }

    unsafe fn download(&self, src: u64, dst: &mut [u8]) -> Result<(), Error> {
        self.bind()?;
        // SAFETY: the caller vouches for `src`.
        unsafe { cu::memcpy_dtoh_sync(dst, src) }.map_err(|e| cuda_error("cuMemcpyDtoH", e))
    }
}
