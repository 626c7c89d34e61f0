//! Runs the fixes of `doctor --fix` and `--install-missing`: a [`Step`] is one grouped
//! command (`rustup target add`, `apt-get install -y`, or another line), run as root or with
//! `sudo`, its output streaming as it goes, bounded by a deadline.

use std::process::Command;
use std::time::Duration;

use anyhow::Result;

use crate::util::process;

/// One grouped fix: every row's fix of one kind in one command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// `rustup target add` of every triple.
    Rustup(Vec<String>),
    /// `apt-get install -y` of every package (after `apt-get update`), as root.
    Apt(Vec<String>),
    /// Another command, as shown.
    Shell(String),
}

impl Step {
    /// The command line as shown to the user (`sudo` when not root).
    pub fn display(&self) -> String {
        match self {
            Step::Rustup(t) => format!("rustup target add {}", t.join(" ")),
            Step::Apt(p) => format!("{}apt-get install -y {}", sudo(), p.join(" ")),
            Step::Shell(c) => c.clone(),
        }
    }
}

/// Whether this process runs as root (the fixes then need no `sudo`).
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the effective user of this process.
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn sudo() -> &'static str {
    if is_root() {
        ""
    } else {
        "sudo "
    }
}

/// Runs the grouped fixes in order, their output streaming to ours; stops at the first that fails.
///
/// These run through `process::run_streaming`, not `process::run`: an `apt-get install` can
/// download for minutes and the user should see its progress (and any prompt for a sudo
/// password on the terminal) as it happens, not all at once at the end; the deadline still
/// bounds each one (30 min for installs, 10 for `apt-get update`).
pub fn apply(steps: &[Step]) -> Result<()> {
    apply_with(steps, false)
}

/// [`apply`] for a build (`--install-missing`): the commands' output goes to stderr, since a
/// build's stdout carries its results.
pub fn apply_for_build(steps: &[Step]) -> Result<()> {
    apply_with(steps, true)
}

fn apply_with(steps: &[Step], stdout_to_stderr: bool) -> Result<()> {
    const INSTALL: Duration = Duration::from_secs(30 * 60);
    for step in steps {
        let mut cmds: Vec<(Command, Duration, String)> = Vec::new();
        let as_root = |args: &[&str]| {
            let mut c = if is_root() {
                Command::new(args[0])
            } else {
                let mut c = Command::new("sudo");
                c.arg(args[0]);
                c
            };
            c.args(&args[1..]).env("DEBIAN_FRONTEND", "noninteractive");
            c
        };
        match step {
            Step::Rustup(targets) => {
                let mut c = Command::new("rustup");
                c.args(["target", "add"]).args(targets);
                cmds.push((c, INSTALL, step.display()));
            }
            Step::Apt(packages) => {
                cmds.push((
                    as_root(&["apt-get", "update"]),
                    Duration::from_secs(10 * 60),
                    format!("{}apt-get update", sudo()),
                ));
                let mut c = as_root(&["apt-get", "install", "-y"]);
                c.args(packages);
                cmds.push((c, INSTALL, step.display()));
            }
            Step::Shell(line) => {
                let mut c = Command::new("sh");
                c.args(["-c", line]);
                cmds.push((c, INSTALL, line.clone()));
            }
        }
        for (mut cmd, limit, shown) in cmds {
            eprintln!("+ {shown}");
            let status = if stdout_to_stderr {
                process::run_streaming_on_stderr(&mut cmd, limit, &format!("`{shown}`"))?
            } else {
                process::run_streaming(&mut cmd, limit, &format!("`{shown}`"))?
            };
            if !status.success() {
                anyhow::bail!("`{shown}` failed ({status})");
            }
        }
    }
    Ok(())
}
