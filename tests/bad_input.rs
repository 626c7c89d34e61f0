//! Bad input: each case gives a message that names the problem and the fix, a non-zero exit,
//! and leaves nothing behind at the destination.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// A scratch workspace made of `files`, for inputs the fixture cannot express.
fn temp_ws(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

const MAIN: &str = "fn main() { println!(\"hi\"); }\n";

fn pkg(metadata: &str) -> tempfile::TempDir {
    temp_ws(&[
        (
            "Cargo.toml",
            &format!(
                "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
                 [package.metadata.imagebuild]\n{metadata}\n"
            ),
        ),
        ("src/main.rs", MAIN),
    ])
}

/// Runs our binary in `dir` with `args` (and `env`), `{out}` in an argument standing for a
/// fresh empty directory; unless an argument chooses the output, it writes to `{out}/image`.
/// Checks the exit code is 1 (an error, not a panic or a usage error), the failure message
/// contains every one of `expect`, and `{out}` (where every destination passed lies) stays empty.
fn refused_with(dir: &Path, args: &[&str], env: &[(&str, &str)], expect: &[&str]) -> String {
    let out = tempfile::tempdir().unwrap();
    let o = out.path().display().to_string();
    let mut cmd = imagebuild_in(dir);
    cmd.args(args.iter().map(|a| a.replace("{out}", &o)));
    cmd.envs(env.iter().copied());
    if !args
        .iter()
        .any(|a| a.starts_with("--output") || *a == "-o" || *a == "--push" || *a == "--load")
    {
        cmd.args(["--output", &format!("type=oci,dest={o}/image")]);
    }
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{args:?} should fail with exit code 1:\n{stderr}"
    );
    for e in expect {
        assert!(
            stderr.contains(e),
            "{args:?}: the message lacks `{e}`:\n{stderr}"
        );
    }
    assert!(
        stderr.starts_with("error: ") || stderr.contains("\nerror: "),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let left: Vec<PathBuf> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "{args:?}: output left behind: {left:?}");
    stderr
}

fn refused(dir: &Path, args: &[&str], expect: &[&str]) -> String {
    refused_with(dir, args, &[], expect)
}

#[test]
fn unknown_platform_suggests_the_closest() {
    refused(
        &fixture(),
        &["-p", "tools", "--platform", "linux/amd46"],
        &[
            "unknown platform `linux/amd46`",
            "did you mean `linux/amd64`",
        ],
    );
}

#[test]
fn platform_without_a_container_runtime() {
    refused(
        &fixture(),
        &["-p", "tools", "--platform", "darwin/arm64"],
        &["darwin/arm64", "no container runtime"],
    );
}

#[test]
fn misspelled_triple_suggests_the_closest() {
    refused(
        &fixture(),
        &["-p", "tools", "--target", "x86_64-unknown-linux-mus"],
        &["not a Rust target triple", "x86_64-unknown-linux-musl"],
    );
}

#[test]
fn triple_with_no_oci_platform() {
    refused(
        &fixture(),
        &["-p", "tools", "--target", "aarch64-apple-darwin"],
        &["aarch64-apple-darwin", "has no OCI platform"],
    );
}

#[test]
fn bin_that_does_not_exist() {
    refused(
        &fixture(),
        &["--workspace", "--bin", "apii"],
        &["no binary named `apii`", "did you mean `api`", "ctl"],
    );
}

#[test]
fn package_not_in_the_workspace() {
    refused(
        &fixture(),
        &["-p", "srever"],
        &[
            "package `srever` is not in this workspace",
            "did you mean `server`",
        ],
    );
}

#[test]
fn package_with_no_binary() {
    let ws = temp_ws(&[
        (
            "Cargo.toml",
            "[package]\nname = \"onlylib\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        ),
        ("src/lib.rs", "pub fn f() {}\n"),
    ]);
    refused(
        ws.path(),
        &[],
        &["package `onlylib` has no binary target", "src/main.rs"],
    );
}

#[test]
fn metadata_key_of_the_wrong_type() {
    let ws = pkg("platforms = \"linux/amd64\"");
    let file = ws.path().join("Cargo.toml");
    refused(
        ws.path(),
        &[],
        &[
            "key `platforms`",
            "expected a sequence",
            "package.metadata.imagebuild",
            &file.display().to_string(),
        ],
    );
}

#[test]
fn unknown_metadata_key() {
    let ws = pkg("platfroms = [\"linux/amd64\"]");
    refused(
        ws.path(),
        &[],
        &["unknown field `platfroms`", "expected one of", "Cargo.toml"],
    );
}

#[test]
fn unknown_workspace_metadata_key() {
    let ws = temp_ws(&[
        ("Cargo.toml", "[workspace]\nmembers = [\"app\"]\n\n[workspace.metadata.imagebuild]\ncompresion = \"zstd\"\n"),
        ("app/Cargo.toml", "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n"),
        ("app/src/main.rs", MAIN),
    ]);
    refused(
        ws.path(),
        &[],
        &[
            "workspace.metadata.imagebuild",
            "unknown field `compresion`",
        ],
    );
}

#[test]
fn unwritable_destination() {
    // A path below a regular file can never be created, even by root.
    let blocker = tempfile::NamedTempFile::new().unwrap();
    let dest = blocker.path().join("image");
    let stderr = refused(
        &fixture(),
        &[
            "-p",
            "tools",
            "--platform",
            "linux/amd64",
            "--output",
            &format!("type=oci,dest={}", dest.display()),
        ],
        &["choose a dest"],
    );
    assert!(
        stderr.contains(&blocker.path().display().to_string()),
        "{stderr}"
    );
    assert!(!dest.exists());
}

#[test]
fn failing_compile_says_so_and_writes_nothing() {
    let ws = temp_ws(&[
        (
            "Cargo.toml",
            "[package]\nname = \"broken\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        ),
        (
            "src/main.rs",
            "fn main() { let x: u32 = \"not a number\"; }\n",
        ),
    ]);
    refused(
        ws.path(),
        &["--platform", "linux/amd64"],
        &[
            "mismatched types",
            "cargo build for x86_64-unknown-linux-musl failed",
        ],
    );
}

#[test]
fn unknown_output_type() {
    refused(
        &fixture(),
        &["-p", "tools", "--output", "type=ocu,dest=x"],
        &["unknown type `ocu`", "did you mean `oci`"],
    );
}

#[test]
fn output_without_dest() {
    refused(
        &fixture(),
        &["-p", "tools", "--output", "type=oci"],
        &["needs a dest"],
    );
}

#[test]
fn unknown_compression() {
    refused(
        &fixture(),
        &["-p", "tools", "--compression", "lz4"],
        &["unknown compression `lz4`", "gzip"],
    );
}

#[test]
fn invalid_tag() {
    // `-t` takes a reference, as in docker build; `:TAG` is a bare tag.
    refused(
        &fixture(),
        &["-p", "tools", "-t", "bad tag!"],
        &["`bad tag!` is not a valid image reference", "for example"],
    );
    refused(
        &fixture(),
        &["-p", "tools", "-t", ":bad tag!"],
        &["-t :bad tag!", "`bad tag!` is not a valid tag"],
    );
    refused(
        &fixture(),
        &["-p", "tools", "-t", ":"],
        &["-t :", "is not a valid tag"],
    );
}

/// The old spelling of a bare tag, `-t 1.4.0`: a valid image name no one means, refused with
/// both right spellings, before anything is compiled.
#[test]
fn version_as_t_value_shows_both_spellings() {
    for (value, repo) in [("1.4.0", "ctl"), ("v2", "ctl"), ("latest", "ctl")] {
        refused(
            &fixture(),
            &["-p", "tools", "-t", value],
            &[
                &format!("-t {value}: `{value}` looks like a tag"),
                &format!("write -t :{value}"),
                &format!("or -t {repo}:{value}"),
            ],
        );
    }
    refused(
        &fixture(),
        &[
            "-p",
            "tools",
            "--repository",
            "ghcr.io/acme/{bin}",
            "-t",
            "1.4.0",
        ],
        &[
            "write -t :1.4.0",
            "(ghcr.io/acme/ctl)",
            "-t ghcr.io/acme/ctl:1.4.0",
        ],
    );
}

#[test]
fn uppercase_t_value_names_the_fix() {
    refused(
        &fixture(),
        &["-p", "tools", "-t", "Ctl:Dev"],
        &["`Ctl` has uppercase letters", "write -t ctl:Dev"],
    );
    refused(
        &fixture(),
        &["-p", "tools", "-t", "localhost:5000/Acme/ctl"],
        &["lowercase", "write -t localhost:5000/acme/ctl"],
    );
}

#[test]
fn t_reference_for_several_binaries_needs_bin() {
    refused(
        &fixture(),
        &["--workspace", "--output", "type=cacheonly", "-t", "api:dev"],
        &[
            "-t api:dev names one image but several binaries",
            "-t {bin}:dev",
        ],
    );
    refused(
        &fixture(),
        &["-p", "tools", "-t", "a:1", "-t", "b:1"],
        &[
            "two repositories",
            "docker.io/library/a",
            "docker.io/library/b",
        ],
    );
    let digest = format!("ctl@sha256:{}", "a".repeat(64));
    refused(
        &fixture(),
        &["-p", "tools", "-t", &digest],
        &["a tag cannot name a digest"],
    );
}

#[test]
fn invalid_source_date_epoch() {
    let out = tempfile::tempdir().unwrap();
    let stderr = run_err(imagebuild().env("SOURCE_DATE_EPOCH", "yesterday").args([
        "-p",
        "tools",
        "-o",
        &format!("type=oci,dest={}", out.path().join("x").display()),
    ]));
    assert!(stderr.contains("SOURCE_DATE_EPOCH=`yesterday`"), "{stderr}");
    assert!(!out.path().join("x").exists());
}

#[test]
fn one_destination_for_several_binaries() {
    refused(
        &fixture(),
        &["-p", "server"],
        &["2 binaries are selected (api, migrate)", "{bin}"],
    );
}

#[test]
fn destination_that_is_not_a_layout_is_kept() {
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("precious");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(dest.join("notes.txt"), "keep me").unwrap();
    let stderr = run_err(imagebuild().args([
        "-p",
        "tools",
        "--platform",
        "linux/amd64",
        "-o",
        &format!("type=oci,dest={}", dest.display()),
    ]));
    assert!(stderr.contains("is not an OCI layout"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dest.join("notes.txt")).unwrap(),
        "keep me"
    );
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        1,
        "no temporary directory is left"
    );
}

#[test]
fn missing_manifest_path() {
    refused(
        &fixture(),
        &["--manifest-path", "/nonexistent/Cargo.toml"],
        &["/nonexistent/Cargo.toml", "no such file"],
    );
}

#[test]
fn target_override_for_the_wrong_platform() {
    let ws = pkg("targets = { \"linux/arm64\" = \"x86_64-unknown-linux-musl\" }\nplatforms = [\"linux/arm64\"]");
    refused(
        ws.path(),
        &[],
        &[
            "maps linux/arm64 to `x86_64-unknown-linux-musl`",
            "builds for linux/amd64",
        ],
    );
}

#[test]
fn missing_asset() {
    let ws = pkg("assets = [[\"nope.txt\", \"/etc/nope.txt\"]]");
    refused(ws.path(), &[], &["asset", "nope.txt", "does not exist"]);
}

#[test]
fn malformed_port() {
    let ws = pkg("ports = [\"http\"]");
    refused(ws.path(), &[], &["key `ports[0]`", "`http` is not a port"]);
}

#[test]
fn invalid_repository() {
    refused(
        &fixture(),
        &["-p", "tools", "--repository", "Acme/Tools"],
        &["`Acme/Tools` is not a valid repository"],
    );
}

#[test]
fn target_whose_standard_library_rustup_cannot_provide() {
    // rustup's dist server has no std for this tier-3 target (DESIGN.md: 404 here).
    refused(
        &fixture(),
        &["-p", "tools", "--target", "riscv64gc-unknown-linux-musl"],
        &[
            "riscv64gc-unknown-linux-musl",
            "rustup cannot provide the standard library",
            "--target",
        ],
    );
}

type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a [&'a str]);

/// Refusals on the fixture's `tools` package: (arguments, environment, what the message says).
/// Every one is refused while planning, before anything compiles.
const FIXTURE_CASES: &[Case] = &[
    (
        &[],
        &[("SOURCE_DATE_EPOCH", "253402300800")],
        &[
            "SOURCE_DATE_EPOCH=`253402300800`",
            "9999-12-31",
            "git log -1",
        ],
    ),
    (
        &[],
        &[("SOURCE_DATE_EPOCH", "-1")],
        &["SOURCE_DATE_EPOCH=`-1` is not a number"],
    ),
    (
        &[],
        &[("SOURCE_DATE_EPOCH", "99999999999999999999999")],
        &["is not a number of seconds"],
    ),
    (
        &["--platform", ""],
        &[],
        &["--platform", "no platform given", "unset CI variable"],
    ),
    (&["--platform", ",, ,"], &[], &["no platform given"]),
    (
        &["-o", "type=oci,dest={out}/a,dest={out}/b"],
        &[],
        &["`dest` is given twice", "give it once"],
    ),
    (
        &["-o", "type=oci,type=docker,dest={out}/a"],
        &[],
        &["`type` is given twice"],
    ),
    (
        &["-o", "type=oci,\"dest={out}/a"],
        &[],
        &["quote that is not closed"],
    ),
    (
        &["-o", "type=oci,dest={out}/a\ndest={out}/b"],
        &[],
        &["line break"],
    ),
    (
        &["--compression", "zstd", "--compression-level", "23"],
        &[],
        &["level 23 is out of range for zstd", "1-22"],
    ),
    (
        &["--compression", "zstd", "--compression-level", "100"],
        &[],
        &["level 100 is out of range for zstd"],
    ),
    (
        &["--compression", "zstd", "--compression-level", "0"],
        &[],
        &["level 0 is out of range for zstd"],
    ),
    (
        &["--compression", "zstd", "--compression-level=-5"],
        &[],
        &["level -5 is out of range for zstd"],
    ),
    (
        &["--compression-level", "10"],
        &[],
        &["level 10 is out of range for gzip", "0-9"],
    ),
    (
        &["--compression-level=-1"],
        &[],
        &["level -1 is out of range for gzip"],
    ),
    (
        &["--compression", "brotli"],
        &[],
        &["unknown compression `brotli`"],
    ),
    (&["--label", "=x"], &[], &["--label `=x` has an empty key"]),
    (
        &["--label", "novalue"],
        &[],
        &["--label `novalue` is not KEY=VALUE"],
    ),
    (&["--env", "=x"], &[], &["--env `=x` has an empty key"]),
    (
        &["--env", "A\nB=x"],
        &[],
        &["environment variable \"A\\nB\"", "line break"],
    ),
    (
        &["--config", "garbage"],
        &[],
        &[
            "--config `garbage` is neither KEY=VALUE nor a file",
            "build.jobs=2",
        ],
    ),
    (
        &["--config", "build.jobs=two"],
        &[],
        &["--config `build.jobs=two`", "quote a string value"],
    ),
    (
        &["--registry-ca", "missing.pem"],
        &[],
        &[
            "--registry-ca missing.pem",
            "give the path of a PEM certificate",
        ],
    ),
    (
        &["--profile", ""],
        &[],
        &["--profile is empty", "release or dev"],
    ),
    (
        &["--profile", "rel/ease"],
        &[],
        &["--profile `rel/ease`", "letters, digits"],
    ),
    (
        &["--annotation", "index[:k=v"],
        &[],
        &[
            "annotation `index[:k`",
            "the `[` after `index` is not closed",
        ],
    ),
    (
        &["--annotation", "manifest[linux/amd64:k=v"],
        &[],
        &[
            "`[` after `manifest` is not closed",
            "manifest[linux/arm64]:KEY=VALUE",
        ],
    ),
    (
        &[
            "--push",
            "-t",
            "127.0.0.1:1/x:1",
            "--metadata-file",
            "{out}",
        ],
        &[],
        &["--metadata-file", "is a directory", "metadata.json"],
    ),
    (
        &["--push", "-t", "127.0.0.1:1/x:1", "--image-refs", "{out}"],
        &[],
        &["--image-refs", "is a directory"],
    ),
    (
        &[],
        &[("CARGO_IMAGEBUILD_PUSH", "maybe")],
        &[
            "CARGO_IMAGEBUILD_PUSH=`maybe` is not true or false",
            "1/0, yes/no",
        ],
    ),
    (
        &[],
        &[("CARGO_IMAGEBUILD_RETRIES", "many")],
        &["CARGO_IMAGEBUILD_RETRIES=`many`", "0 to 20"],
    ),
    (
        &[],
        &[("CARGO_IMAGEBUILD_REGISTRY_TIMEOUT", "0")],
        &["CARGO_IMAGEBUILD_REGISTRY_TIMEOUT=`0`", "1 to 3600"],
    ),
    (
        &[],
        &[("CARGO_IMAGEBUILD_BASE", "Acme/Base")],
        &[
            "CARGO_IMAGEBUILD_BASE=`Acme/Base` (from the environment)",
            "write acme/base",
        ],
    ),
    (
        &[],
        &[("CARGO_IMAGEBUILD_TAGS", ":ok,a:b:c")],
        &[
            "CARGO_IMAGEBUILD_TAGS=`a:b:c` (from the environment)",
            "not a valid image reference",
        ],
    ),
    (
        &[],
        &[("CARGO_IMAGEBUILD_REPO", "Bad Repo")],
        &[
            "CARGO_IMAGEBUILD_REPO=`Bad Repo` (from the environment)",
            "lowercase",
        ],
    ),
    (
        &[],
        &[("CARGO_IMAGEBUILD_PLATFORMS", "linux/amd46")],
        &[
            "CARGO_IMAGEBUILD_PLATFORMS=`linux/amd46`",
            "did you mean `linux/amd64`",
        ],
    ),
    (
        &["--annotation", "novalue"],
        &[],
        &["--annotation `novalue` is not KEY=VALUE"],
    ),
    (&["--port", "70000"], &[], &["`70000` is not a port"]),
    (
        &["--insecure-registry", "http://x"],
        &[],
        &[
            "--insecure-registry http://x",
            "no scheme",
            "127.0.0.1:5000",
        ],
    ),
    (
        &["--insecure-registry", "reg.local:99999"],
        &[],
        &["port `99999`", "1 to 65535"],
    ),
    (&["--base", ""], &[], &["base image is empty", "scratch"]),
    (
        &["--base", "http://x/y"],
        &[],
        &["`http://x/y`", "no URL scheme"],
    ),
    (
        &["--base", "Acme/Base"],
        &[],
        &["lowercase", "write acme/base"],
    ),
    (
        &["-t", "127.0.0.1:99999/x"],
        &[],
        &["`127.0.0.1:99999/x`", "port `99999`", "1 to 65535"],
    ),
    (&["-t", "localhost:0/x:1"], &[], &["port `0`"]),
    (
        &["--repository", "localhost:70000/x"],
        &[],
        &[
            "`localhost:70000/x` is not a valid repository",
            "port `70000`",
        ],
    ),
    (&["--repository", ""], &[], &["is not a valid repository"]),
    (
        &["-t", "a:b:c"],
        &[],
        &["`a:b:c` is not a valid image reference"],
    ),
    (
        &["-o", "type=oci,tar=maybe,dest={out}/x"],
        &[],
        &["tar=maybe must be true or false"],
    ),
    (
        &["-o", "type=registry,dest={out}/x"],
        &[],
        &["type=registry takes no attributes"],
    ),
    (
        &["-o", "type=cacheonly,dest={out}/x"],
        &[],
        &["type=cacheonly takes no attributes"],
    ),
    (
        &["-o", "type=oci,dest={out}/d,platform=linux/amd64"],
        &[],
        &["a layout directory holds every platform", "tar=true"],
    ),
    (
        &["-o", "type=docker,dest={out}/x.tar,context=c"],
        &[],
        &["give one of them"],
    ),
    (&["-o", ""], &[], &["has no type"]),
    (&["-o", "type=oci,dest="], &[], &["dest is empty"]),
    (&["-o", "type=oci,dest"], &[], &["`dest` is not key=value"]),
    (
        &["-o", "type=oci,dest={out}/x,compress=yes"],
        &[],
        &["unknown attribute `compress`"],
    ),
    (
        &["--loader", "rocket", "-o", "type=docker"],
        &[],
        &["--loader `rocket`", "docker or podman"],
    ),
    (
        &["--load", "--load-platform", "linux/amd46"],
        &[],
        &[
            "unknown platform `linux/amd46`",
            "did you mean `linux/amd64`",
        ],
    ),
    (
        &["--platform", "all"],
        &[],
        &["the base is scratch", "--base IMAGE"],
    ),
    (
        &["--platform", "all,linux/amd64"],
        &[],
        &["--platform all stands alone"],
    ),
    (
        &[
            "--target",
            "x86_64-unknown-linux-musl",
            "--target",
            "x86_64-unknown-linux-gnu",
        ],
        &[],
        &["linux/amd64 is asked for twice"],
    ),
    (
        &[
            "--platform",
            "linux/amd64",
            "-o",
            "type=oci,dest={out}/x,platform=linux/arm64,tar=true",
        ],
        &[],
        &["linux/arm64"],
    ),
];

/// Refusals of `[package.metadata.imagebuild]` values: (the table's lines, what the message says).
const METADATA_CASES: &[(&str, &[&str])] = &[
    (
        "ports = [-1]",
        &[
            "[package.metadata.imagebuild]",
            "key `ports[0]`",
            "a port is 1–65535 or \"8080/udp\"",
        ],
    ),
    (
        "bin-dir = \"/../../x\"",
        &[
            "key `bin-dir`",
            "an absolute path inside the image without `.` or `..`",
        ],
    ),
    (
        "env = { \"A\\nB\" = \"x\" }",
        &["key `env.\"A\\nB\"`", "line break"],
    ),
    (
        "annotations = { \"manifest[linux/amd64:k\" = \"v\" }",
        &["annotation `manifest[linux/amd64:k`", "is not closed"],
    ),
    (
        "user = \"root:wheel:extra\"",
        &["user `root:wheel:extra` is not USER[:GROUP]", "1000:1000"],
    ),
    ("user = \"app:\"", &["user `app:` is not USER[:GROUP]"]),
    (
        "labels = { \"\" = \"x\" }",
        &["a label has an empty key (value `x`)"],
    ),
    ("base = \"\"", &["base image is empty"]),
    ("platforms = [\"\"]", &["no platform given"]),
    (
        "compression = \"zstd\"\ncompression-level = 30",
        &["`compression-level`", "30 is out of range"],
    ),
    ("compression = \"lz4\"", &["lz4"]),
    ("tags = []", &["the `tags` setting is empty"]),
    ("tags = [\"bad tag\"]", &["`bad tag` is not a valid tag"]),
    ("ports = [\"99999\"]", &["`99999` is not a port"]),
    ("repository = \"Acme/App\"", &["is not a valid repository"]),
    (
        "[package.metadata.imagebuild.bin.nope]\nuser = \"1\"",
        &["has no binary named `nope`"],
    ),
    (
        "registry-timeout = 0",
        &[
            "key `registry-timeout`",
            "0 is out of range: give 1 to 3600 seconds",
        ],
    ),
    ("retries = 21", &["key `retries`", "21 is out of range"]),
    (
        "cache-limit = \"lots\"",
        &["key `cache-limit`", "`lots` is not a size", "2GiB"],
    ),
    (
        "retries = 2",
        &[
            "`retries` applies to the whole build",
            "[workspace.metadata.imagebuild]",
        ],
    ),
    (
        "[package.metadata.imagebuild.bin.app]\ncache-limit = \"1GiB\"",
        &["`cache-limit` applies to the whole build"],
    ),
];

/// Runs `cases` a few at a time (each is its own process, most of the time spent starting cargo).
fn in_parallel<T: Sync>(cases: &[T], run: impl Fn(&T) + Sync) {
    for chunk in cases.chunks(4) {
        std::thread::scope(|s| {
            for c in chunk {
                s.spawn(|| run(c));
            }
        });
    }
}

#[test]
fn table_of_refused_values() {
    in_parallel(FIXTURE_CASES, |(args, env, expect)| {
        let mut all = vec!["-p", "tools"];
        all.extend_from_slice(args);
        let stderr = refused_with(&fixture(), &all, env, expect);
        assert!(
            !stderr.contains("Compiling"),
            "{args:?} is refused before compiling:\n{stderr}"
        );
        if !env.is_empty() {
            assert!(
                !stderr.contains("'--"),
                "{env:?}: the variable is named, not a flag the user did not pass:\n{stderr}"
            );
        }
    });
    assert!(FIXTURE_CASES.len() + METADATA_CASES.len() >= 55);
}

#[test]
fn table_of_refused_metadata() {
    in_parallel(METADATA_CASES, |(meta, expect)| {
        let ws = pkg(meta);
        let stderr = refused(ws.path(), &[], expect);
        assert!(!stderr.contains("Compiling"), "{meta}: {stderr}");
    });
}

/// Binary names cargo accepts but image references do not: each image gets a name derived from
/// its binary's, and a warning says which; one is built and read back.
#[test]
fn binary_names_that_are_not_image_names_get_one() {
    let bins = [
        ("Hello_World", "hello_world"),
        ("__x", "x"),
        ("a-b-c-", "a-b-c"),
        ("Ωmega", "mega"),
    ];
    let mut manifest =
        "[package]\nname = \"odd\"\nversion = \"0.1.0\"\nedition = \"2021\"\n".to_string();
    let mut files = Vec::new();
    for (i, (bin, _)) in bins.iter().enumerate() {
        manifest.push_str(&format!(
            "\n[[bin]]\nname = \"{bin}\"\npath = \"src/b{i}.rs\"\n"
        ));
        files.push((format!("src/b{i}.rs"), MAIN));
    }
    let mut all: Vec<(&str, &str)> = vec![("Cargo.toml", &manifest)];
    all.extend(files.iter().map(|(p, t)| (p.as_str(), *t)));
    let ws = temp_ws(&all);
    for (bin, name) in bins {
        let out = run_ok(imagebuild_in(ws.path()).args(["--bin", bin, "--dry-run"]));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!(
                "binary `{bin}` is not a valid image name: its image is named `{name}`"
            )),
            "{stderr}"
        );
        assert!(
            stdout(&out).contains(&format!("repository: {name}\n")),
            "{}",
            stdout(&out)
        );
    }
    let dest = ws.path().join("out");
    run_ok(imagebuild_in(ws.path()).args([
        "--bin",
        "Hello_World",
        "--platform",
        "linux/amd64",
        "-o",
        &format!("type=oci,dest={}", dest.display()),
    ]));
    validate_layout(&dest);
    let index = std::fs::read_to_string(dest.join("index.json")).unwrap();
    assert!(index.contains("\"hello_world:0.1.0\""), "{index}");
}

/// A dest that is a symlink to a layout: the layout it points at is replaced and the link stays.
/// Written under umask 022, every file of the layout is 0644 and every directory 0755, so
/// another user (a CI step running skopeo as nobody) can read it.
#[test]
fn symlinked_dest_is_followed_and_outputs_are_readable_by_all() {
    use std::os::unix::fs::PermissionsExt;
    let out = tempfile::tempdir().unwrap();
    let real = out.path().join("real");
    let link = out.path().join("link");
    let build = |dest: &Path, tag: &str| {
        let mut c = std::process::Command::new("sh");
        c.current_dir(fixture())
            .env("CARGO_TARGET_DIR", shared_target_dir())
            .env("NO_COLOR", "1")
            .env_remove("SOURCE_DATE_EPOCH")
            .args(["-c", "umask 022; exec \"$0\" \"$@\""])
            .arg(env!("CARGO_BIN_EXE_cargo-imagebuild"))
            .args(["-p", "tools", "--platform", "linux/amd64", "-t", tag, "-o"])
            .arg(format!("type=oci,dest={}", dest.display()));
        run_ok(&mut c);
    };
    build(&real, ":first");
    std::os::unix::fs::symlink("real", &link).unwrap();
    build(&link, ":second");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link is kept"
    );
    let index = std::fs::read_to_string(real.join("index.json")).unwrap();
    assert!(
        index.contains("\"second\""),
        "the target was replaced: {index}"
    );
    validate_layout(&real);
    let mut todo = vec![real.clone()];
    while let Some(p) = todo.pop() {
        let meta = std::fs::metadata(&p).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        if meta.is_dir() {
            assert_eq!(mode, 0o755, "{}", p.display());
            todo.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            assert_eq!(mode, 0o644, "{}", p.display());
        }
    }
    let left: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left.len(),
        2,
        "no temporary left beside the outputs: {left:?}"
    );
}

#[test]
fn annotation_levels_that_cannot_apply() {
    refused(
        &fixture(),
        &[
            "-p",
            "tools",
            "--platform",
            "linux/amd64",
            "--annotation",
            "manifest[linux/arm64]:k=v",
        ],
        &[
            "names linux/arm64, which is not built",
            "--platform linux/arm64",
        ],
    );
    refused(
        &fixture(),
        &["-p", "tools", "--annotation", "index[linux/amd64]:k=v"],
        &["the index level takes no platform"],
    );
    refused(
        &fixture(),
        &[
            "-p",
            "tools",
            "--no-remap-paths",
            "--annotation",
            "manifest[linux/amd99]:k=v",
        ],
        &["annotation `manifest[linux/amd99]:k`"],
    );
}

/// Annotations that would make a manifest larger than the 4 MiB registries accept are refused
/// while planning, before anything compiles or uploads, saying so.
#[test]
fn a_manifest_over_4_mib_is_refused_before_anything_is_built() {
    let big = "x".repeat(5 << 20);
    let ws = pkg(&format!("annotations = {{ big = \"{big}\" }}"));
    let stderr = refused(
        ws.path(),
        &["--push", "-t", "127.0.0.1:1/app:1"],
        &[
            "manifest of app would be",
            "more than the 4 MiB (4194304 bytes) that registries accept",
            "annotations",
        ],
    );
    assert!(
        !stderr.contains("Compiling"),
        "{}",
        &stderr[..stderr.len().min(2000)]
    );
    assert!(stderr.len() < 4000, "the message does not repeat the value");
}

/// CARGO_IMAGEBUILD_PUSH takes the spellings cargo and CI systems use for booleans: `no`,
/// `0` and `off` push nothing (the plan shows no registry output), `yes`, `1` and `on` push.
#[test]
fn push_variable_takes_yes_no_1_0_on_off() {
    for (value, pushes) in [
        ("no", false),
        ("0", false),
        ("OFF", false),
        ("yes", true),
        ("1", true),
        ("on", true),
    ] {
        let out = run_ok(
            imagebuild()
                .args(["-p", "tools", "--platform", "linux/amd64", "--dry-run"])
                .args(["-t", "127.0.0.1:1/tools:1"])
                .env("CARGO_IMAGEBUILD_PUSH", value),
        );
        let plan = stdout(&out);
        assert_eq!(
            plan.contains("output: push"),
            pushes,
            "CARGO_IMAGEBUILD_PUSH={value}:\n{plan}"
        );
    }
}

/// `platforms` and `doctor` take cargo's `--config` too, and refuse a value cargo would.
#[test]
fn subcommands_refuse_a_config_that_is_not_key_value() {
    for sub in ["platforms", "doctor"] {
        let out = imagebuild()
            .args([sub, "--config", "garbage"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{sub}: {stderr}");
        assert!(
            stderr.contains("--config `garbage` is neither KEY=VALUE nor a file"),
            "{sub}: {stderr}"
        );
        assert!(stdout(&out).is_empty(), "{sub} printed no table");
    }
}

/// `merge` and `sbom` refuse a --registry-ca that holds no certificate before they read any
/// layout or registry, naming the file.
#[test]
fn merge_and_sbom_refuse_a_missing_registry_ca_first() {
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("merged");
    let cases: [Vec<String>; 2] = [
        vec![
            "merge".into(),
            "a".into(),
            "b".into(),
            "--registry-ca".into(),
            "missing.pem".into(),
            "-o".into(),
            format!("type=oci,dest={}", dest.display()),
        ],
        vec![
            "sbom".into(),
            "127.0.0.1:1/x:1".into(),
            "--registry-ca".into(),
            "missing.pem".into(),
            "--out".into(),
            dest.display().to_string(),
        ],
    ];
    for args in cases {
        let o = imagebuild().args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot read --registry-ca missing.pem"),
            "{args:?}: {stderr}"
        );
        assert!(!dest.exists(), "{args:?}: nothing written");
    }
}
