//! `type=cacheonly`: everything but the output. The build compiles, checks and packs as for any
//! other output, the digests are printed as usual, and this sink verifies the result instead of
//! writing it: every blob this run packed has its digest and size and decompresses to its
//! `diff_id` (a layer reused from the cache is checked for its presence and size), every
//! manifest names its config and layers, every config lists its layers' diff_ids and its
//! platform, and the index lists every manifest. It writes no output: the layers go through the
//! same layer cache as every other output's (`<target-dir>/imagebuild/.work/blobs`), so a second
//! run with nothing changed packs nothing and reads no layer back.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufReader, Read};

use anyhow::{ensure, Context, Result};
use serde_json::Value;

use super::{Report, Sink};
use crate::image::model::{media, Descriptor, ImageSet, Layer};
use crate::image::store::BlobStore;
use crate::util::digest::{Digest, HashingWriter};

pub struct CacheOnly;

impl Sink for CacheOnly {
    fn describe(&self) -> String {
        "nothing (cacheonly)".to_string()
    }

    fn write(&self, set: &ImageSet, store: &BlobStore) -> Result<Report> {
        let n = verify(set, store)
            .with_context(|| format!("cacheonly: verifying the images of {}", set.name))?;
        Ok(Report {
            destination: format!("nothing (cacheonly: {n} layers and every document verified)"),
            notes: Vec::new(),
        })
    }
}

/// Checks `set` against the store from first principles; returns the number of layers checked.
pub fn verify(set: &ImageSet, store: &BlobStore) -> Result<usize> {
    let index: Value = serde_json::from_slice(&set.index.bytes).context("the index is not JSON")?;
    ensure!(
        index["mediaType"] == media::INDEX,
        "the index has media type {}",
        index["mediaType"]
    );
    let listed = index["manifests"].as_array().cloned().unwrap_or_default();
    ensure!(
        listed.len() == set.images.len(),
        "the index lists {} manifests for {} images",
        listed.len(),
        set.images.len()
    );
    let mut checked = BTreeSet::new();
    for (img, entry) in set.images.iter().zip(&listed) {
        let platform = img.platform.to_string();
        same_descriptor(entry, &img.manifest.descriptor)
            .with_context(|| format!("the index entry for {platform}"))?;
        ensure!(
            entry["platform"]["os"] == img.platform.os.as_str()
                && entry["platform"]["architecture"] == img.platform.architecture.as_str(),
            "the index entry for {platform} names platform {}",
            entry["platform"]
        );
        let manifest: Value = serde_json::from_slice(&img.manifest.bytes)
            .with_context(|| format!("the {platform} manifest is not JSON"))?;
        same_descriptor(&manifest["config"], &img.config.descriptor)
            .with_context(|| format!("the {platform} manifest's config"))?;
        let layers = manifest["layers"].as_array().cloned().unwrap_or_default();
        ensure!(
            layers.len() == img.layers.len(),
            "the {platform} manifest lists {} layers, the image has {}",
            layers.len(),
            img.layers.len()
        );
        for (d, l) in layers.iter().zip(&img.layers) {
            same_descriptor(d, &l.blob)
                .with_context(|| format!("a layer of the {platform} manifest"))?;
        }
        let config: Value = serde_json::from_slice(&img.config.bytes)
            .with_context(|| format!("the {platform} config is not JSON"))?;
        ensure!(
            config["os"] == img.platform.os.as_str()
                && config["architecture"] == img.platform.architecture.as_str(),
            "the {platform} config says {}/{}",
            config["os"],
            config["architecture"]
        );
        let diff_ids: Vec<&str> = config["rootfs"]["diff_ids"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let ours: Vec<&str> = img.layers.iter().map(|l| l.diff_id.as_str()).collect();
        // A base's layers come first in the config; ours are the last ones.
        ensure!(
            diff_ids.ends_with(&ours),
            "the {platform} config's diff_ids {diff_ids:?} do not end with its layers' {ours:?}"
        );
        for l in &img.layers {
            if checked.insert(l.blob.digest.clone()) {
                if store.written_here(&l.blob.digest) {
                    verify_layer(l, store)?;
                } else {
                    verify_cached(l, store)?;
                }
            }
        }
    }
    Ok(checked.len())
}

/// Whether a JSON descriptor matches ours.
fn same_descriptor(json: &Value, ours: &Descriptor) -> Result<()> {
    ensure!(
        json["digest"] == ours.digest.as_str()
            && json["size"] == ours.size
            && json["mediaType"] == ours.media_type.as_str(),
        "descriptor {json} does not match {} {} ({} bytes)",
        ours.media_type,
        ours.digest,
        ours.size
    );
    Ok(())
}

/// A layer the cache already held (an earlier run packed it, hashing it as it was written; every
/// output trusts it so): it is there, with its size. Reading it back would make a warm cacheonly
/// run cost a full decompression of every layer.
fn verify_cached(layer: &Layer, store: &BlobStore) -> Result<()> {
    let path = store.path(&layer.blob.digest);
    let size = std::fs::metadata(&path)
        .with_context(|| format!("layer {} is not in the blob store", layer.blob.digest))?
        .len();
    ensure!(
        size == layer.blob.size,
        "layer {} in the store has {size} bytes (expected {} bytes)",
        layer.blob.digest,
        layer.blob.size
    );
    Ok(())
}

/// Reads a layer's blob once: its digest and size, and the digest of what it decompresses to.
fn verify_layer(layer: &Layer, store: &BlobStore) -> Result<()> {
    let path = store.path(&layer.blob.digest);
    let file = File::open(&path)
        .with_context(|| format!("layer {} is not in the blob store", layer.blob.digest))?;
    // Tee the compressed bytes through a hasher while decompressing them.
    let mut compressed = HashingReader::new(BufReader::new(file));
    let mut tar = HashingWriter::new(io::sink());
    io::copy(
        &mut crate::image::blob::tar_reader(&layer.blob.media_type, &mut compressed)?,
        &mut tar,
    )
    .with_context(|| format!("decompressing layer {}", layer.blob.digest))?;
    // Whatever a decoder left unread still counts toward the blob's digest.
    io::copy(&mut compressed, &mut io::sink())?;
    let (_, diff_id, _) = tar.finish();
    let (digest, size) = compressed.finish();
    ensure!(
        digest == layer.blob.digest && size == layer.blob.size,
        "layer {} in the store has digest {digest} and {size} bytes (expected {} bytes)",
        layer.blob.digest,
        layer.blob.size
    );
    ensure!(
        diff_id == layer.diff_id,
        "layer {} decompresses to {diff_id}, not its diff_id {}",
        layer.blob.digest,
        layer.diff_id
    );
    Ok(())
}

/// A reader that hashes and counts what is read through it.
struct HashingReader<R> {
    inner: R,
    hasher: HashingWriter<io::Sink>,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: HashingWriter::new(io::sink()),
        }
    }

    fn finish(self) -> (Digest, u64) {
        let (_, d, n) = self.hasher.finish();
        (d, n)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        io::Write::write_all(&mut self.hasher, &buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::model::Compression;
    use crate::image::platform::Platform;
    use crate::sink::testing::built;
    use crate::util::digest::Digest;

    #[test]
    fn a_good_build_verifies_for_every_compression() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        for c in [
            Compression::Gzip(6),
            Compression::Zstd(3),
            Compression::None,
        ] {
            assert_eq!(verify(&built(&store, c), &store).unwrap(), 1, "{c}");
        }
    }

    #[test]
    fn a_layer_from_the_cache_is_checked_for_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let set = built(&BlobStore::open(dir.path()).unwrap(), Compression::Gzip(6));
        // A later run: the store holds the blob from before.
        let later = BlobStore::open(dir.path()).unwrap();
        assert_eq!(verify(&set, &later).unwrap(), 1);
        let path = later.path(&set.images[0].layers[0].blob.digest);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        let e = verify(&set, &later).unwrap_err();
        assert!(format!("{e:#}").contains("bytes"), "{e:#}");
    }

    #[test]
    fn a_damaged_blob_or_document_fails() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let set = built(&store, Compression::Gzip(6));
        let path = store.path(&set.images[0].layers[0].blob.digest);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        assert!(verify(&set, &store).is_err());

        let set = built(&store, Compression::Zstd(3));
        let mut wrong = set.clone();
        wrong.images[0].layers[0].diff_id = Digest::of(b"other");
        let e = format!("{:#}", verify(&wrong, &store).unwrap_err());
        assert!(e.contains("diff_id"), "{e}");
        let mut wrong = set.clone();
        wrong.images[0].platform = Platform::new("linux", "arm64", None);
        assert!(verify(&wrong, &store).is_err());
        std::fs::remove_file(store.path(&set.images[0].layers[0].blob.digest)).unwrap();
        let e = verify(&set, &store).unwrap_err().to_string();
        assert!(e.contains("not in the blob store"), "{e}");
    }
}
