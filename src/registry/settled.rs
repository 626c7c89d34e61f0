//! Which of our blobs a run has already settled in which repository, and how (uploaded,
//! mounted, streamed, or found present): a blob uploaded early, while cargo still compiled
//! ([`Registry::upload_early`](super::Registry::upload_early)), is counted by the push of its
//! image set instead of being checked again.

use std::collections::HashMap;

/// How a blob got into a repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum How {
    Uploaded,
    Mounted,
    Streamed,
    Present,
}

impl How {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            How::Uploaded => "uploaded",
            How::Mounted => "mounted",
            How::Streamed => "streamed",
            How::Present => "present",
        }
    }
}

/// The blobs a run has settled, per `(repository, digest)` (see [`Registry::upload_early`](super::Registry::upload_early)).
#[derive(Default)]
pub(super) struct Settled(std::sync::Mutex<HashMap<(String, String), How>>);

impl Settled {
    pub(super) fn take(&self, repository: &str, digest: &str) -> Option<How> {
        let mut map = self.0.lock().ok()?;
        map.remove(&(repository.to_string(), digest.to_string()))
    }

    pub(super) fn insert(&self, repository: &str, digest: &str, how: How) {
        if let Ok(mut map) = self.0.lock() {
            map.insert((repository.to_string(), digest.to_string()), how);
        }
    }
}
