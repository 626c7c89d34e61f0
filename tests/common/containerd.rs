//! A private containerd (Debian's `containerd`, 1.6) for one test binary, after `dockerd.rs`:
//! started once, as root, with a `config.toml` of our own that puts its gRPC socket, root and
//! state in a temporary directory (the CRI plugin off: no kubelet here), and stopped when the
//! test binary exits. `ctr` (shipped with it) reaches it through `--address`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::processes::{
    alive, at_exit, clean_up, output_within, signal, spawn_tied, stdout_within,
};
use super::require;

pub struct Containerd {
    /// The gRPC socket's path.
    pub address: PathBuf,
    pub dir: PathBuf,
}

static CONTAINERD: OnceLock<Containerd> = OnceLock::new();

/// The containerd of this test binary, started on first use.
pub fn containerd() -> &'static Containerd {
    CONTAINERD.get_or_init(start)
}

impl Containerd {
    /// `ctr --address SOCK -n NAMESPACE`.
    pub fn ctr(&self, namespace: &str) -> Command {
        let mut c = Command::new(require("ctr"));
        c.arg("--address")
            .arg(&self.address)
            .args(["-n", namespace]);
        c
    }

    /// `ctr -n NAMESPACE ARGS` within two minutes; panics with its output unless it succeeds.
    pub fn run_ok(&self, namespace: &str, args: &[&str]) -> String {
        stdout_within(self.ctr(namespace).args(args))
    }

    /// `ctr -n NAMESPACE ARGS` within `limit`, whatever its exit status.
    pub fn output(&self, namespace: &str, args: &[&str], limit: Duration) -> Output {
        output_within(self.ctr(namespace).args(args), limit)
    }
}

fn start() -> Containerd {
    let containerd = require("containerd");
    require("ctr");
    require("runc");
    // Short: the socket paths (the shims' too, below the state dir) must fit in 108 bytes.
    let dir = tempfile::Builder::new()
        .prefix("ibct")
        .tempdir_in("/tmp")
        .expect("a temporary directory for containerd")
        .keep();
    let address = dir.join("c.sock");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{sock}\"\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n\
             [debug]\n  address = \"\"\n[metrics]\n  address = \"\"\n",
            root = dir.join("root").display(),
            state = dir.join("state").display(),
            sock = address.display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
    let mut cmd = Command::new(containerd);
    cmd.arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    let pid = spawn_tied(cmd, "containerd");
    let stop_dir = dir.clone();
    at_exit(move || stop(pid, &stop_dir));

    let c = Containerd { address, dir };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if c.output("default", &["version"], Duration::from_secs(20))
            .status
            .success()
        {
            return c;
        }
        if !alive(pid) || Instant::now() > deadline {
            let log = std::fs::read_to_string(c.dir.join("containerd.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            panic!(
                "containerd did not answer on {} within 60 s (scripts/test.sh installs \
                 containerd); its log ends:\n{}",
                c.address.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// TERM, then up to 20 s for a clean shutdown, then whatever is left that was started from
/// `dir` (shims), and the mounts below it.
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
