//! What git says about the workspace, read once while planning: the commit checked out (for the
//! `revision` annotation and provenance), whether the tree has changes not committed (marked on
//! the revision), the commit's time (the default timestamp of every image) and the `origin`
//! remote (the `source` when Cargo.toml names no repository). Commit times are kept by commit id
//! (`commit-times.json` in the work directory), so a run asks git once (`git status`). Reading
//! the checkout only; a workspace that is not a git checkout, or a machine with no git, gives
//! `None`.

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
    /// `remote.origin.url`, when there is one and it is wanted (a selected package names no
    /// `repository`, so the remote is its `source`); serialized as its [`web_url`]: no
    /// credentials, no local path.
    #[serde(serialize_with = "shown_remote")]
    pub remote: Option<String>,
}

fn shown_remote<S: serde::Serializer>(remote: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match remote.as_deref().and_then(web_url) {
        Some(web) => s.serialize_some(&web),
        None => s.serialize_none(),
    }
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
    /// `remote` says whether `remote.origin.url` is wanted (it is asked only then); `times`
    /// is where commit times are kept by commit id (a commit's time never changes, so a kept
    /// one is never stale), sparing a `git log` on every run.
    pub fn read(dir: &Path, remote: bool, times: Option<&Path>) -> Option<GitInfo> {
        // One `git status` gives both the commit (`# branch.oid`) and whether the tree has
        // changes; the remote is asked at the same time. Each is a process start, most of what
        // they cost.
        let (status, remote) = std::thread::scope(|s| {
            let origin =
                remote.then(|| s.spawn(|| git(dir, &["config", "--get", "remote.origin.url"])));
            let status = git(
                dir,
                &[
                    "status",
                    "--porcelain=v2",
                    "--branch",
                    "--untracked-files=no",
                ],
            );
            (status, origin.and_then(|o| o.join().ok().flatten()))
        });
        let (commit, dirty) = parse_status(&status?)?;
        let commit_time = match times.and_then(|t| kept_time(t, &commit)) {
            Some(t) => t,
            None => {
                let t: u64 = git(dir, &["log", "-1", "--format=%ct", &commit])?
                    .trim()
                    .parse()
                    .ok()?;
                if let Some(file) = times {
                    keep_time(file, &commit, t);
                }
                t
            }
        };
        Some(GitInfo {
            commit,
            commit_time,
            dirty,
            remote: remote.filter(|r| !r.is_empty()),
        })
    }
}

/// The commit and whether tracked files changed, from `git status --porcelain=v2 --branch`:
/// `None` before the first commit (`# branch.oid (initial)`).
fn parse_status(out: &str) -> Option<(String, bool)> {
    let mut commit = None;
    let mut dirty = false;
    for line in out.lines() {
        match line.strip_prefix("# branch.oid ") {
            Some(oid) => commit = Some(oid.trim().to_string()),
            None => dirty |= !line.starts_with('#') && !line.trim().is_empty(),
        }
    }
    commit
        .filter(|c| c.len() >= 40 && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|c| (c, dirty))
}

/// How many commit times are kept.
const TIMES_KEPT: usize = 64;

fn kept_time(file: &Path, commit: &str) -> Option<u64> {
    let bytes = std::fs::read(file).ok()?;
    let map: std::collections::BTreeMap<String, u64> = serde_json::from_slice(&bytes).ok()?;
    map.get(commit).copied()
}

/// Keeps `commit`'s time (best effort), at most [`TIMES_KEPT`] of them.
fn keep_time(file: &Path, commit: &str, time: u64) {
    let mut map: std::collections::BTreeMap<String, u64> = std::fs::read(file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    if map.len() >= TIMES_KEPT {
        map.clear();
    }
    map.insert(commit.to_string(), time);
    if let Ok(bytes) = serde_json::to_vec(&map) {
        let _ = crate::util::atomic::write(file, &bytes);
    }
}

/// A remote as a web address for `source`: `git@host:a/b.git` and `ssh://git@host/a/b` become
/// `https://host/a/b`; any user name or password in the URL is dropped, and so are its query
/// and fragment (`?private_token=…`): they must never reach an image. Local paths and `file://`
/// remotes give `None`.
pub fn web_url(remote: &str) -> Option<String> {
    let r = remote.trim();
    let r = r.split(['?', '#']).next().unwrap_or(r);
    let (host, path) = if let Some(rest) = r
        .strip_prefix("https://")
        .or_else(|| r.strip_prefix("http://"))
        .or_else(|| r.strip_prefix("ssh://"))
        .or_else(|| r.strip_prefix("git://"))
    {
        let (authority, path) = rest.split_once('/')?;
        let host = authority.rsplit('@').next()?;
        // ssh's port is not the web server's.
        let host = if r.starts_with("ssh://") {
            host.split(':').next()?
        } else {
            host
        };
        (host.to_string(), path.to_string())
    } else if let Some((authority, path)) = r.split_once(':') {
        // scp-like `user@host:path`; a Windows drive or local path has no `@`/dot host.
        if authority.contains('/') || !authority.contains('.') && !authority.contains('@') {
            return None;
        }
        let host = authority.rsplit('@').next()?;
        (host.to_string(), path.to_string())
    } else {
        return None;
    };
    let path = path.trim_end_matches('/').trim_end_matches(".git");
    if host.is_empty() || path.is_empty() {
        return None;
    }
    Some(format!("https://{host}/{}", path.trim_start_matches('/')))
}

/// A web address given as the package's `repository`, as an image may publish it: a URL keeps
/// its scheme, host and path (user-info, query and fragment dropped); anything else is kept.
pub fn public_url(url: &str) -> String {
    let u = url.trim();
    let Some((scheme, rest)) = u.split_once("://") else {
        return u.to_string();
    };
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority.rsplit('@').next().unwrap_or(authority);
    if path.is_empty() {
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}://{host}/{path}")
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
    fn status_gives_the_commit_and_whether_the_tree_changed() {
        let oid = "0123456789abcdef0123456789abcdef01234567";
        let clean = format!("# branch.oid {oid}\n# branch.head main\n");
        assert_eq!(parse_status(&clean), Some((oid.to_string(), false)));
        let dirty = format!("{clean}1 .M N... 100644 100644 100644 a b src/main.rs\n");
        assert_eq!(parse_status(&dirty), Some((oid.to_string(), true)));
        assert_eq!(parse_status("# branch.oid (initial)\n"), None);
    }

    #[test]
    fn a_commit_time_is_kept_by_commit() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.json");
        assert_eq!(kept_time(&file, "a"), None);
        keep_time(&file, "a", 5);
        keep_time(&file, "b", 7);
        assert_eq!(
            (kept_time(&file, "a"), kept_time(&file, "b")),
            (Some(5), Some(7))
        );
    }

    #[test]
    fn a_plain_directory_is_no_checkout() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(GitInfo::read(dir.path(), true, None), None);
    }

    #[test]
    fn remotes_become_web_addresses_without_credentials() {
        for (remote, web) in [
            (
                "git@github.com:acme/api.git",
                Some("https://github.com/acme/api"),
            ),
            (
                "ssh://git@gitlab.example.com:2222/a/b",
                Some("https://gitlab.example.com/a/b"),
            ),
            (
                "https://user:s3cret@github.com/acme/api.git",
                Some("https://github.com/acme/api"),
            ),
            (
                "https://github.com/acme/api",
                Some("https://github.com/acme/api"),
            ),
            (
                "https://x:tok@gitlab.example.com/a.git",
                Some("https://gitlab.example.com/a"),
            ),
            (
                "https://gitlab.example.com/g/a.git?private_token=tok#frag",
                Some("https://gitlab.example.com/g/a"),
            ),
            (
                "git@gitlab.example.com:g/a.git?x=tok",
                Some("https://gitlab.example.com/g/a"),
            ),
            ("/srv/git/api.git", None),
            ("file:///srv/git/api", None),
            ("../api", None),
        ] {
            assert_eq!(web_url(remote).as_deref(), web, "{remote}");
        }
    }

    #[test]
    fn repository_urls_lose_credentials_query_and_fragment() {
        assert_eq!(
            public_url("https://u:p@github.com/acme/api?token=1#x"),
            "https://github.com/acme/api"
        );
        assert_eq!(public_url("https://github.com"), "https://github.com");
        assert_eq!(public_url("not a url"), "not a url");
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
