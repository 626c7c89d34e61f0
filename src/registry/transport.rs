//! Private plumbing under [`super::Registry`]: one oci-client `Client` per registry host (each
//! knows whether its host speaks HTTPS or plain HTTP, and carries our own reqwest client with
//! the host's certificates from [`super::trust`]), the host's credentials, retries with backoff, streams re-cut into 4 MiB chunks, and a guard that turns
//! a panic inside oci-client into an error.
//!
//! What oci-client lacks and is added here: it fixes each host's scheme when a client is built,
//! so loopback hosts are probed first (HTTPS, then plain HTTP, as Docker does for
//! 127.0.0.0/8); it has no retries; `push_blob_stream` in chunked mode sends one PATCH per stream
//! item, so blobs go up as one streamed PUT (`use_monolithic_push`), their bodies cut into
//! [`CHUNK`] pieces ([`rechunk`]); and
//! `push_manifest_raw` by digest panics when a registry omits `Location` ([`guarded`]).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Once};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, BoxStream, StreamExt};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use tokio::sync::Mutex;

use super::auth::{self, Source};
use super::error::{is_tls_failure, ErrorKind, RegistryError};
use super::trust::{self, HostTrust, UserCa};
use crate::util::env::Environment;
use crate::util::report::Reporter;

/// The size of each upload request: big enough that a 100 MB layer is 25 requests.
pub const CHUNK: usize = 4 << 20;
/// The first backoff; each retry waits twice as long as the one before.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// How long and how often a registry request is tried: `--registry-timeout` and `--retries`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The deadline of each attempt of a request (a download: of each read of its body).
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub retries: u32,
}

/// The defaults: 4 attempts of at most 25 s each (a document: the whole answer; a blob: 25 s
/// plus a second per MiB, see [`deadline_for`]), with 0.5 + 1 + 2 s between them (or what a
/// 429/503 asks in `Retry-After`, while it fits), so a registry that never answers fails a
/// request within about 105 s ([`budget`]).
pub const DEFAULT_POLICY: Policy = Policy {
    timeout: Duration::from_secs(25),
    retries: 3,
};

/// The policy of this process's registry client (set when it is made) and where retries are
/// reported when the caller gave no `Reporter`: one client per run, so one of each.
static POLICY: std::sync::RwLock<Policy> = std::sync::RwLock::new(DEFAULT_POLICY);
static RETRY_UI: std::sync::OnceLock<Reporter> = std::sync::OnceLock::new();

/// Sets the policy every request of this process follows, and the `Reporter` retries are told on.
pub fn set_policy(policy: Policy, ui: &Reporter) {
    if let Ok(mut p) = POLICY.write() {
        *p = policy;
    }
    let _ = RETRY_UI.set(ui.clone());
}

pub fn policy() -> Policy {
    POLICY.read().map_or(DEFAULT_POLICY, |p| *p)
}
/// Runtime threads are named so a panic inside oci-client can be reported as our error alone.
const THREAD_NAME: &str = "imagebuild-registry";

/// One registry host: its client, credentials and scheme.
pub struct Host {
    pub name: String,
    pub client: Client,
    pub auth: RegistryAuth,
    pub source: Source,
    /// What to do about an untrusted certificate, for this host's `help:` line.
    pub tls_help: String,
    /// The reqwest client inside `client`, and the host's base URL, for the token requests
    /// oci-client cannot make (several scopes in one token).
    http: reqwest::Client,
    base_url: String,
    authed: Mutex<HashSet<(String, bool)>>,
}

impl Host {
    /// Makes the push token for `target` also cover pulling from `bases` (other repositories
    /// of this registry), as docker and crane do, so cross-repository mounts are allowed.
    /// Changes nothing when the registry has no token service or declines the wider token:
    /// mounts are then declined and the blobs streamed.
    pub async fn widen_for_mounts(&self, target: &Reference, bases: &[String]) {
        let scopes = auth::mount_scopes(target.repository(), bases);
        if scopes.len() < 2 {
            return;
        }
        // Best effort, under the request deadline: a token service that stalls costs one
        // deadline, then the blobs are streamed instead of mounted.
        let asked = auth::token_for_scopes(&self.http, &self.base_url, &self.auth, &scopes);
        if let Ok(Ok(Some(token))) = tokio::time::timeout(policy().timeout, asked).await {
            self.client
                .tokens
                .insert(
                    target,
                    RegistryOperation::Push,
                    oci_client::token_cache::RegistryTokenType::Bearer(token),
                )
                .await;
        }
    }

    /// The URL of the manifest `r` names, for messages.
    pub fn manifest_url(&self, r: &Reference) -> String {
        let at = r.digest().or(r.tag()).unwrap_or("latest");
        format!("{}/v2/{}/manifests/{at}", self.base_url, r.repository())
    }

    /// Runs oci-client's token flow for `repo` once, so refused credentials surface here as an
    /// error instead of as an anonymous request's 401 later.
    pub async fn authorize(&self, r: &Reference, push: bool) -> Result<(), RegistryError> {
        let key = (r.repository().to_string(), push);
        let mut done = self.authed.lock().await;
        if done.contains(&key) {
            return Ok(());
        }
        let op = if push {
            RegistryOperation::Push
        } else {
            RegistryOperation::Pull
        };
        let what = format!(
            "authorizing with {}/v2/ and its token service",
            self.base_url
        );
        let ui = RETRY_UI.get().map(|ui| (ui, what.as_str()));
        retry(ui, || async {
            self.client
                .auth(r, &self.auth, op)
                .await
                .map(|_| ())
                .map_err(RegistryError::from)
        })
        .await
        .map_err(|e| with_tls_help(e, &self.tls_help))?;
        done.insert(key);
        Ok(())
    }
}

/// Adds the host's advice about certificates to a TLS error (the first request to a host is
/// where an untrusted certificate shows).
fn with_tls_help(mut e: RegistryError, help: &str) -> RegistryError {
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

/// Silences the default panic message for panics on registry threads: [`guarded`] reports
/// them as errors with their message, so printing them twice would only confuse.
fn quiet_registry_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() != Some(THREAD_NAME) {
                previous(info);
            }
        }));
    });
}

impl Transport {
    pub fn new(
        insecure: Vec<String>,
        ca: Option<UserCa>,
        env: Environment,
    ) -> std::io::Result<Transport> {
        trust::tls_crypto();
        quiet_registry_panics();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .thread_name(THREAD_NAME)
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
    /// their certificate accepted unchecked).
    async fn plain_http(&self, host: &str, trust: &HostTrust) -> Result<bool, RegistryError> {
        if !trust.insecure && !is_loopback(host) {
            return Ok(false);
        }
        let client = self.http_client(trust, true)?;
        // One HTTPS attempt: a plain-HTTP server fails the handshake at once, and retrying
        // that would only slow every run against a local registry.
        let https_err = match client.get(format!("https://{host}/v2/")).send().await {
            Ok(_) => return Ok(false),
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
                .map(|_| ())
                .map_err(RegistryError::from)
        })
        .await;
        match http {
            Ok(()) => Ok(true),
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
        let plain_http = self
            .plain_http(host, &trust)
            .await
            .map_err(|e| with_tls_help(e, &tls_help))?;
        let (auth, source) = {
            let host = host.to_string();
            tokio::task::spawn_blocking(move || auth::credentials_for(&host))
                .await
                .map_err(|e| RegistryError::new(ErrorKind::Credentials, e.to_string()))??
        };
        let config = ClientConfig {
            protocol: if plain_http {
                ClientProtocol::HttpsExcept(vec![host.to_string()])
            } else {
                ClientProtocol::Https
            },
            platform_resolver: None,
            // One streamed PUT per blob (after the POST that opens the session) instead of a
            // PATCH per 4 MiB piece: measured against a local distribution registry, three
            // 20 MB layers went up in 0.55 s as 15 PATCHes and in a fraction of that as three
            // PUTs (each PATCH makes the registry save and restore its hash state). The body
            // is still read from disk in [`CHUNK`] pieces, so memory stays bounded.
            use_monolithic_push: true,
            ..Default::default()
        };
        // TLS, timeouts and proxies are those of our own reqwest client (see vendor/README.md).
        let http = self.http_client(&trust, false)?;
        let client = Client::try_from(config)
            .map_err(RegistryError::from)?
            .with_http_client(http.clone());
        let h = Arc::new(Host {
            name: host.to_string(),
            client,
            auth,
            source,
            tls_help,
            http,
            base_url: format!("{}://{host}", if plain_http { "http" } else { "https" }),
            authed: Mutex::new(HashSet::new()),
        });
        hosts.insert(host.to_string(), h.clone());
        Ok(h)
    }
}

/// Runs `op` while it fails with a retryable error, at most [`Policy::retries`] more times,
/// each attempt under the [`Policy::timeout`] deadline, doubling the wait between them. Every
/// retry is reported at normal verbosity ("retrying uploading a blob in 1 s: …"), on `ui`'s
/// `Reporter` or else the client's.
pub async fn retry<T, F, Fut>(ui: Option<(&Reporter, &str)>, op: F) -> Result<T, RegistryError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RegistryError>>,
{
    retry_within(ui, policy().timeout, op).await
}

/// The deadline of one attempt to move a blob of `bytes`: the request deadline plus a second per
/// MiB (a link slower than 1 MiB/s needs a longer --registry-timeout). A stalled transfer fails
/// sooner, when a single read misses the request deadline.
pub fn deadline_for(bytes: u64) -> Duration {
    policy().timeout + Duration::from_secs(bytes >> 20)
}

/// [`retry`] with `deadline` for each attempt.
pub async fn retry_within<T, F, Fut>(
    ui: Option<(&Reporter, &str)>,
    deadline: Duration,
    mut op: F,
) -> Result<T, RegistryError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RegistryError>>,
{
    let policy = policy();
    let started = std::time::Instant::now();
    let budget = budget(deadline);
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 0;
    loop {
        let result = match tokio::time::timeout(deadline, op()).await {
            Ok(r) => r,
            Err(_) => Err(timed_out(deadline, ui.map(|(_, what)| what))),
        };
        match result {
            Ok(v) => return Ok(v),
            Err(e) if e.retryable() && attempt < policy.retries => {
                let wait = wait_before_retry(e.clone(), backoff, started, budget)?;
                attempt += 1;
                retrying(ui, &e, wait, attempt, policy.retries);
                tokio::time::sleep(wait).await;
                backoff *= 2;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The overall deadline of one request whose attempts each have `deadline`: every attempt
/// used up, and every backoff between them (with the defaults, 4 × 25 s + 3.5 s).
pub fn budget(deadline: Duration) -> Duration {
    let retries = policy().retries.min(16);
    deadline * (retries + 1) + FIRST_BACKOFF * ((1u32 << retries) - 1)
}

/// How long to wait before the next attempt after `e`: as long as the registry asked
/// (`Retry-After` on a 429 or 503), else `backoff`. A wait that would end past the request's
/// overall deadline (`budget` from `started`) is not waited: the request fails at once, saying so.
pub fn wait_before_retry(
    mut e: RegistryError,
    backoff: Duration,
    started: std::time::Instant,
    budget: Duration,
) -> Result<Duration, RegistryError> {
    let Some(asked) = e.retry_after else {
        return Ok(backoff);
    };
    let left = budget.saturating_sub(started.elapsed());
    if asked > left {
        e.message = format!(
            "the registry asked to be retried in {} s (Retry-After), more than the {} s left of \
             this request's deadline (see --registry-timeout and --retries)",
            asked.as_secs(),
            left.as_secs()
        );
        return Err(e);
    }
    Ok(asked)
}

/// The error of an attempt that passed its deadline, saying what it was doing.
pub fn timed_out(limit: Duration, what: Option<&str>) -> RegistryError {
    let said = format!(
        "no answer within {} s (see --registry-timeout)",
        limit.as_secs()
    );
    RegistryError::new(
        ErrorKind::Unreachable,
        match what {
            Some(what) => format!("{what}: {said}"),
            None => said,
        },
    )
}

/// Reports a retry: what is retried, when, why, and which attempt it will be.
pub fn retrying(ui: Option<(&Reporter, &str)>, e: &RegistryError, wait: Duration, n: u32, of: u32) {
    let (ui, what) = match ui {
        Some((ui, what)) => (Some(ui), what),
        None => (RETRY_UI.get(), "a registry request"),
    };
    if let Some(ui) = ui {
        ui.warn(&format!(
            "retrying {what} in {:.1} s (retry {n} of {of}): {e}",
            wait.as_secs_f64()
        ));
    }
}

/// Runs `fut` as its own task, so that a panic inside oci-client (it has `expect`s on registry
/// answers, such as a missing `Location` after a manifest push by digest) becomes an error.
pub async fn guarded<T: Send + 'static>(
    fut: impl Future<Output = Result<T, RegistryError>> + Send + 'static,
) -> Result<T, RegistryError> {
    match tokio::spawn(fut).await {
        Ok(r) => r,
        Err(j) if j.is_panic() => {
            let payload = j.into_panic();
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(RegistryError::new(
                ErrorKind::Protocol,
                format!("the registry's answer broke the client library ({msg})"),
            ))
        }
        Err(j) => Err(RegistryError::new(ErrorKind::Other, j.to_string())),
    }
}

/// Re-cuts a byte stream into [`CHUNK`]-sized pieces (the last may be shorter), since
/// oci-client sends one request per piece.
pub fn rechunk(
    input: BoxStream<'static, Result<Bytes, std::io::Error>>,
) -> BoxStream<'static, Result<Bytes, OciDistributionError>> {
    stream::unfold(
        (input, BytesMut::with_capacity(CHUNK), false),
        |(mut input, mut buf, done)| async move {
            if done {
                return None;
            }
            while buf.len() < CHUNK {
                match input.next().await {
                    Some(Ok(b)) => buf.extend_from_slice(&b),
                    Some(Err(e)) => return Some((Err(e.into()), (input, buf, true))),
                    None => {
                        if buf.is_empty() {
                            return None;
                        }
                        let out = buf.split().freeze();
                        return Some((Ok(out), (input, buf, true)));
                    }
                }
            }
            let out = buf.split_to(CHUNK).freeze();
            Some((Ok(out), (input, buf, false)))
        },
    )
    .boxed()
}

/// A file read in [`CHUNK`]-sized pieces.
pub async fn file_stream(
    path: std::path::PathBuf,
) -> std::io::Result<BoxStream<'static, Result<Bytes, OciDistributionError>>> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(&path).await?;
    Ok(stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; CHUNK];
        let mut filled = 0;
        while filled < CHUNK {
            match file.read(&mut buf[filled..]).await {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) => return Some((Err(e.into()), None)),
            }
        }
        if filled == 0 {
            return None;
        }
        buf.truncate(filled);
        let next = (filled == CHUNK).then_some(file);
        Some((Ok(Bytes::from(buf)), next))
    })
    .boxed())
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

    #[test]
    fn retries_only_what_can_succeed_later() {
        let t = Transport::new(Vec::new(), None, Environment::empty()).unwrap();
        let calls = std::sync::atomic::AtomicU32::new(0);
        let got = t.rt.block_on(retry(None, || async {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if n < 2 {
                Err(RegistryError::new(ErrorKind::Server, "503"))
            } else {
                Ok(n)
            }
        }));
        assert_eq!(got.unwrap(), 2, "two 5xx answers, then success");
        calls.store(0, std::sync::atomic::Ordering::SeqCst);
        let got: Result<(), _> = t.rt.block_on(retry(None, || async {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err(RegistryError::new(ErrorKind::Unauthorized, "401"))
        }));
        assert_eq!(got.unwrap_err().kind, ErrorKind::Unauthorized);
        assert_eq!(calls.into_inner(), 1, "a 401 is not retried");
    }

    #[test]
    fn a_panic_in_the_client_library_becomes_an_error() {
        let t = Transport::new(Vec::new(), None, Environment::empty()).unwrap();
        let got: Result<(), _> = t.rt.block_on(guarded(async {
            let url = "https://r.io/v2/x/manifests/sha256:00";
            // What oci-client does when a registry sends no Location for a push by digest.
            url.strip_suffix("latest")
                .expect("The manifest URL always ends with the image tag suffix");
            Ok(())
        }));
        let e = got.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Protocol);
        assert!(e.to_string().contains("image tag suffix"), "{e}");
    }

    #[test]
    fn rechunk_makes_4_mib_pieces() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let pieces: Vec<Result<Bytes, std::io::Error>> = (0..1000)
            .map(|_| Ok(Bytes::from(vec![7u8; 10_000])))
            .collect();
        let out: Vec<usize> = rt.block_on(
            rechunk(stream::iter(pieces).boxed())
                .map(|r| r.unwrap().len())
                .collect(),
        );
        assert_eq!(out, [CHUNK, CHUNK, 10_000_000 - 2 * CHUNK]);
    }
}
