"""Every exported graph agrees with PyTorch (fp32, max abs diff <= 1e-4) at several shapes."""

import pytest
import torch

from padir_export.config import ModelConfig
from padir_export.export_model import PARITY_TOLERANCE, parity
from padir_export.model import PadirModel
from padir_export.onnx_export import GRAPHS, export_graph

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


def test_parity_check_catches_a_wrong_graph(models, tmp_path):
    """The check itself must fail when the graph and the model disagree."""
    path = tmp_path / "encoder.onnx"
    export_graph(models[False], "encoder", path)
    other = PadirModel(CFG, causal=False).eval()  # different random weights
    assert parity(other, "encoder", path) > PARITY_TOLERANCE
