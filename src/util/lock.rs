//! Advisory locks on a directory that several runs share (the blob store of a target directory,
//! the base-layer cache), as cargo locks its own `.package-cache`: every run that reads or writes
//! the directory holds a shared lock ([`DirLock::shared`]) on its `.lock` file for as long as it
//! uses it, and the one thing that may remove what another run is reading (trimming) needs the
//! lock exclusively ([`DirLock::exclusive_now`]), which it only takes when no other run holds
//! it: concurrent runs share, and a trim waits for a quiet moment (it is skipped, not waited for).
//! A run that starts while another trims waits, and says so.
//!
//! `flock(2)` locks belong to an open file, so one process holds one [`DirLock`] per directory
//! (kept in a table here); every store opened on that directory shares it. The lock goes with
//! the last handle, or with the process.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, Weak};

use rustix::fs::{flock, FlockOperation};

/// The lock file's name inside the locked directory.
pub const LOCK_FILE: &str = ".lock";

/// A shared advisory lock on one directory, held while the value lives.
#[derive(Debug)]
pub struct DirLock {
    file: File,
    /// Serializes conversions within this process.
    converting: Mutex<()>,
}

/// This process's locks, by directory.
static HELD: LazyLock<Mutex<HashMap<PathBuf, Weak<DirLock>>>> = LazyLock::new(Mutex::default);

impl DirLock {
    /// Takes (or shares this process's) shared lock on `dir`, which must exist. When another
    /// run holds it exclusively, `waiting` is called once and the call waits for it.
    pub fn shared(dir: &Path, waiting: impl FnOnce()) -> io::Result<Arc<DirLock>> {
        let key = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lock) = held.get(&key).and_then(Weak::upgrade) {
            return Ok(lock);
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))?;
        if let Err(e) = flock(&file, FlockOperation::NonBlockingLockShared) {
            if e != rustix::io::Errno::WOULDBLOCK {
                return Err(e.into());
            }
            waiting();
            flock(&file, FlockOperation::LockShared)?;
        }
        let lock = Arc::new(DirLock {
            file,
            converting: Mutex::new(()),
        });
        held.retain(|_, w| w.strong_count() > 0);
        held.insert(key, Arc::downgrade(&lock));
        Ok(lock)
    }

    /// Runs `f` holding the lock exclusively, when no other run holds it at this moment; `None`
    /// (and `f` not run) when one does. The lock is shared again afterwards (waiting, if another
    /// run took it exclusively in between).
    pub fn exclusive_now<T>(&self, f: impl FnOnce() -> T) -> Option<T> {
        let _one = self.converting.lock().unwrap_or_else(|p| p.into_inner());
        let got = flock(&self.file, FlockOperation::NonBlockingLockExclusive).is_ok();
        let out = got.then(f);
        // A failed conversion may have dropped the shared lock (flock(2) converts by removing
        // the old lock first): take it again either way.
        let _ = flock(&self.file, FlockOperation::LockShared);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Another open file of the same lock stands for another run.
    fn other_run(dir: &Path) -> File {
        File::options()
            .write(true)
            .open(dir.join(LOCK_FILE))
            .unwrap()
    }

    #[test]
    fn runs_share_and_a_trim_waits_for_a_quiet_moment() {
        let dir = tempfile::tempdir().unwrap();
        let lock = DirLock::shared(dir.path(), || panic!("nothing holds it")).unwrap();
        let again = DirLock::shared(dir.path(), || panic!("this process shares it")).unwrap();
        assert!(Arc::ptr_eq(&lock, &again));
        // Alone: the trim runs.
        assert_eq!(lock.exclusive_now(|| 7), Some(7));
        // Another run shares it: no trim, and both still share.
        let other = other_run(dir.path());
        flock(&other, FlockOperation::NonBlockingLockShared).unwrap();
        assert_eq!(lock.exclusive_now(|| 7), None);
        assert!(flock(&other, FlockOperation::NonBlockingLockExclusive).is_err());
        flock(&other, FlockOperation::Unlock).unwrap();
        // Another run trims: a new run waits, and says so.
        drop((lock, again));
        flock(&other, FlockOperation::NonBlockingLockExclusive).unwrap();
        let released = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            drop(other);
        });
        let mut waited = false;
        let _lock = DirLock::shared(dir.path(), || waited = true).unwrap();
        assert!(waited);
        released.join().unwrap();
    }
}
