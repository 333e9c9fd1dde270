"""Reference decoders over onnxruntime-python: the specification the Rust runtime must match.

NAR (PaDIR refinement), for a batch of sentences:
1. Encode; predict length log-probs. For each sentence, src_len = tokens without </s>. The top
   `top_lengths` classes (ties: lower class first) give lengths src_len + class - max_offset;
   each is widened by the length beam to length + (i - length_beam // 2), i in 0..length_beam.
   Lengths are clamped to [1, max_length]; duplicates are dropped (first kept).
2. Every candidate is a row: positions 0..L-1 hold the initial tokens (all <mask>, or for
   `random` a SplitMix64 stream seeded with seed ^ (L * 0x9E3779B97F4A7C15), token =
   NUM_SPECIAL + next() % (V - NUM_SPECIAL)), position L holds </s>.
3. Up to `iterations` times, the decoder runs on all active rows as one batch (padded to the
   longest). At content position i the prediction (tok_i, lp_i) is accepted:
   - refine_all: always;  mask_predict: in the first iteration, or where the input was <mask>.
   An accepted position always takes lp_i as its confidence.
   remask_stutter: accepted positions i >= 1 whose new token equals the new token at i-1 are
   reverted to their input token (all found first, then reverted together).
   mask_predict, iteration t < T-1: the n = floor(L * (T-1-t) / T) lowest-confidence positions
   (ties: lower index first) become <mask>.
   A row whose tokens did not change in an iteration is finished (early exit).
   prune_after P > 0: after iteration P (1-based), each sentence keeps only its best-scoring
   row (score as in 4, ties: first row); the others are finished and never chosen, but their
   passes still count in `iterations`.
4. Output of a row: its tokens without those equal to their initial token and, with
   remask_stutter, without those equal to the token kept before them; score = mean
   confidence over the L positions. Per sentence the best score wins (ties: first candidate);
   `iterations` = most decoder passes among its rows.

AR (greedy, KV cache): start token <pad>; each step feeds the previous token; a row ends at
</s> or after max_length tokens. Score = mean log-prob of the emitted tokens including </s>.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from .config import EOS_ID, MASK_ID, NUM_SPECIAL, PAD_ID
from .shortlist import Shortlist, padded

# Most decoder positions (rows x width) per run of the NAR decoder graph; bigger passes run in
# slices of rows, as in the Rust runtime (`src/model/onnx.rs`), which bounds the [rows, width,
# vocab] logits the graph holds; the same slices on both sides keep the goldens exact.
MAX_DECODER_POSITIONS = 4096

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


class SplitMix64:
    """The one small generator shared with the Rust runtime (src/decode/rng.rs)."""

    def __init__(self, seed: int):
        self.state = seed & MASK64

    def next(self) -> int:
        self.state = (self.state + GOLDEN) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)


def random_init(seed: int, length: int, vocab: int) -> list[int]:
    rng = SplitMix64(seed ^ ((length * GOLDEN) & MASK64))
    return [NUM_SPECIAL + rng.next() % (vocab - NUM_SPECIAL) for _ in range(length)]


@dataclass
class Translation:
    text: str
    ids: list[int]
    score: float
    length: int
    iterations: int

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "ids": self.ids,
            "score": self.score,
            "length": self.length,
            "iterations": self.iterations,
        }


def mean(values: list[float]) -> float:
    """Left-to-right float64 sum, as the Rust runtime computes it (so rankings agree)."""
    return sum(values) / len(values)


def pad_rows(rows) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad token sequences with <pad> into [B,T] ids and mask."""
    t = max(len(r) for r in rows)
    ids = np.full((len(rows), t), PAD_ID, dtype=np.int64)
    mask = np.zeros((len(rows), t), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return ids, mask


class ReferenceTranslator:
    def __init__(self, model_dir: str | Path, threads: int = 1, batch_size: int = 64):
        self.dir = Path(model_dir)
        self.batch_size = batch_size
        self.manifest = json.loads((self.dir / "model.json").read_text(encoding="utf-8"))
        self.tok = Tokenizer.from_file(str(self.dir / self.manifest["tokenizer"]["file"]))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        self.sessions = {
            name: ort.InferenceSession(
                str(self.dir / g["file"]), opts, providers=["CPUExecutionProvider"]
            )
            for name, g in self.manifest["graphs"].items()
        }
        entry = self.manifest.get("shortlist")
        self.shortlist = Shortlist.load(self.dir / entry["file"]) if entry else None

    def _encode_source(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return pad_rows([e.ids for e in self.tok.encode_batch(texts, add_special_tokens=True)])

    def _batched(self, texts: list[str], run) -> list[Translation]:
        """Batch as the Rust runtime does (`src/translator.rs`): empty inputs translate to
        empty outputs without entering a batch; the others run in batches of at most
        `batch_size` sentences, sorted by token count (stable), so that a long list neither
        holds every sentence's activations at once (a probe scoring the whole dev set in one
        batch grew past 14 GB and was OOM-killed) nor pads every row to its longest sentence.
        The same batches keep goldens exact to the last float."""
        lengths = [len(e.ids) for e in self.tok.encode_batch(texts, add_special_tokens=True)]
        idx = sorted((i for i, t in enumerate(texts) if t.strip()), key=lambda i: lengths[i])
        out = [Translation("", [], 0.0, 0, 0) for _ in texts]
        for start in range(0, len(idx), self.batch_size):
            chunk = idx[start : start + self.batch_size]
            for i, tr in zip(chunk, run([texts[i] for i in chunk])):
                out[i] = tr
        return out

    def _text(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special_tokens=True)

    # ---- NAR --------------------------------------------------------------------------------
    def candidate_lengths(
        self,
        logprobs: np.ndarray,
        src_len: int,
        top_lengths: int,
        length_beam: int,
        max_length: int,
    ) -> list[int]:
        lp = self.manifest["length_predictor"]
        order = sorted(range(len(logprobs)), key=lambda c: (-logprobs[c], c))[:top_lengths]
        out: list[int] = []
        for c in order:
            base = src_len + c + lp["min_offset"]
            for i in range(length_beam):
                n = min(max(base + i - length_beam // 2, 1), max_length)
                if n not in out:
                    out.append(n)
        return out

    def translate_nar(self, texts: list[str], **options) -> list[Translation]:
        return self._batched(texts, lambda t: self._nar(t, **options))

    def translate_ar(self, texts: list[str], **options) -> list[Translation]:
        return self._batched(texts, lambda t: self._ar(t, **options))

    def _nar(
        self,
        texts: list[str],
        iterations: int | None = None,
        length_beam: int | None = None,
        top_lengths: int | None = None,
        init: str | None = None,
        acceptance: str | None = None,
        remask_stutter: bool | None = None,
        seed: int | None = None,
        max_length: int | None = None,
        prune_after: int | None = None,
    ) -> list[Translation]:
        d = self.manifest["decode"]
        prune_after = d.get("prune_after", 0) if prune_after is None else prune_after
        iterations = iterations or d["iterations"]
        length_beam = length_beam or d["length_beam"]
        top_lengths = top_lengths or d["top_lengths"]
        init = init or d["init"]
        acceptance = acceptance or d["acceptance"]
        remask_stutter = d["remask_stutter"] if remask_stutter is None else remask_stutter
        seed = d["seed"] if seed is None else seed
        max_length = max_length or self.manifest["max_target_len"]
        vocab = self.manifest["vocab_size"]

        src_ids, src_mask = self._encode_source(texts)
        (hidden,) = self.sessions["encoder"].run(
            None, {"input_ids": src_ids, "attention_mask": src_mask}
        )
        (len_lp,) = self.sessions["length_predictor"].run(
            None, {"encoder_hidden": hidden, "attention_mask": src_mask}
        )
        # Each sentence's lexical shortlist, when the model has one: its decoder scores only those.
        lists = None
        if self.shortlist is not None:
            lists = padded(
                [self.shortlist.for_source(ids[m == 1]) for ids, m in zip(src_ids, src_mask)],
                vocab,
            )
        rows = []  # dicts: sent, L, init, tokens, conf, iters, done, pruned
        for s in range(len(texts)):
            src_len = int(src_mask[s].sum()) - 1
            for n in self.candidate_lengths(
                len_lp[s], src_len, top_lengths, length_beam, max_length
            ):
                first = [MASK_ID] * n if init == "mask" else random_init(seed, n, vocab)
                rows.append(
                    {
                        "sent": s,
                        "L": n,
                        "init": first,
                        "tokens": list(first),
                        "conf": [0.0] * n,
                        "iters": 0,
                        "done": False,
                        "pruned": False,
                    }
                )
        for t in range(iterations):
            active = [r for r in rows if not r["done"]]
            if not active:
                break
            dec_ids, dec_mask = pad_rows([r["tokens"] + [EOS_ID] for r in active])
            sents = np.asarray([r["sent"] for r in active])
            tok, lp = self._decoder_pass(
                dec_ids,
                dec_mask,
                hidden[sents],
                src_mask[sents],
                None if lists is None else lists[sents],
            )
            for k, r in enumerate(active):
                self._refine_row(r, tok[k], lp[k], t, iterations, acceptance, remask_stutter)
            if t + 1 == prune_after:
                for s in range(len(texts)):
                    best, _ = self._best_row(rows, s)
                    for r in rows:
                        if r["sent"] == s and r is not best:
                            r["pruned"] = r["done"] = True
        return [self._best(rows, s, remask_stutter) for s in range(len(texts))]

    def _decoder_pass(
        self, ids, mask, hidden, src_mask, lists=None
    ) -> tuple[np.ndarray, np.ndarray]:
        step = max(1, MAX_DECODER_POSITIONS // ids.shape[1])
        parts = []
        for a in range(0, len(ids), step):
            feed = {
                "decoder_input_ids": ids[a : a + step],
                "decoder_attention_mask": mask[a : a + step],
                "encoder_hidden": hidden[a : a + step],
                "encoder_attention_mask": src_mask[a : a + step],
            }
            if lists is not None:
                feed["vocab"] = lists[a : a + step]
            parts.append(self.sessions["decoder"].run(None, feed))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    @staticmethod
    def _refine_row(r, tok, lp, t, iterations, acceptance, remask_stutter) -> None:
        n, old = r["L"], r["tokens"]
        new, conf = list(old), list(r["conf"])
        accepted = [t == 0 or acceptance == "refine_all" or old[i] == MASK_ID for i in range(n)]
        for i in range(n):
            if accepted[i]:
                new[i], conf[i] = int(tok[i]), float(lp[i])
        if remask_stutter:
            stutter = [i for i in range(1, n) if accepted[i] and new[i] == new[i - 1]]
            for i in stutter:
                new[i] = old[i]
        if acceptance == "mask_predict" and t < iterations - 1:
            k = n * (iterations - 1 - t) // iterations
            for i in sorted(range(n), key=lambda i: (conf[i], i))[:k]:
                new[i] = MASK_ID
        r["iters"] += 1
        r["done"] = new == old
        r["tokens"], r["conf"] = new, conf

    @staticmethod
    def _best_row(rows, s) -> tuple[dict, float]:
        """Sentence s's best-scoring row not pruned (ties: the first) and its score."""
        cands = [r for r in rows if r["sent"] == s and not r["pruned"]]
        scores = [mean(r["conf"]) for r in cands]
        return cands[scores.index(max(scores))], max(scores)

    def _best(self, rows, s, remask_stutter) -> Translation:
        best, score = self._best_row(rows, s)
        ids: list[int] = []
        for x, x0 in zip(best["tokens"], best["init"]):
            if x != x0 and not (remask_stutter and ids and ids[-1] == x):
                ids.append(x)
        passes = max(r["iters"] for r in rows if r["sent"] == s)
        return Translation(self._text(ids), ids, score, best["L"], passes)

    # ---- AR -----------------------------------------------------------------------------------
    def _ar(self, texts: list[str], max_length: int | None = None) -> list[Translation]:
        max_length = max_length or self.manifest["max_target_len"]
        src_ids, src_mask = self._encode_source(texts)
        out, lps = greedy_ar(self.sessions, self.manifest["ar"], src_ids, src_mask, max_length)
        return [
            Translation(self._text(ids), ids, mean(lp), len(ids), len(lp))
            for ids, lp in zip(out, lps)
        ]


def greedy_ar(sessions, shape: dict, src_ids: np.ndarray, src_mask: np.ndarray, max_length):
    """Greedy AR decoding of a padded batch with the KV-cached graphs.

    `max_length` is an int or one int per row. Returns token ids and per-step log-probs per row.
    """
    b = len(src_ids)
    limits = np.broadcast_to(np.asarray(max_length), (b,))
    cross_k, cross_v = sessions["ar_encoder"].run(
        None, {"input_ids": src_ids, "attention_mask": src_mask}
    )
    past_k = np.zeros((shape["layers"], b, shape["heads"], 0, shape["head_dim"]), np.float32)
    past_v = past_k.copy()
    alive = list(range(b))  # sentence index of each batch row
    prev = np.full((b, 1), PAD_ID, dtype=np.int64)
    out: list[list[int]] = [[] for _ in range(b)]
    lps: list[list[float]] = [[] for _ in range(b)]
    while alive:
        tok, lp, past_k, past_v = sessions["ar_decoder"].run(
            None,
            {
                "input_ids": prev,
                "past_k": past_k,
                "past_v": past_v,
                "cross_k": cross_k,
                "cross_v": cross_v,
                "encoder_attention_mask": src_mask,
            },
        )
        tok, lp = tok[:, 0], lp[:, 0]  # one step: the graph's T = 1
        keep = []
        for k, s in enumerate(alive):
            lps[s].append(float(lp[k]))
            if tok[k] == EOS_ID:
                continue
            out[s].append(int(tok[k]))
            if len(out[s]) < limits[s]:
                keep.append(k)
        if len(keep) < len(alive):  # drop finished rows from the batch
            alive = [alive[k] for k in keep]
            past_k, past_v = past_k[:, keep], past_v[:, keep]
            cross_k, cross_v = cross_k[:, keep], cross_v[:, keep]
            src_mask, tok = src_mask[keep], tok[keep]
        prev = tok.reshape(-1, 1).astype(np.int64)
    return out, lps
