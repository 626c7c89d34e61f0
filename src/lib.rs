//! cargo-imagebuild: the binaries of a Rust workspace → multi-platform OCI images, with no
//! daemon. The library is the product; the `cargo-imagebuild` binary only parses arguments into
//! [`Options`], calls [`build`] (or [`plan`], [`merge`], a [`commands`] function) and shows the
//! [`Event`]s it receives.
//!
//! # A tour
//!
//! A build runs as stages, each in its own module, each importing only from the stages below it
//! (a test keeps it so):
//!
//! | stage | takes | gives |
//! | --- | --- | --- |
//! | plan | [`Options`], `cargo metadata`, the metadata tables ([`ImageSettings`]) | the resolved plan: binaries, platforms, triples, settings, outputs (pure: installs nothing, asks no registry) |
//! | route | the plan and the tools found here | how each target is built: builder, linker, C compiler, rustflags |
//! | provision | the plan and its routes | what the machine lacks, fetched: standard libraries, zig, OpenSSL, registry bases |
//! | compile | routes | `cargo build` run, each executable checked against its platform and base |
//! | assemble | compiled executables | layers packed (deterministic tar, gzip/zstd, digests while streaming), configs, manifests, one index per binary |
//! | attest | assembled images | an SBOM and a provenance statement attached to each platform |
//! | sink | images and their own options | an OCI layout or archive, a docker-archive, a daemon load, a containerd import, a registry push, or nothing (`cacheonly`) |
//!
//! Beside them: the image model (blobs by digest, descriptors, manifests, indexes), the registry
//! client (the distribution protocol, auth, trust) and the leaves (digests, the process runner,
//! atomic writes, the environment snapshot). To add a destination, write a sink (one file in
//! `src/sink/`, the `Sink` trait) and name it in `sink/destinations.rs`; to add a platform, add
//! its row to the table in `src/image/platform.rs`.
//!
//! The public surface is what is re-exported here: [`build`], [`plan`] and [`merge`], their
//! options and results, the [`Event`]s a run reports to a [`Listener`], and the values the
//! options are made of. Nothing reads the process environment but [`Environment::from_process`]
//! (which `Options::default()` calls): a caller can give a run exactly the variables it means.
//!
//! # Example
//!
//! Building an image into an OCI layout, printing what happens:
//!
//! ```no_run
//! use cargo_imagebuild::{Event, Options, PlatformChoice};
//!
//! let mut opts = Options::default();
//! opts.manifest_path = Some("Cargo.toml".into());
//! opts.bins = vec!["api".into()];
//! opts.platforms = PlatformChoice::parse(&["linux/amd64,linux/arm64"])?;
//! opts.outputs = vec!["type=oci,dest=out/api".into()];
//! let outcome = cargo_imagebuild::build(&opts, |e: &Event| {
//!     if let Event::ImageWritten { destination, .. } = e {
//!         eprintln!("wrote {destination}");
//!     }
//! })?;
//! for built in &outcome.images {
//!     println!("{} {}", built.name(), built.index_digest());
//! }
//! # Ok::<(), anyhow::Error>(())
//! ```

#![warn(missing_docs)]

pub(crate) mod assemble;
pub(crate) mod attest;
pub mod commands;
pub(crate) mod compile;
mod events;
pub(crate) mod image;
pub(crate) mod plan;
pub(crate) mod provision;
pub(crate) mod registry;
pub(crate) mod route;
mod run;
pub(crate) mod sink;
pub(crate) mod util;

pub use commands::merge::merge;
pub use events::{Event, Listener, StageTimes};
pub use image::model::{Compression, CompressionKind};
pub use image::platform::{Platform, PlatformChoice, PlatformError};
pub use plan::config::{Asset, ImageSettings, Port, Size, Strip};
pub use plan::naming::Tag;
pub use plan::options::{Builder, FeatureArgs, MergeOptions, Options, SbomFormat};
pub use plan::{ImagePlan, TargetPlan};
pub use registry::RegistryOptions;
pub use run::{build, plan, Built, BuiltImage, Outcome, Plan};
pub use util::env::Environment;

/// When cargo (or sccache) started this binary as the rustc wrapper that keeps our path remaps
/// out of sccache's keys (`compile::sccache`), does that job and returns its exit code; else None.
pub fn run_as_rustc_wrapper() -> Option<i32> {
    compile::sccache::run_as_wrapper()
}

/// Removes this tool's temporaries (half-written layouts, archives, downloads) when the process
/// gets SIGINT or SIGTERM, then exits with 130: for a program that runs builds and wants an
/// interrupted one to leave nothing behind. Installs a process-wide signal handler.
pub fn remove_temporaries_on_signal() {
    util::temp::remove_on_signal();
}

/// Waits while a signal's cleanup (see [`remove_temporaries_on_signal`]) is under way, so an
/// error it caused is not reported before the process exits with 130.
pub fn wait_if_exiting() {
    util::temp::wait_if_exiting();
}

/// The internals, for this crate's own tests and benchmarks only: not part of the API, may
/// change in any release. Each item is named here one by one, so nothing else leaks.
#[doc(hidden)]
pub mod internals {
    /// The bounded tar reader of base layers, and the listing of a base's files.
    pub mod untar {
        pub use crate::compile::basefs::BaseFiles;
        pub use crate::image::untar::{TarEntry, TarError, TarKind, TarReader};
    }
    /// The ELF reader.
    pub mod elf {
        pub use crate::compile::elf::{inspect, BinaryFormat};
    }
    /// Image documents.
    pub mod document {
        pub use crate::image::document::rfc3339;
    }
    /// Layer packing.
    pub mod layer {
        pub use crate::image::layer::{pack, Entry, LayerSpec, PackOptions, Source};
    }
    /// The image model.
    pub mod model {
        pub use crate::image::model::{Compression, CompressionKind};
    }
    /// Platforms.
    pub mod platform {
        pub use crate::image::platform::{parse_list, Platform};
    }
    /// Image references.
    pub mod reference {
        pub use crate::image::reference::ImageRef;
    }
    /// The blob store.
    pub mod store {
        pub use crate::image::store::BlobStore;
    }
    /// Image names.
    pub mod naming {
        pub use crate::plan::naming::{image_name_for_bin, validate_repository, validate_tag};
    }
    /// Output specs.
    pub mod output {
        pub use crate::plan::output::OutputSpec;
    }
    /// Metadata tables.
    pub mod workspace {
        pub use crate::plan::workspace::table;
    }
    /// The plan stage's entry, with the lookup a caller answers.
    pub mod plan {
        pub use crate::plan::{plan, Lookup, Plan};
    }
    /// The scratch skeleton.
    pub mod base {
        pub use crate::provision::base::skeleton_layer;
    }
    /// zig provisioning.
    pub mod zig {
        pub use crate::provision::zig::host_wheel;
    }
    /// The process runner.
    pub mod process {
        pub use crate::util::process::run;
    }
}
