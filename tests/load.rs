//! One platform into Docker or podman, the thing `docker buildx build --platform a,b --load`
//! refuses ("docker exporter does not currently support exporting manifest lists"). Against a
//! real Debian dockerd 20.10 and podman 4.3 (runc), each private to this test binary: a
//! two-platform build loads the daemon's platform (or the one asked for) and runs; the archive
//! files load with `docker load -i` and `podman load -i` and the OCI one still reads as an OCI
//! layout; zstd builds load too; `type=cacheonly` writes nothing; and bad input fails clearly.

mod common;

use std::path::Path;
use std::process::Command;

use common::binfmt::register_qemu;
use common::dockerd::dockerd;
use common::podman::podman;
use common::*;
use serde_json::Value;

const API: [&str; 4] = ["-p", "server", "--bin", "api"];
const TWO: [&str; 2] = ["--platform", "linux/amd64,linux/arm64"];

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Our binary, pointed at the private dockerd.
fn into_docker() -> Command {
    let mut c = imagebuild();
    dockerd().env(&mut c);
    c
}

/// The files of a tar archive, extracted into `to`.
fn extract(archive: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    run_ok(
        Command::new("tar")
            .arg("-xf")
            .arg(archive)
            .arg("-C")
            .arg(to),
    );
}

fn manifest_json(dir: &Path) -> Value {
    let v: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    v[0].clone()
}

/// `--platform linux/amd64,linux/arm64 --load` into docker: it loads the daemon's platform
/// (amd64 here) with every tag, says so, and the container runs the amd64 binary.
#[test]
fn two_platform_build_loads_the_daemons_platform_into_docker() {
    let d = dockerd();
    let out = run_ok(into_docker().args(API).args(TWO).args([
        "--load",
        "-t",
        ":docker-amd64",
        "-t",
        ":docker-amd64-too",
    ]));
    let err = stderr(&out);
    assert!(
        err.contains("linux/amd64 image into docker 20.10")
            && err.contains("as api:docker-amd64, api:docker-amd64-too"),
        "{err}"
    );
    // Both platforms were built (and printed), one was loaded.
    let printed = parse_digests(&stdout(&out));
    assert_eq!(printed[0].2.len(), 2);

    let img = d.inspect("api:docker-amd64");
    assert_eq!(img["Architecture"], "amd64");
    assert_eq!(img["Os"], "linux");
    let tags: Vec<&str> = img["RepoTags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        tags.contains(&"api:docker-amd64") && tags.contains(&"api:docker-amd64-too"),
        "{tags:?}"
    );
    assert_eq!(img["Config"]["User"], "65532");
    let ran = d.run_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "api:docker-amd64",
        "hello",
    ]);
    assert_eq!(ran.trim(), "api running on x86_64 hello");
}

/// `--load-platform linux/arm64` with zstd layers: docker 20.10 cannot read zstd, so it gets gzip
/// copies (and a note says so); the image is arm64 and, with qemu registered, runs.
#[test]
fn load_platform_arm64_with_zstd_runs_under_qemu() {
    let d = dockerd();
    let out = run_ok(into_docker().args(API).args(TWO).args([
        "--load",
        "--load-platform",
        "linux/arm64",
        "--compression",
        "zstd",
        "-t",
        ":docker-arm64",
    ]));
    let err = stderr(&out);
    assert!(err.contains("linux/arm64 image into docker"), "{err}");
    assert!(err.contains("zstd layers were repacked as gzip"), "{err}");
    let img = d.inspect("api:docker-arm64");
    assert_eq!(img["Architecture"], "arm64");
    register_qemu("aarch64");
    let ran = d.run_ok(&["run", "--rm", "--network", "none", "api:docker-arm64"]);
    assert_eq!(ran.trim(), "api running on aarch64");
}

/// The same two-platform `--load` into podman (chosen with --loader): podman reads zstd layers
/// as they are, and the container runs.
#[test]
fn two_platform_build_loads_into_podman() {
    let p = podman();
    let mut c = imagebuild();
    p.env(&mut c);
    let out = run_ok(c.args(API).args(TWO).args([
        "--load",
        "--loader",
        "podman",
        "--compression",
        "zstd",
        "-t",
        ":podman-amd64",
    ]));
    let err = stderr(&out);
    assert!(err.contains("linux/amd64 image into podman 4"), "{err}");
    assert!(!err.contains("repacked"), "podman reads zstd: {err}");
    let img = p.inspect("localhost/api:podman-amd64");
    assert_eq!(img["Architecture"], "amd64");
    let ran = p.run_ok(&["run", "--rm", "localhost/api:podman-amd64", "hi"]);
    assert_eq!(ran.trim(), "api running on x86_64 hi");
}

/// Three outputs at once from one zstd build: a docker archive, an OCI archive and --load. The
/// layers are packed once and both archives carry the same gzip copies; each file loads with
/// `docker load -i` and `podman load -i`; the OCI archive still reads as an OCI layout.
#[test]
fn archives_load_in_docker_and_podman_and_read_as_oci() {
    let d = dockerd();
    let p = podman();
    let work = tempfile::tempdir().unwrap();
    let docker_tar = work.path().join("api-docker.tar");
    let oci_tar = work.path().join("api-oci.tar");
    let out = run_ok(into_docker().args(API).args(TWO).args([
        "--compression",
        "zstd",
        "-t",
        ":files",
        "--output",
        &format!("type=docker,dest={}", docker_tar.display()),
        "--output",
        &format!("type=oci,dest={},tar=true", oci_tar.display()),
        "--load",
    ]));
    let err = stderr(&out);
    assert_eq!(err.matches("Layers").count(), 1, "{err}");
    assert!(err.contains("linux/amd64 image into docker"), "{err}");

    // The archives: one platform's manifest.json each, over the same gzip layers.
    let (dd, od) = (work.path().join("d"), work.path().join("o"));
    extract(&docker_tar, &dd);
    extract(&oci_tar, &od);
    let (dm, om) = (manifest_json(&dd), manifest_json(&od));
    assert_eq!(dm, om);
    assert_eq!(dm["RepoTags"], serde_json::json!(["api:files"]));
    for l in dm["Layers"].as_array().unwrap() {
        let blob = std::fs::read(dd.join(l.as_str().unwrap())).unwrap();
        assert_eq!(&blob[..2], &[0x1f, 0x8b], "a gzip layer for docker");
    }
    assert!(!dd.join("index.json").exists(), "a plain docker archive");
    validate_layout(&od);
    let index = skopeo_raw(&format!("oci-archive:{}:files", oci_tar.display()));
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
    let config = skopeo_config(
        &format!("oci-archive:{}:files", oci_tar.display()),
        "arm64",
        None,
    );
    assert_eq!(config["architecture"], "arm64");

    // The zstd build's --load runs natively.
    let ran = d.run_ok(&["run", "--rm", "--network", "none", "api:files"]);
    assert_eq!(ran.trim(), "api running on x86_64");
    // Each file loads in docker (remove the image first, so the file alone must bring it)...
    for file in [&docker_tar, &oci_tar] {
        d.run_ok(&["rmi", "api:files"]);
        let loaded = d.run_ok(&["load", "-i", file.to_str().unwrap()]);
        assert!(loaded.contains("Loaded image: api:files"), "{loaded}");
        assert_eq!(d.inspect("api:files")["Architecture"], "amd64");
    }
    let ran = d.run_ok(&["run", "--rm", "--network", "none", "api:files", "again"]);
    assert_eq!(ran.trim(), "api running on x86_64 again");
    // ... and in podman.
    for file in [&docker_tar, &oci_tar] {
        let _ = p
            .podman()
            .args(["rmi", "-f", "localhost/api:files"])
            .output();
        let loaded = p.run_ok(&["load", "-i", file.to_str().unwrap()]);
        assert!(loaded.contains("api:files"), "{loaded}");
        assert_eq!(p.inspect("localhost/api:files")["Architecture"], "amd64");
        let ran = p.run_ok(&["run", "--rm", "localhost/api:files"]);
        assert_eq!(ran.trim(), "api running on x86_64");
    }
}

/// Docker contexts: `DOCKER_CONTEXT`, `type=docker,context=NAME` and the config's
/// `currentContext` all reach the daemon the context names, with no DOCKER_HOST set.
#[test]
fn docker_contexts_are_honoured() {
    let d = dockerd();
    let config = tempfile::tempdir().unwrap();
    run_ok(
        Command::new(require("docker"))
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .env("DOCKER_CONFIG", config.path())
            .args(["context", "create", "ib-private", "--docker"])
            .arg(format!("host={}", d.host)),
    );
    let ours = || {
        let mut c = imagebuild();
        c.env_remove("DOCKER_HOST")
            .env("DOCKER_CONFIG", config.path())
            .args(["-p", "tools", "--platform", "linux/amd64"]);
        c
    };
    let out = run_ok(
        ours()
            .env("DOCKER_CONTEXT", "ib-private")
            .args(["--load", "-t", ":ctx-env"]),
    );
    assert!(
        stderr(&out).contains("(context ib-private)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(d.inspect("ctl:ctx-env")["Architecture"], "amd64");
    let out = run_ok(ours().env_remove("DOCKER_CONTEXT").args([
        "--output",
        "type=docker,context=ib-private",
        "-t",
        ":ctx-attr",
    ]));
    assert!(
        stderr(&out).contains("(context ib-private)"),
        "{}",
        stderr(&out)
    );
    let ran = d.run_ok(&["run", "--rm", "--network", "none", "ctl:ctx-attr"]);
    assert_eq!(ran.trim(), "ctl ok");

    // The config's current context (`docker context use`), with neither variable set: the
    // message names the context and the socket its meta.json points at.
    run_ok(
        Command::new(require("docker"))
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .env("DOCKER_CONFIG", config.path())
            .args(["context", "use", "ib-private"]),
    );
    let out = run_ok(
        ours()
            .env_remove("DOCKER_CONTEXT")
            .args(["--load", "-t", ":ctx-current"]),
    );
    assert!(
        stderr(&out).contains(&format!("at {} (context ib-private)", d.host)),
        "{}",
        stderr(&out)
    );
    assert_eq!(d.inspect("ctl:ctx-current")["Architecture"], "amd64");
}

/// Every file below `dir`, with its size, for before/after comparisons.
fn snapshot(dir: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            if m.is_dir() {
                todo.push(e.path());
            }
            out.push((e.path().display().to_string(), m.len()));
        }
    }
    out.sort();
    out
}

/// A copy of the fixture with its own target and temporary directories, so a test can see
/// everything a run writes.
struct Sandbox {
    _root: tempfile::TempDir,
    ws: std::path::PathBuf,
    target: std::path::PathBuf,
    tmp: std::path::PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        let root = tempfile::tempdir().unwrap();
        let ws = root.path().join("ws");
        copy_tree(&fixture(), &ws);
        let target = root.path().join("target");
        let tmp = root.path().join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        // Cargo.lock is cargo's: let it exist before the snapshot.
        run_ok(
            Command::new("cargo")
                .current_dir(&ws)
                .args(["generate-lockfile", "--offline"]),
        );
        Sandbox {
            _root: root,
            ws,
            target,
            tmp,
        }
    }

    fn imagebuild(&self) -> Command {
        let mut c = imagebuild_in(&self.ws);
        c.env("CARGO_TARGET_DIR", &self.target)
            .env("TMPDIR", &self.tmp);
        c
    }

    /// No output of ours anywhere: no image output (the target directory holds at most the
    /// hidden `.work` directory: the layer cache, the toolchain's answers), nothing left in
    /// TMPDIR.
    fn assert_nothing_written(&self, before: &[(String, u64)]) {
        assert_eq!(snapshot(&self.ws), before, "the workspace changed");
        let ours = self.target.join("imagebuild");
        let outputs: Vec<String> = std::fs::read_dir(&ours)
            .into_iter()
            .flatten()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != ".work")
            .collect();
        assert!(
            outputs.is_empty(),
            "an output was left in the target directory: {outputs:?}"
        );
        assert_eq!(
            snapshot(&self.tmp),
            Vec::<(String, u64)>::new(),
            "the temporary blob store was not removed"
        );
    }
}

/// `type=cacheonly` builds, packs (through the layer cache every output uses) and verifies,
/// prints the same digests as a real build, and writes no output.
#[test]
fn cacheonly_verifies_and_writes_nothing() {
    let sb = Sandbox::new();
    let before = snapshot(&sb.ws);
    let out = run_ok(sb.imagebuild().args([
        "-p",
        "tools",
        "--platform",
        "linux/amd64",
        "--output",
        "type=cacheonly",
    ]));
    assert!(stderr(&out).contains("cacheonly"), "{}", stderr(&out));
    sb.assert_nothing_written(&before);
    // The digests are those of a build of the same workspace that writes its image.
    let work = tempfile::tempdir().unwrap();
    let real = run_ok(sb.imagebuild().args([
        "-p",
        "tools",
        "--platform",
        "linux/amd64",
        "-q",
        "--output",
        &format!("type=oci,dest={}", work.path().join("ctl").display()),
    ]));
    assert_eq!(stdout(&out), stdout(&real));
    assert!(stdout(&out).starts_with("ctl sha256:"));
}

/// cacheonly fails, writing nothing, when the build fails and when a check fails (here the
/// executable check: a "linker" that writes a shell script where the binary should be).
#[test]
fn cacheonly_fails_when_a_build_or_a_check_fails() {
    let sb = Sandbox::new();
    let main = sb.ws.join("tools/src/main.rs");
    let good = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, "fn main() { let x: u32 = \"no\"; }\n").unwrap();
    let before = snapshot(&sb.ws);
    let err = run_err(sb.imagebuild().args([
        "-p",
        "tools",
        "--platform",
        "linux/amd64",
        "--output",
        "type=cacheonly",
    ]));
    assert!(err.contains("mismatched types"), "{err}");
    sb.assert_nothing_written(&before);

    std::fs::write(&main, good).unwrap();
    let linker = sb.tmp.parent().unwrap().join("fake-linker.sh");
    std::fs::write(
        &linker,
        "#!/bin/sh\n# Links nothing: writes a script where the executable should be.\n\
         out=; prev=\nfor a in \"$@\"; do [ \"$prev\" = -o ] && out=$a; prev=$a; done\n\
         printf '#!/bin/sh\\necho not a binary\\n' > \"$out\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&linker, std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = snapshot(&sb.ws);
    let err = run_err(sb.imagebuild().args([
        "-p",
        "tools",
        "--target",
        "x86_64-unknown-linux-musl",
        "--config",
        &format!(
            "target.x86_64-unknown-linux-musl.linker=\"{}\"",
            linker.display()
        ),
        "--output",
        "type=cacheonly",
    ]));
    assert!(err.contains("not an executable"), "{err}");
    sb.assert_nothing_written(&before);
}

/// Runs our binary with `args`, expects a failure whose message holds every one of `expect`,
/// and checks that nothing was written in a fresh output directory.
fn refused(mut cmd: Command, args: &[&str], expect: &[&str]) -> String {
    let err = run_err(cmd.args(args));
    for e in expect {
        assert!(err.contains(e), "the message lacks `{e}`:\n{err}");
    }
    assert!(err.contains("error: "), "{err}");
    err
}

/// A PATH with docker's CLI and cargo, but no podman.
fn path_without_podman(dir: &Path) -> std::ffi::OsString {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(require("docker"), bin.join("docker")).unwrap();
    let cargo = require("cargo");
    let cargo_dir = cargo.parent().unwrap().to_path_buf();
    assert!(
        !cargo_dir.join("podman").exists(),
        "podman sits beside cargo"
    );
    std::env::join_paths([bin, cargo_dir]).unwrap()
}

/// Rootless podman's socket: with no docker daemon and no podman CLI on PATH, the docker CLI
/// loads through `$XDG_RUNTIME_DIR/podman/podman.sock` (here `podman system service` on the
/// private podman's storage), and podman holds the image.
#[test]
fn loads_through_rootless_podmans_socket() {
    let p = podman();
    let work = tempfile::tempdir().unwrap();
    // Short, so the socket path fits in 108 bytes.
    let runtime = tempfile::Builder::new()
        .prefix("ibxdg")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::create_dir_all(runtime.path().join("podman")).unwrap();
    let sock = runtime.path().join("podman/podman.sock");
    let mut service = p.podman();
    service
        .args(["system", "service", "--time=0"])
        .arg(format!("unix://{}", sock.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = service.spawn().unwrap();
    let pid = child.id();
    common::processes::at_exit(move || common::processes::signal(pid, "KILL"));
    let start = std::time::Instant::now();
    while !sock.exists() && start.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let path = path_without_podman(work.path());
    let out = run_ok(
        imagebuild()
            .env("PATH", &path)
            .env("DOCKER_CONFIG", work.path())
            .env_remove("DOCKER_CONTEXT")
            .env("DOCKER_HOST", "tcp://127.0.0.1:1")
            .env("XDG_RUNTIME_DIR", runtime.path())
            .args([
                "-p",
                "tools",
                "--platform",
                "linux/amd64",
                "--load",
                "-t",
                ":sock",
            ]),
    );
    assert!(
        stderr(&out).contains("(rootless podman's socket)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(p.inspect("ctl:sock")["Architecture"], "amd64");
    let _ = child.kill();
    let _ = child.wait();
}

/// A daemon on a unix socket is spoken to directly (its API's `/info` and `/images/load`): with
/// neither docker's CLI nor podman on PATH, the image still loads, and a refusal still comes in
/// the daemon's own words.
#[test]
fn loads_through_the_daemons_socket_without_its_cli() {
    let d = dockerd();
    let work = tempfile::tempdir().unwrap();
    let cargo_dir = require("cargo").parent().unwrap().to_path_buf();
    assert!(
        !cargo_dir.join("docker").exists() && !cargo_dir.join("podman").exists(),
        "docker or podman sits beside cargo"
    );
    let no_cli = || {
        let mut c = into_docker();
        c.env("PATH", &cargo_dir).env("DOCKER_CONFIG", work.path());
        c
    };
    let out = run_ok(no_cli().args([
        "-p",
        "tools",
        "--platform",
        "linux/amd64,linux/arm64",
        "--load",
        "-t",
        ":api-socket",
    ]));
    let err = stderr(&out);
    assert!(
        err.contains("linux/amd64 image into docker 20.10") && err.contains("ctl:api-socket"),
        "{err}"
    );
    let img = d.inspect("ctl:api-socket");
    assert_eq!(img["Architecture"], "amd64");
    let ran = d.run_ok(&["run", "--rm", "--network", "none", "ctl:api-socket"]);
    assert!(ran.contains("ctl ok"), "{ran}");
    refused(
        no_cli(),
        &[
            "-p",
            "tools",
            "--platform",
            "wasip1/wasm",
            "--load",
            "-t",
            ":api-refused",
        ],
        &["docker load refused the image", "wasip1"],
    );
}

#[test]
fn no_docker_or_podman_reachable() {
    let work = tempfile::tempdir().unwrap();
    let path = path_without_podman(work.path());
    let cmd = || {
        let mut c = imagebuild();
        c.env("PATH", &path)
            .env("DOCKER_CONFIG", work.path())
            .env_remove("DOCKER_CONTEXT")
            // Nothing listens on port 1; the credentials must never be printed.
            .env("DOCKER_HOST", "tcp://user:s3cret@127.0.0.1:1")
            .args(["-p", "tools", "--platform", "linux/amd64"]);
        c
    };
    let err = refused(
        cmd(),
        &["--load"],
        &[
            "no docker or podman reachable",
            "docker at tcp://***@127.0.0.1:1",
            "`podman` is not installed",
            "--output type=docker,dest=",
        ],
    );
    assert!(!err.contains("s3cret"), "{err}");
    assert!(!err.contains("Compiling"), "asked before compiling: {err}");
    let err = refused(
        cmd(),
        &["--load", "--loader", "docker"],
        &["cannot reach docker at tcp://***@127.0.0.1:1"],
    );
    assert!(!err.contains("s3cret"), "{err}");
    refused(
        cmd(),
        &["--load", "--loader", "podman"],
        &["cannot reach podman", "`podman` is not installed"],
    );
}

/// The daemon refuses a wasip1 image (Docker 20.10 loads only its own OS); the refusal is
/// reported with the daemon's own words, and nothing is loaded.
#[test]
fn daemon_refusing_the_load() {
    let d = dockerd();
    refused(
        into_docker(),
        &[
            "-p",
            "tools",
            "--platform",
            "wasip1/wasm",
            "--load",
            "-t",
            ":refused",
        ],
        &["docker load refused the image", "wasip1"],
    );
    let out = d.output(&["image", "inspect", "ctl:refused"]);
    assert!(!out.status.success(), "the refused image is not there");
}

#[test]
fn platform_not_built() {
    // Asked for explicitly: refused before compiling.
    refused(
        imagebuild(),
        &[
            "-p",
            "tools",
            "--platform",
            "linux/amd64,linux/arm64",
            "--load",
            "--load-platform",
            "linux/s390x",
        ],
        &["platform linux/s390x was not built; built: linux/amd64, linux/arm64"],
    );
    let work = tempfile::tempdir().unwrap();
    refused(
        imagebuild(),
        &[
            "-p",
            "tools",
            "--platform",
            "linux/amd64",
            "--output",
            &format!(
                "type=docker,dest={},platform=linux/arm64",
                work.path().join("x.tar").display()
            ),
        ],
        &["platform linux/arm64 was not built; built: linux/amd64"],
    );
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0);
    // The daemon's own platform, when it was not built and several were: known (by asking the
    // daemon) before compiling.
    let err = refused(
        into_docker(),
        &[
            "-p",
            "tools",
            "--platform",
            "linux/arm64,linux/386",
            "--load",
        ],
        &[
            "runs linux/amd64, which was not built; built: linux/arm64, linux/386",
            "--load-platform",
        ],
    );
    assert!(!err.contains("Compiling"), "asked before compiling: {err}");
}

#[test]
fn bad_output_specs_and_flags() {
    let work = tempfile::tempdir().unwrap();
    let tools = ["-p", "tools", "--platform", "linux/amd64"];
    let with = |extra: &[&str]| -> Vec<String> {
        tools.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let cases: &[(&[&str], &[&str])] = &[
        (&["--output", "type=docker,dest="], &["dest is empty"]),
        (&["--output", "type=oci"], &["needs a dest"]),
        (
            &["--output", "type=dockr"],
            &["unknown type `dockr`", "did you mean `docker`"],
        ),
        (
            &["--output", "type=docker,tar=true"],
            &[
                "unknown attribute `tar`",
                "type=docker takes dest, platform and context",
            ],
        ),
        (
            &["--output", "type=cacheonly,dest=x"],
            &["type=cacheonly takes no attributes"],
        ),
        (
            &["--output", "type=docker,dest=x.tar,context=c"],
            &["give one of them"],
        ),
        (
            &["--output", "type=docker,platform=linux/amd46"],
            &["did you mean `linux/amd64`"],
        ),
        (
            &["--load", "--loader", "lxc"],
            &["use docker, podman or containerd"],
        ),
        (&["--loader", "docker"], &["add --load"]),
        (
            &["--load-platform", "linux/arm64"],
            &["--load-platform linux/arm64", "add --load"],
        ),
    ];
    for (extra, expect) in cases {
        let args = with(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut c = imagebuild_in(&fixture());
        c.current_dir(work.path())
            .arg("--manifest-path")
            .arg(fixture().join("Cargo.toml"));
        refused(c, &args, expect);
    }
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        0,
        "a refused output wrote something"
    );
}

/// `--dry-run` shows the single-platform outputs with their platform.
#[test]
fn dry_run_shows_the_load() {
    let out = run_ok(imagebuild().args([
        "-p",
        "tools",
        "--platform",
        "linux/amd64,linux/arm64",
        "--load",
        "--loader",
        "podman",
        "--load-platform",
        "linux/arm64",
        "--output",
        "type=cacheonly",
        "--dry-run",
    ]));
    let plan = stdout(&out);
    assert!(
        plan.contains("output: load into podman (linux/arm64)"),
        "{plan}"
    );
    assert!(plan.contains("output: cacheonly"), "{plan}");
}

/// What Cargo.toml and git say reaches the image: `docker image inspect` shows the
/// `org.opencontainers.image.*` labels (revision = HEAD, marked dirty) beside the user's
/// `--label`, and `skopeo inspect --raw` shows the annotations at the level each `--annotation`
/// prefix named (index, every manifest, one platform's manifest, the index's descriptors).
#[test]
fn labels_and_annotations_from_cargo_toml_and_git() {
    let d = dockerd();
    let work = tempfile::tempdir().unwrap();
    let ws = work.path().join("ws");
    copy_tree(&fixture(), &ws);
    let manifest = ws.join("server/Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(
        "description = \"Fixture server\"",
        "description = \"Fixture server\"\nhomepage = \"https://example.com/api\"\n\
         documentation = \"https://docs.example.com/api\"\n\
         authors = [\"Ann <ann@example.com>\", \"Bo\"]",
    );
    std::fs::write(&manifest, text).unwrap();
    let head = git_commit_all(&ws, 1_700_000_000);
    // A change not committed: the revision says so.
    let main = ws.join("server/src/main.rs");
    let code = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, format!("{code}// changed\n")).unwrap();

    let layout = work.path().join("oci");
    let mut cmd = imagebuild_in(&ws);
    d.env(&mut cmd);
    run_ok(cmd.args(API).args(TWO).args([
        "--load",
        "-t",
        ":labels",
        "-o",
        &format!("type=oci,dest={}", layout.display()),
        "--label",
        "com.example.flag=1",
        "--annotation",
        "index:com.example.level=index",
        "--annotation",
        "manifest:com.example.level=manifest",
        "--annotation",
        "manifest[linux/arm64]:com.example.arm=yes",
        "--annotation",
        "manifest-descriptor:com.example.desc=d",
    ]));

    let oci = |k: &str| format!("org.opencontainers.image.{k}");
    let revision = format!("{head}-dirty");
    let expected = [
        ("created", "2023-11-14T22:13:20Z"),
        ("title", "api"),
        ("version", "0.3.1"),
        ("revision", revision.as_str()),
        ("source", "https://example.com/acme/fixture"),
        ("licenses", "MIT"),
        ("description", "Fixture server"),
        ("url", "https://example.com/api"),
        ("documentation", "https://docs.example.com/api"),
        ("authors", "Ann <ann@example.com>, Bo"),
    ];
    let labels = d.inspect("api:labels")["Config"]["Labels"].clone();
    for (k, v) in expected {
        assert_eq!(labels[oci(k)], v, "label {k}: {labels}");
    }
    assert_eq!(labels["com.example.flag"], "1");
    assert_eq!(labels["com.example.team"], "platform", "workspace labels");

    let index = skopeo_raw(&format!("oci:{}:labels", layout.display()));
    let ann = &index["annotations"];
    for (k, v) in expected {
        assert_eq!(ann[oci(k)], v, "index annotation {k}: {ann}");
    }
    assert_eq!(ann["com.example.level"], "index");
    assert!(ann.get("com.example.arm").is_none(), "{ann}");
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 2);
    for m in manifests {
        assert_eq!(m["annotations"]["com.example.desc"], "d", "{m}");
        let digest = m["digest"].as_str().unwrap();
        let bytes = std::fs::read(layout.join("blobs/sha256").join(&digest[7..])).unwrap();
        let manifest: Value = serde_json::from_slice(&bytes).unwrap();
        let ann = &manifest["annotations"];
        assert_eq!(ann[oci("revision")], revision.as_str());
        assert_eq!(ann[oci("title")], "api");
        assert_eq!(ann["com.example.level"], "manifest");
        let arm = m["platform"]["architecture"] == "arm64";
        assert_eq!(ann.get("com.example.arm").is_some(), arm, "{m}");
    }
}
