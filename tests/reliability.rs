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
    let mut c = imagebuild_isolated(work);
    c.args(["--compression", "gzip", "--compression-level", "2"]);
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

/// A workspace whose image carries a 48 MiB asset of incompressible bytes, so writing an output
/// takes long enough to be caught in the middle.
fn big_workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("src")).unwrap();
    std::fs::write(
        p.join("Cargo.toml"),
        "[package]\nname = \"big\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [package.metadata.imagebuild]\nassets = [[\"big.bin\", \"/big.bin\"]]\n",
    )
    .unwrap();
    std::fs::write(p.join("src/main.rs"), "fn main() {}\n").unwrap();
    // xorshift: incompressible enough that gzip cannot shrink it to nothing.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let bytes: Vec<u8> = (0..48 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(p.join("big.bin"), bytes).unwrap();
    dir
}

/// Starts a build of `ws` writing `output`, and sends `signal` as soon as a temporary of ours
/// appears in `watch`; returns the child's pid and exit status, or None when the run ended
/// before the signal reached it.
fn interrupt(
    ws: &Path,
    output: &str,
    watch: &Path,
    signal: &str,
) -> Option<(u32, std::process::ExitStatus)> {
    let mut child = imagebuild_in(ws)
        .args(["--platform", "linux/amd64", "-q", "-o", output])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "the build failed by itself: {status}");
            return None;
        }
        if !temporaries_of(pid, &[watch.to_path_buf()]).is_empty() {
            run_ok(Command::new("kill").args([signal, &pid.to_string()]));
            let status = child.wait().unwrap();
            // The run may have finished between the look and the signal: not caught then.
            return (!status.success()).then_some((pid, status));
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the build never ended"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// SIGKILL in the middle of each kind of local output leaves temporaries; the next run to the
/// same place succeeds and removes them (their owner is gone). SIGTERM removes them at once.
#[test]
fn killed_outputs_leave_nothing_behind_the_next_run() {
    let ws = big_workspace();
    let out = tempfile::tempdir().unwrap();
    let o = out.path();
    // Packed once, so the runs below spend their time writing outputs.
    run_ok(imagebuild_in(ws.path()).args([
        "--platform",
        "linux/amd64",
        "-q",
        "-o",
        "type=cacheonly",
    ]));
    let store = shared_target_dir().join("imagebuild/.work/blobs");
    for (name, spec) in [
        (
            "layout",
            format!("type=oci,dest={}", o.join("layout").display()),
        ),
        (
            "oci-archive",
            format!("type=oci,dest={}", o.join("image.tar").display()),
        ),
        (
            "docker-archive",
            format!("type=docker,dest={}", o.join("docker.tar").display()),
        ),
    ] {
        let mut caught = None;
        for _ in 0..10 {
            if let Some(r) = interrupt(ws.path(), &spec, o, "-KILL") {
                caught = Some(r);
                break;
            }
        }
        let (pid, _) = caught.unwrap_or_else(|| panic!("{name}: never caught mid-write"));
        let dirs = [o.to_path_buf(), store.clone()];
        assert!(
            !temporaries_of(pid, &dirs).is_empty(),
            "{name}: a SIGKILL leaves its temporaries"
        );
        run_ok(imagebuild_in(ws.path()).args(["--platform", "linux/amd64", "-q", "-o", &spec]));
        let left = temporaries_of(pid, &dirs);
        assert!(left.is_empty(), "{name}: the next run left {left:?}");
    }
    validate_layout(&o.join("layout"));

    let fresh = o.join("termed");
    let spec = format!("type=oci,dest={}", fresh.display());
    let (pid, status) = (0..10)
        .find_map(|_| {
            let _ = std::fs::remove_dir_all(&fresh);
            interrupt(ws.path(), &spec, o, "-TERM")
        })
        .expect("never caught mid-write");
    assert_eq!(
        status.code(),
        Some(130),
        "SIGTERM ends the run with 130: {status:?}"
    );
    let left = temporaries_of(pid, &[o.to_path_buf(), store]);
    assert!(left.is_empty(), "SIGTERM removed its temporaries: {left:?}");
    assert!(!fresh.exists(), "and wrote nothing half");
}

/// `cargo imagebuild clean` removes the workspace's internal files and the base-layer cache,
/// and keeps the images written.
#[test]
fn clean_removes_the_caches_and_keeps_images() {
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("target");
    let cache = work.path().join("cache");
    let store = target.join("imagebuild/.work/blobs/sha256");
    let image = target.join("imagebuild/ctl/oci-layout");
    for f in [
        store.join("aa"),
        cache.join("blobs/sha256/bb"),
        image.clone(),
    ] {
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, b"x").unwrap();
    }
    let out = run_ok(
        imagebuild()
            .env("CARGO_TARGET_DIR", &target)
            .env("CARGO_IMAGEBUILD_CACHE", &cache)
            .arg("clean"),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Removed"), "{err}");
    assert!(!target.join("imagebuild/.work").exists());
    assert!(!cache.join("blobs").exists());
    assert!(image.exists(), "images stay");
}

/// The cache bound comes from `CARGO_IMAGEBUILD_CACHE_LIMIT`, else the workspace's
/// `cache-limit`: with a 1-byte bound in the workspace table, the blobs an earlier run packed
/// and this one did not use are trimmed; with the variable at 0 (no bound), nothing is.
#[test]
fn cache_limit_from_the_workspace_table_and_the_environment() {
    let work = tempfile::tempdir().unwrap();
    let ws = one_package_workspace(&work.path().join("ws"), "bounded", "cache-limit = 1\n");
    // Its own target directory: trimming the shared store would take blobs from other tests.
    let target = work.path().join("target");
    let build = |level: &str, env: &[(&str, &str)]| {
        let out = run_ok(
            imagebuild_isolated_in(&ws, work.path())
                .env("CARGO_TARGET_DIR", &target)
                .envs(env.iter().copied())
                .args(["--platform", "linux/amd64", "--compression", "gzip"])
                .args(["--compression-level", level, "-o", "type=cacheonly"]),
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let unbounded = [("CARGO_IMAGEBUILD_CACHE_LIMIT", "0")];
    build("1", &unbounded);
    let err = build("2", &unbounded);
    assert!(!err.contains("Trimmed"), "no bound, nothing trimmed: {err}");
    let err = build("3", &[]);
    assert!(
        err.contains("Trimmed") && err.contains("cache-limit"),
        "the workspace's bound trims what this run did not use: {err}"
    );
}
