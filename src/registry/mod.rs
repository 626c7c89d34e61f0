//! Talking to registries: pulling a base image's manifests, configs and blobs, and pushing an
//! [`ImageSet`](crate::image::model::ImageSet) (blobs, then each platform's manifest, then the index, then the tags, so a
//! failure never leaves a tag on something incomplete). [`Registry`] (in [`client`]) is the whole interface:
//! a blocking facade over an async runtime, so the rest of the program stays synchronous.
//!
//! oci-client speaks the protocol; [`auth`] finds credentials; [`error`] is the one error type
//! (status, spec codes, retryable, redacted URL); `transport` (private) holds the per-host
//! clients, retries and chunking; `push` (private) orders the uploads. Errors leave this module
//! as `anyhow` errors with a sentence of context and a `help:` line, the [`RegistryError`]
//! still in their chain.

pub mod auth;
pub mod client;
pub mod error;
mod insecure;
mod push;
pub mod referrers;
mod settled;
mod transport;
pub mod trust;

pub use client::{Connector, Registry, RegistryOptions};

pub use error::{ErrorKind, RegistryError};
pub use trust::tls_crypto;
