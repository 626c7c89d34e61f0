//! What the user told cargo about a target, read the way cargo reads it: the environment
//! (`CARGO_TARGET_<T>_LINKER`), `--config` values and `.cargo/config.toml` files from the
//! workspace upwards and in `$CARGO_HOME`. Reading only; routes decide what to do with it.

use std::path::{Path, PathBuf};

use crate::util::env::Environment;

/// The env var form of a triple: `aarch64-unknown-linux-gnu` → `AARCH64_UNKNOWN_LINUX_GNU`.
pub fn env_triple(triple: &str) -> String {
    triple.to_ascii_uppercase().replace(['-', '.'], "_")
}
/// The environment variable cargo reads the linker for `triple` from.
pub fn linker_env_var(triple: &str) -> String {
    format!("CARGO_TARGET_{}_LINKER", env_triple(triple))
}

/// The linker the user configured for `triple`, and where: the environment, a `--config` value,
/// or a `.cargo/config.toml` from `dir` upwards or in `$CARGO_HOME`.
pub fn user_linker(
    triple: &str,
    dir: &Path,
    cargo_config: &[String],
    env: &Environment,
) -> Option<(String, String)> {
    let var = linker_env_var(triple);
    if let Some(v) = env.get(&var).and_then(|v| v.to_str()) {
        return Some((v.to_string(), var));
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
    for (f, doc) in config_files(dir, env) {
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

/// The cargo configuration files that apply in `dir`, nearest first, parsed (unreadable or
/// malformed files are skipped: cargo itself reports those).
pub fn config_files(dir: &Path, env: &Environment) -> Vec<(PathBuf, toml::Table)> {
    let mut files: Vec<PathBuf> = dir
        .ancestors()
        .flat_map(|d| [d.join(".cargo/config.toml"), d.join(".cargo/config")])
        .collect();
    let cargo_home = env
        .get("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env.get("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(home) = cargo_home {
        files.push(home.join("config.toml"));
        files.push(home.join("config"));
    }
    files
        .into_iter()
        .filter_map(|f| {
            let doc = std::fs::read_to_string(&f)
                .ok()?
                .parse::<toml::Table>()
                .ok()?;
            Some((f, doc))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linker_env_var_names() {
        assert_eq!(
            linker_env_var("aarch64-unknown-linux-musl"),
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER"
        );
    }

    #[test]
    fn user_linkers_from_config_files_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".cargo")).unwrap();
        std::fs::write(
            dir.path().join(".cargo/config.toml"),
            "[target.riscv64gc-unknown-linux-musl]\nlinker = \"my-ld\"\n",
        )
        .unwrap();
        let sub = dir.path().join("crates/app");
        std::fs::create_dir_all(&sub).unwrap();
        let (l, _) = user_linker(
            "riscv64gc-unknown-linux-musl",
            &sub,
            &[],
            &Environment::empty(),
        )
        .unwrap();
        assert_eq!(l, "my-ld");
        assert_eq!(
            user_linker(
                "loongarch64-unknown-linux-musl",
                &sub,
                &[],
                &Environment::empty()
            ),
            None
        );
        let cfg = ["target.loongarch64-unknown-linux-musl.linker = \"cc\"".to_string()];
        let (l, from) = user_linker(
            "loongarch64-unknown-linux-musl",
            &sub,
            &cfg,
            &Environment::empty(),
        )
        .unwrap();
        assert_eq!((l.as_str(), from.starts_with("--config")), ("cc", true));
    }
}
