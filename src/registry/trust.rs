//! Which certificates a registry host is trusted with, found where docker and podman look, and
//! the TLS settings made from them.
//!
//! [`HostTrust::find`] gathers, for one `host[:port]`: the certificate given with
//! `--registry-ca` ([`UserCa`]); the `*.crt` files and the `*.cert`/`*.key` client pair of
//! `HOST[:PORT]` in each `certs.d` directory ([`certs_d_roots`]: podman's
//! `~/.config/containers/certs.d` and `/etc/containers/certs.d`, Docker's
//! `/etc/docker/certs.d`, or the list in `CARGO_IMAGEBUILD_CERTS_D`); and the system store
//! (`SSL_CERT_FILE`/`SSL_CERT_DIR` replace it, as in OpenSSL). [`HostTrust::tls_config`] turns
//! that into a rustls config whose [`Verifier`] accepts a user-given certificate as a pinned
//! server certificate (even a self-signed one with `CA:TRUE`, which webpki refuses as an
//! end-entity certificate; the name is still checked) and sends everything else through
//! webpki's chain checks, with user-given certificates as extra roots. A refusal names the
//! certificate's subject and issuer, the reason, and every place that was looked in.
//! Which hosts skip TLS altogether is `insecure.rs`'s business, not this one's.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};

use super::certificate::Summary;
use super::error::{ErrorKind, RegistryError};
use crate::util::env::Environment;

/// Replaces the `certs.d` directories searched (a `:`-separated list, searched in order).
pub const CERTS_D_ENV: &str = "CARGO_IMAGEBUILD_CERTS_D";

/// The certificates of `--registry-ca`, read once.
#[derive(Clone, Debug)]
pub struct UserCa {
    pub path: PathBuf,
    pub certs: Vec<CertificateDer<'static>>,
}

impl UserCa {
    /// Reads the PEM certificates of `path`; an unreadable file or one with no certificate is
    /// an error that names the flag.
    pub fn read(path: &Path) -> anyhow::Result<UserCa> {
        let pem = std::fs::read(path).map_err(|e| {
            anyhow::anyhow!(
                "cannot read --registry-ca {}: {e}; give the path of a PEM certificate",
                path.display()
            )
        })?;
        let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
            .filter_map(Result::ok)
            .collect();
        if certs.is_empty() {
            anyhow::bail!(
                "--registry-ca {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            );
        }
        Ok(UserCa {
            path: path.to_path_buf(),
            certs,
        })
    }
}

/// The `certs.d` directories searched, in order: `CARGO_IMAGEBUILD_CERTS_D` if set, else
/// podman's user and system directories, then Docker's.
pub fn certs_d_roots(env: &Environment) -> Vec<PathBuf> {
    if let Some(list) = env.get(CERTS_D_ENV) {
        return std::env::split_paths(list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
    }
    let mut roots = Vec::new();
    if let Some(home) = env.path("HOME") {
        roots.push(home.join(".config/containers/certs.d"));
    }
    roots.push(PathBuf::from("/etc/containers/certs.d"));
    roots.push(PathBuf::from("/etc/docker/certs.d"));
    roots
}

/// A client certificate chain and its key, for mutual TLS.
struct Identity {
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

/// Everything one host is trusted with.
pub struct HostTrust {
    /// Certificates the user gave (flag, certs.d): pinned and extra roots.
    user: Vec<CertificateDer<'static>>,
    identity: Option<Identity>,
    /// Where certificates were looked for, for error messages.
    looked: Vec<String>,
    /// Whether `--registry-ca` was given (so help never suggests it again).
    pub ca_given: bool,
    /// An insecure registry (`--insecure-registry`, registries.conf): any certificate is
    /// accepted, as docker and podman do for these.
    pub insecure: bool,
}

fn unreadable(what: &Path, e: impl std::fmt::Display) -> RegistryError {
    RegistryError::new(
        ErrorKind::Tls,
        format!("cannot read the certificate file {}: {e}", what.display()),
    )
}

impl HostTrust {
    /// Gathers the certificates for `host` (`name[:port]`).
    pub fn find(
        host: &str,
        user_ca: Option<&UserCa>,
        env: &Environment,
    ) -> Result<HostTrust, RegistryError> {
        let mut t = HostTrust {
            user: Vec::new(),
            identity: None,
            looked: Vec::new(),
            ca_given: user_ca.is_some(),
            insecure: false,
        };
        if let Some(ca) = user_ca {
            t.user.extend(ca.certs.iter().cloned());
            t.looked
                .push(format!("--registry-ca {}", ca.path.display()));
        }
        for root in certs_d_roots(env) {
            let dir = root.join(host);
            t.looked.push(format!("{}/", dir.display()));
            t.read_certs_d(&dir)?;
        }
        match (env.get("SSL_CERT_FILE"), env.get("SSL_CERT_DIR")) {
            (None, None) => t.looked.push("the system store".into()),
            (file, dir) => {
                for (name, v) in [("SSL_CERT_FILE", file), ("SSL_CERT_DIR", dir)] {
                    if let Some(v) = v {
                        t.looked.push(format!("{name}={}", Path::new(&v).display()));
                    }
                }
            }
        }
        Ok(t)
    }

    /// Reads `dir` as Docker does: every `*.crt` is trusted, and `NAME.cert` with `NAME.key`
    /// is the client certificate. A missing directory is not an error.
    fn read_certs_d(&mut self, dir: &Path) -> Result<(), RegistryError> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(());
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for f in &files {
            match f.extension().and_then(|e| e.to_str()) {
                Some("crt") => {
                    let certs: Vec<_> = CertificateDer::pem_file_iter(f)
                        .map_err(|e| unreadable(f, e))?
                        .filter_map(Result::ok)
                        .collect();
                    self.user.extend(certs);
                }
                Some("cert") if self.identity.is_none() => {
                    let key = f.with_extension("key");
                    if !key.exists() {
                        return Err(RegistryError::new(
                            ErrorKind::Tls,
                            format!(
                                "{} has no key: mutual TLS needs {} beside it",
                                f.display(),
                                key.display()
                            ),
                        ));
                    }
                    let certs: Vec<_> = CertificateDer::pem_file_iter(f)
                        .map_err(|e| unreadable(f, e))?
                        .filter_map(Result::ok)
                        .collect();
                    let key =
                        PrivateKeyDer::from_pem_file(&key).map_err(|e| unreadable(&key, e))?;
                    self.identity = Some(Identity { certs, key });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The places looked in, as one phrase.
    pub fn looked(&self) -> String {
        self.looked.join(", ")
    }

    /// The rustls settings for this host: our [`Verifier`], and the client certificate if any.
    pub fn tls_config(
        &self,
        system: &[CertificateDer<'static>],
    ) -> Result<rustls::ClientConfig, RegistryError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(system.iter().cloned());
        roots.add_parsable_certificates(self.user.iter().cloned());
        let tls_err = |e: &dyn std::fmt::Display| {
            RegistryError::new(ErrorKind::Tls, format!("setting up TLS: {e}"))
        };
        let webpki = if roots.is_empty() {
            None
        } else {
            Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| tls_err(&e))?,
            )
        };
        let verifier = Arc::new(Verifier {
            pinned: self.user.clone(),
            webpki,
            provider: provider.clone(),
            looked: self.looked(),
            insecure: self.insecure,
        });
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err(&e))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        match &self.identity {
            Some(id) => builder
                .with_client_auth_cert(id.certs.clone(), id.key.clone_key())
                .map_err(|e| tls_err(&format!("the client certificate: {e}"))),
            None => Ok(builder.with_no_client_auth()),
        }
    }
}

/// The system's certificates (`SSL_CERT_FILE`/`SSL_CERT_DIR` when set), read once per run.
pub fn system_certs() -> Vec<CertificateDer<'static>> {
    rustls_native_certs::load_native_certs().certs
}

/// Accepts a server certificate that is exactly one the user gave (valid now, for the name
/// asked for), and otherwise asks webpki.
#[derive(Debug)]
struct Verifier {
    pinned: Vec<CertificateDer<'static>>,
    webpki: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
    looked: String,
    insecure: bool,
}

/// Why a certificate was refused, with what it was and where we looked.
#[derive(Debug)]
struct Refusal(String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// Subject, issuer and whether the certificate is its own CA, in words.
fn describe(der: &CertificateDer<'_>) -> String {
    match Summary::read(der) {
        Some(c) => {
            let mut s = format!("the certificate `{}` issued by `{}`", c.subject, c.issuer);
            if c.subject == c.issuer {
                s.push_str(" (self-signed");
                if c.is_ca {
                    s.push_str(", CA:TRUE");
                }
                s.push(')');
            }
            s
        }
        None => "an unparsable certificate".into(),
    }
}

fn reason(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => {
                "no trusted certificate signed it, and it is not one given by the user".into()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "it is not valid for the registry's name (subjectAltName)".into()
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "it has expired".into()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "it is not valid yet".into()
            }
            _ if e.to_string().contains("CaUsedAsEndEntity") => {
                "it is a CA certificate (CA:TRUE), trusted only when given by the user".into()
            }
            _ => e.to_string(),
        },
        other => other.to_string(),
    }
}

impl Verifier {
    fn refuse(&self, cert: &CertificateDer<'_>, e: rustls::Error) -> rustls::Error {
        // `Error::Other` shows our sentence as it is (`InvalidCertificate(Other)` would show
        // its Debug form); error.rs drops rustls's "other error: " prefix.
        rustls::Error::Other(OtherError(Arc::new(Refusal(format!(
            "{} was refused: {}; trusted certificates were looked for in {}",
            describe(cert),
            reason(&e),
            self.looked
        )))))
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.insecure {
            return Ok(ServerCertVerified::assertion());
        }
        if self
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            let parsed = rustls::server::ParsedCertificate::try_from(end_entity)
                .map_err(|e| self.refuse(end_entity, e))?;
            rustls::client::verify_server_name(&parsed, server_name)
                .map_err(|e| self.refuse(end_entity, e))?;
            if let Some(c) = Summary::read(end_entity) {
                let secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
                if !c.valid_at(secs) {
                    return Err(self.refuse(
                        end_entity,
                        rustls::Error::InvalidCertificate(CertificateError::Expired),
                    ));
                }
            }
            return Ok(ServerCertVerified::assertion());
        }
        match &self.webpki {
            Some(w) => w
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .map_err(|e| self.refuse(end_entity, e)),
            None => Err(self.refuse(
                end_entity,
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Makes ring the process's TLS crypto: reqwest is built without one, and every
/// HTTPS client of this crate calls this first. ring builds in a fraction of aws-lc-rs's time
/// (aws-lc-sys's C build was the longest step of `cargo install`, see BENCHMARKS.md).
/// Installing fails only when a provider is installed already, which serves as well.
pub fn tls_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certs_d_defaults_and_override() {
        let d = certs_d_roots(&Environment::empty().with("HOME", "/home/u"));
        assert!(d.contains(&PathBuf::from("/etc/docker/certs.d")), "{d:?}");
        assert!(
            d.contains(&PathBuf::from("/etc/containers/certs.d")),
            "{d:?}"
        );
        assert!(d.contains(&PathBuf::from("/home/u/.config/containers/certs.d")));
        let env = Environment::empty().with(CERTS_D_ENV, "/a:/b");
        assert_eq!(
            certs_d_roots(&env),
            [PathBuf::from("/a"), PathBuf::from("/b")]
        );
    }

    #[test]
    fn a_client_cert_without_key_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("reg.io:5000");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("client.cert"), "").unwrap();
        let mut t = HostTrust {
            user: Vec::new(),
            identity: None,
            looked: Vec::new(),
            ca_given: false,
            insecure: false,
        };
        let e = t.read_certs_d(&dir).err().unwrap();
        assert!(e.to_string().contains("client.key"), "{e}");
    }
}
