"""Checkpoint averaging: the mean of the weights at the last few evaluations of a run.

Averaging the last checkpoints (as fairseq's `average_checkpoints.py` and Marian's exponential
smoothing do) often scores above the last one alone: the steps of a small-batch run scatter the
weights around the minimum they approach, and their mean sits nearer to it. `train.py` keeps a
snapshot of the model at every evaluation (`average_last` in the stage's config says how many)
and, when the stage ends, keeps the average only where it scores at least as well as the last
weights (`Curve.better`).

Snapshots live in the run directory, beside the checkpoint, and are not packed into git (5 of
them are ~150 MB): a run resumed on another machine averages the snapshots it wrote there.
"""

from __future__ import annotations

from pathlib import Path

import torch


def average_state_dicts(states: list[dict]) -> dict:
    """The element-wise mean of floating-point tensors (accumulated in fp64); other tensors
    (integer buffers) are taken from the last state."""
    if not states:
        raise ValueError("nothing to average")
    keys = states[-1].keys()
    for s in states:
        if s.keys() != keys:
            raise ValueError("snapshots of different models cannot be averaged")
    out = {}
    for k, last in states[-1].items():
        if last.is_floating_point():
            total = torch.zeros_like(last, dtype=torch.float64)
            for s in states:
                total += s[k].to(torch.float64)
            out[k] = (total / len(states)).to(last.dtype)
        else:
            out[k] = last.clone()
    return out


class Snapshots:
    """The model weights at the last `keep` evaluations, in `<runs>/<stage>-snapshots/`."""

    def __init__(self, folder: Path, keep: int):
        self.folder, self.keep = folder, keep

    def paths(self) -> list[Path]:
        return sorted(self.folder.glob("step-*.pt")) if self.folder.exists() else []

    def add(self, step: int, model: torch.nn.Module) -> None:
        if self.keep < 2:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        tmp = self.folder / f"step-{step:07d}.tmp"
        torch.save(state, tmp)
        tmp.rename(self.folder / f"step-{step:07d}.pt")
        for old in self.paths()[: -self.keep]:
            old.unlink()

    def steps(self) -> list[int]:
        return [int(p.stem.split("-")[1]) for p in self.paths()]

    def average(self) -> dict | None:
        """The mean of the snapshots kept, or None where fewer than two are there."""
        paths = self.paths()
        if len(paths) < 2:
            return None
        return average_state_dicts([torch.load(p, weights_only=True) for p in paths])
