//! The build stage: everything with side effects between a plan and its images. It takes a
//! [`Plan`](crate::plan::Plan) and the [`Routes`](crate::route::Routes) of its targets; it gives
//! one [`ImageSet`](crate::image::model::ImageSet) per binary, with every layer in the blob store.
//!
//! In order: [`toolchain`] installs missing standard libraries; [`base`] resolves registry bases
//! (and lists their files when a dynamic binary needs them); [`pipeline`] runs cargo
//! ([`compile`]) target after target while packing layers on the side, checking each executable
//! first ([`elf`] against its platform, [`basefs`] against its base); [`contents`] says what
//! goes in each layer; [`assemble`] writes the documents; [`base_blobs`] brings a registry base's
//! layers into the store for sinks that write them locally. [`timing`] reports where time went. [`zig`] downloads the pinned zig when a route needs
//! one and none is installed. [`attest`] attaches an SBOM and a provenance statement to each
//! platform's manifest once the images are assembled.

pub mod assemble;
pub mod attest;
pub mod base;
pub mod base_blobs;
pub mod basefs;
pub mod compile;
pub mod contents;
pub mod elf;
pub mod openssl;
pub mod pipeline;
pub mod timing;
pub mod toolchain;
pub mod zig;

pub use pipeline::build_into;
