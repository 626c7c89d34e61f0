//! Layer packing against its peers, on the same data in the same run, reported as ratios.
//!
//! Input: real executables from /usr/bin and /usr/lib concatenated into one file of the chosen
//! size (default 64 MiB), the kind of bytes a Rust binary layer holds. For each compression we
//! time our one-pass pack (tar + compress + both sha256 digests + write) against
//! `tar | gzip -6`, `tar | pigz -6`, `tar | zstd -3` and `umoci insert` (which does the same job
//! as us: a new gzip layer with its digests, in an OCI layout). Then peak memory of our pack at
//! two input sizes, to show it stays flat.
//!
//! Run: `cargo bench --bench pack` (or `scripts/bench.sh`, which also installs the peers and
//! writes BENCHMARKS.md). Environment: BENCH_MB (input size), BENCH_RUNS (default 5).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cargo_imagebuild::internals::layer::{self, Entry, LayerSpec, PackOptions, Source};
use cargo_imagebuild::internals::model::{Compression, CompressionKind};
use cargo_imagebuild::internals::store::BlobStore;

/// A job: its name, our compression and level, and the peers with their shell commands.
type Case = (
    &'static str,
    CompressionKind,
    i32,
    Vec<(&'static str, String)>,
);

const PROBE_ENV: &str = "IMAGEBUILD_BENCH_RSS_PROBE";

fn main() {
    if let Ok(args) = std::env::var(PROBE_ENV) {
        return rss_probe(&args);
    }
    let mb: u64 = env_num("BENCH_MB", 64);
    let runs: usize = env_num("BENCH_RUNS", 5) as usize;
    let work = tempfile::tempdir().expect("a temporary directory");
    let input = work.path().join("input.bin");
    make_input(&input, mb << 20);
    let mut rows: Vec<String> = Vec::new();
    println!("input: {mb} MiB of real executables; median of {runs} runs\n");
    println!("| job | cargo-imagebuild | output size | peer | peer time | peer output size | time ratio (ours / peer) |");
    println!("| --- | ---: | ---: | --- | ---: | ---: | ---: |");

    let store = BlobStore::open(work.path().join("store")).expect("store");
    let ours_size = std::cell::Cell::new(0u64);
    let ours = |c: CompressionKind, level: i32| {
        median(runs, || {
            let spec = LayerSpec {
                entries: vec![Entry::file(
                    "usr/local/bin/app",
                    Source::Path(input.clone()),
                    0o755,
                )],
                created_by: String::new(),
            };
            let opts = PackOptions {
                compression: Compression::new(c, Some(level)).expect("a valid level"),
                mtime: 0,
            };
            let t = Instant::now();
            let l = layer::pack(&spec, &opts, &store).expect("pack");
            let d = t.elapsed();
            std::fs::remove_file(store.path(&l.blob.digest)).ok();
            ours_size.set(l.blob.size);
            d
        })
    };
    let sh = |script: &str| {
        let script = script.replace("INPUT", &input.display().to_string());
        median(runs, || time_shell(&script))
    };

    let cases: Vec<Case> = vec![
        (
            "gzip -6 layer",
            CompressionKind::Gzip,
            6,
            vec![
                (
                    "tar \\| gzip -6",
                    "tar -cf - INPUT 2>/dev/null | gzip -6 > /dev/null".into(),
                ),
                (
                    "tar \\| pigz -6 (all cores)",
                    "tar -cf - INPUT 2>/dev/null | pigz -6 > /dev/null".into(),
                ),
                ("umoci insert (gzip)", umoci_script(work.path())),
            ],
        ),
        (
            "zstd -3 layer",
            CompressionKind::Zstd,
            3,
            vec![
                (
                    "tar \\| zstd -3",
                    "tar -cf - INPUT 2>/dev/null | zstd -3 -q > /dev/null".into(),
                ),
                (
                    "tar \\| zstd -3 -T0",
                    "tar -cf - INPUT 2>/dev/null | zstd -3 -T0 -q > /dev/null".into(),
                ),
            ],
        ),
        (
            "uncompressed layer",
            CompressionKind::None,
            0,
            vec![(
                "tar \\| sha256sum",
                "tar -cf - INPUT 2>/dev/null | sha256sum > /dev/null".into(),
            )],
        ),
    ];
    for (name, c, level, peers) in cases {
        let t_ours = ours(c, level);
        for (peer, script) in peers {
            let tool = script
                .split_whitespace()
                .find(|w| ["gzip", "pigz", "zstd", "umoci", "sha256sum"].contains(w));
            if let Some(tool) = tool {
                if !on_path(tool) {
                    println!(
                        "| {name} | {} | {} | {peer} | not installed | - | - |",
                        fmt(t_ours),
                        mib(ours_size.get())
                    );
                    continue;
                }
            }
            let t_peer = sh(&script);
            let peer_size = output_size(
                &script.replace("INPUT", &input.display().to_string()),
                work.path(),
            );
            let row = format!(
                "| {name} | {} | {} | {peer} | {} | {} | {:.2} |",
                fmt(t_ours),
                mib(ours_size.get()),
                fmt(t_peer),
                peer_size.map_or("-".to_string(), mib),
                t_ours.as_secs_f64() / t_peer.as_secs_f64()
            );
            println!("{row}");
            rows.push(row);
        }
    }

    println!("\npeak memory (VmHWM) of one pack, gzip -6:");
    println!("| input | peak RSS |");
    println!("| ---: | ---: |");
    for size_mb in [mb / 4, mb * 2] {
        let probe_input = work.path().join(format!("probe-{size_mb}.bin"));
        make_input(&probe_input, size_mb << 20);
        let out = Command::new(std::env::current_exe().expect("bench exe"))
            .env(
                PROBE_ENV,
                format!(
                    "{}|{}",
                    probe_input.display(),
                    work.path().join("probe-store").display()
                ),
            )
            .output()
            .expect("running the memory probe");
        let kb = String::from_utf8_lossy(&out.stdout).trim().to_string();
        println!("| {size_mb} MiB | {kb} kB |");
        std::fs::remove_file(&probe_input).ok();
    }
}

/// Child mode: pack the given file once and print this process's peak RSS in kB.
fn rss_probe(args: &str) {
    let (input, store) = args.split_once('|').expect("probe args");
    let store = BlobStore::open(store).expect("store");
    let spec = LayerSpec {
        entries: vec![Entry::file(
            "app",
            Source::Path(PathBuf::from(input)),
            0o755,
        )],
        created_by: String::new(),
    };
    let opts = PackOptions {
        compression: Compression::Gzip(6),
        mtime: 0,
    };
    layer::pack(&spec, &opts, &store).expect("pack");
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?");
    println!("{hwm}");
}

/// A script that makes a fresh one-layer OCI layout and times `umoci insert` of the input.
fn umoci_script(work: &Path) -> String {
    let l = work.join("umoci-layout");
    format!(
        "rm -rf {l} && umoci init --layout {l} && umoci new --image {l}:t && \
         umoci insert --image {l}:t INPUT /usr/local/bin/app >/dev/null",
        l = l.display()
    )
}

/// What a peer produced, in bytes: its pipeline's output counted by `wc -c`, or the largest blob
/// of the umoci layout. The sha256sum peer produces no layer and has no size.
fn output_size(script: &str, work: &Path) -> Option<u64> {
    let counting = if script.contains("umoci") {
        format!(
            "stat -c %s $(ls -S -d {}/umoci-layout/blobs/sha256/* | head -1)",
            work.display()
        )
    } else if script.contains("sha256sum") {
        return None;
    } else {
        script.replace("> /dev/null", "| wc -c")
    };
    let out = Command::new("sh").args(["-c", &counting]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn on_path(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn time_shell(script: &str) -> Duration {
    let t = Instant::now();
    let st = Command::new("sh")
        .args(["-c", script])
        .status()
        .expect("sh");
    assert!(st.success(), "peer failed: {script}");
    t.elapsed()
}

fn median(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    f(); // warm the page cache
    let mut v: Vec<Duration> = (0..runs.max(1)).map(|_| f()).collect();
    v.sort();
    v[v.len() / 2]
}

fn fmt(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// Fills `path` with `size` bytes of real executables (repeated if the system has too few).
fn make_input(path: &Path, size: u64) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("input file"));
    let mut written = 0u64;
    let mut sources: Vec<PathBuf> = ["/usr/bin", "/usr/lib/x86_64-linux-gnu", "/usr/sbin"]
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    sources.sort();
    // Bounded: at most 64 passes over the sources.
    for _ in 0..64 {
        for s in &sources {
            if written >= size {
                return;
            }
            if let Ok(bytes) = std::fs::read(s) {
                let take = bytes.len().min((size - written) as usize);
                out.write_all(&bytes[..take]).expect("write input");
                written += take as u64;
            }
        }
    }
    assert!(
        written >= size,
        "could not gather {size} bytes of executables"
    );
}
