//! `--loader containerd` and `--output type=containerd[,namespace=N][,address=SOCK]`: the whole
//! index, every platform, imported into containerd's image store, which keeps indexes (as kind,
//! k3s and the kubelet use it). We speak to containerd through its own client, `ctr images
//! import --all-platforms -` (shipped with containerd), fed an OCI archive of the layout as it
//! streams, so nothing is written to disk; `ctr` unpacks the host's platform on import.
//!
//! The names are what the kubelet looks up: `io.containerd.image.name` in the archive's index is
//! the fully qualified reference (`docker.io/library/api:dev`, as `image: api:dev` in a pod
//! spec means), one per tag. The namespace is `k8s.io` unless given; the socket is `ctr`'s own
//! default (`CONTAINERD_ADDRESS`, else `/run/containerd/containerd.sock`) unless given.
//! [`preflight`] asks containerd for its version before anything is compiled.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

use super::archive::archive_spec;
use super::{layout, Report, Sink};
use crate::image::layer::{self, Source};
use crate::image::model::ImageSet;
use crate::image::reference::{ImageRef, DOCKER_HUB_ENDPOINT};
use crate::image::store::BlobStore;
use crate::plan::output::OutputSpec;
use crate::util::process::{self, Fed, RunError};

/// The namespace the kubelet (and so kind and k3s) reads images from.
pub const DEFAULT_NAMESPACE: &str = "k8s.io";
/// How long containerd may take to answer `version`.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an import may take once the archive is sent.
const IMPORT_TIMEOUT: Duration = Duration::from_secs(600);

/// Imports one binary's whole index into containerd.
pub struct Containerd {
    /// None: [`DEFAULT_NAMESPACE`].
    pub namespace: Option<String>,
    /// The gRPC socket; None: `ctr`'s default.
    pub address: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ContainerdError {
    #[error(
        "`ctr` (containerd's client) is not installed\n  help: install containerd (Debian and \
         Ubuntu: apt-get install containerd), which ships it"
    )]
    NoCtr,
    #[error(
        "cannot reach containerd{at}: {reason}\n  help: start containerd, or give its socket \
         with --output type=containerd,address=SOCK (kind: see the README's containerd section)"
    )]
    Unreachable { at: String, reason: String },
    #[error("`ctr images import` refused the image: {0}")]
    Refused(String),
    #[error("{what} did not finish within {} s", .limit.as_secs())]
    Timeout { what: String, limit: Duration },
}

impl Containerd {
    fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE)
    }

    fn at(&self) -> String {
        match &self.address {
            Some(a) => format!(" at {}", a.display()),
            None => String::new(),
        }
    }

    /// `ctr [--address SOCK] -n NAMESPACE`.
    fn ctr(&self) -> Command {
        let mut c = Command::new("ctr");
        if let Some(a) = &self.address {
            c.arg("--address").arg(a);
        }
        c.args(["-n", self.namespace()]);
        c
    }

    /// Asks containerd its version: it answers, or the error says how to reach it.
    fn probe(&self) -> Result<(), ContainerdError> {
        let out = process::run(self.ctr().arg("version"), PROBE_TIMEOUT, "`ctr version`")
            .map_err(|e| self.run_error(e))?;
        if out.status.success() {
            return Ok(());
        }
        Err(ContainerdError::Unreachable {
            at: self.at(),
            reason: said(&out.stderr, &out.stdout),
        })
    }

    fn run_error(&self, e: RunError) -> ContainerdError {
        match e {
            e if e.not_found() => ContainerdError::NoCtr,
            RunError::Timeout { what, limit } => ContainerdError::Timeout { what, limit },
            e => ContainerdError::Unreachable {
                at: self.at(),
                reason: e.to_string(),
            },
        }
    }
}

/// What a command said, its first lines, for an error.
fn said(stderr: &[u8], stdout: &[u8]) -> String {
    let text = String::from_utf8_lossy(if stderr.iter().all(u8::is_ascii_whitespace) {
        stdout
    } else {
        stderr
    });
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(3)
        .collect();
    lines.join(" ")
}

/// Before anything is compiled: every containerd output's containerd answers.
pub fn preflight(outputs: &[OutputSpec]) -> Result<()> {
    for o in outputs {
        if let OutputSpec::Containerd { namespace, address } = o {
            Containerd {
                namespace: namespace.clone(),
                address: address.clone(),
            }
            .probe()?;
        }
    }
    Ok(())
}

/// `repository:tag` fully qualified, as containerd's clients and the kubelet name images:
/// `api` is `docker.io/library/api`.
pub fn qualified(repository: &str, tag: &str) -> String {
    match ImageRef::repository_named(repository) {
        Ok(r) => {
            let host = match r.registry() {
                DOCKER_HUB_ENDPOINT => "docker.io",
                other => other,
            };
            format!("{host}/{}:{tag}", r.repository())
        }
        Err(_) => format!("{repository}:{tag}"),
    }
}

/// The layout's `index.json` with each tag's `io.containerd.image.name` fully qualified.
fn index_for_containerd(set: &ImageSet) -> Result<Vec<u8>> {
    let mut index: Value = serde_json::from_slice(&layout::index_json(set)?)?;
    if let Some(entries) = index["manifests"].as_array_mut() {
        for e in entries {
            let Some(tag) = e["annotations"][crate::image::model::annotation::REF_NAME]
                .as_str()
                .map(str::to_string)
            else {
                continue;
            };
            e["annotations"]["io.containerd.image.name"] =
                Value::String(qualified(&set.repository, &tag));
        }
    }
    Ok(serde_json::to_vec(&index)?)
}

impl Sink for Containerd {
    fn describe(&self) -> String {
        format!(
            "import into containerd{} (namespace {})",
            self.at(),
            self.namespace()
        )
    }

    fn write(&self, set: &ImageSet, store: &BlobStore) -> Result<Report> {
        let mut files = layout::layout_files(set, store)?;
        let index = index_for_containerd(set)?;
        for (path, source) in &mut files {
            if path == "index.json" {
                *source = Source::Bytes(index.clone());
            }
        }
        let spec = archive_spec(files);
        let mut cmd = self.ctr();
        cmd.args(["images", "import", "--all-platforms", "-"]);
        let what = "`ctr images import`";
        let Fed { output, fed } = process::run_feeding(&mut cmd, IMPORT_TIMEOUT, what, |out| {
            layer::write_tar(&spec, 0, out).map(drop)
        })
        .map_err(|e| self.run_error(e))?;
        if !output.status.success() {
            let message = said(&output.stderr, &output.stdout);
            // containerd not answering reads as such, not as a refused image.
            if message.contains("connect:") || message.contains("dial") {
                return Err(ContainerdError::Unreachable {
                    at: self.at(),
                    reason: message,
                }
                .into());
            }
            return Err(ContainerdError::Refused(message).into());
        }
        fed.context("streaming the image into `ctr images import`")?;
        let names: Vec<String> = set
            .tags
            .iter()
            .map(|t| qualified(&set.repository, t))
            .collect();
        Ok(Report {
            destination: format!(
                "{} platforms into containerd{} (namespace {}) as {}",
                set.images.len(),
                self.at(),
                self.namespace(),
                names.join(", ")
            ),
            notes: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_fully_qualified() {
        assert_eq!(qualified("api", "dev"), "docker.io/library/api:dev");
        assert_eq!(qualified("acme/api", "1"), "docker.io/acme/api:1");
        assert_eq!(
            qualified("127.0.0.1:5000/acme/api", "1"),
            "127.0.0.1:5000/acme/api:1"
        );
        assert_eq!(qualified("ghcr.io/acme/api", "v2"), "ghcr.io/acme/api:v2");
    }
}
