//! NVDEC without NVIDIA's libraries: a typed "unavailable", never a panic. Run with
//! `--features nvdec`; on a GPU machine it reports what it found.

// The outcome is reported on stdout.
#![allow(clippy::print_stdout)]

use gpu_decode::nvdec::NvdecDecoder;
use gpu_decode::{Codec, CodecConfig, Error};

#[test]
fn no_driver_means_unavailable_not_a_panic() {
    let config = CodecConfig {
        codec: Codec::H264,
        width: 1280,
        height: 720,
    };
    match NvdecDecoder::new(&config) {
        Err(Error::Unavailable {
            backend: "nvdec",
            reason,
        }) => {
            println!("skipped: NVDEC unavailable here ({reason})");
        }
        Err(Error::Unsupported {
            backend: "nvdec",
            what,
        }) => {
            println!("NVIDIA libraries present; {what}");
        }
        other => panic!("{other:?}"),
    }
}
