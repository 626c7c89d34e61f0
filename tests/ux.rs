//! What a user sees: cargo's warnings once (with `-v`) or counted (without), never repeated per
//! target; counts that say what they count; the summary table; `-q` printing only results; and
//! `--message-format json`, whose lines parse one by one and whose results match what the
//! registry holds.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// A one-binary workspace at a fixed path (so cargo's cache holds across runs), with `main`
/// as its source. Files are rewritten only when they change.
fn tiny_workspace(name: &str, main: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ux").join(name);
    let files = [
        (
            "Cargo.toml",
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
                 [package.metadata.imagebuild]\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\n"
            ),
        ),
        ("src/main.rs", main.to_string()),
    ];
    for (path, text) in files {
        let p = dir.join(path);
        if std::fs::read_to_string(&p).ok().as_deref() != Some(text.as_str()) {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
        }
    }
    dir
}

fn in_workspace(dir: &Path) -> Command {
    let mut c = imagebuild_in(dir);
    c.env("CARGO_TARGET_DIR", dir.join("target"));
    c
}

const WARNS: &str = "fn main() {\n    let unused = 1;\n    println!(\"hi\");\n}\n";

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn warnings_once_summary_table_and_quiet() {
    let ws = tiny_workspace("warns", WARNS);
    // Plain progress: status lines with "[n/of]", cargo's warning counted but not shown.
    let out = run_ok(in_workspace(&ws).args(["--progress", "plain"]));
    let err = stderr_of(&out);
    assert!(
        err.contains("Compiling [1/2] warns for x86_64-unknown-linux-musl"),
        "{err}"
    );
    assert!(
        err.contains("Compiling [2/2] warns for aarch64-unknown-linux-musl"),
        "{err}"
    );
    assert!(!err.contains("unused variable"), "{err}");
    assert!(
        err.contains("cargo reported 1 warning; run with -v"),
        "{err}"
    );
    assert!(!err.contains('\x1b'), "plain output has no colors: {err:?}");
    // The summary table: a header, the index and both platforms, the time per stage.
    let header = err.lines().find(|l| l.starts_with("BINARY")).expect(&err);
    for col in ["PLATFORM", "SIZE", "DIGEST", "DESTINATION"] {
        assert!(header.contains(col), "{header}");
    }
    let printed = parse_digests(&stdout(&out));
    for (platform, digest) in &printed[0].2 {
        let row = err
            .lines()
            .find(|l| l.contains(platform.as_str()) && l.contains(digest.as_str()))
            .unwrap_or_else(|| panic!("no row for {platform} {digest}:\n{err}"));
        assert!(row.contains(" kB") || row.contains(" MB"), "{row}");
    }
    assert!(err.contains("time: compile "), "{err}");

    // -v: the warning, once, though two targets report it.
    let err = stderr_of(&run_ok(in_workspace(&ws).arg("-v")));
    assert_eq!(err.matches("unused variable: `unused`").count(), 1, "{err}");
    assert!(!err.contains("generated 1 warning"), "{err}");

    // A no-op re-run says that nothing was packed, and what was reused.
    let err = stderr_of(&run_ok(&mut in_workspace(&ws)));
    assert!(err.contains("packed nothing, 3 layers reused"), "{err}");

    // -q on a no-op re-run: only the results, on stdout.
    let out = run_ok(in_workspace(&ws).arg("-q"));
    assert_eq!(stderr_of(&out), "");
    assert_eq!(parse_digests(&stdout(&out)), printed);
}

#[test]
fn a_failed_build_shows_cargos_errors_once_in_full() {
    let ws = tiny_workspace("broken", "fn main() -> u32 { \"x\" }\n");
    let err = run_err(in_workspace(&ws).arg("-q"));
    assert_eq!(
        err.matches("error[E0308]: mismatched types").count(),
        1,
        "{err}"
    );
    assert!(
        err.contains("cargo build for x86_64-unknown-linux-musl failed"),
        "{err}"
    );
}
