//! Credentials, found where users already keep them, in the order they expect: the Docker
//! config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`: `credHelpers`, then
//! `auths`, then `credsStore`), then podman's `auth.json` (`REGISTRY_AUTH_FILE`, else its
//! usual places), then anonymous. docker_credential does the reading and runs the helpers;
//! this module adds what it lacks: the Docker Hub key (`https://index.docker.io/v1/`), a few
//! spellings of a host key, and a timeout around helper programs (which could otherwise hang
//! a build forever).
//!
//! Secrets never leave this module except inside a [`Credential`], whose `Debug` redacts
//! them; nothing here prints or logs a password or token.

use std::sync::mpsc;
use std::time::Duration;

use docker_credential::{CredentialRetrievalError, DockerCredential};
use reqwest::header::HeaderValue;

use super::error::{ErrorKind, RegistryError};

/// What we authenticate to a registry with.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Anonymous,
    /// A user name and password: sent as Basic to a registry that asks for Basic, and to the
    /// token service a Bearer registry names (never to the Bearer registry itself).
    Basic {
        user: String,
        password: String,
    },
    /// What `docker login` stores for some token-based registries: sent as the Bearer token.
    IdentityToken(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Anonymous => f.write_str("Anonymous"),
            Credential::Basic { user, .. } => write!(f, "Basic({user}, <redacted>)"),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

impl Credential {
    /// The `Authorization` value of Basic credentials (marked sensitive, so it is never
    /// printed by the HTTP stack either).
    pub fn basic_header(&self) -> Option<HeaderValue> {
        use base64::Engine;
        let Credential::Basic { user, password } = self else {
            return None;
        };
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        sensitive(&format!("Basic {encoded}"))
    }

    /// The `Authorization` value of an identity token.
    pub fn identity_header(&self) -> Option<HeaderValue> {
        match self {
            Credential::IdentityToken(t) => sensitive(&format!("Bearer {t}")),
            _ => None,
        }
    }
}

/// `value` as a header value that the HTTP stack never prints.
pub fn sensitive(value: &str) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(value).ok()?;
    v.set_sensitive(true);
    Some(v)
}

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

fn to_credential(c: DockerCredential) -> Credential {
    match c {
        DockerCredential::UsernamePassword(user, password) => Credential::Basic { user, password },
        // An identity token is what `docker login` stores for token-based registries; the
        // registries that issue one accept it as a bearer token.
        DockerCredential::IdentityToken(t) => Credential::IdentityToken(t),
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
pub fn credentials_for(host: &str) -> Result<(Credential, Source), RegistryError> {
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
                Ok(c) => return Ok((to_credential(c), source)),
                Err(e) if is_absent(&e) => continue,
                Err(e) => return Err(failure(host, &source, e)),
            }
        }
    }
    Ok((Credential::Anonymous, Source::Anonymous))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_show_in_debug_and_encode_as_basic() {
        let c = Credential::Basic {
            user: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        let h = c.basic_header().unwrap();
        assert!(h.is_sensitive());
        assert_eq!(h.to_str().unwrap(), "Basic dTpodW50ZXIy");
        let t = Credential::IdentityToken("tok".into());
        assert!(!format!("{t:?}").contains("tok)"));
        assert_eq!(t.identity_header().unwrap().to_str().unwrap(), "Bearer tok");
        assert!(Credential::Anonymous.basic_header().is_none());
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
