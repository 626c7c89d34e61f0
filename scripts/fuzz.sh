#!/usr/bin/env bash
# Runs each fuzz target (fuzz/, cargo fuzz on nightly) for a bounded time: FUZZ_SECONDS each
# (default 60), starting from the seeds in fuzz/seeds/<target> (new inputs go to
# fuzz/corpus/<target>, not kept in git). Not part of CI's tests: run it by hand. A crash leaves
# its input under fuzz/artifacts/<target>/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-60}"
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is missing: cargo install --locked cargo-fuzz (and rustup toolchain install nightly)" >&2
  exit 1
fi
status=0
for target in base_layer_tar metadata; do
  mkdir -p "corpus/$target"
  echo "== $target for ${seconds}s"
  if ! cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=512 -max_len=65536 -timeout=10; then
    status=1
  fi
done
exit "$status"
