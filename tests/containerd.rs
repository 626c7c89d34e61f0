//! Loading into containerd (Debian's `containerd` 1.6, started by the harness on a private
//! socket, root and state directory): a two-platform image goes in whole — `ctr images ls`
//! shows the index under its fully qualified name with both platforms, `ctr content ls` holds
//! the index and both manifests — and the host's platform is unpacked: `ctr run` of it prints
//! the fixture's line. `--load --loader containerd` reaches the socket `CONTAINERD_ADDRESS`
//! names; a containerd that does not answer is an error before anything is compiled.

mod common;

use std::time::Duration;

use common::containerd::containerd;
use common::*;

fn build_into_containerd(extra: &[&str], tag: &str) -> Printed {
    let work = tempfile::tempdir().unwrap();
    let mut c = imagebuild_isolated(work.path());
    c.args([
        "--bin",
        "migrate",
        "--platform",
        "linux/amd64,linux/arm64",
        "-t",
        tag,
    ])
    .args(extra);
    let out = run_ok(&mut c);
    let printed = parse_digests(&stdout(&out));
    assert_eq!(printed.len(), 1, "{}", stdout(&out));
    printed.into_iter().next().unwrap()
}

#[test]
fn the_whole_index_goes_into_containerd_and_the_host_platform_runs() {
    let ct = containerd();
    let address = format!("address={}", ct.address.display());
    let (_, index, manifests) = build_into_containerd(
        &["--output", &format!("type=containerd,{address}")],
        "migrate:ctr",
    );
    assert_eq!(manifests.len(), 2);

    let listed = ct.run_ok("k8s.io", &["images", "ls"]);
    let row = listed
        .lines()
        .find(|l| l.starts_with("docker.io/library/migrate:ctr "))
        .unwrap_or_else(|| panic!("no docker.io/library/migrate:ctr in:\n{listed}"));
    assert!(
        row.contains("application/vnd.oci.image.index.v1+json")
            && row.contains(&index)
            && row.contains("linux/amd64,linux/arm64"),
        "{row}"
    );
    let content = ct.run_ok("k8s.io", &["content", "ls", "-q"]);
    for digest in std::iter::once(&index).chain(manifests.iter().map(|(_, d)| d)) {
        assert!(
            content.lines().any(|l| l.trim() == digest),
            "{digest} not in containerd's content store:\n{content}"
        );
    }
    // The host's platform was unpacked on import: it runs (the image's cmd is --dry-run).
    let out = ct.output(
        "k8s.io",
        &[
            "run",
            "--rm",
            "docker.io/library/migrate:ctr",
            "imagebuild-ctr-test",
        ],
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "ctr run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out).trim(), "migrate --dry-run");
    let left = ct.run_ok("k8s.io", &["containers", "ls", "-q"]);
    assert!(left.trim().is_empty(), "{left}");
}

#[test]
fn load_with_the_containerd_loader_and_a_namespace() {
    let ct = containerd();
    let work = tempfile::tempdir().unwrap();
    let mut c = imagebuild_isolated(work.path());
    c.env("CONTAINERD_ADDRESS", &ct.address).args([
        "--bin",
        "migrate",
        "--platform",
        "linux/amd64,linux/arm64",
        "-t",
        "migrate:loaded",
        "--load",
        "--loader",
        "containerd",
    ]);
    let out = run_ok(&mut c);
    let index = &parse_digests(&stdout(&out))[0].1;
    let listed = ct.run_ok("k8s.io", &["images", "ls", "-q"]);
    assert!(
        listed
            .lines()
            .any(|l| l == "docker.io/library/migrate:loaded"),
        "{listed}"
    );
    let checked = ct.run_ok("k8s.io", &["images", "check"]);
    assert!(
        checked.contains(index.as_str()) || checked.contains("migrate:loaded"),
        "{checked}"
    );

    let mut c = imagebuild_isolated(work.path());
    c.args(["--bin", "migrate", "-t", "migrate:ns", "--output"])
        .arg(format!(
            "type=containerd,namespace=imagebuild-test,address={}",
            ct.address.display()
        ));
    run_ok(&mut c);
    let listed = ct.run_ok("imagebuild-test", &["images", "ls", "-q"]);
    assert_eq!(listed.trim(), "docker.io/library/migrate:ns");
}

#[test]
fn an_unreachable_containerd_is_refused_before_building() {
    let work = tempfile::tempdir().unwrap();
    let sock = work.path().join("none.sock");
    let mut c = imagebuild_isolated(work.path());
    c.args(["--bin", "migrate", "--output"])
        .arg(format!("type=containerd,address={}", sock.display()));
    let err = run_err(&mut c);
    assert!(
        err.contains("cannot reach containerd at") && err.contains("help:"),
        "{err}"
    );
    assert!(
        !err.contains("Compiling"),
        "nothing is compiled first: {err}"
    );
}
