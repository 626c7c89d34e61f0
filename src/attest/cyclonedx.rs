//! A CycloneDX 1.5 JSON document for one binary on one platform: the binary's package is the
//! metadata's component; each other package of its [`Graph`] is a library component with its
//! license expression, Cargo.lock hash, purl and source, `scope: required` when it is in the
//! binary and `excluded` (with the property `cargo:dependency-kind = build`) when it only ran at
//! build time; the toolchain goes in `metadata.tools`; `dependencies` holds the graph.
//! Hand-written JSON for the same reason as `spdx.rs`; the tests check it against the official
//! 1.5 schema.

use anyhow::Result;
use serde_json::{json, Value};

use super::facts::Facts;
use crate::compile::graph::{Graph, Origin, Package};

/// A `bom-ref` per package: its purl, made unique with its index when two packages share one.
fn refs(graph: &Graph) -> Vec<String> {
    graph
        .packages
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let purl = p.purl();
            let shared = graph.packages.iter().filter(|q| q.purl() == purl).count() > 1;
            if shared {
                format!("{purl}#{i}")
            } else {
                purl
            }
        })
        .collect()
}

fn component(p: &Package, bom_ref: &str, kind: &str) -> Value {
    let mut v = json!({
        "type": kind,
        "bom-ref": bom_ref,
        "name": p.name,
        "version": p.version,
        "purl": p.purl(),
        "scope": if p.build_only { "excluded" } else { "required" },
    });
    if let Some(l) = &p.license {
        v["licenses"] = json!([{"expression": l}]);
    }
    if let Some(sum) = &p.checksum {
        v["hashes"] = json!([{"alg": "SHA-256", "content": sum}]);
    }
    let mut props = vec![json!({"name": "cargo:source", "value": p.origin.describe()})];
    if p.build_only {
        props.push(json!({"name": "cargo:dependency-kind", "value": "build"}));
    }
    v["properties"] = json!(props);
    match &p.origin {
        Origin::Git { url, .. } => {
            v["externalReferences"] = json!([{"type": "vcs", "url": url}]);
        }
        Origin::CratesIo => {
            v["externalReferences"] = json!([{
                "type": "distribution",
                "url": format!("https://crates.io/crates/{}/{}", p.name, p.version),
            }]);
        }
        Origin::Registry(_) | Origin::Path(_) => {}
    }
    v
}

/// `urn:uuid:` from the manifest digest: the same image gives the same serial number.
fn serial(hex: &str) -> String {
    let h: Vec<char> = hex.chars().chain(std::iter::repeat('0')).take(32).collect();
    let s = |a: usize, b: usize| h[a..b].iter().collect::<String>();
    format!(
        "urn:uuid:{}-{}-5{}-8{}-{}",
        s(0, 8),
        s(8, 12),
        s(13, 16),
        s(17, 20),
        s(20, 32)
    )
}

/// The document's bytes.
pub fn document(graph: &Graph, facts: &Facts) -> Result<Vec<u8>> {
    let refs = refs(graph);
    let root = component(&graph.packages[0], &refs[0], "application");
    let components: Vec<Value> = graph
        .packages
        .iter()
        .zip(&refs)
        .skip(1)
        .map(|(p, r)| component(p, r, "library"))
        .collect();
    let mut tools = vec![json!({
        "type": "application",
        "name": "cargo-imagebuild",
        "version": env!("CARGO_PKG_VERSION"),
    })];
    for t in &facts.tools {
        tools.push(json!({
            "type": "application",
            "name": t.name,
            "version": t.version,
            "description": t.description,
        }));
    }
    let dependencies: Vec<Value> = refs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let on: Vec<&String> = graph
                .edges
                .iter()
                .filter(|(a, _, _)| *a == i)
                .map(|(_, b, _)| &refs[*b])
                .collect();
            json!({"ref": r, "dependsOn": on})
        })
        .collect();
    let doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "serialNumber": serial(facts.manifest.digest.hex()),
        "metadata": {
            "timestamp": facts.created,
            "tools": {"components": tools},
            "component": root,
            "properties": [
                {"name": "oci:platform", "value": facts.platform.to_string()},
                {"name": "rust:target", "value": facts.triple},
                {"name": "oci:manifest-digest", "value": facts.manifest.digest.as_str()},
            ],
        },
        "components": components,
        "dependencies": dependencies,
    });
    Ok(serde_json::to_vec_pretty(&doc)?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn serial_numbers_are_version_5_uuids() {
        let s = super::serial(&"ab".repeat(32));
        assert_eq!(s, "urn:uuid:abababab-abab-5bab-8bab-abababababab");
    }
}
