//! The `base` setting: what an image is built on, as the user named it — `scratch` (our
//! skeleton layer only) or an image reference. Resolving a reference against its registry is a
//! build step (`build/base.rs`); this file only parses and names.

use anyhow::{Context, Result};

use crate::image::reference::ImageRef;

/// The user a scratch image runs as unless told otherwise: `nonroot` from the skeleton.
pub const NONROOT: &str = "65532";
/// [`NONROOT`] as a number, for the skeleton layer's owners.
pub const NONROOT_ID: u64 = 65532;

/// What an image is built on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Base {
    /// Nothing but our own skeleton layer.
    Scratch,
    /// An image in a registry; our layers go on top of its layers.
    Image(ImageRef),
}

impl Base {
    /// Parses the `base` setting: `scratch` or an image reference.
    pub fn parse(s: &str) -> Result<Base> {
        match s.trim() {
            "" => anyhow::bail!(
                "the base image is empty (an unset variable?): name an image, for example \
                 debian:bookworm-slim, or write scratch for none"
            ),
            "scratch" => Ok(Base::Scratch),
            other => ImageRef::parse(other)
                .map(Base::Image)
                .with_context(|| format!("the base image `{other}`")),
        }
    }

    pub fn name(&self) -> String {
        match self {
            Base::Scratch => "scratch".to_string(),
            Base::Image(r) => r.to_string(),
        }
    }

    /// The user images on this base run as when the settings name none (a registry base keeps
    /// its own).
    pub fn default_user(&self) -> Option<&'static str> {
        match self {
            Base::Scratch => Some(NONROOT),
            Base::Image(_) => None,
        }
    }

    pub fn reference(&self) -> Option<&ImageRef> {
        match self {
            Base::Scratch => None,
            Base::Image(r) => Some(r),
        }
    }
}

/// Serialized as its name: `scratch` or the reference as given.
impl serde::Serialize for Base {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_parse_as_scratch_or_references() {
        assert_eq!(Base::parse("scratch").unwrap(), Base::Scratch);
        let b = Base::parse("127.0.0.1:5000/base:1").unwrap();
        assert_eq!(b.reference().unwrap().repository(), "base");
        assert_eq!(b.default_user(), None);
        let err = format!("{:#}", Base::parse("Not A Ref").unwrap_err());
        assert!(err.contains("not a valid image reference"), "{err}");
    }
}
