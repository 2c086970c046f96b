//! Tidy checks, run as tests by `cargo test --workspace`: house style and the layering of the
//! crates, checked rather than hoped for.

use std::fs;
use std::path::{Path, PathBuf};

use crate::project_root;

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        if p.is_dir() {
            if name != "target" && name != ".git" {
                files(&p, ext, out);
            }
        } else if p.extension().is_some_and(|e| e == ext) {
            out.push(p);
        }
    }
}

fn sources() -> Vec<PathBuf> {
    let root = project_root();
    let mut out = Vec::new();
    for dir in ["crates", "xtask", "benches"] {
        files(&root.join(dir), "rs", &mut out);
    }
    out
}

fn rel(p: &Path) -> String {
    p.strip_prefix(project_root())
        .unwrap_or(p)
        .display()
        .to_string()
}

#[test]
fn every_module_starts_with_a_doc_line() {
    let bad: Vec<String> = sources()
        .into_iter()
        .filter(|p| {
            let text = fs::read_to_string(p).unwrap_or_default();
            !text
                .lines()
                .find(|l| !l.trim().is_empty())
                .is_some_and(|l| l.starts_with("//!"))
        })
        .map(|p| rel(&p))
        .collect();
    assert!(
        bad.is_empty(),
        "files without a leading `//!` line: {bad:?}"
    );
}

#[test]
fn every_allow_says_why() {
    let mut bad = Vec::new();
    for p in sources() {
        let text = fs::read_to_string(&p).unwrap_or_default();
        // Generated code (bindgen's bitfield accessors) carries its own allows; its header
        // says why once.
        if text
            .lines()
            .next()
            .is_some_and(|l| l.contains("generated") && l.contains("do not edit"))
        {
            continue;
        }
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let t = l.trim_start();
            if t.starts_with("#[allow(") || t.starts_with("#![allow(") {
                let commented =
                    l.contains("//") || (i > 0 && lines[i - 1].trim_start().starts_with("//"));
                if !commented {
                    bad.push(format!("{}:{}", rel(&p), i + 1));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "`allow` without a comment saying why: {bad:?}"
    );
}

fn member_manifests() -> Vec<PathBuf> {
    let root = project_root();
    let mut out = vec![root.join("xtask/Cargo.toml")];
    if let Ok(entries) = fs::read_dir(root.join("crates")) {
        out.extend(
            entries
                .flatten()
                .map(|e| e.path().join("Cargo.toml"))
                .filter(|p| p.is_file()),
        );
    }
    out
}

#[test]
fn every_member_uses_the_workspace_lints() {
    for m in member_manifests() {
        let text = fs::read_to_string(&m).unwrap();
        assert!(
            text.contains("[lints]\nworkspace = true"),
            "{} lacks `[lints] workspace = true`",
            rel(&m)
        );
    }
}

/// Which internal crates each crate may depend on (README: "The shape").
const LAYERS: &[(&str, &[&str])] = &[
    ("batcher", &[]),
    ("tracker", &[]),
    ("zones", &[]),
    ("lease", &[]),
    ("rtsp-ingest", &[]),
    ("gpu-decode", &[]),
    ("infer-trt", &["gpu-decode"]),
    (
        "rtsp-worker",
        &[
            "batcher",
            "tracker",
            "rtsp-ingest",
            "gpu-decode",
            "infer-trt",
            "zones",
        ],
    ),
    // Above the facade: the service knows no fleet; the fleet is the service's camera source
    // and sink over the pure lease rules; the binary only wires them.
    ("service", &["rtsp-worker"]),
    ("fleet", &["rtsp-worker", "service", "lease"]),
    ("rtsp-worker-cli", &["rtsp-worker", "service", "fleet"]),
    ("rtsp-worker-py", &["rtsp-worker"]),
    // Test support: only ever a dev-dependency (below), and depending on no crate of ours.
    ("testkit", &[]),
];

/// A manifest's lines, trimmed, each with the `[section]` it is in.
fn manifest_lines(manifest: &Path) -> Vec<(String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in fs::read_to_string(manifest).unwrap().lines() {
        let t = line.trim();
        if t.starts_with('[') {
            section = t.to_owned();
        } else {
            out.push((section.clone(), t.to_owned()));
        }
    }
    out
}

#[test]
fn testkit_is_only_a_dev_dependency() {
    for m in member_manifests() {
        for (section, line) in manifest_lines(&m) {
            if line.starts_with("testkit") {
                assert!(
                    section == "[dev-dependencies]" || section == "[workspace.dependencies]",
                    "{}: testkit in {section}: it is test support, never shipped",
                    rel(&m)
                );
            }
        }
    }
}

#[test]
fn no_path_attribute_leaves_its_crate() {
    // Code is shared between crates as a crate (`testkit`, `service`), not by compiling
    // another crate's file with `#[path]`: that file would be built twice, once under rules
    // its crate does not know.
    let mut bad = Vec::new();
    for p in sources().into_iter().chain({
        let mut fuzz = Vec::new();
        files(&project_root().join("fuzz"), "rs", &mut fuzz);
        fuzz
    }) {
        let text = fs::read_to_string(&p).unwrap_or_default();
        let path = rel(&p);
        // The crate's folder: `crates/NAME`, else the top folder (`xtask`, `fuzz`, `benches`).
        let depth = if path.starts_with("crates/") { 2 } else { 1 };
        let krate = path.split('/').take(depth).collect::<Vec<_>>().join("/");
        for (i, l) in text.lines().enumerate() {
            let Some(rest) = l.trim_start().strip_prefix("#[path = \"") else {
                continue;
            };
            let target = rest.split('"').next().unwrap_or("");
            let resolved = p.parent().unwrap().join(target);
            let resolved = normalize(&resolved);
            if !rel(&resolved).starts_with(&format!("{krate}/")) {
                bad.push(format!("{}:{} -> {}", rel(&p), i + 1, rel(&resolved)));
            }
        }
    }
    assert!(bad.is_empty(), "`#[path]` into another crate: {bad:?}");
}

/// `a/b/../c` as `a/c` (the file need not exist).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn crates_depend_only_downwards() {
    let internal: Vec<&str> = LAYERS.iter().map(|(n, _)| *n).collect();
    for m in member_manifests() {
        let name = m
            .parent()
            .and_then(|d| d.file_name())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if name == "xtask" {
            continue;
        }
        let allowed = LAYERS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("crate {name} is not in tidy.rs's LAYERS table"));
        for (section, line) in manifest_lines(&m) {
            // Dev-dependencies may pull in anything for tests; a crate may name itself.
            if !section.ends_with("dependencies]") || section.contains("dev-dependencies") {
                continue;
            }
            let dep = line.split(['=', '.', ' ']).next().unwrap_or("");
            if internal.contains(&dep) && dep != name {
                assert!(
                    allowed.contains(&dep),
                    "{name} must not depend on {dep} ({})",
                    rel(&m)
                );
            }
        }
    }
}

#[test]
fn infer_trt_does_not_know_the_pipeline_even_in_tests() {
    // The facade wires the pipeline; infer-trt's examples and tests must not.
    let text = fs::read_to_string(project_root().join("crates/infer-trt/Cargo.toml")).unwrap();
    for neighbour in ["rtsp-ingest", "batcher", "tracker", "rtsp-worker"] {
        assert!(
            !text.lines().any(|l| l.trim_start().starts_with(neighbour)),
            "crates/infer-trt/Cargo.toml names {neighbour}"
        );
    }
}

fn cargo_tree(args: &[&str]) -> String {
    let out = crate::cargo()
        .args(["tree", "-e", "normal", "--prefix", "none"])
        .args(args)
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn batcher_pulls_no_runtime_by_default() {
    let tree = cargo_tree(&["-p", "batcher"]);
    for heavy in ["tokio ", "crossbeam"] {
        assert!(
            !tree.contains(heavy),
            "`cargo tree -p batcher -e normal` shows {heavy}:\n{tree}"
        );
    }
    // And the check can see them when they are there.
    assert!(cargo_tree(&["-p", "batcher", "--features", "tokio"]).contains("tokio "));
    assert!(
        cargo_tree(&["-p", "batcher", "--features", "blocking"]).contains("crossbeam-channel ")
    );
}

#[test]
fn no_registry_host_names_in_the_code() {
    // Spelled in pieces so that this file passes its own check.
    let hosts = [
        ["crates", ".io"].concat(),
        ["static.", "crates"].concat(),
        ["pypi", ".org"].concat(),
        ["pythonhosted", ".org"].concat(),
        ["deb.", "debian.org"].concat(),
        ["registry.", "npmjs"].concat(),
    ];
    let root = project_root();
    let mut texts = sources();
    for ext in ["toml", "md", "sh", "py", "txt", "yml", "rs", "patch"] {
        for dir in [
            "crates", "xtask", "benches", "docs", ".ci", ".cargo", "patches",
        ] {
            files(&root.join(dir), ext, &mut texts);
        }
    }
    texts.push(root.join("Cargo.toml"));
    texts.push(root.join("README.md"));
    texts.push(root.join(".ci/run"));
    let mut bad = Vec::new();
    for p in texts {
        let text = fs::read_to_string(&p).unwrap_or_default().to_lowercase();
        for h in &hosts {
            if text.contains(h.as_str()) {
                bad.push(format!("{}: {h}", rel(&p)));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "registry host names written into the code: {bad:?}"
    );
}

/// Every file under `dir`, relative to it.
fn tree(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).expect("under root").to_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn patched_retina_is_upstream_plus_the_patch() {
    let root = project_root();
    let cache = std::env::var_os("RTSP_WORKER_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/rtsp-worker")
        });
    let upstream = cache.join("upstream").join(crate::setup::RETINA);
    assert!(
        upstream.join("Cargo.toml").is_file(),
        "{} is missing: run `cargo xtask setup`",
        upstream.display()
    );
    // The published Cargo.toml and src/, host names written `<registry>`, patch applied.
    let work = std::env::temp_dir().join(format!("rtsp-worker-retina-{}", std::process::id()));
    let _ = fs::remove_dir_all(&work);
    let host = ["crates", ".io"].concat();
    let upstream_files: Vec<PathBuf> = tree(&upstream)
        .into_iter()
        .filter(|p| p.starts_with("src") || p == Path::new("Cargo.toml"))
        .collect();
    for rel in &upstream_files {
        let to = work.join(rel);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        let bytes = fs::read(upstream.join(rel)).unwrap();
        match String::from_utf8(bytes) {
            Ok(text) => fs::write(&to, text.replace(&host, "<registry>")).unwrap(),
            Err(e) => fs::write(&to, e.into_bytes()).unwrap(),
        }
    }
    let applied = std::process::Command::new("git")
        .args(["apply", "-p1"])
        .arg(root.join("patches/retina.patch"))
        .current_dir(&work)
        .output()
        .expect("git");
    assert!(
        applied.status.success(),
        "patches/retina.patch does not apply to {}: {}",
        upstream.display(),
        String::from_utf8_lossy(&applied.stderr)
    );
    let copy = root.join("patches/retina");
    let ours: Vec<PathBuf> = tree(&copy)
        .into_iter()
        .filter(|p| !p.starts_with("target") && p != Path::new("Cargo.lock"))
        .collect();
    let expected = tree(&work);
    assert_eq!(
        ours, expected,
        "patches/retina holds other files than upstream's"
    );
    let differ: Vec<String> = ours
        .iter()
        .filter(|rel| fs::read(copy.join(rel)).ok() != fs::read(work.join(rel)).ok())
        .map(|rel| rel.display().to_string())
        .collect();
    let _ = fs::remove_dir_all(&work);
    assert!(
        differ.is_empty(),
        "patches/retina differs from upstream + patches/retina.patch in {differ:?}: regenerate \
         the patch (patches/README.md) rather than edit the copy alone"
    );
}
