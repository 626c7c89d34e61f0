//! Runs cargo for a group of targets (`cargo build`, `cargo zigbuild` or `cross build`, as their
//! [`Route`]s say, with `--message-format=json`) and takes the executables from cargo's own
//! artifact messages (never guessing paths), handing each over as soon as cargo names it; its
//! diagnostics go to the [`Reporter`], which shows each once over all targets, and its stderr is kept
//! for `-v` and for a failure. Targets built by plain `cargo build` share one invocation
//! (`--target A --target B`: cargo starts once and schedules every target on every core) when
//! everything their routes set is per target ([`shares_invocation`]); the others get one each.
//! The route's linker, C compiler and static-glibc flag reach cargo through its environment and
//! `--config`, by target-named variables (`CARGO_TARGET_<T>_LINKER`, `CC_<target>`,
//! `AR_<target>`, …); the user's own settings (`CARGO_TARGET_<T>_LINKER`, `.cargo/config.toml`, `--config`,
//! `CC_<target>`, rustflags) win.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use cargo_metadata::Message;

use crate::compile::sccache;
use crate::plan::options::FeatureArgs;
use crate::route::cargo_config::linker_env_var;
use crate::route::rustflags::{self, AddedFlags};
use crate::route::{Builder, CCompiler, Linker, Route};
use crate::util::env::Environment;
use crate::util::report::Reporter;

/// One cargo invocation for one or more targets.
#[derive(Clone, Debug)]
pub struct CompileRequest<'a> {
    pub manifest_path: &'a Path,
    pub workspace_root: &'a Path,
    pub packages: Vec<String>,
    pub bins: Vec<String>,
    pub features: &'a FeatureArgs,
    pub profile: &'a str,
    /// Extra `--config` values for cargo, as the user gave them.
    pub cargo_config: &'a [String],
    /// How each target is built, one route per target (all with the same builder; more than one
    /// only when every one [`shares_invocation`]).
    pub routes: Vec<&'a Route>,
    /// Where generated helper files go ([`crate::plan::Plan::work_dir`]).
    pub work_dir: &'a Path,
    /// More environment for cargo (what a provisioning step provides, such as an OpenSSL).
    pub env: Vec<(String, String)>,
    /// The run's environment, as the user's settings are read from it.
    pub vars: &'a Environment,
    /// Run cargo with `--verbose`.
    pub verbose: bool,
    /// Rustflags of ours beside the route's (the `--remap-path-prefix` flags).
    pub rustflags: &'a [String],
}

impl CompileRequest<'_> {
    /// The targets, in order, as `A, B`.
    pub fn triples(&self) -> String {
        let t: Vec<&str> = self.routes.iter().map(|r| r.triple.as_str()).collect();
        t.join(", ")
    }
}

/// An executable cargo built, keyed by target, package and binary name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    pub triple: String,
    pub package: String,
    pub bin: String,
    pub path: PathBuf,
}

/// Whether `route`'s target can be built in one cargo invocation with other targets: the plain
/// cargo builder (zigbuild and cross are run per target), and nothing set that applies to every
/// target at once (the `+crt-static` flag or the C++ runtime's `-L` through
/// `CARGO_ENCODED_RUSTFLAGS`, when the user's flags live in `RUSTFLAGS`).
pub fn shares_invocation(
    route: &Route,
    workspace_root: &Path,
    cargo_config: &[String],
    env: &Environment,
) -> bool {
    // Flags of this target's own (`+crt-static`, the `-L` of the C++ runtime or of
    // [`host_library_dirs`]) reach cargo through
    // the encoded variable, which every target of an invocation reads, when the user's flags live
    // in `RUSTFLAGS`.
    let own_flags = route.crt_static
        || route.cxx_runtime
        || (route.glibc.is_some() && matches!(route.linker, Linker::Zig { .. }));
    route.builder == Builder::Cargo
        && !(own_flags
            && matches!(
                rustflags::added(
                    &route.triple,
                    workspace_root,
                    cargo_config,
                    false,
                    &["-L".to_string()],
                    env
                ),
                AddedFlags::Env(..)
            ))
}

/// Builds the requested binaries for every target and returns their executables.
pub fn compile(req: &CompileRequest<'_>, ui: &Reporter) -> Result<Vec<Artifact>> {
    let mut found = Vec::new();
    compile_streaming(req, ui, |a| {
        found.push(a);
        Ok(())
    })?;
    Ok(found)
}

/// Builds the requested binaries for every target, handing each executable to `built` the
/// moment cargo names it (fresh ones come first, before anything compiles). An error from
/// `built` stops cargo and is returned.
pub fn compile_streaming(
    req: &CompileRequest<'_>,
    ui: &Reporter,
    mut built: impl FnMut(Artifact) -> Result<()>,
) -> Result<()> {
    let cargo = req
        .vars
        .path("CARGO")
        .map_or_else(|| "cargo".into(), PathBuf::into_os_string);
    let first = req.routes.first().context("no target to compile")?;
    let (program, sub) = match (first.builder, &first.builder_path) {
        (Builder::Zigbuild, Some(p)) => (p.as_os_str().to_owned(), "zigbuild"),
        (Builder::Cross, Some(p)) => (p.as_os_str().to_owned(), "build"),
        _ => (cargo, "build"),
    };
    let mut cmd = Command::new(&program);
    cmd.arg(sub).arg("--manifest-path").arg(req.manifest_path);
    for r in &req.routes {
        cmd.args(["--target", &r.triple]);
    }
    cmd.args(["--profile", req.profile])
        .arg("--message-format=json");
    for p in &req.packages {
        cmd.args(["-p", p]);
    }
    for b in &req.bins {
        cmd.args(["--bin", b]);
    }
    if !req.features.features.is_empty() {
        cmd.args(["--features", &req.features.features.join(",")]);
    }
    if req.features.all_features {
        cmd.arg("--all-features");
    }
    if req.features.no_default_features {
        cmd.arg("--no-default-features");
    }
    for c in req.cargo_config {
        cmd.args(["--config", c]);
    }
    if req.verbose {
        cmd.arg("--verbose");
    }
    for route in &req.routes {
        apply_route(&mut cmd, route, req)?;
        ui.detail("Route", &format!("{}: {route}", route.triple));
    }
    // cross runs cargo in a container, where this binary is not.
    let remaps: Vec<String> = req
        .rustflags
        .iter()
        .filter(|f| f.starts_with("--remap-path-prefix="))
        .cloned()
        .collect();
    if first.builder != Builder::Cross && !remaps.is_empty() {
        if let Some(sccache) = sccache::user_sccache(req.workspace_root, req.cargo_config, req.vars)
        {
            sccache::apply(&mut cmd, &sccache, &remaps, req.work_dir)?;
            ui.detail(
                "sccache",
                &format!(
                    "{} wraps rustc and the C compilers, our path remaps kept out of its keys",
                    sccache.to_string_lossy()
                ),
            );
        }
    }
    cmd.envs(req.env.iter().map(|(k, v)| (k, v)));
    // The program and its arguments, secrets masked (not `{cmd:?}`: that would print every
    // variable of the environment too).
    let mut shown = vec![cmd.get_program().to_string_lossy().into_owned()];
    shown.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    let shown: Vec<String> = crate::util::redact::command(&shown)
        .iter()
        .map(|a| format!("{a:?}"))
        .collect();
    ui.detail("Running", &shown.join(" "));
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("running {}", program.to_string_lossy()))?;
    let stdout = child.stdout.take().context("reading cargo's output")?;
    let stderr = child.stderr.take().context("reading cargo's output")?;
    // cargo's own stderr is kept, shown as it comes only with -v, and in full if it fails.
    let echo = ui.clone();
    let stderr = std::thread::spawn(move || cargo_stderr(stderr, &echo));
    let triples: Vec<&str> = req.routes.iter().map(|r| r.triple.as_str()).collect();
    let mut handed = Ok(());
    let mut diagnostics = Vec::new();
    let mut units: BTreeMap<String, usize> = BTreeMap::new();
    for message in Message::parse_stream(BufReader::new(stdout)) {
        let message = message.context("reading cargo's JSON messages")?;
        match message {
            Message::CompilerArtifact(a) => {
                // Units built per target, for the live display (host build scripts count nowhere).
                if let Some(t) = a
                    .filenames
                    .first()
                    .and_then(|f| triple_of(f.as_std_path(), &triples))
                {
                    let n = units.entry(t.to_string()).or_default();
                    *n += 1;
                    ui.compile_progress(t, *n);
                }
                let is_bin = a.target.kind.iter().any(|k| k.to_string() == "bin");
                let Some(exe) = a.executable.filter(|_| is_bin) else {
                    continue;
                };
                let path = exe.into_std_path_buf();
                let Some(triple) = triple_of(&path, &triples) else {
                    continue;
                };
                handed = built(Artifact {
                    triple: triple.to_string(),
                    package: package_name(&a.package_id.repr),
                    bin: a.target.name.clone(),
                    path,
                });
                if handed.is_err() {
                    // Stop cargo: its work is no longer wanted.
                    let _ = child.kill();
                    break;
                }
            }
            Message::CompilerMessage(m) => {
                if let Some(rendered) = m.message.rendered {
                    let level = serde_json::to_value(m.message.level).unwrap_or_default();
                    ui.cargo_diagnostic(&rendered, level.as_str().unwrap_or_default());
                    // One cargo run builds several targets, each reporting the same errors:
                    // a failure shows each once.
                    if !diagnostics.contains(&rendered) {
                        diagnostics.push(rendered);
                    }
                }
            }
            _ => {}
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    let stderr = stderr.join().unwrap_or_default();
    handed?;
    if !status.success() {
        ui.cargo_failed(&stderr, &diagnostics);
        bail!(
            "cargo build for {} failed (its errors are above): fix the build, then run again",
            req.triples()
        );
    }
    Ok(())
}

/// The target an executable was built for: with `--target`, cargo puts it under
/// `<target-dir>/<triple>/<profile>/`. With one target, that one.
fn triple_of<'t>(path: &Path, triples: &[&'t str]) -> Option<&'t str> {
    if let [only] = triples {
        return Some(only);
    }
    path.components().rev().find_map(|c| match c {
        Component::Normal(name) => triples.iter().copied().find(|t| name == *t),
        _ => None,
    })
}

/// Reads cargo's stderr to the end, reporting each line as it comes (but not its per-target
/// "generated N warnings" tallies: the warnings themselves are reported once, see
/// [`Reporter::cargo_diagnostic`]).
fn cargo_stderr(stderr: impl std::io::Read, echo: &Reporter) -> String {
    use std::io::BufRead;
    let mut all = String::new();
    for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
        let tally = line.starts_with("warning: `") && line.contains(" generated ");
        if !tally {
            echo.cargo_output(&line);
        }
        all.push_str(&line);
        all.push('\n');
    }
    all
}

/// Puts the route's linker, C compiler and static-glibc flag, and our other rustflags, into the
/// build's environment and arguments. A builder that brings its own toolchain (zigbuild, cross)
/// gets only the flags.
fn apply_route(cmd: &mut Command, route: &Route, req: &CompileRequest<'_>) -> Result<()> {
    let triple = route.triple.as_str();
    let under = triple.replace('-', "_");
    match &route.linker {
        Linker::RustLld => {
            cmd.env(linker_env_var(triple), "rust-lld");
        }
        Linker::Gcc(gcc) => {
            cmd.env(linker_env_var(triple), gcc);
        }
        Linker::Zig { zig, target } => {
            let w = zig_wrappers(req.work_dir, zig, route, target)?;
            cmd.env(linker_env_var(triple), &w.cc);
        }
        Linker::User { .. } | Linker::HostCc | Linker::Builder | Linker::Default => {}
    }
    match &route.c_compiler {
        CCompiler::Gcc { cc, ar, cxx } => {
            cmd.env(format!("CC_{under}"), cc);
            if let Some(ar) = ar {
                cmd.env(format!("AR_{under}"), ar);
            }
            if let Some(cxx) = cxx {
                cmd.env(format!("CXX_{under}"), cxx);
            }
        }
        CCompiler::Zig { zig, target } => {
            let w = zig_wrappers(req.work_dir, zig, route, target)?;
            cmd.env(format!("CC_{under}"), &w.cc)
                .env(format!("CXX_{under}"), &w.cxx)
                .env(format!("AR_{under}"), &w.ar);
        }
        CCompiler::User(_) | CCompiler::Default => {}
    }
    let mut extra = req.rustflags.to_vec();
    if route.cxx_runtime {
        // zig's libc++ (see `route::zigcc`): the `cc` crate asks for `-lc++`, found here.
        cmd.env(format!("CXXSTDLIB_{under}"), "c++");
        let dir = crate::route::zigcc::cxx_runtime_dir(req.work_dir, triple);
        extra.push(format!("-Lnative={}", dir.display()));
    }
    if let (Some(_), Linker::Zig { .. }) = (route.glibc, &route.linker) {
        extra.extend(host_library_dirs(triple));
    }
    let added = rustflags::added(
        triple,
        req.workspace_root,
        req.cargo_config,
        route.crt_static,
        &extra,
        req.vars,
    );
    match added {
        AddedFlags::Env(k, v) => {
            cmd.env(k, v);
        }
        AddedFlags::Config(c) => {
            cmd.args(["--config", &c]);
        }
        AddedFlags::Nothing => {}
    }
    Ok(())
}

/// `-Lnative=` flags for this machine's Debian multiarch directories of `triple`'s platform
/// (`/usr/lib/x86_64-linux-gnu`, `/lib/x86_64-linux-gnu`), those that exist: zig links glibc
/// from its own stubs and searches no system directory, so a `#[link(name = "z")]` or a `-sys`
/// crate's system library (as the host's `cc` would find it) is looked for there, after the
/// user's own `-L`. The libraries of a multiarch directory are of that architecture.
fn host_library_dirs(triple: &str) -> Vec<String> {
    let Some(multiarch) = crate::image::platform::Platform::from_triple(triple)
        .ok()
        .and_then(|p| crate::compile::basefs::multiarch(&p))
    else {
        return Vec::new();
    };
    let mut seen = Vec::new();
    [format!("/usr/lib/{multiarch}"), format!("/lib/{multiarch}")]
        .into_iter()
        // (`/lib` is a link to `/usr/lib` on merged-/usr systems: one flag for both.)
        .filter(|d| match std::fs::canonicalize(d) {
            Ok(real) if !seen.contains(&real) => {
                seen.push(real);
                true
            }
            _ => false,
        })
        .map(|d| format!("-Lnative={d}"))
        .collect()
}

/// The zig wrappers of `route`, in a directory named for its target and glibc version
/// (`riscv64gc-unknown-linux-gnu.2.28`), so another `--glibc` is another linker path and cargo
/// links again.
fn zig_wrappers(
    work_dir: &Path,
    zig: &crate::route::tools::ZigCommand,
    route: &Route,
    target: &str,
) -> Result<crate::route::zigcc::ZigWrappers> {
    let name = match route.glibc {
        Some(v) => format!("{}.{v}", route.triple),
        None => route.triple.clone(),
    };
    crate::route::zigcc::write_wrappers(&work_dir.join("zig"), zig, &name, target)
}

/// The package name in a package id: `path+file:///ws/app#app@0.1.0` → `app`,
/// `path+file:///ws/app#0.1.0` → `app`, old style `app 0.1.0 (path+file://…)` → `app`.
pub fn package_name(id: &str) -> String {
    if let Some((url, frag)) = id.rsplit_once('#') {
        if let Some((name, _)) = frag.split_once('@') {
            return name.to_string();
        }
        return url
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(url)
            .to_string();
    }
    id.split(' ').next().unwrap_or(id).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_from_every_id_style() {
        assert_eq!(package_name("path+file:///ws/app#app@0.1.0"), "app");
        assert_eq!(package_name("path+file:///ws/my-app#0.1.0"), "my-app");
        assert_eq!(package_name("app 0.1.0 (path+file:///ws/app)"), "app");
    }

    #[test]
    fn executables_belong_to_the_target_named_in_their_path() {
        let t = ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"];
        let p = Path::new("/t/aarch64-unknown-linux-musl/release/app");
        assert_eq!(triple_of(p, &t), Some("aarch64-unknown-linux-musl"));
        assert_eq!(triple_of(Path::new("/t/release/app"), &t), None);
        assert_eq!(triple_of(Path::new("/t/release/app"), &t[..1]), Some(t[0]));
    }
}
