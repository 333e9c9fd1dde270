#!/usr/bin/env bash
# Train and ship the en->fr demo model (onnx/en-fr): teacher -> distillation -> PaDIR student ->
# ONNX export with parity checks -> int8 -> Hugging Face teacher. Hours on 2 cores, so every
# stage resumes where it stopped: run it under nohup and simply run it again after an interruption.
#   nohup scripts/train-en-fr.sh > ~/.cache/padir/train-en-fr.log 2>&1 &
# Artefacts and checkpoints stay in $PADIR_RUNS/en-fr (default ~/.cache/padir/runs/en-fr).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --python-only
PY=.venv/bin/python
CONFIG=export/configs/en-fr.json
RUNS=${PADIR_RUNS:-$HOME/.cache/padir/runs}/en-fr
[ -f "$RUNS/teacher.pt" ] || $PY -m padir_export.train --config $CONFIG --stage teacher
[ -f "$RUNS/distilled.npz" ] || $PY -m padir_export.distill --config $CONFIG
[ -f "$RUNS/student.pt" ] || $PY -m padir_export.train --config $CONFIG --stage student
$PY -m padir_export.export_model --config $CONFIG --out "$RUNS/fp32"
$PY -m padir_export.quantize --model "$RUNS/fp32" --out onnx/en-fr
$PY -m padir_export.hf --config $CONFIG --out onnx/en-fr/hf-teacher
du -sh onnx/en-fr
