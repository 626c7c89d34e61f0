//! Talking to registries: pulling a base image's manifests, configs and blobs, and pushing an
//! [`ImageSet`](crate::image::model::ImageSet) (blobs, then each platform's manifest, then the index, then the tags, so a
//! failure never leaves a tag on something incomplete). [`Registry`] (in [`client`]) is the whole interface:
//! a blocking facade over an async runtime, so the rest of the program stays synchronous.
//!
//! The distribution protocol is our own, on reqwest (why: [`client`]), one concept per private
//! module: `transport` (a host's client, scheme and retries), `wire` (a request with its
//! credentials, and reading answers safely), `challenge` (`WWW-Authenticate`), `token` (the
//! Bearer token flow and cache), `manifests`, `blobs` and `upload` (the requests themselves),
//! `push` (the order of a push). [`auth`] finds credentials; [`trust`] decides which
//! certificates are trusted; [`error`] is the one error type (status, spec codes, retryable,
//! redacted URL). Errors leave this module as `anyhow` errors with a sentence of context and a
//! `help:` line, the [`RegistryError`] still in their chain.

pub mod auth;
mod blobs;
mod challenge;
pub mod client;
pub mod error;
mod insecure;
mod manifests;
mod push;
pub mod referrers;
mod settled;
mod token;
mod transport;
pub mod trust;
mod upload;
mod wire;

pub use client::{Connector, Registry, RegistryOptions};

pub use error::{ErrorKind, RegistryError};
pub use trust::tls_crypto;
