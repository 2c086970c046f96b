//! Decoded frames, where their pixels live, and the pool that recycles their buffers.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// How pixels are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PixelFormat {
    /// Packed 8-bit R, G, B.
    Rgb24,
    /// Three 8-bit planes, R then G then B, each `height` rows of `stride` bytes.
    RgbPlanar,
    /// 8-bit Y plane, then interleaved U/V at half resolution (what NVDEC outputs).
    Nv12,
    /// 8-bit Y plane (`height` rows of `stride` bytes), then U and V planes at half resolution
    /// (`ceil(height / 2)` rows of `stride / 2` bytes each); BT.601 limited range.
    Yuv420p,
}

/// A view of packed 8-bit RGB pixels in host memory.
#[derive(Debug, Clone, Copy)]
pub struct RgbImage<'a> {
    /// Rows of `stride` bytes; the first `width * 3` of each are pixels.
    pub data: &'a [u8],
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Bytes from one row to the next (≥ `width * 3`).
    pub stride: usize,
}

impl<'a> RgbImage<'a> {
    /// A view over `data`, checked for size.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) if `data` is too short.
    pub fn new(
        data: &'a [u8],
        width: usize,
        height: usize,
        stride: usize,
    ) -> Result<Self, crate::Error> {
        let need = if height == 0 {
            0
        } else {
            stride * (height - 1) + width * 3
        };
        if stride < width * 3 || data.len() < need {
            return Err(crate::Error::InvalidInput(format!(
                "{width}x{height} RGB with stride {stride} needs {need} bytes, got {}",
                data.len()
            )));
        }
        Ok(Self {
            data,
            width,
            height,
            stride,
        })
    }

    /// One row of `width * 3` bytes.
    pub fn row(&self, y: usize) -> &'a [u8] {
        &self.data[y * self.stride..y * self.stride + self.width * 3]
    }
}

/// A view of planar 8-bit RGB in host memory: the R, G and B planes one after the other.
#[derive(Debug, Clone, Copy)]
pub struct PlanarRgbImage<'a> {
    /// `3 * height * stride` bytes.
    pub data: &'a [u8],
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Bytes from one row to the next within a plane (≥ `width`).
    pub stride: usize,
}

impl<'a> PlanarRgbImage<'a> {
    /// A view over `data`, checked for size.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) if `data` is too short.
    pub fn new(
        data: &'a [u8],
        width: usize,
        height: usize,
        stride: usize,
    ) -> Result<Self, crate::Error> {
        if width == 0 || stride < width || data.len() < 3 * stride * height {
            return Err(crate::Error::InvalidInput(format!(
                "{width}x{height} planar RGB with stride {stride} needs {} bytes, got {}",
                3 * stride * height,
                data.len()
            )));
        }
        Ok(Self {
            data,
            width,
            height,
            stride,
        })
    }

    /// The R, G and B planes.
    pub fn planes(&self) -> [&'a [u8]; 3] {
        let n = self.stride * self.height;
        [
            &self.data[..n],
            &self.data[n..2 * n],
            &self.data[2 * n..3 * n],
        ]
    }
}

/// A view of planar YUV 4:2:0 (BT.601, limited range) in host memory.
#[derive(Debug, Clone, Copy)]
pub struct Yuv420Image<'a> {
    /// The Y plane: `height` rows of `y_stride` bytes.
    pub y: &'a [u8],
    /// The U plane: `ceil(height / 2)` rows of `uv_stride` bytes.
    pub u: &'a [u8],
    /// The V plane, like `u`.
    pub v: &'a [u8],
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Bytes from one Y row to the next (≥ `width`).
    pub y_stride: usize,
    /// Bytes from one U or V row to the next (≥ `ceil(width / 2)`).
    pub uv_stride: usize,
}

impl<'a> Yuv420Image<'a> {
    /// A view over three planes, checked for size.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) if a plane is too short.
    pub fn new(
        (y, u, v): (&'a [u8], &'a [u8], &'a [u8]),
        (width, height): (usize, usize),
        (y_stride, uv_stride): (usize, usize),
    ) -> Result<Self, crate::Error> {
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        if width == 0
            || height == 0
            || y_stride < width
            || uv_stride < cw
            || y.len() < y_stride * height
            || u.len() < uv_stride * ch
            || v.len() < uv_stride * ch
        {
            return Err(crate::Error::InvalidInput(format!(
                "{width}x{height} YUV 4:2:0 with strides {y_stride}/{uv_stride}: planes too short"
            )));
        }
        Ok(Self {
            y,
            u,
            v,
            width,
            height,
            y_stride,
            uv_stride,
        })
    }
}

/// Where NV12 pixels lie on a CUDA device: a plain description, no ownership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CudaPixels {
    /// Device pointer (`CUdeviceptr`) to the first plane.
    pub ptr: u64,
    /// Bytes per row.
    pub pitch: usize,
    /// Offset of the second (UV) plane from `ptr`, for NV12.
    pub uv_offset: usize,
    /// The CUDA stream (`CUstream` as an integer) the pixels are ready on; 0 when they are
    /// ready already (NVDEC frames: the decoder waits for its copy before handing them out).
    pub stream: u64,
}

/// Device memory holding a frame's pixels, kept alive (and out of its pool) for as long as
/// this value lives, so a GPU frame can travel to inference without a copy.
pub struct CudaBuffer {
    pixels: CudaPixels,
    _owner: Box<dyn std::any::Any + Send + Sync>,
}

impl fmt::Debug for CudaBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CudaBuffer").field(&self.pixels).finish()
    }
}

impl CudaBuffer {
    /// Pixels at `pixels`, whose memory `owner` keeps valid until it is dropped (a pool lease,
    /// an allocation, or `()` for memory that lives as long as the program).
    pub fn new(pixels: CudaPixels, owner: impl std::any::Any + Send + Sync) -> Self {
        Self {
            pixels,
            _owner: Box::new(owner),
        }
    }

    /// Where the pixels are.
    pub fn pixels(&self) -> &CudaPixels {
        &self.pixels
    }

    /// What keeps the memory alive (for its producer to recognise its own buffers).
    pub fn owner(&self) -> &(dyn std::any::Any + Send + Sync) {
        &*self._owner
    }
}

/// Where a frame's pixels live.
#[derive(Debug)]
#[non_exhaustive]
pub enum Pixels {
    /// Host memory from a [`FramePool`]; returns to it when the frame is dropped.
    Host(PooledBuffer),
    /// Device memory (NVDEC output); returns to its pool when the frame is dropped.
    Cuda(CudaBuffer),
    /// Host memory from a [`FramePool`], not written yet: the decoder's own picture waits,
    /// reference-counted, until [`Frame::convert`] scales it into the buffer (so a frame that
    /// is superseded before anyone looks at it costs no conversion).
    Pending(Pending),
}

/// How a [`Pixels::Pending`] frame becomes [`Pixels::Host`]: its buffer and the conversion
/// that fills it.
pub struct Pending {
    work: Option<(PooledBuffer, ConvertJob)>,
}

/// Writes a frame's pixels, laid out as the frame says, into its buffer.
pub(crate) type ConvertJob = Box<dyn FnOnce(&mut [u8]) -> Result<(), crate::Error> + Send + Sync>;

impl Pending {
    #[cfg_attr(not(feature = "cpu"), allow(dead_code))] // only the CPU backend defers
    pub(crate) fn new(buf: PooledBuffer, job: ConvertJob) -> Self {
        Self {
            work: Some((buf, job)),
        }
    }
}

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.work {
            Some((buf, _)) => write!(f, "Pending({buf:?})"),
            None => f.write_str("Pending(failed)"),
        }
    }
}

/// A decoded picture.
#[derive(Debug)]
pub struct Frame {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Layout.
    pub format: PixelFormat,
    /// Bytes per row (host frames).
    pub stride: usize,
    /// The timestamp of the packet it came from.
    pub pts: i64,
    /// Decoded from a keyframe.
    pub keyframe: bool,
    /// The pixels.
    pub pixels: Pixels,
}

impl Frame {
    /// Writes the pixels of a [`Pixels::Pending`] frame, which is then [`Pixels::Host`];
    /// other frames are left as they are. Whoever is about to read the pixels calls it (the
    /// views below see nothing in a pending frame).
    ///
    /// # Errors
    ///
    /// The conversion's error (the frame then has no pixels), or
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) if it had failed before.
    pub fn convert(&mut self) -> Result<(), crate::Error> {
        let Pixels::Pending(pending) = &mut self.pixels else {
            return Ok(());
        };
        let (mut buf, job) = pending.work.take().ok_or_else(|| {
            crate::Error::InvalidInput("the frame's conversion failed before".into())
        })?;
        job(&mut buf)?;
        self.pixels = Pixels::Host(buf);
        Ok(())
    }

    /// The planes, for host planar RGB frames.
    pub fn planar_rgb(&self) -> Option<PlanarRgbImage<'_>> {
        match (&self.pixels, self.format) {
            (Pixels::Host(buf), PixelFormat::RgbPlanar) => {
                PlanarRgbImage::new(buf, self.width, self.height, self.stride).ok()
            }
            _ => None,
        }
    }

    /// The planes, for host YUV 4:2:0 frames.
    pub fn yuv420(&self) -> Option<Yuv420Image<'_>> {
        match (&self.pixels, self.format) {
            (Pixels::Host(buf), PixelFormat::Yuv420p) => {
                let (ys, cs) = (self.stride, self.stride / 2);
                let (y_len, c_len) = (ys * self.height, cs * self.height.div_ceil(2));
                let (y, rest) = buf.split_at_checked(y_len)?;
                let (u, rest) = rest.split_at_checked(c_len)?;
                Yuv420Image::new((y, u, rest), (self.width, self.height), (ys, cs)).ok()
            }
            _ => None,
        }
    }

    /// The pixels as RGB, for host RGB frames.
    pub fn rgb(&self) -> Option<RgbImage<'_>> {
        match (&self.pixels, self.format) {
            (Pixels::Host(buf), PixelFormat::Rgb24) => {
                RgbImage::new(buf, self.width, self.height, self.stride).ok()
            }
            _ => None,
        }
    }
}

/// A bounded set of reusable buffers of any kind (host `Vec`s, device allocations): at most
/// `max` are out at once, and returned ones are handed out again.
pub(crate) struct Slots<B> {
    free: Mutex<Vec<B>>,
    outstanding: AtomicUsize,
    max: usize,
    allocated: AtomicU64,
}

impl<B> Slots<B> {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            free: Mutex::new(Vec::new()),
            outstanding: AtomicUsize::new(0),
            max: max.max(1),
            allocated: AtomicU64::new(0),
        }
    }

    /// A free buffer, or a new one from `make`; `None` if `max` are out, or `make` failed.
    pub(crate) fn take<E>(&self, make: impl FnOnce() -> Result<B, E>) -> Option<Result<B, E>> {
        let mut n = self.outstanding.load(Ordering::Relaxed);
        loop {
            if n >= self.max {
                return None;
            }
            match self.outstanding.compare_exchange_weak(
                n,
                n + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => n = now,
            }
        }
        let recycled = self
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match recycled {
            Some(b) => Some(Ok(b)),
            None => match make() {
                Ok(b) => {
                    self.allocated.fetch_add(1, Ordering::Relaxed);
                    Some(Ok(b))
                }
                Err(e) => {
                    self.outstanding.fetch_sub(1, Ordering::AcqRel);
                    Some(Err(e))
                }
            },
        }
    }

    /// Returns a buffer taken with [`take`](Self::take).
    pub(crate) fn give_back(&self, buf: B) {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(buf);
        self.outstanding.fetch_sub(1, Ordering::AcqRel);
    }

    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::Relaxed)
    }

    pub(crate) fn allocated(&self) -> u64 {
        self.allocated.load(Ordering::Relaxed)
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }
}

/// Buffers for host frames, recycled rather than allocated per frame, and bounded: at most
/// `max_buffers` exist at once.
#[derive(Clone)]
pub struct FramePool {
    inner: Arc<Slots<Vec<u8>>>,
}

impl fmt::Debug for FramePool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FramePool")
            .field("max_buffers", &self.inner.max())
            .field("outstanding", &self.inner.outstanding())
            .finish_non_exhaustive()
    }
}

impl FramePool {
    /// A pool that hands out at most `max_buffers` buffers at once.
    pub fn new(max_buffers: usize) -> Self {
        Self {
            inner: Arc::new(Slots::new(max_buffers)),
        }
    }

    /// A buffer of exactly `len` bytes (contents unspecified), or `None` if `max_buffers` are
    /// out.
    pub fn get(&self, len: usize) -> Option<PooledBuffer> {
        let Ok(mut buf) = self
            .inner
            .take(|| Ok::<_, std::convert::Infallible>(Vec::new()))?;
        buf.resize(len, 0);
        Some(PooledBuffer {
            buf,
            pool: self.inner.clone(),
        })
    }

    /// Buffers handed out and not yet returned.
    pub fn outstanding(&self) -> usize {
        self.inner.outstanding()
    }

    /// Buffers ever allocated (stays flat in steady state).
    pub fn allocated(&self) -> u64 {
        self.inner.allocated()
    }
}

/// A buffer from a [`FramePool`]; derefs to its bytes and goes back to the pool on drop.
pub struct PooledBuffer {
    buf: Vec<u8>,
    pool: Arc<Slots<Vec<u8>>>,
}

impl fmt::Debug for PooledBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PooledBuffer({} bytes)", self.buf.len())
    }
}

impl std::ops::Deref for PooledBuffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf
    }
}

impl std::ops::DerefMut for PooledBuffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_recycled_and_bounded() {
        let pool = FramePool::new(2);
        let a = pool.get(100).unwrap();
        let b = pool.get(100).unwrap();
        assert!(pool.get(100).is_none(), "bounded");
        drop(a);
        let c = pool.get(50).unwrap();
        assert_eq!(c.len(), 50);
        drop((b, c));
        for _ in 0..100 {
            drop(pool.get(100).unwrap());
        }
        assert_eq!(pool.allocated(), 2);
        assert_eq!(pool.outstanding(), 0);
    }
}
