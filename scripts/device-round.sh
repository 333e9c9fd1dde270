#!/usr/bin/env bash
# A training round on a lent GPU (export/padir_export/gpu_round.py), in three steps:
#
#   scripts/device-round.sh prepare          # here: park what need not travel, stage the corpus
#   device tool `run`: command "scripts/device-round.sh run", carry [".device"], timeout_s 590
#   scripts/device-round.sh restore DIR      # here: unpark; DIR = the run's files_at
#
# Why parking: the device takes the working tree (tracked and untracked files) and at most 64 MiB;
# the shipped model and its packed weights are ~79 MB and not needed there (a path missing here is
# skipped). They are moved to ../padir-parked and out of git's index until `restore` (or `unpark`)
# puts them back; commit nothing in between. The corpus (../shared, which does not travel) goes in
# .device/ (git-ignored, carried). `run` runs there: the round with a smoke pass first, into $OUT
# (the pair's packed weights, the packed distillation, curves and logs). `restore` then puts the
# packed files where the configs' `resume` entries point, the curves in docs/curves, the logs in
# ~/.cache/padir/device-round/, and unpacks the finished pair into its run directory, from where
# `scripts/train-en-fr.sh export/configs/en-fr-r8.json` exports it.
set -euo pipefail
cd "$(dirname "$0")/.."
BIG=export/configs/en-fr-big.json
PAIR=export/configs/en-fr-r8.json
PARK=../padir-parked
PARKED=(onnx/en-fr export/checkpoints/en-fr/teacher.pt export/checkpoints/en-fr/student.pt
        export/checkpoints/en-fr/distilled.xz
        export/checkpoints/en-fr/round6-hf-teacher)

unpark() {
  for p in "${PARKED[@]}"; do
    if [ -e "$PARK/$p" ]; then
      mkdir -p "$(dirname "$p")"
      rm -rf "$p"
      mv "$PARK/$p" "$p"
    fi
  done
  git reset -q -- "${PARKED[@]}"
  git status --short -- "${PARKED[@]}"
}

case "${1:-}" in
  prepare)
    [ -z "$(git status --porcelain -- "${PARKED[@]}")" ] || { echo "parked paths have changes: commit first" >&2; exit 1; }
    for p in "${PARKED[@]}"; do
      [ -e "$p" ] || continue
      mkdir -p "$PARK/$(dirname "$p")"
      git rm -r -q --cached -- "$p"
      mv "$p" "$PARK/$p"
    done
    mkdir -p .device/data
    cp ../shared/data/train.en-fr.tsv.gz ../shared/data/dev.en-fr.tsv \
       ../shared/data/test.instguide.en-fr.tsv .device/data/
    echo "parked in $PARK and out of git's index: commit nothing before \`$0 restore DIR\` or \`$0 unpark\`"
    echo "what travels: $(( ($(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1) + $(du -sb .device | cut -f1)) / 1048576 )) MiB (at most 64)"
    ;;
  run)  # on the device machine
    : "${OUT:?run this through the device tool: it sets OUT}"
    mkdir -p "$OUT" ../shared/data  # (the device makes OUT; a rehearsal here may not have it)
    cp -n .device/data/* ../shared/data/  # (-n: a rehearsal here keeps ../shared as it is)
    export PADIR_RUNS=/tmp/padir-runs PYTHONPATH="$PWD/export" PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
    python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
    set -o pipefail
    # Extra arguments go to gpu_round (`run --smoke-only` rehearses on a CPU, OUT set by hand).
    python3 -m padir_export.gpu_round --big $BIG --pair $PAIR --out "$OUT" --smoke --minutes 9.3 "${@:2}" 2>&1 | tee "$OUT/run.log"
    ;;
  restore)
    DIR=${2:?usage: $0 restore FILES_AT}
    unpark
    PY=.venv/bin/python
    dest() { $PY -c "import json,sys; c=json.load(open(sys.argv[1])); print(c[sys.argv[2]]['resume'])" "$1" "$2"; }
    # A returned file may come in parts (NAME.part00, ...): `cat NAME*` joins them in order.
    for name in teacher student; do
      if compgen -G "$DIR/$name.pt*" > /dev/null; then
        mkdir -p "$(dirname "$(dest $PAIR $name)")"
        cat "$DIR/$name.pt"* > "$(dest $PAIR $name)"
        $PY -m padir_export.checkpoint --config $PAIR --stage $name --unpack-final
      fi
    done
    if compgen -G "$DIR/distilled.xz*" > /dev/null; then
      cat "$DIR/distilled.xz"* > "$(dest $BIG distill)"
      # The student's corpus again (export's shortlist and any further training read it).
      $PY -m padir_export.distill --config $BIG --assemble-only
    fi
    LOGS=$HOME/.cache/padir/device-round
    rm -rf "$LOGS" && mkdir -p "$LOGS"
    cat "$DIR/round.tar.gz"* | tar -xz -C "$LOGS"
    cp "$DIR/run.log" "$LOGS/" 2>/dev/null || true
    [ -d "$LOGS/docs/curves" ] && cp "$LOGS"/docs/curves/* docs/curves/
    echo "logs and summary.json in $LOGS; next: scripts/train-en-fr.sh $PAIR"
    ;;
  unpark)
    unpark
    ;;
  *)
    echo "usage: $0 prepare | run | restore FILES_AT | unpark" >&2
    exit 2
    ;;
esac
