#!/usr/bin/env bash
# Cross-build libpadir and the padir CLI for aarch64-unknown-linux-gnu (64-bit ARM Linux) and run
# the CLI under qemu-aarch64: its version, its usage errors, a missing model. Skips, saying why,
# where a cross toolchain or qemu cannot be had.
#
# Not done here: translating under qemu. With the aarch64 ONNX Runtime from its PyPI wheel,
# qemu-user 7.2 (Debian 12) crashes inside ONNX Runtime's CPU detection (it shows the host's
# x86 /proc/cpuinfo), and qemu-user 10.0 runs but never finishes loading ONNX Runtime's
# environment (100% CPU for 5 minutes on onnx/tiny, before the manifest is read). Real ARM
# hardware is needed for that check.
#
# The Rust standard library for aarch64 comes from rustup (`rustup target add
# aarch64-unknown-linux-gnu`) where it is installed, else from Debian's packages (rustc-web with
# libstd-rust-web-dev:arm64), which this script installs on Debian as root; the linker is
# Debian's gcc-aarch64-linux-gnu and the emulator qemu-user.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=aarch64-unknown-linux-gnu
skip() { echo "test-aarch64: SKIPPED: $*"; exit 0; }

debian_install() {
  command -v apt-get >/dev/null && [ "$(id -u)" = 0 ] || return 1
  dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  RUSTC_FOR_TARGET=$(rustup which rustc)
else
  RUSTC_FOR_TARGET=/usr/bin/rustc
  if [ ! -d /usr/lib/rustlib/$TARGET ] || ! command -v aarch64-linux-gnu-gcc >/dev/null \
    || ! command -v qemu-aarch64 >/dev/null; then
    debian_install rustc-web "libstd-rust-web-dev:arm64" gcc-aarch64-linux-gnu \
      libc6-dev-arm64-cross libstdc++6-arm64-cross qemu-user \
      || skip "no aarch64 Rust standard library, cross linker or qemu-aarch64 (needs rustup's target or Debian's packages)"
  fi
fi
command -v qemu-aarch64 >/dev/null || debian_install qemu-user || skip "qemu-aarch64 is missing"
command -v aarch64-linux-gnu-gcc >/dev/null || skip "aarch64-linux-gnu-gcc is missing"

echo "== aarch64: cross-building the CLI and libpadir ($("$RUSTC_FOR_TARGET" --version))"
OUT=target/cross
RUSTC="$RUSTC_FOR_TARGET" CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
  cargo build --release --quiet --locked --target $TARGET --target-dir $OUT
BIN=$OUT/$TARGET/release
file "$BIN/padir" "$BIN/libpadir.so" | sed 's/, BuildID[^,]*//'

echo "== aarch64: the CLI under qemu-aarch64"
run() { qemu-aarch64 -L /usr/aarch64-linux-gnu "$BIN/padir" "$@"; }
VERSION=$(run --version)
[ "$VERSION" = "$(target/release/padir --version)" ] || { echo "test-aarch64: FAILED: --version said '$VERSION'" >&2; exit 1; }
expect() {  # expect STATUS NEEDLE ARGS...: the exit status and a word of the message
  local want=$1 needle=$2 rc=0 err
  shift 2
  err=$(run "$@" 2>&1 < /dev/null >/dev/null) || rc=$?
  if [ "$rc" != "$want" ] || [[ "$err" != *"$needle"* ]]; then
    echo "test-aarch64: FAILED: padir $* gave status $rc: $err" >&2
    exit 1
  fi
}
expect 2 "unknown" translate --model onnx/tiny --no-such-option
expect 2 "threads" translate --model onnx/tiny --threads 0x10
expect 1 "does not exist" translate --model /nonexistent/model
echo "test-aarch64: passed ($VERSION, built for $TARGET, run under $(qemu-aarch64 --version | head -1))"
