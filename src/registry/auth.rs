//! Credentials, found where users already keep them, in the order they expect: the Docker
//! config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`: `credHelpers`, then
//! `auths`, then `credsStore`), then podman's `auth.json` (`REGISTRY_AUTH_FILE`, else its
//! usual places), then anonymous. docker_credential does the reading and runs the helpers;
//! this module adds what it lacks: the Docker Hub key (`https://index.docker.io/v1/`), a few
//! spellings of a host key, and a timeout around helper programs (which could otherwise hang
//! a build forever).
//!
//! Secrets never leave this module except inside oci-client's `RegistryAuth`, whose `Debug`
//! redacts them; nothing here prints or logs a password or token.

use std::sync::mpsc;
use std::time::Duration;

use docker_credential::{CredentialRetrievalError, DockerCredential};
use oci_client::secrets::RegistryAuth;

use super::error::{ErrorKind, RegistryError};

/// How long a credential helper may take before we give up on it.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a credential came from, for messages (never the credential itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    DockerConfig,
    PodmanAuthFile,
    Anonymous,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::DockerConfig => "the Docker config (DOCKER_CONFIG or ~/.docker/config.json)",
            Source::PodmanAuthFile => "podman's auth file (REGISTRY_AUTH_FILE)",
            Source::Anonymous => "no credentials (anonymous)",
        })
    }
}

/// The keys a host may be filed under in a config: Docker Hub's historical URL, the bare host,
/// and the host as a URL.
fn keys_for(host: &str) -> Vec<String> {
    if matches!(
        host,
        "index.docker.io" | "docker.io" | "registry-1.docker.io"
    ) {
        return vec![
            "https://index.docker.io/v1/".into(),
            "index.docker.io".into(),
            "docker.io".into(),
        ];
    }
    vec![
        host.to_string(),
        format!("https://{host}"),
        format!("http://{host}"),
    ]
}

/// Runs a lookup on its own thread, giving up after [`HELPER_TIMEOUT`] (a credential helper is
/// an external program that may wait for a keyring prompt no one will answer).
/// One place credentials are looked up (docker_credential's readers).
type Lookup = fn(&str) -> Result<DockerCredential, CredentialRetrievalError>;

fn with_timeout(
    host: &str,
    lookup: Lookup,
) -> Result<Result<DockerCredential, CredentialRetrievalError>, RegistryError> {
    let (tx, rx) = mpsc::channel();
    let key = host.to_string();
    std::thread::spawn(move || {
        let _ = tx.send(lookup(&key));
    });
    rx.recv_timeout(HELPER_TIMEOUT).map_err(|_| {
        RegistryError::new(
            ErrorKind::Credentials,
            format!(
                "the credential helper for {host} gave no answer within {}s: check that it \
                 works (`docker-credential-<name> get`), or remove it from the Docker config",
                HELPER_TIMEOUT.as_secs()
            ),
        )
    })
}

fn to_auth(c: DockerCredential) -> RegistryAuth {
    match c {
        DockerCredential::UsernamePassword(u, p) => RegistryAuth::Basic(u, p),
        // An identity token is what `docker login` stores for token-based registries; the
        // registries that issue one accept it as a bearer token.
        DockerCredential::IdentityToken(t) => RegistryAuth::Bearer(t),
    }
}

/// Whether an error means "nothing filed for this host here" (so the next place is tried).
fn is_absent(e: &CredentialRetrievalError) -> bool {
    match e {
        CredentialRetrievalError::NoCredentialConfigured
        | CredentialRetrievalError::ConfigNotFound
        | CredentialRetrievalError::ConfigReadError => true,
        // What docker's helpers answer for a host they hold nothing for.
        CredentialRetrievalError::HelperFailure { stdout, stderr, .. } => {
            let said = format!("{stdout} {stderr}").to_ascii_lowercase();
            said.contains("credentials not found")
        }
        _ => false,
    }
}

fn failure(host: &str, source: &Source, e: CredentialRetrievalError) -> RegistryError {
    // A helper's own stdout may hold a secret: name the helper and its exit, nothing more.
    let what = match &e {
        CredentialRetrievalError::HelperFailure { helper, stderr, .. } => format!(
            "the credential helper `{helper}` failed: {}",
            stderr
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect::<String>()
        ),
        CredentialRetrievalError::HelperCommunicationError => {
            "its credential helper could not be run (is docker-credential-<name> on PATH?)".into()
        }
        other => other.to_string(),
    };
    RegistryError::new(
        ErrorKind::Credentials,
        format!(
            "reading the credentials for {host} from {source}: {what}; fix or remove that entry, \
             or log in again (`docker login {host}`)"
        ),
    )
}

/// The credentials for `host` (`ghcr.io`, `127.0.0.1:5000`), and where they came from.
pub fn credentials_for(host: &str) -> Result<(RegistryAuth, Source), RegistryError> {
    let places: [(Source, Lookup); 2] = [
        (Source::DockerConfig, docker_credential::get_credential),
        (
            Source::PodmanAuthFile,
            docker_credential::get_podman_credential,
        ),
    ];
    for (source, lookup) in places {
        for key in keys_for(host) {
            match with_timeout(&key, lookup)? {
                Ok(c) => return Ok((to_auth(c), source)),
                Err(e) if is_absent(&e) => continue,
                Err(e) => return Err(failure(host, &source, e)),
            }
        }
    }
    Ok((RegistryAuth::Anonymous, Source::Anonymous))
}

/// The `key="value"` parameters of a `WWW-Authenticate: Bearer …` challenge (`realm`,
/// `service`), or `None` for any other scheme. Hand-written: oci-client keeps its parser
/// private, and the grammar needed here is one quoted list.
fn bearer_params(header: &str) -> Option<Vec<(String, String)>> {
    let rest = header.trim().strip_prefix("Bearer ")?;
    let mut params = Vec::new();
    let mut s = rest.trim();
    while let Some((key, after)) = s.split_once('=') {
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, tail) = match after.strip_prefix('"') {
            Some(q) => q.split_once('"').unwrap_or((q, "")),
            None => after.split_once(',').unwrap_or((after, "")),
        };
        params.push((key, value.to_string()));
        s = tail.trim_start_matches(',').trim();
    }
    Some(params)
}

/// The token scopes for pushing to `target` with blobs mounted from `bases`, as docker and
/// crane ask for them: pull on each base, pull and push on the target.
pub fn mount_scopes(target: &str, bases: &[String]) -> Vec<String> {
    bases
        .iter()
        .filter(|b| b.as_str() != target)
        .map(|b| format!("repository:{b}:pull"))
        .chain(std::iter::once(format!("repository:{target}:pull,push")))
        .collect()
}

/// Asks the registry's token service (named by its Bearer challenge on `/v2/`) for ONE token
/// covering every scope in `scopes`. `Ok(None)` when the registry does not use Bearer tokens
/// or the service declines: the caller then goes on with the token it has.
pub async fn token_for_scopes(
    http: &reqwest::Client,
    registry_url: &str,
    auth: &RegistryAuth,
    scopes: &[String],
) -> Result<Option<oci_client::token_cache::RegistryToken>, RegistryError> {
    let probe = http
        .get(format!("{registry_url}/v2/"))
        .send()
        .await
        .map_err(RegistryError::from)?;
    let Some(params) = probe
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|h| h.to_str().ok())
        .and_then(bearer_params)
    else {
        return Ok(None);
    };
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let Some(realm) = get("realm") else {
        return Ok(None);
    };
    let mut query: Vec<(&str, String)> = scopes.iter().map(|s| ("scope", s.clone())).collect();
    if let Some(service) = get("service") {
        query.push(("service", service));
    }
    let mut req = http.get(&realm).query(&query);
    match auth {
        RegistryAuth::Basic(user, password) => req = req.basic_auth(user, Some(password)),
        RegistryAuth::Bearer(_) => return Ok(None),
        RegistryAuth::Anonymous => {}
    }
    let res = req.send().await.map_err(RegistryError::from)?;
    if !res.status().is_success() {
        return Ok(None);
    }
    let body = read_capped(res, oci_client::client::TOKEN_LIMIT).await?;
    Ok(serde_json::from_slice(&body).ok())
}

/// The body of `res`, refused once it passes `limit` bytes: by its Content-Length, else
/// while it arrives (a lying or absent Content-Length cannot make us hold gigabytes). The
/// same cap oci-client applies to its own reads (see vendor/README.md).
async fn read_capped(mut res: reqwest::Response, limit: u64) -> Result<Vec<u8>, RegistryError> {
    let url = res.url().to_string();
    let too_large = || RegistryError::too_large(&url, limit);
    if res.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(RegistryError::from)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_and_mount_scopes() {
        let p = bearer_params(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        )
        .unwrap();
        assert_eq!(
            p[0],
            ("realm".into(), "https://auth.docker.io/token".into())
        );
        assert_eq!(p[1], ("service".into(), "registry.docker.io".into()));
        assert!(bearer_params(r#"Basic realm="x""#).is_none());
        assert_eq!(
            mount_scopes("acme/api", &["library/debian".into(), "acme/api".into()]),
            [
                "repository:library/debian:pull",
                "repository:acme/api:pull,push"
            ]
        );
    }

    #[test]
    fn docker_hub_is_filed_under_its_v1_url() {
        for hub in ["index.docker.io", "docker.io", "registry-1.docker.io"] {
            assert_eq!(keys_for(hub)[0], "https://index.docker.io/v1/", "{hub}");
        }
        assert_eq!(keys_for("127.0.0.1:5000")[0], "127.0.0.1:5000");
    }

    #[test]
    fn helper_failures_never_show_the_helper_stdout() {
        let e = failure(
            "r.io",
            &Source::DockerConfig,
            CredentialRetrievalError::HelperFailure {
                helper: "docker-credential-x".into(),
                stdout: "hunter2".into(),
                stderr: "locked".into(),
            },
        )
        .to_string();
        assert!(!e.contains("hunter2") && e.contains("locked"), "{e}");
    }
}
