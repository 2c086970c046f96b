//! The one ONNX Runtime environment per process, loaded from a shared library at run time.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use ort::environment::Environment;

use crate::Error;

static ENV: OnceLock<Environment> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

/// The folder `cargo xtask setup` provisions into: `RTSP_WORKER_CACHE`, else
/// `~/.cache/rtsp-worker`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("RTSP_WORKER_CACHE")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/rtsp-worker")
        })
}

/// Where the library is looked for: `ORT_DYLIB_PATH`, else the file `cargo xtask setup`
/// provisions in [`cache_dir`].
pub fn default_library_path() -> PathBuf {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    cache_dir().join("onnxruntime/1.32.0/libonnxruntime.so.1.32.0")
}

/// The process's environment, creating it from `library` (or [`default_library_path`]) the
/// first time. Later calls return the same environment whatever they pass.
///
/// # Errors
///
/// [`Error::Runtime`] if the library is missing or not a usable ONNX Runtime.
pub fn environment(library: Option<&Path>) -> Result<&'static Environment, Error> {
    if let Some(env) = ENV.get() {
        return Ok(env);
    }
    let _guard = INIT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(env) = ENV.get() {
        return Ok(env);
    }
    let path = library.map_or_else(default_library_path, Path::to_path_buf);
    let fail = |message: String| Error::Runtime {
        path: path.clone(),
        message,
    };
    if !path.is_file() {
        return Err(fail(
            "no such file (run `cargo xtask setup`, or set ORT_DYLIB_PATH)".into(),
        ));
    }
    let env = ort::init_from(&path)
        .map_err(|e| fail(e.to_string()))?
        .with_name("rtsp-worker")
        .build()
        .map_err(|e| fail(e.to_string()))?;
    Ok(ENV.get_or_init(|| env))
}
