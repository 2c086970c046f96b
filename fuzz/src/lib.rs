//! What the fuzz targets run: each function takes the fuzzer's bytes to one entry point that
//! parses outside input, the same ones the `bad_input` property tests drive (see
//! `crates/*/tests/bad_input.rs`), and panics only where a property is broken.
//!
//! The targets in `fuzz_targets/` are one line each over these functions, so that a crash
//! found here replays as `rtsp_worker_fuzz::<function>(&bytes)` in a test.

use std::cell::RefCell;
use std::io::Write;

use gpu_decode::{Codec, CodecConfig, CpuDecoder, CpuDecoderOptions, Decoder, Error, Packet};
use infer_trt::yolo::{self, Thresholds};
use infer_trt::{ModelInfo, OutputLayout};

use service::config;

/// Decodes `data` as one access unit flagged as a keyframe, then again as a following unit,
/// then flushes: `Ok` or a typed error each time, counters that add up, frames that are not
/// empty. `decode_h264` and `decode_h265`.
pub fn decode_unit(codec: Codec, data: &[u8]) {
    let config = CodecConfig {
        codec,
        width: 0,
        height: 0,
    };
    let mut dec = CpuDecoder::new(&config, CpuDecoderOptions::default()).expect("FFmpeg opens");
    for (pts, keyframe) in [(0, true), (1, false)] {
        match dec.decode(&Packet {
            data,
            pts,
            keyframe,
        }) {
            Ok(()) | Err(Error::Corrupt { .. } | Error::Backend { .. }) => {}
            Err(e) => panic!("an error of the wrong kind: {e:?}"),
        }
        drain(&mut dec);
    }
    let _ = dec.flush();
    drain(&mut dec);
}

fn drain(dec: &mut CpuDecoder) {
    while let Some(f) = dec.next_frame() {
        assert!(f.width > 0 && f.height > 0, "an empty frame");
    }
    let s = dec.stats();
    assert_eq!(
        s.frames,
        s.delivered + s.dropped_queue_full + s.dropped_no_buffer + s.queued,
        "{s:?}"
    );
}

/// An Annex B file for the replay source, which reads its parameter sets (the SPS for the
/// picture size and frame rate) and splits it into access units: the first byte picks the
/// file name's extension (`.h264` or `.h265`), the rest is the file. `parameter_sets`.
pub fn parameter_sets(data: &[u8]) {
    let Some((&first, file)) = data.split_first() else {
        return;
    };
    let ext = if first & 1 == 0 { "h264" } else { "h265" };
    let path = std::env::temp_dir().join(format!(
        "rtsp-worker-fuzz-{}-{:?}.{ext}",
        std::process::id(),
        std::thread::current().id()
    ));
    let written = std::fs::File::create(&path).and_then(|mut f| f.write_all(file));
    if written.is_err() {
        return;
    }
    // Outside a tokio runtime `replay` reads and parses the whole file, then stops with
    // `NoRuntime` if it parsed.
    match rtsp_ingest::replay(&path, rtsp_ingest::ReplayOptions::default()) {
        Err(rtsp_ingest::Error::NoRuntime | rtsp_ingest::Error::Replay { .. }) => {}
        other => panic!("unexpected {other:?}"),
    }
}

/// One image's model output: byte 0 picks the layout, bytes 1..5 and 5..9 the classes and
/// anchors (small, shifted far up, or near `usize::MAX`), 9..13 the confidence threshold and
/// 13..15 the frame size; the rest are the floats. Every candidate and detection must be
/// finite and in range. `yolo_output`.
pub fn yolo_output(data: &[u8]) {
    if data.len() < 15 {
        return;
    }
    let layout = if data[0] & 1 == 0 {
        OutputLayout::ChannelsFirst
    } else {
        OutputLayout::AnchorsFirst
    };
    let dim = |b: &[u8]| {
        let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        match b[3] >> 6 {
            3 => usize::MAX - (v & 0xff) as usize,
            2 => ((v & 0xffff) as usize) << 24,
            _ => (v & 0x3ff) as usize,
        }
    };
    let (classes, anchors) = (dim(&data[1..5]), dim(&data[5..9]));
    let threshold = f32::from_le_bytes([data[9], data[10], data[11], data[12]]);
    let source = (
        usize::from(data[13]) * 16 + 1,
        usize::from(data[14]) * 9 + 1,
    );
    let output: Vec<f32> = data[15..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();

    let finite = |b: &[f32; 4]| b.iter().all(|v| v.is_finite());
    let cands = yolo::candidates(&output, layout, classes, anchors, threshold);
    assert!(cands.len() <= anchors);
    for c in &cands {
        assert!(finite(&c.bbox) && c.confidence.is_finite(), "{c:?}");
        assert!(c.confidence >= threshold && c.class_id < classes, "{c:?}");
    }

    let info = ModelInfo {
        path: "fuzz.onnx".into(),
        input_name: "images".into(),
        input_size: (640, 640),
        fixed_batch: None,
        num_classes: classes,
        anchors,
        layout,
        class_names: vec!["person".into()],
        contexts: 1,
    };
    let letterbox = gpu_decode::Letterbox::new(source, info.input_size).expect("sizes > 0");
    let t = Thresholds {
        confidence: threshold,
        ..Thresholds::default()
    };
    for d in yolo::postprocess(&output, &info, &letterbox, &t) {
        assert!(finite(&d.bbox) && d.confidence.is_finite(), "{d:?}");
        let [x1, y1, x2, y2] = d.bbox;
        let (w, h) = (source.0 as f32, source.1 as f32);
        assert!([x1, x2].iter().all(|x| (0.0..=w).contains(x)), "{d:?}");
        assert!([y1, y2].iter().all(|y| (0.0..=h).contains(y)), "{d:?}");
    }
}

/// A cameras file (`--config`): `Ok`, or an error that says something. `config_file`.
pub fn config_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = config::parse(text, 0, false) {
        assert!(!e.trim().is_empty());
    }
}

thread_local! {
    /// A runtime that is entered, never driven: `connect` creates its session task, which is
    /// dropped unpolled, so no name is resolved and no connection made.
    static RUNTIME: RefCell<tokio::runtime::Runtime> = RefCell::new(
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime"),
    );
}

/// The password of `scheme://user:password@host…` as RFC 3986 reads it, if the text has one
/// that appears nowhere else in it (long enough that it cannot be a coincidence).
fn url_password(text: &str) -> Option<&str> {
    let rest = &text[text.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    let password = &userinfo[userinfo.find(':')? + 1..];
    (password.len() >= 4 && text.matches(password).count() == 1).then_some(password)
}

/// A camera URL for `rtsp_ingest::connect`: accepted or refused, its password (if it has
/// one) never shows in the redacted URL or the error. `rtsp_url`.
pub fn rtsp_url(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let shown = RUNTIME.with(|rt| {
        let rt = rt.borrow();
        let _inside = rt.enter();
        match rtsp_ingest::connect(text, rtsp_ingest::SessionOptions::default()) {
            Ok(camera) => {
                camera.stop();
                camera.url().as_str().to_owned()
            }
            Err(e @ rtsp_ingest::Error::InvalidUrl { .. }) => format!("{e} {e:?}"),
            Err(e) => panic!("not an InvalidUrl error: {e:?}"),
        }
    });
    if let Some(password) = url_password(text) {
        assert!(
            !shown.contains(password),
            "{text:?} shows its password: {shown}"
        );
    }
}

/// A `POST /api/v1/streams` body, taken as the handler takes it (`add` in
/// `crates/service/src/http/mod.rs`, mirrored here as that is a handler over a running service): JSON,
/// an object, `options` merged into the top level, no `password_env`, an `Entry`, then the
/// entry's checks. `http_body`.
pub fn http_body(data: &[u8]) {
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Some(map) = value.as_object_mut() else {
        return;
    };
    if let Some(options) = map.remove("options") {
        let serde_json::Value::Object(options) = options else {
            return;
        };
        for (k, v) in options {
            if map.insert(k, v).is_some() {
                return;
            }
        }
    }
    if map.contains_key("password_env") {
        return;
    }
    let Ok(entry) = serde_json::from_value::<config::Entry>(value) else {
        return;
    };
    let id = entry.id.clone().unwrap_or_else(|| "stream_0".into());
    if let Ok(camera) = entry.into_camera(id, "stream", config::Trust::NETWORK) {
        assert!(!camera.id.is_empty() && !camera.id.contains('/'));
        assert!(camera.url.to_ascii_lowercase().starts_with("rtsp://"));
    }
}
