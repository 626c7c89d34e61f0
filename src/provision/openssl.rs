//! An OpenSSL for targets that have none: when a target's graph has `openssl-sys` without its
//! vendored source (see [`crate::route::cdeps`]), OpenSSL is built from source once per target
//! and version, with that target's own route (the same C compiler and linker as the user's
//! build), and openssl-sys is pointed at it through its documented variables
//! (`<TARGET>_OPENSSL_DIR`, `<TARGET>_OPENSSL_STATIC`). The user's crate is not changed.
//!
//! The source and build logic are openssl-sys's own: the `openssl-src` crate (the one its
//! `vendored` feature uses), pinned to [`OPENSSL_SRC`] (OpenSSL [`OPENSSL_VERSION`]), built by a generated helper crate whose
//! build script calls it. The result is kept in the tool's cache (`<cache>/openssl/<version>/
//! <target>`), shared by every project, and moved there only when whole.

use std::path::{Path, PathBuf};

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::compile::cargo::{self, CompileRequest};
use crate::plan::options::FeatureArgs;
use crate::provision::cache::cache_dir;
use crate::route::tools::ZigCommand;
use crate::route::{CCompiler, Route, OPENSSL_SRC, OPENSSL_VERSION};
use crate::util::env::Environment;
use crate::util::report::Reporter;
use crate::util::{atomic, process};

/// The variable the helper's build script reads: where openssl-src builds and installs.
const OUT_VAR: &str = "IMAGEBUILD_OPENSSL_OUT";

/// The environment that points `triple`'s openssl-sys at `install`.
pub fn env_for(triple: &str, install: &Path) -> Vec<(String, String)> {
    let prefix = triple.to_ascii_uppercase().replace('-', "_");
    vec![
        (
            format!("{prefix}_OPENSSL_DIR"),
            install.display().to_string(),
        ),
        (format!("{prefix}_OPENSSL_STATIC"), "1".to_string()),
    ]
}

/// Where the OpenSSL for `triple` lives in the cache, built or not.
pub fn install_dir(triple: &str, env: &Environment) -> Result<PathBuf> {
    Ok(cache_dir(env)?
        .join("openssl")
        .join(format!("{OPENSSL_VERSION}-src{OPENSSL_SRC}"))
        .join(triple))
}

/// The OpenSSL install directory (`include/`, `lib/`) for `route`'s target, built first when
/// the cache has none. `work_dir` holds the zig wrappers a route may need.
pub fn provide(
    route: &Route,
    work_dir: &Path,
    ui: &Reporter,
    env: &Environment,
) -> Result<PathBuf> {
    let triple = route.triple.as_str();
    let done = install_dir(triple, env)?;
    if done.join("include/openssl/ssl.h").is_file() {
        ui.detail("OpenSSL", &format!("for {triple} from {}", done.display()));
        return Ok(done);
    }
    let version = OPENSSL_VERSION;
    ui.status(
        "Building",
        &format!(
            "OpenSSL {version} for {triple} from source, for openssl-sys (once; a few minutes): \
             into {}",
            done.display()
        ),
    );
    let root = done
        .parent()
        .context("the OpenSSL cache directory has no parent")?;
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let work = tempfile::Builder::new()
        .prefix(&format!(".build-{triple}-"))
        .tempdir_in(root)
        .with_context(|| format!("cannot write in {}", root.display()))?;
    let crate_dir = work.path().join("helper");
    write_helper(&crate_dir)?;
    let out = work.path().join("out");
    let helper_route = Route {
        openssl: false,
        cxx_runtime: false,
        ..route.clone()
    };
    let target_dir = work.path().join("target");
    let req = CompileRequest {
        manifest_path: &crate_dir.join("Cargo.toml"),
        workspace_root: &crate_dir,
        packages: Vec::new(),
        bins: vec!["imagebuild-openssl".to_string()],
        features: &FeatureArgs::default(),
        profile: "release",
        cargo_config: &[],
        routes: vec![&helper_route],
        work_dir,
        rustflags: &[],
        vars: env,
        verbose: false,
        env: vec![
            (OUT_VAR.to_string(), out.display().to_string()),
            (
                "CARGO_TARGET_DIR".to_string(),
                target_dir.display().to_string(),
            ),
        ],
    };
    cargo::compile(&req, ui).with_context(|| {
        format!(
            "building OpenSSL {version} for {triple} from source failed (its output is above). \
             It needs perl and make besides the target's C compiler; or give openssl-sys an \
             OpenSSL yourself ({}_OPENSSL_DIR), or enable its `vendored` feature",
            triple.to_ascii_uppercase().replace('-', "_")
        )
    })?;
    let installed = out.join("install");
    // openssl-sys asks 32-bit targets to link `-latomic`, which musl toolchains lack.
    if let CCompiler::Zig { zig, target } = &route.c_compiler {
        if is_32_bit(triple) {
            libatomic(zig, triple, target, work_dir, &installed.join("lib"))?;
        }
    }
    match std::fs::rename(&installed, &done) {
        Ok(()) => {}
        // Another run finished first: its copy is as good as ours.
        Err(_) if done.join("include/openssl/ssl.h").is_file() => {}
        Err(e) => return Err(e).with_context(|| format!("moving OpenSSL into {}", done.display())),
    }
    Ok(done)
}

fn is_32_bit(triple: &str) -> bool {
    triple
        .parse::<target_lexicon::Triple>()
        .ok()
        .and_then(|t| t.pointer_width().ok())
        .is_some_and(|w| w.bits() == 32)
}

/// `libatomic.a` in `lib`: the generic atomics of `templates/atomic.c` compiled with zig for the
/// target, so that `-latomic` links and OpenSSL's lock-free-impossible atomics resolve.
fn libatomic(
    zig: &ZigCommand,
    triple: &str,
    zig_target: &str,
    work_dir: &Path,
    lib: &Path,
) -> Result<()> {
    let w = crate::route::zigcc::write_wrappers(&work_dir.join("zig"), zig, triple, zig_target)?;
    let scratch = tempfile::tempdir().context("a temporary directory for libatomic")?;
    let src = scratch.path().join("atomic.c");
    let obj = scratch.path().join("atomic.o");
    let archive = lib.join("libatomic.a");
    atomic::write(&src, include_bytes!("../../templates/atomic.c"))?;
    let limit = std::time::Duration::from_secs(300);
    let steps: [(&Path, Vec<&std::ffi::OsStr>); 2] = [
        (
            &w.cc,
            vec![
                "-O2".as_ref(),
                "-c".as_ref(),
                src.as_os_str(),
                "-o".as_ref(),
                obj.as_os_str(),
            ],
        ),
        (
            &w.ar,
            vec!["rcs".as_ref(), archive.as_os_str(), obj.as_os_str()],
        ),
    ];
    for (program, args) in steps {
        let what = format!(
            "`{} {}`",
            program.display(),
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let out = process::run(Command::new(program).args(&args), limit, &what)?;
        if !out.status.success() {
            bail!(
                "{what} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    Ok(())
}

/// A crate whose build script builds OpenSSL with openssl-src into `$IMAGEBUILD_OPENSSL_OUT`.
fn write_helper(dir: &Path) -> Result<()> {
    let src_version = OPENSSL_SRC;
    atomic::write(
        &dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"imagebuild-openssl\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             publish = false\n\n[[bin]]\nname = \"imagebuild-openssl\"\npath = \"main.rs\"\n\n\
             [build-dependencies]\nopenssl-src = \"={src_version}\"\n\n[workspace]\n"
        )
        .as_bytes(),
    )?;
    atomic::write(&dir.join("main.rs"), b"fn main() {}\n")?;
    atomic::write(
        &dir.join("build.rs"),
        format!(
            "fn main() {{\n    println!(\"cargo:rerun-if-env-changed={OUT_VAR}\");\n    \
             let out = std::env::var(\"{OUT_VAR}\").expect(\"{OUT_VAR}\");\n    \
             openssl_src::Build::new().out_dir(out).build();\n}}\n"
        )
        .as_bytes(),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_sys_reads_the_target_prefixed_variables() {
        let env = env_for("aarch64-unknown-linux-musl", Path::new("/c/openssl"));
        assert_eq!(
            env,
            [
                (
                    "AARCH64_UNKNOWN_LINUX_MUSL_OPENSSL_DIR".to_string(),
                    "/c/openssl".to_string()
                ),
                (
                    "AARCH64_UNKNOWN_LINUX_MUSL_OPENSSL_STATIC".to_string(),
                    "1".to_string()
                ),
            ]
        );
    }
}
