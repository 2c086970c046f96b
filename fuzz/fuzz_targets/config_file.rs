//! Cameras files into the `--config` parser (crates/rtsp-worker-cli/tests/bad_input.rs).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rtsp_worker_fuzz::config_file(data));
