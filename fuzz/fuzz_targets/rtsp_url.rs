//! Camera URLs into `rtsp_ingest::connect` (crates/rtsp-ingest/tests/bad_input.rs).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rtsp_worker_fuzz::rtsp_url(data));
