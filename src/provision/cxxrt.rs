//! zig's C++ runtime for musl targets whose graph compiles C++ ([`Route::cxx_runtime`]): zig
//! builds libc++ and libc++abi from its own sources for a target the first time a C++ program is
//! linked for it (a few minutes, then cached by zig). This links one tiny C++ program with
//! `zig c++ -v`, takes the two archives from the link line zig prints, and puts them into
//! [`cxx_runtime_dir`] beside `libc++.a` and `libstdc++.a` linker scripts naming both, so
//! rust-lld links them statically wherever the build asks for `-lc++` or `-lstdc++`.
//!
//! The directory is made under a temporary name and renamed into place; a directory already
//! holding both archives is used as it is.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::route::zigcc::cxx_runtime_dir;
use crate::route::{CCompiler, Route};
use crate::util::report::Reporter;

/// The archives, as named in [`cxx_runtime_dir`].
const ARCHIVES: [(&str, &str); 2] = [
    ("libc++.a", "zig-libc++.a"),
    ("libc++abi.a", "zig-libc++abi.a"),
];

/// Libraries that C and C++ build scripts written for glibc ask for (`cargo:rustc-link-lib=
/// pthread`, `atomic`, `gcc_s`; snmalloc's asks for all of these) and that a static musl binary
/// has elsewhere: musl's `libc.a` holds pthread, rt, dl, m and util (musl installs empty
/// archives under these names itself), Rust links its own unwinder for `gcc_s`, and the atomics
/// are compiled inline. Each is an empty archive in [`cxx_runtime_dir`], so rust-lld finds the
/// name and links nothing from it.
const MUSL_STUBS: [&str; 7] = ["pthread", "rt", "dl", "m", "util", "gcc_s", "atomic"];

/// How long zig may take to build its C++ runtime (and musl) for one target.
const LIMIT: Duration = Duration::from_secs(30 * 60);

/// Makes sure `route`'s C++ runtime is in [`cxx_runtime_dir`] when the route links one; returns
/// the directory, or `None` when the route needs none.
pub fn provide(route: &Route, work_dir: &Path, ui: &Reporter) -> Result<Option<PathBuf>> {
    let (true, CCompiler::Zig { zig, target }) = (route.cxx_runtime, &route.c_compiler) else {
        return Ok(None);
    };
    let triple = route.triple.as_str();
    let dir = cxx_runtime_dir(work_dir, triple);
    if ARCHIVES.iter().all(|(_, ours)| dir.join(ours).is_file()) {
        write_stubs(&dir)?;
        return Ok(Some(dir));
    }
    ui.status(
        "Preparing",
        &format!(
            "zig's C++ runtime (libc++, libc++abi) for {triple}, to link its C++ code statically \
             (once per architecture; the first time zig builds it, a few minutes)"
        ),
    );
    let parent = dir
        .parent()
        .context("the C++ runtime directory has no parent")?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let work = tempfile::Builder::new()
        .prefix(".cxxrt-")
        .tempdir_in(parent)
        .with_context(|| format!("cannot write in {}", parent.display()))?;
    let probe = work.path().join("probe.cpp");
    std::fs::write(
        &probe,
        "#include <vector>\n#include <stdexcept>\nint main() {\n  std::vector<int> v{1};\n  \
         try { throw std::runtime_error(\"x\"); } catch (const std::exception &) {}\n  return \
         v[0] - 1;\n}\n",
    )?;
    let mut cmd = Command::new(&zig.program);
    cmd.args(&zig.prefix)
        .args(["c++", "-target", target, "-fno-sanitize=undefined", "-v"])
        .arg(&probe)
        .arg("-o")
        .arg(work.path().join("probe"));
    let what = format!("`{} c++ -target {target}`", zig.describe());
    let out = crate::util::process::run(&mut cmd, LIMIT, &what)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!(
            "{what} could not link a C++ program for {triple}, so its C++ runtime is not here:\n{}",
            tail(&stderr)
        );
    }
    let staged = work.path().join("cxxrt");
    std::fs::create_dir(&staged)?;
    for (name, ours) in ARCHIVES {
        let Some(found) = archive_in_link_line(&stderr, name) else {
            bail!(
                "{what} linked a C++ program for {triple} but named no {name} on its link line \
                 (a zig whose C++ runtime this tool does not know?):\n{}",
                tail(&stderr)
            );
        };
        std::fs::copy(&found, staged.join(ours))
            .with_context(|| format!("copying {} from zig's cache", found.display()))?;
    }
    // The names the build asks for, each a linker script that pulls in both archives.
    let script = format!(
        "/* Written by cargo-imagebuild: zig's libc++ and libc++abi for {triple}. */\nINPUT({} {})\n",
        dir.join(ARCHIVES[0].1).display(),
        dir.join(ARCHIVES[1].1).display()
    );
    for name in ["libc++.a", "libstdc++.a"] {
        std::fs::write(staged.join(name), &script)?;
    }
    write_stubs(&staged)?;
    if dir.exists() {
        // Left by an interrupted run or another zig: replaced whole.
        std::fs::remove_dir_all(&dir).with_context(|| format!("replacing {}", dir.display()))?;
    }
    std::fs::rename(&staged, &dir).with_context(|| format!("moving into {}", dir.display()))?;
    ui.detail("C++", &format!("runtime for {triple} in {}", dir.display()));
    Ok(Some(dir))
}

/// The empty archives of [`MUSL_STUBS`] in `dir`, where missing.
fn write_stubs(dir: &Path) -> Result<()> {
    for name in MUSL_STUBS {
        let path = dir.join(format!("lib{name}.a"));
        if !path.is_file() {
            std::fs::write(&path, b"!<arch>\n")
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}

/// The path of the archive named `name` (`libc++.a`) on the link line `zig c++ -v` printed.
pub fn archive_in_link_line(stderr: &str, name: &str) -> Option<PathBuf> {
    stderr
        .split_whitespace()
        .map(|w| w.trim_matches('"'))
        .filter(|w| Path::new(w).file_name().is_some_and(|f| f == name))
        .map(PathBuf::from)
        .rfind(|p| p.is_file())
}

/// The last lines of a tool's output, for an error.
fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_are_found_on_the_link_line() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("o/1/libc++.a");
        std::fs::create_dir_all(a.parent().unwrap()).unwrap();
        std::fs::write(&a, "!<arch>\n").unwrap();
        let line = format!(
            "ar rcs {0}/o/9/libc++.a x.o\nld.lld -static {0}/o/2/libc++abi.a {1} -o probe\n",
            dir.path().display(),
            a.display()
        );
        assert_eq!(archive_in_link_line(&line, "libc++.a"), Some(a));
        // Named but absent: not taken.
        assert_eq!(archive_in_link_line(&line, "libc++abi.a"), None);
    }
}
