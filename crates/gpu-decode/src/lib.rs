//! Video decoding for rtsp-worker: access units in, frames ready for the detector out.
//!
//! It depends on no crate of the workspace: it takes its own [`Packet`], and only the facade
//! adapts the ingest's units to it (tidy's `LAYERS`).
//!
//! - [`Decoder`]: the per-stream trait (`decode`, `flush`, `reset`, `next_frame`), fed with
//!   this crate's own [`Packet`] and [`CodecConfig`] (callers adapt their stream types).
//! - [`Frame`]: where its pixels live — host memory from a bounded, recycling [`FramePool`],
//!   or a CUDA device pointer with its stream, so GPU frames reach inference without a copy.
//! - [`letterbox()`]: resize keeping the aspect ratio, pad with grey 114, planar RGB `f32`,
//!   with the geometry ([`Letterbox`]) to map boxes back. Shared by every backend.
//! - [`CpuDecoder`] (feature `cpu`): FFmpeg; `nvdec::NvdecDecoder` (feature `nvdec`): NVDEC.
//!
//! A consumer that does not keep up loses old frames (counted in [`DecodeStats`]); memory
//! never grows. Corrupt input is an error for that packet, then decoding resumes at the next
//! keyframe.
//!
//! # Crate features
//!
//! - `cpu` (default): [`CpuDecoder`], FFmpeg's H.264/H.265 decoders via `ffmpeg-next` and the
//!   system's libavcodec (Debian 12: FFmpeg 5.1).
//! - `nvdec`: `nvdec::NvdecDecoder`, NVIDIA's hardware decoder, producing NV12 frames on the
//!   GPU; `libnvcuvid.so.1` and `libcuda.so.1` are opened at run time, so builds and binaries
//!   need no NVIDIA software, and a machine without them gets [`Error::Unavailable`].
//! - `cuda`: the NV12 → letterboxed planar RGB kernel, compiled with NVRTC at run time.

#![warn(missing_docs)]

mod decoder;
mod error;
mod frame;
mod letterbox;

#[cfg(feature = "cpu")]
mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
#[cfg(feature = "nvdec")]
pub mod nvdec;

pub use crate::decoder::{Codec, CodecConfig, DecodeStats, Decoder, Packet};
pub use crate::error::Error;
pub use crate::frame::{
    CudaBuffer, CudaPixels, Frame, FramePool, Pending, PixelFormat, Pixels, PlanarRgbImage,
    PooledBuffer, RgbImage, Yuv420Image,
};
pub use crate::letterbox::{
    InputBatch, Letterbox, PAD, letterbox, letterbox_frame, letterbox_nv12, letterbox_planar,
    letterbox_yuv420,
};

#[cfg(feature = "cpu")]
pub use crate::cpu::{CpuDecoder, CpuDecoderOptions};
