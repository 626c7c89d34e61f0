//! `type=oci,dest=FILE,tar=true`: an OCI layout in a tar archive (`oci-archive:`) that also
//! carries a docker `manifest.json` for one platform (zstd layers get gzip copies beside them),
//! so one file loads with `docker load` (which reads `manifest.json`) and `podman load`.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::archive::{archive_spec, write_archive};
use super::{docker_archive, gzip_copy, layout, Report, Sink};
use crate::image::layer::Source;
use crate::image::model::ImageSet;
use crate::image::platform::Platform;
use crate::image::select::choose;
use crate::image::store::BlobStore;

pub struct LayoutArchive {
    pub dest: PathBuf,
    /// The platform of the docker `manifest.json`; None: the host's if built, else the first.
    pub platform: Option<Platform>,
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
        write_archive(&self.dest, &archive_spec(files))?;
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
    pub image: &'a crate::image::model::Image,
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
        Some(p) => choose(set, Some(p), None, "")?.0,
        None => Platform::host()
            .and_then(|h| set.image_for(&h))
            .or(set.images.first())
            .context("an image set with no image cannot be archived")?,
    };
    let (layers, repacked) = gzip_copy::without_zstd(&image.layers, store)?;
    let mut files = layout::layout_files(set, store)?;
    files.extend(docker_archive::docker_files(set, image, &layers, store)?);
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files.dedup_by(|a, b| a.0 == b.0);
    Ok(ArchiveFiles {
        files,
        image,
        repacked,
    })
}
