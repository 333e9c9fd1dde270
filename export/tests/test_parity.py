"""Every exported graph agrees with PyTorch (fp32, max abs diff <= 1e-4) at several shapes."""

from dataclasses import replace

import numpy as np
import onnxruntime as ort
import pytest
import torch

from padir_export.config import ModelConfig
from padir_export.export_model import PARITY_TOLERANCE, parity
from padir_export.model import PadirModel
from padir_export.onnx_export import GRAPHS, SHORTLIST_GRAPHS, example_inputs, export_graph

CFG = ModelConfig(
    vocab_size=211,
    d_model=48,
    num_heads=3,
    d_ff=96,
    encoder_layers=2,
    decoder_layers=2,
    dropout=0.0,
    max_length_offset=6,
)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(3)
    return {False: PadirModel(CFG, causal=False).eval(), True: PadirModel(CFG, causal=True).eval()}


@pytest.mark.parametrize("kind", list(GRAPHS))
def test_graph_matches_pytorch(kind, models, tmp_path):
    model = models[kind.startswith("ar_")]
    path = tmp_path / f"{kind}.onnx"
    export_graph(model, kind, path)
    assert parity(model, kind, path) <= PARITY_TOLERANCE


@pytest.mark.parametrize("shortlist", [False, True])
def test_decoder_with_positions_matches_pytorch(shortlist, tmp_path):
    """The student's learned decoder positions (`decoder_positions`) live inside the graph."""
    torch.manual_seed(4)
    model = PadirModel(replace(CFG, decoder_positions=True), causal=False).eval()
    path = tmp_path / "decoder.onnx"
    export_graph(model, "decoder", path, shortlist=shortlist)
    assert parity(model, "decoder", path, shortlist=shortlist) <= PARITY_TOLERANCE


def test_parity_check_catches_a_wrong_graph(models, tmp_path):
    """The check itself must fail when the graph and the model disagree."""
    path = tmp_path / "encoder.onnx"
    export_graph(models[False], "encoder", path)
    other = PadirModel(CFG, causal=False).eval()  # different random weights
    assert parity(other, "encoder", path) > PARITY_TOLERANCE


@pytest.mark.parametrize("kind", SHORTLIST_GRAPHS)
def test_shortlist_graph_matches_pytorch(kind, models, tmp_path):
    model = models[kind.startswith("ar_")]
    path = tmp_path / f"{kind}.onnx"
    export_graph(model, kind, path, shortlist=True)
    assert parity(model, kind, path, shortlist=True) <= PARITY_TOLERANCE


@pytest.mark.parametrize("kind", SHORTLIST_GRAPHS)
def test_shortlist_of_every_id_is_the_full_vocabulary(kind, models, tmp_path):
    """A shortlist holding every id (plus padding) gives what the graph without one gives;
    a shorter one only ever picks ids of its row."""
    model = models[kind.startswith("ar_")]
    full, short = tmp_path / "full.onnx", tmp_path / "short.onnx"
    export_graph(model, kind, full)
    export_graph(model, kind, short, shortlist=True)
    inputs = {k: v.numpy() for k, v in example_inputs(model, kind, 2, 5, 4, past=3).items()}
    everything = np.arange(CFG.vocab_size + 2)[None].repeat(2, 0)
    everything[everything > CFG.vocab_size] = CFG.vocab_size  # padding
    want = ort.InferenceSession(str(full)).run(None, inputs)
    sess = ort.InferenceSession(str(short))
    got = sess.run(None, {**inputs, "vocab": everything})
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], atol=1e-5)
    few = np.array([[1, 7, 9, 40, CFG.vocab_size], [2, 3, 50, 60, 70]])
    ids = sess.run(None, {**inputs, "vocab": few})[0]
    for row, allowed in zip(ids.reshape(2, -1), few):
        assert set(row.tolist()) <= set(allowed.tolist()) - {CFG.vocab_size}
