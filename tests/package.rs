//! What `cargo publish` would upload, checked (fast tier: cargo alone, offline): the file list
//! holds the sources, the templates `init` writes and the README, and none of the local
//! artefacts (fixture build output, the zig wheel cache, target directories); the packed
//! `.crate` stays under 1 MiB. scripts/test.sh also runs `cargo package --locked` with its
//! verifying build.

use std::path::{Path, PathBuf};
use std::process::Command;

const LIMIT: u64 = 1024 * 1024;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cargo_package(args: &[&str], target: &Path) -> String {
    let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(root())
        .args([
            "package",
            "--locked",
            "--allow-dirty",
            "--offline",
            "--quiet",
        ])
        .args(args)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .expect("running cargo package");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cargo package {args:?} failed:\n{stderr}"
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every file under `dir` (relative to the root, `/`-separated).
fn files_under(dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root().join(dir)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root()).unwrap();
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out
}

#[test]
fn the_published_crate_holds_what_users_need_and_no_artefacts() {
    let target = tempfile::tempdir().unwrap();
    let list = cargo_package(&["--list"], target.path());
    let listed: Vec<&str> = list.lines().collect();

    for needed in [
        "Cargo.toml",
        "Cargo.lock",
        "README.md",
        "LICENSE-MIT",
        "LICENSE-APACHE",
        "src/lib.rs",
    ] {
        assert!(
            listed.contains(&needed),
            "{needed} is not packaged:\n{list}"
        );
    }
    // What the code includes at compile time, and init's templates, all of them.
    let mut wanted = files_under("templates");
    wanted.extend(
        files_under("src")
            .into_iter()
            .filter(|f| f.ends_with(".rs")),
    );
    assert!(wanted.iter().any(|f| f.starts_with("templates/ci/")));
    for f in &wanted {
        assert!(listed.contains(&f.as_str()), "{f} is not packaged:\n{list}");
    }
    for f in &listed {
        let artefact = f.contains("target/")
            || f.starts_with("tests/.cache")
            || f.ends_with(".whl")
            || f.starts_with(".github/")
            || (f.starts_with("tests/fixtures/") && !f.starts_with("tests/fixtures/golden/"));
        assert!(!artefact, "{f} should not be published:\n{list}");
        // Files cargo writes itself (Cargo.toml, .cargo_vcs_info.json) are small too.
        if let Ok(meta) = std::fs::metadata(root().join(f)) {
            assert!(meta.len() < 256 * 1024, "{f} is {} bytes", meta.len());
        }
    }

    // The .crate itself, packed without the verifying build (scripts/test.sh runs that).
    cargo_package(&["--no-verify"], target.path());
    let name = format!(
        "{}-{}.crate",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION")
    );
    let size = std::fs::metadata(target.path().join("package").join(&name))
        .unwrap()
        .len();
    assert!(size < LIMIT, "{name} is {size} bytes, over 1 MiB");
}
