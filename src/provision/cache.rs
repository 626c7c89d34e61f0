//! The base-blob cache: a content-addressed directory shared by every workspace of the user
//! (`$CARGO_IMAGEBUILD_CACHE`, else `$XDG_CACHE_HOME/cargo-imagebuild`, else
//! `~/.cache/cargo-imagebuild`), where a base image's layers are downloaded once, checked
//! against their digest, and reused by later runs once verified (see `BlobStore::verified`). [`fetch_base_blobs`] is the step that runs
//! before a sink that needs every blob on disk (a layout, an archive): it puts each base layer
//! of an image set into the build's blob store, from the cache or, failing that, the registry.
//! A push never calls it: it mounts or streams base layers instead.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::image::model::ImageSet;
use crate::image::store::BlobStore;
use crate::registry::Registry;
use crate::util::env::Environment;
use crate::util::report::Reporter;

/// Environment variable naming the cache directory.
pub const ENV_CACHE: &str = "CARGO_IMAGEBUILD_CACHE";

/// Environment variable bounding each cache (the build's blob store, the base-layer cache):
/// bytes, or a number with KiB/MiB/GiB (or K/M/G, KB/MB/GB as the same binary units); 0 turns
/// the bound off.
pub const ENV_CACHE_LIMIT: &str = "CARGO_IMAGEBUILD_CACHE_LIMIT";

/// The default bound of each cache: 2 GiB.
pub const DEFAULT_CACHE_LIMIT: u64 = 2 << 30;

/// The bound of each cache: the environment's, else `configured` (the workspace's
/// `cache-limit`), else [`DEFAULT_CACHE_LIMIT`]; None when turned off (0).
pub fn cache_limit(configured: Option<u64>, env: &Environment) -> Result<Option<u64>> {
    let bytes = match env.var(ENV_CACHE_LIMIT).filter(|v| !v.trim().is_empty()) {
        Some(v) => crate::util::size::parse_size(&v).with_context(|| {
            format!(
                "{ENV_CACHE_LIMIT}=`{v}` is not a size: write bytes or a number with KiB, MiB or \
                 GiB (for example 2GiB), or 0 for no bound"
            )
        })?,
        None => configured.unwrap_or(DEFAULT_CACHE_LIMIT),
    };
    Ok((bytes > 0).then_some(bytes))
}

/// Bounds the build's blob store and the base-layer cache to [`cache_limit`], keeping every
/// blob used since `run_started`; says what was removed.
pub fn trim_caches(
    store: &BlobStore,
    run_started: std::time::SystemTime,
    configured: Option<u64>,
    ui: &Reporter,
    env: &Environment,
) -> Result<()> {
    let Some(limit) = cache_limit(configured, env)? else {
        return Ok(());
    };
    let mut stores = vec![store.clone()];
    if let Ok(dir) = cache_dir(env) {
        if dir.join("blobs").is_dir() {
            stores.push(BlobStore::open(dir.join("blobs"))?);
        }
    }
    for s in stores {
        let Some((count, bytes)) = s.trim(limit, run_started) else {
            ui.detail(
                "Skipped",
                &format!("trimming {}: another run is using it", s.root().display()),
            );
            continue;
        };
        if count > 0 {
            ui.status(
                "Trimmed",
                &format!(
                    "{} (least recently used {count} blobs, {} MiB; bound {} MiB: cache-limit or {ENV_CACHE_LIMIT})",
                    s.root().display(),
                    bytes >> 20,
                    limit >> 20
                ),
            );
        }
    }
    Ok(())
}

/// The cache directory, from the environment.
pub fn cache_dir(env: &Environment) -> Result<PathBuf> {
    if let Some(d) = env.path(ENV_CACHE) {
        return Ok(d);
    }
    if let Some(d) = env.path("XDG_CACHE_HOME") {
        return Ok(d.join("cargo-imagebuild"));
    }
    match env.path("HOME") {
        Some(home) => Ok(home.join(".cache").join("cargo-imagebuild")),
        None => bail!(
            "no cache directory for base image layers: set {ENV_CACHE} (or HOME) to a writable \
             directory"
        ),
    }
}

/// Puts every base layer of `set` into `store`: linked from the cache, downloaded into the
/// cache first when it is not there. Returns how many blobs were downloaded.
pub fn fetch_base_blobs(
    set: &ImageSet,
    store: &BlobStore,
    registry: &Registry,
    ui: &Reporter,
    env: &Environment,
) -> Result<usize> {
    let mut cache: Option<BlobStore> = None;
    let mut downloaded = 0;
    for img in &set.images {
        for l in &img.layers {
            let Some(repo) = &l.remote else { continue };
            if store.verified(&l.blob.digest, Some(l.blob.size), ui) {
                continue;
            }
            let cache = match &mut cache {
                Some(c) => c,
                None => {
                    let dir = cache_dir(env)?.join("blobs");
                    cache.insert(BlobStore::open(&dir).with_context(|| {
                        format!("opening the base layer cache (set {ENV_CACHE} to move it)")
                    })?)
                }
            };
            if !cache.verified(&l.blob.digest, Some(l.blob.size), ui) {
                ui.status(
                    "Downloading",
                    &format!(
                        "{} ({} bytes) from {}",
                        l.blob.digest,
                        l.blob.size,
                        repo.full_name()
                    ),
                );
                registry.fetch_blob(repo, &l.blob, cache)?;
                downloaded += 1;
            }
            // A copy, hashed on the way, never a hard link: the two caches are checked apart.
            store.copy_in(&cache.path(&l.blob.digest), &l.blob.digest)?;
        }
    }
    Ok(downloaded)
}
