#!/usr/bin/env bash
# linux/arm64 from an x86_64 machine, cold, two ways in one run: `cargo imagebuild --platform
# linux/arm64` (cross-compiled: x86_64 rustc, zig's C compiler, rust-lld) against what
# `docker buildx build --platform linux/arm64` does with a Rust Dockerfile: an aarch64 Rust
# toolchain (`rustup toolchain install stable-aarch64-unknown-linux-gnu --force-non-host`) running
# `cargo build --release` under qemu-user (binfmt_misc, qemu-user-static's own entry). The
# workspace is a small real one: a binary on about 30 crates.io packages (serde with derive,
# serde_json, regex, clap, flate2 on zlib, with zlib's C code compiled by libz-sys). Sources are
# fetched before any timing; each side starts from an empty target directory.
#
# The emulated side is given every advantage buildx does not have: its C compiler and linker are
# Debian's aarch64 cross gcc running natively (in a buildx arm64 stage they are emulated too), and
# it reads the same warm CARGO_HOME. Only rustc, cargo and the build scripts run under qemu. It is
# bounded by BENCH_EMULATED_TIMEOUT seconds (default 1500); past that the figure is a lower bound.
# Needs root (binfmt_misc), qemu-user-static, gcc-aarch64-linux-gnu. IMAGEBUILD as in
# benches/e2e.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=1
IB=${IMAGEBUILD:-$PWD/target/release/cargo-imagebuild}
[ -x "$IB" ] || cargo build --release --locked --quiet
LIMIT=${BENCH_EMULATED_TIMEOUT:-1500}
. benches/lib.sh
DIGITS=1
mkdir -p "$work/bin" && ln -s "$IB" "$work/bin/cargo-imagebuild"
export PATH=$work/bin:$PATH

# The aarch64 toolchain of the same Rust version as the host's (rustc, cargo, std; about 80 MB,
# once), so both sides run the same compiler.
TOOLCHAIN=$(rustc -V | awk '{print $2}')-aarch64-unknown-linux-gnu
toolchain_dir=$(rustup toolchain list -v 2>/dev/null | awk -v t="$TOOLCHAIN" '$1 == t {print $NF}')
if [ -z "$toolchain_dir" ]; then
  rustup toolchain install "$TOOLCHAIN" --force-non-host --profile minimal >&2
  toolchain_dir=$(rustup toolchain list -v | awk -v t="$TOOLCHAIN" '$1 == t {print $NF}')
fi
# qemu for aarch64 binaries started by anyone (cargo starts rustc, rustc's build scripts run).
binfmt=/proc/sys/fs/binfmt_misc
[ -e "$binfmt/register" ] || mount -t binfmt_misc binfmt_misc "$binfmt"
if [ ! -e "$binfmt/qemu-aarch64" ]; then
  grep '^:' /usr/lib/binfmt.d/qemu-aarch64.conf > "$binfmt/register" || [ -e "$binfmt/qemu-aarch64" ]
fi
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu

ws=$work/emulated
mkdir -p "$ws/src"
cat > "$ws/Cargo.toml" <<TOML
[package]
name = "emulated"
version = "0.1.0"
edition = "2021"
[workspace]
[dependencies]
serde = { version = "1", features = ["derive"] }
serde_json = "1"
regex = "1"
clap = { version = "4", default-features = false, features = ["std", "help", "usage", "error-context"] }
flate2 = { version = "1", default-features = false, features = ["zlib"] }
libz-sys = { version = "1", default-features = false, features = ["static"] }
TOML
cat > "$ws/src/main.rs" <<'RS'
use std::io::Write;

#[derive(serde::Serialize, serde::Deserialize)]
struct Line {
    text: String,
    matched: bool,
}

fn main() {
    let args = clap::Command::new("emulated")
        .arg(clap::Arg::new("pattern").default_value("a+"))
        .get_matches();
    let re = regex::Regex::new(args.get_one::<String>("pattern").unwrap()).unwrap();
    let line = Line { text: "aaa".into(), matched: re.is_match("aaa") };
    let json = serde_json::to_string(&line).unwrap();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(json.as_bytes()).unwrap();
    println!("{json} -> {} zlib bytes", z.finish().unwrap().len());
}
RS
(cd "$ws" && cargo generate-lockfile -q && cargo fetch -q)
deps=$(cd "$ws" && cargo metadata -q --format-version 1 --filter-platform aarch64-unknown-linux-gnu \
  | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["resolve"]["nodes"]))')
rustup target add aarch64-unknown-linux-musl >/dev/null 2>&1 || true
# The aarch64 rustc's LLVM wants libz.so.1, which the cross C libraries lack: built here from the
# zlib sources libz-sys ships (what a Debian arm64 image has as zlib1g).
zlib=$(cd "$ws" && cargo metadata -q --format-version 1 | python3 -c '
import json, os, sys
m = json.load(sys.stdin)
print(next(os.path.dirname(p["manifest_path"]) for p in m["packages"] if p["name"] == "libz-sys"))')/src/zlib
mkdir -p "$work/aarch64-lib"
printf 'ZLIB_1.2.0 { global: *; };\n' > "$work/aarch64-lib/zlib.map"
aarch64-linux-gnu-gcc -shared -fPIC -O2 -DHAVE_UNISTD_H -DHAVE_STDARG_H -Wl,-soname,libz.so.1 \
  -Wl,--version-script,"$work/aarch64-lib/zlib.map" -o "$work/aarch64-lib/libz.so.1" "$zlib"/*.c
EMU_LIBS=$work/aarch64-lib
emu_version=$(LD_LIBRARY_PATH=$EMU_LIBS "$toolchain_dir/bin/rustc" -vV) || true
grep -q '^host: aarch64-unknown-linux-gnu' <<<"$emu_version" \
  || { echo "benches/emulated.sh: the aarch64 rustc does not run under qemu" >&2; exit 1; }

ours() {
  rm -rf "$work/t-ours"
  (cd "$ws" && CARGO_TARGET_DIR=$work/t-ours cargo imagebuild -q --platform linux/arm64 \
    -o "type=oci,dest=$work/layout" >/dev/null)
}
emulated_status=0
emulated() {
  rm -rf "$work/t-emu"
  (cd "$ws" && timeout "$LIMIT" env RUSTUP_TOOLCHAIN="$TOOLCHAIN" \
    RUSTC="$toolchain_dir/bin/rustc" CARGO_TARGET_DIR="$work/t-emu" LD_LIBRARY_PATH="$EMU_LIBS" \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CC=aarch64-linux-gnu-gcc AR=aarch64-linux-gnu-ar \
    "$toolchain_dir/bin/cargo" build -q --release --offline) || emulated_status=$?
  [ "$emulated_status" = 0 ] || [ "$emulated_status" = 124 ]
}
t_ours=$(time_runs ours ours)
t0=$(now)
emulated > "$work/emulated.out" 2>&1 || { echo "the emulated build failed:" >&2; cat "$work/emulated.out" >&2; exit 1; }
t_emu=$(printf '%.1f' "$(echo "$(now) - $t0" | bc)")
# The emulated binary is an aarch64 executable that runs (under qemu) and says what ours says.
if [ "$emulated_status" = 0 ]; then
  "$work/t-emu/release/emulated" | grep -q '"matched":true' \
    || { echo "the emulated build's binary does not run" >&2; exit 1; }
  emu_cell=$t_emu
  ratio_cell=$(ratio "$t_ours" "$t_emu")
else
  emu_cell="> $LIMIT (stopped)"
  ratio_cell="< $(ratio "$t_ours" "$LIMIT")"
fi

echo "Cold, from an empty target directory: linux/arm64 of a binary on $deps packages (serde with"
echo "derive, serde_json, regex, clap, flate2 on zlib; libz-sys compiles zlib's C code) on this"
echo "x86_64 machine. One run of \`benches/emulated.sh\`, both sides in the same run. The emulated"
echo "side runs the aarch64 rustc, cargo and build scripts under qemu-user, as a buildx arm64 stage"
echo "does, but with the native cross gcc as its C compiler and linker (in buildx those are emulated too)."
echo
echo "| job | seconds | ours / this |"
echo "| --- | ---: | ---: |"
echo "| cargo imagebuild --platform linux/arm64 (cross-compiled), cold, into an OCI layout | $t_ours | 1.00 |"
echo "| aarch64 toolchain under qemu-user: cargo build --release, cold | $emu_cell | $ratio_cell |"
