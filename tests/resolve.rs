//! `cargo imagebuild resolve` against the real distribution registry: YAML with comments,
//! several documents and two `imagebuild://` references comes back equal to its input but for
//! those two values; skopeo finds each printed digest in the registry; a second run with
//! nothing changed pushes nothing (the registry's access log says so); `--push=false` prints
//! the same digests; a name that is no binary is refused with the binaries listed.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::registry::{Kind, Registry};
use common::*;

const YAML: &str = "# The fixture's services.\n\
apiVersion: apps/v1\n\
kind: Deployment # the api\n\
metadata:\n  name: api\n\
spec:\n  template:\n    spec:\n      containers:\n        \
- name: api\n          image: imagebuild://api   # built from the workspace\n          \
args: [\"--port\", \"8080\"]\n\
---\n\
# A job, quoted the other way; a comment naming imagebuild://api stays as written.\n\
apiVersion: batch/v1\n\
kind: Job\n\
spec:\n  template:\n    spec:\n      containers:\n        \
- name: ctl\n          image: \"imagebuild://tools/ctl\"\n          \
env: [{name: NOTE, value: 'see imagebuild://api docs'}]\n";

fn resolve(reg: &Registry, work: &std::path::Path, extra: &[&str]) -> (String, String) {
    let mut c = imagebuild_isolated(work);
    c.env("CARGO_IMAGEBUILD_REPO", format!("{}/resolve", reg.addr))
        .args([
            "resolve",
            "-f",
            "-",
            "--platform",
            "linux/amd64,linux/arm64",
        ])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("cargo-imagebuild runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(YAML.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "resolve failed:\n{stderr}");
    (stdout(&out), stderr)
}

/// The two replaced values, after checking that every other byte is the input's.
fn pinned(output: &str, repo: &str) -> (String, String) {
    let api_at = YAML.find("imagebuild://api ").unwrap();
    let ctl_at = YAML.find("imagebuild://tools/ctl").unwrap();
    let api_len = "imagebuild://api".len();
    let ctl_len = "imagebuild://tools/ctl".len();
    let api_ref = format!("{repo}/api@sha256:");
    let ctl_ref = format!("{repo}/ctl@sha256:");
    let full = api_ref.len() + 64;
    assert_eq!(&output[..api_at], &YAML[..api_at], "{output}");
    let api = &output[api_at..api_at + full];
    assert!(api.starts_with(&api_ref), "{output}");
    let rest_in = &YAML[api_at + api_len..];
    let rest_out = &output[api_at + full..];
    let ctl_in = ctl_at - api_at - api_len;
    assert_eq!(&rest_out[..ctl_in], &rest_in[..ctl_in], "{output}");
    let ctl_full = ctl_ref.len() + 64;
    let ctl = &rest_out[ctl_in..ctl_in + ctl_full];
    assert!(ctl.starts_with(&ctl_ref), "{output}");
    assert_eq!(
        &rest_out[ctl_in + ctl_full..],
        &rest_in[ctl_in + ctl_len..],
        "{output}"
    );
    (api.to_string(), ctl.to_string())
}

/// Manifest PUTs and blob upload sessions the registry served for `repo`.
fn writes(reg: &Registry, repo: &str) -> Vec<String> {
    reg.requests(repo)
        .into_iter()
        .filter(|r| {
            (r.starts_with("PUT ") && r.contains("/manifests/"))
                || (r.starts_with("POST ") && r.contains("/blobs/uploads/"))
        })
        .collect()
}

#[test]
fn references_become_pushed_digests_and_nothing_else_changes() {
    let reg = Registry::start(Kind::Plain);
    let work = tempfile::tempdir().unwrap();
    let repo = format!("{}/resolve", reg.addr);
    let (first, stderr) = resolve(&reg, work.path(), &[]);
    let (api, ctl) = pinned(&first, &repo);
    for r in [&api, &ctl] {
        let index = reg.skopeo_raw(r);
        let platforms: Vec<String> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["platform"]["architecture"].as_str().map(String::from))
            .collect();
        assert_eq!(platforms, ["amd64", "arm64"], "{r}: {index}");
    }
    assert!(stderr.contains("Resolved"), "{stderr}");
    for name in ["api", "ctl"] {
        assert!(
            !writes(&reg, &format!("resolve/{name}")).is_empty(),
            "the first run pushed {name}"
        );
    }
    let before: Vec<Vec<String>> = ["api", "ctl"]
        .iter()
        .map(|n| writes(&reg, &format!("resolve/{n}")))
        .collect();

    // Nothing changed: the same output, and no blob or manifest written.
    let (second, _) = resolve(&reg, work.path(), &[]);
    assert_eq!(second, first);
    let after: Vec<Vec<String>> = ["api", "ctl"]
        .iter()
        .map(|n| writes(&reg, &format!("resolve/{n}")))
        .collect();
    assert_eq!(after, before, "the second run wrote to the registry");

    // Without a push: the digests a push gives, and no request at all.
    let served = reg.log_text().lines().count();
    let (unpushed, _) = resolve(&reg, work.path(), &["--push=false"]);
    assert_eq!(unpushed, first);
    let new_lines: Vec<String> = reg
        .log_text()
        .lines()
        .skip(served)
        .filter(|l| l.contains("/v2/"))
        .map(String::from)
        .collect();
    assert!(
        new_lines.is_empty(),
        "--push=false reached the registry: {new_lines:?}"
    );
}

#[test]
fn a_name_that_is_no_binary_lists_the_binaries() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("k8s.yaml");
    std::fs::write(&file, "image: imagebuild://apy\n").unwrap();
    let mut c = imagebuild_isolated(work.path());
    c.args(["resolve", "--push=false", "-f"]).arg(&file);
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "nothing printed on failure");
    for needed in [
        "k8s.yaml:1",
        "imagebuild://apy",
        "api (package server)",
        "migrate",
        "ctl (package tools)",
    ] {
        assert!(stderr.contains(needed), "`{needed}` not in: {stderr}");
    }
}
