//! Post-processing for Ultralytics-style detectors (YOLOv8/v11/v12): output `[4 + classes,
//! anchors]` per image (or transposed), boxes as centre/size in input pixels followed by class
//! scores, no objectness. Threshold, class-aware NMS, boxes mapped back to the frame.

use gpu_decode::Letterbox;

use crate::{ModelInfo, OutputLayout};

/// One detected object, in the original frame's pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// `[x1, y1, x2, y2]`, clamped to the frame.
    pub bbox: [f32; 4],
    /// Class score.
    pub confidence: f32,
    /// Class index.
    pub class_id: usize,
    /// Class name from the model's metadata.
    pub class_name: String,
}

impl Detection {
    /// The same detection with its box scaled from a frame of size `from` to one of size `to`
    /// (width, height): from the picture the decoder produced, scaled down for the model, to
    /// the camera's own pixels. Clamped to `to`.
    pub fn rescaled(mut self, from: (usize, usize), to: (usize, usize)) -> Self {
        if from.0 == 0 || from.1 == 0 || from == to {
            return self;
        }
        let sx = to.0 as f32 / from.0 as f32;
        let sy = to.1 as f32 / from.1 as f32;
        let (w, h) = (to.0 as f32, to.1 as f32);
        let [x1, y1, x2, y2] = self.bbox;
        self.bbox = [
            (x1 * sx).clamp(0.0, w),
            (y1 * sy).clamp(0.0, h),
            (x2 * sx).clamp(0.0, w),
            (y2 * sy).clamp(0.0, h),
        ];
        self
    }
}

/// A box before NMS, in model input pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// `[x1, y1, x2, y2]`.
    pub bbox: [f32; 4],
    /// Best class score.
    pub confidence: f32,
    /// Its class.
    pub class_id: usize,
}

/// Candidates scoring at least `threshold` from one image's output.
///
/// The output comes from a model: shapes that do not fit `output` (even ones whose size
/// overflows) give no candidates, NaN and infinite class scores are ignored, and boxes whose
/// corners are not finite are dropped. A NaN `threshold` lets nothing through.
pub fn candidates(
    output: &[f32],
    layout: OutputLayout,
    classes: usize,
    anchors: usize,
    threshold: f32,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    let Some(channels) = classes.checked_add(4) else {
        return out;
    };
    if channels
        .checked_mul(anchors)
        .is_none_or(|n| output.len() < n)
    {
        return out;
    }
    let at = |ch: usize, a: usize| match layout {
        OutputLayout::ChannelsFirst => output[ch * anchors + a],
        OutputLayout::AnchorsFirst => output[a * channels + ch],
    };
    for a in 0..anchors {
        let mut best: Option<(f32, usize)> = None;
        for c in 0..classes {
            let s = at(4 + c, a);
            if s.is_finite() && best.is_none_or(|(b, _)| s > b) {
                best = Some((s, c));
            }
        }
        let Some((confidence, class_id)) = best else {
            continue;
        };
        if confidence < threshold || threshold.is_nan() {
            continue;
        }
        let (cx, cy, w, h) = (at(0, a), at(1, a), at(2, a), at(3, a));
        let bbox = [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0];
        if bbox.iter().all(|v| v.is_finite()) {
            out.push(Candidate {
                bbox,
                confidence,
                class_id,
            });
        }
    }
    out
}

/// Intersection over union of two `[x1, y1, x2, y2]` boxes.
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Greedy non-maximum suppression within each class: the best box wins, boxes of the same
/// class overlapping it by more than `threshold` go. At most `max` boxes, best first.
pub fn nms(mut boxes: Vec<Candidate>, threshold: f32, max: usize) -> Vec<Candidate> {
    boxes.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    let mut kept: Vec<Candidate> = Vec::new();
    for b in boxes {
        if kept.len() >= max {
            break;
        }
        if kept
            .iter()
            .all(|k| k.class_id != b.class_id || iou(&k.bbox, &b.bbox) <= threshold)
        {
            kept.push(b);
        }
    }
    kept
}

/// Thresholds for [`postprocess`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Minimum class score (default 0.25).
    pub confidence: f32,
    /// NMS IoU threshold (default 0.45).
    pub iou: f32,
    /// At most this many detections per image (default 300).
    pub max_detections: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            confidence: 0.25,
            iou: 0.45,
            max_detections: 300,
        }
    }
}

/// One image's output to detections in its frame.
pub fn postprocess(
    output: &[f32],
    info: &ModelInfo,
    letterbox: &Letterbox,
    t: &Thresholds,
) -> Vec<Detection> {
    let cands = candidates(
        output,
        info.layout,
        info.num_classes,
        info.anchors,
        t.confidence,
    );
    nms(cands, t.iou, t.max_detections)
        .into_iter()
        .map(|c| {
            let (x1, y1) = letterbox.to_source(c.bbox[0], c.bbox[1]);
            let (x2, y2) = letterbox.to_source(c.bbox[2], c.bbox[3]);
            Detection {
                bbox: [x1, y1, x2, y2],
                confidence: c.confidence,
                class_id: c.class_id,
                class_name: info
                    .class_names
                    .get(c.class_id)
                    .cloned()
                    .unwrap_or_default(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(bbox: [f32; 4], confidence: f32, class_id: usize) -> Candidate {
        Candidate {
            bbox,
            confidence,
            class_id,
        }
    }

    #[test]
    fn rescaled_maps_a_scaled_frame_to_camera_pixels() {
        let d = Detection {
            bbox: [10.0, 20.0, 320.0, 180.0],
            confidence: 0.5,
            class_id: 0,
            class_name: "person".into(),
        };
        let r = d.clone().rescaled((640, 360), (1920, 1080));
        assert_eq!(r.bbox, [30.0, 60.0, 960.0, 540.0]);
        assert_eq!(d.clone().rescaled((640, 360), (640, 360)), d);
        let edge = Detection {
            bbox: [600.0, 300.0, 640.0, 360.0],
            ..d
        };
        assert_eq!(edge.rescaled((640, 360), (1280, 720)).bbox[2], 1280.0);
    }

    #[test]
    fn iou_of_known_boxes() {
        assert_eq!(iou(&[0.0, 0.0, 10.0, 10.0], &[0.0, 0.0, 10.0, 10.0]), 1.0);
        assert_eq!(iou(&[0.0, 0.0, 10.0, 10.0], &[10.0, 0.0, 20.0, 10.0]), 0.0);
        assert!((iou(&[0.0, 0.0, 10.0, 10.0], &[5.0, 0.0, 15.0, 10.0]) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(iou(&[0.0, 0.0, 0.0, 0.0], &[0.0, 0.0, 0.0, 0.0]), 0.0);
    }

    #[test]
    fn nms_is_class_aware_and_keeps_the_best() {
        let boxes = vec![
            cand([0.0, 0.0, 10.0, 10.0], 0.8, 0),
            cand([1.0, 0.0, 11.0, 10.0], 0.9, 0), // overlaps the first: wins
            cand([1.0, 0.0, 11.0, 10.0], 0.7, 1), // same place, other class: kept
            cand([50.0, 50.0, 60.0, 60.0], 0.3, 0),
        ];
        let kept = nms(boxes, 0.45, 300);
        let got: Vec<(f32, usize)> = kept.iter().map(|c| (c.confidence, c.class_id)).collect();
        assert_eq!(got, vec![(0.9, 0), (0.7, 1), (0.3, 0)]);
        assert_eq!(nms(kept, 0.45, 2).len(), 2);
    }

    #[test]
    fn both_layouts_decode_the_same() {
        // 2 classes, 3 anchors; anchor 1 is a class-1 box at (50, 40) size 20x10.
        let (classes, anchors) = (2, 3);
        let rows = [
            [0.0, 50.0, 0.0],
            [0.0, 40.0, 0.0],
            [1.0, 20.0, 1.0],
            [1.0, 10.0, 1.0],
            [0.1, 0.2, 0.0],
            [0.0, 0.9, 0.2],
        ];
        let first: Vec<f32> = rows.iter().flatten().copied().collect();
        let mut anchors_first = vec![0.0; first.len()];
        for (ch, row) in rows.iter().enumerate() {
            for (a, v) in row.iter().enumerate() {
                anchors_first[a * 6 + ch] = *v;
            }
        }
        let a = candidates(&first, OutputLayout::ChannelsFirst, classes, anchors, 0.25);
        let b = candidates(
            &anchors_first,
            OutputLayout::AnchorsFirst,
            classes,
            anchors,
            0.25,
        );
        assert_eq!(a, b);
        assert_eq!(a, vec![cand([40.0, 35.0, 60.0, 45.0], 0.9, 1)]);
        assert!(
            candidates(
                &first[..5],
                OutputLayout::ChannelsFirst,
                classes,
                anchors,
                0.25
            )
            .is_empty()
        );
    }
}
