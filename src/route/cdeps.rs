//! Which packages of a build compile C code for the target, read from the resolved dependency
//! graph (`cargo metadata --filter-platform <triple>`, with the build's features) before anything
//! compiles: a package whose build script depends on `cc`, `cmake` or `autotools` (as jemalloc,
//! ring, zstd-sys and libgit2-sys do) needs a C compiler for the target. Only the target side of
//! the graph counts: normal dependencies of the selected packages, never proc macros or build
//! scripts' own dependencies, which are compiled for the host.
//!
//! Two more answers come from the same walk: which of those packages compile C++ (a build script
//! that says `.cpp(true)`, or one built with `cxx-build` or `cmake`, or `link-cplusplus` in the
//! graph), so musl targets get zig's C++ runtime linked; and which programs the build scripts run
//! ([`BUILD_TOOLS`]: `cmake`, `protoc`, `make`, `perl`), so a missing one is named before compiling.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use anyhow::{Context, Result};
use cargo_metadata::cargo_platform::{Cfg, Platform};
use cargo_metadata::{CargoOpt, DependencyKind, Metadata, MetadataCommand, Node, PackageId};

use crate::plan::options::FeatureArgs;
use crate::util::env::Environment;

/// Build dependencies that mean "this build script compiles C".
pub const C_BUILD_CRATES: &[&str] = &["cc", "cmake", "autotools"];

/// Build dependencies that mean "this build script compiles C++" (`cmake` projects often are;
/// snmalloc, rdkafka), besides a `cc` build script that says `.cpp(true)`.
pub const CXX_BUILD_CRATES: &[&str] = &["cxx-build", "cmake"];

/// Build dependencies a package's build script uses only when asked: `(package, build
/// dependency, variable)`. aws-lc-sys builds with `cc` and runs cmake only when
/// `AWS_LC_SYS_CMAKE_BUILDER` (or its `_<target>` form) is `1`; without this entry every graph
/// with rustls' default provider would be refused where cmake is absent, and taken for C++.
pub const ON_REQUEST: &[(&str, &str, &str)] =
    &[("aws-lc-sys", "cmake", "AWS_LC_SYS_CMAKE_BUILDER")];

/// Whether `package`'s build dependency `dep` is in use for `triple` under `env`: always,
/// unless [`ON_REQUEST`] names it and its variable does not ask for it.
pub fn in_use(package: &str, dep: &str, triple: &str, env: &Environment) -> bool {
    let Some((.., var)) = ON_REQUEST
        .iter()
        .find(|(p, d, _)| *p == package && *d == dep)
    else {
        return true;
    };
    let suffixed = format!("{var}_{}", triple.replace('-', "_"));
    [suffixed.as_str(), var]
        .iter()
        .find_map(|v| env.var(v))
        .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// Packages that link a C++ standard library themselves when they are in the graph.
pub const CXX_LINKING_CRATES: &[&str] = &["link-cplusplus"];

/// Programs that build scripts run, by the package that runs them (a build dependency, or a
/// package in the graph): `(package, program, Debian package, environment variable that points at
/// one instead)`.
pub const BUILD_TOOLS: &[(&str, &str, &str, &str)] = &[
    ("cmake", "cmake", "cmake", "CMAKE"),
    ("prost-build", "protoc", "protobuf-compiler", "PROTOC"),
    ("tonic-build", "protoc", "protobuf-compiler", "PROTOC"),
    ("tonic-prost-build", "protoc", "protobuf-compiler", "PROTOC"),
    ("openssl-src", "make", "make", "MAKE"),
    ("openssl-src", "perl", "perl", "PERL"),
    ("tikv-jemalloc-sys", "make", "make", "MAKE"),
    ("jemalloc-sys", "make", "make", "MAKE"),
    ("autotools", "make", "make", "MAKE"),
];

/// A program a build script runs: `program` (for `package`), from Debian's `debian`, unless
/// the environment variable `env` names one.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct BuildTool {
    pub program: String,
    pub package: String,
    pub debian: String,
    pub env: String,
}

/// The build tools of [`BUILD_TOOLS`] that `package` (a build dependency, or a package in the
/// graph) asks for.
pub fn build_tools_of(package: &str) -> Vec<BuildTool> {
    BUILD_TOOLS
        .iter()
        .filter(|(p, ..)| *p == package)
        .map(|(p, program, debian, env)| BuildTool {
            program: program.to_string(),
            package: p.to_string(),
            debian: debian.to_string(),
            env: env.to_string(),
        })
        .collect()
}

/// `-sys` crates that link a system library a container target will not have, and the feature of
/// theirs that builds it from source instead: `(package, library, feature)`.
pub const SYSTEM_LIBS: &[(&str, &str, &str)] = &[
    ("libgit2-sys", "libgit2", "vendored"),
    ("libsqlite3-sys", "SQLite", "bundled"),
    ("pq-sys", "libpq", "bundled"),
    ("curl-sys", "libcurl", "static-curl"),
    ("mysqlclient-sys", "libmysqlclient", "bundled"),
    ("libssh2-sys", "libssh2", "vendored-openssl"),
];

/// What a target's dependency graph asks of the machine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Graph {
    /// The packages whose build scripts compile C, as `package (cc)`, sorted.
    pub c_builders: Vec<String>,
    /// The packages among them that compile C++ (or link a C++ standard library), as
    /// `package (cc)`, sorted.
    pub cxx_builders: Vec<String>,
    /// The programs the graph's build scripts run ([`BUILD_TOOLS`]), sorted, each once per
    /// program and package.
    pub build_tools: Vec<BuildTool>,
    /// `openssl-sys` is in the graph without its vendored OpenSSL (`openssl-src`): it wants an
    /// OpenSSL for the target from the system.
    pub system_openssl: bool,
    /// Other system libraries the graph links without building them ([`SYSTEM_LIBS`]), each as
    /// `SQLite (libsqlite3-sys; its feature `bundled` builds it)`.
    pub system_libs: Vec<String>,
}

/// The target-side graph of `roots` for `triple`, with the build's features, read with
/// `cargo metadata --filter-platform`.
pub fn graph(
    manifest_path: &Path,
    triple: &str,
    roots: &[String],
    features: &FeatureArgs,
) -> Result<Graph> {
    let mut cmd = MetadataCommand::new();
    cmd.manifest_path(manifest_path)
        .other_options(vec!["--filter-platform".to_string(), triple.to_string()]);
    if features.all_features {
        cmd.features(CargoOpt::AllFeatures);
    }
    if features.no_default_features {
        cmd.features(CargoOpt::NoDefaultFeatures);
    }
    if !features.features.is_empty() {
        cmd.features(CargoOpt::SomeFeatures(features.features.clone()));
    }
    let meta = cmd.exec().with_context(|| {
        format!("reading the dependency graph for {triple} (cargo metadata) to see whether it builds C code")
    })?;
    let env = Environment::from_process();
    from_metadata(
        &meta,
        roots,
        |_| Ok(true),
        |p, d| in_use(p, d, triple, &env),
    )
}

/// [`graph`] for `triple`, read from metadata resolved for every platform (the plan's one
/// `cargo metadata`): a dependency counts when it has no platform condition or its condition
/// holds for `triple`. `cfg` gives the target's `cfg` values (`rustc --print cfg`); it is asked
/// only when some dependency has a `cfg(...)` condition, and once.
pub fn for_target(
    meta: &Metadata,
    triple: &str,
    roots: &[String],
    env: &Environment,
    cfg: impl FnOnce() -> Result<Vec<Cfg>>,
) -> Result<Graph> {
    from_metadata(meta, roots, applies_to(triple, cfg), |p, d| {
        in_use(p, d, triple, env)
    })
}

/// Whether a dependency's platform condition (`[target.<triple>]` or `[target.'cfg(..)']`) holds
/// for `triple`, as cargo decides it. `cfg` gives the target's `cfg` values (`rustc --print
/// cfg`); it is asked only when some condition is a `cfg(...)`, and once.
pub fn applies_to<'a>(
    triple: &'a str,
    cfg: impl FnOnce() -> Result<Vec<Cfg>> + 'a,
) -> impl FnMut(&Platform) -> Result<bool> + 'a {
    let mut cfg = Some(cfg);
    let mut known: Option<Vec<Cfg>> = None;
    move |platform| {
        if let Platform::Name(name) = platform {
            return Ok(name == triple);
        }
        if known.is_none() {
            let ask = cfg.take().context("the target's cfg was asked twice")?;
            known = Some(ask()?);
        }
        Ok(platform.matches(triple, known.as_deref().unwrap_or_default()))
    }
}

/// The graph of `roots` in metadata already read, following the dependencies whose platform
/// condition `applies`; a build dependency counts where `used(package, dependency)` says so.
fn from_metadata(
    meta: &Metadata,
    roots: &[String],
    mut applies: impl FnMut(&Platform) -> Result<bool>,
    used: impl Fn(&str, &str) -> bool,
) -> Result<Graph> {
    let Some(resolve) = &meta.resolve else {
        return Ok(Graph::default());
    };
    let nodes: HashMap<&PackageId, &Node> = resolve.nodes.iter().map(|n| (&n.id, n)).collect();
    let by_id: HashMap<&PackageId, &cargo_metadata::Package> =
        meta.packages.iter().map(|p| (&p.id, p)).collect();
    let mut todo: Vec<&PackageId> = meta
        .workspace_packages()
        .into_iter()
        .filter(|p| roots.is_empty() || roots.iter().any(|r| *r == p.name.as_str()))
        .map(|p| &p.id)
        .collect();
    let mut seen: BTreeSet<&PackageId> = BTreeSet::new();
    let mut found = BTreeSet::new();
    let mut cxx = BTreeSet::new();
    let mut tools = BTreeSet::new();
    let mut system_openssl = false;
    let mut system_libs = BTreeSet::new();
    // Bounded by the graph: each package is visited once.
    while let Some(id) = todo.pop() {
        if !seen.insert(id) {
            continue;
        }
        let (Some(node), Some(pkg)) = (nodes.get(id), by_id.get(id)) else {
            continue;
        };
        let proc_macro = pkg
            .targets
            .iter()
            .any(|t| t.kind.iter().any(|k| k.to_string() == "proc-macro"));
        if proc_macro {
            continue;
        }
        if CXX_LINKING_CRATES.contains(&pkg.name.as_str()) {
            cxx.insert(pkg.name.to_string());
        }
        if pkg.name.as_str() == "openssl-sys" {
            // The `vendored` feature makes `openssl-src` a build dependency of openssl-sys.
            let vendored = node.deps.iter().any(|d| {
                by_id
                    .get(&d.pkg)
                    .is_some_and(|p| p.name.as_str() == "openssl-src")
            });
            system_openssl |= !vendored;
        }
        if let Some((_, lib, feature)) =
            SYSTEM_LIBS.iter().find(|(p, _, _)| *p == pkg.name.as_str())
        {
            if !node.features.iter().any(|f| f.as_str() == *feature) {
                system_libs.insert(format!(
                    "{lib} ({}: its feature `{feature}` builds it from source)",
                    pkg.name
                ));
            }
        }
        for dep in &node.deps {
            let kinds = kinds_that_hold(dep, &mut applies)?;
            let dep_name = by_id
                .get(&dep.pkg)
                .map(|p| p.name.as_str())
                .unwrap_or(dep.name.as_str());
            let build = kinds.contains(&DependencyKind::Build) && used(pkg.name.as_str(), dep_name);
            let cxx_crate = CXX_BUILD_CRATES.contains(&dep_name);
            if build && (cxx_crate || C_BUILD_CRATES.contains(&dep_name)) {
                found.insert(format!("{} ({dep_name})", pkg.name));
                if cxx_crate || (dep_name == "cc" && says_cpp(pkg)) {
                    cxx.insert(format!("{} ({dep_name})", pkg.name));
                }
            }
            if build {
                tools.extend(build_tools_of(dep_name));
            }
            if kinds.contains(&DependencyKind::Normal) {
                todo.push(&dep.pkg);
            }
        }
    }
    Ok(Graph {
        c_builders: found.into_iter().collect(),
        cxx_builders: cxx.into_iter().collect(),
        build_tools: tools.into_iter().collect(),
        system_openssl,
        system_libs: system_libs.into_iter().collect(),
    })
}

/// Whether `pkg`'s build script asks the `cc` crate for C++ (`.cpp(true)`), read from its
/// source (the first 256 KiB; a script that cannot be read counts as C only). A `.cpp(true)`
/// within the few lines under a test for MSVC or Windows (mimalloc compiles as C++ only with
/// MSVC) is not for a Linux target and does not count.
fn says_cpp(pkg: &cargo_metadata::Package) -> bool {
    use std::io::Read;
    pkg.targets
        .iter()
        .filter(|t| t.kind.iter().any(|k| k.to_string() == "custom-build"))
        .any(|t| {
            let mut text = String::new();
            std::fs::File::open(&t.src_path)
                .and_then(|f| f.take(256 * 1024).read_to_string(&mut text))
                .is_ok()
                && script_says_cpp(&text)
        })
}

/// [`says_cpp`] on a build script's text.
fn script_says_cpp(text: &str) -> bool {
    // The text without whitespace (`.cpp(` and `true)` may sit on lines of their own), and the
    // line each of its characters came from.
    let mut flat = String::new();
    let mut line_of = Vec::new();
    for (n, line) in text.lines().enumerate() {
        for c in line.chars().filter(|c| !c.is_whitespace()) {
            flat.push(c);
            line_of.push(n);
        }
    }
    let lines: Vec<&str> = text.lines().collect();
    flat.match_indices(".cpp(true)").any(|(at, _)| {
        let n = line_of[at];
        !lines[n.saturating_sub(4)..n]
            .iter()
            .any(|l| l.contains("msvc") || l.contains("windows"))
    })
}

/// The kinds (normal, build, dev) by which `dep` is a dependency where `applies` holds: a kind
/// under a platform condition (`[target.'cfg(…)'.dependencies]`) counts only where it holds.
pub fn kinds_that_hold(
    dep: &cargo_metadata::NodeDep,
    applies: &mut impl FnMut(&Platform) -> Result<bool>,
) -> Result<Vec<DependencyKind>> {
    let mut kinds = Vec::new();
    for k in &dep.dep_kinds {
        let holds = match &k.target {
            Some(platform) => applies(platform)?,
            None => true,
        };
        if holds {
            kinds.push(k.kind);
        }
    }
    Ok(kinds)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A workspace of path crates: `(directory, package name, more Cargo.toml, is a binary)`.
    fn workspace(crates: &[(&str, &str, &str, bool)]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let write = |p: &str, s: &str| {
            let p = dir.path().join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, s).unwrap();
        };
        let members: Vec<String> = crates.iter().map(|c| format!("\"{}\"", c.0)).collect();
        write(
            "Cargo.toml",
            &format!(
                "[workspace]\nmembers = [{}]\nresolver = \"2\"\n",
                members.join(", ")
            ),
        );
        for (d, name, rest, bin) in crates {
            write(
                &format!("{d}/Cargo.toml"),
                &format!(
                    "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n{rest}"
                ),
            );
            match bin {
                true => write(&format!("{d}/src/main.rs"), "fn main() {}\n"),
                false => write(&format!("{d}/src/lib.rs"), ""),
            }
        }
        let manifest = dir.path().join("Cargo.toml");
        (dir, manifest)
    }

    const HOST: &str = "x86_64-unknown-linux-gnu";

    #[test]
    fn finds_the_build_script_that_compiles_c() {
        // app -> native (build-dep on a local `cc`); tool has `cc` only as a normal dependency,
        // which compiles nothing for the target.
        let (_dir, manifest) = workspace(&[
            (
                "app",
                "app",
                "[dependencies]\nnative = { path = \"../native\" }\n",
                true,
            ),
            (
                "native",
                "native",
                "[build-dependencies]\ncc = { path = \"../cc\" }\n",
                false,
            ),
            ("cc", "cc", "", false),
            (
                "tool",
                "tool",
                "[dependencies]\ncc = { path = \"../cc\" }\n",
                true,
            ),
        ]);
        let f = FeatureArgs::default();
        assert_eq!(
            graph(&manifest, HOST, &["app".into()], &f)
                .unwrap()
                .c_builders,
            ["native (cc)"]
        );
        assert!(graph(&manifest, HOST, &["tool".into()], &f)
            .unwrap()
            .c_builders
            .is_empty());
    }

    #[test]
    fn one_metadata_for_every_platform_is_read_per_target() {
        // `native` (which compiles C) is a dependency on arm64 only, by name and by cfg.
        let (_dir, manifest) = workspace(&[
            (
                "app",
                "app",
                "[target.'cfg(target_arch = \"aarch64\")'.dependencies]\nnative = { path = \"../native\" }\n[target.riscv64gc-unknown-linux-gnu.dependencies]\nnative = { path = \"../native\" }\n",
                true,
            ),
            (
                "native",
                "native",
                "[build-dependencies]\ncc = { path = \"../cc\" }\n",
                false,
            ),
            ("cc", "cc", "", false),
        ]);
        let meta = MetadataCommand::new()
            .manifest_path(&manifest)
            .exec()
            .unwrap();
        let cfg = |arch: &str| {
            let arch = arch.to_string();
            move || {
                Ok(vec![format!("target_arch=\"{arch}\"")
                    .parse::<Cfg>()
                    .unwrap()])
            }
        };
        let roots = ["app".to_string()];
        let arm = for_target(
            &meta,
            "aarch64-unknown-linux-musl",
            &roots,
            &Environment::empty(),
            cfg("aarch64"),
        )
        .unwrap();
        assert_eq!(arm.c_builders, ["native (cc)"]);
        let amd = for_target(
            &meta,
            "x86_64-unknown-linux-musl",
            &roots,
            &Environment::empty(),
            cfg("x86_64"),
        )
        .unwrap();
        assert!(amd.c_builders.is_empty());
        let riscv = for_target(
            &meta,
            "riscv64gc-unknown-linux-gnu",
            &roots,
            &Environment::empty(),
            cfg("riscv64"),
        )
        .unwrap();
        assert_eq!(riscv.c_builders, ["native (cc)"]);
    }

    #[test]
    fn openssl_sys_without_its_vendored_source_wants_a_system_openssl() {
        // A stand-in `openssl-sys` whose `vendored` feature adds `openssl-src`, as the real one does.
        let (_dir, manifest) = workspace(&[
            (
                "sys",
                "openssl-sys",
                "[features]\nvendored = [\"dep:openssl-src\"]\n[build-dependencies]\nopenssl-src = { path = \"../src\", optional = true }\n",
                false,
            ),
            ("src", "openssl-src", "", false),
            ("app", "app", "[dependencies]\nopenssl-sys = { path = \"../sys\" }\n", true),
        ]);
        let plain = graph(&manifest, HOST, &["app".into()], &FeatureArgs::default()).unwrap();
        assert!(plain.system_openssl);
        let vendored = FeatureArgs {
            features: vec!["openssl-sys/vendored".into()],
            ..Default::default()
        };
        let v = graph(&manifest, HOST, &["app".into()], &vendored).unwrap();
        assert!(!v.system_openssl);
    }

    #[test]
    fn system_libraries_without_their_bundling_feature_are_named() {
        let (_dir, manifest) = workspace(&[
            ("sys", "libsqlite3-sys", "[features]\nbundled = []\n", false),
            (
                "app",
                "app",
                "[dependencies]\nlibsqlite3-sys = { path = \"../sys\" }\n",
                true,
            ),
        ]);
        let plain = graph(&manifest, HOST, &["app".into()], &FeatureArgs::default()).unwrap();
        assert_eq!(
            plain.system_libs,
            ["SQLite (libsqlite3-sys: its feature `bundled` builds it from source)"]
        );
        let bundled = FeatureArgs {
            features: vec!["libsqlite3-sys/bundled".into()],
            ..Default::default()
        };
        let b = graph(&manifest, HOST, &["app".into()], &bundled).unwrap();
        assert!(b.system_libs.is_empty());
    }

    #[test]
    fn cxx_build_scripts_and_the_programs_build_scripts_run_are_found() {
        // `cxxnative` compiles C++ through cc, `cnative` only C; `cm` builds with cmake, `proto`
        // with prost-build (which runs protoc).
        let (dir, manifest) = workspace(&[
            (
                "app",
                "app",
                "[dependencies]\ncxxnative = { path = \"../cxxnative\" }\ncnative = { path = \"../cnative\" }\ncm = { path = \"../cm\" }\nproto = { path = \"../proto\" }\n",
                true,
            ),
            ("cxxnative", "cxxnative", "[build-dependencies]\ncc = { path = \"../cc\" }\n", false),
            ("cnative", "cnative", "[build-dependencies]\ncc = { path = \"../cc\" }\n", false),
            ("cm", "cm", "[build-dependencies]\ncmake = { path = \"../cmake\" }\n", false),
            ("proto", "proto", "[build-dependencies]\nprost-build = { path = \"../prost-build\" }\n", false),
            ("cc", "cc", "", false),
            ("cmake", "cmake", "", false),
            ("prost-build", "prost-build", "", false),
        ]);
        let script = |d: &str, body: &str| {
            std::fs::write(dir.path().join(d).join("build.rs"), body).unwrap();
        };
        script(
            "cxxnative",
            "fn main() { cc::Build::new()\n    .cpp( true )\n    .file(\"a.cpp\").compile(\"a\"); }\n",
        );
        // C++ only for MSVC, as mimalloc's script says: C for a Linux target.
        script(
            "cnative",
            "fn main() {\n    let mut b = cc::Build::new();\n    if target_env == \"msvc\" {\n        b.cpp(true);\n    }\n    b.file(\"a.c\").compile(\"a\");\n}\n",
        );
        let g = graph(&manifest, HOST, &["app".into()], &FeatureArgs::default()).unwrap();
        assert_eq!(
            g.c_builders,
            ["cm (cmake)", "cnative (cc)", "cxxnative (cc)"]
        );
        assert_eq!(g.cxx_builders, ["cm (cmake)", "cxxnative (cc)"]);
        let tools: Vec<(&str, &str)> = g
            .build_tools
            .iter()
            .map(|t| (t.program.as_str(), t.package.as_str()))
            .collect();
        assert_eq!(tools, [("cmake", "cmake"), ("protoc", "prost-build")]);
    }

    #[test]
    fn a_build_dependency_used_only_on_request_counts_only_when_asked() {
        // aws-lc-sys build-depends on cmake but runs it only when AWS_LC_SYS_CMAKE_BUILDER=1.
        let (_dir, manifest) = workspace(&[
            ("app", "app", "[dependencies]\naws-lc-sys = { path = \"../aws\" }\n", true),
            (
                "aws",
                "aws-lc-sys",
                "[build-dependencies]\ncc = { path = \"../cc\" }\ncmake = { path = \"../cmake\" }\n",
                false,
            ),
            ("cc", "cc", "", false),
            ("cmake", "cmake", "", false),
        ]);
        let meta = MetadataCommand::new()
            .manifest_path(&manifest)
            .exec()
            .unwrap();
        let roots = ["app".to_string()];
        let no_cfg = || -> Result<Vec<Cfg>> { Ok(Vec::new()) };
        let quiet = for_target(&meta, HOST, &roots, &Environment::empty(), no_cfg).unwrap();
        assert_eq!(quiet.c_builders, ["aws-lc-sys (cc)"]);
        assert!(quiet.cxx_builders.is_empty(), "{quiet:?}");
        assert!(quiet.build_tools.is_empty(), "{quiet:?}");
        for var in [
            "AWS_LC_SYS_CMAKE_BUILDER".to_string(),
            format!("AWS_LC_SYS_CMAKE_BUILDER_{}", HOST.replace('-', "_")),
        ] {
            let env = Environment::empty().with(&var, "1");
            let asked = for_target(&meta, HOST, &roots, &env, no_cfg).unwrap();
            assert_eq!(asked.c_builders, ["aws-lc-sys (cc)", "aws-lc-sys (cmake)"]);
            assert_eq!(asked.build_tools.len(), 1, "{asked:?}");
            assert_eq!(asked.build_tools[0].program, "cmake");
        }
        let off = Environment::empty().with("AWS_LC_SYS_CMAKE_BUILDER", "0");
        assert!(for_target(&meta, HOST, &roots, &off, no_cfg)
            .unwrap()
            .build_tools
            .is_empty());
    }

    #[test]
    fn cpp_under_an_msvc_or_windows_test_is_not_for_linux() {
        assert!(script_says_cpp(
            "cc::Build::new().cpp(true).file(\"a.cc\");"
        ));
        assert!(script_says_cpp(
            "b\n    .cpp(\n        true,\n    )"
                .replace(',', "")
                .as_str()
        ));
        assert!(!script_says_cpp("b.cpp(false);"));
        assert!(!script_says_cpp(
            "if target_env == \"msvc\" {\n    // atomics\n    build.cpp(true);\n}"
        ));
        assert!(!script_says_cpp("if cfg!(windows) {\n    b.cpp(true);\n}"));
        assert!(script_says_cpp(
            "if target_env == \"msvc\" {\n}\nlet a = 1;\nlet b = 2;\nlet c = 3;\nlet d = 4;\nbuild.cpp(true);"
        ));
    }
}
