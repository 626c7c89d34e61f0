//! What the binary prints: the summary table of a build, the `--message-format json` result of
//! each binary, the `sbom` listing, the `doctor` report and the `platforms` table. The library
//! returns data; this file decides how it reads.

use std::fmt::Write as _;

use cargo_imagebuild::commands::doctor::{self, Check, Status};
use cargo_imagebuild::commands::sbom::Attached;
use cargo_imagebuild::{Built, Outcome, StageTimes};

/// Rows as a plain table: each column as wide as its widest cell, two spaces between columns,
/// no trailing spaces; one line per row.
pub fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// `3.9 MB`, `512 B`: decimal units, as registries and docker show sizes.
pub fn human_size(n: u64) -> String {
    let f = n as f64;
    if f >= 1e9 {
        format!("{:.1} GB", f / 1e9)
    } else if f >= 1e6 {
        format!("{:.1} MB", f / 1e6)
    } else if f >= 1e3 {
        format!("{:.1} kB", f / 1e3)
    } else {
        format!("{n} B")
    }
}

/// Where a report says the images went, short enough for a table column: a push's
/// `REPO@DIGEST (counts)` becomes `REPO` (the digest has its own column).
fn short_destination(d: &str) -> String {
    let d = d.split(" (").next().unwrap_or(d);
    d.split('@').next().unwrap_or(d).to_string()
}

/// The summary table for people: one row per binary and platform (size, manifest digest, where
/// it went), each binary's index digest, then the time per stage.
pub fn summary(outcome: &Outcome, times: &StageTimes, total: std::time::Duration) -> String {
    let mut rows = vec![[
        "BINARY".to_string(),
        "PLATFORM".into(),
        "SIZE".into(),
        "DIGEST".into(),
        "DESTINATION".into(),
    ]];
    for b in &outcome.images {
        let dest: Vec<String> = b.destinations().map(short_destination).collect();
        rows.push([
            b.name().to_string(),
            "(index)".into(),
            String::new(),
            b.index_digest().to_string(),
            dest.join(", "),
        ]);
        for img in b.images() {
            rows.push([
                String::new(),
                img.platform.to_string(),
                human_size(img.image_size),
                img.digest.clone(),
                String::new(),
            ]);
        }
    }
    let mut out = table(&rows);
    let mut line = times.line();
    if !line.is_empty() {
        line.push_str(", ");
    }
    let _ = writeln!(
        out,
        "time: {line}total {:.1}s; {}",
        total.as_secs_f64(),
        times.packed_counts()
    );
    out
}

/// The `--message-format json` result of one binary: its references, the index and manifest
/// digests and sizes, and where it went.
pub fn result_json(b: &Built, pushed: bool) -> serde_json::Value {
    let manifests: Vec<serde_json::Value> = b
        .images()
        .map(|img| {
            serde_json::json!({
                "platform": img.platform.to_string(),
                "target": img.target,
                "digest": img.digest,
                "size": img.size,
                "image_size": img.image_size,
            })
        })
        .collect();
    serde_json::json!({
        "reason": "image-result",
        "bin": b.name(),
        "repository": b.repository(),
        "reference": if pushed { Some(b.reference()) } else { None },
        "tags": b.tag_references(),
        "index_digest": b.index_digest(),
        "index_size": b.index_size(),
        "manifests": manifests,
        "outputs": b.destinations().collect::<Vec<_>>(),
    })
}

/// The listing `cargo imagebuild sbom` prints: each image's name, its platforms' manifests, and
/// under each one line per attached document (type, artifact digest, size).
pub fn attached(found: &[Attached]) -> String {
    let mut s = String::new();
    for image in found {
        let _ = writeln!(s, "{}", image.name);
        for a in &image.platforms {
            let _ = writeln!(s, "  {} {}", a.platform, a.manifest);
            if a.documents.is_empty() {
                s.push_str("    (nothing attached)\n");
            }
            for d in &a.documents {
                let _ = writeln!(
                    s,
                    "    {} {} ({} bytes)",
                    d.artifact_type,
                    d.artifact,
                    d.document.len()
                );
            }
        }
    }
    s
}

/// The doctor report as a table: check, status, detail (with the fix).
pub fn checks(checks: &[Check]) -> String {
    let width = checks
        .iter()
        .map(|c| c.what.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let mut out = format!("{:<width$}  {:<8}  {}\n", "check", "status", "detail / fix");
    for c in checks {
        let status = match c.status {
            Status::Ok => "ok",
            Status::Missing => "MISSING",
            Status::Installable => "add",
            Status::Optional => "optional",
            _ => "?",
        };
        let _ = writeln!(out, "{:<width$}  {status:<8}  {}", c.what, c.detail);
    }
    out
}

/// The "To fix:" block (what `--fix` runs), then the optional fixes, which it does not run.
pub fn fixes(checks: &[Check]) -> String {
    let mut out = String::new();
    let needed = doctor::fix_steps(checks);
    if !needed.is_empty() {
        out.push_str("\nTo fix (or run `cargo imagebuild doctor --fix`):\n");
        for s in &needed {
            let _ = writeln!(out, "  {}", s.display());
        }
    }
    let optional = doctor::group_fixes(checks, |s| s == Status::Optional);
    if !optional.is_empty() {
        out.push_str("\nOptional (only some builds need these; --fix leaves them out):\n");
        for s in &optional {
            let _ = writeln!(out, "  {}", s.display());
        }
    }
    out
}

/// The `platforms` table: platform, target, route here, what is missing.
pub fn platforms(rows: &[cargo_imagebuild::commands::platforms::Row]) -> String {
    let mut cells = vec![[
        "PLATFORM".to_string(),
        "TARGET".into(),
        "ROUTE HERE".into(),
        "MISSING".into(),
    ]];
    for r in rows {
        cells.push([
            r.platform.clone(),
            r.target.clone().unwrap_or_else(|| "-".into()),
            r.route.clone().unwrap_or_else(|| "-".into()),
            if r.missing.is_empty() {
                "nothing".to_string()
            } else {
                r.missing.join("; ")
            },
        ]);
    }
    table(&cells)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cargo_imagebuild::commands::doctor::{Fix, Step};

    fn row(what: &str, status: Status, detail: &str) -> Check {
        Check::new(what, status, detail)
    }

    #[test]
    fn renders_a_table_and_counts_missing_rows() {
        let rows = vec![
            row(
                "linux/riscv64 linker",
                Status::Missing,
                "fix: apt-get install gcc-riscv64-linux-gnu",
            ),
            row("zig", Status::Optional, "not found"),
            row("rust", Status::Ok, "sysroot /x"),
        ];
        let t = checks(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("check "), "{t}");
        assert!(
            lines[1].starts_with("linux/riscv64 linker  MISSING   fix: apt-get"),
            "{t}"
        );
        assert!(
            lines[2].starts_with("zig                   optional  not found"),
            "{t}"
        );
        assert!(
            lines[3].starts_with("rust                  ok        sysroot"),
            "{t}"
        );
        assert_eq!(doctor::missing(&rows), 1);
    }

    fn apt(what: &str, status: Status, packages: &[&str]) -> Check {
        row(what, status, "").with_fix(Some(Fix::Apt(
            packages.iter().map(|p| p.to_string()).collect(),
        )))
    }

    const PIP_ZIG: &str = doctor::PIP_ZIG;
    const CARGO_ZIGBUILD: &str = doctor::CARGO_ZIGBUILD;

    #[test]
    fn several_missing_rows_make_one_apt_line_and_one_rustup_line() {
        let rows = vec![
            apt(
                "linux/riscv64 linker",
                Status::Missing,
                &["gcc-riscv64-linux-gnu", "libc6-dev-riscv64-cross"],
            ),
            apt(
                "linux/s390x linker",
                Status::Missing,
                &["gcc-s390x-linux-gnu", "libc6-dev-s390x-cross"],
            ),
            // Two platforms of one toolchain: its packages once.
            apt(
                "linux/arm/v7 linker",
                Status::Missing,
                &["gcc-arm-linux-gnueabihf", "libc6-dev-armhf-cross"],
            ),
            apt(
                "linux/arm/v6 linker",
                Status::Missing,
                &["gcc-arm-linux-gnueabihf", "libc6-dev-armhf-cross"],
            ),
            row("linux/386 std", Status::Installable, "")
                .with_fix(Some(Fix::RustupTarget("i686-unknown-linux-gnu".into()))),
            row("linux/s390x std", Status::Installable, "")
                .with_fix(Some(Fix::RustupTarget("s390x-unknown-linux-gnu".into()))),
            row("linux/arm64 C compiler", Status::Missing, "")
                .with_fix(Some(Fix::Shell(PIP_ZIG.into()))),
            row("linux/amd64 C compiler", Status::Missing, "")
                .with_fix(Some(Fix::Shell(PIP_ZIG.into()))),
            // Optional: never in what --fix runs.
            apt("loader", Status::Optional, &["podman"]),
            row("cargo-zigbuild", Status::Optional, "")
                .with_fix(Some(Fix::Shell(CARGO_ZIGBUILD.into()))),
        ];
        let steps = doctor::fix_steps(&rows);
        assert_eq!(
            steps,
            [
                Step::Rustup(vec![
                    "i686-unknown-linux-gnu".into(),
                    "s390x-unknown-linux-gnu".into()
                ]),
                Step::Apt(
                    [
                        "gcc-arm-linux-gnueabihf",
                        "gcc-riscv64-linux-gnu",
                        "gcc-s390x-linux-gnu",
                        "libc6-dev-armhf-cross",
                        "libc6-dev-riscv64-cross",
                        "libc6-dev-s390x-cross",
                    ]
                    .map(String::from)
                    .to_vec()
                ),
                Step::Shell(PIP_ZIG.into()),
            ]
        );
        let text = fixes(&rows);
        let sudo = if doctor::is_root() { "" } else { "sudo " };
        assert!(
            text.contains(&format!("\n  {sudo}apt-get install -y gcc-arm-linux-gnueabihf gcc-riscv64-linux-gnu gcc-s390x-linux-gnu libc6-dev-armhf-cross libc6-dev-riscv64-cross libc6-dev-s390x-cross\n")),
            "{text}"
        );
        let to_fix = text.split("Optional").next().unwrap();
        assert_eq!(to_fix.matches("apt-get install").count(), 1, "{text}");
        assert_eq!(to_fix.matches("rustup target add").count(), 1, "{text}");
        assert_eq!(to_fix.matches(PIP_ZIG).count(), 1, "{text}");
        assert!(
            !to_fix.contains("podman") && !to_fix.contains("cargo-zigbuild"),
            "{text}"
        );
        let optional = text.split("Optional").nth(1).unwrap();
        assert!(
            optional.contains("apt-get install -y podman") && optional.contains(CARGO_ZIGBUILD),
            "{text}"
        );
    }

    #[test]
    fn optional_rows_and_installable_std_do_not_fail_the_run() {
        let mut rows = vec![
            row("linux/386 std", Status::Installable, "")
                .with_fix(Some(Fix::RustupTarget("i686-unknown-linux-gnu".into()))),
            apt("loader", Status::Optional, &["podman"]),
            row("zig", Status::Optional, "").with_fix(Some(Fix::Shell(PIP_ZIG.into()))),
            row("credentials", Status::Optional, ""),
            row("rust", Status::Ok, ""),
        ];
        assert_eq!(doctor::missing(&rows), 0);
        rows.push(apt(
            "linux/riscv64 linker",
            Status::Missing,
            &["gcc-riscv64-linux-gnu"],
        ));
        assert_eq!(doctor::missing(&rows), 1);
        // Nothing needed and nothing optional: no fix block at all.
        assert_eq!(fixes(&[row("rust", Status::Ok, "")]), "");
    }

    #[test]
    fn tables_pad_columns() {
        let t = table(&[
            ["a".to_string(), "bb".into()],
            ["ccc".to_string(), "d".into()],
        ]);
        assert_eq!(t, "a    bb\nccc  d\n");
        assert_eq!(human_size(3_900_000), "3.9 MB");
    }
}
