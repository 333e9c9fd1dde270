"""T5-style encoder-decoder with a `causal` switch: causal = AR teacher, non-causal = PaDIR student.

Parameter names follow Hugging Face `T5ForConditionalGeneration` (T5 v1.0 layout: RMSNorm pre-norm,
ReLU feed-forward, relative-position bias computed in each stack's first layer and shared by the
others, tied embeddings with the d_model**-0.5 output scaling), so a teacher saves to and loads
from the Hugging Face format by renaming nothing (see `hf.py`). The only extra module is
`length_head`, the length predictor.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import ModelConfig

NEG_INF = -1e9  # additive mask value; finite so that fully masked rows stay NaN-free


def relative_position_bucket(
    relative_position: Tensor, bidirectional: bool, num_buckets: int, max_distance: int
) -> Tensor:
    """T5's bucketing of (key_pos - query_pos): exact for small distances, log-spaced after."""
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        buckets = buckets + (relative_position > 0).long() * num_buckets
        relative_position = relative_position.abs()
    else:
        relative_position = -torch.clamp(relative_position, max=0)
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    large = (
        max_exact
        + (
            torch.log(relative_position.float().clamp(min=1) / max_exact)
            / math.log(max_distance / max_exact)
            * (num_buckets - max_exact)
        ).long()
    )
    large = torch.clamp(large, max=num_buckets - 1)
    return buckets + torch.where(is_small, relative_position, large)


class RMSNorm(nn.Module):
    """T5LayerNorm: scale only, no mean subtraction, no bias; computed in fp32."""

    def __init__(self, d: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        var = x.float().pow(2).mean(-1, keepdim=True)
        # x / sqrt, not x * rsqrt: ONNX Runtime fuses this form into one
        # SimplifiedLayerNormalization node (10 per AR step instead of 50 small ones).
        y = x.float() / torch.sqrt(var + self.eps)
        return self.weight * y.to(x.dtype)


# The encoder and NAR decoder graphs compute attention with ONNX's Attention operator (opset 23;
# ONNX Runtime has a CPU kernel): one operator where the plain form takes ~12 (head split and
# merge, two MatMuls, bias, softmax), the biggest share of a batch-1 pass's operators
# (docs/BENCHMARKS.md). The arithmetic is the same (parity with PyTorch is checked at export);
# False exports the plain form, for comparison (bench/graph_variants.py). The AR decoder graph
# uses `rowwise_attention` instead.
ONNX_ATTENTION = True


def onnx_attention() -> bool:
    return ONNX_ATTENTION and torch.onnx.is_in_onnx_export()


def rowwise_attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor) -> Tensor:
    """Attention whose result for a query row is the same bits however many rows share the pass
    and however many masked keys follow its own: [B,H,T,Dh] queries -> [B,T,H*Dh].

    The AR decoder graph runs one position per call in greedy decoding and a whole draft per
    call in draft-and-verify, and verify's output must be greedy's token for token. With int8
    weights every projection is an integer product of a row quantized on its own, so only the
    float attention can tell the two apart, and ONNX Runtime's kernels do: a product of T query
    rows is not T products of one row (another GEMM kernel), and a sum over keys changes in its
    last bits when masked keys (zeros) follow (the chunk's later positions, a batch's padded
    sources). Here each query row is its own one-row product (batch axes B,T,H), the softmax
    runs over each row as it is (masked keys give exact zeros, and the softmax of a row
    followed by them has been measured to be the same bits), and the weighted sum of the values
    is a running sum over the keys (`cumsum`, sequential in ONNX Runtime) read at the last key:
    trailing zeros then add nothing, not even rounding. Costs ~10 operators per attention
    (docs/BENCHMARKS.md, "Draft-and-verify"); the NAR graphs, which have no such contract,
    keep ONNX's Attention operator.
    """
    rows = q.transpose(1, 2).unsqueeze(3)  # [B,T,H,1,Dh]
    scores = torch.matmul(rows, k.transpose(-1, -2).unsqueeze(1))  # [B,T,H,1,Tk]
    # T5 does not scale scores by 1/sqrt(d): the scale is folded into initialisation.
    probs = F.softmax(scores + bias.transpose(1, 2).unsqueeze(3), dim=-1)
    terms = probs.transpose(-1, -2) * v.unsqueeze(1)  # [B,T,H,Tk,Dh]
    out = terms.cumsum(3)[:, :, :, -1]  # [B,T,H,Dh]
    b, t, h, dh = out.shape
    return out.reshape(b, t, h * dh)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig, has_bias: bool, bidirectional: bool):
        super().__init__()
        self.cfg = cfg
        inner = cfg.d_model
        self.q = nn.Linear(cfg.d_model, inner, bias=False)
        self.k = nn.Linear(cfg.d_model, inner, bias=False)
        self.v = nn.Linear(cfg.d_model, inner, bias=False)
        self.o = nn.Linear(inner, cfg.d_model, bias=False)
        self.bidirectional = bidirectional
        if has_bias:
            self.relative_attention_bias = nn.Embedding(cfg.rel_buckets, cfg.num_heads)
            # The bucket of every relative position in -R..R (R = rel_max_distance, beyond which
            # the buckets no longer change): a graph then looks a position's bucket up instead of
            # computing T5's formula (15 fewer operators per graph, ~4% of an AR step's time).
            # Not a parameter: checkpoints and the Hugging Face layout do not hold it.
            r = cfg.rel_max_distance
            rel = torch.arange(-r, r + 1)
            table = relative_position_bucket(rel, bidirectional, cfg.rel_buckets, r)
            self.register_buffer("bucket_table", table, persistent=False)

    def split(self, x: Tensor) -> Tensor:  # [B,T,D] -> [B,H,T,Dh]
        b, t, _ = x.shape
        return x.view(b, t, self.cfg.num_heads, self.cfg.head_dim).transpose(1, 2)

    def position_bias(self, query_pos: Tensor, key_pos: Tensor) -> Tensor:
        """[1,H,Tq,Tk] bias from absolute positions (1-D int64 tensors)."""
        r = self.cfg.rel_max_distance
        rel = (key_pos[None, :] - query_pos[:, None]).clamp(-r, r)
        buckets = self.bucket_table[rel + r]
        return self.relative_attention_bias(buckets).permute(2, 0, 1).unsqueeze(0)

    def attend(
        self, q: Tensor, k: Tensor, v: Tensor, bias: Tensor, dropout: float, rowwise: bool = False
    ) -> Tensor:
        """`rowwise`: exported as `rowwise_attention` (the AR decoder graph's)."""
        if rowwise and torch.onnx.is_in_onnx_export():
            return self.o(rowwise_attention(q, k, v, bias))
        if onnx_attention():
            # One ONNX Attention operator (opset 23) instead of ~6 (transpose, two MatMuls,
            # bias, softmax): fewer, bigger operators per decoder pass. Same arithmetic.
            out = torch.onnx.ops.attention(q, k, v, attn_mask=bias, scale=1.0)[0]
            b, h, t, dh = out.shape
            return self.o(out.transpose(1, 2).reshape(b, t, h * dh))
        # T5 does not scale scores by 1/sqrt(d): the scale is folded into initialisation.
        scores = torch.matmul(q, k.transpose(-1, -2)).float() + bias
        probs = F.softmax(scores, dim=-1).to(q.dtype)
        probs = F.dropout(probs, p=dropout, training=self.training)
        out = torch.matmul(probs, v)
        b, h, t, dh = out.shape
        return self.o(out.transpose(1, 2).reshape(b, t, h * dh))

    def forward(self, x: Tensor, kv: Tensor, bias: Tensor) -> Tensor:
        if onnx_attention():
            # [B,T,D] in and out: the operator splits and merges the heads itself.
            h = self.cfg.num_heads
            out = torch.onnx.ops.attention(
                self.q(x),
                self.k(kv),
                self.v(kv),
                attn_mask=bias,
                scale=1.0,
                q_num_heads=h,
                kv_num_heads=h,
            )[0]
            return self.o(out)
        q, k, v = self.split(self.q(x)), self.split(self.k(kv)), self.split(self.v(kv))
        return self.attend(q, k, v, bias, self.cfg.dropout)


class SelfAttentionLayer(nn.Module):
    def __init__(self, cfg: ModelConfig, has_bias: bool, bidirectional: bool):
        super().__init__()
        self.SelfAttention = Attention(cfg, has_bias, bidirectional)
        self.layer_norm = RMSNorm(cfg.d_model)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, bias: Tensor) -> Tensor:
        h = self.layer_norm(x)
        return x + self.dropout(self.SelfAttention(h, h, bias))


class CrossAttentionLayer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.EncDecAttention = Attention(cfg, has_bias=False, bidirectional=True)
        self.layer_norm = RMSNorm(cfg.d_model)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, memory: Tensor, bias: Tensor) -> Tensor:
        return x + self.dropout(self.EncDecAttention(self.layer_norm(x), memory, bias))


class DenseReluDense(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.wi = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.wo = nn.Linear(cfg.d_ff, cfg.d_model, bias=False)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.wo(self.dropout(F.relu(self.wi(x))))


class FeedForwardLayer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.DenseReluDense = DenseReluDense(cfg)
        self.layer_norm = RMSNorm(cfg.d_model)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.dropout(self.DenseReluDense(self.layer_norm(x)))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, is_decoder: bool, first: bool, bidirectional: bool):
        super().__init__()
        layers = [SelfAttentionLayer(cfg, first, bidirectional)]
        if is_decoder:
            layers.append(CrossAttentionLayer(cfg))
        layers.append(FeedForwardLayer(cfg))
        self.layer = nn.ModuleList(layers)


class Stack(nn.Module):
    def __init__(self, cfg: ModelConfig, n_layers: int, is_decoder: bool, bidirectional: bool):
        super().__init__()
        self.is_decoder = is_decoder
        self.block = nn.ModuleList(
            [Block(cfg, is_decoder, i == 0, bidirectional) for i in range(n_layers)]
        )
        self.final_layer_norm = RMSNorm(cfg.d_model)
        self.dropout = nn.Dropout(cfg.dropout)

    @property
    def bias_attention(self) -> Attention:
        return self.block[0].layer[0].SelfAttention


def padding_bias(mask: Tensor) -> Tensor:
    """[B,T] 1/0 mask -> [B,1,1,T] additive bias."""
    return (1.0 - mask[:, None, None, :].float()) * NEG_INF


def cross_attend(
    block: Block, x: Tensor, k: Tensor, v: Tensor, bias: Tensor, rowwise: bool = False
) -> Tensor:
    """A decoder block's cross-attention over precomputed keys and values ([B,H,S,Dh]), the
    layer's dropout included (as `CrossAttentionLayer` applies it)."""
    layer = block.layer[1]
    att = layer.EncDecAttention
    q = att.split(att.q(layer.layer_norm(x)))
    return x + layer.dropout(att.attend(q, k, v, bias, 0.0, rowwise))


class PadirModel(nn.Module):
    """Encoder, length predictor and decoder. `causal=True` is the AR teacher."""

    def __init__(self, cfg: ModelConfig, causal: bool):
        super().__init__()
        self.cfg = cfg
        self.causal = causal
        self.shared = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.encoder = Stack(cfg, cfg.encoder_layers, is_decoder=False, bidirectional=True)
        self.decoder = Stack(cfg, cfg.decoder_layers, is_decoder=True, bidirectional=not causal)
        self.length_head = nn.Linear(cfg.d_model, cfg.num_length_classes)
        # Decoder inputs hold max_target_len tokens and </s>.
        self.decoder_position = (
            nn.Embedding(cfg.max_target_len + 1, cfg.d_model)
            if cfg.decoder_positions and not causal
            else None
        )
        self._init_weights()

    def _init_weights(self) -> None:
        # T5's initialisation (Mesh TF), which compensates for the unscaled attention scores.
        d, dh, h = self.cfg.d_model, self.cfg.head_dim, self.cfg.num_heads
        nn.init.normal_(self.shared.weight, std=1.0)
        for m in self.modules():
            if isinstance(m, Attention):
                nn.init.normal_(m.q.weight, std=(d * dh) ** -0.5)
                nn.init.normal_(m.k.weight, std=d**-0.5)
                nn.init.normal_(m.v.weight, std=d**-0.5)
                nn.init.normal_(m.o.weight, std=(h * dh) ** -0.5)
                if hasattr(m, "relative_attention_bias"):
                    nn.init.normal_(m.relative_attention_bias.weight, std=d**-0.5)
            elif isinstance(m, DenseReluDense):
                nn.init.normal_(m.wi.weight, std=d**-0.5)
                nn.init.normal_(m.wo.weight, std=self.cfg.d_ff**-0.5)
        nn.init.normal_(self.length_head.weight, std=d**-0.5)
        nn.init.zeros_(self.length_head.bias)
        if self.decoder_position is not None:
            # Small beside the token rows (rms ~1; <mask>'s ~0.24 in a trained model), so a
            # student starting from its teacher's weights starts close to the teacher.
            nn.init.normal_(self.decoder_position.weight, std=0.1)

    # ---- encoder and length predictor -------------------------------------------------------
    def encode(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        x = self.encoder.dropout(self.shared(input_ids))
        pos = torch.arange(input_ids.shape[1], device=input_ids.device)
        bias = self.encoder.bias_attention.position_bias(pos, pos) + padding_bias(attention_mask)
        for block in self.encoder.block:
            x = block.layer[0](x, bias)
            x = block.layer[1](x)
        return self.encoder.dropout(self.encoder.final_layer_norm(x))

    def length_logits(self, encoder_hidden: Tensor, attention_mask: Tensor) -> Tensor:
        """Logits over target-minus-source length offsets, from the masked mean of the encoder."""
        m = attention_mask.to(encoder_hidden.dtype).unsqueeze(-1)
        pooled = (encoder_hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
        return self.length_head(pooled)

    # ---- decoder over whole sequences (training, NAR inference, AR teacher forcing) ---------
    def decoder_hidden(
        self,
        dec_ids: Tensor,
        dec_mask: Tensor,
        encoder_hidden: Tensor | None,
        enc_mask: Tensor,
        cross: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        """With `cross` (`cross_kv`'s keys and values), the cross-attention reads those instead
        of projecting `encoder_hidden` again: once per sentence, not once per pass."""
        t = dec_ids.shape[1]
        pos = torch.arange(t, device=dec_ids.device)
        x = self.shared(dec_ids)
        if self.decoder_position is not None:
            x = x + self.decoder_position(pos.clamp(max=self.cfg.max_target_len))
        x = self.decoder.dropout(x)
        self_bias = self.decoder.bias_attention.position_bias(pos, pos) + padding_bias(dec_mask)
        if self.causal:
            future = torch.triu(torch.ones(t, t, dtype=torch.bool, device=dec_ids.device), 1)
            self_bias = self_bias.masked_fill(future, NEG_INF)
        # [B,1,T,S]: ONNX's Attention wants the query axis in the bias (a view here, one
        # Expand in the graph)
        cross_bias = padding_bias(enc_mask).expand(-1, -1, t, -1)
        for i, block in enumerate(self.decoder.block):
            x = block.layer[0](x, self_bias)
            if cross is None:
                x = block.layer[1](x, encoder_hidden, cross_bias)
            else:
                x = cross_attend(block, x, cross[0][i], cross[1][i], cross_bias)
            x = block.layer[2](x)
        return self.decoder.dropout(self.decoder.final_layer_norm(x))

    def lm_logits(self, hidden: Tensor, vocab: Tensor | None = None) -> Tensor:
        """Logits [B,T,V] of the tied output embedding (with T5's rescaling); with `vocab`
        ([B,K] ids, each row a sentence's lexical shortlist padded with `vocab_size`), only
        those ids' logits, [B,T,K], padding at NEG_INF: K rows of the table per sentence
        instead of all V."""
        h = hidden * (self.cfg.d_model**-0.5)
        if vocab is None:
            return F.linear(h, self.shared.weight)
        size = self.cfg.vocab_size
        rows = F.embedding(vocab.clamp(max=size - 1), self.shared.weight)  # [B,K,D]
        logits = torch.matmul(h, rows.transpose(1, 2))
        return logits.masked_fill((vocab >= size)[:, None, :], NEG_INF)

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor, dec_ids: Tensor, dec_mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        enc = self.encode(input_ids, attention_mask)
        logits = self.lm_logits(self.decoder_hidden(dec_ids, dec_mask, enc, attention_mask))
        return logits, self.length_logits(enc, attention_mask)

    # ---- incremental AR decoding with a key/value cache ------------------------------------
    def cross_kv(self, encoder_hidden: Tensor) -> tuple[Tensor, Tensor]:
        """Cross-attention keys and values of every decoder layer: two [L,B,H,S,Dh] tensors."""
        ks, vs = [], []
        for block in self.decoder.block:
            att = block.layer[1].EncDecAttention
            ks.append(att.split(att.k(encoder_hidden)))
            vs.append(att.split(att.v(encoder_hidden)))
        return torch.stack(ks), torch.stack(vs)

    def decode_step(
        self,
        token: Tensor,  # [B,1] the previous output token (pad = start)
        past_k: Tensor,  # [L,B,H,P,Dh] self-attention cache
        past_v: Tensor,
        cross_k: Tensor,  # [L,B,H,S,Dh]
        cross_v: Tensor,
        enc_mask: Tensor,  # [B,S]
        vocab: Tensor | None = None,  # [B,K] a shortlist (`lm_logits`)
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One causal decoder step at position P (a chunk of one token, as the exported AR
        decoder runs it); returns logits [B,V] (or [B,K] over `vocab`) and the grown cache."""
        logits, k, v = self.decode_chunk(token, past_k, past_v, cross_k, cross_v, enc_mask, vocab)
        return logits[:, 0], k, v

    def decode_chunk(
        self,
        tokens: Tensor,  # [B,T] the next T input tokens, at positions P..P+T-1
        past_k: Tensor,  # [L,B,H,P,Dh] self-attention cache
        past_v: Tensor,
        cross_k: Tensor,  # [L,B,H,S,Dh]
        cross_v: Tensor,
        enc_mask: Tensor,  # [B,S]
        vocab: Tensor | None = None,  # [B,K] a shortlist (`lm_logits`)
    ) -> tuple[Tensor, Tensor, Tensor]:
        """T causal steps in one pass (teacher forcing after a cache): logits [B,T,V] and the
        cache grown by T. Position t's logits are exactly what `decode_step` would give after
        feeding tokens[:, :t+1] one at a time; draft-and-verify checks a whole draft this way."""
        p, t = past_k.shape[3], tokens.shape[1]
        pos_q = torch.arange(p, p + t, device=tokens.device)
        pos_k = torch.arange(p + t, device=tokens.device)
        future = pos_k[None, :] > pos_q[:, None]
        self_bias = self.decoder.bias_attention.position_bias(pos_q, pos_k).masked_fill(
            future, NEG_INF
        )
        return self._decode_cached(
            tokens, self_bias, past_k, past_v, cross_k, cross_v, enc_mask, vocab
        )

    def _decode_cached(
        self, tokens, self_bias, past_k, past_v, cross_k, cross_v, enc_mask, vocab=None
    ):
        assert self.causal, "cached decoding is the AR teacher's"
        x = self.shared(tokens)
        cross_bias = padding_bias(enc_mask).expand(-1, -1, tokens.shape[1], -1)
        new_k, new_v = [], []
        for i, block in enumerate(self.decoder.block):
            sa = block.layer[0].SelfAttention
            h = block.layer[0].layer_norm(x)
            k = torch.cat([past_k[i], sa.split(sa.k(h))], dim=2)
            v = torch.cat([past_v[i], sa.split(sa.v(h))], dim=2)
            # rowwise: a chunk's positions get the bits of single steps (draft-and-verify)
            x = x + sa.attend(sa.split(sa.q(h)), k, v, self_bias, 0.0, rowwise=True)
            new_k.append(k)
            new_v.append(v)
            x = cross_attend(block, x, cross_k[i], cross_v[i], cross_bias, rowwise=True)
            x = block.layer[2](x)
        logits = self.lm_logits(self.decoder.final_layer_norm(x), vocab)
        return logits, torch.stack(new_k), torch.stack(new_v)

    def empty_cache(self, batch: int) -> tuple[Tensor, Tensor]:
        c = self.cfg
        shape = (c.decoder_layers, batch, c.num_heads, 0, c.head_dim)
        return torch.zeros(shape), torch.zeros(shape)
