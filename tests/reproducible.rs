//! The same digest on every machine: two builds of `tests/fixtures/repro` (a binary whose
//! dependency's source paths end up in it) from two directories, with two different
//! `CARGO_HOME`s (the second populated by `cargo fetch`, offline, from copies of this machine's
//! registry entries) and two target directories, give identical manifests for every platform and
//! the same index; with the remap turned off they do not, which shows the remap is what makes
//! them equal. Changing one byte of source changes only the binary layer and what points at it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

const PLATFORMS: &str = "linux/amd64,linux/arm64";

fn repro_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/repro")
}

/// A copy of the fixture (with its Cargo.lock) at `dir`.
fn copy_fixture(dir: &Path) -> PathBuf {
    copy_tree(&repro_fixture(), dir);
    std::fs::copy(repro_fixture().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    dir.to_path_buf()
}

/// This machine's CARGO_HOME, as cargo finds it.
fn default_cargo_home() -> PathBuf {
    match std::env::var_os("CARGO_HOME").filter(|h| !h.is_empty()) {
        Some(h) => PathBuf::from(h),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cargo"),
    }
}

/// A new CARGO_HOME at `home` holding only what the fixture needs: the registry's config and
/// its index entry for `bytes`, and the `.crate` file, copied from this machine's registry; then
/// `cargo fetch --offline` unpacks it there as a second machine would have it.
fn second_cargo_home(home: &Path, ws: &Path) {
    // The fixture's one dependency is in the default registry: the first build fetched it (this
    // project depends on the same version, so it is there even before).
    let registry = default_cargo_home().join("registry");
    let mut copied = 0;
    for entry in std::fs::read_dir(registry.join("index")).unwrap() {
        let src = entry.unwrap().path();
        let dst = home.join("registry/index").join(src.file_name().unwrap());
        std::fs::create_dir_all(dst.join(".cache/by/te")).unwrap();
        for file in ["config.json", ".cache/by/te/bytes"] {
            if src.join(file).is_file() {
                std::fs::copy(src.join(file), dst.join(file)).unwrap();
                copied += 1;
            }
        }
    }
    for entry in std::fs::read_dir(registry.join("cache")).unwrap() {
        let src = entry.unwrap().path().join("bytes-1.12.2.crate");
        if src.is_file() {
            let dst = home
                .join("registry/cache")
                .join(src.parent().unwrap().file_name().unwrap());
            std::fs::create_dir_all(&dst).unwrap();
            std::fs::copy(&src, dst.join("bytes-1.12.2.crate")).unwrap();
            copied += 1;
        }
    }
    assert!(copied >= 3, "this machine's registry lacks bytes 1.12.2");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run_ok(
        Command::new(cargo)
            .args(["fetch", "--offline", "--manifest-path"])
            .arg(ws.join("Cargo.toml"))
            .env("CARGO_HOME", home),
    );
    assert!(
        std::fs::read_dir(home.join("registry/src"))
            .unwrap()
            .next()
            .is_some(),
        "cargo fetch unpacked nothing into the second CARGO_HOME"
    );
}

/// What one build printed and wrote.
struct Built {
    index: String,
    /// (platform, manifest digest)
    manifests: Vec<(String, String)>,
    layout: PathBuf,
    stderr: String,
}

impl Built {
    /// The manifest of `platform`, parsed from the layout.
    fn manifest(&self, platform: &str) -> Value {
        let (_, digest) = self
            .manifests
            .iter()
            .find(|(p, _)| p == platform)
            .unwrap_or_else(|| panic!("no {platform} manifest"));
        let path = self.layout.join("blobs/sha256").join(&digest[7..]);
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }
}

fn build(ws: &Path, target: &Path, cargo_home: Option<&Path>, extra: &[&str]) -> Built {
    let layout = target.join("out");
    let mut cmd = imagebuild_in(ws);
    cmd.env("CARGO_TARGET_DIR", target)
        .args(["--platform", PLATFORMS, "-v"])
        .args(["-o", &format!("type=oci,dest={}", layout.display())])
        .args(extra);
    if let Some(h) = cargo_home {
        cmd.env("CARGO_HOME", h);
    }
    let out = run_ok(&mut cmd);
    let printed = parse_digests(&stdout(&out));
    assert_eq!(printed.len(), 1, "{}", stdout(&out));
    validate_layout(&layout);
    Built {
        index: printed[0].1.clone(),
        manifests: printed[0].2.clone(),
        layout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn two_machines_give_the_same_digests_and_one_byte_changes_one_layer() {
    let work = tempfile::tempdir().unwrap();
    let ws1 = copy_fixture(&work.path().join("alice/src/repro"));
    let ws2 = copy_fixture(&work.path().join("bob/projects/deep/repro"));

    let a = build(&ws1, &work.path().join("target-a"), None, &[]);
    let home2 = work.path().join("bob/cargo-home");
    second_cargo_home(&home2, &ws2);
    let b = build(&ws2, &work.path().join("target-b"), Some(&home2), &[]);

    assert_eq!(a.manifests.len(), 2);
    assert_eq!(
        a.manifests, b.manifests,
        "two machines' builds differ per platform"
    );
    assert_eq!(a.index, b.index);
    // `-v` says what was remapped and where the timestamp came from.
    for expect in [
        format!("remap:     {} -> /cargo", home2.display()),
        format!("remap:     {} -> /workspace", ws2.display()),
        "-> /rust/toolchain".to_string(),
        "created:   1970-01-01T00:00:00Z (no SOURCE_DATE_EPOCH and not a git checkout".to_string(),
    ] {
        assert!(
            b.stderr.contains(&expect),
            "-v does not say `{expect}`:\n{}",
            b.stderr
        );
    }

    // Without the remap the second CARGO_HOME's path is in the binaries: the digests differ.
    let off = build(
        &ws2,
        &work.path().join("target-b"),
        Some(&home2),
        &["--no-remap-paths"],
    );
    assert!(off.stderr.contains("remap:     off"), "{}", off.stderr);
    assert_ne!(
        off.index, a.index,
        "the remap made no difference: the fixture no longer embeds CARGO_HOME paths"
    );

    // One byte of source: only the binary layer, the config (its diff_id) and the manifest and
    // index over them change.
    let main = ws2.join("src/main.rs");
    let text = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, text.replace("hello from repro", "hello from reprO")).unwrap();
    let c = build(&ws2, &work.path().join("target-b"), Some(&home2), &[]);
    assert_ne!(c.index, a.index);
    for (platform, digest) in &a.manifests {
        let (before, after) = (a.manifest(platform), c.manifest(platform));
        let changed = c.manifests.iter().find(|(p, _)| p == platform).unwrap();
        assert_ne!(
            &changed.1, digest,
            "{platform}: the manifest did not change"
        );
        assert_ne!(before["config"]["digest"], after["config"]["digest"]);
        let (lb, la) = (
            before["layers"].as_array().unwrap(),
            after["layers"].as_array().unwrap(),
        );
        assert_eq!(lb.len(), la.len());
        let last = lb.len() - 1;
        for i in 0..last {
            assert_eq!(lb[i], la[i], "{platform}: layer {i} changed");
        }
        assert_ne!(
            lb[last], la[last],
            "{platform}: the binary layer did not change"
        );
        assert_eq!(before["annotations"], after["annotations"]);
    }
}

/// In a git checkout the timestamp is the last commit's time, and `--dry-run` (like `-v`) says so.
#[test]
fn the_last_commit_time_is_the_default_timestamp() {
    let work = tempfile::tempdir().unwrap();
    let ws = copy_fixture(&work.path().join("repro"));
    git_commit_all(&ws, 1_700_000_000);
    let out = run_ok(imagebuild_in(&ws).args(["--dry-run", "--platform", "linux/amd64"]));
    let plan = stdout(&out);
    assert!(
        plan.contains("created:   2023-11-14T22:13:20Z (the last commit's time)"),
        "{plan}"
    );
    let out = run_ok(imagebuild_in(&ws).env("SOURCE_DATE_EPOCH", "86400").args([
        "--dry-run",
        "--platform",
        "linux/amd64",
    ]));
    assert!(
        stdout(&out).contains("created:   1970-01-02T00:00:00Z (from SOURCE_DATE_EPOCH)"),
        "{}",
        stdout(&out)
    );
}
