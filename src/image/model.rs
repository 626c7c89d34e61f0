//! The image model, with no I/O: descriptors, layers, images (one per platform) and the index
//! that ties them together. Every sink consumes this model; none rebuilds it.
//!
//! A [`Layer`] knows its `digest` (of the compressed blob) and its `diff_id` (of the uncompressed
//! tar). An [`Image`] is one platform's config and manifest over its layers. An [`ImageSet`] is
//! one binary's index, the images it lists and the names it should be stored under. The bytes of
//! every blob live in the [`crate::image::store::BlobStore`]; the model only holds descriptors, plus the
//! small JSON documents (config, manifest, index) it serialized. A base image's layers are the
//! exception: their bytes stay in the base's repository ([`Layer::remote`]) until a sink that
//! needs them locally has them fetched.

use crate::image::platform::Platform;
use crate::image::reference::ImageRef;
use crate::util::digest::Digest;

/// Media types, in one place.
pub mod media {
    pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
    pub const DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";

    /// The empty config of an artifact manifest (its bytes are `{}`).
    pub const EMPTY: &str = "application/vnd.oci.empty.v1+json";
    /// Artifact types of what we attach to images.
    pub const SPDX: &str = "application/spdx+json";
    pub const CYCLONEDX: &str = "application/vnd.cyclonedx+json";
    pub const IN_TOTO: &str = "application/vnd.in-toto+json";
    /// cosign's layers: a simple-signing payload (`.sig`), a DSSE envelope (`.att`).
    pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
    pub const DSSE: &str = "application/vnd.dsse.envelope.v1+json";

    /// Every manifest and index type a base image may come as, for `Accept`.
    pub const PULLABLE: &[&str] = &[INDEX, MANIFEST, DOCKER_LIST, DOCKER_MANIFEST];

    /// Whether `media_type` names an index (OCI) or a manifest list (Docker).
    pub fn is_index(media_type: &str) -> bool {
        media_type == INDEX || media_type == DOCKER_LIST
    }

    /// The OCI name of a layer type (Docker's names map to the same bytes), so a manifest we
    /// write over a Docker base uses one vocabulary.
    pub fn oci_layer(media_type: &str) -> &str {
        match media_type {
            DOCKER_LAYER_GZIP => LAYER_GZIP,
            DOCKER_LAYER_TAR => LAYER_TAR,
            DOCKER_LAYER_ZSTD => LAYER_ZSTD,
            other => other,
        }
    }
}

/// Annotation keys, in one place.
pub mod annotation {
    /// cosign's: a layer's base64 signature, an attestation layer's predicate type, and what a
    /// layout's `index.json` entry is (`cosign save`).
    pub const COSIGN_SIGNATURE: &str = "dev.cosignproject.cosign/signature";
    pub const PREDICATE_TYPE: &str = "predicateType";
    pub const COSIGN_KIND: &str = "kind";
    pub const CREATED: &str = "org.opencontainers.image.created";
    pub const SOURCE: &str = "org.opencontainers.image.source";
    pub const REVISION: &str = "org.opencontainers.image.revision";
    pub const VERSION: &str = "org.opencontainers.image.version";
    pub const LICENSES: &str = "org.opencontainers.image.licenses";
    pub const TITLE: &str = "org.opencontainers.image.title";
    pub const DESCRIPTION: &str = "org.opencontainers.image.description";
    pub const URL: &str = "org.opencontainers.image.url";
    pub const DOCUMENTATION: &str = "org.opencontainers.image.documentation";
    pub const VENDOR: &str = "org.opencontainers.image.vendor";
    pub const AUTHORS: &str = "org.opencontainers.image.authors";
    pub const BASE_NAME: &str = "org.opencontainers.image.base.name";
    pub const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";
    pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
}

/// A pointer to a blob: what it is, its digest and its size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

impl Descriptor {
    /// The descriptor of a JSON document held in memory.
    pub fn of_bytes(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest: Digest::of(bytes),
            size: bytes.len() as u64,
        }
    }

    /// As oci-spec wants it, for embedding in a manifest or index.
    pub fn to_oci(&self) -> oci_spec::image::Descriptor {
        oci_spec::image::Descriptor::new(
            oci_spec::image::MediaType::from(self.media_type.as_str()),
            self.size,
            &self.digest,
        )
    }
}

/// A layer compression algorithm, as the settings name it (`compression = "zstd"`); its level
/// comes apart (`compression-level`), so the two can be set in different layers of settings.
/// [`Compression::new`] puts them together and checks the level.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum CompressionKind {
    /// gzip (`application/vnd.oci.image.layer.v1.tar+gzip`), read by every runtime.
    Gzip,
    /// zstd (`…tar+zstd`): faster and smaller; needs a runtime that reads it.
    Zstd,
    /// Plain tar.
    None,
}

impl CompressionKind {
    /// The level used when none is configured: gzip's and zstd's own defaults.
    pub fn default_level(self) -> i32 {
        match self {
            CompressionKind::Gzip => 6,
            CompressionKind::Zstd => 3,
            CompressionKind::None => 0,
        }
    }
}

impl std::str::FromStr for CompressionKind {
    type Err = String;
    fn from_str(s: &str) -> Result<CompressionKind, String> {
        match s.to_ascii_lowercase().as_str() {
            "gzip" | "gz" => Ok(CompressionKind::Gzip),
            "zstd" | "zst" => Ok(CompressionKind::Zstd),
            "none" | "uncompressed" => Ok(CompressionKind::None),
            _ => Err(format!(
                "unknown compression `{s}`: use one of gzip (the default), zstd, none"
            )),
        }
    }
}

impl std::fmt::Display for CompressionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CompressionKind::Gzip => "gzip",
            CompressionKind::Zstd => "zstd",
            CompressionKind::None => "none",
        })
    }
}

/// How a layer is compressed: the algorithm with its level, checked once when made
/// ([`Compression::new`]), so a value of this type is always one the compressors take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Compression {
    /// gzip at a level of 0-9.
    Gzip(u8),
    /// zstd at a level of 1-22.
    Zstd(u8),
    /// No compression.
    None,
}

impl Default for Compression {
    /// gzip at level 6, what `gzip` itself does.
    fn default() -> Compression {
        Compression::Gzip(6)
    }
}

impl Compression {
    /// `kind` at `level` (its default level when none is given), or why that level is out of
    /// range for it.
    pub fn new(kind: CompressionKind, level: Option<i32>) -> Result<Compression, String> {
        let level = level.unwrap_or(kind.default_level());
        match kind {
            CompressionKind::Gzip if (0..=9).contains(&level) => Ok(Compression::Gzip(level as u8)),
            CompressionKind::Gzip => Err(format!(
                "compression level {level} is out of range for gzip: use 0-9 (or zstd for 1-22)"
            )),
            CompressionKind::Zstd if (1..=22).contains(&level) => {
                Ok(Compression::Zstd(level as u8))
            }
            CompressionKind::Zstd => Err(format!(
                "compression level {level} is out of range for zstd: use 1-22"
            )),
            CompressionKind::None => Ok(Compression::None),
        }
    }

    /// The algorithm.
    pub fn kind(self) -> CompressionKind {
        match self {
            Compression::Gzip(_) => CompressionKind::Gzip,
            Compression::Zstd(_) => CompressionKind::Zstd,
            Compression::None => CompressionKind::None,
        }
    }

    /// The level (0 for none).
    pub fn level(self) -> i32 {
        match self {
            Compression::Gzip(l) | Compression::Zstd(l) => i32::from(l),
            Compression::None => 0,
        }
    }

    /// The media type of a layer compressed this way.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip(_) => media::LAYER_GZIP,
            Compression::Zstd(_) => media::LAYER_ZSTD,
            Compression::None => media::LAYER_TAR,
        }
    }
}

/// `gzip`, `zstd` or `none`: the algorithm (the level is [`Compression::level`]).
impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.kind().fmt(f)
    }
}

/// Serialized as the algorithm's name, as before the level joined the type.
impl serde::Serialize for Compression {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.kind().serialize(s)
    }
}

/// A packed layer: its compressed blob and the digest of its uncompressed tar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    /// The compressed blob (its `digest` names it in the store and in the manifest).
    pub blob: Descriptor,
    /// The digest of the uncompressed tar, listed in the config's `rootfs.diff_ids`.
    pub diff_id: Digest,
    /// What put it there, for the config's history.
    pub created_by: String,
    /// For a base image's layer: the repository its bytes live in. Such a blob is not in the
    /// store until something fetches it; a push mounts or streams it from there instead.
    pub remote: Option<ImageRef>,
}

/// A JSON document we serialized: its exact bytes and their descriptor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    pub descriptor: Descriptor,
    pub bytes: Vec<u8>,
}

impl Document {
    pub fn new(media_type: &str, bytes: Vec<u8>) -> Document {
        Document {
            descriptor: Descriptor::of_bytes(media_type, &bytes),
            bytes,
        }
    }
}

/// One platform's image: config and manifest over its layers, base layers first.
#[derive(Clone, Debug)]
pub struct Image {
    pub platform: Platform,
    /// The Rust target the binary was built for.
    pub triple: String,
    pub layers: Vec<Layer>,
    pub config: Document,
    pub manifest: Document,
}

/// A document attached to one platform's manifest as an OCI 1.1 artifact (an SBOM, a
/// provenance statement): the document, and the artifact manifest over it whose `subject` is the
/// platform's manifest. Attachments point at an image; the image and its index never point back,
/// so they change no image digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub platform: Platform,
    /// The document; its media type is the artifact's type.
    pub document: Document,
    /// `artifactType`, the empty config, one layer (the document), `subject`.
    pub manifest: Document,
}

impl Attachment {
    /// The artifact's type: the document's media type.
    pub fn artifact_type(&self) -> &str {
        &self.document.descriptor.media_type
    }
}

/// One binary's images, the index over them, and the names they are stored under.
#[derive(Clone, Debug)]
pub struct ImageSet {
    /// The binary's name.
    pub name: String,
    /// Where a registry push goes, `registry/namespace/name` (or just the binary's name).
    pub repository: String,
    /// Tags, in the order given; never empty.
    pub tags: Vec<String>,
    pub images: Vec<Image>,
    pub index: Document,
    /// SBOMs and provenance, attached to the platforms' manifests.
    pub attachments: Vec<Attachment>,
}

impl ImageSet {
    /// Whether some layer's bytes live only in a base image's repository.
    pub fn has_remote_layers(&self) -> bool {
        self.images
            .iter()
            .any(|i| i.layers.iter().any(|l| l.remote.is_some()))
    }

    /// The image for `platform`, if it was built.
    pub fn image_for(&self, platform: &Platform) -> Option<&Image> {
        self.images.iter().find(|i| i.platform.matches(platform))
    }
}
