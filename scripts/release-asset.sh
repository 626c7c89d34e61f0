#!/usr/bin/env bash
# Packs one release binary the way scripts/install.sh, action.yml and cargo-binstall
# ([package.metadata.binstall] in Cargo.toml) download it:
#
#   scripts/release-asset.sh BINARY TARGET OUT_DIR
#
# writes OUT_DIR/cargo-imagebuild-TARGET.tar.gz (the binary, named cargo-imagebuild, at the top
# level) and OUT_DIR/cargo-imagebuild-TARGET.tar.gz.sha256 ("<hex>  <file name>", as sha256sum
# prints it). .github/workflows/release.yml runs it for each target; tests/release.rs too.
set -euo pipefail

[ $# = 3 ] || { echo "usage: $0 BINARY TARGET OUT_DIR" >&2; exit 1; }
binary=$1 target=$2 out=$3
[ -f "$binary" ] || { echo "release-asset.sh: $binary does not exist: build it first" >&2; exit 1; }
asset="cargo-imagebuild-$target.tar.gz"
mkdir -p "$out"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$binary" "$stage/cargo-imagebuild"
chmod 755 "$stage/cargo-imagebuild"
tar -czf "$stage/$asset" -C "$stage" cargo-imagebuild
if command -v sha256sum >/dev/null 2>&1; then
  sum=$(sha256sum "$stage/$asset" | cut -d' ' -f1)
else
  sum=$(shasum -a 256 "$stage/$asset" | cut -d' ' -f1)
fi
echo "$sum  $asset" >"$stage/$asset.sha256"
mv "$stage/$asset" "$stage/$asset.sha256" "$out/"
echo "$out/$asset"
