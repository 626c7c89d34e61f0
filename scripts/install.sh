#!/usr/bin/env bash
# Installs a pinned release binary of cargo-imagebuild, as action.yml runs it (and anyone can):
#
#   scripts/install.sh --version 0.1.0 [--bin-dir DIR] [--base-url URL]
#
# 1. Picks the release asset for this machine: cargo-imagebuild-<target>.tar.gz, <target> one of
#    x86_64/aarch64-unknown-linux-musl (static) and x86_64/aarch64-apple-darwin.
# 2. Downloads it and its .sha256 from <base-url>/v<version>/ (default: the GitHub release), and
#    refuses it unless its SHA-256 is the one the .sha256 names.
# 3. Installs DIR/cargo-imagebuild atomically: unpacked into a temporary directory inside DIR,
#    then renamed over the old one. On any error nothing is left in DIR but what was there.
# With no release asset for this machine (another OS or CPU, or a version published without
# binaries) it falls back to `cargo install --locked cargo-imagebuild --version X`, installed the
# same way. A wrong checksum never falls back: it stops with an error.
set -euo pipefail

NAME=cargo-imagebuild
REPOSITORY=https://github.com/cargo-imagebuild/cargo-imagebuild
version="${CARGO_IMAGEBUILD_VERSION:-}"
bin_dir="${CARGO_IMAGEBUILD_BIN_DIR:-${CARGO_HOME:-$HOME/.cargo}/bin}"
base_url="${CARGO_IMAGEBUILD_BASE_URL:-$REPOSITORY/releases/download}"

die() {
  echo "install.sh: $*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case "$1" in
    --version) version="${2:-}"; shift 2 || die "--version needs a value" ;;
    --bin-dir) bin_dir="${2:-}"; shift 2 || die "--bin-dir needs a value" ;;
    --base-url) base_url="${2:-}"; shift 2 || die "--base-url needs a value" ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument \`$1\`: use --version X [--bin-dir DIR] [--base-url URL]" ;;
  esac
done
version="${version#v}"
[ -n "$version" ] || die "no version given: pass --version X (a published release, e.g. 0.1.0)"
case "$version" in
  *[!0-9A-Za-z.+-]*) die "\`$version\` is not a version: pass one like 0.1.0" ;;
esac
[ -n "$bin_dir" ] || die "--bin-dir is empty: pass the directory to install into"
base_url="${base_url%/}"

target=""
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64 | Linux-amd64) target=x86_64-unknown-linux-musl ;;
  Linux-aarch64 | Linux-arm64) target=aarch64-unknown-linux-musl ;;
  Darwin-x86_64) target=x86_64-apple-darwin ;;
  Darwin-arm64 | Darwin-aarch64) target=aarch64-apple-darwin ;;
esac

mkdir -p "$bin_dir" || die "cannot create $bin_dir: pass a --bin-dir you can write to"
# The temporary directory is inside bin_dir, so the last step is a rename on one file system.
tmp=$(mktemp -d "$bin_dir/.$NAME-install.XXXXXX") \
  || die "cannot write into $bin_dir: pass a --bin-dir you can write to"
trap 'rm -rf "$tmp"' EXIT

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  else
    die "neither sha256sum nor shasum is installed: install coreutils (or perl's shasum)"
  fi
}

# Downloads $1 to $2. Exit status 0: downloaded; 2: the server has no such file (404);
# anything else is an error that stops the install.
fetch() {
  local code
  code=$(curl --silent --show-error --location --proto '=https,http' --retry 3 \
    --connect-timeout 20 --max-time 300 --output "$2" --write-out '%{http_code}' "$1") \
    || die "downloading $1 failed: check the network (or --base-url)"
  case "$code" in
    200) return 0 ;;
    404) return 2 ;;
    *) die "downloading $1: the server answered HTTP $code" ;;
  esac
}

from_source() {
  echo "install.sh: $1; building it from source: cargo install --locked $NAME --version $version" >&2
  command -v "${CARGO:-cargo}" >/dev/null 2>&1 \
    || die "cargo is not installed: install Rust (https://rustup.rs), then run this again"
  "${CARGO:-cargo}" install --locked "$NAME" --version "$version" --root "$tmp/root" \
    || die "cargo install --locked $NAME --version $version failed (see above)"
  mv "$tmp/root/bin/$NAME" "$tmp/$NAME"
}

if [ -z "$target" ]; then
  from_source "no release binary is built for $(uname -s) $(uname -m)"
else
  asset="$NAME-$target.tar.gz"
  url="$base_url/v$version/$asset"
  status=0
  fetch "$url" "$tmp/$asset" || status=$?
  if [ "$status" = 2 ]; then
    from_source "release v$version has no $asset"
  else
    fetch "$url.sha256" "$tmp/$asset.sha256" \
      || die "release v$version has $asset but no $asset.sha256: refusing an unchecked binary"
    expected=$(cut -d' ' -f1 <"$tmp/$asset.sha256" | tr -d '\r\n')
    actual=$(sha256 "$tmp/$asset")
    case "$expected" in
      *[!0-9a-f]* | "") die "$url.sha256 holds no SHA-256: refusing an unchecked binary" ;;
    esac
    [ "${#expected}" = 64 ] || die "$url.sha256 holds no SHA-256: refusing an unchecked binary"
    [ "$expected" = "$actual" ] \
      || die "checksum mismatch for $url: expected $expected, got $actual; nothing was installed"
    mkdir "$tmp/unpacked"
    tar -xzf "$tmp/$asset" -C "$tmp/unpacked" || die "$asset is not a tar.gz archive"
    [ -f "$tmp/unpacked/$NAME" ] || die "$asset holds no $NAME at its top level"
    mv "$tmp/unpacked/$NAME" "$tmp/$NAME"
  fi
fi

chmod 755 "$tmp/$NAME"
mv -f "$tmp/$NAME" "$bin_dir/$NAME"
echo "install.sh: installed $bin_dir/$NAME ($("$bin_dir/$NAME" imagebuild --version 2>/dev/null || echo "v$version"))" >&2
