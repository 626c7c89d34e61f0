//! The dependency graph of exactly what went into one binary for one target, as an SBOM lists
//! it: the run's one `cargo metadata` (resolved for every platform, with the build's feature
//! flags), walked from the binary's package along the dependencies whose platform condition
//! holds for the target (as `--filter-platform` would keep them), normal dependencies (dev-dependencies never; build dependencies,
//! and everything reached only through them, kept but marked as such). Each package carries
//! what an SBOM says of it: name, version, license (as a valid SPDX expression, or none), its
//! `Cargo.lock` checksum, its purl and where its source came from.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use cargo_metadata::cargo_platform::Platform;
use cargo_metadata::{DependencyKind, Metadata, PackageId};

/// Where a package's source came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// crates.io.
    CratesIo,
    /// Another registry, by its index URL.
    Registry(String),
    /// A git repository at a commit.
    Git { url: String, commit: String },
    /// A path, relative to the workspace root (`.` for the root itself, `../x` outside it).
    Path(String),
}

impl Origin {
    fn parse(source: Option<&str>, manifest_path: &Path, workspace_root: &Path) -> Origin {
        let Some(s) = source else {
            // Outside the workspace too: relative (`../shared`), never this machine's path.
            let dir = manifest_path.parent().unwrap_or(manifest_path);
            return Origin::Path(crate::util::relative::path(dir, workspace_root, None));
        };
        if s == "registry+https://github.com/rust-lang/crates.io-index"
            || s == "sparse+https://index.crates.io/"
        {
            return Origin::CratesIo;
        }
        if let Some(git) = s.strip_prefix("git+") {
            let (url, commit) = git.split_once('#').unwrap_or((git, ""));
            let url = url.split('?').next().unwrap_or(url);
            return Origin::Git {
                url: crate::util::redact::urls(url).into_owned(),
                commit: commit.to_string(),
            };
        }
        let url = s
            .strip_prefix("registry+")
            .or_else(|| s.strip_prefix("sparse+"))
            .unwrap_or(s);
        Origin::Registry(crate::util::redact::urls(url).into_owned())
    }

    /// For people and SBOM comments: `crates.io`, `git URL@COMMIT`, `registry URL`, `path P`.
    pub fn describe(&self) -> String {
        match self {
            Origin::CratesIo => "crates.io".into(),
            Origin::Registry(u) => format!("registry {u}"),
            Origin::Git { url, commit } => format!("git {url}@{commit}"),
            Origin::Path(p) => format!("path {p}"),
        }
    }
}

/// One package of the graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// A valid SPDX license expression, when Cargo.toml's `license` gives one.
    pub license: Option<String>,
    /// The sha256 `Cargo.lock` records for it (registry packages).
    pub checksum: Option<String>,
    pub origin: Origin,
    /// Reached only through build dependencies: it ran at build time, it is not in the binary.
    pub build_only: bool,
}

impl Package {
    /// `pkg:cargo/NAME@VERSION`.
    pub fn purl(&self) -> String {
        format!("pkg:cargo/{}@{}", self.name, self.version)
    }
}

/// How one package depends on another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Edge {
    Normal,
    Build,
}

/// The packages (the binary's own first) and the edges between them, by index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Graph {
    pub packages: Vec<Package>,
    /// `(from, to, kind)`, sorted.
    pub edges: Vec<(usize, usize, Edge)>,
}

/// The `checksum` of every registry package in the workspace's `Cargo.lock`, by (name, version).
pub fn lock_checksums(workspace_root: &Path) -> BTreeMap<(String, String), String> {
    let path: PathBuf = workspace_root.join("Cargo.lock");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return BTreeMap::new();
    };
    let Ok(lock) = text.parse::<toml::Table>() else {
        return BTreeMap::new();
    };
    lock.get("package")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let name = p.get("name")?.as_str()?;
            let version = p.get("version")?.as_str()?;
            let sum = p.get("checksum")?.as_str()?;
            Some(((name.to_string(), version.to_string()), sum.to_string()))
        })
        .collect()
}

/// A Cargo.toml `license` as a valid SPDX expression (`MIT/Apache-2.0` becomes
/// `MIT OR Apache-2.0`), or `None` when it is not one.
pub fn spdx_license(license: Option<&str>) -> Option<String> {
    let l = license?.trim();
    let canonical = spdx::Expression::canonicalize(l)
        .ok()?
        .unwrap_or_else(|| l.to_string());
    spdx::Expression::parse(&canonical).ok()?;
    Some(canonical)
}

/// The graph of `package` (a workspace member) in `meta`, following only the dependencies
/// whose platform condition `applies` (`route::cdeps::applies_to` for the target).
pub fn of_package(
    meta: &Metadata,
    package: &str,
    checksums: &BTreeMap<(String, String), String>,
    mut applies: impl FnMut(&Platform) -> Result<bool>,
) -> Result<Graph> {
    let root = meta
        .workspace_packages()
        .into_iter()
        .find(|p| p.name.as_str() == package)
        .ok_or_else(|| anyhow!("package `{package}` is not in the workspace's metadata"))?;
    let resolve = meta
        .resolve
        .as_ref()
        .ok_or_else(|| anyhow!("cargo metadata gave no resolved dependency graph"))?;
    let nodes: BTreeMap<&PackageId, &cargo_metadata::Node> =
        resolve.nodes.iter().map(|n| (&n.id, n)).collect();
    let by_id: BTreeMap<&PackageId, &cargo_metadata::Package> =
        meta.packages.iter().map(|p| (&p.id, p)).collect();

    // Breadth first from the root; `normal` = reached through normal dependencies only.
    let mut order: Vec<&PackageId> = vec![&root.id];
    let mut normal: BTreeMap<&PackageId, bool> = [(&root.id, true)].into();
    let mut raw_edges: Vec<(&PackageId, &PackageId, Edge)> = Vec::new();
    let mut queue: VecDeque<&PackageId> = [&root.id].into();
    while let Some(id) = queue.pop_front() {
        let here_normal = normal[id];
        let Some(node) = nodes.get(id) else { continue };
        for dep in &node.deps {
            let kinds = crate::route::cdeps::kinds_that_hold(dep, &mut applies)?;
            let edge = if kinds.contains(&DependencyKind::Normal) {
                Edge::Normal
            } else if kinds.contains(&DependencyKind::Build) {
                Edge::Build
            } else {
                continue; // dev-dependencies only
            };
            raw_edges.push((id, &dep.pkg, edge));
            let child_normal = here_normal && edge == Edge::Normal;
            match normal.get(&dep.pkg).copied() {
                None => {
                    normal.insert(&dep.pkg, child_normal);
                    order.push(&dep.pkg);
                    queue.push_back(&dep.pkg);
                }
                // Now also reached at run time: walk it again so its own deps are too.
                Some(false) if child_normal => {
                    normal.insert(&dep.pkg, true);
                    queue.push_back(&dep.pkg);
                }
                Some(_) => {}
            }
        }
    }

    // The root first, then by name and version, so the document is stable.
    let root_id = order[0];
    let mut rest: Vec<&PackageId> = order[1..].to_vec();
    rest.sort_by_key(|id| {
        by_id
            .get(id)
            .map(|p| (p.name.to_string(), p.version.clone()))
    });
    let ids: Vec<&PackageId> = std::iter::once(root_id).chain(rest).collect();
    let index: BTreeMap<&PackageId, usize> =
        ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let root_dir = meta.workspace_root.as_std_path();
    let packages = ids
        .iter()
        .map(|id| {
            let p = by_id
                .get(id)
                .ok_or_else(|| anyhow!("cargo metadata lists no package {}", id.repr))?;
            let (name, version) = (p.name.to_string(), p.version.to_string());
            Ok(Package {
                license: spdx_license(p.license.as_deref()),
                checksum: checksums.get(&(name.clone(), version.clone())).cloned(),
                origin: Origin::parse(
                    p.source.as_ref().map(|s| s.repr.as_str()),
                    p.manifest_path.as_std_path(),
                    root_dir,
                ),
                build_only: !normal[id],
                name,
                version,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut edges: Vec<(usize, usize, Edge)> = raw_edges
        .into_iter()
        .map(|(a, b, e)| (index[a], index[b], e))
        .collect();
    edges.sort();
    edges.dedup();
    Ok(Graph { packages, edges })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_named() {
        let root = Path::new("/ws");
        let m = Path::new("/ws/crates/a/Cargo.toml");
        assert_eq!(
            Origin::parse(None, m, root),
            Origin::Path("crates/a".into())
        );
        assert_eq!(
            Origin::parse(None, Path::new("/ws/Cargo.toml"), root),
            Origin::Path(".".into())
        );
        assert_eq!(
            Origin::parse(
                Some("registry+https://github.com/rust-lang/crates.io-index"),
                m,
                root
            ),
            Origin::CratesIo
        );
        assert_eq!(
            Origin::parse(
                Some("git+https://github.com/a/b?branch=main#0123abc"),
                m,
                root
            ),
            Origin::Git {
                url: "https://github.com/a/b".into(),
                commit: "0123abc".into()
            }
        );
        assert_eq!(
            Origin::parse(None, Path::new("/shared/lib/Cargo.toml"), root),
            Origin::Path("../shared/lib".into())
        );
        assert_eq!(
            Origin::parse(Some("git+https://x:tok@host/a/b#0123abc"), m, root).describe(),
            "git https://***@host/a/b@0123abc"
        );
        assert_eq!(
            Origin::parse(Some("sparse+https://my.example/index/"), m, root).describe(),
            "registry https://my.example/index/"
        );
    }

    #[test]
    fn licenses_become_valid_expressions() {
        assert_eq!(
            spdx_license(Some("MIT/Apache-2.0")).as_deref(),
            Some("MIT OR Apache-2.0")
        );
        assert_eq!(
            spdx_license(Some("Apache-2.0 WITH LLVM-exception")).as_deref(),
            Some("Apache-2.0 WITH LLVM-exception")
        );
        assert_eq!(spdx_license(Some("my own licence")), None);
        assert_eq!(spdx_license(None), None);
    }
}
