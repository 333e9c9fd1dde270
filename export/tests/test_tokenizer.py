"""Placeholders and odd whitespace must survive encode/decode byte-exactly."""

import pytest
from tokenizers import Tokenizer

from padir_export.tokenizer import decode, encode_source, encode_target, train_tokenizer

SAMPLES = [
    "Cannot open %s: %d errors",
    "Delete %1 files from %2?",
    "Hello %(name)s, you have {count} new messages",
    "Tom &amp; Jerry &lt;b&gt;",
    "Line one\\nLine two\\n",
    "  leading and trailing spaces  ",
    "tab\tand\u00a0nbsp, accents: é à ç œ, emoji 🙂",
    "%-10.3f %lu %%",
]


@pytest.fixture(scope="module", params=["shipped", "fresh"])
def tok(request, tiny_dir, tmp_path_factory):
    if request.param == "shipped":
        return Tokenizer.from_file(str(tiny_dir / "tokenizer.json"))
    corpus = ["Open the file %s", "Ouvrir le fichier %s", "Save {name}?"] * 50
    return train_tokenizer(corpus, 300, tmp_path_factory.mktemp("tok") / "tokenizer.json")


@pytest.mark.parametrize("text", SAMPLES)
def test_round_trip_is_byte_exact(tok, text):
    (ids,) = encode_target(tok, [text])
    assert decode(tok, ids) == text
    (src,) = encode_source(tok, [text])
    assert src[-1] == 1 and src[:-1] == ids, "sources end in </s>"


def test_special_ids_are_fixed(tok):
    assert [tok.token_to_id(t) for t in ["<pad>", "</s>", "<unk>", "<mask>"]] == [0, 1, 2, 3]
