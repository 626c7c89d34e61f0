//! Real registries for the push tests: the CNCF distribution registry (Debian's
//! `docker-registry`, distribution 2.8) run with our own config on 127.0.0.1 and a free port,
//! five ways: plain HTTP without auth, TLS (a CA of our own) with htpasswd Basic auth, token
//! auth against the small JWT issuer of `token.rs`, and TLS with a certificate made exactly as
//! Docker's documentation makes one (self-signed, `CA:TRUE`), without and with mutual TLS
//! (`tls.clientcas`; the client pair is made by [`make_client_cert`]). One of each per test binary, started
//! on first use; a watcher shell stops each (and removes its files) when the test process ends.
//! The registry's access log is kept, so tests can count the requests it served.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{require, run_ok};

pub const USER: &str = "pusher";
/// Distinctive, so a test can assert it never shows up in any output.
pub const PASSWORD: &str = "s3cr3t-Pa55w0rd-xyzzy";

/// A directory for this test process's daemons, removed by their watchers at exit.
pub fn harness_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("harness")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `program args` in the background with its output in `log`, watched by a shell that
/// stops it (TERM, then KILL after 10 s) and removes `cleanup` once this test process is gone.
pub fn spawn_watched(
    program: &Path,
    args: &[&str],
    log: &Path,
    cleanup: &Path,
    env: &[(&str, &str)],
) {
    let script = r#"
"$@" >"$LOG" 2>&1 </dev/null &
child=$!
while kill -0 "$WATCH" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.2; done
kill "$child" 2>/dev/null
i=0
while kill -0 "$child" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done
kill -9 "$child" 2>/dev/null
wait "$child" 2>/dev/null
rm -rf "$CLEANUP"
"#;
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(script)
        .arg("watcher")
        .arg(program)
        .args(args)
        .env("WATCH", std::process::id().to_string())
        .env("LOG", log)
        .env("CLEANUP", cleanup)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    // Reaped if it ends early; otherwise it outlives us and does its cleanup.
    std::thread::spawn(move || child.wait());
}

/// Waits (at most `limit`) until something accepts connections on `addr`.
pub fn wait_for_port(addr: &str, limit: Duration, log: &Path) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if TcpStream::connect(addr).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "nothing listens on {addr} after {limit:?}; log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// How a registry authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Plain,
    TlsBasic,
    Token,
    /// Token auth whose issuer leaves `push` out of the first token it grants (a token too
    /// narrow for what it is used for, as an expired one is: the registry answers 401).
    TokenNarrowFirst,
    /// TLS with Docker's documented self-signed certificate, no auth.
    SelfSigned,
    /// The same, requiring a client certificate signed by the harness's client CA.
    SelfSignedMutual,
}

pub struct Registry {
    pub kind: Kind,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    pub dir: PathBuf,
    pub log: PathBuf,
    /// The CA that signed the TLS registry's certificate.
    pub ca: Option<PathBuf>,
    /// A directory holding `ca.crt`, for skopeo's `--cert-dir` (and, for mutual TLS,
    /// `client.cert` + `client.key`).
    pub cert_dir: Option<PathBuf>,
}

/// The certificate Docker's documentation ("Test an insecure registry") tells users to make:
/// `openssl req -newkey rsa:4096 -nodes -sha256 -keyout domain.key -addext
/// "subjectAltName = IP:127.0.0.1" -x509 -days 365 -out domain.crt` — self-signed, and
/// OpenSSL marks it `CA:TRUE`. Returns (domain.crt, domain.key).
fn make_docker_docs_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
    run_ok(Command::new(require("openssl")).args([
        "req",
        "-newkey",
        "rsa:4096",
        "-nodes",
        "-sha256",
        "-keyout",
        &p("domain.key"),
        "-addext",
        "subjectAltName = IP:127.0.0.1",
        "-x509",
        "-days",
        "365",
        "-out",
        &p("domain.crt"),
        "-subj",
        "/CN=imagebuild docs registry",
    ]));
    (dir.join("domain.crt"), dir.join("domain.key"))
}

/// A client CA (`client-ca.crt`) and a client certificate signed by it, written as
/// `client.cert` + `client.key` (Docker's certs.d names) into `dir`.
pub fn make_client_cert(dir: &Path) -> PathBuf {
    let openssl = require("openssl");
    let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
    run_ok(Command::new(&openssl).args([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &p("client-ca.key"),
        "-out",
        &p("client-ca.crt"),
        "-days",
        "2",
        "-subj",
        "/CN=imagebuild client CA",
    ]));
    run_ok(Command::new(&openssl).args([
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &p("client.key"),
        "-out",
        &p("client.csr"),
        "-subj",
        "/CN=imagebuild client",
    ]));
    std::fs::write(
        dir.join("client-ext.cnf"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    run_ok(Command::new(&openssl).args([
        "x509",
        "-req",
        "-in",
        &p("client.csr"),
        "-CA",
        &p("client-ca.crt"),
        "-CAkey",
        &p("client-ca.key"),
        "-CAcreateserial",
        "-out",
        &p("client.cert"),
        "-days",
        "2",
        "-extfile",
        &p("client-ext.cnf"),
    ]));
    dir.join("client-ca.crt")
}

/// A CA and a certificate for 127.0.0.1 signed by it, made with openssl.
fn make_tls(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let openssl = require("openssl");
    let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
    run_ok(Command::new(&openssl).args([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca.crt"),
        "-days",
        "2",
        "-subj",
        "/CN=imagebuild test CA",
    ]));
    run_ok(Command::new(&openssl).args([
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &p("tls.key"),
        "-out",
        &p("tls.csr"),
        "-subj",
        "/CN=127.0.0.1",
    ]));
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run_ok(Command::new(&openssl).args([
        "x509",
        "-req",
        "-in",
        &p("tls.csr"),
        "-CA",
        &p("ca.crt"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-out",
        &p("tls.crt"),
        "-days",
        "2",
        "-extfile",
        &p("ext.cnf"),
    ]));
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(dir.join("ca.crt"), certs.join("ca.crt")).unwrap();
    (dir.join("ca.crt"), dir.join("tls.crt"), dir.join("tls.key"))
}

impl Registry {
    /// Starts a registry of `kind`; panics (naming scripts/test.sh) if a tool is missing.
    pub fn start(kind: Kind) -> Registry {
        let bin = require("docker-registry");
        let dir = harness_dir(&format!("registry-{kind:?}").to_lowercase());
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\n  formatter: text\nstorage:\n  filesystem:\n    \
             rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.join("data").display()
        );
        let (mut ca, mut cert_dir) = (None, None);
        match kind {
            Kind::Plain => {}
            Kind::TlsBasic => {
                let (ca_crt, crt, key) = make_tls(&dir);
                config.push_str(&format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    crt.display(),
                    key.display()
                ));
                let out = run_ok(Command::new(require("htpasswd")).args(["-Bbn", USER, PASSWORD]));
                std::fs::write(dir.join("htpasswd"), &out.stdout).unwrap();
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: imagebuild-test\n    path: {}\n",
                    dir.join("htpasswd").display()
                ));
                ca = Some(ca_crt);
                cert_dir = Some(dir.join("certs"));
            }
            Kind::SelfSigned | Kind::SelfSignedMutual => {
                let (crt, key) = make_docker_docs_cert(&dir);
                config.push_str(&format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    crt.display(),
                    key.display()
                ));
                let certs = dir.join("certs");
                std::fs::create_dir_all(&certs).unwrap();
                std::fs::copy(&crt, certs.join("ca.crt")).unwrap();
                if kind == Kind::SelfSignedMutual {
                    let client_ca = make_client_cert(&dir);
                    for f in ["client.cert", "client.key"] {
                        std::fs::copy(dir.join(f), certs.join(f)).unwrap();
                    }
                    config.push_str(&format!(
                        "    clientcas:\n      - {}\n",
                        client_ca.display()
                    ));
                }
                ca = Some(crt);
                cert_dir = Some(certs);
            }
            Kind::Token | Kind::TokenNarrowFirst => {
                let issuer = super::token::Issuer::start_with(&dir, kind == Kind::TokenNarrowFirst);
                config.push_str(&format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    \
                     rootcertbundle: {}\n",
                    issuer.realm,
                    super::token::SERVICE,
                    super::token::ISSUER,
                    issuer.cert.display()
                ));
            }
        }
        let config_path = dir.join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = dir.join("registry.log");
        spawn_watched(
            &bin,
            &["serve", config_path.to_str().unwrap()],
            &log,
            &dir,
            &[],
        );
        wait_for_port(&addr, Duration::from_secs(20), &log);
        Registry {
            kind,
            addr,
            dir,
            log,
            ca,
            cert_dir,
        }
    }

    /// The registry's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The requests served so far for `repo`, as `METHOD /path?query` from the access log.
    pub fn requests(&self, repo: &str) -> Vec<String> {
        let needle = format!(" /v2/{repo}/");
        self.log_text()
            .lines()
            .filter_map(|l| {
                let start = l.find("\"")? + 1;
                let rest = &l[start..];
                let end = rest.find(" HTTP/")?;
                Some(rest[..end].to_string())
            })
            .filter(|r| r.contains(&needle))
            .collect()
    }

    /// Blob upload requests for `repo` (each upload session starts with a POST; a
    /// cross-repository mount is a POST with `mount=`).
    pub fn uploads(&self, repo: &str) -> Vec<String> {
        self.requests(repo)
            .into_iter()
            .filter(|r| {
                r.starts_with("POST ") && r.contains("/blobs/uploads/") && !r.contains("mount=")
            })
            .collect()
    }

    /// Writes a Docker config holding this registry's credentials (`password` for the
    /// password) into a fresh directory, for DOCKER_CONFIG.
    pub fn docker_config(&self, password: &str, dir: &Path) -> PathBuf {
        let cfg = dir.join("docker-config");
        std::fs::create_dir_all(&cfg).unwrap();
        let auth = super::token::base64_std(format!("{USER}:{password}").as_bytes());
        std::fs::write(
            cfg.join("config.json"),
            format!(
                "{{\"auths\":{{\"{}\":{{\"auth\":\"{auth}\"}}}}}}",
                self.addr
            ),
        )
        .unwrap();
        cfg
    }

    /// skopeo's flags for reading from this registry.
    pub fn skopeo_flags(&self) -> Vec<String> {
        let mut f = Vec::new();
        match self.kind {
            Kind::Plain => f.push("--tls-verify=false".to_string()),
            Kind::TlsBasic => {
                f.push(format!(
                    "--cert-dir={}",
                    self.cert_dir.as_ref().unwrap().display()
                ));
                f.push(format!("--creds={USER}:{PASSWORD}"));
            }
            Kind::SelfSigned | Kind::SelfSignedMutual => f.push(format!(
                "--cert-dir={}",
                self.cert_dir.as_ref().unwrap().display()
            )),
            Kind::Token | Kind::TokenNarrowFirst => {
                f.push("--tls-verify=false".to_string());
                f.push(format!("--creds={USER}:{PASSWORD}"));
            }
        }
        f
    }

    /// `skopeo inspect --raw` of `reference` (in this registry), parsed.
    pub fn skopeo_raw(&self, reference: &str) -> serde_json::Value {
        let mut c = Command::new(require("skopeo"));
        c.arg("inspect").arg("--raw").args(self.skopeo_flags());
        c.arg(format!("docker://{reference}"));
        let out = run_ok(&mut c);
        serde_json::from_slice(&out.stdout).expect("skopeo printed JSON")
    }
}

/// A minimal HTTP GET on loopback (for waiting on a daemon's API), returning status and body.
pub fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let status = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string();
    Some((status, body))
}

/// A plain HTTP/1.0 PUT of a manifest on loopback, returning the status: to place a document
/// our tool would never write (another signer's signature image, a hostile index).
pub fn put_manifest(addr: &str, path: &str, media_type: &str, body: &[u8]) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        s,
        "PUT {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: {media_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}
