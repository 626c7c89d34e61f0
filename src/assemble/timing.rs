//! Where a build's time went, per stage: each target's compile, each layer's packing, assembly,
//! and how much packing ran while cargo was still compiling (the pipeline overlap). Recorded as
//! intervals from one clock and summarized for `-v`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The time spans of one build. Shared by the compiling thread and the packing workers.
#[derive(Debug)]
pub struct Timings {
    start: Instant,
    inner: Mutex<Spans>,
}

#[derive(Debug, Default)]
struct Spans {
    compiles: Vec<(String, Instant, Instant)>,
    packs: Vec<(Instant, Instant)>,
    assemble: Option<Duration>,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            start: Instant::now(),
            inner: Mutex::new(Spans::default()),
        }
    }
}

impl Timings {
    pub fn compiled(&self, triple: &str, from: Instant) {
        if let Ok(mut s) = self.inner.lock() {
            s.compiles.push((triple.to_string(), from, Instant::now()));
        }
    }

    pub fn packed(&self, from: Instant) {
        if let Ok(mut s) = self.inner.lock() {
            s.packs.push((from, Instant::now()));
        }
    }

    pub fn assembled(&self, took: Duration) {
        if let Ok(mut s) = self.inner.lock() {
            s.assemble = Some(took);
        }
    }

    /// Lines for `-v`: one per stage, then the total.
    pub fn summary(&self) -> Vec<String> {
        let Ok(s) = self.inner.lock() else {
            return Vec::new();
        };
        let secs = |d: Duration| format!("{:.2}s", d.as_secs_f64());
        let mut lines = Vec::new();
        // Targets built in one cargo invocation overlap: count the time covered once.
        let covered = union(s.compiles.iter().map(|(_, a, b)| (*a, *b)).collect());
        let compile_total: Duration = covered.iter().map(|(a, b)| *b - *a).sum();
        let per: Vec<String> = s
            .compiles
            .iter()
            .map(|(t, a, b)| format!("{t} {}", secs(*b - *a)))
            .collect();
        lines.push(format!(
            "compile: {} for {} target{} (each ready after: {})",
            secs(compile_total),
            s.compiles.len(),
            if s.compiles.len() == 1 { "" } else { "s" },
            per.join(", ")
        ));
        let pack_total: Duration = s.packs.iter().map(|(a, b)| *b - *a).sum();
        let overlap: Duration = s
            .packs
            .iter()
            .map(|p| covered.iter().map(|c| intersect(*p, *c)).sum::<Duration>())
            .sum();
        lines.push(format!(
            "pack: {} for {} layer{}, {} of it while cargo was compiling",
            secs(pack_total),
            s.packs.len(),
            if s.packs.len() == 1 { "" } else { "s" },
            secs(overlap)
        ));
        if let Some(a) = s.assemble {
            lines.push(format!("assemble: {}", secs(a)));
        }
        lines.push(format!("total: {}", secs(self.start.elapsed())));
        lines
    }
}

/// The spans merged where they overlap, in order.
fn union(mut spans: Vec<(Instant, Instant)>) -> Vec<(Instant, Instant)> {
    spans.sort();
    let mut merged: Vec<(Instant, Instant)> = Vec::new();
    for (a, b) in spans {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// How long two spans overlap.
fn intersect(a: (Instant, Instant), b: (Instant, Instant)) -> Duration {
    let start = a.0.max(b.0);
    let end = a.1.min(b.1);
    end.saturating_duration_since(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_is_the_intersection_of_spans() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        assert_eq!(
            intersect((at(0), at(10)), (at(5), at(20))),
            Duration::from_millis(5)
        );
        assert_eq!(intersect((at(0), at(10)), (at(10), at(20))), Duration::ZERO);
        assert_eq!(intersect((at(30), at(40)), (at(0), at(20))), Duration::ZERO);
        let t = Timings::default();
        t.compiled("x86_64-unknown-linux-musl", Instant::now());
        t.packed(Instant::now());
        t.assembled(Duration::from_millis(3));
        let s = t.summary();
        assert!(
            s[0].starts_with("compile: ") && s[0].contains("1 target ("),
            "{s:?}"
        );
        assert!(
            s[1].starts_with("pack: ") && s[1].contains("1 layer,"),
            "{s:?}"
        );
        assert_eq!(s[2], "assemble: 0.00s");
        assert!(s[3].starts_with("total: "));
    }
}
