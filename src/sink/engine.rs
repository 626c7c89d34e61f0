//! The Docker Engine API spoken directly on a unix socket, for the two calls `--load` makes:
//! `GET /info` (the probe) and `POST /images/load` (the docker archive, streamed as a chunked
//! body). The docker CLI makes the same two calls on the same socket, but as a second process
//! each time, which was most of what `--load` added to a dev loop's build (BENCHMARKS.md, "The
//! dev loop"). Endpoints that are not a unix socket (tcp with TLS, ssh) still go through the
//! CLI, which knows their set-up; so does a socket nothing answers on, so the CLI's own words
//! explain it. reqwest's own unix-socket transport carries the calls: no second HTTP stack.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;

/// The docker CLI's socket when neither `DOCKER_HOST` nor a context names another.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// The size of each piece of the streamed archive.
const PIECE: usize = 1 << 20;
/// Pieces in flight between the archive writer and the socket.
const IN_FLIGHT: usize = 4;

/// A daemon's API on a unix socket.
pub struct Engine {
    socket: PathBuf,
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Nothing answered on the socket (missing, refused, not ours to open): the caller asks
    /// the CLI instead, whose message names the reason the user knows.
    #[error("nothing answered on {}: {reason}", .socket.display())]
    Unreachable { socket: PathBuf, reason: String },
    /// The daemon answered, and said no.
    #[error("{0}")]
    Refused(String),
    #[error("{what} did not finish within {} s", .timeout.as_secs())]
    Timeout {
        what: &'static str,
        timeout: Duration,
    },
}

/// What a load did: the names the daemon reported, and how writing the archive ended.
pub struct Loaded {
    pub names: Vec<String>,
    /// The archive writer's own result (an error reading the store, say).
    pub fed: anyhow::Result<()>,
}

/// The socket a `DOCKER_HOST`-style host names: `unix:///run/docker.sock` → `/run/docker.sock`;
/// None (the CLI's default) → [`DEFAULT_SOCKET`]; any other scheme → not ours to speak to.
pub fn socket_of(host: Option<&str>) -> Option<PathBuf> {
    match host {
        None => Some(PathBuf::from(DEFAULT_SOCKET)),
        Some(h) => h
            .strip_prefix("unix://")
            .filter(|p| p.starts_with('/'))
            .map(PathBuf::from),
    }
}

impl Engine {
    /// A client for the API on `socket`; None when the socket is not there (nothing to try).
    pub fn at(socket: &Path) -> Option<Engine> {
        use std::os::unix::fs::FileTypeExt;
        let is_socket = std::fs::metadata(socket).is_ok_and(|m| m.file_type().is_socket());
        if !is_socket {
            return None;
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        crate::registry::tls_crypto();
        let client = reqwest::Client::builder()
            .unix_socket(socket)
            .no_proxy()
            .build()
            .ok()?;
        Some(Engine {
            socket: socket.to_path_buf(),
            rt,
            client,
        })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `GET /info`: the same document `docker info --format '{{json .}}'` prints the server part of.
    pub fn info(&self, timeout: Duration) -> Result<Value, EngineError> {
        let what = "the daemon's `GET /info`";
        let answer = self.rt.block_on(async {
            tokio::time::timeout(timeout, async {
                let resp = self.client.get(self.url("/info")).send().await?;
                let status = resp.status();
                let body = resp.bytes().await?;
                Ok::<_, reqwest::Error>((status, body))
            })
            .await
        });
        let (status, body) = match answer {
            Err(_) => return Err(EngineError::Timeout { what, timeout }),
            Ok(Err(e)) => return Err(self.unreachable(&e)),
            Ok(Ok(a)) => a,
        };
        if !status.is_success() {
            return Err(EngineError::Refused(message_of(status.as_u16(), &body)));
        }
        serde_json::from_slice(&body)
            .map_err(|e| EngineError::Refused(format!("`GET /info` answered with no JSON ({e})")))
    }

    /// `POST /images/load` with the archive `write` produces as the body, streamed; returns
    /// the names the daemon reports having loaded.
    pub fn load(
        &self,
        timeout: Duration,
        write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()> + Send,
    ) -> Result<Loaded, EngineError> {
        let what = "the daemon's `POST /images/load`";
        let (tx, rx) = mpsc::channel(IN_FLIGHT);
        std::thread::scope(|s| {
            let feeder = s.spawn(move || -> anyhow::Result<()> {
                let mut w = BufWriter::with_capacity(PIECE, Pieces { tx });
                write(&mut w)?;
                w.flush()?;
                Ok(())
                // Dropping `w` ends the body: the archive is complete.
            });
            let body = reqwest::Body::wrap(ChannelBody { rx: Mutex::new(rx) });
            let answer = self.rt.block_on(async {
                tokio::time::timeout(timeout, async {
                    let resp = self
                        .client
                        .post(self.url("/images/load?quiet=1"))
                        .header(reqwest::header::CONTENT_TYPE, "application/x-tar")
                        .body(body)
                        .send()
                        .await?;
                    let status = resp.status();
                    let text = resp.bytes().await?;
                    Ok::<_, reqwest::Error>((status, text))
                })
                .await
            });
            let fed = feeder
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("writing the archive panicked")));
            let (status, text) = match answer {
                Err(_) => return Err(EngineError::Timeout { what, timeout }),
                Ok(Err(e)) => {
                    // Our own failure (a store read) is the one to report; the request then
                    // failed only because its body did.
                    if fed.is_err() {
                        return Ok(Loaded {
                            names: Vec::new(),
                            fed,
                        });
                    }
                    return Err(self.unreachable(&e));
                }
                Ok(Ok(a)) => a,
            };
            if !status.is_success() {
                return Err(EngineError::Refused(message_of(status.as_u16(), &text)));
            }
            let names = loaded_names(&text)?;
            Ok(Loaded { names, fed })
        })
    }

    fn url(&self, path: &str) -> String {
        // The host is never looked up: every connection goes to the socket.
        format!("http://docker{path}")
    }

    fn unreachable(&self, e: &reqwest::Error) -> EngineError {
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            reason = s.to_string();
            source = s.source();
        }
        EngineError::Unreachable {
            socket: self.socket.clone(),
            reason,
        }
    }
}

/// The daemon's reason in an error answer: its JSON `message`, else the text itself.
fn message_of(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| format!("HTTP {status}: {}", text.trim()))
}

/// The JSON messages of a load's answer, one per line: `{"stream":"Loaded image: app:dev\n"}`
/// for each image, `{"error":"…","errorDetail":{…}}` for a refusal after the answer began.
fn loaded_names(body: &[u8]) -> Result<Vec<String>, EngineError> {
    let mut names = Vec::new();
    let text = String::from_utf8_lossy(body);
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if let Some(e) = v["error"].as_str() {
            return Err(EngineError::Refused(e.trim().to_string()));
        }
        if let Some(s) = v["stream"].as_str() {
            names.extend(names_in_report(s));
        }
    }
    Ok(names)
}

/// The names in a load's report: `Loaded image: a:1` (docker), `Loaded image(s): a:1,b:2`
/// (podman), one line each.
pub fn names_in_report(report: &str) -> Vec<String> {
    report
        .lines()
        .filter_map(|l| l.strip_prefix("Loaded image"))
        .filter_map(|l| l.split_once(": ").map(|(_, names)| names))
        .flat_map(|names| names.split(','))
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect()
}

/// The writing end: each buffer the archive writer flushes becomes one piece of the body.
struct Pieces {
    tx: mpsc::Sender<Bytes>,
}

impl Write for Pieces {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the daemon stopped reading"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The reading end, as a request body of unknown length (sent chunked). reqwest's
/// `Body::wrap` wants a `Sync` body, hence the mutex (never contended: only hyper polls it).
struct ChannelBody {
    rx: Mutex<mpsc::Receiver<Bytes>>,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, io::Error>>> {
        let rx = self
            .get_mut()
            .rx
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        rx.poll_recv(cx)
            .map(|p| p.map(|b| Ok(http_body::Frame::data(b))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unix_sockets_are_spoken_to() {
        assert_eq!(socket_of(None), Some(PathBuf::from(DEFAULT_SOCKET)));
        assert_eq!(
            socket_of(Some("unix:///run/user/1000/docker.sock")),
            Some(PathBuf::from("/run/user/1000/docker.sock"))
        );
        for other in [
            "tcp://127.0.0.1:2376",
            "ssh://me@box",
            "unix://relative.sock",
            "npipe:////./pipe/docker_engine",
        ] {
            assert_eq!(socket_of(Some(other)), None, "{other}");
        }
    }

    #[test]
    fn a_loads_answer_gives_names_or_the_refusal() {
        let ok = b"{\"stream\":\"Loaded image: api:dev\\n\"}\r\n{\"stream\":\"Loaded image: api:dev-too\\n\"}\r\n";
        assert_eq!(loaded_names(ok).unwrap(), ["api:dev", "api:dev-too"]);
        let refused = b"{\"errorDetail\":{\"message\":\"operating system is not supported\"},\"error\":\"operating system is not supported\"}\n";
        let e = loaded_names(refused).unwrap_err();
        assert_eq!(e.to_string(), "operating system is not supported");
        assert_eq!(
            message_of(500, br#"{"message":"invalid tar header"}"#),
            "invalid tar header"
        );
        assert_eq!(message_of(502, b"bad gateway"), "HTTP 502: bad gateway");
    }
}
