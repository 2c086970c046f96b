//! Annotated pictures of what a stream's detector saw: the latest processed frame is kept (at
//! most one copy per `snapshot_interval`), and drawn on — tracks with their ids and class
//! names, zones and lines — and encoded as JPEG only when someone asks.
//!
//! The kept copy is the decoder's output, which on the CPU path is already scaled to the
//! model's input (640 wide for a 720p camera), so keeping it costs one small copy and
//! drawing and encoding cost nothing until asked. Frames decoded by NVDEC stay on the GPU and
//! are not kept (no snapshot on that path yet).

use std::sync::Arc;
use std::time::SystemTime;

use font8x8::UnicodeFonts;
use zones::Scene;

use crate::picture::{FrameImage, Picture};
use crate::{TrackState, TrackingResult};

/// The latest processed frame of a stream with its result, ready to be drawn.
#[derive(Debug, Clone)]
pub(crate) struct Latest {
    pub(crate) picture: Arc<Picture>,
    pub(crate) result: TrackingResult,
    /// The zones and lines when it was tracked.
    pub(crate) scene: Option<Arc<Scene>>,
}

/// An annotated JPEG of a stream's latest processed frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The JPEG file's bytes.
    pub jpeg: Arc<[u8]>,
    /// The camera frame it shows.
    pub frame_number: u64,
    /// Its capture time.
    pub wall_clock: SystemTime,
    /// The picture's width in pixels (the decoder's output: the model's input size, camera
    /// aspect kept).
    pub width: u32,
    /// The picture's height in pixels.
    pub height: u32,
}

/// Colours for track ids (distinct on a grey street and on each other).
const PALETTE: [[u8; 3]; 8] = [
    [230, 25, 75],
    [60, 180, 75],
    [255, 225, 25],
    [0, 130, 200],
    [245, 130, 48],
    [145, 30, 180],
    [70, 240, 240],
    [240, 50, 230],
];
const ZONE_COLOUR: [u8; 3] = [255, 200, 0];
const LINE_COLOUR: [u8; 3] = [0, 230, 255];
const DETECTION_COLOUR: [u8; 3] = [210, 210, 210];

/// A packed RGB canvas with the few drawing operations annotations need.
struct Canvas {
    width: usize,
    height: usize,
    data: Vec<u8>,
}

impl Canvas {
    fn put(&mut self, x: i64, y: i64, colour: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            let i = (y as usize * self.width + x as usize) * 3;
            self.data[i..i + 3].copy_from_slice(&colour);
        }
    }

    fn fill(&mut self, x1: i64, y1: i64, x2: i64, y2: i64, colour: [u8; 3]) {
        for y in y1.max(0)..y2.min(self.height as i64) {
            for x in x1.max(0)..x2.min(self.width as i64) {
                self.put(x, y, colour);
            }
        }
    }

    /// A rectangle's outline, `thick` pixels inwards.
    fn rect(&mut self, [x1, y1, x2, y2]: [i64; 4], thick: i64, colour: [u8; 3]) {
        self.fill(x1, y1, x2, y1 + thick, colour);
        self.fill(x1, y2 - thick, x2, y2, colour);
        self.fill(x1, y1, x1 + thick, y2, colour);
        self.fill(x2 - thick, y1, x2, y2, colour);
    }

    /// A 2-pixel line (Bresenham).
    fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), colour: [u8; 3]) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        // Long lines off the picture would take long: the picture bounds them.
        for _ in 0..=(dx - dy).min(20_000) {
            self.put(x, y, colour);
            self.put(x + 1, y, colour);
            self.put(x, y + 1, colour);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// Text in the 8x8 font at `scale`, on a filled background; returns its width.
    fn label(&mut self, x: i64, y: i64, text: &str, scale: i64, bg: [u8; 3]) -> i64 {
        let glyphs: Vec<[u8; 8]> = text
            .chars()
            .map(|c| font8x8::BASIC_FONTS.get(c).unwrap_or([0; 8]))
            .collect();
        let w = glyphs.len() as i64 * 8 * scale + 2 * scale;
        let h = 8 * scale + 2 * scale;
        // Keep the label on the picture.
        let x = x.clamp(0, (self.width as i64 - w).max(0));
        let y = y.clamp(0, (self.height as i64 - h).max(0));
        self.fill(x, y, x + w, y + h, bg);
        let luma = u32::from(bg[0]) * 3 + u32::from(bg[1]) * 6 + u32::from(bg[2]);
        let fg = if luma > 1500 {
            [0, 0, 0]
        } else {
            [255, 255, 255]
        };
        for (i, g) in glyphs.iter().enumerate() {
            for (row, bits) in g.iter().enumerate() {
                for col in 0..8 {
                    if bits & (1 << col) != 0 {
                        let px = x + scale + (i as i64 * 8 + col) * scale;
                        let py = y + scale + row as i64 * scale;
                        self.fill(px, py, px + scale, py + scale, fg);
                    }
                }
            }
        }
        w
    }
}

impl FrameImage {
    /// Packed RGB with `result`'s tracks, detections, zones and lines drawn on it, as in
    /// [`Snapshot`]s.
    pub fn annotated(&self, result: &TrackingResult) -> Vec<u8> {
        draw(&self.picture, result, self.scene.as_deref()).data
    }
}

/// Draws a result on its picture and encodes it.
pub(crate) fn render(latest: &Latest) -> Snapshot {
    let r = &latest.result;
    let canvas = draw(&latest.picture, r, latest.scene.as_deref());
    let (width, height) = (canvas.width, canvas.height);
    let mut jpeg = Vec::with_capacity(width * height / 4);
    let encoded = u16::try_from(width)
        .ok()
        .zip(u16::try_from(height).ok())
        .and_then(|(w, h)| {
            jpeg_encoder::Encoder::new(&mut jpeg, 80)
                .encode(&canvas.data, w, h, jpeg_encoder::ColorType::Rgb)
                .ok()
        });
    if encoded.is_none() {
        jpeg.clear();
    }
    Snapshot {
        jpeg: jpeg.into(),
        frame_number: r.frame_number,
        wall_clock: r.wall_clock,
        width: width as u32,
        height: height as u32,
    }
}

/// A small JPEG of the part of the latest kept picture around `bbox` (camera pixels, with a
/// margin of 15% of the box each side), its longer side at most `side` pixels; `None` for a
/// box off the picture.
pub(crate) fn thumbnail(latest: &Latest, bbox: [f32; 4], side: usize) -> Option<Vec<u8>> {
    let (width, height) = latest.picture.size();
    let r = &latest.result;
    let sx = width as f32 / r.width.max(1) as f32;
    let sy = height as f32 / r.height.max(1) as f32;
    let (bw, bh) = ((bbox[2] - bbox[0]) * sx, (bbox[3] - bbox[1]) * sy);
    let clampx = |v: f32| (v.max(0.0) as usize).min(width);
    let clampy = |v: f32| (v.max(0.0) as usize).min(height);
    let (x1, x2) = (
        clampx((bbox[0] * sx - 0.15 * bw).floor()),
        clampx((bbox[2] * sx + 0.15 * bw).ceil()),
    );
    let (y1, y2) = (
        clampy((bbox[1] * sy - 0.15 * bh).floor()),
        clampy((bbox[3] * sy + 0.15 * bh).ceil()),
    );
    if !(bbox.iter().all(|v| v.is_finite()) && x2 > x1 + 1 && y2 > y1 + 1) {
        return None;
    }
    let rgb = latest.picture.to_rgb();
    let (cw, ch) = (x2 - x1, y2 - y1);
    let scale = (side.max(1) as f32 / cw.max(ch) as f32).min(1.0);
    let tw = ((cw as f32 * scale).round() as usize).max(1);
    let th = ((ch as f32 * scale).round() as usize).max(1);
    let mut out = Vec::with_capacity(tw * th * 3);
    for y in 0..th {
        let py = y1 + (y * ch / th).min(ch - 1);
        for x in 0..tw {
            let px = x1 + (x * cw / tw).min(cw - 1);
            let i = (py * width + px) * 3;
            out.extend_from_slice(&rgb[i..i + 3]);
        }
    }
    let mut jpeg = Vec::new();
    jpeg_encoder::Encoder::new(&mut jpeg, 75)
        .encode(
            &out,
            u16::try_from(tw).ok()?,
            u16::try_from(th).ok()?,
            jpeg_encoder::ColorType::Rgb,
        )
        .ok()?;
    Some(jpeg)
}

/// A result's tracks, detections, zones and lines drawn on its picture.
fn draw(picture: &Picture, r: &TrackingResult, scene: Option<&Scene>) -> Canvas {
    let (width, height) = picture.size();
    let mut canvas = Canvas {
        width,
        height,
        data: picture.to_rgb(),
    };
    // Camera pixels to picture pixels.
    let sx = width as f32 / r.width.max(1) as f32;
    let sy = height as f32 / r.height.max(1) as f32;
    let at = |x: f32, y: f32| ((x * sx).round() as i64, (y * sy).round() as i64);
    let scale = if width >= 600 { 2 } else { 1 };
    if let Some(scene) = scene {
        for z in &scene.zones {
            let n = z.polygon.len();
            for i in 0..n {
                let (a, b) = (z.polygon[i], z.polygon[(i + 1) % n]);
                canvas.line(at(a.0, a.1), at(b.0, b.1), ZONE_COLOUR);
            }
            if let Some(&(x, y)) = z.polygon.first() {
                let (x, y) = at(x, y);
                let count: u32 = r.zone_counts.get(&z.name).map_or(0, |m| m.values().sum());
                canvas.label(x, y, &format!("{} {count}", z.name), scale, ZONE_COLOUR);
            }
        }
        for l in &scene.lines {
            let (a, b) = (at(l.from.0, l.from.1), at(l.to.0, l.to.1));
            canvas.line(a, b, LINE_COLOUR);
            let counts = r.line_counts.get(&l.name);
            let (i, o): (u64, u64) =
                counts.map_or((0, 0), |c| (c.in_.values().sum(), c.out.values().sum()));
            // At the middle, clear of the zone labels at corners.
            let mid = ((a.0 + b.0) / 2, (a.1 + b.1) / 2);
            canvas.label(
                mid.0,
                mid.1,
                &format!("{} in {i} out {o}", l.name),
                scale,
                LINE_COLOUR,
            );
        }
    }
    // Detections the tracker does not (yet) follow, thinner and grey.
    for d in &r.detections {
        let tracked = r
            .tracked_objects
            .iter()
            .any(|t| t.class_id == d.class_id && infer_trt::yolo::iou(&t.bbox, &d.bbox) > 0.7);
        if !tracked {
            let (x1, y1) = at(d.bbox[0], d.bbox[1]);
            let (x2, y2) = at(d.bbox[2], d.bbox[3]);
            canvas.rect([x1, y1, x2, y2], scale, DETECTION_COLOUR);
        }
    }
    for t in &r.tracked_objects {
        let colour = PALETTE[(t.track_id as usize) % PALETTE.len()];
        let (x1, y1) = at(t.bbox[0], t.bbox[1]);
        let (x2, y2) = at(t.bbox[2], t.bbox[3]);
        let thick = if t.state == TrackState::Lost { 1 } else { 2 };
        canvas.rect([x1, y1, x2, y2], thick * scale, colour);
        let text = format!("#{} {} {:.2}", t.track_id, t.class_name, t.confidence);
        canvas.label(x1, y1 - 10 * scale, &text, scale, colour);
    }
    canvas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuv_grey_stays_grey_and_labels_stay_inside() {
        let (w, h) = (64usize, 32usize);
        let p = Picture::Yuv420 {
            width: w,
            height: h,
            y: vec![126; w * h],
            u: vec![128; 32 * 16],
            v: vec![128; 32 * 16],
        };
        let rgb = p.to_rgb();
        assert!(
            rgb.iter().all(|&c| (127..=129).contains(&c)),
            "{:?}",
            &rgb[..3]
        );
        let mut c = Canvas {
            width: w,
            height: h,
            data: rgb,
        };
        // A label that would run off the right edge is moved in, not cut or panicking.
        let lw = c.label(60, 30, "#1 p", 1, [255, 0, 0]);
        assert_eq!(lw, 4 * 8 + 2);
        c.line((-100, -100), (1000, 1000), [0, 0, 0]);
        c.rect([-5, -5, 500, 500], 2, [0, 0, 0]);
    }

    #[test]
    fn frame_images_borrow_rgb_convert_yuv_and_draw_tracks() {
        let rgb = Arc::new(Picture::Rgb {
            width: 4,
            height: 2,
            data: (0..24).collect(),
        });
        let image = FrameImage::new(rgb.clone(), None);
        assert!(matches!(image.rgb(), std::borrow::Cow::Borrowed(_)));
        assert_eq!((image.width(), image.height()), (4, 2));
        assert_eq!(
            image,
            FrameImage::new(rgb, None),
            "equal when the picture is shared"
        );

        let (w, h) = (64usize, 32usize);
        let yuv = Arc::new(Picture::Yuv420 {
            width: w,
            height: h,
            y: vec![126; w * h],
            u: vec![128; 32 * 16],
            v: vec![128; 32 * 16],
        });
        let image = FrameImage::new(yuv, None);
        let plain = image.rgb().into_owned();
        assert_eq!(plain.len(), w * h * 3);
        let mut result = crate::outbox::tests::result_for_tests(1);
        (result.width, result.height) = (128, 64);
        result.tracked_objects.push(crate::TrackedObject {
            track_id: 7,
            class_id: 0,
            class_name: "person".into(),
            confidence: 0.9,
            bbox: [10.0, 10.0, 60.0, 50.0],
            velocity: [0.0; 2],
            state: TrackState::Confirmed,
            age: 1,
            hits: 1,
            zones: Vec::new(),
        });
        let drawn = image.annotated(&result);
        assert_eq!(drawn.len(), plain.len());
        assert_ne!(drawn, plain, "the track's box is drawn");
    }
}
