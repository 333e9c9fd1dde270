"""How long the targets are against their sources: human references vs the student's targets.

    .venv/bin/python -m padir_export.length_stats --config export/configs/en-fr.json

Reads `train.npz` (human translations) and `distilled.npz` (the student's targets: the
teacher's outputs, some replaced by the reference, see `distill.py`; `--targets` reads another
file of the run directory) and prints, overall and per source-length bucket (in tokens),
target/source tokens and the share of targets at least 20 tokens shorter than their source. A
teacher that leaves out parts of long sentences shows here, and its student's length predictor
learns it.
"""

from __future__ import annotations

import argparse

from .data import TokenizedCorpus
from .pipeline import Pipeline

# (label, shortest, longest + 1) source lengths in tokens
BUCKETS = [
    ("all", 0, 10**9),
    ("1-9", 1, 10),
    ("10-19", 10, 20),
    ("20-39", 20, 40),
    ("40+", 40, 10**9),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--targets", default="distilled.npz", help="student targets in the run dir")
    args = ap.parse_args()
    pipe = Pipeline(args.config)
    print("| targets | source tokens | pairs | target/source tokens | 20+ tokens shorter |")
    print("|---|---|---:|---:|---:|")
    for name, file in [("human", "train.npz"), ("student", args.targets)]:
        corpus = TokenizedCorpus.load(pipe.runs / file)
        src, tgt = corpus.src_lens(), corpus.tgt_lens()
        for label, lo, hi in BUCKETS:
            m = (src >= lo) & (src < hi)
            ratio = tgt[m].sum() / src[m].sum()
            short = ((tgt[m] - src[m]) <= -20).mean()
            print(f"| {name} | {label} | {m.sum():,} | {ratio:.2f} | {short:.1%} |")


if __name__ == "__main__":
    main()
