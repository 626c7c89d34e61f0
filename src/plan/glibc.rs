//! The glibc version a gnu target is linked against, as a value (`--glibc 2.31`, `glibc =
//! "2.31"`, `CARGO_IMAGEBUILD_GLIBC`): [`GlibcVersion`], checked when it is read (its `FromStr`:
//! the form `2.N`, at least what Rust's standard library needs and at most what the pinned zig
//! provides). What a route does with it is [`crate::route::glibc`]'s.

use std::fmt;
use std::str::FromStr;

/// The oldest glibc Rust's standard library supports (and zig provides for most architectures).
pub const MIN_MINOR: u32 = 17;
/// The newest glibc the pinned zig ([`crate::plan::toolchain::ZIG_VERSION`]) provides.
pub const MAX_MINOR: u32 = 44;

/// A glibc version, `2.N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(into = "String")]
pub struct GlibcVersion {
    pub minor: u32,
}

impl From<GlibcVersion> for String {
    fn from(v: GlibcVersion) -> String {
        v.to_string()
    }
}

impl fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "2.{}", self.minor)
    }
}

impl FromStr for GlibcVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let shape = || {
            format!(
                "`{s}` is not a glibc version: give it as 2.N, such as 2.31 (the version of the \
                 base's libc.so.6; `ldd --version` in the base prints it)"
            )
        };
        let t = s.trim();
        let minor = t
            .strip_prefix("2.")
            .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()) && m.len() <= 4)
            .and_then(|m| m.parse::<u32>().ok())
            .ok_or_else(shape)?;
        if minor < MIN_MINOR {
            return Err(format!(
                "glibc `{t}` is older than Rust's standard library supports: give 2.{MIN_MINOR} \
                 or newer (or build static: a musl target)"
            ));
        }
        if minor > MAX_MINOR {
            return Err(format!(
                "glibc `{t}` is newer than zig {} provides (up to 2.{MAX_MINOR}): give \
                 2.{MAX_MINOR} or older (a binary linked against an older glibc runs on newer ones)",
                crate::plan::toolchain::ZIG_VERSION
            ));
        }
        Ok(GlibcVersion { minor })
    }
}

impl GlibcVersion {
    /// The version a symbol version of the `GLIBC_` family names: `GLIBC_2.28` → 2.28.
    pub fn of_symbol_version(v: &str) -> Option<GlibcVersion> {
        let minor = v.strip_prefix("GLIBC_2.")?;
        let minor = minor.split('.').next()?.parse().ok()?;
        Some(GlibcVersion { minor })
    }
}
