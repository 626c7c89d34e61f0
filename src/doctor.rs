//! `cargo imagebuild doctor`: checks this machine for what building the requested platforms
//! needs — the Rust standard library of each target, its linker and C compiler (the same
//! [`crate::route`] decision a build makes, on a scratch base), zig and cargo-zigbuild, a loader
//! (docker or podman, on PATH and answering) and a registry credentials file — and prints a
//! table with the fix for each missing piece, then the fixes grouped into one command per
//! package manager ([`fix_steps`]: one `rustup target add`, one `apt-get install`, other commands
//! once each). Only [`Status::Missing`] rows make it fail: a standard library rustup can add is
//! [`Status::Installable`] (a build adds it itself), and pieces only some builds need are
//! [`Status::Optional`]. With `--fix`, [`apply`] runs the grouped commands.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::image::platform::{self, Platform};
use crate::plan::options::FeatureArgs;
use crate::plan::toolchain::Toolchain;
use crate::route::crossgcc::debian_cross;
use crate::route::tools::{output_within, zig_version, Tools};
use crate::route::{self, Builder, CCompiler, Linker, RouteError, RouteRequest};
use crate::util::process;

/// What `doctor` is asked about.
#[derive(Clone, Debug, Default)]
pub struct DoctorOptions {
    pub platforms: Vec<String>,
    pub targets: Vec<String>,
    pub builder: Option<Builder>,
    pub manifest_path: Option<PathBuf>,
    pub cargo_config: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
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
pub struct Check {
    pub what: String,
    pub status: Status,
    pub detail: String,
    pub fix: Option<Fix>,
}

impl Check {
    fn with_fix(mut self, fix: Option<Fix>) -> Check {
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

const PIP_ZIG: &str = "python3 -m pip install ziglang";
const CARGO_ZIGBUILD: &str = "cargo install --locked cargo-zigbuild";

/// Runs every check.
pub fn run(opts: &DoctorOptions) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let manifest = opts.manifest_path.clone().or_else(|| find_manifest(&cwd));
    let dir = manifest
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or(cwd);
    let toolchain = match Toolchain::detect(&dir) {
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
    let tools = Tools::detect(toolchain.as_ref().map(Toolchain::host))
        .with_provisioned_zig(crate::build::zig::cached());
    let mut rustup_targets: Option<Option<String>> = None;

    let mut wanted: Vec<(Platform, Option<String>)> = Vec::new();
    for t in opts
        .targets
        .iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        wanted.push((Platform::from_triple(t)?, Some(t.to_string())));
    }
    for p in
        platform::parse_list(opts.platforms.iter().map(String::as_str)).context("--platform")?
    {
        if !wanted.iter().any(|(w, _)| *w == p) {
            wanted.push((p, None));
        }
    }
    if wanted.is_empty() {
        let host = Platform::host()
            .context("this machine's platform is not in the table: pass --platform")?;
        wanted.push((host, None));
    }

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
            .is_some_and(|g| g.system_openssl && route::user_openssl(&triple).is_none());
        let system_libs = graph.map(|g| g.system_libs).unwrap_or_default();
        let req = RouteRequest {
            triple: &triple,
            builds_c: builds_c.clone().unwrap_or_default(),
            openssl,
            system_libs,
            static_base: Some("scratch"),
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
    checks.push(credentials());
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
fn credentials() -> Check {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let home = env("HOME");
    let candidates: Vec<PathBuf> = [
        env("DOCKER_CONFIG").map(|d| d.join("config.json")),
        home.as_ref().map(|h| h.join(".docker/config.json")),
        env("REGISTRY_AUTH_FILE"),
        env("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json")),
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

fn is_root() -> bool {
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

/// The "To fix:" block (what `--fix` runs), then the optional fixes, which it does not run.
pub fn render_fixes(checks: &[Check]) -> String {
    let mut out = String::new();
    let needed = fix_steps(checks);
    if !needed.is_empty() {
        out.push_str("\nTo fix (or run `cargo imagebuild doctor --fix`):\n");
        for s in &needed {
            let _ = writeln!(out, "  {}", s.display());
        }
    }
    let optional = group_fixes(checks, |s| s == Status::Optional);
    if !optional.is_empty() {
        out.push_str("\nOptional (only some builds need these; --fix leaves them out):\n");
        for s in &optional {
            let _ = writeln!(out, "  {}", s.display());
        }
    }
    out
}

/// Whether to run the fixes: yes with `--yes`; on a terminal, the user's answer; else a refusal.
pub fn confirm(yes: bool) -> Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    if yes {
        return Ok(true);
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        anyhow::bail!(
            "doctor --fix runs the commands above, and stdin is not a terminal to ask on: \
             nothing was run; add --yes to run them"
        );
    }
    let mut err = std::io::stderr();
    write!(err, "Run these? [y/N] ")?;
    err.flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// Runs the grouped fixes in order, their output streaming to ours; stops at the first that fails.
///
/// These run through [`process::run_streaming`], not [`process::run`]: an `apt-get install` can
/// download for minutes and the user should see its progress (and any prompt for a sudo
/// password on the terminal) as it happens, not all at once at the end; the deadline still
/// bounds each one (30 min for installs, 10 for `apt-get update`).
pub fn apply(steps: &[Step]) -> Result<()> {
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
            let status = process::run_streaming(&mut cmd, limit, &format!("`{shown}`"))?;
            if !status.success() {
                anyhow::bail!("`{shown}` failed ({status})");
            }
        }
    }
    Ok(())
}

/// The nearest `Cargo.toml` at or above `dir`.
fn find_manifest(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .map(|d| d.join("Cargo.toml"))
        .find(|p| p.is_file())
}

/// The report as a table: check, status, detail (with the fix).
pub fn render(checks: &[Check]) -> String {
    let width = checks
        .iter()
        .map(|c| c.what.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let mut out = format!("{:<width$}  {:<8}  {}\n", "check", "status", "detail / fix");
    for c in checks {
        let status = match c.status {
            Status::Ok => "ok",
            Status::Missing => "MISSING",
            Status::Installable => "add",
            Status::Optional => "optional",
        };
        let _ = writeln!(out, "{:<width$}  {status:<8}  {}", c.what, c.detail);
    }
    out
}

/// How many rows are missing pieces.
pub fn missing(checks: &[Check]) -> usize {
    checks
        .iter()
        .filter(|c| c.status == Status::Missing)
        .count()
}

/// `cargo imagebuild platforms`: every platform of the table with the Rust target a build
/// would choose on this machine, the route it would take (for a crate with no C code, on
/// scratch: `doctor --platform P` reads your workspace's graph) and what is missing, as a table.
pub fn platforms(cargo_config: &[String]) -> Result<String> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let tc = Toolchain::detect(&cwd)?;
    let tools = Tools::detect(Some(tc.host())).with_provisioned_zig(crate::build::zig::cached());
    let mut rows = vec![[
        "PLATFORM".to_string(),
        "TARGET".into(),
        "ROUTE HERE".into(),
        "MISSING".into(),
    ]];
    let first_line = |e: &dyn std::fmt::Display| {
        let text = e.to_string();
        text.lines().next().unwrap_or_default().to_string()
    };
    for p in Platform::all_known() {
        let triple = match tc.choose(&p, None) {
            Ok(t) => t,
            Err(e) => {
                rows.push([p.to_string(), "-".into(), "-".into(), first_line(&e)]);
                continue;
            }
        };
        let mut missing = Vec::new();
        if !tc.has_std(&triple) {
            missing.push(format!("std (rustup target add {triple})"));
        }
        let req = RouteRequest {
            triple: &triple,
            builds_c: Vec::new(),
            openssl: false,
            system_libs: Vec::new(),
            static_base: Some("scratch"),
            forced: None,
            workspace_root: &cwd,
            cargo_config,
        };
        let route = match route::resolve(&req, &tools) {
            Ok(r) => r.to_string(),
            Err(e) => {
                missing.push(first_line(&e));
                "-".to_string()
            }
        };
        let missing = if missing.is_empty() {
            "nothing".to_string()
        } else {
            missing.join("; ")
        };
        rows.push([p.to_string(), triple, route, missing]);
    }
    let out = crate::util::ui::table(&rows);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_table_and_counts_missing_rows() {
        let checks = vec![
            row(
                "linux/riscv64 linker",
                Status::Missing,
                "fix: apt-get install gcc-riscv64-linux-gnu",
            ),
            row("zig", Status::Optional, "not found"),
            row("rust", Status::Ok, "sysroot /x"),
        ];
        let t = render(&checks);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("check "), "{t}");
        assert!(
            lines[1].starts_with("linux/riscv64 linker  MISSING   fix: apt-get"),
            "{t}"
        );
        assert!(
            lines[2].starts_with("zig                   optional  not found"),
            "{t}"
        );
        assert!(
            lines[3].starts_with("rust                  ok        sysroot"),
            "{t}"
        );
        assert_eq!(missing(&checks), 1);
    }

    fn apt(what: &str, status: Status, packages: &[&str]) -> Check {
        row(what, status, "").with_fix(Some(Fix::Apt(
            packages.iter().map(|p| p.to_string()).collect(),
        )))
    }

    #[test]
    fn several_missing_rows_make_one_apt_line_and_one_rustup_line() {
        let checks = vec![
            apt(
                "linux/riscv64 linker",
                Status::Missing,
                &["gcc-riscv64-linux-gnu", "libc6-dev-riscv64-cross"],
            ),
            apt(
                "linux/s390x linker",
                Status::Missing,
                &["gcc-s390x-linux-gnu", "libc6-dev-s390x-cross"],
            ),
            // Two platforms of one toolchain: its packages once.
            apt(
                "linux/arm/v7 linker",
                Status::Missing,
                &["gcc-arm-linux-gnueabihf", "libc6-dev-armhf-cross"],
            ),
            apt(
                "linux/arm/v6 linker",
                Status::Missing,
                &["gcc-arm-linux-gnueabihf", "libc6-dev-armhf-cross"],
            ),
            row("linux/386 std", Status::Installable, "")
                .with_fix(Some(Fix::RustupTarget("i686-unknown-linux-gnu".into()))),
            row("linux/s390x std", Status::Installable, "")
                .with_fix(Some(Fix::RustupTarget("s390x-unknown-linux-gnu".into()))),
            row("linux/arm64 C compiler", Status::Missing, "")
                .with_fix(Some(Fix::Shell(PIP_ZIG.into()))),
            row("linux/amd64 C compiler", Status::Missing, "")
                .with_fix(Some(Fix::Shell(PIP_ZIG.into()))),
            // Optional: never in what --fix runs.
            apt("loader", Status::Optional, &["podman"]),
            row("cargo-zigbuild", Status::Optional, "")
                .with_fix(Some(Fix::Shell(CARGO_ZIGBUILD.into()))),
        ];
        let steps = fix_steps(&checks);
        assert_eq!(
            steps,
            [
                Step::Rustup(vec![
                    "i686-unknown-linux-gnu".into(),
                    "s390x-unknown-linux-gnu".into()
                ]),
                Step::Apt(
                    [
                        "gcc-arm-linux-gnueabihf",
                        "gcc-riscv64-linux-gnu",
                        "gcc-s390x-linux-gnu",
                        "libc6-dev-armhf-cross",
                        "libc6-dev-riscv64-cross",
                        "libc6-dev-s390x-cross",
                    ]
                    .map(String::from)
                    .to_vec()
                ),
                Step::Shell(PIP_ZIG.into()),
            ]
        );
        let text = render_fixes(&checks);
        let sudo = if is_root() { "" } else { "sudo " };
        assert!(
            text.contains(&format!("\n  {sudo}apt-get install -y gcc-arm-linux-gnueabihf gcc-riscv64-linux-gnu gcc-s390x-linux-gnu libc6-dev-armhf-cross libc6-dev-riscv64-cross libc6-dev-s390x-cross\n")),
            "{text}"
        );
        let to_fix = text.split("Optional").next().unwrap();
        assert_eq!(to_fix.matches("apt-get install").count(), 1, "{text}");
        assert_eq!(to_fix.matches("rustup target add").count(), 1, "{text}");
        assert_eq!(to_fix.matches(PIP_ZIG).count(), 1, "{text}");
        assert!(
            !to_fix.contains("podman") && !to_fix.contains("cargo-zigbuild"),
            "{text}"
        );
        let optional = text.split("Optional").nth(1).unwrap();
        assert!(
            optional.contains("apt-get install -y podman") && optional.contains(CARGO_ZIGBUILD),
            "{text}"
        );
    }

    #[test]
    fn optional_rows_and_installable_std_do_not_fail_the_run() {
        let mut checks = vec![
            row("linux/386 std", Status::Installable, "")
                .with_fix(Some(Fix::RustupTarget("i686-unknown-linux-gnu".into()))),
            apt("loader", Status::Optional, &["podman"]),
            row("zig", Status::Optional, "").with_fix(Some(Fix::Shell(PIP_ZIG.into()))),
            row("credentials", Status::Optional, ""),
            row("rust", Status::Ok, ""),
        ];
        assert_eq!(missing(&checks), 0);
        checks.push(apt(
            "linux/riscv64 linker",
            Status::Missing,
            &["gcc-riscv64-linux-gnu"],
        ));
        assert_eq!(missing(&checks), 1);
        // Nothing needed and nothing optional: no fix block at all.
        assert_eq!(render_fixes(&[row("rust", Status::Ok, "")]), "");
    }
}
