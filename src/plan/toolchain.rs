//! The Rust toolchain as the workspace sees it (rustup overrides apply): which targets have a
//! standard library, and choosing the triple for a platform (the first candidate of the platform
//! table whose standard library is here). Reading only: installing a missing standard library is
//! the build step `build/toolchain.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::image::platform::Platform;

/// The toolchain that `cargo build` in `dir` would use.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Toolchain {
    dir: PathBuf,
    sysroot: PathBuf,
}

impl Toolchain {
    /// Asks `rustc` (as `$RUSTC` or found by rustup from `dir`) for its sysroot.
    pub fn detect(dir: &Path) -> Result<Toolchain> {
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let out = Command::new(&rustc)
            .args(["--print", "sysroot"])
            .current_dir(dir)
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| {
                format!(
                    "running `{} --print sysroot`: is Rust installed?",
                    rustc.to_string_lossy()
                )
            })?;
        if !out.status.success() {
            bail!("`rustc --print sysroot` failed in {}", dir.display());
        }
        let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        Ok(Toolchain {
            dir: dir.to_path_buf(),
            sysroot,
        })
    }

    pub fn sysroot(&self) -> &Path {
        &self.sysroot
    }

    /// Whether the standard library for `triple` is installed.
    pub fn has_std(&self, triple: &str) -> bool {
        self.sysroot
            .join("lib/rustlib")
            .join(triple)
            .join("lib")
            .is_dir()
    }

    /// The directory rustup resolves its toolchain from (overrides apply there).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The triple to build `platform` with, deciding only: `preferred` when given, else the
    /// first table candidate whose standard library is installed, else the first candidate
    /// (installing it is the build step `build::toolchain::install_targets`).
    pub fn choose(&self, platform: &Platform, preferred: Option<&str>) -> Result<String> {
        if let Some(t) = preferred {
            return Ok(t.to_string());
        }
        let candidates = platform.candidate_triples();
        if let Some(t) = candidates.iter().find(|t| self.has_std(t)) {
            return Ok(t.to_string());
        }
        candidates
            .first()
            .map(|t| t.to_string())
            .with_context(|| format!("no Rust target is known for {platform}"))
    }
}
