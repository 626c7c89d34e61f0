//! Credentials, found where users already keep them, in the order they expect: the Docker
//! config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`: `credHelpers`, then
//! `auths`, then `credsStore`), then podman's `auth.json` (`REGISTRY_AUTH_FILE`, else its
//! usual places), then anonymous. docker_credential does the reading (and runs the helpers of
//! podman's file); this module adds what it lacks: the Docker Hub key
//! (`https://index.docker.io/v1/`), a few spellings of a host key, and the Docker config's
//! helpers run here ([`run_helper`]), under a timeout (they could otherwise hang a build
//! forever), and reported by their exit status alone: what a failing helper prints may hold a
//! secret, so neither its stdout nor its stderr reaches a message.
//!
//! Secrets never leave this module except inside a [`Credential`], whose `Debug` redacts
//! them; nothing here prints or logs a password or token.

use std::sync::mpsc;
use std::time::Duration;

use docker_credential::{CredentialRetrievalError, DockerCredential};
use reqwest::header::HeaderValue;

use super::error::{ErrorKind, RegistryError};
use crate::util::env::Environment;
use crate::util::process;

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
    // A helper's own output may hold a secret: name the helper, nothing more.
    let what = match &e {
        CredentialRetrievalError::HelperFailure { helper, .. } => format!(
            "the credential helper `{helper}` failed (what it printed is not shown, as it may \
             hold a secret)"
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

/// The Docker config's text, `$DOCKER_CONFIG/config.json` else `~/.docker/config.json`, when
/// there is one.
fn docker_config(env: &Environment) -> Option<Vec<u8>> {
    let dir = env
        .path("DOCKER_CONFIG")
        .or_else(|| env.path("HOME").map(|h| h.join(".docker")))?;
    std::fs::read(dir.join("config.json")).ok()
}

/// The helper the Docker config hands `key` to, as docker does: `credHelpers[key]`, else
/// `credsStore` unless `auths[key]` holds the credential itself.
fn helper_for(config: &serde_json::Value, key: &str) -> Option<String> {
    if let Some(h) = config["credHelpers"][key].as_str() {
        return Some(h.to_string());
    }
    let entry = &config["auths"][key];
    let filed = ["auth", "identitytoken", "username"]
        .iter()
        .any(|f| entry[f].as_str().is_some_and(|v| !v.is_empty()));
    match config["credsStore"].as_str() {
        Some(store) if !filed && !store.is_empty() => Some(store.to_string()),
        _ => None,
    }
}

/// The config without its helpers, for docker_credential to read `auths` from (so it never
/// runs a helper itself, whose output it would put into its error).
fn without_helpers(mut config: serde_json::Value) -> Vec<u8> {
    if let Some(o) = config.as_object_mut() {
        o.remove("credHelpers");
        o.remove("credsStore");
    }
    serde_json::to_vec(&config).unwrap_or_default()
}

/// Runs `docker-credential-NAME get` with `key` on its stdin, under [`HELPER_TIMEOUT`]:
/// `None` when it holds nothing for the key (docker's helpers say "credentials not found").
/// A failure names the helper and its exit status, never what it printed.
pub(crate) fn run_helper(
    name: &str,
    key: &str,
    env: &Environment,
) -> Result<Option<Credential>, RegistryError> {
    let program = format!("docker-credential-{name}");
    let fail = |what: String| {
        RegistryError::new(
            ErrorKind::Credentials,
            format!(
                "reading the credentials for {key} from {}: {what}; fix or remove that entry,                  or log in again (`docker login {key}`)",
                Source::DockerConfig
            ),
        )
    };
    let mut cmd = std::process::Command::new(&program);
    // The run's environment, not the process's (its PATH finds the helper).
    cmd.arg("get").env_clear().envs(env.iter());
    let owned_key = key.to_string();
    let fed = process::run_feeding(&mut cmd, HELPER_TIMEOUT, &program, move |w| {
        w.write_all(owned_key.as_bytes())?;
        Ok(())
    })
    .map_err(|e| match e {
        process::RunError::Spawn { .. } => fail(format!(
            "its credential helper `{program}` could not be run (is it on PATH?)"
        )),
        process::RunError::Timeout { limit, .. } => fail(format!(
            "the credential helper `{program}` gave no answer within {}s: check that it works \
             (`{program} get`)",
            limit.as_secs()
        )),
    })?;
    let out = fed.output;
    if !out.status.success() {
        if String::from_utf8_lossy(&out.stdout)
            .to_ascii_lowercase()
            .contains("credentials not found")
        {
            return Ok(None);
        }
        let status = match out.status.code() {
            Some(code) => format!("exit status {code}"),
            None => "killed by a signal".to_string(),
        };
        return Err(fail(format!(
            "the credential helper `{program}` failed ({status}; what it printed is not shown, \
             as it may hold a secret)"
        )));
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Answer {
        username: String,
        secret: String,
    }
    let answer: Answer = serde_json::from_slice(&out.stdout).map_err(|_| {
        fail(format!(
            "the credential helper `{program}` answered something that is not its JSON \
             (`{{\"Username\": …, \"Secret\": …}}`)"
        ))
    })?;
    Ok(Some(if answer.username == "<token>" {
        Credential::IdentityToken(answer.secret)
    } else {
        Credential::Basic {
            user: answer.username,
            password: answer.secret,
        }
    }))
}

/// The credentials for `host` (`ghcr.io`, `127.0.0.1:5000`), and where they came from.
pub fn credentials_for(
    host: &str,
    env: &Environment,
) -> Result<(Credential, Source), RegistryError> {
    if let Some(text) = docker_config(env) {
        if let Ok(config) = serde_json::from_slice::<serde_json::Value>(&text) {
            let plain = without_helpers(config.clone());
            for key in keys_for(host) {
                if let Some(helper) = helper_for(&config, &key) {
                    match run_helper(&helper, &key, env)? {
                        Some(c) => return Ok((c, Source::DockerConfig)),
                        None => continue,
                    }
                }
                match docker_credential::get_credential_from_reader(plain.as_slice(), &key) {
                    Ok(c) => return Ok((to_credential(c), Source::DockerConfig)),
                    Err(e) if is_absent(&e) => continue,
                    Err(e) => return Err(failure(host, &Source::DockerConfig, e)),
                }
            }
        }
    }
    let places: [(Source, Lookup); 1] = [(
        Source::PodmanAuthFile,
        docker_credential::get_podman_credential,
    )];
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
    fn the_docker_configs_helpers_are_chosen_as_docker_does() {
        let c = serde_json::json!({
            "credHelpers": {"a.io": "pass"},
            "auths": {"b.io": {"auth": "dTpw"}, "c.io": {}},
            "credsStore": "desktop",
        });
        assert_eq!(helper_for(&c, "a.io").as_deref(), Some("pass"));
        assert_eq!(helper_for(&c, "b.io"), None);
        assert_eq!(helper_for(&c, "c.io").as_deref(), Some("desktop"));
        assert_eq!(helper_for(&serde_json::json!({}), "a.io"), None);
        let plain: serde_json::Value = serde_json::from_slice(&without_helpers(c)).unwrap();
        assert!(plain.get("credHelpers").is_none() && plain.get("credsStore").is_none());
        assert!(plain["auths"]["b.io"].is_object());
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
        assert!(!e.contains("hunter2") && !e.contains("locked"), "{e}");
        assert!(e.contains("docker-credential-x` failed"), "{e}");
    }
}
