//! What a binary finds beneath it in its image: [`BaseFiles`] is the set of paths (and symlink
//! targets) in the layers under the binary's own, and [`check_runs_on`] refuses a dynamically
//! linked executable whose ELF interpreter (`PT_INTERP`, read by [`crate::compile::elf`]) is not among
//! them, since the kernel could not start it. [`missing_libraries`] then looks up each shared
//! library the executable needs (`DT_NEEDED`) the way glibc's loader would in the container:
//! `DT_RPATH` (when there is no `DT_RUNPATH`), `DT_RUNPATH` (`$ORIGIN` being the binary's directory
//! in the image), the directories `/etc/ld.so.conf` lists (includes followed), then the default
//! directories of the platform (Debian's multiarch ones, `/lib64`, `/usr/lib64`, `/lib`, `/usr/lib`).
//! Libraries needed by those libraries are not followed (their contents are not read).
//!
//! Paths are resolved as the kernel would resolve them: symlinks in any component, relative or
//! absolute, followed a bounded number of times. Where the set comes from is the caller's
//! business: the scratch skeleton and the assets today, a registry base's layers (whiteouts
//! applied) when such bases exist; this module only answers "is this file there".

use std::collections::{BTreeMap, BTreeSet};

use crate::compile::elf::{BinaryFormat, Dynamic};
use crate::image::layer::{EntryKind, LayerSpec};
use crate::image::platform::Platform;
use crate::image::untar::{TarError, TarKind, TarReader};

/// Removes every key that starts with `prefix` (and is longer than it) from a sorted map: one
/// range, not a scan of the map.
fn remove_below<V>(map: &mut BTreeMap<String, V>, prefix: &str) {
    let doomed: Vec<String> = map
        .range::<str, _>((
            std::ops::Bound::Excluded(prefix),
            std::ops::Bound::Unbounded,
        ))
        .take_while(|(k, _)| k.starts_with(prefix))
        .map(|(k, _)| k.clone())
        .collect();
    for k in doomed {
        map.remove(&k);
    }
}

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
    /// The contents of the loader's configuration (`etc/ld.so.conf`, `etc/ld.so.conf.d/*`) as
    /// read from layer tars: at most [`MAX_TEXTS`] files of at most [`MAX_TEXT`] bytes each.
    texts: BTreeMap<String, String>,
    /// The symbol versions (`.gnu.version_d`) each shared library read from layer tars defines:
    /// files named `lib*.so*` of at most [`MAX_LIBRARY`] bytes, at most [`MAX_LIBRARIES`] of them.
    versions: BTreeMap<String, Vec<String>>,
}

/// The largest shared library whose symbol versions are read (libc.so.6 is about 2 MB).
const MAX_LIBRARY: u64 = 16 << 20;
/// The most shared libraries whose symbol versions are read.
const MAX_LIBRARIES: usize = 512;

/// Whether the file at `key` (normalized) may be a shared library whose versions matter.
fn is_library(key: &str) -> bool {
    let name = key.rsplit('/').next().unwrap_or(key);
    name.starts_with("lib") && name.contains(".so")
}

/// The largest loader configuration file whose contents are kept.
const MAX_TEXT: u64 = 64 * 1024;
/// The most loader configuration files whose contents are kept.
const MAX_TEXTS: usize = 256;

/// Whether the contents of the file at `key` (normalized) are kept: the loader's configuration.
fn keeps_text(key: &str) -> bool {
    key == "etc/ld.so.conf" || key.starts_with("etc/ld.so.conf.d/")
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
    /// The binary's C library is not the base's: glibc on a musl base (alpine), or the reverse
    /// (the whole message, naming binary, platform, both loaders and the fix).
    #[error("{0}")]
    WrongCLibrary(String),
    #[error("{}", missing_libraries_message(.0))]
    MissingLibraries(Vec<MissingLibrary>),
    #[error("{}", missing_versions_message(.0))]
    OlderVersions(Vec<MissingVersion>),
}

/// A symbol version a dynamically linked executable needs from a library of its base, which
/// that library does not define (`GLIBC_2.34` from a `libc.so.6` of glibc 2.31).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingVersion {
    pub bin: String,
    pub platform: String,
    pub library: String,
    /// As `.gnu.version_r` names it (`GLIBC_2.34`).
    pub version: String,
    /// The highest version of the same family (`GLIBC_`) the base's library defines, if any.
    pub highest: Option<String>,
    pub base: String,
}

/// A version name as its family and numbers: `GLIBC_2.34` → `("GLIBC_", [2, 34])`.
fn version_key(v: &str) -> (&str, Vec<u64>) {
    let cut = v.find(|c: char| c.is_ascii_digit()).unwrap_or(v.len());
    let (family, numbers) = v.split_at(cut);
    (
        family,
        numbers
            .split('.')
            .map_while(|n| n.parse::<u64>().ok())
            .collect(),
    )
}

fn missing_versions_message(missing: &[MissingVersion]) -> String {
    let mut s = format!(
        "{} symbol {} that the base's libraries do not define, so the image would stop with          \"version `…' not found\" when run:",
        missing.len(),
        if missing.len() == 1 {
            "version is needed"
        } else {
            "versions are needed"
        }
    );
    for m in missing {
        s.push_str(&format!(
            "\n  {} for {} needs {} from {}; the `{}` base's {} {}",
            m.bin,
            m.platform,
            m.version,
            m.library,
            m.base,
            m.library,
            match &m.highest {
                Some(h) => format!("goes up to {h}"),
                None => format!("defines no {} version", version_key(&m.version).0),
            }
        ));
    }
    // The base's own glibc (the newest `GLIBC_2.N` its libc.so.6 defines), the oldest among
    // the bases named: what `--glibc` should say.
    let base_glibc = missing
        .iter()
        .filter(|m| m.version.starts_with("GLIBC_2."))
        .filter_map(|m| m.highest.as_deref())
        .filter_map(crate::plan::glibc::GlibcVersion::of_symbol_version)
        .min();
    let glibc_fix = match base_glibc {
        Some(v) => format!(
            "`--glibc {v}` (or `glibc = \"{v}\"` in [workspace.metadata.imagebuild]: zig links \
             against the base's glibc {v}, so the binary needs nothing newer), or "
        ),
        None => String::new(),
    };
    s.push_str(&format!(
        "\nThe binary was linked against newer libraries (this machine's) than the base has. \
         Fix: {glibc_fix}use a newer base whose libraries define these versions, or build \
         static (a musl target, e.g. --target x86_64-unknown-linux-musl)",
    ));
    s
}

/// A shared library that a dynamically linked executable needs and its base does not have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingLibrary {
    pub bin: String,
    pub platform: String,
    /// As `DT_NEEDED` names it (`libssl.so.3`).
    pub library: String,
    pub base: String,
    /// The directories looked in, in the loader's order.
    pub searched: Vec<String>,
}

fn missing_libraries_message(missing: &[MissingLibrary]) -> String {
    let mut s = format!(
        "{} shared {} missing, so the image would stop with \"error while loading shared \
         libraries\" when run:",
        missing.len(),
        if missing.len() == 1 {
            "library is"
        } else {
            "libraries are"
        }
    );
    for m in missing {
        s.push_str(&format!(
            "\n  {} is not in {}: {} for {} needs it (looked in {})",
            m.library,
            m.base,
            m.bin,
            m.platform,
            m.searched.join(", ")
        ));
    }
    s.push_str(&format!(
        "\nUse a base that has {}, or build static (a musl target, or a gnu target with \
         +crt-static: RUSTFLAGS=\"-C target-feature=+crt-static\")",
        if missing.len() == 1 { "it" } else { "them" }
    ));
    s
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
            if self.entries.contains_key(p) {
                // Its own parents were recorded with it.
                break;
            }
            self.entries.insert(p.to_string(), FileKind::Dir);
            parent = p;
        }
        self.texts.remove(&key);
        self.versions.remove(&key);
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
    /// `.wh..wh..opq` empties its directory. The tar is read with bounds
    /// ([`crate::image::untar`]); each whiteout costs a lookup in the sorted map, not a scan,
    /// so a listing is linear in the entries.
    pub fn add_tar<R: std::io::Read>(&mut self, r: R) -> Result<(), TarError> {
        let mut archive = TarReader::new(r);
        while let Some(entry) = archive.next_entry()? {
            let path = entry.path.trim_start_matches("./");
            let bare = path.trim_end_matches('/');
            // `dir` keeps its trailing `/`.
            let (dir, name) = match bare.rfind('/') {
                Some(i) => (&bare[..=i], &bare[i + 1..]),
                None => ("", bare),
            };
            if name == ".wh..wh..opq" {
                remove_below(&mut self.entries, dir);
                remove_below(&mut self.texts, dir);
                remove_below(&mut self.versions, dir);
                continue;
            }
            if let Some(gone) = name.strip_prefix(".wh.") {
                let target = format!("{dir}{gone}");
                self.entries.remove(&target);
                self.texts.remove(&target);
                remove_below(&mut self.entries, &format!("{target}/"));
                remove_below(&mut self.texts, &format!("{target}/"));
                self.versions.remove(&target);
                remove_below(&mut self.versions, &format!("{target}/"));
                continue;
            }
            let kind = match entry.kind {
                TarKind::Dir => FileKind::Dir,
                TarKind::Symlink => FileKind::Symlink(entry.link.clone()),
                _ => FileKind::File,
            };
            let is_file = kind == FileKind::File;
            self.insert(path, kind);
            let key = path.trim_matches('/');
            if is_file && keeps_text(key) && entry.size <= MAX_TEXT && self.texts.len() < MAX_TEXTS
            {
                let bytes = archive.read_contents(MAX_TEXT)?;
                self.texts.insert(
                    key.to_string(),
                    String::from_utf8_lossy(&bytes).into_owned(),
                );
            } else if is_file
                && is_library(key)
                && entry.size <= MAX_LIBRARY
                && self.versions.len() < MAX_LIBRARIES
            {
                let bytes = archive.read_contents(MAX_LIBRARY)?;
                // Not an ELF, or a malformed one: its versions are unknown, and not checked.
                if let Ok(d) = crate::compile::elf::read_dynamic(&mut std::io::Cursor::new(bytes)) {
                    if !d.versions_defined.is_empty() {
                        self.versions.insert(key.to_string(), d.versions_defined);
                    }
                }
            }
        }
        Ok(())
    }

    /// The symbol versions the library at `path` (absolute; symlinks followed) defines, when its
    /// contents were read.
    pub fn versions_of(&self, path: &str) -> Option<&[String]> {
        self.resolve(path)
            .and_then(|k| self.versions.get(&k))
            .map(Vec::as_slice)
    }

    /// The base's own glibc for `platform`: the newest `GLIBC_2.N` that the `libc.so.6` the
    /// loader would find (in [`BaseFiles::library_dirs`] order) defines. `None` when the base
    /// has no glibc (scratch, distroless/static, a musl base) or its `libc.so.6` was not read.
    pub fn glibc_version(&self, platform: &Platform) -> Option<crate::plan::glibc::GlibcVersion> {
        let dirs = self.library_dirs(platform, &Dynamic::default(), "/");
        let libc = dirs
            .iter()
            .map(|d| format!("{}/libc.so.6", d.trim_end_matches('/')))
            .find(|p| self.has_file(p))?;
        self.versions_of(&libc)?
            .iter()
            .filter_map(|v| crate::plan::glibc::GlibcVersion::of_symbol_version(v))
            .max()
    }

    /// Records the versions a library defines (in tests).
    #[cfg(test)]
    pub fn insert_versions(&mut self, path: &str, versions: &[&str]) {
        self.insert(path, FileKind::File);
        self.versions.insert(
            path.trim_matches('/').to_string(),
            versions.iter().map(|v| v.to_string()).collect(),
        );
    }

    /// Records a small text file with its contents (the loader's configuration, in tests).
    #[cfg(test)]
    pub fn insert_text(&mut self, path: &str, text: &str) {
        self.insert(path, FileKind::File);
        let key = path.trim_matches('/');
        if keeps_text(key) && self.texts.len() < MAX_TEXTS {
            self.texts.insert(key.to_string(), text.to_string());
        }
    }

    /// Lays `upper`'s entries over these.
    pub fn extend(&mut self, upper: &BaseFiles) {
        for (k, v) in &upper.entries {
            self.insert(k, v.clone());
        }
        for (k, v) in &upper.texts {
            if self.texts.len() < MAX_TEXTS {
                self.texts.insert(k.clone(), v.clone());
            }
        }
        for (k, v) in &upper.versions {
            self.versions.insert(k.clone(), v.clone());
        }
    }

    /// Whether `path` (absolute, as in `PT_INTERP`) names a regular file once every symlink on
    /// the way is followed. Loops and chains longer than 40 links (the kernel's own limit) say no.
    pub fn has_file(&self, path: &str) -> bool {
        self.resolve(path)
            .is_some_and(|k| matches!(self.entries.get(&k), Some(FileKind::File)))
    }

    /// The key of what `path` names once every symlink is followed, or `None` when a component is
    /// missing, a regular file is used as a directory, or the links loop (more than 40).
    fn resolve(&self, path: &str) -> Option<String> {
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
                None => return None,
                Some(FileKind::Symlink(target)) => {
                    links += 1;
                    if links > 40 {
                        return None;
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
                        return None;
                    }
                }
            }
        }
        Some(at.join("/"))
    }

    /// The names in directory `dir` (absolute; symlinks followed), sorted.
    fn list(&self, dir: &str) -> Vec<String> {
        let Some(key) = self.resolve(dir) else {
            return Vec::new();
        };
        let prefix = if key.is_empty() {
            String::new()
        } else {
            format!("{key}/")
        };
        self.entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, _)| {
                let name = &k[prefix.len()..];
                (!name.is_empty() && !name.contains('/')).then(|| name.to_string())
            })
            .collect()
    }

    /// The directories `/etc/ld.so.conf` lists, `include` lines (globs in the last component)
    /// followed, in order; only files whose contents were kept are read.
    pub fn ld_so_conf_dirs(&self) -> Vec<String> {
        let mut dirs = Vec::new();
        let mut seen = BTreeSet::new();
        self.read_conf("/etc/ld.so.conf", &mut dirs, &mut seen, 0);
        dirs
    }

    fn read_conf(
        &self,
        path: &str,
        dirs: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
        depth: u32,
    ) {
        if depth > 8 {
            return;
        }
        let Some(key) = self.resolve(path) else {
            return;
        };
        let Some(text) = self.texts.get(&key) else {
            return;
        };
        if !seen.insert(key.clone()) {
            return;
        }
        let here = match path.rsplit_once('/') {
            Some((d, _)) if !d.is_empty() => d.to_string(),
            _ => "/".to_string(),
        };
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let mut words = line.split_whitespace();
            match words.next() {
                None => {}
                Some("include") => {
                    for pattern in words {
                        let pattern = if pattern.starts_with('/') {
                            pattern.to_string()
                        } else {
                            format!("{}/{pattern}", here.trim_end_matches('/'))
                        };
                        for file in self.glob(&pattern) {
                            self.read_conf(&file, dirs, seen, depth + 1);
                        }
                    }
                }
                Some("hwcap") => {}
                Some(_) => {
                    for dir in line.split(|c: char| c.is_whitespace() || c == ',' || c == ':') {
                        // `DIR=TYPE` (an old libc5 notation) names DIR.
                        let dir = dir.split('=').next().unwrap_or("");
                        if dir.starts_with('/') {
                            dirs.push(normalize_dir(dir));
                        }
                    }
                }
            }
        }
    }

    /// The paths that `pattern` (absolute; `*`, `?` in its last component only) matches, sorted.
    fn glob(&self, pattern: &str) -> Vec<String> {
        let (dir, name) = pattern.rsplit_once('/').unwrap_or(("", pattern));
        if !name.contains(['*', '?']) {
            return vec![pattern.to_string()];
        }
        let dir = if dir.is_empty() { "/" } else { dir };
        self.list(dir)
            .into_iter()
            .filter(|n| !n.starts_with('.') && wildcard(name.as_bytes(), n.as_bytes()))
            .map(|n| format!("{}/{n}", dir.trim_end_matches('/')))
            .collect()
    }

    /// Where glibc's loader would look for the libraries of a binary at `bin_path` in the image,
    /// in its order, duplicates removed: `DT_RPATH` unless there is a `DT_RUNPATH`, `DT_RUNPATH`,
    /// the `/etc/ld.so.conf` directories (the loader reads them from `/etc/ld.so.cache`, which
    /// `ldconfig` builds from them), then the platform's default directories. Entries that are
    /// relative or use tokens other than `$ORIGIN` are skipped.
    pub fn library_dirs(
        &self,
        platform: &Platform,
        dynamic: &Dynamic,
        bin_path: &str,
    ) -> Vec<String> {
        let origin = match bin_path.rsplit_once('/') {
            Some((d, _)) if !d.is_empty() => d,
            _ => "/",
        };
        let expand = |p: &String| -> Option<String> {
            let p = p.replace("${ORIGIN}", origin).replace("$ORIGIN", origin);
            (p.starts_with('/') && !p.contains('$')).then(|| normalize_dir(&p))
        };
        let mut dirs: Vec<String> = Vec::new();
        if dynamic.runpath.is_empty() {
            dirs.extend(dynamic.rpath.iter().filter_map(expand));
        }
        dirs.extend(dynamic.runpath.iter().filter_map(expand));
        dirs.extend(self.ld_so_conf_dirs());
        if let Some(triple) = multiarch(platform) {
            dirs.push(format!("/lib/{triple}"));
            dirs.push(format!("/usr/lib/{triple}"));
        }
        for d in ["/lib64", "/usr/lib64", "/lib", "/usr/lib"] {
            dirs.push(d.to_string());
        }
        let mut seen = BTreeSet::new();
        dirs.retain(|d| seen.insert(d.clone()));
        dirs
    }
}

/// `/a//b/./` → `/a/b` (`..` kept: symlinks decide what it means).
fn normalize_dir(dir: &str) -> String {
    let parts: Vec<&str> = dir
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

/// Whether `name` matches `pattern` (`*` any run, `?` any one byte).
fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| wildcard(rest, &name[i..])),
        Some((b'?', rest)) => !name.is_empty() && wildcard(rest, &name[1..]),
        Some((c, rest)) => name.first() == Some(c) && wildcard(rest, &name[1..]),
    }
}

/// Debian's multiarch triple for a Linux platform: where its C libraries live (`/usr/lib/<triple>`).
pub fn multiarch(platform: &Platform) -> Option<&'static str> {
    Some(
        match (platform.architecture.as_str(), platform.variant.as_deref()) {
            ("amd64", _) => "x86_64-linux-gnu",
            ("arm64", _) => "aarch64-linux-gnu",
            ("arm", Some("v5")) => "arm-linux-gnueabi",
            ("arm", _) => "arm-linux-gnueabihf",
            ("386", _) => "i386-linux-gnu",
            ("ppc64le", _) => "powerpc64le-linux-gnu",
            ("s390x", _) => "s390x-linux-gnu",
            ("riscv64", _) => "riscv64-linux-gnu",
            ("mips64le", _) => "mips64el-linux-gnuabi64",
            ("loong64", _) => "loongarch64-linux-gnu",
            _ => return None,
        },
    )
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
            if let Some(e) = other_c_library(bin, interpreter, platform, base, files) {
                return Err(e);
            }
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

/// The refusal for a binary whose loader `interpreter` the base lacks because the base has the
/// other C library's loader (`/lib/ld-musl-*.so.1` for musl, `ld-linux*` or `ld64.so*` in
/// `/lib64` or `/lib` for glibc); `None` when it has neither.
fn other_c_library(
    bin: &str,
    interpreter: &str,
    platform: &Platform,
    base: &str,
    files: &BaseFiles,
) -> Option<RunsOnError> {
    let musl_binary = interpreter.contains("ld-musl");
    let find = |dirs: &[&str], is_loader: &dyn Fn(&str) -> bool| {
        dirs.iter().find_map(|d| {
            files
                .list(d)
                .into_iter()
                .find(|n| is_loader(n) && files.has_file(&format!("{d}/{n}")))
                .map(|n| format!("{d}/{n}"))
        })
    };
    let arch = multiarch(platform)
        .and_then(|t| t.split('-').next())
        .unwrap_or("x86_64");
    let (loader, has, wanted, fix) = if musl_binary {
        let l = find(&["/lib64", "/lib"], &|n| {
            n.starts_with("ld-linux") || n.starts_with("ld64.so") || n == "ld.so.1"
        })?;
        (
            l,
            "glibc",
            "musl",
            "build it static (musl targets are static unless your RUSTFLAGS say \
             `-C target-feature=-crt-static`: drop that), or use a musl base such as alpine"
                .to_string(),
        )
    } else {
        let l = find(&["/lib"], &|n| n.starts_with("ld-musl-"))?;
        (
            l,
            "musl",
            "glibc",
            format!(
                "build the static musl target (--target {arch}-unknown-linux-musl, where rustup \
                 has its standard library), or use a glibc base (debian:12-slim, \
                 gcr.io/distroless/cc-debian12)"
            ),
        )
    };
    Some(RunsOnError::WrongCLibrary(format!(
        "{bin} for {platform} is linked dynamically against {wanted} (its loader {interpreter}), \
         and the `{base}` base is a {has} base (it has {loader}, not that loader): a {wanted} \
         binary cannot start there. Fix: {fix}"
    )))
}

/// The shared libraries (`DT_NEEDED` of `dynamic`) that the glibc loader would not find in
/// `files` for the executable `bin` installed at `bin_path`; empty when all are there. Static
/// binaries, musl ones (their loader `ld-musl-*`) and non-ELF formats are not checked; names with
/// a `/` are looked up as written (relative ones are not checked: they depend on the working
/// directory).
#[allow(clippy::too_many_arguments)]
pub fn missing_libraries(
    bin: &str,
    bin_path: &str,
    format: &BinaryFormat,
    dynamic: &Dynamic,
    platform: &Platform,
    base: &str,
    files: &BaseFiles,
) -> Vec<MissingLibrary> {
    let BinaryFormat::Elf {
        interpreter: Some(interpreter),
        ..
    } = format
    else {
        return Vec::new();
    };
    if interpreter.contains("ld-musl") {
        return Vec::new();
    }
    let dirs = files.library_dirs(platform, dynamic, bin_path);
    let found = |lib: &str| {
        if lib.contains('/') {
            !lib.starts_with('/') || files.has_file(lib)
        } else {
            dirs.iter()
                .any(|d| files.has_file(&format!("{}/{lib}", d.trim_end_matches('/'))))
        }
    };
    dynamic
        .needed
        .iter()
        .filter(|lib| !found(lib))
        .map(|lib| MissingLibrary {
            bin: bin.to_string(),
            platform: platform.to_string(),
            library: lib.clone(),
            base: base.to_string(),
            searched: if lib.contains('/') {
                vec![lib.clone()]
            } else {
                dirs.clone()
            },
        })
        .collect()
}

/// The symbol versions (`.gnu.version_r` of `dynamic`) that the libraries the glibc loader
/// would find in `files` do not define; empty when all are there. A library whose contents were
/// not read (or that is missing: [`missing_libraries`] names it) is not checked.
#[allow(clippy::too_many_arguments)]
pub fn missing_versions(
    bin: &str,
    bin_path: &str,
    format: &BinaryFormat,
    dynamic: &Dynamic,
    platform: &Platform,
    base: &str,
    files: &BaseFiles,
) -> Vec<MissingVersion> {
    let BinaryFormat::Elf {
        interpreter: Some(interpreter),
        ..
    } = format
    else {
        return Vec::new();
    };
    if interpreter.contains("ld-musl") || dynamic.versions_needed.is_empty() {
        return Vec::new();
    }
    let dirs = files.library_dirs(platform, dynamic, bin_path);
    let defined = |lib: &str| -> Option<&[String]> {
        if lib.contains('/') {
            return files.versions_of(lib);
        }
        let path = dirs
            .iter()
            .map(|d| format!("{}/{lib}", d.trim_end_matches('/')))
            .find(|p| files.has_file(p))?;
        files.versions_of(&path)
    };
    let mut out: Vec<MissingVersion> = Vec::new();
    for (lib, version) in &dynamic.versions_needed {
        let Some(defs) = defined(lib) else {
            continue;
        };
        if defs.contains(version) {
            continue;
        }
        let (family, _) = version_key(version);
        let highest = defs
            .iter()
            .filter(|d| version_key(d).0 == family)
            .max_by_key(|d| version_key(d).1)
            .cloned();
        let m = MissingVersion {
            bin: bin.to_string(),
            platform: platform.to_string(),
            library: lib.clone(),
            version: version.clone(),
            highest,
            base: base.to_string(),
        };
        if !out.contains(&m) {
            out.push(m);
        }
    }
    out
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

    /// 60,000 files then a whiteout for each: the listing is linear (each whiteout a lookup in
    /// the sorted map, not a scan of it): under 2 s optimized (a scan per whiteout took 24 s).
    #[test]
    fn many_whiteouts_list_in_linear_time() {
        const N: usize = 60_000;
        let mut b = tar::Builder::new(Vec::with_capacity(2 * N * 512 + 1024));
        let mut entry = |path: &str| {
            let mut h = tar::Header::new_gnu();
            h.set_path(path).unwrap();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(0);
            h.set_mode(0o644);
            h.set_cksum();
            b.append(&h, std::io::empty()).unwrap();
        };
        for i in 0..N {
            entry(&format!("usr/share/d{}/f{i}", i % 100));
        }
        for i in 0..N {
            entry(&format!("usr/share/d{}/.wh.f{i}", i % 100));
        }
        entry("usr/share/kept");
        let bytes = b.into_inner().unwrap();
        let mut files = BaseFiles::new();
        let started = std::time::Instant::now();
        files.add_tar(bytes.as_slice()).unwrap();
        let took = started.elapsed();
        // 2 s optimized; unoptimized code (the fast tier's) runs several times slower, and a
        // scan per whiteout takes minutes there either way.
        let bound = if cfg!(debug_assertions) { 8 } else { 2 };
        assert!(
            took < std::time::Duration::from_secs(bound),
            "listing took {took:?}"
        );
        assert!(files.has_file("/usr/share/kept"));
        assert!(!files.has_file("/usr/share/d7/f7"));
        // The 100 directories and usr, usr/share and the kept file remain.
        assert_eq!(files.entries.len(), 100 + 3);
    }

    fn dynamic(interp: &str) -> BinaryFormat {
        BinaryFormat::Elf {
            bits: 64,
            little_endian: true,
            machine: 183,
            interpreter: Some(interp.to_string()),
        }
    }

    fn needs(libs: &[&str], runpath: &[&str]) -> Dynamic {
        Dynamic {
            needed: libs.iter().map(|s| s.to_string()).collect(),
            runpath: runpath.iter().map(|s| s.to_string()).collect(),
            ..Dynamic::default()
        }
    }

    fn missing(files: &BaseFiles, d: &Dynamic, platform: &str) -> Vec<String> {
        let p: Platform = platform.parse().unwrap();
        let loader = "/lib/ld-linux-aarch64.so.1";
        missing_libraries(
            "api",
            "/usr/local/bin/api",
            &dynamic(loader),
            d,
            &p,
            "b",
            files,
        )
        .into_iter()
        .map(|m| m.library)
        .collect()
    }

    #[test]
    fn libraries_are_found_where_the_loader_looks() {
        let mut f = debian();
        f.insert("usr/lib/aarch64-linux-gnu/libc.so.6", FileKind::File);
        f.insert("usr/lib/aarch64-linux-gnu/libssl.so.3", FileKind::File);
        // Through /lib → usr/lib and a version symlink.
        f.insert("usr/lib/aarch64-linux-gnu/libz.so.1.2.13", FileKind::File);
        f.insert(
            "usr/lib/aarch64-linux-gnu/libz.so.1",
            FileKind::Symlink("libz.so.1.2.13".into()),
        );
        f.insert("usr/local/lib/libowned.so", FileKind::File);
        f.insert("usr/local/bin/libbeside.so", FileKind::File);
        f.insert(
            "usr/lib/libdangling.so.1",
            FileKind::Symlink("nowhere".into()),
        );
        let d = needs(
            &[
                "libc.so.6",
                "libssl.so.3",
                "libz.so.1",
                "libowned.so",
                "libbeside.so",
            ],
            &["$ORIGIN"],
        );
        assert_eq!(missing(&f, &d, "linux/arm64"), ["libowned.so"]);
        // Another platform's multiarch directory is not searched.
        assert_eq!(
            missing(&f, &needs(&["libssl.so.3"], &[]), "linux/amd64"),
            ["libssl.so.3"]
        );
        assert_eq!(
            missing(
                &f,
                &needs(&["libdangling.so.1", "libbeside.so"], &[]),
                "linux/arm64"
            ),
            ["libdangling.so.1", "libbeside.so"]
        );
        // RPATH counts only without RUNPATH.
        let mut rpath = needs(&["libowned.so"], &[]);
        rpath.rpath = vec!["/usr/local/lib".into()];
        assert!(missing(&f, &rpath, "linux/arm64").is_empty());
        rpath.runpath = vec!["/opt".into()];
        assert_eq!(missing(&f, &rpath, "linux/arm64"), ["libowned.so"]);
        // An absolute name is looked up as written.
        assert!(missing(
            &f,
            &needs(&["/usr/local/lib/libowned.so"], &[]),
            "linux/arm64"
        )
        .is_empty());
    }

    #[test]
    fn ld_so_conf_directories_from_layers_with_includes_and_whiteouts() {
        fn tar_of(entries: &[(&str, &str)]) -> Vec<u8> {
            let mut b = tar::Builder::new(Vec::new());
            for (path, text) in entries {
                let mut h = tar::Header::new_gnu();
                h.set_size(text.len() as u64);
                h.set_entry_type(tar::EntryType::Regular);
                b.append_data(&mut h, path, text.as_bytes()).unwrap();
            }
            b.into_inner().unwrap()
        }
        let mut f = BaseFiles::new();
        let lower = tar_of(&[
            ("etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n"),
            (
                "etc/ld.so.conf.d/libc.conf",
                "# libc default\n/usr/local/lib\n",
            ),
            ("etc/ld.so.conf.d/ssl.conf", "/opt/ssl/lib/ # trailing\n"),
            ("etc/ld.so.conf.d/zz.disabled", "/never\n"),
            ("opt/ssl/lib/libssl.so.3", ""),
            ("usr/local/lib/libz.so.1", ""),
        ]);
        f.add_tar(lower.as_slice()).unwrap();
        assert_eq!(f.ld_so_conf_dirs(), ["/usr/local/lib", "/opt/ssl/lib"]);
        let d = needs(&["libssl.so.3", "libz.so.1"], &[]);
        assert!(missing(&f, &d, "linux/amd64").is_empty());
        let upper = tar_of(&[("etc/ld.so.conf.d/.wh.ssl.conf", "")]);
        f.add_tar(upper.as_slice()).unwrap();
        assert_eq!(f.ld_so_conf_dirs(), ["/usr/local/lib"]);
        assert_eq!(missing(&f, &d, "linux/amd64"), ["libssl.so.3"]);
        // A relative include, and a loop, from files recorded directly.
        let mut g = BaseFiles::new();
        g.insert_text("etc/ld.so.conf", "include ld.so.conf.d/a.conf\n/x\n");
        g.insert_text(
            "etc/ld.so.conf.d/a.conf",
            "include /etc/ld.so.conf\n/y, /z:/w\n",
        );
        assert_eq!(g.ld_so_conf_dirs(), ["/y", "/z", "/w", "/x"]);
    }

    #[test]
    fn musl_and_static_binaries_are_not_checked() {
        let p: Platform = "linux/arm64".parse().unwrap();
        let empty = BaseFiles::new();
        let d = needs(&["libz.so.1"], &[]);
        let musl = dynamic("/lib/ld-musl-aarch64.so.1");
        assert!(missing_libraries("a", "/a", &musl, &d, &p, "b", &empty).is_empty());
        let mut st = dynamic("x");
        if let BinaryFormat::Elf { interpreter, .. } = &mut st {
            *interpreter = None;
        }
        assert!(missing_libraries("a", "/a", &st, &d, &p, "b", &empty).is_empty());
        let m = missing_libraries(
            "api",
            "/a",
            &dynamic("/l"),
            &d,
            &p,
            "debian:bookworm-slim",
            &empty,
        );
        let e = RunsOnError::MissingLibraries(m).to_string();
        assert!(
            e.contains("libz.so.1 is not in debian:bookworm-slim: api for linux/arm64 needs it")
                && e.contains("/usr/lib/aarch64-linux-gnu")
                && e.contains("error while loading shared libraries")
                && e.contains("Use a base that has it, or build static")
                && e.contains("+crt-static"),
            "{e}"
        );
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
        f.add_layer(&crate::provision::base::skeleton_layer());
        assert!(f.has_file("/etc/passwd"));
        assert!(!f.has_file("/tmp"));
    }

    /// Compiles `source` with gcc into `out` with `args` (a version script, `-shared`, …).
    fn gcc(dir: &std::path::Path, source: &str, out: &str, args: &[&str]) -> std::path::PathBuf {
        let src = dir.join(format!("{out}.c"));
        std::fs::write(&src, source).unwrap();
        let o = dir.join(out);
        let st = std::process::Command::new("gcc")
            .arg(&src)
            .arg("-o")
            .arg(&o)
            .args(args)
            .current_dir(dir)
            .status()
            .unwrap();
        assert!(st.success(), "gcc {out}");
        o
    }

    #[test]
    fn symbol_versions_a_binary_needs_and_its_base_lacks_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("new")).unwrap();
        std::fs::create_dir_all(d.join("old")).unwrap();
        // An old libfake defining FAKE_1.0, a new one defining FAKE_1.0 and FAKE_2.0; the program
        // is linked against the new one and calls its FAKE_2.0 function.
        std::fs::write(
            d.join("old.map"),
            "FAKE_1.0 { global: fake_one; local: *; };\n",
        )
        .unwrap();
        std::fs::write(
            d.join("new.map"),
            "FAKE_1.0 { global: fake_one; local: *; };\nFAKE_2.0 { global: fake_two; } FAKE_1.0;\n",
        )
        .unwrap();
        let old = gcc(
            d,
            "int fake_one(void) { return 1; }\n",
            "old/libfake.so.1",
            &[
                "-shared",
                "-fPIC",
                "-Wl,--version-script=old.map",
                "-Wl,-soname,libfake.so.1",
            ],
        );
        let new_src = "int fake_one(void) { return 1; }\nint fake_two(void) { return 2; }\n";
        gcc(
            d,
            new_src,
            "new/libfake.so.1",
            &[
                "-shared",
                "-fPIC",
                "-Wl,--version-script=new.map",
                "-Wl,-soname,libfake.so.1",
            ],
        );
        std::os::unix::fs::symlink("libfake.so.1", d.join("new/libfake.so")).unwrap();
        let prog = gcc(
            d,
            "int fake_two(void);\nint main(void) { return fake_two() - 2; }\n",
            "prog",
            &["-Lnew", "-lfake"],
        );
        let needs = crate::compile::elf::dynamic(&prog).unwrap();
        assert!(
            needs
                .versions_needed
                .contains(&("libfake.so.1".to_string(), "FAKE_2.0".to_string())),
            "{needs:?}"
        );
        assert!(needs
            .versions_needed
            .iter()
            .any(|(l, v)| l == "libc.so.6" && v.starts_with("GLIBC_")));
        let defined = crate::compile::elf::dynamic(&old).unwrap().versions_defined;
        assert_eq!(defined, ["FAKE_1.0"]);

        // A base holding the old library (and this machine's libc, read from a layer tar).
        let mut b = tar::Builder::new(Vec::new());
        b.append_path_with_name(&old, "usr/lib/x86_64-linux-gnu/libfake.so.1")
            .unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "lib", "usr/lib").unwrap();
        let libc = std::path::Path::new("/lib/x86_64-linux-gnu/libc.so.6");
        b.append_path_with_name(
            std::fs::canonicalize(libc).unwrap(),
            "usr/lib/x86_64-linux-gnu/libc.so.6",
        )
        .unwrap();
        b.append_path_with_name(
            std::fs::canonicalize(libc).unwrap(),
            "lib64/ld-linux-x86-64.so.2",
        )
        .unwrap();
        let mut files = BaseFiles::new();
        files.add_tar(b.into_inner().unwrap().as_slice()).unwrap();
        assert_eq!(
            files
                .versions_of("/lib/x86_64-linux-gnu/libfake.so.1")
                .unwrap(),
            ["FAKE_1.0"]
        );
        let amd64 = "linux/amd64".parse::<Platform>().unwrap();
        let format = crate::compile::elf::inspect(&prog).unwrap();
        let lacking = missing_versions(
            "prog",
            "/usr/local/bin/prog",
            &format,
            &needs,
            &amd64,
            "old:1",
            &files,
        );
        assert_eq!(
            lacking,
            [MissingVersion {
                bin: "prog".into(),
                platform: "linux/amd64".into(),
                library: "libfake.so.1".into(),
                version: "FAKE_2.0".into(),
                highest: Some("FAKE_1.0".into()),
                base: "old:1".into(),
            }]
        );
        let e = RunsOnError::OlderVersions(lacking).to_string();
        assert!(
            e.contains("prog for linux/amd64 needs FAKE_2.0 from libfake.so.1; the `old:1` base's libfake.so.1 goes up to FAKE_1.0")
                && e.contains("use a newer base")
                && e.contains("musl target"),
            "{e}"
        );
        // A libc whose highest version is below what the binary needs is named the same way.
        let mut old_libc = files.clone();
        old_libc.insert_versions(
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
            &["GLIBC_2.2.5", "GLIBC_2.3"],
        );
        old_libc.insert_versions(
            "/usr/lib/x86_64-linux-gnu/libfake.so.1",
            &["FAKE_1.0", "FAKE_2.0"],
        );
        let lacking = missing_versions(
            "prog",
            "/usr/local/bin/prog",
            &format,
            &needs,
            &amd64,
            "old:1",
            &old_libc,
        );
        assert!(
            !lacking.is_empty()
                && lacking
                    .iter()
                    .all(|m| m.library == "libc.so.6" && m.highest.as_deref() == Some("GLIBC_2.3")),
            "{lacking:?}"
        );
        assert!(version_key("GLIBC_2.34").1 > version_key("GLIBC_2.4").1);
    }

    #[test]
    fn an_older_glibc_names_the_glibc_flag_with_the_base_version() {
        let m = |version: &str, highest: &str| MissingVersion {
            bin: "api".into(),
            platform: "linux/amd64".into(),
            library: "libc.so.6".into(),
            version: version.into(),
            highest: Some(highest.into()),
            base: "old:1".into(),
        };
        let e = RunsOnError::OlderVersions(vec![
            m("GLIBC_2.34", "GLIBC_2.28"),
            m("GLIBC_2.33", "GLIBC_2.28"),
        ])
        .to_string();
        assert!(
            e.starts_with("2 symbol versions are needed")
                && e.contains("api for linux/amd64 needs GLIBC_2.34 from libc.so.6")
                && e.contains("goes up to GLIBC_2.28")
                && e.contains("`--glibc 2.28`")
                && e.contains("glibc = \"2.28\"")
                && e.contains("use a newer base"),
            "{e}"
        );
        // Only a version of another family: no --glibc advice.
        let e = RunsOnError::OlderVersions(vec![m("GLIBCXX_3.4.30", "GLIBCXX_3.4.25")]).to_string();
        assert!(
            !e.contains("--glibc") && e.contains("use a newer base"),
            "{e}"
        );
    }

    #[test]
    fn the_other_c_library_is_named() {
        let amd64 = "linux/amd64".parse::<Platform>().unwrap();
        let elf = |interpreter: &str| BinaryFormat::Elf {
            bits: 64,
            little_endian: true,
            machine: 62,
            interpreter: Some(interpreter.to_string()),
        };
        let mut alpine = BaseFiles::new();
        alpine.insert("/lib/ld-musl-x86_64.so.1", FileKind::File);
        let e = check_runs_on(
            "api",
            &elf("/lib64/ld-linux-x86-64.so.2"),
            &amd64,
            "alpine:3",
            &alpine,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("api for linux/amd64 is linked dynamically against glibc")
                && e.contains("`alpine:3` base is a musl base (it has /lib/ld-musl-x86_64.so.1")
                && e.contains("--target x86_64-unknown-linux-musl")
                && e.contains("glibc base"),
            "{e}"
        );
        let mut debian = BaseFiles::new();
        debian.insert("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", FileKind::File);
        debian.insert(
            "/lib64/ld-linux-x86-64.so.2",
            FileKind::Symlink("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2".into()),
        );
        let e = check_runs_on(
            "api",
            &elf("/lib/ld-musl-x86_64.so.1"),
            &amd64,
            "debian:12",
            &debian,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("linked dynamically against musl")
                && e.contains("a glibc base (it has /lib64/ld-linux-x86-64.so.2")
                && e.contains("-crt-static")
                && e.contains("musl base such as alpine"),
            "{e}"
        );
        // Neither loader: the plain refusal.
        let e = check_runs_on(
            "api",
            &elf("/lib/ld-musl-x86_64.so.1"),
            &amd64,
            "scratch",
            &BaseFiles::new(),
        )
        .unwrap_err();
        assert!(matches!(e, RunsOnError::MissingInterpreter { .. }), "{e:?}");
    }

    #[test]
    fn the_base_glibc_is_the_newest_version_its_libc_defines() {
        let amd64 = "linux/amd64".parse::<Platform>().unwrap();
        let mut files = BaseFiles::new();
        assert_eq!(files.glibc_version(&amd64), None, "scratch has no glibc");
        files.insert("/lib/ld-musl-x86_64.so.1", FileKind::File);
        assert_eq!(files.glibc_version(&amd64), None, "a musl base has none");
        files.insert("/lib64", FileKind::Symlink("usr/lib64".into()));
        files.insert_versions(
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
            &[
                "GLIBC_2.2.5",
                "GLIBC_2.9",
                "GLIBC_2.28",
                "GLIBC_2.3.4",
                "GLIBC_PRIVATE",
            ],
        );
        files.insert("/lib", FileKind::Symlink("usr/lib".into()));
        let v = files.glibc_version(&amd64).unwrap();
        assert_eq!(v.to_string(), "2.28");
        // A libc.so.6 where the loader does not look is not the base's.
        let mut elsewhere = BaseFiles::new();
        elsewhere.insert_versions("/opt/libc.so.6", &["GLIBC_2.36"]);
        assert_eq!(elsewhere.glibc_version(&amd64), None);
    }
}
