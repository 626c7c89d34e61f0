//! The Debian cross toolchains for gnu targets: a Rust triple's gcc prefix
//! (`aarch64-unknown-linux-gnu` → `aarch64-linux-gnu-gcc`) and the packages that provide the
//! compiler and the target's C library (`gcc-aarch64-linux-gnu libc6-dev-arm64-cross`), so an
//! error can name the exact `apt-get install`. Pure data; [`crate::route`] decides with it.

/// A Debian cross toolchain: the gcc prefix and the packages that provide it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DebianCross {
    pub prefix: &'static str,
    pub gcc_package: &'static str,
    pub libc_package: &'static str,
}

impl DebianCross {
    pub fn gcc(&self) -> String {
        format!("{}-gcc", self.prefix)
    }

    /// `apt-get install …` for this toolchain.
    pub fn install_command(&self) -> String {
        format!("apt-get install {} {}", self.gcc_package, self.libc_package)
    }
}

/// Rust gnu triple → Debian cross toolchain.
const DEBIAN_CROSS: &[(&str, DebianCross)] = &[
    (
        "x86_64-unknown-linux-gnu",
        deb(
            "x86_64-linux-gnu",
            "gcc-x86-64-linux-gnu",
            "libc6-dev-amd64-cross",
        ),
    ),
    (
        "aarch64-unknown-linux-gnu",
        deb(
            "aarch64-linux-gnu",
            "gcc-aarch64-linux-gnu",
            "libc6-dev-arm64-cross",
        ),
    ),
    (
        "armv7-unknown-linux-gnueabihf",
        deb(
            "arm-linux-gnueabihf",
            "gcc-arm-linux-gnueabihf",
            "libc6-dev-armhf-cross",
        ),
    ),
    (
        "thumbv7neon-unknown-linux-gnueabihf",
        deb(
            "arm-linux-gnueabihf",
            "gcc-arm-linux-gnueabihf",
            "libc6-dev-armhf-cross",
        ),
    ),
    (
        "arm-unknown-linux-gnueabihf",
        deb(
            "arm-linux-gnueabihf",
            "gcc-arm-linux-gnueabihf",
            "libc6-dev-armhf-cross",
        ),
    ),
    (
        "arm-unknown-linux-gnueabi",
        deb(
            "arm-linux-gnueabi",
            "gcc-arm-linux-gnueabi",
            "libc6-dev-armel-cross",
        ),
    ),
    (
        "armv5te-unknown-linux-gnueabi",
        deb(
            "arm-linux-gnueabi",
            "gcc-arm-linux-gnueabi",
            "libc6-dev-armel-cross",
        ),
    ),
    (
        "i686-unknown-linux-gnu",
        deb(
            "i686-linux-gnu",
            "gcc-i686-linux-gnu",
            "libc6-dev-i386-cross",
        ),
    ),
    (
        "i586-unknown-linux-gnu",
        deb(
            "i686-linux-gnu",
            "gcc-i686-linux-gnu",
            "libc6-dev-i386-cross",
        ),
    ),
    (
        "powerpc64le-unknown-linux-gnu",
        deb(
            "powerpc64le-linux-gnu",
            "gcc-powerpc64le-linux-gnu",
            "libc6-dev-ppc64el-cross",
        ),
    ),
    (
        "s390x-unknown-linux-gnu",
        deb(
            "s390x-linux-gnu",
            "gcc-s390x-linux-gnu",
            "libc6-dev-s390x-cross",
        ),
    ),
    (
        "riscv64gc-unknown-linux-gnu",
        deb(
            "riscv64-linux-gnu",
            "gcc-riscv64-linux-gnu",
            "libc6-dev-riscv64-cross",
        ),
    ),
    (
        "mips64el-unknown-linux-gnuabi64",
        deb(
            "mips64el-linux-gnuabi64",
            "gcc-mips64el-linux-gnuabi64",
            "libc6-dev-mips64el-cross",
        ),
    ),
    (
        "loongarch64-unknown-linux-gnu",
        deb(
            "loongarch64-linux-gnu",
            "gcc-loongarch64-linux-gnu",
            "libc6-dev-loong64-cross",
        ),
    ),
];

const fn deb(
    prefix: &'static str,
    gcc_package: &'static str,
    libc_package: &'static str,
) -> DebianCross {
    DebianCross {
        prefix,
        gcc_package,
        libc_package,
    }
}

/// The Debian cross toolchain for a gnu triple.
pub fn debian_cross(triple: &str) -> Option<DebianCross> {
    DEBIAN_CROSS
        .iter()
        .find(|(t, _)| *t == triple)
        .map(|(_, d)| *d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_gnu_triple_of_the_platform_table_has_a_debian_toolchain() {
        for p in crate::image::platform::Platform::all_known() {
            for t in p.candidate_triples() {
                if t.contains("-linux-gnu") {
                    assert!(debian_cross(t).is_some(), "{t}");
                }
            }
        }
    }
}
