//! The GPU path (features `nvdec` and `tensorrt`, [`Device::Cuda`]): NVDEC frames stay on
//! the device, gpu-decode's CUDA kernel letterboxes each into its slot of one batch tensor,
//! and TensorRT runs it where it lies (`Detector::detect_raw`); no picture crosses to the
//! host. Without the features, asking for NVDEC is a typed error.

use gpu_decode::{CodecConfig, Decoder};

use crate::Device;

/// An NVDEC decoder on the manager's GPU, holding at most `held` frames for the consumer.
///
/// # Errors
///
/// `gpu_decode::Error::Unavailable` without the `nvdec` feature, the driver or a GPU.
pub(crate) fn nvdec_decoder(
    config: &CodecConfig,
    device: Device,
    held: usize,
) -> Result<Box<dyn Decoder>, gpu_decode::Error> {
    #[cfg(feature = "nvdec")]
    {
        use gpu_decode::nvdec::{NvdecDecoder, NvdecOptions};
        let gpu = match device {
            Device::Cuda(n) => n,
            Device::Cpu => 0,
        };
        let options = NvdecOptions::default()
            .gpu(gpu)
            .queue_frames(2)
            .held_frames(held);
        Ok(Box::new(NvdecDecoder::new(config, options)?))
    }
    #[cfg(not(feature = "nvdec"))]
    {
        let _ = (config, device, held);
        Err(gpu_decode::Error::Unavailable {
            backend: "nvdec",
            reason: "this build has no NVDEC: build rtsp-worker with the `nvdec` feature".into(),
        })
    }
}

#[cfg(all(feature = "nvdec", feature = "tensorrt"))]
pub(crate) use device_batch::{GpuBatch, all_on_device};

#[cfg(all(feature = "nvdec", feature = "tensorrt"))]
mod device_batch {
    use gpu_decode::cuda::CudaPreprocessor;
    use gpu_decode::cuda::cudarc::driver::{CudaSlice, DevicePtr};
    use gpu_decode::{Frame, Letterbox, Pixels};
    use infer_trt::{Detection, Detector, TensorMemory};
    use tracing::warn;

    use crate::Device;

    /// Whether every frame's pixels are on a CUDA device (NVDEC's).
    pub(crate) fn all_on_device(frames: &[&Frame]) -> bool {
        frames.iter().all(|f| matches!(f.pixels, Pixels::Cuda(_)))
    }

    /// One inference thread's batch tensor on the GPU and the kernel that fills it.
    pub(crate) struct GpuBatch {
        pre: CudaPreprocessor,
        tensor: CudaSlice<f32>,
        ordinal: usize,
        input: (usize, usize),
        capacity: usize,
    }

    impl GpuBatch {
        /// `None` on the CPU, or when the CUDA driver or NVRTC is missing (host frames then
        /// take the ordinary path).
        pub(crate) fn new(device: Device, capacity: usize, input: (usize, usize)) -> Option<Self> {
            let Device::Cuda(ordinal) = device else {
                return None;
            };
            let pre = match CudaPreprocessor::new(ordinal) {
                Ok(p) => p,
                Err(e) => {
                    warn!(error = %e, "no CUDA letterbox: frames will be copied to the host");
                    return None;
                }
            };
            let per = 3 * input.0 * input.1;
            let tensor = match pre.stream().alloc_zeros::<f32>(capacity * per) {
                Ok(t) => t,
                Err(e) => {
                    warn!(error = %e, "cannot allocate the batch tensor on the GPU");
                    return None;
                }
            };
            Some(Self {
                pre,
                tensor,
                ordinal,
                input,
                capacity,
            })
        }

        /// Letterboxes the device frames into the tensor and runs them; one result per
        /// frame (a frame the kernel refuses fails alone).
        pub(crate) fn detect(
            &mut self,
            detector: &Detector,
            frames: &[&Frame],
        ) -> Vec<Result<Vec<Detection>, infer_trt::Error>> {
            let per = 3 * self.input.0 * self.input.1;
            let mut results: Vec<Option<Result<Vec<Detection>, infer_trt::Error>>> =
                vec![None; frames.len()];
            let stream = self.pre.stream().clone();
            let (base, guard) = self.tensor.device_ptr(&stream);
            let mut good: Vec<usize> = Vec::new();
            let mut boxes: Vec<Letterbox> = Vec::new();
            for (i, frame) in frames.iter().enumerate() {
                let Pixels::Cuda(buf) = &frame.pixels else {
                    continue;
                };
                if good.len() >= self.capacity {
                    break;
                }
                let slot = base + (good.len() * per * std::mem::size_of::<f32>()) as u64;
                // SAFETY: the frame's buffer lives as long as `frame`, which outlives the
                // synchronisation below; the slot is inside the tensor (`capacity` slots).
                let lb = unsafe {
                    self.pre.letterbox_nv12(
                        buf.pixels(),
                        (frame.width, frame.height),
                        self.input,
                        slot,
                    )
                };
                match lb {
                    Ok(lb) => {
                        good.push(i);
                        boxes.push(lb);
                    }
                    Err(e) => {
                        results[i] = Some(Err(infer_trt::Error::BadBatch {
                            id: "detector".into(),
                            message: format!("frame {i} (pts {}): {e}", frame.pts),
                        }));
                    }
                }
            }
            if let Err(e) = stream.synchronize() {
                let message = format!("CUDA letterbox: {e}");
                drop(guard);
                return frames
                    .iter()
                    .map(|_| {
                        Err(infer_trt::Error::Inference {
                            id: "detector".into(),
                            message: message.clone(),
                        })
                    })
                    .collect();
            }
            let memory = TensorMemory::Cuda {
                ordinal: i32::try_from(self.ordinal).unwrap_or(0),
            };
            if !good.is_empty() {
                // SAFETY: `good.len()` letterboxed images at `base` on this device, written
                // and synchronised above, untouched until the call returns.
                match unsafe { detector.detect_raw(base, memory, &boxes) } {
                    Ok(dets) => {
                        for (&i, d) in good.iter().zip(dets) {
                            results[i] = Some(Ok(d));
                        }
                    }
                    Err(_) => {
                        // Which frame? Each alone tells.
                        for (k, (&i, lb)) in good.iter().zip(&boxes).enumerate() {
                            let ptr = base + (k * per * std::mem::size_of::<f32>()) as u64;
                            // SAFETY: slot k of the tensor, as above.
                            let one = unsafe {
                                detector.detect_raw(ptr, memory, std::slice::from_ref(lb))
                            };
                            results[i] = Some(one.map(|mut v| v.pop().unwrap_or_default()));
                        }
                    }
                }
            }
            drop(guard);
            results
                .into_iter()
                .map(|r| {
                    r.unwrap_or_else(|| {
                        Err(infer_trt::Error::BadBatch {
                            id: "detector".into(),
                            message: "frame not on the GPU, or beyond the batch".into(),
                        })
                    })
                })
                .collect()
        }
    }
}
