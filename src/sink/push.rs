//! The registry sink: pushes an image set to its repository under each of its tags. The
//! ordering (blobs, manifests, index, tags), the existence checks, mounts and streaming live in
//! `registry::push`; this sink only connects that to the [`Sink`] contract. It needs no base
//! layer on disk (see [`Sink::needs_local_blobs`]). [`EarlyUploads`] starts each layer's upload
//! the moment it is packed, while cargo still compiles the other targets. With a [`Signer`],
//! the push also stores a cosign signature of the index and of every manifest.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};

use super::{Report, Sink};
use crate::image::model::{ImageSet, Layer};
use crate::image::signature::Signer;
use crate::image::store::BlobStore;
use crate::registry::{Connector, Registry};
use crate::util::digest::Digest;

/// Uploads of our layers started as they are packed, each to the repository of every image
/// that holds it (once per repository); a registry that cannot be set up here starts none (the
/// push reports why). The push of each image set then finds them settled.
pub struct EarlyUploads {
    registry: Option<Arc<Registry>>,
    /// The repository of each image, by plan index.
    repositories: Vec<String>,
    store: BlobStore,
    started: Mutex<HashSet<(String, Digest)>>,
}

impl EarlyUploads {
    pub fn new(registry: &Connector, repositories: Vec<String>, store: &BlobStore) -> Self {
        EarlyUploads {
            registry: registry.get().ok(),
            repositories,
            store: store.clone(),
            started: Mutex::new(HashSet::new()),
        }
    }

    /// `layer` is packed, for the images `holders`: start its uploads.
    pub fn packed(&self, holders: &[usize], layer: &Layer) {
        let (Some(registry), None) = (&self.registry, &layer.remote) else {
            return;
        };
        for repo in holders.iter().filter_map(|i| self.repositories.get(*i)) {
            let key = (repo.clone(), layer.blob.digest.clone());
            if self.started.lock().is_ok_and(|mut s| s.insert(key)) {
                let path = self.store.path(&layer.blob.digest);
                registry.upload_early(repo, &layer.blob, path);
            }
        }
    }

    /// Waits for every upload started (before the manifests go up).
    pub fn wait(&self) {
        if let Some(r) = &self.registry {
            r.wait_early();
        }
    }
}

pub struct Push {
    pub registry: Arc<Connector>,
    /// With a key (`--sign-key`): what signs the index and each manifest before the tags move.
    pub signer: Option<Arc<dyn Signer>>,
}

impl Sink for Push {
    fn describe(&self) -> String {
        "registry push".to_string()
    }

    fn needs_local_blobs(&self) -> bool {
        false
    }

    fn write(&self, set: &ImageSet, store: &BlobStore) -> Result<Report> {
        let registry = self.registry.get()?;
        let stats = registry
            .push(set, store, self.signer.as_deref())
            .with_context(|| format!("pushing {} to {}", set.name, set.repository))?;
        Ok(Report {
            destination: format!(
                "{}@{} ({stats})",
                set.repository, set.index.descriptor.digest
            ),
            notes: Vec::new(),
        })
    }
}
