//! zig as a C compiler for musl targets, through three tiny scripts (`cc`, `c++`, `ar`) written
//! under `<target-dir>/imagebuild/zig/<triple>/`: `CC_<target>` must name one program, and the
//! `cc` crate adds `--target=<rust triple>` for clang-like compilers, which zig does not take
//! (it wants `-target <zig triple>`), so the scripts drop it. Only compiling goes through zig:
//! `rust-lld` still links, against Rust's own musl, so zig never builds a libc (that takes a
//! minute per architecture; `cargo zigbuild`, which links with zig, pays it once).
//!
//! Since zig does not link, the scripts also pass `-fno-sanitize=undefined`: `zig cc` turns
//! UBSan on by itself for unoptimized code (aws-lc compiles its jitterentropy at `-O0`) and
//! relies on linking its own runtime, which `rust-lld` never sees (`undefined symbol:
//! __ubsan_handle_…`). It comes before the build's own flags, so a build that asks for
//! `-fsanitize=…` itself still gets it.
//!
//! C++ code needs a C++ runtime at link time, which rust-lld does not have: for a graph that
//! compiles C++ the provision stage copies the libc++ and libc++abi zig builds for the target into
//! [`cxx_runtime_dir`], with `libc++.a` and `libstdc++.a` there as linker scripts naming both, so
//! `-lc++` (what the `cc` crate asks for with `CXXSTDLIB_<target>=c++`) and `-lstdc++` (what
//! other crates ask for) link them statically.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::route::tools::{shell_quote, ZigCommand};

/// zig's name for a Linux triple: `aarch64-unknown-linux-musl` → `aarch64-linux-musl`.
pub fn zig_target(triple: &str) -> Option<String> {
    let (arch, rest) = triple.split_once('-')?;
    let env = rest.rsplit('-').next()?;
    if !env.starts_with("musl") && !env.starts_with("gnu") {
        return None;
    }
    let arch = match arch {
        "i686" | "i586" => "x86",
        "riscv64gc" => "riscv64",
        "armv7" | "thumbv7neon" | "armv6" | "armv5te" => "arm",
        a => a,
    };
    Some(format!("{arch}-linux-{env}"))
}

/// Where zig's C++ runtime for `triple` is put (the `-L` directory of its links): under the
/// wrappers' directory, `<work-dir>/zig/<triple>/cxxrt`.
pub fn cxx_runtime_dir(work_dir: &Path, triple: &str) -> PathBuf {
    work_dir.join("zig").join(triple).join("cxxrt")
}

/// The wrapper scripts for one target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZigWrappers {
    pub cc: PathBuf,
    pub cxx: PathBuf,
    pub ar: PathBuf,
}

/// Writes (or leaves, when already identical) the wrappers for `triple` under `dir`.
pub fn write_wrappers(
    dir: &Path,
    zig: &ZigCommand,
    triple: &str,
    zig_target: &str,
) -> Result<ZigWrappers> {
    let dir = dir.join(triple);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating {} for the zig wrappers", dir.display()))?;
    let zig_words = zig.shell_words();
    let target = shell_quote(zig_target);
    let compiler = |sub: &str| {
        format!(
            "#!/bin/sh\n# Written by cargo-imagebuild: `zig {sub}` for {triple}, without the \
             --target=<rust triple> the cc crate adds.\nfor a in \"$@\"; do shift; case \"$a\" in \
             --target=*) ;; *) set -- \"$@\" \"$a\" ;; esac; done\nexec {zig_words} {sub} -target \
             {target} -fno-sanitize=undefined \"$@\"\n"
        )
    };
    let wrappers = ZigWrappers {
        cc: dir.join("cc"),
        cxx: dir.join("c++"),
        ar: dir.join("ar"),
    };
    write_script(&wrappers.cc, &compiler("cc"))?;
    write_script(&wrappers.cxx, &compiler("c++"))?;
    write_script(
        &wrappers.ar,
        &format!("#!/bin/sh\nexec {zig_words} ar \"$@\"\n"),
    )?;
    Ok(wrappers)
}

/// Writes an executable script unless it already has exactly this content (so parallel runs and
/// re-runs do not rewrite it); written to a temporary name and renamed into place.
fn write_script(path: &Path, content: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if std::fs::read_to_string(path).ok().as_deref() == Some(content) {
        return Ok(());
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, content).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zig_targets() {
        assert_eq!(
            zig_target("aarch64-unknown-linux-musl").unwrap(),
            "aarch64-linux-musl"
        );
        assert_eq!(
            zig_target("i686-unknown-linux-musl").unwrap(),
            "x86-linux-musl"
        );
        assert_eq!(
            zig_target("armv7-unknown-linux-musleabihf").unwrap(),
            "arm-linux-musleabihf"
        );
        assert_eq!(
            zig_target("riscv64gc-unknown-linux-musl").unwrap(),
            "riscv64-linux-musl"
        );
        assert_eq!(zig_target("x86_64-pc-windows-msvc"), None);
    }

    #[test]
    fn wrappers_drop_the_rust_target_and_pass_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        // A stand-in "zig" that prints its arguments, one per line.
        let fake = dir.path().join("fakezig");
        std::fs::write(&fake, "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let zig = ZigCommand {
            program: fake,
            prefix: vec![],
        };
        let w = write_wrappers(
            dir.path(),
            &zig,
            "aarch64-unknown-linux-musl",
            "aarch64-linux-musl",
        )
        .unwrap();
        let out = std::process::Command::new(&w.cc)
            .args(["-O2", "--target=aarch64-unknown-linux-musl", "-c", "a b.c"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "cc\n-target\naarch64-linux-musl\n-fno-sanitize=undefined\n-O2\n-c\na b.c\n"
        );
        let before = std::fs::metadata(&w.cc).unwrap().modified().unwrap();
        write_wrappers(
            dir.path(),
            &zig,
            "aarch64-unknown-linux-musl",
            "aarch64-linux-musl",
        )
        .unwrap();
        assert_eq!(
            std::fs::metadata(&w.cc).unwrap().modified().unwrap(),
            before
        );
    }
}
