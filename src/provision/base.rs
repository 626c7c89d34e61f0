//! The base an image is built on: the built-in `scratch` (empty, plus the small skeleton layer
//! that makes a scratch image behave like a real system for a non-root program: `/etc/passwd`
//! and `/etc/group` from `templates/` with `root` and `nonroot` (65532), a sticky world-writable
//! `/tmp` and `nonroot`'s home), or an image in a registry.
//!
//! A registry base is [`resolve`]d once (its index or manifest, OCI or Docker media types), then
//! [`ResolvedBase::image_for`] picks the manifest of one platform, matching os, architecture
//! *and* variant, and returns its config (as a `serde_json::Value`, so fields we do not model
//! survive) and its layers. Those layers' bytes stay in the base's repository
//! ([`crate::image::model::Layer::remote`]): a push mounts or streams them, a layout fetches them.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use crate::compile::basefs::BaseFiles;
use crate::image::layer::{Entry, LayerSpec, Source};
use crate::image::model::{media, Descriptor, Layer};
use crate::image::platform::Platform;
use crate::image::reference::ImageRef;
use crate::image::store::BlobStore;
use crate::plan::base::NONROOT_ID;
use crate::plan::glibc::GlibcVersion;
use crate::plan::Plan;
use crate::registry::{Connector, ErrorKind, Registry, RegistryError};
use crate::util::digest::Digest;
use crate::util::env::Environment;
use crate::util::report::Reporter;

/// One entry of a base's index: a platform and its manifest.
#[derive(Clone, Debug)]
struct IndexEntry {
    platform: Platform,
    digest: Digest,
}

/// A registry base, resolved: its digest and what it offers per platform.
#[derive(Clone, Debug)]
pub struct ResolvedBase {
    pub reference: ImageRef,
    /// The digest of what the reference names (an index, or a single manifest).
    pub digest: Digest,
    /// For an index: the entries whose platform we know. Empty for a single manifest.
    entries: Vec<IndexEntry>,
    /// For a single manifest: its bytes and its platform (read from its config).
    single: Option<(Vec<u8>, Platform)>,
    /// Every platform the base lists, known to us or not, for messages.
    offered: Vec<String>,
}

/// One platform of a base: its manifest's digest, its config and its layers.
#[derive(Clone, Debug)]
pub struct BaseImage {
    /// The base's reference as given, for `org.opencontainers.image.base.name`.
    pub name: String,
    /// The platform manifest's digest, for `org.opencontainers.image.base.digest`.
    pub manifest_digest: Digest,
    pub config: Value,
    pub layers: Vec<Layer>,
}

fn platform_of(v: &Value) -> Option<String> {
    let os = v.get("os")?.as_str()?;
    let arch = v.get("architecture")?.as_str()?;
    Some(match v.get("variant").and_then(Value::as_str) {
        Some(var) if !var.is_empty() => format!("{os}/{arch}/{var}"),
        _ => format!("{os}/{arch}"),
    })
}

fn not_found_help(e: anyhow::Error, r: &ImageRef) -> anyhow::Error {
    let missing = e
        .chain()
        .filter_map(|c| c.downcast_ref::<RegistryError>())
        .any(|re| re.kind == ErrorKind::NotFound);
    if missing {
        e.context(format!(
            "the base image {r} does not exist: check its name and tag (`skopeo inspect              docker://{r}` shows what the registry holds)"
        ))
    } else {
        e.context(format!("pulling the base image {r}"))
    }
}

/// Reads what the base reference names: an index (or Docker manifest list), or one manifest.
pub fn resolve(r: &ImageRef, registry: &Registry) -> Result<ResolvedBase> {
    let pulled = registry
        .pull_manifest(&r.oci())
        .map_err(|e| not_found_help(e, r))?;
    let doc: Value = serde_json::from_slice(&pulled.bytes)
        .with_context(|| format!("the base image {r}'s manifest is not JSON"))?;
    let media_type = if pulled.media_type.is_empty() {
        if doc.get("manifests").is_some() {
            media::INDEX.to_string()
        } else {
            media::MANIFEST.to_string()
        }
    } else {
        pulled.media_type.clone()
    };
    if media::is_index(&media_type) {
        let mut entries = Vec::new();
        let mut offered = Vec::new();
        for m in doc["manifests"].as_array().into_iter().flatten() {
            let Some(p) = m.get("platform").and_then(platform_of) else {
                continue;
            };
            if p == "unknown/unknown" {
                continue; // attestation manifests
            }
            offered.push(p.clone());
            let (Ok(platform), Some(Ok(digest))) = (
                p.parse::<Platform>(),
                m.get("digest")
                    .and_then(Value::as_str)
                    .map(str::parse::<Digest>),
            ) else {
                continue;
            };
            entries.push(IndexEntry { platform, digest });
        }
        Ok(ResolvedBase {
            reference: r.clone(),
            digest: pulled.digest,
            entries,
            single: None,
            offered,
        })
    } else if media_type == media::MANIFEST || media_type == media::DOCKER_MANIFEST {
        let config = config_descriptor(&doc, r)?;
        let cfg: Value = serde_json::from_slice(&registry.pull_document(r, &config)?)
            .with_context(|| format!("the base image {r}'s config is not JSON"))?;
        let p = platform_of(&cfg).unwrap_or_else(|| "linux/amd64".to_string());
        let platform: Platform = p
            .parse()
            .with_context(|| format!("the base image {r} is for {p}"))?;
        Ok(ResolvedBase {
            reference: r.clone(),
            digest: pulled.digest,
            entries: Vec::new(),
            single: Some((pulled.bytes, platform)),
            offered: vec![p],
        })
    } else {
        bail!(
            "the base image {r} is a `{media_type}`, not an image: a base must be an OCI or              Docker image manifest or index"
        )
    }
}

fn descriptor(v: &Value, what: &str, r: &ImageRef) -> Result<Descriptor> {
    let digest = v
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("the base image {r}: a {what} has no digest"))?;
    Ok(Descriptor {
        media_type: media::oci_layer(v.get("mediaType").and_then(Value::as_str).unwrap_or(""))
            .to_string(),
        digest: digest
            .parse()
            .map_err(|e: String| anyhow!("the base image {r}: {e}"))?,
        size: v
            .get("size")
            .and_then(Value::as_u64)
            .ok_or_else(|| anyhow!("the base image {r}: a {what} has no size"))?,
    })
}

fn config_descriptor(manifest: &Value, r: &ImageRef) -> Result<Descriptor> {
    descriptor(&manifest["config"], "config", r)
}

impl ResolvedBase {
    /// The platforms the base offers that we can build for, in the base's order.
    pub fn platforms(&self) -> Vec<Platform> {
        let mut out: Vec<Platform> = Vec::new();
        let all = self
            .entries
            .iter()
            .map(|e| &e.platform)
            .chain(self.single.iter().map(|(_, p)| p));
        for p in all {
            if !p.candidate_triples().is_empty() && !out.contains(p) {
                out.push(p.clone());
            }
        }
        out
    }

    /// The base's image for `platform`: os, architecture and variant must all match.
    pub fn image_for(&self, platform: &Platform, registry: &Registry) -> Result<BaseImage> {
        let r = &self.reference;
        let (bytes, digest) = match &self.single {
            Some((bytes, p)) if p.matches(platform) => (bytes.clone(), self.digest.clone()),
            _ => {
                let Some(entry) = self.entries.iter().find(|e| e.platform.matches(platform)) else {
                    bail!(
                        "the base image {r} has no {platform} image (it offers {}): build for \
                         one of those with --platform, or choose a base that has {platform}",
                        if self.offered.is_empty() {
                            "no platform".to_string()
                        } else {
                            crate::util::listing::short_list(&self.offered)
                        }
                    );
                };
                let pulled = registry
                    .pull_manifest(&r.at_digest(entry.digest.as_str()))
                    .map_err(|e| not_found_help(e, r))?;
                if pulled.digest != entry.digest {
                    bail!("the base image {r}'s {platform} manifest does not match its digest");
                }
                (pulled.bytes, entry.digest.clone())
            }
        };
        let manifest: Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("the base image {r}'s {platform} manifest is not JSON"))?;
        let config_desc = config_descriptor(&manifest, r)?;
        let config: Value = serde_json::from_slice(&registry.pull_document(r, &config_desc)?)
            .with_context(|| format!("the base image {r}'s {platform} config is not JSON"))?;
        let diff_ids: Vec<&str> = config["rootfs"]["diff_ids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let layer_values = manifest["layers"].as_array().cloned().unwrap_or_default();
        if diff_ids.len() != layer_values.len() {
            bail!(
                "the base image {r} ({platform}) lists {} layers but its config has {} diff_ids",
                layer_values.len(),
                diff_ids.len()
            );
        }
        let repo = ImageRef::repository_named(&r.full_name())?;
        let layers = layer_values
            .iter()
            .zip(diff_ids)
            .map(|(l, diff_id)| {
                Ok(Layer {
                    blob: descriptor(l, "layer", r)?,
                    diff_id: diff_id
                        .parse()
                        .map_err(|e: String| anyhow!("the base image {r}: {e}"))?,
                    created_by: String::new(),
                    remote: Some(repo.clone()),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(BaseImage {
            name: r.to_string(),
            manifest_digest: digest,
            config,
            layers,
        })
    }
}

/// The skeleton layer a scratch image starts with. It is the same for every platform, so its
/// blob is packed once and shared.
pub fn skeleton_layer() -> LayerSpec {
    let file = |path: &str, bytes: &[u8]| Entry::file(path, Source::Bytes(bytes.to_vec()), 0o644);
    LayerSpec {
        entries: vec![
            file("etc/passwd", include_bytes!("../../templates/passwd")),
            file("etc/group", include_bytes!("../../templates/group")),
            Entry::dir("tmp", 0o1777),
            Entry::dir("home/nonroot", 0o755).owned_by(NONROOT_ID, NONROOT_ID),
        ],
        created_by: "cargo-imagebuild: scratch skeleton (passwd, group, /tmp)".to_string(),
    }
}

/// The registry bases of a plan: each `(image, target)`'s base image, and the registry client
/// that resolved them (`None` when every image is on scratch).
pub struct Bases {
    pub images: BTreeMap<(usize, usize), BaseImage>,
    pub registry: Option<Arc<Registry>>,
}

/// Each registry base's image for each `(image, target)` of the plan, resolved before anything
/// compiles so a wrong base fails fast.
pub fn resolve_bases(plan: &Plan, connector: &Connector, ui: &Reporter) -> Result<Bases> {
    let mut images = BTreeMap::new();
    if plan.images.iter().all(|i| i.base.reference().is_none()) {
        return Ok(Bases {
            images,
            registry: None,
        });
    }
    let registry = connector.get()?;
    let mut resolved: BTreeMap<String, ResolvedBase> = BTreeMap::new();
    for (i, img) in plan.images.iter().enumerate() {
        let Some(r) = img.base.reference() else {
            continue;
        };
        if !resolved.contains_key(r.given()) {
            ui.status("Resolving", &format!("base image {r}"));
            resolved.insert(r.given().to_string(), resolve(r, &registry)?);
        }
        let rb = &resolved[r.given()];
        for (t, target) in img.targets.iter().enumerate() {
            images.insert((i, t), rb.image_for(&target.platform, &registry)?);
        }
    }
    Ok(Bases {
        images,
        registry: Some(registry),
    })
}

/// The files of a registry base's layers (whiteouts applied) plus `ours` on top: the base layers
/// are read from the base-layer cache, downloaded into it once when missing. Each platform
/// manifest's listing is made once per process ([`listed_base`]) and shared: the glibc the
/// routes take from a base and the pipeline's checks read the same one.
pub fn registry_base_files(
    base: &BaseImage,
    ours: &BaseFiles,
    registry: &Registry,
    ui: &Reporter,
    env: &Environment,
) -> Result<BaseFiles> {
    let mut files = (*listed_base(base, registry, ui, env)?).clone();
    files.extend(ours);
    Ok(files)
}

/// The files of `base`'s layers, listed once per platform manifest and process.
fn listed_base(
    base: &BaseImage,
    registry: &Registry,
    ui: &Reporter,
    env: &Environment,
) -> Result<Arc<BaseFiles>> {
    static LISTED: std::sync::Mutex<BTreeMap<String, Arc<BaseFiles>>> =
        std::sync::Mutex::new(BTreeMap::new());
    let key = base.manifest_digest.as_str().to_string();
    if let Some(files) = LISTED.lock().ok().and_then(|l| l.get(&key).cloned()) {
        return Ok(files);
    }
    let cache =
        BlobStore::open_reporting(crate::provision::cache::cache_dir(env)?.join("blobs"), ui)?;
    let mut files = BaseFiles::new();
    for l in &base.layers {
        if !cache.verified(&l.blob.digest, Some(l.blob.size), ui) {
            let repo = l.remote.as_ref().ok_or_else(|| {
                anyhow!(
                    "base layer {} has no repository to fetch it from",
                    l.blob.digest
                )
            })?;
            ui.status(
                "Downloading",
                &format!("{} to list the files of {}", l.blob.digest, base.name),
            );
            registry.fetch_blob(repo, &l.blob, &cache)?;
        }
        let path = cache.path(&l.blob.digest);
        let file = std::fs::File::open(&path)
            .with_context(|| format!("opening base layer {}", path.display()))?;
        let reader = crate::image::blob::tar_reader(&l.blob.media_type, file)?;
        files.add_tar(reader).with_context(|| {
            format!(
                "listing the files of base layer {} of {}: refused, as the base's layers must \
                 be well-formed tars with names of at most 64 KiB and PAX headers of at most \
                 1 MiB; use another base, or ask its publisher to rebuild it",
                l.blob.digest, base.name
            )
        })?;
    }
    let files = Arc::new(files);
    if let Ok(mut l) = LISTED.lock() {
        l.insert(key, files.clone());
    }
    Ok(files)
}

/// The glibc of the registry bases of each of `triples` (gnu targets of `plan`): the newest
/// `GLIBC_2.N` of the `libc.so.6` in each base's layers for the target's platform (listed by
/// [`registry_base_files`], so the layers are downloaded into the base-layer cache once and the
/// pipeline's check reads them from there), the oldest where images of one target have
/// different bases. A target left out has a base without glibc (or no answer: `notes` says why).
pub fn base_glibcs(
    plan: &Plan,
    triples: &[String],
    connector: &Connector,
    ui: &Reporter,
) -> (BTreeMap<String, GlibcVersion>, Vec<String>) {
    let mut found = BTreeMap::new();
    let mut notes = Vec::new();
    // Each (base, platform) is read once, whatever number of images and targets share it.
    let mut resolved: BTreeMap<String, ResolvedBase> = BTreeMap::new();
    let mut read: BTreeMap<(String, String), Option<GlibcVersion>> = BTreeMap::new();
    for triple in triples {
        let mut oldest: Option<GlibcVersion> = None;
        let (mut every, mut unknown) = (true, false);
        for img in &plan.images {
            let (Some(r), Some(target)) = (
                img.base.reference(),
                img.targets.iter().find(|t| &t.triple == triple),
            ) else {
                continue;
            };
            let key = (r.given().to_string(), target.platform.to_string());
            if !read.contains_key(&key) {
                let answer = (|| -> Result<Option<GlibcVersion>> {
                    let registry = connector.get()?;
                    if !resolved.contains_key(r.given()) {
                        ui.status("Reading", &format!("the glibc of base image {r}"));
                        resolved.insert(r.given().to_string(), resolve(r, &registry)?);
                    }
                    let base = resolved[r.given()].image_for(&target.platform, &registry)?;
                    let files =
                        registry_base_files(&base, &BaseFiles::new(), &registry, ui, &plan.env)?;
                    Ok(files.glibc_version(&target.platform))
                })();
                let v = answer.unwrap_or_else(|e| {
                    unknown = true;
                    notes.push(format!(
                        "{triple}: the glibc of the `{r}` base for {} is not known ({:#}); \
                         linked as without --glibc",
                        target.platform, e
                    ));
                    None
                });
                read.insert(key.clone(), v);
            }
            match read[&key] {
                Some(v) => oldest = Some(oldest.map_or(v, |o| o.min(v))),
                None => every = false,
            }
        }
        match (every, oldest) {
            (true, Some(v)) => {
                found.insert(triple.clone(), v);
            }
            _ if unknown => {}
            _ => notes.push(format!(
                "{triple}: a base of it has no glibc (no libc.so.6 where the loader looks), so \
                 it is linked as without --glibc"
            )),
        }
    }
    (found, notes)
}

/// Answers the planner's questions about registry bases by asking the registry (the run's one
/// client, connected on first use, so a plan that asks nothing connects to nothing).
pub struct RegistryLookup<'a> {
    connector: &'a Connector,
}

impl<'a> RegistryLookup<'a> {
    pub fn new(connector: &'a Connector) -> RegistryLookup<'a> {
        RegistryLookup { connector }
    }
}

impl crate::plan::Lookup for RegistryLookup<'_> {
    fn base_platforms(&self, base: &ImageRef) -> Result<Vec<Platform>> {
        Ok(resolve(base, &*self.connector.get()?)?.platforms())
    }

    fn registry_options(&self, registry: &crate::registry::RegistryOptions) {
        self.connector.configure(registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skeleton_has_nonroot_user_and_group() {
        let passwd = include_str!("../../templates/passwd");
        assert!(passwd
            .lines()
            .any(|l| l.starts_with("nonroot:x:65532:65532:")));
        let group = include_str!("../../templates/group");
        assert!(group.lines().any(|l| l.starts_with("nonroot:x:65532:")));
        let spec = skeleton_layer();
        assert!(spec
            .entries
            .iter()
            .any(|e| e.path == "tmp" && e.mode == 0o1777));
    }

    #[test]
    fn platforms_of_index_entries_keep_the_variant() {
        let v: Value = serde_json::json!({"os": "linux", "architecture": "arm", "variant": "v6"});
        assert_eq!(platform_of(&v).unwrap(), "linux/arm/v6");
        let v: Value = serde_json::json!({"os": "linux", "architecture": "amd64"});
        assert_eq!(platform_of(&v).unwrap(), "linux/amd64");
    }
}
