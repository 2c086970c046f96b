//! The crate's error type: every failure names the model file or id.

use std::path::PathBuf;

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The ONNX Runtime shared library could not be loaded.
    #[error("ONNX Runtime library {}: {message}", path.display())]
    Runtime {
        /// The library path tried.
        path: PathBuf,
        /// Why it failed.
        message: String,
    },
    /// No file at the model path.
    #[error("model file {} not found", path.display())]
    ModelNotFound {
        /// The path.
        path: PathBuf,
    },
    /// The file is not a model ONNX Runtime can load.
    #[error("{} is not a loadable ONNX model: {message}", path.display())]
    NotOnnx {
        /// The path.
        path: PathBuf,
        /// ONNX Runtime's message.
        message: String,
    },
    /// The model's input is not one `[batch, 3, height, width]` float tensor.
    #[error("{}: unsupported input: {message}", path.display())]
    UnsupportedInput {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The output is neither `[batch, 4 + classes, anchors]` nor `[batch, anchors, 4 + classes]`.
    #[error("{}: unsupported output layout {shape:?}", path.display())]
    UnsupportedOutput {
        /// The path.
        path: PathBuf,
        /// The output shape (-1 for dynamic dimensions).
        shape: Vec<i64>,
    },
    /// The execution provider asked for cannot run here (not built into this ONNX Runtime,
    /// or its CUDA/TensorRT libraries or the GPU are missing). Never a silent fall-back to
    /// the CPU.
    #[error("{} on {provider}: provider unavailable: {message}", path.display())]
    ProviderUnavailable {
        /// The model file being loaded.
        path: PathBuf,
        /// The provider, e.g. `"TensorRT"`.
        provider: &'static str,
        /// ONNX Runtime's message.
        message: String,
    },
    /// No model loaded under this id.
    #[error("no model {0:?} is loaded")]
    UnknownModel(String),
    /// Inputs that do not fit the model.
    #[error("model {id:?}: {message}")]
    BadBatch {
        /// The model id.
        id: String,
        /// What does not fit.
        message: String,
    },
    /// ONNX Runtime failed while running.
    #[error("model {id:?}: inference failed: {message}")]
    Inference {
        /// The model id.
        id: String,
        /// ONNX Runtime's message.
        message: String,
    },
}
