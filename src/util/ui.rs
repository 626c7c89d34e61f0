//! Messages for people, on stderr, in cargo's style (`   Compiling foo`): right-aligned green
//! verbs when stderr is a terminal, nothing at all with `-q`. Results meant for scripts go to
//! stdout from `main.rs`, never through here.

use std::io::{IsTerminal, Write};

/// How chatty to be.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    #[default]
    Normal,
    Verbose,
}

#[derive(Clone, Debug)]
pub struct Ui {
    pub verbosity: Verbosity,
    color: bool,
}

impl Ui {
    pub fn new(verbosity: Verbosity) -> Ui {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Ui { verbosity, color }
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

    fn print(&self, verb: &str, message: &str, color: &str) {
        let mut err = std::io::stderr().lock();
        let _ = if self.color {
            writeln!(err, "\x1b[1;{color}m{verb:>12}\x1b[0m {message}")
        } else {
            writeln!(err, "{verb:>12} {message}")
        };
    }
}
