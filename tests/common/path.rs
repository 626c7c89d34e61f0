//! A `PATH` with some programs hidden, to show how the tool behaves on a machine that lacks them:
//! every `PATH` directory that holds a hidden name is replaced by a directory of symlinks to all
//! of its other entries; the rest of `PATH` is kept as it is.

use std::ffi::OsString;
use std::path::PathBuf;

/// A `PATH` without `hidden`, and the directory that holds its symlink farms (keep it alive while
/// the `PATH` is used).
pub fn path_without(hidden: &[&str]) -> (tempfile::TempDir, OsString) {
    let farm = tempfile::tempdir().unwrap();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for (i, dir) in std::env::split_paths(&path).enumerate() {
        if !hidden.iter().any(|h| dir.join(h).exists()) {
            dirs.push(dir);
            continue;
        }
        let copy = farm.path().join(i.to_string());
        std::fs::create_dir_all(&copy).unwrap();
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let name = e.file_name();
            if hidden.iter().any(|h| name == *h) {
                continue;
            }
            std::os::unix::fs::symlink(e.path(), copy.join(&name)).unwrap();
        }
        dirs.push(copy);
    }
    (farm, std::env::join_paths(dirs).unwrap())
}
