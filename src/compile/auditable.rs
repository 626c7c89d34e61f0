//! The dependency list a binary carries in its `.dep-v0` section, in cargo-auditable's format
//! (the section syft, trivy, grype and `rust-audit-info` read): zlib-compressed JSON of the
//! packages compiled into it, each with its version, source, kind and dependencies by index,
//! the binary's own package marked `root`. It is made from the same [`Graph`] the SBOM is, so
//! the two never disagree, and it is deterministic: the graph is sorted, the JSON has no maps
//! whose order could change, and zlib at a fixed level gives the same bytes every run.

use std::io::Write as _;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::compile::graph::{Graph, Origin};

/// The ELF section's name.
pub const SECTION: &str = ".dep-v0";

/// One package, as cargo-auditable's `VersionInfo` schema has it.
#[derive(Serialize)]
struct Package<'a> {
    name: &'a str,
    version: &'a str,
    /// `crates.io`, `git`, `local` or `registry`.
    source: &'static str,
    /// `build` for a package that only ran at build time; omitted for `runtime`.
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dependencies: Vec<usize>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    root: bool,
}

#[derive(Serialize)]
struct VersionInfo<'a> {
    packages: Vec<Package<'a>>,
}

/// The JSON of `graph` (its first package is the binary's own), uncompressed.
pub fn json(graph: &Graph) -> Result<Vec<u8>> {
    let packages = graph
        .packages
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut dependencies: Vec<usize> = graph
                .edges
                .iter()
                .filter(|(from, ..)| *from == i)
                .map(|(_, to, _)| *to)
                .collect();
            dependencies.dedup();
            Package {
                name: &p.name,
                version: &p.version,
                source: match p.origin {
                    Origin::CratesIo => "crates.io",
                    Origin::Git { .. } => "git",
                    Origin::Path(_) => "local",
                    Origin::Registry(_) => "registry",
                },
                kind: p.build_only.then_some("build"),
                dependencies,
                root: i == 0,
            }
        })
        .collect();
    serde_json::to_vec(&VersionInfo { packages }).context("writing the dependency list")
}

/// The section's contents: [`json`], zlib-compressed.
pub fn section(graph: &Graph) -> Result<Vec<u8>> {
    let json = json(graph)?;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(7));
    z.write_all(&json)
        .and_then(|_| z.finish())
        .context("compressing the dependency list")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::graph::{Edge, Package as Pkg};

    fn pkg(name: &str, origin: Origin, build_only: bool) -> Pkg {
        Pkg {
            name: name.into(),
            version: "1.2.3".into(),
            license: None,
            checksum: None,
            origin,
            build_only,
        }
    }

    #[test]
    fn the_schema_of_cargo_auditable_with_the_root_first() {
        let graph = Graph {
            packages: vec![
                pkg("app", Origin::Path(".".into()), false),
                pkg("cc", Origin::CratesIo, true),
                pkg("serde", Origin::CratesIo, false),
                pkg(
                    "g",
                    Origin::Git {
                        url: "https://example.com/g".into(),
                        commit: "abc".into(),
                    },
                    false,
                ),
                pkg(
                    "r",
                    Origin::Registry("https://r.example/index".into()),
                    false,
                ),
            ],
            edges: vec![
                (0, 1, Edge::Build),
                (0, 2, Edge::Normal),
                (0, 3, Edge::Normal),
                (2, 4, Edge::Normal),
            ],
        };
        let text = String::from_utf8(json(&graph).unwrap()).unwrap();
        assert_eq!(
            text,
            r#"{"packages":[{"name":"app","version":"1.2.3","source":"local","dependencies":[1,2,3],"root":true},{"name":"cc","version":"1.2.3","source":"crates.io","kind":"build"},{"name":"serde","version":"1.2.3","source":"crates.io","dependencies":[4]},{"name":"g","version":"1.2.3","source":"git"},{"name":"r","version":"1.2.3","source":"registry"}]}"#
        );
        let z = section(&graph).unwrap();
        assert_eq!(z, section(&graph).unwrap(), "deterministic");
        let mut back = String::new();
        use std::io::Read as _;
        flate2::read::ZlibDecoder::new(&z[..])
            .read_to_string(&mut back)
            .unwrap();
        assert_eq!(back, text);
    }
}
