//! Image names: the repository each image goes to and its tags, from `-t` (bare tags or full
//! references), the `repository` setting and `CARGO_IMAGEBUILD_REPO`, with the distribution
//! spec's syntax checked before anything is built.

use anyhow::{bail, Result};

/// Environment variable: a repository prefix; each image goes to `<prefix>/<bin>`.
pub const ENV_REPO: &str = "CARGO_IMAGEBUILD_REPO";

/// Checks a tag's syntax (the distribution spec's `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`).
pub fn validate_tag(tag: &str) -> Result<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag.chars().enumerate().all(|(i, c)| {
            c.is_ascii_alphanumeric() || c == '_' || (i > 0 && (c == '.' || c == '-'))
        });
    if !ok {
        bail!(
            "`{tag}` is not a valid tag: use letters, digits, `_`, `.` and `-` (not first), at \
             most 128 characters, for example 1.4.0 or latest"
        );
    }
    Ok(())
}

/// Checks a repository name: lowercase path components, an optional `host[:port]/` first.
pub fn validate_repository(repo: &str) -> Result<()> {
    let mut parts: Vec<&str> = repo.split('/').collect();
    if parts.len() > 1
        && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost")
    {
        parts.remove(0);
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
            && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
            && c.ends_with(|ch: char| ch.is_ascii_alphanumeric())
    };
    if parts.is_empty() || !parts.iter().all(|c| component_ok(c)) {
        bail!(
            "`{repo}` is not a valid repository: use lowercase letters, digits and `._-` in each \
             `/`-separated part, for example ghcr.io/acme/api"
        );
    }
    Ok(())
}

/// The repository and tags of one image: `-t` values are bare tags or full references
/// (`ghcr.io/acme/api:1.4.0`), whose repository then becomes the image's.
///
/// `several`: more than one binary is built (a full reference then needs `{bin}`); `pushing`:
/// some output pushes (a repository is then required).
pub fn repository_and_tags(
    bin: &str,
    configured: Option<String>,
    tags: Vec<String>,
    several: bool,
    pushing: bool,
) -> Result<(String, Vec<String>)> {
    let mut from_tags: Option<String> = None;
    let mut bare = Vec::new();
    for t in &tags {
        let t = t.replace("{bin}", bin);
        if !crate::image::reference::is_full_reference(&t) {
            validate_tag(&t)?;
            bare.push(t);
            continue;
        }
        if several && !tags.iter().any(|t| t.contains("{bin}")) {
            bail!(
                "-t {t} names one repository but several binaries are built: put {{bin}} in it \
                 (-t ghcr.io/acme/{{bin}}:1.0), or pick one binary with --bin"
            );
        }
        let r = crate::image::reference::ImageRef::parse(&t)?;
        if r.digest().is_some() {
            bail!("-t {t}: a tag cannot name a digest; write REPOSITORY:TAG");
        }
        let repo = t
            .rsplit_once(':')
            .filter(|(_, tag)| !tag.contains('/'))
            .map_or(t.as_str(), |(repo, _)| repo)
            .to_string();
        match &from_tags {
            Some(existing) if existing != &repo => bail!(
                "-t values name two repositories ({existing} and {repo}): one run pushes each \
                 image to one repository"
            ),
            _ => from_tags = Some(repo),
        }
        bare.push(r.tag().unwrap_or("latest").to_string());
    }
    let repository = match from_tags.or(configured) {
        Some(r) => r,
        None if pushing => bail!(
            "--push needs to know where to push {bin}: set `repository` (ghcr.io/acme/{{bin}}) \
             in [package.metadata.imagebuild], pass --repository or a full -t \
             REGISTRY/REPOSITORY:TAG, or set {ENV_REPO}=REGISTRY/NAMESPACE"
        ),
        None => bin.to_string(),
    };
    let mut unique = Vec::new();
    for t in bare {
        if !unique.contains(&t) {
            unique.push(t);
        }
    }
    Ok((repository, unique))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        for ok in ["1.4.0", "latest", "v1_2", "A-b.c"] {
            validate_tag(ok).unwrap();
        }
        for bad in ["", "-x", ".x", "a/b", "a:b", &"x".repeat(129)] {
            assert!(validate_tag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn repositories() {
        for ok in [
            "api",
            "acme/api",
            "ghcr.io/acme/api",
            "localhost:5000/a/b",
            "127.0.0.1:5000/x",
        ] {
            validate_repository(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in ["", "Api", "acme//api", "acme/api-", "ghcr.io/"] {
            assert!(validate_repository(bad).is_err(), "{bad}");
        }
    }
}
