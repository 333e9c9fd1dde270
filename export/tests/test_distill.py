"""Distillation decodes token-id batches exactly as the reference AR decoder does."""

import numpy as np

from padir_export.distill import translate_ids
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
