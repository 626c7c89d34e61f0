//! The registry client: one [`Registry`] per run (its per-host connections and credentials made
//! on first use, [`Connector`] delaying even that until a push or pull needs it), and the pull
//! side of the protocol — manifests by reference, documents and blobs by descriptor.
//!
//! The OCI distribution protocol is ours (the sibling modules `wire`, `challenge`, `token`,
//! `manifests`, `blobs`, `upload`), on reqwest and rustls, rather than a client crate's:
//! oci-client, the one Rust crate that speaks it, cannot take our TLS verifier (pinned
//! self-signed certificates, certs.d), a client identity for mutual TLS, caps on what is read
//! into memory, or `Retry-After`, and the `[patch]` that once added those does not survive
//! `cargo publish`. go-containerregistry and containers/image own theirs for the same reasons.

use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use futures_util::StreamExt;
use oci_spec::distribution::Reference;

use super::error::{ErrorKind, RegistryError};

use super::auth::Source;
use super::retry;
use super::transport::{Host, Transport};
use super::trust::UserCa;
use crate::image::model::{media, Descriptor};
use crate::image::reference::ImageRef;
use crate::image::store::BlobStore;
use crate::util::digest::{Digest, HashingWriter};
use crate::util::env::Environment;
use crate::util::report::Reporter;

/// The largest config or manifest we read into memory.
pub(super) const MAX_DOCUMENT: u64 = super::answer::MANIFEST_LIMIT;

/// How to reach registries: the command line's `--insecure-registry`, `--registry-ca`,
/// `--registry-timeout` and `--retries` (registries.conf and certs.d are read besides).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct RegistryOptions {
    /// Hosts (`host[:port]`) spoken to over plain HTTP or unchecked TLS
    /// (`--insecure-registry`; registries.conf adds more when the registry is set up).
    pub insecure: Vec<String>,
    /// An extra CA certificate (PEM) to trust (`--registry-ca`).
    pub ca: Option<PathBuf>,
    /// The deadline of each request attempt, in seconds (`--registry-timeout`); None: 25.
    pub timeout_secs: Option<u64>,
    /// Retries of a failed request (`--retries`); None: 3.
    pub retries: Option<u32>,
}

/// A connection to any number of registries, each set up on first use.
pub struct Registry {
    pub(super) transport: Transport,
    pub(super) ui: Reporter,
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

impl Registry {
    /// Sets up (no network yet). Reads the CA file so a wrong path fails before any build.
    pub fn new(opts: &RegistryOptions, env: &Environment, ui: &Reporter) -> Result<Registry> {
        let ca = opts.ca.as_deref().map(UserCa::read).transpose()?;
        let mut insecure = opts.insecure.clone();
        insecure.extend(super::insecure::from_registries_conf(env)?);
        let defaults = retry::DEFAULT_POLICY;
        retry::set_policy(
            retry::Policy {
                timeout: opts
                    .timeout_secs
                    .map_or(defaults.timeout, std::time::Duration::from_secs),
                retries: opts.retries.unwrap_or(defaults.retries),
            },
            ui,
        );
        let transport = Transport::new(insecure, ca, env.clone())
            .context("starting the registry client's runtime")?;
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
            let what = format!("pulling the manifest {}", host.manifest_url(r));
            let fetched = retry::retry(Some((&self.ui, &what)), || {
                host.pull_manifest_raw(r, media::PULLABLE)
            })
            .await
            .map_err(|e| explain(e, &host.name, Some(&host.source)))?;
            // The media type the document names (an old OCI manifest may name none: then the
            // Content-Type it came with).
            let media_type = serde_json::from_slice::<serde_json::Value>(&fetched.bytes)
                .ok()
                .and_then(|v| {
                    v.get("mediaType")
                        .and_then(|m| m.as_str())
                        .map(String::from)
                })
                .or(fetched.content_type)
                .unwrap_or_default();
            Ok(Pulled {
                bytes: fetched.bytes.to_vec(),
                digest: fetched.digest,
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
        self.pull_into(repo, d, || Ok(Vec::new()))
    }

    /// Downloads a blob from `repo` into `store`, checking digest and size on the way.
    pub fn fetch_blob(&self, repo: &ImageRef, d: &Descriptor, store: &BlobStore) -> Result<()> {
        let file = self.pull_into(repo, d, || Ok(store.stage()?.file))?;
        store.commit(crate::image::store::StagedBlob { file }, &d.digest)?;
        Ok(())
    }

    /// Downloads `d` into a writer from `fresh`. A download that breaks off (a reset, a
    /// truncated body, a read that misses the deadline) starts again into a fresh writer, as
    /// often as the retry policy allows; more bytes than the descriptor says are refused at once.
    fn pull_into<W: std::io::Write>(
        &self,
        repo: &ImageRef,
        d: &Descriptor,
        mut fresh: impl FnMut() -> Result<W>,
    ) -> Result<W> {
        let r = repo.at_digest(d.digest.as_str());
        let policy = retry::policy();
        let what = format!("downloading blob {}", d.digest.short());
        self.block_on(async {
            let host = self.connect(&r, false).await?;
            // Each attempt, its body included, has the deadline of a blob of this size.
            let deadline = retry::deadline_for(d.size);
            let started = std::time::Instant::now();
            let budget = retry::budget(deadline);
            let mut backoff = std::time::Duration::from_millis(500);
            let mut attempt = 0;
            loop {
                let mut w = HashingWriter::new(fresh()?);
                let once = self.pull_once(&host, &r, d, &mut w, policy);
                let result = match tokio::time::timeout(deadline, once).await {
                    Ok(result) => result,
                    Err(_) => Err(retry::timed_out(deadline, Some(&what))),
                };
                match result {
                    Ok(()) => {}
                    Err(e) if e.retryable() && attempt < policy.retries => {
                        let wait = retry::wait_before_retry(e.clone(), backoff, started, budget)
                            .map_err(|e| explain(e, &host.name, Some(&host.source)))?;
                        attempt += 1;
                        retry::retrying(Some((&self.ui, &what)), &e, wait, attempt, policy.retries);
                        tokio::time::sleep(wait).await;
                        backoff *= 2;
                        continue;
                    }
                    Err(e) => return Err(explain(e, &host.name, Some(&host.source))),
                }
                let (w, digest, size) = w.finish();
                if digest != d.digest || size != d.size {
                    // Not retried: a registry that sends other bytes for a digest sends them again.
                    let e = super::answer::digest_mismatch("blob", &d.digest, &digest);
                    return Err(explain(e, &host.name, Some(&host.source)));
                }
                return Ok(w);
            }
        })
        .with_context(|| format!("downloading blob {} from {}", d.digest, repo.full_name()))
    }

    /// One attempt of a download: the request (itself retried on a failed answer), then the
    /// body, each read under the deadline.
    async fn pull_once<W: std::io::Write>(
        &self,
        host: &Host,
        r: &Reference,
        d: &Descriptor,
        w: &mut HashingWriter<W>,
        policy: retry::Policy,
    ) -> Result<(), RegistryError> {
        let mut sized = retry::retry(Some((&self.ui, "pulling a blob")), || {
            host.pull_blob_stream(r.repository(), d)
        })
        .await?;
        let mut got: u64 = 0;
        loop {
            let chunk = match tokio::time::timeout(policy.timeout, sized.next()).await {
                Err(_) => return Err(retry::timed_out(policy.timeout, None)),
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    return Err(RegistryError::new(
                        ErrorKind::Unreachable,
                        format!("the download broke off after {got} bytes: {e}"),
                    ))
                }
                Ok(Some(Ok(c))) => c,
            };
            got += chunk.len() as u64;
            if got > d.size {
                return Err(RegistryError::new(
                    ErrorKind::Protocol,
                    format!(
                        "the registry sent more than the {} bytes blob {} has",
                        d.size, d.digest
                    ),
                ));
            }
            std::io::Write::write_all(w, &chunk)
                .map_err(|e| RegistryError::new(ErrorKind::Other, format!("writing: {e}")))?;
        }
        if got < d.size {
            // A body cut short without an error (the connection closed cleanly): try again.
            return Err(RegistryError::new(
                ErrorKind::Unreachable,
                format!("the download ended after {got} of {} bytes", d.size),
            ));
        }
        Ok(())
    }
}

/// A [`Registry`] made on first use and shared after: runs that never touch a registry never
/// start its runtime or read credentials.
pub struct Connector {
    opts: std::sync::Mutex<RegistryOptions>,
    env: Environment,
    ui: Reporter,
    cell: std::sync::OnceLock<std::sync::Arc<Registry>>,
}

impl Connector {
    pub fn new(opts: &RegistryOptions, env: &Environment, ui: &Reporter) -> Connector {
        Connector {
            opts: std::sync::Mutex::new(opts.clone()),
            env: env.clone(),
            ui: ui.clone(),
            cell: std::sync::OnceLock::new(),
        }
    }

    /// Replaces the options the registry will be made with (the workspace settings complete
    /// the command line's); too late once it is made.
    pub fn configure(&self, opts: &RegistryOptions) {
        if let Ok(mut o) = self.opts.lock() {
            *o = opts.clone();
        }
    }

    pub fn get(&self) -> Result<std::sync::Arc<Registry>> {
        if let Some(r) = self.cell.get() {
            return Ok(r.clone());
        }
        let opts = self.opts.lock().map_err(|_| anyhow!("poisoned"))?.clone();
        let r = std::sync::Arc::new(Registry::new(&opts, &self.env, &self.ui)?);
        Ok(self.cell.get_or_init(|| r).clone())
    }
}
