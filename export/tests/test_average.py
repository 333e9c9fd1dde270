"""Checkpoint averaging: the mean is exact, and a stage keeps it only where it scores at least
as well as its last weights."""

import pytest
import torch
from test_train import _round

from padir_export.average import Snapshots, average_state_dicts
from padir_export.train import train


def test_the_average_is_the_element_wise_mean_of_float_tensors():
    a = {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor([3])}
    b = {"w": torch.tensor([2.0, 5.0]), "n": torch.tensor([4])}
    out = average_state_dicts([a, b])
    assert torch.equal(out["w"], torch.tensor([1.5, 3.5]))
    assert torch.equal(out["n"], torch.tensor([4]))  # integer buffers: the last one's
    with pytest.raises(ValueError, match="different models"):
        average_state_dicts([a, {"w": a["w"]}])
    with pytest.raises(ValueError, match="nothing"):
        average_state_dicts([])


def test_only_the_last_snapshots_are_kept(tmp_path):
    snaps = Snapshots(tmp_path / "snaps", keep=2)
    model = torch.nn.Linear(2, 1)
    for step in (10, 20, 30):
        with torch.no_grad():
            model.weight.fill_(step)
        snaps.add(step, model)
    assert snaps.steps() == [20, 30]
    assert torch.allclose(snaps.average()["weight"], torch.full((1, 2), 25.0))
    assert Snapshots(tmp_path / "none", keep=2).average() is None


def test_a_stage_ends_with_the_average_only_where_it_scores_as_well(
    tmp_path, tiny_dir, monkeypatch
):
    pipe = _round(
        tmp_path,
        tiny_dir,
        monkeypatch,
        {"max_steps": 6, "eval_every": 2, "eval_sentences": 5, "average_last": 2},
    )
    assert train(pipe, "teacher", max_minutes=None)
    snaps = Snapshots(pipe.runs / "teacher-snapshots", keep=2)
    assert snaps.steps() == [4, 6]
    header, last, mean = (pipe.runs / "teacher-curve-average.tsv").read_text().splitlines()
    assert header.split("\t") == [
        "weights",
        "dev_token_loss",
        "dev_bleu",
        "dev_chrf",
        "dev_cut",
        "kept",
    ]
    assert mean.split("\t")[0] == "mean of steps 4-6 (2)"
    bleu_last, bleu_mean = float(last.split("\t")[2]), float(mean.split("\t")[2])
    kept_mean = mean.endswith("\tyes")
    assert kept_mean == (bleu_mean >= bleu_last) and last.endswith("\tyes") != kept_mean
    final = pipe.teacher_state_dict()
    expected = snaps.average() if kept_mean else torch.load(snaps.paths()[-1])
    assert all(torch.equal(final[k], expected[k]) for k in expected)


def test_a_finished_stage_packs_its_final_weights(tmp_path, tiny_dir, monkeypatch):
    from padir_export import checkpoint

    monkeypatch.setattr(checkpoint, "REPO_ROOT", tmp_path)
    pipe = _round(tmp_path, tiny_dir, monkeypatch, {"resume": "packed/teacher.pt"})
    assert train(pipe, "teacher", max_minutes=None)
    # Stand-in for an average that differs from the checkpoint's weights.
    final = torch.load(pipe.final_path("teacher"), weights_only=False)
    final["model"] = {k: v + 1 if v.is_floating_point() else v for k, v in final["model"].items()}
    torch.save(final, pipe.final_path("teacher"))
    checkpoint.pack(pipe, "teacher")
    packed = torch.load(tmp_path / "packed" / "teacher.pt", weights_only=False)
    w = "shared.weight"
    assert torch.equal(packed["model"][w], final["model"][w].half())
    assert packed["state"]["step"] == final["step"] == 4
    # A final of another step (an older round's) is not packed in the checkpoint's place.
    final["step"] = 2
    torch.save(final, pipe.final_path("teacher"))
    checkpoint.pack(pipe, "teacher")
    packed = torch.load(tmp_path / "packed" / "teacher.pt", weights_only=False)
    ck = torch.load(pipe.runs / "teacher.ckpt", weights_only=False)
    assert torch.equal(packed["model"][w], ck["model"][w].half())
