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
        let mut input = self.take_input();
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
        self.put_input(input);
        result
    }

    /// A tensor from the last batches (its padding already written), or a new one.
    fn take_input(&self) -> InputBatch {
        self.inputs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_else(|| InputBatch::new(self.info.input_size))
    }

    fn put_input(&self, input: InputBatch) {
        self.inputs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(input);
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
    /// frames need the CUDA path), or as [`ModelRepository::infer`]. One bad frame fails the
    /// whole call; [`detect_each`](Self::detect_each) fails only that frame.
    pub fn detect(&self, frames: &[&Frame]) -> Result<Vec<Vec<Detection>>, Error> {
        self.run(frames.len(), |input, i| input.fill(i, frames[i]))
    }

    /// Like [`detect`](Self::detect), but every frame succeeds or fails alone: one result per
    /// frame, in order. A frame that cannot be letterboxed gets [`Error::BadBatch`] and the
    /// others run without it; if the batch's inference fails, each frame is run again by
    /// itself, so that a frame the model chokes on fails only itself.
    pub fn detect_each(&self, frames: &[&Frame]) -> Vec<Result<Vec<Detection>, Error>> {
        let n = frames.len();
        let mut results: Vec<Option<Result<Vec<Detection>, Error>>> = vec![None; n];
        let mut input = self.take_input();
        input.set_len(n);
        let (mut good, mut boxes) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for (i, frame) in frames.iter().enumerate() {
            match input.fill(good.len(), frame) {
                Ok(lb) => {
                    good.push(i);
                    boxes.push(lb);
                }
                Err(e) => {
                    results[i] = Some(Err(Error::BadBatch {
                        id: self.id.clone(),
                        message: format!("frame {i} (pts {}): {e}", frame.pts),
                    }));
                }
            }
        }
        if !good.is_empty() {
            let per = input.as_slice().len() / n;
            let data = &input.as_slice()[..good.len() * per];
            match self.repo.infer(&self.id, data, good.len()) {
                Ok(out) => {
                    for (&i, dets) in good.iter().zip(self.postprocess(&out, &boxes)) {
                        results[i] = Some(Ok(dets));
                    }
                }
                Err(e) if good.len() == 1 => results[good[0]] = Some(Err(e)),
                Err(_) => {
                    // Which frame? Each alone tells.
                    for (k, (&i, lb)) in good.iter().zip(&boxes).enumerate() {
                        let one = &data[k * per..(k + 1) * per];
                        results[i] = Some(self.repo.infer(&self.id, one, 1).map(|out| {
                            self.postprocess(&out, std::slice::from_ref(lb))
                                .pop()
                                .unwrap_or_default()
                        }));
                    }
                }
            }
        }
        self.put_input(input);
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Ok(Vec::new())))
            .collect()
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
