"""Dynamic int8 quantization of a model directory (weights int8 in 7 bits, activations quantized
on the fly, one scale per token), graph by graph, with a new manifest.

    python -m padir_export.quantize --model onnx/en-fr-fp32 --out onnx/en-fr
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic

from .export_model import sha256


def fold_weight_transposes(model: onnx.ModelProto) -> None:
    """Replace every Transpose of an initializer by a transposed copy of it.

    The tied output projection reads the embedding table through a Transpose. Left in place,
    the quantizer sees a MatMul whose weight is computed, not constant: it quantizes only the
    Gather side, and every decoder pass then dequantizes and repacks the whole vocab x d_model
    table (half of a batch-1 pass on the demo model). As its own constant the projection is an
    int8 MatMul with prepacked weights, at the cost of a second copy of the table per graph.
    """
    weights = {init.name: init for init in model.graph.initializer}
    kept = []
    for node in model.graph.node:
        if node.op_type == "Transpose" and node.input[0] in weights:
            w = numpy_helper.to_array(weights[node.input[0]])
            perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
            t = np.ascontiguousarray(np.transpose(w, perm))
            model.graph.initializer.append(numpy_helper.from_array(t, node.output[0]))
        else:
            kept.append(node)
    del model.graph.node[:]
    model.graph.node.extend(kept)


def quantize_activations_per_row(model: onnx.ModelProto, blocked: bool = True) -> int:
    """Quantize each activation row (token) with its own scale instead of one per tensor.

    `quantize_dynamic` inserts DynamicQuantizeLinear, which takes one scale for the whole
    [batch, positions, features] tensor: a sentence's output then depends on the other
    sentences and the padding of its batch (on the round-3 demo model, 129 of 200 test
    sentences translated differently at batch 1 and batch 32). Each DynamicQuantizeLinear is
    replaced by a symmetric per-row quantizer with the same three outputs (uint8 values, scale,
    zero point 128): the scale becomes [..., 1] and broadcasts through the quantizer's
    `scale_a * scale_w` products unchanged. This is what CTranslate2's int8 GEMM does.

    The quantizing itself (divide, round, shift, saturate) is one QuantizeLinear over the
    tensor, with one block per row (opset 21's `block_size` = the feature count), so that the
    scale [..., 1] is used as it is; opset 20's per-axis form needed the rows flattened to 2-D
    and back (12 operators per quantizer instead of 7: `blocked=False`, kept for the
    measurement in docs/BENCHMARKS.md). Returns the number of quantizers replaced.
    """
    g = model.graph
    consts = {
        "rowq_axes": np.array([-1], np.int64),
        "rowq_tiny": np.array(1e-12, np.float32),
        "rowq_127": np.array(127.0, np.float32),
        "rowq_zero_point": np.array(128, np.uint8),
    }
    if not blocked:
        consts["rowq_flat"] = np.array([-1], np.int64)
    features = feature_sizes(model) if blocked else {}
    nodes, replaced = [], 0
    for n in g.node:
        if n.op_type != "DynamicQuantizeLinear":
            nodes.append(n)
            continue
        x, (q, scale, zero_point), p = n.input[0], n.output, n.output[0] + "_row"
        nodes += [
            helper.make_node("Abs", [x], [p + "_abs"]),
            helper.make_node("ReduceMax", [p + "_abs", "rowq_axes"], [p + "_absmax"], keepdims=1),
            # An all-zero row (padding) keeps a positive scale: its values quantize to 0.
            helper.make_node("Max", [p + "_absmax", "rowq_tiny"], [p + "_range"]),
            helper.make_node("Div", [p + "_range", "rowq_127"], [scale]),
        ]
        if blocked:
            # |x / scale| <= 127, so round(x / scale) + 128 lies in [1, 255]
            nodes += [
                helper.make_node("Shape", [scale], [p + "_scale_shape"]),
                helper.make_node("Expand", ["rowq_zero_point", p + "_scale_shape"], [p + "_zp"]),
                helper.make_node(
                    "QuantizeLinear",
                    [x, scale, p + "_zp"],
                    [q],
                    axis=-1,
                    block_size=features[x],
                ),
            ]
        else:
            nodes += [
                # [..., features] -> [rows, features], with a [rows] scale and zero point
                helper.make_node("Flatten", [x], [p + "_x2d"], axis=-1),
                helper.make_node("Reshape", [scale, "rowq_flat"], [p + "_scale1d"]),
                helper.make_node("Shape", [p + "_scale1d"], [p + "_rows"]),
                helper.make_node("Expand", ["rowq_zero_point", p + "_rows"], [p + "_zp1d"]),
                helper.make_node(
                    "QuantizeLinear",
                    [p + "_x2d", p + "_scale1d", p + "_zp1d"],
                    [p + "_q2d"],
                    axis=0,
                ),
                helper.make_node("Shape", [x], [p + "_shape"]),
                helper.make_node("Reshape", [p + "_q2d", p + "_shape"], [q]),
            ]
        nodes.append(helper.make_node("Identity", ["rowq_zero_point"], [zero_point]))
        replaced += 1
    if replaced:
        g.initializer.extend(numpy_helper.from_array(v, k) for k, v in consts.items())
        del g.node[:]
        g.node.extend(nodes)
        if blocked:
            for opset in model.opset_import:
                if opset.domain in ("", "ai.onnx"):
                    opset.version = max(opset.version, 21)
    return replaced


def feature_sizes(model: onnx.ModelProto) -> dict[str, int]:
    """The last dimension of every input of a DynamicQuantizeLinear: each is the activation
    side of an int8 MatMul, whose weight [features, out] fixes it."""
    weights = {i.name: i for i in model.graph.initializer}
    quantized = {
        n.output[0]: n.input[0] for n in model.graph.node if n.op_type == "DynamicQuantizeLinear"
    }
    sizes = {}
    for n in model.graph.node:
        if n.op_type in ("MatMulInteger", "MatMulIntegerToFloat") and n.input[0] in quantized:
            w = weights[n.input[1]]
            sizes[quantized[n.input[0]]] = int(w.dims[0])
    missing = set(quantized.values()) - set(sizes)
    if missing:
        raise ValueError(f"activations of unknown width before int8 MatMuls: {sorted(missing)}")
    return sizes


def quantize_graph(src: Path, dst: Path, activations: str = "row") -> None:
    """Quantize one graph: int8 weights (MatMul, and the embedding tables behind Gather: each
    graph carries its own copy of the vocab x d_model embedding, which in fp32 alone would put
    the demo model over its size budget), activations quantized on the fly per row (`"row"`,
    shipped); `"row-flat"` (the flattened per-row quantizer) and `"tensor"` (quantize_dynamic's
    one scale per tensor) are there for bench/graph_variants.py's measurements.

    Weights take 7 bits (|w| <= 64, `reduce_range`): on x86-64 without VNNI (AVX2, AVX-512
    without VNNI) ONNX Runtime's u8 x s8 kernel adds each pair of products in 16 bits with
    saturation, and full-range weights overflow it (2 x 255 x 127 > 32,767), so the same model
    computed other integers there than on a CPU with VNNI; 2 x 255 x 64 fits. Measured on the
    en-fr model at no cost in BLEU (docs/design.md, "int8 kernels differ by CPU")."""
    # The exporter's intermediate shape annotations trip the quantizer's shape inference;
    # drop them (ONNX Runtime infers shapes itself) before quantizing.
    model = onnx.load(src)
    del model.graph.value_info[:]
    fold_weight_transposes(model)
    with tempfile.TemporaryDirectory() as tmp:
        plain, quantized = Path(tmp) / "plain.onnx", Path(tmp) / "quantized.onnx"
        onnx.save(model, plain)
        quantize_dynamic(
            plain,
            quantized,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Gather"],
            reduce_range=True,
        )
        model = onnx.load(quantized)
    if activations != "tensor":
        quantize_activations_per_row(model, blocked=activations == "row")
    onnx.save(model, dst)


def quantize_dir(src: Path, out: Path) -> dict:
    manifest = json.loads((src / "model.json").read_text(encoding="utf-8"))
    out.mkdir(parents=True, exist_ok=True)
    for entry in manifest["graphs"].values():
        target = out / entry["file"]
        quantize_graph(src / entry["file"], target)
        entry["sha256"] = sha256(target)
    for entry in (manifest["tokenizer"], manifest.get("shortlist")):
        if entry is not None:
            shutil.copy(src / entry["file"], out / entry["file"])
    manifest["precision"] = "int8"
    (out / "model.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    quantize_dir(args.model, args.out)
    size = sum(p.stat().st_size for p in args.out.iterdir() if p.is_file())
    print(f"wrote {args.out} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
