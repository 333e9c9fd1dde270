"""The int8 arithmetic of an x86-64 CPU without VNNI (AVX2, or AVX-512 without VNNI), emulated
on any machine: what do such CPUs make of an int8 model?

    .venv/bin/python bench/avx2_int8.py --model onnx/en-fr --out /tmp/en-fr-emulated
    target/release/padir translate --model /tmp/en-fr-emulated/avx2 --batch-size 8 --json ...
    .venv/bin/python bench/avx2_int8.py --model DIR --out /tmp/emulated --golden DIR/golden.json

ONNX Runtime's u8 x s8 kernels there multiply with `vpmaddubsw`, which adds each pair of
adjacent products (k, k+1) in 16 bits with signed saturation before `vpmaddwd` sums the pairs
exactly; with VNNI, `vpdpbusds` sums in 32 bits and never gets near saturating. With
full-range int8 weights (|w| <= 127) and activations up to 255 a pair can reach 2 x 255 x 127
= 64,770 and is clipped to 32,767; with 7-bit weights (|w| <= 64, `quantize.py`) it stays
under 32,640.

`--out DIR` writes two copies of the model directory in which every `MatMulInteger` is
replaced by plain integer operators: `DIR/avx2` computes the saturated pair sums (then the
zero-point terms, exactly), `DIR/exact` the same without saturation. Compare the two, not a
copy with the model as is: ONNX Runtime fuses a `MatMulInteger` with its scaling into one
kernel (`MatMulIntegerToFloat`: 30 in the en-fr decoder) whose float rounding the copies do
not share, and int8 requantization carries a last-bit difference on to other tokens. The
runtime and the reference decoder run the copies like any model, slowly (the pair products
are materialized, a column chunk at a time); batch 8 keeps memory to a few GB. `--golden`
replays a golden file's PaDIR settings through the reference decoder on the model as is and
on both copies, and counts the outputs that differ from the goldens: goldens written on a
CPU without VNNI check the emulation itself.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
from padir_export.export_model import sha256
from padir_export.reference import ReferenceTranslator

import onnx
from onnx import TensorProto, helper, numpy_helper

# Output columns per block of pair products: [rows, K/2, CHUNK] int32 values at a time.
CHUNK = 32


def emulate_matmul_integer(
    node, weights: np.ndarray, b_zero: np.ndarray, nodes, inits, saturate: bool
) -> None:
    """Append the operators that compute `node` (MatMulInteger with a constant int8 weight
    [K, N]) as the kernel without VNNI does: the sum over pairs of clip(a[2i] w[2i] + a[2i+1]
    w[2i+1], int16), minus a_zero x column sums and b_zero x row sums, plus K a_zero b_zero.
    `saturate=False` leaves the clip out: the exact integers, through the same operators."""
    a, a_zero = node.input[0], node.input[2] if len(node.input) > 2 else ""
    p = node.output[0] + "_avx2"
    w = weights.astype(np.int32)
    k = w.shape[0]
    if k % 2:
        raise ValueError(f"{node.name}: odd K ({k}) is not emulated")

    def const(name: str, value) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), p + name))
        return p + name

    def op(kind: str, inputs: list[str], name: str, **attrs) -> str:
        nodes.append(helper.make_node(kind, inputs, [p + name], **attrs))
        return p + name

    a32 = op("Cast", [a], "_a", to=TensorProto.INT32)
    last, ends = const("_last", np.array([-1], np.int64)), const("_k", np.array([k]))
    step = const("_step", np.array([2], np.int64))
    even = op("Slice", [a32, const("_0", np.array([0])), ends, last, step], "_even")
    odd = op("Slice", [a32, const("_1", np.array([1])), ends, last, step], "_odd")
    even = op("Unsqueeze", [even, last], "_even1")  # [..., K/2, 1]
    odd = op("Unsqueeze", [odd, last], "_odd1")
    lo, hi = const("_lo", np.int32(-32768)), const("_hi", np.int32(32767))
    pair_axis = const("_pair_axis", np.array([-2], np.int64))
    blocks = []
    for c in range(0, w.shape[1], CHUNK):
        we = const(f"_we{c}", w[0::2, c : c + CHUNK])
        wo = const(f"_wo{c}", w[1::2, c : c + CHUNK])
        products_even = op("Mul", [even, we], f"_pe{c}")
        products_odd = op("Mul", [odd, wo], f"_po{c}")
        pairs = op("Add", [products_even, products_odd], f"_p{c}")
        if saturate:
            pairs = op("Clip", [pairs, lo, hi], f"_sat{c}")
        blocks.append(op("ReduceSum", [pairs, pair_axis], f"_sum{c}", keepdims=0))
    out = op("Concat", blocks, "_raw", axis=-1)
    # The zero points, exactly: sum (a - az)(w - bz) = raw - az cols - bz rows + K az bz.
    bz = const("_bz", b_zero.astype(np.int32))
    rows = op("ReduceSum", [a32, last], "_rows", keepdims=1)
    out = op("Sub", [out, op("Mul", [bz, rows], "_bz_rows")], "_r1")
    if a_zero:
        az = op("Cast", [a_zero], "_az", to=TensorProto.INT32)
        cols = const("_cols", w.sum(0, dtype=np.int32))
        out = op("Sub", [out, op("Mul", [az, cols], "_az_cols")], "_r2")
        k_az_bz = op(
            "Mul",
            [op("Mul", [az, bz], "_az_bz"), const("_kc", np.int32(k))],
            "_k_az_bz",
        )
        out = op("Add", [out, k_az_bz], "_r3")
    nodes.append(helper.make_node("Identity", [out], [node.output[0]]))


def emulate_graph(model: onnx.ModelProto, saturate: bool) -> int:
    """Replace every MatMulInteger of `model`; returns how many."""
    g = model.graph
    consts = {i.name: i for i in g.initializer}
    nodes, inits, replaced = [], [], 0
    for n in g.node:
        if n.op_type != "MatMulInteger":
            nodes.append(n)
            continue
        b_zero = np.zeros((), np.int32)
        if len(n.input) > 3 and n.input[3]:
            b_zero = numpy_helper.to_array(consts[n.input[3]])
        weights = numpy_helper.to_array(consts[n.input[1]])
        emulate_matmul_integer(n, weights, b_zero, nodes, inits, saturate)
        replaced += 1
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(inits)
    return replaced


def emulate_dir(src: Path, out: Path, saturate: bool) -> None:
    manifest = json.loads((src / "model.json").read_text(encoding="utf-8"))
    graphs = [entry["file"] for entry in manifest["graphs"].values()]
    # Everything but the graphs as it is; each graph is written once, emulated.
    shutil.copytree(src, out, dirs_exist_ok=True, ignore=lambda _, names: graphs)
    count = 0
    for entry in manifest["graphs"].values():
        model = onnx.load(src / entry["file"])
        count += emulate_graph(model, saturate)
        onnx.save(model, out / entry["file"])
        entry["sha256"] = sha256(out / entry["file"])
    (out / "model.json").write_text(
        json.dumps(manifest, indent=2) + "\n", encoding="utf-8"
    )
    print(f"wrote {out}: {count} MatMulInteger emulated")


def golden_differences(model_dir: Path, golden: dict) -> dict[str, int]:
    """Outputs (token ids) of each PaDIR setting of `golden` that differ when replayed."""
    ref = ReferenceTranslator(model_dir, batch_size=golden["batch_size"])
    differ = {}
    for name, setting in golden["settings"].items():
        if setting["mode"] != "nar":
            continue  # the AR graph's name and form changed across rounds; PaDIR's did not
        got = ref.translate_nar(golden["sources"], **setting["options"])
        differ[name] = sum(g.ids != w["ids"] for g, w in zip(got, setting["outputs"]))
    return differ


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument("--model", required=True, type=Path, help="an int8 model directory")
    ap.add_argument("--out", required=True, type=Path, help="where the two copies go")
    ap.add_argument("--golden", type=Path, help="a golden.json of this model to replay")
    args = ap.parse_args()
    copies = {"exact": args.out / "exact", "avx2": args.out / "avx2"}
    for name, path in copies.items():
        emulate_dir(args.model, path, saturate=name == "avx2")
    if args.golden:
        golden = json.loads(args.golden.read_text(encoding="utf-8"))
        n = len(golden["sources"])
        print(
            f"goldens written with {golden.get('int8_kernels', 'unrecorded')} int8 kernels"
        )
        differ = {"as is": golden_differences(args.model, golden)}
        differ |= {
            name: golden_differences(path, golden) for name, path in copies.items()
        }
        print("| setting | outputs | differ: " + " | ".join(differ) + " |")
        print("|---|---:|" + "---:|" * len(differ))
        for setting in differ["as is"]:
            cells = " | ".join(str(d[setting]) for d in differ.values())
            print(f"| {setting} | {n} | {cells} |")
        total = " | ".join(str(sum(d.values())) for d in differ.values())
        print(f"| all | {n * len(differ['as is'])} | {total} |")


if __name__ == "__main__":
    main()
