//! The base an image is built on. Here: the built-in `scratch` base, which is empty, plus the
//! small skeleton layer that makes a scratch image behave like a real system for a non-root
//! program: `/etc/passwd` and `/etc/group` (from `templates/`) with `root` and `nonroot` (65532),
//! a sticky world-writable `/tmp` and `nonroot`'s home.

use anyhow::{bail, Result};

use crate::layer::{Entry, LayerSpec, Source};

/// The user a scratch image runs as unless told otherwise: `nonroot` from the skeleton.
pub const NONROOT: &str = "65532";
const NONROOT_ID: u64 = 65532;

/// What an image is built on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Base {
    /// Nothing but our own skeleton layer.
    Scratch,
}

impl Base {
    /// Parses the `base` setting.
    pub fn parse(s: &str) -> Result<Base> {
        match s.trim() {
            "" | "scratch" => Ok(Base::Scratch),
            other => bail!(
                "base image `{other}` cannot be used: registry bases are not supported in this \
                 version; use base = \"scratch\""
            ),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Base::Scratch => "scratch",
        }
    }

    /// The user images on this base run as when the settings name none.
    pub fn default_user(&self) -> Option<&'static str> {
        match self {
            Base::Scratch => Some(NONROOT),
        }
    }
}

/// The skeleton layer a scratch image starts with. It is the same for every platform, so its
/// blob is packed once and shared.
pub fn skeleton_layer() -> LayerSpec {
    let file = |path: &str, bytes: &[u8]| Entry::file(path, Source::Bytes(bytes.to_vec()), 0o644);
    LayerSpec {
        entries: vec![
            file("etc/passwd", include_bytes!("../templates/passwd")),
            file("etc/group", include_bytes!("../templates/group")),
            Entry::dir("tmp", 0o1777),
            Entry::dir("home/nonroot", 0o755).owned_by(NONROOT_ID, NONROOT_ID),
        ],
        created_by: "cargo-imagebuild: scratch skeleton (passwd, group, /tmp)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skeleton_has_nonroot_user_and_group() {
        let passwd = include_str!("../templates/passwd");
        assert!(passwd
            .lines()
            .any(|l| l.starts_with("nonroot:x:65532:65532:")));
        let group = include_str!("../templates/group");
        assert!(group.lines().any(|l| l.starts_with("nonroot:x:65532:")));
        let spec = skeleton_layer();
        assert!(spec
            .entries
            .iter()
            .any(|e| e.path == "tmp" && e.mode == 0o1777));
    }

    #[test]
    fn registry_bases_are_refused_clearly_for_now() {
        assert_eq!(Base::parse("scratch").unwrap(), Base::Scratch);
        let err = Base::parse("gcr.io/distroless/static")
            .unwrap_err()
            .to_string();
        assert!(err.contains("scratch"), "{err}");
    }
}
