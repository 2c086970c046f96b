//! The pixels of a processed frame: `Picture`, the copy kept of the decoder's output, and
//! `FrameImage`, how a result carries it to users (`StreamOptions::keep_frames`). Drawing on
//! them is `snapshot.rs`'s.

use std::sync::Arc;

use gpu_decode::Frame;
use zones::Scene;

/// A copy of a decoded frame's pixels, tightly packed.
#[derive(Clone)]
pub(crate) enum Picture {
    Yuv420 {
        width: usize,
        height: usize,
        y: Vec<u8>,
        u: Vec<u8>,
        v: Vec<u8>,
    },
    Rgb {
        width: usize,
        height: usize,
        data: Vec<u8>,
    },
}

impl std::fmt::Debug for Picture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (w, h) = self.size();
        write!(f, "Picture({w}x{h})")
    }
}

impl Picture {
    /// Copies a frame in host memory; `None` for frames on a GPU or in planar RGB.
    pub(crate) fn copy_of(frame: &Frame) -> Option<Self> {
        if let Some(img) = frame.yuv420() {
            let (w, h) = (img.width, img.height);
            let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
            let plane = |data: &[u8], stride: usize, pw: usize, ph: usize| {
                let mut out = Vec::with_capacity(pw * ph);
                for r in 0..ph {
                    out.extend_from_slice(&data[r * stride..][..pw]);
                }
                out
            };
            return Some(Self::Yuv420 {
                width: w,
                height: h,
                y: plane(img.y, img.y_stride, w, h),
                u: plane(img.u, img.uv_stride, cw, ch),
                v: plane(img.v, img.uv_stride, cw, ch),
            });
        }
        let img = frame.rgb()?;
        let mut data = Vec::with_capacity(img.width * img.height * 3);
        for r in 0..img.height {
            data.extend_from_slice(&img.row(r)[..img.width * 3]);
        }
        Some(Self::Rgb {
            width: img.width,
            height: img.height,
            data,
        })
    }

    pub(crate) fn size(&self) -> (usize, usize) {
        match self {
            Self::Yuv420 { width, height, .. } | Self::Rgb { width, height, .. } => {
                (*width, *height)
            }
        }
    }

    /// Packed RGB (BT.601, limited range for YUV).
    pub(crate) fn to_rgb(&self) -> Vec<u8> {
        match self {
            Self::Rgb { data, .. } => data.clone(),
            Self::Yuv420 {
                width,
                height,
                y,
                u,
                v,
            } => {
                let (w, h) = (*width, *height);
                let cw = w.div_ceil(2);
                let mut out = vec![0u8; w * h * 3];
                for r in 0..h {
                    for c in 0..w {
                        let yy = (f32::from(y[r * w + c]) - 16.0) * 1.164;
                        let ci = (r / 2) * cw + c / 2;
                        let (uu, vv) = (f32::from(u[ci]) - 128.0, f32::from(v[ci]) - 128.0);
                        let px = &mut out[(r * w + c) * 3..][..3];
                        px[0] = (yy + 1.596 * vv).clamp(0.0, 255.0) as u8;
                        px[1] = (yy - 0.392 * uu - 0.813 * vv).clamp(0.0, 255.0) as u8;
                        px[2] = (yy + 2.017 * uu).clamp(0.0, 255.0) as u8;
                    }
                }
                out
            }
        }
    }
}

/// A processed frame's picture ([`TrackingResult::frame`](crate::TrackingResult::frame), with
/// [`StreamOptions::keep_frames`](crate::StreamOptions::keep_frames)): the decoder's output as
/// the detector saw it, which on the CPU path is scaled to the model's input with the camera's
/// aspect kept (640×360 for a 720p camera), so boxes in camera pixels scale by
/// `width() / result.width`. Cheap to clone (shared).
#[derive(Clone)]
pub struct FrameImage {
    pub(crate) picture: Arc<Picture>,
    pub(crate) scene: Option<Arc<Scene>>,
}

impl FrameImage {
    pub(crate) fn new(picture: Arc<Picture>, scene: Option<Arc<Scene>>) -> Self {
        Self { picture, scene }
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.picture.size().0 as u32
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.picture.size().1 as u32
    }

    /// The Y, U and V planes, each tightly packed (`width × height`, then
    /// `⌈width/2⌉ × ⌈height/2⌉` twice), when the decoder produced YUV 4:2:0 (the CPU path);
    /// `None` for RGB.
    pub fn yuv420(&self) -> Option<[&[u8]; 3]> {
        match &*self.picture {
            Picture::Yuv420 { y, u, v, .. } => Some([y, u, v]),
            Picture::Rgb { .. } => None,
        }
    }

    /// Packed RGB, row after row (`height × width × 3` bytes): borrowed when the decoder
    /// produced RGB, converted (BT.601) from YUV otherwise.
    pub fn rgb(&self) -> std::borrow::Cow<'_, [u8]> {
        match &*self.picture {
            Picture::Rgb { data, .. } => std::borrow::Cow::Borrowed(data),
            p @ Picture::Yuv420 { .. } => std::borrow::Cow::Owned(p.to_rgb()),
        }
    }
}

impl PartialEq for FrameImage {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.picture, &other.picture)
    }
}

impl std::fmt::Debug for FrameImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FrameImage({}x{})", self.width(), self.height())
    }
}
