"""The int8 AR decoder graph gives a chunk's positions the bits of single steps, and a sentence
the bits it has alone: what makes `--mode verify` exactly `--mode ar` (model.rowwise_attention)."""

import numpy as np
import onnxruntime as ort
import pytest
import torch

from padir_export import model as padir_model
from padir_export.config import ModelConfig
from padir_export.model import PadirModel
from padir_export.onnx_export import export_graph
from padir_export.quantize import quantize_graph

CFG = ModelConfig(
    vocab_size=300,
    d_model=64,
    num_heads=4,
    d_ff=128,
    encoder_layers=1,
    decoder_layers=2,
    dropout=0.0,
    max_length_offset=6,
)
STEPS = 24  # longer than a 16-float vector: sums over keys take every kernel path


def int8_ar_decoder(path, rowwise=True):
    torch.manual_seed(5)
    model = PadirModel(CFG, causal=True).eval()
    fp32 = path.with_suffix(".fp32.onnx")
    original = padir_model.Attention.attend
    if not rowwise:  # the plain form (what exactness needs the row-wise form against)
        padir_model.Attention.attend = lambda self, q, k, v, b, d, rowwise=False: original(
            self, q, k, v, b, d
        )
    try:
        export_graph(model, "ar_decoder", fp32)
    finally:
        padir_model.Attention.attend = original
    quantize_graph(fp32, path)
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def cross(rng, batch, src):
    shape = (CFG.decoder_layers, batch, CFG.num_heads, src, CFG.head_dim)
    return rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape).astype(
        np.float32
    )


def steps_and_chunk(sess, tokens, ck, cv, mask):
    """Per-position log-probs and the final cache: one position per call, then one call."""
    empty = np.zeros((CFG.decoder_layers, 1, CFG.num_heads, 0, CFG.head_dim), np.float32)

    def run(ids, pk, pv):
        feed = {"input_ids": ids, "past_k": pk, "past_v": pv, "cross_k": ck, "cross_v": cv}
        return sess.run(None, {**feed, "encoder_attention_mask": mask})

    pk, pv, lps = empty, empty, []
    for t in range(tokens.shape[1]):
        _, lp, pk, pv = run(tokens[:, t : t + 1], pk, pv)
        lps.append(lp[0, 0])
    _, chunk_lp, chunk_k, _ = run(tokens, empty, empty)
    return np.array(lps, np.float32), pk, chunk_lp[0], chunk_k


def test_a_chunk_is_bit_for_bit_its_steps(tmp_path):
    sess = int8_ar_decoder(tmp_path / "ar_decoder.onnx")
    rng = np.random.default_rng(0)
    for src in (7, 19):
        ck, cv = cross(rng, 1, src)
        tokens = rng.integers(4, CFG.vocab_size, (1, STEPS))
        steps, step_k, chunk, chunk_k = steps_and_chunk(
            sess, tokens, ck, cv, np.ones((1, src), np.int64)
        )
        np.testing.assert_array_equal(steps, chunk)
        np.testing.assert_array_equal(step_k, chunk_k)


def test_plain_attention_is_not_exact(tmp_path):
    """The check above can fail: with attention as plain products the bits differ."""
    sess = int8_ar_decoder(tmp_path / "ar_decoder.onnx", rowwise=False)
    rng = np.random.default_rng(0)
    ck, cv = cross(rng, 1, 19)
    tokens = rng.integers(4, CFG.vocab_size, (1, STEPS))
    steps, _, chunk, _ = steps_and_chunk(sess, tokens, ck, cv, np.ones((1, 19), np.int64))
    assert not np.array_equal(steps, chunk)


@pytest.mark.parametrize("length", [5, 16, 17])
def test_a_padded_source_gives_the_bits_it_has_alone(tmp_path, length):
    sess = int8_ar_decoder(tmp_path / "ar_decoder.onnx")
    rng = np.random.default_rng(1)
    ck, cv = cross(rng, 2, 23)
    mask = np.ones((2, 23), np.int64)
    mask[0, length:] = 0
    ck[:, 0, :, length:] = cv[:, 0, :, length:] = 0.0
    tokens = rng.integers(4, CFG.vocab_size, (2, 9))
    empty = np.zeros((CFG.decoder_layers, 2, CFG.num_heads, 0, CFG.head_dim), np.float32)
    feed = {"input_ids": tokens, "past_k": empty, "past_v": empty, "cross_k": ck, "cross_v": cv}
    batched = sess.run(None, {**feed, "encoder_attention_mask": mask})[1][0]
    alone = {
        "input_ids": tokens[:1],
        "past_k": empty[:, :1],
        "past_v": empty[:, :1],
        "cross_k": np.ascontiguousarray(ck[:, :1, :, :length]),
        "cross_v": np.ascontiguousarray(cv[:, :1, :, :length]),
        "encoder_attention_mask": mask[:1, :length],
    }
    np.testing.assert_array_equal(batched, sess.run(None, alone)[1][0])
