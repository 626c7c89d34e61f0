//! How a run shows on the terminal: [`Terminal`] is the [`Listener`] the binary gives the
//! library. It turns each [`Event`] into cargo-style status lines on stderr (right-aligned green
//! verbs when stderr is a terminal, nothing with `-q`), `-v` details, cargo's own output with
//! `-v` (its diagnostics once each; a failed build's output in full), and with
//! `--message-format json` one JSON line per pipeline event on stdout. On a terminal (or
//! `--progress tty`) an indicatif display shows one live line per target (its state, crates
//! built, elapsed time) and per push (blobs and bytes sent), with status lines printed above it.
//! It also keeps what the final summary needs: the time per stage and the warnings not shown.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{IsTerminal, Write};
use std::str::FromStr;
use std::sync::Mutex;

use cargo_imagebuild::{Event, Listener, StageTimes};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How chatty to be.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    #[default]
    Normal,
    Verbose,
}

impl Verbosity {
    /// From `-q` and the count of `-v`.
    pub fn from_flags(quiet: bool, verbose: u8) -> Verbosity {
        match (quiet, verbose) {
            (true, _) => Verbosity::Quiet,
            (false, 0) => Verbosity::Normal,
            _ => Verbosity::Verbose,
        }
    }
}

/// `--progress`: how progress is shown on stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Progress {
    /// A terminal's live display when stderr is one, else plain lines.
    #[default]
    Auto,
    /// The terminal display (colors), even when stderr is not a terminal.
    Tty,
    /// Plain log lines, no colors.
    Plain,
}

impl FromStr for Progress {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Progress::Auto),
            "tty" => Ok(Progress::Tty),
            "plain" => Ok(Progress::Plain),
            other => Err(format!(
                "unknown progress mode `{other}`: use auto, tty or plain"
            )),
        }
    }
}

/// `--message-format`: what stdout carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MessageFormat {
    /// The results, for people and simple scripts.
    #[default]
    Human,
    /// One JSON object a line per event, then one result object per binary.
    Json,
}

impl FromStr for MessageFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "human" => Ok(MessageFormat::Human),
            "json" => Ok(MessageFormat::Json),
            other => Err(format!(
                "unknown message format `{other}`: use human or json"
            )),
        }
    }
}

impl fmt::Display for MessageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MessageFormat::Human => "human",
            MessageFormat::Json => "json",
        })
    }
}

/// The terminal's live lines: one per target while cargo compiles, one per registry push.
/// Status lines print above them ([`MultiProgress::println`]), so they never tear.
struct Live {
    multi: MultiProgress,
    bars: Mutex<BTreeMap<String, ProgressBar>>,
}

impl Live {
    fn bar(&self, key: &str, prefix: &str) -> ProgressBar {
        let Ok(mut bars) = self.bars.lock() else {
            return ProgressBar::hidden();
        };
        bars.entry(key.to_string())
            .or_insert_with(|| {
                let style = ProgressStyle::with_template(
                    "{prefix:>12.cyan.bold} {spinner} {wide_msg} {elapsed:>4}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(style);
                bar.set_prefix(prefix.to_string());
                bar.enable_steady_tick(std::time::Duration::from_millis(120));
                bar
            })
            .clone()
    }
}

/// What the events of one run add up to.
#[derive(Default)]
struct State {
    times: StageTimes,
    /// Distinct cargo warnings not shown (no `-v`).
    hidden_warnings: usize,
}

/// The binary's listener: see the module docs.
pub struct Terminal {
    pub verbosity: Verbosity,
    pub format: MessageFormat,
    color: bool,
    state: Mutex<State>,
    /// The live display on a terminal (indicatif), when there is one.
    live: Option<Live>,
}

impl Terminal {
    pub fn new(verbosity: Verbosity) -> Terminal {
        Terminal::with(verbosity, Progress::Auto, MessageFormat::Human)
    }

    pub fn with(verbosity: Verbosity, progress: Progress, format: MessageFormat) -> Terminal {
        let terminal = match progress {
            Progress::Auto => std::io::stderr().is_terminal(),
            Progress::Tty => true,
            Progress::Plain => false,
        };
        // The edge of the program: NO_COLOR is read here, not in the library.
        let color = terminal && std::env::var_os("NO_COLOR").is_none();
        let live = (terminal && verbosity == Verbosity::Normal).then(|| Live {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(BTreeMap::new()),
        });
        Terminal {
            verbosity,
            format,
            color,
            state: Mutex::new(State::default()),
            live,
        }
    }

    /// Ends the live display: its finished lines stay on the screen, above what follows.
    pub fn finish(&self) {
        if let Some(live) = &self.live {
            if let Ok(bars) = live.bars.lock() {
                for b in bars.values().filter(|b| !b.is_finished()) {
                    b.finish();
                }
            }
        }
    }

    /// `   Verb message`, unless quiet.
    pub fn status(&self, verb: &str, message: &str) {
        if self.verbosity > Verbosity::Quiet {
            self.print(verb, message, "32");
        }
    }

    /// Details shown with `-v`.
    fn detail(&self, verb: &str, message: &str) {
        if self.verbosity >= Verbosity::Verbose {
            self.print(verb, message, "36");
        }
    }

    pub fn warn(&self, message: &str) {
        if self.verbosity > Verbosity::Quiet {
            self.print("warning:", message, "33");
        }
    }

    /// Text for people on stderr as it is (a table, cargo's output), unless quiet.
    pub fn block(&self, text: &str) {
        if self.verbosity > Verbosity::Quiet {
            match &self.live {
                Some(live) => {
                    let _ = live.multi.println(text.trim_end_matches('\n'));
                }
                None => {
                    let _ = std::io::stderr().lock().write_all(text.as_bytes());
                }
            }
        }
    }

    /// Distinct cargo warnings that were not shown (shown with `-v`).
    pub fn hidden_warnings(&self) -> usize {
        self.state.lock().map(|s| s.hidden_warnings).unwrap_or(0)
    }

    /// Time per stage and layer counts so far.
    pub fn times(&self) -> StageTimes {
        self.state
            .lock()
            .map(|s| s.times.clone())
            .unwrap_or_default()
    }

    /// Shows `event` on the live display, if there is one and it has a line for it; then the
    /// plain status line is not printed.
    fn live_event(&self, event: &Event) -> bool {
        let Some(live) = &self.live else {
            return false;
        };
        match event {
            Event::CompileStarted {
                target,
                bins,
                n,
                of,
            } => {
                let bar = live.bar(target, "Compiling");
                bar.set_message(format!("[{n}/{of}] {} for {target}", bins.join(", ")));
                true
            }
            Event::CompileProgress { target, crates } => {
                let bar = live.bar(target, "Compiling");
                let prefix = bar.message();
                let head = prefix.split(" · ").next().unwrap_or_default().to_string();
                bar.set_message(format!("{head} · {crates} crates built"));
                true
            }
            Event::CompileFinished { target, seconds } => {
                let bar = live.bar(target, "Compiling");
                let head = bar.message();
                let head = head.split(" · ").next().unwrap_or_default().to_string();
                bar.set_prefix("Compiled");
                bar.finish_with_message(format!("{head} · {seconds:.1}s"));
                true
            }
            Event::BlobUploaded {
                repository,
                size,
                how,
                ..
            } => {
                let key = format!("push {repository}");
                let bar = live.bar(&key, "Pushing");
                bar.inc(1);
                bar.inc_length(*size);
                let (blobs, sent) = (bar.position(), bar.length().unwrap_or_default());
                bar.set_message(format!(
                    "{repository}: {blobs} blobs, {} (last {how})",
                    crate::render::human_size(sent)
                ));
                true
            }
            Event::ImageWritten {
                destination,
                pushed: true,
                ..
            } => {
                let repository = destination.split('@').next().unwrap_or_default();
                if let Ok(bars) = live.bars.lock() {
                    if let Some(bar) = bars.get(&format!("push {repository}")) {
                        bar.set_prefix("Pushed");
                        bar.finish_with_message(destination.clone());
                        return true;
                    }
                }
                false
            }
            _ => false,
        }
    }

    /// A build failed: its output in full (errors go to stderr even with `-q`), unless `-v`
    /// already showed it as it came.
    fn cargo_failed(&self, stderr: &str, diagnostics: &[String]) {
        if self.verbosity >= Verbosity::Verbose {
            return;
        }
        if let Some(live) = &self.live {
            // The errors replace the live lines, so nothing draws over them.
            let _ = live.multi.clear();
        }
        let mut err = std::io::stderr().lock();
        for d in diagnostics {
            let _ = err.write_all(d.as_bytes());
        }
        let _ = err.write_all(stderr.as_bytes());
    }

    fn print(&self, verb: &str, message: &str, color: &str) {
        let line = if self.color {
            format!("\x1b[1;{color}m{verb:>12}\x1b[0m {message}")
        } else {
            format!("{verb:>12} {message}")
        };
        if let Some(live) = &self.live {
            let _ = live.multi.println(line);
            return;
        }
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

impl Listener for Terminal {
    fn event(&self, event: &Event) {
        if let Ok(mut s) = self.state.lock() {
            s.times.record(event);
        }
        if self.format == MessageFormat::Json && !event.is_message() {
            if let Ok(line) = serde_json::to_string(event) {
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
        }
        if self.live_event(event) {
            return;
        }
        let size = crate::render::human_size;
        match event {
            Event::CompileStarted {
                target,
                bins,
                n,
                of,
            } => self.status(
                "Compiling",
                &format!("[{n}/{of}] {} for {target}", bins.join(", ")),
            ),
            Event::CompileFinished { target, seconds } => {
                self.detail("Compiled", &format!("{target} in {seconds:.1}s"))
            }
            Event::LayerPacked {
                digest,
                size: n,
                reused,
                created_by,
                seconds,
            } => self.detail(
                if *reused { "Reused" } else { "Packed" },
                &format!("{digest} ({}, {seconds:.2}s) {created_by}", size(*n)),
            ),
            Event::BlobUploaded {
                repository,
                digest,
                size: n,
                how,
            } => self.detail(
                "Blob",
                &format!("{digest} ({}) {how} to {repository}", size(*n)),
            ),
            Event::ImageWritten {
                bin,
                destination,
                pushed,
                ..
            } => self.status(
                if *pushed { "Pushed" } else { "Wrote" },
                &format!("{destination} ({bin})"),
            ),
            Event::Status { verb, message } => self.status(verb, message),
            Event::Detail { verb, message } => self.detail(verb, message),
            Event::Warning { message } => self.warn(message),
            Event::CargoOutput { line } if self.verbosity >= Verbosity::Verbose => {
                self.block(&format!("{line}\n"))
            }
            Event::CargoDiagnostic { rendered, level } => {
                if self.verbosity >= Verbosity::Verbose {
                    self.block(rendered);
                } else if level == "warning" {
                    if let Ok(mut s) = self.state.lock() {
                        s.hidden_warnings += 1;
                    }
                }
            }
            Event::CargoFailed {
                stderr,
                diagnostics,
            } => self.cargo_failed(stderr, diagnostics),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_warnings_are_counted() {
        let t = Terminal::with(Verbosity::Normal, Progress::Plain, MessageFormat::Human);
        for rendered in [
            "warning: unused variable: `x`\n",
            "warning: unused import\n",
        ] {
            t.event(&Event::CargoDiagnostic {
                rendered: rendered.into(),
                level: "warning".into(),
            });
        }
        t.event(&Event::CargoDiagnostic {
            rendered: "note: something\n".into(),
            level: "note".into(),
        });
        assert_eq!(t.hidden_warnings(), 2);
    }

    #[test]
    fn modes_parse() {
        assert_eq!("plain".parse::<Progress>(), Ok(Progress::Plain));
        assert!("fancy"
            .parse::<Progress>()
            .unwrap_err()
            .contains("auto, tty or plain"));
        assert_eq!("json".parse::<MessageFormat>(), Ok(MessageFormat::Json));
        assert_eq!(Verbosity::from_flags(false, 2), Verbosity::Verbose);
        assert_eq!(Verbosity::from_flags(true, 0), Verbosity::Quiet);
    }
}
