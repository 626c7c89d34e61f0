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

/// Runs our binary in `dir` with `args` writing to a fresh destination; checks the failure
/// message contains every one of `expect`, and that the destination's directory stays empty.
fn refused(dir: &Path, args: &[&str], expect: &[&str]) -> String {
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("image");
    let mut cmd = imagebuild_in(dir);
    cmd.args(args);
    if !args.iter().any(|a| a.starts_with("--output") || *a == "-o") {
        cmd.args(["--output", &format!("type=oci,dest={}", dest.display())]);
    }
    let stderr = run_err(&mut cmd);
    for e in expect {
        assert!(stderr.contains(e), "the message lacks `{e}`:\n{stderr}");
    }
    assert!(
        stderr.starts_with("error: ") || stderr.contains("\nerror: "),
        "{stderr}"
    );
    let left: Vec<PathBuf> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "partial output left behind: {left:?}");
    stderr
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
