//! What a binary finds beneath it in its image: [`BaseFiles`] is the set of paths (and symlink
//! targets) in the layers under the binary's own, and [`check_runs_on`] refuses a dynamically
//! linked executable whose ELF interpreter (`PT_INTERP`, read by [`crate::build::elf`]) is not among
//! them, since the kernel could not start it.
//!
//! Paths are resolved as the kernel would resolve them: symlinks in any component, relative or
//! absolute, followed a bounded number of times. Where the set comes from is the caller's
//! business: the scratch skeleton and the assets today, a registry base's layers (whiteouts
//! applied) when such bases exist; this module only answers "is this file there".

use std::collections::BTreeMap;

use crate::build::elf::BinaryFormat;
use crate::image::layer::{EntryKind, LayerSpec};
use crate::image::platform::Platform;

/// One path's kind in the base.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    /// A symlink and its target, as stored (relative or absolute).
    Symlink(String),
}

/// The files of a base, keyed by normalized path without the leading `/` (`lib/ld-musl.so.1`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BaseFiles {
    entries: BTreeMap<String, FileKind>,
}

/// Why a binary cannot run on its base.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RunsOnError {
    #[error(
        "{bin} for {platform} is dynamically linked: it needs its loader {interpreter}, which the \
         `{base}` base does not have, so it could not start in the image. Link it statically \
         (for gnu targets: RUSTFLAGS=\"-C target-feature=+crt-static\", which cargo-imagebuild \
         adds itself unless your flags say otherwise; or use a musl target), or use a base that \
         ships this C library"
    )]
    MissingInterpreter {
        bin: String,
        platform: String,
        interpreter: String,
        base: String,
    },
}

impl BaseFiles {
    /// An empty base (`scratch` with nothing added).
    pub fn new() -> BaseFiles {
        BaseFiles::default()
    }

    /// Records one path, and its parents as directories unless they are already known (a tar
    /// may leave them implicit); later inserts at the same path win (an upper layer over a lower).
    pub fn insert(&mut self, path: &str, kind: FileKind) {
        let key = path.trim_matches('/').to_string();
        if key.is_empty() {
            return;
        }
        let mut parent = key.as_str();
        while let Some((p, _)) = parent.rsplit_once('/') {
            self.entries.entry(p.to_string()).or_insert(FileKind::Dir);
            parent = p;
        }
        self.entries.insert(key, kind);
    }

    /// Records every entry of a layer we pack ourselves (skeleton, assets).
    pub fn add_layer(&mut self, spec: &LayerSpec) {
        for e in &spec.entries {
            let kind = match &e.kind {
                EntryKind::Dir => FileKind::Dir,
                EntryKind::File(_) => FileKind::File,
                EntryKind::Symlink(t) => FileKind::Symlink(t.clone()),
            };
            self.insert(&e.path, kind);
        }
    }

    /// Records every entry of a layer tar (a registry base's), applying OCI whiteouts: a
    /// `.wh.NAME` entry removes NAME (and what is below it) from the layers beneath, and
    /// `.wh..wh..opq` empties its directory.
    pub fn add_tar<R: std::io::Read>(&mut self, r: R) -> std::io::Result<()> {
        let mut archive = tar::Archive::new(r);
        for entry in archive.entries()? {
            let entry = entry?;
            let path = entry
                .path()?
                .to_string_lossy()
                .trim_start_matches("./")
                .to_string();
            let (dir, name) = match path.trim_end_matches('/').rsplit_once('/') {
                Some((d, n)) => (format!("{d}/"), n.to_string()),
                None => (String::new(), path.trim_end_matches('/').to_string()),
            };
            if name == ".wh..wh..opq" {
                self.entries
                    .retain(|k, _| !(k.starts_with(&dir) && k.len() > dir.len()));
                continue;
            }
            if let Some(gone) = name.strip_prefix(".wh.") {
                let target = format!("{dir}{gone}");
                let below = format!("{target}/");
                self.entries
                    .retain(|k, _| *k != target && !k.starts_with(&below));
                continue;
            }
            let kind = match entry.header().entry_type() {
                tar::EntryType::Directory => FileKind::Dir,
                tar::EntryType::Symlink => FileKind::Symlink(
                    entry
                        .link_name()?
                        .map(|l| l.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                ),
                _ => FileKind::File,
            };
            self.insert(&path, kind);
        }
        Ok(())
    }

    /// Lays `upper`'s entries over these.
    pub fn extend(&mut self, upper: &BaseFiles) {
        for (k, v) in &upper.entries {
            self.insert(k, v.clone());
        }
    }

    /// Whether `path` (absolute, as in `PT_INTERP`) names a regular file once every symlink on
    /// the way is followed. Loops and chains longer than 40 links (the kernel's own limit) say no.
    pub fn has_file(&self, path: &str) -> bool {
        let mut todo: Vec<String> = components(path);
        todo.reverse();
        let mut at: Vec<String> = Vec::new();
        let mut links = 0;
        while let Some(part) = todo.pop() {
            match part.as_str() {
                "." => continue,
                ".." => {
                    at.pop();
                    continue;
                }
                _ => {}
            }
            at.push(part);
            let key = at.join("/");
            match self.entries.get(&key) {
                None => return false,
                Some(FileKind::Symlink(target)) => {
                    links += 1;
                    if links > 40 {
                        return false;
                    }
                    at.pop();
                    if target.starts_with('/') {
                        at.clear();
                    }
                    let mut rest = components(target);
                    rest.reverse();
                    todo.extend(rest);
                }
                Some(FileKind::Dir) => {}
                Some(FileKind::File) => {
                    if !todo.is_empty() {
                        return false;
                    }
                }
            }
        }
        matches!(self.entries.get(&at.join("/")), Some(FileKind::File))
    }
}

fn components(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// Refuses a dynamically linked executable whose interpreter `files` lacks. A static binary (no
/// `PT_INTERP`) and non-ELF formats always pass.
pub fn check_runs_on(
    bin: &str,
    format: &BinaryFormat,
    platform: &Platform,
    base: &str,
    files: &BaseFiles,
) -> Result<(), RunsOnError> {
    if let BinaryFormat::Elf {
        interpreter: Some(interpreter),
        ..
    } = format
    {
        if !files.has_file(interpreter) {
            return Err(RunsOnError::MissingInterpreter {
                bin: bin.to_string(),
                platform: platform.to_string(),
                interpreter: interpreter.clone(),
                base: base.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_layers_with_whiteouts() {
        fn tar_of(entries: &[(&str, Option<&str>)]) -> Vec<u8> {
            let mut b = tar::Builder::new(Vec::new());
            for (path, link) in entries {
                let mut h = tar::Header::new_gnu();
                h.set_size(0);
                match link {
                    Some(t) => {
                        h.set_entry_type(tar::EntryType::Symlink);
                        b.append_link(&mut h, path, t).unwrap();
                    }
                    None => {
                        h.set_entry_type(tar::EntryType::Regular);
                        b.append_data(&mut h, path, std::io::empty()).unwrap();
                    }
                }
            }
            b.into_inner().unwrap()
        }
        let mut files = BaseFiles::new();
        let lower = tar_of(&[
            ("lib/ld-linux-x86-64.so.2", None),
            ("opt/a/x", None),
            ("lib64", Some("lib")),
        ]);
        files.add_tar(lower.as_slice()).unwrap();
        assert!(files.has_file("/lib64/ld-linux-x86-64.so.2"));
        let upper = tar_of(&[
            ("lib/.wh.ld-linux-x86-64.so.2", None),
            ("opt/a/.wh..wh..opq", None),
        ]);
        files.add_tar(upper.as_slice()).unwrap();
        assert!(!files.has_file("/lib64/ld-linux-x86-64.so.2"));
        assert!(!files.has_file("/opt/a/x"));
    }

    fn dynamic(interp: &str) -> BinaryFormat {
        BinaryFormat::Elf {
            bits: 64,
            little_endian: true,
            machine: 183,
            interpreter: Some(interp.to_string()),
        }
    }

    /// A Debian-like merged-/usr base: /lib is a symlink to usr/lib.
    fn debian() -> BaseFiles {
        let mut f = BaseFiles::new();
        f.insert("usr", FileKind::Dir);
        f.insert("usr/lib", FileKind::Dir);
        f.insert("lib", FileKind::Symlink("usr/lib".into()));
        f.insert("usr/lib/aarch64-linux-gnu", FileKind::Dir);
        f.insert(
            "usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1",
            FileKind::File,
        );
        f.insert(
            "usr/lib/ld-linux-aarch64.so.1",
            FileKind::Symlink("aarch64-linux-gnu/ld-linux-aarch64.so.1".into()),
        );
        f.insert("etc", FileKind::Dir);
        f.insert("etc/loop", FileKind::Symlink("/etc/loop".into()));
        f.insert("bin", FileKind::Symlink("/usr/../usr/lib/../bin".into()));
        f
    }

    #[test]
    fn follows_symlinks_like_the_kernel() {
        let f = debian();
        assert!(f.has_file("/lib/ld-linux-aarch64.so.1"));
        assert!(f.has_file("/usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1"));
        assert!(!f.has_file("/lib/ld-musl-aarch64.so.1"));
        assert!(!f.has_file("/etc/loop"), "a symlink loop is not a file");
        assert!(!f.has_file("/usr/lib"), "a directory is not a file");
        assert!(!f.has_file("/bin/sh"));
    }

    #[test]
    fn static_binaries_run_anywhere_dynamic_ones_need_their_loader() {
        let arm64: Platform = "linux/arm64".parse().unwrap();
        let scratch = BaseFiles::new();
        let static_bin = BinaryFormat::Elf {
            bits: 64,
            little_endian: true,
            machine: 183,
            interpreter: None,
        };
        check_runs_on("api", &static_bin, &arm64, "scratch", &scratch).unwrap();
        let dyn_bin = dynamic("/lib/ld-linux-aarch64.so.1");
        let e = check_runs_on("api", &dyn_bin, &arm64, "scratch", &scratch)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("dynamically linked")
                && e.contains("/lib/ld-linux-aarch64.so.1")
                && e.contains("`scratch`")
                && e.contains("crt-static"),
            "{e}"
        );
        check_runs_on("api", &dyn_bin, &arm64, "debian", &debian()).unwrap();
    }

    #[test]
    fn layers_we_pack_are_recorded() {
        let mut f = BaseFiles::new();
        f.add_layer(&crate::build::base::skeleton_layer());
        assert!(f.has_file("/etc/passwd"));
        assert!(!f.has_file("/tmp"));
    }
}
