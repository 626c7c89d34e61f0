//! `cargo imagebuild init`: writes a commented `[package.metadata.imagebuild]` section (or
//! `[workspace.metadata.imagebuild]` in a workspace's root manifest) into Cargo.toml, from the
//! answers given as flags ([`InitOptions`]); with `--ci`, also a CI workflow from `templates/ci/`
//! that builds on pull requests and pushes on tags. Cargo.toml is edited with `toml_edit`, so
//! everything else in it keeps its formatting and comments. Nothing that exists is overwritten
//! without `--force`; every answer is checked before anything is written. A Cargo.toml with CRLF
//! line endings keeps them; a symlinked one is written through (its target is replaced, the
//! link stays).

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use toml_edit::DocumentMut;

use crate::image::platform::{self, Platform};
use crate::plan::base::Base;
use crate::plan::config::HELP_URL;
use crate::util::atomic;

/// Which CI system's workflow to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ci {
    /// `.github/workflows/images.yml`: a platform matrix, then `cargo imagebuild merge`.
    Github,
    /// `.gitlab-ci.yml`: one job per event.
    Gitlab,
}

impl std::str::FromStr for Ci {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "github" => Ok(Ci::Github),
            "gitlab" => Ok(Ci::Gitlab),
            other => Err(format!("unknown CI `{other}`: use github or gitlab")),
        }
    }
}

impl fmt::Display for Ci {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ci::Github => "github",
            Ci::Gitlab => "gitlab",
        })
    }
}

/// The answers `init` takes, as flags.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct InitOptions {
    /// The `Cargo.toml` to edit (default: the one in the current directory).
    pub manifest_path: Option<PathBuf>,
    /// `--repository`: where pushes go (`ghcr.io/acme/{bin}`).
    pub repository: Option<String>,
    /// `--platform` (comma lists): default linux/amd64 and linux/arm64.
    pub platforms: Vec<String>,
    /// `--base`: default scratch.
    pub base: Option<String>,
    /// Also write a CI workflow for this service.
    pub ci: Option<Ci>,
    /// Replace an existing section or workflow.
    pub force: bool,
}

/// The files `init` wrote.
#[derive(Debug)]
#[non_exhaustive]
pub struct Written {
    /// The files written (the manifest, and a workflow when asked).
    pub files: Vec<PathBuf>,
    /// The table written: `package.metadata.imagebuild` or `workspace.metadata.imagebuild`.
    pub table: String,
}

const GITHUB: &str = include_str!("../../templates/ci/github.yml");
const GITLAB: &str = include_str!("../../templates/ci/gitlab.yml");
/// The release the workflows install (action.yml and scripts/install.sh at this version's tag).
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Writes the settings section (and the workflow) that `opts` describes.
pub fn init(opts: &InitOptions) -> Result<Written> {
    let manifest = match &opts.manifest_path {
        Some(p) => p.clone(),
        None => PathBuf::from("Cargo.toml"),
    };
    let text = std::fs::read_to_string(&manifest).with_context(|| {
        format!(
            "reading {}: run init in your project's directory or pass --manifest-path",
            manifest.display()
        )
    })?;
    let mut doc: DocumentMut = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", manifest.display()))?;
    let platforms = if opts.platforms.is_empty() {
        vec![
            Platform::new("linux", "amd64", None),
            Platform::new("linux", "arm64", None),
        ]
    } else {
        platform::parse_list(opts.platforms.iter().map(String::as_str)).context("--platform")?
    };
    if let Some(r) = &opts.repository {
        crate::plan::naming::validate_repository(&r.replace("{bin}", "bin"))
            .context("--repository")?;
    }
    let base = opts.base.clone().unwrap_or_else(|| "scratch".to_string());
    Base::parse(&base).context("--base")?;

    // A manifest with [workspace] gets the workspace's table: it applies to every member.
    let owner = if doc.contains_key("workspace") {
        "workspace"
    } else if doc.contains_key("package") {
        "package"
    } else {
        bail!(
            "{} has neither [package] nor [workspace]: give the manifest of your crate or workspace",
            manifest.display()
        );
    };
    let table = format!("{owner}.metadata.imagebuild");
    let exists = doc[owner]
        .get("metadata")
        .and_then(|m| m.get("imagebuild"))
        .is_some();
    if exists && !opts.force {
        bail!(
            "{} already has [{table}]: edit it ({HELP_URL}), or pass --force to replace it",
            manifest.display()
        );
    }
    let workflow = match opts.ci {
        Some(ci) => {
            let root = manifest.parent().unwrap_or(Path::new("."));
            let (path, body) = workflow(ci, root, &platforms);
            if path.exists() && !opts.force {
                bail!(
                    "{} exists: pass --force to replace it (nothing was written)",
                    path.display()
                );
            }
            Some((path, body))
        }
        None => None,
    };

    if exists {
        if let Some(m) = doc[owner]
            .get_mut("metadata")
            .and_then(|m| m.as_table_like_mut())
        {
            m.remove("imagebuild");
        }
    }
    let mut out = doc.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&section(
        &table,
        opts.repository.as_deref(),
        &platforms,
        &base,
    ));
    // What we append must leave a manifest that parses, with our table in it.
    let check: DocumentMut = out
        .parse()
        .context("the edited Cargo.toml does not parse")?;
    if check[owner]["metadata"].get("imagebuild").is_none() {
        bail!("writing [{table}] failed: the edited Cargo.toml lacks it");
    }
    // A manifest written with CRLF line endings keeps them, our section included.
    if text.contains("\r\n") {
        out = out.replace("\r\n", "\n").replace('\n', "\r\n");
    }
    let mut files = Vec::new();
    if let Some((path, body)) = workflow {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        atomic::write(&path, body.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        files.push(path);
    }
    atomic::write(&manifest, out.as_bytes())
        .with_context(|| format!("writing {}", manifest.display()))?;
    files.insert(0, manifest);
    Ok(Written { files, table })
}

/// The commented settings section.
fn section(table: &str, repository: Option<&str>, platforms: &[Platform], base: &str) -> String {
    let list = platforms
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let repository = match repository {
        Some(r) => format!("repository = \"{r}\""),
        None => "# repository = \"ghcr.io/OWNER/{bin}\"".to_string(),
    };
    format!(
        "# Container images of this crate's binaries, built by `cargo imagebuild` (every key is in\n\
         # its README, section \"Configuration\").\n\
         [{table}]\n\
         # Where `cargo imagebuild --push` sends each image ({{bin}} is the binary's name).\n\
         {repository}\n\
         # The OCI platforms to build.\n\
         platforms = [{list}]\n\
         # What the binary goes on top of: \"scratch\" (nothing else) or an image reference.\n\
         base = \"{base}\"\n\
         # What the compiler strips from the binary: \"none\", \"debuginfo\" or \"symbols\".\n\
         strip = \"symbols\"\n\
         # Tags; the default is the package version.\n\
         # tags = [\"latest\"]\n\
         # Ports the image exposes. It runs as user 65532, which cannot bind ports below 1024.\n\
         # ports = [8080]\n"
    )
}

/// The workflow file for `ci` under `root`, and its text.
fn workflow(ci: Ci, root: &Path, platforms: &[Platform]) -> (PathBuf, String) {
    let list = platforms
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(",");
    match ci {
        Ci::Github => {
            let matrix: String = platforms
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    // arm64 has native runners; every other platform cross-compiles on x86_64.
                    let runner = if p.architecture == "arm64" {
                        "ubuntu-24.04-arm"
                    } else {
                        "ubuntu-latest"
                    };
                    format!(
                        "          - {{ platform: \"{p}\", slug: \"{i}-{}\", runner: \"{runner}\" }}\n",
                        p.slug()
                    )
                })
                .collect();
            let body = GITHUB
                .replace("@MATRIX@\n", &matrix)
                .replace("@PLATFORMS@", &list)
                .replace("@VERSION@", VERSION);
            (root.join(".github/workflows/images.yml"), body)
        }
        Ci::Gitlab => (
            root.join(".gitlab-ci.yml"),
            GITLAB
                .replace("@PLATFORMS@", &list)
                .replace("@VERSION@", VERSION),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_parses_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("Cargo.toml");
        let original =
            "[package]\nname = \"app\" # keep me\nversion = \"0.1.0\"\n\n[dependencies]\n";
        std::fs::write(&manifest, original).unwrap();
        let opts = InitOptions {
            manifest_path: Some(manifest.clone()),
            platforms: vec!["linux/arm64".into()],
            ..Default::default()
        };
        let w = init(&opts).unwrap();
        assert_eq!(w.table, "package.metadata.imagebuild");
        let text = std::fs::read_to_string(&manifest).unwrap();
        assert!(text.starts_with(original), "{text}");
        let doc: DocumentMut = text.parse().unwrap();
        let t = &doc["package"]["metadata"]["imagebuild"];
        assert_eq!(t["platforms"][0].as_str(), Some("linux/arm64"));
        assert_eq!(t["base"].as_str(), Some("scratch"));
        let e = init(&opts).unwrap_err().to_string();
        assert!(e.contains("--force"), "{e}");
        let forced = InitOptions {
            force: true,
            base: Some("gcr.io/distroless/static-debian12".into()),
            ..opts
        };
        init(&forced).unwrap();
        let text = std::fs::read_to_string(&manifest).unwrap();
        assert_eq!(text.matches("[package.metadata.imagebuild]").count(), 1);
        assert!(text.contains("base = \"gcr.io/distroless/static-debian12\""));
        assert!("circle"
            .parse::<Ci>()
            .unwrap_err()
            .contains("github or gitlab"));
    }

    /// A CRLF manifest stays CRLF (every line, ours too); a symlinked one is written through.
    #[test]
    fn crlf_is_kept_and_a_symlink_is_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.toml");
        let link = dir.path().join("Cargo.toml");
        let original = "[package]\r\nname = \"app\"\r\nversion = \"0.1.0\"\r\n";
        std::fs::write(&real, original).unwrap();
        std::os::unix::fs::symlink("real.toml", &link).unwrap();
        let opts = InitOptions {
            manifest_path: Some(link.clone()),
            ..Default::default()
        };
        init(&opts).unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink(),
            "the link stays"
        );
        let text = std::fs::read_to_string(&real).unwrap();
        assert!(text.starts_with(original), "{text:?}");
        assert!(
            text.contains("[package.metadata.imagebuild]\r\n"),
            "{text:?}"
        );
        assert_eq!(
            text.matches('\n').count(),
            text.matches("\r\n").count(),
            "every line ends in CRLF: {text:?}"
        );
        let doc: DocumentMut = text.parse().unwrap();
        assert!(doc["package"]["metadata"].get("imagebuild").is_some());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 2, "no temporary left: {left:?}");
    }
}
