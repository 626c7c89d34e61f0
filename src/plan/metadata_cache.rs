//! `cargo metadata`'s answer kept between runs, so a run where nothing changed does not ask cargo
//! again. An entry is used only when everything that could change the answer is as it was:
//!
//! - the command itself (cargo's path, `--manifest-path`, the features) and the variables cargo
//!   and rustup read (`CARGO_*`, `RUSTUP_*`, `RUSTC*`, `RUSTFLAGS`, `HOME`, `PATH`, …), taken from
//!   the run's [`Environment`];
//! - the toolchain: the path, size and modification time of `$CARGO` (or of the `cargo` found on
//!   `PATH`) and of every rustup toolchain's `cargo`, rustup's `settings.toml` (default toolchain
//!   and directory overrides) and every `rust-toolchain`/`rust-toolchain.toml` up the tree;
//! - by content hash (SHA-256): every `.cargo/config`/`config.toml` up the tree from the current
//!   and the manifest's directory and in `CARGO_HOME`, every `Cargo.toml` up those trees;
//! - from the previous answer, by content hash: each path package's `Cargo.toml` (the members and
//!   path dependencies), the workspace's `Cargo.lock`, and the names in the directories cargo
//!   discovers targets and a workspace's glob members from (`src/`, `src/bin/`, `examples/`, …).
//!
//! The first two groups (the [`Fixed`] part) name the entry's file,
//! `<target-dir>/imagebuild/.work/metadata-cache/<fixed>.json`; the file lists the third group's
//! paths with their hashes, checked one by one; the entry's key is the hash of all of it. An
//! entry is written (atomically) only when the inputs were the same before and after cargo ran
//! and no input was modified in the two seconds before cargo started or since, so an edit made
//! while cargo reads cannot be kept with the older answer (the run after it keeps one). cargo is
//! given exactly the run's environment, the one the key is made from. Where cargo's target directory is not the one guessed before
//! asking ([`guess_target_dir`]), nothing is kept.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use cargo_metadata::{Metadata, MetadataCommand};
use sha2::{Digest as _, Sha256};

use crate::plan::paths;
use crate::util::env::Environment;

/// The cache's directory under the work directory.
const DIR: &str = "metadata-cache";
/// Entries kept; the oldest beyond this are removed when one is written.
const KEEP: usize = 8;
/// Bumped when what an entry means changes.
const FORMAT: u32 = 1;

/// Where the run's metadata came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataSource {
    /// Read from a kept entry (`cargo metadata` did not run).
    pub cached: bool,
    /// The hash of every input (hex), the entry's key.
    pub key: String,
}

impl std::fmt::Display for MetadataSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = if self.cached { "cached" } else { "ran" };
        write!(f, "cargo metadata: {how} (key {})", &self.key)
    }
}

/// A kept answer.
#[derive(serde::Serialize, serde::Deserialize)]
struct Entry {
    format: u32,
    /// The hash of the fixed inputs (the file's name).
    fixed: String,
    /// The inputs named by the answer: path and what it held.
    inputs: Vec<(PathBuf, String)>,
    /// cargo's JSON, as it printed it.
    json: String,
}

/// The answer of `cmd` (a `cargo metadata` command), from the cache when every input is as it
/// was, else from cargo (and then kept). `manifest` is the `--manifest-path` given, if any.
pub fn metadata(
    cmd: &MetadataCommand,
    manifest: Option<&Path>,
    env: &Environment,
) -> Result<(Metadata, MetadataSource), cargo_metadata::Error> {
    let mut command = cmd.cargo_command();
    // cargo sees exactly the variables the cache is keyed by: the run's environment.
    command.env_clear().envs(env.iter());
    let cwd = std::env::current_dir().ok();
    let Some(cwd) = cwd else {
        return run(&mut command).map(|(m, _)| {
            let key = String::new();
            (m, MetadataSource { cached: false, key })
        });
    };
    let manifest = manifest.map(|m| cwd.join(m));
    let fixed = fixed(&command, &cwd, manifest.as_deref(), env);
    let dir =
        guess_target_dir(&cwd, manifest.as_deref(), env).map(|t| paths::work_dir(&t).join(DIR));
    if let Some(dir) = &dir {
        if let Some((meta, key)) = lookup(dir, &fixed) {
            return Ok((meta, MetadataSource { cached: true, key }));
        }
    }
    let started = SystemTime::now();
    let (meta, json) = run(&mut command)?;
    let inputs = answer_inputs(&meta);
    let key = key(&fixed, &inputs);
    let dir_is_cargos = dir.as_ref().zip(Some(
        paths::work_dir(meta.target_directory.as_std_path()).join(DIR),
    ));
    if let Some((dir, real)) = dir_is_cargos {
        let unchanged = fixed == self::fixed(&command, &cwd, manifest.as_deref(), env)
            && meta
                .workspace_root
                .as_std_path()
                .join("Cargo.lock")
                .is_file()
            && inputs.iter().all(|(p, _)| older_than(p, started));
        if *dir == real && unchanged {
            store(dir, &fixed, inputs, json);
        }
    }
    Ok((meta, MetadataSource { cached: false, key }))
}

/// Runs cargo and parses its answer, as `MetadataCommand::exec` does, keeping the JSON.
fn run(command: &mut Command) -> Result<(Metadata, String), cargo_metadata::Error> {
    let out = command.output()?;
    if !out.status.success() {
        return Err(cargo_metadata::Error::CargoMetadata {
            stderr: String::from_utf8(out.stderr)?,
        });
    }
    let stdout = std::str::from_utf8(&out.stdout)?;
    let json = stdout
        .lines()
        .find(|l| l.starts_with('{'))
        .ok_or(cargo_metadata::Error::NoJson)?;
    let meta = MetadataCommand::parse(json)?;
    Ok((meta, json.to_string()))
}

/// The kept answer for `fixed` in `dir`, when every input it lists is as it was.
fn lookup(dir: &Path, fixed: &str) -> Option<(Metadata, String)> {
    let bytes = std::fs::read(dir.join(format!("{fixed}.json"))).ok()?;
    let entry: Entry = serde_json::from_slice(&bytes).ok()?;
    if entry.format != FORMAT || entry.fixed != fixed {
        return None;
    }
    for (path, was) in &entry.inputs {
        if input(path) != *was {
            return None;
        }
    }
    let meta = MetadataCommand::parse(&entry.json).ok()?;
    Some((meta, key(fixed, &entry.inputs)))
}

/// Keeps an entry (best effort: a cache that cannot be written only costs the next run time).
fn store(dir: &Path, fixed: &str, inputs: Vec<(PathBuf, String)>, json: String) {
    let entry = Entry {
        format: FORMAT,
        fixed: fixed.to_string(),
        inputs,
        json,
    };
    let Ok(bytes) = serde_json::to_vec(&entry) else {
        return;
    };
    if crate::util::atomic::write(&dir.join(format!("{fixed}.json")), &bytes).is_err() {
        return;
    }
    // Only our own entries (64 hex characters and `.json`) are ever removed.
    let Ok(read) = std::fs::read_dir(dir) else {
        return;
    };
    let mut ours: Vec<(SystemTime, PathBuf)> = read
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.len() == 69
                && name.ends_with(".json")
                && name[..64].bytes().all(|b| b.is_ascii_hexdigit())
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    ours.sort();
    let extra = ours.len().saturating_sub(KEEP);
    for (_, old) in ours.into_iter().take(extra) {
        let _ = std::fs::remove_file(old);
    }
}

/// Whether `path` (if it exists) was last modified before `t`, with two seconds to spare for
/// file systems that keep coarse times (FAT keeps two-second ones): a file edited just before
/// or while cargo read it is not trusted with this answer, and the next run asks cargo again.
fn older_than(path: &Path, t: SystemTime) -> bool {
    match std::fs::symlink_metadata(path).and_then(|m| m.modified()) {
        Ok(m) => m + std::time::Duration::from_secs(2) < t,
        Err(_) => true,
    }
}

/// The entry's key: the fixed part and every listed input.
fn key(fixed: &str, inputs: &[(PathBuf, String)]) -> String {
    let mut h = Sha256::new();
    h.update(fixed.as_bytes());
    for (p, v) in inputs {
        h.update(b"\0");
        h.update(p.as_os_str().as_encoded_bytes());
        h.update(b"\0");
        h.update(v.as_bytes());
    }
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a path held: `file:<sha256>`, `dir:<sha256 of the sorted names, `/` after directories>`,
/// `absent`, or `error`.
fn input(path: &Path) -> String {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "absent".into(),
        Err(_) => "error".into(),
        Ok(m) if m.is_dir() => match std::fs::read_dir(path) {
            Ok(read) => {
                let mut names: Vec<Vec<u8>> = read
                    .flatten()
                    .map(|e| {
                        let mut n = e.file_name().as_encoded_bytes().to_vec();
                        if e.path().is_dir() {
                            n.push(b'/');
                        }
                        n
                    })
                    .collect();
                names.sort();
                let mut h = Sha256::new();
                for n in names {
                    h.update(&n);
                    h.update(b"\0");
                }
                format!("dir:{}", hex(&h.finalize()))
            }
            Err(_) => "error".into(),
        },
        Ok(_) => match std::fs::read(path) {
            Ok(bytes) => format!("file:{}", hex(&Sha256::digest(&bytes))),
            Err(_) => "error".into(),
        },
    }
}

/// A program's identity without reading it whole: `path|size|mtime`, or `absent`.
fn program(path: &Path) -> String {
    match std::fs::metadata(path) {
        Ok(m) => {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{}|{}|{mtime}", path.display(), m.len())
        }
        Err(_) => format!("{}|absent", path.display()),
    }
}

/// Whether cargo and rustup read this variable (ours, `CARGO_IMAGEBUILD_*`, they ignore).
fn read_by_cargo(name: &str) -> bool {
    (name.starts_with("CARGO") || name.starts_with("__CARGO"))
        && !name.starts_with("CARGO_IMAGEBUILD_")
        || name.starts_with("RUSTUP")
        || name.starts_with("RUSTC")
        || name.starts_with("RUST_")
        || [
            "RUSTFLAGS",
            "RUSTDOCFLAGS",
            "HOME",
            "PATH",
            "http_proxy",
            "https_proxy",
            "HTTP_PROXY",
            "HTTPS_PROXY",
        ]
        .contains(&name)
}

/// The hash of what is known before asking cargo: the command, the variables, the toolchain,
/// the configuration and the manifests up the tree.
fn fixed(command: &Command, cwd: &Path, manifest: Option<&Path>, env: &Environment) -> String {
    let mut h = Sha256::new();
    let mut put = |label: &str, value: &[u8]| {
        h.update(label.as_bytes());
        h.update(b"=");
        h.update(value);
        h.update(b"\n");
    };
    put("format", FORMAT.to_string().as_bytes());
    put("cwd", cwd.as_os_str().as_encoded_bytes());
    put("program", command.get_program().as_encoded_bytes());
    for a in command.get_args() {
        put("arg", a.as_encoded_bytes());
    }
    for (k, v) in env.iter() {
        if k.to_str().is_some_and(read_by_cargo) {
            put(&k.to_string_lossy(), v.as_encoded_bytes());
        }
    }
    // The toolchain: the cargo that runs, and every rustup toolchain's cargo (an update
    // replaces it) with rustup's settings (the default and directory overrides).
    let cargo = Path::new(command.get_program());
    let cargo = if cargo.is_absolute() {
        Some(cargo.to_path_buf())
    } else {
        env.search_path()
            .into_iter()
            .map(|d| d.join(cargo))
            .find(|p| p.is_file())
    };
    put(
        "cargo",
        program(cargo.as_deref().unwrap_or(Path::new("cargo"))).as_bytes(),
    );
    let home = env.path("HOME");
    let rustup = env
        .path("RUSTUP_HOME")
        .or_else(|| home.as_ref().map(|h| h.join(".rustup")));
    if let Some(rustup) = rustup {
        put(
            "rustup settings",
            input(&rustup.join("settings.toml")).as_bytes(),
        );
        let toolchains = rustup.join("toolchains");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&toolchains)
            .map(|r| r.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        names.sort();
        for t in names {
            put("toolchain", program(&t.join("bin/cargo")).as_bytes());
        }
    }
    // Files up the tree from where cargo starts (the current directory decides the
    // configuration; the manifest's directory the workspace).
    let mut dirs: BTreeSet<&Path> = cwd.ancestors().collect();
    if let Some(dir) = manifest.and_then(Path::parent) {
        dirs.extend(dir.ancestors());
    }
    for d in dirs.iter().rev() {
        for name in [
            ".cargo/config.toml",
            ".cargo/config",
            "Cargo.toml",
            "rust-toolchain",
            "rust-toolchain.toml",
        ] {
            let p = d.join(name);
            put(&p.to_string_lossy(), input(&p).as_bytes());
        }
    }
    let cargo_home = env
        .path("CARGO_HOME")
        .or_else(|| home.map(|h| h.join(".cargo")));
    if let Some(ch) = cargo_home {
        for name in ["config.toml", "config"] {
            let p = ch.join(name);
            put(&p.to_string_lossy(), input(&p).as_bytes());
        }
    }
    hex(&h.finalize())
}

/// The inputs an answer names, with what each holds now: every path package's manifest and the
/// directories its targets are discovered in, the workspace's `Cargo.toml` and `Cargo.lock`, and
/// the directories its glob members are found in.
fn answer_inputs(meta: &Metadata) -> Vec<(PathBuf, String)> {
    let mut paths: BTreeSet<PathBuf> = BTreeSet::new();
    let root = meta.workspace_root.as_std_path();
    paths.insert(root.join("Cargo.toml"));
    paths.insert(root.join("Cargo.lock"));
    for p in meta.packages.iter().filter(|p| p.source.is_none()) {
        let manifest = p.manifest_path.as_std_path();
        paths.insert(manifest.to_path_buf());
        let Some(dir) = manifest.parent() else {
            continue;
        };
        paths.insert(dir.to_path_buf());
        paths.insert(dir.join("src"));
        for sub in ["src/bin", "examples", "tests", "benches"] {
            let d = dir.join(sub);
            paths.insert(d.clone());
            // `src/bin/<name>/main.rs` and the like are targets too.
            if let Ok(read) = std::fs::read_dir(&d) {
                for e in read.flatten().filter(|e| e.path().is_dir()) {
                    paths.insert(e.path());
                }
            }
        }
    }
    paths.extend(glob_member_dirs(root));
    paths
        .into_iter()
        .map(|p| {
            let v = input(&p);
            (p, v)
        })
        .collect()
}

/// The directories where `[workspace] members` globs (`crates/*`) find members: each one up to
/// the glob, and the directories under it down to the glob's depth (bounded by the pattern).
fn glob_member_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(root.join("Cargo.toml")) else {
        return Vec::new();
    };
    let Ok(doc) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let members = doc
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    for m in members.iter().filter_map(|m| m.as_str()) {
        let parts: Vec<&str> = m.split('/').collect();
        let Some(first) = parts.iter().position(|c| c.contains(['*', '?', '['])) else {
            continue;
        };
        let base = root.join(parts[..first].join("/"));
        let mut level = vec![base];
        for _ in first..parts.len() {
            let mut next = Vec::new();
            for d in &level {
                out.push(d.clone());
                if let Ok(read) = std::fs::read_dir(d) {
                    next.extend(read.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
                }
            }
            level = next;
        }
        // The members themselves: whether each holds a manifest.
        out.extend(level.into_iter().map(|d| d.join("Cargo.toml")));
    }
    out
}

/// cargo's target directory as it will be, guessed without asking it: `CARGO_TARGET_DIR` or
/// `CARGO_BUILD_TARGET_DIR`, else the nearest configuration's `build.target-dir`, else `target`
/// beside the workspace's root manifest (the nearest `Cargo.toml` with a `[workspace]` up from
/// the starting manifest). A wrong guess only means nothing is kept.
pub fn guess_target_dir(cwd: &Path, manifest: Option<&Path>, env: &Environment) -> Option<PathBuf> {
    for var in ["CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR"] {
        if let Some(t) = env.path(var) {
            return Some(cwd.join(t));
        }
    }
    let home = env.path("HOME");
    let cargo_home = env
        .path("CARGO_HOME")
        .or_else(|| home.map(|h| h.join(".cargo")));
    let configs = cwd
        .ancestors()
        .flat_map(|d| {
            [
                (d.to_path_buf(), d.join(".cargo/config.toml")),
                (d.to_path_buf(), d.join(".cargo/config")),
            ]
        })
        .chain(cargo_home.into_iter().flat_map(|ch| {
            let base = ch.parent().map(Path::to_path_buf).unwrap_or_default();
            [
                (base.clone(), ch.join("config.toml")),
                (base, ch.join("config")),
            ]
        }));
    for (base, file) in configs {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let doc = text.parse::<toml::Table>().ok()?;
        if let Some(t) = doc
            .get("build")
            .and_then(|b| b.get("target-dir"))
            .and_then(|t| t.as_str())
        {
            return Some(base.join(t));
        }
    }
    let start = match manifest {
        Some(m) => m.to_path_buf(),
        None => cwd
            .ancestors()
            .map(|d| d.join("Cargo.toml"))
            .find(|p| p.is_file())?,
    };
    let start_dir = start.parent()?;
    for d in start_dir.ancestors() {
        let file = d.join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let doc = text.parse::<toml::Table>().ok()?;
        if doc.contains_key("workspace") {
            return Some(d.join("target"));
        }
        if d == start_dir {
            if let Some(ws) = doc
                .get("package")
                .and_then(|p| p.get("workspace"))
                .and_then(|w| w.as_str())
            {
                return Some(d.join(ws).join("target"));
            }
        }
    }
    Some(start_dir.join("target"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_variables_do_not_count_and_cargos_do() {
        assert!(read_by_cargo("CARGO_HOME"));
        assert!(read_by_cargo("CARGO_BUILD_TARGET_DIR"));
        assert!(read_by_cargo("RUSTUP_TOOLCHAIN"));
        assert!(read_by_cargo("RUSTFLAGS"));
        assert!(!read_by_cargo("CARGO_IMAGEBUILD_TAGS"));
        assert!(!read_by_cargo("SOURCE_DATE_EPOCH"));
    }

    #[test]
    fn a_directory_input_changes_with_its_names() {
        let d = tempfile::tempdir().unwrap();
        let before = input(d.path());
        std::fs::write(d.path().join("main.rs"), "").unwrap();
        let after = input(d.path());
        assert_ne!(before, after);
        assert_eq!(input(&d.path().join("nope")), "absent");
        let f = input(&d.path().join("main.rs"));
        std::fs::write(d.path().join("main.rs"), "x").unwrap();
        assert_ne!(f, input(&d.path().join("main.rs")));
    }
}
