//! Provenance statements of earlier runs, kept so that a run which rebuilds exactly the same
//! image attaches exactly the same statement: the one from the run that built it. A statement
//! records when its build started and finished; made afresh on every run, it would be a new
//! document (a new blob, artifact manifest and referrers entry) although nothing changed.
//!
//! Each statement is kept in `<target-dir>/imagebuild/.work/provenance/<key>.json`, where the
//! key is the digest of the statement with its times and command line left empty: the subject
//! manifest, the settings, the route, the sources and the tool versions. A statement is reused
//! only when all of those are the same, so what it says stays true of this image; it names the
//! run that first built it (its times, and its command line, which may differ from this one's
//! in what does not change the image: `-q`, `--message-format`, `--image-refs`, …). Files
//! unused for [`KEEP_DAYS`] go.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::util::digest::Digest;

/// Kept statements not reused for this long are removed.
pub const KEEP_DAYS: u64 = 30;

/// `statement` (with its times) unless `dir` keeps one for the same `timeless` statement, which
/// is then given instead; a new one is kept. Best effort: a directory that cannot be read or
/// written only means the statement is new.
pub fn same_or_new(dir: &Path, timeless: &[u8], statement: Vec<u8>) -> Vec<u8> {
    let path = dir.join(format!("{}.json", Digest::of(timeless).hex()));
    if let Some(kept) = std::fs::read(&path)
        .ok()
        .filter(|k| without_times(k).as_deref() == Some(timeless))
    {
        // Mark it used, so pruning keeps it.
        let _ = std::fs::File::options()
            .append(true)
            .open(&path)
            .and_then(|f| f.set_modified(SystemTime::now()));
        return kept;
    }
    if std::fs::create_dir_all(dir).is_ok() {
        prune(dir);
        let _ = crate::util::atomic::write(&path, &statement);
    }
    statement
}

/// The statement `bytes` with its times and command line emptied, serialized as
/// [`super::provenance`] does.
fn without_times(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(bytes).ok()?;
    *v.pointer_mut("/predicate/buildDefinition/externalParameters/command")? =
        Value::Array(Vec::new());
    let times = v.pointer_mut("/predicate/runDetails/metadata")?;
    times["startedOn"] = Value::String(String::new());
    times["finishedOn"] = Value::String(String::new());
    serde_json::to_vec_pretty(&v).ok()
}

/// Removes kept statements unused for [`KEEP_DAYS`].
fn prune(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let limit = Duration::from_secs(KEEP_DAYS * 24 * 3600);
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > limit);
        if old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn statement(started: &str, subject: &str) -> Vec<u8> {
        let command: Vec<&str> = match started {
            "" => vec![],
            _ => vec!["cargo-imagebuild", "-q"],
        };
        serde_json::to_vec_pretty(&json!({
            "subject": [{"digest": {"sha256": subject}}],
            "predicate": {
                "buildDefinition": {"externalParameters": {"command": command}},
                "runDetails": {"metadata": {"startedOn": started, "finishedOn": started}},
            },
        }))
        .unwrap()
    }

    #[test]
    fn the_same_build_gets_the_first_statement_and_a_changed_one_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let first = statement("2026-01-01T00:00:00Z", "aa");
        let timeless = statement("", "aa");
        assert_eq!(without_times(&first).unwrap(), timeless);
        assert_eq!(same_or_new(dir.path(), &timeless, first.clone()), first);
        let again = statement("2026-01-02T00:00:00Z", "aa");
        assert_eq!(same_or_new(dir.path(), &timeless, again), first);
        let other = statement("2026-01-02T00:00:00Z", "bb");
        assert_eq!(
            same_or_new(dir.path(), &statement("", "bb"), other.clone()),
            other
        );
        // A damaged file is not given out.
        let path = dir
            .path()
            .join(format!("{}.json", Digest::of(&timeless).hex()));
        std::fs::write(&path, b"{").unwrap();
        let third = statement("2026-01-03T00:00:00Z", "aa");
        assert_eq!(same_or_new(dir.path(), &timeless, third.clone()), third);
    }
}
