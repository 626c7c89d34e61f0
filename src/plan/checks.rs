//! Checks of values that no parser of their own owns: the runtime settings of an image (labels,
//! user, environment variable names, directories in the image), the `--insecure-registry` hosts,
//! cargo's `--config` values and profile name, and the files the command line names
//! (`--registry-ca`, `--metadata-file`). Each error names the value and the fix; only the file
//! checks look at the disk.

use anyhow::{bail, Result};

use crate::image::document::RuntimeConfig;

/// A label needs a key; a user is `USER[:GROUP]` with neither part empty; environment variable
/// names are [`env_name`]s; the working directory is an [`image_dir`].
pub fn runtime(r: &RuntimeConfig) -> Result<()> {
    for (k, _) in &r.env {
        env_name(k).map_err(|e| anyhow::anyhow!("environment variable {k:?}: {e}"))?;
    }
    if let Some(w) = &r.workdir {
        image_dir(w).map_err(|e| anyhow::anyhow!("workdir: {e}"))?;
    }
    if let Some(v) = r
        .labels
        .iter()
        .find(|(k, _)| k.trim().is_empty())
        .map(|(_, v)| v)
    {
        bail!("a label has an empty key (value `{v}`): write KEY=VALUE with a key");
    }
    if let Some(u) = &r.user {
        user(u).map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

/// A user is `USER[:GROUP]` with neither part empty.
pub fn user(user: &str) -> Result<(), String> {
    let parts: Vec<&str> = user.split(':').collect();
    if parts.len() > 2 || parts.iter().any(|p| p.trim().is_empty()) {
        return Err(format!(
            "user `{user}` is not USER[:GROUP]: write a name or number, optionally with one \
             group, for example 1000:1000 or app"
        ));
    }
    Ok(())
}

/// An environment variable name as a container runtime can set it: not empty, no `=` (it ends
/// the name in `NAME=VALUE`), no control character (a line break would split the variable).
pub fn env_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a variable name cannot be empty: write NAME = \"value\"".into());
    }
    if name.contains('=') {
        return Err(format!(
            "the variable name {name:?} contains `=`, which ends a name: write the part before \
             it as the name and the rest in the value"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(format!(
            "the variable name {name:?} contains a line break or another control character: \
             use letters, digits and `_` (RUST_LOG)"
        ));
    }
    Ok(())
}

/// A directory in the image (`bin-dir`, `workdir`): an absolute, clean path (no `.` or `..`
/// part, no empty part, no control character), so it cannot point outside the image's tree.
pub fn image_dir(dir: &str) -> Result<(), String> {
    let fix = "write an absolute path inside the image without `.` or `..`, like /app";
    if !dir.starts_with('/') {
        return Err(format!("{dir:?} must be an absolute path: {fix}"));
    }
    if dir.chars().any(char::is_control) {
        return Err(format!("{dir:?} contains a control character: {fix}"));
    }
    let inner = dir.trim_end_matches('/');
    if inner.is_empty() {
        return Ok(());
    }
    if inner[1..]
        .split('/')
        .any(|part| matches!(part, "" | "." | ".."))
    {
        return Err(format!("{dir:?} is not a clean path: {fix}"));
    }
    Ok(())
}

/// Every `--insecure-registry` value is a bare `host[:port]`.
pub fn insecure_registries(hosts: &[String]) -> Result<()> {
    for h in hosts {
        crate::image::reference::check_host(h.trim())
            .map_err(|e| anyhow::anyhow!("--insecure-registry {h}: {e}"))?;
    }
    Ok(())
}

/// Every `--config` value as cargo takes it: a `KEY=VALUE` TOML dotted-key expression
/// (`build.jobs=2`, `profile.release.lto="thin"`), or the path of a TOML file.
pub fn cargo_config(values: &[String]) -> Result<()> {
    for v in values {
        let shape = "--config takes KEY=VALUE in TOML (such as build.jobs=2 or \
                     profile.release.lto=\"thin\") or the path of a TOML file";
        if !v.contains('=') {
            if std::path::Path::new(v).is_file() {
                continue;
            }
            bail!("--config `{v}` is neither KEY=VALUE nor a file that exists: {shape}");
        }
        let doc: toml_edit::DocumentMut = match v.parse() {
            Ok(doc) => doc,
            Err(e) => bail!(
                "--config `{v}` is not a TOML KEY=VALUE ({}): {shape}; quote a string value",
                e.message()
            ),
        };
        // One dotted key down to one value, as cargo accepts.
        let mut table = doc.as_table();
        loop {
            let mut items = table.iter();
            let (Some((_, item)), None) = (items.next(), items.next()) else {
                bail!(
                    "--config `{v}` sets more than one key or none: {shape}; give one per --config"
                );
            };
            match item {
                toml_edit::Item::Table(t) if t.is_dotted() => table = t,
                toml_edit::Item::Value(value) if !value.is_inline_table() => break,
                _ => bail!("--config `{v}` is not a single KEY=VALUE: {shape}"),
            }
        }
    }
    Ok(())
}

/// A cargo profile name (`--profile`): letters, digits, `-` and `_`, as cargo allows.
pub fn profile(name: &str) -> Result<()> {
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!(
            "--profile `{name}` is not a cargo profile name: use letters, digits, `-` and `_` \
             (release, dev, or a [profile.NAME] of Cargo.toml)"
        );
    }
    Ok(())
}

/// A file the run writes at its end (`--metadata-file`, `--image-refs`): refused now when it
/// names a directory or lies under a file, rather than after the push. A symlink counts as
/// what it points at.
pub fn output_file(flag: &str, path: &std::path::Path) -> Result<()> {
    let real = crate::util::atomic::follow_dest(path)?;
    if real.is_dir() {
        bail!(
            "{flag} {} is a directory: name a file in it, such as {}",
            path.display(),
            path.join("metadata.json").display()
        );
    }
    if let Some(ancestor) = real.ancestors().skip(1).find(|a| a.exists()) {
        if !ancestor.is_dir() {
            bail!(
                "{flag} {}: {} is a file, not a directory: choose another path",
                path.display(),
                ancestor.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_hosts() {
        let mut r = RuntimeConfig::default();
        for ok in ["1000", "app:app", "0:0"] {
            r.user = Some(ok.into());
            runtime(&r).unwrap();
        }
        for bad in ["root:wheel:extra", ":x", "x:", ""] {
            r.user = Some(bad.into());
            assert!(runtime(&r).is_err(), "{bad}");
        }
        for ok in ["/", "/app", "/usr/local/bin/", "/a.b/c..d"] {
            image_dir(ok).unwrap();
        }
        for bad in ["app", "/../../x", "/a/./b", "/a//b", "/a/..", "/a\nb", ""] {
            assert!(image_dir(bad).is_err(), "{bad}");
        }
        env_name("RUST_LOG").unwrap();
        for bad in ["", "A=B", "A\nB", "A\0"] {
            assert!(env_name(bad).is_err(), "{bad:?}");
        }
        insecure_registries(&["127.0.0.1:5000".into(), "reg.local".into()]).unwrap();
        for ok in [
            "build.jobs=2",
            "profile.release.lto=\"thin\"",
            "target.x86_64-unknown-linux-gnu.linker = \"cc\"",
            "net.git-fetch-with-cli=true",
        ] {
            cargo_config(&[ok.into()]).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "garbage",
            "a=",
            "a=b c",
            "a=1\nb=2",
            "a={ b = 1 }",
            "[a]\nb=1",
        ] {
            let e = cargo_config(&[bad.into()]).unwrap_err().to_string();
            assert!(
                e.contains("--config") && e.contains("KEY=VALUE"),
                "{bad}: {e}"
            );
        }
        profile("release").unwrap();
        profile("my-prof_2").unwrap();
        assert!(profile("rel ease").is_err() && profile("a.b").is_err());
        for bad in ["http://x", "x/y", "x:99999", "x:0", ":5000"] {
            assert!(insecure_registries(&[bad.into()]).is_err(), "{bad}");
        }
    }
}
