//! What the command line asked for, free of clap types: [`Options`] (the flags as given, before
//! they meet the workspace), with the cargo feature flags ([`FeatureArgs`]) and the user's choice
//! of builder ([`Builder`]). `cli.rs` fills it; [`super::plan`] resolves it.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::plan::config::ImageSettings;
use crate::registry::RegistryOptions;
use crate::util::ui::{MessageFormat, Progress, Verbosity};

/// Who runs the build.
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SbomFormat {
    /// SPDX 2.3 JSON.
    #[default]
    Spdx,
    /// CycloneDX 1.5 JSON.
    CycloneDx,
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
pub struct FeatureArgs {
    pub features: Vec<String>,
    pub all_features: bool,
    pub no_default_features: bool,
}

/// What the command line asked for, free of clap types.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub manifest_path: Option<PathBuf>,
    pub packages: Vec<String>,
    pub workspace: bool,
    pub exclude: Vec<String>,
    pub bins: Vec<String>,
    pub features: FeatureArgs,
    pub profile: String,
    pub targets: Vec<String>,
    pub platforms: Vec<String>,
    pub cargo_config: Vec<String>,
    /// The settings given as flags: the top layer.
    pub settings: ImageSettings,
    /// `-t` values, read as `docker build -t` reads them: `NAME[:TAG]` references
    /// (`api:dev`, `ghcr.io/acme/api:1.4.0`), or `:TAG` for a tag of the configured repository.
    /// When given, they replace the `tags` setting.
    pub tags: Vec<String>,
    pub outputs: Vec<String>,
    /// `--push`: the same as `--output type=registry`.
    pub push: bool,
    /// Where to write the pushed references (`--image-refs`).
    pub image_refs: Option<PathBuf>,
    /// Where to write the push's JSON summary (`--metadata-file`).
    pub metadata_file: Option<PathBuf>,
    pub registry: RegistryOptions,
    /// `--load`: load one platform into docker or podman.
    pub load: bool,
    /// `--loader docker|podman`.
    pub loader: Option<String>,
    /// `--load-platform`: the platform that single-platform outputs hold.
    pub load_platform: Option<String>,
    pub dry_run: bool,
    pub verbosity: Verbosity,
    /// `--builder`: force one way of building every target.
    pub builder: Option<Builder>,
    /// `--offline`: download nothing this tool would fetch for itself (zig).
    pub offline: bool,
    /// `--sbom`: the SBOM attached to every platform's manifest.
    pub sbom: SbomFormat,
    /// `--no-provenance`: attach no provenance statement.
    pub no_provenance: bool,
    /// `--sbom-dir`: also write the SBOMs and provenance statements there.
    pub sbom_dir: Option<PathBuf>,

    // How the build reports (issue 13).
    /// `--progress auto|tty|plain`.
    pub progress: Progress,
    /// `--message-format human|json`.
    pub message_format: MessageFormat,
}

/// `cargo imagebuild merge`: per-platform layouts to assemble into one index, and where it goes.
#[derive(Clone, Debug, Default)]
pub struct MergeOptions {
    /// The OCI layout directories, one per platform (or group of platforms), in index order.
    pub dirs: Vec<PathBuf>,
    /// `-t NAME[:TAG]` (as for a build); none: the first layout's name and tags.
    pub tags: Vec<String>,
    /// `--output` specs, as for a build.
    pub outputs: Vec<String>,
    /// `--push`: the same as `--output type=registry`.
    pub push: bool,
    pub registry: RegistryOptions,
    pub verbosity: Verbosity,
    pub message_format: MessageFormat,
}
