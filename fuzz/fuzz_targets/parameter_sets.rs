//! Annex B files and their SPS/PPS/VPS through the replay source (crates/rtsp-ingest/tests/bad_input.rs).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rtsp_worker_fuzz::parameter_sets(data));
