//! Where `verify` reads a signed image from, behind one trait ([`Held`]): a registry
//! (`REF`: the cosign tags in the image's repository, attachments through the referrers API or
//! tag) or an OCI layout (`oci:DIR[:TAG]`: the cosign images `index.json` lists by ref name,
//! the attachments it lists beside the image).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::image::model::{media, Descriptor};
use crate::image::reference::ImageRef;
use crate::registry::{ErrorKind, Registry, RegistryError};
use crate::util::digest::Digest;

/// An image's top manifest or index as read.
pub struct Top {
    pub media_type: String,
    pub bytes: Vec<u8>,
    pub digest: Digest,
}

/// Where a signed image is read from.
pub trait Held {
    /// The image `verify` was given: its index (or single manifest).
    fn top(&self) -> Result<Top>;
    /// The manifest of the cosign image under `tag` (`sha256-<hex>.sig` or `.att`), `None`
    /// when there is none.
    fn cosign_image(&self, tag: &str) -> Result<Option<Vec<u8>>>;
    /// A small blob (a payload, an envelope), its digest checked.
    fn blob(&self, d: &Descriptor) -> Result<Vec<u8>>;
    /// The SBOMs and provenance attached to the platform manifest `manifest`: (artifact type,
    /// document bytes).
    fn attached(&self, manifest: &Digest) -> Result<Vec<(String, Vec<u8>)>>;
    /// The repository the payloads must name; `None` for a layout, whose image may be pushed
    /// anywhere later (its payloads name the repository it was built for).
    fn repository(&self) -> Option<String>;
    /// What holds it, for messages: a repository, or a layout's directory.
    fn name(&self) -> String;
}

/// The document types that are attested.
const ATTESTED: [&str; 3] = [media::SPDX, media::CYCLONEDX, media::IN_TOTO];

/// An image in a registry.
pub struct InRegistry {
    pub registry: Registry,
    /// The reference given.
    pub reference: ImageRef,
    /// Its repository.
    pub repo: ImageRef,
}

/// Whether `e` is the registry's "no such manifest".
fn is_not_found(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<RegistryError>()
            .is_some_and(|r| r.kind == ErrorKind::NotFound || r.status == Some(404))
    })
}

impl Held for InRegistry {
    fn top(&self) -> Result<Top> {
        let p = self
            .registry
            .pull_manifest(&self.reference.oci())
            .with_context(|| format!("reading {}", self.reference))?;
        Ok(Top {
            media_type: p.media_type,
            bytes: p.bytes,
            digest: p.digest,
        })
    }

    fn cosign_image(&self, tag: &str) -> Result<Option<Vec<u8>>> {
        match self.registry.pull_manifest(&self.repo.at_tag(tag)) {
            Ok(m) => Ok(Some(m.bytes)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e.context(format!("reading {}:{tag}", self.name()))),
        }
    }

    fn blob(&self, d: &Descriptor) -> Result<Vec<u8>> {
        self.registry
            .pull_document(&self.repo, d)
            .with_context(|| format!("reading the blob {} of {}", d.digest, self.name()))
    }

    fn attached(&self, manifest: &Digest) -> Result<Vec<(String, Vec<u8>)>> {
        let mut out = Vec::new();
        for r in self.registry.referrers(&self.repo, manifest)? {
            if ATTESTED.contains(&r.artifact_type.as_str()) {
                let (_, document) = self.registry.pull_attachment(&self.repo, &r.digest)?;
                out.push((r.artifact_type, document));
            }
        }
        Ok(out)
    }

    fn repository(&self) -> Option<String> {
        Some(self.repo.full_name())
    }

    fn name(&self) -> String {
        self.repo.full_name()
    }
}

/// An image in an OCI layout directory.
pub struct InLayout {
    pub dir: PathBuf,
    /// `oci:DIR:TAG`'s tag, else the layout's one image.
    pub tag: Option<String>,
}

impl InLayout {
    /// `oci:DIR[:TAG]` as `sbom` reads it.
    pub fn parse(rest: &str) -> InLayout {
        let (dir, tag) = match rest.rsplit_once(':') {
            Some((d, t)) if !t.contains('/') && !d.is_empty() => (d, Some(t.to_string())),
            _ => (rest, None),
        };
        InLayout {
            dir: PathBuf::from(dir),
            tag,
        }
    }

    fn read(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.dir.join("blobs/sha256").join(digest.hex());
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        if Digest::of(&bytes) != *digest {
            bail!("{} does not match its digest", path.display());
        }
        Ok(bytes)
    }
}

impl Held for InLayout {
    fn top(&self) -> Result<Top> {
        let entry = crate::sink::layout::image_entry(&self.dir, self.tag.as_deref())?;
        let digest: Digest = entry["digest"]
            .as_str()
            .unwrap_or_default()
            .parse()
            .map_err(|e: String| anyhow::anyhow!("{}/index.json: {e}", self.dir.display()))?;
        let bytes = self.read(&digest)?;
        let media_type = entry["mediaType"]
            .as_str()
            .unwrap_or(media::INDEX)
            .to_string();
        Ok(Top {
            media_type,
            bytes,
            digest,
        })
    }

    fn cosign_image(&self, tag: &str) -> Result<Option<Vec<u8>>> {
        Ok(crate::sink::layout::cosign_manifest(&self.dir, tag))
    }

    fn blob(&self, d: &Descriptor) -> Result<Vec<u8>> {
        self.read(&d.digest)
    }

    fn attached(&self, manifest: &Digest) -> Result<Vec<(String, Vec<u8>)>> {
        let all = crate::sink::layout::attached(&self.dir, self.tag.as_deref())?;
        Ok(all
            .into_iter()
            .filter(|a| a.manifest == *manifest)
            .flat_map(|a| a.documents)
            .filter(|d| ATTESTED.contains(&d.artifact_type.as_str()))
            .map(|d| (d.artifact_type, d.document))
            .collect())
    }

    fn repository(&self) -> Option<String> {
        None
    }

    fn name(&self) -> String {
        format!("oci:{}", self.dir.display())
    }
}

/// Where `reference` is: `oci:DIR[:TAG]`, else a registry reference.
pub fn layout_of(reference: &str) -> Option<InLayout> {
    reference.strip_prefix("oci:").map(InLayout::parse)
}
