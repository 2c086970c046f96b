//! The whole pipeline on live RTSP streams, wired by hand until the `rtsp-worker` facade
//! exists: rtsp-ingest → gpu-decode (CPU) → batcher (newest frame wins) → infer-trt → one
//! SORT tracker per stream. `cargo xtask demo` serves the sample clips on loopback and runs it.
//!
//! `cargo run --release -p infer-trt --example pipeline -- [--seconds N] [--model M.onnx] URL...`

// An example program: it reports on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use batcher::{Config, OverflowPolicy, tokio_driver};
use gpu_decode::{
    Codec, CodecConfig, CpuDecoder, CpuDecoderOptions, Decoder, Frame, Letterbox, Packet,
};
use infer_trt::{Detector, DetectorOptions, ModelRepository};
use rtsp_ingest::{Event, SessionOptions};

/// A decoded frame on its way to the detector.
struct Item {
    frame: Frame,
    frame_number: u64,
    received: Instant,
    /// Source size, to map boxes from the scaled frame back to camera pixels.
    source: (usize, usize),
}

#[derive(Default)]
struct Counters {
    received: AtomicU64,
    decoded: AtomicU64,
    detected: AtomicU64,
}

fn args() -> Result<(u64, String, Vec<String>), String> {
    let mut seconds = 20;
    let mut model = infer_trt::default_library_path()
        .parent()
        .and_then(|p| p.parent())
        .and_then(|p| p.parent())
        .map(|cache| {
            cache
                .join("models/yolov12n-dynamic.onnx")
                .display()
                .to_string()
        })
        .unwrap_or_default();
    if let Ok(m) = std::env::var("RTSP_WORKER_MODEL_DYNAMIC") {
        model = m;
    }
    let mut urls = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--seconds N")?
            }
            "--model" => model = it.next().ok_or("--model PATH")?,
            _ => urls.push(a),
        }
    }
    if urls.is_empty() {
        return Err("usage: pipeline [--seconds N] [--model M.onnx] rtsp://… …".into());
    }
    Ok((seconds, model, urls))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (seconds, model, urls) = args()?;
    let repo = Arc::new(ModelRepository::with_threads(1));
    let info = repo.load_model("yolo", &model, 1)?;
    let detector = Arc::new(Detector::new(repo, "yolo", DetectorOptions::default())?);
    println!(
        "model {} ({}x{} input, {} classes), {} stream(s), {seconds} s",
        model,
        info.input_size.0,
        info.input_size.1,
        info.num_classes,
        urls.len()
    );

    let config = Config::builder()
        // On a CPU one image takes ~0.1 s: small batches keep latency down.
        .batch_size(urls.len().clamp(1, 4))
        .force_timeout(Duration::from_millis(50))
        .capacity(urls.len().max(4))
        .overflow(OverflowPolicy::LatestPerKey)
        .build()?;
    let (handle, mut batches) = tokio_driver::spawn::<usize, Item>(config)?;
    let counters: Arc<Vec<Counters>> = Arc::new(urls.iter().map(|_| Counters::default()).collect());

    // One task per camera: receive, decode (scaled to the model's letterbox), submit.
    let mut streams = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        let mut cam = rtsp_ingest::connect(url, SessionOptions::default())?;
        let handle = handle.clone();
        let counters = counters.clone();
        let input = info.input_size;
        streams.push(tokio::spawn(async move {
            let mut dec: Option<(CpuDecoder, (usize, usize))> = None;
            while let Some(event) = cam.next().await {
                let au = match event {
                    Event::Frame(au) => au,
                    Event::Ended { reason } => {
                        println!("[{i}] ended: {reason:?}");
                        break;
                    }
                    Event::Connecting { .. } => continue,
                    Event::Connected { params, .. } => {
                        println!(
                            "[{i}] connected: {} {}x{}",
                            params.codec, params.width, params.height
                        );
                        continue;
                    }
                    other => {
                        println!("[{i}] {other:?}");
                        continue;
                    }
                };
                counters[i].received.fetch_add(1, Ordering::Relaxed);
                let source = (au.params.width as usize, au.params.height as usize);
                if au.resync || dec.is_none() {
                    let codec = match au.params.codec {
                        rtsp_ingest::Codec::H264 => Codec::H264,
                        rtsp_ingest::Codec::H265 => Codec::H265,
                    };
                    let resized = Letterbox::new(source, input).map(|l| l.resized).ok();
                    let options = CpuDecoderOptions::default()
                        .output_size(resized)
                        .yuv420(true);
                    let config = CodecConfig {
                        codec,
                        width: au.params.width,
                        height: au.params.height,
                    };
                    match CpuDecoder::new(&config, options) {
                        Ok(d) => dec = Some((d, source)),
                        Err(e) => {
                            eprintln!("[{i}] decoder: {e}");
                            break;
                        }
                    }
                }
                let Some((d, source)) = dec.as_mut() else {
                    continue;
                };
                let packet = Packet {
                    data: &au.data,
                    pts: au.frame_number as i64,
                    keyframe: au.keyframe,
                };
                if let Err(e) = tokio::task::block_in_place(|| d.decode(&packet)) {
                    eprintln!("[{i}] {e}");
                }
                while let Some(frame) = d.next_frame() {
                    counters[i].decoded.fetch_add(1, Ordering::Relaxed);
                    let item = Item {
                        frame,
                        frame_number: au.frame_number,
                        received: au.received,
                        source: *source,
                    };
                    // Newest frame wins: a stale one of this camera is dropped and counted.
                    let _ = handle.try_submit(i, item);
                }
            }
        }));
    }

    // The detector: one call per batch, then each stream's tracker.
    let counters2 = counters.clone();
    let n_streams = urls.len();
    let detect = tokio::spawn(async move {
        let cfg = tracker::TrackerConfig::default();
        let mut trackers: Vec<Box<dyn tracker::Tracker>> =
            (0..n_streams).map(|_| cfg.build()).collect();
        let mut latencies = Vec::new();
        let mut last_print = Instant::now();
        let mut persons = vec![0usize; n_streams];
        let mut tracks = vec![0usize; n_streams];
        while let Some(mut batch) = batches.recv().await {
            let items: Vec<batcher::Item<usize, Item>> = std::mem::take(&mut batch.items);
            let detector = detector.clone();
            let (items, results) = tokio::task::spawn_blocking(move || {
                let frames: Vec<&Frame> = items.iter().map(|i| &i.value.frame).collect();
                let r = detector.detect(&frames);
                (items, r)
            })
            .await
            .expect("detector task");
            drop(batch); // frees the batcher's slot
            let Ok(results) = results else {
                eprintln!("detection failed: {:?}", results.err());
                continue;
            };
            for (item, dets) in items.iter().zip(results) {
                let s = item.key;
                counters2[s].detected.fetch_add(1, Ordering::Relaxed);
                latencies.push(item.value.received.elapsed());
                let (fw, fh) = (
                    item.value.frame.width as f32,
                    item.value.frame.height as f32,
                );
                let (sx, sy) = (
                    item.value.source.0 as f32 / fw,
                    item.value.source.1 as f32 / fh,
                );
                let input: Vec<tracker::Detection> = dets
                    .iter()
                    .map(|d| tracker::Detection {
                        bbox: tracker::BBox::new(
                            d.bbox[0] * sx,
                            d.bbox[1] * sy,
                            d.bbox[2] * sx,
                            d.bbox[3] * sy,
                        ),
                        confidence: d.confidence,
                        class_id: d.class_id as u32,
                    })
                    .collect();
                persons[s] = dets.iter().filter(|d| d.class_name == "person").count();
                let Ok(u) = trackers[s].update(item.value.frame_number, &input) else {
                    continue;
                };
                tracks[s] = u
                    .tracks
                    .iter()
                    .filter(|t| t.state == tracker::TrackState::Confirmed)
                    .count();
            }
            if last_print.elapsed() >= Duration::from_secs(2) {
                last_print = Instant::now();
                for s in 0..n_streams {
                    println!(
                        "[{s}] received {} decoded {} detected {} | persons {} | confirmed tracks {}",
                        counters2[s].received.load(Ordering::Relaxed),
                        counters2[s].decoded.load(Ordering::Relaxed),
                        counters2[s].detected.load(Ordering::Relaxed),
                        persons[s],
                        tracks[s]
                    );
                }
            }
        }
        latencies
    });

    tokio::time::sleep(Duration::from_secs(seconds)).await;
    for s in &streams {
        s.abort();
    }
    let stats = handle.stats();
    handle.close();
    drop(handle);
    let mut latencies = detect.await?;
    latencies.sort_unstable();
    let p = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "summary: batches {} (full {}, timeout {}), fill {:.2}, frames dropped for newer ones {}, \
         camera-to-result latency p50 {:?} p99 {:?}",
        stats.batches.total(),
        stats.batches.full,
        stats.batches.timeout,
        stats.fill_ratio,
        stats.dropped.superseded + stats.dropped.overflow,
        p(0.5),
        p(0.99)
    );
    Ok(())
}
