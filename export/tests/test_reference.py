"""The Python reference decoder over ONNX Runtime reproduces the committed goldens, and the
shipped tiny model's files match its manifest."""

import hashlib
import json

import pytest

from padir_export import reference
from padir_export.reference import ReferenceTranslator, SplitMix64, random_init


@pytest.fixture(scope="module")
def golden(tiny_dir):
    return json.loads((tiny_dir / "golden.json").read_text(encoding="utf-8"))


def test_manifest_checksums(tiny_dir):
    m = json.loads((tiny_dir / "model.json").read_text(encoding="utf-8"))
    for entry in [m["tokenizer"], *m["graphs"].values()]:
        assert (
            hashlib.sha256((tiny_dir / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]
        )
    total = sum(p.stat().st_size for p in tiny_dir.iterdir())
    assert total < 5 * 1024 * 1024, "the tiny model stays well under 5 MB"


def test_reference_reproduces_goldens(tiny_dir, golden):
    # The whole list at once: the reference batches it as the goldens were made (by token
    # count, `batch_size` at a time) and puts each translation back in its place.
    texts = golden["sources"]
    assert len([t for t in texts if t.strip()]) > golden["batch_size"]
    ref = ReferenceTranslator(tiny_dir, batch_size=golden["batch_size"])
    for name, setting in golden["settings"].items():
        fn = ref.translate_ar if setting["mode"] == "ar" else ref.translate_nar
        got = [t.to_dict() for t in fn(texts, **setting["options"])]
        assert len(got) == len(setting["outputs"])
        for g, w in zip(got, setting["outputs"]):
            assert g["ids"] == w["ids"], name
            assert g["score"] == pytest.approx(w["score"], abs=1e-5)


def test_goldens_are_not_trivial(golden):
    outs = golden["settings"]["nar_default"]["outputs"]
    texts = [o["text"] for o in outs if o["text"]]
    assert len(texts) >= 15 and len(set(texts)) >= 10


def test_splitmix64_published_values():
    r = SplitMix64(1234567)
    assert [r.next(), r.next()] == [6457827717110365317, 3203168211198807973]
    assert all(4 <= t < 50 for t in random_init(3, 100, 50))


def test_big_decoder_passes_run_in_slices(tiny_dir, golden, monkeypatch):
    ref = ReferenceTranslator(tiny_dir)
    texts = [t for t in golden["sources"] if t]
    whole = [t.ids for t in ref.translate_nar(texts)]

    class CountingSession:
        def __init__(self, session):
            self.session, self.runs = session, 0

        def run(self, *args):
            self.runs += 1
            return self.session.run(*args)

    ref.sessions["decoder"] = decoder = CountingSession(ref.sessions["decoder"])
    monkeypatch.setattr(reference, "MAX_DECODER_POSITIONS", 64)
    assert [t.ids for t in ref.translate_nar(texts)] == whole
    assert decoder.runs > ref.manifest["decode"]["iterations"]  # several runs per pass


def test_remask_stutter_drops_a_repeat_left_in_the_output(tiny_dir):
    # A row holding 60 60 80 (a stutter reverted to a token its changed neighbour now equals).
    ref = ReferenceTranslator(tiny_dir)
    row = {"sent": 0, "L": 3, "init": [3, 3, 3], "tokens": [60, 60, 80], "conf": [-1.0] * 3}
    row["iters"], row["pruned"] = 2, False
    assert ref._best([row], 0, remask_stutter=False).ids == [60, 60, 80]
    assert ref._best([row], 0, remask_stutter=True).ids == [60, 80]
