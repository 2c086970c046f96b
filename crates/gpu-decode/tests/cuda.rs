//! The CUDA kernel: compiled to PTX with NVRTC here (provisioned by `cargo xtask setup`), and
//! run against its CPU reference where a GPU is present. Run with `--features cuda`.
//! A test that cannot run here says "skipped: …" (`cargo xtask test` shows test output).

// Skipped tests report themselves on stdout.
#![allow(clippy::print_stdout)]

use gpu_decode::cuda::{self, CudaPreprocessor};
use gpu_decode::{CudaPixels, letterbox_nv12};

#[test]
fn the_kernel_compiles_to_ptx() {
    if !cuda::nvrtc_available() {
        // Under `cargo xtask test` setup has provided NVRTC: its absence is a failure there.
        assert!(
            std::env::var_os("RTSP_WORKER_NVRTC").is_none(),
            "libnvrtc.so.12 not loadable although setup provided it (LD_LIBRARY_PATH?)"
        );
        println!("skipped: libnvrtc.so.12 not found (run `cargo xtask test`, which provides it)");
        return;
    }
    let ptx = cuda::compile_kernels().unwrap();
    assert!(
        ptx.contains(".entry nv12_letterbox"),
        "{}",
        &ptx[..ptx.len().min(500)]
    );
}

#[test]
fn without_a_gpu_the_preprocessor_is_unavailable_not_a_panic() {
    if cuda::driver_available() {
        println!("skipped: a CUDA driver is present; see the GPU test");
        return;
    }
    let e = CudaPreprocessor::new(0).unwrap_err();
    assert!(
        matches!(
            e,
            gpu_decode::Error::Unavailable {
                backend: "cuda",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn the_kernel_matches_its_cpu_reference_on_a_gpu() {
    let pre = match CudaPreprocessor::new(0) {
        Ok(p) => p,
        Err(e) => {
            println!("skipped: no GPU ({e})");
            return;
        }
    };
    let (w, h, pitch) = (1280usize, 720usize, 1280usize);
    let y: Vec<u8> = (0..pitch * h)
        .map(|i| ((i * 7 + i / pitch * 3) % 220 + 16) as u8)
        .collect();
    let uv: Vec<u8> = (0..pitch * h / 2)
        .map(|i| ((i * 5) % 200 + 28) as u8)
        .collect();
    let nv12: Vec<u8> = y.iter().chain(&uv).copied().collect();
    let stream = pre.stream();
    let src = stream.clone_htod(&nv12).unwrap();
    let mut dst = stream.alloc_zeros::<f32>(3 * 640 * 640).unwrap();
    let (src_ptr, _g1) = cudarc::driver::DevicePtr::device_ptr(&src, stream);
    let (dst_ptr, _g2) = cudarc::driver::DevicePtrMut::device_ptr_mut(&mut dst, stream);
    let pixels = CudaPixels {
        ptr: src_ptr,
        pitch,
        uv_offset: pitch * h,
        stream: 0,
    };
    // SAFETY: both buffers live on this device until the copy back below synchronises.
    unsafe {
        pre.letterbox_nv12(&pixels, (w, h), (640, 640), dst_ptr)
            .unwrap()
    };
    drop((_g1, _g2));
    let got = stream.clone_dtoh(&dst).unwrap();
    let mut want = vec![0.0f32; 3 * 640 * 640];
    letterbox_nv12(&y, &uv, pitch, (w, h), (640, 640), &mut want).unwrap();
    let worst = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "GPU and CPU differ by {worst}");
}
