//! Tar archives that sinks write (an OCI archive, a docker-archive): a list of files becomes a
//! plain tar (regular files, 0644, owned by root, mtime 0), streamed to a file through a
//! temporary path renamed into place, or to any writer (a loader's stdin).

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::image::layer::{self, Entry, LayerSpec, Source};
use crate::util::atomic::AtomicFile;

/// The tar of `files` as a layer spec (regular files, 0644, owned by root).
pub fn archive_spec(files: Vec<(String, Source)>) -> LayerSpec {
    LayerSpec {
        entries: files
            .into_iter()
            .map(|(path, source)| Entry::file(&path, source, 0o644))
            .collect(),
        created_by: String::new(),
    }
}

/// Writes `spec` as a plain tar at `dest`, through a temporary file renamed into place.
pub fn write_archive(dest: &Path, spec: &LayerSpec) -> Result<()> {
    let dest = &crate::util::atomic::follow_dest(dest)?;
    if dest.is_dir() {
        bail!(
            "{} is a directory: an archive dest must be a file path",
            dest.display()
        );
    }
    let out = AtomicFile::create(dest, "archive")?;
    let out = layer::write_tar(spec, 0, out)?;
    out.commit(dest)
        .with_context(|| format!("moving the archive into {}", dest.display()))
}
