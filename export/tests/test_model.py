"""PyTorch model invariants the exported graphs rely on."""

from dataclasses import replace

import torch

from padir_export.config import MASK_ID, ModelConfig
from padir_export.model import Attention, PadirModel, relative_position_bucket

CFG = ModelConfig(
    vocab_size=97,
    d_model=32,
    num_heads=2,
    d_ff=64,
    encoder_layers=2,
    decoder_layers=2,
    dropout=0.0,
    max_length_offset=4,
)


def test_kv_cache_step_matches_teacher_forcing():
    torch.manual_seed(0)
    m = PadirModel(CFG, causal=True).eval()
    src = torch.randint(4, 97, (2, 6))
    src_mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2])
    tgt = torch.randint(4, 97, (2, 5))
    with torch.no_grad():
        enc = m.encode(src, src_mask)
        full = m.lm_logits(m.decoder_hidden(tgt, torch.ones_like(tgt), enc, src_mask))
        ck, cv = m.cross_kv(enc)
        pk, pv = m.empty_cache(2)
        for t in range(5):
            logits, pk, pv = m.decode_step(tgt[:, t : t + 1], pk, pv, ck, cv, src_mask)
            assert torch.allclose(logits, full[:, t], atol=1e-5), t


def test_a_chunk_after_the_cache_matches_steps():
    torch.manual_seed(3)
    m = PadirModel(CFG, causal=True).eval()
    src = torch.randint(4, 97, (1, 6))
    src_mask = torch.ones_like(src)
    tgt = torch.randint(4, 97, (1, 7))
    with torch.no_grad():
        ck, cv = m.cross_kv(m.encode(src, src_mask))
        pk, pv = m.empty_cache(1)
        steps = []
        for t in range(7):
            logits, pk, pv = m.decode_step(tgt[:, t : t + 1], pk, pv, ck, cv, src_mask)
            steps.append(logits)
        # two tokens step by step, then the other five in one chunk on that cache
        ek, ev = m.empty_cache(1)
        for t in range(2):
            _, ek, ev = m.decode_step(tgt[:, t : t + 1], ek, ev, ck, cv, src_mask)
        chunk, ck2, cv2 = m.decode_chunk(tgt[:, 2:], ek, ev, ck, cv, src_mask)
    assert torch.allclose(chunk[0], torch.cat(steps[2:])[:, :], atol=1e-5)
    assert torch.allclose(ck2, pk, atol=1e-5) and torch.allclose(cv2, pv, atol=1e-5)


def test_padding_does_not_change_real_positions():
    torch.manual_seed(1)
    for causal in (False, True):
        m = PadirModel(CFG, causal=causal).eval()
        src = torch.randint(4, 97, (1, 5))
        dec = torch.randint(4, 97, (1, 4))
        with torch.no_grad():
            enc = m.encode(src, torch.ones_like(src))
            a = m.decoder_hidden(dec, torch.ones_like(dec), enc, torch.ones_like(src))
            src_p = torch.cat([src, torch.zeros(1, 3, dtype=torch.long)], 1)
            smask = torch.tensor([[1] * 5 + [0] * 3])
            dec_p = torch.cat([dec, torch.zeros(1, 2, dtype=torch.long)], 1)
            enc_p = m.encode(src_p, smask)
            b = m.decoder_hidden(dec_p, torch.tensor([[1] * 4 + [0] * 2]), enc_p, smask)
        assert torch.allclose(enc, enc_p[:, :5], atol=1e-5)
        assert torch.allclose(a, b[:, :4], atol=1e-5)


def test_student_decoder_sees_the_future_and_teacher_does_not():
    torch.manual_seed(2)
    for causal in (False, True):
        m = PadirModel(CFG, causal=causal).eval()
        src = torch.randint(4, 97, (1, 5))
        dec = torch.randint(4, 97, (1, 4))
        dec2 = dec.clone()
        dec2[0, 3] = (dec[0, 3] + 1 - 4) % 93 + 4
        with torch.no_grad():
            enc = m.encode(src, torch.ones_like(src))
            a = m.decoder_hidden(dec, torch.ones_like(dec), enc, torch.ones_like(src))
            b = m.decoder_hidden(dec2, torch.ones_like(dec), enc, torch.ones_like(src))
        changed = not torch.allclose(a[0, 0], b[0, 0], atol=1e-6)
        assert changed == (not causal)


def test_decoder_positions_tell_an_all_mask_row_apart():
    """With relative bias alone, a row of equal tokens gives every position the same state
    (attention mixes equal values; only a final </s> breaks the tie, and weakly): learned
    positions make every position's state its own. The teacher has none."""
    torch.manual_seed(5)
    src = torch.randint(4, 97, (1, 5))
    dec = torch.full((1, 12), MASK_ID)
    for positions in (False, True):
        cfg = replace(CFG, decoder_positions=positions)
        m = PadirModel(cfg, causal=False).eval()
        assert PadirModel(cfg, causal=True).decoder_position is None
        with torch.no_grad():
            enc = m.encode(src, torch.ones_like(src))
            h = m.decoder_hidden(dec, torch.ones_like(dec), enc, torch.ones_like(src))[0]
        spread = (h - h[0]).abs().max().item()
        assert (spread > 0.01) == positions, spread


def test_bucket_table_is_t5s_formula_at_every_distance():
    # position_bias looks buckets up in a table over -R..R; beyond R they must not change.
    r = CFG.rel_max_distance
    rel = torch.arange(-3 * r, 3 * r + 1)
    for bidirectional in (False, True):
        att = Attention(CFG, has_bias=True, bidirectional=bidirectional)
        looked_up = att.bucket_table[rel.clamp(-r, r) + r]
        formula = relative_position_bucket(rel, bidirectional, CFG.rel_buckets, r)
        assert torch.equal(looked_up, formula), bidirectional
