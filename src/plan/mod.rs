//! The plan stage (pure). Takes [`Options`] (the command line, clap-free),
//! `cargo metadata`, the `[workspace|package.metadata.imagebuild]` tables ([`config`]), the
//! environment and the toolchain's installed standard libraries ([`toolchain`]); gives a
//! [`Plan`]: which binaries, which platforms and Rust targets, which base, which settings and
//! which outputs, resolved before anything is compiled. A plan prints (`--dry-run`, `-v`) and
//! serializes.
//!
//! Planning reads and decides; it installs nothing and asks no registry. What it cannot know by
//! reading (`--platform all`: the platforms of a registry base) it asks the [`Lookup`] its caller
//! passes. [`workspace`] selects packages and binaries, [`naming`] names images, [`output`]
//! parses `--output` specs, [`base`] parses the `base` setting, [`paths`] says where files go
//! under the target directory.

pub mod base;
pub mod checks;
pub mod config;
pub mod git;
pub mod glibc;
pub mod metadata_cache;
pub mod naming;
pub mod options;
pub mod output;
pub mod paths;
pub mod reproducible;
pub mod toolchain;
pub(crate) mod values;
pub mod workspace;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use cargo_metadata::Package;

use crate::image::document::{Annotations, Described, RuntimeConfig};
use crate::image::model::{Compression, CompressionKind};
use crate::image::platform::{self, Platform, PlatformChoice};
use crate::image::reference::ImageRef;
use crate::plan::base::Base;
use crate::plan::config::{AssetSpec, ImageSettings, Strip};
use crate::plan::options::FeatureArgs;
use crate::plan::options::{Builder, Options};
use crate::plan::output::OutputSpec;
use crate::plan::toolchain::Toolchain;
use crate::registry::RegistryOptions;
use crate::util::env::Environment;

/// One platform of one image, and the Rust target that builds it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct TargetPlan {
    /// The OCI platform.
    pub platform: Platform,
    /// The Rust target triple that builds it.
    pub triple: String,
    /// The user named this triple (`--target`, the `targets` setting): provisioning may install
    /// it or fail, never swap it for another.
    pub pinned: bool,
}

/// One binary's image, fully resolved: read it through its methods.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ImagePlan {
    pub(crate) package: String,
    pub(crate) version: String,
    pub(crate) bin: String,
    pub(crate) targets: Vec<TargetPlan>,
    pub(crate) base: Base,
    pub(crate) runtime: RuntimeConfig,
    /// Where the binary is installed in the image: `/usr/local/bin/<bin>`.
    pub(crate) bin_path: String,
    pub(crate) assets: Vec<AssetSpec>,
    pub(crate) compression: Compression,
    pub(crate) repository: String,
    pub(crate) tags: Vec<String>,
    /// What the image says about itself (Cargo.toml and git), on the index, every manifest
    /// and as config labels.
    pub(crate) described: Described,
    /// The user's annotations, by level.
    pub(crate) annotations: Annotations,
    /// What planning chose that the user should hear about (a name derived for them).
    pub(crate) notes: Vec<String>,
    /// What the compiler strips from the binary.
    pub(crate) strip: Strip,
}

/// Everything a build needs.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Plan {
    /// The workspace's root directory.
    pub workspace_root: PathBuf,
    /// The `Cargo.toml` cargo is run with.
    pub manifest_path: PathBuf,
    /// cargo's target directory.
    pub target_dir: PathBuf,
    /// The cargo profile.
    pub profile: String,
    /// cargo's feature flags.
    pub features: FeatureArgs,
    /// `--config` values for every cargo run (the `strip` override first); serialized with their
    /// secrets masked.
    #[serde(serialize_with = "masked_configs")]
    pub cargo_config: Vec<String>,
    /// The command line as attachments record it: secrets masked, paths relative to the
    /// workspace ([`crate::util::redact`], [`crate::util::relative`]).
    pub command: Vec<String>,
    /// One image per binary.
    pub images: Vec<ImagePlan>,
    /// Where the images go.
    pub outputs: Vec<OutputSpec>,
    /// Seconds since the epoch for every timestamp (see `reproducible::Epoch`).
    pub epoch: u64,
    /// Where `epoch` came from.
    pub epoch_source: reproducible::EpochSource,
    /// This machine's paths that rustc replaces in binaries (empty when turned off).
    pub remap: Vec<reproducible::Remap>,
    /// The git checkout the workspace is in, if any.
    pub git: Option<git::GitInfo>,
    /// The SBOM attached to every platform's manifest.
    pub sbom: options::SbomFormat,
    /// Whether a provenance statement is attached too.
    pub provenance: bool,
    /// Whether each ELF binary carries its dependency list ([`crate::compile::auditable`]).
    pub auditable: bool,
    /// Where SBOMs and provenance statements are also written as files.
    pub sbom_dir: Option<PathBuf>,
    /// How registries are reached (bases and pushes).
    pub registry: RegistryOptions,
    /// The workspace's `cache-limit` in bytes (the environment's wins; see
    /// `build::base_blobs::cache_limit`).
    pub cache_limit: Option<u64>,
    /// The key pushes are signed with (checked readable while planning, so a bad one stops
    /// the run before anything compiles); `None`: pushes are not signed.
    pub sign_key: Option<PathBuf>,
    /// Where to write the pushed references (`--image-refs`).
    pub image_refs: Option<PathBuf>,
    /// Where to write the push's JSON summary (`--metadata-file`).
    pub metadata_file: Option<PathBuf>,
    /// `--builder`: one way of building every target, or None to choose per target.
    pub builder: Option<Builder>,
    /// `--glibc` (or `glibc` in the metadata tables): gnu targets link dynamically against
    /// this glibc, with zig; `None`: they link glibc statically.
    pub glibc: Option<crate::plan::glibc::GlibcVersion>,
    /// `--verbose` for cargo.
    pub cargo_verbose: bool,
    /// Download nothing this tool would fetch for itself.
    pub offline: bool,
    /// The toolchain cargo will use in the workspace.
    pub toolchain: Toolchain,
    /// The environment the run reads.
    #[serde(skip)]
    pub env: Environment,
    /// The one `cargo metadata` of the run, with the dependency graph resolved for the build's
    /// features (the route stage reads each target's part of it).
    #[serde(skip)]
    pub metadata: std::sync::Arc<cargo_metadata::Metadata>,
    /// Whether that metadata was kept from an earlier run or asked of cargo now.
    #[serde(skip)]
    pub metadata_source: metadata_cache::MetadataSource,
}

impl Plan {
    /// Every distinct target, with the packages and binaries built for it, in plan order.
    pub fn builds(&self) -> Vec<(String, Vec<String>, Vec<String>)> {
        let mut order: Vec<String> = Vec::new();
        let mut per: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
        for img in &self.images {
            for t in &img.targets {
                if !order.contains(&t.triple) {
                    order.push(t.triple.clone());
                }
                let e = per.entry(t.triple.clone()).or_default();
                e.0.insert(img.package.clone());
                e.1.insert(img.bin.clone());
            }
        }
        order
            .into_iter()
            .map(|t| {
                let (p, b) = per.remove(&t).unwrap_or_default();
                (t, p.into_iter().collect(), b.into_iter().collect())
            })
            .collect()
    }

    /// Whether some output pushes to a registry.
    pub fn pushes(&self) -> bool {
        self.outputs.contains(&OutputSpec::Registry)
    }

    /// Where this tool's internal files go ([`paths::work_dir`]).
    pub fn work_dir(&self) -> PathBuf {
        paths::work_dir(&self.target_dir)
    }

    /// Where the blob store lives: `<target-dir>/imagebuild/.work/blobs`.
    pub fn store_dir(&self) -> PathBuf {
        self.work_dir().join("blobs")
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "workspace: {}", self.workspace_root.display())?;
        writeln!(f, "profile:   {}", self.profile)?;
        let epoch = reproducible::Epoch {
            seconds: self.epoch,
            source: self.epoch_source,
        };
        writeln!(f, "created:   {epoch}")?;
        if self.remap.is_empty() {
            writeln!(f, "remap:     off (binaries keep this machine's paths)")?;
        }
        for r in &self.remap {
            writeln!(f, "remap:     {} -> {}", r.from.display(), r.to)?;
        }
        for img in &self.images {
            writeln!(
                f,
                "image {} (package {} {})",
                img.bin, img.package, img.version
            )?;
            let short = crate::image::reference::familiar_repository(&img.repository);
            if short == img.repository {
                writeln!(f, "  repository: {}", img.repository)?;
            } else {
                writeln!(f, "  repository: {short} ({})", img.repository)?;
            }
            writeln!(f, "  tags:       {}", img.tags.join(", "))?;
            writeln!(f, "  base:       {}", img.base.name())?;
            writeln!(f, "  binary:     {}", img.bin_path)?;
            writeln!(f, "  entrypoint: {:?}", img.runtime.entrypoint)?;
            if let Some(cmd) = &img.runtime.cmd {
                writeln!(f, "  cmd:        {cmd:?}")?;
            }
            if let Some(u) = &img.runtime.user {
                writeln!(f, "  user:       {u}")?;
            }
            writeln!(f, "  strip:      {}", img.strip.as_str())?;
            writeln!(
                f,
                "  layers:     {} (level {})",
                img.compression,
                img.compression.level()
            )?;
            for a in &img.assets {
                writeln!(f, "  asset:      {} -> {}", a.source.display(), a.dest)?;
            }
            for t in &img.targets {
                writeln!(
                    f,
                    "  platform:   {:<14} {}",
                    t.platform.to_string(),
                    t.triple
                )?;
            }
        }
        for o in &self.outputs {
            writeln!(f, "output: {o}")?;
        }
        let provenance = if self.provenance { ", provenance" } else { "" };
        match self.sbom {
            options::SbomFormat::None if !self.provenance => writeln!(f, "attach: nothing")?,
            options::SbomFormat::None => writeln!(f, "attach: provenance")?,
            options::SbomFormat::Spdx => writeln!(f, "attach: SPDX SBOM{provenance}")?,
            options::SbomFormat::CycloneDx => writeln!(f, "attach: CycloneDX SBOM{provenance}")?,
        }
        if self.auditable {
            writeln!(
                f,
                "binary: dependency list in .dep-v0 (cargo-auditable's format)"
            )?;
        }
        Ok(())
    }
}

/// What planning needs to know from outside that it must not fetch itself: the caller answers
/// (the library asks the registry, a test answers from a table).
pub trait Lookup {
    /// The platforms a registry base offers (`--platform all`).
    fn base_platforms(&self, base: &ImageRef) -> Result<Vec<Platform>>;
    /// How to reach registries, as the workspace settings complete the command line's: told
    /// before any question, so the registry client is made with them.
    fn registry_options(&self, _registry: &RegistryOptions) {}
}

/// Resolves the options against the workspace into a plan: reads `cargo metadata`, the metadata
/// tables, the environment the options carry and the toolchain (`rustc --print sysroot`), and
/// decides. It installs nothing and asks no registry (`lookup` answers for it).
pub fn plan(opts: &Options, lookup: &dyn Lookup) -> Result<Plan> {
    // What the command line alone decides is checked before cargo is asked anything.
    checks::cargo_config(&opts.cargo_config)?;
    checks::profile(&opts.profile)?;
    if let Some(ca) = &opts.registry.ca {
        crate::registry::trust::UserCa::read(ca)?;
    }
    for (flag, file) in [
        ("--metadata-file", &opts.metadata_file),
        ("--image-refs", &opts.image_refs),
    ] {
        if let Some(file) = file {
            checks::output_file(flag, file)?;
        }
    }
    let (meta, metadata_source) = workspace::metadata(opts)?;
    let workspace_root = meta.workspace_root.clone().into_std_path_buf();
    let target_dir = meta.target_directory.clone().into_std_path_buf();
    let ws_file = workspace_root.join("Cargo.toml");
    let ws_settings = workspace_settings(&meta, &ws_file)?;
    // The run's registry deadlines: the caller's (the command line or its environment
    // variables), else the workspace table; the registry client is made with them on first use.
    let registry = RegistryOptions {
        timeout_secs: opts.registry.timeout_secs.or(ws_settings.registry_timeout),
        retries: opts.registry.retries.or(ws_settings.retries),
        ..opts.registry.clone()
    };
    lookup.registry_options(&registry);
    let cache_limit = match &ws_settings.cache_limit {
        Some(size) => Some(size.bytes().map_err(anyhow::Error::msg)?),
        None => None,
    };
    let sign_key = sign_key(opts, &ws_settings, &workspace_root)?;
    let packages = workspace::select_packages(&meta, opts)?;
    let bins = workspace::select_bins(&packages, opts)?;
    let toolchain = Toolchain::detect_cached(
        &workspace_root,
        Some(paths::work_dir(&target_dir).join("rustc-info.json")),
        &opts.env,
    )?;
    // The remote is only the `source` of a package that names no repository.
    let want_remote = bins.iter().any(|(p, _)| p.repository.is_none());
    let git = git::GitInfo::read(
        &workspace_root,
        want_remote,
        Some(&paths::work_dir(&target_dir).join("commit-times.json")),
    );
    let epoch =
        reproducible::Epoch::decide(opts.env.var("SOURCE_DATE_EPOCH").as_deref(), git.as_ref())?;
    let remap_paths = opts
        .settings
        .remap_paths
        .or(ws_settings.remap_paths)
        .unwrap_or(true);
    let remap = if remap_paths {
        reproducible::remaps(
            &workspace_root,
            &target_dir,
            reproducible::cargo_home(&opts.env).as_deref(),
            toolchain.sysroot(),
        )
    } else {
        Vec::new()
    };

    // Parse every output first: a typo should not wait for a compile.
    let outputs = outputs(opts, &target_dir, &bins)?;
    checks::insecure_registries(&opts.registry.insecure)?;
    let run = RunContext {
        targets: cli_targets(opts)?,
        platforms: opts.platforms.clone(),
        pushing: outputs.contains(&OutputSpec::Registry),
        several: bins.len() > 1,
        epoch: epoch.seconds,
        git: git.clone(),
        repo_prefix: opts.env.var(naming::ENV_REPO),
        toolchain: &toolchain,
        lookup,
    };
    let mut images = Vec::new();
    // One cargo build links each target once, so every binary gets the same glibc.
    let mut glibc: Option<(crate::plan::glibc::GlibcVersion, String)> = None;
    for (pkg, bin) in bins {
        let merged = image_settings(&ws_settings, pkg, &bin)?.overlay(opts.settings.clone());
        if let Some(v) = merged.glibc {
            match &glibc {
                Some((other, by)) if *other != v => bail!(
                    "`{by}` and `{bin}` ask for different glibc versions ({other} and {v}), and \
                     one build links each target once.\n  help: set one `glibc` in \
                     [workspace.metadata.imagebuild], or pass --glibc; {}",
                    config::HELP_URL
                ),
                Some(_) => {}
                None => glibc = Some((v, bin.clone())),
            }
        }
        images.push(resolve_image(pkg, &bin, merged, &run)?);
    }
    let glibc = glibc.map(|(v, _)| v);
    // A single-platform output told to hold a platform that is not built: say so before compiling.
    for img in &images {
        for wanted in outputs.iter().filter_map(OutputSpec::platform) {
            if !img.targets.iter().any(|t| t.platform.matches(wanted)) {
                let built: Vec<String> =
                    img.targets.iter().map(|t| t.platform.to_string()).collect();
                return Err(crate::image::select::ChoiceError::NotBuilt {
                    wanted: wanted.clone(),
                    built: built.join(", "),
                }
                .into());
            }
        }
    }

    let profile = match opts.profile.as_str() {
        "" => "release".to_string(),
        p => p.to_string(),
    };
    let cargo_config = strip_config(&images, &profile, &opts.cargo_config)?;
    let command = crate::util::relative::command(
        &crate::util::redact::command(&opts.command),
        &workspace_root,
        opts.env.path("HOME").as_deref(),
    );
    Ok(Plan {
        command,
        manifest_path: opts
            .manifest_path
            .clone()
            .unwrap_or_else(|| ws_file.clone()),
        workspace_root,
        target_dir,
        profile,
        features: opts.features.clone(),
        cargo_config,
        images,
        outputs,
        epoch: epoch.seconds,
        epoch_source: epoch.source,
        remap,
        git,
        sbom: opts.sbom,
        provenance: !opts.no_provenance,
        auditable: !opts.no_auditable,
        sbom_dir: opts.sbom_dir.clone(),
        registry,
        cache_limit,
        sign_key,
        image_refs: opts.image_refs.clone(),
        metadata_file: opts.metadata_file.clone(),
        builder: opts.builder,
        glibc,
        cargo_verbose: opts.cargo_verbose,
        offline: opts.offline,
        toolchain,
        env: opts.env.clone(),
        metadata: std::sync::Arc::new(meta),
        metadata_source,
    })
}

/// The variable that names the signing key when `--sign-key` does not.
pub const ENV_SIGN_KEY: &str = "CARGO_IMAGEBUILD_SIGN_KEY";

/// The signing key: `--sign-key`, else `CARGO_IMAGEBUILD_SIGN_KEY`, else the workspace's
/// `sign-key` (relative to its root), read once here so a key that cannot be used is refused
/// before anything compiles.
fn sign_key(opts: &Options, ws: &ImageSettings, workspace_root: &Path) -> Result<Option<PathBuf>> {
    let (what, path) = if let Some(p) = &opts.settings.sign_key {
        ("--sign-key".to_string(), p.clone())
    } else if let Some(p) = opts.env.var(ENV_SIGN_KEY).filter(|v| !v.is_empty()) {
        (ENV_SIGN_KEY.to_string(), PathBuf::from(p))
    } else if let Some(p) = &ws.sign_key {
        (
            "sign-key in [workspace.metadata.imagebuild]".to_string(),
            workspace_root.join(p),
        )
    } else {
        return Ok(None);
    };
    crate::image::signature::KeySigner::read(&what, &path, &opts.env)?;
    Ok(Some(path))
}

/// The workspace's `[workspace.metadata.imagebuild]` (empty when absent), which may not hold
/// per-binary tables.
fn workspace_settings(meta: &cargo_metadata::Metadata, ws_file: &Path) -> Result<ImageSettings> {
    let settings = workspace::table(
        &meta.workspace_metadata,
        ws_file,
        "workspace.metadata.imagebuild",
    )?
    .unwrap_or_default();
    if settings.bin.is_some() {
        bail!(
            "invalid [workspace.metadata.imagebuild] in {}: `bin` tables belong in a package's \
             [package.metadata.imagebuild.bin.<name>]",
            ws_file.display()
        );
    }
    Ok(settings)
}

/// The settings of one binary below the caller's layer: the workspace's, then its package's,
/// then its own `[package.metadata.imagebuild.bin.<name>]`.
fn image_settings(ws: &ImageSettings, pkg: &Package, bin: &str) -> Result<ImageSettings> {
    let pkg_file = pkg.manifest_path.clone().into_std_path_buf();
    let pkg_settings = workspace::table(&pkg.metadata, &pkg_file, "package.metadata.imagebuild")?
        .unwrap_or_default();
    let bin_layers = pkg_settings.bin.iter().flat_map(|b| b.values());
    if let Some(key) = std::iter::once(&pkg_settings)
        .chain(bin_layers)
        .find_map(ImageSettings::workspace_only_key)
    {
        bail!(
            "invalid [package.metadata.imagebuild] in {}: `{key}` applies to the whole \
             build, so it belongs in [workspace.metadata.imagebuild]",
            pkg_file.display()
        );
    }
    let bin_settings = pkg_settings
        .bin
        .as_ref()
        .and_then(|b| b.get(bin))
        .cloned()
        .unwrap_or_default();
    if let Some(bins) = &pkg_settings.bin {
        for name in bins.keys() {
            if !pkg.targets.iter().any(|t| &t.name == name) {
                bail!(
                    "invalid [package.metadata.imagebuild.bin.{name}] in {}: package `{}` \
                     has no binary named `{name}`",
                    pkg_file.display(),
                    pkg.name
                );
            }
        }
    }
    Ok(ws.clone().overlay(pkg_settings).overlay(bin_settings))
}

/// The outputs asked for (the default OCI layout per binary when none), checked against the
/// selection: one destination cannot take several binaries, and the push files need a push.
fn outputs(
    opts: &Options,
    target_dir: &Path,
    bins: &[(&Package, String)],
) -> Result<Vec<OutputSpec>> {
    let mut outputs = OutputSpec::resolve(
        &opts.outputs,
        opts.load,
        opts.loader.as_deref(),
        opts.load_platform.as_deref(),
    )?;
    if opts.push && !outputs.contains(&OutputSpec::Registry) {
        outputs.push(OutputSpec::Registry);
    }
    if outputs.is_empty() {
        outputs.push(OutputSpec::OciDir {
            dest: paths::images_dir(target_dir).join("{bin}"),
        });
    }
    if !outputs.contains(&OutputSpec::Registry)
        && (opts.image_refs.is_some() || opts.metadata_file.is_some())
    {
        bail!(
            "--image-refs and --metadata-file describe a push: add --push (or --output \
             type=registry)"
        );
    }
    if bins.len() > 1 {
        if let Some(o) = outputs.iter().find(|o| !o.is_per_bin()) {
            let names: Vec<&str> = bins.iter().map(|(_, b)| b.as_str()).collect();
            bail!(
                "{} binaries are selected ({}) but the output {} names one destination: put \
                 {{bin}} in dest (dest=out/{{bin}}.tar), or pick one binary with --bin",
                names.len(),
                names.join(", "),
                o.dest()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default()
            );
        }
    }
    Ok(outputs)
}

/// The `--target` triples (comma lists allowed), each with its platform.
fn cli_targets(opts: &Options) -> Result<Vec<(Platform, String)>> {
    let targets = parse_targets(&opts.targets)?;
    if opts.platforms == Some(PlatformChoice::All) && !targets.is_empty() {
        return Err(platform::PlatformError::AllStandsAlone).context("--platform");
    }
    Ok(targets)
}

/// Rust target triples as given (each may be a comma list), each with the platform it builds.
pub fn parse_targets(given: &[String]) -> Result<Vec<(Platform, String)>> {
    given
        .iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| Ok((Platform::from_triple(t)?, t.to_string())))
        .collect()
}

/// The platforms asked for, each with the triple it was named by (`--target`) or none: the
/// targets first, then the listed platforms not already among them, else this machine's.
pub fn requested(
    targets: Vec<(Platform, String)>,
    listed: Vec<Platform>,
) -> Result<Vec<(Platform, Option<String>)>> {
    let mut wanted: Vec<(Platform, Option<String>)> =
        targets.into_iter().map(|(p, t)| (p, Some(t))).collect();
    for p in listed {
        if !wanted.iter().any(|(w, _)| *w == p) {
            wanted.push((p, None));
        }
    }
    if wanted.is_empty() {
        let host = Platform::host()
            .context("this machine's platform is not one images are built for: pass --platform")?;
        wanted.push((host, None));
    }
    Ok(wanted)
}

/// cargo's `--config` values: the `strip` setting as a profile override, then the user's own
/// (a `strip` the user passes with `--config` is theirs to decide: no override is added). The
/// binaries of one build share one cargo profile, so they must agree on `strip`.
/// `--config` values as a printed plan shows them: secrets masked.
fn masked_configs<S: serde::Serializer>(configs: &[String], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(configs.iter().map(|c| crate::util::redact::config_value(c)))
}

fn strip_config(images: &[ImagePlan], profile: &str, user: &[String]) -> Result<Vec<String>> {
    let mut config = Vec::new();
    if let Some(first) = images.first() {
        if let Some(other) = images.iter().find(|i| i.strip != first.strip) {
            bail!(
                "`strip` is {} for {} but {} for {}: binaries built together share one cargo \
                 profile; set `strip` once in [workspace.metadata.imagebuild] (or pass --strip)",
                first.strip.as_str(),
                first.bin,
                other.strip.as_str(),
                other.bin
            );
        }
        let overrides = |c: &String| c.contains(&format!("profile.{profile}.strip"));
        if !user.iter().any(overrides) {
            config.push(first.strip.cargo_config(profile));
        }
    }
    config.extend(user.iter().cloned());
    Ok(config)
}

/// What every image's resolution needs to know about the whole run.
struct RunContext<'a> {
    /// `--target` triples with their platforms.
    targets: Vec<(Platform, String)>,
    /// `--platform`.
    platforms: Option<PlatformChoice>,
    /// Some output is a push.
    pushing: bool,
    /// More than one binary is built.
    several: bool,
    /// Seconds since the epoch for `created` (see [`reproducible::Epoch`]).
    epoch: u64,
    /// The git checkout, for `revision` and a `source` Cargo.toml does not name.
    git: Option<git::GitInfo>,
    /// `CARGO_IMAGEBUILD_REPO`: a repository prefix for images that name none.
    repo_prefix: Option<String>,
    toolchain: &'a Toolchain,
    lookup: &'a dyn Lookup,
}

/// `--platform all`: the platforms `base` offers that we can build for, as `lookup` answers.
fn base_platforms(base: &Base, lookup: &dyn Lookup) -> Result<Vec<Platform>> {
    let Some(r) = base.reference() else {
        bail!(
            "--platform all means every platform of the base image, but the base is scratch: \
             set a base (--base IMAGE) or list the platforms (--platform linux/amd64,linux/arm64)"
        );
    };
    let platforms = lookup.base_platforms(r)?;
    if platforms.is_empty() {
        bail!("the base image {r} offers no platform that Rust can build for: list --platform values yourself");
    }
    Ok(platforms)
}

/// The platforms of one image, each with its triple: the caller's (with its explicit triples),
/// else the settings', else the host's. The `targets` setting names a platform's triple.
fn image_targets(
    pkg: &Package,
    s: &ImageSettings,
    base: &Base,
    run: &RunContext,
) -> Result<Vec<TargetPlan>> {
    let from_settings = match &s.platforms {
        Some(list) => PlatformChoice::parse(list)
            .with_context(|| format!("the `platforms` setting of package `{}`", pkg.name))?,
        None => None,
    };
    let choice = match (&run.platforms, run.targets.is_empty()) {
        (Some(c), _) => Some(c.clone()),
        (None, true) => from_settings,
        (None, false) => None,
    };
    let listed = match choice {
        Some(PlatformChoice::All) => base_platforms(base, run.lookup)?,
        Some(PlatformChoice::List(l)) => l,
        None => Vec::new(),
    };
    let wanted = requested(run.targets.clone(), listed)?;
    let overrides: BTreeMap<Platform, String> = s
        .targets
        .iter()
        .flatten()
        .map(|(p, t)| {
            let platform: Platform = p.parse().with_context(|| format!("the `targets` setting key `{p}`"))?;
            let got = Platform::from_triple(t).with_context(|| format!("the `targets` setting for {p}"))?;
            if got != platform {
                bail!("the `targets` setting maps {platform} to `{t}`, which builds for {got}: choose a {platform} target");
            }
            Ok((platform, t.clone()))
        })
        .collect::<Result<_>>()?;
    let mut targets: Vec<TargetPlan> = Vec::new();
    for (platform, explicit) in wanted {
        if targets.iter().any(|t| t.platform == platform) {
            bail!("{platform} is asked for twice (two --target values for one platform): keep one");
        }
        let preferred = explicit.or_else(|| overrides.get(&platform).cloned());
        let triple = run.toolchain.choose(&platform, preferred.as_deref())?;
        targets.push(TargetPlan {
            platform,
            triple,
            pinned: preferred.is_some(),
        });
    }
    Ok(targets)
}

/// Refuses, before anything is built, annotations that would make a manifest or the index
/// larger than registries accept (said after the upload otherwise): what the documents say
/// about the image, the user's annotations at each level, and room for the descriptors.
fn documents_fit(
    bin: &str,
    described: &Described,
    annotations: &Annotations,
    targets: &[TargetPlan],
) -> Result<()> {
    use crate::image::document::{self as doc, DESCRIPTOR_ROOM};
    let len = |a: &BTreeMap<String, String>| serde_json::to_vec(a).map(|v| v.len()).unwrap_or(0);
    // A registry base adds its name and digest.
    let base = Some(("x".repeat(255), "sha256:".to_string() + &"0".repeat(64)));
    let base = base.as_ref().map(|(n, d)| (n.as_str(), d.as_str()));
    let mut index = len(&doc::index_annotations(described, &annotations.index));
    for t in targets {
        let own =
            doc::manifest_annotations(described, base, &annotations.for_manifest(&t.platform));
        doc::within_limit(
            &format!("the {} manifest of {bin}", t.platform),
            len(&own) + DESCRIPTOR_ROOM,
        )?;
        index += len(&annotations.for_descriptor(&t.platform)) + 1024;
    }
    doc::within_limit(&format!("the index of {bin}"), index)
}

/// One binary's merged settings, resolved.
fn resolve_image(
    pkg: &Package,
    bin: &str,
    s: ImageSettings,
    run: &RunContext,
) -> Result<ImagePlan> {
    let base = Base::parse(s.base.as_deref().unwrap_or("scratch"))?;
    let targets = image_targets(pkg, &s, &base, run)?;
    let bin_dir = s
        .bin_dir
        .clone()
        .unwrap_or_else(|| "/usr/local/bin".to_string());
    let bin_path = format!("{}/{bin}", bin_dir.trim_end_matches('/'));
    let ports = s
        .ports
        .iter()
        .flatten()
        .map(|p| p.normalized().map_err(anyhow::Error::msg))
        .collect::<Result<Vec<_>>>()?;
    let mut runtime = RuntimeConfig {
        entrypoint: s
            .entrypoint
            .clone()
            .unwrap_or_else(|| vec![bin_path.clone()]),
        cmd: s.cmd.clone(),
        env: s.env.clone().unwrap_or_default().into_iter().collect(),
        workdir: s.workdir.clone(),
        user: s
            .user
            .clone()
            .or_else(|| base.default_user().map(str::to_string)),
        labels: s.labels.clone().unwrap_or_default(),
        ports,
    };
    let compression = Compression::new(
        s.compression.unwrap_or(CompressionKind::Gzip),
        s.compression_level,
    )
    .map_err(anyhow::Error::msg)?;
    checks::runtime(&runtime)?;
    // The binary's name stands for the image's where no other name is given.
    let name = naming::image_name_for_bin(bin);
    let configured = match (&s.repository, &run.repo_prefix) {
        (Some(r), _) => Some(r.replace("{bin}", &name)),
        (None, Some(prefix)) => Some(format!("{}/{name}", prefix.trim_end_matches('/'))),
        (None, None) => None,
    };
    let tags = s
        .tags
        .clone()
        .unwrap_or_else(|| vec![naming::Tag::Setting(pkg.version.to_string())]);
    if tags.is_empty() {
        bail!("the `tags` setting is empty: give at least one tag, or remove it to use the package version");
    }
    let (repository, tags) =
        naming::repository_and_tags(&name, configured, &tags, run.several, run.pushing)?;
    naming::validate_repository(&repository)?;
    let mut notes = Vec::new();
    if name != bin && repository.rsplit('/').next() == Some(name.as_str()) {
        notes.push(format!(
            "binary `{bin}` is not a valid image name: its image is named `{repository}` (choose \
             another with --repository or -t)"
        ));
    }
    if run.pushing {
        ImageRef::repository_named(&repository)?;
    }
    let assets = s.asset_specs();
    for a in &assets {
        if !a.source.exists() {
            bail!(
                "asset {} does not exist: fix its `source` (relative paths start at the \
                 Cargo.toml that names it)",
                a.source.display()
            );
        }
        crate::image::layer::normalize(&a.dest)?;
    }

    let described = Described {
        created: crate::image::document::rfc3339(run.epoch),
        title: bin.to_string(),
        version: pkg.version.to_string(),
        source: pkg.repository.as_deref().map(git::public_url).or_else(|| {
            run.git
                .as_ref()
                .and_then(|g| g.remote.as_deref())
                .and_then(git::web_url)
        }),
        revision: run.git.as_ref().map(git::GitInfo::revision),
        licenses: pkg.license.clone(),
        description: pkg.description.as_ref().map(|d| d.trim().to_string()),
        url: pkg.homepage.clone(),
        documentation: pkg.documentation.clone(),
        vendor: None,
        authors: (!pkg.authors.is_empty()).then(|| pkg.authors.join(", ")),
    };
    runtime.labels = described.labels(&runtime.labels);
    let annotations = Annotations::parse(&s.annotations.clone().unwrap_or_default())?;
    for p in annotations.platforms() {
        if !targets.iter().any(|t| t.platform.matches(p)) {
            let built: Vec<String> = targets.iter().map(|t| t.platform.to_string()).collect();
            bail!(
                "an annotation names {p}, which is not built (the platforms are {}): fix its \
                 level or add --platform {p}",
                built.join(", ")
            );
        }
    }

    documents_fit(bin, &described, &annotations, &targets)?;

    Ok(ImagePlan {
        package: pkg.name.to_string(),
        version: pkg.version.to_string(),
        bin: bin.to_string(),
        targets,
        base,
        runtime,
        bin_path,
        assets,
        compression,
        repository,
        tags,
        described,
        annotations,
        notes,
        strip: s.strip.unwrap_or_default(),
    })
}
