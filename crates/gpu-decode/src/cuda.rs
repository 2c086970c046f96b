//! CUDA preprocessing (feature `cuda`): the NV12 → letterboxed planar RGB kernel, compiled with
//! NVRTC at run time and launched with cudarc. `libcuda` and `libnvrtc` are opened at run
//! time; without them the calls return [`Error::Unavailable`] rather than panicking.

use std::sync::Arc;

/// The cudarc this crate is built with, for callers that allocate device tensors for
/// [`CudaPreprocessor::letterbox_nv12`].
pub use cudarc;

use cudarc::driver::{CudaContext, CudaFunction, CudaStream, LaunchConfig, PushKernelArg};

use crate::{CudaPixels, Error, Letterbox};

/// The kernel's CUDA C source.
pub const NV12_LETTERBOX_CU: &str = include_str!("nv12_letterbox.cu");

/// Is NVIDIA's runtime compiler (`libnvrtc.so.12`) loadable?
pub fn nvrtc_available() -> bool {
    // SAFETY: only tries to dlopen the library by name.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// Is the CUDA driver (`libcuda.so.1`) loadable? (It says nothing about a usable device.)
pub fn driver_available() -> bool {
    // SAFETY: only tries to dlopen the library by name.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// Compiles the kernels to PTX text.
///
/// # Errors
///
/// [`Error::Unavailable`] without `libnvrtc`; [`Error::Backend`] if compilation fails.
pub fn compile_kernels() -> Result<String, Error> {
    if !nvrtc_available() {
        return Err(Error::Unavailable {
            backend: "cuda",
            reason: "libnvrtc.so.12 not found (cargo xtask setup provides one; add its folder to LD_LIBRARY_PATH)".into(),
        });
    }
    let ptx = cudarc::nvrtc::compile_ptx(NV12_LETTERBOX_CU).map_err(|e| Error::Backend {
        backend: "cuda",
        message: format!("nvrtc: {e}"),
    })?;
    Ok(ptx.to_src())
}

fn driver_error(e: cudarc::driver::DriverError) -> Error {
    Error::Backend {
        backend: "cuda",
        message: e.to_string(),
    }
}

/// The preprocessing kernels loaded on one GPU.
#[derive(Debug)]
pub struct CudaPreprocessor {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    nv12_letterbox: CudaFunction,
}

impl CudaPreprocessor {
    /// Compiles and loads the kernels on GPU `ordinal`.
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] without the CUDA driver, NVRTC or a device.
    pub fn new(ordinal: usize) -> Result<Self, Error> {
        if !driver_available() {
            return Err(Error::Unavailable {
                backend: "cuda",
                reason: "libcuda.so.1 not found: no NVIDIA driver".into(),
            });
        }
        let ptx = compile_kernels()?;
        let ctx = CudaContext::new(ordinal).map_err(|e| Error::Unavailable {
            backend: "cuda",
            reason: format!("GPU {ordinal}: {e}"),
        })?;
        let module = ctx
            .load_module(cudarc::nvrtc::Ptx::from_src(ptx))
            .map_err(driver_error)?;
        let nv12_letterbox = module
            .load_function("nv12_letterbox")
            .map_err(driver_error)?;
        let stream = ctx.default_stream();
        Ok(Self {
            ctx,
            stream,
            nv12_letterbox,
        })
    }

    /// The CUDA context (to allocate input tensors in).
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }

    /// The stream the kernels run on.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Letterboxes an NV12 frame of `source` size into the planar RGB `f32` tensor slot at
    /// device address `dst` (`3 * input.0 * input.1` floats), on this preprocessor's stream.
    ///
    /// # Safety
    ///
    /// `src` must point to a live NV12 picture of `source` size with its pitch and UV offset,
    /// and `dst` to at least `3 * input.0 * input.1` writable floats, both on this context's
    /// device, until the stream has finished.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for bad sizes; [`Error::Backend`] if the launch fails.
    pub unsafe fn letterbox_nv12(
        &self,
        src: &CudaPixels,
        source: (usize, usize),
        input: (usize, usize),
        dst: u64,
    ) -> Result<Letterbox, Error> {
        let lb = Letterbox::new(source, input)?;
        let as_i32 =
            |v: usize| i32::try_from(v).map_err(|_| Error::InvalidInput(format!("{v} too large")));
        let y_plane = src.ptr;
        let uv_plane = src.ptr + src.uv_offset as u64;
        let (pitch, sw, sh) = (as_i32(src.pitch)?, as_i32(source.0)?, as_i32(source.1)?);
        let (dw, dh) = (as_i32(input.0)?, as_i32(input.1)?);
        let (px, py) = (as_i32(lb.pad_x)?, as_i32(lb.pad_y)?);
        let (rw, rh) = (as_i32(lb.resized.0)?, as_i32(lb.resized.1)?);
        let cfg = LaunchConfig {
            grid_dim: (
                (input.0 as u32).div_ceil(16),
                (input.1 as u32).div_ceil(16),
                1,
            ),
            block_dim: (16, 16, 1),
            shared_mem_bytes: 0,
        };
        let mut launch = self.stream.launch_builder(&self.nv12_letterbox);
        launch
            .arg(&y_plane)
            .arg(&uv_plane)
            .arg(&pitch)
            .arg(&sw)
            .arg(&sh)
            .arg(&dst)
            .arg(&dw)
            .arg(&dh)
            .arg(&px)
            .arg(&py)
            .arg(&rw)
            .arg(&rh);
        // SAFETY: the argument list matches the kernel's signature; the caller vouches for the
        // pointers.
        unsafe { launch.launch(cfg) }.map_err(driver_error)?;
        Ok(lb)
    }
}
