//! `cargo imagebuild platforms`: every platform of the table with the Rust target a build would
//! choose on this machine, the route it would take (for a crate with no C code, on scratch:
//! `doctor --platform P` reads a workspace's graph) and what is missing.

use anyhow::{Context, Result};

use crate::image::platform::Platform;
use crate::plan::toolchain::Toolchain;
use crate::route::tools::Tools;
use crate::route::{self, RouteRequest};
use crate::util::env::Environment;

/// One platform's row.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Row {
    /// The OCI platform: `linux/arm64`.
    pub platform: String,
    /// The Rust target a build would choose here, if any.
    pub target: Option<String>,
    /// The route a build would take here (linker, C compiler), if it can be built.
    pub route: Option<String>,
    /// What is missing, each with its fix; empty when nothing is.
    pub missing: Vec<String>,
}

/// A row for every platform of the table, as this machine (and `env`) would build it; a linker
/// in `cargo_config` counts.
pub fn platforms(cargo_config: &[String], env: &Environment) -> Result<Vec<Row>> {
    crate::plan::checks::cargo_config(cargo_config)?;
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let tc = Toolchain::detect(&cwd, env)?;
    let tools = Tools::detect(Some(tc.host()), env)
        .with_provisioned_zig(crate::provision::zig::cached(env));
    let first_line = |e: &dyn std::fmt::Display| {
        let text = e.to_string();
        text.lines().next().unwrap_or_default().to_string()
    };
    let mut rows = Vec::new();
    for p in Platform::all_known() {
        let triple = match tc.choose(&p, None) {
            Ok(t) => t,
            Err(e) => {
                rows.push(Row {
                    platform: p.to_string(),
                    target: None,
                    route: None,
                    missing: vec![first_line(&e)],
                });
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
            builds_cxx: Vec::new(),
            build_tools: Vec::new(),
            openssl: false,
            system_libs: Vec::new(),
            static_base: Some("scratch"),
            on_scratch: true,
            glibc: None,
            glibc_origin: None,
            forced: None,
            workspace_root: &cwd,
            cargo_config,
        };
        let route = match route::resolve(&req, &tools) {
            Ok(r) => Some(r.to_string()),
            Err(e) => {
                missing.push(first_line(&e));
                None
            }
        };
        rows.push(Row {
            platform: p.to_string(),
            target: Some(triple),
            route,
            missing,
        });
    }
    Ok(rows)
}
