//! Median latency of `ModelRepository::infer` per batch (1, 4, 8, 16) and intra-op thread
//! count (1, 2), timed exactly as `benches/onnxruntime_python.py` times Python's
//! `session.run` (warm-up, then the median of repeated runs), for a like-for-like comparison.
//!
//! `cargo run --release -p infer-trt --example latency -- MODEL.onnx [OUT.json]`

// An example program: it reports on the terminal.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let model = args.next().ok_or("usage: latency MODEL.onnx [OUT.json]")?;
    let out = args.next();
    let mut rows = Vec::new();
    for threads in [1usize, 2] {
        let repo = infer_trt::ModelRepository::with_threads(threads);
        repo.load_model("yolo", &model, 1)?;
        for batch in [1usize, 4, 8, 16] {
            let input = vec![0.5f32; batch * 3 * 640 * 640];
            for _ in 0..3 {
                repo.infer("yolo", &input, batch)?; // warm up
            }
            let mut times = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(6);
            while times.len() < 10 || (Instant::now() < deadline && times.len() < 50) {
                let t = Instant::now();
                repo.infer("yolo", &input, batch)?;
                times.push(t.elapsed().as_secs_f64());
            }
            times.sort_by(f64::total_cmp);
            let med = times[times.len() / 2];
            println!(
                "rust infer-trt threads={threads} batch={batch}: {:.1} ms, {:.1} img/s",
                med * 1e3,
                batch as f64 / med
            );
            rows.push(format!(
                "{{\"threads\":{threads},\"batch\":{batch},\"median_ms\":{:.3},\"images_per_s\":{:.3}}}",
                med * 1e3,
                batch as f64 / med
            ));
        }
    }
    if let Some(out) = out {
        std::fs::write(out, format!("[{}]\n", rows.join(",")))?;
    }
    Ok(())
}
