//! The kept `cargo metadata` answer is used only while nothing it depends on changed: in a temp
//! copy of a tiny workspace, each input is edited in turn (a member's manifest, a new binary
//! file, `Cargo.lock`, `.cargo/config.toml`, a variable cargo reads) and the next plan says
//! "cargo metadata: ran" and sees the change; an unchanged rerun says "cached". Only cargo is
//! needed, so this is the fast tier.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use cargo_imagebuild::{Event, Listener, Options, PlatformChoice};

/// Keeps the `cargo metadata: …` detail lines.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

impl Listener for Lines {
    fn event(&self, event: &Event) {
        if let Event::Detail { message, .. } = event {
            if message.starts_with("cargo metadata:") {
                self.0.lock().unwrap().push(message.clone());
            }
        }
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Dates `paths` ten seconds back, as if edited a while ago: an input modified in the two
/// seconds before cargo runs is not trusted with its answer (see `plan/metadata_cache.rs`).
fn age(paths: &[&Path]) {
    let then = SystemTime::now() - Duration::from_secs(10);
    for p in paths {
        std::fs::File::open(p).unwrap().set_modified(then).unwrap();
    }
}

struct Ws {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Ws {
    fn new() -> Ws {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        write(
            &root.join("Cargo.toml"),
            "[workspace]\nmembers = [\"app\"]\nresolver = \"2\"\n",
        );
        write(
            &root.join("app/Cargo.toml"),
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        );
        write(&root.join("app/src/main.rs"), "fn main() {}\n");
        Ws { _dir: dir, root }
    }

    /// Every file and directory of the workspace, dated back (see [`age`]).
    fn age_all(&self) {
        let mut stack = vec![self.root.clone()];
        let mut all = Vec::new();
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    if !p.ends_with("target") {
                        stack.push(p.clone());
                        all.push(p);
                    }
                } else {
                    all.push(p);
                }
            }
        }
        all.push(self.root.clone());
        let refs: Vec<&Path> = all.iter().map(PathBuf::as_path).collect();
        age(&refs);
    }

    /// Plans with `vars` set on top of this process's environment (without a target directory
    /// of its own: the workspace's `target/` holds the cache), and returns the metadata line
    /// and the binaries and versions planned.
    fn plan(&self, vars: &[(&str, &str)]) -> (String, Vec<String>) {
        let mut opts = Options::default();
        opts.manifest_path = Some(self.root.join("Cargo.toml"));
        opts.platforms = PlatformChoice::parse(&["linux/amd64"]).unwrap();
        for v in ["CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR", "RUSTFLAGS"] {
            opts.env.remove(v);
        }
        for (k, v) in vars {
            opts.env.set(*k, *v);
        }
        let lines = Lines::default();
        let plan = cargo_imagebuild::plan(&opts, lines.clone()).unwrap();
        let json = plan.to_json();
        let images: Vec<String> = json["images"]
            .as_array()
            .expect("the plan's images")
            .iter()
            .map(|i| format!("{} {}", i["bin"].as_str().unwrap(), i["version"]))
            .collect();
        let got = lines.0.lock().unwrap().clone();
        assert_eq!(got.len(), 1, "one metadata line per plan: {got:?}");
        (got[0].clone(), images)
    }
}

/// What is edited, how, and the variables set from then on.
type Edit = (
    &'static str,
    Box<dyn Fn(&Ws)>,
    Vec<(&'static str, &'static str)>,
);

fn cached(line: &str) -> bool {
    match line.split_whitespace().nth(2) {
        Some("cached") => true,
        Some("ran") => false,
        _ => panic!("unexpected line: {line}"),
    }
}

#[test]
fn each_input_edited_makes_cargo_run_again_and_nothing_edited_does_not() {
    let ws = Ws::new();
    // First run: cargo writes Cargo.lock, so the answer is not kept yet.
    let (first, images) = ws.plan(&[]);
    assert!(!cached(&first), "{first}");
    assert_eq!(images.len(), 1, "{images:?}");
    ws.age_all();
    let (line, _) = ws.plan(&[]);
    assert!(!cached(&line), "{line}");
    let (line, same) = ws.plan(&[]);
    assert!(cached(&line), "an unchanged rerun is a hit: {line}");
    assert_eq!(same, images);
    let key = line.clone();
    // Our own variables do not change cargo's answer.
    let (line, _) = ws.plan(&[("CARGO_IMAGEBUILD_TAGS", "x")]);
    assert_eq!(line, key, "CARGO_IMAGEBUILD_* is not cargo's");

    // Each edit: the next plan asks cargo (and sees the change), the one after is a hit again.
    let mut edits: Vec<Edit> = vec![
        (
            "a member's manifest",
            Box::new(|ws: &Ws| {
                write(
                    &ws.root.join("app/Cargo.toml"),
                    "[package]\nname = \"app\"\nversion = \"0.2.0\"\nedition = \"2021\"\n",
                )
            }),
            vec![],
        ),
        (
            "a new binary in src/bin",
            Box::new(|ws: &Ws| write(&ws.root.join("app/src/bin/extra.rs"), "fn main() {}\n")),
            vec![],
        ),
        (
            "Cargo.lock",
            Box::new(|ws: &Ws| {
                let lock = ws.root.join("Cargo.lock");
                let text = std::fs::read_to_string(&lock).unwrap();
                write(&lock, &text.replace("version = 4", "version = 3"));
            }),
            vec![],
        ),
        (
            ".cargo/config.toml",
            Box::new(|ws: &Ws| {
                write(
                    &ws.root.join(".cargo/config.toml"),
                    "[term]\nverbose = false\n",
                )
            }),
            vec![],
        ),
        (
            "a variable cargo reads",
            Box::new(|_: &Ws| {}),
            vec![("CARGO_NET_RETRY", "7")],
        ),
    ];
    let mut keys = vec![key];
    for (what, edit, vars) in edits.drain(..) {
        edit(&ws);
        ws.age_all();
        let (line, images) = ws.plan(&vars);
        assert!(!cached(&line), "after editing {what}, cargo runs: {line}");
        assert!(!keys.contains(&line), "{what}: a new key, {line}");
        if what == "a member's manifest" {
            assert!(images.iter().all(|i| i.contains("0.2.0")), "{images:?}");
        }
        if what == "a new binary in src/bin" {
            assert!(images.iter().any(|i| i.starts_with("extra ")), "{images:?}");
        }
        // cargo may have rewritten Cargo.lock; dated back, the next run keeps the answer.
        ws.age_all();
        let (mut again, _) = ws.plan(&vars);
        if !cached(&again) {
            // The lock rewritten by the run before is trusted only once it is dated back.
            ws.age_all();
            again = ws.plan(&vars).0;
        }
        assert!(cached(&again), "unchanged after editing {what}: {again}");
        keys.push(line.replace("ran", "cached"));
        assert_eq!(again, *keys.last().unwrap());
    }
    // The variable removed again: the entry made without it is still there and still right.
    let (line, _) = ws.plan(&[]);
    assert!(cached(&line), "{line}");
    // The cache lives under the workspace's target directory, one file per entry.
    let entries = std::fs::read_dir(ws.root.join("target/imagebuild/.work/metadata-cache"))
        .unwrap()
        .count();
    assert!(entries >= 2, "{entries}");
}
