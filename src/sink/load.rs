//! `--load` (and `type=docker` with no dest): the docker-archive writer of `docker_archive.rs`
//! streamed into the daemon, as go-containerregistry's `daemon` is its `tarball` writer piped
//! into the daemon. Nothing is encoded twice or held whole.
//!
//! Which loader: `--loader`, else docker if it answers, else podman ([`find`]). The daemon is
//! the one the docker CLI would use (`DOCKER_HOST`, `DOCKER_CONTEXT`, the current context, or
//! `type=docker,context=NAME`; `docker_context.rs` resolves them as the CLI does). When that is
//! a unix socket, its API is spoken to directly (`engine.rs`: `GET /info`, `POST /images/load`,
//! no CLI process); any other endpoint, or a socket nothing answers on, goes through the docker
//! CLI (`docker info`, `docker load`), and podman through its own (`podman info`, `podman load`).
//! The probe reports the daemon's platform, which is the one loaded unless one is chosen;
//! a daemon on the containerd image store can keep an index, so it gets every platform as an
//! OCI archive instead. [`preflight`] asks all this before anything is compiled, and the answer
//! is kept for the sinks. Docker gets gzip copies of zstd layers (`gzip_copy.rs`); podman reads
//! zstd as it is.

use std::io::{self, Write};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

use super::archive::archive_spec;
use super::docker_archive::{self, repo_tags};
use super::docker_context;
use super::engine::{self, Engine, EngineError};
use super::{gzip_copy, oci_archive, Report, Sink};
use crate::image::layer;
use crate::image::model::ImageSet;
use crate::image::platform::Platform;
use crate::image::select::{choose, choose_platform};
use crate::image::store::BlobStore;
use crate::plan::output::{Loader, OutputSpec};
use crate::util::env::Environment;
use crate::util::process::{self, Fed, RunError};

/// How long a loader may take to answer `info`.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a loader may take to finish a load once the archive is sent.
const LOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// Loads one binary's image into docker or podman.
pub struct Load {
    /// None: docker if it answers, else podman.
    pub loader: Option<Loader>,
    /// A docker context (`docker --context`).
    pub context: Option<String>,
    /// None: the daemon's platform.
    pub platform: Option<Platform>,
    /// The run's loaders, probed once each.
    pub loaders: std::sync::Arc<Loaders>,
}

/// What a probe learned about a loader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Daemon {
    pub loader: Loader,
    pub context: Option<String>,
    /// For messages: `docker 20.10.24 at unix:///run/docker.sock`.
    pub name: String,
    /// The platform it runs containers for, when it says.
    pub platform: Option<Platform>,
    /// Whether it can keep an image index (docker on the containerd image store).
    pub keeps_index: bool,
    /// A `DOCKER_HOST` for the docker CLI, when we chose the socket (rootless podman's).
    pub host: Option<String>,
    /// The unix socket whose API answered the probe: loads go there directly, not through
    /// the CLI.
    pub api: Option<std::path::PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "cannot reach {program}{at}: {reason}\n  help: start it, point DOCKER_HOST or a docker \
         context at it, choose the other loader with --loader, or write a file instead with \
         --output type=docker,dest=image.tar"
    )]
    Unreachable {
        program: &'static str,
        at: String,
        reason: String,
    },
    #[error(
        "no docker or podman reachable to load into ({tried})\n  help: start docker or install \
         podman, set DOCKER_HOST or a docker context, or write a file instead with --output \
         type=docker,dest=image.tar"
    )]
    NoLoader { tried: String },
    #[error("{program} load refused the image: {message}")]
    Refused {
        program: &'static str,
        message: String,
    },
    #[error("{what} did not finish within {} s", .timeout.as_secs())]
    Timeout { what: String, timeout: Duration },
}

impl Sink for Load {
    fn describe(&self) -> String {
        let into = self.loader.map_or("docker or podman", Loader::program);
        format!("load into {into}")
    }

    fn write(&self, set: &ImageSet, store: &BlobStore) -> Result<Report> {
        let daemon = self
            .loaders
            .daemon_for(self.loader, self.context.as_deref())?;
        let env = &self.loaders.env;
        if daemon.keeps_index && self.platform.is_none() && set.images.len() > 1 {
            return load_all(&daemon, set, store, env);
        }
        let native = daemon.platform.clone().or_else(Platform::host);
        let (image, note) = choose(set, self.platform.as_ref(), native.as_ref(), &daemon.name)?;
        let (layers, repacked) = match daemon.loader {
            Loader::Docker => gzip_copy::without_zstd(&image.layers, store)?,
            Loader::Podman => (image.layers.clone(), false),
        };
        let loaded = stream_into(&daemon, env, |out| {
            docker_archive::write_docker_archive(set, image, &layers, store, out).map(drop)
        })?;
        let mut notes: Vec<String> = note.into_iter().collect();
        if repacked {
            notes.push(gzip_copy::note("docker"));
        }
        Ok(Report {
            destination: format!(
                "{} image into {} as {}",
                image.platform,
                daemon.name,
                names(&loaded, set)
            ),
            notes,
        })
    }
}

/// `(loader asked for, context)`: what a probe is asked.
type Probe = (Option<Loader>, Option<String>);

/// The loaders of one run: each `(loader, context)` is probed once, its answer kept for the
/// run's later loads (and only for this run: a later run may find another daemon).
#[derive(Debug)]
pub struct Loaders {
    env: Environment,
    probed: Mutex<Vec<(Probe, Daemon)>>,
}

impl Loaders {
    /// Loaders found through `env` (`DOCKER_HOST`, `DOCKER_CONTEXT`, `DOCKER_CONFIG`,
    /// `XDG_RUNTIME_DIR`).
    pub fn new(env: &Environment) -> Loaders {
        Loaders {
            env: env.clone(),
            probed: Mutex::new(Vec::new()),
        }
    }

    /// The loader for `loader` (None: the first that answers) and `context`, probed once.
    fn daemon_for(
        &self,
        loader: Option<Loader>,
        context: Option<&str>,
    ) -> Result<Daemon, LoadError> {
        let key = (loader, context.map(str::to_string));
        let known = |probed: &Vec<(Probe, Daemon)>| {
            probed
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, d)| d.clone())
        };
        if let Some(d) = self.probed.lock().ok().and_then(|p| known(&p)) {
            return Ok(d);
        }
        let daemon = match loader {
            Some(l) => probe(l, context, &self.env)?,
            None => find(&self.env)?,
        };
        if let Ok(mut p) = self.probed.lock() {
            p.push((key, daemon.clone()));
        }
        Ok(daemon)
    }

    /// Before anything is compiled: each `--load` output's loader answers, and the platform it
    /// would load is among the platforms planned for every image (`planned`: one list per
    /// image). A build that could not be delivered is not started.
    pub fn preflight(&self, outputs: &[OutputSpec], planned: &[Vec<Platform>]) -> Result<()> {
        preflight(self, outputs, planned)
    }
}

fn preflight(loaders: &Loaders, outputs: &[OutputSpec], planned: &[Vec<Platform>]) -> Result<()> {
    for output in outputs {
        let OutputSpec::Load {
            loader,
            context,
            platform,
        } = output
        else {
            continue;
        };
        let daemon = loaders.daemon_for(*loader, context.as_deref())?;
        let native = daemon.platform.clone().or_else(Platform::host);
        for platforms in planned {
            if daemon.keeps_index && platform.is_none() && platforms.len() > 1 {
                continue;
            }
            let built: Vec<&Platform> = platforms.iter().collect();
            choose_platform(&built, platform.as_ref(), native.as_ref(), &daemon.name)?;
        }
    }
    Ok(())
}

/// Every platform at once, as an OCI archive, for a daemon that keeps indexes.
fn load_all(
    daemon: &Daemon,
    set: &ImageSet,
    store: &BlobStore,
    env: &Environment,
) -> Result<Report> {
    let native = daemon
        .platform
        .as_ref()
        .filter(|p| set.image_for(p).is_some());
    let spec = archive_spec(oci_archive::archive_files(set, store, native)?.files);
    let loaded = stream_into(daemon, env, |out| layer::write_tar(&spec, 0, out).map(drop))?;
    Ok(Report {
        destination: format!(
            "{} platforms into {} as {}",
            set.images.len(),
            daemon.name,
            names(&loaded, set)
        ),
        notes: vec![format!(
            "{} keeps image indexes (containerd image store), so every platform was loaded",
            daemon.name
        )],
    })
}

/// The names the loader reported, else the ones we asked for.
fn names(loaded: &[String], set: &ImageSet) -> String {
    if loaded.is_empty() {
        repo_tags(set).join(", ")
    } else {
        crate::util::listing::short_list(loaded)
    }
}

/// Rootless podman's API socket, `$XDG_RUNTIME_DIR/podman/podman.sock`, when it exists.
fn podman_socket(env: &Environment) -> Option<String> {
    let sock = env.path("XDG_RUNTIME_DIR")?.join("podman/podman.sock");
    sock.exists().then(|| format!("unix://{}", sock.display()))
}

/// The first loader that answers: docker, then podman, then the docker CLI on rootless
/// podman's socket (a machine with podman's service running but no podman CLI on PATH).
pub fn find(env: &Environment) -> Result<Daemon, LoadError> {
    let mut tried = Vec::new();
    let socket = podman_socket(env);
    let mut candidates = vec![(Loader::Docker, None), (Loader::Podman, None)];
    if let Some(s) = socket.as_deref() {
        candidates.push((Loader::Docker, Some(s)));
    }
    for (l, host) in candidates {
        match probe_at(l, None, host, env) {
            Ok(d) => return Ok(d),
            Err(LoadError::Unreachable {
                program,
                at,
                reason,
            }) => tried.push(format!("{program}{at}: {reason}")),
            Err(e) => tried.push(e.to_string()),
        }
    }
    Err(LoadError::NoLoader {
        tried: tried.join("; "),
    })
}

/// Where the docker CLI will connect, for messages, with any credentials in it hidden.
fn docker_endpoint(context: Option<&str>, env: &Environment) -> String {
    let e = docker_context::resolve(context, env);
    match (e.host, e.context) {
        (Some(h), Some(c)) => format!(" at {} (context {c})", redact(&h)),
        (Some(h), None) => format!(" at {}", redact(&h)),
        (None, Some(c)) => format!(" (context {c})"),
        (None, None) => String::new(),
    }
}

/// `scheme://user:secret@host` → `scheme://***@host` ([`crate::util::redact::urls`]).
pub fn redact(url: &str) -> String {
    crate::util::redact::urls(url).into_owned()
}

/// Asks `loader` about itself.
pub fn probe(
    loader: Loader,
    context: Option<&str>,
    env: &Environment,
) -> Result<Daemon, LoadError> {
    probe_at(loader, context, None, env)
}

/// Asks `loader` about itself; `host` is a `DOCKER_HOST` of our choosing for the docker CLI.
fn probe_at(
    loader: Loader,
    context: Option<&str>,
    host: Option<&str>,
    env: &Environment,
) -> Result<Daemon, LoadError> {
    let program = loader.program();
    let at = match (loader, host) {
        (Loader::Docker, Some(h)) => format!(" at {h} (rootless podman's socket)"),
        (Loader::Docker, None) => docker_endpoint(context, env),
        (Loader::Podman, _) => String::new(),
    };
    let mut cmd = Command::new(program);
    if let Some(c) = context {
        cmd.args(["--context", c]);
    }
    if let Some(h) = host {
        cmd.env("DOCKER_HOST", h).env_remove("DOCKER_CONTEXT");
    }
    match loader {
        Loader::Docker => cmd.args(["info", "--format", "{{json .}}"]),
        Loader::Podman => cmd.args(["info", "--format", "json"]),
    };
    let unreachable = |reason: String| LoadError::Unreachable {
        program,
        at: at.clone(),
        reason: hide_host(&reason, env),
    };
    let daemon = |facts: Facts, api: Option<std::path::PathBuf>| Daemon {
        loader,
        context: context.map(str::to_string),
        name: format!("{program} {}{at}", facts.version),
        platform: facts.platform,
        keeps_index: facts.keeps_index,
        host: host.map(str::to_string),
        api,
    };
    if let Some(engine) = (loader == Loader::Docker)
        .then(|| api_socket(context, host, env))
        .flatten()
        .and_then(|socket| Engine::at(&socket))
    {
        match engine.info(PROBE_TIMEOUT) {
            Ok(info) => {
                return Ok(daemon(
                    docker_facts(&info),
                    Some(engine.socket().to_path_buf()),
                ))
            }
            // Nothing answered there: the CLI is asked, and its words say why.
            Err(EngineError::Unreachable { .. }) => {}
            Err(EngineError::Timeout { what, timeout }) => {
                return Err(LoadError::Timeout {
                    what: what.to_string(),
                    timeout,
                })
            }
            Err(EngineError::Refused(reason)) => return Err(unreachable(reason)),
        }
    }
    let out = match process::run(&mut cmd, PROBE_TIMEOUT, &format!("`{program} info`")) {
        Ok(o) => o,
        Err(e) if e.not_found() => {
            return Err(unreachable(format!("`{program}` is not installed")))
        }
        Err(RunError::Spawn { source, .. }) => {
            return Err(unreachable(format!("cannot run {program}: {source}")))
        }
        Err(RunError::Timeout { what, limit }) => {
            return Err(LoadError::Timeout {
                what,
                timeout: limit,
            })
        }
    };
    if !out.status.success() {
        return Err(unreachable(first_lines(&out)));
    }
    let info: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| unreachable(format!("`{program} info` printed no JSON ({e})")))?;
    let facts = match loader {
        Loader::Docker => docker_facts(&info),
        Loader::Podman => podman_facts(&info),
    };
    Ok(daemon(facts, None))
}

/// The unix socket the docker CLI would connect to for `context` (or `host`, a `DOCKER_HOST` of
/// our choosing), when it is one: None for tcp and ssh, and for a named context whose endpoint
/// cannot be read (the CLI knows it better).
fn api_socket(
    context: Option<&str>,
    host: Option<&str>,
    env: &Environment,
) -> Option<std::path::PathBuf> {
    let host = match host {
        Some(h) => Some(h.to_string()),
        None => {
            let e = docker_context::resolve(context, env);
            if e.context.is_some() && e.host.is_none() {
                return None;
            }
            e.host
        }
    };
    engine::socket_of(host.as_deref())
}

/// What an `info` document says.
#[derive(Debug, PartialEq, Eq)]
struct Facts {
    version: String,
    platform: Option<Platform>,
    keeps_index: bool,
}

/// From `docker info --format '{{json .}}'`: the server's version and platform (`OSType`, and
/// `Architecture` as uname prints it), and whether its `DriverStatus` names the containerd
/// snapshotter (the containerd image store, which keeps indexes).
fn docker_facts(info: &Value) -> Facts {
    let keeps_index = info["DriverStatus"].as_array().is_some_and(|rows| {
        rows.iter().any(|r| {
            r[0] == "driver-type"
                && r[1]
                    .as_str()
                    .is_some_and(|v| v.starts_with("io.containerd.snapshotter"))
        })
    });
    Facts {
        version: info["ServerVersion"].as_str().unwrap_or("?").to_string(),
        platform: from_uname(
            info["OSType"].as_str().unwrap_or("linux"),
            info["Architecture"].as_str().unwrap_or(""),
        ),
        keeps_index,
    }
}

/// From `podman info --format json`: `version.Version`, `host.os`, `host.arch` (Go names).
fn podman_facts(info: &Value) -> Facts {
    let host = &info["host"];
    let mut platform = from_uname(
        host["os"].as_str().unwrap_or("linux"),
        host["arch"].as_str().unwrap_or(""),
    );
    if let (Some(p), Some(v)) = (&mut platform, host["variant"].as_str()) {
        if !v.is_empty() && p.architecture == "arm" {
            p.variant = Some(v.to_string());
        }
    }
    Facts {
        version: info["version"]["Version"]
            .as_str()
            .unwrap_or("?")
            .to_string(),
        platform,
        keeps_index: false,
    }
}

/// A platform from an OS and a machine name as `uname -m` (or Go) prints it.
pub fn from_uname(os: &str, machine: &str) -> Option<Platform> {
    let (arch, variant) = match machine {
        "armv7l" | "armv7" | "armv8l" => ("arm", Some("v7")),
        "armv6l" | "armv6" => ("arm", Some("v6")),
        "armv5tel" | "armv5l" => ("arm", Some("v5")),
        "ppc64le" | "s390x" | "riscv64" | "amd64" | "arm64" | "386" | "loong64" | "mips64le" => {
            (machine, None)
        }
        "mips64" => ("mips64le", None),
        other => (other, None),
    };
    let text = match variant {
        Some(v) => format!("{os}/{arch}/{v}"),
        None => format!("{os}/{arch}"),
    };
    text.parse().ok()
}

/// Sends the archive `write` produces to the daemon, streaming: straight to its API when it
/// answered on a unix socket, else on the stdin of its CLI's `load`. Returns the names it
/// reports having loaded.
fn stream_into(
    daemon: &Daemon,
    env: &Environment,
    write: impl FnOnce(&mut dyn Write) -> Result<()> + Send,
) -> Result<Vec<String>> {
    match daemon.api.as_deref().and_then(Engine::at) {
        Some(engine) => stream_to_api(&engine, daemon, env, write),
        None => stream_to_cli(daemon, env, write),
    }
}

/// [`stream_into`] through the daemon's API.
fn stream_to_api(
    engine: &Engine,
    daemon: &Daemon,
    env: &Environment,
    write: impl FnOnce(&mut dyn Write) -> Result<()> + Send,
) -> Result<Vec<String>> {
    let program = daemon.loader.program();
    let loaded = engine.load(LOAD_TIMEOUT, write).map_err(|e| match e {
        EngineError::Refused(message) => LoadError::Refused {
            program,
            message: hide_host(&message, env),
        },
        EngineError::Timeout { what, timeout } => LoadError::Timeout {
            what: what.to_string(),
            timeout,
        },
        e @ EngineError::Unreachable { .. } => LoadError::Unreachable {
            program,
            at: String::new(),
            reason: e.to_string(),
        },
    })?;
    loaded
        .fed
        .with_context(|| format!("streaming the image into {}", daemon.name))?;
    Ok(loaded.names)
}

/// [`stream_into`] through the loader's CLI (`docker load`, `podman load`).
fn stream_to_cli(
    daemon: &Daemon,
    env: &Environment,
    write: impl FnOnce(&mut dyn Write) -> Result<()> + Send,
) -> Result<Vec<String>> {
    let program = daemon.loader.program();
    let mut cmd = Command::new(program);
    if let Some(c) = &daemon.context {
        cmd.args(["--context", c]);
    }
    if let Some(h) = &daemon.host {
        cmd.env("DOCKER_HOST", h).env_remove("DOCKER_CONTEXT");
    }
    cmd.arg("load");
    let what = format!("`{program} load`");
    let Fed {
        output,
        fed: written,
    } = process::run_feeding(&mut cmd, LOAD_TIMEOUT, &what, write).map_err(|e| match e {
        RunError::Timeout { what, limit } => LoadError::Timeout {
            what,
            timeout: limit,
        },
        e => LoadError::Unreachable {
            program,
            at: String::new(),
            reason: e.to_string(),
        },
    })?;
    let status = output.status;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    // Our own failure (a store read, say) comes first; a closed pipe means the loader stopped
    // reading, and its own message says why.
    if let Err(e) = &written {
        let closed = e.chain().any(|c| {
            c.downcast_ref::<io::Error>()
                .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
        });
        if !closed {
            return written
                .map(|()| Vec::new())
                .with_context(|| format!("streaming the image into `{program} load`"));
        }
    }
    if !status.success() {
        let message = if stderr.trim().is_empty() {
            format!("it exited with {status} and printed {}", stdout.trim())
        } else {
            stderr.trim().to_string()
        };
        return Err(LoadError::Refused {
            program,
            message: hide_host(&message, env),
        }
        .into());
    }
    written.with_context(|| format!("streaming the image into `{program} load`"))?;
    Ok(engine::names_in_report(&stdout))
}

/// `DOCKER_HOST` with its credentials hidden, wherever a message repeats it.
fn hide_host(text: &str, env: &Environment) -> String {
    match env.var("DOCKER_HOST") {
        Some(h) if redact(&h) != h => text.replace(&h, &redact(&h)),
        _ => text.to_string(),
    }
}

/// The first lines of what a failed command said, for an error message.
fn first_lines(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr);
    let text = if text.trim().is_empty() {
        String::from_utf8_lossy(&out.stdout)
    } else {
        text
    };
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(3)
        .collect();
    if lines.is_empty() {
        format!("it exited with {} and said nothing", out.status)
    } else {
        lines.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn docker_info_gives_platform_and_store_kind() {
        // As docker 20.10 prints it (classic store, overlay2).
        let classic = json!({
            "ServerVersion": "20.10.24+dfsg1", "OSType": "linux", "Architecture": "x86_64",
            "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]]
        });
        assert_eq!(
            docker_facts(&classic),
            Facts {
                version: "20.10.24+dfsg1".into(),
                platform: Some(Platform::new("linux", "amd64", None)),
                keeps_index: false
            }
        );
        // As docker 24+ prints it on the containerd image store, on a Raspberry Pi.
        let containerd = json!({
            "ServerVersion": "27.3.1", "OSType": "linux", "Architecture": "armv7l",
            "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]]
        });
        let f = docker_facts(&containerd);
        assert!(f.keeps_index);
        assert_eq!(f.platform, Some(Platform::new("linux", "arm", Some("v7"))));
    }

    #[test]
    fn podman_info_gives_platform() {
        let info =
            json!({"host": {"os": "linux", "arch": "arm64"}, "version": {"Version": "4.3.1"}});
        let f = podman_facts(&info);
        assert_eq!(f.platform, Some(Platform::new("linux", "arm64", None)));
        assert_eq!(f.version, "4.3.1");
        assert!(!f.keeps_index);
    }

    #[test]
    fn uname_names_map_to_platforms() {
        for (m, p) in [
            ("x86_64", "linux/amd64"),
            ("aarch64", "linux/arm64"),
            ("armv6l", "linux/arm/v6"),
            ("i686", "linux/386"),
            ("s390x", "linux/s390x"),
            ("ppc64le", "linux/ppc64le"),
        ] {
            assert_eq!(from_uname("linux", m).unwrap().to_string(), p, "{m}");
        }
        assert_eq!(from_uname("linux", "sparc64"), None);
    }

    #[test]
    fn credentials_in_urls_are_hidden() {
        assert_eq!(redact("tcp://user:secret@host:2376"), "tcp://***@host:2376");
        assert_eq!(redact("ssh://me@box"), "ssh://***@box");
        assert_eq!(
            redact("unix:///var/run/docker.sock"),
            "unix:///var/run/docker.sock"
        );
    }
}
