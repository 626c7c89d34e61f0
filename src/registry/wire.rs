//! A request on the wire with the host's credentials: [`Host::send`] adds what the request's
//! repository needs — only when the URL is the registry's own origin, so an upload `Location` on
//! another host or a redirect (reqwest drops `Authorization` across origins) never carries them —
//! and sends it once more with a fresh token after a 401. The host's side of the token flow is
//! here too: [`Host::authorize`] (once per repository and access, under the retry policy),
//! [`Host::widen_for_mounts`], and the cache lookups and token requests behind them
//! (`token.rs` has the tokens themselves).

use std::sync::Arc;

use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::{RequestBuilder, Response, Url};

use super::auth::Credential;
use super::challenge::{self, Challenge};
use super::error::{ErrorKind, RegistryError};
use super::retry::{policy, retry, RETRY_UI};
use super::token::{self, Token};
use super::transport::{with_tls_help, Host};

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

    /// Runs the token flow for `r`'s repository once (probing `/v2/` first if no request has
    /// yet), so refused credentials surface here as an error instead of as a 401 later.
    pub async fn authorize(
        &self,
        r: &oci_spec::distribution::Reference,
        push: bool,
    ) -> Result<(), RegistryError> {
        let key = (r.repository().to_string(), push);
        let mut done = self.authed.lock().await;
        if done.contains(&key) {
            return Ok(());
        }
        let what = format!(
            "authorizing with {}/v2/ and its token service",
            self.base_url
        );
        let ui = RETRY_UI.get().map(|ui| (ui, what.as_str()));
        retry(ui, || async {
            let bearer = matches!(self.challenge().await?, Challenge::Bearer { .. });
            if bearer && !matches!(self.credential, Credential::IdentityToken(_)) {
                self.fetch_token(&[token::scope(&key.0, push)]).await?;
            }
            Ok(())
        })
        .await
        .map_err(|e| with_tls_help(e, &self.tls_help))?;
        done.insert(key);
        Ok(())
    }

    /// Makes the push token for `target` also cover pulling from `bases` (other repositories
    /// of this registry), as docker and crane do, so cross-repository mounts are allowed.
    /// Changes nothing when the registry has no token service or declines the wider token:
    /// mounts are then declined and the blobs streamed.
    pub async fn widen_for_mounts(&self, target: &str, bases: &[String]) {
        let scopes = token::mount_scopes(target, bases);
        if scopes.len() < 2 || matches!(self.credential, Credential::IdentityToken(_)) {
            return;
        }
        // Best effort, under the request deadline: a token service that stalls costs one
        // deadline, then the blobs are streamed instead of mounted.
        let _ = tokio::time::timeout(policy().timeout, self.fetch_token(&scopes)).await;
    }

    /// A good token for `repo`, from the cache or the token service.
    async fn bearer(&self, repo: &str, push: bool) -> Result<Arc<Token>, RegistryError> {
        match self.tokens.get(repo, push) {
            Some(t) => Ok(t),
            None => self.fetch_token(&[token::scope(repo, push)]).await,
        }
    }

    /// Asks the token service of this registry's Bearer challenge for ONE token covering every
    /// scope in `scopes`, and files it in the cache.
    async fn fetch_token(&self, scopes: &[String]) -> Result<Arc<Token>, RegistryError> {
        let Challenge::Bearer { realm, service, .. } = self.challenge().await? else {
            return Err(RegistryError::new(
                ErrorKind::Protocol,
                "the registry asked for a token but named no token service",
            ));
        };
        let registry = (self.name.as_str(), self.base.scheme());
        let t = token::request(
            &self.http,
            &realm,
            service.as_deref(),
            scopes,
            &self.credential,
            registry,
        )
        .await?;
        let t = Arc::new(t);
        self.tokens.put(scopes, t.clone());
        Ok(t)
    }
}

/// Whether `url` is on the registry's own origin (scheme, host and port), the only place its
/// credentials go.
pub fn same_origin(url: &Url, base: &Url) -> bool {
    url.scheme() == base.scheme()
        && url.host_str() == base.host_str()
        && url.port_or_known_default() == base.port_or_known_default()
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
