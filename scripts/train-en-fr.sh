#!/usr/bin/env bash
# Train and ship the en->fr demo model (onnx/en-fr): teacher -> distillation -> PaDIR student ->
# ONNX export with parity checks -> int8 -> goldens. Hours on 2 cores, so every
# stage resumes where it stopped: run it under nohup and simply run it again after an interruption.
#   nohup scripts/train-en-fr.sh > ~/.cache/padir/train-en-fr.log 2>&1 &
# Artefacts and checkpoints stay in $PADIR_RUNS/<name> (default ~/.cache/padir/runs/<name>).
# A later round that continues a model has a config of its own (teacher.init pointing at that
# teacher in Hugging Face form, tokenizer.from at its tokenizer): scripts/train-en-fr.sh CONFIG
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --python-only
PY=.venv/bin/python
CONFIG=${1:-export/configs/en-fr.json}
NAME=$($PY -c "import json, sys; print(json.load(open(sys.argv[1]))['name'])" "$CONFIG")
RUNS=${PADIR_RUNS:-$HOME/.cache/padir/runs}/$NAME
[ -f "$RUNS/teacher.pt" ] || $PY -m padir_export.train --config $CONFIG --stage teacher
# The student's corpus: distilled by this config's teacher, or by the one its `distill.from`
# names (the GPU round's big teacher: scripts/device-round.sh restores its distillation).
read -r DISTILL DISTILLED < <($PY -c "import sys; from padir_export.pipeline import Pipeline; p = Pipeline(sys.argv[1]); print(p.distill_config, p.distilled_path)" "$CONFIG")
[ -f "$DISTILLED" ] || $PY -m padir_export.distill --config "$DISTILL"
[ -f "$RUNS/student.pt" ] || $PY -m padir_export.train --config $CONFIG --stage student
$PY -m padir_export.export_model --config $CONFIG --out "$RUNS/fp32"
$PY -m padir_export.quantize --model "$RUNS/fp32" --out onnx/en-fr
du -sh onnx/en-fr
$PY -m padir_export.golden --model onnx/en-fr --data ../shared/data/dev.en-fr.tsv -n 20
