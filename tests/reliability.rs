//! What holds after damage and faults: a cached blob that was damaged on disk is noticed, dropped
//! and made again (the build's blob store and the base-layer cache both), and outputs never
//! share an inode with a cache, so damage there cannot reach a layout written earlier. Each
//! result is checked by skopeo, which verifies every digest it copies.
//!
//! The tests here pack with gzip level 2, which no other test binary uses, so the blobs they
//! damage in the shared fixture target's store are theirs alone.

mod common;

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;

use common::registry::{Kind, Registry};
use common::*;

static PLAIN: LazyLock<Registry> = LazyLock::new(|| Registry::start(Kind::Plain));

/// Our binary with no credentials and its own base-layer cache under `work`, packing gzip level 2.
fn imagebuild_here(work: &Path) -> Command {
    let empty = work.join("no-credentials");
    std::fs::create_dir_all(&empty).unwrap();
    let mut c = imagebuild();
    c.env("DOCKER_CONFIG", &empty)
        .env("REGISTRY_AUTH_FILE", empty.join("auth.json"))
        .env_remove("XDG_RUNTIME_DIR")
        .env("CARGO_IMAGEBUILD_CACHE", work.join("cache"))
        .args(["--compression", "gzip", "--compression-level", "2"]);
    c
}

/// `ctl` for amd64 alone.
fn ctl(work: &Path) -> Command {
    let mut c = imagebuild_here(work);
    c.args(["-p", "tools", "--bin", "ctl", "--platform", "linux/amd64"]);
    c
}

fn store_blob(hex: &str) -> PathBuf {
    shared_target_dir()
        .join("imagebuild/.work/blobs/sha256")
        .join(hex)
}

/// Flips one byte in the middle of `path`, in place (same inode, same size).
fn damage(path: &Path) {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    let len = f.metadata().unwrap().len();
    let mut b = [0u8; 1];
    f.seek(SeekFrom::Start(len / 2)).unwrap();
    f.read_exact(&mut b).unwrap();
    f.seek(SeekFrom::Start(len / 2)).unwrap();
    f.write_all(&[b[0] ^ 0xff]).unwrap();
}

/// The layer digests (hex) of the one-platform image in the layout `dir`.
fn layer_hexes(dir: &Path) -> Vec<String> {
    let read = |hex: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.join("blobs/sha256").join(hex)).unwrap()).unwrap()
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let hex = |d: &serde_json::Value| d["digest"].as_str().unwrap()[7..].to_string();
    let inner = read(&hex(&index["manifests"][0]));
    let manifest = read(&hex(&inner["manifests"][0]));
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(hex)
        .collect()
}

/// skopeo copies every platform of the layout out, checking each blob against its digest.
fn skopeo_verifies(dir: &Path, work: &Path) {
    let copy = work.join(format!(
        "copy-of-{}",
        dir.file_name().unwrap().to_string_lossy()
    ));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let tag = index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .unwrap();
    run_ok(Command::new(require("skopeo")).args([
        "copy",
        "--all",
        &format!("oci:{}:{tag}", dir.display()),
        &format!("oci:{}:{tag}", copy.display()),
    ]));
}

/// A damaged layer in the build's blob store is re-packed; a damaged base layer in the
/// base-layer cache (and its copy in the store) is fetched again; a layout written before the
/// damage is untouched; every result is read whole by skopeo.
#[test]
fn damaged_cached_blobs_are_dropped_and_made_again() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let first = w.join("first");
    run_ok(ctl(w).args(["-o", &format!("type=oci,dest={}", first.display())]));
    validate_layout(&first);
    let layers = layer_hexes(&first);
    for hex in &layers {
        damage(&store_blob(hex));
    }
    validate_layout(&first);
    skopeo_verifies(&first, w);

    let second = w.join("second");
    let out = run_ok(ctl(w).args(["-o", &format!("type=oci,dest={}", second.display())]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dropped the damaged blob"), "{err}");
    validate_layout(&second);
    skopeo_verifies(&second, w);
    assert_eq!(layer_hexes(&second), layers, "the same layers, made again");

    // A base in the registry: pushed once, then built on into a layout (its layers go through
    // the base-layer cache), then every cached base layer is damaged, in the cache and in the store.
    let reg = &*PLAIN;
    let base = format!("{}/reliab-base:1", reg.addr);
    run_ok(ctl(w).args(["--push", "-t", &base]));
    let on_base = |dest: &Path| {
        run_ok(imagebuild_here(w).args([
            "-p",
            "server",
            "--bin",
            "api",
            "--platform",
            "linux/amd64",
            "--base",
            &base,
            "-o",
            &format!("type=oci,dest={}", dest.display()),
        ]))
    };
    // The base's layers are ctl's layers above, in the store: damaged there, they are fetched
    // into the base-layer cache and copied into the store again.
    for hex in &layers {
        damage(&store_blob(hex));
    }
    let third = w.join("third");
    let out = on_base(&third);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dropped the damaged blob"), "{err}");
    validate_layout(&third);
    skopeo_verifies(&third, w);
    let cached: Vec<PathBuf> = std::fs::read_dir(w.join("cache/blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert!(
        !cached.is_empty(),
        "the base's layers went through the cache"
    );
    for p in &cached {
        damage(p);
        damage(&store_blob(&p.file_name().unwrap().to_string_lossy()));
    }
    let fourth = w.join("fourth");
    let out = on_base(&fourth);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Downloading"),
        "the base layers were fetched again: {err}"
    );
    validate_layout(&third);
    validate_layout(&fourth);
    skopeo_verifies(&fourth, w);
}
