"""A training round can continue a shipped model: its tokenizer, its teacher weights, and a
fixed step budget that ends the stage as finished."""

import json

import numpy as np
import pytest
import torch

from padir_export.config import ModelConfig
from padir_export.data import make_batches
from padir_export.export_model import export_run
from padir_export.hf import save_hf
from padir_export.model import PadirModel
from padir_export.pipeline import Pipeline
from padir_export.reference import ReferenceTranslator
from padir_export.train import carry_embedding, param_groups, train

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


def _round(tmp_path, tiny_dir, monkeypatch, teacher: dict) -> Pipeline:
    monkeypatch.setenv("PADIR_RUNS", str(tmp_path / "runs"))
    pairs = ["Open the file\tOuvrir le fichier", "Close all windows\tFermer toutes les fenêtres"]
    (tmp_path / "train.tsv").write_text("\n".join(pairs * 20) + "\n", encoding="utf-8")
    stage = {
        "epochs": 5,
        "max_steps": 4,
        "batch_tokens": 200,
        "max_len": 32,
        "lr": 1e-3,
        "warmup_steps": 1,
        "bf16": False,
        **teacher,
    }
    config = {
        "name": "scratch",
        "data": {"train": str(tmp_path / "train.tsv"), "dev": str(tmp_path / "train.tsv")},
        "tokenizer": {"from": str(tiny_dir / "tokenizer.json")},
        "model": MODEL,
        "teacher": stage,
    }
    (tmp_path / "scratch.json").write_text(json.dumps(config))
    return Pipeline(tmp_path / "scratch.json")


def test_the_embedding_takes_its_own_init_and_learning_rate(tmp_path, tiny_dir, monkeypatch):
    pipe = _round(
        tmp_path,
        tiny_dir,
        monkeypatch,
        {"embed_init_std": 0.01, "shared_lr_mult": 0.0, "max_steps": 3},
    )
    torch.manual_seed(1)  # train() seeds itself; the fresh embedding is drawn at std 0.01
    assert train(pipe, "teacher", max_minutes=None)
    final = pipe.load_final("teacher")
    ck = torch.load(pipe.runs / "teacher.ckpt", weights_only=False)
    # With a zero multiple the embedding never moves from its init, while the rest trains.
    assert abs(float(final.shared.weight.detach().std()) - 0.01) < 0.002
    assert [g["lr_mult"] for g in ck["opt"]["param_groups"]] == [1.0, 0.0]
    fresh = PadirModel(ModelConfig(**MODEL), causal=True)
    assert not torch.equal(
        final.encoder.block[0].layer[1].DenseReluDense.wi.weight,
        fresh.encoder.block[0].layer[1].DenseReluDense.wi.weight,
    )


def test_the_learning_curve_is_written_every_eval_steps(tmp_path, tiny_dir, monkeypatch):
    pipe = _round(tmp_path, tiny_dir, monkeypatch, {"eval_every": 2, "eval_sentences": 5})
    assert train(pipe, "teacher", max_minutes=None)
    rows = (pipe.runs / "teacher-curve.tsv").read_text().splitlines()
    assert rows[0].split("\t")[:2] == ["step", "epoch"]
    assert [r.split("\t")[0] for r in rows[1:]] == ["2", "4"]
    loss = [float(r.split("\t")[4]) for r in rows[1:]]
    assert all(0 < x < 20 for x in loss) and loss[1] < loss[0]


def test_the_student_curve_scores_padir_after_2_and_4_passes(tmp_path, tiny_dir, monkeypatch):
    pipe = _round(tmp_path, tiny_dir, monkeypatch, {"max_steps": 2})
    assert train(pipe, "teacher", max_minutes=None)
    student = {**pipe.cfg["teacher"], "max_steps": 4, "eval_every": 2, "eval_sentences": 5}
    pipe.cfg.update(
        src_lang="en",
        tgt_lang="fr",
        student={**student, "unroll_stages": 2, "distilled": False},
        decode={
            "iterations": 4,
            "length_beam": 3,
            "top_lengths": 1,
            "init": "mask",
            "acceptance": "refine_all",
            "remask_stutter": True,
        },
    )
    assert train(pipe, "student", max_minutes=None)
    # A run is measured from its latest checkpoint, exported with a shortlist (the teacher's
    # graphs without one), and the reference decoder emits only ids of the sentence's list.
    pipe.cfg["shortlist"] = {"frequent": 5, "per_source": 3, "pairs": 100}
    model_dir = tmp_path / "model"
    manifest = export_run(pipe, model_dir, student_checkpoint=True)
    assert manifest["shortlist"]["file"] == "shortlist.bin"
    ref = ReferenceTranslator(model_dir)
    assert "vocab" in {i.name for i in ref.sessions["decoder"].get_inputs()}
    assert "vocab" not in {i.name for i in ref.sessions["ar_decoder"].get_inputs()}
    src = np.array(ref.tok.encode("Open the file").ids)
    (out,) = ref.translate_nar(["Open the file"])
    assert out.ids and set(out.ids) <= set(ref.shortlist.for_source(src).tolist())
    header, *rows = (pipe.runs / "student-curve.tsv").read_text().splitlines()
    columns = header.split("\t")
    assert columns[4:] == ["dev_loss", "dev_bleu_i2", "dev_bleu_i4", "dev_chrf_i4", "dev_repeat_i4"]
    assert [r.split("\t")[0] for r in rows] == ["2", "4"]
    for r in rows:
        v = dict(zip(columns, map(float, r.split("\t"))))
        assert 0 < v["dev_loss"] < 20
        assert all(0 <= v[k] <= 100 for k in ("dev_bleu_i2", "dev_bleu_i4", "dev_chrf_i4"))
        assert 0 <= v["dev_repeat_i4"] <= 1


def test_teacher_trains_data_parallel_under_torchrun(tmp_path, tiny_dir, monkeypatch):
    """Two CPU processes (gloo) take one batch each per step; rank 0 writes the result."""
    import subprocess
    import sys

    pipe = _round(tmp_path, tiny_dir, monkeypatch, {"threads": 1, "batch_tokens": 60})
    env = {**__import__("os").environ, "PADIR_RUNS": str(tmp_path / "runs"), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            "2",
            "--master-port",
            "29517",
            "-m",
            "padir_export.train",
            "--config",
            str(tmp_path / "scratch.json"),
            "--stage",
            "teacher",
        ],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    log = (pipe.runs / "teacher.log").read_text()
    assert "x2" in log and "finished" in log
    ck = torch.load(pipe.runs / "teacher.ckpt", weights_only=False)
    # Every step consumed two of the epoch's batches, one per process.
    n = len(make_batches(pipe.train_corpus("teacher"), 60, 32, seed=1000))
    epoch, batch = 0, 0
    for _ in range(4):
        batch = min(batch + 2, n)
        epoch, batch = (epoch + 1, 0) if batch >= n else (epoch, batch)
    assert n > 2
    assert (ck["state"]["step"], ck["state"]["epoch"], ck["state"]["batch"]) == (4, epoch, batch)


def test_bf16_auto_measures_only_where_the_cpu_has_bf16(monkeypatch):
    from padir_export import train as train_mod

    cpu = torch.device("cpu")
    calls = []

    def measure():
        calls.append(1)
        return True

    assert train_mod.use_bf16(True, cpu, measure) and not train_mod.use_bf16(False, cpu, measure)
    monkeypatch.setattr(train_mod, "cpu_has_bf16", lambda: False)
    assert not train_mod.use_bf16("auto", cpu, measure) and not calls
    monkeypatch.setattr(train_mod, "cpu_has_bf16", lambda: True)
    assert train_mod.use_bf16("auto", cpu, measure) and calls == [1]


def test_a_run_packed_in_git_resumes_on_a_machine_without_its_run_directory(
    tmp_path, tiny_dir, monkeypatch
):
    import shutil

    from padir_export import checkpoint
    from padir_export import pipeline as pipeline_mod

    # The repository root is a temporary copy here: pack writes into it.
    monkeypatch.setattr(checkpoint, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(pipeline_mod, "REPO_ROOT", tmp_path)
    import padir_export.train as train_mod

    monkeypatch.setattr(train_mod, "REPO_ROOT", tmp_path)
    pipe = _round(tmp_path, tiny_dir, monkeypatch, {"resume": "packed/teacher.pt", "epochs": 50})
    pipe.cfg["tokenizer"]["resume"] = "packed/tokenizer.json"
    assert train(pipe, "teacher", max_minutes=None)  # 4 steps
    checkpoint.pack(pipe, "teacher")
    packed = tmp_path / "packed" / "teacher.pt"
    assert packed.exists() and (tmp_path / "packed" / "tokenizer.json").exists()

    # Another machine: no run directory; the config now asks for 6 steps.
    shutil.rmtree(pipe.runs)
    pipe.runs.mkdir(parents=True)
    pipe.cfg["teacher"]["max_steps"] = 6
    assert train(pipe, "teacher", max_minutes=None)
    log = (pipe.runs / "teacher.log").read_text()
    assert "resumed from packed packed/teacher.pt at step 4" in log
    ck = torch.load(pipe.runs / "teacher.ckpt", weights_only=False)
    assert ck["state"]["step"] == 6 and ck["state"]["rewarm_from"] == 4
    # The weights went on from the packed ones (fp16-rounded), not from a fresh init.
    start = torch.load(packed, weights_only=False)["model"]["shared.weight"].float()
    final = pipe.load_final("teacher").shared.weight.detach()
    assert (final - start).abs().max() < 0.05
    assert train_mod.lr_at(4, pipe.cfg["teacher"], rewarm_from=4) < train_mod.lr_at(
        4, pipe.cfg["teacher"]
    )


def test_a_probe_arm_differs_from_its_base_only_in_its_settings():
    from padir_export.probe import arm_config

    base = {"name": "en-fr", "teacher": {"epochs": 2, "lr": 1e-3, "init": "x", "eval_every": 9}}
    arm = arm_config(base, "x16", ["teacher.shared_lr_mult=16", "model.encoder_layers=6"], 600)
    assert arm["name"] == "probe-x16"
    assert arm["teacher"] == {"epochs": 2, "lr": 1e-3, "max_steps": 600, "shared_lr_mult": 16}
    assert arm["model"] == {"encoder_layers": 6}
    assert base["teacher"]["init"] == "x"  # the base is left as it was
    # An explicit init (continuing a shipped model) is a setting like any other.
    init = "teacher.init=export/checkpoints/en-fr/round6-hf-teacher"
    assert arm_config(base, "c", [init], 5)["teacher"]["init"]


def test_a_shipped_embedding_is_carried_into_a_changed_vocabulary():
    old = {"<pad>": 0, "a": 1, "b": 2, "rare": 3}
    new = {"<pad>": 0, "b": 1, "a": 2, "<ph0>": 3}
    weight = torch.arange(8, dtype=torch.float32).reshape(4, 2)
    carried, fresh = carry_embedding(weight, old, new)
    assert fresh == [3]
    assert torch.equal(carried[0], weight[0])
    assert torch.equal(carried[1], weight[2]) and torch.equal(carried[2], weight[1])
    assert torch.equal(carried[3], weight.mean(0))


def test_the_student_corruption_can_mask_only_and_mask_whole_sentences():
    from padir_export.train import MASK_ID, corrupt

    labels = torch.randint(10, 1000, (400, 30))
    content = torch.ones_like(labels, dtype=torch.bool)
    content[:, -1] = False  # </s> stays
    bert = corrupt(labels, content, 1000, torch.Generator().manual_seed(0))
    changed = bert != labels
    assert (bert == MASK_ID).sum() < changed.sum(), "BERT's rule also draws random tokens"
    masked_only = corrupt(labels, content, 1000, torch.Generator().manual_seed(0), mask_share=1.0)
    assert torch.equal(masked_only != labels, masked_only == MASK_ID)
    # All masked: the first decoding pass's input, for about the share asked and never </s>.
    half = corrupt(labels, content, 1000, torch.Generator().manual_seed(0), 1.0, all_masked=0.5)
    whole = (half[:, :-1] == MASK_ID).all(1)
    assert 150 < int(whole.sum()) < 250
    assert torch.equal(half[:, -1], labels[:, -1])
    # With neither option the draws are those of the default rule.
    default = corrupt(labels, content, 1000, torch.Generator().manual_seed(0), 0.8, 0.0)
    assert torch.equal(default, bert)


def test_a_student_probe_arm_starts_from_the_configs_teacher(tmp_path, tiny_dir, monkeypatch):
    import sys

    from padir_export import probe

    base = {
        "name": "en-fr",
        "student": {"max_steps": 7069, "resume": "s.pt", "curve": "docs/c.tsv", "average_last": 5},
        "distill": {"resume": "d.xz", "min_length_ratio": 0.7},
    }
    arm = probe.arm_config(base, "m", ["student.all_masked=0.5"], 500, "student", "cfg.json")
    assert arm["name"] == "probe-student-m"
    assert arm["student"] == {
        "max_steps": 500,
        "epochs": 1,
        "curve": None,
        "average_last": 0,
        "all_masked": 0.5,
    }
    assert arm["distill"] == {"from": "cfg.json"}

    # End to end on a tiny run: the arm links the config's finished teacher, trains from it,
    # and appends its scores to the table.
    pipe = _round(tmp_path, tiny_dir, monkeypatch, {"max_steps": 2})
    cfg = dict(pipe.cfg, src_lang="en", tgt_lang="fr")
    cfg["student"] = {**cfg["teacher"], "unroll_stages": 2, "distilled": False}
    cfg["decode"] = {
        "iterations": 4,
        "length_beam": 1,
        "top_lengths": 1,
        "init": "mask",
        "acceptance": "refine_all",
        "remask_stutter": True,
    }
    (tmp_path / "scratch.json").write_text(json.dumps(cfg))
    table = tmp_path / "student-probes.tsv"
    argv = ["probe", "--config", str(tmp_path / "scratch.json"), "--stage", "student"]
    argv += ["--arm", "m", "--steps", "2", "--sentences", "3", "--table", str(table)]
    monkeypatch.setattr(sys, "argv", argv + ["--set", "student.all_masked=0.5"])
    with pytest.raises(SystemExit, match="teacher.pt is missing"):
        probe.main()
    assert train(pipe, "teacher", max_minutes=None)
    probe.main()
    arm_runs = tmp_path / "runs" / "probe-student-m"
    assert (arm_runs / "teacher.pt").resolve() == (pipe.runs / "teacher.pt").resolve()
    assert "initialised from teacher" in (arm_runs / "student.log").read_text()
    header, row = table.read_text().splitlines()
    v = dict(zip(header.split("\t"), row.split("\t")))
    assert v["arm"] == "m" and v["settings"] == "student.all_masked=0.5"
    assert v["steps"] == "2" and v["sentences"] == "3"
    assert 0 < float(v["dev_loss"]) < 20 and 0 <= float(v["dev_bleu_i4"]) <= 100


def test_decoder_positions_take_their_own_learning_rate():
    """`position_lr_mult` reaches only the student's decoder positions; a model without them
    keeps the two groups its checkpoints were saved with."""
    tc = {"shared_lr_mult": 16, "position_lr_mult": 4}
    student = PadirModel(ModelConfig(**MODEL, decoder_positions=True), causal=False)
    groups = param_groups(student, tc)
    assert [g["lr_mult"] for g in groups] == [1.0, 16.0, 4.0]
    assert groups[2]["params"] == [student.decoder_position.weight]
    assert sum(len(g["params"]) for g in groups) == len(list(student.parameters()))
    teacher = PadirModel(ModelConfig(**MODEL), causal=True)
    assert [g["lr_mult"] for g in param_groups(teacher, tc)] == [1.0, 16.0]


def test_packed_weights_without_positions_continue_with_a_zero_table(tmp_path):
    """A student packed before `decoder_positions` existed continues with them: the new table
    starts at zero, so the continued model translates exactly as the packed one did."""
    from padir_export.checkpoint import unpack

    torch.manual_seed(2)
    old = PadirModel(ModelConfig(**MODEL), causal=False).eval()
    weights = {k: v.half() for k, v in old.state_dict().items()}
    torch.save({"model": weights, "state": {"step": 7}}, tmp_path / "student.pt")
    old.load_state_dict({k: v.float() for k, v in weights.items()})
    new = PadirModel(ModelConfig(**MODEL, decoder_positions=True), causal=False).eval()
    assert unpack(tmp_path / "student.pt", new) == {"step": 7}
    assert new.decoder_position.weight.abs().max() == 0
    src, dec = torch.randint(4, 1000, (1, 6)), torch.randint(4, 1000, (1, 9))
    one = torch.ones_like(src)
    with torch.no_grad():
        a, b = (
            m.decoder_hidden(dec, torch.ones_like(dec), m.encode(src, one), one) for m in (old, new)
        )
    assert torch.equal(a, b)
    # Anything else missing is still an error.
    del weights["length_head.bias"]
    torch.save({"model": weights, "state": {"step": 7}}, tmp_path / "student.pt")
    with pytest.raises(RuntimeError, match="length_head.bias"):
        unpack(tmp_path / "student.pt", new)
