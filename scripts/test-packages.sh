#!/usr/bin/env bash
# Test padir as app developers get it, each package the way a user meets it:
#   the crate (cargo package builds the packaged crate; cargo doc without warnings),
#   the Python wheel (installed into a fresh virtualenv; the binding's tests run against it),
#   the C install layout (the example built with pkg-config against the installed copy),
#   the jar (bindings/java/run-tests.sh runs the Java tests against it),
#   the aarch64 build (scripts/test-aarch64.sh: the CLI under qemu).
# Run by scripts/test.sh after scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=target/packages
rm -rf "$WORK" && mkdir -p "$WORK"

echo "== crate: cargo package, cargo doc"
cargo package --locked --quiet --allow-dirty
ls -l target/package/padir-*.crate | awk '{printf "crate: %s, %.0f KiB\n", $NF, $5 / 1024}'
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet

echo "== Python wheel, installed into a fresh virtualenv"
WHEEL=$(scripts/build-wheel.sh | tail -1)
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" --disable-pip-version-check -q install "$WHEEL" pytest
# From outside the checkout, with no variable pointing anywhere: the package finds libpadir
# inside itself and ONNX Runtime in the onnxruntime wheel it depends on.
(cd "$WORK" && env -u PADIR_LIB -u ORT_DYLIB_PATH -u PYTHONPATH venv/bin/python - "$ROOT/onnx/tiny" <<'PY'
import sys
import padir
out = padir.Translator(sys.argv[1]).translate(["Save the file"])
maps = open("/proc/self/maps").read()
assert padir.__file__.startswith(sys.prefix), padir.__file__
for lib, home in (("libpadir.so", "/padir/"), ("libonnxruntime.so", "/onnxruntime/capi/")):
    paths = {line.split()[-1] for line in maps.splitlines() if lib in line}
    assert paths and all(p.startswith(sys.prefix) and home in p for p in paths), (lib, paths)
print(f"wheel: translated {out[0].text!r} with libpadir and ONNX Runtime from {sys.prefix}")
PY
)
env -u PADIR_LIB -u ORT_DYLIB_PATH -u PYTHONPATH "$WORK/venv/bin/python" -m pytest -q -p no:cacheprovider \
  bindings/python/tests

echo "== C: install layout and pkg-config"
scripts/install-c.sh "$WORK/c" > /dev/null
export PKG_CONFIG_PATH=$ROOT/$WORK/c/lib/pkgconfig
# shellcheck disable=SC2046
cc -Wall -Werror bindings/c/example.c $(pkg-config --cflags --libs padir) \
  -Wl,-rpath,"$ROOT/$WORK/c/lib" -o "$WORK/example"
LD_DEBUG=files "$WORK/example" onnx/tiny < bindings/c/sample.txt > "$WORK/example.out" 2> "$WORK/example.ld"
grep -q "file=$ROOT/$WORK/c/lib/libonnxruntime.so .*dynamically loaded by $ROOT/$WORK/c/lib/libpadir.so" \
  "$WORK/example.ld" || { echo "C: ONNX Runtime was not loaded from the install's lib/" >&2; exit 1; }
# One line per input line, then the version.
[ "$(wc -l < "$WORK/example.out")" = $(($(wc -l < bindings/c/sample.txt) + 1)) ] \
  && [ -n "$(head -1 "$WORK/example.out" | cut -f1)" ] \
  || { echo "C: the installed example did not translate:" >&2; cat "$WORK/example.out" >&2; exit 1; }
echo "C: the example built with pkg-config translated $(wc -l < bindings/c/sample.txt) lines from $WORK/c"

echo "== Java: the jar"
bindings/java/run-tests.sh

scripts/test-aarch64.sh
