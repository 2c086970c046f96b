//! `POST /api/v1/streams` bodies, taken as the handler does (crates/rtsp-worker-cli/tests/bad_input.rs).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rtsp_worker_fuzz::http_body(data));
