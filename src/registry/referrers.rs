//! Attachments in a registry (OCI distribution 1.1 referrers): pushing an image set's
//! attachments (SBOMs, provenance) after the image, and listing and pulling what is attached to
//! a manifest.
//!
//! A registry that has the referrers API (`GET /v2/<name>/referrers/<digest>`) indexes an
//! artifact by its `subject` when the artifact's manifest is pushed. One that has not
//! (distribution 2.8) answers 404 there; clients then keep the list themselves, as an image index
//! tagged `sha256-<subject hex>` (the referrers tag schema). After pushing the artifacts we ask
//! for the subject's referrers (the API, else the tag: [`Host::referrers_index`]): whatever is
//! not listed yet is added to the tag's index, keeping what other tools put there.

use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use futures_util::{stream, StreamExt, TryStreamExt};
use oci_spec::distribution::Reference;
use serde_json::{json, Value};

use super::answer::{self, MANIFEST_LIMIT};
use super::client::{Pulled, Registry};
use super::error::{ErrorKind, RegistryError};
use super::push::{Body, Counters, Source, PARALLEL};
use super::retry::retry;
use super::transport::Host;
use crate::image::document::EMPTY_CONFIG;
use crate::image::model::{media, Attachment, Descriptor, Document, ImageSet};
use crate::image::platform::Platform;
use crate::image::reference::ImageRef;
use crate::util::digest::Digest;

/// One artifact attached to a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Referrer {
    pub artifact_type: String,
    /// The artifact's manifest.
    pub digest: Digest,
    pub size: u64,
}

/// An attached document as read back: its type, the artifact manifest's digest, the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadBack {
    pub artifact_type: String,
    pub artifact: Digest,
    pub document: Vec<u8>,
}

/// What is attached to one platform's manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachedTo {
    /// `linux/arm64`, as the index says.
    pub platform: String,
    pub manifest: Digest,
    pub documents: Vec<ReadBack>,
}

/// `os/arch[/variant]` of an index entry's `platform`.
pub fn platform_of(entry: &Value) -> String {
    let p = &entry["platform"];
    let mut s = format!(
        "{}/{}",
        p["os"].as_str().unwrap_or("?"),
        p["architecture"].as_str().unwrap_or("?")
    );
    if let Some(v) = p["variant"].as_str() {
        s.push('/');
        s.push_str(v);
    }
    s
}

/// The referrers tag of a subject: `sha256-<hex>`.
pub fn tag_for(subject: &Digest) -> String {
    subject.as_str().replacen(':', "-", 1)
}

fn is_not_found(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<RegistryError>())
        .any(|r| r.kind == ErrorKind::NotFound)
}

/// The tag schema's index after adding `ours` to what `existing` (its current bytes) lists.
pub fn merged_tag_index(existing: Option<&[u8]>, ours: &[&Attachment]) -> Result<Vec<u8>> {
    let mut manifests: Vec<Value> = match existing {
        Some(bytes) => {
            let v: Value = serde_json::from_slice(bytes)
                .context("the referrers tag holds something that is not JSON")?;
            v.get("manifests")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        }
        None => Vec::new(),
    };
    for a in ours {
        let digest = a.manifest.descriptor.digest.as_str();
        if manifests.iter().any(|m| m["digest"] == digest) {
            continue;
        }
        manifests.push(json!({
            "mediaType": media::MANIFEST,
            "artifactType": a.artifact_type(),
            "digest": digest,
            "size": a.manifest.descriptor.size,
        }));
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media::INDEX,
        "manifests": manifests,
    });
    Ok(serde_json::to_vec(&index)?)
}

impl Host {
    /// The index of what is attached to the manifest `r` names (by digest): the referrers API's
    /// answer, else (a registry without the API answers 404) the referrers tag's index, else
    /// an empty one.
    pub async fn referrers_index(&self, r: &Reference) -> Result<Value, RegistryError> {
        let repo = r.repository();
        let subject: Digest = r
            .digest()
            .unwrap_or_default()
            .parse()
            .map_err(|e: String| RegistryError::new(ErrorKind::Other, e))?;
        let url = self.url(&format!("/v2/{repo}/referrers/{subject}"))?;
        let req = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, media::INDEX);
        let res = self.send(repo, false, req).await?;
        match res.status().as_u16() {
            200 => {
                let body = answer::read_capped(res, MANIFEST_LIMIT).await?;
                return serde_json::from_slice(&body).map_err(|_| {
                    RegistryError::new(
                        ErrorKind::Protocol,
                        "the registry's referrers answer is not JSON",
                    )
                });
            }
            // No referrers API (404 is what the spec says; some answer as for an unknown route).
            404 | 400 | 405 | 501 => {}
            _ => return Err(answer::error_from(res).await),
        }
        let tag = Reference::with_tag(r.registry().into(), repo.into(), tag_for(&subject));
        match self.pull_manifest_raw(&tag, &[media::INDEX]).await {
            Ok(f) => Ok(serde_json::from_slice(&f.bytes).unwrap_or(Value::Null)),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(Value::Null),
            Err(e) => Err(e),
        }
    }
}

impl Registry {
    /// Pushes `set`'s attachments to `target` (blobs, then each artifact manifest by digest),
    /// then makes them findable from their subjects (see the module docs). An attachment its
    /// subject lists already was pushed before (its manifest goes up before it is listed): it
    /// is neither sent nor listed again.
    pub(super) async fn push_attachments(
        &self,
        host: &Arc<Host>,
        target: &ImageRef,
        set: &ImageSet,
        counters: &Counters,
    ) -> Result<()> {
        if set.attachments.is_empty() {
            return Ok(());
        }
        let name = target.full_name();
        // Per platform: what its subject does not list yet (the listings asked all at once).
        let per_image = stream::iter(&set.images)
            .map(|image| async move {
                let ours: Vec<&Attachment> = set
                    .attachments
                    .iter()
                    .filter(|a| a.platform == image.platform)
                    .collect();
                if ours.is_empty() {
                    return Ok(None);
                }
                let subject = &image.manifest.descriptor.digest;
                let listed = self.list_async(host, target, subject).await?;
                let new: Vec<&Attachment> = ours
                    .into_iter()
                    .filter(|a| {
                        !listed
                            .iter()
                            .any(|r| r.digest == a.manifest.descriptor.digest)
                    })
                    .collect();
                anyhow::Ok((!new.is_empty()).then_some((subject, &image.platform, new)))
            })
            .buffered(PARALLEL)
            .try_collect::<Vec<_>>()
            .await?;
        let missing: Vec<(&Digest, &Platform, Vec<&Attachment>)> =
            per_image.into_iter().flatten().collect();
        if missing.is_empty() {
            return Ok(());
        }
        let empty = Descriptor::of_bytes(media::EMPTY, EMPTY_CONFIG);
        self.push_blob(
            host,
            target,
            &empty,
            Source::Local(Body::Memory(Bytes::from_static(EMPTY_CONFIG))),
            counters,
        )
        .await
        .with_context(|| format!("pushing the empty config to {name}"))?;
        // Each attachment's document, then its artifact manifest; attachments side by side.
        stream::iter(missing.iter().flat_map(|(_, _, new)| new))
            .map(|a| {
                let name = &name;
                async move {
                    let d = &a.document;
                    self.push_blob(
                        host,
                        target,
                        &d.descriptor,
                        Source::Local(Body::Memory(Bytes::from(d.bytes.clone()))),
                        counters,
                    )
                    .await
                    .with_context(|| {
                        format!(
                            "pushing the {} of {} to {name}",
                            a.artifact_type(),
                            a.platform
                        )
                    })?;
                    self.put_manifest(
                        host,
                        target.at_digest(a.manifest.descriptor.digest.as_str()),
                        &a.manifest,
                    )
                    .await
                    .with_context(|| {
                        format!(
                            "pushing the {} manifest of {} to {name}",
                            a.artifact_type(),
                            a.platform
                        )
                    })
                }
            })
            .buffer_unordered(PARALLEL)
            .try_collect::<Vec<()>>()
            .await?;
        // Each subject's referrers, once its attachments are all there; subjects side by side.
        stream::iter(&missing)
            .map(|(subject, platform, new)| {
                let name = &name;
                async move {
                    // A registry with the referrers API lists them now; without it, keep the
                    // tag schema's index.
                    let listed = self.list_async(host, target, subject).await?;
                    let unlisted: Vec<&Attachment> = new
                        .iter()
                        .copied()
                        .filter(|a| {
                            !listed
                                .iter()
                                .any(|r| r.digest == a.manifest.descriptor.digest)
                        })
                        .collect();
                    if unlisted.is_empty() {
                        return Ok(());
                    }
                    let tag = tag_for(subject);
                    let existing = match self.pull_raw(host, &target.at_tag(&tag)).await {
                        Ok(p) => Some(p),
                        Err(e) if is_not_found(&e) => None,
                        Err(e) => return Err(e.context(format!("reading {name}:{tag}"))),
                    };
                    let bytes =
                        merged_tag_index(existing.as_ref().map(|p| p.bytes.as_slice()), &unlisted)?;
                    let index = Document::new(media::INDEX, bytes);
                    self.put_manifest(host, target.at_tag(&tag), &index)
                        .await
                        .with_context(|| {
                            format!("tagging the referrers of {platform} as {name}:{tag}")
                        })
                }
            })
            .buffer_unordered(PARALLEL)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn list_async(
        &self,
        host: &Arc<Host>,
        repo: &ImageRef,
        subject: &Digest,
    ) -> Result<Vec<Referrer>> {
        let r = repo.at_digest(subject.as_str());
        let v = retry(Some((&self.ui, "listing referrers")), || {
            host.referrers_index(&r)
        })
        .await
        .map_err(|e| super::client::explain(e, &host.name, Some(&host.source)))?;
        Ok(v["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| {
                Some(Referrer {
                    artifact_type: m["artifactType"].as_str().unwrap_or_default().to_string(),
                    digest: m["digest"].as_str()?.parse().ok()?,
                    size: m["size"].as_u64()?,
                })
            })
            .collect())
    }

    async fn pull_raw(&self, host: &Arc<Host>, r: &Reference) -> Result<Pulled> {
        let fetched = retry(Some((&self.ui, "pulling a manifest")), || {
            host.pull_manifest_raw(r, &[media::INDEX, media::MANIFEST])
        })
        .await
        .map_err(|e| super::client::explain(e, &host.name, Some(&host.source)))?;
        Ok(Pulled {
            bytes: fetched.bytes.to_vec(),
            digest: fetched.digest,
            media_type: String::new(),
        })
    }

    /// What is attached to the manifest `subject` in `repo` (the referrers API, else the tag
    /// schema).
    pub fn referrers(&self, repo: &ImageRef, subject: &Digest) -> Result<Vec<Referrer>> {
        self.block_on(async {
            let r = repo.at_digest(subject.as_str());
            let host = self.connect(&r, false).await?;
            self.list_async(&host, repo, subject).await
        })
    }

    /// What is attached to each platform manifest of the image `reference` names (an index or
    /// one manifest).
    pub fn attached(&self, reference: &ImageRef) -> Result<Vec<AttachedTo>> {
        let top = self.pull_manifest(&reference.oci())?;
        let repo = ImageRef::repository_named(&reference.full_name())?;
        let v: Value = serde_json::from_slice(&top.bytes)
            .with_context(|| format!("{} is not JSON", reference))?;
        let manifests: Vec<(String, Digest)> = if media::is_index(&top.media_type) {
            v["manifests"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| Some((platform_of(m), m["digest"].as_str()?.parse().ok()?)))
                .collect()
        } else {
            vec![("?".to_string(), top.digest.clone())]
        };
        let mut out = Vec::new();
        for (platform, manifest) in manifests {
            let mut documents = Vec::new();
            for referrer in self.referrers(&repo, &manifest)? {
                let (_, document) = self.pull_attachment(&repo, &referrer.digest)?;
                documents.push(ReadBack {
                    artifact_type: referrer.artifact_type,
                    artifact: referrer.digest,
                    document,
                });
            }
            out.push(AttachedTo {
                platform,
                manifest,
                documents,
            });
        }
        Ok(out)
    }

    /// An attached document: the artifact manifest `artifact` in `repo`, and its one layer's
    /// bytes (digest checked).
    pub fn pull_attachment(&self, repo: &ImageRef, artifact: &Digest) -> Result<(Value, Vec<u8>)> {
        let pulled = self.pull_manifest(&repo.at_digest(artifact.as_str()))?;
        let manifest: Value = serde_json::from_slice(&pulled.bytes)
            .with_context(|| format!("the artifact {artifact} is not JSON"))?;
        let layer = &manifest["layers"][0];
        let (Some(media_type), Some(digest), Some(size)) = (
            layer["mediaType"].as_str(),
            layer["digest"].as_str(),
            layer["size"].as_u64(),
        ) else {
            bail!("the artifact {artifact} has no layer holding its document");
        };
        let d = Descriptor {
            media_type: media_type.to_string(),
            digest: digest.parse().map_err(|e: String| anyhow!(e))?,
            size,
        };
        let bytes = self.pull_document(repo, &d)?;
        Ok((manifest, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::platform::Platform;

    fn attachment(n: u8) -> Attachment {
        Attachment {
            platform: Platform::new("linux", "amd64", None),
            document: Document::new(media::SPDX, vec![n]),
            manifest: Document::new(media::MANIFEST, vec![n, n]),
        }
    }

    #[test]
    fn the_tag_index_keeps_other_entries_and_adds_ours_once() {
        let a = attachment(1);
        let first = merged_tag_index(None, &[&a]).unwrap();
        let again = merged_tag_index(Some(&first), &[&a]).unwrap();
        assert_eq!(first, again);
        let other = br#"{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"sha256:00","size":1,"artifactType":"application/vnd.dev.cosign"}]}"#;
        let merged: Value =
            serde_json::from_slice(&merged_tag_index(Some(other), &[&a]).unwrap()).unwrap();
        assert_eq!(merged["manifests"].as_array().unwrap().len(), 2);
        assert_eq!(
            merged["manifests"][0]["artifactType"],
            "application/vnd.dev.cosign"
        );
        assert_eq!(merged["manifests"][1]["artifactType"], media::SPDX);
        assert_eq!(
            tag_for(&Digest::of(b"x")),
            format!("sha256-{}", Digest::of(b"x").hex())
        );
    }
}
