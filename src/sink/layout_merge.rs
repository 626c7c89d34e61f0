//! Adding an image set to an OCI layout that already exists, as skopeo and umoci do: the
//! layout's other images, and any file in it we did not write, stay. [`update`] writes each blob
//! that is missing or damaged (every blob already there is checked by its digest, not its size),
//! then `index.json` last, atomically: our tags' entries are added or replaced, the other entries
//! kept in their order. The blobs that only the entries it replaced referenced are removed when
//! those entries were ours (an image whose config records a `cargo-imagebuild:` layer, or an
//! attachment of one); a blob that a remaining entry still references is never removed.
//!
//! A failure part way leaves the old `index.json` (and so the old images) in place, plus at most
//! some blobs it does not reference yet.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::image::layer::Source;
use crate::image::model::annotation;
use crate::image::store;
use crate::util::digest::Digest;

/// The mark our configs carry in their history (every image we build has a layer of ours).
const OUR_HISTORY: &str = "cargo-imagebuild:";

/// How far [`reachable`] follows indexes within indexes.
const MAX_DEPTH: u32 = 8;

/// What [`update`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Updated {
    /// Blobs written (missing before).
    pub written: usize,
    /// Blobs that were there with the wrong bytes and were written again.
    pub repaired: Vec<String>,
    /// Whether `index.json` changed.
    pub index_changed: bool,
    /// Blobs removed (ours, referenced by nothing any more).
    pub removed: usize,
}

/// Adds `files` (as [`super::layout::layout_files`] lists them, with our `index.json`) to the
/// layout at `dest`, which holds an `oci-layout` file.
pub fn update(dest: &Path, files: &[(String, Source)], ours_index: &[u8]) -> Result<Updated> {
    let mut done = Updated::default();
    let index_path = dest.join("index.json");
    let existing: Value = match fs::read(&index_path) {
        Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is not JSON: the layout at {} is damaged; repair it, or remove it or choose \
                 another dest",
                index_path.display(),
                dest.display()
            )
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            serde_json::json!({"schemaVersion": 2, "manifests": []})
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", index_path.display())),
    };
    if !existing["manifests"].is_array() {
        bail!(
            "{} has no `manifests` list: the layout at {} is damaged; repair it, or remove it or \
             choose another dest",
            index_path.display(),
            dest.display()
        );
    }
    let ours: Value = serde_json::from_slice(ours_index).context("reading our index.json")?;

    // Blobs first, so that index.json never names one that is not there.
    let blobs = dest.join("blobs/sha256");
    fs::create_dir_all(&blobs).with_context(|| format!("creating {}", blobs.display()))?;
    for (path, source) in files.iter().filter(|(p, _)| p.starts_with("blobs/")) {
        let at = dest.join(path);
        let want = format!("sha256:{}", path.rsplit('/').next().unwrap_or_default());
        let present = fs::symlink_metadata(&at).is_ok();
        if present && store::hash_file(&at).is_ok_and(|d| d.as_str() == want) {
            continue;
        }
        write_blob(&blobs, &at, source)?;
        if present {
            done.repaired.push(want);
        } else {
            done.written += 1;
        }
    }

    let (merged, replaced) = merge_entries(&existing, &ours, &|d| read_json(dest, d));
    let mut doc = existing.clone();
    doc["manifests"] = Value::Array(merged.clone());
    let bytes = serde_json::to_vec(&doc)?;
    let old_bytes = serde_json::to_vec(&existing)?;
    if bytes != old_bytes || !index_path.is_file() {
        crate::util::atomic::write(&index_path, &bytes)?;
        done.index_changed = true;
    }

    // Our own old blobs, if nothing references them now.
    let keep = reachable(&merged, &|d| read_json(dest, d));
    let ours_replaced: Vec<Value> = replaced
        .into_iter()
        .filter(|e| is_ours(e, &|d| read_json(dest, d)))
        .collect();
    for digest in reachable(&ours_replaced, &|d| read_json(dest, d)).difference(&keep) {
        let Some(hex) = digest.strip_prefix("sha256:") else {
            continue;
        };
        if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            continue;
        }
        if fs::remove_file(blobs.join(hex)).is_ok() {
            done.removed += 1;
        }
    }
    Ok(done)
}

/// Writes one blob through a temporary file in the layout's blob directory.
fn write_blob(blobs: &Path, at: &Path, source: &Source) -> Result<()> {
    use std::io::Write as _;
    let mut staged = crate::util::atomic::AtomicFile::stage_in(blobs, "blob", Some(0o644))?;
    match source {
        Source::Bytes(b) => staged.write_all(b),
        Source::Path(p) => {
            fs::File::open(p).and_then(|mut f| std::io::copy(&mut f, &mut staged).map(|_| ()))
        }
    }
    .with_context(|| format!("writing {}", at.display()))?;
    staged.commit(at)
}

/// The JSON document stored under `digest` in the layout, when it is one and its bytes match.
fn read_json(dest: &Path, digest: &str) -> Option<Value> {
    let hex = digest.strip_prefix("sha256:")?;
    if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let bytes = fs::read(dest.join("blobs/sha256").join(hex)).ok()?;
    if bytes.len() > 4 << 20 || Digest::of(&bytes).as_str() != digest {
        return None;
    }
    serde_json::from_slice(&bytes).ok()
}

/// The new entry list and the old entries it drops: the old entries, less those tagged with one
/// of our tags, those that are one of ours again (the same digest, untagged), and the
/// attachments whose subject only a dropped entry held; then ours.
fn merge_entries(
    existing: &Value,
    ours: &Value,
    read: &dyn Fn(&str) -> Option<Value>,
) -> (Vec<Value>, Vec<Value>) {
    let ours: Vec<Value> = ours["manifests"].as_array().cloned().unwrap_or_default();
    let tag = |e: &Value| {
        e["annotations"][annotation::REF_NAME]
            .as_str()
            .map(str::to_string)
    };
    let our_tags: BTreeSet<String> = ours.iter().filter_map(tag).collect();
    let our_untagged: BTreeSet<String> = ours
        .iter()
        .filter(|e| tag(e).is_none())
        .filter_map(|e| e["digest"].as_str().map(str::to_string))
        .collect();
    let (mut kept, mut dropped): (Vec<Value>, Vec<Value>) = (Vec::new(), Vec::new());
    for e in existing["manifests"].as_array().into_iter().flatten() {
        let replaced = match tag(e) {
            Some(t) => our_tags.contains(&t),
            None => e["digest"]
                .as_str()
                .is_some_and(|d| our_untagged.contains(d)),
        };
        if replaced {
            dropped.push(e.clone());
        } else {
            kept.push(e.clone());
        }
    }
    // An attachment (untagged, with an artifactType) whose subject no remaining image holds.
    let mut holders: Vec<Value> = kept
        .iter()
        .filter(|e| e.get("artifactType").is_none())
        .cloned()
        .collect();
    holders.extend(ours.iter().cloned());
    let held = reachable(&holders, read);
    let gone = reachable(&dropped, read);
    let (mut still, mut stale) = (Vec::new(), Vec::new());
    for e in kept {
        let orphan = e.get("artifactType").is_some()
            && tag(&e).is_none()
            && e["digest"]
                .as_str()
                .and_then(read)
                .and_then(|m| m["subject"]["digest"].as_str().map(str::to_string))
                .is_some_and(|s| gone.contains(&s) && !held.contains(&s));
        if orphan {
            stale.push(e);
        } else {
            still.push(e);
        }
    }
    dropped.extend(stale);
    still.extend(ours);
    (still, dropped)
}

/// Every digest the entries reference, following indexes to their manifests and manifests to
/// their config and layers (not to a `subject`: that is another image's).
fn reachable(entries: &[Value], read: &dyn Fn(&str) -> Option<Value>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<(String, u32)> = entries
        .iter()
        .filter_map(|e| e["digest"].as_str().map(|d| (d.to_string(), 0)))
        .collect();
    while let Some((digest, depth)) = todo.pop() {
        if !seen.insert(digest.clone()) || depth > MAX_DEPTH {
            continue;
        }
        let Some(doc) = read(&digest) else { continue };
        for m in doc["manifests"].as_array().into_iter().flatten() {
            if let Some(d) = m["digest"].as_str() {
                todo.push((d.to_string(), depth + 1));
            }
        }
        if let Some(d) = doc["config"]["digest"].as_str() {
            todo.push((d.to_string(), depth + 1));
        }
        for l in doc["layers"].as_array().into_iter().flatten() {
            if let Some(d) = l["digest"].as_str() {
                // Layers are leaves: recorded, never read.
                seen.insert(d.to_string());
            }
        }
    }
    seen
}

/// Whether an entry of index.json is an image we built (a config among what it reaches records
/// one of our layers) or an attachment of one.
fn is_ours(entry: &Value, read: &dyn Fn(&str) -> Option<Value>) -> bool {
    let ours_config = |d: &str| {
        read(d).is_some_and(|c| {
            c["history"].as_array().into_iter().flatten().any(|h| {
                h["created_by"]
                    .as_str()
                    .is_some_and(|s| s.starts_with(OUR_HISTORY))
            })
        })
    };
    let image_is_ours = |digest: &str| {
        let mut manifests = vec![digest.to_string()];
        if let Some(doc) = read(digest) {
            manifests.extend(
                doc["manifests"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m["digest"].as_str().map(str::to_string)),
            );
        }
        manifests.iter().any(|m| {
            read(m)
                .and_then(|doc| doc["config"]["digest"].as_str().map(str::to_string))
                .is_some_and(|c| ours_config(&c))
        })
    };
    let Some(digest) = entry["digest"].as_str() else {
        return false;
    };
    if entry.get("artifactType").is_some() {
        return read(digest)
            .and_then(|m| m["subject"]["digest"].as_str().map(str::to_string))
            .is_some_and(|s| image_is_ours(&s));
    }
    image_is_ours(digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    /// A tiny content store for the merge rules, by digest.
    fn docs(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs
            .iter()
            .map(|(d, v)| (d.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn our_tags_replace_theirs_and_everything_else_stays() {
        let store = docs(&[
            (
                "sha256:oldidx",
                json!({"manifests": [{"digest": "sha256:oldman"}]}),
            ),
            (
                "sha256:oldman",
                json!({"config": {"digest": "sha256:oldcfg"}, "layers": [{"digest": "sha256:oldlayer"}]}),
            ),
            (
                "sha256:sbom",
                json!({"subject": {"digest": "sha256:oldman"}, "layers": [{"digest": "sha256:sbomdoc"}]}),
            ),
            (
                "sha256:otheridx",
                json!({"config": {"digest": "sha256:othercfg"}, "layers": [{"digest": "sha256:oldlayer"}]}),
            ),
        ]);
        let read = |d: &str| store.get(d).cloned();
        let existing = json!({"schemaVersion": 2, "manifests": [
            {"digest": "sha256:otheridx", "annotations": {"org.opencontainers.image.ref.name": "other"}},
            {"digest": "sha256:oldidx", "annotations": {"org.opencontainers.image.ref.name": "1.0"}},
            {"digest": "sha256:sbom", "artifactType": "application/spdx+json"},
        ]});
        let ours = json!({"manifests": [
            {"digest": "sha256:newidx", "annotations": {"org.opencontainers.image.ref.name": "1.0"}},
        ]});
        let (merged, dropped) = merge_entries(&existing, &ours, &read);
        let digests: Vec<&str> = merged
            .iter()
            .map(|e| e["digest"].as_str().unwrap())
            .collect();
        assert_eq!(digests, ["sha256:otheridx", "sha256:newidx"]);
        let gone: Vec<&str> = dropped
            .iter()
            .map(|e| e["digest"].as_str().unwrap())
            .collect();
        assert_eq!(gone, ["sha256:oldidx", "sha256:sbom"]);
        // What only the dropped entries reach; the shared layer is still reached by `other`.
        let keep = reachable(&merged, &read);
        let freed: Vec<String> = reachable(&dropped, &read)
            .difference(&keep)
            .cloned()
            .collect();
        assert_eq!(
            freed,
            [
                "sha256:oldcfg",
                "sha256:oldidx",
                "sha256:oldman",
                "sha256:sbom",
                "sha256:sbomdoc"
            ]
        );
        // Merging the same again changes nothing.
        let again = json!({"schemaVersion": 2, "manifests": merged.clone()});
        assert_eq!(merge_entries(&again, &ours, &read).0, merged);
    }

    #[test]
    fn only_images_with_our_layers_are_ours() {
        let store = docs(&[
            (
                "sha256:idx",
                json!({"manifests": [{"digest": "sha256:man"}]}),
            ),
            ("sha256:man", json!({"config": {"digest": "sha256:cfg"}})),
            (
                "sha256:cfg",
                json!({"history": [{"created_by": "base"}, {"created_by": "cargo-imagebuild: /usr/local/bin/api built for x"}]}),
            ),
            (
                "sha256:theirs",
                json!({"config": {"digest": "sha256:theircfg"}}),
            ),
            (
                "sha256:theircfg",
                json!({"history": [{"created_by": "COPY . /"}]}),
            ),
            ("sha256:att", json!({"subject": {"digest": "sha256:man"}})),
        ]);
        let read = |d: &str| store.get(d).cloned();
        assert!(is_ours(&json!({"digest": "sha256:idx"}), &read));
        assert!(!is_ours(&json!({"digest": "sha256:theirs"}), &read));
        assert!(is_ours(
            &json!({"digest": "sha256:att", "artifactType": "x"}),
            &read
        ));
        assert!(!is_ours(&json!({"digest": "sha256:missing"}), &read));
    }
}
