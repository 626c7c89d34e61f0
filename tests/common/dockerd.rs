//! A private Docker daemon (Debian's `docker.io`, 20.10) for one test binary: started once, on
//! a unix socket in its own temporary directory with its own data and exec roots, no iptables
//! and no bridge (DESIGN.md's flags), and stopped when the test binary exits. Commands reach it
//! through `DOCKER_HOST` and a private `DOCKER_CONFIG`, never through the machine's own daemon.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::processes::{
    alive, at_exit, clean_up, first_of_json_array, output_within, signal, spawn_tied, stdout_within,
};
use super::require;

pub struct Dockerd {
    /// `unix:///tmp/…/d.sock`
    pub host: String,
    /// A private docker CLI configuration directory.
    pub config: PathBuf,
    pub dir: PathBuf,
}

static DOCKERD: OnceLock<Dockerd> = OnceLock::new();

/// The daemon of this test binary, started on first use.
pub fn dockerd() -> &'static Dockerd {
    DOCKERD.get_or_init(start)
}

impl Dockerd {
    /// Points `cmd` (the docker CLI, or our binary's loader) at this daemon only.
    pub fn env<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", &self.config)
            .env_remove("DOCKER_CONTEXT")
    }

    /// The docker CLI, talking to this daemon.
    pub fn docker(&self) -> Command {
        let mut c = Command::new(require("docker"));
        self.env(&mut c);
        c
    }

    /// `docker ARGS` within two minutes, whatever its exit status (for tests that expect it to
    /// fail).
    pub fn output(&self, args: &[&str]) -> Output {
        output_within(self.docker().args(args), Duration::from_secs(120))
    }

    /// `docker ARGS` within two minutes; panics with its output unless it succeeds.
    pub fn run_ok(&self, args: &[&str]) -> String {
        stdout_within(self.docker().args(args))
    }

    /// `docker image inspect` of a reference, parsed.
    pub fn inspect(&self, reference: &str) -> serde_json::Value {
        first_of_json_array(&self.run_ok(&["image", "inspect", reference]))
    }
}

fn start() -> Dockerd {
    let dockerd = require("dockerd");
    require("docker");
    // Short: the socket path (and containerd's, below the exec root) must fit in 108 bytes.
    let dir = tempfile::Builder::new()
        .prefix("ibdk")
        .tempdir_in("/tmp")
        .expect("a temporary directory for dockerd")
        .keep();
    let host = format!("unix://{}", dir.join("d.sock").display());
    let config = dir.join("config");
    std::fs::create_dir_all(&config).unwrap();
    let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
    let mut cmd = Command::new(dockerd);
    cmd.args([
        "--iptables=false",
        "--ip6tables=false",
        "--bridge=none",
        "--storage-driver=overlay2",
        "-H",
        &host,
    ])
    .arg("--data-root")
    .arg(dir.join("data"))
    .arg("--exec-root")
    .arg(dir.join("e"))
    .arg("--pidfile")
    .arg(dir.join("d.pid"))
    .stdin(Stdio::null())
    .stdout(log.try_clone().unwrap())
    .stderr(log);
    let pid = spawn_tied(cmd, "dockerd");
    let stop_dir = dir.clone();
    at_exit(move || stop(pid, &stop_dir));

    let d = Dockerd { host, config, dir };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut probe = d.docker();
        probe.args(["info", "--format", "{{.ServerVersion}}"]);
        if output_within(&mut probe, Duration::from_secs(20))
            .status
            .success()
        {
            return d;
        }
        if !alive(pid) || Instant::now() > deadline {
            let log = std::fs::read_to_string(d.dir.join("dockerd.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            panic!(
                "dockerd did not answer on {} within 60 s (scripts/test.sh installs docker.io); \
                 its log ends:\n{}",
                d.host,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// TERM, then up to 20 s for a clean shutdown (it stops its own containerd), then whatever is
/// left that was started from `dir`.
fn stop(pid: u32, dir: &Path) {
    signal(pid, "TERM");
    let deadline = Instant::now() + Duration::from_secs(20);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if alive(pid) {
        signal(pid, "KILL");
    }
    clean_up(dir);
}
