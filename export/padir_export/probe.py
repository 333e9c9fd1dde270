"""Learning-efficiency probes: short, controlled teacher runs that differ in one setting.

    python -m padir_export.probe --config export/configs/en-fr.json --steps 600 \\
        --arm shared-lr-x16 --set teacher.shared_lr_mult=16

Every arm starts from scratch with the config's seed, the shared vocabulary
(`tokenizer.from`, else the config's own tokenizer) and the same tokenised corpus, so with equal
`batch_tokens` the arms see the same batches in the same order. After `--steps` steps it scores
the teacher as the learning curves do (`evaluate.py`: dev token loss without label smoothing on
the whole dev set, greedy BLEU / chrF on the first `--sentences` dev pairs) and appends a row to
`--table` (default `docs/curves/probes.tsv`): arm, settings, steps, training time, target tokens
seen, scores. The arm's run directory is `<runs>/probe-<arm>/`; a rerun of a finished arm only
re-scores it.
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
from .evaluate import SCORE_COLUMNS, score_teacher
from .pipeline import REPO_ROOT, Pipeline
from .train import train

COLUMNS = ["arm", "settings", "steps", "train_hours", "target_tokens", *SCORE_COLUMNS, "finished"]


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


def arm_config(base: dict, arm: str, settings: list[str], steps: int) -> dict:
    cfg = json.loads(json.dumps(base))
    cfg["name"] = f"probe-{arm}"
    cfg["teacher"]["max_steps"] = steps
    cfg["teacher"]["epochs"] = max(cfg["teacher"].get("epochs", 1), 1)
    cfg["teacher"].pop("init", None)  # probes compare from-scratch training
    cfg["teacher"].pop("eval_every", None)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--arm", required=True, help="a short name for the arm")
    ap.add_argument("--set", action="append", default=[], help="section.key=value (repeatable)")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--sentences", type=int, default=500)
    ap.add_argument("--table", default=str(REPO_ROOT / "docs" / "curves" / "probes.tsv"))
    args = ap.parse_args()

    base_cfg = load_json(args.config)
    runs = Path(os.environ.get("PADIR_RUNS", str(Path.home() / ".cache" / "padir" / "runs")))
    cfg = arm_config(base_cfg, args.arm, args.set, args.steps)
    arm_dir = runs / cfg["name"]
    arm_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = arm_dir / "config.json"
    cfg_path.write_text(json.dumps(cfg, indent=1))
    # One shared corpus per vocabulary and data section.
    base_probe = {k: cfg[k] for k in ("model", "tokenizer", "data")}
    key = hashlib.sha1(json.dumps([cfg["tokenizer"], cfg["data"]], sort_keys=True).encode())
    base_probe["name"] = f"probe-corpus-{key.hexdigest()[:8]}"
    base_path = runs / f"{base_probe['name']}.json"
    base_path.write_text(json.dumps(base_probe, indent=1))
    base = Pipeline(base_path)
    pipe = Pipeline(cfg_path)
    share_corpus(base, pipe)

    t0 = time.time()
    finished = pipe.final_path("teacher").exists() or train(pipe, "teacher", max_minutes=None)
    model = pipe.load_final("teacher") if finished else None
    if model is None:
        raise SystemExit("the arm was stopped before its last step: rerun to continue it")
    state = {}
    ckpt = pipe.runs / "teacher.ckpt"
    if ckpt.exists():
        import torch

        state = torch.load(ckpt, weights_only=False, map_location="cpu")["state"]
    dev = pipe.dev_corpus("teacher")
    sources, refs = read_tsv(pipe.path("dev"))
    row = {
        "arm": args.arm,
        "settings": " ".join(args.set) or "(config as is)",
        "steps": state.get("step", args.steps),
        "train_hours": round(state.get("seconds", time.time() - t0) / 3600, 3),
        "target_tokens": state.get("target_tokens", ""),
        **score_teacher(model, pipe.tokenizer(), dev, sources, refs, args.sentences),
        "finished": time.strftime("%Y-%m-%d %H:%M"),
    }
    table = Path(args.table)
    table.parent.mkdir(parents=True, exist_ok=True)
    new = not table.exists()
    with open(table, "a", encoding="utf-8") as f:
        if new:
            f.write("\t".join(COLUMNS) + "\n")
        f.write("\t".join(str(row[c]) for c in COLUMNS) + "\n")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
