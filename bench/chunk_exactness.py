"""Does an AR decoder graph give a chunk's positions the bits of single steps? (issue #14, verify)

    .venv/bin/python bench/chunk_exactness.py --model onnx/en-fr \
        --graphs OLD/ar_decoder.onnx onnx/en-fr/ar_decoder.onnx \
        --input ../shared/data/dev.en-fr.tsv --limit 100 [--locate]

Draft-and-verify is exactly greedy AR only if the AR decoder computes position t of a chunk
pass bit for bit as the single step at t does. For each graph and each source line this decodes
greedily one position per call (the model directory's `ar_encoder` gives the cross-attention),
then runs the whole output again as one chunk from an empty cache, and counts the positions
whose log-probabilities are the same bits, the largest difference and the argmax tokens that
differ. It also times a call at batch 1, one thread: a step after 20 cached positions and a
chunk of 20, over 20 source positions (random inputs; the median of 15 rounds of 50 calls).

`--locate` names, for the first graph, the operator (after ONNX Runtime's own optimisations)
where each step first differs from its row of the chunk pass, counted over the lines: how the
row-wise attention of `padir_export.model.rowwise_attention` was found.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

import onnx

MAX_STEPS = 100


def session(path: Path | str, optimize: bool = True) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


class Teacher:
    """The model directory's AR encoder and tokenizer, with one AR decoder graph."""

    def __init__(self, model: Path, decoder: ort.InferenceSession):
        m = json.loads((model / "model.json").read_text(encoding="utf-8"))
        a = m["ar"]
        self.empty = np.zeros(
            (a["layers"], 1, a["heads"], 0, a["head_dim"]), np.float32
        )
        self.encoder = session(model / m["graphs"]["ar_encoder"]["file"])
        self.tokenizer = Tokenizer.from_file(str(model / m["tokenizer"]["file"]))
        self.eos = m["special_tokens"]["eos"]
        self.decoder = decoder
        self.outputs = [o.name for o in decoder.get_outputs()]

    def source(self, text: str) -> dict:
        ids = np.array([self.tokenizer.encode(text).ids], np.int64)
        mask = np.ones_like(ids)
        ck, cv = self.encoder.run(None, {"input_ids": ids, "attention_mask": mask})
        return {"cross_k": ck, "cross_v": cv, "encoder_attention_mask": mask}

    def call(self, src: dict, tokens: list[int], past: tuple) -> dict:
        feed = {
            "input_ids": np.array([tokens], np.int64),
            "past_k": past[0],
            "past_v": past[1],
        }
        return dict(zip(self.outputs, self.decoder.run(None, {**feed, **src})))

    def steps_then_chunk(self, src: dict) -> tuple[list[dict], dict, list[int]]:
        """Greedy outputs one position per call, then one call over the same inputs."""
        past, token, steps, out = (self.empty, self.empty), 0, [], []
        for _ in range(MAX_STEPS):
            r = self.call(src, [token], past)
            steps.append(r)
            past = (r["present_k"], r["present_v"])
            token = int(r["token_ids"][0, 0])
            out.append(token)
            if token == self.eos:
                break
        chunk = self.call(src, [0] + out[:-1], (self.empty, self.empty))
        return steps, chunk, out


def exactness(teacher: Teacher, lines: list[str]) -> str:
    same = total = tokens_differ = lines_differ = 0
    worst = 0.0
    for text in lines:
        steps, chunk, out = teacher.steps_then_chunk(teacher.source(text))
        a = np.array([s["token_logprobs"][0, 0] for s in steps], np.float32)
        b = chunk["token_logprobs"][0]
        same += int((a.view(np.int32) == b.view(np.int32)).sum())
        total += len(a)
        worst = max(worst, float(np.abs(a - b).max()))
        n = int((chunk["token_ids"][0] != np.array(out)).sum())
        tokens_differ += n
        lines_differ += n > 0
    return (
        f"{same / total:.1%} of {total} positions | {worst:.1e} | "
        f"{tokens_differ} in {lines_differ} of {len(lines)} lines"
    )


def timing(path: Path, teacher: Teacher) -> str:
    a = teacher.empty.shape
    rng = np.random.default_rng(0)
    kv = lambda n: rng.standard_normal((a[0], 1, a[2], n, a[4])).astype(np.float32)
    src = {
        "cross_k": kv(20),
        "cross_v": kv(20),
        "encoder_attention_mask": np.ones((1, 20), np.int64),
    }
    sess = session(path)
    feeds = [
        {
            "input_ids": np.full((1, n), 5, np.int64),
            "past_k": kv(p),
            "past_v": kv(p),
            **src,
        }
        for n, p in ((1, 20), (20, 0))
    ]
    ms = [[], []]
    for _ in range(15):
        for j, feed in enumerate(feeds):
            t0 = time.perf_counter()
            for _ in range(50):
                sess.run(None, feed)
            ms[j].append((time.perf_counter() - t0) / 50 * 1e3)
    return " | ".join(f"{statistics.median(m):.3f}" for m in ms)


def locate(model: Path, graph: Path, lines: list[str]) -> Counter:
    """First differing operator of each step, in the graph ONNX Runtime actually runs."""
    with tempfile.TemporaryDirectory() as tmp:
        optimized, probed = Path(tmp) / "optimized.onnx", Path(tmp) / "probed.onnx"
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.log_severity_level = 3
        so.optimized_model_filepath = str(optimized)
        ort.InferenceSession(str(graph), so, providers=["CPUExecutionProvider"])
        m = onnx.load(optimized)
        producers = {o: n for n in m.graph.node for o in n.output if o}
        for name in producers:
            if name not in {o.name for o in m.graph.output}:
                m.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
        onnx.save(m, probed)
        teacher = Teacher(model, session(probed, optimize=False))
        found = Counter()
        for text in lines:
            steps, chunk, _ = teacher.steps_then_chunk(teacher.source(text))
            for t, step in enumerate(steps):
                for name, node in producers.items():
                    row = step_row(step[name], chunk[name], t, len(steps))
                    if row is not None and not np.array_equal(step[name], row):
                        found[f"{node.op_type} {node.name}"] += 1
                        break
        return found


def step_row(step: np.ndarray, chunk: np.ndarray, t: int, n: int) -> np.ndarray | None:
    """Step t's part of a chunk tensor: the axis of n positions at t, a key axis up to the
    step's length; None for tensors that are not per position (shapes, integers)."""
    if step.dtype.kind != "f" or step.ndim == 0 or step.ndim != chunk.ndim:
        return None
    index = []
    for s, c in zip(step.shape, chunk.shape):
        index.append(
            slice(None)
            if s == c
            else slice(t, t + 1)
            if s == 1 and c == n
            else slice(s)
        )
    row = chunk[tuple(index)]
    return row if row.shape == step.shape else None


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument(
        "--model", required=True, type=Path, help="directory with ar_encoder"
    )
    ap.add_argument(
        "--graphs", nargs="+", required=True, type=Path, help="AR decoder graphs"
    )
    ap.add_argument(
        "--input", required=True, type=Path, help="source[TAB reference] lines"
    )
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--locate", action="store_true")
    args = ap.parse_args()
    text = args.input.read_text(encoding="utf-8").splitlines()[: args.limit]
    lines = [line.split("\t")[0] for line in text]
    print(f"{args.input.name}, first {len(lines)} lines, batch 1, one thread")
    print(
        "| graph | log-probs equal bit for bit | max diff | argmax differs | ms step | ms chunk |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for graph in args.graphs:
        teacher = Teacher(args.model, session(graph))
        print(f"| {graph} | {exactness(teacher, lines)} | {timing(graph, teacher)} |")
    if args.locate:
        for op, count in locate(args.model, args.graphs[0], lines).most_common():
            print(f"{count} steps first differ at {op}")


if __name__ == "__main__":
    main()
