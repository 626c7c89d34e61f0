//! `cargo imagebuild doctor`: checks this machine for what building the requested platforms
//! needs — the Rust standard library of each target, its linker and C compiler (the same
//! [`crate::route`] decision a build makes, on a scratch base), zig and cargo-zigbuild, a loader
//! (docker or podman, on PATH and answering) and a registry credentials file — and prints a
//! table with the fix for each missing piece. Only [`Status::Missing`] rows make it fail; the
//! rest are notes about optional pieces. It installs nothing.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::image::platform::{self, Platform};
use crate::plan::options::FeatureArgs;
use crate::plan::toolchain::Toolchain;
use crate::route::tools::{output_within, zig_version, Tools};
use crate::route::{self, Builder, CCompiler, Linker, RouteError, RouteRequest};

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
    /// Optional, or only needed in some cases; does not fail the run.
    Note,
}

/// One row of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub what: String,
    pub status: Status,
    pub detail: String,
}

fn row(what: impl Into<String>, status: Status, detail: impl Into<String>) -> Check {
    Check {
        what: what.into(),
        status,
        detail: detail.into(),
    }
}

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
    let tools = Tools::detect().with_provisioned_zig(crate::build::zig::cached());

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
            checks.push(row(
                format!("{name} std"),
                Status::Missing,
                format!("fix: rustup target add {triple}"),
            ));
        }
        // C code only matters for musl targets; read the graph when we are in a workspace.
        let builds_c = match (&manifest, triple.contains("-linux-musl")) {
            (Some(m), true) => {
                crate::route::cdeps::c_builders(m, &triple, &[], &FeatureArgs::default()).ok()
            }
            _ => Some(Vec::new()),
        };
        let req = RouteRequest {
            triple: &triple,
            builds_c: builds_c.clone().unwrap_or_default(),
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
            Status::Note,
            "not found; needed for C code on musl targets and for --builder zigbuild. fix: pip install ziglang",
        ),
    });
    checks.push(match tools.zigbuild() {
        Some(p) => row("cargo-zigbuild", Status::Ok, p.display().to_string()),
        None => row(
            "cargo-zigbuild",
            Status::Note,
            "not found; needed for --builder zigbuild. fix: cargo install --locked cargo-zigbuild",
        ),
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
            checks.push(row(format!("{name} linker"), Status::Missing, fix_of(&e)));
            return;
        }
        Err(e @ RouteError::NoMuslCCompiler { .. }) => {
            checks.push(row(format!("{name} linker"), Status::Ok, "rust-lld"));
            checks.push(row(
                format!("{name} C compiler"),
                Status::Missing,
                fix_of(&e),
            ));
            return;
        }
        Err(e) => {
            checks.push(row(format!("{name} builder"), Status::Missing, fix_of(&e)));
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
            ),
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
                    Status::Note,
                    "none; only crates with C code need one (zig). fix: pip install ziglang",
                ),
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
        Status::Note,
        format!("{what}; needed only to load images into a local engine. fix: apt-get install podman (or docker.io, and start dockerd)"),
    )
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
            Status::Note,
            "no docker or podman credentials file; pushing to a registry that needs a login will fail. fix: docker login REGISTRY (or podman login)",
        ),
    }
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
    let mut out = format!("{:<width$}  {:<7}  {}\n", "check", "status", "detail / fix");
    for c in checks {
        let status = match c.status {
            Status::Ok => "ok",
            Status::Missing => "MISSING",
            Status::Note => "note",
        };
        let _ = writeln!(out, "{:<width$}  {status:<7}  {}", c.what, c.detail);
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
            row("zig", Status::Note, "not found"),
            row("rust", Status::Ok, "sysroot /x"),
        ];
        let t = render(&checks);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("check "), "{t}");
        assert!(
            lines[1].starts_with("linux/riscv64 linker  MISSING  fix: apt-get"),
            "{t}"
        );
        assert!(
            lines[3].starts_with("rust                  ok       sysroot"),
            "{t}"
        );
        assert_eq!(missing(&checks), 1);
    }
}
