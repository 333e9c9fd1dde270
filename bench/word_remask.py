"""Word-level repeat re-masking, tried in the reference decoder: does giving the decoder a second
guess at an immediately repeated word ("fenêtre fenêtre") make a better translation?

    .venv/bin/python bench/word_remask.py --model onnx/en-fr --input ../shared/data/dev.en-fr.tsv

The runtime's stutter rule sees only two equal adjacent ids; most of the student's repeated
words are a word of several pieces written twice, or one piece with and without its leading
space (docs/MODEL.md, "Repeats"). Here, after every pass, each word (pieces between
whitespace) equal to the word before it (case aside) has its pieces set to `<mask>`, so the
next pass predicts them again in context: `remask` before the last pass only, `remask-last`
after the last pass too (there the masked pieces are dropped from the output, as leftover
masks are). Each row: whole lines (no sentence splitting), placeholders protected and restored
as in the learning curves (`evaluate.student_bleu`), BLEU, chrF, the share of outputs with a
repeated word (#13's measure) and the mean decoder passes.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import sacrebleu
from padir_export.config import MASK_ID
from padir_export.data import read_tsv
from padir_export.evaluate import repeated_word_share, restored
from padir_export.protect import protect
from padir_export.reference import ReferenceTranslator
from padir_export.tokenizer import has_placeholders
from tokenizers import decoders

# Whitespace bytes as byte-level BPE writes them (space, newline, tab, carriage return).
SPACES = set("ĠĊĉč")


class WordRemask(ReferenceTranslator):
    """The reference decoder with repeated words re-masked after each pass (`mode`)."""

    mode = "off"  # off | remask | remask-last

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pieces = [
            self.tok.id_to_token(i) or "" for i in range(self.tok.get_vocab_size())
        ]
        self.bytes = decoders.ByteLevel()

    def repeated(self, ids: list[int]) -> set[int]:
        """Positions of the pieces of every word equal to the word before it, with any
        whitespace-only pieces between the two."""
        words: list[tuple[str, int, int]] = []  # text, first piece, last piece
        chars, first, last = "", -1, -1
        for i, t in enumerate(ids):
            # A `<mask>` is a word of its own that equals no other.
            piece = "Ġ\x00Ġ" if t == MASK_ID else self.pieces[t]
            for ch in piece:
                if ch in SPACES:
                    if chars:
                        words.append((chars, first, last))
                    chars = ""
                    continue
                first = i if not chars else first
                last = i
                chars += ch
        if chars:
            words.append((chars, first, last))
        out: set[int] = set()
        for (a, _, a_last), (b, b_first, b_last) in itertools.pairwise(words):
            if "\x00" in b or self.text(a) != self.text(b):
                continue
            out.update(range(max(a_last + 1, b_first), b_last + 1))
            out.update(
                i
                for i in range(a_last + 1, b_first)
                if set(self.pieces[ids[i]]) <= SPACES
            )
        return out

    def text(self, chars: str) -> str:
        return self.bytes.decode([chars]).lower()

    def _refine_row(
        self, r, tok, lp, t, iterations, acceptance, remask_stutter
    ) -> None:
        ReferenceTranslator._refine_row(
            r, tok, lp, t, iterations, acceptance, remask_stutter
        )
        if self.mode == "off" or (self.mode == "remask" and t == iterations - 1):
            return
        repeated = self.repeated(r["tokens"])
        for i in repeated:
            r["tokens"][i] = MASK_ID
        r["done"] = r["done"] and not repeated


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument("--model", type=Path, default=Path("onnx/en-fr"))
    ap.add_argument("--input", required=True)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    sources, refs = (list(x)[: args.limit] for x in read_tsv(args.input))
    ref = WordRemask(args.model, threads=args.threads)
    texts = [protect(s).text for s in sources] if has_placeholders(ref.tok) else sources
    print(f"{len(sources)} sentences of {args.input}, {args.model}")
    print("| passes | re-masking | BLEU | chrF | repeated word | mean passes |")
    print("|---:|---|---:|---:|---:|---:|")
    for iterations in (2, 4):
        for mode in ("off", "remask", "remask-last"):
            ref.mode = mode
            out = ref.translate_nar(texts, iterations=iterations)
            hyps = restored(ref.tok, [o.text for o in out], sources)
            bleu = sacrebleu.corpus_bleu(hyps, [refs]).score
            chrf = sacrebleu.corpus_chrf(hyps, [refs]).score
            share = 100 * repeated_word_share(hyps)
            passes = sum(o.iterations for o in out) / len(out)
            print(
                f"| {iterations} | {mode} | {bleu:.2f} | {chrf:.2f} | {share:.1f}% | {passes:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
