//! Destinations. Each sink takes one binary's whole [`ImageSet`] (index, images, blobs in the
//! store) and writes it somewhere; none rebuilds anything. [`for_outputs`] is the one place that
//! turns the planned outputs into sinks.
//!
//! Contract of [`Sink::write`]: it is called once per image set, after every blob is in the
//! store; it writes everything or nothing (a failure leaves no partial output at the
//! destination); writing the same set twice gives the same result. Sinks that hold one platform
//! (docker archive, load) pick it with [`docker_archive::choose`] and say which in their report.

pub mod cacheonly;
pub mod docker_archive;
pub mod gzip_copy;
pub mod layout;
pub mod load;
pub mod push;

use std::sync::Arc;

use anyhow::Result;

use crate::model::ImageSet;
use crate::output::OutputSpec;
use crate::registry::Connector;
use crate::store::BlobStore;

/// What a sink did, for the summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Where the images went, for people: `OCI layout target/imagebuild/api`.
    pub destination: String,
    /// Things the user should know about how it was written (shown on stderr).
    pub notes: Vec<String>,
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
            OutputSpec::OciArchive { dest, platform } => {
                Box::new(layout::LayoutArchive { dest, platform })
            }
            OutputSpec::DockerArchive { dest, platform } => {
                Box::new(docker_archive::DockerArchive { dest, platform })
            }
            OutputSpec::Load {
                loader,
                context,
                platform,
            } => Box::new(load::Load {
                loader,
                context,
                platform,
            }),
            OutputSpec::CacheOnly => Box::new(cacheonly::CacheOnly),
            OutputSpec::Registry => Box::new(push::Push {
                registry: registry.clone(),
            }),
        })
        .collect()
}
