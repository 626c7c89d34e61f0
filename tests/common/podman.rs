//! A private podman (4.3, rootful, no daemon) for one test binary: its own `CONTAINERS_CONF`,
//! `CONTAINERS_STORAGE_CONF` and `CONTAINERS_REGISTRIES_CONF` in a temporary directory, with the
//! settings DESIGN.md found to run containers here (runc — crun fails —, cgroupfs, fixed
//! ulimits, no network namespace, events to a file) and vfs storage so nothing stays mounted.
//! Set up once; at exit, anything started from that directory is stopped and it is removed.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use super::processes::{at_exit, clean_up, first_of_json_array, stdout_within};
use super::require;

pub struct Podman {
    pub dir: PathBuf,
}

static PODMAN: OnceLock<Podman> = OnceLock::new();

/// The podman setup of this test binary, made on first use.
pub fn podman() -> &'static Podman {
    PODMAN.get_or_init(setup)
}

impl Podman {
    /// Points `cmd` (podman, or our binary's loader) at this private configuration and storage.
    pub fn env<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", self.dir.join("storage.conf"))
            .env(
                "CONTAINERS_REGISTRIES_CONF",
                self.dir.join("registries.conf"),
            )
            .env_remove("CONTAINER_HOST")
            .env_remove("CONTAINER_CONNECTION")
    }

    pub fn podman(&self) -> Command {
        let mut c = Command::new(require("podman"));
        self.env(&mut c);
        c
    }

    /// `podman ARGS` within two minutes; panics with its output unless it succeeds.
    pub fn run_ok(&self, args: &[&str]) -> String {
        stdout_within(self.podman().args(args))
    }

    /// `podman image inspect` of a reference, parsed.
    pub fn inspect(&self, reference: &str) -> serde_json::Value {
        first_of_json_array(&self.run_ok(&["image", "inspect", reference]))
    }
}

fn setup() -> Podman {
    require("podman");
    require("runc");
    let dir = tempfile::Builder::new()
        .prefix("ibpm")
        .tempdir_in("/tmp")
        .expect("a temporary directory for podman")
        .keep();
    let d = dir.display();
    std::fs::write(
        dir.join("containers.conf"),
        format!(
            "[containers]\n\
             default_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n\
             netns = \"none\"\n\
             [engine]\n\
             cgroup_manager = \"cgroupfs\"\n\
             events_logger = \"file\"\n\
             events_logfile_path = \"{d}/events.log\"\n\
             runtime = \"runc\"\n\
             tmp_dir = \"{d}/tmp\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("storage.conf"),
        format!("[storage]\ndriver = \"vfs\"\ngraphroot = \"{d}/root\"\nrunroot = \"{d}/run\"\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("registries.conf"),
        "unqualified-search-registries = []\nshort-name-mode = \"permissive\"\n",
    )
    .unwrap();
    let clean = dir.clone();
    at_exit(move || clean_up(&clean));
    let p = Podman { dir };
    p.run_ok(&["info", "--format", "{{.Host.OCIRuntime.Name}}"]);
    p
}
