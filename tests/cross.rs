//! Cross-compilation for every Linux platform of the table, end to end (and C++ with the default
//! builder for amd64 and arm64, zig's libc++ linked statically): a fixture whose binary
//! calls C code (compiled by the `cc` crate) is built for seven platforms in one run, each image
//! is unpacked by umoci and its binary run under the matching qemu on its scratch base; the
//! zigbuild builder builds and runs too; wrong-architecture and dynamically linked binaries are
//! refused; real crates.io crates with C (ring, aws-lc, jemalloc, SQLite, zstd, zlib, bzip2, lzma,
//! mimalloc) build for amd64, arm64 and 386 with zig provisioned on demand, and run; missing
//! linkers and C compilers are named, with their fix, by the build and by
//! `doctor`, and `doctor --fix --yes` installs a really missing cross gcc.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};

use cargo_imagebuild::internals::elf::{inspect, BinaryFormat};
use common::path::path_without;
use common::*;

/// Issue 21's proof of the dependency list in the binary: `rust-audit-info` (crates.io, the
/// reader of cargo-auditable's `.dep-v0` section) reads it from `exe`, one package is the root,
/// and its runtime packages are exactly what `cargo tree -e normal` lists for `triple`.
fn assert_dependency_list_is_cargo_tree(exe: &Path, workspace: &Path, triple: &str) {
    let out = run_ok(Command::new("rust-audit-info").arg(exe));
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = info["packages"].as_array().unwrap();
    let roots: Vec<&str> = packages
        .iter()
        .filter(|p| p["root"] == true)
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(roots, ["realcrates"]);
    let runtime: std::collections::BTreeSet<String> = packages
        .iter()
        .filter(|p| p["kind"] != "build")
        .map(|p| {
            format!(
                "{} v{}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        packages
            .iter()
            .any(|p| p["kind"] == "build" && p["name"] == "cc"),
        "build dependencies are listed as such: {info}"
    );
    let tree = run_ok(
        Command::new("cargo")
            .current_dir(workspace)
            .args(["tree", "--locked", "-e", "normal", "--prefix", "none"])
            .args(["--format", "{p}", "--target", triple]),
    );
    let listed: std::collections::BTreeSet<String> = String::from_utf8_lossy(&tree.stdout)
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some(format!("{} {}", w.next()?, w.next()?))
        })
        .collect();
    assert_eq!(
        runtime, listed,
        "{triple}: .dep-v0 against cargo tree -e normal"
    );
}

/// The fixture with C code: one binary, `ccdemo`.
fn cc_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cc")
}

/// A target directory of its own, for builds that must not share artifacts with the others
/// (another builder or a fake linker writes the same `<triple>/release/<bin>` path).
fn own_target_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fixture-target-{name}"))
}

/// Held by every test here that builds or checks linux/riscv64: one of them removes the riscv64
/// cross gcc from this machine for a while.
static RISCV64: Mutex<()> = Mutex::new(());

fn riscv64_lock() -> MutexGuard<'static, ()> {
    RISCV64.lock().unwrap_or_else(|e| e.into_inner())
}

/// What `ccdemo` prints on each platform: Rust's view, then the C code's.
const PLATFORMS: &[(&str, &str, Option<&str>, &str)] = &[
    ("linux/amd64", "amd64", None, "arch=x86_64 c_answer=42 c_len=2 c_bits=64 c_endian=little rust_bits=64 rust_endian=little"),
    ("linux/arm64", "arm64", None, "arch=aarch64 c_answer=42 c_len=2 c_bits=64 c_endian=little rust_bits=64 rust_endian=little"),
    ("linux/arm/v7", "arm", Some("v7"), "arch=arm c_answer=42 c_len=2 c_bits=32 c_endian=little rust_bits=32 rust_endian=little"),
    ("linux/386", "386", None, "arch=x86 c_answer=42 c_len=2 c_bits=32 c_endian=little rust_bits=32 rust_endian=little"),
    ("linux/ppc64le", "ppc64le", None, "arch=powerpc64 c_answer=42 c_len=2 c_bits=64 c_endian=little rust_bits=64 rust_endian=little"),
    ("linux/s390x", "s390x", None, "arch=s390x c_answer=42 c_len=2 c_bits=64 c_endian=big rust_bits=64 rust_endian=big"),
    ("linux/riscv64", "riscv64", None, "arch=riscv64 c_answer=42 c_len=2 c_bits=64 c_endian=little rust_bits=64 rust_endian=little"),
];

/// The root filesystem of the C fixture's image for `arch` in the layout at `layout` (tag 0.2.0),
/// unpacked under `work`.
fn cc_rootfs(layout: &Path, arch: &str, work: &Path) -> PathBuf {
    let reference = format!("oci:{}:0.2.0", layout.display());
    unpack_platform(&reference, arch, None, work).join("rootfs")
}

/// The qemu that runs an OCI architecture here, or `None` for this machine's own.
fn qemu_for(arch: &str) -> Option<&'static str> {
    let q = match arch {
        "amd64" => "qemu-x86_64-static",
        "arm64" => "qemu-aarch64-static",
        "arm" => "qemu-arm-static",
        "386" => "qemu-i386-static",
        "ppc64le" => "qemu-ppc64le-static",
        "s390x" => "qemu-s390x-static",
        "riscv64" => "qemu-riscv64-static",
        other => panic!("no qemu known for {other}"),
    };
    (!(arch == "amd64" && std::env::consts::ARCH == "x86_64")).then_some(q)
}

/// Runs the image's binary from its unpacked rootfs; under qemu the rootfs is the loader prefix
/// (`-L`), so a dynamic binary would look for its loader in the image, as it would in a container.
fn run_in_rootfs(rootfs: &Path, bin: &str, arch: &str) -> String {
    run_in_rootfs_with(rootfs, bin, arch, &[])
}

/// [`run_in_rootfs`] with arguments for the binary.
fn run_in_rootfs_with(rootfs: &Path, bin: &str, arch: &str, args: &[&str]) -> String {
    let exe = rootfs.join(bin.trim_start_matches('/'));
    let mut cmd = match qemu_for(arch) {
        Some(q) => {
            let mut c = Command::new(require(q));
            c.arg("-L").arg(rootfs).arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    stdout(&run_ok(cmd.args(args).env_clear()))
        .trim()
        .to_string()
}

fn interpreter(exe: &Path) -> Option<String> {
    match inspect(exe).unwrap() {
        BinaryFormat::Elf { interpreter, .. } => interpreter,
        other => panic!("{} is not ELF: {other:?}", exe.display()),
    }
}

/// The proof of the issue: seven platforms, C code and Rust code, one cargo run for all targets,
/// each image unpacked and run on its scratch base. musl targets get `zig cc` for their C code and
/// rust-lld as linker; gnu targets get the Debian cross gcc and static glibc.
#[test]
fn seven_platforms_with_c_code_run_on_scratch_under_qemu() {
    let _riscv64 = riscv64_lock();
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let platforms: Vec<&str> = PLATFORMS.iter().map(|p| p.0).collect();
    let out = run_ok(imagebuild_in(&cc_fixture()).args([
        "-v",
        "--platform",
        &platforms.join(","),
        "--output",
        &format!("type=oci,dest={}", layout.display()),
    ]));
    let err = String::from_utf8_lossy(&out.stderr);
    validate_layout(&layout);

    // One cargo invocation for all seven targets (each one's linker and C compiler set through
    // target-named variables).
    let cargo_runs: Vec<&str> = err
        .lines()
        .filter(|l| l.trim_start().starts_with("Running ") && l.contains("--message-format"))
        .collect();
    assert_eq!(cargo_runs.len(), 1, "{err}");
    for triple in [
        "x86_64-unknown-linux-musl",
        "aarch64-unknown-linux-musl",
        "armv7-unknown-linux-gnueabihf",
        "i686-unknown-linux-musl",
        "powerpc64le-unknown-linux-gnu",
        "s390x-unknown-linux-gnu",
        "riscv64gc-unknown-linux-gnu",
    ] {
        let arg = format!("\"--target\" \"{triple}\"");
        assert!(cargo_runs[0].contains(&arg), "no {arg} in:\n{err}");
    }
    for route in [
        "Route x86_64-unknown-linux-musl: cargo, linker rust-lld, C compiler zig cc -target x86_64-linux-musl (C code in ccdemo (cc))",
        "Route aarch64-unknown-linux-musl: cargo, linker rust-lld, C compiler zig cc -target aarch64-linux-musl",
        "Route i686-unknown-linux-musl: cargo, linker rust-lld, C compiler zig cc -target x86-linux-musl",
        "Route armv7-unknown-linux-gnueabihf: cargo, linker arm-linux-gnueabihf-gcc, C compiler arm-linux-gnueabihf-gcc, static glibc",
        "Route powerpc64le-unknown-linux-gnu: cargo, linker powerpc64le-linux-gnu-gcc",
        "Route s390x-unknown-linux-gnu: cargo, linker s390x-linux-gnu-gcc",
        "Route riscv64gc-unknown-linux-gnu: cargo, linker riscv64-linux-gnu-gcc",
    ] {
        assert!(err.contains(route), "no `{route}` in:\n{err}");
    }
    // Stage times with -v, including how much packing overlapped compiling.
    for stage in [
        "Timing compile: ",
        " for 7 targets (",
        "Timing pack: ",
        "while cargo was compiling",
        "Timing total: ",
    ] {
        assert!(err.contains(stage), "no `{stage}` in:\n{err}");
    }

    let printed = parse_digests(&stdout(&out));
    let listed: Vec<&str> = printed[0].2.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(listed, platforms);
    let reference = format!("oci:{}:0.2.0", layout.display());
    for (platform, arch, variant, expect) in PLATFORMS {
        let bundle = unpack_platform(&reference, arch, *variant, work.path());
        let rootfs = bundle.join("rootfs");
        let exe = rootfs.join("usr/local/bin/ccdemo");
        assert_eq!(
            interpreter(&exe),
            None,
            "{platform}: the binary on scratch must be static"
        );
        let got = run_in_rootfs(&rootfs, "/usr/local/bin/ccdemo", arch);
        assert_eq!(&got, expect, "{platform}");
    }
}

/// C++ with the default builder: a build script compiling C++ with the `cc` crate (`.cpp(true)`,
/// `std::vector`, `std::sort`, a thrown and caught exception) builds for amd64 and arm64 musl with
/// `zig c++` as the C++ compiler and zig's libc++ linked statically by rust-lld, and each image's
/// binary runs (arm64 under qemu) and prints what its C++ code computed.
#[test]
fn cxx_code_builds_with_the_default_builder_and_runs() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cxx");
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let out = run_ok(imagebuild_in(&fixture).args([
        "-v",
        "--platform",
        "linux/amd64,linux/arm64",
        "--output",
        &format!("type=oci,dest={}", layout.display()),
    ]));
    let err = String::from_utf8_lossy(&out.stderr);
    validate_layout(&layout);
    for (triple, zig) in [
        ("x86_64-unknown-linux-musl", "x86_64-linux-musl"),
        ("aarch64-unknown-linux-musl", "aarch64-linux-musl"),
    ] {
        let route = format!(
            "Route {triple}: cargo, linker rust-lld, C compiler zig cc -target {zig}, C++ runtime \
             zig's libc++ (static) (C code in cxxdemo (cc))"
        );
        assert!(err.contains(&route), "no `{route}` in:\n{err}");
    }
    let reference = format!("oci:{}:0.1.0", layout.display());
    for (arch, expect) in [
        ("amd64", "arch=x86_64 cxx_median=5 cxx_caught=1"),
        ("arm64", "arch=aarch64 cxx_median=5 cxx_caught=1"),
    ] {
        let rootfs = unpack_platform(&reference, arch, None, work.path()).join("rootfs");
        let exe = rootfs.join("usr/local/bin/cxxdemo");
        assert_eq!(interpreter(&exe), None, "{arch}: must be static");
        assert_eq!(
            run_in_rootfs(&rootfs, "/usr/local/bin/cxxdemo", arch),
            expect
        );
    }
}

/// Issue 22's C++ crate from crates.io: snmalloc-rs (snmalloc is C++ built by cmake, its build
/// script asks for glibc's -lpthread, -latomic, -lgcc_s, ...) as the global allocator builds for
/// amd64 and arm64 musl with the default builder: cmake runs `zig c++`, zig's libc++ is linked
/// statically, the glibc-only library names are satisfied by empty archives, and each image's
/// binary runs (arm64 under qemu). With cmake hidden, the build is refused before compiling,
/// naming cmake and the line that installs it.
#[test]
fn snmalloc_from_crates_io_builds_with_the_default_builder_and_runs() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/snmalloc");
    let target_dir = own_target_dir("snmalloc");
    let (_farm, no_cmake) = path_without(&["cmake"]);
    let err = run_err(
        imagebuild_in(&fixture)
            .env("CARGO_TARGET_DIR", &target_dir)
            .env("PATH", &no_cmake)
            .args(["--platform", "linux/amd64"]),
    );
    assert!(
        err.contains("not on PATH: cmake")
            && err.contains("apt-get install cmake")
            && !err.contains("Compiling"),
        "{err}"
    );

    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let out = run_ok(
        imagebuild_in(&fixture)
            .env("CARGO_TARGET_DIR", &target_dir)
            .args(["-v", "--platform", "linux/amd64,linux/arm64"])
            .args(["--output", &format!("type=oci,dest={}", layout.display())]),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    validate_layout(&layout);
    for (triple, zig) in [
        ("x86_64-unknown-linux-musl", "x86_64-linux-musl"),
        ("aarch64-unknown-linux-musl", "aarch64-linux-musl"),
    ] {
        let route = format!(
            "Route {triple}: cargo, linker rust-lld, C compiler zig cc -target {zig}, C++ runtime \
             zig's libc++ (static) (C code in snmalloc-sys (cmake))"
        );
        assert!(err.contains(&route), "no `{route}` in:\n{err}");
    }
    let reference = format!("oci:{}:0.1.0", layout.display());
    for arch in ["amd64", "arm64"] {
        let rootfs = unpack_platform(&reference, arch, None, work.path()).join("rootfs");
        let exe = rootfs.join("usr/local/bin/snmdemo");
        assert_eq!(interpreter(&exe), None, "{arch}: must be static");
        assert_eq!(
            run_in_rootfs(&rootfs, "/usr/local/bin/snmdemo", arch),
            "snmalloc sum=4999950000 bytes=2016000",
            "{arch}"
        );
    }
}

/// `--builder zigbuild`: cargo-zigbuild links a static musl binary that runs; for a gnu target on
/// scratch it is refused before anything compiles, since zig cannot link glibc statically.
#[test]
fn zigbuild_builder_builds_musl_and_refuses_static_glibc() {
    let target_dir = own_target_dir("zigbuild");
    let err = run_err(
        imagebuild_in(&cc_fixture())
            .env("CARGO_TARGET_DIR", &target_dir)
            .args([
                "--target",
                "aarch64-unknown-linux-gnu",
                "--builder",
                "zigbuild",
            ]),
    );
    assert!(
        err.contains("zig cannot link glibc statically")
            && err.contains("aarch64-unknown-linux-musl")
            && err.contains("apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross")
            && !err.contains("Compiling"),
        "{err}"
    );

    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let out = run_ok(
        imagebuild_in(&cc_fixture())
            .env("CARGO_TARGET_DIR", &target_dir)
            .args([
                "-v",
                "--target",
                "aarch64-unknown-linux-musl",
                "--builder",
                "zigbuild",
            ])
            .args(["--output", &format!("type=oci,dest={}", layout.display())]),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Route aarch64-unknown-linux-musl: zigbuild"),
        "{err}"
    );
    assert!(err.contains("\"zigbuild\""), "cargo-zigbuild ran: {err}");
    let rootfs = cc_rootfs(&layout, "arm64", work.path());
    assert_eq!(interpreter(&rootfs.join("usr/local/bin/ccdemo")), None);
    assert_eq!(
        run_in_rootfs(&rootfs, "/usr/local/bin/ccdemo", "arm64"),
        PLATFORMS[1].3
    );
}

/// A linker that ignores its inputs and writes a host executable: the ELF check refuses the
/// result by name, architecture and platform, and nothing is written.
#[test]
fn wrong_architecture_binary_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let fake = work.path().join("fake-ld");
    std::fs::write(
        &fake,
        "#!/bin/sh\nwhile [ $# -gt 0 ]; do if [ \"$1\" = -o ]; then cp /bin/true \"$2\"; exit 0; fi; shift; done\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dest = work.path().join("out.tar");
    let err = run_err(
        imagebuild()
            .env("CARGO_TARGET_DIR", own_target_dir("refusals"))
            .env("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER", &fake)
            .args(["-p", "tools", "--target", "aarch64-unknown-linux-musl"])
            .args(["--output", &format!("type=oci,dest={}", dest.display())]),
    );
    assert!(
        err.contains(
            "ctl is a 64-bit little-endian x86-64 (amd64) ELF, not a linux/arm64 executable"
        ),
        "{err}"
    );
    assert!(!dest.exists(), "nothing is written after a refusal");
}

/// A dynamically linked binary (the user asked for `-crt-static`, and that choice stands) on
/// scratch, which has no loader: refused, naming the loader, the base and the fix.
#[test]
fn dynamic_binary_on_scratch_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("out.tar");
    let err = run_err(
        imagebuild()
            .env("CARGO_TARGET_DIR", own_target_dir("refusals"))
            .env("RUSTFLAGS", "-C target-feature=-crt-static")
            .args(["-p", "tools", "--target", "x86_64-unknown-linux-gnu"])
            .args(["--output", &format!("type=oci,dest={}", dest.display())]),
    );
    assert!(
        err.contains("ctl for linux/amd64 is dynamically linked: it needs its loader /lib64/ld-linux-x86-64.so.2, which the `scratch` base does not have")
            && err.contains("+crt-static"),
        "{err}"
    );
    assert!(!dest.exists(), "nothing is written after a refusal");
}

/// Without the cross gcc on PATH, `doctor` marks the linker MISSING with the Debian packages to
/// install and fails; a build for that platform is refused with the same fix before compiling.
/// With it, the same check passes.
#[test]
fn doctor_and_build_name_a_missing_linker() {
    let _riscv64 = riscv64_lock();
    let (_farm, path) = path_without(&["riscv64-linux-gnu-gcc"]);
    let outside = tempfile::tempdir().unwrap();
    let out = imagebuild_in(outside.path())
        .env("PATH", &path)
        .args(["doctor", "--platform", "linux/riscv64"])
        .output()
        .unwrap();
    let table = stdout(&out);
    assert!(!out.status.success(), "{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with("linux/riscv64 (riscv64gc-unknown-linux-gnu) linker"))
        .unwrap_or_else(|| panic!("no linker row:\n{table}"));
    assert!(
        row.contains("MISSING")
            && row.contains("riscv64-linux-gnu-gcc is not on PATH")
            && row.contains("apt-get install gcc-riscv64-linux-gnu libc6-dev-riscv64-cross"),
        "{row}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 needed piece is missing"));

    let err = run_err(
        imagebuild_in(&cc_fixture())
            .env("PATH", &path)
            .args(["--platform", "linux/riscv64"]),
    );
    assert!(
        err.contains("no linker for riscv64gc-unknown-linux-gnu")
            && err.contains("apt-get install gcc-riscv64-linux-gnu libc6-dev-riscv64-cross")
            && !err.contains("Compiling"),
        "{err}"
    );

    let out = run_ok(imagebuild_in(outside.path()).args(["doctor", "--platform", "linux/riscv64"]));
    let table = stdout(&out);
    assert!(
        table.lines().any(
            |l| l.starts_with("linux/riscv64 (riscv64gc-unknown-linux-gnu) linker")
                && l.contains(" ok ")
                && l.contains("riscv64-linux-gnu-gcc")
        ),
        "{table}"
    );
}

/// C code on a musl target with no zig, offline (so zig is not downloaded): the graph says so
/// before building, and the error names the package, zig and the gnu alternative; `doctor` in
/// that workspace says the same.
#[test]
fn c_code_on_musl_without_zig_is_refused_before_building() {
    let (_farm, path) = path_without(&["zig", "python3"]);
    let cache = tempfile::tempdir().unwrap();
    let err = run_err(
        imagebuild_in(&cc_fixture())
            .env("PATH", &path)
            .env("CARGO_NET_OFFLINE", "true")
            .env("CARGO_IMAGEBUILD_CACHE", cache.path())
            .env_remove("CARGO_ZIGBUILD_ZIG_PATH")
            .args(["--platform", "linux/arm64"]),
    );
    assert!(
        err.contains("no C compiler for aarch64-unknown-linux-musl: ccdemo (cc) build C code")
            && err.contains("pip install ziglang")
            && err.contains("--target aarch64-unknown-linux-gnu")
            && !err.contains("Compiling"),
        "{err}"
    );
    let out = imagebuild_in(&cc_fixture())
        .env("PATH", &path)
        .env("CARGO_IMAGEBUILD_CACHE", cache.path())
        .env_remove("CARGO_ZIGBUILD_ZIG_PATH")
        .args(["doctor", "--platform", "linux/arm64"])
        .output()
        .unwrap();
    let table = stdout(&out);
    assert!(!out.status.success(), "{table}");
    assert!(
        table.lines().any(|l| l.contains("C compiler")
            && l.contains("MISSING")
            && l.contains("pip install ziglang")),
        "{table}"
    );
}

const RISCV64_GCC: &str = "gcc-riscv64-linux-gnu";
const RISCV64_APT_LINE: &str = "apt-get install -y gcc-riscv64-linux-gnu libc6-dev-riscv64-cross";

/// Whether dpkg has `package` installed (`dpkg -s` says `install ok installed`).
fn dpkg_installed(package: &str) -> bool {
    let out = Command::new("dpkg").args(["-s", package]).output().unwrap();
    out.status.success() && stdout(&out).contains("Status: install ok installed")
}

/// `apt-get` as root (`sudo -n` when the tests do not run as root).
fn apt_get(args: &[&str]) -> std::process::ExitStatus {
    let root = stdout(&Command::new("id").arg("-u").output().unwrap()).trim() == "0";
    let mut cmd = if root {
        Command::new("apt-get")
    } else {
        let mut c = Command::new("sudo");
        c.args(["-n", "apt-get"]);
        c
    };
    cmd.args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .status()
        .unwrap()
}

/// Puts a removed package back when dropped, whatever happened in between: the other tests and
/// CI need it.
struct Reinstall(&'static str);

impl Drop for Reinstall {
    fn drop(&mut self) {
        if dpkg_installed(self.0) {
            return;
        }
        if !apt_get(&["install", "-y", "-qq", self.0]).success() {
            apt_get(&["update", "-qq"]);
            apt_get(&["install", "-y", "-qq", self.0]);
        }
        assert!(dpkg_installed(self.0), "could not reinstall {}", self.0);
    }
}

/// `doctor` on a machine where the riscv64 cross gcc is really not installed (removed with
/// apt-get for the test, put back by a guard): a build is refused with the one-line fix
/// (`cargo imagebuild doctor --fix --yes --target …`) and the apt line, installing nothing;
/// doctor fails with the grouped `apt-get install` line; `--fix` without `--yes` off a terminal
/// refuses and changes nothing; `--fix --yes` installs it, checks again and succeeds. Removed
/// again, a build with `CARGO_IMAGEBUILD_INSTALL=auto` installs it itself, says so, and the C
/// fixture builds for linux/riscv64 and runs.
#[test]
fn doctor_fix_yes_installs_a_missing_cross_gcc() {
    let _riscv64 = riscv64_lock();
    assert!(
        dpkg_installed(RISCV64_GCC),
        "{RISCV64_GCC} must be installed first: run scripts/test.sh"
    );
    let _reinstall = Reinstall(RISCV64_GCC);
    assert!(apt_get(&["remove", "-y", "-qq", RISCV64_GCC]).success());
    assert!(!dpkg_installed(RISCV64_GCC));
    let outside = tempfile::tempdir().unwrap();

    // A build without --install-missing: the one-line fix, and nothing installed.
    let err = run_err(
        imagebuild_in(&cc_fixture())
            .env_remove("CARGO_IMAGEBUILD_INSTALL")
            .args(["--platform", "linux/riscv64"])
            .arg("--output")
            .arg(format!(
                "type=oci,dest={}",
                outside.path().join("no").display()
            )),
    );
    assert!(
        err.contains(
            "fix, for every target at once: cargo imagebuild doctor --fix --yes --target \
             riscv64gc-unknown-linux-gnu"
        ) && err.contains("apt-get install gcc-riscv64-linux-gnu libc6-dev-riscv64-cross")
            && err.contains("--install-missing")
            && err.contains("CARGO_IMAGEBUILD_INSTALL=auto"),
        "{err}"
    );
    assert!(
        !dpkg_installed(RISCV64_GCC),
        "nothing is installed silently"
    );

    let out = imagebuild_in(outside.path())
        .args(["doctor", "--platform", "linux/riscv64"])
        .output()
        .unwrap();
    let table = stdout(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{table}");
    assert!(err.contains("1 needed piece is missing"), "{err}");
    let fixes = table
        .split("To fix")
        .nth(1)
        .unwrap_or_else(|| panic!("{table}"));
    let fixes = fixes.split("Optional").next().unwrap();
    assert_eq!(fixes.matches("apt-get install").count(), 1, "{table}");
    assert!(
        fixes
            .lines()
            .any(|l| l.trim().trim_start_matches("sudo ") == RISCV64_APT_LINE),
        "{table}"
    );

    // Off a terminal and without --yes: refused, nothing run.
    let out = imagebuild_in(outside.path())
        .args(["doctor", "--platform", "linux/riscv64", "--fix"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("nothing was run; add --yes") && !err.contains("+ "),
        "{err}"
    );
    assert!(!dpkg_installed(RISCV64_GCC));

    let out = run_ok(
        imagebuild_in(outside.path())
            .args(["doctor", "--platform", "linux/riscv64", "--fix", "--yes"])
            .stdin(Stdio::null()),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("apt-get update"), "{err}");
    assert!(err.contains(RISCV64_APT_LINE), "{err}");
    assert!(dpkg_installed(RISCV64_GCC), "{err}");
    let table = stdout(&out);
    let after = table
        .split("After the fixes:")
        .nth(1)
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        after.lines().any(
            |l| l.starts_with("linux/riscv64 (riscv64gc-unknown-linux-gnu) linker")
                && l.contains(" ok ")
        ),
        "{table}"
    );
    assert!(!after.contains("To fix"), "{table}");

    // Removed again: the build installs it itself when told to, and says what it installed.
    assert!(apt_get(&["remove", "-y", "-qq", RISCV64_GCC]).success());
    assert!(!dpkg_installed(RISCV64_GCC));
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let out = run_ok(
        imagebuild_in(&cc_fixture())
            .env("CARGO_IMAGEBUILD_INSTALL", "auto")
            .stdin(Stdio::null())
            .args([
                "--platform",
                "linux/riscv64",
                "--output",
                &format!("type=oci,dest={}", layout.display()),
            ]),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(dpkg_installed(RISCV64_GCC), "{err}");
    assert!(
        err.contains("Installing")
            && err.contains("gcc-riscv64-linux-gnu libc6-dev-riscv64-cross")
            && err.contains("Installed")
            && err.contains(RISCV64_APT_LINE),
        "{err}"
    );
    assert!(
        !stdout(&out).contains("apt-get"),
        "the build's stdout holds only its results"
    );
    let rootfs = cc_rootfs(&layout, "riscv64", work.path());
    assert_eq!(
        run_in_rootfs(&rootfs, "/usr/local/bin/ccdemo", "riscv64"),
        PLATFORMS[6].3
    );
}

/// `doctor --fix` with something missing, no --yes and stdin not a terminal: refused with the
/// way out, and no command is run.
#[test]
fn doctor_fix_without_yes_off_a_terminal_refuses() {
    let (_farm, path) = path_without(&["riscv64-linux-gnu-gcc"]);
    let outside = tempfile::tempdir().unwrap();
    let out = imagebuild_in(outside.path())
        .env("PATH", &path)
        .args(["doctor", "--platform", "linux/riscv64", "--fix"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("stdin is not a terminal") && err.contains("add --yes to run them"),
        "{err}"
    );
    assert!(
        !err.contains("+ ") && !stdout(&out).contains("After the fixes"),
        "{err}"
    );
}

/// The pinned zig wheel, which scripts/test.sh downloads once into `tests/.cache/`.
fn zig_wheel() -> PathBuf {
    let w =
        cargo_imagebuild::internals::zig::host_wheel().expect("a zig wheel pinned for this host");
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/.cache")
        .join(w.file);
    assert!(
        p.is_file(),
        "{} is missing: run scripts/test.sh, which downloads it",
        p.display()
    );
    p
}

/// A loopback HTTP server answering every GET with `file`, with one byte flipped when `corrupt`.
/// Returns its base URL; the thread lives until the test binary exits.
fn serve_file(file: PathBuf, corrupt: bool) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming().take(16) {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                line.clear();
            }
            let mut body = Vec::new();
            std::fs::File::open(&file)
                .unwrap()
                .read_to_end(&mut body)
                .unwrap();
            if corrupt {
                let mid = body.len() / 2;
                body[mid] ^= 0xff;
            }
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(&body);
        }
    });
    url
}

/// Every file under `dir` (none when it does not exist).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Our binary on the C fixture for linux/arm64 on a machine with no zig (none on PATH, no
/// python3 to run PyPI's), the tool's cache in `cache` and the wheel mirror at `mirror`.
fn without_zig(cache: &Path, mirror: &str, path: &std::ffi::OsStr) -> Command {
    let mut c = imagebuild_in(&cc_fixture());
    c.env("CARGO_TARGET_DIR", own_target_dir("zig-provisioned"))
        .env("PATH", path)
        .env("CARGO_IMAGEBUILD_CACHE", cache)
        .env("CARGO_IMAGEBUILD_ZIG_MIRROR", mirror)
        .env_remove("CARGO_ZIGBUILD_ZIG_PATH")
        .env_remove("CARGO_NET_OFFLINE")
        .args(["-v", "--platform", "linux/arm64"]);
    c
}

/// No zig here: the pinned wheel is downloaded from the (loopback) mirror, verified, unpacked into
/// the cache with one status line, and compiles the C code of a binary that runs under qemu; the
/// second run uses the cached zig and says nothing about it.
#[test]
fn zig_is_provisioned_into_the_cache_once() {
    let (_farm, path) = path_without(&["zig", "python3"]);
    let mirror = serve_file(zig_wheel(), false);
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let layout = work.path().join("layout");
    let out = run_ok(
        without_zig(&cache, &mirror, &path)
            .args(["--output", &format!("type=oci,dest={}", layout.display())]),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let downloads: Vec<&str> = err.lines().filter(|l| l.contains("Downloading")).collect();
    assert_eq!(downloads.len(), 1, "{err}");
    assert!(
        downloads[0].contains("zig 0.17.1") && downloads[0].contains(cache.to_str().unwrap()),
        "{err}"
    );
    let zig = cache.join("zig/0.17.1/ziglang/zig");
    assert!(zig.is_file(), "{err}");
    assert_eq!(
        stdout(&run_ok(Command::new(&zig).arg("version"))).trim(),
        "0.17.1"
    );
    assert!(
        err.contains("Route aarch64-unknown-linux-musl: cargo, linker rust-lld, C compiler zig cc -target aarch64-linux-musl"),
        "{err}"
    );
    let rootfs = cc_rootfs(&layout, "arm64", work.path());
    assert_eq!(
        run_in_rootfs(&rootfs, "/usr/local/bin/ccdemo", "arm64"),
        PLATFORMS[1].3
    );
    // Nothing left over from the download or the unpacking.
    let leftovers: Vec<_> = std::fs::read_dir(cache.join("zig"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("0.17.1")]);

    let layout2 = work.path().join("layout2");
    let out = run_ok(
        without_zig(&cache, "http://127.0.0.1:9", &path)
            .args(["--output", &format!("type=oci,dest={}", layout2.display())]),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("Downloading"), "{err}");
    assert!(
        err.contains("C compiler zig cc -target aarch64-linux-musl"),
        "{err}"
    );
}

/// No zig here and downloads off (`CARGO_NET_OFFLINE=true`, `--offline`): refused with the manual
/// command, nothing fetched. A wheel whose bytes differ from the pinned sha256: refused, and the
/// cache keeps nothing.
#[test]
fn zig_is_not_provisioned_offline_or_from_a_wrong_wheel() {
    let (_farm, path) = path_without(&["zig", "python3"]);
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let output = format!("type=oci,dest={}", layout.display());
    for offline in [&["--offline"][..], &[][..]] {
        let cache = work.path().join(format!("cache-offline{}", offline.len()));
        let mut cmd = without_zig(&cache, "http://127.0.0.1:9", &path);
        if offline.is_empty() {
            cmd.env("CARGO_NET_OFFLINE", "true");
        }
        let err = run_err(cmd.args(offline).args(["--output", &output]));
        assert!(
            err.contains("pip install ziglang==0.17.1")
                && err.contains("CARGO_NET_OFFLINE")
                && !err.contains("Downloading")
                && !err.contains("Compiling"),
            "{err}"
        );
        assert_eq!(files_under(&cache), Vec::<PathBuf>::new());
    }

    let cache = work.path().join("cache-corrupt");
    let mirror = serve_file(zig_wheel(), true);
    let err = run_err(without_zig(&cache, &mirror, &path).args(["--output", &output]));
    assert!(
        err.contains("not the pinned ea6cc5d8") || err.contains("not the pinned b7c5f02f"),
        "{err}"
    );
    assert!(err.contains("pip install ziglang==0.17.1"), "{err}");
    assert_eq!(files_under(&cache), Vec::<PathBuf>::new());
    assert!(!layout.exists());
}

/// For the host's own architecture Debian's `musl-gcc` (musl-tools) is an accepted C compiler of
/// musl targets: with no zig, offline and an empty cache, the C fixture builds with it, downloads
/// nothing, and its binary runs.
#[test]
fn musl_gcc_compiles_c_for_the_host_architecture_without_zig() {
    require("musl-gcc");
    let (platform, arch, expect) = match std::env::consts::ARCH {
        "x86_64" => ("linux/amd64", "amd64", PLATFORMS[0].3),
        "aarch64" => ("linux/arm64", "arm64", PLATFORMS[1].3),
        other => panic!("no fixture output known for {other}"),
    };
    let (_farm, path) = path_without(&["zig", "python3"]);
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let layout = work.path().join("layout");
    let out = run_ok(
        imagebuild_in(&cc_fixture())
            .env("CARGO_TARGET_DIR", own_target_dir("musl-gcc"))
            .env("PATH", &path)
            .env("CARGO_IMAGEBUILD_CACHE", &cache)
            .env("CARGO_NET_OFFLINE", "true")
            .env_remove("CARGO_ZIGBUILD_ZIG_PATH")
            .args(["-v", "--platform", platform])
            .args(["--output", &format!("type=oci,dest={}", layout.display())]),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("linker rust-lld, C compiler musl-gcc (C code in ccdemo (cc))")
            && !err.contains("Downloading"),
        "{err}"
    );
    assert_eq!(files_under(&cache), Vec::<PathBuf>::new());
    let rootfs = cc_rootfs(&layout, arch, work.path());
    assert_eq!(interpreter(&rootfs.join("usr/local/bin/ccdemo")), None);
    assert_eq!(
        run_in_rootfs(&rootfs, "/usr/local/bin/ccdemo", arch),
        expect
    );
}

/// The fixture that uses `openssl` without its `vendored` feature (binary `tls`).
fn tls_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls")
}

/// openssl-sys without its vendored OpenSSL (what `native-tls` and `openssl` users have), built
/// for three platforms on a machine with no OpenSSL for any of them: the plan says an OpenSSL will
/// be built, each target gets one from source (cached once per target), and each image's binary
/// runs OpenSSL's own C code — its version and a SHA-256 — natively or under qemu.
#[test]
fn openssl_is_built_from_source_for_targets_that_lack_one() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    // Kept between runs with the fixture builds: the first build of each OpenSSL takes minutes.
    let cache = shared_target_dir().join("imagebuild-cache");
    let platforms = "linux/amd64,linux/arm64,linux/386";
    let triples = [
        "x86_64-unknown-linux-musl",
        "aarch64-unknown-linux-musl",
        "i686-unknown-linux-musl",
    ];
    let dry = run_ok(
        imagebuild_in(&tls_fixture())
            .env("CARGO_IMAGEBUILD_CACHE", &cache)
            .args(["--dry-run", "--platform", platforms]),
    );
    let plan = stdout(&dry);
    for t in triples {
        assert!(
            plan.lines().any(|l| l.starts_with(&format!("route: {t}:"))
                && l.contains("OpenSSL 3.6.3 built from source for openssl-sys")),
            "{plan}"
        );
    }

    // The build itself runs as on a machine with only rustup and the tool: no zig on PATH or in
    // Python (the pinned one is provisioned from a loopback mirror into the cache, or taken from
    // it on later runs; the host's target may take Debian's musl-gcc).
    let (_farm, path) = path_without(&["zig", "python3"]);
    let mirror = serve_file(zig_wheel(), false);
    let bare = || {
        let mut c = imagebuild_in(&tls_fixture());
        c.env("CARGO_IMAGEBUILD_CACHE", &cache)
            .env("PATH", &path)
            .env("CARGO_IMAGEBUILD_ZIG_MIRROR", &mirror)
            .env_remove("CARGO_ZIGBUILD_ZIG_PATH")
            .env_remove("CARGO_NET_OFFLINE");
        c
    };
    let out = run_ok(
        bare()
            .args(["--platform", platforms, "--output"])
            .arg(format!("type=oci,dest={}", layout.display())),
    );
    validate_layout(&layout);
    for t in triples {
        let lib = cache
            .join("openssl/3.6.3-src300.6.1")
            .join(t)
            .join("lib/libssl.a");
        assert!(lib.is_file(), "no {}", lib.display());
    }
    let reference = format!("oci:{}:0.1.0", layout.display());
    let expect = "OpenSSL 3.6.3 9 Jun 2026 \
                  sha256=188ee6c70780f887759c51b8520637937a71ee2abb3781f17a841eb2a9d80533";
    for arch in ["amd64", "arm64", "386"] {
        let bundle = unpack_platform(&reference, arch, None, work.path());
        let rootfs = bundle.join("rootfs");
        assert_eq!(
            interpreter(&rootfs.join("usr/local/bin/tls")),
            None,
            "{arch}: static, OpenSSL linked in"
        );
        assert_eq!(
            run_in_rootfs(&rootfs, "/usr/local/bin/tls", arch),
            expect,
            "{arch}"
        );
    }

    // Built once: the second run takes every OpenSSL from the cache.
    let again = run_ok(bare().args(["--platform", platforms, "-o", "type=cacheonly"]));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(!err.contains("Building OpenSSL"), "{err}");
    drop(out);
}

/// The fixture over real crates.io crates with C code: ring (with rustls), aws-lc-rs,
/// tikv-jemallocator, rusqlite with bundled SQLite, zstd, libz-sys, bzip2, lzma and mimalloc.
fn realcrates_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/realcrates")
}

/// Stops a child process of the test when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback TLS server (`openssl s_server -www`) with a certificate for 127.0.0.1 signed by a
/// fresh CA, both made in `dir`. Returns the server, its address and the CA's PEM file.
fn tls_server(dir: &Path) -> (KillOnDrop, String, PathBuf) {
    let openssl = require("openssl");
    let file = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let (ca_key, ca, key, csr, cert) = (
        file("ca.key"),
        file("ca.pem"),
        file("server.key"),
        file("server.csr"),
        file("server.pem"),
    );
    let ext = dir.join("server.ext");
    std::fs::write(
        &ext,
        "basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1\n",
    )
    .unwrap();
    for args in [
        vec![
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &ca_key,
            "-out",
            &ca,
            "-days",
            "2",
            "-subj",
            "/CN=realcrates test CA",
        ],
        vec![
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=127.0.0.1",
        ],
        vec![
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &cert,
            "-days",
            "2",
            "-extfile",
            ext.to_str().unwrap(),
        ],
    ] {
        run_ok(Command::new(&openssl).args(&args).stdin(Stdio::null()));
    }
    let addr = format!("127.0.0.1:{}", common::registry::free_port());
    let server = KillOnDrop(
        Command::new(&openssl)
            .args([
                "s_server", "-accept", &addr, "-cert", &cert, "-key", &key, "-www",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let log = dir.join("s_server.log");
    common::registry::wait_for_port(&addr, std::time::Duration::from_secs(20), &log);
    (server, addr, PathBuf::from(ca))
}

/// Issue 9's proof: with zig hidden from PATH and Python, one workspace of real crates with C
/// (ring through rustls, aws-lc-rs, jemalloc, bundled SQLite, zstd, zlib, bzip2, lzma, mimalloc)
/// is built for amd64, arm64 and
/// 386 by rust-lld and the provisioned zig (served from a loopback mirror the first time, from
/// the persistent cache under the target directory afterwards), and every image's binary prints
/// what each crate's C code computed, including a TLS 1.3 handshake with a loopback server.
#[test]
fn real_crates_with_c_build_for_three_platforms_and_run() {
    let started = std::time::Instant::now();
    let (_farm, path) = path_without(&["zig", "python3"]);
    // Persistent across runs, like the fixture's target directory: zig is provisioned once.
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("realcrates-cache");
    let cached = cache.join("zig/0.17.1/ziglang/zig").is_file();
    let mirror = serve_file(zig_wheel(), false);
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let out = run_ok(
        imagebuild_in(&realcrates_fixture())
            .env("CARGO_TARGET_DIR", own_target_dir("realcrates"))
            .env("PATH", &path)
            .env("CARGO_IMAGEBUILD_CACHE", &cache)
            .env("CARGO_IMAGEBUILD_ZIG_MIRROR", &mirror)
            .env_remove("CARGO_ZIGBUILD_ZIG_PATH")
            .env_remove("CARGO_NET_OFFLINE")
            .args(["-v", "--platform", "linux/amd64,linux/arm64,linux/386"])
            .args(["--output", &format!("type=oci,dest={}", layout.display())]),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let downloads = err.lines().filter(|l| l.contains("Downloading")).count();
    assert_eq!(downloads, usize::from(!cached), "{err}");
    for (triple, zig) in [
        ("x86_64-unknown-linux-musl", "x86_64-linux-musl"),
        ("aarch64-unknown-linux-musl", "aarch64-linux-musl"),
        ("i686-unknown-linux-musl", "x86-linux-musl"),
    ] {
        let route = format!(
            "Route {triple}: cargo, linker rust-lld, C compiler zig cc -target {zig} (C code in \
             aws-lc-sys (cc), bzip2-sys (cc), libmimalloc-sys (cc), \
             libsqlite3-sys (cc), libz-sys (cc), lzma-sys (cc), ring (cc), tikv-jemalloc-sys (cc), \
             zstd-sys (cc))"
        );
        assert!(err.contains(&route), "no `{route}` in:\n{err}");
    }
    validate_layout(&layout);
    let built = started.elapsed();

    let (_server, addr, ca) = tls_server(work.path());
    let digest: String = {
        use sha2::Digest as _;
        sha2::Sha256::digest(b"cargo-imagebuild")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let expect = [
        format!("ring sha256={digest}"),
        format!("aws-lc sha256={digest}"),
        "sqlite=3.50.2".to_string(),
        "zstd=zstd round trip".to_string(),
        "jemalloc=5.3.1 usable(100)=112".to_string(),
        // mimalloc 3.3.2; 112 is the size class of both allocators for 100 bytes.
        "mimalloc=30302 usable(100)=112".to_string(),
        // The CRC-32 of the same input, as Python's zlib.crc32 computes it.
        "zlib=1.4 crc32=998d7644".to_string(),
        "bzip2=1.0.8".to_string(),
        "lzma=5.2.5".to_string(),
        "tls=TLSv1_3 TLS13_AES_256_GCM_SHA384 status=HTTP/1.0 200 ok".to_string(),
    ]
    .join("\n");
    let reference = format!("oci:{}:0.1.0", layout.display());
    for arch in ["amd64", "arm64", "386"] {
        let bundle = unpack_platform(&reference, arch, None, work.path());
        let rootfs = bundle.join("rootfs");
        let exe = rootfs.join("usr/local/bin/realcrates");
        assert_eq!(interpreter(&exe), None, "linux/{arch}: static on scratch");
        let got = run_in_rootfs_with(
            &rootfs,
            "/usr/local/bin/realcrates",
            arch,
            &[&addr, ca.to_str().unwrap()],
        );
        assert_eq!(got, expect, "linux/{arch}");
        let triple = match arch {
            "amd64" => "x86_64-unknown-linux-musl",
            "arm64" => "aarch64-unknown-linux-musl",
            _ => "i686-unknown-linux-musl",
        };
        assert_dependency_list_is_cargo_tree(&exe, &realcrates_fixture(), triple);
    }
    eprintln!(
        "realcrates: built in {built:?} (zig {}), total {:?}",
        if cached { "cached" } else { "provisioned" },
        started.elapsed()
    );
}
