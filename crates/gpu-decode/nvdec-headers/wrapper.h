/* Input to bindgen for src/nvdec/sys.rs (see nvdec-headers/README.md). The headers are
 * FFmpeg's nv-codec-headers (MIT licence, from Debian's libffmpeg-nvenc-dev): they declare
 * NVDECODE's functions as function types, which this file turns into declarations so that
 * `bindgen --dynamic-loading` emits a struct that opens libnvcuvid at run time. */
#include <ffnvcodec/dynlink_cuda.h>
#include <ffnvcodec/dynlink_nvcuvid.h>

tcuvidGetDecoderCaps cuvidGetDecoderCaps;
tcuvidCreateVideoParser cuvidCreateVideoParser;
tcuvidParseVideoData cuvidParseVideoData;
tcuvidDestroyVideoParser cuvidDestroyVideoParser;
tcuvidCreateDecoder cuvidCreateDecoder;
tcuvidDecodePicture cuvidDecodePicture;
tcuvidGetDecodeStatus cuvidGetDecodeStatus;
tcuvidReconfigureDecoder cuvidReconfigureDecoder;
tcuvidMapVideoFrame64 cuvidMapVideoFrame64;
tcuvidUnmapVideoFrame64 cuvidUnmapVideoFrame64;
tcuvidDestroyDecoder cuvidDestroyDecoder;
tcuvidCtxLockCreate cuvidCtxLockCreate;
tcuvidCtxLockDestroy cuvidCtxLockDestroy;
