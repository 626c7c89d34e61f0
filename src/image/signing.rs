//! What signing an image set adds, wherever it goes: a `.sig` layer for the index and for each
//! platform manifest ([`crate::image::signature`]), and an `.att` image of the attestations of
//! each platform that has attachments ([`crate::image::attestation`]), each under its tag. The
//! registry push adds these to what the tags hold there; an OCI layout lists them in its
//! `index.json` ([`layout_entry`]).

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::image::attestation;
use crate::image::model::{annotation, media, ImageSet};
use crate::image::signature::{self, CosignImage, CosignLayer, Signer};
use crate::util::digest::Digest;

/// cosign's annotation on the `index.json` entries of a layout it saves (`cosign save`):
/// what the entry is.
pub use crate::image::model::annotation::COSIGN_KIND as KIND_ANNOTATION;
/// The `kind` of a signature image.
pub const KIND_SIGNATURES: &str = "dev.cosignproject.cosign/sigs";
/// The `kind` of an attestation image.
pub const KIND_ATTESTATIONS: &str = "dev.cosignproject.cosign/atts";

/// The layers to add under one cosign tag.
pub struct ToSign {
    /// The signed or attested manifest (or index).
    pub subject: Digest,
    /// `sha256-<hex>.sig` or `sha256-<hex>.att`.
    pub tag: String,
    /// [`KIND_SIGNATURES`] or [`KIND_ATTESTATIONS`].
    pub kind: &'static str,
    /// What to add.
    pub layers: Vec<CosignLayer>,
}

impl ToSign {
    /// The predicate types of an attestation's layers.
    pub fn predicate_types(&self) -> Vec<String> {
        self.layers
            .iter()
            .filter_map(|l| l.annotations.get(attestation::PREDICATE_ANNOTATION))
            .filter_map(|v| v.as_str().map(String::from))
            .collect()
    }
}

/// Everything `signer` adds for `set` as pushed to (or named) `repository`: the signatures of
/// the index and each platform manifest, then each platform's attestations.
pub fn to_sign(set: &ImageSet, repository: &str, signer: &dyn Signer) -> Result<Vec<ToSign>> {
    let mut out = Vec::new();
    let subjects = std::iter::once(&set.index.descriptor.digest)
        .chain(set.images.iter().map(|i| &i.manifest.descriptor.digest));
    for digest in subjects {
        let payload = signature::payload(repository, digest);
        let sig = signer
            .sign(&payload)
            .with_context(|| format!("signing {repository}@{digest} with {}", signer.describe()))?;
        out.push(ToSign {
            subject: digest.clone(),
            tag: signature::signature_tag(digest),
            kind: KIND_SIGNATURES,
            layers: vec![with_signer(
                signature::signature_layer(payload, &sig),
                signer,
            )],
        });
    }
    for image in &set.images {
        let digest = &image.manifest.descriptor.digest;
        let ours = set
            .attachments
            .iter()
            .filter(|a| a.platform == image.platform);
        let layers = attestation::attestation_layers(ours, repository, digest, signer)
            .with_context(|| {
                format!("attesting {repository}@{digest} with {}", signer.describe())
            })?;
        let layers: Vec<CosignLayer> = layers.into_iter().map(|l| with_signer(l, signer)).collect();
        if !layers.is_empty() {
            out.push(ToSign {
                subject: digest.clone(),
                tag: attestation::attestation_tag(digest),
                kind: KIND_ATTESTATIONS,
                layers,
            });
        }
    }
    Ok(out)
}

/// `layer` with the signer's own annotations ([`Signer::layer_annotations`]) added.
fn with_signer(mut layer: CosignLayer, signer: &dyn Signer) -> CosignLayer {
    layer.annotations.extend(signer.layer_annotations());
    layer
}

/// The `index.json` entry of a cosign image in a layout: found by its tag as a ref name (so
/// `skopeo copy oci:DIR:sha256-<hex>.sig docker://REPO:sha256-<hex>.sig` carries it), marked
/// with cosign's `kind`, which the layout's readers skip when they look for the image.
pub fn layout_entry(tag: &str, kind: &str, image: &CosignImage) -> Value {
    json!({
        "mediaType": media::MANIFEST,
        "digest": image.manifest.descriptor.digest.as_str(),
        "size": image.manifest.descriptor.size,
        "annotations": {annotation::REF_NAME: tag, KIND_ANNOTATION: kind},
    })
}

/// Whether an `index.json` entry is a cosign signature or attestation image.
pub fn is_cosign_entry(entry: &Value) -> bool {
    matches!(
        entry["annotations"][KIND_ANNOTATION].as_str(),
        Some(KIND_SIGNATURES | KIND_ATTESTATIONS)
    )
}
