"""Training of the AR teacher and of the PaDIR student, resumable from checkpoints.

    python -m padir_export.train --config export/configs/en-fr.json --stage teacher
    python -m padir_export.train --config export/configs/en-fr.json --stage student

Run it under nohup: it writes `<runs>/<stage>.ckpt` every `checkpoint_minutes` (and when stopped
with SIGTERM / Ctrl-C, then exiting with status 3) and continues from there when started again. The student starts from the teacher's final weights and trains on the
distilled targets (`distill.py`).
"""

from __future__ import annotations

import argparse
import math
import signal
import time

import numpy as np
import torch
import torch.nn.functional as F

from .config import EOS_ID, MASK_ID, NUM_SPECIAL, PAD_ID, ModelConfig
from .data import make_batches
from .hf import load_hf
from .pipeline import Pipeline

STOPPED_EXIT_CODE = 3  # stopped with a checkpoint before the last epoch; rerun to continue


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


def corrupt(labels: torch.Tensor, content: torch.Tensor, vocab: int, gen: torch.Generator):
    """PaDIR/CMLM corruption: per sentence a rate r~U(0,1); each content token is chosen with
    probability r, and a chosen token becomes <mask> 80%, a random token 10%, itself 10%."""
    b, t = labels.shape
    rate = torch.rand(b, 1, generator=gen)
    chosen = (torch.rand(b, t, generator=gen) < rate) & content
    r = torch.rand(b, t, generator=gen)
    rand_tok = torch.randint(NUM_SPECIAL, vocab, (b, t), generator=gen)
    out = labels.clone()
    out = torch.where(chosen & (r < 0.8), torch.full_like(out, MASK_ID), out)
    out = torch.where(chosen & (r >= 0.8) & (r < 0.9), rand_tok, out)
    return out


def batch_loss(model, corpus, idx, stage: str, tc: dict, gen: torch.Generator):
    cfg = model.cfg
    src_ids, src_mask = pad_batch([corpus.src(i) for i in idx])
    tgt = [corpus.tgt(i) for i in idx]
    labels, dec_mask = pad_batch([np.append(x, EOS_ID) for x in tgt])
    tgt_lens = torch.tensor([len(x) for x in tgt])
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
    content = (dec_mask == 1) & (labels != EOS_ID)
    dec_in = corrupt(labels, content, cfg.vocab_size, gen)
    target = labels.masked_fill(dec_mask == 0, -100)
    tok_loss = 0.0
    for _ in range(tc.get("unroll_stages", 1)):
        logits = model.lm_logits(model.decoder_hidden(dec_in, dec_mask, enc, src_mask))
        tok_loss = tok_loss + F.cross_entropy(
            logits.float().transpose(1, 2), target, label_smoothing=ls
        )
        dec_in = torch.where(content, logits.detach().argmax(-1), labels)
    return tok_loss, len_loss


def lr_at(step: int, tc: dict) -> float:
    warm = tc["warmup_steps"]
    return tc["lr"] * min((step + 1) / warm, math.sqrt(warm / (step + 1)))


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


def train(pipe: Pipeline, stage: str, max_minutes: float | None) -> bool:
    """Train `stage` to the end (True) or until stopped with a checkpoint (False)."""
    tc = pipe.cfg[stage]
    torch.manual_seed(tc.get("seed", 0))
    torch.set_num_threads(tc.get("threads", 2))
    model = pipe.new_model(causal=(stage == "teacher"))
    corpus = pipe.train_corpus(stage)
    dev = pipe.dev_corpus(stage)
    opt = torch.optim.AdamW(
        model.parameters(), lr=tc["lr"], betas=(0.9, 0.98), weight_decay=tc.get("weight_decay", 0.0)
    )
    ckpt_path = pipe.runs / f"{stage}.ckpt"
    state = {"epoch": 0, "batch": 0, "step": 0, "seconds": 0.0}
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        state = ck["state"]
        pipe.log(stage, f"resumed from {ckpt_path} at {state}")
    elif (init_dir := pipe.init_path(stage)) is not None:
        # Continue from a shipped model: its weights, a fresh optimizer and a new warm-up.
        # Hugging Face checkpoints carry no length head: that one starts fresh.
        init = load_hf(init_dir).state_dict()
        init = {k: v for k, v in init.items() if not k.startswith("length_head.")}
        missing, _ = model.load_state_dict(init, strict=False)
        pipe.log(stage, f"initialised from {init_dir}; fresh: {missing}")
    elif stage == "student":
        init = pipe.teacher_state_dict()
        missing, _ = model.load_state_dict(init, strict=False)
        pipe.log(stage, f"initialised from teacher; fresh: {missing}")
    gen = torch.Generator().manual_seed(tc.get("seed", 0) + state["step"])
    use_bf16 = tc.get("bf16", True)
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
    # machines where a whole epoch does not fit.
    max_steps = tc.get("max_steps")
    while state["epoch"] < tc["epochs"] and not done(state, max_steps):
        batches = make_batches(
            corpus, tc["batch_tokens"], tc["max_len"], seed=1000 + state["epoch"]
        )
        while state["batch"] < len(batches) and not done(state, max_steps):
            idx = batches[state["batch"]]
            for g in opt.param_groups:
                g["lr"] = lr_at(state["step"], tc)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
                tok_loss, len_loss = batch_loss(model, corpus, idx, stage, tc, gen)
            loss = tok_loss + tc.get("length_loss_weight", 1.0) * len_loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), tc.get("clip", 1.0))
            opt.step()
            state["step"] += 1
            state["batch"] += 1
            tokens_since += int(sum(len(corpus.tgt(i)) + 1 for i in idx))
            if state["step"] % 100 == 0:
                dt = time.time() - t_log
                pipe.log(
                    stage,
                    f"epoch {state['epoch']} batch {state['batch']}/{len(batches)} "
                    f"step {state['step']} tok_loss {tok_loss.item():.3f} "
                    f"len_loss {len_loss.item():.3f} lr {lr_at(state['step'], tc):.2e} "
                    f"tgt_tok/s {tokens_since / dt:.0f}",
                )
                t_log, tokens_since = time.time(), 0
            if time.time() - t_ckpt > 60 * tc.get("checkpoint_minutes", 15):
                save()
                pipe.log(
                    stage,
                    f"checkpoint step {state['step']} dev_loss {dev_loss(model, dev, stage, tc):.3f}",
                )
                t_ckpt = time.time()
            if stop["requested"] or (
                max_minutes is not None and time.time() - t_start > 60 * max_minutes
            ):
                save()
                pipe.log(stage, f"stopped at step {state['step']}; checkpoint written")
                return False
        if state["batch"] >= len(batches):
            state["epoch"] += 1
            state["batch"] = 0
        save()
        pipe.log(
            stage,
            f"epoch {state['epoch']} batch {state['batch']} step {state['step']}: "
            f"dev_loss {dev_loss(model, dev, stage, tc):.3f}",
        )
    pipe.save_final(stage, model)
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
    if not train(Pipeline(args.config), args.stage, args.max_minutes):
        # Not finished: a distinct status, so scripts chaining the stages stop here.
        raise SystemExit(STOPPED_EXIT_CODE)


if __name__ == "__main__":
    main()
