//! Image references: `ghcr.io/acme/api:1.4.0`, `127.0.0.1:5000/base@sha256:…`, `busybox`
//! (Docker Hub, `library/`). [`ImageRef`] parses the distribution grammar with Docker Hub's
//! normalization into oci-spec's `Reference`, and adds messages that name the mistake and the
//! fix. It does no I/O: which registry answers for a reference is the `registry` module's job.

use std::fmt;
use std::sync::OnceLock;

use oci_spec::distribution::Reference;
use regex::Regex;

/// The distribution reference grammar (distribution's `reference/regexp.go`), anchored, with
/// groups for the name, the tag and the digest. oci-spec's `Reference::try_from` has the same
/// pattern but with a Unicode-aware `\w` in the tag: its automaton is so large that building
/// it took 70–120 ms, the largest single cost of a run that had nothing to do (measured on the
/// first parse of a debug build, dependencies at opt-level 2). Go's `\w`, which the grammar
/// means, is ASCII, so here it is spelled `[0-9A-Za-z_]`.
const GRAMMAR: &str = r"^((?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))+)?(?::[0-9]+)?/)?[a-z0-9]+(?:(?:(?:[._]|__|[-]*)[a-z0-9]+)+)?(?:(?:/[a-z0-9]+(?:(?:(?:[._]|__|[-]*)[a-z0-9]+)+)?)+)?)(?::([0-9A-Za-z_][0-9A-Za-z_.-]{0,127}))?(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9A-Fa-f]{32,}))?$";

/// The longest repository path the grammar allows.
const NAME_MAX: usize = 255;

fn grammar() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(GRAMMAR).expect("the reference grammar compiles"))
}

/// `s` as a `Reference` (a missing tag and digest mean `latest`), as oci-spec parses it but for
/// the ASCII tag: the registry is the first path component when it has a `.` or a `:` or is
/// `localhost`, else Docker Hub (`docker.io`, with `library/` before a one-component name).
fn oci_reference(s: &str) -> Result<Reference, String> {
    if s.is_empty() {
        return Err("repository name must have at least one component".into());
    }
    let caps = grammar()
        .captures(s)
        .ok_or_else(|| "invalid reference format".to_string())?;
    let name = &caps[1];
    let tag = caps.get(2).map(|m| m.as_str().to_string());
    let digest = caps.get(3).map(|m| m.as_str().to_string());
    let (mut registry, mut repository) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => ("docker.io".to_string(), name.to_string()),
    };
    if registry == "index.docker.io" {
        registry = "docker.io".into();
    }
    if registry == "docker.io" && !repository.contains('/') {
        repository = format!("library/{repository}");
    }
    if repository.len() > NAME_MAX {
        return Err(format!(
            "repository name must not be more than {NAME_MAX} characters"
        ));
    }
    if let Some(d) = &digest {
        let want = match d.split_once(':') {
            Some(("sha256", hex)) => (64, hex),
            Some(("sha384", hex)) => (96, hex),
            Some(("sha512", hex)) => (128, hex),
            _ => return Err("unsupported digest algorithm".into()),
        };
        if want.1.len() != want.0 {
            return Err("invalid checksum digest length".into());
        }
    }
    Ok(match (tag, digest) {
        (Some(t), Some(d)) => Reference::with_tag_and_digest(registry, repository, t, d),
        (None, Some(d)) => Reference::with_digest(registry, repository, d),
        (t, None) => Reference::with_tag(registry, repository, t.unwrap_or("latest".into())),
    })
}

/// Where Docker Hub's registry API is reached, as the docker CLI reaches it; `docker.io` and
/// `index.docker.io` are the names people write (and credentials are filed under).
pub const DOCKER_HUB_ENDPOINT: &str = "registry-1.docker.io";

/// A parsed image reference, keeping the text it was written as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    given: String,
    inner: Reference,
}

/// A reference that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "`{given}` is not a valid image reference ({reason}): write REGISTRY/REPOSITORY[:TAG][@DIGEST] \
     in lowercase, for example ghcr.io/acme/api:1.4.0 or 127.0.0.1:5000/base"
)]
pub struct ReferenceError {
    pub given: String,
    pub reason: String,
}

impl ImageRef {
    /// Parses `s`; a missing tag means `latest`.
    pub fn parse(s: &str) -> Result<ImageRef, ReferenceError> {
        let trimmed = s.trim();
        let err = |reason: String| ReferenceError {
            given: s.to_string(),
            reason,
        };
        if trimmed.contains("://") {
            return Err(err("a reference has no URL scheme".into()));
        }
        if let Some(host) = trimmed.split_once('/').map(|(h, _)| h) {
            if has_registry_host(trimmed) {
                check_host(host).map_err(err)?;
            }
        }
        let repo = repository_part(trimmed);
        let path = if has_registry_host(repo) {
            repo.split_once('/').map_or(repo, |(_, p)| p)
        } else {
            repo
        };
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(err(format!(
                "repository names are lowercase, as in Docker: write {}",
                trimmed.replacen(path, &path.to_ascii_lowercase(), 1)
            )));
        }
        let inner = oci_reference(trimmed).map_err(err)?;
        Ok(ImageRef {
            given: trimmed.to_string(),
            inner,
        })
    }

    /// A repository name as configured (`ghcr.io/acme/api`), with no tag.
    pub fn repository_named(repo: &str) -> Result<ImageRef, ReferenceError> {
        if repo.contains('@')
            || repo
                .rsplit('/')
                .next()
                .is_some_and(|last| last.contains(':'))
        {
            return Err(ReferenceError {
                given: repo.to_string(),
                reason: "a repository has no tag or digest".into(),
            });
        }
        ImageRef::parse(repo)
    }

    /// The host (and port) to talk to: `ghcr.io`, `127.0.0.1:5000`, and for Docker Hub
    /// [`DOCKER_HUB_ENDPOINT`].
    pub fn registry(&self) -> &str {
        match self.inner.resolve_registry() {
            "index.docker.io" | "docker.io" => DOCKER_HUB_ENDPOINT,
            other => other,
        }
    }

    /// The repository inside the registry: `acme/api`, `library/busybox`.
    pub fn repository(&self) -> &str {
        self.inner.repository()
    }

    /// The tag, when the reference has one.
    pub fn tag(&self) -> Option<&str> {
        self.inner.tag()
    }

    /// The digest, when the reference has one.
    pub fn digest(&self) -> Option<&str> {
        self.inner.digest()
    }

    /// The text as written.
    pub fn given(&self) -> &str {
        &self.given
    }

    /// The reference as the registry client takes it, addressed to [`ImageRef::registry`] (a tag and a
    /// digest together keep the digest, which is what is fetched).
    pub fn oci(&self) -> Reference {
        match (self.inner.digest(), self.inner.tag()) {
            (Some(d), _) => self.at_digest(d),
            (None, t) => self.at_tag(t.unwrap_or("latest")),
        }
    }

    /// The same repository at `tag`.
    pub fn at_tag(&self, tag: &str) -> Reference {
        Reference::with_tag(
            self.registry().to_string(),
            self.repository().to_string(),
            tag.to_string(),
        )
    }

    /// The same repository at `digest`.
    pub fn at_digest(&self, digest: &str) -> Reference {
        Reference::with_digest(
            self.registry().to_string(),
            self.repository().to_string(),
            digest.to_string(),
        )
    }

    /// `registry/repository` with Docker Hub spelled out: `docker.io/library/busybox`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.inner.registry(), self.repository())
    }

    /// Whether `other` lives in the same registry as this one.
    pub fn same_registry(&self, other: &ImageRef) -> bool {
        self.registry() == other.registry()
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.whole())
    }
}

/// Whether a value of the `tags` setting is a full reference (`host/repo:tag`) rather than a
/// bare tag. (`-t` values are always references, as in `docker build -t`: see `plan::naming`.)
pub fn is_full_reference(tag: &str) -> bool {
    tag.contains('/') || tag.contains('@')
}

/// Whether the first `/`-separated component of `name` is a registry host, by Docker's rule:
/// it contains `.` or `:`, or is `localhost` (and more components follow).
/// Checks a registry host as written in a reference or `--insecure-registry`: `host[:port]`,
/// with no scheme and no path, the port (when given) 1–65535.
pub fn check_host(host: &str) -> Result<(), String> {
    if host.contains("://") || host.contains('/') {
        return Err(format!(
            "`{host}` is not a registry host: write host[:port] with no scheme or path, for \
             example 127.0.0.1:5000"
        ));
    }
    // `[::1]:5000`: the port follows the bracket.
    let (name, port) = match host.strip_prefix('[').and_then(|h| h.split_once(']')) {
        Some((addr, rest)) => (addr, rest.strip_prefix(':')),
        None => match host.rsplit_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (host, None),
        },
    };
    if name.is_empty() {
        return Err(format!("`{host}` has no host name before its port"));
    }
    if let Some(p) = port {
        if !p.parse::<u16>().is_ok_and(|p| p > 0) {
            return Err(format!(
                "the port `{p}` of `{host}` is not a port: use a number from 1 to 65535"
            ));
        }
    }
    Ok(())
}

pub fn has_registry_host(name: &str) -> bool {
    match name.split_once('/') {
        Some((first, _)) => first.contains('.') || first.contains(':') || first == "localhost",
        None => false,
    }
}

/// The repository part of a reference as written (`ghcr.io/acme/api` of
/// `ghcr.io/acme/api:1@sha256:…`): everything before the tag and the digest.
pub fn repository_part(reference: &str) -> &str {
    let no_digest = reference.split_once('@').map_or(reference, |(r, _)| r);
    match no_digest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => no_digest,
    }
}

/// A repository in Docker's short, familiar form, the one `docker image ls` shows: Docker Hub's
/// `docker.io/library/api` is `api`, `docker.io/user/api` is `user/api`; any other registry's
/// name is kept as written (`localhost:5000/api`, `ghcr.io/acme/api`).
pub fn familiar_repository(repository: &str) -> &str {
    let hub = ["docker.io/", "index.docker.io/"]
        .iter()
        .find_map(|p| repository.strip_prefix(p));
    match hub {
        Some(rest) => match rest.strip_prefix("library/") {
            Some(name) if !name.contains('/') => name,
            _ => rest,
        },
        None => repository,
    }
}

/// Serialized as it is displayed: the reference as the user gave it.
impl serde::Serialize for ImageRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar_parses_as_oci_spec_does() {
        let hex = "a".repeat(64);
        let cases = [
            "busybox".to_string(),
            "test.com:tag".into(),
            "test.com:5000".into(),
            "test.com/repo:tag".into(),
            "test:5000/repo".into(),
            "test:5000/repo:tag".into(),
            "localhost/acme/api".into(),
            "localhost:5000/a/b/c:1.0".into(),
            "index.docker.io/busybox".into(),
            "docker.io/acme/api:v1_2-3.4".into(),
            "127.0.0.1:5000/base".into(),
            "[::1]:5000/base".into(),
            format!("ghcr.io/acme/api@sha256:{hex}"),
            format!("ghcr.io/acme/api:1.4.0@sha256:{hex}"),
            format!("ghcr.io/acme/api@sha256:{}", &hex[..40]),
            format!("ghcr.io/acme/api@md5:{hex}"),
            "Uppercase/api".into(),
            "a..b/c".into(),
            "acme/a__b/c-d".into(),
            "acme/api:".into(),
            "acme/api:-x".into(),
            format!("acme/{}", "x".repeat(300)),
            "".into(),
        ];
        for c in cases {
            let theirs = Reference::try_from(c.as_str()).ok();
            let ours = oci_reference(&c).ok();
            assert_eq!(ours, theirs, "{c}");
        }
    }

    #[test]
    fn parses_registries_repositories_tags_and_digests() {
        let r = ImageRef::parse("ghcr.io/acme/api:1.4.0").unwrap();
        assert_eq!(
            (r.registry(), r.repository(), r.tag()),
            ("ghcr.io", "acme/api", Some("1.4.0"))
        );
        let r = ImageRef::parse("127.0.0.1:5000/base").unwrap();
        assert_eq!(
            (r.registry(), r.repository(), r.tag()),
            ("127.0.0.1:5000", "base", Some("latest"))
        );
        let r = ImageRef::parse("busybox").unwrap();
        assert_eq!(
            (r.registry(), r.repository()),
            ("registry-1.docker.io", "library/busybox")
        );
        assert_eq!(r.full_name(), "docker.io/library/busybox");
        // Docker Hub is reached at its API endpoint, official images under `library/`.
        assert_eq!(
            r.at_tag("1.36").to_string(),
            "registry-1.docker.io/library/busybox:1.36"
        );
        assert_eq!(
            ImageRef::parse("docker.io/acme/api:1")
                .unwrap()
                .oci()
                .resolve_registry(),
            DOCKER_HUB_ENDPOINT
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let r = ImageRef::parse(&format!("localhost:5000/x@{d}")).unwrap();
        assert_eq!(r.digest(), Some(d.as_str()));
        assert_eq!(r.at_tag("v1").to_string(), "localhost:5000/x:v1");
    }

    #[test]
    fn malformed_references_say_what_to_write() {
        for bad in [
            "Ghcr.io/Acme/API",
            "a//b",
            "http://ghcr.io/a",
            "",
            "x@sha256:12",
        ] {
            let e = ImageRef::parse(bad).unwrap_err().to_string();
            assert!(e.contains("not a valid image reference"), "{bad}: {e}");
            assert!(e.contains("for example"), "{e}");
        }
        assert!(ImageRef::repository_named("ghcr.io/acme/api:1").is_err());
        assert!(ImageRef::repository_named("127.0.0.1:5000/api").is_ok());
    }

    #[test]
    fn docker_normalisation_and_familiar_names() {
        let full = |s: &str| {
            let r = ImageRef::parse(s).unwrap();
            (
                r.full_name(),
                r.tag().map(str::to_string),
                r.digest().map(str::to_string),
            )
        };
        assert_eq!(full("api:dev").0, "docker.io/library/api");
        assert_eq!(full("api:dev").1.as_deref(), Some("dev"));
        assert_eq!(full("user/api").0, "docker.io/user/api");
        assert_eq!(full("localhost:5000/api").0, "localhost:5000/api");
        assert_eq!(full("localhost/api").0, "localhost/api");
        let d = format!("sha256:{}", "b".repeat(64));
        let (name, _, digest) = full(&format!("host.tld/a/b@{d}"));
        assert_eq!(
            (name.as_str(), digest.as_deref()),
            ("host.tld/a/b", Some(d.as_str()))
        );
        for (repo, short) in [
            ("docker.io/library/api", "api"),
            ("index.docker.io/library/api", "api"),
            ("docker.io/user/api", "user/api"),
            ("docker.io/library/a/b", "library/a/b"),
            ("localhost:5000/api", "localhost:5000/api"),
            ("ghcr.io/acme/api", "ghcr.io/acme/api"),
            ("api", "api"),
        ] {
            assert_eq!(familiar_repository(repo), short, "{repo}");
        }
        assert!(has_registry_host("localhost/x") && has_registry_host("a.b/x"));
        assert!(has_registry_host("h:5000/x") && !has_registry_host("user/x"));
        assert!(!has_registry_host("localhost"));
        assert_eq!(repository_part("h:5000/a/b:1"), "h:5000/a/b");
        assert_eq!(repository_part("h:5000/a/b"), "h:5000/a/b");
        assert_eq!(repository_part(&format!("a/b:1@{d}")), "a/b");
    }

    #[test]
    fn full_references_are_told_from_tags() {
        assert!(is_full_reference("ghcr.io/acme/api:1"));
        assert!(!is_full_reference("1.4.0"));
    }
}
