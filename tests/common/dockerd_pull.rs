//! A Docker daemon for the push tests to pull with: Debian's `dockerd` (20.10) started on a
//! private socket with its own data and exec roots, no networking of its own (no iptables, no
//! bridge), driven by the preinstalled docker CLI through `DOCKER_HOST`. Docker trusts
//! 127.0.0.0/8 registries over plain HTTP by default, so it pulls from the harness registry
//! as is. One per test binary; a watcher stops it when the test process ends.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use super::registry::{harness_dir, spawn_watched};
use super::require;

pub struct Dockerd {
    pub host: String,
    pub dir: PathBuf,
}

impl Dockerd {
    pub fn start() -> Dockerd {
        let dockerd = require("dockerd");
        require("docker");
        let dir = harness_dir("dockerd");
        let sock = dir.join("docker.sock");
        let log = dir.join("dockerd.log");
        let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
        spawn_watched(
            &dockerd,
            &[
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--storage-driver=overlay2",
                "-H",
                &format!("unix://{}", sock.display()),
                "--data-root",
                &p("data"),
                "--exec-root",
                &p("exec"),
                "--pidfile",
                &p("docker.pid"),
            ],
            &log,
            &dir,
            &[],
        );
        let d = Dockerd {
            host: format!("unix://{}", sock.display()),
            dir,
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if sock.exists() && d.docker(&["version"]).status.success() {
                return d;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "dockerd did not come up within 60 s; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Runs the docker CLI against this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new(require("docker"))
            .env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", self.dir.join("cli-config"))
            .args(args)
            .output()
            .expect("the docker CLI runs")
    }

    /// Runs the docker CLI, panicking with its output unless it succeeds; returns stdout.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed:\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Registers qemu-user-static's aarch64 interpreter with binfmt_misc (mounting it first if
/// the machine booted without it), so arm64 containers run on this amd64 host. Idempotent; the
/// `F` flag of Debian's entry makes it work inside containers too.
pub fn ensure_qemu_aarch64() {
    let dir = std::path::Path::new("/proc/sys/fs/binfmt_misc");
    if dir.join("qemu-aarch64").exists() {
        return;
    }
    require("qemu-aarch64-static");
    if !dir.join("register").exists() {
        super::run_ok(Command::new("mount").args([
            "-t",
            "binfmt_misc",
            "binfmt_misc",
            "/proc/sys/fs/binfmt_misc",
        ]));
    }
    let conf = std::fs::read_to_string("/usr/lib/binfmt.d/qemu-aarch64.conf")
        .expect("qemu-user-static ships /usr/lib/binfmt.d/qemu-aarch64.conf: run scripts/test.sh");
    // Another test process may register it at the same moment: "File exists" is success.
    if let Err(e) = std::fs::write(dir.join("register"), conf.trim()) {
        assert!(
            dir.join("qemu-aarch64").exists(),
            "cannot register qemu-aarch64 with binfmt_misc: {e}"
        );
    }
}
