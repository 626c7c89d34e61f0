//! Settings from `[workspace.metadata.imagebuild]` and `[package.metadata.imagebuild]` (and
//! `[package.metadata.imagebuild.bin.<name>]`), as layers of all-optional [`ImageSettings`] that
//! [`ImageSettings::overlay`] merges: workspace, then package, then binary, then the command line.
//! Resolving the merged layer into what a build needs is `plan.rs`'s job; nothing here runs.
//!
//! Unknown keys and wrong types are errors that name the key, the table and the file.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::image::model::{Compression, CompressionKind};
use crate::plan::naming::Tag;
pub use crate::plan::values::{Asset, Port, Size};
use crate::plan::{checks, values};

/// Where the settings reference lives, for `help:` lines.
pub const HELP_URL: &str = "see README.md, section \"Configuration\"";

/// One layer of image settings, as `[package.metadata.imagebuild]` holds them: every field
/// optional, so layers can be merged ([`ImageSettings::overlay`]: workspace, then package, then
/// binary, then the caller's). The keys are the README's "Configuration" reference.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    expecting = "a table of imagebuild settings"
)]
#[non_exhaustive]
pub struct ImageSettings {
    /// OCI platforms to build (`linux/amd64`); comma lists allowed in each entry.
    pub platforms: Option<Vec<String>>,
    /// Per-platform choice of Rust target: `{ "linux/arm/v7" = "armv7-unknown-linux-gnueabihf" }`.
    pub targets: Option<BTreeMap<String, String>>,
    /// `scratch` (the default) or an image reference.
    pub base: Option<String>,
    /// The image's entrypoint (default: the binary).
    pub entrypoint: Option<Vec<String>>,
    /// The image's default arguments.
    pub cmd: Option<Vec<String>>,
    /// Environment variables; merged key by key across layers.
    pub env: Option<BTreeMap<String, String>>,
    /// The working directory.
    pub workdir: Option<String>,
    /// The user it runs as: `USER[:GROUP]` (default 65532, nonroot).
    pub user: Option<String>,
    /// Config labels; merged key by key across layers.
    pub labels: Option<BTreeMap<String, String>>,
    /// Manifest and index annotations; merged key by key across layers.
    pub annotations: Option<BTreeMap<String, String>>,
    /// Exposed ports: `8080`, `"8080/tcp"`, `"53/udp"`.
    pub ports: Option<Vec<Port>>,
    /// Extra files: `{ source = "config/app.toml", dest = "/etc/app/app.toml", mode = "0644" }`
    /// or the cargo-deb shape `["config/app.toml", "/etc/app/app.toml", "644"]`.
    pub assets: Option<Vec<Asset>>,
    /// Layer compression: `gzip` (the default), `zstd` or `none`.
    #[serde(default, deserialize_with = "values::parsed")]
    pub compression: Option<CompressionKind>,
    /// Its level (gzip 0-9, default 6; zstd 1-22, default 3).
    #[serde(default, deserialize_with = "values::level")]
    pub compression_level: Option<i32>,
    /// Where pushes go: `ghcr.io/acme` (the binary's name is appended) or `ghcr.io/acme/api`.
    pub repository: Option<String>,
    /// Tags: bare (`1.4.0`) or full references (`ghcr.io/acme/api:1.4.0`); `-t` values are
    /// [`Tag::Docker`]. A layer's tags replace those of the layers below.
    pub tags: Option<Vec<Tag>>,
    /// Directory the binary is installed in (default `/usr/local/bin`).
    pub bin_dir: Option<String>,
    /// Replace this machine's paths in binaries (`--remap-path-prefix`; default true). Read
    /// from the workspace table and the command line only: one build serves every image.
    pub remap_paths: Option<bool>,
    /// What the compiler strips from the binary (default `symbols`).
    #[serde(default, deserialize_with = "values::parsed")]
    pub strip: Option<Strip>,
    /// The deadline of each registry request attempt, in seconds (`--registry-timeout` and
    /// its environment variable win). Workspace table only, as the next two.
    #[serde(default, deserialize_with = "values::seconds")]
    pub registry_timeout: Option<u64>,
    /// Retries of a failed registry request (`--retries` and its environment variable win).
    #[serde(default, deserialize_with = "values::retries")]
    pub retries: Option<u32>,
    /// The bound of each cache: bytes or `"2GiB"`, 0 for none (`CARGO_IMAGEBUILD_CACHE_LIMIT`
    /// wins).
    pub cache_limit: Option<Size>,
    /// The private key pushes are signed with (`--sign-key` and `CARGO_IMAGEBUILD_SIGN_KEY`
    /// win): an ECDSA P-256 PKCS#8 PEM file, relative to the workspace root.
    pub sign_key: Option<PathBuf>,
    /// The glibc gnu targets link against, dynamically with zig (`"2.31"`; `--glibc` and
    /// `CARGO_IMAGEBUILD_GLIBC` win); unset, gnu targets link glibc statically.
    #[serde(default, deserialize_with = "values::parsed")]
    pub glibc: Option<crate::plan::glibc::GlibcVersion>,
    /// Per-binary settings, in package metadata only.
    pub bin: Option<BTreeMap<String, ImageSettings>>,
}

/// What the compiler strips from a binary (cargo's profile `strip`), passed to cargo as a
/// profile override (`--config profile.<name>.strip=…`) so the user's own builds are untouched.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Strip {
    /// Keep everything.
    None,
    /// Drop debug information, keep the symbol table (backtraces still name functions).
    Debuginfo,
    /// Drop debug information and symbols: the smallest image.
    #[default]
    Symbols,
}

impl Strip {
    /// As written in settings: `none`, `debuginfo` or `symbols`.
    pub fn as_str(self) -> &'static str {
        match self {
            Strip::None => "none",
            Strip::Debuginfo => "debuginfo",
            Strip::Symbols => "symbols",
        }
    }

    /// The cargo `--config` value that sets this for `profile`.
    pub(crate) fn cargo_config(self, profile: &str) -> String {
        format!("profile.{profile}.strip=\"{}\"", self.as_str())
    }
}

impl std::str::FromStr for Strip {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Strip::None),
            "debuginfo" => Ok(Strip::Debuginfo),
            "symbols" => Ok(Strip::Symbols),
            other => Err(format!(
                "unknown strip setting `{other}`: use none, debuginfo or symbols"
            )),
        }
    }
}

/// The keys that apply to the whole run, so are read from the workspace table (and the command
/// line) only.
pub const WORKSPACE_ONLY: [&str; 5] = [
    "remap-paths",
    "registry-timeout",
    "retries",
    "cache-limit",
    "sign-key",
];

/// A resolved asset: an absolute source, an image path and an optional octal mode.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AssetSpec {
    pub source: PathBuf,
    pub dest: String,
    pub mode: Option<u32>,
}

/// A settings table that could not be read.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub table: String,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid [{}] in {}", self.table, self.file.display())?;
        if !self.key.is_empty() && self.key != "." {
            write!(f, ", key `{}`", self.key)?;
        }
        write!(f, ": {}\n  help: fix that key; {HELP_URL}", self.message)
    }
}

impl ImageSettings {
    /// Reads one metadata table (`value` is what cargo metadata gave for it). Relative asset
    /// sources are resolved against the directory of `file`.
    pub fn from_metadata(
        value: &serde_json::Value,
        file: &Path,
        table: &str,
    ) -> Result<ImageSettings, ConfigError> {
        let err = |key: String, message: String| ConfigError {
            file: file.to_path_buf(),
            table: table.to_string(),
            key,
            message,
        };
        let mut settings: ImageSettings = serde_path_to_error::deserialize(value)
            .map_err(|e| err(e.path().to_string(), e.inner().to_string()))?;
        let dir = file.parent().unwrap_or(Path::new("."));
        settings
            .resolve_assets(dir)
            .map_err(|(key, message)| err(key, message))?;
        if let Some(bins) = settings.bin.as_mut() {
            for (name, b) in bins.iter_mut() {
                if b.bin.is_some() {
                    return Err(err(
                        format!("bin.{name}.bin"),
                        "`bin` tables do not nest".into(),
                    ));
                }
                b.resolve_assets(dir)
                    .map_err(|(key, message)| err(format!("bin.{name}.{key}"), message))?;
            }
        }
        settings
            .validate()
            .map_err(|(key, message)| err(key, message))?;
        Ok(settings)
    }

    /// Turns asset tuples into tables with absolute sources.
    fn resolve_assets(&mut self, dir: &Path) -> Result<(), (String, String)> {
        let Some(assets) = self.assets.as_mut() else {
            return Ok(());
        };
        for (i, a) in assets.iter_mut().enumerate() {
            let key = format!("assets[{i}]");
            let (source, dest, mode) = match a {
                Asset::Table { source, dest, mode } => (source.clone(), dest.clone(), mode.clone()),
                Asset::Tuple(v) if v.len() == 2 || v.len() == 3 => {
                    (PathBuf::from(&v[0]), v[1].clone(), v.get(2).cloned())
                }
                Asset::Tuple(_) => {
                    return Err((
                        key,
                        "an asset is [\"source\", \"/dest\"] or [\"source\", \"/dest\", \"mode\"]"
                            .into(),
                    ))
                }
            };
            if let Some(m) = &mode {
                parse_mode(m).map_err(|e| (key.clone(), e))?;
            }
            *a = Asset::Table {
                source: dir.join(source),
                dest,
                mode,
            };
        }
        Ok(())
    }

    /// Checks values that types alone cannot: ports, compression levels, paths.
    fn validate(&self) -> Result<(), (String, String)> {
        if let Some(ports) = &self.ports {
            for (i, p) in ports.iter().enumerate() {
                p.normalized().map_err(|e| (format!("ports[{i}]"), e))?;
            }
        }
        // A level beside its algorithm is checked here, where the file is known; a level
        // alone waits for the algorithm another layer gives (the same check, in the plan).
        if let (Some(kind), Some(level)) = (self.compression, self.compression_level) {
            Compression::new(kind, Some(level))
                .map_err(|e| ("compression-level".to_string(), e))?;
        }
        if let Some(secs) = self.registry_timeout {
            if !(1..=3600).contains(&secs) {
                return Err((
                    "registry-timeout".into(),
                    format!("{secs} is out of range: give 1 to 3600 seconds"),
                ));
            }
        }
        if let Some(n) = self.retries {
            if n > 20 {
                return Err((
                    "retries".into(),
                    format!("{n} is out of range: give 0 to 20"),
                ));
            }
        }
        if let Some(size) = &self.cache_limit {
            size.bytes().map_err(|e| ("cache-limit".to_string(), e))?;
        }
        for (key, v) in [("workdir", &self.workdir), ("bin-dir", &self.bin_dir)] {
            if let Some(v) = v {
                checks::image_dir(v).map_err(|e| (key.to_string(), e))?;
            }
        }
        if let Some(u) = &self.user {
            checks::user(u).map_err(|e| ("user".to_string(), e))?;
        }
        if let Some(v) = self
            .labels
            .iter()
            .flatten()
            .find_map(|(k, v)| k.trim().is_empty().then_some(v))
        {
            return Err((
                "labels".into(),
                format!("a label has an empty key (value `{v}`): write KEY = \"VALUE\" with a key"),
            ));
        }
        if let Some(a) = &self.annotations {
            crate::image::document::Annotations::parse(a)
                .map_err(|e| ("annotations".to_string(), e.to_string()))?;
        }
        if let Some(env) = &self.env {
            for k in env.keys() {
                checks::env_name(k).map_err(|e| (format!("env.{k:?}"), e))?;
            }
        }
        Ok(())
    }

    /// The first of `WORKSPACE_ONLY` this layer sets, if any.
    pub(crate) fn workspace_only_key(&self) -> Option<&'static str> {
        let set = [
            self.remap_paths.is_some(),
            self.registry_timeout.is_some(),
            self.retries.is_some(),
            self.cache_limit.is_some(),
            self.sign_key.is_some(),
        ];
        WORKSPACE_ONLY
            .into_iter()
            .zip(set)
            .find_map(|(key, set)| set.then_some(key))
    }

    /// This layer with `over` laid on top: `over`'s values win; maps merge key by key.
    pub fn overlay(self, over: ImageSettings) -> ImageSettings {
        fn map(
            a: Option<BTreeMap<String, String>>,
            b: Option<BTreeMap<String, String>>,
        ) -> Option<BTreeMap<String, String>> {
            match (a, b) {
                (Some(mut a), Some(b)) => {
                    a.extend(b);
                    Some(a)
                }
                (a, b) => b.or(a),
            }
        }
        ImageSettings {
            platforms: over.platforms.or(self.platforms),
            targets: map(self.targets, over.targets),
            base: over.base.or(self.base),
            entrypoint: over.entrypoint.or(self.entrypoint),
            cmd: over.cmd.or(self.cmd),
            env: map(self.env, over.env),
            workdir: over.workdir.or(self.workdir),
            user: over.user.or(self.user),
            labels: map(self.labels, over.labels),
            annotations: map(self.annotations, over.annotations),
            ports: over.ports.or(self.ports),
            assets: over.assets.or(self.assets),
            compression: over.compression.or(self.compression),
            compression_level: over.compression_level.or(self.compression_level),
            repository: over.repository.or(self.repository),
            tags: over.tags.or(self.tags),
            bin_dir: over.bin_dir.or(self.bin_dir),
            remap_paths: over.remap_paths.or(self.remap_paths),
            strip: over.strip.or(self.strip),
            registry_timeout: over.registry_timeout.or(self.registry_timeout),
            retries: over.retries.or(self.retries),
            cache_limit: over.cache_limit.or(self.cache_limit),
            sign_key: over.sign_key.or(self.sign_key),
            glibc: over.glibc.or(self.glibc),
            bin: None,
        }
    }

    /// The resolved assets of this (merged) layer.
    pub(crate) fn asset_specs(&self) -> Vec<AssetSpec> {
        self.assets
            .iter()
            .flatten()
            .filter_map(|a| match a {
                Asset::Table { source, dest, mode } => Some(AssetSpec {
                    source: source.clone(),
                    dest: dest.clone(),
                    // Checked when read, so a parse error cannot happen here.
                    mode: mode.as_deref().and_then(|m| parse_mode(m).ok()),
                }),
                Asset::Tuple(_) => None,
            })
            .collect()
    }
}

/// Parses an octal file mode such as `0644`, `644` or `0o755`.
pub fn parse_mode(m: &str) -> Result<u32, String> {
    let digits = m.trim_start_matches("0o");
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|v| *v <= 0o7777)
        .ok_or_else(|| format!("mode `{m}` is not an octal file mode like \"0644\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: serde_json::Value) -> Result<ImageSettings, ConfigError> {
        ImageSettings::from_metadata(
            &v,
            Path::new("/ws/app/Cargo.toml"),
            "package.metadata.imagebuild",
        )
    }

    #[test]
    fn reads_every_key() {
        let s = read(json!({
            "platforms": ["linux/amd64", "linux/arm64"],
            "targets": {"linux/arm/v7": "armv7-unknown-linux-gnueabihf"},
            "base": "scratch",
            "entrypoint": ["/usr/local/bin/app"],
            "cmd": ["--serve"],
            "env": {"RUST_LOG": "info"},
            "workdir": "/srv",
            "user": "1000",
            "labels": {"a": "b"},
            "annotations": {"c": "d"},
            "ports": [8080, "53/udp"],
            "assets": [["static", "/srv/static"], {"source": "/abs/x", "dest": "/x", "mode": "0600"}],
            "compression": "zstd",
            "compression-level": 5,
            "repository": "ghcr.io/acme",
            "tags": ["1.0"],
            "bin-dir": "/app",
            "bin": {"api": {"ports": [9090]}}
        }))
        .unwrap();
        assert_eq!(s.compression, Some(CompressionKind::Zstd));
        let assets = s.asset_specs();
        assert_eq!(assets[0].source, PathBuf::from("/ws/app/static"));
        assert_eq!(assets[1].source, PathBuf::from("/abs/x"));
        assert_eq!(assets[1].mode, Some(0o600));
        assert_eq!(s.bin.unwrap()["api"].ports, Some(vec![Port::Number(9090)]));
    }

    #[test]
    fn unknown_key_names_key_table_and_file() {
        let e = read(json!({"platfroms": ["linux/amd64"]}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("platfroms"), "{e}");
        assert!(e.contains("package.metadata.imagebuild"), "{e}");
        assert!(e.contains("/ws/app/Cargo.toml"), "{e}");
        assert!(e.contains("platforms"), "the valid keys are listed: {e}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let e = read(json!({"platforms": "linux/amd64"})).unwrap_err();
        assert_eq!(e.key, "platforms");
        assert!(e.message.contains("expected a sequence"), "{}", e.message);
        let e = read(json!({"env": {"A": 1}})).unwrap_err();
        assert_eq!(e.key, "env.A");
        let e = read(json!({"ports": ["http"]})).unwrap_err();
        assert_eq!(e.key, "ports[0]");
        let e = read(json!({"compression": "lz4"})).unwrap_err();
        assert!(e.message.contains("gzip"), "{}", e.message);
        let e = read(json!({"workdir": "srv"})).unwrap_err();
        assert_eq!(e.key, "workdir");
        let e = read(json!({"assets": [{"source": "a", "dest": "/a", "mode": "rw"}]})).unwrap_err();
        assert_eq!(e.key, "assets[0]");
    }

    #[test]
    fn overlay_prefers_the_upper_layer_and_merges_maps() {
        let ws =
            read(json!({"platforms": ["linux/amd64"], "env": {"A": "1", "B": "1"}, "user": "1"}))
                .unwrap();
        let pkg = read(json!({"platforms": ["linux/arm64"], "env": {"B": "2"}})).unwrap();
        let m = ws.overlay(pkg);
        assert_eq!(m.platforms, Some(vec!["linux/arm64".to_string()]));
        assert_eq!(m.user.as_deref(), Some("1"));
        let env = m.env.unwrap();
        assert_eq!((env["A"].as_str(), env["B"].as_str()), ("1", "2"));
    }

    #[test]
    fn ports_normalize() {
        assert_eq!(Port::Number(80).normalized().unwrap(), "80/tcp");
        assert_eq!(Port::Text("53/UDP".into()).normalized().unwrap(), "53/udp");
        assert!(Port::Text("80/icmp".into()).normalized().is_err());
        assert!(Port::Number(0).normalized().is_err());
    }
}
