//! Where the docker CLI will connect, resolved as it resolves it, for `--load`'s messages:
//! a `--context` (or `type=docker,context=NAME`), else `DOCKER_HOST`, else `DOCKER_CONTEXT`,
//! else the config's `currentContext` (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`), else the default socket. A named context's endpoint is read from
//! `contexts/meta/<sha256 of the name>/meta.json` beside that config (`Endpoints.docker.Host`).
//! The CLI still does the connecting: this module only names the place, so an error can say
//! which daemon was meant.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::digest::Digest;
use crate::util::env::Environment;

/// The daemon the docker CLI will talk to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The context named, if any (`default` is not named).
    pub context: Option<String>,
    /// Its host (`unix:///run/docker.sock`, `tcp://…`), when known.
    pub host: Option<String>,
}

/// The docker CLI's config directory: `DOCKER_CONFIG`, else `~/.docker`.
fn config_dir(env: &Environment) -> Option<PathBuf> {
    env.path("DOCKER_CONFIG")
        .or_else(|| env.path("HOME").map(|h| h.join(".docker")))
}

/// The host a named context points at, from its `meta.json`.
fn context_host(config: &Path, name: &str) -> Option<String> {
    let id = Digest::of(name.as_bytes());
    let hex = id.as_str().strip_prefix("sha256:")?;
    let meta = config.join("contexts/meta").join(hex).join("meta.json");
    let v: Value = serde_json::from_slice(&std::fs::read(meta).ok()?).ok()?;
    v["Endpoints"]["docker"]["Host"]
        .as_str()
        .map(str::to_string)
}

/// Resolves the endpoint with `flag` (an explicit context), the environment and `config`.
fn resolve_in(
    flag: Option<&str>,
    docker_host: Option<String>,
    docker_context: Option<String>,
    config: Option<&Path>,
) -> Endpoint {
    let named = |name: String| {
        if name == "default" {
            return Endpoint {
                context: None,
                host: docker_host.clone(),
            };
        }
        Endpoint {
            host: config.and_then(|c| context_host(c, &name)),
            context: Some(name),
        }
    };
    if let Some(c) = flag {
        return named(c.to_string());
    }
    if docker_host.is_some() {
        return Endpoint {
            context: None,
            host: docker_host,
        };
    }
    let current = docker_context.or_else(|| {
        let cfg: Value =
            serde_json::from_slice(&std::fs::read(config?.join("config.json")).ok()?).ok()?;
        cfg["currentContext"]
            .as_str()
            .filter(|c| !c.is_empty())
            .map(str::to_string)
    });
    match current {
        Some(name) => named(name),
        None => Endpoint {
            context: None,
            host: None,
        },
    }
}

/// The endpoint the docker CLI will use, given an explicit context or none.
pub fn resolve(flag: Option<&str>, env: &Environment) -> Endpoint {
    resolve_in(
        flag,
        env.var("DOCKER_HOST"),
        env.var("DOCKER_CONTEXT"),
        config_dir(env).as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config dir with `currentContext` and two contexts, as `docker context create` writes.
    fn config() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (name, host) in [
            ("remote", "tcp://10.0.0.5:2376"),
            ("lab", "unix:///lab.sock"),
        ] {
            let hex = Digest::of(name.as_bytes()).as_str()["sha256:".len()..].to_string();
            let dir = d.path().join("contexts/meta").join(hex);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("meta.json"),
                format!(
                    r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":false}}}}}}"#
                ),
            )
            .unwrap();
        }
        std::fs::write(
            d.path().join("config.json"),
            r#"{"currentContext":"remote"}"#,
        )
        .unwrap();
        d
    }

    #[test]
    fn resolved_in_the_docker_clis_order() {
        let d = config();
        let c = Some(d.path());
        let at = |context: Option<&str>, host: Option<&str>| Endpoint {
            context: context.map(String::from),
            host: host.map(String::from),
        };
        // The config's current context.
        assert_eq!(
            resolve_in(None, None, None, c),
            at(Some("remote"), Some("tcp://10.0.0.5:2376"))
        );
        // DOCKER_CONTEXT beats it; DOCKER_HOST beats both; an explicit context beats all.
        assert_eq!(
            resolve_in(None, None, Some("lab".into()), c),
            at(Some("lab"), Some("unix:///lab.sock"))
        );
        assert_eq!(
            resolve_in(None, Some("unix:///h.sock".into()), Some("lab".into()), c),
            at(None, Some("unix:///h.sock"))
        );
        assert_eq!(
            resolve_in(Some("lab"), Some("unix:///h.sock".into()), None, c),
            at(Some("lab"), Some("unix:///lab.sock"))
        );
        // `default` and no config: the CLI's own default.
        assert_eq!(resolve_in(Some("default"), None, None, c), at(None, None));
        assert_eq!(resolve_in(None, None, None, None), at(None, None));
    }
}
