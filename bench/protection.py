"""Placeholder protection measured on held-out pairs whose source has protected spans: the share
of outputs that hold every span exactly as often as the source (printf conversions without a
position in the same order), how often the AR fallback and the repair were needed, and BLEU /
chrF of those pairs with protection and without.

    PYTHONPATH=bindings/python .venv/bin/python bench/protection.py --model onnx/en-fr \\
        --input ../shared/data/dev.en-fr.tsv

Spans are found with the specification (`export/padir_export/protect.py`); the translations
come from the runtime through the Python binding, at the model's default settings.
"""

from __future__ import annotations

import argparse
from collections import Counter

import padir
import sacrebleu
from padir_export.data import read_tsv
from padir_export.protect import SPAN, protect


def spans_kept(source: str, output: str) -> bool:
    p = protect(source)
    if any(output.count(s) != source.count(s) for s in set(p.spans)):
        return False

    def unpositioned(text: str) -> list[str]:
        return [m.group() for m in SPAN.finditer(text) if m.lastgroup == "printf"]

    return unpositioned(output) == unpositioned(source)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument("--model", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--mode", default="nar", choices=["nar", "ar"])
    args = ap.parse_args()
    src, ref = read_tsv(args.input)
    pairs = [(s, r) for s, r in zip(src, ref) if protect(s).spans]
    sources, refs = [s for s, _ in pairs], [r for _, r in pairs]
    rows = []
    with padir.Translator(args.model, threads=args.threads) as t:
        for protected in (True, False):
            out = t.translate(sources, mode=args.mode, protect=protected)
            hyps = [o.text for o in out]
            flags = Counter()
            for o in out:
                flags["fallback"] += o.fallback
                flags["repaired"] += o.repaired
            kept = sum(spans_kept(s, h) for s, h in zip(sources, hyps))
            rows.append(
                (
                    "on" if protected else "off",
                    100 * kept / len(pairs),
                    100 * flags["fallback"] / len(pairs),
                    100 * flags["repaired"] / len(pairs),
                    sacrebleu.corpus_bleu(hyps, [refs]).score,
                    sacrebleu.corpus_chrf(hyps, [refs]).score,
                )
            )
    print(
        f"{len(pairs)} pairs of {args.input} with protected spans; {args.model}, {args.mode}"
    )
    print("| protection | spans kept exactly | AR fallback | repaired | BLEU | chrF |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, kept, fb, rep, bleu, chrf in rows:
        print(
            f"| {name} | {kept:.1f}% | {fb:.1f}% | {rep:.1f}% | {bleu:.1f} | {chrf:.1f} |"
        )


if __name__ == "__main__":
    main()
