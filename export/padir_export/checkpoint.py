"""Carry a long training run across machines in git. A session ends with

    python -m padir_export.checkpoint --config export/configs/en-fr.json --stage teacher

which packs the stage's checkpoint (`<runs>/<stage>.ckpt`) as fp16 weights and its progress
(step, epoch, batch, training time; ~15 MB for the en-fr teacher, no optimizer state) into the
stage's `resume` file, and the run's tokenizer into the tokenizer's `resume` file. The next
session, on any machine, runs the same training command: with no checkpoint in its run
directory, `train.py` starts from the packed weights at the packed step, with a fresh AdamW
and `resume_warmup_steps` (default 100) of learning-rate warm-up, and the pipeline takes the
packed tokenizer. Commit the two files, replacing the previous session's copy. A finished stage
packs its final weights instead of the checkpoint's (they differ where the stage ended with the
average of its last snapshots), so the next machine takes them as finished.

    python -m padir_export.checkpoint --config export/configs/en-fr.json --stage distill

packs the finished distillation (the teacher's outputs: `distill.pack_shards`) into the file
`distill.resume` names, so that the student's sessions on other machines need not translate the
corpus again.
"""

from __future__ import annotations

import argparse
import shutil

import torch

from .pipeline import REPO_ROOT, Pipeline


def pack_distillation(pipe: Pipeline) -> None:
    from .distill import pack_shards, teacher_step

    resume = pipe.cfg.get("distill", {}).get("resume")
    if not resume:
        raise SystemExit(f"{pipe.config_path}: distill.resume (the packed file's path) is not set")
    out = REPO_ROOT / resume
    pairs = pack_shards(pipe.runs / "distill", out, teacher_step(pipe))
    print(f"packed {pairs} teacher outputs into {out} ({out.stat().st_size / 1e6:.1f} MB)")


def pack(pipe: Pipeline, stage: str) -> None:
    if stage == "distill":
        return pack_distillation(pipe)
    tc = pipe.cfg[stage]
    if not tc.get("resume"):
        raise SystemExit(f"{pipe.config_path}: {stage}.resume (the packed file's path) is not set")
    ck = torch.load(pipe.runs / f"{stage}.ckpt", weights_only=False, map_location="cpu")
    model = ck["model"]
    final = pipe.final_path(stage)
    if final.exists():
        # A finished stage packs its final weights (the average of its last snapshots where
        # that scored better: `average.py`), if they are this checkpoint's.
        done = torch.load(final, weights_only=False, map_location="cpu")
        if done.get("step") == ck["state"]["step"]:
            model = done["model"]
            print(f"packing the final weights of {final}")
    weights = {k: v.half() if v.is_floating_point() else v for k, v in model.items()}
    out = REPO_ROOT / tc["resume"]
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v for k, v in ck["state"].items() if k != "rewarm_from"}
    torch.save({"model": weights, "state": state, "model_config": ck["model_config"]}, out)
    print(f"packed step {state['step']} into {out} ({out.stat().st_size / 1e6:.1f} MB)")
    tok = pipe.cfg["tokenizer"].get("resume")
    if tok:
        shutil.copy(pipe.tokenizer_path, REPO_ROOT / tok)
        print(f"copied the tokenizer to {REPO_ROOT / tok}")


def unpack(path, model) -> dict:
    """Load packed weights into `model` (as fp32); returns the packed progress.

    A model with decoder positions may continue packed weights without them (a student trained
    before `model.decoder_positions` existed): its table starts at zero, so it starts out
    translating exactly as the packed model did. Any other difference is an error."""
    packed = torch.load(path, weights_only=False, map_location="cpu")
    weights = {k: v.float() if v.is_floating_point() else v for k, v in packed["model"].items()}
    table = getattr(model, "decoder_position", None)
    if table is not None and "decoder_position.weight" not in weights:
        weights["decoder_position.weight"] = torch.zeros_like(table.weight)
    model.load_state_dict(weights)
    return packed["state"]


def unpack_final(pipe: Pipeline, stage: str) -> None:
    """The packed weights of a finished stage (a GPU round's, made on another machine) as the
    stage's final weights in the run directory, which export and distillation read."""
    path = REPO_ROOT / pipe.cfg[stage]["resume"]
    model = pipe.new_model(causal=(stage == "teacher"))
    state = unpack(path, model)
    pipe.save_final(stage, model, step=state["step"])
    print(f"unpacked {path} (step {state['step']}) into {pipe.final_path(stage)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--stage", choices=["teacher", "distill", "student"], required=True)
    ap.add_argument(
        "--unpack-final",
        action="store_true",
        help="the reverse, for a finished stage: its packed weights become its final weights",
    )
    args = ap.parse_args()
    if args.unpack_final:
        unpack_final(Pipeline(args.config), args.stage)
    else:
        pack(Pipeline(args.config), args.stage)


if __name__ == "__main__":
    main()
