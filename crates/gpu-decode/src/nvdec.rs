//! NVDEC (feature `nvdec`): NVIDIA's hardware decoder, with `libnvcuvid.so.1` and
//! `libcuda.so.1` opened at run time so that nothing NVIDIA is needed to build or start.
//!
//! Status: this module finds and loads the libraries and resolves every entry point the
//! decoder needs, so a machine without them gets [`Error::Unavailable`]. The decode loop itself
//! (parser callbacks, `cuvidDecodePicture`, mapping frames into [`CudaPixels`](crate::CudaPixels))
//! is not written yet: it cannot be exercised without a GPU, and none was available while this
//! was built. [`NvdecDecoder::new`] says so with [`Error::Unsupported`] where the libraries
//! are present.

use crate::{CodecConfig, Error};

/// The NVIDIA libraries and the entry points the decoder uses.
pub const LIBRARIES: [(&str, &[&str]); 2] = [
    (
        "libcuda.so.1",
        &[
            "cuInit",
            "cuDeviceGet",
            "cuCtxCreate_v2",
            "cuCtxDestroy_v2",
            "cuStreamCreate",
            "cuMemcpy2DAsync_v2",
        ],
    ),
    (
        "libnvcuvid.so.1",
        &[
            "cuvidGetDecoderCaps",
            "cuvidCreateVideoParser",
            "cuvidParseVideoData",
            "cuvidDestroyVideoParser",
            "cuvidCreateDecoder",
            "cuvidDecodePicture",
            "cuvidMapVideoFrame64",
            "cuvidUnmapVideoFrame64",
            "cuvidDestroyDecoder",
        ],
    ),
];

/// The loaded libraries (kept open while a decoder lives).
#[derive(Debug)]
pub struct NvdecLibraries {
    _libs: Vec<libloading::Library>,
}

/// Opens the NVIDIA libraries and checks every entry point.
///
/// # Errors
///
/// [`Error::Unavailable`] naming the missing library or symbol.
pub fn load() -> Result<NvdecLibraries, Error> {
    let mut libs = Vec::new();
    for (name, symbols) in LIBRARIES {
        // SAFETY: opening NVIDIA's libraries runs their initialisers, which is what using
        // them requires; nothing is called yet.
        let lib = unsafe { libloading::Library::new(name) }.map_err(|e| Error::Unavailable {
            backend: "nvdec",
            reason: format!("{name}: {e} (no NVIDIA driver?)"),
        })?;
        for symbol in symbols {
            // SAFETY: only the address is looked up; the type is not used.
            unsafe { lib.get::<*const ()>(symbol.as_bytes()) }.map_err(|e| Error::Unavailable {
                backend: "nvdec",
                reason: format!("{name} lacks {symbol}: {e} (driver too old?)"),
            })?;
        }
        libs.push(lib);
    }
    Ok(NvdecLibraries { _libs: libs })
}

/// NVIDIA's hardware decoder for one stream.
#[derive(Debug)]
pub struct NvdecDecoder {
    _libs: NvdecLibraries,
}

impl NvdecDecoder {
    /// A hardware decoder for `config`.
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] without the NVIDIA libraries (the normal case on machines
    /// without a GPU); [`Error::Unsupported`] where they are present, since the decode loop
    /// is not implemented yet (see the module documentation).
    pub fn new(config: &CodecConfig) -> Result<Self, Error> {
        let _libs = load()?;
        Err(Error::Unsupported {
            backend: "nvdec",
            what: format!(
                "{:?}: the NVDEC decode loop is not implemented yet",
                config.codec
            ),
        })
    }
}
