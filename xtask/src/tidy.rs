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

/// A module's path in its crate (`[]` is the root).
type ModPath = Vec<String>;
/// A crate's modules, with the file each lives in.
type Mods = std::collections::BTreeMap<ModPath, PathBuf>;
/// Names a module re-exports (`pub use`), with the module that defines each.
type Reexports = std::collections::BTreeMap<(ModPath, String), ModPath>;
/// Each module with the paths it names (and whether by `pub use`).
type Named = Vec<(ModPath, Vec<(String, bool)>)>;

/// A crate's modules, by path, with the file each lives in.
fn modules(src: &Path) -> Mods {
    let mut files_of = Vec::new();
    files(src, "rs", &mut files_of);
    files_of
        .into_iter()
        .map(|f| {
            let rel = f.strip_prefix(src).unwrap().with_extension("");
            let mut path: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                path.last().map(String::as_str),
                Some("lib" | "main" | "mod")
            ) {
                path.pop();
            }
            (path, f)
        })
        .collect()
}

/// A file's code without comments and without its `#[cfg(test)] mod tests` (a test module
/// is a child that uses its parent, by design).
fn code_of(file: &Path) -> String {
    let text = fs::read_to_string(file).unwrap_or_default();
    let text = text.split("\n#[cfg(test)]\nmod tests").next().unwrap_or("");
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e` (spaces already removed).
fn expand_use(u: &str) -> Vec<String> {
    let Some(open) = u.find("::{") else {
        return vec![u.to_owned()];
    };
    let (prefix, inner) = (&u[..open], &u[open + 3..u.len() - 1]);
    let (mut parts, mut depth, mut cur) = (Vec::new(), 0, String::new());
    for ch in inner.chars() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if ch == ',' && depth == 0 {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(ch);
        }
    }
    parts.push(cur);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| {
            if p == "self" {
                vec![prefix.to_owned()]
            } else {
                expand_use(&format!("{prefix}::{p}"))
            }
        })
        .collect()
}

/// Every path a file names: its `use` items (expanded) and inline `crate::…`/`super::…`
/// paths, each with whether it is a `pub use`.
fn paths_in(code: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = &rest[..at];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let lead = before[line_start..].trim();
        // `use` as an item: alone at the line's start, or after `pub`/`pub(crate)`.
        let is_item = lead.is_empty() || (lead.starts_with("pub") && before.ends_with(' '));
        if !is_item {
            rest = &rest[at + 4..];
            continue;
        }
        let end = rest[at..].find(';').map_or(rest.len(), |e| at + e);
        let body: String = rest[at + 4..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        for p in expand_use(&body) {
            out.push((p, lead.starts_with("pub")));
        }
        rest = rest.get(end + 1..).unwrap_or("");
    }
    for start in ["crate::", "super::"] {
        for (i, _) in code.match_indices(start) {
            let prev = code[..i].chars().last();
            if prev.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let path: String = code[i..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let path = path.trim_end_matches(':');
            if path.len() > start.len() {
                out.push((path.to_owned(), false));
            }
        }
    }
    out
}

/// Which module a path names from module `from`: the longest module prefix, then through a
/// `pub use` to the module that defines the item.
fn resolve(from: &[String], path: &str, mods: &Mods, reexports: &Reexports) -> Option<ModPath> {
    let mut segs: Vec<&str> = path.split("::").collect();
    let mut base: Vec<String> = match segs.first() {
        Some(&"crate") => {
            segs.remove(0);
            Vec::new()
        }
        Some(&"super") => {
            let mut b = from.to_vec();
            while segs.first() == Some(&"super") {
                b.pop();
                segs.remove(0);
            }
            b
        }
        Some(&"self") => {
            segs.remove(0);
            from.to_vec()
        }
        Some(first) => {
            let mut child = from.to_vec();
            child.push((*first).to_owned());
            if !mods.contains_key(&child) {
                return None;
            }
            from.to_vec()
        }
        None => return None,
    };
    let mut rest = segs.into_iter();
    let mut next = rest.next();
    while let Some(s) = next {
        let mut child = base.clone();
        child.push(s.to_owned());
        if !mods.contains_key(&child) {
            break;
        }
        base = child;
        next = rest.next();
    }
    if let Some(item) = next {
        let name = item.split(" as ").next().unwrap_or(item).to_owned();
        if let Some(definer) = reexports.get(&(base.clone(), name)) {
            return Some(definer.clone());
        }
    }
    Some(base)
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    // docs/ARCHITECTURE.md: dependencies between modules go one way, as between crates. A
    // `pub use` counts as an import; a path through a re-export counts for the module that
    // defines the item.
    let root = project_root();
    let mut crates: Vec<PathBuf> = vec![root.join("xtask/src")];
    for e in fs::read_dir(root.join("crates")).unwrap().flatten() {
        crates.push(e.path().join("src"));
    }
    let mut cycles = Vec::new();
    for src in crates.into_iter().filter(|s| s.is_dir()) {
        let mods = modules(&src);
        let code: Named = mods
            .iter()
            .map(|(m, f)| (m.clone(), paths_in(&code_of(f))))
            .collect();
        let mut reexports = Reexports::new();
        for (m, paths) in &code {
            for (p, public) in paths {
                let Some(last) = p.rsplit("::").next().filter(|_| *public) else {
                    continue;
                };
                let name = last.rsplit(" as ").next().unwrap_or(last).to_owned();
                let no_reexports = Reexports::new();
                if let Some(definer) = resolve(m, p, &mods, &no_reexports)
                    && definer != *m
                {
                    reexports.insert((m.clone(), name), definer);
                }
            }
        }
        // Each edge with the first path that makes it.
        let mut edges = std::collections::BTreeMap::new();
        for (m, paths) in &code {
            for (p, _) in paths {
                if let Some(to) = resolve(m, p, &mods, &reexports)
                    && to != *m
                {
                    edges.entry((m.clone(), to)).or_insert_with(|| p.clone());
                }
            }
        }
        let name = |m: &ModPath| {
            if m.is_empty() {
                "root".to_owned()
            } else {
                m.join("::")
            }
        };
        for ((a, b), why) in &edges {
            if let Some(back) = edges.get(&(b.clone(), a.clone()))
                && a < b
            {
                cycles.push(format!(
                    "{}: {} ({why}) <-> {} ({back})",
                    rel(&src),
                    name(a),
                    name(b),
                ));
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "modules that import each other: {cycles:#?}"
    );
}

#[test]
fn the_cycle_check_sees_a_cycle() {
    let mods: Mods = [
        (vec![], PathBuf::new()),
        (vec!["a".to_owned()], PathBuf::new()),
    ]
    .into_iter()
    .collect();
    let no = Reexports::new();
    assert_eq!(
        resolve(&[], "a::Thing", &mods, &no),
        Some(vec!["a".to_owned()])
    );
    assert_eq!(
        resolve(&["a".to_owned()], "crate::helper", &mods, &no),
        Some(vec![])
    );
    let uses = paths_in("use crate::{a::{X, Y}, b};\npub use self::a::Z;\nfn f() { super::g() }");
    assert!(
        uses.contains(&("crate::a::X".to_owned(), false)),
        "{uses:?}"
    );
    assert!(uses.contains(&("crate::b".to_owned(), false)), "{uses:?}");
    assert!(uses.contains(&("self::a::Z".to_owned(), true)), "{uses:?}");
    assert!(uses.contains(&("super::g".to_owned(), false)), "{uses:?}");
}
