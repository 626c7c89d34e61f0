//! Private plumbing under [`super::Registry`]: one [`Host`] per registry host, made by
//! [`Transport::host`] on first use — its own reqwest client (the host's certificates and
//! client identity from [`super::trust`], the run's deadlines, the environment's proxies),
//! whether it speaks HTTPS or plain HTTP, its credentials, its remembered `/v2/` answer and its
//! tokens. Requests on a host are `wire.rs`'s; the retries around them `retry.rs`'s.
//!
//! A host's scheme is decided once: loopback and insecure hosts are probed (HTTPS, then plain
//! HTTP, as Docker does for 127.0.0.0/8), and that probe's `/v2/` answer is kept as the host's
//! [`Challenge`]; other hosts are asked `/v2/` once, on the first authorization.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, OnceCell};

use super::answer;
use super::auth::{self, Credential, Source};
use super::challenge::{self, Challenge};
use super::error::{is_tls_failure, ErrorKind, RegistryError};
use super::retry::{policy, retry};
use super::token::TokenCache;
use super::trust::{self, HostTrust, UserCa};
use crate::util::env::Environment;

/// One registry host: its client, credentials, scheme and what it asked for.
pub struct Host {
    pub name: String,
    pub source: Source,
    /// What to do about an untrusted certificate, for this host's `help:` line.
    pub tls_help: String,
    /// The one client for every request to this host (and to its token service and the
    /// places it redirects to).
    pub(super) http: reqwest::Client,
    /// `https://host` or `http://host`: the origin credentials are sent to, and no other.
    pub(super) base: reqwest::Url,
    /// The same, as text without a trailing slash, for messages.
    pub(super) base_url: String,
    pub(super) credential: Credential,
    /// The `/v2/` answer, asked once per run.
    pub(super) challenge: OnceCell<Challenge>,
    pub(super) tokens: TokenCache,
    /// The `(repository, push)` pairs authorized so far.
    pub(super) authed: Mutex<HashSet<(String, bool)>>,
    /// The host refused a whole blob with 413: upload in pieces.
    pub(super) chunked: AtomicBool,
}

impl Host {
    /// The URL of the manifest `r` names: by its digest, else its tag, else `latest`.
    pub fn manifest_url(&self, r: &oci_spec::distribution::Reference) -> String {
        let at = r.digest().or(r.tag()).unwrap_or("latest");
        format!("{}/v2/{}/manifests/{at}", self.base_url, r.repository())
    }

    /// `path` (`/v2/…`) on this host.
    pub fn url(&self, path: &str) -> Result<reqwest::Url, RegistryError> {
        reqwest::Url::parse(&format!("{}{path}", self.base_url)).map_err(|e| {
            RegistryError::new(ErrorKind::Other, format!("{}{path}: {e}", self.base_url))
        })
    }

    /// What `/v2/` asks for, asked on first use (without credentials) and kept for the run.
    pub async fn challenge(&self) -> Result<Challenge, RegistryError> {
        self.challenge
            .get_or_try_init(|| async {
                let res = self
                    .http
                    .get(self.url("/v2/")?)
                    .send()
                    .await
                    .map_err(RegistryError::from)?;
                match answered(&res) {
                    Some(c) => Ok(c),
                    None => Err(answer::error_from(res).await),
                }
            })
            .await
            .cloned()
    }
}

/// The challenge a `/v2/` answer makes, unless the registry was in trouble (429, 5xx): that
/// answer says nothing about authentication, so `/v2/` is asked again (under the retry policy).
fn answered(res: &reqwest::Response) -> Option<Challenge> {
    let status = res.status().as_u16();
    (status != 429 && status < 500).then(|| challenge::parse(res.headers()))
}

/// Adds the host's advice about certificates to a TLS error (the first request to a host is
/// where an untrusted certificate shows).
pub(super) fn with_tls_help(mut e: RegistryError, help: &str) -> RegistryError {
    if e.kind == ErrorKind::Tls && e.help.is_none() {
        e.help = Some(help.to_string());
    }
    e
}

pub struct Transport {
    pub rt: tokio::runtime::Runtime,
    insecure: Vec<String>,
    ca: Option<UserCa>,
    /// The run's environment (certs.d roots).
    env: Environment,
    /// The system store (or SSL_CERT_FILE/SSL_CERT_DIR), read on first use.
    system_certs: std::sync::OnceLock<Vec<rustls::pki_types::CertificateDer<'static>>>,
    hosts: Mutex<HashMap<String, Arc<Host>>>,
}

fn is_loopback(host: &str) -> bool {
    let name = host
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(host, |(h, _)| h);
    name == "localhost"
        || name == "[::1]"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback())
}

impl Transport {
    pub fn new(
        insecure: Vec<String>,
        ca: Option<UserCa>,
        env: Environment,
    ) -> std::io::Result<Transport> {
        trust::tls_crypto();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .thread_name("imagebuild-registry")
            .enable_all()
            .build()?;
        Ok(Transport {
            rt,
            insecure,
            ca,
            env,
            system_certs: std::sync::OnceLock::new(),
            hosts: Mutex::new(HashMap::new()),
        })
    }

    /// The certificates `host` is trusted with, and the advice for when its certificate is not.
    fn trust(&self, host: &str) -> Result<(HostTrust, String), RegistryError> {
        let mut trust = HostTrust::find(host, self.ca.as_ref(), &self.env)?;
        trust.insecure = self.insecure.iter().any(|h| h == host);
        let dirs = trust::certs_d_roots(&self.env);
        let place = dirs
            .last()
            .map(|d| format!("{}/{host}/ca.crt", d.display()))
            .unwrap_or_default();
        let help = if trust.ca_given {
            format!(
                "the --registry-ca file is neither {host}'s certificate nor the CA that signed it: \
                 give the right one, or put it in {place}"
            )
        } else {
            format!(
                "put {host}'s certificate (or the CA that signed it) in {place}, or pass \
                 --registry-ca FILE (for a registry without TLS: --insecure-registry {host})"
            )
        };
        Ok((trust, help))
    }

    /// Our reqwest client for a host: its TLS settings, timeouts, and the proxies of the
    /// environment (reqwest reads HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY itself).
    fn http_client(
        &self,
        trust: &HostTrust,
        probe: bool,
    ) -> Result<reqwest::Client, RegistryError> {
        let system = self.system_certs.get_or_init(trust::system_certs);
        let mut b = reqwest::Client::builder()
            .tls_backend_preconfigured(trust.tls_config(system)?)
            .connect_timeout(Duration::from_secs(10).min(policy().timeout))
            .user_agent(concat!("cargo-imagebuild/", env!("CARGO_PKG_VERSION")));
        // Each read must arrive within the run's deadline (--registry-timeout). Our own
        // deadline around each attempt is the one meant to fire (it says what timed out and
        // which flag sets it); reqwest's is a second behind it, a net under it, so the two
        // never race.
        b = if probe {
            b.timeout(Duration::from_secs(20).min(policy().timeout))
        } else {
            b.read_timeout(policy().timeout + Duration::from_secs(1))
        };
        b.build().map_err(RegistryError::from)
    }

    /// Whether `host` is reached over plain HTTP: insecure hosts (--insecure-registry,
    /// registries.conf) and loopback hosts are when they do not speak TLS, as with Docker (an
    /// untrusted certificate is an error, never a reason to fall back; insecure hosts have
    /// their certificate accepted unchecked). The probe is a `GET /v2/`, so its answer is the
    /// host's challenge too.
    async fn plain_http(
        &self,
        host: &str,
        trust: &HostTrust,
    ) -> Result<(bool, Option<Challenge>), RegistryError> {
        if !trust.insecure && !is_loopback(host) {
            return Ok((false, None));
        }
        let client = self.http_client(trust, true)?;
        // One HTTPS attempt: a plain-HTTP server fails the handshake at once, and retrying
        // that would only slow every run against a local registry.
        let https_err = match client.get(format!("https://{host}/v2/")).send().await {
            Ok(res) => return Ok((false, answered(&res))),
            Err(e) => {
                let tls = is_tls_failure(&e);
                let mut err = RegistryError::from(e);
                if tls {
                    err.kind = ErrorKind::Tls;
                    return Err(err);
                }
                err
            }
        };
        let http = retry(None, || async {
            client
                .get(format!("http://{host}/v2/"))
                .send()
                .await
                .map(|res| answered(&res))
                .map_err(RegistryError::from)
        })
        .await;
        match http {
            Ok(challenge) => Ok((true, challenge)),
            Err(_) => Err(https_err),
        }
    }

    /// The client for `host`, built (and its scheme probed, its credentials read) on first use.
    pub async fn host(&self, host: &str) -> Result<Arc<Host>, RegistryError> {
        let mut hosts = self.hosts.lock().await;
        if let Some(h) = hosts.get(host) {
            return Ok(h.clone());
        }
        let (trust, tls_help) = self.trust(host)?;
        let (plain_http, probed) = self
            .plain_http(host, &trust)
            .await
            .map_err(|e| with_tls_help(e, &tls_help))?;
        let (credential, source) = {
            let host = host.to_string();
            let env = self.env.clone();
            tokio::task::spawn_blocking(move || auth::credentials_for(&host, &env))
                .await
                .map_err(|e| RegistryError::new(ErrorKind::Credentials, e.to_string()))??
        };
        let base_url = format!("{}://{host}", if plain_http { "http" } else { "https" });
        let base = reqwest::Url::parse(&base_url).map_err(|e| {
            RegistryError::new(ErrorKind::Other, format!("{host} is not a host: {e}"))
        })?;
        let h = Arc::new(Host {
            name: host.to_string(),
            source,
            tls_help,
            http: self.http_client(&trust, false)?,
            base,
            base_url,
            credential,
            challenge: OnceCell::new_with(probed),
            tokens: TokenCache::default(),
            authed: Mutex::new(HashSet::new()),
            chunked: AtomicBool::new(false),
        });
        hosts.insert(host.to_string(), h.clone());
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("ghcr.io"));
        assert!(!is_loopback("127.example.com"));
    }
}
