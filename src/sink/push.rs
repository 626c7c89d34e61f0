//! The registry sink: pushes an image set to its repository under each of its tags. The
//! ordering (blobs, manifests, index, tags), the existence checks, mounts and streaming live in
//! `registry::push`; this sink only connects that to the [`Sink`] contract. It needs no base
//! layer on disk (see [`Sink::needs_local_blobs`]).

use std::sync::Arc;

use anyhow::{Context, Result};

use super::{Report, Sink};
use crate::image::model::ImageSet;
use crate::image::store::BlobStore;
use crate::registry::Connector;

pub struct Push {
    pub registry: Arc<Connector>,
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
            .push(set, store)
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
