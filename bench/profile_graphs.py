"""Where the time of one decoder pass and one AR step goes, with ONNX Runtime's profiler.

    .venv/bin/python bench/profile_graphs.py --model onnx/en-fr --threads 1

Runs the shipped graphs the way the runtime does at batch 1 and prints, for each:
- one NAR decoder pass (22 positions, 20 source tokens) and one AR decoder step (20 tokens
  already decoded): mean wall time, the number of operators ONNX Runtime executes per run (after
  its graph optimisations and fusions), and the operator types that take the most time;
- peak resident memory of a process that loads the decoder and runs one wide pass (96 rows x 100
  positions), the size `translate` reaches with batch 32 and a length beam of 3.

To compare with an older model, extract it from git and point --model at it, e.g.
`git archive 77cae2b onnx/en-fr | tar -x -C /tmp/before`. Times are for comparison within
one run on one machine; absolute values move with the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnxruntime as ort

SRC_LEN, TGT_LEN, PAST_LEN = 20, 22, 20


def session(
    path: Path, threads: int, profile_dir: str | None = None
) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    # As the runtime's defaults: every graph optimisation, idle threads not spinning.
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if profile_dir is not None:
        so.enable_profiling = True
        so.profile_file_prefix = str(Path(profile_dir) / path.stem)
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def decoder_inputs(
    sess: ort.InferenceSession, rng, batch: int, src_len: int, tgt_len: int
):
    # Random encoder states stand in for a real sentence: the cost of a pass depends on shapes.
    d_model = next(i.shape[2] for i in sess.get_inputs() if i.name == "encoder_hidden")
    ids = np.full(
        (batch, tgt_len), 3, dtype=np.int64
    )  # [MASK] everywhere, as the first pass
    ids[:, -1] = 1  # </s> at the candidate length
    return {
        "decoder_input_ids": ids,
        "decoder_attention_mask": np.ones_like(ids),
        "encoder_hidden": rng.standard_normal((batch, src_len, d_model)).astype(
            np.float32
        ),
        "encoder_attention_mask": np.ones((batch, src_len), dtype=np.int64),
    }


def ar_step_inputs(model: Path, rng):
    ar = json.loads((model / "model.json").read_text())["ar"]

    def kv(length):
        shape = (ar["layers"], 1, ar["heads"], length, ar["head_dim"])
        return rng.standard_normal(shape).astype(np.float32)

    return {
        "input_ids": np.array([[42]], dtype=np.int64),
        "past_k": kv(PAST_LEN),
        "past_v": kv(PAST_LEN),
        "cross_k": kv(SRC_LEN),
        "cross_v": kv(SRC_LEN),
        "encoder_attention_mask": np.ones((1, SRC_LEN), dtype=np.int64),
    }


def profile(path: Path, make_inputs, threads: int, runs: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        sess = session(path, threads, tmp)
        feed = make_inputs(sess)
        for _ in range(20):  # warm-up: first runs allocate and pick kernels
            sess.run(None, feed)
        start = time.perf_counter()
        for _ in range(runs):
            sess.run(None, feed)
        wall_ms = (time.perf_counter() - start) / runs * 1e3
        events = json.loads(Path(sess.end_profiling()).read_text())
    per_op: dict[str, float] = defaultdict(float)
    nodes_per_run = defaultdict(int)
    model_runs = 0
    for ev in events:
        if ev.get("cat") == "Session" and ev.get("name") == "model_run":
            model_runs += 1
        if ev.get("cat") == "Node" and ev["name"].endswith("_kernel_time"):
            per_op[ev["args"]["op_name"]] += ev["dur"]
            nodes_per_run[model_runs] += 1
    total = sum(per_op.values())
    return {
        "wall_ms": wall_ms,
        "nodes": max(nodes_per_run.values()),
        "ops": sorted(
            ((op, us / model_runs / 1e3, us / total) for op, us in per_op.items()),
            key=lambda t: -t[1],
        ),
    }


def print_profile(title: str, p: dict, top: int) -> None:
    print(
        f"\n### {title}: {p['wall_ms']:.2f} ms per run, {p['nodes']} operators per run\n"
    )
    print("| operator | ms per run | share of kernel time |")
    print("|---|---:|---:|")
    for op, ms, share in p["ops"][:top]:
        print(f"| {op} | {ms:.3f} | {share:.0%} |")


def memory_mib(key: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process from /proc (Linux). Not ru_maxrss: a child
    process starts with its parent's maximum there."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def peak_rss_child(model: Path, threads: int) -> None:
    """In a fresh process: load the decoder, run one 96 x 100 pass, print peak RSS in MiB."""
    sess = session(model / "decoder.onnx", threads)
    inputs = decoder_inputs(sess, np.random.default_rng(0), 96, 100, 100)
    before = memory_mib("VmRSS")
    sess.run(None, inputs)
    print(json.dumps({"before_pass_mib": before, "peak_mib": memory_mib("VmHWM")}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=Path("onnx/en-fr"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--top", type=int, default=8, help="operator types to list")
    ap.add_argument("--rss-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        peak_rss_child(args.model, args.threads)
        return

    rng = np.random.default_rng(0)
    print(
        f"model {args.model}, {args.threads} thread(s), onnxruntime {ort.__version__}, "
        f"{args.runs} runs each after 20 warm-up runs"
    )
    nar = profile(
        args.model / "decoder.onnx",
        lambda sess: decoder_inputs(sess, rng, 1, SRC_LEN, TGT_LEN),
        args.threads,
        args.runs,
    )
    print_profile(f"NAR decoder pass, batch 1, {TGT_LEN} positions", nar, args.top)
    ar = profile(
        args.model / "ar_decoder.onnx",
        lambda sess: ar_step_inputs(args.model, rng),
        args.threads,
        args.runs,
    )
    print_profile(
        f"AR decoder step, batch 1, {PAST_LEN} cached positions", ar, args.top
    )

    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--rss-child",
            "--model",
            str(args.model),
            "--threads",
            str(args.threads),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rss = json.loads(out.strip().splitlines()[-1])
    print(
        f"\n### Peak RSS, one decoder pass of 96 x 100 positions: {rss['peak_mib']:.0f} MiB "
        f"({rss['before_pass_mib']:.0f} MiB before it)"
    )


if __name__ == "__main__":
    main()
