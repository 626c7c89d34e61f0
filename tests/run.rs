//! `cargo imagebuild run` against the test harness's dockerd and podman: the fixture's `migrate`
//! prints its arguments and a variable given with `-e`, and exits with the code another one
//! gives; our exit code is the container's and our stdout is its output. On a pseudo-terminal
//! (tmux), Ctrl-C stops a waiting container and `docker ps -a` (`podman ps -a`) shows none left.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::dockerd::dockerd;
use common::podman::podman;
use common::*;

/// The docker tests count the daemon's containers: one at a time.
static DOCKER: std::sync::Mutex<()> = std::sync::Mutex::new(());
/// And the podman tests its containers.
static PODMAN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run_migrate(cmd: &mut Command, extra: &[&str]) -> std::process::Output {
    cmd.args(["run", "--bin", "migrate", "--network", "none"])
        .args(extra)
        .args([
            "-e",
            "FIXTURE_GREETING=hello from -e",
            "-e",
            "FIXTURE_EXIT=3",
            "--",
            "one",
            "--two",
        ])
        .stdin(Stdio::null());
    cmd.output().unwrap()
}

fn assert_ran(out: &std::process::Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "the container's exit code:\n{stderr}"
    );
    assert_eq!(
        stdout(out),
        "migrate one --two\nFIXTURE_GREETING=hello from -e\n",
        "stdout is the container's:\n{stderr}"
    );
}

#[test]
fn docker_run_gives_the_containers_output_and_exit_code() {
    let _one = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    let d = dockerd();
    let work = tempfile::tempdir().unwrap();
    let mut c = imagebuild_isolated(work.path());
    d.env(&mut c);
    let out = run_migrate(&mut c, &[]);
    assert_ran(&out);
    assert_eq!(d.inspect("migrate:dev")["Architecture"], "amd64");
    let left = d.run_ok(&["ps", "-a", "-q"]);
    assert!(left.trim().is_empty(), "containers left: {left}");
}

#[test]
fn podman_run_gives_the_containers_output_and_exit_code() {
    let _one = PODMAN.lock().unwrap_or_else(|e| e.into_inner());
    let p = podman();
    let work = tempfile::tempdir().unwrap();
    let mut c = imagebuild_isolated(work.path());
    // podman run reads REGISTRY_AUTH_FILE (or DOCKER_CONFIG's config.json) and refuses a
    // missing one, as the isolated ones are.
    p.env(&mut c)
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("DOCKER_CONFIG");
    let out = run_migrate(&mut c, &["--loader", "podman"]);
    assert_ran(&out);
    let left = p.run_ok(&["ps", "-a", "-q"]);
    assert!(left.trim().is_empty(), "containers left: {left}");
}

/// Polls `what` every 100 ms until it holds, for at most `limit`.
fn wait_until(limit: Duration, mut what: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if what() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn ctrl_c_on_a_terminal_leaves_no_container() {
    let _one = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    let d = dockerd();
    let env = format!(
        "DOCKER_HOST='{}' DOCKER_CONFIG='{}'",
        d.host,
        d.config.display()
    );
    ctrl_c_leaves_nothing(&env, &[], &|args| d.run_ok(args));
}

#[test]
fn ctrl_c_on_a_terminal_leaves_no_podman_container() {
    let _one = PODMAN.lock().unwrap_or_else(|e| e.into_inner());
    let p = podman();
    let env = format!(
        "CONTAINERS_CONF='{0}/containers.conf' CONTAINERS_STORAGE_CONF='{0}/storage.conf' \
         CONTAINERS_REGISTRIES_CONF='{0}/registries.conf'",
        p.dir.display()
    );
    ctrl_c_leaves_nothing(&env, &["--loader", "podman"], &|args| p.run_ok(args));
}

/// Runs `run --bin migrate -- wait` on a tmux terminal with `env` (shell assignments), presses
/// Ctrl-C once the container runs, and checks that the run ends, not with 0, and that `ps`
/// (through `cli`) lists no container afterwards.
fn ctrl_c_leaves_nothing(env: &str, extra: &[&str], cli: &dyn Fn(&[&str]) -> String) {
    let tmux = require("tmux");
    let work = tempfile::tempdir().unwrap();
    let socket = work.path().join("tmux.sock");
    let done = work.path().join("done");
    let script = format!(
        "cd '{}' && {env} CARGO_TARGET_DIR='{}' NO_COLOR=1 '{}' run {} --bin migrate \
         --network none -- wait; echo $? > '{}'; sleep 600",
        fixture().display(),
        shared_target_dir().display(),
        env!("CARGO_BIN_EXE_cargo-imagebuild"),
        extra.join(" "),
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
    let screen = || {
        let out = tmux_cmd()
            .args(["capture-pane", "-p", "-S", "-200"])
            .output()
            .unwrap();
        stdout(&out)
    };
    let started = wait_until(Duration::from_secs(300), || {
        (screen().contains("migrate wait") && !cli(&["ps", "-q"]).trim().is_empty())
            || done.exists()
    });
    let running = cli(&["ps", "-q"]);
    if !(started && !done.exists() && !running.trim().is_empty()) {
        let shown = screen();
        let _ = tmux_cmd().arg("kill-server").status();
        panic!(
            "the container did not start and wait (started {started}, done {}, running \
             `{running}`):\n{shown}",
            done.exists()
        );
    }
    run_ok(tmux_cmd().args(["send-keys", "C-c"]));
    let ended = wait_until(Duration::from_secs(30), || done.exists());
    let shown = screen();
    let _ = tmux_cmd().arg("kill-server").status();
    assert!(ended, "Ctrl-C did not end the run:\n{shown}");
    let code = std::fs::read_to_string(&done).unwrap();
    assert_ne!(
        code.trim(),
        "0",
        "an interrupted run is no success:\n{shown}"
    );
    let left = cli(&["ps", "-a", "-q"]);
    assert!(
        left.trim().is_empty(),
        "containers left after Ctrl-C: {left}\n{shown}"
    );
}

#[test]
fn bad_run_requests_are_refused_with_the_fix() {
    let work = tempfile::tempdir().unwrap();
    // Three binaries in the fixture: run needs to know which.
    let err = run_err(imagebuild_isolated(work.path()).args(["run"]));
    assert!(
        err.contains("api, migrate, ctl") && err.contains("--bin NAME"),
        "{err}"
    );
    let err = run_err(imagebuild_isolated(work.path()).args([
        "run",
        "--bin",
        "migrate",
        "--loader",
        "containerd",
    ]));
    assert!(err.contains("--loader docker or --loader podman"), "{err}");
}
