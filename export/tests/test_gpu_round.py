"""The GPU round (`gpu_round.py`) as the device runs it, on the CPU with tiny models: a big
teacher, its distillation, the pair's AR model and student trained on it, all packed into files
that fit the lease's return, and unpacked again as the next session does."""

import json
import lzma
import sys
import tarfile

import numpy as np
import pytest
import torch
from test_train import MODEL

from padir_export import gpu_round
from padir_export.checkpoint import unpack_final
from padir_export.data import TokenizedCorpus
from padir_export.gpu_round import OVERHEAD, PACKING, fitted_budget, split_file
from padir_export.pipeline import Pipeline

STAGE = {
    "epochs": 50,
    "max_steps": 3,
    "batch_tokens": 200,
    "max_len": 32,
    "lr": 1e-3,
    "warmup_steps": 1,
    "bf16": False,
    "threads": 1,
}


def test_a_large_file_comes_back_in_parts_that_join(tmp_path):
    data = np.random.default_rng(0).bytes(2500)
    (tmp_path / "w.pt").write_bytes(data)
    parts = split_file(tmp_path / "w.pt", part_bytes=1000)
    assert [p.name for p in parts] == ["w.pt.part00", "w.pt.part01", "w.pt.part02"]
    assert not (tmp_path / "w.pt").exists()
    assert b"".join(p.read_bytes() for p in sorted(tmp_path.glob("w.pt*"))) == data
    (tmp_path / "small").write_bytes(b"x")
    assert split_file(tmp_path / "small", part_bytes=1000) == [tmp_path / "small"]


def test_a_late_stage_gives_way_so_that_the_lease_ends_with_the_packing():
    later = [("teacher", 1.0), ("student", 1.5)]
    keep = 60 + OVERHEAD["teacher"] + 90 + OVERHEAD["student"] + PACKING
    # Time for all: the configured budget.
    assert fitted_budget("distillation", 1.25, later, keep + 600) == 1.25
    # Late: the distillation shrinks so that the later stages keep theirs.
    assert fitted_budget("distillation", 1.25, later, keep + OVERHEAD["distillation"] + 30) == 0.5
    # The student, last, takes what is left, and never less than 0.2 minutes.
    assert fitted_budget("student", 1.5, [], PACKING + OVERHEAD["student"] + 60) == 1.0
    assert fitted_budget("student", 1.5, [], 5) == 0.2


@pytest.fixture
def configs(tmp_path, tiny_dir, monkeypatch):
    monkeypatch.setenv("PADIR_RUNS", str(tmp_path / "runs"))
    pairs = [
        "Open the file\tOuvrir le fichier",
        "Close all windows\tFermer toutes les fenêtres",
        "Save the document\tEnregistrer le document",
    ]
    (tmp_path / "train.tsv").write_text("\n".join(pairs * 20) + "\n", encoding="utf-8")
    data = {"train": str(tmp_path / "train.tsv"), "dev": str(tmp_path / "train.tsv")}
    tokenizer = {"from": str(tiny_dir / "tokenizer.json")}
    packed = tmp_path / "packed"
    big = {
        "name": "big",
        "data": data,
        "tokenizer": tokenizer,
        "model": {**MODEL, "d_model": 48},
        # The big teacher ends by its wall-clock budget (the first step outlasts it).
        "teacher": {**STAGE, "max_steps": None, "budget_minutes": 1e-4},
        "distill": {"min_length_ratio": 0.7, "max_len": 32, "resume": str(packed / "d.xz")},
    }
    pair = {
        "name": "pair",
        "src_lang": "en",
        "tgt_lang": "fr",
        "data": data,
        "tokenizer": tokenizer,
        "model": MODEL,
        "teacher": {
            **STAGE,
            "distilled": True,
            "eval_every": 2,
            "eval_sentences": 5,
            "average_last": 2,
            "max_steps": 4,
            "resume": str(packed / "teacher.pt"),
        },
        "student": {
            **STAGE,
            "unroll_stages": 2,
            "resume": str(packed / "student.pt"),
        },
        "distill": {"from": str(tmp_path / "big.json")},
    }
    for name, cfg in (("big", big), ("pair", pair)):
        (tmp_path / f"{name}.json").write_text(json.dumps(cfg))
    return tmp_path / "big.json", tmp_path / "pair.json"


def test_a_round_trains_distils_trains_and_packs(configs, tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setattr(
        sys,
        "argv",
        ["gpu_round", "--big", str(configs[0]), "--pair", str(configs[1]), "--out", str(out)]
        + ["--smoke"],
    )
    gpu_round.main()
    big, pair = Pipeline(configs[0]), Pipeline(configs[1])
    # The smoke pass ran in run directories of its own, and first.
    assert (tmp_path / "runs" / "big-smoke" / "teacher.pt").exists()
    assert (tmp_path / "runs" / "pair-smoke" / "student.pt").exists()

    # The pair trains on the big teacher's translations, not on its own.
    assert pair.distilled_path == big.distilled_path
    distilled = TokenizedCorpus.load(big.distilled_path)
    assert 0 < len(distilled) <= 60
    assert "budget" not in (big.runs / "distill.log").read_text()
    assert "finished" in (pair.runs / "teacher.log").read_text()
    assert torch.load(big.final_path("teacher"), weights_only=False)["step"] < 3

    assert sorted(p.name for p in out.iterdir()) == [
        "distilled.xz",
        "round.tar.gz",
        "student.pt",
        "teacher.pt",
    ]
    with tarfile.open(out / "round.tar.gz") as tar:
        names = tar.getnames()
        summary = json.load(tar.extractfile("summary.json"))
    assert list(summary) == ["big teacher", "distillation", "teacher", "student"]
    assert summary["teacher"]["step"] == 4 and summary["teacher"]["curve_step"] == 4
    assert 0 <= summary["teacher"]["dev_bleu"] <= 100
    assert summary["distillation"]["pairs"] == len(distilled)
    assert "logs/pair/student.log" in names and "logs/big/distill.log" in names
    assert "logs/pair/teacher-curve.tsv" in names
    with lzma.open(out / "distilled.xz") as f:
        assert int(np.load(f)[0]) == -1  # no packed big teacher to name the step of

    # The next session unpacks the packed weights as the pair's final weights (fp16 apart).
    finals = {w: pair.load_final(w).state_dict() for w in ("teacher", "student")}
    for which in ("teacher", "student"):
        pair.final_path(which).unlink()
        unpack_final(pair, which)
        again = pair.load_final(which).state_dict()
        for name, value in finals[which].items():
            assert torch.allclose(again[name], value, atol=1e-2), name
