//! Manifests and indexes on the wire (`/v2/<name>/manifests/<tag or digest>`), in the OCI
//! and Docker v2 media types alike: GET, its bytes capped at [`MANIFEST_LIMIT`] and their
//! digest checked against the reference and the registry's `Docker-Content-Digest`; HEAD, for
//! the digest a tag names; PUT, the exact bytes under their media type.

use bytes::Bytes;
use oci_spec::distribution::Reference;
use reqwest::header::{ACCEPT, CONTENT_TYPE};

use super::answer::{self, content_digest, digest_mismatch, MANIFEST_LIMIT};
use super::error::{ErrorKind, RegistryError};
use super::transport::Host;
use crate::util::digest::Digest;

/// A manifest or index as received: its exact bytes, their digest, and the media type the
/// registry named in its Content-Type.
pub struct Fetched {
    pub bytes: Bytes,
    pub digest: Digest,
    pub content_type: Option<String>,
}

impl Host {
    /// `/v2/<repo>/manifests/<digest, else tag, else latest>`.
    fn manifest_url_of(&self, r: &Reference) -> Result<reqwest::Url, RegistryError> {
        let url = self.manifest_url(r);
        reqwest::Url::parse(&url)
            .map_err(|e| RegistryError::new(ErrorKind::Other, format!("{url}: {e}")))
    }

    /// The manifest or index `r` names, in one of the `accept` media types. Its bytes must hash
    /// to the digest `r` names and to the one the registry sent, else nothing is returned.
    pub async fn pull_manifest_raw(
        &self,
        r: &Reference,
        accept: &[&str],
    ) -> Result<Fetched, RegistryError> {
        let url = self.manifest_url_of(r)?;
        let req = self.http.get(url).header(ACCEPT, accept.join(", "));
        let res = self.send(r.repository(), false, req).await?;
        let res = answer::expect(res, &[200]).await?;
        let sent = content_digest(&res);
        let content_type = res
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
        let bytes = answer::read_capped(res, MANIFEST_LIMIT).await?;
        let digest = Digest::of(&bytes);
        let asked: Option<Digest> = r.digest().and_then(|d| d.parse().ok());
        for expected in asked.iter().chain(sent.iter()) {
            if *expected != digest {
                return Err(digest_mismatch("the manifest", expected, &digest));
            }
        }
        Ok(Fetched {
            bytes,
            digest,
            content_type,
        })
    }

    /// The digest of the manifest `r` names (a HEAD; a GET when the registry's HEAD answer
    /// carries no digest), `None` when there is none.
    pub async fn fetch_manifest_digest(
        &self,
        r: &Reference,
        accept: &[&str],
    ) -> Result<Option<Digest>, RegistryError> {
        let url = self.manifest_url_of(r)?;
        let req = self.http.head(url).header(ACCEPT, accept.join(", "));
        let res = self.send(r.repository(), false, req).await?;
        match res.status().as_u16() {
            200 => match content_digest(&res) {
                Some(d) => Ok(Some(d)),
                None => Ok(Some(self.pull_manifest_raw(r, accept).await?.digest)),
            },
            404 => Ok(None),
            _ => Err(answer::error_from(res).await),
        }
    }

    /// Puts `body` as the manifest `r` names (a tag, or its digest), of `media_type`.
    pub async fn push_manifest_raw(
        &self,
        r: &Reference,
        body: Bytes,
        media_type: &str,
    ) -> Result<(), RegistryError> {
        let url = self.manifest_url_of(r)?;
        let digest = Digest::of(&body);
        let req = self
            .http
            .put(url)
            .header(CONTENT_TYPE, media_type)
            .body(body);
        let res = self.send(r.repository(), true, req).await?;
        if !res.status().is_success() {
            return Err(answer::error_from(res).await);
        }
        match content_digest(&res) {
            Some(theirs) if theirs != digest => Err(RegistryError::new(
                ErrorKind::Protocol,
                format!("the registry filed the manifest {digest} under another digest, {theirs}"),
            )),
            _ => Ok(()),
        }
    }
}
