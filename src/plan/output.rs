//! `--output` values, in docker buildx's vocabulary (`type=oci,dest=out.tar,tar=true`), parsed
//! into [`OutputSpec`]s with no I/O, and the `--load`, `--loader` and `--load-platform` flags
//! folded into them ([`OutputSpec::resolve`]). Which sink writes each is `sink::for_outputs`'s
//! business.
//!
//! `dest` may hold `{bin}`, replaced by each binary's name, so one `--output` serves a build of
//! several binaries. For `type=oci`, `tar` defaults from `dest`: a name ending in `.tar` is an
//! archive, anything else a layout directory. `type=docker` holds ONE platform (the classic
//! Docker image store cannot hold an index): with a `dest` it is a docker-archive file, without
//! one it is loaded into docker or podman, as buildx's `--load` is `type=docker`.

use std::fmt;
use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::image::platform::Platform;

/// What `--load` streams the image into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loader {
    Docker,
    Podman,
}

impl Loader {
    pub fn parse(s: &str) -> Result<Loader> {
        match s.trim().to_ascii_lowercase().as_str() {
            "docker" => Ok(Loader::Docker),
            "podman" => Ok(Loader::Podman),
            other => bail!("--loader `{other}`: use docker, podman or containerd (default: docker or podman, whichever answers, docker first)"),
        }
    }

    /// The command that loads, and names the tool in messages.
    pub fn program(self) -> &'static str {
        match self {
            Loader::Docker => "docker",
            Loader::Podman => "podman",
        }
    }
}

/// Where one `--output` sends the images.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputSpec {
    /// An OCI image layout directory.
    /// An OCI layout directory.
    OciDir {
        /// The directory.
        dest: PathBuf,
    },
    /// An OCI image layout in a tar file; it also carries a docker `manifest.json` for one
    /// platform (`platform`, else the host's if built, else the first), so docker loads it too.
    OciArchive {
        /// The file.
        dest: PathBuf,
        /// The one platform it holds (an OCI archive holds every platform when none).
        platform: Option<Platform>,
    },
    /// A docker-archive file (`docker load -i`) of one platform.
    DockerArchive {
        /// The file.
        dest: PathBuf,
        /// The one platform it holds (default: the host's).
        platform: Option<Platform>,
    },
    /// One platform loaded into docker or podman (`--load`, or `type=docker` with no dest).
    Load {
        /// None: docker if it answers, else podman.
        loader: Option<Loader>,
        /// A docker context to load into (`docker --context`).
        context: Option<String>,
        /// None: the daemon's own platform.
        platform: Option<Platform>,
    },
    /// The whole index imported into containerd's image store (`type=containerd`, or `--load
    /// --loader containerd`).
    Containerd {
        /// The containerd namespace (None: `k8s.io`).
        namespace: Option<String>,
        /// containerd's socket (None: `ctr`'s default).
        address: Option<PathBuf>,
    },
    /// Build, pack and verify everything; write nothing.
    CacheOnly,
    /// A push to each image's repository (`--push`, `type=registry`).
    Registry,
}

const TYPES: &str = "oci, docker, registry, containerd, cacheonly";

/// The comma-separated fields of an `--output` value, read as CSV the way buildx reads them
/// (Go's encoding/csv): a field in double quotes may hold commas, and `""` is a quote in it.
fn csv_fields(value: &str) -> Result<Vec<String>> {
    if value.contains(['\n', '\r']) {
        bail!("--output `{value}` holds a line break: give one output per --output");
    }
    // Quotes come in pairs (`""` inside a quoted field is one quote): an odd count is a quote
    // left open, which the CSV reader would otherwise close at the end without a word.
    if value.matches('"').count() % 2 == 1 {
        bail!(
            "--output `{value}` has a quote that is not closed: quote a whole key=value pair, \
             as in '\"dest=a,b.tar\"'"
        );
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(value.as_bytes());
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(_) => Ok(record.iter().map(str::to_string).collect()),
        Err(e) => bail!(
            "--output `{value}` is not comma-separated key=value pairs ({e}); quote a value \
             with a comma as buildx does: '\"dest=a,b.tar\"'"
        ),
    }
}

/// The attributes each type takes, for messages.
fn attributes(kind: &str) -> &'static str {
    match kind {
        "oci" => "type=oci takes dest, tar and platform",
        "docker" => "type=docker takes dest, platform and context",
        "containerd" => "type=containerd takes namespace and address",
        "registry" => {
            "type=registry takes no attributes: it pushes to each image's repository \
                       (set it with --repository or -t)"
        }
        _ => "type=cacheonly takes no attributes",
    }
}

impl OutputSpec {
    /// Parses one `--output` value.
    pub fn parse(value: &str) -> Result<OutputSpec> {
        let mut kind = None;
        let mut attrs: Vec<(String, String)> = Vec::new();
        for part in csv_fields(value)? {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let Some((k, v)) = part.split_once('=') else {
                bail!(
                    "--output `{value}`: `{part}` is not key=value; write for example \
                     --output type=oci,dest=out"
                );
            };
            let k = k.trim();
            if k == "type" && kind.is_some() || attrs.iter().any(|(seen, _)| seen == k) {
                bail!(
                    "--output `{value}`: `{k}` is given twice; give it once (a value holding a \
                     comma is quoted as in buildx: '\"dest=a,b.tar\"')"
                );
            }
            match k {
                "type" => kind = Some(v.trim().to_string()),
                k => attrs.push((k.to_string(), v.trim().to_string())),
            }
        }
        let Some(kind) = kind else {
            bail!("--output `{value}` has no type: write type=oci,dest=DIR (types: {TYPES})");
        };
        if !TYPES.split(", ").any(|t| t == kind) {
            let hint = crate::image::platform::closest(&kind, TYPES.split(", "))
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            bail!("--output `{value}`: unknown type `{kind}`{hint}; the types are: {TYPES}");
        }
        let mut dest = None;
        let mut tar = None;
        let mut platform = None;
        let mut context = None;
        let mut namespace = None;
        let mut address = None;
        for (k, v) in &attrs {
            let (k, v) = (k.as_str(), v.as_str());
            match (kind.as_str(), k) {
                ("oci" | "docker", "dest") => {
                    if v.is_empty() {
                        bail!(
                            "--output `{value}`: dest is empty; give a path, for example \
                             dest=image.tar"
                        );
                    }
                    dest = Some(PathBuf::from(v));
                }
                ("oci", "tar") => {
                    tar = Some(match v {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        other => bail!("--output `{value}`: tar={other} must be true or false"),
                    })
                }
                ("oci" | "docker", "platform") => {
                    platform =
                        Some(v.parse::<Platform>().map_err(|e| {
                            anyhow::anyhow!("--output `{value}`: platform={v}: {e}")
                        })?)
                }
                ("docker", "context") if !v.is_empty() => context = Some(v.to_string()),
                ("containerd", "namespace") if !v.is_empty() => namespace = Some(v.to_string()),
                ("containerd", "address") if !v.is_empty() => address = Some(PathBuf::from(v)),
                (_, other) => bail!(
                    "--output `{value}`: unknown attribute `{other}`; {}",
                    attributes(&kind)
                ),
            }
        }
        match kind.as_str() {
            "oci" => {
                let Some(dest) = dest else {
                    bail!(
                        "--output `{value}`: type=oci needs a dest, for example \
                         type=oci,dest=image or type=oci,dest=image.tar"
                    );
                };
                let tar = tar.unwrap_or_else(|| {
                    dest.extension()
                        .is_some_and(|e| e.eq_ignore_ascii_case("tar"))
                });
                if tar {
                    Ok(OutputSpec::OciArchive { dest, platform })
                } else if platform.is_some() {
                    bail!(
                        "--output `{value}`: platform= chooses the docker manifest.json of an OCI \
                         archive; a layout directory holds every platform (add tar=true)"
                    )
                } else {
                    Ok(OutputSpec::OciDir { dest })
                }
            }
            "docker" => match dest {
                Some(dest) if context.is_some() => bail!(
                    "--output `{value}`: context= loads into a docker daemon, dest= writes {}: \
                     give one of them",
                    dest.display()
                ),
                Some(dest) => Ok(OutputSpec::DockerArchive { dest, platform }),
                None => Ok(OutputSpec::Load {
                    loader: context.is_some().then_some(Loader::Docker),
                    context,
                    platform,
                }),
            },
            "registry" => Ok(OutputSpec::Registry),
            "containerd" => Ok(OutputSpec::Containerd { namespace, address }),
            _ => Ok(OutputSpec::CacheOnly),
        }
    }

    /// Every output the command line asks for: the `--output` values, plus `--load`; then
    /// `--loader` and `--load-platform` applied to the outputs they concern (an output's own
    /// attributes win). An empty result means "the default output".
    pub fn resolve(
        outputs: &[String],
        load: bool,
        loader: Option<&str>,
        load_platform: Option<&str>,
    ) -> Result<Vec<OutputSpec>> {
        let mut specs = outputs
            .iter()
            .map(|o| OutputSpec::parse(o))
            .collect::<Result<Vec<_>>>()?;
        if load {
            specs.push(OutputSpec::Load {
                loader: None,
                context: None,
                platform: None,
            });
        }
        let mut unique: Vec<OutputSpec> = Vec::new();
        for s in specs {
            if !unique.contains(&s) {
                unique.push(s);
            }
        }
        let mut specs = unique;
        if loader.is_some_and(|l| l.trim().eq_ignore_ascii_case("containerd")) {
            return Self::into_containerd(specs, load_platform);
        }
        if let Some(l) = loader {
            let chosen = Loader::parse(l)?;
            let mut used = false;
            for s in &mut specs {
                if let OutputSpec::Load {
                    loader, context, ..
                } = s
                {
                    if context.is_some() && chosen != Loader::Docker {
                        bail!("--loader {l} cannot load into a docker context: drop one of them");
                    }
                    loader.get_or_insert(chosen);
                    used = true;
                }
            }
            if !used {
                bail!("--loader {l} chooses what --load loads into: add --load (or --output type=docker)");
            }
        }
        if let Some(p) = load_platform {
            let chosen: Platform = p
                .parse()
                .map_err(|e| anyhow::anyhow!("--load-platform {p}: {e}"))?;
            let mut used = false;
            for s in &mut specs {
                if let OutputSpec::Load { platform, .. }
                | OutputSpec::DockerArchive { platform, .. }
                | OutputSpec::OciArchive { platform, .. } = s
                {
                    platform.get_or_insert_with(|| chosen.clone());
                    used = true;
                }
            }
            if !used {
                bail!(
                    "--load-platform {p} chooses the one platform that --load loads: add --load \
                     (or an --output type=docker)"
                );
            }
        }
        Ok(specs)
    }

    /// `--loader containerd`: each `--load` (or `type=docker` with no dest) output becomes a
    /// containerd import of the whole index.
    fn into_containerd(
        specs: Vec<OutputSpec>,
        load_platform: Option<&str>,
    ) -> Result<Vec<OutputSpec>> {
        if let Some(p) = load_platform {
            bail!(
                "--load-platform {p} chooses one platform, and containerd keeps them all (the                  whole index is imported; the host's is unpacked): drop --load-platform"
            );
        }
        let mut used = false;
        let mut out: Vec<OutputSpec> = Vec::new();
        for s in specs {
            let s = match s {
                OutputSpec::Load { context: Some(c), .. } => bail!(
                    "--loader containerd cannot load into the docker context {c}: drop one of them"
                ),
                OutputSpec::Load { platform: Some(p), .. } => bail!(
                    "type=docker,platform={p} chooses one platform, and containerd keeps them                      all: drop platform= or use type=containerd"
                ),
                OutputSpec::Load { .. } => {
                    used = true;
                    OutputSpec::Containerd {
                        namespace: None,
                        address: None,
                    }
                }
                other => other,
            };
            if !out.contains(&s) {
                out.push(s);
            }
        }
        if !used {
            bail!(
                "--loader containerd chooses what --load loads into: add --load (or write                  --output type=containerd)"
            );
        }
        Ok(out)
    }

    /// The destination path, if the output has one.
    pub fn dest(&self) -> Option<&PathBuf> {
        match self {
            OutputSpec::OciDir { dest }
            | OutputSpec::OciArchive { dest, .. }
            | OutputSpec::DockerArchive { dest, .. } => Some(dest),
            OutputSpec::Load { .. }
            | OutputSpec::Containerd { .. }
            | OutputSpec::CacheOnly
            | OutputSpec::Registry => None,
        }
    }

    /// This output for one binary: `{bin}` in `dest` replaced by `bin`.
    pub fn for_bin(&self, bin: &str) -> OutputSpec {
        let sub = |p: &PathBuf| PathBuf::from(p.to_string_lossy().replace("{bin}", bin));
        match self {
            OutputSpec::OciDir { dest } => OutputSpec::OciDir { dest: sub(dest) },
            OutputSpec::OciArchive { dest, platform } => OutputSpec::OciArchive {
                dest: sub(dest),
                platform: platform.clone(),
            },
            OutputSpec::DockerArchive { dest, platform } => OutputSpec::DockerArchive {
                dest: sub(dest),
                platform: platform.clone(),
            },
            other => other.clone(),
        }
    }

    /// The one platform this output was told to hold, if it holds one and was told.
    pub fn platform(&self) -> Option<&Platform> {
        match self {
            OutputSpec::OciArchive { platform, .. }
            | OutputSpec::DockerArchive { platform, .. }
            | OutputSpec::Load { platform, .. } => platform.as_ref(),
            OutputSpec::OciDir { .. }
            | OutputSpec::Containerd { .. }
            | OutputSpec::CacheOnly
            | OutputSpec::Registry => None,
        }
    }

    /// Whether `dest` differs per binary (so one output may serve several binaries).
    pub fn is_per_bin(&self) -> bool {
        self.dest()
            .is_none_or(|d| d.to_string_lossy().contains("{bin}"))
    }

    /// Whether these outputs write nothing at all (only `type=cacheonly`), so the build needs no
    /// lasting blob store.
    pub fn writes_nothing(outputs: &[OutputSpec]) -> bool {
        !outputs.is_empty() && outputs.iter().all(|o| *o == OutputSpec::CacheOnly)
    }
}

impl fmt::Display for OutputSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one = |p: &Option<Platform>| p.as_ref().map(|p| format!(" ({p})")).unwrap_or_default();
        match self {
            OutputSpec::OciDir { dest } => write!(f, "OCI layout {}", dest.display()),
            OutputSpec::OciArchive { dest, platform } => {
                write!(f, "OCI archive {}{}", dest.display(), one(platform))
            }
            OutputSpec::DockerArchive { dest, platform } => {
                write!(f, "docker archive {}{}", dest.display(), one(platform))
            }
            OutputSpec::Load {
                loader,
                context,
                platform,
            } => {
                let into = loader.map_or("docker or podman", Loader::program);
                write!(f, "load into {into}")?;
                if let Some(c) = context {
                    write!(f, " (context {c})")?;
                }
                write!(f, "{}", one(platform))
            }
            OutputSpec::Containerd { namespace, address } => {
                write!(f, "import into containerd")?;
                if let Some(a) = address {
                    write!(f, " at {}", a.display())?;
                }
                write!(
                    f,
                    " (namespace {})",
                    namespace.as_deref().unwrap_or("k8s.io")
                )
            }
            OutputSpec::CacheOnly => f.write_str("cacheonly (nothing written)"),
            OutputSpec::Registry => f.write_str("push to each image's repository"),
        }
    }
}

/// Serialized as it is printed in a plan (`OCI layout out/api`).
impl serde::Serialize for OutputSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_and_repeated_keys() {
        assert_eq!(
            OutputSpec::parse(r#"type=oci,"dest=a,b.tar""#).unwrap(),
            OutputSpec::OciArchive {
                dest: PathBuf::from("a,b.tar"),
                platform: None
            }
        );
        assert_eq!(
            OutputSpec::parse(r##""type=oci","dest=say ""hi""""##).unwrap(),
            OutputSpec::OciDir {
                dest: PathBuf::from(r#"say "hi""#)
            }
        );
        for twice in ["type=oci,dest=a,dest=b", "type=oci,type=docker,dest=a"] {
            let e = OutputSpec::parse(twice).unwrap_err().to_string();
            assert!(e.contains("is given twice"), "{e}");
        }
        assert!(OutputSpec::parse("type=oci,dest=a\ndest=b").is_err());
    }

    #[test]
    fn oci_dir_and_archive() {
        assert_eq!(
            OutputSpec::parse("type=oci,dest=out").unwrap(),
            OutputSpec::OciDir { dest: "out".into() }
        );
        assert_eq!(
            OutputSpec::parse("type=oci,dest=out.tar").unwrap(),
            OutputSpec::OciArchive {
                dest: "out.tar".into(),
                platform: None
            }
        );
        assert_eq!(
            OutputSpec::parse("type=oci,dest=out,tar=true").unwrap(),
            OutputSpec::OciArchive {
                dest: "out".into(),
                platform: None
            }
        );
        assert_eq!(
            OutputSpec::parse("dest=x.tar,type=oci,tar=false").unwrap(),
            OutputSpec::OciDir {
                dest: "x.tar".into()
            }
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let e = OutputSpec::parse("type=ocu,dest=x")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown type `ocu`") && e.contains("did you mean `oci`"),
            "{e}"
        );
        let e = OutputSpec::parse("type=oci").unwrap_err().to_string();
        assert!(e.contains("needs a dest"), "{e}");
        let e = OutputSpec::parse("dest=x").unwrap_err().to_string();
        assert!(e.contains("has no type"), "{e}");
        let e = OutputSpec::parse("type=oci,dest=x,compress=yes")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown attribute `compress`"), "{e}");
        assert!(OutputSpec::parse("type=oci,dest=x,tar=maybe").is_err());
    }

    #[test]
    fn registry_output() {
        assert_eq!(
            OutputSpec::parse("type=registry").unwrap(),
            OutputSpec::Registry
        );
        assert!(OutputSpec::Registry.is_per_bin());
        let e = OutputSpec::parse("type=registry,dest=x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("type=registry takes no attributes"), "{e}");
    }

    #[test]
    fn docker_and_cacheonly() {
        let arm: Platform = "linux/arm64".parse().unwrap();
        assert_eq!(
            OutputSpec::parse("type=docker,dest=a.tar,platform=linux/arm64").unwrap(),
            OutputSpec::DockerArchive {
                dest: "a.tar".into(),
                platform: Some(arm.clone())
            }
        );
        assert_eq!(
            OutputSpec::parse("type=docker").unwrap(),
            OutputSpec::Load {
                loader: None,
                context: None,
                platform: None
            }
        );
        assert_eq!(
            OutputSpec::parse("type=docker,context=remote").unwrap(),
            OutputSpec::Load {
                loader: Some(Loader::Docker),
                context: Some("remote".into()),
                platform: None
            }
        );
        assert_eq!(
            OutputSpec::parse("type=cacheonly").unwrap(),
            OutputSpec::CacheOnly
        );
        assert!(OutputSpec::writes_nothing(&[OutputSpec::CacheOnly]));
        assert!(!OutputSpec::writes_nothing(&[]));
        let e = OutputSpec::parse("type=docker,dest=")
            .unwrap_err()
            .to_string();
        assert!(e.contains("dest is empty"), "{e}");
        let e = OutputSpec::parse("type=dockr").unwrap_err().to_string();
        assert!(e.contains("did you mean `docker`"), "{e}");
        let e = OutputSpec::parse("type=oci,dest=d,platform=linux/arm64")
            .unwrap_err()
            .to_string();
        assert!(e.contains("tar=true"), "{e}");
    }

    #[test]
    fn load_flags_fold_into_the_outputs() {
        let arm: Platform = "linux/arm64".parse().unwrap();
        let specs = OutputSpec::resolve(
            &["type=docker,dest=x.tar".into(), "type=docker".into()],
            true,
            Some("podman"),
            Some("linux/arm64"),
        )
        .unwrap();
        // `--load` and `type=docker` are the same output, kept once.
        assert_eq!(
            specs,
            [
                OutputSpec::DockerArchive {
                    dest: "x.tar".into(),
                    platform: Some(arm.clone())
                },
                OutputSpec::Load {
                    loader: Some(Loader::Podman),
                    context: None,
                    platform: Some(arm)
                }
            ]
        );
        // An output's own platform wins over --load-platform.
        let specs = OutputSpec::resolve(
            &["type=docker,dest=x.tar,platform=linux/386".into()],
            false,
            None,
            Some("linux/arm64"),
        )
        .unwrap();
        assert_eq!(specs[0].platform().unwrap().to_string(), "linux/386");
        assert!(OutputSpec::resolve(&[], false, Some("docker"), None).is_err());
        assert!(OutputSpec::resolve(&[], false, None, Some("linux/arm64")).is_err());
        assert!(OutputSpec::resolve(&[], true, Some("lxc"), None).is_err());
        assert!(OutputSpec::resolve(
            &["type=docker,context=c".into()],
            false,
            Some("podman"),
            None
        )
        .is_err());
        assert_eq!(OutputSpec::resolve(&[], false, None, None).unwrap(), []);
    }

    #[test]
    fn containerd_outputs() {
        assert_eq!(
            OutputSpec::parse("type=containerd,namespace=ns,address=/run/c.sock").unwrap(),
            OutputSpec::Containerd {
                namespace: Some("ns".into()),
                address: Some("/run/c.sock".into())
            }
        );
        let e = OutputSpec::parse("type=containerd,dest=x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("takes namespace and address"), "{e}");
        let specs = OutputSpec::resolve(&[], true, Some("containerd"), None).unwrap();
        assert_eq!(
            specs,
            [OutputSpec::Containerd {
                namespace: None,
                address: None
            }]
        );
        assert!(OutputSpec::resolve(&[], false, Some("containerd"), None).is_err());
        assert!(OutputSpec::resolve(&[], true, Some("containerd"), Some("linux/arm64")).is_err());
    }

    #[test]
    fn bin_placeholder() {
        let o = OutputSpec::parse("type=oci,dest=out/{bin}.tar").unwrap();
        assert!(o.is_per_bin());
        assert_eq!(
            o.for_bin("api"),
            OutputSpec::OciArchive {
                dest: "out/api.tar".into(),
                platform: None
            }
        );
    }
}
