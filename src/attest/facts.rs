//! What the documents of one image and platform share: the subject ([`Facts`]) and the programs
//! that took part in building it ([`Tool`]).

use crate::image::model::Descriptor;
use crate::image::platform::Platform;

/// A program that took part in the build, for the SBOM and the provenance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tool {
    pub name: String,
    pub version: String,
    /// What it says of itself (`rustc 1.95.0 (59807616e 2026-04-14)`).
    pub description: String,
}

/// What every document of one image and platform says about its subject.
pub struct Facts<'a> {
    pub bin: &'a str,
    pub package: &'a str,
    pub platform: &'a Platform,
    pub triple: &'a str,
    /// The platform's manifest: the subject.
    pub manifest: &'a Descriptor,
    /// The image's `created` (the build's one timestamp).
    pub created: String,
    /// rustc, and the C compiler when the graph compiles C.
    pub tools: Vec<Tool>,
}
