"""Draw learning curves (`<stage>-curve.tsv`, written by `train.py` with `eval_every`) as a PNG:
dev BLEU and dev token loss against steps and against training hours.

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
        for col, x in enumerate(("step", "train_hours")):
            axes[0][col].plot(c[x], c["dev_bleu"], marker="o", label=path.stem)
            axes[1][col].plot(c[x], c["dev_token_loss"], marker="o", label=path.stem)
    for col, x in enumerate(("steps", "training hours (2-core CPU unless noted)")):
        axes[1][col].set_xlabel(x)
    axes[0][0].set_ylabel("dev BLEU (greedy, first 500)")
    axes[1][0].set_ylabel("dev token loss (no smoothing)")
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    axes[0][0].legend()
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
