//! The registry client: one [`Registry`] per run (its per-host connections and credentials made
//! on first use, [`Connector`] delaying even that until a push or pull needs it), and the pull
//! side of the protocol — manifests by reference, documents and blobs by descriptor.

use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use futures_util::StreamExt;
use oci_client::manifest::OciDescriptor;
use oci_client::Reference;

use super::error::{ErrorKind, RegistryError};

use super::auth::Source;
use super::transport::{self, Host, Transport};
use super::trust::UserCa;
use crate::image::model::{media, Descriptor};
use crate::image::reference::ImageRef;
use crate::image::store::BlobStore;
use crate::util::digest::{Digest, HashingWriter};
use crate::util::ui::Ui;

/// The largest config or manifest we read into memory.
pub(super) const MAX_DOCUMENT: u64 = 4 << 20;

/// How to reach registries, from the command line.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RegistryOptions {
    /// Hosts (`host[:port]`) spoken to over plain HTTP or unchecked TLS
    /// (`--insecure-registry`; registries.conf adds more when the registry is set up).
    pub insecure: Vec<String>,
    /// An extra CA certificate (PEM) to trust (`--registry-ca`).
    pub ca: Option<PathBuf>,
}

/// A connection to any number of registries, each set up on first use.
pub struct Registry {
    pub(super) transport: Transport,
    pub(super) ui: Ui,
    /// Blobs this run already put in (or found in) a repository, by repository and digest: a
    /// blob uploaded while cargo was still compiling ([`Registry::upload_early`]) is not
    /// checked again when the image set is pushed.
    pub(super) settled: super::settled::Settled,
    /// The early uploads under way.
    pub(super) early: std::sync::Mutex<Vec<tokio::task::JoinHandle<Result<()>>>>,
}

/// A pulled manifest or index: its exact bytes, digest and media type.
#[derive(Clone, Debug)]
pub struct Pulled {
    pub bytes: Vec<u8>,
    pub digest: Digest,
    pub media_type: String,
}

/// Adds the `help:` line fitting the error's kind, and makes it an `anyhow` error.
pub(super) fn explain(mut e: RegistryError, host: &str, source: Option<&Source>) -> anyhow::Error {
    let help = match (e.kind, source) {
        (ErrorKind::Unauthorized, Some(Source::Anonymous) | None) => format!(
            "{host} requires credentials and none were found: log in with `docker login {host}` \
             (read from DOCKER_CONFIG or ~/.docker/config.json), or `podman login` with \
             REGISTRY_AUTH_FILE"
        ),
        (ErrorKind::Unauthorized, Some(s)) => format!(
            "{host} refused the credentials from {s}: log in again with `docker login {host}`"
        ),
        (ErrorKind::Denied, _) => format!(
            "the credentials for {host} do not allow this: check the account's access to the \
             repository"
        ),
        (ErrorKind::Tls, _) => format!(
            "{host}'s certificate is not trusted: pass --registry-ca FILE with the CA that \
             signed it (or, for a registry without TLS, --insecure-registry {host})"
        ),
        (ErrorKind::Unreachable, _) => format!(
            "check that the address {host} is right and the registry is running and reachable"
        ),
        _ => String::new(),
    };
    if !help.is_empty() && e.help.is_none() {
        e.help = Some(help);
    }
    anyhow::Error::new(e)
}

pub(super) fn oci_descriptor(d: &Descriptor) -> OciDescriptor {
    OciDescriptor {
        media_type: d.media_type.clone(),
        digest: d.digest.to_string(),
        size: d.size as i64,
        ..Default::default()
    }
}

impl Registry {
    /// Sets up (no network yet). Reads the CA file so a wrong path fails before any build.
    pub fn new(opts: &RegistryOptions, ui: &Ui) -> Result<Registry> {
        let ca = opts.ca.as_deref().map(UserCa::read).transpose()?;
        let mut insecure = opts.insecure.clone();
        insecure.extend(super::insecure::from_registries_conf()?);
        let transport =
            Transport::new(insecure, ca).context("starting the registry client's runtime")?;
        Ok(Registry {
            transport,
            ui: ui.clone(),
            settled: Default::default(),
            early: Default::default(),
        })
    }

    pub(super) fn block_on<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        self.transport.rt.block_on(f)
    }

    /// The host for `r`, with pull (or push) access authorized.
    pub(super) async fn connect(&self, r: &Reference, push: bool) -> Result<std::sync::Arc<Host>> {
        let name = r.resolve_registry().to_string();
        let host = self
            .transport
            .host(&name)
            .await
            .map_err(|e| explain(e, &name, None))?;
        host.authorize(r, push)
            .await
            .map_err(|e| explain(e, &name, Some(&host.source)))?;
        Ok(host)
    }

    /// Pulls the manifest or index `r` names (tag or digest), in any of the OCI and Docker
    /// media types. The digest is of the exact bytes received.
    pub fn pull_manifest(&self, r: &Reference) -> Result<Pulled> {
        self.block_on(async {
            let host = self.connect(r, false).await?;
            let (bytes, digest) = transport::retry(Some((&self.ui, "pulling a manifest")), || {
                let client = host.client.clone();
                let auth = host.auth.clone();
                async move {
                    client
                        .pull_manifest_raw(r, &auth, media::PULLABLE)
                        .await
                        .map_err(RegistryError::from)
                }
            })
            .await
            .map_err(|e| explain(e, &host.name, Some(&host.source)))?;
            let digest: Digest = digest.parse().map_err(|e: String| anyhow!(e))?;
            if Digest::of(&bytes) != digest {
                anyhow::bail!("the registry sent a manifest whose bytes do not match {digest}");
            }
            let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| {
                    v.get("mediaType")
                        .and_then(|m| m.as_str())
                        .map(String::from)
                })
                .unwrap_or_default();
            Ok(Pulled {
                bytes: bytes.to_vec(),
                digest,
                media_type,
            })
        })
    }

    /// Reads a small blob (a config) from `repo` into memory, checking its digest.
    pub fn pull_document(&self, repo: &ImageRef, d: &Descriptor) -> Result<Vec<u8>> {
        if d.size > MAX_DOCUMENT {
            anyhow::bail!(
                "the blob {} is {} bytes, too large for an image config",
                d.digest,
                d.size
            );
        }
        let mut out = Vec::new();
        self.pull_into(repo, d, &mut out)?;
        Ok(out)
    }

    /// Downloads a blob from `repo` into `store`, checking digest and size on the way.
    pub fn fetch_blob(&self, repo: &ImageRef, d: &Descriptor, store: &BlobStore) -> Result<()> {
        let mut staged = store.stage()?;
        self.pull_into(repo, d, &mut staged.file)?;
        store.commit(staged, &d.digest)?;
        Ok(())
    }

    fn pull_into(
        &self,
        repo: &ImageRef,
        d: &Descriptor,
        out: &mut impl std::io::Write,
    ) -> Result<()> {
        let r = repo.at_digest(d.digest.as_str());
        self.block_on(async {
            let host = self.connect(&r, false).await?;
            let mut w = HashingWriter::new(out);
            let mut sized = transport::retry(Some((&self.ui, "pulling a blob")), || {
                let client = host.client.clone();
                let r = r.clone();
                let desc = oci_descriptor(d);
                async move {
                    client
                        .pull_blob_stream(&r, &desc)
                        .await
                        .map_err(RegistryError::from)
                }
            })
            .await
            .map_err(|e| explain(e, &host.name, Some(&host.source)))?;
            while let Some(chunk) = sized.next().await {
                let chunk = chunk.map_err(|e| {
                    RegistryError::new(ErrorKind::Unreachable, format!("download failed: {e}"))
                })?;
                std::io::Write::write_all(&mut w, &chunk)?;
            }
            let (_, digest, size) = w.finish();
            if digest != d.digest || size != d.size {
                anyhow::bail!(
                    "the registry sent {size} bytes with digest {digest} for blob {} ({} bytes)",
                    d.digest,
                    d.size
                );
            }
            Ok(())
        })
        .with_context(|| format!("downloading blob {} from {}", d.digest, repo.full_name()))
    }
}

/// A [`Registry`] made on first use and shared after: runs that never touch a registry never
/// start its runtime or read credentials.
pub struct Connector {
    opts: RegistryOptions,
    ui: Ui,
    cell: std::sync::OnceLock<std::sync::Arc<Registry>>,
}

impl Connector {
    pub fn new(opts: &RegistryOptions, ui: &Ui) -> Connector {
        Connector {
            opts: opts.clone(),
            ui: ui.clone(),
            cell: std::sync::OnceLock::new(),
        }
    }

    pub fn get(&self) -> Result<std::sync::Arc<Registry>> {
        if let Some(r) = self.cell.get() {
            return Ok(r.clone());
        }
        let r = std::sync::Arc::new(Registry::new(&self.opts, &self.ui)?);
        Ok(self.cell.get_or_init(|| r).clone())
    }
}
