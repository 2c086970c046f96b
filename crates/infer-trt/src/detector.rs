//! Frames in, detections out: letterbox each frame into one batch tensor (gpu-decode's
//! preprocessing), one model call, post-processing per frame.

use std::sync::{Arc, Mutex, PoisonError};

use gpu_decode::{Frame, InputBatch, Letterbox, RgbImage};

use crate::yolo::{self, Thresholds};
use crate::{BatchOutput, Detection, Error, ModelInfo, ModelRepository, TensorMemory};

/// Options for a [`Detector`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DetectorOptions {
    /// Thresholds for post-processing.
    pub thresholds: Thresholds,
}

/// Runs one model of a repository on batches of frames.
#[derive(Debug)]
pub struct Detector {
    repo: Arc<ModelRepository>,
    id: String,
    info: ModelInfo,
    options: DetectorOptions,
    /// Input tensors kept between batches (one per call running at once).
    inputs: Mutex<Vec<InputBatch>>,
}

impl Detector {
    /// A detector for the loaded model `id`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownModel`].
    pub fn new(
        repo: Arc<ModelRepository>,
        id: &str,
        options: DetectorOptions,
    ) -> Result<Self, Error> {
        let info = repo.info(id)?;
        Ok(Self {
            repo,
            id: id.to_owned(),
            info,
            options,
            inputs: Mutex::new(Vec::new()),
        })
    }

    /// The model's description.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn run(
        &self,
        n: usize,
        mut fill: impl FnMut(&mut InputBatch, usize) -> Result<Letterbox, gpu_decode::Error>,
    ) -> Result<Vec<Vec<Detection>>, Error> {
        // A tensor from the last batches (its padding already written), or a new one.
        let mut input = self
            .inputs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_else(|| InputBatch::new(self.info.input_size));
        input.set_len(n);
        let result = (|| {
            let mut boxes = Vec::with_capacity(n);
            for i in 0..n {
                boxes.push(fill(&mut input, i).map_err(|e| Error::BadBatch {
                    id: self.id.clone(),
                    message: format!("frame {i}: {e}"),
                })?);
            }
            let out = self.repo.infer(&self.id, input.as_slice(), n)?;
            Ok(self.postprocess(&out, &boxes))
        })();
        self.inputs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(input);
        result
    }

    fn postprocess(&self, out: &BatchOutput, boxes: &[Letterbox]) -> Vec<Vec<Detection>> {
        out.per_image
            .iter()
            .zip(boxes)
            .map(|(o, lb)| yolo::postprocess(o, &self.info, lb, &self.options.thresholds))
            .collect()
    }

    /// Detects objects in a batch the caller has already letterboxed where the model reads
    /// it: on a CUDA device (NVDEC frames through gpu-decode's `CudaPreprocessor`, so the
    /// pictures never cross to the host) or in host memory. `letterboxes` are the geometries
    /// of the batch's images, in order, to map boxes back. See
    /// [`ModelRepository::infer_raw`].
    ///
    /// # Safety
    ///
    /// As [`ModelRepository::infer_raw`], with `letterboxes.len()` images at `ptr`.
    ///
    /// # Errors
    ///
    /// As [`ModelRepository::infer_raw`].
    pub unsafe fn detect_raw(
        &self,
        ptr: u64,
        memory: TensorMemory,
        letterboxes: &[Letterbox],
    ) -> Result<Vec<Vec<Detection>>, Error> {
        // SAFETY: the caller's promise, passed on.
        let out = unsafe {
            self.repo
                .infer_raw(&self.id, ptr, memory, letterboxes.len())?
        };
        Ok(self.postprocess(&out, letterboxes))
    }

    /// Detects objects in host frames (packed or planar RGB, or YUV 4:2:0), one list per
    /// frame, in order.
    ///
    /// # Errors
    ///
    /// [`Error::BadBatch`] for an empty batch or a frame that cannot be letterboxed (device
    /// frames need the CUDA path), or as [`ModelRepository::infer`].
    pub fn detect(&self, frames: &[&Frame]) -> Result<Vec<Vec<Detection>>, Error> {
        self.run(frames.len(), |input, i| input.fill(i, frames[i]))
    }

    /// Like [`detect`](Self::detect), for packed RGB images.
    ///
    /// # Errors
    ///
    /// As [`detect`](Self::detect).
    pub fn detect_rgb(&self, images: &[RgbImage<'_>]) -> Result<Vec<Vec<Detection>>, Error> {
        self.run(images.len(), |input, i| input.fill_rgb(i, &images[i]))
    }
}
