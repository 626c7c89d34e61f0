//! The events of a build, as the stages report them: [`Event`] is what happened (the plan was
//! made, a target started or finished compiling, a layer was packed or reused, a blob went to a
//! registry, an image was written). The stages call [`Ui::emit`](super::ui::Ui::emit) and know
//! nothing of how it is shown: [`super::ui`] turns each event into a status line for people, a
//! JSON line on stdout for `--message-format json` (cargo's convention: one object a line, with a
//! `reason`), and the per-stage times of the final summary ([`StageTimes`]).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// One thing that happened during a build. Serialized as `{"reason":"compile-started",…}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Event {
    /// The resolved plan (what `--dry-run` prints), before anything runs.
    Plan { plan: serde_json::Value },
    /// cargo started building `bins` for `target`: the `n`th of `of` targets.
    CompileStarted {
        target: String,
        bins: Vec<String>,
        n: usize,
        of: usize,
    },
    /// cargo finished building for `target`.
    CompileFinished { target: String, seconds: f64 },
    /// A layer is in the blob store: packed now, or `reused` from an earlier run.
    LayerPacked {
        digest: String,
        size: u64,
        reused: bool,
        created_by: String,
        seconds: f64,
    },
    /// A blob reached a registry: `how` is `uploaded`, `mounted` (cross-repository), `streamed`
    /// (copied from a base's registry) or `present` (the registry had it; nothing was sent).
    BlobUploaded {
        repository: String,
        digest: String,
        size: u64,
        how: &'static str,
    },
    /// A binary's images were written to one destination.
    ImageWritten {
        bin: String,
        destination: String,
        pushed: bool,
        index_digest: String,
        seconds: f64,
    },
}

impl Event {
    /// The stage this event's time counts toward in the summary, with that time.
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

/// Time spent per stage, summed over the events of a build (packing runs on several threads,
/// so its sum can exceed the wall-clock time it took), and the layer counts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageTimes {
    pub stages: BTreeMap<&'static str, Duration>,
    /// Layers packed by this run.
    pub packed: usize,
    /// Layers found already packed by an earlier run.
    pub reused: usize,
}

impl StageTimes {
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
}

/// "packed 2 layers, 4 reused": what this run packed and what it found already packed.
pub fn packed_counts(packed: usize, reused: usize) -> String {
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
}
