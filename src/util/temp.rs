//! Temporary files and directories that no run leaves behind. Each is named
//! `.imagebuild-<kind>-<pid>-<random>` ([`prefix`]), so a later run can tell whose it is. While
//! it lives it is registered ([`register`], a guard that unregisters when dropped), so Ctrl-C
//! (SIGINT) or SIGTERM removes it before the process exits ([`remove_on_signal`], installed
//! once by `main`). What neither can clean — a SIGKILL, a power cut — [`sweep`] removes the
//! next time a run writes in the same directory: a temporary whose owner process is gone and
//! which is older than the running process.

use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};
use std::time::SystemTime;

const MARK: &str = ".imagebuild-";

/// The kind of a destination moved aside while its replacement is renamed in
/// (`.imagebuild-old-<pid>-<name>`): a sweep moves it back to `<name>` if nothing is there.
pub const OLD: &str = "old";

/// When this process began using temporaries (the first call of anything here; `main` calls
/// [`remove_on_signal`] first thing).
static STARTED: LazyLock<SystemTime> = LazyLock::new(SystemTime::now);

/// Set by the signal handler before it removes the temporaries and exits with 130.
static EXITING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Blocks for good when a signal is ending the process (its handler exits soon with 130): a
/// temporary begun now could escape its removal, and an error that the removal causes in the
/// middle of a write must not end the process first, with another exit code.
pub fn wait_if_exiting() {
    while EXITING.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::park_timeout(std::time::Duration::from_secs(1));
    }
}

/// The temporaries alive now, removed if a signal ends the process.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The name prefix for a temporary of `kind` (a word such as `layout`, `blob`): the random part
/// follows it (tempfile's `Builder::prefix`).
pub fn prefix(kind: &str) -> String {
    LazyLock::force(&STARTED);
    // No temporary is begun once a signal's handler is removing them.
    wait_if_exiting();
    format!("{MARK}{kind}-{}-", std::process::id())
}

/// A temporary registered for removal on a signal; dropping it unregisters the path (the owner
/// has renamed or removed it by then).
#[derive(Debug)]
pub struct Live(PathBuf);

/// Registers `path` (a temporary file or directory) for removal if a signal ends the process.
pub fn register(path: &Path) -> Live {
    if let Ok(mut live) = LIVE.lock() {
        live.push(path.to_path_buf());
    }
    Live(path.to_path_buf())
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Ok(mut live) = LIVE.lock() {
            if let Some(i) = live.iter().rposition(|p| *p == self.0) {
                live.swap_remove(i);
            }
        }
    }
}

/// A temporary directory that is registered (removed on a signal) and removed when dropped.
pub struct Dir {
    dir: tempfile::TempDir,
    _live: Live,
}

impl Dir {
    /// Makes a temporary directory of `kind` in `parent` (None: the system's temporary
    /// directory), after sweeping what killed runs left there.
    pub fn new(parent: Option<&Path>, kind: &str) -> std::io::Result<Dir> {
        let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
        sweep(&parent);
        let dir = tempfile::Builder::new()
            .prefix(&prefix(kind))
            .tempdir_in(&parent)?;
        let live = register(dir.path());
        Ok(Dir { dir, _live: live })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Removes every registered temporary; what the signal handler runs.
fn remove_live() {
    // The handler runs on its own thread: a writer holding the lock is only ever brief.
    let paths: Vec<PathBuf> = match LIVE.lock() {
        Ok(live) => live.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    for p in paths {
        remove(&p);
    }
}

fn remove(p: &Path) {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => {
            // A writer may still be adding files while this runs (remove_dir_all then fails
            // with "directory not empty"): try again until the directory is gone.
            for _ in 0..200 {
                match std::fs::remove_dir_all(p) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        std::thread::sleep(std::time::Duration::from_millis(1))
                    }
                    _ => break,
                }
            }
        }
        Ok(_) => {
            let _ = std::fs::remove_file(p);
        }
        Err(_) => {}
    }
}

/// Set while a child process (a container's `docker run`) owns the terminal's signals.
static CHILD_OWNS_SIGNALS: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// While `on`, SIGINT and SIGTERM leave this process alone: the child in the foreground got the
/// same signal (one process group) and stops its container itself, and the caller waits for it
/// and cleans up after it. No temporary of ours is alive then.
pub fn child_owns_signals(on: bool) {
    CHILD_OWNS_SIGNALS.store(on, std::sync::atomic::Ordering::SeqCst);
}

/// Installs the handler for SIGINT and SIGTERM (the `ctrlc` crate, with its `termination`
/// feature: a small, well-kept crate rather than hand-written signal code): it removes the
/// registered temporaries and exits with 130, as a shell reports an interrupted command.
/// Called once, by `main`; a second call does nothing.
pub fn remove_on_signal() {
    LazyLock::force(&STARTED);
    let _ = ctrlc::set_handler(|| {
        if CHILD_OWNS_SIGNALS.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        EXITING.store(true, std::sync::atomic::Ordering::SeqCst);
        remove_live();
        // A temporary made just as the signal came is registered within moments: a second pass.
        std::thread::sleep(std::time::Duration::from_millis(20));
        remove_live();
        eprintln!("interrupted: temporary files removed, nothing half-written was left");
        std::process::exit(130);
    });
}

/// The kind, pid and rest of a temporary's name, when the name is one of ours:
/// `.imagebuild-<kind>-<pid>-<random>`.
fn parse(name: &str) -> Option<(String, u32, String)> {
    let rest = name.strip_prefix(MARK)?;
    let parts: Vec<&str> = rest.split('-').collect();
    // The first all-digit part that is neither the kind (first) nor the random part (last).
    let (i, pid) = parts
        .iter()
        .enumerate()
        .skip(1)
        .take(parts.len().saturating_sub(2))
        .find(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|(i, p)| Some((i, p.parse().ok()?)))?;
    Some((parts[..i].join("-"), pid, parts[i + 1..].join("-")))
}

#[cfg(test)]
fn owner(name: &str) -> Option<u32> {
    parse(name).map(|(_, pid, _)| pid)
}

fn alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes the stale temporaries in `dir`: ours by name, their owner process gone, and last
/// changed before this process started. Best effort: what cannot be removed stays, silently.
/// Returns how many were removed.
pub fn sweep(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let started = *STARTED;
    let me = std::process::id();
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some((kind, pid, rest)) = parse(&name.to_string_lossy()) else {
            continue;
        };
        if pid == me || alive(pid) {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t < started);
        if !old {
            continue;
        }
        let original = dir.join(&rest);
        if kind == OLD && !rest.is_empty() && std::fs::symlink_metadata(&original).is_err() {
            // A destination moved aside by a run killed before its replacement arrived.
            let _ = std::fs::rename(e.path(), &original);
        } else {
            remove(&e.path());
        }
        removed += 1;
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_their_owner() {
        let p = prefix("layout");
        assert_eq!(owner(&format!("{p}Ab12cd")), Some(std::process::id()));
        assert_eq!(owner(".imagebuild-zig-wheel-42-x1y2"), Some(42));
        assert_eq!(owner(".imagebuild-old-7-image"), Some(7));
        assert_eq!(owner(".imagebuild-layout-123456"), None, "no random part");
        assert_eq!(owner("image"), None);
    }

    #[test]
    fn stale_temporaries_of_dead_owners_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        // A pid that is certainly gone: a child that has exited and been reaped.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let stale = dir.path().join(format!(".imagebuild-layout-{dead}-abcdef"));
        std::fs::create_dir_all(stale.join("blobs")).unwrap();
        let old = SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::open(&stale)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let mine = dir.path().join(format!("{}xyz", prefix("blob")));
        std::fs::write(&mine, b"x").unwrap();
        let other = dir.path().join("image");
        std::fs::write(&other, b"x").unwrap();
        LazyLock::force(&STARTED);
        assert_eq!(sweep(dir.path()), 1);
        assert!(!stale.exists());
        assert!(
            mine.exists() && other.exists(),
            "ours and non-temporaries stay"
        );
    }
}
