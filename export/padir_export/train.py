"""Training of the AR teacher and of the PaDIR student, resumable from checkpoints.

    python -m padir_export.train --config export/configs/en-fr.json --stage teacher
    python -m padir_export.train --config export/configs/en-fr.json --stage student

Run it under nohup: it writes `<runs>/<stage>.ckpt` every `checkpoint_minutes` (and when stopped
with SIGTERM / Ctrl-C, then exiting with status 3) and continues from there when started again.
The student starts from the teacher's final weights and trains on the distilled targets
(`distill.py`). With `eval_every` set, the stage's learning curve (the teacher's dev token loss
and greedy dev BLEU, the student's PaDIR dev BLEU after 2 and 4 passes: `evaluate.py`) is
appended to `<runs>/<stage>-curve.tsv` (or to the file `curve` names). With `average_last` too,
the weights at the last evaluations are kept, and the stage ends with their mean where it scores
at least as well as the last weights (`average.py`; both rows in `<curve>-average.tsv`).

It runs on a GPU when there is one (bf16 autocast where the hardware has bf16: `"bf16": "auto"`),
and data-parallel on several under torchrun, each process taking its own batch of every step:

    torchrun --nproc-per-node 8 -m padir_export.train --config CONFIG --stage teacher
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import signal
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from .average import Snapshots
from .checkpoint import unpack
from .config import EOS_ID, MASK_ID, NUM_SPECIAL, PAD_ID, ModelConfig
from .data import make_batches, read_tsv
from .evaluate import (
    SCORE_COLUMNS,
    STUDENT_ITERATIONS,
    STUDENT_SCORE_COLUMNS,
    score_teacher,
    student_bleu,
)
from .hf import load_hf
from .pipeline import REPO_ROOT, Pipeline

STOPPED_EXIT_CODE = 3  # stopped with a checkpoint before the last epoch; rerun to continue
CURVE_COLUMNS = ["step", "epoch", "train_hours", "target_tokens"]
SCORES = {"teacher": SCORE_COLUMNS, "student": ["dev_loss", *STUDENT_SCORE_COLUMNS]}


def pad_batch(rows: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad int sequences with <pad> -> ids [B,T], mask [B,T]."""
    t = max(len(r) for r in rows)
    ids = np.full((len(rows), t), PAD_ID, dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
    lens = torch.tensor([len(r) for r in rows])
    return torch.from_numpy(ids), (torch.arange(t)[None, :] < lens[:, None]).long()


def length_class(src_mask: torch.Tensor, tgt_lens: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """Class of (target length - source length), both counted without </s>."""
    src_lens = src_mask.sum(1) - 1
    off = (tgt_lens - src_lens).clamp(-cfg.max_length_offset, cfg.max_length_offset)
    return off + cfg.max_length_offset


def corrupt(
    labels: torch.Tensor,
    content: torch.Tensor,
    vocab: int,
    gen: torch.Generator,
    mask_share: float = 0.8,
    all_masked: float = 0.0,
):
    """PaDIR/CMLM corruption: per sentence a rate r~U(0,1); each content token is chosen with
    probability r, and a chosen token becomes <mask> with probability `mask_share` (BERT's 0.8),
    else a random token or itself, half and half. A share `all_masked` of the sentences have
    every content token masked instead: the input of the first decoding pass, which a rate
    drawn from U(0,1) almost never gives."""
    b, t = labels.shape
    rate = torch.rand(b, 1, generator=gen)
    chosen = (torch.rand(b, t, generator=gen) < rate) & content
    r = torch.rand(b, t, generator=gen)
    rand_tok = torch.randint(NUM_SPECIAL, vocab, (b, t), generator=gen)
    keep_from = mask_share + (1 - mask_share) / 2
    out = labels.clone()
    out = torch.where(chosen & (r < mask_share), torch.full_like(out, MASK_ID), out)
    out = torch.where(chosen & (r >= mask_share) & (r < keep_from), rand_tok, out)
    if all_masked > 0:
        whole = (torch.rand(b, 1, generator=gen) < all_masked) & content
        out = torch.where(whole, torch.full_like(out, MASK_ID), out)
    return out


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """To a GPU from pinned memory without waiting: the host prepares the next batch while the
    GPU still runs this step (a pageable copy would wait for the step to end)."""
    if device.type != "cuda":
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)


def batch_loss(model, corpus, idx, stage: str, tc: dict, gen: torch.Generator):
    cfg = model.cfg
    device = model.shared.weight.device
    src_ids, src_mask = pad_batch([corpus.src(i) for i in idx])
    tgt = [corpus.tgt(i) for i in idx]
    labels, dec_mask = pad_batch([np.append(x, EOS_ID) for x in tgt])
    tgt_lens = torch.tensor([len(x) for x in tgt])
    content = (dec_mask == 1) & (labels != EOS_ID)
    # The corruption draws from a CPU generator (the same on every device), then all moves.
    corrupted = None
    if stage == "student":
        shares = {k: tc[k] for k in ("mask_share", "all_masked") if k in tc}
        corrupted = corrupt(labels, content, cfg.vocab_size, gen, **shares)
    src_ids, src_mask, labels, dec_mask, tgt_lens, content = (
        to_device(t, device) for t in (src_ids, src_mask, labels, dec_mask, tgt_lens, content)
    )
    ls = tc.get("label_smoothing", 0.0)
    enc = model.encode(src_ids, src_mask)
    len_loss = F.cross_entropy(
        model.length_logits(enc, src_mask).float(), length_class(src_mask, tgt_lens, cfg)
    )
    if stage == "teacher":
        dec_in = torch.cat([torch.full_like(labels[:, :1], PAD_ID), labels[:, :-1]], 1)
        logits = model.lm_logits(model.decoder_hidden(dec_in, dec_mask, enc, src_mask))
        tok_loss = F.cross_entropy(
            logits.float().transpose(1, 2),
            labels.masked_fill(dec_mask == 0, -100),
            label_smoothing=ls,
        )
        return tok_loss, len_loss
    # Student: corrupted aligned input, EOS kept in place, loss on every target position;
    # then `unroll_stages - 1` more passes fed with the previous pass's argmax (SUNDAE-style).
    dec_in = to_device(corrupted, device)
    target = labels.masked_fill(dec_mask == 0, -100)
    tok_loss = 0.0
    for _ in range(tc.get("unroll_stages", 1)):
        logits = model.lm_logits(model.decoder_hidden(dec_in, dec_mask, enc, src_mask))
        tok_loss = tok_loss + F.cross_entropy(
            logits.float().transpose(1, 2), target, label_smoothing=ls
        )
        dec_in = torch.where(content, logits.detach().argmax(-1), labels)
    return tok_loss, len_loss


def vocab_of(tokenizer_json: Path) -> dict[str, int]:
    """Token -> id of a Hugging Face tokenizer file (model vocabulary and added tokens)."""
    tok = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))
    vocab = dict(tok["model"]["vocab"])
    vocab.update({t["content"]: t["id"] for t in tok.get("added_tokens", [])})
    return vocab


def carry_embedding(
    weight: torch.Tensor, old_vocab: dict[str, int], new_vocab: dict[str, int]
) -> tuple[torch.Tensor, list[int]]:
    """The embedding of a model trained with `old_vocab`, laid out for `new_vocab`: every token
    the old vocabulary had keeps its row, wherever its id now is; the others (e.g. placeholder
    tokens that replaced the rarest pieces) start at the mean row, so that as outputs of the tied
    layer they begin at an average logit rather than a random one. Returns the fresh ids."""
    size = max(new_vocab.values()) + 1
    out = weight.mean(0, keepdim=True).repeat(size, 1)
    fresh = []
    for token, new_id in new_vocab.items():
        old_id = old_vocab.get(token)
        if old_id is not None and old_id < weight.shape[0]:
            out[new_id] = weight[old_id]
        else:
            fresh.append(new_id)
    return out, sorted(fresh)


def lr_at(step: int, tc: dict, rewarm_from: int | None = None) -> float:
    """Linear warm-up, then inverse square root; a run resumed from packed weights (fresh
    optimizer) warms up again over `resume_warmup_steps` from the step it resumed at."""
    warm = tc["warmup_steps"]
    lr = tc["lr"] * min((step + 1) / warm, math.sqrt(warm / (step + 1)))
    if rewarm_from is not None:
        lr *= min(1.0, (step - rewarm_from + 1) / tc.get("resume_warmup_steps", 100))
    return lr


def param_groups(model, tc: dict) -> list[dict]:
    """The tied embedding (`shared`, also the output layer) may take its own learning-rate
    multiple, `shared_lr_mult`: initialised at T5's std 1.0, it moves ~15x less per AdamW step,
    relative to its scale, than the d_model-wide matrices (std ~0.06). The student's decoder
    positions take `position_lr_mult`: at the schedule's rate they barely left their random
    start in 1,000 steps (docs/MODEL.md, "Student probe")."""
    own = {"shared.weight": "shared_lr_mult", "decoder_position.weight": "position_lr_mult"}
    groups = [{"params": [], "lr_mult": 1.0}]
    for name, p in model.named_parameters():
        if name in own:
            groups.append({"params": [p], "lr_mult": float(tc.get(own[name], 1.0))})
        else:
            groups[0]["params"].append(p)
    return groups


def cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def bf16_is_faster(model, corpus, batch, stage: str, tc: dict) -> bool:
    """Time one training step's forward and backward pass in fp32 and in bf16 autocast (after
    a warm-up of each) on `batch`; the weights are left as they were."""
    gen = torch.Generator().manual_seed(0)
    seconds = {}
    for bf16 in (False, True, False, True):  # the first of each is the warm-up
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            tok_loss, len_loss = batch_loss(model, corpus, batch, stage, tc, gen)
        (tok_loss + len_loss).backward()
        model.zero_grad(set_to_none=True)
        seconds[bf16] = time.perf_counter() - start
    return seconds[True] < seconds[False]


def use_bf16(setting, device: torch.device, measure) -> bool:
    """`bf16`: true, false or "auto" (the default). Auto: on a CUDA GPU, bf16 where it has it;
    on a CPU without bf16 instructions, never (emulated, slower than fp32); on a CPU with
    them, whichever `measure()` finds faster: bf16 autocast trained 1.7x faster on a Zen 4, but
    1.2x slower than fp32 on a Xeon with AVX-512 BF16."""
    if setting != "auto":
        return bool(setting)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return cpu_has_bf16() and measure()


def setup_devices() -> tuple[torch.device, int, int]:
    """(device, rank, world size): one process per GPU under torchrun, else one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device, rank, world


def close_process_group() -> None:
    """Under torchrun: wait for every process, then tear the group down. A process that exits
    with the group still open can abort in gloo's threads ("terminate called without an active
    exception"), failing the whole run although training finished."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def average_gradients(model, world: int) -> None:
    """Data parallelism by hand: one all-reduce of all gradients, flattened. (DDP's wrapper
    hooks `forward`, and training calls the model's parts: encode, decoder_hidden, ...)"""
    for p in model.parameters():
        if p.grad is None:  # a process that had no batch yet: zeros, so the sizes agree
            p.grad = torch.zeros_like(p)
    grads = [p.grad for p in model.parameters()]
    flat = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def any_rank(flag: bool, world: int, device) -> bool:
    """True on every process if `flag` is true on any (a stop must be taken by all together)."""
    if world == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


@torch.no_grad()
def dev_loss(model, corpus, stage, tc) -> float:
    model.eval()
    gen = torch.Generator().manual_seed(1234)
    total, n = 0.0, 0
    for idx in make_batches(corpus, tc["batch_tokens"], tc["max_len"], seed=0)[:20]:
        tok, ln = batch_loss(model, corpus, idx, stage, tc, gen)
        total += float(tok) + float(ln)
        n += 1
    model.train()
    return total / max(n, 1)


def done(state: dict, max_steps: int | None) -> bool:
    return max_steps is not None and state["step"] >= max_steps


def curve_path(pipe: Pipeline, stage: str) -> Path:
    """In the repository when `curve` names a file there (the curve of a run that goes on over
    several sessions is committed), else in the run directory."""
    curve = pipe.cfg[stage].get("curve")
    return REPO_ROOT / curve if curve else pipe.runs / f"{stage}-curve.tsv"


def average_path(curve: Path) -> Path:
    """Where a stage that averaged its snapshots scores the mean against its last weights."""
    return curve.with_name(curve.stem + "-average.tsv")


class Curve:
    """The learning curve of a stage: `<runs>/<stage>-curve.tsv`, one row per evaluation. The
    teacher's rows hold dev token loss and greedy BLEU; the student's its dev loss (as trained:
    tokens and length, smoothed) and PaDIR BLEU after 2 and 4 passes (`evaluate.py`)."""

    def __init__(self, pipe: Pipeline, stage: str, tc: dict):
        self.path = curve_path(pipe, stage)
        self.every = tc.get("eval_every")
        self.n = tc.get("eval_sentences", 500)
        self.pipe, self.stage, self.tc = pipe, stage, tc
        self.columns = [*CURVE_COLUMNS, *SCORES[stage]]
        self.refs = None

    def due(self, step: int) -> bool:
        return bool(self.every) and step % self.every == 0

    def scores(self, model) -> dict:
        dev = self.pipe.dev_corpus(self.stage)
        if self.stage == "teacher":
            return score_teacher(model, self.pipe.tokenizer(), dev, self.sources, self.refs, self.n)
        return {
            "dev_loss": round(dev_loss(model, dev, self.stage, self.tc), 4),
            **student_bleu(model, self.pipe, self.sources, self.refs, self.n),
        }

    def evaluate(self, model, state: dict) -> dict:
        if self.refs is None:
            self.sources, self.refs = read_tsv(self.pipe.path("dev"))
        row = {
            "step": state["step"],
            "epoch": round(state["epoch"] + state["batch"] / max(state.get("batches", 1), 1), 4),
            "train_hours": round(state["seconds"] / 3600, 4),
            "target_tokens": state.get("target_tokens", 0),
            **self.scores(model),
        }
        new = not self.path.exists()
        with open(self.path, "a", encoding="utf-8") as f:
            if new:
                f.write("\t".join(self.columns) + "\n")
            f.write("\t".join(str(row[c]) for c in self.columns) + "\n")
        self.pipe.log(self.stage, "curve " + " ".join(f"{k} {v}" for k, v in row.items()))
        return row

    def keep_average(self, model, averaged: dict, steps: list[int]) -> bool:
        """Score the last weights and the average of the snapshots at `steps` alike; True where
        the average's BLEU (after the most passes, for the student) is at least the last's.
        Both rows go to `<curve>-average.tsv` beside the curve."""
        if self.refs is None:
            self.sources, self.refs = read_tsv(self.pipe.path("dev"))
        mean = copy.deepcopy(model)
        mean.load_state_dict(averaged)
        rows = {
            "last": self.scores(model),
            f"mean of steps {steps[0]}-{steps[-1]} ({len(steps)})": self.scores(mean),
        }
        key = "dev_bleu" if self.stage == "teacher" else f"dev_bleu_i{STUDENT_ITERATIONS[-1]}"
        (last, mean_row) = rows.values()
        keep = mean_row[key] >= last[key]
        path = average_path(self.path)
        with open(path, "w", encoding="utf-8") as f:
            f.write("\t".join(["weights", *SCORES[self.stage], "kept"]) + "\n")
            for (name, row), kept in zip(rows.items(), (not keep, keep)):
                cells = [name, *(str(row[c]) for c in SCORES[self.stage]), "yes" if kept else ""]
                f.write("\t".join(cells) + "\n")
        self.pipe.log(self.stage, f"average of steps {steps}: {mean_row}; last: {last}; kept {key}")
        return keep


def train(pipe: Pipeline, stage: str, max_minutes: float | None) -> bool:
    """Train `stage` to the end (True) or until stopped with a checkpoint (False)."""
    tc = pipe.cfg[stage]
    device, rank, world = setup_devices()
    lead = rank == 0  # the process that logs, evaluates and writes checkpoints
    torch.manual_seed(tc.get("seed", 0))
    torch.set_num_threads(tc.get("threads", 2))
    model = pipe.new_model(causal=(stage == "teacher"))
    # The lead process tokenises (and caches) the corpora first; the others then read the cache.
    if not lead:
        dist.barrier()
    corpus = pipe.train_corpus(stage)
    dev = pipe.dev_corpus(stage)
    if lead and world > 1:
        dist.barrier()
    ckpt_path = pipe.runs / f"{stage}.ckpt"
    state = {"epoch": 0, "batch": 0, "step": 0, "seconds": 0.0, "target_tokens": 0}
    ck = torch.load(ckpt_path, weights_only=False) if ckpt_path.exists() else None
    if ck is not None:
        model.load_state_dict(ck["model"])
        state.update(ck["state"])
        if lead:
            pipe.log(stage, f"resumed from {ckpt_path} at {state}")
    elif tc.get("resume") and (REPO_ROOT / tc["resume"]).exists():
        # Packed by `checkpoint.py` in an earlier session, on another machine perhaps.
        state.update(unpack(REPO_ROOT / tc["resume"], model))
        state["rewarm_from"] = state["step"]
        if lead:
            pipe.log(stage, f"resumed from packed {tc['resume']} at step {state['step']}")
    elif (init_dir := pipe.init_path(stage)) is not None:
        # Continue from a shipped model: its weights, a fresh optimizer and a new warm-up.
        # Hugging Face checkpoints carry no length head: that one starts fresh.
        init = load_hf(init_dir).state_dict()
        init = {k: v for k, v in init.items() if not k.startswith("length_head.")}
        fresh_rows = []
        if (init_dir / "tokenizer.json").exists():
            init["shared.weight"], fresh_rows = carry_embedding(
                init["shared.weight"],
                vocab_of(init_dir / "tokenizer.json"),
                vocab_of(pipe.tokenizer_path),
            )
        # (Without its tokenizer the shipped model's rows are taken to mean the same ids.)
        missing, _ = model.load_state_dict(init, strict=False)
        # `init_step`: where the shipped model's schedule had reached, so the learning rate
        # carries on from there (after a short warm-up) instead of decaying again from the peak.
        if tc.get("init_step"):
            state["step"] = state["rewarm_from"] = int(tc["init_step"])
        if lead:
            pipe.log(
                stage,
                f"initialised from {init_dir} at step {state['step']}; fresh: {missing}, "
                f"{len(fresh_rows)} embedding rows for tokens it did not have",
            )
    elif stage == "student":
        init = pipe.teacher_state_dict()
        missing, _ = model.load_state_dict(init, strict=False)
        if lead:
            pipe.log(stage, f"initialised from teacher; fresh: {missing}")
    elif "embed_init_std" in tc:
        # A fresh model: the embedding may start at another scale than T5's std 1.0.
        torch.nn.init.normal_(model.shared.weight, std=float(tc["embed_init_std"]))
    model.to(device)
    opt = torch.optim.AdamW(
        param_groups(model, tc),
        lr=tc["lr"],
        betas=(0.9, 0.98),
        weight_decay=tc.get("weight_decay", 0.0),
    )
    if ck is not None:
        opt.load_state_dict(ck["opt"])
        # The saved groups carry their multiples; the config's are the ones to train with.
        for group, wanted in zip(opt.param_groups, param_groups(model, tc)):
            group["lr_mult"] = wanted["lr_mult"]
    first = make_batches(corpus, tc["batch_tokens"], tc["max_len"], seed=1000)[0]
    bf16 = use_bf16(
        tc.get("bf16", "auto"),
        device,
        lambda: bf16_is_faster(model, corpus, first, stage, tc),
    )
    if lead:
        pipe.log(stage, f"device {device} x{world}, bf16 autocast {bf16}")
    gen = torch.Generator().manual_seed(tc.get("seed", 0) + state["step"] + 7919 * rank)
    curve = Curve(pipe, stage, tc) if lead else None
    snapshots = Snapshots(pipe.runs / f"{stage}-snapshots", tc.get("average_last", 0))
    model.train()
    t_start = time.time()
    t_ckpt = time.time()
    t_log, tokens_since = time.time(), 0
    # `kill -TERM` (or Ctrl-C) stops after the current step with a fresh checkpoint.
    stop = {"requested": False}

    def request_stop(signum, frame):
        stop["requested"] = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    t_mark = time.time()

    def save():
        nonlocal t_mark
        state["seconds"] += time.time() - t_mark
        t_mark = time.time()
        if not lead:
            return
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save(
            {
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "state": state,
                "model_config": pipe.model_cfg.to_dict(),
            },
            tmp,
        )
        tmp.rename(ckpt_path)

    # `max_steps` (optional) ends the stage early, as finished: a fixed, reproducible budget for
    # machines where a whole epoch does not fit. `budget_minutes` does the same after that much
    # wall-clock time of this run (evaluations included): the GPU round's stages (`gpu_round.py`).
    max_steps = tc.get("max_steps")
    budget = tc.get("budget_minutes")
    deadline = t_start + 60 * budget if budget else None
    over_budget = False  # decided by all processes together
    while state["epoch"] < tc["epochs"] and not done(state, max_steps) and not over_budget:
        batches = make_batches(
            corpus, tc["batch_tokens"], tc["max_len"], seed=1000 + state["epoch"]
        )
        state["batches"] = len(batches)
        # Each step takes `world` batches, one per process (the last step of an epoch may
        # leave a process without one: it contributes zero gradients).
        while state["batch"] < len(batches) and not done(state, max_steps) and not over_budget:
            mine = state["batch"] + rank
            idx = batches[mine] if mine < len(batches) else batches[state["batch"]][:0]
            for g in opt.param_groups:
                g["lr"] = lr_at(state["step"], tc, state.get("rewarm_from")) * g.get("lr_mult", 1.0)
            opt.zero_grad(set_to_none=False)
            if len(idx):
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    tok_loss, len_loss = batch_loss(model, corpus, idx, stage, tc, gen)
                loss = tok_loss + tc.get("length_loss_weight", 1.0) * len_loss
                loss.backward()
            if world > 1:
                average_gradients(model, world)
            torch.nn.utils.clip_grad_norm_(model.parameters(), tc.get("clip", 1.0))
            opt.step()
            step_tokens = sum(
                int(sum(len(corpus.tgt(i)) + 1 for i in batches[b]))
                for b in range(state["batch"], min(state["batch"] + world, len(batches)))
            )
            state["step"] += 1
            state["batch"] = min(state["batch"] + world, len(batches))
            state["target_tokens"] += step_tokens
            tokens_since += step_tokens
            if lead and state["step"] % 100 == 0:
                dt = time.time() - t_log
                pipe.log(
                    stage,
                    f"epoch {state['epoch']} batch {state['batch']}/{len(batches)} "
                    f"step {state['step']} tok_loss {tok_loss.item():.3f} "
                    f"len_loss {len_loss.item():.3f} lr {lr_at(state['step'], tc):.2e} "
                    f"tgt_tok/s {tokens_since / dt:.0f}",
                )
                t_log, tokens_since = time.time(), 0
            if curve is not None and curve.due(state["step"]):
                save()  # the curve's row and a checkpoint of the same step
                t_eval = time.time()
                curve.evaluate(model, state)
                snapshots.add(state["step"], model)
                t_mark += time.time() - t_eval  # evaluation is not training time
                t_ckpt = time.time()
            if time.time() - t_ckpt > 60 * tc.get("checkpoint_minutes", 15):
                save()
                if lead:
                    pipe.log(
                        stage,
                        f"checkpoint step {state['step']} "
                        f"dev_loss {dev_loss(model, dev, stage, tc):.3f}",
                    )
                t_ckpt = time.time()
            timed_out = max_minutes is not None and time.time() - t_start > 60 * max_minutes
            if deadline is not None:
                over_budget = any_rank(time.time() >= deadline, world, device)
            if any_rank(stop["requested"] or timed_out, world, device):
                save()
                if lead:
                    pipe.log(stage, f"stopped at step {state['step']}; checkpoint written")
                return False
        if state["batch"] >= len(batches):
            state["epoch"] += 1
            state["batch"] = 0
        save()
        if lead:
            pipe.log(
                stage,
                f"epoch {state['epoch']} batch {state['batch']} step {state['step']}: "
                f"dev_loss {dev_loss(model, dev, stage, tc):.3f}",
            )
    if lead:
        # Both candidates are scored where the model trained (a GPU's minutes, not a CPU's),
        # and the final weights saved from the CPU (loadable anywhere).
        averaged = snapshots.average() if curve is not None else None
        if averaged is not None and curve.keep_average(model, averaged, snapshots.steps()):
            model.load_state_dict(averaged)
        model = model.cpu()
        pipe.save_final(stage, model, step=state["step"])
        pipe.log(stage, f"finished: {pipe.final_path(stage)}")
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--stage", choices=["teacher", "student"], required=True)
    ap.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="stop (with a checkpoint) after this long; rerun to continue",
    )
    args = ap.parse_args()
    finished = train(Pipeline(args.config), args.stage, args.max_minutes)
    close_process_group()
    if not finished:
        # Not finished: a distinct status, so scripts chaining the stages stop here.
        raise SystemExit(STOPPED_EXIT_CODE)


if __name__ == "__main__":
    main()
