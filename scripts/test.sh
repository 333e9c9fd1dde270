#!/usr/bin/env bash
# Set up everything and run every test: Rust (unit, golden, errors, CLI, C ABI with valgrind),
# Python (export parity against PyTorch, reference decoder, tokenizer, the Python binding) and
# the Java binding.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "== lint (cargo fmt, clippy, ruff)"
cargo fmt --check
cargo clippy --release --all-targets --quiet -- -D warnings
.venv/bin/ruff check export bindings/python
.venv/bin/ruff format --check export bindings/python
echo "== cargo test"
cargo test --release
echo "== pytest: export pipeline and Python binding"
PYTHONPATH=bindings/python .venv/bin/python -m pytest -q export/tests bindings/python/tests
echo "== Java binding"
bindings/java/run-tests.sh
