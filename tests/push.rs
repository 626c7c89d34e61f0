//! Pushing to real registries and building on a real base image. The harness starts the CNCF
//! distribution registry three ways (plain HTTP; TLS with our own CA and htpasswd Basic auth;
//! token auth with a JWT issuer of its own) and a Docker daemon; after each push, tools no one
//! here wrote (skopeo, the docker CLI) read, pull and run the result, and the registry's own
//! access log shows what was uploaded.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::LazyLock;

use common::binfmt::register_qemu;
use common::dockerd::dockerd;
use common::registry::{put_manifest, Kind, Registry, PASSWORD, USER};
use common::*;
use serde_json::Value;

static PLAIN: LazyLock<Registry> = LazyLock::new(|| Registry::start(Kind::Plain));
static TLS: LazyLock<Registry> = LazyLock::new(|| Registry::start(Kind::TlsBasic));
static TOKEN: LazyLock<Registry> = LazyLock::new(|| Registry::start(Kind::Token));
/// The base image (amd64 and arm64), pushed to PLAIN by buildah once.
static BASE: LazyLock<String> = LazyLock::new(|| push_base_with_buildah(&PLAIN));

fn api_args(platforms: &str) -> Vec<String> {
    ["-p", "server", "--bin", "api", "--platform", platforms]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The one line a push prints: `REPOSITORY@sha256:…`; returns the digest.
fn pushed_digest(out: &Output, repository: &str) -> String {
    let s = stdout(out);
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "stdout carries only the pushed reference: {s}"
    );
    let digest = lines[0]
        .strip_prefix(&format!("{repository}@"))
        .unwrap_or_else(|| panic!("`{}` is not {repository}@DIGEST", lines[0]));
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    digest.to_string()
}

/// No tag was written in `repo`: the registry served no manifest PUT at all for it.
fn assert_nothing_tagged(reg: &Registry, repo: &str) {
    let puts: Vec<String> = reg
        .requests(repo)
        .into_iter()
        .filter(|r| r.starts_with("PUT ") && r.contains("/manifests/"))
        .collect();
    assert!(
        puts.is_empty(),
        "a manifest was written in {repo}: {puts:?}"
    );
}

fn layers_of(manifest: &Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

/// Builds the base with buildah from Debian: amd64 holds busybox-static (a shell of tools)
/// and a second layer with /etc/base-release; arm64 holds a static aarch64 program (no arm64
/// busybox exists on this machine) and the same release file. Pushes both as one index.
fn push_base_with_buildah(reg: &Registry) -> String {
    let work = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("harness")
        .join(format!("buildah-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    // An aarch64 static executable for the arm64 base: the fixture's `ctl`, built with cargo.
    run_ok(
        Command::new("cargo")
            .current_dir(fixture())
            .env("CARGO_TARGET_DIR", shared_target_dir())
            .env("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER", "rust-lld")
            .args([
                "build",
                "--release",
                "-q",
                "-p",
                "tools",
                "--target",
                "aarch64-unknown-linux-musl",
            ]),
    );
    let ctl = shared_target_dir().join("aarch64-unknown-linux-musl/release/ctl");
    std::fs::write(work.join("release"), "imagebuild test base 1\n").unwrap();
    let buildah = |args: &[&str]| -> String {
        let out = run_ok(
            Command::new(require("buildah"))
                .env("BUILDAH_ISOLATION", "chroot")
                .arg("--root")
                .arg(work.join("root"))
                .arg("--runroot")
                .arg(work.join("run"))
                .args(["--storage-driver", "vfs"])
                .args(args),
        );
        stdout(&out).trim().to_string()
    };
    let busybox = require("busybox");
    let release = work.join("release");
    for (arch, exe, dest, format) in [
        ("amd64", busybox.as_path(), "/bin/busybox", "docker"),
        ("arm64", ctl.as_path(), "/bin/ctl", "oci"),
    ] {
        let c = buildah(&["from", "--arch", arch, "--os", "linux", "scratch"]);
        buildah(&["copy", &c, exe.to_str().unwrap(), dest]);
        buildah(&[
            "config",
            "--env",
            "BASE_ENV=from-base",
            "--workingdir",
            "/srv",
            "--label",
            "org.example.base=1",
            &c,
        ]);
        let first = format!("base-{arch}-1");
        buildah(&["commit", "-q", "--format", format, &c, &first]);
        let c2 = buildah(&["from", &first]);
        buildah(&["copy", &c2, release.to_str().unwrap(), "/etc/base-release"]);
        buildah(&[
            "commit",
            "-q",
            "--format",
            format,
            "--manifest",
            "base",
            &c2,
        ]);
    }
    let reference = format!("{}/base:1", reg.addr);
    buildah(&[
        "manifest",
        "push",
        "-q",
        "--all",
        "--tls-verify=false",
        "base",
        &format!("docker://{reference}"),
    ]);
    // Everything buildah made is in the registry now; its storage is not needed.
    let _ = std::fs::remove_dir_all(&work);
    reference
}

/// Plain HTTP: a two-platform push with two tags; skopeo reads the index and each manifest;
/// docker pulls by digest and runs it, and pulls the arm64 image for --platform linux/arm64;
/// --image-refs and --metadata-file say the same as stdout; a second push uploads no blob.
#[test]
fn push_is_read_by_skopeo_pulled_and_run_by_docker_and_repeats_without_uploads() {
    let reg = &*PLAIN;
    let work = tempfile::tempdir().unwrap();
    let repo = format!("{}/acme/api", reg.addr);
    let refs = work.path().join("refs.txt");
    let meta = work.path().join("meta.json");
    let push = || {
        let mut c = imagebuild_isolated(work.path());
        c.args(api_args("linux/amd64,linux/arm64"))
            .args(["--push", "-t", &format!("{repo}:0.3.1"), "-t", ":latest"])
            .arg("--image-refs")
            .arg(&refs)
            .arg("--metadata-file")
            .arg(&meta);
        c
    };
    let out = run_ok(&mut push());
    let digest = pushed_digest(&out, &repo);
    assert_eq!(
        std::fs::read_to_string(&refs).unwrap(),
        format!("{repo}@{digest}\n")
    );

    // skopeo sees the index under both tags, and each platform's manifest by digest.
    let index = reg.skopeo_raw(&format!("{repo}:0.3.1"));
    assert_eq!(index, reg.skopeo_raw(&format!("{repo}:latest")));
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let manifests = index["manifests"].as_array().unwrap();
    let archs: Vec<&str> = manifests
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(archs, ["amd64", "arm64"]);
    let metadata: Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    assert_eq!(metadata["api"]["digest"], digest.as_str());
    assert_eq!(
        metadata["api"]["tags"],
        serde_json::json!([format!("{repo}:0.3.1"), format!("{repo}:latest")])
    );
    for m in manifests {
        let d = m["digest"].as_str().unwrap();
        let manifest = reg.skopeo_raw(&format!("{repo}@{d}"));
        assert_eq!(manifest["layers"].as_array().unwrap().len(), 3);
        let platform = format!("linux/{}", m["platform"]["architecture"].as_str().unwrap());
        assert_eq!(metadata["api"]["manifests"][&platform], d);
    }

    // docker pulls by digest and runs it; --platform linux/arm64 pulls the arm64 image.
    let docker = dockerd();
    let pinned = format!("{repo}@{digest}");
    docker.run_ok(&["pull", "-q", &pinned]);
    let ran = docker.run_ok(&["run", "--rm", "--network", "none", &pinned, "hello"]);
    assert_eq!(ran.trim(), "api running on x86_64 hello");
    // Docker 20.10 keeps one image per digest: drop the amd64 one before pulling arm64.
    docker.run_ok(&["image", "rm", &pinned]);
    docker.run_ok(&["pull", "-q", "--platform", "linux/arm64", &pinned]);
    let arch = docker.run_ok(&["image", "inspect", "--format", "{{.Architecture}}", &pinned]);
    assert_eq!(arch.trim(), "arm64");
    // With qemu registered for arm64 binaries, the arm64 image runs too.
    register_qemu("aarch64");
    let ran = docker.run_ok(&["run", "--rm", "--network", "none", &pinned]);
    assert_eq!(ran.trim(), "api running on aarch64");

    // The same command again: every blob is already there, nothing is uploaded; the SBOMs and
    // the provenance statements (the first run's, kept) are the same documents, already
    // attached: no blob, manifest, index, tag or referrers tag is written, no blob checked.
    let before = reg.uploads("acme/api").len();
    let writes = |reg: &Registry| -> Vec<String> {
        reg.requests("acme/api")
            .into_iter()
            .filter(|r| r.starts_with("PUT ") || r.starts_with("PATCH ") || r.contains("/blobs/"))
            .collect()
    };
    let written = writes(reg);
    let again = run_ok(&mut push());
    assert_eq!(pushed_digest(&again, &repo), digest);
    assert_eq!(
        reg.uploads("acme/api").len(),
        before,
        "a second push of an unchanged image uploaded blobs"
    );
    let rewritten: Vec<String> = writes(reg).split_off(written.len());
    let blob_heads: Vec<&String> = rewritten
        .iter()
        .filter(|r| r.starts_with("HEAD "))
        .collect();
    let puts: Vec<&String> = rewritten
        .iter()
        .filter(|r| !r.starts_with("HEAD "))
        .collect();
    assert!(puts.is_empty(), "a no-op push wrote {puts:?}");
    // Only the early uploads (started while cargo runs, before the index is known) ask about
    // our layers; the push itself asks about no blob.
    let layers: std::collections::BTreeSet<&str> = blob_heads
        .iter()
        .filter_map(|r| r.rsplit('/').next())
        .collect();
    assert_eq!(
        layers.len(),
        blob_heads.len(),
        "a blob was checked twice: {blob_heads:?}"
    );
    assert!(before >= 6, "the first push uploaded each blob: {before}");
}

/// A base pushed by buildah: our layers go on top of its layers, in order; its config (Env,
/// WorkingDir, labels) survives; a busybox command from the base runs in docker; the base
/// blobs are mounted, never uploaded again; a layout output fetches them once into the cache.
#[test]
fn base_image_from_buildah_keeps_its_layers_and_is_mounted_not_uploaded() {
    let reg = &*PLAIN;
    let base = &*BASE;
    let work = tempfile::tempdir().unwrap();
    let repo = format!("{}/onbase", reg.addr);
    let out = run_ok(
        imagebuild_isolated(work.path())
            .args(api_args("all"))
            .args(["--base", base, "--push", "--repository", &repo, "-t", ":1"]),
    );
    let digest = pushed_digest(&out, &repo);
    let index = reg.skopeo_raw(&format!("{repo}@{digest}"));
    let base_index = reg.skopeo_raw(base);
    assert_eq!(
        index["manifests"].as_array().unwrap().len(),
        2,
        "--platform all builds every platform the base offers"
    );
    let mut base_layers = Vec::new();
    for arch in ["amd64", "arm64"] {
        let pick = |idx: &Value| -> String {
            idx["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["platform"]["architecture"] == arch)
                .unwrap()["digest"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let base_digest = pick(&base_index);
        let ours = reg.skopeo_raw(&format!("{repo}@{}", pick(&index)));
        let theirs = reg.skopeo_raw(&format!("{}/base@{base_digest}", reg.addr));
        let (ours_l, theirs_l) = (layers_of(&ours), layers_of(&theirs));
        assert_eq!(theirs_l.len(), 2, "the base has two layers");
        assert_eq!(
            &ours_l[..2],
            &theirs_l[..],
            "base layers first, in order ({arch})"
        );
        assert_eq!(
            ours_l.len(),
            4,
            "then our assets and binary, no scratch skeleton ({arch})"
        );
        assert_eq!(
            ours["annotations"]["org.opencontainers.image.base.name"],
            base.as_str(),
            "{arch}"
        );
        assert_eq!(
            ours["annotations"]["org.opencontainers.image.base.digest"], base_digest,
            "{arch}"
        );
        base_layers.extend(theirs_l);
    }

    // The base's blobs were mounted from `base`, never sent again.
    let requests = reg.requests("onbase");
    for l in &base_layers {
        let hex = &l["sha256:".len()..];
        assert!(
            !requests
                .iter()
                .any(|r| r.starts_with("PUT ") && r.contains("/blobs/uploads/") && r.contains(hex)),
            "base layer {l} was uploaded again: {requests:#?}"
        );
    }
    assert!(
        requests
            .iter()
            .any(|r| r.contains("mount=") && r.contains("from=base")),
        "the base layers were mounted: {requests:#?}"
    );

    // docker runs our binary, and a busybox command from the base; the base's config survives.
    let docker = dockerd();
    let pinned = format!("{repo}@{digest}");
    docker.run_ok(&["pull", "-q", &pinned]);
    let ran = docker.run_ok(&["run", "--rm", "--network", "none", &pinned]);
    assert_eq!(ran.trim(), "api running on x86_64");
    let from_base = docker.run_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "/bin/busybox",
        &pinned,
        "sh",
        "-c",
        "cat /etc/base-release; echo $BASE_ENV; pwd",
    ]);
    assert_eq!(from_base, "imagebuild test base 1\nfrom-base\n/srv\n");
    let labels = docker.run_ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Labels}}",
        &pinned,
    ]);
    assert!(labels.contains("org.example.base"), "{labels}");

    // A layout on the same base: the base blobs are downloaded once into the cache, verified,
    // and reused by the next run (the registry serves no second GET for them).
    let layout = work.path().join("layout");
    let layout_args = |dest: &Path| {
        let mut a = api_args("linux/amd64");
        a.extend(["--base".into(), base.to_string(), "-q".into()]);
        a.extend(["-o".into(), format!("type=oci,dest={}", dest.display())]);
        a
    };
    // A fresh store, so the base blobs cannot come from an earlier run's target directory.
    let target = work.path().join("target");
    run_ok(
        imagebuild_isolated(work.path())
            .env("CARGO_TARGET_DIR", &target)
            .args(layout_args(&layout)),
    );
    validate_layout(&layout);
    let gets = |reg: &Registry| {
        reg.requests("base")
            .into_iter()
            .filter(|r| r.starts_with("GET ") && r.contains("/blobs/"))
            .count()
    };
    let after_first = gets(reg);
    let cached: Vec<PathBuf> = std::fs::read_dir(work.path().join("cache/blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        cached.len(),
        2,
        "both amd64 base layers are cached: {cached:?}"
    );
    let layout2 = work.path().join("layout2");
    run_ok(
        imagebuild_isolated(work.path())
            .env("CARGO_TARGET_DIR", work.path().join("target2"))
            .args(layout_args(&layout2)),
    );
    validate_layout(&layout2);
    assert_eq!(
        gets(reg),
        after_first + 1,
        "a second layout run downloads no base layer (only the base's config)"
    );
}

/// TLS with our own CA and htpasswd Basic auth: credentials from DOCKER_CONFIG or podman's
/// REGISTRY_AUTH_FILE work; a wrong password, missing credentials and an untrusted
/// certificate each fail clearly with no tag written; the password never shows in any output.
#[test]
fn tls_registry_with_basic_auth() {
    let reg = &*TLS;
    let work = tempfile::tempdir().unwrap();
    let ca = reg.ca.clone().unwrap();
    let mut outputs = Vec::new();

    let repo = format!("{}/secure/api", reg.addr);
    let good = reg.docker_config(PASSWORD, work.path());
    let out = run_ok(
        imagebuild_isolated(work.path())
            .env("DOCKER_CONFIG", &good)
            .args(api_args("linux/amd64"))
            .args(["--push", "--repository", &repo, "-vv"])
            .arg("--registry-ca")
            .arg(&ca),
    );
    let digest = pushed_digest(&out, &repo);
    let index = reg.skopeo_raw(&format!("{repo}:0.3.1"));
    assert_eq!(index["manifests"][0]["platform"]["architecture"], "amd64");
    assert_eq!(reg.skopeo_raw(&format!("{repo}@{digest}")), index);
    outputs.push(text(&out));

    // podman's auth file, with no Docker config at all.
    let podman_repo = format!("{}/secure/podman", reg.addr);
    let auth_json = work.path().join("auth.json");
    std::fs::copy(good.join("config.json"), &auth_json).unwrap();
    let out = run_ok(
        imagebuild_isolated(work.path())
            .env("REGISTRY_AUTH_FILE", &auth_json)
            .args(api_args("linux/amd64"))
            .args(["--push", "--repository", &podman_repo])
            .arg("--registry-ca")
            .arg(&ca),
    );
    pushed_digest(&out, &podman_repo);
    outputs.push(text(&out));

    // A credential helper (`credsStore`) that knows only this registry, and a base in the
    // other registry: its layers are streamed from there straight into this one, and nothing
    // is downloaded to disk.
    let bin_dir = work.path().join("helper-bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let helper = bin_dir.join("docker-credential-imagebuildtest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread server\nif [ \"$server\" = \"{}\" ]; then\n  printf \
             '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}' \
             \"$server\"\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi\n",
            reg.addr
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let store_cfg = work.path().join("store-config");
    std::fs::create_dir_all(&store_cfg).unwrap();
    std::fs::write(
        store_cfg.join("config.json"),
        r#"{"credsStore":"imagebuildtest"}"#,
    )
    .unwrap();
    let path = std::env::join_paths(
        std::iter::once(bin_dir.clone())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let onbase = format!("{}/secure/onbase", reg.addr);
    let out = run_ok(
        imagebuild_isolated(work.path())
            .env("DOCKER_CONFIG", &store_cfg)
            .env("PATH", path)
            .args(api_args("linux/amd64"))
            .args(["--push", "--repository", &onbase, "--base", &BASE])
            .arg("--registry-ca")
            .arg(&ca),
    );
    let digest = pushed_digest(&out, &onbase);
    assert!(
        text(&out).contains("2 copied from the base's registry"),
        "{}",
        text(&out)
    );
    assert!(
        !work.path().join("cache").exists(),
        "a push downloads no base layer to disk"
    );
    let ours = reg.skopeo_raw(&format!("{onbase}@{digest}"));
    let amd64 = reg.skopeo_raw(&format!(
        "{onbase}@{}",
        ours["manifests"][0]["digest"].as_str().unwrap()
    ));
    let base_index = PLAIN.skopeo_raw(&BASE);
    let base_amd64 = base_index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == "amd64")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let base_manifest = PLAIN.skopeo_raw(&format!("{}/base@{base_amd64}", PLAIN.addr));
    assert_eq!(&layers_of(&amd64)[..2], &layers_of(&base_manifest)[..]);
    outputs.push(text(&out));

    let fail = |name: &str, config: Option<PathBuf>, with_ca: bool, expect: &[&str]| -> String {
        let repo = format!("{}/secure/{name}", reg.addr);
        let mut c = imagebuild_isolated(work.path());
        if let Some(cfg) = config {
            c.env("DOCKER_CONFIG", cfg);
        }
        c.args(api_args("linux/amd64"))
            .args(["--push", "--repository", &repo, "-v"]);
        if with_ca {
            c.arg("--registry-ca").arg(&ca);
        }
        let out = c.output().unwrap();
        let all = text(&out);
        assert!(!out.status.success(), "{name} should fail:\n{all}");
        for e in expect {
            assert!(all.contains(e), "{name}: the message lacks `{e}`:\n{all}");
        }
        assert!(stdout(&out).is_empty(), "{name}: nothing on stdout");
        assert_nothing_tagged(reg, &format!("secure/{name}"));
        all
    };
    let wrong_dir = work.path().join("wrong");
    std::fs::create_dir_all(&wrong_dir).unwrap();
    let wrong = reg.docker_config("not-the-password", &wrong_dir);
    outputs.push(fail(
        "wrong-password",
        Some(wrong),
        true,
        &["refused the credentials", "docker login"],
    ));
    outputs.push(fail(
        "no-credentials",
        None,
        true,
        &["requires credentials and none were found", "docker login"],
    ));
    outputs.push(fail(
        "untrusted",
        Some(good.clone()),
        false,
        &["was refused", "pass --registry-ca FILE"],
    ));
    for o in &outputs {
        assert!(!o.contains(PASSWORD), "the password leaked:\n{o}");
        assert!(
            !o.contains(&common::token::base64_std(
                format!("{USER}:{PASSWORD}").as_bytes()
            )),
            "the encoded credentials leaked:\n{o}"
        );
    }
}

/// Token auth: the registry sends a Bearer challenge, our credentials buy a JWT from the
/// harness's issuer, and the push goes through; wrong and missing credentials fail clearly.
#[test]
fn token_registry_with_bearer_flow() {
    let reg = &*TOKEN;
    let work = tempfile::tempdir().unwrap();
    let repo = format!("{}/tok/api", reg.addr);
    let good = reg.docker_config(PASSWORD, work.path());
    let out = run_ok(
        imagebuild_isolated(work.path())
            .env("DOCKER_CONFIG", &good)
            .args(api_args("linux/amd64,linux/arm64"))
            .args(["--push", "--repository", &repo, "-vv"]),
    );
    let digest = pushed_digest(&out, &repo);
    let index = reg.skopeo_raw(&format!("{repo}:0.3.1"));
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
    assert_eq!(reg.skopeo_raw(&format!("{repo}@{digest}")), index);
    assert!(!text(&out).contains(PASSWORD));

    for (name, config, expect) in [
        ("wrong", Some("bad-password"), "refused the credentials"),
        (
            "anonymous",
            None,
            "requires credentials and none were found",
        ),
    ] {
        let dir = work.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let repo = format!("{}/tok/{name}", reg.addr);
        let mut c = imagebuild_isolated(work.path());
        if let Some(pw) = config {
            c.env("DOCKER_CONFIG", reg.docker_config(pw, &dir));
        }
        let out = c
            .args(api_args("linux/amd64"))
            .args(["--push", "--repository", &repo])
            .output()
            .unwrap();
        let all = text(&out);
        assert!(!out.status.success(), "{name}: should fail:\n{all}");
        assert!(all.contains(expect), "{name}: lacks `{expect}`:\n{all}");
        assert!(
            !all.contains(PASSWORD) && !all.contains("bad-password"),
            "{all}"
        );
        assert_nothing_tagged(reg, &format!("tok/{name}"));
    }
}

/// Token auth and a base in another repository of the same registry: one token covers pulling
/// the base and pushing the target (as docker and crane ask for it), so every base layer is
/// mounted — the registry's log shows the mounts and no upload of a base layer.
#[test]
fn token_registry_mounts_base_layers_across_repositories() {
    let reg = &*TOKEN;
    let work = tempfile::tempdir().unwrap();
    let base = format!("{}/tok/base:1", reg.addr);
    run_ok(Command::new(require("skopeo")).args([
        "copy",
        "--all",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("--dest-creds={USER}:{PASSWORD}"),
        &format!("docker://{}", &*BASE),
        &format!("docker://{base}"),
    ]));
    let repo = format!("{}/tok/onbase", reg.addr);
    let out = run_ok(
        imagebuild_isolated(work.path())
            .env("DOCKER_CONFIG", reg.docker_config(PASSWORD, work.path()))
            .args(api_args("linux/amd64"))
            .args(["--push", "--repository", &repo, "--base", &base]),
    );
    let digest = pushed_digest(&out, &repo);
    let all = text(&out);
    assert!(
        all.contains("2 mounted, 0 copied from the base's registry"),
        "{all}"
    );
    let ours = reg.skopeo_raw(&format!(
        "{repo}@{}",
        reg.skopeo_raw(&format!("{repo}@{digest}"))["manifests"][0]["digest"]
            .as_str()
            .unwrap()
    ));
    let requests = reg.requests("tok/onbase");
    for l in &layers_of(&ours)[..2] {
        let hex = &l["sha256:".len()..];
        assert!(
            requests.iter().any(|r| r.starts_with("POST ")
                && r.contains("mount=")
                && r.contains(hex)
                && r.contains("from=tok%2Fbase")),
            "base layer {l} was not mounted: {requests:#?}"
        );
        assert!(
            !requests
                .iter()
                .any(|r| r.starts_with("PUT ") && r.contains("/blobs/uploads/") && r.contains(hex)),
            "base layer {l} was uploaded: {requests:#?}"
        );
    }
}

/// Bad input around pushes and bases: each a clear error, a non-zero exit, no tag written.
#[test]
fn push_and_base_mistakes_are_refused_clearly() {
    let reg = &*PLAIN;
    let base = &*BASE;
    let work = tempfile::tempdir().unwrap();
    let refused = |args: &[&str], expect: &[&str]| {
        let mut c = imagebuild_isolated(work.path());
        c.args(api_args("linux/amd64")).args(args);
        let err = run_err(&mut c);
        for e in expect {
            assert!(err.contains(e), "the message lacks `{e}`:\n{err}");
        }
    };
    // A malformed reference, as a tag and as a repository.
    refused(
        &["--push", "-t", &format!("{}/Acme/API:1", reg.addr)],
        &[
            "repository names are lowercase",
            &format!("write -t {}/acme/api:1", reg.addr),
        ],
    );
    refused(
        &["--push", "-t", &format!("{}/acme//api:1", reg.addr)],
        &["not a valid image reference", "for example"],
    );
    refused(
        &["--push", "--repository", "acme//api"],
        &["not a valid repository"],
    );
    // Pushing with nowhere to push to.
    refused(
        &["--push"],
        &["--push needs to know where to push api", "--repository"],
    );
    // An unreachable registry: nothing listens on that port.
    let port = common::registry::free_port();
    refused(
        &["--push", "--repository", &format!("127.0.0.1:{port}/api")],
        &["cannot reach the registry", "is running and reachable"],
    );
    // An unknown base, and a base without the requested platform.
    let missing = format!("{}/no-such-base:1", reg.addr);
    refused(
        &[
            "--push",
            "--repository",
            &format!("{}/never1", reg.addr),
            "--base",
            &missing,
        ],
        &["does not exist", "no-such-base"],
    );
    assert_nothing_tagged(reg, "never1");
    let mut c = imagebuild_isolated(work.path());
    c.args([
        "-p",
        "server",
        "--bin",
        "api",
        "--platform",
        "linux/386",
        "--push",
    ])
    .args([
        "--repository",
        &format!("{}/never2", reg.addr),
        "--base",
        base,
    ]);
    let err = run_err(&mut c);
    assert!(
        err.contains("has no linux/386 image") && err.contains("linux/amd64, linux/arm64"),
        "{err}"
    );
    assert_nothing_tagged(reg, "never2");
    refused(
        &[
            "--platform",
            "all",
            "--push",
            "--repository",
            &format!("{}/x", reg.addr),
        ],
        &["--platform all stands alone"],
    );
}

/// Pushes a one-platform amd64 base that holds the C library the binary `exe` links to (its
/// loader and every library `ldd` names, except those whose file name starts with one of
/// `without`), made with buildah from scratch, as `REGISTRY/<repo>:1`.
fn push_glibc_base(reg: &Registry, exe: &Path, repo: &str, without: &[&str]) -> String {
    let ldd = stdout(&run_ok(Command::new("ldd").arg(exe)));
    // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` and `/lib64/ld-linux-x86-64.so.2 (0x…)`
    let mut files = Vec::new();
    for line in ldd.lines() {
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next().unwrap_or(""),
            None => line.split_whitespace().next().unwrap_or(""),
        };
        let name = path.rsplit('/').next().unwrap_or("");
        if path.starts_with('/') && !without.iter().any(|w| name.starts_with(w)) {
            files.push(path);
        }
    }
    let files: Vec<(&Path, &str)> = files.iter().map(|p| (Path::new(*p), *p)).collect();
    common::bases::push_files_base(reg, "amd64", &files, repo)
}

/// A dynamically linked binary (the user asked for `-crt-static`) on a registry base: refused
/// when the base's layers lack its loader, naming the loader and the base; accepted on a base
/// that has its C library, where it really starts (chroot into the unpacked image).
#[test]
fn dynamic_binary_on_a_registry_base_needs_the_loader_in_the_base() {
    let reg = &*PLAIN;
    let work = tempfile::tempdir().unwrap();
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fixture-target-dynamic");
    let dynamic = |base: &str, dest: &Path| {
        let mut c = imagebuild_isolated(work.path());
        c.env("CARGO_TARGET_DIR", &target_dir)
            .env("RUSTFLAGS", "-C target-feature=-crt-static")
            .args([
                "-p",
                "tools",
                "--target",
                "x86_64-unknown-linux-gnu",
                "--base",
                base,
            ])
            .args(["--output", &format!("type=oci,dest={}", dest.display())]);
        c
    };
    // The busybox base has no glibc loader.
    let refused = work.path().join("refused");
    let err = run_err(&mut dynamic(&BASE, &refused));
    assert!(
        err.contains("ctl for linux/amd64 is dynamically linked")
            && err.contains("/lib64/ld-linux-x86-64.so.2")
            && err.contains(BASE.as_str()),
        "{err}"
    );
    assert!(!refused.exists(), "nothing is written after a refusal");

    // A base with the binary's own C library: accepted, and the binary starts inside the image.
    let exe = target_dir.join("x86_64-unknown-linux-gnu/release/ctl");
    let glibc = push_glibc_base(reg, &exe, "glibc-base", &[]);
    let layout = work.path().join("accepted");
    run_ok(&mut dynamic(&glibc, &layout));
    let bundle = unpack_platform(
        &format!("oci:{}:1.0.0", layout.display()),
        "amd64",
        None,
        work.path(),
    );
    let ran = run_ok(
        Command::new("chroot")
            .arg(bundle.join("rootfs"))
            .arg("/usr/local/bin/ctl"),
    );
    assert_eq!(stdout(&ran).trim(), "ctl ok");
}

/// A dynamically linked gnu binary that needs zlib (`DT_NEEDED libz.so.1`, next to libgcc_s and
/// libc) on a glibc base without zlib: refused before anything is written, naming the library,
/// the binary, the platform and the base, and only that library; on the same base with zlib, the
/// image is written and its binary runs (chroot into the unpacked image) and calls zlib.
#[test]
fn dynamic_binary_needs_its_shared_libraries_in_the_base() {
    let reg = &*PLAIN;
    let work = tempfile::tempdir().unwrap();
    let zlib_fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zlib");
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fixture-target-zlib");
    let dynamic = "-C target-feature=-crt-static";
    // The binary the bases are made for: the host's own libraries, as `ldd` lists them.
    run_ok(
        Command::new("cargo")
            .current_dir(&zlib_fixture)
            .env("CARGO_TARGET_DIR", &target_dir)
            .env("RUSTFLAGS", dynamic)
            .args([
                "build",
                "--release",
                "-q",
                "--target",
                "x86_64-unknown-linux-gnu",
            ]),
    );
    let exe = target_dir.join("x86_64-unknown-linux-gnu/release/zdemo");
    let ldd = stdout(&run_ok(Command::new("ldd").arg(&exe)));
    assert!(ldd.contains("libz.so.1 =>"), "{ldd}");
    let no_zlib = push_glibc_base(reg, &exe, "glibc-no-zlib", &["libz.so"]);
    let with_zlib = push_glibc_base(reg, &exe, "glibc-zlib", &[]);

    let build = |base: &str, dest: &Path| {
        let mut c = imagebuild_isolated(work.path());
        c.current_dir(&zlib_fixture)
            .env("CARGO_TARGET_DIR", &target_dir)
            .env("RUSTFLAGS", dynamic)
            .args(["--target", "x86_64-unknown-linux-gnu", "--base", base])
            .args(["--output", &format!("type=oci,dest={}", dest.display())]);
        c
    };
    let refused = work.path().join("refused");
    let out = build(&no_zlib, &refused).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("1 shared library is missing")
            && err.contains("error while loading shared libraries")
            && err.contains(&format!(
                "libz.so.1 is not in {no_zlib}: zdemo for linux/amd64 needs it"
            ))
            && err.contains("/usr/lib/x86_64-linux-gnu")
            && err.contains("Use a base that has it, or build static")
            && err.contains("+crt-static"),
        "{err}"
    );
    assert!(
        !err.contains("libc.so.6") && !err.contains("libgcc_s"),
        "only zlib is missing: {err}"
    );
    assert!(stdout(&out).is_empty(), "nothing is printed as built");
    assert!(!refused.exists(), "nothing is written after a refusal");

    let layout = work.path().join("accepted");
    run_ok(&mut build(&with_zlib, &layout));
    let bundle = unpack_platform(
        &format!("oci:{}:0.1.0", layout.display()),
        "amd64",
        None,
        work.path(),
    );
    let rootfs = bundle.join("rootfs");
    assert!(rootfs.join("lib/x86_64-linux-gnu/libz.so.1").exists());
    let ran = run_ok(
        Command::new("chroot")
            .arg(&rootfs)
            .arg("/usr/local/bin/zdemo"),
    );
    let printed = stdout(&ran);
    assert!(
        printed.starts_with("zlib 1.") && printed.trim_end().ends_with(" crc32=12bf685e"),
        "{printed}"
    );
}

/// Symlinked --metadata-file and --image-refs are written through: the files they point at
/// are replaced whole, the links stay. A base index offering 10,000 platforms, none of them the
/// one asked for, is refused with a short list (the first ten and how many more), not a line
/// of 10,000 names; nothing is written.
#[test]
fn symlinked_push_files_are_written_through_and_a_huge_base_index_is_listed_short() {
    let reg = &*PLAIN;
    let work = tempfile::tempdir().unwrap();
    let repo = format!("{}/written/ctl", reg.addr);
    let files = work.path().join("files");
    std::fs::create_dir(&files).unwrap();
    std::fs::write(files.join("meta.json"), "old").unwrap();
    std::fs::write(files.join("refs.txt"), "old").unwrap();
    std::os::unix::fs::symlink("files/meta.json", work.path().join("meta-link")).unwrap();
    std::os::unix::fs::symlink("files/refs.txt", work.path().join("refs-link")).unwrap();
    let out = run_ok(
        imagebuild_isolated(work.path())
            .args(["-p", "tools", "--platform", "linux/amd64"])
            .args(["--push", "-t", &format!("{repo}:1")])
            .arg("--metadata-file")
            .arg(work.path().join("meta-link"))
            .arg("--image-refs")
            .arg(work.path().join("refs-link")),
    );
    let digest = pushed_digest(&out, &repo);
    for link in ["meta-link", "refs-link"] {
        let meta = std::fs::symlink_metadata(work.path().join(link)).unwrap();
        assert!(meta.file_type().is_symlink(), "{link} stays a link");
    }
    let meta: Value =
        serde_json::from_slice(&std::fs::read(files.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["ctl"]["digest"], digest.as_str());
    assert_eq!(
        std::fs::read_to_string(files.join("refs.txt")).unwrap(),
        format!("{repo}@{digest}\n")
    );
    let left: Vec<_> = std::fs::read_dir(&files).unwrap().collect();
    assert_eq!(left.len(), 2, "no temporary beside the targets: {left:?}");

    // An index of 10,000 entries (all naming the one manifest just pushed: the registry wants
    // each to exist in the same repository), each under a platform of its own.
    let index = reg.skopeo_raw(&format!("{repo}:1"));
    let manifest = &index["manifests"][0];
    let entries: Vec<Value> = (0..10_000)
        .map(|i| {
            serde_json::json!({
                "mediaType": manifest["mediaType"],
                "digest": manifest["digest"],
                "size": manifest["size"],
                "platform": {"os": "linux", "architecture": format!("fake{i}")},
            })
        })
        .collect();
    let many = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    }))
    .unwrap();
    let status = put_manifest(
        &reg.addr,
        "/v2/written/ctl/manifests/many",
        "application/vnd.oci.image.index.v1+json",
        &many,
    );
    assert_eq!(status, 201, "the registry took the crafted index");
    let dest = work.path().join("layout");
    let err = run_err(
        imagebuild_isolated(work.path())
            .args(["-p", "tools", "--platform", "linux/amd64"])
            .args(["--base", &format!("{repo}:many")])
            .arg("-o")
            .arg(format!("type=oci,dest={}", dest.display())),
    );
    assert!(err.contains("has no linux/amd64 image"), "{err}");
    assert!(
        err.contains("linux/fake0, linux/fake1,") && err.contains("… and 9,990 more"),
        "{err}"
    );
    assert!(!err.contains("linux/fake10,"), "only ten are listed: {err}");
    assert!(err.len() < 2000, "a short message: {} bytes", err.len());
    assert!(!dest.exists(), "nothing written");
}
