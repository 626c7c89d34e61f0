//! `cargo imagebuild doctor`: checks this machine for what building the requested platforms
//! needs — the Rust standard library of each target, its linker and C compiler (the same
//! route decision a build makes, on a scratch base), zig and cargo-zigbuild, a loader
//! (docker or podman, on PATH and answering) and a registry credentials file — and prints a
//! table with the fix for each missing piece, then the fixes grouped into one command per
//! package manager ([`fix_steps`]: one `rustup target add`, one `apt-get install`, other commands
//! once each). Only [`Status::Missing`] rows make it fail: a standard library rustup can add is
//! [`Status::Installable`] (a build adds it itself), and pieces only some builds need are
//! [`Status::Optional`]. With `--fix`, [`apply`] runs the grouped commands.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::image::platform::PlatformChoice;
use crate::plan::options::FeatureArgs;
use crate::plan::parse_targets;
use crate::plan::toolchain::Toolchain;
pub use crate::provision::install::{apply, is_root, Step};
use crate::route::crossgcc::debian_cross;
use crate::route::tools::{output_within, zig_version, Tools};
use crate::route::{self, Builder, CCompiler, Linker, RouteError, RouteRequest};
use crate::util::env::Environment;
use crate::util::process;

/// What `doctor` is asked about.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DoctorOptions {
    /// OCI platforms (comma lists allowed); none: this machine's.
    pub platforms: Vec<String>,
    /// Rust target triples.
    pub targets: Vec<String>,
    /// The builder to check for (`--builder`).
    pub builder: Option<Builder>,
    /// The workspace whose dependency graph decides whether a C compiler is needed.
    pub manifest_path: Option<PathBuf>,
    /// Extra cargo `--config` values (a linker configured there counts).
    pub cargo_config: Vec<String>,
    /// The environment the checks read (default: the process's).
    pub env: Environment,
}

impl Default for DoctorOptions {
    fn default() -> DoctorOptions {
        DoctorOptions {
            platforms: Vec::new(),
            targets: Vec::new(),
            builder: None,
            manifest_path: None,
            cargo_config: Vec::new(),
            env: Environment::from_process(),
        }
    }
}

/// How one check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// Here and working.
    Ok,
    /// Needed and not here: the run fails.
    Missing,
    /// A standard library that is not installed but that rustup can add (a build adds it
    /// itself); does not fail the run, and its fix is still offered.
    Installable,
    /// Optional, or only needed in some cases; does not fail the run.
    Optional,
}

/// What installs a missing piece, grouped with the others of its kind by [`fix_steps`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fix {
    /// Debian packages.
    Apt(Vec<String>),
    /// A Rust standard library: `rustup target add TRIPLE`.
    RustupTarget(String),
    /// Any other command, run by `sh -c` as shown.
    Shell(String),
}

/// One row of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Check {
    /// What was checked: `linux/arm64 (aarch64-unknown-linux-musl) linker`.
    pub what: String,
    /// How it came out.
    pub status: Status,
    /// What was found, and the fix when something is missing.
    pub detail: String,
    /// What installs it, when something does.
    pub fix: Option<Fix>,
}

impl Check {
    /// A row with no fix.
    pub fn new(what: impl Into<String>, status: Status, detail: impl Into<String>) -> Check {
        row(what, status, detail)
    }

    /// This row, with `fix`.
    pub fn with_fix(mut self, fix: Option<Fix>) -> Check {
        self.fix = fix;
        self
    }
}

fn row(what: impl Into<String>, status: Status, detail: impl Into<String>) -> Check {
    Check {
        what: what.into(),
        status,
        detail: detail.into(),
        fix: None,
    }
}

/// The command that installs zig.
pub const PIP_ZIG: &str = "python3 -m pip install ziglang";
/// The command that installs cargo-zigbuild.
pub const CARGO_ZIGBUILD: &str = "cargo install --locked cargo-zigbuild";

/// Runs every check.
pub fn run(opts: &DoctorOptions) -> Result<Vec<Check>> {
    crate::plan::checks::cargo_config(&opts.cargo_config)?;
    let mut checks = Vec::new();
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let manifest = opts.manifest_path.clone().or_else(|| find_manifest(&cwd));
    let dir = manifest
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or(cwd);
    let env = &opts.env;
    let toolchain = match Toolchain::detect(&dir, env) {
        Ok(t) => {
            checks.push(row(
                "rust",
                Status::Ok,
                format!("sysroot {}", t.sysroot().display()),
            ));
            Some(t)
        }
        Err(e) => {
            checks.push(row(
                "rust",
                Status::Missing,
                format!("{e:#}; fix: install Rust from https://rustup.rs"),
            ));
            None
        }
    };
    let tools = Tools::detect(toolchain.as_ref().map(Toolchain::host), env)
        .with_provisioned_zig(crate::provision::zig::cached(env));
    let mut rustup_targets: Option<Option<String>> = None;

    let listed = match PlatformChoice::parse(&opts.platforms).context("--platform")? {
        Some(PlatformChoice::List(l)) => l,
        Some(PlatformChoice::All) => bail!(
            "--platform all means the base image's platforms, which doctor does not look up: \
             name the platforms (--platform linux/amd64,linux/arm64)"
        ),
        None => Vec::new(),
    };
    let wanted = crate::plan::requested(parse_targets(&opts.targets)?, listed)?;

    for (platform, explicit) in &wanted {
        let Some(tc) = &toolchain else { break };
        let triple = tc.choose(platform, explicit.as_deref())?;
        let name = format!("{platform} ({triple})");
        if tc.has_std(&triple) {
            checks.push(row(format!("{name} std"), Status::Ok, "installed"));
        } else {
            let available = rustup_targets.get_or_insert_with(|| rustup_target_list(tc));
            let fix = Some(Fix::RustupTarget(triple.clone()));
            checks.push(match available {
                Some(list) if list.lines().any(|l| l.split_whitespace().next() == Some(&triple)) => {
                    row(
                        format!("{name} std"),
                        Status::Installable,
                        format!("not installed; rustup can add it (a build does so itself). fix: rustup target add {triple}"),
                    )
                    .with_fix(fix)
                }
                Some(_) => row(
                    format!("{name} std"),
                    Status::Missing,
                    format!("rustup has no standard library for {triple}: choose another target with --target"),
                ),
                None => row(
                    format!("{name} std"),
                    Status::Missing,
                    format!("not installed, and rustup was not found. fix: rustup target add {triple} (install rustup from https://rustup.rs)"),
                ),
            });
        }
        // Read the graph when we are in a workspace; C code only matters for musl targets.
        let graph = manifest
            .as_ref()
            .map(|m| crate::route::cdeps::graph(m, &triple, &[], &FeatureArgs::default()).ok());
        let builds_c = match (&graph, triple.contains("-linux-musl")) {
            (Some(g), true) => g.as_ref().map(|g| g.c_builders.clone()),
            _ => Some(Vec::new()),
        };
        let graph = graph.flatten();
        let openssl = graph
            .as_ref()
            .is_some_and(|g| g.system_openssl && route::user_openssl(&triple, env).is_none());
        let builds_cxx = match (&graph, triple.contains("-linux-musl")) {
            (Some(g), true) => g.cxx_builders.clone(),
            _ => Vec::new(),
        };
        let build_tools = graph
            .as_ref()
            .map(|g| g.build_tools.clone())
            .unwrap_or_default();
        let system_libs = graph.map(|g| g.system_libs).unwrap_or_default();
        let req = RouteRequest {
            triple: &triple,
            builds_c: builds_c.clone().unwrap_or_default(),
            builds_cxx,
            build_tools,
            openssl,
            system_libs,
            static_base: Some("scratch"),
            on_scratch: true,
            glibc: None,
            glibc_origin: None,
            forced: opts.builder,
            workspace_root: &dir,
            cargo_config: &opts.cargo_config,
        };
        route_rows(
            &name,
            &triple,
            route::resolve(&req, &tools),
            builds_c.is_none(),
            tc,
            &tools,
            &mut checks,
        );
    }

    checks.push(match tools.zig() {
        Some(z) => row(
            "zig",
            Status::Ok,
            format!("{} ({})", z.describe(), zig_version(z).unwrap_or_default()),
        ),
        None => row(
            "zig",
            Status::Optional,
            "not found; needed for C code on musl targets and for --builder zigbuild. fix: pip install ziglang",
        )
        .with_fix(Some(Fix::Shell(PIP_ZIG.into()))),
    });
    checks.push(match tools.zigbuild() {
        Some(p) => row("cargo-zigbuild", Status::Ok, p.display().to_string()),
        None => row(
            "cargo-zigbuild",
            Status::Optional,
            "not found; needed for --builder zigbuild. fix: cargo install --locked cargo-zigbuild",
        )
        .with_fix(Some(Fix::Shell(CARGO_ZIGBUILD.into()))),
    });
    checks.push(loader(&tools));
    checks.push(credentials(env));
    Ok(checks)
}

/// Rows for a target's route: linker and C compiler, or what is missing.
fn route_rows(
    name: &str,
    triple: &str,
    route: Result<route::Route, RouteError>,
    graph_unknown: bool,
    tc: &Toolchain,
    tools: &Tools,
    checks: &mut Vec<Check>,
) {
    let fix_of = |e: &RouteError| e.to_string().replace("\n  ", " ");
    let route = match route {
        Ok(r) => r,
        Err(e @ RouteError::NoLinker { .. }) => {
            let fix = debian_cross(triple)
                .map(|d| Fix::Apt(vec![d.gcc_package.into(), d.libc_package.into()]));
            checks.push(row(format!("{name} linker"), Status::Missing, fix_of(&e)).with_fix(fix));
            return;
        }
        Err(e @ RouteError::NoMuslCCompiler { .. }) => {
            checks.push(row(format!("{name} linker"), Status::Ok, "rust-lld"));
            checks.push(
                row(format!("{name} C compiler"), Status::Missing, fix_of(&e))
                    .with_fix(Some(Fix::Shell(PIP_ZIG.into()))),
            );
            return;
        }
        Err(e) => {
            let fix = match &e {
                RouteError::BuilderMissing { program, .. } => match program.as_str() {
                    "cargo-zigbuild" => Some(Fix::Shell(CARGO_ZIGBUILD.into())),
                    "zig" => Some(Fix::Shell(PIP_ZIG.into())),
                    "cross" => Some(Fix::Shell("cargo install --locked cross".into())),
                    _ => None,
                },
                _ => None,
            };
            checks.push(row(format!("{name} builder"), Status::Missing, fix_of(&e)).with_fix(fix));
            return;
        }
    };
    let linker = match &route.linker {
        Linker::RustLld => {
            let lld = tc
                .sysroot()
                .join("lib/rustlib")
                .join(&tools.host)
                .join("bin/rust-lld");
            if lld.is_file() {
                row(
                    format!("{name} linker"),
                    Status::Ok,
                    format!("rust-lld ({})", lld.display()),
                )
            } else {
                row(
                    format!("{name} linker"),
                    Status::Missing,
                    format!("rust-lld is not in {}: fix: rustup toolchain install --force-non-host stable (it ships with rustc)", lld.display()),
                )
            }
        }
        Linker::HostCc => match tools.which("cc") {
            Some(cc) => row(
                format!("{name} linker"),
                Status::Ok,
                format!("cc ({})", cc.display()),
            ),
            None => row(
                format!("{name} linker"),
                Status::Missing,
                "cc is not on PATH. fix: apt-get install gcc libc6-dev",
            )
            .with_fix(Some(Fix::Apt(vec!["gcc".into(), "libc6-dev".into()]))),
        },
        Linker::Gcc(p) => row(
            format!("{name} linker"),
            Status::Ok,
            p.display().to_string(),
        ),
        Linker::User { linker, from } => row(
            format!("{name} linker"),
            Status::Ok,
            format!("{linker} (yours, from {from})"),
        ),
        Linker::Builder => row(
            format!("{name} linker"),
            Status::Ok,
            format!("{} brings its own", route.builder),
        ),
        Linker::Zig { zig, target } => row(
            format!("{name} linker"),
            Status::Ok,
            format!("{} cc -target {target}", zig.describe()),
        ),
        Linker::Default => row(format!("{name} linker"), Status::Ok, "cargo's default"),
    };
    checks.push(linker);
    let c = match &route.c_compiler {
        CCompiler::Gcc { cc, .. } => row(
            format!("{name} C compiler"),
            Status::Ok,
            cc.display().to_string(),
        ),
        CCompiler::Zig { zig, target } => row(
            format!("{name} C compiler"),
            Status::Ok,
            format!(
                "{} cc -target {target} (for {})",
                zig.describe(),
                route.builds_c.join(", ")
            ),
        ),
        CCompiler::User(cc) => row(
            format!("{name} C compiler"),
            Status::Ok,
            format!("{cc} (yours)"),
        ),
        CCompiler::Default if triple.contains("-linux-musl") && route.builder == Builder::Cargo => {
            match (tools.zig(), graph_unknown) {
                (Some(z), _) => row(
                    format!("{name} C compiler"),
                    Status::Ok,
                    format!("{} cc, when C code needs it", z.describe()),
                ),
                (None, false) => row(
                    format!("{name} C compiler"),
                    Status::Ok,
                    "none needed: nothing in the dependency graph builds C",
                ),
                (None, true) => row(
                    format!("{name} C compiler"),
                    Status::Optional,
                    "none; only crates with C code need one (zig). fix: pip install ziglang",
                )
                .with_fix(Some(Fix::Shell(PIP_ZIG.into()))),
            }
        }
        CCompiler::Default => row(
            format!("{name} C compiler"),
            Status::Ok,
            format!("{}'s default", route.builder),
        ),
    };
    checks.push(c);
}

/// docker or podman, on PATH and answering.
fn loader(tools: &Tools) -> Check {
    let mut seen = Vec::new();
    for (name, args) in [
        (
            "docker",
            &["version", "--format", "{{.Server.Version}}"][..],
        ),
        ("podman", &["version", "--format", "{{.Version}}"][..]),
    ] {
        let Some(p) = tools.which(name) else { continue };
        let out = output_within(Command::new(&p).args(args), Duration::from_secs(10));
        match out {
            Some(o) if o.status.success() => {
                let v = String::from_utf8_lossy(&o.stdout).trim().to_string();
                return row(
                    "loader",
                    Status::Ok,
                    format!("{name} {v} ({})", p.display()),
                );
            }
            _ => seen.push(format!("{name} is on PATH but does not answer")),
        }
    }
    let what = if seen.is_empty() {
        "neither docker nor podman is on PATH".to_string()
    } else {
        seen.join("; ")
    };
    row(
        "loader",
        Status::Optional,
        format!("{what}; needed only to load images into a local engine. fix: apt-get install podman (or docker.io, and start dockerd)"),
    )
    .with_fix(Some(Fix::Apt(vec!["podman".into()])))
}

/// Where registry credentials would be read from, if any file exists (never its contents).
fn credentials(env: &Environment) -> Check {
    let home = env.path("HOME");
    let candidates: Vec<PathBuf> = [
        env.path("DOCKER_CONFIG").map(|d| d.join("config.json")),
        home.as_ref().map(|h| h.join(".docker/config.json")),
        env.path("REGISTRY_AUTH_FILE"),
        env.path("XDG_RUNTIME_DIR")
            .map(|d| d.join("containers/auth.json")),
        home.as_ref()
            .map(|h| h.join(".config/containers/auth.json")),
    ]
    .into_iter()
    .flatten()
    .collect();
    match candidates.iter().find(|p| p.is_file()) {
        Some(p) => row("credentials", Status::Ok, format!("{}", p.display())),
        None => row(
            "credentials",
            Status::Optional,
            "no docker or podman credentials file; pushing to a registry that needs a login will fail. fix: docker login REGISTRY (or podman login)",
        ),
    }
}

/// `rustup target list` as seen from the workspace (its overrides apply), or `None` without
/// rustup.
fn rustup_target_list(tc: &Toolchain) -> Option<String> {
    let out = process::run(
        Command::new("rustup")
            .args(["target", "list"])
            .current_dir(tc.dir()),
        Duration::from_secs(60),
        "`rustup target list`",
    )
    .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The fixes of the rows that match `wanted`, grouped: one `rustup target add` (first), one
/// `apt-get install` (packages sorted, deduplicated), then every other command once, in order.
pub fn group_fixes(checks: &[Check], wanted: impl Fn(Status) -> bool) -> Vec<Step> {
    let mut targets = std::collections::BTreeSet::new();
    let mut packages = std::collections::BTreeSet::new();
    let mut others: Vec<String> = Vec::new();
    for c in checks.iter().filter(|c| wanted(c.status)) {
        match &c.fix {
            Some(Fix::RustupTarget(t)) => {
                targets.insert(t.clone());
            }
            Some(Fix::Apt(p)) => packages.extend(p.iter().cloned()),
            Some(Fix::Shell(cmd)) if !others.contains(cmd) => others.push(cmd.clone()),
            _ => {}
        }
    }
    let mut steps = Vec::new();
    if !targets.is_empty() {
        steps.push(Step::Rustup(targets.into_iter().collect()));
    }
    if !packages.is_empty() {
        steps.push(Step::Apt(packages.into_iter().collect()));
    }
    steps.extend(others.into_iter().map(Step::Shell));
    steps
}

/// What `--fix` runs: the grouped fixes of the needed rows (missing, and standard libraries
/// rustup can add).
pub fn fix_steps(checks: &[Check]) -> Vec<Step> {
    group_fixes(checks, |s| {
        matches!(s, Status::Missing | Status::Installable)
    })
}

/// The nearest `Cargo.toml` at or above `dir`.
fn find_manifest(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .map(|d| d.join("Cargo.toml"))
        .find(|p| p.is_file())
}

/// How many rows are missing pieces.
pub fn missing(checks: &[Check]) -> usize {
    checks
        .iter()
        .filter(|c| c.status == Status::Missing)
        .count()
}
