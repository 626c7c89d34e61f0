//! Rust target triples ⇄ OCI platforms: the one table.
//!
//! [`Platform`] is an OCI platform (`os/architecture[/variant]`) as it appears in an image index.
//! [`Platform::from_triple`] maps a Rust target triple to the platform its binaries run on, using
//! target-lexicon's parsed enums (never the triple's text), and [`Platform::candidate_triples`]
//! goes the other way: the triples that can build for a platform, best first (static musl before
//! gnu). Which candidate is installable is the toolchain's business (`toolchain.rs`), not this
//! module's: everything here is pure and tested row by row.

use std::fmt;
use std::str::FromStr;

use target_lexicon::{
    Aarch64Architecture, Architecture, ArmArchitecture, Environment, Mips64Architecture,
    OperatingSystem, Riscv64Architecture, Triple, X86_32Architecture,
};

/// An OCI platform: the `os`, `architecture` and optional `variant` of an index entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    /// `linux`, `windows`, `wasip1`.
    pub os: String,
    /// `amd64`, `arm64`, `arm`, …
    pub architecture: String,
    /// `v7`, `v8`, … when the architecture has variants.
    pub variant: Option<String>,
}

/// Why a platform or triple was refused. Callers show it; the CLI turns it into an exit code.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlatformError {
    #[error("unknown platform `{given}`{}", hint(.suggestion))]
    /// Not a platform the table knows.
    UnknownPlatform {
        /// What was given.
        given: String,
        /// The nearest known platform.
        suggestion: Option<String>,
    },
    #[error(
        "platform `{given}` has no container runtime: images are for linux, windows and wasip1 \
         (for example linux/amd64, linux/arm64)"
    )]
    /// A platform no container runs on (darwin, ios, …).
    NoContainerRuntime {
        /// What was given.
        given: String,
    },
    #[error("`{given}` is not a Rust target triple{}", hint(.suggestion))]
    /// Not a Rust target triple.
    BadTriple {
        /// What was given.
        given: String,
        /// The nearest known triple.
        suggestion: Option<String>,
    },
    #[error(
        "target `{triple}` has no OCI platform: container images exist for linux, windows and \
         wasip1 targets (for example x86_64-unknown-linux-musl)"
    )]
    /// A triple for no platform containers run on.
    UnsupportedTriple {
        /// The triple.
        triple: String,
    },
    #[error(
        "no platform given (an empty value, perhaps an unset CI variable): name one, for example \
         linux/amd64, or leave the option out to build for this machine"
    )]
    /// An empty value.
    Empty,
    #[error("--platform all stands alone: drop the other --platform and --target values")]
    /// `all` given beside other platforms.
    AllStandsAlone,
}

fn hint(s: &Option<String>) -> String {
    match s {
        Some(s) => format!(": did you mean `{s}`?"),
        None => String::new(),
    }
}

/// One row of the table: a platform and the triples that build for it, preferred first.
struct Row {
    platform: (&'static str, &'static str, Option<&'static str>),
    triples: &'static [&'static str],
}

/// The platform table of DESIGN.md. Candidates are listed static-musl first; the toolchain picks
/// the first whose standard library it can get.
const TABLE: &[Row] = &[
    row(
        "linux",
        "amd64",
        None,
        &["x86_64-unknown-linux-musl", "x86_64-unknown-linux-gnu"],
    ),
    row(
        "linux",
        "arm64",
        None,
        &["aarch64-unknown-linux-musl", "aarch64-unknown-linux-gnu"],
    ),
    row(
        "linux",
        "arm",
        Some("v7"),
        &[
            "armv7-unknown-linux-musleabihf",
            "armv7-unknown-linux-gnueabihf",
        ],
    ),
    row(
        "linux",
        "arm",
        Some("v6"),
        &[
            "arm-unknown-linux-musleabihf",
            "arm-unknown-linux-gnueabihf",
            "arm-unknown-linux-musleabi",
            "arm-unknown-linux-gnueabi",
        ],
    ),
    row(
        "linux",
        "arm",
        Some("v5"),
        &[
            "armv5te-unknown-linux-musleabi",
            "armv5te-unknown-linux-gnueabi",
        ],
    ),
    row(
        "linux",
        "386",
        None,
        &[
            "i686-unknown-linux-musl",
            "i686-unknown-linux-gnu",
            "i586-unknown-linux-musl",
            "i586-unknown-linux-gnu",
        ],
    ),
    row(
        "linux",
        "ppc64le",
        None,
        &[
            "powerpc64le-unknown-linux-musl",
            "powerpc64le-unknown-linux-gnu",
        ],
    ),
    row(
        "linux",
        "s390x",
        None,
        &["s390x-unknown-linux-musl", "s390x-unknown-linux-gnu"],
    ),
    row(
        "linux",
        "riscv64",
        None,
        &[
            "riscv64gc-unknown-linux-musl",
            "riscv64gc-unknown-linux-gnu",
        ],
    ),
    row(
        "linux",
        "mips64le",
        None,
        &[
            "mips64el-unknown-linux-muslabi64",
            "mips64el-unknown-linux-gnuabi64",
        ],
    ),
    row(
        "linux",
        "loong64",
        None,
        &[
            "loongarch64-unknown-linux-musl",
            "loongarch64-unknown-linux-gnu",
        ],
    ),
    row(
        "windows",
        "amd64",
        None,
        &["x86_64-pc-windows-gnu", "x86_64-pc-windows-msvc"],
    ),
    row("windows", "arm64", None, &["aarch64-pc-windows-msvc"]),
    row("wasip1", "wasm", None, &["wasm32-wasip1"]),
];

const fn row(
    os: &'static str,
    arch: &'static str,
    variant: Option<&'static str>,
    triples: &'static [&'static str],
) -> Row {
    Row {
        platform: (os, arch, variant),
        triples,
    }
}

/// Operating systems that run binaries but no container runtime: refused with their own message.
const NO_RUNTIME_OS: &[&str] = &[
    "darwin", "macos", "ios", "android", "tvos", "watchos", "visionos", "none", "uefi", "cuda",
];

impl Platform {
    /// A platform from its parts.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        }
    }

    /// Every platform of the table, in table order.
    pub fn all_known() -> Vec<Platform> {
        TABLE.iter().map(|r| r.platform()).collect()
    }

    /// The platform whose binaries `triple` produces.
    pub fn from_triple(triple: &str) -> Result<Platform, PlatformError> {
        let parsed = Triple::from_str(triple).map_err(|_| PlatformError::BadTriple {
            given: triple.to_string(),
            suggestion: closest(triple, TABLE.iter().flat_map(|r| r.triples.iter().copied())),
        })?;
        let unsupported = || PlatformError::UnsupportedTriple {
            triple: triple.to_string(),
        };
        let os = match parsed.operating_system {
            OperatingSystem::Linux => "linux",
            OperatingSystem::Windows => "windows",
            OperatingSystem::WasiP1 | OperatingSystem::Wasi => "wasip1",
            _ => return Err(unsupported()),
        };
        let (arch, variant) = match parsed.architecture {
            Architecture::X86_64 => ("amd64", None),
            Architecture::X86_32(X86_32Architecture::I686 | X86_32Architecture::I586) => {
                ("386", None)
            }
            Architecture::Aarch64(Aarch64Architecture::Aarch64) => ("arm64", None),
            Architecture::Arm(arm) => match arm {
                ArmArchitecture::Armv7
                | ArmArchitecture::Armv7a
                | ArmArchitecture::Armv7ve
                | ArmArchitecture::Thumbv7neon => ("arm", Some("v7")),
                ArmArchitecture::Arm
                | ArmArchitecture::Armv6
                | ArmArchitecture::Armv6k
                | ArmArchitecture::Armv6kz => ("arm", Some("v6")),
                ArmArchitecture::Armv5te => ("arm", Some("v5")),
                _ => return Err(unsupported()),
            },
            Architecture::Powerpc64le => ("ppc64le", None),
            Architecture::S390x => ("s390x", None),
            Architecture::Riscv64(
                Riscv64Architecture::Riscv64gc | Riscv64Architecture::Riscv64,
            ) => ("riscv64", None),
            Architecture::Mips64(Mips64Architecture::Mips64el) => ("mips64le", None),
            Architecture::LoongArch64 => ("loong64", None),
            Architecture::Wasm32 if os == "wasip1" => ("wasm", None),
            _ => return Err(unsupported()),
        };
        // Only the C environments that a Linux container can run; bare `-unknown-linux` has none.
        if os == "linux"
            && !matches!(
                parsed.environment,
                Environment::Musl
                    | Environment::Gnu
                    | Environment::Musleabi
                    | Environment::Musleabihf
                    | Environment::Gnueabi
                    | Environment::Gnueabihf
                    | Environment::Muslabi64
                    | Environment::Gnuabi64
            )
        {
            return Err(unsupported());
        }
        Ok(Platform::new(os, arch, variant))
    }

    /// The triples that build for this platform, preferred first (static musl, then gnu).
    pub fn candidate_triples(&self) -> &'static [&'static str] {
        TABLE
            .iter()
            .find(|r| r.platform() == *self)
            .map(|r| r.triples)
            .unwrap_or(&[])
    }

    /// Whether `other` names the same platform, treating arm64 and arm64/v8 as one.
    pub fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && normalized_variant(&self.architecture, self.variant.as_deref())
                == normalized_variant(&other.architecture, other.variant.as_deref())
    }

    /// The platform of the machine this runs on, when it is in the table.
    pub fn host() -> Option<Platform> {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => return Some(Platform::new("linux", "arm", Some("v7"))),
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            "loongarch64" => "loong64",
            _ => return None,
        };
        let os = match std::env::consts::OS {
            "windows" => "windows",
            _ => "linux",
        };
        Some(Platform::new(os, arch, None))
    }

    /// This platform as oci-spec wants it in a descriptor.
    pub(crate) fn to_oci(&self) -> oci_spec::image::Platform {
        let mut p = oci_spec::image::Platform::default();
        p.set_os(oci_spec::image::Os::from(self.os.as_str()));
        p.set_architecture(oci_spec::image::Arch::from(self.architecture.as_str()));
        p.set_variant(self.variant.clone());
        p
    }

    /// A name usable in file and directory names: `linux-arm-v7`.
    pub fn slug(&self) -> String {
        self.to_string().replace('/', "-")
    }
}

fn normalized_variant<'a>(arch: &str, variant: Option<&'a str>) -> Option<&'a str> {
    match (arch, variant) {
        ("arm64", Some("v8")) => None,
        _ => variant,
    }
}

impl Row {
    fn platform(&self) -> Platform {
        let (os, arch, variant) = self.platform;
        Platform::new(os, arch, variant)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = PlatformError;

    /// Parses `os/arch[/variant]` the way containerd normalizes it: `x86_64` → `amd64`,
    /// `aarch64` and `arm64/v8` → `arm64`, a bare `arm` → `arm/v7`, a bare architecture → linux.
    fn from_str(given: &str) -> Result<Self, Self::Err> {
        let lower = given.trim().to_ascii_lowercase();
        let parts: Vec<&str> = lower.split('/').collect();
        let (os, arch, variant) = match parts.as_slice() {
            [arch] => ("linux", *arch, None),
            [os, arch] => (*os, *arch, None),
            [os, arch, variant] => (*os, *arch, Some(*variant)),
            _ => ("", "", None),
        };
        if NO_RUNTIME_OS.contains(&os) {
            return Err(PlatformError::NoContainerRuntime {
                given: given.to_string(),
            });
        }
        let (arch, variant) = match (arch, variant) {
            ("x86_64" | "x86-64" | "x64", v) => ("amd64", v),
            ("aarch64" | "arm64", None | Some("v8")) => ("arm64", None),
            ("armhf", None) | ("arm", None) => ("arm", Some("v7")),
            ("armel", None) => ("arm", Some("v6")),
            ("i386" | "i686" | "x86", v) => ("386", v),
            ("loongarch64", v) => ("loong64", v),
            (a, v) => (a, v),
        };
        let candidate = Platform::new(os, arch, variant);
        if TABLE.iter().any(|r| r.platform() == candidate) {
            return Ok(candidate);
        }
        let known: Vec<String> = Platform::all_known()
            .iter()
            .map(|p| p.to_string())
            .collect();
        Err(PlatformError::UnknownPlatform {
            given: given.to_string(),
            suggestion: closest(&lower, known.iter().map(String::as_str)),
        })
    }
}

/// The closest known spelling, when one is close enough to be a likely typo.
pub fn closest<'a>(given: &str, known: impl Iterator<Item = &'a str>) -> Option<String> {
    known
        .map(|k| (strsim::jaro_winkler(given, k), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.to_string())
}

/// Parses a comma-separated list (as `--platform a,b` and metadata both allow), dropping blanks
/// and duplicates while keeping the order given.
pub fn parse_list<'a>(
    items: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<Platform>, PlatformError> {
    let mut out: Vec<Platform> = Vec::new();
    let mut given = false;
    for item in items {
        given = true;
        for part in item.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let p: Platform = part.parse()?;
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    if given && out.is_empty() {
        return Err(PlatformError::Empty);
    }
    Ok(out)
}

/// Which platforms to build, as asked: every platform the base image offers that Rust can build
/// for (`--platform all`), or a list. Parsed once, where the values are given
/// ([`PlatformChoice::parse`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum PlatformChoice {
    /// `all`: the base image's platforms.
    All,
    /// These platforms, in this order, each once.
    List(Vec<Platform>),
}

impl PlatformChoice {
    /// Reads `--platform` values (each may be a comma list): `None` when none is given, `all`
    /// alone, or a list of platforms (duplicates dropped). An empty value is refused, as is
    /// `all` beside other platforms.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Option<PlatformChoice>, PlatformError> {
        let parts = || {
            items
                .iter()
                .flat_map(|i| i.as_ref().split(','))
                .map(str::trim)
        };
        if parts().any(|p| p.eq_ignore_ascii_case("all")) {
            if parts().filter(|p| !p.is_empty()).count() > 1 {
                return Err(PlatformError::AllStandsAlone);
            }
            return Ok(Some(PlatformChoice::All));
        }
        if items.is_empty() {
            return Ok(None);
        }
        parse_list(items.iter().map(AsRef::as_ref)).map(|l| Some(PlatformChoice::List(l)))
    }
}

impl fmt::Display for PlatformChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlatformChoice::All => f.write_str("all"),
            PlatformChoice::List(l) => {
                let names: Vec<String> = l.iter().map(Platform::to_string).collect();
                f.write_str(&names.join(","))
            }
        }
    }
}

/// Serialized as written on the command line: `linux/arm/v7`.
impl serde::Serialize for Platform {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_choices_parse_once() {
        assert_eq!(PlatformChoice::parse::<&str>(&[]), Ok(None));
        assert_eq!(
            PlatformChoice::parse(&["ALL"]),
            Ok(Some(PlatformChoice::All))
        );
        assert_eq!(
            PlatformChoice::parse(&["all,linux/amd64"]),
            Err(PlatformError::AllStandsAlone)
        );
        assert_eq!(
            PlatformChoice::parse(&["all", "linux/amd64"]),
            Err(PlatformError::AllStandsAlone)
        );
        assert_eq!(PlatformChoice::parse(&[""]), Err(PlatformError::Empty));
        let two = PlatformChoice::parse(&["linux/amd64,linux/arm64", "linux/amd64"])
            .unwrap()
            .unwrap();
        assert_eq!(two.to_string(), "linux/amd64,linux/arm64");
    }

    /// Every triple of DESIGN.md's table and the platform it must map to.
    const ROWS: &[(&str, &str)] = &[
        ("x86_64-unknown-linux-musl", "linux/amd64"),
        ("x86_64-unknown-linux-gnu", "linux/amd64"),
        ("aarch64-unknown-linux-musl", "linux/arm64"),
        ("aarch64-unknown-linux-gnu", "linux/arm64"),
        ("armv7-unknown-linux-musleabihf", "linux/arm/v7"),
        ("armv7-unknown-linux-gnueabihf", "linux/arm/v7"),
        ("thumbv7neon-unknown-linux-gnueabihf", "linux/arm/v7"),
        ("arm-unknown-linux-musleabihf", "linux/arm/v6"),
        ("arm-unknown-linux-gnueabihf", "linux/arm/v6"),
        ("arm-unknown-linux-musleabi", "linux/arm/v6"),
        ("arm-unknown-linux-gnueabi", "linux/arm/v6"),
        ("armv5te-unknown-linux-musleabi", "linux/arm/v5"),
        ("armv5te-unknown-linux-gnueabi", "linux/arm/v5"),
        ("i686-unknown-linux-musl", "linux/386"),
        ("i686-unknown-linux-gnu", "linux/386"),
        ("i586-unknown-linux-musl", "linux/386"),
        ("i586-unknown-linux-gnu", "linux/386"),
        ("powerpc64le-unknown-linux-musl", "linux/ppc64le"),
        ("powerpc64le-unknown-linux-gnu", "linux/ppc64le"),
        ("s390x-unknown-linux-musl", "linux/s390x"),
        ("s390x-unknown-linux-gnu", "linux/s390x"),
        ("riscv64gc-unknown-linux-musl", "linux/riscv64"),
        ("riscv64gc-unknown-linux-gnu", "linux/riscv64"),
        ("mips64el-unknown-linux-muslabi64", "linux/mips64le"),
        ("mips64el-unknown-linux-gnuabi64", "linux/mips64le"),
        ("loongarch64-unknown-linux-musl", "linux/loong64"),
        ("loongarch64-unknown-linux-gnu", "linux/loong64"),
        ("x86_64-pc-windows-msvc", "windows/amd64"),
        ("x86_64-pc-windows-gnu", "windows/amd64"),
        ("aarch64-pc-windows-msvc", "windows/arm64"),
        ("wasm32-wasip1", "wasip1/wasm"),
    ];

    #[test]
    fn every_row_maps_triple_to_platform() {
        for (triple, platform) in ROWS {
            let p = Platform::from_triple(triple).unwrap_or_else(|e| panic!("{triple}: {e}"));
            assert_eq!(p.to_string(), *platform, "{triple}");
        }
    }

    #[test]
    fn every_row_maps_platform_back_to_a_triple_of_its_own() {
        for (triple, platform) in ROWS {
            let p: Platform = platform.parse().unwrap();
            let candidates = p.candidate_triples();
            assert!(!candidates.is_empty(), "{platform} has no candidate");
            for c in candidates {
                assert_eq!(
                    &Platform::from_triple(c).unwrap(),
                    &p,
                    "{c} is listed for {p}"
                );
            }
            // The first choice is static where a static triple exists.
            if p.os == "linux" {
                assert!(
                    candidates[0].contains("musl"),
                    "{platform}: {}",
                    candidates[0]
                );
            }
            let _ = triple;
        }
    }

    #[test]
    fn every_table_platform_has_a_tested_row() {
        for p in Platform::all_known() {
            assert!(
                ROWS.iter().any(|(_, s)| *s == p.to_string()),
                "{p} has no test row"
            );
        }
    }

    #[test]
    fn containerd_normalizations_are_accepted() {
        let cases = [
            ("linux/arm64/v8", "linux/arm64"),
            ("linux/aarch64", "linux/arm64"),
            ("arm64", "linux/arm64"),
            ("linux/x86_64", "linux/amd64"),
            ("amd64", "linux/amd64"),
            ("linux/arm", "linux/arm/v7"),
            ("linux/armhf", "linux/arm/v7"),
            ("linux/armel", "linux/arm/v6"),
            ("linux/i386", "linux/386"),
            ("Linux/AMD64", "linux/amd64"),
        ];
        for (given, want) in cases {
            assert_eq!(
                given.parse::<Platform>().unwrap().to_string(),
                want,
                "{given}"
            );
        }
    }

    #[test]
    fn unknown_platforms_get_a_suggestion() {
        let err = "linux/amd46".parse::<Platform>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown platform `linux/amd46`: did you mean `linux/amd64`?"
        );
        let err = "linux/arm/v9".parse::<Platform>().unwrap_err();
        assert!(
            err.to_string().contains("did you mean `linux/arm/v"),
            "{err}"
        );
        assert!(matches!(
            "plan9/zzz".parse::<Platform>(),
            Err(PlatformError::UnknownPlatform { .. })
        ));
    }

    #[test]
    fn platforms_without_a_runtime_are_refused() {
        for p in ["darwin/arm64", "ios/arm64", "android/arm64"] {
            assert!(
                matches!(
                    p.parse::<Platform>(),
                    Err(PlatformError::NoContainerRuntime { .. })
                ),
                "{p}"
            );
        }
        assert!(matches!(
            Platform::from_triple("aarch64-apple-darwin"),
            Err(PlatformError::UnsupportedTriple { .. })
        ));
        assert!(matches!(
            Platform::from_triple("thumbv7em-none-eabihf"),
            Err(PlatformError::UnsupportedTriple { .. })
        ));
    }

    #[test]
    fn bad_triples_get_a_suggestion() {
        let err = Platform::from_triple("x86_64-unknown-linux-mus").unwrap_err();
        assert!(
            err.to_string().contains("x86_64-unknown-linux-musl"),
            "{err}"
        );
    }

    #[test]
    fn arm64_v8_matches_arm64() {
        let a = Platform::new("linux", "arm64", None);
        let b = Platform::new("linux", "arm64", Some("v8"));
        assert!(a.matches(&b));
        assert!(
            !Platform::new("linux", "arm", Some("v7")).matches(&Platform::new(
                "linux",
                "arm",
                Some("v6")
            ))
        );
    }

    #[test]
    fn lists_split_commas_and_drop_duplicates() {
        let l = parse_list(["linux/amd64,linux/arm64", "linux/amd64", " linux/386 "]).unwrap();
        let s: Vec<String> = l.iter().map(|p| p.to_string()).collect();
        assert_eq!(s, ["linux/amd64", "linux/arm64", "linux/386"]);
    }

    #[test]
    fn oci_platform_carries_variant() {
        let p = Platform::new("linux", "arm", Some("v7")).to_oci();
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"architecture":"arm","os":"linux","variant":"v7"})
        );
    }
}
