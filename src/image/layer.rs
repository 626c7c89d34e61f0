//! Layers: a deterministic tar, compressed, with its `digest`, size and `diff_id` computed in the
//! one streaming pass that writes it into the blob store. Nothing is held in memory: each file is
//! read once, through tar → diff_id hasher → compressor → digest hasher → staged blob file.
//!
//! Determinism: entries sorted by path, every parent directory present, owner and modes fixed by
//! the [`LayerSpec`], mtime from the caller (`SOURCE_DATE_EPOCH` or 0), no user or group names,
//! gzip in fixed-size blocks (`pgzip.rs`), and zstd always in multi-thread mode (its output differs from
//! single-thread mode but not between worker counts) so digests never depend on the machine.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::image::model::{Compression, Descriptor, Layer};
use crate::image::store::BlobStore;
use crate::util::digest::HashingWriter;

/// Where a file's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A file on disk, read when the layer is packed.
    Path(PathBuf),
    /// Small generated content (passwd, group).
    Bytes(Vec<u8>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File(Source),
    Symlink(String),
}

/// One entry of a layer, at a path relative to the image root (`usr/local/bin/app`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its path in the layer, relative (`usr/local/bin/api`).
    pub path: String,
    /// What it is.
    pub kind: EntryKind,
    /// Its permission bits.
    pub mode: u32,
    /// Its owner.
    pub uid: u64,
    /// Its group.
    pub gid: u64,
}

impl Entry {
    /// A directory owned by root.
    pub fn dir(path: &str, mode: u32) -> Entry {
        Entry::new(path, EntryKind::Dir, mode)
    }

    /// A file owned by root, its bytes from `source`.
    pub fn file(path: &str, source: Source, mode: u32) -> Entry {
        Entry::new(path, EntryKind::File(source), mode)
    }

    fn new(path: &str, kind: EntryKind, mode: u32) -> Entry {
        Entry {
            path: path.to_string(),
            kind,
            mode,
            uid: 0,
            gid: 0,
        }
    }

    /// This entry, owned by `uid:gid`.
    pub fn owned_by(mut self, uid: u64, gid: u64) -> Entry {
        self.uid = uid;
        self.gid = gid;
        self
    }
}

/// What goes into one layer, and the history line that describes it.
#[derive(Clone, Debug, Default)]
pub struct LayerSpec {
    /// The entries, in the order they are written.
    pub entries: Vec<Entry>,
    /// The history line of the image config (`created_by`).
    pub created_by: String,
}

/// How layers are written.
#[derive(Clone, Copy, Debug)]
pub struct PackOptions {
    /// How the layer is compressed.
    pub compression: Compression,
    /// Modification time of every entry, seconds since the epoch.
    pub mtime: u64,
}

/// Compression worker threads. The count does not change the bytes (see the module docs and
/// `pgzip.rs`), only speed.
fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

/// Normalizes an image path: no leading `/`, no `.`/`..`/empty components.
pub fn normalize(path: &str) -> Result<String> {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => bail!("image path `{path}` contains `..`: use an absolute path like /app/data"),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        bail!("image path `{path}` names the root directory: give a file path like /app/data");
    }
    Ok(parts.join("/"))
}

/// The entries of `spec`, normalized, with missing parent directories added (0755, root), sorted
/// by path. Two entries at one path are an error naming it.
fn complete(spec: &LayerSpec) -> Result<Vec<Entry>> {
    let mut by_path: BTreeMap<String, Entry> = BTreeMap::new();
    for e in &spec.entries {
        let path = normalize(&e.path)?;
        if by_path.contains_key(&path) {
            bail!("two files are put at /{path} in one layer: give each its own destination");
        }
        by_path.insert(path.clone(), Entry { path, ..e.clone() });
    }
    let paths: Vec<String> = by_path.keys().cloned().collect();
    for path in paths {
        let mut parent = path.as_str();
        while let Some((p, _)) = parent.rsplit_once('/') {
            parent = p;
            if let Some(existing) = by_path.get(parent) {
                if existing.kind != EntryKind::Dir {
                    bail!("/{parent} is a file but /{path} needs it to be a directory");
                }
                continue;
            }
            by_path.insert(parent.to_string(), Entry::dir(parent, 0o755));
        }
    }
    Ok(by_path.into_values().collect())
}

/// The compressor in the middle of the pipeline.
enum Compressor<W: Write> {
    Gzip(crate::image::pgzip::ParGzWriter<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
    None(W),
}

impl<W: Write> Compressor<W> {
    fn new(inner: W, compression: Compression) -> io::Result<Self> {
        Ok(match compression {
            Compression::Gzip(level) => Compressor::Gzip(crate::image::pgzip::ParGzWriter::new(
                inner,
                u32::from(level),
                workers(),
            )),
            Compression::Zstd(level) => {
                let mut enc = zstd::stream::write::Encoder::new(inner, i32::from(level))?;
                enc.multithread(workers() as u32)?;
                enc.include_checksum(false)?;
                Compressor::Zstd(enc)
            }
            Compression::None => Compressor::None(inner),
        })
    }

    fn finish(self) -> io::Result<W> {
        match self {
            Compressor::Gzip(e) => e.finish(),
            Compressor::Zstd(e) => e.finish(),
            Compressor::None(w) => Ok(w),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::Gzip(e) => e.write(buf),
            Compressor::Zstd(e) => e.write(buf),
            Compressor::None(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::Gzip(e) => e.flush(),
            Compressor::Zstd(e) => e.flush(),
            Compressor::None(w) => w.flush(),
        }
    }
}

/// Writes the tar of `spec` to `out`, reading each file once.
pub fn write_tar<W: Write>(spec: &LayerSpec, mtime: u64, out: W) -> Result<W> {
    let entries = complete(spec)?;
    let mut tar = tar::Builder::new(out);
    for e in &entries {
        let mut header = tar::Header::new_gnu();
        header.set_mode(e.mode);
        header.set_uid(e.uid);
        header.set_gid(e.gid);
        header.set_mtime(mtime);
        match &e.kind {
            EntryKind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                tar.append_data(&mut header, format!("{}/", e.path), io::empty())
            }
            EntryKind::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                tar.append_link(&mut header, &e.path, target)
            }
            EntryKind::File(Source::Bytes(bytes)) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(bytes.len() as u64);
                tar.append_data(&mut header, &e.path, bytes.as_slice())
            }
            EntryKind::File(Source::Path(src)) => {
                let file = File::open(src)
                    .with_context(|| format!("opening {} for /{}", src.display(), e.path))?;
                let len = file
                    .metadata()
                    .with_context(|| format!("reading the size of {}", src.display()))?
                    .len();
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(len);
                // `take` guards against a file that grows while it is read: the header is final.
                tar.append_data(&mut header, &e.path, file.take(len))
            }
        }
        .with_context(|| format!("adding /{} to a layer", e.path))?;
    }
    tar.into_inner().context("finishing a layer's tar stream")
}

/// Packs `spec` into `store` in one pass and describes the result.
pub fn pack(spec: &LayerSpec, opts: &PackOptions, store: &BlobStore) -> Result<Layer> {
    let staged = store.stage()?;
    let compressed = HashingWriter::new(staged.file);
    let compressor =
        Compressor::new(compressed, opts.compression).context("starting the layer compressor")?;
    let tar_out = write_tar(spec, opts.mtime, HashingWriter::new(compressor))?;
    let (compressor, diff_id, _tar_len) = tar_out.finish();
    let compressed = compressor.finish().context("finishing layer compression")?;
    let (file, digest, size) = compressed.finish();
    store.commit(crate::image::store::StagedBlob { file }, &digest)?;
    Ok(packed_layer(spec, opts, digest, size, diff_id))
}

/// The description of a layer we packed into the store.
fn packed_layer(
    spec: &LayerSpec,
    opts: &PackOptions,
    digest: crate::util::digest::Digest,
    size: u64,
    diff_id: crate::util::digest::Digest,
) -> Layer {
    Layer {
        blob: Descriptor {
            media_type: opts.compression.media_type().to_string(),
            digest,
            size,
        },
        diff_id,
        created_by: spec.created_by.clone(),
        remote: None,
    }
}

/// Bump when anything that shapes a layer's bytes changes (tar headers, gzip blocks, …), so
/// records written by an older version are not trusted.
const PACK_CACHE_VERSION: &str = "imagebuild-pack-v1";

/// What identifies a pack's result: the options, and for every entry its path, kind, owner and
/// mode, plus for files on disk their identity (device, inode, size, modification time) and for
/// generated content its digest. A rebuilt binary always has a new mtime or inode.
fn cache_key(spec: &LayerSpec, opts: &PackOptions) -> Result<String> {
    use std::os::unix::fs::MetadataExt;
    let mut key = format!(
        "{PACK_CACHE_VERSION}\n{}:{}:{}\n",
        opts.compression,
        opts.compression.level(),
        opts.mtime
    );
    for e in &spec.entries {
        key.push_str(&format!("{}:{:o}:{}:{}:", e.path, e.mode, e.uid, e.gid));
        match &e.kind {
            EntryKind::Dir => key.push_str("dir"),
            EntryKind::Symlink(t) => key.push_str(&format!("link:{t}")),
            EntryKind::File(Source::Bytes(b)) => {
                key.push_str(crate::util::digest::Digest::of(b).as_str())
            }
            EntryKind::File(Source::Path(p)) => {
                let m = std::fs::metadata(p).with_context(|| format!("reading {}", p.display()))?;
                key.push_str(&format!(
                    "{}:{}:{}:{}:{}.{}",
                    p.display(),
                    m.dev(),
                    m.ino(),
                    m.len(),
                    m.mtime(),
                    m.mtime_nsec()
                ));
            }
        }
        key.push('\n');
    }
    Ok(crate::util::digest::Digest::of(key.as_bytes())
        .hex()
        .to_string())
}

/// Like [`pack`], but a spec packed before with the same inputs (see `cache_key`) is not packed
/// again: its record in the store names the blob, which must still be there. Also says whether
/// the layer was reused (`true`) rather than packed now.
pub fn pack_or_reuse(
    spec: &LayerSpec,
    opts: &PackOptions,
    store: &BlobStore,
    ui: &crate::util::report::Reporter,
) -> Result<(Layer, bool)> {
    let records = store.root().join("packed");
    let record_path = records.join(cache_key(spec, opts)?);
    if let Ok(bytes) = std::fs::read(&record_path) {
        if let Ok(r) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            let parsed = (
                r["digest"]
                    .as_str()
                    .and_then(|d| d.parse::<crate::util::digest::Digest>().ok()),
                r["diff_id"]
                    .as_str()
                    .and_then(|d| d.parse::<crate::util::digest::Digest>().ok()),
                r["size"].as_u64(),
            );
            if let (Some(digest), Some(diff_id), Some(size)) = parsed {
                if store.verified(&digest, Some(size), ui) {
                    return Ok((packed_layer(spec, opts, digest, size, diff_id), true));
                }
            }
        }
    }
    let layer = pack(spec, opts, store)?;
    let record = serde_json::json!({
        "digest": layer.blob.digest.as_str(),
        "diff_id": layer.diff_id.as_str(),
        "size": layer.blob.size,
    });
    // A record that cannot be written only costs a re-pack next time.
    let _ = crate::util::atomic::write(&record_path, &serde_json::to_vec(&record)?);
    Ok((layer, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::digest::Digest;

    #[test]
    fn pack_cached_reuses_and_notices_changes() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path().join("store")).unwrap();
        let bin = dir.path().join("app");
        std::fs::write(&bin, vec![1u8; 10_000]).unwrap();
        let spec = LayerSpec {
            entries: vec![Entry::file("app", Source::Path(bin.clone()), 0o755)],
            created_by: "x".into(),
        };
        let opts = PackOptions {
            compression: Compression::Gzip(6),
            mtime: 0,
        };
        let ui = crate::util::report::Reporter::silent();
        let first = pack_or_reuse(&spec, &opts, &store, &ui).unwrap().0;
        assert_eq!(pack_or_reuse(&spec, &opts, &store, &ui).unwrap().0, first);
        // A rebuilt file (new content, new mtime) is packed again.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&bin, vec![2u8; 10_000]).unwrap();
        let second = pack_or_reuse(&spec, &opts, &store, &ui).unwrap().0;
        assert_ne!(second.diff_id, first.diff_id);
        // A missing blob is packed again rather than trusted.
        std::fs::remove_file(store.path(&second.blob.digest)).unwrap();
        assert_eq!(pack_or_reuse(&spec, &opts, &store, &ui).unwrap().0, second);
        assert!(store.contains(&second.blob.digest));
    }

    fn spec(content: &[u8]) -> LayerSpec {
        LayerSpec {
            entries: vec![
                Entry::file("/usr/local/bin/app", Source::Bytes(content.to_vec()), 0o755),
                Entry::dir("/tmp", 0o1777),
                Entry::file(
                    "etc/passwd",
                    Source::Bytes(b"root:x:0:0::/root:/sbin/nologin\n".to_vec()),
                    0o644,
                ),
            ],
            created_by: "test".into(),
        }
    }

    fn names(tar_bytes: &[u8]) -> Vec<(String, u32, u64)> {
        let mut ar = tar::Archive::new(tar_bytes);
        ar.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.mode().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn tar_is_sorted_with_parents_and_fixed_metadata() {
        let bytes = write_tar(&spec(b"bin"), 1234, Vec::new()).unwrap();
        let got = names(&bytes);
        let paths: Vec<&str> = got.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "etc/",
                "etc/passwd",
                "tmp/",
                "usr/",
                "usr/local/",
                "usr/local/bin/",
                "usr/local/bin/app"
            ]
        );
        assert!(got.iter().all(|(_, _, m)| *m == 1234));
        assert_eq!(got[2].1, 0o1777);
        assert_eq!(got[6].1, 0o755);
    }

    #[test]
    fn duplicate_paths_and_dotdot_are_refused() {
        let mut s = spec(b"x");
        s.entries.push(Entry::dir("usr/local/bin/app", 0o755));
        assert!(write_tar(&s, 0, Vec::new())
            .unwrap_err()
            .to_string()
            .contains("/usr/local/bin/app"));
        let s = LayerSpec {
            entries: vec![Entry::dir("/a/../../etc", 0o755)],
            created_by: String::new(),
        };
        assert!(write_tar(&s, 0, Vec::new()).is_err());
    }

    #[test]
    fn long_paths_survive() {
        let long = format!("/opt/{}/file", "d".repeat(150));
        let s = LayerSpec {
            entries: vec![Entry::file(&long, Source::Bytes(b"x".to_vec()), 0o644)],
            created_by: String::new(),
        };
        let bytes = write_tar(&s, 0, Vec::new()).unwrap();
        assert!(names(&bytes).iter().any(|(p, _, _)| *p == long[1..]));
    }

    fn decompress(c: Compression, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match c {
            Compression::Gzip(_) => {
                flate2::read::GzDecoder::new(bytes)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Compression::Zstd(_) => {
                zstd::stream::read::Decoder::new(bytes)
                    .unwrap()
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Compression::None => out = bytes.to_vec(),
        }
        out
    }

    #[test]
    fn pack_digests_match_the_bytes_for_every_compression() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        for c in [
            Compression::Gzip(6),
            Compression::Zstd(3),
            Compression::None,
        ] {
            let opts = PackOptions {
                compression: c,
                mtime: 0,
            };
            let layer = pack(&spec(&vec![7u8; 300_000]), &opts, &store).unwrap();
            let blob = std::fs::read(store.path(&layer.blob.digest)).unwrap();
            assert_eq!(Digest::of(&blob), layer.blob.digest, "{c}");
            assert_eq!(blob.len() as u64, layer.blob.size, "{c}");
            let tar = decompress(c, &blob);
            assert_eq!(Digest::of(&tar), layer.diff_id, "{c}");
            assert_eq!(layer.blob.media_type, c.media_type());
            // Packing again gives the same bytes.
            let again = pack(&spec(&vec![7u8; 300_000]), &opts, &store).unwrap();
            assert_eq!(again, layer, "{c} is not deterministic");
        }
    }
}
