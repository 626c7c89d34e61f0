//! The subcommands besides the build itself, one file each (as cargo's `ops/`): each takes its
//! own options and returns data; printing it is the binary's job. [`clean`] removes the caches,
//! [`doctor`] checks the machine for what the platforms need (and runs the fixes), [`init`]
//! writes a starting configuration, [`merge`] assembles per-platform layouts into one index,
//! [`platforms`] lists every platform with its route here, [`resolve`] pins the
//! `imagebuild://` references of YAML to pushed digests, [`run`] builds, loads and runs one
//! binary's image, [`sbom`] reads back what is attached to an image, and [`verify`] checks an
//! image's cosign signatures against a public key.

pub mod clean;
pub mod doctor;
mod held;
pub mod init;
pub mod merge;
pub mod platforms;
pub mod resolve;
pub mod run;
pub mod sbom;
pub mod verify;
