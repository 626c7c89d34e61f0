//! Gzip copies of zstd layers, for readers that know only gzip. Docker 20.10's `docker load`
//! fails on a zstd layer ("Error processing tar file(exit status 1): unexpected EOF", seen on
//! these machines), so the docker-archive writers hand it gzip: each zstd layer is decompressed
//! and recompressed once into the store, next to the original, and remembered in
//! `<store>/gzip-of-zstd/<zstd hex>` so later sinks and later runs reuse it.
//!
//! A layer's `diff_id` is the digest of its uncompressed tar, the same for both copies, so the
//! image config (whose `rootfs.diff_ids` list them) is unchanged; the copy is checked against it.
//! Gzip settings are pinned (level 6, header mtime 0, the zlib-rs backend) so the copy's digest
//! is the same wherever it is made.

use std::fs::{self, File};
use std::io::{self, BufReader};

use anyhow::{bail, Context, Result};

use crate::image::model::{media, Layer};
use crate::image::store::{BlobStore, StagedBlob};
use crate::util::digest::{Digest, HashingWriter};

const GZIP_LEVEL: u32 = 6;
const MAP_DIR: &str = "gzip-of-zstd";

/// `layers` with every zstd layer replaced by its gzip copy (made now if the store lacks it), and
/// whether any was replaced.
pub fn without_zstd(layers: &[Layer], store: &BlobStore) -> Result<(Vec<Layer>, bool)> {
    let mut replaced = false;
    let mut out = Vec::with_capacity(layers.len());
    for l in layers {
        if l.blob.media_type == media::LAYER_ZSTD {
            out.push(gzip_copy(l, store)?);
            replaced = true;
        } else {
            out.push(l.clone());
        }
    }
    Ok((out, replaced))
}

/// The note sinks print when they replaced zstd layers.
pub fn note(reader: &str) -> String {
    format!(
        "zstd layers were repacked as gzip for {reader} (Docker 20.10 cannot read zstd); the \
         image config and its diff_ids are unchanged"
    )
}

/// The gzip copy of one zstd layer.
fn gzip_copy(layer: &Layer, store: &BlobStore) -> Result<Layer> {
    let map_dir = store.root().join(MAP_DIR);
    let map_file = map_dir.join(layer.blob.digest.hex());
    if let Some(known) = remembered(&map_file, layer, store) {
        return Ok(known);
    }
    let source = store.path(&layer.blob.digest);
    let file = File::open(&source).with_context(|| {
        format!(
            "opening layer {} in the blob store to repack it as gzip",
            layer.blob.digest
        )
    })?;
    let staged = store.stage()?;
    let gz = flate2::GzBuilder::new().mtime(0).write(
        HashingWriter::new(staged.file),
        flate2::Compression::new(GZIP_LEVEL),
    );
    let mut tar = HashingWriter::new(gz);
    let mut zstd = crate::image::blob::tar_reader(media::LAYER_ZSTD, BufReader::new(file))
        .context("starting a zstd decoder")?;
    io::copy(&mut zstd, &mut tar)
        .with_context(|| format!("repacking layer {} as gzip", layer.blob.digest))?;
    let (gz, diff_id, _) = tar.finish();
    if diff_id != layer.diff_id {
        bail!(
            "layer {} decompresses to {diff_id}, not its diff_id {}: the blob store at {} is \
             damaged; remove it and build again",
            layer.blob.digest,
            layer.diff_id,
            store.root().display()
        );
    }
    let (file, digest, size) = gz.finish().context("finishing a gzip copy")?.finish();
    store.commit(StagedBlob { file }, &digest)?;
    // Remember the copy; losing this note only costs a repack, so write it atomically and move on.
    crate::util::atomic::write(&map_file, format!("{digest} {size}").as_bytes())?;
    Ok(gzip_layer(layer, digest, size))
}

fn gzip_layer(layer: &Layer, digest: Digest, size: u64) -> Layer {
    let mut l = layer.clone();
    l.blob.media_type = media::LAYER_GZIP.to_string();
    l.blob.digest = digest;
    l.blob.size = size;
    // The copy is ours, in the store, even when the original is a base layer in a registry.
    l.remote = None;
    l
}

/// The copy recorded for `layer`, when the record is readable and its blob is in the store.
fn remembered(map_file: &std::path::Path, layer: &Layer, store: &BlobStore) -> Option<Layer> {
    let text = fs::read_to_string(map_file).ok()?;
    let (digest, size) = text.trim().split_once(' ')?;
    let digest: Digest = digest.parse().ok()?;
    let size: u64 = size.parse().ok()?;
    // Sinks are given no Reporter: a damaged copy is noted at normal verbosity, then made again.
    let ui = crate::util::report::Reporter::silent();
    store
        .verified(&digest, Some(size), &ui)
        .then(|| gzip_layer(layer, digest, size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::layer::{pack, Entry, LayerSpec, PackOptions, Source};
    use crate::image::model::Compression;
    use std::io::Read;

    fn packed(store: &BlobStore, c: Compression) -> Layer {
        let spec = LayerSpec {
            entries: vec![Entry::file(
                "/usr/local/bin/app",
                Source::Bytes(vec![9u8; 200_000]),
                0o755,
            )],
            created_by: "test".into(),
        };
        let opts = PackOptions {
            compression: c,
            mtime: 0,
        };
        pack(&spec, &opts, store).unwrap()
    }

    #[test]
    fn zstd_layers_get_a_gzip_copy_with_the_same_diff_id_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let z = packed(&store, Compression::Zstd(3));
        let g = packed(&store, Compression::Gzip(6));
        let (out, replaced) = without_zstd(&[z.clone(), g.clone()], &store).unwrap();
        assert!(replaced);
        assert_eq!(out[1], g, "gzip layers are kept");
        let copy = &out[0];
        assert_eq!(copy.diff_id, z.diff_id);
        assert_eq!(copy.blob.media_type, media::LAYER_GZIP);
        let bytes = fs::read(store.path(&copy.blob.digest)).unwrap();
        assert_eq!(Digest::of(&bytes), copy.blob.digest);
        assert_eq!(bytes.len() as u64, copy.blob.size);
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut tar)
            .unwrap();
        assert_eq!(Digest::of(&tar), z.diff_id);
        // The second time comes from the record, and gives the same copy.
        let modified = fs::metadata(store.path(&copy.blob.digest))
            .unwrap()
            .modified()
            .unwrap();
        let (again, _) = without_zstd(&[z], &store).unwrap();
        assert_eq!(&again[0], copy);
        assert_eq!(
            fs::metadata(store.path(&copy.blob.digest))
                .unwrap()
                .modified()
                .unwrap(),
            modified
        );
    }

    #[test]
    fn a_damaged_zstd_blob_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let mut z = packed(&store, Compression::Zstd(3));
        z.diff_id = Digest::of(b"something else");
        let e = without_zstd(&[z], &store).unwrap_err().to_string();
        assert!(e.contains("damaged"), "{e}");
    }
}
