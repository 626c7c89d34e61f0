//! docker-archive: what `docker load` and `podman load` read — a tar holding `manifest.json`
//! (`Config`, `RepoTags`, `Layers`), the image config and its layers — for ONE platform, because
//! the classic Docker image store cannot hold an index (buildx: "docker exporter does not
//! currently support exporting manifest lists").
//!
//! [`write_docker_archive`] streams the tar to any writer (a file here, a loader's stdin in
//! `load.rs`), reading each layer from the store as it goes; nothing is held whole. Files sit at
//! `blobs/sha256/<hex>`, the paths an OCI layout uses, so the same `manifest.json` also works
//! inside an OCI archive (`oci_archive.rs`). [`DockerArchive`] is the `type=docker,dest=FILE` sink.

use std::path::PathBuf;

use anyhow::Result;
use serde_json::json;

use super::archive::{archive_spec, write_archive};
use super::{gzip_copy, Report, Sink};
use crate::image::layer::{self, Source};
use crate::image::model::{Image, ImageSet, Layer};
use crate::image::platform::Platform;
use crate::image::select::choose;
use crate::image::store::BlobStore;

/// `type=docker,dest=FILE[,platform=P]`: one platform's docker-archive in a file.
pub struct DockerArchive {
    pub dest: PathBuf,
    /// None: the host's platform (or the only one built).
    pub platform: Option<Platform>,
}

/// `repository:tag` for every tag of the set, as `RepoTags` lists them: in Docker's familiar
/// form (`api:dev`, not `docker.io/library/api:dev`), the name `docker image ls` shows.
pub fn repo_tags(set: &ImageSet) -> Vec<String> {
    let repository = crate::image::reference::familiar_repository(&set.repository);
    set.tags
        .iter()
        .map(|t| format!("{repository}:{t}"))
        .collect()
}

fn blob_path(d: &crate::util::digest::Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

/// The bytes of `manifest.json` for `image` over `layers` (its own, or their gzip copies).
pub fn manifest_json(set: &ImageSet, image: &Image, layers: &[Layer]) -> Result<Vec<u8>> {
    let doc = json!([{
        "Config": blob_path(&image.config.descriptor.digest),
        "RepoTags": repo_tags(set),
        "Layers": layers.iter().map(|l| blob_path(&l.blob.digest)).collect::<Vec<_>>(),
    }]);
    Ok(serde_json::to_vec(&doc)?)
}

/// The files of a docker-archive: `manifest.json`, the config, each layer once.
pub fn docker_files(
    set: &ImageSet,
    image: &Image,
    layers: &[Layer],
    store: &BlobStore,
) -> Result<Vec<(String, Source)>> {
    let mut files = vec![
        (
            "manifest.json".to_string(),
            Source::Bytes(manifest_json(set, image, layers)?),
        ),
        (
            blob_path(&image.config.descriptor.digest),
            Source::Bytes(image.config.bytes.clone()),
        ),
    ];
    for l in layers {
        let path = blob_path(&l.blob.digest);
        if !files.iter().any(|(p, _)| *p == path) {
            files.push((path, Source::Path(store.path(&l.blob.digest))));
        }
    }
    Ok(files)
}

/// Streams the docker-archive of `image` (over `layers`) to `out`.
pub fn write_docker_archive<W: std::io::Write>(
    set: &ImageSet,
    image: &Image,
    layers: &[Layer],
    store: &BlobStore,
    out: W,
) -> Result<W> {
    let spec = archive_spec(docker_files(set, image, layers, store)?);
    layer::write_tar(&spec, 0, out)
}

impl Sink for DockerArchive {
    fn describe(&self) -> String {
        format!("docker archive {}", self.dest.display())
    }

    fn write(&self, set: &ImageSet, store: &BlobStore) -> Result<Report> {
        let host = Platform::host();
        let (image, note) = choose(set, self.platform.as_ref(), host.as_ref(), "this machine")?;
        let (layers, repacked) = gzip_copy::without_zstd(&image.layers, store)?;
        let spec = archive_spec(docker_files(set, image, &layers, store)?);
        write_archive(&self.dest, &spec)?;
        let mut notes: Vec<String> = note.into_iter().collect();
        if repacked {
            notes.push(gzip_copy::note("docker load"));
        }
        Ok(Report {
            destination: format!(
                "docker archive {} ({}, {})",
                self.dest.display(),
                image.platform,
                repo_tags(set).join(", ")
            ),
            notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::model::{media, Document};
    use crate::util::digest::Digest;

    fn image(p: &str) -> Image {
        Image {
            platform: p.parse().unwrap(),
            triple: String::new(),
            layers: Vec::new(),
            config: Document::new(media::CONFIG, p.as_bytes().to_vec()),
            manifest: Document::new(media::MANIFEST, p.as_bytes().to_vec()),
        }
    }

    fn set(platforms: &[&str]) -> ImageSet {
        ImageSet {
            name: "api".into(),
            repository: "ghcr.io/acme/api".into(),
            tags: vec!["dev".into(), "latest".into()],
            images: platforms.iter().map(|p| image(p)).collect(),
            index: Document::new(media::INDEX, b"{}".to_vec()),
            attachments: Vec::new(),
        }
    }

    fn p(s: &str) -> Platform {
        s.parse().unwrap()
    }

    #[test]
    fn choice_prefers_wanted_then_native_then_the_only_one() {
        let two = set(&["linux/amd64", "linux/arm64"]);
        let (i, note) = choose(
            &two,
            Some(&p("linux/arm64/v8")),
            Some(&p("linux/amd64")),
            "d",
        )
        .unwrap();
        assert_eq!(i.platform, p("linux/arm64"));
        assert!(note.is_none());
        let (i, _) = choose(&two, None, Some(&p("linux/amd64")), "d").unwrap();
        assert_eq!(i.platform, p("linux/amd64"));
        let e = choose(&two, Some(&p("linux/s390x")), None, "d").unwrap_err();
        assert_eq!(
            e.to_string().split('.').next().unwrap(),
            "platform linux/s390x was not built; built: linux/amd64, linux/arm64"
        );
        let e = choose(&two, None, Some(&p("linux/386")), "the docker daemon").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("the docker daemon runs linux/386, which was not built"),
            "{e}"
        );
        let one = set(&["linux/arm64"]);
        let (i, note) = choose(&one, None, Some(&p("linux/amd64")), "this machine").unwrap();
        assert_eq!(i.platform, p("linux/arm64"));
        assert!(note.unwrap().contains("only platform built"));
    }

    #[test]
    fn manifest_json_names_config_tags_and_layers() {
        let s = set(&["linux/amd64"]);
        let layer = Layer {
            blob: crate::image::model::Descriptor {
                media_type: media::LAYER_GZIP.into(),
                digest: Digest::of(b"l"),
                size: 1,
            },
            diff_id: Digest::of(b"t"),
            created_by: String::new(),
            remote: None,
        };
        let bytes = manifest_json(&s, &s.images[0], &[layer.clone(), layer.clone()]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            v[0]["Config"],
            format!(
                "blobs/sha256/{}",
                s.images[0].config.descriptor.digest.hex()
            )
        );
        assert_eq!(
            v[0]["RepoTags"],
            json!(["ghcr.io/acme/api:dev", "ghcr.io/acme/api:latest"])
        );
        assert_eq!(v[0]["Layers"].as_array().unwrap().len(), 2);
        // A repeated layer is stored once.
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let files = docker_files(&s, &s.images[0], &[layer.clone(), layer], &store).unwrap();
        assert_eq!(files.len(), 3);
    }
}
