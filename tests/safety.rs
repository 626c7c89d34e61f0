//! Hostile input and other people's data: a registry base whose layer claims a 512 MiB GNU long
//! name is refused in bounded memory; secrets given on the command line, in a git origin or to a
//! credential helper reach no attachment, label, plan or log, and this machine's paths reach no
//! attachment; an existing layout keeps another tool's image and a user's file, and a damaged
//! blob in it is repaired on a rerun; two runs share one target directory; a FIFO among the
//! assets is refused at once. Every build here is of a tiny generated workspace (no
//! dependencies) in a temporary directory, into this test binary's own target directory.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;
use std::time::Duration;

use common::registry::{Kind, Registry};
use common::*;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

static PLAIN: LazyLock<Registry> = LazyLock::new(|| Registry::start(Kind::Plain));

/// The cargo target directory of this test binary's builds.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("safety-target")
}

/// A workspace at `dir` with packages `app` (binary `app`, depending on `../shared`, a path
/// outside the workspace) and `other` (binary `other`); `settings` go in its imagebuild table.
fn workspace(dir: &Path, settings: &str) -> PathBuf {
    let ws = dir.join("ws");
    let shared = dir.join("shared");
    std::fs::create_dir_all(shared.join("src")).unwrap();
    std::fs::write(
        shared.join("Cargo.toml"),
        "[package]\nname = \"shared\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(
        shared.join("src/lib.rs"),
        "pub fn hello() -> &'static str { \"hello\" }\n",
    )
    .unwrap();
    for (name, dep) in [
        ("app", "shared = { path = \"../../shared\" }\n"),
        ("other", ""),
    ] {
        let pkg = ws.join(name);
        std::fs::create_dir_all(pkg.join("src")).unwrap();
        std::fs::write(
            pkg.join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
                 [dependencies]\n{dep}"
            ),
        )
        .unwrap();
        let body = if dep.is_empty() {
            "fn main() { println!(\"other\"); }\n"
        } else {
            "fn main() { println!(\"{}\", shared::hello()); }\n"
        };
        std::fs::write(pkg.join("src/main.rs"), body).unwrap();
    }
    std::fs::write(
        ws.join("Cargo.toml"),
        format!(
            "[workspace]\nmembers = [\"app\", \"other\"]\nresolver = \"2\"\n\n\
             [workspace.metadata.imagebuild]\nplatforms = [\"linux/amd64\"]\n{settings}"
        ),
    )
    .unwrap();
    ws
}

/// Our binary in workspace `ws`, with the test target directory, no credentials, and a cache
/// and home directory of its own under `work`.
fn imagebuild_ws(ws: &Path, work: &Path) -> Command {
    let mut c = imagebuild_isolated_in(ws, work);
    let home = work.join("home");
    std::fs::create_dir_all(&home).unwrap();
    c.env("CARGO_TARGET_DIR", target_dir()).env("HOME", &home);
    // cargo and rustup still find their own homes.
    for var in ["CARGO_HOME", "RUSTUP_HOME"] {
        if std::env::var_os(var).is_none() {
            let real = std::env::var_os("HOME").map(PathBuf::from).unwrap();
            let dir = real.join(if var == "CARGO_HOME" {
                ".cargo"
            } else {
                ".rustup"
            });
            c.env(var, dir);
        }
    }
    c
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Every file below `dir`, with its bytes.
fn files_below(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A one-platform (linux/amd64) OCI layout at `dir` tagged `tag`, of one gzip layer whose
/// uncompressed tar is streamed by `tar` (which returns nothing; the bytes go through the
/// writer it is given), compressed at gzip's best level.
fn hand_made_layout(dir: &Path, tag: &str, tar: impl FnOnce(&mut dyn std::io::Write)) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    struct Hashing<W: std::io::Write> {
        inner: W,
        hash: Sha256,
    }
    impl<W: std::io::Write> std::io::Write for Hashing<W> {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let n = self.inner.write(b)?;
            self.hash.update(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.inner.flush()
        }
    }
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut w = Hashing {
        inner: gz,
        hash: Sha256::new(),
    };
    tar(&mut w);
    let diff_id: String = w
        .hash
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let layer = w.inner.finish().unwrap();
    let put = |bytes: &[u8]| -> (String, usize) {
        let hex = sha256_hex(bytes);
        std::fs::write(blobs.join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let (layer_digest, layer_size) = put(&layer);
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]},
    }))
    .unwrap();
    let (config_digest, config_size) = put(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer_size}],
    }))
    .unwrap();
    let (manifest_digest, manifest_size) = put(&manifest);
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest, "size": manifest_size,
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }],
        }))
        .unwrap(),
    )
    .unwrap();
}

/// A 512-byte ustar/GNU header.
fn tar_header(name: &str, kind: u8, size: u64) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = kind;
    h[257..265].copy_from_slice(b"ustar  \0");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

/// The peak resident memory (VmHWM, KiB) of the running process `pid`, when it can be read.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// A base whose one layer (about half a megabyte of gzip) holds a GNU long-name entry of
/// 512 MiB: listing it (a dynamically linked binary asks for the base's files) is refused with
/// an error that names the layer and the base, while our process stays under 150 MB of peak
/// memory (sampled from /proc until it exits; the high-water mark only grows).
#[test]
fn a_base_layer_with_a_huge_long_name_is_refused_in_bounded_memory() {
    let reg = &*PLAIN;
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("hostile");
    hand_made_layout(&layout, "1", |w| {
        const NAME: u64 = 512 << 20;
        w.write_all(&tar_header("././@LongLink", b'L', NAME))
            .unwrap();
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..(NAME >> 20) {
            w.write_all(&chunk).unwrap();
        }
        w.write_all(&tar_header("x", b'0', 0)).unwrap();
        w.write_all(&[0u8; 1024]).unwrap();
    });
    let layer_size: u64 = files_below(&layout.join("blobs"))
        .iter()
        .map(|(_, b)| b.len() as u64)
        .max()
        .unwrap();
    assert!(layer_size < 2 << 20, "the layer is small: {layer_size}");
    let base = format!("{}/hostile:1", reg.addr);
    run_ok(
        Command::new(require("skopeo"))
            .args(["copy", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:1", layout.display()))
            .arg(format!("docker://{base}")),
    );
    let ws = workspace(work.path(), "");
    let dest = work.path().join("out");
    let mut cmd = imagebuild_ws(&ws, work.path());
    cmd.env("RUSTFLAGS", "-C target-feature=-crt-static")
        .args([
            "-p",
            "other",
            "--target",
            "x86_64-unknown-linux-gnu",
            "--base",
            &base,
        ])
        .args(["--output", &format!("type=oci,dest={}", dest.display())])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let pid = child.id();
    let mut peak = 0;
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the build hangs"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "a hostile base is refused");
    assert!(
        err.contains("listing the files of base layer sha256:")
            && err.contains(&base)
            && err.contains("GNU long name of 536870912 bytes"),
        "{err}"
    );
    eprintln!("peak RSS of the run: {peak} KiB");
    assert!(peak > 0, "the process's memory was sampled");
    assert!(peak < 150 * 1024, "peak RSS {peak} KiB");
    assert!(!dest.exists(), "nothing is written after a refusal");
}

/// A proxy password in `--config`, a token in the git origin (user-info and query), and the
/// paths of this machine (the workspace, the home directory, an out-of-workspace path
/// dependency, `--output` dest and `--sbom-dir`) reach no blob of the layout, no file of
/// `--sbom-dir`, no line of the printed plan and no log line; what is recorded is masked or
/// relative, and `source` is the origin's plain web address.
#[test]
fn secrets_and_this_machines_paths_stay_out_of_what_is_recorded() {
    let work = tempfile::tempdir().unwrap();
    let ws = workspace(work.path(), "");
    let git = |args: &[&str]| run_ok(Command::new(require("git")).current_dir(&ws).args(args));
    git(&["init", "-q"]);
    git(&[
        "remote",
        "add",
        "origin",
        "https://x:TOKEN1@git.example.com/acme/app.git?private_token=TOKEN2#frag",
    ]);
    common::git_commit_all(&ws, 1_700_000_000);
    let home = work.path().join("home");
    let dest = work.path().join("out");
    let sboms = home.join("sboms");
    let args = |c: &mut Command| {
        c.args(["-p", "app"])
            .args(["--config", "http.proxy=\"http://bob:PASSWORD@127.0.0.1:9\""])
            .args(["--config", "env.APP_SECRET=\"PASSWORD\""])
            .args(["--output", &format!("type=oci,dest={}", dest.display())])
            .arg(format!("--sbom-dir={}", sboms.display()));
    };
    let secrets = ["PASSWORD", "TOKEN1", "TOKEN2"];
    let ws_abs = ws.display().to_string();
    let home_abs = home.display().to_string();

    // The printed plan, as JSON.
    let mut plan = imagebuild_ws(&ws, work.path());
    args(&mut plan);
    let plan = run_ok(plan.args(["--dry-run", "--message-format", "json"]));
    let shown = format!("{}{}", stdout(&plan), String::from_utf8_lossy(&plan.stderr));
    for s in secrets {
        assert!(!shown.contains(s), "{s} in the plan: {shown}");
    }
    assert!(shown.contains("http.proxy=\\\"***\\\""), "{shown}");

    // The build, logging verbosely.
    let mut build = imagebuild_ws(&ws, work.path());
    args(&mut build);
    let out = run_ok(build.arg("-v"));
    let logs = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    for s in secrets {
        assert!(!logs.contains(s), "{s} in the logs");
    }
    validate_layout(&dest);
    let mut recorded = files_below(&dest);
    recorded.extend(files_below(&sboms));
    assert!(recorded.len() > 5);
    for (path, bytes) in &recorded {
        for s in secrets {
            assert!(!contains(bytes, s), "{s} in {}", path.display());
        }
        // Layers are compressed; the JSON documents are what record paths.
        if serde_json::from_slice::<Value>(bytes).is_ok() {
            let text = String::from_utf8_lossy(bytes);
            assert!(
                !text.contains(&ws_abs),
                "{ws_abs} in {}: {text}",
                path.display()
            );
            assert!(
                !text.contains(&home_abs),
                "{home_abs} in {}: {text}",
                path.display()
            );
        }
    }
    // What is recorded instead.
    let provenance = recorded
        .iter()
        .find_map(|(_, b)| {
            let v: Value = serde_json::from_slice(b).ok()?;
            (v["predicateType"] == "https://slsa.dev/provenance/v1").then_some(v)
        })
        .expect("a provenance statement");
    let external = &provenance["predicate"]["buildDefinition"]["externalParameters"];
    let command: Vec<&str> = external["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(command[0], "cargo-imagebuild", "{command:?}");
    assert!(command.contains(&"http.proxy=\"***\""), "{command:?}");
    assert!(command.contains(&"type=oci,dest=../out"), "{command:?}");
    assert!(command.contains(&"--sbom-dir=~/sboms"), "{command:?}");
    assert!(
        external["settings"]["cargoConfig"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "http.proxy=\"***\""),
        "{external}"
    );
    let spdx = recorded
        .iter()
        .find_map(|(_, b)| {
            let v: Value = serde_json::from_slice(b).ok()?;
            v.get("spdxVersion").is_some().then_some(v)
        })
        .expect("an SPDX document");
    let shared = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "shared")
        .expect("the path dependency is listed");
    assert_eq!(shared["sourceInfo"], "path ../shared", "{shared}");
    let index = read_json(&dest.join("index.json"));
    let top = &index["manifests"][0]["digest"].as_str().unwrap()["sha256:".len()..];
    let image_index = read_json(&dest.join("blobs/sha256").join(top));
    let manifest = &image_index["manifests"][0]["digest"].as_str().unwrap()["sha256:".len()..];
    let manifest = read_json(&dest.join("blobs/sha256").join(manifest));
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.source"],
        "https://git.example.com/acme/app",
        "{manifest}"
    );
}

/// A credential helper that fails, printing a secret on stderr (and stdout): the error names
/// the helper and its exit status, and shows neither of its outputs.
#[test]
fn a_failing_credential_helper_is_named_with_its_exit_status_not_its_output() {
    let reg = &*PLAIN;
    let work = tempfile::tempdir().unwrap();
    let bin = work.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-xyz");
    std::fs::write(
        &helper,
        "#!/bin/sh\necho 'out: HUNTER2-STDOUT'\necho 'the keyring said HUNTER2-STDERR' >&2\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let ws = workspace(work.path(), "");
    let mut cmd = imagebuild_ws(&ws, work.path());
    let config_dir = work.path().join("no-credentials");
    std::fs::write(
        config_dir.join("config.json"),
        serde_json::to_vec(&json!({"credHelpers": {reg.addr.clone(): "xyz"}})).unwrap(),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.env("PATH", path)
        .args(["-p", "other", "--push", "--repository"])
        .arg(format!("{}/helped", reg.addr));
    let err = run_err(&mut cmd);
    assert!(
        err.contains("docker-credential-xyz` failed (exit status 3"),
        "{err}"
    );
    assert!(!err.contains("HUNTER2"), "{err}");
}

/// An existing layout holding another image (copied in by skopeo as `other`) and a user's
/// NOTES.txt: our build adds its tag beside them, twice over; skopeo and umoci read both
/// images after, and the file is untouched. A blob of ours damaged in place (same size) is
/// written again on a rerun, which says so.
#[test]
fn an_existing_layout_keeps_other_images_and_files_and_damage_is_repaired() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src-layout");
    hand_made_layout(&src, "1", |w| {
        let body = b"theirs\n";
        w.write_all(&tar_header("etc/theirs.txt", b'0', body.len() as u64))
            .unwrap();
        let mut padded = body.to_vec();
        padded.resize(512, 0);
        w.write_all(&padded).unwrap();
        w.write_all(&[0u8; 1024]).unwrap();
    });
    let dest = work.path().join("layout");
    let skopeo = |args: &[String]| run_ok(Command::new(require("skopeo")).args(args));
    skopeo(&[
        "copy".into(),
        format!("oci:{}:1", src.display()),
        format!("oci:{}:other", dest.display()),
    ]);
    std::fs::write(dest.join("NOTES.txt"), "my notes\n").unwrap();
    let ws = workspace(work.path(), "");
    let build = || {
        let mut c = imagebuild_ws(&ws, work.path());
        c.args(["-p", "other", "--tag", ":mine"])
            .args(["--output", &format!("type=oci,dest={}", dest.display())]);
        run_ok(&mut c)
    };
    build();
    build();
    assert_eq!(
        std::fs::read_to_string(dest.join("NOTES.txt")).unwrap(),
        "my notes\n"
    );
    validate_layout(&dest);
    let umoci_ls = stdout(&run_ok(
        Command::new(require("umoci"))
            .args(["ls", "--layout"])
            .arg(&dest),
    ));
    let tags: Vec<&str> = umoci_ls.lines().collect();
    assert!(
        tags.contains(&"other") && tags.contains(&"mine"),
        "{tags:?}"
    );
    let bundle = work.path().join("bundle");
    run_ok(
        Command::new(require("umoci"))
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:other", dest.display()))
            .arg(&bundle),
    );
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/etc/theirs.txt")).unwrap(),
        "theirs\n"
    );
    for tag in ["other", "mine"] {
        skopeo(&[
            "inspect".into(),
            "--raw".into(),
            format!("oci:{}:{tag}", dest.display()),
        ]);
    }
    let mine = unpack_platform(
        &format!("oci:{}:mine", dest.display()),
        "amd64",
        None,
        work.path(),
    );
    assert!(mine.join("rootfs/usr/local/bin/other").is_file());

    // Damage our binary layer in place, same size; a rerun notices and repairs it.
    let index = read_json(&dest.join("index.json"));
    let ours = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "mine")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = |d: &str| dest.join("blobs/sha256").join(&d["sha256:".len()..]);
    let image_index = read_json(&blob(&ours));
    let manifest = read_json(&blob(
        image_index["manifests"][0]["digest"].as_str().unwrap(),
    ));
    let layers = manifest["layers"].as_array().unwrap();
    let last = layers.last().unwrap()["digest"].as_str().unwrap();
    let mut bytes = std::fs::read(blob(last)).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(blob(last), &bytes).unwrap();
    let out = build();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(last) && said.contains("written again"),
        "{said}"
    );
    validate_layout(&dest);
    assert!(dest.join("NOTES.txt").is_file());
}

/// A directory that is not a layout is still refused, and left as it was.
#[test]
fn a_directory_that_is_not_a_layout_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("mine");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(dest.join("thesis.tex"), "x").unwrap();
    let ws = workspace(work.path(), "");
    let mut c = imagebuild_ws(&ws, work.path());
    c.args(["-p", "other"])
        .args(["--output", &format!("type=oci,dest={}", dest.display())]);
    let err = run_err(&mut c);
    assert!(err.contains("is not an OCI layout"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&dest).unwrap().collect();
    assert_eq!(left.len(), 1);
}

/// Two runs at once on one target directory (two packages of one workspace), each trimming
/// the shared blob store to nothing at its end: both succeed and write whole layouts.
#[test]
fn two_runs_sharing_a_target_directory_both_succeed() {
    let work = tempfile::tempdir().unwrap();
    let ws = workspace(work.path(), "");
    // Built once first, so the two runs overlap in packing and trimming rather than in cargo.
    let warm = work.path().join("warm");
    run_ok(
        imagebuild_ws(&ws, work.path())
            .args(["--workspace", "--output"])
            .arg(format!("type=oci,dest={}/{{bin}}", warm.display())),
    );
    for round in 0..3 {
        let children: Vec<_> = ["app", "other"]
            .iter()
            .map(|pkg| {
                let dest = work.path().join(format!("{pkg}-{round}"));
                let mut c = imagebuild_ws(&ws, work.path());
                c.env("CARGO_IMAGEBUILD_CACHE_LIMIT", "1")
                    .args(["-p", pkg, "--output"])
                    .arg(format!("type=oci,dest={}", dest.display()))
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                (dest, c.spawn().unwrap())
            })
            .collect();
        for (dest, child) in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            validate_layout(&dest);
        }
    }
}

/// A FIFO among the assets is refused at once, naming it (reading it would block forever).
#[test]
fn a_fifo_among_the_assets_is_refused_at_once() {
    let work = tempfile::tempdir().unwrap();
    let ws = workspace(work.path(), "");
    let assets = ws.join("other/static");
    std::fs::create_dir_all(&assets).unwrap();
    std::fs::write(assets.join("index.html"), "hi").unwrap();
    let fifo = assets.join("pipe");
    run_ok(Command::new("mkfifo").arg(&fifo));
    std::fs::write(
        ws.join("other/Cargo.toml"),
        "[package]\nname = \"other\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [package.metadata.imagebuild]\nassets = [[\"static\", \"/srv/static\"]]\n",
    )
    .unwrap();
    let dest = work.path().join("out");
    let mut c = imagebuild_ws(&ws, work.path());
    c.args(["-p", "other"])
        .args(["--output", &format!("type=oci,dest={}", dest.display())]);
    let out = common::processes::output_within(&mut c, Duration::from_secs(300));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&fifo.display().to_string()) && err.contains("FIFO"),
        "{err}"
    );
    assert!(!dest.exists());
}
