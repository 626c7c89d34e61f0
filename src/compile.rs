//! Runs `cargo build --target T --message-format=json-render-diagnostics` for each target and
//! takes the executables from cargo's own artifact messages (never guessing paths). Chooses the
//! linker: the user's own when configured (`CARGO_TARGET_<T>_LINKER`, `.cargo/config.toml`),
//! else `rust-lld` for `*-linux-musl*` targets, which links pure-Rust code with no C toolchain.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use cargo_metadata::Message;

use crate::ui::{Ui, Verbosity};

/// Cargo feature flags, passed through as given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeatureArgs {
    pub features: Vec<String>,
    pub all_features: bool,
    pub no_default_features: bool,
}

/// One `cargo build` for one target.
#[derive(Clone, Debug)]
pub struct CompileRequest<'a> {
    pub manifest_path: &'a Path,
    pub workspace_root: &'a Path,
    pub packages: Vec<String>,
    pub bins: Vec<String>,
    pub features: &'a FeatureArgs,
    pub profile: &'a str,
    pub triple: &'a str,
    /// Extra `--config` values for cargo, as the user gave them.
    pub cargo_config: &'a [String],
}

/// An executable cargo built, keyed by package and binary name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    pub package: String,
    pub bin: String,
    pub path: PathBuf,
}

/// The environment variable cargo reads the linker for `triple` from.
pub fn linker_env_var(triple: &str) -> String {
    format!(
        "CARGO_TARGET_{}_LINKER",
        triple.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

/// The linker the user configured for `triple`, and where: the environment, a `--config` value,
/// or a `.cargo/config.toml` from `dir` upwards or in `$CARGO_HOME`.
pub fn user_linker(triple: &str, dir: &Path, cargo_config: &[String]) -> Option<(String, String)> {
    let var = linker_env_var(triple);
    if let Ok(v) = std::env::var(&var) {
        return Some((v, var));
    }
    let key = format!("target.{triple}.linker");
    for c in cargo_config {
        if let Some((k, v)) = c.split_once('=') {
            if k.trim() == key || k.trim() == format!("target.\"{triple}\".linker") {
                return Some((
                    v.trim().trim_matches('"').to_string(),
                    format!("--config {c}"),
                ));
            }
        }
    }
    let mut files: Vec<PathBuf> = dir
        .ancestors()
        .flat_map(|d| [d.join(".cargo/config.toml"), d.join(".cargo/config")])
        .collect();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(home) = cargo_home {
        files.push(home.join("config.toml"));
        files.push(home.join("config"));
    }
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let Ok(doc) = text.parse::<toml::Table>() else {
            continue;
        };
        let linker = doc
            .get("target")
            .and_then(|t| t.get(triple))
            .and_then(|t| t.get("linker"))
            .and_then(|l| l.as_str());
        if let Some(l) = linker {
            return Some((l.to_string(), f.display().to_string()));
        }
    }
    None
}

/// The linker we set for `triple`, if any: `rust-lld` for musl targets with no user linker.
pub fn chosen_linker(triple: &str, dir: &Path, cargo_config: &[String]) -> Option<String> {
    if user_linker(triple, dir, cargo_config).is_some() {
        return None;
    }
    triple
        .contains("-linux-musl")
        .then(|| "rust-lld".to_string())
}

/// Builds the requested binaries for one target and returns their executables.
pub fn compile(req: &CompileRequest<'_>, ui: &Ui) -> Result<Vec<Artifact>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(req.manifest_path)
        .args(["--target", req.triple])
        .args(["--profile", req.profile])
        .arg("--message-format=json-render-diagnostics");
    for p in &req.packages {
        cmd.args(["-p", p]);
    }
    for b in &req.bins {
        cmd.args(["--bin", b]);
    }
    if !req.features.features.is_empty() {
        cmd.args(["--features", &req.features.features.join(",")]);
    }
    if req.features.all_features {
        cmd.arg("--all-features");
    }
    if req.features.no_default_features {
        cmd.arg("--no-default-features");
    }
    for c in req.cargo_config {
        cmd.args(["--config", c]);
    }
    match ui.verbosity {
        Verbosity::Quiet => {
            cmd.arg("--quiet");
        }
        Verbosity::Verbose => {
            cmd.arg("--verbose");
        }
        Verbosity::Normal => {}
    }
    if let Some(linker) = chosen_linker(req.triple, req.workspace_root, req.cargo_config) {
        ui.detail("Linker", &format!("{linker} for {}", req.triple));
        cmd.env(linker_env_var(req.triple), linker);
    }
    ui.detail("Running", &format!("{cmd:?}"));
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("running {}", cargo.to_string_lossy()))?;
    let stdout = child.stdout.take().context("reading cargo's output")?;
    let mut found: BTreeMap<(String, String), PathBuf> = BTreeMap::new();
    for message in Message::parse_stream(BufReader::new(stdout)) {
        let message = message.context("reading cargo's JSON messages")?;
        if let Message::CompilerArtifact(a) = message {
            let is_bin = a.target.kind.iter().any(|k| k.to_string() == "bin");
            if let (true, Some(exe)) = (is_bin, a.executable) {
                let package = package_name(&a.package_id.repr);
                found.insert((package, a.target.name.clone()), exe.into_std_path_buf());
            }
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    if !status.success() {
        bail!(
            "cargo build for {} failed (its errors are above): fix the build, then run again",
            req.triple
        );
    }
    Ok(found
        .into_iter()
        .map(|((package, bin), path)| Artifact { package, bin, path })
        .collect())
}

/// The package name in a package id: `path+file:///ws/app#app@0.1.0` → `app`,
/// `path+file:///ws/app#0.1.0` → `app`, old style `app 0.1.0 (path+file://…)` → `app`.
pub fn package_name(id: &str) -> String {
    if let Some((url, frag)) = id.rsplit_once('#') {
        if let Some((name, _)) = frag.split_once('@') {
            return name.to_string();
        }
        return url
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(url)
            .to_string();
    }
    id.split(' ').next().unwrap_or(id).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_from_every_id_style() {
        assert_eq!(package_name("path+file:///ws/app#app@0.1.0"), "app");
        assert_eq!(package_name("path+file:///ws/my-app#0.1.0"), "my-app");
        assert_eq!(package_name("app 0.1.0 (path+file:///ws/app)"), "app");
    }

    #[test]
    fn linker_env_var_names() {
        assert_eq!(
            linker_env_var("aarch64-unknown-linux-musl"),
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER"
        );
    }

    #[test]
    fn user_linker_from_config_files_wins_over_rust_lld() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".cargo")).unwrap();
        std::fs::write(
            dir.path().join(".cargo/config.toml"),
            "[target.riscv64gc-unknown-linux-musl]\nlinker = \"my-ld\"\n",
        )
        .unwrap();
        let sub = dir.path().join("crates/app");
        std::fs::create_dir_all(&sub).unwrap();
        let (l, _) = user_linker("riscv64gc-unknown-linux-musl", &sub, &[]).unwrap();
        assert_eq!(l, "my-ld");
        assert_eq!(
            chosen_linker("riscv64gc-unknown-linux-musl", &sub, &[]),
            None
        );
        assert_eq!(
            chosen_linker("loongarch64-unknown-linux-musl", &sub, &[]).as_deref(),
            Some("rust-lld")
        );
        assert_eq!(
            chosen_linker("loongarch64-unknown-linux-gnu", &sub, &[]),
            None
        );
        let cfg = ["target.loongarch64-unknown-linux-musl.linker = \"cc\"".to_string()];
        assert_eq!(
            chosen_linker("loongarch64-unknown-linux-musl", &sub, &cfg),
            None
        );
    }
}
