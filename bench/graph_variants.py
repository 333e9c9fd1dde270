"""What the graph form and precision of the decoder graphs do to their speed (issue #14, lever 1).

    .venv/bin/python bench/graph_variants.py --config export/configs/en-fr.json

Exports a model of the config's shape (random weights: the cost of a pass depends on shapes,
not values) and builds each variant of its NAR decoder, AR decoder step and encoder:

- `fp32`: the graph as `padir_export` exports it (attention as ONNX's Attention operator; the
  AR decoder's as `model.rowwise_attention` in every variant since 2026-12-05);
- `fp32-plain`: attention exported as plain operators (`model.ONNX_ATTENTION = False`: head
  split and merge, MatMuls, bias, softmax), as before the Attention operator;
- `int8`: what `padir_export.quantize` ships: int8 weights, each activation row quantized with
  its own scale by one blocked QuantizeLinear;
- `int8-flat`: the same quantizer with the rows flattened to 2-D around a per-axis
  QuantizeLinear (`blocked=False`);
- `int8-plain-flat`: plain attention and the flattened quantizer: what padir shipped before both;
- `int8-tensor`: plain `quantize_dynamic`, one activation scale per tensor: fewer operators,
  but a sentence's output then depends on its batch-mates, which padir refuses;
- `int8-nbits`: weight-only int8, ONNX Runtime's `MatMulNBits` (8 bits, blocks of 64 along
  the input dimension, symmetric, accuracy level 4: the kernel quantizes activations itself);
  embeddings stay fp32;
- `int8-shortlist`: `int8` exported with a lexical shortlist input (lever 2): the decoders
  score `--shortlist` ids per sentence (random ones here) instead of the whole vocabulary;
- `int8-crosskv` (NAR decoder): `int8` taking every layer's cross-attention keys and values
  (`cross_k`, `cross_v` [L,B,H,S,Dh], as the AR decoder does) instead of `encoder_hidden`:
  the encoder would project them once per sentence, not the decoder once per pass (lever 2).

For each it prints the operators ONNX Runtime runs per call (after its own level-3
optimisations, from its profiler) and the median time of a call at batch 1 and batch 32, 1 and
2 intra-op threads (sessions set up as the runtime's: no spinning), plus the largest difference
of each variant's log-probabilities from `fp32`, how many argmax tokens differ, and whether a
row's outputs are the same alone as in the batch (padir's rule: batch-mates never change a
translation).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
from padir_export import model as padir_model
from padir_export.config import ModelConfig, load_json
from padir_export.model import PadirModel
from padir_export.onnx_export import (
    IR_VERSION,
    OPSET,
    NarDecoderGraph,
    best_tokens,
    export_graph,
)
from padir_export.quantize import fold_weight_transposes, quantize_graph
from profile_graphs import session  # the runtime's session settings
from torch.export import Dim

import onnx

SRC_LEN, TGT_LEN, PAST_LEN = 20, 22, 20
GRAPHS = ("decoder", "ar_decoder", "encoder")
VARIANTS = (
    "fp32",
    "fp32-plain",
    "int8",
    "int8-flat",
    "int8-plain-flat",
    "int8-tensor",
    "int8-nbits",
    "int8-shortlist",
    "int8-crosskv",
)
SHORTLIST_KINDS = ("decoder", "ar_decoder")


class CrossKvDecoder(NarDecoderGraph):
    """The NAR decoder over precomputed cross-attention keys and values."""

    def forward(
        self,
        decoder_input_ids,
        decoder_attention_mask,
        cross_k,
        cross_v,
        encoder_attention_mask,
    ):
        h = self.model.decoder_hidden(
            decoder_input_ids,
            decoder_attention_mask,
            None,
            encoder_attention_mask,
            cross=(cross_k, cross_v),
        )
        return best_tokens(self.model.lm_logits(h), self.bias, None)


def with_cross_kv(model: PadirModel, feed: dict) -> dict:
    """A NAR decoder feed with `encoder_hidden` turned into the keys and values it projects."""
    feed = dict(feed)
    with torch.no_grad():
        k, v = model.cross_kv(torch.from_numpy(feed.pop("encoder_hidden")))
    return {**feed, "cross_k": k.numpy(), "cross_v": v.numpy()}


def export_cross_kv(model: PadirModel, path: Path) -> None:
    b, s, t = Dim("batch"), Dim("src_len"), Dim("tgt_len")
    feed = inputs("decoder", model.cfg, 3, np.random.default_rng(0))
    cross = with_cross_kv(model, feed)
    # In the signature's order; 9 target positions, so that no dimension is shared with S.
    names = ["decoder_input_ids", "decoder_attention_mask", "cross_k", "cross_v"]
    feed = {k: torch.from_numpy(cross[k]) for k in [*names, "encoder_attention_mask"]}
    for k in names[:2]:
        feed[k] = feed[k][:, :9]
    with torch.no_grad():
        prog = torch.onnx.export(
            CrossKvDecoder(model).eval(),
            (),
            kwargs=feed,
            dynamo=True,
            opset_version=OPSET,
            dynamic_shapes={
                "decoder_input_ids": {0: b, 1: t},
                "decoder_attention_mask": {0: b, 1: t},
                "cross_k": {1: b, 3: s},
                "cross_v": {1: b, 3: s},
                "encoder_attention_mask": {0: b, 1: s},
            },
            output_names=["token_ids", "token_logprobs"],
            external_data=False,
            verbose=False,
        )
    proto = prog.model_proto
    proto.ir_version = IR_VERSION
    onnx.save(proto, str(path))


def weight_only_int8(src: Path, dst: Path) -> None:
    """Every MatMul with a constant weight as an 8-bit `MatMulNBits`."""
    model = onnx.load(src)
    # The tied output projection reads the embedding through a Transpose: as a constant, the
    # quantizer sees a weight there too.
    fold_weight_transposes(model)
    logging.getLogger("onnxruntime.quantization").setLevel(logging.WARNING)
    q = MatMulNBitsQuantizer(
        model, bits=8, block_size=64, is_symmetric=True, accuracy_level=4
    )
    q.process()
    onnx.save(q.model.model, dst)


def build(
    cfg: ModelConfig, out: Path
) -> tuple[dict[tuple[str, str], Path], PadirModel]:
    torch.manual_seed(0)
    student, teacher = (
        PadirModel(cfg, causal=False).eval(),
        PadirModel(cfg, causal=True).eval(),
    )
    paths = {}
    for kind in GRAPHS:
        model = teacher if kind.startswith("ar_") else student
        for name, attention_op in (("fp32", True), ("fp32-plain", False)):
            paths[kind, name] = out / f"{kind}.{name}.onnx"
            padir_model.ONNX_ATTENTION = attention_op
            try:
                export_graph(model, kind, paths[kind, name])
            finally:
                padir_model.ONNX_ATTENTION = True
        for name, src, activations in (
            ("int8", "fp32", "row"),
            ("int8-flat", "fp32", "row-flat"),
            ("int8-plain-flat", "fp32-plain", "row-flat"),
            ("int8-tensor", "fp32", "tensor"),
        ):
            paths[kind, name] = out / f"{kind}.{name}.onnx"
            quantize_graph(paths[kind, src], paths[kind, name], activations)
        paths[kind, "int8-nbits"] = out / f"{kind}.int8-nbits.onnx"
        weight_only_int8(paths[kind, "fp32"], paths[kind, "int8-nbits"])
        if kind in SHORTLIST_KINDS:
            fp32 = out / f"{kind}.fp32-shortlist.onnx"
            export_graph(model, kind, fp32, shortlist=True)
            paths[kind, "int8-shortlist"] = out / f"{kind}.int8-shortlist.onnx"
            quantize_graph(fp32, paths[kind, "int8-shortlist"])
        if kind == "decoder":
            export_cross_kv(student, out / "decoder.fp32-crosskv.onnx")
            paths[kind, "int8-crosskv"] = out / "decoder.int8-crosskv.onnx"
            quantize_graph(
                out / "decoder.fp32-crosskv.onnx", paths[kind, "int8-crosskv"]
            )
    return paths, student


def feed_for(variant: str, feed: dict, student: PadirModel, shortlist: int) -> dict:
    """The variant's inputs: a shortlist variant also takes each row's ids, the cross-KV one
    the keys and values of the student's projections instead of the encoder's output."""
    vocab_size = student.cfg.vocab_size
    if variant == "int8-crosskv":
        return with_cross_kv(student, feed)
    if variant != "int8-shortlist":
        return feed
    batch = len(feed["encoder_attention_mask"])
    rng = np.random.default_rng(7)
    rows = [
        np.sort(rng.choice(vocab_size, shortlist, replace=False)) for _ in range(batch)
    ]
    return {**feed, "vocab": np.stack(rows).astype(np.int64)}


def first_row(a: np.ndarray) -> np.ndarray:
    """The batch's first sentence (the caches, [layers, batch, ...], have it second)."""
    return a[:, :1] if a.ndim == 5 else a[:1]


def inputs(kind: str, cfg: ModelConfig, batch: int, rng) -> dict[str, np.ndarray]:
    if kind == "encoder":
        ids = rng.integers(4, cfg.vocab_size, (batch, SRC_LEN))
        return {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    if kind == "decoder":
        ids = rng.integers(4, cfg.vocab_size, (batch, TGT_LEN))
        ids[:, -1] = 1
        return {
            "decoder_input_ids": ids,
            "decoder_attention_mask": np.ones_like(ids),
            "encoder_hidden": rng.standard_normal(
                (batch, SRC_LEN, cfg.d_model), np.float32
            ),
            "encoder_attention_mask": np.ones((batch, SRC_LEN), dtype=np.int64),
        }

    def kv(length):
        shape = (cfg.decoder_layers, batch, cfg.num_heads, length, cfg.head_dim)
        return rng.standard_normal(shape, np.float32)

    return {
        "input_ids": rng.integers(4, cfg.vocab_size, (batch, 1)),
        "past_k": kv(PAST_LEN),
        "past_v": kv(PAST_LEN),
        "cross_k": kv(SRC_LEN),
        "cross_v": kv(SRC_LEN),
        "encoder_attention_mask": np.ones((batch, SRC_LEN), dtype=np.int64),
    }


def operators(path: Path, feed: dict) -> tuple[int, list[tuple[str, int]]]:
    """Operators per call after ONNX Runtime's optimisations, and the count per type."""
    with tempfile.TemporaryDirectory() as tmp:
        sess = session(path, 1, tmp)
        sess.run(None, feed)
        events = json.loads(Path(sess.end_profiling()).read_text())
    per_type: dict[str, int] = defaultdict(int)
    for ev in events:
        if ev.get("cat") == "Node" and ev["name"].endswith("_kernel_time"):
            per_type[ev["args"]["op_name"]] += 1
    return sum(per_type.values()), sorted(per_type.items(), key=lambda t: -t[1])


def wall_ms(
    paths: list[Path], feeds: list[dict], threads: int, seconds: float
) -> list[float]:
    """Per graph, the median over rounds of the mean call time. The graphs take turns, round
    after round (a round ~0.05 s each), so that drifts of this shared machine's speed fall on
    all of them alike."""
    sessions = [session(p, threads) for p in paths]
    calls = []
    for sess, feed in zip(sessions, feeds):
        for _ in range(10):
            sess.run(None, feed)
        t0 = time.perf_counter()
        sess.run(None, feed)
        calls.append(max(1, int(0.05 / max(time.perf_counter() - t0, 1e-5))))
    rounds: list[list[float]] = [[] for _ in sessions]
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(rounds[0]) < 5:
        for sess, feed, n, times in zip(sessions, feeds, calls, rounds):
            t0 = time.perf_counter()
            for _ in range(n):
                sess.run(None, feed)
            times.append((time.perf_counter() - t0) / n * 1e3)
    return [float(np.median(t)) for t in rounds]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument("--config", type=Path, default=Path("export/configs/en-fr.json"))
    ap.add_argument("--graphs", nargs="+", default=list(GRAPHS), choices=GRAPHS)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--seconds", type=float, default=1.5, help="timing per measurement")
    ap.add_argument(
        "--shortlist", type=int, default=700, help="ids per sentence, int8-shortlist"
    )
    args = ap.parse_args()
    cfg = ModelConfig.from_dict({**load_json(args.config)["model"], "dropout": 0.0})
    print(
        f"config {args.config} (d_model {cfg.d_model}, {cfg.encoder_layers}+{cfg.decoder_layers} "
        f"layers, vocabulary {cfg.vocab_size}), random weights; onnxruntime {ort.__version__}; "
        f"source {SRC_LEN}, target {TGT_LEN}, past {PAST_LEN} positions"
    )
    with tempfile.TemporaryDirectory() as tmp:
        paths, student = build(cfg, Path(tmp))
        cols = [f"b={b} t={t}" for b in args.batches for t in args.threads]
        for kind in args.graphs:
            print(f"\n### {kind}\n")
            print(
                "| variant | operators | "
                + " | ".join(f"ms {c}" for c in cols)
                + " | max logprob diff | tokens differing | row alone = in batch |"
            )
            print("|---|---:|" + "---:|" * len(cols) + "---:|---:|---|")
            rng = np.random.default_rng(1)
            feeds = {b: inputs(kind, cfg, b, rng) for b in args.batches}
            ref = session(paths[kind, "fp32"], 1).run(None, feeds[max(args.batches)])
            names = [v for v in args.variants if (kind, v) in paths]

            own_feeds = {
                v: {
                    b: feed_for(v, f, student, args.shortlist) for b, f in feeds.items()
                }
                for v in names
            }
            # times[b, t][i]: variant i at batch b, t threads
            times = {
                (b, t): wall_ms(
                    [paths[kind, v] for v in names],
                    [own_feeds[v][b] for v in names],
                    t,
                    args.seconds * len(names),
                )
                for b in args.batches
                for t in args.threads
            }
            for i, variant in enumerate(names):
                path, own = paths[kind, variant], own_feeds[variant]
                n_ops, _ = operators(path, own[1])
                sess = session(path, 1)
                out = sess.run(None, own[max(args.batches)])
                feed1 = {k: first_row(v) for k, v in own[max(args.batches)].items()}
                alone = sess.run(None, feed1)
                same = all(np.array_equal(a, first_row(o)) for a, o in zip(alone, out))
                if (
                    variant == "int8-shortlist"
                ):  # other ids, normalised over the shortlist
                    diff, differing = float("nan"), "-"
                elif kind == "encoder":
                    diff, differing = float(np.abs(out[0] - ref[0]).max()), "-"
                else:
                    diff = float(np.abs(out[1] - ref[1]).max())
                    differing = f"{int((out[0] != ref[0]).sum())} of {ref[0].size}"
                print(
                    f"| {variant} | {n_ops} | "
                    + " | ".join(
                        f"{times[b, t][i]:.2f}"
                        for b in args.batches
                        for t in args.threads
                    )
                    + f" | {diff:.1e} | {differing} | {'yes' if same else 'no'} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
