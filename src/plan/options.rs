//! What the caller asks for, free of clap types: [`Options`] (a build, before it meets the
//! workspace) and [`MergeOptions`], with the cargo feature flags ([`FeatureArgs`]), the choice of
//! builder ([`Builder`]) and of SBOM ([`SbomFormat`]). The binary fills them from its flags;
//! [`super::plan`] resolves them.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::image::platform::PlatformChoice;
use crate::plan::config::ImageSettings;
use crate::plan::naming::Tag;
use crate::registry::RegistryOptions;
use crate::util::env::Environment;

/// Who runs the build.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Builder {
    /// `cargo build`, with the linker and C compiler we chose in its environment.
    Cargo,
    /// `cargo zigbuild` (crates.io `cargo-zigbuild`): zig links and compiles C.
    Zigbuild,
    /// `cross build`: a container with the toolchain (needs docker or podman).
    Cross,
}

impl FromStr for Builder {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cargo" => Ok(Builder::Cargo),
            "zigbuild" | "cargo-zigbuild" => Ok(Builder::Zigbuild),
            "cross" => Ok(Builder::Cross),
            other => Err(format!(
                "unknown builder `{other}`: use cargo, zigbuild or cross"
            )),
        }
    }
}

impl fmt::Display for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Builder::Cargo => "cargo",
            Builder::Zigbuild => "zigbuild",
            Builder::Cross => "cross",
        })
    }
}
/// Which SBOM to attach to each image's platforms.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SbomFormat {
    /// SPDX 2.3 JSON.
    #[default]
    Spdx,
    /// CycloneDX 1.5 JSON.
    CycloneDx,
    /// No SBOM.
    None,
}

impl FromStr for SbomFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "spdx" | "spdx-json" => Ok(SbomFormat::Spdx),
            "cyclonedx" | "cdx" | "cyclonedx-json" => Ok(SbomFormat::CycloneDx),
            "none" | "false" | "off" => Ok(SbomFormat::None),
            other => Err(format!(
                "unknown SBOM format `{other}`: use spdx, cyclonedx or none"
            )),
        }
    }
}

/// Cargo feature flags, passed through as given.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct FeatureArgs {
    /// `--features`: each entry may be a comma or space list.
    pub features: Vec<String>,
    /// `--all-features`.
    pub all_features: bool,
    /// `--no-default-features`.
    pub no_default_features: bool,
}

/// What to build and where it goes: the library's input, free of clap types. Start from
/// [`Options::default`] (which takes the process's environment) and set what you need:
///
/// ```
/// let mut opts = cargo_imagebuild::Options::default();
/// opts.bins = vec!["api".into()];
/// opts.platforms = cargo_imagebuild::PlatformChoice::parse(&["linux/amd64,linux/arm64"]).unwrap();
/// ```
///
/// Settings that the metadata tables can also hold ([`ImageSettings`]) are the top layer over
/// them: a value set here wins over `[package.metadata.imagebuild]`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// The workspace's `Cargo.toml` (default: cargo's own search from the current directory).
    pub manifest_path: Option<PathBuf>,
    /// `-p`: the packages (default: the workspace's default members).
    pub packages: Vec<String>,
    /// `--workspace`: every member.
    pub workspace: bool,
    /// `--exclude`: members left out of `--workspace`.
    pub exclude: Vec<String>,
    /// `--bin`: only these binaries (default: every binary of the selected packages).
    pub bins: Vec<String>,
    /// cargo's feature flags.
    pub features: FeatureArgs,
    /// The cargo profile (empty: `release`).
    pub profile: String,
    /// `--target`: Rust target triples (each may be a comma list); each names its platform.
    pub targets: Vec<String>,
    /// `--platform`: the OCI platforms, or `all` of the base's (`None`: the settings', else
    /// this machine's).
    pub platforms: Option<PlatformChoice>,
    /// Extra cargo `--config KEY=VALUE` values for every build.
    pub cargo_config: Vec<String>,
    /// The settings given here: the top layer over the metadata tables. `tags` in it take
    /// `-t`'s grammar when written [`Tag::Docker`](crate::Tag::Docker).
    pub settings: ImageSettings,
    /// `--output` specs, in buildx's words (`type=oci,dest=DIR`, `type=registry`, …).
    pub outputs: Vec<String>,
    /// `--push`: the same as `--output type=registry`.
    pub push: bool,
    /// Where to write the pushed references (`--image-refs`).
    pub image_refs: Option<PathBuf>,
    /// Where to write the push's JSON summary (`--metadata-file`).
    pub metadata_file: Option<PathBuf>,
    /// How registries are reached.
    pub registry: RegistryOptions,
    /// `--load`: load one platform into docker or podman.
    pub load: bool,
    /// `--loader docker|podman`.
    pub loader: Option<String>,
    /// `--load-platform`: the platform that single-platform outputs hold.
    pub load_platform: Option<String>,
    /// `--builder`: force one way of building every target.
    pub builder: Option<Builder>,
    /// `--offline`: download nothing this tool would fetch for itself (zig).
    pub offline: bool,
    /// `--install-missing` (or `CARGO_IMAGEBUILD_INSTALL=auto`): install the Debian cross gcc
    /// a target's route lacks (`apt-get`, as root or with sudo) instead of refusing.
    pub install_missing: bool,
    /// `--sbom`: the SBOM attached to every platform's manifest.
    pub sbom: SbomFormat,
    /// `--no-provenance`: attach no provenance statement.
    pub no_provenance: bool,
    /// `--no-auditable`: write no dependency list into the binaries.
    pub no_auditable: bool,
    /// `--sbom-dir`: also write the SBOMs and provenance statements there.
    pub sbom_dir: Option<PathBuf>,
    /// Run cargo with `--verbose` (its command lines arrive as
    /// [`Event::CargoOutput`](crate::Event::CargoOutput)).
    pub cargo_verbose: bool,
    /// The command line the provenance records (its secrets masked and this machine's paths made
    /// relative there). Default: the process's arguments.
    pub command: Vec<String>,
    /// The environment variables the run reads (`CARGO_HOME`, `DOCKER_HOST`,
    /// `SOURCE_DATE_EPOCH`, `CARGO_IMAGEBUILD_*`, …). Default: the process's, when the options
    /// are made.
    pub env: Environment,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            manifest_path: None,
            packages: Vec::new(),
            workspace: false,
            exclude: Vec::new(),
            bins: Vec::new(),
            features: FeatureArgs::default(),
            profile: String::new(),
            targets: Vec::new(),
            platforms: None,
            cargo_config: Vec::new(),
            settings: ImageSettings::default(),
            outputs: Vec::new(),
            push: false,
            image_refs: None,
            metadata_file: None,
            registry: RegistryOptions::default(),
            load: false,
            loader: None,
            load_platform: None,
            builder: None,
            offline: false,
            install_missing: false,
            sbom: SbomFormat::default(),
            no_provenance: false,
            no_auditable: false,
            sbom_dir: None,
            cargo_verbose: false,
            command: std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            env: Environment::from_process(),
        }
    }
}

/// `cargo imagebuild merge`: per-platform layouts to assemble into one index, and where it goes.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MergeOptions {
    /// The OCI layout directories, one per platform (or group of platforms), in index order.
    pub dirs: Vec<PathBuf>,
    /// Names and tags (as `-t` takes them); none: the first layout's name and tags.
    pub tags: Vec<Tag>,
    /// `--output` specs, as for a build.
    pub outputs: Vec<String>,
    /// `--push`: the same as `--output type=registry`.
    pub push: bool,
    /// `--sign-key`: the private key a push is signed with (else `CARGO_IMAGEBUILD_SIGN_KEY`).
    pub sign_key: Option<PathBuf>,
    /// How registries are reached.
    pub registry: RegistryOptions,
    /// The environment variables the run reads (default: the process's).
    pub env: Environment,
}

impl Default for MergeOptions {
    fn default() -> MergeOptions {
        MergeOptions {
            dirs: Vec::new(),
            tags: Vec::new(),
            outputs: Vec::new(),
            push: false,
            sign_key: None,
            registry: RegistryOptions::default(),
            env: Environment::from_process(),
        }
    }
}
