#!/usr/bin/env bash
# One-time costs of "zero setup" (issue 9), against the nearest peer, on the same crates in the
# same run: provisioning zig (download from a loopback mirror, sha256 check, unpack) before a
# build of the C fixture for linux/arm64, against `pip install ziglang` of the same wheel; and
# building OpenSSL for x86_64-unknown-linux-musl before a build of the openssl fixture, against
# plain `cargo build` of the same crate with openssl-sys's own `vendored` feature (the same
# openssl-src, compiled by its build script). Then the second build of each, which must pay
# neither. Prints a Markdown table.
#
# Loopback only: the wheel comes from tests/.cache (scripts/test.sh puts it there) through a
# python http.server on 127.0.0.1, stopped at exit. IMAGEBUILD: our binary (default: release).
set -euo pipefail
cd "$(dirname "$0")/.."
IB=${IMAGEBUILD:-$PWD/target/release/cargo-imagebuild}
[ -x "$IB" ] || cargo build --release --locked --quiet
wheel=$(ls tests/.cache/ziglang-*x86_64.whl 2>/dev/null | head -1)
[ -n "$wheel" ] || { echo "benches/provision.sh: no zig wheel in tests/.cache: run scripts/test.sh" >&2; exit 1; }

work=$(mktemp -d /tmp/imagebuild-provision.XXXXXX)
srv=
cleanup() { [ -n "$srv" ] && kill "$srv" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory tests/.cache "$port" >/dev/null 2>&1 &
srv=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done

# A PATH without zig, and a python3 that does not know ziglang.
mkdir -p "$work/bin"
for t in cargo rustc rustup cc ar perl make sh env; do
  p=$(command -v "$t" 2>/dev/null) && ln -sf "$p" "$work/bin/$t"
done
NOZIG_PATH="$work/bin:$HOME/.cargo/bin"

secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); python3 -c "print(f'{$e-$s:.1f}')"; }

# zig: cold (download + unpack + build) and warm, each with a fresh target dir for the build.
cc_build() {
  env PATH="$NOZIG_PATH" CARGO_IMAGEBUILD_CACHE="$work/cache" CARGO_IMAGEBUILD_ZIG_MIRROR="http://127.0.0.1:$port" \
    CARGO_TARGET_DIR="$work/t-$1" "$IB" imagebuild --manifest-path tests/fixtures/cc/Cargo.toml \
    --platform linux/arm64 -o type=cacheonly
}
zig_cold=$(secs cc_build a)
zig_warm=$(secs cc_build b)
python3 -m venv "$work/venv"
pip_zig=$(secs "$work/venv/bin/pip" install --no-index "$wheel")

# OpenSSL for one target: ours cold and warm, against the vendored feature with plain cargo.
tls_build() {
  CARGO_IMAGEBUILD_CACHE="$work/cache" CARGO_TARGET_DIR="$work/t-$1" "$IB" imagebuild \
    --manifest-path tests/fixtures/tls/Cargo.toml --platform linux/amd64 -o type=cacheonly
}
ossl_cold=$(secs tls_build c)
ossl_warm=$(secs tls_build d)
vendored=$(secs env CARGO_TARGET_DIR="$work/t-e" cargo build --release --manifest-path tests/fixtures/tls/Cargo.toml \
  --features openssl/vendored)

ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
echo "| job | seconds | peer | peer seconds | ours / peer |"
echo "| --- | ---: | --- | ---: | ---: |"
echo "| C fixture for linux/arm64, zig provisioned first (download from loopback, check, unpack) | $zig_cold | pip install of the same wheel (no build) | $pip_zig | $(ratio "$zig_cold" "$pip_zig") |"
echo "| the same build again, zig cached (fresh target dir) | $zig_warm | - | - | - |"
echo "| openssl fixture for linux/amd64, OpenSSL built first | $ossl_cold | cargo build --features openssl/vendored (host, cold) | $vendored | $(ratio "$ossl_cold" "$vendored") |"
echo "| the same build again, OpenSSL cached (fresh target dir) | $ossl_warm | - | - | - |"
