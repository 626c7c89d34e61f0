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
use crate::util::ui::Ui;

/// Environment variable naming the cache directory.
pub const ENV_CACHE: &str = "CARGO_IMAGEBUILD_CACHE";

/// The cache directory, from the environment.
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os(ENV_CACHE).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("cargo-imagebuild"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".cache").join("cargo-imagebuild")),
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
    ui: &Ui,
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
                    let dir = cache_dir()?.join("blobs");
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
