//! What the binary prints: JSON lines on stdout (results, and events with `--events`), a
//! status line and the final accounting on stderr.

use rtsp_worker::{ManagerStats, StreamEvent, StreamState, TrackState, TrackingResult};

/// One stdout line for an event of stream `id`: a result as itself, a lifecycle event as
/// `{"event": …, "stream_id": …}`.
pub fn json_line(id: &str, event: &StreamEvent) -> String {
    match event {
        StreamEvent::Result(r) => serde_json::to_string(r).unwrap_or_default(),
        other => {
            let mut v = serde_json::to_value(other).unwrap_or_default();
            if let Some(map) = v.as_object_mut() {
                map.insert("stream_id".into(), id.into());
            }
            v.to_string()
        }
    }
}

/// With `--events`: one line per zone entry, exit, loitering or line crossing of a result,
/// `{"event": "entered" | "left" | "loitering" | "crossed", "stream_id": …, "timestamp": …, …}`.
pub fn zone_event_lines(r: &TrackingResult) -> Vec<String> {
    r.zone_events
        .iter()
        .map(|e| {
            let mut v = serde_json::to_value(e).unwrap_or_default();
            if let Some(map) = v.as_object_mut() {
                if let Some(kind) = map.remove("type") {
                    map.insert("event".into(), kind);
                }
                map.insert("stream_id".into(), r.stream_id.clone().into());
                map.insert("frame_number".into(), r.frame_number.into());
                map.insert("timestamp".into(), r.timestamp.into());
            }
            v.to_string()
        })
        .collect()
}

/// The one-line status: streams up, rates, batch fill, worst p99 latency, drops by reason.
pub fn status_line(s: &ManagerStats) -> String {
    let up = s
        .streams
        .values()
        .filter(|t| t.state == StreamState::Connected)
        .count();
    let fps_in: f64 = s.streams.values().map(|t| t.fps_in).sum();
    let fps_out: f64 = s.streams.values().map(|t| t.fps_out).sum();
    let p99 = s
        .streams
        .values()
        .map(|t| t.latency_ms.p99)
        .fold(0.0, f64::max);
    let mut drops = [
        ("superseded", 0u64),
        ("ingest_gap", 0),
        ("decode_error", 0),
        ("decoder_overflow", 0),
        ("not_decoded", 0),
        ("rate_limited", 0),
        ("inference_failed", 0),
        ("consumer_too_slow", 0),
        ("shutdown", 0),
    ];
    for t in s.streams.values() {
        let d = t.accounting.dropped;
        for (name, n) in &mut drops {
            *n += match *name {
                "superseded" => d.superseded,
                "ingest_gap" => d.ingest_gap,
                "decode_error" => d.decode_error,
                "decoder_overflow" => d.decoder_overflow,
                "not_decoded" => d.not_decoded,
                "rate_limited" => d.rate_limited,
                "inference_failed" => d.inference_failed,
                "consumer_too_slow" => d.consumer_too_slow,
                _ => d.shutdown,
            };
        }
    }
    let dropped: Vec<String> = drops
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    // Streams decoding less than everything (adaptive decoding or a detect_fps cap).
    let partial: Vec<String> = ["gop_prefix", "keyframes"]
        .iter()
        .map(|mode| {
            let n = s
                .streams
                .values()
                .filter(|t| t.decode_mode == *mode)
                .count();
            (mode, n)
        })
        .filter(|(_, n)| *n > 0)
        .map(|(mode, n)| format!("{n} {mode}"))
        .collect();
    let decoding = if partial.is_empty() {
        String::new()
    } else {
        format!(" | decoding: {}", partial.join(", "))
    };
    // Which model runs: its file name, the start of its hash, and how many swaps so far.
    let name = s.model.file_name().unwrap_or_else(|| s.model.path.clone());
    let model = format!(
        "{name} {}x{} {}{}",
        s.model.input_width,
        s.model.input_height,
        s.model.sha256.get(..8).unwrap_or(""),
        if s.model.swaps > 0 {
            format!(" (swap {})", s.model.swaps)
        } else {
            String::new()
        }
    );
    format!(
        "status: {up}/{} streams up | fps in {fps_in:.1} out {fps_out:.1} | batch fill {:.2} | \
         detector p50 {:.0} ms | model {model} | latency p99 {p99:.0} ms{decoding} | dropped: {}",
        s.streams.len(),
        s.batcher.mean_fill,
        s.detector.batch_ms.p50,
        if dropped.is_empty() {
            "none".to_owned()
        } else {
            dropped.join(", ")
        }
    )
}

/// The final accounting, one row per stream.
pub fn accounting_table(s: &ManagerStats) -> String {
    let mut out = String::from(
        "final accounting (received = results + dropped + in pipeline):\n\
         stream               received  results  superseded  ingest_gap  decode_err  \
         dec_overflow  not_decoded  rate_limited  infer_fail  too_slow  shutdown  in_pipe  balanced\n",
    );
    for (id, t) in &s.streams {
        let a = t.accounting;
        let d = a.dropped;
        out.push_str(&format!(
            "{id:<20} {:>9} {:>8} {:>11} {:>11} {:>11} {:>13} {:>12} {:>13} {:>11} {:>9} {:>9} {:>8}  {}\n",
            a.received,
            a.results,
            d.superseded,
            d.ingest_gap,
            d.decode_error,
            d.decoder_overflow,
            d.not_decoded,
            d.rate_limited,
            d.inference_failed,
            d.consumer_too_slow,
            d.shutdown,
            a.in_pipeline,
            if a.balanced() { "yes" } else { "NO" },
        ));
        if let Some(e) = &t.last_error {
            out.push_str(&format!("{:<20} last error: {e}\n", ""));
        }
    }
    out
}

/// A human line for the demo: the frame, its latency, and its confirmed tracks.
pub fn demo_line(r: &TrackingResult) -> String {
    let tracks: Vec<String> = r
        .tracked_objects
        .iter()
        .filter(|t| t.state == TrackState::Confirmed)
        .map(|t| format!("#{} {} {:.2}", t.track_id, t.class_name, t.confidence))
        .collect();
    let persons = r
        .detections
        .iter()
        .filter(|d| d.class_name == "person")
        .count();
    format!(
        "[{:<8}] frame {:>5}  latency {:>4.0} ms  {} detections ({persons} persons)  tracks: {}",
        r.stream_id,
        r.frame_number,
        r.latency_ms,
        r.detections.len(),
        if tracks.is_empty() {
            "-".to_owned()
        } else {
            tracks.join(", ")
        }
    )
}
