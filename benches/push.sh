#!/usr/bin/env bash
# End-to-end benchmark: build a two-platform image of a binary plus a large asset and push it to
# a local registry, with cargo-imagebuild and with its peers doing the same packing and pushing
# (buildah: from scratch, copy, commit straight to the registry; umoci + skopeo: insert layers
# into a layout, then copy it to the registry; each peer pushes both platforms to one repository,
# so the registry's blob dedupe helps them as it helps us), on the same bytes, in the same run. Then the
# no-change re-push. Prints a Markdown table of medians and ratios (ours / peer).
#
# Everything runs on 127.0.0.1: the registry is Debian's docker-registry on a free port in a
# temporary directory, stopped at exit. Environment: BENCH_MB (asset size, default 64),
# BENCH_RUNS (default 3), IMAGEBUILD (our binary; default target/release/cargo-imagebuild).
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${BENCH_MB:-64}
RUNS=${BENCH_RUNS:-3}
IB=${IMAGEBUILD:-$PWD/target/release/cargo-imagebuild}
[ -x "$IB" ] || cargo build --release --locked --quiet
for t in docker-registry buildah umoci skopeo; do
  command -v "$t" >/dev/null || { echo "benches/push.sh: $t is missing (apt-get install it)" >&2; exit 1; }
done

. benches/lib.sh

# The workspace: one tiny binary and a large asset of real executables.
ws=$work/ws
mkdir -p "$ws/src"
cat > "$ws/Cargo.toml" <<EOF
[package]
name = "bench"
version = "0.1.0"
edition = "2021"
[package.metadata.imagebuild]
assets = [["big.bin", "/data/big.bin"]]
EOF
echo 'fn main() { println!("bench"); }' > "$ws/src/main.rs"
# (head closes the pipe early by design: SIGPIPE upstream is expected, so the status is ignored)
{ find /usr/bin /usr/lib/x86_64-linux-gnu -maxdepth 1 -type f -size +100k -print0 2>/dev/null \
  | sort -z | xargs -0 cat 2>/dev/null | head -c $((MB << 20)) > "$ws/big.bin"; } || true
[ "$(stat -c %s "$ws/big.bin")" -eq $((MB << 20)) ] || { echo "could not gather ${MB} MiB" >&2; exit 1; }
export CARGO_TARGET_DIR=$work/target
# Compile once outside the timings: this measures packing and pushing, not rustc.
(cd "$ws" && "$IB" -q --platform linux/amd64,linux/arm64 -o type=cacheonly >/dev/null)
bin_amd64=$CARGO_TARGET_DIR/x86_64-unknown-linux-musl/release/bench
bin_arm64=$CARGO_TARGET_DIR/aarch64-unknown-linux-musl/release/bench

ours_push() { # fresh repository each run; cold pack (layer cache cleared)
  rm -rf "$CARGO_TARGET_DIR/imagebuild"
  (cd "$ws" && "$IB" -q --platform linux/amd64,linux/arm64 --push -t "$REG/ours$RUN:1")
}
ours_repush() { (cd "$ws" && "$IB" -q --platform linux/amd64,linux/arm64 --push -t "$REG/ours$RUN:1"); }
buildah_push() {
  for arch in amd64 arm64; do
    local bin=$bin_amd64; [ $arch = arm64 ] && bin=$bin_arm64
    c=$(buildah from --arch $arch scratch)
    buildah copy -q "$c" "$ws/big.bin" /data/big.bin >/dev/null
    buildah copy -q --chmod 0755 "$c" "$bin" /usr/local/bin/bench >/dev/null
    buildah config --entrypoint '["/usr/local/bin/bench"]' --arch $arch "$c"
    buildah commit -q --format oci --tls-verify=false "$c" "docker://$REG/buildah$RUN:$arch" >/dev/null
    buildah rm "$c" >/dev/null
  done
}
umoci_push() {
  rm -rf "$work/layout"
  umoci init --layout "$work/layout"
  for arch in amd64 arm64; do
    local bin=$bin_amd64; [ $arch = arm64 ] && bin=$bin_arm64
    umoci new --image "$work/layout:$arch"
    umoci insert --image "$work/layout:$arch" "$ws/big.bin" /data/big.bin
    umoci insert --image "$work/layout:$arch" "$bin" /usr/local/bin/bench
    skopeo copy -q --dest-tls-verify=false "oci:$work/layout:$arch" "docker://$REG/umoci$RUN:$arch"
  done
}

t_ours=$(time_runs ours ours_push)
t_repush=$(time_runs ours_again ours_repush)
t_buildah=$(time_runs buildah buildah_push)
t_umoci=$(time_runs umoci umoci_push)
cat <<EOF
Two platforms (linux/amd64, linux/arm64), each: a ${MB} MiB asset layer and the binary; gzip;
pushed to a fresh repository of a local distribution registry. Median of $RUNS runs.

| job | seconds | ours / this |
| --- | ---: | ---: |
| cargo-imagebuild --push (cold: layers packed, every blob uploaded) | $t_ours | 1.00 |
| buildah from scratch + copy + commit to the registry | $t_buildah | $(ratio "$t_ours" "$t_buildah") |
| umoci insert + skopeo copy to the registry | $t_umoci | $(ratio "$t_ours" "$t_umoci") |
| cargo-imagebuild --push again, nothing changed (uploads nothing) | $t_repush | - |
EOF
