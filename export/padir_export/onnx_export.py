"""Export a trained student (and optionally its AR teacher) to the ONNX graphs the runtime loads.

The graph contract (names, shapes, dtypes) is documented in `docs/model-contract.md`; the Rust
model layer (`src/model/`) and the Python reference decoder (`reference.py`) both rely on it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.export import Dim

from .config import EOS_ID, MASK_ID, PAD_ID, UNK_ID
from .model import PadirModel

# ONNX Runtime 1.31 reads IR version <= 10 reliably; onnx >= 1.23 writes 14 by default.
IR_VERSION = 10
OPSET = 23


def _forbidden_bias(vocab: int, ids: list[int]) -> Tensor:
    """Additive logit bias that keeps the decoders from predicting structural tokens."""
    bias = torch.zeros(vocab)
    bias[ids] = -1e9
    return bias


def best_tokens(logits: Tensor, bias: Tensor, vocab: Tensor | None) -> tuple[Tensor, Tensor]:
    """Argmax over the vocabulary (after the forbidden-token `bias`) and its log-probability.
    Only these leave the graph: a [.., V] output would stay alive after the pass (at batch 32 x
    3 length candidates x 256 positions, 786 MB). LogSoftmax, not max - logsumexp: ONNX
    Runtime's ReduceLogSumExp is several times slower.

    With a shortlist (`vocab` [B,K], logits [B,T,K] or [B,K]), the log-probability is
    normalised over the shortlist, and the argmax position is mapped back to its token id."""
    if vocab is None:
        best, ids = F.log_softmax(logits + bias, dim=-1).max(dim=-1)
        return ids, best
    row_bias = bias[vocab.clamp(max=bias.shape[0] - 1)]  # [B,K]
    if logits.dim() == 3:
        row_bias = row_bias[:, None, :]
    best, pos = F.log_softmax(logits + row_bias, dim=-1).max(dim=-1)
    ids = torch.gather(vocab, 1, pos.reshape(pos.shape[0], -1)).reshape(pos.shape)
    return ids, best


class EncoderGraph(nn.Module):
    def __init__(self, model: PadirModel):
        super().__init__()
        self.model = model

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        return self.model.encode(input_ids, attention_mask)


class LengthPredictorGraph(nn.Module):
    def __init__(self, model: PadirModel):
        super().__init__()
        self.model = model

    def forward(self, encoder_hidden: Tensor, attention_mask: Tensor) -> Tensor:
        return F.log_softmax(self.model.length_logits(encoder_hidden, attention_mask), dim=-1)


class NarDecoderGraph(nn.Module):
    """Whole-sequence non-causal pass; the argmax and its log-prob are computed in the graph so
    the runtime never copies B x T x V logits."""

    def __init__(self, model: PadirModel):
        super().__init__()
        self.model = model
        forbidden = [PAD_ID, EOS_ID, UNK_ID, MASK_ID]
        self.register_buffer("bias", _forbidden_bias(model.cfg.vocab_size, forbidden))

    def forward(
        self,
        decoder_input_ids,
        decoder_attention_mask,
        encoder_hidden,
        encoder_attention_mask,
        vocab=None,
    ):
        h = self.model.decoder_hidden(
            decoder_input_ids, decoder_attention_mask, encoder_hidden, encoder_attention_mask
        )
        return best_tokens(self.model.lm_logits(h, vocab), self.bias, vocab)


class ArEncoderGraph(nn.Module):
    """Teacher encoder fused with every decoder layer's cross-attention key/value projection."""

    def __init__(self, model: PadirModel):
        super().__init__()
        self.model = model

    def forward(self, input_ids: Tensor, attention_mask: Tensor):
        return self.model.cross_kv(self.model.encode(input_ids, attention_mask))


class ArDecoderGraph(nn.Module):
    """The AR decoder over T tokens after the cache: per position the teacher's best next token
    and its log-prob, and the cache grown by T. A greedy step is T = 1 (bit for bit what a
    one-token graph gives); draft-and-verify checks a whole draft with T > 1."""

    def __init__(self, model: PadirModel):
        super().__init__()
        self.model = model
        self.register_buffer(
            "bias", _forbidden_bias(model.cfg.vocab_size, [PAD_ID, UNK_ID, MASK_ID])
        )

    def forward(
        self, input_ids, past_k, past_v, cross_k, cross_v, encoder_attention_mask, vocab=None
    ):
        logits, k, v = self.model.decode_chunk(
            input_ids, past_k, past_v, cross_k, cross_v, encoder_attention_mask, vocab
        )
        token_ids, token_logprobs = best_tokens(logits, self.bias, vocab)
        return token_ids, token_logprobs, k, v


SHORTLIST_GRAPHS = ("decoder", "ar_decoder")


def example_inputs(
    model: PadirModel,
    kind: str,
    batch: int,
    src: int,
    tgt: int,
    past: int = 3,
    seed: int = 0,
    shortlist: int = 0,
) -> dict[str, Tensor]:
    """Random but well-formed inputs for graph `kind` (used for tracing and for parity tests);
    with `shortlist` > 0, a decoder graph also gets a `vocab` input of that width."""
    inputs = _example_inputs(model, kind, batch, src, tgt, past, seed)
    if shortlist and kind in SHORTLIST_GRAPHS:
        inputs["vocab"] = example_vocab(model.cfg.vocab_size, batch, shortlist, seed)
    return inputs


def example_vocab(vocab_size: int, batch: int, width: int, seed: int) -> Tensor:
    """[batch, width] sorted distinct ids per row, the later rows padded with `vocab_size`."""
    g = torch.Generator().manual_seed(seed + 1)
    rows = torch.full((batch, width), vocab_size, dtype=torch.long)
    for r in range(batch):
        n = width - min(r, width - 2)
        rows[r, :n] = torch.randperm(vocab_size, generator=g)[:n].sort().values
    return rows


def _example_inputs(
    model: PadirModel, kind: str, batch: int, src: int, tgt: int, past: int, seed: int
) -> dict[str, Tensor]:
    cfg = model.cfg
    g = torch.Generator().manual_seed(seed)
    v = cfg.vocab_size

    def mask(b, t):
        lens = torch.randint(max(1, t // 2), t + 1, (b,), generator=g)
        lens[0] = t
        return (torch.arange(t)[None] < lens[:, None]).long()

    def ids(b, t):
        return torch.randint(4, v, (b, t), generator=g)

    src_mask = mask(batch, src)
    hidden = torch.randn(batch, src, cfg.d_model, generator=g)
    if kind in ("encoder", "ar_encoder"):
        return {"input_ids": ids(batch, src) * src_mask, "attention_mask": src_mask}
    if kind == "length_predictor":
        return {"encoder_hidden": hidden, "attention_mask": src_mask}
    if kind == "decoder":
        dmask = mask(batch, tgt)
        return {
            "decoder_input_ids": ids(batch, tgt) * dmask,
            "decoder_attention_mask": dmask,
            "encoder_hidden": hidden,
            "encoder_attention_mask": src_mask,
        }
    if kind == "ar_decoder":
        shape = (cfg.decoder_layers, batch, cfg.num_heads)
        return {
            "input_ids": ids(batch, tgt),
            "past_k": torch.randn(*shape, past, cfg.head_dim, generator=g),
            "past_v": torch.randn(*shape, past, cfg.head_dim, generator=g),
            "cross_k": torch.randn(*shape, src, cfg.head_dim, generator=g),
            "cross_v": torch.randn(*shape, src, cfg.head_dim, generator=g),
            "encoder_attention_mask": src_mask,
        }
    raise ValueError(kind)


GRAPHS = {
    "encoder": (EncoderGraph, ["encoder_hidden"]),
    "length_predictor": (LengthPredictorGraph, ["length_logprobs"]),
    "decoder": (NarDecoderGraph, ["token_ids", "token_logprobs"]),
    "ar_encoder": (ArEncoderGraph, ["cross_k", "cross_v"]),
    "ar_decoder": (ArDecoderGraph, ["token_ids", "token_logprobs", "present_k", "present_v"]),
}


def _dynamic_shapes(kind: str, shortlist: bool) -> dict:
    shapes = _graph_dynamic_shapes(kind)
    if shortlist and kind in SHORTLIST_GRAPHS:
        shapes["vocab"] = {0: Dim("batch"), 1: Dim("shortlist")}
    return shapes


def _graph_dynamic_shapes(kind: str) -> dict:
    b, s, t, p = Dim("batch"), Dim("src_len"), Dim("tgt_len"), Dim("past_len")
    bs = {0: b, 1: s}
    if kind in ("encoder", "ar_encoder"):
        return {"input_ids": bs, "attention_mask": bs}
    if kind == "length_predictor":
        return {"encoder_hidden": bs, "attention_mask": bs}
    if kind == "decoder":
        return {
            "decoder_input_ids": {0: b, 1: t},
            "decoder_attention_mask": {0: b, 1: t},
            "encoder_hidden": bs,
            "encoder_attention_mask": bs,
        }
    cache = {1: b, 3: p}
    kv = {1: b, 3: s}
    return {
        "input_ids": {0: b, 1: t},
        "past_k": cache,
        "past_v": cache,
        "cross_k": kv,
        "cross_v": kv,
        "encoder_attention_mask": bs,
    }


def export_graph(model: PadirModel, kind: str, path: str | Path, shortlist: bool = False) -> None:
    """Export graph `kind`; with `shortlist`, the decoder graphs take a `vocab` input (each
    row's shortlist, `docs/model-contract.md`) and score only those ids."""
    wrapper_cls, output_names = GRAPHS[kind]
    wrapper = wrapper_cls(model).eval()
    # Trace with sizes > 1 everywhere so that no dimension is specialised to a constant.
    inputs = example_inputs(model, kind, batch=3, src=7, tgt=9, past=4, shortlist=11 * shortlist)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(
            wrapper,
            (),
            kwargs=inputs,
            dynamo=True,
            opset_version=OPSET,
            dynamic_shapes=_dynamic_shapes(kind, shortlist),
            output_names=output_names,
            external_data=False,
            verbose=False,
        )
    proto = prog.model_proto
    proto.ir_version = IR_VERSION
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def torch_outputs(model: PadirModel, kind: str, inputs: dict[str, Tensor]) -> list[np.ndarray]:
    wrapper_cls, _ = GRAPHS[kind]
    with torch.no_grad():
        out = wrapper_cls(model).eval()(**inputs)
    out = out if isinstance(out, tuple) else (out,)
    return [o.numpy() for o in out]
