//! `cargo imagebuild clean`: removes this tool's caches, the workspace's and the user's; images
//! written to outputs stay.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::util::env::Environment;

/// `cargo imagebuild clean`: removes the workspace's internal files (the blob store, pack
/// records, gzip copies, generated scripts: `<target-dir>/imagebuild/.work`) and the base-layer
/// cache (found through `env`). Returns each directory removed with the bytes it held.
pub fn clean(manifest_path: Option<&Path>, env: &Environment) -> Result<Vec<(PathBuf, u64)>> {
    let mut cmd = cargo_metadata::MetadataCommand::new();
    cmd.no_deps();
    if let Some(p) = manifest_path {
        cmd.manifest_path(p);
    }
    let meta = cmd
        .exec()
        .context("finding the workspace's target directory (cargo metadata)")?;
    let target = meta.target_directory.into_std_path_buf();
    let mut dirs = vec![crate::plan::paths::work_dir(&target)];
    if let Ok(cache) = crate::provision::cache::cache_dir(env) {
        dirs.push(cache.join("blobs"));
    }
    let mut removed = Vec::new();
    for d in dirs {
        if !d.exists() {
            continue;
        }
        let bytes = size_of_tree(&d);
        std::fs::remove_dir_all(&d).with_context(|| format!("removing {}", d.display()))?;
        removed.push((d, bytes));
    }
    Ok(removed)
}

fn size_of_tree(p: &Path) -> u64 {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::read_dir(p)
            .map(|es| es.flatten().map(|e| size_of_tree(&e.path())).sum())
            .unwrap_or(0),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}
