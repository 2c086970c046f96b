//! MOTChallenge text format (`frame,id,x,y,w,h,conf,x,y,z`, frames from 1), in and out, so that
//! results can be scored by the standard evaluators.

use std::collections::BTreeMap;

use crate::{BBox, Detection, TrackedObject};

/// A line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MOT line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Detections by frame from MOT text (`id` is ignored; class from column 8 if ≥ 0, else 0).
///
/// # Errors
///
/// [`ParseError`] for a line with fewer than 7 fields or a field that is not a number.
pub fn read_detections(text: &str) -> Result<BTreeMap<u64, Vec<Detection>>, ParseError> {
    let mut out: BTreeMap<u64, Vec<Detection>> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |message: String| ParseError {
            line: i + 1,
            message,
        };
        let f: Vec<f64> = line
            .split(',')
            .map(|v| {
                v.trim()
                    .parse::<f64>()
                    .map_err(|e| bad(format!("{v:?}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        if f.len() < 7 {
            return Err(bad(format!("{} fields, need at least 7", f.len())));
        }
        let class_id = f
            .get(7)
            .copied()
            .filter(|c| *c >= 0.0)
            .map_or(0, |c| c as u32);
        out.entry(f[0] as u64).or_default().push(Detection {
            bbox: BBox::from_xywh(f[2] as f32, f[3] as f32, f[4] as f32, f[5] as f32),
            confidence: f[6] as f32,
            class_id,
        });
    }
    Ok(out)
}

/// MOT lines for the tracks of one frame.
pub fn write_tracks(frame: u64, tracks: &[TrackedObject], out: &mut String) {
    use std::fmt::Write as _;
    for t in tracks {
        let b = t.bbox;
        let _ = writeln!(
            out,
            "{frame},{},{:.2},{:.2},{:.2},{:.2},{:.3},-1,-1,-1",
            t.track_id,
            b.x1,
            b.y1,
            b.width(),
            b.height(),
            t.confidence
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mot_detections() {
        let d = read_detections(
            "1,-1,10,20,30,40,0.9,-1,-1,-1\n\n1,-1,0,0,5,5,0.5,2,-1,-1\n3,1,1,1,1,1,1\n",
        )
        .unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[&1][0].bbox, BBox::new(10.0, 20.0, 40.0, 60.0));
        assert_eq!(d[&1][1].class_id, 2);
        assert!(read_detections("1,2,3").is_err());
        assert_eq!(read_detections("1,x,3,4,5,6,7").unwrap_err().line, 1);
    }
}
