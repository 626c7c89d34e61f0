//! How the stages report: a [`Reporter`] is handed down every stage and turns what they say
//! (`status`, `detail`, `warn`, cargo's diagnostics, the pipeline's [`Event`]s) into events for
//! the run's [`Listener`]. It keeps what the run's own messages need (the stage times behind
//! "packed 2 layers, 1 reused") and shows each distinct cargo diagnostic once over all targets.
//! How anything is shown is the listener's business: this file prints nothing.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use crate::events::{Event, Listener, StageTimes};

/// The run's reporter: cheap to clone (the clones share the listener and the counts).
#[derive(Clone)]
pub struct Reporter {
    listener: Arc<dyn Listener>,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reporter")
    }
}

/// What the events of one run add up to.
#[derive(Debug, Default)]
struct State {
    times: StageTimes,
    /// cargo diagnostics already reported, so each is reported once over every target.
    diagnostics: BTreeSet<String>,
}

impl Reporter {
    /// Reports to `listener`.
    pub fn new(listener: Arc<dyn Listener>) -> Reporter {
        Reporter {
            listener,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    /// Reports to no one: for work no caller watches (a check inside a sink).
    pub fn silent() -> Reporter {
        Reporter::new(Arc::new(()))
    }

    /// Reports what happened: recorded for the stage times, then passed to the listener.
    pub fn emit(&self, event: Event) {
        if let Ok(mut s) = self.state.lock() {
            s.times.record(&event);
        }
        self.listener.event(&event);
    }

    /// cargo has built `crates` units so far for `target` (from its JSON messages).
    pub fn compile_progress(&self, target: &str, crates: usize) {
        self.emit(Event::CompileProgress {
            target: target.to_string(),
            crates,
        });
    }

    /// A status line: `   Verb message`.
    pub fn status(&self, verb: &str, message: &str) {
        self.emit(Event::Status {
            verb: verb.to_string(),
            message: message.to_string(),
        });
    }

    /// A detail, for those who asked for them (`-v`).
    pub fn detail(&self, verb: &str, message: &str) {
        self.emit(Event::Detail {
            verb: verb.to_string(),
            message: message.to_string(),
        });
    }

    /// A warning.
    pub fn warn(&self, message: &str) {
        self.emit(Event::Warning {
            message: message.to_string(),
        });
    }

    /// A line of cargo's stderr.
    pub fn cargo_output(&self, line: &str) {
        self.emit(Event::CargoOutput {
            line: line.to_string(),
        });
    }

    /// One of cargo's rendered diagnostics: reported once per run however many targets
    /// repeat it.
    pub fn cargo_diagnostic(&self, rendered: &str, level: &str) {
        let fresh = self
            .state
            .lock()
            .map(|mut s| s.diagnostics.insert(rendered.to_string()))
            .unwrap_or(true);
        if fresh {
            self.emit(Event::CargoDiagnostic {
                rendered: rendered.to_string(),
                level: level.to_string(),
            });
        }
    }

    /// A build failed: its distinct diagnostics and its stderr.
    pub fn cargo_failed(&self, stderr: &str, diagnostics: &[String]) {
        let mut seen = BTreeSet::new();
        let diagnostics = diagnostics
            .iter()
            .filter(|d| seen.insert(d.as_str()))
            .cloned()
            .collect();
        self.emit(Event::CargoFailed {
            stderr: stderr.to_string(),
            diagnostics,
        });
    }

    /// Time per stage and layer counts so far.
    pub fn times(&self) -> StageTimes {
        self.state
            .lock()
            .map(|s| s.times.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_diagnostic_is_reported_once() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let r = Reporter::new(Arc::new(move |e: &Event| {
            log.lock().unwrap().push(e.clone())
        }));
        for _ in 0..3 {
            r.cargo_diagnostic("warning: unused variable: `x`\n", "warning");
        }
        r.cargo_diagnostic("warning: unused import\n", "warning");
        assert_eq!(seen.lock().unwrap().len(), 2);
    }
}
