//! The image model and how its bytes are made, with no knowledge of cargo or of destinations.
//!
//! Takes file trees ([`layer::LayerSpec`]) and settings; gives layers packed into the blob
//! [`store`] (deterministic tar, gzip or zstd, `digest` and `diff_id` computed while streaming) and
//! the OCI documents over them ([`document`]: config, manifest, index), held as the
//! [`model`]. [`platform`] is the OCI platform ↔ Rust target table and [`reference`](mod@reference) parses image
//! names: both are vocabulary that every later stage shares. [`merge`] reads per-platform layouts
//! back into one set.

pub mod attestation;
pub mod blob;
pub mod document;
pub mod encrypted_key;
pub mod layer;
pub mod merge;
pub mod model;
pub mod pgzip;
pub mod platform;
pub mod reference;
pub mod select;
pub mod signature;
pub mod signing;
pub mod store;
pub mod untar;
