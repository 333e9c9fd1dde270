"""Lexical shortlist (issue #14, lever 2): the target pieces worth scoring for one sentence.

At d_model 256 the output projection over all 8,000 pieces is ~40% of a decoder pass's
multiply-adds, and the log-softmax and argmax over it come on top. Bergamot's translators
score only a per-sentence shortlist instead: the most frequent target pieces plus the likeliest
translations of each source piece. This module learns such a list from a tokenized parallel
corpus, by sentence-level co-occurrence (no word aligner), and measures what restricting the
AR teacher's greedy decoding to it costs:

    .venv/bin/python -m padir_export.shortlist --config export/configs/en-fr.json \
        --frequent 100 300 --per-source 10 30 --eval 500

Learned on the student's targets (`distilled.npz`) when there are, else on the training pairs:
the outputs to cover are the models', not the human references'.
"""

from __future__ import annotations

import argparse
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .config import EOS_ID
from .data import TokenizedCorpus, read_tsv

if TYPE_CHECKING:  # the reference decoder reads shortlists: no torch at import time
    from .pipeline import Pipeline


# The file the runtime reads (`shortlist.bin`, named in the manifest), little-endian:
# magic, format version, vocabulary size V, N frequent ids, k candidates per source id; then
# N u16 frequent ids and V x k u16 candidates, row s = source id s, 0xFFFF for none.
MAGIC = b"PDSL"
FORMAT_VERSION = 1
NONE = 0xFFFF
HEADER = struct.Struct("<4sIIII")


@dataclass
class Shortlist:
    frequent: np.ndarray  # [N] target ids kept for every sentence
    candidates: np.ndarray  # [vocab, k] per source id its likeliest target ids, -1 for none

    def save(self, path: Path) -> None:
        vocab, k = self.candidates.shape
        assert vocab < NONE, "ids must fit u16 below the 'none' marker"
        cand = np.where(self.candidates < 0, NONE, self.candidates).astype("<u2")
        with open(path, "wb") as f:
            f.write(HEADER.pack(MAGIC, FORMAT_VERSION, vocab, len(self.frequent), k))
            f.write(self.frequent.astype("<u2").tobytes())
            f.write(cand.tobytes())

    @classmethod
    def load(cls, path: Path) -> Shortlist:
        data = Path(path).read_bytes()
        magic, version, vocab, n, k = HEADER.unpack_from(data)
        if magic != MAGIC or version != FORMAT_VERSION:
            raise ValueError(f"{path} is not a padir shortlist (format {FORMAT_VERSION})")
        body = np.frombuffer(data, dtype="<u2", offset=HEADER.size)
        if body.size != n + vocab * k:
            raise ValueError(f"{path}: {body.size} ids, header says {n + vocab * k}")
        cand = body[n:].reshape(vocab, k).astype(np.int32)
        cand[cand == NONE] = -1
        return cls(body[:n].astype(np.int32), cand)

    def for_source(self, src: np.ndarray) -> np.ndarray:
        """The sorted target ids a sentence's decoder may emit: the frequent pieces, the
        candidates of each source piece, the source pieces themselves (numbers, names and
        placeholders are copied) and </s>."""
        cand = self.candidates[src].ravel()
        ids = np.concatenate([self.frequent, cand[cand >= 0], src, [EOS_ID]])
        return np.unique(ids)


def cooccurrence(
    corpus: TokenizedCorpus, vocab: int, pairs: int, chunk: int = 20_000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Over the first `pairs` pairs: in how many pairs source piece s and target piece t both
    occur ([vocab, vocab]), and in how many each source and each target piece occurs."""
    n = min(pairs, len(corpus))
    counts = np.zeros(vocab * vocab, dtype=np.int32)
    src_df = np.zeros(vocab, dtype=np.int64)
    tgt_df = np.zeros(vocab, dtype=np.int64)
    for start in range(0, n, chunk):
        keys = []
        for i in range(start, min(start + chunk, n)):
            s, t = np.unique(corpus.src(i)), np.unique(corpus.tgt(i))
            src_df[s] += 1
            tgt_df[t] += 1
            keys.append((s[:, None].astype(np.int64) * vocab + t[None, :]).ravel())
        counts += np.bincount(np.concatenate(keys), minlength=vocab * vocab).astype(np.int32)
    return counts.reshape(vocab, vocab), src_df, tgt_df


def learn(
    counts: np.ndarray,
    src_df: np.ndarray,
    tgt_df: np.ndarray,
    frequent: int,
    per_source: int,
    rows: int = 500,
) -> Shortlist:
    """The `frequent` target pieces found in most pairs, and for each source piece the
    `per_source` others with the highest p(t | s), the share of the pairs holding s that hold t.
    Ties (frequent: counts are small integers) go to the target piece found in more pairs, then
    to the lower id, so the file is the same on every CPU: `argpartition` and unstable sorts pick
    among equals by how numpy's SIMD kernels for the machine happen to order them (95 of the 105
    rows in which round 7's shortlist and a re-export on another x86 CPU differed were ties).
    `rows` source pieces at a time bound the memory of the sort."""
    top = np.argsort(-tgt_df, kind="stable")[:frequent]
    cand = np.empty((len(counts), per_source), dtype=np.int32)
    by_df = -tgt_df  # the tie-break key, the same for every row
    for start in range(0, len(counts), rows):
        block = counts[start : start + rows]
        p = block / np.maximum(src_df[start : start + rows], 1)[:, None].astype(np.float32)
        p[:, top] = 0.0  # kept anyway: leave the room to rarer pieces
        # lexsort: the last key first; it is stable, so equal keys keep the lower id first.
        best = np.lexsort((np.broadcast_to(by_df, p.shape), -p), axis=1)[:, :per_source]
        best[np.take_along_axis(p, best, axis=1) <= 0] = -1
        cand[start : start + rows] = best
    return Shortlist(np.sort(top).astype(np.int32), cand)


def padded(lists: list[np.ndarray], vocab_size: int) -> np.ndarray:
    """The decoder's `vocab` input: one row per list, padded with `vocab_size`."""
    out = np.full((len(lists), max(len(x) for x in lists)), vocab_size, dtype=np.int64)
    for r, ids in enumerate(lists):
        out[r, : len(ids)] = ids
    return out


def learning_corpus(pipe: Pipeline) -> TokenizedCorpus:
    """The student's targets when there are (the outputs to cover are the model's), else the
    training pairs."""
    if pipe.distilled_path.exists():
        return TokenizedCorpus.load(pipe.distilled_path)
    return pipe.train_corpus("teacher")


def learn_for_export(pipe: Pipeline) -> Shortlist:
    """The shortlist of config section `shortlist` (`frequent`, `per_source`, `pairs`)."""
    sc = pipe.cfg["shortlist"]
    corpus = learning_corpus(pipe)
    counts = cooccurrence(corpus, pipe.model_cfg.vocab_size, sc.get("pairs", 400_000))
    return learn(*counts, sc["frequent"], sc["per_source"])


def evaluate(pipe: Pipeline, lists: dict[str, Shortlist], n: int) -> list[dict]:
    """Greedy AR translations of the first `n` dev sentences by the teacher, over the whole
    vocabulary and restricted to each shortlist: BLEU, chrF, the share of outputs unchanged,
    and the mean shortlist size."""
    import sacrebleu

    from .evaluate import greedy_ids, restored
    from .tokenizer import decode

    tok = pipe.tokenizer()
    dev = pipe.dev_corpus("teacher")
    sources, refs = read_tsv(pipe.path("dev"))
    n = min(n, len(dev))
    src = [dev.src(i) for i in range(n)]
    model = pipe.load_final("teacher")
    limit = model.cfg.max_target_len

    def score(ids: list[list[int]]) -> tuple[float, float]:
        hyps = restored(tok, [decode(tok, x) for x in ids], sources[:n])
        return (
            sacrebleu.corpus_bleu(hyps, [refs[:n]]).score,
            sacrebleu.corpus_chrf(hyps, [refs[:n]]).score,
        )

    t0 = time.time()
    full, _ = greedy_ids(model, src, limit)
    bleu, chrf = score(full)
    rows = [
        {
            "shortlist": "none (8,000 pieces)",
            "mean size": model.cfg.vocab_size,
            "outputs covered": 1.0,
            "outputs unchanged": 1.0,
            "bleu": bleu,
            "chrf": chrf,
            "seconds": time.time() - t0,
        }
    ]
    for name, sl in lists.items():
        allowed = [sl.for_source(s) for s in src]
        t0 = time.time()
        ids, _ = greedy_ids(model, src, limit, vocab=allowed)
        bleu, chrf = score(ids)
        covered = np.mean([np.isin(f, a).all() for f, a in zip(full, allowed)])
        rows.append(
            {
                "shortlist": name,
                "mean size": float(np.mean([len(a) for a in allowed])),
                "outputs covered": float(covered),
                "outputs unchanged": float(np.mean([a == b for a, b in zip(ids, full)])),
                "bleu": bleu,
                "chrf": chrf,
                "seconds": time.time() - t0,
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--pairs", type=int, default=400_000, help="corpus pairs to count over")
    ap.add_argument("--frequent", type=int, nargs="+", default=[300])
    ap.add_argument("--per-source", type=int, nargs="+", default=[30])
    ap.add_argument("--eval", type=int, default=500, help="dev sentences to translate")
    args = ap.parse_args()
    from .pipeline import Pipeline

    pipe = Pipeline(args.config)
    corpus = learning_corpus(pipe)
    vocab = pipe.model_cfg.vocab_size
    t0 = time.time()
    counts, src_df, tgt_df = cooccurrence(corpus, vocab, args.pairs)
    print(f"co-occurrence over {min(args.pairs, len(corpus))} pairs: {time.time() - t0:.0f} s")
    lists = {
        f"{f} frequent + {k} per source piece": learn(counts, src_df, tgt_df, f, k)
        for f in args.frequent
        for k in args.per_source
    }
    rows = evaluate(pipe, lists, args.eval)
    print(f"\nfirst {args.eval} dev sentences, greedy AR teacher (PyTorch, fp32)\n")
    print("| shortlist | mean size | outputs covered | outputs unchanged | BLEU | chrF |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['shortlist']} | {r['mean size']:.0f} | {100 * r['outputs covered']:.1f}% | "
            f"{100 * r['outputs unchanged']:.1f}% | {r['bleu']:.2f} | {r['chrf']:.2f} |"
        )


if __name__ == "__main__":
    main()
