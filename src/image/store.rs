//! The blob store: a content-addressed directory (`blobs/sha256/<hex>`) where layers are packed
//! once and every sink reads them from. Writes go to a temporary file in the same directory and
//! are renamed into place under their digest, so a blob present in the store is always whole.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};

use crate::util::atomic::AtomicFile;
use crate::util::digest::Digest;

/// A content-addressed directory of blobs.
#[derive(Clone, Debug)]
pub struct BlobStore {
    root: PathBuf,
    /// The blobs this process moved into place (shared by clones), as opposed to those an
    /// earlier run left: see [`BlobStore::written_here`].
    written: Arc<Mutex<HashSet<Digest>>>,
}

/// A blob being written: a temporary file in the store, renamed to its digest by [`BlobStore::commit`].
pub struct StagedBlob {
    pub file: AtomicFile,
}

impl BlobStore {
    /// Opens (creating if needed) the store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<BlobStore> {
        let root = root.into();
        fs::create_dir_all(root.join("sha256"))
            .with_context(|| format!("creating the blob store at {}", root.display()))?;
        Ok(BlobStore {
            root,
            written: Arc::default(),
        })
    }

    /// Where the blob with `digest` lives (whether or not it is there yet).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.root.join("sha256").join(digest.hex())
    }

    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Starts writing a blob whose digest is not known yet.
    pub fn stage(&self) -> Result<StagedBlob> {
        let file = AtomicFile::stage_in(&self.root.join("sha256"), ".staging-", None)
            .with_context(|| format!("creating a blob in the store at {}", self.root.display()))?;
        Ok(StagedBlob { file })
    }

    /// Moves a finished blob into place under `digest`. A blob already present is kept (same
    /// digest, same bytes) and the staged copy dropped.
    pub fn commit(&self, staged: StagedBlob, digest: &Digest) -> Result<PathBuf> {
        let dest = self.path(digest);
        if dest.is_file() {
            return Ok(dest);
        }
        staged.file.commit(&dest)?;
        if let Ok(mut w) = self.written.lock() {
            w.insert(digest.clone());
        }
        Ok(dest)
    }

    /// Whether this process wrote the blob (rather than finding it from an earlier run).
    pub fn written_here(&self, digest: &Digest) -> bool {
        self.written.lock().is_ok_and(|w| w.contains(digest))
    }

    /// Stores small bytes (a config, a manifest) and returns their digest.
    pub fn put(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = Digest::of(bytes);
        if !self.contains(&digest) {
            let mut staged = self.stage()?;
            io::Write::write_all(&mut staged.file, bytes).context("writing a blob")?;
            self.commit(staged, &digest)?;
        }
        Ok(digest)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// Places a copy of `src` at `dest`: a hard link when both are on one filesystem, else a copy.
pub fn link_or_copy(src: &Path, dest: &Path) -> io::Result<()> {
    match fs::hard_link(src, dest) {
        Ok(()) => Ok(()),
        Err(_) => fs::copy(src, dest).map(|_| ()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_is_content_addressed_and_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let d1 = store.put(b"abc").unwrap();
        let d2 = store.put(b"abc").unwrap();
        assert_eq!(d1, d2);
        assert_eq!(fs::read(store.path(&d1)).unwrap(), b"abc");
        // No staging files are left behind.
        let names: Vec<_> = fs::read_dir(dir.path().join("sha256")).unwrap().collect();
        assert_eq!(names.len(), 1);
    }
}
