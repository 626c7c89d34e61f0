//! Blobs on the wire, as byte streams: `HEAD` (is it there?), a streamed `GET` (redirects
//! followed, as registries send blobs from a CDN), and the two streams that guard a copy —
//! [`verifying`], which fails a stream before its last byte when the bytes are not the blob
//! they claim to be (so a registry-to-registry copy never commits a corrupt blob), and
//! [`RequestBody`], a stream as an upload body of known length. Reading into files and the
//! retries around a download are the client's (`client.rs`).

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};

use super::answer::{self, digest_mismatch};
use super::error::{carried, ErrorKind, RegistryError};
use super::transport::Host;
use crate::image::model::Descriptor;
use crate::util::digest::{Digest, HashingWriter};

/// Bytes as they arrive (or are read), in pieces.
pub type ByteStream = BoxStream<'static, Result<Bytes, std::io::Error>>;

/// The size of each read from the blob store, and of each piece of a chunked upload: big
/// enough that a 100 MB layer is 25 requests.
pub const CHUNK: usize = 4 << 20;

impl Host {
    /// `/v2/<repo>/blobs/<digest>`.
    pub fn blob_url(&self, repo: &str, digest: &Digest) -> Result<reqwest::Url, RegistryError> {
        self.url(&format!("/v2/{repo}/blobs/{digest}"))
    }

    /// Whether `repo` holds the blob `digest` (a HEAD; its token is sent, as private
    /// repositories answer an anonymous HEAD with 401).
    pub async fn blob_exists(&self, repo: &str, digest: &Digest) -> Result<bool, RegistryError> {
        let url = self.blob_url(repo, digest)?;
        let res = self.send(repo, false, self.http.head(url)).await?;
        match res.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(answer::error_from(res).await),
        }
    }

    /// The bytes of blob `d` in `repo`, unchecked: the reader checks digest and size.
    pub async fn pull_blob_stream(
        &self,
        repo: &str,
        d: &Descriptor,
    ) -> Result<ByteStream, RegistryError> {
        let url = self.blob_url(repo, &d.digest)?;
        let res = self.send(repo, false, self.http.get(url)).await?;
        let res = answer::expect(res, &[200]).await?;
        Ok(stream::unfold(Some(res), |res| async move {
            let mut res = res?;
            match res.chunk().await {
                Ok(Some(bytes)) => Some((Ok(bytes), Some(res))),
                Ok(None) => None,
                Err(e) => Some((Err(std::io::Error::other(e)), None)),
            }
        })
        .boxed())
    }
}

/// `input` checked against `d` on its way: more bytes than `d.size`, fewer, or bytes whose
/// digest is not `d.digest` end the stream with an error instead of its last piece (the error
/// a [`RegistryError`] inside an `io::Error`, which [`carried`] finds again).
pub fn verifying(input: ByteStream, d: &Descriptor) -> ByteStream {
    struct Check {
        input: ByteStream,
        hash: HashingWriter<std::io::Sink>,
        got: u64,
    }
    let start = Check {
        input,
        hash: HashingWriter::new(std::io::sink()),
        got: 0,
    };
    let d = d.clone();
    stream::unfold(Some(start), move |check| {
        let d = d.clone();
        async move {
            let mut c = check?;
            let fail = |e: RegistryError| Some((Err(std::io::Error::other(e)), None));
            let piece = match c.input.next().await {
                Some(Ok(piece)) => piece,
                Some(Err(e)) => return Some((Err(e), None)),
                None if c.got == d.size => {
                    // Only an empty blob ends here: every other ends at its last piece below.
                    let (_, digest, _) = c.hash.finish();
                    return (digest != d.digest)
                        .then(|| Err(mismatch(&d, &digest)))
                        .map(|e| (e, None));
                }
                None => {
                    return fail(RegistryError::new(
                        ErrorKind::Unreachable,
                        format!(
                            "the registry's answer for blob {} ended after {} of {} bytes",
                            d.digest, c.got, d.size
                        ),
                    ))
                }
            };
            c.got += piece.len() as u64;
            if c.got > d.size {
                return fail(RegistryError::new(
                    ErrorKind::Protocol,
                    format!(
                        "the registry sent more than the {} bytes blob {} has",
                        d.size, d.digest
                    ),
                ));
            }
            let _ = std::io::Write::write_all(&mut c.hash, &piece);
            if c.got < d.size {
                return Some((Ok(piece), Some(c)));
            }
            let (_, digest, _) = c.hash.finish();
            if digest != d.digest {
                return Some((Err(mismatch(&d, &digest)), None));
            }
            Some((Ok(piece), None))
        }
    })
    .boxed()
}

/// The error a blob's byte stream failed with, as a registry error: the one [`verifying`]
/// carried, a download's own (retryable when the connection broke), or a file's.
pub fn stream_error(e: std::io::Error) -> RegistryError {
    if let Some(ours) = carried(&e) {
        return ours;
    }
    let text = e.to_string();
    match e.into_inner().map(|i| i.downcast::<reqwest::Error>()) {
        Some(Ok(download)) => RegistryError::from(*download),
        _ => RegistryError::new(ErrorKind::Other, format!("reading the blob: {text}")),
    }
}

fn mismatch(d: &Descriptor, got: &Digest) -> std::io::Error {
    std::io::Error::other(digest_mismatch("blob", &d.digest, got))
}

/// A file read in [`CHUNK`]-sized pieces.
pub async fn file_stream(path: std::path::PathBuf) -> std::io::Result<ByteStream> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(&path).await?;
    Ok(stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; CHUNK];
        let mut filled = 0;
        while filled < CHUNK {
            match file.read(&mut buf[filled..]).await {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) => return Some((Err(e), None)),
            }
        }
        if filled == 0 {
            return None;
        }
        buf.truncate(filled);
        let next = (filled == CHUNK).then_some(file);
        Some((Ok(Bytes::from(buf)), next))
    })
    .boxed())
}

/// A stream as a request body of `len` bytes. reqwest's own `Body::wrap_stream` needs its
/// `stream` feature (and tokio-util with it); `Body::wrap` takes any `http_body::Body` that is
/// `Sync`, which a boxed stream is not, hence the mutex (never contended: only hyper polls it).
pub struct RequestBody {
    stream: Mutex<ByteStream>,
    len: u64,
}

impl RequestBody {
    /// `stream` (of `len` bytes) as a reqwest body.
    pub fn body(stream: ByteStream, len: u64) -> reqwest::Body {
        reqwest::Body::wrap(RequestBody {
            stream: Mutex::new(stream),
            len,
        })
    }
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        let stream = self
            .get_mut()
            .stream
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        stream
            .poll_next_unpin(cx)
            .map(|piece| piece.map(|r| r.map(http_body::Frame::data)))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(parts: &[&'static [u8]]) -> ByteStream {
        let parts: Vec<Result<Bytes, std::io::Error>> =
            parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        stream::iter(parts).boxed()
    }

    fn run(s: ByteStream) -> Vec<Result<Bytes, std::io::Error>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(s.collect())
    }

    #[test]
    fn a_verified_stream_holds_back_its_last_piece_when_the_bytes_are_wrong() {
        let d = Descriptor::of_bytes("application/octet-stream", b"hello world");
        let good = run(verifying(pieces(&[b"hello ", b"world"]), &d));
        assert!(good.iter().all(|r| r.is_ok()) && good.len() == 2);
        let bad = run(verifying(pieces(&[b"hello ", b"worle"]), &d));
        assert_eq!(
            bad.len(),
            2,
            "the first piece, then the error instead of the last"
        );
        let e = bad[1].as_ref().unwrap_err();
        let ours = carried(e).unwrap();
        assert_eq!(ours.kind, ErrorKind::Protocol);
        assert!(ours.to_string().contains("digest mismatch"), "{ours}");
        let long = run(verifying(pieces(&[b"hello ", b"world!"]), &d));
        assert!(carried(long[1].as_ref().unwrap_err()).is_some());
        let short = run(verifying(pieces(&[b"hello "]), &d));
        let e = carried(short[1].as_ref().unwrap_err()).unwrap();
        assert!(e.retryable(), "a short body is worth another try: {e}");
    }
}
