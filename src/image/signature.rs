//! Image signatures in cosign's format, with no I/O but reading a key file: the simple-signing
//! payload that names a manifest ([`payload`]), the cosign image that carries it under the
//! `sha256-<hex>.sig` tag ([`cosign_image`], which adds to what the tag holds, as cosign does),
//! and reading such an image back ([`signatures_in`]). What signs is a [`Signer`]: today
//! [`KeySigner`], an ECDSA P-256 key from a PKCS#8 PEM file (what `openssl genpkey -algorithm EC
//! -pkeyopt ec_paramgen_curve:P-256` writes) or from cosign's encrypted `cosign.key`
//! ([`crate::image::encrypted_key`], the password in `COSIGN_PASSWORD`); a keyless signer (an
//! OIDC token, Fulcio, Rekor) would be another implementation behind the same machinery, its
//! certificate and log entry given as [`Signer::layer_annotations`]. [`PublicKey`] checks
//! signatures for `cargo imagebuild verify`.
//!
//! The format, as cosign writes it and `cosign verify`, skopeo and containers/image read it: one
//! OCI image manifest per signed manifest; its config a minimal image config whose diff_ids are
//! its layers' digests; each layer a payload (`application/vnd.dev.cosign.simplesigning.v1+json`),
//! annotated with the base64 of the ASN.1 DER ECDSA signature over the payload's SHA-256
//! (`dev.cosignproject.cosign/signature`), one layer per signer. Key bytes and passwords are
//! never part of an error or a message.

use std::path::{Path, PathBuf};

use anyhow::Result;
use base64::Engine;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey};
use serde_json::json;

use crate::image::document::to_stable_bytes;
use crate::image::encrypted_key;
use crate::image::model::{media, Descriptor, Document};
use crate::util::digest::Digest;
use crate::util::env::Environment;

/// The variable cosign reads an encrypted key's password from.
pub const PASSWORD_VAR: &str = "COSIGN_PASSWORD";

/// The layer annotation that holds the base64 signature.
pub use crate::image::model::annotation::COSIGN_SIGNATURE as SIGNATURE_ANNOTATION;
/// The media type of a simple-signing payload, the layer of a signature image.
pub use crate::image::model::media::SIMPLE_SIGNING;
/// The `critical.type` of a payload.
pub const PAYLOAD_TYPE: &str = "cosign container image signature";

/// Why a key cannot be used; each says which file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file cannot be read.
    #[error(
        "{what} {}: cannot read it ({source})\nhelp: give the path of a PEM key file, e.g. one \
         made by `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out cosign.pem`",
        path.display()
    )]
    Unreadable {
        /// What the file was given as (`--sign-key`, `--key`).
        what: String,
        /// The file.
        path: PathBuf,
        /// What reading it said.
        source: std::io::Error,
    },
    /// The file is not a key of a kind we take.
    #[error("{what} {}: {problem}\nhelp: {fix}", path.display())]
    Unsupported {
        /// What the file was given as.
        what: String,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
        /// What to do.
        fix: String,
    },
}

/// What the `openssl` commands that make a usable key look like.
const MAKE_KEY: &str = "make an ECDSA P-256 key with `openssl genpkey -algorithm EC -pkeyopt \
                        ec_paramgen_curve:P-256 -out cosign.pem` (and its public half with \
                        `openssl pkey -in cosign.pem -pubout -out cosign.pub`)";

/// Something that signs payloads: the ASN.1 DER signature over the payload's bytes.
pub trait Signer: Send + Sync {
    /// The DER signature of `payload` (ECDSA over its SHA-256).
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>>;
    /// What signs, for messages: the key file's path (never its bytes).
    fn describe(&self) -> String;
    /// Annotations each signed layer carries besides the signature: none for a key; a keyless
    /// signer would give its certificate and chain (`dev.sigstore.cosign/certificate`,
    /// `…/chain`) and its transparency-log entry (`dev.sigstore.cosign/bundle`) here.
    fn layer_annotations(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::Map::new()
    }
}

/// An ECDSA P-256 private key read from a PKCS#8 PEM file.
pub struct KeySigner {
    key: p256::ecdsa::SigningKey,
    path: PathBuf,
}

impl std::fmt::Debug for KeySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("KeySigner")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The first PEM label of `text` (`PRIVATE KEY`, `EC PRIVATE KEY`, …), if any.
fn pem_label(text: &str) -> Option<&str> {
    let start = text.find("-----BEGIN ")? + "-----BEGIN ".len();
    let end = text[start..].find("-----")?;
    Some(&text[start..start + end])
}

fn read_text(what: &str, path: &Path) -> Result<String, KeyError> {
    let bytes = std::fs::read(path).map_err(|source| KeyError::Unreadable {
        what: what.to_string(),
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|_| unsupported(what, path, "it is not a PEM text file"))
}

fn unsupported(what: &str, path: &Path, problem: &str) -> KeyError {
    KeyError::Unsupported {
        what: what.to_string(),
        path: path.to_path_buf(),
        problem: problem.to_string(),
        fix: MAKE_KEY.to_string(),
    }
}

impl KeySigner {
    /// Reads the private key at `path`, given as `what` (`--sign-key`): an unencrypted PKCS#8
    /// PEM of an ECDSA P-256 key, or cosign's encrypted `cosign.key` opened with the password
    /// in `COSIGN_PASSWORD` (of `env`); anything else is refused with what to do instead.
    pub fn read(what: &str, path: &Path, env: &Environment) -> Result<KeySigner, KeyError> {
        let text = read_text(what, path)?;
        let problem = match pem_label(&text) {
            Some("PRIVATE KEY") => match p256::ecdsa::SigningKey::from_pkcs8_pem(&text) {
                Ok(key) => {
                    return Ok(KeySigner {
                        key,
                        path: path.to_path_buf(),
                    })
                }
                Err(_) => "it is a PKCS#8 private key, but not an ECDSA P-256 one (RSA, \
                           ed25519 and other curves are not supported)"
                    .to_string(),
            },
            Some("EC PRIVATE KEY") => {
                return Err(KeyError::Unsupported {
                    what: what.to_string(),
                    path: path.to_path_buf(),
                    problem: "it is an EC key in the SEC1 format, not PKCS#8".into(),
                    fix: format!(
                        "convert it with `openssl pkcs8 -topk8 -nocrypt -in {0} -out {0}.p8`, \
                         or {MAKE_KEY}",
                        path.display()
                    ),
                })
            }
            Some(label) if encrypted_key::LABELS.contains(&label) => {
                return Self::read_encrypted(what, path, &text, env)
            }
            Some("ENCRYPTED PRIVATE KEY") => "it is a PKCS#8 key encrypted by openssl; only \
                                              cosign's encrypted keys and unencrypted PKCS#8 \
                                              keys are read"
                .to_string(),
            Some("PUBLIC KEY") => {
                "it is a public key; signing needs the private key (the public one is for \
                 `cargo imagebuild verify --key`)"
                    .to_string()
            }
            Some(other) => format!("it holds a PEM `{other}`, not a private key"),
            None => "it is not a PEM file (no -----BEGIN line)".to_string(),
        };
        Err(unsupported(what, path, &problem))
    }

    /// Opens cosign's encrypted key `text` ([`encrypted_key`]) with `COSIGN_PASSWORD`.
    fn read_encrypted(
        what: &str,
        path: &Path,
        text: &str,
        env: &Environment,
    ) -> Result<KeySigner, KeyError> {
        let refuse = |problem: String, fix: &str| KeyError::Unsupported {
            what: what.to_string(),
            path: path.to_path_buf(),
            problem,
            fix: fix.to_string(),
        };
        let set_password = "set COSIGN_PASSWORD to the password the key was made with (an empty \
                            value for none), as for `cosign sign --key`";
        let Some(password) = env.get(PASSWORD_VAR) else {
            return Err(refuse(
                format!("it is cosign's encrypted key, and {PASSWORD_VAR} is not set"),
                set_password,
            ));
        };
        let (_, body) = pem_rfc7468::decode_vec(text.as_bytes()).map_err(|_| {
            refuse(
                "it is labelled as cosign's encrypted key, but its PEM does not decode".into(),
                "make the key again with `cosign generate-key-pair`",
            )
        })?;
        let der =
            encrypted_key::decrypt(&body, password.as_encoded_bytes()).map_err(|e| match e {
                encrypted_key::Problem::WrongPassword => refuse(
                    format!(
                        "{PASSWORD_VAR} does not decrypt it (a wrong password, or a changed file)"
                    ),
                    set_password,
                ),
                other => refuse(
                    other.to_string(),
                    "make the key again with `cosign generate-key-pair`",
                ),
            })?;
        let key = p256::ecdsa::SigningKey::from_pkcs8_der(&der).map_err(|_| {
            refuse(
                "it decrypts to a key that is not an ECDSA P-256 one (cosign's ed25519, RSA, \
                 P-384 and P-521 keys are not supported)"
                    .into(),
                "make a P-256 key with `cosign generate-key-pair` (its default)",
            )
        })?;
        Ok(KeySigner {
            key,
            path: path.to_path_buf(),
        })
    }
}

impl Signer for KeySigner {
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>> {
        let signature: p256::ecdsa::Signature = self.key.sign(payload);
        Ok(signature.to_der().as_bytes().to_vec())
    }

    fn describe(&self) -> String {
        format!("the key {}", self.path.display())
    }
}

/// An ECDSA P-256 public key (SubjectPublicKeyInfo PEM, what `openssl pkey -pubout` writes).
pub struct PublicKey {
    key: p256::ecdsa::VerifyingKey,
}

impl PublicKey {
    /// Reads the public key at `path`, given as `what` (`--key`).
    pub fn read(what: &str, path: &Path) -> Result<PublicKey, KeyError> {
        let text = read_text(what, path)?;
        match pem_label(&text) {
            Some("PUBLIC KEY") => p256::ecdsa::VerifyingKey::from_public_key_pem(&text)
                .map(|key| PublicKey { key })
                .map_err(|_| {
                    unsupported(
                        what,
                        path,
                        "it is a public key, but not an ECDSA P-256 one (RSA, ed25519 and \
                         other curves are not supported)",
                    )
                }),
            Some(label) if label.contains("PRIVATE KEY") => Err(unsupported(
                what,
                path,
                "it is a private key; verifying takes the public one \
                 (`openssl pkey -in KEY -pubout -out cosign.pub`)",
            )),
            _ => Err(unsupported(what, path, "it is not a PEM public key")),
        }
    }

    /// Whether `signature` (DER) is this key's ECDSA signature over `payload`.
    pub fn verifies(&self, payload: &[u8], signature: &[u8]) -> bool {
        match p256::ecdsa::Signature::from_der(signature) {
            Ok(s) => self.key.verify(payload, &s).is_ok(),
            Err(_) => false,
        }
    }
}

/// The simple-signing payload that names the manifest `digest` in `repository`, byte for byte
/// as cosign writes it (Go's field order, no spaces, `optional: null`).
pub fn payload(repository: &str, digest: &Digest) -> Vec<u8> {
    let s = |v: &str| serde_json::Value::String(v.to_string()).to_string();
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":{}}},"image":{{"docker-manifest-digest":{}}},"type":{}}},"optional":null}}"#,
        s(repository),
        s(digest.as_str()),
        s(PAYLOAD_TYPE),
    )
    .into_bytes()
}

/// What a payload says, read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// `critical.identity.docker-reference`.
    pub reference: String,
    /// `critical.image.docker-manifest-digest`.
    pub digest: String,
}

/// Reads the claim of a payload, `None` when it is not a cosign simple-signing payload.
pub fn claim(payload: &[u8]) -> Option<Claim> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let c = v.get("critical")?;
    if c.get("type")?.as_str()? != PAYLOAD_TYPE {
        return None;
    }
    Some(Claim {
        reference: c.get("identity")?.get("docker-reference")?.as_str()?.into(),
        digest: c
            .get("image")?
            .get("docker-manifest-digest")?
            .as_str()?
            .into(),
    })
}

/// The tag a manifest's signatures are stored under: `sha256-<hex>.sig`.
pub fn signature_tag(digest: &Digest) -> String {
    format!("sha256-{}.sig", digest.hex())
}

/// One layer of a cosign image (a signature's payload, or an attestation's envelope) with the
/// annotations it is listed with.
#[derive(Clone, Debug)]
pub struct CosignLayer {
    /// The layer's bytes and descriptor.
    pub document: Document,
    /// Its annotations in the manifest.
    pub annotations: serde_json::Map<String, serde_json::Value>,
}

/// The simple-signing layer for `payload` signed as `signature` (DER).
pub fn signature_layer(payload: Vec<u8>, signature: &[u8]) -> CosignLayer {
    let mut annotations = serde_json::Map::new();
    annotations.insert(
        SIGNATURE_ANNOTATION.into(),
        base64::engine::general_purpose::STANDARD
            .encode(signature)
            .into(),
    );
    CosignLayer {
        document: Document::new(SIMPLE_SIGNING, payload),
        annotations,
    }
}

/// A cosign image (what a `.sig` or `.att` tag holds) ready to push: the layers that are new
/// (their blobs to upload), the config and the manifest over every layer.
#[derive(Clone, Debug)]
pub struct CosignImage {
    /// The layers this image adds (the ones already listed are in the registry).
    pub added: Vec<Document>,
    /// The config.
    pub config: Document,
    /// The OCI image manifest.
    pub manifest: Document,
}

/// The cosign image that lists the layers of `existing` (the manifest the tag holds now, if
/// any) and then each of `add` not listed there yet, as cosign appends to a signature image
/// rather than replacing it: another signer's signatures stay. `None` when every layer of `add`
/// is listed already (a layer counts as listed when its digest, media type and annotations are
/// the same; cosign checks the listed signature with the key instead, which for our
/// deterministic ECDSA signatures comes to the same). The config is cosign's: an empty image
/// config whose diff_ids are the layers' digests, one empty history entry each.
pub fn cosign_image(existing: Option<&[u8]>, add: Vec<CosignLayer>) -> Result<Option<CosignImage>> {
    let mut layers: Vec<serde_json::Value> = match existing {
        Some(bytes) => {
            let v: serde_json::Value = serde_json::from_slice(bytes)
                .map_err(|e| anyhow::anyhow!("it holds something that is not JSON ({e})"))?;
            match v.get("layers") {
                Some(serde_json::Value::Array(l)) => l.clone(),
                None | Some(serde_json::Value::Null) => Vec::new(),
                Some(_) => anyhow::bail!("its `layers` is not a list"),
            }
        }
        None => Vec::new(),
    };
    let d = |d: &Descriptor| json!({"mediaType": d.media_type, "digest": d.digest.as_str(), "size": d.size});
    let mut added = Vec::new();
    for l in add {
        let mut entry = d(&l.document.descriptor);
        if !l.annotations.is_empty() {
            entry["annotations"] = serde_json::Value::Object(l.annotations);
        }
        let listed = layers.iter().any(|e| {
            e.get("digest") == entry.get("digest")
                && e.get("mediaType") == entry.get("mediaType")
                && e.get("annotations") == entry.get("annotations")
        });
        if !listed {
            layers.push(entry);
            added.push(l.document);
        }
    }
    if added.is_empty() {
        return Ok(None);
    }
    let zero = "0001-01-01T00:00:00Z";
    let diff_ids: Vec<&serde_json::Value> = layers.iter().filter_map(|l| l.get("digest")).collect();
    let history: Vec<serde_json::Value> = layers.iter().map(|_| json!({"created": zero})).collect();
    let config = json!({
        "architecture": "",
        "created": zero,
        "history": history,
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {},
    });
    let config = Document::new(media::CONFIG, to_stable_bytes(&config)?);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::MANIFEST,
        "config": d(&config.descriptor),
        "layers": layers,
    });
    let manifest = Document::new(media::MANIFEST, to_stable_bytes(&manifest)?);
    Ok(Some(CosignImage {
        added,
        config,
        manifest,
    }))
}

/// One signature listed in a signature image: the payload's descriptor and the DER signature
/// (`None` when the annotation is missing or not base64).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// The payload layer.
    pub payload: Descriptor,
    /// The signature's bytes.
    pub signature: Option<Vec<u8>>,
}

/// The simple-signing layers of the signature image `manifest` (its bytes).
pub fn signatures_in(manifest: &[u8]) -> Vec<Listed> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(manifest) else {
        return Vec::new();
    };
    let layers = v.get("layers").and_then(|l| l.as_array());
    layers
        .into_iter()
        .flatten()
        .filter(|l| l.get("mediaType").and_then(|m| m.as_str()) == Some(SIMPLE_SIGNING))
        .filter_map(|l| {
            let digest: Digest = l.get("digest")?.as_str()?.parse().ok()?;
            let size = l.get("size")?.as_u64()?;
            let signature = l
                .get("annotations")
                .and_then(|a| a.get(SIGNATURE_ANNOTATION))
                .and_then(|s| s.as_str())
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok());
            Some(Listed {
                payload: Descriptor {
                    media_type: SIMPLE_SIGNING.to_string(),
                    digest,
                    size,
                },
                signature,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // A throwaway key from a fixed scalar, written as openssl would (PKCS#8 and SPKI PEM).
    fn key() -> (tempfile::TempDir, KeySigner, PublicKey) {
        let dir = tempfile::tempdir().unwrap();
        let secret = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
        let pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
        std::fs::write(dir.path().join("k.pem"), pem.as_bytes()).unwrap();
        let public = secret
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        std::fs::write(dir.path().join("k.pub"), public).unwrap();
        let s = KeySigner::read(
            "--sign-key",
            &dir.path().join("k.pem"),
            &Environment::empty(),
        )
        .unwrap();
        let p = PublicKey::read("--key", &dir.path().join("k.pub")).unwrap();
        (dir, s, p)
    }

    #[test]
    fn payload_is_cosigns_bytes() {
        let d = Digest::of(b"x");
        let p = payload("127.0.0.1:5000/app", &d);
        assert_eq!(
            String::from_utf8(p.clone()).unwrap(),
            format!(
                "{{\"critical\":{{\"identity\":{{\"docker-reference\":\"127.0.0.1:5000/app\"}},\
                 \"image\":{{\"docker-manifest-digest\":\"{d}\"}},\"type\":\"cosign container \
                 image signature\"}},\"optional\":null}}"
            )
        );
        assert_eq!(
            claim(&p),
            Some(Claim {
                reference: "127.0.0.1:5000/app".into(),
                digest: d.to_string()
            })
        );
    }

    #[test]
    fn signs_verifies_and_round_trips() {
        let (_dir, signer, public) = key();
        let p = payload("r/app", &Digest::of(b"m"));
        let sig = signer.sign(&p).unwrap();
        assert!(public.verifies(&p, &sig));
        let mut tampered = p.clone();
        tampered[5] ^= 1;
        assert!(!public.verifies(&tampered, &sig));
        let layer = signature_layer(p.clone(), &sig);
        let img = cosign_image(None, vec![layer.clone()]).unwrap().unwrap();
        let listed = signatures_in(&img.manifest.bytes);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].payload, layer.document.descriptor);
        assert_eq!(listed[0].signature.as_deref(), Some(&sig[..]));
        // Signing again adds nothing; another signer's layer is kept, ours appended.
        assert!(cosign_image(Some(&img.manifest.bytes), vec![layer.clone()])
            .unwrap()
            .is_none());
        let theirs = signature_layer(b"{}".to_vec(), b"other");
        let both = cosign_image(Some(&img.manifest.bytes), vec![theirs.clone(), layer])
            .unwrap()
            .unwrap();
        assert_eq!(both.added.len(), 1);
        let listed = signatures_in(&both.manifest.bytes);
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[1].payload, theirs.document.descriptor);
        let config: serde_json::Value = serde_json::from_slice(&both.config.bytes).unwrap();
        assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
        assert!(format!("{signer:?}").contains("k.pem"));
    }

    #[test]
    fn refuses_what_is_not_a_p256_private_key() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k");
        for (text, says) in [
            ("hello", "not a PEM file"),
            ("-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\n", "public key"),
            ("-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n", "not an ECDSA P-256"),
            ("-----BEGIN EC PRIVATE KEY-----\nAA==\n-----END EC PRIVATE KEY-----\n", "openssl pkcs8 -topk8"),
            ("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAA==\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n", "COSIGN_PASSWORD is not set"),
        ] {
            std::fs::write(&f, text).unwrap();
            let e = KeySigner::read("--sign-key", &f, &Environment::empty())
                .unwrap_err()
                .to_string();
            assert!(e.contains(says) && e.contains("help:") && e.contains("--sign-key"), "{e}");
            assert!(!e.contains("MAA="), "{e}");
        }
        let e = KeySigner::read(
            "--sign-key",
            &dir.path().join("absent"),
            &Environment::empty(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("cannot read it"), "{e}");
    }
}
