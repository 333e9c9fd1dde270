"""Time a few training steps of a config in fp32 and in bf16 autocast (the machine decides
which is faster: without AVX-512 bf16 is emulated and much slower).

    python -m padir_export.train_speed --config export/configs/en-fr.json --steps 3
"""

from __future__ import annotations

import argparse
import time

import torch

from .data import make_batches
from .pipeline import Pipeline
from .train import batch_loss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--stage", choices=["teacher", "student"], default="teacher")
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    pipe = Pipeline(args.config)
    tc = pipe.cfg[args.stage]
    torch.set_num_threads(tc.get("threads", 2))
    corpus = pipe.train_corpus("teacher")
    batches = make_batches(corpus, tc["batch_tokens"], tc["max_len"], seed=1)
    print(f"cpu capability: {torch.backends.cpu.get_cpu_capability()}")
    print("| precision | s/step | target tok/s |\n|---|---:|---:|")
    for bf16 in (False, True):
        model = pipe.new_model(causal=args.stage == "teacher").train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        gen = torch.Generator().manual_seed(0)
        tokens, start = 0, 0.0
        for j in range(args.steps + 1):  # step 0 is a warm-up
            if j == 1:
                start = time.perf_counter()
            idx = batches[j]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                tok_loss, len_loss = batch_loss(model, corpus, idx, args.stage, tc, gen)
            (tok_loss + len_loss).backward()
            opt.step()
            opt.zero_grad()
            if j >= 1:
                tokens += sum(len(corpus.tgt(i)) + 1 for i in idx)
        secs = time.perf_counter() - start
        name = "bf16 autocast" if bf16 else "fp32"
        print(f"| {name} | {secs / args.steps:.2f} | {tokens / secs:.0f} |", flush=True)


if __name__ == "__main__":
    main()
