//! Signed attestations in cosign's format (what `cosign attest --key` writes): each SBOM and
//! provenance attached to a platform's manifest also becomes an in-toto statement about that
//! manifest ([`statement`]: the provenance is one already; an SBOM becomes the predicate of
//! one, `https://spdx.dev/Document` or `https://cyclonedx.org/bom` as cosign names them),
//! wrapped in a DSSE envelope (`payloadType` `application/vnd.in-toto+json`, the base64
//! statement, one signature over the DSSE pre-authentication encoding, [`pae`]) and stored as
//! a layer of the image tagged `sha256-<hex>.att` — media type
//! `application/vnd.dsse.envelope.v1+json`, annotated with its `predicateType` and an empty
//! `dev.cosignproject.cosign/signature` (the signature is inside the envelope).

use anyhow::{Context, Result};
use base64::Engine;
use serde_json::{json, Value};

use crate::image::model::{media, Attachment};
use crate::image::signature::{CosignLayer, PublicKey, Signer, SIGNATURE_ANNOTATION};
use crate::util::digest::Digest;

/// The layer annotation naming the statement's predicate type.
pub use crate::image::model::annotation::PREDICATE_TYPE as PREDICATE_ANNOTATION;
/// The media type of a DSSE envelope layer.
pub use crate::image::model::media::DSSE;
/// The `_type` of the statements we write.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

/// The tag a manifest's attestations are stored under: `sha256-<hex>.att`.
pub fn attestation_tag(digest: &Digest) -> String {
    format!("sha256-{}.att", digest.hex())
}

/// DSSE's pre-authentication encoding of a payload: what is signed.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The predicate type cosign gives a document of `media_type` (an SBOM's); `None` for a
/// statement (provenance), which names its own.
fn predicate_type_of(media_type: &str) -> Option<&'static str> {
    match media_type {
        media::SPDX => Some("https://spdx.dev/Document"),
        media::CYCLONEDX => Some("https://cyclonedx.org/bom"),
        _ => None,
    }
}

/// The in-toto statement attesting `attachment` about the manifest `subject` of `repository`,
/// and its predicate type: the attachment itself when it is a statement, else a statement
/// whose predicate is the document.
pub fn statement(
    attachment: &Attachment,
    repository: &str,
    subject: &Digest,
) -> Result<(String, Vec<u8>)> {
    let doc: Value = serde_json::from_slice(&attachment.document.bytes)
        .with_context(|| format!("the attached {} is not JSON", attachment.artifact_type()))?;
    match predicate_type_of(attachment.artifact_type()) {
        Some(predicate_type) => {
            let statement = json!({
                "_type": STATEMENT_TYPE,
                "subject": [{"name": repository, "digest": {"sha256": subject.hex()}}],
                "predicateType": predicate_type,
                "predicate": doc,
            });
            Ok((predicate_type.to_string(), serde_json::to_vec(&statement)?))
        }
        None => {
            let predicate_type = doc["predicateType"]
                .as_str()
                .with_context(|| {
                    format!(
                        "the attached {} names no predicateType",
                        attachment.artifact_type()
                    )
                })?
                .to_string();
            Ok((predicate_type, attachment.document.bytes.clone()))
        }
    }
}

/// The `.att` layer of `statement` (of `predicate_type`), signed by `signer`.
pub fn attestation_layer(
    statement: &[u8],
    predicate_type: &str,
    signer: &dyn Signer,
) -> Result<CosignLayer> {
    let b64 = &base64::engine::general_purpose::STANDARD;
    let signature = signer.sign(&pae(media::IN_TOTO, statement))?;
    let envelope = json!({
        "payloadType": media::IN_TOTO,
        "payload": b64.encode(statement),
        "signatures": [{"keyid": "", "sig": b64.encode(signature)}],
    });
    let mut annotations = serde_json::Map::new();
    annotations.insert(SIGNATURE_ANNOTATION.into(), "".into());
    annotations.insert(PREDICATE_ANNOTATION.into(), predicate_type.into());
    Ok(CosignLayer {
        document: crate::image::model::Document::new(DSSE, serde_json::to_vec(&envelope)?),
        annotations,
    })
}

/// The `.att` layers for every attachment of the platform manifest `subject`.
pub fn attestation_layers<'a>(
    attachments: impl IntoIterator<Item = &'a Attachment>,
    repository: &str,
    subject: &Digest,
    signer: &dyn Signer,
) -> Result<Vec<CosignLayer>> {
    attachments
        .into_iter()
        .map(|a| {
            let (predicate_type, statement) = statement(a, repository, subject)?;
            attestation_layer(&statement, &predicate_type, signer)
        })
        .collect()
}

/// One DSSE layer listed in an `.att` image: its digest, size and predicate type annotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedEnvelope {
    /// The envelope layer.
    pub layer: crate::image::model::Descriptor,
    /// Its `predicateType` annotation (empty when absent).
    pub predicate_type: String,
}

/// The DSSE layers of the `.att` image `manifest` (its bytes).
pub fn envelopes_in(manifest: &[u8]) -> Vec<ListedEnvelope> {
    let Ok(v) = serde_json::from_slice::<Value>(manifest) else {
        return Vec::new();
    };
    v["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["mediaType"] == DSSE)
        .filter_map(|l| {
            Some(ListedEnvelope {
                layer: crate::image::model::Descriptor {
                    media_type: DSSE.to_string(),
                    digest: l["digest"].as_str()?.parse().ok()?,
                    size: l["size"].as_u64()?,
                },
                predicate_type: l["annotations"][PREDICATE_ANNOTATION]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            })
        })
        .collect()
}

/// The statement inside `envelope` when one of its signatures verifies with `key` over the
/// PAE; else why not.
pub fn open_envelope(envelope: &[u8], key: &PublicKey) -> Result<Value, String> {
    let b64 = &base64::engine::general_purpose::STANDARD;
    let v: Value = serde_json::from_slice(envelope).map_err(|_| "not JSON".to_string())?;
    let payload_type = v["payloadType"].as_str().unwrap_or_default();
    if payload_type != media::IN_TOTO {
        return Err(format!(
            "payloadType `{payload_type}`, not {}",
            media::IN_TOTO
        ));
    }
    let payload = v["payload"]
        .as_str()
        .and_then(|p| b64.decode(p).ok())
        .ok_or("no base64 payload")?;
    let signed = pae(payload_type, &payload);
    let good = v["signatures"].as_array().into_iter().flatten().any(|s| {
        s["sig"]
            .as_str()
            .and_then(|s| b64.decode(s).ok())
            .is_some_and(|sig| key.verifies(&signed, &sig))
    });
    if !good {
        return Err("no signature verifies over its PAE".into());
    }
    serde_json::from_slice(&payload).map_err(|_| "the payload is not JSON".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_dsse_v1() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }
}
