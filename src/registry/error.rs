//! The one registry error: what went wrong ([`ErrorKind`]), the HTTP status and the
//! distribution spec's error codes when the registry sent them, and a URL with its query and
//! user info removed (upload URLs carry session state; nothing secret is ever printed).
//! [`RegistryError::retryable`] tells the retry loop whether another attempt can help.

use std::fmt;

/// What kind of failure, for callers that branch and for the help line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// 401: no credentials, or the wrong ones.
    Unauthorized,
    /// 403: the credentials do not allow this.
    Denied,
    /// 404: no such repository, manifest or blob.
    NotFound,
    /// The TLS handshake failed (an untrusted certificate, most often).
    Tls,
    /// No connection, a dropped connection or a timeout.
    Unreachable,
    /// 5xx or 429: the registry's trouble, worth another try.
    Server,
    /// The registry answered something the protocol does not allow, or a digest did not match.
    Protocol,
    /// Reading the local credentials failed.
    Credentials,
    Other,
}

/// A failed registry operation.
#[derive(Clone, Debug, thiserror::Error)]
pub struct RegistryError {
    pub kind: ErrorKind,
    /// The HTTP status, when there was a response.
    pub status: Option<u16>,
    /// The distribution spec's error codes from the response body (`MANIFEST_UNKNOWN`, …).
    pub codes: Vec<String>,
    pub message: String,
    /// The request's URL without query or user info.
    pub url: Option<String>,
    /// What to do about it, when we know (printed on its own `help:` line).
    pub help: Option<String>,
    /// How long a 429 or 503 answer asked us to wait (its `Retry-After` header).
    pub retry_after: Option<std::time::Duration>,
}

impl RegistryError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> RegistryError {
        RegistryError {
            kind,
            status: None,
            codes: Vec::new(),
            message: message.into(),
            url: None,
            help: None,
            retry_after: None,
        }
    }

    /// An answer larger than `limit` bytes, the cap on what is read into memory from `url`.
    pub fn too_large(url: &str, limit: u64) -> RegistryError {
        RegistryError {
            url: Some(redact_url(url)),
            help: Some(
                "no registry sends a manifest, index or token this large: check that the \
                 address is a registry, and that nothing between (a proxy) rewrites its answers"
                    .into(),
            ),
            ..RegistryError::new(
                ErrorKind::Protocol,
                format!(
                    "the registry's answer is larger than the {} cap on what is read into memory",
                    size_text(limit)
                ),
            )
        }
    }

    /// Whether trying again may succeed: server errors, throttling, dropped connections.
    pub fn retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Server | ErrorKind::Unreachable)
    }

    pub(super) fn from_status(status: u16, url: Option<String>, body: &str) -> RegistryError {
        let codes = spec_codes(body);
        let kind = match status {
            401 => ErrorKind::Unauthorized,
            403 => ErrorKind::Denied,
            404 => ErrorKind::NotFound,
            429 | 500..=599 => ErrorKind::Server,
            _ => ErrorKind::Protocol,
        };
        let message = spec_messages(body).unwrap_or_else(|| first_line(body));
        RegistryError {
            kind,
            status: Some(status),
            codes,
            message,
            url,
            help: None,
            retry_after: None,
        }
    }
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.message.is_empty() {
            "the registry refused the request"
        } else {
            &self.message
        })?;
        let mut detail = Vec::new();
        if let Some(s) = self.status {
            detail.push(format!("HTTP {s}"));
        }
        if !self.codes.is_empty() {
            // The codes come from the registry: a hostile one could send thousands.
            detail.push(crate::util::listing::short_list(&self.codes));
        }
        if !detail.is_empty() {
            write!(f, " ({})", detail.join(", "))?;
        }
        if let Some(u) = &self.url {
            write!(f, " at {u}")?;
        }
        if let Some(h) = &self.help {
            write!(f, "\n  help: {h}")?;
        }
        Ok(())
    }
}

/// `url` with user info and query removed (upload session URLs carry state in the query).
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => url.split('?').next().unwrap_or_default().to_string(),
    }
}

fn first_line(s: &str) -> String {
    let line = s
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    line.chars().take(200).collect()
}

/// The `code`s of a distribution-spec error body, `{"errors":[{"code":…,"message":…}]}`.
fn spec_codes(body: &str) -> Vec<String> {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("errors").and_then(|e| e.as_array()).cloned())
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("code").and_then(|c| c.as_str()).map(str::to_string))
        .collect()
}

fn spec_messages(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let msgs: Vec<String> = v
        .get("errors")?
        .as_array()?
        .iter()
        .filter_map(|e| e.get("message").and_then(|m| m.as_str()))
        .map(first_line)
        .collect();
    (!msgs.is_empty()).then(|| msgs.join("; "))
}

/// A `Retry-After` header's wait: delay-seconds (`120`) or an HTTP date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, counted from `now`; a date already past is no wait).
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<std::time::Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(std::time::Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or_default())
}

/// A byte count as people read it: `4 MiB`, `512 KiB`, `1234 bytes`.
pub fn size_text(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// Whether a transport error's chain says the certificate was not trusted.
pub(super) fn is_tls_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        let text = err.to_string().to_ascii_lowercase();
        if text.contains("certificate") || text.contains("unknownissuer") {
            return true;
        }
        cur = err.source();
    }
    false
}

impl From<reqwest::Error> for RegistryError {
    fn from(e: reqwest::Error) -> Self {
        // An upload whose body stream failed its own check (a corrupt source) says so.
        if let Some(ours) = carried(&e) {
            return ours;
        }
        let url = e.url().map(|u| redact_url(u.as_str()));
        if let Some(s) = e.status() {
            return RegistryError::from_status(s.as_u16(), url, "");
        }
        let tls = is_tls_failure(&e);
        let kind = if tls && e.is_connect() {
            ErrorKind::Tls
        } else if e.is_connect() || e.is_timeout() || e.is_request() || e.is_body() {
            ErrorKind::Unreachable
        } else {
            ErrorKind::Other
        };
        // The innermost cause says most ("Connection refused", "UnknownIssuer").
        let mut cause: &(dyn std::error::Error + 'static) = &e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        let message = match kind {
            ErrorKind::Tls => format!(
                "TLS handshake failed: {}",
                cause.to_string().trim_start_matches("other error: ")
            ),
            ErrorKind::Unreachable => format!("cannot reach the registry: {cause}"),
            _ => format!("request failed: {cause}"),
        };
        RegistryError {
            kind,
            status: None,
            codes: Vec::new(),
            message,
            url,
            help: None,
            retry_after: None,
        }
    }
}

/// A [`RegistryError`] carried through an `io::Error` by a body stream (`blobs::verifying`), found again in the
/// chain of the error the request failed with.
pub fn carried(e: &(dyn std::error::Error + 'static)) -> Option<RegistryError> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(ours) = err.downcast_ref::<RegistryError>() {
            return Some(ours.clone());
        }
        let inner = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|i| i.downcast_ref::<RegistryError>());
        if let Some(ours) = inner {
            return Some(ours.clone());
        }
        cur = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_codes() {
        let e = RegistryError::from_status(
            404,
            Some("http://h/v2/x/manifests/1".into()),
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
        );
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert_eq!(e.codes, ["MANIFEST_UNKNOWN"]);
        assert!(!e.retryable());
        let text = e.to_string();
        assert!(
            text.contains("manifest unknown (HTTP 404, MANIFEST_UNKNOWN)"),
            "{text}"
        );
        assert!(RegistryError::from_status(503, None, "").retryable());
        assert!(RegistryError::from_status(429, None, "").retryable());
        assert!(!RegistryError::from_status(401, None, "").retryable());
    }

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        use std::time::{Duration, SystemTime};
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_470);
        assert_eq!(parse_retry_after(" 2 ", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(size_text(4 << 20), "4 MiB");
        assert_eq!(size_text(512 << 10), "512 KiB");
    }

    #[test]
    fn urls_lose_query_and_user_info() {
        assert_eq!(
            redact_url("https://u:secret@reg.io/v2/a/blobs/uploads/x?_state=abc&digest=d"),
            "https://reg.io/v2/a/blobs/uploads/x"
        );
    }
}
