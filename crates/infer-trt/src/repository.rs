//! The model repository: models loaded by id, each with several execution contexts so that
//! several batches run at once (what the batcher's `max_in_flight` feeds).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};

use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{Session, SessionInputValue};
use ort::value::{Shape, TensorRef, TensorRefMut, ValueType};

use crate::Error;

/// Which ONNX Runtime execution provider runs a model.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub enum Provider {
    /// The CPU provider (the default; all this crate's tests use it).
    #[default]
    Cpu,
    /// TensorRT with CUDA for what TensorRT cannot take (feature `tensorrt`). A provider that
    /// fails to start is an error, never a silent fall-back to the CPU.
    #[cfg(feature = "tensorrt")]
    TensorRt(TensorRtOptions),
}

/// Settings for [`Provider::TensorRt`].
#[cfg(feature = "tensorrt")]
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRtOptions {
    /// CUDA device ordinal.
    pub device_id: i32,
    /// Build fp16 engines.
    pub fp16: bool,
    /// Where engines and timing caches are kept between runs (building one takes minutes).
    pub cache_dir: PathBuf,
    /// The batch sizes the optimisation profile covers: (min, opt, max). Ignored for models
    /// with a fixed batch.
    pub batch: (usize, usize, usize),
}

#[cfg(feature = "tensorrt")]
impl Default for TensorRtOptions {
    fn default() -> Self {
        Self {
            device_id: 0,
            fp16: true,
            cache_dir: std::env::temp_dir().join("rtsp-worker-trt"),
            batch: (1, 8, 16),
        }
    }
}

#[cfg(feature = "tensorrt")]
fn tensorrt_providers(
    o: &TensorRtOptions,
    info: &ModelInfo,
) -> Vec<ort::ep::ExecutionProviderDispatch> {
    let cache = o.cache_dir.display().to_string();
    let (w, h) = info.input_size;
    let shape = |b: usize| format!("{}:{b}x3x{h}x{w}", info.input_name);
    let (min, opt, max) = match info.fixed_batch {
        Some(n) => (n, n, n),
        None => o.batch,
    };
    vec![
        ort::ep::TensorRT::default()
            .with_device_id(o.device_id)
            .with_fp16(o.fp16)
            .with_engine_cache(true)
            .with_engine_cache_path(&cache)
            .with_timing_cache(true)
            .with_timing_cache_path(&cache)
            .with_profile_min_shapes(shape(min))
            .with_profile_opt_shapes(shape(opt))
            .with_profile_max_shapes(shape(max))
            .build()
            .error_on_failure(),
        ort::ep::CUDA::default()
            .with_device_id(o.device_id)
            .build()
            .error_on_failure(),
    ]
}

/// Where the class scores sit in the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputLayout {
    /// `[batch, 4 + classes, anchors]` (Ultralytics v8/v11/v12 export).
    ChannelsFirst,
    /// `[batch, anchors, 4 + classes]`.
    AnchorsFirst,
}

/// What a loaded model expects and produces.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// The file it came from.
    pub path: PathBuf,
    /// The input tensor's name.
    pub input_name: String,
    /// Input width and height in pixels.
    pub input_size: (usize, usize),
    /// `Some(n)`: the model only takes batches of exactly `n` (inputs are split or padded);
    /// `None`: any batch size.
    pub fixed_batch: Option<usize>,
    /// Number of classes.
    pub num_classes: usize,
    /// Number of candidate boxes per image.
    pub anchors: usize,
    /// How the output is laid out.
    pub layout: OutputLayout,
    /// Class names from the model's metadata (`names`), else `class0`, `class1`, ….
    pub class_names: Vec<String>,
    /// Execution contexts (sessions) for concurrent batches.
    pub contexts: usize,
}

/// Raw output of one batch: `[images, ...]` flattened per image, in the model's layout.
#[derive(Debug, Clone)]
pub struct BatchOutput {
    /// One slice of `(4 + classes) * anchors` floats per input image, in order.
    pub per_image: Vec<Vec<f32>>,
}

struct Loaded {
    info: ModelInfo,
    idle: Mutex<Vec<Session>>,
    returned: Condvar,
}

impl Loaded {
    /// Runs `f` on an idle session, waiting for one if all are busy.
    fn with_session<T>(&self, f: impl FnOnce(&mut Session) -> T) -> T {
        let mut session = {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if let Some(s) = idle.pop() {
                    break s;
                }
                idle = self
                    .returned
                    .wait(idle)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        let result = f(&mut session);
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(session);
        self.returned.notify_one();
        result
    }
}

/// Where an input tensor given to [`ModelRepository::infer_raw`] lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TensorMemory {
    /// Host memory.
    Host,
    /// Memory of CUDA device `ordinal` (for the CUDA and TensorRT providers).
    Cuda {
        /// The device.
        ordinal: i32,
    },
}

/// Models by id.
#[derive(Default)]
pub struct ModelRepository {
    models: RwLock<HashMap<String, Arc<Loaded>>>,
    threads: Option<usize>,
    provider: Provider,
}

impl std::fmt::Debug for ModelRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<String> = self
            .models
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        f.debug_struct("ModelRepository")
            .field("models", &ids)
            .finish()
    }
}

fn dims(ty: &ValueType) -> Option<Vec<i64>> {
    match ty {
        ValueType::Tensor { shape, .. } => Some(shape.iter().copied().collect()),
        _ => None,
    }
}

/// Parses Ultralytics' `names` metadata: `{0: 'person', 1: 'bicycle', …}`.
pub(crate) fn parse_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(colon) = rest.find(':') {
        let after = rest[colon + 1..].trim_start();
        let Some(quote) = after.chars().next().filter(|c| *c == '\'' || *c == '"') else {
            rest = &rest[colon + 1..];
            continue;
        };
        let body = &after[1..];
        let Some(end) = body.find(quote) else { break };
        names.push(body[..end].to_owned());
        rest = &body[end + 1..];
    }
    names
}

impl ModelRepository {
    /// An empty repository; sessions use ONNX Runtime's default thread count.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty repository whose sessions use `threads` intra-op threads each.
    pub fn with_threads(threads: usize) -> Self {
        Self {
            threads: Some(threads.max(1)),
            ..Self::default()
        }
    }

    /// Runs models loaded from now on with `provider`.
    pub fn with_provider(mut self, provider: Provider) -> Self {
        self.provider = provider;
        self
    }

    /// Loads the model at `path` under `id` with `num_contexts` execution contexts,
    /// replacing any model with that id.
    ///
    /// # Errors
    ///
    /// [`Error::ModelNotFound`], [`Error::NotOnnx`], [`Error::UnsupportedInput`],
    /// [`Error::UnsupportedOutput`], or [`Error::Runtime`] without ONNX Runtime.
    pub fn load_model(
        &self,
        id: &str,
        path: impl AsRef<Path>,
        num_contexts: usize,
    ) -> Result<ModelInfo, Error> {
        let path = path.as_ref().to_path_buf();
        if !path.is_file() {
            return Err(Error::ModelNotFound { path });
        }
        let env = crate::runtime::environment(None)?;
        let not_onnx = |e: ort::Error| Error::NotOnnx {
            path: path.clone(),
            message: e.to_string(),
        };
        let builder = || -> Result<ort::session::builder::SessionBuilder, Error> {
            // The graph runs sequentially; concurrency across batches comes from the contexts.
            // An inter-op pool only competes with the intra-op threads (measured: 15% slower
            // at batch 4 on two cores with ONNX Runtime's default).
            let mut b = Session::builder(env)
                .map_err(not_onnx)?
                .with_optimization_level(GraphOptimizationLevel::Level3)
                .map_err(|e| not_onnx(e.into()))?
                .with_inter_threads(1)
                .map_err(|e| not_onnx(e.into()))?;
            if let Some(t) = self.threads {
                b = b.with_intra_threads(t).map_err(|e| not_onnx(e.into()))?;
            }
            Ok(b)
        };
        let contexts = num_contexts.max(1);
        let first = builder()?.commit_from_file(&path).map_err(not_onnx)?;
        let info = describe(&path, &first, contexts)?;
        let mut sessions = Vec::with_capacity(contexts);
        match &self.provider {
            Provider::Cpu => sessions.push(first),
            #[cfg(feature = "tensorrt")]
            Provider::TensorRt(_) => drop(first),
        }
        while sessions.len() < contexts {
            #[cfg_attr(not(feature = "tensorrt"), allow(unused_mut))] // set only with TensorRT
            let mut b = builder()?;
            #[cfg(feature = "tensorrt")]
            if let Provider::TensorRt(o) = &self.provider {
                b = b
                    .with_execution_providers(tensorrt_providers(o, &info))
                    .map_err(|e| Error::ProviderUnavailable {
                        path: path.clone(),
                        provider: "TensorRT",
                        message: ort::Error::<()>::from(e).to_string(),
                    })?;
            }
            sessions.push(b.commit_from_file(&path).map_err(not_onnx)?);
        }
        let loaded = Arc::new(Loaded {
            info: info.clone(),
            idle: Mutex::new(sessions),
            returned: Condvar::new(),
        });
        self.models
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned(), loaded);
        Ok(info)
    }

    /// What model `id` expects and produces.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownModel`].
    pub fn info(&self, id: &str) -> Result<ModelInfo, Error> {
        Ok(self.get(id)?.info.clone())
    }

    /// Unloads model `id`; batches running on it finish first. Returns whether it was loaded.
    pub fn unload(&self, id: &str) -> bool {
        self.models
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id)
            .is_some()
    }

    fn get(&self, id: &str) -> Result<Arc<Loaded>, Error> {
        self.models
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
            .ok_or_else(|| Error::UnknownModel(id.to_owned()))
    }

    /// Runs `images` letterboxed inputs (`images * 3 * h * w` floats, planar RGB in [0, 1]) on
    /// a free context of model `id`, blocking while all are busy. A model with a fixed batch
    /// gets the images in chunks of that size, the last one padded.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownModel`], [`Error::BadBatch`] for a wrong input length, or
    /// [`Error::Inference`].
    pub fn infer(&self, id: &str, input: &[f32], images: usize) -> Result<BatchOutput, Error> {
        let model = self.get(id)?;
        let info = &model.info;
        let (w, h) = info.input_size;
        let per_image = 3 * w * h;
        if images == 0 || input.len() != images * per_image {
            return Err(Error::BadBatch {
                id: id.to_owned(),
                message: format!("{} floats for {images} images of 3x{h}x{w}", input.len()),
            });
        }
        model.with_session(|session| run_chunks(id, info, session, input, images))
    }

    /// Like [`infer`](Self::infer), for an input tensor the caller has already placed where
    /// the execution provider reads it: on a CUDA device (letterboxed there from NVDEC frames,
    /// so they never cross to the host) or in host memory. The tensor wraps the pointer, and
    /// ONNX Runtime hands it to a provider on the same device without a copy; outputs come
    /// back to the host.
    ///
    /// A fixed-batch model needs `images` to be a multiple of its batch (device memory cannot
    /// be padded here); dynamic-batch models take any count.
    ///
    /// # Safety
    ///
    /// `ptr` must address `images * 3 * h * w` initialised `f32`s in the memory `memory`
    /// names, not written until this returns; device memory must be ready (the kernels that
    /// wrote it synchronised).
    ///
    /// # Errors
    ///
    /// As [`infer`](Self::infer); [`Error::BadBatch`] for a batch a fixed-batch model cannot
    /// take this way.
    pub unsafe fn infer_raw(
        &self,
        id: &str,
        ptr: u64,
        memory: TensorMemory,
        images: usize,
    ) -> Result<BatchOutput, Error> {
        let model = self.get(id)?;
        let info = &model.info;
        let chunk = info.fixed_batch.unwrap_or(images);
        if images == 0 || ptr == 0 || !images.is_multiple_of(chunk) {
            return Err(Error::BadBatch {
                id: id.to_owned(),
                message: format!(
                    "{images} images at {ptr:#x} for a model taking batches of {chunk}: pad the \
                     tensor to a multiple of {chunk}"
                ),
            });
        }
        // SAFETY: the caller's promise, passed on.
        model.with_session(|session| unsafe { run_raw(id, info, session, ptr, memory, images) })
    }
}

/// How a batch of `images` goes through the model: the input's width and height, the floats
/// per image, and the images per model call (the model's fixed batch, else all at once).
struct Chunks {
    w: usize,
    h: usize,
    per_image: usize,
    chunk: usize,
}

impl Chunks {
    fn of(info: &ModelInfo, images: usize) -> Self {
        let (w, h) = info.input_size;
        Self {
            w,
            h,
            per_image: 3 * w * h,
            chunk: info.fixed_batch.unwrap_or(images),
        }
    }
}

fn inference_failed(id: &str, e: &ort::Error) -> Error {
    Error::Inference {
        id: id.to_owned(),
        message: e.to_string(),
    }
}

fn run_chunks(
    id: &str,
    info: &ModelInfo,
    session: &mut Session,
    input: &[f32],
    images: usize,
) -> Result<BatchOutput, Error> {
    let Chunks {
        w,
        h,
        per_image,
        chunk,
    } = Chunks::of(info, images);
    let fail = |e: ort::Error| inference_failed(id, &e);
    let mut per_image_out = Vec::with_capacity(images);
    let mut padded = Vec::new();
    for start in (0..images).step_by(chunk) {
        let n = chunk.min(images - start);
        let data = &input[start * per_image..(start + n) * per_image];
        let data: &[f32] = if n < chunk {
            padded.clear();
            padded.extend_from_slice(data);
            padded.resize(chunk * per_image, 0.0);
            &padded
        } else {
            data
        };
        let tensor = TensorRef::from_array_view(([chunk, 3, h, w], data)).map_err(fail)?;
        run_chunk(session, info, tensor, chunk, n, &mut per_image_out).map_err(fail)?;
    }
    Ok(BatchOutput {
        per_image: per_image_out,
    })
}

/// Runs one chunk of `chunk` images and appends the outputs of its first `keep` (the rest is
/// padding) to `out`.
fn run_chunk<'v>(
    session: &mut Session,
    info: &ModelInfo,
    input: impl Into<SessionInputValue<'v>>,
    chunk: usize,
    keep: usize,
    out: &mut Vec<Vec<f32>>,
) -> Result<(), ort::Error> {
    let outputs = session.run(ort::inputs![info.input_name.as_str() => input.into()])?;
    let (_, values) = outputs[0].try_extract_tensor::<f32>()?;
    let each = values.len() / chunk;
    out.extend((0..keep).map(|i| values[i * each..(i + 1) * each].to_vec()));
    Ok(())
}

/// One model call per chunk of an input by address (see [`ModelRepository::infer_raw`]).
///
/// # Safety
///
/// As `infer_raw`.
unsafe fn run_raw(
    id: &str,
    info: &ModelInfo,
    session: &mut Session,
    ptr: u64,
    memory: TensorMemory,
    images: usize,
) -> Result<BatchOutput, Error> {
    let c = Chunks::of(info, images);
    let fail = |e: ort::Error| inference_failed(id, &e);
    let (device, ordinal) = match memory {
        TensorMemory::Host => (AllocationDevice::CPU, 0),
        TensorMemory::Cuda { ordinal } => (AllocationDevice::CUDA, ordinal),
    };
    let at = MemoryInfo::new(device, ordinal, AllocatorType::Device, MemoryType::Default)
        .map_err(fail)?;
    let mut per_image_out = Vec::with_capacity(images);
    for start in (0..images).step_by(c.chunk) {
        let data = (ptr as usize + start * c.per_image * size_of::<f32>()) as *mut std::ffi::c_void;
        // SAFETY: the caller vouches for `chunk` images at `data` in `at`'s memory.
        let tensor = unsafe {
            TensorRefMut::<f32>::from_raw(
                at.clone(),
                data.cast(),
                Shape::new([c.chunk as i64, 3, c.h as i64, c.w as i64]),
            )
        }
        .map_err(fail)?;
        // A plain run, not an I/O binding: ONNX Runtime copies an input only when it lies on
        // another device than the provider's, so a CUDA tensor reaches the CUDA and TensorRT
        // providers as it is. (ort rc.15's `IoBinding::bind_input` deadlocks on borrowed
        // tensors: it clones them through a global copy-session lock.)
        run_chunk(session, info, tensor, c.chunk, c.chunk, &mut per_image_out).map_err(fail)?;
    }
    Ok(BatchOutput {
        per_image: per_image_out,
    })
}

/// More classes than any detector has (LVIS has 1203): an output shape beyond it is refused.
const MAX_CLASSES: i64 = 100_000;

fn describe(path: &Path, session: &Session, contexts: usize) -> Result<ModelInfo, Error> {
    let bad_input = |message: String| Error::UnsupportedInput {
        path: path.to_path_buf(),
        message,
    };
    let [input] = session.inputs() else {
        return Err(bad_input(format!(
            "{} inputs, expected 1",
            session.inputs().len()
        )));
    };
    let shape = dims(input.dtype()).ok_or_else(|| bad_input("not a tensor".into()))?;
    let [batch, 3, h, w] = shape[..] else {
        return Err(bad_input(format!(
            "shape {shape:?}, expected [batch, 3, height, width]"
        )));
    };
    if h <= 0 || w <= 0 {
        return Err(bad_input(format!(
            "dynamic picture size {shape:?} is not supported"
        )));
    }
    let [output, ..] = session.outputs() else {
        return Err(bad_input("no output".into()));
    };
    let out_shape = dims(output.dtype()).unwrap_or_default();
    let unsupported = || Error::UnsupportedOutput {
        path: path.to_path_buf(),
        shape: out_shape.clone(),
    };
    let [_, a, b] = out_shape[..] else {
        return Err(unsupported());
    };
    // Ultralytics' channels-first layout has far fewer channels than anchors.
    let (layout, channels, anchors) = if a > 4 && b > a {
        (OutputLayout::ChannelsFirst, a, b)
    } else if b > 4 && a > b {
        (OutputLayout::AnchorsFirst, b, a)
    } else {
        return Err(unsupported());
    };
    // A class name is made per class below: a shape from a broken or hostile file must be
    // refused before that, not allocated.
    if channels - 4 > MAX_CLASSES {
        return Err(unsupported());
    }
    let num_classes = (channels - 4) as usize;
    let mut class_names = session
        .metadata()
        .ok()
        .and_then(|m| m.custom("names"))
        .map(|n| parse_names(&n))
        .unwrap_or_default();
    if class_names.len() != num_classes {
        class_names = (0..num_classes).map(|i| format!("class{i}")).collect();
    }
    Ok(ModelInfo {
        path: path.to_path_buf(),
        input_name: input.name().to_owned(),
        input_size: (w as usize, h as usize),
        fixed_batch: (batch > 0).then_some(batch as usize),
        num_classes,
        anchors: anchors as usize,
        layout,
        class_names,
        contexts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ultralytics_names() {
        let n = parse_names("{0: 'person', 1: 'bicycle', 2: \"traffic light\", 3: 'hair drier'}");
        assert_eq!(n, vec!["person", "bicycle", "traffic light", "hair drier"]);
        assert!(parse_names("").is_empty());
        assert!(parse_names("{0: 'unterminated}").is_empty());
    }
}
