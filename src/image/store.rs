//! The blob store: a content-addressed directory (`blobs/sha256/<hex>`) where layers are packed
//! once and every sink reads them from. Writes go to a temporary file in the same directory and
//! are renamed into place under their digest, so a blob present in the store is whole when
//! written. A blob is trusted again only after [`BlobStore::verified`]: its size always, and its
//! bytes re-hashed whenever the stamp recorded when it was written (size, inode, ctime — which no
//! user can set back) no longer matches the file. A damaged blob is dropped with a warning and
//! the caller makes it again. Blobs are written 0644 (less the umask): outputs copied from them
//! are readable by other users.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use std::os::unix::fs::MetadataExt;

use anyhow::{Context, Result};

use crate::util::atomic::AtomicFile;
use crate::util::digest::{Digest, HashingWriter};
use crate::util::lock::DirLock;
use crate::util::report::Reporter;

/// The folder (under the store's root) of the stamps recorded when blobs are written.
const STAMPS: &str = "stamps";

/// A content-addressed directory of blobs.
#[derive(Clone, Debug)]
pub struct BlobStore {
    root: PathBuf,
    /// The shared lock every run using this store holds ([`crate::util::lock`]): trimming takes
    /// it exclusively, so it never removes a blob another run is reading.
    lock: Arc<DirLock>,
    /// The blobs this process moved into place (shared by clones), as opposed to those an
    /// earlier run left: see [`BlobStore::written_here`].
    written: Arc<Mutex<HashSet<Digest>>>,
}

/// A blob being written: a temporary file in the store, renamed to its digest by [`BlobStore::commit`].
pub struct StagedBlob {
    pub file: AtomicFile,
}

impl BlobStore {
    /// Opens (creating if needed) the store rooted at `root`, sharing its lock with other runs
    /// (waiting while one trims it).
    pub fn open(root: impl Into<PathBuf>) -> Result<BlobStore> {
        BlobStore::open_with(root.into(), || {})
    }

    /// [`BlobStore::open`], saying through `ui` when it waits for another run's trim.
    pub fn open_reporting(root: impl Into<PathBuf>, ui: &Reporter) -> Result<BlobStore> {
        let root = root.into();
        let shown = root.display().to_string();
        BlobStore::open_with(root, || {
            ui.status(
                "Waiting",
                &format!("for another run to finish trimming the blob store at {shown}"),
            )
        })
    }

    fn open_with(root: PathBuf, waiting: impl FnOnce()) -> Result<BlobStore> {
        fs::create_dir_all(root.join("sha256"))
            .with_context(|| format!("creating the blob store at {}", root.display()))?;
        let lock = DirLock::shared(&root, waiting)
            .with_context(|| format!("locking the blob store at {}", root.display()))?;
        // What a killed run left: staged blobs, and half-written stamps and records.
        if let Ok(entries) = fs::read_dir(&root) {
            for e in entries.flatten() {
                crate::util::temp::sweep(&e.path());
            }
        }
        Ok(BlobStore {
            root,
            lock,
            written: Arc::default(),
        })
    }

    /// Where the blob with `digest` lives (whether or not it is there yet).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.root.join("sha256").join(digest.hex())
    }

    /// Whether a file is there under `digest`, unchecked: use [`BlobStore::verified`] before
    /// trusting its bytes.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Whether the blob under `digest` is whole (`size` bytes when given, and its bytes hash to
    /// `digest`). The hash is skipped when the stamp recorded at write time still matches the
    /// file; a mismatched stamp costs one re-hash, after which the stamp is renewed. A damaged
    /// blob is removed from the store with a warning, and false returned: the caller makes it
    /// again.
    pub fn verified(&self, digest: &Digest, size: Option<u64>, ui: &Reporter) -> bool {
        let path = self.path(digest);
        let Ok(meta) = fs::metadata(&path) else {
            return false;
        };
        let problem = if !meta.is_file() {
            Some("it is not a file".to_string())
        } else if let Some(s) = size.filter(|s| *s != meta.len()) {
            Some(format!("it holds {} bytes, not {s}", meta.len()))
        } else if fs::read_to_string(self.stamp_path(digest)).ok() == Some(stamp(&meta)) {
            None
        } else {
            match hash_file(&path) {
                Ok(d) if d == *digest => {
                    self.write_stamp(digest);
                    None
                }
                Ok(d) => Some(format!("its bytes hash to {d}")),
                Err(e) => Some(format!("it cannot be read ({e})")),
            }
        };
        match problem {
            None => {
                // The stamp's mtime is the blob's last use, for [`BlobStore::trim`].
                let _ = fs::File::options()
                    .write(true)
                    .open(self.stamp_path(digest))
                    .and_then(|f| f.set_modified(std::time::SystemTime::now()));
                true
            }
            Some(p) => {
                ui.warn(&format!(
                    "dropped the damaged blob {digest} from {}: {p}; it is made again",
                    self.root.display()
                ));
                let _ = fs::remove_file(&path);
                let _ = fs::remove_file(self.stamp_path(digest));
                false
            }
        }
    }

    fn stamp_path(&self, digest: &Digest) -> PathBuf {
        self.root.join(STAMPS).join(digest.hex())
    }

    /// Records the blob's stamp; a stamp that cannot be written only costs a re-hash later.
    fn write_stamp(&self, digest: &Digest) {
        if let Ok(meta) = fs::metadata(self.path(digest)) {
            let _ = crate::util::atomic::write(&self.stamp_path(digest), stamp(&meta).as_bytes());
        }
    }

    /// Starts writing a blob whose digest is not known yet.
    pub fn stage(&self) -> Result<StagedBlob> {
        let file = AtomicFile::stage_in(&self.root.join("sha256"), "blob", Some(0o644))
            .with_context(|| format!("creating a blob in the store at {}", self.root.display()))?;
        Ok(StagedBlob { file })
    }

    /// Moves a finished blob (whose bytes the caller hashed to `digest`) into place, replacing
    /// what was there: a blob already present may be the damaged copy this one remakes. Records
    /// its stamp.
    pub fn commit(&self, staged: StagedBlob, digest: &Digest) -> Result<PathBuf> {
        let dest = self.path(digest);
        staged.file.commit(&dest)?;
        self.write_stamp(digest);
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
        let mut staged = self.stage()?;
        io::Write::write_all(&mut staged.file, bytes).context("writing a blob")?;
        self.commit(staged, &digest)?;
        Ok(digest)
    }

    /// Puts a copy of the file at `from`, whose bytes are `digest`, into the store: hashed on
    /// the way, so a copy that does not match is refused rather than stored.
    pub fn copy_in(&self, from: &Path, digest: &Digest) -> Result<PathBuf> {
        let mut src =
            fs::File::open(from).with_context(|| format!("reading {}", from.display()))?;
        let staged = self.stage()?;
        let mut w = HashingWriter::new(staged.file);
        io::copy(&mut src, &mut w)
            .with_context(|| format!("copying {} into {}", from.display(), self.root.display()))?;
        let (file, got, _) = w.finish();
        anyhow::ensure!(
            got == *digest,
            "{} changed while it was copied (its bytes hash to {got}, not {digest})",
            from.display()
        );
        self.commit(StagedBlob { file }, digest)
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Bounds the store to `limit` bytes of blobs: the least recently used (written or
    /// verified) go first, never one used since `keep_since` (this run's). Records that named
    /// a removed blob only cost a re-pack or re-fetch. Returns the blobs and bytes removed, or
    /// `None` when another run is using the store (then nothing is removed: it may be reading
    /// any of them).
    pub fn trim(&self, limit: u64, keep_since: std::time::SystemTime) -> Option<(usize, u64)> {
        self.lock
            .exclusive_now(|| self.trim_alone(limit, keep_since))
    }

    fn trim_alone(&self, limit: u64, keep_since: std::time::SystemTime) -> (usize, u64) {
        let Ok(entries) = fs::read_dir(self.root.join("sha256")) else {
            return (0, 0);
        };
        let mut blobs: Vec<(std::time::SystemTime, u64, PathBuf, PathBuf)> = Vec::new();
        let mut total = 0;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(meta) = e.metadata() else { continue };
            if name.starts_with('.') || !meta.is_file() {
                continue;
            }
            let stamp = self.root.join(STAMPS).join(&name);
            let used = [fs::metadata(&stamp), Ok(meta.clone())]
                .into_iter()
                .filter_map(|m| m.and_then(|m| m.modified()).ok())
                .max()
                .unwrap_or(std::time::UNIX_EPOCH);
            total += meta.len();
            blobs.push((used, meta.len(), e.path(), stamp));
        }
        blobs.sort();
        let (mut count, mut freed) = (0, 0);
        for (used, size, path, stamp) in blobs {
            if total <= limit || used >= keep_since {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                let _ = fs::remove_file(stamp);
                total -= size;
                freed += size;
                count += 1;
            }
        }
        (count, freed)
    }
}

/// What identifies one state of a file: its size, inode and ctime (which changes on every write
/// and which no user can set back, unlike mtime).
fn stamp(meta: &fs::Metadata) -> String {
    format!(
        "{} {} {}.{}",
        meta.len(),
        meta.ino(),
        meta.ctime(),
        meta.ctime_nsec()
    )
}

/// The digest of the file at `path`, read once.
pub fn hash_file(path: &Path) -> io::Result<Digest> {
    let mut w = HashingWriter::new(io::sink());
    io::copy(&mut fs::File::open(path)?, &mut w)?;
    Ok(w.finish().1)
}

/// Places a copy of the blob `src` at `dest`, never a hard link: an output must not share an
/// inode with a cache that later runs write into (or that a user damages), or damage there
/// would reach a layout written earlier. `std::fs::copy` goes through `copy_file_range`, which
/// btrfs and XFS answer with a reflink (shared extents, copy on write) and other filesystems
/// with an in-kernel copy, so no crate is needed for the reflink (`io::copy` between two files
/// uses it too). The copy is 0644 less the umask, whatever the store's file has.
pub fn copy_out(src: &Path, dest: &Path) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(dest)?;
    io::copy(&mut fs::File::open(src)?, &mut out).map(|_| ())
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

    #[test]
    fn trim_removes_the_least_recently_used_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let ui = Reporter::silent();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        let a = store.put(&[1u8; 100]).unwrap();
        let b = store.put(&[2u8; 100]).unwrap();
        for d in [&a, &b] {
            for p in [store.path(d), store.stamp_path(d)] {
                fs::File::options()
                    .write(true)
                    .open(p)
                    .unwrap()
                    .set_modified(old)
                    .unwrap();
            }
        }
        let since = std::time::SystemTime::now() - std::time::Duration::from_secs(1);
        assert!(store.verified(&a, Some(100), &ui), "a is used now");
        let c = store.put(&[3u8; 100]).unwrap();
        assert_eq!(
            store.trim(150, since),
            Some((1, 100)),
            "b, the least recently used, goes"
        );
        assert!(store.contains(&a) && !store.contains(&b) && store.contains(&c));
        assert_eq!(store.trim(0, since), Some((0, 0)), "blobs of this run stay");
        // Another run using the store: nothing is trimmed, however far over the bound.
        let other = fs::File::options()
            .write(true)
            .open(dir.path().join(crate::util::lock::LOCK_FILE))
            .unwrap();
        rustix::fs::flock(&other, rustix::fs::FlockOperation::NonBlockingLockShared).unwrap();
        assert_eq!(store.trim(0, std::time::SystemTime::now()), None);
        assert!(store.contains(&a) && store.contains(&c));
        drop(other);
        assert_eq!(
            store.trim(0, std::time::SystemTime::now()),
            Some((2, 200)),
            "alone again: trimmed"
        );
    }

    #[test]
    fn a_damaged_blob_is_noticed_and_dropped() {
        use std::io::{Seek, Write};
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let ui = Reporter::silent();
        let d = store.put(b"hello blob").unwrap();
        assert!(store.verified(&d, Some(10), &ui));
        assert!(!store.verified(&d, Some(11), &ui), "a wrong size is damage");
        assert!(!store.contains(&d), "and the blob is dropped");
        let d = store.put(b"hello blob").unwrap();
        // One byte flipped in place, same size: the stamp no longer matches, the re-hash fails.
        let mut f = fs::OpenOptions::new()
            .write(true)
            .open(store.path(&d))
            .unwrap();
        f.seek(io::SeekFrom::Start(3)).unwrap();
        f.write_all(b"X").unwrap();
        drop(f);
        assert!(!store.verified(&d, Some(10), &ui));
        assert!(!store.contains(&d));
        // A good blob without a stamp is re-hashed once and trusted.
        let d = store.put(b"hello blob").unwrap();
        fs::remove_file(store.stamp_path(&d)).unwrap();
        assert!(store.verified(&d, None, &ui));
        assert!(store.stamp_path(&d).is_file());
    }
}
