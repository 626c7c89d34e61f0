//! Bearer tokens, as the Docker token spec (distribution's `docs/spec/auth/token.md`) has a
//! registry hand them out: the registry's `/v2/` challenge names a token service (`realm`,
//! `service`); a `GET realm?service=…&scope=…&scope=…` (Basic credentials when we have them,
//! nothing when anonymous) answers `{"token": …}` or `{"access_token": …}` with an optional
//! `expires_in` (60 s when absent). One token may cover several repositories (a push that mounts
//! base layers asks pull on each base and push on the target in one request).
//!
//! [`TokenCache`] keeps each token under every `(repository, push)` its scopes cover until
//! shortly before it expires; a push token also serves pulls of its repository. A host runs the
//! flow (`wire.rs`) once per repository and access when it is authorized, under the retry
//! policy, so refused credentials, a stalled or oversized token answer fail there, named.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::HeaderValue;
use reqwest::Url;

use super::answer::{self, TOKEN_LIMIT};
use super::auth::{sensitive, Credential};
use super::error::{redact_url, ErrorKind, RegistryError};

/// The scope of `repo` for pulling, or for pulling and pushing.
pub fn scope(repo: &str, push: bool) -> String {
    format!(
        "repository:{repo}:{}",
        if push { "pull,push" } else { "pull" }
    )
}

/// The token scopes for pushing to `target` with blobs mounted from `bases`, as docker and
/// crane ask for them: pull on each base, pull and push on the target.
pub fn mount_scopes(target: &str, bases: &[String]) -> Vec<String> {
    bases
        .iter()
        .filter(|b| b.as_str() != target)
        .map(|b| scope(b, false))
        .chain(std::iter::once(scope(target, true)))
        .collect()
}

/// A token as the registry wants it sent, and when to stop using it.
pub struct Token {
    /// `Bearer …`, marked sensitive.
    pub header: HeaderValue,
    pub expires: Instant,
}

/// The tokens of one registry, by `(repository, push)`.
#[derive(Default)]
pub struct TokenCache(std::sync::Mutex<HashMap<(String, bool), Arc<Token>>>);

impl TokenCache {
    /// A token that is still good for `repo`: for a pull, a push token serves too.
    pub fn get(&self, repo: &str, push: bool) -> Option<Arc<Token>> {
        let map = self.0.lock().ok()?;
        let fresh = |push: bool| {
            map.get(&(repo.to_string(), push))
                .filter(|t| t.expires > Instant::now())
                .cloned()
        };
        fresh(push).or_else(|| if push { None } else { fresh(true) })
    }

    /// Files `token` under every repository and access its `scopes` name.
    pub fn put(&self, scopes: &[String], token: Arc<Token>) {
        let Ok(mut map) = self.0.lock() else {
            return;
        };
        for s in scopes {
            let mut parts = s.splitn(3, ':');
            if let (Some("repository"), Some(repo), Some(actions)) =
                (parts.next(), parts.next(), parts.next())
            {
                let push = actions.split(',').any(|a| a == "push" || a == "*");
                map.insert((repo.to_string(), push), token.clone());
            }
        }
    }

    /// Drops the tokens of `repo` (the registry refused one).
    pub fn forget(&self, repo: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.retain(|(r, _), _| r != repo);
        }
    }
}

/// The parts of a token answer we read.
#[derive(serde::Deserialize)]
struct Answer {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

/// Asks the token service at `realm` (for `service`, when the challenge named one) for ONE
/// token covering every scope in `scopes`: with `credential`'s Basic credentials when it has
/// them, never over plain HTTP when the registry (`registry`, over `registry_scheme`) is HTTPS.
pub async fn request(
    http: &reqwest::Client,
    realm: &str,
    service: Option<&str>,
    scopes: &[String],
    credential: &Credential,
    (registry, registry_scheme): (&str, &str),
) -> Result<Token, RegistryError> {
    let mut url = Url::parse(realm).map_err(|_| {
        RegistryError::new(
            ErrorKind::Protocol,
            format!("the registry named a token service that is not a URL: {realm}"),
        )
    })?;
    {
        let mut q = url.query_pairs_mut();
        if let Some(service) = service {
            q.append_pair("service", service);
        }
        for s in scopes {
            q.append_pair("scope", s);
        }
    }
    let mut req = http.get(url.clone());
    if let Some(basic) = credential.basic_header() {
        if registry_scheme == "https" && url.scheme() != "https" {
            return Err(RegistryError::new(
                ErrorKind::Protocol,
                format!(
                    "{registry} (HTTPS) names a token service over plain HTTP ({}): the \
                     credentials are not sent in the clear",
                    redact_url(url.as_str())
                ),
            ));
        }
        req = req.header(reqwest::header::AUTHORIZATION, basic);
    }
    let res = req.send().await.map_err(RegistryError::from)?;
    let status = res.status().as_u16();
    if status == 401 || status == 403 {
        let mut e = answer::error_from(res).await;
        e.kind = ErrorKind::Unauthorized;
        e.message = format!(
            "the registry's token service refused the credentials: {}",
            e.message
        );
        return Err(e);
    }
    let res = answer::expect(res, &[200]).await?;
    let body = answer::read_capped(res, TOKEN_LIMIT).await?;
    parse_answer(&body, Instant::now())
}

/// A token answer, received at `now`: the token, and when to stop using it (a little before the
/// `expires_in` it states, 60 s when it states none, as the spec says).
fn parse_answer(body: &[u8], now: Instant) -> Result<Token, RegistryError> {
    let protocol = |what: &str| RegistryError::new(ErrorKind::Protocol, what.to_string());
    let answer: Answer = serde_json::from_slice(body).map_err(|_| {
        protocol("the registry's token service answered something that is not JSON")
    })?;
    let value = answer
        .token
        .or(answer.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| protocol("the registry's token service sent no token"))?;
    let header = sensitive(&format!("Bearer {value}"))
        .ok_or_else(|| protocol("the registry's token service sent a token that cannot be sent"))?;
    let lasts = Duration::from_secs(answer.expires_in.unwrap_or(60).max(1));
    let margin = (lasts / 4).min(Duration::from_secs(10));
    Ok(Token {
        header,
        expires: now + lasts - margin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_for_one_token_that_mounts() {
        assert_eq!(
            mount_scopes("acme/api", &["library/debian".into(), "acme/api".into()]),
            [
                "repository:library/debian:pull",
                "repository:acme/api:pull,push"
            ]
        );
    }

    #[test]
    fn token_answers_and_their_lifetime() {
        let now = Instant::now();
        let t = parse_answer(br#"{"token":"a","access_token":"a"}"#, now).unwrap();
        assert_eq!(t.header.to_str().unwrap(), "Bearer a");
        assert!(t.header.is_sensitive());
        assert_eq!(t.expires, now + Duration::from_secs(50));
        let t = parse_answer(br#"{"access_token":"b","expires_in":3600}"#, now).unwrap();
        assert_eq!(t.header.to_str().unwrap(), "Bearer b");
        assert_eq!(t.expires, now + Duration::from_secs(3590));
        let e = parse_answer(br#"{"expires_in":3600}"#, now).err().unwrap();
        assert!(e.to_string().contains("sent no token"), "{e}");
        assert!(parse_answer(b"<html>", now).is_err());
    }

    #[test]
    fn one_token_serves_every_scope_it_names_and_push_serves_pull() {
        let cache = TokenCache::default();
        let t = Arc::new(parse_answer(br#"{"token":"m"}"#, Instant::now()).unwrap());
        cache.put(&mount_scopes("acme/api", &["base".into()]), t);
        assert!(cache.get("base", false).is_some());
        assert!(cache.get("base", true).is_none(), "pull only on the base");
        assert!(cache.get("acme/api", true).is_some());
        assert!(
            cache.get("acme/api", false).is_some(),
            "a push token pulls too"
        );
        cache.forget("acme/api");
        assert!(cache.get("acme/api", false).is_none());
        let old = Arc::new(Token {
            header: HeaderValue::from_static("Bearer x"),
            expires: Instant::now() - Duration::from_secs(1),
        });
        cache.put(&[scope("old", false)], old);
        assert!(cache.get("old", false).is_none(), "expired");
    }
}
