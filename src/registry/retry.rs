//! The retry policy every registry request follows: each attempt under a deadline
//! (`--registry-timeout`; a blob's grows with its size), at most `--retries` more attempts for
//! what may succeed later (5xx, 429, dropped connections, timeouts), a doubling backoff from
//! 0.5 s or the wait a `Retry-After` asks, all within an overall budget. Each retry is reported.

use std::future::Future;
use std::time::Duration;

use super::error::{ErrorKind, RegistryError};
use crate::util::report::Reporter;

/// The first backoff; each retry waits twice as long as the one before.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// How long and how often a registry request is tried: `--registry-timeout` and `--retries`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The deadline of each attempt of a request (a download: of each read of its body).
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub retries: u32,
}

/// The defaults: 4 attempts of at most 25 s each (a document: the whole answer; a blob: 25 s
/// plus a second per MiB, see [`deadline_for`]), with 0.5 + 1 + 2 s between them (or what a
/// 429/503 asks in `Retry-After`, while it fits), so a registry that never answers fails a
/// request within about 105 s ([`budget`]).
pub const DEFAULT_POLICY: Policy = Policy {
    timeout: Duration::from_secs(25),
    retries: 3,
};

/// The policy of this process's registry client (set when it is made) and where retries are
/// reported when the caller gave no `Reporter`: one client per run, so one of each.
static POLICY: std::sync::RwLock<Policy> = std::sync::RwLock::new(DEFAULT_POLICY);
pub(super) static RETRY_UI: std::sync::OnceLock<Reporter> = std::sync::OnceLock::new();

/// Sets the policy every request of this process follows, and the `Reporter` retries are told on.
pub fn set_policy(policy: Policy, ui: &Reporter) {
    if let Ok(mut p) = POLICY.write() {
        *p = policy;
    }
    let _ = RETRY_UI.set(ui.clone());
}

pub fn policy() -> Policy {
    POLICY.read().map_or(DEFAULT_POLICY, |p| *p)
}
/// Runs `op` while it fails with a retryable error, at most [`Policy::retries`] more times,
/// each attempt under the [`Policy::timeout`] deadline, doubling the wait between them. Every
/// retry is reported at normal verbosity ("retrying uploading a blob in 1 s: …"), on `ui`'s
/// `Reporter` or else the client's.
pub async fn retry<T, F, Fut>(ui: Option<(&Reporter, &str)>, op: F) -> Result<T, RegistryError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RegistryError>>,
{
    retry_within(ui, policy().timeout, op).await
}

/// The deadline of one attempt to move a blob of `bytes`: the request deadline plus a second per
/// MiB (a link slower than 1 MiB/s needs a longer --registry-timeout). A stalled transfer fails
/// sooner, when a single read misses the request deadline.
pub fn deadline_for(bytes: u64) -> Duration {
    policy().timeout + Duration::from_secs(bytes >> 20)
}

/// [`retry`] with `deadline` for each attempt.
pub async fn retry_within<T, F, Fut>(
    ui: Option<(&Reporter, &str)>,
    deadline: Duration,
    mut op: F,
) -> Result<T, RegistryError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RegistryError>>,
{
    let policy = policy();
    let started = std::time::Instant::now();
    let budget = budget(deadline);
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 0;
    loop {
        let result = match tokio::time::timeout(deadline, op()).await {
            Ok(r) => r,
            Err(_) => Err(timed_out(deadline, ui.map(|(_, what)| what))),
        };
        match result {
            Ok(v) => return Ok(v),
            Err(e) if e.retryable() && attempt < policy.retries => {
                let wait = wait_before_retry(e.clone(), backoff, started, budget)?;
                attempt += 1;
                retrying(ui, &e, wait, attempt, policy.retries);
                tokio::time::sleep(wait).await;
                backoff *= 2;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The overall deadline of one request whose attempts each have `deadline`: every attempt
/// used up, and every backoff between them (with the defaults, 4 × 25 s + 3.5 s).
pub fn budget(deadline: Duration) -> Duration {
    let retries = policy().retries.min(16);
    deadline * (retries + 1) + FIRST_BACKOFF * ((1u32 << retries) - 1)
}

/// How long to wait before the next attempt after `e`: as long as the registry asked
/// (`Retry-After` on a 429 or 503), else `backoff`. A wait that would end past the request's
/// overall deadline (`budget` from `started`) is not waited: the request fails at once, saying so.
pub fn wait_before_retry(
    mut e: RegistryError,
    backoff: Duration,
    started: std::time::Instant,
    budget: Duration,
) -> Result<Duration, RegistryError> {
    let Some(asked) = e.retry_after else {
        return Ok(backoff);
    };
    let left = budget.saturating_sub(started.elapsed());
    if asked > left {
        e.message = format!(
            "the registry asked to be retried in {} s (Retry-After), more than the {} s left of \
             this request's deadline (see --registry-timeout and --retries)",
            asked.as_secs(),
            left.as_secs()
        );
        return Err(e);
    }
    Ok(asked)
}

/// The error of an attempt that passed its deadline, saying what it was doing.
pub fn timed_out(limit: Duration, what: Option<&str>) -> RegistryError {
    let said = format!(
        "no answer within {} s (see --registry-timeout)",
        limit.as_secs()
    );
    RegistryError::new(
        ErrorKind::Unreachable,
        match what {
            Some(what) => format!("{what}: {said}"),
            None => said,
        },
    )
}

/// Reports a retry: what is retried, when, why, and which attempt it will be.
pub fn retrying(ui: Option<(&Reporter, &str)>, e: &RegistryError, wait: Duration, n: u32, of: u32) {
    let (ui, what) = match ui {
        Some((ui, what)) => (Some(ui), what),
        None => (RETRY_UI.get(), "a registry request"),
    };
    if let Some(ui) = ui {
        ui.warn(&format!(
            "retrying {what} in {:.1} s (retry {n} of {of}): {e}",
            wait.as_secs_f64()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_only_what_can_succeed_later() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let calls = std::sync::atomic::AtomicU32::new(0);
        let got = rt.block_on(retry(None, || async {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if n < 2 {
                Err(RegistryError::new(ErrorKind::Server, "503"))
            } else {
                Ok(n)
            }
        }));
        assert_eq!(got.unwrap(), 2, "two 5xx answers, then success");
        calls.store(0, std::sync::atomic::Ordering::SeqCst);
        let got: Result<(), _> = rt.block_on(retry(None, || async {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err(RegistryError::new(ErrorKind::Unauthorized, "401"))
        }));
        assert_eq!(got.unwrap_err().kind, ErrorKind::Unauthorized);
        assert_eq!(calls.into_inner(), 1, "a 401 is not retried");
    }
}
