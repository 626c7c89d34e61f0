//! Base images made from this machine's own files, pushed to a test registry with buildah: a
//! glibc base is the host's loader and C libraries (or a cross package's, for another
//! architecture), copied into a `scratch` container and committed as one OCI image.

use std::path::Path;
use std::process::Command;

use super::registry::Registry;
use super::{require, run_ok, stdout};

/// Pushes a one-platform `linux/<arch>` image holding `files` (`(file on this machine, path in
/// the image)`; symlinks on this machine are copied as the files they name) as
/// `REGISTRY/<repo>:1`, and returns that reference.
pub fn push_files_base(reg: &Registry, arch: &str, files: &[(&Path, &str)], repo: &str) -> String {
    let work = tempfile::tempdir().unwrap();
    let buildah = |args: &[&str]| -> String {
        let out = run_ok(
            Command::new(require("buildah"))
                .env("BUILDAH_ISOLATION", "chroot")
                .arg("--root")
                .arg(work.path().join("root"))
                .arg("--runroot")
                .arg(work.path().join("run"))
                .args(["--storage-driver", "vfs"])
                .args(args),
        );
        stdout(&out).trim().to_string()
    };
    let c = buildah(&["from", "--arch", arch, "--os", "linux", "scratch"]);
    for (from, to) in files {
        let real = std::fs::canonicalize(from)
            .unwrap_or_else(|e| panic!("{} for the base: {e}", from.display()));
        buildah(&["copy", &c, real.to_str().unwrap(), to]);
    }
    let reference = format!("{}/{repo}:1", reg.addr);
    buildah(&[
        "commit",
        "-q",
        "--format",
        "oci",
        "--tls-verify=false",
        &c,
        &format!("docker://{reference}"),
    ]);
    reference
}

/// The libraries a Rust gnu binary links (the C library and its split-off parts, libgcc_s),
/// as Debian names them.
pub const GLIBC_LIBRARIES: &[&str] = &[
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libutil.so.1",
    "libgcc_s.so.1",
];
