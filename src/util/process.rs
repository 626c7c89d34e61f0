//! The one way child processes run: with a deadline, both output pipes drained on their own
//! threads (a chatty child never blocks on a full pipe), and stdin, when fed, written under the
//! same deadline (a child that stops reading is killed, which ends the write).

use std::io::{self, BufWriter, Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Why a command gave no output.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot run {what}: {source}")]
    Spawn {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{what} did not finish within {} s", .limit.as_secs())]
    Timeout { what: String, limit: Duration },
}

impl RunError {
    /// Whether the program is not installed.
    pub fn not_found(&self) -> bool {
        matches!(self, RunError::Spawn { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// A command's output and what became of feeding its stdin.
pub struct Fed {
    pub output: Output,
    /// The feeder's own result: an error here may just mean the child stopped reading.
    pub fed: anyhow::Result<()>,
}

/// Runs `cmd` with stdin closed and its output captured, killing it after `limit`. `what` names
/// it in errors (`` `docker info` ``).
pub fn run(cmd: &mut Command, limit: Duration, what: &str) -> Result<Output, RunError> {
    cmd.stdin(Stdio::null());
    let child = spawn(cmd, what)?;
    finish(child, Instant::now() + limit, limit, what)
}

/// Runs `cmd`, writing its stdin with `feed` on a thread of its own (closed when `feed` returns),
/// killing the child after `limit` from the start, which also ends a write it stopped reading.
pub fn run_feeding<F>(
    cmd: &mut Command,
    limit: Duration,
    what: &str,
    feed: F,
) -> Result<Fed, RunError>
where
    F: FnOnce(&mut dyn Write) -> anyhow::Result<()> + Send,
{
    let deadline = Instant::now() + limit;
    cmd.stdin(Stdio::piped());
    let mut child = spawn(cmd, what)?;
    let stdin = child.stdin.take();
    thread::scope(|s| {
        let feeder = s.spawn(move || -> anyhow::Result<()> {
            let Some(stdin) = stdin else {
                anyhow::bail!("{what} has no stdin");
            };
            let mut w = BufWriter::with_capacity(1 << 20, stdin);
            feed(&mut w)?;
            w.flush()?;
            Ok(())
            // Dropping `w` closes the child's stdin: the input is complete.
        });
        let output = finish(child, deadline, limit, what);
        let fed = feeder
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("writing to {what} panicked")));
        output.map(|output| Fed { output, fed })
    })
}

/// Runs `cmd` with stdin closed and its stdout and stderr inherited, so a long command (an
/// `apt-get install` that downloads for minutes) shows its progress as it goes, killing it after
/// `limit`. For commands whose output the user should watch rather than the caller read.
pub fn run_streaming(
    cmd: &mut Command,
    limit: Duration,
    what: &str,
) -> Result<std::process::ExitStatus, RunError> {
    streaming(cmd, Stdio::inherit(), limit, what)
}

/// [`run_streaming`] with the command's stdout sent to our stderr (for a run whose own stdout
/// carries results).
pub fn run_streaming_on_stderr(
    cmd: &mut Command,
    limit: Duration,
    what: &str,
) -> Result<std::process::ExitStatus, RunError> {
    streaming(cmd, Stdio::from(std::io::stderr()), limit, what)
}

fn streaming(
    cmd: &mut Command,
    stdout: Stdio,
    limit: Duration,
    what: &str,
) -> Result<std::process::ExitStatus, RunError> {
    let deadline = Instant::now() + limit;
    cmd.stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::inherit());
    let mut child = start(cmd, what)?;
    wait_until(&mut child, deadline, limit, what)
}

/// Starts `cmd` as it is set up, naming it `what` in the error.
fn start(cmd: &mut Command, what: &str) -> Result<Child, RunError> {
    cmd.spawn().map_err(|source| RunError::Spawn {
        what: what.to_string(),
        source,
    })
}

/// Waits for `child` until `deadline`, then kills it. Bounded: polls, never blocks. It polls
/// every millisecond for the first 50 ms, then every 10 ms, so the end of a quick command (`git
/// log`, a version query: 5-10 ms) is seen within a millisecond rather than up to 10 later.
fn wait_until(
    child: &mut Child,
    deadline: Instant,
    limit: Duration,
    what: &str,
) -> Result<std::process::ExitStatus, RunError> {
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() < deadline => {
                let quick = started.elapsed() < Duration::from_millis(50);
                thread::sleep(Duration::from_millis(if quick { 1 } else { 10 }));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::Timeout {
                    what: what.to_string(),
                    limit,
                });
            }
        }
    }
}

fn spawn(cmd: &mut Command, what: &str) -> Result<Child, RunError> {
    start(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()), what)
}

/// Drains both pipes and waits until `deadline`, then kills.
fn finish(
    mut child: Child,
    deadline: Instant,
    limit: Duration,
    what: &str,
) -> Result<Output, RunError> {
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let status = wait_until(&mut child, deadline, limit, what)?;
    Ok(Output {
        status,
        stdout: join(out),
        stderr: join(err),
    })
}

fn drain<R: Read + Send + 'static>(r: Option<R>) -> Option<JoinHandle<Vec<u8>>> {
    r.map(|mut r| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    })
}

fn join(h: Option<JoinHandle<Vec<u8>>>) -> Vec<u8> {
    h.and_then(|h| h.join().ok()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_captured_and_a_slow_command_is_killed() {
        let out = run(
            Command::new("sh").args(["-c", "echo out; echo err >&2"]),
            Duration::from_secs(10),
            "sh",
        )
        .unwrap();
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        let e = run(
            Command::new("sleep").arg("30"),
            Duration::from_millis(200),
            "`sleep 30`",
        )
        .unwrap_err();
        assert!(matches!(e, RunError::Timeout { .. }), "{e}");
        let e = run(
            &mut Command::new("no-such-program-here"),
            Duration::from_secs(1),
            "x",
        )
        .unwrap_err();
        assert!(e.not_found());
    }

    #[test]
    fn a_streaming_command_reports_its_status_and_is_killed_at_the_deadline() {
        let st = run_streaming(
            Command::new("sh").args(["-c", "exit 3"]),
            Duration::from_secs(10),
            "sh",
        )
        .unwrap();
        assert_eq!(st.code(), Some(3));
        let started = Instant::now();
        let e = run_streaming(
            Command::new("sleep").arg("30"),
            Duration::from_millis(200),
            "`sleep 30`",
        )
        .unwrap_err();
        assert!(matches!(e, RunError::Timeout { .. }), "{e}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn stdin_is_fed_and_a_child_that_stops_reading_is_killed() {
        let fed = run_feeding(
            &mut Command::new("cat"),
            Duration::from_secs(10),
            "cat",
            |w| Ok(w.write_all(b"hello")?),
        )
        .unwrap();
        assert_eq!(fed.output.stdout, b"hello");
        assert!(fed.fed.is_ok());
        // `sleep` never reads: the feeder blocks on a full pipe until the deadline kills it.
        let started = Instant::now();
        let e = run_feeding(
            Command::new("sleep").arg("30"),
            Duration::from_millis(300),
            "`sleep 30`",
            |w| {
                let chunk = vec![0u8; 1 << 16];
                loop {
                    w.write_all(&chunk)?;
                }
            },
        )
        .map(|_| ())
        .unwrap_err();
        assert!(matches!(e, RunError::Timeout { .. }), "{e}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
