"""Learning-efficiency probes: short, controlled runs that differ in one setting.

    python -m padir_export.probe --config export/configs/en-fr.json --steps 600 \\
        --arm shared-lr-x16 --set teacher.shared_lr_mult=16
    python -m padir_export.probe --config export/configs/en-fr.json --stage student \\
        --steps 1000 --sentences 2000 --arm all-masked --set student.all_masked=0.5

A teacher arm starts from scratch with the config's seed, the shared vocabulary
(`tokenizer.from`, else the config's own tokenizer) and the same tokenised corpus, so with equal
`batch_tokens` the arms see the same batches in the same order. After `--steps` steps it scores
the teacher as the learning curves do (`evaluate.py`: dev token loss without label smoothing on
the whole dev set, greedy BLEU / chrF on the first `--sentences` dev pairs) and appends a row to
`--table` (default `docs/curves/probes.tsv`): arm, settings, steps, training time, target tokens
seen, scores. The arm's run directory is `<runs>/probe-<arm>/`; a rerun of a finished arm only
re-scores it.

A student arm (`--stage student`) starts from the config's finished teacher (its run's
`teacher.pt`) on that teacher's distillation (`distill.from` = the config), with the student's
seed: arms differ only in their settings. A continuation names a packed student in them
(`--set student.resume=export/checkpoints/en-fr/student.pt`); a model with decoder positions
may continue one packed without them (`checkpoint.unpack`: the table starts at zero). It is
scored as the student's curve is (dev loss as trained, PaDIR BLEU after 2 and 4 passes by the
reference decoder, on the first `--sentences` dev pairs) into `docs/curves/student-probes.tsv`;
its run directory is `<runs>/probe-student-<arm>/`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

from .config import load_json
from .data import read_tsv
from .evaluate import SCORE_COLUMNS, STUDENT_SCORE_COLUMNS, score_teacher, student_bleu
from .pipeline import REPO_ROOT, Pipeline
from .train import dev_loss, train

RUN_COLUMNS = ["arm", "settings", "steps", "train_hours", "target_tokens"]
COLUMNS = {
    "teacher": [*RUN_COLUMNS, *SCORE_COLUMNS, "finished"],
    "student": [*RUN_COLUMNS, "dev_loss", *STUDENT_SCORE_COLUMNS, "sentences", "finished"],
}
TABLES = {"teacher": "probes.tsv", "student": "student-probes.tsv"}


def apply_setting(cfg: dict, setting: str) -> None:
    """`section.key=value` (value parsed as JSON when it parses, else kept as a string)."""
    path, _, raw = setting.partition("=")
    if not raw:
        raise SystemExit(f"--set wants section.key=value, got {setting!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    *parents, key = path.split(".")
    node = cfg
    for p in parents:
        node = node.setdefault(p, {})
    node[key] = value


def arm_config(
    base: dict, arm: str, settings: list[str], steps: int, stage: str = "teacher", base_path=""
) -> dict:
    """The arm's config: the base's, with the stage cut to `steps` and its `--set` settings. A
    student arm learns from the base run's teacher and distillation (`base_path`, the base
    config), starting at that teacher's weights."""
    cfg = json.loads(json.dumps(base))
    tc = cfg[stage]
    tc["max_steps"] = steps
    tc["epochs"] = max(tc.get("epochs", 1), 1)
    if stage == "teacher":
        cfg["name"] = f"probe-{arm}"
        tc.pop("init", None)  # probes compare from-scratch training
        tc.pop("eval_every", None)
    else:
        cfg["name"] = f"probe-student-{arm}"
        tc.pop("resume", None)  # from the teacher's weights, as a new student starts
        tc["curve"] = None  # the arm's curve stays in its run directory
        tc["average_last"] = 0
        cfg["distill"] = {"from": str(base_path)}
    for s in settings:
        apply_setting(cfg, s)
    return cfg


def share_corpus(base: Pipeline, arm: Pipeline) -> None:
    """Link the base run's tokenizer and tokenised corpora into the arm's run directory
    (tokenising 790k pairs once, not once per arm)."""
    base.train_corpus("teacher")
    base.dev_corpus("teacher")
    for name in ("tokenizer.json", "train.npz", "dev.npz"):
        src, dst = base.runs / name, arm.runs / name
        if src.exists() and not dst.exists():
            os.symlink(src, dst)


def share_teacher(base: Pipeline, arm: Pipeline) -> None:
    """Link the base run's finished teacher, tokenizer and tokenised dev set into a student
    arm's run directory (the distillation is read where it is: `distill.from`)."""
    if not (base.runs / "teacher.pt").exists():
        raise SystemExit(
            f"{base.runs}/teacher.pt is missing: a student arm needs the config's "
            "finished teacher (train or unpack it first)"
        )
    base.dev_corpus("student")
    for name in ("teacher.pt", "tokenizer.json", "dev.npz"):
        src, dst = base.runs / name, arm.runs / name
        if src.exists() and not dst.exists():
            os.symlink(src, dst)


def base_pipeline(cfg: dict, runs: Path) -> Pipeline:
    """A teacher arm's corpus run: one per vocabulary and data section, shared by the arms."""
    base_probe = {k: cfg[k] for k in ("model", "tokenizer", "data")}
    key = hashlib.sha1(json.dumps([cfg["tokenizer"], cfg["data"]], sort_keys=True).encode())
    base_probe["name"] = f"probe-corpus-{key.hexdigest()[:8]}"
    base_path = runs / f"{base_probe['name']}.json"
    base_path.write_text(json.dumps(base_probe, indent=1))
    return Pipeline(base_path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--stage", choices=["teacher", "student"], default="teacher")
    ap.add_argument("--arm", required=True, help="a short name for the arm")
    ap.add_argument("--set", action="append", default=[], help="section.key=value (repeatable)")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--sentences", type=int, default=500)
    ap.add_argument("--table", help="default: docs/curves/probes.tsv or student-probes.tsv")
    args = ap.parse_args()
    stage = args.stage

    config = Path(args.config).resolve()
    base_cfg = load_json(config)
    runs = Path(os.environ.get("PADIR_RUNS", str(Path.home() / ".cache" / "padir" / "runs")))
    # The base config as a student arm's `distill.from` names it (relative to the repository).
    from_path = config.relative_to(REPO_ROOT) if config.is_relative_to(REPO_ROOT) else config
    cfg = arm_config(base_cfg, args.arm, args.set, args.steps, stage, from_path)
    arm_dir = runs / cfg["name"]
    arm_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = arm_dir / "config.json"
    cfg_path.write_text(json.dumps(cfg, indent=1))
    pipe = Pipeline(cfg_path)
    if stage == "teacher":
        share_corpus(base_pipeline(cfg, runs), pipe)
    else:
        share_teacher(Pipeline(config), pipe)

    t0 = time.time()
    finished = pipe.final_path(stage).exists() or train(pipe, stage, max_minutes=None)
    model = pipe.load_final(stage) if finished else None
    if model is None:
        raise SystemExit("the arm was stopped before its last step: rerun to continue it")
    state = {}
    ckpt = pipe.runs / f"{stage}.ckpt"
    if ckpt.exists():
        import torch

        state = torch.load(ckpt, weights_only=False, map_location="cpu")["state"]
    dev = pipe.dev_corpus(stage)
    sources, refs = read_tsv(pipe.path("dev"))
    if stage == "teacher":
        scores = score_teacher(model, pipe.tokenizer(), dev, sources, refs, args.sentences)
    else:
        scores = {
            "dev_loss": round(dev_loss(model, dev, stage, cfg[stage]), 4),
            **student_bleu(model, pipe, sources, refs, args.sentences),
            "sentences": min(args.sentences, len(refs)),
        }
    row = {
        "arm": args.arm,
        "settings": " ".join(args.set) or "(config as is)",
        "steps": state.get("step", args.steps),
        "train_hours": round(state.get("seconds", time.time() - t0) / 3600, 3),
        "target_tokens": state.get("target_tokens", ""),
        **scores,
        "finished": time.strftime("%Y-%m-%d %H:%M"),
    }
    columns = COLUMNS[stage]
    table = Path(args.table or REPO_ROOT / "docs" / "curves" / TABLES[stage])
    table.parent.mkdir(parents=True, exist_ok=True)
    new = not table.exists()
    with open(table, "a", encoding="utf-8") as f:
        if new:
            f.write("\t".join(columns) + "\n")
        f.write("\t".join(str(row[c]) for c in columns) + "\n")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
