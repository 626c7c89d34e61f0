#!/usr/bin/env bash
# The dev loop: after a one-line change to main.rs, `cargo imagebuild --load` for the daemon's own
# platform against `cargo build --release --target T` of that target alone, side by side, each
# with its own warm target directory (the workspace is benches/cold.sh's ~100-package one, built
# once before any timing). The load goes into a dockerd of this script's own (Debian's docker.io,
# no network, stopped at the end). Each run changes the same line to a new value on both sides.
# Environment: BENCH_INCREMENTAL_RUNS (default 5), IMAGEBUILD as in benches/e2e.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${BENCH_INCREMENTAL_RUNS:-5}
IB=${IMAGEBUILD:-$PWD/target/release/cargo-imagebuild}
[ -x "$IB" ] || cargo build --release --locked --quiet
. benches/lib.sh
mkdir -p "$work/bin" && ln -s "$IB" "$work/bin/cargo-imagebuild"
export PATH=$work/bin:$PATH

# A dockerd of our own; its socket path must fit in 108 bytes.
dk=$(mktemp -d /tmp/ibdk.XXXXXX)
dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=overlay2 \
  -H "unix://$dk/d.sock" --data-root "$dk/data" --exec-root "$dk/e" --pidfile "$dk/d.pid" \
  > "$dk/dockerd.log" 2>&1 &
dk_pid=$!
stop_dockerd() {
  kill "$dk_pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$dk_pid" 2>/dev/null || break; sleep 0.1; done
  rm -rf "$dk"
  cleanup
}
trap stop_dockerd EXIT
export DOCKER_HOST=unix://$dk/d.sock
for _ in $(seq 1 300); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
docker info >/dev/null || { echo "dockerd did not start:" >&2; cat "$dk/dockerd.log" >&2; exit 1; }

ws=$work/loop
mkdir -p "$ws/src"
cat > "$ws/Cargo.toml" <<TOML
[package]
name = "loop"
version = "0.1.0"
edition = "2021"
[workspace]
[dependencies]
clap = { version = "4", features = ["derive"] }
serde = { version = "1", features = ["derive"] }
serde_json = "1"
tokio = { version = "1", features = ["full"] }
regex = "1"
tracing = "0.1"
tracing-subscriber = { version = "0.3", features = ["env-filter", "json"] }
anyhow = "1"
TOML
edit() { echo "fn main() { println!(\"loop {}\", regex::Regex::new(\"a+\").unwrap().is_match(\"$1\")); }" > "$ws/src/main.rs"; }
edit warm
(cd "$ws" && cargo generate-lockfile -q && cargo fetch -q)
TRIPLE=x86_64-unknown-linux-musl
linker_var=CARGO_TARGET_$(echo "$TRIPLE" | tr 'a-z-' 'A-Z_')_LINKER

ours() {
  edit "ours$RUN"
  (cd "$ws" && CARGO_TARGET_DIR=$work/t-ours cargo imagebuild -q --load -t loop:dev >/dev/null)
}
plain() {
  edit "plain$RUN"
  (cd "$ws" && env "$linker_var=rust-lld" CARGO_TARGET_DIR=$work/t-plain cargo build -q --release --target "$TRIPLE")
}
# Warm both target directories (not timed).
RUN=0; ours; plain
DIGITS=2
t_ours=$(time_runs ours ours)
t_plain=$(time_runs plain plain)

echo "The dev loop: a one-line change to main.rs of a binary on about 100 packages, then the image"
echo "for this machine's platform loaded into Docker. Median of $RUNS runs of \`benches/incremental.sh\`,"
echo "both sides in the same run, each with its own warm target directory."
echo
echo "| job | seconds | this / cargo build |"
echo "| --- | ---: | ---: |"
echo "| cargo build --release --target $TRIPLE | $t_plain | 1.00 |"
echo "| cargo imagebuild --load -t loop:dev (build, pack, load into dockerd) | $t_ours | $(ratio "$t_ours" "$t_plain") |"
