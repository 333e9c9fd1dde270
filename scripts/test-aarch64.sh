#!/usr/bin/env bash
# Cross-build libpadir and the padir CLI for aarch64-unknown-linux-gnu (64-bit ARM Linux) and run
# the CLI under qemu-aarch64 with the aarch64 ONNX Runtime from its PyPI wheel: its version, its
# usage errors, a missing model, then onnx/tiny's golden sentences (PaDIR, AR and verify mode),
# which must come out exactly as the Python reference decoder wrote them on x86 (onnx/tiny is
# fp32, so its goldens hold on every CPU). Skips, saying why, where a cross toolchain, qemu or the
# wheel cannot be had.
#
# Two emulator traps, both met here: qemu-user 7.2 (Debian 12's own) crashes inside ONNX
# Runtime's CPU detection, so on Debian 12 qemu-user comes from bookworm-backports (10.0); and
# one glibc must serve the emulated program (see QEMU_LIBC below).
#
# The Rust standard library for aarch64 comes from rustup (`rustup target add
# aarch64-unknown-linux-gnu`) where it is installed, else from Debian's packages (rustc-web with
# libstd-rust-web-dev:arm64), which this script installs on Debian as root; the linker is
# Debian's gcc-aarch64-linux-gnu.
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
      libc6-dev-arm64-cross libstdc++6-arm64-cross \
      || skip "no aarch64 Rust standard library or cross linker (needs rustup's target or Debian's packages)"
  fi
fi
qemu_major() { qemu-aarch64 --version 2>/dev/null | sed -n 's/^qemu-aarch64 version \([0-9]*\).*/\1/p'; }
if [ "$(qemu_major)" = "" ] || [ "$(qemu_major)" -lt 8 ]; then
  # Debian 12's qemu-user is 7.2: take bookworm-backports' (adding that suite where it is absent).
  if grep -q "VERSION_CODENAME=bookworm" /etc/os-release 2>/dev/null && [ "$(id -u)" = 0 ] \
    && ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d; then
    printf '%s\n' "Types: deb" "URIs: http://deb.debian.org/debian" "Suites: bookworm-backports" \
      "Components: main" "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" \
      > /etc/apt/sources.list.d/bookworm-backports.sources
  fi
  debian_install qemu-user/bookworm-backports || debian_install qemu-user || true
fi
[ -n "$(qemu_major)" ] || skip "qemu-aarch64 is missing"
[ "$(qemu_major)" -ge 8 ] || skip "qemu-aarch64 $(qemu_major) crashes in ONNX Runtime's CPU detection (8 or later needed)"
command -v aarch64-linux-gnu-gcc >/dev/null || skip "aarch64-linux-gnu-gcc is missing"

echo "== aarch64: cross-building the CLI and libpadir ($("$RUSTC_FOR_TARGET" --version))"
OUT=target/cross
RUSTC="$RUSTC_FOR_TARGET" CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
  cargo build --release --quiet --locked --target $TARGET --target-dir $OUT
BIN=$OUT/$TARGET/release
file "$BIN/padir" "$BIN/libpadir.so" | sed 's/, BuildID[^,]*//'

echo "== aarch64: the ONNX Runtime library from its aarch64 wheel"
ORT_VERSION=$(.venv/bin/python -c "import onnxruntime; print(onnxruntime.__version__)")
ORT_DIR=$OUT/onnxruntime-$ORT_VERSION
if [ ! -f "$ORT_DIR/libonnxruntime.so" ]; then
  PY_VERSION=$(.venv/bin/python -c "import sys; print(f'{sys.version_info[0]}{sys.version_info[1]}')")
  .venv/bin/pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform manylinux_2_28_aarch64 --python-version "$PY_VERSION" \
    "onnxruntime==$ORT_VERSION" -d "$ORT_DIR/wheel" \
    || skip "the aarch64 onnxruntime $ORT_VERSION wheel could not be downloaded"
  .venv/bin/python - "$ORT_DIR" <<'PY'
import sys, zipfile
from pathlib import Path
out = Path(sys.argv[1])
wheel = zipfile.ZipFile(next((out / "wheel").glob("onnxruntime-*.whl")))
lib = next(n for n in wheel.namelist() if "/capi/libonnxruntime.so" in n)
(out / "libonnxruntime.so").write_bytes(wheel.read(lib))
PY
fi
export ORT_DYLIB_PATH=$ORT_DIR/libonnxruntime.so

echo "== aarch64: the CLI under qemu-aarch64"
# QEMU_LIBC: Debian's multiarch libc6:arm64 (/lib/aarch64-linux-gnu, pulled in by
# libstd-rust-web-dev:arm64) where it is installed, else the cross toolchain's copy (-L). Not
# both: with -L /usr/aarch64-linux-gnu the cross ld.so still finds the multiarch libc.so.6, of
# another glibc build, and the first pthread_create then spins forever.
if [ -e /lib/ld-linux-aarch64.so.1 ]; then QEMU_LIBC=(); else QEMU_LIBC=(-L /usr/aarch64-linux-gnu); fi
run() { qemu-aarch64 "${QEMU_LIBC[@]}" "$BIN/padir" "$@"; }
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

echo "== aarch64: onnx/tiny's golden sentences under qemu-aarch64"
GOLDEN=$OUT/golden
mkdir -p "$GOLDEN"
.venv/bin/python - "$GOLDEN" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
golden = json.loads(Path("onnx/tiny/golden.json").read_text(encoding="utf-8"))
assert golden["batch_size"] == 8 and golden["int8_kernels"] == "any", "goldens this check can read"
(out / "sources.txt").write_text("".join(s + "\n" for s in golden["sources"]), encoding="utf-8")
for name in ("nar_default", "ar"):
    texts = "".join(o["text"] + "\n" for o in golden["settings"][name]["outputs"])
    (out / f"{name}.txt").write_text(texts, encoding="utf-8")
PY
# The goldens are whole lines at batch 8, without the text handling the reference decoder lacks.
for check in "nar nar_default" "ar ar" "verify ar"; do
  set -- $check
  run translate --model onnx/tiny --mode "$1" --batch-size 8 --no-sentences --no-protect \
    < "$GOLDEN/sources.txt" > "$GOLDEN/$1.out" 2> "$GOLDEN/$1.err" \
    || { echo "test-aarch64: FAILED: --mode $1 under qemu:" >&2; cat "$GOLDEN/$1.err" >&2; exit 1; }
  diff -u "$GOLDEN/$2.txt" "$GOLDEN/$1.out" >&2 \
    || { echo "test-aarch64: FAILED: --mode $1 under qemu differs from the golden $2 outputs" >&2; exit 1; }
  echo "--mode $1: $(wc -l < "$GOLDEN/$1.out") sentences, all as the golden $2 outputs"
done
echo "test-aarch64: passed ($VERSION, built for $TARGET, run under $(qemu-aarch64 --version | head -1))"
