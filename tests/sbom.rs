//! SBOMs and provenance, checked by tools no one here wrote: the SPDX documents pass the SPDX
//! project's validator (`pyspdxtools`), the CycloneDX ones the official 1.5 schema (the
//! CycloneDX project's Python library); the packages an SPDX document says are in the binary
//! are exactly what `cargo tree -e normal` shows for that target; the build dependency is marked
//! and the dev-dependency left out. Attached to the image they change no image digest: in a
//! layout `index.json` lists them, and after a push to distribution 2.8 (no referrers API) the
//! referrers tag of each platform manifest lists the SBOM and the provenance, whose bytes,
//! pulled back over HTTP, are the files `--sbom-dir` wrote.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;

use common::registry::{http_get, Kind, Registry};
use common::*;
use serde_json::Value;

static PLAIN: LazyLock<Registry> = LazyLock::new(|| Registry::start(Kind::Plain));

const TWO: &str = "linux/amd64,linux/arm64";

fn sbom_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sbom")
}

/// Our binary in the SBOM fixture, with a target directory of this test binary's own.
fn imagebuild_sbom() -> Command {
    let mut c = imagebuild_in(&sbom_fixture());
    c.env(
        "CARGO_TARGET_DIR",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("sbom-target"),
    );
    c
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// `(name, version)` of every package `cargo tree --target T -e normal` shows for the fixture.
fn cargo_tree(triple: &str) -> BTreeSet<(String, String)> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = run_ok(
        Command::new(cargo)
            .current_dir(sbom_fixture())
            .args(["tree", "--offline", "--locked", "--target", triple])
            .args(["-e", "normal", "--prefix", "none", "--format", "{p}"]),
    );
    stdout(&out)
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let name = w.next()?;
            let version = w.next()?.strip_prefix('v')?;
            Some((name.to_string(), version.to_string()))
        })
        .collect()
}

/// `(name, version)` of the packages an SPDX document says are in the binary: those reached
/// from what the document DESCRIBES through DEPENDS_ON alone.
fn spdx_runtime_packages(doc: &Value) -> BTreeSet<(String, String)> {
    let rels = doc["relationships"].as_array().unwrap();
    let root = rels
        .iter()
        .find(|r| r["relationshipType"] == "DESCRIBES")
        .unwrap()["relatedSpdxElement"]
        .as_str()
        .unwrap()
        .to_string();
    let mut seen: BTreeSet<String> = [root.clone()].into();
    let mut todo = vec![root];
    while let Some(id) = todo.pop() {
        for r in rels {
            if r["relationshipType"] == "DEPENDS_ON" && r["spdxElementId"] == id.as_str() {
                let to = r["relatedSpdxElement"].as_str().unwrap().to_string();
                if seen.insert(to.clone()) {
                    todo.push(to);
                }
            }
        }
    }
    doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| seen.contains(p["SPDXID"].as_str().unwrap()))
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["versionInfo"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn package<'a>(doc: &'a Value, name: &str) -> Option<&'a Value> {
    doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
}

/// The fixture's Cargo.lock checksum of `name`.
fn lock_checksum(name: &str) -> String {
    let lock = std::fs::read_to_string(sbom_fixture().join("Cargo.lock")).unwrap();
    let at = lock.find(&format!("name = \"{name}\"")).unwrap();
    let rest = &lock[at..];
    let line = rest.lines().find(|l| l.starts_with("checksum = ")).unwrap();
    line.trim_start_matches("checksum = ")
        .trim_matches('"')
        .to_string()
}

/// SPDX by default, per platform: valid for pyspdxtools; in the binary exactly what cargo tree
/// shows; cc marked as a build dependency, anyhow (dev) absent; checksums from Cargo.lock,
/// purls, rustc named. The layout lists each document beside the image, `sbom oci:DIR` reads
/// them back, and the image's index digest is that of a build with nothing attached.
#[test]
fn spdx_per_platform_matches_cargo_tree_and_validates() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("oci");
    let files = work.path().join("sbom");
    let out = run_ok(imagebuild_sbom().args(["--platform", TWO, "-q"]).args([
        "-o",
        &format!("type=oci,dest={}", layout.display()),
        "--sbom-dir",
        files.to_str().unwrap(),
    ]));
    let printed = parse_digests(&stdout(&out));
    validate_layout(&layout);

    for (platform, triple) in [
        ("amd64", "x86_64-unknown-linux-musl"),
        ("arm64", "aarch64-unknown-linux-musl"),
    ] {
        let path = files.join(format!("sbomfix-linux-{platform}.spdx.json"));
        let check = Command::new(require("pyspdxtools"))
            .arg("-i")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "pyspdxtools refused {}:\n{}{}",
            path.display(),
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let doc = read_json(&path);
        let tree = cargo_tree(triple);
        assert!(tree.len() >= 4, "cargo tree shows too little: {tree:?}");
        assert_eq!(spdx_runtime_packages(&doc), tree, "{platform}");
        // Each target's own dependencies only: humantime by `cfg(target_arch = "aarch64")`,
        // hex by the x86_64 musl triple.
        let (mine, other) = match platform {
            "arm64" => ("humantime", "hex"),
            _ => ("hex", "humantime"),
        };
        assert!(package(&doc, mine).is_some(), "{platform} lacks {mine}");
        assert!(package(&doc, other).is_none(), "{platform} lists {other}");

        let cc = package(&doc, "cc").expect("the build dependency is listed");
        let cc_id = cc["SPDXID"].as_str().unwrap();
        assert!(
            doc["relationships"].as_array().unwrap().iter().any(|r| {
                r["spdxElementId"] == cc_id && r["relationshipType"] == "BUILD_DEPENDENCY_OF"
            }),
            "cc is not marked as a build dependency"
        );
        assert_eq!(cc["checksums"][0]["checksumValue"], lock_checksum("cc"));
        assert!(
            package(&doc, "anyhow").is_none(),
            "a dev-dependency is listed"
        );
        let json = package(&doc, "serde_json").unwrap();
        assert_eq!(
            json["checksums"][0]["checksumValue"],
            lock_checksum("serde_json")
        );
        assert_eq!(
            json["externalRefs"][0]["referenceLocator"],
            "pkg:cargo/serde_json@1.0.154"
        );
        assert_eq!(json["sourceInfo"], "crates.io");
        assert_eq!(
            package(&doc, "sbomfix").unwrap()["licenseDeclared"],
            "MIT OR Apache-2.0"
        );
        let rustc = package(&doc, "rustc").expect("the toolchain is named");
        assert!(rustc["comment"].as_str().unwrap().starts_with("rustc "));
        // The document describes the manifest it is attached to.
        let manifest = &printed[0]
            .2
            .iter()
            .find(|(p, _)| p.ends_with(platform))
            .unwrap()
            .1;
        assert!(
            doc["creationInfo"]["comment"]
                .as_str()
                .unwrap()
                .contains(manifest.as_str()),
            "{}",
            doc["creationInfo"]
        );
        let provenance =
            read_json(&files.join(format!("sbomfix-linux-{platform}.provenance.json")));
        assert_eq!(provenance["_type"], "https://in-toto.io/Statement/v1");
        assert_eq!(
            provenance["predicateType"],
            "https://slsa.dev/provenance/v1"
        );
        assert_eq!(provenance["subject"][0]["digest"]["sha256"], manifest[7..]);
        let p = &provenance["predicate"];
        assert_eq!(p["buildDefinition"]["externalParameters"]["target"], triple);
        assert!(p["runDetails"]["metadata"]["startedOn"].is_string());
        assert!(p["runDetails"]["metadata"]["finishedOn"].is_string());
    }

    // index.json: the image (tagged) and four artifacts whose subjects are the two manifests.
    let index = read_json(&layout.join("index.json"));
    let kinds: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["artifactType"].as_str())
        .collect();
    assert_eq!(kinds.len(), 4, "{index}");
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "application/spdx+json")
            .count(),
        2
    );
    // skopeo still reads the image by its tag.
    let image = skopeo_raw(&format!("oci:{}:0.2.0", layout.display()));
    assert_eq!(image["manifests"].as_array().unwrap().len(), 2);

    // `sbom oci:DIR` lists them and gives back the same bytes.
    let back = work.path().join("back");
    let listed = run_ok(
        imagebuild_sbom()
            .args(["sbom", &format!("oci:{}:0.2.0", layout.display())])
            .args(["--out", back.to_str().unwrap()]),
    );
    let text = stdout(&listed);
    assert_eq!(text.matches("application/spdx+json").count(), 2, "{text}");
    assert_eq!(
        text.matches("application/vnd.in-toto+json").count(),
        2,
        "{text}"
    );
    for platform in ["amd64", "arm64"] {
        for kind in ["spdx", "provenance"] {
            assert_eq!(
                std::fs::read(back.join(format!("oci-linux-{platform}.{kind}.json"))).unwrap(),
                std::fs::read(files.join(format!("sbomfix-linux-{platform}.{kind}.json"))).unwrap()
            );
        }
    }

    // Nothing attached: the same image digests.
    let bare = run_ok(imagebuild_sbom().args(["--platform", TWO, "-q"]).args([
        "-o",
        &format!("type=oci,dest={}", work.path().join("bare").display()),
        "--sbom",
        "none",
        "--no-provenance",
    ]));
    assert_eq!(parse_digests(&stdout(&bare)), printed);
    let bare_index = read_json(&work.path().join("bare/index.json"));
    assert_eq!(bare_index["manifests"].as_array().unwrap().len(), 1);
}

/// `--sbom cyclonedx`: valid against the official CycloneDX 1.5 schema (strict), the build
/// dependency excluded from the runtime scope and the dev-dependency absent.
#[test]
fn cyclonedx_validates_against_the_official_schema() {
    let work = tempfile::tempdir().unwrap();
    let files = work.path().join("sbom");
    run_ok(
        imagebuild_sbom()
            .args(["--platform", "linux/amd64", "-q"])
            .args([
                "-o",
                &format!("type=oci,dest={}", work.path().join("oci").display()),
                "--sbom",
                "cyclonedx",
                "--sbom-dir",
                files.to_str().unwrap(),
            ]),
    );
    let path = files.join("sbomfix-linux-amd64.cdx.json");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/validate_cyclonedx.py");
    let check = Command::new(require("python3"))
        .arg(&script)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "the CycloneDX schema refused {}:\n{}{}",
        path.display(),
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let doc = read_json(&path);
    assert_eq!(doc["specVersion"], "1.5");
    assert_eq!(doc["metadata"]["component"]["name"], "sbomfix");
    let components = doc["components"].as_array().unwrap();
    let find = |n: &str| components.iter().find(|c| c["name"] == n);
    assert_eq!(find("cc").unwrap()["scope"], "excluded");
    assert_eq!(find("serde_json").unwrap()["scope"], "required");
    assert_eq!(
        find("serde_json").unwrap()["purl"],
        "pkg:cargo/serde_json@1.0.154"
    );
    assert!(find("anyhow").is_none());
    let names: BTreeSet<(String, String)> = std::iter::once(&doc["metadata"]["component"])
        .chain(components.iter().filter(|c| c["scope"] == "required"))
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(names, cargo_tree("x86_64-unknown-linux-musl"));
}

/// A push to distribution 2.8 (no referrers API): each platform manifest's referrers tag
/// (`sha256-<hex>`, read with skopeo) lists its SBOM and provenance; the artifact manifests
/// have the platform manifest as `subject`; their documents, fetched over plain HTTP, are the
/// files `--sbom-dir` wrote; `sbom REF` lists them; the index digest is that of a push with
/// nothing attached.
#[test]
fn pushed_attachments_are_found_through_the_referrers_tag() {
    let reg = &*PLAIN;
    let work = tempfile::tempdir().unwrap();
    let files = work.path().join("sbom");
    let repo = format!("{}/acme/sbomfix", reg.addr);
    let out = run_ok(
        imagebuild_sbom()
            .args(["--platform", TWO, "-q", "--push"])
            .args([
                "-t",
                &format!("{repo}:attached"),
                "--sbom-dir",
                files.to_str().unwrap(),
            ]),
    );
    let reference = stdout(&out).trim().to_string();
    let digest = reference.rsplit_once('@').unwrap().1.to_string();
    let index = reg.skopeo_raw(&format!("{repo}:attached"));
    for m in index["manifests"].as_array().unwrap() {
        let subject = m["digest"].as_str().unwrap();
        let arch = m["platform"]["architecture"].as_str().unwrap();
        let referrers = reg.skopeo_raw(&format!("{repo}:{}", subject.replacen(':', "-", 1)));
        let listed = referrers["manifests"].as_array().unwrap();
        let mut kinds: Vec<&str> = listed
            .iter()
            .map(|r| r["artifactType"].as_str().unwrap())
            .collect();
        kinds.sort();
        assert_eq!(
            kinds,
            ["application/spdx+json", "application/vnd.in-toto+json"]
        );
        for r in listed {
            let artifact = reg.skopeo_raw(&format!("{repo}@{}", r["digest"].as_str().unwrap()));
            assert_eq!(artifact["subject"]["digest"], subject);
            assert_eq!(artifact["artifactType"], r["artifactType"]);
            let layer = artifact["layers"][0]["digest"].as_str().unwrap();
            let (status, body) =
                http_get(&reg.addr, &format!("/v2/acme/sbomfix/blobs/{layer}")).unwrap();
            assert_eq!(status, 200);
            let kind = if r["artifactType"] == "application/spdx+json" {
                "spdx"
            } else {
                "provenance"
            };
            let file =
                std::fs::read_to_string(files.join(format!("sbomfix-linux-{arch}.{kind}.json")))
                    .unwrap();
            assert_eq!(
                body, file,
                "{arch} {kind}: pulled back, the document differs"
            );
        }
    }
    // Our own reader finds the same.
    let listed = stdout(&run_ok(
        imagebuild_sbom().args(["sbom", &format!("{repo}:attached")]),
    ));
    assert_eq!(
        listed.matches("application/spdx+json").count(),
        2,
        "{listed}"
    );

    // Pushed with nothing attached, the image has the same digest.
    let bare = run_ok(
        imagebuild_sbom()
            .args(["--platform", TWO, "-q", "--push"])
            .args([
                "-t",
                &format!("{repo}:bare"),
                "--sbom",
                "none",
                "--no-provenance",
            ]),
    );
    assert_eq!(
        stdout(&bare).trim().rsplit_once('@').unwrap().1,
        digest,
        "attachments changed the index digest"
    );
}
