//! `--output` values, in docker buildx's vocabulary (`type=oci,dest=out.tar,tar=true`), parsed
//! into [`OutputSpec`]s with no I/O (`type=registry`, which `--push` stands for, pushes to each
//! image's repository). Which sink writes each is `sink::for_outputs`'s business.
//!
//! `dest` may hold `{bin}`, replaced by each binary's name, so one `--output` serves a build of
//! several binaries. For `type=oci`, `tar` defaults from `dest`: a name ending in `.tar` is an
//! archive, anything else a layout directory.

use std::path::PathBuf;

use anyhow::{bail, Result};

/// Where one `--output` sends the images.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputSpec {
    /// An OCI image layout directory.
    OciDir { dest: PathBuf },
    /// An OCI image layout in a tar file.
    OciArchive { dest: PathBuf },
    /// A push to each image's repository (`--push`, `type=registry`).
    Registry,
}

const TYPES: &str = "oci, registry";

impl OutputSpec {
    /// Parses one `--output` value.
    pub fn parse(value: &str) -> Result<OutputSpec> {
        let mut kind = None;
        let mut dest = None;
        let mut tar = None;
        for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                bail!(
                    "--output `{value}`: `{part}` is not key=value; write for example \
                     --output type=oci,dest=out"
                );
            };
            match k.trim() {
                "type" => kind = Some(v.trim().to_string()),
                "dest" => dest = Some(PathBuf::from(v.trim())),
                "tar" => {
                    tar = Some(match v.trim() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        other => bail!("--output `{value}`: tar={other} must be true or false"),
                    })
                }
                other => bail!(
                    "--output `{value}`: unknown attribute `{other}`; type=oci takes dest and \
                     tar, type=registry takes none"
                ),
            }
        }
        let Some(kind) = kind else {
            bail!("--output `{value}` has no type: write type=oci,dest=DIR (types: {TYPES})");
        };
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
                Ok(if tar {
                    OutputSpec::OciArchive { dest }
                } else {
                    OutputSpec::OciDir { dest }
                })
            }
            "registry" => {
                if let Some(d) = dest {
                    bail!(
                        "--output `{value}`: type=registry pushes to each image's repository and \
                         takes no dest (got {}); set the repository with --repository or -t",
                        d.display()
                    );
                }
                Ok(OutputSpec::Registry)
            }
            other => {
                let hint = crate::platform::closest(other, TYPES.split(", "))
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                bail!("--output `{value}`: unknown type `{other}`{hint}; the types are: {TYPES}")
            }
        }
    }

    /// The destination path, if the output has one.
    pub fn dest(&self) -> Option<&PathBuf> {
        match self {
            OutputSpec::OciDir { dest } | OutputSpec::OciArchive { dest } => Some(dest),
            OutputSpec::Registry => None,
        }
    }

    /// This output for one binary: `{bin}` in `dest` replaced by `bin`.
    pub fn for_bin(&self, bin: &str) -> OutputSpec {
        let sub = |p: &PathBuf| PathBuf::from(p.to_string_lossy().replace("{bin}", bin));
        match self {
            OutputSpec::OciDir { dest } => OutputSpec::OciDir { dest: sub(dest) },
            OutputSpec::OciArchive { dest } => OutputSpec::OciArchive { dest: sub(dest) },
            OutputSpec::Registry => OutputSpec::Registry,
        }
    }

    /// Whether `dest` differs per binary (so one output may serve several binaries).
    pub fn is_per_bin(&self) -> bool {
        self.dest()
            .is_none_or(|d| d.to_string_lossy().contains("{bin}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_dir_and_archive() {
        assert_eq!(
            OutputSpec::parse("type=oci,dest=out").unwrap(),
            OutputSpec::OciDir { dest: "out".into() }
        );
        assert_eq!(
            OutputSpec::parse("type=oci,dest=out.tar").unwrap(),
            OutputSpec::OciArchive {
                dest: "out.tar".into()
            }
        );
        assert_eq!(
            OutputSpec::parse("type=oci,dest=out,tar=true").unwrap(),
            OutputSpec::OciArchive { dest: "out".into() }
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
        assert!(e.contains("takes no dest"), "{e}");
    }

    #[test]
    fn bin_placeholder() {
        let o = OutputSpec::parse("type=oci,dest=out/{bin}.tar").unwrap();
        assert!(o.is_per_bin());
        assert_eq!(
            o.for_bin("api"),
            OutputSpec::OciArchive {
                dest: "out/api.tar".into()
            }
        );
    }
}
