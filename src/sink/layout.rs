//! OCI image layouts: a directory (`oci-layout`, `index.json`, `blobs/sha256/…`) or the same
//! files in a tar archive. Both are written to a temporary path beside the destination and
//! renamed into place, so a failed run never leaves a half-written layout.
//!
//! The archive also carries a docker `manifest.json` for one platform (see `docker_archive.rs`;
//! zstd layers get gzip copies beside them), so one file loads with `docker load` (which reads
//! `manifest.json`) and `podman load`, and still reads as an OCI layout (`oci-archive:`).
//!
//! `index.json` has one entry per tag, each pointing at the image set's index with
//! `org.opencontainers.image.ref.name` set to the tag (what `skopeo … oci:DIR:TAG` and
//! `umoci --image DIR:TAG` look up) and `io.containerd.image.name` set to `repository:tag`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::json;

use super::{docker_archive, gzip_copy, Report, Sink};
use crate::layer::{self, LayerSpec, Source};
use crate::model::{annotation, media, ImageSet};
use crate::platform::Platform;
use crate::store::{self, BlobStore};

pub struct LayoutDir {
    pub dest: PathBuf,
}

pub struct LayoutArchive {
    pub dest: PathBuf,
    /// The platform of the docker `manifest.json`; None: the host's if built, else the first.
    pub platform: Option<Platform>,
}

/// The bytes of a layout's `index.json` for `set`.
pub fn index_json(set: &ImageSet) -> Result<Vec<u8>> {
    let manifests: Vec<_> = set
        .tags
        .iter()
        .map(|tag| {
            json!({
                "mediaType": media::INDEX,
                "digest": set.index.descriptor.digest.as_str(),
                "size": set.index.descriptor.size,
                "annotations": {
                    annotation::REF_NAME: tag,
                    "io.containerd.image.name": format!("{}:{tag}", set.repository),
                },
            })
        })
        .collect();
    let doc = json!({
        "schemaVersion": 2,
        "mediaType": media::INDEX,
        "manifests": manifests,
    });
    Ok(serde_json::to_vec(&doc)?)
}

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Every file of the layout, by path inside it, sorted: blobs are read from the store, the
/// documents from memory.
pub fn layout_files(set: &ImageSet, store: &BlobStore) -> Result<Vec<(String, Source)>> {
    let mut files = vec![
        ("oci-layout".to_string(), Source::Bytes(OCI_LAYOUT.to_vec())),
        ("index.json".to_string(), Source::Bytes(index_json(set)?)),
    ];
    let blob = |d: &crate::digest::Digest| format!("blobs/sha256/{}", d.hex());
    for img in &set.images {
        for l in &img.layers {
            files.push((
                blob(&l.blob.digest),
                Source::Path(store.path(&l.blob.digest)),
            ));
        }
        files.push((
            blob(&img.config.descriptor.digest),
            Source::Bytes(img.config.bytes.clone()),
        ));
        files.push((
            blob(&img.manifest.descriptor.digest),
            Source::Bytes(img.manifest.bytes.clone()),
        ));
    }
    files.push((
        blob(&set.index.descriptor.digest),
        Source::Bytes(set.index.bytes.clone()),
    ));
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files.dedup_by(|a, b| a.0 == b.0);
    Ok(files)
}

/// The directory the destination goes in, created if needed, with a clear error when it cannot be.
fn prepare_parent(dest: &Path) -> Result<PathBuf> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).with_context(|| {
        format!(
            "cannot create {} to hold {}: choose a dest in a writable directory",
            parent.display(),
            dest.display()
        )
    })?;
    Ok(parent)
}

impl Sink for LayoutDir {
    fn describe(&self) -> String {
        format!("OCI layout {}", self.dest.display())
    }

    fn write(&self, set: &ImageSet, store: &BlobStore) -> Result<Report> {
        let dest = &self.dest;
        if dest.exists() {
            let is_layout = dest.join("oci-layout").is_file();
            let is_empty_dir = dest.is_dir() && fs::read_dir(dest)?.next().is_none();
            if !is_layout && !is_empty_dir {
                bail!(
                    "{} exists and is not an OCI layout: remove it or choose another dest \
                     (it is replaced only when it holds a layout)",
                    dest.display()
                );
            }
        }
        let parent = prepare_parent(dest)?;
        let tmp = tempfile::Builder::new()
            .prefix(".imagebuild-layout-")
            .tempdir_in(&parent)
            .with_context(|| {
                format!(
                    "cannot write in {}: choose a writable dest",
                    parent.display()
                )
            })?;
        fs::create_dir_all(tmp.path().join("blobs/sha256"))?;
        for (path, source) in layout_files(set, store)? {
            let to = tmp.path().join(&path);
            match source {
                Source::Bytes(b) => fs::write(&to, b),
                Source::Path(p) => store::link_or_copy(&p, &to),
            }
            .with_context(|| format!("writing {}", to.display()))?;
        }
        // Swap the new layout in: the old one (if any) is moved aside first and removed after.
        let old = parent.join(format!(
            ".imagebuild-old-{}",
            dest.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        let _ = fs::remove_dir_all(&old);
        let had_old = dest.exists();
        if had_old {
            fs::rename(dest, &old)
                .with_context(|| format!("moving the old {} aside", dest.display()))?;
        }
        let staged = tmp.keep();
        if let Err(e) = fs::rename(&staged, dest) {
            let _ = fs::remove_dir_all(&staged);
            if had_old {
                let _ = fs::rename(&old, dest);
            }
            return Err(e).with_context(|| format!("moving the layout into {}", dest.display()));
        }
        if had_old {
            let _ = fs::remove_dir_all(&old);
        }
        Ok(Report {
            destination: self.describe(),
            notes: Vec::new(),
        })
    }
}

impl Sink for LayoutArchive {
    fn describe(&self) -> String {
        format!("OCI archive {}", self.dest.display())
    }

    fn write(&self, set: &ImageSet, store: &BlobStore) -> Result<Report> {
        let ArchiveFiles {
            files,
            image,
            repacked,
        } = archive_files(set, store, self.platform.as_ref())?;
        write_archive(&self.dest, &docker_archive::archive_spec(files))?;
        Ok(Report {
            destination: format!(
                "{} (docker manifest.json: {})",
                self.describe(),
                image.platform
            ),
            notes: repacked
                .then(|| gzip_copy::note("docker load"))
                .into_iter()
                .collect(),
        })
    }
}

/// What an OCI archive holds, from [`archive_files`].
pub struct ArchiveFiles<'a> {
    /// Path inside the archive and content, sorted by path.
    pub files: Vec<(String, Source)>,
    /// The image the docker `manifest.json` describes.
    pub image: &'a crate::model::Image,
    /// Whether its zstd layers were repacked as gzip for docker.
    pub repacked: bool,
}

/// Every file of an OCI archive: the layout's, plus a docker `manifest.json` for `platform` (else
/// the host's if built, else the first) and gzip copies of its zstd layers.
pub fn archive_files<'a>(
    set: &'a ImageSet,
    store: &BlobStore,
    platform: Option<&Platform>,
) -> Result<ArchiveFiles<'a>> {
    let image = match platform {
        Some(p) => docker_archive::choose(set, Some(p), None, "")?.0,
        None => Platform::host()
            .and_then(|h| set.image_for(&h))
            .or(set.images.first())
            .context("an image set with no image cannot be archived")?,
    };
    let (layers, repacked) = gzip_copy::without_zstd(&image.layers, store)?;
    let mut files = layout_files(set, store)?;
    files.extend(docker_archive::docker_files(set, image, &layers, store)?);
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files.dedup_by(|a, b| a.0 == b.0);
    Ok(ArchiveFiles {
        files,
        image,
        repacked,
    })
}

/// Writes `spec` as a plain tar at `dest`, through a temporary file renamed into place.
pub fn write_archive(dest: &Path, spec: &LayerSpec) -> Result<()> {
    if dest.is_dir() {
        bail!(
            "{} is a directory: an archive dest must be a file path",
            dest.display()
        );
    }
    let parent = prepare_parent(dest)?;
    // 0644 (less the umask), as any file a user writes; a temporary file alone would be 0600.
    let tmp = tempfile::Builder::new()
        .prefix(".imagebuild-archive-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(&parent)
        .with_context(|| {
            format!(
                "cannot write in {}: choose a writable dest",
                parent.display()
            )
        })?;
    let out = std::io::BufWriter::with_capacity(1 << 20, tmp);
    let out = layer::write_tar(spec, 0, out)?;
    let tmp = out.into_inner().map_err(|e| e.into_error())?;
    tmp.persist(dest)
        .map_err(|e| e.error)
        .with_context(|| format!("moving the archive into {}", dest.display()))?;
    Ok(())
}
