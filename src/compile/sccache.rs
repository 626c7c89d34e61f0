//! sccache as the user's rustc wrapper, without our path remaps costing it its hits. sccache keys
//! a Rust compile on its whole command line, and our `--remap-path-prefix` flags name this
//! checkout and its target directory: a crates.io library built in a second checkout would miss
//! the cache for that alone, though its output (remapped) is the same. So when the user's wrapper
//! is sccache ([`user_sccache`]: `RUSTC_WRAPPER`, `CARGO_BUILD_RUSTC_WRAPPER` or
//! `build.rustc-wrapper`), [`apply`] makes cargo call this binary instead, which stands on both
//! sides of sccache ([`run_as_wrapper`]):
//!
//! 1. called by cargo as `RUSTC_WRAPPER rustc ARGS`, it replaces each of our remap flags in ARGS by
//!    the same flag with a fixed prefix (`/.cargo-imagebuild/remapped`: still in the key, so a
//!    build with remapping never shares entries with one without) and runs `sccache LINK ARGS'`,
//!    LINK a link to this binary named `rustc` ([`rustc_link`]), the real flags and rustc in
//!    [`HIDDEN_VAR`] and [`RUSTC_VAR`] (not `CARGO_` variables, so not in sccache's key); any
//!    other compiler (a C compiler, which the `cc` crate runs through `RUSTC_WRAPPER` when its
//!    name is `sccache`) goes to `sccache COMPILER ARGS` unchanged;
//! 2. called by sccache as `LINK ARGS'`, it puts the real flags back and runs the real rustc.
//!
//! rustc sees exactly the command line it would have seen without sccache, so digests do not
//! change, and cargo still sees our flags, so its fingerprints do. The wrapper cargo is given is
//! a link to this binary named `sccache` (`<work-dir>/sccache/sccache`), so that the `cc` crate
//! still recognises it and wraps the routes' C compilers (zig's scripts, the cross gcc) too.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::route::cargo_config::config_files;
use crate::util::env::Environment;

/// Set for cargo: the user's sccache, which step 1 runs.
pub const SCCACHE_VAR: &str = "IMAGEBUILD_SCCACHE";
/// Set for cargo: our remap flags, `\x1f`-separated, which step 1 hides.
pub const FLAGS_VAR: &str = "IMAGEBUILD_REMAP_FLAGS";
/// Set by step 1 for step 2: the flags it hid, in order, `\x1f`-separated.
pub const HIDDEN_VAR: &str = "IMAGEBUILD_REMAP_HIDDEN";
/// Set for cargo: where step 1 keeps the links named `rustc` that sccache runs.
pub const LINKS_VAR: &str = "IMAGEBUILD_SCCACHE_LINKS";
/// Set by step 1 for step 2: the real rustc.
pub const RUSTC_VAR: &str = "IMAGEBUILD_RUSTC";
/// What a hidden flag's path becomes in the command line sccache sees.
pub const PLACEHOLDER: &str = "/.cargo-imagebuild/remapped";

const SEP: char = '\x1f';

/// Whether `program` is sccache (by its file name, as the `cc` crate and cargo-dist decide).
pub fn is_sccache(program: &OsStr) -> bool {
    Path::new(program)
        .file_stem()
        .is_some_and(|s| s.eq_ignore_ascii_case("sccache"))
}

/// The user's rustc wrapper when it is sccache: `RUSTC_WRAPPER`, else `CARGO_BUILD_RUSTC_WRAPPER`,
/// else `build.rustc-wrapper` from `--config` values or the configuration files of `dir` (cargo's
/// order). None when a `RUSTC_WORKSPACE_WRAPPER` is set too: that chain is left as it is.
pub fn user_sccache(dir: &Path, cargo_config: &[String], env: &Environment) -> Option<OsString> {
    if env
        .get("RUSTC_WORKSPACE_WRAPPER")
        .is_some_and(|v| !v.is_empty())
    {
        return None;
    }
    let from_env = ["RUSTC_WRAPPER", "CARGO_BUILD_RUSTC_WRAPPER"]
        .iter()
        .find_map(|k| env.get(k).map(OsStr::to_os_string));
    let wrapper = from_env.or_else(|| {
        let cli = cargo_config
            .iter()
            .filter_map(|c| c.parse::<toml::Table>().ok());
        let files = config_files(dir, env).into_iter().map(|(_, t)| t);
        cli.chain(files).find_map(|t| {
            t.get("build")?
                .get("rustc-wrapper")?
                .as_str()
                .map(OsString::from)
        })
    })?;
    (!wrapper.is_empty() && is_sccache(&wrapper)).then_some(wrapper)
}

/// Routes cargo's rustc calls through this binary around `sccache` (see the module doc), hiding
/// `remaps` from sccache's keys. Nothing to do without remap flags: the user's wrapper stays.
pub fn apply(cmd: &mut Command, sccache: &OsStr, remaps: &[String], work_dir: &Path) -> Result<()> {
    if remaps.is_empty() {
        return Ok(());
    }
    let exe = std::env::current_exe().context("finding this program, to wrap sccache")?;
    let links = work_dir.join("sccache");
    let link = link_named(&exe, &links, "sccache")?;
    cmd.env("RUSTC_WRAPPER", link)
        .env(LINKS_VAR, &links)
        .env_remove("CARGO_BUILD_RUSTC_WRAPPER")
        .env(SCCACHE_VAR, sccache)
        .env(FLAGS_VAR, remaps.join(&SEP.to_string()))
        .env_remove(HIDDEN_VAR)
        .env_remove(RUSTC_VAR);
    Ok(())
}

/// `dir/name`, a symbolic link to `exe` (made, or remade when it points elsewhere; builds running
/// at once may make it together, so it is made under a private name and renamed into place).
fn link_named(exe: &Path, dir: &Path, name: &str) -> Result<PathBuf> {
    let link = dir.join(name);
    if std::fs::read_link(&link).ok().as_deref() == Some(exe) {
        return Ok(link);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let temporary = dir.join(format!(".{name}.{}", std::process::id()));
    let _ = std::fs::remove_file(&temporary);
    #[cfg(unix)]
    std::os::unix::fs::symlink(exe, &temporary)
        .with_context(|| format!("linking {} to {}", temporary.display(), exe.display()))?;
    #[cfg(not(unix))]
    std::fs::copy(exe, &temporary)
        .with_context(|| format!("copying {} to {}", exe.display(), temporary.display()))?;
    std::fs::rename(&temporary, &link)
        .with_context(|| format!("renaming {} to {}", temporary.display(), link.display()))?;
    Ok(link)
}

/// Whether `program` is rustc (or clippy's driver), as sccache decides it.
fn is_rustc(program: &OsStr) -> bool {
    Path::new(program)
        .file_stem()
        .is_some_and(|s| s == "rustc" || s == "clippy-driver")
}

/// Step 1: `args` with each of `flags` replaced by its placeholder, and the flags replaced.
pub fn hide(args: &[OsString], flags: &[&str]) -> (Vec<OsString>, Vec<String>) {
    let mut hidden = Vec::new();
    let shown = args
        .iter()
        .map(|a| match a.to_str().filter(|a| flags.contains(a)) {
            Some(flag) => {
                hidden.push(flag.to_string());
                OsString::from(placeholder(flag))
            }
            None => a.clone(),
        })
        .collect();
    (shown, hidden)
}

/// `--remap-path-prefix=FROM=TO` as sccache sees it: `--remap-path-prefix=<PLACEHOLDER>=TO`.
fn placeholder(flag: &str) -> String {
    let to = flag.rsplit_once('=').map_or("", |(_, to)| to);
    format!("--remap-path-prefix={PLACEHOLDER}={to}")
}

/// Step 2: the placeholders in `args` replaced, in order, by the `hidden` flags.
pub fn restore(args: &[OsString], hidden: &[&str]) -> Vec<OsString> {
    let prefix = format!("--remap-path-prefix={PLACEHOLDER}=");
    let mut next = hidden.iter().peekable();
    args.iter()
        .map(|a| {
            let is_placeholder = a.to_str().is_some_and(|a| a.starts_with(&prefix));
            match next.peek() {
                Some(flag) if is_placeholder => {
                    let flag = OsString::from(**flag);
                    next.next();
                    flag
                }
                _ => a.clone(),
            }
        })
        .collect()
}

fn split(value: &OsStr) -> Vec<&str> {
    value
        .to_str()
        .map(|v| v.split(SEP).filter(|f| !f.is_empty()).collect())
        .unwrap_or_default()
}

/// When this process was started as the wrapper of [`apply`] (its variables say so), does that
/// job and returns the exit code; else None, and the program goes on as itself.
pub fn run_as_wrapper() -> Option<i32> {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if let Some(hidden) = std::env::var_os(HIDDEN_VAR) {
        // Step 2, run by sccache as `rustc`: the real rustc with our flags back.
        let rustc = std::env::var_os(RUSTC_VAR)?;
        let restored = restore(&args, &split(&hidden));
        return Some(run(Command::new(rustc).args(restored)));
    }
    let sccache = std::env::var_os(SCCACHE_VAR)?;
    let (program, rest) = args.split_first()?;
    let mut cmd = Command::new(&sccache);
    if is_rustc(program) {
        // Step 1, run by cargo: sccache sees our flags with a fixed path, and a `rustc` that is
        // this program.
        let flags = std::env::var_os(FLAGS_VAR).unwrap_or_default();
        let (shown, hidden) = hide(rest, &split(&flags));
        let links = std::env::var_os(LINKS_VAR).map(PathBuf::from)?;
        let link = match rustc_link(&links, Path::new(program)) {
            Ok(link) => link,
            Err(e) => {
                eprintln!("cargo-imagebuild (as sccache's wrapper): {e:#}");
                return Some(1);
            }
        };
        cmd.arg(link)
            .args(shown)
            .env(HIDDEN_VAR, hidden.join(&SEP.to_string()))
            .env(RUSTC_VAR, program);
    } else {
        // A C compiler the `cc` crate runs through `RUSTC_WRAPPER`: straight to sccache.
        cmd.arg(program).args(rest);
    }
    Some(run(&mut cmd))
}

/// `links/<key>/rustc`, a link to this program standing for `rustc` under sccache, where the key
/// is taken from the real rustc's path and modification time: sccache remembers what a compiler
/// is (its version, its sysroot) by its path, so another or an updated toolchain gets another
/// path.
fn rustc_link(links: &Path, rustc: &Path) -> Result<PathBuf> {
    use sha2::{Digest as _, Sha256};
    let modified = std::fs::metadata(rustc)
        .and_then(|m| m.modified())
        .with_context(|| format!("reading {}", rustc.display()))?;
    let since = modified
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut h = Sha256::new();
    h.update(rustc.as_os_str().as_encoded_bytes());
    h.update(since.as_nanos().to_le_bytes());
    let key: String = h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let exe = std::env::current_exe().context("finding this program")?;
    link_named(&exe, &links.join(key), "rustc")
}

/// Runs `cmd` in this process's place (on Unix), or waits for it; its exit code.
fn run(cmd: &mut Command) -> i32 {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let e = cmd.exec();
        eprintln!(
            "cargo-imagebuild (as sccache's wrapper): cannot run {}: {e}",
            cmd.get_program().to_string_lossy()
        );
        1
    }
    #[cfg(not(unix))]
    match cmd.status() {
        Ok(s) => s.code().unwrap_or(1),
        Err(e) => {
            eprintln!(
                "cargo-imagebuild (as sccache's wrapper): cannot run {}: {e}",
                cmd.get_program().to_string_lossy()
            );
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn hidden_flags_come_back_in_place() {
        let flags = [
            "--remap-path-prefix=/home/me/ws=/workspace",
            "--remap-path-prefix=/home/me/ws/target=/workspace/target",
        ];
        let args = os(&[
            "--crate-name",
            "bytes",
            "--remap-path-prefix=/root/.cargo=/cargo",
            flags[0],
            flags[1],
            "-Ctarget-feature=+crt-static",
        ]);
        let (shown, hidden) = hide(&args, &flags);
        assert_eq!(hidden, flags);
        assert_eq!(
            shown,
            os(&[
                "--crate-name",
                "bytes",
                "--remap-path-prefix=/root/.cargo=/cargo",
                "--remap-path-prefix=/.cargo-imagebuild/remapped=/workspace",
                "--remap-path-prefix=/.cargo-imagebuild/remapped=/workspace/target",
                "-Ctarget-feature=+crt-static",
            ])
        );
        // Another checkout's flags give the same command line for sccache.
        let other = [
            "--remap-path-prefix=/srv/ci/ws=/workspace",
            "--remap-path-prefix=/srv/ci/ws/target=/workspace/target",
        ];
        let args2: Vec<OsString> = args
            .iter()
            .map(|a| match flags.iter().position(|f| a == f) {
                Some(i) => OsString::from(other[i]),
                None => a.clone(),
            })
            .collect();
        assert_eq!(hide(&args2, &other).0, shown);
        let hidden: Vec<&str> = hidden.iter().map(String::as_str).collect();
        assert_eq!(restore(&shown, &hidden), args);
    }

    #[test]
    fn nothing_hidden_leaves_the_command_line_alone() {
        let args = os(&["-vV"]);
        let (shown, hidden) = hide(&args, &[]);
        assert_eq!(shown, args);
        assert!(hidden.is_empty());
        assert_eq!(restore(&args, &[]), args);
    }

    #[test]
    fn the_users_wrapper_counts_only_when_it_is_sccache() {
        let dir = tempfile::tempdir().unwrap();
        let env = |k: &str, v: &str| Environment::empty().with("HOME", dir.path()).with(k, v);
        let none: &[String] = &[];
        assert_eq!(
            user_sccache(dir.path(), none, &env("RUSTC_WRAPPER", "/usr/bin/sccache")),
            Some("/usr/bin/sccache".into())
        );
        assert_eq!(
            user_sccache(
                dir.path(),
                none,
                &env("CARGO_BUILD_RUSTC_WRAPPER", "sccache")
            ),
            Some("sccache".into())
        );
        assert_eq!(
            user_sccache(dir.path(), none, &env("RUSTC_WRAPPER", "ccache")),
            None
        );
        let both = env("RUSTC_WRAPPER", "sccache").with("RUSTC_WORKSPACE_WRAPPER", "x");
        assert_eq!(user_sccache(dir.path(), none, &both), None);
        let config = ["build.rustc-wrapper = \"/opt/sccache\"".to_string()];
        assert_eq!(
            user_sccache(dir.path(), &config, &env("X", "y")),
            Some("/opt/sccache".into())
        );
        std::fs::create_dir_all(dir.path().join(".cargo")).unwrap();
        std::fs::write(
            dir.path().join(".cargo/config.toml"),
            "[build]\nrustc-wrapper = \"sccache\"\n",
        )
        .unwrap();
        assert_eq!(
            user_sccache(dir.path(), none, &env("X", "y")),
            Some("sccache".into())
        );
    }
}
