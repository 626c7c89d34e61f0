//! An SPDX 2.3 JSON document for one binary on one platform: the document DESCRIBES the
//! binary's package; each package of its [`Graph`] with its version, declared license, Cargo.lock
//! checksum, purl and source; runtime dependencies as `DEPENDS_ON`, build dependencies as
//! `BUILD_DEPENDENCY_OF`, and the toolchain (rustc, the C compiler) as `BUILD_TOOL_OF`.
//! Hand-written JSON: the SPDX crates on crates.io either model SPDX 3 or only read documents;
//! this is a few fixed fields, checked in the tests by the reference validator (`pyspdxtools`).

use anyhow::Result;
use serde_json::{json, Value};

use super::facts::Facts;
use crate::compile::graph::{Edge, Graph, Origin, Package};

const NOASSERTION: &str = "NOASSERTION";

/// `SPDXRef-…` ids may hold letters, digits, `.` and `-`.
fn spdx_id(kind: &str, i: usize, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("SPDXRef-{kind}-{i}-{clean}")
}

fn download_location(p: &Package) -> String {
    match &p.origin {
        Origin::CratesIo => format!(
            "https://crates.io/api/v1/crates/{}/{}/download",
            p.name, p.version
        ),
        Origin::Git { url, commit } if !commit.is_empty() => format!("git+{url}@{commit}"),
        Origin::Git { url, .. } => format!("git+{url}"),
        Origin::Registry(_) | Origin::Path(_) => NOASSERTION.into(),
    }
}

fn package(i: usize, p: &Package) -> Value {
    let mut v = json!({
        "SPDXID": spdx_id("Package", i, &p.name),
        "name": p.name,
        "versionInfo": p.version,
        "downloadLocation": download_location(p),
        "filesAnalyzed": false,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": p.license.as_deref().unwrap_or(NOASSERTION),
        "copyrightText": NOASSERTION,
        "sourceInfo": p.origin.describe(),
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": p.purl(),
        }],
    });
    if let Some(sum) = &p.checksum {
        v["checksums"] = json!([{"algorithm": "SHA256", "checksumValue": sum}]);
    }
    if p.build_only {
        v["comment"] = json!("build dependency: runs at build time, not part of the binary");
    }
    v
}

/// The document's bytes.
pub fn document(graph: &Graph, facts: &Facts) -> Result<Vec<u8>> {
    let ids: Vec<String> = graph
        .packages
        .iter()
        .enumerate()
        .map(|(i, p)| spdx_id("Package", i, &p.name))
        .collect();
    let mut packages: Vec<Value> = graph
        .packages
        .iter()
        .enumerate()
        .map(|(i, p)| package(i, p))
        .collect();
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": ids[0],
    })];
    for (a, b, edge) in &graph.edges {
        relationships.push(match edge {
            Edge::Normal => json!({
                "spdxElementId": ids[*a],
                "relationshipType": "DEPENDS_ON",
                "relatedSpdxElement": ids[*b],
            }),
            Edge::Build => json!({
                "spdxElementId": ids[*b],
                "relationshipType": "BUILD_DEPENDENCY_OF",
                "relatedSpdxElement": ids[*a],
            }),
        });
    }
    for (i, tool) in facts.tools.iter().enumerate() {
        let id = spdx_id("Tool", i, &tool.name);
        packages.push(json!({
            "SPDXID": id,
            "name": tool.name,
            "versionInfo": tool.version,
            "downloadLocation": NOASSERTION,
            "filesAnalyzed": false,
            "licenseConcluded": NOASSERTION,
            "licenseDeclared": NOASSERTION,
            "copyrightText": NOASSERTION,
            "comment": tool.description,
            "primaryPackagePurpose": "APPLICATION",
        }));
        relationships.push(json!({
            "spdxElementId": id,
            "relationshipType": "BUILD_TOOL_OF",
            "relatedSpdxElement": ids[0],
        }));
    }
    let doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{} {}", facts.bin, facts.platform),
        "documentNamespace": format!(
            "https://spdx.org/spdxdocs/cargo-imagebuild/{}/{}",
            facts.bin,
            facts.manifest.digest.hex()
        ),
        "creationInfo": {
            "created": facts.created,
            "creators": [format!("Tool: cargo-imagebuild-{}", env!("CARGO_PKG_VERSION"))],
            "comment": format!(
                "The binary {} of package {} for {} ({}), in the image manifest {}",
                facts.bin, facts.package, facts.platform, facts.triple, facts.manifest.digest
            ),
        },
        "packages": packages,
        "relationships": relationships,
    });
    Ok(serde_json::to_vec_pretty(&doc)?)
}
