//! One request on the wire, and reading its answer: [`Host::send`] adds the credentials the
//! request's repository needs — only when the URL is the registry's own origin, so an upload
//! `Location` on another host or a redirect (reqwest drops `Authorization` across origins) never
//! carries them — and sends it once more with a fresh token after a 401. The helpers read an
//! answer safely: bodies capped by Content-Length and by running count ([`read_capped`]), any
//! unexpected status made a [`RegistryError`] with the spec's codes and `Retry-After`
//! ([`error_from`]), `Location` resolved against the request ([`location`]).

use bytes::Bytes;
use reqwest::header::{HeaderValue, AUTHORIZATION, LOCATION, RETRY_AFTER};
use reqwest::{RequestBuilder, Response, Url};

use super::auth::Credential;
use super::challenge::{self, Challenge};
use super::error::{parse_retry_after, redact_url, ErrorKind, RegistryError};
use super::token;
use super::transport::Host;
use crate::util::digest::Digest;

/// The largest manifest, index or config read into memory (and error bodies are read no further).
pub const MANIFEST_LIMIT: u64 = 4 << 20;
/// The largest token-service answer read into memory.
pub const TOKEN_LIMIT: u64 = 512 << 10;

impl Host {
    /// Sends `req` with the credentials that `repo` needs (`push`: to write it): nothing for an
    /// open registry, Basic for a Basic one, a Bearer token (from the cache, or fetched) for a
    /// token registry — and none at all when the URL is not this registry's origin. A request
    /// refused with 401 despite a token is sent once more with a fresh one (when its body can
    /// be sent twice; streamed uploads are retried by their caller instead).
    pub async fn send(
        &self,
        repo: &str,
        push: bool,
        req: RequestBuilder,
    ) -> Result<Response, RegistryError> {
        let mut req = req.build().map_err(RegistryError::from)?;
        let again = req.try_clone();
        let (auth, from_token) = self.authorization(repo, push, req.url()).await?;
        if let Some(value) = auth {
            req.headers_mut().insert(AUTHORIZATION, value);
        }
        let res = self.http.execute(req).await.map_err(RegistryError::from)?;
        match again {
            Some(mut again) if from_token && res.status() == 401 => {
                // The token expired or lacks a scope the registry names: ask again, once.
                let mut scopes = vec![token::scope(repo, push)];
                if let Challenge::Bearer { scope: Some(s), .. } = challenge::parse(res.headers()) {
                    if !scopes.contains(&s) {
                        scopes.push(s);
                    }
                }
                self.tokens.forget(repo);
                let fresh = self.fetch_token(&scopes).await?;
                again
                    .headers_mut()
                    .insert(AUTHORIZATION, fresh.header.clone());
                self.http.execute(again).await.map_err(RegistryError::from)
            }
            _ => Ok(res),
        }
    }

    /// The `Authorization` value for a request to `url` on behalf of `repo`, and whether it is
    /// a token from the token service (which a 401 may ask to renew).
    async fn authorization(
        &self,
        repo: &str,
        push: bool,
        url: &Url,
    ) -> Result<(Option<HeaderValue>, bool), RegistryError> {
        if !same_origin(url, &self.base) {
            return Ok((None, false));
        }
        Ok(match (self.challenge().await?, &self.credential) {
            (Challenge::Open, _) => (None, false),
            (_, Credential::IdentityToken(_)) => (self.credential.identity_header(), false),
            (Challenge::Basic, c) => (c.basic_header(), false),
            (Challenge::Bearer { .. }, _) => {
                (Some(self.bearer(repo, push).await?.header.clone()), true)
            }
        })
    }
}

/// Whether `url` is on the registry's own origin (scheme, host and port), the only place its
/// credentials go.
pub fn same_origin(url: &Url, base: &Url) -> bool {
    url.scheme() == base.scheme()
        && url.host_str() == base.host_str()
        && url.port_or_known_default() == base.port_or_known_default()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_stay_on_the_registry_origin() {
        let base = Url::parse("https://reg.io").unwrap();
        let same = |u: &str| same_origin(&Url::parse(u).unwrap(), &base);
        assert!(same("https://reg.io/v2/a/blobs/uploads/x?_state=1"));
        assert!(same("https://reg.io:443/v2/"));
        assert!(!same("https://reg.io:5000/v2/"), "another port");
        assert!(!same("http://reg.io/v2/"), "no downgrade to plain HTTP");
        assert!(!same("https://storage.reg.io/v2/"), "another host");
    }
}
