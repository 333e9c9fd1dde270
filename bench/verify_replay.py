"""How many teacher passes draft-and-verify needs, replayed from outputs instead of timed: the
teacher is causal and verification only ever feeds it its own greedy prefix, so its passes are
determined by its greedy output and the student's drafts. Prints tokens per teacher pass for
the realignment rules, and optionally for redrafting after each rejection (one student pass with
the accepted prefix fixed).

    .venv/bin/python bench/verify_replay.py --model onnx/en-fr \\
        --input ../shared/data/dev.en-fr.tsv --draft-iterations 1 2 4 --redraft 300

Outputs come from `target/release/padir translate --json` (build it first); the redraft replay
runs the student's encoder and decoder graphs with ONNX Runtime.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

EOS, MASK = 1, 3
PADIR = Path(__file__).resolve().parents[1] / "target" / "release" / "padir"


def translate_ids(model: str, sources: Path, *args: str) -> list[list[int]]:
    out = subprocess.run(
        [str(PADIR), "translate", "--model", model, "--input", str(sources), "--json"]
        + ["--no-sentences", "--no-protect", "--threads", "1", *args],
        check=False,  # exit 2 when a line is left untranslated; its JSON line says why
        capture_output=True,
        text=True,
    ).stdout
    return [json.loads(line)["ids"] for line in out.splitlines()]


def substitution(draft, at, output):
    """The runtime's rule before: the teacher's token among the next 3 draft tokens, else a
    substitution."""
    return next(
        (at + k + 1 for k in range(3) if draft[at + k : at + k + 1] == output[-1:]),
        at + 1,
    )


def lookup(draft, at, output):
    """The runtime's rule (`realign` in src/decode/verify.rs)."""
    for n in (2, 1):
        if len(output) >= n:
            ends = [
                e for e in range(n, len(draft) + 1) if draft[e - n : e] == output[-n:]
            ]
            if ends:
                return min(ends, key=lambda e: abs(e - (at + 1)))
    return at + 1


def agreeing(teacher: list[int], n: int, draft: list[int], at: int) -> int:
    """How many draft tokens from `draft[at]` on equal the teacher's from `teacher[n]` on."""
    j = 0
    while (
        n + j < len(teacher) and at + j < len(draft) and draft[at + j] == teacher[n + j]
    ):
        j += 1
    return j


def passes(teacher: list[int], draft: list[int], realign) -> int:
    """Teacher passes for one sentence (as `verify_one`, without a length limit)."""
    n = at = count = 0
    while True:
        count += 1
        j = agreeing(teacher, n, draft, at)
        n += j + 1
        if n > len(teacher):  # the teacher wrote </s>
            return count
        at = realign(draft, at + j, teacher[:n])


def redraft_passes(teacher, draft, refine) -> tuple[int, int]:
    """Teacher and student passes when the student redrafts after every rejection."""
    draft, n, count, student = list(draft) or [MASK], 0, 0, 0
    while True:
        count += 1
        j = agreeing(
            teacher, n, draft, n
        )  # a redraft keeps the draft aligned with the output
        n += j + 1
        if n > len(teacher):
            return count, student
        width = max(len(draft), n + 1)
        prefix = teacher[:n]
        draft = prefix + refine(prefix + (draft + [MASK] * width)[n:width])[n:]
        student += 1


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument("--model", required=True)
    ap.add_argument("--input", required=True, help="TSV: source[TAB reference]")
    ap.add_argument("--draft-iterations", type=int, nargs="+", default=[1, 2])
    ap.add_argument(
        "--redraft", type=int, default=0, help="replay redrafting on N sentences"
    )
    args = ap.parse_args()
    lines = Path(args.input).read_text(encoding="utf-8").splitlines()
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as f:
        f.write("\n".join(line.split("\t")[0] for line in lines) + "\n")
        f.flush()
        src = Path(f.name)
        teacher = translate_ids(args.model, src, "--mode", "ar")
        drafts = {
            i: translate_ids(
                args.model, src, "--iterations", str(i), "--length-beam", "1"
            )
            for i in args.draft_iterations
        }
    tokens = sum(len(t) + 1 for t in teacher)
    print(
        f"{len(teacher)} sentences, {tokens / len(teacher):.1f} teacher tokens each (with </s>)"
    )
    print("| draft passes | rule | tokens per teacher pass | exact drafts % |")
    print("|---:|---|---:|---:|")
    for i, dr in drafts.items():
        exact = 100 * sum(t == d for t, d in zip(teacher, dr)) / len(teacher)
        for name, rule in (
            ("next 3 / substitution", substitution),
            ("bigram lookup", lookup),
        ):
            total = sum(passes(t, d, rule) for t, d in zip(teacher, dr))
            print(f"| {i} | {name} | {tokens / total:.2f} | {exact:.1f} |")
    if args.redraft:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        model = Path(args.model)
        enc = ort.InferenceSession(str(model / "encoder.onnx"), opts)
        dec = ort.InferenceSession(str(model / "decoder.onnx"), opts)
        tok = Tokenizer.from_file(str(model / "tokenizer.json"))
        first = min(args.draft_iterations)
        n = min(args.redraft, len(teacher))
        t_total = s_total = t_tokens = 0
        for k in range(n):
            ids = np.array([tok.encode(lines[k].split("\t")[0]).ids], np.int64)
            mask = np.ones_like(ids)
            hidden = enc.run(None, {"input_ids": ids, "attention_mask": mask})[0]

            def refine(tokens, hidden=hidden, mask=mask):
                d = np.array([tokens + [EOS]], np.int64)
                feed = {
                    "decoder_input_ids": d,
                    "decoder_attention_mask": np.ones_like(d),
                    "encoder_hidden": hidden,
                    "encoder_attention_mask": mask,
                }
                return list(dec.run(None, feed)[0][0, : len(tokens)])

            t, s = redraft_passes(teacher[k], drafts[first][k], refine)
            t_total, s_total, t_tokens = (
                t_total + t,
                s_total + s,
                t_tokens + len(teacher[k]) + 1,
            )
        print(
            f"\nredraft after each rejection ({n} sentences, {first}-pass first draft): "
            f"{t_tokens / t_total:.2f} tokens per teacher pass, {s_total / n:.1f} student "
            "passes per sentence"
        )


if __name__ == "__main__":
    main()
