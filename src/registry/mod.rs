//! Talking to registries: pulling a base image's manifests, configs and blobs, and pushing an
//! [`ImageSet`](crate::image::model::ImageSet) (blobs, then each platform's manifest, then the index, then the tags, so a
//! failure never leaves a tag on something incomplete). [`Registry`] (in [`client`]) is the whole interface:
//! a blocking facade over an async runtime, so the rest of the program stays synchronous.
//!
//! The distribution protocol is our own, on reqwest (why: [`client`]), one concept per private
//! module: `transport` (a host: its client, scheme and `/v2/` answer), `retry` (deadlines and
//! retries), `wire` (a request with the host's credentials, and the host's token flow),
//! `answer` (reading answers safely), `challenge` (`WWW-Authenticate`), `token` (tokens, their
//! cache and the token request), `manifests`, `blobs` and `upload` (the requests themselves),
//! `push` (the order of a push). [`auth`] finds credentials; [`trust`] decides which
//! certificates are trusted (`certificate` reads the names and dates it reports); [`error`] is the one error type (status, spec codes, retryable,
//! redacted URL). Errors leave this module as `anyhow` errors with a sentence of context and a
//! `help:` line, the [`RegistryError`] still in their chain.

mod answer;
pub mod auth;
mod blobs;
mod certificate;
mod challenge;
pub mod client;
pub mod error;
mod insecure;
mod manifests;
mod push;
pub mod referrers;
mod retry;
mod settled;
mod token;
mod transport;
pub mod trust;
mod upload;
mod wire;

pub use client::{Connector, Registry, RegistryOptions};

pub use error::{ErrorKind, RegistryError};
pub use trust::tls_crypto;
