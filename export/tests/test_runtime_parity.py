"""The Rust runtime (through the Python binding over the C ABI) matches the reference decoder
live, on this machine's kernels: the committed int8 goldens are exact only on the class of
machine that wrote them (`golden.py`, `int8_kernels`), this check runs everywhere."""

import json

import pytest

from padir_export.golden import make_golden

padir = pytest.importorskip("padir", reason="the binding (PYTHONPATH=bindings/python)")

# The settings the binding can express.
SETTINGS = {"nar_default": {}, "nar_i1_b1": {"iterations": 1, "length_beam": 1}, "ar": None}


@pytest.mark.parametrize("model", ["tiny", "en-fr"])
def test_runtime_matches_reference_decoder_here(tiny_dir, model):
    model_dir = tiny_dir.parent / model
    texts = json.loads((model_dir / "golden.json").read_text(encoding="utf-8"))["sources"]
    want = make_golden(model_dir, texts, batch_size=8)["settings"]
    with padir.Translator(model_dir, threads=1) as t:
        for name, options in SETTINGS.items():
            mode = "ar" if options is None else "nar"
            # The reference decoder is the decoding alone (protection: test_protect.py).
            got = t.translate(
                texts, mode=mode, batch_size=8, protect=False, sentences=False, **(options or {})
            )
            for i, (g, w) in enumerate(zip(got, want[name]["outputs"], strict=True)):
                assert g.text == w["text"], (model, name, i, texts[i])
                assert (g.length, g.iterations) == (w["length"], w["iterations"]), (name, i)
                assert abs(g.score - w["score"]) < 1e-4, (name, i)
