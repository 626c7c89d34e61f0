//! qemu through binfmt_misc, so containers of foreign architectures run: mounts binfmt_misc
//! when it is not mounted and registers qemu-user-static's own `binfmt.d` entry when it is not
//! registered (both idempotent; other test binaries may do the same at the same time). The
//! entry's `F` flag makes the kernel open the interpreter now, so it works inside containers.
//! Registrations are left in place: they are machine state other processes may rely on.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::processes::output_within;

const BINFMT: &str = "/proc/sys/fs/binfmt_misc";

/// Makes `qemu-<arch>` (`aarch64`) run foreign binaries, or panics saying why it cannot.
pub fn register_qemu(arch: &str) {
    super::require(&format!("qemu-{arch}-static"));
    let register = Path::new(BINFMT).join("register");
    if !register.exists() {
        let out = output_within(
            Command::new("mount").args(["-t", "binfmt_misc", "binfmt_misc", BINFMT]),
            Duration::from_secs(30),
        );
        // Another test binary may mount it at the same moment: then `register` is there.
        assert!(
            out.status.success() || register.exists(),
            "cannot mount binfmt_misc (the tests run as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let entry = Path::new(BINFMT).join(format!("qemu-{arch}"));
    if entry.exists() {
        return;
    }
    let conf = ["/usr/lib/binfmt.d", "/lib/binfmt.d"]
        .iter()
        .map(|d| Path::new(d).join(format!("qemu-{arch}.conf")))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("qemu-user-static's qemu-{arch}.conf is missing: run scripts/test.sh")
        });
    let line = std::fs::read_to_string(&conf).unwrap();
    let line = line
        .lines()
        .find(|l| l.starts_with(':'))
        .expect("a binfmt.d entry line");
    // A concurrent registration makes this write fail with EEXIST ("File exists"); the entry
    // is what counts.
    let written = std::fs::write(&register, line);
    assert!(
        entry.exists(),
        "registering qemu-{arch} with binfmt_misc failed: {written:?}"
    );
}
