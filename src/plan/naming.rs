//! Image names: the repository each image goes to and its tags, from `-t` (references read as
//! `docker build -t` reads them, and `:TAG` for a tag of the configured repository), the `tags`
//! and `repository` settings and `CARGO_IMAGEBUILD_REPO`, with the syntax checked before
//! anything is built.

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
        crate::image::reference::check_host(parts[0])
            .map_err(|e| anyhow::anyhow!("`{repo}` is not a valid repository: {e}"))?;
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

/// The image name for a binary: its own name when that is a valid repository component, else
/// one derived from it (cargo accepts `Hello_World`, `__x`, `a-b-c-`, `Ωmega`, which references
/// do not): lowercased, each run of other characters made one `-`, a run of separators made
/// one, and separators trimmed from both ends; `image` when nothing is left.
pub fn image_name_for_bin(bin: &str) -> String {
    let mut out = String::new();
    let mut pending: Option<char> = None;
    for c in bin.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            if let Some(sep) = pending.take() {
                if !out.is_empty() {
                    out.push(sep);
                }
            }
            out.push(c);
        } else {
            // The first separator of a run is kept when it is one the spec allows alone.
            let sep = if matches!(c, '.' | '_' | '-') { c } else { '-' };
            pending.get_or_insert(sep);
        }
    }
    if out.is_empty() {
        out.push_str("image");
    }
    out
}

/// A name to tag an image with, as given, in the grammar of where it was written: `-t`'s
/// (docker build's) or the `tags` setting's. The two differ on a bare word: `-t api` is the
/// image `api:latest`, `tags = ["1.4.0"]` a tag of the image's repository. Both kinds live in
/// the one `tags` setting, so a layer's tags replace the layers below it, whichever grammar
/// they are written in.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(from = "String", into = "String")]
#[non_exhaustive]
pub enum Tag {
    /// `-t`'s grammar: `NAME[:TAG]` is a reference (no tag means `latest`), `:TAG` a tag of the
    /// configured repository.
    Docker(String),
    /// The `tags` setting's grammar: a bare tag (`1.4.0`, also `:1.4.0`), or a full reference
    /// when it has `/` or `@` (`ghcr.io/acme/api:1.4.0`).
    Setting(String),
}

/// A `tags` entry of the metadata tables.
impl From<String> for Tag {
    fn from(s: String) -> Tag {
        Tag::Setting(s)
    }
}

impl From<Tag> for String {
    fn from(t: Tag) -> String {
        match t {
            Tag::Docker(s) | Tag::Setting(s) => s,
        }
    }
}

impl Tag {
    /// The text as given.
    pub fn as_str(&self) -> &str {
        match self {
            Tag::Docker(s) | Tag::Setting(s) => s,
        }
    }
}

/// One tag, read: a tag of the image's repository, or a reference that names the repository
/// too.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Name {
    Bare(String),
    /// `repository` is Docker-normalised: `api:dev` gives `docker.io/library/api`.
    Reference {
        repository: String,
        tag: String,
    },
}

/// Whether a `-t` value looks like a tag someone meant for the configured repository (a
/// version: `1.4.0`, `v2`; or `latest`) rather than an image name.
fn looks_like_a_tag(value: &str) -> bool {
    let mut chars = value.chars();
    let first = chars.next();
    let second = chars.next();
    !value.contains(['/', ':', '@'])
        && (value == "latest"
            || first.is_some_and(|c| c.is_ascii_digit())
            || (matches!(first, Some('v' | 'V')) && second.is_some_and(|c| c.is_ascii_digit())))
}

/// A reference (`-t` value, or a `tags` entry with `/` or `@`), Docker-normalised; `flag` is
/// how the message names where it came from.
fn reference(value: &str, flag: &str) -> Result<Name> {
    use crate::image::reference::{has_registry_host, repository_part, ImageRef};
    let repo = repository_part(value);
    let path = if has_registry_host(repo) {
        repo.split_once('/').map_or(repo, |(_, p)| p)
    } else {
        repo
    };
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        let fixed = format!(
            "{}{}",
            &repo[..repo.len() - path.len()],
            path.to_ascii_lowercase()
        );
        bail!(
            "{flag} {value}: `{repo}` has uppercase letters, but repository names are lowercase \
             (as in Docker): write {flag} {fixed}{}",
            &value[repo.len()..]
        );
    }
    let r = ImageRef::parse(value)?;
    if r.digest().is_some() {
        bail!("{flag} {value}: a tag cannot name a digest; write REPOSITORY:TAG");
    }
    Ok(Name::Reference {
        repository: r.full_name(),
        tag: r.tag().unwrap_or("latest").to_string(),
    })
}

/// A `-t` value, read as `docker build -t` reads it: `NAME[:TAG]` is always a reference (a
/// missing tag means `latest`), and `:TAG` is a tag of the repository the image goes to
/// (`current`, for messages). A version-like value (`1.4.0`, `v2`, `latest`) is refused with
/// both spellings, since it is a valid image name no one means.
fn cli_value(value: &str, current: &str) -> Result<Name> {
    if let Some(tag) = value.strip_prefix(':') {
        validate_tag(tag).map_err(|e| anyhow::anyhow!("-t {value}: {e}"))?;
        return Ok(Name::Bare(tag.to_string()));
    }
    if looks_like_a_tag(value) {
        let short = crate::image::reference::familiar_repository(current);
        bail!(
            "-t {value}: `{value}` looks like a tag, but -t takes an image name, NAME[:TAG], as \
             in docker build (`-t {value}` would be the image `{value}:latest`): write -t \
             :{value} to tag the image's repository ({short}) with it, or -t {short}:{value}"
        );
    }
    reference(value, "-t")
}

/// A value of the `tags` setting: a bare tag (`1.4.0`, also written `:1.4.0`), or a full
/// reference when it has `/` or `@` (`ghcr.io/acme/api:1.4.0`).
fn setting_value(value: &str) -> Result<Name> {
    if crate::image::reference::is_full_reference(value) {
        return reference(value, "the `tags` setting");
    }
    let tag = value.strip_prefix(':').unwrap_or(value);
    validate_tag(tag)?;
    Ok(Name::Bare(tag.to_string()))
}

/// The repository and tags of one image, from its merged `tags` (`-t` values, read as `docker
/// build -t` reads them: `NAME[:TAG]` references, `:TAG` bare tags; or the setting's: bare tags,
/// or references with `/` or `@`). A reference's repository (Docker-normalised: `api:dev` is
/// `docker.io/library/api`) becomes the image's; else `configured` (`--repository`, the
/// `repository` setting, `CARGO_IMAGEBUILD_REPO`); else the binary's name.
///
/// `several`: more than one binary is built (a reference then needs `{bin}`); `pushing`: some
/// output pushes (a repository is then required).
pub fn repository_and_tags(
    bin: &str,
    configured: Option<String>,
    given: &[Tag],
    several: bool,
    pushing: bool,
) -> Result<(String, Vec<String>)> {
    let current = configured.clone().unwrap_or_else(|| bin.to_string());
    let mut names = Vec::new();
    for t in given {
        let (name, text) = match t {
            Tag::Setting(t) => (setting_value(&t.replace("{bin}", bin))?, t),
            Tag::Docker(t) => (cli_value(&t.replace("{bin}", bin), &current)?, t),
        };
        if several && !text.contains("{bin}") && matches!(name, Name::Reference { .. }) {
            match t {
                Tag::Setting(_) => bail!(
                    "the `tags` setting's {text} names one repository but several binaries are \
                     built: put {{bin}} in it (ghcr.io/acme/{{bin}}:1.0), or pick one binary \
                     with --bin"
                ),
                Tag::Docker(_) => bail!(
                    "-t {text} names one image but several binaries are built: put {{bin}} in it \
                     (-t {{bin}}:dev, -t ghcr.io/acme/{{bin}}:1.0), or pick one binary with --bin"
                ),
            }
        }
        names.push(name);
    }
    let mut from_tags: Option<String> = None;
    let mut tags = Vec::new();
    for name in names {
        let tag = match name {
            Name::Bare(tag) => tag,
            Name::Reference { repository, tag } => {
                match &from_tags {
                    Some(existing) if existing != &repository => bail!(
                        "-t values name two repositories ({existing} and {repository}): one \
                         run puts each image in one repository"
                    ),
                    _ => from_tags = Some(repository),
                }
                tag
            }
        };
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    let repository = match from_tags.or(configured) {
        Some(r) => r,
        None if pushing => bail!(
            "--push needs to know where to push {bin}: set `repository` (ghcr.io/acme/{{bin}}) \
             in [package.metadata.imagebuild], pass --repository or -t REGISTRY/REPOSITORY:TAG, \
             or set {ENV_REPO}=REGISTRY/NAMESPACE"
        ),
        None => bin.to_string(),
    };
    Ok((repository, tags))
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
    fn names_derived_from_binaries_are_valid() {
        for (bin, name) in [
            ("api", "api"),
            ("Hello_World", "hello_world"),
            ("__x", "x"),
            ("a-b-c-", "a-b-c"),
            ("Ωmega", "mega"),
            ("a__b", "a_b"),
            ("a._-b", "a.b"),
            ("漢字", "image"),
        ] {
            let got = image_name_for_bin(bin);
            assert_eq!(got, name, "{bin}");
            validate_repository(&got).unwrap();
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

    fn names(bin: &str, configured: Option<&str>, cli: &[&str]) -> Result<(String, Vec<String>)> {
        let mut tags: Vec<Tag> = cli.iter().map(|s| Tag::Docker(s.to_string())).collect();
        if tags.is_empty() {
            tags.push(Tag::Setting("0.3.1".into()));
        }
        repository_and_tags(bin, configured.map(str::to_string), &tags, false, false)
    }

    #[test]
    fn cli_tags_are_docker_references() {
        let ok = |cli: &[&str], repo: &str, tags: &[&str]| {
            let (r, t) = names("api", Some("ghcr.io/acme/api"), cli).unwrap();
            assert_eq!(
                (r.as_str(), t),
                (repo, tags.iter().map(|s| s.to_string()).collect())
            );
        };
        ok(&["api:dev"], "docker.io/library/api", &["dev"]);
        ok(&["fd"], "docker.io/library/fd", &["latest"]);
        ok(&["user/api"], "docker.io/user/api", &["latest"]);
        ok(&["localhost:5000/api"], "localhost:5000/api", &["latest"]);
        ok(&["{bin}:dev", ":x"], "docker.io/library/api", &["dev", "x"]);
        ok(
            &[":1.4.0", ":latest"],
            "ghcr.io/acme/api",
            &["1.4.0", "latest"],
        );
        let (r, t) = names("api", None, &[]).unwrap();
        assert_eq!((r.as_str(), t), ("api", vec!["0.3.1".to_string()]));
    }

    #[test]
    fn cli_tags_that_mean_the_other_spelling_are_refused() {
        for v in ["1.4.0", "v2", "latest"] {
            let e = names("api", None, &[v]).unwrap_err().to_string();
            assert!(e.contains(&format!("write -t :{v}")), "{e}");
            assert!(e.contains(&format!("-t api:{v}")), "{e}");
        }
        let e = names("api", None, &["Api:Dev"]).unwrap_err().to_string();
        assert!(
            e.contains("lowercase") && e.contains("write -t api:Dev"),
            "{e}"
        );
        let e = names("api", None, &["ghcr.io/Acme/api:1"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("write -t ghcr.io/acme/api:1"), "{e}");
        let e = names("api", None, &[":bad tag"]).unwrap_err().to_string();
        assert!(e.contains("not a valid tag"), "{e}");
        let d = format!("api@sha256:{}", "a".repeat(64));
        assert!(names("api", None, &[&d]).is_err());
        let e = names("api", None, &["a:1", "b:1"]).unwrap_err().to_string();
        assert!(e.contains("two repositories"), "{e}");
    }
}
