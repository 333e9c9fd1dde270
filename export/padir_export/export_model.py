"""Export a trained run to a model directory the runtime loads: graphs, tokenizer, model.json.

    python -m padir_export.export_model --config export/configs/tiny.json --out onnx/tiny

Every graph is checked against PyTorch (fp32, max abs diff <= 1e-4 at several shapes) before
the manifest is written; a failed check stops the export.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from .config import EOS_ID, MASK_ID, PAD_ID, UNK_ID, ModelConfig
from .model import PadirModel
from .onnx_export import GRAPHS, example_inputs, export_graph, torch_outputs
from .pipeline import Pipeline
from .shortlist import learn_for_export

FORMAT_VERSION = 1
SHORTLIST_FILE = "shortlist.bin"
PARITY_TOLERANCE = 1e-4
PARITY_SHAPES = [(1, 1, 1, 0), (2, 5, 3, 1), (3, 13, 21, 7)]  # batch, src, tgt, past


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def parity(model: PadirModel, kind: str, path: Path, shortlist: bool = False) -> float:
    """Largest |ONNX - PyTorch| over all float outputs and shapes; integer outputs must match."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for i, (b, s, t, p) in enumerate(PARITY_SHAPES):
        width = min(model.cfg.vocab_size, 5 + 40 * i) if shortlist else 0
        inputs = example_inputs(model, kind, b, s, t, past=p, seed=100 + i, shortlist=width)
        ref = torch_outputs(model, kind, inputs)
        got = sess.run(None, {k: v.numpy() for k, v in inputs.items()})
        for name, r, g in zip(GRAPHS[kind][1], ref, got):
            if r.shape != g.shape:
                raise AssertionError(f"{kind}.{name}: shape {g.shape} != torch {r.shape}")
            if np.issubdtype(r.dtype, np.integer):
                # argmax outputs: equal except where torch's own top-2 is a near-tie
                if (r != g).mean() > 0.01:
                    raise AssertionError(f"{kind}.{name}: {(r != g).sum()} ids differ")
            elif r.size:
                worst = max(worst, float(np.abs(r.astype(np.float64) - g).max()))
    return worst


def load_checkpoint(pipe: Pipeline, stage: str) -> PadirModel:
    """The weights of a stage still training (`<runs>/<stage>.ckpt`), to measure them."""
    ck = torch.load(pipe.runs / f"{stage}.ckpt", weights_only=False)
    model = PadirModel(ModelConfig.from_dict(ck["model_config"]), causal=(stage == "teacher"))
    model.load_state_dict(ck["model"])
    print(f"{stage}: checkpoint at step {ck['state']['step']}")
    return model.eval()


def export_run(
    pipe: Pipeline, out: Path, with_ar: bool = True, student_checkpoint: bool = False
) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    student = load_checkpoint(pipe, "student") if student_checkpoint else pipe.load_final("student")
    teacher = pipe.load_final("teacher") if with_ar else None
    graphs = {}
    # With a `shortlist` section, the NAR decoder scores only each sentence's shortlist (the AR
    # graphs do not: one position per call gains nothing, docs/BENCHMARKS.md).
    shortlist = "shortlist" in pipe.cfg
    if shortlist:
        learn_for_export(pipe).save(out / SHORTLIST_FILE)
    for kind in GRAPHS:
        model = teacher if kind.startswith("ar_") else student
        if model is None:
            continue
        path = out / f"{kind}.onnx"
        with_list = shortlist and kind == "decoder"
        export_graph(model, kind, path, shortlist=with_list)
        diff = parity(model, kind, path, shortlist=with_list)
        print(f"{kind}: max |onnx - torch| = {diff:.2e}")
        if diff > PARITY_TOLERANCE:
            raise SystemExit(f"parity check failed for {kind}: {diff:.2e} > {PARITY_TOLERANCE}")
        graphs[kind] = path
    pipe.tokenizer()  # makes the run's copy where it has none yet (trained on another machine)
    shutil.copy(pipe.tokenizer_path, out / "tokenizer.json")
    manifest = write_manifest(pipe, out, graphs, precision="fp32")
    return manifest


def write_manifest(pipe: Pipeline, out: Path, graphs: dict[str, Path], precision: str) -> dict:
    c = pipe.model_cfg
    d = pipe.cfg["decode"]
    manifest = {
        "format_version": FORMAT_VERSION,
        "name": pipe.name,
        "source_language": pipe.cfg["src_lang"],
        "target_language": pipe.cfg["tgt_lang"],
        "precision": precision,
        "vocab_size": c.vocab_size,
        "special_tokens": {"pad": PAD_ID, "eos": EOS_ID, "unk": UNK_ID, "mask": MASK_ID},
        "max_source_len": c.max_source_len,
        "max_target_len": c.max_target_len,
        "length_predictor": {
            "kind": "offset",
            "min_offset": -c.max_length_offset,
            "num_classes": c.num_length_classes,
        },
        "decode": {
            "iterations": d["iterations"],
            "length_beam": d["length_beam"],
            "top_lengths": d["top_lengths"],
            "init": d["init"],
            "acceptance": d["acceptance"],
            "remask_stutter": d["remask_stutter"],
            "seed": d.get("seed", 0),
            "prune_after": d.get("prune_after", 0),
        },
        "tokenizer": {"file": "tokenizer.json", "sha256": sha256(out / "tokenizer.json")},
        "graphs": {k: {"file": p.name, "sha256": sha256(p)} for k, p in graphs.items()},
    }
    if "ar_decoder" in graphs:
        manifest["ar"] = {"layers": c.decoder_layers, "heads": c.num_heads, "head_dim": c.head_dim}
    if (out / SHORTLIST_FILE).exists() and "shortlist" in pipe.cfg:
        manifest["shortlist"] = {"file": SHORTLIST_FILE, "sha256": sha256(out / SHORTLIST_FILE)}
    (out / "model.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--no-ar", action="store_true", help="leave out the AR teacher graphs")
    ap.add_argument(
        "--student-checkpoint",
        action="store_true",
        help="the student's latest checkpoint, not its final weights (to measure a run)",
    )
    args = ap.parse_args()
    export_run(
        Pipeline(args.config),
        args.out,
        with_ar=not args.no_ar,
        student_checkpoint=args.student_checkpoint,
    )


if __name__ == "__main__":
    main()
