//! The Rust toolchain as the workspace sees it (rustup overrides apply): which targets have a
//! standard library, installing missing ones with `rustup target add`, and choosing the triple
//! for a platform (the first candidate of the platform table whose standard library is here or
//! can be had).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::platform::Platform;
use crate::ui::Ui;

/// The toolchain that `cargo build` in `dir` would use.
#[derive(Debug, Clone)]
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

    /// Installs the standard library for `triple` with rustup, saying so. The error names the
    /// target and what to do.
    pub fn install_std(&self, triple: &str, ui: &Ui) -> Result<()> {
        ui.status(
            "Installing",
            &format!("the {triple} standard library (rustup target add {triple})"),
        );
        let out = Command::new("rustup")
            .args(["target", "add", triple])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output();
        let out = match out {
            Ok(o) => o,
            Err(_) => bail!(
                "the standard library for {triple} is not installed and rustup was not found: \
                 install it with your Rust distribution, or install rustup and run \
                 `rustup target add {triple}`"
            ),
        };
        if !out.status.success() || !self.has_std(triple) {
            let why = String::from_utf8_lossy(&out.stderr);
            let why = why.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
            bail!(
                "rustup cannot provide the standard library for {triple} ({why}): choose another \
                 target for this platform with `--target`, or the `targets` setting"
            );
        }
        Ok(())
    }

    /// The triple to build `platform` with: `preferred` when given (installing its standard
    /// library if needed), else the first table candidate that is installed, else the first that
    /// rustup can install. With `install` false nothing is installed (for a dry run).
    pub fn choose(
        &self,
        platform: &Platform,
        preferred: Option<&str>,
        install: bool,
        ui: &Ui,
    ) -> Result<String> {
        if let Some(t) = preferred {
            if install && !self.has_std(t) {
                self.install_std(t, ui)?;
            }
            return Ok(t.to_string());
        }
        let candidates = platform.candidate_triples();
        if let Some(t) = candidates.iter().find(|t| self.has_std(t)) {
            return Ok(t.to_string());
        }
        if !install {
            return candidates
                .first()
                .map(|t| t.to_string())
                .with_context(|| format!("no Rust target is known for {platform}"));
        }
        let mut errors = Vec::new();
        for t in candidates {
            match self.install_std(t, ui) {
                Ok(()) => return Ok(t.to_string()),
                Err(e) => errors.push(format!("  {t}: {e}")),
            }
        }
        bail!(
            "no Rust standard library can be had for {platform}:\n{}\n  help: install one of \
             these targets by hand, or drop {platform} from the platforms",
            errors.join("\n")
        )
    }
}
