//! Faults that heal, and faults that fail clearly and in time: a push and a base pull through a
//! fault-injecting proxy (`common/faults.rs`) in front of the real registry. Where a retry can
//! succeed, the run succeeds and says it retried; where it cannot, it fails within the deadline
//! `--registry-timeout`/`--retries` set, naming the problem. After each push, skopeo (reading
//! the registry directly, not through the proxy) checks that the tag points at a whole image, or
//! that no tag was written.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::LazyLock;

use common::faults::{Fault, FaultProxy, Kind};
use common::registry::{Kind as RegistryKind, Registry};
use common::*;

static PLAIN: LazyLock<Registry> = LazyLock::new(|| Registry::start(RegistryKind::Plain));

/// Our binary with no credentials, its own base-layer cache, short deadlines (and the default
/// three retries unless a test gives `--retries`).
fn tool(work: &Path) -> Command {
    let mut c = imagebuild_isolated(work);
    c.args(["--registry-timeout", "3"]);
    c
}

fn ctl() -> [&'static str; 6] {
    ["-p", "tools", "--bin", "ctl", "--platform", "linux/amd64"]
}

fn fault(method: &'static str, path: &'static str, times: usize, kind: Kind) -> Fault {
    Fault {
        method,
        path,
        times,
        kind,
    }
}

/// skopeo copies every platform of `reference` out of the registry, checking every digest.
fn whole_in_registry(reference: &str, work: &Path) {
    let dest = work.join(format!("copy-{}", reference.replace(['/', ':'], "_")));
    let mut c = Command::new(require("skopeo"));
    c.args(["copy", "--all", "--src-tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .arg(format!("oci:{}:x", dest.display()));
    run_ok(&mut c);
}

/// Whether the registry has the tag at all.
fn tagged(reg: &Registry, reference: &str) -> bool {
    let mut c = Command::new(require("skopeo"));
    c.arg("inspect")
        .arg("--raw")
        .args(reg.skopeo_flags())
        .arg(format!("docker://{reference}"));
    c.output().unwrap().status.success()
}

/// 503s on manifests, a 500 on a blob check, a 429, and a connection reset in the middle of a
/// blob upload: each is retried (and said so), the push succeeds and the tag is whole.
#[test]
fn push_heals_through_server_errors_and_resets() {
    let reg = &*PLAIN;
    let proxy = FaultProxy::start(&reg.addr);
    let work = tempfile::tempdir().unwrap();
    proxy.set(vec![
        fault("HEAD", "/blobs/", 1, Kind::Status(500)),
        fault("POST", "/blobs/uploads/", 1, Kind::Status(429)),
        fault("PATCH", "/blobs/uploads/", 1, Kind::ResetUpload(512)),
        fault("PUT", "/manifests/", 2, Kind::Status(503)),
    ]);
    let out = run_ok(tool(work.path()).args(ctl()).args([
        "--push",
        "-t",
        &format!("{}/healed:1", proxy.addr),
    ]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("retrying"), "every retry is reported: {err}");
    assert!(
        proxy.spoiled.load(std::sync::atomic::Ordering::SeqCst) >= 4,
        "the faults were met"
    );
    whole_in_registry(&format!("{}/healed:1", reg.addr), work.path());
}

/// A manifest PUT that never gets an answer: the push fails within the deadline the flags set
/// (3 s × 2 attempts and a backoff, far below the bound asserted), says which deadline, and no
/// tag is written. A registry that answers 500 to every manifest fails as clearly.
#[test]
fn push_into_a_stalled_or_broken_registry_fails_in_time_and_tags_nothing() {
    let reg = &*PLAIN;
    let proxy = FaultProxy::start(&reg.addr);
    let work = tempfile::tempdir().unwrap();
    for (name, kind, expect) in [
        (
            "stalled",
            Kind::Stall,
            "no answer within 3 s (see --registry-timeout)",
        ),
        ("broken", Kind::Status(500), "HTTP 500"),
    ] {
        proxy.set(vec![fault("PUT", "/manifests/", usize::MAX, kind)]);
        let started = std::time::Instant::now();
        let out = tool(work.path())
            .args(ctl())
            .args(["--retries", "1", "--push", "-t"])
            .arg(format!("{}/{name}:1", proxy.addr))
            .output()
            .unwrap();
        let took = started.elapsed();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(expect), "{name}: {err}");
        assert!(err.contains("retrying"), "{name}: {err}");
        assert!(
            took < std::time::Duration::from_secs(60),
            "{name}: failed only after {took:?}"
        );
        assert!(
            !tagged(reg, &format!("{}/{name}:1", reg.addr)),
            "{name}: no tag points at an incomplete image"
        );
    }
}

/// A base image whose blobs arrive cut short twice and whose manifest answers 503 once: the
/// pull is retried and the layout built on it is whole.
#[test]
fn base_pull_heals_through_truncated_bodies() {
    let reg = &*PLAIN;
    let work = tempfile::tempdir().unwrap();
    let base = format!("{}/fbase:1", reg.addr);
    run_ok(tool(work.path()).args(ctl()).args(["--push", "-t", &base]));
    let proxy = FaultProxy::start(&reg.addr);
    proxy.set(vec![
        fault("GET", "/manifests/", 1, Kind::Status(503)),
        fault("GET", "/blobs/sha256:", 2, Kind::Truncate(700)),
    ]);
    let dest = work.path().join("layout");
    let out = run_ok(
        tool(work.path())
            .args(["-p", "server", "--bin", "api", "--platform", "linux/amd64"])
            .arg("--base")
            .arg(format!("{}/fbase:1", proxy.addr))
            .arg("-o")
            .arg(format!("type=oci,dest={}", dest.display())),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("retrying"), "{err}");
    assert!(
        proxy.spoiled.load(std::sync::atomic::Ordering::SeqCst) >= 3,
        "the faults were met: {err}"
    );
    validate_layout(&dest);
}
