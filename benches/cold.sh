#!/usr/bin/env bash
# Cold end to end: three platforms (linux/amd64, linux/arm64, linux/386) of a real workspace with
# about 100 crates.io dependencies (clap, serde, tokio, regex, rayon, tracing, …; pure Rust, so the
# musl targets link with rust-lld and need no C toolchain), from an empty target directory to a
# fresh repository of a local registry, against what a pipeline does without us: three sequential
# `cargo build --release --target T` runs, then the push of their binaries. The push is timed
# with our tool (nothing left to compile, layer cache empty), so the comparison is about the
# schedule: one cargo run for every target, uploads started while cargo still compiles.
# Sources are fetched before any timing. Environment: BENCH_COLD_RUNS (default 1; each run is two
# cold builds of three targets), IMAGEBUILD as in benches/e2e.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${BENCH_COLD_RUNS:-1}
IB=${IMAGEBUILD:-$PWD/target/release/cargo-imagebuild}
[ -x "$IB" ] || cargo build --release --locked --quiet
. benches/lib.sh
DIGITS=1
mkdir -p "$work/bin" && ln -s "$IB" "$work/bin/cargo-imagebuild"
export PATH=$work/bin:$PATH

ws=$work/cold
mkdir -p "$ws/src"
cat > "$ws/Cargo.toml" <<TOML
[package]
name = "cold"
version = "0.1.0"
edition = "2021"
[workspace]
[dependencies]
clap = { version = "4", features = ["derive"] }
serde = { version = "1", features = ["derive"] }
serde_json = "1"
tokio = { version = "1", features = ["full"] }
regex = "1"
chrono = "0.4"
rand = "0.9"
tracing = "0.1"
tracing-subscriber = { version = "0.3", features = ["env-filter", "json"] }
toml = "0.9"
uuid = { version = "1", features = ["v4"] }
rayon = "1"
anyhow = "1"
thiserror = "2"
futures = "0.3"
bytes = "1"
itertools = "0.14"
semver = "1"
TOML
echo 'fn main() { println!("cold {}", regex::Regex::new("a+").unwrap().is_match("aa")); }' > "$ws/src/main.rs"
(cd "$ws" && cargo generate-lockfile -q && cargo fetch -q)
deps=$(cd "$ws" && cargo metadata -q --format-version 1 --filter-platform x86_64-unknown-linux-musl \
  | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["resolve"]["nodes"]))')
PLATFORMS=linux/amd64,linux/arm64,linux/386
TRIPLES=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl i686-unknown-linux-musl)
for t in "${TRIPLES[@]}"; do rustup target add "$t" >/dev/null 2>&1 || true; done

ours() {
  rm -rf "$work/t-ours"
  (cd "$ws" && CARGO_TARGET_DIR=$work/t-ours cargo imagebuild -q --platform $PLATFORMS --push -t "$REG/ours$RUN:1" >/dev/null)
}
sequential() {
  rm -rf "$work/t-seq"
  for t in "${TRIPLES[@]}"; do
    local var=CARGO_TARGET_$(echo "$t" | tr 'a-z-' 'A-Z_')_LINKER
    (cd "$ws" && env "$var=rust-lld" CARGO_TARGET_DIR=$work/t-seq cargo build -q --release --target "$t")
  done
}
# The push of the sequential builds' binaries: nothing left to compile, the layer cache emptied.
push_only() {
  rm -rf "$work/t-ours/imagebuild/.work/blobs"
  (cd "$ws" && CARGO_TARGET_DIR=$work/t-ours cargo imagebuild -q --platform $PLATFORMS --push -t "$REG/push$RUN:1" >/dev/null)
}
t_ours=$(time_runs ours ours)
t_seq=$(time_runs sequential sequential)
t_push=$(time_runs push push_only)
t_peer=$(echo "$t_seq + $t_push" | bc)

echo "Cold, from an empty target directory: three platforms of a workspace with $deps packages"
echo "(the binary and its dependencies for one target), pushed to a fresh repository of a local"
echo "registry. Median of $RUNS run(s) of \`benches/cold.sh\`, both sides in the same run."
echo
echo "| job | seconds | ours / this |"
echo "| --- | ---: | ---: |"
echo "| cargo imagebuild --push, cold | $t_ours | 1.00 |"
echo "| three sequential cargo build --release --target, cold | $t_seq | - |"
echo "| then the push of their binaries (nothing to compile, layers packed and uploaded) | $t_push | - |"
echo "| the two together | $t_peer | $(ratio "$t_ours" "$t_peer") |"
