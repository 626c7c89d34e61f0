//! `cargo imagebuild merge`: per-platform OCI layouts (each built on its own machine, one binary
//! each) read back into one [`ImageSet`]. The platform manifests are taken as they are, in the
//! order of the layouts given, and the index over them is made by the same
//! [`document::index`] a single multi-platform build uses, with the layouts' shared index
//! annotations: so the merged index is byte-identical to the one a single `--platform a,b`
//! build of the same source gives. Every blob the set names is placed in the caller's
//! [`BlobStore`] (hard-linked where it can be), for the sinks to read.
//!
//! Refused, with the layout named: a directory that is not an OCI layout, one holding several
//! images, a missing blob, the same platform twice, and layouts whose index annotations differ
//! (built from different sources, versions or `SOURCE_DATE_EPOCH`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::document;
use super::model::{annotation, media, Attachment, Descriptor, Document, Image, ImageSet, Layer};
use super::platform::Platform;
use super::store::BlobStore;
use crate::util::digest::Digest;

/// One layout's part: its images, index annotations, tags and repository.
struct Part {
    dir: PathBuf,
    images: Vec<Image>,
    annotations: BTreeMap<String, String>,
    tags: Vec<String>,
    repository: Option<String>,
    /// The index's annotations on each platform's descriptor (`manifest-descriptor:`).
    descriptor_annotations: Vec<(Platform, BTreeMap<String, String>)>,
    /// SBOMs and provenance the layout lists beside the image, kept through the merge.
    attachments: Vec<Attachment>,
}

/// Reads the layouts in `dirs` (in order) into one image set, with its blobs in `store`; its
/// repository and tags are the first layout's.
pub fn merge_layouts(dirs: &[PathBuf], store: &BlobStore) -> Result<ImageSet> {
    if dirs.len() < 2 {
        bail!("merge takes two or more OCI layout directories (one per platform)");
    }
    let parts = dirs
        .iter()
        .map(|d| read_part(d, store))
        .collect::<Result<Vec<_>>>()?;
    let first = &parts[0];
    let mut images: Vec<Image> = Vec::new();
    for part in &parts {
        if part.annotations != first.annotations {
            let differs = first
                .annotations
                .keys()
                .chain(part.annotations.keys())
                .find(|k| first.annotations.get(*k) != part.annotations.get(*k))
                .cloned()
                .unwrap_or_default();
            bail!(
                "{} and {} were built from different sources: their index annotation `{differs}` \
                 differs ({:?} vs {:?}); build every platform from the same commit, version and \
                 SOURCE_DATE_EPOCH",
                first.dir.display(),
                part.dir.display(),
                first.annotations.get(&differs),
                part.annotations.get(&differs)
            );
        }
        for img in &part.images {
            if images.iter().any(|i| i.platform == img.platform) {
                bail!(
                    "{} appears twice (again in {}): give each platform's layout once",
                    img.platform,
                    part.dir.display()
                );
            }
            images.push(img.clone());
        }
    }
    let repository = first.repository.clone().with_context(|| {
        format!(
            "{} does not say which repository it is for: name it with -t NAME[:TAG]",
            first.dir.display()
        )
    })?;
    let tags = first.tags.clone();
    let index = document::index(&images, &first.annotations, &|p| {
        parts
            .iter()
            .flat_map(|part| &part.descriptor_annotations)
            .find(|(q, _)| q == p)
            .map(|(_, a)| a.clone())
            .unwrap_or_default()
    })?;
    let name = repository
        .rsplit('/')
        .next()
        .unwrap_or(&repository)
        .to_string();
    Ok(ImageSet {
        name,
        repository,
        tags,
        images,
        index,
        attachments: parts.iter().flat_map(|p| p.attachments.clone()).collect(),
    })
}

fn read_json(path: &Path) -> Result<(Vec<u8>, Value)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let v = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not JSON", path.display()))?;
    Ok((bytes, v))
}

/// The descriptor written in `v` (`mediaType`, `digest`, `size`).
fn descriptor(v: &Value, dir: &Path) -> Result<Descriptor> {
    let digest: Digest = v["digest"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .map_err(|e| anyhow::anyhow!("{}: a descriptor's digest: {e}", dir.display()))?;
    Ok(Descriptor {
        media_type: v["mediaType"].as_str().unwrap_or_default().to_string(),
        digest,
        size: v["size"].as_u64().unwrap_or_default(),
    })
}

/// Puts the blob `d` of the layout `dir` into `store` and returns its bytes when `read`.
fn take_blob(dir: &Path, d: &Descriptor, store: &BlobStore, read: bool) -> Result<Vec<u8>> {
    let src = dir.join("blobs/sha256").join(d.digest.hex());
    let len = std::fs::metadata(&src).map(|m| m.len()).with_context(|| {
        format!(
            "{} lacks the blob {}: the layout is incomplete; build it again",
            dir.display(),
            d.digest
        )
    })?;
    if len != d.size {
        bail!(
            "{}: the blob {} has {len} bytes where {} were declared: the layout is damaged",
            dir.display(),
            d.digest,
            d.size
        );
    }
    if !store.contains(&d.digest) {
        // A copy hashed on the way (never a link into the user's layout): a damaged blob there
        // is refused rather than stored.
        store
            .copy_in(&src, &d.digest)
            .with_context(|| format!("{}: copying a blob into the blob store", dir.display()))?;
    }
    if read {
        let bytes = std::fs::read(&src)?;
        if Digest::of(&bytes) != d.digest {
            bail!(
                "{}: the blob {} does not match its digest",
                dir.display(),
                d.digest
            );
        }
        return Ok(bytes);
    }
    Ok(Vec::new())
}

fn read_part(dir: &Path, store: &BlobStore) -> Result<Part> {
    if !dir.join("oci-layout").is_file() {
        bail!(
            "{} is not an OCI layout (no oci-layout file): give the dest of a \
             --output type=oci,dest=DIR build",
            dir.display()
        );
    }
    let (_, top) = read_json(&dir.join("index.json"))?;
    // Artifacts (SBOMs, provenance) are listed beside the image, untagged; cosign's signatures
    // and attestations, tagged, are of the layout's index, not of the merged one (a merge
    // with --sign-key signs that).
    let (artifacts, entries): (Vec<Value>, Vec<Value>) = top["manifests"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| !crate::image::signing::is_cosign_entry(e))
        .partition(|e| e.get("artifactType").is_some());
    let Some(entry) = entries.first() else {
        bail!("{}/index.json lists no image", dir.display());
    };
    if entries.iter().any(|e| e["digest"] != entry["digest"]) {
        bail!(
            "{} holds several images; merge takes one binary's layouts (build with \
             dest=dist/PLATFORM/{{bin}} and merge each binary's directories)",
            dir.display()
        );
    }
    let index_d = descriptor(entry, dir)?;
    if index_d.media_type != media::INDEX {
        bail!(
            "{}: its image is a {}, not an index as cargo imagebuild writes",
            dir.display(),
            index_d.media_type
        );
    }
    let tags: Vec<String> = entries
        .iter()
        .filter_map(|e| e["annotations"][annotation::REF_NAME].as_str())
        .map(str::to_string)
        .collect();
    let repository = entries[0]["annotations"]["io.containerd.image.name"]
        .as_str()
        .map(|n| crate::image::reference::repository_part(n).to_string());
    let index_bytes = take_blob(dir, &index_d, store, true)?;
    let index: Value = serde_json::from_slice(&index_bytes)?;
    let annotations: BTreeMap<String, String> =
        serde_json::from_value(index["annotations"].clone()).unwrap_or_default();
    let mut images = Vec::new();
    let mut descriptor_annotations = Vec::new();
    for m in index["manifests"].as_array().cloned().unwrap_or_default() {
        let p = &m["platform"];
        let platform = Platform::new(
            p["os"].as_str().unwrap_or_default(),
            p["architecture"].as_str().unwrap_or_default(),
            p["variant"].as_str(),
        );
        let md = descriptor(&m, dir)?;
        if let Ok(a) = serde_json::from_value::<BTreeMap<String, String>>(m["annotations"].clone())
        {
            descriptor_annotations.push((platform.clone(), a));
        }
        let manifest_bytes = take_blob(dir, &md, store, true)?;
        let manifest: Value = serde_json::from_slice(&manifest_bytes)?;
        let cd = descriptor(&manifest["config"], dir)?;
        let config_bytes = take_blob(dir, &cd, store, true)?;
        let config: Value = serde_json::from_slice(&config_bytes)?;
        let diff_ids = config["rootfs"]["diff_ids"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut layers = Vec::new();
        for (i, l) in manifest["layers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let blob = descriptor(l, dir)?;
            take_blob(dir, &blob, store, false)?;
            let diff_id = diff_ids
                .get(i)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .parse()
                .map_err(|e| anyhow::anyhow!("{}: layer {i}'s diff_id: {e}", dir.display()))?;
            layers.push(Layer {
                blob,
                diff_id,
                created_by: String::new(),
                remote: None,
            });
        }
        images.push(Image {
            platform,
            triple: String::new(),
            layers,
            config: Document {
                descriptor: cd,
                bytes: config_bytes,
            },
            manifest: Document {
                descriptor: md,
                bytes: manifest_bytes,
            },
        });
    }
    let mut attachments = Vec::new();
    for a in &artifacts {
        let ad = descriptor(a, dir)?;
        let bytes = take_blob(dir, &ad, store, true)?;
        let m: Value = serde_json::from_slice(&bytes)?;
        let subject = m["subject"]["digest"].as_str().unwrap_or_default();
        let Some(image) = images
            .iter()
            .find(|i| i.manifest.descriptor.digest.as_str() == subject)
        else {
            continue; // attached to something this layout does not hold
        };
        let layer = descriptor(&m["layers"][0], dir)?;
        let document = take_blob(dir, &layer, store, true)?;
        attachments.push(Attachment {
            platform: image.platform.clone(),
            document: Document {
                descriptor: layer,
                bytes: document,
            },
            manifest: Document {
                descriptor: ad,
                bytes,
            },
        });
    }
    Ok(Part {
        dir: dir.to_path_buf(),
        images,
        annotations,
        tags,
        repository,
        descriptor_annotations,
        attachments,
    })
}
