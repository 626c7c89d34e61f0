//! Blob uploads (distribution-spec "pushing blobs"): a `POST …/blobs/uploads/` opens a session
//! and names its URL in `Location`; then either one streamed `PUT <location>&digest=…` carrying
//! the whole blob (monolithic: the first choice, since each request costs the registry a save
//! and restore of its hash state), or, on a host that refused that with 413 (a proxy's body
//! limit: nginx's `client_max_body_size`, Cloudflare's 100 MB), one `PATCH` per [`CHUNK`]
//! piece and a closing empty `PUT`. A host that answered 413 once is sent pieces for the rest
//! of the run. Also here: the cross-repository mount (`POST …?mount=<digest>&from=<repo>`).

use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, StreamExt};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::Url;

use super::answer::{self, content_digest};
use super::blobs::{stream_error, ByteStream, RequestBody, CHUNK};
use super::error::{ErrorKind, RegistryError};
use super::transport::Host;
use crate::image::model::Descriptor;
use crate::util::digest::Digest;

const OCTETS: &str = "application/octet-stream";

/// What a mount request came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Mount {
    Mounted,
    /// The registry opened an upload session instead (the token lacks pull on the source, or
    /// the registry does not mount): the blob must be sent.
    Declined,
}

impl Host {
    /// Whether blobs to this host go up in pieces (it refused a whole one with 413).
    pub fn chunked_uploads(&self) -> bool {
        self.chunked.load(Ordering::Relaxed)
    }

    /// Sends blobs to this host in pieces from now on; true for the caller that switched.
    pub fn use_chunked_uploads(&self) -> bool {
        !self.chunked.swap(true, Ordering::Relaxed)
    }

    /// Mounts blob `digest` of `from` (another repository of this registry) into `repo`.
    pub async fn mount_blob(
        &self,
        repo: &str,
        from: &str,
        digest: &Digest,
    ) -> Result<Mount, RegistryError> {
        let mut url = self.url(&format!("/v2/{repo}/blobs/uploads/"))?;
        url.query_pairs_mut()
            .append_pair("mount", digest.as_str())
            .append_pair("from", from);
        let req = self.http.post(url).header(CONTENT_LENGTH, 0);
        let res = self.send(repo, true, req).await?;
        match res.status().as_u16() {
            201 => Ok(Mount::Mounted),
            202 => Ok(Mount::Declined),
            _ => Err(answer::error_from(res).await),
        }
    }

    /// Puts blob `d` into `repo` from `body`, whole or (`chunked`) in pieces. One attempt: the
    /// caller retries, with a fresh body.
    pub async fn push_blob(
        &self,
        repo: &str,
        body: ByteStream,
        d: &Descriptor,
        chunked: bool,
    ) -> Result<(), RegistryError> {
        let (location, min_piece) = self.start_upload(repo).await?;
        let done = if chunked {
            self.put_in_pieces(repo, location, body, d, min_piece).await
        } else {
            let req = self
                .http
                .put(with_digest(location, &d.digest))
                .header(CONTENT_LENGTH, d.size)
                .header(CONTENT_TYPE, OCTETS)
                .body(RequestBody::body(body, d.size));
            self.send(repo, true, req).await
        };
        let res = done?;
        if !res.status().is_success() {
            return Err(answer::error_from(res).await);
        }
        match content_digest(&res) {
            Some(theirs) if theirs != d.digest => Err(RegistryError::new(
                ErrorKind::Protocol,
                format!("the registry filed the blob {} as {theirs}", d.digest),
            )),
            _ => Ok(()),
        }
    }

    /// Opens an upload session: its URL, and the smallest piece the registry takes
    /// (`OCI-Chunk-Min-Length`), if it said.
    async fn start_upload(&self, repo: &str) -> Result<(Url, Option<usize>), RegistryError> {
        let url = self.url(&format!("/v2/{repo}/blobs/uploads/"))?;
        let req = self.http.post(url).header(CONTENT_LENGTH, 0);
        let res = answer::expect(self.send(repo, true, req).await?, &[202]).await?;
        let min = res
            .headers()
            .get("oci-chunk-min-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        Ok((answer::location(&res)?, min))
    }

    /// The pieces of `body`, each a `PATCH` to the session's latest `Location`, then the
    /// closing `PUT`; returns its answer.
    async fn put_in_pieces(
        &self,
        repo: &str,
        mut location: Url,
        body: ByteStream,
        d: &Descriptor,
        min_piece: Option<usize>,
    ) -> Result<reqwest::Response, RegistryError> {
        let mut pieces = rechunk(body, CHUNK.max(min_piece.unwrap_or(0)));
        let mut start: u64 = 0;
        while let Some(piece) = pieces.next().await {
            let piece = piece.map_err(stream_error)?;
            let len = piece.len() as u64;
            let req = self
                .http
                .patch(location.clone())
                .header(CONTENT_TYPE, OCTETS)
                .header("Content-Range", content_range(start, len))
                .header(CONTENT_LENGTH, len)
                .body(piece);
            let res = answer::expect(self.send(repo, true, req).await?, &[202]).await?;
            location = answer::location(&res)?;
            start += len;
        }
        if start != d.size {
            return Err(RegistryError::new(
                ErrorKind::Other,
                format!("the blob {} had {start} of its {} bytes", d.digest, d.size),
            ));
        }
        let req = self
            .http
            .put(with_digest(location, &d.digest))
            .header(CONTENT_LENGTH, 0);
        self.send(repo, true, req).await
    }
}

/// The session URL with `digest=` added to what it carries (`_state=…`).
fn with_digest(mut location: Url, digest: &Digest) -> Url {
    location
        .query_pairs_mut()
        .append_pair("digest", digest.as_str());
    location
}

/// The `Content-Range` of a piece: first and last byte, inclusive, with no unit (the
/// distribution spec's `^[0-9]+-[0-9]+$`).
fn content_range(start: u64, len: u64) -> String {
    format!("{start}-{}", start + len.max(1) - 1)
}

/// `input` re-cut into pieces of `size` bytes (the last may be shorter).
pub fn rechunk(input: ByteStream, size: usize) -> ByteStream {
    stream::unfold(
        (input, BytesMut::new(), false),
        move |(mut input, mut buf, done)| async move {
            if done {
                return None;
            }
            while buf.len() < size {
                match input.next().await {
                    Some(Ok(b)) => buf.extend_from_slice(&b),
                    Some(Err(e)) => return Some((Err(e), (input, buf, true))),
                    None if buf.is_empty() => return None,
                    None => {
                        let out: Bytes = buf.split().freeze();
                        return Some((Ok(out), (input, buf, true)));
                    }
                }
            }
            let out = buf.split_to(size).freeze();
            Some((Ok(out), (input, buf, false)))
        },
    )
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_of_4_mib_with_ranges_that_follow_on() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let input: Vec<Result<Bytes, std::io::Error>> = (0..1000)
            .map(|_| Ok(Bytes::from(vec![7u8; 10_000])))
            .collect();
        let out: Vec<usize> = rt.block_on(
            rechunk(stream::iter(input).boxed(), CHUNK)
                .map(|r| r.unwrap().len())
                .collect(),
        );
        assert_eq!(out, [CHUNK, CHUNK, 10_000_000 - 2 * CHUNK]);
        let mut start = 0;
        let ranges: Vec<String> = out
            .iter()
            .map(|&n| {
                let r = content_range(start, n as u64);
                start += n as u64;
                r
            })
            .collect();
        assert_eq!(ranges, ["0-4194303", "4194304-8388607", "8388608-9999999"]);
    }

    #[test]
    fn the_digest_joins_the_session_state() {
        let loc = Url::parse("http://r/v2/a/blobs/uploads/u?_state=x%3D").unwrap();
        let d = Digest::of(b"x");
        assert_eq!(
            with_digest(loc, &d).as_str(),
            format!(
                "http://r/v2/a/blobs/uploads/u?_state=x%3D&digest=sha256%3A{}",
                d.hex()
            )
        );
    }
}
