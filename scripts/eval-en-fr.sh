#!/usr/bin/env bash
# Measure the shipped en->fr model for docs/MODEL.md and docs/BENCHMARKS.md: `padir bench` (AR
# greedy and PaDIR at 1/2/4/8 iterations, length beam 1 and 3; speed, repeats, BLEU, chrF) on
# the installation-guide test set and the dev set, with the shipped int8 model and with fp32
# (the export before quantization, kept by the training run), then CTranslate2 side by side on
# the same teacher.
# Writes docs/eval/<precision>-<set>-<limit>.md and docs/bench/side_by_side.*. Use an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
FP32=${FP32:-${PADIR_RUNS:-$HOME/.cache/padir/runs}/en-fr/fp32}  # a later round: its own run
THREADS=${THREADS:-2}
LIMIT=${LIMIT:-200}  # first N sentences of each set: a weak model's AR loops make full sets slow
mkdir -p docs/eval
for run in "onnx/en-fr test.instguide" "onnx/en-fr dev" "$FP32 test.instguide" "$FP32 dev"; do
  read -r model set <<< "$run"
  [ -f "$model/model.json" ] || { echo "eval: $model is missing, skipped" >&2; continue; }
  precision=$(.venv/bin/python -c "import json,sys; print(json.load(open(sys.argv[1]))['precision'])" "$model/model.json")
  cmd="padir bench --model $model --input ../shared/data/$set.en-fr.tsv --limit $LIMIT --threads $THREADS"
  echo "== $cmd"
  { echo "\`$cmd\`"; echo; target/release/$cmd; } > "docs/eval/$precision-$set-$LIMIT.md"
done
# CTranslate2 reads the teacher in Hugging Face form, written afresh from the current teacher.
HF=${PADIR_RUNS:-$HOME/.cache/padir/runs}/en-fr/hf-teacher
.venv/bin/python -m padir_export.hf --config export/configs/en-fr.json --out "$HF"
.venv/bin/python bench/side_by_side.py --model onnx/en-fr --hf-teacher "$HF" \
  --input ../shared/data/test.instguide.en-fr.tsv --limit "$LIMIT" --threads "$THREADS" --out docs/bench
