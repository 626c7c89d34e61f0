//! Destinations. Each sink takes one binary's whole [`ImageSet`] (index, images, blobs in the
//! store) and writes it somewhere; none rebuilds anything. [`for_outputs`] is the one place that
//! turns the planned outputs into sinks.
//!
//! Contract of [`Sink::write`]: it is called once per image set, after every blob is in the
//! store; it writes everything or nothing (a failure leaves no partial output at the
//! destination); writing the same set twice gives the same result.

pub mod layout;
pub mod push;

use std::sync::Arc;

use anyhow::Result;

use crate::model::ImageSet;
use crate::output::OutputSpec;
use crate::registry::Connector;
use crate::store::BlobStore;

/// What a sink did, for the summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Where the images went, for people: `OCI layout target/imagebuild/api`.
    pub destination: String,
}

pub trait Sink {
    /// Where this sink writes, for messages.
    fn describe(&self) -> String;

    /// Writes `set` whole (see the module docs for the contract).
    fn write(&self, set: &ImageSet, store: &BlobStore) -> Result<Report>;

    /// Whether every blob, a base image's layers included, must be in the store before
    /// [`Sink::write`] (see `cache::fetch_base_blobs`). Only a push can do without.
    fn needs_local_blobs(&self) -> bool {
        true
    }
}

/// The sinks for `outputs`, already specialized to the binary `bin`; pushes go through
/// `registry`, connected on first use.
pub fn for_outputs(
    outputs: &[OutputSpec],
    bin: &str,
    registry: &Arc<Connector>,
) -> Vec<Box<dyn Sink>> {
    outputs
        .iter()
        .map(|o| match o.for_bin(bin) {
            OutputSpec::OciDir { dest } => Box::new(layout::LayoutDir { dest }) as Box<dyn Sink>,
            OutputSpec::OciArchive { dest } => Box::new(layout::LayoutArchive { dest }),
            OutputSpec::Registry => Box::new(push::Push {
                registry: registry.clone(),
            }),
        })
        .collect()
}
