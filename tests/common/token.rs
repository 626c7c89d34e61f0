//! A small token issuer for the registry's `auth.token` mode, so the Bearer flow runs for
//! real: `GET /token?service=…&scope=repository:NAME:pull,push` with Basic credentials answers
//! `{"token": JWT}`, a JWT signed RS256 by a key whose self-signed certificate the registry
//! trusts (`rootcertbundle`) and carries in the `x5c` header. Wrong or missing credentials get
//! a 401. It runs on a thread of the test process, on 127.0.0.1 and a free port, and ends with it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::registry::{PASSWORD, USER};
use super::{require, run_ok};

pub const SERVICE: &str = "imagebuild-test-registry";
pub const ISSUER: &str = "imagebuild-test-issuer";

pub struct Issuer {
    pub realm: String,
    pub cert: PathBuf,
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_std(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_url(bytes: &[u8]) -> String {
    base64_std(bytes)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Signs `input` with the RSA key (RS256) using openssl.
fn sign(key: &Path, input: &str) -> Vec<u8> {
    let mut child = Command::new(require("openssl"))
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl dgst -sign failed");
    out.stdout
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A JWT granting every requested scope.
fn token(key: &Path, x5c: &str, scopes: &[String]) -> String {
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|s| {
            let mut parts = s.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            Some(serde_json::json!({
                "type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()
            }))
        })
        .collect();
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5c": [x5c]});
    let t = now();
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": USER, "aud": SERVICE, "exp": t + 600, "nbf": t - 60,
        "iat": t - 60, "jti": format!("{t}-{}", scopes.len()), "access": access,
    });
    let input = format!(
        "{}.{}",
        base64_url(header.to_string().as_bytes()),
        base64_url(claims.to_string().as_bytes())
    );
    let sig = sign(key, &input);
    format!("{input}.{}", base64_url(&sig))
}

impl Issuer {
    /// Makes the signing key and certificate in `dir` and starts serving.
    pub fn start(dir: &Path) -> Issuer {
        Issuer::start_with(dir, false)
    }

    /// [`Issuer::start`]; `narrow_first`: the first token granted leaves out `push`.
    pub fn start_with(dir: &Path, narrow_first: bool) -> Issuer {
        let key = dir.join("token.key");
        let cert = dir.join("token.crt");
        run_ok(Command::new(require("openssl")).args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
            "-days",
            "2",
            "-subj",
            "/CN=imagebuild token issuer",
        ]));
        let der = run_ok(
            Command::new(require("openssl"))
                .args(["x509", "-outform", "DER", "-in"])
                .arg(&cert),
        )
        .stdout;
        let x5c = base64_std(&der);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let expected = format!(
            "Basic {}",
            base64_std(format!("{USER}:{PASSWORD}").as_bytes())
        );
        std::thread::spawn(move || {
            let mut narrow = narrow_first;
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    continue;
                }
                let mut authorized = false;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("authorization") && value.trim() == expected {
                            authorized = true;
                        }
                    }
                }
                let query = first
                    .split_whitespace()
                    .nth(1)
                    .and_then(|p| p.split_once('?'))
                    .map(|(_, q)| q.to_string())
                    .unwrap_or_default();
                let scopes: Vec<String> = query
                    .split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .filter(|(k, _)| *k == "scope")
                    .flat_map(|(_, v)| {
                        url_decode(v)
                            .split(' ')
                            .map(str::to_string)
                            .collect::<Vec<_>>()
                    })
                    .collect();
                let (status, body) = if authorized {
                    let granted: Vec<String> = if std::mem::take(&mut narrow) {
                        scopes
                            .iter()
                            .map(|s| s.replace(":pull,push", ":pull"))
                            .collect()
                    } else {
                        scopes
                    };
                    let t = token(&key, &x5c, &granted);
                    (
                        "200 OK",
                        serde_json::json!({"token": t, "access_token": t}).to_string(),
                    )
                } else {
                    (
                        "401 Unauthorized",
                        r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
                            .to_string(),
                    )
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Issuer { realm, cert }
    }
}

/// A token endpoint that records what it is sent, for the tests of where credentials go: every
/// request's path and `Authorization` header. It answers an opaque token, or (when made with
/// [`Witness::redirecting`]) a 302 to another address, its query kept. On 127.0.0.1 and a free
/// port, for the life of the test process.
pub struct Witness {
    /// `http://127.0.0.1:PORT/token`.
    pub realm: String,
    seen: Log,
}

/// What a [`Witness`] was sent: each request's path and `Authorization` header.
type Log = std::sync::Arc<std::sync::Mutex<Vec<(String, Option<String>)>>>;

impl Witness {
    /// A token service answering `{"token": "witness-token"}`.
    pub fn start() -> Witness {
        Witness::serve(None)
    }

    /// A token service that sends every request on to `to` (an `http://…/token` URL).
    pub fn redirecting(to: &str) -> Witness {
        Witness::serve(Some(to.to_string()))
    }

    /// Every request so far: its path and query, and its `Authorization` header.
    pub fn seen(&self) -> Vec<(String, Option<String>)> {
        self.seen.lock().unwrap().clone()
    }

    fn serve(redirect: Option<String>) -> Witness {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let seen: Log = Default::default();
        let log = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    continue;
                }
                let mut authorization = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("authorization") {
                            authorization = Some(value.trim().to_string());
                        }
                    }
                }
                let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
                log.lock().unwrap().push((path.clone(), authorization));
                let reply = match &redirect {
                    Some(to) => {
                        let query = path.split_once('?').map_or("", |(_, q)| q);
                        format!(
                            "HTTP/1.1 302 Found\r\nLocation: {to}?{query}\r\nContent-Length: 0\r\n\
                             Connection: close\r\n\r\n"
                        )
                    }
                    None => {
                        let body = r#"{"token":"witness-token","expires_in":300}"#;
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                             Connection: close\r\n\r\n{body}",
                            body.len()
                        )
                    }
                };
                let _ = conn.write_all(reply.as_bytes());
            }
        });
        Witness { realm, seen }
    }
}
