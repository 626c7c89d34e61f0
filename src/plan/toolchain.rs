//! The Rust toolchain as the workspace sees it (rustup overrides apply): its host triple, which
//! targets have a standard library, each target's `cfg` values, and choosing the triple for a
//! platform (the first candidate of the platform table whose standard library is here). Reading
//! only: installing a missing standard library is the build step `build/toolchain.rs`.
//!
//! Asking rustc costs a process (two through the rustup proxy) per question, so the answers are
//! kept in `<target-dir>/imagebuild/.work/rustc-info.json`, keyed by the path, size and modification
//! time of the rustc that answered (as cargo keeps its own `.rustc_info.json`). That is only done
//! for a rustc whose path names one toolchain: `$RUSTC`, or the `rustc` beside the `$CARGO` that
//! runs us as `cargo imagebuild`; a bare `rustc` (the rustup proxy, whose toolchain depends on
//! overrides) is asked every time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use cargo_metadata::cargo_platform::Cfg;

use crate::image::platform::Platform;
use crate::util::env::Environment;

/// The zig version provisioned, as `zig version` prints it (and PyPI's `ziglang` version).
pub const ZIG_VERSION: &str = "0.17.1";

/// The toolchain that `cargo build` in `dir` would use.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Toolchain {
    dir: PathBuf,
    sysroot: PathBuf,
    /// The host triple (`rustc -vV`).
    host: String,
    /// The first line of `rustc -vV`: `rustc 1.93.0 (254b59607 2026-01-19)`.
    version: String,
    /// The rustc that answered, run directly (no rustup proxy) when it names one toolchain.
    rustc: PathBuf,
    /// The cargo that runs the builds: `$CARGO`, else `cargo`.
    cargo: PathBuf,
    /// Where the answers are kept, when they may be ([`RustcCache`]).
    #[serde(skip)]
    cache: Option<PathBuf>,
    /// The kept answers, read once per run (when they may be kept), shared by the clones.
    #[serde(skip)]
    answers: std::sync::Arc<std::sync::Mutex<Option<RustcCache>>>,
}

/// What `rustc-info.json` holds: the answers of one rustc.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct RustcCache {
    /// `path|size|mtime` of the rustc that answered.
    key: String,
    host: String,
    sysroot: PathBuf,
    /// The first line of `rustc -vV` (empty in a file written before it was kept: asked again).
    #[serde(default)]
    version: String,
    /// `rustc --print cfg --target T`, one line each, per target.
    #[serde(default)]
    cfg: BTreeMap<String, Vec<String>>,
    /// `cargo -V`, by the `path|size|mtime` of the cargo that answered (for provenance).
    #[serde(default)]
    cargo: BTreeMap<String, String>,
}

/// The rustc to ask, and the key its answers may be kept under (None: ask every time).
fn rustc_program(env: &Environment) -> (PathBuf, Option<String>) {
    let explicit = env.path("RUSTC").filter(|r| r.is_absolute());
    let beside_cargo = || {
        env.path("CARGO")
            .filter(|c| c.is_absolute())
            .and_then(|c| c.parent().map(|d| d.join("rustc")))
            .filter(|r| r.is_file())
    };
    match explicit.or_else(beside_cargo) {
        Some(rustc) => {
            let key = program_key(&rustc);
            (rustc, key)
        }
        None => (
            env.path("RUSTC").unwrap_or_else(|| PathBuf::from("rustc")),
            None,
        ),
    }
}

/// `path|size|mtime` of a program, the key its answers are kept under.
fn program_key(program: &Path) -> Option<String> {
    let m = std::fs::metadata(program).ok()?;
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Some(format!("{}|{}|{mtime}", program.display(), m.len()))
}

/// Runs `rustc ARGS` in `dir` and gives its standard output.
fn ask(rustc: &Path, dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(rustc)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| {
            format!(
                "running `{} {}`: is Rust installed?",
                rustc.display(),
                args.join(" ")
            )
        })?;
    if !out.status.success() {
        bail!(
            "`{} {}` failed in {}",
            rustc.display(),
            args.join(" "),
            dir.display()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl RustcCache {
    fn load(path: &Path, key: &str) -> Option<RustcCache> {
        let bytes = std::fs::read(path).ok()?;
        let cache: RustcCache = serde_json::from_slice(&bytes).ok()?;
        (cache.key == key && !cache.version.is_empty()).then_some(cache)
    }

    /// Best effort: a cache that cannot be written is asked again next time.
    fn store(&self, path: &Path) {
        if let Ok(bytes) = serde_json::to_vec_pretty(self) {
            let _ = crate::util::atomic::write(path, &bytes);
        }
    }
}

impl Toolchain {
    /// Asks `rustc` (as `$RUSTC`, beside `$CARGO`, or found by rustup from `dir`) for its
    /// sysroot and host, with no cache.
    pub fn detect(dir: &Path, env: &Environment) -> Result<Toolchain> {
        Toolchain::detect_cached(dir, None, env)
    }

    /// [`Toolchain::detect`], keeping the answers in the file `cache` when the rustc names one
    /// toolchain.
    pub fn detect_cached(
        dir: &Path,
        cache: Option<PathBuf>,
        env: &Environment,
    ) -> Result<Toolchain> {
        let (rustc, key) = rustc_program(env);
        let cargo = env.path("CARGO").unwrap_or_else(|| PathBuf::from("cargo"));
        let cache = cache.filter(|_| key.is_some());
        if let (Some(path), Some(key)) = (&cache, &key) {
            if let Some(c) = RustcCache::load(path, key) {
                return Ok(Toolchain {
                    dir: dir.to_path_buf(),
                    sysroot: c.sysroot.clone(),
                    host: c.host.clone(),
                    version: c.version.clone(),
                    rustc,
                    cargo,
                    cache,
                    answers: std::sync::Arc::new(std::sync::Mutex::new(Some(c))),
                });
            }
        }
        let sysroot = PathBuf::from(ask(&rustc, dir, &["--print", "sysroot"])?.trim());
        let verbose = ask(&rustc, dir, &["-vV"])?;
        let host = verbose
            .lines()
            .find_map(|l| l.strip_prefix("host: "))
            .map(|h| h.trim().to_string())
            .with_context(|| format!("`{} -vV` named no host", rustc.display()))?;
        let version = verbose
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        let answers = match (&cache, key) {
            (Some(path), Some(key)) => {
                let c = RustcCache {
                    key,
                    host: host.clone(),
                    sysroot: sysroot.clone(),
                    version: version.clone(),
                    cfg: BTreeMap::new(),
                    cargo: BTreeMap::new(),
                };
                c.store(path);
                Some(c)
            }
            _ => None,
        };
        Ok(Toolchain {
            dir: dir.to_path_buf(),
            sysroot,
            host,
            version,
            rustc,
            cargo,
            cache,
            answers: std::sync::Arc::new(std::sync::Mutex::new(answers)),
        })
    }

    pub fn sysroot(&self) -> &Path {
        &self.sysroot
    }

    /// The host triple, which links with the system `cc`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `rustc --print cfg --target triple`: what `cfg(...)` conditions hold for the target (to
    /// read which dependencies it builds). Kept with the other answers.
    pub fn cfg(&self, triple: &str) -> Result<Vec<Cfg>> {
        let known = self
            .kept()
            .as_ref()
            .and_then(|c| c.cfg.get(triple).cloned());
        let lines = match known {
            Some(lines) => lines,
            None => {
                let text = ask(
                    &self.rustc,
                    &self.dir,
                    &["--print", "cfg", "--target", triple],
                )?;
                let lines: Vec<String> = text.lines().map(str::to_string).collect();
                if let (Some(path), Some(c)) = (&self.cache, self.kept().as_mut()) {
                    c.cfg.insert(triple.to_string(), lines.clone());
                    c.store(path);
                }
                lines
            }
        };
        lines
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                l.parse::<Cfg>()
                    .with_context(|| format!("reading `rustc --print cfg --target {triple}`: {l}"))
            })
            .collect()
    }

    /// The answers read at [`Toolchain::detect_cached`] (and those added since), when they
    /// may be kept.
    fn kept(&self) -> std::sync::MutexGuard<'_, Option<RustcCache>> {
        self.answers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The first line of `rustc -vV`, e.g. `rustc 1.93.0 (254b59607 2026-01-19)`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The first line of `cargo -V` for the `$CARGO` that runs us (or `cargo`), or `None` when it
    /// cannot run. Kept with the rustc answers, keyed by that cargo's path, size and mtime.
    pub fn cargo_version(&self) -> Option<String> {
        let cargo = &self.cargo;
        let key = cargo.is_absolute().then(|| program_key(cargo)).flatten();
        if let (Some(c), Some(key)) = (self.kept().as_ref(), &key) {
            if let Some(v) = c.cargo.get(key) {
                return Some(v.clone());
            }
        }
        let text = ask(cargo, &self.dir, &["-V"]).ok()?;
        let line = text.lines().next()?.trim().to_string();
        if let (Some(path), Some(c), Some(key)) = (&self.cache, self.kept().as_mut(), key) {
            c.cargo.insert(key, line.clone());
            c.store(path);
        }
        Some(line)
    }

    /// Whether the standard library for `triple` is installed.
    pub fn has_std(&self, triple: &str) -> bool {
        self.sysroot
            .join("lib/rustlib")
            .join(triple)
            .join("lib")
            .is_dir()
    }

    /// The cargo that runs the builds: `$CARGO` (set when cargo runs us), else `cargo`.
    pub fn cargo(&self) -> &Path {
        &self.cargo
    }

    /// The directory rustup resolves its toolchain from (overrides apply there).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The triple to build `platform` with, deciding only: `preferred` when given, else the
    /// first table candidate whose standard library is installed, else the first candidate
    /// (installing it is the provision step `provision::targets::install_targets`).
    pub fn choose(&self, platform: &Platform, preferred: Option<&str>) -> Result<String> {
        if let Some(t) = preferred {
            return Ok(t.to_string());
        }
        let candidates = platform.candidate_triples();
        if let Some(t) = candidates.iter().find(|t| self.has_std(t)) {
            return Ok(t.to_string());
        }
        candidates
            .first()
            .map(|t| t.to_string())
            .with_context(|| format!("no Rust target is known for {platform}"))
    }
}
