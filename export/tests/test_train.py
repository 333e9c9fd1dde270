"""A training round can continue a shipped model: its tokenizer, its teacher weights, and a
fixed step budget that ends the stage as finished."""

import json

import torch

from padir_export.config import ModelConfig
from padir_export.hf import save_hf
from padir_export.model import PadirModel
from padir_export.pipeline import Pipeline
from padir_export.train import train

MODEL = {
    "vocab_size": 1000,
    "d_model": 32,
    "num_heads": 2,
    "d_ff": 64,
    "encoder_layers": 1,
    "decoder_layers": 1,
    "dropout": 0.0,
    "max_length_offset": 8,
    "max_source_len": 64,
    "max_target_len": 64,
}


def test_teacher_round_starts_from_a_shipped_model(tmp_path, tiny_dir, monkeypatch):
    monkeypatch.setenv("PADIR_RUNS", str(tmp_path / "runs"))
    pairs = ["Open the file\tOuvrir le fichier", "Close all windows\tFermer toutes les fenêtres"]
    (tmp_path / "train.tsv").write_text("\n".join(pairs * 20) + "\n", encoding="utf-8")
    torch.manual_seed(3)
    shipped = PadirModel(ModelConfig(**MODEL), causal=True)
    save_hf(shipped, tiny_dir / "tokenizer.json", tmp_path / "hf", dtype=torch.float32)
    stage = {"epochs": 5, "max_steps": 2, "batch_tokens": 200, "max_len": 32, "lr": 0.0}
    config = {
        "name": "round2",
        "data": {"train": str(tmp_path / "train.tsv"), "dev": str(tmp_path / "train.tsv")},
        "tokenizer": {"from": str(tiny_dir / "tokenizer.json")},
        "model": MODEL,
        "teacher": dict(stage, warmup_steps=1, init=str(tmp_path / "hf")),
    }
    (tmp_path / "round2.json").write_text(json.dumps(config))
    pipe = Pipeline(tmp_path / "round2.json")

    assert train(pipe, "teacher", max_minutes=None)

    assert pipe.tokenizer_path.read_bytes() == (tiny_dir / "tokenizer.json").read_bytes()
    log = (pipe.runs / "teacher.log").read_text()
    assert "initialised from" in log and "step 2:" in log
    # With a zero learning rate the finished teacher is exactly the model it started from.
    final = pipe.load_final("teacher").state_dict()
    for name, value in shipped.state_dict().items():
        if not name.startswith("length_head."):
            assert torch.equal(final[name], value), name
