//! What git says about the workspace, read once while planning: the commit checked out (for the
//! `revision` annotation and provenance), whether the tree has changes not committed (marked on
//! the revision), the commit's time (the default timestamp of every image) and the `origin`
//! remote (the `source` when Cargo.toml names no repository). Reading only; a workspace that is
//! not a git checkout, or a machine with no git, gives `None`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::util::process;

/// The checkout a workspace lives in.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GitInfo {
    /// The full commit id of HEAD.
    pub commit: String,
    /// Seconds since the epoch of HEAD's commit time.
    pub commit_time: u64,
    /// Whether tracked files differ from HEAD.
    pub dirty: bool,
    /// `remote.origin.url`, when there is one.
    pub remote: Option<String>,
}

impl GitInfo {
    /// The `revision` value: the commit, with `-dirty` when the tree has changes.
    pub fn revision(&self) -> String {
        if self.dirty {
            format!("{}-dirty", self.commit)
        } else {
            self.commit.clone()
        }
    }

    /// Reads the checkout `dir` is in, or `None` when it is not one (or git is missing).
    pub fn read(dir: &Path) -> Option<GitInfo> {
        let head = git(dir, &["log", "-1", "--format=%H %ct"])?;
        let (commit, time) = head.split_once(' ')?;
        let commit_time = time.trim().parse().ok()?;
        let dirty = !git(dir, &["status", "--porcelain", "--untracked-files=no"])?.is_empty();
        let remote = git(dir, &["config", "--get", "remote.origin.url"]).filter(|r| !r.is_empty());
        Some(GitInfo {
            commit: commit.to_string(),
            commit_time,
            dirty,
            remote,
        })
    }
}

/// `git -C dir ARGS`, trimmed stdout, or `None` when it fails.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir).args(args);
    let out = process::run(&mut cmd, Duration::from_secs(30), "git").ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_directory_is_no_checkout() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(GitInfo::read(dir.path()), None);
    }

    #[test]
    fn revision_marks_a_dirty_tree() {
        let mut g = GitInfo {
            commit: "abc".into(),
            commit_time: 1,
            dirty: false,
            remote: None,
        };
        assert_eq!(g.revision(), "abc");
        g.dirty = true;
        assert_eq!(g.revision(), "abc-dirty");
    }
}
