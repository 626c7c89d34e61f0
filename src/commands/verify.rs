//! `cargo imagebuild verify REF|oci:DIR[:TAG] --key PUB.pem`: checks the cosign signatures of
//! an image in a registry or an OCI layout (`held.rs`) against a public key. For the index
//! (or single manifest) `REF` names and every platform manifest it lists, the signature image
//! under `sha256-<hex>.sig` must hold a simple-signing payload that names that digest (and, in
//! a registry, this repository), with a signature over the payload's bytes that the key
//! verifies. Each kind of document attached to a platform manifest (SPDX, CycloneDX,
//! provenance) must also have a signed attestation under its `sha256-<hex>.att` tag: a DSSE
//! envelope whose signature the key verifies over the PAE and whose statement (or its
//! predicate, for an SBOM) is one of the attached documents of that kind (an unsigned push of
//! the same image attaches documents of its own, which need none). Gives what was verified;
//! the first subject without such a signature or attestation is an error ([`VerifyError`])
//! that says which and why.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::held::{self, Held, InRegistry};
use crate::events::Listener;
use crate::image::attestation;
use crate::image::model::media;
use crate::image::reference::ImageRef;
use crate::image::signature::{self, PublicKey};
use crate::registry::referrers::platform_of;
use crate::registry::{Registry, RegistryOptions};
use crate::util::digest::Digest;
use crate::util::env::Environment;
use crate::util::report::Reporter;

/// What `verify` checks and how it reaches the registry.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// The image: a registry reference (tag or digest), or `oci:DIR[:TAG]`.
    pub reference: String,
    /// The public key (PEM, what `openssl pkey -pubout` writes).
    pub key: PathBuf,
    /// How registries are reached.
    pub registry: RegistryOptions,
    /// The environment the run reads (default: the process's).
    pub env: Environment,
}

impl Default for VerifyOptions {
    fn default() -> VerifyOptions {
        VerifyOptions {
            reference: String::new(),
            key: PathBuf::new(),
            registry: RegistryOptions::default(),
            env: Environment::from_process(),
        }
    }
}

/// One signed manifest or index, verified.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// `index`, or the platform (`linux/arm64`) as the index lists it.
    pub subject: String,
    /// The signed digest.
    pub digest: String,
    /// The tag of the signature image.
    pub signature_tag: String,
    /// The reference the payload names.
    pub reference: String,
    /// The predicate types of the signed attestations verified for it (a platform manifest's
    /// `sha256-<hex>.att`), each matching a document attached to it.
    pub attestations: Vec<String>,
}

/// Why an image does not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// No signature image for a subject.
    #[error(
        "{subject} {digest} of {repository}: no signature (no {tag} in the repository)\nhelp: \
         push it with --sign-key KEY, or check that REF names the image you signed"
    )]
    NoSignature {
        /// `index` or the platform.
        subject: String,
        /// The digest that has no signature.
        digest: String,
        /// The repository.
        repository: String,
        /// The tag looked for.
        tag: String,
    },
    /// Signatures are there, none good for this key and subject.
    #[error(
        "{subject} {digest} of {repository}: no valid signature for the key {key} ({why})\nhelp: \
         verify with the public key of the --sign-key the image was pushed with; a signature \
         that does not verify with its own key was changed after signing"
    )]
    Invalid {
        /// `index` or the platform.
        subject: String,
        /// The digest.
        digest: String,
        /// The repository.
        repository: String,
        /// The key file.
        key: String,
        /// What failed for each signature found.
        why: String,
    },
    /// A document attached to a platform manifest has no signed attestation that says the
    /// same, for this key.
    #[error(
        "{subject} {digest} of {repository}: the attached {artifact_type} has no attestation \
         signed with the key {key} ({why})\nhelp: push with --sign-key KEY, which attests each \
         SBOM and provenance under {tag}; an attestation that differs from the attached \
         document means one of them was changed"
    )]
    NotAttested {
        /// The platform.
        subject: String,
        /// The manifest's digest.
        digest: String,
        /// The repository.
        repository: String,
        /// The attached document's type.
        artifact_type: String,
        /// The key file.
        key: String,
        /// The tag looked in.
        tag: String,
        /// What was found instead.
        why: String,
    },
}

/// Checks every signature of the image `opts.reference` (see the module docs).
pub fn verify(opts: &VerifyOptions, listener: impl Listener + 'static) -> Result<Vec<Verified>> {
    let ui = &Reporter::new(std::sync::Arc::new(listener));
    let key = PublicKey::read("--key", &opts.key)?;
    if let Some(ca) = &opts.registry.ca {
        crate::registry::trust::UserCa::read(ca)?;
    }
    let held: Box<dyn Held> = match held::layout_of(&opts.reference) {
        Some(layout) => Box::new(layout),
        None => {
            let reference = ImageRef::parse(&opts.reference)?;
            let repo = ImageRef::repository_named(&reference.full_name())?;
            let registry = Registry::new(&opts.registry, &opts.env, ui)?;
            Box::new(InRegistry {
                registry,
                reference,
                repo,
            })
        }
    };
    verify_held(held.as_ref(), &key, &opts.key)
}

/// [`verify`] of the image `held` holds, with `key` (read from `key_path`).
fn verify_held(held: &dyn Held, key: &PublicKey, key_path: &Path) -> Result<Vec<Verified>> {
    let top = held.top()?;
    let mut subjects = vec![("index".to_string(), top.digest.clone())];
    if media::is_index(&top.media_type) {
        let v: serde_json::Value = serde_json::from_slice(&top.bytes)
            .with_context(|| format!("the index {} is not JSON", top.digest))?;
        for m in v["manifests"].as_array().into_iter().flatten() {
            let Some(digest) = m["digest"].as_str().and_then(|d| d.parse::<Digest>().ok()) else {
                continue;
            };
            subjects.push((platform_of(m), digest));
        }
    } else {
        subjects[0].0 = "manifest".to_string();
    }
    let name = held.name();
    let mut verified = Vec::new();
    for (subject, digest) in subjects {
        let tag = signature::signature_tag(&digest);
        let Some(sig_manifest) = held.cosign_image(&tag)? else {
            return Err(VerifyError::NoSignature {
                subject,
                digest: digest.to_string(),
                repository: name,
                tag,
            }
            .into());
        };
        let listed = signature::signatures_in(&sig_manifest);
        let mut why = Vec::new();
        let mut good = None;
        for l in &listed {
            let Some(sig) = &l.signature else {
                why.push(format!(
                    "{}: no signature annotation",
                    l.payload.digest.short()
                ));
                continue;
            };
            let payload = held
                .blob(&l.payload)
                .with_context(|| format!("reading the signed payload {}", l.payload.digest))?;
            if !key.verifies(&payload, sig) {
                why.push(format!(
                    "{}: the signature does not verify",
                    l.payload.digest.short()
                ));
                continue;
            }
            match (signature::claim(&payload), held.repository()) {
                (Some(c), _) if c.digest != digest.as_str() => why.push(format!(
                    "{}: it signs {}, not this digest",
                    l.payload.digest.short(),
                    c.digest
                )),
                (Some(c), Some(repository)) if c.reference != repository => why.push(format!(
                    "{}: it names the repository {}, not {repository}",
                    l.payload.digest.short(),
                    c.reference
                )),
                (Some(c), _) => {
                    good = Some(c);
                    break;
                }
                (None, _) => why.push(format!(
                    "{}: not a cosign simple-signing payload",
                    l.payload.digest.short()
                )),
            }
        }
        match good {
            Some(c) => {
                let attestations = if subject == "index" {
                    Vec::new()
                } else {
                    attestations(held, &subject, &digest, key, key_path)?
                };
                verified.push(Verified {
                    subject,
                    digest: digest.to_string(),
                    signature_tag: tag,
                    reference: c.reference,
                    attestations,
                })
            }
            None => {
                if why.is_empty() {
                    why.push(format!("{tag} lists no simple-signing layer"));
                }
                return Err(VerifyError::Invalid {
                    subject,
                    digest: digest.to_string(),
                    repository: name,
                    key: key_path.display().to_string(),
                    why: why.join("; "),
                }
                .into());
            }
        }
    }
    Ok(verified)
}

/// The attestations of the platform manifest `digest` that verify with `key` and say what
/// its attached SBOMs and provenance say: each kind of document attached (SPDX, CycloneDX,
/// provenance) needs one that says what one of them says, else [`VerifyError::NotAttested`].
/// Their predicate types.
fn attestations(
    held: &dyn Held,
    subject: &str,
    digest: &Digest,
    key: &PublicKey,
    key_path: &Path,
) -> Result<Vec<String>> {
    let attached = held.attached(digest)?;
    if attached.is_empty() {
        return Ok(Vec::new());
    }
    let name = held.name();
    let tag = attestation::attestation_tag(digest);
    // Every statement about this manifest that verifies with the key.
    let mut statements = Vec::new();
    let mut why = Vec::new();
    match held.cosign_image(&tag)? {
        Some(m) => {
            for l in attestation::envelopes_in(&m) {
                let envelope = held
                    .blob(&l.layer)
                    .with_context(|| format!("reading the attestation {}", l.layer.digest))?;
                match attestation::open_envelope(&envelope, key) {
                    Ok(s)
                        if s["subject"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|x| x["digest"]["sha256"].as_str() == Some(digest.hex())) =>
                    {
                        statements.push(s)
                    }
                    Ok(_) => why.push(format!(
                        "{}: about another manifest",
                        l.layer.digest.short()
                    )),
                    Err(e) => why.push(format!("{}: {e}", l.layer.digest.short())),
                }
            }
        }
        None => why.push(format!("no {tag}")),
    }
    // Per kind of document attached, one of them said by a verified statement: an unsigned push
    // of the same image attaches documents of its own (another provenance, with its own
    // times), which no attestation needs to cover.
    let mut kinds: Vec<&str> = attached.iter().map(|(k, _)| k.as_str()).collect();
    kinds.sort();
    kinds.dedup();
    let mut verified = Vec::new();
    for kind in kinds {
        let mut same = None;
        for (_, document) in attached.iter().filter(|(k, _)| k == kind) {
            let document: serde_json::Value = serde_json::from_slice(document)
                .with_context(|| format!("the attached {kind} is not JSON"))?;
            same = statements.iter().find(|s| {
                if kind == media::IN_TOTO {
                    **s == document
                } else {
                    s["predicate"] == document
                }
            });
            if same.is_some() {
                break;
            }
        }
        match same {
            Some(s) => verified.push(s["predicateType"].as_str().unwrap_or("?").to_string()),
            None => {
                if why.is_empty() {
                    why.push(format!(
                        "{} verified statements, none with this document",
                        statements.len()
                    ));
                }
                return Err(VerifyError::NotAttested {
                    subject: subject.to_string(),
                    digest: digest.to_string(),
                    repository: name,
                    artifact_type: kind.to_string(),
                    key: key_path.display().to_string(),
                    tag,
                    why: why.join("; "),
                }
                .into());
            }
        }
    }
    Ok(verified)
}
