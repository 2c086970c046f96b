//! H.265 access units into the CPU decoder (crates/gpu-decode/tests/bad_input.rs).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rtsp_worker_fuzz::decode_unit(gpu_decode::Codec::H265, data));
