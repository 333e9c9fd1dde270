#!/usr/bin/env bash
# The main job on a fresh machine: set up the runtime, then translate a few sentences with the
# shipped model, in PaDIR (NAR) mode and with the AR baseline. Usage: scripts/demo.sh [MODEL_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --runtime-only
MODEL=${1:-onnx/en-fr}
if [ ! -f "$MODEL/model.json" ]; then
  echo "demo: $MODEL is not shipped yet; using the tiny test model onnx/tiny (its output is not a real translation)"
  MODEL=onnx/tiny
fi
SAMPLES='Save the file before closing the window.
Cannot open file %s: permission denied.
The installer will now partition your disk.
Show hidden files'
echo "== padir translate --model $MODEL (PaDIR, NAR)"
printf '%s\n' "$SAMPLES" | target/release/padir translate --model "$MODEL"
echo "== padir translate --model $MODEL --mode ar (AR baseline)"
printf '%s\n' "$SAMPLES" | target/release/padir translate --model "$MODEL" --mode ar
