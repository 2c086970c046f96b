//! Update time per frame by object count (10, 100, 500), like similari's
//! `sort_iou_00010/00100/00500`: objects moving on straight lines with a little jitter, fed
//! frame after frame to one tracker.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tracker::{BBox, Detection, TrackerConfig, TrackerKind};

/// `n` objects on a grid, each moving one pixel per frame, boxes 20x40, jitter ±0.5 px.
fn frame(n: usize, f: u64) -> Vec<Detection> {
    (0..n)
        .map(|i| {
            let jitter = ((i as u64 * 7919 + f * 104_729) % 100) as f32 / 100.0 - 0.5;
            let x = (i % 40) as f32 * 50.0 + f as f32 + jitter;
            let y = (i / 40) as f32 * 60.0 + jitter;
            Detection {
                bbox: BBox::from_xywh(x, y, 20.0, 40.0),
                confidence: 0.9,
                class_id: 0,
            }
        })
        .collect()
}

fn update(c: &mut Criterion) {
    let of = |kind| TrackerConfig {
        kind,
        ..TrackerConfig::default()
    };
    for (config, name) in [
        (of(TrackerKind::Iou), "iou"),
        (of(TrackerKind::Sort), "sort"),
        (of(TrackerKind::ByteTrack), "bytetrack"),
        (TrackerConfig::recommended(), "recommended"),
    ] {
        let mut g = c.benchmark_group(format!("tracker/{name}"));
        for n in [10usize, 100, 500] {
            let frames: Vec<Vec<Detection>> = (0..64).map(|f| frame(n, f)).collect();
            g.throughput(Throughput::Elements(n as u64));
            g.bench_with_input(
                BenchmarkId::from_parameter(format!("{n:05}")),
                &frames,
                |b, frames| {
                    let mut t = config.build();
                    // Warm up so that tracks exist and are confirmed.
                    for (f, d) in frames.iter().enumerate() {
                        t.update(f as u64, d).unwrap();
                    }
                    let mut f = frames.len() as u64;
                    b.iter(|| {
                        let dets = &frames[(f % 64) as usize];
                        // Keep the boxes moving forward: shift by the frames gone round.
                        let shifted: Vec<Detection> = dets
                            .iter()
                            .map(|d| {
                                let dx = (f - f % 64) as f32;
                                Detection {
                                    bbox: BBox::new(
                                        d.bbox.x1 + dx,
                                        d.bbox.y1,
                                        d.bbox.x2 + dx,
                                        d.bbox.y2,
                                    ),
                                    ..*d
                                }
                            })
                            .collect();
                        let u = t.update(f, &shifted).unwrap();
                        f += 1;
                        u
                    });
                },
            );
        }
        g.finish();
    }
}

criterion_group!(benches, update);
criterion_main!(benches);
