#!/usr/bin/env bash
# End-to-end benchmark of three platforms (linux/amd64, linux/arm64, linux/386) of one binary of
# about BENCH_MB MiB (default 50: a tiny program that embeds that many bytes of real executables,
# so each platform's layer differs), against its peers on the same bytes in the same run:
#
# - first push with a warm layer cache (the layers were packed by an earlier layout run) to a
#   fresh repository, against `skopeo copy --all` of the layout we wrote (no build step at all)
#   and buildah (from scratch + copy + commit, three times, then `manifest push --all`);
# - tool overhead: the same push again (nothing changed) and a layout output whose destination
#   already holds the same layout, against a no-op `cargo build --target A --target B --target C`
#   with the same per-target environment (cargo itself finding that nothing changed);
# - `-o type=cacheonly` against a layout output, both on a warm layer cache;
# - packing and pushing one asset of 1 MiB to 1 GiB: time and peak RSS of the whole run.
#
# Prints Markdown (tables of medians and ratios) and writes benches/e2e.svg, a bar chart of the
# first table. Everything runs on 127.0.0.1: the registry is Debian's docker-registry on a free
# port in a temporary directory, stopped at exit. Environment: BENCH_MB, BENCH_RUNS (default 5),
# BENCH_SCALE_MB (default "1 20 128 1024"), IMAGEBUILD (our binary; default
# target/release/cargo-imagebuild, run as `cargo imagebuild` as users run it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
MB=${BENCH_MB:-50}
RUNS=${BENCH_RUNS:-5}
SCALE=${BENCH_SCALE_MB:-1 20 128 1024}
IB=${IMAGEBUILD:-$PWD/target/release/cargo-imagebuild}
[ -x "$IB" ] || cargo build --release --locked --quiet
for t in docker-registry buildah skopeo bc python3; do
  command -v "$t" >/dev/null || { echo "benches/e2e.sh: $t is missing (apt-get install it)" >&2; exit 1; }
done

. benches/lib.sh
DIGITS=3
# `cargo imagebuild` finds our binary on PATH, as after `cargo install`.
mkdir -p "$work/bin" && ln -s "$IB" "$work/bin/cargo-imagebuild"
export PATH=$work/bin:$PATH

# Real executables, as many bytes as asked.
gather() { # bytes, file
  { find /usr/bin /usr/lib /usr/libexec -type f -size +100k -print0 2>/dev/null \
    | sort -z | xargs -0 cat 2>/dev/null | head -c "$1" > "$2"; } || true
  [ "$(stat -c %s "$2")" -eq "$1" ] || { echo "could not gather $1 bytes" >&2; exit 1; }
}

ws=$work/ws
mkdir -p "$ws/src"
cat > "$ws/Cargo.toml" <<EOF
[package]
name = "bench"
version = "0.1.0"
edition = "2021"
[workspace]
EOF
cat > "$ws/src/main.rs" <<'EOF'
static DATA: &[u8] = include_bytes!("../big.bin");
fn main() { println!("bench {}", std::hint::black_box(DATA).len()); }
EOF
gather $((MB << 20)) "$ws/big.bin"
export CARGO_TARGET_DIR=$work/target
PLATFORMS=linux/amd64,linux/arm64,linux/386
TRIPLES=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl i686-unknown-linux-musl)
# Compile and pack once outside the timings: the layer cache is warm from here on.
(cd "$ws" && cargo imagebuild -q --platform $PLATFORMS -o "type=oci,dest=$work/layout" >/dev/null)

ours_push() { (cd "$ws" && cargo imagebuild -q --platform $PLATFORMS --push -t "$REG/ours$RUN:1"); }
ours_push_bare() { (cd "$ws" && cargo imagebuild -q --sbom none --no-provenance --platform $PLATFORMS --push -t "$REG/bare$RUN:1"); }
ours_repush() { (cd "$ws" && cargo imagebuild -q --platform $PLATFORMS --push -t "$REG/ours1:1"); }
ours_layout() { (cd "$ws" && cargo imagebuild -q --platform $PLATFORMS -o "type=oci,dest=$work/layout"); }
ours_fresh_layout() {
  rm -rf "$work/fresh"
  (cd "$ws" && cargo imagebuild -q --platform $PLATFORMS -o "type=oci,dest=$work/fresh")
}
ours_cacheonly() { (cd "$ws" && cargo imagebuild -q --platform $PLATFORMS -o type=cacheonly); }
# skopeo remembers where it pushed each blob (its blob-info cache) and mounts from there on the
# next push; each timed copy starts without it, so that it is a first push as ours is.
skopeo_copy() {
  rm -f /var/lib/containers/cache/blob-info-cache-v1.* "$HOME"/.local/share/containers/cache/blob-info-cache-v1.*
  skopeo copy -q --all --dest-tls-verify=false "oci:$work/layout:0.1.0" "docker://$REG/skopeo$RUN:1"
}
cargo_noop() {
  # The per-target environment our routes give cargo (musl: rust-lld), so nothing rebuilds.
  (cd "$ws" && env CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld \
    CARGO_TARGET_I686_UNKNOWN_LINUX_MUSL_LINKER=rust-lld \
    cargo build -q --release "${TRIPLES[@]/#/--target=}")
}
buildah_push() {
  local list="buildah$RUN"
  buildah manifest create "$list" >/dev/null
  for p in amd64:x86_64-unknown-linux-musl arm64:aarch64-unknown-linux-musl 386:i686-unknown-linux-musl; do
    local arch=${p%%:*} triple=${p#*:}
    c=$(buildah from --arch "$arch" scratch)
    buildah copy -q --chmod 0755 "$c" "$CARGO_TARGET_DIR/$triple/release/bench" /usr/local/bin/bench >/dev/null
    buildah config --entrypoint '["/usr/local/bin/bench"]' --arch "$arch" "$c"
    id=$(buildah commit -q --format oci "$c")
    buildah manifest add "$list" "$id" >/dev/null
    buildah rm "$c" >/dev/null
  done
  buildah manifest push -q --all --tls-verify=false "$list" "docker://$REG/buildah$RUN:1" >/dev/null
  buildah manifest rm "$list" >/dev/null
}

ours_noop_check() { # a no-op push uploads nothing
  local said
  said=$(cd "$ws" && cargo imagebuild --platform $PLATFORMS --push -t "$REG/ours1:1" 2>&1 >/dev/null)
  grep -q '(0 blobs uploaded' <<<"$said" || { echo "the no-op push uploaded something: $said" >&2; exit 1; }
}

t_ours=$(time_runs ours ours_push)
t_bare=$(time_runs bare ours_push_bare)
t_skopeo=$(time_runs skopeo skopeo_copy)
t_buildah=$(time_runs buildah buildah_push)
ours_noop_check
t_repush=$(time_runs repush ours_repush)
t_cargo=$(time_runs cargo cargo_noop)
t_layout_noop=$(time_runs layout_noop ours_layout)
t_layout=$(time_runs layout ours_fresh_layout)
t_cacheonly=$(time_runs cacheonly ours_cacheonly)

echo "Three platforms (linux/amd64, linux/arm64, linux/386) of a binary embedding ${MB} MiB of real"
echo "executables; gzip; pushed to a fresh repository of a local distribution registry, the layer"
echo "cache warm. Medians of $RUNS runs, all in one run of \`benches/e2e.sh\`."
echo
echo "| job | seconds | ours / this |"
echo "| --- | ---: | ---: |"
echo "| cargo imagebuild --push (layers cached, every blob uploaded) | $t_ours | 1.00 |"
echo "| the same without SBOM and provenance (\`--sbom none --no-provenance\`, what skopeo copies) | $t_bare | - |"
echo "| skopeo copy --all of the layout we wrote (no build step, no attachments) | $t_skopeo | $(ratio "$t_ours" "$t_skopeo") (without attachments: $(ratio "$t_bare" "$t_skopeo")) |"
echo "| buildah from scratch + copy + commit ×3, manifest push --all | $t_buildah | $(ratio "$t_ours" "$t_buildah") |"
echo
echo "Tool overhead: runs where nothing changed, against cargo's own no-op build of the same three"
echo "targets with the same per-target environment."
echo
echo "| job | seconds | this / no-op cargo build |"
echo "| --- | ---: | ---: |"
echo "| cargo build --target ×3, nothing to do | $t_cargo | 1.00 |"
echo "| cargo imagebuild --push again (nothing uploaded) | $t_repush | $(ratio "$t_repush" "$t_cargo") |"
echo "| cargo imagebuild -o type=oci, destination already holds it | $t_layout_noop | $(ratio "$t_layout_noop" "$t_cargo") |"
echo
echo "| job (layer cache warm) | seconds | this / layout |"
echo "| --- | ---: | ---: |"
echo "| -o type=oci into a new directory | $t_layout | 1.00 |"
echo "| -o type=cacheonly | $t_cacheonly | $(ratio "$t_cacheonly" "$t_layout") |"

# Scaling: one asset of each size on the tiny program, packed (cold layer cache) and pushed.
sws=$work/scale
mkdir -p "$sws/src"
cat > "$sws/Cargo.toml" <<EOF
[package]
name = "scale"
version = "0.1.0"
edition = "2021"
[workspace]
[package.metadata.imagebuild]
assets = [["asset.bin", "/data/asset.bin"]]
EOF
echo 'fn main() { println!("scale"); }' > "$sws/src/main.rs"
(cd "$sws" && : > asset.bin && cargo imagebuild -q --platform linux/amd64 -o type=cacheonly >/dev/null)
echo
echo "Packing and pushing one asset layer (gzip) of each size with the tiny program, for linux/amd64:"
echo "the whole run's wall time and peak RSS (\`/usr/bin/time -f %M\`), layer cache cold, fresh"
echo "repository. Input: real executables (repeated when the machine has fewer bytes of them)."
echo
echo "| asset | seconds | MB/s | peak RSS |"
echo "| ---: | ---: | ---: | ---: |"
scale_rows=()
for s in $SCALE; do
  bytes=$((s << 20))
  if [ "$s" -le "$MB" ]; then head -c "$bytes" "$ws/big.bin" > "$sws/asset.bin"
  else
    : > "$sws/asset.bin"
    while [ "$(stat -c %s "$sws/asset.bin")" -lt "$bytes" ]; do cat "$ws/big.bin" >> "$sws/asset.bin"; done
    truncate -s "$bytes" "$sws/asset.bin"
  fi
  rm -rf "$CARGO_TARGET_DIR/imagebuild/.work/blobs"
  t0=$(now)
  /usr/bin/time -f %M -o "$work/rss" sh -c "cd '$sws' && cargo imagebuild -q --platform linux/amd64 --push -t '$REG/scale$s:1' >/dev/null"
  t=$(echo "$(now) - $t0" | bc)
  rss=$(cat "$work/rss")
  printf '| %s MiB | %.2f | %.0f | %s MB |\n' "$s" "$t" "$(echo "$s / $t" | bc -l)" "$((rss / 1024))"
  scale_rows+=("$s:$t:$rss")
done
rm -f "$sws/asset.bin"

# The chart: the first table and the overhead table as horizontal bars.
python3 - "$root/benches/e2e.svg" <<EOF
import sys
bars = [
  ("cargo imagebuild --push", $t_ours, "#2b6cb0"),
  ("  same, no SBOM/provenance", $t_bare, "#2b6cb0"),
  ("skopeo copy --all (no build)", $t_skopeo, "#718096"),
  ("buildah ×3 + manifest push", $t_buildah, "#718096"),
  ("no-op cargo build ×3 targets", $t_cargo, "#718096"),
  ("no-op cargo imagebuild --push", $t_repush, "#2b6cb0"),
  ("no-op cargo imagebuild -o oci", $t_layout_noop, "#2b6cb0"),
  ("-o type=oci, warm cache", $t_layout, "#2b6cb0"),
  ("-o type=cacheonly, warm cache", $t_cacheonly, "#2b6cb0"),
]
w, left, row = 720, 250, 26
top = 40
h = top + row * len(bars) + 20
scale = (w - left - 80) / max(b[1] for b in bars)
out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="13">',
       f'<rect width="{w}" height="{h}" fill="white"/>',
       f'<text x="10" y="22" font-size="15" font-weight="bold">Three platforms, ${MB} MiB binary, local registry (seconds, median of $RUNS)</text>']
for i, (name, t, colour) in enumerate(bars):
    y = top + i * row
    out.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{name}</text>')
    out.append(f'<rect x="{left}" y="{y + 3}" width="{max(t * scale, 1):.1f}" height="{row - 8}" fill="{colour}"/>')
    out.append(f'<text x="{left + t * scale + 6:.1f}" y="{y + 15}">{t:.2f} s</text>')
out.append('</svg>')
open(sys.argv[1], "w").write("\n".join(out) + "\n")
EOF
echo
echo "Chart: benches/e2e.svg."
