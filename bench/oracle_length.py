"""Is the student's length prediction what holds it back? PaDIR with its predicted length
against PaDIR given its teacher's output length (an oracle), through the reference decoder.

    .venv/bin/python bench/oracle_length.py --model onnx/en-fr \
        --input ../shared/data/dev.en-fr.tsv --limit 500

Sources are protected and outputs restored as in the learning curves (`evaluate.student_bleu`).
Prints BLEU against the references and against the teacher's greedy output, for both lengths,
and how often the predicted length is the teacher's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import sacrebleu
from padir_export.data import read_tsv
from padir_export.evaluate import restored
from padir_export.protect import protect
from padir_export.reference import ReferenceTranslator
from padir_export.tokenizer import has_placeholders


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument("--model", type=Path, default=Path("onnx/en-fr"))
    ap.add_argument("--input", required=True)
    ap.add_argument("--limit", type=int, default=500)
    ap.add_argument("--iterations", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    pairs = list(zip(*read_tsv(args.input)))[: args.limit]
    sources = [s for s, _ in pairs if s.strip()]
    refs = [r for s, r in pairs if s.strip()]
    ref = ReferenceTranslator(args.model, threads=args.threads)
    texts = [protect(s).text for s in sources] if has_placeholders(ref.tok) else sources

    def scored(outputs) -> list[str]:
        return restored(ref.tok, [t.text for t in outputs], sources)

    teacher = ref.translate_ar(texts)
    teacher_text = scored(teacher)
    predicted = ref.translate_nar(
        texts, iterations=args.iterations, length_beam=1, top_lengths=1
    )
    # The oracle: each sentence's one candidate length is its teacher's (the reference decoder
    # asks for the candidates of the non-empty sentences in order).
    lengths = iter(max(1, len(t.ids)) for t in teacher)
    ref.candidate_lengths = lambda *_: [next(lengths)]
    oracle = ref.translate_nar(
        texts, iterations=args.iterations, length_beam=1, top_lengths=1
    )

    print(
        f"{len(sources)} sentences of {args.input}, {args.model}, {args.iterations} passes"
    )
    print("| decoding | BLEU | BLEU against the teacher's output |")
    print("|---|---:|---:|")
    rows = [("AR teacher, greedy", teacher_text)]
    rows += [("PaDIR, predicted length", scored(predicted))]
    rows += [("PaDIR, the teacher's length", scored(oracle))]
    for name, hyps in rows:
        bleu = sacrebleu.corpus_bleu(hyps, [refs]).score
        agree = sacrebleu.corpus_bleu(hyps, [teacher_text]).score
        print(f"| {name} | {bleu:.2f} | {agree:.2f} |")
    error = np.array([p.length for p in predicted]) - np.array(
        [len(t.ids) for t in teacher]
    )
    print(
        f"predicted length = the teacher's: {np.mean(error == 0):.1%}; "
        f"within 1: {np.mean(np.abs(error) <= 1):.1%}; mean error {error.mean():+.2f} tokens"
    )


if __name__ == "__main__":
    main()
