//! How users get a binary in seconds, checked: scripts/install.sh (what action.yml runs) against
//! release files that scripts/release-asset.sh packs from our binary, served from 127.0.0.1 by
//! Python's http.server; and the release workflow, the action and cargo-binstall's metadata
//! read as their consumers read them (PyYAML, toml), naming files that exist and asset names
//! that agree with each other.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The release target scripts/install.sh picks on this machine.
fn host_target() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x86_64-unknown-linux-musl",
        "aarch64" => "aarch64-unknown-linux-musl",
        other => {
            panic!("no release binary is built for {other}; run this test on x86_64 or aarch64")
        }
    }
}

/// `python3 -m http.server` serving `dir` on 127.0.0.1, on a port it chose; stopped on drop.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let mut child = Command::new(require("python3"))
            .args([
                "-u",
                "-m",
                "http.server",
                "0",
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m http.server");
        // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .split_whitespace()
            .skip_while(|w| *w != "port")
            .nth(1)
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or_else(|| panic!("http.server said: {line}"));
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "http.server does not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// scripts/install.sh with `args`, downloading from `base`; nothing inherited that would pick
/// another version or directory.
fn install(base: &str, version: &str, bin_dir: &Path) -> Command {
    let mut c = Command::new("bash");
    c.arg(root().join("scripts/install.sh"))
        .args(["--version", version, "--bin-dir"])
        .arg(bin_dir)
        .args(["--base-url", base])
        .env_remove("CARGO_IMAGEBUILD_VERSION")
        .env_remove("CARGO_IMAGEBUILD_BIN_DIR")
        .env_remove("CARGO_IMAGEBUILD_BASE_URL");
    c
}

/// Packs our binary as release `version`'s asset for this machine under `releases/`, with
/// scripts/release-asset.sh (what the release workflow runs); returns the asset's path.
fn release(releases: &Path, version: &str) -> PathBuf {
    let out = run_ok(
        Command::new("bash")
            .arg(root().join("scripts/release-asset.sh"))
            .arg(env!("CARGO_BIN_EXE_cargo-imagebuild"))
            .arg(host_target())
            .arg(releases.join(format!("v{version}"))),
    );
    PathBuf::from(stdout(&out).trim())
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn install_script_installs_a_verified_release_binary_and_refuses_a_wrong_checksum() {
    let work = tempfile::tempdir().unwrap();
    let releases = work.path().join("releases");
    let asset = release(&releases, VERSION);
    assert_eq!(
        asset.file_name().unwrap().to_str().unwrap(),
        format!("cargo-imagebuild-{}.tar.gz", host_target())
    );
    let server = Server::start(&releases);

    // The right checksum: installed, runs, and nothing else is left in the directory.
    let bin = work.path().join("bin");
    run_ok(&mut install(&server.url, VERSION, &bin));
    assert_eq!(entries(&bin), ["cargo-imagebuild"]);
    let installed = bin.join("cargo-imagebuild");
    let out = run_ok(Command::new(&installed).args(["imagebuild", "--version"]));
    assert_eq!(stdout(&out).trim(), format!("cargo-imagebuild {VERSION}"));
    let good = std::fs::read(&installed).unwrap();

    // A release whose .sha256 does not match its asset: refused, exit non-zero, nothing
    // installed into an empty directory, and an installed binary left as it was.
    let bad = "0.0.1-bad";
    let bad_asset = release(&releases, bad);
    let sha = PathBuf::from(format!("{}.sha256", bad_asset.display()));
    let text = std::fs::read_to_string(&sha).unwrap();
    let name = text.split_whitespace().nth(1).unwrap().to_string();
    std::fs::write(&sha, format!("{}  {name}\n", "ab".repeat(32))).unwrap();
    let fresh = work.path().join("fresh");
    let err = run_err(&mut install(&server.url, bad, &fresh));
    assert!(
        err.contains("checksum mismatch") && err.contains("nothing was installed"),
        "{err}"
    );
    assert_eq!(entries(&fresh), Vec::<String>::new());
    let err = run_err(&mut install(&server.url, bad, &bin));
    assert!(err.contains("checksum mismatch"), "{err}");
    assert_eq!(entries(&bin), ["cargo-imagebuild"]);
    assert!(
        std::fs::read(&installed).unwrap() == good,
        "the installed binary changed"
    );

    // An asset with no .sha256 is refused too, never installed unchecked.
    std::fs::remove_file(&sha).unwrap();
    let err = run_err(&mut install(&server.url, bad, &fresh));
    assert!(
        err.contains("no cargo-imagebuild-") && err.contains("unchecked"),
        "{err}"
    );
    assert_eq!(entries(&fresh), Vec::<String>::new());

    // A version with no release binary falls back to `cargo install --locked` of that
    // version. Offline here (loopback only), so cargo's own error ends it, and nothing is left.
    let err = run_err(
        install(&server.url, "0.0.2", &fresh)
            .env("CARGO_NET_OFFLINE", "true")
            .env("CARGO_HOME", work.path().join("cargo-home")),
    );
    assert!(
        err.contains("has no cargo-imagebuild-")
            && err.contains("cargo install --locked cargo-imagebuild --version 0.0.2"),
        "{err}"
    );
    assert_eq!(entries(&fresh), Vec::<String>::new());

    // Bad arguments: a clear error naming the fix.
    let err = run_err(&mut install(&server.url, "", &fresh));
    assert!(err.contains("--version"), "{err}");
}

/// Every `scripts/…` path that a `run:` of `steps` names (or `$GITHUB_ACTION_PATH/…`), checked
/// to exist and be executable; returns how many were found.
fn check_run_steps(file: &str, steps: &serde_json::Value) -> usize {
    let mut found = 0;
    for step in steps.as_array().unwrap() {
        let Some(run) = step["run"].as_str() else {
            assert!(
                step["uses"].is_string(),
                "{file}: a step with neither run nor uses: {step}"
            );
            continue;
        };
        for word in run.split(|c: char| c.is_whitespace() || c == '"' || c == '\'') {
            let word = word.trim_start_matches("$GITHUB_ACTION_PATH/");
            if word.starts_with("scripts/") {
                let path = root().join(word);
                let meta = std::fs::metadata(&path)
                    .unwrap_or_else(|_| panic!("{file} runs {word}, which does not exist"));
                use std::os::unix::fs::PermissionsExt as _;
                assert!(
                    meta.permissions().mode() & 0o111 != 0,
                    "{word} is not executable"
                );
                found += 1;
            }
        }
    }
    found
}

#[test]
fn release_workflow_action_and_binstall_agree_on_the_assets() {
    let manifest: toml::Table = std::fs::read_to_string(root().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let repo = env!("CARGO_PKG_REPOSITORY");

    // The release workflow: on a v* tag, the four static targets, packed by release-asset.sh.
    let wf = yaml(&root().join(".github/workflows/release.yml"));
    let on = wf.get("on").or(wf.get("true")).expect("an `on` key");
    assert_eq!(on["push"]["tags"][0], "v*");
    let targets: Vec<&str> = wf["jobs"]["build"]["strategy"]["matrix"]["include"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        targets,
        [
            "x86_64-unknown-linux-musl",
            "aarch64-unknown-linux-musl",
            "x86_64-apple-darwin",
            "aarch64-apple-darwin"
        ]
    );
    let mut scripts = 0;
    for (name, job) in wf["jobs"].as_object().unwrap() {
        scripts += check_run_steps(&format!("release.yml job {name}"), &job["steps"]);
    }
    let build = serde_json::to_string(&wf["jobs"]["build"]).unwrap();
    assert!(build.contains("scripts/release-asset.sh"), "{build}");
    assert!(build.contains("--locked"), "{build}");
    assert_eq!(wf["jobs"]["release"]["needs"], "build");

    // The action: composite, runs the install script, pinned to this version by default.
    let action = yaml(&root().join("action.yml"));
    assert_eq!(action["runs"]["using"], "composite");
    assert_eq!(action["inputs"]["version"]["default"], VERSION);
    for step in action["runs"]["steps"].as_array().unwrap() {
        assert!(
            step["shell"].is_string(),
            "a composite run step needs a shell: {step}"
        );
    }
    let run = action["runs"]["steps"][0]["run"].as_str().unwrap();
    assert!(
        run.contains("$GITHUB_ACTION_PATH/scripts/install.sh"),
        "{run}"
    );
    scripts += check_run_steps("action.yml", &action["runs"]["steps"]);
    assert!(scripts >= 2, "no scripts/ named in the workflow and action");

    // cargo-binstall's URL is the asset the workflow uploads and install.sh downloads.
    let binstall = &manifest["package"]["metadata"]["binstall"];
    let target = host_target();
    let url = binstall["pkg-url"]
        .as_str()
        .unwrap()
        .replace("{ repo }", repo)
        .replace("{ version }", VERSION)
        .replace("{ name }", "cargo-imagebuild")
        .replace("{ target }", target);
    assert_eq!(
        url,
        format!("{repo}/releases/download/v{VERSION}/cargo-imagebuild-{target}.tar.gz")
    );
    assert_eq!(binstall["pkg-fmt"].as_str(), Some("tgz"));
    assert_eq!(binstall["bin-dir"].as_str(), Some("{ bin }{ binary-ext }"));
    let script = std::fs::read_to_string(root().join("scripts/install.sh")).unwrap();
    assert!(
        script.contains(&format!("REPOSITORY={repo}\n")),
        "install.sh downloads elsewhere"
    );
    assert!(script.contains(r#"asset="$NAME-$target.tar.gz""#));

    // README's GitHub Actions recipe and the templates use the action at this version.
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("- uses: {}", action_ref())),
        "README lacks the action"
    );
    let template = std::fs::read_to_string(root().join("templates/ci/github.yml")).unwrap();
    let (path, _) = action_ref()
        .split_once('@')
        .map(|(p, v)| (p.to_string(), v.to_string()))
        .unwrap();
    assert!(
        template.contains(&format!("- uses: {path}@v@VERSION@")),
        "{template}"
    );
}
