"""What #13's repeated-word measure costs in BLEU: scores `padir translate --json` outputs as
they are and with every immediately repeated word dropped ("de de" -> "de"), beside how often
the human references repeat a word themselves (French does: "vous vous").

    cut -f1 ../shared/data/dev.en-fr.tsv > /tmp/dev.src
    target/release/padir translate --model onnx/en-fr --threads 2 --json --input /tmp/dev.src > /tmp/dev.json
    .venv/bin/python bench/repeated_words.py --json /tmp/dev.json --input ../shared/data/dev.en-fr.tsv

If dropping the repeats leaves BLEU where it was, they stand where a wrong word stands, not
beside a right one: a filter would satisfy the measure without improving the translation.
"""

from __future__ import annotations

import argparse
import json

import sacrebleu
from padir_export.data import read_tsv
from padir_export.evaluate import repeated_word_share


def drop_repeats(text: str) -> str:
    """The words of `text`, each immediately repeated one (case aside) dropped."""
    words: list[str] = []
    for w in text.split():
        if not words or words[-1].lower() != w.lower():
            words.append(w)
    return " ".join(words)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument(
        "--json", required=True, help="padir translate --json output, one per line"
    )
    ap.add_argument(
        "--input", required=True, help="the source/reference TSV it translated"
    )
    args = ap.parse_args()
    with open(args.json, encoding="utf-8") as f:
        hyps = [json.loads(line)["text"] for line in f]
    _, refs = read_tsv(args.input)
    if len(hyps) != len(refs):
        raise SystemExit(f"{args.json}: {len(hyps)} outputs for {len(refs)} references")
    print("| outputs | BLEU | chrF | with a repeated word |")
    print("|---|---:|---:|---:|")
    for label, hs in (
        ("as translated", hyps),
        ("repeats dropped", list(map(drop_repeats, hyps))),
    ):
        bleu = sacrebleu.corpus_bleu(hs, [refs]).score
        chrf = sacrebleu.corpus_chrf(hs, [refs]).score
        print(
            f"| {label} | {bleu:.2f} | {chrf:.2f} | {100 * repeated_word_share(hs):.1f}% |"
        )
    print(f"| the references | | | {100 * repeated_word_share(refs):.1f}% |")


if __name__ == "__main__":
    main()
