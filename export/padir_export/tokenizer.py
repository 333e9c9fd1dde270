"""The joint source/target subword vocabulary (Hugging Face `tokenizers` JSON).

Byte-level BPE: every input string, including placeholders such as `%s`, `%(name)s`, `{name}`,
`&amp;`, literal `\\n` and unusual whitespace, decodes back byte-exactly, with no unknown tokens.
A post-processor appends `</s>` on encode, so the tokenizer file alone fixes the source format.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from .config import EOS_ID, SPECIAL_TOKENS
from .protect import TOKENS as PLACEHOLDER_TOKENS


def train_tokenizer(
    texts: Iterable[str], vocab_size: int, out_path: str | Path, placeholders: bool = False
) -> Tokenizer:
    """BPE of `vocab_size` pieces in all; with `placeholders`, the last ones are the
    placeholder tokens of `protect.py` (ordinary added tokens: they detokenize as written)."""
    extra = PLACEHOLDER_TOKENS if placeholders else []
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(extra),
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", EOS_ID)]
    )
    for i, piece in enumerate(SPECIAL_TOKENS):
        assert tok.token_to_id(piece) == i, f"special token {piece} must have id {i}"
    tok.add_tokens([AddedToken(t, normalized=False, special=False) for t in extra])
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(out_path))
    return tok


def has_placeholders(tok: Tokenizer) -> bool:
    """Whether the vocabulary has the placeholder tokens (then text is protected around it)."""
    return all(tok.token_to_id(t) is not None for t in PLACEHOLDER_TOKENS)


def load_tokenizer(path: str | Path) -> Tokenizer:
    return Tokenizer.from_file(str(path))


def encode_source(tok: Tokenizer, texts: list[str]) -> list[list[int]]:
    """Source ids, ending in </s>."""
    return [e.ids for e in tok.encode_batch(texts, add_special_tokens=True)]


def encode_target(tok: Tokenizer, texts: list[str]) -> list[list[int]]:
    """Target ids without </s> (the decoders place it themselves)."""
    return [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]


def decode(tok: Tokenizer, ids: list[int]) -> str:
    return tok.decode(ids, skip_special_tokens=True)
