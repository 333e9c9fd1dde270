"""int8 quantization yields a smaller, loadable model that still decodes."""

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from padir_export.quantize import quantize_dir, quantize_graph
from padir_export.reference import ReferenceTranslator


def test_int8_model_is_smaller_and_decodes(tiny_dir, tmp_path):
    manifest = quantize_dir(tiny_dir, tmp_path)
    assert manifest["precision"] == "int8"
    size = lambda d: sum((d / g["file"]).stat().st_size for g in manifest["graphs"].values())
    assert size(tmp_path) < 0.6 * size(tiny_dir)
    ref = ReferenceTranslator(tmp_path)
    out = ref.translate_nar(["Open the file", "Close all windows"])
    assert all(t.ids for t in out)
    assert all(t.ids for t in ref.translate_ar(["Open the file"]))


def test_every_matmul_weight_is_quantized(tiny_dir, tmp_path):
    # The tied output projection must become an int8 MatMul with a constant weight, not a
    # dequantize + transpose of the embedding table on every pass.
    manifest = quantize_dir(tiny_dir, tmp_path)
    for graph in manifest["graphs"].values():
        g = onnx.load(tmp_path / graph["file"]).graph
        weights = {i.name for i in g.initializer}
        dequantized = {
            n.output[0] for n in g.node if n.op_type == "DequantizeLinear" and n.input[0] in weights
        }
        for node in g.node:
            if node.op_type == "Transpose":
                assert node.input[0] not in weights | dequantized, (graph["file"], node.name)
            if node.op_type == "MatMul":
                assert not (set(node.input) & weights), (graph["file"], node.name)


def test_matmul_weights_take_seven_bits(tiny_dir, tmp_path):
    # On x86-64 without VNNI the u8 x s8 kernel adds pairs of products in 16 bits with
    # saturation: 2 x 255 x |w| must stay <= 32,767, so |w| <= 64.
    manifest = quantize_dir(tiny_dir, tmp_path)
    for graph in manifest["graphs"].values():
        g = onnx.load(tmp_path / graph["file"]).graph
        weights = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        matmuls = [n for n in g.node if n.op_type == "MatMulInteger"]
        assert matmuls, graph["file"]
        for node in matmuls:
            w = weights[node.input[1]].astype(np.int32)
            assert np.abs(w).max() <= 64, node.name


def test_a_sentence_does_not_depend_on_its_batch_mates(tiny_dir, tmp_path):
    # Activations are quantized per token: another sentence in the batch must not change a
    # sentence's encoding, as it does with one scale per tensor (every value moves).
    quantize_dir(tiny_dir, tmp_path)
    enc = ort.InferenceSession(tmp_path / "encoder.onnx", providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    alone_ids = rng.integers(5, 200, size=(1, 12))
    mate_ids = rng.integers(5, 200, size=(1, 12))

    def run(ids):
        return enc.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0]

    alone = run(alone_ids)
    batched = run(np.concatenate([alone_ids, mate_ids]))
    np.testing.assert_allclose(batched[:1], alone, rtol=0, atol=1e-5)


def test_blocked_row_quantizer_equals_the_flattened_one(tiny_dir, tmp_path):
    # The blocked QuantizeLinear (opset 21) does per row what the flattened per-axis form did,
    # with fewer operators: the encoder's outputs must be bit-identical.
    ids = np.random.default_rng(1).integers(5, 200, size=(3, 9))
    mask = np.ones_like(ids)
    mask[1, 5:] = 0
    outputs = []
    for activations in ("row", "row-flat"):
        path = tmp_path / f"encoder-{activations}.onnx"
        quantize_graph(tiny_dir / "encoder.onnx", path, activations)
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        outputs.append(sess.run(None, {"input_ids": ids, "attention_mask": mask})[0])
    np.testing.assert_array_equal(outputs[0], outputs[1])
