//! Reading the workspace: `cargo metadata`, the packages and binaries that `-p`, `--workspace`,
//! `--exclude` and `--bin` select (as cargo selects them, with suggestions for typos), and the
//! `imagebuild` metadata tables they carry. `plan.rs` turns what this finds into a plan.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{bail, Result};
use cargo_metadata::{CargoOpt, Metadata, MetadataCommand, Package};

use crate::image::platform::closest;
use crate::plan::config::{ConfigError, ImageSettings};
use crate::plan::metadata_cache::{self, MetadataSource};
use crate::plan::options::Options;

/// Runs `cargo metadata` for the workspace the options name, with the dependency graph resolved
/// for the build's features: the one metadata call of a run (the route stage reads each
/// target's dependencies from it rather than asking cargo again per target). The answer is kept
/// between runs and reused while nothing it depends on changed ([`metadata_cache`]).
pub fn metadata(opts: &Options) -> Result<(Metadata, MetadataSource)> {
    let mut cmd = MetadataCommand::new();
    if let Some(cargo) = opts.env.path("CARGO") {
        cmd.cargo_path(cargo);
    }
    let f = &opts.features;
    if f.all_features {
        cmd.features(CargoOpt::AllFeatures);
    }
    if f.no_default_features {
        cmd.features(CargoOpt::NoDefaultFeatures);
    }
    if !f.features.is_empty() {
        cmd.features(CargoOpt::SomeFeatures(f.features.clone()));
    }
    if let Some(p) = &opts.manifest_path {
        if !p.is_file() {
            bail!(
                "--manifest-path {}: no such file; point it at a Cargo.toml",
                p.display()
            );
        }
        cmd.manifest_path(p);
    }
    metadata_cache::metadata(&cmd, opts.manifest_path.as_deref(), &opts.env).map_err(|e| match e {
        cargo_metadata::Error::CargoMetadata { stderr } => anyhow::anyhow!(
            "cargo metadata failed: {}\n  help: run this in a Cargo workspace or pass --manifest-path",
            stderr.trim()
        ),
        other => anyhow::Error::new(other).context("running cargo metadata"),
    })
}

/// The workspace packages selected by -p/--workspace/--exclude, like cargo selects them.
pub fn select_packages<'m>(meta: &'m Metadata, opts: &Options) -> Result<Vec<&'m Package>> {
    let members: Vec<&Package> = meta.workspace_packages();
    let names: Vec<&str> = members.iter().map(|p| p.name.as_str()).collect();
    for p in opts.packages.iter().chain(&opts.exclude) {
        let name = p.split('@').next().unwrap_or(p);
        if !names.contains(&name) {
            let hint = closest(name, names.iter().copied())
                .map(|s| format!("did you mean `{s}`? "))
                .unwrap_or_default();
            bail!(
                "package `{p}` is not in this workspace: {hint}the members are: {}",
                names.join(", ")
            );
        }
    }
    let selected: Vec<&Package> = if !opts.packages.is_empty() {
        members
            .iter()
            .copied()
            .filter(|p| {
                opts.packages
                    .iter()
                    .any(|s| s.split('@').next() == Some(p.name.as_str()))
            })
            .collect()
    } else if opts.workspace || !opts.exclude.is_empty() {
        members.clone()
    } else {
        let defaults: BTreeSet<_> = meta.workspace_default_members.iter().collect();
        members
            .iter()
            .copied()
            .filter(|p| defaults.contains(&p.id))
            .collect()
    };
    Ok(selected
        .into_iter()
        .filter(|p| {
            !opts
                .exclude
                .iter()
                .any(|e| e.split('@').next() == Some(p.name.as_str()))
        })
        .collect())
}

/// The binaries to build: `(package, bin)` pairs, every bin target unless `--bin` narrows it.
pub fn select_bins<'m>(
    packages: &[&'m Package],
    opts: &Options,
) -> Result<Vec<(&'m Package, String)>> {
    let mut all: Vec<(&Package, String)> = Vec::new();
    for p in packages {
        for t in &p.targets {
            if t.kind.iter().any(|k| k.to_string() == "bin") {
                all.push((p, t.name.clone()));
            }
        }
    }
    if all.is_empty() {
        let names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
        bail!(
            "{} no binary target, so there is nothing to put in an image: add a src/main.rs or \
             a [[bin]] target, or select another package with -p",
            match names.as_slice() {
                [one] => format!("package `{one}` has"),
                many => format!("packages {} have", many.join(", ")),
            }
        );
    }
    if opts.bins.is_empty() {
        return Ok(all);
    }
    let mut out = Vec::new();
    for b in &opts.bins {
        match all.iter().find(|(_, name)| name == b) {
            Some(hit) => out.push(hit.clone()),
            None => {
                let known: Vec<&str> = all.iter().map(|(_, n)| n.as_str()).collect();
                let hint = closest(b, known.iter().copied())
                    .map(|s| format!("did you mean `{s}`? "))
                    .unwrap_or_default();
                bail!(
                    "no binary named `{b}` in the selected packages: {hint}the binaries are: {}",
                    known.join(", ")
                );
            }
        }
    }
    Ok(out)
}

/// The `imagebuild` table of a `metadata` value, if present, as settings.
pub fn table(
    value: &serde_json::Value,
    file: &Path,
    name: &str,
) -> Result<Option<ImageSettings>, ConfigError> {
    match value.get("imagebuild") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => ImageSettings::from_metadata(v, file, name).map(Some),
    }
}
