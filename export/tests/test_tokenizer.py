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


def test_a_placeholder_vocabulary_keeps_its_size_and_round_trips(tmp_path):
    from padir_export.protect import TOKENS, protect, restore
    from padir_export.tokenizer import has_placeholders

    corpus = ["Open the file %s", "Ouvrir le fichier %s", "Save {name}?"] * 50
    tok = train_tokenizer(corpus, 300, tmp_path / "tokenizer.json", placeholders=True)
    assert tok.get_vocab_size() == 300 and has_placeholders(tok)
    assert [tok.token_to_id(t) for t in TOKENS] == list(range(300 - len(TOKENS), 300))
    for text in SAMPLES:
        p = protect(text)
        (ids,) = encode_target(tok, [p.text])
        for t in TOKENS:  # each placeholder is one token
            assert p.text.count(t) == ids.count(tok.token_to_id(t))
        r = restore(decode(tok, ids), p)
        assert r.faithful and r.text == text, text
    assert not has_placeholders(train_tokenizer(corpus, 300, tmp_path / "plain.json"))
