#!/usr/bin/env bash
# Regenerate onnx/tiny: train the tiny teacher and student on a slice of the shared corpus
# (a few minutes on 2 cores), export and parity-check the graphs, and write the golden outputs
# of the Python reference decoder. Training artefacts go to $PADIR_RUNS/tiny (outside git).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --python-only
PY=.venv/bin/python
CONFIG=export/configs/tiny.json
rm -rf "${PADIR_RUNS:-$HOME/.cache/padir/runs}/tiny"
$PY -m padir_export.train --config $CONFIG --stage teacher
$PY -m padir_export.train --config $CONFIG --stage student
$PY -m padir_export.export_model --config $CONFIG --out onnx/tiny
$PY -m padir_export.golden --model onnx/tiny --data ../shared/data/dev.en-fr.tsv -n 20
