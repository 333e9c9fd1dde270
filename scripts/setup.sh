#!/usr/bin/env bash
# Set up everything padir needs on a fresh machine, idempotently:
#   - .venv/ with the ONNX Runtime wheel, whose shared library the Rust runtime loads
#     (linked as .ort/libonnxruntime.so, one of the places padir looks);
#   - unless --runtime-only: the export/ package and its pinned Python dependencies (torch, ...);
#   - unless --python-only: the release build of the padir CLI and library.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-all}
case "$MODE" in all|--runtime-only|--python-only) ;; *) echo "usage: $0 [--runtime-only|--python-only]" >&2; exit 2;; esac

ORT_VERSION=1.31.1
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
PIP=".venv/bin/pip --disable-pip-version-check -q"

# ONNX Runtime: the wheel ships libonnxruntime.so; nothing is downloaded outside PyPI.
if ! .venv/bin/python -c "import onnxruntime, sys; sys.exit(onnxruntime.__version__ != '$ORT_VERSION')" 2>/dev/null; then
  echo "setup: installing onnxruntime==$ORT_VERSION"
  $PIP install "onnxruntime==$ORT_VERSION"
fi
LIB=$(.venv/bin/python - <<'PY'
import glob, os, onnxruntime
capi = os.path.join(os.path.dirname(onnxruntime.__file__), "capi")
libs = sorted(glob.glob(os.path.join(capi, "libonnxruntime.so*")) + glob.glob(os.path.join(capi, "libonnxruntime*.dylib")))
print(libs[0] if libs else "")
PY
)
[ -n "$LIB" ] || { echo "setup: the onnxruntime wheel has no shared library" >&2; exit 1; }
mkdir -p .ort
case "$LIB" in *.dylib) NAME=libonnxruntime.dylib;; *) NAME=libonnxruntime.so;; esac
ln -sf "$(cd "$(dirname "$LIB")" && pwd)/$(basename "$LIB")" ".ort/$NAME"

if [ "$MODE" != "--runtime-only" ]; then
  STAMP=.venv/.export-installed
  if [ ! -f "$STAMP" ] || [ export/pyproject.toml -nt "$STAMP" ]; then
    echo "setup: installing the export/ package and its pinned dependencies (torch is large: a few minutes)"
    $PIP install -e export
    touch "$STAMP"
  fi
fi

if [ "$MODE" != "--python-only" ]; then
  cargo build --release --quiet
fi
