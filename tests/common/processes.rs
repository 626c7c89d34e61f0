//! Process plumbing for the harness: commands run with a deadline, hooks that run when the test
//! binary exits (libtest gives statics no destructor, so `atexit` stops the shared daemons, pass
//! or fail), and the clean-up those hooks need: stop stray processes started from a private
//! directory (by pid, found through that directory's unique path) and unmount what is left in it.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use cargo_imagebuild::internals::process;

type Hook = Box<dyn FnOnce() + Send>;

static HOOKS: Mutex<Vec<Hook>> = Mutex::new(Vec::new());

extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::os::raw::c_int;
    fn prctl(option: std::os::raw::c_int, ...) -> std::os::raw::c_int;
}

const PR_SET_PDEATHSIG: std::os::raw::c_int = 1;
const SIGTERM: std::os::raw::c_ulong = 15;

/// Starts a daemon tied to this test binary and returns its pid (panicking, naming `what`, if
/// it cannot start). If the test binary dies without running its exit hooks (killed, Ctrl-C),
/// the kernel sends the daemon SIGTERM and it shuts down cleanly. The signal follows the
/// *thread* that spawned it, so a thread that lives as long as the daemon spawns and reaps it.
pub fn spawn_tied(mut cmd: Command, what: &str) -> u32 {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // SAFETY: prctl is async-signal-safe and touches only the child's own state.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                if prctl(PR_SET_PDEATHSIG, SIGTERM) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        match cmd.spawn() {
            Ok(mut child) => {
                let _ = tx.send(Ok(child.id()));
                let _ = child.wait();
            }
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        }
    });
    rx.recv()
        .unwrap_or_else(|_| panic!("the {what} thread answers"))
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"))
}

extern "C" fn run_hooks() {
    let hooks = match HOOKS.lock() {
        Ok(mut h) => std::mem::take(&mut *h),
        Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    };
    // Last started, first stopped; a failing hook must not stop the others (nor unwind into C).
    for hook in hooks.into_iter().rev() {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(hook));
    }
}

/// Runs `hook` when the test binary exits.
pub fn at_exit(hook: impl FnOnce() + Send + 'static) {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // SAFETY: `run_hooks` is a plain `extern "C" fn` that never unwinds.
        let rc = unsafe { atexit(run_hooks) };
        assert_eq!(rc, 0, "atexit refused the harness's exit hook");
    });
    HOOKS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Box::new(hook));
}

/// Runs `cmd` with its output captured, killing it and panicking after `timeout` (the library's
/// one runner does the draining and the deadline).
pub fn output_within(cmd: &mut Command, timeout: Duration) -> Output {
    let what = format!("{cmd:?}");
    // Its errors read "cannot run CMD: ERROR" and "CMD did not finish within N s".
    process::run(cmd, timeout, &what).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `cmd` within two minutes and returns its stdout; panics with its output unless it succeeds.
pub fn stdout_within(cmd: &mut Command) -> String {
    let out = output_within(cmd, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The first element of the JSON array `image inspect` prints (docker and podman alike).
pub fn first_of_json_array(text: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(text).expect("a JSON array");
    v[0].clone()
}

/// Sends `signal` (`TERM`, `KILL`) to one process.
pub fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// Whether process `pid` still exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(") ")
                .is_some_and(|(_, rest)| !rest.starts_with('Z'))
        })
        .unwrap_or(false)
}

/// The processes whose command line mentions `dir` (a private temporary directory, so only
/// processes this harness started from it).
pub fn processes_mentioning(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .contains(&needle)
                })
                .unwrap_or(false)
        })
        .collect()
}

/// Stops every process that mentions `dir`: TERM, up to `grace`, then KILL.
pub fn stop_processes_mentioning(dir: &Path, grace: Duration) {
    let pids = processes_mentioning(dir);
    for &pid in &pids {
        signal(pid, "TERM");
    }
    let deadline = Instant::now() + grace;
    while pids.iter().any(|&p| alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    for pid in pids.into_iter().filter(|&p| alive(p)) {
        signal(pid, "KILL");
    }
}

/// Unmounts (lazily, deepest first) whatever is still mounted below `dir`.
pub fn unmount_below(dir: &Path) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let prefix = dir.to_string_lossy().into_owned();
    let mut points: Vec<&str> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| p.starts_with(&prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = Command::new("umount")
            .args(["-l", p])
            .stderr(Stdio::null())
            .status();
    }
}

/// Stops what `dir` started, unmounts what it left, and removes it.
pub fn clean_up(dir: &Path) {
    stop_processes_mentioning(dir, Duration::from_secs(10));
    unmount_below(dir);
    let _ = std::fs::remove_dir_all(dir);
}
