#!/usr/bin/env bash
# Runs the whole test suite. First installs what the tests need when it is missing: the Debian
# packages of the real components they talk to, and the rustup targets they build for.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# command that must exist -> Debian package that provides it
declare -A NEEDS=(
  [skopeo]=skopeo
  [umoci]=umoci
  [qemu-aarch64-static]=qemu-user-static
  [docker-registry]=docker-registry
  [htpasswd]=apache2-utils
  [openssl]=openssl
  [buildah]=buildah
  [busybox]=busybox-static
  [dockerd]=docker.io
  [docker]=docker.io
  [podman]=podman
  [runc]=runc
)
missing=()
for cmd in "${!NEEDS[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEEDS[$cmd]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "scripts/test.sh: installing ${missing[*]}" >&2
  as_root apt-get update -qq
  # sort -u: one package may provide several commands (docker.io: docker and dockerd).
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# wasm32-wasip1: tests/load.rs builds a wasip1 image that Docker refuses to load.
TARGETS=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl i686-unknown-linux-musl wasm32-wasip1)
installed=$(rustup target list --installed)
for t in "${TARGETS[@]}"; do
  grep -qx "$t" <<<"$installed" || rustup target add "$t"
done

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked "$@"
