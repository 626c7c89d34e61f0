//! Messages for people, on stderr, in cargo's style (`   Compiling foo`): right-aligned green
//! verbs when stderr is a terminal, nothing at all with `-q`. The stages report what happens as
//! [`Event`]s through [`Ui::emit`]; this file decides how each is shown (a status line, a `-v`
//! detail, or with `--message-format json` a JSON line on stdout) and keeps the per-stage times
//! for the summary. cargo's own diagnostics pass through [`Ui::cargo_diagnostic`], which shows
//! each distinct one once, and only with `-v`; a failed build shows its output in full
//! ([`Ui::cargo_failed`]). On a terminal (or `--progress tty`), an indicatif display shows one
//! live line per target (its state, crates built, elapsed time) and per push (blobs and bytes
//! sent), with status lines printed above it. Results meant for scripts go to stdout from
//! `main.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{IsTerminal, Write};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub use super::events::Event;
use super::events::StageTimes;

/// How chatty to be.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    #[default]
    Normal,
    Verbose,
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

#[derive(Clone, Debug)]
pub struct Ui {
    pub verbosity: Verbosity,
    pub format: MessageFormat,
    color: bool,
    state: Arc<Mutex<State>>,
    /// The live display on a terminal (indicatif), when there is one.
    live: Option<Arc<Live>>,
}

/// The terminal's live lines: one per target while cargo compiles, one per registry push.
/// Status lines print above them ([`MultiProgress::println`]), so they never tear.
#[derive(Debug)]
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

/// What the events of one build add up to.
#[derive(Debug, Default)]
struct State {
    times: StageTimes,
    /// cargo diagnostics already shown (or counted), so each shows once over every target.
    diagnostics: BTreeSet<String>,
    /// Distinct cargo warnings not shown (no `-v`).
    hidden_warnings: usize,
}

impl Ui {
    pub fn new(verbosity: Verbosity) -> Ui {
        Ui::with(verbosity, Progress::Auto, MessageFormat::Human)
    }

    pub fn with(verbosity: Verbosity, progress: Progress, format: MessageFormat) -> Ui {
        let color = match progress {
            Progress::Auto => std::io::stderr().is_terminal(),
            Progress::Tty => true,
            Progress::Plain => false,
        } && std::env::var_os("NO_COLOR").is_none();
        let terminal = match progress {
            Progress::Auto => std::io::stderr().is_terminal(),
            Progress::Tty => true,
            Progress::Plain => false,
        };
        let live = (terminal && verbosity == Verbosity::Normal).then(|| {
            Arc::new(Live {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                bars: Mutex::new(BTreeMap::new()),
            })
        });
        Ui {
            verbosity,
            format,
            color,
            state: Arc::new(Mutex::new(State::default())),
            live,
        }
    }

    /// cargo has built `crates` units so far for `target` (from its JSON messages).
    pub fn compile_progress(&self, target: &str, crates: usize) {
        if let Some(live) = &self.live {
            let bar = live.bar(target, "Compiling");
            let prefix = bar.message();
            let head = prefix.split(" · ").next().unwrap_or_default().to_string();
            bar.set_message(format!("{head} · {crates} crates built"));
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
    pub fn detail(&self, verb: &str, message: &str) {
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

    /// Reports what happened: recorded for the summary, shown as its status line, and with
    /// `--message-format json` written to stdout as one JSON line.
    pub fn emit(&self, event: Event) {
        if let Ok(mut s) = self.state.lock() {
            s.times.record(&event);
        }
        if self.format == MessageFormat::Json {
            if let Ok(line) = serde_json::to_string(&event) {
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
        }
        if self.live_event(&event) {
            return;
        }
        let size = |n: u64| human_size(n);
        match &event {
            Event::Plan { .. } => {}
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
        }
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
                    human_size(sent)
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

    /// One of cargo's rendered diagnostics. Shown once per build however many targets repeat
    /// it, and only with `-v`; otherwise a distinct warning is counted for [`Ui::hidden_warnings`].
    pub fn cargo_diagnostic(&self, rendered: &str, level: &str) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        if !s.diagnostics.insert(rendered.to_string()) {
            return;
        }
        if self.verbosity >= Verbosity::Verbose {
            drop(s);
            self.block(rendered);
        } else if level == "warning" {
            s.hidden_warnings += 1;
        }
    }

    /// A build failed: its output in full (errors go to stderr even with `-q`), unless `-v`
    /// already showed it as it came.
    pub fn cargo_failed(&self, stderr: &str, diagnostics: &[String]) {
        if self.verbosity >= Verbosity::Verbose {
            return;
        }
        if let Some(live) = &self.live {
            // The errors replace the live lines, so nothing draws over them.
            let _ = live.multi.clear();
        }
        let mut err = std::io::stderr().lock();
        // Each distinct diagnostic once: one cargo run for several targets repeats them.
        let mut seen = BTreeSet::new();
        for d in diagnostics.iter().filter(|d| seen.insert(d.as_str())) {
            let _ = err.write_all(d.as_bytes());
        }
        let _ = err.write_all(stderr.as_bytes());
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

    fn print(&self, verb: &str, message: &str, color: &str) {
        if let Some(live) = &self.live {
            let line = if self.color {
                format!("\x1b[1;{color}m{verb:>12}\x1b[0m {message}")
            } else {
                format!("{verb:>12} {message}")
            };
            let _ = live.multi.println(line);
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = if self.color {
            writeln!(err, "\x1b[1;{color}m{verb:>12}\x1b[0m {message}")
        } else {
            writeln!(err, "{verb:>12} {message}")
        };
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_diagnostic_counts_once() {
        let ui = Ui::with(Verbosity::Normal, Progress::Plain, MessageFormat::Human);
        for _ in 0..3 {
            ui.cargo_diagnostic("warning: unused variable: `x`\n", "warning");
        }
        ui.cargo_diagnostic("warning: unused import\n", "warning");
        ui.cargo_diagnostic("note: something\n", "note");
        assert_eq!(ui.hidden_warnings(), 2);
    }

    #[test]
    fn modes_parse_and_sizes_read() {
        assert_eq!("plain".parse::<Progress>(), Ok(Progress::Plain));
        assert!("fancy"
            .parse::<Progress>()
            .unwrap_err()
            .contains("auto, tty or plain"));
        assert_eq!("json".parse::<MessageFormat>(), Ok(MessageFormat::Json));
        assert_eq!(human_size(3_900_000), "3.9 MB");
        assert_eq!(human_size(512), "512 B");
    }
}
