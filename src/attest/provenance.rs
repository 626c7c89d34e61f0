//! A provenance statement per image and platform: an in-toto v1 statement whose subject is the
//! platform's manifest, with a SLSA provenance v1 predicate: the command and its settings
//! (external parameters), how the target was built (internal parameters), the source
//! repository and revision and the base image (resolved dependencies), the tool versions
//! (builder) and the start and end times (run metadata). It lives outside the image, so its times
//! change no image digest.

use anyhow::Result;
use serde_json::{json, Value};

use super::facts::Facts;

/// The build type this statement's parameters follow.
pub const BUILD_TYPE: &str = "https://crates.io/crates/cargo-imagebuild#build-type-v1";

/// What a statement says beyond the [`Facts`] an SBOM shares.
pub struct Run<'a> {
    /// The command line, as run.
    pub command: &'a [String],
    /// `--profile`, features, and the like, as the build saw them.
    pub settings: Value,
    /// How the target was built: builder, linker, C compiler, remaps.
    pub route: Value,
    /// The source repository (web address) and the commit, when known.
    pub source: Option<&'a str>,
    pub revision: Option<&'a str>,
    /// A registry base: its reference and manifest digest.
    pub base: Option<(&'a str, &'a str)>,
    pub repository: &'a str,
    pub started: String,
    pub finished: String,
}

/// The statement's bytes.
pub fn statement(facts: &Facts, run: &Run) -> Result<Vec<u8>> {
    let mut resolved = Vec::new();
    if let Some(src) = run.source {
        let mut d = json!({"uri": format!("git+{src}")});
        if let Some(rev) = run.revision {
            let commit = rev.trim_end_matches("-dirty");
            d["digest"] = json!({"gitCommit": commit});
            if rev.ends_with("-dirty") {
                d["annotations"] = json!({"dirty": true});
            }
        }
        resolved.push(d);
    }
    if let Some((name, digest)) = run.base {
        let (alg, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
        resolved.push(
            json!({"uri": format!("oci://{name}"), "name": "base image", "digest": {alg: hex}}),
        );
    }
    let mut versions = serde_json::Map::new();
    versions.insert("cargo-imagebuild".into(), json!(env!("CARGO_PKG_VERSION")));
    for t in &facts.tools {
        versions.insert(t.name.clone(), json!(t.description));
    }
    let doc = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{
            "name": run.repository,
            "digest": {"sha256": facts.manifest.digest.hex()},
        }],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "command": run.command,
                    "package": facts.package,
                    "bin": facts.bin,
                    "platform": facts.platform.to_string(),
                    "target": facts.triple,
                    "settings": run.settings,
                },
                "internalParameters": {"route": run.route},
                "resolvedDependencies": resolved,
            },
            "runDetails": {
                "builder": {
                    "id": format!("https://crates.io/crates/cargo-imagebuild/{}", env!("CARGO_PKG_VERSION")),
                    "version": versions,
                },
                "metadata": {
                    "startedOn": run.started,
                    "finishedOn": run.finished,
                },
            },
        },
    });
    Ok(serde_json::to_vec_pretty(&doc)?)
}
