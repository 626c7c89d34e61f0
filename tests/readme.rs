//! The README's commands, run: every line of README.md's ```sh blocks (and of its plain ```
//! blocks, where a `$ ` prompt may precede it) that starts with `cargo imagebuild` (after
//! optional `NAME=VALUE` words) is run here, against the fixture workspace, a private registry,
//! the test dockerd and podman, so the documentation cannot drift from the tool. A command that
//! does not parse, is refused, or fails fails this test.
//!
//! The README's commands are written for a user's workspace; they are run with these rewrites,
//! and no others:
//! - `cargo imagebuild` is our binary, with `--manifest-path tests/fixtures/ws/Cargo.toml`, in a
//!   fresh working directory (relative `dest=` files land there), with the shared target dir;
//! - registry hosts that cannot exist here are the test registry: `ghcr.io/acme` and
//!   `registry.example.com` are `127.0.0.1:PORT/…`, and the base
//!   `gcr.io/distroless/static-debian12` is a two-platform image pushed there first;
//! - a push that names no repository gets `CARGO_IMAGEBUILD_REPO=127.0.0.1:PORT/readme` (the
//!   README's user has a `repository` configured);
//! - the README's examples that name one image (a `-t` reference or a `dest=` without `{bin}`)
//!   are written for a workspace whose binary is `api`; the fixture has three (`api`, `migrate`,
//!   `ctl`), so such a command that selects no package or binary gets `--bin api`;
//! - `--load` reaches the test dockerd (`DOCKER_HOST`), and is repeated with `--loader podman`
//!   into the test podman;
//! - a containerd socket (`address=….sock`) is the test containerd's, which `CONTAINERD_ADDRESS`
//!   names too (for `--loader containerd`);
//! - `run` gets `--network none` (the test dockerd has no bridge) before its `--`;
//! - `resolve -f k8s/` gets a `k8s/` holding a Deployment-like file that names `imagebuild://api`;
//! - `cosign.pem` and `cosign.pub` are an ECDSA P-256 key pair that openssl makes once for the
//!   run (as the README's openssl lines do), so a `verify` checks what an earlier push signed;
//!   `cosign.key` is that key encrypted in cosign's format, with `COSIGN_PASSWORD` set for
//!   every command (the format `cosign generate-key-pair` writes);
//!   `verify` runs as it is (it reads no workspace), and `verify oci:DIR` gets its layout
//!   first: the fixture's `api` built into DIR with `--sign-key cosign.pem`;
//! - `init` runs in a fresh `cargo new` project (it edits a Cargo.toml), `platforms` as it is,
//!   and `merge dist/ARCH…` gets its directories first: the fixture's `api` built for
//!   `linux/ARCH` into each.
//!
//! Nothing is skipped: every command the README shows runs in full.

mod common;

use std::path::Path;
use std::process::Command;

use common::containerd::containerd;
use common::dockerd::dockerd;
use common::podman::podman;
use common::registry::{Kind, Registry};
use common::*;

/// The commands of README.md, as written (comments removed).
fn readme_commands() -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let mut out = Vec::new();
    let mut block: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(info) = trimmed.strip_prefix("```") {
            block = match block {
                None => Some(info.trim().to_string()),
                Some(_) => None,
            };
            continue;
        }
        match block.as_deref() {
            Some("sh") | Some("") => {}
            _ => continue,
        }
        let command = trimmed.strip_prefix("$ ").unwrap_or(trimmed);
        let command = match command.find(" #") {
            Some(i) => command[..i].trim_end(),
            None => command,
        };
        let words: Vec<&str> = command.split_whitespace().collect();
        let first = words.iter().position(|w| !is_assignment(w));
        if first.is_some_and(|i| words[i..].starts_with(&["cargo", "imagebuild"])) {
            out.push(command.to_string());
        }
    }
    out
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(k, _)| {
        !k.is_empty() && k.chars().all(|c| c.is_ascii_uppercase() || c == '_')
    })
}

/// Pushes a two-platform image to `reg` to stand in for a registry base; returns its reference.
fn push_base(reg: &Registry, work: &Path) -> String {
    let base = format!("{}/readme-base:1", reg.addr);
    let mut c = imagebuild_in(work);
    c.arg("--manifest-path")
        .arg(fixture().join("Cargo.toml"))
        .args([
            "-p",
            "tools",
            "--platform",
            "linux/amd64,linux/arm64",
            "--push",
        ])
        .args(["-t", &base])
        .env("DOCKER_CONFIG", work.join("no-credentials"));
    run_ok(&mut c);
    base
}

/// The password of the README's `cosign.key`.
const COSIGN_PASSWORD: &str = "readme-password";

/// `dir` holding `cosign.pem` and `cosign.pub`, made by openssl on first use, and `cosign.key`,
/// the same key encrypted in cosign's format with [`COSIGN_PASSWORD`].
fn signing_keys(dir: &Path) -> &Path {
    if !dir.join("cosign.key").is_file() {
        std::fs::create_dir_all(dir).unwrap();
        let (pem, _) = common::keys::keypair(dir, "cosign");
        common::keys::cosign_key(
            &pem,
            &dir.join("cosign.key"),
            COSIGN_PASSWORD,
            "ENCRYPTED SIGSTORE PRIVATE KEY",
        );
    }
    dir
}

/// The fixture's `api` built in `work` into the layout `dest`, with `more` arguments.
fn build_layout(work: &Path, dest: &str, more: &[&str]) {
    let manifest = fixture().join("Cargo.toml");
    run_ok(
        imagebuild_in(work)
            .args(["-q", "--manifest-path", manifest.to_str().unwrap()])
            .args(["--bin", "api", "--output", &format!("type=oci,dest={dest}")])
            .args(more),
    );
}

/// One README command, rewritten as the module says; returns the command to run and the
/// arguments after `cargo imagebuild`.
fn rewrite(command: &str, reg: &Registry, base: &str, work: &Path) -> (Command, Vec<String>) {
    let words: Vec<&str> = command.split_whitespace().collect();
    assert!(
        !command.contains(['"', '\'', '$', '\\', '|', '>', '<', ';', '&']),
        "README command with shell syntax this test does not read: {command}"
    );
    let at = words.iter().position(|w| !is_assignment(w)).unwrap();
    let (env, rest) = words.split_at(at);
    let socket = format!("address={}", containerd().address.display());
    let host = |w: &str| {
        let w = match (w.find("address="), w.find(".sock")) {
            // A containerd socket is the test containerd's.
            (Some(a), Some(e)) if e > a => format!("{}{socket}{}", &w[..a], &w[e + 5..]),
            _ => w.to_string(),
        };
        w.replace("ghcr.io/acme", &format!("{}/acme", reg.addr))
            .replace("registry.example.com", &reg.addr)
            .replace("gcr.io/distroless/static-debian12", base)
    };
    let keys = work.parent().unwrap().join("keys");
    let mut args: Vec<String> = rest[2..]
        .iter()
        .map(|w| match *w {
            "cosign.pem" | "cosign.pub" | "cosign.key" => {
                signing_keys(&keys).join(w).display().to_string()
            }
            w => host(w),
        })
        .collect();
    let sub = args.first().cloned().unwrap_or_default();
    if sub == "resolve" {
        // The README's k8s/ directory, with a reference to the fixture's `api`.
        std::fs::create_dir_all(work.join("k8s")).unwrap();
        std::fs::write(
            work.join("k8s/api.yaml"),
            "spec:\n  containers:\n    - name: api\n      image: imagebuild://api\n",
        )
        .unwrap();
    }
    if ["init", "merge", "platforms", "verify"].contains(&sub.as_str()) {
        let mut c = imagebuild_in(work);
        match sub.as_str() {
            "init" => {
                let app = work.join("app");
                run_ok(Command::new("cargo").args([
                    "new",
                    "--quiet",
                    "--vcs",
                    "none",
                    app.to_str().unwrap(),
                ]));
                c.current_dir(&app);
            }
            "merge" => {
                let mut skip = false;
                for a in &args[1..] {
                    if std::mem::take(&mut skip) || a.starts_with('-') {
                        skip =
                            ["-t", "--tag", "-o", "--output", "--sign-key"].contains(&a.as_str());
                        continue;
                    }
                    let arch = a.rsplit('/').next().unwrap();
                    let platform = format!("linux/{arch}");
                    build_layout(work, a, &["--platform", &platform]);
                }
            }
            "verify" => {
                // `verify oci:DIR` gets its layout first: the fixture's `api`, signed with
                // the README's cosign.pem.
                if let Some(dir) = args.get(1).and_then(|a| a.strip_prefix("oci:")) {
                    let key = signing_keys(&keys).join("cosign.pem");
                    build_layout(work, dir, &["--sign-key", key.to_str().unwrap()]);
                }
            }
            _ => {}
        }
        c.args(&args).env("COSIGN_PASSWORD", COSIGN_PASSWORD);
        return (c, args);
    }
    if sub == "run" {
        // The fixture's workspace and the test dockerd (which has no bridge network), given
        // before the program's arguments.
        let mut c = imagebuild_in(work);
        dockerd().env(&mut c);
        c.env("CARGO_IMAGEBUILD_CACHE", work.join("cache"));
        let manifest = fixture().join("Cargo.toml").display().to_string();
        let at = args.iter().position(|a| a == "--").unwrap_or(args.len());
        args.splice(
            at..at,
            [
                "--manifest-path".to_string(),
                manifest,
                "--network".into(),
                "none".into(),
            ],
        );
        c.args(&args);
        return (c, args);
    }
    let selects = args
        .iter()
        .any(|a| ["-p", "--package", "--bin", "--workspace"].contains(&a.as_str()));
    let names_one = args.windows(2).any(|w| {
        (w[0] == "-t" || w[0] == "--tag") && !w[1].starts_with(':') && !w[1].contains("{bin}")
    }) || args
        .iter()
        .any(|a| a.contains("dest=") && !a.contains("{bin}"));
    if names_one && !selects && args.first().map(String::as_str) != Some("doctor") {
        args.extend(["--bin".to_string(), "api".to_string()]);
    }
    args.push("--manifest-path".into());
    args.push(fixture().join("Cargo.toml").display().to_string());
    let mut c = imagebuild_in(work);
    dockerd().env(&mut c);
    c.env("CARGO_IMAGEBUILD_CACHE", work.join("cache"));
    // `--loader containerd` with no address= reaches the test containerd through ctr's variable.
    c.env("CONTAINERD_ADDRESS", &containerd().address);
    // The README's user has COSIGN_PASSWORD set for their cosign.key.
    c.env("COSIGN_PASSWORD", COSIGN_PASSWORD);
    for e in env {
        let (k, v) = e.split_once('=').unwrap();
        c.env(k, host(v));
    }
    let pushes = args.iter().any(|a| a == "--push")
        || (sub == "resolve" && !args.iter().any(|a| a == "--push=false"));
    let has_repo = !env.is_empty()
        || args
            .windows(2)
            .any(|w| w[0] == "--repository" || ((w[0] == "-t") && !w[1].starts_with(':')));
    if pushes && !has_repo {
        c.env("CARGO_IMAGEBUILD_REPO", format!("{}/readme", reg.addr));
    }
    c.args(&args);
    (c, args)
}

/// Every README command runs; `-t api:dev --load` (and `-t api:arm`) then shows in `docker
/// image ls` and in podman; pushes print their references.
#[test]
fn every_readme_command_runs() {
    let commands = readme_commands();
    assert!(
        commands.len() >= 15,
        "too few commands found: {commands:#?}"
    );
    assert!(
        commands.iter().any(|c| c.ends_with("--load -t api:dev")),
        "the README lost its `--load -t api:dev` example: {commands:#?}"
    );
    let reg = Registry::start(Kind::Plain);
    let d = dockerd();
    let p = podman();
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("no-credentials")).unwrap();
    let base = push_base(&reg, work.path());

    let mut loaded = Vec::new();
    for command in &commands {
        eprintln!("README: {command}");
        let dir = tempfile::tempdir_in(work.path()).unwrap();
        let (mut c, args) = rewrite(command, &reg, &base, dir.path());
        let out = run_ok(&mut c);
        let text = stdout(&out);
        if args.first().map(String::as_str) == Some("run") {
            assert!(
                text.starts_with("api running on x86_64"),
                "{command}: stdout is the container's:\n{text}"
            );
        }
        if args.first().map(String::as_str) == Some("resolve") {
            assert!(
                text.contains(&format!("image: {}/readme/api@sha256:", reg.addr))
                    || text.contains("image: api@sha256:"),
                "{command}: the reference is resolved:\n{text}"
            );
        }
        if args.iter().any(|a| a == "--push") {
            assert!(
                text.lines()
                    .all(|l| l.starts_with(&reg.addr) && l.contains("@sha256:")),
                "{command}: a push prints its references by digest:\n{text}"
            );
        }
        let tag = args.windows(2).find(|w| w[0] == "-t").map(|w| w[1].clone());
        if args
            .iter()
            .any(|a| a == "containerd" || a.starts_with("type=containerd"))
        {
            let tag = args.windows(2).find(|w| w[0] == "-t").map(|w| w[1].clone());
            let name = format!(
                "docker.io/library/{}",
                tag.expect("a containerd example names its image")
            );
            let listed = containerd().run_ok("k8s.io", &["images", "ls", "-q"]);
            assert!(
                listed.lines().any(|l| l == name),
                "{command}: {name} not in:\n{listed}"
            );
            continue;
        }
        if args.iter().any(|a| a == "--load") {
            let tag = tag.expect("a --load example names its image");
            let arch = if args.iter().any(|a| a == "linux/arm64")
                && args.windows(2).any(|w| w[0] == "--load-platform")
            {
                "arm64"
            } else {
                "amd64"
            };
            // The same command into podman.
            let (mut c, _) = rewrite(command, &reg, &base, dir.path());
            p.env(&mut c).args(["--loader", "podman"]);
            run_ok(&mut c);
            loaded.push((tag, arch));
        }
    }

    // What `docker image ls` shows is the name written after -t.
    let listed = d.run_ok(&["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]);
    for (tag, arch) in &loaded {
        assert!(
            listed.lines().any(|l| l == tag),
            "docker image ls lacks {tag}:\n{listed}"
        );
        assert_eq!(d.inspect(tag)["Architecture"], *arch, "{tag}");
        let podman_name = format!("localhost/{tag}");
        assert_eq!(p.inspect(&podman_name)["Architecture"], *arch, "{tag}");
    }
    assert!(
        loaded.iter().any(|(t, _)| t == "api:dev"),
        "api:dev was not loaded: {loaded:?}"
    );
    let ran = d.run_ok(&["run", "--rm", "--network", "none", "api:dev", "hi"]);
    assert_eq!(ran.trim(), "api running on x86_64 hi");
}

/// The extraction itself: the commands the README shows are all found.
#[test]
fn readme_commands_are_found() {
    let commands = readme_commands();
    for expected in [
        "cargo imagebuild --dry-run",
        "cargo imagebuild --load -t api:dev",
        "cargo imagebuild --platform linux/amd64,linux/arm64 --load -t api:dev",
        "CARGO_IMAGEBUILD_REPO=registry.example.com/team cargo imagebuild --push",
        "cargo imagebuild --push --repository ghcr.io/acme/{bin} -t :1.4.0 -t :latest",
        "cargo imagebuild doctor --platform linux/riscv64",
        "cargo imagebuild init --repository ghcr.io/acme/{bin} --platform linux/amd64,linux/arm64",
        "cargo imagebuild merge dist/amd64 dist/arm64 --push -t ghcr.io/acme/api:1.4.0",
        "cargo imagebuild platforms",
    ] {
        assert!(
            commands.iter().any(|c| c == expected),
            "`{expected}` not among {commands:#?}"
        );
    }
    assert!(commands.iter().all(|c| !c.contains('#')), "{commands:#?}");
}

/// The configuration reference lists every key the settings tables accept, and no other: the
/// keys are read from the parser's own "expected one of" list.
#[test]
fn configuration_reference_lists_every_key() {
    use cargo_imagebuild::ImageSettings;
    let err = ImageSettings::from_metadata(
        &serde_json::json!({ "no-such-key": 1 }),
        Path::new("Cargo.toml"),
        "package.metadata.imagebuild",
    )
    .unwrap_err()
    .to_string();
    let expected = err
        .split("expected one of ")
        .nth(1)
        .unwrap_or_else(|| panic!("no key list in: {err}"));
    let mut keys: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    keys.sort();
    assert!(keys.len() >= 15, "{keys:?}");
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = text
        .split("### Configuration reference")
        .nth(1)
        .expect("README.md has a configuration reference")
        .split("\n#")
        .next()
        .unwrap();
    let mut listed: Vec<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    listed.sort();
    assert_eq!(
        listed, keys,
        "README's configuration reference and the code differ"
    );
}
