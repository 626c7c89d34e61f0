#!/usr/bin/env bash
# Runs the benchmarks against their peers (same data, same run) and writes BENCHMARKS.md.
# Installs the peers when missing. Environment: BENCH_MB (input size, default 64), BENCH_RUNS.
set -euo pipefail
cd "$(dirname "$0")/.."
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
# command -> Debian package (benches/emulated.sh runs an aarch64 toolchain under qemu)
for pair in pigz:pigz zstd:zstd umoci:umoci buildah:buildah skopeo:skopeo \
    docker-registry:docker-registry bc:bc qemu-aarch64-static:qemu-user-static \
    aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu dockerd:docker.io docker:docker.io; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
out=$(cargo bench --locked --bench pack 2>/dev/null)
cargo build --release --locked --quiet
e2e=$(benches/push.sh)
three=$(benches/e2e.sh)
cold=$(benches/cold.sh)
emulated=$(benches/emulated.sh)
incremental=$(benches/incremental.sh)
# Everything below this line in BENCHMARKS.md is analysis written by hand (install time,
# provisioning, profiles), kept as it is when the measured sections above it are rewritten.
marker='<!-- Written by hand below this line; scripts/bench.sh keeps it. -->'
kept=$(awk -v m="$marker" '$0 == m {on = 1} on' BENCHMARKS.md 2>/dev/null || true)
[ -n "$kept" ] || kept=$marker
{
  echo "# Benchmarks"
  echo
  echo "Written by \`scripts/bench.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))."
  echo "Ratios below 1 mean cargo-imagebuild is faster than the peer on the same input in the same run."
  echo
  echo "## Packing one layer (tar + compression + sha256 of both the tar and the blob, written to disk)"
  echo
  echo "$out"
  echo
  echo "## Building and pushing an image (benches/push.sh)"
  echo
  echo "$e2e"
  echo
  echo "## Three platforms end to end, tool overhead, cacheonly, scaling (benches/e2e.sh)"
  echo
  echo "![end-to-end comparison](benches/e2e.svg)"
  echo
  echo "$three"
  echo
  echo "## Cold end to end with ~100 dependencies (benches/cold.sh)"
  echo
  echo "$cold"
  echo
  echo "## linux/arm64 cross-compiled against an emulated aarch64 toolchain (benches/emulated.sh)"
  echo
  echo "$emulated"
  echo
  echo "## The dev loop: a one-line change, then --load (benches/incremental.sh)"
  echo
  echo "$incremental"
  echo
  echo "$kept"
} > BENCHMARKS.md.new
mv BENCHMARKS.md.new BENCHMARKS.md
cat BENCHMARKS.md
