//! gnu binaries and the glibc of their base. Bases are made from this machine's files and
//! pushed to a real registry (`docker-registry`) with buildah: Debian 12's own glibc (2.36), the
//! same with a `libc.so.6` that defines only `GLIBC_2.2.5` … `GLIBC_2.28` (a small C library
//! built here by gcc with a version script), and riscv64's from Debian's cross package
//! (`libc6-riscv64-cross`). Binaries are checked with `objdump -T` (binutils) and run in the
//! unpacked image: chroot for amd64, qemu with the image as its loader prefix for riscv64.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;

use common::bases::{push_files_base, GLIBC_LIBRARIES};
use common::path::path_without;
use common::registry::{Kind, Registry};
use common::*;

static PLAIN: LazyLock<Registry> = LazyLock::new(|| Registry::start(Kind::Plain));

/// A one-package workspace `hello` under `dir` whose binary starts a thread and prints.
fn hello_workspace(dir: &Path) -> PathBuf {
    let ws = one_package_workspace(dir, "hello", "");
    std::fs::write(
        ws.join("src/main.rs"),
        "fn main() {\n    let t = std::thread::spawn(|| 40 + 2);\n    \
         println!(\"hello {}\", t.join().unwrap());\n}\n",
    )
    .unwrap();
    ws
}

/// The target directory of this file's builds, kept across runs.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("fixture-target-glibc")
}

/// The highest `GLIBC_2.N` version `objdump -T` lists for `exe`, as N.
fn highest_glibc(exe: &Path) -> u32 {
    let out = run_ok(Command::new(require("objdump")).arg("-T").arg(exe));
    let text = stdout(&out);
    let minors: Vec<u32> = text
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|w| w.strip_prefix("GLIBC_2."))
        .filter_map(|m| m.split('.').next()?.parse().ok())
        .collect();
    assert!(
        !minors.is_empty(),
        "objdump -T shows no GLIBC version:\n{text}"
    );
    minors.into_iter().max().unwrap()
}

/// A `libc.so.6` that defines the symbol versions `GLIBC_2.2.5` … `GLIBC_2.28` and no newer
/// ones (each with one function), built by gcc in `dir`.
fn old_libc(dir: &Path) -> PathBuf {
    let mut versions = vec![
        "2.2.5".to_string(),
        "2.3".into(),
        "2.3.2".into(),
        "2.3.4".into(),
    ];
    versions.extend((4..=28).map(|m| format!("2.{m}")));
    let mut script = String::new();
    let mut source = String::new();
    let mut previous: Option<String> = None;
    for (i, v) in versions.iter().enumerate() {
        source.push_str(&format!("int old_libc_{i}(void) {{ return {i}; }}\n"));
        let local = if i == 0 { " local: *;" } else { "" };
        let inherits = previous
            .as_deref()
            .map(|p| format!(" GLIBC_{p}"))
            .unwrap_or_default();
        script.push_str(&format!(
            "GLIBC_{v} {{ global: old_libc_{i};{local} }}{inherits};\n"
        ));
        previous = Some(v.clone());
    }
    std::fs::write(dir.join("old.c"), source).unwrap();
    std::fs::write(dir.join("old.map"), script).unwrap();
    let lib = dir.join("libc.so.6");
    run_ok(
        Command::new(require("gcc"))
            .current_dir(dir)
            .args(["-shared", "-fPIC", "-nostdlib", "-o"])
            .arg(&lib)
            .args([
                "old.c",
                "-Wl,--version-script=old.map",
                "-Wl,-soname,libc.so.6",
            ]),
    );
    lib
}

/// This machine's glibc (amd64), with `libc.so.6` taken from `libc` when given.
fn amd64_glibc_files(libc: Option<&Path>) -> Vec<(PathBuf, String)> {
    let mut files = vec![(
        PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
        "/lib64/ld-linux-x86-64.so.2".to_string(),
    )];
    for lib in GLIBC_LIBRARIES {
        let from = match (lib, libc) {
            (&"libc.so.6", Some(l)) => l.to_path_buf(),
            _ => Path::new("/lib/x86_64-linux-gnu").join(lib),
        };
        files.push((from, format!("/lib/x86_64-linux-gnu/{lib}")));
    }
    files
}

fn push_base(arch: &str, files: &[(PathBuf, String)], repo: &str) -> String {
    let files: Vec<(&Path, &str)> = files
        .iter()
        .map(|(f, t)| (f.as_path(), t.as_str()))
        .collect();
    push_files_base(&PLAIN, arch, &files, repo)
}

/// With no `--glibc`, a gnu build on a base whose libc goes up to 2.28 takes the base's glibc:
/// zig links against 2.28 (`-v` says it came from the base), the check passes and `objdump -T`
/// shows nothing above 2.28. An explicit `--glibc 2.36` wins over the base's and is refused
/// there before anything is written, naming the needed version, the base's, and both fixes
/// (`--glibc 2.28`, a newer base). Through `CARGO_IMAGEBUILD_GLIBC=2.28` (which wins over the
/// 2.36 of Debian 12's real glibc) the binary runs in the unpacked image.
#[test]
fn the_base_glibc_is_the_default_and_an_explicit_one_wins() {
    let work = tempfile::tempdir().unwrap();
    let ws = hello_workspace(&work.path().join("ws"));
    let libc = old_libc(work.path());
    let old = push_base("amd64", &amd64_glibc_files(Some(&libc)), "glibc-2-28");
    let debian = push_base("amd64", &amd64_glibc_files(None), "glibc-debian12");
    let build = |base: &str, dest: &Path| {
        let mut c = imagebuild_isolated_in(&ws, work.path());
        c.env("CARGO_TARGET_DIR", target_dir())
            .env_remove("CARGO_IMAGEBUILD_GLIBC")
            .args(["--target", "x86_64-unknown-linux-gnu", "--base", base])
            .args(["--output", &format!("type=oci,dest={}", dest.display())]);
        c
    };
    let exe = target_dir().join("x86_64-unknown-linux-gnu/release/hello");

    // No --glibc: the base's own glibc, read from its libc.so.6.
    let accepted = work.path().join("accepted");
    let out = run_ok(build(&old, &accepted).arg("-v"));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("linker zig cc -target x86_64-linux-gnu.2.28")
            && said.contains("dynamic glibc 2.28 (the base's)"),
        "{said}"
    );
    validate_layout(&accepted);
    assert!(highest_glibc(&exe) <= 28, "linked against glibc 2.28");
    let rootfs = unpack_platform(
        &format!("oci:{}:0.1.0", accepted.display()),
        "amd64",
        None,
        work.path(),
    )
    .join("rootfs");
    assert!(highest_glibc(&rootfs.join("usr/local/bin/hello")) <= 28);

    // An explicit, newer glibc wins, and the check refuses it on this base.
    let refused = work.path().join("refused");
    let err = run_err(build(&old, &refused).args(["--glibc", "2.36"]));
    assert!(
        err.contains("hello for linux/amd64 needs GLIBC_2.3")
            && err.contains(&format!(
                "the `{old}` base's libc.so.6 goes up to GLIBC_2.28"
            ))
            && err.contains("`--glibc 2.28`")
            && err.contains("use a newer base"),
        "{err}"
    );
    assert!(!refused.exists(), "nothing is written after a refusal");

    // The environment variable does the same; on Debian 12's glibc the binary runs.
    let real = work.path().join("real");
    let out = run_ok(
        build(&debian, &real)
            .env("CARGO_IMAGEBUILD_GLIBC", "2.28")
            .arg("-v"),
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("dynamic glibc 2.28") && !said.contains("(the base's)"),
        "{said}"
    );
    assert!(
        highest_glibc(&exe) <= 28,
        "the user's glibc, not the base's 2.36"
    );
    let rootfs = work.path().join("real-unpacked");
    std::fs::create_dir_all(&rootfs).unwrap();
    let rootfs = unpack_platform(
        &format!("oci:{}:0.1.0", real.display()),
        "amd64",
        None,
        &rootfs,
    )
    .join("rootfs");
    let ran = run_ok(
        Command::new("chroot")
            .arg(&rootfs)
            .arg("/usr/local/bin/hello"),
    );
    assert_eq!(stdout(&ran).trim(), "hello 42");
}

/// Offline with no zig to be had (none on PATH, none cached), the base's glibc is not taken:
/// the target is linked as before (here dynamically, as the user's flags ask, by the host's cc
/// against this machine's glibc 2.36), `-v` says why, and the 2.28 base refuses the binary
/// naming `--glibc 2.28`.
#[test]
fn without_zig_the_base_glibc_is_not_taken_and_the_check_names_it() {
    let work = tempfile::tempdir().unwrap();
    let ws = hello_workspace(&work.path().join("ws"));
    let libc = old_libc(work.path());
    let old = push_base("amd64", &amd64_glibc_files(Some(&libc)), "glibc-2-28-nozig");
    let (_farm, path) = path_without(&["zig", "python3", "python"]);
    let dest = work.path().join("refused");
    let out = imagebuild_isolated_in(&ws, work.path())
        .env("CARGO_TARGET_DIR", target_dir())
        .env("PATH", &path)
        .env_remove("CARGO_IMAGEBUILD_GLIBC")
        .env_remove("CARGO_ZIGBUILD_ZIG_PATH")
        .env("RUSTFLAGS", "-C target-feature=-crt-static")
        .args(["--offline", "-v", "--target", "x86_64-unknown-linux-gnu"])
        .args(["--base", &old])
        .args(["--output", &format!("type=oci,dest={}", dest.display())])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("zig is needed (to link x86_64-unknown-linux-gnu against the base's glibc)")
            && err.contains("linked as without --glibc")
            && err.contains("linker cc")
            && !err.contains("(the base's)"),
        "{err}"
    );
    assert!(
        err.contains("hello for linux/amd64 needs GLIBC_2.3") && err.contains("`--glibc 2.28`"),
        "{err}"
    );
    assert!(!dest.exists(), "nothing is written after a refusal");
}

/// A gnu build for linux/riscv64 with `--glibc` and no riscv64 cross gcc on PATH: zig links it,
/// and the binary runs under qemu with the loader and libraries of a base made from Debian's
/// cross package (`/usr/riscv64-linux-gnu/lib`).
#[test]
fn a_gnu_platform_links_with_zig_and_no_cross_gcc() {
    let work = tempfile::tempdir().unwrap();
    let ws = hello_workspace(&work.path().join("ws"));
    let cross = Path::new("/usr/riscv64-linux-gnu/lib");
    let mut files = vec![(
        cross.join("ld-linux-riscv64-lp64d.so.1"),
        "/lib/ld-linux-riscv64-lp64d.so.1".to_string(),
    )];
    for lib in GLIBC_LIBRARIES {
        files.push((cross.join(lib), format!("/lib/riscv64-linux-gnu/{lib}")));
    }
    let base = push_base("riscv64", &files, "glibc-riscv64");
    let (_farm, path) = path_without(&["riscv64-linux-gnu-gcc", "riscv64-linux-gnu-gcc-12"]);
    let layout = work.path().join("riscv64");
    let out = run_ok(
        imagebuild_isolated_in(&ws, work.path())
            .env("CARGO_TARGET_DIR", target_dir())
            .env("PATH", &path)
            .args(["--platform", "linux/riscv64", "--glibc", "2.31", "-v"])
            .args(["--base", &base])
            .args(["--output", &format!("type=oci,dest={}", layout.display())]),
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("riscv64gc-unknown-linux-gnu")
            && said.contains("linker zig cc -target riscv64-linux-gnu.2.31"),
        "{said}"
    );
    let exe = target_dir().join("riscv64gc-unknown-linux-gnu/release/hello");
    assert!(highest_glibc(&exe) <= 31);
    let rootfs = unpack_platform(
        &format!("oci:{}:0.1.0", layout.display()),
        "riscv64",
        None,
        work.path(),
    )
    .join("rootfs");
    let ran = run_ok(
        Command::new(require("qemu-riscv64-static"))
            .arg("-L")
            .arg(&rootfs)
            .arg(rootfs.join("usr/local/bin/hello"))
            .env_clear(),
    );
    assert_eq!(stdout(&ran).trim(), "hello 42");
}

/// A riscv64 glibc older than glibc's first riscv64 release, a malformed version in the
/// metadata table and `--glibc` on scratch are refused before compiling, each naming its fix.
#[test]
fn glibc_mistakes_are_refused_before_compiling() {
    let work = tempfile::tempdir().unwrap();
    let ws = hello_workspace(&work.path().join("ws"));
    let run = |args: &[&str]| {
        run_err(
            imagebuild_isolated_in(&ws, work.path())
                .env("CARGO_TARGET_DIR", target_dir())
                .env_remove("CARGO_IMAGEBUILD_GLIBC")
                .args(args),
        )
    };
    let e = run(&[
        "--platform",
        "linux/riscv64",
        "--glibc",
        "2.17",
        "--base",
        "127.0.0.1:1/x:1",
    ]);
    assert!(e.contains("from 2.27") && e.contains("--glibc 2.27"), "{e}");
    let e = run(&["--target", "x86_64-unknown-linux-gnu", "--glibc", "2.28"]);
    assert!(
        e.contains("`scratch` base has no C library") && e.contains("drop --glibc"),
        "{e}"
    );
    let e = run(&["--glibc", "2.x"]);
    assert!(e.contains("`2.x` is not a glibc version"), "{e}");
    let bad = hello_workspace(&work.path().join("bad"));
    let toml = std::fs::read_to_string(bad.join("Cargo.toml")).unwrap();
    std::fs::write(bad.join("Cargo.toml"), format!("{toml}glibc = \"abc\"\n")).unwrap();
    let e = run_err(
        imagebuild_isolated_in(&bad, work.path())
            .env("CARGO_TARGET_DIR", target_dir())
            .env_remove("CARGO_IMAGEBUILD_GLIBC"),
    );
    assert!(
        e.contains("key `glibc`") && e.contains("`abc` is not a glibc version"),
        "{e}"
    );
}

/// A glibc binary on a musl base (alpine-like: its loader `/lib/ld-musl-x86_64.so.1`, from
/// Debian's musl package) is refused before anything is written, naming both C libraries and
/// the static musl target as the fix.
#[test]
fn a_glibc_binary_on_a_musl_base_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let ws = hello_workspace(&work.path().join("ws"));
    let musl = push_base(
        "amd64",
        &[(
            PathBuf::from("/usr/lib/x86_64-linux-musl/libc.so"),
            "/lib/ld-musl-x86_64.so.1".to_string(),
        )],
        "musl-base",
    );
    let dest = work.path().join("refused");
    let err = run_err(
        imagebuild_isolated_in(&ws, work.path())
            .env("CARGO_TARGET_DIR", target_dir())
            .args(["--target", "x86_64-unknown-linux-gnu", "--glibc", "2.28"])
            .args(["--base", &musl])
            .args(["--output", &format!("type=oci,dest={}", dest.display())]),
    );
    assert!(
        err.contains("hello for linux/amd64 is linked dynamically against glibc")
            && err.contains(&format!(
                "the `{musl}` base is a musl base (it has /lib/ld-musl-x86_64.so.1"
            ))
            && err.contains("--target x86_64-unknown-linux-musl"),
        "{err}"
    );
    assert!(!dest.exists(), "nothing is written after a refusal");
}
