//! `type=oci,dest=DIR`: an OCI image layout directory (`oci-layout`, `index.json`,
//! `blobs/sha256/…`). A new one is written to a temporary directory beside the destination and
//! renamed into place, so a failed run never leaves a half-written layout. An existing layout is
//! added to, as skopeo and umoci do ([`super::layout_merge`]): its other images and files stay,
//! our tags are added or replaced, a blob already there is kept only when its bytes match its
//! digest. A directory that is neither a layout nor empty is refused. [`layout_files`] lists a
//! layout's files for the archive sinks too (`oci_archive.rs`).
//!
//! `index.json` has one entry per tag, each pointing at the image set's index with
//! `org.opencontainers.image.ref.name` set to the tag (what `skopeo … oci:DIR:TAG` and
//! `umoci --image DIR:TAG` look up) and `io.containerd.image.name` set to `repository:tag`;
//! then one untagged entry per attachment (SBOM, provenance), its `artifactType` given, as
//! `oras` lists the artifacts it attaches in a layout.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::{Report, Sink};
use crate::image::layer::Source;
use crate::image::model::{annotation, media, ImageSet};
use crate::image::signature::{self, Signer};
use crate::image::signing;
use crate::image::store::{self, BlobStore};
use crate::registry::referrers::{platform_of, AttachedTo, ReadBack};
use crate::util::digest::Digest;

pub struct LayoutDir {
    pub dest: PathBuf,
    /// With a key: the set's signatures and attestations are written and listed too.
    pub signer: Option<Arc<dyn Signer>>,
}

/// The bytes of a layout's `index.json` for `set`.
pub fn index_json(set: &ImageSet) -> Result<Vec<u8>> {
    index_json_with(set, Vec::new())
}

/// The bytes of a layout's `index.json` for `set`, with the entries `extra` (cosign images)
/// listed last.
fn index_json_with(set: &ImageSet, extra: Vec<Value>) -> Result<Vec<u8>> {
    let mut manifests: Vec<_> = set
        .tags
        .iter()
        .map(|tag| {
            json!({
                "mediaType": media::INDEX,
                "digest": set.index.descriptor.digest.as_str(),
                "size": set.index.descriptor.size,
                "annotations": {
                    annotation::REF_NAME: tag,
                    "io.containerd.image.name": format!(
                        "{}:{tag}",
                        crate::image::reference::familiar_repository(&set.repository)
                    ),
                },
            })
        })
        .collect();
    // Attachments are listed untagged, as oras lists them: a reader finds them by `subject`.
    manifests.extend(set.attachments.iter().map(|a| {
        json!({
            "mediaType": media::MANIFEST,
            "artifactType": a.artifact_type(),
            "digest": a.manifest.descriptor.digest.as_str(),
            "size": a.manifest.descriptor.size,
        })
    }));
    manifests.extend(extra);
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
    let blob = |d: &crate::util::digest::Digest| format!("blobs/sha256/{}", d.hex());
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
    if !set.attachments.is_empty() {
        let empty = crate::util::digest::Digest::of(crate::image::document::EMPTY_CONFIG);
        files.push((
            blob(&empty),
            Source::Bytes(crate::image::document::EMPTY_CONFIG.to_vec()),
        ));
    }
    for a in &set.attachments {
        for doc in [&a.document, &a.manifest] {
            files.push((
                blob(&doc.descriptor.digest),
                Source::Bytes(doc.bytes.clone()),
            ));
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files.dedup_by(|a, b| a.0 == b.0);
    Ok(files)
}

/// The `index.json` entry of the image tagged `tag` in the layout at `dir` (or of its one
/// tagged image), never a cosign signature or attestation image.
pub fn image_entry(dir: &Path, tag: Option<&str>) -> Result<Value> {
    let path = dir.join("index.json");
    let bytes = fs::read(&path)
        .with_context(|| format!("{} is not an OCI layout (no index.json)", dir.display()))?;
    let index: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("index.json in {} is not JSON", dir.display()))?;
    let entries = index["manifests"].as_array().cloned().unwrap_or_default();
    tagged_entry(dir, &entries, tag)
}

fn tagged_entry(dir: &Path, entries: &[Value], tag: Option<&str>) -> Result<Value> {
    let tagged: Vec<&Value> = entries
        .iter()
        .filter(|e| !signing::is_cosign_entry(e))
        .filter(
            |e| match (tag, e["annotations"][annotation::REF_NAME].as_str()) {
                (Some(t), Some(name)) => t == name,
                (None, Some(_)) => true,
                (_, None) => false,
            },
        )
        .collect();
    let digests: std::collections::BTreeSet<&str> =
        tagged.iter().filter_map(|e| e["digest"].as_str()).collect();
    match (digests.len(), tag, tagged.first()) {
        (1, _, Some(e)) => Ok((*e).clone()),
        (0, Some(t), _) => bail!("{} has no image tagged `{t}`", dir.display()),
        (0, None, _) => bail!("{} has no tagged image", dir.display()),
        _ => bail!(
            "{} holds several images: name one as oci:DIR:TAG",
            dir.display()
        ),
    }
}

/// What a layout attaches to each platform manifest of its image tagged `tag` (or of its one
/// tagged image): the artifacts `index.json` lists (as this sink and `oras` write them) whose
/// `subject` is that manifest, with their documents. Reading only.
pub fn attached(dir: &Path, tag: Option<&str>) -> Result<Vec<AttachedTo>> {
    let read = |digest: &str| -> Result<Vec<u8>> {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            bail!("{} lists a malformed digest `{digest}`", dir.display());
        }
        let path = dir.join("blobs/sha256").join(hex);
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        if Digest::of(&bytes).as_str() != digest {
            bail!("{} does not match its digest", path.display());
        }
        Ok(bytes)
    };
    let json = |bytes: &[u8], what: &str| -> Result<Value> {
        serde_json::from_slice(bytes)
            .with_context(|| format!("{what} in {} is not JSON", dir.display()))
    };
    let index_path = dir.join("index.json");
    let index = json(
        &fs::read(&index_path)
            .with_context(|| format!("{} is not an OCI layout (no index.json)", dir.display()))?,
        "index.json",
    )?;
    let entries = index["manifests"].as_array().cloned().unwrap_or_default();
    let top_entry = tagged_entry(dir, &entries, tag)?;
    let top = top_entry["digest"].as_str().unwrap_or_default();
    let top_doc = json(&read(top)?, "the image index")?;
    let manifests: Vec<(String, String)> = if top_doc["manifests"].is_array() {
        top_doc["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| Some((platform_of(m), m["digest"].as_str()?.to_string())))
            .collect()
    } else {
        vec![("?".to_string(), top.to_string())]
    };
    // Every artifact the layout lists, with its subject.
    let mut artifacts = Vec::new();
    for e in entries.iter().filter(|e| e.get("artifactType").is_some()) {
        let Some(digest) = e["digest"].as_str() else {
            continue;
        };
        let m = json(&read(digest)?, "an artifact manifest")?;
        let subject = m["subject"]["digest"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let layer = m["layers"][0]["digest"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        artifacts.push((
            subject,
            digest.to_string(),
            e["artifactType"].clone(),
            layer,
        ));
    }
    let mut out = Vec::new();
    for (platform, manifest) in manifests {
        let mut documents = Vec::new();
        for (subject, artifact, kind, layer) in &artifacts {
            if *subject != manifest {
                continue;
            }
            documents.push(ReadBack {
                artifact_type: kind.as_str().unwrap_or_default().to_string(),
                artifact: artifact.parse().map_err(|e: String| anyhow::anyhow!(e))?,
                document: read(layer)?,
            });
        }
        out.push(AttachedTo {
            platform,
            manifest: manifest.parse().map_err(|e: String| anyhow::anyhow!(e))?,
            documents,
        });
    }
    Ok(out)
}

impl LayoutDir {
    /// The set's cosign images ([`signing::to_sign`]), each added to the one the layout at
    /// `dest` lists under its tag already (as a push adds to a registry's): their blobs are
    /// added to `files`, their `index.json` entries returned. A tag whose image lists every
    /// layer already is left as it is.
    fn signatures(
        &self,
        dest: &Path,
        set: &ImageSet,
        signer: &dyn Signer,
        files: &mut Vec<(String, Source)>,
    ) -> Result<Vec<Value>> {
        let blob = |d: &Digest| format!("blobs/sha256/{}", d.hex());
        let mut entries = Vec::new();
        for item in signing::to_sign(set, &set.repository, signer)? {
            let existing = cosign_manifest(dest, &item.tag);
            let image =
                signature::cosign_image(existing.as_deref(), item.layers).with_context(|| {
                    format!(
                        "{} lists {} as something that is not a cosign image\nhelp: remove \
                         that entry, or choose another dest",
                        dest.display(),
                        item.tag
                    )
                })?;
            let Some(image) = image else {
                continue;
            };
            for doc in image.added.iter().chain([&image.config, &image.manifest]) {
                files.push((
                    blob(&doc.descriptor.digest),
                    Source::Bytes(doc.bytes.clone()),
                ));
            }
            entries.push(signing::layout_entry(&item.tag, item.kind, &image));
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
        files.dedup_by(|a, b| a.0 == b.0);
        Ok(entries)
    }
}

/// The manifest of the cosign image the layout at `dest` lists under the ref name `tag`, if
/// it lists one (and its blob matches its digest).
pub fn cosign_manifest(dest: &Path, tag: &str) -> Option<Vec<u8>> {
    let index: Value = serde_json::from_slice(&fs::read(dest.join("index.json")).ok()?).ok()?;
    let entry = index["manifests"]
        .as_array()?
        .iter()
        .find(|e| signing::is_cosign_entry(e) && e["annotations"][annotation::REF_NAME] == tag)?;
    let digest: Digest = entry["digest"].as_str()?.parse().ok()?;
    let bytes = fs::read(dest.join("blobs/sha256").join(digest.hex())).ok()?;
    (Digest::of(&bytes) == digest).then_some(bytes)
}

impl Sink for LayoutDir {
    fn describe(&self) -> String {
        format!("OCI layout {}", self.dest.display())
    }

    fn write(&self, set: &ImageSet, store: &BlobStore) -> Result<Report> {
        let dest = &crate::util::atomic::follow_dest(&self.dest)?;
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
        let mut files = layout_files(set, store)?;
        let mut index = index_json(set)?;
        if let Some(signer) = &self.signer {
            let extra = self.signatures(dest, set, signer.as_ref(), &mut files)?;
            index = index_json_with(set, extra)?;
            if let Some(f) = files.iter_mut().find(|(p, _)| p == "index.json") {
                f.1 = Source::Bytes(index.clone());
            }
        }
        if dest.join("oci-layout").is_file() {
            let done = super::layout_merge::update(dest, &files, &index)?;
            let mut notes = Vec::new();
            if !done.repaired.is_empty() {
                notes.push(format!(
                    "{} blob(s) in {} did not match their digest and were written again: {}",
                    done.repaired.len(),
                    dest.display(),
                    done.repaired.join(", ")
                ));
            }
            return Ok(Report {
                destination: self.describe(),
                notes,
            });
        }
        let parent = crate::util::atomic::parent_dir(dest)?;
        // 0755 less the umask, as any directory a user makes: others can read the layout.
        let tmp = tempfile::Builder::new()
            .prefix(&crate::util::temp::prefix("layout"))
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .tempdir_in(&parent)
            .with_context(|| {
                format!(
                    "cannot write in {}: choose a writable dest",
                    parent.display()
                )
            })?;
        let live = crate::util::temp::register(tmp.path());
        fs::create_dir_all(tmp.path().join("blobs/sha256"))?;
        for (path, source) in files {
            let to = tmp.path().join(&path);
            match source {
                Source::Bytes(b) => fs::write(&to, b),
                Source::Path(p) => store::copy_out(&p, &to),
            }
            .with_context(|| format!("writing {}", to.display()))?;
        }
        // Swap the new layout in: the old one (if any) is moved aside first and removed after.
        // Named `old` with our pid, a kill between the two renames leaves it for a later run's
        // sweep, which moves it back when nothing took its place.
        let old = parent.join(format!(
            "{}{}",
            crate::util::temp::prefix(crate::util::temp::OLD),
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
        drop(live);
        if had_old {
            let _ = fs::remove_dir_all(&old);
        }
        Ok(Report {
            destination: self.describe(),
            notes: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::model::Compression;
    use crate::sink::testing::built;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn an_identical_layout_is_left_alone_and_files_we_did_not_write_stay() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path().join("store")).unwrap();
        let set = built(&store, Compression::Gzip(6));
        let sink = LayoutDir {
            signer: None,
            dest: dir.path().join("out"),
        };
        let inode = || fs::metadata(sink.dest.join("index.json")).unwrap().ino();
        sink.write(&set, &store).unwrap();
        let first = inode();
        let written = fs::read(sink.dest.join("index.json")).unwrap();
        sink.write(&set, &store).unwrap();
        assert_eq!(inode(), first, "an identical layout was rewritten");
        // A file of someone else's, in the layout or among its blobs, is never removed.
        let stray = sink.dest.join("blobs/sha256/stray");
        fs::write(&stray, b"x").unwrap();
        fs::write(sink.dest.join("NOTES.txt"), b"mine").unwrap();
        sink.write(&set, &store).unwrap();
        assert!(stray.exists() && sink.dest.join("NOTES.txt").exists());
        assert_eq!(inode(), first);
        assert_eq!(fs::read(sink.dest.join("index.json")).unwrap(), written);
    }

    /// A blob of the layout damaged in place (same size) is noticed by its digest and written
    /// again; the run says so.
    #[test]
    fn a_damaged_blob_is_repaired_on_a_rerun() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path().join("store")).unwrap();
        let set = built(&store, Compression::Gzip(6));
        let sink = LayoutDir {
            signer: None,
            dest: dir.path().join("out"),
        };
        sink.write(&set, &store).unwrap();
        let layer = &set.images[0].layers[0].blob.digest;
        let path = sink.dest.join("blobs/sha256").join(layer.hex());
        let mut bytes = fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n / 2] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        let report = sink.write(&set, &store).unwrap();
        assert_eq!(Digest::of(&fs::read(&path).unwrap()), *layer);
        assert!(
            report.notes.iter().any(|n| n.contains(layer.as_str())),
            "{report:?}"
        );
    }
}
