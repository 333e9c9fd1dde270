"""A whole training round in one go on a machine with a GPU (the `device` tool lends an H200 for
~10 minutes a command, 15 a session; `scripts/device-round.sh` runs this there):

1. a big AR teacher (`--big`, e.g. `en-fr-big.json`: d_model 512, 6+6 layers) on the human
   translations, for its `budget_minutes`;
2. the whole corpus distilled by it (greedy, PyTorch on the GPU);
3. the shipped pair (`--pair`, e.g. `en-fr-r8.json`, whose `distill.from` names the big
   config): its AR model (the runtime's AR baseline and verify mode) and then its PaDIR student
   (started from that AR model), both on the big teacher's translations, each for its budget.

The big teacher only distils: at ~48 M parameters it would not come back from the lease (at
most 64 MiB) nor suit a phone. Sequence-level distillation hands its quality to the small
pair: the AR model learns the big one's outputs as its student does (Kim & Rush, 2016).

    python -m padir_export.gpu_round --big export/configs/en-fr-big.json \\
        --pair export/configs/en-fr-r8.json --out DIR [--smoke]

`--smoke` first runs every stage for a few steps on a few thousand pairs (separate run
directories), so that a failure costs seconds, not the lease (`--smoke-only`: just that, to
rehearse on a CPU). Into DIR go what the next
session needs, as files of at most 15 MiB (larger ones split into `NAME.partNN`; `cat` joins
them): the pair's packed weights (`teacher.pt`, `student.pt`, as `checkpoint.py` packs them),
the packed distillation (`distilled.xz`) and `round.tar.gz` (learning curves, logs and
`summary.json`: each stage's steps, time and last scores). Whatever finished is packed even
when a later stage fails.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tarfile
import tempfile
import time
from pathlib import Path

import torch

from .checkpoint import pack
from .data import TokenizedCorpus
from .distill import distill
from .pipeline import REPO_ROOT, Pipeline
from .train import average_path, curve_path, train

PART_BYTES = 15 * 2**20  # the lease returns files of at most 16 MiB


def split_file(path: Path, part_bytes: int = PART_BYTES) -> list[Path]:
    """`path` itself if small enough, else `path.part00`, `path.part01`, ... (and `path` removed):
    `cat path.part* > path` restores it."""
    if path.stat().st_size <= part_bytes:
        return [path]
    parts = []
    with open(path, "rb") as f:
        while chunk := f.read(part_bytes):
            part = path.with_name(f"{path.name}.part{len(parts):02d}")
            part.write_bytes(chunk)
            parts.append(part)
    path.unlink()
    return parts


def smoke_configs(big: Path, pair: Path, folder: Path) -> tuple[Path, Path]:
    """Copies of the two configs that run every stage for a few steps on a few thousand pairs,
    in run directories of their own, packing into `folder` and writing no curve into the
    repository."""
    paths = [folder / "big.json", folder / "pair.json"]
    for src, dst in zip((big, pair), paths):
        cfg = json.loads(Path(src).read_text())
        cfg["name"] += "-smoke"
        cfg["data"]["max_train_pairs"] = 3000
        for stage in ("teacher", "student"):
            if stage in cfg:
                cfg[stage].pop("budget_minutes", None)
                cfg[stage].update(
                    max_steps=3,
                    batch_tokens=min(cfg[stage]["batch_tokens"], 4000),
                    eval_every=2 if cfg[stage].get("eval_every") else None,
                    eval_sentences=20,
                    curve=None,
                    resume=str(folder / f"{cfg['name']}-{stage}.pt"),
                )
        cfg.setdefault("distill", {}).update(
            max_pairs=500, resume=str(folder / f"{cfg['name']}-distilled.xz")
        )
        if dst == paths[1]:
            cfg["distill"]["from"] = str(paths[0])
        dst.write_text(json.dumps(cfg, indent=1))
    return paths[0], paths[1]


# Seconds each stage needs beyond its budget (tokenising the corpus, the final evaluations and
# averaging, assembling the distilled corpus), and packing at the end: what the deadline keeps
# back for the stages still to come.
OVERHEAD = {"big teacher": 60, "distillation": 20, "teacher": 15, "student": 10}
PACKING = 20


def fitted_budget(name: str, minutes: float, later: list[tuple[str, float]], left: float) -> float:
    """Stage `name`'s budget in minutes with `left` seconds to the deadline: its configured
    `minutes`, or less where the `later` stages' (name, minutes) and their overheads, and the
    packing, would not fit otherwise; never under 0.2 (a stage that gets nothing fails)."""
    keep = sum(60 * m + OVERHEAD[n] for n, m in later) + PACKING + OVERHEAD[name]
    return round(max(0.2, min(minutes, (left - keep) / 60)), 3)


def run_round(big: Pipeline, pair: Pipeline, out: Path, deadline: float | None = None) -> dict:
    """Train, distil, train, packing into `out` after each stage (so that a lease cut short
    still returns what finished): each stage is skipped where its result is there already (a
    rerun goes on). With a `deadline` (time.time()), each stage's budget shrinks where needed to
    leave the later ones theirs (configured budget + `OVERHEAD`) and `PACKING`: the last stage,
    the student, is the one cut first. Returns what each stage did (`summary.json`): its
    wall-clock seconds and budget, and for a training stage its last step and the last row of
    its learning curve."""
    summary = {}

    def trained(pipe: Pipeline, which: str) -> dict:
        if not pipe.final_path(which).exists():
            train(pipe, which, max_minutes=None)
        final = torch.load(pipe.final_path(which), weights_only=False, map_location="cpu")
        row = {"step": final.get("step")}
        curve = curve_path(pipe, which)
        if curve.exists():  # its last evaluation, at step `curve_step`
            header, *_, last = curve.read_text().splitlines()
            for key, value in zip(header.split("\t"), last.split("\t")):
                row["curve_step" if key == "step" else key] = float(value)
        return row

    def distilled() -> dict:
        if not big.distilled_path.exists():
            distill(big, threads=8, backend="torch")
        return {"pairs": len(TokenizedCorpus.load(big.distilled_path))}

    # (name, its run, its config section, the work)
    stages = [
        ("big teacher", big, big.cfg["teacher"], lambda: trained(big, "teacher")),
        ("distillation", big, big.cfg.setdefault("distill", {}), distilled),
        ("teacher", pair, pair.cfg["teacher"], lambda: trained(pair, "teacher")),
        ("student", pair, pair.cfg["student"], lambda: trained(pair, "student")),
    ]
    for k, (name, pipe, section, work) in enumerate(stages):
        if deadline is not None and section.get("budget_minutes"):
            later = [(n, s.get("budget_minutes", 0)) for n, _, s, _ in stages[k + 1 :]]
            section["budget_minutes"] = fitted_budget(
                name, section["budget_minutes"], later, deadline - time.time()
            )
        t0 = time.time()
        summary[name] = work()
        summary[name]["seconds"] = round(time.time() - t0, 1)
        summary[name]["budget_minutes"] = section.get("budget_minutes")
        pipe.log("round", f"{name}: {summary[name]}")
        collect(big, pair, out, summary)
    return summary


def collect(big: Pipeline, pair: Pipeline, out: Path, summary: dict) -> None:
    """Pack what finished into `out` (see the module's docstring), each file once."""
    out.mkdir(parents=True, exist_ok=True)

    def there(name: str) -> bool:
        return any(out.glob(name + "*"))

    for which in ("teacher", "student"):
        if pair.final_path(which).exists() and not there(f"{which}.pt"):
            pack(pair, which)
            split_file(
                Path(shutil.copy(REPO_ROOT / pair.cfg[which]["resume"], out / f"{which}.pt"))
            )
    if big.distilled_path.exists() and not there("distilled.xz"):
        pack(big, "distill")
        src = REPO_ROOT / big.cfg["distill"]["resume"]
        split_file(Path(shutil.copy(src, out / "distilled.xz")))
    for old in out.glob("round.tar.gz*"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "summary.json").write_text(json.dumps(summary, indent=1))
        with tarfile.open(out / "round.tar.gz", "w:gz") as tar:
            tar.add(Path(tmp) / "summary.json", arcname="summary.json")
            for pipe in (big, pair):
                for log in sorted(pipe.runs.glob("*.log")):
                    tar.add(log, arcname=f"logs/{pipe.name}/{log.name}")
                for which in ("teacher", "student"):
                    curve = curve_path(pipe, which) if which in pipe.cfg else None
                    for path in (curve, curve and average_path(curve)):
                        if path is not None and path.exists():
                            # A curve the config keeps in the repository goes back to its
                            # place there (docs/curves/...), others beside the logs.
                            inside = path.resolve().is_relative_to(REPO_ROOT)
                            name = path.resolve().relative_to(REPO_ROOT) if inside else None
                            tar.add(path, arcname=str(name or f"logs/{pipe.name}/{path.name}"))
    split_file(out / "round.tar.gz")


def main() -> None:
    started = time.time()
    # TF32 for the fp32 parts (the evaluations, the distillation's greedy decoding): the
    # matrix units at ~8x fp32's rate, at a 1e-3 relative error that greedy argmax rarely sees.
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--big", required=True, help="config of the teacher that distils")
    ap.add_argument("--pair", required=True, help="config of the shipped AR model and student")
    ap.add_argument("--out", required=True, type=Path, help="folder for what comes back")
    ap.add_argument("--smoke", action="store_true", help="first a few steps of every stage")
    ap.add_argument("--smoke-only", action="store_true", help="only those (a rehearsal)")
    ap.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="wall-clock limit of the whole command (the lease's): later stages are cut to fit",
    )
    args = ap.parse_args()
    deadline = started + 60 * args.minutes if args.minutes else None
    if args.smoke or args.smoke_only:
        with tempfile.TemporaryDirectory() as tmp:
            big, pair = smoke_configs(Path(args.big), Path(args.pair), Path(tmp))
            # A rehearsal's files go to --out, to rehearse `device-round.sh restore` too.
            out = args.out if args.smoke_only else Path(tmp) / "out"
            summary = run_round(Pipeline(big), Pipeline(pair), out)
            print(f"smoke round passed: {summary}", flush=True)
        if args.smoke_only:
            return
    summary = run_round(Pipeline(args.big), Pipeline(args.pair), args.out, deadline)
    print(json.dumps(summary, indent=1))
    for f in sorted(args.out.iterdir()):
        print(f"{f.stat().st_size / 2**20:8.1f} MiB  {f.name}")


if __name__ == "__main__":
    main()
