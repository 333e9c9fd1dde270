"""Distillation decodes token-id batches exactly as the reference AR decoder does."""

import numpy as np
import pytest

from padir_export.distill import (
    length_limit,
    pack_shards,
    student_target,
    translate_ids,
    unpack_shards,
    usable,
)
from padir_export.reference import ReferenceTranslator


def test_batched_ids_match_the_reference(tiny_dir):
    ref = ReferenceTranslator(tiny_dir)
    texts = [
        "Open the file",
        "Close all windows",
        "No templates found!",
        "Print",
        "The installer will now partition your disk.",
    ]
    want = ref.translate_ar(texts)
    sources = [np.asarray(e.ids) for e in ref.tok.encode_batch(texts)]
    # a small token budget forces several batches of different widths
    got = translate_ids(
        ref.sessions, ref.manifest["ar"], sources, max_target_len=128, batch_tokens=20
    )
    for g, w, s in zip(got, want, sources):
        limit = min(2 * len(s) + 10, 128)
        assert g == w.ids[:limit]


def test_only_finished_teacher_outputs_become_targets():
    src = np.arange(6)  # 5 tokens + </s>: the teacher may write up to 2 * 6 + 10 = 22 tokens
    assert length_limit(len(src), 256) == 22
    assert usable(src, np.arange(21), 256)
    assert not usable(src, np.arange(22), 256)  # ran into the limit: no </s>
    assert not usable(src, np.arange(0), 256)


def test_short_or_unfinished_teacher_outputs_give_way_to_the_reference():
    src, ref = np.arange(6), np.arange(10)
    full, short, looped = np.arange(8), np.arange(6), np.arange(22)
    assert student_target(src, full, ref, 256, 0.7) is full  # 8 >= 0.7 * 10
    assert student_target(src, short, ref, 256, 0.7) is ref  # 6 < 7: part left out
    assert student_target(src, looped, ref, 256, 0.7) is ref
    # without a ratio: every finished output is kept, unfinished ones are left out
    assert student_target(src, short, ref, 256, None) is short
    assert student_target(src, looped, ref, 256, None) is None


def test_packed_shards_come_back_as_they_were_and_only_for_their_teacher(tmp_path):
    made = tmp_path / "made"
    made.mkdir()
    rng = np.random.default_rng(0)
    for number, start in ((0, 0), (1, 5), (3, 12)):
        lengths = rng.integers(0, 9, size=4)
        off = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        flat = rng.integers(0, 8000, size=int(off[-1])).astype(np.int32)
        index = np.arange(start, start + 4, dtype=np.int64)
        np.savez(made / f"shard-{number:05d}.npz", index=index, flat=flat, off=off)
    packed = tmp_path / "distilled.xz"
    assert pack_shards(made, packed, step=30000) == 12
    back = tmp_path / "back"
    unpack_shards(packed, back, step=30000)
    assert sorted(p.name for p in back.iterdir()) == sorted(p.name for p in made.iterdir())
    for path in made.iterdir():
        with np.load(path) as want, np.load(back / path.name) as got:
            for key in ("index", "flat", "off"):
                assert np.array_equal(want[key], got[key]) and want[key].dtype == got[key].dtype
    with pytest.raises(SystemExit, match="step 30000"):
        unpack_shards(packed, tmp_path / "other", step=31000)
