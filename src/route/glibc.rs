//! The glibc a gnu target links against (`--glibc 2.31`, `glibc = "2.31"`,
//! `CARGO_IMAGEBUILD_GLIBC`, or the base's): a [`GlibcVersion`] (the value, read and checked in
//! [`crate::plan::glibc`]), checked against each architecture's first glibc when a route takes it
//! ([`GlibcVersion::check_for`]). A route with one links with `zig cc -target
//! <arch>-linux-gnu.2.N` (as `cargo zigbuild --target <triple>.2.N` does), so the binary needs
//! no symbol version newer than that glibc and no Debian cross gcc is involved.

pub use crate::plan::glibc::{GlibcVersion, MAX_MINOR, MIN_MINOR};

impl GlibcVersion {
    /// zig's target for `zig_target` (`riscv64-linux-gnu`) at this version.
    pub fn zig_target(&self, zig_target: &str) -> String {
        format!("{zig_target}.{self}")
    }

    /// Refuses a version older than the first glibc of `triple`'s architecture (glibc
    /// gained riscv64 in 2.27, ppc64le in 2.19, loongarch64 in 2.36): the error names it.
    pub fn check_for(&self, triple: &str) -> Result<(), String> {
        let first = first_minor(triple);
        if self.minor < first {
            return Err(format!(
                "glibc {self} predates glibc's support for {triple} (from 2.{first}): give \
                 --glibc 2.{first} or newer"
            ));
        }
        Ok(())
    }
}

/// The glibc a gnu target links against when the user named none, from the glibc of its base
/// (`base`, the newest `GLIBC_2.N` of the base's `libc.so.6`): that version and where it came
/// from (`the base's`), or the newest zig provides when the base's is newer. `Err` says why
/// none fits: the base's glibc predates what zig provides for `triple` (nothing newer than the
/// base would run there), so the target is linked as without `--glibc`.
pub fn from_base(base: GlibcVersion, triple: &str) -> Result<(GlibcVersion, String), String> {
    let first = first_minor(triple);
    if base.minor < first {
        return Err(format!(
            "the base's glibc {base} is older than zig provides for {triple} (from 2.{first})"
        ));
    }
    if base.minor > MAX_MINOR {
        return Ok((
            GlibcVersion { minor: MAX_MINOR },
            format!(
                "the newest zig {} provides; the base's is {base}",
                crate::plan::toolchain::ZIG_VERSION
            ),
        ));
    }
    Ok((base, "the base's".to_string()))
}

/// The first glibc minor version of `triple`'s architecture that zig provides.
fn first_minor(triple: &str) -> u32 {
    match triple.split('-').next().unwrap_or("") {
        "riscv64gc" | "riscv64" => 27,
        "powerpc64le" => 19,
        "loongarch64" => 36,
        _ => MIN_MINOR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_checked_when_read() {
        assert_eq!("2.31".parse::<GlibcVersion>().unwrap().to_string(), "2.31");
        assert_eq!(" 2.17 ".parse::<GlibcVersion>().unwrap().minor, 17);
        for bad in ["2.x", "abc", "2", "2.", "3.1", "2.31.1", "2.-1", ""] {
            let e = bad.parse::<GlibcVersion>().unwrap_err();
            assert!(
                e.contains("is not a glibc version") && e.contains("2.N"),
                "{bad}: {e}"
            );
        }
        let e = "2.12".parse::<GlibcVersion>().unwrap_err();
        assert!(e.contains("older than Rust") && e.contains("2.17"), "{e}");
        let e = "2.99".parse::<GlibcVersion>().unwrap_err();
        assert!(e.contains("newer than zig") && e.contains("2.44"), "{e}");
    }

    #[test]
    fn architectures_have_their_first_glibc() {
        let v: GlibcVersion = "2.17".parse().unwrap();
        assert!(v.check_for("aarch64-unknown-linux-gnu").is_ok());
        let e = v.check_for("riscv64gc-unknown-linux-gnu").unwrap_err();
        assert!(e.contains("2.27"), "{e}");
        assert_eq!(v.zig_target("x86_64-linux-gnu"), "x86_64-linux-gnu.2.17");
        assert_eq!(
            GlibcVersion::of_symbol_version("GLIBC_2.28"),
            Some(GlibcVersion { minor: 28 })
        );
        assert_eq!(GlibcVersion::of_symbol_version("GLIBCXX_3.4"), None);
    }

    #[test]
    fn a_base_glibc_becomes_the_nearest_zig_provides() {
        let v = |minor| GlibcVersion { minor };
        let x86 = "x86_64-unknown-linux-gnu";
        assert_eq!(from_base(v(28), x86).unwrap(), (v(28), "the base's".into()));
        let (newest, why) = from_base(v(50), x86).unwrap();
        assert_eq!(newest, v(MAX_MINOR));
        assert!(why.contains("the base's is 2.50"), "{why}");
        let e = from_base(v(12), x86).unwrap_err();
        assert!(e.contains("2.12") && e.contains("from 2.17"), "{e}");
        let e = from_base(v(24), "riscv64gc-unknown-linux-gnu").unwrap_err();
        assert!(e.contains("from 2.27"), "{e}");
    }
}
