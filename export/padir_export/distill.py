"""Sequence-level distillation: the AR teacher translates the training sources (all, or the
`distill.max_pairs` of the config drawn with a fixed seed), and its outputs
become the PaDIR student's targets (the standard recipe for non-autoregressive students).

    python -m padir_export.distill --config export/configs/en-fr.json

The teacher runs greedily through its exported ONNX graphs (KV cache, ONNX Runtime), in batches
of similar source lengths; on a machine with a GPU, through PyTorch on the GPU instead
(`--backend`). With `distill.min_length_ratio` set, a teacher output shorter than that
share of the human reference (in tokens), or unfinished, is replaced by the reference: a small
teacher leaves out parts of sentences, and a student learning those outputs learns to predict
short lengths. Resumable: the corpus is cut into shards saved as
`<runs>/distill/shard-NNNNN.npz`; a rerun skips finished shards and only re-assembles (in
seconds: the way to apply a new `min_length_ratio`). The result, `<runs>/distilled.npz`
(original sources, student targets), is what the student stage reads.

Across machines: with `distill.resume` set, `checkpoint.py --stage distill` packs the finished
shards (the teacher's outputs only, uint16, xz) into that
file, to commit; on a machine without shards, `distill` unpacks it instead of translating the
corpus again (an hour on 2 cores), provided it was made by the teacher checkpoint packed now.
"""

from __future__ import annotations

import argparse
import lzma
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from tqdm import tqdm

from .data import TokenizedCorpus
from .evaluate import greedy_ids
from .export_model import PARITY_TOLERANCE, parity
from .onnx_export import export_graph
from .pipeline import REPO_ROOT, Pipeline
from .reference import greedy_ar, pad_rows

AR_GRAPHS = ("ar_encoder", "ar_decoder")


def open_teacher(pipe: Pipeline, threads: int) -> tuple[dict, dict]:
    """Export (once) and open the teacher's AR graphs."""
    teacher = pipe.load_final("teacher")
    out = pipe.runs / "distill" / "onnx"
    out.mkdir(parents=True, exist_ok=True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sessions = {}
    for kind in AR_GRAPHS:
        path = out / f"{kind}.onnx"
        if not path.exists():
            export_graph(teacher, kind, path)
            diff = parity(teacher, kind, path)
            if diff > PARITY_TOLERANCE:
                path.unlink()
                raise SystemExit(f"teacher graph {kind} fails parity: {diff:.2e}")
        sessions[kind] = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    c = teacher.cfg
    return sessions, {"layers": c.decoder_layers, "heads": c.num_heads, "head_dim": c.head_dim}


def length_limit(src_len: int, max_target_len: int) -> int:
    """Most tokens the teacher may write for a source of `src_len` tokens (with </s>)."""
    return min(2 * src_len + 10, max_target_len)


def translate_ids(
    sessions, shape, sources: list[np.ndarray], max_target_len: int, batch_tokens: int = 3000
) -> list[list[int]]:
    """Greedy teacher outputs for token-id sources (each ending in </s>), in input order."""
    order = np.argsort([len(s) for s in sources], kind="stable")
    out: list[list[int]] = [[] for _ in sources]
    start = 0
    while start < len(order):
        width = len(sources[order[start]])
        end = start
        while (
            end < len(order)
            and (end - start + 1) * max(width, len(sources[order[end]])) <= batch_tokens
        ):
            width = max(width, len(sources[order[end]]))
            end += 1
        end = max(end, start + 1)
        idx = order[start:end]
        ids, mask = pad_rows([sources[i] for i in idx])
        limits = [length_limit(len(sources[i]), max_target_len) for i in idx]
        toks, _ = greedy_ar(sessions, shape, ids, mask, limits)
        for i, tok in zip(idx, toks):
            out[i] = tok
        start = end
    return out


def distill_subset(n: int, max_pairs: int | None) -> np.ndarray:
    """Indices of the training pairs to distill: all of them, or `max_pairs` drawn with a fixed
    seed (the corpus is ordered by origin, so its head would be one kind of text), sorted."""
    if max_pairs is None or max_pairs >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).permutation(n)[:max_pairs])


def default_backend() -> str:
    return "torch" if torch.cuda.is_available() else "onnx"


def open_translator(pipe: Pipeline, threads: int, backend: str):
    """Source ids -> the teacher's greedy outputs. `onnx`: its exported graphs in ONNX Runtime,
    on the CPU (as padir's runtime translates); `torch`: the PyTorch model with its KV cache, in
    large batches on a GPU where there is one (the GPU round, `gpu_round.py`). Both greedy:
    they differ only where two tokens tie within float rounding."""
    limit = pipe.model_cfg.max_target_len
    if backend == "torch":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        teacher = pipe.load_final("teacher").to(device)
        max_tokens = 100_000 if device.type == "cuda" else 4000
        return lambda sources: greedy_ids(teacher, sources, limit, max_tokens)[0]
    sessions, shape = open_teacher(pipe, threads)
    return lambda sources: translate_ids(sessions, shape, sources, limit)


def distill(
    pipe: Pipeline,
    threads: int,
    shard_size: int = 20_000,
    backend: str | None = None,
    assemble_only: bool = False,
) -> Path:
    """Translate the shards not done yet (none with `assemble_only`: a GPU round's packed
    shards, its teacher left behind), then assemble the student's corpus from the shards."""
    backend = backend or default_backend()
    dc = pipe.cfg.get("distill", {})
    corpus = pipe.human_corpus()
    max_len = dc.get("max_len") or pipe.cfg["student"]["max_len"]
    shard_dir = pipe.runs / "distill"
    packed = dc.get("resume")
    if packed and (REPO_ROOT / packed).exists() and not any(shard_dir.glob("shard-*.npz")):
        unpack_shards(REPO_ROOT / packed, shard_dir, teacher_step(pipe))
    chosen = distill_subset(len(corpus), dc.get("max_pairs"))
    # `budget_minutes`: a GPU round's lease is fixed, and the shards done by then make the
    # corpus; their pairs are then drawn at random (the corpus is ordered by origin), so that
    # a cut leaves a sample of every kind of text.
    budget = dc.get("budget_minutes")
    if budget:
        chosen = np.random.default_rng(0).permutation(chosen)
    paths = [shard_dir / f"shard-{k:05d}.npz" for k in range(-(-len(chosen) // shard_size))]
    missing = [(k * shard_size, p) for k, p in enumerate(paths) if not p.exists()]
    if assemble_only:
        missing = []
    # The teacher is opened only when a shard is left to translate.
    translate = open_translator(pipe, threads, backend) if missing else None
    shard_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.time() + 60 * budget if budget else None
    for start, path in tqdm(missing, desc="distill shards", unit="shard"):
        if deadline is not None and time.time() >= deadline:
            pipe.log("distill", f"budget of {budget} min spent: {path.name} and later left out")
            break
        t0 = time.time()
        idx = [int(i) for i in chosen[start : start + shard_size] if len(corpus.src(i)) <= max_len]
        outs = translate([corpus.src(i) for i in idx])
        off = np.zeros(len(outs) + 1, dtype=np.int64)
        off[1:] = np.cumsum([len(o) for o in outs])
        flat = np.fromiter((t for o in outs for t in o), dtype=np.int32, count=int(off[-1]))
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, index=np.asarray(idx, dtype=np.int64), flat=flat, off=off)
        tmp.rename(path)
        pipe.log("distill", f"{path.name}: {len(idx)} sentences in {time.time() - t0:.0f} s")
    return assemble(pipe, corpus, shard_dir)


def teacher_step(pipe: Pipeline) -> int | None:
    """The step of the teacher checkpoint packed in git (`teacher.resume`), if any."""
    resume = pipe.cfg["teacher"].get("resume")
    if not resume or not (REPO_ROOT / resume).exists():
        return None
    return int(torch.load(REPO_ROOT / resume, weights_only=False)["state"]["step"])


def pack_shards(shard_dir: Path, out: Path, step: int | None) -> int:
    """All shards' teacher outputs in one xz file (which teacher step made them, the shard
    numbers, then per shard its pair indices, output lengths and tokens). Returns the pairs."""
    shards = sorted(shard_dir.glob("shard-*.npz"))
    if not shards:
        raise SystemExit(f"no distillation shards in {shard_dir}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp, pairs = out.with_suffix(".tmp"), 0
    with lzma.open(tmp, "wb") as f:
        np.save(f, np.asarray([-1 if step is None else step], dtype=np.int64))
        np.save(f, np.asarray([int(p.stem.split("-")[1]) for p in shards], dtype=np.int64))
        for path in shards:
            with np.load(path) as z:
                index, flat, off = z["index"], z["flat"], z["off"]
            assert flat.size == 0 or int(flat.max()) < 2**16, "token ids beyond uint16"
            np.save(f, index.astype(np.int64))
            np.save(f, np.diff(off).astype(np.uint16))
            np.save(f, flat.astype(np.uint16))
            pairs += len(index)
    tmp.rename(out)
    return pairs


def unpack_shards(packed: Path, shard_dir: Path, step: int | None) -> None:
    """Recreate the shards of `pack_shards`, refusing outputs of another teacher step."""
    with lzma.open(packed, "rb") as f:
        made_by = int(np.load(f)[0])
        if step is not None and made_by != step:
            raise SystemExit(
                f"{packed} holds the outputs of the teacher at step {made_by}, but the packed "
                f"teacher is at step {step}: delete it (and `distill.resume`'s commit) to "
                "distil again"
            )
        shard_dir.mkdir(parents=True, exist_ok=True)
        for number in np.load(f):
            index, lengths, flat = np.load(f), np.load(f), np.load(f)
            off = np.zeros(len(lengths) + 1, dtype=np.int64)
            off[1:] = np.cumsum(lengths, dtype=np.int64)
            path = shard_dir / f"shard-{int(number):05d}.npz"
            np.savez(path, index=index, flat=flat.astype(np.int32), off=off)
    print(f"unpacked the distillation shards of {packed} into {shard_dir}")


def usable(src: np.ndarray, tgt: np.ndarray, max_target_len: int) -> bool:
    """Whether a teacher output may be a student target: not empty, and finished with </s>
    before the length limit. An unfinished output is almost always a loop of the teacher's
    (the same words again and again); the student would learn to stutter and its length
    predictor to guess the limit."""
    return 0 < len(tgt) < length_limit(len(src), max_target_len)


def student_target(
    src: np.ndarray,
    out: np.ndarray,
    ref: np.ndarray,
    max_target_len: int,
    min_length_ratio: float | None,
) -> np.ndarray | None:
    """The student's target for one training pair, or None to leave the pair out.

    The teacher's output `out` if it is usable and (with `min_length_ratio`) at least that share
    of the human reference's length; otherwise the reference itself when `min_length_ratio` is
    set (the teacher dropped part of the sentence, or looped), else None."""
    if usable(src, out, max_target_len) and (
        min_length_ratio is None or len(out) >= min_length_ratio * len(ref)
    ):
        return out
    return ref if min_length_ratio is not None else None


def assemble(pipe: Pipeline, corpus: TokenizedCorpus, shard_dir: Path) -> Path:
    """Join the shards into one corpus of student targets (see `student_target`)."""
    ratio = pipe.cfg.get("distill", {}).get("min_length_ratio")
    srcs, tgts = [], []
    dropped = replaced = 0
    for path in sorted(shard_dir.glob("shard-*.npz")):
        # Read each array once: every `z[name]` of an NpzFile loads the array anew, and a slice
        # of it keeps that whole copy alive (one per sentence: gigabytes).
        with np.load(path) as z:
            index, flat, off = z["index"], z["flat"], z["off"]
        for k, i in enumerate(index):
            src, out, ref = corpus.src(int(i)), flat[off[k] : off[k + 1]], corpus.tgt(int(i))
            tgt = student_target(src, out, ref, pipe.model_cfg.max_target_len, ratio)
            if tgt is None:
                dropped += 1
                continue
            replaced += tgt is ref
            srcs.append(src)
            tgts.append(tgt)
    flat_s, off_s = TokenizedCorpus._flatten(srcs)
    flat_t, off_t = TokenizedCorpus._flatten(tgts)
    out_path = pipe.runs / "distilled.npz"
    TokenizedCorpus(flat_s, off_s, flat_t, off_t).save(out_path)
    pipe.log(
        "distill",
        f"wrote {out_path}: {len(srcs)} pairs ({dropped} empty or unfinished left out, "
        f"{replaced} teacher outputs replaced by the reference)",
    )
    return out_path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shard-size", type=int, default=20_000)
    ap.add_argument(
        "--backend",
        choices=["onnx", "torch"],
        default=None,
        help="onnx (CPU) or torch (GPU); default: torch where CUDA is there, else onnx",
    )
    ap.add_argument(
        "--assemble-only",
        action="store_true",
        help="translate nothing: the corpus from the shards there are (or `distill.resume`)",
    )
    args = ap.parse_args()
    distill(Pipeline(args.config), args.threads, args.shard_size, args.backend, args.assemble_only)


if __name__ == "__main__":
    main()
