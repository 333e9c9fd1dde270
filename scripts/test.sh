#!/usr/bin/env bash
# Set up everything and run every test: Rust (unit, golden, error handling) and Python (export
# parity against PyTorch, reference decoder, tokenizer).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "== lint (cargo fmt, clippy, ruff)"
cargo fmt --check
cargo clippy --release --all-targets --quiet -- -D warnings
.venv/bin/ruff check export
.venv/bin/ruff format --check export
echo "== cargo test"
cargo test --release
echo "== pytest"
.venv/bin/python -m pytest -q export/tests
