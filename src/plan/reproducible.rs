//! What makes two builds of one commit give the same digests on any machine: one timestamp for
//! everything ([`Epoch`]: `SOURCE_DATE_EPOCH`, else the last commit's time, else 0) and the
//! machine's own paths taken out of the binaries ([`Remap`]: the workspace root, the target
//! directory, `CARGO_HOME` and the toolchain's sysroot become fixed names through rustc's
//! `--remap-path-prefix`; panic locations and debug info carry them otherwise). Planning decides
//! both; `route/rustflags.rs` hands the flags to cargo.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::plan::git::GitInfo;
use crate::util::env::Environment;

/// Where the timestamp of every image comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EpochSource {
    SourceDateEpoch,
    GitCommit,
    Zero,
}

/// Seconds since 1970 for `created` and every file's mtime, and where they came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Epoch {
    pub seconds: u64,
    pub source: EpochSource,
}

impl Epoch {
    /// `SOURCE_DATE_EPOCH` (`value`, when set and not blank; it must be whole seconds), else the
    /// time of the commit checked out, else 0.
    pub fn decide(value: Option<&str>, git: Option<&GitInfo>) -> Result<Epoch> {
        if let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) {
            let seconds = v.parse::<u64>().with_context(|| {
                format!(
                    "SOURCE_DATE_EPOCH=`{v}` is not a number of seconds since 1970 (try `git log -1 --format=%ct`)"
                )
            })?;
            let last = crate::image::document::LAST_TIMESTAMP;
            if seconds > last {
                anyhow::bail!(
                    "SOURCE_DATE_EPOCH=`{v}` is after 9999-12-31T23:59:59Z ({last}), the last time an \
                     image config can hold: use a commit time (`git log -1 --format=%ct`)"
                );
            }
            return Ok(Epoch {
                seconds,
                source: EpochSource::SourceDateEpoch,
            });
        }
        Ok(match git {
            Some(g) => Epoch {
                seconds: g.commit_time,
                source: EpochSource::GitCommit,
            },
            None => Epoch {
                seconds: 0,
                source: EpochSource::Zero,
            },
        })
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = crate::image::document::rfc3339(self.seconds);
        match self.source {
            EpochSource::SourceDateEpoch => write!(f, "{t} (from SOURCE_DATE_EPOCH)"),
            EpochSource::GitCommit => write!(f, "{t} (the last commit's time)"),
            EpochSource::Zero => write!(
                f,
                "{t} (no SOURCE_DATE_EPOCH and not a git checkout: the epoch)"
            ),
        }
    }
}

/// One path prefix of this machine and the fixed name it becomes in binaries.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Remap {
    pub from: PathBuf,
    pub to: &'static str,
}

impl Remap {
    /// The rustc flag, one word (cargo's encoded flags keep it whole, spaces included).
    pub fn flag(&self) -> String {
        format!("--remap-path-prefix={}={}", self.from.display(), self.to)
    }
}

/// The fixed names: the same on every machine.
pub const WORKSPACE: &str = "/workspace";
pub const TARGET: &str = "/workspace/target";
pub const CARGO_HOME: &str = "/cargo";
pub const SYSROOT: &str = "/rust/toolchain";

/// The remaps for a build: the sysroot, `CARGO_HOME`, the workspace root and the target
/// directory (each also as its canonical path when that differs), ordered so that a longer
/// prefix comes later: rustc applies the last flag that matches, so a target directory inside
/// the workspace becomes `/workspace/target`, wherever it is.
pub fn remaps(
    workspace_root: &Path,
    target_dir: &Path,
    cargo_home: Option<&Path>,
    sysroot: &Path,
) -> Vec<Remap> {
    let mut out: Vec<Remap> = Vec::new();
    let mut add = |from: &Path, to: &'static str| {
        let canonical = from.canonicalize().ok();
        for p in std::iter::once(from.to_path_buf()).chain(canonical) {
            if p.as_os_str().is_empty() || p == Path::new("/") {
                continue;
            }
            if !out.iter().any(|r| r.from == p) {
                out.push(Remap { from: p, to });
            }
        }
    };
    add(sysroot, SYSROOT);
    if let Some(home) = cargo_home {
        add(home, CARGO_HOME);
    }
    add(workspace_root, WORKSPACE);
    add(target_dir, TARGET);
    // Stable: equal lengths keep the order above.
    out.sort_by_key(|r| r.from.as_os_str().len());
    out
}

/// `CARGO_HOME` as cargo finds it: the variable, else `~/.cargo`.
pub fn cargo_home(env: &Environment) -> Option<PathBuf> {
    env.path("CARGO_HOME")
        .or_else(|| env.path("HOME").map(|h| h.join(".cargo")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(time: u64) -> GitInfo {
        GitInfo {
            commit: "c".into(),
            commit_time: time,
            dirty: false,
            remote: None,
        }
    }

    #[test]
    fn the_epoch_comes_from_the_variable_then_git_then_zero() {
        let e = Epoch::decide(Some(" 1700000000 "), Some(&git(5))).unwrap();
        assert_eq!(
            (e.seconds, e.source),
            (1_700_000_000, EpochSource::SourceDateEpoch)
        );
        let e = Epoch::decide(Some(""), Some(&git(5))).unwrap();
        assert_eq!((e.seconds, e.source), (5, EpochSource::GitCommit));
        let e = Epoch::decide(None, None).unwrap();
        assert_eq!((e.seconds, e.source), (0, EpochSource::Zero));
        assert!(e.to_string().starts_with("1970-01-01T00:00:00Z"));
        let err = Epoch::decide(Some("yesterday"), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("SOURCE_DATE_EPOCH=`yesterday`"), "{err}");
    }

    #[test]
    fn longer_prefixes_come_last() {
        let r = remaps(
            Path::new("/nonexistent/ws"),
            Path::new("/nonexistent/ws/target"),
            Some(Path::new("/nonexistent/h/.cargo")),
            Path::new("/nonexistent/h/.rustup/toolchains/stable"),
        );
        let flags: Vec<String> = r.iter().map(Remap::flag).collect();
        assert_eq!(
            flags,
            [
                "--remap-path-prefix=/nonexistent/ws=/workspace",
                "--remap-path-prefix=/nonexistent/h/.cargo=/cargo",
                "--remap-path-prefix=/nonexistent/ws/target=/workspace/target",
                "--remap-path-prefix=/nonexistent/h/.rustup/toolchains/stable=/rust/toolchain",
            ]
        );
    }
}
