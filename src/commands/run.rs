//! `cargo imagebuild run`, after `ko run` and `cargo run`: one binary's image built for the
//! daemon's platform only, loaded into docker or podman under a dev tag (`BIN:dev`, through the
//! load sink), then run as `docker run --rm --init` would run it, with the container's exit code
//! for ours.
//!
//! [`RunOptions`] carries the build, the loader and the few `docker run` flags passed through
//! ([`RunFlags`]: `-i`, `-t`, `-p`, `-e`, `-v`, `--network`). The container gets a name of ours
//! (`imagebuild-run-<pid>`), so whatever way `docker run` ends — the program's exit, Ctrl-C (the
//! CLI forwards it; `--init` makes PID 1 act on it), a lost connection — [`Loaded::run`] removes the
//! container afterwards if it is still there: none is left running.

use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::events::Listener;
use crate::image::platform::{Platform, PlatformChoice};
use crate::plan::naming::Tag;
use crate::plan::options::Options;
use crate::plan::output::Loader;
use crate::plan::workspace;
use crate::run::build;
use crate::sink::load::{self, Daemon};
use crate::util::process;

/// The `docker run` flags passed through, as given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunFlags {
    /// `-i`: keep stdin open (the binary sets it when stdin is a terminal).
    pub interactive: bool,
    /// `-t`: a pseudo-terminal (the binary sets it when stdin and stdout are terminals).
    pub tty: bool,
    /// `-p HOST:CONTAINER` values.
    pub publish: Vec<String>,
    /// `-e KEY=VALUE` (or `-e KEY`) values.
    pub env: Vec<String>,
    /// `-v SRC:DEST[:OPTS]` values.
    pub volumes: Vec<String>,
    /// `--network NAME`.
    pub network: Option<String>,
}

/// What `run` is asked.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RunOptions {
    /// The build: its package and binary selection picks the one binary run (`--bin`, needed
    /// when the selection has several); platforms, outputs and tags are run's own.
    pub build: Options,
    /// `docker` or `podman` (None: docker if it answers, else podman).
    pub loader: Option<String>,
    /// The flags passed to `docker run`.
    pub flags: RunFlags,
    /// The program's arguments (after `--`): they replace the image's `cmd`.
    pub args: Vec<String>,
}

impl RunOptions {
    /// Running the binary `build` selects, with no flags and no arguments.
    pub fn new(build: Options) -> Self {
        RunOptions {
            build,
            loader: None,
            flags: RunFlags::default(),
            args: Vec::new(),
        }
    }
}

/// How long removing a leftover container may take.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(60);

/// The one binary to run: the `--bin` given, else the selection's only binary.
fn the_binary(opts: &Options) -> Result<(String, String)> {
    let (meta, _) = workspace::metadata(opts)?;
    let packages = workspace::select_packages(&meta, opts)?;
    let bins = workspace::select_bins(&packages, opts)?;
    match bins.as_slice() {
        [(p, b)] => Ok((p.name.to_string(), b.clone())),
        _ if opts.bins.len() > 1 => bail!(
            "run starts one binary and --bin names {}: give --bin once",
            opts.bins.join(", ")
        ),
        many => bail!(
            "run starts one binary and the selection has {}: {}; choose one with --bin NAME",
            many.len(),
            many.iter()
                .map(|(_, b)| b.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The `docker run` (or `podman run`) arguments for `image`, container `name`.
fn run_args(
    daemon: &Daemon,
    flags: &RunFlags,
    name: &str,
    image: &str,
    args: &[String],
) -> Vec<String> {
    let mut a: Vec<String> = vec!["run".into(), "--rm".into(), "--name".into(), name.into()];
    a.extend(init_args(daemon.loader));
    if flags.interactive {
        a.push("-i".into());
    }
    if flags.tty {
        a.push("-t".into());
    }
    if let Some(n) = &flags.network {
        a.extend(["--network".into(), n.clone()]);
    }
    for (flag, values) in [
        ("-p", &flags.publish),
        ("-e", &flags.env),
        ("-v", &flags.volumes),
    ] {
        for v in values {
            a.extend([flag.to_string(), v.clone()]);
        }
    }
    a.push(image.into());
    a.extend(args.iter().cloned());
    a
}

/// `--init` (an init as PID 1, which acts on Ctrl-C and reaps): docker ships its own
/// (`docker-init`); podman's default is catatonit, and where only Debian's static tini is
/// installed, that one.
fn init_args(loader: Loader) -> Vec<String> {
    match loader {
        Loader::Docker => vec!["--init".into()],
        Loader::Podman => {
            let catatonit = ["/usr/libexec/podman/catatonit", "/usr/bin/catatonit"];
            if catatonit.iter().any(|p| std::path::Path::new(p).exists()) {
                vec!["--init".into()]
            } else if std::path::Path::new("/usr/bin/tini-static").exists() {
                vec![
                    "--init".into(),
                    "--init-path".into(),
                    "/usr/bin/tini-static".into(),
                ]
            } else {
                Vec::new()
            }
        }
    }
}

/// The daemon's command line tool, pointed where the probe found the daemon.
fn cli(daemon: &Daemon) -> Command {
    let mut cmd = Command::new(daemon.loader.program());
    if let Some(c) = &daemon.context {
        cmd.args(["--context", c]);
    }
    if let Some(h) = &daemon.host {
        cmd.env("DOCKER_HOST", h).env_remove("DOCKER_CONTEXT");
    }
    cmd
}

/// A binary's image loaded into the daemon, ready to run ([`Loaded::run`]).
#[derive(Debug)]
pub struct Loaded {
    daemon: Daemon,
    tag: String,
    flags: RunFlags,
    args: Vec<String>,
}

/// Builds the binary `opts` selects for the daemon's platform (no other platform is
/// compiled) and loads it as `BIN:dev`; the caller ends its own display, then calls
/// [`Loaded::run`].
pub fn load(opts: &RunOptions, listener: impl Listener + 'static) -> Result<Loaded> {
    let (package, bin) = the_binary(&opts.build)?;
    let env = &opts.build.env;
    if opts
        .loader
        .as_deref()
        .is_some_and(|l| l.trim().eq_ignore_ascii_case("containerd"))
    {
        bail!(
            "run starts the container with docker or podman: give --loader docker or --loader \
             podman (to put the image into containerd, build with --load --loader containerd)"
        );
    }
    let loader = opts.loader.as_deref().map(Loader::parse).transpose()?;
    let daemon = match loader {
        Some(l) => load::probe(l, None, env)?,
        None => load::find(env)?,
    };
    let platform = daemon
        .platform
        .clone()
        .or_else(Platform::host)
        .with_context(|| format!("{} did not say its platform", daemon.name))?;
    let mut build_opts = opts.build.clone();
    build_opts.packages = vec![package];
    build_opts.workspace = false;
    build_opts.exclude.clear();
    build_opts.bins = vec![bin.clone()];
    build_opts.targets.clear();
    build_opts.platforms = PlatformChoice::parse(&[platform.to_string()])
        .with_context(|| format!("the platform of {}", daemon.name))?;
    build_opts.outputs.clear();
    build_opts.push = false;
    build_opts.load = true;
    build_opts.loader = Some(daemon.loader.program().to_string());
    build_opts.load_platform = None;
    let tag = format!("{bin}:dev");
    build_opts.settings.tags = Some(vec![Tag::Docker(tag.clone())]);
    build(&build_opts, listener)?;
    Ok(Loaded {
        daemon,
        tag,
        flags: opts.flags.clone(),
        args: opts.args.clone(),
    })
}

impl Loaded {
    /// The name the image was loaded under (`BIN:dev`).
    pub fn image(&self) -> &str {
        &self.tag
    }

    /// Runs the image in the foreground (stdin, stdout and stderr are this process's) and
    /// returns the container's exit code (128 + N when `docker run` itself was ended by signal
    /// N); the container is gone when this returns.
    pub fn run(&self) -> Result<i32> {
        start(&self.daemon, &self.flags, &self.tag, &self.args)
    }
}

fn start(daemon: &Daemon, flags: &RunFlags, tag: &str, args: &[String]) -> Result<i32> {
    let daemon = daemon.clone();
    let name = format!("imagebuild-run-{}", std::process::id());
    let mut cmd = cli(&daemon);
    cmd.args(run_args(&daemon, flags, &name, tag, args));
    // Ctrl-C reaches `docker run` too (one process group, or the container's terminal): it
    // stops the container, and this process waits for it rather than exiting first.
    crate::util::temp::child_owns_signals(true);
    let status = cmd
        .status()
        .with_context(|| format!("cannot run `{} run`", daemon.loader.program()));
    crate::util::temp::child_owns_signals(false);
    remove_leftover(&daemon, &name);
    let status = status?;
    use std::os::unix::process::ExitStatusExt;
    Ok(status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1))
}

/// Removes the container `name` if `docker run` left it (ended before its `--rm` took effect).
fn remove_leftover(daemon: &Daemon, name: &str) {
    let mut rm = cli(daemon);
    rm.args(["rm", "-f", name]);
    let _ = process::run(&mut rm, REMOVE_TIMEOUT, "removing the container");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_pass_through_in_order() {
        let daemon = Daemon {
            loader: Loader::Docker,
            context: None,
            name: "docker".into(),
            platform: None,
            keeps_index: false,
            host: None,
            api: None,
        };
        let flags = RunFlags {
            interactive: true,
            tty: false,
            publish: vec!["8080:8080".into()],
            env: vec!["A=1".into(), "B".into()],
            volumes: vec!["/tmp:/data:ro".into()],
            network: Some("none".into()),
        };
        let a = run_args(&daemon, &flags, "n", "api:dev", &["x".into(), "-y".into()]);
        assert_eq!(
            a.join(" "),
            "run --rm --name n --init -i --network none -p 8080:8080 -e A=1 -e B -v \
             /tmp:/data:ro api:dev x -y"
        );
    }
}
