//! Adds our rustflags to a build without clobbering the user's own: `-C
//! target-feature=+crt-static` where a route links glibc statically, and the
//! `--remap-path-prefix` flags that take this machine's paths out of binaries
//! ([`crate::plan::reproducible`]).
//!
//! Cargo takes rustflags from the first of these that is set, ignoring the rest:
//! `CARGO_ENCODED_RUSTFLAGS`, `RUSTFLAGS`, every matching `target.<triple|cfg>.rustflags`
//! (config files, `CARGO_TARGET_<T>_RUSTFLAGS` and `--config`, concatenated), `build.rustflags`.
//! So our flags are added at the level the user's flags already live: appended to the encoded
//! variable (which is built from `RUSTFLAGS` when that is the one set), else given as a
//! `--config target.<triple>.rustflags` value that cargo concatenates with the user's target
//! flags; when only `build.rustflags` is set, its values are carried into that value, since a
//! target-level value would otherwise hide them. When the user's flags mention `crt-static`
//! themselves, their choice stands and that flag is not added.

use std::path::Path;

use crate::route::cargo_config::{config_files, env_triple};
use crate::util::env::Environment;

/// The flag, as cargo's `--config` and the encoded variable want it.
pub const CRT_STATIC: &str = "-Ctarget-feature=+crt-static";

/// How our flags reach cargo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddedFlags {
    /// Set this environment variable (`CARGO_ENCODED_RUSTFLAGS`) to this value.
    Env(String, String),
    /// Pass `--config` with this value.
    Config(String),
    /// Nothing to add (no flags wanted, or the user's flags already decide `crt-static` and
    /// nothing else is wanted).
    Nothing,
}

/// How to add `extra` (and `+crt-static` when `crt_static`) for `triple`, given the process
/// environment and the cargo configuration that applies in `dir`.
pub fn added(
    triple: &str,
    dir: &Path,
    cargo_config: &[String],
    crt_static: bool,
    extra: &[String],
    env: &Environment,
) -> AddedFlags {
    if !crt_static && extra.is_empty() {
        return AddedFlags::Nothing;
    }
    let files: Vec<toml::Table> = config_files(dir, env).into_iter().map(|(_, t)| t).collect();
    decide(
        triple,
        &|k| env.get(k).and_then(|v| v.to_str()).map(str::to_string),
        &files,
        cargo_config,
        crt_static,
        extra,
    )
}

/// Ours: `extra`, then `+crt-static` unless `decided` (the user's flags mention it).
fn ours(crt_static: bool, decided: bool, extra: &[String]) -> Vec<String> {
    let mut v = extra.to_vec();
    if crt_static && !decided {
        v.push(CRT_STATIC.to_string());
    }
    v
}

/// [`added`] on explicit inputs.
pub fn decide(
    triple: &str,
    env: &dyn Fn(&str) -> Option<String>,
    files: &[toml::Table],
    cargo_config: &[String],
    crt_static: bool,
    extra: &[String],
) -> AddedFlags {
    const SEP: &str = "\x1f";
    let encoded = |words: Vec<String>| {
        if words.is_empty() {
            AddedFlags::Nothing
        } else {
            AddedFlags::Env("CARGO_ENCODED_RUSTFLAGS".into(), words.join(SEP))
        }
    };
    if let Some(user) = env("CARGO_ENCODED_RUSTFLAGS") {
        let add = ours(crt_static, user.contains("crt-static"), extra);
        if add.is_empty() {
            return AddedFlags::Nothing;
        }
        let mut words: Vec<String> = Vec::new();
        if !user.is_empty() {
            words.push(user);
        }
        words.extend(add);
        return encoded(words);
    }
    if let Some(flags) = env("RUSTFLAGS") {
        let add = ours(crt_static, flags.contains("crt-static"), extra);
        if add.is_empty() {
            return AddedFlags::Nothing;
        }
        let mut words: Vec<String> = flags.split_whitespace().map(str::to_string).collect();
        words.extend(add);
        return encoded(words);
    }

    // Target-level flags (any `[target.*]` table, to be safe with cfg() keys we do not evaluate)
    // and build-level flags, from every source.
    let cli: Vec<toml::Table> = cargo_config
        .iter()
        .filter_map(|c| c.parse::<toml::Table>().ok())
        .collect();
    let tables: Vec<&toml::Table> = files.iter().chain(&cli).collect();
    let mut target_flags: Vec<String> = Vec::new();
    let mut build_flags: Vec<String> = Vec::new();
    for t in &tables {
        if let Some(targets) = t.get("target").and_then(|v| v.as_table()) {
            for (key, v) in targets {
                if key == triple || key.starts_with("cfg(") {
                    target_flags.extend(flag_words(v.get("rustflags")));
                }
            }
        }
        if let Some(b) = t.get("build").and_then(|v| v.as_table()) {
            build_flags.extend(flag_words(b.get("rustflags")));
        }
    }
    if let Some(v) = env(&format!("CARGO_TARGET_{}_RUSTFLAGS", env_triple(triple))) {
        target_flags.extend(v.split_whitespace().map(str::to_string));
    }
    if let Some(v) = env("CARGO_BUILD_RUSTFLAGS") {
        build_flags.extend(v.split_whitespace().map(str::to_string));
    }
    let decided = target_flags
        .iter()
        .chain(&build_flags)
        .any(|f| f.contains("crt-static"));
    let add = ours(crt_static, decided, extra);
    if add.is_empty() {
        return AddedFlags::Nothing;
    }
    let mut words: Vec<String> = if target_flags.is_empty() {
        build_flags
    } else {
        Vec::new()
    };
    words.extend(add);
    let list = words
        .iter()
        .map(|f| toml::Value::String(f.clone()).to_string())
        .collect::<Vec<_>>()
        .join(", ");
    AddedFlags::Config(format!("target.{triple}.rustflags=[{list}]"))
}

/// A rustflags value as words: an array of strings, or one space-separated string.
fn flag_words(v: Option<&toml::Value>) -> Vec<String> {
    match v {
        Some(toml::Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Some(toml::Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "aarch64-unknown-linux-gnu";

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn toml(s: &str) -> toml::Table {
        s.parse().unwrap()
    }

    fn encoded(v: &str) -> AddedFlags {
        AddedFlags::Env("CARGO_ENCODED_RUSTFLAGS".into(), v.into())
    }

    #[test]
    fn environment_flags_are_kept_and_extended() {
        let rustflags = env_of(&[("RUSTFLAGS", "--cfg a  -Copt-level=1")]);
        assert_eq!(
            decide(T, &rustflags, &[], &[], true, &[]),
            encoded("--cfg\x1fa\x1f-Copt-level=1\x1f-Ctarget-feature=+crt-static")
        );
        let already = env_of(&[("CARGO_ENCODED_RUSTFLAGS", "--cfg\x1fa b")]);
        assert_eq!(
            decide(T, &already, &[], &[], true, &[]),
            encoded("--cfg\x1fa b\x1f-Ctarget-feature=+crt-static")
        );
    }

    #[test]
    fn config_flags_are_merged_not_hidden() {
        // Nothing set: our flag alone, which cargo concatenates with any target flags.
        let none = decide(T, &env_of(&[]), &[], &[], true, &[]);
        assert_eq!(
            none,
            AddedFlags::Config(format!("target.{T}.rustflags=[\"{CRT_STATIC}\"]"))
        );
        // Only build.rustflags: carried over, or our target value would hide them.
        let files = [toml("[build]\nrustflags = [\"--cfg\", \"b\"]\n")];
        assert_eq!(
            decide(T, &env_of(&[]), &files, &[], true, &[]),
            AddedFlags::Config(format!(
                "target.{T}.rustflags=[\"--cfg\", \"b\", \"{CRT_STATIC}\"]"
            ))
        );
        // Target flags exist: cargo concatenates them with ours, and ignores build flags anyway.
        let files = [toml(&format!(
            "[build]\nrustflags = \"--cfg b\"\n[target.{T}]\nrustflags = [\"--cfg\", \"t\"]\n"
        ))];
        assert_eq!(decide(T, &env_of(&[]), &files, &[], true, &[]), none);
        let cli = [format!("target.{T}.rustflags=[\"--cfg\", \"c\"]")];
        assert_eq!(decide(T, &env_of(&[]), &[], &cli, true, &[]), none);
    }

    #[test]
    fn a_user_choice_about_crt_static_stands() {
        let minus = "-C target-feature=-crt-static";
        assert_eq!(
            decide(
                T,
                &env_of(&[("RUSTFLAGS", "-C target-feature=-crt-static")]),
                &[],
                &[],
                true,
                &[]
            ),
            AddedFlags::Nothing
        );
        let files = [toml(&format!("[target.{T}]\nrustflags = \"{minus}\"\n"))];
        assert_eq!(
            decide(T, &env_of(&[]), &files, &[], true, &[]),
            AddedFlags::Nothing
        );
        assert_eq!(
            decide(
                T,
                &env_of(&[(
                    "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS",
                    "-C target-feature=+crt-static"
                )]),
                &[],
                &[],
                true,
                &[]
            ),
            AddedFlags::Nothing
        );
    }

    #[test]
    fn remaps_are_added_beside_the_users_flags() {
        let remap = ["--remap-path-prefix=/home/me/ws=/workspace".to_string()];
        // Nothing of the user's: a target value with the remap.
        assert_eq!(
            decide(T, &env_of(&[]), &[], &[], false, &remap),
            AddedFlags::Config(format!(
                "target.{T}.rustflags=[\"--remap-path-prefix=/home/me/ws=/workspace\"]"
            ))
        );
        // The user's encoded flags are kept, ours after them; their crt-static choice stands.
        let user = env_of(&[("CARGO_ENCODED_RUSTFLAGS", "-Ctarget-feature=-crt-static")]);
        assert_eq!(
            decide(T, &user, &[], &[], true, &remap),
            encoded("-Ctarget-feature=-crt-static\x1f--remap-path-prefix=/home/me/ws=/workspace")
        );
        // Nothing wanted: nothing added.
        assert_eq!(
            decide(T, &env_of(&[]), &[], &[], false, &[]),
            AddedFlags::Nothing
        );
    }
}
