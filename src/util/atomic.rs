//! The one way files are written: into a temporary file beside the destination, renamed into
//! place when whole, so a reader (or a later run) never sees half a file and a failed or killed
//! run leaves at most a temporary file, never a damaged destination.
//!
//! [`AtomicFile`] streams; [`write`](fn@write) writes small bytes at once; [`parent_dir`] makes the
//! directory a destination goes in, with an error that says what to do.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A file being written, renamed to its destination by [`AtomicFile::commit`]; dropped without
/// a commit, it is removed.
pub struct AtomicFile {
    out: BufWriter<tempfile::NamedTempFile>,
    /// Dropped after `out` (fields drop in order): the file is gone by then.
    _live: crate::util::temp::Live,
}

impl AtomicFile {
    /// Starts a temporary file of `kind` in `dir` (named as [`temp::prefix`](crate::util::temp::prefix)
    /// says, removed on a signal, and swept by a later run if a kill leaves it). `mode` sets its
    /// permissions (less the umask); None keeps the temporary file's own 0600.
    pub fn stage_in(dir: &Path, kind: &str, mode: Option<u32>) -> Result<AtomicFile> {
        let mut b = tempfile::Builder::new();
        let prefix = crate::util::temp::prefix(kind);
        b.prefix(&prefix);
        if let Some(m) = mode {
            b.permissions(std::os::unix::fs::PermissionsExt::from_mode(m));
        }
        let tmp = b.tempfile_in(dir).with_context(|| {
            format!("cannot write in {}: choose a writable place", dir.display())
        })?;
        let live = crate::util::temp::register(tmp.path());
        Ok(AtomicFile {
            out: BufWriter::with_capacity(1 << 20, tmp),
            _live: live,
        })
    }

    /// Starts a file that will become `dest` (0644 less the umask, as any file a user writes),
    /// creating `dest`'s directory if needed.
    pub fn create(dest: &Path, kind: &str) -> Result<AtomicFile> {
        let dir = parent_dir(dest)?;
        AtomicFile::stage_in(&dir, kind, Some(0o644))
    }

    /// Flushes and gives the temporary file itself, to read back (it is removed when dropped).
    pub fn into_file(self) -> Result<std::fs::File> {
        let tmp = self
            .out
            .into_inner()
            .map_err(|e| e.into_error())
            .context("writing a temporary file")?;
        // Unlinked now: only the open file remains, gone when closed.
        let (file, path) = tmp.into_parts();
        drop(path);
        Ok(file)
    }

    /// Flushes and renames the file to `dest`, replacing what was there.
    pub fn commit(self, dest: &Path) -> Result<()> {
        let tmp = self
            .out
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("writing {}", dest.display()))?;
        tmp.persist(dest)
            .map_err(|e| e.error)
            .with_context(|| format!("moving a new file into {}", dest.display()))?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.out.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Writes `bytes` to `dest` through a temporary file renamed into place. A `dest` that is a
/// symlink is written through ([`follow_dest`]): the file it points at is replaced, the link
/// stays.
pub fn write(dest: &Path, bytes: &[u8]) -> Result<()> {
    let dest = follow_dest(dest)?;
    let mut f = AtomicFile::create(&dest, "write")?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", dest.display()))?;
    f.commit(&dest)
}

/// Where an output named `dest` is really written: a symlink is followed (to the end of a chain,
/// even when its target does not exist yet), so replacing the output replaces what the link
/// points at and the link stays; any other path is itself.
pub fn follow_dest(dest: &Path) -> Result<PathBuf> {
    let mut path = dest.to_path_buf();
    // Bounded like the kernel's own limit on symlink chains.
    for _ in 0..40 {
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::read_link(&path)
                    .with_context(|| format!("reading the symlink {}", path.display()))?;
                path = match path.parent() {
                    Some(p) => p.join(target),
                    None => target,
                };
            }
            _ => return Ok(path),
        }
    }
    anyhow::bail!(
        "{} is a loop of symlinks: point it at a directory or file, or choose another dest",
        dest.display()
    )
}

/// The directory `dest` goes in, created if needed, with a clear error when it cannot be; the
/// temporaries a killed run left there are swept ([`temp::sweep`](crate::util::temp::sweep)).
pub fn parent_dir(dest: &Path) -> Result<PathBuf> {
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
    crate::util::temp::sweep(&parent);
    Ok(parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_appears_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("sub/out.txt");
        let mut f = AtomicFile::create(&dest, "t").unwrap();
        f.write_all(b"hello").unwrap();
        assert!(!dest.exists(), "nothing at dest before the commit");
        f.commit(&dest).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"hello");
        // Dropped without a commit: no file, and no temporary left behind.
        let other = dir.path().join("sub/never.txt");
        drop(AtomicFile::create(&other, "t").unwrap());
        assert!(!other.exists());
        let left: Vec<_> = fs::read_dir(dir.path().join("sub")).unwrap().collect();
        assert_eq!(left.len(), 1);
        write(&dest, b"again").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"again");
    }

    #[test]
    fn symlinked_dests_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("real", &link).unwrap();
        assert_eq!(follow_dest(&link).unwrap(), real);
        assert_eq!(follow_dest(&real).unwrap(), real);
        let a = dir.path().join("a");
        std::os::unix::fs::symlink("a", &a).unwrap();
        assert!(follow_dest(&a).is_err(), "a loop is refused");
    }
}
