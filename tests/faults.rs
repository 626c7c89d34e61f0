//! Faults that heal, and faults that fail clearly and in time: a push and a base pull through a
//! fault-injecting proxy (`common/faults.rs`) in front of the real registry. Where a retry can
//! succeed, the run succeeds and says it retried; where it cannot, it fails within the deadline
//! `--registry-timeout`/`--retries` set, naming the problem. After each push, skopeo (reading
//! the registry directly, not through the proxy) checks that the tag points at a whole image, or
//! that no tag was written.
//!
//! The protocol's own guards are tested the same way: a proxy's 413 body limit (uploads go on in
//! pieces), bytes that do not match their digest (refused, nothing written), where credentials
//! go (only to the registry's origin and the token realm it names), and the one `/v2/` probe.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::LazyLock;

use common::faults::{Fault, FaultProxy, Kind, Seen};
use common::registry::{http_get, Kind as RegistryKind, Registry, PASSWORD, USER};
use common::token::{base64_std, Witness};
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

/// 503s on manifests, a 500 on a blob check, a 429 with `Retry-After: 1` on another, a 429, and
/// a connection reset in the middle of a blob upload: each is retried (and said so), the push
/// succeeds and the tag is whole.
#[test]
fn push_heals_through_server_errors_and_resets() {
    let reg = &*PLAIN;
    let proxy = FaultProxy::start(&reg.addr);
    let work = tempfile::tempdir().unwrap();
    proxy.set(vec![
        fault("HEAD", "/blobs/", 1, Kind::Status(500)),
        fault("HEAD", "/blobs/", 1, Kind::RetryAfter("1".into())),
        fault("POST", "/blobs/uploads/", 1, Kind::Status(429)),
        fault("PUT", "/blobs/uploads/", 1, Kind::ResetUpload(512)),
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
        err.contains("in 1.0 s") && err.contains("HTTP 429"),
        "a Retry-After on a push is waited: {err}"
    );
    assert!(
        proxy.spoiled.load(std::sync::atomic::Ordering::SeqCst) >= 5,
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

/// Runs `cmd` to its end, reading the peak memory (VmHWM, in KiB) of its process from /proc
/// while it runs; returns the output and the highest peak seen.
fn run_watching_memory(cmd: &mut Command) -> (std::process::Output, u64) {
    use std::io::Read;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    // Drained on their own threads, so a chatty child never blocks on a full pipe.
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let mut peak = 0;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            let hwm = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
            peak = peak.max(hwm.unwrap_or(0));
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let output = std::process::Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    (output, peak)
}

/// A manifest that claims 2 GiB, one that streams without a length, and a token service that
/// streams without end: each fails at once with the cap and the URL named, writes nothing, and
/// the process stays small while the proxy offers gigabytes.
#[test]
fn oversized_manifests_and_tokens_fail_at_their_cap_in_little_memory() {
    let reg = &*PLAIN;
    let proxy = FaultProxy::start(&reg.addr);
    let work = tempfile::tempdir().unwrap();
    for (name, faults, cap, url) in [
        (
            "claimed",
            vec![fault(
                "GET",
                "/manifests/",
                1,
                Kind::Oversized(Some(2 << 30)),
            )],
            "larger than the 4 MiB cap",
            "/v2/claimed/manifests/1",
        ),
        (
            "streamed",
            vec![fault("GET", "/manifests/", 1, Kind::Oversized(None))],
            "larger than the 4 MiB cap",
            "/v2/streamed/manifests/1",
        ),
        (
            "token",
            vec![
                fault("GET", "/v2/$", usize::MAX, Kind::Challenge),
                fault("GET", "/token", 1, Kind::Oversized(None)),
            ],
            "larger than the 512 KiB cap",
            "/token",
        ),
    ] {
        proxy.set(faults);
        let dest = work.path().join(name);
        let (out, peak_kib) = run_watching_memory(
            tool(work.path())
                .args(["-p", "server", "--bin", "api", "--platform", "linux/amd64"])
                .arg("--base")
                .arg(format!("{}/{name}:1", proxy.addr))
                .arg("-o")
                .arg(format!("type=oci,dest={}", dest.display())),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(cap) && err.contains(url), "{name}: {err}");
        assert!(
            !err.contains("retrying"),
            "{name}: a cap is not retried: {err}"
        );
        assert!(!dest.exists(), "{name}: nothing written");
        assert!(
            peak_kib > 0 && peak_kib < 150 << 10,
            "{name}: the process grew to {peak_kib} KiB"
        );
        eprintln!("{name}: peak memory {} MiB", peak_kib >> 10);
    }
}

/// A manifest, a token and a (small) blob that arrive one byte a second: each attempt ends at
/// the 3 s deadline, naming what it was fetching, and the run fails within the request's
/// overall deadline (2 attempts of 3 s and a 0.5 s backoff), counted from the first request.
#[test]
fn a_trickling_manifest_or_token_fails_within_the_deadline() {
    let reg = &*PLAIN;
    let proxy = FaultProxy::start(&reg.addr);
    let work = tempfile::tempdir().unwrap();
    let every = std::time::Duration::from_secs(1);
    // A base whose manifest passes and whose config blob trickles.
    run_ok(
        tool(work.path())
            .args(ctl())
            .args(["--push", "-t", &format!("{}/tbase:1", reg.addr)]),
    );
    for (name, faults, path, said) in [
        (
            "trickle",
            vec![fault(
                "GET",
                "/manifests/",
                usize::MAX,
                Kind::Trickle(every),
            )],
            "/manifests/",
            format!(
                "pulling the manifest http://{}/v2/trickle/manifests/1",
                proxy.addr
            ),
        ),
        (
            "slowtoken",
            vec![
                fault("GET", "/v2/$", usize::MAX, Kind::Challenge),
                fault("GET", "/token", usize::MAX, Kind::Trickle(every)),
            ],
            "/token",
            format!(
                "authorizing with http://{}/v2/ and its token service",
                proxy.addr
            ),
        ),
        (
            "tbase",
            vec![fault(
                "GET",
                "/blobs/sha256:",
                usize::MAX,
                Kind::Trickle(every),
            )],
            "/blobs/",
            "downloading blob ".to_string(),
        ),
    ] {
        proxy.set(faults);
        let out = tool(work.path())
            .args(["-p", "server", "--bin", "api", "--platform", "linux/amd64"])
            .args(["--retries", "1", "--base"])
            .arg(format!("{}/{name}:1", proxy.addr))
            .args(["-o", "type=cacheonly"])
            .output()
            .unwrap();
        let ended = std::time::Instant::now();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.contains(&said) && err.contains(": no answer within 3 s"),
            "{name}: {err}"
        );
        let first = proxy
            .seen()
            .into_iter()
            .find(|s| s.spoiled && s.path.contains(path))
            .unwrap_or_else(|| panic!("{name}: the fault was never met: {err}"));
        let took = ended - first.at;
        assert!(
            took < std::time::Duration::from_secs(12),
            "{name}: failed {took:?} after the first request (deadline 6.5 s)"
        );
    }
}

/// A 429 with `Retry-After: 2`, and one with an HTTP date 3 s ahead: the pull waits as asked
/// (the proxy's clock shows the gap), says so, and succeeds. A `Retry-After` beyond the
/// request's overall deadline fails at once, saying so.
#[test]
fn retry_after_is_honoured_within_the_deadline() {
    let reg = &*PLAIN;
    let work = tempfile::tempdir().unwrap();
    run_ok(
        tool(work.path())
            .args(ctl())
            .args(["--push", "-t", &format!("{}/rabase:1", reg.addr)]),
    );
    let proxy = FaultProxy::start(&reg.addr);
    for (name, kind, at_least) in [
        ("seconds", Kind::RetryAfter("2".into()), 1.9),
        ("date", Kind::RetryAfterDate(3), 1.5),
    ] {
        proxy.set(vec![fault("GET", "/manifests/", 1, kind)]);
        let run = work.path().join(name);
        let out = run_ok(
            tool(&run)
                .args(["-p", "server", "--bin", "api", "--platform", "linux/amd64"])
                .arg("--base")
                .arg(format!("{}/rabase:1", proxy.addr))
                .arg("-o")
                .arg(format!("type=oci,dest={}", run.join("layout").display())),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("retrying") && err.contains("HTTP 429"),
            "{name}: {err}"
        );
        let gets: Vec<_> = proxy
            .seen()
            .into_iter()
            .filter(|s| s.method == "GET" && s.path.contains("/manifests/"))
            .collect();
        assert!(gets.len() >= 2 && gets[0].spoiled, "{name}: {gets:?}");
        let gap = (gets[1].at - gets[0].at).as_secs_f64();
        assert!(gap >= at_least, "{name}: retried after {gap} s");
        validate_layout(&run.join("layout"));
    }
    proxy.set(vec![fault(
        "GET",
        "/manifests/",
        1,
        Kind::RetryAfter("100".into()),
    )]);
    let started = std::time::Instant::now();
    let err = run_err(
        tool(work.path())
            .args(["-p", "server", "--bin", "api", "--platform", "linux/amd64"])
            .arg("--base")
            .arg(format!("{}/rabase:1", proxy.addr))
            .args(["-o", "type=cacheonly"]),
    );
    assert!(
        err.contains("asked to be retried in 100 s (Retry-After), more than the"),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "{err}"
    );
}

/// SIGKILL while a blob upload hangs (the proxy holds its PUT): no tag is written; the next
/// run pushes the whole image and leaves no temporary of the killed run anywhere.
#[test]
fn a_push_killed_mid_upload_tags_nothing_and_the_next_run_succeeds() {
    let reg = &*PLAIN;
    let proxy = FaultProxy::start(&reg.addr);
    let work = tempfile::tempdir().unwrap();
    proxy.set(vec![fault(
        "PUT",
        "/blobs/uploads/",
        usize::MAX,
        Kind::Stall,
    )]);
    let target = format!("{}/killed:1", proxy.addr);
    let mut child = tool(work.path())
        .args(ctl())
        .args(["--push", "-t", &target])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while proxy.spoiled.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the push ended before uploading"
        );
        assert!(std::time::Instant::now() < until, "no upload ever started");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    run_ok(Command::new("kill").args(["-KILL", &pid.to_string()]));
    assert!(!child.wait().unwrap().success());
    assert!(
        !tagged(reg, &format!("{}/killed:1", reg.addr)),
        "no tag points at an incomplete image"
    );
    proxy.set(Vec::new());
    run_ok(
        tool(work.path())
            .args(ctl())
            .args(["--push", "-t", &target]),
    );
    whole_in_registry(&format!("{}/killed:1", reg.addr), work.path());
    let dirs = [
        work.path().to_path_buf(),
        shared_target_dir().join("imagebuild"),
    ];
    let left = temporaries_of(pid, &dirs);
    assert!(
        left.is_empty(),
        "the killed run's temporaries remain: {left:?}"
    );
}

/// The deadline and the retries come from the command line, else their environment variables,
/// else `[workspace.metadata.imagebuild]`: a stalled manifest shows which were used.
#[test]
fn registry_deadlines_from_flags_env_and_workspace_config() {
    let reg = &*PLAIN;
    let proxy = FaultProxy::start(&reg.addr);
    proxy.set(vec![fault("GET", "/manifests/", usize::MAX, Kind::Stall)]);
    let work = tempfile::tempdir().unwrap();
    let ws = one_package_workspace(
        &work.path().join("ws"),
        "deadlines",
        "registry-timeout = 2\nretries = 0\n",
    );
    let (timeout, retries) = (
        "CARGO_IMAGEBUILD_REGISTRY_TIMEOUT",
        "CARGO_IMAGEBUILD_RETRIES",
    );
    /// Flags, environment, what the error says, and the retry line (None: no retry).
    type Case<'a> = (
        &'a [&'a str],
        &'a [(&'a str, &'a str)],
        &'a str,
        Option<&'a str>,
    );
    let cases: [Case; 3] = [
        (&[], &[], "no answer within 2 s", None),
        (
            &[],
            &[(timeout, "1"), (retries, "1")],
            "no answer within 1 s",
            Some("(retry 1 of 1)"),
        ),
        (
            &["--registry-timeout", "3"],
            &[(timeout, "1")],
            "no answer within 3 s",
            None,
        ),
    ];
    for (args, env, within, retried) in cases {
        let err = run_err(
            imagebuild_isolated_in(&ws, work.path())
                .args(args)
                .envs(env.iter().copied())
                .args(["--platform", "linux/amd64", "--base"])
                .arg(format!("{}/deadlines:1", proxy.addr))
                .args(["-o", "type=cacheonly"]),
        );
        assert!(err.contains(within), "{args:?} {env:?}: {err}");
        match retried {
            Some(said) => assert!(err.contains(said), "{args:?} {env:?}: {err}"),
            None => assert!(!err.contains("retrying"), "{args:?} {env:?}: {err}"),
        }
    }
}

/// The manifest of the one platform `reference` (in `reg`, by `repo:tag`) holds.
fn platform_manifest(reg: &Registry, reference: &str) -> serde_json::Value {
    let top = reg.skopeo_raw(&format!("{}/{reference}", reg.addr));
    match top["manifests"][0]["digest"].as_str() {
        Some(d) => {
            let repo = reference.split(':').next().unwrap();
            reg.skopeo_raw(&format!("{}/{repo}@{d}", reg.addr))
        }
        None => top,
    }
}

/// A fault path is `&'static`: one made at run time lives as long as the test process.
fn leaked(path: String) -> &'static str {
    path.leak()
}

/// How many times `seen` asked `/v2/` (the challenge probe).
fn v2_probes(seen: &[Seen]) -> usize {
    seen.iter()
        .filter(|s| s.method == "GET" && s.path == "/v2/")
        .count()
}

/// A proxy whose body limit refuses a whole blob with 413 (as nginx's `client_max_body_size`
/// does): the push says so once, sends that blob in pieces (PATCH, then a closing PUT), keeps
/// doing so for the rest of the run (the config, small enough for one request, goes in pieces
/// too), and skopeo reads the image whole.
#[test]
fn a_413_body_limit_turns_uploads_into_pieces_for_the_rest_of_the_run() {
    let reg = &*PLAIN;
    let proxy = FaultProxy::start(&reg.addr);
    let work = tempfile::tempdir().unwrap();
    let limit = 64 << 10;
    proxy.set(vec![fault(
        "PUT",
        "/blobs/uploads/",
        usize::MAX,
        Kind::TooLarge(limit),
    )]);
    let out = run_ok(tool(work.path()).args(ctl()).args([
        "--push",
        "-t",
        &format!("{}/pieces:1", proxy.addr),
    ]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.matches("(HTTP 413").count(),
        1,
        "the fallback is said once: {err}"
    );
    assert!(err.contains("in 4 MiB pieces from now on"), "{err}");
    let seen = proxy.seen();
    let refused: Vec<&Seen> = seen.iter().filter(|s| s.spoiled).collect();
    assert!(!refused.is_empty(), "the limit was met: {seen:?}");
    assert!(refused
        .iter()
        .all(|s| s.method == "PUT" && s.content_length.is_some_and(|n| n > limit)));
    let patches: Vec<&Seen> = seen.iter().filter(|s| s.method == "PATCH").collect();
    assert!(
        patches.len() >= refused.len()
            && patches
                .iter()
                .all(|s| s.content_length.is_some_and(|n| n > 0 && n <= 4 << 20)),
        "{patches:?}"
    );
    whole_in_registry(&format!("{}/pieces:1", reg.addr), work.path());
    let config = platform_manifest(reg, "pieces:1")["config"]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let closing: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.method == "PUT" && s.path.contains(&config))
        .collect();
    assert!(
        closing.len() == 1 && closing[0].content_length == Some(0),
        "the config went in pieces after the switch, closed by an empty PUT: {closing:?}"
    );
    assert_eq!(v2_probes(&seen), 1, "/v2/ asked once: {seen:?}");
}

/// Every file of the blob cache under `dir` hashes to its name: no corrupt blob was kept and
/// no staged download was left.
fn only_whole_blobs_in(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            only_whole_blobs_in(&path);
        } else if dir.file_name().is_some_and(|n| n == "sha256") {
            use sha2::Digest as _;
            let name = e.file_name().to_string_lossy().into_owned();
            let hex: String = sha2::Sha256::digest(std::fs::read(&path).unwrap())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(
                name,
                hex,
                "{} is not the blob its name says",
                path.display()
            );
        }
    }
}

/// Bytes that do not hash to the digest they were asked by — a base layer, a base manifest
/// by tag or by digest — are refused as a digest mismatch (not as a broken-off download, and
/// not retried), and nothing is written: no layout, no blob in the base-layer cache. Copied
/// into another registry, a corrupt base layer fails the copy before its last byte: no tag,
/// and the target does not hold the blob.
#[test]
fn bytes_that_do_not_match_their_digest_are_refused_and_nothing_is_written() {
    let reg = &*PLAIN;
    let work = tempfile::tempdir().unwrap();
    run_ok(tool(work.path()).args(ctl()).args([
        "--push",
        "-t",
        &format!("{}/cpacked:1", reg.addr),
    ]));
    // Our own layers are in the build's store already, so a layout never downloads them:
    // recompressed by skopeo, they are layers of a base this machine has never seen. (Into a
    // fresh layout first: copied registry to registry, skopeo may reuse the blobs it knows
    // there instead of recompressing.)
    let zstd = work.path().join("zstd");
    run_ok(
        Command::new(require("skopeo"))
            .args([
                "copy",
                "--src-tls-verify=false",
                "--dest-compress-format",
                "zstd",
            ])
            .arg(format!("docker://{}/cpacked:1", reg.addr))
            .arg(format!("oci:{}:1", zstd.display())),
    );
    run_ok(
        Command::new(require("skopeo"))
            .args(["copy", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:1", zstd.display()))
            .arg(format!("docker://{}/cbase:1", reg.addr)),
    );
    let manifest = platform_manifest(reg, "cbase:1");
    assert!(
        manifest["layers"][0]["mediaType"]
            .as_str()
            .is_some_and(|m| m.ends_with("zstd")),
        "skopeo recompressed the base: {manifest}"
    );
    let layer = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|l| l["size"].as_u64())
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    // The index's digest: of its exact bytes, as skopeo reads them.
    let index_digest = {
        use sha2::Digest as _;
        let mut c = Command::new(require("skopeo"));
        c.args(["inspect", "--raw"])
            .args(reg.skopeo_flags())
            .arg(format!("docker://{}/cbase:1", reg.addr));
        let raw = run_ok(&mut c).stdout;
        let hex: String = sha2::Sha256::digest(&raw)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha256:{hex}")
    };
    let proxy = FaultProxy::start(&reg.addr);
    let api = ["-p", "server", "--bin", "api", "--platform", "linux/amd64"];
    let layer_fault = || {
        vec![fault(
            "GET",
            leaked(format!("/blobs/{layer}")),
            usize::MAX,
            Kind::Corrupt,
        )]
    };
    let cases = [
        ("layer", layer_fault(), format!("{}/cbase:1", proxy.addr)),
        (
            "manifest by tag",
            vec![fault("GET", "/manifests/", usize::MAX, Kind::Corrupt)],
            format!("{}/cbase:1", proxy.addr),
        ),
        (
            "manifest by digest",
            vec![fault("GET", "/manifests/", usize::MAX, Kind::Corrupt)],
            format!("{}/cbase@{index_digest}", proxy.addr),
        ),
    ];
    for (name, faults, base) in cases {
        proxy.set(faults);
        let dest = work.path().join("layout");
        let err = run_err(
            tool(work.path())
                .args(api)
                .arg("--base")
                .arg(&base)
                .arg("-o")
                .arg(format!("type=oci,dest={}", dest.display())),
        );
        assert!(err.contains("digest mismatch"), "{name}: {err}");
        assert!(
            !err.contains("retrying") && !err.contains("broke off"),
            "{name}: a mismatch is not a network fault: {err}"
        );
        assert!(
            proxy.spoiled.load(std::sync::atomic::Ordering::SeqCst) >= 1,
            "{name}: the fault was met"
        );
        assert!(!dest.exists(), "{name}: no layout written");
        only_whole_blobs_in(&work.path().join("cache"));
    }
    assert!(
        !walk_names(&work.path().join("cache"))
            .iter()
            .any(|n| n.contains(layer.trim_start_matches("sha256:"))),
        "the corrupt layer is nowhere in the cache"
    );

    // Streamed from the base's registry (the proxy) into another (the registry itself).
    proxy.set(layer_fault());
    let err = run_err(
        tool(work.path())
            .args(api)
            .arg("--base")
            .arg(format!("{}/cbase:1", proxy.addr))
            .args(["--push", "-t", &format!("{}/ccopy:1", reg.addr)]),
    );
    assert!(
        err.contains("digest mismatch") && err.contains(&layer),
        "{err}"
    );
    assert!(!err.contains("retrying"), "{err}");
    assert!(!tagged(reg, &format!("{}/ccopy:1", reg.addr)), "no tag");
    let (status, _) = http_get(&reg.addr, &format!("/v2/ccopy/blobs/{layer}")).unwrap();
    assert_eq!(status, 404, "the target never committed the corrupt blob");
}

/// The names of every file under `dir`.
fn walk_names(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            names.extend(walk_names(&e.path()));
        } else {
            names.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    names
}

/// A Docker config with our test user's credentials for `host`, for DOCKER_CONFIG.
fn credentials_for(host: &str, dir: &Path) -> std::path::PathBuf {
    let cfg = dir.join("docker-config");
    std::fs::create_dir_all(&cfg).unwrap();
    let auth = base64_std(format!("{USER}:{PASSWORD}").as_bytes());
    std::fs::write(
        cfg.join("config.json"),
        format!("{{\"auths\":{{\"{host}\":{{\"auth\":\"{auth}\"}}}}}}"),
    )
    .unwrap();
    cfg
}

/// A registry (the proxy) whose challenge names a token service on another port: the
/// credentials go to that realm alone, as Basic; the registry gets only the Bearer token; an
/// upload session on another host (an absolute `Location` elsewhere) gets no `Authorization`;
/// a realm that redirects to yet another port passes on no credentials; `/v2/` is asked once.
#[test]
fn credentials_go_only_to_the_realm_the_registry_names() {
    let reg = &*PLAIN;
    let proxy = FaultProxy::start(&reg.addr);
    let elsewhere = FaultProxy::start(&reg.addr);
    let realm = Witness::start();
    let work = tempfile::tempdir().unwrap();
    let creds = credentials_for(&proxy.addr, work.path());
    let basic = format!(
        "Basic {}",
        base64_std(format!("{USER}:{PASSWORD}").as_bytes())
    );
    proxy.set(vec![
        fault(
            "GET",
            "/v2/$",
            usize::MAX,
            Kind::ChallengeTo(realm.realm.clone()),
        ),
        fault(
            "POST",
            "/blobs/uploads/",
            usize::MAX,
            Kind::LocationVia(elsewhere.addr.clone()),
        ),
    ]);
    let out = run_ok(
        tool(work.path())
            .env("DOCKER_CONFIG", &creds)
            .args(ctl())
            .args(["--push", "-t", &format!("{}/realm:1", proxy.addr)]),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains(PASSWORD), "{text}");
    let asked = realm.seen();
    assert!(!asked.is_empty(), "the token service was asked");
    for (path, authorization) in &asked {
        assert_eq!(authorization.as_deref(), Some(basic.as_str()), "{path}");
        assert!(
            path.contains("service=faults")
                && path.contains("scope=repository%3Arealm%3Apull%2Cpush"),
            "{path}"
        );
    }
    let seen = proxy.seen();
    assert!(
        seen.iter()
            .all(|s| s.authorization.as_deref() != Some("Basic")),
        "the Bearer registry never gets the password: {seen:?}"
    );
    assert!(
        seen.iter()
            .any(|s| s.method == "PUT" && s.authorization.as_deref() == Some("Bearer")),
        "its requests carry the token: {seen:?}"
    );
    let uploads = elsewhere.seen();
    assert!(
        !uploads.is_empty() && uploads.iter().all(|s| s.authorization.is_none()),
        "an upload session on another host gets no credentials: {uploads:?}"
    );
    assert_eq!(v2_probes(&seen), 1, "/v2/ asked once: {seen:?}");
    whole_in_registry(&format!("{}/realm:1", reg.addr), work.path());

    // The realm redirects to another port: the token comes from there, without credentials.
    let far = Witness::start();
    let redirecting = Witness::redirecting(&far.realm);
    proxy.set(vec![fault(
        "GET",
        "/v2/$",
        usize::MAX,
        Kind::ChallengeTo(redirecting.realm.clone()),
    )]);
    run_ok(
        tool(work.path())
            .env("DOCKER_CONFIG", &creds)
            .args(ctl())
            .args(["--push", "-t", &format!("{}/redirected:1", proxy.addr)]),
    );
    let first = redirecting.seen();
    assert!(
        !first.is_empty()
            && first
                .iter()
                .all(|(_, a)| a.as_deref() == Some(basic.as_str())),
        "{first:?}"
    );
    let second = far.seen();
    assert!(
        !second.is_empty() && second.iter().all(|(_, a)| a.is_none()),
        "a redirect to another port receives no Authorization: {second:?}"
    );
    whole_in_registry(&format!("{}/redirected:1", reg.addr), work.path());
}

/// A push whose base lives in the same registry pulls and pushes through one host: `/v2/` is
/// asked once in the run, not before each request.
#[test]
fn v2_is_asked_once_per_host_per_run() {
    let reg = &*PLAIN;
    let proxy = FaultProxy::start(&reg.addr);
    let work = tempfile::tempdir().unwrap();
    run_ok(
        tool(work.path())
            .args(ctl())
            .args(["--push", "-t", &format!("{}/obase:1", reg.addr)]),
    );
    proxy.set(Vec::new());
    run_ok(
        tool(work.path())
            .args(["-p", "server", "--bin", "api", "--platform", "linux/amd64"])
            .arg("--base")
            .arg(format!("{}/obase:1", proxy.addr))
            .args(["--push", "-t", &format!("{}/once:1", proxy.addr)]),
    );
    let seen = proxy.seen();
    assert!(seen.len() > 5, "the run went through the proxy: {seen:?}");
    assert_eq!(v2_probes(&seen), 1, "{seen:?}");
    whole_in_registry(&format!("{}/once:1", reg.addr), work.path());
}

/// A token the registry refuses (the issuer leaves `push` out of the first one it grants: the
/// registry sees what it would see of an expired token) is renewed when the registry answers
/// 401, and the request sent again once: the push succeeds.
#[test]
fn a_token_the_registry_refuses_is_renewed() {
    let reg = Registry::start(RegistryKind::TokenNarrowFirst);
    let work = tempfile::tempdir().unwrap();
    let creds = reg.docker_config(PASSWORD, work.path());
    run_ok(
        tool(work.path())
            .env("DOCKER_CONFIG", &creds)
            .args(ctl())
            .args(["--push", "-t", &format!("{}/renewed:1", reg.addr)]),
    );
    let log = reg.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("/v2/renewed/blobs/uploads/") && l.contains("\" 401 ")),
        "the first token was refused: {log}"
    );
    let index = reg.skopeo_raw(&format!("{}/renewed:1", reg.addr));
    assert!(index["manifests"].as_array().is_some_and(|m| !m.is_empty()));
}
