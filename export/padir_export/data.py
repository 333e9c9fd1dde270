"""Parallel data: reading TSV files, tokenising once into a cache, and token-budget batching."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from .protect import protect_pair
from .tokenizer import encode_source, encode_target, has_placeholders


def read_tsv(path: str | Path, limit: int | None = None) -> tuple[list[str], list[str]]:
    """Read `source<TAB>target` lines (plain or .gz). Lines without a tab are skipped."""
    opener = gzip.open if str(path).endswith(".gz") else open
    src, tgt = [], []
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 2:
                continue
            src.append(parts[0])
            tgt.append(parts[1])
            if limit is not None and len(src) >= limit:
                break
    return src, tgt


class TokenizedCorpus:
    """Ragged arrays of source ids (with </s>) and target ids (without), stored flat."""

    def __init__(self, src_flat, src_off, tgt_flat, tgt_off):
        self.src_flat, self.src_off = src_flat, src_off
        self.tgt_flat, self.tgt_off = tgt_flat, tgt_off

    def __len__(self) -> int:
        return len(self.src_off) - 1

    def src(self, i: int) -> np.ndarray:
        return self.src_flat[self.src_off[i] : self.src_off[i + 1]]

    def tgt(self, i: int) -> np.ndarray:
        return self.tgt_flat[self.tgt_off[i] : self.tgt_off[i + 1]]

    def src_lens(self) -> np.ndarray:
        return np.diff(self.src_off)

    def tgt_lens(self) -> np.ndarray:
        return np.diff(self.tgt_off)

    @staticmethod
    def _flatten(seqs: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        off = np.zeros(len(seqs) + 1, dtype=np.int64)
        off[1:] = np.cumsum([len(s) for s in seqs])
        flat = np.fromiter((t for s in seqs for t in s), dtype=np.int32, count=int(off[-1]))
        return flat, off

    @classmethod
    def build(cls, tok: Tokenizer, src: list[str], tgt: list[str], chunk: int = 50_000):
        """With a placeholder vocabulary, pairs are protected first (`protect.protect_pair`)."""
        if has_placeholders(tok):
            pairs = [protect_pair(s, t) for s, t in zip(src, tgt)]
            src, tgt = [p[0] for p in pairs], [p[1] for p in pairs]
        s_ids, t_ids = [], []
        for i in range(0, len(src), chunk):
            s_ids += encode_source(tok, src[i : i + chunk])
            t_ids += encode_target(tok, tgt[i : i + chunk])
        return cls(*cls._flatten(s_ids), *cls._flatten(t_ids))

    def save(self, path: str | Path) -> None:
        tmp = str(path) + ".tmp.npz"
        np.savez(
            tmp,
            src_flat=self.src_flat,
            src_off=self.src_off,
            tgt_flat=self.tgt_flat,
            tgt_off=self.tgt_off,
        )
        Path(tmp).rename(path)

    @classmethod
    def load(cls, path: str | Path) -> TokenizedCorpus:
        z = np.load(path)
        return cls(z["src_flat"], z["src_off"], z["tgt_flat"], z["tgt_off"])


def make_batches(
    corpus: TokenizedCorpus, max_tokens: int, max_len: int, seed: int
) -> list[np.ndarray]:
    """Token-budget batches of similar lengths, in a shuffled order fixed by `seed`.

    Pairs with a side longer than `max_len` are dropped. Budget counts padded source + target.
    """
    rng = np.random.default_rng(seed)
    sl, tl = corpus.src_lens(), corpus.tgt_lens() + 1
    keep = np.nonzero((sl <= max_len) & (tl <= max_len) & (tl > 1))[0]
    # Sort by length with a little noise so batches differ between epochs.
    key = np.maximum(sl[keep], tl[keep]) + rng.random(len(keep))
    order = keep[np.argsort(key, kind="stable")]
    batches, start = [], 0
    while start < len(order):
        end = start
        longest = 0
        while end < len(order):
            longest = max(longest, sl[order[end]] + tl[order[end]])
            if (end - start + 1) * longest > max_tokens and end > start:
                break
            end += 1
        batches.append(order[start:end])
        start = end
    rng.shuffle(batches)
    return batches
