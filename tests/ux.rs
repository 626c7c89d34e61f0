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
    // target/imagebuild/ holds the image and one hidden directory of internal files.
    let mut entries: Vec<String> = std::fs::read_dir(ws.join("target/imagebuild"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert!(entries.contains(&".work".to_string()), "{entries:?}");
    entries.retain(|e| !e.starts_with('.'));
    assert_eq!(entries, ["warns"]);

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
    // One cargo run builds both targets; the message names them.
    assert!(
        err.contains("cargo build for x86_64-unknown-linux-musl") && err.contains("failed"),
        "{err}"
    );
}

static REGISTRY: std::sync::LazyLock<common::registry::Registry> =
    std::sync::LazyLock::new(|| common::registry::Registry::start(common::registry::Kind::Plain));

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let h = sha2::Sha256::digest(bytes);
    format!(
        "sha256:{}",
        h.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// Each stdout line of a `--message-format json` run, parsed (a line that is not JSON fails).
fn json_lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn json_messages_parse_line_by_line_and_the_result_matches_the_registry() {
    let reg = &*REGISTRY;
    let repo = format!("{}/json/api", reg.addr);
    let api = ["-p", "server", "--bin", "api"];
    // --dry-run: the plan, as one JSON object.
    let out = run_ok(imagebuild().args(api).args([
        "--platform",
        "linux/amd64,linux/arm64",
        "--dry-run",
        "--message-format",
        "json",
    ]));
    let plan = json_lines(&out);
    assert_eq!(plan.len(), 1, "{plan:?}");
    assert_eq!(plan[0]["reason"], "plan");
    assert_eq!(plan[0]["plan"]["images"][0]["bin"], "api");
    assert_eq!(
        plan[0]["plan"]["images"][0]["targets"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let out = run_ok(imagebuild().args(api).args([
        "--platform",
        "linux/amd64,linux/arm64",
        "--push",
        "-t",
        &format!("{repo}:1"),
        "--message-format",
        "json",
    ]));
    let events = json_lines(&out);
    let reasons: Vec<&str> = events
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.first(), Some(&"plan"), "{reasons:?}");
    assert_eq!(reasons.last(), Some(&"image-result"), "{reasons:?}");
    for (reason, n) in [
        ("compile-started", 2),
        ("compile-finished", 2),
        ("image-written", 1),
        ("image-result", 1),
    ] {
        assert_eq!(
            reasons.iter().filter(|r| **r == reason).count(),
            n,
            "{reasons:?}"
        );
    }
    // Every layer and config of two images reached the registry: at least 3 layers, 2 configs.
    let blobs: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["reason"] == "blob-uploaded")
        .collect();
    assert!(blobs.len() >= 5, "{blobs:?}");
    assert!(events.iter().any(|e| e["reason"] == "layer-packed"));

    // The result names what the registry holds, by skopeo's reading.
    let result = events.last().unwrap();
    let raw = Command::new(require("skopeo"))
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{repo}:1"))
        .output()
        .unwrap();
    assert!(raw.status.success());
    assert_eq!(result["index_digest"], sha256_hex(&raw.stdout));
    assert_eq!(result["index_size"], raw.stdout.len());
    assert_eq!(
        result["reference"],
        format!("{repo}@{}", sha256_hex(&raw.stdout))
    );
    assert_eq!(result["tags"][0], format!("{repo}:1"));
    let index: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    let listed: Vec<(String, String)> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                format!("linux/{}", m["platform"]["architecture"].as_str().unwrap()),
                m["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let reported: Vec<(String, String)> = result["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["platform"].as_str().unwrap().to_string(),
                m["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(listed, reported);
    for b in blobs {
        assert!(b["digest"].as_str().unwrap().starts_with("sha256:"));
        assert_eq!(b["repository"], repo);
    }
}

/// The image size and layout of a one-platform-pair build with `--strip strip`.
fn built_with_strip(ws: &Path, strip: &str, dest: &Path) -> Vec<(String, u64)> {
    let out = run_ok(in_workspace(ws).args([
        "--strip",
        strip,
        "--message-format",
        "json",
        "--output",
        &format!("type=oci,dest={}", dest.display()),
    ]));
    let result = json_lines(&out).pop().unwrap();
    result["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["platform"].as_str().unwrap().to_string(),
                m["image_size"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn stripped_images_are_smaller_and_still_run() {
    let ws = tiny_workspace(
        "stripme",
        "fn main() {\n    let v: Vec<String> = std::env::args().collect();\n    \
         println!(\"stripme {} {}\", std::env::consts::ARCH, v.len());\n}\n",
    );
    let work = tempfile::tempdir().unwrap();
    let (full, small) = (work.path().join("full"), work.path().join("small"));
    let unstripped = built_with_strip(&ws, "none", &full);
    let stripped = built_with_strip(&ws, "symbols", &small);
    for ((p, big), (q, little)) in unstripped.iter().zip(&stripped) {
        assert_eq!(p, q);
        assert!(little < big, "{p}: stripped {little} B, unstripped {big} B");
    }
    // Both platforms' stripped binaries run (arm64 under qemu).
    for (arch, runner) in [("amd64", None), ("arm64", Some("qemu-aarch64-static"))] {
        let bundle = unpack_platform(
            &format!("oci:{}:0.1.0", small.display()),
            arch,
            None,
            work.path(),
        );
        let exe = bundle.join("rootfs/usr/local/bin/stripme");
        let out = match runner {
            None => run_ok(&mut Command::new(&exe)),
            Some(r) => run_ok(Command::new(require(r)).arg(&exe)),
        };
        assert!(stdout(&out).starts_with("stripme "), "{}", stdout(&out));
    }
    // The setting is the plan's: the dry run shows it, and a typo is refused with the choices.
    let out = run_ok(in_workspace(&ws).args(["--strip", "debuginfo", "--dry-run"]));
    assert!(
        stdout(&out).contains("strip:      debuginfo"),
        "{}",
        stdout(&out)
    );
    let err = run_err(in_workspace(&ws).args(["--strip", "all"]));
    assert!(err.contains("none, debuginfo or symbols"), "{err}");
}

/// A copy of the tiny `merged` workspace in its own directory, with its own target directory
/// (as on a CI runner of its own).
fn runner_copy(name: &str) -> PathBuf {
    let src = tiny_workspace("merged", "fn main() {\n    println!(\"merged\");\n}\n");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("ux-runners")
        .join(name);
    for f in ["Cargo.toml", "src/main.rs"] {
        let text = std::fs::read(src.join(f)).unwrap();
        if std::fs::read(dir.join(f)).ok() != Some(text.clone()) {
            std::fs::create_dir_all(dir.join(f).parent().unwrap()).unwrap();
            std::fs::write(dir.join(f), text).unwrap();
        }
    }
    dir
}

/// The PUT requests that finished blob uploads to `repo`, by digest.
fn uploaded_digests(reg: &common::registry::Registry, repo: &str) -> Vec<String> {
    reg.requests(repo)
        .into_iter()
        .filter(|r| r.starts_with("PUT ") && r.contains("/blobs/uploads/"))
        .filter_map(|r| {
            let d = r.split("digest=").nth(1)?;
            Some(d.split('&').next()?.replace("%3A", ":"))
        })
        .collect()
}

#[test]
fn merge_of_per_runner_layouts_is_byte_identical_to_one_build() {
    let reg = &*REGISTRY;
    let work = tempfile::tempdir().unwrap();
    let dist = work.path().join("dist");
    // Two runners, each building one platform in its own directory and target directory.
    for (runner, platform) in [("amd64", "linux/amd64"), ("arm64", "linux/arm64")] {
        let ws = runner_copy(runner);
        run_ok(in_workspace(&ws).args([
            "-q",
            "--platform",
            platform,
            "--output",
            &format!("type=oci,dest={}", dist.join(runner).display()),
        ]));
    }
    // One machine building both, for comparison.
    let single = work.path().join("single");
    let out = run_ok(in_workspace(&runner_copy("both")).args([
        "-q",
        "--platform",
        "linux/amd64,linux/arm64",
        "--output",
        &format!("type=oci,dest={}", single.display()),
    ]));
    let single_digest = parse_digests(&stdout(&out))[0].1.clone();

    // Merged into a layout: the same index, byte for byte.
    let merged = work.path().join("merged");
    let out = run_ok(imagebuild_in(work.path()).args([
        "merge",
        dist.join("amd64").to_str().unwrap(),
        dist.join("arm64").to_str().unwrap(),
        "--output",
        &format!("type=oci,dest={}", merged.display()),
    ]));
    let printed = parse_digests(&stdout(&out));
    assert_eq!(printed[0].1, single_digest, "{}", stderr_of(&out));
    let blob = |dir: &Path, d: &str| std::fs::read(dir.join("blobs/sha256").join(&d[7..])).unwrap();
    assert_eq!(blob(&merged, &single_digest), blob(&single, &single_digest));
    validate_layout(&merged);

    // Merged and pushed: the same digest in the registry, and no blob uploaded twice.
    let repo = format!("{}/merge/app", reg.addr);
    let push = |tag: &str| {
        run_ok(imagebuild_in(work.path()).args([
            "merge",
            dist.join("amd64").to_str().unwrap(),
            dist.join("arm64").to_str().unwrap(),
            "--push",
            "-t",
            &format!("{repo}:{tag}"),
        ]))
    };
    let out = push("1");
    assert_eq!(stdout(&out).trim(), format!("{repo}@{single_digest}"));
    let raw = Command::new(require("skopeo"))
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{repo}:1"))
        .output()
        .unwrap();
    assert_eq!(sha256_hex(&raw.stdout), single_digest);
    let first = uploaded_digests(reg, "merge/app");
    let mut distinct = first.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        first.len(),
        distinct.len(),
        "a blob went up twice: {first:?}"
    );
    assert!(
        first.len() >= 5,
        "layers and configs of two images: {first:?}"
    );
    // Again, under another tag: the registry has every blob, nothing is uploaded.
    push("2");
    assert_eq!(uploaded_digests(reg, "merge/app"), first);

    // A platform given twice is refused, naming it.
    let err = run_err(imagebuild_in(work.path()).args([
        "merge",
        dist.join("amd64").to_str().unwrap(),
        dist.join("amd64").to_str().unwrap(),
        "--output",
        "type=oci,dest=x",
    ]));
    assert!(err.contains("linux/amd64 appears twice"), "{err}");
}

#[test]
fn environment_variables_fill_the_per_pipeline_flags_and_help_lists_them() {
    let mut c = imagebuild();
    c.args(["-p", "server", "--bin", "api", "--dry-run"])
        .env("CARGO_IMAGEBUILD_PLATFORMS", "linux/amd64,linux/arm64")
        .env("CARGO_IMAGEBUILD_BASE", "gcr.io/distroless/static-debian12")
        .env(
            "CARGO_IMAGEBUILD_TAGS",
            "ghcr.io/acme/api:1,ghcr.io/acme/api:edge",
        )
        .env("CARGO_IMAGEBUILD_PUSH", "true");
    let plan = stdout(&run_ok(&mut c));
    assert!(plan.contains("linux/arm64"), "{plan}");
    assert!(
        plan.contains("base:       gcr.io/distroless/static-debian12"),
        "{plan}"
    );
    assert!(plan.contains("repository: ghcr.io/acme/api"), "{plan}");
    assert!(plan.contains("tags:       1, edge"), "{plan}");
    assert!(
        plan.contains("output: registry") || plan.contains("output: push"),
        "{plan}"
    );
    // A flag wins over its variable.
    c.args(["--base", "scratch"]);
    let plan = stdout(&run_ok(&mut c));
    assert!(plan.contains("base:       scratch"), "{plan}");
    // CARGO_IMAGEBUILD_PUSH=false pushes nothing.
    let plan = stdout(&run_ok(
        imagebuild()
            .args(["-p", "server", "--bin", "api", "--dry-run"])
            .env("CARGO_IMAGEBUILD_PUSH", "false"),
    ));
    assert!(!plan.contains("registry"), "{plan}");

    let help = stdout(&run_ok(imagebuild().arg("--help")));
    for var in [
        "CARGO_IMAGEBUILD_PLATFORMS",
        "CARGO_IMAGEBUILD_BASE",
        "CARGO_IMAGEBUILD_TAGS",
        "CARGO_IMAGEBUILD_PUSH",
        "CARGO_IMAGEBUILD_REPO",
        "cannot bind ports below 1024",
    ] {
        assert!(help.contains(var), "--help lacks {var}:\n{help}");
    }
}

#[test]
fn init_on_a_new_project_builds_pushes_and_writes_workflows() {
    let reg = &*REGISTRY;
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("hello");
    run_ok(Command::new("cargo").args(["new", "--quiet", "--vcs", "none", app.to_str().unwrap()]));
    let original = std::fs::read_to_string(app.join("Cargo.toml")).unwrap();
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ux/init-target");
    let init = |extra: &[&str]| {
        let mut c = imagebuild_in(&app);
        c.args(["init", "--platform", "linux/amd64,linux/arm64"])
            .args(["--repository", &format!("{}/init/{{bin}}", reg.addr)])
            .args(extra);
        c
    };
    run_ok(&mut init(&["--ci", "github"]));
    let edited = std::fs::read_to_string(app.join("Cargo.toml")).unwrap();
    assert!(edited.starts_with(&original), "{edited}");
    assert!(edited.contains("[package.metadata.imagebuild]"), "{edited}");

    // The project still builds, and its image goes where the section says.
    let out = run_ok(
        imagebuild_in(&app)
            .env("CARGO_TARGET_DIR", &target)
            .args(["-q", "--push"]),
    );
    let pushed = stdout(&out);
    assert!(
        pushed.starts_with(&format!("{}/init/hello@sha256:", reg.addr)),
        "{pushed}"
    );
    let index = reg.skopeo_raw(&format!("{}/init/hello:0.1.0", reg.addr));
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);

    // The GitHub workflow: checks on pull requests, a matrix per platform, then merge.
    let wf = yaml(&app.join(".github/workflows/images.yml"));
    let jobs = &wf["jobs"];
    let runs = |job: &str| -> String {
        jobs[job]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["run"].as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    // Every job installs the release binary with this repository's action, at this version.
    for job in ["check", "build", "merge"] {
        let uses: Vec<&str> = jobs[job]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["uses"].as_str())
            .collect();
        assert!(uses.contains(&action_ref().as_str()), "{job}: {uses:?}");
        assert!(!runs(job).contains("cargo install"), "{job}: {}", runs(job));
    }
    // YAML 1.1 readers (PyYAML) read the key `on` as the boolean true; GitHub reads "on".
    let on = wf.get("on").or(wf.get("true")).expect("an `on` key");
    assert!(on.get("pull_request").is_some(), "{on}");
    assert_eq!(on["push"]["tags"][0], "v*");
    assert!(runs("check").contains("--output type=cacheonly"));
    let matrix = jobs["build"]["strategy"]["matrix"]["include"]
        .as_array()
        .unwrap();
    let platforms: Vec<&str> = matrix
        .iter()
        .map(|m| m["platform"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    assert_eq!(matrix[1]["runner"], "ubuntu-24.04-arm");
    assert!(runs("build").contains("--platform ${{ matrix.platform }}"));
    assert_eq!(jobs["merge"]["needs"], "build");
    assert!(runs("merge").contains("cargo imagebuild merge dist/*/\"$bin\" --push"));

    // A second init refuses, and changes nothing; --force replaces, once.
    let err = run_err(&mut init(&[]));
    assert!(
        err.contains("already has [package.metadata.imagebuild]") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(app.join("Cargo.toml")).unwrap(),
        edited
    );
    let err = run_err(init(&["--force", "--ci", "github"]).args(["--base", "not a ref"]));
    assert!(err.contains("--base"), "{err}");
    run_ok(&mut init(&["--force", "--ci", "gitlab"]));
    let again = std::fs::read_to_string(app.join("Cargo.toml")).unwrap();
    assert_eq!(
        again.matches("[package.metadata.imagebuild]").count(),
        1,
        "{again}"
    );
    let gl = yaml(&app.join(".gitlab-ci.yml"));
    // GitLab runs the same install script, from this version's tag.
    let install = gl[".imagebuild"]["before_script"][0].as_str().unwrap();
    let (repo, version) = action_ref()
        .split_once('@')
        .map(|(r, v)| (r.to_string(), v.to_string()))
        .unwrap();
    assert!(
        install.contains(&format!(
            "githubusercontent.com/{repo}/{version}/scripts/install.sh"
        )) && install.contains(&format!("--version {}", env!("CARGO_PKG_VERSION"))),
        "{install}"
    );
    assert!(gl["images:push"]["script"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s
            .as_str()
            .unwrap()
            .contains("cargo imagebuild --platform linux/amd64,linux/arm64 --push")));
    assert_eq!(
        gl["images:check"]["rules"][0]["if"],
        "$CI_PIPELINE_SOURCE == \"merge_request_event\""
    );
}

#[test]
fn platforms_lists_each_route_here_and_what_is_missing() {
    let table = |extra: &[&str]| {
        let out = run_ok(imagebuild().arg("platforms").args(extra));
        stdout(&out)
    };
    let text = table(&[]);
    let row = |text: &str, platform: &str| -> String {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(platform))
            .unwrap_or_else(|| panic!("no {platform} row:\n{text}"))
            .to_string()
    };
    assert!(text.starts_with("PLATFORM "), "{text}");
    let amd64 = row(&text, "linux/amd64");
    assert!(
        amd64.contains("x86_64-unknown-linux-musl") && amd64.contains("linker rust-lld"),
        "{amd64}"
    );
    assert!(amd64.trim_end().ends_with("nothing"), "{amd64}");
    // gnu platforms link with the Debian cross gcc scripts/test.sh installs.
    let riscv = row(&text, "linux/riscv64");
    assert!(
        riscv.contains("riscv64gc-unknown-linux-gnu") && riscv.contains("riscv64-linux-gnu-gcc"),
        "{riscv}"
    );
    // A linker of the user's, given with --config, is the route.
    let text = table(&["--config", "target.x86_64-unknown-linux-musl.linker=\"cc\""]);
    assert!(
        row(&text, "linux/amd64").contains("linker cc (from --config"),
        "{text}"
    );
}

/// Runs our binary in `dir` on a pseudo-terminal (a detached tmux session of its own, 160x50)
/// and returns the screen and its scrollback once the command has exited.
fn on_terminal(dir: &Path, args: &[&str]) -> String {
    let tmux = require("tmux");
    let work = tempfile::tempdir().unwrap();
    let socket = work.path().join("tmux.sock");
    let done = work.path().join("done");
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let script = format!(
        "cd '{}' && CARGO_TARGET_DIR='{}' NO_COLOR=1 '{}' {} ; echo $? > '{}'; sleep 600",
        dir.display(),
        dir.join("target").display(),
        env!("CARGO_BIN_EXE_cargo-imagebuild"),
        quoted.join(" "),
        done.display()
    );
    let tmux_cmd = || {
        let mut c = Command::new(&tmux);
        c.arg("-S").arg(&socket).env_remove("TMUX");
        c
    };
    run_ok(
        tmux_cmd()
            .args([
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "160",
                "-y",
                "50",
            ])
            .arg(&script),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while !done.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the command did not finish on the terminal"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Let the last frame draw.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let screen = stdout(&run_ok(tmux_cmd().args([
        "capture-pane",
        "-p",
        "-S",
        "-200",
    ])));
    let _ = tmux_cmd().arg("kill-server").status();
    assert_eq!(
        std::fs::read_to_string(&done).unwrap().trim(),
        "0",
        "{screen}"
    );
    screen
}

#[test]
fn a_terminal_shows_live_lines_a_summary_and_warnings_as_asked() {
    let ws = tiny_workspace("onterm", WARNS);
    // Cold: a live line per target, finished with its time; then the summary table.
    let _ = std::fs::remove_dir_all(ws.join("target"));
    let screen = on_terminal(&ws, &[]);
    assert!(
        screen.contains("Compiled")
            && screen.contains("[1/2] onterm for x86_64-unknown-linux-musl"),
        "{screen}"
    );
    assert!(
        screen.contains("[2/2] onterm for aarch64-unknown-linux-musl"),
        "{screen}"
    );
    assert!(
        screen.contains("BINARY") && screen.contains("linux/arm64"),
        "{screen}"
    );
    assert!(screen.contains("cargo reported 1 warning"), "{screen}");
    assert!(!screen.contains("unused variable"), "{screen}");
    // -v on a no-op run: cargo's warning once.
    let screen = on_terminal(&ws, &["-v"]);
    assert_eq!(
        screen.matches("unused variable: `unused`").count(),
        1,
        "{screen}"
    );
    // -q on a no-op run: only the results.
    let screen = on_terminal(&ws, &["-q"]);
    assert!(
        !screen.contains("warning") && !screen.contains("BINARY"),
        "{screen}"
    );
    assert!(screen.contains("onterm sha256:"), "{screen}");
    assert!(screen.contains("  linux/arm64 sha256:"), "{screen}");
}
