//! NVIDIA's libraries, opened at run time: nothing NVIDIA is needed to build or start.

use super::sys;
use crate::Error;

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
        .map_err(|e| unavailable(format!("{e} (no NVIDIA driver?)")))?;
    // SAFETY: as above; the generated loader only resolves symbols.
    let nvcuvid = unsafe { sys::Nvcuvid::new(NVCUVID_LIBRARY) }
        .map_err(|e| unavailable(format!("{e} (no NVIDIA driver?)")))?;
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
            "cuvidGetDecodeStatus",
            nvcuvid.cuvidGetDecodeStatus.is_err(),
        ),
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
