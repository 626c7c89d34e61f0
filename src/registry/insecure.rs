//! Which registries are insecure — reached over plain HTTP, or over TLS without checking the
//! certificate — as podman, buildah and skopeo declare them in `registries.conf`, added to the
//! hosts given with `--insecure-registry`.
//!
//! Files read, as containers/image reads them: `CONTAINERS_REGISTRIES_CONF` alone when set;
//! otherwise `~/.config/containers/registries.conf` if it exists, else
//! `/etc/containers/registries.conf`, then the drop-ins of `/etc/containers/registries.conf.d/`
//! and `~/.config/containers/registries.conf.d/` (`*.conf`, in name order). Both forms are
//! understood: version 2's `[[registry]] location = "host[:port]" insecure = true` and version
//! 1's `[registries.insecure] registries = ["host"]`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::util::env::Environment;

/// The registries.conf files to read, in order; missing ones are skipped by the reader.
pub fn registries_conf_files(env: &Environment) -> Vec<PathBuf> {
    if let Some(f) = env.path("CONTAINERS_REGISTRIES_CONF") {
        return vec![f];
    }
    let home = env.path("HOME");
    let user = home.as_ref().map(|h| h.join(".config/containers"));
    let mut files = Vec::new();
    match &user {
        Some(u) if u.join("registries.conf").exists() => files.push(u.join("registries.conf")),
        _ => files.push(PathBuf::from("/etc/containers/registries.conf")),
    }
    for dir in std::iter::once(PathBuf::from("/etc/containers")).chain(user) {
        let Ok(entries) = std::fs::read_dir(dir.join("registries.conf.d")) else {
            continue;
        };
        let mut conf: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "conf"))
            .collect();
        conf.sort();
        files.extend(conf);
    }
    files
}

/// The insecure hosts (`host[:port]`) that `text` declares.
fn insecure_in(text: &str, file: &Path) -> Result<Vec<String>> {
    let v: toml::Value = toml::from_str(text)
        .with_context(|| format!("{} is not valid TOML (registries.conf)", file.display()))?;
    let mut hosts = Vec::new();
    for r in v
        .get("registry")
        .and_then(|r| r.as_array())
        .into_iter()
        .flatten()
    {
        if r.get("insecure").and_then(|i| i.as_bool()) == Some(true) {
            let location = r
                .get("location")
                .or_else(|| r.get("prefix"))
                .and_then(|l| l.as_str())
                .unwrap_or_default();
            // `location` may carry a namespace (`host/ns`); TLS is per host.
            let host = location.split('/').next().unwrap_or_default();
            if !host.is_empty() {
                hosts.push(host.to_string());
            }
        }
    }
    let v1 = v
        .get("registries")
        .and_then(|r| r.get("insecure"))
        .and_then(|i| i.get("registries"))
        .and_then(|l| l.as_array());
    hosts.extend(
        v1.into_iter()
            .flatten()
            .filter_map(|h| h.as_str().map(String::from)),
    );
    Ok(hosts)
}

/// The insecure hosts declared in the registries.conf files of this machine.
pub fn from_registries_conf(env: &Environment) -> Result<Vec<String>> {
    let mut hosts = Vec::new();
    for f in registries_conf_files(env) {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        hosts.extend(insecure_in(&text, &f)?);
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_versions_of_the_format() {
        let v2 = r#"
unqualified-search-registries = ["docker.io"]
[[registry]]
location = "reg.local:5000/team"
insecure = true
[[registry]]
location = "ghcr.io"
[[registry]]
prefix = "example.com/foo"
location = "mirror.local"
insecure = true
"#;
        assert_eq!(
            insecure_in(v2, Path::new("r.conf")).unwrap(),
            ["reg.local:5000", "mirror.local"]
        );
        let v1 = "[registries.insecure]\nregistries = ['old.local:5000']\n";
        assert_eq!(
            insecure_in(v1, Path::new("r.conf")).unwrap(),
            ["old.local:5000"]
        );
        let e = insecure_in("[[registry]\n", Path::new("/x/registries.conf")).unwrap_err();
        assert!(format!("{e:#}").contains("/x/registries.conf"), "{e:#}");
    }
}
