//! NVDEC (feature `nvdec`): NVIDIA's hardware decoder, with `libnvcuvid.so.1` and
//! `libcuda.so.1` opened at run time so that nothing NVIDIA is needed to build or start.
//!
//! Status: this module loads the libraries through bindings generated from NVIDIA's headers
//! (`sys`, by `nvdec-headers/generate.sh`) and checks every entry point the decoder needs, so
//! a machine without them gets [`Error::Unavailable`]. The decode loop itself (parser callbacks,
//! `cuvidDecodePicture`, mapping frames into [`CudaPixels`](crate::CudaPixels)) is not written
//! yet: it cannot be exercised without a GPU, and none was available while this was built.
//! [`NvdecDecoder::new`] says so with [`Error::Unsupported`] where the libraries are present.

use crate::{CodecConfig, Error};

#[allow(clippy::all)] // generated FFI; see the file's header
pub mod sys;

/// The CUDA driver, which NVDEC needs for its context.
pub const CUDA_LIBRARY: &str = "libcuda.so.1";
/// NVIDIA's video decoder library.
pub const NVCUVID_LIBRARY: &str = "libnvcuvid.so.1";

/// The loaded libraries, kept open while a decoder lives.
pub struct NvdecLibraries {
    _cuda: libloading::Library,
    /// NVDECODE's entry points.
    pub nvcuvid: sys::Nvcuvid,
}

impl std::fmt::Debug for NvdecLibraries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NvdecLibraries").finish_non_exhaustive()
    }
}

/// Opens the NVIDIA libraries and checks every NVDECODE entry point.
///
/// # Errors
///
/// [`Error::Unavailable`] naming the missing library or symbol.
pub fn load() -> Result<NvdecLibraries, Error> {
    let unavailable = |reason: String| Error::Unavailable {
        backend: "nvdec",
        reason,
    };
    // SAFETY: opening NVIDIA's libraries runs their initialisers, which is what using them
    // requires; nothing is called yet.
    let cuda = unsafe { libloading::Library::new(CUDA_LIBRARY) }
        .map_err(|e| unavailable(format!("{CUDA_LIBRARY}: {e} (no NVIDIA driver?)")))?;
    // SAFETY: as above; the generated loader only resolves symbols.
    let nvcuvid = unsafe { sys::Nvcuvid::new(NVCUVID_LIBRARY) }
        .map_err(|e| unavailable(format!("{NVCUVID_LIBRARY}: {e} (no NVIDIA driver?)")))?;
    let missing = [
        ("cuvidGetDecoderCaps", nvcuvid.cuvidGetDecoderCaps.is_err()),
        (
            "cuvidCreateVideoParser",
            nvcuvid.cuvidCreateVideoParser.is_err(),
        ),
        ("cuvidParseVideoData", nvcuvid.cuvidParseVideoData.is_err()),
        (
            "cuvidDestroyVideoParser",
            nvcuvid.cuvidDestroyVideoParser.is_err(),
        ),
        ("cuvidCreateDecoder", nvcuvid.cuvidCreateDecoder.is_err()),
        ("cuvidDecodePicture", nvcuvid.cuvidDecodePicture.is_err()),
        (
            "cuvidMapVideoFrame64",
            nvcuvid.cuvidMapVideoFrame64.is_err(),
        ),
        (
            "cuvidUnmapVideoFrame64",
            nvcuvid.cuvidUnmapVideoFrame64.is_err(),
        ),
        ("cuvidDestroyDecoder", nvcuvid.cuvidDestroyDecoder.is_err()),
    ]
    .into_iter()
    .find(|(_, absent)| *absent);
    if let Some((symbol, _)) = missing {
        return Err(unavailable(format!(
            "{NVCUVID_LIBRARY} lacks {symbol} (driver too old?)"
        )));
    }
    Ok(NvdecLibraries {
        _cuda: cuda,
        nvcuvid,
    })
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
