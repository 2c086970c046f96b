//! Real decoding of the setup's clips and of a live RTSP stream, corrupt input, slow
//! consumers, and letterboxing decoded pictures.

mod support;

use std::time::Duration;

use gpu_decode::{CpuDecoder, CpuDecoderOptions, Decoder, Frame, letterbox};
use rtsp_ingest::{AccessUnit, Event};
use support::{common, config, decode_each, packet, units};

/// (pts, width, height, keyframe) of every frame.
fn decode_all(dec: &mut CpuDecoder, aus: &[AccessUnit]) -> Vec<(i64, usize, usize, bool)> {
    let mut out = Vec::new();
    decode_each(dec, aus, |f| {
        assert!(f.rgb().is_some());
        out.push((f.pts, f.width, f.height, f.keyframe));
    });
    out
}

fn decode_clip(file: &str, w: usize, h: usize) {
    let aus = units(file);
    assert_eq!(aus.len(), 250, "{file}");
    for threads in [1, 3] {
        let mut dec = CpuDecoder::new(
            &config(&aus[0]),
            CpuDecoderOptions::default().threads(threads),
        )
        .unwrap();
        let frames = decode_all(&mut dec, &aus);
        assert_eq!(frames.len(), 250, "{file} with {threads} threads");
        assert!(frames.iter().all(|f| (f.1, f.2) == (w, h)));
        let pts: Vec<i64> = frames.iter().map(|f| f.0).collect();
        assert_eq!(pts, (0..250).collect::<Vec<_>>(), "frames in order");
        assert_eq!(frames.iter().filter(|f| f.3).count(), 5);
        let s = dec.stats();
        assert_eq!(
            (s.packets, s.frames, s.delivered, s.corrupt),
            (250, 250, 250, 0)
        );
    }
}

#[test]
fn decodes_the_h264_clip() {
    decode_clip("h264_720p25.h264", 1280, 720);
}

#[test]
fn decodes_the_h265_clip() {
    decode_clip("h265_720p25.h265", 1280, 720);
}

/// Ground truth of the moving-boxes clip: (frame from 1, id) -> (x, y, w, h).
fn truth() -> std::collections::HashMap<(usize, u32), (usize, usize, usize, usize)> {
    let text = std::fs::read_to_string(common::clips().join("boxes_720p25.gt.txt")).unwrap();
    text.lines()
        .map(|l| {
            let v: Vec<usize> = l.split(',').take(6).map(|x| x.parse().unwrap()).collect();
            ((v[0], v[1] as u32), (v[2], v[3], v[4], v[5]))
        })
        .collect()
}

fn pixel(f: &Frame, x: usize, y: usize) -> [u8; 3] {
    let img = f.rgb().unwrap();
    let row = img.row(y);
    [row[x * 3], row[x * 3 + 1], row[x * 3 + 2]]
}

fn close(got: [u8; 3], want: [u8; 3]) -> bool {
    got.iter()
        .zip(want)
        .all(|(&g, w)| (i32::from(g) - i32::from(w)).abs() <= 24)
}

#[test]
fn the_boxes_are_where_the_ground_truth_says() {
    let aus = units("boxes_720p25.h264");
    let mut dec = CpuDecoder::new(&config(&aus[0]), CpuDecoderOptions::default()).unwrap();
    let gt = truth();
    let colours = [
        (1u32, [220, 40, 40]),
        (2, [40, 200, 60]),
        (3, [50, 80, 230]),
    ];
    let mut checked = 0;
    decode_each(&mut dec, &aus, |f| {
        let index = f.pts as usize;
        // Frames where no box overlaps another.
        if ![0usize, 10, 100, 200, 249].contains(&index) {
            return;
        }
        for (id, rgb) in colours {
            let (x, y, w, h) = gt[&(index + 1, id)];
            let got = pixel(&f, x + w / 2, y + h / 2);
            assert!(
                close(got, rgb),
                "frame {index} box {id} centre {got:?}, want {rgb:?}"
            );
        }
        assert!(close(pixel(&f, 5, 5), [128, 128, 128]), "background");
        checked += 1;
    });
    assert_eq!(checked, 5);
}

#[test]
fn a_decoded_frame_letterboxes_with_boxes_mapped_back() {
    let aus = units("boxes_720p25.h264");
    let mut dec = CpuDecoder::new(&config(&aus[0]), CpuDecoderOptions::default()).unwrap();
    dec.decode(&packet(&aus[0])).unwrap();
    dec.flush().unwrap();
    let f = dec.next_frame().unwrap();
    let mut input = vec![0.0f32; 3 * 640 * 640];
    let lb = letterbox(&f.rgb().unwrap(), (640, 640), &mut input).unwrap();
    assert_eq!((lb.pad_x, lb.pad_y, lb.resized), (0, 140, (640, 360)));
    let plane = 640 * 640;
    let at = |c: usize, x: usize, y: usize| input[c * plane + y * 640 + x];
    assert!((at(0, 10, 10) - 114.0 / 255.0).abs() < 1e-6, "top padding");
    assert!(
        (at(2, 600, 630) - 114.0 / 255.0).abs() < 1e-6,
        "bottom padding"
    );
    // Box 1's centre in model coordinates, and back.
    let (x, y, w, h) = truth()[&(1, 1)];
    let (cx, cy) = (
        (x + w / 2) as f32 * lb.scale,
        (y + h / 2) as f32 * lb.scale + lb.pad_y as f32,
    );
    let red = at(0, cx as usize, cy as usize);
    assert!(
        red > 0.75 && at(1, cx as usize, cy as usize) < 0.3,
        "red box at ({cx}, {cy})"
    );
    let (sx, sy) = lb.to_source(cx, cy);
    assert!((sx - (x + w / 2) as f32).abs() < 1.0 && (sy - (y + h / 2) as f32).abs() < 1.0);
}

#[test]
fn scaled_output_in_one_pass() {
    let aus = units("h264_1080p25.h264");
    let opts = CpuDecoderOptions::default().output_size(Some((640, 360)));
    let mut dec = CpuDecoder::new(&config(&aus[0]), opts).unwrap();
    let frames = decode_all(&mut dec, &aus[..10]);
    assert_eq!(frames.len(), 10);
    assert!(frames.iter().all(|f| (f.1, f.2) == (640, 360)));
}

fn cpu(au: &AccessUnit) -> Box<dyn Decoder> {
    Box::new(CpuDecoder::new(&config(au), CpuDecoderOptions::default()).unwrap())
}

#[test]
fn corrupt_packets_are_errors_and_decoding_resumes_at_the_next_keyframe() {
    support::corrupt_input_recovers_at_the_next_keyframe(&mut cpu);
}

#[test]
fn a_consumer_that_does_not_keep_up_loses_old_frames_not_memory() {
    let aus = units("h264_720p25.h264");
    let options = CpuDecoderOptions::default().queue_frames(4);
    let mut dec = CpuDecoder::new(&config(&aus[0]), options).unwrap();
    let held = support::a_slow_consumer_loses_old_frames(&mut dec);
    assert!(!held.is_empty());
    assert!(
        dec.pool().allocated() <= 8,
        "buffers allocated: {}",
        dec.pool().allocated()
    );
}

#[test]
fn the_pool_holds_queue_plus_held_frames() {
    let aus = units("h264_720p25.h264");
    let options = CpuDecoderOptions::default().queue_frames(1).held_frames(2);
    let mut dec = CpuDecoder::new(&config(&aus[0]), options).unwrap();
    let mut held = Vec::new();
    for au in &aus[..10] {
        dec.decode(&support::packet(au)).unwrap();
        if let Some(f) = dec.next_frame() {
            held.push(f);
        }
    }
    // Three buffers (one queued + two held): once the consumer holds them all, new frames
    // are dropped, counted; nothing more is allocated.
    assert_eq!(held.len(), 3, "{:?}", dec.stats());
    assert_eq!(dec.pool().allocated(), 3);
    let s = dec.stats();
    assert_eq!(s.dropped_no_buffer, 7);
    assert_eq!(
        s.frames,
        s.delivered + s.dropped_queue_full + s.dropped_no_buffer + s.queued
    );
    held.clear();
    dec.decode(&support::packet(&aus[10])).unwrap();
    assert_eq!(
        dec.next_frame().map(|f| f.pts),
        Some(10),
        "buffers came back"
    );
}

#[test]
fn reset_waits_for_a_keyframe() {
    support::reset_waits_for_a_keyframe(&mut cpu);
}

#[test]
fn decodes_a_live_rtsp_stream() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let server = common::Server::start(
            &[format!("/cam={}", common::clip("h265_720p25.h265"))],
            None,
            None,
        );
        let mut cam =
            rtsp_ingest::connect(&server.url("/cam"), rtsp_ingest::SessionOptions::default())
                .unwrap();
        let mut dec: Option<CpuDecoder> = None;
        let mut frames = 0;
        while frames < 40 {
            let e = tokio::time::timeout(Duration::from_secs(15), cam.next())
                .await
                .unwrap()
                .unwrap();
            let Event::Frame(au) = e else { continue };
            if au.resync {
                match dec.as_mut() {
                    Some(d) => d.reset(),
                    None => {
                        dec = Some(
                            CpuDecoder::new(&config(&au), CpuDecoderOptions::default()).unwrap(),
                        )
                    }
                }
            }
            let d = dec.as_mut().unwrap();
            d.decode(&packet(&au)).unwrap();
            while let Some(f) = d.next_frame() {
                assert_eq!((f.width, f.height), (1280, 720));
                frames += 1;
            }
        }
        assert_eq!(dec.unwrap().stats().corrupt, 0);
    });
}

#[test]
fn planar_scaled_output_letterboxes_like_the_packed_path() {
    let aus = units("boxes_720p25.h264");
    let lb = gpu_decode::Letterbox::new((1280, 720), (640, 640)).unwrap();
    let opts = CpuDecoderOptions::default()
        .output_size(Some(lb.resized))
        .planar(true);
    let mut dec = CpuDecoder::new(&config(&aus[0]), opts).unwrap();
    dec.decode(&packet(&aus[0])).unwrap();
    dec.flush().unwrap();
    let f = dec.next_frame().unwrap();
    assert_eq!(
        (f.format, f.width, f.height),
        (gpu_decode::PixelFormat::RgbPlanar, 640, 360)
    );
    let mut fast = vec![0.0f32; 3 * 640 * 640];
    gpu_decode::letterbox_frame(&f, (640, 640), &mut fast).unwrap();

    let mut dec = CpuDecoder::new(&config(&aus[0]), CpuDecoderOptions::default()).unwrap();
    dec.decode(&packet(&aus[0])).unwrap();
    dec.flush().unwrap();
    let full = dec.next_frame().unwrap();
    let mut slow = vec![0.0f32; 3 * 640 * 640];
    gpu_decode::letterbox_frame(&full, (640, 640), &mut slow).unwrap();
    // Two different resamplers on flat boxes: the same picture up to edge pixels.
    let close = fast
        .iter()
        .zip(&slow)
        .filter(|(a, b)| (*a - *b).abs() < 0.05)
        .count();
    assert!(
        close as f64 > 0.99 * fast.len() as f64,
        "{close} of {} close",
        fast.len()
    );
}

#[test]
fn yuv_output_letterboxes_like_the_planar_rgb_path() {
    let aus = units("boxes_720p25.h264");
    let lb = gpu_decode::Letterbox::new((1280, 720), (640, 640)).unwrap();
    let input = |opts: CpuDecoderOptions| {
        let mut dec =
            CpuDecoder::new(&config(&aus[0]), opts.output_size(Some(lb.resized))).unwrap();
        let mut batch = gpu_decode::InputBatch::new((640, 640));
        batch.set_len(1);
        let mut formats = Vec::new();
        decode_each(&mut dec, &aus[..3], |f| {
            formats.push(f.format);
            batch.fill(0, &f).unwrap();
        });
        (formats, batch.as_slice().to_vec())
    };
    let (yuv_formats, yuv) = input(CpuDecoderOptions::default().yuv420(true));
    let (_, rgb) = input(CpuDecoderOptions::default().planar(true));
    assert_eq!(yuv_formats, [gpu_decode::PixelFormat::Yuv420p; 3]);
    // Our BT.601 conversion against swscale's, on the same scaled planes: the same picture,
    // but for a few pixels on the boxes' edges, where swscale interpolates the half-resolution
    // chroma and we take the nearest.
    let mean = yuv
        .iter()
        .zip(&rgb)
        .map(|(a, b)| (a - b).abs())
        .sum::<f32>()
        / yuv.len() as f32;
    let close = yuv
        .iter()
        .zip(&rgb)
        .filter(|(a, b)| (*a - *b).abs() < 0.03)
        .count();
    assert!(
        mean < 0.002 && close as f64 > 0.998 * yuv.len() as f64,
        "mean {mean}, {close} of {} close",
        yuv.len()
    );
}

#[test]
fn deferred_frames_convert_to_the_same_pixels_later_and_elsewhere() {
    let aus = units("h264_720p25.h264");
    let lb = gpu_decode::Letterbox::new((1280, 720), (640, 640)).unwrap();
    let options = || {
        CpuDecoderOptions::default()
            .output_size(Some(lb.resized))
            .yuv420(true)
            .queue_frames(2)
            .held_frames(3)
    };
    let eager: Vec<Vec<u8>> = {
        let mut dec = CpuDecoder::new(&config(&aus[0]), options()).unwrap();
        let mut out = Vec::new();
        decode_each(&mut dec, &aus[..30], |f| {
            let img = f.yuv420().unwrap();
            out.push([img.y, img.u, img.v].concat());
        });
        out
    };
    let mut dec = CpuDecoder::new(&config(&aus[0]), options().deferred(true)).unwrap();
    let mut pending = Vec::new();
    for au in &aus[..30] {
        dec.decode(&packet(au)).unwrap();
        while let Some(f) = dec.next_frame() {
            assert!(matches!(f.pixels, gpu_decode::Pixels::Pending(_)));
            assert!(f.yuv420().is_none(), "nothing to read before convert");
            pending.push(f);
            // The consumer keeps three at most; the rest go unconverted, as a batcher's
            // superseded frames do.
            if pending.len() > 3 {
                pending.remove(0);
            }
        }
    }
    let s = dec.stats();
    assert_eq!((s.frames, s.dropped_no_buffer), (30, 0), "{s:?}");
    assert_eq!(
        dec.pool().outstanding(),
        3,
        "held frames keep their buffers"
    );
    // The decoder is gone and another thread converts: the frames hold what they need.
    drop(dec);
    let converted = std::thread::spawn(move || {
        pending
            .into_iter()
            .map(|mut f| {
                f.convert().unwrap();
                f.convert().unwrap(); // a second call changes nothing
                let img = f.yuv420().unwrap();
                (f.pts, [img.y, img.u, img.v].concat())
            })
            .collect::<Vec<_>>()
    })
    .join()
    .unwrap();
    assert_eq!(converted.len(), 3);
    for (pts, bytes) in converted {
        assert!(
            bytes == eager[pts as usize],
            "frame {pts} differs from the eager conversion"
        );
    }
}

#[test]
fn a_pending_frame_is_refused_by_the_letterbox_until_converted() {
    let aus = units("h264_720p25.h264");
    let opts = CpuDecoderOptions::default()
        .output_size(Some((640, 360)))
        .yuv420(true)
        .deferred(true);
    let mut dec = CpuDecoder::new(&config(&aus[0]), opts).unwrap();
    dec.decode(&packet(&aus[0])).unwrap();
    dec.flush().unwrap();
    let mut f = dec.next_frame().unwrap();
    let mut tensor = vec![0.0f32; 3 * 640 * 640];
    let e = gpu_decode::letterbox_frame(&f, (640, 640), &mut tensor).unwrap_err();
    assert!(e.to_string().contains("not converted"), "{e}");
    f.convert().unwrap();
    gpu_decode::letterbox_frame(&f, (640, 640), &mut tensor).unwrap();
}
