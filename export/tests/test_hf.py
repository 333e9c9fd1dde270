"""The teacher round-trips through the Hugging Face T5 format."""

import json

import pytest
import torch

from padir_export.config import ModelConfig
from padir_export.hf import load_hf, save_hf
from padir_export.model import PadirModel

CFG = ModelConfig(
    vocab_size=101,
    d_model=32,
    num_heads=2,
    d_ff=64,
    encoder_layers=2,
    decoder_layers=1,
    dropout=0.0,
)


def test_save_then_load_gives_the_same_model(tmp_path, tiny_dir):
    torch.manual_seed(5)
    m = PadirModel(CFG, causal=True).eval()
    save_hf(m, tiny_dir / "tokenizer.json", tmp_path, dtype=torch.float32)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["model_type"] == "t5" and cfg["d_kv"] == 16 and cfg["num_decoder_layers"] == 1
    back = load_hf(tmp_path, max_length_offset=CFG.max_length_offset)
    src = torch.randint(4, 101, (2, 7))
    mask = torch.ones_like(src)
    dec = torch.randint(4, 101, (2, 5))
    with torch.no_grad():
        a, _ = m(src, mask, dec, torch.ones_like(dec))
        b, _ = back(src, mask, dec, torch.ones_like(dec))
    assert torch.allclose(a, b, atol=1e-6)


def test_refuses_other_t5_variants(tmp_path, tiny_dir):
    m = PadirModel(CFG, causal=True)
    save_hf(m, tiny_dir / "tokenizer.json", tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["feed_forward_proj"] = "gated-gelu"
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="v1.0"):
        load_hf(tmp_path)


def test_transformers_t5_computes_the_same_logits(tmp_path, tiny_dir):
    """Independent check: Hugging Face's own T5 implementation, given our saved teacher,
    computes the same logits as PadirModel (so CTranslate2 and Optimum see our model)."""
    from transformers import T5ForConditionalGeneration

    torch.manual_seed(6)
    m = PadirModel(CFG, causal=True).eval()
    save_hf(m, tiny_dir / "tokenizer.json", tmp_path, dtype=torch.float32)
    hf = T5ForConditionalGeneration.from_pretrained(tmp_path).eval()
    src = torch.randint(4, 101, (2, 7))
    mask = torch.tensor([[1] * 7, [1] * 5 + [0] * 2])
    labels = torch.randint(4, 101, (2, 5))
    dec_in = torch.cat([torch.zeros(2, 1, dtype=torch.long), labels[:, :-1]], 1)
    with torch.no_grad():
        ours, _ = m(src, mask, dec_in, torch.ones_like(dec_in))
        theirs = hf(input_ids=src, attention_mask=mask, decoder_input_ids=dec_in).logits
    assert torch.allclose(ours, theirs, atol=1e-4), (ours - theirs).abs().max()
