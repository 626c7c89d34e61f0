//! `cargo imagebuild sbom`: what is attached to each platform of an image (SBOMs, provenance),
//! read back from a registry or an OCI layout, optionally written out as files.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::attest;
use crate::events::Listener;
use crate::image::platform::Platform;
use crate::plan::{self, options::Options};
use crate::registry::referrers::AttachedTo;
use crate::registry::RegistryOptions;
use crate::sink;
use crate::util::atomic;
use crate::util::env::Environment;
use crate::util::report::Reporter;

/// What `sbom` reads and where it writes.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SbomOptions {
    /// A registry reference, or `oci:DIR[:TAG]`; none: every image the workspace's last build
    /// wrote to `target/imagebuild/`.
    pub reference: Option<String>,
    /// With no reference: the workspace whose `target/imagebuild/` is read.
    pub manifest_path: Option<PathBuf>,
    /// Also write each document to this directory.
    pub out: Option<PathBuf>,
    /// How registries are reached.
    pub registry: RegistryOptions,
    /// The environment the run reads (default: the process's).
    pub env: Environment,
}

impl Default for SbomOptions {
    fn default() -> SbomOptions {
        SbomOptions {
            reference: None,
            manifest_path: None,
            out: None,
            registry: RegistryOptions::default(),
            env: Environment::from_process(),
        }
    }
}

/// One image and what is attached to each of its platforms.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attached {
    /// The image's name: the layout's directory or the repository's last part.
    pub name: String,
    /// Per platform, in index order.
    pub platforms: Vec<PlatformAttachments>,
}

/// What is attached to one platform's manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlatformAttachments {
    /// `linux/arm64`, as the index says.
    pub platform: String,
    /// The platform manifest's digest.
    pub manifest: String,
    /// The documents attached to it.
    pub documents: Vec<AttachedDocument>,
}

/// One attached document.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttachedDocument {
    /// Its artifact type (`application/spdx+json`, …).
    pub artifact_type: String,
    /// The artifact manifest's digest.
    pub artifact: String,
    /// The document's bytes.
    pub document: Vec<u8>,
}

impl From<AttachedTo> for PlatformAttachments {
    fn from(a: AttachedTo) -> PlatformAttachments {
        PlatformAttachments {
            platform: a.platform,
            manifest: a.manifest.to_string(),
            documents: a
                .documents
                .into_iter()
                .map(|d| AttachedDocument {
                    artifact_type: d.artifact_type,
                    artifact: d.artifact.to_string(),
                    document: d.document,
                })
                .collect(),
        }
    }
}

/// `cargo imagebuild sbom [REF]`: what is attached to each platform of an image, read back from
/// a registry (`REF` a reference) or a layout (`oci:DIR[:TAG]`); with no `REF`, from every
/// default layout of the workspace (`<target-dir>/imagebuild/<bin>`). Gives `(name, what is
/// attached)` per image. With `out`, each document is also written there, named as
/// `--sbom-dir` names them (the name is the layout's directory or the repository's last part).
pub fn attached(opts: &SbomOptions, listener: impl Listener + 'static) -> Result<Vec<Attached>> {
    let ui = &Reporter::new(std::sync::Arc::new(listener));
    // A missing or empty --registry-ca is refused before anything is read or written.
    if let Some(ca) = &opts.registry.ca {
        crate::registry::trust::UserCa::read(ca)?;
    }
    let (reference, manifest_path, out) = (
        opts.reference.as_deref(),
        opts.manifest_path.as_deref(),
        opts.out.as_deref(),
    );
    let dir_name = |dir: &Path| {
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "image".into())
    };
    let mut found = Vec::new();
    match reference {
        None => {
            let build = Options {
                manifest_path: manifest_path.map(Path::to_path_buf),
                env: opts.env.clone(),
                ..Options::default()
            };
            let (meta, _) = plan::workspace::metadata(&build)?;
            let root = meta.target_directory.as_std_path().join("imagebuild");
            let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("oci-layout").is_file())
                .collect();
            dirs.sort();
            if dirs.is_empty() {
                anyhow::bail!(
                    "no image in {}: build one first (cargo imagebuild), or name one: \
                     cargo imagebuild sbom REF",
                    root.display()
                );
            }
            for dir in dirs {
                found.push((dir_name(&dir), sink::layout::attached(&dir, None)?));
            }
        }
        Some(reference) => match reference.strip_prefix("oci:") {
            Some(rest) => {
                let (dir, tag) = match rest.rsplit_once(':') {
                    Some((d, t)) if !t.contains('/') && !d.is_empty() => (d, Some(t)),
                    _ => (rest, None),
                };
                let dir = Path::new(dir);
                found.push((dir_name(dir), sink::layout::attached(dir, tag)?));
            }
            None => {
                let r = crate::image::reference::ImageRef::parse(reference)?;
                let name = r
                    .repository()
                    .rsplit('/')
                    .next()
                    .unwrap_or("image")
                    .to_string();
                let registry = crate::registry::Registry::new(&opts.registry, &opts.env, ui)?;
                let list = registry
                    .attached(&r)
                    .with_context(|| format!("reading what is attached to {reference}"))?;
                found.push((name, list));
            }
        },
    }
    if let Some(dir) = out {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--out: cannot create {}", dir.display()))?;
        for (name, list) in &found {
            for a in list {
                let platform: Platform = a
                    .platform
                    .parse()
                    .unwrap_or_else(|_| Platform::new("unknown", "unknown", None));
                for d in &a.documents {
                    let path = dir.join(attest::file_name(name, &platform, &d.artifact_type));
                    atomic::write(&path, &d.document)
                        .with_context(|| format!("--out: cannot write {}", path.display()))?;
                }
            }
        }
    }
    Ok(found
        .into_iter()
        .map(|(name, list)| Attached {
            name,
            platforms: list.into_iter().map(PlatformAttachments::from).collect(),
        })
        .collect())
}
