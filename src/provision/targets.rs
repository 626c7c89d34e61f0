//! Provisioning the Rust toolchain a plan needs: `rustup target add` for every standard library
//! the plan's targets lack, saying so, and falling back to the platform's next candidate triple
//! (musl → gnu) when rustup cannot serve the first and the user did not name the triple.

use std::process::{Command, Stdio};

use anyhow::{bail, Result};

use crate::plan::toolchain::Toolchain;
use crate::plan::Plan;
use crate::util::report::Reporter;

/// Installs what `plan`'s targets lack. A target the user named (`--target`, `targets`) is
/// installed or refused; a derived one may move to the next candidate of its platform, and every
/// image building that platform follows it.
pub fn install_targets(plan: &mut Plan, ui: &Reporter) -> Result<()> {
    let toolchain = plan.toolchain.clone();
    let toolchain = &toolchain;
    let mut decided: Vec<(String, String)> = Vec::new();
    for img in &mut plan.images {
        for t in &mut img.targets {
            if let Some((_, to)) = decided.iter().find(|(from, _)| *from == t.triple) {
                t.triple = to.clone();
                continue;
            }
            if toolchain.has_std(&t.triple) {
                continue;
            }
            let from = t.triple.clone();
            if t.pinned {
                install_std(toolchain, &t.triple, ui)?;
            } else {
                t.triple = install_first(toolchain, &t.platform, &t.triple, ui)?;
            }
            decided.push((from, t.triple.clone()));
        }
    }
    Ok(())
}

/// Installs the first candidate of `platform`, from `first` on, that rustup can serve.
fn install_first(
    toolchain: &Toolchain,
    platform: &crate::image::platform::Platform,
    first: &str,
    ui: &Reporter,
) -> Result<String> {
    let candidates = platform.candidate_triples();
    let start = candidates.iter().position(|c| *c == first).unwrap_or(0);
    let mut errors = Vec::new();
    for t in &candidates[start..] {
        match install_std(toolchain, t, ui) {
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

/// Installs the standard library for `triple` with rustup, saying so. The error names the
/// target and what to do.
pub fn install_std(toolchain: &Toolchain, triple: &str, ui: &Reporter) -> Result<()> {
    ui.status(
        "Installing",
        &format!("the {triple} standard library (rustup target add {triple})"),
    );
    let out = Command::new("rustup")
        .args(["target", "add", triple])
        .current_dir(toolchain.dir())
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
    if !out.status.success() || !toolchain.has_std(triple) {
        let why = String::from_utf8_lossy(&out.stderr);
        let why = why.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
        bail!(
            "rustup cannot provide the standard library for {triple} ({why}): choose another \
             target for this platform with `--target`, or the `targets` setting"
        );
    }
    Ok(())
}
