//! Destinations. Each sink takes one binary's whole [`ImageSet`] (index, images, blobs in the
//! store) and writes it somewhere; none rebuilds anything. [`destinations::for_outputs`] is the
//! one place that turns the planned outputs into sinks.
//!
//! Contract of [`Sink::write`]: it is called once per image set, after every blob is in the
//! store; it writes everything or nothing (a failure leaves no partial output at the
//! destination); writing the same set twice gives the same result. Sinks that hold one platform
//! (docker archive, load) pick it with [`crate::image::select::choose`] and say which in their report.

pub mod archive;
pub mod cacheonly;
pub mod containerd;
pub mod destinations;
pub mod docker_archive;
pub mod docker_context;
pub mod engine;
pub mod gzip_copy;
pub mod layout;
pub mod layout_merge;
pub mod load;
pub mod oci_archive;
pub mod push;

use anyhow::Result;

use crate::image::model::ImageSet;
use crate::image::store::BlobStore;

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
    /// [`Sink::write`] (see `build::base_blobs::fetch_base_blobs`). Only a push can do without.
    fn needs_local_blobs(&self) -> bool {
        true
    }
}

/// What the sinks' unit tests share.
#[cfg(test)]
pub(crate) mod testing {
    use crate::image::document;
    use crate::image::layer::{pack, Entry, LayerSpec, PackOptions, Source};
    use crate::image::model::{Compression, Image, ImageSet};
    use crate::image::platform::Platform;
    use crate::image::store::BlobStore;

    /// A one-platform image set of one small layer packed into `store`.
    pub fn built(store: &BlobStore, c: Compression) -> ImageSet {
        let spec = LayerSpec {
            entries: vec![Entry::file("/app", Source::Bytes(vec![1u8; 50_000]), 0o755)],
            created_by: "app".into(),
        };
        let opts = PackOptions {
            compression: c,
            mtime: 0,
        };
        let layer = pack(&spec, &opts, store).unwrap();
        let p = Platform::new("linux", "amd64", None);
        let rt = document::RuntimeConfig::default();
        let config = document::config(None, &p, &rt, std::slice::from_ref(&layer), "t").unwrap();
        let manifest = document::manifest(&config, &[&layer.blob], &Default::default()).unwrap();
        let images = vec![Image {
            platform: p,
            triple: String::new(),
            layers: vec![layer],
            config,
            manifest,
        }];
        let index = document::index(&images, &Default::default(), &|_| Default::default()).unwrap();
        ImageSet {
            name: "app".into(),
            repository: "app".into(),
            tags: vec!["1".into()],
            images,
            index,
            attachments: Vec::new(),
        }
    }
}
