#!/usr/bin/env bash
# Build the Python wheel: the padir package with libpadir inside, depending on the onnxruntime
# wheel for ONNX Runtime. Writes dist/padir-<version>-py3-none-<platform>.whl.
#   scripts/build-wheel.sh && pip install dist/padir-*.whl
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --runtime-only
cargo build --release --quiet --lib
case "$(uname)" in Darwin) LIB=libpadir.dylib;; *) LIB=libpadir.so;; esac
# Build from a staging copy, so that the source tree never holds a stale library.
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
cp -r bindings/python/pyproject.toml bindings/python/setup.py bindings/python/README.md \
  bindings/python/padir "$STAGE/"
find "$STAGE" -name __pycache__ -prune -exec rm -rf {} +
cp "target/release/$LIB" "$STAGE/padir/$LIB"
strip --strip-debug "$STAGE/padir/$LIB" 2>/dev/null || true
mkdir -p dist
rm -f dist/padir-*.whl
# The build backend (setuptools) comes from PyPI into pip's isolated build environment.
.venv/bin/pip --disable-pip-version-check -q wheel --no-deps -w dist "$STAGE"
ls dist/padir-*.whl
