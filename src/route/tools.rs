//! The external programs a cross build may use, found on `PATH`: the Debian cross gcc, zig (a
//! `zig` binary, or PyPI's `ziglang` run as `python3 -m ziglang`), `cargo-zigbuild` and `cross`.
//! [`Tools`] is one look at the machine, taken once per run; [`crate::route`] decides with it and
//! `doctor` reports from it. Nothing here runs a build.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::util::env::Environment;

/// How to run zig: its program and the arguments that come before zig's own (`-m ziglang`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZigCommand {
    pub program: PathBuf,
    pub prefix: Vec<OsString>,
}

impl ZigCommand {
    /// As a shell command line, each word single-quoted.
    pub fn shell_words(&self) -> String {
        std::iter::once(self.program.as_os_str())
            .chain(self.prefix.iter().map(OsString::as_os_str))
            .map(|w| shell_quote(&w.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// What people call it: `zig` or `python3 -m ziglang`.
    pub fn describe(&self) -> String {
        let mut s = self.program.display().to_string();
        for p in &self.prefix {
            s.push(' ');
            s.push_str(&p.to_string_lossy());
        }
        s
    }
}

/// Quotes one word for `sh`.
pub fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// One look at the machine's programs.
#[derive(Debug)]
pub struct Tools {
    /// The Rust host triple (`rustc -vV`), which links with the system `cc`.
    pub host: String,
    path: Vec<PathBuf>,
    /// A zig this tool provisioned into its cache, used when no other zig is here.
    provisioned_zig: Option<PathBuf>,
    zig: OnceLock<Option<ZigCommand>>,
    /// The run's environment: the variables a route reads (`CC_<target>`, linkers, …).
    env: Environment,
}

impl Tools {
    /// Looks at `PATH`; the host triple is `host` (the plan's toolchain knows it), else asked of
    /// `rustc -vV`.
    pub fn detect(host: Option<&str>, env: &Environment) -> Tools {
        let host = host
            .map(str::to_string)
            .or_else(|| host_triple(env))
            .unwrap_or_else(|| default_host().to_string());
        Tools {
            env: env.clone(),
            ..Tools::with_path(host, env.search_path())
        }
    }

    /// Tools found on exactly these directories, in an empty environment (for tests).
    pub fn with_path(host: String, path: Vec<PathBuf>) -> Tools {
        Tools {
            host,
            path,
            provisioned_zig: None,
            zig: OnceLock::new(),
            env: Environment::empty(),
        }
    }

    /// The run's environment.
    pub fn env(&self) -> &Environment {
        &self.env
    }

    /// These tools, with `zig` (one the build stage provisioned into the cache) as the last
    /// choice for zig, after `$CARGO_ZIGBUILD_ZIG_PATH`, a `zig` on the path and Python's.
    pub fn with_provisioned_zig(self, zig: Option<PathBuf>) -> Tools {
        Tools {
            provisioned_zig: zig,
            zig: OnceLock::new(),
            ..self
        }
    }

    /// The first executable file named `name` on the path.
    pub fn which(&self, name: &str) -> Option<PathBuf> {
        self.path
            .iter()
            .map(|d| d.join(name))
            .find(|p| is_executable(p))
    }

    /// zig, when it is here: `$CARGO_ZIGBUILD_ZIG_PATH` (cargo-zigbuild's own setting), a `zig`
    /// on the path, `python3 -m ziglang` (`pip install ziglang`), or the zig this tool provisioned
    /// into its cache ([`Tools::with_provisioned_zig`]). Probed once.
    pub fn zig(&self) -> Option<&ZigCommand> {
        self.zig
            .get_or_init(|| {
                if let Some(p) = self.env.path("CARGO_ZIGBUILD_ZIG_PATH") {
                    return Some(ZigCommand {
                        program: p,
                        prefix: Vec::new(),
                    });
                }
                if let Some(zig) = self.which("zig") {
                    return Some(ZigCommand {
                        program: zig,
                        prefix: Vec::new(),
                    });
                }
                if let Some(python) = self.which("python3") {
                    let cmd = ZigCommand {
                        program: python,
                        prefix: vec!["-m".into(), "ziglang".into()],
                    };
                    if zig_version(&cmd).is_some() {
                        return Some(cmd);
                    }
                }
                self.provisioned_zig
                    .as_ref()
                    .filter(|p| is_executable(p))
                    .map(|p| ZigCommand {
                        program: p.clone(),
                        prefix: Vec::new(),
                    })
            })
            .as_ref()
    }

    pub fn zigbuild(&self) -> Option<PathBuf> {
        self.which("cargo-zigbuild")
    }

    pub fn cross(&self) -> Option<PathBuf> {
        self.which("cross")
    }
}

/// `zig version`, when zig answers within 20 seconds.
pub fn zig_version(zig: &ZigCommand) -> Option<String> {
    let mut cmd = Command::new(&zig.program);
    cmd.args(&zig.prefix).arg("version");
    let out = output_within(&mut cmd, Duration::from_secs(20))?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs `cmd` (stdin closed) and returns its output, or `None` when it cannot start or runs
/// longer than `limit` (it is then killed).
pub fn output_within(cmd: &mut Command, limit: Duration) -> Option<std::process::Output> {
    let what = format!("`{}`", cmd.get_program().to_string_lossy());
    crate::util::process::run(cmd, limit, &what).ok()
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn host_triple(env: &Environment) -> Option<String> {
    let rustc = env.path("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = output_within(Command::new(rustc).arg("-vV"), Duration::from_secs(30))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|h| h.trim().to_string())
}

fn default_host() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "aarch64-unknown-linux-gnu",
        _ => "x86_64-unknown-linux-gnu",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_finds_only_executables() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("aarch64-linux-gnu-gcc");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.path().join("plain"), "").unwrap();
        let tools = Tools::with_path("x86_64-unknown-linux-gnu".into(), vec![dir.path().into()]);
        assert_eq!(tools.which("aarch64-linux-gnu-gcc"), Some(exe));
        assert_eq!(tools.which("plain"), None);
        assert_eq!(tools.which("missing"), None);
    }

    #[test]
    fn a_provisioned_zig_is_the_last_choice() {
        let exe = |dir: &Path| {
            let p = dir.join("zig");
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
            p
        };
        let (on_path, cached) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let cached_zig = exe(cached.path());
        let host = "x86_64-unknown-linux-gnu".to_string();
        let only_cache = Tools::with_path(host.clone(), vec![on_path.path().into()])
            .with_provisioned_zig(Some(cached_zig.clone()));
        assert_eq!(only_cache.zig().map(|z| &z.program), Some(&cached_zig));
        let path_zig = exe(on_path.path());
        let both = Tools::with_path(host.clone(), vec![on_path.path().into()])
            .with_provisioned_zig(Some(cached_zig));
        assert_eq!(both.zig().map(|z| &z.program), Some(&path_zig));
        let missing =
            Tools::with_path(host, vec![]).with_provisioned_zig(Some(cached.path().join("absent")));
        assert_eq!(missing.zig(), None);
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        let z = ZigCommand {
            program: "/usr/bin/python3".into(),
            prefix: vec!["-m".into(), "ziglang".into()],
        };
        assert_eq!(z.shell_words(), "'/usr/bin/python3' '-m' 'ziglang'");
        assert_eq!(z.describe(), "/usr/bin/python3 -m ziglang");
    }
}
