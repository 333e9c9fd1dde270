"""padir (PaDIR and its AR baseline) side by side with CTranslate2 on the same teacher weights.

    .venv/bin/python -m padir_export.hf --config export/configs/en-fr.json --out /tmp/hf-teacher
    .venv/bin/python bench/side_by_side.py --model onnx/en-fr --hf-teacher /tmp/hf-teacher \
        --input ../shared/data/test.instguide.en-fr.tsv --limit 300 --threads 1 2 --out docs/bench

Same sentences, same thread counts, one machine, one run. padir is measured by `padir bench`
(AR greedy and NAR at 1/2/4/8 iterations, length beam 1 and 3); CTranslate2 runs the teacher
from `--hf-teacher` (the same teacher in Hugging Face T5 form, which `padir_export.hf` writes
from the packed teacher; not shipped with the model) converted to int8 and float32, greedy and
beam 4, each configuration in its own process without PyTorch loaded (torch in the same process
slows CTranslate2 down).
Writes `side_by_side.{md,json,png}` into --out: one table, and BLEU against sentences/s.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PADIR = REPO / "target" / "release" / "padir"
BATCH = 32


def read_tsv(path: Path, limit: int) -> tuple[list[str], list[str]]:
    src, ref = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0].strip():
            src.append(parts[0])
            ref.append(parts[1])
        if len(src) >= limit:
            break
    return src, ref


def ct2_worker(args) -> None:
    """Measure one CTranslate2 configuration; prints one JSON object. No torch imported."""
    import ctranslate2
    import sacrebleu
    from tokenizers import Tokenizer

    src, ref = read_tsv(Path(args.input), args.limit)
    threads = args.threads[0]
    tok = Tokenizer.from_file(str(Path(args.hf) / "tokenizer.json"))
    tr = ctranslate2.Translator(
        args.ct2, device="cpu", intra_threads=threads, inter_threads=1
    )
    pieces = [tok.encode(s).tokens for s in src]
    opts = {"beam_size": args.beam, "max_decoding_length": 256}

    def detok(results):
        return [
            tok.decode([tok.token_to_id(t) for t in r.hypotheses[0]]) for r in results
        ]

    tr.translate_batch(pieces[:8], **opts)  # warm-up
    lat = []
    for p in pieces:
        t = time.perf_counter()
        tr.translate_batch([p], **opts)
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    t = time.perf_counter()
    res = tr.translate_batch(pieces, max_batch_size=BATCH, **opts)
    secs = time.perf_counter() - t
    hyps = detok(res)
    tokens = sum(len(r.hypotheses[0]) for r in res)
    print(
        json.dumps(
            {
                "system": "CTranslate2",
                "config": f"{args.quant} beam {args.beam}",
                "threads": threads,
                "latency_p50_ms": lat[len(lat) // 2],
                "latency_p90_ms": lat[int(0.9 * (len(lat) - 1))],
                "sentences_per_s": len(src) / secs,
                "target_tokens_per_s": tokens / secs,
                "bleu": sacrebleu.corpus_bleu(hyps, [ref]).score,
                "chrf": sacrebleu.corpus_chrf(hyps, [ref]).score,
            }
        )
    )


def convert(hf: Path, quant: str, cache: Path) -> Path:
    # Keyed by the weights, not the model's name: a retrained teacher must not meet the
    # conversion of an older one.
    digest = hashlib.sha256((hf / "model.safetensors").read_bytes()).hexdigest()[:16]
    out = cache / f"{hf.parent.name}-{digest}-{quant}"
    if not (out / "model.bin").exists():
        subprocess.run(
            [
                str(Path(sys.executable).parent / "ct2-transformers-converter"),
                "--model",
                str(hf),
                "--output_dir",
                str(out),
                "--quantization",
                quant,
                "--force",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return out


def padir_rows(model: Path, tsv: Path, threads: int) -> list[dict]:
    out = subprocess.run(
        [
            str(PADIR),
            "bench",
            "--model",
            str(model),
            "--input",
            str(tsv),
            "--threads",
            str(threads),
            "--batch-size",
            str(BATCH),
            "--json",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    report = json.loads(out.stdout)
    return [dict(r, system="padir", threads=threads) for r in report["rows"]]


def table(rows: list[dict]) -> str:
    s = (
        "| system | config | threads | p50 ms (b=1) | p90 ms (b=1) | sent/s (b=32) | tok/s "
        "| BLEU | chrF |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    for r in rows:
        s += (
            f"| {r['system']} | {r['config']} | {r['threads']} | {r['latency_p50_ms']:.2f} | "
            f"{r['latency_p90_ms']:.2f} | {r['sentences_per_s']:.1f} | "
            f"{r['target_tokens_per_s']:.0f} | {r['bleu']:.1f} | {r['chrf']:.1f} |\n"
        )
    return s


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for system, marker in (("padir", "o"), ("CTranslate2", "s")):
        pts = [r for r in rows if r["system"] == system]
        ax.scatter(
            [r["sentences_per_s"] for r in pts],
            [r["bleu"] for r in pts],
            marker=marker,
            label=system,
        )
        for r in pts:
            ax.annotate(
                f"{r['config']} t{r['threads']}",
                (r["sentences_per_s"], r["bleu"]),
                fontsize=6,
                xytext=(3, 3),
                textcoords="offset points",
            )
    ax.set_xscale("log")
    ax.set_xlabel(f"sentences/s at batch {BATCH} (log scale)")
    ax.set_ylabel("BLEU")
    ax.set_title("speed vs quality, same sentences and machine")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=130)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument("--model", type=Path, default=REPO / "onnx" / "en-fr")
    ap.add_argument(
        "--hf-teacher",
        type=Path,
        required=True,
        help="the model's teacher in Hugging Face form",
    )
    ap.add_argument("--input", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "bench")
    # internal: one CTranslate2 measurement in a clean process
    ap.add_argument("--ct2-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--ct2", help=argparse.SUPPRESS)
    ap.add_argument("--hf", help=argparse.SUPPRESS)
    ap.add_argument("--quant", help=argparse.SUPPRESS)
    ap.add_argument("--beam", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ct2_worker:
        return ct2_worker(args)

    hf = args.hf_teacher
    if not (hf / "config.json").exists():
        sys.exit(
            f"{hf} is missing: the side-by-side needs the teacher in Hugging Face form "
            "(python -m padir_export.hf --config CONFIG --out DIR writes it)"
        )
    if not PADIR.exists():
        sys.exit("target/release/padir is missing: run `cargo build --release`")
    src, ref = read_tsv(args.input, args.limit)
    cache = Path(
        os.environ.get("PADIR_CT2_CACHE", Path.home() / ".cache" / "padir" / "ct2")
    )
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        tsv = Path(tmp) / "set.tsv"
        tsv.write_text(
            "".join(f"{s}\t{r}\n" for s, r in zip(src, ref)), encoding="utf-8"
        )
        for threads in args.threads:
            rows += padir_rows(args.model, tsv, threads)
            for quant in ("int8", "float32"):
                ct2 = convert(hf, quant, cache)
                for beam in (1, 4):
                    out = subprocess.run(
                        [
                            sys.executable,
                            __file__,
                            "--ct2-worker",
                            "--ct2",
                            str(ct2),
                            "--hf",
                            str(hf),
                            "--quant",
                            quant,
                            "--beam",
                            str(beam),
                            "--threads",
                            str(threads),
                            "--input",
                            str(tsv),
                            "--limit",
                            str(args.limit),
                        ],
                        check=True,
                        capture_output=True,
                        text=True,
                    )
                    rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "side_by_side.json").write_text(json.dumps(rows, indent=1) + "\n")
    md = (
        f"{len(src)} sentences of `{args.input.name}`, model `{args.model}`; "
        f"command: `bench/side_by_side.py {' '.join(sys.argv[1:])}`\n\n" + table(rows)
    )
    (args.out / "side_by_side.md").write_text(md)
    plot(rows, args.out / "side_by_side.png")
    print(md)


if __name__ == "__main__":
    main()
