#!/usr/bin/env bash
# Set up everything and run every test: Rust (unit, golden, errors, CLI, C ABI with valgrind),
# Python (export parity against PyTorch, reference decoder, tokenizer), then the packages as
# users get them (crate, wheel with the Python binding's tests, C install, jar with the Java
# tests, the aarch64 build under qemu: scripts/test-packages.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The binding tests need a JDK and valgrind; install them on Debian/Ubuntu if they are missing.
if ! command -v javac >/dev/null || ! command -v valgrind >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq default-jdk-headless valgrind >/dev/null
  else
    echo "test: install a JDK (javac) and valgrind first" >&2
    exit 1
  fi
fi
echo "== lint (cargo fmt, clippy, ruff)"
cargo fmt --check
cargo clippy --release --all-targets --quiet -- -D warnings
.venv/bin/ruff check export bindings/python bench
.venv/bin/ruff format --check export bindings/python bench
echo "== cargo test"
cargo test --release
echo "== pytest: export pipeline"
# test_runtime_parity compares the runtime (through the source tree's binding) with the reference.
PYTHONPATH=bindings/python .venv/bin/python -m pytest -q export/tests
scripts/test-packages.sh
