//! cargo-imagebuild: Rust workspace binaries → multi-platform OCI images, with no daemon.
//!
//! The pipeline is plan → compile → layers → images → index → sink:
//! [`plan`] resolves what to build from the workspace ([`workspace`]), its metadata ([`config`])
//! and the command line ([`cli`]), naming each image ([`naming`]);
//! [`route`] decides how each target is built (builder, linker, C compiler: [`tools`],
//! [`crossgcc`], [`cdeps`], [`rustflags`], [`zigcc`]); [`build`] compiles ([`compile`],
//! [`toolchain`]), checks ([`elf`], [`basefs`]) and packs ([`layer`], [`contents`], [`base`])
//! into the [`store`] as a pipeline ([`timing`]), then assembles documents ([`image`]) into the
//! [`model`]; [`sink`] writes the model wherever [`output`] asked. Registry bases and pushes go
//! through [`registry`] ([`reference`](mod@reference) parses image names); [`cache`] keeps base layers that a
//! local output needs. [`doctor`] checks a machine for all of it.

pub mod base;
pub mod basefs;
pub mod build;
pub mod cache;
pub mod cdeps;
pub mod cli;
pub mod compile;
pub mod config;
pub mod contents;
pub mod crossgcc;
pub mod digest;
pub mod doctor;
pub mod elf;
pub mod image;
pub mod layer;
pub mod model;
pub mod naming;
pub mod output;
pub mod pgzip;
pub mod plan;
pub mod platform;
pub mod reference;
pub mod registry;
pub mod route;
pub mod rustflags;
pub mod sink;
pub mod store;
pub mod timing;
pub mod toolchain;
pub mod tools;
pub mod ui;
pub mod workspace;
pub mod zigcc;
