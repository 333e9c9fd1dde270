"""How long the targets are against their sources: human references vs the student's targets.

    .venv/bin/python -m padir_export.length_stats --config export/configs/en-fr.json

Reads `train.npz` (human translations) and `distilled.npz` (the student's targets: the
teacher's outputs, some replaced by the reference, see `distill.py`; `--targets` reads another
file of the run directory) and prints, overall and per source-length bucket (in tokens),
target/source tokens and the share of targets at least 20 tokens shorter than their source. A
teacher that leaves out parts of long sentences shows here, and its student's length predictor
learns it. Then the teacher's own outputs (the distillation shards, before any is replaced):
their length against the references, and how many ran into the length limit or came out
shorter than `distill.min_length_ratio` of the reference (those are replaced by it).
"""

from __future__ import annotations

import argparse

import numpy as np

from .data import TokenizedCorpus
from .distill import usable
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
    teacher_outputs(pipe)


def teacher_outputs(pipe: Pipeline) -> None:
    shards = sorted((pipe.runs / "distill").glob("shard-*.npz"))
    if not shards:
        return
    corpus = TokenizedCorpus.load(pipe.runs / "train.npz")
    ratio = pipe.cfg.get("distill", {}).get("min_length_ratio") or 0.0
    n = out_tokens = ref_tokens = unfinished = short = 0
    for path in shards:
        with np.load(path) as z:
            index, flat, off = z["index"], z["flat"], z["off"]
        for k, i in enumerate(index):
            src, out, ref = corpus.src(int(i)), flat[off[k] : off[k + 1]], corpus.tgt(int(i))
            n += 1
            out_tokens += len(out)
            ref_tokens += len(ref)
            if not usable(src, out, pipe.model_cfg.max_target_len):
                unfinished += 1
            elif len(out) < ratio * len(ref):
                short += 1
    print(
        f"\nteacher outputs ({len(shards)} shards): {n:,}; tokens against the references "
        f"{out_tokens / ref_tokens:.3f}; empty or unfinished {unfinished:,} ({unfinished / n:.2%}); "
        f"shorter than {ratio} of the reference {short:,} ({short / n:.1%})"
    )


if __name__ == "__main__":
    main()
