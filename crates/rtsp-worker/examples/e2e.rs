//! End-to-end benchmark: N cameras of the 720p25 pedestrian clip served over RTSP on loopback,
//! through the facade on the CPU, measured over a fixed window after a warm-up; or, with
//! `--detector-alone`, the detector by itself on the same decoded frames, model, threads and
//! image size (the limit on this machine). `cargo xtask bench` runs both in the same run and
//! puts them side by side: on a shared machine only ratios within one run mean anything.
//!
//! ```text
//! cargo run --release -p rtsp-worker --example e2e -- --streams N [--warmup S] [--window S]
//!     [--batch-size B] [--in-flight F] [--threads T] [--decode-nice N] [--decode-workers N]
//!     [--adaptive-decoding] [--wide-input] [--convert-at-decode] [--json OUT]
//! cargo run --release -p rtsp-worker --example e2e -- --detector-alone [--window S] [--threads T]
//! cargo run --release -p rtsp-worker --example e2e -- --naive --streams N [--warmup S] [--window S]
//! ```
//!
//! `--host` measures the host's share at a GPU's scale: `--streams` replayed cameras of a
//! tiny 30 fps clip (made with ffmpeg in the temp folder), the pass-through decoder stand-in
//! and the fixed-cost detector stand-in (`--stand-in MS`, default 2; batch 64, 2 in flight
//! unless set): the process's CPU per frame received, and the latency beyond the stand-in's
//! cost. Both stand-ins are benchmarks-only settings; no pixel is decoded or detected.
//!
//! `--opencv-script PYTHON` runs the peer instead, `benches/opencv_script.py` under that Python
//! (one with OpenCV, onnxruntime and supervision), on the same server, clip and model file
//! (`cargo xtask bench script` sets it up and puts it beside ours).
//!
//! `--naive` is the way without batching or pipelining, on the same crates: one loop takes each
//! camera's next frame in turn, decodes it, detects it alone and tracks it (what a script
//! around OpenCV does). `--force-timeout MS` sets the batcher's timeout; `--stand-in MS`
//! replaces the model with a fixed-cost stand-in (to measure what is around the detector).
//! `--convert-at-decode` scales every decoded picture as it leaves the decoder, as before the
//! conversion was deferred to dispatch (the reference for that change; benchmarks only).
//!
//! Needs `cargo xtask setup` (clips, model, ONNX Runtime) and its environment
//! (`cargo xtask paths`).

// A benchmark program: it reports on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod support;
use testkit as common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gpu_decode::{CpuDecoder, CpuDecoderOptions, Decoder, Packet};
use infer_trt::{Detector, DetectorOptions, ModelRepository};
use rtsp_worker::{StreamConnectionManager, StreamEvent, StreamOptions};

const CLIP: &str = "vtest_720p25.h264";

struct Args {
    streams: usize,
    warmup: f64,
    window: f64,
    batch_size: Option<usize>,
    in_flight: Option<usize>,
    threads: Option<usize>,
    decode_nice: Option<i32>,
    force_timeout_ms: Option<f64>,
    stand_in_ms: Option<f64>,
    detector_alone: bool,
    naive: bool,
    adaptive: bool,
    wide: bool,
    convert_at_decode: bool,
    opencv_script: Option<String>,
    host: bool,
    decode_workers: Option<usize>,
    json: Option<String>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        streams: 1,
        warmup: 8.0,
        window: 30.0,
        batch_size: None,
        in_flight: None,
        threads: None,
        decode_nice: None,
        force_timeout_ms: None,
        stand_in_ms: None,
        detector_alone: false,
        naive: false,
        adaptive: false,
        wide: false,
        convert_at_decode: false,
        opencv_script: None,
        host: false,
        decode_workers: None,
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--streams" => a.streams = value()?.parse().map_err(|e| format!("{e}"))?,
            "--warmup" => a.warmup = value()?.parse().map_err(|e| format!("{e}"))?,
            "--window" => a.window = value()?.parse().map_err(|e| format!("{e}"))?,
            "--batch-size" => a.batch_size = Some(value()?.parse().map_err(|e| format!("{e}"))?),
            "--in-flight" => a.in_flight = Some(value()?.parse().map_err(|e| format!("{e}"))?),
            "--threads" => a.threads = Some(value()?.parse().map_err(|e| format!("{e}"))?),
            "--decode-nice" => a.decode_nice = Some(value()?.parse().map_err(|e| format!("{e}"))?),
            "--decode-workers" => {
                a.decode_workers = Some(value()?.parse().map_err(|e| format!("{e}"))?);
            }
            "--json" => a.json = Some(value()?),
            "--force-timeout" => {
                a.force_timeout_ms = Some(value()?.parse().map_err(|e| format!("{e}"))?);
            }
            "--stand-in" => {
                a.stand_in_ms = Some(value()?.parse().map_err(|e| format!("{e}"))?);
            }
            "--detector-alone" => a.detector_alone = true,
            "--naive" => a.naive = true,
            "--adaptive-decoding" => a.adaptive = true,
            "--wide-input" => a.wide = true,
            "--convert-at-decode" => a.convert_at_decode = true,
            "--opencv-script" => a.opencv_script = Some(value()?),
            "--host" => a.host = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

/// The model the run uses: the square default, or with `--wide-input` the 640×384 one.
fn model_path(a: &Args) -> std::path::PathBuf {
    if a.wide {
        rtsp_worker::wide_model_path()
    } else {
        rtsp_worker::default_model_path()
    }
}

/// Each stream's consumer: the latencies of its results from `warm_end` to `window_end`.
fn latencies(
    conns: &[rtsp_worker::StreamConnection],
    warm_end: tokio::time::Instant,
    window_end: tokio::time::Instant,
) -> Vec<tokio::task::JoinHandle<Vec<f64>>> {
    conns
        .iter()
        .map(|c| {
            let c = c.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                // (`timeout_at` returns a ready event even past its deadline: check the clock.)
                while tokio::time::Instant::now() < window_end {
                    let Ok(Some(e)) = tokio::time::timeout_at(window_end, c.next_event()).await
                    else {
                        break;
                    };
                    if let StreamEvent::Result(r) = e
                        && tokio::time::Instant::now() >= warm_end
                    {
                        lat.push(r.latency_ms);
                    }
                }
                lat
            })
        })
        .collect()
}

/// A 30 fps clip small enough to replay a thousand times at once: 160×90, 4 s, a keyframe a
/// second, made once in the temp folder.
fn tiny_clip() -> std::path::PathBuf {
    let path = std::env::temp_dir().join("rtsp-worker-host-90p30.h264");
    if !path.is_file() {
        let part = path.with_extension("part.h264");
        let status = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
            .args([
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=160x90:rate=30",
                "-t",
                "4",
            ])
            .args([
                "-c:v", "libx264", "-preset", "veryfast", "-bf", "0", "-g", "30",
            ])
            .args(["-x264-params", "repeat-headers=1", "-f", "h264"])
            .arg(&part)
            .status()
            .expect("ffmpeg runs");
        assert!(status.success(), "ffmpeg failed: {status}");
        std::fs::rename(&part, &path).expect("clip in place");
    }
    path
}

async fn host(a: &Args) {
    let clip = tiny_clip();
    let cost = a.stand_in_ms.unwrap_or(2.0);
    let mut b = StreamConnectionManager::builder()
        .allow_file_urls(true)
        .stand_in_decoder(true)
        .stand_in_detector(Duration::from_secs_f64(cost / 1e3))
        .batch_size(a.batch_size.unwrap_or(64))
        .batches_in_flight(a.in_flight.unwrap_or(2))
        .max_streams(a.streams.max(1));
    if let Some(n) = a.decode_workers {
        b = b.decode_workers(n);
    }
    let manager = b.build().await.expect("manager");
    let url = format!("file://{}", clip.display());
    let started = Instant::now();
    let mut conns = Vec::new();
    for i in 0..a.streams {
        conns.push(
            manager
                .connect_stream(&url, StreamOptions::new().id(format!("cam{i}")))
                .await
                .expect("connect"),
        );
    }
    let startup = started.elapsed().as_secs_f64();
    let warm_end = tokio::time::Instant::now() + Duration::from_secs_f64(a.warmup);
    let window_end = warm_end + Duration::from_secs_f64(a.window);
    let readers = latencies(&conns, warm_end, window_end);
    tokio::time::sleep_until(warm_end).await;
    let received = |m: &StreamConnectionManager| -> u64 {
        m.get_stats()
            .streams
            .values()
            .map(|s| s.accounting.received)
            .sum()
    };
    let (cpu0, frames0, t0) = (cpu_time(), received(&manager), Instant::now());
    let mut all = Vec::new();
    for r in readers {
        all.extend(r.await.expect("reader"));
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = (cpu_time() - cpu0).as_secs_f64();
    let frames = received(&manager) - frames0;
    let stats = manager.shutdown().await;
    let balanced = stats.streams.values().all(|s| s.accounting.balanced());
    all.sort_by(f64::total_cmp);
    write(
        &a.json,
        &format!(
            "{{\"kind\": \"host\", \"streams\": {}, \"stand_in_ms\": {cost}, \"batch_size\": {}, \
             \"in_flight\": {}, \"frames_per_s\": {:.0}, \"results_per_s\": {:.0}, \
             \"cpu_percent\": {:.0}, \"cpu_us_per_frame\": {:.1}, \"latency_ms_p50\": {:.1}, \
             \"latency_ms_p99\": {:.1}, \"added_ms_p99\": {:.1}, \"peak_rss_mb\": {:.0}, \
             \"startup_s\": {startup:.1}, \"balanced\": {balanced}}}",
            a.streams,
            stats.batch_size,
            stats.batches_in_flight,
            frames as f64 / secs,
            all.len() as f64 / secs,
            cpu / secs * 100.0,
            cpu / (frames.max(1) as f64) * 1e6,
            percentile(&all, 0.5),
            percentile(&all, 0.99),
            percentile(&all, 0.99) - cost,
            peak_rss_mb(),
        ),
    );
}

/// The peer script at `--streams` cameras of our server; it writes `--json` itself.
fn opencv_script(a: &Args, python: &str) {
    let (server, _) = camera_server();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../benches/opencv_script.py"
    );
    let mut cmd = std::process::Command::new(python);
    cmd.arg(script)
        .args(["--url", &server.url("/cam")])
        .args(["--streams", &a.streams.to_string()])
        .arg("--model")
        .arg(model_path(a))
        .args([
            "--warmup",
            &a.warmup.to_string(),
            "--window",
            &a.window.to_string(),
        ]);
    if let Some(json) = &a.json {
        cmd.args(["--json", json]);
    }
    let status = cmd.status().expect("the script runs");
    assert!(status.success(), "the script failed: {status}");
}

/// This process's CPU time (user + system), from /proc.
fn cpu_time() -> Duration {
    cpu_time_of("self")
}

/// A process's CPU time (user + system), from /proc.
fn cpu_time_of(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 (1-based), 12 and 13 after the state.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Peak resident memory (VmHWM), in MB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn write(json: &Option<String>, text: &str) {
    println!("{text}");
    if let Some(path) = json {
        std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {path}: {e}"));
    }
}

/// The clip's first frames decoded as the pipeline decodes them (scaled to the letterbox,
/// YUV), detected one at a time for `window` seconds by as many threads as the pipeline runs
/// batches at once, each on its own context with the pipeline's intra-op threads.
fn detector_alone(a: &Args) {
    let mut b = rtsp_worker::StreamConnectionManager::builder();
    if let Some(n) = a.in_flight {
        b = b.batches_in_flight(n);
    }
    if let Some(n) = a.threads {
        b = b.intra_op_threads(n);
    }
    let batching = b.batching().expect("settings");
    let (in_flight, threads) = (batching.batches_in_flight, batching.intra_op_threads);
    let units = support::access_units(CLIP, 100);
    let repo = Arc::new(ModelRepository::with_threads(threads));
    let info = repo
        .load_model("yolo", model_path(a), in_flight)
        .expect("model");
    let detector = Detector::new(repo, "yolo", DetectorOptions::default()).expect("detector");
    let mut dec = support::decoder(
        &units[0],
        info.input_size,
        CpuDecoderOptions::default()
            .yuv420(true)
            .queue_frames(200)
            .held_frames(200),
    );
    let mut frames = Vec::new();
    support::decode_all(&mut dec, &units, |f| frames.push(f));
    // Warm up, then a timed window.
    for f in frames.iter().take(5) {
        let _ = detector.detect_each(&[f]);
    }
    let (start, cpu0) = (Instant::now(), cpu_time());
    let window = a.window;
    let mut times: Vec<f64> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..in_flight)
            .map(|w| {
                let (detector, frames) = (&detector, &frames);
                scope.spawn(move || {
                    let mut times = Vec::new();
                    let mut i = w * 7;
                    while start.elapsed().as_secs_f64() < window {
                        let t = Instant::now();
                        let r = detector.detect_each(&[&frames[i % frames.len()]]);
                        assert!(r[0].is_ok());
                        times.push(t.elapsed().as_secs_f64() * 1e3);
                        i += 1;
                    }
                    times
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    let secs = start.elapsed().as_secs_f64();
    let cpu = (cpu_time() - cpu0).as_secs_f64() / secs * 100.0;
    times.sort_by(f64::total_cmp);
    write(
        &a.json,
        &format!(
            "{{\"kind\": \"detector_alone\", \"in_flight\": {in_flight}, \"threads\": {threads}, \"images_per_s\": {:.2}, \
             \"ms_p50\": {:.1}, \"ms_p99\": {:.1}, \"cpu_percent\": {cpu:.0}, \"peak_rss_mb\": {:.0}}}",
            times.len() as f64 / secs,
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            peak_rss_mb()
        ),
    );
}

/// The clip served over RTSP on loopback, and the server's process id. The cameras would be
/// elsewhere: their stand-in yields to the pipeline for the cores (its CPU is reported beside
/// ours).
fn camera_server() -> (common::Server, String) {
    let mounts = vec![format!("/cam={}", common::clip(CLIP))];
    let server = common::Server::start(&mounts, None, None);
    let server_pid = server.pid().to_string();
    let _ = std::process::Command::new("renice")
        .args(["-n", "19", "-p", &server_pid])
        .stdout(std::process::Stdio::null())
        .status();
    (server, server_pid)
}

async fn pipeline(a: &Args) {
    let (server, server_pid) = camera_server();
    let started = Instant::now();
    let mut b = StreamConnectionManager::builder()
        .adaptive_decoding(a.adaptive)
        .wide_input(a.wide)
        .convert_at_decode(a.convert_at_decode);
    if let Some(n) = a.batch_size {
        b = b.batch_size(n);
    }
    if let Some(n) = a.in_flight {
        b = b.batches_in_flight(n);
    }
    if let Some(n) = a.threads {
        b = b.intra_op_threads(n);
    }
    if let Some(n) = a.decode_nice {
        b = b.decode_nice(n);
    }
    if let Some(n) = a.decode_workers {
        b = b.decode_workers(n);
    }
    if let Some(ms) = a.force_timeout_ms {
        b = b.force_timeout(Duration::from_secs_f64(ms / 1e3));
    }
    if let Some(ms) = a.stand_in_ms {
        b = b.stand_in_detector(Duration::from_secs_f64(ms / 1e3));
    }
    let manager = b.build().await.expect("manager");
    let mut conns = Vec::new();
    for i in 0..a.streams {
        let c = manager
            .connect_stream(
                &server.url("/cam"),
                StreamOptions::new().id(format!("cam{i}")),
            )
            .await
            .expect("connect");
        conns.push(c);
    }
    for c in &conns {
        c.wait_connected(Duration::from_secs(30))
            .await
            .expect("connected");
    }
    let startup = started.elapsed().as_secs_f64();
    let warm_end = tokio::time::Instant::now() + Duration::from_secs_f64(a.warmup);
    let window_end = warm_end + Duration::from_secs_f64(a.window);
    let mut cpu0 = None;
    // Each stream's consumer: results in the window, with their latencies.
    let readers = latencies(&conns, warm_end, window_end);
    tokio::time::sleep_until(warm_end).await;
    let before = manager.get_stats();
    cpu0.get_or_insert(cpu_time());
    let server_cpu0 = cpu_time_of(&server_pid);
    let t0 = Instant::now();
    let mut per_stream = Vec::new();
    for r in readers {
        per_stream.push(r.await.expect("reader"));
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = (cpu_time() - cpu0.unwrap_or_default()).as_secs_f64() / secs * 100.0;
    let server_cpu = cpu_time_of(&server_pid)
        .saturating_sub(server_cpu0)
        .as_secs_f64()
        / secs
        * 100.0;
    let after = manager.get_stats();
    let stats = manager.shutdown().await;
    drop(server);
    let counts: Vec<usize> = per_stream.iter().map(Vec::len).collect();
    let mut all: Vec<f64> = per_stream.into_iter().flatten().collect();
    all.sort_by(f64::total_cmp);
    let offered: f64 = after
        .streams
        .values()
        .map(|s| s.accounting.received)
        .sum::<u64>() as f64
        - before
            .streams
            .values()
            .map(|s| s.accounting.received)
            .sum::<u64>() as f64;
    let balanced = stats.streams.values().all(|s| s.accounting.balanced());
    let mut drops = std::collections::BTreeMap::<String, u64>::new();
    for s in after.streams.values() {
        let d = serde_json::to_value(s.accounting.dropped).expect("drops");
        for (k, v) in d.as_object().into_iter().flatten() {
            *drops.entry(k.clone()).or_default() += v.as_u64().unwrap_or(0);
        }
    }
    for s in before.streams.values() {
        let d = serde_json::to_value(s.accounting.dropped).expect("drops");
        for (k, v) in d.as_object().into_iter().flatten() {
            *drops.entry(k.clone()).or_default() -= v.as_u64().unwrap_or(0);
        }
    }
    let drops = serde_json::to_string(&drops).expect("drops");
    let fair = counts.iter().min().copied().unwrap_or(0) as f64
        / counts.iter().max().copied().unwrap_or(1).max(1) as f64;
    write(
        &a.json,
        &format!(
            "{{\"kind\": \"pipeline\", \"streams\": {}, \"batch_size\": {}, \"in_flight\": {}, \
             \"processed_per_s\": {:.2}, \"offered_per_s\": {:.1}, \"per_stream\": {counts:?}, \
             \"fair_share\": {fair:.2}, \"latency_ms_p50\": {:.0}, \"latency_ms_p99\": {:.0}, \
             \"latency_ms_max\": {:.0}, \"detector_ms_p50\": {:.1}, \"cpu_percent\": {cpu:.0}, \"server_cpu_percent\": {server_cpu:.0}, \
             \"peak_rss_mb\": {:.0}, \"startup_s\": {startup:.2}, \"balanced\": {balanced}, \
             \"force_timeout_ms\": {:.0}, \"drops_in_window\": {drops}}}",
            a.streams,
            stats.batch_size,
            stats.batches_in_flight,
            all.len() as f64 / secs,
            offered / secs,
            percentile(&all, 0.5),
            percentile(&all, 0.99),
            all.last().copied().unwrap_or(0.0),
            after.detector.batch_ms.p50,
            peak_rss_mb(),
            stats.force_timeout_ms,
        ),
    );
}

/// The naive way on the same crates and model: one loop, each camera's next frame in turn,
/// decoded, detected alone (batch 1) and tracked; nothing batched, nothing overlapped, no frame
/// skipped but by the camera queue's own bound (counted by rtsp-ingest).
fn naive(a: &Args) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (server, server_pid) = camera_server();
    let started = Instant::now();
    let mut b = StreamConnectionManager::builder();
    if let Some(n) = a.threads {
        b = b.intra_op_threads(n);
    }
    let threads = b.batching().expect("settings").intra_op_threads;
    let repo = Arc::new(ModelRepository::with_threads(threads));
    let info = repo.load_model("yolo", model_path(a), 1).expect("model");
    let detector = Detector::new(repo, "yolo", DetectorOptions::default()).expect("detector");
    struct Cam {
        camera: rtsp_ingest::Camera,
        decoder: Option<CpuDecoder>,
        tracker: Box<dyn tracker::Tracker>,
        latencies: Vec<f64>,
        frames: std::collections::VecDeque<(u64, Instant)>,
    }
    let mut cams: Vec<Cam> = {
        let _guard = rt.enter();
        (0..a.streams)
            .map(|_| Cam {
                camera: rtsp_ingest::connect(
                    &server.url("/cam"),
                    rtsp_ingest::SessionOptions::default(),
                )
                .expect("connect"),
                decoder: None,
                tracker: rtsp_worker::default_tracker().build(),
                latencies: Vec::new(),
                frames: std::collections::VecDeque::new(),
            })
            .collect()
    };
    let mut startup = None;
    let mut warm_end = None;
    let mut t0 = None;
    let mut cpu0 = Duration::ZERO;
    let mut server_cpu0 = Duration::ZERO;
    let mut drops0 = 0;
    'run: loop {
        if let (Some(w), None) = (warm_end, t0)
            && Instant::now() >= w
        {
            t0 = Some(Instant::now());
            cpu0 = cpu_time();
            server_cpu0 = cpu_time_of(&server_pid);
            drops0 = cams.iter().map(|c| c.camera.stats().drops.total()).sum();
        }
        for cam in &mut cams {
            if let Some(t) = t0
                && t.elapsed().as_secs_f64() >= a.window
            {
                break 'run;
            }
            let Some(event) = rt.block_on(cam.camera.next()) else {
                panic!("camera ended")
            };
            let rtsp_ingest::Event::Frame(au) = event else {
                continue;
            };
            if startup.is_none() {
                let s = started.elapsed();
                startup = Some(s.as_secs_f64());
                warm_end = Some(Instant::now() + Duration::from_secs_f64(a.warmup));
            }
            if cam.decoder.is_none() {
                cam.decoder = Some(support::decoder(
                    &au,
                    info.input_size,
                    CpuDecoderOptions::default()
                        .yuv420(true)
                        .queue_frames(2)
                        .held_frames(3),
                ));
            }
            let decoder = cam.decoder.as_mut().expect("decoder");
            cam.frames.push_back((au.frame_number, au.received));
            decoder
                .decode(&Packet {
                    data: &au.data,
                    pts: au.frame_number as i64,
                    keyframe: au.keyframe,
                })
                .expect("decode");
            while let Some(frame) = decoder.next_frame() {
                let Some((number, received)) = cam.frames.pop_front() else {
                    break;
                };
                let detections = detector
                    .detect_each(&[&frame])
                    .pop()
                    .expect("one result")
                    .expect("detect");
                let input: Vec<tracker::Detection> = detections
                    .iter()
                    .map(|d| tracker::Detection {
                        bbox: tracker::BBox::new(d.bbox[0], d.bbox[1], d.bbox[2], d.bbox[3]),
                        confidence: d.confidence,
                        class_id: d.class_id as u32,
                    })
                    .collect();
                let _ = cam.tracker.update(number, &input);
                if t0.is_some() {
                    cam.latencies.push(received.elapsed().as_secs_f64() * 1e3);
                }
            }
        }
    }
    let t0 = t0.expect("a window");
    let secs = t0.elapsed().as_secs_f64();
    let cpu = (cpu_time() - cpu0).as_secs_f64() / secs * 100.0;
    let server_cpu = cpu_time_of(&server_pid)
        .saturating_sub(server_cpu0)
        .as_secs_f64()
        / secs
        * 100.0;
    let dropped: u64 = cams
        .iter()
        .map(|c| c.camera.stats().drops.total())
        .sum::<u64>()
        - drops0;
    let counts: Vec<usize> = cams.iter().map(|c| c.latencies.len()).collect();
    let mut all: Vec<f64> = cams.iter().flat_map(|c| c.latencies.clone()).collect();
    all.sort_by(f64::total_cmp);
    let fair = counts.iter().min().copied().unwrap_or(0) as f64
        / counts.iter().max().copied().unwrap_or(1).max(1) as f64;
    write(
        &a.json,
        &format!(
            "{{\"kind\": \"naive\", \"streams\": {}, \"processed_per_s\": {:.2}, \
             \"per_stream\": {counts:?}, \"fair_share\": {fair:.2}, \"latency_ms_p50\": {:.0}, \
             \"latency_ms_p99\": {:.0}, \"latency_ms_max\": {:.0}, \"camera_queue_drops\": {dropped}, \
             \"cpu_percent\": {cpu:.0}, \"server_cpu_percent\": {server_cpu:.0}, \
             \"peak_rss_mb\": {:.0}, \"startup_s\": {:.2}}}",
            a.streams,
            all.len() as f64 / secs,
            percentile(&all, 0.5),
            percentile(&all, 0.99),
            all.last().copied().unwrap_or(0.0),
            peak_rss_mb(),
            startup.unwrap_or(0.0),
        ),
    );
    drop(cams);
    drop(server);
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("e2e: {e}");
            std::process::exit(2);
        }
    };
    if a.detector_alone {
        detector_alone(&a);
        return;
    }
    if a.naive {
        naive(&a);
        return;
    }
    if let Some(python) = &a.opencv_script {
        opencv_script(&a, python);
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if a.host {
        rt.block_on(host(&a));
    } else {
        rt.block_on(pipeline(&a));
    }
}
