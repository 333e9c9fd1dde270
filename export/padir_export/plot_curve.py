"""Draw learning curves (`<stage>-curve.tsv`, written by `train.py` with `eval_every`) as a PNG:
dev BLEU and dev loss against steps and against training hours. A teacher's curve gives its
greedy BLEU and token loss (no smoothing); a student's its PaDIR BLEU after 2 and 4 passes and
its training loss on the dev set.

    python -m padir_export.plot_curve docs/curves/teacher.tsv --out docs/curves/teacher.png
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def read_curve(path: Path) -> dict[str, list[float]]:
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return {k: [float(r[k]) for r in rows] for k in rows[0]} if rows else {}


def plot(curves: list[Path], out: Path) -> None:
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharey="row")
    for path in curves:
        c = read_curve(path)
        if not c:
            continue
        bleus = {k: k.removeprefix("dev_bleu_") for k in c if k.startswith("dev_bleu_")}
        bleus = bleus or {"dev_bleu": "greedy"}
        loss = "dev_token_loss" if "dev_token_loss" in c else "dev_loss"
        for col, x in enumerate(("step", "train_hours")):
            for key, what in bleus.items():
                axes[0][col].plot(c[x], c[key], marker="o", label=f"{path.stem} ({what})")
            axes[1][col].plot(c[x], c[loss], marker="o", label=f"{path.stem} ({loss})")
    for col, x in enumerate(("steps", "training hours (2-core CPU unless noted)")):
        axes[1][col].set_xlabel(x)
    axes[0][0].set_ylabel("dev BLEU (first 500)")
    axes[1][0].set_ylabel("dev loss")
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    axes[0][0].legend()
    axes[1][0].legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("curves", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    plot(args.curves, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
