//! Pushing one [`ImageSet`] to its repository, in the order that keeps a tag from ever naming
//! something incomplete: every blob, then each platform's manifest (by digest), then the index
//! (by digest), then — with a signer — the cosign signatures of the index and of each
//! manifest (`sha256-<hex>.sig`) and the attestations of each platform (`sha256-<hex>.att`,
//! [`crate::image::signing`]), then the tags; then the
//! attachments (`referrers.rs`). A signing failure leaves every tag where it was. When the registry holds
//! the index already (one HEAD), that order has completed before: only tags that name something
//! else are moved, and no blob or manifest is sent or checked again. Blobs and manifests go up concurrently, at most [`PARALLEL`] at a
//! time. Each blob takes the cheapest way that works:
//!
//! 1. `HEAD`: the registry has it already, nothing to send;
//! 2. a base layer in another repository of the same registry: a cross-repository mount;
//! 3. a base layer elsewhere (or a mount the registry declined): streamed from the base's
//!    registry straight into the target, never stored locally;
//! 4. our own blobs: streamed from the blob store (or memory, for configs) in 4 MiB reads.
//!
//! Each upload is one streamed PUT; a host that refuses that with 413 gets its blobs in pieces
//! for the rest of the run (`upload.rs`), said once.
//!
//! Our layers can go up before their image set is complete: [`Registry::upload_early`] starts a
//! layer's upload the moment it is packed, while cargo still compiles other targets; the push
//! then finds those blobs settled. Manifests, the index and the tags still go last.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::Bytes;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use oci_spec::distribution::Reference;

use super::blobs::{file_stream, verifying, ByteStream};
use super::client::{explain, Registry};
use super::error::{ErrorKind, RegistryError};
use super::retry::{self, retry};
use super::settled::How;
use super::transport::Host;
use super::upload::Mount;
use crate::events::Event;
use crate::image::model::{media, Descriptor, Document, ImageSet};
use crate::image::reference::ImageRef;
use crate::image::signature::{self, Signer};
use crate::image::signing;
use crate::image::store::BlobStore;

/// How many blobs or manifests are in flight at once.
pub const PARALLEL: usize = 4;

/// What a push did, for the summary line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushStats {
    pub uploaded: usize,
    pub mounted: usize,
    pub streamed: usize,
    pub present: usize,
}

#[derive(Default)]
pub(super) struct Counters {
    uploaded: AtomicUsize,
    mounted: AtomicUsize,
    streamed: AtomicUsize,
    present: AtomicUsize,
}

impl Counters {
    fn count(&self, how: How) {
        let c = match how {
            How::Uploaded => &self.uploaded,
            How::Mounted => &self.mounted,
            How::Streamed => &self.streamed,
            How::Present => &self.present,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Where a blob's bytes come from.
pub(super) enum Source {
    Local(Body),
    Remote(ImageRef),
}

/// Bytes we hold ourselves: a file of the blob store, or a document in memory.
pub(super) enum Body {
    Store(std::path::PathBuf),
    Memory(Bytes),
}

impl Registry {
    /// Starts putting one of our blobs (a file of the blob store) into `repository` on the
    /// registry's runtime and returns at once: the push of the image set that holds it later
    /// finds it settled and sends nothing. Failures are dropped here: the push tries again and
    /// reports them. [`Registry::wait_early`] waits for every upload started.
    pub fn upload_early(self: &Arc<Self>, repository: &str, blob: &Descriptor, path: PathBuf) {
        let me = self.clone();
        let repository = repository.to_string();
        let blob = blob.clone();
        let task = self.transport.rt.spawn(async move {
            let target = ImageRef::repository_named(&repository)?;
            let host = me.connect(&target.at_tag("latest"), true).await?;
            let how = me
                .send_blob(&host, &target, &blob, Source::Local(Body::Store(path)))
                .await?;
            me.settled
                .insert(&target.full_name(), blob.digest.as_str(), how);
            anyhow::Ok(())
        });
        if let Ok(mut tasks) = self.early.lock() {
            tasks.push(task);
        }
    }

    /// Waits for every [`Registry::upload_early`] started so far.
    pub fn wait_early(&self) {
        let tasks = match self.early.lock() {
            Ok(mut t) => std::mem::take(&mut *t),
            Err(_) => return,
        };
        self.block_on(async {
            for t in tasks {
                let _ = t.await;
            }
        });
    }

    /// Pushes `set` to its repository under each of its tags (see the module docs for the
    /// order). Pushing the same set again sends no blob.
    pub fn push(
        &self,
        set: &ImageSet,
        store: &BlobStore,
        signer: Option<&dyn Signer>,
    ) -> Result<PushStats> {
        let target = ImageRef::repository_named(&set.repository)?;
        let counters = Counters::default();
        self.block_on(self.push_async(set, store, &target, signer, &counters))?;
        Ok(PushStats {
            uploaded: counters.uploaded.into_inner(),
            mounted: counters.mounted.into_inner(),
            streamed: counters.streamed.into_inner(),
            present: counters.present.into_inner(),
        })
    }

    async fn push_async(
        &self,
        set: &ImageSet,
        store: &BlobStore,
        target: &ImageRef,
        signer: Option<&dyn Signer>,
        counters: &Counters,
    ) -> Result<()> {
        let any = target.at_tag("latest");
        let host = self.connect(&any, true).await?;
        let name = target.full_name();
        // The blobs: layers (each once), then configs.
        let mut jobs: Vec<(Descriptor, Source)> = Vec::new();
        for img in &set.images {
            for l in &img.layers {
                if jobs.iter().any(|(d, _)| d.digest == l.blob.digest) {
                    continue;
                }
                // A base layer is mounted when it lives in the same registry (cheaper than any
                // upload), else sent from the store when a layout run already fetched it.
                let local = store.contains(&l.blob.digest);
                let source = match &l.remote {
                    Some(r) if r.same_registry(target) || !local => Source::Remote(r.clone()),
                    _ => Source::Local(Body::Store(store.path(&l.blob.digest))),
                };
                jobs.push((l.blob.clone(), source));
            }
        }
        for img in &set.images {
            let d = &img.config.descriptor;
            if !jobs.iter().any(|(j, _)| j.digest == d.digest) {
                jobs.push((
                    d.clone(),
                    Source::Local(Body::Memory(Bytes::from(img.config.bytes.clone()))),
                ));
            }
        }
        // 0. The index is there already (a registry takes an index only once the manifests and
        // blobs it names are there, and this push sends it after them): nothing of the image
        // goes up again; only a tag that names something else is moved.
        let index = &set.index.descriptor.digest;
        if self
            .names(&host, target.at_digest(index.as_str()), index)
            .await
        {
            for (d, _) in &jobs {
                self.settled.take(&name, d.digest.as_str());
                self.count(target, d, How::Present, counters);
            }
            if let Some(signer) = signer {
                self.push_signatures(&host, target, set, signer, counters)
                    .await?;
            }
            for tag in &set.tags {
                if !self.names(&host, target.at_tag(tag), index).await {
                    self.put_manifest(&host, target.at_tag(tag), &set.index)
                        .await
                        .with_context(|| format!("tagging {name}:{tag}"))?;
                }
            }
            return self.push_attachments(&host, target, set, counters).await;
        }

        // 1. Blobs. Base layers in other repositories of this registry are mounted: ask for one token
        // that may also pull from those repositories, or the registry declines every mount.
        let mut bases: Vec<String> = Vec::new();
        for r in set
            .images
            .iter()
            .flat_map(|i| &i.layers)
            .filter_map(|l| l.remote.as_ref())
        {
            if r.same_registry(target) && !bases.iter().any(|b| b == r.repository()) {
                bases.push(r.repository().to_string());
            }
        }
        if !bases.is_empty() {
            host.widen_for_mounts(target.repository(), &bases).await;
        }

        stream::iter(jobs)
            .map(|(d, source)| {
                let host = host.clone();
                let name = &name;
                async move {
                    self.push_blob(&host, target, &d, source, counters)
                        .await
                        .with_context(|| format!("pushing blob {} to {name}", d.digest))
                }
            })
            .buffer_unordered(PARALLEL)
            .try_collect::<Vec<()>>()
            .await?;

        // 2. Each platform's manifest, by digest.
        stream::iter(&set.images)
            .map(|img| {
                let host = host.clone();
                let name = &name;
                async move {
                    self.put_manifest(
                        &host,
                        target.at_digest(img.manifest.descriptor.digest.as_str()),
                        &img.manifest,
                    )
                    .await
                    .with_context(|| format!("pushing the {} manifest to {name}", img.platform))
                }
            })
            .buffer_unordered(PARALLEL)
            .try_collect::<Vec<()>>()
            .await?;

        // 3. The index, by digest.
        self.put_manifest(
            &host,
            target.at_digest(set.index.descriptor.digest.as_str()),
            &set.index,
        )
        .await
        .with_context(|| format!("pushing the index to {name}"))?;
        // 4. The signatures, before any tag moves: a tag never names an unsigned image when a
        // key was given. 5. Then the tags.
        if let Some(signer) = signer {
            self.push_signatures(&host, target, set, signer, counters)
                .await?;
        }
        for tag in &set.tags {
            self.put_manifest(&host, target.at_tag(tag), &set.index)
                .await
                .with_context(|| format!("tagging {name}:{tag}"))?;
        }
        // 6. What is attached to the platforms' manifests (`referrers`).
        self.push_attachments(&host, target, set, counters).await
    }

    /// Signs the index and each platform's manifest of `set` with `signer` and adds each
    /// signature to the image under its `sha256-<hex>.sig` tag, keeping the signatures that
    /// tag lists already (cosign's way; see [`signature::cosign_image`]); then each platform's
    /// attachments, as DSSE envelopes under its `sha256-<hex>.att` tag ([`signing::to_sign`]).
    async fn push_signatures(
        &self,
        host: &Arc<Host>,
        target: &ImageRef,
        set: &ImageSet,
        signer: &dyn Signer,
        counters: &Counters,
    ) -> Result<()> {
        let name = target.full_name();
        for item in signing::to_sign(set, &name, signer)? {
            let predicate_types = item.predicate_types();
            self.add_to_cosign_image(host, target, &item.tag, item.layers, counters)
                .await?;
            let (repository, digest, tag) = (name.clone(), item.subject.to_string(), item.tag);
            self.ui.emit(match item.kind {
                signing::KIND_SIGNATURES => Event::Signed {
                    repository,
                    digest,
                    tag,
                },
                _ => Event::Attested {
                    repository,
                    digest,
                    tag,
                    predicate_types,
                },
            });
        }
        Ok(())
    }

    /// Adds `layers` to the cosign image under `tag` (a `.sig` or `.att` tag) in `target`:
    /// reads what the tag holds, pushes the layers it does not list yet and the config, then
    /// the manifest over all of them. Nothing is sent when it lists them all.
    pub(super) async fn add_to_cosign_image(
        &self,
        host: &Arc<Host>,
        target: &ImageRef,
        tag: &str,
        layers: Vec<signature::CosignLayer>,
        counters: &Counters,
    ) -> Result<()> {
        let name = target.full_name();
        let at = target.at_tag(tag);
        let accept = [media::MANIFEST, media::DOCKER_MANIFEST];
        let existing = match retry(Some((&self.ui, "reading a signature image")), || {
            host.pull_manifest_raw(&at, &accept)
        })
        .await
        {
            Ok(f) => Some(f.bytes),
            Err(e) if e.kind == ErrorKind::NotFound => None,
            Err(e) => {
                return Err(explain(e, &host.name, Some(&host.source)))
                    .with_context(|| format!("reading {name}:{tag} to add to it"))
            }
        };
        let Some(image) =
            signature::cosign_image(existing.as_deref(), layers).with_context(|| {
                format!(
                    "{name}:{tag} is not a cosign signature image\nhelp: delete that tag, or push \
                 to another repository"
                )
            })?
        else {
            return Ok(());
        };
        for doc in image.added.iter().chain([&image.config]) {
            let source = Source::Local(Body::Memory(Bytes::from(doc.bytes.clone())));
            self.push_blob(host, target, &doc.descriptor, source, counters)
                .await
                .with_context(|| format!("pushing a layer of {name}:{tag}"))?;
        }
        self.put_manifest(host, at, &image.manifest)
            .await
            .with_context(|| format!("pushing {name}:{tag}"))
    }

    /// Puts one blob into `target` the cheapest way that works (see the module docs); a blob
    /// settled there early ([`Registry::upload_early`]) is only counted, as it was settled.
    pub(super) async fn push_blob(
        &self,
        host: &Arc<Host>,
        target: &ImageRef,
        d: &Descriptor,
        source: Source,
        counters: &Counters,
    ) -> Result<()> {
        let how = match self.settled.take(&target.full_name(), d.digest.as_str()) {
            Some(how) => how,
            None => self.send_blob(host, target, d, source).await?,
        };
        self.count(target, d, how, counters);
        Ok(())
    }

    /// Counts and reports how a blob came to be in `target`.
    fn count(&self, target: &ImageRef, d: &Descriptor, how: How, counters: &Counters) {
        counters.count(how);
        self.ui.emit(Event::BlobUploaded {
            repository: target.full_name(),
            digest: d.digest.to_string(),
            size: d.size,
            how: how.as_str(),
        });
    }

    /// Whether `r` (a tag, or a digest) names the manifest `digest` in its registry: a HEAD.
    /// Any failure counts as "no"; the push that follows then reports it.
    pub(super) async fn names(
        &self,
        host: &Arc<Host>,
        r: Reference,
        digest: &crate::util::digest::Digest,
    ) -> bool {
        matches!(
            host.fetch_manifest_digest(&r, crate::image::model::media::PULLABLE).await,
            Ok(Some(d)) if d == *digest
        )
    }

    async fn send_blob(
        &self,
        host: &Arc<Host>,
        target: &ImageRef,
        d: &Descriptor,
        source: Source,
    ) -> Result<How> {
        let r = target.at_digest(d.digest.as_str());
        let fail = |e: RegistryError| explain(e, &host.name, Some(&host.source));
        let exists = retry(Some((&self.ui, "checking for a blob")), || {
            host.blob_exists(r.repository(), &d.digest)
        })
        .await
        .map_err(fail)?;
        if exists {
            return Ok(How::Present);
        }
        match source {
            Source::Remote(base) => {
                if base.registry() == target.registry() && base.repository() != target.repository()
                {
                    // A declined mount (the registry answers 202 with an upload session, as it
                    // does when the token lacks pull access to the base) is not an error: the
                    // blob is streamed instead, in a session of its own.
                    let mounted = host
                        .mount_blob(r.repository(), base.repository(), &d.digest)
                        .await;
                    if matches!(mounted, Ok(Mount::Mounted)) {
                        return Ok(How::Mounted);
                    }
                }
                self.stream_between(host, &r, &base, d).await?;
                Ok(How::Streamed)
            }
            Source::Local(local) => {
                let body = || async {
                    match &local {
                        Body::Store(path) => file_stream(path.clone()).await.map_err(|e| {
                            RegistryError::new(
                                ErrorKind::Other,
                                format!("reading the blob store: {e}"),
                            )
                        }),
                        Body::Memory(bytes) => Ok(stream::iter([Ok(bytes.clone())]).boxed()),
                    }
                };
                self.upload(host, &r, d, "uploading a blob", body)
                    .await
                    .map_err(fail)?;
                Ok(How::Uploaded)
            }
        }
    }

    /// Streams a base blob from its registry into the target, without storing it. The bytes
    /// are checked on their way ([`verifying`]): a corrupt source fails the upload before its
    /// last byte, so the target never commits it.
    async fn stream_between(
        &self,
        host: &Arc<Host>,
        r: &Reference,
        base: &ImageRef,
        d: &Descriptor,
    ) -> Result<()> {
        let from = base.at_digest(d.digest.as_str());
        let src = self.connect(&from, false).await?;
        let body = || async {
            let source = src.pull_blob_stream(from.repository(), d).await?;
            Ok(verifying(source, d))
        };
        self.upload(host, r, d, "copying a base blob", body)
            .await
            .map_err(|e| explain(e, &host.name, Some(&host.source)))
            .with_context(|| format!("copying it from {}", base.full_name()))
    }

    /// Puts blob `d` into `r`'s repository from a fresh `body()` per attempt, retried as `what`
    /// within the deadline of its size: in one request, unless the host refused that with 413
    /// (now or earlier in the run), then in pieces.
    async fn upload<F, Fut>(
        &self,
        host: &Arc<Host>,
        r: &Reference,
        d: &Descriptor,
        what: &str,
        body: F,
    ) -> Result<(), RegistryError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<ByteStream, RegistryError>>,
    {
        let deadline = retry::deadline_for(d.size);
        let body = &body;
        let attempt = |chunked: bool| {
            retry::retry_within(Some((&self.ui, what)), deadline, move || async move {
                host.push_blob(r.repository(), body().await?, d, chunked)
                    .await
            })
        };
        let chunked = host.chunked_uploads();
        match attempt(chunked).await {
            Err(e) if e.status == Some(413) && !chunked => {
                if host.use_chunked_uploads() {
                    self.ui.warn(&format!(
                        "{} refused a {:.1} MiB blob in one request (HTTP 413, a body size \
                         limit): sending blobs to it in {} pieces from now on",
                        host.name,
                        d.size as f64 / f64::from(1 << 20),
                        super::error::size_text(super::blobs::CHUNK as u64),
                    ));
                }
                attempt(true).await
            }
            done => done,
        }
    }

    pub(super) async fn put_manifest(
        &self,
        host: &Arc<Host>,
        r: Reference,
        doc: &Document,
    ) -> Result<()> {
        let bytes = Bytes::from(doc.bytes.clone());
        retry(Some((&self.ui, "pushing a manifest")), || {
            host.push_manifest_raw(&r, bytes.clone(), &doc.descriptor.media_type)
        })
        .await
        .map_err(|e| explain(e, &host.name, Some(&host.source)))
    }
}

impl std::fmt::Display for PushStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} blobs uploaded, {} mounted, {} copied from the base's registry, {} already there",
            self.uploaded, self.mounted, self.streamed, self.present
        )
    }
}
