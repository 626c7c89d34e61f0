//! The route stage: takes the [`Plan`] and the programs found on this machine ([`Tools`]); gives
//! [`Routes`] ([`plan_routes`]), one per target. How each Rust target gets built: which builder runs (`cargo build`, `cargo zigbuild`,
//! `cross build`), which linker and C compiler it uses, and whether glibc is linked statically.
//! A [`Route`] is decided before anything compiles, from the target, what its dependency graph
//! needs ([`crate::route::cdeps`]), the base, a `--builder` choice and the programs on the machine
//! ([`Tools`]); a target with no working route is a [`RouteError`] that names the fix.
//!
//! The order, per target: the user's own linker (`CARGO_TARGET_<T>_LINKER`, `.cargo/config.toml`,
//! `--config`); for musl targets `rust-lld` (from the Rust toolchain), with `zig cc` as the C
//! compiler when the graph builds C (or Debian's `musl-gcc` for the host's own architecture); for gnu targets the host `cc` (native) or the Debian cross
//! gcc (`aarch64-linux-gnu-gcc` …), which also compiles C (`CC_<target>`/`AR_<target>`); else
//! `cargo zigbuild` when installed; else an error naming the Debian packages to install.

pub mod cargo_config;
pub mod cdeps;
pub mod crossgcc;
pub mod glibc;
pub mod rustflags;
pub mod tools;
pub mod zigcc;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::plan::base::Base;
pub use crate::plan::options::Builder;
use crate::plan::Plan;
use crate::route::cargo_config::{env_triple, user_linker};
use crate::route::crossgcc::debian_cross;
pub use crate::route::glibc::GlibcVersion;
use crate::route::tools::{Tools, ZigCommand};
use crate::route::zigcc::zig_target;
use crate::util::env::Environment;

/// What links the target's executables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Linker {
    /// Configured by the user; we set nothing. Holds the linker and where it was configured.
    User { linker: String, from: String },
    /// `rust-lld`, shipped with the Rust toolchain.
    RustLld,
    /// The system `cc`, for the host's own target.
    HostCc,
    /// A Debian-style cross gcc, e.g. `/usr/bin/aarch64-linux-gnu-gcc`.
    Gcc(PathBuf),
    /// `zig cc -target <zig triple>.<glibc>` through the wrapper scripts of
    /// [`zigcc::write_wrappers`] (a gnu target with `--glibc`).
    Zig { zig: ZigCommand, target: String },
    /// The builder brings its own (`cargo zigbuild`, `cross`).
    Builder,
    /// cargo's default (targets this tool has no opinion on: windows, wasm).
    Default,
}

/// What compiles C code for the target (the `cc` crate reads `CC_<target>`/`AR_<target>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CCompiler {
    /// The user set `CC_<target>` or `TARGET_CC`.
    User(String),
    /// The cross gcc and its `ar` (and `g++` when installed).
    Gcc {
        cc: PathBuf,
        ar: Option<PathBuf>,
        cxx: Option<PathBuf>,
    },
    /// `zig cc -target <zig triple>`, through small wrapper scripts.
    Zig { zig: ZigCommand, target: String },
    /// The host's `cc`, or the builder's own.
    Default,
}

/// The decided way to build one target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub triple: String,
    pub builder: Builder,
    pub builder_path: Option<PathBuf>,
    pub linker: Linker,
    pub c_compiler: CCompiler,
    /// Link glibc statically (`-C target-feature=+crt-static`): a gnu target on a base with no
    /// C library. Musl targets are static by default.
    pub crt_static: bool,
    /// The packages whose build scripts compile C for this target (empty when none or unknown).
    pub builds_c: Vec<String>,
    /// Link zig's C++ runtime (libc++ and libc++abi, statically): a musl target whose C and
    /// C++ code zig compiles, in a graph that compiles C++ ([`cdeps::Graph::cxx_builders`]).
    /// The `cc` crate is told to link `c++` (`CXXSTDLIB_<target>`) and the archives are found
    /// in [`zigcc::cxx_runtime_dir`], which the provision stage fills before compiling.
    pub cxx_runtime: bool,
    /// `openssl-sys` wants a system OpenSSL the target does not have: the build step makes one
    /// from source with this route's C compiler ([`OPENSSL_SRC`]) and points openssl-sys at it.
    pub openssl: bool,
    /// System libraries the graph links that the target will not have and that nothing here
    /// provides ([`cdeps::SYSTEM_LIBS`]): named before compiling, with the feature that fixes it.
    pub system_libs: Vec<String>,
    /// The glibc a gnu target is linked against (`--glibc`): dynamically, by zig.
    pub glibc: Option<GlibcVersion>,
    /// Where [`Route::glibc`] came from when the user named none (`the base's`).
    pub glibc_origin: Option<String>,
}

/// The variable that lets a build install what its routes lack (`auto`), as
/// `--install-missing` does.
pub const ENV_INSTALL: &str = "CARGO_IMAGEBUILD_INSTALL";

/// The OpenSSL built for targets whose `openssl-sys` is not vendored: the `openssl-src` crate at
/// this version, the source openssl-sys's own `vendored` feature uses ...
pub const OPENSSL_SRC: &str = "300.6.1";
/// ... which builds this OpenSSL.
pub const OPENSSL_VERSION: &str = "3.6.3";

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.builder)?;
        match &self.linker {
            Linker::User { linker, from } => write!(f, ", linker {linker} (from {from})")?,
            Linker::RustLld => write!(f, ", linker rust-lld")?,
            Linker::HostCc => write!(f, ", linker cc")?,
            Linker::Gcc(p) => write!(f, ", linker {}", file_name(p))?,
            Linker::Zig { target, .. } => write!(f, ", linker zig cc -target {target}")?,
            Linker::Builder | Linker::Default => {}
        }
        match &self.c_compiler {
            CCompiler::User(cc) => write!(f, ", C compiler {cc}")?,
            CCompiler::Gcc { cc, .. } => write!(f, ", C compiler {}", file_name(cc))?,
            CCompiler::Zig { target, .. } => write!(f, ", C compiler zig cc -target {target}")?,
            CCompiler::Default => {}
        }
        if self.cxx_runtime {
            write!(f, ", C++ runtime zig's libc++ (static)")?;
        }
        if self.crt_static {
            write!(f, ", static glibc")?;
        }
        if let Some(v) = self.glibc {
            write!(f, ", dynamic glibc {v}")?;
            if let Some(origin) = &self.glibc_origin {
                write!(f, " ({origin})")?;
            }
        }
        if !self.builds_c.is_empty() {
            write!(f, " (C code in {})", self.builds_c.join(", "))?;
        }
        if !self.system_libs.is_empty() {
            write!(f, "; needs system {}", self.system_libs.join(", "))?;
        }
        if self.openssl {
            write!(
                f,
                ", OpenSSL {OPENSSL_VERSION} built from source for openssl-sys (once per target, a \
                 few minutes)"
            )?;
        }
        Ok(())
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// Why a target has no working route. Each names what is missing and how to get it.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum RouteError {
    #[error(
        "no linker for {triple}: {wanted} is not on PATH.\n  fix: {fix}\n  (or configure one: \
         CARGO_TARGET_{env}_LINKER, `[target.{triple}] linker` in .cargo/config.toml)"
    )]
    NoLinker {
        triple: String,
        wanted: String,
        env: String,
        fix: String,
    },
    #[error(
        "no C compiler for {triple}: {packages} build C code, rust-lld only links, and Debian has \
         no musl C compiler for other architectures.\n  fix: pip install ziglang (zig compiles \
         the C code; `zig` on PATH works too), or set CC_{env_cc} yourself, or build the gnu \
         target with --target {gnu}"
    )]
    NoMuslCCompiler {
        triple: String,
        packages: String,
        env_cc: String,
        gnu: String,
    },
    #[error("--builder {builder} for {triple}: `{program}` is not installed.\n  fix: {fix}")]
    BuilderMissing {
        builder: Builder,
        triple: String,
        program: String,
        fix: String,
    },
    #[error(
        "{triple} must be linked statically for a base with no C library ({base}), and zig \
         cannot link glibc statically.\n  fix: use {musl} (static musl) with --builder \
         zigbuild, or the cargo builder with the cross gcc ({packages})"
    )]
    ZigStaticGlibc {
        triple: String,
        base: String,
        musl: String,
        packages: String,
    },
    #[error(
        "--glibc {glibc} for {triple}: the binary links glibc dynamically, and the `{base}` base \
         has no C library to load it.\n  fix: use a base that ships glibc {glibc} or newer \
         (debian:12-slim, gcr.io/distroless/cc-debian12), or drop --glibc to link glibc \
         statically"
    )]
    GlibcOnScratch {
        triple: String,
        glibc: GlibcVersion,
        base: String,
    },
    #[error("--glibc for {triple}: {message}")]
    GlibcNotForTarget { triple: String, message: String },
    #[error(
        "--glibc {glibc} for {triple}: zig links against that glibc, and no zig is here.\n  \
         fix: pip install ziglang (or put a `zig` on PATH; without --offline the pinned one is \
         downloaded by itself)"
    )]
    GlibcNeedsZig { triple: String, glibc: GlibcVersion },
    /// Programs the graph's build scripts run are not on PATH. The text names no target, so
    /// the same refusal for several targets is shown once.
    #[error(
        "the dependency graph's build scripts run programs that are not on PATH: {missing}.\n  \
         fix: {install} (or point the build at one: {vars})"
    )]
    MissingBuildTools {
        missing: String,
        install: String,
        vars: String,
    },
}

/// The build tools of `wanted` that are not here (not on PATH, and not named by their
/// environment variable), as a [`RouteError::MissingBuildTools`]; `None` when all are here.
pub fn missing_build_tools(wanted: &[cdeps::BuildTool], tools: &Tools) -> Option<RouteError> {
    let mut missing: BTreeMap<&str, (Vec<&str>, &str, &str)> = BTreeMap::new();
    for t in wanted {
        let here = tools.which(&t.program).is_some()
            || tools.env().var(&t.env).is_some_and(|v| !v.is_empty());
        if !here {
            let e = missing
                .entry(t.program.as_str())
                .or_insert((Vec::new(), &t.debian, &t.env));
            if !e.0.contains(&t.package.as_str()) {
                e.0.push(&t.package);
            }
        }
    }
    if missing.is_empty() {
        return None;
    }
    let mut debian: Vec<&str> = missing.values().map(|(_, d, _)| *d).collect();
    debian.dedup();
    Some(RouteError::MissingBuildTools {
        missing: missing
            .iter()
            .map(|(program, (packages, ..))| format!("{program} (for {})", packages.join(", ")))
            .collect::<Vec<_>>()
            .join(", "),
        install: format!("apt-get install {}", debian.join(" ")),
        vars: missing
            .values()
            .map(|(.., env)| format!("{env}=/path/to/it"))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// The musl triple of the same architecture as a gnu one, and back (for suggestions).
fn sibling(triple: &str, from: &str, to: &str) -> String {
    triple.replacen(from, to, 1)
}

/// Everything a route is decided from, besides the machine.
#[derive(Clone, Debug)]
pub struct RouteRequest<'a> {
    pub triple: &'a str,
    /// Packages whose build scripts compile C for this target ([`crate::route::cdeps`]).
    pub builds_c: Vec<String>,
    /// Those of them that compile C++ ([`cdeps::Graph::cxx_builders`]).
    pub builds_cxx: Vec<String>,
    /// Programs the graph's build scripts run ([`cdeps::Graph::build_tools`]).
    pub build_tools: Vec<cdeps::BuildTool>,
    /// `openssl-sys` without its vendored source is in the graph and the user pointed it at no
    /// OpenSSL of their own.
    pub openssl: bool,
    /// System libraries the graph links without building them ([`cdeps::Graph::system_libs`]).
    pub system_libs: Vec<String>,
    /// The base has no C library (scratch): gnu targets link statically.
    pub static_base: Option<&'a str>,
    /// The base is `scratch` itself (not a registry image that may hold a C library).
    pub on_scratch: bool,
    /// `--glibc`: gnu targets link dynamically against this glibc, with zig.
    pub glibc: Option<GlibcVersion>,
    /// Where `glibc` came from when the user named none ([`BaseGlibcs`]).
    pub glibc_origin: Option<String>,
    pub forced: Option<Builder>,
    pub workspace_root: &'a Path,
    pub cargo_config: &'a [String],
}

/// An OpenSSL the user pointed openssl-sys at for `triple` (its own variables, target-prefixed
/// or not), which we then leave alone.
pub fn user_openssl(triple: &str, env: &Environment) -> Option<String> {
    let prefix = triple.to_ascii_uppercase().replace('-', "_");
    ["OPENSSL_DIR", "OPENSSL_LIB_DIR", "OPENSSL_NO_VENDOR"]
        .iter()
        .flat_map(|v| [format!("{prefix}_{v}"), v.to_string()])
        .find(|v| env.get(v).is_some_and(|s| !s.is_empty()))
}

/// A C compiler the user configured for `triple` in the environment (`cc` crate variables).
pub fn user_c_compiler(triple: &str, env: &Environment) -> Option<String> {
    [
        format!("CC_{triple}"),
        format!("CC_{}", triple.replace('-', "_")),
        "TARGET_CC".to_string(),
    ]
    .iter()
    .find_map(|v| env.var(v))
}

/// Decides how to build one target.
pub fn resolve(req: &RouteRequest<'_>, tools: &Tools) -> Result<Route, RouteError> {
    let triple = req.triple;
    let is_musl = triple.contains("-linux-musl");
    let is_gnu = triple.contains("-linux-gnu");
    let glibc = req.glibc.filter(|_| is_gnu);
    let crt_static = is_gnu && req.static_base.is_some() && glibc.is_none();
    if req.forced != Some(Builder::Cross) {
        // (cross runs the build scripts in its own container, with its own programs.)
        if let Some(e) = missing_build_tools(&req.build_tools, tools) {
            return Err(e);
        }
    }
    let user_cxxstdlib = [
        format!("CXXSTDLIB_{triple}"),
        format!("CXXSTDLIB_{}", triple.replace('-', "_")),
        "TARGET_CXXSTDLIB".to_string(),
        "CXXSTDLIB".to_string(),
    ]
    .iter()
    .any(|v| tools.env().get(v).is_some());
    let route = |builder, path, linker, c_compiler: CCompiler, crt_static| Route {
        triple: triple.to_string(),
        builder,
        builder_path: path,
        linker,
        cxx_runtime: builder == Builder::Cargo
            && is_musl
            && !req.builds_cxx.is_empty()
            && matches!(c_compiler, CCompiler::Zig { .. })
            && !user_cxxstdlib,
        c_compiler,
        crt_static,
        builds_c: req.builds_c.clone(),
        openssl: req.openssl && builder == Builder::Cargo,
        system_libs: req.system_libs.clone(),
        glibc,
        glibc_origin: glibc.and(req.glibc_origin.clone()),
    };
    if let (Some(v), Some(b @ (Builder::Zigbuild | Builder::Cross))) = (glibc, req.forced) {
        return Err(RouteError::GlibcNotForTarget {
            triple: triple.to_string(),
            message: format!(
                "--builder {b} chooses its own glibc; --glibc {v} links with zig through the \
                 default builder: drop --builder"
            ),
        });
    }
    match req.forced {
        Some(Builder::Zigbuild) => {
            return zigbuild(req, tools).map(|p| {
                route(
                    Builder::Zigbuild,
                    Some(p),
                    Linker::Builder,
                    CCompiler::Default,
                    false,
                )
            })
        }
        Some(Builder::Cross) => {
            let Some(p) = tools.cross() else {
                return Err(RouteError::BuilderMissing {
                    builder: Builder::Cross,
                    triple: triple.to_string(),
                    program: "cross".into(),
                    fix: "cargo install --locked cross (it runs the build in a docker or podman \
                          container)"
                        .into(),
                });
            };
            return Ok(route(
                Builder::Cross,
                Some(p),
                Linker::Builder,
                CCompiler::Default,
                crt_static,
            ));
        }
        Some(Builder::Cargo) | None => {}
    }

    let user_cc = user_c_compiler(triple, tools.env());
    let user = user_linker(triple, req.workspace_root, req.cargo_config, tools.env());
    let linker = if let Some((linker, from)) = user {
        Linker::User { linker, from }
    } else if let Some(v) = glibc {
        let zig = glibc_zig(req, v, tools)?;
        let c_compiler = match user_cc {
            Some(cc) => CCompiler::User(cc),
            None => CCompiler::Zig {
                zig: zig.0.clone(),
                target: zig.1.clone(),
            },
        };
        let linker = Linker::Zig {
            zig: zig.0,
            target: zig.1,
        };
        return Ok(route(Builder::Cargo, None, linker, c_compiler, false));
    } else if is_musl {
        Linker::RustLld
    } else if triple == tools.host {
        Linker::HostCc
    } else if is_gnu {
        let cross = debian_cross(triple);
        match cross.and_then(|d| tools.which(&d.gcc())) {
            Some(gcc) => Linker::Gcc(gcc),
            None => {
                // No cross gcc: `cargo zigbuild` can still build a dynamically linked binary.
                if req.forced.is_none() && req.static_base.is_none() {
                    if let (Some(p), Some(_)) = (tools.zigbuild(), tools.zig()) {
                        return Ok(route(
                            Builder::Zigbuild,
                            Some(p),
                            Linker::Builder,
                            CCompiler::Default,
                            false,
                        ));
                    }
                }
                let (wanted, fix) = match cross {
                    Some(d) => (
                        d.gcc(),
                        format!(
                            "{}{}",
                            d.install_command(),
                            if req.static_base.is_some() {
                                "; or, on a base that has glibc, --glibc <its version> links \
                                 with zig and needs no cross gcc"
                                    .to_string()
                            } else {
                                " (or install cargo-zigbuild and zig: cargo install --locked \
                                 cargo-zigbuild; pip install ziglang)"
                                    .to_string()
                            }
                        ),
                    ),
                    None => (
                        format!("a gcc for {triple}"),
                        "install a cross gcc for it and configure it as the linker".to_string(),
                    ),
                };
                return Err(RouteError::NoLinker {
                    triple: triple.to_string(),
                    wanted,
                    env: env_triple(triple),
                    fix,
                });
            }
        }
    } else {
        Linker::Default
    };

    let c_compiler = if let Some(cc) = user_cc {
        CCompiler::User(cc)
    } else if let Linker::Gcc(gcc) = &linker {
        // Set even when the graph has no C: harmless, and right if detection missed something.
        let prefix = debian_cross(triple).map(|d| d.prefix).unwrap_or_default();
        CCompiler::Gcc {
            cc: gcc.clone(),
            ar: tools.which(&format!("{prefix}-ar")),
            cxx: tools.which(&format!("{prefix}-g++")),
        }
    } else if is_musl && !req.builds_c.is_empty() {
        match (tools.zig(), zig_target(triple)) {
            (Some(zig), Some(target)) => CCompiler::Zig {
                zig: zig.clone(),
                target,
            },
            // Debian's `musl-gcc` (musl-tools) compiles C for the host's own architecture only.
            _ if same_arch(triple, &tools.host)
                && tools.which("musl-gcc").is_some()
                && req.builds_cxx.is_empty() =>
            {
                CCompiler::Gcc {
                    cc: tools.which("musl-gcc").unwrap_or_default(),
                    ar: tools.which("ar"),
                    cxx: None,
                }
            }
            _ => {
                return Err(RouteError::NoMuslCCompiler {
                    triple: triple.to_string(),
                    packages: req.builds_c.join(", "),
                    env_cc: triple.replace('-', "_"),
                    gnu: sibling(triple, "musl", "gnu"),
                })
            }
        }
    } else {
        CCompiler::Default
    };
    Ok(route(Builder::Cargo, None, linker, c_compiler, crt_static))
}

/// The zig and zig target (`riscv64-linux-gnu.2.28`) a gnu target with `--glibc` links
/// with, or why it cannot.
fn glibc_zig(
    req: &RouteRequest<'_>,
    glibc: GlibcVersion,
    tools: &Tools,
) -> Result<(ZigCommand, String), RouteError> {
    let triple = req.triple;
    if let (true, Some(base)) = (req.on_scratch, req.static_base) {
        return Err(RouteError::GlibcOnScratch {
            triple: triple.to_string(),
            glibc,
            base: base.to_string(),
        });
    }
    let not_for = |message: String| RouteError::GlibcNotForTarget {
        triple: triple.to_string(),
        message,
    };
    glibc.check_for(triple).map_err(not_for)?;
    let target =
        zig_target(triple).ok_or_else(|| not_for("zig has no name for this target".to_string()))?;
    let zig = tools.zig().ok_or_else(|| RouteError::GlibcNeedsZig {
        triple: triple.to_string(),
        glibc,
    })?;
    Ok((zig.clone(), glibc.zig_target(&target)))
}

/// Whether two triples name the same architecture (`x86_64-unknown-linux-musl`, `x86_64-…-gnu`).
fn same_arch(a: &str, b: &str) -> bool {
    a.split('-').next() == b.split('-').next()
}

/// The base's name when it has no C library, so gnu targets must link glibc statically.
pub fn libc_less(base: &Base) -> Option<String> {
    // A registry base may or may not carry a C library (distroless/static does not, debian
    // does): a static binary runs on both, so it is treated as having none.
    match base {
        Base::Scratch | Base::Image(_) => Some(base.name()),
    }
}

/// The glibc each gnu target links against by default, from its base's own ([`glibc::from_base`]):
/// the version and where it came from, by triple. Empty when the user named one.
pub type BaseGlibcs = BTreeMap<String, (GlibcVersion, String)>;

/// The gnu targets of `plan` whose glibc is taken from their registry base when the user named
/// none: built by cargo (`--builder zigbuild` and `cross` choose their own), linked by no linker
/// of the user's, and in no image on `scratch` (one that has no C library to load it).
pub fn glibc_from_base_targets(plan: &Plan, env: &Environment) -> Vec<String> {
    if plan.glibc.is_some() || !matches!(plan.builder, None | Some(Builder::Cargo)) {
        return Vec::new();
    }
    plan.builds()
        .into_iter()
        .map(|(triple, _, _)| triple)
        .filter(|t| t.contains("-linux-gnu"))
        .filter(|t| user_linker(t, &plan.workspace_root, &plan.cargo_config, env).is_none())
        .filter(|t| {
            let mut images = plan
                .images
                .iter()
                .filter(|i| i.targets.iter().any(|x| &x.triple == t))
                .peekable();
            images.peek().is_some() && images.all(|i| i.base.reference().is_some())
        })
        .collect()
}

/// The route of every target of a plan (`base_glibcs`: the glibc of gnu targets whose user named
/// none). Each target's part of the plan's dependency graph is read only where C code changes
/// the answer: musl targets built by cargo with no C compiler of the user's.
pub fn plan_routes(plan: &Plan, tools: &Tools, base_glibcs: &BaseGlibcs) -> anyhow::Result<Routes> {
    let forced = plan.builder;
    let mut routes = BTreeMap::new();
    for (triple, packages, _) in plan.builds() {
        let static_base = plan
            .images
            .iter()
            .filter(|i| i.targets.iter().any(|t| t.triple == triple))
            .find_map(|i| libc_less(&i.base));
        let static_base = static_base.as_deref();
        let by_cargo = matches!(forced, None | Some(Builder::Cargo));
        let look_for_c =
            triple.contains("-linux-musl") && user_c_compiler(&triple, tools.env()).is_none();
        let graph = if by_cargo {
            crate::route::cdeps::for_target(&plan.metadata, &triple, &packages, tools.env(), || {
                plan.toolchain.cfg(&triple)
            })
            .with_context(|| {
                format!("reading the dependency graph for {triple} to see whether it builds C code")
            })?
        } else {
            crate::route::cdeps::Graph::default()
        };
        let openssl = graph.system_openssl && user_openssl(&triple, tools.env()).is_none();
        let mut build_tools = graph.build_tools;
        if openssl && by_cargo {
            // The OpenSSL this tool builds for openssl-sys comes from openssl-src too.
            build_tools.extend(cdeps::build_tools_of("openssl-src"));
            build_tools.sort();
            build_tools.dedup();
        }
        let req = RouteRequest {
            triple: &triple,
            builds_c: if look_for_c {
                graph.c_builders
            } else {
                Vec::new()
            },
            builds_cxx: if look_for_c {
                graph.cxx_builders
            } else {
                Vec::new()
            },
            build_tools,
            openssl,
            system_libs: graph.system_libs,
            static_base,
            on_scratch: plan
                .images
                .iter()
                .filter(|i| i.targets.iter().any(|t| t.triple == triple))
                .any(|i| matches!(i.base, Base::Scratch)),
            glibc: plan
                .glibc
                .or_else(|| base_glibcs.get(&triple).map(|(v, _)| *v)),
            glibc_origin: plan
                .glibc
                .is_none()
                .then(|| base_glibcs.get(&triple).map(|(_, o)| o.clone()))
                .flatten(),
            forced,
            workspace_root: &plan.workspace_root,
            cargo_config: &plan.cargo_config,
        };
        let route = resolve(&req, tools);
        routes.insert(triple.clone(), route);
    }
    Ok(Routes(routes))
}

/// How each target of a plan is built, or why it cannot be: the answer of [`plan_routes`].
#[derive(Clone, Debug, Default)]
pub struct Routes(pub BTreeMap<String, Result<Route, RouteError>>);

impl Routes {
    /// Every target's route, or one error listing each target that has none.
    pub fn all(&self) -> anyhow::Result<BTreeMap<String, Route>> {
        let mut ok = BTreeMap::new();
        let mut errors = Vec::new();
        for (triple, r) in &self.0 {
            match r {
                Ok(r) => {
                    ok.insert(triple.clone(), r.clone());
                }
                Err(e) => {
                    // The same refusal for several targets (missing build tools) is shown once.
                    let e = e.to_string();
                    if !errors.contains(&e) {
                        errors.push(e);
                    }
                }
            }
        }
        let n = errors.len();
        let missing = self.missing_cross_gcc();
        if !missing.is_empty() {
            let (targets, packages): (Vec<String>, Vec<String>) = missing.into_iter().unzip();
            let mut packages: Vec<&str> = packages.iter().flat_map(|p| p.split(' ')).collect();
            packages.sort();
            packages.dedup();
            let targets: Vec<String> = targets.iter().map(|t| format!("--target {t}")).collect();
            errors.push(format!(
                "fix, for every target at once: cargo imagebuild doctor --fix --yes {}\n  \
                 (which runs: apt-get install {}; or let the build run it: --install-missing, \
                 or {ENV_INSTALL}=auto in CI)",
                targets.join(" "),
                packages.join(" ")
            ));
        }
        match n {
            0 => Ok(ok),
            1 => anyhow::bail!("{}", errors.join("\n")),
            n => anyhow::bail!("{n} targets cannot be built here:\n{}", errors.join("\n")),
        }
    }

    /// The targets whose only missing piece is a Debian cross gcc, with its packages
    /// (`gcc-riscv64-linux-gnu libc6-dev-riscv64-cross`): what `doctor --fix --yes` and
    /// `--install-missing` install.
    pub fn missing_cross_gcc(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .filter(|(_, r)| matches!(r, Err(RouteError::NoLinker { .. })))
            .filter_map(|(t, _)| {
                debian_cross(t)
                    .map(|d| (t.clone(), format!("{} {}", d.gcc_package, d.libc_package)))
            })
            .collect()
    }

    /// The targets whose only missing piece is zig as their C compiler (musl targets with C code).
    /// `--builder zigbuild` without zig is not among them: cargo-zigbuild finds zig itself.
    pub fn missing_zig(&self) -> Vec<String> {
        self.0
            .iter()
            .filter(|(_, r)| {
                matches!(
                    r,
                    Err(RouteError::NoMuslCCompiler { .. } | RouteError::GlibcNeedsZig { .. })
                )
            })
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// The route lines of a printed plan (`--dry-run`, `-v`), in `plan`'s target order.
    pub fn describe(&self, plan: &Plan) -> String {
        let mut out = String::new();
        for (triple, _, _) in plan.builds() {
            let Some(r) = self.0.get(&triple) else {
                continue;
            };
            match r {
                Ok(r) => out.push_str(&format!("route: {triple}: {r}\n")),
                Err(e) => out.push_str(&format!(
                    "route: {triple}: cannot be built here: {}\n",
                    e.to_string().replace('\n', "\n  ")
                )),
            }
        }
        out
    }
}

/// The `cargo-zigbuild` program for a forced zigbuild route, or why it cannot be used.
fn zigbuild(req: &RouteRequest<'_>, tools: &Tools) -> Result<PathBuf, RouteError> {
    let triple = req.triple;
    let missing = |program: &str, fix: &str| RouteError::BuilderMissing {
        builder: Builder::Zigbuild,
        triple: triple.to_string(),
        program: program.to_string(),
        fix: fix.to_string(),
    };
    if let (Some(base), true) = (req.static_base, triple.contains("-linux-gnu")) {
        return Err(RouteError::ZigStaticGlibc {
            triple: triple.to_string(),
            base: base.to_string(),
            musl: sibling(triple, "gnu", "musl"),
            packages: debian_cross(triple)
                .map(|d| d.install_command())
                .unwrap_or_else(|| "a cross gcc".into()),
        });
    }
    let path = tools.zigbuild().ok_or_else(|| {
        missing(
            "cargo-zigbuild",
            "cargo install --locked cargo-zigbuild (and zig: pip install ziglang)",
        )
    })?;
    tools
        .zig()
        .ok_or_else(|| missing("zig", "pip install ziglang (or put a `zig` on PATH)"))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A PATH holding exactly `names` (as empty executables), and tools that see only it.
    fn tools_with(names: &[&str]) -> (tempfile::TempDir, Tools) {
        let dir = tempfile::tempdir().unwrap();
        for n in names {
            let p = dir.path().join(n);
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let t = Tools::with_path("x86_64-unknown-linux-gnu".into(), vec![dir.path().into()]);
        (dir, t)
    }

    fn req<'a>(triple: &'a str, root: &'a Path) -> RouteRequest<'a> {
        RouteRequest {
            triple,
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
            workspace_root: root,
            cargo_config: &[],
        }
    }

    #[test]
    fn musl_links_with_rust_lld_and_gnu_with_the_cross_gcc_statically() {
        let (dir, tools) = tools_with(&["aarch64-linux-gnu-gcc", "aarch64-linux-gnu-ar"]);
        let r = resolve(&req("aarch64-unknown-linux-musl", dir.path()), &tools).unwrap();
        assert_eq!(
            (r.builder, &r.linker, r.crt_static),
            (Builder::Cargo, &Linker::RustLld, false)
        );
        let r = resolve(&req("aarch64-unknown-linux-gnu", dir.path()), &tools).unwrap();
        assert_eq!(
            r.linker,
            Linker::Gcc(dir.path().join("aarch64-linux-gnu-gcc"))
        );
        assert!(r.crt_static);
        let CCompiler::Gcc { ar, cxx, .. } = &r.c_compiler else {
            panic!("{r:?}")
        };
        assert_eq!(
            ar.as_deref(),
            Some(dir.path().join("aarch64-linux-gnu-ar").as_path())
        );
        assert_eq!(cxx, &None);
        assert_eq!(
            r.to_string(),
            "cargo, linker aarch64-linux-gnu-gcc, C compiler aarch64-linux-gnu-gcc, static glibc"
        );
        let r = resolve(&req("x86_64-unknown-linux-gnu", dir.path()), &tools).unwrap();
        assert_eq!(r.linker, Linker::HostCc);
    }

    #[test]
    fn a_missing_cross_gcc_names_the_debian_packages() {
        let (dir, tools) = tools_with(&[]);
        let e = resolve(&req("riscv64gc-unknown-linux-gnu", dir.path()), &tools)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("riscv64-linux-gnu-gcc is not on PATH")
                && e.contains("apt-get install gcc-riscv64-linux-gnu libc6-dev-riscv64-cross")
                && e.contains("CARGO_TARGET_RISCV64GC_UNKNOWN_LINUX_GNU_LINKER")
                && e.contains("--glibc <its version>"),
            "{e}"
        );
        // Several targets: one line installs them all, with the grouped apt line.
        let routes = Routes(
            ["riscv64gc-unknown-linux-gnu", "s390x-unknown-linux-gnu"]
                .into_iter()
                .map(|t| (t.to_string(), resolve(&req(t, dir.path()), &tools)))
                .collect(),
        );
        let all = routes.all().unwrap_err().to_string();
        assert!(
            all.starts_with("2 targets cannot be built here")
                && all.contains(
                    "cargo imagebuild doctor --fix --yes --target riscv64gc-unknown-linux-gnu \
                     --target s390x-unknown-linux-gnu"
                )
                && all.contains(
                    "apt-get install gcc-riscv64-linux-gnu gcc-s390x-linux-gnu \
                     libc6-dev-riscv64-cross libc6-dev-s390x-cross;"
                )
                && all.contains("--install-missing"),
            "{all}"
        );
    }

    #[test]
    fn zigbuild_replaces_a_missing_gcc_only_where_glibc_may_be_dynamic() {
        let (dir, tools) = tools_with(&["cargo-zigbuild", "zig"]);
        let mut r = req("s390x-unknown-linux-gnu", dir.path());
        assert!(resolve(&r, &tools).is_err(), "scratch needs static glibc");
        r.static_base = None;
        let route = resolve(&r, &tools).unwrap();
        assert_eq!(route.builder, Builder::Zigbuild);
        r.static_base = Some("scratch");
        r.forced = Some(Builder::Zigbuild);
        let e = resolve(&r, &tools).unwrap_err().to_string();
        assert!(
            e.contains("zig cannot link glibc statically")
                && e.contains("s390x-unknown-linux-musl"),
            "{e}"
        );
        let r = RouteRequest {
            forced: Some(Builder::Zigbuild),
            ..req("aarch64-unknown-linux-musl", dir.path())
        };
        assert_eq!(resolve(&r, &tools).unwrap().builder, Builder::Zigbuild);
    }

    #[test]
    fn c_code_on_musl_needs_zig() {
        let (dir, tools) = tools_with(&["zig"]);
        let mut r = req("aarch64-unknown-linux-musl", dir.path());
        r.builds_c = vec!["ring".into()];
        let route = resolve(&r, &tools).unwrap();
        assert_eq!(route.linker, Linker::RustLld);
        let CCompiler::Zig { target, .. } = &route.c_compiler else {
            panic!("{route:?}")
        };
        assert_eq!(target, "aarch64-linux-musl");
        // musl-gcc compiles for the host's architecture only.
        let (dir, tools) = tools_with(&["musl-gcc", "ar"]);
        r.workspace_root = dir.path();
        assert!(resolve(&r, &tools).is_err());
        let host = RouteRequest {
            triple: "x86_64-unknown-linux-musl",
            ..r.clone()
        };
        let route = resolve(&host, &tools).unwrap();
        assert_eq!(
            route.to_string(),
            "cargo, linker rust-lld, C compiler musl-gcc (C code in ring)"
        );
        let (dir, tools) = tools_with(&["python2"]);
        r.workspace_root = dir.path();
        let e = resolve(&r, &tools).unwrap_err().to_string();
        assert!(
            e.contains("ring build C code")
                && e.contains("pip install ziglang")
                && e.contains("--target aarch64-unknown-linux-gnu"),
            "{e}"
        );
    }

    #[test]
    fn forced_builders_must_be_installed() {
        let (dir, tools) = tools_with(&[]);
        let r = RouteRequest {
            forced: Some(Builder::Cross),
            ..req("aarch64-unknown-linux-musl", dir.path())
        };
        let e = resolve(&r, &tools).unwrap_err().to_string();
        assert!(
            e.contains("`cross` is not installed") && e.contains("cargo install"),
            "{e}"
        );
        assert_eq!("zigbuild".parse::<Builder>(), Ok(Builder::Zigbuild));
        assert!("docker"
            .parse::<Builder>()
            .unwrap_err()
            .contains("cargo, zigbuild or cross"));
    }

    #[test]
    fn missing_build_tools_are_one_refusal_with_the_apt_line() {
        // The PATH comes from the run's environment: here a directory with make and nothing else.
        let (dir, _) = tools_with(&["make"]);
        let env = Environment::empty().with("PATH", dir.path());
        let tools = Tools::detect(Some("x86_64-unknown-linux-gnu"), &env);
        let mut r = req("aarch64-unknown-linux-musl", dir.path());
        r.build_tools = ["cmake", "openssl-src", "prost-build"]
            .iter()
            .flat_map(|p| cdeps::build_tools_of(p))
            .collect();
        let e = resolve(&r, &tools).unwrap_err();
        assert!(matches!(e, RouteError::MissingBuildTools { .. }), "{e:?}");
        let e = e.to_string();
        assert!(
            e.contains("cmake (for cmake), perl (for openssl-src), protoc (for prost-build)")
                && e.contains("fix: apt-get install cmake perl protobuf-compiler")
                && e.contains("CMAKE=/path/to/it")
                && !e.contains(" make (for"),
            "{e}"
        );
        // The same refusal for two targets is shown once.
        let routes = Routes(
            [("a", e.clone()), ("b", e.clone())]
                .into_iter()
                .map(|(t, _)| (t.to_string(), resolve(&r, &tools)))
                .collect(),
        );
        let all = routes.all().unwrap_err().to_string();
        assert_eq!(all.matches("apt-get install").count(), 1, "{all}");
        // Named by its variable instead, a program need not be on PATH.
        let env = env
            .with("CMAKE", "/opt/cmake")
            .with("PERL", "/opt/perl")
            .with("PROTOC", "/opt/protoc");
        let tools = Tools::detect(Some("x86_64-unknown-linux-gnu"), &env);
        assert!(resolve(&r, &tools).is_ok());
    }
}
