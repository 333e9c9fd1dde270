"""Golden outputs of the Python reference decoder, which the Rust runtime must reproduce.

    python -m padir_export.golden --model onnx/tiny --data ../shared/data/dev.en-fr.tsv -n 20

Writes `<model>/golden.json`: the source sentences, and for each decoding setting the token ids,
text, score, length and iterations of every sentence.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .data import read_tsv
from .reference import ReferenceTranslator

# Settings covered by the goldens: the manifest default plus each switch of the loop.
NAR_SETTINGS = {
    "nar_default": {},
    "nar_i1_b1": {"iterations": 1, "length_beam": 1},
    "nar_i8_b3_top2": {"iterations": 8, "length_beam": 3, "top_lengths": 2},
    "nar_prune1": {"prune_after": 1},
    "nar_mask_predict": {"iterations": 4, "acceptance": "mask_predict"},
    "nar_random_init": {"iterations": 3, "init": "random", "seed": 7, "remask_stutter": False},
}


def sentences(path: str, n: int) -> list[str]:
    src, _ = read_tsv(path)
    # Spread the picks over the file and keep a variety of lengths, plus an empty line.
    step = max(1, len(src) // n)
    picked = [src[i] for i in range(0, step * n, step)][: n - 1]
    return picked[:5] + [""] + picked[5:]


def int8_kernels() -> str:
    """The class of ONNX Runtime's int8 kernels here (as `tests/golden.rs` detects it): on
    x86-64 without VNNI the u8 x s8 kernel can saturate, so int8 outputs differ by class."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return "other"
    if flags & {"avx512_vnni", "avx_vnni"}:
        return "vnni"
    return "avx2" if "avx2" in flags else "other"


def make_golden(model_dir: Path, texts: list[str], batch_size: int = 8) -> dict:
    # The reference batches as the runtime does (sorted by token count, `batch_size` at a
    # time), so the goldens cover padded batches. Results do not depend on batch-mates (int8
    # graphs quantize activations per token; `tests/golden.rs` checks it), but the same batches
    # keep the comparison exact to the last float.
    ref = ReferenceTranslator(model_dir, batch_size=batch_size)
    # fp32 graphs give the same outputs on every machine; int8 ones per kernel class.
    kernels = "any" if ref.manifest.get("precision") == "fp32" else int8_kernels()
    out = {"sources": texts, "batch_size": batch_size, "int8_kernels": kernels, "settings": {}}

    def run(fn, **options):
        return [t.to_dict() for t in fn(texts, **options)]

    for name, options in NAR_SETTINGS.items():
        out["settings"][name] = {
            "mode": "nar",
            "options": options,
            "outputs": run(ref.translate_nar, **options),
        }
    if "ar_decoder" in ref.sessions:
        out["settings"]["ar"] = {"mode": "ar", "options": {}, "outputs": run(ref.translate_ar)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--data", required=True)
    ap.add_argument("-n", type=int, default=20)
    args = ap.parse_args()
    golden = make_golden(args.model, sentences(args.data, args.n))
    path = args.model / "golden.json"
    path.write_text(json.dumps(golden, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    for name, s in golden["settings"].items():
        print(name, "|", s["outputs"][0]["text"])
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
