"""Model and special-token configuration shared by training, export and the reference decoder."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

# Special token ids. T5 convention for the first three (pad doubles as the AR decoder's start
# token); `mask` is PaDIR's corruption/initialisation token. The tokenizer is trained with these
# four pieces first, so the ids are fixed.
PAD_ID = 0
EOS_ID = 1
UNK_ID = 2
MASK_ID = 3
SPECIAL_TOKENS = ["<pad>", "</s>", "<unk>", "<mask>"]
NUM_SPECIAL = len(SPECIAL_TOKENS)


@dataclass
class ModelConfig:
    """Sizes of the T5-style encoder-decoder (one config for teacher and student)."""

    vocab_size: int = 8000
    d_model: int = 256
    num_heads: int = 4
    d_ff: int = 1024
    encoder_layers: int = 3
    decoder_layers: int = 3
    rel_buckets: int = 32
    rel_max_distance: int = 128
    dropout: float = 0.1
    # Length predictor: a classifier over (target_len - source_len) in
    # [-max_length_offset, +max_length_offset]; lengths count tokens without EOS.
    max_length_offset: int = 32
    max_source_len: int = 128
    max_target_len: int = 128
    # A learned absolute position added to the non-causal decoder's inputs (the AR teacher
    # never has one). Relative-position bias alone cannot tell the positions of an all-<mask>
    # first pass apart: every position holds the same vector, so attention returns the same
    # mixture everywhere and only the distance to the final </s> breaks the tie.
    decoder_positions: bool = False

    @property
    def head_dim(self) -> int:
        return self.d_model // self.num_heads

    @property
    def num_length_classes(self) -> int:
        return 2 * self.max_length_offset + 1

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)


def load_json(path: str | Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
