"""Hugging Face `T5ForConditionalGeneration` format: save the AR teacher, load a T5 checkpoint.

The module names of `PadirModel` are T5's, so weights move across unchanged; only the length
head is padir's own (absent from Hugging Face checkpoints, kept out of saved ones). Only the T5
v1.0 layout is supported (`feed_forward_proj = "relu"`, tied embeddings): other variants are
refused with a clear error rather than loaded wrongly.

    python -m padir_export.hf --config export/configs/en-fr.json --out /tmp/hf-teacher
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .config import EOS_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID, ModelConfig
from .model import PadirModel


def hf_config(cfg: ModelConfig) -> dict:
    return {
        "architectures": ["T5ForConditionalGeneration"],
        "model_type": "t5",
        "vocab_size": cfg.vocab_size,
        "d_model": cfg.d_model,
        "d_kv": cfg.head_dim,
        "d_ff": cfg.d_ff,
        "num_layers": cfg.encoder_layers,
        "num_decoder_layers": cfg.decoder_layers,
        "num_heads": cfg.num_heads,
        "relative_attention_num_buckets": cfg.rel_buckets,
        "relative_attention_max_distance": cfg.rel_max_distance,
        "dropout_rate": cfg.dropout,
        "layer_norm_epsilon": 1e-6,
        "initializer_factor": 1.0,
        "feed_forward_proj": "relu",
        "is_encoder_decoder": True,
        "tie_word_embeddings": True,
        "use_cache": True,
        "pad_token_id": PAD_ID,
        "eos_token_id": EOS_ID,
        "decoder_start_token_id": PAD_ID,
    }


def save_hf(model: PadirModel, tokenizer_file: Path, out: Path, dtype=torch.float16) -> None:
    """Write config.json, model.safetensors and the tokenizer files of a causal (AR) model."""
    if not model.causal:
        raise ValueError("only the AR teacher has a Hugging Face equivalent")
    out.mkdir(parents=True, exist_ok=True)
    weights = {
        k: v.detach().to(dtype).contiguous()
        for k, v in model.state_dict().items()
        if not k.startswith("length_head.")
    }
    save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(hf_config(model.cfg), indent=2) + "\n")
    shutil.copy(tokenizer_file, out / "tokenizer.json")
    tok_cfg = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "pad_token": SPECIAL_TOKENS[PAD_ID],
        "eos_token": SPECIAL_TOKENS[EOS_ID],
        "unk_token": SPECIAL_TOKENS[UNK_ID],
        "model_max_length": model.cfg.max_source_len,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(tok_cfg, indent=2) + "\n")


def load_hf(path: Path, causal: bool = True, **overrides) -> PadirModel:
    """Load a local T5 (v1.0 layout) checkpoint: config.json + model.safetensors or
    pytorch_model.bin. `overrides` set padir-only fields (e.g. max_length_offset)."""
    hf = json.loads((path / "config.json").read_text())
    if hf.get("model_type") != "t5":
        raise ValueError(f"{path}: model_type {hf.get('model_type')!r} is not t5")
    if hf.get("feed_forward_proj", "relu") != "relu" or not hf.get("tie_word_embeddings", True):
        raise ValueError(f"{path}: only T5 v1.0 (relu feed-forward, tied embeddings) is supported")
    if hf["d_kv"] * hf["num_heads"] != hf["d_model"]:
        raise ValueError(f"{path}: d_kv * num_heads must equal d_model")
    cfg = ModelConfig(
        vocab_size=hf["vocab_size"],
        d_model=hf["d_model"],
        num_heads=hf["num_heads"],
        d_ff=hf["d_ff"],
        encoder_layers=hf["num_layers"],
        decoder_layers=hf.get("num_decoder_layers", hf["num_layers"]),
        rel_buckets=hf.get("relative_attention_num_buckets", 32),
        rel_max_distance=hf.get("relative_attention_max_distance", 128),
        dropout=hf.get("dropout_rate", 0.1),
        **overrides,
    )
    if (path / "model.safetensors").exists():
        state = load_file(str(path / "model.safetensors"))
    else:
        state = torch.load(path / "pytorch_model.bin", map_location="cpu", weights_only=True)
    model = PadirModel(cfg, causal=causal)
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.startswith("length_head.")]
    if missing:
        raise ValueError(
            f"{path}: checkpoint lacks {missing[:5]}{'...' if len(missing) > 5 else ''}"
        )
    model.load_state_dict({k: v.float() for k, v in state.items() if k in own}, strict=False)
    return model.eval()


def main() -> None:
    from .pipeline import Pipeline

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    pipe = Pipeline(args.config)
    save_hf(pipe.load_final("teacher"), pipe.tokenizer_path, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
