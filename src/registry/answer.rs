//! Reading a registry's answer safely: bodies capped by Content-Length and by running count
//! ([`read_capped`]), any unexpected status made a [`RegistryError`] with the spec's codes and
//! `Retry-After` ([`error_from`]), `Location` resolved against the request ([`location`]), the
//! registry's `Docker-Content-Digest`, and the error for bytes that are not what their digest
//! says ([`digest_mismatch`]).

use bytes::Bytes;
use reqwest::header::{LOCATION, RETRY_AFTER};
use reqwest::{Response, Url};

use super::error::{parse_retry_after, redact_url, ErrorKind, RegistryError};
use crate::util::digest::Digest;

/// The largest manifest, index or config read into memory (and error bodies are read no further).
pub const MANIFEST_LIMIT: u64 = 4 << 20;
/// The largest token-service answer read into memory.
pub const TOKEN_LIMIT: u64 = 512 << 10;

/// The body of `res`, refused once it passes `limit` bytes: by its Content-Length, else while
/// it arrives (a lying or absent Content-Length cannot make us hold gigabytes).
pub async fn read_capped(mut res: Response, limit: u64) -> Result<Bytes, RegistryError> {
    let url = res.url().to_string();
    if res.content_length().is_some_and(|n| n > limit) {
        return Err(RegistryError::too_large(&url, limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(RegistryError::from)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(RegistryError::too_large(&url, limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// `res` when its status is one of `ok`, else the error it carries.
pub async fn expect(res: Response, ok: &[u16]) -> Result<Response, RegistryError> {
    if ok.contains(&res.status().as_u16()) {
        Ok(res)
    } else {
        Err(error_from(res).await)
    }
}

/// The error an unexpected answer carries: its status, the spec's error codes and messages
/// from its body (read no further than [`MANIFEST_LIMIT`]), the wait a `Retry-After` asks.
pub async fn error_from(mut res: Response) -> RegistryError {
    let status = res.status().as_u16();
    let url = redact_url(res.url().as_str());
    let retry_after = res
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = res.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() as u64 >= MANIFEST_LIMIT {
            break;
        }
    }
    let mut e = RegistryError::from_status(status, Some(url), &String::from_utf8_lossy(&body));
    e.retry_after = retry_after;
    e
}

/// The answer's `Location`, resolved against the URL it answered (relative forms included).
pub fn location(res: &Response) -> Result<Url, RegistryError> {
    res.headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|loc| res.url().join(loc).ok())
        .ok_or_else(|| {
            RegistryError::new(
                ErrorKind::Protocol,
                "the registry sent no usable Location header where the protocol requires one",
            )
        })
}

/// The answer's `Docker-Content-Digest`, when it sent a sha256 one.
pub fn content_digest(res: &Response) -> Option<Digest> {
    res.headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// The error for bytes that do not hash to the digest they were asked by.
pub fn digest_mismatch(what: &str, asked: &Digest, got: &Digest) -> RegistryError {
    RegistryError {
        help: Some(
            "the registry, or something between it and us (a proxy, a cache), altered the data; \
             nothing was written from it"
                .into(),
        ),
        ..RegistryError::new(
            ErrorKind::Protocol,
            format!("digest mismatch: the registry sent {what} {asked} as bytes with digest {got}"),
        )
    }
}
