//! The shared test harness: runs our binary against the fixture workspace with a cached cargo
//! target directory, finds the external checkers (skopeo, umoci, qemu) and fails loudly when one
//! is missing, and validates any OCI layout we write (every blob present, every digest and size
//! right) independently of the code under test. The runtimes that images are loaded into are
//! started here too, once per test binary and stopped at its exit: `dockerd.rs`, `podman.rs`
//! (with `processes.rs` for deadlines and exit hooks) and qemu's binfmt entry (`binfmt.rs`).
#![allow(dead_code)]

pub mod bases;
pub mod binfmt;
pub mod containerd;
pub mod dockerd;
pub mod faults;
pub mod keys;
pub mod path;
pub mod podman;
pub mod processes;
pub mod proxy;
pub mod registry;
pub mod token;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// The fixture workspace: two packages (`server` with bins `api` and `migrate`, `tools` with `ctl`).
pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ws")
}

/// A cargo target directory shared by every test of this run, so fixture builds are cached.
pub fn shared_target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("fixture-target")
}

/// Our binary, run in `dir` with the shared target directory and no inherited settings.
pub fn imagebuild_in(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cargo-imagebuild"));
    c.current_dir(dir)
        .env("CARGO_TARGET_DIR", shared_target_dir())
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("CARGO_IMAGEBUILD_REPO")
        .env_remove("CARGO_IMAGEBUILD_SIGN_KEY")
        .env("NO_COLOR", "1");
    c
}

/// Our binary, run in the fixture workspace.
pub fn imagebuild() -> Command {
    imagebuild_in(&fixture())
}

/// Our binary in the fixture workspace with no credentials anywhere (an empty DOCKER_CONFIG
/// and auth file under `work`) and its own base-layer cache in `work/cache`.
pub fn imagebuild_isolated(work: &Path) -> Command {
    imagebuild_isolated_in(&fixture(), work)
}

/// [`imagebuild_isolated`] in the workspace `dir`.
pub fn imagebuild_isolated_in(dir: &Path, work: &Path) -> Command {
    let empty = work.join("no-credentials");
    std::fs::create_dir_all(&empty).unwrap();
    let mut c = imagebuild_in(dir);
    c.env("DOCKER_CONFIG", &empty)
        .env("REGISTRY_AUTH_FILE", empty.join("auth.json"))
        .env_remove("XDG_RUNTIME_DIR")
        .env("CARGO_IMAGEBUILD_CACHE", work.join("cache"));
    c
}

/// Runs `cmd`, panicking with its output unless it succeeds.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `cmd`, panicking unless it fails; returns its stderr.
pub fn run_err(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "{cmd:?} succeeded but should have failed:\nstdout:\n{}\nstderr:\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The path of an external tool. A missing tool fails the test: CI must have installed it
/// (`scripts/test.sh` does).
pub fn require(tool: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(tool);
        if p.is_file() {
            return p;
        }
    }
    panic!("`{tool}` is not installed: run scripts/test.sh, which installs what the tests need");
}

/// A YAML file read by PyYAML (as GitHub and GitLab read YAML 1.1) and given back as JSON.
pub fn yaml(path: &Path) -> Value {
    let out = run_ok(Command::new(require("python3")).args([
        "-c",
        "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        path.to_str().unwrap(),
    ]));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{} read as YAML is not JSON: {e}", path.display()))
}

/// How a workflow names this repository's action.yml at this version: `OWNER/REPO@vX.Y.Z`, from
/// Cargo.toml's `repository`.
pub fn action_ref() -> String {
    let repo = env!("CARGO_PKG_REPOSITORY");
    let path = repo
        .strip_prefix("https://github.com/")
        .unwrap_or_else(|| panic!("Cargo.toml's repository {repo} is not on GitHub"));
    format!(
        "{}@v{}",
        path.trim_end_matches('/'),
        env!("CARGO_PKG_VERSION")
    )
}

/// Copies a directory tree (no `target/`, no `Cargo.lock`).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == "target" || name == "Cargo.lock" {
            continue;
        }
        let (src, dst) = (e.path(), to.join(&name));
        if e.file_type().unwrap().is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// `skopeo inspect --raw` of a reference, parsed.
pub fn skopeo_raw(reference: &str) -> Value {
    let out = run_ok(Command::new(require("skopeo")).args(["inspect", "--raw", reference]));
    serde_json::from_slice(&out.stdout).expect("skopeo printed JSON")
}

/// `skopeo inspect --config` for one platform of a reference, parsed.
pub fn skopeo_config(reference: &str, arch: &str, variant: Option<&str>) -> Value {
    let mut c = Command::new(require("skopeo"));
    c.args(["--override-os", "linux", "--override-arch", arch]);
    if let Some(v) = variant {
        c.args(["--override-variant", v]);
    }
    let out = run_ok(c.args(["inspect", "--config", reference]));
    serde_json::from_slice(&out.stdout).expect("skopeo printed JSON")
}

/// Unpacks one platform of a layout: skopeo copies it to a single-image layout, umoci unpacks
/// that. Returns the bundle directory (its `rootfs/` holds the files).
pub fn unpack_platform(reference: &str, arch: &str, variant: Option<&str>, work: &Path) -> PathBuf {
    let single = work.join(format!("single-{arch}"));
    let bundle = work.join(format!("bundle-{arch}"));
    let mut c = Command::new(require("skopeo"));
    c.args(["--override-os", "linux", "--override-arch", arch]);
    if let Some(v) = variant {
        c.args(["--override-variant", v]);
    }
    run_ok(c.args([
        "copy",
        "--quiet",
        reference,
        &format!("oci:{}:img", single.display()),
    ]));
    run_ok(Command::new(require("umoci")).args([
        "unpack",
        "--image",
        &format!("{}:img", single.display()),
        bundle.to_str().unwrap(),
    ]));
    bundle
}

fn sha256_file(p: &Path) -> String {
    let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
    let h = Sha256::digest(&bytes);
    format!(
        "sha256:{}",
        h.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// Checks a layout directory from first principles: `oci-layout` is right, and every descriptor
/// reachable from `index.json` names a blob that exists with that digest and size. Returns the
/// number of blobs checked.
pub fn validate_layout(dir: &Path) -> usize {
    let layout: Value =
        serde_json::from_slice(&std::fs::read(dir.join("oci-layout")).unwrap()).unwrap();
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let mut todo: Vec<Value> = index["manifests"].as_array().unwrap().clone();
    let mut seen = std::collections::BTreeSet::new();
    // Bounded: an image graph has far fewer than 10,000 descriptors.
    for _ in 0..10_000 {
        let Some(d) = todo.pop() else {
            return seen.len();
        };
        let digest = d["digest"].as_str().unwrap().to_string();
        if !seen.insert(digest.clone()) {
            continue;
        }
        let path = dir.join("blobs/sha256").join(&digest["sha256:".len()..]);
        assert_eq!(
            sha256_file(&path),
            digest,
            "blob {} has the wrong digest",
            path.display()
        );
        let len = std::fs::metadata(&path).unwrap().len();
        assert_eq!(
            len,
            d["size"].as_u64().unwrap(),
            "blob {digest} has the wrong size"
        );
        let mt = d["mediaType"].as_str().unwrap_or_default();
        if mt.ends_with("index.v1+json") || mt.ends_with("manifest.v1+json") {
            let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            assert_eq!(
                doc["mediaType"], mt,
                "{digest}: mediaType differs from its descriptor"
            );
            if let Some(ms) = doc["manifests"].as_array() {
                todo.extend(ms.iter().cloned());
            }
            if doc.get("config").is_some() {
                todo.push(doc["config"].clone());
                todo.extend(doc["layers"].as_array().unwrap().iter().cloned());
            }
        }
    }
    panic!("the layout's descriptor graph is too large");
}

/// One binary's printed result: name, index digest, `(platform, manifest digest)` pairs.
pub type Printed = (String, String, Vec<(String, String)>);

/// Parses our stdout: `bin digest` lines, each followed by `  platform digest` lines.
pub fn parse_digests(stdout: &str) -> Vec<Printed> {
    let mut out: Vec<Printed> = Vec::new();
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("  ") {
            let (p, d) = rest.split_once(' ').unwrap();
            out.last_mut()
                .unwrap()
                .2
                .push((p.to_string(), d.to_string()));
        } else if let Some((b, d)) = line.split_once(' ') {
            out.push((b.to_string(), d.to_string(), Vec::new()));
        }
    }
    out
}

/// Makes `dir` a git checkout with everything in it committed at `epoch` (seconds), as a
/// workspace under version control is; returns the commit id.
pub fn git_commit_all(dir: &Path, epoch: u64) -> String {
    let date = format!("{epoch} +0000");
    let git = |args: &[&str]| {
        run_ok(
            Command::new(require("git"))
                .current_dir(dir)
                .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
                .args(args)
                .env("GIT_COMMITTER_DATE", &date)
                .env("GIT_AUTHOR_DATE", &date),
        )
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "fixture"]);
    stdout(&git(&["rev-parse", "HEAD"])).trim().to_string()
}

/// Every temporary named for `pid` under `dirs` (and in its subdirectories not starting with a dot).
pub fn temporaries_of(pid: u32, dirs: &[PathBuf]) -> Vec<PathBuf> {
    let tag = format!("-{pid}-");
    let mut found = Vec::new();
    for d in dirs {
        let Ok(es) = std::fs::read_dir(d) else {
            continue;
        };
        for e in es.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".imagebuild-") && name.contains(&tag) {
                found.push(e.path());
            }
            if e.file_type().unwrap().is_dir() && !name.starts_with('.') {
                found.extend(temporaries_of(pid, &[e.path()]));
            }
        }
    }
    found
}

/// A workspace of one package `name` with one empty binary, at `dir`, with `settings` (TOML
/// lines) in its `[workspace.metadata.imagebuild]`; returns `dir`.
pub fn one_package_workspace(dir: &Path, name: &str, settings: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [workspace]\n\n[workspace.metadata.imagebuild]\n{settings}"
        ),
    )
    .unwrap();
    dir.to_path_buf()
}
