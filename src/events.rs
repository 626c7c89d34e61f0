//! What a build reports as it goes: [`Event`] is one thing that happened (the plan was made, a
//! target started or finished compiling, a layer was packed, a blob reached a registry, an image
//! was written, or a message for people), and a [`Listener`] receives every event of a run, in
//! order, from whichever thread the stage runs on.
//!
//! The stages know nothing of how events are shown: the `cargo-imagebuild` binary turns them
//! into status lines, a live display on a terminal or `--message-format json` lines, and a
//! library caller can collect them, forward them to a channel, or ignore them:
//!
//! ```
//! use cargo_imagebuild::{Event, Listener};
//! let (tx, rx) = std::sync::mpsc::channel::<Event>();
//! let listener: &dyn Listener = &tx; // a Sender is a Listener
//! listener.event(&Event::Warning { message: "careful".into() });
//! assert!(matches!(rx.recv().unwrap(), Event::Warning { .. }));
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// One thing that happened during a run. Serialized as cargo serializes its messages: an
/// object whose `reason` names the kind (`{"reason":"compile-started",…}`).
///
/// The pipeline's events come first; [`Event::is_message`] tells the messages for people
/// (status lines, details, warnings, cargo's own output) from them.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Event {
    /// The resolved plan (what `--dry-run` prints), before anything runs.
    Plan {
        /// The plan, as [`Plan`](crate::Plan) serializes.
        plan: serde_json::Value,
    },
    /// cargo started building `bins` for `target`: the `n`th of `of` targets.
    CompileStarted {
        /// The Rust target triple.
        target: String,
        /// The binaries built for it.
        bins: Vec<String>,
        /// This target's place among the run's targets, from 1.
        n: usize,
        /// How many targets the run compiles.
        of: usize,
    },
    /// cargo has built `crates` units so far for `target`.
    CompileProgress {
        /// The Rust target triple.
        target: String,
        /// Units (crates, build scripts) built so far.
        crates: usize,
    },
    /// cargo finished building for `target`.
    CompileFinished {
        /// The Rust target triple.
        target: String,
        /// Seconds since the one before it in the same cargo run was ready.
        seconds: f64,
    },
    /// A layer is in the blob store: packed now, or `reused` from an earlier run.
    LayerPacked {
        /// The compressed blob's digest.
        digest: String,
        /// The compressed blob's size in bytes.
        size: u64,
        /// Found packed by an earlier run.
        reused: bool,
        /// What the layer holds, as the image config's history says.
        created_by: String,
        /// Seconds the packing took.
        seconds: f64,
    },
    /// A blob reached a registry: `how` is `uploaded`, `mounted` (cross-repository), `streamed`
    /// (copied from a base's registry) or `present` (the registry had it; nothing was sent).
    BlobUploaded {
        /// The repository it went to.
        repository: String,
        /// The blob's digest.
        digest: String,
        /// Its size in bytes.
        size: u64,
        /// How it got there.
        how: &'static str,
    },
    /// A manifest's cosign signature reached a registry, under the tag `sha256-<hex>.sig`.
    Signed {
        /// The repository.
        repository: String,
        /// The signed manifest's (or index's) digest.
        digest: String,
        /// The tag the signature image is stored under.
        tag: String,
    },
    /// A platform manifest's signed attestations (DSSE envelopes of its SBOM and provenance)
    /// reached a registry, under the tag `sha256-<hex>.att`.
    Attested {
        /// The repository.
        repository: String,
        /// The attested manifest's digest.
        digest: String,
        /// The tag the attestation image is stored under.
        tag: String,
        /// The statements' predicate types.
        predicate_types: Vec<String>,
    },
    /// A binary's images were written to one destination.
    ImageWritten {
        /// The binary.
        bin: String,
        /// Where they went, for people: `OCI layout target/imagebuild/api`.
        destination: String,
        /// Whether the destination is a registry.
        pushed: bool,
        /// The digest of the binary's image index.
        index_digest: String,
        /// Seconds the write took.
        seconds: f64,
    },
    /// A status line for people, in cargo's style: `verb` right-aligned, then `message`
    /// (`Installing rust-std for aarch64-unknown-linux-musl`).
    Status {
        /// `Installing`, `Wrote`, `Note`, …
        verb: String,
        /// The rest of the line.
        message: String,
    },
    /// A detail for people who asked for them (`-v`): the route of a target, a command run.
    Detail {
        /// `Route`, `Running`, `Timing`, …
        verb: String,
        /// The rest of the line (may span lines).
        message: String,
    },
    /// Something the user should know that does not stop the run.
    Warning {
        /// The warning, one sentence or two.
        message: String,
    },
    /// A line of cargo's own stderr (its progress, with `cargo_verbose` its command lines).
    CargoOutput {
        /// The line, without its newline.
        line: String,
    },
    /// One of the compiler's rendered diagnostics: each distinct one is reported once per run,
    /// however many targets repeat it.
    CargoDiagnostic {
        /// The diagnostic as rustc renders it.
        rendered: String,
        /// `warning`, `error`, `note`, …
        level: String,
    },
    /// A cargo build failed: every distinct diagnostic, then cargo's stderr in full.
    CargoFailed {
        /// cargo's stderr.
        stderr: String,
        /// The distinct rendered diagnostics, in order.
        diagnostics: Vec<String>,
    },
}

impl Event {
    /// Whether this is a message for people (status, detail, warning, cargo's output) rather
    /// than a step of the pipeline: `--message-format json` writes only the steps.
    pub fn is_message(&self) -> bool {
        matches!(
            self,
            Event::CompileProgress { .. }
                | Event::Status { .. }
                | Event::Detail { .. }
                | Event::Warning { .. }
                | Event::CargoOutput { .. }
                | Event::CargoDiagnostic { .. }
                | Event::CargoFailed { .. }
        )
    }

    /// The stage this event's time counts toward in a summary, with that time.
    fn stage_time(&self) -> Option<(&'static str, Duration)> {
        let secs = |s: f64| Duration::from_secs_f64(s.max(0.0));
        match self {
            Event::CompileFinished { seconds, .. } => Some(("compile", secs(*seconds))),
            Event::LayerPacked { seconds, .. } => Some(("pack", secs(*seconds))),
            Event::ImageWritten {
                seconds, pushed, ..
            } => Some((if *pushed { "push" } else { "write" }, secs(*seconds))),
            _ => None,
        }
    }
}

/// Receives the events of a run. Called from the stages' threads (packing runs on several), so
/// it must be `Send + Sync`; it should return quickly (it runs inside the pipeline).
///
/// Implemented for `()` (ignores everything), for closures `Fn(&Event)`, for
/// [`std::sync::mpsc::Sender<Event>`] (each event is sent; a closed channel is ignored), and for
/// `Arc`s of listeners.
pub trait Listener: Send + Sync {
    /// One event, in the order the run reports them.
    fn event(&self, event: &Event);
}

impl Listener for () {
    fn event(&self, _: &Event) {}
}

impl<F: Fn(&Event) + Send + Sync> Listener for F {
    fn event(&self, event: &Event) {
        self(event)
    }
}

impl Listener for std::sync::mpsc::Sender<Event> {
    fn event(&self, event: &Event) {
        let _ = self.send(event.clone());
    }
}

impl<L: Listener + ?Sized> Listener for std::sync::Arc<L> {
    fn event(&self, event: &Event) {
        (**self).event(event)
    }
}

/// Time spent per stage, summed over the events of a run (packing runs on several threads, so
/// its sum can exceed the wall-clock time it took), and the layer counts: what a summary shows.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct StageTimes {
    /// Time per stage: `compile`, `pack`, `write`, `push`.
    pub stages: BTreeMap<&'static str, Duration>,
    /// Layers packed by this run.
    pub packed: usize,
    /// Layers found already packed by an earlier run.
    pub reused: usize,
}

impl StageTimes {
    /// Adds what `event` says to the totals.
    pub fn record(&mut self, event: &Event) {
        if let Some((stage, took)) = event.stage_time() {
            *self.stages.entry(stage).or_default() += took;
        }
        if let Event::LayerPacked { reused, .. } = event {
            if *reused {
                self.reused += 1;
            } else {
                self.packed += 1;
            }
        }
    }

    /// `compile 12.3s, pack 0.4s, push 1.2s` in pipeline order, stages that took place only.
    pub fn line(&self) -> String {
        ["compile", "pack", "write", "push"]
            .iter()
            .filter_map(|s| {
                self.stages
                    .get(s)
                    .map(|d| format!("{s} {:.1}s", d.as_secs_f64()))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// "packed 2 layers, 4 reused": what the run packed and what it found already packed.
    pub fn packed_counts(&self) -> String {
        packed_counts(self.packed, self.reused)
    }
}

/// "packed 2 layers, 4 reused": what a run packed and what it found already packed.
pub(crate) fn packed_counts(packed: usize, reused: usize) -> String {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    match (packed, reused) {
        (p, 0) => format!("packed {p} layer{}", plural(p)),
        (0, r) => format!("packed nothing, {r} layer{} reused", plural(r)),
        (p, r) => format!("packed {p} layer{}, {r} reused", plural(p)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_with_cargo_style_reasons() {
        let e = Event::CompileStarted {
            target: "x86_64-unknown-linux-musl".into(),
            bins: vec!["api".into()],
            n: 1,
            of: 2,
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["reason"], "compile-started");
        assert_eq!(v["target"], "x86_64-unknown-linux-musl");
        assert_eq!(v["of"], 2);
        assert!(!e.is_message());
        assert!(Event::Warning {
            message: "x".into()
        }
        .is_message());
    }

    #[test]
    fn counts_say_what_they_count() {
        assert_eq!(packed_counts(2, 4), "packed 2 layers, 4 reused");
        assert_eq!(packed_counts(1, 0), "packed 1 layer");
        assert_eq!(packed_counts(0, 3), "packed nothing, 3 layers reused");
        let mut t = StageTimes::default();
        for reused in [true, false, true] {
            t.record(&Event::LayerPacked {
                digest: "sha256:00".into(),
                size: 1,
                reused,
                created_by: "x".into(),
                seconds: 0.5,
            });
        }
        t.record(&Event::CompileFinished {
            target: "t".into(),
            seconds: 2.0,
        });
        assert_eq!((t.packed, t.reused), (1, 2));
        assert_eq!(t.line(), "compile 2.0s, pack 1.5s");
    }

    #[test]
    fn listeners_of_every_kind_receive() {
        let (tx, rx) = std::sync::mpsc::channel();
        let e = Event::Status {
            verb: "Wrote".into(),
            message: "x".into(),
        };
        tx.event(&e);
        assert_eq!(rx.try_recv().unwrap(), e);
        let seen = std::sync::Mutex::new(0);
        let count = |_: &Event| *seen.lock().unwrap() += 1;
        count.event(&e);
        ().event(&e);
        std::sync::Arc::new(count).event(&e);
        assert_eq!(*seen.lock().unwrap(), 2);
    }
}
