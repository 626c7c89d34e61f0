//! From a workspace to a verified multi-platform OCI image, offline: the fixture is built for
//! three platforms and the result is read by tools no one here wrote (skopeo, umoci), its
//! binaries run natively and under qemu, and its digests reproduce across directories.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

const TAG: &str = "0.3.1";

/// Builds `api` for amd64, arm64 and 386 into a layout; skopeo reads the index and every
/// manifest, umoci unpacks every platform, and each binary prints its own architecture.
#[test]
fn three_platforms_read_by_skopeo_unpacked_by_umoci_and_run() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let out = run_ok(imagebuild().args([
        "--platform",
        "linux/amd64,linux/arm64",
        "--platform",
        "linux/386",
        "-p",
        "server",
        "--bin",
        "api",
        "--output",
        &format!("type=oci,dest={}", layout.display()),
    ]));
    // Three platform images, three manifests, plus shared layers: every blob checks out.
    assert!(validate_layout(&layout) > 3 + 3 + 1);
    let printed = parse_digests(&stdout(&out));
    assert_eq!(printed.len(), 1);
    assert_eq!(printed[0].0, "api");

    let reference = format!("oci:{}:{TAG}", layout.display());
    let index = skopeo_raw(&reference);
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(
        printed[0].1,
        digest_of_blob(&layout, &index_digest(&layout))
    );
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            format!(
                "{}/{}",
                p["os"].as_str().unwrap(),
                p["architecture"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64", "linux/386"]);

    for (arch, expect) in [("amd64", "x86_64"), ("arm64", "aarch64"), ("386", "x86")] {
        // skopeo resolves the platform's manifest and config from the index.
        let config = skopeo_config(&reference, arch, None);
        assert_eq!(config["architecture"], arch);
        assert_eq!(config["os"], "linux");
        assert_eq!(config["config"]["User"], "65532");
        assert_eq!(config["config"]["Entrypoint"][0], "/usr/local/bin/api");
        assert_eq!(config["created"], default_created(&fixture()));
        let manifest_digest = &printed[0]
            .2
            .iter()
            .find(|(p, _)| p.ends_with(arch))
            .unwrap()
            .1;
        let raw: Value = serde_json::from_slice(
            &std::fs::read(layout.join("blobs/sha256").join(&manifest_digest[7..])).unwrap(),
        )
        .unwrap();
        let listed = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["digest"] == **manifest_digest);
        assert!(
            listed,
            "the printed manifest digest is in the index skopeo read"
        );
        assert_eq!(
            raw["config"]["mediaType"],
            "application/vnd.oci.image.config.v1+json"
        );
        assert_eq!(
            raw["layers"].as_array().unwrap().len(),
            3,
            "skeleton, assets, binary"
        );

        let bundle = unpack_platform(&reference, arch, None, work.path());
        let rootfs = bundle.join("rootfs");
        let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
        assert!(passwd.contains("nonroot:x:65532:65532"), "{passwd}");
        use std::os::unix::fs::PermissionsExt;
        let tmp_mode = std::fs::metadata(rootfs.join("tmp"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(tmp_mode & 0o7777, 0o1777);
        let exe = rootfs.join("usr/local/bin/api");
        assert_eq!(
            std::fs::metadata(&exe).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert!(
            rootfs.join("srv/static/index.html").is_file(),
            "the asset is in the image"
        );
        let ran = if arch == "arm64" {
            run_ok(Command::new(require("qemu-aarch64-static")).arg(&exe))
        } else {
            run_ok(&mut Command::new(&exe))
        };
        assert_eq!(
            stdout(&ran).trim(),
            format!("api running on {expect}"),
            "{arch}"
        );
    }
}

/// The `created` of a build in `dir` with no SOURCE_DATE_EPOCH: its last commit's time when it
/// is a git checkout (the fixture is, inside this repository's checkout), else the epoch.
fn default_created(dir: &std::path::Path) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["log", "-1", "--format=%ct"])
        .output();
    let seconds: u64 = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().parse().unwrap(),
        _ => 0,
    };
    cargo_imagebuild::internals::document::rfc3339(seconds)
}

fn sha(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn index_digest(layout: &std::path::Path) -> String {
    let idx: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    idx["manifests"][0]["digest"].as_str().unwrap().to_string()
}

fn digest_of_blob(layout: &std::path::Path, digest: &str) -> String {
    let bytes = std::fs::read(layout.join("blobs/sha256").join(&digest[7..])).unwrap();
    format!("sha256:{}", sha(&bytes))
}

/// Two copies of the fixture in different directories, each with its own target directory,
/// give the same index digest; SOURCE_DATE_EPOCH changes it and sets `created`.
#[test]
fn digests_reproduce_across_directories() {
    let digests: Vec<String> = (0..2)
        .map(|i| {
            let work = tempfile::tempdir().unwrap();
            let ws = work.path().join(format!("copy-{i}/ws"));
            copy_tree(&fixture(), &ws);
            let out = run_ok(
                imagebuild_in(&ws)
                    .env("CARGO_TARGET_DIR", work.path().join("target"))
                    .args([
                        "-p",
                        "server",
                        "--bin",
                        "api",
                        "--platform",
                        "linux/amd64",
                        "-q",
                    ])
                    .args([
                        "-o",
                        &format!("type=oci,dest={}", work.path().join("out").display()),
                    ]),
            );
            parse_digests(&stdout(&out))[0].1.clone()
        })
        .collect();
    assert_eq!(
        digests[0], digests[1],
        "two builds of the same source differ"
    );

    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("out");
    let out = run_ok(
        imagebuild()
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .args([
                "-p",
                "server",
                "--bin",
                "api",
                "--platform",
                "linux/amd64",
                "-q",
            ])
            .args(["-o", &format!("type=oci,dest={}", dest.display())]),
    );
    let dated = parse_digests(&stdout(&out))[0].1.clone();
    assert_ne!(
        dated, digests[0],
        "SOURCE_DATE_EPOCH must change the digest"
    );
    let config = skopeo_config(&format!("oci:{}:{TAG}", dest.display()), "amd64", None);
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
}

/// With no --output, every binary of the workspace gets a layout under target/imagebuild/<bin>/,
/// and stdout lists each index digest with its platforms' manifest digests.
#[test]
fn default_output_builds_every_binary_of_the_workspace() {
    let work = tempfile::tempdir().unwrap();
    let ws = work.path().join("ws");
    copy_tree(&fixture(), &ws);
    let target = work.path().join("target");
    let out = run_ok(
        imagebuild_in(&ws)
            .env("CARGO_TARGET_DIR", &target)
            .args(["--workspace", "-q"]),
    );
    let printed = parse_digests(&stdout(&out));
    let mut names: Vec<&str> = printed.iter().map(|p| p.0.as_str()).collect();
    names.sort();
    assert_eq!(names, ["api", "ctl", "migrate"]);
    for (bin, digest, platforms) in &printed {
        let layout = target.join("imagebuild").join(bin);
        validate_layout(&layout);
        assert_eq!(&index_digest(&layout), digest);
        // The workspace metadata asks for linux/amd64 only.
        assert_eq!(platforms.len(), 1);
        assert_eq!(platforms[0].0, "linux/amd64");
    }
    // Per-binary settings: migrate gets its own cmd; ctl (package tools) its own version tag.
    let migrate = skopeo_config(
        &format!("oci:{}:0.3.1", target.join("imagebuild/migrate").display()),
        "amd64",
        None,
    );
    assert_eq!(migrate["config"]["Cmd"], serde_json::json!(["--dry-run"]));
    let ctl_ref = format!("oci:{}:1.0.0", target.join("imagebuild/ctl").display());
    let ctl = skopeo_config(&ctl_ref, "amd64", None);
    assert!(
        ctl["config"].get("ExposedPorts").is_none(),
        "server's ports do not leak into tools"
    );
    assert_eq!(
        ctl["config"]["Labels"]["com.example.team"], "platform",
        "workspace labels apply"
    );
}

/// Settings from metadata and flags reach the config, manifests and index; flags win.
#[test]
fn settings_from_metadata_and_flags_reach_the_image() {
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("img");
    run_ok(imagebuild().args([
        "-p",
        "server",
        "--bin",
        "api",
        "--platform",
        "linux/amd64",
        "-q",
        "--label",
        "org.example.extra=1",
        "--annotation",
        "org.example.note=hi",
        "--env",
        "RUST_LOG=debug",
        "--port",
        "53/udp",
        "-t",
        ":dev",
        "-t",
        ":latest",
        "--repository",
        "ghcr.io/acme/{bin}",
        "-o",
        &format!("type=oci,dest={}", dest.display()),
    ]));
    let reference = format!("oci:{}:dev", dest.display());
    let config = skopeo_config(&reference, "amd64", None);
    let env: Vec<&str> = config["config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        env.contains(&"RUST_LOG=debug"),
        "the flag wins over metadata: {env:?}"
    );
    assert_eq!(
        config["config"]["ExposedPorts"],
        serde_json::json!({"53/udp": {}})
    );
    assert_eq!(config["config"]["Labels"]["org.example.extra"], "1");
    assert_eq!(config["config"]["Labels"]["com.example.team"], "platform");
    let index = skopeo_raw(&reference);
    assert_eq!(index["annotations"]["org.example.note"], "hi");
    assert_eq!(
        index["annotations"]["org.opencontainers.image.version"],
        "0.3.1"
    );
    assert_eq!(
        index["annotations"]["org.opencontainers.image.source"],
        "https://example.com/acme/fixture"
    );
    // Both tags resolve; the layout names the image with the repository.
    skopeo_raw(&format!("oci:{}:latest", dest.display()));
    let idx: Value =
        serde_json::from_slice(&std::fs::read(dest.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        idx["manifests"][0]["annotations"]["io.containerd.image.name"],
        "ghcr.io/acme/api:dev"
    );
}

/// An OCI archive (tar) output and zstd layers: skopeo reads the archive, the layer media types
/// say zstd, and the layers really are zstd frames.
#[test]
fn oci_archive_with_zstd_layers() {
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("api.tar");
    let build = || {
        run_ok(
            imagebuild()
                .args(["-p", "server", "--bin", "api", "--platform", "linux/arm64"])
                .args([
                    "-q",
                    // A provenance statement records when the build ran, so an archive that
                    // carries one differs run to run (the image in it does not).
                    "--no-provenance",
                    "--compression",
                    "zstd",
                    "--output",
                    &format!("type=oci,dest={},tar=true", dest.display()),
                ]),
        )
    };
    build();
    let reference = format!("oci-archive:{}:{TAG}", dest.display());
    let index = skopeo_raw(&reference);
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    let config = skopeo_config(&reference, "arm64", None);
    assert_eq!(config["architecture"], "arm64");
    // Unpack the tar ourselves and check the zstd layers.
    let dir = work.path().join("unpacked");
    std::fs::create_dir_all(&dir).unwrap();
    run_ok(
        Command::new("tar")
            .arg("-xf")
            .arg(&dest)
            .arg("-C")
            .arg(&dir),
    );
    validate_layout(&dir);
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(dir.join("blobs/sha256").join(&manifest_digest[7..])).unwrap(),
    )
    .unwrap();
    for l in manifest["layers"].as_array().unwrap() {
        assert_eq!(
            l["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+zstd"
        );
        let blob = std::fs::read(
            dir.join("blobs/sha256")
                .join(&l["digest"].as_str().unwrap()[7..]),
        )
        .unwrap();
        assert_eq!(&blob[..4], &[0x28, 0xb5, 0x2f, 0xfd], "zstd magic");
    }
    // The archive itself is deterministic: a second run gives the same bytes.
    let first = std::fs::read(&dest).unwrap();
    build();
    assert_eq!(first, std::fs::read(&dest).unwrap());
}

/// `cargo imagebuild` works as a cargo subcommand (cargo passes `imagebuild` first).
#[test]
fn runs_as_a_cargo_subcommand() {
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_cargo-imagebuild"))
        .parent()
        .unwrap();
    let path = std::env::join_paths(
        std::iter::once(bin_dir.to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let out = run_ok(
        Command::new("cargo")
            .current_dir(fixture())
            .env("PATH", path)
            .env("CARGO_TARGET_DIR", shared_target_dir())
            .args([
                "imagebuild",
                "--dry-run",
                "-p",
                "tools",
                "--platform",
                "linux/arm64",
            ]),
    );
    let plan = stdout(&out);
    assert!(plan.contains("image ctl (package tools 1.0.0)"), "{plan}");
    assert!(
        plan.contains("linux/arm64") && plan.contains("aarch64-unknown-linux-musl"),
        "{plan}"
    );
    let help = run_ok(Command::new(env!("CARGO_BIN_EXE_cargo-imagebuild")).arg("--help"));
    for flag in [
        "--manifest-path",
        "--package",
        "--workspace",
        "--bin",
        "--features",
        "--all-features",
        "--no-default-features",
        "--profile",
        "--target",
        "--platform",
        "--output",
        "--verbose",
        "--quiet",
    ] {
        assert!(stdout(&help).contains(flag), "--help lacks {flag}");
    }
}

/// Each binary carries its dependency list in cargo-auditable's `.dep-v0` section, which
/// `rust-audit-info` (crates.io) reads: the fixture's package as the root and its one crates.io
/// dependency. The same build twice gives the same digest; `--no-auditable` packs cargo's
/// executable byte for byte, and rust-audit-info finds no list in it.
#[test]
fn binaries_carry_their_dependency_list_unless_told_not_to() {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/repro");
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("target");
    let build = |name: &str, extra: &[&str]| {
        let dest = work.path().join(name);
        let out = run_ok(
            imagebuild_in(&fixture)
                .env("CARGO_TARGET_DIR", &target)
                .args(["--platform", "linux/amd64", "-q"])
                .args(extra)
                .args(["-o", &format!("type=oci,dest={}", dest.display())]),
        );
        let digest = parse_digests(&stdout(&out))[0].1.clone();
        let unpacked = work.path().join(format!("unpacked-{name}"));
        std::fs::create_dir(&unpacked).unwrap();
        let bundle = unpack_platform(
            &format!("oci:{}:0.1.0", dest.display()),
            "amd64",
            None,
            &unpacked,
        );
        (digest, bundle.join("rootfs/usr/local/bin/repro"))
    };
    let (first, exe) = build("audited", &[]);
    let info = run_ok(Command::new(require("rust-audit-info")).arg(&exe));
    let info: Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(
        info,
        serde_json::json!({"packages": [
            {"name": "repro", "version": "0.1.0", "source": "local", "dependencies": [1], "root": true},
            {"name": "bytes", "version": "1.12.2", "source": "crates.io"},
        ]})
    );
    assert!(
        Command::new(&exe).status().unwrap().success(),
        "it still runs"
    );
    let (again, _) = build("again", &[]);
    assert_eq!(
        first, again,
        "the dependency list keeps digests reproducible"
    );

    let (plain, exe) = build("plain", &["--no-auditable"]);
    assert_ne!(plain, first);
    let cargo_made = target.join("x86_64-unknown-linux-musl/release/repro");
    assert_eq!(
        std::fs::read(&exe).unwrap(),
        std::fs::read(&cargo_made).unwrap()
    );
    let none = Command::new("rust-audit-info").arg(&exe).output().unwrap();
    assert!(
        !none.status.success(),
        "no .dep-v0 section with --no-auditable"
    );
}
