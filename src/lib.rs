//! cargo-imagebuild: the binaries of a Rust workspace → multi-platform OCI images, with no
//! daemon. The library is the product; the `cargo-imagebuild` binary only parses arguments into
//! [`Options`] and calls [`build`](fn@build).
//!
//! The pipeline is plan → route → build → image → sink, one folder per stage, each importing
//! only from the stages below it (a test checks this):
//!
//! | stage | takes | gives |
//! | --- | --- | --- |
//! | [`plan`] | options, `cargo metadata`, the metadata tables | a [`Plan`](plan::Plan): binaries, platforms, triples, settings, outputs (pure: installs nothing, asks no registry) |
//! | [`route`] | the plan and the tools found here | how each target is built: builder, linker, C compiler, rustflags |
//! | [`build`](mod@build) | the plan and its routes | standard libraries installed, registry bases resolved, cargo run, executables checked, layers packed, documents assembled: one [`ImageSet`](image::model::ImageSet) per binary |
//! | [`image`] | file trees and settings | the model: layers (deterministic tar, gzip/zstd, digests while streaming), the blob store, configs, manifests, indexes |
//! | [`sink`] | image sets and their own options | an OCI layout or archive, a docker-archive, a daemon load, a registry push, or nothing (`cacheonly`) |
//!
//! Beside them: [`registry`] speaks the distribution protocol (bases, pushes, credentials),
//! [`util`] holds the leaves (digests, the process runner, atomic writes, terminal output),
//! [`doctor`] checks a machine, [`init`] writes a starting configuration, [`run`] strings the stages together and [`cli`] is the clap
//! front end.
//!
//! Building and pushing an image from a Rust program:
//!
//! ```no_run
//! use cargo_imagebuild::plan::config::ImageSettings;
//! use cargo_imagebuild::util::ui::{Ui, Verbosity};
//! use cargo_imagebuild::Options;
//!
//! let opts = Options {
//!     manifest_path: Some("Cargo.toml".into()),
//!     bins: vec!["api".into()],
//!     platforms: vec!["linux/amd64,linux/arm64".into()],
//!     settings: ImageSettings {
//!         tags: Some(vec!["ghcr.io/acme/api:1.4.0".into()]),
//!         ..Default::default()
//!     },
//!     push: true,
//!     ..Default::default()
//! };
//! let outcome = cargo_imagebuild::build(&opts, &Ui::new(Verbosity::Normal))?;
//! for built in &outcome.images {
//!     println!("{}", built.reference()); // ghcr.io/acme/api@sha256:…
//! }
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod build;
pub mod cli;
pub mod doctor;
pub mod image;
pub mod init;
pub mod plan;
pub mod registry;
pub mod route;
pub mod run;
pub mod sink;
pub mod util;

pub use plan::options::Options;
pub use run::{build, dry_run, Built, Outcome};
