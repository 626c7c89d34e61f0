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
