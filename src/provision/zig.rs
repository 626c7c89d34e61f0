//! zig on demand: when a route needs zig (the C compiler of musl targets, `cargo zigbuild`) and
//! none is installed, the pinned PyPI `ziglang` wheel of this machine's architecture is
//! downloaded, checked against the sha256 pinned here, and unpacked into
//! `<cache>/zig/<version>/` (the cache of [`cache_dir`]), once for every project. Nothing is
//! downloaded with `--offline` or `CARGO_NET_OFFLINE=true`: the error names the manual command.
//!
//! The download goes to a temporary file and the unpacking to a temporary directory renamed into
//! place, so a failed, refused or killed run leaves no half zig behind. `$CARGO_IMAGEBUILD_ZIG_MIRROR`
//! replaces PyPI's file host (the wheel is fetched as `<mirror>/<wheel file name>`); the sha256
//! check applies to every source.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::provision::cache::cache_dir;
use crate::util::atomic::AtomicFile;
use crate::util::digest::HashingWriter;
use crate::util::env::Environment;
use crate::util::report::Reporter;

pub use crate::plan::toolchain::ZIG_VERSION;

/// Replaces `https://files.pythonhosted.org/…/`: the wheel is fetched as `<mirror>/<file name>`.
pub const ENV_MIRROR: &str = "CARGO_IMAGEBUILD_ZIG_MIRROR";

/// One pinned wheel: PyPI's file, where it is, and its sha256.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wheel {
    /// `std::env::consts::ARCH` of the machines it runs on.
    pub arch: &'static str,
    pub file: &'static str,
    pub url: &'static str,
    pub sha256: &'static str,
    pub size: u64,
}

/// The `ziglang==0.17.1` wheels for Linux hosts (from PyPI's simple index).
pub const WHEELS: &[Wheel] = &[
    Wheel {
        arch: "x86_64",
        file: "ziglang-0.17.1-py3-none-manylinux_2_12_x86_64.manylinux2010_x86_64.musllinux_1_1_x86_64.whl",
        url: "https://files.pythonhosted.org/packages/59/e3/2a34676370a11c36b7cd04ffb2439c1089c0530cf4b01408c77cf7f8d9c3/ziglang-0.17.1-py3-none-manylinux_2_12_x86_64.manylinux2010_x86_64.musllinux_1_1_x86_64.whl",
        sha256: "ea6cc5d87b033cf0aedfbc8f9549a908cae6c50ac31f1698188fa48a74524b54",
        size: 101_083_562,
    },
    Wheel {
        arch: "aarch64",
        file: "ziglang-0.17.1-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64.whl",
        url: "https://files.pythonhosted.org/packages/91/72/bb7c4f098ba3e535fa2ebefd9f26327ba63fb0672562959255cb5dd37aff/ziglang-0.17.1-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64.whl",
        sha256: "b7c5f02fccd40f89b999ee16a1f5ddced56e6182370f8affe494bcf8a28cf07e",
        size: 98_063_064,
    },
];

/// The command that installs the pinned zig by hand.
pub fn manual_command() -> String {
    format!("pip install ziglang=={ZIG_VERSION}")
}

/// The wheel for this machine, if one is pinned.
pub fn host_wheel() -> Option<&'static Wheel> {
    WHEELS.iter().find(|w| w.arch == std::env::consts::ARCH)
}

/// Where the provisioned zig lives: `<cache>/zig/<version>`.
pub fn install_dir(env: &Environment) -> Result<PathBuf> {
    Ok(cache_dir(env)?.join("zig").join(ZIG_VERSION))
}

/// The zig executable inside an install directory.
fn executable(dir: &Path) -> PathBuf {
    dir.join("ziglang").join("zig")
}

/// The zig provisioned by an earlier run, when it is there.
pub fn cached(env: &Environment) -> Option<PathBuf> {
    let exe = executable(&install_dir(env).ok()?);
    exe.is_file().then_some(exe)
}

/// `CARGO_NET_OFFLINE` as cargo reads it (`true` or `1`).
pub fn offline_from_env(env: &Environment) -> bool {
    env.var("CARGO_NET_OFFLINE")
        .is_some_and(|v| matches!(v.trim(), "true" | "1"))
}

/// The zig executable: the cached one, or the pinned wheel downloaded, verified and unpacked
/// into the cache first. `offline` refuses the download; `why` says what needs zig.
pub fn provision(offline: bool, why: &str, ui: &Reporter, env: &Environment) -> Result<PathBuf> {
    if let Some(exe) = cached(env) {
        return Ok(exe);
    }
    let fix = format!(
        "{} (or put a `zig` on PATH, or set CARGO_ZIGBUILD_ZIG_PATH)",
        manual_command()
    );
    if offline {
        bail!(
            "zig is needed ({why}) and is not installed, and downloading it is off (--offline or \
             CARGO_NET_OFFLINE): nothing was downloaded.\n  fix: {fix}, or run once online to \
             cache zig {ZIG_VERSION}"
        );
    }
    let Some(wheel) = host_wheel() else {
        bail!(
            "zig is needed ({why}) and is not installed, and no zig download is pinned for {}.\n  \
             fix: {fix}",
            std::env::consts::ARCH
        );
    };
    let dest = install_dir(env)?;
    let parent = dest.parent().expect("<cache>/zig/<version> has a parent");
    std::fs::create_dir_all(parent)
        .with_context(|| format!("creating {} for zig", parent.display()))?;
    let url = match env.var(ENV_MIRROR) {
        Some(m) => format!("{}/{}", m.trim_end_matches('/'), wheel.file),
        None => wheel.url.to_string(),
    };
    ui.status(
        "Downloading",
        &format!(
            "zig {ZIG_VERSION} ({} MB) into {}, once for all projects ({why})",
            wheel.size / 1_000_000,
            dest.display()
        ),
    );
    let mut file = download(&url, wheel, parent)
        .with_context(|| format!("downloading zig {ZIG_VERSION} from {url}\n  fix: {fix}"))?;
    unpack(&mut file, &dest, parent).with_context(|| {
        format!(
            "unpacking zig {ZIG_VERSION} from {url} into {}",
            dest.display()
        )
    })?;
    let exe = executable(&dest);
    if !exe.is_file() {
        bail!("the zig wheel from {url} has no ziglang/zig\n  fix: {fix}");
    }
    Ok(exe)
}

/// Streams `url` into a temporary file in `dir` and checks its size and sha256 against `wheel`;
/// the file is removed on any error.
fn download(url: &str, wheel: &Wheel, dir: &Path) -> Result<std::fs::File> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the download runtime")?;
    let staged = AtomicFile::stage_in(dir, "zig-wheel", None)?;
    let mut out = HashingWriter::new(staged);
    crate::registry::tls_crypto();
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(60))
            .build()?;
        let mut resp = client.get(url).send().await?.error_for_status()?;
        while let Some(chunk) = resp.chunk().await? {
            out.write_all(&chunk)?;
        }
        anyhow::Ok(())
    })?;
    let (staged, digest, len) = out.finish();
    if digest.hex() != wheel.sha256 {
        bail!(
            "refused: the file ({len} bytes) has sha256 {}, not the pinned {} of {}; nothing was \
             kept",
            digest.hex(),
            wheel.sha256,
            wheel.file
        );
    }
    let mut file = staged.into_file()?;
    file.rewind()?;
    Ok(file)
}

/// Unpacks the `ziglang/` tree of the wheel into a temporary directory beside `dest`, then
/// renames it to `dest` (when another run got there first, its copy is kept).
fn unpack<R: Read + Seek>(wheel: &mut R, dest: &Path, parent: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::Builder::new()
        .prefix(".zig-unpack-")
        .tempdir_in(parent)
        .with_context(|| format!("cannot write in {}", parent.display()))?;
    let mut zip = zip::ZipArchive::new(wheel).context("reading the wheel as a zip")?;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i)?;
        let Some(rel) = entry.enclosed_name() else {
            continue;
        };
        if !rel.starts_with("ziglang") {
            continue;
        }
        let path = tmp.path().join(&rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&path)?;
            continue;
        }
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p)?;
        }
        let mut f =
            std::fs::File::create(&path).with_context(|| format!("writing {}", path.display()))?;
        std::io::copy(&mut entry, &mut f).with_context(|| format!("writing {}", path.display()))?;
        let mode = entry.unix_mode().map(|m| m & 0o777).unwrap_or(0o644) | 0o644;
        let mode = if rel == Path::new("ziglang/zig") {
            0o755
        } else {
            mode
        };
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    let staged = tmp.keep();
    if let Err(e) = std::fs::rename(&staged, dest) {
        let _ = std::fs::remove_dir_all(&staged);
        if !executable(dest).is_file() {
            return Err(e).with_context(|| format!("moving zig into {}", dest.display()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pinned_wheel_is_the_pinned_version() {
        for w in WHEELS {
            assert!(
                w.file.starts_with(&format!("ziglang-{ZIG_VERSION}-")),
                "{w:?}"
            );
            assert!(w.url.ends_with(&format!("/{}", w.file)), "{w:?}");
            assert!(w.file.contains(w.arch), "{w:?}");
            assert_eq!(w.sha256.len(), 64);
        }
        assert_eq!(manual_command(), "pip install ziglang==0.17.1");
    }
}
