//! Model outputs of any shape and value into the YOLO decoder (crates/infer-trt/tests/bad_input.rs).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rtsp_worker_fuzz::yolo_output(data));
