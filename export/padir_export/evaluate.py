"""Scoring a PyTorch checkpoint while it trains: the AR teacher's dev token loss and greedy
BLEU, the PaDIR student's BLEU after 2 and 4 refinement passes.

The learning curves (`train.py`, `eval_every`) and the short learning-efficiency probes
(`probe.py`) score the same way, so their figures compare:
- `token_loss`: mean cross-entropy per target token (</s> included), **without** label
  smoothing, over every pair of the dev set, teacher-forced;
- `greedy_bleu`: sacreBLEU BLEU and chrF of greedy translations (KV cache, in PyTorch) of the
  first `n` dev sentences against their references;
- `student_bleu`: sacreBLEU BLEU and chrF of the student's PaDIR translations of the first `n`
  dev sentences, decoded by the reference decoder (`reference.py`, which the Rust runtime
  matches token for token) over the student's graphs exported in fp32 for the occasion, with
  the manifest's decoding defaults but the number of passes.
The shipped ONNX graphs are scored by the Rust runtime instead (`padir bench`, `eval-en-fr.sh`).
"""

from __future__ import annotations

import copy
import itertools
import shutil
import tempfile
from pathlib import Path

import numpy as np
import sacrebleu
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from .config import EOS_ID, PAD_ID
from .data import TokenizedCorpus
from .model import PadirModel
from .protect import protect, repair, restore
from .tokenizer import decode, has_placeholders


def _pad(rows: list[np.ndarray], device) -> tuple[torch.Tensor, torch.Tensor]:
    t = max(len(r) for r in rows)
    ids = torch.full((len(rows), t), PAD_ID, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.as_tensor(r, dtype=torch.long)
    lens = torch.tensor([len(r) for r in rows])
    mask = (torch.arange(t)[None, :] < lens[:, None]).long()
    return ids.to(device), mask.to(device)


def _length_sorted_batches(lengths: list[int], max_tokens: int) -> list[list[int]]:
    order = np.argsort(lengths, kind="stable")
    batches, cur, longest = [], [], 0
    for i in order:
        if cur and (len(cur) + 1) * max(longest, lengths[i]) > max_tokens:
            batches.append(cur)
            cur, longest = [], 0
        cur.append(int(i))
        longest = max(longest, lengths[i])
    if cur:
        batches.append(cur)
    return batches


@torch.no_grad()
def token_loss(model: PadirModel, corpus: TokenizedCorpus, max_tokens: int = 8000) -> float:
    """Teacher-forced dev cross-entropy per target token, no label smoothing (AR teacher)."""
    assert model.causal, "token_loss scores the AR teacher"
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    lengths = [len(corpus.src(i)) + len(corpus.tgt(i)) + 1 for i in range(len(corpus))]
    total, count = 0.0, 0
    for idx in _length_sorted_batches(lengths, max_tokens):
        src, src_mask = _pad([corpus.src(i) for i in idx], device)
        labels, dec_mask = _pad([np.append(corpus.tgt(i), EOS_ID) for i in idx], device)
        dec_in = torch.cat([torch.full_like(labels[:, :1], PAD_ID), labels[:, :-1]], 1)
        enc = model.encode(src, src_mask)
        logits = model.lm_logits(model.decoder_hidden(dec_in, dec_mask, enc, src_mask)).float()
        total += float(
            F.cross_entropy(
                logits.transpose(1, 2), labels.masked_fill(dec_mask == 0, -100), reduction="sum"
            )
        )
        count += int(dec_mask.sum())
    model.train(was_training)
    return total / max(count, 1)


@torch.no_grad()
def greedy_ids(
    model: PadirModel,
    sources: list[np.ndarray],
    max_target_len: int,
    max_tokens: int = 4000,
    vocab: list[np.ndarray] | None = None,
) -> tuple[list[list[int]], list[bool]]:
    """Greedy AR outputs (without </s>) for source ids ending in </s>, in input order, and
    whether each ran into its length limit (2 * source + 10 tokens, as in distillation).
    With `vocab`, sentence i may only emit the ids in vocab[i] (a lexical shortlist).
    `max_tokens` bounds a batch's padded source tokens (large on a GPU: distillation)."""
    assert model.causal, "greedy decoding is the AR teacher's"
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out: list[list[int]] = [[] for _ in sources]
    cut = [False] * len(sources)
    for idx in _length_sorted_batches([len(s) for s in sources], max_tokens):
        src, src_mask = _pad([sources[i] for i in idx], device)
        limits = torch.tensor([min(2 * len(sources[i]) + 10, max_target_len) for i in idx])
        enc = model.encode(src, src_mask)
        cross_k, cross_v = model.cross_kv(enc)
        past_k, past_v = (t.to(device) for t in model.empty_cache(len(idx)))
        banned = None
        if vocab is not None:
            banned = torch.ones(len(idx), model.cfg.vocab_size, dtype=torch.bool)
            for k, i in enumerate(idx):
                banned[k, torch.as_tensor(vocab[i], dtype=torch.long)] = False
            banned = banned.to(device)
        # Every row steps until all have written </s> or reached their limit; the outputs are
        # cut afterwards, on the CPU, in one go (no per-row work, nor a sync, inside the loop
        # but the one `all()` check: thousands of rows a batch when distilling on a GPU).
        steps = []
        prev = torch.full((len(idx), 1), PAD_ID, dtype=torch.long, device=device)
        finished = torch.zeros(len(idx), dtype=torch.bool, device=device)
        dev_limits = limits.to(device)
        for step in range(int(limits.max())):
            logits, past_k, past_v = model.decode_step(
                prev, past_k, past_v, cross_k, cross_v, src_mask
            )
            if banned is not None:
                logits = logits.masked_fill(banned, float("-inf"))
            tok = logits.argmax(-1)
            steps.append(tok)
            finished |= (tok == EOS_ID) | (step + 1 >= dev_limits)
            if bool(finished.all()):
                break
            prev = tok[:, None]
        toks = torch.stack(steps, 1).cpu().numpy()
        for k, i in enumerate(idx):
            row = toks[k, : int(limits[k])]
            eos = np.flatnonzero(row == EOS_ID)
            out[i] = row[: eos[0]].tolist() if len(eos) else row.tolist()
            cut[i] = not len(eos)
    model.train(was_training)
    return out, cut


def restored(tok: Tokenizer, hyps: list[str], sources: list[str]) -> list[str]:
    """With a placeholder vocabulary the model reads protected sources and writes placeholders:
    restore them (and repair where unfaithful, as the runtime's last resort) before scoring."""
    if not has_placeholders(tok):
        return hyps
    protected = [protect(s) for s in sources]
    return [
        r.text if r.faithful else repair(h, p)
        for h, p, r in ((h, p, restore(h, p)) for h, p in zip(hyps, protected))
    ]


def greedy_bleu(
    model: PadirModel,
    tok: Tokenizer,
    corpus: TokenizedCorpus,
    sources: list[str],
    refs: list[str],
    n: int,
) -> dict:
    """BLEU, chrF and the share of outputs cut by the length limit, greedy, first `n` pairs.
    With a placeholder vocabulary the corpus holds protected sources: outputs are restored
    (and repaired where unfaithful, as the runtime's last resort) before scoring."""
    n = min(n, len(corpus), len(refs))
    ids, cut = greedy_ids(model, [corpus.src(i) for i in range(n)], model.cfg.max_target_len)
    hyps = restored(tok, [decode(tok, x) for x in ids], sources[:n])
    return {
        "bleu": sacrebleu.corpus_bleu(hyps, [refs[:n]]).score,
        "chrf": sacrebleu.corpus_chrf(hyps, [refs[:n]]).score,
        "cut": sum(cut) / max(n, 1),
        "hyps": hyps,
    }


SCORE_COLUMNS = ["dev_token_loss", "dev_bleu", "dev_chrf", "dev_cut"]


def score_teacher(
    model: PadirModel,
    tok: Tokenizer,
    corpus: TokenizedCorpus,
    sources: list[str],
    refs: list[str],
    n: int,
) -> dict:
    """The row a learning curve or a probe records: dev token loss on the whole dev set, and
    greedy BLEU, chrF and share cut on its first `n` pairs (`SCORE_COLUMNS`)."""
    scores = greedy_bleu(model, tok, corpus, sources, refs, n)
    return {
        "dev_token_loss": round(token_loss(model, corpus), 4),
        "dev_bleu": round(scores["bleu"], 2),
        "dev_chrf": round(scores["chrf"], 2),
        "dev_cut": round(scores["cut"], 4),
    }


def repeated_word_share(hyps: list[str]) -> float:
    """Share of outputs with a word immediately repeated ("de de"): PaDIR's typical stutter."""

    def stutters(h: str) -> bool:
        words = h.lower().split()
        return any(a == b for a, b in itertools.pairwise(words))

    return sum(map(stutters, hyps)) / max(len(hyps), 1)


STUDENT_ITERATIONS = (2, 4)
STUDENT_SCORE_COLUMNS = [
    *(f"dev_bleu_i{i}" for i in STUDENT_ITERATIONS),
    f"dev_chrf_i{STUDENT_ITERATIONS[-1]}",
    f"dev_repeat_i{STUDENT_ITERATIONS[-1]}",
]


@torch.no_grad()
def student_bleu(model: PadirModel, pipe, sources: list[str], refs: list[str], n: int) -> dict:
    """The student's row of a learning curve (`STUDENT_SCORE_COLUMNS`), on the first `n` dev
    pairs: BLEU after each of `STUDENT_ITERATIONS` passes, chrF and the share of outputs with
    an immediately repeated word after the last."""
    # Imported here: the exporter and the reference decoder are only needed for the student.
    from .export_model import write_manifest
    from .onnx_export import export_graph
    from .reference import ReferenceTranslator

    assert not model.causal, "PaDIR decoding is the student's"
    was_training = model.training
    model.eval()
    n = min(n, len(sources), len(refs))
    tok = pipe.tokenizer()
    texts = [protect(s).text for s in sources[:n]] if has_placeholders(tok) else sources[:n]
    # The exporter traces on the CPU; a model training on a GPU stays there.
    cpu_model = (
        model if next(model.parameters()).device.type == "cpu" else copy.deepcopy(model).cpu()
    )
    row = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        graphs = {}
        for kind in ("encoder", "length_predictor", "decoder"):
            graphs[kind] = out / f"{kind}.onnx"
            export_graph(cpu_model, kind, graphs[kind])
        shutil.copy(pipe.tokenizer_path, out / "tokenizer.json")
        write_manifest(pipe, out, graphs, precision="fp32")
        ref = ReferenceTranslator(out, threads=torch.get_num_threads())
        for i in STUDENT_ITERATIONS:
            hyps = [t.text for t in ref.translate_nar(texts, iterations=i)]
            hyps = restored(tok, hyps, sources[:n])
            row[f"dev_bleu_i{i}"] = round(sacrebleu.corpus_bleu(hyps, [refs[:n]]).score, 2)
        row[f"dev_chrf_i{i}"] = round(sacrebleu.corpus_chrf(hyps, [refs[:n]]).score, 2)
        row[f"dev_repeat_i{i}"] = round(repeated_word_share(hyps), 4)
    model.train(was_training)
    return row
